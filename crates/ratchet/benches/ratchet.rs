//! Benchmarks of the secure transport: Double Ratchet encrypt+decrypt, full `ProtocolMessage`
//! build+open through a store, and X3DH initiations. Figures in the crate README.
//!
//! `cargo bench -p wisp-ratchet --bench ratchet`

use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wisp_crypto::SecretKey;
use wisp_ratchet::entropy::{Entropy, KeyPurpose, OsEntropy};
use wisp_ratchet::{MemoryStore, RatchetState, SecureTransport, SqliteStore, Store, x3dh};

use {hex as _, proptest as _, prost as _, rusqlite as _, serde_json as _, thiserror as _};
use {tracing as _, wisp_waku as _, zeroize as _};

const PAYLOAD: [u8; 256] = [0x42; 256];

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn ratchet_pair() -> (RatchetState, RatchetState) {
    let spk = SecretKey::random();
    let sk = [7u8; 32];
    (
        RatchetState::initiator(&sk, &spk.public_key(), SecretKey::random()),
        RatchetState::responder(&sk, spk),
    )
}

fn ratchet(c: &mut Criterion) {
    let mut group = c.benchmark_group("double_ratchet");
    group.throughput(Throughput::Elements(1));
    let mut entropy = OsEntropy;

    // Same chain: a symmetric step on each side.
    let (mut alice, mut bob) = ratchet_pair();
    group.bench_function("encrypt+decrypt 256 B, same chain", |b| {
        b.iter(|| {
            let (header, ciphertext) = alice.encrypt(&PAYLOAD);
            let out = bob.decrypt(&header, &ciphertext, None, 1000, &mut entropy).unwrap();
            if let Some(state) = out.state {
                bob = state;
            }
        });
    });

    // Ping-pong: every message starts a new chain (a DH ratchet step: key generation, 2 ECDH).
    let (mut alice, mut bob) = ratchet_pair();
    let mut turn = false;
    group.bench_function("encrypt+decrypt 256 B, DH ratchet step each", |b| {
        b.iter(|| {
            let (sender, receiver) =
                if turn { (&mut bob, &mut alice) } else { (&mut alice, &mut bob) };
            let (header, ciphertext) = sender.encrypt(&PAYLOAD);
            let out = receiver.decrypt(&header, &ciphertext, None, 1000, &mut entropy).unwrap();
            *receiver = out.state.unwrap();
            turn = !turn;
        });
    });
    group.finish();
}

fn established<S: Store>(alice_store: S, bob_store: S) -> (SecureTransport<S>, SecureTransport<S>) {
    let mut alice = SecureTransport::new(SecretKey::random(), "alice", alice_store);
    let mut bob = SecureTransport::new(SecretKey::random(), "bob", bob_store);
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    let first = alice.build_direct_message(&bob_pub, b"hi", now()).unwrap();
    bob.handle_message(&alice_pub, &first.message, now()).unwrap();
    let reply = bob.build_direct_message(&alice_pub, b"hi", now()).unwrap();
    alice.handle_message(&bob_pub, &reply.message, now()).unwrap();
    (alice, bob)
}

fn transport(c: &mut Criterion) {
    let mut group = c.benchmark_group("secure_transport");
    group.throughput(Throughput::Elements(1));

    let (mut alice, mut bob) = established(MemoryStore::new(), MemoryStore::new());
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    group.bench_function("build+handle direct message 256 B, memory store", |b| {
        b.iter(|| {
            let sent = alice.build_direct_message(&bob_pub, &PAYLOAD, now()).unwrap();
            let bytes = sent.encode();
            let message = wisp_ratchet::proto::decode_protocol_message(&bytes).unwrap();
            bob.handle_message(&alice_pub, &message, now()).unwrap();
        });
    });

    let dir = std::env::temp_dir();
    let paths = [dir.join("wisp-ratchet-bench-a.sqlite"), dir.join("wisp-ratchet-bench-b.sqlite")];
    for path in &paths {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    let (mut alice, mut bob) =
        established(SqliteStore::open(&paths[0]).unwrap(), SqliteStore::open(&paths[1]).unwrap());
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    group.bench_function("build+handle direct message 256 B, sqlite store (WAL, FULL sync)", |b| {
        b.iter(|| {
            let sent = alice.build_direct_message(&bob_pub, &PAYLOAD, now()).unwrap();
            bob.handle_message(&alice_pub, &sent.message, now()).unwrap();
        });
    });
    group.finish();
    drop((alice, bob));
    for path in &paths {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

fn initiation(c: &mut Criterion) {
    let mut group = c.benchmark_group("x3dh");
    group.throughput(Throughput::Elements(1));
    let ours = SecretKey::random();
    let theirs = SecretKey::random().public_key();
    let spk = SecretKey::random().public_key();
    let mut entropy = OsEntropy;
    group.bench_function("initiate (EK + ratchet key, 3 ECDH, initial DH step)", |b| {
        b.iter(|| {
            let ephemeral = entropy.secret_key(KeyPurpose::X3dhEphemeral);
            let secrets = x3dh::initiator(&ours, &ephemeral, &theirs, &spk);
            RatchetState::initiator(
                &secrets.shared_key,
                &spk,
                entropy.secret_key(KeyPurpose::RatchetKey),
            )
        });
    });
    let their_ephemeral = SecretKey::random().public_key();
    let our_spk = SecretKey::random();
    group.bench_function("respond (3 ECDH)", |b| {
        b.iter(|| {
            let secrets = x3dh::responder(&ours, &our_spk, &theirs, &their_ephemeral);
            RatchetState::responder(&secrets.shared_key, our_spk.clone())
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = ratchet, transport, initiation
}
criterion_main!(benches);
