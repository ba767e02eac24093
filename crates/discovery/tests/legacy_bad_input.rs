//! Bad input to a legacy discovery node: malformed, oversized, wrongly signed, expired and
//! replayed packets are dropped and counted; a flood from one address is rate-limited; one
//! /24 cannot fill the table; a forged ticket registers nothing. Sans-io: datagrams are fed to
//! the state machine with explicit times (addresses outside loopback are never dialled: no
//! socket exists here).

use aes_gcm as _;
use alloy_rlp as _;
use hex as _;
use k256 as _;
use proptest as _;
use serde_json as _;
use thiserror as _;
use tokio as _;
use tracing as _;
use wisp_rlpx as _;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use wisp_crypto::SecretKey;
use wisp_discovery::legacy::{
    Config, Endpoint, LegacyDiscovery, Message, Packet, PacketType, TABLE_SUBNET_LIMIT, Topic,
    packet::{FindNodeHash, PROTOCOL_VERSION, Ping, Pong, TopicRegister},
    topics_hash,
};

const NOW_MS: u64 = 1_800_000_000_000;
const NOW_S: u64 = NOW_MS / 1000;

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn target(exempt_loopback: bool) -> (LegacyDiscovery, Endpoint) {
    let ep = Endpoint { ip: ip(127, 0, 0, 1), udp: 30301, tcp: 30301 };
    let mut cfg = Config::new(ep);
    cfg.exempt_loopback = exempt_loopback;
    cfg.min_wait_period_s = 1;
    let key = SecretKey::from_bytes(&[0x01; 32]).expect("key");
    (LegacyDiscovery::new(key, cfg, NOW_MS), ep)
}

fn key(i: u32) -> SecretKey {
    let mut b = [0x42u8; 32];
    b[..4].copy_from_slice(&i.to_be_bytes());
    SecretKey::from_bytes(&b).expect("key")
}

fn ping(
    k: &SecretKey,
    from: SocketAddr,
    to: Endpoint,
    expiration: u64,
    topics: &[&str],
) -> Vec<u8> {
    Message::Ping(Ping {
        version: PROTOCOL_VERSION,
        from: Endpoint { ip: from.ip(), udp: from.port(), tcp: from.port() },
        to,
        expiration,
        topics: topics.iter().map(|t| Topic::new(*t)).collect(),
    })
    .sign(k)
    .bytes
}

fn drain(node: &mut LegacyDiscovery) -> Vec<(SocketAddr, Packet)> {
    std::iter::from_fn(|| node.poll_transmit())
        .map(|(to, b)| (to, Packet::decode(&b).expect("the node sends valid packets")))
        .collect()
}

/// Bonds `k` at `from` with the node: ping, then answer the node's ping back.
fn bond(
    node: &mut LegacyDiscovery,
    ep: Endpoint,
    k: &SecretKey,
    from: SocketAddr,
    now_ms: u64,
) -> Vec<(SocketAddr, Packet)> {
    node.handle_packet(from, &ping(k, from, ep, now_ms / 1000 + 20, &[]), now_ms);
    let out = drain(node);
    for (_, p) in &out {
        if let Message::Ping(_) = p.message {
            let pong = Message::Pong(Pong {
                to: ep,
                reply_tok: p.hash,
                expiration: 1,
                topic_hash: topics_hash(&[]),
                ticket_serial: 1,
                wait_periods: vec![],
            });
            node.handle_packet(from, &pong.sign(k).bytes, now_ms);
        }
    }
    out
}

#[test]
fn malformed_oversized_and_badly_signed_packets_are_dropped_and_counted() {
    let (mut node, ep) = target(true);
    let from = SocketAddr::new(ip(127, 0, 0, 1), 40000);
    let good = ping(&key(1), from, ep, NOW_S + 20, &[]);

    node.handle_packet(from, b"hello", NOW_MS);
    node.handle_packet(from, &good[..good.len() - 3], NOW_MS);
    let mut bad_prefix = good.clone();
    bad_prefix[0] ^= 1;
    node.handle_packet(from, &bad_prefix, NOW_MS);
    let mut bad_type = good.clone();
    bad_type[87] = 9;
    node.handle_packet(from, &bad_type, NOW_MS);
    assert_eq!(node.counters().dropped_malformed, 4);

    let mut big = good.clone();
    big.resize(1281, 0);
    node.handle_packet(from, &big, NOW_MS);
    assert_eq!(node.counters().dropped_oversized, 1);

    let mut bad_v = good.clone();
    bad_v[22 + 64] = 7;
    node.handle_packet(from, &bad_v, NOW_MS);
    let mut zero_r = good.clone();
    zero_r[22..54].fill(0);
    node.handle_packet(from, &zero_r, NOW_MS);
    assert_eq!(node.counters().dropped_bad_signature, 2);

    assert!(node.poll_transmit().is_none(), "nothing answered");
    assert_eq!(node.counters().received, [0; 8]);

    // A pong signed by someone else than the pinged node answers nothing.
    node.tick(NOW_MS);
    let out = bond(&mut node, ep, &key(1), from, NOW_MS);
    let our_ping =
        out.iter().find(|(_, p)| p.message.kind() == PacketType::Ping).expect("pinged back");
    let forged = Message::Pong(Pong {
        to: ep,
        reply_tok: our_ping.1.hash,
        expiration: 1,
        topic_hash: topics_hash(&[]),
        ticket_serial: 9,
        wait_periods: vec![],
    });
    node.handle_packet(from, &forged.sign(&key(2)).bytes, NOW_MS);
    assert_eq!(node.counters().dropped_unsolicited, 1);
}

#[test]
fn expired_and_replayed_packets_are_dropped_and_counted() {
    let (mut node, ep) = target(true);
    let from = SocketAddr::new(ip(127, 0, 0, 1), 40000);
    node.handle_packet(from, &ping(&key(1), from, ep, NOW_S - 1, &[]), NOW_MS);
    assert_eq!(node.counters().dropped_expired, 1);
    assert!(node.poll_transmit().is_none(), "an expired ping gets no pong");

    let p = ping(&key(1), from, ep, NOW_S + 20, &["whisper"]);
    node.handle_packet(from, &p, NOW_MS);
    let first = drain(&mut node);
    assert!(first.iter().any(|(_, q)| q.message.kind() == PacketType::Pong));
    node.handle_packet(from, &p, NOW_MS + 500);
    assert_eq!(node.counters().dropped_replayed, 1);
    assert!(node.poll_transmit().is_none(), "a replayed ping gets no second ticket");
    // After its expiration the same bytes are expired, not answered.
    node.handle_packet(from, &p, (NOW_S + 21) * 1000);
    assert_eq!(node.counters().dropped_expired, 2);
}

#[test]
fn a_flood_from_one_address_is_rate_limited() {
    let (mut node, ep) = target(true);
    let flooder = SocketAddr::new(ip(127, 0, 0, 1), 40000);
    let k = key(1);
    let _ = bond(&mut node, ep, &k, flooder, NOW_MS);
    let before = node.counters().received(PacketType::FindNodeHash);
    let q = Message::FindNodeHash(FindNodeHash { target: [7; 32], expiration: NOW_S + 20 })
        .sign(&k)
        .bytes;
    for _ in 0..1000 {
        node.handle_packet(flooder, &q, NOW_MS + 10);
    }
    let c = node.counters().clone();
    let answered = c.received(PacketType::FindNodeHash) - before;
    assert!(answered <= 100, "at most the burst is answered: {answered}");
    assert!(c.dropped_rate_limited >= 900, "{c:?}");
    let _ = drain(&mut node);
    // Another address is served meanwhile.
    let other = SocketAddr::new(ip(127, 0, 0, 1), 40001);
    node.handle_packet(other, &ping(&key(2), other, ep, NOW_S + 20, &[]), NOW_MS + 10);
    assert!(
        drain(&mut node).iter().any(|(to, p)| *to == other && p.message.kind() == PacketType::Pong)
    );
    // The flooder's budget refills with time (50 per second).
    node.handle_packet(flooder, &q, NOW_MS + 2010);
    assert_eq!(node.counters().received(PacketType::FindNodeHash) - before, answered + 1);
}

#[test]
fn one_subnet_cannot_fill_the_table() {
    let (mut node, ep) = target(false);
    for i in 0..60u32 {
        let from = SocketAddr::new(ip(127, 0, 0, 1), 41000 + i as u16);
        let _ = bond(&mut node, ep, &key(100 + i), from, NOW_MS + u64::from(i));
    }
    assert!(node.table_len() <= TABLE_SUBNET_LIMIT, "table holds {}", node.table_len());
    assert!(node.counters().table_subnet_rejected >= 50, "{:?}", node.counters());
    // Other subnets still get in.
    let from = SocketAddr::new(ip(10, 9, 8, 7), 30303);
    let before = node.table_len();
    let _ = bond(&mut node, ep, &key(999), from, NOW_MS + 100);
    assert_eq!(node.table_len(), before + 1);
}

#[test]
fn forged_or_foreign_tickets_register_nothing() {
    let (mut node, ep) = target(true);
    let from = SocketAddr::new(ip(127, 0, 0, 1), 40000);
    let k = key(1);
    let _ = bond(&mut node, ep, &k, from, NOW_MS);
    let topics = vec![Topic::new("whisper")];
    // A pong signed by the registrant itself is no ticket.
    let self_made = Message::Pong(Pong {
        to: Endpoint { ip: from.ip(), udp: from.port(), tcp: from.port() },
        reply_tok: [0; 32],
        expiration: 0,
        topic_hash: topics_hash(&topics),
        ticket_serial: 1,
        wait_periods: vec![1],
    })
    .sign(&k)
    .bytes;
    let reg = |pong: Vec<u8>, idx: u64| {
        Message::TopicRegister(TopicRegister { topics: topics.clone(), idx, pong }).sign(&k).bytes
    };
    node.handle_packet(from, &reg(self_made, 0), NOW_MS + 1500);
    assert_eq!(node.counters().registrations_refused, 1);

    // Real tickets: a ping with topics, the node's pong (wait: 1 s in this configuration).
    let mut ticket = |at_ms: u64| {
        node.handle_packet(from, &ping(&k, from, ep, at_ms / 1000 + 20, &["whisper"]), at_ms);
        std::iter::from_fn(|| node.poll_transmit())
            .find(|(_, b)| Packet::decode(b).is_ok_and(|p| p.message.kind() == PacketType::Pong))
            .expect("a ticket")
            .1
    };
    let late = ticket(NOW_MS + 2000);
    let stolen = ticket(NOW_MS + 3000);
    let good = ticket(NOW_MS + 4000);
    // The wrong index.
    node.handle_packet(from, &reg(good.clone(), 1), NOW_MS + 5200);
    // Spent 14 s after its wait (the window is 10 s + 1 s margin).
    node.handle_packet(from, &reg(late, 0), NOW_MS + 17_500);
    // Spent by another key from another address.
    let thief = key(77);
    let elsewhere = SocketAddr::new(ip(127, 0, 0, 2), 40000);
    let stolen_reg =
        Message::TopicRegister(TopicRegister { topics: topics.clone(), idx: 0, pong: stolen })
            .sign(&thief)
            .bytes;
    node.handle_packet(elsewhere, &stolen_reg, NOW_MS + 4500);
    assert_eq!(node.counters().registrations_refused, 4, "{:?}", node.counters());
    assert_eq!(node.registrations_held(), 0);
    // Spent in its window from its address: registered.
    node.handle_packet(from, &reg(good, 0), NOW_MS + 5300);
    assert_eq!(node.registrations_held(), 1);
    assert_eq!(node.counters().registrations_accepted, 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
    /// Captured-shape packets with random bytes flipped, cut or appended: the node never
    /// panics, counts every datagram it does not handle, and only sends packets that decode.
    #[test]
    fn mutated_packets_never_panic_and_are_counted(
        kind in 0usize..4,
        flips in proptest::collection::vec((0usize..400, 1u8..=255), 0..4),
        cut in proptest::option::of(0usize..400),
        extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
    ) {
        let (mut node, ep) = target(true);
        let from = SocketAddr::new(ip(127, 0, 0, 1), 40000);
        let k = key(1);
        let _ = bond(&mut node, ep, &k, from, NOW_MS);
        let base = match kind {
            0 => ping(&k, from, ep, NOW_S + 20, &["whisper"]),
            1 => Message::FindNodeHash(FindNodeHash { target: [3; 32], expiration: NOW_S + 20 }).sign(&k).bytes,
            2 => Message::TopicRegister(TopicRegister { topics: vec![Topic::new("whisper")], idx: 0, pong: vec![1, 2, 3] }).sign(&k).bytes,
            _ => Message::Pong(Pong { to: ep, reply_tok: [0; 32], expiration: 0, topic_hash: [0; 32], ticket_serial: 0, wait_periods: vec![] }).sign(&k).bytes,
        };
        let mut bytes = base;
        for (pos, x) in flips {
            let len = bytes.len();
            if let Some(b) = bytes.get_mut(pos % len) {
                *b ^= x;
            }
        }
        if let Some(c) = cut {
            bytes.truncate(c);
        }
        bytes.extend_from_slice(&extra);
        let before = node.counters().clone();
        node.handle_packet(from, &bytes, NOW_MS + 1);
        node.tick(NOW_MS + 5000);
        let after = node.counters();
        let handled = after.received.iter().sum::<u64>() - before.received.iter().sum::<u64>();
        let dropped = after.total_dropped() - before.total_dropped();
        let refused = after.registrations_refused - before.registrations_refused;
        proptest::prop_assert_eq!(handled + dropped + refused, 1, "{:?}", after);
        while let Some((_, out)) = node.poll_transmit() {
            proptest::prop_assert!(Packet::decode(&out).is_ok());
        }
    }
}

// Dependencies of the DNS code, not of these tests.
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
