//! EIP-1459 trees served by a real DNS server: NSD (the Debian `nsd` package) on
//! 127.0.0.1:<free port>, serving a zone written by our publisher, read by the client through
//! hickory-resolver ([`HickoryResolver`]).
//!
//! The server binary is `$WISP_TEST_NSD`, else `nsd` on `PATH`, else `/usr/sbin/nsd`. Without
//! one the test prints a "skipped" line and passes, except under `CI=true`, where it fails:
//! `.ci/run` installs NSD.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use wisp_crypto::SecretKey;
use wisp_discovery::{
    dns::{
        Client, ClientConfig, DnsError, HickoryResolver, LinkEntry, ResolveError, Resolver, Tree,
        ZoneTtl,
    },
    enr::{Enr, EnrBuilder, WakuRoles},
};

// Dependencies of the library and of other test targets.
use aes_gcm as _;
use alloy_rlp as _;
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
use hex as _;
use hickory_resolver as _;
use k256 as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
use proptest as _;
use thiserror as _;
use tracing as _;
use wisp_rlpx as _;

const ZONE: &str = "wisp.test";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The NSD binary, or `None` (the test skipped) when there is none, except under `CI=true`.
fn nsd_binary() -> Option<PathBuf> {
    let found = std::env::var_os("WISP_TEST_NSD")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths).map(|p| p.join("nsd")).find(|p| p.is_file())
            })
        })
        .or_else(|| Some(PathBuf::from("/usr/sbin/nsd")).filter(|p| p.is_file()));
    if found.is_none() {
        assert!(
            !ci(),
            "CI is set but no NSD binary was found ($WISP_TEST_NSD, PATH, /usr/sbin/nsd): \
             the DNS server test must run in CI (apt-get install nsd)"
        );
        println!(
            "skipped: install nsd (apt-get install nsd) or set WISP_TEST_NSD to run this test"
        );
    }
    found
}

/// A port free on 127.0.0.1 for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// An NSD process serving one zone from a temporary directory; killed on drop.
struct Nsd {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nsd {
    fn start(binary: &Path, zone_text: &str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wisp-nsd-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zone_file = dir.join(format!("{ZONE}.zone"));
        std::fs::write(&zone_file, zone_text).unwrap();
        let d = dir.display();
        // Foreground, no privilege drop, no chroot, no database, no control socket, one server
        // process, IPv4 loopback only.
        let config = format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdir: \"{d}\"\n  \
             server-count: 1\n  verbosity: 1\n  hide-version: yes\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: {ZONE}\n  zonefile: \"{}\"\n",
            zone_file.display()
        );
        let config_file = dir.join("nsd.conf");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self { child, addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)), dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nsd.log")).unwrap_or_default()
    }

    /// Waits until the server answers `name`'s TXT query (generous: CI is slow); `Err` with
    /// its log if the server exited first (e.g. its port was taken meanwhile).
    async fn wait_ready(&mut self, resolver: &HickoryResolver, name: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match resolver.txt(name).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(format!(
                            "nsd exited with {status} before serving: {e}\n{}",
                            self.log()
                        ));
                    }
                    assert!(
                        Instant::now() < deadline,
                        "nsd did not answer in 60 s: {e}\n{}",
                        self.log()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Starts NSD on a free port and waits until it serves `name`; a server that exits (a
    /// port taken between choosing and binding it) is started again on another port.
    async fn serve(binary: &Path, zone_text: &str, name: &str) -> (Self, HickoryResolver) {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let mut nsd = Self::start(binary, zone_text);
            let resolver = HickoryResolver::with_server(nsd.addr, Duration::from_secs(2)).unwrap();
            match nsd.wait_ready(&resolver, name).await {
                Ok(()) => return (nsd, resolver),
                Err(e) => failures.push(e),
            }
        }
        panic!("nsd did not start in 3 tries:\n{}", failures.join("\n"));
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn enrs(n: usize, first: u8) -> Vec<Enr> {
    (0..n)
        .map(|i| {
            let seed = wisp_crypto::keccak256([first, (i / 256) as u8, (i % 256) as u8]);
            let key = SecretKey::from_bytes(&seed).unwrap();
            EnrBuilder::new(1)
                .ip4(Ipv4Addr::new(127, first, (i / 256) as u8, (i % 256) as u8))
                .tcp(30303)
                .udp(30303)
                .waku(WakuRoles::RELAY)
                .sign(&key)
                .unwrap()
        })
        .collect()
}

fn sorted(enrs: &[Enr]) -> Vec<String> {
    let mut texts: Vec<String> = enrs.iter().map(Enr::to_text).collect();
    texts.sort();
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsd_serves_a_published_tree_to_the_client() {
    let Some(binary) = nsd_binary() else { return };

    // Tree A (150 records, several branch levels) links to tree B (20 records); tree C is A's
    // content under a root whose seq was bumped without signing it again.
    let key_a = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let key_b = SecretKey::from_bytes(&[0xb2; 32]).unwrap();
    let (domain_a, domain_b, domain_c) =
        (format!("nodes.{ZONE}"), format!("more.nodes.{ZONE}"), format!("evil.{ZONE}"));
    let (nodes_a, nodes_b) = (enrs(150, 1), enrs(20, 2));
    let tree_b = Tree::sign(4, &nodes_b, &[], &key_b).unwrap();
    let tree_a = Tree::sign(7, &nodes_a, &[tree_b.url(&domain_b).unwrap()], &key_a).unwrap();

    let ttl = ZoneTtl::default();
    let mut zone = format!(
        "$ORIGIN {ZONE}.\n$TTL 3600\n\
         @ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 900 604800 60\n\
         @ IN NS ns.{ZONE}.\nns IN A 127.0.0.1\n"
    );
    zone.push_str(&tree_a.zone_file(&domain_a, ttl).unwrap());
    zone.push_str(&tree_b.zone_file(&domain_b, ttl).unwrap());
    let tampered = tree_a.zone_file(&domain_c, ttl).unwrap().replace(" seq=7 ", " seq=8 ");
    assert_ne!(tampered, tree_a.zone_file(&domain_c, ttl).unwrap());
    zone.push_str(&tampered);

    let (nsd, resolver) = Nsd::serve(&binary, &zone, &domain_a).await;

    // The whole of A and, through its link, B.
    let mut client = Client::new(resolver.clone(), ClientConfig::default());
    client.add_tree(tree_a.url(&domain_a).unwrap());
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert!(errors.is_empty(), "{errors:?}\n{}", nsd.log());
    let all: Vec<Enr> = nodes_a.iter().chain(&nodes_b).cloned().collect();
    assert_eq!(found.len(), 170);
    assert_eq!(sorted(&found), sorted(&all));
    let trees = client.trees();
    assert_eq!(trees.len(), 2);
    assert_eq!((trees[0].seq, trees[0].nodes), (Some(7), 150));
    assert_eq!((trees[1].seq, trees[1].nodes), (Some(4), 20));
    let node = found[0].to_node_record().unwrap();
    assert_eq!(node.tcp_port, 30303);

    // Lazily: a fresh client gets its first record after a handful of lookups.
    let mut lazy = Client::new(resolver.clone(), ClientConfig::default());
    lazy.add_tree(tree_a.url(&domain_a).unwrap());
    let first = lazy.next_node(Instant::now()).await.unwrap().unwrap();
    assert!(all.contains(&first));
    assert!(lazy.trees().iter().map(|t| t.pending).sum::<usize>() > 0);

    // The tampered root is rejected and nothing below it is read.
    let mut victim = Client::new(resolver.clone(), ClientConfig::default());
    victim.add_tree(LinkEntry::new(&domain_c, key_a.public_key()).unwrap());
    let (found, errors) = victim.sync_all(Instant::now()).await;
    assert!(found.is_empty());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0].error, DnsError::RootSignature { .. }), "{errors:?}");

    // A name the zone does not hold is "not found", not a failure.
    assert!(matches!(
        resolver.txt(&format!("absent.{ZONE}")).await,
        Err(ResolveError::NotFound { .. })
    ));
}

// A dev-dependency of other test targets of this crate.
use serde_json as _;
