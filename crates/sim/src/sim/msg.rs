//! Messengers: real `wisp_messenger::Messenger`s (ratchet, MVDS and message memory stores) on
//! sim nodes, driven the way the node's chat driver drives its messenger: the messenger's
//! filters are installed in the node's router (a light node adds their topics to its topic
//! interest or bloom), what they open goes to `handle_envelope`, and every `Post` is sealed
//! (signed with the account's key, encrypted as asked, PoW when the run wants it) and posted
//! through the router, then reported with `envelope_sent`. Keys, the secure transport's
//! entropy, MVDS's jitter and the sealing randomness all come from the run's seed; time is the
//! node's clock. A stopped node keeps its messenger (its stores are persistent in a real node)
//! and restarts it (`start`, filters installed again in the fresh router) when it comes back.
//!
//! Invariants: a message is received (`MessageReceived`) at most once per account, only by
//! accounts it was meant for; at the check (`Sim::check_messengers_at`), every 1:1 message was
//! received exactly once and is `Delivered` at its sender, and every public message sent while
//! the network was undisturbed (no loss, no stopped node, no partition from its send to a
//! minute later) reached every other member of its chat.

use std::collections::{BTreeMap, BTreeSet};

use wisp_crypto::{PublicKey, SecretKey};
use wisp_messenger::{
    Config as MessengerConfig, DeliveryStatus, Event as MsgEvent, FilterSpec, IncomingEnvelope,
    MemoryMessageStore, MessageId, Messenger, OutgoingEnvelope, Output as MsgOutput,
};
use wisp_mvds::{Config as MvdsConfig, MemoryStore as MvdsStore, Node as Mvds};
use wisp_ratchet::{MemoryStore as RatchetStore, SecureTransport, SeededEntropy};
use wisp_waku::payload::seal_payload_with;
use wisp_waku::{Bloom, Envelope, Filter, FilterId, MessageParams};

use super::conv::JitterRng;
use super::{EPOCH_MS, Ev, IDLE_TICK_MS, Interest, Kind, Sim, to_sim};
use crate::Rng;
use crate::figures::MsgFigures;

type SimMessenger = Messenger<RatchetStore, MvdsStore, JitterRng, MemoryMessageStore>;

/// After a public message is sent, the network must stay undisturbed this long for the
/// reach check to apply to it (the messenger's envelopes live 15 s).
const PUBLIC_WINDOW_MS: u64 = 60_000;

struct Account {
    node: usize,
    key: SecretKey,
    public: PublicKey,
    messenger: SimMessenger,
    /// The filters the messenger asked for, by name, with their id in the node's router.
    filters: BTreeMap<String, (FilterSpec, Option<FilterId>)>,
    tick_at: u64,
    /// Padding, GCM nonces and ECIES ephemeral keys of the envelopes it seals.
    seal_rng: Rng,
}

struct PublicSent {
    chat: usize,
    from: usize,
    at_ms: u64,
    /// Members that received it, with when.
    received_by: BTreeMap<usize, u64>,
}

struct DirectSent {
    from: usize,
    to: usize,
    at_ms: u64,
    received: u64,
    received_at: Option<u64>,
    delivered_at: Option<u64>,
    expired: bool,
}

/// Every messenger of a run and what happened to its messages.
#[derive(Default)]
pub(super) struct Messengers {
    accounts: Vec<Account>,
    /// Public chats: name and member accounts.
    chats: Vec<(String, Vec<usize>)>,
    public: BTreeMap<MessageId, PublicSent>,
    direct: BTreeMap<MessageId, DirectSent>,
    /// Messages sent so far (numbers their texts).
    next_text: u64,
    envelopes: u64,
    envelope_bytes: u64,
    sends_skipped: u64,
    send_errors: u64,
    pow_attempts: u64,
    checked: bool,
    public_checked: u64,
    /// Periods (virtual ms) when a node was down or a partition was on.
    disturbed: Vec<(u64, u64)>,
}

impl Messengers {
    pub(super) fn disturbed(&mut self, from: u64, to: u64) {
        self.disturbed.push((from, to));
    }
}

/// A secret key from the run's RNG (valid: a draw out of range is drawn again).
fn secret_key(rng: &mut Rng) -> SecretKey {
    loop {
        let mut b = [0u8; 32];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_be_bytes());
        }
        if let Ok(k) = SecretKey::from_bytes(&b) {
            return k;
        }
    }
}

fn fill(rng: &mut Rng, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let x = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&x[..chunk.len()]);
    }
}

fn short(id: &MessageId) -> String {
    id.0[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl Sim {
    /// Starts a messenger (a fresh account, keys from the run's seed) on `node` and returns
    /// its index. A node runs at most one: a second call returns the first's index.
    pub fn add_messenger(&mut self, node: usize) -> usize {
        if let Some(a) = self.nodes[node].account {
            return a;
        }
        let a = self.msgs.accounts.len();
        let key = secret_key(&mut self.rng);
        let mut seed = [0u8; 32];
        fill(&mut self.rng, &mut seed);
        let transport = SecureTransport::new(key.clone(), format!("sim-{a}"), RatchetStore::new())
            .with_entropy(SeededEntropy::new(seed));
        let mvds = Mvds::new(
            MvdsConfig::default(),
            MvdsStore::new(),
            JitterRng(Rng::new(self.rng.next_u64())),
        );
        let seal_rng = Rng::new(self.rng.next_u64());
        let messenger = match Messenger::new(
            key.clone(),
            transport,
            mvds,
            MemoryMessageStore::new(),
            MessengerConfig::default(),
        ) {
            Ok(m) => m,
            Err(e) => {
                // Memory stores cannot fail; say so loudly if they ever do.
                self.violation(format!("node {node}: messenger not created: {e}"));
                return usize::MAX;
            }
        };
        let public = key.public_key();
        self.msgs.accounts.push(Account {
            node,
            key,
            public,
            messenger,
            filters: BTreeMap::new(),
            tick_at: u64::MAX,
            seal_rng,
        });
        self.nodes[node].account = Some(a);
        let now = self.rnow(node);
        if let Err(e) = self.msgs.accounts[a].messenger.start(now) {
            self.violation(format!("account {a}: start failed: {e}"));
        }
        self.msg_pump(a);
        a
    }

    /// Account `account` joins public chat `name` now.
    pub fn join_public_chat(&mut self, account: usize, name: &str) {
        let Some(acc) = self.msgs.accounts.get_mut(account) else { return };
        if let Err(e) = acc.messenger.join_public_chat(name) {
            self.violation(format!("account {account}: join {name:?} failed: {e}"));
            return;
        }
        match self.msgs.chats.iter_mut().find(|(n, _)| n == name) {
            Some((_, members)) => members.push(account),
            None => self.msgs.chats.push((name.to_owned(), vec![account])),
        }
        self.msg_pump(account);
    }

    /// Account `account` sends a message to its public chat `name` at `at_ms` after the start
    /// (skipped if its node is down then).
    pub fn public_send_at(&mut self, at_ms: u64, account: usize, name: &str) {
        let Some(chat) = self.msgs.chats.iter().position(|(n, _)| n == name) else { return };
        self.schedule(EPOCH_MS + at_ms, Ev::MsgPublic { account, chat });
    }

    /// Account `from` sends a 1:1 message to account `to` at `at_ms` after the start (skipped
    /// if its node is down then).
    pub fn direct_send_at(&mut self, at_ms: u64, from: usize, to: usize) {
        self.schedule(EPOCH_MS + at_ms, Ev::MsgDirect { from, to });
    }

    /// At `at_ms` after the start, checks the messengers' messages (see the module doc).
    pub fn check_messengers_at(&mut self, at_ms: u64) {
        self.schedule(EPOCH_MS + at_ms, Ev::MsgCheck);
    }

    fn text(&mut self, what: &str) -> String {
        self.msgs.next_text += 1;
        format!("{what} {} from the simulator", self.msgs.next_text)
    }

    pub(super) fn msg_public(&mut self, a: usize, chat: usize) {
        let Some(node) = self.msgs.accounts.get(a).map(|acc| acc.node) else { return };
        if !self.nodes[node].up {
            self.msgs.sends_skipped += 1;
            return;
        }
        let Some(name) = self.msgs.chats.get(chat).map(|(n, _)| n.clone()) else { return };
        let text = self.text("public");
        let now = self.rnow(node);
        match self.msgs.accounts[a].messenger.send_public_text(&name, &text, now) {
            Ok(id) => {
                self.msgs.public.insert(
                    id,
                    PublicSent { chat, from: a, at_ms: self.now, received_by: BTreeMap::new() },
                );
            }
            Err(e) => {
                self.msgs.send_errors += 1;
                self.violation(format!("account {a}: public send refused: {e}"));
            }
        }
        self.msg_pump(a);
    }

    pub(super) fn msg_direct(&mut self, from: usize, to: usize) {
        let (Some(node), Some(peer)) = (
            self.msgs.accounts.get(from).map(|acc| acc.node),
            self.msgs.accounts.get(to).map(|acc| acc.public),
        ) else {
            return;
        };
        if !self.nodes[node].up {
            self.msgs.sends_skipped += 1;
            return;
        }
        let text = self.text("direct");
        let now = self.rnow(node);
        match self.msgs.accounts[from].messenger.send_text(&peer, &text, now) {
            Ok(id) => {
                self.msgs.direct.insert(
                    id,
                    DirectSent {
                        from,
                        to,
                        at_ms: self.now,
                        received: 0,
                        received_at: None,
                        delivered_at: None,
                        expired: false,
                    },
                );
            }
            Err(e) => {
                self.msgs.send_errors += 1;
                self.violation(format!("account {from}: 1:1 send refused: {e}"));
            }
        }
        self.msg_pump(from);
    }

    /// Handles every pending output of account `a`'s messenger, then schedules its tick.
    fn msg_pump(&mut self, a: usize) {
        let Some(node) = self.msgs.accounts.get(a).map(|acc| acc.node) else { return };
        let mut posted = false;
        loop {
            let outputs = self.msgs.accounts[a].messenger.drain_outputs();
            if outputs.is_empty() {
                break;
            }
            for out in outputs {
                match out {
                    MsgOutput::InstallFilter(spec) => self.msg_install(a, spec),
                    MsgOutput::RemoveFilter(spec) => {
                        let removed = self.msgs.accounts[a].filters.remove(&spec.name);
                        if let Some((_, Some(id))) = removed
                            && self.nodes[node].up
                        {
                            self.nodes[node].router.filters_mut().remove(id);
                        }
                    }
                    MsgOutput::Event(e) => self.msg_event(a, e),
                    MsgOutput::Post(out) => {
                        posted |= self.msg_post(a, out);
                    }
                }
            }
        }
        if posted {
            self.drain(node, false);
        }
        self.msg_schedule(a);
    }

    fn msg_install(&mut self, a: usize, spec: FilterSpec) {
        let node = self.msgs.accounts[a].node;
        if self.msgs.accounts[a].filters.contains_key(&spec.name) {
            return;
        }
        let topic = spec.topic;
        let id = self.nodes[node].up.then(|| self.install_in_router(node, &spec));
        self.msgs.accounts[a].filters.insert(spec.name.clone(), (spec, id));
        // A light node asks its peers for the filter's topic (topic interest or bloom), as the
        // node's service does for its filters.
        if self.nodes[node].kind != Kind::Light || self.nodes[node].interest.wants(&topic) {
            return;
        }
        let n = &mut self.nodes[node];
        let update = match &mut n.interest {
            Interest::Topics(t) => {
                t.push(topic);
                n.config.topic_interest = Some(t.clone());
                Some((Some(t.clone()), None))
            }
            Interest::Bloom { wanted, extra } => {
                wanted.push(topic);
                let bloom = Bloom::from_topics(wanted.iter().chain(extra.iter()));
                n.config.bloom = bloom;
                Some((None, Some(bloom)))
            }
            Interest::All => None,
        };
        let Some((topics, bloom)) = update else { return };
        self.topic_lights.entry(topic).or_default().push(node);
        if self.nodes[node].up {
            if let Some(t) = topics {
                self.nodes[node].router.set_topic_interest(t);
            }
            if let Some(b) = bloom {
                self.nodes[node].router.set_bloom(b);
            }
            self.drain(node, false);
        }
    }

    fn install_in_router(&mut self, node: usize, spec: &FilterSpec) -> FilterId {
        let filter = Filter {
            key: spec.key.clone(),
            topics: vec![spec.topic],
            min_pow: 0.0,
            signer: None,
            // History from a trusted mailserver comes as P2P messages.
            allow_p2p: true,
        };
        self.nodes[node].router.filters_mut().install(filter)
    }

    /// Seals and posts one envelope of account `a`; true if the router took it.
    fn msg_post(&mut self, a: usize, out: OutgoingEnvelope) -> bool {
        let node = self.msgs.accounts[a].node;
        if !self.nodes[node].up {
            return false;
        }
        let now = self.rnow(node);
        let acc = &mut self.msgs.accounts[a];
        let params = MessageParams::new(out.payload).signed_by(acc.key.clone());
        let rng = &mut acc.seal_rng;
        let data = match seal_payload_with(&params, &out.encryption, |b| fill(rng, b)) {
            Ok(d) => d,
            Err(e) => {
                self.violation(format!("account {a}: envelope not sealed: {e}"));
                return false;
            }
        };
        let secs = (now / 1000) as u32;
        let mut env = Envelope {
            expiry: secs.saturating_add(out.ttl),
            ttl: out.ttl,
            topic: out.topic,
            data: bytes::Bytes::from(data),
            nonce: 0,
        };
        if self.cfg.pow > 0.0 {
            self.msgs.pow_attempts += self.seal_pow(&mut env, self.cfg.pow.max(out.pow_target));
        }
        self.msgs.envelopes += 1;
        self.msgs.envelope_bytes += env.encoded_len() as u64;
        match self.nodes[node].router.post(env, now) {
            Ok(_) => {
                if let Err(e) = self.msgs.accounts[a].messenger.envelope_sent(out.id) {
                    self.violation(format!("account {a}: envelope_sent failed: {e}"));
                }
                true
            }
            Err(_) => {
                self.post_refused += 1;
                true
            }
        }
    }

    fn msg_event(&mut self, a: usize, e: MsgEvent) {
        let elapsed = self.elapsed_ms();
        match e {
            MsgEvent::MessageReceived(m) => {
                let id = m.id;
                let now = self.now;
                let problem = if let Some(s) = self.msgs.direct.get_mut(&id) {
                    if s.to != a {
                        Some(format!(
                            "account {a} received 1:1 message {} meant for account {}",
                            short(&id),
                            s.to
                        ))
                    } else {
                        s.received += 1;
                        s.received_at.get_or_insert(now);
                        (s.received > 1).then(|| {
                            format!(
                                "account {a} received 1:1 message {} a second time at {elapsed} ms",
                                short(&id)
                            )
                        })
                    }
                } else if let Some(s) = self.msgs.public.get_mut(&id) {
                    let member = self.msgs.chats.get(s.chat).is_some_and(|(_, m)| m.contains(&a));
                    if !member || s.from == a {
                        Some(format!(
                            "account {a} received public message {} of a chat it is not in",
                            short(&id)
                        ))
                    } else if s.received_by.insert(a, now).is_some() {
                        Some(format!(
                            "account {a} received public message {} a second time at {elapsed} ms",
                            short(&id)
                        ))
                    } else {
                        None
                    }
                } else {
                    Some(format!(
                        "account {a} received message {} that no account sent",
                        short(&id)
                    ))
                };
                if let Some(p) = problem {
                    self.violation(p);
                }
            }
            MsgEvent::MessageStatus { id, status, .. } => {
                let Some(s) = self.msgs.direct.get_mut(&id) else { return };
                if s.from != a {
                    return;
                }
                match status {
                    DeliveryStatus::Delivered => {
                        s.delivered_at.get_or_insert(self.now);
                    }
                    DeliveryStatus::Expired => s.expired = true,
                    DeliveryStatus::Sending | DeliveryStatus::Sent => {}
                }
            }
            // Chats, contacts and devices changing: nothing the invariants check.
            _ => {}
        }
    }

    fn msg_schedule(&mut self, a: usize) {
        let now = self.now;
        let Some(acc) = self.msgs.accounts.get(a) else { return };
        let skew = self.nodes[acc.node].skew_ms;
        match acc.messenger.next_wakeup() {
            Ok(Some(t)) => {
                let at = to_sim(t, skew).max(now + 1);
                if at < acc.tick_at {
                    self.msgs.accounts[a].tick_at = at;
                    self.schedule(at, Ev::MsgTick { account: a, at });
                }
            }
            Ok(None) => {}
            Err(e) => self.violation(format!("account {a}: next_wakeup failed: {e}")),
        }
    }

    pub(super) fn msg_tick(&mut self, a: usize, at: u64) {
        let now = self.now;
        let Some(acc) = self.msgs.accounts.get_mut(a) else { return };
        if acc.tick_at != at {
            return;
        }
        acc.tick_at = u64::MAX;
        let node = acc.node;
        if !self.nodes[node].up {
            let next = now + IDLE_TICK_MS;
            self.msgs.accounts[a].tick_at = next;
            self.schedule(next, Ev::MsgTick { account: a, at: next });
            return;
        }
        let rnow = self.rnow(node);
        if let Err(e) = self.msgs.accounts[a].messenger.tick(rnow) {
            self.violation(format!("account {a}: tick failed: {e}"));
        }
        self.msg_pump(a);
    }

    /// A filter of node `n`'s router matched: its messages go to the node's messenger.
    pub(super) fn msg_matched(&mut self, n: usize, filter: FilterId) {
        let Some(a) = self.nodes[n].account else { return };
        let Some(messages) = self.nodes[n].router.filters_mut().take_messages(filter) else {
            return;
        };
        let now = self.rnow(n);
        for m in messages {
            let envelope = IncomingEnvelope {
                topic: m.topic,
                payload: m.payload,
                signer: m.signer,
                timestamp: m.timestamp,
                hash: m.hash,
            };
            // Drops are counted by the messenger (its counters are in the figures).
            let _ = self.msgs.accounts[a].messenger.handle_envelope(&envelope, now);
        }
        self.msg_pump(a);
    }

    /// Node `n` came back with a fresh router: its messenger starts again and its filters
    /// are installed in the new router.
    pub(super) fn msg_restart(&mut self, n: usize) {
        let Some(a) = self.nodes[n].account else { return };
        let names: Vec<String> = self.msgs.accounts[a].filters.keys().cloned().collect();
        for name in names {
            let Some(spec) = self.msgs.accounts[a].filters.get(&name).map(|(s, _)| s.clone())
            else {
                continue;
            };
            let id = self.install_in_router(n, &spec);
            if let Some(f) = self.msgs.accounts[a].filters.get_mut(&name) {
                f.1 = Some(id);
            }
        }
        let now = self.rnow(n);
        if let Err(e) = self.msgs.accounts[a].messenger.start(now) {
            self.violation(format!("account {a}: restart failed: {e}"));
        }
        self.msg_pump(a);
    }

    /// Node `n` stopped: the filter ids of its old router are gone.
    pub(super) fn msg_stop(&mut self, n: usize) {
        let Some(a) = self.nodes[n].account else { return };
        for f in self.msgs.accounts[a].filters.values_mut() {
            f.1 = None;
        }
    }

    fn undisturbed(&self, from: u64, to: u64) -> bool {
        self.cfg.link.loss == 0.0 && !self.msgs.disturbed.iter().any(|&(a, b)| a <= to && from <= b)
    }

    pub(super) fn msg_check(&mut self) {
        self.msgs.checked = true;
        let mut bad = Vec::new();
        for (id, s) in &self.msgs.direct {
            if s.received != 1 || s.delivered_at.is_none() {
                bad.push(format!(
                    "1:1 message {} from account {} to account {} sent at {} ms: received {} time(s), {}",
                    short(id),
                    s.from,
                    s.to,
                    s.at_ms - EPOCH_MS,
                    s.received,
                    if s.delivered_at.is_some() {
                        "delivered"
                    } else if s.expired {
                        "expired"
                    } else {
                        "not delivered"
                    }
                ));
            }
        }
        let mut checked = 0;
        for (id, s) in &self.msgs.public {
            if !self.undisturbed(s.at_ms, s.at_ms + PUBLIC_WINDOW_MS) {
                continue;
            }
            checked += 1;
            let Some((name, members)) = self.msgs.chats.get(s.chat) else { continue };
            let missing: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&m| m != s.from && !s.received_by.contains_key(&m))
                .collect();
            if !missing.is_empty() {
                bad.push(format!(
                    "public message {} of account {} in {name:?} sent at {} ms: never reached account(s) {missing:?}",
                    short(id),
                    s.from,
                    s.at_ms - EPOCH_MS
                ));
            }
        }
        self.msgs.public_checked = checked;
        for v in bad {
            self.violation(v);
        }
    }

    pub(super) fn msg_figures(&self) -> MsgFigures {
        let m = &self.msgs;
        let pct = |mut v: Vec<u64>, p: usize| {
            v.sort_unstable();
            if v.is_empty() { 0 } else { v[(v.len() - 1) * p / 100] }
        };
        let public_expected: u64 = m
            .public
            .values()
            .map(|s| m.chats.get(s.chat).map_or(0, |(_, mem)| mem.len() as u64).saturating_sub(1))
            .sum();
        let public_received: u64 = m.public.values().map(|s| s.received_by.len() as u64).sum();
        let public_lat: Vec<u64> = m
            .public
            .values()
            .flat_map(|s| s.received_by.values().map(move |&t| t - s.at_ms))
            .collect();
        let direct_lat: Vec<u64> =
            m.direct.values().filter_map(|s| s.received_at.map(|r| r - s.at_ms)).collect();
        let acked_lat: Vec<u64> =
            m.direct.values().filter_map(|s| s.delivered_at.map(|r| r - s.at_ms)).collect();
        let mut drops = BTreeMap::new();
        let mut received = 0;
        let mut acks = 0;
        for acc in &m.accounts {
            let c = acc.messenger.counters();
            received += c.messages;
            acks += c.acks;
            for (k, v) in [
                ("undecodable", c.undecodable),
                ("unsigned", c.unsigned),
                ("bad_signature", c.bad_signature),
                ("undecryptable", c.undecryptable),
                ("clock_too_far_ahead", c.clock_too_far_ahead),
                ("unknown_type", c.unknown_type),
                ("invalid", c.invalid),
                ("duplicate", c.duplicates),
                ("storage", c.storage_failures),
            ] {
                if v > 0 {
                    *drops.entry(k.to_string()).or_insert(0) += v;
                }
            }
        }
        let nodes: BTreeSet<usize> = m.accounts.iter().map(|a| a.node).collect();
        MsgFigures {
            accounts: m.accounts.len() as u64,
            light_accounts: nodes.iter().filter(|&&n| self.nodes[n].kind == Kind::Light).count()
                as u64,
            public_chats: m.chats.len() as u64,
            public_messages: m.public.len() as u64,
            public_expected,
            public_received,
            public_checked: m.public_checked,
            public_ms: (pct(public_lat.clone(), 50), pct(public_lat, 95)),
            direct_messages: m.direct.len() as u64,
            direct_received: m.direct.values().filter(|s| s.received > 0).count() as u64,
            direct_delivered: m.direct.values().filter(|s| s.delivered_at.is_some()).count() as u64,
            direct_expired: m.direct.values().filter(|s| s.expired).count() as u64,
            direct_ms: (pct(direct_lat.clone(), 50), pct(direct_lat, 95)),
            delivered_ms: (pct(acked_lat.clone(), 50), pct(acked_lat, 95)),
            envelopes: m.envelopes,
            envelope_bytes: m.envelope_bytes,
            messages_accepted: received,
            acks,
            drops,
            sends_skipped: m.sends_skipped,
            pow_attempts: m.pow_attempts,
            checked: m.checked,
        }
    }
}
