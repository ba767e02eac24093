//! Second chances for nodes the pool lost.
//!
//! A discovery source reports a node once per search (legacy), or once per run (v5.1). A
//! node whose dial failed, or that disconnected, would then never be offered to the pool
//! again, and a small network can stay one peer short for ever. The commonest cause is two
//! nodes dialling each other at the same moment: each keeps its own dial and refuses the
//! other's as a duplicate, and both connections close.
//!
//! [`Retries`] keeps those nodes and offers them again after a backoff that doubles with each
//! failure (from [`FIRST_DELAY`] to [`MAX_DELAY`]), stretched by a jitter the caller draws, so
//! that two nodes which collided do not collide again. Pure: the time is passed in.

use std::{collections::HashMap, time::Duration};

use wisp_crypto::NodeId;
use wisp_rlpx::NodeRecord;

/// The wait before the first retry.
pub(crate) const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between two retries.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(60);
/// Nodes kept at most; beyond it the one that failed most is forgotten.
pub(crate) const MAX_RETRIES: usize = 256;

#[derive(Debug)]
struct Entry {
    topic: String,
    node: NodeRecord,
    failures: u32,
    due: Duration,
}

/// Nodes to offer the pool again, each with the time it is due (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Retries {
    entries: HashMap<NodeId, Entry>,
}

impl Retries {
    /// `node` (found under `topic`) failed to connect or disconnected at `now`; `jitter` in
    /// [0, 1) stretches the wait by up to half of it.
    pub(crate) fn failed(&mut self, topic: &str, node: NodeRecord, now: Duration, jitter: f64) {
        let failures = self.entries.get(&node.id).map_or(0, |e| e.failures).saturating_add(1);
        let base = FIRST_DELAY.saturating_mul(1u32 << (failures - 1).min(6)).min(MAX_DELAY);
        let wait = base.mul_f64(1.0 + jitter.clamp(0.0, 1.0) / 2.0);
        self.entries
            .insert(node.id, Entry { topic: topic.to_owned(), node, failures, due: now + wait });
        if self.entries.len() > MAX_RETRIES
            && let Some(worst) = self
                .entries
                .iter()
                .max_by_key(|(id, e)| (e.failures, std::cmp::Reverse(**id)))
                .map(|(id, _)| *id)
        {
            self.entries.remove(&worst);
        }
    }

    /// `id` connected: its failures are forgotten.
    pub(crate) fn succeeded(&mut self, id: &NodeId) {
        self.entries.remove(id);
    }

    /// The nodes due at `now`, with their topics. They stay known (with their failure count)
    /// until they connect or fail again, so the next failure waits longer.
    pub(crate) fn due(&mut self, now: Duration) -> Vec<(String, NodeRecord)> {
        let mut out: Vec<(String, NodeRecord)> = Vec::new();
        for e in self.entries.values_mut() {
            if e.due <= now {
                out.push((e.topic.clone(), e.node));
                // Not offered again before it fails again (or a long while passes).
                e.due = now + MAX_DELAY;
            }
        }
        out.sort_by_key(|(_, n)| n.id);
        out
    }

    /// Nodes kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8) -> NodeRecord {
        let mut id = [0u8; 64];
        id[0] = i;
        NodeRecord {
            id: NodeId(id),
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            tcp_port: 30303,
            udp_port: 30303,
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_failed_node_comes_back_after_the_backoff_and_waits_longer_each_time() {
        let mut r = Retries::default();
        r.failed("whisper", node(1), S(10), 0.0);
        assert!(r.due(S(10)).is_empty());
        assert_eq!(r.due(S(11)), vec![("whisper".to_owned(), node(1))]);
        assert!(r.due(S(12)).is_empty(), "offered once per failure");
        r.failed("whisper", node(1), S(12), 0.0);
        assert!(r.due(S(13)).is_empty());
        assert_eq!(r.due(S(14)).len(), 1, "second failure: 2 s");
        r.failed("whisper", node(1), S(14), 0.0);
        assert!(r.due(S(17)).is_empty());
        assert_eq!(r.due(S(18)).len(), 1, "third failure: 4 s");
    }

    #[test]
    fn jitter_stretches_the_wait_by_at_most_a_half() {
        let mut r = Retries::default();
        r.failed("whisper", node(1), S(0), 0.999);
        assert!(r.due(Duration::from_millis(1_400)).is_empty());
        assert_eq!(r.due(Duration::from_millis(1_500)).len(), 1);
    }

    #[test]
    fn the_wait_is_capped_and_success_forgets() {
        let mut r = Retries::default();
        for _ in 0..20 {
            r.failed("whisper", node(1), S(0), 0.0);
        }
        assert!(r.due(S(59)).is_empty());
        assert_eq!(r.due(S(60)).len(), 1);
        r.succeeded(&node(1).id);
        assert_eq!(r.len(), 0);
        assert!(r.due(S(1_000)).is_empty());
    }

    #[test]
    fn the_list_is_bounded_and_drops_the_worst() {
        let mut r = Retries::default();
        for _ in 0..3 {
            r.failed("whisper", node(0), S(0), 0.0);
        }
        for i in 1..=u8::try_from(MAX_RETRIES).unwrap_or(u8::MAX) {
            r.failed("whisper", node(i), S(0), 0.0);
        }
        let mut more = node(0);
        more.id.0[1] = 1;
        r.failed("whisper", more, S(0), 0.0);
        assert!(r.len() <= MAX_RETRIES);
        assert!(r.due(S(100)).iter().all(|(_, n)| n.id != node(0).id), "the most failed went");
    }
}
