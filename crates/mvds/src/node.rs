//! [`Node`]: the MVDS state machine of one node (2/MVDS "Synchronization").
//!
//! Sans-io: the node is fed the current time (ms of any monotonic or wall clock) with every
//! input, and returns what to send; it never reads a clock, a socket or a timer itself.
//!
//! - [`Node::send`] adds a message to a group: a `MESSAGE` record (batch mode) or an `OFFER`
//!   record (interactive mode) for every peer of the group, due at once.
//! - [`Node::on_payload`] applies a peer's payload and returns the messages received.
//! - [`Node::tick`] returns the payloads due now (at most one per peer, split only above
//!   [`Config::max_outgoing_payload_bytes`]) and the give-ups. Call it once per epoch, or at
//!   [`Node::next_wakeup`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand_core::Rng;

use crate::error::Error;
use crate::store::{PeerId, Record, RecordKind, Store};
use crate::wire::{
    GroupId, Limits, Message, MessageId, Payload, id_record_len, message_record_len,
};

/// Base retransmission interval: status-go's `backoffInterval`, 30 s. The n-th retransmission
/// waits `BACKOFF_BASE_MS * 2^(n-1)`.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 30_000;
/// Upper bound of the backoff before jitter (2/MVDS: the send epoch "SHOULD be exponentially
/// increased until reaching an upper bound"): 2 h.
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 2 * 60 * 60 * 1000;
/// Largest random jitter added to every backoff: 5 s.
pub const DEFAULT_JITTER_MAX_MS: u64 = 5_000;
/// Sends of one record before the node gives up on it: 12, about ten hours with the defaults.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;
/// Largest payload [`Node::tick`] builds before splitting: 512 KiB, leaving room for the
/// encryption layers under Waku's 1 MiB message limit.
pub const DEFAULT_MAX_OUTGOING_PAYLOAD_BYTES: usize = 512 * 1024;

/// How a node sends its own messages (2/MVDS "Flow").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Send the full message at once; the peer acknowledges it. status-go's mode.
    #[default]
    Batch,
    /// Offer the id; send the message when the peer requests it; the peer acknowledges it.
    Interactive,
}

/// Node configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Mode of [`Node::send`]. Default: [`Mode::Batch`] (status-go).
    pub mode: Mode,
    /// Backoff after the first send; doubles with each send. Default: 30 s.
    pub backoff_base_ms: u64,
    /// Cap of the backoff before jitter. Default: 2 h.
    pub backoff_max_ms: u64,
    /// Jitter added to every backoff: uniform in `0..=jitter_max_ms`, from the node's random
    /// source. Default: 5 s.
    pub jitter_max_ms: u64,
    /// Sends of a record before the node gives up on it and reports [`Event::GaveUp`]. The
    /// give-up happens when the record would be sent for the `max_attempts + 1`-th time.
    /// At least 1. Default: 12.
    pub max_attempts: u32,
    /// What a peer's payload may contain. Default: [`Limits::default`] (1 MiB, 16 384 records).
    pub limits: Limits,
    /// Payloads larger than this are split (as status-go does for Waku's size limit); a
    /// single larger message still goes alone. Default: 512 KiB.
    pub max_outgoing_payload_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Batch,
            backoff_base_ms: DEFAULT_BACKOFF_BASE_MS,
            backoff_max_ms: DEFAULT_BACKOFF_MAX_MS,
            jitter_max_ms: DEFAULT_JITTER_MAX_MS,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            limits: Limits::default(),
            max_outgoing_payload_bytes: DEFAULT_MAX_OUTGOING_PAYLOAD_BYTES,
        }
    }
}

/// What the node reports to the layer above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message reached this node for the first time. Reported once per message id, however
    /// often and from whomever it arrives.
    Received {
        /// The peer whose payload carried it.
        from: PeerId,
        /// Its id.
        id: MessageId,
        /// The message.
        message: Message,
    },
    /// A peer acknowledged one of our messages: it holds it. Retransmission to it stops.
    Delivered {
        /// The peer.
        peer: PeerId,
        /// The message's group.
        group: GroupId,
        /// The message.
        id: MessageId,
    },
    /// A record was sent [`Config::max_attempts`] times without an answer and is dropped.
    GaveUp {
        /// The peer.
        peer: PeerId,
        /// The message.
        id: MessageId,
        /// The message's group (`None` for a request: only the id was offered).
        group: Option<GroupId>,
        /// What was being sent.
        kind: RecordKind,
        /// How many times it was sent.
        attempts: u32,
    },
}

/// One payload to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The peer to send it to.
    pub peer: PeerId,
    /// The payload; [`Payload::to_bytes`] gives the wire form.
    pub payload: Payload,
}

/// What [`Node::tick`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// Payloads to send now, ordered by peer.
    pub payloads: Vec<Outgoing>,
    /// Give-ups ([`Event::GaveUp`]).
    pub events: Vec<Event>,
}

/// The MVDS state machine of one node, over a [`Store`] and a random source for jitter.
#[derive(Debug)]
pub struct Node<S, R> {
    config: Config,
    store: S,
    rng: R,
    /// Acks to send, per peer: never stored (2/MVDS), resent whenever a message arrives again.
    acks: BTreeMap<PeerId, BTreeSet<MessageId>>,
    /// Ephemeral messages to send once, per peer.
    once: BTreeMap<PeerId, Vec<Message>>,
}

impl<S: Store, R: Rng> Node<S, R> {
    /// A node over `store`: whatever state it holds (after a restart) is resumed, records
    /// keep their send counts and epochs.
    pub fn new(config: Config, store: S, rng: R) -> Self {
        Self { config, store, rng, acks: BTreeMap::new(), once: BTreeMap::new() }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (its changes bypass the node's transactions).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back (e.g. to reopen it in a new node).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Makes `peer` a member of `group`: later messages to the group go to it too.
    /// Returns `false` if it already was.
    pub fn add_peer(&mut self, group: GroupId, peer: PeerId) -> Result<bool, Error> {
        self.atomic(|n| n.store.add_peer(&group, &peer))
    }

    /// Removes `peer` from `group`. Messages already under way to it are still retransmitted
    /// until acknowledged or given up. Returns `false` if it was not a member.
    pub fn remove_peer(&mut self, group: GroupId, peer: &PeerId) -> Result<bool, Error> {
        self.atomic(|n| n.store.remove_peer(&group, peer))
    }

    /// The peers of `group`.
    pub fn peers(&self, group: &GroupId) -> Result<Vec<PeerId>, Error> {
        self.store.peers(group)
    }

    /// Sends `body` to every peer of `group` in the configured mode, with timestamp
    /// `now_ms / 1000` (seconds). Returns the message id. The same body sent twice to a group
    /// within one second is the same message.
    pub fn send(&mut self, group: GroupId, body: Vec<u8>, now_ms: u64) -> Result<MessageId, Error> {
        let timestamp = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        self.send_message(Message::new(group, timestamp, body), None, now_ms)
    }

    /// Sends a prepared message to every peer of its group, in `mode` (or the configured one).
    /// An ephemeral message (4/MVDS-META) goes once, in batch mode, and keeps no state.
    pub fn send_message(
        &mut self,
        message: Message,
        mode: Option<Mode>,
        now_ms: u64,
    ) -> Result<MessageId, Error> {
        let max = self.config.limits.max_payload_bytes;
        let size = message_record_len(&message);
        if size > max {
            return Err(Error::PayloadTooBig { size, max });
        }
        let id = message.id();
        let group = message.group_id;
        let kind = match mode.unwrap_or(self.config.mode) {
            Mode::Batch => RecordKind::Message,
            Mode::Interactive => RecordKind::Offer,
        };
        let peers = self.atomic(|n| {
            let peers = n.store.peers(&group)?;
            if peers.is_empty() {
                return Err(Error::NoPeers { group });
            }
            n.store.mark_received(&id)?;
            if message.is_ephemeral() {
                return Ok(peers);
            }
            n.store.put_message(&id, &message)?;
            for peer in &peers {
                n.store.put_record(&Record {
                    peer: peer.clone(),
                    id,
                    kind,
                    group: Some(group),
                    send_count: 0,
                    send_epoch: now_ms,
                })?;
            }
            Ok(peers)
        })?;
        if message.is_ephemeral() {
            for peer in peers {
                self.once.entry(peer).or_default().push(message.clone());
            }
        }
        Ok(id)
    }

    /// Decodes a payload from `peer` (bounded by [`Config::limits`]) and applies it; see
    /// [`Node::on_decoded_payload`].
    pub fn on_payload(
        &mut self,
        peer: &PeerId,
        bytes: &[u8],
        now_ms: u64,
    ) -> Result<Vec<Event>, Error> {
        let payload = Payload::decode_with_limits(&mut &bytes[..], &self.config.limits)?;
        self.on_decoded_payload(peer, payload, now_ms)
    }

    /// Applies a payload from `peer` (2/MVDS "Flow", both modes):
    /// - `ACK`: the `MESSAGE` / `OFFER` record for the peer is dropped ([`Event::Delivered`]);
    /// - `REQUEST` for an id we offered: the `OFFER` becomes a `MESSAGE`, due now;
    /// - `OFFER`: an `ACK` if we hold the message, else a `REQUEST`, due now;
    /// - `MESSAGE`: the `REQUEST` is dropped, an `ACK` queued (unless ephemeral), and the
    ///   message reported ([`Event::Received`]) the first time.
    ///
    /// Messages are accepted from any peer, member of the group or not. Acks go out with
    /// the next [`Node::tick`].
    pub fn on_decoded_payload(
        &mut self,
        peer: &PeerId,
        payload: Payload,
        now_ms: u64,
    ) -> Result<Vec<Event>, Error> {
        let mut acks = Vec::new();
        let events = self.atomic(|n| {
            let mut events = Vec::new();
            for id in &payload.acks {
                let mut group = None;
                for kind in [RecordKind::Message, RecordKind::Offer] {
                    if let Some(r) = n.store.remove_record(peer, id, kind)? {
                        group = group.or(r.group);
                    }
                }
                if let Some(group) = group {
                    events.push(Event::Delivered { peer: peer.clone(), group, id: *id });
                    n.forget_if_done(id)?;
                }
            }
            for id in &payload.requests {
                // Only what we offered this peer is sent on request.
                let Some(offer) = n.store.remove_record(peer, id, RecordKind::Offer)? else {
                    continue;
                };
                if n.store.message(id)?.is_some() {
                    n.store.put_record(&Record {
                        kind: RecordKind::Message,
                        send_count: 0,
                        send_epoch: now_ms,
                        ..offer
                    })?;
                } else {
                    n.forget_if_done(id)?;
                }
            }
            for id in &payload.offers {
                if n.store.has_received(id)? {
                    acks.push(*id);
                    continue;
                }
                match n.store.record(peer, id, RecordKind::Request)? {
                    // Offered again: our request was lost; ask again now.
                    Some(mut r) if r.send_epoch > now_ms => {
                        r.send_epoch = now_ms;
                        n.store.put_record(&r)?;
                    }
                    Some(_) => {}
                    None => n.store.put_record(&Record {
                        peer: peer.clone(),
                        id: *id,
                        kind: RecordKind::Request,
                        group: None,
                        send_count: 0,
                        send_epoch: now_ms,
                    })?,
                }
            }
            for message in payload.messages {
                let id = message.id();
                n.store.remove_record(peer, &id, RecordKind::Request)?;
                if !message.is_ephemeral() {
                    acks.push(id);
                }
                if n.store.mark_received(&id)? {
                    events.push(Event::Received { from: peer.clone(), id, message });
                }
            }
            Ok(events)
        })?;
        if !acks.is_empty() {
            self.acks.entry(peer.clone()).or_default().extend(acks);
        }
        Ok(events)
    }

    /// The earliest time at which [`Node::tick`] has something to send or give up: `Some(0)`
    /// when acks or ephemeral messages are waiting, `None` when there is nothing at all.
    pub fn next_wakeup(&self) -> Result<Option<u64>, Error> {
        if !self.acks.is_empty() || !self.once.is_empty() {
            return Ok(Some(0));
        }
        self.store.next_due()
    }

    /// Builds the payloads due at `now_ms`: queued acks and ephemeral messages, and every
    /// record whose send epoch has come. Each sent record's send count grows by one and its
    /// next send epoch becomes `now + min(base * 2^(count-1), max) + jitter`. A record already
    /// sent [`Config::max_attempts`] times is dropped instead ([`Event::GaveUp`]).
    pub fn tick(&mut self, now_ms: u64) -> Result<Tick, Error> {
        let acks = std::mem::take(&mut self.acks);
        let once = std::mem::take(&mut self.once);
        let result = self.atomic(|n| n.build_tick(now_ms, &acks, &once));
        if result.is_err() {
            // Nothing was sent: keep what was queued for the next tick.
            for (peer, ids) in acks {
                self.acks.entry(peer).or_default().extend(ids);
            }
            for (peer, msgs) in once {
                self.once.entry(peer).or_default().extend(msgs);
            }
        }
        result
    }

    fn build_tick(
        &mut self,
        now_ms: u64,
        acks: &BTreeMap<PeerId, BTreeSet<MessageId>>,
        once: &BTreeMap<PeerId, Vec<Message>>,
    ) -> Result<Tick, Error> {
        let mut per_peer: BTreeMap<PeerId, Payload> = BTreeMap::new();
        for (peer, ids) in acks {
            per_peer.entry(peer.clone()).or_default().acks.extend(ids);
        }
        for (peer, msgs) in once {
            per_peer.entry(peer.clone()).or_default().messages.extend(msgs.iter().cloned());
        }
        let mut events = Vec::new();
        let mut bodies: HashMap<MessageId, Option<Message>> = HashMap::new();
        let mut dropped = BTreeSet::new();
        let max_attempts = self.config.max_attempts.max(1);
        for mut rec in self.store.due_records(now_ms)? {
            if rec.send_count >= max_attempts {
                self.store.remove_record(&rec.peer, &rec.id, rec.kind)?;
                dropped.insert(rec.id);
                events.push(Event::GaveUp {
                    peer: rec.peer,
                    id: rec.id,
                    group: rec.group,
                    kind: rec.kind,
                    attempts: rec.send_count,
                });
                continue;
            }
            let payload = per_peer.entry(rec.peer.clone()).or_default();
            match rec.kind {
                RecordKind::Offer => payload.offers.push(rec.id),
                RecordKind::Request => payload.requests.push(rec.id),
                RecordKind::Message => {
                    let body = match bodies.get(&rec.id) {
                        Some(b) => b.clone(),
                        None => {
                            let b = self.store.message(&rec.id)?;
                            bodies.insert(rec.id, b.clone());
                            b
                        }
                    };
                    match body {
                        Some(m) => payload.messages.push(m),
                        None => {
                            // Nothing to send: the body is gone.
                            self.store.remove_record(&rec.peer, &rec.id, rec.kind)?;
                            continue;
                        }
                    }
                }
            }
            rec.send_count = rec.send_count.saturating_add(1);
            rec.send_epoch = now_ms.saturating_add(self.backoff(rec.send_count));
            self.store.put_record(&rec)?;
        }
        for id in &dropped {
            self.forget_if_done(id)?;
        }
        let max = self.config.max_outgoing_payload_bytes;
        let payloads = per_peer
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .flat_map(|(peer, p)| {
                split(p, max)
                    .into_iter()
                    .map(move |payload| Outgoing { peer: peer.clone(), payload })
            })
            .collect();
        Ok(Tick { payloads, events })
    }

    /// `min(base * 2^(count-1), max) + jitter`.
    fn backoff(&mut self, send_count: u32) -> u64 {
        let exp = send_count.saturating_sub(1).min(63);
        let delay =
            self.config.backoff_base_ms.saturating_mul(1u64 << exp).min(self.config.backoff_max_ms);
        let jitter = match self.config.jitter_max_ms {
            0 => 0,
            u64::MAX => self.rng.next_u64(),
            max => self.rng.next_u64() % (max + 1),
        };
        delay.saturating_add(jitter)
    }

    /// Drops a message body once no record needs it.
    fn forget_if_done(&mut self, id: &MessageId) -> Result<(), Error> {
        if !self.store.has_records_for(id)? {
            self.store.remove_message(id)?;
        }
        Ok(())
    }

    fn atomic<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        self.store.begin()?;
        match f(self) {
            Ok(v) => {
                self.store.commit()?;
                Ok(v)
            }
            Err(e) => {
                // The first error is the one to report.
                let _ = self.store.rollback();
                Err(e)
            }
        }
    }
}

/// Splits a payload so that each part encodes to at most `max` bytes (a single record larger
/// than `max` goes alone). Records keep their order.
fn split(p: Payload, max: usize) -> Vec<Payload> {
    if p.encoded_len() <= max {
        return vec![p];
    }
    let mut out = Vec::new();
    let mut cur = Payload::default();
    let mut size = 0;
    let mut push = |cur: &mut Payload, size: &mut usize, len: usize| {
        if *size + len > max && !cur.is_empty() {
            out.push(std::mem::take(cur));
            *size = 0;
        }
        *size += len;
    };
    for id in p.acks {
        push(&mut cur, &mut size, id_record_len());
        cur.acks.push(id);
    }
    for id in p.offers {
        push(&mut cur, &mut size, id_record_len());
        cur.offers.push(id);
    }
    for id in p.requests {
        push(&mut cur, &mut size, id_record_len());
        cur.requests.push(id);
    }
    for m in p.messages {
        push(&mut cur, &mut size, message_record_len(&m));
        cur.messages.push(m);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use criterion as _;
    use serde_json as _;

    use super::*;
    use crate::store::MemoryStore;
    use crate::wire::Metadata;

    type TestNode = Node<MemoryStore, StdRng>;

    const G: GroupId = GroupId([9; 32]);

    fn node(config: Config) -> TestNode {
        Node::new(config, MemoryStore::new(), StdRng::seed_from_u64(1))
    }

    fn no_jitter() -> Config {
        Config { jitter_max_ms: 0, ..Config::default() }
    }

    fn pair(config: Config) -> (TestNode, TestNode, PeerId, PeerId) {
        let (a, b) = (PeerId(b"alice".to_vec()), PeerId(b"bob".to_vec()));
        let mut na = node(config.clone());
        let mut nb = node(config);
        na.add_peer(G, b.clone()).unwrap();
        nb.add_peer(G, a.clone()).unwrap();
        (na, nb, a, b)
    }

    fn one(tick: Tick) -> Outgoing {
        let [out] = <[Outgoing; 1]>::try_from(tick.payloads).expect("exactly one payload");
        out
    }

    #[test]
    fn batch_mode_message_then_ack() {
        let (mut na, mut nb, a, b) = pair(no_jitter());
        let id = na.send(G, b"hi".to_vec(), 5_500).unwrap();
        let out = one(na.tick(5_500).unwrap());
        assert_eq!(out.peer, b);
        let msg = Message::new(G, 5, b"hi".to_vec());
        assert_eq!(out.payload, Payload { messages: vec![msg.clone()], ..Default::default() });

        let ev = nb.on_payload(&a, &out.payload.to_bytes(), 6_000).unwrap();
        assert_eq!(ev, vec![Event::Received { from: a.clone(), id, message: msg }]);
        let ack = one(nb.tick(6_000).unwrap());
        assert_eq!(ack.payload, Payload { acks: vec![id], ..Default::default() });

        let ev = na.on_payload(&b, &ack.payload.to_bytes(), 7_000).unwrap();
        assert_eq!(ev, vec![Event::Delivered { peer: b.clone(), group: G, id }]);
        assert_eq!(na.store().record_count().unwrap(), 0);
        assert_eq!(na.store().message_count(), 0);
        assert_eq!(na.next_wakeup().unwrap(), None);
        assert!(na.tick(1_000_000_000).unwrap().payloads.is_empty());
    }

    #[test]
    fn interactive_mode_offer_request_message_ack() {
        let (mut na, mut nb, a, b) = pair(Config { mode: Mode::Interactive, ..no_jitter() });
        let id = na.send(G, b"hi".to_vec(), 0).unwrap();
        let offer = one(na.tick(0).unwrap()).payload;
        assert_eq!(offer, Payload { offers: vec![id], ..Default::default() });

        assert!(nb.on_decoded_payload(&a, offer, 10).unwrap().is_empty());
        let request = one(nb.tick(10).unwrap()).payload;
        assert_eq!(request, Payload { requests: vec![id], ..Default::default() });

        assert!(na.on_decoded_payload(&b, request, 20).unwrap().is_empty());
        let message = one(na.tick(20).unwrap()).payload;
        assert_eq!(message.messages.len(), 1);
        assert_eq!(message.messages[0].id(), id);

        let ev = nb.on_decoded_payload(&a, message, 30).unwrap();
        assert!(matches!(&ev[..], [Event::Received { id: got, .. }] if *got == id));
        assert_eq!(nb.store().record_count().unwrap(), 0, "request dropped");
        let ack = one(nb.tick(30).unwrap()).payload;
        assert_eq!(ack, Payload { acks: vec![id], ..Default::default() });

        let ev = na.on_decoded_payload(&b, ack, 40).unwrap();
        assert_eq!(ev, vec![Event::Delivered { peer: b, group: G, id }]);
        assert_eq!(na.store().record_count().unwrap(), 0);
    }

    #[test]
    fn offer_of_a_held_message_is_acked() {
        let (mut na, mut nb, a, b) = pair(Config { mode: Mode::Interactive, ..no_jitter() });
        let msg = Message::new(G, 1, b"x".to_vec());
        let id = msg.id();
        nb.on_decoded_payload(&a, Payload { messages: vec![msg], ..Default::default() }, 0)
            .unwrap();
        nb.tick(0).unwrap();
        nb.on_decoded_payload(&a, Payload { offers: vec![id], ..Default::default() }, 1).unwrap();
        assert_eq!(one(nb.tick(1).unwrap()).payload.acks, vec![id]);
        // A request for something never offered is ignored.
        na.on_decoded_payload(&b, Payload { requests: vec![id], ..Default::default() }, 2).unwrap();
        assert!(na.tick(2).unwrap().payloads.is_empty());
    }

    #[test]
    fn retransmission_backs_off_then_gives_up() {
        let config = Config { max_attempts: 4, ..no_jitter() };
        let (mut na, _, _, b) = pair(config);
        let id = na.send(G, b"lost".to_vec(), 0).unwrap();
        let mut sent_at = Vec::new();
        let mut gave_up = Vec::new();
        let mut t = 0;
        while t <= 1_000_000 {
            let tick = na.tick(t).unwrap();
            if !tick.payloads.is_empty() {
                sent_at.push(t);
            }
            for e in tick.events {
                gave_up.push((t, e));
            }
            t += 1_000;
        }
        // 30 s, 60 s, 120 s after each send; the 4th send waits 240 s, then the give-up.
        assert_eq!(sent_at, vec![0, 30_000, 90_000, 210_000]);
        assert_eq!(
            gave_up,
            vec![(
                450_000,
                Event::GaveUp {
                    peer: b,
                    id,
                    group: Some(G),
                    kind: RecordKind::Message,
                    attempts: 4
                }
            )]
        );
        assert_eq!(na.store().record_count().unwrap(), 0);
        assert_eq!(na.store().message_count(), 0, "body dropped after the give-up");
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let config = Config { backoff_max_ms: 100_000, jitter_max_ms: 1_000, ..Config::default() };
        let mut n = node(config);
        for count in 1..=70 {
            let d = n.backoff(count);
            let base = (30_000u64 << (count - 1).min(20)).min(100_000);
            assert!((base..=base + 1_000).contains(&d), "count {count}: {d}");
        }
    }

    #[test]
    fn duplicates_are_received_once_and_acked_each_time() {
        let (_, mut nb, a, _) = pair(no_jitter());
        let msg = Message::new(G, 1, b"dup".to_vec());
        let p = Payload { messages: vec![msg.clone(), msg.clone()], ..Default::default() };
        assert_eq!(nb.on_decoded_payload(&a, p.clone(), 0).unwrap().len(), 1);
        assert_eq!(one(nb.tick(0).unwrap()).payload.acks, vec![msg.id()]);
        assert!(nb.on_decoded_payload(&a, p, 1).unwrap().is_empty());
        assert_eq!(one(nb.tick(1).unwrap()).payload.acks, vec![msg.id()]);
    }

    #[test]
    fn ephemeral_messages_go_once_and_are_not_acked() {
        let (mut na, mut nb, a, _) = pair(no_jitter());
        let mut msg = Message::new(G, 1, b"typing".to_vec());
        msg.metadata = Some(Metadata { parents: vec![], ephemeral: true });
        na.send_message(msg.clone(), None, 0).unwrap();
        assert_eq!(na.next_wakeup().unwrap(), Some(0));
        let out = one(na.tick(0).unwrap());
        assert_eq!(out.payload.messages, vec![msg]);
        assert_eq!(na.store().record_count().unwrap(), 0);
        assert!(na.tick(10_000_000).unwrap().payloads.is_empty());
        assert_eq!(nb.on_decoded_payload(&a, out.payload, 0).unwrap().len(), 1);
        assert!(nb.tick(0).unwrap().payloads.is_empty(), "no ack for an ephemeral message");
    }

    #[test]
    fn sending_needs_peers_and_fitting_size() {
        let mut n = node(Config::default());
        assert!(matches!(
            n.send(G, b"x".to_vec(), 0),
            Err(Error::NoPeers { group }) if group == G
        ));
        n.add_peer(G, PeerId(vec![1])).unwrap();
        let big = vec![0u8; Limits::default().max_payload_bytes];
        assert!(matches!(n.send(G, big, 0), Err(Error::PayloadTooBig { .. })));
    }

    #[test]
    fn large_batches_are_split() {
        let config = Config { max_outgoing_payload_bytes: 1_000, ..no_jitter() };
        let (mut na, mut nb, a, _) = pair(config);
        let mut ids = Vec::new();
        for i in 0..20u8 {
            ids.push(na.send(G, vec![i; 200], 0).unwrap());
        }
        let tick = na.tick(0).unwrap();
        assert!(tick.payloads.len() > 1);
        let mut received = Vec::new();
        for out in &tick.payloads {
            let bytes = out.payload.to_bytes();
            assert!(bytes.len() <= 1_000);
            for e in nb.on_payload(&a, &bytes, 0).unwrap() {
                if let Event::Received { id, .. } = e {
                    received.push(id);
                }
            }
        }
        // Within one tick, records go out in id order.
        received.sort();
        ids.sort();
        assert_eq!(received, ids);
    }

    #[test]
    fn split_keeps_every_record() {
        let id = MessageId([1; 32]);
        let p = Payload {
            acks: vec![id; 7],
            offers: vec![id; 3],
            requests: vec![id; 2],
            messages: vec![Message::new(G, 1, vec![0; 300]), Message::new(G, 2, vec![])],
        };
        for max in [0, 1, 35, 100, 400, 10_000] {
            let parts = split(p.clone(), max);
            let mut joined = Payload::default();
            for part in parts {
                assert!(!part.is_empty());
                assert!(part.encoded_len() <= max || part.record_count() == 1);
                joined.acks.extend(part.acks);
                joined.offers.extend(part.offers);
                joined.requests.extend(part.requests);
                joined.messages.extend(part.messages);
            }
            assert_eq!(joined, p);
        }
    }

    #[test]
    fn malformed_payload_is_a_typed_error_and_changes_nothing() {
        let (_, mut nb, a, _) = pair(no_jitter());
        assert!(matches!(nb.on_payload(&a, &[0xff, 0xff], 0), Err(Error::Decode(_))));
        assert_eq!(nb.next_wakeup().unwrap(), None);
    }
}
