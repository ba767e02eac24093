//! The rendezvous server's registry: a sans-io state machine.
//!
//! Inputs: requests ([`Message`]s) with the time they arrived, as a [`Duration`] since any fixed
//! origin of a monotonic clock. Outputs: the response to each request. Nothing here reads a
//! clock or touches a socket; the libp2p driver (`net`, feature `rendezvous`) feeds it.
//!
//! Rules, as the Go server v1.3.x applies them (status-im/rendezvous `server/server.go`,
//! IMPLEMENTER-NOTES §2 item 7):
//! - REGISTER: a topic of 1..=50 bytes without the 0xff delimiter (else
//!   [`Status::INVALID_NAMESPACE`]); a TTL of at most 20 s (else [`Status::INVALID_TTL`]); a
//!   record that verifies under "v4" (else [`Status::INVALID_ENR`]). The record is kept under
//!   (topic, node id), replacing an earlier one of the same node, until arrival + TTL + 0.5 s.
//! - DISCOVER: up to `min(limit, 10)` live records of the topic, picked at random.
//! - A body that does not decode gets [`Status::INVALID_CONTENT`] (see [`Server::invalid`]); a
//!   response type sent as a request gets no answer (the Go server resets the stream).
//!
//! wisp adds bounds the Go server does not have: at most
//! [`ServerConfig::max_records_per_topic`] records per topic and [`ServerConfig::max_records`]
//! in all. A registration beyond them (from a node not yet registered under that topic) is
//! answered with [`Status::INTERNAL_ERROR`] and the message "registry full".

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use super::message::{
    Discover, DiscoverResponse, Message, RecordBytes, Register, RegisterResponse, RemoteIpResponse,
    Status, kind,
};
use crate::enr::EnrError;

/// The longest TTL a registration may ask for (Go `longestTTL`).
pub const MAX_TTL: Duration = Duration::from_secs(20);
/// The time added to a TTL for the network delay (Go `networkDelay`).
pub const NETWORK_DELAY: Duration = Duration::from_millis(500);
/// The most records one discover returns (Go `maxLimit`).
pub const MAX_LIMIT: u64 = 10;
/// The longest topic in bytes (Go `maxTopicLength`).
pub const MAX_TOPIC_LEN: usize = 50;
/// The byte that a topic may not contain (Go `TopicBodyDelimiter`).
pub const TOPIC_DELIMITER: u8 = 0xff;

/// The server's limits. `Default` gives the Go server's values and wisp's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The longest TTL accepted. Default: 20 s ([`MAX_TTL`]).
    pub max_ttl: Duration,
    /// Added to every TTL. Default: 0.5 s ([`NETWORK_DELAY`]).
    pub network_delay: Duration,
    /// The cap on a discover's limit. Default: 10 ([`MAX_LIMIT`]).
    pub max_limit: u64,
    /// The most records kept under one topic. Default: 1000.
    pub max_records_per_topic: usize,
    /// The most records kept in all. Default: 10 000.
    pub max_records: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_ttl: MAX_TTL,
            network_delay: NETWORK_DELAY,
            max_limit: MAX_LIMIT,
            max_records_per_topic: 1000,
            max_records: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    record: RecordBytes,
    expires: Duration,
}

/// The registry of a rendezvous server.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    /// topic -> node address (keccak256 of the public key) -> entry.
    topics: HashMap<String, HashMap<[u8; 32], Entry>>,
    /// Every kept record by (expiry, topic, node address), so expiry costs O(log n) a record.
    deadlines: BTreeSet<(Duration, String, [u8; 32])>,
    total: usize,
    rng: u64,
}

/// The status a record's decoding error gets: shape errors are undecodable content (the Go
/// server fails to decode the REGISTER body), the rest are an invalid record.
pub fn enr_error_status(e: &EnrError) -> Status {
    match e {
        EnrError::TooLarge { .. }
        | EnrError::Rlp(_)
        | EnrError::TrailingBytes(_)
        | EnrError::OddPairs
        | EnrError::KeyOrder { .. } => Status::INVALID_CONTENT,
        _ => Status::INVALID_ENR,
    }
}

impl Server {
    /// An empty registry. `seed` drives the random choice of discovered records.
    pub fn new(config: ServerConfig, seed: u64) -> Self {
        Self { config, topics: HashMap::new(), deadlines: BTreeSet::new(), total: 0, rng: seed | 1 }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Answers a request that arrived at `now`; `None` for a message that is not a request (the
    /// driver then drops the stream). REMOTEIP is answered with `remote_ip`, the asker's address
    /// as the driver sees it, or [`Status::INTERNAL_ERROR`] when there is none.
    pub fn handle(
        &mut self,
        now: Duration,
        request: &Message,
        remote_ip: Option<std::net::Ipv4Addr>,
    ) -> Option<Message> {
        Some(match request {
            Message::Register(m) => Message::RegisterResponse(self.register(now, m)),
            Message::Discover(m) => Message::DiscoverResponse(self.discover(now, m)),
            Message::RemoteIp => Message::RemoteIpResponse(match remote_ip {
                Some(ip) => RemoteIpResponse { status: Status::OK, ip: ip.to_string() },
                None => RemoteIpResponse { status: Status::INTERNAL_ERROR, ip: String::new() },
            }),
            _ => return None,
        })
    }

    /// The answer to a request of type `kind` whose body did not decode: REGISTER and DISCOVER
    /// get [`Status::INVALID_CONTENT`]; other types get none.
    pub fn invalid(kind: u64) -> Option<Message> {
        match kind {
            kind::REGISTER => Some(Message::RegisterResponse(RegisterResponse {
                status: Status::INVALID_CONTENT,
                message: String::new(),
            })),
            kind::DISCOVER => Some(Message::DiscoverResponse(DiscoverResponse {
                status: Status::INVALID_CONTENT,
                message: String::new(),
                records: Vec::new(),
            })),
            _ => None,
        }
    }

    /// Handles a REGISTER that arrived at `now`.
    pub fn register(&mut self, now: Duration, request: &Register) -> RegisterResponse {
        let reply = |status: Status, message: &str| RegisterResponse {
            status,
            message: message.to_owned(),
        };
        let topic = request.topic.as_bytes();
        if topic.is_empty() || topic.len() > MAX_TOPIC_LEN || topic.contains(&TOPIC_DELIMITER) {
            return reply(Status::INVALID_NAMESPACE, "");
        }
        let ttl = request.ttl();
        if ttl > self.config.max_ttl {
            return reply(Status::INVALID_TTL, "");
        }
        let enr = match request.record.verify() {
            Ok(enr) => enr,
            Err(e) => return reply(enr_error_status(&e), ""),
        };
        self.expire(now);
        let key = enr.node_address();
        let expires = now.saturating_add(ttl).saturating_add(self.config.network_delay);
        let entry = Entry { record: request.record.clone(), expires };
        let per_topic = self.config.max_records_per_topic;
        let full_total = self.total >= self.config.max_records;
        let records = self.topics.entry(request.topic.clone()).or_default();
        if let Some(existing) = records.get_mut(&key) {
            self.deadlines.remove(&(existing.expires, request.topic.clone(), key));
            *existing = entry;
        } else {
            if records.len() >= per_topic || full_total {
                if records.is_empty() {
                    self.topics.remove(&request.topic);
                }
                return reply(Status::INTERNAL_ERROR, "registry full");
            }
            records.insert(key, entry);
            self.total += 1;
        }
        self.deadlines.insert((expires, request.topic.clone(), key));
        reply(Status::OK, "")
    }

    /// Handles a DISCOVER that arrived at `now`.
    pub fn discover(&mut self, now: Duration, request: &Discover) -> DiscoverResponse {
        self.expire(now);
        let limit = usize::try_from(request.limit.min(self.config.max_limit)).unwrap_or(0);
        let mut records: Vec<&RecordBytes> = self
            .topics
            .get(&request.topic)
            .map(|r| r.values().map(|e| &e.record).collect())
            .unwrap_or_default();
        // A partial Fisher-Yates shuffle: the first `limit` slots get a uniform random choice.
        let take = limit.min(records.len());
        for i in 0..take {
            let span = (records.len() - i) as u64;
            let j = i + usize::try_from(next_random(&mut self.rng) % span).unwrap_or(0);
            records.swap(i, j);
        }
        records.truncate(take);
        DiscoverResponse {
            status: Status::OK,
            message: String::new(),
            records: records.into_iter().cloned().collect(),
        }
    }

    /// Drops every record whose time ran out by `now`; returns how many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let mut dropped = 0;
        while let Some(first) = self.deadlines.first() {
            if first.0 > now {
                break;
            }
            let Some((_, topic, key)) = self.deadlines.pop_first() else { break };
            if let Some(records) = self.topics.get_mut(&topic) {
                if records.remove(&key).is_some() {
                    dropped += 1;
                }
                if records.is_empty() {
                    self.topics.remove(&topic);
                }
            }
        }
        self.total -= dropped;
        dropped
    }

    /// When the next record expires, if any is kept (for the driver's timer).
    pub fn next_expiry(&self) -> Option<Duration> {
        self.deadlines.first().map(|d| d.0)
    }

    /// The number of records kept (some may have expired since the last request).
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether no record is kept.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The number of records kept under `topic`.
    pub fn topic_len(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, HashMap::len)
    }
}

/// xorshift64*: cheap and good enough to spread discover answers; not for secrets.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    use wisp_crypto::SecretKey;

    use super::*;
    use crate::enr::{Enr, EnrBuilder};

    fn enr(i: u8) -> Enr {
        let key = SecretKey::from_bytes(&[i; 32]).unwrap();
        EnrBuilder::new(1).ip4(Ipv4Addr::LOCALHOST).tcp(30000 + u16::from(i)).sign(&key).unwrap()
    }

    fn register(topic: &str, i: u8, ttl: Duration) -> Register {
        Register::new(topic, &enr(i), ttl)
    }

    fn discover(topic: &str, limit: u64) -> Discover {
        Discover { limit, topic: topic.into() }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn register_then_discover_until_expiry() {
        let mut server = Server::new(ServerConfig::default(), 7);
        let t0 = Duration::from_secs(100);
        assert_eq!(server.register(t0, &register("whisper", 1, 10 * S)).status, Status::OK);
        assert_eq!(server.register(t0, &register("whisper", 2, 5 * S)).status, Status::OK);
        assert_eq!(server.register(t0, &register("whispermail", 2, 5 * S)).status, Status::OK);
        assert_eq!(server.len(), 3);
        let found = server.discover(t0, &discover("whisper", 10));
        assert_eq!(found.status, Status::OK);
        let found: HashSet<_> = found.records.iter().map(|r| r.verify().unwrap()).collect();
        assert_eq!(found, HashSet::from([enr(1), enr(2)]));
        // The 5 s record lives until 5.5 s; the 10 s one until 10.5 s.
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(server.discover(at(5_499), &discover("whisper", 10)).records.len(), 2);
        assert_eq!(server.discover(at(5_500), &discover("whisper", 10)).records.len(), 1);
        assert_eq!(server.topic_len("whispermail"), 0);
        assert_eq!(server.next_expiry(), Some(at(10_500)));
        assert_eq!(server.expire(at(10_500)), 1);
        assert!(server.is_empty());
        assert_eq!(server.next_expiry(), None);
        assert!(server.discover(at(10_500), &discover("unknown", 10)).records.is_empty());
    }

    #[test]
    fn reregistration_replaces_and_extends() {
        let mut server = Server::new(ServerConfig::default(), 1);
        server.register(Duration::ZERO, &register("whisper", 1, 2 * S));
        server.register(2 * S, &register("whisper", 1, 2 * S));
        assert_eq!(server.len(), 1);
        assert_eq!(server.discover(4 * S, &discover("whisper", 5)).records.len(), 1);
        assert_eq!(server.discover(4500 * S / 1000, &discover("whisper", 5)).records.len(), 0);
    }

    #[test]
    fn status_codes_as_the_go_server() {
        let mut server = Server::new(ServerConfig::default(), 1);
        let status = |s: &mut Server, r: Register| s.register(S, &r).status;
        assert_eq!(status(&mut server, register("", 1, S)), Status::INVALID_NAMESPACE);
        assert_eq!(status(&mut server, register(&"a".repeat(51), 1, S)), Status::INVALID_NAMESPACE);
        assert_eq!(status(&mut server, register(&"a".repeat(50), 1, S)), Status::OK);
        let mut delimited = register("whisper", 1, S);
        delimited.topic = "wh\u{ff}".into(); // U+00FF is 0xc3 0xbf in UTF-8: allowed.
        assert_eq!(status(&mut server, delimited), Status::OK);
        assert_eq!(status(&mut server, register("whisper", 1, 20 * S)), Status::OK);
        let mut too_long = register("whisper", 1, S);
        too_long.ttl_nanos = 20_000_000_001;
        assert_eq!(status(&mut server, too_long), Status::INVALID_TTL);
        let mut bytes = enr(1).as_bytes().to_vec();
        bytes[5] ^= 1;
        let mut forged = register("whisper", 1, S);
        forged.record = RecordBytes::new(&bytes).unwrap();
        assert_eq!(status(&mut server, forged), Status::INVALID_ENR);
        let mut shapeless = register("whisper", 1, S);
        // [signature, seq, key] without a value: Go fails to decode the body.
        shapeless.record = RecordBytes::new(&[0xc3, 0x01, 0x02, 0x03]).unwrap();
        assert_eq!(status(&mut server, shapeless), Status::INVALID_CONTENT);
        assert!(matches!(
            Server::invalid(kind::REGISTER),
            Some(Message::RegisterResponse(RegisterResponse {
                status: Status::INVALID_CONTENT,
                ..
            }))
        ));
        assert!(matches!(
            Server::invalid(kind::DISCOVER),
            Some(Message::DiscoverResponse(DiscoverResponse {
                status: Status::INVALID_CONTENT,
                ..
            }))
        ));
        assert_eq!(Server::invalid(kind::REGISTER_RESPONSE), None);
        let response = Message::RegisterResponse(RegisterResponse {
            status: Status::OK,
            message: String::new(),
        });
        assert_eq!(server.handle(S, &response, None), None);
        assert_eq!(
            server.handle(S, &Message::RemoteIp, Some(Ipv4Addr::LOCALHOST)),
            Some(Message::RemoteIpResponse(RemoteIpResponse {
                status: Status::OK,
                ip: "127.0.0.1".into()
            }))
        );
    }

    #[test]
    fn limit_capped_and_random() {
        let mut server = Server::new(ServerConfig::default(), 42);
        for i in 1..=30 {
            assert_eq!(server.register(S, &register("whisper", i, 10 * S)).status, Status::OK);
        }
        assert_eq!(server.discover(S, &discover("whisper", 1000)).records.len(), 10);
        assert_eq!(server.discover(S, &discover("whisper", 3)).records.len(), 3);
        assert_eq!(server.discover(S, &discover("whisper", 0)).records.len(), 0);
        let mut seen = HashSet::new();
        for _ in 0..20 {
            let records = server.discover(S, &discover("whisper", 10)).records;
            let distinct: HashSet<_> = records.iter().collect();
            assert_eq!(distinct.len(), 10, "no record twice in one answer");
            seen.extend(records);
        }
        assert!(seen.len() > 20, "answers spread over the records ({} seen)", seen.len());
    }

    #[test]
    fn bounded_per_topic_and_in_all() {
        let config =
            ServerConfig { max_records_per_topic: 3, max_records: 5, ..Default::default() };
        let mut server = Server::new(config, 3);
        for i in 1..=3 {
            assert_eq!(server.register(S, &register("a", i, 10 * S)).status, Status::OK);
        }
        let full = server.register(S, &register("a", 4, 10 * S));
        assert_eq!((full.status, full.message.as_str()), (Status::INTERNAL_ERROR, "registry full"));
        // A node already registered may renew.
        assert_eq!(server.register(S, &register("a", 2, 10 * S)).status, Status::OK);
        assert_eq!(server.register(S, &register("b", 1, 10 * S)).status, Status::OK);
        assert_eq!(server.register(S, &register("c", 1, 10 * S)).status, Status::OK);
        assert_eq!(server.register(S, &register("d", 1, 10 * S)).status, Status::INTERNAL_ERROR);
        assert_eq!(server.topic_len("d"), 0);
        assert_eq!(server.len(), 5);
        // Once they expire there is room again.
        assert_eq!(server.register(12 * S, &register("d", 1, 10 * S)).status, Status::OK);
        assert_eq!(server.len(), 1);
    }

    mod prop {
        use std::collections::HashMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Register { topic: u8, node: u8, ttl_ms: u64 },
            Discover { topic: u8, limit: u64 },
            Advance { ms: u64 },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..3u8, 1..8u8, 0..25_000u64).prop_map(|(topic, node, ttl_ms)| Op::Register {
                    topic,
                    node,
                    ttl_ms
                }),
                (0..3u8, 0..15u64).prop_map(|(topic, limit)| Op::Discover { topic, limit }),
                (0..3_000u64).prop_map(|ms| Op::Advance { ms }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// The registry agrees with a plain model: a record lives until its arrival + TTL +
            /// 0.5 s, TTLs over 20 s are refused, a discover returns min(limit, 10, live)
            /// distinct live records of its topic, and the bounds hold.
            #[test]
            fn agrees_with_a_model(ops in proptest::collection::vec(op(), 1..60)) {
                let config = ServerConfig { max_records_per_topic: 5, max_records: 9, ..Default::default() };
                let mut server = Server::new(config, 9);
                let records: Vec<Enr> = (0..8).map(|i| enr(i + 1)).collect();
                // (topic, node) -> expiry
                let mut model: HashMap<(u8, u8), Duration> = HashMap::new();
                let mut now = Duration::from_secs(1);
                for op in ops {
                    model.retain(|_, expires| *expires > now);
                    match op {
                        Op::Register { topic, node, ttl_ms } => {
                            let ttl = Duration::from_millis(ttl_ms);
                            let request = Register::new(
                                format!("t{topic}"), &records[usize::from(node - 1)], ttl);
                            let status = server.register(now, &request).status;
                            let known = model.contains_key(&(topic, node));
                            let in_topic = model.keys().filter(|k| k.0 == topic).count();
                            let expected = if ttl > MAX_TTL {
                                Status::INVALID_TTL
                            } else if !known && (in_topic >= 5 || model.len() >= 9) {
                                Status::INTERNAL_ERROR
                            } else {
                                Status::OK
                            };
                            prop_assert_eq!(status, expected);
                            if status == Status::OK {
                                model.insert((topic, node), now + ttl + NETWORK_DELAY);
                            }
                        }
                        Op::Discover { topic, limit } => {
                            let found = server.discover(now, &Discover { limit, topic: format!("t{topic}") });
                            let live: Vec<u8> = model.keys().filter(|k| k.0 == topic).map(|k| k.1).collect();
                            let want = (limit.min(10) as usize).min(live.len());
                            prop_assert_eq!(found.records.len(), want);
                            let mut nodes = Vec::new();
                            for r in &found.records {
                                let enr = r.verify().unwrap();
                                let node = records.iter().position(|e| *e == enr).unwrap() as u8 + 1;
                                prop_assert!(live.contains(&node));
                                nodes.push(node);
                            }
                            nodes.sort_unstable();
                            nodes.dedup();
                            prop_assert_eq!(nodes.len(), want);
                        }
                        Op::Advance { ms } => now += Duration::from_millis(ms),
                    }
                    server.expire(now);
                    model.retain(|_, expires| *expires > now);
                    prop_assert_eq!(server.len(), model.len());
                    prop_assert_eq!(server.next_expiry(), model.values().min().copied());
                }
            }
        }
    }
}
