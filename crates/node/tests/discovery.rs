//! Discovery in running nodes on 127.0.0.1: legacy topic discovery through one bootnode, a
//! DNS tree, a light node finding a mailserver by `whispermail`, and a restart that
//! reconnects from the peer cache with discovery off. Each test prints the time the nodes
//! took to reach their peer limits.

use std::time::{Duration, Instant};

use wisp_crypto::SecretKey;
use wisp_discovery::{
    dns::{MemoryResolver, Tree},
    enr::{EnrBuilder, WakuRoles},
};
use wisp_node::{DiscoveryConfig, DiscoverySource, Node, NodeConfig, Role};
use wisp_rlpx::NodeRecord;

use {
    alloy_rlp as _, base64 as _, hex as _, jsonrpsee as _, proptest as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_mailserver as _, wisp_waku as _,
};
use {bytes as _, http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::discovery::{
    DEADLINE, archive_three, config, fetch_history, pool_peers, start, wait_all,
};
use wisp_waku::Topic;

fn discovery(bootnodes: Vec<NodeRecord>) -> DiscoveryConfig {
    DiscoveryConfig {
        enabled: true,
        bootnodes,
        fast_search_ms: 500,
        min_wait_period_s: 1,
        ..DiscoveryConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_that_know_one_bootnode_reach_their_limits_by_legacy_discovery() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(start(config(Role::Relay, discovery(vec![boot.enode()]))).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    println!("legacy: 10 relays reached whisper {{2, 2}} in {:?} after start", t0.elapsed());
    let failed: i64 = handles
        .iter()
        .map(|h| h.metrics().get("wisp_discovery_dials_total", "outcome=\"failed\""))
        .sum();
    println!("legacy: {failed} pool dials failed");
    for h in &handles {
        let peers = h.peers().await.unwrap();
        assert!(peers.len() >= 2);
        let dialled: Vec<_> =
            peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Legacy).collect();
        assert!(dialled.len() >= 2, "at least the two pool peers were found by legacy discovery");
        assert!(h.metrics().get("wisp_discovery_found_total", "protocol=\"legacy\"") >= 2);
        let m = h.metrics();
        let counted = m.get("wisp_discovery_dials_total", "outcome=\"connected\"")
            + m.get("wisp_discovery_dials_total", "outcome=\"already_connected\"");
        assert!(counted >= 2, "the pool counted two peers: {counted}");
        // The bootnode runs no Waku: nobody peers with it.
        assert!(peers.iter().all(|p| p.id != boot.enode().id));
    }
    assert!(boot.handle().metrics().get("wisp_discovery_registrations_total", "") >= 1);
    for n in nodes {
        n.shutdown().await;
    }
    boot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_node_finds_a_mailserver_by_whispermail_and_fetches_history() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let relays = [
        start(config(Role::Relay, discovery(vec![boot.enode()]))).await,
        start(config(Role::Relay, discovery(vec![boot.enode()]))).await,
    ];
    let mail = start(config(Role::Mailserver, discovery(vec![boot.enode()]))).await;
    // The relays find the mailserver (it registers `whisper` too); what they post is archived.
    let topic = Topic([0x0d, 0x15, 0xc0, 0x01]);
    let mail_id = mail.enode().id;
    archive_three(&relays[0], &mail, topic).await;
    let light = start(config(Role::Light, discovery(vec![boot.enode()]))).await;
    let h = light.handle();
    let took = wait_all("a mailserver and two relays", std::slice::from_ref(&h), |h| {
        pool_peers(h, "whispermail") == 1 && pool_peers(h, "whisper") >= 2
    })
    .await;
    println!("legacy: a light node reached whispermail {{1, 1}} and whisper {{2, 2}} in {took:?}");
    let peers = h.peers().await.unwrap();
    assert!(peers.iter().any(|p| p.id == mail_id), "the mailserver is a peer");
    let outcome = fetch_history(&h, mail_id, topic).await;
    assert_eq!(outcome.received, 3, "the history from the discovered mailserver");
    light.shutdown().await;
    mail.shutdown().await;
    for r in relays {
        r.shutdown().await;
    }
    boot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_peers_in_a_dns_tree() {
    // Three relays without discovery, listed in a tree served from memory.
    let mut relays = Vec::new();
    let mut enrs = Vec::new();
    for _ in 0..3 {
        let cfg = config(Role::Relay, DiscoveryConfig::default());
        let dir = cfg.data_dir.clone();
        let r = start(cfg).await;
        let key = wisp_node::load_or_create_key(&dir).unwrap();
        let e = r.enode();
        let std::net::IpAddr::V4(ip) = e.address else { panic!("loopback v4") };
        enrs.push(
            EnrBuilder::new(1).ip4(ip).tcp(e.tcp_port).waku(WakuRoles::RELAY).sign(&key).unwrap(),
        );
        relays.push(r);
    }
    let list_key = SecretKey::from_bytes(&[0x77; 32]).unwrap();
    let tree = Tree::sign(1, &enrs, &[], &list_key).unwrap();
    let resolver = MemoryResolver::from_records(tree.txt_records("nodes.wisp.test"));
    let url = tree.url("nodes.wisp.test").unwrap().to_string();
    let t0 = Instant::now();
    let node = start(config(
        Role::Relay,
        DiscoveryConfig {
            dns_trees: vec![url],
            dns_memory: Some(resolver),
            ..discovery(Vec::new())
        },
    ))
    .await;
    let h = node.handle();
    wait_all("whisper {2, 2} from DNS", std::slice::from_ref(&h), |h| {
        pool_peers(h, "whisper") >= 2
    })
    .await;
    println!("dns: a node reached whisper {{2, 2}} from a DNS tree in {:?}", t0.elapsed());
    let peers = h.peers().await.unwrap();
    assert_eq!(
        peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Dns).count(),
        2,
        "two peers from the tree, its limit"
    );
    node.shutdown().await;
    for r in relays {
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reconnects_from_its_peer_cache_with_discovery_off() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let others = [
        start(config(Role::Relay, discovery(vec![boot.enode()]))).await,
        start(config(Role::Relay, discovery(vec![boot.enode()]))).await,
    ];
    let cfg = config(Role::Relay, discovery(vec![boot.enode()]));
    let node = start(cfg.clone()).await;
    let h = node.handle();
    wait_all("whisper {2, 2}", std::slice::from_ref(&h), |h| pool_peers(h, "whisper") >= 2).await;
    // The two relays are the only `whisper` nodes, so they are the two the pool connected to.
    // (A snapshot of `peers()` here is not that set: when two nodes dial each other at once both
    // connections close, and the snapshot can fall in the moment before the retry.)
    let relays: std::collections::BTreeSet<_> = others.iter().map(|o| o.enode().id).collect();
    node.shutdown().await;
    assert!(cfg.data_dir.join("peers.sqlite").is_file());

    // Discovery off, no bootnodes, no static peers: only the cache knows anyone.
    let t0 = Instant::now();
    let restarted = start(NodeConfig {
        discovery: DiscoveryConfig { enabled: false, ..DiscoveryConfig::default() },
        ..cfg
    })
    .await;
    let h = restarted.handle();
    wait_all("whisper {2, 2} from the cache", std::slice::from_ref(&h), |h| {
        pool_peers(h, "whisper") >= 2
    })
    .await;
    println!(
        "cache: a restarted node reached whisper {{2, 2}} in {:?} with discovery off",
        t0.elapsed()
    );
    // The relays dial the node back too; a collision closes both connections until a retry,
    // so the set is read until it is whole (or the deadline fails the test).
    let t1 = Instant::now();
    loop {
        let from_cache: std::collections::BTreeSet<_> = h
            .peers()
            .await
            .unwrap()
            .iter()
            .filter(|p| h.discovered_by(p) == DiscoverySource::Cache)
            .map(|p| p.id)
            .collect();
        if from_cache == relays {
            break;
        }
        assert!(
            t1.elapsed() < DEADLINE,
            "the cache gave back {from_cache:?}, not the two relays the node had"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.metrics().get("wisp_discovery_cache_hits_total", ""), 2);
    assert_eq!(h.metrics().get("wisp_discovery_found_total", "protocol=\"legacy\""), 0);
    restarted.shutdown().await;
    for o in others {
        o.shutdown().await;
    }
    boot.shutdown().await;
}

/// A legacy search reports a node once: a node whose dial failed must be offered again by the
/// pool's retries, or the node stays one peer short for ever (as when two nodes dial each other
/// at once and each refuses the other's connection). Here the node finds `a` through the
/// bootnode while `a` is down; `a` comes back with discovery and its cache off, so it never
/// dials back itself, and the pool stays in its fast search, so the search itself never starts
/// over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_dial_failed_is_dialled_again() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let a_cfg = config(Role::Relay, discovery(vec![boot.enode()]));
    let a = start(a_cfg.clone()).await;
    let b = start(config(Role::Relay, discovery(vec![boot.enode()]))).await;
    let bh = boot.handle();
    wait_all("two registrations at the bootnode", std::slice::from_ref(&bh), |h| {
        h.metrics().get("wisp_discovery_registrations_total", "") >= 2
    })
    .await;
    let a_record = a.enode();
    a.shutdown().await;

    let node = start(config(Role::Relay, discovery(vec![boot.enode()]))).await;
    let h = node.handle();
    wait_all("a failed dial", std::slice::from_ref(&h), |h| {
        h.metrics().get("wisp_discovery_dials_total", "outcome=\"failed\"") >= 1
    })
    .await;
    assert!(pool_peers(&h, "whisper") < 2);

    // Same key (same data dir), same port; it searches nothing and dials nobody.
    let cfg = NodeConfig {
        listen: std::net::SocketAddr::new(a_record.address, a_record.tcp_port),
        discovery: DiscoveryConfig {
            enabled: false,
            peer_cache: false,
            ..DiscoveryConfig::default()
        },
        ..a_cfg
    };
    let a = Node::start(cfg).await.expect("a restarts on its port");
    assert_eq!(a.enode().id, a_record.id);
    let t = wait_all("whisper {2, 2} after the retry", std::slice::from_ref(&h), |h| {
        pool_peers(h, "whisper") >= 2
    })
    .await;
    println!("retry: at whisper {{2, 2}} {t:?} after the failed peer came back");
    assert!(h.metrics().get("wisp_discovery_retries_total", "") >= 1);
    let peers = h.peers().await.unwrap();
    assert!(peers.iter().any(|p| p.id == a_record.id && !p.inbound), "we dialled it again");
    for n in [node, a, b, boot] {
        n.shutdown().await;
    }
}

// Dependencies of the chat driver, not of these tests.
use {rand as _, wisp_accounts as _, wisp_messenger as _};
