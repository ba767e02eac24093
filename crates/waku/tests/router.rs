//! In-memory peers: routers wired together by a tiny loss-free network on a virtual clock.
//! Covers the Status handshake, relay, light mode, topic interest, bloom, rate-limit drops,
//! confirmations, bridging between `waku/1` and `shh/6`, and envelope validation.

use std::collections::{HashMap, VecDeque};

use wisp_crypto::{Zeroizing, symmetric_key_from_password};
use wisp_waku::{
    Bloom, Capability, DropReason, Encryption, Envelope, EnvelopeDrop, Event, Filter, FilterKey,
    MessageParams, Output, PeerId, Router, RouterConfig, SealBudget, Topic, WakuPacket,
    packets::{PacketLimits, waku_codes},
    ratelimit::{Limit, RateLimitConfig},
    seal_payload,
};

use {
    alloy_rlp as _, bytes as _, criterion as _, hex as _, proptest as _, serde_json as _,
    thiserror as _, tracing as _,
};

const T0: u64 = 1_800_000_000_000; // ms

/// A link end: (node index, the peer id that node uses for the other end).
#[derive(Clone, Copy, Debug)]
struct End {
    node: usize,
    peer: PeerId,
}

struct Net {
    nodes: Vec<Router>,
    /// (node, peer id at that node) -> the other end.
    links: HashMap<(usize, PeerId), End>,
    events: Vec<Vec<Event>>,
    dropped: Vec<Vec<(PeerId, DropReason)>>,
    now: u64,
    next_peer: u64,
    /// Sends, per (from node, to node): code and payload, for inspection.
    wire: Vec<(usize, usize, u64, Vec<u8>)>,
}

impl Net {
    fn new(configs: Vec<RouterConfig>) -> Self {
        let n = configs.len();
        Self {
            nodes: configs.into_iter().map(Router::new).collect(),
            links: HashMap::new(),
            events: vec![Vec::new(); n],
            dropped: vec![Vec::new(); n],
            now: T0,
            next_peer: 1,
            wire: Vec::new(),
        }
    }

    fn link(&mut self, a: usize, b: usize, cap: Capability) {
        let (pa, pb) = (PeerId(self.next_peer), PeerId(self.next_peer + 1));
        self.next_peer += 2;
        self.links.insert((a, pa), End { node: b, peer: pb });
        self.links.insert((b, pb), End { node: a, peer: pa });
        self.nodes[a].add_peer(pa, cap, None, self.now);
        self.nodes[b].add_peer(pb, cap, None, self.now);
        self.run();
    }

    /// Delivers every queued output until the network is quiet.
    fn run(&mut self) {
        loop {
            let mut queue = VecDeque::new();
            for (i, n) in self.nodes.iter_mut().enumerate() {
                while let Some(o) = n.poll_output() {
                    queue.push_back((i, o));
                }
            }
            if queue.is_empty() {
                return;
            }
            while let Some((i, o)) = queue.pop_front() {
                match o {
                    Output::Send { peer, code, payload } => {
                        if let Some(end) = self.links.get(&(i, peer)).copied() {
                            self.wire.push((i, end.node, code, payload.clone()));
                            self.nodes[end.node].handle_packet(end.peer, code, &payload, self.now);
                        }
                    }
                    Output::Disconnect { peer, reason } => {
                        self.dropped[i].push((peer, reason));
                        if let Some(end) = self.links.remove(&(i, peer)) {
                            self.links.remove(&(end.node, end.peer));
                            self.nodes[end.node].remove_peer(end.peer);
                        }
                    }
                    Output::Event(e) => self.events[i].push(e),
                }
            }
        }
    }

    /// Advances the clock by `ms` in transmission-cycle steps, delivering as it goes.
    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now = (self.now + 100).min(end);
            for n in &mut self.nodes {
                n.tick(self.now);
            }
            self.run();
        }
    }

    fn messages_between(&self, from: usize, to: usize) -> usize {
        self.wire
            .iter()
            .filter(|(f, t, c, _)| *f == from && *t == to && *c == waku_codes::MESSAGES)
            .count()
    }
}

fn sym_key() -> Zeroizing<[u8; 32]> {
    // PBKDF2 with 65356 iterations is slow in debug builds: derive once.
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    Zeroizing::new(*KEY.get_or_init(|| *symmetric_key_from_password("refpeers-test")))
}

fn envelope(topic: Topic, text: &str, now_ms: u64, ttl: u32, pow: f64) -> Envelope {
    let data = seal_payload(
        &MessageParams::new(text.as_bytes().to_vec()),
        &Encryption::Symmetric(sym_key()),
    )
    .unwrap();
    let mut env =
        Envelope { expiry: (now_ms / 1000) as u32 + ttl, ttl, topic, data: data.into(), nonce: 0 };
    let mut go = || true;
    let out = env.seal(pow, SealBudget { max_attempts: 1 << 22, keep_going: &mut go });
    assert!(out.reached, "could not seal to {pow}");
    env
}

fn filter(topic: Topic) -> Filter {
    Filter {
        key: FilterKey::Symmetric(sym_key()),
        topics: vec![topic],
        min_pow: 0.0,
        signer: None,
        allow_p2p: false,
    }
}

fn accepted(net: &Net, node: usize) -> usize {
    net.events[node].iter().filter(|e| matches!(e, Event::Accepted { .. })).count()
}

const TA: Topic = Topic([0x12, 0x34, 0x56, 0x78]);
const TB: Topic = Topic([0xde, 0xad, 0xbe, 0xef]);

#[test]
fn status_handshake_then_relay_along_a_line() {
    let mut net =
        Net::new(vec![RouterConfig::default(), RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.link(1, 2, Capability::Waku);
    assert!(net.events[1].iter().filter(|e| matches!(e, Event::PeerReady { .. })).count() == 2);
    let f = net.nodes[2].filters_mut().install(filter(TA));

    let env = envelope(TA, "hello along the line", net.now, 60, 0.002);
    let hash = net.nodes[0].post(env, net.now).unwrap();
    net.advance(1000);

    let got = net.nodes[2].filters_mut().take_messages(f).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"hello along the line");
    assert_eq!(got[0].hash, hash);
    // Relayed once per hop, never back.
    assert_eq!(net.messages_between(0, 1), 1);
    assert_eq!(net.messages_between(1, 2), 1);
    assert_eq!(net.messages_between(1, 0), 0);
    assert_eq!(net.messages_between(2, 1), 0);
    assert_eq!(net.nodes[1].stats().relayed, 1);

    // Posting the same envelope again is a duplicate.
    let copy = net.nodes[0].envelope(&hash).unwrap().clone();
    let again = net.nodes[0].post(copy, net.now);
    assert!(again.is_err());
}

#[test]
fn topic_interest_limits_what_a_light_client_gets() {
    let light =
        RouterConfig { light_node: true, topic_interest: Some(vec![TA]), ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), light]);
    net.link(0, 1, Capability::Waku);
    let status = net.nodes[0].peer_status(PeerId(1)).unwrap().clone();
    assert!(status.light);
    assert!(status.topic_interest.as_ref().unwrap().contains(&TA));

    net.nodes[0].post(envelope(TA, "wanted", net.now, 60, 0.002), net.now).unwrap();
    net.nodes[0].post(envelope(TB, "not wanted", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);

    // A topic-interest update widens it; the bloom alone replaces the interest.
    net.nodes[1].set_topic_interest(vec![TA, TB]);
    net.run();
    net.nodes[0].post(envelope(TB, "now wanted", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 2);
}

#[test]
fn bloom_filter_limits_what_a_peer_gets() {
    let bloom_mode = RouterConfig { bloom: TA.bloom(), ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), bloom_mode]);
    net.link(0, 1, Capability::Waku);
    assert!(!Bloom::from_topic(&TA).matches(&TB));
    net.nodes[0].post(envelope(TA, "in bloom", net.now, 60, 0.002), net.now).unwrap();
    net.nodes[0].post(envelope(TB, "not in bloom", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);
    // An empty bloom wants nothing.
    net.nodes[1].set_bloom(Bloom::EMPTY);
    net.run();
    net.nodes[0].post(envelope(TA, "after empty", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);
}

#[test]
fn light_node_relays_only_its_own_and_refuses_light_peers() {
    let light = || RouterConfig { light_node: true, ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), light(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.link(1, 2, Capability::Waku);
    net.nodes[0].post(envelope(TA, "from a", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1, "the light node receives");
    assert_eq!(accepted(&net, 2), 0, "but does not relay");
    net.nodes[1].post(envelope(TB, "own post", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 2), 1, "its own envelopes go out");

    let mut pair = Net::new(vec![light(), light()]);
    pair.link(0, 1, Capability::Waku);
    assert!(pair.dropped.iter().flatten().any(|(_, r)| *r == DropReason::LightPeer));
}

#[test]
fn flooding_peer_is_dropped_and_others_are_served() {
    let strict = RouterConfig {
        peer_limits: RateLimitConfig {
            packets: Limit { per_second: 5, tolerance: 1.0 },
            bytes: Limit::OFF,
        },
        ..Default::default()
    };
    let mut net = Net::new(vec![strict, RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.link(0, 2, Capability::Waku);
    // Node 1 floods node 0 with Status Updates.
    let update = {
        let mut p = Vec::new();
        WakuPacket::StatusUpdate(Default::default()).encode(&mut p);
        p
    };
    // Node 0 knows node 1 as PeerId(1) (the first link).
    assert_eq!(net.links[&(0, PeerId(1))].node, 1);
    for _ in 0..20 {
        net.nodes[0].handle_packet(PeerId(1), waku_codes::STATUS_UPDATE, &update, net.now);
    }
    net.run();
    assert!(
        net.dropped[0]
            .iter()
            .any(|(p, r)| *p == PeerId(1) && matches!(r, DropReason::RateLimited { .. }))
    );
    assert_eq!(net.nodes[0].stats().rate_limited_peers, 1);
    // Node 2 still gets what node 0 posts.
    net.nodes[0].post(envelope(TA, "still served", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 2), 1);
}

#[test]
fn confirmations_answer_each_batch() {
    let confirming = RouterConfig { confirmations: true, ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), confirming]);
    net.link(0, 1, Capability::Waku);
    net.nodes[0].post(envelope(TA, "confirm me", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    let from1: Vec<u64> =
        net.wire.iter().filter(|(f, _, _, _)| *f == 1).map(|(_, _, c, _)| *c).collect();
    // Status, then Message Response (12) before Batch Ack (11), as status-go.
    let i12 = from1.iter().position(|c| *c == waku_codes::MESSAGE_RESPONSE).unwrap();
    let i11 = from1.iter().position(|c| *c == waku_codes::BATCH_ACK).unwrap();
    assert!(i12 < i11);
    let batch = net.wire.iter().find(|(f, _, c, _)| *f == 0 && *c == waku_codes::MESSAGES).unwrap();
    let want = wisp_waku::batch_hash(&batch.3);
    let confirmed: Vec<[u8; 32]> = net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::Confirmation { batch_hash, errors, .. } => {
                assert!(errors.is_empty());
                Some(*batch_hash)
            }
            _ => None,
        })
        .collect();
    assert_eq!(confirmed, vec![want, want]);
}

/// A mailserver withholds the confirmations of a batch and reports it after the batch's
/// envelopes, so that it can acknowledge only what it archived.
#[test]
fn withheld_batch_ack_is_reported_after_the_batch() {
    let withholding =
        RouterConfig { confirmations: true, withhold_batch_ack: true, ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), withholding]);
    net.link(0, 1, Capability::Waku);
    net.nodes[0].post(envelope(TA, "archive me", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    let from1: Vec<u64> =
        net.wire.iter().filter(|(f, _, _, _)| *f == 1).map(|(_, _, c, _)| *c).collect();
    assert!(!from1.contains(&waku_codes::MESSAGE_RESPONSE), "{from1:?}");
    assert!(!from1.contains(&waku_codes::BATCH_ACK), "{from1:?}");
    let batch = net.wire.iter().find(|(f, _, c, _)| *f == 0 && *c == waku_codes::MESSAGES).unwrap();
    let want = wisp_waku::batch_hash(&batch.3);
    let accepted = net.events[1].iter().position(|e| matches!(e, Event::Accepted { .. })).unwrap();
    let received = net.events[1]
        .iter()
        .position(|e| {
            matches!(e, Event::BatchReceived { batch_hash, capability: Capability::Waku, errors, .. }
                if *batch_hash == want && errors.is_empty())
        })
        .unwrap();
    assert!(accepted < received, "the batch is reported after its envelopes");
    assert!(!net.events[0].iter().any(|e| matches!(e, Event::Confirmation { .. })));
}

#[test]
fn envelopes_are_bridged_between_waku_and_whisper() {
    let mut net =
        Net::new(vec![RouterConfig::default(), RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.link(1, 2, Capability::Whisper);
    let f = net.nodes[2].filters_mut().install(filter(TA));
    net.nodes[0].post(envelope(TA, "waku to shh", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(net.nodes[2].filters_mut().take_messages(f).unwrap().len(), 1);
    let g = net.nodes[0].filters_mut().install(filter(TB));
    net.nodes[2].post(envelope(TB, "shh to waku", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(net.nodes[0].filters_mut().take_messages(g).unwrap().len(), 1);

    // Without bridging, nothing crosses.
    let no_bridge = RouterConfig { bridge: false, ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), no_bridge, RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.link(1, 2, Capability::Whisper);
    net.nodes[0].post(envelope(TA, "stays on waku", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);
    assert_eq!(accepted(&net, 2), 0);
}

fn raw_messages(envs: &[Envelope]) -> Vec<u8> {
    let mut p = Vec::new();
    WakuPacket::Messages(envs.to_vec()).encode(&mut p);
    p
}

fn drops(net: &Net, node: usize) -> Vec<EnvelopeDrop> {
    net.events[node]
        .iter()
        .filter_map(|e| match e {
            Event::Dropped { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn invalid_envelopes_are_dropped_and_counted() {
    let mut net = Net::new(vec![
        RouterConfig { min_pow: 0.001, ..Default::default() },
        RouterConfig::default(),
    ]);
    net.link(0, 1, Capability::Waku);
    let now = net.now;
    let good = envelope(TA, "good", now, 60, 0.002);
    let mut expired = envelope(TA, "expired", now - 120_000, 60, 0.002);
    expired.expiry = (now / 1000) as u32 - 5;
    let low = {
        let mut e = envelope(TA, "low pow", now, 60, 0.0);
        // Find a nonce whose PoW is below 0.001.
        while e.pow() >= 0.001 {
            e.nonce += 1;
        }
        e
    };
    let mut zero_ttl = good.clone();
    zero_ttl.ttl = 0;
    let payload = raw_messages(&[good.clone(), expired, low, zero_ttl, good]);
    net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &payload, now);
    net.run();
    assert_eq!(accepted(&net, 0), 1);
    let d = drops(&net, 0);
    assert!(d.contains(&EnvelopeDrop::Expired));
    assert!(d.contains(&EnvelopeDrop::LowPow));
    assert!(d.contains(&EnvelopeDrop::InvalidTtl));
    assert_eq!(net.nodes[0].stats().dropped[&EnvelopeDrop::LowPow], 1);
    // The sender was not dropped for these.
    assert!(net.dropped[0].is_empty());
}

#[test]
fn future_envelopes_warn_first_then_drop_the_peer() {
    let mut net = Net::new(vec![
        RouterConfig { max_future_offences: 1, ..Default::default() },
        RouterConfig::default(),
    ]);
    net.link(0, 1, Capability::Waku);
    let later = net.now + 3_600_000;
    let e1 = envelope(TA, "from the future 1", later, 60, 0.002);
    let e2 = envelope(TA, "from the future 2", later, 60, 0.002);
    net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &raw_messages(&[e1]), net.now);
    net.run();
    assert!(net.events[0].iter().any(|e| matches!(e, Event::Warned { .. })));
    assert!(net.dropped[0].is_empty(), "first offence only warns");
    net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &raw_messages(&[e2]), net.now);
    net.run();
    assert!(matches!(net.dropped[0][..], [(PeerId(1), DropReason::FutureEnvelopes { count: 2 })]));
}

#[test]
fn handshake_rules() {
    let mut net = Net::new(vec![RouterConfig::default()]);
    // A peer that sends Messages before Status is dropped.
    net.nodes[0].add_peer(PeerId(7), Capability::Waku, None, net.now);
    net.nodes[0].handle_packet(PeerId(7), waku_codes::MESSAGES, &raw_messages(&[]), net.now);
    // A peer that never sends Status times out.
    net.nodes[0].add_peer(PeerId(8), Capability::Waku, None, net.now);
    // A malformed Status is a bad packet.
    net.nodes[0].add_peer(PeerId(9), Capability::Waku, None, net.now);
    net.nodes[0].handle_packet(PeerId(9), waku_codes::STATUS, &[0xc3, 0x01, 0x02], net.now);
    net.run();
    net.advance(6_000);
    let d: HashMap<PeerId, DropReason> = net.dropped[0].iter().cloned().collect();
    assert_eq!(d[&PeerId(7)], DropReason::PacketBeforeStatus { code: 1 });
    assert_eq!(d[&PeerId(8)], DropReason::StatusTimeout);
    assert!(matches!(d[&PeerId(9)], DropReason::BadPacket { .. }));
}

#[test]
fn captured_status_packets_set_the_peer_status() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/waku/packets.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut checked = 0;
    for p in doc["packets"].as_array().unwrap() {
        if p["relative_code"].as_u64() != Some(0) {
            continue;
        }
        let body = hex::decode(p["body_plain"].as_str().unwrap()).unwrap();
        let mut r = Router::new(RouterConfig::default());
        r.add_peer(PeerId(1), Capability::Waku, None, T0);
        r.handle_packet(PeerId(1), 0, &body, T0);
        let s = r.peer_status(PeerId(1)).unwrap_or_else(|| panic!("{}", p["name"]));
        assert_eq!(s.pow, 2e-6, "{}", p["name"]);
        let name = p["name"].as_str().unwrap();
        assert_eq!(s.light, name.contains("bloom_mode"), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn our_status_is_what_status_go_sends() {
    // A default full node sends keys 0,1,2,3,4,6 like statusd's default (s1).
    let mut r = Router::new(RouterConfig::default());
    r.add_peer(PeerId(1), Capability::Waku, None, T0);
    let Some(Output::Send { code: 0, payload, .. }) = r.poll_output() else { panic!() };
    let status = match WakuPacket::decode(0, &payload, &PacketLimits::default()).unwrap() {
        WakuPacket::Status(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(status.pow_requirement, Some(2e-6));
    assert!(status.bloom.unwrap().is_full());
    assert_eq!((status.light_node, status.confirmations_enabled), (Some(false), Some(false)));
    assert!(status.packet_rate_limits.is_some() && status.bytes_rate_limits.is_some());
    assert!(status.topic_interest.is_none());
}

#[test]
fn p2p_requests_are_passed_on_undecoded() {
    let mut net = Net::new(vec![RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    // status-go's messenger sends a bare request list, not an envelope.
    let direct = [0xc5, 0x01, 0x02, 0x03, 0x80, 0xc0];
    net.nodes[0].handle_packet(PeerId(1), waku_codes::P2P_REQUEST, &direct, net.now);
    net.run();
    let got: Vec<&Vec<u8>> = net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::P2PRequest { payload, .. } => Some(payload),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![&direct.to_vec()]);
    assert!(net.dropped[0].is_empty());
    // Before its Status a peer may not ask.
    net.nodes[0].add_peer(PeerId(50), Capability::Waku, None, net.now);
    net.nodes[0].handle_packet(PeerId(50), waku_codes::P2P_REQUEST, &direct, net.now);
    net.run();
    assert_eq!(net.dropped[0], vec![(PeerId(50), DropReason::PacketBeforeStatus { code: 126 })]);
}

#[test]
fn an_envelope_reaches_a_filter_once_whether_relayed_or_from_a_mailserver() {
    let mut net = Net::new(vec![RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.nodes[1].mark_trusted(PeerId(2));
    let f = net.nodes[1].filters_mut().install(Filter { allow_p2p: true, ..filter(TA) });
    let env = envelope(TA, "twice", net.now, 60, 0.002);
    net.nodes[0].post(env.clone(), net.now).unwrap();
    net.advance(1000);
    // Now the same envelope again as a mailserver delivery (P2P Message, code 127).
    let mut p = Vec::new();
    WakuPacket::P2PMessage(vec![env]).encode(&mut p);
    net.nodes[1].handle_packet(PeerId(2), waku_codes::P2P_MESSAGE, &p, net.now);
    net.run();
    assert_eq!(net.nodes[1].filters_mut().take_messages(f).unwrap().len(), 1);
}
