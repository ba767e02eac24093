//! Archive benchmarks: ingest rate and page-query latency, SQLite beside PostgreSQL.
//!
//! ```sh
//! cargo bench -p wisp-mailserver --bench archive                      # SQLite, 100 000 envelopes
//! WISP_BENCH_LARGE=1 cargo bench -p wisp-mailserver --bench archive   # and 1 000 000
//! WISP_BENCH_POSTGRES_URL=postgres://wisp@127.0.0.1:55440/wisp_test \
//!     cargo bench -p wisp-mailserver --bench archive                  # and PostgreSQL
//! WISP_BENCH_POSTGRES_TLS_URL='postgres://wisp@127.0.0.1:55440/wisp_test?sslmode=require' \
//!     cargo bench -p wisp-mailserver --bench archive                  # and PostgreSQL over TLS
//! ```
//!
//! (`WISP_TEST_POSTGRES_URL` and `WISP_TEST_POSTGRES_TLS_URL` are used when the `BENCH` ones are
//! not set.) SQLite runs twice: the default (`synchronous = NORMAL`) and `full_sync` (an fsync
//! per put).
//!
//! The archive is filled with synthetic envelopes (no PoW, no encryption): 200 random bytes of
//! data, one of 1000 topics, sent times spread over 30 days and arriving in time order with up to
//! a minute of jitter (as a live node ingests them), in puts of 1000. Ingest is timed over the
//! puts only. Then 1000 random page queries of 100 envelopes each are timed one by one: 1 to 3
//! random topics over a random window of 1 hour to 7 days; and 1000 pages of "everything" (the
//! full bloom) from a random start. PostgreSQL gets `VACUUM ANALYZE` after the fill, as
//! autovacuum would.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use bytes::Bytes;
use wisp_mailserver::{
    ArchivedEnvelope, PostgresConfig, PostgresStore, Query, SqliteConfig, SqliteStore, Store,
};
use wisp_waku::{Envelope, Topic};

use alloy_rlp as _;
use deadpool_postgres as _;
use proptest as _;
use rusqlite as _;
use rustls as _;
use thiserror as _;
use tokio_rustls as _;
use tracing as _;
use wisp_crypto as _;

const START: u32 = 1_700_000_000;
const SPAN: u32 = 30 * 86_400;
const TOPICS: u32 = 1000;
const PUT_BATCH: usize = 1000;
const QUERIES: usize = 1000;
const PAGE: u32 = 100;

/// xorshift64*: fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

fn topic(i: u32) -> Topic {
    Topic::from_name(i.to_be_bytes())
}

/// Envelope `i` of `n`: sent times grow with `i` (time order) with up to 60 s of jitter.
fn envelope(rng: &mut Rng, i: usize, n: usize) -> ArchivedEnvelope {
    let base = START + (u64::from(SPAN) * i as u64 / n as u64) as u32;
    let sent = base + rng.below(60);
    let mut data = vec![0u8; 200];
    for chunk in data.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    let e = Envelope {
        expiry: sent + 3600,
        ttl: 3600,
        topic: topic(rng.below(TOPICS)),
        data: Bytes::from(data),
        nonce: rng.next(),
    };
    ArchivedEnvelope::new(&e)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Figures {
    ingest_per_s: f64,
    topic_p50: Duration,
    topic_p99: Duration,
    topic_avg_len: f64,
    all_p50: Duration,
    all_p99: Duration,
}

async fn fill<S: Store>(store: &S, n: usize) -> f64 {
    let mut rng = Rng(0x5eed_0000_0000_0001 ^ n as u64);
    let mut busy = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + PUT_BATCH).min(n)).map(|j| envelope(&mut rng, j, n)).collect();
        let t = Instant::now();
        store.put(&batch).await.expect("put");
        busy += t.elapsed();
        i += batch.len();
    }
    n as f64 / busy.as_secs_f64()
}

async fn measure<S: Store>(store: &S) -> (Duration, Duration, f64, Duration, Duration) {
    let mut rng = Rng(0x0bad_cafe_f00d_0001);
    let mut topic_times = Vec::with_capacity(QUERIES);
    let mut returned = 0usize;
    for _ in 0..QUERIES {
        let width = 3600 + rng.below(7 * 86_400 - 3600);
        let from = START + rng.below(SPAN);
        let topics: Vec<Topic> = (0..1 + rng.below(3)).map(|_| topic(rng.below(TOPICS))).collect();
        let q = Query { topics: Some(topics), limit: PAGE, ..Query::new(from, from + width) };
        let t = Instant::now();
        let page = store.query(&q).await.expect("query");
        topic_times.push(t.elapsed());
        returned += page.envelopes.len();
    }
    let mut all_times = Vec::with_capacity(QUERIES);
    for _ in 0..QUERIES {
        let from = START + rng.below(SPAN);
        let q = Query { limit: PAGE, ..Query::new(from, from + 86_400) };
        let t = Instant::now();
        store.query(&q).await.expect("query");
        all_times.push(t.elapsed());
    }
    topic_times.sort();
    all_times.sort();
    (
        percentile(&topic_times, 0.5),
        percentile(&topic_times, 0.99),
        returned as f64 / QUERIES as f64,
        percentile(&all_times, 0.5),
        percentile(&all_times, 0.99),
    )
}

async fn run<S: Store>(store: &S, n: usize) -> Figures {
    let ingest_per_s = fill(store, n).await;
    assert_eq!(store.count().await.expect("count"), n as u64, "synthetic envelopes are distinct");
    let (topic_p50, topic_p99, topic_avg_len, all_p50, all_p99) = measure(store).await;
    Figures { ingest_per_s, topic_p50, topic_p99, topic_avg_len, all_p50, all_p99 }
}

fn report(backend: &str, n: usize, f: &Figures) {
    println!(
        "| {backend} | {n} | {:.0} | {} | {} | {:.0} | {} | {} |",
        f.ingest_per_s,
        ms(f.topic_p50),
        ms(f.topic_p99),
        f.topic_avg_len,
        ms(f.all_p50),
        ms(f.all_p99),
    );
}

async fn postgres_admin(url: &str, sql: &str) {
    let (client, conn) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client.batch_execute(sql).await.expect("admin statement");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let large = std::env::var("WISP_BENCH_LARGE").is_ok_and(|v| v == "1");
    let sizes: &[usize] = if large { &[100_000, 1_000_000] } else { &[100_000] };
    let pg_url = std::env::var("WISP_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("WISP_TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let pg_tls_url = std::env::var("WISP_BENCH_POSTGRES_TLS_URL")
        .or_else(|_| std::env::var("WISP_TEST_POSTGRES_TLS_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    if !large {
        println!("(set WISP_BENCH_LARGE=1 for the 1 000 000-envelope archive)");
    }
    if pg_url.is_none() {
        println!("(set WISP_BENCH_POSTGRES_URL to run PostgreSQL too)");
    }
    println!(
        "| backend | envelopes | ingest (env/s) | topics page p50 | p99 | avg page | all page p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let dir: PathBuf =
        std::env::temp_dir().join(format!("wisp-bench-archive-{}", std::process::id()));
    rt.block_on(async {
        for &n in sizes {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("bench dir");
            let store = SqliteStore::open(dir.join("archive.sqlite")).expect("sqlite");
            let figures = run(&store, n).await;
            report("SQLite", n, &figures);
            drop(store);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("bench dir");
            let config = SqliteConfig { full_sync: true, ..SqliteConfig::default() };
            let store = SqliteStore::open_with(dir.join("archive.sqlite"), config).expect("sqlite");
            let figures = run(&store, n).await;
            report("SQLite full_sync", n, &figures);
            drop(store);
            let _ = std::fs::remove_dir_all(&dir);

            if let Some(url) = &pg_url {
                let schema = "wisp_bench";
                postgres_admin(url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                let config =
                    PostgresConfig { schema: Some(schema.into()), ..PostgresConfig::default() };
                let store = PostgresStore::connect_with(url, config).await.expect("postgres");
                let ingest_per_s = fill(&store, n).await;
                postgres_admin(url, &format!("VACUUM ANALYZE {schema}.envelopes")).await;
                let (topic_p50, topic_p99, topic_avg_len, all_p50, all_p99) = measure(&store).await;
                let figures =
                    Figures { ingest_per_s, topic_p50, topic_p99, topic_avg_len, all_p50, all_p99 };
                report("PostgreSQL", n, &figures);
                drop(store);
                postgres_admin(url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            }

            if let Some(url) = &pg_tls_url {
                let schema = "wisp_bench_tls";
                let config =
                    PostgresConfig { schema: Some(schema.into()), ..PostgresConfig::default() };
                let old = PostgresStore::connect_with(url, config.clone()).await.expect("postgres");
                old.drop_schema().await.expect("drop schema");
                let store = PostgresStore::connect_with(url, config).await.expect("postgres");
                assert!(store.uses_tls().await.expect("pg_stat_ssl"), "{url} is not TLS");
                let ingest_per_s = fill(&store, n).await;
                // VACUUM through the plain URL (the same database) when there is one.
                if let Some(plain) = &pg_url {
                    postgres_admin(plain, &format!("VACUUM ANALYZE {schema}.envelopes")).await;
                }
                let (topic_p50, topic_p99, topic_avg_len, all_p50, all_p99) = measure(&store).await;
                let figures =
                    Figures { ingest_per_s, topic_p50, topic_p99, topic_avg_len, all_p50, all_p99 };
                report("PostgreSQL TLS", n, &figures);
                store.drop_schema().await.expect("drop schema");
            }
        }
    });
}
