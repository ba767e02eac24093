//! BIP39 mnemonics (English list) and the seeds derived from them.
//!
//! BIP39 §"Generating the mnemonic": entropy of ENT = 128..256 bits (a multiple of 32) is
//! followed by the first ENT/32 bits of its SHA-256, and the result is cut into 11-bit word
//! indices. §"From mnemonic to seed": PBKDF2-HMAC-SHA512 of the NFKD sentence, salt
//! `"mnemonic" || NFKD(passphrase)`, 2048 iterations, 64 bytes.

use std::{fmt, str::FromStr};

use pbkdf2::pbkdf2_hmac;
use sha2::Sha512;
use unicode_normalization::UnicodeNormalization;
use wisp_crypto::{Zeroizing, fill_random, sha256};

use crate::{
    error::{AccountsError, Result},
    wordlist,
};

/// Word counts BIP39 defines (12 words = 128 bits of entropy … 24 words = 256 bits).
pub const WORD_COUNTS: [usize; 5] = [12, 15, 18, 21, 24];
/// Length of a BIP39 seed.
pub const SEED_LEN: usize = 64;
/// PBKDF2 iterations of the seed (BIP39 §"From mnemonic to seed").
pub const SEED_PBKDF2_ROUNDS: u32 = 2048;
/// Bits per word index.
const BITS_PER_WORD: usize = 11;

/// A valid BIP39 mnemonic in the English list: the words, the entropy they encode, and a
/// correct checksum.
///
/// The sentence and the entropy are wiped on drop; `Debug` shows only the word count, so a
/// mnemonic never reaches a log line by accident. [`Mnemonic::phrase`] is the one way out.
#[derive(Clone)]
pub struct Mnemonic {
    /// The words joined by single spaces, lowercase.
    phrase: Zeroizing<String>,
    entropy: Zeroizing<Vec<u8>>,
}

impl Mnemonic {
    /// A fresh mnemonic of `word_count` words (one of [`WORD_COUNTS`]) from the operating
    /// system's random number generator.
    pub fn generate(word_count: usize) -> Result<Self> {
        if !WORD_COUNTS.contains(&word_count) {
            return Err(AccountsError::MnemonicWordCount { got: word_count });
        }
        let mut entropy = Zeroizing::new(vec![0u8; word_count * 4 / 3]);
        fill_random(&mut entropy);
        Self::from_entropy(&entropy)
    }

    /// The mnemonic encoding `entropy` (16, 20, 24, 28 or 32 bytes).
    pub fn from_entropy(entropy: &[u8]) -> Result<Self> {
        if !(16..=32).contains(&entropy.len()) || !entropy.len().is_multiple_of(4) {
            return Err(AccountsError::EntropyLength { got: entropy.len() });
        }
        let checksum_bits = entropy.len() / 4;
        let word_count = (entropy.len() * 8 + checksum_bits) / BITS_PER_WORD;
        // entropy || checksum byte (the checksum is at most 8 bits, the top of SHA-256[0]).
        let mut bits = Zeroizing::new(Vec::with_capacity(entropy.len() + 1));
        bits.extend_from_slice(entropy);
        bits.push(sha256(entropy)[0]);
        let words = wordlist::english();
        let mut phrase = Zeroizing::new(String::with_capacity(word_count * 9));
        for i in 0..word_count {
            if i > 0 {
                phrase.push(' ');
            }
            phrase.push_str(words[usize::from(read_bits11(&bits, i * BITS_PER_WORD))]);
        }
        Ok(Self { phrase, entropy: Zeroizing::new(entropy.to_vec()) })
    }

    /// Parses and checks a sentence: words separated by any whitespace, in any letter case
    /// (normalised to NFKD and lowercase, so the sentence kept is the canonical one).
    ///
    /// Errors name the position of an unknown word, never the word.
    pub fn parse(phrase: &str) -> Result<Self> {
        let normalized: Zeroizing<String> = Zeroizing::new(phrase.nfkd().collect());
        let lower = Zeroizing::new(normalized.to_lowercase());
        let count = lower.split_whitespace().count();
        if !WORD_COUNTS.contains(&count) {
            return Err(AccountsError::MnemonicWordCount { got: count });
        }
        let total_bits = count * BITS_PER_WORD;
        let entropy_len = total_bits * 32 / 33 / 8;
        let checksum_bits = total_bits - entropy_len * 8;
        let mut bits = Zeroizing::new(vec![0u8; entropy_len + 1]);
        let mut canonical = Zeroizing::new(String::with_capacity(lower.len()));
        for (i, word) in lower.split_whitespace().enumerate() {
            let index = wordlist::english_index(word)
                .ok_or(AccountsError::UnknownWord { position: i + 1 })?;
            write_bits11(&mut bits, i * BITS_PER_WORD, index);
            if i > 0 {
                canonical.push(' ');
            }
            canonical.push_str(word);
        }
        let entropy = Zeroizing::new(bits[..entropy_len].to_vec());
        let expected = sha256(&entropy[..])[0] >> (8 - checksum_bits);
        let got = bits[entropy_len] >> (8 - checksum_bits);
        if expected != got {
            return Err(AccountsError::MnemonicChecksum);
        }
        Ok(Self { phrase: canonical, entropy })
    }

    /// The sentence: the words joined by single spaces. A secret: show it to its owner once,
    /// never log it.
    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The words, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.phrase.split(' ')
    }

    /// Number of words.
    pub fn word_count(&self) -> usize {
        self.words().count()
    }

    /// The entropy the words encode (16 to 32 bytes).
    pub fn entropy(&self) -> &[u8] {
        &self.entropy
    }

    /// The 64-byte BIP39 seed with `passphrase` (Status uses the empty passphrase).
    pub fn to_seed(&self, passphrase: &str) -> Seed {
        Seed::from_phrase(&self.phrase, passphrase)
    }
}

impl FromStr for Mnemonic {
    type Err = AccountsError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl PartialEq for Mnemonic {
    fn eq(&self, other: &Self) -> bool {
        wisp_crypto::constant_time_eq(&self.entropy, &other.entropy)
    }
}

impl Eq for Mnemonic {}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mnemonic").field("words", &self.word_count()).finish_non_exhaustive()
    }
}

/// A 64-byte BIP39 seed, the input of BIP32 master key generation. Wiped on drop; `Debug`
/// does not print it.
#[derive(Clone)]
pub struct Seed(Zeroizing<[u8; SEED_LEN]>);

impl Seed {
    /// The seed of any sentence, in any language, without checking its words or checksum:
    /// PBKDF2-HMAC-SHA512(NFKD(sentence), "mnemonic" || NFKD(passphrase), 2048, 64).
    ///
    /// Use [`Mnemonic::parse`] and [`Mnemonic::to_seed`] for English mnemonics a person typed;
    /// this is for sentences from other word lists.
    pub fn from_phrase(phrase: &str, passphrase: &str) -> Self {
        let sentence: Zeroizing<String> = Zeroizing::new(phrase.nfkd().collect());
        let mut salt = Zeroizing::new(String::from("mnemonic"));
        salt.extend(passphrase.nfkd());
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        pbkdf2_hmac::<Sha512>(
            sentence.as_bytes(),
            salt.as_bytes(),
            SEED_PBKDF2_ROUNDS,
            &mut seed[..],
        );
        Self(seed)
    }

    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; SEED_LEN] {
        &self.0
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(..)")
    }
}

/// The 11 bits of `bits` starting at bit `offset` (bit 0 is the top bit of byte 0).
fn read_bits11(bits: &[u8], offset: usize) -> u16 {
    let mut value = 0u16;
    for i in offset..offset + BITS_PER_WORD {
        let bit = (bits[i / 8] >> (7 - i % 8)) & 1;
        value = (value << 1) | u16::from(bit);
    }
    value
}

/// Writes the low 11 bits of `value` into `bits` at bit `offset`.
fn write_bits11(bits: &mut [u8], offset: usize, value: u16) {
    for k in 0..BITS_PER_WORD {
        let i = offset + k;
        if (value >> (BITS_PER_WORD - 1 - k)) & 1 == 1 {
            bits[i / 8] |= 1 << (7 - i % 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ABANDON_ABOUT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                                 abandon abandon abandon about";

    #[test]
    fn bip39_first_trezor_vector() {
        let m = Mnemonic::from_entropy(&[0; 16]).unwrap();
        assert_eq!(m.phrase(), ABANDON_ABOUT);
        assert_eq!(
            hex::encode(m.to_seed("TREZOR").as_bytes()),
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
        );
    }

    #[test]
    fn parse_normalises_and_reports_positions() {
        let messy = format!("  {}\n", ABANDON_ABOUT.to_uppercase().replace(' ', "\t "));
        let m = Mnemonic::parse(&messy).unwrap();
        assert_eq!(m.phrase(), ABANDON_ABOUT);
        assert_eq!(m.entropy(), &[0u8; 16]);
        assert_eq!(m.word_count(), 12);

        let typo = ABANDON_ABOUT.replacen("abandon", "abandom", 1).replacen("about", "aboot", 1);
        assert!(matches!(Mnemonic::parse(&typo), Err(AccountsError::UnknownWord { position: 1 })));
        let swapped = ABANDON_ABOUT.replace("about", "abandon");
        assert!(matches!(Mnemonic::parse(&swapped), Err(AccountsError::MnemonicChecksum)));
        assert!(matches!(
            Mnemonic::parse("abandon abandon"),
            Err(AccountsError::MnemonicWordCount { got: 2 })
        ));
        assert!(matches!(Mnemonic::parse(""), Err(AccountsError::MnemonicWordCount { got: 0 })));
        // The error text never repeats a word.
        let text = Mnemonic::parse(&typo).unwrap_err().to_string();
        assert!(!text.contains("abandom"), "{text}");
    }

    #[test]
    fn debug_hides_the_words() {
        let m = Mnemonic::from_entropy(&[0; 16]).unwrap();
        let debug = format!("{m:?} {:?}", m.to_seed(""));
        assert!(!debug.contains("abandon"), "{debug}");
        assert!(!debug.contains("5eb0"), "{debug}");
    }

    #[test]
    fn generate_gives_each_length() {
        for count in WORD_COUNTS {
            let m = Mnemonic::generate(count).unwrap();
            assert_eq!(m.word_count(), count);
            assert_eq!(Mnemonic::parse(m.phrase()).unwrap(), m);
        }
        assert!(Mnemonic::generate(13).is_err());
        assert!(Mnemonic::from_entropy(&[0; 15]).is_err());
        assert!(Mnemonic::from_entropy(&[0; 36]).is_err());
    }

    proptest! {
        #[test]
        fn entropy_round_trips(len in 4usize..=8, seed in any::<[u8; 32]>()) {
            let entropy = &seed[..len * 4];
            let m = Mnemonic::from_entropy(entropy).unwrap();
            let parsed = Mnemonic::parse(m.phrase()).unwrap();
            prop_assert_eq!(parsed.entropy(), entropy);
            prop_assert_eq!(parsed.phrase(), m.phrase());
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = Mnemonic::parse(&text);
        }
    }
}
