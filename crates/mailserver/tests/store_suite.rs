//! The archive's behavioural suite: each behaviour is one generic async fn, run on every
//! backend: [`MemoryStore`], SQLite (a temporary file, through [`AnyStore`]) and PostgreSQL
//! (through [`AnyStore`], one schema per test) when `WISP_TEST_POSTGRES_URL` is set, e.g.
//! `postgres://wisp@127.0.0.1:55432/wisp_test?sslmode=disable`, and PostgreSQL over TLS when
//! `WISP_TEST_POSTGRES_TLS_URL` is set (`...?sslmode=require`; `.ci/run` sets both, and
//! `WISP_TEST_POSTGRES_TLS_ROOT_CERT`, the CA of the server's certificate). Without them the
//! PostgreSQL cases print a "skipped" line and pass, except under `CI=true`, where they fail: CI
//! runs every backend.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use wisp_mailserver::{
    AnyStore, ArchiveSpec, ArchivedEnvelope, Cursor, MAX_LIMIT, MemoryStore, PostgresConfig,
    PostgresStore, Query, SqliteStore, Store, StoreError, retention,
    store::{BLOOM_SCAN_LIMIT, MAX_QUERY_TOPICS},
};
use wisp_waku::{Bloom, Envelope, Topic};

use alloy_rlp as _;
use deadpool_postgres as _;
use proptest as _;
use rustls as _;
use thiserror as _;
use tokio_rustls as _;
use tracing as _;
use wisp_crypto as _;

// ---- fixtures ----

/// A synthetic envelope sent at `sent` on `topic`; `salt` makes it unique.
fn envelope(sent: u32, topic: Topic, salt: u64) -> ArchivedEnvelope {
    let e = Envelope {
        expiry: sent.saturating_add(50),
        ttl: 50,
        topic,
        data: Bytes::from(salt.to_be_bytes().repeat(4)),
        nonce: salt,
    };
    ArchivedEnvelope::new(&e)
}

fn topic(n: u8) -> Topic {
    Topic::from_name([n])
}

/// Two topics whose blooms do not cover each other (so bloom queries really filter).
fn distinct_bloom_topics() -> (Topic, Topic, Topic) {
    let (a, b, c) = (topic(1), topic(2), topic(3));
    assert!(!a.bloom().matches(&b) && !a.bloom().matches(&c) && !b.bloom().matches(&c));
    (a, b, c)
}

type Key = (u32, [u8; 32]);

fn key_of(rlp: &[u8]) -> Key {
    let e = ArchivedEnvelope::from_rlp(rlp).expect("archived RLP decodes");
    (e.sent, e.hash)
}

fn keys(envelopes: &[ArchivedEnvelope]) -> Vec<Key> {
    let set: BTreeSet<Key> = envelopes.iter().map(|e| (e.sent, e.hash)).collect();
    set.into_iter().collect()
}

/// Pages through `query` to the end; returns every key in order.
async fn collect_all<S: Store>(store: &S, mut query: Query) -> Vec<Key> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = store.query(&query).await.unwrap();
        assert!(page.envelopes.len() <= query.effective_limit());
        out.extend(page.envelopes.iter().map(|r| key_of(r)));
        match page.next {
            Some(c) => query.after = Some(c),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

fn assert_sorted_unique(keys: &[Key]) {
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys not strictly increasing");
}

// ---- behaviours ----

async fn dedupe_by_hash<S: Store>(store: S) {
    let e1 = envelope(100, topic(1), 1);
    let e2 = envelope(100, topic(1), 2);
    assert_eq!(store.put(&[e1.clone(), e1.clone(), e2.clone()]).await.unwrap(), 2);
    assert_eq!(store.put(std::slice::from_ref(&e1)).await.unwrap(), 0);
    assert_eq!(store.put(&[e2, envelope(101, topic(2), 3)]).await.unwrap(), 1);
    assert_eq!(store.put(&[]).await.unwrap(), 0);
    assert_eq!(store.count().await.unwrap(), 3);
    let page = store.query(&Query::new(0, u32::MAX)).await.unwrap();
    assert_eq!(page.envelopes.len(), 3);
    assert!(page.envelopes.contains(&e1.rlp), "the RLP comes back byte for byte");
}

async fn range_is_inclusive<S: Store>(store: S) {
    let all: Vec<_> = (100..=110)
        .flat_map(|s| (0..3).map(move |i| envelope(s, topic(i), u64::from(s) * 10 + u64::from(i))))
        .collect();
    store.put(&all).await.unwrap();
    let page = store.query(&Query::new(102, 105)).await.unwrap();
    let got: Vec<Key> = page.envelopes.iter().map(|r| key_of(r)).collect();
    let want: Vec<Key> = keys(&all).into_iter().filter(|k| (102..=105).contains(&k.0)).collect();
    assert_eq!(got, want);
    assert_eq!(page.next, None);
    // A single second.
    assert_eq!(store.query(&Query::new(110, 110)).await.unwrap().envelopes.len(), 3);
    // The whole u32 range.
    assert_eq!(store.query(&Query::new(0, u32::MAX)).await.unwrap().envelopes.len(), all.len());
}

async fn reversed_range_is_empty<S: Store>(store: S) {
    store.put(&[envelope(100, topic(1), 1), envelope(200, topic(1), 2)]).await.unwrap();
    for q in [
        Query::new(200, 100),
        Query { topics: Some(vec![topic(1)]), ..Query::new(200, 100) },
        Query { bloom: topic(1).bloom(), ..Query::new(200, 100) },
        Query::new(u32::MAX, 0),
    ] {
        let page = store.query(&q).await.unwrap();
        assert!(page.envelopes.is_empty());
        assert_eq!(page.next, None);
    }
}

async fn topics_filter<S: Store>(store: S) {
    let (a, b, c) = distinct_bloom_topics();
    let all: Vec<_> = (0..60u32)
        .map(|i| envelope(1000 + i / 3, [a, b, c][(i % 3) as usize], u64::from(i)))
        .collect();
    store.put(&all).await.unwrap();
    let want = |ts: &[Topic]| {
        keys(&all.iter().filter(|e| ts.contains(&e.topic)).cloned().collect::<Vec<_>>())
    };

    let q = Query { topics: Some(vec![a, c, a]), bloom: Bloom::EMPTY, ..Query::new(0, u32::MAX) };
    assert_eq!(collect_all(&store, q.clone()).await, want(&[a, c]), "topics win over the bloom");
    // Paged through small pages too.
    assert_eq!(collect_all(&store, Query { limit: 7, ..q }).await, want(&[a, c]));
    // One topic, a sub-range.
    let q = Query { topics: Some(vec![b]), ..Query::new(1005, 1010) };
    let got = collect_all(&store, q).await;
    assert_eq!(
        got,
        want(&[b]).into_iter().filter(|k| (1005..=1010).contains(&k.0)).collect::<Vec<_>>()
    );
    // An unknown topic.
    let q = Query { topics: Some(vec![Topic([9, 9, 9, 9])]), ..Query::new(0, u32::MAX) };
    assert!(store.query(&q).await.unwrap().envelopes.is_empty());
    // An empty topic list means: use the bloom.
    let q = Query { topics: Some(vec![]), bloom: b.bloom(), ..Query::new(0, u32::MAX) };
    assert_eq!(collect_all(&store, q).await, want(&[b]));
}

async fn bloom_filter<S: Store>(store: S) {
    let (a, b, c) = distinct_bloom_topics();
    let all: Vec<_> = (0..90u32)
        .map(|i| envelope(2000 + i / 2, [a, b, c][(i % 3) as usize], u64::from(i)))
        .collect();
    store.put(&all).await.unwrap();
    for bloom in [a.bloom(), Bloom::from_topics([&a, &c]), Bloom::FULL] {
        let want =
            keys(&all.iter().filter(|e| bloom.matches(&e.topic)).cloned().collect::<Vec<_>>());
        assert_eq!(collect_all(&store, Query { bloom, ..Query::new(0, u32::MAX) }).await, want);
        let paged = collect_all(&store, Query { bloom, limit: 4, ..Query::new(0, u32::MAX) }).await;
        assert_eq!(paged, want);
    }
    let page =
        store.query(&Query { bloom: Bloom::EMPTY, ..Query::new(0, u32::MAX) }).await.unwrap();
    assert!(page.envelopes.is_empty() && page.next.is_none(), "the empty bloom matches nothing");
}

async fn bloom_scan_is_bounded<S: Store>(store: S) {
    let (a, b, _) = distinct_bloom_topics();
    // More non-matching envelopes than one bloom query examines, then three that match.
    let filler: Vec<_> =
        (0..BLOOM_SCAN_LIMIT as u32 + 500).map(|i| envelope(10_000 + i, a, u64::from(i))).collect();
    for chunk in filler.chunks(1000) {
        store.put(chunk).await.unwrap();
    }
    let hits: Vec<_> = (0..3).map(|i| envelope(30_000 + i, b, 1_000_000 + u64::from(i))).collect();
    store.put(&hits).await.unwrap();
    let q = Query { bloom: b.bloom(), limit: 10, ..Query::new(0, u32::MAX) };
    let first = store.query(&q).await.unwrap();
    assert!(first.envelopes.is_empty(), "the first page stops at the scan cap");
    let next = first.next.expect("a capped scan returns a cursor");
    assert_eq!(
        next.sent,
        10_000 + BLOOM_SCAN_LIMIT as u32 - 1,
        "it resumes after the last examined"
    );
    assert_eq!(collect_all(&store, q).await, keys(&hits));
}

async fn limit_is_capped<S: Store>(store: S) {
    let all: Vec<_> = (0..1500u32)
        .map(|i| envelope(5000 + i % 100, topic((i % 5) as u8), u64::from(i)))
        .collect();
    for chunk in all.chunks(500) {
        store.put(chunk).await.unwrap();
    }
    let sorted = keys(&all);
    for limit in [0, MAX_LIMIT, MAX_LIMIT + 1, 5000, u32::MAX] {
        let page = store.query(&Query { limit, ..Query::new(0, u32::MAX) }).await.unwrap();
        assert_eq!(page.envelopes.len(), MAX_LIMIT as usize, "limit {limit}");
        let next = page.next.expect("more follow");
        assert_eq!((next.sent, next.hash), sorted[MAX_LIMIT as usize - 1]);
    }
    // The same with topics and with a bloom.
    let topics: Vec<Topic> = (0..5).map(topic).collect();
    let q = Query { topics: Some(topics.clone()), limit: u32::MAX, ..Query::new(0, u32::MAX) };
    assert_eq!(store.query(&q).await.unwrap().envelopes.len(), MAX_LIMIT as usize);
    let q =
        Query { bloom: Bloom::from_topics(&topics), limit: u32::MAX, ..Query::new(0, u32::MAX) };
    assert_eq!(store.query(&q).await.unwrap().envelopes.len(), MAX_LIMIT as usize);
    // A page that ends exactly at the last envelope has no cursor.
    let q = Query { limit: 500, ..Query::new(0, u32::MAX) };
    let mut q2 = q.clone();
    q2.after = Some(Cursor { sent: sorted[999].0, hash: sorted[999].1, topic: Topic::default() });
    let last = store.query(&q2).await.unwrap();
    assert_eq!(last.envelopes.len(), 500);
    assert_eq!(last.next, None);
}

async fn pagination_exactly_once<S: Store>(store: S) {
    let (a, b, c) = distinct_bloom_topics();
    let topics = [a, b, c];
    let mut salt = 0u64;
    let mut make = |sent: u32, t: Topic| {
        salt += 1;
        envelope(sent, t, salt)
    };
    let initial: Vec<_> =
        (0..300u32).map(|i| make(7000 + (i * 7919) % 200, topics[(i % 3) as usize])).collect();
    store.put(&initial).await.unwrap();

    let selections = [
        Query::new(7000, 7199),
        Query { topics: Some(vec![a, c]), ..Query::new(7000, 7199) },
        Query { bloom: Bloom::from_topics([&b, &c]), ..Query::new(7000, 7199) },
    ];
    for (round, base) in selections.into_iter().enumerate() {
        let mut query = Query { limit: 9, ..base.clone() };
        let mut seen: Vec<Key> = Vec::new();
        let mut inserted = Vec::new();
        loop {
            let page = store.query(&query).await.unwrap();
            seen.extend(page.envelopes.iter().map(|r| key_of(r)));
            let Some(next) = page.next else { break };
            // New envelopes arrive between pages: behind the cursor, ahead of it, and at
            // the cursor's own second.
            let round = round as u32;
            let fresh = [
                make(7000 + round, topics[0]),
                make(7199, topics[2]),
                make(next.sent, topics[(next.sent % 3) as usize]),
            ];
            store.put(&fresh).await.unwrap();
            inserted.extend(fresh.into_iter().map(|e| (next, e)));
            query.after = Some(next);
        }
        assert_sorted_unique(&seen);
        let matches = |e: &ArchivedEnvelope| match &base.topics {
            Some(ts) => ts.contains(&e.topic),
            None => base.bloom.matches(&e.topic),
        };
        let seen_set: BTreeSet<Key> = seen.iter().copied().collect();
        for e in initial.iter().filter(|e| matches(e)) {
            assert!(
                seen_set.contains(&(e.sent, e.hash)),
                "round {round}: an original envelope was missed"
            );
        }
        for (cursor, e) in inserted.iter().filter(|(_, e)| matches(e)) {
            let ahead = (e.sent, e.hash) > (cursor.sent, cursor.hash);
            assert_eq!(
                seen_set.contains(&(e.sent, e.hash)),
                ahead,
                "round {round}: inserted after a page"
            );
        }
        // Everything returned matches and exists.
        let final_keys = collect_all(&store, base.clone()).await;
        assert!(seen.iter().all(|k| final_keys.binary_search(k).is_ok()));
    }
}

async fn retention_deletes_only_older<S: Store>(store: S) {
    let all: Vec<_> =
        (0..100u32).map(|i| envelope(1000 + i, topic((i % 4) as u8), u64::from(i))).collect();
    store.put(&all).await.unwrap();
    assert_eq!(store.delete_before(1010, 4).await.unwrap(), 4);
    assert_eq!(store.delete_before(1010, 0).await.unwrap(), 0);
    assert_eq!(store.count().await.unwrap(), 96);
    let deleted = retention::prune_once(&store, 1050, 7, Duration::ZERO).await.unwrap();
    assert_eq!(deleted, 46);
    assert_eq!(store.count().await.unwrap(), 50);
    let left = collect_all(&store, Query::new(0, u32::MAX)).await;
    assert_eq!(left, keys(&all).into_iter().filter(|k| k.0 >= 1050).collect::<Vec<_>>());
    // Nothing older left: a second prune deletes nothing.
    assert_eq!(retention::prune_once(&store, 1050, 7, Duration::ZERO).await.unwrap(), 0);
    // The topic index forgot them too.
    let q = Query { topics: Some((0..4).map(topic).collect()), ..Query::new(0, 1049) };
    assert!(store.query(&q).await.unwrap().envelopes.is_empty());
    assert_eq!(retention::cutoff(86_400 * 40, 30), 86_400 * 10);
}

async fn puts_proceed_while_pruning<S: Store + Clone>(store: S) {
    let old: Vec<_> = (0..20_000u32)
        .map(|i| envelope(1000 + i / 10, topic((i % 7) as u8), u64::from(i)))
        .collect();
    for chunk in old.chunks(2000) {
        store.put(chunk).await.unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let pruner = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let n = retention::prune_once(&store, 1_000_000, 500, Duration::from_millis(2)).await;
            done.store(true, Ordering::SeqCst);
            n
        })
    };
    let mut during = 0;
    for i in 0..20u32 {
        let fresh: Vec<_> = (0..10u32)
            .map(|j| envelope(2_000_000 + i, topic(9), (u64::from(i * 100 + j) + 1) << 40))
            .collect();
        assert_eq!(store.put(&fresh).await.unwrap(), 10);
        if !done.load(Ordering::SeqCst) {
            during += 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(pruner.await.unwrap().unwrap(), 20_000);
    assert!(during > 0, "no put completed while the prune ran");
    assert_eq!(store.count().await.unwrap(), 200);
}

async fn count_counts<S: Store>(store: S) {
    assert_eq!(store.count().await.unwrap(), 0);
    let all: Vec<_> = (0..250u32).map(|i| envelope(i, topic(1), u64::from(i))).collect();
    store.put(&all[..100]).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 100);
    store.put(&all).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 250);
    store.delete_before(50, 1000).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 200);
}

async fn bad_input_is_harmless<S: Store>(store: S) {
    let all: Vec<_> =
        (0..50u32).map(|i| envelope(100 + i, topic((i % 3) as u8), u64::from(i))).collect();
    store.put(&all).await.unwrap();
    let sorted = keys(&all);
    // A cursor naming no envelope resumes after its position.
    let ghost = Cursor { sent: 120, hash: [0x80; 32], topic: Topic([1, 2, 3, 4]) };
    let got = collect_all(&store, Query { after: Some(ghost), ..Query::new(0, u32::MAX) }).await;
    assert_eq!(got, sorted.iter().copied().filter(|k| *k > (120, [0x80; 32])).collect::<Vec<_>>());
    // A cursor before `from` is the same as none; after `to`, nothing.
    let early = Cursor { sent: 1, hash: [0xff; 32], topic: Topic::default() };
    assert_eq!(
        collect_all(&store, Query { after: Some(early), ..Query::new(110, 120) }).await.len(),
        11
    );
    let late = Cursor { sent: 500, hash: [0; 32], topic: Topic::default() };
    assert!(
        store
            .query(&Query { after: Some(late), ..Query::new(0, 200) })
            .await
            .unwrap()
            .envelopes
            .is_empty()
    );
    // Extreme cursors and times.
    for c in [[0u8; 40], [0xff; 40]] {
        let c = Cursor::from_bytes(&c).unwrap();
        store.query(&Query { after: Some(c), ..Query::new(0, u32::MAX) }).await.unwrap();
    }
    assert!(Cursor::from_bytes(&[0; 39]).is_none() && Cursor::from_bytes(&[0; 41]).is_none());
    store.query(&Query::new(u32::MAX, u32::MAX)).await.unwrap();
    // Too many topics: capped, grouped, no error.
    let mut many: Vec<Topic> = (0..1500u32).map(|i| Topic(i.to_be_bytes())).collect();
    many.push(topic(2));
    let q = Query { topics: Some(many), ..Query::new(0, u32::MAX) };
    store.query(&q).await.unwrap();
    let mut many: Vec<Topic> =
        (0..MAX_QUERY_TOPICS as u32 - 3).map(|i| Topic((i + 7).to_be_bytes())).collect();
    many.extend([topic(0), topic(1), topic(2)]);
    let q = Query { topics: Some(many), limit: 13, ..Query::new(0, u32::MAX) };
    assert_eq!(collect_all(&store, q).await, sorted);
    // Deleting with extreme bounds.
    assert_eq!(store.delete_before(0, u32::MAX).await.unwrap(), 0);
    assert_eq!(store.delete_before(u32::MAX, u32::MAX).await.unwrap(), 50);
}

async fn rlp_round_trips<S: Store>(store: S) {
    let e = envelope(123, topic(5), 77);
    store.put(std::slice::from_ref(&e)).await.unwrap();
    let page =
        store.query(&Query { topics: Some(vec![topic(5)]), ..Query::new(123, 123) }).await.unwrap();
    assert_eq!(page.envelopes, vec![e.rlp.clone()]);
    let back = ArchivedEnvelope::from_rlp(&page.envelopes[0]).unwrap();
    assert_eq!(back, e);
    assert_eq!(e.cursor().to_bytes()[..4], 123u32.to_be_bytes());
}

// ---- backends ----

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("wisp-store-suite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn sqlite_store(dir: &TempDir) -> AnyStore {
    let spec = ArchiveSpec::SqliteAt(dir.path().join("archive.sqlite"));
    let store = AnyStore::open(&spec, dir.path()).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store
}

fn postgres_url(case: &str) -> Option<String> {
    test_env("WISP_TEST_POSTGRES_URL", case)
}

fn postgres_tls_url(case: &str) -> Option<String> {
    test_env("WISP_TEST_POSTGRES_TLS_URL", case)
}

/// The value of `var`; `None` (the case skipped) when unset, except under `CI=true`.
fn test_env(var: &str, case: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "CI is set but {var} is not: the PostgreSQL suite must run in CI \
                 (.ci/run starts a cluster and sets it)"
            );
            println!("skipped: set {var} to run {case} on PostgreSQL");
            None
        }
    }
}

async fn drop_schema(url: &str, schema: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.unwrap();
}

/// A PostgreSQL archive in a fresh schema of its own.
async fn postgres_store(url: &str, case: &str) -> (AnyStore, String) {
    let schema = format!("wisp_test_{case}");
    drop_schema(url, &schema).await;
    let config =
        PostgresConfig { schema: Some(schema.clone()), pool_size: 4, ..PostgresConfig::default() };
    let store = PostgresStore::connect_with(url, config).await.unwrap();
    (AnyStore::Postgres(store), schema)
}

/// A PostgreSQL archive over TLS in a fresh schema of its own (`wisp_tls_<case>`); checks that
/// its connections are encrypted.
async fn postgres_tls_store(url: &str, case: &str) -> PostgresStore {
    let config = PostgresConfig {
        schema: Some(format!("wisp_tls_{case}")),
        pool_size: 4,
        ..PostgresConfig::default()
    };
    let old = PostgresStore::connect_with(url, config.clone()).await.unwrap();
    old.drop_schema().await.unwrap();
    let store = PostgresStore::connect_with(url, config).await.unwrap();
    assert!(store.uses_tls().await.unwrap(), "{url}: the connection is not encrypted");
    store
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(wisp_mailserver::MemoryStore::new()).await;
                }
            )*
        }

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = super::TempDir::new(stringify!($case));
                    super::$case(super::sqlite_store(&dir).await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(url) = super::postgres_url(stringify!($case)) else { return };
                    let (store, schema) = super::postgres_store(&url, stringify!($case)).await;
                    super::$case(store).await;
                    super::drop_schema(&url, &schema).await;
                }
            )*
        }

        mod postgres_tls {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(url) = super::postgres_tls_url(stringify!($case)) else { return };
                    let store = super::postgres_tls_store(&url, stringify!($case)).await;
                    super::$case(wisp_mailserver::AnyStore::Postgres(store.clone())).await;
                    store.drop_schema().await.unwrap();
                }
            )*
        }
    };
}

suite!(
    dedupe_by_hash,
    range_is_inclusive,
    reversed_range_is_empty,
    topics_filter,
    bloom_filter,
    bloom_scan_is_bounded,
    limit_is_capped,
    pagination_exactly_once,
    retention_deletes_only_older,
    puts_proceed_while_pruning,
    count_counts,
    bad_input_is_harmless,
    rlp_round_trips,
);

// ---- per-backend: schema versions and reopening ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reopens_and_refuses_newer_schema() {
    let dir = TempDir::new("schema");
    let path = dir.path().join("archive.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
    store.put(&[envelope(1, topic(1), 1)]).await.unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().await.unwrap(), 1, "reopening keeps the archive");
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO wisp_schema (version, applied_at) VALUES (99, 0)", []).unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found: 99, supported: 1 }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_store_memory_and_default_sqlite() {
    let dir = TempDir::new("anystore");
    let memory = AnyStore::open(&ArchiveSpec::Memory, dir.path()).await.unwrap();
    assert_eq!(memory.backend(), "memory");
    assert!(matches!(memory, AnyStore::Memory(_)));
    let sqlite = AnyStore::open(&"sqlite".parse().unwrap(), dir.path()).await.unwrap();
    sqlite.put(&[envelope(1, topic(1), 1)]).await.unwrap();
    assert!(dir.path().join(wisp_mailserver::store::DEFAULT_SQLITE_FILE).exists());
    let bad = AnyStore::open(
        &ArchiveSpec::Postgres("postgres://nobody@127.0.0.1:1/none".into()),
        dir.path(),
    )
    .await;
    assert!(bad.is_err(), "an unreachable PostgreSQL is an error, not a hang");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reopens_and_refuses_newer_schema() {
    let Some(url) = postgres_url("schema_versions") else { return };
    let schema = "wisp_test_schema_versions";
    drop_schema(&url, schema).await;
    let config =
        PostgresConfig { schema: Some(schema.into()), pool_size: 2, ..PostgresConfig::default() };
    let store = PostgresStore::connect_with(&url, config.clone()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
    store.put(&[envelope(1, topic(1), 1)]).await.unwrap();
    drop(store);
    let store = PostgresStore::connect_with(&url, config.clone()).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 1);
    drop(store);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("INSERT INTO {schema}.wisp_schema VALUES (99, 0)"))
        .await
        .unwrap();
    match PostgresStore::connect_with(&url, config).await {
        Err(StoreError::SchemaTooNew { found: 99, supported: 1 }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    drop_schema(&url, schema).await;
}

/// The in-memory backend as the reference: a model check of random queries against a plain
/// sorted list, over the same random archive.
#[tokio::test]
async fn memory_matches_a_model() {
    let store = MemoryStore::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let all: Vec<_> = (0..2000u64)
        .map(|i| envelope((next() % 500) as u32, topic((next() % 12) as u8), i))
        .collect();
    store.put(&all).await.unwrap();
    let model: BTreeMap<Key, Topic> = all.iter().map(|e| ((e.sent, e.hash), e.topic)).collect();
    for _ in 0..200 {
        let (x, y) = ((next() % 520) as u32, (next() % 520) as u32);
        let topics: Vec<Topic> = (0..next() % 3).map(|_| topic((next() % 14) as u8)).collect();
        let bloom = Bloom::from_topics(&[topic((next() % 12) as u8)]);
        let q = Query {
            topics: (!topics.is_empty()).then(|| topics.clone()),
            bloom,
            limit: (next() % 40) as u32 + 1,
            ..Query::new(x, y)
        };
        let want: Vec<Key> = model
            .iter()
            .filter(|(k, t)| {
                (x..=y).contains(&k.0)
                    && if topics.is_empty() { bloom.matches(t) } else { topics.contains(t) }
            })
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(collect_all(&store, q).await, want);
    }
}

// ---- PostgreSQL over TLS: sslmode ----

/// `sslmode=disable` connects in plain TCP, `require` encrypts, `verify-full` and `verify-ca`
/// check the certificate against `sslrootcert` (the CI cluster's CA), and a CA that did not
/// sign it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sslmodes() {
    let Some(tls_url) = postgres_tls_url("sslmodes") else { return };
    let Some(root) = test_env("WISP_TEST_POSTGRES_TLS_ROOT_CERT", "sslmodes") else { return };
    let base = tls_url.split_once('?').map_or(tls_url.as_str(), |(b, _)| b).to_owned();
    let config = PostgresConfig {
        schema: Some("wisp_tls_sslmodes".into()),
        pool_size: 1,
        ..PostgresConfig::default()
    };
    let connect = |url: String| {
        let config = config.clone();
        async move { PostgresStore::connect_with(&url, config).await }
    };
    assert!(!connect(format!("{base}?sslmode=disable")).await.unwrap().uses_tls().await.unwrap());
    assert!(connect(format!("{base}?sslmode=require")).await.unwrap().uses_tls().await.unwrap());
    assert!(connect(format!("{base}?sslmode=prefer")).await.unwrap().uses_tls().await.unwrap());
    for mode in ["verify-ca", "verify-full"] {
        let url = format!("{base}?sslmode={mode}&sslrootcert={root}");
        assert!(connect(url).await.unwrap().uses_tls().await.unwrap(), "{mode}");
    }
    // The same server, but a file of CAs that did not sign its certificate.
    let wrong = TempDir::new("wrong-ca");
    let other_ca = wrong.path().join("other-ca.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other"])
        .arg("-keyout")
        .arg(wrong.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let url = format!("{base}?sslmode=verify-full&sslrootcert={}", other_ca.display());
    let err = connect(url).await.unwrap_err().to_string();
    assert!(err.contains("sslmode=verify-full") && err.contains("certificate"), "{err}");
    connect(format!("{base}?sslmode=require")).await.unwrap().drop_schema().await.unwrap();
}

/// A server that does not speak TLS (it answers PostgreSQL's SSLRequest with `N`, as a server
/// started with `ssl=off` does) is refused under `sslmode=require`, with an error that says so;
/// nothing but the SSLRequest is sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_require_refuses_a_server_without_tls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        // SSLRequest: length 8, code 80877103.
        let mut request = [0u8; 8];
        tcp.read_exact(&mut request).await.unwrap();
        assert_eq!(request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
        tcp.write_all(b"N").await.unwrap();
        // The client must hang up rather than go on in plain text.
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
        rest
    });
    let url = format!("postgres://wisp@127.0.0.1:{port}/wisp?sslmode=require");
    let config = PostgresConfig { connect_timeout: Duration::from_secs(10), ..Default::default() };
    let err = PostgresStore::connect_with(&url, config).await.unwrap_err().to_string();
    assert!(err.contains("sslmode=require") && err.contains("does not support TLS"), "{err}");
    let rest = tokio::time::timeout(Duration::from_secs(30), server).await.unwrap().unwrap();
    assert!(rest.is_empty(), "no startup message in plain text after the refusal: {rest:?}");
}
