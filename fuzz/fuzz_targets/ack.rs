//! Fuzzes the initiator's side of the RLPx handshake: decoding an `ack` packet.
//!
//! Three paths per input, as in the `auth` target:
//! 1. the bytes as a whole packet: `Initiator::read_ack`;
//! 2. the bytes as the EIP-8 plaintext body: `AckMessage::decode_eip8`, with a round trip;
//! 3. the bytes sealed with ECIES to the initiator's fixed key — as an EIP-8 packet and as a
//!    legacy packet (body cut or zero-padded to 97 bytes) — and given to `read_ack`, so the
//!    decoding behind the ECIES MAC is reached. What `read_ack` returns must agree with
//!    decoding the plaintext directly.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wisp_crypto::{NodeId, PublicKey, SecretKey, ecies};
use wisp_rlpx::{
    HandshakeError,
    handshake::{AckMessage, HandshakeRandomness, Initiator, LEGACY_ACK_BODY_LEN, Secrets},
};

/// The initiator's static key: acks are sealed to it.
const INITIATOR_KEY: [u8; 32] = [0xa1; 32];
/// The static key of the node the initiator dials.
const REMOTE_KEY: [u8; 32] = [0xb2; 32];

struct Fixture {
    initiator_key: SecretKey,
    initiator_pub: PublicKey,
    remote_id: NodeId,
    rnd: HandshakeRandomness,
    /// ECIES ephemeral key and IV used to seal fuzzed bodies.
    seal_key: SecretKey,
    seal_iv: [u8; 16],
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let initiator_key = SecretKey::from_bytes(&INITIATOR_KEY).unwrap();
    Fixture {
        initiator_pub: initiator_key.public_key(),
        initiator_key,
        remote_id: SecretKey::from_bytes(&REMOTE_KEY).unwrap().public_key().node_id(),
        rnd: HandshakeRandomness {
            ephemeral_key: SecretKey::from_bytes(&[0xa3; 32]).unwrap(),
            nonce: [0xa4; 32],
            ecies_key: SecretKey::from_bytes(&[0xa5; 32]).unwrap(),
            ecies_iv: [0xa6; 16],
            padding_len: 100,
        },
        seal_key: SecretKey::from_bytes(&[0xe1; 32]).unwrap(),
        seal_iv: [0xe2; 16],
    }
});

/// `read_ack` consumes the initiator, so each packet gets a fresh one.
fn read_ack(f: &Fixture, packet: &[u8]) -> Result<(Secrets, AckMessage), HandshakeError> {
    Initiator::new(f.initiator_key.clone(), f.remote_id, f.rnd.clone())
        .expect("fixed remote id is valid")
        .read_ack(packet)
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;

    // 1. Raw packet.
    if let Ok((secrets, _)) = read_ack(f, data) {
        assert_eq!(secrets.remote_id, f.remote_id);
    }

    // 2. Plaintext body, decoded directly.
    let direct = AckMessage::decode_eip8(data);
    if let Ok(msg) = &direct {
        let mut out = Vec::new();
        msg.encode_eip8(&mut out);
        let again = AckMessage::decode_eip8(&out).expect("re-encoded ack body decodes");
        assert_eq!(&again, msg, "ack body round trip");
    }

    // 3a. Plaintext body sealed as an EIP-8 packet.
    if data.len() + ecies::OVERHEAD <= usize::from(u16::MAX) {
        let prefix = (ecies::encrypted_len(data.len()) as u16).to_be_bytes();
        let mut packet = prefix.to_vec();
        packet.extend(ecies::encrypt_with(
            &f.initiator_pub,
            data,
            &prefix,
            &f.seal_key,
            &f.seal_iv,
        ));
        // An error is fine (bad RLP or ephemeral key); acceptance must agree with decoding
        // the plaintext directly.
        if let Ok((secrets, ack)) = read_ack(f, &packet) {
            let msg = direct.as_ref().expect("read_ack accepted a body decode_eip8 rejects");
            assert_eq!(&ack, msg, "read_ack and decode_eip8 disagree");
            assert!(ack.ephemeral_id.public_key().is_ok());
            assert_eq!(secrets.remote_id, f.remote_id);
        }
    }

    // 3b. The body cut or zero-padded to the legacy length and sealed as a legacy packet.
    let mut legacy = data[..data.len().min(LEGACY_ACK_BODY_LEN)].to_vec();
    legacy.resize(LEGACY_ACK_BODY_LEN, 0);
    let packet = ecies::encrypt_with(&f.initiator_pub, &legacy, &[], &f.seal_key, &f.seal_iv);
    match read_ack(f, &packet) {
        Ok((_, ack)) => {
            assert_eq!(ack.ephemeral_id.0[..], legacy[..64]);
            assert_eq!(ack.nonce[..], legacy[64..96]);
        }
        // The only way a well-sealed legacy ack fails is an ephemeral key off the curve.
        Err(e) => assert!(
            matches!(e, HandshakeError::InvalidEphemeralKey),
            "legacy ack rejected with {e}"
        ),
    }
});
