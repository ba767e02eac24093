//! Fuzzes the contact, pairing and sync decoders of `wisp-messenger` and their receive path.
//!
//! Per input:
//! 1. the bytes decoded as a `ContactUpdate`, `PairInstallation`, `SyncInstallation`,
//!    `SyncInstallationContact`, `SyncInstallationAccount`, `SyncInstallationPublicChat` and
//!    `ChatIdentity`: a decoded message re-encodes to bytes that decode to the same value;
//! 2. the first byte below 0x80 picks one of those types, and the rest, as its payload, is
//!    signed by the messenger's own key (0x5e…) and sent from another installation of that
//!    key in DH mode (what a paired device sends), and signed by a stranger (0x4d…) from the
//!    stranger's transport, each handed to a fresh messenger (0x5e…, installation "mine");
//! 3. a first byte from 0x80: the second is a raw type number 0..=255 (unknown ones included)
//!    for the own-device path.
//!
//! Checks: no panic; an envelope refused as a whole counts exactly one drop more; a stranger
//! never changes our contacts, chats or installation metadata.

#![no_main]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{NOW_MS, TestMessenger as Me, key, messenger, receive};
use libfuzzer_sys::fuzz_target;
use wisp_messenger::IncomingEnvelope;
use wisp_messenger::proto::{self, Message as _, application_metadata_message::Type};
use wisp_ratchet::topic::partitioned_topic;
use wisp_ratchet::{MemoryStore, SecureTransport, SeededEntropy};
use wisp_waku::Topic;

fn check<M: proto::Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
    let bytes = m.encode_to_vec();
    assert_eq!(&M::decode(bytes.as_slice()).unwrap(), m, "re-decode");
}

fn decoders(data: &[u8]) {
    if let Ok(m) = proto::decode_contact_update(data) {
        check(&m);
    }
    if let Ok(m) = proto::decode_pair_installation(data) {
        check(&m);
    }
    if let Ok(m) = proto::decode_sync_installation(data) {
        check(&m);
    }
    if let Ok(m) = proto::decode_sync_contact(data) {
        check(&m);
    }
    if let Ok(m) = proto::decode_sync_account(data) {
        check(&m);
    }
    if let Ok(m) = proto::decode_sync_public_chat(data) {
        check(&m);
    }
    if let Ok(m) = proto::decode_chat_identity(data) {
        check(&m);
    }
}

/// `payload` of type `kind`, signed by `author`, sent in DH mode to 0x5e… by installation
/// `installation` of `sender`; handed to a fresh messenger. Returns it.
fn deliver(kind: i32, payload: &[u8], author: u8, sender: u8, installation: &str) -> Me {
    let mut messenger = messenger("mine");
    let amm = wisp_messenger::identity::sign(payload.to_vec(), Type::Unknown, &key(author));
    // The signature covers the payload only, so any type number can be set afterwards.
    let bytes = proto::ApplicationMetadataMessage { r#type: kind, ..amm }.encode_to_vec();
    let mut transport = SecureTransport::new(key(sender), installation, MemoryStore::new())
        .with_entropy(SeededEntropy::new([1; 32]));
    let now = UNIX_EPOCH + Duration::from_millis(NOW_MS);
    let Ok(dh) = transport.build_dh_message(&key(0x5e).public_key(), &bytes, now) else {
        return messenger;
    };
    let envelope = IncomingEnvelope {
        topic: Topic(partitioned_topic(&key(0x5e).public_key()).0),
        payload: dh.encode(),
        signer: Some(key(sender).public_key()),
        timestamp: (NOW_MS / 1000) as u32,
        hash: [0; 32],
    };
    receive(&mut messenger, &envelope);
    messenger
}

const KINDS: [Type; 7] = [
    Type::ContactUpdate,
    Type::PairInstallation,
    Type::SyncInstallation,
    Type::SyncInstallationContact,
    Type::SyncInstallationAccount,
    Type::SyncInstallationPublicChat,
    Type::ChatIdentity,
];

fuzz_target!(|data: &[u8]| {
    decoders(data);
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    if selector >= 0x80 {
        // Any type number (the next byte), unknown ones included, from our own other device.
        if let Some((&kind, payload)) = payload.split_first() {
            deliver(i32::from(kind), payload, 0x5e, 0x5e, "other-device");
        }
        return;
    }
    let kind = KINDS[usize::from(selector) % KINDS.len()];
    deliver(kind as i32, payload, 0x5e, 0x5e, "other-device");
    let touched = deliver(kind as i32, payload, 0x4d, 0x4d, "stranger");
    assert!(touched.chats().is_empty(), "a stranger joined us to a chat");
    let ours = touched.our_installations().unwrap();
    assert!(ours.iter().all(|i| i.metadata.is_none()), "a stranger named our devices");
    if kind != Type::ContactUpdate && kind != Type::ChatIdentity {
        assert!(touched.contacts().unwrap().is_empty(), "a stranger synced a contact");
    }
});
