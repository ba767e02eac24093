//! secp256k1 keys: secret keys, public keys in their three encodings, node ids, ECDH.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use k256::ecdsa::SigningKey;
use k256::elliptic_curve::Generate;
use k256::elliptic_curve::sec1::ToSec1Point;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CryptoError, Result};
use crate::hash::keccak256;
use crate::signature::RecoverableSignature;

/// Length of a secret key.
pub const SECRET_KEY_LEN: usize = 32;
/// Length of an uncompressed SEC1 public key (`0x04 || x || y`).
pub const UNCOMPRESSED_PUBLIC_KEY_LEN: usize = 65;
/// Length of a compressed SEC1 public key (`0x02/0x03 || x`).
pub const COMPRESSED_PUBLIC_KEY_LEN: usize = 33;
/// Length of a devp2p node id (`x || y`, the uncompressed key without its prefix).
pub const NODE_ID_LEN: usize = 64;

/// A secp256k1 secret key. Wiped from memory on drop; its `Debug` shows only the public key.
#[derive(Clone)]
pub struct SecretKey {
    inner: SigningKey,
}

impl SecretKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// # Panics
    /// If the OS random number generator fails, which modern systems do not.
    pub fn random() -> Self {
        Self { inner: SigningKey::generate_from_rng(&mut UnwrapErr(SysRng)) }
    }

    /// A key from its 32-byte big-endian encoding, which must be non-zero and below the curve
    /// order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; SECRET_KEY_LEN] =
            bytes.try_into().map_err(|_| CryptoError::InvalidLength {
                what: "secret key",
                expected: SECRET_KEY_LEN,
                got: bytes.len(),
            })?;
        let inner =
            SigningKey::from_bytes(bytes.into()).map_err(|_| CryptoError::InvalidSecretKey)?;
        Ok(Self { inner })
    }

    /// The 32-byte big-endian encoding, wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        let mut repr = self.inner.to_bytes();
        let mut out = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        out.copy_from_slice(&repr);
        repr.as_mut_slice().zeroize();
        out
    }

    /// The public key `d·G`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey { inner: (*self.inner.verifying_key()).into() }
    }

    /// Signs a 32-byte message hash: RFC 6979 deterministic nonce (HMAC-SHA256), low-s
    /// normalised with the recovery id adjusted to match, i.e. the output of go-ethereum's
    /// `crypto.Sign` (`r || s || v`, v in {0, 1}).
    pub fn sign_prehash(&self, hash: &[u8; 32]) -> RecoverableSignature {
        let (sig, recid) = self.inner.sign_prehash_recoverable(hash);
        let bytes = sig.to_bytes();
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        RecoverableSignature { r, s, v: recid.to_byte() }
    }

    /// ECDH with `peer`: the raw 32-byte x-coordinate of `d·P`, not hashed (as RLPx, go-ethereum
    /// ECIES and Status use it).
    pub fn ecdh(&self, peer: &PublicKey) -> SharedSecret {
        let shared =
            k256::ecdh::diffie_hellman(self.inner.as_nonzero_scalar(), peer.inner.as_affine());
        let mut out = SharedSecret([0u8; 32]);
        out.0.copy_from_slice(shared.raw_secret_bytes());
        out
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl ZeroizeOnDrop for SecretKey {}

/// The output of ECDH: the 32-byte x-coordinate of the shared point, unhashed. Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret([u8; 32]);

impl SharedSecret {
    /// The x-coordinate, big-endian.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

/// A secp256k1 public key (a point on the curve other than infinity).
///
/// `Debug` and `Display` print the hex of the 65-byte uncompressed form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    inner: k256::PublicKey,
}

impl PublicKey {
    /// Decodes a SEC1 key: 33 bytes compressed (`02`/`03` prefix) or 65 bytes uncompressed
    /// (`04` prefix). Points not on the curve are rejected.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self> {
        let prefix_ok = match bytes.len() {
            COMPRESSED_PUBLIC_KEY_LEN => matches!(bytes[0], 0x02 | 0x03),
            UNCOMPRESSED_PUBLIC_KEY_LEN => bytes[0] == 0x04,
            got => {
                return Err(CryptoError::InvalidLength {
                    what: "SEC1 public key (33 or 65 bytes)",
                    expected: UNCOMPRESSED_PUBLIC_KEY_LEN,
                    got,
                });
            }
        };
        if !prefix_ok {
            return Err(CryptoError::InvalidPublicKey);
        }
        let inner =
            k256::PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        Ok(Self { inner })
    }

    /// Decodes a devp2p node id: the 64-byte `x || y` (the uncompressed key without `04`).
    pub fn from_node_id(id: &[u8; NODE_ID_LEN]) -> Result<Self> {
        let mut sec1 = [0u8; UNCOMPRESSED_PUBLIC_KEY_LEN];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(id);
        Self::from_sec1(&sec1)
    }

    /// The 65-byte uncompressed SEC1 form `04 || x || y`.
    pub fn to_uncompressed(&self) -> [u8; UNCOMPRESSED_PUBLIC_KEY_LEN] {
        let point = self.inner.to_sec1_point(false);
        let mut out = [0u8; UNCOMPRESSED_PUBLIC_KEY_LEN];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The 33-byte compressed SEC1 form `02/03 || x`.
    pub fn to_compressed(&self) -> [u8; COMPRESSED_PUBLIC_KEY_LEN] {
        let point = self.inner.to_sec1_point(true);
        let mut out = [0u8; COMPRESSED_PUBLIC_KEY_LEN];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The devp2p node id (`x || y`).
    pub fn node_id(&self) -> NodeId {
        let mut id = [0u8; NODE_ID_LEN];
        id.copy_from_slice(&self.to_uncompressed()[1..]);
        NodeId(id)
    }

    /// The Ethereum address: the last 20 bytes of keccak256(`x || y`).
    pub fn address(&self) -> [u8; 20] {
        let hash = keccak256(&self.to_uncompressed()[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        out
    }

    pub(crate) fn from_k256(inner: k256::PublicKey) -> Self {
        Self { inner }
    }
}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_compressed().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.to_uncompressed()))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_uncompressed()))
    }
}

impl From<PublicKey> for NodeId {
    fn from(key: PublicKey) -> Self {
        key.node_id()
    }
}

impl TryFrom<NodeId> for PublicKey {
    type Error = CryptoError;

    fn try_from(id: NodeId) -> Result<Self> {
        id.public_key()
    }
}

/// A devp2p node id: the 64-byte uncompressed public key without its `04` prefix.
///
/// Not necessarily a valid point; [`NodeId::public_key`] checks. `Display`, `Debug` and
/// [`FromStr`] use 128 lowercase hex characters (as in `enode://` URLs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NODE_ID_LEN]);

impl NodeId {
    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    /// The public key, if the id is a point on the curve.
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_node_id(&self.0)
    }
}

impl From<[u8; NODE_ID_LEN]> for NodeId {
    fn from(bytes: [u8; NODE_ID_LEN]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for NodeId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for NodeId {
    type Err = CryptoError;

    /// Parses exactly 128 hex characters (either case, no `0x` prefix).
    fn from_str(s: &str) -> Result<Self> {
        const WHAT: &str = "node id";
        if let Some((index, character)) =
            s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit())
        {
            return Err(CryptoError::InvalidHexCharacter { what: WHAT, index, character });
        }
        // All characters are ASCII from here on, so bytes and chars coincide.
        if s.len() != 2 * NODE_ID_LEN {
            return Err(CryptoError::InvalidHexLength {
                what: WHAT,
                expected: 2 * NODE_ID_LEN,
                got: s.len(),
            });
        }
        let mut id = [0u8; NODE_ID_LEN];
        hex::decode_to_slice(s, &mut id).map_err(|_| CryptoError::InvalidHexLength {
            what: WHAT,
            expected: 2 * NODE_ID_LEN,
            got: s.len(),
        })?;
        Ok(Self(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// secp256k1 group order n.
    const N: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

    #[test]
    fn secret_key_validation() {
        assert_eq!(
            SecretKey::from_bytes(&[1u8; 31]).unwrap_err(),
            CryptoError::InvalidLength { what: "secret key", expected: 32, got: 31 }
        );
        assert!(SecretKey::from_bytes(&[1u8; 33]).is_err());
        assert_eq!(SecretKey::from_bytes(&[0u8; 32]).unwrap_err(), CryptoError::InvalidSecretKey);
        let n = hex::decode(N).unwrap();
        assert_eq!(SecretKey::from_bytes(&n).unwrap_err(), CryptoError::InvalidSecretKey);
        assert_eq!(SecretKey::from_bytes(&[0xff; 32]).unwrap_err(), CryptoError::InvalidSecretKey);
        let mut n_minus_1 = n.clone();
        n_minus_1[31] -= 1;
        let key = SecretKey::from_bytes(&n_minus_1).unwrap();
        assert_eq!(&key.to_bytes()[..], &n_minus_1[..]);
        let mut one = [0u8; 32];
        one[31] = 1;
        // 1·G is the generator.
        assert_eq!(
            hex::encode(SecretKey::from_bytes(&one).unwrap().public_key().to_compressed()),
            "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
    }

    #[test]
    fn secret_key_debug_hides_secret() {
        let key = SecretKey::from_bytes(&[0x11; 32]).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains(&"11".repeat(32)));
        assert!(debug.contains(&hex::encode(key.public_key().to_uncompressed())));
        assert_eq!(format!("{:?}", key.ecdh(&key.public_key())), "SharedSecret(..)");
    }

    #[test]
    fn random_keys_differ() {
        let a = SecretKey::random();
        let b = SecretKey::random();
        assert_ne!(*a.to_bytes(), *b.to_bytes());
        assert_ne!(a.public_key(), b.public_key());
    }

    #[test]
    fn invalid_points_rejected() {
        let key = SecretKey::from_bytes(&[0x22; 32]).unwrap().public_key();
        let mut uncompressed = key.to_uncompressed();
        // Wrong prefixes.
        for prefix in [0x00, 0x02, 0x03, 0x05, 0x06, 0x07] {
            uncompressed[0] = prefix;
            assert_eq!(
                PublicKey::from_sec1(&uncompressed).unwrap_err(),
                CryptoError::InvalidPublicKey,
                "prefix {prefix}"
            );
        }
        uncompressed[0] = 0x04;
        // y off the curve.
        uncompressed[64] ^= 1;
        assert_eq!(PublicKey::from_sec1(&uncompressed).unwrap_err(), CryptoError::InvalidPublicKey);
        // x = 0 has no point on secp256k1 (0 + 7 is not a square), x = p is out of range.
        let mut compressed = [0u8; 33];
        compressed[0] = 0x02;
        assert_eq!(PublicKey::from_sec1(&compressed).unwrap_err(), CryptoError::InvalidPublicKey);
        compressed[1..].copy_from_slice(
            &hex::decode("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
                .unwrap(),
        );
        assert_eq!(PublicKey::from_sec1(&compressed).unwrap_err(), CryptoError::InvalidPublicKey);
        compressed[0] = 0x04;
        assert_eq!(PublicKey::from_sec1(&compressed).unwrap_err(), CryptoError::InvalidPublicKey);
        // The point at infinity and odd lengths.
        for bytes in [&[0u8][..], &[], &[4u8; 64], &[4u8; 66]] {
            assert!(matches!(
                PublicKey::from_sec1(bytes),
                Err(CryptoError::InvalidLength { got, .. }) if got == bytes.len()
            ));
        }
        assert_eq!(PublicKey::from_node_id(&[0u8; 64]).unwrap_err(), CryptoError::InvalidPublicKey);
        assert!(NodeId([0u8; 64]).public_key().is_err());
    }

    #[test]
    fn node_id_parse_errors_say_what_is_wrong() {
        let id = SecretKey::from_bytes(&[0x33; 32]).unwrap().public_key().node_id();
        let text = id.to_string();
        assert_eq!(text.len(), 128);
        assert_eq!(format!("{id:?}"), text);
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
        assert_eq!(text.to_uppercase().parse::<NodeId>().unwrap(), id);

        let err = text[..126].parse::<NodeId>().unwrap_err();
        assert_eq!(err, CryptoError::InvalidHexLength { what: "node id", expected: 128, got: 126 });
        assert!(err.to_string().contains("expected 128 hex characters, got 126"));

        let err = format!("0x{}", &text[2..]).parse::<NodeId>().unwrap_err();
        assert_eq!(
            err,
            CryptoError::InvalidHexCharacter { what: "node id", index: 1, character: 'x' }
        );
        let err = format!("{}é", &text[..127]).parse::<NodeId>().unwrap_err();
        assert!(matches!(err, CryptoError::InvalidHexCharacter { index: 127, character: 'é', .. }));
        assert!("".parse::<NodeId>().is_err());
    }

    #[test]
    fn ecdh_is_symmetric() {
        let a = SecretKey::from_bytes(&[0x44; 32]).unwrap();
        let b = SecretKey::from_bytes(&[0x55; 32]).unwrap();
        assert_eq!(a.ecdh(&b.public_key()).as_bytes(), b.ecdh(&a.public_key()).as_bytes());
    }

    proptest! {
        #[test]
        fn key_encodings_round_trip(seed in any::<[u8; 32]>()) {
            let Ok(secret) = SecretKey::from_bytes(&seed) else {
                return Ok(());
            };
            prop_assert_eq!(&secret.to_bytes()[..], &seed[..]);
            let key = secret.public_key();
            let uncompressed = key.to_uncompressed();
            let compressed = key.to_compressed();
            prop_assert_eq!(uncompressed[0], 4);
            prop_assert_eq!(&compressed[1..], &uncompressed[1..33]);
            prop_assert_eq!(compressed[0], 2 + (uncompressed[64] & 1));
            prop_assert_eq!(PublicKey::from_sec1(&uncompressed).unwrap(), key);
            prop_assert_eq!(PublicKey::from_sec1(&compressed).unwrap(), key);
            let id = key.node_id();
            prop_assert_eq!(&id.0[..], &uncompressed[1..]);
            prop_assert_eq!(PublicKey::from_node_id(id.as_bytes()).unwrap(), key);
            prop_assert_eq!(id.public_key().unwrap(), key);
            prop_assert_eq!(id.to_string().parse::<NodeId>().unwrap(), id);
            prop_assert_eq!(format!("{key:?}"), format!("PublicKey({})", hex::encode(uncompressed)));
        }
    }
}
