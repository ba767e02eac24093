//! Fuzzes the payload decoders of `wisp-messenger` and the receive path of its `Messenger`.
//!
//! Three paths per input:
//! 1. the bytes as an `ApplicationMetadataMessage`: decoded, signature recovered, payload
//!    decoded by its type; a decoded wrapper re-encodes to bytes that decode to the same value;
//! 2. the bytes as the payload of every type 0..=30: a decoded payload re-encodes to bytes
//!    that decode to the same value;
//! 3. the bytes handed to a fresh messenger (Bob, key 0x5e…) from Alice (key 0x4d…): as the
//!    whole Waku payload, as the public message of Alice's `ProtocolMessage`, and as the
//!    plaintext of a DH-mode message from Alice (the MVDS path);
//! 4. the bytes (as UTF-8, lossy) as a `chatMessages` paging cursor.
//!
//! Checks: no panic; an envelope refused as a whole is counted as exactly one drop more; a
//! cursor is accepted or refused as invalid input.

#![no_main]

use std::convert::Infallible;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use rand_core::TryRng;
use wisp_crypto::SecretKey;
use wisp_messenger::proto::{self, AppPayload, Message as _};
use wisp_messenger::{Config, IncomingEnvelope, MemoryMessageStore, Messenger, SignedMessage};
use wisp_ratchet::{MemoryStore, SecureTransport, SeededEntropy};
use wisp_waku::Topic;

const NOW_MS: u64 = 1_800_000_000_000;

/// A fixed counter: MVDS needs jitter, not randomness.
struct Counter(u64);

impl TryRng for Counter {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

fn round_trip_payload(payload: &AppPayload) {
    fn check<M: proto::Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
        let bytes = m.encode_to_vec();
        assert_eq!(bytes.len(), m.encoded_len());
        assert_eq!(&M::decode(bytes.as_slice()).unwrap(), m, "re-decode");
    }
    match payload {
        AppPayload::Chat(m) => check(m),
        AppPayload::ContactCode(m) => check(m),
        AppPayload::Identity(m) => check(m),
        AppPayload::Reaction(m) => check(m),
        AppPayload::Pin(m) => check(m),
        AppPayload::Membership(m) => check(m),
        AppPayload::Other { .. } => {}
    }
}

fn decoders(data: &[u8]) {
    if let Ok(amm) = proto::decode_application_metadata(data) {
        let bytes = amm.encode_to_vec();
        assert_eq!(proto::decode_application_metadata(&bytes).unwrap(), amm, "re-decode");
    }
    if let Ok(signed) = SignedMessage::open(data) {
        if let Ok(payload) =
            proto::decode_app_payload(signed.message.r#type, &signed.message.payload)
        {
            round_trip_payload(&payload);
        }
    }
    for kind in 0..=30 {
        if let Ok(payload) = proto::decode_app_payload(kind, data) {
            round_trip_payload(&payload);
        }
    }
}

type Bob = Messenger<MemoryStore, wisp_mvds::MemoryStore, Counter, MemoryMessageStore>;

fn bob() -> Bob {
    let bob = key(0x5e);
    let transport = SecureTransport::new(bob.clone(), "bob", MemoryStore::new())
        .with_entropy(SeededEntropy::new([2; 32]));
    let mvds = wisp_mvds::Node::new(
        wisp_mvds::Config::default(),
        wisp_mvds::MemoryStore::new(),
        Counter(1),
    );
    Messenger::new(bob, transport, mvds, MemoryMessageStore::new(), Config::default()).unwrap()
}

fn handle(payload: Vec<u8>) {
    let mut messenger = bob();
    let envelope = IncomingEnvelope {
        topic: Topic([1, 2, 3, 4]),
        payload,
        signer: Some(key(0x4d).public_key()),
        timestamp: (NOW_MS / 1000) as u32,
        hash: [0; 32],
    };
    let before = messenger.counters().dropped();
    if messenger.handle_envelope(&envelope, NOW_MS).is_err() {
        assert_eq!(messenger.counters().dropped(), before + 1, "one drop counted");
    }
    while messenger.poll_output().is_some() {}
}

fn messenger(data: &[u8]) {
    handle(data.to_vec());
    let mut alice = SecureTransport::new(key(0x4d), "alice", MemoryStore::new())
        .with_entropy(SeededEntropy::new([1; 32]));
    let now = UNIX_EPOCH + Duration::from_millis(NOW_MS);
    if let Ok(public) = alice.build_public_message(data, now) {
        handle(public.encode_to_vec());
    }
    if let Ok(dh) = alice.build_dh_message(&key(0x5e).public_key(), data, now) {
        handle(dh.encode());
    }
}

fn cursor(data: &[u8]) {
    let messenger = bob();
    let cursor = String::from_utf8_lossy(data);
    match messenger.chat_messages("fuzz", Some(&cursor), 10) {
        Ok((messages, next)) => assert!(messages.is_empty() && next.is_none()),
        Err(wisp_messenger::Error::InvalidInput { what: "cursor", .. }) => {}
        Err(e) => panic!("a cursor is valid or invalid input, not {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    decoders(data);
    messenger(data);
    cursor(data);
});
