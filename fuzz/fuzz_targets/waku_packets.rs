//! Fuzzes the `waku/1` and `shh/6` packet decoders (`wisp_waku::packets`). The first byte
//! picks the packet code (low 7 bits), the rest is the payload; both `WakuPacket::decode` and
//! `WhisperPacket::decode` see it. A packet that decodes keeps its code, encodes to
//! `encoded_len` bytes, and decodes again from its own encoding to an equal value. The same
//! payload under the code + 128 is refused as out of range.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_waku::{PacketError, PacketLimits, WakuPacket, WhisperPacket};

/// Small enough that the envelope-count limit is reached by fuzz inputs.
const LIMITS: PacketLimits = PacketLimits { max_envelope_size: 1 << 20, max_envelopes: 64 };

fuzz_target!(|data: &[u8]| {
    let Some((&first, payload)) = data.split_first() else { return };
    let code = u64::from(first & 0x7f);

    if let Ok(p) = WakuPacket::decode(code, payload, &LIMITS) {
        assert_eq!(p.code(), code);
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out.len(), p.encoded_len(), "encoded_len of {p:?}");
        let again = WakuPacket::decode(code, &out, &LIMITS)
            .unwrap_or_else(|e| panic!("re-encoded {p:?} does not decode: {e}"));
        assert_eq!(again, p, "waku/1 round trip");
    }
    if let Ok(p) = WhisperPacket::decode(code, payload, &LIMITS) {
        assert_eq!(p.code(), code);
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out.len(), p.encoded_len(), "encoded_len of {p:?}");
        let again = WhisperPacket::decode(code, &out, &LIMITS)
            .unwrap_or_else(|e| panic!("re-encoded {p:?} does not decode: {e}"));
        assert_eq!(again, p, "shh/6 round trip");
    }

    let out_of_range = code + 128;
    assert!(matches!(
        WakuPacket::decode(out_of_range, payload, &LIMITS),
        Err(PacketError::CodeOutOfRange { .. })
    ));
    assert!(matches!(
        WhisperPacket::decode(out_of_range, payload, &LIMITS),
        Err(PacketError::CodeOutOfRange { .. })
    ));
});
