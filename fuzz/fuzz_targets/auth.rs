//! Fuzzes the recipient's side of the RLPx handshake: decoding an `auth` packet.
//!
//! Three paths per input:
//! 1. the bytes as a whole packet: `Recipient::read_auth` (length checks, ECIES, legacy try);
//! 2. the bytes as the EIP-8 plaintext body: `AuthMessage::decode_eip8`, with a round trip;
//! 3. the bytes sealed with ECIES to the recipient's fixed key — once as an EIP-8 packet (size
//!    prefix as MAC data), once as a legacy packet (body cut or zero-padded to 194 bytes) — and
//!    given to `read_auth`, so the decoding behind the ECIES MAC is reached. What `read_auth`
//!    returns must agree with decoding the plaintext directly, and a packet it accepts must be
//!    answerable with `Recipient::ack`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wisp_crypto::{PublicKey, SecretKey, ecies};
use wisp_rlpx::handshake::{
    AuthMessage, HandshakeFormat, HandshakeRandomness, LEGACY_AUTH_BODY_LEN, Recipient,
};

/// The recipient's static key.
const RECIPIENT_KEY: [u8; 32] = [0xb2; 32];

struct Fixture {
    recipient_key: SecretKey,
    recipient_pub: PublicKey,
    rnd: HandshakeRandomness,
    recipient: Recipient,
    /// ECIES ephemeral key and IV used to seal fuzzed bodies.
    seal_key: SecretKey,
    seal_iv: [u8; 16],
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let recipient_key = SecretKey::from_bytes(&RECIPIENT_KEY).unwrap();
    let rnd = HandshakeRandomness {
        ephemeral_key: SecretKey::from_bytes(&[0xb3; 32]).unwrap(),
        nonce: [0xb4; 32],
        ecies_key: SecretKey::from_bytes(&[0xb5; 32]).unwrap(),
        ecies_iv: [0xb6; 16],
        padding_len: 100,
    };
    Fixture {
        recipient: Recipient::new(recipient_key.clone(), rnd.clone()),
        recipient_pub: recipient_key.public_key(),
        recipient_key,
        rnd,
        seal_key: SecretKey::from_bytes(&[0xe1; 32]).unwrap(),
        seal_iv: [0xe2; 16],
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;

    // 1. Raw packet.
    if let Ok(auth) = f.recipient.read_auth(data) {
        // Only reachable with a packet really sealed to our key (e.g. a seed).
        let fresh = Recipient::new(f.recipient_key.clone(), f.rnd.clone());
        fresh.ack(&auth).expect("ack of an accepted auth");
    }

    // 2. Plaintext body, decoded directly.
    let direct = AuthMessage::decode_eip8(data);
    if let Ok(msg) = &direct {
        let mut out = Vec::new();
        msg.encode_eip8(&mut out);
        let again = AuthMessage::decode_eip8(&out).expect("re-encoded auth body decodes");
        assert_eq!(&again, msg, "auth body round trip");
        let mut out2 = Vec::new();
        again.encode_eip8(&mut out2);
        assert_eq!(out, out2, "auth body encoding is stable");
    }

    // 3a. Plaintext body sealed as an EIP-8 packet.
    if data.len() + ecies::OVERHEAD <= usize::from(u16::MAX) {
        let prefix = (ecies::encrypted_len(data.len()) as u16).to_be_bytes();
        let mut packet = prefix.to_vec();
        packet.extend(ecies::encrypt_with(
            &f.recipient_pub,
            data,
            &prefix,
            &f.seal_key,
            &f.seal_iv,
        ));
        // An error here is fine (bad RLP, node id or signature); acceptance must agree with
        // decoding the plaintext directly.
        if let Ok(auth) = f.recipient.read_auth(&packet) {
            assert_eq!(auth.format, HandshakeFormat::Eip8);
            let msg = direct.as_ref().expect("read_auth accepted a body decode_eip8 rejects");
            assert_eq!(&auth.message, msg, "read_auth and decode_eip8 disagree");
            let fresh = Recipient::new(f.recipient_key.clone(), f.rnd.clone());
            fresh.ack(&auth).expect("ack of an accepted auth");
        }
    }

    // 3b. The body cut or zero-padded to the legacy length and sealed as a legacy packet.
    let mut legacy = data[..data.len().min(LEGACY_AUTH_BODY_LEN)].to_vec();
    legacy.resize(LEGACY_AUTH_BODY_LEN, 0);
    let packet = ecies::encrypt_with(&f.recipient_pub, &legacy, &[], &f.seal_key, &f.seal_iv);
    if let Ok(auth) = f.recipient.read_auth(&packet) {
        assert_eq!(auth.format, HandshakeFormat::Legacy);
        assert_eq!(auth.message.initiator_id.0[..], legacy[97..161]);
        assert_eq!(auth.message.nonce[..], legacy[161..193]);
        let fresh = Recipient::new(f.recipient_key.clone(), f.rnd.clone());
        fresh.ack(&auth).expect("ack of an accepted legacy auth");
    }
});
