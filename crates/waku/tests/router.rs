//! In-memory peers: routers wired together by a tiny loss-free network on a virtual clock.
//! Covers the Status handshake, relay, light mode, topic interest, bloom, rate-limit drops,
//! confirmations, bridging between `waku/1` and `shh/6`, and envelope validation.

mod testdata;

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

/// An interest change made while the peer's Status is still on its way reaches that peer
/// (our Status went out with the old interest). Found by wisp-sim (`wisp sim --scenario chat
/// --seed 2 --nodes 4 --light 6 --size 128 --messengers 6`): a light client whose messenger
/// installed its filters during the handshakes missed a public message of its chat.
#[test]
fn interest_change_during_the_handshake_reaches_the_peer() {
    let light =
        RouterConfig { light_node: true, topic_interest: Some(vec![TA]), ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), light]);
    let (pa, pb) = (PeerId(net.next_peer), PeerId(net.next_peer + 1));
    net.next_peer += 2;
    net.links.insert((0, pa), End { node: 1, peer: pb });
    net.links.insert((1, pb), End { node: 0, peer: pa });
    net.nodes[0].add_peer(pa, Capability::Waku, None, net.now);
    net.nodes[1].add_peer(pb, Capability::Waku, None, net.now);
    // Node 1 widens its interest before node 0's Status arrived.
    net.nodes[1].set_topic_interest(vec![TA, TB]);
    net.run();
    let status = net.nodes[0].peer_status(pa).unwrap().clone();
    assert!(status.topic_interest.as_ref().unwrap().contains(&TB), "{status:?}");
    net.nodes[0]
        .post(envelope(TB, "wanted since the update", net.now, 60, 0.002), net.now)
        .unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);
    // The same for a bloom.
    let mut net = Net::new(vec![
        RouterConfig::default(),
        RouterConfig { bloom: TA.bloom(), ..Default::default() },
    ]);
    let (pa, pb) = (PeerId(net.next_peer), PeerId(net.next_peer + 1));
    net.links.insert((0, pa), End { node: 1, peer: pb });
    net.links.insert((1, pb), End { node: 0, peer: pa });
    net.nodes[0].add_peer(pa, Capability::Waku, None, net.now);
    net.nodes[1].add_peer(pb, Capability::Waku, None, net.now);
    net.nodes[1].set_bloom(Bloom::from_topics([TA, TB].iter()));
    net.run();
    net.nodes[0].post(envelope(TB, "in the new bloom", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);
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
    let doc = testdata::json("vectors/waku/packets.json");
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

// ---- Issue 11: the router under load. ----

/// A tiny valid envelope: 4 bytes of data, an hour's TTL (its PoW passes the default minimum
/// with any nonce). `i` makes it unique.
fn tiny(i: u32, now_ms: u64, ttl: u32) -> Envelope {
    Envelope {
        expiry: (now_ms / 1000) as u32 + ttl,
        ttl,
        topic: TA,
        data: i.to_be_bytes().to_vec().into(),
        nonce: 0,
    }
}

fn decode_messages(payload: &[u8]) -> Vec<Envelope> {
    let limits = PacketLimits { max_envelopes: usize::MAX, ..PacketLimits::default() };
    match WakuPacket::decode(waku_codes::MESSAGES, payload, &limits).unwrap() {
        WakuPacket::Messages(envs) => envs,
        other => panic!("{other:?}"),
    }
}

/// Every Messages packet `from` sent `to`: its payload length and envelope count.
fn messages_sent(net: &Net, from: usize, to: usize) -> Vec<(usize, usize)> {
    net.wire
        .iter()
        .filter(|(f, t, c, _)| *f == from && *t == to && *c == waku_codes::MESSAGES)
        .map(|(_, _, _, p)| (p.len(), decode_messages(p).len()))
        .collect()
}

#[test]
fn a_packet_of_too_many_envelopes_costs_its_sender_nothing() {
    // Issue 11: 10 500 tiny valid envelopes in one Messages packet (a relay that splits only
    // by bytes) used to be a malformed packet that dropped, then banned, the sender.
    let mut net = Net::new(vec![RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    let envs: Vec<Envelope> = (0..10_500).map(|i| tiny(i, net.now, 3600)).collect();
    let payload = raw_messages(&envs);
    assert!(payload.len() < 1 << 20);
    net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &payload, net.now);
    net.run();
    assert!(net.dropped[0].is_empty(), "{:?}", net.dropped[0]);
    assert_eq!(net.nodes[0].stats().oversize_packets, 1);
    assert_eq!(net.nodes[0].peer_count(), 1);
    // What fits was taken: the first 10 000.
    assert_eq!(net.nodes[0].pool_len(), PacketLimits::default().max_envelopes);
    assert!(net.nodes[0].envelope(&envs[9_999].hash()).is_some());
    assert!(net.nodes[0].envelope(&envs[10_000].hash()).is_none());
    // A malformed list is still a bad packet.
    let mut bad = payload.clone();
    let last = bad.len() - 1;
    bad.truncate(last);
    net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &bad, net.now);
    net.run();
    assert!(matches!(net.dropped[0][..], [(PeerId(1), DropReason::BadPacket { .. })]));
    net.link(0, 1, Capability::Waku);
    // Relinked, the peer is served.
    net.nodes[0].post(tiny(99_999, net.now, 3600), net.now).unwrap();
    net.advance(3000);
    assert!(net.events[1].iter().any(|e| matches!(e, Event::Accepted { .. })));
}

#[test]
fn a_relay_with_a_big_backlog_splits_it_for_a_new_peer() {
    // Issue 11: 12 000 envelopes in a relay's pool made it unjoinable for a wisp peer.
    let mut net = Net::new(vec![RouterConfig::default(), RouterConfig::default()]);
    for i in 0..12_000 {
        net.nodes[0].post(tiny(i, net.now, 3600), net.now).unwrap();
    }
    net.link(0, 1, Capability::Waku);
    net.advance(3000);
    assert!(net.dropped.iter().all(Vec::is_empty), "{:?}", net.dropped);
    assert_eq!(net.nodes[1].pool_len(), 12_000);
    let sent = messages_sent(&net, 0, 1);
    assert!(sent.len() >= 3, "{sent:?}");
    for (bytes, count) in sent {
        assert!(bytes <= 1 << 20 && count <= wisp_waku::router::DEFAULT_MAX_PACKET_ENVELOPES);
    }
}

#[test]
fn outgoing_messages_are_split_by_bytes_and_by_count() {
    let small = RouterConfig {
        max_packet_size: 2_000,
        max_packet_envelopes: 7,
        min_pow: 0.0,
        ..Default::default()
    };
    let mut net = Net::new(vec![small, RouterConfig { min_pow: 0.0, ..Default::default() }]);
    net.link(0, 1, Capability::Waku);
    // 40 envelopes of ~150 bytes: at most 7 per packet by count, 13 by bytes.
    for i in 0..40u32 {
        let mut e = tiny(i, net.now, 3600);
        e.data = vec![i as u8; 140].into();
        net.nodes[0].post(e, net.now).unwrap();
    }
    // 20 of ~600 bytes: 3 per packet by bytes.
    for i in 100..120u32 {
        let mut e = tiny(i, net.now, 3600);
        e.data = vec![i as u8; 590].into();
        net.nodes[0].post(e, net.now).unwrap();
    }
    net.advance(1000);
    let sent = messages_sent(&net, 0, 1);
    assert_eq!(sent.iter().map(|(_, n)| n).sum::<usize>(), 60);
    assert!(sent.iter().all(|(bytes, n)| *bytes <= 2_000 && *n <= 7), "{sent:?}");
    assert!(sent.iter().any(|(_, n)| *n == 7), "split by count: {sent:?}");
    assert!(sent.iter().any(|(_, n)| *n == 3), "split by bytes: {sent:?}");
    assert_eq!(net.nodes[1].pool_len(), 60);
}

#[test]
fn one_messages_packet_per_transmission_cycle() {
    let mut net = Net::new(vec![RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.advance(300);
    let before = net.messages_between(0, 1);
    // Ten posts 100 ms apart span 1 s: at most four 300 ms cycles.
    for i in 0..10 {
        net.nodes[0].post(tiny(i, net.now, 3600), net.now).unwrap();
        net.advance(100);
    }
    net.advance(300);
    let packets = net.messages_between(0, 1) - before;
    assert!((3..=5).contains(&packets), "{packets} packets");
    assert_eq!(accepted(&net, 1), 10);
}

#[test]
fn pool_entries_expire() {
    let mut net = Net::new(vec![RouterConfig::default(), RouterConfig::default()]);
    net.nodes[0].post(tiny(1, net.now, 2), net.now).unwrap();
    net.nodes[0].post(tiny(2, net.now, 3600), net.now).unwrap();
    assert_eq!(net.nodes[0].pool_len(), 2);
    net.advance(4_000);
    assert_eq!(net.nodes[0].pool_len(), 1);
    // A peer that joins now gets only what is left.
    net.link(0, 1, Capability::Waku);
    net.advance(1000);
    assert_eq!(accepted(&net, 1), 1);
}

fn flood_config(max_envelopes: usize, peer_share: f64) -> RouterConfig {
    RouterConfig {
        pool: wisp_waku::pool::PoolLimits { max_envelopes, max_bytes: 1 << 20, peer_share },
        peer_limits: RateLimitConfig::OFF,
        ..Default::default()
    }
}

#[test]
fn a_full_pool_keeps_the_highest_pow_per_byte() {
    let mut net = Net::new(vec![flood_config(100, 1.0), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    // 500 envelopes of different sizes and TTLs, so of different PoW per byte.
    let envs: Vec<Envelope> = (0..500u32)
        .map(|i| {
            let mut e = tiny(i, net.now, 600 + (i * 7919) % 3000);
            e.data = vec![i as u8; 4 + (i as usize * 31) % 200].into();
            e
        })
        .collect();
    for chunk in envs.chunks(50) {
        net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &raw_messages(chunk), net.now);
        assert!(net.nodes[0].pool_len() <= 100);
    }
    net.run();
    assert!(net.dropped[0].is_empty());
    assert_eq!(net.nodes[0].pool_len(), 100);
    assert!(net.nodes[0].stats().evicted > 0);
    let rank = |e: &Envelope| e.pow() / e.encoded_len() as f64;
    let kept_min = envs
        .iter()
        .filter(|e| net.nodes[0].envelope(&e.hash()).is_some())
        .map(rank)
        .fold(f64::INFINITY, f64::min);
    let gone_max = envs
        .iter()
        .filter(|e| net.nodes[0].envelope(&e.hash()).is_none())
        .map(rank)
        .fold(0.0, f64::max);
    assert!(kept_min >= gone_max, "kept {kept_min} < evicted {gone_max}");
    // An evicted envelope sent again is a duplicate, not a new arrival to relay again.
    let gone = envs.iter().find(|e| net.nodes[0].envelope(&e.hash()).is_none()).unwrap();
    let accepted_before = net.nodes[0].stats().accepted;
    net.nodes[0].handle_packet(
        PeerId(1),
        waku_codes::MESSAGES,
        &raw_messages(std::slice::from_ref(gone)),
        net.now,
    );
    net.run();
    assert_eq!(net.nodes[0].stats().accepted, accepted_before);
}

#[test]
fn a_peer_cannot_take_more_than_its_share_of_the_pool() {
    let mut net =
        Net::new(vec![flood_config(100, 0.25), RouterConfig::default(), RouterConfig::default()]);
    net.link(0, 1, Capability::Waku);
    net.link(0, 2, Capability::Waku);
    let flooder = PeerId(1);
    assert_eq!(net.links[&(0, flooder)].node, 1);
    let flood: Vec<Envelope> = (0..300).map(|i| tiny(i, net.now, 3600)).collect();
    for chunk in flood.chunks(50) {
        net.nodes[0].handle_packet(flooder, waku_codes::MESSAGES, &raw_messages(chunk), net.now);
    }
    net.run();
    assert!(net.nodes[0].pool_usage(flooder).0 <= 25, "{:?}", net.nodes[0].pool_usage(flooder));
    // An honest peer still gets its envelopes pooled and relayed.
    let honest: Vec<Envelope> = (1000..1010).map(|i| tiny(i, net.now, 3600)).collect();
    let honest_id = PeerId(3);
    assert_eq!(net.links[&(0, honest_id)].node, 2);
    net.nodes[0].handle_packet(honest_id, waku_codes::MESSAGES, &raw_messages(&honest), net.now);
    net.run();
    for e in &honest {
        assert!(net.nodes[0].envelope(&e.hash()).is_some());
    }
}

#[test]
fn future_offences_decay_over_time() {
    let mut net = Net::new(vec![
        RouterConfig { max_future_offences: 1, ..Default::default() },
        RouterConfig::default(),
    ]);
    net.link(0, 1, Capability::Waku);
    // One future-dated envelope every two minutes: each is forgiven before the next.
    for round in 0..3 {
        let later = net.now + 3_600_000;
        let e = envelope(TA, &format!("future {round}"), later, 60, 0.002);
        net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &raw_messages(&[e]), net.now);
        net.run();
        assert!(net.dropped[0].is_empty(), "round {round}: {:?}", net.dropped[0]);
        net.advance(120_000);
    }
}

#[test]
fn time_sync_errors_go_back_to_a_peer_that_speaks_confirmations() {
    // Node 0 does not send confirmations itself; node 1 says (in its Status) that it does.
    let mut net = Net::new(vec![
        RouterConfig::default(),
        RouterConfig { confirmations: true, ..Default::default() },
    ]);
    net.link(0, 1, Capability::Waku);
    let future = envelope(TA, "from the future", net.now + 3_600_000, 60, 0.002);
    let payload = raw_messages(std::slice::from_ref(&future));
    net.nodes[0].handle_packet(PeerId(1), waku_codes::MESSAGES, &payload, net.now);
    net.run();
    let responses: Vec<&Vec<u8>> = net
        .wire
        .iter()
        .filter(|(f, _, c, _)| *f == 0 && *c == waku_codes::MESSAGE_RESPONSE)
        .map(|(_, _, _, p)| p)
        .collect();
    assert_eq!(responses.len(), 1);
    let r = wisp_waku::MessageResponse::decode(&mut &responses[0][..]).unwrap();
    assert_eq!(r.batch_hash, wisp_waku::batch_hash(&payload));
    assert_eq!(r.errors.len(), 1);
    assert_eq!((r.errors[0].hash, r.errors[0].code), (future.hash(), 1));
    // No Batch Ack: node 0 does not confirm batches, it only reports the error.
    assert!(!net.wire.iter().any(|(f, _, c, _)| *f == 0 && *c == waku_codes::BATCH_ACK));
    // Node 1 sees the error as a confirmation of its batch.
    assert!(net.events[1].iter().any(
        |e| matches!(e, Event::Confirmation { errors, .. } if errors.len() == 1 && errors[0].code == 1)
    ));
}

#[test]
fn per_ip_buckets_are_freed_when_the_last_peer_from_the_ip_leaves() {
    let ip: std::net::IpAddr = "10.1.2.3".parse().unwrap();
    let other: std::net::IpAddr = "10.9.9.9".parse().unwrap();
    let mut r = Router::new(RouterConfig::default());
    let status = {
        let mut p = Vec::new();
        WakuPacket::Status(Default::default()).encode(&mut p);
        p
    };
    for (id, addr) in [(1, ip), (2, ip), (3, other)] {
        r.add_peer(PeerId(id), Capability::Waku, Some(addr), T0);
        r.handle_packet(PeerId(id), waku_codes::STATUS, &status, T0);
    }
    assert_eq!(r.ip_buckets(), 2);
    r.remove_peer(PeerId(1));
    assert_eq!(r.ip_buckets(), 2, "peer 2 is still there");
    r.remove_peer(PeerId(2));
    assert_eq!(r.ip_buckets(), 1);
    // A peer dropped by the router frees its IP's bucket too.
    r.handle_packet(PeerId(3), waku_codes::STATUS_UPDATE, &[0xc3, 0x01, 0x02], T0);
    while r.poll_output().is_some() {}
    assert_eq!((r.peer_count(), r.ip_buckets()), (0, 0));
}

#[test]
fn confirmations_on_shh6() {
    let confirming = RouterConfig { confirmations: true, ..Default::default() };
    let mut net = Net::new(vec![RouterConfig::default(), confirming]);
    net.link(0, 1, Capability::Whisper);
    net.nodes[0].post(envelope(TA, "confirm me on shh", net.now, 60, 0.002), net.now).unwrap();
    net.advance(1000);
    let from1: Vec<u64> =
        net.wire.iter().filter(|(f, _, _, _)| *f == 1).map(|(_, _, c, _)| *c).collect();
    let i12 = from1.iter().position(|c| *c == wisp_waku::packets::whisper_codes::MESSAGE_RESPONSE);
    let i11 = from1.iter().position(|c| *c == wisp_waku::packets::whisper_codes::BATCH_ACK);
    assert!(i12.unwrap() < i11.unwrap());
    let batch = net.wire.iter().find(|(f, _, c, _)| *f == 0 && *c == 1).unwrap();
    let want = wisp_waku::batch_hash(&batch.3);
    let confirmed: Vec<[u8; 32]> = net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::Confirmation { batch_hash, .. } => Some(*batch_hash),
            _ => None,
        })
        .collect();
    assert_eq!(confirmed, vec![want, want]);
}

#[test]
fn a_status_with_both_bloom_and_topic_interest_follows_the_topics() {
    let mut r = Router::new(RouterConfig::default());
    r.add_peer(PeerId(1), Capability::Waku, None, T0);
    let status = wisp_waku::StatusOptions {
        bloom: Some(TB.bloom()),
        topic_interest: Some(vec![TA]),
        ..Default::default()
    };
    let mut p = Vec::new();
    WakuPacket::Status(status).encode(&mut p);
    r.handle_packet(PeerId(1), waku_codes::STATUS, &p, T0);
    let s = r.peer_status(PeerId(1)).unwrap();
    assert!(s.topic_interest.as_ref().unwrap().contains(&TA));
    let mut b = tiny(2, T0, 3600);
    b.topic = TB;
    let a = tiny(1, T0, 3600);
    r.post(a.clone(), T0).unwrap();
    r.post(b, T0).unwrap();
    r.tick(T0 + 1000);
    let mut sent = Vec::new();
    while let Some(o) = r.poll_output() {
        if let Output::Send { code: waku_codes::MESSAGES, payload, .. } = o {
            sent.extend(decode_messages(&payload));
        }
    }
    assert_eq!(sent, vec![a], "topic interest wins over the bloom");
}

#[test]
fn the_pool_gives_its_memory_back_after_a_burst() {
    let mut r = Router::new(RouterConfig::default());
    for i in 0..50_000 {
        r.post(tiny(i, T0, 2), T0).unwrap();
    }
    let burst = r.pool_capacity();
    assert!(burst >= 50_000);
    r.tick(T0 + 4_000);
    assert_eq!(r.pool_len(), 0);
    assert!(r.pool_capacity() < burst / 4, "{} slots still held", r.pool_capacity());
}

#[test]
fn sending_is_paced_under_the_rate_limits_a_peer_advertised() {
    // The peer takes 10 packets/s: one packet per 300 ms cycle at half that rate.
    let slow = RouterConfig {
        peer_limits: RateLimitConfig {
            packets: Limit { per_second: 10, tolerance: 2.0 },
            bytes: Limit::OFF,
        },
        ..Default::default()
    };
    let small = RouterConfig { max_packet_envelopes: 10, ..Default::default() };
    let mut net = Net::new(vec![small, slow]);
    net.link(0, 1, Capability::Waku);
    for i in 0..40 {
        net.nodes[0].post(tiny(i, net.now, 3600), net.now).unwrap();
    }
    net.advance(300);
    assert_eq!(messages_sent(&net, 0, 1).len(), 1, "one packet in the first cycle");
    net.advance(1500);
    assert_eq!(messages_sent(&net, 0, 1).len(), 4);
    assert_eq!(net.nodes[1].pool_len(), 40);
    assert!(net.dropped.iter().all(Vec::is_empty));
}
