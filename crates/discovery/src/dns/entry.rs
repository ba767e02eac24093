//! The TXT entries of a node list tree and their hashes.
//!
//! Spec: `devp2p/dnsdisc.md` §DNS Record Structure. Four entry types:
//!
//! - `enrtree-root:v1 e=<enr-root> l=<link-root> seq=<n> sig=<base64url 65 bytes>` at the
//!   list's domain, signed by the list's key over keccak256 of the text before ` sig=`;
//! - `enrtree-branch:<hash>,<hash>,...` (possibly empty);
//! - `enrtree://<base32 compressed key>@<domain>`, a link to another list;
//! - `enr:<base64url>`, a node record ([`Enr`]).
//!
//! Every entry but the root lives at `<hash>.<domain>`, where the hash is the base32 (RFC
//! 4648, no padding) of the first 16 bytes of keccak256 of the entry's text. Parsing is
//! strict about forms and bounded by [`MAX_ENTRY_LEN`]; every failure is a [`DnsError`].

use std::{fmt, str::FromStr};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use wisp_crypto::{PublicKey, SecretKey, keccak256};

use crate::{
    dns::DnsError,
    enr::{Enr, verify_v4},
};

/// Prefix of a root entry (with its version).
pub const ROOT_PREFIX: &str = "enrtree-root:v1";
/// Prefix of a branch entry.
pub const BRANCH_PREFIX: &str = "enrtree-branch:";
/// Prefix of a link entry (the `enrtree` URL scheme).
pub const LINK_PREFIX: &str = "enrtree://";
/// Prefix of a node record entry (the ENR text form).
pub const ENR_PREFIX: &str = "enr:";
/// Bytes of keccak256 kept in a published entry hash (go-ethereum's abbreviation).
pub const HASH_ABBREV_LEN: usize = 16;
/// The shortest hash accepted when reading a tree, in bytes (go-ethereum's minimum).
pub const MIN_HASH_LEN: usize = 12;
/// The length of a root signature: `r || s || v`.
pub const ROOT_SIGNATURE_LEN: usize = 65;
/// The longest entry text accepted. A published entry stays below the 512-byte UDP DNS
/// message (dnsdisc.md); this bound leaves room for other publishers and keeps a hostile
/// server from making us parse megabytes.
pub const MAX_ENTRY_LEN: usize = 4096;
/// The longest domain name (RFC 1035: 253 characters in text form).
pub const MAX_DOMAIN_LEN: usize = 253;

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u16;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32_ALPHABET[usize::from((buffer >> bits) & 31)]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32_ALPHABET[usize::from((buffer << (5 - bits)) & 31)]));
    }
    out
}

/// Decodes RFC 4648 base32 without padding (upper-case alphabet). Lengths that no byte
/// string encodes to (1, 3 or 6 characters modulo 8) are rejected; leftover bits are ignored,
/// as Go's decoder does.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer = 0u16;
    let mut bits = 0u32;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u16::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The subdomain of an entry: base32 of the first 16 bytes of keccak256 of its text.
pub fn entry_hash(text: &str) -> String {
    let hash = keccak256(text.as_bytes());
    base32_encode(&hash[..HASH_ABBREV_LEN])
}

/// Whether `text` is the (possibly abbreviated) hash of `content`: `hash` decodes to 12..=32
/// bytes that start keccak256 of the content.
pub fn hash_matches(hash: &str, content: &str) -> bool {
    decode_hash(hash).is_some_and(|h| keccak256(content.as_bytes()).starts_with(&h))
}

fn decode_hash(hash: &str) -> Option<Vec<u8>> {
    base32_decode(hash).filter(|h| (MIN_HASH_LEN..=32).contains(&h.len()))
}

fn check_hash(hash: &str) -> Result<(), DnsError> {
    match decode_hash(hash) {
        Some(_) => Ok(()),
        None => Err(DnsError::BadHash { hash: truncated(hash) }),
    }
}

/// At most 64 characters of untrusted text, for error messages.
pub(crate) fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// One TXT entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The signed root, at the list's domain.
    Root(RootEntry),
    /// An inner node of a subtree.
    Branch(BranchEntry),
    /// A link to another list (only in the link subtree).
    Link(LinkEntry),
    /// A node record (only in the ENR subtree).
    Enr(Box<Enr>),
}

impl Entry {
    /// Parses one TXT record's text (the record's strings joined).
    pub fn parse(text: &str) -> Result<Self, DnsError> {
        if text.len() > MAX_ENTRY_LEN {
            return Err(DnsError::EntryTooLong { len: text.len(), max: MAX_ENTRY_LEN });
        }
        if text.starts_with(ROOT_PREFIX) {
            RootEntry::parse(text).map(Entry::Root)
        } else if text.starts_with(BRANCH_PREFIX) {
            BranchEntry::parse(text).map(Entry::Branch)
        } else if text.starts_with(LINK_PREFIX) {
            LinkEntry::parse(text).map(Entry::Link)
        } else if text.starts_with(ENR_PREFIX) {
            Ok(Entry::Enr(Box::new(text.parse()?)))
        } else {
            Err(DnsError::UnknownEntry { text: truncated(text) })
        }
    }

    /// The entry's text, as published.
    pub fn to_text(&self) -> String {
        match self {
            Entry::Root(e) => e.to_string(),
            Entry::Branch(e) => e.to_string(),
            Entry::Link(e) => e.to_string(),
            Entry::Enr(e) => e.to_text(),
        }
    }

    /// What kind of entry this is, for messages: "root", "branch", "link" or "enr".
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Root(_) => "root",
            Entry::Branch(_) => "branch",
            Entry::Link(_) => "link",
            Entry::Enr(_) => "enr",
        }
    }
}

/// The signed root of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootEntry {
    /// Hash of the root of the ENR subtree.
    pub enr_root: String,
    /// Hash of the root of the link subtree.
    pub link_root: String,
    /// The tree's sequence number (increases with every update).
    pub seq: u64,
    /// `r || s || v` over keccak256 of [`RootEntry::signed_text`].
    pub signature: [u8; ROOT_SIGNATURE_LEN],
}

impl RootEntry {
    /// A root signed by `key`.
    pub fn sign(enr_root: String, link_root: String, seq: u64, key: &SecretKey) -> Self {
        let mut root = Self { enr_root, link_root, seq, signature: [0; ROOT_SIGNATURE_LEN] };
        root.signature = key.sign_prehash(&keccak256(root.signed_text().as_bytes())).to_bytes();
        root
    }

    /// Parses `enrtree-root:v1 e=<hash> l=<hash> seq=<n> sig=<base64url>`; fields are
    /// separated by whitespace and must come in this order.
    pub fn parse(text: &str) -> Result<Self, DnsError> {
        let bad = |reason: &'static str| DnsError::BadRoot { reason };
        let mut fields = text.split_ascii_whitespace();
        if fields.next() != Some(ROOT_PREFIX) {
            return Err(bad("it must start with \"enrtree-root:v1 \""));
        }
        let mut field = |name: &'static str, reason: &'static str| {
            fields.next().and_then(|f| f.strip_prefix(name)).ok_or(bad(reason))
        };
        let enr_root = field("e=", "expected e=<hash> after the prefix")?;
        let link_root = field("l=", "expected l=<hash> after e=")?;
        let seq = field("seq=", "expected seq=<number> after l=")?;
        let sig = field("sig=", "expected sig=<base64url signature> after seq=")?;
        if fields.next().is_some() {
            return Err(bad("unexpected text after sig="));
        }
        check_hash(enr_root)?;
        check_hash(link_root)?;
        let seq = seq.parse().map_err(|_| bad("seq must be a decimal number below 2^64"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| bad("sig must be base64url without padding"))?;
        let signature =
            sig.as_slice().try_into().map_err(|_| DnsError::RootSignatureLength(sig.len()))?;
        Ok(Self { enr_root: enr_root.to_owned(), link_root: link_root.to_owned(), seq, signature })
    }

    /// The signed part: the text without ` sig=...`.
    pub fn signed_text(&self) -> String {
        format!("{ROOT_PREFIX} e={} l={} seq={}", self.enr_root, self.link_root, self.seq)
    }

    /// Whether the signature was made by `key` (go-ethereum checks `r || s` only; so does this).
    pub fn verify(&self, key: &PublicKey) -> bool {
        let hash = keccak256(self.signed_text().as_bytes());
        verify_v4(&self.signature[..64], &hash, key)
    }
}

impl fmt::Display for RootEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sig={}", self.signed_text(), URL_SAFE_NO_PAD.encode(self.signature))
    }
}

/// An inner node: the hashes of its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BranchEntry {
    /// The children's hashes, in published order.
    pub children: Vec<String>,
}

impl BranchEntry {
    /// Parses `enrtree-branch:<hash>,<hash>,...`; an empty list is allowed.
    pub fn parse(text: &str) -> Result<Self, DnsError> {
        let list = text
            .strip_prefix(BRANCH_PREFIX)
            .ok_or(DnsError::UnknownEntry { text: truncated(text) })?;
        if list.is_empty() {
            return Ok(Self::default());
        }
        let children: Vec<String> = list.split(',').map(str::to_owned).collect();
        for child in &children {
            check_hash(child)?;
        }
        Ok(Self { children })
    }
}

impl fmt::Display for BranchEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BRANCH_PREFIX}{}", self.children.join(","))
    }
}

/// A link to a list: `enrtree://<base32 compressed key>@<domain>`. This is also the URL form
/// a client is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEntry {
    /// The list's domain, without a trailing dot.
    pub domain: String,
    /// The key that signs the list's root.
    pub public_key: PublicKey,
}

impl LinkEntry {
    /// A link to the list at `domain` signed by `public_key`; the domain is checked.
    pub fn new(domain: &str, public_key: PublicKey) -> Result<Self, DnsError> {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        check_domain(domain)?;
        Ok(Self { domain: domain.to_owned(), public_key })
    }

    /// Parses `enrtree://<key>@<domain>`.
    pub fn parse(text: &str) -> Result<Self, DnsError> {
        if text.len() > MAX_ENTRY_LEN {
            return Err(DnsError::EntryTooLong { len: text.len(), max: MAX_ENTRY_LEN });
        }
        let rest = text
            .strip_prefix(LINK_PREFIX)
            .ok_or(DnsError::BadLink { reason: "it must start with \"enrtree://\"" })?;
        let (key, domain) = rest
            .split_once('@')
            .ok_or(DnsError::BadLink { reason: "expected <key>@<domain> after \"enrtree://\"" })?;
        let key = base32_decode(key)
            .filter(|k| k.len() == 33)
            .and_then(|k| PublicKey::from_sec1(&k).ok())
            .ok_or(DnsError::BadLink {
                reason: "the key must be the base32 of a 33-byte compressed secp256k1 public key",
            })?;
        Self::new(domain, key)
    }
}

impl FromStr for LinkEntry {
    type Err = DnsError;
    fn from_str(s: &str) -> Result<Self, DnsError> {
        Self::parse(s)
    }
}

impl fmt::Display for LinkEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LINK_PREFIX}{}@{}",
            base32_encode(&self.public_key.to_compressed()),
            self.domain
        )
    }
}

/// Checks a domain name: 1..=253 characters, dot-separated labels of 1..=63 letters, digits,
/// `-` or `_`.
pub(crate) fn check_domain(domain: &str) -> Result<(), DnsError> {
    let bad = || DnsError::BadDomain { domain: truncated(domain) };
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN {
        return Err(bad());
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !domain.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// dnsdisc.md §URL Scheme: the example URL round-trips. Its base32 key is *not* the
    /// uncompressed key the text names next to it (0x049f88…, which signs the example tree:
    /// `tests/dns_memory.rs`); the spec's two values disagree, and the URL decodes to this.
    #[test]
    fn dnsdisc_url_example_key() {
        let link: LinkEntry =
            "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org"
                .parse()
                .unwrap();
        assert_eq!(link.domain, "nodes.example.org");
        assert_eq!(
            hex::encode(link.public_key.to_uncompressed()),
            "043a514176466fa815ed481ffad09110a2d344f6c9b78c1d14afc351c3a51be33d8072e77939dc03ba44790779b7a1025baf3003f6732430e20cd9b76d953391b3"
        );
        assert_eq!(
            link.to_string(),
            "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org"
        );
    }

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6"), None);
        assert_eq!(base32_decode("MZXW6==="), None);
        assert_eq!(base32_decode("M"), None);
    }

    #[test]
    fn root_parse_errors() {
        let ok = "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA";
        let root = RootEntry::parse(ok).unwrap();
        assert_eq!(root.seq, 1);
        assert_eq!(root.to_string(), ok);
        assert!(matches!(
            RootEntry::parse(&ok.replace("seq=1", "seq=x")),
            Err(DnsError::BadRoot { .. })
        ));
        assert!(matches!(
            RootEntry::parse(&ok.replace(" l=", " x=")),
            Err(DnsError::BadRoot { .. })
        ));
        assert!(matches!(RootEntry::parse(&format!("{ok} extra")), Err(DnsError::BadRoot { .. })));
        assert!(matches!(
            RootEntry::parse(&ok.replace("e=JWXY", "e=jwxy")),
            Err(DnsError::BadHash { .. })
        ));
        assert!(matches!(
            RootEntry::parse(&ok.replace("sig=o908", "sig=")),
            Err(DnsError::RootSignatureLength(62))
        ));
        assert!(matches!(
            RootEntry::parse(&ok.replace("sig=o908", "sig=+/")),
            Err(DnsError::BadRoot { .. })
        ));
    }

    #[test]
    fn sign_and_verify_root() {
        let key = SecretKey::from_bytes(&[3; 32]).unwrap();
        let root = RootEntry::sign(entry_hash("a"), entry_hash("b"), 7, &key);
        assert!(root.verify(&key.public_key()));
        let parsed = RootEntry::parse(&root.to_string()).unwrap();
        assert_eq!(parsed, root);
        let other = SecretKey::from_bytes(&[4; 32]).unwrap();
        assert!(!root.verify(&other.public_key()));
        let mut bumped = root.clone();
        bumped.seq = 8;
        assert!(!bumped.verify(&key.public_key()));
    }

    #[test]
    fn entry_kinds_and_errors() {
        assert_eq!(Entry::parse("enrtree-branch:").unwrap(), Entry::Branch(BranchEntry::default()));
        let branch =
            Entry::parse("enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY")
                .unwrap();
        assert_eq!(branch.kind(), "branch");
        assert!(matches!(Entry::parse("enrtree-branch:A,B"), Err(DnsError::BadHash { .. })));
        assert!(matches!(Entry::parse("v=spf1 -all"), Err(DnsError::UnknownEntry { .. })));
        assert!(matches!(Entry::parse("enr:AAAA"), Err(DnsError::Enr(_))));
        assert!(matches!(
            Entry::parse(&"x".repeat(MAX_ENTRY_LEN + 1)),
            Err(DnsError::EntryTooLong { .. })
        ));
        assert!(matches!(Entry::parse("enrtree://AAAA@x.org"), Err(DnsError::BadLink { .. })));
        assert!(matches!(
            Entry::parse(
                "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@bad domain"
            ),
            Err(DnsError::BadDomain { .. })
        ));
        assert!(matches!(
            Entry::parse("enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2"),
            Err(DnsError::BadLink { .. })
        ));
    }

    #[test]
    fn hashes() {
        let h = entry_hash("enrtree-branch:");
        assert_eq!(h.len(), 26);
        assert!(hash_matches(&h, "enrtree-branch:"));
        assert!(!hash_matches(&h, "enrtree-branch:x"));
        // A 12-byte prefix matches too; shorter is not a hash.
        let full = keccak256(b"x");
        assert!(hash_matches(&base32_encode(&full[..12]), "x"));
        assert!(!hash_matches(&base32_encode(&full[..10]), "x"));
    }

    proptest! {
        #[test]
        fn base32_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,300}") {
            let _ = Entry::parse(&text);
        }

        #[test]
        fn parse_prefixed_never_panics(
            prefix in prop::sample::select(vec![ROOT_PREFIX, BRANCH_PREFIX, LINK_PREFIX, ENR_PREFIX]),
            rest in "[ -~]{0,200}",
        ) {
            let _ = Entry::parse(&format!("{prefix}{rest}"));
        }
    }
}
