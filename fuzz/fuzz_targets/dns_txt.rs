//! Fuzzes the parsing of EIP-1459 tree entries (`wisp_discovery::dns::Entry::parse`) on
//! arbitrary UTF-8, as is and behind each entry prefix, so the fuzzer reaches the root's
//! fields, branch hashes, link keys and domains without guessing the prefixes.
//!
//! An entry that parses must print to a text that parses back to the same entry and prints
//! the same again; its hash must match its printed text; a root's signature check must not
//! panic.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use wisp_crypto::{PublicKey, SecretKey};
use wisp_discovery::dns::{
    Entry,
    entry::{BRANCH_PREFIX, ENR_PREFIX, LINK_PREFIX, ROOT_PREFIX, entry_hash, hash_matches},
};

static KEY: LazyLock<PublicKey> =
    LazyLock::new(|| SecretKey::from_bytes(&[0xa1; 32]).unwrap().public_key());

fn check(text: &str) {
    let Ok(entry) = Entry::parse(text) else { return };
    let printed = entry.to_text();
    let again = Entry::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} (printed from {text:?}) does not parse: {e}"));
    assert_eq!(again, entry, "round trip of {text:?} via {printed:?}");
    assert_eq!(again.to_text(), printed, "printing is stable");
    assert!(hash_matches(&entry_hash(&printed), &printed));
    if let Entry::Root(root) = &entry {
        let _ = root.verify(&KEY);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    check(s);
    check(&format!("{ROOT_PREFIX} {s}"));
    check(&format!("{BRANCH_PREFIX}{s}"));
    check(&format!("{LINK_PREFIX}{s}"));
    check(&format!("{ENR_PREFIX}{s}"));
});
