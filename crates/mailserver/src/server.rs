//! The history server: answers P2P Requests (126) from the archive with P2P Message batches
//! (127) and a P2P Request Complete (125) (8/WAKU-MAIL, `status/11-waku-mailserver.md`,
//! DECISIONS 10).
//!
//! Sans-io in two steps, so that no lock is held across the archive query:
//!
//! 1. [`HistoryServer::admit`] (synchronous, `&mut self`): the per-peer request rate, the
//!    request's PoW, decryption, signature and validation. It yields an [`Admitted`] request
//!    or a [`Rejection`] carrying the completion to send, if any.
//! 2. [`serve_request`] (async, no server state): queries the [`Store`] page by page and
//!    plans the [`Reply`]: P2P Message batches under a byte budget, then the completion.
//!
//! The caller (`wisp-node`) sends `reply.packets()` in order and records
//! [`Reply::outcome`] / [`Rejection::outcome`] in its metrics.
//!
//! # Choices (status-go v0.79.11 `mailserver/mailserver.go` as the reference)
//!
//! - **Order and cursor.** Envelopes go out in (sent, hash) order, oldest first; the cursor of
//!   a completion is the archive key of the last envelope sent, so the next page starts
//!   strictly after it and stays correct while new envelopes arrive. On the wire it is 36
//!   bytes, `uint32_be(sent) || hash` (status-go `DBKey.Cursor()`): status-go clients refuse a
//!   completion longer than `32 + 32 + 36` bytes. The 40-byte archive key (`|| topic`) is
//!   accepted too. (status-go pages newest first; the cursor is opaque, DECISIONS 10.)
//! - **Limit.** 0 asks for the default, [`MAX_LIMIT`] (status-go `SetDefaults`). Above it the
//!   limit is capped to it rather than refused as status-go does: the client gets a cursor
//!   and continues. The server sends exactly `limit` envelopes when more match (status-go
//!   sends `limit` too, then its cursor).
//! - **Upper 0** means now + 60 s (status-go `whisperTTLSafeThreshold`).
//! - **Reversed range** (`lower > upper`): an empty completion (no envelopes, no cursor),
//!   counted as [`RejectReason::ReversedRange`]. status-go sends a failure report instead.
//! - **Bloom-only range cap.** A request without topics spanning more than 24 h is refused
//!   with a failure report, as status-go did until January 2020 ("query range must be
//!   smaller or equal to 24 hours"; it was lifted in status-go, not for the topic form which
//!   the messenger uses). [`ServerConfig::max_bloom_range_secs`]; 0 lifts it.
//! - **Rate.** A token bucket per peer, checked before anything is decrypted: 5 requests/s
//!   sustained, bursts of 30 ([`DEFAULT_REQUEST_RATE`]). status-go allowed one request per
//!   `MailServerRateLimit` seconds, which its own messenger exceeds when it follows cursors.
//!   Refused requests get `"rate limit exceeded"` (status-go's text).
//! - **Signature.** status-go refuses an unsigned request envelope but never checks who
//!   signed it; [`ServerConfig::require_signature`] (default on) does the same.
//! - **Failures** carry status-go's messages (`ERROR=` ‖ request id ‖ message).

use std::{collections::HashMap, hash::Hash};

use alloy_rlp::Header;
use bytes::Bytes;
use wisp_crypto::{SecretKey, Zeroizing, keccak256, symmetric_key_from_password};
use wisp_waku::{
    Bloom, Envelope, EnvelopeError, OpeningKey, P2PRequestComplete, PeerId, Topic, WakuPacket,
    packets::waku_codes,
    ratelimit::{Bucket, Limit},
};

use crate::{
    request::{OpenedRequest, P2PRequest, REQUEST_ID_LEN, RequestError, open_request},
    store::{Cursor, MAX_LIMIT, Query, Store},
};

/// Bytes of a cursor on the wire: `uint32_be(sent) || hash` (status-go `CursorLength`, and
/// the `cursorSize` its client insists on).
pub const WIRE_CURSOR_LEN: usize = 36;
/// Bytes of the archive key, also accepted as a cursor: `uint32_be(sent) || hash || topic`.
pub const ARCHIVE_KEY_LEN: usize = 40;
/// Default byte budget of one P2P Message packet payload (status-go `DefaultMaxMessageSize`,
/// 1 MiB; 6/WAKU1 §Maximum Packet Size).
pub const DEFAULT_MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Seconds added to "now" when a request's upper bound is 0 (status-go
/// `whisperTTLSafeThreshold`).
pub const UPPER_DEFAULT_SLACK_SECS: u32 = 60;
/// Longest range of a bloom-only request (status-go `maxQueryRange`, 24 h).
pub const MAX_BLOOM_RANGE_SECS: u32 = 24 * 60 * 60;
/// Default per-peer request rate: 5 requests/s, bursts of 30.
pub const DEFAULT_REQUEST_RATE: Limit = Limit { per_second: 5, tolerance: 6.0 };
/// Default PoW a request envelope needs: a node's default minimum PoW (DECISIONS 4; status-go
/// passes its `MinimumPoW`).
pub const DEFAULT_MIN_REQUEST_POW: f64 = 0.000_002;
/// Peers tracked before idle rate buckets are pruned on the next request.
const PRUNE_THRESHOLD: usize = 4096;

/// The server's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Envelopes per reply when the request says 0. Default: [`MAX_LIMIT`].
    pub default_limit: u32,
    /// Most envelopes per reply; larger limits are capped. Default: [`MAX_LIMIT`].
    pub max_limit: u32,
    /// Longest range of a request without topics, in seconds; 0 for no cap. Default:
    /// [`MAX_BLOOM_RANGE_SECS`].
    pub max_bloom_range_secs: u32,
    /// Least PoW of a request envelope; 0 for no check. Default: [`DEFAULT_MIN_REQUEST_POW`].
    pub min_request_pow: f64,
    /// Refuse request envelopes whose payload is unsigned (status-go). Default: true.
    pub require_signature: bool,
    /// Requests per peer. Default: [`DEFAULT_REQUEST_RATE`]; [`Limit::OFF`] disables it.
    pub rate_limit: Limit,
    /// Byte budget of one P2P Message payload. Default: [`DEFAULT_MAX_PACKET_BYTES`]. An
    /// envelope larger than the budget goes alone in its packet.
    pub max_packet_bytes: usize,
    /// Envelopes fetched from the archive per query. Default: 250.
    pub store_batch: u32,
    /// Envelope bytes per reply after which the server stops at the next archive batch and
    /// returns a cursor. Default: 32 MiB.
    pub max_reply_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            default_limit: MAX_LIMIT,
            max_limit: MAX_LIMIT,
            max_bloom_range_secs: MAX_BLOOM_RANGE_SECS,
            min_request_pow: DEFAULT_MIN_REQUEST_POW,
            require_signature: true,
            rate_limit: DEFAULT_REQUEST_RATE,
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            store_batch: 250,
            max_reply_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The keys request envelopes are opened with: the node key (tried first, as status-go does)
/// and the mailserver password's symmetric key.
#[derive(Clone, Default)]
pub struct ServerKeys {
    symmetric: Option<Zeroizing<[u8; 32]>>,
    node: Option<SecretKey>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys")
            .field("symmetric", &self.symmetric.is_some())
            .field("node", &self.node.as_ref().map(SecretKey::public_key))
            .finish()
    }
}

impl ServerKeys {
    /// The key of `password` (PBKDF2, DECISIONS 9; e.g.
    /// [`crate::request::DEFAULT_MAILSERVER_PASSWORD`]).
    pub fn from_password(password: &str) -> Self {
        Self { symmetric: Some(symmetric_key_from_password(password)), node: None }
    }

    /// A symmetric key already derived.
    pub fn from_symmetric(key: Zeroizing<[u8; 32]>) -> Self {
        Self { symmetric: Some(key), node: None }
    }

    /// Also opens requests encrypted to the node key.
    pub fn with_node_key(mut self, key: SecretKey) -> Self {
        self.node = Some(key);
        self
    }

    fn opening_keys(&self) -> Vec<OpeningKey<'_>> {
        let mut keys = Vec::with_capacity(2);
        if let Some(k) = &self.node {
            keys.push(OpeningKey::Asymmetric(k));
        }
        if let Some(k) = &self.symmetric {
            keys.push(OpeningKey::Symmetric(k));
        }
        keys
    }
}

/// Why a request was not served. [`label`](Self::label) names it for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The payload or the decrypted request is malformed.
    Malformed,
    /// The request envelope's PoW is below [`ServerConfig::min_request_pow`].
    PowTooLow,
    /// No key opens the request envelope.
    Undecryptable,
    /// The request envelope is unsigned and [`ServerConfig::require_signature`] is on.
    Unsigned,
    /// The peer exceeded [`ServerConfig::rate_limit`].
    RateLimited,
    /// `lower > upper`: answered with an empty completion.
    ReversedRange,
    /// Neither topics nor a bloom bit: nothing could match.
    NoTopics,
    /// A request without topics spans more than [`ServerConfig::max_bloom_range_secs`].
    RangeTooLong,
    /// The cursor is not one of ours.
    BadCursor,
}

impl RejectReason {
    /// A short name for metrics labels.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::PowTooLow => "pow_too_low",
            Self::Undecryptable => "undecryptable",
            Self::Unsigned => "unsigned",
            Self::RateLimited => "rate_limited",
            Self::ReversedRange => "reversed_range",
            Self::NoTopics => "no_topics",
            Self::RangeTooLong => "range_too_long",
            Self::BadCursor => "bad_cursor",
        }
    }
}

/// What became of a request, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Served (possibly with no envelopes).
    Served {
        /// Envelopes sent.
        envelopes: usize,
        /// P2P Message packets sent.
        packets: usize,
        /// Envelope bytes sent.
        bytes: usize,
        /// Whether a cursor was returned (more envelopes match).
        more: bool,
    },
    /// Refused or answered empty before the archive was queried.
    Rejected(RejectReason),
    /// The archive failed; a failure report was sent.
    StoreFailed,
}

/// A request that was refused before the archive was queried.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// The request id, when the request could be identified.
    pub request_id: Option<[u8; REQUEST_ID_LEN]>,
    /// What to send back (a failure report, or an empty completion for a reversed range);
    /// `None` when the payload is not a request at all (status-go then drops the peer; we
    /// leave that to the caller).
    pub complete: Option<P2PRequestComplete>,
    /// The decoding error, for logs.
    pub detail: Option<RequestError>,
}

impl Rejection {
    /// The outcome to record.
    pub fn outcome(&self) -> Outcome {
        Outcome::Rejected(self.reason)
    }

    fn new(reason: RejectReason, id: [u8; 32], complete: P2PRequestComplete) -> Box<Self> {
        Box::new(Self { reason, request_id: Some(id), complete: Some(complete), detail: None })
    }

    fn failed(reason: RejectReason, id: [u8; 32], message: impl Into<String>) -> Box<Self> {
        Self::new(reason, id, P2PRequestComplete::failed(id, message))
    }
}

/// A request that passed admission: what [`serve_request`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    /// The id the completion carries.
    pub request_id: [u8; REQUEST_ID_LEN],
    /// The archive query: the range, topics or bloom, the capped limit and the decoded cursor.
    pub query: Query,
    /// [`ServerConfig::max_packet_bytes`].
    pub max_packet_bytes: usize,
    /// [`ServerConfig::store_batch`].
    pub store_batch: u32,
    /// [`ServerConfig::max_reply_bytes`].
    pub max_reply_bytes: usize,
}

/// One P2P Message packet: envelopes as archived (their RLP).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct P2PMessageBatch {
    /// The envelopes' RLP, in order.
    pub envelopes: Vec<Vec<u8>>,
}

impl P2PMessageBatch {
    fn items_len(&self) -> usize {
        self.envelopes.iter().map(Vec::len).sum()
    }

    /// The length of [`payload`](Self::payload).
    pub fn payload_len(&self) -> usize {
        let n = self.items_len();
        alloy_rlp::length_of_length(n) + n
    }

    /// The P2P Message (127) payload: the list of envelopes, byte for byte what
    /// `WakuPacket::P2PMessage` of the decoded envelopes encodes, without decoding them.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload_len());
        Header { list: true, payload_length: self.items_len() }.encode(&mut out);
        for e in &self.envelopes {
            out.extend_from_slice(e);
        }
        out
    }

    /// The envelopes, decoded.
    pub fn decode_envelopes(&self) -> Result<Vec<Envelope>, EnvelopeError> {
        self.envelopes.iter().map(|e| Envelope::decode(&mut &e[..])).collect()
    }

    /// As a typed packet (decodes the envelopes).
    pub fn to_packet(&self) -> Result<WakuPacket, EnvelopeError> {
        self.decode_envelopes().map(WakuPacket::P2PMessage)
    }
}

/// The reply to an admitted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The request id.
    pub request_id: [u8; REQUEST_ID_LEN],
    /// P2P Message packets, to send in order.
    pub messages: Vec<P2PMessageBatch>,
    /// Then this completion (or failure report).
    pub complete: P2PRequestComplete,
    /// For metrics.
    pub outcome: Outcome,
}

impl Reply {
    /// Every packet to send, in order, as `(code, payload)`: the P2P Messages, then the P2P
    /// Request Complete. The codes are the same in `waku/1` and `shh/6`.
    pub fn packets(&self) -> impl Iterator<Item = (u64, Vec<u8>)> + '_ {
        self.messages.iter().map(|b| (waku_codes::P2P_MESSAGE, b.payload())).chain(std::iter::once(
            (waku_codes::P2P_REQUEST_COMPLETE, complete_payload(&self.complete)),
        ))
    }
}

/// The P2P Request Complete (125) payload of `complete`.
pub fn complete_payload(complete: &P2PRequestComplete) -> Vec<u8> {
    let mut out = Vec::with_capacity(complete.encoded_len());
    complete.encode(&mut out);
    out
}

/// The wire form of a cursor: `uint32_be(sent) || hash`, 36 bytes (see the module docs).
pub fn cursor_to_wire(cursor: &Cursor) -> Bytes {
    let mut out = Vec::with_capacity(WIRE_CURSOR_LEN);
    out.extend_from_slice(&cursor.sent.to_be_bytes());
    out.extend_from_slice(&cursor.hash);
    out.into()
}

/// Reads a cursor from a request: empty (start), 36 bytes (ours, status-go's), or the 40-byte
/// archive key. A 36-byte cursor gets the topic `ffffffff`, so that a backend comparing whole
/// archive keys still starts strictly after the envelope it names.
pub fn cursor_from_wire(bytes: &[u8]) -> Result<Option<Cursor>, RejectReason> {
    let (sent, hash, topic) = match bytes.len() {
        0 => return Ok(None),
        WIRE_CURSOR_LEN => (&bytes[..4], &bytes[4..36], [0xff; 4]),
        ARCHIVE_KEY_LEN => {
            let mut t = [0u8; 4];
            t.copy_from_slice(&bytes[36..40]);
            (&bytes[..4], &bytes[4..36], t)
        }
        _ => return Err(RejectReason::BadCursor),
    };
    let mut s = [0u8; 4];
    s.copy_from_slice(sent);
    let mut h = [0u8; 32];
    h.copy_from_slice(hash);
    Ok(Some(Cursor { sent: u32::from_be_bytes(s), hash: h, topic: Topic(topic) }))
}

#[derive(Clone, Copy, Debug)]
struct PeerBucket {
    bucket: Bucket,
    last_ms: u64,
}

/// The admission side of the history server: keys, settings and per-peer request rates.
/// `K` identifies a peer (a connection's [`PeerId`], or a node id to survive reconnections).
#[derive(Debug)]
pub struct HistoryServer<K = PeerId> {
    config: ServerConfig,
    keys: ServerKeys,
    peers: HashMap<K, PeerBucket>,
}

impl<K: Eq + Hash + Clone> HistoryServer<K> {
    /// A server with `config`, opening requests with `keys`.
    pub fn new(config: ServerConfig, keys: ServerKeys) -> Self {
        Self { config, keys, peers: HashMap::new() }
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Forgets a peer's request rate (it disconnected).
    pub fn forget_peer(&mut self, peer: &K) {
        self.peers.remove(peer);
    }

    /// Forgets the peers whose bucket has refilled since their last request.
    pub fn prune(&mut self, now_ms: u64) {
        let limit = self.config.rate_limit;
        let refill_ms =
            if limit.per_second == 0 { 0 } else { (limit.tolerance.max(1.0) * 1000.0) as u64 };
        self.peers.retain(|_, p| now_ms.saturating_sub(p.last_ms) < refill_ms);
    }

    /// How many peers' request rates are tracked.
    pub fn tracked_peers(&self) -> usize {
        self.peers.len()
    }

    /// Decodes a P2P Request payload, then [`admit`](Self::admit)s it. An undecodable payload
    /// counts against the peer's rate and is rejected without a completion.
    pub fn admit_payload(
        &mut self,
        peer: &K,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Admitted, Box<Rejection>> {
        match P2PRequest::decode(payload) {
            Ok(request) => self.admit(peer, &request, now_ms),
            Err(e) => {
                // Still costs a token, so garbage cannot be sent for free.
                self.take_token(peer, now_ms);
                tracing::debug!(target: "mailserver", error = %e, "undecodable P2P Request");
                Err(Box::new(Rejection {
                    reason: RejectReason::Malformed,
                    request_id: None,
                    complete: None,
                    detail: Some(e),
                }))
            }
        }
    }

    /// Admits a request from `peer` at `now_ms`: rate, PoW, decryption, signature and
    /// validation (see the module docs for each rule).
    pub fn admit(
        &mut self,
        peer: &K,
        request: &P2PRequest,
        now_ms: u64,
    ) -> Result<Admitted, Box<Rejection>> {
        let id = request.id();
        if !self.take_token(peer, now_ms) {
            return Err(Rejection::failed(RejectReason::RateLimited, id, "rate limit exceeded"));
        }
        let opened = match request {
            P2PRequest::Direct(d) => OpenedRequest::from_direct(d),
            P2PRequest::Envelope(envelope) => self.open(envelope, id)?,
        };
        let result = self.validate(opened, now_ms);
        match &result {
            Ok(a) => tracing::debug!(
                target: "mailserver",
                request = %hex(&a.request_id),
                from = a.query.from,
                to = a.query.to,
                topics = a.query.topics.as_ref().map_or(0, Vec::len),
                limit = a.query.limit,
                "request admitted"
            ),
            Err(r) => tracing::debug!(
                target: "mailserver",
                request = %hex(&id),
                reason = r.reason.label(),
                "request rejected"
            ),
        }
        result
    }

    fn take_token(&mut self, peer: &K, now_ms: u64) -> bool {
        let limit = self.config.rate_limit;
        if limit.per_second == 0 {
            return true;
        }
        if self.peers.len() >= PRUNE_THRESHOLD && !self.peers.contains_key(peer) {
            self.prune(now_ms);
        }
        let entry = self
            .peers
            .entry(peer.clone())
            .or_insert_with(|| PeerBucket { bucket: Bucket::new(&limit, now_ms), last_ms: now_ms });
        entry.last_ms = entry.last_ms.max(now_ms);
        entry.bucket.take(&limit, 1, now_ms)
    }

    fn open(&self, envelope: &Envelope, id: [u8; 32]) -> Result<OpenedRequest, Box<Rejection>> {
        let min_pow = self.config.min_request_pow;
        if min_pow > 0.0 && envelope.pow() < min_pow {
            return Err(Rejection::failed(RejectReason::PowTooLow, id, "PoW too low"));
        }
        let opened = match open_request(envelope, &self.keys.opening_keys()) {
            Ok(o) => o,
            Err(RequestError::Undecryptable) => {
                return Err(Rejection::failed(
                    RejectReason::Undecryptable,
                    id,
                    "failed to decrypt p2p request",
                ));
            }
            Err(e) => {
                let mut r = Rejection::failed(
                    RejectReason::Malformed,
                    id,
                    format!("failed to decode data: {e}"),
                );
                r.detail = Some(e);
                return Err(r);
            }
        };
        if self.config.require_signature && opened.signer.is_none() {
            return Err(Rejection::failed(
                RejectReason::Unsigned,
                id,
                "check message signature failed: wrong signature of p2p request",
            ));
        }
        Ok(opened)
    }

    fn validate(&self, opened: OpenedRequest, now_ms: u64) -> Result<Admitted, Box<Rejection>> {
        let OpenedRequest { id, request, .. } = opened;
        let c = &self.config;
        let now_secs = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
        let upper = if request.upper == 0 {
            now_secs.saturating_add(UPPER_DEFAULT_SLACK_SECS)
        } else {
            request.upper
        };
        if request.lower > upper {
            // An empty range: nothing to send, nothing to follow.
            return Err(Rejection::new(
                RejectReason::ReversedRange,
                id,
                P2PRequestComplete::completed(id, [0; 32], Bytes::new()),
            ));
        }
        let topics = (!request.topics.is_empty()).then_some(request.topics);
        if topics.is_none() {
            if request.bloom.is_empty() {
                return Err(Rejection::failed(
                    RejectReason::NoTopics,
                    id,
                    "request is invalid: bloom filter and topics is empty",
                ));
            }
            if c.max_bloom_range_secs > 0 && upper - request.lower > c.max_bloom_range_secs {
                return Err(Rejection::failed(
                    RejectReason::RangeTooLong,
                    id,
                    "query range must be smaller or equal to 24 hours",
                ));
            }
        }
        let after = cursor_from_wire(&request.cursor)
            .map_err(|reason| Rejection::failed(reason, id, "invalid cursor"))?;
        let max_limit = c.max_limit.clamp(1, MAX_LIMIT);
        let limit = match request.limit {
            0 => c.default_limit.clamp(1, max_limit),
            l => l.min(max_limit),
        };
        Ok(Admitted {
            request_id: id,
            query: Query {
                from: request.lower,
                to: upper,
                topics,
                bloom: if request.bloom.is_empty() { Bloom::FULL } else { request.bloom },
                limit,
                after,
            },
            max_packet_bytes: c.max_packet_bytes,
            store_batch: c.store_batch.max(1),
            max_reply_bytes: c.max_reply_bytes,
        })
    }
}

/// Answers an admitted request from `store`: queries it in batches of
/// [`Admitted::store_batch`] until the limit, the end of the range or
/// [`Admitted::max_reply_bytes`], splits the envelopes into P2P Message batches of at most
/// [`Admitted::max_packet_bytes`], and ends with the completion: the hash of the last envelope
/// sent and, if more match, the cursor to continue from. An archive error gives a failure
/// report (and [`Outcome::StoreFailed`]) instead.
pub async fn serve_request<S: Store>(store: &S, admitted: &Admitted) -> Reply {
    let id = admitted.request_id;
    let mut remaining = admitted.query.limit;
    let mut after = admitted.query.after;
    let mut envelopes: Vec<Vec<u8>> = Vec::new();
    let mut bytes = 0usize;
    let next = loop {
        let query = Query {
            limit: remaining.min(admitted.store_batch).max(1),
            after,
            ..admitted.query.clone()
        };
        let page = match store.query(&query).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(target: "mailserver", request = %hex(&id), error = %e, "archive query failed");
                return Reply {
                    request_id: id,
                    messages: Vec::new(),
                    complete: P2PRequestComplete::failed(id, "failed to process the request"),
                    outcome: Outcome::StoreFailed,
                };
            }
        };
        let got = u32::try_from(page.envelopes.len()).unwrap_or(u32::MAX);
        bytes += page.envelopes.iter().map(Vec::len).sum::<usize>();
        envelopes.extend(page.envelopes);
        remaining = remaining.saturating_sub(got);
        match page.next {
            None => break None,
            // A short page with a cursor is a bloom scan that stopped at the archive's scan
            // cap (`store::BLOOM_SCAN_LIMIT`): hand the cursor to the client rather than scan
            // on, so one request costs at most `limit / store_batch` queries.
            Some(c) if remaining == 0 || bytes >= admitted.max_reply_bytes || got < query.limit => {
                break Some(c);
            }
            Some(c) => after = Some(c),
        }
    };
    let last_envelope_hash = envelopes.last().map_or([0; 32], keccak256);
    let count = envelopes.len();
    let messages = split_batches(envelopes, admitted.max_packet_bytes);
    let cursor = next.as_ref().map_or_else(Bytes::new, cursor_to_wire);
    tracing::debug!(
        target: "mailserver",
        request = %hex(&id),
        envelopes = count,
        packets = messages.len(),
        more = next.is_some(),
        "request served"
    );
    Reply {
        request_id: id,
        outcome: Outcome::Served {
            envelopes: count,
            packets: messages.len(),
            bytes,
            more: next.is_some(),
        },
        messages,
        complete: P2PRequestComplete::completed(id, last_envelope_hash, cursor),
    }
}

/// Splits envelopes into batches whose P2P Message payload stays within `budget` bytes; an
/// envelope larger than the budget goes alone.
fn split_batches(envelopes: Vec<Vec<u8>>, budget: usize) -> Vec<P2PMessageBatch> {
    let mut batches = Vec::new();
    let mut current = P2PMessageBatch::default();
    let mut size = 0usize;
    for e in envelopes {
        let grown = size + e.len();
        if !current.envelopes.is_empty() && alloy_rlp::length_of_length(grown) + grown > budget {
            batches.push(std::mem::take(&mut current));
            size = 0;
        }
        size += e.len();
        current.envelopes.push(e);
    }
    if !current.envelopes.is_empty() {
        batches.push(current);
    }
    batches
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_budget() {
        let envs: Vec<Vec<u8>> = (0..10).map(|i| vec![0xc0 + (i as u8 % 8); 100]).collect();
        let batches = split_batches(envs.clone(), 305);
        assert!(batches.iter().all(|b| b.payload_len() <= 305));
        assert_eq!(batches.iter().map(|b| b.envelopes.len()).sum::<usize>(), 10);
        assert_eq!(batches.concat_envelopes(), envs);
        // An envelope larger than the budget goes alone.
        let big = split_batches(vec![vec![1; 50], vec![2; 500], vec![3; 50]], 200);
        assert_eq!(big.len(), 3);
    }

    trait Concat {
        fn concat_envelopes(&self) -> Vec<Vec<u8>>;
    }
    impl Concat for Vec<P2PMessageBatch> {
        fn concat_envelopes(&self) -> Vec<Vec<u8>> {
            self.iter().flat_map(|b| b.envelopes.clone()).collect()
        }
    }

    #[test]
    fn cursor_wire_forms() {
        let c = Cursor { sent: 0x0102_0304, hash: [7; 32], topic: Topic([1, 2, 3, 4]) };
        let wire = cursor_to_wire(&c);
        assert_eq!(wire.len(), WIRE_CURSOR_LEN);
        assert_eq!(&wire[..4], &[1, 2, 3, 4]);
        let back = cursor_from_wire(&wire).unwrap().unwrap();
        assert_eq!((back.sent, back.hash, back.topic), (c.sent, c.hash, Topic([0xff; 4])));
        let mut key = wire.to_vec();
        key.extend_from_slice(&c.topic.0);
        assert_eq!(cursor_from_wire(&key).unwrap(), Some(c));
        assert_eq!(cursor_from_wire(&[]).unwrap(), None);
        assert_eq!(cursor_from_wire(&[0; 35]), Err(RejectReason::BadCursor));
    }
}
