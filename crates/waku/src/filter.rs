//! Local message filters (9/WAKU-RPC §Filter): a key (symmetric, or a private key for
//! asymmetric envelopes), topics, a minimum PoW, an expected signer, and whether direct P2P
//! deliveries (mailserver history) are accepted.
//!
//! Filters are indexed by topic, so an envelope is only tried with the keys of the filters on
//! its topic (and of filters that take every topic), each distinct key once; every matching
//! filter then gets the message once.

use std::collections::{HashMap, VecDeque};

use wisp_crypto::{PublicKey, SecretKey, Zeroizing, keccak256_concat};

use crate::{envelope::Envelope, payload, topic::Topic};

/// Messages kept per filter until read; older ones are dropped first. Default for
/// [`Filters::new`].
pub const DEFAULT_MAX_QUEUED: usize = 10_000;

/// Identifies an installed filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilterId(pub u64);

/// The key a filter opens envelopes with.
#[derive(Clone)]
pub enum FilterKey {
    /// A 32-byte AES-256-GCM key.
    Symmetric(Zeroizing<[u8; 32]>),
    /// A private key for ECIES envelopes.
    Asymmetric(SecretKey),
}

impl std::fmt::Debug for FilterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Symmetric(_) => write!(f, "Symmetric(..)"),
            Self::Asymmetric(k) => write!(f, "Asymmetric({:?})", k.public_key()),
        }
    }
}

impl FilterKey {
    /// A fingerprint that identifies the key without holding it.
    fn fingerprint(&self) -> [u8; 32] {
        match self {
            Self::Symmetric(k) => keccak256_concat(&[b"sym", &k[..]]),
            Self::Asymmetric(k) => keccak256_concat(&[b"asym", &k.public_key().to_uncompressed()]),
        }
    }
}

/// What a filter matches.
#[derive(Clone, Debug)]
pub struct Filter {
    /// The decryption key.
    pub key: FilterKey,
    /// Topics; empty means every topic (allowed for asymmetric keys, as in 9/WAKU-RPC).
    pub topics: Vec<Topic>,
    /// Minimum PoW of the envelope.
    pub min_pow: f64,
    /// Only messages signed by this key.
    pub signer: Option<PublicKey>,
    /// Accept direct P2P deliveries (from a trusted mailserver).
    pub allow_p2p: bool,
}

/// A decrypted message, as a filter holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedMessage {
    /// The envelope hash.
    pub hash: [u8; 32],
    /// The topic.
    pub topic: Topic,
    /// The TTL.
    pub ttl: u32,
    /// When it was sent (`expiry - ttl`), Unix seconds.
    pub timestamp: u32,
    /// The envelope's PoW.
    pub pow: f64,
    /// The payload.
    pub payload: Vec<u8>,
    /// The padding.
    pub padding: Vec<u8>,
    /// The signer, if signed.
    pub signer: Option<PublicKey>,
    /// Our public key, for asymmetric messages.
    pub recipient: Option<PublicKey>,
    /// Delivered directly by a trusted peer rather than relayed.
    pub p2p: bool,
}

#[derive(Debug)]
struct Installed {
    filter: Filter,
    fingerprint: [u8; 32],
    messages: VecDeque<ReceivedMessage>,
}

/// The installed filters.
#[derive(Debug)]
pub struct Filters {
    installed: HashMap<FilterId, Installed>,
    by_topic: HashMap<Topic, Vec<FilterId>>,
    any_topic: Vec<FilterId>,
    next_id: u64,
    max_queued: usize,
    trials: u64,
}

impl Default for Filters {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_QUEUED)
    }
}

impl Filters {
    /// No filters; each keeps at most `max_queued` unread messages.
    pub fn new(max_queued: usize) -> Self {
        Self {
            installed: HashMap::new(),
            by_topic: HashMap::new(),
            any_topic: Vec::new(),
            next_id: 1,
            max_queued,
            trials: 0,
        }
    }

    /// Installs a filter.
    pub fn install(&mut self, filter: Filter) -> FilterId {
        let id = FilterId(self.next_id);
        self.next_id += 1;
        if filter.topics.is_empty() {
            self.any_topic.push(id);
        } else {
            let mut topics = filter.topics.clone();
            topics.sort();
            topics.dedup();
            for t in topics {
                self.by_topic.entry(t).or_default().push(id);
            }
        }
        let fingerprint = filter.key.fingerprint();
        self.installed.insert(id, Installed { filter, fingerprint, messages: VecDeque::new() });
        id
    }

    /// Removes a filter; `false` if there was none.
    pub fn remove(&mut self, id: FilterId) -> bool {
        let Some(inst) = self.installed.remove(&id) else { return false };
        if inst.filter.topics.is_empty() {
            self.any_topic.retain(|f| *f != id);
        } else {
            for t in &inst.filter.topics {
                if let Some(v) = self.by_topic.get_mut(t) {
                    v.retain(|f| *f != id);
                    if v.is_empty() {
                        self.by_topic.remove(t);
                    }
                }
            }
        }
        true
    }

    /// A filter's criteria.
    pub fn get(&self, id: FilterId) -> Option<&Filter> {
        self.installed.get(&id).map(|i| &i.filter)
    }

    /// How many filters are installed.
    pub fn len(&self) -> usize {
        self.installed.len()
    }

    /// Whether no filter is installed.
    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }

    /// Decryption attempts made so far (for metrics and benchmarks).
    pub fn trials(&self) -> u64 {
        self.trials
    }

    /// Takes the messages a filter has received since the last call.
    pub fn take_messages(&mut self, id: FilterId) -> Option<Vec<ReceivedMessage>> {
        self.installed.get_mut(&id).map(|i| i.messages.drain(..).collect())
    }

    /// The topics some filter listens on (for a light node's topic interest or bloom).
    pub fn topics(&self) -> Vec<Topic> {
        let mut t: Vec<Topic> = self.by_topic.keys().copied().collect();
        t.sort();
        t
    }

    /// Tries an envelope against the filters on its topic; returns the filters it reached.
    pub fn dispatch(
        &mut self,
        env: &Envelope,
        hash: &[u8; 32],
        pow: f64,
        p2p: bool,
    ) -> Vec<FilterId> {
        let candidates: Vec<FilterId> = self
            .by_topic
            .get(&env.topic)
            .into_iter()
            .flatten()
            .chain(self.any_topic.iter())
            .copied()
            .collect();
        if candidates.is_empty() {
            return Vec::new();
        }
        // Each distinct key is tried once per envelope.
        let mut opened: HashMap<[u8; 32], Option<payload::OpenedMessage>> =
            HashMap::with_capacity(candidates.len());
        let mut matched = Vec::new();
        for id in candidates {
            let Some(inst) = self.installed.get(&id) else { continue };
            let f = &inst.filter;
            if (p2p && !f.allow_p2p) || pow < f.min_pow {
                continue;
            }
            let result = opened.entry(inst.fingerprint).or_insert_with(|| {
                self.trials += 1;
                open(&f.key, &env.data)
            });
            let Some(msg) = result else { continue };
            if f.signer.is_some() && f.signer != msg.signer {
                continue;
            }
            let recipient = match &f.key {
                FilterKey::Asymmetric(k) => Some(k.public_key()),
                FilterKey::Symmetric(_) => None,
            };
            let received = ReceivedMessage {
                hash: *hash,
                topic: env.topic,
                ttl: env.ttl,
                timestamp: env.sent(),
                pow,
                payload: msg.payload.to_vec(),
                padding: msg.padding.to_vec(),
                signer: msg.signer,
                recipient,
                p2p,
            };
            let max = self.max_queued;
            if let Some(inst) = self.installed.get_mut(&id) {
                if inst.messages.len() >= max {
                    inst.messages.pop_front();
                }
                inst.messages.push_back(received);
                matched.push(id);
            }
        }
        matched
    }
}

fn open(key: &FilterKey, data: &[u8]) -> Option<payload::OpenedMessage> {
    let key = match key {
        FilterKey::Symmetric(k) => payload::OpeningKey::Symmetric(k),
        FilterKey::Asymmetric(k) => payload::OpeningKey::Asymmetric(k),
    };
    payload::open_payload(data, key).ok()
}
