//! The envelope `[Expiry, TTL, Topic, Data, Nonce]` (6/WAKU1 §ABNF, EIP-627), its hash and
//! its proof of work.
//!
//! PoW follows DECISIONS 3 (one formula for `waku/1` and `shh/6`, confirmed by the vectors):
//! `2^(leading zero bits of keccak256(rlp([expiry, ttl, topic, data]) || nonce as 8-byte big
//! endian)) / len(rlp without nonce) / ttl`, in IEEE-754 doubles in that order.

use alloy_rlp::{BufMut, Decodable, Encodable, Header};
use bytes::Bytes;
use wisp_crypto::{Digest, Keccak256, keccak256};

use crate::topic::Topic;

/// Default largest envelope accepted (6/WAKU1: 1 MiB).
pub const DEFAULT_MAX_ENVELOPE_SIZE: usize = 1024 * 1024;

/// Why an envelope could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The RLP is malformed or of the wrong shape.
    #[error("malformed envelope: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// The envelope is larger than the limit (checked on the RLP header, before decoding).
    #[error("envelope of {size} bytes exceeds the maximum of {max}")]
    TooBig {
        /// The encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// A Waku / Whisper envelope. The data is the encrypted payload (7/WAKU-DATA).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// Unix time in seconds after which the envelope expires.
    pub expiry: u32,
    /// Time to live in seconds; `expiry - ttl` is when it was sent.
    pub ttl: u32,
    /// The topic.
    pub topic: Topic,
    /// The encrypted payload.
    pub data: Bytes,
    /// The PoW nonce (an RLP integer on the wire).
    pub nonce: u64,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("expiry", &self.expiry)
            .field("ttl", &self.ttl)
            .field("topic", &self.topic)
            .field("data_len", &self.data.len())
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl Envelope {
    /// The time the envelope claims it was sent: `expiry - ttl`.
    pub fn sent(&self) -> u32 {
        self.expiry.saturating_sub(self.ttl)
    }

    fn prefix_payload_len(&self) -> usize {
        self.expiry.length() + self.ttl.length() + self.topic.length() + self.data[..].length()
    }

    fn payload_len(&self) -> usize {
        self.prefix_payload_len() + self.nonce.length()
    }

    /// Encodes `[expiry, ttl, topic, data, nonce]`.
    pub fn encode(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.expiry.encode(out);
        self.ttl.encode(out);
        self.topic.encode(out);
        self.data[..].encode(out);
        self.nonce.encode(out);
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

    /// Decodes one envelope, refusing one whose encoding exceeds `max_size` before any of
    /// its fields is read.
    pub fn decode_with_limit(buf: &mut &[u8], max_size: usize) -> Result<Self, EnvelopeError> {
        let start = *buf;
        let header = Header::decode(&mut &start[..])?;
        let size = alloy_rlp::length_of_length(header.payload_length) + header.payload_length;
        if size > max_size {
            return Err(EnvelopeError::TooBig { size, max: max_size });
        }
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString.into());
        }
        let mut p = Header::decode_bytes(buf, true)?;
        let expiry = u32::decode(&mut p)?;
        let ttl = u32::decode(&mut p)?;
        let topic = Topic::decode(&mut p)?;
        let data = Bytes::copy_from_slice(Header::decode_bytes(&mut p, false)?);
        let nonce = u64::decode(&mut p)?;
        // go-ethereum decodes into a struct: trailing fields are an error.
        if !p.is_empty() {
            return Err(alloy_rlp::Error::ListLengthMismatch {
                expected: header.payload_length - p.len(),
                got: header.payload_length,
            }
            .into());
        }
        Ok(Self { expiry, ttl, topic, data, nonce })
    }

    /// Decodes one envelope with the default 1 MiB limit.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, EnvelopeError> {
        Self::decode_with_limit(buf, DEFAULT_MAX_ENVELOPE_SIZE)
    }

    /// keccak256 of the RLP encoding: the envelope's identity.
    pub fn hash(&self) -> [u8; 32] {
        keccak256(self.to_rlp())
    }

    /// `rlp([expiry, ttl, topic, data])`: the PoW prefix.
    pub fn rlp_without_nonce(&self) -> Vec<u8> {
        let p = self.prefix_payload_len();
        let mut out = Vec::with_capacity(alloy_rlp::length_of_length(p) + p);
        Header { list: true, payload_length: p }.encode(&mut out);
        self.expiry.encode(&mut out);
        self.ttl.encode(&mut out);
        self.topic.encode(&mut out);
        self.data[..].encode(&mut out);
        out
    }

    /// The envelope's proof of work (DECISIONS 3).
    pub fn pow(&self) -> f64 {
        let prefix = self.rlp_without_nonce();
        let mut h = Keccak256::new();
        h.update(&prefix);
        h.update(self.nonce.to_be_bytes());
        let lz = leading_zero_bits(&h.finalize().into());
        pow_value(lz, prefix.len(), self.ttl)
    }

    /// Searches nonces for a PoW of at least `target`, hashing the prefix once and only the
    /// nonce per attempt, so the cost per attempt does not depend on the data size.
    ///
    /// `budget` bounds the work: at most `max_attempts` nonces, and `keep_going` is asked
    /// every 4096 attempts (pass a deadline check; this crate reads no clock). The best nonce
    /// found is kept even when the target is missed; the result says which.
    pub fn seal(&mut self, target: f64, budget: SealBudget<'_>) -> SealOutcome {
        let prefix = self.rlp_without_nonce();
        let size = prefix.len();
        let mut midstate = Keccak256::new();
        midstate.update(&prefix);
        // The smallest number of leading zeros whose PoW reaches the target.
        let needed = (0..=256).find(|&z| pow_value(z, size, self.ttl) >= target).unwrap_or(257);

        let SealBudget { max_attempts, keep_going } = budget;
        let start = self.nonce;
        let mut best: Option<(u32, u64)> = None;
        let mut attempts = 0u64;
        while attempts < max_attempts {
            if attempts > 0 && attempts.is_multiple_of(4096) && !keep_going() {
                break;
            }
            let nonce = start.wrapping_add(attempts);
            let mut h = midstate.clone();
            h.update(nonce.to_be_bytes());
            let lz = leading_zero_bits(&h.finalize().into());
            attempts += 1;
            if best.is_none_or(|(b, _)| lz > b) {
                best = Some((lz, nonce));
                if lz >= needed {
                    break;
                }
            }
        }
        let pow = match best {
            Some((lz, nonce)) => {
                self.nonce = nonce;
                pow_value(lz, size, self.ttl)
            }
            None => self.pow(),
        };
        SealOutcome { pow, reached: pow >= target, attempts }
    }
}

/// How much work [`Envelope::seal`] may do.
pub struct SealBudget<'a> {
    /// The most nonces to try.
    pub max_attempts: u64,
    /// Asked every 4096 attempts; `false` stops the search (e.g. a deadline has passed).
    pub keep_going: &'a mut dyn FnMut() -> bool,
}

impl std::fmt::Debug for SealBudget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealBudget")
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// What [`Envelope::seal`] achieved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SealOutcome {
    /// The PoW of the nonce chosen.
    pub pow: f64,
    /// Whether it reaches the target.
    pub reached: bool,
    /// How many nonces were tried.
    pub attempts: u64,
}

/// `2^zeros / size / ttl` in doubles, in that order (the vectors match it bit for bit).
pub fn pow_value(leading_zeros: u32, size: usize, ttl: u32) -> f64 {
    let x = 2f64.powi(leading_zeros as i32);
    x / size as f64 / f64::from(ttl)
}

/// Leading zero bits of a 256-bit hash (`256 - bitlen`).
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut zeros = 0;
    for b in hash {
        if *b == 0 {
            zeros += 8;
        } else {
            return zeros + b.leading_zeros();
        }
    }
    zeros
}

impl Encodable for Envelope {
    fn encode(&self, out: &mut dyn BufMut) {
        Envelope::encode(self, out);
    }
    fn length(&self) -> usize {
        self.encoded_len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn arb_envelope() -> impl Strategy<Value = Envelope> {
        (
            any::<u32>(),
            1u32..100_000,
            any::<[u8; 4]>(),
            prop::collection::vec(any::<u8>(), 0..2000),
            any::<u64>(),
        )
            .prop_map(|(expiry, ttl, topic, data, nonce)| Envelope {
                expiry,
                ttl,
                topic: Topic(topic),
                data: data.into(),
                nonce,
            })
    }

    proptest! {
        #[test]
        fn round_trips(env in arb_envelope()) {
            let rlp = env.to_rlp();
            prop_assert_eq!(rlp.len(), env.encoded_len());
            let mut buf = &rlp[..];
            let back = Envelope::decode(&mut buf).unwrap();
            prop_assert!(buf.is_empty());
            prop_assert_eq!(&back, &env);
            prop_assert_eq!(back.hash(), keccak256(&rlp));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), max in 0usize..700) {
            let _ = Envelope::decode_with_limit(&mut &data[..], max);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// A sealed envelope's PoW meets its target, and `seal` reports the PoW `pow` computes.
        #[test]
        fn sealed_pow_meets_target(mut env in arb_envelope(), target in 0.0f64..0.01) {
            env.ttl = env.ttl.clamp(10, 120);
            let mut go = || true;
            let out = env.seal(target, SealBudget { max_attempts: 1 << 20, keep_going: &mut go });
            prop_assert!(out.reached);
            prop_assert!(env.pow() >= target);
            prop_assert_eq!(out.pow.to_bits(), env.pow().to_bits());
        }

    }

    #[test]
    fn size_limit_is_checked_before_decoding() {
        let env = Envelope {
            expiry: 1,
            ttl: 1,
            topic: Topic([0; 4]),
            data: vec![0; 1000].into(),
            nonce: 0,
        };
        let rlp = env.to_rlp();
        assert_eq!(
            Envelope::decode_with_limit(&mut &rlp[..], 500),
            Err(EnvelopeError::TooBig { size: rlp.len(), max: 500 })
        );
        // A header declaring 1 GiB is refused from its first bytes.
        let huge = [0xfb, 0x40, 0x00, 0x00, 0x00];
        assert!(matches!(
            Envelope::decode(&mut &huge[..]),
            Err(EnvelopeError::Rlp(_) | EnvelopeError::TooBig { .. })
        ));
    }

    #[test]
    fn seal_budget_is_respected() {
        let mut env = Envelope {
            expiry: 100,
            ttl: 10,
            topic: Topic([1; 4]),
            data: vec![7; 64].into(),
            nonce: 0,
        };
        let mut calls = 0;
        let mut stop = || {
            calls += 1;
            false
        };
        let out = env.seal(1e9, SealBudget { max_attempts: 1_000_000, keep_going: &mut stop });
        assert!(!out.reached);
        assert_eq!(out.attempts, 4096, "stopped at the first deadline check");
        assert_eq!(out.pow.to_bits(), env.pow().to_bits(), "the best nonce found is kept");
    }
}
