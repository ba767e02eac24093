//! Benchmarks of the RLPx hot paths: a full EIP-8 handshake in memory, and frame encryption
//! and decryption (`FrameWriter::write_frame`, `FrameReader::{read_header, read_body}`) for
//! 1 KiB and 64 KiB frames.
//!
//! Run with `cargo bench -p wisp-rlpx`; filter with e.g. `cargo bench -p wisp-rlpx -- frame/read`.

use std::{hint::black_box, sync::LazyLock, time::Duration};

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wisp_crypto::SecretKey;
use wisp_rlpx::{
    NodeId,
    frame::{FrameCipher, HEADER_LEN, MAX_FRAME_SIZE, body_len},
    handshake::{HandshakeFormat, HandshakeRandomness, Initiator, Recipient, Secrets},
};

// Dependencies of the crate (and dev-dependencies) this bench does not use.
use alloy_rlp as _;
use futures as _;
use hex as _;
use proptest as _;
use serde_json as _;
use snap as _;
use thiserror as _;
use tokio as _;
use tokio_util as _;
use tracing as _;
use zeroize as _;

/// Frame data sizes measured, with their labels.
const FRAME_SIZES: [(usize, &str); 2] = [(1024, "1KiB"), (64 * 1024, "64KiB")];
/// Bytes of frame data per `frame/read` iteration (16 frames of 64 KiB, 1024 of 1 KiB).
const READ_STREAM_DATA: usize = 1 << 20;

/// The static keys of the two benchmark nodes: an initiator and a recipient.
static KEYS: LazyLock<(SecretKey, SecretKey, NodeId)> = LazyLock::new(|| {
    let a = SecretKey::from_bytes(&[0xa1; 32]).expect("valid key");
    let b = SecretKey::from_bytes(&[0xb2; 32]).expect("valid key");
    let b_id = b.public_key().node_id();
    (a, b, b_id)
});

/// One complete EIP-8 handshake in memory: auth → read_auth → ack → read_ack.
/// Returns the initiator's and the recipient's secrets.
fn handshake() -> (Secrets, Secrets) {
    let (a, b, b_id) = &*KEYS;
    let mut initiator =
        Initiator::new(a.clone(), *b_id, HandshakeRandomness::generate()).expect("valid remote id");
    let auth = initiator.auth(HandshakeFormat::Eip8);
    let recipient = Recipient::new(b.clone(), HandshakeRandomness::generate());
    let received = recipient.read_auth(&auth).expect("auth accepted");
    let (ack, recipient_secrets) = recipient.ack(&received).expect("ack built");
    let (initiator_secrets, _) = initiator.read_ack(&ack).expect("ack accepted");
    (initiator_secrets, recipient_secrets)
}

/// The secrets every frame benchmark uses.
static SECRETS: LazyLock<(Secrets, Secrets)> = LazyLock::new(handshake);

fn bench_handshake(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    group.bench_function("full", |b| b.iter(|| black_box(handshake())));
    group.finish();
}

fn bench_frames(c: &mut Criterion) {
    let (initiator, recipient) = &*SECRETS;
    let mut group = c.benchmark_group("frame");

    for (size, label) in FRAME_SIZES {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();

        // Encrypt one frame into a reused buffer.
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("write", label), &data, |b, data| {
            let mut writer = FrameCipher::new(initiator, MAX_FRAME_SIZE).writer;
            let mut out = BytesMut::with_capacity(HEADER_LEN + body_len(size));
            b.iter(|| {
                out.clear();
                writer.write_frame(black_box(data), &mut out).expect("frame within limits");
                black_box(&out);
            });
        });

        // Decrypt a stream of frames. The MAC state is sequential, so every iteration gets a
        // fresh reader (whose state is that of a fresh writer) and its own copy of the stream
        // the fresh writer produced; only the reading is timed.
        let frames = READ_STREAM_DATA / size;
        let mut writer = FrameCipher::new(initiator, MAX_FRAME_SIZE).writer;
        let mut stream = BytesMut::new();
        for _ in 0..frames {
            writer.write_frame(&data, &mut stream).expect("frame within limits");
        }
        let stream = stream.to_vec();
        group.throughput(Throughput::Bytes((frames * size) as u64));
        group.bench_with_input(BenchmarkId::new("read", label), &stream, |b, stream| {
            b.iter_batched(
                || (FrameCipher::new(recipient, MAX_FRAME_SIZE).reader, stream.clone()),
                |(mut reader, mut stream)| {
                    let mut rest = &mut stream[..];
                    while !rest.is_empty() {
                        let (header, tail) = rest.split_at_mut(HEADER_LEN);
                        let header: &[u8; HEADER_LEN] = (&*header).try_into().expect("32 bytes");
                        let frame_size = reader.read_header(header).expect("header MAC");
                        let (body, tail) = tail.split_at_mut(body_len(frame_size));
                        reader.read_body(body, frame_size).expect("frame MAC");
                        black_box(&body[..frame_size]);
                        rest = tail;
                    }
                    reader
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench_handshake, bench_frames
}
criterion_main!(benches);
