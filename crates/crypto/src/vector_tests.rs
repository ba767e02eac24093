//! Tests against the vector files in the repository's `testdata/` (see `testdata/README.md`):
//! the ethereum/tests `BasicTests`, the Waku symmetric keys reported by status-go and geth, and a
//! captured go-ethereum RLPx handshake.

use std::path::PathBuf;

use serde_json::Value;

use crate::{
    CryptoError, PublicKey, RecoverableSignature, SecretKey, aes256_ctr_apply, concat_kdf_sha256,
    ecies, keccak256, sha256, symmetric_key_from_password,
};

/// `testdata/<relative>` at the repository root: the only place this crate's tests read files
/// from.
fn testdata_file(relative: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn unhex(value: &Value) -> Vec<u8> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a string: {value}"));
    hex::decode(text).unwrap_or_else(|e| panic!("bad hex {text:?}: {e}"))
}

fn unhex_array<const N: usize>(value: &Value) -> [u8; N] {
    let bytes = unhex(value);
    bytes.try_into().unwrap_or_else(|b: Vec<u8>| panic!("expected {N} bytes, got {}", b.len()))
}

/// A decimal string as a 256-bit big-endian integer.
fn decimal_to_be32(decimal: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for digit in decimal.bytes() {
        assert!(digit.is_ascii_digit(), "not a decimal digit: {digit}");
        let mut carry = u32::from(digit - b'0');
        for byte in out.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "{decimal} overflows 256 bits");
    }
    out
}

/// `a - b` for 256-bit big-endian integers, `a >= b`.
fn sub_be32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i32;
    for i in (0..32).rev() {
        let mut v = i32::from(a[i]) - i32::from(b[i]) - borrow;
        borrow = i32::from(v < 0);
        if v < 0 {
            v += 256;
        }
        out[i] = v as u8;
    }
    assert_eq!(borrow, 0);
    out
}

/// secp256k1 group order n.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

#[test]
fn decimal_helpers() {
    let mut one = [0u8; 32];
    one[31] = 1;
    assert_eq!(decimal_to_be32("1"), one);
    assert_eq!(decimal_to_be32("256")[30..], [1, 0]);
    assert_eq!(
        decimal_to_be32(
            "115792089237316195423570985008687907852837564279074904382605163141518161494337"
        ),
        N
    );
    assert_eq!(sub_be32(&N, &N), [0u8; 32]);
}

/// ethereum/tests `BasicTests/keyaddrtest.json`: key -> address; our signature of
/// keccak256("") recovers the key. The file's own `sig_of_emptystring` is checked (and fails)
/// in [`ethereum_tests_keyaddrtest_sig_of_emptystring`].
#[test]
fn ethereum_tests_keyaddrtest() {
    let entries = testdata_file("specs/test-vectors/ethereum-tests/BasicTests/keyaddrtest.json");
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let hash = keccak256(b"");
    for entry in entries {
        let seed = entry["seed"].as_str().unwrap();
        let key = SecretKey::from_bytes(&unhex(&entry["key"])).unwrap();
        // The key is the brain-wallet keccak256(seed).
        assert_eq!(*key.to_bytes(), keccak256(seed.as_bytes()), "{seed}: key");
        assert_eq!(
            hex::encode(key.public_key().address()),
            entry["addr"].as_str().unwrap(),
            "{seed}: address"
        );
        let ours = key.sign_prehash(&hash);
        assert!(ours.s[0] < 0x80, "{seed}: low s");
        assert_eq!(ours.recover(&hash).unwrap(), key.public_key(), "{seed}: recover");
        assert!(ours.verify(&hash, &key.public_key()));
        let eth = ours.to_bytes_eth();
        assert_eq!(
            RecoverableSignature::from_bytes(&eth).unwrap().recover(&hash).unwrap(),
            key.public_key()
        );
    }
}

/// The `sig_of_emptystring` entries of `keyaddrtest.json`, compared with our deterministic
/// signature of keccak256("") (allowing for low-s normalisation: same r, s' = n - s, v flipped)
/// and recovered.
///
/// Ignored: these signatures do not belong to keccak256(""). Checked with an independent
/// Python implementation: neither entry recovers its key (v = 0 or 1, r/s swapped or not), and
/// plain ECDSA verification fails, for z = keccak256(""), sha256(""), sha3-256(""),
/// keccak256(keccak256("")), sha256(keccak256("")), double sha256(""), the Bitcoin
/// signed-message hash of "", the Ethereum signed-message hash of "", keccak256(seed), zero, and
/// others; RFC 6979 / pybitcointools nonces for those hashes do not give the file's r either.
/// Other clients disable the same check (Nethermind `KeyAddressTests.Signature_as_expected`
/// is `[Ignore]`d as "test values seem wrong"; a Haskell client's recovery check is marked
/// "FIXME: This is broken"). The addresses in the same file do pass (see above).
#[test]
#[ignore = "keyaddrtest.json sig_of_emptystring does not verify for keccak256(\"\") (nor any other \
            hash tried) under either recovery id; other clients skip it too"]
fn ethereum_tests_keyaddrtest_sig_of_emptystring() {
    let entries = testdata_file("specs/test-vectors/ethereum-tests/BasicTests/keyaddrtest.json");
    let hash = keccak256(b"");
    for entry in entries.as_array().unwrap() {
        let seed = entry["seed"].as_str().unwrap();
        let key = SecretKey::from_bytes(&unhex(&entry["key"])).unwrap();
        let expected = &entry["sig_of_emptystring"];
        let v: u8 = expected["v"].as_str().unwrap().parse().unwrap();
        let r = decimal_to_be32(expected["r"].as_str().unwrap());
        let s = decimal_to_be32(expected["s"].as_str().unwrap());
        let vector = RecoverableSignature { r, s, v: v - 27 };
        assert_eq!(vector.recover(&hash).ok(), Some(key.public_key()), "{seed}: recover");

        let ours = key.sign_prehash(&hash);
        assert_eq!(ours.r, r, "{seed}: r (RFC 6979 nonce)");
        let n_minus_s = sub_be32(&N, &s);
        if s > n_minus_s {
            assert_eq!(ours.s, n_minus_s, "{seed}: s normalised to n - s");
            assert_eq!(ours.v, (v - 27) ^ 1, "{seed}: recovery id flipped with s");
        } else {
            assert_eq!(ours, vector, "{seed}: signature");
        }
    }
}

/// ethereum/tests `BasicTests/crypto.json`.
///
/// - `aes1` (`aes_ctr`): the 32-byte key is an AES-256 key, the IV is 16 zero bytes (the
///   RLPx frame-cipher setting). AES-128 with either half of the key, or an IV taken from the
///   key, does not reproduce it.
/// - `ecies1` (`ecies_sec1_altered`): exactly go-ethereum's ECIES with empty shared MAC data
///   (concat KDF counter from 1, `ke` = first 16 bytes, MAC key = sha256(`km`), MAC over
///   `iv || c`), so the library's [`ecies::decrypt`] opens it as is.
#[test]
fn ethereum_tests_crypto() {
    let vectors = testdata_file("specs/test-vectors/ethereum-tests/BasicTests/crypto.json");

    let aes1 = &vectors["aes1"];
    assert_eq!(aes1["decryption_type"], "aes_ctr");
    let key: [u8; 32] = unhex_array(&aes1["key"]);
    let mut data = unhex(&aes1["cipher"]);
    aes256_ctr_apply(&key, &[0u8; 16], &mut data);
    assert_eq!(data, unhex(&aes1["payload"]));

    let ecies1 = &vectors["ecies1"];
    assert_eq!(ecies1["decryption_type"], "ecies_sec1_altered");
    let key = SecretKey::from_bytes(&unhex(&ecies1["key"])).unwrap();
    let cipher = unhex(&ecies1["cipher"]);
    let payload = unhex(&ecies1["payload"]);
    assert_eq!(ecies::decrypt(&key, &cipher, b"").unwrap(), payload);
    // Any shared MAC data breaks it: the MAC covers iv || c only.
    assert_eq!(ecies::decrypt(&key, &cipher, b"\x00"), Err(CryptoError::EciesMac));
}

/// `vectors/waku/symkeys.json`: PBKDF2-HMAC-SHA256(password, "", 65356, 32) for every key
/// reported by statusd and geth.
#[test]
fn waku_symkeys_from_passwords() {
    let file = testdata_file("vectors/waku/symkeys.json");
    let keys = file["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 9, "passwords in symkeys.json");
    for entry in keys {
        let password = entry["password"].as_str().unwrap();
        assert_eq!(password.as_bytes(), unhex(&entry["password_utf8_hex"]));
        let key = symmetric_key_from_password(password);
        assert_eq!(hex::encode(*key), entry["sym_key"].as_str().unwrap(), "password {password:?}");
    }
}

/// One ECIES packet of the captured handshake (`auth` or `ack`).
fn check_handshake_packet(packet: &Value, recipient: &SecretKey, what: &str) {
    let raw = unhex(&packet["raw_hex"]);
    let prefix = unhex(&packet["size_prefix"]);
    assert_eq!(prefix.len(), 2);
    assert_eq!(raw[..2], prefix[..], "{what}: prefix");
    assert_eq!(usize::from(u16::from_be_bytes([raw[0], raw[1]])), raw.len() - 2, "{what}: size");
    let ciphertext = &raw[2..];
    let plaintext = unhex(&packet["plaintext"]);
    assert_eq!(ciphertext.len(), ecies::encrypted_len(plaintext.len()));

    // Decrypts with the size prefix as shared MAC data, and only with it.
    assert_eq!(
        ecies::decrypt(recipient, ciphertext, &prefix).unwrap(),
        plaintext,
        "{what}: decrypt"
    );
    assert_eq!(ecies::decrypt(recipient, ciphertext, b""), Err(CryptoError::EciesMac));

    // The intermediate values.
    let ecies_values = &packet["ecies"];
    let ephemeral = SecretKey::from_bytes(&unhex(&ecies_values["ephemeral_priv"])).unwrap();
    assert_eq!(
        ephemeral.public_key().to_uncompressed()[..],
        unhex(&ecies_values["ephemeral_pub"])[..]
    );
    assert_eq!(ciphertext[..65], ephemeral.public_key().to_uncompressed());
    let z = recipient.ecdh(&ephemeral.public_key());
    assert_eq!(z.as_bytes()[..], unhex(&ecies_values["ecdh_z"])[..], "{what}: z");
    assert_eq!(ephemeral.ecdh(&recipient.public_key()).as_bytes(), z.as_bytes());
    let mut k = [0u8; 32];
    concat_kdf_sha256(z.as_bytes(), &mut k);
    assert_eq!(k[..16], unhex(&ecies_values["aes128_key"])[..], "{what}: ke");
    assert_eq!(sha256(&k[16..])[..], unhex(&ecies_values["hmac_key"])[..], "{what}: sha256(km)");
    let iv: [u8; 16] = unhex_array(&ecies_values["iv"]);
    assert_eq!(ciphertext[65..81], iv);
    assert_eq!(ciphertext[ciphertext.len() - 32..], unhex(&ecies_values["mac"])[..]);

    // Re-encrypting with the captured ephemeral key and IV reproduces the packet.
    let again = ecies::encrypt_with(&recipient.public_key(), &plaintext, &prefix, &ephemeral, &iv);
    assert_eq!(hex::encode(&again), hex::encode(ciphertext), "{what}: encrypt_with");
}

/// `vectors/rlpx/s1-waku1-default.json`: the EIP-8 auth and ack of a captured go-ethereum
/// handshake (2-byte size prefix as ECIES shared MAC data) and the static-static ECDH secret.
#[test]
fn rlpx_captured_handshake_ecies() {
    let file = testdata_file("vectors/rlpx/s1-waku1-default.json");
    let hs = &file["handshake"];
    let initiator = SecretKey::from_bytes(&unhex(&hs["initiator_static_priv"])).unwrap();
    let recipient = SecretKey::from_bytes(&unhex(&hs["recipient_static_priv"])).unwrap();
    assert_eq!(
        initiator.public_key(),
        PublicKey::from_sec1(&unhex(&hs["initiator_static_pub"])).unwrap()
    );
    assert_eq!(
        recipient.public_key(),
        PublicKey::from_sec1(&unhex(&hs["recipient_static_pub"])).unwrap()
    );

    check_handshake_packet(&hs["auth"], &recipient, "auth");
    check_handshake_packet(&hs["ack"], &initiator, "ack");

    // Raw x-coordinate ECDH of the two static keys.
    let expected = unhex(&hs["auth"]["static_shared_secret"]);
    assert_eq!(initiator.ecdh(&recipient.public_key()).as_bytes()[..], expected[..]);
    assert_eq!(recipient.ecdh(&initiator.public_key()).as_bytes()[..], expected[..]);

    // The ephemeral-ephemeral ECDH of the session secrets.
    let ie = SecretKey::from_bytes(&unhex(&hs["initiator_ephemeral_priv"])).unwrap();
    let re = SecretKey::from_bytes(&unhex(&hs["recipient_ephemeral_priv"])).unwrap();
    assert_eq!(ie.ecdh(&re.public_key()).as_bytes()[..], unhex(&hs["secrets"]["ecdhe_secret"])[..]);
}
