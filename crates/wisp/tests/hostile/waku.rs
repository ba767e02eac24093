//! Hostile input on the waku surface (see main.rs): raw `waku/1` peers flood a real `wisp node`
//! with valid and invalid envelopes, inside the per-peer rate limits, while two honest peers
//! exchange messages through it. The node must lose none of theirs, drop and count the
//! invalid envelopes, keep its pool under its cap (evicting) and its memory bounded.
//!
//! The floods last [`FLOOD`] (issue 11 says 20 s; 8 s of 20 packets/s already puts 80 000
//! envelopes per flooder through the node, sixteen times the pool cap used here).

use std::{
    io::{Read, Write},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::net::TcpStream;
use wisp_crypto::SecretKey;
use wisp_node::test_utils::raw_waku_peer;
use wisp_rlpx::{NodeRecord, P2PStream};
use wisp_waku::{
    Envelope, StatusOptions, Topic, WakuPacket,
    packets::{PacketLimits, WAKU_NAME, waku_codes},
};

use crate::common::{RunningNode, Scratch, wisp_node};

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_secs(8);
/// Flood packets per second per flooder (the node's per-peer limit is 100).
const FLOOD_RATE: u64 = 20;
/// Envelopes per flood packet.
const FLOOD_BATCH: usize = 500;
/// Messages each honest peer sends the other.
const HONEST: usize = 20;
/// The pool cap of the node under attack.
const POOL_CAP: usize = 5_000;
/// Longest wait for anything after the flood.
const SETTLE: Duration = Duration::from_secs(60);
/// A generous bound on the node's peak resident memory (it idles at about 10 MiB).
const MAX_HWM_KIB: u64 = 256 * 1024;

const HONEST_TOPIC: Topic = Topic([0x0a, 0x0b, 0x0c, 0x0d]);
const FLOOD_TOPIC: Topic = Topic([0xf1, 0x00, 0xd0, 0x00]);

struct Target {
    node: RunningNode,
    enode: NodeRecord,
    metrics: String,
}

/// Starts `wisp node` with `waku_toml` as its `[waku]` table, metrics on, no RPC.
fn start(scratch: &Scratch, waku_toml: &str) -> Target {
    let config = scratch.write("wisp.toml", &format!("[waku]\n{waku_toml}"));
    let data = scratch.path("data");
    let node = RunningNode::start(wisp_node(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-rpc",
            "--metrics",
            "127.0.0.1:0",
        ],
    ));
    let enode = node.value("enode").parse().unwrap();
    let metrics =
        node.value("metrics").trim_start_matches("http://").trim_end_matches("/metrics").to_owned();
    Target { node, enode, metrics }
}

impl Target {
    /// `GET /metrics`.
    fn scrape(&self) -> String {
        let mut tcp = std::net::TcpStream::connect(&self.metrics).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(tcp, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        text
    }

    /// The sum of a metric over its labels (0 if absent).
    fn metric(&self, name: &str) -> i64 {
        sum_metric(&self.scrape(), name)
    }

    /// A value of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    fn memory_kib(&self, key: &str) -> u64 {
        let pid = self.node.proc.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
    }
}

fn sum_metric(text: &str, name: &str) -> i64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ') || r.starts_with('{')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .sum()
}

fn now_secs() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as u32
}

fn envelope(topic: Topic, n: u64, expiry: u32, ttl: u32) -> Envelope {
    Envelope { expiry, ttl, topic, data: n.to_be_bytes().to_vec().into(), nonce: n }
}

fn messages(envs: &[Envelope]) -> Vec<u8> {
    let mut p = Vec::new();
    WakuPacket::Messages(envs.to_vec()).encode(&mut p);
    p
}

/// A raw peer that wants only `topics` (topic interest; none at all for a flooder).
async fn peer(enode: &NodeRecord, topics: Vec<Topic>) -> P2PStream<TcpStream> {
    let mut p = raw_waku_peer(*enode, &SecretKey::random(), "hostile-waku").await.unwrap();
    let mut update = Vec::new();
    WakuPacket::StatusUpdate(StatusOptions { topic_interest: Some(topics), ..Default::default() })
        .encode(&mut update);
    p.send_capability(WAKU_NAME, waku_codes::STATUS_UPDATE, &update).await.unwrap();
    p
}

/// Sends flood packets at [`FLOOD_RATE`] for [`FLOOD`]; `make` builds envelope `n`.
async fn flood(mut p: P2PStream<TcpStream>, make: impl Fn(u64) -> Envelope) -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / FLOOD_RATE));
    while start.elapsed() < FLOOD {
        tick.tick().await;
        let batch: Vec<Envelope> = (0..FLOOD_BATCH as u64).map(|i| make(n + i)).collect();
        n += FLOOD_BATCH as u64;
        p.send_capability(WAKU_NAME, waku_codes::MESSAGES, &messages(&batch)).await.unwrap();
    }
    n
}

/// Sends [`HONEST`] messages, one every 200 ms.
async fn send_honest(p: &mut P2PStream<TcpStream>, base: u64) -> Vec<[u8; 32]> {
    let mut sent = Vec::new();
    for i in 0..HONEST as u64 {
        let e = envelope(HONEST_TOPIC, base + i, now_secs() + 120, 120);
        sent.push(e.hash());
        p.send_capability(WAKU_NAME, waku_codes::MESSAGES, &messages(&[e])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sent
}

/// Reads until every hash of `want` has arrived in a Messages packet.
async fn receive_all(p: &mut P2PStream<TcpStream>, want: &[[u8; 32]]) {
    let limits = PacketLimits::default();
    let mut missing: std::collections::HashSet<[u8; 32]> = want.iter().copied().collect();
    while !missing.is_empty() {
        let msg = p.recv().await.unwrap();
        let (_, code) = p.shared_capabilities().resolve(msg.id).unwrap();
        if code == waku_codes::MESSAGES
            && let Ok(WakuPacket::Messages(envs)) = WakuPacket::decode(code, &msg.data, &limits)
        {
            for e in envs {
                missing.remove(&e.hash());
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn floods_of_valid_and_invalid_envelopes_cost_honest_peers_nothing() {
    let scratch = Scratch::new("waku-flood");
    let target = start(&scratch, &format!("pool_max_envelopes = {POOL_CAP}\n"));
    let rt = runtime();
    let (a_sent, b_sent, valid, invalid) = rt.block_on(async {
        let mut a = peer(&target.enode, vec![HONEST_TOPIC]).await;
        let mut b = peer(&target.enode, vec![HONEST_TOPIC]).await;
        let valid = tokio::spawn(flood(peer(&target.enode, vec![]).await, |n| {
            envelope(FLOOD_TOPIC, n, now_secs() + 3600, 3600)
        }));
        // Expired envelopes and envelopes with a TTL of 0, in turn.
        let invalid = tokio::spawn(flood(peer(&target.enode, vec![]).await, |n| {
            if n % 2 == 0 {
                envelope(FLOOD_TOPIC, n, now_secs() - 30, 10)
            } else {
                envelope(FLOOD_TOPIC, n, now_secs() + 60, 0)
            }
        }));
        let exchange = async {
            // A to B, then B to A, both during the floods.
            let a_to_b = async {
                let sent = send_honest(&mut a, 1 << 40).await;
                receive_all(&mut b, &sent).await;
                sent
            };
            let a_sent = a_to_b.await;
            let b_sent = send_honest(&mut b, 2 << 40).await;
            receive_all(&mut a, &b_sent).await;
            (a_sent, b_sent)
        };
        let (a_sent, b_sent) = tokio::time::timeout(SETTLE, exchange)
            .await
            .expect("the honest peers exchanged every message in time");
        let valid = valid.await.unwrap();
        let invalid = invalid.await.unwrap();
        (a_sent, b_sent, valid, invalid)
    });
    assert_eq!((a_sent.len(), b_sent.len()), (HONEST, HONEST));
    // Every invalid envelope was refused and counted; no peer was dropped for flooding
    // inside the limits.
    let text = target.scrape();
    let deadline = Instant::now() + SETTLE;
    let counted = |t: &str| {
        sum_metric(t, "wisp_envelopes_dropped_total{reason=\"expired\"}")
            + sum_metric(t, "wisp_envelopes_dropped_total{reason=\"invalid_ttl\"}")
    };
    let mut text = text;
    while counted(&text) < invalid as i64 {
        assert!(Instant::now() < deadline, "invalid envelopes not all counted:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
        text = target.scrape();
    }
    assert_eq!(counted(&text), invalid as i64);
    assert_eq!(sum_metric(&text, "wisp_peers_dropped_total"), 0, "{text}");
    assert!(sum_metric(&text, "wisp_pool_envelopes") <= POOL_CAP as i64, "{text}");
    assert!(sum_metric(&text, "wisp_envelopes_received_total") >= POOL_CAP as i64 / 4);
    let hwm = target.memory_kib("VmHWM");
    eprintln!(
        "flood: {valid} valid + {invalid} invalid envelopes; VmHWM {} MiB, VmRSS {} MiB",
        hwm / 1024,
        target.memory_kib("VmRSS") / 1024
    );
    assert!(hwm < MAX_HWM_KIB, "peak RSS {hwm} KiB");
}

#[test]
fn an_in_limit_flood_does_not_grow_the_pool_past_its_cap() {
    let scratch = Scratch::new("waku-pool-cap");
    // One peer may fill the whole pool here, so that the global cap and eviction are what
    // hold it.
    let target =
        start(&scratch, &format!("pool_max_envelopes = {POOL_CAP}\npool_peer_share = 1\n"));
    let rt = runtime();
    let flood = rt.spawn({
        let enode = target.enode;
        async move {
            let p = peer(&enode, vec![]).await;
            flood(p, |n| envelope(FLOOD_TOPIC, n, now_secs() + 3600, 3600)).await
        }
    });
    let mut peak = 0;
    while !flood.is_finished() {
        peak = peak.max(target.metric("wisp_pool_envelopes"));
        std::thread::sleep(Duration::from_millis(250));
    }
    let sent = rt.block_on(flood).unwrap();
    // Let the node work through what is queued, then look again.
    let deadline = Instant::now() + SETTLE;
    let handled = |t: &str| {
        sum_metric(t, "wisp_envelopes_received_total")
            + sum_metric(t, "wisp_envelopes_dropped_total")
    };
    let mut text = target.scrape();
    while handled(&text) < sent as i64 {
        assert!(Instant::now() < deadline, "not all {sent} envelopes handled:\n{text}");
        peak = peak.max(sum_metric(&text, "wisp_pool_envelopes"));
        std::thread::sleep(Duration::from_millis(250));
        text = target.scrape();
    }
    peak = peak.max(sum_metric(&text, "wisp_pool_envelopes"));
    assert!(peak <= POOL_CAP as i64, "pool peaked at {peak}");
    assert_eq!(sum_metric(&text, "wisp_pool_envelopes"), POOL_CAP as i64, "{text}");
    let evicted = sum_metric(&text, "wisp_pool_evictions_total");
    let refused = sum_metric(&text, "wisp_envelopes_dropped_total{reason=\"pool_full\"}");
    assert!(evicted > 0 && refused > 0, "evicted {evicted}, refused {refused}");
    assert_eq!(sum_metric(&text, "wisp_peers_dropped_total"), 0, "{text}");
    let hwm = target.memory_kib("VmHWM");
    eprintln!(
        "pool cap: {sent} envelopes sent, pool peak {peak}, {evicted} evicted, {refused} refused; VmHWM {} MiB",
        hwm / 1024
    );
    assert!(hwm < MAX_HWM_KIB, "peak RSS {hwm} KiB");
}
