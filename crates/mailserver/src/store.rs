//! The envelope archive: a [`Store`] trait and its backends.
//!
//! Envelopes are keyed as status-go's mailserver keys them (`shared/vectors/waku/envelopes.json`,
//! `mailserver_db_row`): `uint32_be(sent) || hash(32) || topic(4)`, where `sent = expiry - ttl`.
//! Queries return envelopes in (sent, hash) order; a page ends with a [`Cursor`] (the key of its
//! last envelope) so the next page starts after it, even while new envelopes arrive.
//!
//! Backends: [`crate::memory::MemoryStore`], [`crate::sqlite::SqliteStore`] (the default) and
//! `crate::postgres::PostgresStore` (feature `postgres`), and [`AnyStore`] to pick one at run
//! time from an [`ArchiveSpec`]. Every backend caps pages at [`MAX_LIMIT`], bounds the work of
//! one query (see [`MAX_QUERY_TOPICS`], [`BLOOM_SCAN_LIMIT`]) and never panics on a query.

use std::{
    future::Future,
    path::{Path, PathBuf},
    str::FromStr,
};

use wisp_crypto::keccak256;
use wisp_waku::{Bloom, Envelope, EnvelopeError, TOPIC_LEN, Topic};

use crate::{
    memory::MemoryStore,
    sqlite::{SqliteConfig, SqliteStore},
};

/// Most envelopes one page holds (DECISIONS 10). Every backend caps `Query::limit` to it, and a
/// limit of 0 means it.
pub const MAX_LIMIT: u32 = 1000;

/// Most topics a query looks at (`8/WAKU-MAIL`: `*1000topic`). Topics past the first 1000
/// distinct ones are ignored; the request decoder refuses such requests anyway.
pub const MAX_QUERY_TOPICS: usize = 1000;

/// Most archived envelopes one bloom query (`topics` empty) examines. A bloom cannot use the
/// topic index, so the archive walks the time range in (sent, hash) order and tests each
/// envelope's topic against the bloom; after this many it stops and returns what it found with
/// a cursor, which may then hold fewer than `limit` envelopes (even none) although more match
/// further on. The full bloom (a full node's) matches everything and never scans.
pub const BLOOM_SCAN_LIMIT: usize = 10_000;

/// Most envelopes one [`Store::delete_before`] call deletes, whatever batch it is given: one
/// transaction stays short.
pub const MAX_DELETE_BATCH: u32 = 100_000;

/// Bytes in a [`Cursor`] on the wire: `uint32_be(sent) || hash(32) || topic(4)`.
pub const CURSOR_LEN: usize = 4 + 32 + TOPIC_LEN;

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

impl ArchivedEnvelope {
    /// An envelope to archive; `hash` is [`Envelope::hash`] (the hash of its canonical RLP).
    pub fn new(envelope: &Envelope) -> Self {
        let rlp = envelope.to_rlp();
        Self { hash: keccak256(&rlp), sent: envelope.sent(), topic: envelope.topic, rlp }
    }

    /// An envelope to archive from its RLP as received: decoded (with the default 1 MiB limit)
    /// for its sent time and topic, hashed as is.
    pub fn from_rlp(rlp: &[u8]) -> Result<Self, EnvelopeError> {
        let mut buf = rlp;
        let envelope = Envelope::decode(&mut buf)?;
        let rlp = &rlp[..rlp.len() - buf.len()];
        Ok(Self {
            hash: keccak256(rlp),
            sent: envelope.sent(),
            topic: envelope.topic,
            rlp: rlp.to_vec(),
        })
    }

    /// The cursor that points at this envelope (a page ending here resumes after it).
    pub fn cursor(&self) -> Cursor {
        Cursor { sent: self.sent, hash: self.hash, topic: self.topic }
    }
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

impl Cursor {
    /// The 40-byte wire form, status-go's archive key: `uint32_be(sent) || hash || topic`.
    pub fn to_bytes(&self) -> [u8; CURSOR_LEN] {
        let mut out = [0u8; CURSOR_LEN];
        out[..4].copy_from_slice(&self.sent.to_be_bytes());
        out[4..36].copy_from_slice(&self.hash);
        out[36..].copy_from_slice(&self.topic.0);
        out
    }

    /// Reads the wire form; `None` unless `bytes` is exactly [`CURSOR_LEN`] bytes. Any 40 bytes
    /// are a valid position: a cursor that names no archived envelope resumes after the place it
    /// would have had.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; CURSOR_LEN] = bytes.try_into().ok()?;
        let mut sent = [0u8; 4];
        sent.copy_from_slice(&bytes[..4]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[4..36]);
        let mut topic = [0u8; TOPIC_LEN];
        topic.copy_from_slice(&bytes[36..]);
        Some(Self { sent: u32::from_be_bytes(sent), hash, topic: Topic(topic) })
    }
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

impl Query {
    /// Everything sent in `from..=to`: the full bloom, no topics, [`MAX_LIMIT`], from the start.
    pub fn new(from: u32, to: u32) -> Self {
        Self { from, to, topics: None, bloom: Bloom::FULL, limit: MAX_LIMIT, after: None }
    }

    /// The page size every backend uses: `limit` capped at [`MAX_LIMIT`], 0 meaning
    /// [`MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => MAX_LIMIT as usize,
            n => n.min(MAX_LIMIT) as usize,
        }
    }
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
    fn put(
        &self,
        envelopes: &[ArchivedEnvelope],
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// One page of a query: at most `limit` envelopes with `from <= sent <= to`, matching the
    /// topics (or the bloom), after the cursor, in (sent, hash) order.
    fn query(&self, query: &Query) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Deletes up to `batch` envelopes sent before `before`; returns how many. Retention calls it
    /// in a loop so that ingestion never waits long.
    fn delete_before(
        &self,
        before: u32,
        batch: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// How many envelopes are archived.
    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Which archive to open, as the node's `--archive` flag spells it: `memory`, `sqlite` (the
/// default: [`DEFAULT_SQLITE_FILE`] in the data directory), `sqlite:PATH`, or a PostgreSQL URL
/// `postgres://user@host:port/db` (`postgresql://` too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ArchiveSpec {
    /// [`MemoryStore`]: lost on exit; for tests and light experiments.
    Memory,
    /// [`SqliteStore`] in [`DEFAULT_SQLITE_FILE`] of the data directory.
    #[default]
    Sqlite,
    /// [`SqliteStore`] at this path.
    SqliteAt(PathBuf),
    /// [`crate::postgres::PostgresStore`] at this URL.
    Postgres(String),
}

/// The SQLite archive's file name in the data directory (WAL mode adds `-wal` and `-shm` beside
/// it).
pub const DEFAULT_SQLITE_FILE: &str = "archive.sqlite";

/// An `--archive` value was not one of the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("archive must be `memory`, `sqlite`, `sqlite:PATH` or `postgres://...`, got {0:?}")]
pub struct ArchiveSpecError(pub String);

impl FromStr for ArchiveSpec {
    type Err = ArchiveSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(Self::Memory),
            "sqlite" => Ok(Self::Sqlite),
            _ if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Ok(Self::Postgres(s.to_owned()))
            }
            _ => match s.strip_prefix("sqlite:") {
                Some(path) if !path.is_empty() => Ok(Self::SqliteAt(PathBuf::from(path))),
                _ => Err(ArchiveSpecError(s.to_owned())),
            },
        }
    }
}

/// Any backend, chosen at run time (`--archive`); implements [`Store`] by delegation.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// In memory.
    Memory(MemoryStore),
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::PostgresStore),
}

impl AnyStore {
    /// Opens the archive `spec` names; relative SQLite paths are taken as they are (relative to
    /// the working directory), the default file lives in `data_dir`.
    pub async fn open(spec: &ArchiveSpec, data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(spec, data_dir, SqliteConfig::default()).await
    }

    /// Opens the archive `spec` names, a SQLite one with `sqlite` (the other backends ignore
    /// it).
    pub async fn open_with(
        spec: &ArchiveSpec,
        data_dir: &Path,
        sqlite: SqliteConfig,
    ) -> Result<Self, StoreError> {
        let open_sqlite = |path: PathBuf| async move {
            tokio::task::spawn_blocking(move || SqliteStore::open_with(path, sqlite))
                .await
                .map_err(|e| StoreError::Backend { backend: "sqlite", detail: e.to_string() })?
        };
        Ok(match spec {
            ArchiveSpec::Memory => Self::Memory(MemoryStore::new()),
            ArchiveSpec::Sqlite => {
                Self::Sqlite(open_sqlite(data_dir.join(DEFAULT_SQLITE_FILE)).await?)
            }
            ArchiveSpec::SqliteAt(path) => Self::Sqlite(open_sqlite(path.clone()).await?),
            #[cfg(feature = "postgres")]
            ArchiveSpec::Postgres(url) => {
                Self::Postgres(crate::postgres::PostgresStore::connect(url).await?)
            }
            #[cfg(not(feature = "postgres"))]
            ArchiveSpec::Postgres(_) => {
                return Err(StoreError::Backend {
                    backend: "postgres",
                    detail: "built without the `postgres` feature".to_owned(),
                });
            }
        })
    }

    /// The backend's name: `memory`, `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => "postgres",
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Memory($s) => $e.await,
            AnyStore::Sqlite($s) => $e.await,
            #[cfg(feature = "postgres")]
            AnyStore::Postgres($s) => $e.await,
        }
    };
}

impl Store for AnyStore {
    async fn put(&self, envelopes: &[ArchivedEnvelope]) -> Result<usize, StoreError> {
        delegate!(self, s => s.put(envelopes))
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        delegate!(self, s => s.query(query))
    }

    async fn delete_before(&self, before: u32, batch: u32) -> Result<u64, StoreError> {
        delegate!(self, s => s.delete_before(before, batch))
    }

    async fn count(&self) -> Result<u64, StoreError> {
        delegate!(self, s => s.count())
    }
}

// ---- What every backend shares: query planning and page assembly. ----

/// One archived envelope as a backend reads it (`rlp` may be empty in a bloom scan's first pass).
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) sent: u32,
    pub(crate) hash: [u8; 32],
    pub(crate) topic: Topic,
    pub(crate) rlp: Vec<u8>,
}

impl Hit {
    pub(crate) fn key(&self) -> (u32, [u8; 32]) {
        (self.sent, self.hash)
    }

    fn cursor(&self) -> Cursor {
        Cursor { sent: self.sent, hash: self.hash, topic: self.topic }
    }
}

/// Where a page starts (exclusive lower key) and ends (inclusive highest sent time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    /// Rows with `(sent, hash) > (after_sent, after_hash)`.
    pub(crate) after_sent: u32,
    /// `None`: every hash of `after_sent` is included (`sent >= after_sent`).
    pub(crate) after_hash: Option<[u8; 32]>,
    /// Highest sent time, inclusive.
    pub(crate) to: u32,
}

impl Range {
    /// The range of a query, `None` when it is empty (reversed, or the cursor past `to`).
    pub(crate) fn of(query: &Query) -> Option<Self> {
        if query.from > query.to {
            return None;
        }
        let (after_sent, after_hash) = match query.after {
            Some(c) if c.sent > query.to => return None,
            Some(c) if c.sent >= query.from => (c.sent, Some(c.hash)),
            _ => (query.from, None),
        };
        Some(Self { after_sent, after_hash, to: query.to })
    }

    /// Moves the start past `hit`.
    pub(crate) fn advance(&mut self, sent: u32, hash: [u8; 32]) {
        self.after_sent = sent;
        self.after_hash = Some(hash);
    }

    /// The hash half of the SQL bound `(sent, hash) > (?, ?)`: the empty blob sorts before
    /// every 32-byte hash, so `(s, '')` means "sent >= s".
    pub(crate) fn hash_bound(&self) -> &[u8] {
        match &self.after_hash {
            Some(h) => h,
            None => &[],
        }
    }
}

/// Which envelopes of the range a query wants.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Selection {
    /// Everything (the full bloom).
    All,
    /// These topics (sorted, distinct, at most [`MAX_QUERY_TOPICS`]).
    Topics(Vec<Topic>),
    /// Topics matching this (neither full nor empty) bloom.
    Bloom(Bloom),
}

impl Selection {
    /// `None` when nothing can match (the empty bloom).
    pub(crate) fn of(query: &Query) -> Option<Self> {
        match &query.topics {
            Some(topics) if !topics.is_empty() => {
                let mut t = topics.clone();
                t.sort_unstable();
                t.dedup();
                if t.len() > MAX_QUERY_TOPICS {
                    tracing::debug!(target: "mailserver", topics = t.len(), "query topics capped");
                    t.truncate(MAX_QUERY_TOPICS);
                }
                Some(Self::Topics(t))
            }
            _ if query.bloom.is_full() => Some(Self::All),
            _ if query.bloom.is_empty() => None,
            _ => Some(Self::Bloom(query.bloom)),
        }
    }
}

/// Cuts sorted hits (at most `limit + 1`) into a page: the `limit + 1`-th only says more follow.
pub(crate) fn page_of(mut hits: Vec<Hit>, limit: usize) -> Page {
    let next = if hits.len() > limit {
        hits.truncate(limit);
        hits.last().map(Hit::cursor)
    } else {
        None
    };
    Page { envelopes: hits.into_iter().map(|h| h.rlp).collect(), next }
}

/// Merges per-topic-group results (each sorted, keys distinct across groups) and keeps the first
/// `take`.
pub(crate) fn merge_hits(groups: Vec<Vec<Hit>>, take: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> = groups.into_iter().flatten().collect();
    all.sort_unstable_by_key(Hit::key);
    all.truncate(take);
    all
}

/// Rows a bloom scan reads per round trip.
pub(crate) const BLOOM_SCAN_CHUNK: usize = 1000;

/// A bloom query's bounded walk over the range, shared by the backends: ask
/// [`BloomScan::next_chunk`] what to read, [`BloomScan::feed`] it the rows (key and topic; the
/// RLP is fetched afterwards for the matches only), and [`BloomScan::finish`].
#[derive(Debug)]
pub(crate) struct BloomScan {
    bloom: Bloom,
    limit: usize,
    range: Range,
    matched: Vec<Hit>,
    scanned: usize,
    last: Option<Cursor>,
    ended: bool,
}

impl BloomScan {
    pub(crate) fn new(bloom: Bloom, limit: usize, range: Range) -> Self {
        Self { bloom, limit, range, matched: Vec::new(), scanned: 0, last: None, ended: false }
    }

    /// The range and row count to read next, `None` when done.
    pub(crate) fn next_chunk(&self) -> Option<(Range, usize)> {
        if self.ended || self.matched.len() > self.limit || self.scanned >= BLOOM_SCAN_LIMIT {
            return None;
        }
        Some((self.range, BLOOM_SCAN_CHUNK.min(BLOOM_SCAN_LIMIT - self.scanned)))
    }

    /// The rows read for [`Self::next_chunk`]`'s` request, in (sent, hash) order.
    pub(crate) fn feed(&mut self, rows: Vec<Hit>, asked: usize) {
        if rows.len() < asked {
            self.ended = true;
        }
        for row in rows {
            self.scanned += 1;
            self.range.advance(row.sent, row.hash);
            self.last = Some(row.cursor());
            if self.bloom.matches(&row.topic) {
                self.matched.push(row);
                if self.matched.len() > self.limit {
                    return;
                }
            }
        }
    }

    /// The matches (at most `limit + 1`, in order) and the cursor to report when the scan
    /// stopped at its cap before the range ended.
    pub(crate) fn finish(self) -> (Vec<Hit>, Option<Cursor>) {
        let capped = !self.ended && self.matched.len() <= self.limit;
        (self.matched, if capped { self.last } else { None })
    }
}

/// Builds the page of a bloom scan once the matches carry their RLP.
pub(crate) fn bloom_page(matched: Vec<Hit>, capped_at: Option<Cursor>, limit: usize) -> Page {
    let mut page = page_of(matched, limit);
    if page.next.is_none() {
        page.next = capped_at;
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_status_go_key() {
        // shared/vectors/waku/envelopes.json, vectors[0].mailserver_db_row.id
        let id = "6b025461513c3858153f1531765fe32e122d1a96c527984a28da55e423f9d07632127fbc12345678";
        let bytes = hex_decode(id);
        let c = Cursor::from_bytes(&bytes).unwrap();
        assert_eq!(c.sent, 0x6b02_5461);
        assert_eq!(c.topic, Topic([0x12, 0x34, 0x56, 0x78]));
        assert_eq!(c.to_bytes().to_vec(), bytes);
        assert!(Cursor::from_bytes(&bytes[..39]).is_none());
        assert!(Cursor::from_bytes(&[]).is_none());
    }

    #[test]
    fn effective_limit_caps() {
        let mut q = Query::new(0, 1);
        for (limit, want) in [(0, 1000), (1, 1), (1000, 1000), (1001, 1000), (u32::MAX, 1000)] {
            q.limit = limit;
            assert_eq!(q.effective_limit(), want);
        }
    }

    #[test]
    fn range_bounds() {
        let mut q = Query::new(10, 5);
        assert_eq!(Range::of(&q), None);
        q.to = 20;
        assert_eq!(Range::of(&q).unwrap().after_hash, None);
        q.after = Some(Cursor { sent: 21, hash: [1; 32], topic: Topic::default() });
        assert_eq!(Range::of(&q), None);
        q.after = Some(Cursor { sent: 3, hash: [1; 32], topic: Topic::default() });
        assert_eq!(Range::of(&q).unwrap().after_sent, 10);
        q.after = Some(Cursor { sent: 12, hash: [1; 32], topic: Topic::default() });
        assert_eq!(Range::of(&q).unwrap().hash_bound(), &[1; 32]);
    }

    #[test]
    fn spec_parses() {
        assert_eq!("memory".parse(), Ok(ArchiveSpec::Memory));
        assert_eq!("sqlite".parse(), Ok(ArchiveSpec::Sqlite));
        assert_eq!("sqlite:/x/a.db".parse(), Ok(ArchiveSpec::SqliteAt("/x/a.db".into())));
        assert_eq!(
            "postgres://wisp@127.0.0.1:5432/wisp".parse(),
            Ok(ArchiveSpec::Postgres("postgres://wisp@127.0.0.1:5432/wisp".into()))
        );
        assert!("sqlite:".parse::<ArchiveSpec>().is_err());
        assert!("mysql://x".parse::<ArchiveSpec>().is_err());
    }

    fn hex_decode(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
