//! The errors of the messenger layer.

use wisp_crypto::CryptoError;

/// Everything that can go wrong in `wisp-messenger`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protobuf did not decode.
    #[error("{what} does not decode: {source}")]
    Decode {
        /// The message type.
        what: &'static str,
        /// What prost found.
        #[source]
        source: prost::DecodeError,
    },
    /// An input is larger than the limit for its kind (checked before decoding).
    #[error("{what} is {size} bytes, more than the {max} allowed")]
    TooBig {
        /// The message type.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An `ApplicationMetadataMessage` without a signature.
    #[error("application message is not signed")]
    Unsigned,
    /// An `ApplicationMetadataMessage` signature that is malformed or recovers to no key.
    #[error("application message signature does not recover: {0}")]
    BadSignature(#[source] CryptoError),
    /// An `ApplicationMetadataMessage` type unknown to status-go v0.79 (or `UNKNOWN`).
    #[error("unknown application message type {kind}")]
    UnknownType {
        /// The raw type number.
        kind: i32,
    },
    /// The secure transport (wisp-ratchet) refused an operation or a message.
    #[error("secure transport: {0}")]
    Ratchet(#[from] wisp_ratchet::Error),
    /// MVDS (wisp-mvds) refused an operation or a payload.
    #[error("mvds: {0}")]
    Mvds(#[from] wisp_mvds::Error),
    /// A message for a public chat that was not joined.
    #[error("public chat {name:?} is not joined")]
    NotJoined {
        /// The chat's name.
        name: String,
    },
    /// A chat name or text that cannot be sent.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was refused ("chat name", "text").
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The message database failed (or does not open: wrong key, newer schema).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A chat id the messenger does not know.
    #[error("no chat with id {id:?} (expected a joined public chat's name or a 1:1 chat id)")]
    UnknownChat {
        /// The id asked for.
        id: String,
    },
    /// A message id the store does not know.
    #[error("no message with id {id}")]
    UnknownMessage {
        /// The id asked for.
        id: crate::identity::MessageId,
    },
    /// An installation id no bundle of our account named.
    #[error(
        "no installation {id:?} of this account is known (expected one listed by \
         getOurInstallations, learnt from a PairInstallation or a message of that device)"
    )]
    UnknownInstallation {
        /// The id asked for.
        id: String,
    },
    /// A contact the store does not have.
    #[error("no contact {id} (expected a key added, blocked or heard from)")]
    UnknownContact {
        /// The contact's id (`0x` + 65-byte key hex).
        id: String,
    },
    /// An image or audio clip to send that is larger than [`crate::MAX_MEDIA_BYTES`].
    #[error("{what} is {size} bytes, more than the limit of {max} bytes (MAX_MEDIA_BYTES)")]
    MediaTooBig {
        /// "image" or "audio".
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An image or audio clip to send whose first bytes name no format status-go shows.
    #[error("{what} is not {expected} (its format is read from its first bytes)")]
    UnsupportedMedia {
        /// "image" or "audio".
        what: &'static str,
        /// The formats accepted.
        expected: &'static str,
    },
    /// The secure transport given to the messenger belongs to another identity.
    #[error("the secure transport is for another identity than the messenger's")]
    IdentityMismatch,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
