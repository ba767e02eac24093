//! Who wrote a message and when: the signature of every `ApplicationMetadataMessage`, the
//! message id, and the Lamport clock (6/PAYLOADS; DECISIONS 6, 12, 14, 18, 19).
//!
//! - The author signs keccak256(payload) with their chat key; the signature is `r || s || v`
//!   with `v` in {0, 1} (DECISIONS 14). Signing is deterministic (RFC 6979), so a message
//!   built twice from the same inputs is the same bytes.
//! - The message id is keccak256(author's 65-byte public key || the encoded
//!   `ApplicationMetadataMessage`) (DECISIONS 18); status-go shows it as `0x`-hex.
//! - The clock of a new message is max(now in ms, last clock of the chat + 1) (DECISIONS 12);
//!   a received message whose clock is more than [`MAX_CLOCK_DRIFT_MS`] ahead of its envelope's
//!   timestamp is dropped (status-go `maxWhisperFutureDriftMs`).

use std::fmt;

use wisp_crypto::{PublicKey, RecoverableSignature, SecretKey, keccak256, keccak256_concat};

use crate::error::{Error, Result};
use crate::proto::{ApplicationMetadataMessage, Message as _, application_metadata_message};

/// How far a message's clock may be ahead of its envelope's timestamp: 120 s (DECISIONS 12;
/// status-go `maxWhisperFutureDriftMs`).
pub const MAX_CLOCK_DRIFT_MS: u64 = 120_000;

/// A message id: keccak256(author key || `ApplicationMetadataMessage` bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 32]);

impl MessageId {
    /// The id of the encoded `ApplicationMetadataMessage` `amm` written by `author`
    /// (DECISIONS 18).
    pub fn of(author: &PublicKey, amm: &[u8]) -> Self {
        Self(keccak256_concat(&[&author.to_uncompressed(), amm]))
    }
}

impl fmt::Display for MessageId {
    /// `0x`-hex, as status-go shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// Wraps `payload` of type `kind` and signs it with `key` (status-go `WrapMessageV1`).
pub fn sign(
    payload: Vec<u8>,
    kind: application_metadata_message::Type,
    key: &SecretKey,
) -> ApplicationMetadataMessage {
    let signature = key.sign_prehash(&keccak256(&payload)).to_bytes().to_vec();
    ApplicationMetadataMessage { signature, payload, r#type: kind as i32 }
}

/// An `ApplicationMetadataMessage` whose signature was checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedMessage {
    /// The decoded wrapper.
    pub message: ApplicationMetadataMessage,
    /// The key the signature recovers to: the author.
    pub author: PublicKey,
    /// The message id.
    pub id: MessageId,
}

impl SignedMessage {
    /// Signs `payload` as `kind` with `key`; returns the message and its encoding.
    pub fn build(
        payload: Vec<u8>,
        kind: application_metadata_message::Type,
        key: &SecretKey,
    ) -> (Self, Vec<u8>) {
        let message = sign(payload, kind, key);
        let bytes = message.encode_to_vec();
        let author = key.public_key();
        let id = MessageId::of(&author, &bytes);
        (Self { message, author, id }, bytes)
    }

    /// Decodes an encoded `ApplicationMetadataMessage` and recovers its author
    /// (status-go `HandleApplicationMetadata`). Refuses a missing signature
    /// ([`Error::Unsigned`]) and one that recovers to no key ([`Error::BadSignature`]).
    pub fn open(bytes: &[u8]) -> Result<Self> {
        let message = crate::proto::decode_application_metadata(bytes)?;
        if message.signature.is_empty() {
            return Err(Error::Unsigned);
        }
        let author = RecoverableSignature::from_bytes(&message.signature)
            .and_then(|signature| signature.recover(&keccak256(&message.payload)))
            .map_err(Error::BadSignature)?;
        let id = MessageId::of(&author, bytes);
        Ok(Self { message, author, id })
    }
}

/// The Lamport clock of one chat (DECISIONS 12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LamportClock {
    last: u64,
}

impl LamportClock {
    /// A clock that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The largest clock sent or received so far.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The clock of a new message at `now_ms` (Unix milliseconds): max(now, last + 1).
    pub fn tick(&mut self, now_ms: u64) -> u64 {
        self.last = now_ms.max(self.last.saturating_add(1));
        self.last
    }

    /// Records a received clock.
    pub fn observe(&mut self, clock: u64) {
        self.last = self.last.max(clock);
    }
}

/// Whether `clock` (ms) is acceptable for an envelope stamped `envelope_timestamp` (Unix
/// seconds): at most [`MAX_CLOCK_DRIFT_MS`] ahead of it.
pub fn clock_acceptable(clock: u64, envelope_timestamp: u32) -> bool {
    let envelope_ms = u64::from(envelope_timestamp) * 1000;
    clock <= envelope_ms.saturating_add(MAX_CLOCK_DRIFT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn sign_and_open_round_trip() {
        let alice = key(0x4d);
        let (built, bytes) = SignedMessage::build(
            b"payload".to_vec(),
            application_metadata_message::Type::ChatMessage,
            &alice,
        );
        let opened = SignedMessage::open(&bytes).unwrap();
        assert_eq!(opened, built);
        assert_eq!(opened.author, alice.public_key());
        assert!(opened.message.signature[64] <= 1, "v in {{0, 1}} (DECISIONS 14)");
    }

    #[test]
    fn unsigned_and_bad_signatures_are_refused() {
        let unsigned =
            ApplicationMetadataMessage { signature: vec![], payload: vec![1], r#type: 1 };
        assert!(matches!(SignedMessage::open(&unsigned.encode_to_vec()), Err(Error::Unsigned)));
        let short = ApplicationMetadataMessage { signature: vec![1; 64], ..unsigned.clone() };
        assert!(matches!(SignedMessage::open(&short.encode_to_vec()), Err(Error::BadSignature(_))));
        let zero = ApplicationMetadataMessage { signature: vec![0; 65], ..unsigned };
        assert!(matches!(SignedMessage::open(&zero.encode_to_vec()), Err(Error::BadSignature(_))));
    }

    #[test]
    fn lamport_clock_rules() {
        let mut clock = LamportClock::new();
        assert_eq!(clock.tick(1_000), 1_000);
        assert_eq!(clock.tick(1_000), 1_001, "same millisecond: last + 1");
        clock.observe(5_000);
        assert_eq!(clock.tick(2_000), 5_001, "a later clock seen: after it");
        assert_eq!(clock.tick(9_000), 9_000, "wall clock ahead: the wall clock");
        assert!(clock_acceptable(100_000 + MAX_CLOCK_DRIFT_MS, 100));
        assert!(!clock_acceptable(100_000 + MAX_CLOCK_DRIFT_MS + 1, 100));
        assert!(clock_acceptable(u64::from(u32::MAX) * 1000, u32::MAX), "no overflow");
    }
}
