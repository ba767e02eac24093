//! [`PostgresStore`]: the archive in PostgreSQL, for operators who outgrow one disk.
//!
//! # Schema (version 1)
//!
//! ```sql
//! CREATE TABLE envelopes (
//!     sent  BIGINT  NOT NULL,          -- expiry - ttl, Unix seconds (a u32)
//!     hash  BYTEA   NOT NULL,          -- keccak256(rlp), 32 bytes
//!     topic INTEGER NOT NULL,          -- the 4 topic bytes, big endian, as an i32 bit pattern
//!     rlp   BYTEA   NOT NULL,          -- the envelope as received
//!     PRIMARY KEY (sent, hash) INCLUDE (topic)
//! );
//! CREATE INDEX envelopes_topic_sent_hash ON envelopes (topic, sent, hash);
//! ```
//!
//! The same shape as the SQLite archive: pages walk the primary key (time ranges, and bloom
//! scans as index-only scans thanks to `INCLUDE (topic)`) or the topic index in (sent, hash)
//! order; a topic page is a `UNION ALL` of per-topic walks that PostgreSQL merges (Merge Append)
//! and stops after `limit + 1` rows. Inserts are `INSERT ... ON CONFLICT DO NOTHING` from
//! `unnest` arrays, one statement per 1000 envelopes, one transaction per `put`.
//! `wisp_schema (version, applied_at)` records migrations, applied under an advisory lock so
//! that nodes sharing a database do not race.
//!
//! Durability: a `put` returns after its transaction committed, and PostgreSQL's commit (with
//! the default `synchronous_commit = on`) has flushed the WAL to disk.
//!
//! Connections are plain TCP, Unix sockets, or TLS as the URL's `sslmode` says (`disable`,
//! `prefer` (the default), `require`, `verify-ca`, `verify-full` with `sslrootcert=PATH`; see
//! `pg_tls.rs` for what each checks).

use std::{fmt, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{Row, types::ToSql};
use wisp_waku::Topic;

use crate::{
    pg_tls::{RustlsConnect, SslMode, split_url},
    store::{
        ArchivedEnvelope, BloomScan, Hit, MAX_DELETE_BATCH, Page, Query, Range, Selection, Store,
        StoreError, bloom_page, merge_hits, page_of,
    },
};

/// The schema version this code writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// Topics per SQL statement of a topic query (see the module docs).
const TOPIC_GROUP: usize = 32;

/// Envelopes per `INSERT` statement.
const INSERT_CHUNK: usize = 1000;

/// The advisory lock key that serialises migrations ("wisp" in ASCII).
const MIGRATION_LOCK: i64 = 0x7769_7370;

const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE envelopes (
        sent  BIGINT  NOT NULL,
        hash  BYTEA   NOT NULL,
        topic INTEGER NOT NULL,
        rlp   BYTEA   NOT NULL,
        PRIMARY KEY (sent, hash) INCLUDE (topic)
    );
    CREATE INDEX envelopes_topic_sent_hash ON envelopes (topic, sent, hash);",
)];

const SQL_INSERT: &str = "INSERT INTO envelopes (sent, hash, topic, rlp) \
     SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::integer[], $4::bytea[]) \
     ON CONFLICT DO NOTHING";
const SQL_RANGE: &str = "SELECT sent, hash, topic, rlp FROM envelopes \
     WHERE (sent, hash) > ($1::bigint, $2::bytea) AND sent <= $3::bigint \
     ORDER BY sent, hash LIMIT $4::bigint";
const SQL_SCAN: &str = "SELECT sent, hash, topic FROM envelopes \
     WHERE (sent, hash) > ($1::bigint, $2::bytea) AND sent <= $3::bigint \
     ORDER BY sent, hash LIMIT $4::bigint";
// Hashes fix their sent times, so the rows with a sent time in $1 and a hash in $2 are exactly
// the requested ones; both arrays bind to the primary key.
const SQL_GET: &str = "SELECT sent, hash, topic, rlp FROM envelopes \
     WHERE sent = ANY($1::bigint[]) AND hash = ANY($2::bytea[])";
const SQL_DELETE: &str = "DELETE FROM envelopes WHERE (sent, hash) IN \
     (SELECT sent, hash FROM envelopes WHERE sent < $1::bigint ORDER BY sent, hash LIMIT $2::bigint)";

/// How to connect to the PostgreSQL archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// Most connections in the pool. Default: 16.
    pub pool_size: usize,
    /// Keep the tables in this schema (created if missing) instead of the connection's
    /// `search_path`: lets several archives share a database (the tests use one each). Letters,
    /// digits and `_` only. Default: none.
    pub schema: Option<String>,
    /// How long to wait for a connection. Default: 10 s.
    pub connect_timeout: Duration,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self { pool_size: 16, schema: None, connect_timeout: Duration::from_secs(10) }
    }
}

/// The PostgreSQL archive. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    schema: Option<String>,
    ssl_mode: SslMode,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("schema", &self.schema).finish_non_exhaustive()
    }
}

fn pg_err(e: impl fmt::Display) -> StoreError {
    StoreError::Backend { backend: "postgres", detail: e.to_string() }
}

/// An error with its sources (tokio-postgres keeps the cause of a failed connect, e.g. "server
/// does not support TLS" or the certificate problem, in `source()`).
fn with_sources(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    pg_err(with_sources(&e))
}

fn db_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => pg_err(format!("{}: {}", db.code().code(), db.message())),
        None => pg_err(e),
    }
}

fn topic_int(topic: Topic) -> i32 {
    i32::from_be_bytes(topic.0)
}

fn hit_of(row: &Row, with_rlp: bool) -> Result<Hit, StoreError> {
    let corrupt = |what: &str| pg_err(format!("corrupt archive row: {what}"));
    let sent =
        u32::try_from(row.try_get::<_, i64>(0).map_err(db_err)?).map_err(|_| corrupt("sent"))?;
    let hash: [u8; 32] =
        row.try_get::<_, &[u8]>(1).map_err(db_err)?.try_into().map_err(|_| corrupt("hash"))?;
    let topic = Topic(row.try_get::<_, i32>(2).map_err(db_err)?.to_be_bytes());
    let rlp = if with_rlp { row.try_get::<_, Vec<u8>>(3).map_err(db_err)? } else { Vec::new() };
    Ok(Hit { sent, hash, topic, rlp })
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn topics_sql(n: usize) -> String {
    if n == 1 {
        return "SELECT sent, hash, topic, rlp FROM envelopes WHERE topic = $5::integer \
                AND (sent, hash) > ($1::bigint, $2::bytea) AND sent <= $3::bigint \
                ORDER BY sent, hash LIMIT $4::bigint"
            .to_owned();
    }
    let arms: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "(SELECT sent, hash, topic, rlp FROM envelopes WHERE topic = ${}::integer \
                 AND (sent, hash) > ($1::bigint, $2::bytea) AND sent <= $3::bigint \
                 ORDER BY sent, hash LIMIT $4::bigint)",
                i + 5
            )
        })
        .collect();
    format!("{} ORDER BY sent, hash LIMIT $4::bigint", arms.join(" UNION ALL "))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user[:password]@host:port/db[?sslmode=MODE]`, or any form
    /// tokio-postgres accepts) with [`PostgresConfig::default`] and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresConfig::default()).await
    }

    /// Connects with `config`.
    pub async fn connect_with(url: &str, config: PostgresConfig) -> Result<Self, StoreError> {
        let (url, tls) = split_url(url)?;
        let mut pg: tokio_postgres::Config = url.parse().map_err(pg_err)?;
        pg.connect_timeout(config.connect_timeout);
        if let Some(schema) = &config.schema {
            if !valid_schema_name(schema) {
                return Err(pg_err(format!("invalid schema name {schema:?}")));
            }
            let options = match pg.get_options() {
                Some(o) => format!("{o} -c search_path={schema}"),
                None => format!("-c search_path={schema}"),
            };
            pg.options(options);
        }
        let manager = Manager::from_config(
            pg,
            RustlsConnect::new(&tls)?,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool =
            Pool::builder(manager).max_size(config.pool_size.max(1)).build().map_err(pg_err)?;
        let store = Self { pool, schema: config.schema, ssl_mode: tls.mode };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(|e| {
            pg_err(format!(
                "cannot connect (sslmode={}): {}",
                self.ssl_mode.as_str(),
                with_sources(&e)
            ))
        })?;
        let tx = client.transaction().await.map_err(db_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
        if let Some(schema) = &self.schema {
            // Checked by `valid_schema_name`: no quoting needed.
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(db_err)?;
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS wisp_schema (
                 version    BIGINT PRIMARY KEY,
                 applied_at BIGINT NOT NULL
             )",
        )
        .await
        .map_err(db_err)?;
        let found: i64 = tx
            .query_one("SELECT coalesce(max(version), 0)::bigint FROM wisp_schema", &[])
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
            tx.batch_execute(sql).await.map_err(db_err)?;
            tx.execute(
                "INSERT INTO wisp_schema (version, applied_at) \
                 VALUES ($1, extract(epoch FROM now())::bigint)",
                &[version],
            )
            .await
            .map_err(db_err)?;
            tracing::info!(target: "mailserver", version, "postgres archive schema migrated");
        }
        tx.commit().await.map_err(db_err)
    }

    /// The schema version recorded in the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        client
            .query_one("SELECT max(version)::bigint FROM wisp_schema", &[])
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)
    }

    /// The schema the tables live in, if one was configured.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Drops the configured schema and every table in it (the archive is gone); an error if no
    /// schema was configured. For tests and decommissioning.
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let Some(schema) = &self.schema else {
            return Err(pg_err("no schema configured: nothing to drop"));
        };
        let client = self.pool.get().await.map_err(pool_err)?;
        // Checked by `valid_schema_name`: no quoting needed.
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .map_err(db_err)
    }

    /// Whether the connections of the pool use TLS (`pg_stat_ssl` of one of them).
    pub async fn uses_tls(&self) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        client
            .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)
    }
}

impl Store for PostgresStore {
    async fn put(&self, envelopes: &[ArchivedEnvelope]) -> Result<usize, StoreError> {
        if envelopes.is_empty() {
            return Ok(0);
        }
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(db_err)?;
        let stmt = tx.prepare_cached(SQL_INSERT).await.map_err(db_err)?;
        let mut new = 0u64;
        for chunk in envelopes.chunks(INSERT_CHUNK) {
            let sent: Vec<i64> = chunk.iter().map(|e| i64::from(e.sent)).collect();
            let hash: Vec<&[u8]> = chunk.iter().map(|e| &e.hash[..]).collect();
            let topic: Vec<i32> = chunk.iter().map(|e| topic_int(e.topic)).collect();
            let rlp: Vec<&[u8]> = chunk.iter().map(|e| &e.rlp[..]).collect();
            new += tx.execute(&stmt, &[&sent, &hash, &topic, &rlp]).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(new as usize)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let (Some(range), Some(selection)) = (Range::of(query), Selection::of(query)) else {
            return Ok(Page::default());
        };
        let limit = query.effective_limit();
        let client = self.pool.get().await.map_err(pool_err)?;
        Ok(match selection {
            Selection::All => {
                let stmt = client.prepare_cached(SQL_RANGE).await.map_err(db_err)?;
                let rows = client
                    .query(
                        &stmt,
                        &[
                            &i64::from(range.after_sent),
                            &range.hash_bound(),
                            &i64::from(range.to),
                            &((limit + 1) as i64),
                        ],
                    )
                    .await
                    .map_err(db_err)?;
                page_of(rows.iter().map(|r| hit_of(r, true)).collect::<Result<_, _>>()?, limit)
            }
            Selection::Topics(topics) => {
                let after_sent = i64::from(range.after_sent);
                let to = i64::from(range.to);
                let n = (limit + 1) as i64;
                let hash_bound = range.hash_bound();
                let mut groups = Vec::new();
                for group in topics.chunks(TOPIC_GROUP) {
                    let stmt =
                        client.prepare_cached(&topics_sql(group.len())).await.map_err(db_err)?;
                    let ints: Vec<i32> = group.iter().map(|t| topic_int(*t)).collect();
                    let mut params: Vec<&(dyn ToSql + Sync)> =
                        vec![&after_sent, &hash_bound, &to, &n];
                    params.extend(ints.iter().map(|t| t as &(dyn ToSql + Sync)));
                    let rows = client.query(&stmt, &params).await.map_err(db_err)?;
                    groups
                        .push(rows.iter().map(|r| hit_of(r, true)).collect::<Result<Vec<_>, _>>()?);
                }
                page_of(merge_hits(groups, limit + 1), limit)
            }
            Selection::Bloom(bloom) => {
                let stmt = client.prepare_cached(SQL_SCAN).await.map_err(db_err)?;
                let mut scan = BloomScan::new(bloom, limit, range);
                while let Some((range, n)) = scan.next_chunk() {
                    let rows = client
                        .query(
                            &stmt,
                            &[
                                &i64::from(range.after_sent),
                                &range.hash_bound(),
                                &i64::from(range.to),
                                &(n as i64),
                            ],
                        )
                        .await
                        .map_err(db_err)?;
                    scan.feed(rows.iter().map(|r| hit_of(r, false)).collect::<Result<_, _>>()?, n);
                }
                let (matched, capped) = scan.finish();
                let matched = if matched.is_empty() {
                    matched
                } else {
                    let sent: Vec<i64> = matched.iter().map(|h| i64::from(h.sent)).collect();
                    let hash: Vec<&[u8]> = matched.iter().map(|h| &h.hash[..]).collect();
                    let stmt = client.prepare_cached(SQL_GET).await.map_err(db_err)?;
                    let rows = client.query(&stmt, &[&sent, &hash]).await.map_err(db_err)?;
                    let mut full =
                        rows.iter().map(|r| hit_of(r, true)).collect::<Result<Vec<_>, _>>()?;
                    // Retention may have removed some between the two statements: fine.
                    full.sort_unstable_by_key(Hit::key);
                    full
                };
                bloom_page(matched, capped, limit)
            }
        })
    }

    async fn delete_before(&self, before: u32, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 || before == 0 {
            return Ok(0);
        }
        let client = self.pool.get().await.map_err(pool_err)?;
        let stmt = client.prepare_cached(SQL_DELETE).await.map_err(db_err)?;
        client
            .execute(&stmt, &[&i64::from(before), &i64::from(batch.min(MAX_DELETE_BATCH))])
            .await
            .map_err(db_err)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM envelopes", &[])
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        Ok(n.max(0) as u64)
    }
}
