//! Discovery traffic per node per minute, on a virtual clock: a bootnode and nine nodes
//! registering and searching `whisper` with the default settings (search every 3 s, as
//! status-go's fast mode), packets delivered in memory. Prints the figures (`-- --nocapture`)
//! and checks they stay within what a status-go node sends (notes/discovery.md: about 2-10
//! findnodeHash packets per second to every known node while registering or searching).

use aes_gcm as _;
use alloy_rlp as _;
use hex as _;
use k256 as _;
use proptest as _;
use serde_json as _;
use thiserror as _;
use tokio as _;
use tracing as _;

use std::{
    collections::{BTreeMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

use wisp_crypto::SecretKey;
use wisp_discovery::legacy::{Config, Endpoint, Event, LegacyDiscovery, PacketType, Topic};
use wisp_rlpx::NodeRecord;

#[test]
fn steady_state_traffic_per_node_per_minute() {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let t0: u64 = 1_800_000_000_000;
    let boot_key = SecretKey::from_bytes(&[1; 32]).expect("key");
    let boot_record = NodeRecord {
        id: boot_key.public_key().node_id(),
        address: ip,
        tcp_port: 30301,
        udp_port: 30301,
    };
    let mut nodes: BTreeMap<u16, LegacyDiscovery> = BTreeMap::new();
    nodes.insert(
        30301,
        LegacyDiscovery::new(boot_key, Config::new(Endpoint { ip, udp: 30301, tcp: 30301 }), t0),
    );
    const N: u16 = 9;
    for i in 0..N {
        let port = 30310 + i;
        let key = SecretKey::from_bytes(&[10 + i as u8; 32]).expect("key");
        let mut cfg = Config::new(Endpoint { ip, udp: port, tcp: port });
        cfg.bootnodes = vec![boot_record];
        cfg.register_topics = vec![Topic::new("whisper")];
        cfg.seed = u64::from(i);
        let mut node = LegacyDiscovery::new(key, cfg, t0);
        node.search(Topic::new("whisper"), 3000, t0);
        nodes.insert(port, node);
    }

    // Run 2 virtual minutes to settle, then measure 3 more.
    let settle_ms = 120_000;
    let measure_ms = 180_000;
    let mut now = t0;
    let mut found: BTreeMap<u16, HashSet<_>> = BTreeMap::new();
    let mut before = BTreeMap::new();
    let mut registered = 0;
    while now < t0 + settle_ms + measure_ms {
        if before.is_empty() && now >= t0 + settle_ms {
            before = nodes.iter().map(|(p, n)| (*p, n.counters().clone())).collect();
        }
        let mut wire = Vec::new();
        for (port, node) in nodes.iter_mut() {
            if node.next_wakeup(now) <= now {
                node.tick(now);
            }
            while let Some((to, bytes)) = node.poll_transmit() {
                wire.push((SocketAddr::new(ip, *port), to, bytes));
            }
            while let Some(e) = node.poll_event() {
                match e {
                    Event::NodeFound { record, .. } => {
                        found.entry(*port).or_default().insert(record.id);
                    }
                    Event::Registered { .. } => registered += 1,
                    _ => {}
                }
            }
        }
        if wire.is_empty() {
            // A quiet wire: jump to the next timer.
            let next = nodes.values().map(|n| n.next_wakeup(now)).min().unwrap_or(now + 1);
            now = next.max(now + 1);
            continue;
        }
        // 1 ms one-way delay; answers leave on the next round.
        now += 1;
        for (from, to, bytes) in wire {
            if let Some(node) = nodes.get_mut(&to.port()) {
                node.handle_packet(from, &bytes, now);
            }
        }
    }

    // Everyone found everyone; the bootnode took every registration (after the 60 s wait).
    for port in (0..N).map(|i| 30310 + i) {
        assert_eq!(found.get(&port).map_or(0, HashSet::len), usize::from(N) - 1, "node {port}");
    }
    assert!(registered >= usize::from(N), "{registered} registrations at the bootnode and peers");

    let minutes = measure_ms as f64 / 60_000.0;
    for (port, node) in &nodes {
        let c = node.counters();
        let b = &before[port];
        let rate = |t: PacketType| (c.sent(t) - b.sent(t)) as f64 / minutes;
        let total = (c.total_sent() - b.total_sent()) as f64 / minutes;
        let bytes = (c.bytes_sent - b.bytes_sent) as f64 / 1024.0 / minutes;
        let known = node.table_len().max(1) as f64;
        eprintln!(
            "figure: {} {port}: {total:.0} packets/min, {bytes:.1} KiB/min; findnodeHash {:.0}/min \
             ({:.3}/s per known node), topicQuery {:.0}/min, ping {:.0}/min, topicRegister {:.1}/min",
            if *port == 30301 { "bootnode" } else { "node" },
            rate(PacketType::FindNodeHash),
            rate(PacketType::FindNodeHash) / 60.0 / known,
            rate(PacketType::TopicQuery),
            rate(PacketType::Ping),
            rate(PacketType::TopicRegister),
        );
        // Far below status-go's 2-10 findnodeHash per second per known node.
        assert!(rate(PacketType::FindNodeHash) / 60.0 / known < 2.0);
        assert_eq!(c.total_dropped(), 0, "no packet dropped on a clean wire: {c:?}");
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
