//! Deterministic simulations (seeded): groups of 2 to 10 peers over a link that drops 30 % of
//! the payloads, duplicates 10 % and reorders them. Every message reaches every member exactly
//! once, every delivery is acknowledged, and acks stop retransmission (checked as the run goes
//! by `support::run`, and at the end: no record is left in any store).

mod support;

use criterion as _;
use serde_json as _;

use proptest::prelude::*;
use support::{SimConfig, run};
use wisp_mvds::Mode;

fn check(cfg: &SimConfig) -> support::SimReport {
    let r = run(cfg);
    assert_eq!(r.received, r.expected_deliveries, "{cfg:?}\n{r:?}");
    assert_eq!(r.acked, r.expected_deliveries, "{cfg:?}\n{r:?}");
    assert_eq!(r.gave_up, 0, "{cfg:?}");
    assert_eq!(r.records_left, 0, "{cfg:?}");
    r
}

#[test]
fn batch_groups_of_2_to_10_at_30_percent_loss() {
    for peers in 2..=10 {
        let r = check(&SimConfig::new(peers, Mode::Batch, 0.3, peers as u64));
        assert!(r.payloads_lost > 0);
    }
}

#[test]
fn interactive_groups_of_2_to_10_at_30_percent_loss() {
    for peers in 2..=10 {
        check(&SimConfig::new(peers, Mode::Interactive, 0.3, 100 + peers as u64));
    }
}

#[test]
fn without_loss_nothing_is_retransmitted() {
    for mode in [Mode::Batch, Mode::Interactive] {
        let r = check(&SimConfig::new(6, mode, 0.0, 3));
        // Every full message went exactly once to each recipient.
        assert_eq!(r.message_records_sent, r.expected_deliveries);
        // One ack per delivery; interactive adds one offer and one request per delivery.
        let control = match mode {
            Mode::Batch => r.expected_deliveries,
            Mode::Interactive => 3 * r.expected_deliveries,
        };
        assert_eq!(r.control_records_sent, control);
        assert_eq!(r.payloads_lost, 0);
        // Round trips take < 2 s of link delay plus an epoch per hop.
        assert!(r.latency_quantile(1.0) < 5_000, "{r:?}");
    }
}

#[test]
fn simulation_is_deterministic() {
    let cfg = SimConfig::new(4, Mode::Batch, 0.3, 42);
    assert_eq!(run(&cfg), run(&cfg));
    let other = run(&SimConfig { seed: 43, ..cfg });
    assert_ne!(run(&SimConfig::new(4, Mode::Batch, 0.3, 42)), other);
}

#[test]
fn a_lost_peer_is_given_up_on() {
    // Total loss: each record is sent max_attempts times, then given up.
    let mut cfg = SimConfig::new(3, Mode::Batch, 1.0, 9);
    cfg.node.max_attempts = 5;
    let r = run(&cfg);
    assert_eq!(r.received, 0);
    assert_eq!(r.gave_up, r.expected_deliveries);
    assert_eq!(r.message_records_sent, 5 * r.expected_deliveries);
    assert_eq!(r.records_left, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_seed_delivers_everything(
        seed in any::<u64>(),
        peers in 2usize..6,
        interactive in any::<bool>(),
        loss in 0.0f64..0.4,
    ) {
        let mode = if interactive { Mode::Interactive } else { Mode::Batch };
        let mut cfg = SimConfig::new(peers, mode, loss, seed);
        cfg.messages_per_peer = 2;
        cfg.duplicate = 0.2;
        check(&cfg);
    }
}
