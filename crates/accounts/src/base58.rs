//! Base58 (Bitcoin and Flickr alphabets) and Base58Check (BIP32 extended keys).
//!
//! The text is one big-endian number in base 58; each leading zero byte is one leading
//! first-alphabet character (`1` in Bitcoin's alphabet). Inputs here are short (at most a few
//! hundred characters), so the quadratic schoolbook conversion is fine.

use wisp_crypto::sha256;

use crate::error::{AccountsError, Result};

/// Bitcoin's alphabet (multibase `z`, BIP32).
pub(crate) const BITCOIN: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Flickr's alphabet (multibase `Z`): Bitcoin's with the cases swapped.
pub(crate) const FLICKR: &[u8; 58] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// Longest text accepted by [`decode`]; nothing this crate reads comes near it, and the bound
/// keeps the quadratic conversion cheap on hostile input.
const MAX_DECODE_LEN: usize = 1024;

/// Encodes `bytes` with `alphabet`.
pub(crate) fn encode(bytes: &[u8], alphabet: &[u8; 58]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Base-58 digits, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for digit in &mut digits {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n(alphabet[0] as char, zeros));
    out.extend(digits.iter().rev().map(|&d| alphabet[usize::from(d)] as char));
    out
}

/// Decodes `text` written with `alphabet`.
pub(crate) fn decode(text: &str, alphabet: &[u8; 58]) -> Result<Vec<u8>> {
    if text.len() > MAX_DECODE_LEN {
        return Err(AccountsError::Base58("text too long"));
    }
    let mut lookup = [0xffu8; 128];
    for (value, &c) in alphabet.iter().enumerate() {
        lookup[usize::from(c)] = value as u8;
    }
    let zeros = text.bytes().take_while(|&c| c == alphabet[0]).count();
    // Bytes, least significant first.
    let mut bytes: Vec<u8> = Vec::with_capacity(text.len());
    for c in text.bytes().skip(zeros) {
        let value = lookup.get(usize::from(c)).copied().unwrap_or(0xff);
        if value == 0xff {
            return Err(AccountsError::Base58("character outside the alphabet"));
        }
        let mut carry = u32::from(value);
        for byte in &mut bytes {
            carry += u32::from(*byte) * 58;
            *byte = carry as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push(carry as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Ok(out)
}

/// Base58Check: `payload || sha256(sha256(payload))[..4]`, Bitcoin alphabet.
pub(crate) fn encode_check(payload: &[u8]) -> String {
    let mut data = Vec::with_capacity(payload.len() + 4);
    data.extend_from_slice(payload);
    data.extend_from_slice(&sha256(sha256(payload))[..4]);
    encode(&data, BITCOIN)
}

/// Decodes Base58Check text and verifies its 4-byte checksum; returns the payload.
pub(crate) fn decode_check(text: &str) -> Result<Vec<u8>> {
    let mut data = decode(text, BITCOIN)?;
    if data.len() < 4 {
        return Err(AccountsError::Base58("too short for a checksum"));
    }
    let payload_len = data.len() - 4;
    let checksum = sha256(sha256(&data[..payload_len]));
    if checksum[..4] != data[payload_len..] {
        return Err(AccountsError::Base58("checksum mismatch"));
    }
    data.truncate(payload_len);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_encodings() {
        // Bitcoin's base58 tests (bitcoin/src/test/data/base58_encode_decode.json).
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("61", "2g"),
            ("626262", "a3gV"),
            ("636363", "aPEr"),
            ("73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"),
            (
                "00eb15231dfceb60925886b67d065299925915aeb172c06647",
                "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
            ),
            ("516b6fcd0f", "ABnLTmg"),
            ("bf4f89001e670274dd", "3SEo3LWLoPntC"),
            ("572e4794", "3EFU7m"),
            ("ecac89cad93923c02321", "EJDM8drfXA6uyA"),
            ("10c8511e", "Rt5zm"),
            ("00000000000000000000", "1111111111"),
        ];
        for (hex_in, text) in cases {
            let bytes = hex::decode(hex_in).unwrap();
            assert_eq!(encode(&bytes, BITCOIN), *text);
            assert_eq!(decode(text, BITCOIN).unwrap(), bytes);
        }
        assert!(decode("0OIl", BITCOIN).is_err());
        assert!(decode("ü", BITCOIN).is_err());
        assert!(decode_check("1").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            for alphabet in [BITCOIN, FLICKR] {
                prop_assert_eq!(decode(&encode(&bytes, alphabet), alphabet).unwrap(), bytes.clone());
            }
            prop_assert_eq!(decode_check(&encode_check(&bytes)).unwrap(), bytes);
        }
    }
}
