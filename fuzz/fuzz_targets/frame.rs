//! Fuzzes RLPx framing: `FrameWriter::write_frame` against the `RlpxCodec` decoder.
//!
//! The session secrets come from one real EIP-8 handshake between fixed keys (done once).
//! The input is read as
//!
//! ```text
//! flags(1) max(1) n_chunks(1) chunk(1)*n n_flips(1) [pos(2) xor(1)]*n [truncate(2) if flags&4] rest
//! ```
//!
//! - `flags & 1 == 0` (frame mode): `rest` is a list of frame payloads, each `len(1) data(len)`,
//!   or `0xff size(2) fill(1)` for a larger frame. They are written with one side's
//!   `FrameWriter` (`flags & 2` picks the direction), the stream is optionally corrupted
//!   (byte flips) and truncated, and fed to the other side's codec in fuzzer-chosen chunks.
//!   The outcome must be exactly the predicted one: every frame before the first damaged or
//!   oversized one comes back identical, then `HeaderMac`, `FrameTooBig` or `FrameMac` as
//!   the damage dictates, or a clean or truncated end.
//! - `flags & 1 == 1` (raw mode): `rest` is fed to the codec as is. It must fail or wait for
//!   more, never panic.
//!
//! In both modes the codec's reader has a small `max_frame_size` (16 B to 1 MiB), and no single
//! allocation made inside `decode` may exceed a small multiple of the bytes fed plus one
//! maximum-size frame (checked with a counting global allocator).

#![no_main]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        LazyLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use wisp_crypto::SecretKey;
use wisp_rlpx::{
    FrameError, RlpxError,
    codec::RlpxCodec,
    frame::{FrameCipher, HEADER_LEN, MAX_FRAME_SIZE, body_len},
    handshake::{HandshakeFormat, HandshakeRandomness, Initiator, Recipient, Secrets},
};

/// Records the largest single allocation made while armed.
struct CountingAlloc;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

impl CountingAlloc {
    fn note(size: usize) {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(size, Ordering::Relaxed);
        }
    }
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Reader limits the fuzzer picks from.
const MAX_FRAME_SIZES: [usize; 5] = [1 << 20, 4096, 256, 16, 0];
/// Bounds on the generated stream, to keep executions fast.
const MAX_FRAMES: usize = 128;
const MAX_TOTAL_DATA: usize = 512 * 1024;

/// Initiator's and recipient's secrets of one handshake with fixed keys and randomness.
static SECRETS: LazyLock<(Secrets, Secrets)> = LazyLock::new(|| {
    let key = |b: u8| SecretKey::from_bytes(&[b; 32]).unwrap();
    let rnd = |b: u8| HandshakeRandomness {
        ephemeral_key: key(b),
        nonce: [b.wrapping_add(1); 32],
        ecies_key: key(b.wrapping_add(2)),
        ecies_iv: [b.wrapping_add(3); 16],
        padding_len: 100,
    };
    let (ka, kb) = (key(0xa1), key(0xb2));
    let mut initiator = Initiator::new(ka, kb.public_key().node_id(), rnd(0x10)).unwrap();
    let auth = initiator.auth(HandshakeFormat::Eip8);
    let recipient = Recipient::new(kb, rnd(0x20));
    let received = recipient.read_auth(&auth).unwrap();
    let (ack, recipient_secrets) = recipient.ack(&received).unwrap();
    let (initiator_secrets, _) = initiator.read_ack(&ack).unwrap();
    (initiator_secrets, recipient_secrets)
});

/// A cursor over the input that yields zeros once exhausted.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

/// How decoding a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// All bytes were consumed at a frame boundary.
    Clean,
    /// The stream ended inside a frame (`truncated_at_eof`).
    Truncated,
    /// `FrameError::HeaderMac`.
    HeaderMac,
    /// `FrameError::FrameMac`.
    FrameMac,
    /// `FrameError::FrameTooBig` for a frame of this size.
    TooBig { size: usize },
    /// Any other error (not expected).
    Other,
}

fn end_of(e: &RlpxError, max: usize) -> End {
    match e {
        RlpxError::Frame(FrameError::HeaderMac) => End::HeaderMac,
        RlpxError::Frame(FrameError::FrameMac) => End::FrameMac,
        RlpxError::Frame(FrameError::FrameTooBig { size, max: m }) => {
            assert_eq!(*m, max, "FrameTooBig reports the reader's limit");
            assert!(size > m, "FrameTooBig for a frame within the limit");
            End::TooBig { size: *size }
        }
        _ => End::Other,
    }
}

/// Chunk sizes: 1..=127 bytes, multiples of 512 up to 64 KiB, or everything left.
fn chunk_len(c: u8) -> usize {
    match c {
        0 => usize::MAX,
        1..=127 => usize::from(c),
        _ => usize::from(c - 127) * 512,
    }
}

/// Feeds `stream` to `codec` in chunks, then signals EOF. Returns the frames and the end.
fn feed(codec: &mut RlpxCodec, stream: &[u8], chunks: &[u8], max: usize) -> (Vec<BytesMut>, End) {
    let mut frames = Vec::new();
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    let mut rest = stream;
    let mut i = 0usize;
    // A generous bound that still catches any reservation driven by an unchecked header.
    let limit = |fed: usize| 8 * (fed + HEADER_LEN + body_len(max)) + 64;
    let decode = |codec: &mut RlpxCodec, buf: &mut BytesMut, fed: usize, eof: bool| {
        LARGEST.store(0, Ordering::Relaxed);
        ARMED.store(true, Ordering::Relaxed);
        let r = if eof { codec.decode_eof(buf) } else { codec.decode(buf) };
        ARMED.store(false, Ordering::Relaxed);
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= limit(fed),
            "decode allocated {largest} bytes after {fed} bytes fed (max frame size {max})"
        );
        r
    };
    while !rest.is_empty() {
        let n = if chunks.is_empty() { usize::MAX } else { chunk_len(chunks[i % chunks.len()]) };
        i += 1;
        let (chunk, r) = rest.split_at(n.min(rest.len()));
        rest = r;
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        loop {
            match decode(codec, &mut buf, fed, false) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return (frames, end_of(&e, max)),
            }
        }
    }
    loop {
        match decode(codec, &mut buf, fed, true) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => break,
            Err(e) => return (frames, end_of(&e, max)),
        }
    }
    let end = if codec.truncated_at_eof() { End::Truncated } else { End::Clean };
    (frames, end)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.u8();
    let max = MAX_FRAME_SIZES[usize::from(input.u8()) % MAX_FRAME_SIZES.len()];
    let n_chunks = usize::from(input.u8() % 8);
    let chunks = input.take(n_chunks).to_vec();
    let n_flips = usize::from(input.u8() % 4);
    let flips: Vec<(u16, u8)> = (0..n_flips).map(|_| (input.u16(), input.u8())).collect();
    let truncate = (flags & 4 != 0).then(|| input.u16());

    let (initiator, recipient) = &*SECRETS;
    let (writer_secrets, reader_secrets) =
        if flags & 2 == 0 { (initiator, recipient) } else { (recipient, initiator) };
    let mut codec = RlpxCodec::new(FrameCipher::new(reader_secrets, max));

    if flags & 1 == 1 {
        // Raw mode: arbitrary bytes. Errors are expected; panics and big allocations are not.
        let (frames, end) = feed(&mut codec, input.0, &chunks, max);
        assert_ne!(end, End::Other);
        let _ = frames;
        return;
    }

    // Frame mode: build the payloads.
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    while !input.0.is_empty() && payloads.len() < MAX_FRAMES && total < MAX_TOTAL_DATA {
        let len = input.u8();
        let payload = if len == 0xff {
            let size = usize::from(input.u16());
            let fill = input.u8();
            (0..size).map(|i| fill.wrapping_add(i as u8)).collect()
        } else {
            input.take(usize::from(len)).to_vec()
        };
        total += payload.len();
        payloads.push(payload);
    }

    // Write them with the other side's writer, remembering where each frame starts.
    let mut writer = FrameCipher::new(writer_secrets, MAX_FRAME_SIZE).writer;
    let mut stream = BytesMut::new();
    let mut bounds = vec![0usize];
    for p in &payloads {
        writer.write_frame(p, &mut stream).expect("payloads are below MAX_FRAME_SIZE");
        assert_eq!(stream.len() - bounds.last().unwrap(), HEADER_LEN + body_len(p.len()));
        bounds.push(stream.len());
    }
    let original = stream.clone();

    // Damage: truncation and byte flips.
    if let Some(t) = truncate {
        stream.truncate(usize::from(t) % (stream.len() + 1));
    }
    if !stream.is_empty() {
        for &(pos, x) in &flips {
            let pos = usize::from(pos) % stream.len();
            stream[pos] ^= x;
        }
    }
    let first_diff = stream.iter().zip(original.iter()).position(|(a, b)| a != b);
    let len = stream.len();

    // Predict the outcome.
    let mut expected_frames = 0usize;
    let mut expected = End::Clean;
    for (j, p) in payloads.iter().enumerate() {
        let (start, header_end, end) = (bounds[j], bounds[j] + HEADER_LEN, bounds[j + 1]);
        let damaged = |from: usize, to: usize| first_diff.is_some_and(|d| d >= from && d < to);
        if len <= start {
            break;
        }
        if len < header_end {
            expected = End::Truncated;
            break;
        }
        if damaged(start, header_end) {
            expected = End::HeaderMac;
            break;
        }
        if p.len() > max {
            expected = End::TooBig { size: p.len() };
            break;
        }
        if len < end {
            expected = End::Truncated;
            break;
        }
        if damaged(header_end, end) {
            expected = End::FrameMac;
            break;
        }
        expected_frames += 1;
    }

    let (frames, end) = feed(&mut codec, &stream, &chunks, max);
    assert_eq!(
        end,
        expected,
        "stream of {} frames, {len} bytes, first damage at {first_diff:?}",
        payloads.len()
    );
    assert_eq!(frames.len(), expected_frames, "number of frames decoded");
    for (j, (got, want)) in frames.iter().zip(&payloads).enumerate() {
        assert!(got[..] == want[..], "frame {j} differs after the round trip");
    }
});
