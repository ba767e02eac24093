//! Seeded runs of the foundation: delivery, exactly-once, determinism, partition healing.

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
    assert!(f.delivered < f.expected, "{f:?}");
    assert!(f.delivered >= f.posted, "{f:?}");
}
