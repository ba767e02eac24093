//! MACs, key derivation functions and constant-time comparison.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};

/// PBKDF2 iterations of Whisper/Waku `generateSymKeyFromPassword` (go-ethereum `whisperv6`,
/// status-go `waku`: `keyDerivationIterations = 65356`, sic). DECISIONS 9.
pub const SYMMETRIC_KEY_PBKDF2_ITERATIONS: u32 = 65356;

/// Length of a Whisper/Waku symmetric key (AES-256-GCM).
pub const SYMMETRIC_KEY_LEN: usize = 32;

/// Largest HKDF-SHA256 output (RFC 5869 §2.3: 255 · HashLen).
pub const HKDF_SHA256_MAX_OUTPUT: usize = 255 * 32;

/// HMAC-SHA256 of the concatenation of `parts` under `key` (any key length).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 (RFC 5869): extract with `salt` (an empty salt is the RFC's default of HashLen
/// zero bytes), expand with `info` into `out`.
///
/// Fails only when `out` is longer than [`HKDF_SHA256_MAX_OUTPUT`].
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| CryptoError::HkdfOutputTooLong { len: out.len(), max: HKDF_SHA256_MAX_OUTPUT })
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) of `password` and `salt`, filling `out`.
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out);
}

/// NIST SP 800-56A concatenation KDF with SHA-256, as go-ethereum's ECIES uses it:
/// `out = SHA256(counter || z) || SHA256(counter + 1 || z) || …`, truncated, with a big-endian
/// `u32` counter starting at 1 and no other info.
pub fn concat_kdf_sha256(z: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (1u32..).zip(out.chunks_mut(32)) {
        let block = Zeroizing::new(crate::hash::sha256_concat(&[&counter.to_be_bytes(), z]));
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// The Whisper/Waku symmetric key derived from a password (`generateSymKeyFromPassword`):
/// PBKDF2-HMAC-SHA256 of the UTF-8 bytes, empty salt, 65356 iterations, 32 bytes (DECISIONS 9).
///
/// Status uses it for public chat keys (password = chat name), contact-code and negotiated-topic
/// keys, and the mailserver key (`status-offline-inbox`).
pub fn symmetric_key_from_password(password: &str) -> Zeroizing<[u8; SYMMETRIC_KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; SYMMETRIC_KEY_LEN]);
    pbkdf2_hmac_sha256(password.as_bytes(), b"", SYMMETRIC_KEY_PBKDF2_ITERATIONS, key.as_mut());
    key
}

/// Compares two byte strings in time independent of their contents (the lengths are not
/// secret: different lengths compare unequal at once).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 4231 §4.3, test case 2 (HMAC-SHA-256).
    #[test]
    fn rfc4231_case2_hmac_sha256() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// RFC 5869 appendix A.1, test case 1 (HKDF-SHA-256).
    #[test]
    fn rfc5869_case1_hkdf_sha256() {
        let ikm = unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = unhex("000102030405060708090a0b0c");
        let info = unhex("f0f1f2f3f4f5f6f7f8f9");
        let mut okm = [0u8; 42];
        hkdf_sha256(&salt, &ikm, &info, &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
             34007208d5b887185865"
        );
    }

    #[test]
    fn hkdf_output_too_long() {
        let mut okm = vec![0u8; HKDF_SHA256_MAX_OUTPUT + 1];
        assert_eq!(
            hkdf_sha256(b"", b"ikm", b"", &mut okm),
            Err(CryptoError::HkdfOutputTooLong {
                len: HKDF_SHA256_MAX_OUTPUT + 1,
                max: HKDF_SHA256_MAX_OUTPUT
            })
        );
        let mut okm = vec![0u8; HKDF_SHA256_MAX_OUTPUT];
        assert!(hkdf_sha256(b"", b"ikm", b"", &mut okm).is_ok());
    }

    /// RFC 7914 §11, PBKDF2-HMAC-SHA256 (P = "passwd", S = "salt", c = 1, dkLen = 64).
    #[test]
    fn rfc7914_s11_pbkdf2_hmac_sha256() {
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex::encode(out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
    }

    #[test]
    fn concat_kdf_first_block_is_sha256_of_counter_and_z() {
        let z = [7u8; 32];
        let mut out = [0u8; 80];
        concat_kdf_sha256(&z, &mut out);
        assert_eq!(out[..32], crate::hash::sha256_concat(&[&[0, 0, 0, 1], &z]));
        assert_eq!(out[32..64], crate::hash::sha256_concat(&[&[0, 0, 0, 2], &z]));
        assert_eq!(out[64..], crate::hash::sha256_concat(&[&[0, 0, 0, 3], &z])[..16]);
        let mut short = [0u8; 16];
        concat_kdf_sha256(&z, &mut short);
        assert_eq!(short, out[..16]);
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
