//! The word lists, embedded at compile time from `data/` (see `data/README.md` for where they
//! come from): the BIP39 English list and the adjective/animal lists of the 3-word alias.

use std::sync::LazyLock;

/// Number of words in a BIP39 list.
pub const BIP39_WORDS: usize = 2048;
/// Number of adjectives in the alias list (status-go v0.79.11, duplicates included).
pub const ALIAS_ADJECTIVES: usize = 1389;
/// Number of animals in the alias list (status-go v0.79.11, duplicates included).
pub const ALIAS_ANIMALS: usize = 1704;

const ENGLISH_TXT: &str = include_str!("../data/english.txt");
const ADJECTIVES_TXT: &str = include_str!("../data/adjectives.txt");
const ANIMALS_TXT: &str = include_str!("../data/animals.txt");

static ENGLISH: LazyLock<Vec<&'static str>> = LazyLock::new(|| ENGLISH_TXT.lines().collect());
static ADJECTIVES: LazyLock<Vec<&'static str>> = LazyLock::new(|| ADJECTIVES_TXT.lines().collect());
static ANIMALS: LazyLock<Vec<&'static str>> = LazyLock::new(|| ANIMALS_TXT.lines().collect());

/// The BIP39 English word list: 2048 words, sorted, in `bip-0039/english.txt` order.
pub fn english() -> &'static [&'static str] {
    &ENGLISH
}

/// The 1389 alias adjectives in status-go's order (line n is index n−1; duplicates kept).
pub fn adjectives() -> &'static [&'static str] {
    &ADJECTIVES
}

/// The 1704 alias animals in status-go's order (line n is index n−1; duplicates kept).
pub fn animals() -> &'static [&'static str] {
    &ANIMALS
}

/// The index of `word` in the English list (which is sorted, so a binary search finds it).
pub(crate) fn english_index(word: &str) -> Option<u16> {
    english().binary_search(&word).ok().and_then(|i| u16::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_the_upstream_sizes() {
        assert_eq!(english().len(), BIP39_WORDS);
        assert_eq!(adjectives().len(), ALIAS_ADJECTIVES);
        assert_eq!(animals().len(), ALIAS_ANIMALS);
        assert!(english().windows(2).all(|w| w[0] < w[1]), "english.txt is sorted");
        assert_eq!(english_index("abandon"), Some(0));
        assert_eq!(english_index("zoo"), Some(2047));
        assert_eq!(english_index("Zoo"), None);
        // The alias lists: capitalised single ASCII words; duplicates are data, not mistakes.
        for word in adjectives().iter().chain(animals()) {
            let mut chars = word.chars();
            assert!(chars.next().is_some_and(|c| c.is_ascii_uppercase()), "{word:?}");
            assert!(chars.all(|c| c.is_ascii_lowercase()), "{word:?}");
        }
        assert_eq!(adjectives()[10], "Adorable");
        assert_eq!(adjectives()[210], "Adorable");
    }

    /// The copies in `data/` are byte-identical to the originals they were copied from (the
    /// team's `shared/specs/eips/bips/bip-0039/english.txt` and `shared/data/identity/`, see
    /// `data/README.md`): their SHA-256, taken from the originals, is pinned here so the check
    /// needs no file outside the repository. `english.txt`'s hash is also the one BIP39's
    /// reference list is published with.
    #[test]
    fn data_copies_match_originals() {
        let pinned = [
            (
                "english.txt",
                ENGLISH_TXT,
                "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda",
            ),
            (
                "adjectives.txt",
                ADJECTIVES_TXT,
                "073e0881b0c90485c437ca00ac1d77afb14c1b575a6d1901c259c1546cceda4b",
            ),
            (
                "animals.txt",
                ANIMALS_TXT,
                "d53074a2d18d91ce44aab57a2e99e43fff44430ebf2c51ab78889c3538997949",
            ),
        ];
        for (name, copy, sha256) in pinned {
            assert_eq!(
                hex::encode(wisp_crypto::sha256(copy.as_bytes())),
                sha256,
                "data/{name} differs from its original"
            );
        }
    }
}
