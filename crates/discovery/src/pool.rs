//! The PeerPool: how many peers to keep per discovery topic, when to search and whom to dial
//! (status-go's `peers.PeerPool` / `TopicPool`, re-expressed as a sans-io state machine).
//!
//! Each topic has `{min, max}` limits (status-go's `RequireTopics`; default `whisper`
//! {2, 2}). A topic searches in fast mode (every [`FAST_SEARCH_MS`], 3 s) while it has fewer
//! than `min` connected peers, in slow mode (every [`SLOW_SEARCH_MS`], 30 s) from `min`, and
//! stops searching at `max`. Found nodes are dialled while connected + dialling < `max`; the
//! rest wait as candidates. When a peer disconnects or a dial fails, a candidate is dialled,
//! and a stopped search resumes (fast again below `min`).
//!
//! The pool knows nothing of the discovery protocol or the dialer: feed it
//! [`PeerPool::on_found`], [`PeerPool::on_connected`], [`PeerPool::on_dial_failed`] and
//! [`PeerPool::on_disconnected`], and carry out the [`PoolAction`]s it returns from
//! [`PeerPool::poll_action`].

use std::collections::{BTreeMap, HashSet, VecDeque};

use wisp_crypto::NodeId;
use wisp_rlpx::NodeRecord;

/// Search interval below `min` (status-go `DefaultFastSync`).
pub const FAST_SEARCH_MS: u64 = 3_000;
/// Search interval from `min` to `max` (status-go `DefaultSlowSync`).
pub const SLOW_SEARCH_MS: u64 = 30_000;
/// Candidates kept per topic, at most.
pub const MAX_CANDIDATES: usize = 64;

/// Peers wanted for one topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Below this, search fast.
    pub min: usize,
    /// At this, stop searching and dialling.
    pub max: usize,
}

/// Settings of a [`PeerPool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Limits per topic. Default: `whisper` {min 2, max 2}.
    pub topics: BTreeMap<String, Limits>,
    /// Search interval below `min`. Default: [`FAST_SEARCH_MS`].
    pub fast_search_ms: u64,
    /// Search interval from `min`. Default: [`SLOW_SEARCH_MS`].
    pub slow_search_ms: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            topics: [("whisper".to_owned(), Limits { min: 2, max: 2 })].into_iter().collect(),
            fast_search_ms: FAST_SEARCH_MS,
            slow_search_ms: SLOW_SEARCH_MS,
        }
    }
}

/// What the pool asks its owner to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolAction {
    /// Search `topic` every `interval_ms` (replacing the interval of a running search).
    Search {
        /// The topic.
        topic: String,
        /// The search period.
        interval_ms: u64,
    },
    /// Stop searching `topic`.
    StopSearch {
        /// The topic.
        topic: String,
    },
    /// Dial `node`, found under `topic`; report the outcome with [`PeerPool::on_connected`] or
    /// [`PeerPool::on_dial_failed`].
    Dial {
        /// The topic it was found under.
        topic: String,
        /// The node (dial its `tcp_port`).
        node: NodeRecord,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Fast,
    Slow,
    Stopped,
}

struct TopicState {
    limits: Limits,
    connected: HashSet<NodeId>,
    dialling: HashSet<NodeId>,
    candidates: VecDeque<NodeRecord>,
    mode: Mode,
}

/// Per-topic peer limits, searches and dials (see the module documentation).
pub struct PeerPool {
    cfg: PoolConfig,
    topics: BTreeMap<String, TopicState>,
    actions: VecDeque<PoolAction>,
}

impl PeerPool {
    /// A pool that starts a fast search for every topic.
    pub fn new(cfg: PoolConfig) -> Self {
        let mut pool = Self { topics: BTreeMap::new(), actions: VecDeque::new(), cfg };
        for (topic, limits) in pool.cfg.topics.clone() {
            pool.topics.insert(
                topic.clone(),
                TopicState {
                    limits,
                    connected: HashSet::new(),
                    dialling: HashSet::new(),
                    candidates: VecDeque::new(),
                    mode: Mode::Stopped,
                },
            );
            pool.update_search(&topic);
        }
        pool
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<PoolAction> {
        self.actions.pop_front()
    }

    /// Connected peers counted for `topic`.
    pub fn connected(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, |t| t.connected.len())
    }

    /// Whether `topic` is searching, and how often.
    pub fn search_interval(&self, topic: &str) -> Option<u64> {
        match self.topics.get(topic)?.mode {
            Mode::Fast => Some(self.cfg.fast_search_ms),
            Mode::Slow => Some(self.cfg.slow_search_ms),
            Mode::Stopped => None,
        }
    }

    /// Whether every topic has at least its `min` peers.
    pub fn min_reached(&self) -> bool {
        self.topics.values().all(|t| t.connected.len() >= t.limits.min)
    }

    /// Discovery found `node` under `topic`.
    pub fn on_found(&mut self, topic: &str, node: NodeRecord) {
        let in_other_topic = self.is_busy(&node.id);
        let Some(t) = self.topics.get_mut(topic) else { return };
        if in_other_topic || t.candidates.iter().any(|c| c.id == node.id) {
            return;
        }
        if t.connected.len() + t.dialling.len() < t.limits.max {
            t.dialling.insert(node.id);
            self.actions.push_back(PoolAction::Dial { topic: topic.to_owned(), node });
        } else {
            if t.candidates.len() >= MAX_CANDIDATES {
                t.candidates.pop_front();
            }
            t.candidates.push_back(node);
        }
    }

    /// A dial the pool asked for succeeded.
    pub fn on_connected(&mut self, id: &NodeId) {
        let Some(topic) = self.topic_dialling(id) else { return };
        if let Some(t) = self.topics.get_mut(&topic) {
            t.dialling.remove(id);
            t.connected.insert(*id);
        }
        self.update_search(&topic);
    }

    /// A dial the pool asked for failed.
    pub fn on_dial_failed(&mut self, id: &NodeId) {
        let Some(topic) = self.topic_dialling(id) else { return };
        if let Some(t) = self.topics.get_mut(&topic) {
            t.dialling.remove(id);
        }
        self.dial_candidates(&topic);
        self.update_search(&topic);
    }

    /// A peer counted by the pool disconnected.
    pub fn on_disconnected(&mut self, id: &NodeId) {
        let topic =
            self.topics.iter().find(|(_, t)| t.connected.contains(id)).map(|(k, _)| k.clone());
        let Some(topic) = topic else { return };
        if let Some(t) = self.topics.get_mut(&topic) {
            t.connected.remove(id);
        }
        self.dial_candidates(&topic);
        self.update_search(&topic);
    }

    /// Replaces the limits of `topic` (status-go's `PeerPool.UpdateTopic`, behind RPC
    /// `peer_discover`): candidates are dialled up to the new `max` and the search mode follows
    /// the connected count. Peers above a lowered `max` stay connected. Returns false, and
    /// changes nothing, when the pool has no such topic.
    pub fn set_limits(&mut self, topic: &str, limits: Limits) -> bool {
        let Some(t) = self.topics.get_mut(topic) else { return false };
        t.limits = limits;
        if let Some(l) = self.cfg.topics.get_mut(topic) {
            *l = limits;
        }
        self.dial_candidates(topic);
        self.update_search(topic);
        true
    }

    /// The limits of `topic`, if the pool has it.
    pub fn limits(&self, topic: &str) -> Option<Limits> {
        self.topics.get(topic).map(|t| t.limits)
    }

    fn is_busy(&self, id: &NodeId) -> bool {
        self.topics.values().any(|t| t.connected.contains(id) || t.dialling.contains(id))
    }

    fn topic_dialling(&self, id: &NodeId) -> Option<String> {
        self.topics.iter().find(|(_, t)| t.dialling.contains(id)).map(|(k, _)| k.clone())
    }

    fn dial_candidates(&mut self, topic: &str) {
        loop {
            let Some(t) = self.topics.get(topic) else { return };
            if t.connected.len() + t.dialling.len() >= t.limits.max || t.candidates.is_empty() {
                return;
            }
            let Some(node) = self.topics.get_mut(topic).and_then(|t| t.candidates.pop_front())
            else {
                return;
            };
            if self.is_busy(&node.id) {
                continue;
            }
            if let Some(t) = self.topics.get_mut(topic) {
                t.dialling.insert(node.id);
            }
            self.actions.push_back(PoolAction::Dial { topic: topic.to_owned(), node });
        }
    }

    fn update_search(&mut self, topic: &str) {
        let Some(t) = self.topics.get_mut(topic) else { return };
        let n = t.connected.len();
        let mode = if n >= t.limits.max {
            Mode::Stopped
        } else if n >= t.limits.min {
            Mode::Slow
        } else {
            Mode::Fast
        };
        if mode == t.mode {
            return;
        }
        t.mode = mode;
        let action = match mode {
            Mode::Fast => {
                PoolAction::Search { topic: topic.to_owned(), interval_ms: self.cfg.fast_search_ms }
            }
            Mode::Slow => {
                PoolAction::Search { topic: topic.to_owned(), interval_ms: self.cfg.slow_search_ms }
            }
            Mode::Stopped => PoolAction::StopSearch { topic: topic.to_owned() },
        };
        self.actions.push_back(action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn node(i: u8) -> NodeRecord {
        NodeRecord {
            id: NodeId([i; 64]),
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tcp_port: 30000 + u16::from(i),
            udp_port: 30000 + u16::from(i),
        }
    }

    fn actions(p: &mut PeerPool) -> Vec<PoolAction> {
        std::iter::from_fn(|| p.poll_action()).collect()
    }

    fn search(topic: &str, interval_ms: u64) -> PoolAction {
        PoolAction::Search { topic: topic.to_owned(), interval_ms }
    }

    fn dial(topic: &str, i: u8) -> PoolAction {
        PoolAction::Dial { topic: topic.to_owned(), node: node(i) }
    }

    fn pool(min: usize, max: usize) -> PeerPool {
        let cfg = PoolConfig {
            topics: [("whisper".to_owned(), Limits { min, max })].into_iter().collect(),
            ..PoolConfig::default()
        };
        PeerPool::new(cfg)
    }

    #[test]
    fn set_limits_dials_candidates_and_moves_the_search() {
        let mut p = pool(1, 1);
        assert_eq!(actions(&mut p), [search("whisper", FAST_SEARCH_MS)]);
        p.on_found("whisper", node(1));
        p.on_found("whisper", node(2));
        p.on_found("whisper", node(3));
        assert_eq!(actions(&mut p), [dial("whisper", 1)]);
        p.on_connected(&node(1).id);
        assert_eq!(actions(&mut p), [PoolAction::StopSearch { topic: "whisper".into() }]);
        // Raise max: the waiting candidates are dialled, the search resumes in slow mode.
        assert!(p.set_limits("whisper", Limits { min: 1, max: 3 }));
        assert_eq!(p.limits("whisper"), Some(Limits { min: 1, max: 3 }));
        assert_eq!(
            actions(&mut p),
            [dial("whisper", 2), dial("whisper", 3), search("whisper", SLOW_SEARCH_MS)]
        );
        // Raise min above the connected count: fast again.
        assert!(p.set_limits("whisper", Limits { min: 2, max: 3 }));
        assert_eq!(actions(&mut p), [search("whisper", FAST_SEARCH_MS)]);
        // An unknown topic changes nothing.
        assert!(!p.set_limits("whispermail", Limits { min: 1, max: 1 }));
        assert!(actions(&mut p).is_empty());
    }

    #[test]
    fn defaults_are_status_gos() {
        let mut p = PeerPool::new(PoolConfig::default());
        assert_eq!(actions(&mut p), vec![search("whisper", 3000)]);
        assert_eq!(p.search_interval("whisper"), Some(FAST_SEARCH_MS));
        assert!(!p.min_reached());
    }

    #[test]
    fn fast_below_min_slow_to_max_then_stopped() {
        let mut p = pool(1, 3);
        assert_eq!(actions(&mut p), vec![search("whisper", FAST_SEARCH_MS)]);
        for i in 1..=4 {
            p.on_found("whisper", node(i));
        }
        // Three dials (max), the fourth waits.
        assert_eq!(
            actions(&mut p),
            vec![dial("whisper", 1), dial("whisper", 2), dial("whisper", 3)]
        );
        p.on_connected(&node(1).id);
        assert_eq!(actions(&mut p), vec![search("whisper", SLOW_SEARCH_MS)]);
        assert!(p.min_reached());
        p.on_connected(&node(2).id);
        assert!(actions(&mut p).is_empty());
        p.on_connected(&node(3).id);
        assert_eq!(actions(&mut p), vec![PoolAction::StopSearch { topic: "whisper".to_owned() }]);
        assert_eq!(p.search_interval("whisper"), None);
        assert_eq!(p.connected("whisper"), 3);
        // A node found again while connected is not dialled twice.
        p.on_found("whisper", node(2));
        assert!(actions(&mut p).is_empty());
    }

    #[test]
    fn disconnects_resume_dialling_and_searching() {
        let mut p = pool(2, 2);
        let _ = actions(&mut p);
        for i in 1..=3 {
            p.on_found("whisper", node(i));
        }
        let _ = actions(&mut p);
        p.on_connected(&node(1).id);
        p.on_connected(&node(2).id);
        assert_eq!(actions(&mut p), vec![PoolAction::StopSearch { topic: "whisper".to_owned() }]);
        // Peer 1 leaves: the waiting candidate is dialled and the search resumes, fast.
        p.on_disconnected(&node(1).id);
        assert_eq!(actions(&mut p), vec![dial("whisper", 3), search("whisper", FAST_SEARCH_MS)]);
        // That dial fails: nothing left to dial; still searching fast.
        p.on_dial_failed(&node(3).id);
        assert!(actions(&mut p).is_empty());
        assert_eq!(p.search_interval("whisper"), Some(FAST_SEARCH_MS));
        // A new find is dialled and, connected, stops the search again.
        p.on_found("whisper", node(4));
        assert_eq!(actions(&mut p), vec![dial("whisper", 4)]);
        p.on_connected(&node(4).id);
        assert_eq!(actions(&mut p), vec![PoolAction::StopSearch { topic: "whisper".to_owned() }]);
    }

    #[test]
    fn topics_are_counted_apart_and_a_peer_counts_once() {
        let cfg = PoolConfig {
            topics: [
                ("whisper".to_owned(), Limits { min: 1, max: 1 }),
                ("whispermail".to_owned(), Limits { min: 1, max: 1 }),
            ]
            .into_iter()
            .collect(),
            ..PoolConfig::default()
        };
        let mut p = PeerPool::new(cfg);
        let _ = actions(&mut p);
        p.on_found("whispermail", node(9));
        p.on_found("whisper", node(9));
        assert_eq!(actions(&mut p), vec![dial("whispermail", 9)]);
        p.on_connected(&node(9).id);
        assert_eq!(p.connected("whispermail"), 1);
        assert_eq!(p.connected("whisper"), 0);
        // Unknown topics and unknown ids are ignored.
        p.on_found("other", node(1));
        p.on_disconnected(&node(5).id);
        assert_eq!(
            actions(&mut p),
            vec![PoolAction::StopSearch { topic: "whispermail".to_owned() }]
        );
    }
}
