//! Resident memory of a `wisp node` process: idle, with 50 `waku/1` peers connected over
//! loopback RLPx (each past its Hello and Status), and with 500 idle TCP connections held
//! open against it (connections that never send a byte; the node serves at most
//! `max_pending_handshakes` of them and closes the rest at accept). Run with `cargo bench -p
//! wisp --bench footprint`; it prints the figures (VmRSS from /proc, in MiB).

#![allow(unused_crate_dependencies)]

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use tokio::net::TcpStream;
use wisp_crypto::SecretKey;
use wisp_node::test_utils::raw_waku_peer;
use wisp_rlpx::{NodeRecord, P2PStream};

const PEERS: usize = 50;
const IDLE: usize = 500;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

async fn peer(node: NodeRecord) -> P2PStream<TcpStream> {
    raw_waku_peer(node, &SecretKey::random(), "footprint-bench").await.expect("raw peer")
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("footprint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("wisp.toml");
    std::fs::write(&config, "[node]\nmax_peers = 64\nmax_inbound = 64\n").expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wisp"))
        .args(["--data-dir", dir.to_str().expect("utf-8"), "--log-level", "warn", "node"])
        .args(["--config", config.to_str().expect("utf-8"), "--listen", "127.0.0.1:0", "--no-rpc"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wisp node");
    let stdout = child.stdout.take().expect("stdout");
    let node = Kill(child);
    let pid = node.0.id();
    // Keep reading stdout for the node's whole life: a closed pipe would fail its next line.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(e) = line.strip_prefix("enode: ") {
                let _ = tx.send(e.to_owned());
            }
        }
    });
    let enode: NodeRecord = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the node prints its enode")
        .parse()
        .expect("enode");
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_mib(pid);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let peers = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..PEERS {
            v.push(peer(enode).await);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        v
    });
    let with_peers = rss_mib(pid);
    println!(
        "footprint: wisp node RSS idle {idle:.1} MiB; with {PEERS} waku/1 peers {with_peers:.1} MiB ({:.0} KiB per peer)",
        (with_peers - idle) * 1024.0 / PEERS as f64
    );
    drop(peers);
    std::thread::sleep(Duration::from_secs(2));
    let after_peers = rss_mib(pid);
    let idle_conns: Vec<std::net::TcpStream> = (0..IDLE)
        .map(|_| std::net::TcpStream::connect(enode.tcp_addr()).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let with_idle = rss_mib(pid);
    println!(
        "footprint: wisp node RSS {after_peers:.1} MiB before, {with_idle:.1} MiB with {IDLE} idle TCP connections held open"
    );
    drop(idle_conns);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
