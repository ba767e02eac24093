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
    use std::path::Path;

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

    /// The copies in `data/` are byte-identical to the originals in `../shared` (beside the
    /// repository, as in CI).
    #[test]
    fn data_copies_match_shared() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
        let pairs = [
            ("specs/eips/bips/bip-0039/english.txt", ENGLISH_TXT),
            ("data/identity/adjectives.txt", ADJECTIVES_TXT),
            ("data/identity/animals.txt", ANIMALS_TXT),
        ];
        for (path, copy) in pairs {
            let original = std::fs::read(shared.join(path))
                .unwrap_or_else(|e| panic!("reading shared/{path}: {e}"));
            assert!(original == copy.as_bytes(), "data copy of {path} differs from shared/");
        }
    }
}
