//! [`LegacyDiscovery`]: the sans-io node of legacy topic discovery.
//!
//! Inputs: [`LegacyDiscovery::handle_packet`] (a datagram, its source address and the time) and
//! [`LegacyDiscovery::tick`] (the time). Outputs: datagrams from
//! [`LegacyDiscovery::poll_transmit`], [`Event`]s from [`LegacyDiscovery::poll_event`], and the
//! next time `tick` is due from [`LegacyDiscovery::next_wakeup`]. Times are Unix milliseconds
//! supplied by the caller; packet expirations are Unix seconds derived from them, ticket times
//! are seconds since the machine was created (the "monotonic" clock of the Go registrar).

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    net::{IpAddr, SocketAddr},
};

use wisp_crypto::{NodeId, SecretKey, keccak256};
use wisp_rlpx::NodeRecord;

use super::{
    LOOKUP_ALPHA,
    packet::{
        Endpoint, FindNodeHash, Message, Neighbors, NodeEntry, PROTOCOL_VERSION, Packet,
        PacketError, PacketType, Ping, Pong, Topic, TopicNodes, TopicQuery, TopicRegister,
        topics_hash,
    },
    table::{AddOutcome, BUCKET_SIZE, Table, TableEntry, xor_cmp},
    topics::{MIN_WAIT_PERIOD_S, TopicTable, UseTicket},
};

/// Seconds added to the current time in the `expiration` of packets we send (go-ethereum
/// `expiration`).
pub const PACKET_TTL_S: u64 = 20;
/// A pong proves an endpoint for this long.
const BOND_LIFETIME_MS: u64 = 24 * 3_600_000;
/// Node entries per neighbors / topicNodes packet (12 IPv6 entries still fit in 1280 bytes).
const NODES_PER_PACKET: usize = 12;
/// Nodes we track that are not (yet) in the table, at most.
const MAX_PEERS: usize = 2048;
/// Packet hashes remembered for replay detection, at most.
const MAX_SEEN: usize = 16_384;
/// How long a hash of a packet without expiration is remembered.
const SEEN_NO_EXPIRY_MS: u64 = 300_000;
/// Source addresses tracked by the rate limiter, at most.
const MAX_RATE_SOURCES: usize = 8192;
/// Rounds after which a lookup ends.
const MAX_LOOKUP_QUERIES: usize = 24;
/// Longest interval between two ticks.
const MAX_TICK_MS: u64 = 1000;

/// Settings of a [`LegacyDiscovery`] node.
#[derive(Clone, Debug)]
pub struct Config {
    /// The endpoint we advertise in pings and self-advertised topicNodes entries: our IP,
    /// discovery UDP port and RLPx TCP port (`from.tcp` is what others dial). An unspecified
    /// IP (0.0.0.0) is replaced by receivers with the address our packets come from.
    pub endpoint: Endpoint,
    /// Nodes to bond with first (enode URLs: UDP port from `discport`, else the TCP port).
    pub bootnodes: Vec<NodeRecord>,
    /// Topics to register (self-advertise), e.g. `whisper`; a mailserver adds `whispermail`.
    /// Default: none.
    pub register_topics: Vec<Topic>,
    /// Whether to issue tickets and keep registrations of others (a bootnode does).
    /// Default: true.
    pub serve_registrations: bool,
    /// Exempt loopback addresses from the per-/24 table limits. Default: true.
    pub exempt_loopback: bool,
    /// Shortest wait period of the tickets we issue, seconds. Default: 60 (the Go constant);
    /// tests use 1.
    pub min_wait_period_s: u32,
    /// Packets per second accepted from one source address. Default: 50.
    pub rate_limit_per_s: u32,
    /// Burst of packets accepted from one source address. Default: 100.
    pub rate_limit_burst: u32,
    /// How long to wait for a pong, neighbors or topicNodes. Default: 2 s.
    pub reply_timeout_ms: u64,
    /// Interval between lookups while the table holds fewer than 16 nodes. Default: 5 s.
    pub fast_refresh_ms: u64,
    /// Interval between lookups otherwise. Default: 60 s.
    pub slow_refresh_ms: u64,
    /// Interval between revalidation pings (one table node each time). Default: 10 s.
    pub revalidate_ms: u64,
    /// How often a registration is renewed at each registrar. Default: 10 min.
    pub reregister_ms: u64,
    /// Registrars per topic: the nodes closest to keccak256(topic). Default: 8.
    pub registrars_per_topic: usize,
    /// Nodes a topic search queries per round (the closest to keccak256(topic)). Default: 16.
    pub search_fanout: usize,
    /// Seed of the machine's pseudo-random numbers (lookup targets, pauses). Default: 1.
    pub seed: u64,
}

impl Config {
    /// Defaults for a node advertising `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            bootnodes: Vec::new(),
            register_topics: Vec::new(),
            serve_registrations: true,
            exempt_loopback: true,
            min_wait_period_s: MIN_WAIT_PERIOD_S,
            rate_limit_per_s: 50,
            rate_limit_burst: 100,
            reply_timeout_ms: 2000,
            fast_refresh_ms: 5000,
            slow_refresh_ms: 60_000,
            revalidate_ms: 10_000,
            reregister_ms: 600_000,
            registrars_per_topic: 8,
            search_fanout: 16,
            seed: 1,
        }
    }
}

/// What the node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A node listed under a searched topic (reported once per topic and node).
    NodeFound {
        /// The topic searched.
        topic: Topic,
        /// The node: `tcp_port` is its RLPx port.
        record: NodeRecord,
    },
    /// A node bonded and entered the table.
    NodeAdded(NodeRecord),
    /// We sent a topicRegister to a registrar.
    RegistrationSent {
        /// The topic.
        topic: Topic,
        /// The registrar.
        registrar: NodeId,
    },
    /// A node registered a topic with us (we serve registrations).
    Registered {
        /// The topic.
        topic: Topic,
        /// The registrant.
        record: NodeRecord,
    },
}

/// Packet and drop counters (for metrics, and "discovery traffic per node per minute").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets sent per type (index = type − 1).
    pub sent: [u64; 8],
    /// Valid packets received and handled per type (index = type − 1).
    pub received: [u64; 8],
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received (all datagrams, dropped ones included).
    pub bytes_received: u64,
    /// Datagrams above 1280 bytes.
    pub dropped_oversized: u64,
    /// Datagrams that do not decode.
    pub dropped_malformed: u64,
    /// Datagrams whose signature does not recover.
    pub dropped_bad_signature: u64,
    /// Packets whose expiration is past.
    pub dropped_expired: u64,
    /// Packets seen before (same packet hash) while still valid.
    pub dropped_replayed: u64,
    /// Packets above the per-source rate.
    pub dropped_rate_limited: u64,
    /// Pongs, neighbors and topicNodes that answer nothing we asked.
    pub dropped_unsolicited: u64,
    /// Queries from endpoints that have not bonded.
    pub dropped_not_bonded: u64,
    /// Packets signed with our own key.
    pub dropped_self: u64,
    /// topicRegister packets refused (bad ticket, wrong time, not serving).
    pub registrations_refused: u64,
    /// topicRegister packets accepted.
    pub registrations_accepted: u64,
    /// Nodes not added to the table because their subnet had its share.
    pub table_subnet_rejected: u64,
    /// Nodes not added because their bucket was full.
    pub table_bucket_full: u64,
    /// Requests that got no answer in time.
    pub reply_timeouts: u64,
}

impl Counters {
    /// Packets of `kind` sent.
    pub fn sent(&self, kind: PacketType) -> u64 {
        self.sent.get(kind.index()).copied().unwrap_or(0)
    }

    /// Packets of `kind` received and handled.
    pub fn received(&self, kind: PacketType) -> u64 {
        self.received.get(kind.index()).copied().unwrap_or(0)
    }

    /// All packets sent.
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().sum()
    }

    /// All datagrams dropped, for any reason.
    pub fn total_dropped(&self) -> u64 {
        self.dropped_oversized
            + self.dropped_malformed
            + self.dropped_bad_signature
            + self.dropped_expired
            + self.dropped_replayed
            + self.dropped_rate_limited
            + self.dropped_unsolicited
            + self.dropped_not_bonded
            + self.dropped_self
    }
}

struct Peer {
    addr: SocketAddr,
    endpoint: Endpoint,
    bonded_at_ms: Option<u64>,
    ping_pending: bool,
    last_ping_ms: u64,
}

struct PendingPing {
    id: NodeId,
    addr: SocketAddr,
    deadline_ms: u64,
    topics: Vec<Topic>,
}

struct Lookup {
    target: [u8; 32],
    /// Candidates by id, closest first when sorted.
    seen: HashSet<NodeId>,
    asked: HashSet<NodeId>,
    queries: usize,
}

struct Search {
    interval_ms: u64,
    next_ms: u64,
    found: HashSet<NodeId>,
}

struct RateBucket {
    tokens: f64,
    last_ms: u64,
}

struct ScheduledRegister {
    at_ms: u64,
    to: SocketAddr,
    registrar: NodeId,
    topic: Topic,
    message: Message,
}

/// A legacy topic discovery node (see the module documentation of [`crate::legacy`]).
pub struct LegacyDiscovery {
    key: SecretKey,
    id: NodeId,
    cfg: Config,
    start_ms: u64,
    started: bool,
    table: Table,
    peers: HashMap<NodeId, Peer>,
    pending_pings: HashMap<[u8; 32], PendingPing>,
    /// Nodes we sent a findnode(Hash) to, until the deadline.
    pending_finds: HashMap<NodeId, u64>,
    /// (topicQuery hash, queried node) → (topic, deadline). A node's queries for one topic
    /// are byte-identical whoever they go to, so the hash alone does not name the recipient.
    pending_queries: HashMap<([u8; 32], NodeId), (Topic, u64)>,
    lookup: Option<Lookup>,
    next_refresh_ms: u64,
    next_revalidate_ms: u64,
    searches: BTreeMap<Topic, Search>,
    /// Registrar → when our registrations there are next due.
    registrars: HashMap<NodeId, u64>,
    scheduled: Vec<ScheduledRegister>,
    topic_table: TopicTable,
    rate: HashMap<SocketAddr, RateBucket>,
    seen: HashMap<[u8; 32], u64>,
    seen_order: VecDeque<[u8; 32]>,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    counters: Counters,
    rng: u64,
}

impl LegacyDiscovery {
    /// A node with key `key`, created at `now_ms` (Unix milliseconds).
    pub fn new(key: SecretKey, cfg: Config, now_ms: u64) -> Self {
        let id = key.public_key().node_id();
        let table = Table::new(&id, cfg.exempt_loopback);
        let topic_table = TopicTable::new(cfg.min_wait_period_s);
        let rng = cfg.seed
            ^ u64::from_le_bytes(keccak256(id.as_bytes())[..8].try_into().unwrap_or([1; 8]))
            | 1;
        Self {
            key,
            id,
            start_ms: now_ms,
            started: false,
            table,
            peers: HashMap::new(),
            pending_pings: HashMap::new(),
            pending_finds: HashMap::new(),
            pending_queries: HashMap::new(),
            lookup: None,
            next_refresh_ms: now_ms,
            next_revalidate_ms: now_ms.saturating_add(cfg.revalidate_ms),
            searches: BTreeMap::new(),
            registrars: HashMap::new(),
            scheduled: Vec::new(),
            topic_table,
            rate: HashMap::new(),
            seen: HashMap::new(),
            seen_order: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            rng,
            cfg,
        }
    }

    /// Our node id.
    pub fn local_id(&self) -> NodeId {
        self.id
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Nodes in the table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// The nodes in the table.
    pub fn table_nodes(&self) -> Vec<NodeRecord> {
        self.table.iter().map(|e| record(e.id, &e.endpoint)).collect()
    }

    /// Registrations of others we hold.
    pub fn registrations_held(&self) -> usize {
        self.topic_table.len()
    }

    /// Searches `topic` every `interval_ms` (at least 100 ms), starting now. Each node found is
    /// reported once per call: calling again (to change the interval, or to resume after a
    /// stop) reports the nodes found so far again as they are seen.
    pub fn search(&mut self, topic: Topic, interval_ms: u64, now_ms: u64) {
        self.searches.insert(
            topic,
            Search { interval_ms: interval_ms.max(100), next_ms: now_ms, found: HashSet::new() },
        );
    }

    /// Stops searching `topic`.
    pub fn stop_search(&mut self, topic: &Topic) {
        self.searches.remove(topic);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::tick`] is next due (Unix milliseconds).
    pub fn next_wakeup(&self, now_ms: u64) -> u64 {
        let mut t = now_ms
            .saturating_add(MAX_TICK_MS)
            .min(self.next_refresh_ms)
            .min(self.next_revalidate_ms);
        for s in self.searches.values() {
            t = t.min(s.next_ms);
        }
        for r in &self.scheduled {
            t = t.min(r.at_ms);
        }
        for p in self.pending_pings.values() {
            t = t.min(p.deadline_ms);
        }
        t.max(now_ms)
    }

    fn now_s(now_ms: u64) -> u64 {
        now_ms / 1000
    }

    fn mono_s(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.start_ms) / 1000
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn send(&mut self, to: SocketAddr, message: &Message) -> [u8; 32] {
        let packet = message.sign(&self.key);
        let kind = message.kind();
        if let Some(c) = self.counters.sent.get_mut(kind.index()) {
            *c += 1;
        }
        self.counters.bytes_sent += packet.bytes.len() as u64;
        self.transmits.push_back((to, packet.bytes));
        packet.hash
    }

    fn rate_ok(&mut self, from: SocketAddr, now_ms: u64) -> bool {
        if self.rate.len() >= MAX_RATE_SOURCES && !self.rate.contains_key(&from) {
            let burst = f64::from(self.cfg.rate_limit_burst);
            let per_ms = f64::from(self.cfg.rate_limit_per_s) / 1000.0;
            // Forget sources whose bucket has refilled: they lose nothing.
            self.rate
                .retain(|_, b| b.tokens + now_ms.saturating_sub(b.last_ms) as f64 * per_ms < burst);
            if self.rate.len() >= MAX_RATE_SOURCES {
                return false;
            }
        }
        let burst = f64::from(self.cfg.rate_limit_burst);
        let per_ms = f64::from(self.cfg.rate_limit_per_s) / 1000.0;
        let b = self.rate.entry(from).or_insert(RateBucket { tokens: burst, last_ms: now_ms });
        b.tokens = (b.tokens + now_ms.saturating_sub(b.last_ms) as f64 * per_ms).min(burst);
        b.last_ms = b.last_ms.max(now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Remembers `hash` until `until_ms`; false if it was already remembered (a replay).
    fn first_sight(&mut self, hash: [u8; 32], until_ms: u64, now_ms: u64) -> bool {
        if let Some(&until) = self.seen.get(&hash)
            && until >= now_ms
        {
            return false;
        }
        while self.seen.len() >= MAX_SEEN {
            let Some(old) = self.seen_order.pop_front() else { break };
            self.seen.remove(&old);
        }
        if self.seen.insert(hash, until_ms).is_none() {
            self.seen_order.push_back(hash);
        }
        true
    }

    /// Handles one received datagram from `from` at `now_ms`.
    pub fn handle_packet(&mut self, from: SocketAddr, datagram: &[u8], now_ms: u64) {
        self.counters.bytes_received += datagram.len() as u64;
        if !self.rate_ok(from, now_ms) {
            self.counters.dropped_rate_limited += 1;
            return;
        }
        let packet = match Packet::decode(datagram) {
            Ok(p) => p,
            Err(PacketError::TooLarge { .. }) => {
                self.counters.dropped_oversized += 1;
                return;
            }
            Err(PacketError::BadSignature) => {
                self.counters.dropped_bad_signature += 1;
                return;
            }
            Err(e) => {
                tracing::trace!(target: "discovery::legacy", %from, error = %e, "malformed packet");
                self.counters.dropped_malformed += 1;
                return;
            }
        };
        if packet.sender == self.id {
            self.counters.dropped_self += 1;
            return;
        }
        let expiration = match &packet.message {
            Message::Ping(m) => Some(m.expiration),
            Message::FindNode(m) => Some(m.expiration),
            Message::Neighbors(m) => Some(m.expiration),
            Message::FindNodeHash(m) => Some(m.expiration),
            _ => None,
        };
        if let Some(exp) = expiration
            && exp < Self::now_s(now_ms)
        {
            self.counters.dropped_expired += 1;
            return;
        }
        // Replays are checked for the packets that change state: ping (a new ticket each
        // time), pong and topicRegister. Queries are exempt: topicQuery has no expiration
        // (always 0), so a searcher's repeated queries are byte-identical, and a lookup may
        // repeat a findnode(Hash) within one second; answering twice is harmless (and
        // rate-limited). Answers (neighbors, topicNodes) are accepted only while their request
        // is pending, and identical answers to identical queries are legitimate.
        if matches!(
            packet.message.kind(),
            PacketType::Ping | PacketType::Pong | PacketType::TopicRegister
        ) {
            let until = match expiration {
                Some(exp) => exp.saturating_add(1).saturating_mul(1000),
                None => now_ms.saturating_add(SEEN_NO_EXPIRY_MS),
            };
            if !self.first_sight(packet.hash, until, now_ms) {
                self.counters.dropped_replayed += 1;
                return;
            }
        }
        let kind = packet.message.kind();
        let sender = packet.sender;
        let handled = match packet.message {
            Message::Ping(m) => {
                self.on_ping(from, sender, packet.hash, m, now_ms);
                true
            }
            Message::Pong(m) => self.on_pong(from, sender, m, datagram, now_ms),
            Message::FindNode(m) => {
                self.on_find(from, sender, keccak256(m.target.as_bytes()), now_ms)
            }
            Message::FindNodeHash(m) => self.on_find(from, sender, m.target, now_ms),
            Message::Neighbors(m) => self.on_neighbors(from, sender, m, now_ms),
            Message::TopicRegister(m) => self.on_register(from, sender, m, now_ms),
            Message::TopicQuery(m) => self.on_query(from, sender, packet.hash, m, now_ms),
            Message::TopicNodes(m) => self.on_topic_nodes(from, sender, m, now_ms),
        };
        if handled && let Some(c) = self.counters.received.get_mut(kind.index()) {
            *c += 1;
        }
    }

    fn bonded(&self, id: &NodeId, from: SocketAddr, now_ms: u64) -> bool {
        self.peers.get(id).is_some_and(|p| {
            p.addr == from
                && p.bonded_at_ms.is_some_and(|t| now_ms.saturating_sub(t) < BOND_LIFETIME_MS)
        })
    }

    fn ping(&mut self, id: NodeId, addr: SocketAddr, now_ms: u64) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        // One ping per second at most: two pings within a second would be byte-identical
        // (same expiration, deterministic signature) and the second one dropped as a replay.
        if peer.ping_pending
            || (peer.last_ping_ms != 0 && now_ms.saturating_sub(peer.last_ping_ms) < 1000)
        {
            return;
        }
        peer.ping_pending = true;
        peer.last_ping_ms = now_ms;
        let to = peer.endpoint;
        let topics = self.cfg.register_topics.clone();
        let msg = Message::Ping(Ping {
            version: PROTOCOL_VERSION,
            from: self.cfg.endpoint,
            to,
            expiration: Self::now_s(now_ms) + PACKET_TTL_S,
            topics: topics.clone(),
        });
        let hash = self.send(addr, &msg);
        let deadline_ms = now_ms.saturating_add(self.cfg.reply_timeout_ms);
        self.pending_pings.insert(hash, PendingPing { id, addr, deadline_ms, topics });
    }

    /// Starts tracking a node we heard of; false when we track too many.
    fn learn(&mut self, id: NodeId, addr: SocketAddr, endpoint: Endpoint) -> bool {
        if id == self.id {
            return false;
        }
        if let Some(p) = self.peers.get_mut(&id) {
            if p.bonded_at_ms.is_none() {
                p.addr = addr;
                p.endpoint = endpoint;
            }
            return true;
        }
        if self.peers.len() >= MAX_PEERS {
            // Forget one node that is neither bonded nor being pinged.
            let victim = self
                .peers
                .iter()
                .find(|(_, p)| p.bonded_at_ms.is_none() && !p.ping_pending)
                .map(|(id, _)| *id);
            match victim {
                Some(v) => {
                    self.peers.remove(&v);
                }
                None => return false,
            }
        }
        self.peers.insert(
            id,
            Peer { addr, endpoint, bonded_at_ms: None, ping_pending: false, last_ping_ms: 0 },
        );
        true
    }

    fn on_ping(&mut self, from: SocketAddr, sender: NodeId, hash: [u8; 32], m: Ping, now_ms: u64) {
        // What others dial: the address the packet came from, the TCP port it advertises.
        let endpoint = Endpoint { ip: from.ip(), udp: from.port(), tcp: m.from.tcp };
        let (ticket_serial, wait_periods) = if self.cfg.serve_registrations {
            self.topic_table.issue(sender, &m.topics, now_ms)
        } else {
            (0, vec![self.cfg.min_wait_period_s; m.topics.len()])
        };
        let pong = Message::Pong(Pong {
            to: endpoint,
            reply_tok: hash,
            expiration: self.mono_s(now_ms),
            topic_hash: topics_hash(&m.topics),
            ticket_serial,
            wait_periods,
        });
        self.send(from, &pong);
        let known = self.learn(sender, from, endpoint);
        if let Some(p) = self.peers.get_mut(&sender)
            && p.bonded_at_ms.is_some()
        {
            p.endpoint = endpoint;
        }
        if known && !self.bonded(&sender, from, now_ms) {
            self.ping(sender, from, now_ms);
        }
    }

    fn on_pong(
        &mut self,
        from: SocketAddr,
        sender: NodeId,
        m: Pong,
        raw: &[u8],
        now_ms: u64,
    ) -> bool {
        let matches =
            self.pending_pings.get(&m.reply_tok).is_some_and(|p| p.id == sender && p.addr == from);
        if !matches {
            self.counters.dropped_unsolicited += 1;
            return false;
        }
        let Some(pending) = self.pending_pings.remove(&m.reply_tok) else { return false };
        let Some(peer) = self.peers.get_mut(&sender) else { return true };
        peer.ping_pending = false;
        peer.bonded_at_ms = Some(now_ms);
        let entry = TableEntry::new(sender, from, peer.endpoint);
        match self.table.add(entry) {
            AddOutcome::Added => {
                self.events.push_back(Event::NodeAdded(record(sender, &peer.endpoint)))
            }
            AddOutcome::SubnetLimit => self.counters.table_subnet_rejected += 1,
            AddOutcome::BucketFull => self.counters.table_bucket_full += 1,
            AddOutcome::Present | AddOutcome::IsSelf => {}
        }
        // A pong to a ping that listed topics is a ticket.
        let is_ticket = !pending.topics.is_empty()
            && m.topic_hash == topics_hash(&pending.topics)
            && m.wait_periods.len() == pending.topics.len();
        let due = self.registrars.get(&sender).is_some_and(|&due| due <= now_ms);
        if is_ticket && due && self.table.get(&sender).is_some() {
            {
                let bytes = raw.to_vec();
                for (idx, (topic, wait)) in pending.topics.iter().zip(&m.wait_periods).enumerate() {
                    let message = Message::TopicRegister(TopicRegister {
                        topics: pending.topics.clone(),
                        idx: idx as u64,
                        pong: bytes.clone(),
                    });
                    self.scheduled.push(ScheduledRegister {
                        at_ms: now_ms.saturating_add(u64::from(*wait) * 1000 + 200),
                        to: from,
                        registrar: sender,
                        topic: topic.clone(),
                        message,
                    });
                }
                self.registrars.insert(sender, now_ms.saturating_add(self.cfg.reregister_ms));
            }
        }
        true
    }

    fn on_find(&mut self, from: SocketAddr, sender: NodeId, target: [u8; 32], now_ms: u64) -> bool {
        if !self.bonded(&sender, from, now_ms) {
            self.counters.dropped_not_bonded += 1;
            return false;
        }
        let closest = self.table.closest(&target, BUCKET_SIZE);
        let nodes: Vec<NodeEntry> =
            closest.iter().map(|e| NodeEntry { endpoint: e.endpoint, id: e.id }).collect();
        let expiration = Self::now_s(now_ms) + PACKET_TTL_S;
        if nodes.is_empty() {
            self.send(from, &Message::Neighbors(Neighbors { nodes: Vec::new(), expiration }));
        }
        for chunk in nodes.chunks(NODES_PER_PACKET) {
            self.send(from, &Message::Neighbors(Neighbors { nodes: chunk.to_vec(), expiration }));
        }
        true
    }

    fn on_neighbors(
        &mut self,
        from: SocketAddr,
        sender: NodeId,
        m: Neighbors,
        now_ms: u64,
    ) -> bool {
        let asked = self.pending_finds.get(&sender).is_some_and(|&d| d >= now_ms)
            && self.peers.get(&sender).is_some_and(|p| p.addr == from);
        if !asked {
            self.counters.dropped_unsolicited += 1;
            return false;
        }
        for n in m.nodes.into_iter().take(BUCKET_SIZE) {
            self.consider(n, now_ms);
        }
        true
    }

    /// A node entry from neighbors or topicNodes: track it, ping it if unknown, and offer it
    /// to the running lookup.
    fn consider(&mut self, n: NodeEntry, now_ms: u64) {
        if n.id == self.id || !usable_ip(n.endpoint.ip) || n.endpoint.udp == 0 {
            return;
        }
        let addr = SocketAddr::new(n.endpoint.ip, n.endpoint.udp);
        let known = self.peers.contains_key(&n.id);
        if !known {
            if n.id.public_key().is_err() || !self.learn(n.id, addr, n.endpoint) {
                return;
            }
            self.ping(n.id, addr, now_ms);
        }
        if let Some(l) = self.lookup.as_mut() {
            l.seen.insert(n.id);
        }
    }

    fn on_register(
        &mut self,
        from: SocketAddr,
        sender: NodeId,
        m: TopicRegister,
        now_ms: u64,
    ) -> bool {
        if !self.cfg.serve_registrations {
            self.counters.registrations_refused += 1;
            return false;
        }
        // The ticket must be our own pong, for this topic list, to this sender's address.
        let ticket = match Packet::decode(&m.pong) {
            Ok(Packet { message: Message::Pong(p), sender: signer, .. }) if signer == self.id => p,
            _ => {
                self.counters.registrations_refused += 1;
                return false;
            }
        };
        let idx = usize::try_from(m.idx).unwrap_or(usize::MAX);
        let (Some(topic), Some(&wait)) = (m.topics.get(idx), ticket.wait_periods.get(idx)) else {
            self.counters.registrations_refused += 1;
            return false;
        };
        if ticket.topic_hash != topics_hash(&m.topics)
            || ticket.wait_periods.len() != m.topics.len()
            || ticket.to.ip != from.ip()
            || ticket.to.udp != from.port()
        {
            self.counters.registrations_refused += 1;
            return false;
        }
        let node = NodeEntry { endpoint: ticket.to, id: sender };
        let unit = ((self.random() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let now_s = self.mono_s(now_ms);
        match self.topic_table.spend(
            node,
            ticket.ticket_serial,
            topic,
            ticket.expiration,
            wait,
            now_s,
            now_ms,
            unit,
        ) {
            UseTicket::Refused => {
                self.counters.registrations_refused += 1;
                false
            }
            outcome => {
                self.counters.registrations_accepted += 1;
                if outcome == UseTicket::Registered {
                    self.events.push_back(Event::Registered {
                        topic: topic.clone(),
                        record: record(sender, &ticket.to),
                    });
                }
                true
            }
        }
    }

    fn on_query(
        &mut self,
        from: SocketAddr,
        sender: NodeId,
        hash: [u8; 32],
        m: TopicQuery,
        now_ms: u64,
    ) -> bool {
        if !self.bonded(&sender, from, now_ms) {
            self.counters.dropped_not_bonded += 1;
            return false;
        }
        let mut nodes = self.topic_table.entries(&m.topic, now_ms);
        // Self-advertising: a node that registers the topic lists itself.
        if self.cfg.register_topics.contains(&m.topic) {
            nodes.retain(|n| n.id != self.id);
            nodes.push(NodeEntry { endpoint: self.cfg.endpoint, id: self.id });
        }
        if nodes.is_empty() {
            self.send(from, &Message::TopicNodes(TopicNodes { echo: hash, nodes: Vec::new() }));
        }
        for chunk in nodes.chunks(NODES_PER_PACKET) {
            self.send(from, &Message::TopicNodes(TopicNodes { echo: hash, nodes: chunk.to_vec() }));
        }
        true
    }

    fn on_topic_nodes(
        &mut self,
        from: SocketAddr,
        sender: NodeId,
        m: TopicNodes,
        now_ms: u64,
    ) -> bool {
        let topic = match self.pending_queries.get(&(m.echo, sender)) {
            Some((topic, deadline)) if *deadline >= now_ms => topic.clone(),
            _ => {
                self.counters.dropped_unsolicited += 1;
                return false;
            }
        };
        if self.peers.get(&sender).is_none_or(|p| p.addr != from) {
            self.counters.dropped_unsolicited += 1;
            return false;
        }
        for mut n in m.nodes {
            // A node listing itself from behind an unspecified address (it listens on
            // 0.0.0.0): it is where its packet came from.
            if n.id == sender && n.endpoint.ip.is_unspecified() {
                n.endpoint.ip = from.ip();
            }
            if n.id == self.id || !usable_ip(n.endpoint.ip) {
                continue;
            }
            if let Some(search) = self.searches.get_mut(&topic)
                && search.found.insert(n.id)
            {
                self.events.push_back(Event::NodeFound {
                    topic: topic.clone(),
                    record: record(n.id, &n.endpoint),
                });
            }
            self.consider(n, now_ms);
        }
        true
    }

    /// Runs the timers due at `now_ms`.
    pub fn tick(&mut self, now_ms: u64) {
        if !self.started {
            self.started = true;
            for b in self.cfg.bootnodes.clone() {
                let endpoint = Endpoint { ip: b.address, udp: b.udp_port, tcp: b.tcp_port };
                let addr = SocketAddr::new(b.address, b.udp_port);
                if self.learn(b.id, addr, endpoint) {
                    self.ping(b.id, addr, now_ms);
                }
            }
        }
        self.expire(now_ms);
        if now_ms >= self.next_refresh_ms {
            // Bootnodes that fell out of the table (or never answered) are tried again.
            for b in self.cfg.bootnodes.clone() {
                let addr = SocketAddr::new(b.address, b.udp_port);
                if self.table.get(&b.id).is_none() && self.peers.contains_key(&b.id) {
                    self.ping(b.id, addr, now_ms);
                }
            }
        }
        if now_ms >= self.next_refresh_ms {
            let fast = self.table.len() < BUCKET_SIZE;
            let interval = if fast { self.cfg.fast_refresh_ms } else { self.cfg.slow_refresh_ms };
            self.next_refresh_ms = now_ms.saturating_add(interval.max(100));
            let target = if self.random().is_multiple_of(2) {
                keccak256(self.id.as_bytes())
            } else {
                let mut t = [0u8; 32];
                for chunk in t.chunks_mut(8) {
                    chunk.copy_from_slice(&self.random().to_le_bytes());
                }
                t
            };
            let seen = self.table.iter().map(|e| e.id).collect();
            self.lookup = Some(Lookup { target, seen, asked: HashSet::new(), queries: 0 });
        }
        self.step_lookup(now_ms);
        if now_ms >= self.next_revalidate_ms {
            self.next_revalidate_ms = now_ms.saturating_add(self.cfg.revalidate_ms.max(100));
            let oldest = self
                .table
                .iter()
                .filter_map(|e| self.peers.get(&e.id).map(|p| (p.last_ping_ms, e.id, e.addr)))
                .min();
            if let Some((_, id, addr)) = oldest {
                self.ping(id, addr, now_ms);
            }
        }
        self.request_tickets(now_ms);
        self.send_due_registrations(now_ms);
        self.run_searches(now_ms);
    }

    fn expire(&mut self, now_ms: u64) {
        let expired: Vec<[u8; 32]> = self
            .pending_pings
            .iter()
            .filter(|(_, p)| p.deadline_ms <= now_ms)
            .map(|(h, _)| *h)
            .collect();
        for h in expired {
            let Some(p) = self.pending_pings.remove(&h) else { continue };
            self.counters.reply_timeouts += 1;
            // No pong: the node is gone (or never was) at that address.
            self.table.remove(&p.id);
            self.registrars.remove(&p.id);
            if let Some(peer) = self.peers.get_mut(&p.id) {
                peer.ping_pending = false;
                peer.bonded_at_ms = None;
            }
            if !self.cfg.bootnodes.iter().any(|b| b.id == p.id) {
                self.peers.remove(&p.id);
            }
        }
        self.pending_finds.retain(|_, d| *d >= now_ms);
        self.pending_queries.retain(|_, (_, d)| *d >= now_ms);
        let peers = &self.peers;
        self.scheduled.retain(|r| peers.contains_key(&r.registrar));
        if self.seen.len() > MAX_SEEN / 2 {
            self.seen.retain(|_, until| *until >= now_ms);
            let seen = &self.seen;
            self.seen_order.retain(|h| seen.contains_key(h));
        }
    }

    fn step_lookup(&mut self, now_ms: u64) {
        let Some(lookup) = self.lookup.as_mut() else { return };
        let in_flight =
            lookup.asked.iter().filter(|id| self.pending_finds.contains_key(id)).count();
        if lookup.queries >= MAX_LOOKUP_QUERIES {
            if in_flight == 0 {
                self.lookup = None;
            }
            return;
        }
        let target = lookup.target;
        let mut candidates: Vec<(NodeId, [u8; 32], SocketAddr)> = lookup
            .seen
            .iter()
            .filter(|id| !lookup.asked.contains(id))
            .filter_map(|id| {
                let p = self.peers.get(id)?;
                let bonded =
                    p.bonded_at_ms.is_some_and(|t| now_ms.saturating_sub(t) < BOND_LIFETIME_MS);
                bonded.then(|| (*id, keccak256(id.as_bytes()), p.addr))
            })
            .collect();
        candidates.sort_by(|a, b| xor_cmp(&target, &a.1, &b.1));
        let waiting_for_bonds =
            lookup.seen.iter().any(|id| self.peers.get(id).is_some_and(|p| p.ping_pending));
        if candidates.is_empty() && in_flight == 0 && !waiting_for_bonds {
            self.lookup = None;
            return;
        }
        let free = LOOKUP_ALPHA.saturating_sub(in_flight);
        let picks: Vec<(NodeId, SocketAddr)> =
            candidates.into_iter().take(free).map(|(id, _, a)| (id, a)).collect();
        for (id, addr) in picks {
            if let Some(l) = self.lookup.as_mut() {
                l.asked.insert(id);
                l.queries += 1;
            }
            self.pending_finds.insert(id, now_ms.saturating_add(self.cfg.reply_timeout_ms));
            let msg = Message::FindNodeHash(FindNodeHash {
                target,
                expiration: Self::now_s(now_ms) + PACKET_TTL_S,
            });
            self.send(addr, &msg);
        }
    }

    fn request_tickets(&mut self, now_ms: u64) {
        if self.cfg.register_topics.is_empty() {
            return;
        }
        let mut chosen: HashSet<NodeId> = HashSet::new();
        for topic in self.cfg.register_topics.clone() {
            for e in self.table.closest(&topic.hash(), self.cfg.registrars_per_topic) {
                chosen.insert(e.id);
            }
        }
        for id in chosen {
            let due = *self.registrars.entry(id).or_insert(now_ms);
            if due <= now_ms
                && let Some(addr) = self.table.get(&id).map(|e| e.addr)
                && self.peers.get(&id).is_some_and(|p| {
                    !p.ping_pending && now_ms.saturating_sub(p.last_ping_ms) >= 1000
                })
            {
                // Every ping lists our topics: its pong is the ticket.
                self.ping(id, addr, now_ms);
            }
        }
    }

    fn send_due_registrations(&mut self, now_ms: u64) {
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.scheduled).into_iter().partition(|r| r.at_ms <= now_ms);
        self.scheduled = later;
        for r in due {
            self.send(r.to, &r.message);
            self.events
                .push_back(Event::RegistrationSent { topic: r.topic, registrar: r.registrar });
        }
    }

    fn run_searches(&mut self, now_ms: u64) {
        let due: Vec<Topic> = self
            .searches
            .iter()
            .filter(|(_, s)| s.next_ms <= now_ms)
            .map(|(t, _)| t.clone())
            .collect();
        for topic in due {
            if let Some(s) = self.searches.get_mut(&topic) {
                s.next_ms = now_ms.saturating_add(s.interval_ms);
            }
            for e in self.table.closest(&topic.hash(), self.cfg.search_fanout) {
                let msg = Message::TopicQuery(TopicQuery { topic: topic.clone(), expiration: 0 });
                let hash = self.send(e.addr, &msg);
                self.pending_queries.insert(
                    (hash, e.id),
                    (topic.clone(), now_ms.saturating_add(self.cfg.reply_timeout_ms)),
                );
            }
        }
    }
}

fn record(id: NodeId, e: &Endpoint) -> NodeRecord {
    NodeRecord { id, address: e.ip, tcp_port: e.tcp, udp_port: e.udp }
}

fn usable_ip(ip: IpAddr) -> bool {
    !(ip.is_unspecified() || ip.is_multicast())
}
