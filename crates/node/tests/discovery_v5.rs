//! Discovery v5.1 in running nodes on 127.0.0.1, legacy discovery off: ten relays that know
//! only one bootnode's ENR reach their limits, and a light node finds a mailserver by the
//! `waku` entry of its record. Each test prints the time the nodes took.

use std::time::{Duration, Instant};

use wisp_discovery::enr::{Enr, WakuRoles};
use wisp_node::{DiscoveryConfig, DiscoverySource, Node, NodeConfig, NodeHandle, Role};

use {
    alloy_rlp as _, base64 as _, hex as _, jsonrpsee as _, proptest as _, rand as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_accounts as _, wisp_crypto as _,
    wisp_mailserver as _, wisp_messenger as _, wisp_rlpx as _, wisp_waku as _,
};
use {bytes as _, http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::temp_dir;

/// Generous: CI is two slow cores shared by many builds.
const DEADLINE: Duration = Duration::from_secs(90);

fn discovery(bootnodes: Vec<Enr>) -> DiscoveryConfig {
    DiscoveryConfig {
        enabled: true,
        legacy: false,
        v5: true,
        v5_bootnodes: bootnodes,
        fast_search_ms: 500,
        ..DiscoveryConfig::default()
    }
}

fn config(role: Role, discovery: DiscoveryConfig) -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir("discv5"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: None,
        role,
        discovery,
        ..NodeConfig::default()
    }
}

/// Starts a node, retrying when the UDP port after its TCP port's number is taken.
async fn start(cfg: NodeConfig) -> Node {
    for _ in 0..10 {
        match Node::start(cfg.clone()).await {
            Ok(n) => return n,
            Err(wisp_node::NodeError::Bind { what: "discv5", .. }) => continue,
            Err(e) => panic!("node did not start: {e}"),
        }
    }
    panic!("no free UDP port next to a TCP port");
}

fn pool_peers(h: &NodeHandle, topic: &str) -> i64 {
    h.metrics().get("wisp_discovery_pool_peers", &format!("topic=\"{topic}\""))
}

/// Polls until `f` holds for every handle; returns the time it took.
async fn wait_all(what: &str, handles: &[NodeHandle], f: impl Fn(&NodeHandle) -> bool) -> Duration {
    let t0 = Instant::now();
    loop {
        if handles.iter().all(&f) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn boot_record(boot: &Node) -> Enr {
    let enr = boot.discv5_enr().expect("the bootnode runs discv5").clone();
    assert_eq!(enr.waku(), Some(WakuRoles(0)), "a bootnode announces no Waku role");
    assert_eq!(enr.tcp(), Some(boot.enode().tcp_port));
    enr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_that_know_one_bootnode_reach_their_limits_by_discv5() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let record = boot_record(&boot);
    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(start(config(Role::Relay, discovery(vec![record.clone()]))).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    println!("discv5: 10 relays reached whisper {{2, 2}} in {:?} after start", t0.elapsed());
    for (n, h) in nodes.iter().zip(&handles) {
        let enr = n.discv5_enr().expect("v5 record");
        assert_eq!(enr.waku(), Some(WakuRoles::RELAY));
        assert_eq!(enr.tcp(), Some(n.enode().tcp_port));
        let peers = h.peers().await.unwrap();
        let by_v5 = peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Discv5).count();
        assert!(by_v5 >= 2, "at least the two pool peers were found by discv5: {by_v5}");
        assert!(h.metrics().get("wisp_discovery_found_total", "protocol=\"discv5\"") >= 2);
        assert_eq!(h.metrics().get("wisp_discovery_found_total", "protocol=\"legacy\""), 0);
        // The bootnode runs no Waku and announces no role: nobody dials it.
        assert!(peers.iter().all(|p| p.id != boot.enode().id));
    }
    for n in nodes {
        n.shutdown().await;
    }
    boot.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_node_finds_a_mailserver_by_the_waku_entry() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let record = boot_record(&boot);
    let relays = [
        start(config(Role::Relay, discovery(vec![record.clone()]))).await,
        start(config(Role::Relay, discovery(vec![record.clone()]))).await,
    ];
    let mail = start(config(Role::Mailserver, discovery(vec![record.clone()]))).await;
    assert_eq!(
        mail.discv5_enr().and_then(Enr::waku),
        Some(WakuRoles::RELAY | WakuRoles::MAILSERVER)
    );
    let light = start(config(Role::Light, discovery(vec![record]))).await;
    let h = light.handle();
    let took = wait_all("a mailserver and two relays", std::slice::from_ref(&h), |h| {
        pool_peers(h, "whispermail") == 1 && pool_peers(h, "whisper") >= 2
    })
    .await;
    println!("discv5: a light node reached whispermail {{1, 1}} and whisper {{2, 2}} in {took:?}");
    let peers = h.peers().await.unwrap();
    let mail_id = mail.enode().id;
    let m = peers.iter().find(|p| p.id == mail_id).expect("the mailserver is a peer");
    assert_eq!(h.discovered_by(m), DiscoverySource::Discv5);
    // Relays never dial the light node (its record announces only `light`).
    for r in &relays {
        let rp = r.handle().peers().await.unwrap();
        assert!(rp.iter().filter(|p| p.id == light.enode().id).all(|p| p.inbound));
    }
    light.shutdown().await;
    mail.shutdown().await;
    for r in relays {
        r.shutdown().await;
    }
    boot.shutdown().await;
}
