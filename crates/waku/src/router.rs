//! The Waku router: the per-peer protocol (`waku/1` and `shh/6`) and the envelope pool, as one
//! sans-io state machine.
//!
//! Inputs: peers joining and leaving, their packets as `(code, payload)`, envelopes posted
//! locally, and the time (milliseconds since the Unix epoch) with every call. Outputs, taken
//! with [`Router::poll_output`]: packets to send, peers to disconnect with a reason, and events
//! for the archive, filters and metrics. `wisp-node` binds this to RLPx; the simulator drives
//! it on a virtual clock.
//!
//! Rules (6/WAKU1, EIP-627, DECISIONS 3, 4, 12, 21, 22):
//! - the Status handshake comes first: other packets before it disconnect the peer, a
//!   missing Status times out, a later Status is ignored;
//! - an envelope is validated (TTL, future timestamp beyond the sync allowance, expiry, PoW at
//!   least our minimum), deduplicated by hash until it expires, handed to local filters, and
//!   relayed unless we are a light node;
//! - the pool is capped by count and bytes, each peer's envelopes by a share of both; a full
//!   pool evicts the envelopes of lowest PoW per byte (see [`crate::pool`]);
//! - a peer gets only what it asked for (topic interest wins over bloom; a full bloom means
//!   everything; its PoW requirement), never an envelope it sent or was sent, in one Messages
//!   batch per transmission cycle, split into packets that every peer accepts (at most
//!   1 MiB, status-go's limit, and 5 000 envelopes) and paced under the rate limits it
//!   advertised;
//! - a well-formed Messages packet with more envelopes than we decode is dropped and counted,
//!   not held against its sender;
//! - peers over their packet or byte rate are dropped; the others are served on;
//! - future-dated envelopes warn, then drop the peer; the count decays over time;
//! - confirmations (Message Response, then Batch Ack) when enabled; a Message Response with
//!   the time-sync errors alone to a peer that speaks confirmations otherwise;
//! - `waku/1` and `shh/6` peers share the pool, so envelopes are bridged between them; the
//!   two differ only in data ([`Capability::codes`], the Status shape).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::IpAddr,
};

use crate::{
    envelope::Envelope,
    filter::{FilterId, Filters},
    packets::{
        Codes, EnvelopeErrorReport, MessageResponse, PacketLimits, WAKU_CODES, WHISPER_CODES,
        WakuPacket, WhisperPacket, batch_hash,
    },
    pool::{Full, Pool, PoolLimits, Stored, shrink_map, shrink_set},
    ratelimit::{Exceeded, RateLimitConfig, RateLimiter},
    status::{RateLimits, StatusOptions, WhisperStatus},
    topic::{Bloom, Topic},
};

/// The Status send/receive minimum PoW of status-go mobile clients (DECISIONS 4).
pub const DEFAULT_MIN_POW: f64 = 0.000002;
/// Envelopes dated this far in the future are still accepted (status-go's sync allowance).
pub const DEFAULT_SYNC_ALLOWANCE_SECS: u32 = 10;
/// How often queued envelopes are sent to peers (status-go: 300 ms).
pub const DEFAULT_TRANSMISSION_CYCLE_MS: u64 = 300;
/// How long a peer has to send its Status.
pub const DEFAULT_STATUS_TIMEOUT_MS: u64 = 5_000;
/// Outgoing Messages packets are split so that none exceeds this. 6/WAKU1 suggests 1.5 MB,
/// but status-go disconnects a peer whose packet exceeds its `MaxMessageSize`, 1 MiB by
/// default (`waku/common/const.go` `DefaultMaxMessageSize`): 1 MiB is what every peer takes.
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1 << 20;
/// Outgoing Messages packets are split so that none holds more envelopes than this: half of
/// what a wisp peer decodes ([`crate::packets::DEFAULT_MAX_ENVELOPES`]); status-go sets no
/// number.
pub const DEFAULT_MAX_PACKET_ENVELOPES: usize = crate::packets::DEFAULT_MAX_ENVELOPES / 2;
/// A future-dated envelope is forgiven after this many seconds (DECISIONS 12).
pub const DEFAULT_FUTURE_OFFENCE_DECAY_SECS: u32 = 60;
/// Error code of a Message Response for an envelope out of time sync (6/WAKU1).
pub const TIME_SYNC_ERROR: u64 = 1;
/// Whisper's protocol version in its Status.
pub const WHISPER_VERSION: u64 = 6;

/// A peer, as the driver numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Which capability a peer speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `waku/1`.
    Waku,
    /// `shh/6`.
    Whisper,
}

impl Capability {
    /// The capability's packet codes: where `waku/1` and `shh/6` differ, as data.
    pub fn codes(self) -> &'static Codes {
        match self {
            Self::Waku => &WAKU_CODES,
            Self::Whisper => &WHISPER_CODES,
        }
    }

    /// The confirmation of a received batch (6/WAKU1, DECISIONS 22) as `(code, payload)`
    /// packets: the Message Response with its errors, then the Batch Ack (the bare hash).
    pub fn confirmation_packets(
        self,
        batch_hash: [u8; 32],
        errors: Vec<EnvelopeErrorReport>,
    ) -> [(u64, Vec<u8>); 2] {
        let codes = self.codes();
        let response = MessageResponse::new(batch_hash, errors);
        let mut r = Vec::with_capacity(response.encoded_len());
        response.encode(&mut r);
        let mut a = Vec::with_capacity(33);
        alloy_rlp::Encodable::encode(&batch_hash, &mut a);
        [(codes.message_response, r), (codes.batch_ack, a)]
    }
}

/// Settings of the router. Every field has a documented default.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Envelopes with less PoW are dropped; advertised to peers. Default: 0.000002.
    pub min_pow: f64,
    /// Largest envelope accepted. Default: 1 MiB.
    pub max_envelope_size: usize,
    /// Outgoing Messages packets are split at this size. Default: 1 MiB (status-go's limit).
    pub max_packet_size: usize,
    /// Outgoing Messages packets are split at this many envelopes. Default: 5 000.
    pub max_packet_envelopes: usize,
    /// The caps of the envelope pool. Default: 100 000 envelopes, 64 MiB, a quarter of each
    /// per peer.
    pub pool: PoolLimits,
    /// Seconds an envelope may be dated in the future. Default: 10.
    pub sync_allowance_secs: u32,
    /// Future-dated envelopes a peer may send before it is dropped; the first offences only
    /// warn (DECISIONS 12). Default: 3.
    pub max_future_offences: u32,
    /// Seconds after which one future-dated envelope is forgiven (the count decays by one
    /// per period). 0 never forgives. Default: 60.
    pub future_offence_decay_secs: u32,
    /// Light node: relay nothing but our own envelopes. Default: false.
    pub light_node: bool,
    /// As a light node, refuse peers that are light too (they would relay nothing).
    /// Default: true.
    pub refuse_light_peers: bool,
    /// Send Message Response and Batch Ack for received batches. Default: false.
    pub confirmations: bool,
    /// With `confirmations`, do not send a batch's Message Response and Batch Ack: report
    /// [`Event::BatchReceived`] instead (after the batch's [`Event::Accepted`] events), and the
    /// driver sends them once it has done what they promise (a mailserver: archived the batch).
    /// Default: false.
    pub withhold_batch_ack: bool,
    /// The bloom filter we advertise. Default: full.
    pub bloom: Bloom,
    /// The topics we advertise instead of a bloom (light clients). Default: none.
    pub topic_interest: Option<Vec<Topic>>,
    /// Relay between `waku/1` and `shh/6` peers. Default: true.
    pub bridge: bool,
    /// Milliseconds between Messages batches. Default: 300.
    pub transmission_cycle_ms: u64,
    /// Milliseconds a peer has to send its Status. Default: 5000.
    pub status_timeout_ms: u64,
    /// Rate limits per peer. Default: 100 packets/s, 10 MB/s (tolerance 2 s).
    pub peer_limits: RateLimitConfig,
    /// Rate limits per IP address. Default: 200 packets/s, 20 MB/s (tolerance 2 s).
    pub ip_limits: RateLimitConfig,
    /// Decoding limits. Its envelope size (default 16 MiB, the RLPx message limit) bounds what
    /// is decoded at all; `max_envelope_size` is what is accepted.
    pub packet_limits: PacketLimits,
}

impl Default for RouterConfig {
    fn default() -> Self {
        use crate::ratelimit::Limit;
        Self {
            min_pow: DEFAULT_MIN_POW,
            max_envelope_size: crate::envelope::DEFAULT_MAX_ENVELOPE_SIZE,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_packet_envelopes: DEFAULT_MAX_PACKET_ENVELOPES,
            pool: PoolLimits::default(),
            sync_allowance_secs: DEFAULT_SYNC_ALLOWANCE_SECS,
            max_future_offences: 3,
            future_offence_decay_secs: DEFAULT_FUTURE_OFFENCE_DECAY_SECS,
            light_node: false,
            refuse_light_peers: true,
            confirmations: false,
            withhold_batch_ack: false,
            bloom: Bloom::FULL,
            topic_interest: None,
            bridge: true,
            transmission_cycle_ms: DEFAULT_TRANSMISSION_CYCLE_MS,
            status_timeout_ms: DEFAULT_STATUS_TIMEOUT_MS,
            peer_limits: RateLimitConfig {
                packets: Limit::new(100),
                bytes: Limit::new(10_000_000),
            },
            ip_limits: RateLimitConfig { packets: Limit::new(200), bytes: Limit::new(20_000_000) },
            packet_limits: PacketLimits {
                max_envelope_size: 16 * 1024 * 1024,
                ..PacketLimits::default()
            },
        }
    }
}

/// Why the router wants a peer gone. `wisp-node` maps it to a devp2p Disconnect reason.
#[derive(Clone, Debug, PartialEq)]
pub enum DropReason {
    /// No Status within the timeout.
    StatusTimeout,
    /// A packet other than Status came first.
    PacketBeforeStatus {
        /// Its code.
        code: u64,
    },
    /// A malformed packet.
    BadPacket {
        /// What was wrong.
        detail: String,
    },
    /// Over a rate limit.
    RateLimited {
        /// Per peer or per IP.
        scope: &'static str,
        /// Packets or bytes.
        exceeded: Exceeded,
    },
    /// Both ends are light nodes.
    LightPeer,
    /// Too many envelopes dated in the future.
    FutureEnvelopes {
        /// How many.
        count: u32,
    },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::StatusTimeout => write!(f, "no Status within the timeout"),
            Self::PacketBeforeStatus { code } => write!(f, "packet {code} before Status"),
            Self::BadPacket { detail } => write!(f, "malformed packet: {detail}"),
            Self::RateLimited { scope, exceeded } => {
                write!(f, "{scope} rate limit exceeded ({exceeded:?})")
            }
            Self::LightPeer => write!(f, "light node refusing a light peer"),
            Self::FutureEnvelopes { count } => write!(f, "{count} envelopes dated in the future"),
        }
    }
}

/// Why an envelope was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnvelopeDrop {
    /// Past its expiry.
    Expired,
    /// Dated further in the future than the sync allowance.
    FutureDated,
    /// PoW under our minimum.
    LowPow,
    /// TTL of zero, or expiry before TTL.
    InvalidTtl,
    /// Larger than the limit.
    TooBig,
    /// Already in the pool (or evicted from it and not expired yet).
    Duplicate,
    /// The pool is full of envelopes of at least its PoW per byte, or its sender's share is.
    PoolFull,
}

/// Something for the layers around the router: archive, filters, metrics, mailserver.
#[derive(Clone, Debug)]
pub enum Event {
    /// A peer's Status arrived; the session is up.
    PeerReady {
        /// The peer.
        peer: PeerId,
        /// Whether it is a light node.
        light: bool,
    },
    /// An envelope entered the pool (archive hook). `from` is `None` for local posts.
    Accepted {
        /// Its hash.
        hash: [u8; 32],
        /// The envelope.
        envelope: Envelope,
        /// The peer it came from.
        from: Option<PeerId>,
    },
    /// An envelope was refused.
    Dropped {
        /// Its hash.
        hash: [u8; 32],
        /// The peer it came from.
        from: Option<PeerId>,
        /// Why.
        reason: EnvelopeDrop,
    },
    /// A local filter received a message.
    Matched {
        /// The filter.
        filter: FilterId,
        /// The envelope hash.
        hash: [u8; 32],
    },
    /// A peer was warned (not dropped) for a future-dated envelope.
    Warned {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: EnvelopeDrop,
    },
    /// A peer confirmed a batch we sent (Batch Ack or Message Response).
    Confirmation {
        /// The peer.
        peer: PeerId,
        /// The batch hash.
        batch_hash: [u8; 32],
        /// Per-envelope errors.
        errors: Vec<EnvelopeErrorReport>,
    },
    /// A Messages batch whose confirmations were withheld ([`RouterConfig::withhold_batch_ack`]);
    /// its [`Event::Accepted`] events came before this one. The driver owes the peer a Message
    /// Response with `errors`, then a Batch Ack, both for `batch_hash`.
    BatchReceived {
        /// The peer.
        peer: PeerId,
        /// The peer's capability (it fixes the packet codes).
        capability: Capability,
        /// The batch hash.
        batch_hash: [u8; 32],
        /// Per-envelope errors for the Message Response.
        errors: Vec<EnvelopeErrorReport>,
    },
    /// A peer asks for history (mailserver hook). The payload is kept as received: an
    /// envelope (8/WAKU-MAIL) or, from status-go's messenger, a bare unencrypted request
    /// list; the mailserver decodes both.
    P2PRequest {
        /// The peer.
        peer: PeerId,
        /// The P2P Request payload.
        payload: Vec<u8>,
    },
    /// A trusted peer (mailserver) delivered envelopes directly.
    P2PMessages {
        /// The peer.
        peer: PeerId,
        /// The envelopes.
        envelopes: Vec<Envelope>,
    },
    /// A mailserver signalled the end of a history request.
    P2PRequestComplete {
        /// The peer.
        peer: PeerId,
        /// Its payload.
        complete: crate::packets::P2PRequestComplete,
    },
}

/// What the router asks its driver to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send a packet (`code` relative to the peer's capability).
    Send {
        /// To whom.
        peer: PeerId,
        /// The packet code.
        code: u64,
        /// The RLP payload.
        payload: Vec<u8>,
    },
    /// Disconnect the peer.
    Disconnect {
        /// Whom.
        peer: PeerId,
        /// Why.
        reason: DropReason,
    },
    /// Report an event.
    Event(Event),
}

/// Why a local post was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PostError {
    /// The envelope does not pass validation.
    #[error("envelope refused: {0:?}")]
    Refused(EnvelopeDrop),
}

/// What a peer told us about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerStatus {
    /// Its PoW requirement.
    pub pow: f64,
    /// Its bloom (used when it has no topic interest).
    pub bloom: Bloom,
    /// Its topic interest, which wins over the bloom.
    pub topic_interest: Option<HashSet<Topic>>,
    /// Light node.
    pub light: bool,
    /// It sends confirmations.
    pub confirmations: bool,
    /// Its advertised packet rate limits.
    pub packet_limits: Option<RateLimits>,
    /// Its advertised byte rate limits.
    pub bytes_limits: Option<RateLimits>,
}

impl PeerStatus {
    fn wants(&self, topic: &Topic, pow: f64) -> bool {
        if pow < self.pow {
            return false;
        }
        match &self.topic_interest {
            Some(topics) => topics.contains(topic),
            None => self.bloom.matches(topic),
        }
    }

    fn apply(&mut self, o: &StatusOptions) {
        if let Some(p) = o.pow_requirement {
            self.pow = p;
        }
        match (&o.bloom, &o.topic_interest) {
            // 6/WAKU1: topic interest wins over a bloom sent with it.
            (_, Some(t)) => self.topic_interest = Some(t.iter().copied().collect()),
            (Some(b), None) => {
                self.bloom = *b;
                self.topic_interest = None;
            }
            (None, None) => {}
        }
        if let Some(l) = o.light_node {
            self.light = l;
        }
        if let Some(c) = o.confirmations_enabled {
            self.confirmations = c;
        }
        if o.packet_rate_limits.is_some() {
            self.packet_limits = o.packet_rate_limits;
        }
        if o.bytes_rate_limits.is_some() {
            self.bytes_limits = o.bytes_rate_limits;
        }
    }
}

impl Default for PeerStatus {
    fn default() -> Self {
        Self {
            pow: 0.0,
            bloom: Bloom::FULL,
            topic_interest: None,
            light: false,
            confirmations: false,
            packet_limits: None,
            bytes_limits: None,
        }
    }
}

#[derive(Debug)]
struct Peer {
    capability: Capability,
    ip: Option<IpAddr>,
    added_ms: u64,
    status: Option<PeerStatus>,
    trusted: bool,
    /// Hashes this peer has: sent by it or to it. Pruned as envelopes expire.
    known: HashSet<[u8; 32]>,
    /// Pool envelopes to offer at the next cycle (all of the pool when it joins).
    backlog: Vec<[u8; 32]>,
    /// Future-dated envelopes sent, decayed over time (DECISIONS 12).
    future_offences: f64,
    /// When `future_offences` was last decayed.
    offences_at_ms: u64,
}

/// Counters for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Envelopes accepted into the pool.
    pub accepted: u64,
    /// Envelopes dropped, by reason.
    pub dropped: HashMap<EnvelopeDrop, u64>,
    /// Envelopes sent to peers.
    pub relayed: u64,
    /// Messages delivered to filters.
    pub matched: u64,
    /// Peers dropped for rate limits.
    pub rate_limited_peers: u64,
    /// Envelopes evicted from a full pool to make room for better ones.
    pub evicted: u64,
    /// Well-formed packets with more envelopes than we decode: dropped whole, without
    /// penalty for the sender.
    pub oversize_packets: u64,
}

/// The router. See the module docs.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    peers: HashMap<PeerId, Peer>,
    pool: Pool,
    fresh: Vec<[u8; 32]>,
    filters: Filters,
    peer_limiter: RateLimiter<PeerId>,
    ip_limiter: RateLimiter<IpAddr>,
    out: VecDeque<Output>,
    next_cycle_ms: u64,
    stats: RouterStats,
    /// Hashes handed to local filters, kept until `max(expiry, now + 10 min)`, so that an
    /// envelope that arrives both relayed and from a mailserver reaches a filter once.
    delivered: HashMap<[u8; 32], u32>,
    now_secs: u32,
}

impl Router {
    /// A router with no peers and an empty pool.
    pub fn new(config: RouterConfig) -> Self {
        Self {
            peer_limiter: RateLimiter::new(config.peer_limits),
            ip_limiter: RateLimiter::new(config.ip_limits),
            pool: Pool::new(config.pool),
            config,
            peers: HashMap::new(),
            fresh: Vec::new(),
            filters: Filters::default(),
            out: VecDeque::new(),
            next_cycle_ms: 0,
            stats: RouterStats::default(),
            delivered: HashMap::new(),
            now_secs: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The local filters.
    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// The local filters, to install or remove one and to read messages.
    pub fn filters_mut(&mut self) -> &mut Filters {
        &mut self.filters
    }

    /// Counters.
    pub fn stats(&self) -> &RouterStats {
        &self.stats
    }

    /// Envelopes in the pool.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    /// Bytes of encoded envelopes in the pool.
    pub fn pool_bytes(&self) -> usize {
        self.pool.bytes()
    }

    /// How many envelopes and bytes of the pool a peer's envelopes take.
    pub fn pool_usage(&self, peer: PeerId) -> (usize, usize) {
        self.pool.usage(peer)
    }

    /// Map slots the pool holds for envelopes and evicted hashes (they shrink after a
    /// burst).
    pub fn pool_capacity(&self) -> usize {
        self.pool.capacity()
    }

    /// Per-IP rate-limit buckets held (one per IP address with a connected peer).
    pub fn ip_buckets(&self) -> usize {
        self.ip_limiter.len()
    }

    /// An envelope of the pool.
    pub fn envelope(&self, hash: &[u8; 32]) -> Option<&Envelope> {
        self.pool.get(hash).map(|s| &s.envelope)
    }

    /// Connected peers (with or without Status).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// A peer's status, once received.
    pub fn peer_status(&self, peer: PeerId) -> Option<&PeerStatus> {
        self.peers.get(&peer).and_then(|p| p.status.as_ref())
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Router::tick`] next has work (the next transmission cycle).
    pub fn next_tick_ms(&self) -> u64 {
        self.next_cycle_ms
    }

    /// A peer connected with `capability`: our Status is queued to it.
    pub fn add_peer(
        &mut self,
        peer: PeerId,
        capability: Capability,
        ip: Option<IpAddr>,
        now_ms: u64,
    ) {
        self.peers.insert(
            peer,
            Peer {
                capability,
                ip,
                added_ms: now_ms,
                status: None,
                trusted: false,
                known: HashSet::new(),
                backlog: Vec::new(),
                future_offences: 0.0,
                offences_at_ms: now_ms,
            },
        );
        let status = self.status();
        let payload = match capability {
            Capability::Waku => encode_waku(&WakuPacket::Status(status)),
            Capability::Whisper => {
                encode_whisper(&WhisperPacket::Status(WhisperStatus::from_options(&status)))
            }
        };
        self.out.push_back(Output::Send { peer, code: capability.codes().status, payload });
    }

    /// A peer left.
    pub fn remove_peer(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.remove(&peer) {
            self.forget(peer, p.ip);
        }
    }

    /// Frees a departed peer's rate-limit bucket, and its IP's when it was the last peer
    /// from that address.
    fn forget(&mut self, peer: PeerId, ip: Option<IpAddr>) {
        self.peer_limiter.remove(&peer);
        if let Some(ip) = ip
            && !self.peers.values().any(|p| p.ip == Some(ip))
        {
            self.ip_limiter.remove(&ip);
        }
    }

    /// Marks a peer trusted: its P2P messages (mailserver deliveries) are accepted.
    pub fn mark_trusted(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.trusted = true;
        }
    }

    /// Our Status as `waku/1` options; `shh/6` peers get its positional form
    /// ([`WhisperStatus::from_options`]).
    fn status(&self) -> StatusOptions {
        StatusOptions {
            pow_requirement: Some(self.config.min_pow),
            bloom: if self.config.topic_interest.is_some() {
                None
            } else {
                Some(self.config.bloom)
            },
            light_node: Some(self.config.light_node),
            confirmations_enabled: Some(self.config.confirmations),
            packet_rate_limits: Some(advertised(&self.config.peer_limits.packets)),
            topic_interest: self.config.topic_interest.clone(),
            bytes_rate_limits: Some(advertised(&self.config.peer_limits.bytes)),
        }
    }

    /// Tells every peer of a change: a Status Update to `waku/1` peers; to `shh/6` peers, the
    /// PoW Requirement and Bloom Filter packets that carry what changed (topic interest as its
    /// bloom; a light-mode change has no `shh/6` packet). Peers whose Status has not arrived
    /// yet are told too: ours went out in [`Router::add_peer`], before this update, with what
    /// was true then, and nothing else would correct it (found by wisp-sim: a light client
    /// whose messenger installed its filters during the handshake never got a chat's
    /// envelopes from that peer).
    fn broadcast_update(&mut self, update: StatusOptions) {
        let mut ready: Vec<(PeerId, Capability)> =
            self.peers.iter().map(|(id, p)| (*id, p.capability)).collect();
        ready.sort_by_key(|(id, _)| *id);
        let waku = vec![(
            crate::packets::waku_codes::STATUS_UPDATE,
            encode_waku(&WakuPacket::StatusUpdate(update.clone())),
        )];
        let mut whisper = Vec::new();
        if let Some(pow) = update.pow_requirement {
            whisper.push(WhisperPacket::PowRequirement(pow));
        }
        if let Some(bloom) = WhisperStatus::from_options(&update).bloom.or(update.bloom) {
            whisper.push(WhisperPacket::BloomFilter(bloom));
        }
        let whisper: Vec<(u64, Vec<u8>)> =
            whisper.iter().map(|p| (p.code(), encode_whisper(p))).collect();
        for (peer, cap) in ready {
            let packets = match cap {
                Capability::Waku => &waku,
                Capability::Whisper => &whisper,
            };
            for (code, payload) in packets {
                self.out.push_back(Output::Send { peer, code: *code, payload: payload.clone() });
            }
        }
    }

    /// Changes our minimum PoW and tells the peers.
    pub fn set_min_pow(&mut self, pow: f64) {
        self.config.min_pow = pow;
        self.broadcast_update(StatusOptions { pow_requirement: Some(pow), ..Default::default() });
    }

    /// Changes our bloom (dropping any topic interest) and tells the peers.
    pub fn set_bloom(&mut self, bloom: Bloom) {
        self.config.bloom = bloom;
        self.config.topic_interest = None;
        self.broadcast_update(StatusOptions { bloom: Some(bloom), ..Default::default() });
    }

    /// Changes our topic interest and tells the peers (Whisper peers get the bloom of it).
    pub fn set_topic_interest(&mut self, topics: Vec<Topic>) {
        self.config.topic_interest = Some(topics.clone());
        self.broadcast_update(StatusOptions { topic_interest: Some(topics), ..Default::default() });
    }

    /// Sets the largest envelope accepted (`waku_setMaxMessageSize`).
    pub fn set_max_envelope_size(&mut self, size: usize) {
        self.config.max_envelope_size = size;
    }

    /// Switches light mode and tells the `waku/1` peers.
    pub fn set_light_node(&mut self, light: bool) {
        self.config.light_node = light;
        self.broadcast_update(StatusOptions { light_node: Some(light), ..Default::default() });
    }

    fn disconnect(&mut self, peer: PeerId, reason: DropReason) {
        if let Some(p) = self.peers.remove(&peer) {
            tracing::debug!(target: "waku::router", %peer, %reason, "dropping peer");
            self.forget(peer, p.ip);
            self.out.push_back(Output::Disconnect { peer, reason });
        }
    }

    /// A packet from a peer. Malformed packets, packets before Status and rate-limit
    /// violations disconnect that peer; nothing here affects the other peers.
    pub fn handle_packet(&mut self, peer: PeerId, code: u64, payload: &[u8], now_ms: u64) {
        self.now_secs = secs(now_ms);
        let Some(p) = self.peers.get(&peer) else { return };
        let (capability, ip) = (p.capability, p.ip);
        let bytes = payload.len() as u64;
        if let Err(exceeded) = self.peer_limiter.check(&peer, bytes, now_ms) {
            self.stats.rate_limited_peers += 1;
            return self.disconnect(peer, DropReason::RateLimited { scope: "peer", exceeded });
        }
        if let Some(ip) = ip
            && let Err(exceeded) = self.ip_limiter.check(&ip, bytes, now_ms)
        {
            self.stats.rate_limited_peers += 1;
            return self.disconnect(peer, DropReason::RateLimited { scope: "ip", exceeded });
        }
        // Envelopes over our size limit but within the packet limits are decoded, then
        // dropped and counted one by one (EnvelopeDrop::TooBig), so that one oversized
        // envelope costs its sender that envelope, not the connection.
        let limits = PacketLimits {
            max_envelope_size: self
                .config
                .max_envelope_size
                .max(self.config.packet_limits.max_envelope_size),
            ..self.config.packet_limits
        };
        // P2P Request (126, both capabilities) is passed on undecoded: its payload is not
        // always an envelope, and only a mailserver knows how to read it.
        if code == capability.codes().p2p_request {
            if self.peers.get(&peer).is_some_and(|p| p.status.is_some()) {
                let payload = payload.to_vec();
                self.out.push_back(Output::Event(Event::P2PRequest { peer, payload }));
            } else {
                self.disconnect(peer, DropReason::PacketBeforeStatus { code });
            }
            return;
        }
        let packet = match capability {
            Capability::Waku => WakuPacket::decode(code, payload, &limits).map(Packet::from_waku),
            Capability::Whisper => {
                WhisperPacket::decode(code, payload, &limits).map(Packet::from_whisper)
            }
        };
        let packet = match packet {
            Ok(p) => p,
            // status-go ignores Message Responses of other versions; so do we.
            Err(crate::packets::PacketError::UnsupportedResponseVersion { version }) => {
                tracing::debug!(target: "waku::router", %peer, version, "ignoring Message Response");
                return;
            }
            // A well-formed Messages packet that merely holds more envelopes than we decode:
            // a relay that splits only by bytes (status-go sets no count). What fits is
            // taken, the rest is dropped and counted, and none of it is held against the
            // sender (issue 11). A malformed packet is still a bad packet.
            Err(crate::packets::PacketError::TooManyEnvelopes { count, max })
                if code == capability.codes().messages =>
            {
                tracing::debug!(target: "waku::router", %peer, count, max, "oversize Messages packet: taking what fits");
                self.stats.oversize_packets += 1;
                match crate::packets::decode_messages_prefix(payload, &limits) {
                    Ok((envelopes, _)) => Packet::Oversize(envelopes),
                    Err(e) => {
                        let detail = e.in_packet(capability.codes().packet_name(code)).to_string();
                        return self.disconnect(peer, DropReason::BadPacket { detail });
                    }
                }
            }
            Err(e) => {
                return self.disconnect(peer, DropReason::BadPacket { detail: e.to_string() });
            }
        };
        let has_status = self.peers.get(&peer).is_some_and(|p| p.status.is_some());
        match packet {
            Packet::Status(status) => {
                if has_status {
                    return; // 6/WAKU1: a Status after the handshake is ignored.
                }
                self.on_status(peer, status, now_ms);
            }
            Packet::Unknown => {}
            _ if !has_status => self.disconnect(peer, DropReason::PacketBeforeStatus { code }),
            Packet::Oversize(envelopes) => {
                // No confirmation: the batch was not taken whole.
                for env in envelopes {
                    self.receive(env, Some(peer), capability, now_ms);
                    if !self.peers.contains_key(&peer) {
                        return;
                    }
                }
            }
            Packet::Messages(envelopes) => {
                let mut errors = Vec::new();
                for env in envelopes {
                    if let Some(err) = self.receive(env, Some(peer), capability, now_ms) {
                        errors.push(err);
                    }
                    if !self.peers.contains_key(&peer) {
                        return; // dropped for repeated future envelopes
                    }
                }
                if self.config.confirmations && self.config.withhold_batch_ack {
                    // The driver confirms once the batch is stored (the mailserver role).
                    let batch_hash = batch_hash(payload);
                    let event = Event::BatchReceived { peer, capability, batch_hash, errors };
                    self.out.push_back(Output::Event(event));
                    return;
                }
                self.confirm(peer, capability, payload, errors);
            }
            Packet::StatusUpdate(o) => {
                if let Some(s) = self.peers.get_mut(&peer).and_then(|p| p.status.as_mut()) {
                    s.apply(&o);
                }
            }
            Packet::PowRequirement(pow) => {
                if let Some(s) = self.peers.get_mut(&peer).and_then(|p| p.status.as_mut()) {
                    s.pow = pow;
                }
            }
            Packet::Bloom(bloom) => {
                if let Some(s) = self.peers.get_mut(&peer).and_then(|p| p.status.as_mut()) {
                    s.bloom = bloom;
                    s.topic_interest = None;
                }
            }
            Packet::BatchAck(batch_hash) => {
                self.out.push_back(Output::Event(Event::Confirmation {
                    peer,
                    batch_hash,
                    errors: Vec::new(),
                }))
            }
            Packet::MessageResponse(r) => self.out.push_back(Output::Event(Event::Confirmation {
                peer,
                batch_hash: r.batch_hash,
                errors: r.errors,
            })),
            // Handled before decoding (see above).
            Packet::P2PRequest => {}
            Packet::P2PMessage(envelopes) => {
                let trusted = self.peers.get(&peer).is_some_and(|p| p.trusted);
                if !trusted {
                    tracing::debug!(target: "waku::router", %peer, "P2P message from an untrusted peer ignored");
                    return;
                }
                self.now_secs = secs(now_ms);
                for env in &envelopes {
                    let hash = env.hash();
                    self.deliver(env, hash, true);
                }
                self.out.push_back(Output::Event(Event::P2PMessages { peer, envelopes }));
            }
            Packet::P2PRequestComplete(complete) => {
                self.out.push_back(Output::Event(Event::P2PRequestComplete { peer, complete }))
            }
        }
    }

    /// Confirms a received Messages batch: Message Response then Batch Ack when we send
    /// confirmations; otherwise a Message Response with the time-sync errors alone, when the
    /// peer speaks confirmations (6/WAKU1 §Batch Ack and Message Response).
    fn confirm(
        &mut self,
        peer: PeerId,
        capability: Capability,
        payload: &[u8],
        errors: Vec<EnvelopeErrorReport>,
    ) {
        let peer_confirms =
            self.peers.get(&peer).and_then(|p| p.status.as_ref()).is_some_and(|s| s.confirmations);
        let respond = self.config.confirmations || (peer_confirms && !errors.is_empty());
        if !respond {
            return;
        }
        let [response, ack] = capability.confirmation_packets(batch_hash(payload), errors);
        self.out.push_back(Output::Send { peer, code: response.0, payload: response.1 });
        if self.config.confirmations {
            self.out.push_back(Output::Send { peer, code: ack.0, payload: ack.1 });
        }
    }

    fn on_status(&mut self, peer: PeerId, status: PeerStatus, now_ms: u64) {
        if self.config.light_node && self.config.refuse_light_peers && status.light {
            return self.disconnect(peer, DropReason::LightPeer);
        }
        let light = status.light;
        let now_secs = secs(now_ms);
        let backlog: Vec<[u8; 32]> = self
            .pool
            .iter()
            .filter(|(_, s)| {
                s.envelope.expiry >= now_secs && (!self.config.light_node || s.from.is_none())
            })
            .map(|(h, _)| *h)
            .collect();
        if let Some(p) = self.peers.get_mut(&peer) {
            p.status = Some(status);
            p.backlog = backlog;
        }
        self.out.push_back(Output::Event(Event::PeerReady { peer, light }));
    }

    /// Validates and pools an envelope. Returns a time-sync error report for confirmations.
    fn receive(
        &mut self,
        env: Envelope,
        from: Option<PeerId>,
        capability: Capability,
        now_ms: u64,
    ) -> Option<EnvelopeErrorReport> {
        let hash = env.hash();
        match self.validate(&env, &hash, now_ms) {
            Ok(pow) => {
                if self.admit(hash, env, pow, from, Some(capability))
                    && let Some(peer) = from.and_then(|f| self.peers.get_mut(&f))
                {
                    peer.known.insert(hash);
                }
                None
            }
            Err(reason) => {
                if reason == EnvelopeDrop::Duplicate {
                    // Only pooled hashes are remembered per peer: they are pruned with the
                    // pool, and an evicted hash is refused by the pool itself.
                    if self.pool.contains(&hash)
                        && let Some(peer) = from.and_then(|f| self.peers.get_mut(&f))
                    {
                        peer.known.insert(hash);
                    }
                } else {
                    self.count_drop(hash, from, reason);
                }
                if reason == EnvelopeDrop::FutureDated
                    && let Some(peer_id) = from
                    && let Some(peer) = self.peers.get_mut(&peer_id)
                {
                    let decay_ms = u64::from(self.config.future_offence_decay_secs) * 1000;
                    if decay_ms > 0 {
                        let elapsed = now_ms.saturating_sub(peer.offences_at_ms);
                        let forgiven = elapsed as f64 / decay_ms as f64;
                        peer.future_offences = (peer.future_offences - forgiven).max(0.0);
                    }
                    peer.offences_at_ms = now_ms;
                    peer.future_offences += 1.0;
                    let count = peer.future_offences.ceil() as u32;
                    if count > self.config.max_future_offences {
                        self.disconnect(peer_id, DropReason::FutureEnvelopes { count });
                    } else {
                        self.out.push_back(Output::Event(Event::Warned { peer: peer_id, reason }));
                    }
                }
                matches!(reason, EnvelopeDrop::FutureDated | EnvelopeDrop::Expired).then(|| {
                    EnvelopeErrorReport {
                        hash,
                        code: TIME_SYNC_ERROR,
                        description: format!("envelope {reason:?}: time sync error"),
                    }
                })
            }
        }
    }

    fn validate(&self, env: &Envelope, hash: &[u8; 32], now_ms: u64) -> Result<f64, EnvelopeDrop> {
        let now = secs(now_ms);
        if env.ttl == 0 || env.expiry < env.ttl {
            return Err(EnvelopeDrop::InvalidTtl);
        }
        if env.encoded_len() > self.config.max_envelope_size {
            return Err(EnvelopeDrop::TooBig);
        }
        if u64::from(env.sent()) > u64::from(now) + u64::from(self.config.sync_allowance_secs) {
            return Err(EnvelopeDrop::FutureDated);
        }
        if env.expiry < now {
            return Err(EnvelopeDrop::Expired);
        }
        if self.pool.seen(hash) {
            return Err(EnvelopeDrop::Duplicate);
        }
        let pow = env.pow();
        if pow < self.config.min_pow {
            return Err(EnvelopeDrop::LowPow);
        }
        Ok(pow)
    }

    fn count_drop(&mut self, hash: [u8; 32], from: Option<PeerId>, reason: EnvelopeDrop) {
        *self.stats.dropped.entry(reason).or_default() += 1;
        self.out.push_back(Output::Event(Event::Dropped { hash, from, reason }));
    }

    /// Pools a valid envelope, evicting lower-ranked ones if the pool is full; `false` (and
    /// the drop counted) if it does not rank high enough to stay.
    fn admit(
        &mut self,
        hash: [u8; 32],
        env: Envelope,
        pow: f64,
        from: Option<PeerId>,
        cap: Option<Capability>,
    ) -> bool {
        let copy = env.clone();
        let evicted = match self.pool.insert(hash, Stored::new(env, pow, from, cap)) {
            Ok(evicted) => evicted,
            Err(Full) => {
                self.count_drop(hash, from, EnvelopeDrop::PoolFull);
                return false;
            }
        };
        if !evicted.is_empty() {
            self.stats.evicted += evicted.len() as u64;
            for p in self.peers.values_mut() {
                for h in &evicted {
                    p.known.remove(h);
                }
            }
        }
        self.stats.accepted += 1;
        self.deliver_with_pow(&copy, hash, pow, false);
        self.out.push_back(Output::Event(Event::Accepted { hash, envelope: copy, from }));
        // A light node relays only its own envelopes.
        if from.is_none() || !self.config.light_node {
            self.fresh.push(hash);
        }
        true
    }

    fn deliver(&mut self, env: &Envelope, hash: [u8; 32], p2p: bool) {
        if self.delivered.contains_key(&hash) {
            return;
        }
        let pow = env.pow();
        self.deliver_with_pow(env, hash, pow, p2p);
    }

    /// Hands an envelope to the local filters, once per hash.
    fn deliver_with_pow(&mut self, env: &Envelope, hash: [u8; 32], pow: f64, p2p: bool) {
        if self.delivered.contains_key(&hash) {
            return;
        }
        let matched = self.filters.dispatch(env, &hash, pow, p2p);
        if matched.is_empty() {
            return;
        }
        let keep_until = env.expiry.max(self.now_secs.saturating_add(600));
        self.delivered.insert(hash, keep_until);
        for filter in matched {
            self.stats.matched += 1;
            self.out.push_back(Output::Event(Event::Matched { filter, hash }));
        }
    }

    /// Posts a local envelope: validated as a received one (but never marked as coming from
    /// a peer), handed to local filters, and queued to every interested peer.
    pub fn post(&mut self, env: Envelope, now_ms: u64) -> Result<[u8; 32], PostError> {
        self.now_secs = secs(now_ms);
        let hash = env.hash();
        let pow = self.validate(&env, &hash, now_ms).map_err(PostError::Refused)?;
        if !self.admit(hash, env, pow, None, None) {
            return Err(PostError::Refused(EnvelopeDrop::PoolFull));
        }
        Ok(hash)
    }

    /// Advances time: drops expired envelopes, times out silent peers, and at each
    /// transmission cycle sends every peer a batch of what it wants and lacks.
    pub fn tick(&mut self, now_ms: u64) {
        self.expire(secs(now_ms));
        let timeout = self.config.status_timeout_ms;
        let silent: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.status.is_none() && now_ms.saturating_sub(p.added_ms) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for peer in silent {
            self.disconnect(peer, DropReason::StatusTimeout);
        }
        if now_ms < self.next_cycle_ms {
            return;
        }
        self.next_cycle_ms = now_ms + self.config.transmission_cycle_ms;
        self.transmit();
    }

    fn expire(&mut self, now: u32) {
        self.now_secs = now;
        if !self.delivered.is_empty() {
            self.delivered.retain(|_, keep_until| *keep_until >= now);
        }
        let gone = self.pool.expire(now);
        if !gone.is_empty() {
            for p in self.peers.values_mut() {
                for hash in &gone {
                    p.known.remove(hash);
                }
            }
            // After a burst, give the memory of the emptied maps back.
            self.pool.shrink();
            shrink_map(&mut self.delivered);
            for p in self.peers.values_mut() {
                shrink_set(&mut p.known);
            }
        }
    }

    /// Sends each ready peer what it wants and lacks, split into Messages packets under the
    /// limits every peer enforces (bytes and envelope count per packet), and paced under the
    /// rate limits it advertised: what does not fit this cycle waits for the next.
    fn transmit(&mut self) {
        let fresh = std::mem::take(&mut self.fresh);
        let mut peer_ids: Vec<PeerId> = self.peers.keys().copied().collect();
        peer_ids.sort();
        let max_bytes = self.config.max_packet_size;
        let max_count = self.config.max_packet_envelopes.max(1);
        let cycle_ms = self.config.transmission_cycle_ms.max(1);
        let backlog_cap = self.config.pool.max_envelopes.saturating_mul(2).max(1024);
        for id in peer_ids {
            let Some(peer) = self.peers.get_mut(&id) else { continue };
            let Some(status) = &peer.status else { continue };
            let (mut packet_budget, mut byte_budget) = cycle_budget(status, cycle_ms, max_bytes);
            let mut backlog = std::mem::take(&mut peer.backlog);
            backlog.extend_from_slice(&fresh);
            let mut packets: Vec<Vec<&Envelope>> = Vec::new();
            let mut batch: Vec<&Envelope> = Vec::new();
            let mut size = 0usize;
            let mut sent_upto = backlog.len();
            for (i, hash) in backlog.iter().enumerate() {
                let Some(stored) = self.pool.get(hash) else { continue };
                if peer.known.contains(hash) || !status.wants(&stored.envelope.topic, stored.pow) {
                    continue;
                }
                if !self.config.bridge
                    && stored.from_capability.is_some_and(|c| c != peer.capability)
                {
                    continue;
                }
                let len = stored.envelope.encoded_len();
                // A list header takes at most 5 bytes for packets under 4 GiB.
                if len + 5 > max_bytes {
                    continue; // no peer would take it alone
                }
                if !batch.is_empty() && (size + len + 5 > max_bytes || batch.len() == max_count) {
                    packets.push(std::mem::take(&mut batch));
                    size = 0;
                }
                if batch.is_empty() {
                    if packet_budget == 0 || byte_budget < len as u64 {
                        sent_upto = i;
                        break;
                    }
                    packet_budget -= 1;
                }
                if byte_budget < len as u64 {
                    sent_upto = i;
                    break;
                }
                byte_budget -= len as u64;
                peer.known.insert(*hash);
                size += len;
                batch.push(&stored.envelope);
            }
            if !batch.is_empty() {
                packets.push(batch);
            }
            // What did not fit waits; envelopes gone from the pool meanwhile are skipped.
            backlog.drain(..sent_upto);
            if backlog.len() > backlog_cap {
                backlog.retain(|h| self.pool.contains(h));
            }
            peer.backlog = backlog;
            for envs in packets {
                self.stats.relayed += envs.len() as u64;
                let mut payload =
                    Vec::with_capacity(envs.iter().map(|e| e.encoded_len()).sum::<usize>() + 5);
                encode_envelope_list(&envs, &mut payload);
                self.out.push_back(Output::Send {
                    peer: id,
                    code: peer.capability.codes().messages,
                    payload,
                });
            }
        }
    }
}

/// What a peer takes in one transmission cycle: packets and bytes, from the per-peer rate
/// limits it advertised (6/WAKU1: "Each node SHOULD respect rate limits advertised by its
/// peers"), at half their rate to leave room for its other traffic; at least one full packet
/// per cycle so that a tiny limit still makes progress. No advertised limit: no pacing.
fn cycle_budget(status: &PeerStatus, cycle_ms: u64, max_packet: usize) -> (u64, u64) {
    let per_cycle = |limit: Option<RateLimits>, floor: u64| match limit {
        Some(l) if l.peer_id > 0 => (l.peer_id.saturating_mul(cycle_ms) / 2000).max(floor),
        _ => u64::MAX,
    };
    (per_cycle(status.packet_limits, 1), per_cycle(status.bytes_limits, max_packet as u64))
}

fn secs(now_ms: u64) -> u32 {
    u32::try_from(now_ms / 1000).unwrap_or(u32::MAX)
}

fn advertised(limit: &crate::ratelimit::Limit) -> RateLimits {
    RateLimits { ip: limit.per_second, peer_id: limit.per_second, topic: 0 }
}

fn encode_waku(p: &WakuPacket) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

fn encode_whisper(p: &WhisperPacket) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(&mut out);
    out
}

/// The Messages payload: an RLP list of envelopes (the same in `waku/1` and `shh/6`).
fn encode_envelope_list(envs: &[&Envelope], out: &mut Vec<u8>) {
    let payload_length: usize = envs.iter().map(|e| e.encoded_len()).sum();
    alloy_rlp::Header { list: true, payload_length }.encode(out);
    for e in envs {
        e.encode(out);
    }
}

/// The packets of both capabilities, reduced to what the router acts on.
enum Packet {
    Status(PeerStatus),
    Messages(Vec<Envelope>),
    /// The first envelopes of a Messages packet with more than we decode.
    Oversize(Vec<Envelope>),
    StatusUpdate(StatusOptions),
    PowRequirement(f64),
    Bloom(Bloom),
    BatchAck([u8; 32]),
    MessageResponse(MessageResponse),
    P2PRequest,
    P2PMessage(Vec<Envelope>),
    P2PRequestComplete(crate::packets::P2PRequestComplete),
    Unknown,
}

impl Packet {
    fn from_waku(p: WakuPacket) -> Self {
        match p {
            WakuPacket::Status(o) => {
                let mut s = PeerStatus::default();
                s.apply(&o);
                Packet::Status(s)
            }
            WakuPacket::Messages(e) => Packet::Messages(e),
            WakuPacket::StatusUpdate(o) => Packet::StatusUpdate(o),
            WakuPacket::BatchAck(h) => Packet::BatchAck(h),
            WakuPacket::MessageResponse(r) => Packet::MessageResponse(r),
            WakuPacket::P2PRequest(_) => Packet::P2PRequest,
            WakuPacket::P2PMessage(e) => Packet::P2PMessage(e),
            WakuPacket::P2PRequestComplete(c) => Packet::P2PRequestComplete(c),
            WakuPacket::Unknown { .. } => Packet::Unknown,
        }
    }

    fn from_whisper(p: WhisperPacket) -> Self {
        match p {
            WhisperPacket::Status(w) => Packet::from_waku(WakuPacket::Status(w.to_options())),
            WhisperPacket::Messages(e) => Packet::Messages(e),
            WhisperPacket::PowRequirement(p) => Packet::PowRequirement(p),
            WhisperPacket::BloomFilter(b) => Packet::Bloom(b),
            WhisperPacket::BatchAck(h) => Packet::BatchAck(h),
            WhisperPacket::MessageResponse(r) => Packet::MessageResponse(r),
            WhisperPacket::P2PRequest(_) => Packet::P2PRequest,
            WhisperPacket::P2PMessage(e) => Packet::P2PMessage(e),
            WhisperPacket::P2PRequestComplete(c) => Packet::P2PRequestComplete(c),
            WhisperPacket::Unknown { .. } => Packet::Unknown,
        }
    }
}
