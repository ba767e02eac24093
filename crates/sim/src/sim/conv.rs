//! 1:1 conversations: two endpoints, each a real `wisp_mvds::Node` (batch mode, memory store,
//! jitter from the run's RNG), whose payloads travel as envelopes through the simulated Waku
//! network on a topic of their own (no encryption: the payload is the envelope's data, after a
//! byte naming the sending side). MVDS is ticked at its `next_wakeup` on the virtual clock.
//!
//! Invariant: after partitions heal and retransmissions drain, every message is received by its
//! peer exactly once (MVDS `Received` events counted per id) and acknowledged to its sender.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use rand_core::TryRng;
use wisp_mvds::{
    Config as MvdsConfig, Event as MvdsEvent, GroupId, MemoryStore as MvdsStore, Mode,
    Node as Mvds, PeerId as MvdsPeer,
};
use wisp_waku::{Envelope, Topic};

use super::{Ev, IDLE_TICK_MS, Sim};
use crate::Rng;
use crate::figures::ConvFigures;

/// MVDS's random source for jitter: a stream of the run's seeded RNG.
#[derive(Debug)]
pub(super) struct JitterRng(pub(super) Rng);

impl TryRng for JitterRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.0.next_u64() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let x = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
        Ok(())
    }
}

struct Endpoint {
    node: usize,
    mvds: Mvds<MvdsStore, JitterRng>,
    tick_at: u64,
}

struct Conv {
    topic: Topic,
    group: GroupId,
    ends: [Endpoint; 2],
}

/// One message sent in a conversation.
struct Sent {
    conv: usize,
    side: usize,
    at_ms: u64,
    /// Payloads that carried it (1 = no retransmission).
    sends: u64,
    received: u64,
    received_at: Option<u64>,
    acked: bool,
}

/// Every conversation of a run and what happened to its messages.
#[derive(Default)]
pub(super) struct Convs {
    list: Vec<Conv>,
    by_topic: HashMap<Topic, usize>,
    sent: BTreeMap<[u8; 32], Sent>,
    next_body: u64,
    envelopes: u64,
    gave_up: u64,
    checked: bool,
}

fn peer(side: usize) -> MvdsPeer {
    MvdsPeer(vec![side as u8])
}

impl Sim {
    /// Starts a 1:1 conversation between nodes `a` and `b` on `topic` (both must want it: a
    /// light client needs it in its [`super::Interest`]) and returns its index.
    pub fn add_conversation(&mut self, a: usize, b: usize, topic: Topic) -> usize {
        let c = self.convs.list.len();
        let mut g = [0u8; 32];
        g[..4].copy_from_slice(&topic.0);
        g[24..].copy_from_slice(&(c as u64).to_be_bytes());
        let group = GroupId(g);
        let config = MvdsConfig { mode: Mode::Batch, ..MvdsConfig::default() };
        let end = |node: usize, side: usize, rng: &mut Rng| {
            let mut mvds =
                Mvds::new(config.clone(), MvdsStore::new(), JitterRng(Rng::new(rng.next_u64())));
            // A fresh memory store cannot fail to take a peer.
            let _ = mvds.add_peer(group, peer(1 - side));
            Endpoint { node, mvds, tick_at: u64::MAX }
        };
        let ends = [end(a, 0, &mut self.rng), end(b, 1, &mut self.rng)];
        self.convs.list.push(Conv { topic, group, ends });
        self.convs.by_topic.insert(topic, c);
        c
    }

    /// Side `side` (0: the first node, 1: the second) of conversation `conv` sends a message
    /// at `at_ms` after the start.
    pub fn conversation_send_at(&mut self, at_ms: u64, conv: usize, side: usize) {
        self.schedule(super::EPOCH_MS + at_ms, Ev::ConvSend { conv, side: side.min(1) });
    }

    /// At `at_ms` after the start, checks that every conversation message sent so far was
    /// received exactly once and acknowledged (call it after partitions healed and
    /// retransmissions had time to drain).
    pub fn check_conversations_at(&mut self, at_ms: u64) {
        self.schedule(super::EPOCH_MS + at_ms, Ev::ConvCheck);
    }

    pub(super) fn conv_send(&mut self, c: usize, side: usize) {
        let Some(conv) = self.convs.list.get_mut(c) else { return };
        let body_no = self.convs.next_body;
        self.convs.next_body += 1;
        let mut body = Vec::with_capacity(24);
        body.extend_from_slice(&body_no.to_be_bytes());
        body.extend_from_slice(&[0x55; 16]);
        let group = conv.group;
        match conv.ends[side].mvds.send(group, body, self.now) {
            Ok(id) => {
                self.convs.sent.insert(
                    id.0,
                    Sent {
                        conv: c,
                        side,
                        at_ms: self.now,
                        sends: 0,
                        received: 0,
                        received_at: None,
                        acked: false,
                    },
                );
            }
            Err(e) => self.violation(format!("conversation {c}: MVDS refused a send: {e}")),
        }
        self.conv_schedule(c, side);
    }

    fn conv_schedule(&mut self, c: usize, side: usize) {
        let now = self.now;
        let Some(ep) = self.convs.list.get_mut(c).map(|conv| &mut conv.ends[side]) else {
            return;
        };
        match ep.mvds.next_wakeup() {
            Ok(Some(t)) => {
                let at = t.max(now + 1);
                if at < ep.tick_at {
                    ep.tick_at = at;
                    self.schedule(at, Ev::ConvTick { conv: c, side, at });
                }
            }
            Ok(None) => {}
            Err(e) => self.violation(format!("conversation {c}: MVDS store failed: {e}")),
        }
    }

    pub(super) fn conv_tick(&mut self, c: usize, side: usize, at: u64) {
        let now = self.now;
        let Some(conv) = self.convs.list.get_mut(c) else { return };
        let topic = conv.topic;
        let ep = &mut conv.ends[side];
        if ep.tick_at != at {
            return;
        }
        ep.tick_at = u64::MAX;
        let node = ep.node;
        if !self.nodes[node].up {
            // A stopped node keeps its MVDS store (it is persistent) and resumes when back.
            ep.tick_at = now + IDLE_TICK_MS;
            self.schedule(
                now + IDLE_TICK_MS,
                Ev::ConvTick { conv: c, side, at: now + IDLE_TICK_MS },
            );
            return;
        }
        let tick = match ep.mvds.tick(now) {
            Ok(t) => t,
            Err(e) => {
                self.violation(format!("conversation {c}: MVDS tick failed: {e}"));
                return;
            }
        };
        for e in &tick.events {
            if let MvdsEvent::GaveUp { .. } = e {
                self.convs.gave_up += 1;
            }
        }
        for out in tick.payloads {
            for m in &out.payload.messages {
                if let Some(s) = self.convs.sent.get_mut(&m.id().0) {
                    s.sends += 1;
                }
            }
            let mut data = Vec::with_capacity(1 + out.payload.encoded_len());
            data.push(side as u8);
            data.extend_from_slice(&out.payload.to_bytes());
            self.convs.envelopes += 1;
            self.post_data(node, topic, data);
        }
        self.conv_schedule(c, side);
    }

    /// An envelope `n` took from a peer: if it is a conversation's and `n` is the other side,
    /// its MVDS endpoint gets the payload.
    pub(super) fn conv_envelope(&mut self, n: usize, env: &Envelope) {
        let Some(&c) = self.convs.by_topic.get(&env.topic) else { return };
        let Some((&from_side, payload)) = env.data.split_first() else { return };
        let from_side = usize::from(from_side);
        if from_side > 1 {
            return;
        }
        let side = 1 - from_side;
        let now = self.now;
        let Some(ep) = self.convs.list.get_mut(c).map(|conv| &mut conv.ends[side]) else {
            return;
        };
        if ep.node != n {
            return;
        }
        let events = match ep.mvds.on_payload(&peer(from_side), payload, now) {
            Ok(ev) => ev,
            Err(e) => {
                self.violation(format!("conversation {c}: node {n} refused a payload: {e}"));
                return;
            }
        };
        for e in events {
            match e {
                MvdsEvent::Received { id, .. } => {
                    let elapsed = self.elapsed_ms();
                    match self.convs.sent.get_mut(&id.0) {
                        Some(s) if s.conv == c && s.side == from_side => {
                            s.received += 1;
                            s.received_at.get_or_insert(now);
                            if s.received > 1 {
                                self.violation(format!(
                                    "conversation {c}: node {n} received message {} a second time at {elapsed} ms",
                                    hex_id(&id.0)
                                ));
                            }
                        }
                        _ => self.violation(format!(
                            "conversation {c}: node {n} received message {} that its peer never sent",
                            hex_id(&id.0)
                        )),
                    }
                }
                MvdsEvent::Delivered { id, .. } => {
                    if let Some(s) = self.convs.sent.get_mut(&id.0) {
                        s.acked = true;
                    }
                }
                MvdsEvent::GaveUp { .. } => self.convs.gave_up += 1,
            }
        }
        self.conv_schedule(c, side);
    }

    pub(super) fn conv_check(&mut self) {
        self.convs.checked = true;
        let bad: Vec<String> = self
            .convs
            .sent
            .iter()
            .filter(|(_, s)| s.received != 1 || !s.acked)
            .map(|(id, s)| {
                format!(
                    "conversation {}: message {} from side {} sent at {} ms: received {} time(s), {}",
                    s.conv,
                    hex_id(id),
                    s.side,
                    s.at_ms - super::EPOCH_MS,
                    s.received,
                    if s.acked { "acked" } else { "never acked" }
                )
            })
            .collect();
        for v in bad {
            self.violation(v);
        }
    }

    /// Posts `data` on `topic` from `n` (nothing if `n` is down): an envelope the workload
    /// figures do not count.
    fn post_data(&mut self, n: usize, topic: Topic, data: Vec<u8>) {
        if !self.nodes[n].up {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let now = self.rnow(n);
        let ttl = self.cfg.ttl_secs;
        let mut env = Envelope {
            expiry: (now / 1000) as u32 + ttl,
            ttl,
            topic,
            data: bytes::Bytes::from(data),
            nonce: id,
        };
        if self.cfg.pow > 0.0 {
            self.seal_pow(&mut env, self.cfg.pow);
        }
        if self.nodes[n].router.post(env, now).is_err() {
            self.post_refused += 1;
        }
        self.drain(n, false);
    }

    pub(super) fn conv_figures(&self) -> ConvFigures {
        let sent = &self.convs.sent;
        let messages = sent.len() as u64;
        let delivered = sent.values().filter(|s| s.received > 0).count() as u64;
        let acked = sent.values().filter(|s| s.acked).count() as u64;
        let sends: u64 = sent.values().map(|s| s.sends).sum();
        let mut times: Vec<u64> =
            sent.values().filter_map(|s| s.received_at.map(|r| r - s.at_ms)).collect();
        times.sort_unstable();
        let pct = |p: usize| {
            if times.is_empty() { 0 } else { times[(times.len() - 1) * p / 100] }
        };
        ConvFigures {
            conversations: self.convs.list.len() as u64,
            messages,
            delivered,
            acked,
            delivered_ratio: if messages == 0 { 1.0 } else { delivered as f64 / messages as f64 },
            retransmissions_per_message: if messages == 0 {
                0.0
            } else {
                sends.saturating_sub(messages) as f64 / messages as f64
            },
            delivery_ms: (pct(50), pct(95)),
            envelopes: self.convs.envelopes,
            gave_up: self.convs.gave_up,
            checked: self.convs.checked,
        }
    }
}

fn hex_id(id: &[u8; 32]) -> String {
    id[..8].iter().map(|b| format!("{b:02x}")).collect()
}
