//! The 3-word alias ("pseudonym") of a chat key, as status-go v0.79.11 computes it
//! (`shared/data/identity/ALGORITHMS.md` §a).
//!
//! The seed is the low 64 bits of the key's X coordinate; a 64-bit shift register with
//! feedback mask 0xB8 (taps at bits 3, 4, 5 and 7) steps three times; the three states pick an
//! adjective (mod 1389), another adjective (mod 1389) and an animal (mod 1704).

use wisp_crypto::PublicKey;

use crate::{
    error::{AccountsError, Result},
    wordlist,
};

/// The shift register's feedback mask (bits 3, 4, 5 and 7).
pub const LFSR_POLY: u64 = 0xb8;

/// The alias of a chat key, e.g. `"New Awful Harpseal"`.
pub fn alias(key: &PublicKey) -> String {
    alias_from_seed(alias_seed(key))
}

/// The alias of status-go's `GenerateFromPublicKeyString`: drops the first two characters
/// unchecked (normally `0x`), hex-decodes the rest in either case, and requires a 65-byte
/// uncompressed key on the curve. So `0X…` and `zz…` work like `0x…`, and an unprefixed `04…`
/// fails (ALGORITHMS.md §a "Entry points").
pub fn alias_from_key_text(text: &str) -> Result<String> {
    let hex_digits = text.get(2..).ok_or_else(|| AccountsError::PublicKey("too short".into()))?;
    let bytes = hex::decode(hex_digits)
        .map_err(|_| AccountsError::PublicKey("not hexadecimal after the prefix".into()))?;
    if bytes.len() != wisp_crypto::UNCOMPRESSED_PUBLIC_KEY_LEN {
        return Err(AccountsError::PublicKey(format!(
            "{} bytes after the prefix, expected an uncompressed key of 65",
            bytes.len()
        )));
    }
    let key = PublicKey::from_sec1(&bytes)
        .map_err(|_| AccountsError::PublicKey("not an uncompressed secp256k1 point".into()))?;
    Ok(alias(&key))
}

/// The alias for a shift-register seed (the low 64 bits of X for a key).
pub fn alias_from_seed(seed: u64) -> String {
    let [a, b, c] = alias_indices(seed);
    format!(
        "{} {} {}",
        wordlist::adjectives()[a],
        wordlist::adjectives()[b],
        wordlist::animals()[c]
    )
}

/// The seed of a key: bytes 25..33 of the uncompressed key (the low 64 bits of X), big-endian.
pub fn alias_seed(key: &PublicKey) -> u64 {
    let k = key.to_uncompressed();
    u64::from_be_bytes(k[25..33].try_into().expect("8 bytes"))
}

/// The three word indices (adjective, adjective, animal) of a seed.
pub fn alias_indices(seed: u64) -> [usize; 3] {
    let s1 = lfsr_step(seed);
    let s2 = lfsr_step(s1);
    let s3 = lfsr_step(s2);
    let adjectives = wordlist::ALIAS_ADJECTIVES as u64;
    let animals = wordlist::ALIAS_ANIMALS as u64;
    [(s1 % adjectives) as usize, (s2 % adjectives) as usize, (s3 % animals) as usize]
}

/// One step: the feedback bit is the parity of `state & 0xB8`; shift left, feed it in at bit 0.
pub fn lfsr_step(state: u64) -> u64 {
    let feedback = u64::from((state & LFSR_POLY).count_ones() & 1);
    (state << 1) | feedback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_md_example() {
        // ALGORITHMS.md §a, key fixed-A.
        let seed = 0xa483_208d_bb50_74ab;
        assert_eq!(lfsr_step(seed), 0x4906_411b_76a0_e957);
        assert_eq!(lfsr_step(lfsr_step(seed)), 0x920c_8236_ed41_d2af);
        assert_eq!(alias_indices(seed), [526, 1053, 759]);
        assert_eq!(alias_from_seed(seed), "New Awful Harpseal");
        assert_eq!(alias_from_seed(42), "Hard Tame Brownbutterfly");
        assert_eq!(alias_from_seed(0), "Able Able Aardvark");
        assert_eq!(alias_from_seed(1 << 63), "Able Able Aardvark");
    }

    #[test]
    fn short_or_odd_text_is_an_error() {
        assert!(alias_from_key_text("").is_err());
        assert!(alias_from_key_text("0").is_err());
        assert!(alias_from_key_text("0x").is_err());
        assert!(alias_from_key_text("0xzz").is_err());
        assert!(alias_from_key_text("é").is_err());
        assert!(alias_from_key_text(&format!("0x04{}", "00".repeat(64))).is_err());
    }
}
