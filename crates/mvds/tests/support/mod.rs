//! A deterministic MVDS simulation: `n` nodes in one group, virtual time in ms, and a link
//! that drops, duplicates and reorders payloads. Shared by `tests/simulation.rs`,
//! `examples/sim.rs` and `benches/sync.rs`.
//!
//! Every node ticks at most once per epoch, and only when it has something due. The harness
//! checks as it runs that no member receives a message twice, nobody receives its own, and no
//! message is sent again to a peer after that peer's ack arrived.
#![allow(dead_code)]

use hex as _;
use prost as _;
use rand_core as _;
#[cfg(feature = "sqlite")]
use rusqlite as _;
use thiserror as _;
use wisp_crypto as _;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wisp_mvds::{Config, Event, GroupId, MemoryStore, MessageId, Mode, Node, PeerId, Store};

/// One simulation run.
#[derive(Clone, Debug)]
pub(crate) struct SimConfig {
    /// Members of the group.
    pub(crate) peers: usize,
    /// Messages each member sends.
    pub(crate) messages_per_peer: usize,
    /// Body length of each message (240 B: the size of the captured status-go 1:1 text).
    pub(crate) body_len: usize,
    /// Mode of every node.
    pub(crate) mode: Mode,
    /// Probability that a payload is lost.
    pub(crate) loss: f64,
    /// Probability that a delivered payload arrives twice.
    pub(crate) duplicate: f64,
    /// One-way delay, uniform in this range (ms); random delays reorder payloads.
    pub(crate) delay_ms: (u64, u64),
    /// Tick interval of every node (ms).
    pub(crate) epoch_ms: u64,
    /// Messages are sent at uniform random times in `0..send_window_ms`.
    pub(crate) send_window_ms: u64,
    /// Node configuration (the mode is overridden by `mode`).
    pub(crate) node: Config,
    /// Stop at this virtual time even if work remains.
    pub(crate) max_time_ms: u64,
    /// Seed of everything random.
    pub(crate) seed: u64,
}

impl SimConfig {
    pub(crate) fn new(peers: usize, mode: Mode, loss: f64, seed: u64) -> Self {
        Self {
            peers,
            messages_per_peer: 5,
            body_len: 240,
            mode,
            loss,
            duplicate: if loss > 0.0 { 0.1 } else { 0.0 },
            delay_ms: (20, 800),
            epoch_ms: 1_000,
            send_window_ms: 60_000,
            node: Config { max_attempts: 20, ..Config::default() },
            max_time_ms: 7 * 24 * 3600 * 1000,
            seed,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SimReport {
    /// Messages sent by the application.
    pub(crate) messages: usize,
    /// `messages * (peers - 1)`: (message, recipient) pairs.
    pub(crate) expected_deliveries: usize,
    /// `Received` events (each unique by construction).
    pub(crate) received: usize,
    /// `Delivered` events (acks that stopped a retransmission).
    pub(crate) acked: usize,
    /// `GaveUp` events.
    pub(crate) gave_up: usize,
    /// Payloads handed to the link (including lost ones).
    pub(crate) payloads_sent: usize,
    /// Payloads the link lost.
    pub(crate) payloads_lost: usize,
    /// Bytes of all payloads handed to the link.
    pub(crate) bytes_sent: usize,
    /// Full messages carried by payloads (first sends and retransmissions).
    pub(crate) message_records_sent: usize,
    /// Offer, request and ack records carried by payloads.
    pub(crate) control_records_sent: usize,
    /// Delivery latencies (ms from `send` to `Received`), sorted.
    pub(crate) latencies_ms: Vec<u64>,
    /// Virtual time when the last event happened.
    pub(crate) end_ms: u64,
    /// Records left in all stores at the end.
    pub(crate) records_left: usize,
}

impl SimReport {
    /// Latency at quantile `q` (0..=1).
    pub(crate) fn latency_quantile(&self, q: f64) -> u64 {
        if self.latencies_ms.is_empty() {
            return 0;
        }
        let i = ((self.latencies_ms.len() - 1) as f64 * q).round() as usize;
        self.latencies_ms[i]
    }

    /// Bytes on the link per (message, recipient) delivered.
    pub(crate) fn bytes_per_delivery(&self) -> f64 {
        self.bytes_sent as f64 / self.received.max(1) as f64
    }
}

/// A payload on the link.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: u64,
    seq: u64,
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

fn peer_id(i: usize) -> PeerId {
    PeerId(vec![u8::try_from(i).expect("at most 256 peers")])
}

fn index(p: &PeerId) -> usize {
    usize::from(p.0[0])
}

/// Runs one simulation. Panics on a violated invariant.
pub(crate) fn run(cfg: &SimConfig) -> SimReport {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut group = [0u8; 32];
    rng.fill(&mut group);
    let group = GroupId(group);
    let node_cfg = Config { mode: cfg.mode, ..cfg.node.clone() };
    let mut nodes: Vec<Node<MemoryStore, StdRng>> = (0..cfg.peers)
        .map(|_| {
            Node::new(node_cfg.clone(), MemoryStore::new(), StdRng::seed_from_u64(rng.random()))
        })
        .collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        for j in (0..cfg.peers).filter(|&j| j != i) {
            node.add_peer(group, peer_id(j)).unwrap();
        }
    }

    // (time, sender, body)
    let mut sends: Vec<(u64, usize, Vec<u8>)> = Vec::new();
    for i in 0..cfg.peers {
        for k in 0..cfg.messages_per_peer {
            let mut body = format!("peer {i} message {k} ").into_bytes();
            while body.len() < cfg.body_len {
                body.push(rng.random());
            }
            sends.push((rng.random_range(0..cfg.send_window_ms.max(1)), i, body));
        }
    }
    sends.sort();
    let mut sends = sends.into_iter().peekable();

    let mut report = SimReport {
        messages: cfg.peers * cfg.messages_per_peer,
        expected_deliveries: cfg.peers * cfg.messages_per_peer * (cfg.peers - 1),
        ..SimReport::default()
    };
    let mut link: BinaryHeap<Reverse<InFlight>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut last_tick: Vec<Option<u64>> = vec![None; cfg.peers];
    let mut sent_at: BTreeMap<MessageId, (usize, u64)> = BTreeMap::new();
    let mut received: BTreeSet<(usize, MessageId)> = BTreeSet::new();
    let mut acked: BTreeSet<(usize, usize, MessageId)> = BTreeSet::new();

    let next_tick = |node: &Node<MemoryStore, StdRng>, last: Option<u64>| -> Option<u64> {
        let wake = node.next_wakeup().unwrap()?;
        Some(match last {
            Some(l) => wake.max(l + cfg.epoch_ms),
            None => wake,
        })
    };

    loop {
        let t_send = sends.peek().map(|s| s.0);
        let t_link = link.peek().map(|Reverse(f)| f.at);
        let t_node = nodes.iter().zip(&last_tick).filter_map(|(n, l)| next_tick(n, *l)).min();
        let Some(now) = [t_send, t_link, t_node].into_iter().flatten().min() else { break };
        if now > cfg.max_time_ms {
            break;
        }

        while sends.peek().is_some_and(|s| s.0 == now) {
            let (_, i, body) = sends.next().unwrap();
            let id = nodes[i].send(group, body, now).unwrap();
            assert!(sent_at.insert(id, (i, now)).is_none(), "message ids are unique");
            report.end_ms = now;
        }

        while link.peek().is_some_and(|Reverse(f)| f.at == now) {
            let Reverse(f) = link.pop().unwrap();
            let events = nodes[f.to].on_payload(&peer_id(f.from), &f.bytes, now).unwrap();
            for e in events {
                report.end_ms = now;
                match e {
                    Event::Received { id, .. } => {
                        let (author, at) = sent_at[&id];
                        assert_ne!(author, f.to, "own message received");
                        assert!(received.insert((f.to, id)), "message received twice");
                        report.received += 1;
                        report.latencies_ms.push(now - at);
                    }
                    Event::Delivered { peer, id, .. } => {
                        assert!(acked.insert((f.to, index(&peer), id)), "delivered twice");
                        assert!(received.contains(&(index(&peer), id)), "acked before received");
                        report.acked += 1;
                    }
                    Event::GaveUp { .. } => unreachable!("on_payload never gives up"),
                }
            }
        }

        for i in 0..cfg.peers {
            if next_tick(&nodes[i], last_tick[i]).is_none_or(|t| t > now) {
                continue;
            }
            last_tick[i] = Some(now);
            let tick = nodes[i].tick(now).unwrap();
            for e in tick.events {
                report.end_ms = now;
                if let Event::GaveUp { .. } = e {
                    report.gave_up += 1;
                }
            }
            for out in tick.payloads {
                let to = index(&out.peer);
                for m in &out.payload.messages {
                    assert!(!acked.contains(&(i, to, m.id())), "retransmitted after the ack");
                }
                for id in &out.payload.offers {
                    assert!(!acked.contains(&(i, to, *id)), "re-offered after the ack");
                }
                report.message_records_sent += out.payload.messages.len();
                report.control_records_sent +=
                    out.payload.acks.len() + out.payload.offers.len() + out.payload.requests.len();
                let bytes = out.payload.to_bytes();
                report.payloads_sent += 1;
                report.bytes_sent += bytes.len();
                if rng.random_bool(cfg.loss) {
                    report.payloads_lost += 1;
                    continue;
                }
                let copies = if rng.random_bool(cfg.duplicate) { 2 } else { 1 };
                for _ in 0..copies {
                    let at = now + rng.random_range(cfg.delay_ms.0..=cfg.delay_ms.1);
                    seq += 1;
                    link.push(Reverse(InFlight { at, seq, from: i, to, bytes: bytes.clone() }));
                }
            }
        }
    }
    report.latencies_ms.sort_unstable();
    report.records_left = nodes.iter().map(|n| n.store().record_count().unwrap()).sum();
    report
}
