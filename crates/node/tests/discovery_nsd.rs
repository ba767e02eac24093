//! Nodes find their peers in an EIP-1459 tree served by a real DNS server: NSD (the Debian
//! `nsd` package) on 127.0.0.1:<free port>, configured as `[discovery] dns_server`. One node
//! reaches its limits from a tree of three relays; ten nodes listed in one tree, started with
//! only its URL, all reach theirs.
//!
//! The server binary is `$WISP_TEST_NSD`, else `nsd` on `PATH`, else `/usr/sbin/nsd`. Without
//! one the test prints "skipped" and passes, except under `CI=true`, where it fails.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use wisp_crypto::SecretKey;
use wisp_discovery::{
    dns::{HickoryResolver, Resolver, Tree, ZoneTtl},
    enr::{EnrBuilder, WakuRoles},
};
use wisp_node::{DiscoveryConfig, DiscoverySource, Node, NodeConfig, NodeHandle, Role};

use {
    alloy_rlp as _, base64 as _, hex as _, jsonrpsee as _, proptest as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_mailserver as _, wisp_rlpx as _,
    wisp_waku as _,
};
use {bytes as _, http_body_util as _, hyper as _, hyper_util as _, tokio as _, tower as _};

mod common;
use common::{
    discovery::{DEADLINE, pool_peers},
    temp_dir,
};

const ZONE: &str = "wisp.test";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn nsd_binary() -> Option<PathBuf> {
    let on_path = || {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths).map(|p| p.join("nsd")).find(|p| p.is_file())
    };
    let found = std::env::var_os("WISP_TEST_NSD")
        .map(PathBuf::from)
        .or_else(on_path)
        .or_else(|| Some(PathBuf::from("/usr/sbin/nsd")).filter(|p| p.is_file()));
    if found.is_none() {
        assert!(!in_ci(), "CI is set but there is no NSD binary (apt-get install nsd)");
        println!("skipped: no nsd (apt-get install nsd, or set WISP_TEST_NSD)");
    }
    found
}

/// A port free on 127.0.0.1 for UDP and TCP at this moment.
fn free_port() -> u16 {
    (0..50)
        .find_map(|_| {
            let port = UdpSocket::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
            TcpListener::bind(("127.0.0.1", port)).ok().map(|_| port)
        })
        .expect("a port free for UDP and TCP")
}

/// NSD serving one zone from a scratch directory; killed on drop.
struct Nsd {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nsd {
    fn spawn(binary: &Path, zone: &str) -> Self {
        let port = free_port();
        let dir = temp_dir("nsd");
        std::fs::create_dir_all(&dir).unwrap();
        let zone_path = dir.join("zone");
        std::fs::write(&zone_path, zone).unwrap();
        let d = dir.display();
        let conf = format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  username: \"\"\n  \
             chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/pid\"\n  \
             logfile: \"{d}/log\"\n  xfrdfile: \"{d}/xfrd\"\n  zonelistfile: \"{d}/zonelist\"\n  \
             xfrdir: \"{d}\"\n  server-count: 1\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: {ZONE}\n  zonefile: \"{}\"\n",
            zone_path.display()
        );
        std::fs::write(dir.join("nsd.conf"), conf).unwrap();
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), dir }
    }

    /// Starts NSD and waits until it answers for `name`; retried on another port if it exits.
    async fn serve(binary: &Path, zone: &str, name: &str) -> Self {
        for _ in 0..3 {
            let mut nsd = Self::spawn(binary, zone);
            let resolver = HickoryResolver::with_server(nsd.addr, Duration::from_secs(2)).unwrap();
            let t0 = Instant::now();
            loop {
                if resolver.txt(name).await.is_ok() {
                    return nsd;
                }
                if nsd.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(60), "nsd did not answer in 60 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("nsd did not start in 3 tries");
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reaches_its_limits_from_a_tree_served_by_nsd() {
    let Some(binary) = nsd_binary() else { return };
    let mut relays = Vec::new();
    let mut enrs = Vec::new();
    for _ in 0..3 {
        let cfg = NodeConfig {
            data_dir: temp_dir("nsd-relay"),
            listen: "127.0.0.1:0".parse().unwrap(),
            rpc: None,
            ..NodeConfig::default()
        };
        let dir = cfg.data_dir.clone();
        let relay = Node::start(cfg).await.unwrap();
        let key = wisp_node::load_or_create_key(&dir).unwrap();
        let e = relay.enode();
        let std::net::IpAddr::V4(ip) = e.address else { panic!("loopback v4") };
        enrs.push(
            EnrBuilder::new(1).ip4(ip).tcp(e.tcp_port).waku(WakuRoles::RELAY).sign(&key).unwrap(),
        );
        relays.push(relay);
    }
    let domain = format!("nodes.{ZONE}");
    let tree = Tree::sign(1, &enrs, &[], &SecretKey::from_bytes(&[0x59; 32]).unwrap()).unwrap();
    let nsd = Nsd::serve(&binary, &zone_of(&tree, &domain), &domain).await;

    let t0 = Instant::now();
    let node = Node::start(NodeConfig {
        data_dir: temp_dir("nsd-node"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: None,
        role: Role::Relay,
        discovery: DiscoveryConfig {
            enabled: true,
            dns_trees: vec![tree.url(&domain).unwrap().to_string()],
            dns_server: Some(nsd.addr),
            ..DiscoveryConfig::default()
        },
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let h = node.handle();
    loop {
        let peers = h.peers().await.unwrap();
        if peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Dns).count() >= 2 {
            break;
        }
        assert!(t0.elapsed() < DEADLINE, "no peers from the tree; {} peers", peers.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("dns (NSD): a node reached whisper {{2, 2}} in {:?}", t0.elapsed());
    assert!(h.metrics().get("wisp_discovery_found_total", "protocol=\"dns\"") >= 2);
    node.shutdown().await;
    for r in relays {
        r.shutdown().await;
    }
}

/// The zone file of [`ZONE`] with `tree` published at `domain`.
fn zone_of(tree: &Tree, domain: &str) -> String {
    let mut zone = format!(
        "$ORIGIN {ZONE}.\n$TTL 3600\n@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 900 604800 60\n\
         @ IN NS ns.{ZONE}.\nns IN A 127.0.0.1\n"
    );
    zone.push_str(&tree.zone_file(domain, ZoneTtl::default()).unwrap());
    zone
}

/// Ten relays listed in one tree, each started with only the tree's URL (no bootnodes, no
/// static peers, legacy discovery without bootnodes finds nobody): every one reaches
/// `whisper` {2, 2} with peers from the tree.
///
/// A record in the tree names the node's RLPx port, so the ports are chosen first (free on
/// 127.0.0.1 for TCP and UDP: RLPx and the legacy discovery socket) and the keys created in
/// the data directories before the tree is signed and served; then the nodes start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_reach_their_limits_from_a_tree_served_by_nsd() {
    let Some(binary) = nsd_binary() else { return };
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 10 {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let mut dirs = Vec::new();
    let mut enrs = Vec::new();
    for port in &ports {
        let dir = temp_dir("nsd-ten");
        std::fs::create_dir_all(&dir).unwrap();
        let key = wisp_node::load_or_create_key(&dir).unwrap();
        enrs.push(
            EnrBuilder::new(1)
                .ip4(Ipv4Addr::LOCALHOST)
                .tcp(*port)
                .waku(WakuRoles::RELAY)
                .sign(&key)
                .unwrap(),
        );
        dirs.push(dir);
    }
    let domain = format!("ten.{ZONE}");
    let tree = Tree::sign(1, &enrs, &[], &SecretKey::from_bytes(&[0x5a; 32]).unwrap()).unwrap();
    let nsd = Nsd::serve(&binary, &zone_of(&tree, &domain), &domain).await;
    let url = tree.url(&domain).unwrap().to_string();

    let t0 = Instant::now();
    let mut nodes = Vec::new();
    for (dir, port) in dirs.into_iter().zip(&ports) {
        let cfg = NodeConfig {
            data_dir: dir,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, *port)),
            rpc: None,
            role: Role::Relay,
            discovery: DiscoveryConfig {
                enabled: true,
                dns_trees: vec![url.clone()],
                dns_server: Some(nsd.addr),
                ..DiscoveryConfig::default()
            },
            ..NodeConfig::default()
        };
        let node = Node::start(cfg)
            .await
            .unwrap_or_else(|e| panic!("node on the chosen port {port} did not start: {e}"));
        nodes.push(node);
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(Node::handle).collect();
    loop {
        if handles.iter().all(|h| pool_peers(h, "whisper") >= 2) {
            break;
        }
        let at: Vec<i64> = handles.iter().map(|h| pool_peers(h, "whisper")).collect();
        assert!(t0.elapsed() < DEADLINE, "not every node at whisper {{2, 2}}: {at:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "dns (NSD): 10 relays listed in one tree reached whisper {{2, 2}} in {:?} after the first start",
        t0.elapsed()
    );
    for (n, h) in nodes.iter().zip(&handles) {
        assert_eq!(n.enode().address, std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
        // The other nine records were found in the tree (never our own).
        assert!(h.metrics().get("wisp_discovery_found_total", "protocol=\"dns\"") >= 2);
        let peers = h.peers().await.unwrap();
        assert!(peers.iter().all(|p| p.id != n.enode().id), "a node never peers with itself");
        let by_dns = peers.iter().filter(|p| h.discovered_by(p) == DiscoverySource::Dns).count();
        assert!(by_dns >= 2, "at least the pool's two peers came from the tree: {by_dns}");
    }
    for n in nodes {
        n.shutdown().await;
    }
}

// Dependencies of the chat driver, not of these tests.
use {rand as _, wisp_accounts as _, wisp_messenger as _};
