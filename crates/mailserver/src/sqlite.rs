//! [`SqliteStore`]: the default archive, one SQLite file in the data directory.
//!
//! # Schema (version 1)
//!
//! ```sql
//! CREATE TABLE envelopes (
//!     sent  INTEGER NOT NULL,          -- expiry - ttl, Unix seconds
//!     hash  BLOB    NOT NULL,          -- keccak256(rlp), 32 bytes
//!     topic INTEGER NOT NULL,          -- the 4 topic bytes as a big-endian u32
//!     rlp   BLOB    NOT NULL,          -- the envelope as received
//!     PRIMARY KEY (sent, hash)
//! ) WITHOUT ROWID;
//! CREATE INDEX envelopes_topic_sent_hash ON envelopes (topic, sent, hash);
//! ```
//!
//! The table is clustered on (sent, hash), status-go's key order, so a time-range page is one
//! b-tree walk; the topic index makes a topic page one walk per topic. Deduplication is by the
//! primary key: the hash covers the RLP, which fixes `sent`, so one hash has one (sent, hash).
//! `wisp_schema (version, applied_at)` records the migrations applied.
//!
//! # Durability
//!
//! WAL mode with `synchronous = NORMAL` (the default, [`SqliteConfig::full_sync`] off): a commit
//! has written its pages into the WAL file with `write(2)` before `put` returns, and what the
//! kernel holds survives a crash or `kill -9` of the process (`tests/crash.rs` checks it); only
//! an OS crash or a power cut can lose the last commits before a checkpoint syncs them. That is
//! the contract of [`Store::put`]; operators who want power-loss durability set
//! [`SqliteConfig::full_sync`] (`synchronous = FULL`: one fsync of the WAL per `put`).
//!
//! # Concurrency
//!
//! rusqlite is blocking, so every call runs on `tokio::task::spawn_blocking`. One writer
//! connection (puts and retention take turns on it, a transaction each) and a small pool of
//! reader connections: in WAL mode readers see a consistent snapshot and never wait for the
//! writer.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, types::Type};
use wisp_waku::Topic;

use crate::store::{
    ArchivedEnvelope, BloomScan, Hit, MAX_DELETE_BATCH, Page, Query, Range, Selection, Store,
    StoreError, bloom_page, merge_hits, page_of,
};

/// The schema version this code writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// Topics per SQL statement of a topic query: each statement is a `UNION ALL` of one ordered
/// index walk per topic, merged by SQLite with `LIMIT` (it stops after `limit + 1` rows), and
/// the statements' results are merged here. A query reads at most
/// `ceil(topics / TOPIC_GROUP) * (limit + 1)` rows.
const TOPIC_GROUP: usize = 32;

const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE envelopes (
        sent  INTEGER NOT NULL,
        hash  BLOB    NOT NULL,
        topic INTEGER NOT NULL,
        rlp   BLOB    NOT NULL,
        PRIMARY KEY (sent, hash)
    ) WITHOUT ROWID;
    CREATE INDEX envelopes_topic_sent_hash ON envelopes (topic, sent, hash);",
)];

const SQL_INSERT: &str =
    "INSERT INTO envelopes (sent, hash, topic, rlp) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";
const SQL_RANGE: &str = "SELECT sent, hash, topic, rlp FROM envelopes \
     WHERE (sent, hash) > (?1, ?2) AND sent <= ?3 ORDER BY sent, hash LIMIT ?4";
const SQL_SCAN: &str = "SELECT sent, hash, topic FROM envelopes \
     WHERE (sent, hash) > (?1, ?2) AND sent <= ?3 ORDER BY sent, hash LIMIT ?4";
const SQL_GET: &str = "SELECT rlp FROM envelopes WHERE sent = ?1 AND hash = ?2";
const SQL_DELETE: &str = "DELETE FROM envelopes WHERE (sent, hash) IN \
     (SELECT sent, hash FROM envelopes WHERE sent < ?1 ORDER BY sent, hash LIMIT ?2)";

/// How to open the SQLite archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteConfig {
    /// `synchronous = FULL`: fsync the WAL on every commit, so archived envelopes also survive
    /// an OS crash or power cut. Default: off (`NORMAL`, which survives a process crash).
    pub full_sync: bool,
    /// Idle reader connections kept open. Default: 4.
    pub max_idle_readers: usize,
    /// Page cache of each reader connection, KiB. Default: 32 768 (32 MiB).
    pub cache_kib: u32,
    /// Page cache of the writer connection, KiB: inserts touch one leaf of the topic index per
    /// topic, so a larger cache keeps them hot. Default: 131 072 (128 MiB).
    pub writer_cache_kib: u32,
    /// WAL pages written before an automatic checkpoint copies them into the database. The
    /// same index pages are rewritten by commit after commit; a longer WAL lets one checkpoint
    /// copy each only once (this doubles ingest on a large archive). Default: 10 000 (~40 MiB).
    pub wal_autocheckpoint: u32,
    /// Bytes of the database file readers map into memory (`mmap_size`): pages are read
    /// without a system call each. 0 turns it off. Default: 1 GiB.
    pub mmap_bytes: u64,
    /// How long a statement waits for a lock held by another process. Default: 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            full_sync: false,
            max_idle_readers: 4,
            cache_kib: 32 * 1024,
            writer_cache_kib: 128 * 1024,
            wal_autocheckpoint: 10_000,
            mmap_bytes: 1 << 30,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

struct Inner {
    path: PathBuf,
    config: SqliteConfig,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

/// The SQLite archive. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend { backend: "sqlite", detail: e.to_string() }
}

fn join_err(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend { backend: "sqlite", detail: format!("blocking task failed: {e}") }
}

fn topic_int(topic: Topic) -> i64 {
    i64::from(u32::from_be_bytes(topic.0))
}

fn corrupt(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        Type::Blob,
        format!("corrupt archive row: {what}").into(),
    )
}

/// Reads `sent, hash, topic[, rlp]`.
fn hit_of(row: &rusqlite::Row<'_>, with_rlp: bool) -> rusqlite::Result<Hit> {
    let sent = u32::try_from(row.get::<_, i64>(0)?).map_err(|_| corrupt(0, "sent"))?;
    let hash: [u8; 32] = row.get_ref(1)?.as_blob()?.try_into().map_err(|_| corrupt(1, "hash"))?;
    let topic = u32::try_from(row.get::<_, i64>(2)?).map_err(|_| corrupt(2, "topic"))?;
    let rlp = if with_rlp { row.get(3)? } else { Vec::new() };
    Ok(Hit { sent, hash, topic: Topic(topic.to_be_bytes()), rlp })
}

fn configure(conn: &Connection, config: &SqliteConfig, writer: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(config.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(64);
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("could not enable WAL (journal_mode {mode})")),
        ));
    }
    let sync = if config.full_sync { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync};
         PRAGMA cache_size = -{};
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = {};
         PRAGMA query_only = {};",
        if writer { config.writer_cache_kib } else { config.cache_kib },
        config.mmap_bytes,
        if writer { 0 } else { 1 }
    ))?;
    if writer {
        // After a checkpoint, the WAL file is truncated back to at most 64 MiB.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {};
             PRAGMA journal_size_limit = 67108864;",
            config.wal_autocheckpoint
        ))?;
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS wisp_schema (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         );",
    )
    .map_err(sql_err)?;
    let found: i64 = tx
        .query_row("SELECT coalesce(max(version), 0) FROM wisp_schema", [], |r| r.get(0))
        .map_err(sql_err)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.execute_batch(sql).map_err(sql_err)?;
        tx.execute(
            "INSERT INTO wisp_schema (version, applied_at) VALUES (?1, unixepoch())",
            [version],
        )
        .map_err(sql_err)?;
        tracing::info!(target: "mailserver", version, "sqlite archive schema migrated");
    }
    tx.commit().map_err(sql_err)
}

impl SqliteStore {
    /// Opens (creating if missing) the archive at `path` with [`SqliteConfig::default`], and
    /// migrates its schema. Blocking: call it before the runtime starts, or from
    /// `spawn_blocking` (as [`crate::store::AnyStore::open`] does).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, SqliteConfig::default())
    }

    /// Opens the archive at `path` with `config`.
    pub fn open_with(path: impl AsRef<Path>, config: SqliteConfig) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut writer = Connection::open(&path).map_err(sql_err)?;
        configure(&writer, &config, true).map_err(sql_err)?;
        migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                config,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// The writer connection's `PRAGMA synchronous` as SQLite reports it: 1 (`NORMAL`) or 2
    /// (`FULL`, with [`SqliteConfig::full_sync`]).
    pub async fn synchronous(&self) -> Result<i64, StoreError> {
        self.write(|c| c.query_row("PRAGMA synchronous", [], |r| r.get(0))).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version recorded in the file.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| c.query_row("SELECT max(version) FROM wisp_schema", [], |r| r.get(0))).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while the lock was held rolled its transaction back (rusqlite's
            // `Transaction` drops to a rollback): the connection is still good.
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(join_err)?
        .map_err(sql_err)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => {
                    let c = Connection::open(&inner.path)?;
                    configure(&c, &inner.config, false)?;
                    c
                }
            };
            let out = f(&mut conn);
            let mut idle = inner.readers.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < inner.config.max_idle_readers {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(join_err)?
        .map_err(sql_err)
    }
}

fn put_blocking(conn: &mut Connection, envelopes: &[ArchivedEnvelope]) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut new = 0;
    {
        let mut stmt = tx.prepare_cached(SQL_INSERT)?;
        for e in envelopes {
            new +=
                stmt.execute(params![i64::from(e.sent), &e.hash[..], topic_int(e.topic), &e.rlp])?;
        }
    }
    tx.commit()?;
    Ok(new)
}

fn range_rows(
    conn: &Connection,
    sql: &str,
    range: &Range,
    n: usize,
    with_rlp: bool,
) -> rusqlite::Result<Vec<Hit>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(
        params![i64::from(range.after_sent), range.hash_bound(), i64::from(range.to), n as i64],
        |r| hit_of(r, with_rlp),
    )?;
    rows.collect()
}

fn topics_sql(n: usize) -> String {
    let arms: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "SELECT sent, hash, topic, rlp FROM envelopes \
                 WHERE topic = ?{} AND (sent, hash) > (?1, ?2) AND sent <= ?3",
                i + 5
            )
        })
        .collect();
    format!("{} ORDER BY sent, hash LIMIT ?4", arms.join(" UNION ALL "))
}

fn topic_rows(
    conn: &Connection,
    topics: &[Topic],
    range: &Range,
    n: usize,
) -> rusqlite::Result<Vec<Hit>> {
    let mut stmt = conn.prepare_cached(&topics_sql(topics.len()))?;
    stmt.raw_bind_parameter(1, i64::from(range.after_sent))?;
    stmt.raw_bind_parameter(2, range.hash_bound())?;
    stmt.raw_bind_parameter(3, i64::from(range.to))?;
    stmt.raw_bind_parameter(4, n as i64)?;
    for (i, t) in topics.iter().enumerate() {
        stmt.raw_bind_parameter(i + 5, topic_int(*t))?;
    }
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(hit_of(row, true)?);
    }
    Ok(out)
}

fn query_blocking(conn: &mut Connection, query: &Query) -> rusqlite::Result<Page> {
    let (Some(range), Some(selection)) = (Range::of(query), Selection::of(query)) else {
        return Ok(Page::default());
    };
    let limit = query.effective_limit();
    // One read transaction: every statement of the page sees the same snapshot.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let page = match selection {
        Selection::All => page_of(range_rows(&tx, SQL_RANGE, &range, limit + 1, true)?, limit),
        Selection::Topics(topics) => {
            let groups = topics
                .chunks(TOPIC_GROUP)
                .map(|group| topic_rows(&tx, group, &range, limit + 1))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            page_of(merge_hits(groups, limit + 1), limit)
        }
        Selection::Bloom(bloom) => {
            let mut scan = BloomScan::new(bloom, limit, range);
            while let Some((range, n)) = scan.next_chunk() {
                scan.feed(range_rows(&tx, SQL_SCAN, &range, n, false)?, n);
            }
            let (mut matched, capped) = scan.finish();
            let mut get = tx.prepare_cached(SQL_GET)?;
            for hit in &mut matched {
                hit.rlp = get
                    .query_row(params![i64::from(hit.sent), &hit.hash[..]], |r| r.get(0))
                    .optional()?
                    .unwrap_or_default();
            }
            bloom_page(matched, capped, limit)
        }
    };
    tx.finish()?;
    Ok(page)
}

impl Store for SqliteStore {
    async fn put(&self, envelopes: &[ArchivedEnvelope]) -> Result<usize, StoreError> {
        if envelopes.is_empty() {
            return Ok(0);
        }
        let envelopes = envelopes.to_vec();
        self.write(move |c| put_blocking(c, &envelopes)).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.read(move |c| query_blocking(c, &query)).await
    }

    async fn delete_before(&self, before: u32, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 || before == 0 {
            return Ok(0);
        }
        self.write(move |c| {
            let batch = i64::from(batch.min(MAX_DELETE_BATCH));
            let n = c.prepare_cached(SQL_DELETE)?.execute(params![i64::from(before), batch])?;
            Ok(n as u64)
        })
        .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.read(|c| c.query_row("SELECT count(*) FROM envelopes", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|n| n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plans the module docs promise: page queries walk an index in order, no sort.
    #[test]
    fn query_plans_use_the_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
        };
        let bind = |sql: &str| {
            sql.replace("?1", "1").replace("?2", "x''").replace("?3", "9").replace("?4", "10")
        };
        let range = plan(&bind(SQL_RANGE));
        assert!(range.contains("SEARCH envelopes USING PRIMARY KEY"), "{range}");
        assert!(!range.contains("TEMP B-TREE"), "{range}");
        let topics =
            plan(&bind(&topics_sql(3)).replace("?5", "1").replace("?6", "2").replace("?7", "3"));
        assert!(topics.contains("MERGE (UNION ALL)"), "{topics}");
        assert!(topics.contains("USING INDEX envelopes_topic_sent_hash"), "{topics}");
        assert!(!topics.contains("TEMP B-TREE"), "{topics}");
    }
}
