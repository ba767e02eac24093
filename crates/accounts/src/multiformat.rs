//! The compressed-key text form of chat keys (`zQ3sh…`) and its reverse, as status-go
//! v0.79.11's `api/multiformat` does it (2/ACCOUNT §"Public Key Serialization",
//! `shared/data/identity/ALGORITHMS.md` §c).
//!
//! A key is `multibase(varint(0xe7) || SEC1 key)`: the multicodec `secp256k1-pub` (0xe7, the
//! varint `e7 01`) before the 33-byte compressed key, in base58btc (`z`). Serialising takes the
//! uncompressed form (`0xe70104…`) and gives the compressed one; deserialising goes back.
//!
//! Multibase prefixes supported: identity (NUL, input only), `0` base2, `f`/`F` base16 (and
//! `0x`, which status-go treats as `f`), `b B c C v V t T` base32, `z` base58btc, `Z`
//! base58flickr, `m M u U` base64. Like status-go, base8, base10, base32z and base36 are not.

use std::{fmt, str::FromStr};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use wisp_crypto::{COMPRESSED_PUBLIC_KEY_LEN, NODE_ID_LEN, PublicKey, UNCOMPRESSED_PUBLIC_KEY_LEN};

use crate::{
    base58,
    error::{AccountsError, Result},
};

/// The multicodec code of a secp256k1 public key.
pub const SECP256K1_PUB: u64 = 0xe7;
/// `SECP256K1_PUB` as an unsigned varint.
const SECP256K1_PUB_VARINT: [u8; 2] = [0xe7, 0x01];
/// Longest varint accepted (go-varint: 9 bytes, 63 bits).
const MAX_VARINT_LEN: usize = 9;
/// Longest text the multibase decoder accepts; keys are far shorter.
const MAX_TEXT_LEN: usize = 1024;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const BASE32_HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// A multibase encoding, named by its one-character prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Multibase {
    /// NUL: the bytes themselves (accepted as input only: output must be text).
    Identity,
    /// `0`: binary digits.
    Base2,
    /// `f`: lowercase hexadecimal.
    Base16,
    /// `F`: uppercase hexadecimal.
    Base16Upper,
    /// `b`: RFC 4648 base32, lowercase, no padding.
    Base32,
    /// `B`: RFC 4648 base32, uppercase, no padding.
    Base32Upper,
    /// `c`: RFC 4648 base32, lowercase, padded.
    Base32Pad,
    /// `C`: RFC 4648 base32, uppercase, padded.
    Base32PadUpper,
    /// `v`: RFC 4648 base32hex, lowercase, no padding.
    Base32Hex,
    /// `V`: RFC 4648 base32hex, uppercase, no padding.
    Base32HexUpper,
    /// `t`: RFC 4648 base32hex, lowercase, padded.
    Base32HexPad,
    /// `T`: RFC 4648 base32hex, uppercase, padded.
    Base32HexPadUpper,
    /// `z`: base58 with Bitcoin's alphabet (what Status uses for chat keys).
    Base58Btc,
    /// `Z`: base58 with Flickr's alphabet.
    Base58Flickr,
    /// `m`: RFC 4648 base64, no padding.
    Base64,
    /// `M`: RFC 4648 base64, padded.
    Base64Pad,
    /// `u`: RFC 4648 base64url, no padding.
    Base64Url,
    /// `U`: RFC 4648 base64url, padded.
    Base64UrlPad,
}

impl Multibase {
    const ALL: [Self; 18] = [
        Self::Identity,
        Self::Base2,
        Self::Base16,
        Self::Base16Upper,
        Self::Base32,
        Self::Base32Upper,
        Self::Base32Pad,
        Self::Base32PadUpper,
        Self::Base32Hex,
        Self::Base32HexUpper,
        Self::Base32HexPad,
        Self::Base32HexPadUpper,
        Self::Base58Btc,
        Self::Base58Flickr,
        Self::Base64,
        Self::Base64Pad,
        Self::Base64Url,
        Self::Base64UrlPad,
    ];

    /// The prefix character.
    pub fn code(self) -> char {
        match self {
            Self::Identity => '\0',
            Self::Base2 => '0',
            Self::Base16 => 'f',
            Self::Base16Upper => 'F',
            Self::Base32 => 'b',
            Self::Base32Upper => 'B',
            Self::Base32Pad => 'c',
            Self::Base32PadUpper => 'C',
            Self::Base32Hex => 'v',
            Self::Base32HexUpper => 'V',
            Self::Base32HexPad => 't',
            Self::Base32HexPadUpper => 'T',
            Self::Base58Btc => 'z',
            Self::Base58Flickr => 'Z',
            Self::Base64 => 'm',
            Self::Base64Pad => 'M',
            Self::Base64Url => 'u',
            Self::Base64UrlPad => 'U',
        }
    }

    /// The encoding of a prefix character, if supported.
    pub fn from_code(code: char) -> Option<Self> {
        Self::ALL.into_iter().find(|base| base.code() == code)
    }

    /// The multibase name (`base58btc`, `base16`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Base2 => "base2",
            Self::Base16 => "base16",
            Self::Base16Upper => "base16upper",
            Self::Base32 => "base32",
            Self::Base32Upper => "base32upper",
            Self::Base32Pad => "base32pad",
            Self::Base32PadUpper => "base32padupper",
            Self::Base32Hex => "base32hex",
            Self::Base32HexUpper => "base32hexupper",
            Self::Base32HexPad => "base32hexpad",
            Self::Base32HexPadUpper => "base32hexpadupper",
            Self::Base58Btc => "base58btc",
            Self::Base58Flickr => "base58flickr",
            Self::Base64 => "base64",
            Self::Base64Pad => "base64pad",
            Self::Base64Url => "base64url",
            Self::Base64UrlPad => "base64urlpad",
        }
    }

    /// `bytes` in this encoding, prefix included. Identity output is refused (it is not text).
    pub fn encode(self, bytes: &[u8]) -> Result<String> {
        let body = match self {
            Self::Identity => {
                return Err(AccountsError::UnsupportedMultibase(
                    "identity (binary) cannot be written as text".into(),
                ));
            }
            Self::Base2 => bytes.iter().map(|b| format!("{b:08b}")).collect(),
            Self::Base16 => hex::encode(bytes),
            Self::Base16Upper => hex::encode_upper(bytes),
            Self::Base32 | Self::Base32Upper | Self::Base32Pad | Self::Base32PadUpper => {
                base32_encode(bytes, BASE32, matches!(self, Self::Base32Pad | Self::Base32PadUpper))
            }
            Self::Base32Hex
            | Self::Base32HexUpper
            | Self::Base32HexPad
            | Self::Base32HexPadUpper => {
                let pad = matches!(self, Self::Base32HexPad | Self::Base32HexPadUpper);
                base32_encode(bytes, BASE32_HEX, pad)
            }
            Self::Base58Btc => base58::encode(bytes, base58::BITCOIN),
            Self::Base58Flickr => base58::encode(bytes, base58::FLICKR),
            Self::Base64 => STANDARD_NO_PAD.encode(bytes),
            Self::Base64Pad => STANDARD.encode(bytes),
            Self::Base64Url => URL_SAFE_NO_PAD.encode(bytes),
            Self::Base64UrlPad => URL_SAFE.encode(bytes),
        };
        let body = match self {
            Self::Base32Upper
            | Self::Base32PadUpper
            | Self::Base32HexUpper
            | Self::Base32HexPadUpper => body.to_ascii_uppercase(),
            _ => body,
        };
        let mut out = String::with_capacity(1 + body.len());
        out.push(self.code());
        out.push_str(&body);
        Ok(out)
    }

    /// Decodes multibase text: its encoding and bytes. A leading `0x` is read as `f` (the
    /// spec's recommendation, status-go's behaviour); hex and base32 accept either case.
    pub fn decode(text: &str) -> Result<(Self, Vec<u8>)> {
        // status-go panics on text shorter than 2 characters; a prefix alone is the empty
        // payload here (which no key decoder accepts), and only empty text is an error.
        if text.is_empty() {
            return Err(AccountsError::UnsupportedMultibase("empty text".into()));
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(AccountsError::Multibase { base: "multibase", reason: "text too long" });
        }
        if let Some(hex_digits) = text.strip_prefix("0x") {
            return Ok((Self::Base16, decode_hex(hex_digits)?));
        }
        let code = text.chars().next().expect("checked non-empty");
        let base = Self::from_code(code)
            .ok_or_else(|| AccountsError::UnsupportedMultibase(code.to_string()))?;
        let body = &text[code.len_utf8()..];
        let invalid = |reason| AccountsError::Multibase { base: base.name(), reason };
        let bytes = match base {
            Self::Identity => Some(body.as_bytes().to_vec()),
            Self::Base2 => {
                Some(decode_base2(body).ok_or_else(|| invalid("not groups of 8 binary digits"))?)
            }
            Self::Base16 | Self::Base16Upper => Some(decode_hex(body)?),
            Self::Base32 | Self::Base32Upper => base32_decode(body, BASE32, false),
            Self::Base32Pad | Self::Base32PadUpper => base32_decode(body, BASE32, true),
            Self::Base32Hex | Self::Base32HexUpper => base32_decode(body, BASE32_HEX, false),
            Self::Base32HexPad | Self::Base32HexPadUpper => base32_decode(body, BASE32_HEX, true),
            Self::Base58Btc => base58::decode(body, base58::BITCOIN).ok(),
            Self::Base58Flickr => base58::decode(body, base58::FLICKR).ok(),
            Self::Base64 => STANDARD_NO_PAD.decode(body).ok(),
            Self::Base64Pad => STANDARD.decode(body).ok(),
            Self::Base64Url => URL_SAFE_NO_PAD.decode(body).ok(),
            Self::Base64UrlPad => URL_SAFE.decode(body).ok(),
        }
        .ok_or_else(|| invalid("not valid in this encoding"))?;
        Ok((base, bytes))
    }
}

impl fmt::Display for Multibase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Multibase {
    type Err = AccountsError;

    /// A prefix character (`z`, `f`, …), a name (`base58btc`), or `0x` (read as `f`, as
    /// status-go does).
    fn from_str(s: &str) -> Result<Self> {
        if s == "0x" {
            return Ok(Self::Base16);
        }
        let mut chars = s.chars();
        if let (Some(code), None) = (chars.next(), chars.next())
            && let Some(base) = Self::from_code(code)
        {
            return Ok(base);
        }
        Self::ALL
            .into_iter()
            .find(|base| base.name() == s)
            .ok_or_else(|| AccountsError::UnsupportedMultibase(s.to_owned()))
    }
}

/// The `zQ3sh…` text of a chat key: `z` + base58btc(`e7 01` || compressed key). Always 49
/// characters.
pub fn compress_public_key(key: &PublicKey) -> String {
    let mut bytes = Vec::with_capacity(2 + COMPRESSED_PUBLIC_KEY_LEN);
    bytes.extend_from_slice(&SECP256K1_PUB_VARINT);
    bytes.extend_from_slice(&key.to_compressed());
    Multibase::Base58Btc.encode(&bytes).expect("base58 output is text")
}

/// The chat key of compressed-key text (`zQ3sh…`, or any supported multibase of
/// `e7 01 || 33-byte compressed key`).
pub fn decompress_public_key(text: &str) -> Result<PublicKey> {
    let (_, bytes) = Multibase::decode(text)?;
    let key = strip_secp256k1_codec(&bytes)?;
    if key.len() != COMPRESSED_PUBLIC_KEY_LEN {
        return Err(AccountsError::PublicKey(format!(
            "{} bytes after the key type, expected a compressed key of 33",
            key.len()
        )));
    }
    PublicKey::from_sec1(key).map_err(|_| {
        AccountsError::PublicKey(
            "not a compressed secp256k1 point (02/03 and X on the curve)".into(),
        )
    })
}

/// status-go's `MultiformatSerializePublicKey(input, out)`: `input` is multibase text of
/// `varint(0xe7) || 65-byte uncompressed key` (clients pass `"0xe701" + hex`); the result is
/// `out`'s text of `varint(0xe7) || 33-byte compressed key`. `out` = `z` gives `zQ3sh…`.
pub fn serialize_public_key(input: &str, out: Multibase) -> Result<String> {
    let (_, bytes) = Multibase::decode(input)?;
    let key = strip_secp256k1_codec(&bytes)?;
    if key.len() != UNCOMPRESSED_PUBLIC_KEY_LEN || key[0] != 0x04 {
        return Err(AccountsError::PublicKey(format!(
            "invalid public key format: {} bytes after the key type, expected 65 starting with 04",
            key.len()
        )));
    }
    let key = PublicKey::from_sec1(key).map_err(|_| {
        AccountsError::PublicKey("invalid public key format: not a point on secp256k1".into())
    })?;
    let mut result = SECP256K1_PUB_VARINT.to_vec();
    result.extend_from_slice(&key.to_compressed());
    out.encode(&result)
}

/// status-go's `MultiformatDeserializePublicKey(input, out)`: `input` is multibase text of
/// `varint(0xe7) || 33-byte compressed key`; the result is `out`'s text of
/// `varint(0xe7) || 65-byte uncompressed key` (`f` gives `fe70104…`).
pub fn deserialize_public_key(input: &str, out: Multibase) -> Result<String> {
    let key = decompress_public_key(input)?;
    let mut result = SECP256K1_PUB_VARINT.to_vec();
    result.extend_from_slice(&key.to_uncompressed());
    out.encode(&result)
}

/// A chat key in any form a person may paste: `zQ3sh…` (or other multibase text of a
/// multicodec key, compressed or not), or hex with or without `0x` of a 33-byte compressed,
/// 65-byte uncompressed or 64-byte `x || y` key (optionally after `e7 01`). Whitespace around
/// it is ignored; the binary identity multibase is not accepted.
pub fn parse_public_key(text: &str) -> Result<PublicKey> {
    let text = text.trim();
    let hex_digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if let Ok(bytes) = hex::decode(hex_digits) {
        let key = match strip_secp256k1_codec(&bytes) {
            Ok(key) if matches!(key.len(), 33 | 65) => key,
            _ => &bytes[..],
        };
        return public_key_from_bytes(key);
    }
    let (base, bytes) = Multibase::decode(text)?;
    if base == Multibase::Identity {
        return Err(AccountsError::UnsupportedMultibase(
            "identity (binary) is not a text form of a key".into(),
        ));
    }
    public_key_from_bytes(strip_secp256k1_codec(&bytes)?)
}

/// SEC1 (33 or 65 bytes) or a 64-byte node id.
fn public_key_from_bytes(bytes: &[u8]) -> Result<PublicKey> {
    let key = match bytes.len() {
        NODE_ID_LEN => {
            let id: [u8; NODE_ID_LEN] = bytes.try_into().expect("checked length");
            PublicKey::from_node_id(&id)
        }
        _ => PublicKey::from_sec1(bytes),
    };
    key.map_err(|_| {
        AccountsError::PublicKey(format!(
            "{} bytes that are not a secp256k1 public key (33 compressed, 65 uncompressed or 64)",
            bytes.len()
        ))
    })
}

/// The bytes after the multicodec varint, which must be `secp256k1-pub`.
fn strip_secp256k1_codec(bytes: &[u8]) -> Result<&[u8]> {
    let (code, len) = read_uvarint(bytes)?;
    if code != SECP256K1_PUB {
        return Err(AccountsError::UnsupportedKeyType(code));
    }
    Ok(&bytes[len..])
}

/// An unsigned LEB128 varint as multiformats/unsigned-varint defines it: minimal, at most 9
/// bytes (63 bits). Returns the value and its length.
pub fn read_uvarint(bytes: &[u8]) -> Result<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(MAX_VARINT_LEN) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of zero (other than a lone zero) is a non-minimal encoding.
            if byte == 0 && i > 0 {
                return Err(AccountsError::Varint);
            }
            return Ok((value, i + 1));
        }
    }
    Err(AccountsError::Varint)
}

fn decode_hex(digits: &str) -> Result<Vec<u8>> {
    hex::decode(digits)
        .map_err(|_| AccountsError::Multibase { base: "base16", reason: "not hexadecimal" })
}

fn decode_base2(bits: &str) -> Option<Vec<u8>> {
    if !bits.len().is_multiple_of(8) || !bits.bytes().all(|b| b == b'0' || b == b'1') {
        return None;
    }
    Some(
        bits.as_bytes()
            .chunks(8)
            .map(|chunk| chunk.iter().fold(0u8, |acc, &b| (acc << 1) | (b - b'0')))
            .collect(),
    )
}

fn base32_encode(bytes: &[u8], alphabet: &[u8; 32], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let value = block.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(alphabet[((value >> (35 - 5 * i)) & 0x1f) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 4648 base32 in either case. Padded text must be whole 8-character blocks.
fn base32_decode(text: &str, alphabet: &[u8; 32], padded: bool) -> Option<Vec<u8>> {
    let body = if padded {
        if !text.len().is_multiple_of(8) {
            return None;
        }
        text.trim_end_matches('=')
    } else {
        text
    };
    if body.contains('=') || (padded && text.len() - body.len() > 6) {
        return None;
    }
    // A final group of 1, 3 or 6 characters cannot end on a byte boundary.
    if matches!(body.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in body.bytes() {
        let value = alphabet.iter().position(|&a| a == c.to_ascii_lowercase())?;
        buffer = (buffer << 5) | value as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SPEC_KEY: &str = "0x04261c55675e55ff25edb50b345cfb3a3f35f60712d251cbaaab97bd50054c6ebc3cd4e22200c68daf7493e1f8da6a190a68a671e2d3977809612424c7c3888bc6";
    const SPEC_COMPRESSED: &str = "zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB";

    #[test]
    fn spec_2_account_example() {
        let key = parse_public_key(SPEC_KEY).unwrap();
        assert_eq!(compress_public_key(&key), SPEC_COMPRESSED);
        let input = format!("0xe701{}", &SPEC_KEY[2..]);
        assert_eq!(serialize_public_key(&input, Multibase::Base58Btc).unwrap(), SPEC_COMPRESSED);
        assert_eq!(decompress_public_key(SPEC_COMPRESSED).unwrap(), key);
        assert_eq!(
            deserialize_public_key(SPEC_COMPRESSED, "0x".parse().unwrap()).unwrap(),
            format!("fe701{}", &SPEC_KEY[2..])
        );
        // The spec's `0xea 0x01` (BLS12-381 G1) prefix is not a chat key.
        let bls = format!("0xea01{}", &SPEC_KEY[2..]);
        assert!(matches!(
            serialize_public_key(&bls, Multibase::Base58Btc),
            Err(AccountsError::UnsupportedKeyType(0xea))
        ));
        // Plain 0x04… without the codec: "unsupported public key type '4'".
        assert!(matches!(
            serialize_public_key(SPEC_KEY, Multibase::Base58Btc),
            Err(AccountsError::UnsupportedKeyType(4))
        ));
    }

    #[test]
    fn parse_accepts_every_form() {
        let key = parse_public_key(SPEC_KEY).unwrap();
        let compressed_hex = hex::encode(key.to_compressed());
        for text in [
            SPEC_KEY.to_owned(),
            SPEC_KEY[2..].to_owned(),
            SPEC_KEY.to_uppercase().replacen("0X", "0x", 1),
            format!("0x{compressed_hex}"),
            format!("0xe701{compressed_hex}"),
            format!("0xe701{}", &SPEC_KEY[2..]),
            hex::encode(&key.to_uncompressed()[1..]),
            format!(" {SPEC_COMPRESSED}\n"),
            Multibase::Base64.encode(&[&[0xe7, 0x01][..], &key.to_compressed()].concat()).unwrap(),
            format!("fe701{}", &SPEC_KEY[2..]),
        ] {
            assert_eq!(parse_public_key(&text).unwrap(), key, "{text:?}");
        }
        for bad in ["", "0x", "zQ3", "hello", "0x0400", "kabc"] {
            assert!(parse_public_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn multibase_prefixes() {
        // go-multibase's own test vector: "Decentralize everything!!".
        let data = b"Decentralize everything!!";
        let cases = [
            (Multibase::Base16, "f446563656e7472616c697a652065766572797468696e672121"),
            (Multibase::Base32, "birswgzloorzgc3djpjssazlwmvzhs5dinfxgoijb"),
            (Multibase::Base32HexPadUpper, "T8HIM6PBEEHP62R39F9II0PBMCLP7IT38D5N6E891"),
            (Multibase::Base58Btc, "zUXE7GvtEk8XTXs1GF8HSGbVA9FCX9SEBPe"),
            (Multibase::Base64Pad, "MRGVjZW50cmFsaXplIGV2ZXJ5dGhpbmchIQ=="),
            (Multibase::Base64Url, "uRGVjZW50cmFsaXplIGV2ZXJ5dGhpbmchIQ"),
        ];
        for (base, text) in cases {
            assert_eq!(base.encode(data).unwrap(), text, "{base}");
            assert_eq!(Multibase::decode(text).unwrap(), (base, data.to_vec()), "{base}");
        }
        // Padding (RFC 4648 test vectors for "f").
        assert_eq!(Multibase::Base32PadUpper.encode(b"f").unwrap(), "CMY======");
        assert_eq!(Multibase::Base32HexPad.encode(b"f").unwrap(), "tco======");
        assert_eq!(
            Multibase::decode("tco======").unwrap(),
            (Multibase::Base32HexPad, b"f".to_vec())
        );
        assert_eq!(Multibase::decode("bmy").unwrap(), (Multibase::Base32, b"f".to_vec()));
        assert!(Multibase::decode("bmy======").is_err());
        assert!(Multibase::decode("k51qzi5uqu5d").is_err());
        assert!(Multibase::decode("9123").is_err());
        assert!(Multibase::decode("").is_err());
        assert_eq!(Multibase::decode("z").unwrap(), (Multibase::Base58Btc, vec![]));
        assert_eq!(Multibase::decode("0x").unwrap(), (Multibase::Base16, vec![]));
        assert!(decompress_public_key("z").is_err());
        assert!(decompress_public_key("0").is_err());
        assert!(Multibase::decode("f0").is_err());
        assert!(Multibase::decode("c7a===").is_err());
        assert_eq!("base58btc".parse::<Multibase>().unwrap(), Multibase::Base58Btc);
        assert!(Multibase::Identity.encode(b"x").is_err());
        assert_eq!(Multibase::decode("\0ab").unwrap(), (Multibase::Identity, b"ab".to_vec()));
    }

    #[test]
    fn varints_are_minimal() {
        assert_eq!(read_uvarint(&[0xe7, 0x01, 0x02]).unwrap(), (0xe7, 2));
        assert_eq!(read_uvarint(&[0x00]).unwrap(), (0, 1));
        assert!(read_uvarint(&[0xe7, 0x80, 0x00]).is_err());
        assert!(read_uvarint(&[0x80, 0x00]).is_err());
        assert!(read_uvarint(&[0x80]).is_err());
        assert!(read_uvarint(&[0xff; 10]).is_err());
        assert!(read_uvarint(&[]).is_err());
    }

    proptest! {
        #[test]
        fn every_base_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            for base in Multibase::ALL.into_iter().filter(|b| *b != Multibase::Identity) {
                let text = base.encode(&bytes).unwrap();
                prop_assert_eq!(Multibase::decode(&text).unwrap(), (base, bytes.clone()));
            }
        }

        #[test]
        fn compressed_keys_round_trip(secret in any::<[u8; 32]>()) {
            if let Ok(secret) = wisp_crypto::SecretKey::from_bytes(&secret) {
                let key = secret.public_key();
                let text = compress_public_key(&key);
                prop_assert_eq!(text.len(), 49);
                prop_assert!(text.starts_with("zQ3sh"));
                prop_assert_eq!(decompress_public_key(&text).unwrap(), key);
            }
        }

        #[test]
        fn decoders_never_panic(text in "\\PC{0,120}") {
            let _ = parse_public_key(&text);
            let _ = decompress_public_key(&text);
            let _ = serialize_public_key(&text, Multibase::Base58Btc);
        }
    }
}
