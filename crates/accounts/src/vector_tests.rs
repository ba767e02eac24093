//! The test vectors in `testdata/`: BIP39 (`specs/test-vectors/bip39/vectors.json`, passphrase
//! "TREZOR") and every vector of `data/identity/vectors.json` (alias, identicon, compressed
//! key). BIP32, EIP-55 and keystore vectors sit beside their modules.

use std::path::PathBuf;

use serde_json::Value;
use wisp_crypto::{SecretKey, sha256};

use crate::{
    Identicon, Mnemonic, Seed,
    alias::{alias, alias_from_key_text, alias_from_seed, alias_indices, alias_seed, lfsr_step},
    bip32::ExtendedPrivateKey,
    identicon::{fill_color, png_from_data_uri},
    multiformat::{
        Multibase, compress_public_key, decompress_public_key, deserialize_public_key,
        parse_public_key, serialize_public_key,
    },
    png::decode_rgba,
};

/// `testdata/<relative>` at the repository root (see `testdata/README.md`): the only place this
/// crate's tests read files from.
pub(crate) fn testdata_file(relative: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn identity_vectors() -> Value {
    testdata_file("data/identity/vectors.json")
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn u64_of_hex(v: &Value) -> u64 {
    u64::from_str_radix(str_of(v).trim_start_matches("0x"), 16).unwrap()
}

/// BIP39: English entropy → words → seed → master xprv, and words → entropy; for the other
/// languages (whose lists this crate does not carry) the NFKD seed and the master xprv.
#[test]
fn bip39_vectors_trezor() {
    let vectors = testdata_file("specs/test-vectors/bip39/vectors.json");
    let mut english = 0;
    let mut other = 0;
    for (language, list) in vectors.as_object().unwrap() {
        for vector in list.as_array().unwrap() {
            let [entropy, phrase, seed, xprv] = [0, 1, 2, 3].map(|i| str_of(&vector[i]));
            let derived = if language == "english" {
                let m = Mnemonic::from_entropy(&hex::decode(entropy).unwrap()).unwrap();
                assert_eq!(m.phrase(), phrase);
                let parsed = Mnemonic::parse(phrase).unwrap();
                assert_eq!(hex::encode(parsed.entropy()), entropy);
                english += 1;
                m.to_seed("TREZOR")
            } else {
                other += 1;
                Seed::from_phrase(phrase, "TREZOR")
            };
            assert_eq!(hex::encode(derived.as_bytes()), seed, "{language}: {phrase}");
            let master = ExtendedPrivateKey::master(derived.as_bytes()).unwrap();
            assert_eq!(master.to_xprv().as_str(), xprv, "{language}: {phrase}");
        }
    }
    assert_eq!(english, 24);
    assert_eq!(other, 11 * 24);
}

/// `key_vectors`: alias (with seed, register states and indices), identicon (MD5, grid,
/// colour, pixels, status-go's own PNG decoded), compressed key and status-go's
/// serialise/deserialise outputs, and the public keys of the given private keys.
#[test]
fn identity_key_vectors() {
    let vectors = identity_vectors();
    let keys = vectors["key_vectors"].as_array().unwrap();
    assert_eq!(keys.len(), 24);
    for v in keys {
        let label = str_of(&v["label"]);
        let text = str_of(&v["public_key"]);
        let key = parse_public_key(text).unwrap();
        assert_eq!(format!("0x{}", hex::encode(key.to_uncompressed())), text, "{label}");
        if let Some(private) = v["private_key"].as_str() {
            let secret = SecretKey::from_bytes(&hex::decode(&private[2..]).unwrap()).unwrap();
            assert_eq!(secret.public_key(), key, "{label}");
        }

        // (a) alias
        let detail = &v["alias_detail"];
        let seed = u64_of_hex(&detail["seed"]);
        assert_eq!(alias_seed(&key), seed, "{label}");
        let states: Vec<u64> =
            detail["lfsr_states"].as_array().unwrap().iter().map(u64_of_hex).collect();
        assert_eq!(
            states,
            [lfsr_step(seed), lfsr_step(states[0]), lfsr_step(states[1])],
            "{label}"
        );
        let indices: Vec<usize> = detail["indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(alias_indices(seed).to_vec(), indices, "{label}");
        assert_eq!(alias(&key), str_of(&v["alias"]), "{label}");
        assert_eq!(alias_from_key_text(text).unwrap(), str_of(&v["alias"]), "{label}");

        // (b) identicon
        let icon = &v["identicon"];
        assert_eq!(str_of(&icon["input"]), text, "{label}");
        check_identicon(label, &Identicon::for_public_key(&key), icon);

        // (c) compressed key
        let compressed = str_of(&v["compressed_key"]);
        assert_eq!(compress_public_key(&key), compressed, "{label}");
        assert_eq!(decompress_public_key(compressed).unwrap(), key, "{label}");
        let detail = &v["compressed_key_detail"];
        let call = detail["serialize_call"].as_array().unwrap();
        let out: Multibase = str_of(&call[2]).parse().unwrap();
        assert_eq!(serialize_public_key(str_of(&call[1]), out).unwrap(), compressed, "{label}");
        assert_eq!(
            hex::encode(key.to_compressed()),
            str_of(&detail["secp256k1_compressed_33_bytes"]),
            "{label}"
        );
        assert_eq!(
            serialize_public_key(str_of(&call[1]), Multibase::Base16).unwrap(),
            str_of(&detail["serialize_outbase_f"]),
            "{label}"
        );
        for (field, base) in [("deserialize_outbase_f", "f"), ("deserialize_outbase_0x", "0x")] {
            assert_eq!(
                deserialize_public_key(compressed, base.parse().unwrap()).unwrap(),
                str_of(&detail[field]),
                "{label} {field}"
            );
        }
    }
}

/// Checks an identicon against one vector: MD5-derived pattern and grid, colour, the pixel
/// hash, and status-go's PNG decoded to the same pixels.
fn check_identicon(label: &str, identicon: &Identicon, icon: &Value) {
    let bitmap: Vec<bool> =
        icon["bitmap"].as_array().unwrap().iter().map(|b| b.as_u64() == Some(1)).collect();
    let cells: Vec<bool> = identicon.cells().iter().flatten().copied().collect();
    assert_eq!(cells, bitmap, "{label}: grid");
    let fill: Vec<u8> =
        icon["fill_rgba8"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as u8).collect();
    let [r, g, b] = identicon.color();
    assert_eq!(vec![r, g, b, 255], fill, "{label}: colour");
    let pixels = identicon.to_rgba();
    assert_eq!(pixels.len(), 10_000);
    assert_eq!(hex::encode(sha256(&pixels)), str_of(&icon["rgba_pixels_sha256"]), "{label}");
    // status-go's PNG decodes to our pixels, and ours to the same.
    let theirs = decode_rgba(&png_from_data_uri(str_of(&icon["data_uri"])).unwrap()).unwrap();
    assert_eq!(theirs, identicon.to_image(), "{label}: status-go's PNG");
    let ours = decode_rgba(&png_from_data_uri(&identicon.to_data_uri()).unwrap()).unwrap();
    assert_eq!(ours, identicon.to_image(), "{label}: our PNG");
}

#[test]
fn identity_alias_seed_vectors() {
    let vectors = identity_vectors();
    let seeds = vectors["alias_seed_vectors"].as_array().unwrap();
    assert_eq!(seeds.len(), 9);
    for v in seeds {
        let seed = u64_of_hex(&v["seed"]);
        let states: Vec<u64> =
            v["lfsr_states"].as_array().unwrap().iter().map(u64_of_hex).collect();
        assert_eq!(states[0], lfsr_step(seed));
        assert_eq!(states[1], lfsr_step(states[0]));
        assert_eq!(states[2], lfsr_step(states[1]));
        let indices: Vec<usize> =
            v["indices"].as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect();
        assert_eq!(alias_indices(seed).to_vec(), indices);
        assert_eq!(alias_from_seed(seed), str_of(&v["alias"]));
    }
}

#[test]
fn identity_identicon_extra_vectors() {
    let vectors = identity_vectors();
    let extras = vectors["identicon_extra_vectors"].as_array().unwrap();
    assert_eq!(extras.len(), 6);
    for v in extras {
        check_identicon(str_of(&v["label"]), &Identicon::for_text(str_of(&v["input"])), v);
    }
}

#[test]
fn identity_alias_string_input_quirks() {
    let vectors = identity_vectors();
    let quirks = vectors["alias_string_input_quirks"].as_array().unwrap();
    assert_eq!(quirks.len(), 4);
    for v in quirks {
        let expected = str_of(&v["result"]);
        let got = alias_from_key_text(str_of(&v["input"]));
        if expected.starts_with("error") {
            assert!(got.is_err(), "{}", str_of(&v["note"]));
        } else {
            assert_eq!(got.unwrap(), expected, "{}", str_of(&v["note"]));
        }
    }
}

#[test]
fn identity_fill_color_by_byte_sum() {
    let vectors = identity_vectors();
    let colors = vectors["identicon_fill_color_by_byte_sum"].as_array().unwrap();
    assert_eq!(colors.len(), 766);
    for (sum, hex_color) in colors.iter().enumerate() {
        let [r, g, b] = fill_color(sum as u16);
        assert_eq!(format!("#{r:02x}{g:02x}{b:02x}"), str_of(hex_color), "sum {sum}");
    }
}
