//! BIP32 hierarchical deterministic keys: master keys from seeds, private and public child
//! derivation, derivation paths (`m/44'/60'/0'/0/0`), and the `xprv…`/`xpub…` serialisation.
//!
//! BIP32 §"Master key generation": `I = HMAC-SHA512("Bitcoin seed", seed)`; §"Child key
//! derivation (CKD) functions": `I = HMAC-SHA512(c_par, data)`, the child key is
//! `parse256(I_L) + k_par (mod n)` (private) or `point(I_L) + K_par` (public), its chain code
//! `I_R`. §"Serialization format": 78 bytes in Base58Check.

use std::{fmt, str::FromStr};

use hmac::{Hmac, KeyInit, Mac};
use k256::{
    FieldBytes, ProjectivePoint, Scalar,
    elliptic_curve::{Group, PrimeField, sec1::ToSec1Point},
};
use sha2::{Sha256, Sha512};
use wisp_crypto::{COMPRESSED_PUBLIC_KEY_LEN, PublicKey, SecretKey, Zeroizing};
use zeroize::Zeroize;

use crate::{
    base58,
    error::{AccountsError, Result},
};

/// The hardened bit of a child number (BIP32: indices ≥ 2^31 are hardened).
pub const HARDENED: u32 = 1 << 31;
/// Version bytes of a mainnet private extended key (`xprv`).
pub const XPRV_VERSION: [u8; 4] = [0x04, 0x88, 0xad, 0xe4];
/// Version bytes of a mainnet public extended key (`xpub`).
pub const XPUB_VERSION: [u8; 4] = [0x04, 0x88, 0xb2, 0x1e];
/// Length of a serialised extended key, before Base58Check.
const EXTENDED_KEY_LEN: usize = 78;
/// The HMAC key of master key generation.
const MASTER_HMAC_KEY: &[u8] = b"Bitcoin seed";

/// Status' chat key path (2/ACCOUNT, EIP-1581: `m / 43' / 60' / 1581' / key_type' / index`,
/// key type 0' = the Whisper/Waku chat key).
pub const CHAT_KEY_PATH: &str = "m/43'/60'/1581'/0'/0";
/// The parent of Status' wallet keys (BIP44 for Ethereum: `m / 44' / 60' / 0' / 0 / i`).
pub const WALLET_ROOT_PATH: &str = "m/44'/60'/0'/0";

/// One step of a derivation path: an index below 2^31, hardened or not.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildNumber(u32);

impl ChildNumber {
    /// A normal (non-hardened) child; `None` if `index` ≥ 2^31.
    pub const fn normal(index: u32) -> Option<Self> {
        if index < HARDENED { Some(Self(index)) } else { None }
    }

    /// A hardened child (`index'`); `None` if `index` ≥ 2^31.
    pub const fn hardened(index: u32) -> Option<Self> {
        if index < HARDENED { Some(Self(index | HARDENED)) } else { None }
    }

    /// The child number as serialised: the index, plus 2^31 if hardened.
    pub const fn from_u32(value: u32) -> Self {
        Self(value)
    }

    /// The child number as serialised (`ser32(i)`).
    pub const fn to_u32(self) -> u32 {
        self.0
    }

    /// The index without the hardened bit.
    pub const fn index(self) -> u32 {
        self.0 & !HARDENED
    }

    /// Whether the child is hardened.
    pub const fn is_hardened(self) -> bool {
        self.0 & HARDENED != 0
    }
}

impl fmt::Display for ChildNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.index(), if self.is_hardened() { "'" } else { "" })
    }
}

impl fmt::Debug for ChildNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChildNumber({self})")
    }
}

/// A derivation path from a master key: `m` followed by `/index` or `/index'` steps
/// (`h` and `H` are accepted for `'`).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct DerivationPath(Vec<ChildNumber>);

impl DerivationPath {
    /// The steps.
    pub fn steps(&self) -> &[ChildNumber] {
        &self.0
    }

    /// Status' chat key path, [`CHAT_KEY_PATH`].
    pub fn chat_key() -> Self {
        CHAT_KEY_PATH.parse().expect("a valid constant path")
    }

    /// Status' wallet key `i`: `m/44'/60'/0'/0/i` ([`WALLET_ROOT_PATH`]); `index` < 2^31.
    pub fn wallet(index: u32) -> Result<Self> {
        let mut path: Self = WALLET_ROOT_PATH.parse().expect("a valid constant path");
        path.0.push(ChildNumber::normal(index).ok_or_else(|| AccountsError::DerivationPath {
            path: format!("{WALLET_ROOT_PATH}/{index}"),
            reason: "a wallet index is below 2^31",
        })?);
        Ok(path)
    }
}

impl From<Vec<ChildNumber>> for DerivationPath {
    fn from(steps: Vec<ChildNumber>) -> Self {
        Self(steps)
    }
}

impl FromStr for DerivationPath {
    type Err = AccountsError;

    fn from_str(s: &str) -> Result<Self> {
        let err = |reason| AccountsError::DerivationPath { path: s.to_owned(), reason };
        let mut parts = s.split('/');
        if parts.next() != Some("m") {
            return Err(err("a path starts with \"m\""));
        }
        let mut steps = Vec::new();
        for part in parts {
            let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
                Some(digits) => (digits, true),
                None => (part, false),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("each step is a decimal index, optionally followed by '"));
            }
            let index: u32 = digits.parse().map_err(|_| err("an index is below 2^31"))?;
            let step =
                if hardened { ChildNumber::hardened(index) } else { ChildNumber::normal(index) };
            steps.push(step.ok_or_else(|| err("an index is below 2^31"))?);
        }
        if steps.len() > usize::from(u8::MAX) {
            return Err(err("a path has at most 255 steps"));
        }
        Ok(Self(steps))
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for step in &self.0 {
            write!(f, "/{step}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivationPath({self})")
    }
}

/// A BIP32 extended private key: a secret key, its chain code, and where it sits in the tree.
///
/// The key and the chain code are wiped on drop; `Debug` shows only the public part. The
/// `xprv…` text comes only from [`ExtendedPrivateKey::to_xprv`].
#[derive(Clone)]
pub struct ExtendedPrivateKey {
    secret: SecretKey,
    chain_code: Zeroizing<[u8; 32]>,
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: ChildNumber,
}

impl ExtendedPrivateKey {
    /// The master key of `seed` (16 to 64 bytes; a BIP39 seed is 64).
    pub fn master(seed: &[u8]) -> Result<Self> {
        if !(16..=64).contains(&seed.len()) {
            return Err(AccountsError::SeedLength { got: seed.len() });
        }
        let i = hmac_sha512(MASTER_HMAC_KEY, &[seed]);
        let secret =
            SecretKey::from_bytes(&i[..32]).map_err(|_| AccountsError::InvalidDerivedKey)?;
        let mut chain_code = Zeroizing::new([0u8; 32]);
        chain_code.copy_from_slice(&i[32..]);
        Ok(Self {
            secret,
            chain_code,
            depth: 0,
            parent_fingerprint: [0; 4],
            child_number: ChildNumber(0),
        })
    }

    /// The child `number` (CKDpriv).
    pub fn derive_child(&self, number: ChildNumber) -> Result<Self> {
        let depth = self.depth.checked_add(1).ok_or(AccountsError::DepthOverflow)?;
        let ser_i = number.to_u32().to_be_bytes();
        let i = if number.is_hardened() {
            let secret = self.secret.to_bytes();
            hmac_sha512(&self.chain_code[..], &[&[0], &secret[..], &ser_i])
        } else {
            hmac_sha512(&self.chain_code[..], &[&self.public_key().to_compressed(), &ser_i])
        };
        let mut tweak = parse_scalar(&i[..32])?;
        let mut parent = parse_scalar(&self.secret.to_bytes()[..])?;
        let mut child = tweak + parent;
        tweak.zeroize();
        parent.zeroize();
        let child_bytes = Zeroizing::new(child.to_bytes());
        child.zeroize();
        // Zero is the only value SecretKey rejects here (the sum is reduced mod n).
        let secret = SecretKey::from_bytes(&child_bytes[..])
            .map_err(|_| AccountsError::InvalidDerivedKey)?;
        let mut chain_code = Zeroizing::new([0u8; 32]);
        chain_code.copy_from_slice(&i[32..]);
        Ok(Self {
            secret,
            chain_code,
            depth,
            parent_fingerprint: self.fingerprint(),
            child_number: number,
        })
    }

    /// The key at `path`, taking this key as `m`.
    pub fn derive_path(&self, path: &DerivationPath) -> Result<Self> {
        let mut key = self.clone();
        for &step in path.steps() {
            key = key.derive_child(step)?;
        }
        Ok(key)
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.secret.public_key()
    }

    /// The chain code.
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    /// Depth in the tree (0 for a master key).
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The first 4 bytes of the parent key's identifier (zero for a master key).
    pub fn parent_fingerprint(&self) -> [u8; 4] {
        self.parent_fingerprint
    }

    /// The child number this key was derived with (0 for a master key).
    pub fn child_number(&self) -> ChildNumber {
        self.child_number
    }

    /// This key's fingerprint: the first 4 bytes of RIPEMD-160(SHA-256(compressed public key)).
    pub fn fingerprint(&self) -> [u8; 4] {
        fingerprint(&self.public_key())
    }

    /// The extended public key (the "neutered" key, BIP32 N(·)).
    pub fn to_extended_public_key(&self) -> ExtendedPublicKey {
        ExtendedPublicKey {
            key: self.public_key(),
            chain_code: *self.chain_code,
            depth: self.depth,
            parent_fingerprint: self.parent_fingerprint,
            child_number: self.child_number,
        }
    }

    /// The `xprv…` text. A secret, wiped on drop.
    pub fn to_xprv(&self) -> Zeroizing<String> {
        let mut data = Zeroizing::new([0u8; EXTENDED_KEY_LEN]);
        self.write_header(&mut data, XPRV_VERSION);
        data[46..].copy_from_slice(&self.secret.to_bytes()[..]);
        Zeroizing::new(base58::encode_check(&data[..]))
    }

    /// Parses `xprv…` text.
    pub fn from_xprv(text: &str) -> Result<Self> {
        let data = Zeroizing::new(base58::decode_check(text)?);
        let header = parse_header(&data)?;
        match header.version {
            XPRV_VERSION => {}
            XPUB_VERSION => return Err(AccountsError::ExtendedKey("an xpub, not an xprv")),
            _ => return Err(AccountsError::ExtendedKey("unknown version bytes")),
        }
        if data[45] != 0 {
            return Err(AccountsError::ExtendedKey("private key data does not start with 00"));
        }
        let secret = SecretKey::from_bytes(&data[46..])
            .map_err(|_| AccountsError::ExtendedKey("private key not in 1..n-1"))?;
        Ok(Self {
            secret,
            chain_code: Zeroizing::new(header.chain_code),
            depth: header.depth,
            parent_fingerprint: header.parent_fingerprint,
            child_number: header.child_number,
        })
    }

    fn write_header(&self, data: &mut [u8; EXTENDED_KEY_LEN], version: [u8; 4]) {
        write_header(
            data,
            version,
            self.depth,
            self.parent_fingerprint,
            self.child_number,
            &self.chain_code,
        );
    }
}

impl PartialEq for ExtendedPrivateKey {
    fn eq(&self, other: &Self) -> bool {
        wisp_crypto::constant_time_eq(self.to_xprv().as_bytes(), other.to_xprv().as_bytes())
    }
}

impl Eq for ExtendedPrivateKey {}

impl fmt::Debug for ExtendedPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedPrivateKey")
            .field("public", &self.to_extended_public_key())
            .finish_non_exhaustive()
    }
}

/// A BIP32 extended public key: derives normal (non-hardened) children without the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ExtendedPublicKey {
    key: PublicKey,
    chain_code: [u8; 32],
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: ChildNumber,
}

impl ExtendedPublicKey {
    /// The child `number` (CKDpub); hardened children need the private key.
    pub fn derive_child(&self, number: ChildNumber) -> Result<Self> {
        if number.is_hardened() {
            return Err(AccountsError::HardenedFromPublic { index: number.index() });
        }
        let depth = self.depth.checked_add(1).ok_or(AccountsError::DepthOverflow)?;
        let i = hmac_sha512(
            &self.chain_code,
            &[&self.key.to_compressed(), &number.to_u32().to_be_bytes()],
        );
        let tweak = parse_scalar(&i[..32])?;
        let parent = k256::PublicKey::from_sec1_bytes(&self.key.to_compressed())
            .map_err(|_| AccountsError::InvalidDerivedKey)?;
        let point = ProjectivePoint::GENERATOR * tweak + parent.to_projective();
        if bool::from(point.is_identity()) {
            return Err(AccountsError::InvalidDerivedKey);
        }
        let key = PublicKey::from_sec1(point.to_sec1_point(true).as_bytes())
            .map_err(|_| AccountsError::InvalidDerivedKey)?;
        let mut chain_code = [0u8; 32];
        chain_code.copy_from_slice(&i[32..]);
        Ok(Self {
            key,
            chain_code,
            depth,
            parent_fingerprint: fingerprint(&self.key),
            child_number: number,
        })
    }

    /// The key at `path` (normal steps only), taking this key as `m`.
    pub fn derive_path(&self, path: &DerivationPath) -> Result<Self> {
        path.steps().iter().try_fold(*self, |key, &step| key.derive_child(step))
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// The chain code.
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    /// Depth in the tree (0 for a master key).
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The first 4 bytes of the parent key's identifier (zero for a master key).
    pub fn parent_fingerprint(&self) -> [u8; 4] {
        self.parent_fingerprint
    }

    /// The child number this key was derived with (0 for a master key).
    pub fn child_number(&self) -> ChildNumber {
        self.child_number
    }

    /// This key's fingerprint: the first 4 bytes of RIPEMD-160(SHA-256(compressed key)).
    pub fn fingerprint(&self) -> [u8; 4] {
        fingerprint(&self.key)
    }
}

impl fmt::Display for ExtendedPublicKey {
    /// The `xpub…` text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = [0u8; EXTENDED_KEY_LEN];
        write_header(
            &mut data,
            XPUB_VERSION,
            self.depth,
            self.parent_fingerprint,
            self.child_number,
            &self.chain_code,
        );
        data[45..].copy_from_slice(&self.key.to_compressed());
        f.write_str(&base58::encode_check(&data))
    }
}

impl fmt::Debug for ExtendedPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExtendedPublicKey({self})")
    }
}

impl FromStr for ExtendedPublicKey {
    type Err = AccountsError;

    /// Parses `xpub…` text.
    fn from_str(text: &str) -> Result<Self> {
        let data = base58::decode_check(text)?;
        let header = parse_header(&data)?;
        match header.version {
            XPUB_VERSION => {}
            XPRV_VERSION => return Err(AccountsError::ExtendedKey("an xprv, not an xpub")),
            _ => return Err(AccountsError::ExtendedKey("unknown version bytes")),
        }
        let key = PublicKey::from_sec1(&data[45..])
            .map_err(|_| AccountsError::ExtendedKey("not a compressed secp256k1 public key"))?;
        Ok(Self {
            key,
            chain_code: header.chain_code,
            depth: header.depth,
            parent_fingerprint: header.parent_fingerprint,
            child_number: header.child_number,
        })
    }
}

/// The fields of a serialised key before the key data.
struct Header {
    version: [u8; 4],
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: ChildNumber,
    chain_code: [u8; 32],
}

/// `version(4) || depth(1) || parent fingerprint(4) || child number(4) || chain code(32)`.
fn write_header(
    data: &mut [u8; EXTENDED_KEY_LEN],
    version: [u8; 4],
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: ChildNumber,
    chain_code: &[u8; 32],
) {
    data[..4].copy_from_slice(&version);
    data[4] = depth;
    data[5..9].copy_from_slice(&parent_fingerprint);
    data[9..13].copy_from_slice(&child_number.to_u32().to_be_bytes());
    data[13..45].copy_from_slice(chain_code);
}

/// Checks the length and the depth-0 rules (BIP32 test vector 5) and splits the header off.
fn parse_header(data: &[u8]) -> Result<Header> {
    if data.len() != EXTENDED_KEY_LEN {
        return Err(AccountsError::ExtendedKey("not 78 bytes long"));
    }
    let mut header = Header {
        version: [0; 4],
        depth: data[4],
        parent_fingerprint: [0; 4],
        child_number: ChildNumber(u32::from_be_bytes([data[9], data[10], data[11], data[12]])),
        chain_code: [0; 32],
    };
    header.version.copy_from_slice(&data[..4]);
    header.parent_fingerprint.copy_from_slice(&data[5..9]);
    header.chain_code.copy_from_slice(&data[13..45]);
    if header.depth == 0 && header.parent_fingerprint != [0; 4] {
        return Err(AccountsError::ExtendedKey("depth 0 with a non-zero parent fingerprint"));
    }
    if header.depth == 0 && header.child_number.to_u32() != 0 {
        return Err(AccountsError::ExtendedKey("depth 0 with a non-zero child number"));
    }
    Ok(header)
}

/// `parse256(bytes)` as a scalar; fails if it is not below the curve order n.
fn parse_scalar(bytes: &[u8]) -> Result<Scalar> {
    let mut repr = FieldBytes::default();
    repr.copy_from_slice(bytes);
    Option::from(Scalar::from_repr(repr)).ok_or(AccountsError::InvalidDerivedKey)
}

/// The first 4 bytes of HASH160 (RIPEMD-160 of SHA-256) of the compressed key.
fn fingerprint(key: &PublicKey) -> [u8; 4] {
    use ripemd::{Digest, Ripemd160};
    let sha = Sha256::digest(key.to_compressed());
    let hash = Ripemd160::digest(sha);
    [hash[0], hash[1], hash[2], hash[3]]
}

/// HMAC-SHA512 of the concatenation of `parts`; the 64 bytes are wiped on drop.
fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut mac =
        <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

const _: () = assert!(COMPRESSED_PUBLIC_KEY_LEN == EXTENDED_KEY_LEN - 45);

#[cfg(test)]
mod tests {
    use super::*;

    /// BIP32 §"Test Vectors" 1–4: every chain's xpub and xprv.
    /// A chain of a test vector: path, xpub, xprv.
    type Chain = (&'static str, &'static str, &'static str);

    const VECTORS: &[(&str, &[Chain])] = &[
        (
            "000102030405060708090a0b0c0d0e0f",
            &[
                (
                    "m",
                    "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
                    "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
                ),
                (
                    "m/0'",
                    "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
                    "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7",
                ),
                (
                    "m/0'/1",
                    "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
                    "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs",
                ),
                (
                    "m/0'/1/2'",
                    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
                    "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM",
                ),
                (
                    "m/0'/1/2'/2",
                    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
                    "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334",
                ),
                (
                    "m/0'/1/2'/2/1000000000",
                    "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
                    "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76",
                ),
            ],
        ),
        (
            "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542",
            &[
                (
                    "m",
                    "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
                    "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U",
                ),
                (
                    "m/0",
                    "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
                    "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt",
                ),
                (
                    "m/0/2147483647'",
                    "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
                    "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9",
                ),
                (
                    "m/0/2147483647'/1",
                    "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
                    "xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef",
                ),
                (
                    "m/0/2147483647'/1/2147483646'",
                    "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
                    "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc",
                ),
                (
                    "m/0/2147483647'/1/2147483646'/2",
                    "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
                    "xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j",
                ),
            ],
        ),
        (
            "4b381541583be4423346c643850da4b320e46a87ae3d2a4e6da11eba819cd4acba45d239319ac14f863b8d5ab5a0d0c64d2e8a1e7d1457df2e5a3c51c73235be",
            &[
                (
                    "m",
                    "xpub661MyMwAqRbcEZVB4dScxMAdx6d4nFc9nvyvH3v4gJL378CSRZiYmhRoP7mBy6gSPSCYk6SzXPTf3ND1cZAceL7SfJ1Z3GC8vBgp2epUt13",
                    "xprv9s21ZrQH143K25QhxbucbDDuQ4naNntJRi4KUfWT7xo4EKsHt2QJDu7KXp1A3u7Bi1j8ph3EGsZ9Xvz9dGuVrtHHs7pXeTzjuxBrCmmhgC6",
                ),
                (
                    "m/0'",
                    "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y",
                    "xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L",
                ),
            ],
        ),
        (
            "3ddd5602285899a946114506157c7997e5444528f3003f6134712147db19b678",
            &[
                (
                    "m",
                    "xpub661MyMwAqRbcGczjuMoRm6dXaLDEhW1u34gKenbeYqAix21mdUKJyuyu5F1rzYGVxyL6tmgBUAEPrEz92mBXjByMRiJdba9wpnN37RLLAXa",
                    "xprv9s21ZrQH143K48vGoLGRPxgo2JNkJ3J3fqkirQC2zVdk5Dgd5w14S7fRDyHH4dWNHUgkvsvNDCkvAwcSHNAQwhwgNMgZhLtQC63zxwhQmRv",
                ),
                (
                    "m/0'",
                    "xpub69AUMk3qDBi3uW1sXgjCmVjJ2G6WQoYSnNHyzkmdCHEhSZ4tBok37xfFEqHd2AddP56Tqp4o56AePAgCjYdvpW2PU2jbUPFKsav5ut6Ch1m",
                    "xprv9vB7xEWwNp9kh1wQRfCCQMnZUEG21LpbR9NPCNN1dwhiZkjjeGRnaALmPXCX7SgjFTiCTT6bXes17boXtjq3xLpcDjzEuGLQBM5ohqkao9G",
                ),
                (
                    "m/0'/1'",
                    "xpub6BJA1jSqiukeaesWfxe6sNK9CCGaujFFSJLomWHprUL9DePQ4JDkM5d88n49sMGJxrhpjazuXYWdMf17C9T5XnxkopaeS7jGk1GyyVziaMt",
                    "xprv9xJocDuwtYCMNAo3Zw76WENQeAS6WGXQ55RCy7tDJ8oALr4FWkuVoHJeHVAcAqiZLE7Je3vZJHxspZdFHfnBEjHqU5hG1Jaj32dVoS6XLT1",
                ),
            ],
        ),
    ];

    /// BIP32 test vector 5: invalid extended keys.
    const INVALID: &[&str] = &[
        "xpub661MyMwAqRbcEYS8w7XLSVeEsBXy79zSzH1J8vCdxAZningWLdN3zgtU6LBpB85b3D2yc8sfvZU521AAwdZafEz7mnzBBsz4wKY5fTtTQBm",
        "xprv9s21ZrQH143K24Mfq5zL5MhWK9hUhhGbd45hLXo2Pq2oqzMMo63oStZzFGTQQD3dC4H2D5GBj7vWvSQaaBv5cxi9gafk7NF3pnBju6dwKvH",
        "xpub661MyMwAqRbcEYS8w7XLSVeEsBXy79zSzH1J8vCdxAZningWLdN3zgtU6Txnt3siSujt9RCVYsx4qHZGc62TG4McvMGcAUjeuwZdduYEvFn",
        "xprv9s21ZrQH143K24Mfq5zL5MhWK9hUhhGbd45hLXo2Pq2oqzMMo63oStZzFGpWnsj83BHtEy5Zt8CcDr1UiRXuWCmTQLxEK9vbz5gPstX92JQ",
        "xpub661MyMwAqRbcEYS8w7XLSVeEsBXy79zSzH1J8vCdxAZningWLdN3zgtU6N8ZMMXctdiCjxTNq964yKkwrkBJJwpzZS4HS2fxvyYUA4q2Xe4",
        "xprv9s21ZrQH143K24Mfq5zL5MhWK9hUhhGbd45hLXo2Pq2oqzMMo63oStZzFAzHGBP2UuGCqWLTAPLcMtD9y5gkZ6Eq3Rjuahrv17fEQ3Qen6J",
        "xprv9s2SPatNQ9Vc6GTbVMFPFo7jsaZySyzk7L8n2uqKXJen3KUmvQNTuLh3fhZMBoG3G4ZW1N2kZuHEPY53qmbZzCHshoQnNf4GvELZfqTUrcv",
        "xpub661no6RGEX3uJkY4bNnPcw4URcQTrSibUZ4NqJEw5eBkv7ovTwgiT91XX27VbEXGENhYRCf7hyEbWrR3FewATdCEebj6znwMfQkhRYHRLpJ",
        "xprv9s21ZrQH4r4TsiLvyLXqM9P7k1K3EYhA1kkD6xuquB5i39AU8KF42acDyL3qsDbU9NmZn6MsGSUYZEsuoePmjzsB3eFKSUEh3Gu1N3cqVUN",
        "xpub661MyMwAuDcm6CRQ5N4qiHKrJ39Xe1R1NyfouMKTTWcguwVcfrZJaNvhpebzGerh7gucBvzEQWRugZDuDXjNDRmXzSZe4c7mnTK97pTvGS8",
        "DMwo58pR1QLEFihHiXPVykYB6fJmsTeHvyTp7hRThAtCX8CvYzgPcn8XnmdfHGMQzT7ayAmfo4z3gY5KfbrZWZ6St24UVf2Qgo6oujFktLHdHY4",
        "DMwo58pR1QLEFihHiXPVykYB6fJmsTeHvyTp7hRThAtCX8CvYzgPcn8XnmdfHPmHJiEDXkTiJTVV9rHEBUem2mwVbbNfvT2MTcAqj3nesx8uBf9",
        "xprv9s21ZrQH143K24Mfq5zL5MhWK9hUhhGbd45hLXo2Pq2oqzMMo63oStZzF93Y5wvzdUayhgkkFoicQZcP3y52uPPxFnfoLZB21Teqt1VvEHx",
        "xprv9s21ZrQH143K24Mfq5zL5MhWK9hUhhGbd45hLXo2Pq2oqzMMo63oStZzFAzHGBP2UuGCqWLTAPLcMtD5SDKr24z3aiUvKr9bJpdrcLg1y3G",
        "xpub661MyMwAqRbcEYS8w7XLSVeEsBXy79zSzH1J8vCdxAZningWLdN3zgtU6Q5JXayek4PRsn35jii4veMimro1xefsM58PgBMrvdYre8QyULY",
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHL",
    ];

    #[test]
    fn bip32_test_vectors_1_to_4() {
        let mut checked = 0;
        for (seed, chains) in VECTORS {
            let master = ExtendedPrivateKey::master(&hex::decode(seed).unwrap()).unwrap();
            for (path, xpub, xprv) in *chains {
                let path: DerivationPath = path.parse().unwrap();
                let key = master.derive_path(&path).unwrap();
                assert_eq!(key.to_xprv().as_str(), *xprv, "xprv of {path}");
                assert_eq!(key.to_extended_public_key().to_string(), *xpub, "xpub of {path}");
                // Both parse back to the same key.
                assert_eq!(ExtendedPrivateKey::from_xprv(xprv).unwrap(), key);
                assert_eq!(
                    xpub.parse::<ExtendedPublicKey>().unwrap(),
                    key.to_extended_public_key()
                );
                assert_eq!(
                    path.to_string(),
                    path.to_string().parse::<DerivationPath>().unwrap().to_string()
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 17);
    }

    #[test]
    fn bip32_public_derivation_matches_private() {
        // Test vector 1: m/0'/1/2'/2/1000000000 from the xpub of m/0'/1/2'.
        let (seed, chains) = VECTORS[0];
        let master = ExtendedPrivateKey::master(&hex::decode(seed).unwrap()).unwrap();
        let parent = master.derive_path(&"m/0'/1/2'".parse().unwrap()).unwrap();
        let public = parent
            .to_extended_public_key()
            .derive_path(&"m/2/1000000000".parse().unwrap())
            .unwrap();
        assert_eq!(public.to_string(), chains[5].1);
        assert!(matches!(
            parent.to_extended_public_key().derive_child(ChildNumber::hardened(1).unwrap()),
            Err(AccountsError::HardenedFromPublic { index: 1 })
        ));
    }

    #[test]
    fn bip32_test_vector_5_rejects_invalid_keys() {
        for text in INVALID {
            assert!(ExtendedPrivateKey::from_xprv(text).is_err(), "accepted as xprv: {text}");
            assert!(text.parse::<ExtendedPublicKey>().is_err(), "accepted as xpub: {text}");
        }
    }

    #[test]
    fn paths_parse_and_print() {
        assert_eq!(DerivationPath::chat_key().to_string(), CHAT_KEY_PATH);
        assert_eq!(DerivationPath::wallet(3).unwrap().to_string(), "m/44'/60'/0'/0/3");
        assert!(DerivationPath::wallet(HARDENED).is_err());
        let p: DerivationPath = "m/44h/60H/0'/0/7".parse().unwrap();
        assert_eq!(p.to_string(), "m/44'/60'/0'/0/7");
        assert_eq!("m".parse::<DerivationPath>().unwrap().steps(), &[]);
        for bad in ["", "M/0", "m/", "m//1", "m/x", "m/-1", "m/2147483648", "m/1''", "0/1", "m/+1"]
        {
            assert!(bad.parse::<DerivationPath>().is_err(), "{bad:?}");
        }
        assert!(ExtendedPrivateKey::master(&[0; 15]).is_err());
        assert!(ExtendedPrivateKey::master(&[0; 65]).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let (seed, chains) = VECTORS[0];
        let master = ExtendedPrivateKey::master(&hex::decode(seed).unwrap()).unwrap();
        let debug = format!("{master:?}");
        assert!(!debug.contains(chains[0].2), "{debug}");
        assert!(debug.contains(chains[0].1), "{debug}");
    }
}
