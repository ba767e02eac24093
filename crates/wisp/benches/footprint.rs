//! Resident memory of a `wisp node` process: idle, and with 50 `waku/1` peers connected over
//! loopback RLPx (each past its Hello and Status). Run with `cargo bench -p wisp --bench
//! footprint`; it prints the figures (VmRSS from /proc, in MiB).

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
    let enode: NodeRecord = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("enode: ").map(str::to_owned))
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
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
