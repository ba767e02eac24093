//! Discovery v5.1 in running nodes on 127.0.0.1, legacy discovery off: ten relays that know
//! only one bootnode's ENR reach their limits, and a light node finds a mailserver by the
//! `waku` entry of its record. Each test prints the time the nodes took. Lookups follow the
//! pool (none at the limits, again when a peer leaves); an ignored test measures the v5.1
//! traffic per node per minute.

use std::time::{Duration, Instant};

use wisp_discovery::{
    enr::{Enr, WakuRoles},
    pool::Limits,
};
use wisp_node::{DiscoveryConfig, DiscoverySource, Node, NodeHandle, Role};

use {
    alloy_rlp as _, base64 as _, hex as _, jsonrpsee as _, proptest as _, rand as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_accounts as _, wisp_crypto as _,
    wisp_mailserver as _, wisp_messenger as _, wisp_waku as _,
};
use {bytes as _, http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::discovery::{DEADLINE, config, pool_peers, start, wait_all};

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

/// Relays that know the v5.1 bootnode only by its enode URL (no `enr:`, legacy discovery
/// off) ask it for its record and reach their limits: two given the enode with the v5 UDP
/// port (`?discport=`), two the plain enode, whose UDP port is the bootnode's legacy
/// discovery port (the node then asks the next port, wisp's default v5 port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_that_know_the_bootnode_by_its_enode_reach_their_limits_by_discv5() {
    // Like `wisp bootnode --discv5`: legacy discovery on the RLPx port's number, v5.1 on the
    // next port. A v5.1 request to the legacy port goes unanswered (dropped as malformed).
    let boot_cfg = DiscoveryConfig { legacy: true, ..discovery(Vec::new()) };
    let boot = start(config(Role::Bootstrap, boot_cfg)).await;
    let record = boot_record(&boot);
    let v5_port = record.udp().expect("the record's udp port");
    let plain = boot.enode();
    let with_port = wisp_rlpx::NodeRecord { udp_port: v5_port, ..plain };
    // The v5 service falls back to a free port when the next one is taken: then the plain
    // enode cannot lead there.
    let plain_works = plain.udp_port.checked_add(1) == Some(v5_port);
    if !plain_works {
        println!("the bootnode's v5 port {v5_port} is not its RLPx port + 1: all use ?discport=");
    }
    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for i in 0..4 {
        let enode = if i < 2 || !plain_works { with_port } else { plain };
        let cfg = DiscoveryConfig { bootnodes: vec![enode], ..discovery(Vec::new()) };
        nodes.push(start(config(Role::Relay, cfg)).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    println!("discv5: 4 relays that know an enode reached whisper {{2, 2}} in {:?}", t0.elapsed());
    for h in &handles {
        let peers = h.peers().await.unwrap();
        let by_v5 = peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Discv5).count();
        assert!(by_v5 >= 2, "the pool peers were found by discv5: {by_v5}");
        assert!(peers.iter().all(|p| p.id != boot.enode().id));
    }
    for n in nodes {
        n.shutdown().await;
    }
    boot.shutdown().await;
}

fn lookups(h: &NodeHandle) -> i64 {
    h.metrics().get("wisp_discv5_lookups_total", "")
}

/// Once every relay is at `whisper` {2, 2} the pool stops searching and so do the v5
/// lookups. Three relays: each has the other two. When one leaves, the other two have no
/// candidate left, search (look up) again, and find a relay that starts later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_lookups_stop_at_the_limits_and_resume_when_a_peer_leaves() {
    let boot = start(config(Role::Bootstrap, discovery(Vec::new()))).await;
    let record = boot_record(&boot);
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start(config(Role::Relay, discovery(vec![record.clone()]))).await);
    }
    let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("every node at whisper {2, 2}", &handles, |h| pool_peers(h, "whisper") >= 2).await;
    // A lookup under way when the limit was reached still ends and counts: settle first.
    // Checking that nothing happens needs a wait; 4 s is 8 fast intervals (500 ms).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before: Vec<i64> = handles.iter().map(lookups).collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<i64> = handles.iter().map(lookups).collect();
    assert!(before.iter().all(|n| *n > 0), "every node looked up to get there: {before:?}");
    // At most one lookup that was slow to end (on slow machines); a searching node would
    // have made 8.
    assert!(
        after.iter().zip(&before).all(|(a, b)| a - b <= 1),
        "no lookups at the limits: {before:?} then {after:?}"
    );

    nodes.remove(0).shutdown().await;
    let rest: Vec<_> = nodes.iter().map(Node::handle).collect();
    let t0 = Instant::now();
    loop {
        let now: Vec<i64> = rest.iter().map(lookups).collect();
        if now.iter().zip(&after[1..]).all(|(n, a)| n > a) {
            break;
        }
        assert!(t0.elapsed() < DEADLINE, "no lookups after a peer left: {now:?} {after:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("discv5: lookups again {:?} after a relay left", t0.elapsed());
    let t1 = Instant::now();
    nodes.push(start(config(Role::Relay, discovery(vec![record]))).await);
    let all: Vec<_> = nodes.iter().map(Node::handle).collect();
    wait_all("back at whisper {2, 2}", &all, |h| pool_peers(h, "whisper") >= 2).await;
    println!("discv5: back at whisper {{2, 2}} {:?} after a new relay started", t1.elapsed());
    for n in nodes {
        n.shutdown().await;
    }
    boot.shutdown().await;
}

/// UDP datagrams sent and received in this network namespace so far (`/proc/net/snmp`).
fn udp_datagrams() -> Option<(u64, u64)> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let values: Vec<&str> = lines.next()?.split_whitespace().collect();
    let get = |name: &str| values.get(names.iter().position(|n| *n == name)?)?.parse().ok();
    Some((get("OutDatagrams")?, get("InDatagrams")?))
}

/// Discovery v5.1 traffic per node per minute with default settings (3 s fast lookups, 30 s
/// slow), in two networks of a bootnode and 10 relays (legacy discovery off): one where the
/// relays are at `whisper` {2, 2} (their pool stopped searching), one where they search fast
/// all along (`whisper` {20, 20} cannot be met by 10 relays). The crate owns its sockets, so
/// the packets are counted by the kernel: the UDP datagrams of the whole network namespace,
/// which must be this test's own. Run it alone in a fresh namespace (root or user
/// namespaces):
///
/// `cargo test -p wisp-node --test discovery_v5 --no-run` then
/// `unshare -rn sh -c 'ip link set lo up && cargo test --offline -p wisp-node --test
/// discovery_v5 -- --ignored --nocapture discv5_traffic'`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run alone in its own network namespace (see the doc comment)"]
async fn discv5_traffic_per_node_per_minute() {
    match udp_datagrams() {
        Some((0, 0)) => {}
        other => {
            println!(
                "skipped: UDP counters {other:?} are not a fresh network namespace's; run under \
                 `unshare -rn sh -c 'ip link set lo up && cargo test ...'`"
            );
            return;
        }
    }
    let window = Duration::from_secs(60);
    let default = DiscoveryConfig { fast_search_ms: 3_000, ..discovery(Vec::new()) };
    let searching = DiscoveryConfig {
        require_topics: Some(
            [("whisper".to_owned(), Limits { min: 20, max: 20 })].into_iter().collect(),
        ),
        ..default.clone()
    };
    for (label, relay_cfg) in
        [("at whisper {2, 2}", default.clone()), ("searching (fast)", searching)]
    {
        let boot = start(config(Role::Bootstrap, default.clone())).await;
        let record = boot_record(&boot);
        let mut nodes = Vec::new();
        for _ in 0..10 {
            let cfg = DiscoveryConfig { v5_bootnodes: vec![record.clone()], ..relay_cfg.clone() };
            nodes.push(start(config(Role::Relay, cfg)).await);
        }
        let handles: Vec<_> = nodes.iter().map(Node::handle).collect();
        let took =
            wait_all("every node at whisper {2, ..}", &handles, |h| pool_peers(h, "whisper") >= 2)
                .await;
        println!("discv5 (3 s lookups): 10 relays reached whisper 2 in {took:?}");
        // Let the start-up burst (handshakes, first lookups) pass.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let all: Vec<NodeHandle> =
            handles.iter().cloned().chain(std::iter::once(boot.handle())).collect();
        let (out0, in0) = udp_datagrams().expect("UDP counters");
        let l0: Vec<i64> = all.iter().map(lookups).collect();
        tokio::time::sleep(window).await;
        let (out1, in1) = udp_datagrams().expect("UDP counters");
        let l1: Vec<i64> = all.iter().map(lookups).collect();
        let per_min = |n: f64| n * 60.0 / window.as_secs_f64();
        let n = all.len() as f64;
        let relay_lookups: i64 = l1.iter().zip(&l0).take(10).map(|(a, b)| a - b).sum();
        let boot_lookups = l1[10] - l0[10];
        println!(
            "discv5 traffic over {window:?}, relays {label}: {} datagrams sent, {} received in \
             the namespace; per node (11) {:.0} packets/min sent + received; lookups/min: \
             {:.1} per relay, {:.1} bootnode",
            out1 - out0,
            in1 - in0,
            per_min((out1 - out0 + in1 - in0) as f64 / n),
            per_min(relay_lookups as f64 / 10.0),
            per_min(boot_lookups as f64),
        );
        for n in nodes {
            n.shutdown().await;
        }
        boot.shutdown().await;
    }
}
