//! The client: walks node list trees lazily through a [`Resolver`].
//!
//! Rules (dnsdisc.md §Client Protocol):
//! - a tree's root is the `enrtree-root:v1` TXT record at its domain; its signature must be
//!   the URL's key's and its sequence number must not go down (a lower one is reported and
//!   ignored, the known root stays);
//! - every other entry is looked up at `<hash>.<domain>` and must hash to its name;
//! - the ENR subtree holds only branches and records, the link subtree only branches and
//!   links; a link adds the linked tree (up to [`ClientConfig::max_trees`]);
//! - hashes already taken in a walk are not taken again (no loops), and the walk takes
//!   pending hashes in random order (seeded by [`ClientConfig::seed`]); links are walked
//!   before records;
//! - the root is read again every [`ClientConfig::root_recheck`]; when its sequence number
//!   grows the walk starts over from the new root. Entries are content-addressed, so the
//!   cache of entries stays valid and unchanged parts cost no lookups; records already
//!   yielded by that tree are not yielded again.
//!
//! The client does one lookup per step and yields a record as soon as it finds one
//! ([`Client::next_node`]), so it downloads only as much of a tree as its caller asks for.
//! The time is passed in; the client has no clock, timers or tasks of its own.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt,
    time::{Duration, Instant},
};

use crate::{
    dns::{
        DnsError, Resolver,
        entry::{Entry, LinkEntry, ROOT_PREFIX, RootEntry, hash_matches},
    },
    enr::Enr,
};

/// Limits and intervals of a [`Client`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Records yielded in total, over every tree, before the client stops. Default: 1000.
    pub max_nodes: usize,
    /// Trees followed, the ones added and the ones linked. Default: 16.
    pub max_trees: usize,
    /// Entries taken per tree and root (a bound on a hostile tree's size). Default: 10 000.
    pub max_tree_entries: usize,
    /// Entries kept in the cache. Default: 4096.
    pub max_cache_entries: usize,
    /// How often a root is read again. Default: 30 minutes (go-ethereum's recheck interval).
    pub root_recheck: Duration,
    /// How soon a root that could not be read is tried again. Default: 1 minute.
    pub root_retry: Duration,
    /// Seed of the walk order. Default: a fixed value; a node passes a random one.
    pub seed: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_nodes: 1000,
            max_trees: 16,
            max_tree_entries: 10_000,
            max_cache_entries: 4096,
            root_recheck: Duration::from_secs(30 * 60),
            root_retry: Duration::from_secs(60),
            seed: 0x5eed_1459,
        }
    }
}

/// A failure while walking one tree; the walk goes on with the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node list {domain}: {error}")]
pub struct SyncError {
    /// The tree's domain.
    pub domain: String,
    /// What went wrong.
    pub error: DnsError,
}

/// Where the walk of one tree stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeStatus {
    /// The tree's URL.
    pub url: LinkEntry,
    /// The sequence number of the root in use, if one was read.
    pub seq: Option<u64>,
    /// Hashes waiting to be looked up.
    pub pending: usize,
    /// Records yielded from this tree.
    pub nodes: usize,
}

/// The walk of one tree.
#[derive(Debug)]
struct TreeSync {
    url: LinkEntry,
    root: Option<RootEntry>,
    checked_at: Option<Instant>,
    enr_pending: Vec<String>,
    link_pending: Vec<String>,
    /// Hashes taken into the walk of the current root.
    visited: HashSet<String>,
    /// Hashes of the records yielded (over every root).
    yielded: HashSet<String>,
}

impl TreeSync {
    fn new(url: LinkEntry) -> Self {
        Self {
            url,
            root: None,
            checked_at: None,
            enr_pending: Vec::new(),
            link_pending: Vec::new(),
            visited: HashSet::new(),
            yielded: HashSet::new(),
        }
    }

    fn next_check(&self, config: &ClientConfig) -> Option<Instant> {
        let interval = if self.root.is_some() { config.root_recheck } else { config.root_retry };
        self.checked_at.map(|at| at + interval)
    }

    fn root_due(&self, now: Instant, config: &ClientConfig) -> bool {
        self.next_check(config).is_none_or(|at| now >= at)
    }

    fn has_work(&self) -> bool {
        !self.enr_pending.is_empty() || !self.link_pending.is_empty()
    }
}

/// Walks EIP-1459 trees through `R`; see the module docs for the rules.
pub struct Client<R> {
    resolver: R,
    config: ClientConfig,
    trees: Vec<TreeSync>,
    cache: HashMap<String, Entry>,
    cache_order: VecDeque<String>,
    nodes: usize,
    cursor: usize,
    rng: u64,
}

impl<R> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("trees", &self.trees.len())
            .field("cached", &self.cache.len())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl<R: Resolver> Client<R> {
    /// A client with no trees.
    pub fn new(resolver: R, config: ClientConfig) -> Self {
        let rng = config.seed;
        Self {
            resolver,
            config,
            trees: Vec::new(),
            cache: HashMap::new(),
            cache_order: VecDeque::new(),
            nodes: 0,
            cursor: 0,
            rng,
        }
    }

    /// Adds the tree of an `enrtree://<key>@<domain>` URL. Returns false if a tree at that
    /// domain is known already or [`ClientConfig::max_trees`] is reached.
    pub fn add_url(&mut self, url: &str) -> Result<bool, DnsError> {
        Ok(self.add_tree(url.parse()?))
    }

    /// Adds a tree; false if its domain is known already or the tree limit is reached.
    pub fn add_tree(&mut self, url: LinkEntry) -> bool {
        if self.trees.len() >= self.config.max_trees
            || self.trees.iter().any(|t| t.url.domain.eq_ignore_ascii_case(&url.domain))
        {
            return false;
        }
        tracing::debug!(target: "discovery::dns", tree = %url, "added node list");
        self.trees.push(TreeSync::new(url));
        true
    }

    /// The walk of every tree, in the order they were added.
    pub fn trees(&self) -> Vec<TreeStatus> {
        self.trees
            .iter()
            .map(|t| TreeStatus {
                url: t.url.clone(),
                seq: t.root.as_ref().map(|r| r.seq),
                pending: t.enr_pending.len() + t.link_pending.len(),
                nodes: t.yielded.len(),
            })
            .collect()
    }

    /// Records yielded so far.
    pub fn nodes_yielded(&self) -> usize {
        self.nodes
    }

    /// The resolver.
    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    /// When a root is next due to be read (the next time [`Client::next_node`] can find
    /// something new once it returned `None`).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.trees.iter().filter_map(|t| t.next_check(&self.config)).min()
    }

    /// The next record: walks the trees (reading roots that are due at `now`) until it finds
    /// one not yielded before. `None` when every tree is walked (until [`Client::next_wakeup`])
    /// or [`ClientConfig::max_nodes`] records were yielded. An error concerns one tree; the
    /// next call goes on.
    pub async fn next_node(&mut self, now: Instant) -> Option<Result<Enr, SyncError>> {
        loop {
            if self.nodes >= self.config.max_nodes || self.trees.is_empty() {
                return None;
            }
            // The next tree with work, in turn; roots that are due are read on the way.
            let mut found = None;
            for _ in 0..self.trees.len() {
                let i = self.cursor % self.trees.len();
                if self.trees[i].root_due(now, &self.config)
                    && let Err(e) = self.sync_root(i, now).await
                {
                    self.cursor = self.cursor.wrapping_add(1);
                    return Some(Err(e));
                }
                if self.trees[i].has_work() {
                    found = Some(i);
                    break;
                }
                self.cursor = self.cursor.wrapping_add(1);
            }
            let i = found?;
            match self.step(i).await {
                Ok(Some(enr)) => {
                    // Round robin: the next record comes from the next tree.
                    self.cursor = self.cursor.wrapping_add(1);
                    return Some(Ok(enr));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Walks until [`Client::next_node`] returns `None`: every record found and every error.
    pub async fn sync_all(&mut self, now: Instant) -> (Vec<Enr>, Vec<SyncError>) {
        let mut nodes = Vec::new();
        let mut errors = Vec::new();
        while let Some(result) = self.next_node(now).await {
            match result {
                Ok(enr) => nodes.push(enr),
                Err(e) => errors.push(e),
            }
        }
        (nodes, errors)
    }

    /// Reads, checks and (if it is new) adopts the root of tree `i`.
    async fn sync_root(&mut self, i: usize, now: Instant) -> Result<(), SyncError> {
        let tree = &mut self.trees[i];
        tree.checked_at = Some(now);
        let domain = tree.url.domain.clone();
        let key = tree.url.public_key;
        let fail = |error| SyncError { domain: domain.clone(), error };
        let texts = self.resolver.txt(&domain).await.map_err(|e| fail(e.into()))?;
        let text = texts
            .iter()
            .find(|t| t.starts_with(ROOT_PREFIX))
            .ok_or_else(|| fail(DnsError::NoRoot { domain: domain.clone() }))?;
        let root = RootEntry::parse(text).map_err(fail)?;
        if !root.verify(&key) {
            return Err(fail(DnsError::RootSignature { domain: domain.clone() }));
        }
        let tree = &mut self.trees[i];
        match &tree.root {
            Some(known) if root.seq < known.seq => {
                return Err(fail(DnsError::SeqBackwards {
                    domain: domain.clone(),
                    known: known.seq,
                    got: root.seq,
                }));
            }
            Some(known) if *known == root => return Ok(()),
            _ => {}
        }
        tracing::debug!(target: "discovery::dns", %domain, seq = root.seq, "new root");
        tree.visited.clear();
        tree.visited.insert(root.enr_root.clone());
        tree.visited.insert(root.link_root.clone());
        tree.enr_pending = vec![root.enr_root.clone()];
        tree.link_pending = vec![root.link_root.clone()];
        tree.root = Some(root);
        Ok(())
    }

    /// Looks up one pending hash of tree `i` (links first) and handles its entry.
    async fn step(&mut self, i: usize) -> Result<Option<Enr>, SyncError> {
        let pick = next_random(&mut self.rng);
        let tree = &mut self.trees[i];
        let (pending, subtree) = if tree.link_pending.is_empty() {
            (&mut tree.enr_pending, "enr")
        } else {
            (&mut tree.link_pending, "link")
        };
        if pending.is_empty() {
            return Ok(None);
        }
        let hash = pending.swap_remove((pick % pending.len() as u64) as usize);
        let domain = tree.url.domain.clone();
        let name = format!("{hash}.{domain}");
        let fail = |error| SyncError { domain: domain.clone(), error };
        let entry = self.entry(&hash, &name).await.map_err(fail)?;
        let tree = &mut self.trees[i];
        match (entry, subtree) {
            (Entry::Branch(branch), _) => {
                for child in branch.children {
                    if tree.visited.len() >= self.config.max_tree_entries {
                        break;
                    }
                    if tree.visited.insert(child.clone()) {
                        match subtree {
                            "link" => tree.link_pending.push(child),
                            _ => tree.enr_pending.push(child),
                        }
                    }
                }
                Ok(None)
            }
            (Entry::Enr(enr), "enr") => {
                if tree.yielded.insert(hash) {
                    self.nodes += 1;
                    Ok(Some(*enr))
                } else {
                    Ok(None)
                }
            }
            (Entry::Link(link), "link") => {
                self.add_tree(link);
                Ok(None)
            }
            (entry, subtree) => {
                Err(fail(DnsError::WrongSubtree { name, got: entry.kind(), subtree }))
            }
        }
    }

    /// The entry at `name` (`<hash>.<domain>`), from the cache or the resolver: the first TXT
    /// record whose text has the hash.
    async fn entry(&mut self, hash: &str, name: &str) -> Result<Entry, DnsError> {
        if let Some(entry) = self.cache.get(hash) {
            return Ok(entry.clone());
        }
        let texts = self.resolver.txt(name).await?;
        let text = texts
            .iter()
            .find(|t| hash_matches(hash, t))
            .ok_or_else(|| DnsError::HashMismatch { name: name.to_owned() })?;
        let entry = Entry::parse(text)?;
        if self.cache.len() >= self.config.max_cache_entries
            && let Some(old) = self.cache_order.pop_front()
        {
            self.cache.remove(&old);
        }
        if self.config.max_cache_entries > 0 {
            self.cache.insert(hash.to_owned(), entry.clone());
            self.cache_order.push_back(hash.to_owned());
        }
        Ok(entry)
    }
}

/// splitmix64: the walk order only needs to be unpredictable to a tree's publisher, not secret.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
