//! Discovery v5.1 on loopback: ten nodes that know only one bootnode find each other, and a
//! light node finds the mailserver by the `waku` entry.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use wisp_crypto::SecretKey;
use wisp_discovery::enr::WakuRoles;
use wisp_discovery::v5::{V5Config, V5Service};

use aes_gcm as _;
use alloy_rlp as _;
use base64 as _;
use discv5 as _;
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
use hex as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
use k256 as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
use proptest as _;
use serde_json as _;
use thiserror as _;
use tracing as _;
use wisp_rlpx as _;

/// A free UDP port on loopback (bound once and released: the crate binds it itself and needs
/// the port in our record beforehand).
fn free_udp() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr")
}

fn key(i: u8) -> SecretKey {
    let mut bytes = [0x11u8; 32];
    bytes[31] = i;
    SecretKey::from_bytes(&bytes).expect("key")
}

async fn start(i: u8, roles: WakuRoles, boot: &[&V5Service]) -> V5Service {
    let mut config = V5Config::new(free_udp(), 30_000 + u16::from(i), roles);
    config.bootnodes = boot.iter().map(|b| b.local_record().clone()).collect();
    config.query_timeout = Duration::from_secs(5);
    V5Service::start(&key(i), config).await.expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_find_each_other_through_one_bootnode() {
    let began = tokio::time::Instant::now();
    let mut boot = start(100, WakuRoles(0), &[]).await;
    let mut nodes = Vec::new();
    // Node 0 is a mailserver (and relay), nodes 1..=8 relays, node 9 a light node.
    for i in 0..10u8 {
        let roles = match i {
            0 => WakuRoles::RELAY | WakuRoles::MAILSERVER,
            9 => WakuRoles::LIGHT,
            _ => WakuRoles::RELAY,
        };
        nodes.push(start(i, roles, &[&boot]).await);
    }
    let tcp_ports = |found: &[(wisp_discovery::enr::Enr, wisp_rlpx::NodeRecord)]| -> BTreeSet<u16> {
        found.iter().map(|(_, n)| n.tcp_port).collect()
    };
    let relay_or_mail = WakuRoles::RELAY | WakuRoles::MAILSERVER;
    // The nine relay/mailserver nodes (tcp ports 30000..=30008) each want the eight others.
    let deadline = began + Duration::from_secs(120);
    let mut known: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); 10];
    loop {
        for (i, node) in nodes.iter().enumerate().take(9) {
            if known[i].len() >= 8 {
                continue;
            }
            if let Ok(found) = node.lookup(relay_or_mail).await {
                known[i].extend(tcp_ports(&found));
            }
            known[i].extend(tcp_ports(&node.table(relay_or_mail)));
            known[i].remove(&(30_000 + i as u16));
        }
        if known.iter().take(9).all(|k| k.len() >= 8) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all nodes found 8 peers: {known:?}");
    }
    println!("discv5: 9 waku nodes found their 8 peers in {:?}", began.elapsed());
    for (i, k) in known.iter().enumerate().take(9) {
        let expected: BTreeSet<u16> =
            (30_000..30_009).filter(|p| *p != 30_000 + i as u16).collect();
        assert_eq!(
            k, &expected,
            "node {i} found exactly the relay/mailserver nodes (no light node, no bootnode)"
        );
    }

    // The light node searches for a mailserver only.
    let light = &nodes[9];
    let light_began = tokio::time::Instant::now();
    let mail = loop {
        let mut found = light.lookup(WakuRoles::MAILSERVER).await.unwrap_or_default();
        found.extend(light.table(WakuRoles::MAILSERVER));
        if let Some((record, node)) = found.into_iter().next() {
            break (record, node);
        }
        assert!(tokio::time::Instant::now() < deadline, "the light node found no mailserver");
    };
    println!("discv5: the light node found the mailserver in {:?}", light_began.elapsed());
    assert_eq!(mail.1.tcp_port, 30_000);
    assert!(mail.0.waku().is_some_and(|r| r.contains(WakuRoles::MAILSERVER)));

    for node in &mut nodes {
        node.shutdown();
    }
    boot.shutdown();
}

/// A node that knows a bootnode only by its enode (public key, IP, UDP port) asks it for its
/// record, adds it to the table and finds a third node through it; an enode whose key is not
/// the one listening there gets no record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootnode_known_by_its_enode_gives_its_record() {
    let boot = start(110, WakuRoles(0), &[]).await;
    let relay = start(111, WakuRoles::RELAY, &[&boot]).await;
    // A lookup makes the relay known to the bootnode (a session, then the bootnode's table).
    relay.lookup(WakuRoles::RELAY).await.expect("the relay's lookup");
    let enode = |key_of: u8| wisp_rlpx::NodeRecord {
        id: key(key_of).public_key().node_id(),
        address: [127, 0, 0, 1].into(),
        tcp_port: 30_110,
        udp_port: boot.port(),
    };
    let newcomer = start(112, WakuRoles::RELAY, &[]).await;
    let record = newcomer.request_record(&enode(110)).await.expect("the bootnode's record");
    assert_eq!(record.as_bytes(), boot.local_record().as_bytes());
    // A lookup from the newcomer finds the relay through the bootnode.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = newcomer.lookup(WakuRoles::RELAY).await.expect("lookup");
        if found.iter().any(|(r, _)| r.node_id() == relay.local_record().node_id()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay was not found via the enode");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same address with another node's key: the handshake fails, no record.
    let stranger = start(113, WakuRoles::RELAY, &[]).await;
    let err = stranger.request_record(&enode(114)).await.expect_err("a wrong key gets nothing");
    assert!(err.to_string().contains("record request"), "{err}");
}
