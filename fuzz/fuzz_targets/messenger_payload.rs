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

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{NOW_MS, TestMessenger as Bob, key, receive};
use libfuzzer_sys::fuzz_target;
use wisp_messenger::proto::{self, AppPayload, Message as _};
use wisp_messenger::{IncomingEnvelope, SignedMessage};
use wisp_ratchet::{MemoryStore, SecureTransport, SeededEntropy};
use wisp_waku::Topic;

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
        AppPayload::GroupInvitation(m) => check(m),
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

fn bob() -> Bob {
    common::messenger("bob")
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
    receive(&mut messenger, &envelope);
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
