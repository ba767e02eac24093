//! Helpers shared by the integration tests: vector loading and hex.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Debug;

// Dependencies of the library or of other test targets.
use std::path::PathBuf;
use {
    criterion as _, proptest as _, prost as _, rusqlite as _, thiserror as _, tracing as _,
    wisp_waku as _, zeroize as _,
};

use serde_json::Value;
use wisp_crypto::{PublicKey, SecretKey};

/// `testdata/vectors/chat/<name>` at the repository root (copied from the team's `shared/`,
/// provenance in `testdata/README.md`): the only place these tests read files from.
pub fn load(name: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/chat").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub fn hx(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))).unwrap()
}

pub fn arr<const N: usize>(value: &Value) -> [u8; N] {
    hx(value).try_into().unwrap()
}

pub fn secret(value: &Value) -> SecretKey {
    SecretKey::from_bytes(&hx(value)).unwrap()
}

pub fn public(value: &Value) -> PublicKey {
    PublicKey::from_sec1(&hx(value)).unwrap()
}

/// PBKDF2 of `password` (the Waku key), computed once per test binary: 65 356 rounds are slow
/// in debug builds.
pub fn waku_key(password: &str) -> [u8; 32] {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, [u8; 32]>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(key) = cache.lock().unwrap().get(password) {
        return *key;
    }
    let key = *wisp_crypto::symmetric_key_from_password(password);
    cache.lock().unwrap().insert(password.to_owned(), key);
    key
}

/// Counts the checks made against the vectors.
#[derive(Default)]
pub struct Checks {
    pub count: usize,
}

impl Checks {
    #[track_caller]
    pub fn eq<T: PartialEq + Debug>(&mut self, got: T, want: T, what: &str) {
        assert_eq!(got, want, "{what}");
        self.count += 1;
    }

    #[track_caller]
    pub fn hex(&mut self, got: impl AsRef<[u8]>, want: &Value, what: &str) {
        self.eq(hex::encode(got), want.as_str().unwrap().to_owned(), what);
    }
}
