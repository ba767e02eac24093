//! The error type of the crypto layer.

/// Errors returned by the primitives of this crate.
///
/// Every failure of a decoder or of an authenticated decryption maps to one variant with the
/// fields that explain it; nothing in this crate panics on malformed input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A secret key is zero or not below the curve order `n`.
    #[error("invalid secp256k1 secret key (zero or not below the curve order)")]
    InvalidSecretKey,
    /// Bytes that do not encode a point on secp256k1 (or encode the point at infinity).
    #[error("invalid secp256k1 public key (not a point on the curve)")]
    InvalidPublicKey,
    /// A signature with `r` or `s` zero or not below the curve order, or that recovers no key.
    #[error("invalid ECDSA signature")]
    InvalidSignature,
    /// A recovery id outside {0, 1, 27, 28}.
    #[error("invalid signature recovery id {0} (expected 0, 1, 27 or 28)")]
    InvalidRecoveryId(u8),
    /// An input of the wrong length.
    #[error("invalid length of {what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// What was being decoded.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A hex string of the wrong length.
    #[error("invalid {what}: expected {expected} hex characters, got {got}")]
    InvalidHexLength {
        /// What was being parsed.
        what: &'static str,
        /// The number of hex characters required.
        expected: usize,
        /// The number of characters given.
        got: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid {what}: {character:?} at index {index} is not a hex digit")]
    InvalidHexCharacter {
        /// What was being parsed.
        what: &'static str,
        /// Position of the offending character (in chars).
        index: usize,
        /// The offending character.
        character: char,
    },
    /// An ECIES message shorter than the fixed overhead.
    #[error("ECIES message too short: {len} bytes, at least {min} required")]
    EciesTooShort {
        /// Length of the message.
        len: usize,
        /// Minimum length ([`crate::ecies::OVERHEAD`]).
        min: usize,
    },
    /// The ECIES HMAC does not match: wrong key, wrong shared MAC data, or a tampered message.
    #[error("ECIES MAC mismatch")]
    EciesMac,
    /// AES-GCM authentication failed: wrong key, nonce or AAD, or a tampered/truncated message.
    #[error("AES-GCM authentication failed")]
    AeadOpen,
    /// HKDF was asked for more output than it can produce (255 hash lengths).
    #[error("HKDF output of {len} bytes requested, at most {max} possible")]
    HkdfOutputTooLong {
        /// Requested output length.
        len: usize,
        /// Maximum output length for the hash.
        max: usize,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, CryptoError>;
