//! The official Discovery v5.1 wire test vectors (`devp2p/discv5/discv5-wire-test-vectors.md`,
//! copied to `testdata/specs/devp2p/discv5/`), checked with wisp-crypto (secp256k1, keccak256,
//! SHA-256, HKDF, AES-128-CTR) and AES-128-GCM.
//!
//! The `discv5` crate keeps its packet codec and handshake crypto private, so these vectors
//! go through code of this test: node ids, ECDH, key derivation, the ID-nonce signature,
//! AES-GCM, and all four packets (header unmasking, static header and authdata fields, message
//! decryption, handshake signature and keys, the handshake's ENR).

use std::collections::BTreeMap;
use std::path::PathBuf;

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use wisp_crypto::{PublicKey, SecretKey, aes128_ctr_apply, hkdf_sha256, keccak256, sha256_concat};
use wisp_discovery::enr::Enr;

// Dependencies of the library and of other test targets.
use alloy_rlp as _;
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
use proptest as _;
use serde_json as _;
use thiserror as _;
use tokio as _;
use tracing as _;
use wisp_rlpx as _;

/// One section of the vector file: its `name = value` lines and its hex dump (packets).
#[derive(Debug, Default)]
struct Section {
    values: BTreeMap<String, String>,
    dump: Vec<u8>,
}

impl Section {
    fn hex(&self, key: &str) -> Vec<u8> {
        let v =
            self.values.get(key).unwrap_or_else(|| panic!("missing {key} in {:?}", self.values));
        hex::decode(v.trim_start_matches("0x")).unwrap_or_else(|e| panic!("{key}: {e}"))
    }
    fn num(&self, key: &str) -> u64 {
        self.values[key].parse().unwrap_or_else(|e| panic!("{key}: {e}"))
    }
}

/// The sections by title ("Ping message packet (flag 0)", "ECDH", ...).
fn vectors() -> BTreeMap<String, Section> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/specs/devp2p/discv5/discv5-wire-test-vectors.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    let mut title = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            title = h.trim().to_string();
            continue;
        }
        if !line.starts_with("    ") {
            if let Some(t) = line.strip_suffix(':') {
                title = t.trim().to_string();
            }
            continue;
        }
        let body = line.trim().trim_start_matches('#').trim();
        let section: &mut Section = out.entry(title.clone()).or_default();
        let pair = body.split_once(" = ").or_else(|| body.split_once(": "));
        match pair {
            Some((k, v)) => {
                section.values.insert(k.trim().to_string(), v.trim().to_string());
            }
            None if !body.is_empty() && body.chars().all(|c| c.is_ascii_hexdigit()) => {
                section.dump.extend(hex::decode(body).expect("hex dump line"));
            }
            None => {}
        }
    }
    out
}

fn secret(bytes: &[u8]) -> SecretKey {
    SecretKey::from_bytes(bytes).expect("secret key")
}

/// The v5 node id: keccak256 of the 64-byte uncompressed public key.
fn node_id(key: &PublicKey) -> [u8; 32] {
    keccak256(&key.to_uncompressed()[1..])
}

/// ECDH as discv5 "v4" uses it: the shared point, compressed (33 bytes).
fn ecdh_compressed(secret: &SecretKey, public: &PublicKey) -> [u8; 33] {
    // wisp-crypto gives the x coordinate only; the point's y parity comes from k256.
    let x = secret.ecdh(public);
    let scalar = k256::SecretKey::from_slice(&secret.to_bytes()[..]).expect("k256 secret");
    let point = k256::PublicKey::from_sec1_bytes(&public.to_compressed()).expect("k256 public");
    let shared = (point.to_projective() * *scalar.to_nonzero_scalar()).to_affine();
    let encoded = k256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&shared, true);
    let mut out = [0u8; 33];
    out.copy_from_slice(encoded.as_bytes());
    assert_eq!(&out[1..], x.as_bytes(), "wisp-crypto's ECDH x coordinate");
    out
}

/// The handshake keys: HKDF-SHA256 with the challenge data as salt, the compressed shared
/// point as input key, info "discovery v5 key agreement" || id-A || id-B; 16 + 16 bytes.
fn derive_keys(
    shared: &[u8; 33],
    id_a: &[u8],
    id_b: &[u8],
    challenge: &[u8],
) -> ([u8; 16], [u8; 16]) {
    let info = [b"discovery v5 key agreement".as_slice(), id_a, id_b].concat();
    let mut out = [0u8; 32];
    hkdf_sha256(challenge, shared, &info, &mut out).expect("32 bytes of HKDF");
    let mut initiator = [0u8; 16];
    let mut recipient = [0u8; 16];
    initiator.copy_from_slice(&out[..16]);
    recipient.copy_from_slice(&out[16..]);
    (initiator, recipient)
}

/// The ID-nonce signature: r || s over sha256("discovery v5 identity proof" || challenge ||
/// ephemeral pubkey || destination node id).
fn id_signature(key: &SecretKey, challenge: &[u8], ephemeral: &[u8], dest: &[u8]) -> [u8; 64] {
    let hash = sha256_concat(&[b"discovery v5 identity proof", challenge, ephemeral, dest]);
    let sig = key.sign_prehash(&hash);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&sig.r);
    out[32..].copy_from_slice(&sig.s);
    out
}

fn nonce12(nonce: &[u8]) -> [u8; 12] {
    nonce.try_into().expect("12-byte nonce")
}

fn gcm_open(key: &[u8], nonce: &[u8], ciphertext: &[u8], ad: &[u8]) -> Vec<u8> {
    Aes128Gcm::new_from_slice(key)
        .expect("16-byte key")
        .decrypt(&nonce12(nonce).into(), Payload { msg: ciphertext, aad: ad })
        .expect("the message authenticates")
}

fn gcm_seal(key: &[u8], nonce: &[u8], plaintext: &[u8], ad: &[u8]) -> Vec<u8> {
    Aes128Gcm::new_from_slice(key)
        .expect("16-byte key")
        .encrypt(&nonce12(nonce).into(), Payload { msg: plaintext, aad: ad })
        .expect("small message")
}

/// A packet with its header unmasked.
struct Unmasked {
    /// masking-iv || static header || authdata: the AES-GCM associated data.
    ad: Vec<u8>,
    flag: u8,
    nonce: Vec<u8>,
    authdata: Vec<u8>,
    message: Vec<u8>,
}

fn unmask(packet: &[u8], dest_id: &[u8; 32]) -> Unmasked {
    let mut key = [0u8; 16];
    key.copy_from_slice(&dest_id[..16]);
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&packet[..16]);
    let mut header = packet[16..].to_vec();
    // The static header first (23 bytes) to learn the authdata size, then the rest.
    aes128_ctr_apply(&key, &iv, &mut header);
    assert_eq!(&header[..6], b"discv5", "protocol id");
    assert_eq!(&header[6..8], &[0, 1], "version 1");
    let flag = header[8];
    let nonce = header[9..21].to_vec();
    let size = usize::from(u16::from_be_bytes([header[21], header[22]]));
    let authdata = header[23..23 + size].to_vec();
    let header_len = 16 + 23 + size;
    let mut ad = packet[..16].to_vec();
    ad.extend_from_slice(&header[..23 + size]);
    Unmasked { ad, flag, nonce, authdata, message: packet[header_len..].to_vec() }
}

/// The ping plaintext: type 0x01 || rlp([req-id, enr-seq]).
fn ping_plaintext(req_id: &[u8], enr_seq: u64) -> Vec<u8> {
    use alloy_rlp::Encodable;
    let mut body = Vec::new();
    req_id.encode(&mut body);
    enr_seq.encode(&mut body);
    let mut out = vec![0x01];
    alloy_rlp::Header { list: true, payload_length: body.len() }.encode(&mut out);
    out.extend_from_slice(&body);
    out
}

struct Keys {
    a: SecretKey,
    b: SecretKey,
    id_a: [u8; 32],
    id_b: [u8; 32],
}

fn keys(v: &BTreeMap<String, Section>) -> Keys {
    let s = &v["The secp256k1 private keys used here are"];
    let a = secret(&s.hex("node-a-key"));
    let b = secret(&s.hex("node-b-key"));
    let id_a = node_id(&a.public_key());
    let id_b = node_id(&b.public_key());
    Keys { a, b, id_a, id_b }
}

#[test]
fn node_ids_of_the_packet_keys() {
    let v = vectors();
    let k = keys(&v);
    let ping = &v["Ping message packet (flag 0)"];
    assert_eq!(k.id_a.to_vec(), ping.hex("src-node-id"));
    assert_eq!(k.id_b.to_vec(), ping.hex("dest-node-id"));
}

#[test]
fn ecdh() {
    let v = vectors();
    let s = &v["ECDH"];
    let public = PublicKey::from_sec1(&s.hex("public-key")).expect("public key");
    let shared = ecdh_compressed(&secret(&s.hex("secret-key")), &public);
    assert_eq!(shared.to_vec(), s.hex("shared-secret"));
}

#[test]
fn key_derivation() {
    let v = vectors();
    let s = &v["Key Derivation"];
    let dest = PublicKey::from_sec1(&s.hex("dest-pubkey")).expect("dest key");
    let shared = ecdh_compressed(&secret(&s.hex("ephemeral-key")), &dest);
    let (initiator, recipient) =
        derive_keys(&shared, &s.hex("node-id-a"), &s.hex("node-id-b"), &s.hex("challenge-data"));
    assert_eq!(initiator.to_vec(), s.hex("initiator-key"));
    assert_eq!(recipient.to_vec(), s.hex("recipient-key"));
}

#[test]
fn id_nonce_signing_and_verifying() {
    let v = vectors();
    let s = &v["ID Nonce Signing"];
    let key = secret(&s.hex("static-key"));
    let (challenge, ephemeral, dest) =
        (s.hex("challenge-data"), s.hex("ephemeral-pubkey"), s.hex("node-id-B"));
    let sig = id_signature(&key, &challenge, &ephemeral, &dest);
    assert_eq!(sig.to_vec(), s.hex("id-signature"));
    // In reverse: the signature verifies against the inputs and the signer's key.
    let hash = sha256_concat(&[b"discovery v5 identity proof", &challenge, &ephemeral, &dest]);
    let verifying =
        k256::ecdsa::VerifyingKey::from_sec1_bytes(&key.public_key().to_compressed()).expect("key");
    let signature = k256::ecdsa::Signature::from_slice(&sig).expect("r || s");
    k256::ecdsa::signature::hazmat::PrehashVerifier::verify_prehash(&verifying, &hash, &signature)
        .expect("the vector's signature verifies");
}

#[test]
fn aes_gcm_encryption_and_decryption() {
    let v = vectors();
    let s = &v["Encryption/Decryption"];
    let (key, nonce, pt, ad) = (s.hex("encryption-key"), s.hex("nonce"), s.hex("pt"), s.hex("ad"));
    let sealed = gcm_seal(&key, &nonce, &pt, &ad);
    assert_eq!(sealed, s.hex("message-ciphertext"));
    assert_eq!(gcm_open(&key, &nonce, &sealed, &ad), pt);
}

#[test]
fn ping_message_packet() {
    let v = vectors();
    let k = keys(&v);
    let s = &v["Ping message packet (flag 0)"];
    let p = unmask(&s.dump, &k.id_b);
    assert_eq!(p.flag, 0);
    assert_eq!(p.nonce, s.hex("nonce"));
    assert_eq!(p.authdata, k.id_a.to_vec(), "authdata = src-id");
    let plain = gcm_open(&s.hex("read-key"), &p.nonce, &p.message, &p.ad);
    assert_eq!(plain, ping_plaintext(&s.hex("ping.req-id"), s.num("ping.enr-seq")));
}

#[test]
fn whoareyou_packet() {
    let v = vectors();
    let k = keys(&v);
    let s = &v["WHOAREYOU packet (flag 1)"];
    let p = unmask(&s.dump, &k.id_b);
    assert_eq!(p.flag, 1);
    assert_eq!(p.nonce, s.hex("whoareyou.request-nonce"));
    assert_eq!(p.authdata[..16], s.hex("whoareyou.id-nonce")[..]);
    let seq = u64::from_be_bytes(p.authdata[16..24].try_into().expect("8 bytes"));
    assert_eq!(seq, s.num("whoareyou.enr-seq"));
    assert!(p.message.is_empty(), "WHOAREYOU has no message");
    // The challenge data is masking-iv || static header || authdata.
    assert_eq!(p.ad, s.hex("whoareyou.challenge-data"));
}

/// Both handshake packets: authdata fields, the signature made with node A's key over the
/// challenge, the keys derived from the ephemeral key, the message, and (second packet) the ENR.
fn handshake(title: &str, with_record: bool) {
    let v = vectors();
    let k = keys(&v);
    let s = &v[title];
    let p = unmask(&s.dump, &k.id_b);
    assert_eq!(p.flag, 2);
    assert_eq!(p.nonce, s.hex("nonce"));
    let a = &p.authdata;
    assert_eq!(a[..32], k.id_a[..], "src-id");
    let (sig_size, key_size) = (usize::from(a[32]), usize::from(a[33]));
    assert_eq!((sig_size, key_size), (64, 33));
    let sig = &a[34..34 + sig_size];
    let ephemeral = &a[34 + sig_size..34 + sig_size + key_size];
    let record = &a[34 + sig_size + key_size..];
    assert_eq!(ephemeral, s.hex("ephemeral-pubkey"));
    let eph_secret = secret(&s.hex("ephemeral-key"));
    assert_eq!(eph_secret.public_key().to_compressed().to_vec(), s.hex("ephemeral-pubkey"));

    let challenge = s.hex("whoareyou.challenge-data");
    assert_eq!(sig, id_signature(&k.a, &challenge, ephemeral, &k.id_b).as_slice());

    let shared = ecdh_compressed(&eph_secret, &k.b.public_key());
    let (initiator, _) = derive_keys(&shared, &k.id_a, &k.id_b, &challenge);
    assert_eq!(initiator.to_vec(), s.hex("read-key"), "B reads with A's initiator key");
    let plain = gcm_open(&initiator, &p.nonce, &p.message, &p.ad);
    assert_eq!(plain, ping_plaintext(&s.hex("ping.req-id"), s.num("ping.enr-seq")));

    if with_record {
        let enr = Enr::decode(record).expect("the handshake's ENR decodes and verifies");
        assert_eq!(enr.node_address(), k.id_a);
        assert_eq!(enr.public_key(), k.a.public_key());
    } else {
        assert!(record.is_empty(), "no record when the WHOAREYOU's enr-seq is current");
    }
}

#[test]
fn ping_handshake_packet() {
    handshake("Ping handshake packet (flag 2)", false);
}

#[test]
fn ping_handshake_message_packet_with_enr() {
    handshake("Ping handshake message packet (flag 2, with ENR)", true);
}

#[test]
fn every_vector_section_was_found() {
    let v = vectors();
    for title in [
        "Ping message packet (flag 0)",
        "WHOAREYOU packet (flag 1)",
        "Ping handshake packet (flag 2)",
        "Ping handshake message packet (flag 2, with ENR)",
        "ECDH",
        "Key Derivation",
        "ID Nonce Signing",
        "Encryption/Decryption",
    ] {
        assert!(v.contains_key(title), "section {title} in {:?}", v.keys().collect::<Vec<_>>());
    }
}
