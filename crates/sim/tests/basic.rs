//! Seeded runs of the event core: delivery, exactly-once, determinism, partitions, churn,
//! light clients, network faults.

use bytes as _;
use rand_core as _;
use thiserror as _;
use wisp_mailserver as _;
use wisp_mvds as _;
use wisp_sim::{Interest, Kind, LinkModel, Sim, SimConfig};
use wisp_waku::Topic;
use {wisp_crypto as _, wisp_messenger as _, wisp_ratchet as _};

const T: Topic = Topic([1, 2, 3, 4]);

fn run(seed: u64, star: bool, link: LinkModel, cut: bool) -> wisp_sim::Figures {
    let mut sim = Sim::relays(8, link, seed);
    if star {
        sim.star()
    } else {
        sim.line()
    }
    for i in 0..10u64 {
        sim.post_at(2_000 + i * 300, (i as usize * 3) % 8, T, 64);
    }
    if cut {
        sim.partition(3, 4, 1_000, 20_000);
    }
    let f = sim.run(60_000);
    assert_eq!(f.violations, 0, "seed {seed}: {f}");
    f
}

#[test]
fn line_and_star_deliver_everything_exactly_once() {
    for seed in 1..4 {
        for star in [false, true] {
            let f = run(seed, star, LinkModel::default(), false);
            assert_eq!(f.posted, 10);
            assert_eq!(f.expected, 70);
            assert_eq!(f.delivered, f.expected, "seed {seed} star {star}: {f}");
        }
    }
}

#[test]
fn same_seed_same_figures_other_seed_other_trace() {
    let a = run(7, false, LinkModel::default(), false);
    let b = run(7, false, LinkModel::default(), false);
    let c = run(8, false, LinkModel::default(), false);
    assert_eq!(a, b);
    assert_ne!(a.trace, c.trace);
}

/// Waku v1 does not resend old envelopes after a link heals without a new Status exchange:
/// a cut line splits delivery, and nothing is delivered twice.
#[test]
fn partition_splits_a_line_and_nothing_is_duplicated() {
    let f = run(3, false, LinkModel::default(), true);
    // Nodes 0..=3 and 4..=7 are split for the whole posting period: each envelope reaches the
    // 3 other nodes of its poster's side only.
    assert_eq!(f.delivered, 30, "{f}");
}

/// A two-group partition that forms and heals: during the cut each side delivers inside
/// itself only; after it heals new envelopes reach everyone again.
#[test]
fn group_partition_forms_and_heals() {
    for seed in 1..4 {
        let mut sim = Sim::relays(20, LinkModel::default(), seed);
        sim.random_regular(4);
        let side: Vec<usize> = (0..10).collect();
        sim.partition_groups(&side, 1_000, 10_000);
        for i in 0..10u64 {
            // five posts during the cut (from both sides), five after it.
            let at = if i < 5 { 2_000 + i * 100 } else { 12_000 + i * 100 };
            sim.post_at(at, (i as usize * 7) % 20, T, 64);
        }
        let f = sim.run(30_000);
        assert_eq!(f.violations, 0, "seed {seed}: {f}");
        // during the cut: 9 others on the poster's side; after: 19.
        assert_eq!(f.delivered, 5 * 9 + 5 * 19, "seed {seed}: {f}");
        assert!(f.packets_lost > 0);
    }
}

/// 10 % loss on every link: nothing breaks, and a lost packet is not made up (Waku v1 has no
/// retransmission of its own).
#[test]
fn loss_breaks_no_invariant() {
    for seed in 1..4 {
        let link = LinkModel { loss: 0.1, ..LinkModel::default() };
        let f = run(seed, true, link, false);
        assert!(f.delivered >= 10 && f.delivered <= f.expected, "seed {seed}: {f}");
        assert!(f.packets_lost > 0, "seed {seed}: {f}");
    }
}

/// Duplication, reordering and a 1 Mbit/s bandwidth: the routers take every envelope once.
#[test]
fn duplication_reordering_and_bandwidth() {
    for seed in 1..4 {
        let link = LinkModel {
            duplicate: 0.2,
            reorder: 0.2,
            bandwidth_bps: 1_000_000,
            ..LinkModel::default()
        };
        let mut sim = Sim::relays(12, link, seed);
        sim.random_regular(4);
        for i in 0..20u64 {
            sim.post_at(2_000 + i * 50, (i as usize * 5) % 12, T, 4096);
        }
        let f = sim.run(60_000);
        assert_eq!(f.violations, 0, "seed {seed}: {f}");
        assert_eq!(f.delivered, f.expected, "seed {seed}: {f}");
    }
    // Serialisation delay: 100 KB over 1 Mbit/s takes 800 ms more than over no limit.
    let latency = |bps| {
        let link = LinkModel { bandwidth_bps: bps, jitter_ms: 0, ..LinkModel::default() };
        let mut sim = Sim::relays(2, link, 1);
        sim.line();
        sim.post_at(2_000, 0, T, 100_000);
        sim.run(30_000).latency_ms.0
    };
    let (slow, fast) = (latency(1_000_000), latency(0));
    assert!(slow >= fast + 800, "{slow} vs {fast}");
}

/// A node stops during the posts and restarts with a fresh router: re-adding its links
/// (Status exchange again) lets its neighbours send their pools, so it gets every envelope
/// still alive, once.
#[test]
fn churned_node_catches_up_on_restart() {
    for seed in 1..4 {
        let mut sim = Sim::relays(20, LinkModel::default(), seed);
        sim.random_regular(4);
        sim.churn(5, 1_000, 10_000);
        for i in 0..10u64 {
            sim.post_at(2_000 + i * 300, (i as usize * 3 + 1) % 20, T, 64);
        }
        sim.run(9_900);
        assert_eq!(sim.delivered_to(5), 0, "seed {seed}: node 5 is down");
        let f = sim.run(60_000);
        assert_eq!(f.violations, 0, "seed {seed}: {f}");
        // Post 8 was node 5's own, skipped while it was down.
        assert_eq!((f.posted, f.posts_skipped), (9, 1), "seed {seed}: {f}");
        assert_eq!(sim.delivered_to(5), 9, "seed {seed}: {f}");
        // Node 5 was down at every post, so it is not among the expected arrivals.
        assert_eq!(f.delivered, f.expected, "seed {seed}: {f}");
    }
}

/// Light clients with topic interest get their topics only; with a bloom, their topics and
/// the bloom's false positives; they relay nothing but their own posts.
#[test]
fn light_clients_get_what_they_asked_for() {
    for seed in 1..4 {
        let mut sim = Sim::new(SimConfig { seed, ..SimConfig::default() });
        let relays: Vec<usize> = (0..4).map(|_| sim.add_node(Kind::Relay, Interest::All)).collect();
        sim.random_regular_on(&relays, 3);
        let topics: Vec<Topic> = (0..40u8).map(|i| Topic([9, i, i, i])).collect();
        let a = sim.add_node(Kind::Light, Interest::Topics(vec![topics[0]]));
        let extra = topics[2..30].to_vec();
        let b = sim.add_node(Kind::Light, Interest::Bloom { wanted: vec![topics[1]], extra });
        for l in [a, b] {
            sim.link(l, relays[0]);
            sim.link(l, relays[2]);
        }
        for (i, t) in topics.iter().enumerate() {
            sim.post_at(2_000 + i as u64 * 20, relays[i % 4], *t, 64);
        }
        sim.post_at(5_000, a, topics[0], 64);
        let f = sim.run(30_000);
        assert_eq!(f.violations, 0, "seed {seed}: {f}");
        assert_eq!(f.delivered, f.expected, "seed {seed}: {f}");
        // 40 posts: each relay but the poster's (3) plus the light client of that topic; a's
        // own post reaches the 4 relays and nobody else.
        assert_eq!(f.expected, 40 * 3 + 2 + 4, "seed {seed}: {f}");
        // the bloom holds 29 topics of 40: some of the other 39 match it.
        assert!(f.false_positives >= 20, "seed {seed}: {f}");
    }
}

/// Clock skew within the sync allowance changes nothing; beyond it, the skewed node's posts
/// are refused as future-dated by the others and it is eventually dropped.
#[test]
fn clock_skew() {
    let within = {
        let mut sim = Sim::new(SimConfig { skew_ms: 5_000, seed: 3, ..SimConfig::default() });
        for _ in 0..6 {
            sim.add_node(Kind::Relay, Interest::All);
        }
        sim.line();
        for i in 0..6u64 {
            sim.post_at(2_000 + i * 100, i as usize, T, 64);
        }
        sim.run(30_000)
    };
    assert_eq!(within.violations, 0, "{within}");
    assert_eq!(within.delivered, within.expected, "{within}");

    let mut sim = Sim::relays(3, LinkModel::default(), 3);
    sim.set_skew(0, 30_000);
    sim.line();
    for i in 0..6u64 {
        sim.post_at(2_000 + i * 1_000, 0, T, 64);
    }
    sim.post_at(12_000, 2, T, 64);
    let beyond = sim.run(60_000);
    assert_eq!(beyond.violations, 0, "{beyond}");
    // Node 1 warns node 0 three times, then drops it at the fourth future-dated envelope.
    assert_eq!(beyond.envelope_drops.get("future_dated"), Some(&4), "{beyond}");
    assert_eq!(beyond.disconnects.get("future_envelopes"), Some(&1), "{beyond}");
    // Node 2's post reaches node 1 only (node 0 is gone): 1 of the 12 + 2 expected arrivals.
    assert_eq!(beyond.delivered, 1, "{beyond}");
}

/// A line of 8 relays cut in the middle: a 1:1 conversation between its ends gets nothing
/// across while the cut lasts (the check run then fails, naming the messages), and MVDS
/// retransmissions deliver every message exactly once after the heal.
fn conversation_across_a_cut(check_at: u64) -> wisp_sim::Figures {
    let mut sim = Sim::relays(8, LinkModel::default(), 5);
    sim.line();
    let c = sim.add_conversation(0, 7, Topic([9, 9, 9, 9]));
    for i in 0..4 {
        sim.conversation_send_at(5_000 + i * 1_000, c, 0);
        sim.conversation_send_at(5_500 + i * 1_000, c, 1);
    }
    sim.partition(3, 4, 1_000, 200_000);
    sim.check_conversations_at(check_at);
    sim.run(check_at)
}

#[test]
fn conversation_across_a_cut_is_delivered_once_after_the_heal() {
    let f = conversation_across_a_cut(1_200_000);
    let c = &f.conversations;
    assert_eq!(f.violations, 0, "{f}");
    assert!(c.checked);
    assert_eq!((c.messages, c.delivered, c.acked), (8, 8, 8), "{f}");
    // Sent at 5-9 s, the cut heals at 200 s: the sends at +30, +90 s are lost, the one at
    // +210 s (plus jitter) gets through.
    assert!(c.retransmissions_per_message >= 2.0, "{f}");
    assert!(c.delivery_ms.0 >= 195_000, "{f}");
}

#[test]
fn conversation_check_before_the_heal_reports_every_message() {
    let f = conversation_across_a_cut(150_000);
    assert_eq!(f.conversations.delivered, 0, "{f}");
    assert_eq!(f.violations, 8, "{f}");
    assert!(f.violation_texts.iter().all(|t| t.contains("received 0 time(s), never acked")), "{f}");
}

/// Two messengers at the ends of a line of 6 relays: a public chat of the two, then 1:1
/// messages both ways sent while the line is cut in the middle. The first goes in DH mode, the
/// rest after X3DH on the ratchet; none crosses before the heal (a check then names them all),
/// and MVDS retransmissions deliver each exactly once, acked, after it.
fn messengers_across_a_cut(check_at: u64) -> wisp_sim::Figures {
    let mut sim = Sim::relays(6, LinkModel::default(), 11);
    sim.line();
    let a = sim.add_messenger(0);
    let b = sim.add_messenger(5);
    sim.join_public_chat(a, "line");
    sim.join_public_chat(b, "line");
    sim.public_send_at(2_000, a, "line");
    sim.public_send_at(3_000, b, "line");
    sim.partition(2, 3, 10_000, 200_000);
    for i in 0..3 {
        sim.direct_send_at(20_000 + i * 1_000, a, b);
        sim.direct_send_at(20_500 + i * 1_000, b, a);
    }
    sim.check_messengers_at(check_at);
    sim.run(check_at)
}

#[test]
fn messengers_across_a_cut_deliver_once_after_the_heal() {
    let f = messengers_across_a_cut(1_500_000);
    let m = &f.messengers;
    assert_eq!(f.violations, 0, "{f}");
    assert!(m.checked, "{f}");
    assert_eq!((m.accounts, m.public_messages, m.public_received), (2, 2, 2), "{f}");
    assert_eq!((m.direct_messages, m.direct_received, m.direct_delivered), (6, 6, 6), "{f}");
    assert_eq!(m.messages_accepted, 8, "{f}");
    // Sent at 20-23 s, the cut heals at 200 s: nothing arrives before it.
    assert!(m.direct_ms.0 >= 175_000, "{f}");
}

#[test]
fn messenger_check_before_the_heal_reports_every_1to1_message() {
    let f = messengers_across_a_cut(150_000);
    assert_eq!(f.messengers.direct_received, 0, "{f}");
    assert_eq!(f.violations, 6, "{f}");
    assert!(
        f.violation_texts.iter().all(|t| t.contains("received 0 time(s), not delivered")),
        "{f}"
    );
}
