//! Seeded runs of the foundation: delivery, exactly-once, determinism, partition healing.

use bytes as _;
use wisp_sim::{LinkModel, Sim};
use wisp_waku::Topic;

fn run(seed: u64, star: bool, loss: f64, cut: bool) -> wisp_sim::Figures {
    let mut sim = Sim::new(8, LinkModel { base_ms: 20, jitter_ms: 15, loss }, seed);
    if star {
        sim.star()
    } else {
        sim.line()
    }
    for i in 0..10u64 {
        sim.post_at(2_000 + i * 300, (i as usize * 3) % 8, Topic([1, 2, 3, 4]));
    }
    if cut {
        sim.partition(3, 4, 1_000, 20_000);
    }
    let f = sim.run(60_000);
    assert_eq!(sim.violations(), 0, "seed {seed}: invariant violated");
    f
}

#[test]
fn line_and_star_deliver_everything_exactly_once() {
    for seed in 1..4 {
        for star in [false, true] {
            let f = run(seed, star, 0.0, false);
            assert_eq!(f.delivered, f.expected, "seed {seed} star {star}: {f:?}");
        }
    }
}

#[test]
fn same_seed_same_trace_other_seed_other_trace() {
    let a = run(7, false, 0.0, false);
    let b = run(7, false, 0.0, false);
    let c = run(8, false, 0.0, false);
    assert_eq!(a, b);
    assert_ne!(a.trace, c.trace);
}

/// Waku v1 does not resend old envelopes after a link heals without a new Status exchange:
/// a cut line splits delivery, and nothing is delivered twice.
#[test]
fn partition_splits_a_line_and_nothing_is_duplicated() {
    let f = run(3, false, 0.0, true);
    println!("partition: {f:?}");
    // Nodes 0..=3 and 4..=7 are split for the whole posting period: each envelope reaches
    // exactly the 4 nodes of its poster's side, and is not re-sent after the link heals.
    assert_eq!(f.delivered, f.expected / 2, "{f:?}");
    assert!(f.delivered >= f.posted, "{f:?}");
}

/// Duplicate factor on 50 nodes of degree 4 and 8: sane bounds only, figures printed.
#[test]
fn duplicate_factor_degree_4_and_8() {
    for d in [4usize, 8] {
        let mut sim = Sim::new(50, LinkModel::default(), 11);
        sim.random_regular(d);
        for i in 0..10u64 {
            sim.post_at(2_000 + i * 200, (i as usize * 7) % 50, Topic([9, 9, 9, 9]));
        }
        let f = sim.run(60_000);
        assert_eq!(sim.violations(), 0, "seed 11 degree {d}");
        assert_eq!(f.delivered, f.expected, "degree {d}: {f:?}");
        let dup = f.duplicates as f64 / f.posted as f64;
        println!("degree {d}: {f:?} duplicates per envelope {dup:.1}");
        assert!(dup > 0.0 && dup < (50 * d) as f64, "degree {d}: {dup}");
    }
}

/// The larger run: `cargo test -p wisp-sim --test basic -- --ignored --nocapture`.
#[test]
#[ignore]
fn thousand_nodes_degree_6() {
    let mut sim = Sim::new(1000, LinkModel::default(), 5);
    sim.random_regular(6);
    for i in 0..20u64 {
        sim.post_at(2_000 + i * 100, (i as usize * 37) % 1000, Topic([1, 1, 1, 1]));
    }
    let f = sim.run(60_000);
    println!("{f:?}");
    assert_eq!(sim.violations(), 0);
}

/// 10 % loss on every link: no invariant breaks (losses are not retried by Waku v1).
#[test]
fn loss_breaks_no_invariant() {
    for seed in 1..4 {
        let f = run(seed, true, 0.1, false);
        println!("loss seed {seed}: {f:?}");
        assert!(f.delivered >= f.posted && f.delivered <= f.expected, "seed {seed}: {f:?}");
    }
}

/// A node stops during the posts and restarts with a fresh router: re-adding its links
/// (Status exchange again) lets its neighbours send their pools, so it gets every envelope
/// still alive, once.
#[test]
fn churned_node_catches_up_on_restart() {
    for seed in 1..4 {
        let mut sim = Sim::new(20, LinkModel::default(), seed);
        sim.random_regular(4);
        sim.churn(5, 1_000, 10_000);
        for i in 0..10u64 {
            sim.post_at(2_000 + i * 300, (i as usize * 3 + 1) % 20, Topic([5, 5, 5, 5]));
        }
        sim.run(9_900);
        assert_eq!(sim.delivered_to(5), 0, "seed {seed}: node 5 is down");
        let f = sim.run(60_000);
        println!("churn seed {seed}: {f:?}");
        assert_eq!(sim.violations(), 0, "seed {seed}");
        assert_eq!(f.delivered, f.expected, "seed {seed}: {f:?}");
    }
}
