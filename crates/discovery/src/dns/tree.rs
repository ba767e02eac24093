//! The publisher's side: a signed tree built from node records and links, written as TXT
//! records or zone-file lines.
//!
//! Layout (as go-ethereum's `dnsdisc.MakeTree`, so both publish the same tree for the same
//! input): records sorted by node address (keccak256 of the public key), links sorted by their
//! text; a subtree of one entry is that entry itself, of up to [`MAX_BRANCH_CHILDREN`] a
//! single branch, and larger sets are cut into runs of that many, each run made a subtree,
//! and those subtrees joined the same way. An empty subtree is the empty branch
//! `enrtree-branch:`. A branch of 13 hashes is 365 bytes: within [`MAX_BRANCH_TEXT`].

use std::{collections::BTreeMap, fmt::Write as _};

use wisp_crypto::SecretKey;

use crate::{
    dns::{
        DnsError,
        entry::{BRANCH_PREFIX, BranchEntry, LinkEntry, RootEntry, check_domain, entry_hash},
    },
    enr::Enr,
};

/// The longest branch entry a publisher writes (go-ethereum's bound: a TXT record well below
/// the 512-byte UDP DNS message).
pub const MAX_BRANCH_TEXT: usize = 370;
/// Hashes per branch: as many 26-character hashes with their commas as fit
/// [`MAX_BRANCH_TEXT`].
pub const MAX_BRANCH_CHILDREN: usize = MAX_BRANCH_TEXT / (26 + 1);
/// The longest character-string in a TXT record (RFC 1035); longer texts are split.
pub const MAX_TXT_STRING: usize = 255;

/// TTLs of a zone file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneTtl {
    /// TTL of the root record, in seconds: how long a resolver may keep a stale root.
    /// Default: 60 (dnsdisc.md's example).
    pub root: u32,
    /// TTL of the hash entries, which never change content. Default: 86 900 (dnsdisc.md).
    pub entries: u32,
}

impl Default for ZoneTtl {
    fn default() -> Self {
        Self { root: 60, entries: 86_900 }
    }
}

/// A signed tree: its root and its entries by hash.
#[derive(Clone, Debug)]
pub struct Tree {
    root: RootEntry,
    /// Hash subdomain -> entry text.
    entries: BTreeMap<String, String>,
    public_key: wisp_crypto::PublicKey,
    enr_count: usize,
    link_count: usize,
}

impl Tree {
    /// Builds and signs a tree with sequence number `seq` over `enrs` and `links`. Two records
    /// of one node are an error; a record given twice is kept once.
    pub fn sign(
        seq: u64,
        enrs: &[Enr],
        links: &[LinkEntry],
        key: &SecretKey,
    ) -> Result<Self, DnsError> {
        let mut by_address: BTreeMap<[u8; 32], &Enr> = BTreeMap::new();
        for enr in enrs {
            if let Some(known) = by_address.insert(enr.node_address(), enr)
                && known != enr
            {
                return Err(DnsError::DuplicateNode {
                    node: wisp_crypto_hex(enr.node_id().as_bytes()),
                });
            }
        }
        let mut link_texts: Vec<String> = links.iter().map(LinkEntry::to_string).collect();
        link_texts.sort();
        link_texts.dedup();

        let mut entries = BTreeMap::new();
        let enr_texts: Vec<String> = by_address.values().map(|e| e.to_text()).collect();
        let enr_root = subtree(enr_texts, &mut entries);
        let link_root = subtree(link_texts.clone(), &mut entries);
        let root = RootEntry::sign(enr_root, link_root, seq, key);
        Ok(Self {
            root,
            entries,
            public_key: key.public_key(),
            enr_count: by_address.len(),
            link_count: link_texts.len(),
        })
    }

    /// The signed root.
    pub fn root(&self) -> &RootEntry {
        &self.root
    }

    /// The entries below the root as `(hash, text)`, sorted by hash.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(h, t)| (h.as_str(), t.as_str()))
    }

    /// How many node records the tree holds.
    pub fn enr_count(&self) -> usize {
        self.enr_count
    }

    /// How many links the tree holds.
    pub fn link_count(&self) -> usize {
        self.link_count
    }

    /// The `enrtree://` URL of this tree published at `domain`.
    pub fn url(&self, domain: &str) -> Result<LinkEntry, DnsError> {
        LinkEntry::new(domain, self.public_key)
    }

    /// The TXT records to publish at `domain`: `(name, text)`, the root at `domain` first,
    /// then `<hash>.<domain>` for every entry.
    pub fn txt_records(&self, domain: &str) -> Vec<(String, String)> {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        let mut out = Vec::with_capacity(self.entries.len() + 1);
        out.push((domain.to_owned(), self.root.to_string()));
        for (hash, text) in &self.entries {
            out.push((format!("{hash}.{domain}"), text.clone()));
        }
        out
    }

    /// Zone-file lines for `domain` (RFC 1035 master file format): an `$ORIGIN` line, the root
    /// at `@` and one line per entry, each text quoted and split into character-strings of at
    /// most 255 bytes. Include it in the zone that serves `domain`, or serve it as the zone
    /// (add the SOA and NS records the server needs).
    pub fn zone_file(&self, domain: &str, ttl: ZoneTtl) -> Result<String, DnsError> {
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        check_domain(domain)?;
        let url = self.url(domain)?;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "; EIP-1459 node list: {} records, {} links, seq {}\n; {url}\n$ORIGIN {domain}.",
            self.enr_count, self.link_count, self.root.seq
        );
        let _ = writeln!(out, "@\t{}\tIN\tTXT\t{}", ttl.root, quoted(&self.root.to_string()));
        for (hash, text) in &self.entries {
            let _ = writeln!(out, "{hash}\t{}\tIN\tTXT\t{}", ttl.entries, quoted(text));
        }
        Ok(out)
    }
}

/// Lowercase hex (kept here so the crate needs no hex dependency).
fn wisp_crypto_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `text` as quoted character-strings of at most [`MAX_TXT_STRING`] bytes. Entry texts are
/// ASCII without quotes or backslashes (base32, base64url, domain names).
fn quoted(text: &str) -> String {
    text.as_bytes()
        .chunks(MAX_TXT_STRING)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Adds the subtree over `texts` to `entries` and returns its root hash.
fn subtree(texts: Vec<String>, entries: &mut BTreeMap<String, String>) -> String {
    let root = build(texts, entries);
    let hash = entry_hash(&root);
    entries.insert(hash.clone(), root);
    hash
}

/// The root text of the subtree over `texts`; every other entry goes into `entries`.
fn build(mut texts: Vec<String>, entries: &mut BTreeMap<String, String>) -> String {
    if texts.len() == 1 {
        return texts.pop().unwrap_or_default();
    }
    if texts.len() <= MAX_BRANCH_CHILDREN {
        let children = texts.iter().map(|t| entry_hash(t)).collect();
        for text in texts {
            entries.insert(entry_hash(&text), text);
        }
        return BranchEntry { children }.to_string();
    }
    let mut subtrees = Vec::with_capacity(texts.len().div_ceil(MAX_BRANCH_CHILDREN));
    let mut rest = texts;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(MAX_BRANCH_CHILDREN));
        let sub = build(rest, entries);
        entries.insert(entry_hash(&sub), sub.clone());
        subtrees.push(sub);
        rest = tail;
    }
    build(subtrees, entries)
}

// The branch prefix is part of the size bound above.
const _: () = assert!(BRANCH_PREFIX.len() + MAX_BRANCH_CHILDREN * 27 - 1 <= MAX_BRANCH_TEXT);
