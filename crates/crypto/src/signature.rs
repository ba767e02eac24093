//! Recoverable ECDSA signatures over secp256k1, as Ethereum, devp2p and Status use them.

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use crate::error::{CryptoError, Result};
use crate::keys::PublicKey;

/// Length of an encoded recoverable signature (`r || s || v`).
pub const SIGNATURE_LEN: usize = 65;

/// An ECDSA signature with its recovery id: `r || s || v`.
///
/// `v` is the recovery id 0 or 1 (the Status/Waku wire form, DECISIONS 14); the legacy
/// Ethereum form adds 27 ([`RecoverableSignature::to_bytes_eth`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RecoverableSignature {
    /// `r`, big-endian.
    pub r: [u8; 32],
    /// `s`, big-endian (low-s when produced by [`crate::SecretKey::sign_prehash`]).
    pub s: [u8; 32],
    /// Recovery id: 0 or 1 (y parity of the nonce point).
    pub v: u8,
}

impl RecoverableSignature {
    /// `r || s || v` with v in {0, 1}.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..32].copy_from_slice(&self.r);
        out[32..64].copy_from_slice(&self.s);
        out[64] = self.v;
        out
    }

    /// `r || s || v` with v in {27, 28} (legacy Ethereum, `eth_sign`).
    pub fn to_bytes_eth(&self) -> [u8; SIGNATURE_LEN] {
        let mut out = self.to_bytes();
        out[64] = self.v + 27;
        out
    }

    /// Decodes 65 bytes `r || s || v`, v in {0, 1, 27, 28} (stored as 0/1).
    ///
    /// `r` and `s` are checked when the signature is used ([`Self::recover`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; SIGNATURE_LEN] =
            bytes.try_into().map_err(|_| CryptoError::InvalidLength {
                what: "recoverable signature",
                expected: SIGNATURE_LEN,
                got: bytes.len(),
            })?;
        let v = match bytes[64] {
            v @ (0 | 1) => v,
            v @ (27 | 28) => v - 27,
            v => return Err(CryptoError::InvalidRecoveryId(v)),
        };
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..64]);
        Ok(Self { r, s, v })
    }

    /// Recovers the signer's public key from the 32-byte message hash (go-ethereum
    /// `crypto.Ecrecover`: high-s signatures are accepted here, as libsecp256k1 does).
    pub fn recover(&self, prehash: &[u8; 32]) -> Result<PublicKey> {
        let recid = RecoveryId::from_byte(self.v).ok_or(CryptoError::InvalidRecoveryId(self.v))?;
        let sig =
            Signature::from_scalars(self.r, self.s).map_err(|_| CryptoError::InvalidSignature)?;
        let key = VerifyingKey::recover_from_prehash(prehash, &sig, recid)
            .map_err(|_| CryptoError::InvalidSignature)?;
        Ok(PublicKey::from_k256(key.into()))
    }

    /// Whether this signature over `prehash` recovers to `key` (so `v` must be right too).
    pub fn verify(&self, prehash: &[u8; 32], key: &PublicKey) -> bool {
        self.recover(prehash).is_ok_and(|recovered| recovered == *key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SecretKey, keccak256};
    use proptest::prelude::*;

    /// go-ethereum `crypto/signature_test.go`: `Ecrecover(testmsg, testsig) == testpubkey`.
    #[test]
    fn go_ethereum_ecrecover_vector() {
        let msg: [u8; 32] =
            hex::decode("ce0677bb30baa8cf067c88db9811f4333d131bf8bcf12fe7065d211dce971008")
                .unwrap()
                .try_into()
                .unwrap();
        let sig = hex::decode(
            "90f27b8b488db00b00606796d2987f6a5f59ae62ea05effe84fef5b8b0e549984a691139ad57a3f0b906637673aa2f63d1f55cb1a69199d4009eea23ceaddc9301",
        )
        .unwrap();
        let sig = RecoverableSignature::from_bytes(&sig).unwrap();
        let key = sig.recover(&msg).unwrap();
        assert_eq!(
            hex::encode(key.to_uncompressed()),
            "04e32df42865e97135acfb65f3bae71bdc86f4d49150ad6a440b6f15878109880a0a2b2667f7e725ceea70c673093bf67663e0312623c8e091b13cf2c0f11ef652"
        );
        assert!(sig.verify(&msg, &key));
    }

    #[test]
    fn from_bytes_v_forms() {
        let key = SecretKey::from_bytes(&[0x66; 32]).unwrap();
        let hash = keccak256(b"v forms");
        let sig = key.sign_prehash(&hash);
        assert!(sig.v <= 1);
        let plain = sig.to_bytes();
        let eth = sig.to_bytes_eth();
        assert_eq!(plain[..64], eth[..64]);
        assert_eq!(eth[64], plain[64] + 27);
        assert_eq!(RecoverableSignature::from_bytes(&plain).unwrap(), sig);
        assert_eq!(RecoverableSignature::from_bytes(&eth).unwrap(), sig);
        for v in [2u8, 3, 26, 29, 0xff] {
            let mut bad = plain;
            bad[64] = v;
            assert_eq!(
                RecoverableSignature::from_bytes(&bad).unwrap_err(),
                CryptoError::InvalidRecoveryId(v)
            );
        }
        assert_eq!(
            RecoverableSignature::from_bytes(&plain[..64]).unwrap_err(),
            CryptoError::InvalidLength { what: "recoverable signature", expected: 65, got: 64 }
        );
    }

    #[test]
    fn invalid_signatures_rejected() {
        let hash = keccak256(b"x");
        let zero = RecoverableSignature { r: [0; 32], s: [1; 32], v: 0 };
        assert_eq!(zero.recover(&hash).unwrap_err(), CryptoError::InvalidSignature);
        let over = RecoverableSignature { r: [0xff; 32], s: [1; 32], v: 0 };
        assert_eq!(over.recover(&hash).unwrap_err(), CryptoError::InvalidSignature);
        let bad_v = RecoverableSignature { r: [1; 32], s: [1; 32], v: 9 };
        assert_eq!(bad_v.recover(&hash).unwrap_err(), CryptoError::InvalidRecoveryId(9));
        let key = SecretKey::from_bytes(&[0x77; 32]).unwrap();
        assert!(!zero.verify(&hash, &key.public_key()));
    }

    #[test]
    fn wrong_hash_or_flipped_v_does_not_verify() {
        let key = SecretKey::from_bytes(&[0x88; 32]).unwrap();
        let hash = keccak256(b"message");
        let mut sig = key.sign_prehash(&hash);
        assert!(sig.verify(&hash, &key.public_key()));
        assert!(!sig.verify(&keccak256(b"other"), &key.public_key()));
        sig.v ^= 1;
        assert!(!sig.verify(&hash, &key.public_key()));
    }

    proptest! {
        #[test]
        fn sign_recover_round_trip(seed in any::<[u8; 32]>(), hash in any::<[u8; 32]>()) {
            let Ok(key) = SecretKey::from_bytes(&seed) else {
                return Ok(());
            };
            let sig = key.sign_prehash(&hash);
            prop_assert!(sig.v <= 1);
            // Deterministic (RFC 6979).
            prop_assert_eq!(key.sign_prehash(&hash), sig);
            // Low s: the top bit of s is clear (s <= n/2 < 2^255).
            prop_assert!(sig.s[0] < 0x80);
            prop_assert_eq!(sig.recover(&hash).unwrap(), key.public_key());
            prop_assert!(sig.verify(&hash, &key.public_key()));
            let decoded = RecoverableSignature::from_bytes(&sig.to_bytes()).unwrap();
            prop_assert_eq!(decoded, sig);
            prop_assert_eq!(RecoverableSignature::from_bytes(&sig.to_bytes_eth()).unwrap(), sig);
        }
    }
}
