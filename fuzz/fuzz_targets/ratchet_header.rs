//! Fuzzes Double Ratchet header decoding and checking (`wisp-ratchet`).
//!
//! Three paths per input:
//! 1. the bytes as a `DirectMessageProtocol` (X3DH / DR / DH headers and payload): decoded,
//!    re-encoded and decoded again to the same value, then delivered to Bob (see
//!    `ratchet_fixture.rs`) under his installation id as if from Alice;
//! 2. the bytes as a `DRHeader`, decoded the same way, with Alice's last real message's
//!    payload;
//! 3. a structured header: `key(33) n(4) pn(4) payload…`, fed to
//!    `RatchetState::decrypt` on Bob's session state with and without the real skipped key.
//!
//! Checks: no panic; a failed message leaves Bob's session unchanged; `decrypt` errors are the
//! header and authentication errors only; whatever decrypts decrypts to what Alice sent.

#![no_main]

#[path = "ratchet_fixture.rs"]
mod fixture;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use fixture::{FIXTURE, fingerprint, now};
use libfuzzer_sys::fuzz_target;
use wisp_ratchet::entropy::SeededEntropy;
use wisp_ratchet::proto::{self, Message as _};
use wisp_ratchet::{Error, Header, Store};

/// Alice's next message to Bob (payload, plaintext).
static NEXT: LazyLock<(proto::DirectMessageProtocol, Vec<u8>)> = LazyLock::new(|| {
    let f = &*FIXTURE;
    let plaintext = b"fuzzed header".to_vec();
    let sent = f.alice().build_direct_message(&f.bob, &plaintext, now()).unwrap();
    (sent.message.direct_message["bob-1"].clone(), plaintext)
});

fn deliver(dmp: proto::DirectMessageProtocol) {
    let f = &*FIXTURE;
    let mut bob = f.bob();
    let before = fingerprint(bob.store(), &f.session);
    let message = proto::ProtocolMessage {
        installation_id: "alice-1".into(),
        bundles: Vec::new(),
        direct_message: BTreeMap::from([("bob-1".to_owned(), dmp)]),
        public_message: Vec::new(),
    };
    match bob.handle_message(&f.alice, &message, now()) {
        Ok(received) => {
            // Only Alice's real message can open (DH mode needs Bob's key, X3DH his pre-key).
            if received.kind != wisp_ratchet::MessageKind::Dh {
                assert_eq!(received.payload.as_deref(), Some(NEXT.1.as_slice()));
            }
        }
        Err(_) => assert_eq!(
            fingerprint(bob.store(), &f.session),
            before,
            "failed message changed the session"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;

    // 1. DirectMessageProtocol.
    if let Ok(dmp) = proto::decode_direct_message(data) {
        assert_eq!(proto::decode_direct_message(&dmp.encode_to_vec()).unwrap(), dmp);
        deliver(dmp);
    }

    // 2. DRHeader with Alice's real payload.
    if let Ok(header) = proto::DrHeader::decode(data) {
        assert_eq!(proto::DrHeader::decode(header.encode_to_vec().as_slice()).unwrap(), header);
        let mut dmp = NEXT.0.clone();
        dmp.dr_header = Some(header);
        deliver(dmp);
    }

    // 3. Structured header on Bob's state.
    if data.len() >= 41 {
        let mut dh = [0u8; 33];
        dh.copy_from_slice(&data[..33]);
        let header = Header {
            dh,
            n: u32::from_le_bytes(data[33..37].try_into().unwrap()),
            pn: u32::from_le_bytes(data[37..41].try_into().unwrap()),
        };
        let payload = &data[41..];
        let bob = f.bob();
        let session = bob.store().session(&f.session).unwrap().unwrap();
        let stored = bob.store().skipped_key(&f.session, &header.dh, header.n).unwrap();
        let mut entropy = SeededEntropy::new([7; 32]);
        for skipped in [None, stored.as_deref()] {
            match session.state.decrypt(&header, payload, skipped, 1000, &mut entropy) {
                Ok(_) => panic!("a forged message decrypted"),
                Err(
                    Error::BadMac
                    | Error::CiphertextTooShort { .. }
                    | Error::Replay { .. }
                    | Error::TooManySkipped { .. }
                    | Error::InconsistentHeader { .. }
                    | Error::InvalidKey { .. },
                ) => {}
                Err(other) => panic!("unexpected error {other:?}"),
            }
        }
    }
});
