//! The key schedule and message cipher of status-go's Double Ratchet (IMPLEMENTER-NOTES §5,
//! DECISIONS 7 and 16), and the one-off "DH mode" cipher (DECISIONS 15).
//!
//! All functions are pure; [`crate::RatchetState`] strings them together.

use std::fmt;

use wisp_crypto::{
    GCM_NONCE_LEN, GCM_TAG_LEN, PublicKey, SecretKey, Zeroizing, aes256_ctr_apply, aes256_gcm_open,
    aes256_gcm_seal, constant_time_eq, hkdf_sha256, hmac_sha256,
};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// HKDF info of KDF_RK (status-im/doubleratchet `KdfRK`).
pub const KDF_RK_INFO: &[u8] = b"rsZUpEuXUqqwXBvSy3EcievAh4cMj6QL";

/// HKDF info of the message-key expansion (status-im/doubleratchet `deriveEncKeys`).
pub const MESSAGE_KEYS_INFO: &[u8] = b"pcwSByyx2CRdryCffXJwy7xgVZWtW5Sh";

/// HMAC input deriving the next chain key (KDF_CK).
pub const CHAIN_KEY_INPUT: u8 = 0x0f;

/// HMAC input deriving the message key (KDF_CK).
pub const MESSAGE_KEY_INPUT: u8 = 0x10;

/// Length of the IV that starts a ratchet ciphertext.
pub const IV_LEN: usize = 16;

/// Length of the HMAC-SHA256 that ends a ratchet ciphertext.
pub const MAC_LEN: usize = 32;

/// Smallest ratchet ciphertext: IV and MAC around an empty plaintext.
pub const MIN_CIPHERTEXT_LEN: usize = IV_LEN + MAC_LEN;

/// Smallest DH-mode ciphertext: GCM tag and the appended nonce.
pub const MIN_DH_CIPHERTEXT_LEN: usize = GCM_TAG_LEN + GCM_NONCE_LEN;

/// Output of KDF_RK: HKDF-SHA256(salt = root key, IKM = DH output, info = [`KDF_RK_INFO`]),
/// 96 bytes split into root key, chain key and header key (the last unused by Status).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootStep {
    /// The next root key.
    pub root_key: [u8; 32],
    /// The new chain key.
    pub chain_key: [u8; 32],
    /// The header key (header encryption is not used by Status).
    pub header_key: [u8; 32],
}

impl fmt::Debug for RootStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootStep(..)")
    }
}

/// KDF_RK(rk, dh_out).
pub fn kdf_rk(root_key: &[u8; 32], dh_out: &[u8; 32]) -> RootStep {
    let mut okm = Zeroizing::new([0u8; 96]);
    // 96 bytes is far below HKDF-SHA256's 8160-byte limit.
    if hkdf_sha256(root_key, dh_out, KDF_RK_INFO, okm.as_mut()).is_err() {
        unreachable!("96 bytes of HKDF-SHA256 output");
    }
    let mut step = RootStep { root_key: [0; 32], chain_key: [0; 32], header_key: [0; 32] };
    step.root_key.copy_from_slice(&okm[..32]);
    step.chain_key.copy_from_slice(&okm[32..64]);
    step.header_key.copy_from_slice(&okm[64..]);
    step
}

/// KDF_CK(ck): `(HMAC-SHA256(ck, 0x0f), HMAC-SHA256(ck, 0x10))` = (next chain key, message key).
pub fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], Zeroizing<[u8; 32]>) {
    let next = hmac_sha256(chain_key, &[&[CHAIN_KEY_INPUT]]);
    let message_key = Zeroizing::new(hmac_sha256(chain_key, &[&[MESSAGE_KEY_INPUT]]));
    (next, message_key)
}

/// The keys one message key expands to: HKDF-SHA256(salt = 32 zero bytes, IKM = mk,
/// info = [`MESSAGE_KEYS_INFO`]) = enc key (32) || auth key (32) || IV (16).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MessageKeys {
    /// AES-256-CTR key.
    pub enc_key: [u8; 32],
    /// HMAC-SHA256 key.
    pub auth_key: [u8; 32],
    /// The IV: derived, so the cipher is deterministic given the message key (DECISIONS 16).
    pub iv: [u8; 16],
}

impl fmt::Debug for MessageKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKeys(..)")
    }
}

impl MessageKeys {
    /// Expands a message key.
    pub fn derive(message_key: &[u8; 32]) -> Self {
        let mut okm = Zeroizing::new([0u8; 80]);
        if hkdf_sha256(&[0u8; 32], message_key, MESSAGE_KEYS_INFO, okm.as_mut()).is_err() {
            unreachable!("80 bytes of HKDF-SHA256 output");
        }
        let mut keys = Self { enc_key: [0; 32], auth_key: [0; 32], iv: [0; 16] };
        keys.enc_key.copy_from_slice(&okm[..32]);
        keys.auth_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..]);
        keys
    }

    /// HMAC-SHA256(auth key, AD || IV || ciphertext).
    pub fn mac(&self, ad: &[u8], iv_and_ciphertext: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.auth_key, &[ad, iv_and_ciphertext])
    }
}

/// Encrypts a ratchet message: `IV || AES-256-CTR(enc, IV, plaintext) || HMAC(auth, AD || IV ||
/// ct)`. Deterministic given the message key.
pub fn seal(message_key: &[u8; 32], plaintext: &[u8], ad: &[u8]) -> Vec<u8> {
    let keys = MessageKeys::derive(message_key);
    let mut out = Vec::with_capacity(IV_LEN + plaintext.len() + MAC_LEN);
    out.extend_from_slice(&keys.iv);
    out.extend_from_slice(plaintext);
    aes256_ctr_apply(&keys.enc_key, &keys.iv, &mut out[IV_LEN..]);
    let mac = keys.mac(ad, &out);
    out.extend_from_slice(&mac);
    out
}

/// Decrypts a ratchet message after checking its MAC. Like status-go, the IV is taken from the
/// ciphertext, not re-derived.
pub fn open(message_key: &[u8; 32], ciphertext: &[u8], ad: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.len() < MIN_CIPHERTEXT_LEN {
        return Err(Error::CiphertextTooShort { len: ciphertext.len(), min: MIN_CIPHERTEXT_LEN });
    }
    let keys = MessageKeys::derive(message_key);
    let (body, mac) = ciphertext.split_at(ciphertext.len() - MAC_LEN);
    if !constant_time_eq(&keys.mac(ad, body), mac) {
        return Err(Error::BadMac);
    }
    let (iv, encrypted) = body.split_at(IV_LEN);
    let mut iv_bytes = [0u8; IV_LEN];
    iv_bytes.copy_from_slice(iv);
    let mut plaintext = encrypted.to_vec();
    aes256_ctr_apply(&keys.enc_key, &iv_bytes, &mut plaintext);
    Ok(plaintext)
}

/// The DH-mode key: the raw ECDH x-coordinate of the recipient's identity and the sender's
/// ephemeral key (DECISIONS 15).
pub fn dh_mode_key(ours: &SecretKey, theirs: &PublicKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(*ours.ecdh(theirs).as_bytes())
}

/// DH-mode encryption: AES-256-GCM, no AAD, output `ciphertext || tag || nonce` (status-go
/// `crypto.EncryptSymmetric`).
pub fn dh_seal(key: &[u8; 32], nonce: &[u8; GCM_NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    let mut out = aes256_gcm_seal(key, nonce, plaintext, &[]);
    out.extend_from_slice(nonce);
    out
}

/// DH-mode decryption of `ciphertext || tag || nonce`.
pub fn dh_open(key: &[u8; 32], data: &[u8]) -> Result<Vec<u8>> {
    if data.len() < MIN_DH_CIPHERTEXT_LEN {
        return Err(Error::CiphertextTooShort { len: data.len(), min: MIN_DH_CIPHERTEXT_LEN });
    }
    let (sealed, nonce) = data.split_at(data.len() - GCM_NONCE_LEN);
    let mut nonce_bytes = [0u8; GCM_NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    aes256_gcm_open(key, &nonce_bytes, sealed, &[]).map_err(|_| Error::DhDecrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// `vectors/chat/one-to-one.json` `x3dh.initiator_session_init.kdf_rk`.
    #[test]
    fn secure_transport_kdf_rk() {
        let step = kdf_rk(
            &unhex("78d0ee710ff4b5f1531b7ac73ab5c3573f3a3a5e36088beb85dbb803f1425d1d"),
            &unhex("64319795c8abeb6857a9b4ac3d55df1a62a413ae74ab43f1f935f622377dcb4a"),
        );
        assert_eq!(
            hex::encode(step.root_key),
            "8b7f35545f19c060375a6983643cb7f781b4cc837a2cd8a7528cffc7336cbc74"
        );
        assert_eq!(
            hex::encode(step.chain_key),
            "87b150c11f544e6b668d9be5f8fef8d0778fee4b0deb720d1fb3b19ae00d17c1"
        );
        assert_eq!(
            hex::encode(step.header_key),
            "e4957a5720454e860fab7c5eb2fee37fa4fe181d3adbe0c0518ee6f50ea5c067"
        );
    }

    /// Envelope 2 of `vectors/chat/one-to-one.json`: bob's first ratchet message.
    #[test]
    fn secure_transport_first_ratchet_message() {
        let (next, mk) =
            kdf_ck(&unhex("87b150c11f544e6b668d9be5f8fef8d0778fee4b0deb720d1fb3b19ae00d17c1"));
        assert_eq!(
            hex::encode(next),
            "58cb09bc906a374489b1b3e00b55bb266a05617f86a8a86624b02121933797e9"
        );
        assert_eq!(
            hex::encode(*mk),
            "1ed71cbc608f9771810d3185de8d7d4ad3027ed57a3d6c4de4482381ae998005"
        );
        let keys = MessageKeys::derive(&mk);
        assert_eq!(
            hex::encode(keys.enc_key),
            "bb93c3a63706b95f4a386d471b0d7cc99a053564ef3c660638b43adb88d499c6"
        );
        assert_eq!(
            hex::encode(keys.auth_key),
            "f5a80fa0075f1c284d55599c8765cda998df4aa28c6181667a412c7a75f38f11"
        );
        assert_eq!(hex::encode(keys.iv), "6bf1f2ea84d3e6dd7cf80eb96350417a");
        let ad = hex::decode(
            "000000000000000003cb79fc035992f79fbdd72c3014afebbd68b7a8e414ac189dd23b6d1aef543bd6",
        )
        .unwrap();
        let plaintext =
            hex::decode("cab802205d7ec85e5da115493539efb7af828cd2ab2ceec39601be177e2445f3207cec96")
                .unwrap();
        let ciphertext = seal(&mk, &plaintext, &ad);
        assert_eq!(
            hex::encode(&ciphertext),
            "6bf1f2ea84d3e6dd7cf80eb96350417a3ebe8377d1e5dafe2e16fa16b2119dbd4a61ac6a6b816abce1e8a35a7c3244018a4cff3fe743695905e455478a0d1814576a85d8aa6a9d816698fbc93d6d9a4e8b840f14"
        );
        assert_eq!(open(&mk, &ciphertext, &ad).unwrap(), plaintext);
        // Tampering anywhere breaks the MAC; truncation is caught before.
        for index in [0, 16, ciphertext.len() - 1] {
            let mut bad = ciphertext.clone();
            bad[index] ^= 1;
            assert!(matches!(open(&mk, &bad, &ad), Err(Error::BadMac)));
        }
        assert!(matches!(open(&mk, &ciphertext, &ad[1..]), Err(Error::BadMac)));
        assert!(matches!(
            open(&mk, &ciphertext[..47], &ad),
            Err(Error::CiphertextTooShort { len: 47, min: 48 })
        ));
    }

    #[test]
    fn dh_mode_round_trip_and_errors() {
        let key = [7u8; 32];
        let sealed = dh_seal(&key, &[9; 12], b"hello");
        assert_eq!(sealed.len(), 5 + MIN_DH_CIPHERTEXT_LEN);
        assert_eq!(&sealed[sealed.len() - 12..], &[9; 12]);
        assert_eq!(dh_open(&key, &sealed).unwrap(), b"hello");
        assert!(matches!(dh_open(&[8; 32], &sealed), Err(Error::DhDecrypt)));
        assert!(matches!(dh_open(&key, &sealed[..27]), Err(Error::CiphertextTooShort { .. })));
    }
}
