//! Keccak-256 and SHA-256.
//!
//! "SHA3" in the Ethereum, Whisper and Status specs means the original Keccak-256 (padding byte
//! 0x01), not FIPS 202 SHA3-256.

use sha2::Sha256;
use sha3::{Digest, Keccak256};

/// Keccak-256 of `data`.
pub fn keccak256(data: impl AsRef<[u8]>) -> [u8; 32] {
    Keccak256::digest(data.as_ref()).into()
}

/// Keccak-256 of the concatenation of `parts`, without building the concatenation.
pub fn keccak256_concat(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SHA-256 of `data`.
pub fn sha256(data: impl AsRef<[u8]>) -> [u8; 32] {
    Sha256::digest(data.as_ref()).into()
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256_concat(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak256_empty() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn keccak256_concat_equals_keccak256_of_concatenation() {
        assert_eq!(keccak256_concat(&[b"hello", b" ", b"world"]), keccak256(b"hello world"));
        assert_eq!(keccak256_concat(&[]), keccak256(b""));
    }

    #[test]
    fn keccak_state_is_clone() {
        let mut a = Keccak256::new();
        a.update(b"abc");
        let b = a.clone();
        assert_eq!(<[u8; 32]>::from(a.finalize()), keccak256(b"abc"));
        assert_eq!(<[u8; 32]>::from(b.finalize()), keccak256(b"abc"));
    }

    /// FIPS 180-2 appendix B.1.
    #[test]
    fn sha256_fips180_abc() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_concat(&[b"a", b"bc"]), sha256(b"abc"));
    }
}
