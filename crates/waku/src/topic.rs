//! Topics, bloom filters and topic interest (6/WAKU1 §"Bloom Filter Field", §"Topic Interest
//! Field").

use std::{fmt, str::FromStr};

use alloy_rlp::{BufMut, Decodable, Encodable};
use wisp_crypto::keccak256;

/// Bytes in a topic.
pub const TOPIC_LEN: usize = 4;
/// Bytes in a bloom filter (512 bits).
pub const BLOOM_LEN: usize = 64;
/// Most topics a topic-interest list may hold (6/WAKU1; 1000 before Waku 0.4).
pub const MAX_TOPIC_INTEREST: usize = 10_000;

/// A 4-byte envelope topic.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(pub [u8; TOPIC_LEN]);

impl Topic {
    /// The first four bytes of keccak256(`input`): how every Status topic is derived
    /// (`status/10-waku-usage.md`, DECISIONS 8), e.g. a public chat's name.
    pub fn from_name(input: impl AsRef<[u8]>) -> Self {
        let h = keccak256(input);
        Self([h[0], h[1], h[2], h[3]])
    }

    /// The topic's bloom filter.
    pub fn bloom(&self) -> Bloom {
        Bloom::from_topic(self)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic(0x{})", hex::encode(self.0))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

/// A topic string was not 4 bytes of hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a topic is 4 bytes of hex such as 0x12345678, got {0:?}")]
pub struct TopicParseError(pub String);

impl FromStr for Topic {
    type Err = TopicParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let h = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(h).map_err(|_| TopicParseError(s.to_owned()))?;
        let arr: [u8; TOPIC_LEN] = bytes.try_into().map_err(|_| TopicParseError(s.to_owned()))?;
        Ok(Self(arr))
    }
}

impl Encodable for Topic {
    fn encode(&self, out: &mut dyn BufMut) {
        self.0.encode(out);
    }
    fn length(&self) -> usize {
        self.0.length()
    }
}

impl Decodable for Topic {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        Ok(Self(<[u8; TOPIC_LEN]>::decode(buf)?))
    }
}

/// A 512-bit bloom filter of topics. All ones: a full node, interested in everything; all
/// zeros: interested in nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bloom(pub [u8; BLOOM_LEN]);

impl Default for Bloom {
    /// The full bloom: a full node's.
    fn default() -> Self {
        Self::FULL
    }
}

impl Bloom {
    /// All bits set: every topic matches.
    pub const FULL: Self = Self([0xff; BLOOM_LEN]);
    /// No bit set: no topic matches.
    pub const EMPTY: Self = Self([0; BLOOM_LEN]);

    /// The bloom of one topic: three bits, bit `n` for `n = S[i] (+256 if S[3] & 2^i)`,
    /// i in 0..3 (6/WAKU1). As go-ethereum's and status-go's `TopicToBloom`, a later bit
    /// *replaces* an earlier one that falls in the same byte (the byte is assigned, not
    /// OR-ed); this is what peers put on the wire and store, so it is kept.
    pub fn from_topic(topic: &Topic) -> Self {
        let s = topic.0;
        let mut b = [0u8; BLOOM_LEN];
        for i in 0..3 {
            let mut n = usize::from(s[i]);
            if s[3] & (1 << i) != 0 {
                n += 256;
            }
            b[n / 8] = 1 << (n % 8);
        }
        Self(b)
    }

    /// The union of the blooms of `topics`.
    pub fn from_topics<'a>(topics: impl IntoIterator<Item = &'a Topic>) -> Self {
        let mut b = Self::EMPTY;
        for t in topics {
            b.add(t);
        }
        b
    }

    /// Adds a topic's bits.
    pub fn add(&mut self, topic: &Topic) {
        self.union_with(&topic.bloom());
    }

    /// ORs `other` into this filter.
    pub fn union_with(&mut self, other: &Bloom) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// Whether every bit of `other` is set here (`BloomFilterMatch`).
    pub fn contains(&self, other: &Bloom) -> bool {
        self.0.iter().zip(other.0).all(|(a, b)| a & b == b)
    }

    /// Whether an envelope on `topic` matches this filter.
    pub fn matches(&self, topic: &Topic) -> bool {
        self.contains(&topic.bloom())
    }

    /// All bits set.
    pub fn is_full(&self) -> bool {
        self.0 == [0xff; BLOOM_LEN]
    }

    /// No bit set.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; BLOOM_LEN]
    }

    /// Reads a bloom from the bytes of a status field: 64 bytes, or 0 bytes which Whisper
    /// peers send to mean a full node (DECISIONS 21).
    pub fn from_wire(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            0 => Some(Self::FULL),
            BLOOM_LEN => Some(Self(bytes.try_into().ok()?)),
            _ => None,
        }
    }
}

impl fmt::Debug for Bloom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_full() {
            write!(f, "Bloom(full)")
        } else if self.is_empty() {
            write!(f, "Bloom(empty)")
        } else {
            write!(f, "Bloom(0x{})", hex::encode(self.0))
        }
    }
}

impl Encodable for Bloom {
    fn encode(&self, out: &mut dyn BufMut) {
        self.0.encode(out);
    }
    fn length(&self) -> usize {
        self.0.length()
    }
}

impl Decodable for Bloom {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let bytes = alloy_rlp::Header::decode_bytes(buf, false)?;
        Self::from_wire(bytes).ok_or(alloy_rlp::Error::UnexpectedLength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloom_of_vector_topic() {
        // shared/vectors/waku/envelopes.json: topic 0x12345678, mailserver bloom.
        let b = Topic([0x12, 0x34, 0x56, 0x78]).bloom();
        let mut want = [0u8; 64];
        want[2] = 0x04;
        want[6] = 0x10;
        want[10] = 0x40;
        assert_eq!(b.0, want);
        assert!(b.matches(&Topic([0x12, 0x34, 0x56, 0x78])));
        assert!(Bloom::FULL.matches(&Topic([1, 2, 3, 4])));
        assert!(!Bloom::EMPTY.matches(&Topic([1, 2, 3, 4])));
    }

    #[test]
    fn topic_parse_and_display() {
        let t: Topic = "0xdeadbeef".parse().unwrap();
        assert_eq!(t.to_string(), "0xdeadbeef");
        assert!("0xdead".parse::<Topic>().is_err());
        assert!("zz".parse::<Topic>().is_err());
    }
}
