//! The envelope archive: a [`Store`] trait and its backends.
//!
//! Envelopes are keyed as status-go's mailserver keys them (`shared/vectors/waku/envelopes.json`,
//! `mailserver_db_row`): `uint32_be(sent) || hash(32) || topic(4)`, where `sent = expiry - ttl`.
//! Queries return envelopes in (sent, hash) order; a page ends with a [`Cursor`] (the key of its
//! last envelope) so the next page starts after it, even while new envelopes arrive.

use std::future::Future;

use wisp_waku::{Bloom, Topic};

/// An envelope as archived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedEnvelope {
    /// keccak256 of `rlp`.
    pub hash: [u8; 32],
    /// `expiry - ttl`, Unix seconds.
    pub sent: u32,
    /// The topic.
    pub topic: Topic,
    /// The envelope's RLP, as received.
    pub rlp: Vec<u8>,
}

/// Where a page ended: the (sent, hash) of its last envelope. Opaque to clients: on the wire it
/// is the 40-byte key `uint32_be(sent) || hash || topic` (status-go's form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The last envelope's sent time.
    pub sent: u32,
    /// Its hash.
    pub hash: [u8; 32],
    /// Its topic (kept for the wire form).
    pub topic: Topic,
}

/// A history query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Lowest sent time, inclusive.
    pub from: u32,
    /// Highest sent time, inclusive.
    pub to: u32,
    /// Only these topics; `None` means use `bloom`.
    pub topics: Option<Vec<Topic>>,
    /// Used when `topics` is `None`: envelopes whose topic matches it.
    pub bloom: Bloom,
    /// At most this many envelopes.
    pub limit: u32,
    /// Start after this envelope.
    pub after: Option<Cursor>,
}

/// One page of a query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The envelopes' RLP, in (sent, hash) order.
    pub envelopes: Vec<Vec<u8>>,
    /// Set when more envelopes match after this page.
    pub next: Option<Cursor>,
}

/// Why the archive failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (the message says which backend and what).
    #[error("{backend}: {detail}")]
    Backend {
        /// `sqlite`, `postgres` or `memory`.
        backend: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The schema is newer than this program understands.
    #[error("archive schema version {found} is newer than supported ({supported})")]
    SchemaTooNew {
        /// In the database.
        found: i64,
        /// What we know.
        supported: i64,
    },
}

/// An envelope archive. Every backend behaves the same (one test suite runs on all).
///
/// `put` returns only after the envelopes are durable: an envelope reported as archived
/// survives a crash of the process.
pub trait Store: Send + Sync + 'static {
    /// Archives envelopes, ignoring those already present (by hash); returns how many were new.
    fn put(&self, envelopes: &[ArchivedEnvelope]) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// One page of a query: at most `limit` envelopes with `from <= sent <= to`, matching the
    /// topics (or the bloom), after the cursor, in (sent, hash) order.
    fn query(&self, query: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Deletes up to `batch` envelopes sent before `before`; returns how many. Retention calls it
    /// in a loop so that ingestion never waits long.
    fn delete_before(&self, before: u32, batch: u32) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// How many envelopes are archived.
    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
