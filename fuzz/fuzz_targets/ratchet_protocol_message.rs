//! Fuzzes the receive path of the secure transport (`wisp-ratchet`): `ProtocolMessage`
//! decoding, bundle verification, installation lookup, X3DH / Double Ratchet / DH decryption.
//!
//! Two paths per input:
//! 1. the bytes as a `ProtocolMessage`: decoded; a decoded message re-encodes to bytes that
//!    decode to the same value; then Bob (see `ratchet_fixture.rs`) handles it as if sent by
//!    Alice, by himself and by a stranger;
//! 2. the input as a recipe: byte 0 picks what Alice sends Bob (a Double Ratchet message on
//!    the fixture session, a DH-mode message, a public message, or a message after a DH
//!    ratchet step), the next bytes up to a `0xff` are the plaintext, the rest `(pos16, xor)`
//!    flips applied to the encoded message.
//!
//! Checks: no panic; a failed `handle_message` leaves Bob's session exactly as it was; an
//! unflipped message decrypts to its plaintext (an empty public message arrives as
//! `NoPayload`: proto3 drops the empty field); an authenticated (non-public) message that
//! opens after flips opens to the plaintext.

#![no_main]

#[path = "ratchet_fixture.rs"]
mod fixture;

use fixture::{FIXTURE, fingerprint, now};
use libfuzzer_sys::fuzz_target;
use wisp_ratchet::proto::{self, Message as _};
use wisp_ratchet::{Error, MessageKind};

/// Largest plaintext of path 2.
const MAX_PLAINTEXT: usize = 512;

fn handle_raw(data: &[u8]) {
    let Ok(message) = proto::decode_protocol_message(data) else {
        return;
    };
    let encoded = message.encode_to_vec();
    assert_eq!(encoded.len(), message.encoded_len());
    assert_eq!(proto::decode_protocol_message(&encoded).unwrap(), message, "re-decode");
    let f = &*FIXTURE;
    for sender in [f.alice, f.bob, f.stranger] {
        let mut bob = f.bob();
        let before = fingerprint(bob.store(), &f.session);
        if bob.handle_message(&sender, &message, now()).is_err() {
            assert_eq!(
                fingerprint(bob.store(), &f.session),
                before,
                "failed message changed the session"
            );
        }
    }
}

fn recipe(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let end = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
    let plaintext = &rest[..end.min(MAX_PLAINTEXT)];
    let flips = rest.get(end + 1..).unwrap_or_default();
    let f = &*FIXTURE;
    let mut alice = f.alice();
    let mut bob = f.bob();
    let message = match selector % 4 {
        0 => alice.build_direct_message(&f.bob, plaintext, now()).unwrap().message,
        1 => alice.build_dh_message(&f.bob, plaintext, now()).unwrap().message,
        2 => alice.build_public_message(plaintext, now()).unwrap(),
        _ => {
            // Bob answers first: Alice's next message starts a new chain.
            let reply = bob.build_direct_message(&f.alice, b"turn", now()).unwrap();
            alice.handle_message(&f.bob, &reply.message, now()).unwrap();
            alice.build_direct_message(&f.bob, plaintext, now()).unwrap().message
        }
    };
    let mut bytes = message.encode_to_vec();
    let mut flipped = false;
    for flip in flips.chunks_exact(3) {
        if bytes.is_empty() {
            break;
        }
        let pos = usize::from(u16::from_le_bytes([flip[0], flip[1]])) % bytes.len();
        bytes[pos] ^= flip[2];
        flipped |= flip[2] != 0;
    }
    let Ok(decoded) = proto::decode_protocol_message(&bytes) else {
        assert!(flipped, "own message does not decode");
        return;
    };
    let before = fingerprint(bob.store(), &f.session);
    match bob.handle_message(&f.alice, &decoded, now()) {
        Ok(received) => {
            if !flipped || received.kind != MessageKind::Public {
                assert_eq!(received.payload.as_deref(), Some(plaintext), "{:?}", received.kind);
            }
        }
        Err(err) => {
            // proto3 does not encode an empty `public_message`: it arrives as no payload
            // (status-go: `ErrNoPayload` too).
            let empty_public = selector % 4 == 2 && plaintext.is_empty();
            assert!(
                flipped || (empty_public && matches!(err, Error::NoPayload)),
                "unflipped message failed: {err:?}"
            );
            assert_eq!(
                fingerprint(bob.store(), &f.session),
                before,
                "failed message changed the session"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    handle_raw(data);
    recipe(data);
});
