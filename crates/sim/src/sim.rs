//! The event core: nodes (real routers, mailservers, history clients, hostile nodes), the
//! virtual network and the invariant checks.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::task::{Context, Poll, Waker};

use wisp_mailserver::server::complete_payload;
use wisp_mailserver::{
    ArchivedEnvelope, ClientConfig, HistoryQuery, HistoryRequest, HistoryServer, MemoryStore, Next,
    Outcome, RequestForm, ServerConfig, ServerKeys, Store, serve_request,
};
use wisp_waku::packets::waku_codes;
use wisp_waku::{
    Bloom, Capability, DropReason, Envelope, EnvelopeDrop, Event, Output, PeerId, Router,
    RouterConfig, SealBudget, Topic, WakuPacket,
};

use crate::figures::{Figures, KindFigures, MailFigures};
use crate::packet::{envelope_expiry, fingerprint, for_each_item};
use crate::{Rng, mix};

mod conv;
mod msg;

/// Virtual time origin: routers compare envelope times with `now_ms / 1000`.
pub const EPOCH_MS: u64 = 1_700_000_000_000;
/// An idle router is ticked this often (expiry, status timeouts).
const IDLE_TICK_MS: u64 = 30_000;
/// Link send logs and per-node arrival sets are pruned this often.
const HOUSEKEEP_MS: u64 = 60_000;
/// An envelope this long past its expiry can never be accepted again (sync allowance, skew).
const FORGET_AFTER_SECS: u32 = 120;
/// Most violation messages kept (all are counted).
const MAX_VIOLATION_TEXTS: usize = 8;

/// What a node is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A full Waku relay.
    Relay,
    /// A full relay that archives every envelope and serves history (wisp-mailserver's
    /// server and memory store).
    Mailserver,
    /// A light client: relays only its own envelopes, advertises topic interest or a bloom,
    /// fetches history from its mailservers when it comes back.
    Light,
    /// Hostile: posts `per_sec` valid envelopes through its own router (which paces them under
    /// its peers' advertised limits).
    Flooder {
        /// Envelopes per second.
        per_sec: u32,
    },
    /// Hostile: sends raw Messages packets of `envelopes` fresh envelopes, `packets_per_sec`
    /// to each peer, ignoring their limits.
    RawFlooder {
        /// Packets per second to each peer.
        packets_per_sec: u32,
        /// Envelopes per packet.
        envelopes: u32,
    },
    /// Hostile: sends expired and future-dated envelopes, and now and then a malformed packet.
    BadSender,
    /// Hostile: a full node that takes everything and relays nothing.
    NonRelay,
}

impl Kind {
    fn full(&self) -> bool {
        matches!(self, Kind::Relay | Kind::Mailserver | Kind::NonRelay)
    }
    fn hostile(&self) -> bool {
        matches!(
            self,
            Kind::Flooder { .. } | Kind::RawFlooder { .. } | Kind::BadSender | Kind::NonRelay
        )
    }
}

/// Which envelopes a node wants.
#[derive(Clone, Debug, PartialEq)]
pub enum Interest {
    /// Everything (full nodes).
    All,
    /// These topics, advertised as topic interest.
    Topics(Vec<Topic>),
    /// `wanted`, advertised as a bloom that also holds `extra` (idle topics that only fill the
    /// filter, as the model's 100 topics per user do).
    Bloom {
        /// The topics the node reads.
        wanted: Vec<Topic>,
        /// Topics in the bloom that carry no traffic.
        extra: Vec<Topic>,
    },
}

impl Interest {
    fn wanted(&self) -> &[Topic] {
        match self {
            Interest::All => &[],
            Interest::Topics(t) | Interest::Bloom { wanted: t, .. } => t,
        }
    }
    fn wants(&self, topic: &Topic) -> bool {
        matches!(self, Interest::All) || self.wanted().contains(topic)
    }
}

/// Properties of every link of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkModel {
    /// Base one-way latency, ms.
    pub base_ms: u64,
    /// Uniform extra latency in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Probability that a Messages packet is lost (see the README: control packets ride a
    /// reliable connection).
    pub loss: f64,
    /// Bits per second each direction of a link serialises; 0 for no limit.
    pub bandwidth_bps: u64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a Messages packet overtakes the ones before it (links are otherwise
    /// FIFO, as a TCP connection is).
    pub reorder: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        Self {
            base_ms: 20,
            jitter_ms: 10,
            loss: 0.0,
            bandwidth_bps: 0,
            duplicate: 0.0,
            reorder: 0.0,
        }
    }
}

enum Ev {
    Deliver { from: usize, to: usize, epoch: u64, code: u64, payload: Vec<u8> },
    Tick { node: usize, at: u64 },
    Post { node: usize, topic: Topic, size: usize },
    Cut { a: usize, b: usize },
    Heal { a: usize, b: usize },
    CutGroups { id: usize },
    HealGroups { id: usize },
    Stop { node: usize },
    Restart { node: usize },
    Hostile { node: usize, round: u64 },
    HistoryTimeout { node: usize },
    Housekeep,
    ConvSend { conv: usize, side: usize },
    ConvTick { conv: usize, side: usize, at: u64 },
    ConvCheck,
    MsgTick { account: usize, at: u64 },
    MsgPublic { account: usize, chat: usize },
    MsgDirect { from: usize, to: usize },
    MsgCheck,
}

struct LinkState {
    epoch: u64,
    /// Per direction (0: low to high index, 1: high to low).
    busy_until: [u64; 2],
    last_arrival: [u64; 2],
    /// Fingerprints of the envelopes sent, with their expiry (relay-once invariant).
    sent: [HashMap<u64, u32>; 2],
}

struct History {
    mailserver: usize,
    request: HistoryRequest,
}

struct Node {
    kind: Kind,
    class: &'static str,
    interest: Interest,
    config: RouterConfig,
    router: Router,
    skew_ms: i64,
    up: bool,
    up_since: u64,
    down_since: u64,
    tick_at: u64,
    home: Vec<usize>,
    /// Envelopes accepted in this life, by fingerprint, with their expiry.
    live: HashMap<u64, u32>,
    /// Light clients: every wanted envelope ever received (relayed or from history).
    got: HashSet<u64>,
    archive: Option<(MemoryStore, HistoryServer)>,
    fetch_from: Option<u32>,
    history: Option<History>,
    sent_now: bool,
    /// The messenger running on this node, if any (an index into `Sim::msgs`).
    account: Option<usize>,
}

struct Posted {
    at_ms: u64,
    topic: Topic,
}

/// Settings of a simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The links.
    pub link: LinkModel,
    /// The seed of every random choice.
    pub seed: u64,
    /// Router settings every node starts from (`min_pow` 0 keeps sealing cheap).
    pub router: RouterConfig,
    /// Clock skew of each node, uniform in `-skew_ms..=skew_ms`.
    pub skew_ms: u64,
    /// TTL of posted envelopes, seconds.
    pub ttl_secs: u32,
    /// PoW: 0 for none (envelopes carry nonce 0, routers ask for none); otherwise every
    /// router asks for this much and every honest envelope is sealed to it (a messenger's
    /// to its own target if that is higher).
    pub pow: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            link: LinkModel::default(),
            seed: 1,
            router: RouterConfig { min_pow: 0.0, ..RouterConfig::default() },
            skew_ms: 0,
            ttl_secs: 300,
            pow: 0.0,
        }
    }
}

/// A simulation: nodes, links, a queue of events on a virtual clock.
pub struct Sim {
    cfg: SimConfig,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Ev>,
    rng: Rng,
    nodes: Vec<Node>,
    adj: Vec<BTreeSet<usize>>,
    links: HashMap<(usize, usize), LinkState>,
    next_epoch: u64,
    cut: HashSet<(usize, usize)>,
    groups: Vec<(Vec<bool>, bool)>,
    topic_lights: HashMap<Topic, Vec<usize>>,
    up_full: u64,
    posted: HashMap<u64, Posted>,
    post_order: Vec<u64>,
    next_id: u64,
    housekeeping: bool,
    convs: conv::Convs,
    msgs: msg::Messengers,
    // figures
    expected: u64,
    delivered: u64,
    latencies: BTreeMap<u64, u64>,
    copies_full: u64,
    new_full: u64,
    bytes_in: BTreeMap<&'static str, u64>,
    bytes_out: BTreeMap<&'static str, u64>,
    new_bytes: BTreeMap<&'static str, u64>,
    false_positives: u64,
    false_positive_bytes: u64,
    lost: u64,
    disconnects: BTreeMap<&'static str, u64>,
    drops: BTreeMap<&'static str, u64>,
    post_refused: u64,
    posts_skipped: u64,
    peak_pool_bytes: u64,
    mail: MailFigures,
    violations: u64,
    violation_texts: Vec<String>,
    trace: u64,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn dir(from: usize, to: usize) -> usize {
    usize::from(from > to)
}

/// A node's clock reading back to virtual time.
fn to_sim(t: u64, skew: i64) -> u64 {
    if skew >= 0 {
        t.saturating_sub(skew.unsigned_abs())
    } else {
        t.saturating_add(skew.unsigned_abs())
    }
}

fn fp32(hash: &[u8; 32]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(w)
}

/// Polls a future that never waits (the memory store's) to its end; `None` if it does wait.
fn ready<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..16 {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
    }
    None
}

fn drop_label(r: &DropReason) -> &'static str {
    match r {
        DropReason::StatusTimeout => "status_timeout",
        DropReason::PacketBeforeStatus { .. } => "packet_before_status",
        DropReason::BadPacket { .. } => "bad_packet",
        DropReason::RateLimited { .. } => "rate_limited",
        DropReason::LightPeer => "light_peer",
        DropReason::FutureEnvelopes { .. } => "future_envelopes",
    }
}

fn envelope_drop_label(r: EnvelopeDrop) -> &'static str {
    match r {
        EnvelopeDrop::Expired => "expired",
        EnvelopeDrop::FutureDated => "future_dated",
        EnvelopeDrop::LowPow => "low_pow",
        EnvelopeDrop::InvalidTtl => "invalid_ttl",
        EnvelopeDrop::TooBig => "too_big",
        EnvelopeDrop::Duplicate => "duplicate",
        EnvelopeDrop::PoolFull => "pool_full",
    }
}

impl Sim {
    /// An empty simulation.
    pub fn new(mut cfg: SimConfig) -> Self {
        if cfg.pow > 0.0 {
            cfg.router.min_pow = cfg.pow;
        }
        let rng = Rng::new(cfg.seed);
        Self {
            cfg,
            now: EPOCH_MS,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            rng,
            nodes: Vec::new(),
            adj: Vec::new(),
            links: HashMap::new(),
            next_epoch: 0,
            cut: HashSet::new(),
            groups: Vec::new(),
            topic_lights: HashMap::new(),
            up_full: 0,
            posted: HashMap::new(),
            post_order: Vec::new(),
            next_id: 0,
            housekeeping: false,
            convs: conv::Convs::default(),
            msgs: msg::Messengers::default(),
            expected: 0,
            delivered: 0,
            latencies: BTreeMap::new(),
            copies_full: 0,
            new_full: 0,
            bytes_in: BTreeMap::new(),
            bytes_out: BTreeMap::new(),
            new_bytes: BTreeMap::new(),
            false_positives: 0,
            false_positive_bytes: 0,
            lost: 0,
            disconnects: BTreeMap::new(),
            drops: BTreeMap::new(),
            post_refused: 0,
            posts_skipped: 0,
            peak_pool_bytes: 0,
            mail: MailFigures::default(),
            violations: 0,
            violation_texts: Vec::new(),
            trace: 0,
        }
    }

    /// `n` relays, the other settings default (the foundation's constructor).
    pub fn relays(n: usize, link: LinkModel, seed: u64) -> Self {
        let mut sim = Self::new(SimConfig { link, seed, ..SimConfig::default() });
        for _ in 0..n {
            sim.add_node(Kind::Relay, Interest::All);
        }
        sim
    }

    /// The run's random source (scenarios draw their workload from it).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Virtual ms since the start.
    pub fn elapsed_ms(&self) -> u64 {
        self.now - EPOCH_MS
    }

    /// Adds a node (up from the start) and returns its index.
    pub fn add_node(&mut self, kind: Kind, interest: Interest) -> usize {
        let mut config = self.cfg.router.clone();
        let class = match (&kind, &interest) {
            (Kind::Relay, _) => "relay",
            (Kind::Mailserver, _) => "mailserver",
            (Kind::Light, Interest::Bloom { .. }) => "light-bloom",
            (Kind::Light, _) => "light-topic",
            _ => "hostile",
        };
        if kind == Kind::Light {
            config.light_node = true;
            match &interest {
                Interest::All => {}
                Interest::Topics(t) => config.topic_interest = Some(t.clone()),
                Interest::Bloom { wanted, extra } => {
                    config.bloom = Bloom::from_topics(wanted.iter().chain(extra));
                }
            }
        }
        let skew = self.cfg.skew_ms;
        let skew_ms = if skew == 0 { 0 } else { self.rng.below(2 * skew + 1) as i64 - skew as i64 };
        let id = self.nodes.len();
        if kind.full() {
            self.up_full += 1;
        }
        if kind == Kind::Light {
            for t in interest.wanted() {
                self.topic_lights.entry(*t).or_default().push(id);
            }
        }
        let archive = (kind == Kind::Mailserver).then(|| {
            let keys = ServerKeys::from_password(wisp_mailserver::DEFAULT_MAILSERVER_PASSWORD);
            (MemoryStore::new(), HistoryServer::new(ServerConfig::default(), keys))
        });
        let hostile_period = match &kind {
            Kind::Flooder { per_sec } => Some(1000 / u64::from((*per_sec).max(1))),
            Kind::RawFlooder { packets_per_sec, .. } => {
                Some(1000 / u64::from((*packets_per_sec).max(1)))
            }
            Kind::BadSender => Some(1000),
            _ => None,
        };
        self.nodes.push(Node {
            router: Router::new(config.clone()),
            kind,
            class,
            interest,
            config,
            skew_ms,
            up: true,
            up_since: EPOCH_MS,
            down_since: 0,
            tick_at: u64::MAX,
            home: Vec::new(),
            live: HashMap::new(),
            got: HashSet::new(),
            archive,
            fetch_from: None,
            history: None,
            sent_now: false,
            account: None,
        });
        self.adj.push(BTreeSet::new());
        if let Some(p) = hostile_period {
            let at = self.now + 1000 + p;
            self.schedule(at, Ev::Hostile { node: id, round: 0 });
        }
        if !self.housekeeping {
            self.housekeeping = true;
            self.schedule(self.now + HOUSEKEEP_MS, Ev::Housekeep);
        }
        id
    }

    fn schedule(&mut self, at: u64, ev: Ev) {
        let id = self.seq;
        self.seq += 1;
        self.events.insert(id, ev);
        self.queue.push(Reverse((at, id)));
    }

    /// Sets `node`'s clock skew (ms ahead of virtual time; negative: behind).
    pub fn set_skew(&mut self, node: usize, skew_ms: i64) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.skew_ms = skew_ms;
        }
    }

    /// The node's own clock (virtual time plus its skew).
    fn rnow(&self, n: usize) -> u64 {
        self.now.saturating_add_signed(self.nodes[n].skew_ms)
    }

    fn violation(&mut self, text: String) {
        self.violations += 1;
        if self.violation_texts.len() < MAX_VIOLATION_TEXTS {
            self.violation_texts.push(text);
        }
    }

    /// Links `a` and `b` (both remember it as a home link, re-dialled after a restart).
    pub fn link(&mut self, a: usize, b: usize) {
        if a == b || self.adj[a].contains(&b) {
            return;
        }
        self.nodes[a].home.push(b);
        self.nodes[b].home.push(a);
        self.connect(a, b);
    }

    fn connect(&mut self, a: usize, b: usize) {
        if !self.nodes[a].up || !self.nodes[b].up || self.adj[a].contains(&b) {
            return;
        }
        self.next_epoch += 1;
        let state = LinkState {
            epoch: self.next_epoch,
            busy_until: [0; 2],
            last_arrival: [0; 2],
            sent: [HashMap::new(), HashMap::new()],
        };
        self.links.insert(pair(a, b), state);
        self.adj[a].insert(b);
        self.adj[b].insert(a);
        for (x, y) in [(a, b), (b, a)] {
            let now = self.rnow(x);
            self.nodes[x].router.add_peer(PeerId(y as u64), Capability::Waku, None, now);
        }
        self.drain(a, false);
        self.drain(b, false);
    }

    fn unlink(&mut self, a: usize, b: usize) {
        if self.links.remove(&pair(a, b)).is_some() {
            self.adj[a].remove(&b);
            self.adj[b].remove(&a);
        }
    }

    /// A line 0-1-...-(n-1).
    pub fn line(&mut self) {
        for i in 1..self.nodes.len() {
            self.link(i - 1, i);
        }
    }

    /// A star around node 0.
    pub fn star(&mut self) {
        for i in 1..self.nodes.len() {
            self.link(0, i);
        }
    }

    /// A seeded random graph of degree `d` on `members`: a ring (it stays connected) plus
    /// `d - 2` stubs per node paired at random; a stub that would make a self-loop or a second
    /// link is dropped, so a few nodes end with less than `d`.
    pub fn random_regular_on(&mut self, members: &[usize], d: usize) {
        let n = members.len();
        if n < 2 {
            return;
        }
        for i in 0..n {
            self.link(members[i], members[(i + 1) % n]);
        }
        let mut stubs: Vec<usize> =
            members.iter().flat_map(|&m| std::iter::repeat_n(m, d.saturating_sub(2))).collect();
        for round in 0..4 {
            self.rng.shuffle(&mut stubs);
            let mut left = Vec::new();
            for c in stubs.chunks(2) {
                match c {
                    [a, b] if a != b && !self.adj[*a].contains(b) => self.link(*a, *b),
                    [a, b] => left.extend([*a, *b]),
                    _ => {}
                }
            }
            stubs = left;
            if stubs.is_empty() || round == 3 {
                break;
            }
        }
    }

    /// A random graph of degree `d` on every node.
    pub fn random_regular(&mut self, d: usize) {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.random_regular_on(&all, d);
    }

    /// Nodes currently linked to `n`.
    pub fn neighbours(&self, n: usize) -> Vec<usize> {
        self.adj[n].iter().copied().collect()
    }

    /// `node` posts an envelope of `size` data bytes on `topic` at `at_ms` after the start
    /// (skipped if it is down then).
    pub fn post_at(&mut self, at_ms: u64, node: usize, topic: Topic, size: usize) {
        self.schedule(EPOCH_MS + at_ms, Ev::Post { node, topic, size });
    }

    /// Stops `node` at `from_ms` (router dropped, links down) and restarts it at `to_ms` with
    /// a fresh router, re-dialling its home links; a light client then asks its mailservers for
    /// what it missed.
    pub fn churn(&mut self, node: usize, from_ms: u64, to_ms: u64) {
        self.msgs.disturbed(EPOCH_MS + from_ms, EPOCH_MS + to_ms);
        self.schedule(EPOCH_MS + from_ms, Ev::Stop { node });
        self.schedule(EPOCH_MS + to_ms, Ev::Restart { node });
    }

    /// Cuts the link a-b from `from_ms` to `to_ms` (packets sent meanwhile are lost; the
    /// routers keep the peer).
    pub fn partition(&mut self, a: usize, b: usize, from_ms: u64, to_ms: u64) {
        self.msgs.disturbed(EPOCH_MS + from_ms, EPOCH_MS + to_ms);
        self.schedule(EPOCH_MS + from_ms, Ev::Cut { a, b });
        self.schedule(EPOCH_MS + to_ms, Ev::Heal { a, b });
    }

    /// Splits the nodes into `side_a` and the rest from `from_ms` to `to_ms`: every packet
    /// between the groups is lost meanwhile.
    pub fn partition_groups(&mut self, side_a: &[usize], from_ms: u64, to_ms: u64) {
        self.msgs.disturbed(EPOCH_MS + from_ms, EPOCH_MS + to_ms);
        let mut side = vec![false; self.nodes.len()];
        for &n in side_a {
            if let Some(s) = side.get_mut(n) {
                *s = true;
            }
        }
        let id = self.groups.len();
        self.groups.push((side, false));
        self.schedule(EPOCH_MS + from_ms, Ev::CutGroups { id });
        self.schedule(EPOCH_MS + to_ms, Ev::HealGroups { id });
    }

    fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&pair(a, b))
            || self.groups.iter().any(|(side, on)| {
                *on && side.get(a).copied().unwrap_or(false)
                    != side.get(b).copied().unwrap_or(false)
            })
    }

    /// Seals `env` to PoW `target` (from its nonce on; deterministic); returns the attempts.
    fn seal_pow(&mut self, env: &mut Envelope, target: f64) -> u64 {
        let mut go = || true;
        let outcome = env.seal(target, SealBudget { max_attempts: 1 << 32, keep_going: &mut go });
        if !outcome.reached {
            self.violation(format!("PoW {target} not reached in {} attempts", outcome.attempts));
        }
        outcome.attempts
    }

    fn want_tick(&mut self, n: usize, at: u64) {
        if self.nodes[n].up && at < self.nodes[n].tick_at {
            self.nodes[n].tick_at = at;
            self.schedule(at, Ev::Tick { node: n, at });
        }
    }

    /// Puts a packet on the link `from`→`to`: bandwidth, latency, loss, duplication, order.
    fn transmit(&mut self, from: usize, to: usize, code: u64, payload: Vec<u8>) {
        let len = payload.len() as u64;
        let Some(state) = self.links.get_mut(&pair(from, to)) else { return };
        let d = dir(from, to);
        let is_messages = code == waku_codes::MESSAGES;
        let mut twice = 0u64;
        if is_messages && !self.nodes[from].kind.hostile() {
            let sent = &mut state.sent[d];
            let _ = for_each_item(&payload, |item| {
                let expiry = envelope_expiry(item).unwrap_or(u32::MAX);
                if sent.insert(fingerprint(item), expiry).is_some() {
                    twice += 1;
                }
            });
        }
        let epoch = state.epoch;
        let link = &self.cfg.link;
        let start = self.now.max(state.busy_until[d]);
        let serialise =
            if link.bandwidth_bps == 0 { 0 } else { (len * 8000).div_ceil(link.bandwidth_bps) };
        state.busy_until[d] = start + serialise;
        let jitter = self.rng.below(link.jitter_ms + 1);
        let mut arrive = start + serialise + link.base_ms + jitter;
        let reorder = is_messages && self.rng.chance(link.reorder);
        if !reorder {
            arrive = arrive.max(state.last_arrival[d]);
            state.last_arrival[d] = arrive;
        }
        *self.bytes_out.entry(self.nodes[from].class).or_default() += len;
        if twice > 0 {
            self.violation(format!(
                "node {from} sent {twice} envelope(s) to node {to} a second time at {} ms",
                self.elapsed_ms()
            ));
        }
        let lost = self.is_cut(from, to) || (is_messages && self.rng.chance(self.cfg.link.loss));
        if lost {
            self.lost += 1;
            return;
        }
        if self.rng.chance(self.cfg.link.duplicate) {
            let again = arrive + 1 + self.rng.below(self.cfg.link.base_ms + 1);
            self.schedule(again, Ev::Deliver { from, to, epoch, code, payload: payload.clone() });
        }
        self.schedule(arrive, Ev::Deliver { from, to, epoch, code, payload });
    }

    fn drain(&mut self, n: usize, after_tick: bool) {
        self.nodes[n].sent_now = false;
        while let Some(out) = self.nodes[n].router.poll_output() {
            match out {
                Output::Send { peer, code, payload } => {
                    if self.nodes[n].kind == Kind::NonRelay && code == waku_codes::MESSAGES {
                        continue;
                    }
                    self.nodes[n].sent_now = true;
                    self.transmit(n, peer.0 as usize, code, payload);
                }
                Output::Disconnect { peer, reason } => {
                    let p = peer.0 as usize;
                    *self.disconnects.entry(drop_label(&reason)).or_default() += 1;
                    let protocol_error = matches!(
                        reason,
                        DropReason::BadPacket { .. } | DropReason::PacketBeforeStatus { .. }
                    );
                    if protocol_error
                        && !self.nodes[p].kind.hostile()
                        && !self.nodes[n].kind.hostile()
                    {
                        self.violation(format!(
                            "honest node {n} dropped honest node {p} ({}) at {} ms",
                            drop_label(&reason),
                            self.elapsed_ms()
                        ));
                    }
                    self.unlink(n, p);
                    self.nodes[p].router.remove_peer(PeerId(n as u64));
                    self.drain(p, false);
                }
                Output::Event(e) => self.event(n, e),
            }
        }
        let sent = self.nodes[n].sent_now;
        let next = to_sim(self.nodes[n].router.next_tick_ms(), self.nodes[n].skew_ms);
        let at = if after_tick && !sent { self.now + IDLE_TICK_MS } else { next.max(self.now + 1) };
        self.want_tick(n, at);
    }

    fn event(&mut self, n: usize, e: Event) {
        match e {
            Event::Accepted { hash, envelope, from } => self.accepted(n, hash, &envelope, from),
            Event::Dropped { reason, .. } => {
                *self.drops.entry(envelope_drop_label(reason)).or_default() += 1
            }
            Event::PeerReady { peer, .. } => self.peer_ready(n, peer.0 as usize),
            Event::Matched { filter, .. } => self.msg_matched(n, filter),
            Event::P2PRequest { peer, payload } => self.serve(n, peer.0 as usize, &payload),
            Event::P2PMessages { peer, envelopes } => {
                let p = peer.0 as usize;
                for env in &envelopes {
                    if self.nodes[n].interest.wants(&env.topic) {
                        let h = fp32(&env.hash());
                        if self.nodes[n].got.insert(h) {
                            self.mail.fetched += 1;
                        }
                    }
                }
                self.mail.delivered_to_clients += envelopes.len() as u64;
                if let Some(h) = self.nodes[n].history.as_mut().filter(|h| h.mailserver == p) {
                    let next = h.request.on_p2p_messages(&envelopes);
                    h.request.take_envelopes();
                    self.history_next(n, next);
                }
            }
            Event::P2PRequestComplete { peer, complete } => {
                let now = self.rnow(n);
                let p = peer.0 as usize;
                if let Some(h) = self.nodes[n].history.as_mut().filter(|h| h.mailserver == p) {
                    let next = h.request.on_complete(&complete, now);
                    self.history_next(n, next);
                }
            }
            _ => {}
        }
    }

    fn accepted(&mut self, n: usize, hash: [u8; 32], env: &Envelope, from: Option<PeerId>) {
        let h = fp32(&hash);
        let node_now_secs = (self.rnow(n) / 1000) as u32;
        let class = self.nodes[n].class;
        if self.nodes[n].live.insert(h, env.expiry).is_some() {
            self.violation(format!("node {n} accepted envelope {h:016x} twice in one life"));
        }
        if env.expiry < node_now_secs {
            self.violation(format!("node {n} accepted expired envelope {h:016x}"));
        }
        if let Some((store, _)) = self.nodes[n].archive.as_ref() {
            let _ = ready(store.put(&[ArchivedEnvelope::new(env)]));
        }
        if from.is_some() {
            *self.new_bytes.entry(class).or_default() += env.encoded_len() as u64;
        }
        self.trace = self.trace.wrapping_add(mix(h ^ (n as u64).rotate_left(40) ^ self.now));
        let wanted = self.nodes[n].interest.wants(&env.topic);
        if self.nodes[n].kind == Kind::Light {
            if wanted {
                self.nodes[n].got.insert(h);
            } else if matches!(self.nodes[n].interest, Interest::Bloom { .. }) {
                self.false_positives += 1;
                self.false_positive_bytes += env.encoded_len() as u64;
            } else if from.is_some() {
                self.violation(format!(
                    "light node {n} got envelope {h:016x} off its topic interest"
                ));
            }
        }
        let Some(_) = from else { return };
        self.conv_envelope(n, env);
        if self.nodes[n].kind.full() {
            self.new_full += 1;
        }
        if let Some(p) = self.posted.get(&h)
            && wanted
            && self.nodes[n].up_since <= p.at_ms
        {
            self.delivered += 1;
            *self.latencies.entry(self.now - p.at_ms).or_default() += 1;
        }
    }

    fn peer_ready(&mut self, n: usize, p: usize) {
        if self.nodes[p].kind != Kind::Mailserver || self.nodes[n].history.is_some() {
            return;
        }
        let Some(from) = self.nodes[n].fetch_from.take() else { return };
        let now = self.rnow(n);
        self.nodes[n].router.mark_trusted(PeerId(p as u64));
        let topics = self.nodes[n].interest.wanted().to_vec();
        let query = HistoryQuery::topics(topics, from, (now / 1000) as u32);
        match HistoryRequest::start(query, ClientConfig::new(RequestForm::Direct), now) {
            Ok((request, out)) => {
                self.nodes[n].history = Some(History { mailserver: p, request });
                self.mail.client_requests += 1;
                self.send_history(n, p, out.to_payload());
            }
            Err(e) => self.violation(format!("node {n} could not ask for history: {e}")),
        }
    }

    fn send_history(&mut self, n: usize, p: usize, payload: Vec<u8>) {
        self.mail.request_bytes += payload.len() as u64;
        self.transmit(n, p, waku_codes::P2P_REQUEST, payload);
        if let Some(deadline) = self.nodes[n].history.as_ref().and_then(|h| h.request.deadline_ms())
        {
            let at = to_sim(deadline, self.nodes[n].skew_ms);
            self.schedule(at.max(self.now + 1), Ev::HistoryTimeout { node: n });
        }
    }

    fn history_next(&mut self, n: usize, next: Next) {
        match next {
            Next::Ignored | Next::Pending => {}
            Next::Request(out) => {
                let Some(p) = self.nodes[n].history.as_ref().map(|h| h.mailserver) else { return };
                self.mail.client_requests += 1;
                self.send_history(n, p, out.to_payload());
            }
            Next::Done(_) => {
                self.mail.completed += 1;
                self.nodes[n].history = None;
            }
            Next::Failed(f) => {
                self.mail.failed += 1;
                self.nodes[n].history = None;
                self.violation(format!("node {n}: history request failed: {:?}", f.reason));
            }
        }
    }

    fn serve(&mut self, n: usize, p: usize, payload: &[u8]) {
        let now = self.rnow(n);
        let Some((store, server)) = self.nodes[n].archive.as_mut() else { return };
        self.mail.requests += 1;
        let packets: Vec<(u64, Vec<u8>)> =
            match server.admit_payload(&PeerId(p as u64), payload, now) {
                Ok(admitted) => match ready(serve_request(store, &admitted)) {
                    Some(reply) => {
                        if let Outcome::Served { envelopes, .. } = reply.outcome {
                            self.mail.served_envelopes += envelopes as u64;
                        }
                        reply.packets().collect()
                    }
                    None => Vec::new(),
                },
                Err(rejection) => {
                    self.mail.rejected += 1;
                    rejection
                        .complete
                        .as_ref()
                        .map(|c| (waku_codes::P2P_REQUEST_COMPLETE, complete_payload(c)))
                        .into_iter()
                        .collect()
                }
            };
        let size: u64 = packets.iter().map(|(_, p)| p.len() as u64).sum();
        self.mail.reply_bytes += size;
        self.mail.largest_reply_bytes = self.mail.largest_reply_bytes.max(size);
        for (code, payload) in packets {
            self.transmit(n, p, code, payload);
        }
    }

    fn post_now(&mut self, n: usize, topic: Topic, size: usize, honest: bool) {
        let id = self.next_id;
        self.next_id += 1;
        let secs = (self.rnow(n) / 1000) as u32;
        let mut data = vec![0u8; size.max(8)];
        data[..8].copy_from_slice(&id.to_be_bytes());
        let ttl = self.cfg.ttl_secs;
        let mut env =
            Envelope { expiry: secs + ttl, ttl, topic, data: bytes::Bytes::from(data), nonce: id };
        if honest && self.cfg.pow > 0.0 {
            self.seal_pow(&mut env, self.cfg.pow);
        }
        if honest {
            let h = fp32(&env.hash());
            let mut expected = self.up_full - u64::from(self.nodes[n].kind.full());
            if let Some(lights) = self.topic_lights.get(&topic) {
                expected += lights.iter().filter(|&&l| l != n && self.nodes[l].up).count() as u64;
            }
            self.expected += expected;
            self.posted.insert(h, Posted { at_ms: self.now, topic });
            self.post_order.push(h);
        }
        let now = self.rnow(n);
        if self.nodes[n].router.post(env, now).is_err() && honest {
            self.post_refused += 1;
        }
        self.drain(n, false);
    }

    fn hostile(&mut self, n: usize, round: u64) {
        if !self.nodes[n].up {
            return;
        }
        let secs = (self.rnow(n) / 1000) as u32;
        let period = match self.nodes[n].kind.clone() {
            Kind::Flooder { per_sec } => {
                let topic = Topic([0xf1, 0x00, 0x00, (round % 251) as u8]);
                self.post_now(n, topic, 256, false);
                1000 / u64::from(per_sec.max(1))
            }
            Kind::RawFlooder { packets_per_sec, envelopes } => {
                let envs: Vec<Envelope> = (0..envelopes)
                    .map(|i| {
                        let nonce = (n as u64) << 40 | round << 12 | u64::from(i);
                        let data = bytes::Bytes::from(nonce.to_be_bytes().repeat(8));
                        Envelope {
                            expiry: secs + 300,
                            ttl: 300,
                            topic: Topic([0xf2, 0, 0, 0]),
                            data,
                            nonce,
                        }
                    })
                    .collect();
                let mut payload = Vec::new();
                WakuPacket::Messages(envs).encode(&mut payload);
                for p in self.neighbours(n) {
                    self.transmit(n, p, waku_codes::MESSAGES, payload.clone());
                }
                1000 / u64::from(packets_per_sec.max(1))
            }
            Kind::BadSender => {
                let payload = match round % 3 {
                    0 | 1 => {
                        let (expiry, ttl) = if round.is_multiple_of(3) {
                            (secs.saturating_sub(10), 5)
                        } else {
                            (secs + 400, 300)
                        };
                        let data = bytes::Bytes::from(round.to_be_bytes().to_vec());
                        let env = Envelope {
                            expiry,
                            ttl,
                            topic: Topic([0xf3, 0, 0, 0]),
                            data,
                            nonce: round,
                        };
                        let mut payload = Vec::new();
                        WakuPacket::Messages(vec![env]).encode(&mut payload);
                        payload
                    }
                    _ => vec![0xf9, 0x01],
                };
                for p in self.neighbours(n) {
                    self.transmit(n, p, waku_codes::MESSAGES, payload.clone());
                }
                1000
            }
            _ => return,
        };
        if !self.adj[n].is_empty() {
            self.schedule(self.now + period.max(1), Ev::Hostile { node: n, round: round + 1 });
        }
    }

    fn stop(&mut self, n: usize) {
        if !self.nodes[n].up {
            return;
        }
        for p in self.neighbours(n) {
            self.unlink(n, p);
            self.nodes[p].router.remove_peer(PeerId(n as u64));
            self.drain(p, false);
        }
        let node = &mut self.nodes[n];
        node.router = Router::new(node.config.clone());
        node.up = false;
        node.down_since = self.now;
        node.tick_at = u64::MAX;
        node.live.clear();
        node.history = None;
        if node.kind.full() {
            self.up_full -= 1;
        }
        self.msg_stop(n);
    }

    fn restart(&mut self, n: usize) {
        if self.nodes[n].up {
            return;
        }
        let node = &mut self.nodes[n];
        node.up = true;
        node.up_since = self.now;
        if node.kind.full() {
            self.up_full += 1;
        }
        if node.kind == Kind::Light {
            let since = node.down_since.saturating_add_signed(node.skew_ms) / 1000;
            node.fetch_from = Some((since as u32).saturating_sub(60));
        }
        for p in self.nodes[n].home.clone() {
            self.connect(n, p);
        }
        self.msg_restart(n);
    }

    fn housekeep(&mut self) {
        let now_secs = (self.now / 1000) as u32;
        let horizon = now_secs.saturating_sub(FORGET_AFTER_SECS);
        for state in self.links.values_mut() {
            for s in &mut state.sent {
                if !s.is_empty() {
                    s.retain(|_, e| *e >= horizon);
                }
            }
        }
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if !node.live.is_empty() {
                node.live.retain(|_, e| *e >= horizon);
            }
            let bytes = node.router.pool_bytes() as u64;
            self.peak_pool_bytes = self.peak_pool_bytes.max(bytes);
            if bytes > node.config.pool.max_bytes as u64 {
                self.violation(format!("node {i} holds {bytes} pool bytes, over its cap"));
            }
        }
        self.schedule(self.now + HOUSEKEEP_MS, Ev::Housekeep);
    }

    /// Runs until `until_ms` after the start and returns the figures.
    pub fn run(&mut self, until_ms: u64) -> Figures {
        let end = EPOCH_MS + until_ms;
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(ev) = self.events.remove(&id) else { continue };
            self.step(ev);
        }
        self.now = self.now.max(end);
        self.figures()
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { from, to, epoch, code, payload } => {
                let live = self.links.get(&pair(from, to)).is_some_and(|s| s.epoch == epoch);
                if !live {
                    self.lost += 1;
                    return;
                }
                *self.bytes_in.entry(self.nodes[to].class).or_default() += payload.len() as u64;
                if code == waku_codes::MESSAGES && self.nodes[to].kind.full() {
                    self.copies_full += for_each_item(&payload, |_| {}).unwrap_or(0) as u64;
                }
                let now = self.rnow(to);
                self.nodes[to].router.handle_packet(PeerId(from as u64), code, &payload, now);
                self.drain(to, false);
            }
            Ev::Tick { node, at } => {
                if self.nodes[node].tick_at != at || !self.nodes[node].up {
                    return;
                }
                self.nodes[node].tick_at = u64::MAX;
                let now = self.rnow(node);
                self.nodes[node].router.tick(now);
                self.drain(node, true);
            }
            Ev::Post { node, topic, size } => {
                if self.nodes[node].up {
                    self.post_now(node, topic, size, true);
                } else {
                    self.posts_skipped += 1;
                }
            }
            Ev::Cut { a, b } => {
                self.cut.insert(pair(a, b));
            }
            Ev::Heal { a, b } => {
                self.cut.remove(&pair(a, b));
            }
            Ev::CutGroups { id } => {
                if let Some(g) = self.groups.get_mut(id) {
                    g.1 = true;
                }
            }
            Ev::HealGroups { id } => {
                if let Some(g) = self.groups.get_mut(id) {
                    g.1 = false;
                }
            }
            Ev::Stop { node } => self.stop(node),
            Ev::Restart { node } => self.restart(node),
            Ev::Hostile { node, round } => self.hostile(node, round),
            Ev::HistoryTimeout { node } => {
                let now = self.rnow(node);
                if let Some(h) = self.nodes[node].history.as_mut()
                    && h.request.deadline_ms().is_some_and(|d| d <= now)
                {
                    let next = h.request.on_timeout(now);
                    self.history_next(node, next);
                }
            }
            Ev::Housekeep => self.housekeep(),
            Ev::ConvSend { conv, side } => self.conv_send(conv, side),
            Ev::ConvTick { conv, side, at } => self.conv_tick(conv, side, at),
            Ev::ConvCheck => self.conv_check(),
            Ev::MsgTick { account, at } => self.msg_tick(account, at),
            Ev::MsgPublic { account, chat } => self.msg_public(account, chat),
            Ev::MsgDirect { from, to } => self.msg_direct(from, to),
            Ev::MsgCheck => self.msg_check(),
        }
    }

    /// Distinct envelopes `node` accepted in its current life (still within their expiry).
    pub fn delivered_to(&self, node: usize) -> usize {
        self.nodes[node].live.len()
    }

    /// Honest envelopes on `node`'s topics posted between `from_ms` and `to_ms` after the
    /// start that it never received (relayed or from a mailserver).
    pub fn missing_for(&self, node: usize, from_ms: u64, to_ms: u64) -> u64 {
        let n = &self.nodes[node];
        self.post_order
            .iter()
            .filter(|h| {
                self.posted.get(h).is_some_and(|p| {
                    (EPOCH_MS + from_ms..=EPOCH_MS + to_ms).contains(&p.at_ms)
                        && n.interest.wants(&p.topic)
                        && !n.got.contains(h)
                })
            })
            .count() as u64
    }

    /// Honest envelopes on `node`'s topics posted between `from_ms` and `to_ms` after the
    /// start.
    pub fn missing_for_total(&self, node: usize, from_ms: u64, to_ms: u64) -> u64 {
        let n = &self.nodes[node];
        self.post_order
            .iter()
            .filter(|h| {
                self.posted.get(h).is_some_and(|p| {
                    (EPOCH_MS + from_ms..=EPOCH_MS + to_ms).contains(&p.at_ms)
                        && n.interest.wants(&p.topic)
                })
            })
            .count() as u64
    }

    /// Invariant violations so far.
    pub fn violations(&self) -> u64 {
        self.violations
    }

    /// The figures so far.
    pub fn figures(&self) -> Figures {
        let total: u64 = self.latencies.values().sum();
        let pct = |p: u64| {
            let rank = (total.saturating_sub(1)) * p / 100;
            let mut seen = 0;
            for (ms, c) in &self.latencies {
                seen += c;
                if seen > rank {
                    return *ms;
                }
            }
            0
        };
        let days = self.elapsed_ms().max(1) as f64 / 86_400_000.0;
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for n in &self.nodes {
            *counts.entry(n.class).or_default() += 1;
        }
        let kinds = counts
            .iter()
            .map(|(class, &count)| {
                let per = |m: &BTreeMap<&'static str, u64>| {
                    m.get(class).copied().unwrap_or(0) as f64 / count as f64 / days
                };
                KindFigures {
                    kind: class.to_string(),
                    nodes: count,
                    bytes_in: self.bytes_in.get(class).copied().unwrap_or(0),
                    bytes_out: self.bytes_out.get(class).copied().unwrap_or(0),
                    in_per_node_day: per(&self.bytes_in),
                    out_per_node_day: per(&self.bytes_out),
                    new_envelope_bytes_per_node_day: per(&self.new_bytes),
                }
            })
            .collect();
        let map = |m: &BTreeMap<&'static str, u64>| {
            m.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<String, u64>>()
        };
        Figures {
            elapsed_ms: self.elapsed_ms(),
            posted: self.post_order.len() as u64,
            posts_skipped: self.posts_skipped,
            expected: self.expected,
            delivered: self.delivered,
            delivery_ratio: if self.expected == 0 {
                1.0
            } else {
                self.delivered as f64 / self.expected as f64
            },
            latency_ms: (pct(50), pct(95), pct(99)),
            copies_in_full: self.copies_full,
            new_in_full: self.new_full,
            duplicates_per_new: if self.new_full == 0 {
                0.0
            } else {
                self.copies_full.saturating_sub(self.new_full) as f64 / self.new_full as f64
            },
            kinds,
            false_positives: self.false_positives,
            false_positive_bytes: self.false_positive_bytes,
            packets_lost: self.lost,
            disconnects: map(&self.disconnects),
            envelope_drops: map(&self.drops),
            post_refused: self.post_refused,
            peak_pool_bytes: self.peak_pool_bytes,
            mail: self.mail.clone(),
            violations: self.violations,
            violation_texts: self.violation_texts.clone(),
            trace: self.trace,
            conversations: self.conv_figures(),
            messengers: self.msg_figures(),
        }
    }
}
