//! Fuzzes the text decoders of `wisp_accounts` on arbitrary UTF-8: chat keys in every form
//! (`parse_public_key`, the `zQ3sh…` decoder, status-go's serialise/deserialise), multibase,
//! BIP39 mnemonics, derivation paths, `xpub`/`xprv` and the alias of a key string; and the PNG
//! decoder on the raw bytes.
//!
//! Whatever decodes must encode back: a key to `zQ3sh…` text that decodes to the same key, a
//! multibase payload re-encoded in its base to the same bytes, a mnemonic to words that parse
//! to the same entropy, a path or extended key to the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_accounts::{
    DerivationPath, ExtendedPrivateKey, ExtendedPublicKey, Mnemonic, alias,
    alias::alias_from_key_text,
    compress_public_key, decompress_public_key,
    multiformat::{Multibase, deserialize_public_key, serialize_public_key},
    parse_public_key, png,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = png::decode_rgba(data) {
        assert_eq!(image.pixels.len(), image.width as usize * image.height as usize * 4);
    }
    let Ok(s) = std::str::from_utf8(data) else { return };

    if let Ok(key) = parse_public_key(s) {
        let text = compress_public_key(&key);
        assert_eq!(decompress_public_key(&text).unwrap(), key, "{s:?}");
        assert_eq!(parse_public_key(&text).unwrap(), key, "{s:?}");
    }
    if let Ok(key) = decompress_public_key(s) {
        // parse_public_key trims whitespace and refuses the binary identity base.
        if !s.starts_with('\0') {
            assert_eq!(parse_public_key(s).unwrap(), key, "{s:?} decompresses but does not parse");
        }
        let uncompressed = deserialize_public_key(s, Multibase::Base16).unwrap();
        let back = serialize_public_key(&uncompressed, Multibase::Base58Btc).unwrap();
        assert_eq!(back, compress_public_key(&key));
    }
    if let Ok(text) = serialize_public_key(s, Multibase::Base58Btc) {
        decompress_public_key(&text).unwrap();
    }
    if let Ok((base, bytes)) = Multibase::decode(s) {
        if base != Multibase::Identity {
            let text = base.encode(&bytes).unwrap();
            assert_eq!(Multibase::decode(&text).unwrap(), (base, bytes), "{s:?} via {text:?}");
        }
    }
    if let Ok(mnemonic) = Mnemonic::parse(s) {
        let again = Mnemonic::parse(mnemonic.phrase()).unwrap();
        assert_eq!(again.entropy(), mnemonic.entropy());
        assert_eq!(Mnemonic::from_entropy(mnemonic.entropy()).unwrap().phrase(), mnemonic.phrase());
    }
    if let Ok(path) = s.parse::<DerivationPath>() {
        let text = path.to_string();
        assert_eq!(text.parse::<DerivationPath>().unwrap(), path);
    }
    if let Ok(xpub) = s.parse::<ExtendedPublicKey>() {
        assert_eq!(xpub.to_string(), s);
    }
    if let Ok(xprv) = ExtendedPrivateKey::from_xprv(s) {
        assert_eq!(xprv.to_xprv().as_str(), s);
        assert_eq!(xprv.to_extended_public_key().public_key(), xprv.public_key());
    }
    if let Ok(name) = alias_from_key_text(s) {
        assert_eq!(name, alias(&parse_public_key(&s[2..]).unwrap()));
    }
});
