//! Keystore v3 files (go-ethereum's "Web3 Secret Storage"): a secret key encrypted with
//! AES-128-CTR under a key derived from a password by scrypt or PBKDF2-HMAC-SHA256, and
//! authenticated by `keccak256(derived_key[16..32] || ciphertext)`.
//!
//! The parser accepts what go-ethereum reads (`crypto` or `Crypto`, extra fields ignored) and
//! bounds the KDF parameters, so a hostile file cannot make it allocate gigabytes or run for
//! hours. A wrong password is [`AccountsError::WrongPassword`], found by the MAC before any key
//! is built.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use wisp_crypto::{
    SecretKey, Zeroizing, aes128_ctr_apply, constant_time_eq, fill_random, keccak256, random_bytes,
};

use crate::{
    address::ADDRESS_LEN,
    error::{AccountsError, Result},
};

/// The keystore format version this module reads and writes.
pub const KEYSTORE_VERSION: u64 = 3;
/// The only cipher of keystore v3 files in use.
pub const CIPHER: &str = "aes-128-ctr";
/// The PBKDF2 pseudo-random function keystore files use.
pub const PBKDF2_PRF: &str = "hmac-sha256";
/// Length of the derived key (16 bytes of AES key, 16 of MAC key).
pub const DERIVED_KEY_LEN: usize = 32;
/// Length of a fresh salt.
const SALT_LEN: usize = 32;
/// Largest scrypt memory accepted, 128·r·N bytes: 1 GiB (go-ethereum's standard is 256 MiB).
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest scrypt work accepted, N·r·p: 32 times go-ethereum's standard.
pub const MAX_SCRYPT_WORK: u64 = 1 << 26;
/// Most PBKDF2 iterations accepted (go-ethereum writes 262 144).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Longest salt accepted.
const MAX_SALT_LEN: usize = 1024;
/// Longest ciphertext accepted (a secp256k1 key is 32 bytes; some tools store more).
const MAX_CIPHERTEXT_LEN: usize = 1024;

/// scrypt parameters: N (a power of two above 1), r, p.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    /// CPU/memory cost N, a power of two.
    pub n: u64,
    /// Block size r.
    pub r: u32,
    /// Parallelism p.
    pub p: u32,
}

impl ScryptParams {
    /// go-ethereum's `StandardScryptN`/`StandardScryptP`: N = 2^18, r = 8, p = 1 (256 MiB,
    /// about a second).
    pub const STANDARD: Self = Self { n: 1 << 18, r: 8, p: 1 };
    /// go-ethereum's `LightScryptN`/`LightScryptP`, which status-go uses: N = 2^12, r = 8,
    /// p = 6 (4 MiB, tens of milliseconds).
    pub const LIGHT: Self = Self { n: 1 << 12, r: 8, p: 6 };

    /// Checks the parameters against the scrypt rules and this module's bounds.
    pub fn check(&self) -> Result<()> {
        let reject = |reason: String| Err(AccountsError::KdfParams { kdf: "scrypt", reason });
        if self.n < 2 || !self.n.is_power_of_two() {
            return reject(format!("n = {} is not a power of two above 1", self.n));
        }
        if self.r == 0 || self.p == 0 {
            return reject("r and p must be positive".into());
        }
        let memory = 128u128 * u128::from(self.r) * u128::from(self.n);
        if memory > u128::from(MAX_SCRYPT_MEMORY) {
            return reject(format!(
                "n = {}, r = {} need {memory} bytes, more than {MAX_SCRYPT_MEMORY}",
                self.n, self.r
            ));
        }
        let work = u128::from(self.n) * u128::from(self.r) * u128::from(self.p);
        if work > u128::from(MAX_SCRYPT_WORK) {
            return reject(format!("n·r·p = {work} is more than {MAX_SCRYPT_WORK}"));
        }
        Ok(())
    }
}

impl Default for ScryptParams {
    /// [`ScryptParams::STANDARD`].
    fn default() -> Self {
        Self::STANDARD
    }
}

/// The key derivation function of a keystore file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt (what go-ethereum writes).
    Scrypt(ScryptParams),
    /// PBKDF2-HMAC-SHA256 with this many iterations.
    Pbkdf2 {
        /// Iterations `c`.
        iterations: u32,
    },
}

impl Kdf {
    /// The name in the `kdf` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Scrypt(_) => "scrypt",
            Self::Pbkdf2 { .. } => "pbkdf2",
        }
    }

    /// Checks the parameters against this module's bounds.
    pub fn check(&self) -> Result<()> {
        match self {
            Self::Scrypt(params) => params.check(),
            Self::Pbkdf2 { iterations } => {
                if *iterations == 0 || *iterations > MAX_PBKDF2_ITERATIONS {
                    return Err(AccountsError::KdfParams {
                        kdf: "pbkdf2",
                        reason: format!("c = {iterations} is not in 1..={MAX_PBKDF2_ITERATIONS}"),
                    });
                }
                Ok(())
            }
        }
    }

    /// Derives `out.len()` bytes from `password` and `salt`.
    fn derive(&self, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<()> {
        self.check()?;
        match self {
            Self::Scrypt(ScryptParams { n, r, p }) => {
                let log_n = n.trailing_zeros() as u8;
                let params = scrypt::Params::new(log_n, *r, *p).map_err(|e| {
                    AccountsError::KdfParams { kdf: "scrypt", reason: e.to_string() }
                })?;
                scrypt::scrypt(password, salt, &params, out)
                    .map_err(|e| AccountsError::KdfParams { kdf: "scrypt", reason: e.to_string() })
            }
            Self::Pbkdf2 { iterations } => {
                // Called here rather than through wisp-crypto so that the generic code is
                // compiled with this crate's opt-level (see the root Cargo.toml).
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *iterations, out);
                Ok(())
            }
        }
    }
}

impl Default for Kdf {
    /// scrypt with [`ScryptParams::STANDARD`].
    fn default() -> Self {
        Self::Scrypt(ScryptParams::STANDARD)
    }
}

/// A parsed (or freshly encrypted) keystore v3 file.
///
/// Holds only ciphertext; [`Keystore::decrypt`] needs the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Keystore {
    address: Option<[u8; ADDRESS_LEN]>,
    id: String,
    kdf: Kdf,
    dklen: usize,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: [u8; 32],
}

impl Keystore {
    /// Encrypts `key` under `password` with `kdf`, a fresh random salt, IV and UUID v4 id, and
    /// records the key's address (as go-ethereum does).
    pub fn encrypt(key: &SecretKey, password: &[u8], kdf: Kdf) -> Result<Self> {
        let mut salt = vec![0u8; SALT_LEN];
        fill_random(&mut salt);
        let iv: [u8; 16] = random_bytes();
        let mut derived = Zeroizing::new([0u8; DERIVED_KEY_LEN]);
        kdf.derive(password, &salt, &mut derived[..])?;
        let aes_key = aes_key(&derived[..]);
        let mut ciphertext = key.to_bytes().to_vec();
        aes128_ctr_apply(&aes_key, &iv, &mut ciphertext);
        let mac = mac(&derived[..], &ciphertext);
        Ok(Self {
            address: Some(key.public_key().address()),
            id: uuid_v4(),
            kdf,
            dklen: DERIVED_KEY_LEN,
            salt,
            iv,
            ciphertext,
            mac,
        })
    }

    /// Decrypts the key. A wrong password is [`AccountsError::WrongPassword`]; a key that
    /// does not match the recorded address is [`AccountsError::KeystoreAddressMismatch`].
    pub fn decrypt(&self, password: &[u8]) -> Result<SecretKey> {
        let mut derived = Zeroizing::new(vec![0u8; self.dklen]);
        self.kdf.derive(password, &self.salt, &mut derived)?;
        let expected = mac(&derived, &self.ciphertext);
        if !constant_time_eq(&expected, &self.mac) {
            return Err(AccountsError::WrongPassword);
        }
        let mut plaintext = Zeroizing::new(self.ciphertext.clone());
        aes128_ctr_apply(&aes_key(&derived), &self.iv, &mut plaintext);
        let key = SecretKey::from_bytes(&plaintext)
            .map_err(|_| AccountsError::KeystoreKey { len: plaintext.len() })?;
        if let Some(recorded) = self.address {
            let actual = key.public_key().address();
            if actual != recorded {
                return Err(AccountsError::KeystoreAddressMismatch {
                    recorded: hex::encode(recorded),
                    actual: hex::encode(actual),
                });
            }
        }
        Ok(key)
    }

    /// Parses keystore v3 JSON. Checks the structure, the version, the cipher, the KDF and its
    /// bounds; does not touch the password (see [`Keystore::decrypt`]).
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let file: FileJson = serde_json::from_slice(json)
            .map_err(|e| AccountsError::KeystoreFormat(e.to_string()))?;
        if file.version != KEYSTORE_VERSION {
            return Err(AccountsError::KeystoreVersion(file.version));
        }
        let crypto = file.crypto;
        if !crypto.cipher.eq_ignore_ascii_case(CIPHER) {
            return Err(AccountsError::UnsupportedCipher(crypto.cipher));
        }
        let iv = unhex_array("cipherparams.iv", &crypto.cipherparams.iv)?;
        let ciphertext = unhex("ciphertext", &crypto.ciphertext, MAX_CIPHERTEXT_LEN)?;
        let mac = unhex_array("mac", &crypto.mac)?;
        let (kdf, dklen, salt) = parse_kdf(&crypto.kdf, &crypto.kdfparams)?;
        let address = match file.address.as_deref() {
            None | Some("") => None,
            Some(text) => Some(unhex_array("address", text)?),
        };
        Ok(Self { address, id: file.id.unwrap_or_default(), kdf, dklen, salt, iv, ciphertext, mac })
    }

    /// The file's JSON, as go-ethereum writes it (one line, lowercase hex without `0x`).
    pub fn to_json(&self) -> String {
        let kdfparams = match self.kdf {
            Kdf::Scrypt(ScryptParams { n, r, p }) => serde_json::json!({
                "dklen": self.dklen, "n": n, "p": p, "r": r, "salt": hex::encode(&self.salt),
            }),
            Kdf::Pbkdf2 { iterations } => serde_json::json!({
                "c": iterations, "dklen": self.dklen, "prf": PBKDF2_PRF,
                "salt": hex::encode(&self.salt),
            }),
        };
        let file = FileJson {
            address: self.address.map(hex::encode),
            crypto: CryptoJson {
                cipher: CIPHER.to_owned(),
                ciphertext: hex::encode(&self.ciphertext),
                cipherparams: CipherParamsJson { iv: hex::encode(self.iv) },
                kdf: self.kdf.name().to_owned(),
                kdfparams,
                mac: hex::encode(self.mac),
            },
            id: Some(self.id.clone()),
            version: KEYSTORE_VERSION,
        };
        serde_json::to_string(&file).expect("serialising plain JSON values cannot fail")
    }

    /// The address the file records, if any (not authenticated until [`Keystore::decrypt`]).
    pub fn address(&self) -> Option<[u8; ADDRESS_LEN]> {
        self.address
    }

    /// The file's `id` (a UUID; empty if the file had none).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key derivation function and its parameters.
    pub fn kdf(&self) -> &Kdf {
        &self.kdf
    }
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("address", &self.address.map(hex::encode))
            .field("id", &self.id)
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

/// go-ethereum's keystore file name: `UTC--<ISO 8601 time, ':' as '-'>--<hex address>`, e.g.
/// `UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8`.
pub fn keystore_file_name(address: &[u8; ADDRESS_LEN], time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "UTC--{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}.{:09}Z--{}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_nanos(),
        hex::encode(address)
    )
}

/// The (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The AES-128 key: the first 16 bytes of the derived key.
fn aes_key(derived: &[u8]) -> Zeroizing<[u8; 16]> {
    let mut key = Zeroizing::new([0u8; 16]);
    key.copy_from_slice(&derived[..16]);
    key
}

/// `keccak256(derived[16..32] || ciphertext)`.
fn mac(derived: &[u8], ciphertext: &[u8]) -> [u8; 32] {
    let mut input = Zeroizing::new(Vec::with_capacity(16 + ciphertext.len()));
    input.extend_from_slice(&derived[16..32]);
    input.extend_from_slice(ciphertext);
    keccak256(&input[..])
}

/// A random UUID version 4 in its 36-character text form.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn format_error(field: &str, problem: &str) -> AccountsError {
    AccountsError::KeystoreFormat(format!("{field}: {problem}"))
}

/// Hex text (an optional `0x` allowed) of at most `max` bytes.
fn unhex(field: &str, text: &str, max: usize) -> Result<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() > 2 * max {
        return Err(format_error(field, &format!("longer than {max} bytes")));
    }
    hex::decode(digits).map_err(|_| format_error(field, "not hexadecimal"))
}

fn unhex_array<const N: usize>(field: &str, text: &str) -> Result<[u8; N]> {
    let bytes = unhex(field, text, N)?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format_error(field, &format!("{} bytes, expected {N}", b.len())))
}

/// Reads `kdf` and `kdfparams`: the KDF, `dklen` and the salt.
fn parse_kdf(name: &str, params: &Value) -> Result<(Kdf, usize, Vec<u8>)> {
    let field = |key: &str| params.get(key);
    let number = |key: &str| -> Result<u64> {
        field(key).and_then(Value::as_u64).ok_or_else(|| {
            format_error(&format!("kdfparams.{key}"), "missing or not a non-negative integer")
        })
    };
    let kdf = match name.to_ascii_lowercase().as_str() {
        "scrypt" => {
            let small = |key: &str| -> Result<u32> {
                u32::try_from(number(key)?).map_err(|_| AccountsError::KdfParams {
                    kdf: "scrypt",
                    reason: format!("{key} is too large"),
                })
            };
            Kdf::Scrypt(ScryptParams { n: number("n")?, r: small("r")?, p: small("p")? })
        }
        "pbkdf2" => {
            let prf = field("prf").and_then(Value::as_str).unwrap_or_default();
            if prf != PBKDF2_PRF {
                return Err(AccountsError::UnsupportedKdf(format!("pbkdf2 with prf {prf:?}")));
            }
            let iterations = u32::try_from(number("c")?).map_err(|_| AccountsError::KdfParams {
                kdf: "pbkdf2",
                reason: "c is too large".into(),
            })?;
            Kdf::Pbkdf2 { iterations }
        }
        _ => return Err(AccountsError::UnsupportedKdf(name.to_owned())),
    };
    kdf.check()?;
    let dklen = number("dklen")?;
    if !(DERIVED_KEY_LEN as u64..=64).contains(&dklen) {
        return Err(format_error("kdfparams.dklen", &format!("{dklen}, expected 32 to 64")));
    }
    let salt_text = field("salt")
        .and_then(Value::as_str)
        .ok_or_else(|| format_error("kdfparams.salt", "missing or not a string"))?;
    let salt = unhex("kdfparams.salt", salt_text, MAX_SALT_LEN)?;
    Ok((kdf, dklen as usize, salt))
}

/// The file as JSON. go-ethereum reads `crypto` and, from older files, `Crypto`.
#[derive(Serialize, Deserialize)]
struct FileJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(alias = "Crypto")]
    crypto: CryptoJson,
    #[serde(default)]
    id: Option<String>,
    version: u64,
}

#[derive(Serialize, Deserialize)]
struct CryptoJson {
    cipher: String,
    ciphertext: String,
    cipherparams: CipherParamsJson,
    kdf: String,
    kdfparams: Value,
    mac: String,
}

#[derive(Serialize, Deserialize)]
struct CipherParamsJson {
    iv: String,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Fast parameters for tests that do not check compatibility.
    const TEST_SCRYPT: Kdf = Kdf::Scrypt(ScryptParams { n: 16, r: 8, p: 1 });

    fn basic_tests() -> Value {
        crate::vector_tests::testdata_file(
            "specs/test-vectors/ethereum-tests/KeyStoreTests/basic_tests.json",
        )
    }

    /// ethereum-tests `KeyStoreTests/basic_tests.json`: every file opens with its password to
    /// its key, and no file opens with a wrong password.
    #[test]
    fn ethereum_keystore_tests() {
        let tests = basic_tests();
        let tests = tests.as_object().unwrap();
        assert_eq!(tests.len(), 5);
        for (name, test) in tests {
            let json = serde_json::to_vec(&test["json"]).unwrap();
            let keystore = Keystore::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
            let password = test["password"].as_str().unwrap().as_bytes();
            let key = keystore.decrypt(password).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex::encode(&key.to_bytes()[..]), test["priv"].as_str().unwrap(), "{name}");
            assert!(
                matches!(keystore.decrypt(b"not the password"), Err(AccountsError::WrongPassword)),
                "{name}"
            );
            // Re-serialised, it still opens.
            let again = Keystore::from_json(keystore.to_json().as_bytes()).unwrap();
            assert_eq!(again, keystore, "{name}");
        }
    }

    #[test]
    fn encrypt_decrypt_round_trip() {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        for kdf in [TEST_SCRYPT, Kdf::Pbkdf2 { iterations: 2 }] {
            let keystore = Keystore::encrypt(&key, b"pw", kdf).unwrap();
            let json = keystore.to_json();
            assert!(!json.contains(&hex::encode(&key.to_bytes()[..])));
            let parsed = Keystore::from_json(json.as_bytes()).unwrap();
            assert_eq!(parsed.address(), Some(key.public_key().address()));
            assert_eq!(parsed.kdf(), &kdf);
            assert_eq!(parsed.id().len(), 36);
            assert_eq!(parsed.decrypt(b"pw").unwrap().public_key(), key.public_key());
            assert!(matches!(parsed.decrypt(b"pW"), Err(AccountsError::WrongPassword)));
            assert!(matches!(parsed.decrypt(b""), Err(AccountsError::WrongPassword)));
        }
    }

    #[test]
    fn standard_params_are_within_bounds() {
        assert!(ScryptParams::STANDARD.check().is_ok());
        assert!(ScryptParams::LIGHT.check().is_ok());
        assert!(ScryptParams { n: 1 << 18, r: 1, p: 8 }.check().is_ok());
        assert!(ScryptParams { n: 1 << 21, r: 8, p: 1 }.check().is_err());
        assert!(ScryptParams { n: 1 << 18, r: 8, p: 64 }.check().is_err());
        assert!(ScryptParams { n: 1000, r: 8, p: 1 }.check().is_err());
        assert!(ScryptParams { n: 1, r: 8, p: 1 }.check().is_err());
        assert!(ScryptParams { n: 1024, r: 0, p: 1 }.check().is_err());
        assert!(Kdf::Pbkdf2 { iterations: 0 }.check().is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let key = SecretKey::from_bytes(&[9; 32]).unwrap();
        let keystore = Keystore::encrypt(&key, b"pw", TEST_SCRYPT).unwrap();
        let mut json: Value = serde_json::from_str(&keystore.to_json()).unwrap();
        // A flipped ciphertext bit fails the MAC: reported as a wrong password, never a key.
        let ct = json["crypto"]["ciphertext"].as_str().unwrap().to_owned();
        let flipped = format!("{}{}", if &ct[..1] == "0" { "1" } else { "0" }, &ct[1..]);
        json["crypto"]["ciphertext"] = Value::from(flipped);
        let tampered = Keystore::from_json(json.to_string().as_bytes()).unwrap();
        assert!(matches!(tampered.decrypt(b"pw"), Err(AccountsError::WrongPassword)));
        // A wrong recorded address is reported.
        let mut json: Value = serde_json::from_str(&keystore.to_json()).unwrap();
        json["address"] = Value::from("00".repeat(20));
        let wrong = Keystore::from_json(json.to_string().as_bytes()).unwrap();
        assert!(matches!(wrong.decrypt(b"pw"), Err(AccountsError::KeystoreAddressMismatch { .. })));
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        let key = SecretKey::from_bytes(&[9; 32]).unwrap();
        let good: Value =
            serde_json::from_str(&Keystore::encrypt(&key, b"pw", TEST_SCRYPT).unwrap().to_json())
                .unwrap();
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            Keystore::from_json(v.to_string().as_bytes())
        };
        assert!(matches!(
            edit(&|v| v["version"] = 2.into()),
            Err(AccountsError::KeystoreVersion(2))
        ));
        assert!(matches!(
            edit(&|v| v["crypto"]["cipher"] = "aes-128-cbc".into()),
            Err(AccountsError::UnsupportedCipher(_))
        ));
        assert!(matches!(
            edit(&|v| v["crypto"]["kdf"] = "argon2".into()),
            Err(AccountsError::UnsupportedKdf(_))
        ));
        assert!(matches!(
            edit(&|v| v["crypto"]["kdfparams"]["n"] = (1u64 << 40).into()),
            Err(AccountsError::KdfParams { .. })
        ));
        assert!(matches!(
            edit(&|v| v["crypto"]["kdfparams"]["dklen"] = 16.into()),
            Err(AccountsError::KeystoreFormat(_))
        ));
        assert!(matches!(
            edit(&|v| v["crypto"]["cipherparams"]["iv"] = "00".into()),
            Err(AccountsError::KeystoreFormat(_))
        ));
        assert!(matches!(
            edit(&|v| v["crypto"]["mac"] = "zz".into()),
            Err(AccountsError::KeystoreFormat(_))
        ));
        // Older files spell it `Crypto`.
        let renamed = edit(&|v| {
            let crypto = v["crypto"].take();
            v["Crypto"] = crypto;
            v.as_object_mut().unwrap().remove("crypto");
        });
        assert!(renamed.is_ok());
        assert!(matches!(Keystore::from_json(b"{"), Err(AccountsError::KeystoreFormat(_))));
        assert!(matches!(Keystore::from_json(b"[]"), Err(AccountsError::KeystoreFormat(_))));
    }

    #[test]
    fn file_names_follow_geth() {
        let time = UNIX_EPOCH + Duration::new(1_458_651_475, 920_751_759);
        let address: [u8; 20] =
            hex::decode("7ef5a6135f1fd6a02593eedc869c6d41d934aef8").unwrap().try_into().unwrap();
        assert_eq!(
            keystore_file_name(&address, time),
            "UTC--2016-03-22T12-57-55.920751759Z--7ef5a6135f1fd6a02593eedc869c6d41d934aef8"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
