//! Fuzzes the decoders of the `p2p` base protocol. Every input goes through all of:
//!
//! - `decode_frame_data` then `P2PMessage::decode` (any id): a decoded message has that id
//!   and decodes again from its own encoding;
//! - `decompress(data, 1 MiB)`: output within the limit and of the declared length; and
//!   `decompress` of the input snappy-compressed by us, with a limit taken from the input:
//!   the input back when it fits, `MessageTooBig` with the exact size when not;
//! - `Hello::decode`: round trip (encode, `encoded_len`, decode again, equal, all bytes used),
//!   then `SharedCapabilities::negotiate` against a fixed set of our protocols, with the
//!   invariants of the id ranges;
//! - `DisconnectReason::decode`: round trip through `encode` and through the wire code.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_rlpx::{
    DisconnectReason, Hello, P2PError, P2PMessage, Protocol, SharedCapabilities,
    p2p::{BASE_PROTOCOL_LENGTH, decode_frame_data, decompress},
};

/// The limit on decompressed messages used by the first `decompress` call.
const MAX_DECOMPRESSED: usize = 1 << 20;

fn ours() -> [Protocol; 4] {
    [
        Protocol::new("waku", 1, 128),
        Protocol::new("shh", 6, 128),
        Protocol::new("waku", 0, 64),
        Protocol::new("les", 2, 21),
    ]
}

fn check_hello(hello: &Hello) {
    let mut out = Vec::new();
    hello.encode(&mut out);
    assert_eq!(out.len(), hello.encoded_len(), "Hello::encoded_len");
    let mut slice = &out[..];
    let again = Hello::decode(&mut slice)
        .unwrap_or_else(|e| panic!("re-encoded Hello does not decode: {e}; {hello:?}"));
    assert!(slice.is_empty(), "re-encoded Hello has {} trailing bytes", slice.len());
    assert_eq!(&again, hello, "Hello round trip");

    let ours = ours();
    let theirs = &hello.capabilities;
    match SharedCapabilities::negotiate(&ours, theirs) {
        Err(e) => {
            assert!(matches!(e, P2PError::NoSharedCapability { .. }), "negotiate: {e}");
            assert!(ours.iter().all(|p| !theirs.contains(&p.cap)));
        }
        Ok(shared) => {
            let mut offset = BASE_PROTOCOL_LENGTH;
            let mut last_name: Option<&str> = None;
            for s in shared.iter() {
                assert_eq!(s.offset, offset, "capabilities take consecutive id ranges");
                offset += s.length;
                if let Some(prev) = last_name {
                    assert!(prev < s.cap.name.as_str(), "names unique and sorted");
                }
                last_name = Some(&s.cap.name);
                assert!(theirs.contains(&s.cap), "{} is not theirs", s.cap);
                let best = ours
                    .iter()
                    .filter(|p| p.cap.name == s.cap.name && theirs.contains(&p.cap))
                    .map(|p| p.cap.version)
                    .max();
                assert_eq!(best, Some(s.cap.version), "highest shared version of {}", s.cap.name);
                for code in [0, s.length - 1] {
                    let id = shared.message_id(&s.cap.name, code);
                    assert_eq!(id, Some(s.offset + code));
                    let (c, rel) = shared.resolve(s.offset + code).expect("resolve own id");
                    assert_eq!((&c.cap, rel), (&s.cap, code));
                }
                assert_eq!(shared.message_id(&s.cap.name, s.length), None);
            }
            // Every name both sides list is shared.
            for p in &ours {
                if theirs.contains(&p.cap) {
                    assert!(shared.get(&p.cap.name).is_some(), "{} not shared", p.cap);
                }
            }
            assert!(shared.resolve(offset).is_none());
            assert!(shared.resolve(BASE_PROTOCOL_LENGTH - 1).is_none());
        }
    }
}

fn check_disconnect(reason: DisconnectReason) {
    assert_eq!(DisconnectReason::from_code(reason.code()), reason);
    let mut out = Vec::new();
    reason.encode(&mut out);
    let again = DisconnectReason::decode(&mut &out[..]).expect("re-encoded Disconnect decodes");
    assert_eq!(again, reason, "Disconnect round trip");
}

fuzz_target!(|data: &[u8]| {
    // Frame data: message id, then the message.
    if let Ok((id, rest)) = decode_frame_data(data) {
        match P2PMessage::decode(id, rest) {
            Ok(msg) => {
                assert_eq!(msg.id(), id);
                let mut out = Vec::new();
                msg.encode_data(&mut out);
                let again = P2PMessage::decode(id, &out).expect("re-encoded message decodes");
                assert_eq!(again, msg, "P2PMessage round trip");
                match &msg {
                    P2PMessage::Hello(h) => check_hello(h),
                    P2PMessage::Disconnect(r) => check_disconnect(*r),
                    P2PMessage::Ping | P2PMessage::Pong => {}
                }
            }
            Err(P2PError::UnknownMessageId(other)) => assert_eq!(other, id),
            Err(e) => assert!(id <= 1, "message {id} failed: {e}"),
        }
    }

    // Snappy.
    if let Ok(plain) = decompress(data, MAX_DECOMPRESSED) {
        assert!(plain.len() <= MAX_DECOMPRESSED);
        assert_eq!(snap::raw::decompress_len(data).ok(), Some(plain.len()));
    }
    let max = usize::from(data.first().copied().unwrap_or(0)) * 16;
    let compressed = snap::raw::Encoder::new().compress_vec(data).expect("snappy compress");
    match decompress(&compressed, max) {
        Ok(plain) => assert!(plain == data && data.len() <= max, "snappy round trip"),
        Err(P2PError::MessageTooBig { size, max: m }) => {
            assert_eq!((size, m), (data.len(), max));
            assert!(size > max);
        }
        Err(e) => panic!("decompress of our own snappy output failed: {e}"),
    }

    // The message decoders directly.
    let mut slice = data;
    if let Ok(hello) = Hello::decode(&mut slice) {
        check_hello(&hello);
    }
    let mut slice = data;
    if let Ok(reason) = DisconnectReason::decode(&mut slice) {
        check_disconnect(reason);
    }
});
