//! Messages per second through a 2-peer sync: alice sends a batch, ticks, bob applies the
//! payload and acks, alice applies the ack (100 messages of 240 bytes per iteration). In-memory
//! store, SQLite in memory and SQLite files; both modes.
//!
//! ```sh
//! cargo bench -p wisp-mvds --bench sync
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hex as _;
use proptest as _;
use prost as _;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_core as _;
use rusqlite as _;
use serde_json as _;
use thiserror as _;
use wisp_crypto as _;
use wisp_mvds::{Config, Event, GroupId, MemoryStore, Mode, Node, PeerId, SqliteStore, Store};

const BATCH: usize = 100;
const G: GroupId = GroupId([5; 32]);

fn pair<S: Store>(mode: Mode, store: impl Fn() -> S) -> (Node<S, StdRng>, Node<S, StdRng>) {
    let config = Config { mode, ..Config::default() };
    let mut a = Node::new(config.clone(), store(), StdRng::seed_from_u64(1));
    let mut b = Node::new(config, store(), StdRng::seed_from_u64(2));
    a.add_peer(G, PeerId(b"bob".to_vec())).unwrap();
    b.add_peer(G, PeerId(b"alice".to_vec())).unwrap();
    (a, b)
}

/// Pumps payloads between the two nodes until both are idle; returns Received events.
fn sync<S: Store>(a: &mut Node<S, StdRng>, b: &mut Node<S, StdRng>, now: u64) -> usize {
    let (alice, bob) = (PeerId(b"alice".to_vec()), PeerId(b"bob".to_vec()));
    let mut received = 0;
    loop {
        let out_a = a.tick(now).unwrap().payloads;
        let out_b = b.tick(now).unwrap().payloads;
        if out_a.is_empty() && out_b.is_empty() {
            return received;
        }
        for o in out_a {
            let events = b.on_payload(&alice, &o.payload.to_bytes(), now).unwrap();
            received += events.iter().filter(|e| matches!(e, Event::Received { .. })).count();
        }
        for o in out_b {
            a.on_payload(&bob, &o.payload.to_bytes(), now).unwrap();
        }
    }
}

fn bench_store<S: Store>(c: &mut Criterion, name: &str, store: impl Fn() -> S) {
    let mut group = c.benchmark_group(format!("two_peer_sync/{name}"));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(20);
    for (mode, label) in [(Mode::Batch, "batch"), (Mode::Interactive, "interactive")] {
        let mut round = 0u64;
        group.bench_function(label, |bench| {
            bench.iter_batched(
                || pair(mode, &store),
                |(mut a, mut b)| {
                    round += 1;
                    let now = round * 1_000_000;
                    for i in 0..BATCH {
                        let mut body = vec![0u8; 240];
                        body[..8].copy_from_slice(&(i as u64).to_le_bytes());
                        a.send(G, body, now).unwrap();
                    }
                    assert_eq!(sync(&mut a, &mut b, now), BATCH);
                    black_box((a, b))
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_store(c, "memory", MemoryStore::new);
    bench_store(c, "sqlite_in_memory", || SqliteStore::open_in_memory().unwrap());
    // A fresh database file (WAL, synchronous = NORMAL) per node, in a directory removed at
    // the end.
    let dir = std::env::temp_dir().join(format!("wisp-mvds-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    bench_store(c, "sqlite_file", || {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open(dir.join(format!("{n}.sqlite"))).unwrap()
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(sync_benches, benches);
criterion_main!(sync_benches);
