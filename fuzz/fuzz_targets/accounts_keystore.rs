//! Fuzzes `wisp_accounts::Keystore` (keystore v3 JSON).
//!
//! The input is parsed as a keystore file. A file that parses must print (`to_json`) to JSON
//! that parses back to an equal keystore; if its KDF is cheap enough to run here, decrypting it
//! with the password `fuzz` must give a key or a typed error, never a panic, and a key must
//! match the recorded address. The same bytes also serve as key material: a key encrypted with
//! one PBKDF2 round under a password taken from the input must decrypt to itself, and fail with
//! `WrongPassword` under another.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_accounts::{AccountsError, Kdf, Keystore, ScryptParams};
use wisp_crypto::{SecretKey, keccak256};

/// Largest KDF cost the target runs per input (scrypt N·r·p, PBKDF2 iterations).
const MAX_COST: u64 = 1 << 10;

fn cheap(kdf: &Kdf) -> bool {
    match kdf {
        Kdf::Scrypt(ScryptParams { n, r, p }) => {
            n.saturating_mul(u64::from(*r)).saturating_mul(u64::from(*p)) <= MAX_COST
        }
        Kdf::Pbkdf2 { iterations } => u64::from(*iterations) <= MAX_COST,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(keystore) = Keystore::from_json(data) {
        let json = keystore.to_json();
        let again = Keystore::from_json(json.as_bytes())
            .unwrap_or_else(|e| panic!("{json} (printed from a parsed file) does not parse: {e}"));
        assert_eq!(again, keystore, "round trip via {json}");
        assert_eq!(again.to_json(), json, "printing is stable");
        if cheap(keystore.kdf()) {
            match keystore.decrypt(b"fuzz") {
                Ok(key) => {
                    if let Some(address) = keystore.address() {
                        assert_eq!(key.public_key().address(), address);
                    }
                }
                Err(
                    AccountsError::WrongPassword
                    | AccountsError::KeystoreKey { .. }
                    | AccountsError::KeystoreAddressMismatch { .. },
                ) => {}
                Err(e) => panic!("unexpected decrypt error {e:?} for {json}"),
            }
        }
    }

    // Encrypt a key made from the input and open it again.
    let secret = keccak256(data);
    let Ok(key) = SecretKey::from_bytes(&secret) else { return };
    let password = &data[..data.len().min(16)];
    let keystore = Keystore::encrypt(&key, password, Kdf::Pbkdf2 { iterations: 1 }).unwrap();
    let parsed = Keystore::from_json(keystore.to_json().as_bytes()).unwrap();
    assert_eq!(parsed.decrypt(password).unwrap().public_key(), key.public_key());
    let mut wrong = password.to_vec();
    wrong.push(b'!');
    assert!(matches!(parsed.decrypt(&wrong), Err(AccountsError::WrongPassword)));
});
