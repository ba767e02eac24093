//! Fuzzes the opening of Waku/Whisper envelope data (7/WAKU-DATA): `wisp_waku::payload`.
//!
//! Four paths per input:
//! 1. the bytes as envelope data: `open_payload` with a fixed symmetric key (the vectors'
//!    `refpeers-test` key) and with a fixed private key (0xb2…, the vectors' recipient), so
//!    the recorded envelopes make good seeds;
//! 2. the bytes as a plaintext: `parse_plaintext`; what parses covers the input exactly, and
//!    an unsigned canonical plaintext rebuilds byte for byte with `build_plaintext`;
//! 3. the bytes sealed as a plaintext, with AES-GCM under the fixed key and with ECIES to the
//!    fixed recipient, then opened: the result must equal path 2's (the parser behind the MAC
//!    is reached);
//! 4. the bytes as a payload (at most 4 KiB), signed or not by the input's first bit, sealed
//!    with random padding and opened again: payload and signer come back.
//!
//! Opening allocates no more than the data's length: no single allocation made inside
//! `open_payload` / `parse_plaintext` may exceed it by more than a small constant (checked
//! with a counting global allocator).

#![no_main]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        LazyLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use libfuzzer_sys::fuzz_target;
use wisp_crypto::{SecretKey, Zeroizing, keccak256};
use wisp_waku::payload::{
    Encryption, MessageParams, OpenedMessage, OpeningKey, PADDING_ALIGNMENT, SIGNATURE_FLAG,
    SIGNATURE_LEN, SIZE_MASK, build_plaintext, encrypt_asymmetric, encrypt_symmetric, open_payload,
    parse_plaintext, payload_size_field_len, seal_payload_with,
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

/// Slack over the input length for small bookkeeping allocations.
const ALLOC_SLACK: usize = 256;
/// Largest payload sealed in path 4, to keep executions fast.
const MAX_ROUND_TRIP_PAYLOAD: usize = 4096;

/// PBKDF2("refpeers-test"), the symmetric key of `shared/vectors/{waku,shh}/envelopes.json`.
const SYM_KEY: [u8; 32] = [
    0xdb, 0x53, 0x4a, 0x9c, 0xa8, 0x6b, 0xc8, 0x06, 0x08, 0xf0, 0x6f, 0x39, 0x67, 0x95, 0x6e, 0xe9,
    0x8b, 0xa4, 0x51, 0xfd, 0xb0, 0xd2, 0x63, 0xa1, 0x55, 0x65, 0x9f, 0x21, 0x52, 0xa4, 0xc5, 0xd9,
];

struct Fixture {
    recipient: SecretKey,
    signer: SecretKey,
    ephemeral: SecretKey,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    recipient: SecretKey::from_bytes(&[0xb2; 32]).unwrap(),
    signer: SecretKey::from_bytes(&[0xa1; 32]).unwrap(),
    ephemeral: SecretKey::from_bytes(&[0xe1; 32]).unwrap(),
});

/// Runs `f` with the allocation counter armed and checks its largest allocation.
fn bounded<T>(input_len: usize, f: impl FnOnce() -> T) -> T {
    LARGEST.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
    let out = f();
    ARMED.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= input_len + ALLOC_SLACK,
        "opening {input_len} bytes allocated {largest} bytes at once"
    );
    out
}

/// Invariants of any successfully parsed plaintext.
fn check_parsed(m: &OpenedMessage) {
    let raw = &m.plaintext[..];
    assert_eq!(raw[0], m.flags);
    let field = usize::from(m.flags & SIZE_MASK);
    let signed = m.flags & SIGNATURE_FLAG != 0;
    let sig_len = if signed { SIGNATURE_LEN } else { 0 };
    assert_eq!(1 + field + m.payload.len() + m.padding.len() + sig_len, raw.len());
    assert_eq!(m.payload_size_field(), &raw[1..1 + field]);
    let mut size = [0u8; 4];
    size[..field].copy_from_slice(&raw[1..1 + field]);
    assert_eq!(u32::from_le_bytes(size) as usize, m.payload.len());
    assert_eq!(&m.payload[..], &raw[1 + field..1 + field + m.payload.len()]);
    assert_eq!(&m.padding[..], &raw[1 + field + m.payload.len()..raw.len() - sig_len]);
    match (&m.signature, &m.signer) {
        (Some(sig), Some(signer)) => {
            assert!(signed);
            assert!(sig.v <= 1);
            assert_eq!(sig.to_bytes()[..64], raw[raw.len() - SIGNATURE_LEN..raw.len() - 1]);
            assert!(sig.verify(&keccak256(&raw[..raw.len() - SIGNATURE_LEN]), signer));
        }
        (None, None) => assert!(!signed),
        _ => panic!("signature and signer disagree"),
    }
    // An unsigned plaintext with the canonical flags rebuilds byte for byte.
    if !signed && field == payload_size_field_len(m.payload.len()) && m.flags & !SIZE_MASK == 0 {
        let params = MessageParams::new(m.payload.to_vec()).with_padding(m.padding.to_vec());
        let rebuilt = build_plaintext(&params, |_: &mut [u8]| panic!("no randomness")).unwrap();
        assert_eq!(rebuilt, raw, "unsigned plaintext rebuild");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let sym = OpeningKey::Symmetric(&SYM_KEY);
    let asym = OpeningKey::Asymmetric(&f.recipient);

    // 1. Envelope data.
    for key in [sym, asym] {
        if let Ok(m) = bounded(data.len(), || open_payload(data, key)) {
            check_parsed(&m);
        }
    }

    // 2. Plaintext.
    let owned = data.to_vec();
    let direct = bounded(data.len(), || parse_plaintext(owned));
    if let Ok(m) = &direct {
        check_parsed(m);
        assert_eq!(&m.plaintext[..], data);
    }

    // 3. Plaintext behind each cipher.
    let sealed = encrypt_symmetric(data, &SYM_KEY, &[0x5a; 12]);
    let opened = bounded(sealed.len(), || open_payload(&sealed, sym));
    assert_eq!(opened, direct, "symmetric open disagrees with parse");
    let sealed = encrypt_asymmetric(data, &f.recipient.public_key(), &f.ephemeral, &[0xa5; 16]);
    let opened = bounded(sealed.len(), || open_payload(&sealed, asym));
    assert_eq!(opened, direct, "asymmetric open disagrees with parse");

    // 4. Round trip of the bytes as a payload.
    if data.len() <= MAX_ROUND_TRIP_PAYLOAD {
        let signed = data.first().is_some_and(|b| b & 1 == 1);
        let mut params = MessageParams::new(data.to_vec());
        if signed {
            params = params.signed_by(f.signer.clone());
        }
        let (enc, key) = if data.len().is_multiple_of(2) {
            (Encryption::Symmetric(Zeroizing::new(SYM_KEY)), sym)
        } else {
            (Encryption::Asymmetric(f.recipient.public_key()), asym)
        };
        let mut counter = 0u8;
        let sealed = seal_payload_with(&params, &enc, |b: &mut [u8]| {
            for x in b {
                counter = counter.wrapping_add(0x3b);
                *x = counter;
            }
        })
        .expect("payload within MAX_PAYLOAD_LEN");
        let m = open_payload(&sealed, key).expect("own sealed payload opens");
        check_parsed(&m);
        assert_eq!(&m.payload[..], data);
        assert_eq!(m.signer, signed.then(|| f.signer.public_key()));
        assert!(m.plaintext.len().is_multiple_of(PADDING_ALIGNMENT));
    }
});
