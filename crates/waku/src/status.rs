//! Status options: the body of the `waku/1` Status (0) and Status Update (22) packets
//! (6/WAKU1 §ABNF `status-options`), and the positional `shh/6` Status (EIP-627, extended by
//! status-go's Whisper fork).
//!
//! Both follow what status-go and geth put on the wire (`vectors/README.md`, "Facts observed
//! on the wire"; DECISIONS 2, 21):
//!
//! - `waku/1`: the bare RLP list of `[key, value]` pairs, keys ascending (keys 0..=6, key 0
//!   encoded `80`); a key that is absent is `None`. Unknown keys are skipped.
//! - `shh/6`: `[version, pow-bits, bloom, isLightNode, confirmationsEnabled, rateLimits]`;
//!   geth sends the first 4, status-go 6; 3 to 6 are accepted and more are ignored.
//!
//! PoW values travel as the IEEE-754 bit pattern of an `f64` in an RLP integer (DECISIONS 3,
//! IMPLEMENTER-NOTES §3.13); NaN, infinities and negative values are refused.

use alloy_rlp::{BufMut, Decodable, Encodable, Header};

use crate::{
    packets::{PacketError, count_items, reject_trailing},
    topic::{BLOOM_LEN, Bloom, MAX_TOPIC_INTEREST, Topic},
};

/// 6/WAKU1 `pow-requirement-key`.
pub const KEY_POW_REQUIREMENT: u64 = 0;
/// 6/WAKU1 `bloom-filter-key`.
pub const KEY_BLOOM_FILTER: u64 = 1;
/// 6/WAKU1 `light-node-key`.
pub const KEY_LIGHT_NODE: u64 = 2;
/// 6/WAKU1 `confirmations-enabled-key`.
pub const KEY_CONFIRMATIONS_ENABLED: u64 = 3;
/// 6/WAKU1 `packet-rate-limits-key`.
pub const KEY_PACKET_RATE_LIMITS: u64 = 4;
/// 6/WAKU1 `topic-interest-key`.
pub const KEY_TOPIC_INTEREST: u64 = 5;
/// 6/WAKU1 `bytes-rate-limits-key` (added in Waku 1.1).
pub const KEY_BYTES_RATE_LIMITS: u64 = 6;

/// The `shh/6` Status version (EIP-627).
pub const WHISPER_STATUS_VERSION: u64 = 6;
/// Fewest items accepted in a `shh/6` Status: version, PoW, bloom (DECISIONS 21).
pub const WHISPER_STATUS_MIN_ITEMS: usize = 3;
/// Items of a `shh/6` Status that are read; later ones are ignored (DECISIONS 21).
pub const WHISPER_STATUS_MAX_ITEMS: usize = 6;

/// Rate limits per second, `[ip, peer-id, topic]` (6/WAKU1 `packet-rate-limits`,
/// `bytes-rate-limits`; status-go `RateLimits`). 0 means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RateLimits {
    /// Limit per IP address.
    pub ip: u64,
    /// Limit per peer id.
    pub peer_id: u64,
    /// Limit per topic.
    pub topic: u64,
}

impl RateLimits {
    fn payload_len(&self) -> usize {
        self.ip.length() + self.peer_id.length() + self.topic.length()
    }

    /// Encodes `[ip, peer-id, topic]`.
    pub fn encode(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.ip.encode(out);
        self.peer_id.encode(out);
        self.topic.encode(out);
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        let p = self.payload_len();
        alloy_rlp::length_of_length(p) + p
    }

    /// Decodes `[ip, peer-id, topic]`: exactly three integers, as status-go's struct
    /// decoding requires.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, PacketError> {
        Self::decode_inner(buf).map_err(|e| e.in_packet("rate limits"))
    }

    fn decode_inner(buf: &mut &[u8]) -> Result<Self, PacketError> {
        let mut p = Header::decode_bytes(buf, true)?;
        let limits = Self {
            ip: u64::decode(&mut p)?,
            peer_id: u64::decode(&mut p)?,
            topic: u64::decode(&mut p)?,
        };
        reject_trailing(p)?;
        Ok(limits)
    }
}

impl Encodable for RateLimits {
    fn encode(&self, out: &mut dyn BufMut) {
        RateLimits::encode(self, out);
    }
    fn length(&self) -> usize {
        self.encoded_len()
    }
}

/// Checks a PoW bit pattern read from the wire (EIP-627 §PoW Requirement: "Values of qNAN,
/// sNAN, INF and -INF are not allowed. Negative values are also not allowed."). `-0.0` is not
/// below zero and is accepted, as go-ethereum does.
pub(crate) fn pow_from_bits(bits: u64) -> Result<f64, PacketError> {
    let pow = f64::from_bits(bits);
    if pow.is_nan() || pow.is_infinite() || pow < 0.0 {
        return Err(PacketError::InvalidPow(pow));
    }
    Ok(pow)
}

/// The options of a `waku/1` Status or Status Update (6/WAKU1 `status-options`). `None` means
/// the key was not sent: in a Status the receiver applies its defaults, in a Status Update the
/// setting is unchanged. `Default` is the empty update (all `None`), which 6/WAKU1 says is
/// ignored.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusOptions {
    /// Key 0: the lowest PoW the sender accepts.
    pub pow_requirement: Option<f64>,
    /// Key 1: the sender's bloom filter (64 bytes; all ones = full node).
    pub bloom: Option<Bloom>,
    /// Key 2: whether the sender is a light node (does not forward envelopes).
    pub light_node: Option<bool>,
    /// Key 3: whether the sender sends message confirmations.
    pub confirmations_enabled: Option<bool>,
    /// Key 4: the sender's rate limits in packets per second.
    pub packet_rate_limits: Option<RateLimits>,
    /// Key 5: the topics the sender wants (at most [`MAX_TOPIC_INTEREST`]); takes precedence
    /// over the bloom. An empty list means "nothing".
    pub topic_interest: Option<Vec<Topic>>,
    /// Key 6: the sender's rate limits in bytes per second.
    pub bytes_rate_limits: Option<RateLimits>,
}

/// The encoded length of a pair `[key, value]` whose value encodes to `value_len` bytes.
fn pair_len(key: u64, value_len: usize) -> usize {
    let p = key.length() + value_len;
    alloy_rlp::length_of_length(p) + p
}

fn encode_pair(out: &mut dyn BufMut, key: u64, value: &dyn Encodable) {
    Header { list: true, payload_length: key.length() + value.length() }.encode(out);
    key.encode(out);
    value.encode(out);
}

/// `[topic...]` as an encodable value (topics are 4-byte strings).
struct TopicList<'a>(&'a [Topic]);

impl TopicList<'_> {
    fn payload_len(&self) -> usize {
        self.0.iter().map(Encodable::length).sum()
    }
}

impl Encodable for TopicList<'_> {
    fn encode(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        for t in self.0 {
            t.encode(out);
        }
    }
    fn length(&self) -> usize {
        let p = self.payload_len();
        alloy_rlp::length_of_length(p) + p
    }
}

/// Decodes a topic-interest list, refusing more than [`MAX_TOPIC_INTEREST`] topics before
/// anything is allocated.
fn decode_topics(buf: &mut &[u8]) -> Result<Vec<Topic>, PacketError> {
    let mut p = Header::decode_bytes(buf, true)?;
    let count = count_items(p)?;
    if count > MAX_TOPIC_INTEREST {
        return Err(PacketError::TooManyTopics { count, max: MAX_TOPIC_INTEREST });
    }
    let mut topics = Vec::with_capacity(count);
    while !p.is_empty() {
        topics.push(Topic::decode(&mut p)?);
    }
    Ok(topics)
}

/// Reads the `waku/1` bloom option. 6/WAKU1 says 64 bytes, and status-go's `waku/1` peer
/// refuses any other length (its `BloomFilter []byte` decodes an empty string as a non-nil
/// empty slice, then fails the size check). We are lenient, as [`Bloom::from_wire`] is for
/// `shh/6` (DECISIONS 21): 0 bytes is read as the full bloom. Re-encoding then gives 64 × `ff`,
/// so only that non-standard input does not round-trip byte for byte.
fn decode_waku_bloom(buf: &mut &[u8]) -> Result<Bloom, PacketError> {
    let bytes = Header::decode_bytes(buf, false)?;
    Bloom::from_wire(bytes).ok_or(PacketError::InvalidBloomLength { len: bytes.len() })
}

impl StatusOptions {
    /// Whether no option is set: an empty Status Update, a no-op (6/WAKU1 §Status Update).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The bloom in effect once the options are applied: none when topic interest is set
    /// (it takes precedence, 6/WAKU1 §Bloom Filter Field), else the bloom if sent.
    pub fn effective_bloom(&self) -> Option<Bloom> {
        if self.topic_interest.is_some() { None } else { self.bloom }
    }

    fn payload_len(&self) -> usize {
        let mut len = 0;
        if let Some(pow) = self.pow_requirement {
            len += pair_len(KEY_POW_REQUIREMENT, pow.to_bits().length());
        }
        if let Some(bloom) = &self.bloom {
            len += pair_len(KEY_BLOOM_FILTER, bloom.length());
        }
        if let Some(b) = self.light_node {
            len += pair_len(KEY_LIGHT_NODE, b.length());
        }
        if let Some(b) = self.confirmations_enabled {
            len += pair_len(KEY_CONFIRMATIONS_ENABLED, b.length());
        }
        if let Some(r) = &self.packet_rate_limits {
            len += pair_len(KEY_PACKET_RATE_LIMITS, r.encoded_len());
        }
        if let Some(t) = &self.topic_interest {
            len += pair_len(KEY_TOPIC_INTEREST, TopicList(t).length());
        }
        if let Some(r) = &self.bytes_rate_limits {
            len += pair_len(KEY_BYTES_RATE_LIMITS, r.encoded_len());
        }
        len
    }

    /// Encodes the list of `[key, value]` pairs that are set, in ascending key order, as
    /// status-go does. Values are written as they are: a NaN PoW or more than
    /// [`MAX_TOPIC_INTEREST`] topics are not checked here.
    pub fn encode(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        if let Some(pow) = self.pow_requirement {
            encode_pair(out, KEY_POW_REQUIREMENT, &pow.to_bits());
        }
        if let Some(bloom) = &self.bloom {
            encode_pair(out, KEY_BLOOM_FILTER, bloom);
        }
        if let Some(b) = &self.light_node {
            encode_pair(out, KEY_LIGHT_NODE, b);
        }
        if let Some(b) = &self.confirmations_enabled {
            encode_pair(out, KEY_CONFIRMATIONS_ENABLED, b);
        }
        if let Some(r) = &self.packet_rate_limits {
            encode_pair(out, KEY_PACKET_RATE_LIMITS, r);
        }
        if let Some(t) = &self.topic_interest {
            encode_pair(out, KEY_TOPIC_INTEREST, &TopicList(t));
        }
        if let Some(r) = &self.bytes_rate_limits {
            encode_pair(out, KEY_BYTES_RATE_LIMITS, r);
        }
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        let p = self.payload_len();
        alloy_rlp::length_of_length(p) + p
    }

    /// The RLP encoding.
    pub fn to_rlp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes a list of `[key, value]` pairs in any order (6/WAKU1: "ordering ... MUST NOT
    /// be relied on"); a repeated key overrides the earlier one, as in status-go. Unknown keys
    /// are skipped with the rest of their pair (6/WAKU1 §Forward Compatibility). A known key's
    /// pair must hold exactly the key and its value.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, PacketError> {
        Self::decode_inner(buf).map_err(|e| e.in_packet("status options"))
    }

    pub(crate) fn decode_inner(buf: &mut &[u8]) -> Result<Self, PacketError> {
        let mut list = Header::decode_bytes(buf, true)?;
        let mut o = Self::default();
        while !list.is_empty() {
            let mut pair = Header::decode_bytes(&mut list, true)?;
            let key = u64::decode(&mut pair)?;
            match key {
                KEY_POW_REQUIREMENT => {
                    o.pow_requirement = Some(pow_from_bits(u64::decode(&mut pair)?)?);
                }
                KEY_BLOOM_FILTER => o.bloom = Some(decode_waku_bloom(&mut pair)?),
                KEY_LIGHT_NODE => o.light_node = Some(bool::decode(&mut pair)?),
                KEY_CONFIRMATIONS_ENABLED => {
                    o.confirmations_enabled = Some(bool::decode(&mut pair)?);
                }
                KEY_PACKET_RATE_LIMITS => {
                    o.packet_rate_limits = Some(RateLimits::decode_inner(&mut pair)?);
                }
                KEY_TOPIC_INTEREST => o.topic_interest = Some(decode_topics(&mut pair)?),
                KEY_BYTES_RATE_LIMITS => {
                    o.bytes_rate_limits = Some(RateLimits::decode_inner(&mut pair)?);
                }
                _ => {
                    tracing::trace!(target: "waku", key, "ignoring unknown status option");
                    continue;
                }
            }
            reject_trailing(pair)?;
        }
        Ok(o)
    }
}

/// The `shh/6` Status: `[version, pow-bits, bloom, isLightNode, confirmationsEnabled,
/// rateLimits]` (EIP-627 has the first three; geth 1.9.5 sends four, status-go's fork six).
///
/// The fields are kept as they were sent, so that re-encoding a decoded status reproduces its
/// bytes: `bloom` is `None` when the bloom was sent empty (`80`, which geth and status-go send
/// for a full node), and each trailing field is `None` when the list stopped before it.
#[derive(Clone, Debug, PartialEq)]
pub struct WhisperStatus {
    /// The protocol version; 6 ([`WHISPER_STATUS_VERSION`]). Not checked by the codec.
    pub version: u64,
    /// The lowest PoW the sender accepts.
    pub pow_requirement: f64,
    /// The sender's bloom; `None` = sent empty = full node (see [`Self::effective_bloom`]).
    pub bloom: Option<Bloom>,
    /// Item 4, whether the sender is a light node; `None` if not sent.
    pub light_node: Option<bool>,
    /// Item 5 (status-go), whether the sender sends confirmations; `None` if not sent.
    pub confirmations_enabled: Option<bool>,
    /// Item 6 (status-go), the sender's packet rate limits; `None` if not sent.
    pub rate_limits: Option<RateLimits>,
}

impl WhisperStatus {
    /// The bloom to match envelopes against: an empty bloom means a full node (DECISIONS 21).
    pub fn effective_bloom(&self) -> Bloom {
        self.bloom.unwrap_or(Bloom::FULL)
    }

    /// The `shh/6` form of a `waku/1` Status: what the positional list can carry. Topic
    /// interest travels as its bloom; a full bloom is sent empty, as geth and status-go do
    /// (DECISIONS 21); the packet rate limits are item 6; byte rate limits are dropped.
    pub fn from_options(o: &StatusOptions) -> Self {
        let bloom = match (&o.topic_interest, o.bloom) {
            (Some(topics), _) => Some(Bloom::from_topics(topics)),
            (None, bloom) => bloom,
        };
        Self {
            version: WHISPER_STATUS_VERSION,
            pow_requirement: o.pow_requirement.unwrap_or(0.0),
            bloom: bloom.filter(|b| !b.is_full()),
            light_node: o.light_node,
            confirmations_enabled: o.confirmations_enabled,
            rate_limits: o.packet_rate_limits,
        }
    }

    /// The `waku/1` options this status amounts to, so that one path reads both.
    pub fn to_options(&self) -> StatusOptions {
        StatusOptions {
            pow_requirement: Some(self.pow_requirement),
            bloom: Some(self.effective_bloom()),
            light_node: self.light_node,
            confirmations_enabled: self.confirmations_enabled,
            packet_rate_limits: self.rate_limits,
            topic_interest: None,
            bytes_rate_limits: None,
        }
    }

    /// How many items the encoding holds: 3, plus up to the last trailing field that is set.
    fn items(&self) -> usize {
        if self.rate_limits.is_some() {
            6
        } else if self.confirmations_enabled.is_some() {
            5
        } else if self.light_node.is_some() {
            4
        } else {
            3
        }
    }

    fn bloom_bytes(&self) -> &[u8] {
        self.bloom.as_ref().map_or(&[][..], |b| &b.0[..])
    }

    fn payload_len(&self) -> usize {
        let n = self.items();
        let mut len = self.version.length()
            + self.pow_requirement.to_bits().length()
            + self.bloom_bytes().length();
        if n >= 4 {
            len += 1; // a bool is one byte
        }
        if n >= 5 {
            len += 1;
        }
        if n >= 6 {
            len += self.rate_limits.unwrap_or_default().encoded_len();
        }
        len
    }

    /// Encodes the positional list. A trailing field implies the ones before it: a `None`
    /// before a field that is set is written as `false`.
    pub fn encode(&self, out: &mut dyn BufMut) {
        let n = self.items();
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.version.encode(out);
        self.pow_requirement.to_bits().encode(out);
        self.bloom_bytes().encode(out);
        if n >= 4 {
            self.light_node.unwrap_or(false).encode(out);
        }
        if n >= 5 {
            self.confirmations_enabled.unwrap_or(false).encode(out);
        }
        if n >= 6 {
            self.rate_limits.unwrap_or_default().encode(out);
        }
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        let p = self.payload_len();
        alloy_rlp::length_of_length(p) + p
    }

    /// The RLP encoding.
    pub fn to_rlp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes a status of 3 to 6 items; later items are ignored (DECISIONS 21). The bloom
    /// must be 0 or 64 bytes, as geth and status-go require.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, PacketError> {
        Self::decode_inner(buf).map_err(|e| e.in_packet("shh/6 Status"))
    }

    pub(crate) fn decode_inner(buf: &mut &[u8]) -> Result<Self, PacketError> {
        let mut p = Header::decode_bytes(buf, true)?;
        let count = count_items(p)?;
        if count < WHISPER_STATUS_MIN_ITEMS {
            return Err(PacketError::WhisperStatusTooShort {
                count,
                min: WHISPER_STATUS_MIN_ITEMS,
            });
        }
        let version = u64::decode(&mut p)?;
        let pow_requirement = pow_from_bits(u64::decode(&mut p)?)?;
        let bloom_bytes = Header::decode_bytes(&mut p, false)?;
        let bloom = match bloom_bytes.len() {
            0 => None,
            BLOOM_LEN => Bloom::from_wire(bloom_bytes),
            len => return Err(PacketError::InvalidBloomLength { len }),
        };
        let light_node = if count >= 4 { Some(bool::decode(&mut p)?) } else { None };
        let confirmations_enabled = if count >= 5 { Some(bool::decode(&mut p)?) } else { None };
        let rate_limits = if count >= 6 { Some(RateLimits::decode_inner(&mut p)?) } else { None };
        Ok(Self { version, pow_requirement, bloom, light_node, confirmations_enabled, rate_limits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn waku1_status_default_full_node() {
        // vectors/waku/packets.json `status_full_node_default`.
        let bytes = hex(concat!(
            "f862ca80883ec0c6f7a0b5ed8df84301b840",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "c20280c20380c504c3808080c506c3808080"
        ));
        let o = StatusOptions::decode(&mut &bytes[..]).unwrap();
        assert_eq!(o.pow_requirement, Some(2e-6));
        assert_eq!(o.bloom, Some(Bloom::FULL));
        assert_eq!(o.light_node, Some(false));
        assert_eq!(o.confirmations_enabled, Some(false));
        assert_eq!(o.packet_rate_limits, Some(RateLimits::default()));
        assert_eq!(o.topic_interest, None);
        assert_eq!(o.bytes_rate_limits, Some(RateLimits::default()));
        assert_eq!(o.to_rlp(), bytes);
        assert_eq!(o.encoded_len(), bytes.len());
    }

    #[test]
    fn shh6_status_geth() {
        // vectors/shh/packets.json `status_geth_1.9.5`: 4 items, empty bloom.
        let bytes = hex("cc06883f50624dd2f1a9fc8080");
        let s = WhisperStatus::decode(&mut &bytes[..]).unwrap();
        assert_eq!(s.version, 6);
        assert_eq!(s.pow_requirement, 0.001);
        assert_eq!(s.bloom, None);
        assert_eq!(s.effective_bloom(), Bloom::FULL);
        assert_eq!(s.light_node, Some(false));
        assert_eq!(s.confirmations_enabled, None);
        assert_eq!(s.to_rlp(), bytes);
    }

    #[test]
    fn shh6_status_from_and_to_waku_options() {
        let topics = vec![Topic([1, 2, 3, 4])];
        let o = StatusOptions {
            pow_requirement: Some(0.5),
            bloom: Some(Bloom::FULL),
            light_node: Some(true),
            confirmations_enabled: Some(false),
            packet_rate_limits: Some(RateLimits { ip: 1, peer_id: 2, topic: 0 }),
            topic_interest: None,
            bytes_rate_limits: Some(RateLimits::default()),
        };
        let w = WhisperStatus::from_options(&o);
        assert_eq!(w.bloom, None, "a full bloom is sent empty");
        assert_eq!(w.items(), 6);
        let back = w.to_options();
        assert_eq!((back.pow_requirement, back.bloom), (Some(0.5), Some(Bloom::FULL)));
        assert_eq!((back.light_node, back.packet_rate_limits), (Some(true), o.packet_rate_limits));
        let with_topics = StatusOptions { topic_interest: Some(topics.clone()), ..o };
        assert_eq!(
            WhisperStatus::from_options(&with_topics).bloom,
            Some(Bloom::from_topics(&topics))
        );
    }

    #[test]
    fn pow_bits_checked() {
        assert!(pow_from_bits(f64::NAN.to_bits()).is_err());
        assert!(pow_from_bits(f64::INFINITY.to_bits()).is_err());
        assert!(pow_from_bits(f64::NEG_INFINITY.to_bits()).is_err());
        assert!(pow_from_bits((-1e-9f64).to_bits()).is_err());
        assert_eq!(pow_from_bits((-0.0f64).to_bits()).unwrap().to_bits(), (-0.0f64).to_bits());
        assert_eq!(pow_from_bits(0.002f64.to_bits()).unwrap(), 0.002);
    }
}
