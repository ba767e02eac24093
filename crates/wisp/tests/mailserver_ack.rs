//! The mailserver role's archive, seen from outside a real `wisp node --role mailserver`: a raw
//! `waku/1` peer sends Messages batches with confirmations on, and the test reads the SQLite
//! archive file itself.
//!
//! - A Batch Ack means "archived": the node is killed with SIGKILL right after the ack, and
//!   every envelope of the acknowledged batch is in the archive.
//! - The archive queue is bounded: while the archive is stalled (the test holds SQLite's write
//!   lock), the node keeps relaying, drops what does not fit (counted in
//!   `wisp_archive_dropped_total`), and does not acknowledge the batch it could not archive.
//! - SIGTERM commits what is queued before the process exits.
//!
//! Every wait is bounded; the node is killed on drop.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{RunningNode, Scratch, wisp_node};
use tokio::net::TcpStream;
use wisp_crypto::SecretKey;
use wisp_node::test_utils::raw_waku_peer;
use wisp_rlpx::{NodeRecord, P2PStream};
use wisp_waku::{
    Envelope, Topic, WakuPacket, batch_hash,
    packets::{PacketLimits, WAKU_NAME, waku_codes},
};

/// Longest wait for a node to answer (an ack, relayed envelopes, a metric).
const WAIT: Duration = Duration::from_secs(60);
/// Longest wait for a node to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// `wisp node --role mailserver` on loopback with metrics, no RPC, PoW 0, settings from `toml`.
fn start_mailserver(scratch: &Scratch, toml: &str) -> (RunningNode, NodeRecord, String) {
    let data = scratch.path("data");
    let config = scratch.write("wisp.toml", toml);
    let mut cmd = wisp_node(
        &data,
        &[
            "--role",
            "mailserver",
            "--listen",
            "127.0.0.1:0",
            "--no-rpc",
            "--metrics",
            "127.0.0.1:0",
            "--min-pow",
            "0",
            "--config",
        ],
    );
    cmd.arg(config);
    let node = RunningNode::start(cmd);
    let enode: NodeRecord = node.value("enode").parse().unwrap();
    let metrics = node.value("metrics").trim_start_matches("http://").to_owned();
    let metrics = metrics.trim_end_matches("/metrics").to_owned();
    (node, enode, metrics)
}

fn archive_path(scratch: &Scratch) -> PathBuf {
    scratch.path("data").join("archive.sqlite")
}

/// `n` distinct small envelopes, sent now, numbered from `first`.
fn envelopes(first: u64, n: u64) -> Vec<Envelope> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as u32;
    (first..first + n)
        .map(|i| Envelope {
            expiry: now + 300,
            ttl: 300,
            topic: Topic((i as u32).to_be_bytes()),
            data: i.to_be_bytes().repeat(8).into(),
            nonce: i,
        })
        .collect()
}

fn messages_payload(envelopes: &[Envelope]) -> Vec<u8> {
    let mut payload = Vec::new();
    WakuPacket::Messages(envelopes.to_vec()).encode(&mut payload);
    payload
}

async fn raw_peer(enode: NodeRecord) -> P2PStream<TcpStream> {
    raw_waku_peer(enode, &SecretKey::random(), "mailserver-ack-test").await.unwrap()
}

/// Sends one Messages batch; returns its batch hash.
async fn send_batch(peer: &mut P2PStream<TcpStream>, envelopes: &[Envelope]) -> [u8; 32] {
    let payload = messages_payload(envelopes);
    peer.send_capability(WAKU_NAME, waku_codes::MESSAGES, &payload).await.unwrap();
    batch_hash(&payload)
}

/// Reads `waku/1` packets until `done(code, payload)` holds; panics after [`WAIT`].
async fn recv_until(
    peer: &mut P2PStream<TcpStream>,
    what: &str,
    mut done: impl FnMut(u64, &[u8]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, peer.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("session ended before {what}: {e}"));
        let (_, code) = peer.shared_capabilities().resolve(msg.id).unwrap();
        if done(code, &msg.data) {
            return;
        }
    }
}

/// The Batch Acks a peer receives until one for `hash`; returns them all.
async fn acks_until(peer: &mut P2PStream<TcpStream>, hash: [u8; 32]) -> Vec<[u8; 32]> {
    let mut acks = Vec::new();
    recv_until(peer, "Batch Ack", |code, payload| {
        if code != waku_codes::BATCH_ACK {
            return false;
        }
        let WakuPacket::BatchAck(h) =
            WakuPacket::decode(code, payload, &PacketLimits::default()).unwrap()
        else {
            panic!("not a Batch Ack")
        };
        acks.push(h);
        h == hash
    })
    .await;
    acks
}

/// How many of `envelopes` the archive file holds (read with a connection of our own).
fn archived(path: &Path, envelopes: &[Envelope]) -> usize {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt =
        conn.prepare("SELECT count(*) FROM envelopes WHERE sent = ?1 AND hash = ?2").unwrap();
    envelopes
        .iter()
        .filter(|e| {
            let n: i64 = stmt
                .query_row(rusqlite::params![i64::from(e.sent()), &e.hash()[..]], |r| r.get(0))
                .unwrap();
            n == 1
        })
        .count()
}

/// A metric's value from `GET /metrics`, summed over its labels (0 when absent).
fn metric(addr: &str, name: &str) -> i64 {
    let text = common::metrics_text(addr, Duration::from_secs(10));
    // `name value` or `name{labels} value`, summed over the labels.
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?.1,
                None => rest.strip_prefix(' ')?,
            };
            value.trim().parse::<i64>().ok()
        })
        .sum()
}

/// Polls `cond` every 50 ms; panics after [`WAIT`].
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A resident-set figure of a process, KiB (`VmRSS`, `VmHWM`...).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// SQLite's write lock on the archive, held by the test to stall the node's archive writer
/// (its writes wait for it, up to their busy timeout, then retry).
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(path: &Path) -> Self {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        Self(conn)
    }

    fn release(self) {
        self.0.execute_batch("COMMIT").unwrap();
    }
}

/// The trial: a 2 000-envelope batch, SIGKILL right after its Batch Ack, and every
/// acknowledged envelope is in the archive. Three rounds on the same archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batch_survives_kill_9() {
    let scratch = Scratch::new("kill9");
    for round in 0..3u64 {
        let (mut node, enode, _) = start_mailserver(&scratch, "[waku]\nconfirmations = true\n");
        let mut peer = raw_peer(enode).await;
        let batch = envelopes(round * 10_000, 2000);
        let hash = send_batch(&mut peer, &batch).await;
        acks_until(&mut peer, hash).await;
        node.proc.signal("KILL");
        let status = common::wait_with_timeout(&mut node.proc.child, EXIT_TIMEOUT);
        assert!(status.is_some_and(|s| !s.success()), "SIGKILL ends the node: {status:?}");
        assert_eq!(
            archived(&archive_path(&scratch), &batch),
            batch.len(),
            "round {round}: every acknowledged envelope is archived"
        );
    }
}

/// A stalled archive does not stall relaying: the node relays the whole batch to another
/// peer, queues what fits in `archive_queue_bytes`, counts the rest as dropped, and does not
/// acknowledge the batch; once the archive moves again, the next batch is archived and
/// acknowledged, and the node's memory stayed bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_archive_drops_counts_and_does_not_ack() {
    let scratch = Scratch::new("stalled");
    let (node, enode, metrics) = start_mailserver(
        &scratch,
        "[waku]\nconfirmations = true\n[mailserver]\narchive_queue_bytes = 131072\n",
    );
    let pid = node.proc.child.id();
    let mut sender = raw_peer(enode).await;
    let mut receiver = raw_peer(enode).await;
    // Both sessions are up before anything is sent (the receiver must be there to be relayed to).
    wait_for("two peers", || metric(&metrics, "wisp_peers") == 2).await;

    let lock = WriteLock::take(&archive_path(&scratch));
    let first = envelopes(0, 1000);
    let first_hash = send_batch(&mut sender, &first).await;
    let mut relayed = HashSet::new();
    recv_until(&mut receiver, "the relayed batch", |code, payload| {
        if code == waku_codes::MESSAGES {
            let WakuPacket::Messages(envs) =
                WakuPacket::decode(code, payload, &PacketLimits::default()).unwrap()
            else {
                panic!("not Messages")
            };
            relayed.extend(envs.iter().map(Envelope::hash));
        }
        relayed.len() == first.len()
    })
    .await;
    let dropped = metric(&metrics, "wisp_archive_dropped_total");
    assert!(
        dropped > 0 && dropped < first.len() as i64,
        "128 KiB hold part of 1000 envelopes; dropped {dropped}"
    );
    assert!(metric(&metrics, "wisp_archive_queue_bytes") <= 131_072);
    lock.release();

    wait_for("the queued envelopes archived", || {
        metric(&metrics, "wisp_archived_envelopes_total") + dropped == first.len() as i64
    })
    .await;
    assert_eq!(archived(&archive_path(&scratch), &first) as i64, first.len() as i64 - dropped);
    assert_eq!(metric(&metrics, "wisp_archive_unconfirmed_batches_total"), 1);

    // The next batch is archived and acknowledged; the first never was (acks go in order).
    let second = envelopes(5000, 10);
    let second_hash = send_batch(&mut sender, &second).await;
    let acks = acks_until(&mut sender, second_hash).await;
    assert!(!acks.contains(&first_hash), "a batch that was not archived is not acknowledged");
    assert_eq!(archived(&archive_path(&scratch), &second), second.len());
    let hwm = memory_kib(pid, "VmHWM");
    assert!(hwm < 512 * 1024, "the node's peak resident set stays bounded: {hwm} KiB");
}

/// SIGTERM while the archive is stalled: the node waits for the archive to commit what it
/// queued before it exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_the_archive_queue() {
    let scratch = Scratch::new("sigterm");
    let (mut node, enode, metrics) = start_mailserver(&scratch, "");
    let mut peer = raw_peer(enode).await;
    let lock = WriteLock::take(&archive_path(&scratch));
    let all = envelopes(0, 3000);
    for chunk in all.chunks(1500) {
        send_batch(&mut peer, chunk).await;
    }
    wait_for("the envelopes accepted", || {
        metric(&metrics, "wisp_envelopes_received_total") == all.len() as i64
    })
    .await;
    node.proc.signal("TERM");
    // The node is shutting down while its archive writer waits for the lock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.release();
    let status = common::wait_with_timeout(&mut node.proc.child, EXIT_TIMEOUT);
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}\n{}", node.stderr());
    assert_eq!(archived(&archive_path(&scratch), &all), all.len(), "nothing queued is lost");
}
