//! Ethereum addresses with the EIP-55 mixed-case checksum.
//!
//! EIP-55: hex digit i of the lowercase address is upper-cased when nibble i of
//! keccak256(lowercase hex, as ASCII) is 8 or more.

use wisp_crypto::{PublicKey, keccak256};

use crate::error::{AccountsError, Result};

/// Length of an Ethereum address.
pub const ADDRESS_LEN: usize = 20;

/// The Ethereum address of `key` (the last 20 bytes of keccak256 of `x || y`).
pub fn address_of(key: &PublicKey) -> [u8; ADDRESS_LEN] {
    key.address()
}

/// `0x` and the 40 hex digits of `address` in EIP-55 mixed case.
pub fn to_checksum_address(address: &[u8; ADDRESS_LEN]) -> String {
    let lower = hex::encode(address);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(2 + 2 * ADDRESS_LEN);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// Parses `0x` and 40 hex digits (the `0x` is optional). All-lowercase and all-uppercase text
/// carries no checksum and is accepted as is; mixed case must be the EIP-55 checksum.
pub fn parse_address(text: &str) -> Result<[u8; ADDRESS_LEN]> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.len() != 2 * ADDRESS_LEN {
        return Err(AccountsError::Address("expected 40 hex digits"));
    }
    let mut address = [0u8; ADDRESS_LEN];
    hex::decode_to_slice(digits, &mut address)
        .map_err(|_| AccountsError::Address("not hexadecimal"))?;
    let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && to_checksum_address(&address)[2..] != *digits {
        return Err(AccountsError::Address("EIP-55 checksum mismatch (a digit is mistyped)"));
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// EIP-55 §"Test Cases".
    const EIP55: &[&str] = &[
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn eip55_test_cases() {
        for text in EIP55 {
            let address = parse_address(text).unwrap();
            assert_eq!(to_checksum_address(&address), *text);
            assert_eq!(parse_address(&text.to_lowercase()).unwrap(), address);
        }
        // One digit's case flipped breaks the checksum.
        assert!(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").is_err());
        assert!(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA").is_err());
        assert!(parse_address("0xzaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_err());
    }

    proptest! {
        #[test]
        fn checksum_round_trips(address in any::<[u8; 20]>()) {
            prop_assert_eq!(parse_address(&to_checksum_address(&address)).unwrap(), address);
        }
    }
}
