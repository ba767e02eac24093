//! The error type of the secure-transport layer.

use wisp_crypto::CryptoError;

/// Errors of the secure transport.
///
/// Every malformed, forged, replayed or misdirected input maps to one of these; nothing in this
/// crate panics on input. A decryption that fails leaves every session as it was.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A primitive of the layer below failed (an invalid key or signature encoding, say).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Bytes that are not a valid protobuf message.
    #[error("invalid protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A field of the wrong length.
    #[error("invalid {field}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// The field (`"DR_header.key"`, `"bundle.identity"`, ...).
        field: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A field that should hold a secp256k1 public key holds no point on the curve.
    #[error("invalid public key in {field}")]
    InvalidKey {
        /// The field.
        field: &'static str,
    },
    /// A bundle whose signature does not recover to its identity key.
    #[error("bundle signature does not match its identity key")]
    BundleSignature,
    /// A bundle without any signed pre-key.
    #[error("bundle carries no signed pre-key")]
    EmptyBundle,
    /// The message holds nothing for this installation (5/SECURE-TRANSPORT §partitioned
    /// devices: answer with our bundle).
    #[error("message from another identity carries nothing for installation {installation_id}")]
    DeviceNotFound {
        /// Our installation id.
        installation_id: String,
    },
    /// Our own identity sent a message from an installation that is not paired with us.
    #[error("message from our identity but from unpaired installation {installation_id}")]
    NotPairedDevice {
        /// The sending installation.
        installation_id: String,
    },
    /// An X3DH header names a signed pre-key of ours that we do not have (or no longer have).
    #[error("X3DH header names unknown signed pre-key {bundle_id}")]
    UnknownSignedPreKey {
        /// Hex of the 33-byte key named.
        bundle_id: String,
    },
    /// A Double Ratchet header names a session we do not have.
    #[error("no session with installation {installation_id} for bundle {bundle_id}")]
    SessionNotFound {
        /// The sending installation.
        installation_id: String,
        /// Hex of the bundle id named by the header.
        bundle_id: String,
    },
    /// The message authentication code does not verify: wrong key, tampered or forged message.
    #[error("message authentication failed")]
    BadMac,
    /// A ciphertext shorter than its fixed overhead.
    #[error("ciphertext of {len} bytes is shorter than the {min}-byte overhead")]
    CiphertextTooShort {
        /// Length received.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// A message whose key was already used (a replay) or discarded (too old).
    #[error("message {n} of this chain was already received or its key was discarded")]
    Replay {
        /// The message number in its chain.
        n: u32,
    },
    /// A header starting a new chain that says the previous chain had fewer messages than were
    /// received from it: forged or corrupted (status-go: "bad until").
    #[error("header says the previous chain had {pn} messages, but {received} were received")]
    InconsistentHeader {
        /// The header's previous-chain length.
        pn: u32,
        /// Messages received on that chain.
        received: u32,
    },
    /// A header that would skip more message keys than allowed.
    #[error("header skips {skip} messages, at most {max} allowed")]
    TooManySkipped {
        /// How many keys the header would skip.
        skip: u64,
        /// [`crate::Config::max_skip`].
        max: u32,
    },
    /// A direct message with neither a Double Ratchet nor a DH header.
    #[error("direct message carries no key header")]
    NoKeyHeader,
    /// A protocol message with neither a public nor a direct message.
    #[error("protocol message carries no payload")]
    NoPayload,
    /// A DH-mode payload that does not decrypt (wrong key or tampered).
    #[error("DH-mode payload does not decrypt")]
    DhDecrypt,
    /// The session store failed; nothing was released and the sessions are unchanged.
    #[error("session store: {0}")]
    Store(#[from] StoreError),
}

/// A failure of a [`crate::Store`] implementation.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }

    /// An error caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
