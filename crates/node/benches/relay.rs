//! Relay throughput: envelopes per second a node validates and forwards between two peers over
//! loopback RLPx. One raw `waku/1` peer sends batches of 100 fresh envelopes; another raw peer
//! (full bloom) counts what the node forwards to it. Run with `cargo bench -p wisp-node`.
//!
//! Not a criterion bench: one measurement is a whole network run (seconds), so it reports the
//! median of a few runs itself.
//!
//! A second case (`relay/flood`) runs the same honest relay while a third raw peer floods the
//! node inside the default per-peer limits, as in issue 11: 40 packets/s of 5 000 tiny valid
//! envelopes with a 1 h TTL (about 8 MB/s) for 20 s. It reports the honest envelopes/s, what
//! the flooder got through, the pool at the end, and the process's peak resident memory
//! (VmHWM: the node, its peers and the bench, which holds only the honest packets).

use std::{path::PathBuf, time::Instant};

use tokio::net::TcpStream;
use wisp_crypto::SecretKey;
use wisp_node::{Node, NodeConfig, WakuConfig, test_utils::raw_waku_peer};
use wisp_rlpx::P2PStream;
use wisp_waku::{
    Envelope, RouterConfig, SealBudget, StatusOptions, Topic, WakuPacket,
    packets::{PacketLimits, WAKU_NAME, waku_codes},
    ratelimit::RateLimitConfig,
};

use {
    alloy_rlp as _, base64 as _, bytes as _, hex as _, jsonrpsee as _, proptest as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_mailserver as _,
};
// The messenger's dependencies (wisp-node runs it with a chat account).
use {rand as _, wisp_accounts as _, wisp_messenger as _};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};
use {rusqlite as _, wisp_discovery as _};

const ENVELOPES: usize = 20_000;
const BATCH: usize = 100;
const RUNS: usize = 3;

async fn raw_peer(node: &Node) -> P2PStream<TcpStream> {
    raw_waku_peer(node.enode(), &SecretKey::random(), "relay-bench").await.expect("raw peer")
}

fn packets(now: u32) -> Vec<Vec<u8>> {
    let mut go = || true;
    let envs: Vec<Envelope> = (0..ENVELOPES)
        .map(|i| {
            let mut data = vec![0u8; 256];
            data[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let mut e = Envelope {
                expiry: now + 60,
                ttl: 60,
                topic: Topic([1, 2, 3, 4]),
                data: data.into(),
                nonce: 0,
            };
            e.seal(0.000002, SealBudget { max_attempts: 1 << 16, keep_going: &mut go });
            e
        })
        .collect();
    envs.chunks(BATCH)
        .map(|c| {
            let mut p = Vec::new();
            WakuPacket::Messages(c.to_vec()).encode(&mut p);
            p
        })
        .collect()
}

async fn run_once(run: usize) -> (f64, f64) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("relay-bench-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let router = RouterConfig {
        peer_limits: RateLimitConfig::OFF,
        ip_limits: RateLimitConfig::OFF,
        ..Default::default()
    };
    let node = Node::start(NodeConfig {
        data_dir: dir.clone(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        rpc: None,
        waku: WakuConfig { router },
        ..Default::default()
    })
    .await
    .expect("node");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    let packets = packets(now);
    let bytes: usize = packets.iter().map(Vec::len).sum();
    let mut sender = raw_peer(&node).await;
    let mut target = raw_peer(&node).await;
    // Let both Status handshakes finish.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let counter = tokio::spawn(async move {
        let limits = PacketLimits::default();
        let mut got = 0usize;
        while got < ENVELOPES {
            let msg = target.recv().await.expect("target recv");
            let (_, code) = target.shared_capabilities().resolve(msg.id).expect("waku");
            if code == waku_codes::MESSAGES
                && let Ok(WakuPacket::Messages(envs)) = WakuPacket::decode(code, &msg.data, &limits)
            {
                got += envs.len();
            }
        }
        got
    });
    let start = Instant::now();
    for p in &packets {
        sender.send_capability(WAKU_NAME, waku_codes::MESSAGES, p).await.expect("send");
    }
    let got = tokio::time::timeout(std::time::Duration::from_secs(120), counter)
        .await
        .expect("all envelopes forwarded in time")
        .expect("counter");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(got, ENVELOPES);
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    (ENVELOPES as f64 / secs, bytes as f64 / secs / 1e6)
}

/// A value of this process's `/proc/self/status`, in MiB.
fn memory_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("memory line");
    kib / 1024.0
}

const FLOOD_SECS: u64 = 20;
const FLOOD_RATE: u64 = 40;
const FLOOD_BATCH: u64 = 5_000;

/// One run of the honest relay while a peer floods in-limit, with default router settings.
async fn run_flood() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("relay-flood-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let node = Node::start(NodeConfig {
        data_dir: dir.clone(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        rpc: None,
        ..Default::default()
    })
    .await
    .expect("node");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    let honest = packets(now);
    let mut sender = raw_peer(&node).await;
    let mut target = raw_peer(&node).await;
    let mut flooder = raw_peer(&node).await;
    // The target wants the honest topic only; the flooder nothing.
    for (p, topics) in [(&mut target, vec![Topic([1, 2, 3, 4])]), (&mut flooder, vec![])] {
        let mut update = Vec::new();
        WakuPacket::StatusUpdate(StatusOptions {
            topic_interest: Some(topics),
            ..Default::default()
        })
        .encode(&mut update);
        p.send_capability(WAKU_NAME, waku_codes::STATUS_UPDATE, &update).await.expect("update");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rss_before = memory_mib("VmRSS");

    let flood = tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(1000 / FLOOD_RATE));
        let mut n = 0u64;
        let mut payload = Vec::new();
        while start.elapsed().as_secs() < FLOOD_SECS {
            tick.tick().await;
            let envs: Vec<Envelope> = (n..n + FLOOD_BATCH)
                .map(|i| Envelope {
                    expiry: now + 3600,
                    ttl: 3600,
                    topic: Topic([0xf1, 0, 0xd0, 0]),
                    data: i.to_be_bytes().to_vec().into(),
                    nonce: 0,
                })
                .collect();
            n += FLOOD_BATCH;
            payload.clear();
            WakuPacket::Messages(envs).encode(&mut payload);
            if flooder.send_capability(WAKU_NAME, waku_codes::MESSAGES, &payload).await.is_err() {
                break; // dropped by the node
            }
        }
        (n, start.elapsed().as_secs_f64())
    });
    // The honest relay starts one second into the flood.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let counter = tokio::spawn(async move {
        let limits = PacketLimits::default();
        let mut got = 0usize;
        while got < ENVELOPES {
            let msg = target.recv().await.expect("target recv");
            let (_, code) = target.shared_capabilities().resolve(msg.id).expect("waku");
            if code == waku_codes::MESSAGES
                && let Ok(WakuPacket::Messages(envs)) = WakuPacket::decode(code, &msg.data, &limits)
            {
                got += envs.len();
            }
        }
        got
    });
    let start = Instant::now();
    for p in &honest {
        sender.send_capability(WAKU_NAME, waku_codes::MESSAGES, p).await.expect("send");
    }
    let got = tokio::time::timeout(std::time::Duration::from_secs(300), counter)
        .await
        .expect("all honest envelopes forwarded in time")
        .expect("counter");
    let honest_secs = start.elapsed().as_secs_f64();
    let (flooded, flood_secs) = flood.await.expect("flood");
    let (stats, pool) = node.handle().stats().await.expect("stats");
    let hwm = memory_mib("VmHWM");
    println!(
        "relay/flood: honest {got} envelopes at {:.0} envelopes/s while one peer sent {flooded} envelopes in {flood_secs:.1} s ({:.0}/s); pool {pool} envelopes, {} evicted, {} refused (pool full); RSS before {rss_before:.1} MiB, peak (VmHWM) {hwm:.1} MiB, after {:.1} MiB",
        got as f64 / honest_secs,
        flooded as f64 / flood_secs,
        stats.evicted,
        stats.dropped.get(&wisp_waku::EnvelopeDrop::PoolFull).copied().unwrap_or(0),
        memory_mib("VmRSS"),
    );
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if filter.as_deref().is_none_or(|f| "relay/flood".contains(f)) {
        rt.block_on(run_flood());
    }
    if filter.as_deref().is_some_and(|f| !"relay/loopback".contains(f)) {
        return;
    }
    let mut results: Vec<(f64, f64)> = (0..RUNS).map(|run| rt.block_on(run_once(run))).collect();
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (eps, mbs) = results[RUNS / 2];
    println!(
        "relay/loopback: {ENVELOPES} envelopes of 256 B data in batches of {BATCH}: median of {RUNS} runs {eps:.0} envelopes/s ({mbs:.1} MB/s in), all runs: {:?}",
        results.iter().map(|r| r.0.round()).collect::<Vec<_>>()
    );
}
