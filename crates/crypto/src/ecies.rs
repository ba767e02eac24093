//! ECIES on secp256k1 as go-ethereum implements it (`crypto/ecies`, `ECIES_AES128_SHA256`), the
//! form used by the RLPx handshake (EIP-8) and by asymmetric Whisper/Waku envelopes.
//!
//! ```text
//! message  = R(65, uncompressed) || iv(16) || c || d(32)
//! z        = x-coordinate of ECDH(r, recipient)       (32 bytes, unhashed)
//! ke || km = concat_kdf_sha256(z, 32)                  (NIST SP 800-56A, counter from 1)
//! c        = AES-128-CTR(ke, iv, m)
//! d        = HMAC-SHA256(sha256(km), iv || c || shared_mac_data)
//! ```
//!
//! RLPx passes the 2-byte EIP-8 size prefix as `shared_mac_data`; Whisper/Waku pass nothing.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{CryptoError, Result};
use crate::hash::sha256;
use crate::kdf::{concat_kdf_sha256, constant_time_eq, hmac_sha256};
use crate::keys::{PublicKey, SecretKey, UNCOMPRESSED_PUBLIC_KEY_LEN};
use crate::random::random_bytes;
use crate::symmetric::aes128_ctr_apply;

/// Length of the IV.
pub const IV_LEN: usize = 16;
/// Length of the HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Bytes an ECIES message adds to its plaintext: ephemeral key, IV and MAC.
pub const OVERHEAD: usize = 65 + 16 + 32;

const CIPHERTEXT_START: usize = UNCOMPRESSED_PUBLIC_KEY_LEN + IV_LEN;

/// The encryption key and MAC key derived from an ECDH secret. Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct DerivedKeys {
    /// `ke`: AES-128 key.
    enc: [u8; 16],
    /// `sha256(km)`: HMAC-SHA256 key.
    mac: [u8; 32],
}

impl DerivedKeys {
    fn derive(sender: &SecretKey, receiver: &PublicKey) -> Self {
        let z = sender.ecdh(receiver);
        let mut k = [0u8; 32];
        concat_kdf_sha256(z.as_bytes(), &mut k);
        let mut keys = Self { enc: [0u8; 16], mac: sha256(&k[16..]) };
        keys.enc.copy_from_slice(&k[..16]);
        k.zeroize();
        keys
    }

    fn tag(&self, iv: &[u8], ciphertext: &[u8], shared_mac_data: &[u8]) -> [u8; MAC_LEN] {
        hmac_sha256(&self.mac, &[iv, ciphertext, shared_mac_data])
    }
}

/// Length of the ECIES message for a plaintext of `plaintext_len` bytes.
pub const fn encrypted_len(plaintext_len: usize) -> usize {
    plaintext_len + OVERHEAD
}

/// Encrypts `plaintext` to `recipient` with a fresh random ephemeral key and IV.
pub fn encrypt(recipient: &PublicKey, plaintext: &[u8], shared_mac_data: &[u8]) -> Vec<u8> {
    let ephemeral = SecretKey::random();
    let iv = random_bytes::<IV_LEN>();
    encrypt_with(recipient, plaintext, shared_mac_data, &ephemeral, &iv)
}

/// Encrypts `plaintext` to `recipient` with the given ephemeral key and IV (deterministic; for
/// reproducing captured messages byte for byte). Never reuse an ephemeral key outside tests.
pub fn encrypt_with(
    recipient: &PublicKey,
    plaintext: &[u8],
    shared_mac_data: &[u8],
    ephemeral: &SecretKey,
    iv: &[u8; IV_LEN],
) -> Vec<u8> {
    let keys = DerivedKeys::derive(ephemeral, recipient);
    let mut out = Vec::with_capacity(encrypted_len(plaintext.len()));
    out.extend_from_slice(&ephemeral.public_key().to_uncompressed());
    out.extend_from_slice(iv);
    out.extend_from_slice(plaintext);
    aes128_ctr_apply(&keys.enc, iv, &mut out[CIPHERTEXT_START..]);
    let tag = keys.tag(iv, &out[CIPHERTEXT_START..], shared_mac_data);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts an ECIES message addressed to `key`.
///
/// Checks, in order: the length ([`CryptoError::EciesTooShort`]), the ephemeral key
/// ([`CryptoError::InvalidPublicKey`]: it must be a 65-byte uncompressed point on the curve, as
/// go-ethereum requires), and the MAC in constant time ([`CryptoError::EciesMac`]) before
/// anything is decrypted. Never panics.
pub fn decrypt(key: &SecretKey, ciphertext: &[u8], shared_mac_data: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.len() < OVERHEAD {
        return Err(CryptoError::EciesTooShort { len: ciphertext.len(), min: OVERHEAD });
    }
    let (ephemeral, rest) = ciphertext.split_at(UNCOMPRESSED_PUBLIC_KEY_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (body, tag) = rest.split_at(rest.len() - MAC_LEN);

    let ephemeral = PublicKey::from_sec1(ephemeral)?;
    let keys = DerivedKeys::derive(key, &ephemeral);
    if !constant_time_eq(&keys.tag(iv, body, shared_mac_data), tag) {
        return Err(CryptoError::EciesMac);
    }
    let mut iv_block = [0u8; IV_LEN];
    iv_block.copy_from_slice(iv);
    let mut plaintext = body.to_vec();
    aes128_ctr_apply(&keys.enc, &iv_block, &mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn layout() {
        let recipient = key(0x01);
        let ephemeral = key(0x02);
        let iv = [0x03; 16];
        let msg = encrypt_with(&recipient.public_key(), b"hello", b"", &ephemeral, &iv);
        assert_eq!(msg.len(), encrypted_len(5));
        assert_eq!(msg[..65], ephemeral.public_key().to_uncompressed());
        assert_eq!(msg[65..81], iv);
        assert_eq!(decrypt(&recipient, &msg, b"").unwrap(), b"hello");
        // Empty plaintext.
        let empty = encrypt(&recipient.public_key(), b"", b"shared");
        assert_eq!(empty.len(), OVERHEAD);
        assert_eq!(decrypt(&recipient, &empty, b"shared").unwrap(), b"");
    }

    #[test]
    fn truncated_inputs_are_errors() {
        let recipient = key(0x04);
        let msg = encrypt(&recipient.public_key(), b"x", b"");
        assert_eq!(msg.len(), OVERHEAD + 1);
        for len in 0..OVERHEAD {
            assert_eq!(
                decrypt(&recipient, &msg[..len], b""),
                Err(CryptoError::EciesTooShort { len, min: OVERHEAD })
            );
        }
        // Cutting the plaintext byte off leaves a well-formed length but breaks the MAC.
        let mut cut = msg[..CIPHERTEXT_START].to_vec();
        cut.extend_from_slice(&msg[CIPHERTEXT_START + 1..]);
        assert_eq!(decrypt(&recipient, &cut, b""), Err(CryptoError::EciesMac));
        assert_eq!(decrypt(&recipient, &msg[..OVERHEAD], b""), Err(CryptoError::EciesMac));
        assert_eq!(decrypt(&recipient, &msg, b"").unwrap(), b"x");
    }

    #[test]
    fn invalid_ephemeral_point_rejected() {
        let recipient = key(0x05);
        let mut msg = encrypt(&recipient.public_key(), b"payload", b"");
        // Off-curve y.
        msg[64] ^= 0x01;
        assert_eq!(decrypt(&recipient, &msg, b""), Err(CryptoError::InvalidPublicKey));
        msg[64] ^= 0x01;
        // Compressed or hybrid prefixes are not the go-ethereum form.
        for prefix in [0x00, 0x02, 0x03, 0x06, 0x07] {
            let mut bad = msg.clone();
            bad[0] = prefix;
            assert_eq!(decrypt(&recipient, &bad, b""), Err(CryptoError::InvalidPublicKey));
        }
        // All zeros (the point at infinity is not encodable in 65 bytes).
        let zeros = vec![0u8; OVERHEAD + 10];
        assert_eq!(decrypt(&recipient, &zeros, b""), Err(CryptoError::InvalidPublicKey));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let recipient = key(0x06);
        let msg = encrypt(&recipient.public_key(), b"tamper with me", b"\x01\xdc");
        for i in 0..msg.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = msg.clone();
                bad[i] ^= bit;
                let err = decrypt(&recipient, &bad, b"\x01\xdc").unwrap_err();
                if i < 65 {
                    assert!(
                        matches!(err, CryptoError::InvalidPublicKey | CryptoError::EciesMac),
                        "byte {i}: {err:?}"
                    );
                } else {
                    assert_eq!(err, CryptoError::EciesMac, "byte {i}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip_and_tampering(
            plaintext in proptest::collection::vec(any::<u8>(), 0..400),
            shared in proptest::collection::vec(any::<u8>(), 0..8),
            flip in any::<proptest::sample::Index>(),
        ) {
            let recipient = SecretKey::random();
            let msg = encrypt(&recipient.public_key(), &plaintext, &shared);
            prop_assert_eq!(msg.len(), encrypted_len(plaintext.len()));
            prop_assert_eq!(&decrypt(&recipient, &msg, &shared).unwrap(), &plaintext);

            // Wrong shared MAC data.
            let mut other_shared = shared.clone();
            other_shared.push(0);
            prop_assert_eq!(decrypt(&recipient, &msg, &other_shared), Err(CryptoError::EciesMac));

            // Wrong key.
            let other = SecretKey::random();
            prop_assert_eq!(decrypt(&other, &msg, &shared), Err(CryptoError::EciesMac));

            // Any flipped byte.
            let mut bad = msg.clone();
            let i = flip.index(bad.len());
            bad[i] ^= 0x5a;
            prop_assert!(decrypt(&recipient, &bad, &shared).is_err());
        }

        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let recipient = key(0x07);
            prop_assert!(decrypt(&recipient, &data, b"").is_err());
            let mut with_point = recipient.public_key().to_uncompressed().to_vec();
            with_point.extend_from_slice(&data);
            prop_assert!(decrypt(&recipient, &with_point, b"").is_err());
        }
    }
}
