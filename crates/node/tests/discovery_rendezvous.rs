//! Status rendezvous in running nodes on 127.0.0.1: ten relays that know only one rendezvous
//! server (a bootstrap node serving `/rend/0.1.0`) find each other and reach their limits; a
//! light node finds a mailserver by `whispermail` and fetches history from it; the rendezvous
//! traffic per node per minute; RPC `peer_discover` raises a topic's limits. Each test prints its times and figures.

use std::time::{Duration, Instant};

use jsonrpsee::{
    core::{client::ClientT, params::ArrayParams},
    http_client::{HttpClient, HttpClientBuilder},
};
use serde_json::{Value, json};

use wisp_node::{DiscoveryConfig, DiscoverySource, Node, NodeHandle, Role};

use {
    alloy_rlp as _, base64 as _, hex as _, proptest as _, rand as _, serde as _, thiserror as _,
    toml as _, tracing as _, wisp_accounts as _, wisp_discovery as _, wisp_mailserver as _,
    wisp_messenger as _, wisp_rlpx as _, wisp_waku as _,
};
use {bytes as _, http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::discovery::{
    DEADLINE, archive_three, config, fetch_history, pool_peers, start, wait_all,
};
use common::wait_until;
use wisp_waku::Topic;

/// A node that knows only the rendezvous server `server` (no legacy bootnodes).
fn discovery(server: &str) -> DiscoveryConfig {
    DiscoveryConfig {
        enabled: true,
        rendezvous: vec![server.to_owned()],
        fast_search_ms: 500,
        ..DiscoveryConfig::default()
    }
}

/// A bootstrap node serving rendezvous on a free loopback port.
async fn server() -> Node {
    let cfg = DiscoveryConfig {
        rendezvous_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..DiscoveryConfig::default()
    };
    start(config(Role::Bootstrap, cfg)).await
}

fn requests(h: &NodeHandle, kind: &str) -> i64 {
    let m = h.metrics();
    m.get("wisp_rendezvous_requests_total", &format!("kind=\"{kind}\",outcome=\"ok\""))
        + m.get("wisp_rendezvous_requests_total", &format!("kind=\"{kind}\",outcome=\"error\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_that_know_one_rendezvous_server_reach_their_limits() {
    let server = server().await;
    let addr = server.rendezvous_addr().expect("the server's address").to_owned();
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/") && addr.contains("/ethv4/16Uiu2HA"), "{addr}");
    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(start(config(Role::Relay, discovery(&addr))).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    let reached = t0.elapsed();
    println!("rendezvous: 10 relays reached whisper {{2, 2}} in {reached:?} after start");
    for h in &handles {
        let peers = h.peers().await.unwrap();
        assert!(peers.len() >= 2);
        let found: Vec<_> =
            peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Rendezvous).collect();
        assert!(!found.is_empty(), "pool peers were found by rendezvous");
        assert!(h.metrics().get("wisp_discovery_found_total", "protocol=\"rendezvous\"") >= 2);
        assert!(h.metrics().get("wisp_discovery_found_total", "protocol=\"legacy\"") == 0);
        assert!(requests(h, "register") >= 1, "the node registered");
        assert!(requests(h, "discover") >= 1, "the node discovered");
        // The server runs no Waku: nobody peers with it.
        assert!(peers.iter().all(|p| p.id != server.enode().id));
    }
    let text = handles[0].metrics().render();
    assert!(
        text.contains("wisp_rendezvous_requests_total{kind=\"register\",outcome=\"ok\"}"),
        "{text}"
    );
    assert!(text.contains("wisp_discovery_found_total{protocol=\"rendezvous\"}"), "{text}");

    // Traffic in steady state (limits reached: registering only) over a window that holds
    // whole register periods; and of a node that keeps searching (default 3 s fast search) a
    // topic nobody registers.
    let mut searching = discovery(&addr);
    searching.fast_search_ms = wisp_discovery::pool::FAST_SEARCH_MS;
    searching.require_topics = Some(
        [("nobody".to_owned(), wisp_discovery::pool::Limits { min: 1, max: 1 })]
            .into_iter()
            .collect(),
    );
    let searcher = start(config(Role::Relay, searching)).await;
    let sh = searcher.handle();
    wait_until("the searcher's first discover", || async { requests(&sh, "discover") >= 1 }).await;
    let window = Duration::from_secs(20);
    let before: Vec<(i64, i64)> =
        handles.iter().map(|h| (requests(h, "register"), requests(h, "discover"))).collect();
    let searcher_before = (requests(&sh, "register"), requests(&sh, "discover"));
    tokio::time::sleep(window).await;
    let searcher_reg = requests(&sh, "register") - searcher_before.0;
    let searcher_disc = requests(&sh, "discover") - searcher_before.1;
    let per_min = |n: i64| n as f64 * 60.0 / window.as_secs_f64();
    let mut reg = Vec::new();
    let mut disc = Vec::new();
    for (h, (r0, d0)) in handles.iter().zip(before) {
        reg.push(per_min(requests(h, "register") - r0));
        disc.push(per_min(requests(h, "discover") - d0));
    }
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.0}-{hi:.0}")
    };
    let total: Vec<i64> =
        handles.iter().map(|h| requests(h, "register") + requests(h, "discover")).collect();
    println!(
        "rendezvous traffic per node, steady state: register {}/min, discover {}/min; \
         from start until now ({:?}): {}-{} requests",
        range(&reg),
        range(&disc),
        t0.elapsed(),
        total.iter().min().unwrap(),
        total.iter().max().unwrap()
    );
    // Registration goes on every 5 s (12/min per topic per server), 2 s of slack either way.
    for r in &reg {
        assert!((6.0..=18.0).contains(r), "register rate {r}/min");
    }
    let (sr, sd) = (per_min(searcher_reg), per_min(searcher_disc));
    println!(
        "rendezvous traffic of a node searching a topic nobody registers (3 s fast search): \
         register {sr:.0}/min, discover {sd:.0}/min"
    );
    assert!((10.0..=30.0).contains(&sd), "discover rate {sd}/min");
    searcher.shutdown().await;
    for n in nodes {
        n.shutdown().await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_node_finds_a_mailserver_by_whispermail_via_rendezvous() {
    let server = server().await;
    let addr = server.rendezvous_addr().unwrap().to_owned();
    let relays = [
        start(config(Role::Relay, discovery(&addr))).await,
        start(config(Role::Relay, discovery(&addr))).await,
    ];
    let mail = start(config(Role::Mailserver, discovery(&addr))).await;
    let topic = Topic([0x0d, 0x15, 0xc0, 0x02]);
    let mail_id = mail.enode().id;
    archive_three(&relays[0], &mail, topic).await;
    let light = start(config(Role::Light, discovery(&addr))).await;
    let h = light.handle();
    let took = wait_all("a mailserver and two relays", std::slice::from_ref(&h), |h| {
        pool_peers(h, "whispermail") == 1 && pool_peers(h, "whisper") >= 2
    })
    .await;
    println!(
        "rendezvous: a light node reached whispermail {{1, 1}} and whisper {{2, 2}} in {took:?}"
    );
    let peers = h.peers().await.unwrap();
    let m = peers.iter().find(|p| p.id == mail_id).expect("the mailserver is a peer");
    assert_eq!(h.discovered_by(m), DiscoverySource::Rendezvous);
    // A light node never registers.
    assert_eq!(requests(&h, "register"), 0);
    let outcome = fetch_history(&h, mail_id, topic).await;
    assert_eq!(outcome.received, 3, "the history from the mailserver found by rendezvous");
    light.shutdown().await;
    mail.shutdown().await;
    for r in relays {
        r.shutdown().await;
    }
    server.shutdown().await;
}

/// An HTTP JSON-RPC client of `node`, 30 s per request.
fn http_client(node: &Node) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(format!("http://{}", node.rpc_addr().expect("RPC is serving")))
        .unwrap()
}

/// Calls `method` with one parameter; an error is its JSON-RPC message.
async fn call(client: &HttpClient, method: &str, param: Value) -> Result<Value, String> {
    common::chat::call(client, method, vec![param]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_discover_raises_a_topic_limit_over_rpc() {
    let mut scfg = config(
        Role::Bootstrap,
        DiscoveryConfig {
            rendezvous_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..DiscoveryConfig::default()
        },
    );
    scfg.rpc = Some("127.0.0.1:0".parse().unwrap());
    let server = start(scfg).await;
    let addr = server.rendezvous_addr().unwrap().to_owned();
    let mut first = config(Role::Relay, discovery(&addr));
    first.rpc = Some("127.0.0.1:0".parse().unwrap());
    let mut nodes = vec![start(first).await];
    for _ in 0..5 {
        nodes.push(start(config(Role::Relay, discovery(&addr))).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    let client = http_client(&nodes[0]);
    let peers: Value = client.request("admin_peers", ArrayParams::new()).await.unwrap();
    assert!(peers.as_array().unwrap().iter().any(|p| p["discoveredBy"] == "rendezvous"), "{peers}");

    for (req, expected) in [
        (json!({"topic": "", "min": 1, "max": 2}), "topic not valid"),
        (json!({"topic": "whisper", "min": 3, "max": 2}), "invalid range"),
        (json!({"topic": "whispermail", "min": 1, "max": 1}), "topic not found"),
        (json!({"topic": "whisper", "min": -1, "max": 2}), "DiscoverRequest.min"),
    ] {
        let e = call(&client, "peer_discover", req.clone()).await.unwrap_err();
        assert!(e.contains(expected), "{req}: {e}");
    }
    let e = call(&http_client(&server), "peer_discover", json!({"topic": "whisper", "max": 1}))
        .await
        .unwrap_err();
    assert!(e.contains("discoverer not provided"), "{e}");

    let t0 = Instant::now();
    let r = call(&client, "peer_discover", json!({"topic": "whisper", "min": 4, "max": 4})).await;
    assert_eq!(r, Ok(Value::Null));
    let h = nodes[0].handle();
    let took =
        wait_all("whisper {4, 4}", std::slice::from_ref(&h), |h| pool_peers(h, "whisper") >= 4)
            .await;
    assert!(h.peers().await.unwrap().len() >= 4);
    println!(
        "rendezvous: after peer_discover whisper {{4, 4}} a relay had 4 pool peers in {took:?}"
    );
    assert!(t0.elapsed() < DEADLINE);
    for n in nodes {
        n.shutdown().await;
    }
    server.shutdown().await;
}

/// The figure "discovery traffic per node per minute" for legacy discovery in running nodes:
/// a bootnode and ten relays with default settings (3 s fast search, 60 s ticket waits),
/// counted from the legacy machines' counters over 30 s once the relays hold their peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_discovery_traffic_per_node_per_minute() {
    let boot = start(config(
        Role::Bootstrap,
        DiscoveryConfig { enabled: true, ..DiscoveryConfig::default() },
    ))
    .await;
    let relay = || DiscoveryConfig {
        enabled: true,
        bootnodes: vec![boot.enode()],
        ..DiscoveryConfig::default()
    };
    let mut nodes = Vec::new();
    for _ in 0..10 {
        nodes.push(start(config(Role::Relay, relay())).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    let took =
        wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    println!("legacy (default settings): 10 relays reached whisper {{2, 2}} in {took:?}");
    let packets = |h: &NodeHandle| {
        let (c, table) = h.legacy_counters().expect("legacy discovery runs");
        let sent: u64 = c.sent.iter().sum();
        let received: u64 = c.received.iter().sum();
        (sent + received, c.sent[4], table)
    };
    let window = Duration::from_secs(30);
    let all: Vec<NodeHandle> =
        handles.iter().cloned().chain(std::iter::once(boot.handle())).collect();
    let before: Vec<_> = all.iter().map(packets).collect();
    tokio::time::sleep(window).await;
    let per_min = |n: u64| n as f64 * 60.0 / window.as_secs_f64();
    let mut lines = Vec::new();
    for (i, (h, (p0, f0, _))) in all.iter().zip(before).enumerate() {
        let (p1, f1, table) = packets(h);
        let (pm, fm) = (per_min(p1 - p0), per_min(f1 - f0));
        let per_known = if table == 0 { 0.0 } else { fm / 60.0 / table as f64 };
        let who = if i == all.len() - 1 { "bootnode" } else { "relay" };
        lines.push(format!(
            "{who}: {pm:.0} packets/min, {fm:.0} findnodeHash/min, table {table}, \
             {per_known:.3} findnodeHash/s per known node"
        ));
        assert!(p1 > p0, "{who} {i} exchanged packets");
    }
    println!("legacy traffic over {window:?} in steady state:\n{}", lines.join("\n"));
    for n in nodes {
        n.shutdown().await;
    }
    boot.shutdown().await;
}
