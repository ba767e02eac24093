//! The Kademlia table: bonded nodes in buckets by log distance over `keccak256(node id)`.
//!
//! As go-ethereum's tables do, a bucket holds [`BUCKET_SIZE`] nodes, and one /24 (IPv6: /64)
//! may hold at most [`BUCKET_SUBNET_LIMIT`] entries of a bucket and [`TABLE_SUBNET_LIMIT`] of
//! the table, so that one network cannot fill it. Loopback addresses are exempt unless the
//! configuration says otherwise (tests of the limit itself run on 127.0.0.1).

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
};

use wisp_crypto::{NodeId, keccak256};

use super::packet::Endpoint;

/// Nodes per bucket (go-ethereum `bucketSize`).
pub const BUCKET_SIZE: usize = 16;
/// Entries of one /24 (IPv6 /64) per bucket (go-ethereum `bucketIPLimit`).
pub const BUCKET_SUBNET_LIMIT: usize = 2;
/// Entries of one /24 (IPv6 /64) in the whole table (go-ethereum `tableIPLimit`).
pub const TABLE_SUBNET_LIMIT: usize = 10;
/// Buckets: log distances 1..=256 (distance 0 is ourselves).
const BUCKETS: usize = 256;

/// One bonded node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableEntry {
    pub(crate) id: NodeId,
    pub(crate) sha: [u8; 32],
    /// Where its packets come from (and where we send).
    pub(crate) addr: SocketAddr,
    /// Its advertised endpoint (ping `from`): `tcp` is the RLPx port.
    pub(crate) endpoint: Endpoint,
}

impl TableEntry {
    pub(crate) fn new(id: NodeId, addr: SocketAddr, endpoint: Endpoint) -> Self {
        Self { id, sha: keccak256(id.as_bytes()), addr, endpoint }
    }
}

/// Why a node was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddOutcome {
    /// Newly added.
    Added,
    /// Already present (its address was refreshed).
    Present,
    /// Its bucket is full.
    BucketFull,
    /// Its subnet already has its share of the bucket or the table.
    SubnetLimit,
    /// It is ourselves.
    IsSelf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Subnet {
    V4([u8; 3]),
    V6([u8; 8]),
}

fn subnet(ip: IpAddr) -> Subnet {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Subnet::V4([a, b, c])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut s = [0u8; 8];
            s.copy_from_slice(o.get(..8).unwrap_or(&[0; 8]));
            Subnet::V6(s)
        }
    }
}

/// `floor(log2(a xor b)) + 1`, 0 when equal.
pub(crate) fn log_distance(a: &[u8; 32], b: &[u8; 32]) -> usize {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = x ^ y;
        if d != 0 {
            return (32 - i) * 8 - d.leading_zeros() as usize;
        }
    }
    0
}

/// Whether `a` is closer to `target` than `b` (xor metric).
pub(crate) fn xor_cmp(target: &[u8; 32], a: &[u8; 32], b: &[u8; 32]) -> std::cmp::Ordering {
    let da = target.iter().zip(a).map(|(t, x)| t ^ x);
    let db = target.iter().zip(b).map(|(t, x)| t ^ x);
    da.cmp(db)
}

pub(crate) struct Table {
    self_sha: [u8; 32],
    buckets: Vec<Vec<TableEntry>>,
    subnets: HashMap<Subnet, usize>,
    exempt_loopback: bool,
}

impl Table {
    pub(crate) fn new(self_id: &NodeId, exempt_loopback: bool) -> Self {
        Self {
            self_sha: keccak256(self_id.as_bytes()),
            buckets: vec![Vec::new(); BUCKETS],
            subnets: HashMap::new(),
            exempt_loopback,
        }
    }

    fn limited(&self, ip: IpAddr) -> bool {
        !(self.exempt_loopback && ip.is_loopback())
    }

    fn bucket_of(&self, sha: &[u8; 32]) -> Option<usize> {
        log_distance(&self.self_sha, sha).checked_sub(1)
    }

    pub(crate) fn add(&mut self, entry: TableEntry) -> AddOutcome {
        let Some(b) = self.bucket_of(&entry.sha) else { return AddOutcome::IsSelf };
        let limited = self.limited(entry.addr.ip());
        let net = subnet(entry.addr.ip());
        let Some(bucket) = self.buckets.get(b) else { return AddOutcome::IsSelf };
        if let Some(pos) = bucket.iter().position(|e| e.id == entry.id) {
            let old_ip = bucket.get(pos).map(|e| e.addr.ip());
            if old_ip == Some(entry.addr.ip()) {
                if let Some(slot) = self.buckets.get_mut(b).and_then(|bk| bk.get_mut(pos)) {
                    *slot = entry;
                }
                return AddOutcome::Present;
            }
            // A new IP for a known id counts against the limits like a new entry.
            self.remove(&entry.id);
            return self.add(entry);
        }
        if bucket.len() >= BUCKET_SIZE {
            return AddOutcome::BucketFull;
        }
        if limited {
            let in_bucket = bucket
                .iter()
                .filter(|e| self.limited(e.addr.ip()) && subnet(e.addr.ip()) == net)
                .count();
            let in_table = self.subnets.get(&net).copied().unwrap_or(0);
            if in_bucket >= BUCKET_SUBNET_LIMIT || in_table >= TABLE_SUBNET_LIMIT {
                return AddOutcome::SubnetLimit;
            }
            *self.subnets.entry(net).or_insert(0) += 1;
        }
        if let Some(bucket) = self.buckets.get_mut(b) {
            bucket.push(entry);
        }
        AddOutcome::Added
    }

    pub(crate) fn remove(&mut self, id: &NodeId) -> Option<TableEntry> {
        let sha = keccak256(id.as_bytes());
        let b = self.bucket_of(&sha)?;
        let bucket = self.buckets.get_mut(b)?;
        let pos = bucket.iter().position(|e| e.id == *id)?;
        let e = bucket.remove(pos);
        if self.limited(e.addr.ip()) {
            let net = subnet(e.addr.ip());
            if let Some(n) = self.subnets.get_mut(&net) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.subnets.remove(&net);
                }
            }
        }
        Some(e)
    }

    pub(crate) fn get(&self, id: &NodeId) -> Option<&TableEntry> {
        let sha = keccak256(id.as_bytes());
        let b = self.bucket_of(&sha)?;
        self.buckets.get(b)?.iter().find(|e| e.id == *id)
    }

    pub(crate) fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &TableEntry> {
        self.buckets.iter().flatten()
    }

    /// The `n` entries closest to `target`.
    pub(crate) fn closest(&self, target: &[u8; 32], n: usize) -> Vec<TableEntry> {
        let mut all: Vec<&TableEntry> = self.iter().collect();
        all.sort_by(|a, b| xor_cmp(target, &a.sha, &b.sha));
        all.into_iter().take(n).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn entry(i: u8, ip: [u8; 4]) -> TableEntry {
        let mut id = [0u8; 64];
        id[0] = i;
        id[1] = ip[3];
        id[2] = ip[2];
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), 30303);
        TableEntry::new(NodeId(id), addr, Endpoint { ip: addr.ip(), udp: 30303, tcp: 30303 })
    }

    #[test]
    fn log_distance_matches_definition() {
        let a = [0u8; 32];
        let mut b = [0u8; 32];
        assert_eq!(log_distance(&a, &b), 0);
        b[31] = 1;
        assert_eq!(log_distance(&a, &b), 1);
        b[0] = 0x80;
        assert_eq!(log_distance(&a, &b), 256);
    }

    #[test]
    fn one_subnet_cannot_fill_the_table() {
        let mut t = Table::new(&NodeId([9; 64]), true);
        let mut added = 0;
        for i in 0..200u8 {
            if t.add(entry(i, [10, 0, 0, i])) == AddOutcome::Added {
                added += 1;
            }
        }
        assert_eq!(added, TABLE_SUBNET_LIMIT);
        // Another /24 still gets in.
        assert_eq!(t.add(entry(1, [10, 0, 1, 1])), AddOutcome::Added);
        // Removing frees a slot of the subnet.
        let first = t
            .iter()
            .find(|e| e.addr.ip() != IpAddr::from([10, 0, 1, 1]))
            .cloned()
            .expect("not empty");
        assert_eq!(t.add(first.clone()), AddOutcome::Present);
        assert!(t.remove(&first.id).is_some());
        assert_eq!(t.add(first), AddOutcome::Added);
        assert_eq!(t.len(), TABLE_SUBNET_LIMIT + 1);
    }

    #[test]
    fn loopback_is_exempt_only_when_configured() {
        let mut exempt = Table::new(&NodeId([9; 64]), true);
        let mut strict = Table::new(&NodeId([9; 64]), false);
        let (mut a, mut b) = (0, 0);
        for i in 0..100u8 {
            a += usize::from(exempt.add(entry(i, [127, 0, 0, 1])) == AddOutcome::Added);
            b += usize::from(strict.add(entry(i, [127, 0, 0, 1])) == AddOutcome::Added);
        }
        assert!(a > TABLE_SUBNET_LIMIT, "loopback exempt: {a}");
        assert_eq!(b, TABLE_SUBNET_LIMIT);
    }
}
