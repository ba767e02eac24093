//! Fuzzes `NodeRecord::from_str` (enode URLs) on arbitrary UTF-8.
//!
//! Each input is parsed as is, and also after `enode://<valid node id>@`, so the host, port
//! and query parsing is reached without the fuzzer having to find a point on the curve. A
//! record that parses must print to a URL that parses back to the same record, and printing
//! must be stable.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wisp_crypto::SecretKey;
use wisp_rlpx::NodeRecord;

static PREFIX: LazyLock<String> = LazyLock::new(|| {
    let id = SecretKey::from_bytes(&[0xaa; 32]).unwrap().public_key().node_id();
    format!("enode://{id}@")
});

fn check(s: &str) {
    if let Ok(rec) = s.parse::<NodeRecord>() {
        let printed = rec.to_string();
        let again: NodeRecord = printed
            .parse()
            .unwrap_or_else(|e| panic!("{printed:?} (printed from {s:?}) does not parse: {e}"));
        assert_eq!(again, rec, "round trip of {s:?} via {printed:?}");
        assert_eq!(again.to_string(), printed, "printing is stable");
        assert!(rec.public_key().is_ok(), "a parsed record has a valid key");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    check(s);
    check(&format!("{}{s}", *PREFIX));
});
