//! Messages through the messenger on one core: a public chat message and a 1:1 message (with
//! its MVDS ack back), each from `send` on one messenger to the event on the other, Waku
//! sealing (AES-256-GCM or ECIES) and opening included, PoW not included (the node's job).
//! Twice: with the in-memory stores, and with every store in an encrypted `messenger.sqlite`
//! per side (SQLCipher, WAL, `synchronous = NORMAL` on the three connections as
//! `open_sqlite` sets them), and a third time (`*_sqlite_full`) with the ratchet and MVDS
//! connections at `synchronous = FULL` (their commits wait for the disk), to compare.
//!
//! Run with `cargo bench -p wisp-messenger`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wisp_crypto::{PublicKey, SecretKey};
use wisp_messenger::{
    Config, DATABASE_FILE, Event, IncomingEnvelope, MemoryMessageStore, MessageStore, Messenger,
    Output, open_sqlite,
};
use wisp_ratchet::{MemoryStore, SecureTransport};
use wisp_waku::{FilterKey, MessageParams, OpeningKey, open_payload, seal_payload};

// Dependencies of the crate (and dev-dependencies) this bench does not use.
use {hex as _, proptest as _, prost as _, rand_core as _, serde_json as _, thiserror as _};
use {rusqlite as _, tracing as _, wisp_mvds as _};

const T0: u64 = 1_800_000_000_000;

struct Side<RS, MS, DB> {
    key: SecretKey,
    messenger: Messenger<RS, MS, StdRng, DB>,
    filters: Vec<(wisp_waku::Topic, FilterKey)>,
}

type MemorySide = Side<MemoryStore, wisp_mvds::MemoryStore, MemoryMessageStore>;
type SqliteSide =
    Side<wisp_ratchet::SqliteStore, wisp_mvds::SqliteStore, wisp_messenger::SqliteMessageStore>;

impl MemorySide {
    fn memory(seed: u64) -> Self {
        let key = SecretKey::random();
        let transport =
            SecureTransport::new(key.clone(), format!("device-{seed}"), MemoryStore::new());
        let mvds = wisp_mvds::Node::new(
            wisp_mvds::Config::default(),
            wisp_mvds::MemoryStore::new(),
            StdRng::seed_from_u64(seed),
        );
        let messenger = Messenger::new(
            key.clone(),
            transport,
            mvds,
            MemoryMessageStore::new(),
            Config::default(),
        )
        .unwrap();
        Self { key, messenger, filters: Vec::new() }
    }
}

impl SqliteSide {
    /// A side on `<dir>/messenger.sqlite` (a fresh file).
    fn sqlite(seed: u64, dir: &std::path::Path) -> Self {
        let key = SecretKey::random();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let messenger = open_sqlite(
            &dir.join(DATABASE_FILE),
            key.clone(),
            format!("device-{seed}").as_str(),
            Config::default(),
            StdRng::seed_from_u64(seed),
        )
        .unwrap();
        Self { key, messenger, filters: Vec::new() }
    }

    /// The same, with the ratchet and MVDS connections at `synchronous = FULL` (an fsync of
    /// the WAL per commit) instead of `open_sqlite`'s `NORMAL`.
    fn sqlite_full(seed: u64, dir: &std::path::Path) -> Self {
        let side = Self::sqlite(seed, dir);
        let ratchet = side.messenger.transport().store().connection();
        let mvds = side.messenger.mvds().store().connection();
        for conn in [ratchet, mvds] {
            conn.pragma_update(None, "synchronous", "FULL").unwrap();
        }
        side
    }
}

impl<RS, MS, DB> Side<RS, MS, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    DB: MessageStore,
{
    /// Seals every post; returns (topic, data); counts received messages.
    fn pump(&mut self, received: &mut usize) -> Vec<(wisp_waku::Topic, Vec<u8>)> {
        let mut wires = Vec::new();
        while let Some(output) = self.messenger.poll_output() {
            match output {
                Output::Post(post) => {
                    let params = MessageParams::new(post.payload).signed_by(self.key.clone());
                    wires.push((post.topic, seal_payload(&params, &post.encryption).unwrap()));
                    self.messenger.envelope_sent(post.id).unwrap();
                }
                Output::InstallFilter(f) => self.filters.push((f.topic, f.key)),
                Output::RemoveFilter(_) => {}
                Output::Event(Event::MessageReceived(_)) => *received += 1,
                Output::Event(_) => {}
            }
        }
        wires
    }

    fn deliver(&mut self, topic: wisp_waku::Topic, data: &[u8], now: u64) {
        for (t, key) in &self.filters {
            if *t != topic {
                continue;
            }
            let opened = match key {
                FilterKey::Symmetric(k) => open_payload(data, OpeningKey::Symmetric(k)),
                FilterKey::Asymmetric(k) => open_payload(data, OpeningKey::Asymmetric(k)),
            };
            if let Ok(opened) = opened {
                let incoming = IncomingEnvelope {
                    topic,
                    payload: opened.payload.to_vec(),
                    signer: opened.signer,
                    timestamp: (now / 1000) as u32,
                    hash: [0; 32],
                };
                let _ = self.messenger.handle_envelope(&incoming, now);
                return;
            }
        }
    }
}

fn exchange<RS, MS, DB>(
    from: &mut Side<RS, MS, DB>,
    to: &mut Side<RS, MS, DB>,
    now: u64,
    received: &mut usize,
) where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    DB: MessageStore,
{
    loop {
        let wires = from.pump(received);
        for (topic, data) in &wires {
            to.deliver(*topic, data, now);
        }
        let back = to.pump(received);
        for (topic, data) in &back {
            from.deliver(*topic, data, now);
        }
        if wires.is_empty() && back.is_empty() {
            break;
        }
    }
}

fn run<RS, MS, DB>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    suffix: &str,
    mut alice: Side<RS, MS, DB>,
    mut bob: Side<RS, MS, DB>,
) where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    DB: MessageStore,
{
    for side in [&mut alice, &mut bob] {
        side.messenger.start(T0).unwrap();
        side.messenger.join_public_chat("bench").unwrap();
    }
    let mut received = 0;
    exchange(&mut alice, &mut bob, T0, &mut received);
    let mut now = T0;
    group.bench_function(format!("public_text{suffix}"), |b| {
        b.iter(|| {
            now += 1;
            alice.messenger.send_public_text("bench", "hello, this is a benchmark", now).unwrap();
            exchange(&mut alice, &mut bob, now, &mut received);
        })
    });

    // 1:1 after the first exchange (X3DH done): Double Ratchet + MVDS, message and ack.
    let bob_key: PublicKey = bob.key.public_key();
    alice.messenger.send_text(&bob_key, "first", now).unwrap();
    exchange(&mut alice, &mut bob, now, &mut received);
    let alice_key = alice.key.public_key();
    bob.messenger.send_text(&alice_key, "reply", now).unwrap();
    exchange(&mut bob, &mut alice, now, &mut received);
    group.bench_function(format!("one_to_one_text_and_ack{suffix}"), |b| {
        b.iter(|| {
            now += 1;
            alice.messenger.send_text(&bob_key, "hello, this is a benchmark", now).unwrap();
            exchange(&mut alice, &mut bob, now, &mut received);
        })
    });
    black_box(received);
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("messenger");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    run(&mut group, "", Side::memory(1), Side::memory(2));
    let dir: PathBuf =
        std::env::temp_dir().join(format!("wisp-messenger-bench-{}", std::process::id()));
    run(
        &mut group,
        "_sqlite",
        Side::sqlite(1, &dir.join("alice")),
        Side::sqlite(2, &dir.join("bob")),
    );
    run(
        &mut group,
        "_sqlite_full",
        Side::sqlite_full(1, &dir.join("alice-full")),
        Side::sqlite_full(2, &dir.join("bob-full")),
    );
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(messenger, benches);
criterion_main!(messenger);
