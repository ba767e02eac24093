//! Benchmarks of the Waku hot paths: envelope validation and deduplication in the router,
//! proof-of-work hashing and sealing, trial decryption by the filters, and opening one
//! symmetric payload.
//!
//! Run with `cargo bench -p wisp-waku`; filter with e.g. `cargo bench -p wisp-waku -- pow/`.

use std::{hint::black_box, time::Duration};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wisp_crypto::{Zeroizing, fill_random, random_bytes};
use wisp_waku::{
    Bloom, Capability, Encryption, Envelope, Filter, FilterKey, Filters, MessageParams, OpeningKey,
    PeerId, Router, RouterConfig, SealBudget, StatusOptions, Topic, WakuPacket,
    envelope::pow_value, open_payload, packets::waku_codes, seal_payload,
};

// Dependencies of the crate (and dev-dependencies) this bench does not use.
use alloy_rlp as _;
use bytes as _;
use hex as _;
use proptest as _;
use serde_json as _;
use thiserror as _;
use tracing as _;

/// The time every benchmark runs at (ms since the Unix epoch, as in `tests/router.rs`).
const NOW_MS: u64 = 1_800_000_000_000;
/// The envelopes' topic.
const TOPIC: Topic = Topic([0x12, 0x34, 0x56, 0x78]);
/// Envelopes per Messages packet in the router benchmarks.
const BATCH: usize = 100;
/// The peer feeding the router.
const PEER: PeerId = PeerId(1);
/// Payload of the 1 KiB messages: 1 flag byte + 2 size bytes + 1000 + 21 bytes of random
/// padding = a 1024-byte plaintext, 1052 bytes of envelope data with the GCM tag and nonce.
const KIB_PAYLOAD: usize = 1000;
/// The TTL Status sends with (10/WAKU-USAGE).
const STATUS_TTL: u32 = 15;
/// The PoW Status seals to (10/WAKU-USAGE).
const STATUS_POW: f64 = 0.002;
/// Nonces tried per `pow/hashes` iteration.
const HASH_ATTEMPTS: u64 = 10_000;

fn now_secs() -> u32 {
    (NOW_MS / 1000) as u32
}

fn random_key() -> Zeroizing<[u8; 32]> {
    Zeroizing::new(random_bytes::<32>())
}

fn random_data(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    fill_random(&mut data);
    data
}

/// An envelope with `payload` sealed under `key`, TTL 15, sealed to `pow`.
fn sealed_envelope(payload: Vec<u8>, key: &Zeroizing<[u8; 32]>, pow: f64) -> Envelope {
    let data = seal_payload(&MessageParams::new(payload), &Encryption::Symmetric(key.clone()))
        .expect("payload within limits");
    let mut env = Envelope {
        expiry: now_secs() + STATUS_TTL,
        ttl: STATUS_TTL,
        topic: TOPIC,
        data: data.into(),
        nonce: 0,
    };
    let mut go = || true;
    let out = env.seal(pow, SealBudget { max_attempts: 1 << 24, keep_going: &mut go });
    assert!(out.reached, "could not seal to {pow}");
    env
}

/// A router with one `waku/1` peer past its Status handshake, outputs drained.
fn ready_router() -> Router {
    let mut router = Router::new(RouterConfig::default());
    router.add_peer(PEER, Capability::Waku, None, NOW_MS);
    let status = StatusOptions {
        pow_requirement: Some(0.000002),
        bloom: Some(Bloom::FULL),
        light_node: Some(false),
        confirmations_enabled: Some(false),
        ..Default::default()
    };
    let mut payload = Vec::new();
    WakuPacket::Status(status).encode(&mut payload);
    router.handle_packet(PEER, waku_codes::STATUS, &payload, NOW_MS);
    while router.poll_output().is_some() {}
    assert!(router.peer_status(PEER).is_some(), "Status accepted");
    router
}

/// Feeds the Messages packet and drains what the router produces.
fn feed(router: &mut Router, packet: &[u8]) {
    router.handle_packet(PEER, waku_codes::MESSAGES, packet, NOW_MS);
    while let Some(output) = router.poll_output() {
        black_box(output);
    }
}

fn bench_router(c: &mut Criterion) {
    // 100 distinct small envelopes (20-byte payload: 284 bytes of data, ~300 encoded).
    let key = random_key();
    let envelopes: Vec<Envelope> = (0..BATCH)
        .map(|i| {
            sealed_envelope(format!("router bench message {i:04}").into_bytes(), &key, STATUS_POW)
        })
        .collect();
    let mut packet = Vec::new();
    WakuPacket::Messages(envelopes).encode(&mut packet);

    // Sanity: one feed admits all of them; a second admits none.
    let mut router = ready_router();
    feed(&mut router, &packet);
    assert_eq!(router.pool_len(), BATCH, "every envelope accepted");
    feed(&mut router, &packet);
    assert_eq!(router.stats().accepted, BATCH as u64, "the second feed is all duplicates");
    assert_eq!(router.peer_count(), 1, "the peer was not dropped");

    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(BATCH as u64));
    // Fresh envelopes: a new router per iteration, only the feed is timed.
    group.bench_function("validate_dedupe", |b| {
        b.iter_batched(
            ready_router,
            |mut router| {
                feed(&mut router, black_box(&packet));
                router
            },
            BatchSize::SmallInput,
        );
    });
    // The same packet again: every envelope is a known duplicate.
    group.bench_function("duplicate", |b| {
        b.iter_batched(
            || {
                let mut router = ready_router();
                feed(&mut router, &packet);
                router
            },
            |mut router| {
                feed(&mut router, black_box(&packet));
                router
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// An unsealed envelope with `len` bytes of random data, TTL 15.
fn envelope_of(len: usize) -> Envelope {
    Envelope {
        expiry: now_secs() + STATUS_TTL,
        ttl: STATUS_TTL,
        topic: TOPIC,
        data: random_data(len).into(),
        nonce: 0,
    }
}

fn bench_pow(c: &mut Criterion) {
    // PoW hashes per second: a target no nonce reaches, so exactly HASH_ATTEMPTS are tried.
    let mut group = c.benchmark_group("pow");
    group.throughput(Throughput::Elements(HASH_ATTEMPTS));
    for (len, label) in [(1024, "1KiB"), (1024 * 1024, "1MiB")] {
        let env = envelope_of(len);
        let mut probe = env.clone();
        let mut go = || true;
        let out = probe.seal(1e9, SealBudget { max_attempts: HASH_ATTEMPTS, keep_going: &mut go });
        assert!(!out.reached && out.attempts == HASH_ATTEMPTS, "{out:?}");
        group.bench_with_input(BenchmarkId::new("hashes", label), &env, |b, env| {
            let mut env = env.clone();
            let mut go = || true;
            b.iter(|| {
                env.nonce = env.nonce.wrapping_add(HASH_ATTEMPTS);
                let budget = SealBudget { max_attempts: HASH_ATTEMPTS, keep_going: &mut go };
                black_box(env.seal(black_box(1e9), budget))
            });
        });
    }

    // The fixed cost of a `seal` call: building and hashing `rlp([expiry, ttl, topic, data])`
    // once (one attempt), which `pow/hashes` pays once per 10 000 nonces.
    for (len, label) in [(1024, "1KiB"), (1024 * 1024, "1MiB")] {
        let env = envelope_of(len);
        group.throughput(Throughput::Bytes(env.rlp_without_nonce().len() as u64));
        group.bench_with_input(BenchmarkId::new("prefix", label), &env, |b, env| {
            let mut env = env.clone();
            let mut go = || true;
            b.iter(|| {
                let budget = SealBudget { max_attempts: 1, keep_going: &mut go };
                black_box(env.seal(black_box(1e9), budget))
            });
        });
    }
    group.finish();

    // Time to seal to PoW 0.002 with TTL 15, each iteration from another expiry and start
    // nonce, so the mean is that of the search.
    let mut group = c.benchmark_group("pow/seal_0.002");
    group.throughput(Throughput::Elements(1));
    for (len, label) in [(1024, "1KiB"), (50 * 1024, "50KiB"), (1024 * 1024, "1MiB")] {
        let env = envelope_of(len);
        let size = env.rlp_without_nonce().len();
        let needed = (0..=256).find(|&z| pow_value(z, size, STATUS_TTL) >= STATUS_POW).unwrap();
        println!(
            "pow/seal_0.002/{label}: rlp without nonce {size} bytes, {needed} leading zero bits \
             needed, 2^{needed} = {} attempts expected",
            1u64 << needed
        );
        // The 1 MiB search takes ~15 ms and its length is geometric: more samples, more time.
        if len == 1024 * 1024 {
            group.measurement_time(Duration::from_secs(10));
        }
        let mut round = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(label), &env, |b, env| {
            b.iter_batched(
                || {
                    round += 1;
                    let mut env = env.clone();
                    env.expiry = now_secs() + STATUS_TTL + (round % 1000) as u32;
                    env.nonce = round << 32;
                    env
                },
                |mut env| {
                    let mut go = || true;
                    let budget = SealBudget { max_attempts: 1 << 40, keep_going: &mut go };
                    let out = env.seal(STATUS_POW, budget);
                    assert!(out.reached);
                    (env, out)
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn symmetric_filter(key: Zeroizing<[u8; 32]>, topic: Topic) -> Filter {
    Filter {
        key: FilterKey::Symmetric(key),
        topics: vec![topic],
        min_pow: 0.0,
        signer: None,
        allow_p2p: false,
    }
}

/// A topic other than [`TOPIC`] for each `i`.
fn other_topic(i: u32) -> Topic {
    Topic((i | 0x8000_0000).to_be_bytes())
}

fn bench_filters(c: &mut Criterion) {
    // One 1 KiB envelope, encrypted to the key of the last filter installed.
    let key = random_key();
    let env = sealed_envelope(random_data(KIB_PAYLOAD), &key, STATUS_POW);
    let (hash, pow) = (env.hash(), env.pow());

    let mut group = c.benchmark_group("filters");
    for n in [1u64, 100, 10_000] {
        // N filters on the envelope's topic, each with its own key: every key is tried.
        let mut filters = Filters::default();
        for _ in 1..n {
            filters.install(symmetric_filter(random_key(), TOPIC));
        }
        filters.install(symmetric_filter(key.clone(), TOPIC));
        let before = filters.trials();
        assert_eq!(filters.dispatch(&env, &hash, pow, false).len(), 1);
        assert_eq!(filters.trials() - before, n, "every key tried once");

        group.throughput(Throughput::Elements(n));
        group.bench_function(BenchmarkId::new("trial_decrypt", n), |b| {
            b.iter(|| black_box(filters.dispatch(black_box(&env), &hash, pow, false)));
        });
    }

    // 10 000 filters on other topics and one on the envelope's: the topic index skips them.
    let mut filters = Filters::default();
    for i in 0..10_000 {
        filters.install(symmetric_filter(random_key(), other_topic(i)));
    }
    filters.install(symmetric_filter(key.clone(), TOPIC));
    let before = filters.trials();
    assert_eq!(filters.dispatch(&env, &hash, pow, false).len(), 1);
    assert_eq!(filters.trials() - before, 1, "only the topic's filter tried");
    group.throughput(Throughput::Elements(1));
    group.bench_function("other_topics", |b| {
        b.iter(|| black_box(filters.dispatch(black_box(&env), &hash, pow, false)));
    });
    group.finish();
}

fn bench_payload(c: &mut Criterion) {
    let key = random_key();
    let data = seal_payload(
        &MessageParams::new(random_data(KIB_PAYLOAD)),
        &Encryption::Symmetric(key.clone()),
    )
    .expect("payload within limits");
    assert_eq!(data.len(), 1052);

    let mut group = c.benchmark_group("payload");
    group.throughput(Throughput::Elements(1));
    group.bench_function("open", |b| {
        b.iter(|| black_box(open_payload(black_box(&data), OpeningKey::Symmetric(&key))))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench_router, bench_pow, bench_filters, bench_payload
}
criterion_main!(benches);
