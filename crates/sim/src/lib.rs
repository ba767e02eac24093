//! wisp-sim: many real `wisp_waku::Router`s in one process, on a virtual clock (ms) and a
//! virtual network, deterministic from a seed. No wall clock, no threads, no sockets.
//!
//! This is the foundation of issue 16: event core, links with latency, jitter and loss,
//! partitions that form and heal, line and star topologies, public-chat posts, invariants and
//! a trace hash.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use wisp_waku::{Capability, Envelope, Event, Output, PeerId, Router, RouterConfig, Topic};

/// Virtual time origin: routers compare envelope times with `now_ms / 1000`.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// A small deterministic RNG (SplitMix64); the whole run draws from one.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / ((1u64 << 53) as f64)) < p
    }
}

/// Link properties (the same for every link of a run).
#[derive(Clone, Debug)]
pub struct LinkModel {
    /// Base one-way latency, ms.
    pub base_ms: u64,
    /// Uniform extra latency in `0..=jitter_ms` (reorders packets).
    pub jitter_ms: u64,
    /// Probability a packet is lost.
    pub loss: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        Self { base_ms: 20, jitter_ms: 10, loss: 0.0 }
    }
}

enum Ev {
    Deliver { from: usize, to: usize, code: u64, payload: Vec<u8> },
    Tick { node: usize },
    Post { node: usize, topic: Topic, id: u64 },
    Cut { a: usize, b: usize },
    Heal { a: usize, b: usize },
    Stop { node: usize },
    Restart { node: usize },
}

/// Figures of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Envelopes posted.
    pub posted: u64,
    /// (node, envelope) arrivals expected.
    pub expected: u64,
    /// Distinct arrivals seen.
    pub delivered: u64,
    /// Envelope copies sent that the receiver did not take as new (already had it, or lost),
    /// plus router `Dropped` events.
    pub duplicates: u64,
    /// Latency percentiles, virtual ms (p50, p95, p99).
    pub latency_ms: (u64, u64, u64),
    /// Bytes sent by all nodes.
    pub bytes: u64,
    /// Hash of every delivery event, in order.
    pub trace: u64,
}

/// A simulation of `n` relay nodes.
pub struct Sim {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: HashMap<usize, Ev>,
    rng: Rng,
    link: LinkModel,
    routers: Vec<Router>,
    links: BTreeSet<(usize, usize)>,
    cut: BTreeSet<(usize, usize)>,
    ticks: Vec<u64>,
    posted: BTreeMap<[u8; 32], u64>,
    arrivals: HashSet<(usize, [u8; 32])>,
    latencies: Vec<u64>,
    double: u64,
    duplicates: u64,
    bytes: u64,
    trace: u64,
    sent_pairs: HashSet<(usize, usize, [u8; 32])>,
    config: RouterConfig,
    down: HashMap<usize, Vec<usize>>,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Sim {
    /// `n` relays with `min_pow` 0 on links of `link`, seeded.
    pub fn new(n: usize, link: LinkModel, seed: u64) -> Self {
        let cfg = RouterConfig { min_pow: 0.0, ..RouterConfig::default() };
        Self {
            now: EPOCH_MS,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            rng: Rng::new(seed),
            link,
            routers: (0..n).map(|_| Router::new(cfg.clone())).collect(),
            ticks: vec![u64::MAX; n],
            links: BTreeSet::new(),
            cut: BTreeSet::new(),
            posted: BTreeMap::new(),
            arrivals: HashSet::new(),
            latencies: Vec::new(),
            double: 0,
            duplicates: 0,
            bytes: 0,
            trace: 0xcbf2_9ce4_8422_2325,
            sent_pairs: HashSet::new(),
            config: cfg,
            down: HashMap::new(),
        }
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        let id = self.seq as usize;
        self.seq += 1;
        self.events.insert(id, ev);
        self.queue.push(Reverse((at, id as u64, id)));
    }

    /// Connect `a` and `b` now: both routers add the other and exchange Status over the network.
    pub fn connect(&mut self, a: usize, b: usize) {
        self.links.insert(pair(a, b));
        let now = self.now;
        self.routers[a].add_peer(PeerId(b as u64), Capability::Waku, None, now);
        self.routers[b].add_peer(PeerId(a as u64), Capability::Waku, None, now);
        self.drain(a);
        self.drain(b);
    }

    /// A line 0-1-...-(n-1).
    pub fn line(&mut self) {
        for i in 1..self.routers.len() {
            self.connect(i - 1, i);
        }
    }

    /// A seeded random graph of mean degree about `d`: a ring (keeps it connected) plus
    /// `(d - 2) / 2` random extra links dialled by every node. Not exactly regular.
    pub fn random_regular(&mut self, d: usize) {
        let n = self.routers.len();
        for i in 0..n {
            self.connect(i, (i + 1) % n);
        }
        for i in 0..n {
            let mut added = 0;
            let mut tries = 0;
            while added < d.saturating_sub(2) / 2 && tries < 100 {
                tries += 1;
                let j = self.rng.below(n as u64) as usize;
                if j != i && !self.links.contains(&pair(i, j)) {
                    self.connect(i, j);
                    added += 1;
                }
            }
        }
    }

    /// A star around node 0.
    pub fn star(&mut self) {
        for i in 1..self.routers.len() {
            self.connect(0, i);
        }
    }

    /// Node `node` posts a public-chat envelope at `at_ms` after the start (skipped if the
    /// node is stopped then).
    pub fn post_at(&mut self, at_ms: u64, node: usize, topic: Topic) {
        let id = self.seq;
        self.schedule(EPOCH_MS + at_ms, Ev::Post { node, topic, id });
    }

    /// Stop `node` at `from_ms` (its router is dropped, its links go down) and restart it at
    /// `to_ms` with a fresh router of the same config, re-dialling its old neighbours.
    pub fn churn(&mut self, node: usize, from_ms: u64, to_ms: u64) {
        self.schedule(EPOCH_MS + from_ms, Ev::Stop { node });
        self.schedule(EPOCH_MS + to_ms, Ev::Restart { node });
    }

    /// Cut the link a-b at `from_ms` and heal it at `to_ms` (after the start).
    pub fn partition(&mut self, a: usize, b: usize, from_ms: u64, to_ms: u64) {
        self.schedule(EPOCH_MS + from_ms, Ev::Cut { a, b });
        self.schedule(EPOCH_MS + to_ms, Ev::Heal { a, b });
    }

    fn drain(&mut self, node: usize) {
        while let Some(out) = self.routers[node].poll_output() {
            match out {
                Output::Send { peer, code, payload } => {
                    let to = peer.0 as usize;
                    self.bytes += payload.len() as u64;
                    if self.cut.contains(&pair(node, to)) || self.rng.chance(self.link.loss) {
                        continue;
                    }
                    let delay = self.link.base_ms + self.rng.below(self.link.jitter_ms + 1);
                    let at = self.now + delay;
                    self.schedule(at, Ev::Deliver { from: node, to, code, payload });
                }
                Output::Disconnect { peer, .. } => {
                    let to = peer.0 as usize;
                    self.links.remove(&pair(node, to));
                    self.routers[to].remove_peer(PeerId(node as u64));
                }
                Output::Event(Event::Accepted { hash, from, .. }) => {
                    if !self.arrivals.insert((node, hash)) {
                        self.double += 1;
                    }
                    if let (Some(p), Some(t0)) = (from, self.posted.get(&hash)) {
                        self.latencies.push(self.now - t0);
                        if !self.sent_pairs.insert((p.0 as usize, node, hash)) {
                            self.double += 1;
                        }
                    }
                    let tail = [(node as u64).to_le_bytes(), self.now.to_le_bytes()].concat();
                    for b in hash.iter().take(8).chain(tail.iter()) {
                        self.trace = (self.trace ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
                    }
                }
                Output::Event(Event::Dropped { .. }) => self.duplicates += 1,
                Output::Event(_) => {}
            }
        }
        let next = self.routers[node].next_tick_ms().max(self.now + 1);
        if next != u64::MAX && next < self.ticks[node] {
            self.ticks[node] = next;
            self.schedule(next, Ev::Tick { node });
        }
    }

    /// Run until `until_ms` after the start and return the figures.
    pub fn run(&mut self, until_ms: u64) -> Figures {
        let end = EPOCH_MS + until_ms;
        while let Some(Reverse((at, _, id))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(ev) = self.events.remove(&id) else { continue };
            match ev {
                Ev::Deliver { from, to, code, payload } => {
                    if self.links.contains(&pair(from, to)) {
                        self.routers[to].handle_packet(PeerId(from as u64), code, &payload, at);
                        self.drain(to);
                    }
                }
                Ev::Tick { node } => {
                    self.ticks[node] = u64::MAX;
                    self.routers[node].tick(at);
                    self.drain(node);
                }
                Ev::Post { node, .. } if self.down.contains_key(&node) => {}
                Ev::Post { node, topic, id } => {
                    let secs = (at / 1000) as u32;
                    let env = Envelope {
                        expiry: secs + 300,
                        ttl: 300,
                        topic,
                        data: bytes::Bytes::from(id.to_be_bytes().to_vec()),
                        nonce: id,
                    };
                    self.posted.insert(env.hash(), at);
                    let _ = self.routers[node].post(env, at);
                    self.drain(node);
                }
                Ev::Cut { a, b } => {
                    self.cut.insert(pair(a, b));
                }
                Ev::Heal { a, b } => {
                    self.cut.remove(&pair(a, b));
                }
                Ev::Stop { node } => {
                    let peers: Vec<usize> = self
                        .links
                        .iter()
                        .filter_map(|&(a, b)| (a == node).then_some(b).or((b == node).then_some(a)))
                        .collect();
                    for &p in &peers {
                        self.links.remove(&pair(node, p));
                        self.routers[p].remove_peer(PeerId(node as u64));
                        self.drain(p);
                    }
                    self.routers[node] = Router::new(self.config.clone());
                    // A fresh router may take again what the old one had.
                    self.arrivals.retain(|(n, _)| *n != node);
                    self.sent_pairs.retain(|(_, n, _)| *n != node);
                    self.down.insert(node, peers);
                }
                Ev::Restart { node } => {
                    for p in self.down.remove(&node).unwrap_or_default() {
                        self.connect(node, p);
                    }
                }
            }
        }
        self.figures()
    }

    /// Distinct envelopes `node` has accepted (since its last restart).
    pub fn delivered_to(&self, node: usize) -> usize {
        self.arrivals.iter().filter(|(n, _)| *n == node).count()
    }

    /// The figures so far.
    pub fn figures(&self) -> Figures {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let pct = |p: usize| if l.is_empty() { 0 } else { l[(l.len() - 1) * p / 100] };
        Figures {
            posted: self.posted.len() as u64,
            expected: (self.posted.len() * self.routers.len()) as u64,
            delivered: self.arrivals.len() as u64,
            duplicates: self.duplicates + self.redundant_sends(),
            latency_ms: (pct(50), pct(95), pct(99)),
            bytes: self.bytes,
            trace: self.trace,
        }
    }

    /// Envelopes sent on a link that did not enter the receiver's pool as new: with no loss
    /// and no cut, the copies that reached a node which already had them.
    fn redundant_sends(&self) -> u64 {
        let sent: u64 = self.routers.iter().map(|r| r.stats().relayed).sum();
        let new_from_peers = (self.arrivals.len() as u64).saturating_sub(self.posted.len() as u64);
        sent.saturating_sub(new_from_peers)
    }

    /// Invariant violations: envelopes accepted twice by a node, or sent twice on a pair;
    /// pool over its cap.
    pub fn violations(&self) -> u64 {
        let over = self.routers.iter().filter(|r| r.pool_len() > r.pool_capacity()).count();
        self.double + over as u64
    }
}
