//! Peer scores: misbehaviour costs points that decay over time; a node id over the threshold
//! is refused for a while (the router already dropped it for each offence), and so is the IP
//! address it came from, so that a banned peer cannot walk back in with a new key. Loopback
//! addresses are banned only when the node is told to treat them as any other
//! (`NodeConfig::limit_loopback`), so that local tools and tests are not locked out.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use wisp_crypto::NodeId;
use wisp_waku::DropReason;

/// Points at which a node id is banned.
pub(crate) const BAN_THRESHOLD: f64 = 100.0;
/// How long a ban lasts.
pub(crate) const BAN_DURATION: Duration = Duration::from_secs(600);
/// Points halve every this long.
const HALF_LIFE: Duration = Duration::from_secs(600);

/// What an offence costs.
pub(crate) fn penalty(reason: &DropReason) -> f64 {
    match reason {
        DropReason::BadPacket { .. } | DropReason::PacketBeforeStatus { .. } => 60.0,
        DropReason::RateLimited { .. } => 60.0,
        DropReason::FutureEnvelopes { .. } => 30.0,
        DropReason::StatusTimeout => 10.0,
        DropReason::LightPeer => 0.0,
    }
}

#[derive(Debug)]
struct Score {
    points: f64,
    updated: Instant,
    banned_until: Option<Instant>,
}

/// Scores of the node ids seen misbehaving, and the IP addresses banned with them.
#[derive(Debug, Default)]
pub(crate) struct Scores {
    inner: Mutex<HashMap<NodeId, Score>>,
    ips: Mutex<HashMap<IpAddr, Instant>>,
    ban_loopback: bool,
}

impl Scores {
    /// Scores that ban loopback addresses too if `ban_loopback`.
    pub(crate) fn new(ban_loopback: bool) -> Self {
        Self { ban_loopback, ..Self::default() }
    }

    /// Adds `points` to `node`, which connected from `ip`, at `now`; returns true if this
    /// bans it (and its IP address).
    pub(crate) fn penalize_from(
        &self,
        node: NodeId,
        ip: Option<IpAddr>,
        points: f64,
        now: Instant,
    ) -> bool {
        let banned = self.penalize(node, points, now);
        if banned
            && let Some(ip) = ip
            && (self.ban_loopback || !ip.is_loopback())
        {
            let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
            ips.retain(|_, until| *until > now);
            ips.insert(ip, now + BAN_DURATION);
        }
        banned
    }

    /// How long connections from `ip` stay refused, if they are.
    pub(crate) fn banned_ip(&self, ip: &IpAddr, now: Instant) -> Option<Duration> {
        let ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        ips.get(ip).filter(|u| **u > now).map(|u| *u - now)
    }

    /// Adds `points` to `node` at `now`; returns true if this bans it.
    pub(crate) fn penalize(&self, node: NodeId, points: f64, now: Instant) -> bool {
        if points <= 0.0 {
            return false;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Forget long-quiet entries so the map stays small.
        inner.retain(|_, s| decayed(s, now) >= 1.0 || s.banned_until.is_some_and(|u| u > now));
        let s =
            inner.entry(node).or_insert(Score { points: 0.0, updated: now, banned_until: None });
        s.points = decayed(s, now) + points;
        s.updated = now;
        if s.points >= BAN_THRESHOLD && s.banned_until.is_none_or(|u| u <= now) {
            s.banned_until = Some(now + BAN_DURATION);
            return true;
        }
        false
    }

    /// How long `node` stays banned, if it is.
    pub(crate) fn banned(&self, node: &NodeId, now: Instant) -> Option<Duration> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.get(node)?.banned_until.filter(|u| *u > now).map(|u| u - now)
    }
}

fn decayed(s: &Score, now: Instant) -> f64 {
    let halves = now.saturating_duration_since(s.updated).as_secs_f64() / HALF_LIFE.as_secs_f64();
    s.points * 0.5f64.powf(halves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_serious_offences_ban_and_points_decay() {
        let scores = Scores::default();
        let node = NodeId([7; 64]);
        let t0 = Instant::now();
        assert!(!scores.penalize(node, 50.0, t0));
        assert!(scores.banned(&node, t0).is_none());
        assert!(scores.penalize(node, 50.0, t0));
        assert!(scores.banned(&node, t0).is_some());
        assert!(scores.banned(&node, t0 + BAN_DURATION).is_none());
        // After a long quiet spell, one offence does not ban again.
        let later = t0 + BAN_DURATION + HALF_LIFE * 4;
        assert!(!scores.penalize(node, 50.0, later));
    }

    #[test]
    fn a_ban_covers_the_ip_and_loopback_only_when_asked() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let scores = Scores::new(false);
        assert!(scores.penalize_from(NodeId([1; 64]), Some(ip), 100.0, t0));
        assert!(scores.banned_ip(&ip, t0).is_some());
        assert!(scores.banned_ip(&ip, t0 + BAN_DURATION).is_none());
        assert!(scores.penalize_from(NodeId([2; 64]), Some(lo), 100.0, t0));
        assert!(scores.banned_ip(&lo, t0).is_none());
        let scores = Scores::new(true);
        assert!(scores.penalize_from(NodeId([2; 64]), Some(lo), 100.0, t0));
        assert!(scores.banned_ip(&lo, t0).is_some());
    }
}
