//! The envelope pool: what the router holds and relays, capped by count and bytes.
//!
//! Rules (issue 11; EIP-627 §"Proof of Work": a full node keeps the envelopes of highest PoW
//! per byte when it must choose):
//! - the pool holds at most [`PoolLimits::max_envelopes`] envelopes and
//!   [`PoolLimits::max_bytes`] bytes of encoded envelopes;
//! - one peer's envelopes take at most [`PoolLimits::peer_share`] of each cap (local posts are
//!   not charged to a peer);
//! - when a new envelope does not fit, the envelopes of lowest PoW per byte make room for it
//!   (its sender's own first when it is over its share), but only if they rank strictly
//!   below it; otherwise the new envelope is refused and nothing is evicted;
//! - the hash of an evicted envelope is remembered until it expires (at most `max_envelopes`
//!   of them), so that the envelope sent again is a duplicate, not a new arrival that would
//!   be relayed around again;
//! - the maps are shrunk when they hold far less than their capacity (after a burst).

use std::collections::{BTreeSet, HashMap};

use crate::{envelope::Envelope, router::Capability, router::PeerId};

/// Default most envelopes in the pool.
pub const DEFAULT_POOL_MAX_ENVELOPES: usize = 100_000;
/// Default most bytes of encoded envelopes in the pool (64 MiB).
pub const DEFAULT_POOL_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default share of each pool cap one peer's envelopes may take.
pub const DEFAULT_POOL_PEER_SHARE: f64 = 0.25;
/// Maps with fewer free slots than this are never shrunk (shrinking costs a rehash).
const SHRINK_SLACK: usize = 4096;

/// The caps of the pool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolLimits {
    /// Most envelopes held. Default: 100 000.
    pub max_envelopes: usize,
    /// Most bytes of encoded envelopes held. Default: 64 MiB.
    pub max_bytes: usize,
    /// The share (0 to 1) of each cap one peer's envelopes may take. Default: 0.25.
    pub peer_share: f64,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self {
            max_envelopes: DEFAULT_POOL_MAX_ENVELOPES,
            max_bytes: DEFAULT_POOL_MAX_BYTES,
            peer_share: DEFAULT_POOL_PEER_SHARE,
        }
    }
}

impl PoolLimits {
    /// The most envelopes and bytes one peer may hold: at least one envelope of any size.
    fn share(&self) -> (usize, usize) {
        let share = self.peer_share.clamp(0.0, 1.0);
        let count = ((self.max_envelopes as f64 * share) as usize).max(1);
        let bytes = ((self.max_bytes as f64 * share) as usize).max(1);
        (count, bytes)
    }
}

/// An envelope of the pool with what the router knows of it.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) envelope: Envelope,
    pub(crate) pow: f64,
    pub(crate) from: Option<PeerId>,
    pub(crate) from_capability: Option<Capability>,
    size: usize,
    rank: u64,
}

impl Stored {
    pub(crate) fn new(
        envelope: Envelope,
        pow: f64,
        from: Option<PeerId>,
        from_capability: Option<Capability>,
    ) -> Self {
        let size = envelope.encoded_len();
        Self { envelope, pow, from, from_capability, size, rank: rank(pow, size) }
    }
}

/// PoW per byte as a key that sorts like the number: the bits of a non-negative finite `f64`
/// order as the value does.
fn rank(pow: f64, size: usize) -> u64 {
    let per_byte = pow / size.max(1) as f64;
    if per_byte.is_finite() && per_byte >= 0.0 { per_byte.to_bits() } else { 0 }
}

type Hash = [u8; 32];

/// What one peer's envelopes take.
#[derive(Debug, Default)]
struct Usage {
    count: usize,
    bytes: usize,
    by_rank: BTreeSet<(u64, Hash)>,
}

/// Why an envelope was not pooled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Full;

/// The pool. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    limits: PoolLimits,
    entries: HashMap<Hash, Stored>,
    by_expiry: BTreeSet<(u32, Hash)>,
    by_rank: BTreeSet<(u64, Hash)>,
    usage: HashMap<PeerId, Usage>,
    bytes: usize,
    /// Hashes of evicted envelopes, until they expire.
    evicted: HashMap<Hash, u32>,
    evicted_by_expiry: BTreeSet<(u32, Hash)>,
}

impl Pool {
    pub(crate) fn new(limits: PoolLimits) -> Self {
        Self { limits, ..Default::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn get(&self, hash: &Hash) -> Option<&Stored> {
        self.entries.get(hash)
    }

    pub(crate) fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// In the pool, or evicted from it and not expired yet.
    pub(crate) fn seen(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash) || self.evicted.contains_key(hash)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Hash, &Stored)> {
        self.entries.iter()
    }

    /// How many envelopes and bytes a peer's envelopes take.
    pub(crate) fn usage(&self, peer: PeerId) -> (usize, usize) {
        self.usage.get(&peer).map_or((0, 0), |u| (u.count, u.bytes))
    }

    /// Pools an envelope, evicting lower-ranked ones to make room. Returns the evicted
    /// hashes, or [`Full`] (and evicts nothing) if it ranks no higher than what it would
    /// have to evict.
    pub(crate) fn insert(&mut self, hash: Hash, stored: Stored) -> Result<Vec<Hash>, Full> {
        let (size, rank) = (stored.size, stored.rank);
        if size > self.limits.max_bytes || self.limits.max_envelopes == 0 {
            return Err(Full);
        }
        let mut victims: Vec<(Hash, usize)> = Vec::new();
        if let Some(peer) = stored.from {
            let (max_count, max_bytes) = self.limits.share();
            if size > max_bytes {
                return Err(Full);
            }
            if let Some(u) = self.usage.get(&peer) {
                let (mut count, mut bytes) = (u.count, u.bytes);
                let mut lowest = u.by_rank.iter();
                while count + 1 > max_count || bytes + size > max_bytes {
                    let Some(&(r, h)) = lowest.next() else { return Err(Full) };
                    if r >= rank {
                        return Err(Full);
                    }
                    let s = self.entries[&h].size;
                    victims.push((h, s));
                    count -= 1;
                    bytes -= s;
                }
            }
        }
        let freed_count = victims.len();
        let freed_bytes: usize = victims.iter().map(|(_, s)| s).sum();
        let (mut count, mut bytes) = (self.entries.len() - freed_count, self.bytes - freed_bytes);
        let mut lowest = self.by_rank.iter();
        while count + 1 > self.limits.max_envelopes || bytes + size > self.limits.max_bytes {
            let Some(&(r, h)) = lowest.next() else { return Err(Full) };
            if victims.iter().any(|(v, _)| *v == h) {
                continue;
            }
            if r >= rank {
                return Err(Full);
            }
            let s = self.entries[&h].size;
            victims.push((h, s));
            count -= 1;
            bytes -= s;
        }
        let evicted: Vec<Hash> = victims.into_iter().map(|(h, _)| h).collect();
        for h in &evicted {
            if let Some(s) = self.remove(h) {
                self.remember_evicted(*h, s.envelope.expiry);
            }
        }
        self.by_expiry.insert((stored.envelope.expiry, hash));
        self.by_rank.insert((rank, hash));
        if let Some(peer) = stored.from {
            let u = self.usage.entry(peer).or_default();
            u.count += 1;
            u.bytes += size;
            u.by_rank.insert((rank, hash));
        }
        self.bytes += size;
        self.entries.insert(hash, stored);
        Ok(evicted)
    }

    fn remember_evicted(&mut self, hash: Hash, expiry: u32) {
        if self.evicted.insert(hash, expiry).is_none() {
            self.evicted_by_expiry.insert((expiry, hash));
        }
        while self.evicted.len() > self.limits.max_envelopes {
            let Some((_, h)) = self.evicted_by_expiry.pop_first() else { break };
            self.evicted.remove(&h);
        }
    }

    fn remove(&mut self, hash: &Hash) -> Option<Stored> {
        let s = self.entries.remove(hash)?;
        self.by_expiry.remove(&(s.envelope.expiry, *hash));
        self.by_rank.remove(&(s.rank, *hash));
        self.bytes -= s.size;
        if let Some(peer) = s.from
            && let Some(u) = self.usage.get_mut(&peer)
        {
            u.count -= 1;
            u.bytes -= s.size;
            u.by_rank.remove(&(s.rank, *hash));
            if u.count == 0 {
                self.usage.remove(&peer);
            }
        }
        Some(s)
    }

    /// Drops what expired before `now` (seconds); returns the hashes dropped from the pool.
    pub(crate) fn expire(&mut self, now: u32) -> Vec<Hash> {
        let mut gone = Vec::new();
        while let Some(&(expiry, hash)) = self.by_expiry.first() {
            if expiry >= now {
                break;
            }
            self.remove(&hash);
            gone.push(hash);
        }
        while let Some(&(expiry, hash)) = self.evicted_by_expiry.first() {
            if expiry >= now {
                break;
            }
            self.evicted_by_expiry.pop_first();
            self.evicted.remove(&hash);
        }
        gone
    }

    /// Gives back the memory of maps far larger than what they hold.
    pub(crate) fn shrink(&mut self) {
        shrink_map(&mut self.entries);
        shrink_map(&mut self.evicted);
        shrink_map(&mut self.usage);
    }

    /// The slots the maps have room for, for tests of [`Pool::shrink`].
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity() + self.evicted.capacity()
    }
}

/// Shrinks a map that holds less than a quarter of its capacity (and wastes more than
/// [`SHRINK_SLACK`] slots) to twice what it holds.
pub(crate) fn shrink_map<K: Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>) {
    let (len, cap) = (map.len(), map.capacity());
    if cap > SHRINK_SLACK && cap / 4 > len {
        map.shrink_to(len * 2);
    }
}

/// As [`shrink_map`], for sets.
pub(crate) fn shrink_set<K: Eq + std::hash::Hash>(set: &mut std::collections::HashSet<K>) {
    let (len, cap) = (set.len(), set.capacity());
    if cap > SHRINK_SLACK && cap / 4 > len {
        set.shrink_to(len * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::Topic;

    fn stored(i: u32, pow: f64, from: Option<u64>, data_len: usize) -> (Hash, Stored) {
        let env = Envelope {
            expiry: 1000 + i,
            ttl: 10,
            topic: Topic([0; 4]),
            data: vec![i as u8; data_len].into(),
            nonce: u64::from(i),
        };
        (env.hash(), Stored::new(env, pow, from.map(PeerId), None))
    }

    #[test]
    fn full_pool_evicts_lowest_pow_per_byte_and_remembers_it() {
        let mut pool =
            Pool::new(PoolLimits { max_envelopes: 3, max_bytes: 1 << 20, peer_share: 1.0 });
        let (h1, s1) = stored(1, 1.0, None, 10);
        let (h2, s2) = stored(2, 0.5, None, 10);
        let (h3, s3) = stored(3, 2.0, None, 10);
        for (h, s) in [(h1, s1), (h2, s2), (h3, s3)] {
            assert_eq!(pool.insert(h, s), Ok(vec![]));
        }
        // Lower than everything: refused, nothing evicted.
        let (h4, s4) = stored(4, 0.1, None, 10);
        assert_eq!(pool.insert(h4, s4), Err(Full));
        assert_eq!(pool.len(), 3);
        // Higher: the lowest (h2) goes and is remembered.
        let (h5, s5) = stored(5, 3.0, None, 10);
        assert_eq!(pool.insert(h5, s5), Ok(vec![h2]));
        assert!(!pool.contains(&h2) && pool.seen(&h2));
        // Until it expires.
        pool.expire(1003);
        assert!(!pool.seen(&h2));
        assert!(!pool.contains(&h1) && pool.contains(&h3));
    }

    #[test]
    fn byte_cap_and_peer_share() {
        let mut pool =
            Pool::new(PoolLimits { max_envelopes: 100, max_bytes: 1000, peer_share: 0.5 });
        // Peer 1 may hold 50 envelopes / 500 bytes: the fourth of ~150 bytes evicts its own
        // lowest, not peer 2's.
        let (a, sa) = stored(1, 0.2, Some(2), 100);
        assert!(pool.insert(a, sa).is_ok());
        let mut mine = Vec::new();
        for i in 10..13 {
            let (h, s) = stored(i, f64::from(i), Some(1), 140);
            assert_eq!(pool.insert(h, s), Ok(vec![]));
            mine.push(h);
        }
        let (h, s) = stored(20, 100.0, Some(1), 140);
        assert_eq!(pool.insert(h, s), Ok(vec![mine[0]]));
        assert!(pool.usage(PeerId(1)).1 <= 500);
        assert!(pool.contains(&a));
        assert!(pool.bytes() <= 1000);
    }
}
