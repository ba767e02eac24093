//! The registrar's side of topic registration: tickets issued, tickets spent, registrations
//! kept (go-ethereum 1.9.5 `p2p/discv5/topic.go`, re-expressed; facts and constants only).
//!
//! - A ticket carries one wait period per topic: the topic's current wait period, at least
//!   [`MIN_WAIT_PERIOD_S`]. Each registration stretches or shrinks it by
//!   `exp((12 s − time since the previous registration) / 600 s)`, so a topic settles at about
//!   one registration per 12 s.
//! - A ticket is spent from `issue + wait − 1 s` to `issue + wait + REG_TIME_WINDOW_S + 1 s`, in
//!   the registrar's own monotonic seconds. Serials below the last one used are refused; after a
//!   new serial is used, the next new serial is refused for an exponentially distributed pause
//!   averaging 10 minutes (the same serial may register the ticket's other topics).
//! - Entries live an hour ([`REGISTRATION_LIFETIME_MS`]); a topic keeps at most
//!   [`MAX_ENTRIES_PER_TOPIC`] (FIFO) and the table [`MAX_ENTRIES`] (the least requested topic
//!   loses its oldest). Unlike the Go code, a node's registration of one topic does not erase
//!   its registrations of other topics: a mailserver stays listed under both `whisper` and
//!   `whispermail`.

use std::collections::{HashMap, VecDeque};

use wisp_crypto::NodeId;

use super::packet::{NodeEntry, Topic};

/// Most registrations kept in all (go-ethereum `maxEntries`).
pub const MAX_ENTRIES: usize = 10_000;
/// Most registrations per topic (go-ethereum `maxEntriesPerTopic`).
pub const MAX_ENTRIES_PER_TOPIC: usize = 50;
/// The shortest wait period of a ticket, seconds (go-ethereum `minWaitPeriod`).
pub const MIN_WAIT_PERIOD_S: u32 = 60;
/// Seconds after the wait during which a ticket may be spent (go-ethereum `regTimeWindow`).
pub const REG_TIME_WINDOW_S: u64 = 10;
/// How long a registration is kept (go-ethereum `fallbackRegistrationExpiry`).
pub const REGISTRATION_LIFETIME_MS: u64 = 3_600_000;
/// Mean pause before a registrant may use a newer ticket (go-ethereum `avgnoRegTimeout`).
const AVG_NO_REG_TIMEOUT_MS: f64 = 600_000.0;
/// Target interval between two registrations of a topic (10 min / 50).
const TARGET_REG_INTERVAL_MS: f64 = 12_000.0;
/// Time constant of the wait-period control loop.
const WAIT_TIME_CONST_MS: f64 = 600_000.0;
/// Registrar-side records of nodes that hold tickets but no registration, at most.
const MAX_TICKET_HOLDERS: usize = 10_000;

struct Registration {
    node: NodeEntry,
    expires_ms: u64,
}

struct TopicInfo {
    /// Oldest first.
    entries: VecDeque<Registration>,
    wait_period_ms: f64,
    last_registration_ms: u64,
    last_requested_ms: u64,
}

impl TopicInfo {
    fn next_wait_ms(&self, now_ms: u64, min_ms: f64) -> f64 {
        let since = now_ms.saturating_sub(self.last_registration_ms) as f64;
        let wp =
            self.wait_period_ms * ((TARGET_REG_INTERVAL_MS - since) / WAIT_TIME_CONST_MS).exp();
        wp.max(min_ms)
    }
}

#[derive(Default, Clone, Copy)]
struct TicketState {
    last_issued: u32,
    last_used: u32,
    no_reg_until_ms: u64,
}

/// The outcome of spending a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UseTicket {
    /// A new registration.
    Registered,
    /// An existing registration was prolonged.
    Prolonged,
    /// Refused: stale serial, newer serial too soon, or outside the time window.
    Refused,
}

pub(crate) struct TopicTable {
    topics: HashMap<Topic, TopicInfo>,
    tickets: HashMap<NodeId, TicketState>,
    total: usize,
    min_wait_ms: f64,
}

impl TopicTable {
    pub(crate) fn new(min_wait_period_s: u32) -> Self {
        Self {
            topics: HashMap::new(),
            tickets: HashMap::new(),
            total: 0,
            min_wait_ms: f64::from(min_wait_period_s.max(1)) * 1000.0,
        }
    }

    /// Number of registrations held.
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// Issues a ticket for `topics`: its serial and one wait period (seconds) per topic.
    pub(crate) fn issue(&mut self, node: NodeId, topics: &[Topic], now_ms: u64) -> (u32, Vec<u32>) {
        if !self.tickets.contains_key(&node) && self.tickets.len() >= MAX_TICKET_HOLDERS {
            self.forget_idle_holders(now_ms);
        }
        let state = self.tickets.entry(node).or_default();
        state.last_issued = state.last_issued.wrapping_add(1);
        let serial = state.last_issued;
        let waits = topics
            .iter()
            .map(|t| {
                let ms = self
                    .topics
                    .get(t)
                    .map_or(self.min_wait_ms, |i| i.next_wait_ms(now_ms, self.min_wait_ms));
                (ms / 1000.0).ceil().min(f64::from(u32::MAX)) as u32
            })
            .collect();
        (serial, waits)
    }

    /// Spends a ticket. `issue_s` and `now_s` are this registrar's monotonic seconds; `unit` is
    /// a uniform random number in (0, 1] for the pause after a new serial.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spend(
        &mut self,
        node: NodeEntry,
        serial: u32,
        topic: &Topic,
        issue_s: u64,
        wait_s: u32,
        now_s: u64,
        now_ms: u64,
        unit: f64,
    ) -> UseTicket {
        self.collect_garbage(now_ms);
        let state = self.tickets.entry(node.id).or_default();
        if serial < state.last_used {
            return UseTicket::Refused;
        }
        if serial > state.last_used && now_ms < state.no_reg_until_ms {
            return UseTicket::Refused;
        }
        let reg_s = issue_s.saturating_add(u64::from(wait_s));
        let rel = i128::from(now_s) - i128::from(reg_s);
        if !(-1..=(REG_TIME_WINDOW_S as i128) + 1).contains(&rel) {
            return UseTicket::Refused;
        }
        if serial != state.last_used {
            state.last_used = serial;
            let e = (-unit.max(f64::MIN_POSITIVE).ln()).min(100.0);
            state.no_reg_until_ms = now_ms.saturating_add((AVG_NO_REG_TIMEOUT_MS * e) as u64);
        }
        let expires_ms = now_ms.saturating_add(REGISTRATION_LIFETIME_MS);
        if let Some(info) = self.topics.get_mut(topic)
            && let Some(e) = info.entries.iter_mut().find(|e| e.node.id == node.id)
        {
            e.expires_ms = expires_ms;
            e.node = node;
            return UseTicket::Prolonged;
        }
        if self.total >= MAX_ENTRIES {
            self.evict_least_requested();
        }
        let min_ms = self.min_wait_ms;
        let info = self.topics.entry(topic.clone()).or_insert_with(|| TopicInfo {
            entries: VecDeque::new(),
            wait_period_ms: min_ms,
            last_registration_ms: now_ms,
            last_requested_ms: now_ms,
        });
        if info.entries.len() >= MAX_ENTRIES_PER_TOPIC && info.entries.pop_front().is_some() {
            self.total -= 1;
        }
        info.entries.push_back(Registration { node, expires_ms });
        info.wait_period_ms = info.next_wait_ms(now_ms, min_ms);
        info.last_registration_ms = now_ms;
        self.total += 1;
        UseTicket::Registered
    }

    /// The nodes registered under `topic`.
    pub(crate) fn entries(&mut self, topic: &Topic, now_ms: u64) -> Vec<NodeEntry> {
        self.collect_garbage(now_ms);
        match self.topics.get_mut(topic) {
            Some(info) => {
                info.last_requested_ms = now_ms;
                info.entries.iter().map(|e| e.node).collect()
            }
            None => Vec::new(),
        }
    }

    fn evict_least_requested(&mut self) {
        let victim = self
            .topics
            .iter()
            .filter(|(_, i)| !i.entries.is_empty())
            .min_by_key(|(_, i)| i.last_requested_ms)
            .map(|(t, _)| t.clone());
        if let Some(info) = victim.and_then(|t| self.topics.get_mut(&t))
            && info.entries.pop_front().is_some()
        {
            self.total -= 1;
        }
    }

    fn forget_idle_holders(&mut self, now_ms: u64) {
        self.tickets.retain(|_, s| s.no_reg_until_ms > now_ms);
        // Still full (many recent registrants): forget an arbitrary one; its next ticket
        // starts a new serial count, and its old tickets have expired windows anyway.
        if self.tickets.len() >= MAX_TICKET_HOLDERS
            && let Some(victim) = self.tickets.keys().next().copied()
        {
            self.tickets.remove(&victim);
        }
    }

    fn collect_garbage(&mut self, now_ms: u64) {
        let mut removed = 0;
        for info in self.topics.values_mut() {
            let before = info.entries.len();
            info.entries.retain(|e| e.expires_ms > now_ms);
            removed += before - info.entries.len();
        }
        self.total -= removed;
        let min_ms = self.min_wait_ms;
        self.topics.retain(|_, i| !i.entries.is_empty() || i.next_wait_ms(now_ms, min_ms) > min_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::packet::Endpoint;
    use std::net::{IpAddr, Ipv4Addr};

    fn node(i: u8) -> NodeEntry {
        NodeEntry {
            endpoint: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                udp: 30000 + u16::from(i),
                tcp: 1,
            },
            id: NodeId([i; 64]),
        }
    }

    #[test]
    fn ticket_is_spent_only_inside_its_window() {
        let t = Topic::new("whisper");
        let mut tt = TopicTable::new(MIN_WAIT_PERIOD_S);
        let (serial, waits) = tt.issue(node(1).id, std::slice::from_ref(&t), 0);
        assert_eq!((serial, waits.clone()), (1, vec![60]));
        // Too early (issued at 100 s, wait 60: from 159 s).
        assert_eq!(tt.spend(node(1), serial, &t, 100, 60, 158, 158_000, 0.5), UseTicket::Refused);
        // Too late.
        assert_eq!(tt.spend(node(1), serial, &t, 100, 60, 172, 172_000, 0.5), UseTicket::Refused);
        assert_eq!(
            tt.spend(node(1), serial, &t, 100, 60, 160, 160_000, 0.5),
            UseTicket::Registered
        );
        assert_eq!(tt.entries(&t, 161_000), vec![node(1)]);
        // The same ticket again prolongs; an older serial is refused.
        assert_eq!(tt.spend(node(1), serial, &t, 100, 60, 161, 161_000, 0.5), UseTicket::Prolonged);
        assert_eq!(tt.spend(node(1), 0, &t, 100, 60, 161, 161_000, 0.5), UseTicket::Refused);
        // Entries expire after an hour.
        assert!(tt.entries(&t, 161_000 + REGISTRATION_LIFETIME_MS + 1).is_empty());
        assert_eq!(tt.len(), 0);
    }

    #[test]
    fn a_topic_keeps_at_most_its_share() {
        let t = Topic::new("whisper");
        let mut tt = TopicTable::new(1);
        for i in 0..80u8 {
            let (serial, waits) = tt.issue(node(i).id, std::slice::from_ref(&t), 0);
            let w = waits.first().copied().unwrap_or(0);
            assert_eq!(
                tt.spend(node(i), serial, &t, 0, w, u64::from(w), u64::from(w) * 1000, 0.5),
                UseTicket::Registered
            );
        }
        let entries = tt.entries(&t, 10_000);
        assert_eq!(entries.len(), MAX_ENTRIES_PER_TOPIC);
        // FIFO: the oldest went first.
        assert_eq!(entries.first().map(|e| e.id), Some(NodeId([30; 64])));
    }
}
