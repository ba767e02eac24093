//! [`MemoryStore`]: the archive in memory, for tests and experiments (lost on exit).
//!
//! Two ordered indexes, as the SQL backends have: envelopes by (sent, hash) and keys by
//! (topic, sent, hash), so a topic query walks only its topics and stops after `limit + 1`.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Bound,
    sync::{Arc, RwLock},
};

use wisp_waku::Topic;

use crate::store::{
    ArchivedEnvelope, BloomScan, Hit, MAX_DELETE_BATCH, Page, Query, Range, Selection, Store,
    StoreError, bloom_page, page_of,
};

/// (sent, hash): the archive's order.
type Key = (u32, [u8; 32]);

#[derive(Debug, Default)]
struct Archive {
    by_key: BTreeMap<Key, (Topic, Vec<u8>)>,
    by_topic: BTreeSet<(Topic, u32, [u8; 32])>,
}

/// An archive in memory. Cheap to clone: clones share the archive.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<RwLock<Archive>>,
}

impl MemoryStore {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Archive> {
        // A panic elsewhere cannot leave the maps half-updated in a way that matters here.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Archive> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The key range `(sent, hash) > range.after`, `sent <= range.to`.
fn key_bounds(range: &Range) -> (Bound<Key>, Bound<Key>) {
    let lower = match range.after_hash {
        Some(h) => Bound::Excluded((range.after_sent, h)),
        None => Bound::Included((range.after_sent, [0; 32])),
    };
    (lower, Bound::Included((range.to, [0xff; 32])))
}

impl Archive {
    fn hit(&self, key: &Key) -> Option<Hit> {
        self.by_key.get(key).map(|(topic, rlp)| Hit {
            sent: key.0,
            hash: key.1,
            topic: *topic,
            rlp: rlp.clone(),
        })
    }

    fn query(&self, query: &Query) -> Page {
        let (Some(range), Some(selection)) = (Range::of(query), Selection::of(query)) else {
            return Page::default();
        };
        let limit = query.effective_limit();
        match selection {
            Selection::All => {
                let hits = self
                    .by_key
                    .range(key_bounds(&range))
                    .take(limit + 1)
                    .map(|(k, (topic, rlp))| Hit {
                        sent: k.0,
                        hash: k.1,
                        topic: *topic,
                        rlp: rlp.clone(),
                    })
                    .collect();
                page_of(hits, limit)
            }
            Selection::Topics(topics) => {
                // A k-way merge of the topics' ordered key ranges, lazily: at most limit + 1
                // steps.
                let mut iters: Vec<_> = topics
                    .iter()
                    .map(|t| {
                        let (lo, hi) = key_bounds(&range);
                        let lo = match lo {
                            Bound::Excluded((s, h)) => Bound::Excluded((*t, s, h)),
                            Bound::Included((s, h)) => Bound::Included((*t, s, h)),
                            Bound::Unbounded => Bound::Unbounded,
                        };
                        let hi = match hi {
                            Bound::Included((s, h)) => Bound::Included((*t, s, h)),
                            _ => Bound::Unbounded,
                        };
                        self.by_topic.range((lo, hi)).peekable()
                    })
                    .collect();
                let mut hits = Vec::new();
                while hits.len() <= limit {
                    let best = iters
                        .iter_mut()
                        .enumerate()
                        .filter_map(|(i, it)| it.peek().map(|k| ((k.1, k.2), i)))
                        .min();
                    let Some((key, i)) = best else { break };
                    iters[i].next();
                    hits.extend(self.hit(&key));
                }
                page_of(hits, limit)
            }
            Selection::Bloom(bloom) => {
                let mut scan = BloomScan::new(bloom, limit, range);
                while let Some((range, n)) = scan.next_chunk() {
                    let rows = self
                        .by_key
                        .range(key_bounds(&range))
                        .take(n)
                        .map(|(k, (topic, _))| Hit {
                            sent: k.0,
                            hash: k.1,
                            topic: *topic,
                            rlp: Vec::new(),
                        })
                        .collect();
                    scan.feed(rows, n);
                }
                let (matched, capped) = scan.finish();
                let matched = matched.iter().filter_map(|h| self.hit(&h.key())).collect();
                bloom_page(matched, capped, limit)
            }
        }
    }
}

impl Store for MemoryStore {
    async fn put(&self, envelopes: &[ArchivedEnvelope]) -> Result<usize, StoreError> {
        let mut archive = self.write();
        let mut new = 0;
        for e in envelopes {
            if let std::collections::btree_map::Entry::Vacant(v) =
                archive.by_key.entry((e.sent, e.hash))
            {
                v.insert((e.topic, e.rlp.clone()));
                archive.by_topic.insert((e.topic, e.sent, e.hash));
                new += 1;
            }
        }
        Ok(new)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        Ok(self.read().query(query))
    }

    async fn delete_before(&self, before: u32, batch: u32) -> Result<u64, StoreError> {
        let mut archive = self.write();
        let keys: Vec<_> = archive
            .by_key
            .range(..(before, [0; 32]))
            .take(batch.min(MAX_DELETE_BATCH) as usize)
            .map(|(k, (topic, _))| (*k, *topic))
            .collect();
        for (key, topic) in &keys {
            archive.by_key.remove(key);
            archive.by_topic.remove(&(*topic, key.0, key.1));
        }
        Ok(keys.len() as u64)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.read().by_key.len() as u64)
    }
}
