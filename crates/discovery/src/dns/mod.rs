//! EIP-1459 DNS node lists: signed merkle trees of node records in DNS TXT records.
//!
//! Spec: `eips/eip-1459.md` and `devp2p/dnsdisc.md`. A list is named by a URL
//! `enrtree://<base32 key>@<domain>`; its root TXT record at `<domain>` is signed by that key
//! and names the roots of two subtrees by hash, one of node records and one of links to other
//! lists. Every other entry lives at `<hash>.<domain>`, so the root's signature covers the
//! whole tree.
//!
//! - [`entry`]: the four entry types, their hashes and parsing with typed errors.
//! - [`Client`]: walks trees lazily through a [`Resolver`] (one TXT lookup per step), checks
//!   every hash and the root's signature, follows links, re-reads the root every
//!   [`ClientConfig::root_recheck`] and starts over when its sequence number grows, caches
//!   entries, and stops at [`ClientConfig::max_nodes`] records. It is driven by its caller with
//!   the time passed in; it has no clock and no timers of its own.
//! - [`Tree`]: the publisher's side: signs a tree from node records and links and writes it
//!   as TXT records or zone-file lines.
//! - [`MemoryResolver`] and `HickoryResolver` (feature `hickory`, on by default): the resolver
//!   in memory (tests, fixtures) and over DNS (hickory-resolver, optionally pointed at one
//!   server).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::{net::Ipv4Addr, time::Instant};
//! use wisp_crypto::SecretKey;
//! use wisp_discovery::{dns::{Client, ClientConfig, MemoryResolver, Tree}, enr::EnrBuilder};
//!
//! let list_key = SecretKey::random();
//! let node = EnrBuilder::new(1).ip4(Ipv4Addr::LOCALHOST).tcp(30303).sign(&SecretKey::random()).unwrap();
//! let tree = Tree::sign(1, &[node.clone()], &[], &list_key).unwrap();
//!
//! let resolver = MemoryResolver::from_records(tree.txt_records("nodes.example.org"));
//! let mut client = Client::new(resolver, ClientConfig::default());
//! client.add_url(&tree.url("nodes.example.org").unwrap().to_string()).unwrap();
//! let found = client.next_node(Instant::now()).await.unwrap().unwrap();
//! assert_eq!(found, node);
//! # });
//! ```

pub mod entry;

mod client;
#[cfg(feature = "hickory")]
mod hickory;
mod resolver;
mod tree;

pub use client::{Client, ClientConfig, SyncError, TreeStatus};
pub use entry::{BranchEntry, Entry, LinkEntry, RootEntry};
#[cfg(feature = "hickory")]
pub use hickory::HickoryResolver;
pub use resolver::{MemoryResolver, ResolveError, Resolver};
pub use tree::{MAX_BRANCH_CHILDREN, MAX_BRANCH_TEXT, MAX_TXT_STRING, Tree, ZoneTtl};

use crate::enr::EnrError;

// A dev-dependency of the integration tests and doc tests, linked into the unit tests too.
#[cfg(test)]
use tokio as _;

/// What is wrong with an entry, a tree, or a lookup during a walk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// An entry's text is longer than [`entry::MAX_ENTRY_LEN`].
    #[error("tree entry of {len} bytes is longer than the {max}-byte limit")]
    EntryTooLong {
        /// The text's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text starts with none of the four entry prefixes.
    #[error(
        "unknown tree entry {text:?} (expected enrtree-root:v1, enrtree-branch:, enrtree:// or enr:)"
    )]
    UnknownEntry {
        /// The start of the text.
        text: String,
    },
    /// The root entry is malformed.
    #[error("malformed enrtree-root entry: {reason}")]
    BadRoot {
        /// What is wrong.
        reason: &'static str,
    },
    /// The root's signature has the wrong length.
    #[error("enrtree-root signature is {0} bytes (expected 65)")]
    RootSignatureLength(usize),
    /// A hash is not base32 of 12 to 32 bytes.
    #[error("invalid entry hash {hash:?} (expected base32 of 12 to 32 bytes, e.g. 26 characters)")]
    BadHash {
        /// The hash as written.
        hash: String,
    },
    /// A link entry or enrtree URL is malformed.
    #[error("malformed enrtree link: {reason}")]
    BadLink {
        /// What is wrong.
        reason: &'static str,
    },
    /// A domain name is not one.
    #[error(
        "invalid domain name {domain:?} (expected labels of letters, digits, '-' or '_' separated by dots)"
    )]
    BadDomain {
        /// The name as written.
        domain: String,
    },
    /// A node record entry does not decode or verify.
    #[error("node record entry: {0}")]
    Enr(#[from] EnrError),
    /// The lookup failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The domain has no `enrtree-root:v1` TXT record.
    #[error("no enrtree-root:v1 TXT record at {domain}")]
    NoRoot {
        /// The list's domain.
        domain: String,
    },
    /// The root was not signed by the list's key.
    #[error("the enrtree-root at {domain} is not signed by the key of its enrtree URL")]
    RootSignature {
        /// The list's domain.
        domain: String,
    },
    /// The root's sequence number went down.
    #[error("the enrtree-root at {domain} went back from seq {known} to seq {got}; ignored")]
    SeqBackwards {
        /// The list's domain.
        domain: String,
        /// The sequence number seen before.
        known: u64,
        /// The sequence number now published.
        got: u64,
    },
    /// No TXT record at a hash subdomain has that hash.
    #[error("no TXT record at {name} matches its hash")]
    HashMismatch {
        /// The name looked up.
        name: String,
    },
    /// An entry of the wrong kind for its subtree (a link among records, a root below the top).
    #[error("{name} holds a {got} entry, which cannot appear in the {subtree} subtree")]
    WrongSubtree {
        /// The name looked up.
        name: String,
        /// The kind of entry found.
        got: &'static str,
        /// "enr" or "link".
        subtree: &'static str,
    },
    /// Two records for one node given to the publisher.
    #[error("two node records for node {node}; give each node once")]
    DuplicateNode {
        /// The node id, hex.
        node: String,
    },
}
