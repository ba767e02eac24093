//! The one error type of this layer.

use crate::wire::GroupId;

/// Everything that can go wrong in `wisp-mvds`: bad input from a peer, or a failing store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A payload (or stored message) is larger than the configured limit; checked before
    /// decoding.
    #[error("payload of {size} bytes exceeds the limit of {max} bytes")]
    PayloadTooBig {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A payload carries more records than the configured limit.
    #[error("payload carries {count} records, more than the limit of {max}")]
    TooManyRecords {
        /// Records in the payload.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a valid protobuf `Payload` / `Message`.
    #[error("invalid MVDS protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A message id (ack, offer, request or parent) is not 32 bytes long.
    #[error("message id of {len} bytes, expected 32")]
    InvalidMessageId {
        /// Its length.
        len: usize,
    },
    /// A group id is not 32 bytes long.
    #[error("group id of {len} bytes, expected 32")]
    InvalidGroupId {
        /// Its length.
        len: usize,
    },
    /// A message was sent to a group that has no peer: nobody would receive it.
    #[error("group {group} has no peers")]
    NoPeers {
        /// The group.
        group: GroupId,
    },
    /// The SQLite store failed.
    #[cfg(feature = "sqlite")]
    #[error("sqlite store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer schema than this build knows.
    #[error("store schema version {found} is not supported (this build knows {supported})")]
    SchemaVersion {
        /// Version found in the database.
        found: i64,
        /// Version this build writes.
        supported: i64,
    },
    /// A stored value is malformed (e.g. an id of the wrong length).
    #[error("corrupt store: {what}")]
    CorruptStore {
        /// What was wrong.
        what: &'static str,
    },
    /// Another [`crate::Store`] implementation failed.
    #[error("store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
}
