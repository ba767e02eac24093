//! Fuzzes `wisp_discovery::enr::Enr` decoding: the RLP form (`Enr::decode`) and the text form
//! (`enr:` + base64url) of the same bytes, and the input as UTF-8 text.
//!
//! A record that decodes was verified (v4 signature by its own `secp256k1` key), so it must
//! re-encode to exactly the input bytes, its text must parse back to it, and every accessor
//! must answer without panicking.

#![no_main]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use libfuzzer_sys::fuzz_target;
use wisp_discovery::enr::{ENR_PREFIX, Enr, MAX_RECORD_SIZE};

fn check(enr: &Enr, bytes: Option<&[u8]>) {
    if let Some(bytes) = bytes {
        assert_eq!(enr.as_bytes(), bytes, "a decoded record keeps its bytes");
    }
    assert!(enr.as_bytes().len() <= MAX_RECORD_SIZE);
    let text = enr.to_text();
    let again: Enr = text.parse().unwrap_or_else(|e| panic!("{text} does not parse back: {e}"));
    assert_eq!(&again, enr);
    assert_eq!(Enr::decode(enr.as_bytes()).as_ref(), Ok(enr));
    assert_eq!(enr.signature().len(), 64);
    let _ = (enr.seq(), enr.ip4(), enr.ip6(), enr.tcp(), enr.udp(), enr.tcp6(), enr.udp6());
    let _ = (enr.waku(), enr.node_address(), enr.entries().count());
    if let Ok(node) = enr.to_node_record() {
        assert_eq!(node.id, enr.node_id());
        assert_eq!(Some(node.tcp_port), if enr.ip4().is_some() { enr.tcp() } else { enr.tcp6() });
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(enr) = Enr::decode(data) {
        check(&enr, Some(data));
    }
    let text = format!("{ENR_PREFIX}{}", URL_SAFE_NO_PAD.encode(data));
    if let Ok(enr) = text.parse::<Enr>() {
        check(&enr, Some(data));
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(enr) = s.parse::<Enr>()
    {
        check(&enr, None);
        assert_eq!(enr.to_text(), s, "the text form is canonical");
    }
});
