//! The error type of the accounts layer.

use wisp_crypto::CryptoError;

/// Errors of this crate: bad input (a mnemonic, a path, a key text, a keystore file) or a wrong
/// password. Nothing in this crate panics on input.
///
/// No variant carries a secret: a mistyped mnemonic word is reported by its position only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountsError {
    /// A mnemonic with a word count BIP39 does not define.
    #[error("a mnemonic has 12, 15, 18, 21 or 24 words, not {got}")]
    MnemonicWordCount {
        /// Words found.
        got: usize,
    },
    /// A word that is not in the BIP39 English list (the word itself is not repeated: it may be
    /// a typo of a secret word).
    #[error("word {position} of the mnemonic is not in the BIP39 English word list")]
    UnknownWord {
        /// 1-based position of the word.
        position: usize,
    },
    /// All words are known but the checksum bits do not match.
    #[error("the mnemonic's checksum does not match: a word is wrong or words are out of order")]
    MnemonicChecksum,
    /// BIP39 entropy of a length other than 128, 160, 192, 224 or 256 bits.
    #[error("BIP39 entropy is 16, 20, 24, 28 or 32 bytes, not {got}")]
    EntropyLength {
        /// Bytes given.
        got: usize,
    },
    /// A BIP32 seed shorter than 128 or longer than 512 bits.
    #[error("a BIP32 seed is 16 to 64 bytes, not {got}")]
    SeedLength {
        /// Bytes given.
        got: usize,
    },
    /// A derivation path that does not parse.
    #[error("invalid derivation path {path:?}: {reason}")]
    DerivationPath {
        /// The text given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Hardened derivation asked of a public key.
    #[error("cannot derive hardened child {index}' from an extended public key")]
    HardenedFromPublic {
        /// The child index without the hardened bit.
        index: u32,
    },
    /// A derived key is invalid (BIP32: I_L ≥ n or the result is zero or infinity; probability
    /// below 2^-127). BIP32 says to use the next index.
    #[error("BIP32 derivation gave an invalid key at this index; use the next index")]
    InvalidDerivedKey,
    /// A derivation deeper than the 255 levels an extended key can record.
    #[error("BIP32 keys cannot be deeper than 255 levels")]
    DepthOverflow,
    /// An `xprv…`/`xpub…` string that is not a valid extended key.
    #[error("invalid extended key: {0}")]
    ExtendedKey(&'static str),
    /// Text that is not valid base58 (or base58check).
    #[error("invalid base58: {0}")]
    Base58(&'static str),
    /// Text that is not an Ethereum address, or fails its EIP-55 checksum.
    #[error("invalid Ethereum address: {0}")]
    Address(&'static str),
    /// A keystore file that is not keystore v3 JSON, or misses a field.
    #[error("invalid keystore file: {0}")]
    KeystoreFormat(String),
    /// A keystore file of another version.
    #[error("unsupported keystore version {0} (only version 3 is supported)")]
    KeystoreVersion(u64),
    /// A cipher other than AES-128-CTR.
    #[error("unsupported keystore cipher {0:?} (only aes-128-ctr is supported)")]
    UnsupportedCipher(String),
    /// A KDF other than scrypt and PBKDF2-HMAC-SHA256.
    #[error("unsupported keystore KDF {0:?} (scrypt and pbkdf2 with hmac-sha256 are supported)")]
    UnsupportedKdf(String),
    /// KDF parameters that are malformed, or so large that deriving would exhaust memory or time.
    #[error("keystore {kdf} parameters rejected: {reason}")]
    KdfParams {
        /// `scrypt` or `pbkdf2`.
        kdf: &'static str,
        /// What is wrong with them.
        reason: String,
    },
    /// The password does not open the keystore (its MAC does not match).
    #[error("wrong password (the keystore MAC does not match)")]
    WrongPassword,
    /// The keystore decrypted (MAC correct) to something that is not a secp256k1 secret key.
    #[error("the keystore holds {len} bytes that are not a secp256k1 secret key")]
    KeystoreKey {
        /// Length of the decrypted key.
        len: usize,
    },
    /// The key in the keystore does not belong to the address the file names.
    #[error("the keystore's key belongs to address {actual}, not to the {recorded} it records")]
    KeystoreAddressMismatch {
        /// The address in the file.
        recorded: String,
        /// The address of the decrypted key.
        actual: String,
    },
    /// A multibase prefix that is not supported (or text too short to have one).
    #[error("unsupported multibase encoding {0:?}")]
    UnsupportedMultibase(String),
    /// Text that does not decode in the multibase encoding its prefix names.
    #[error("invalid {base} text: {reason}")]
    Multibase {
        /// The encoding.
        base: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A multicodec key type other than secp256k1-pub (0xe7).
    #[error("unsupported public key type {0:#x} (only secp256k1-pub 0xe7 is supported)")]
    UnsupportedKeyType(u64),
    /// A missing, overlong or non-minimal unsigned varint.
    #[error("invalid multicodec varint")]
    Varint,
    /// Text or bytes that are not a secp256k1 public key in the expected form.
    #[error("invalid public key: {0}")]
    PublicKey(String),
    /// A PNG that is not the 8-bit RGBA form identicons use.
    #[error("invalid or unsupported PNG: {0}")]
    Png(&'static str),
    /// A primitive of the crypto layer failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Result type of this crate.
pub type Result<T, E = AccountsError> = std::result::Result<T, E>;
