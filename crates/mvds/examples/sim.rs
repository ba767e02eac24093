//! Prints the README's simulation figures: batch versus interactive mode at 0 % and 30 % loss.
//!
//! ```sh
//! cargo run -p wisp-mvds --example sim --release
//! ```
//!
//! Each row is one deterministic run (seed 7, or the first argument): `peers` nodes in one group, each sending 10
//! messages of 240 bytes at random times over the first minute; one-way delay 20-800 ms
//! (random, so payloads reorder); at 30 % loss, 10 % of the payloads that get through arrive
//! twice. Nodes tick once per second, with the default backoff (30 s x 2^(n-1), 5 s jitter)
//! and up to 20 attempts.

use criterion as _;
use proptest as _;
use serde_json as _;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{SimConfig, run};
use wisp_mvds::Mode;

fn main() {
    // Optional first argument: the seed (default 7, the README's figures).
    let seed = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    println!(
        "| mode | peers | loss | messages | deliveries | payloads sent | full messages sent | \
         control records sent | bytes sent | bytes / delivery | latency p50 / p99 | last ack at |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for peers in [2, 5, 10] {
        for loss in [0.0, 0.3] {
            for mode in [Mode::Batch, Mode::Interactive] {
                let cfg =
                    SimConfig { messages_per_peer: 10, ..SimConfig::new(peers, mode, loss, seed) };
                let r = run(&cfg);
                assert_eq!(r.received, r.expected_deliveries);
                assert_eq!(r.acked, r.expected_deliveries);
                assert_eq!(r.gave_up, 0);
                println!(
                    "| {} | {} | {:.0} % | {} | {} | {} | {} | {} | {} | {:.0} | {:.1} s / {:.1} s | {:.0} min |",
                    match mode {
                        Mode::Batch => "batch",
                        Mode::Interactive => "interactive",
                    },
                    peers,
                    loss * 100.0,
                    r.messages,
                    r.received,
                    r.payloads_sent,
                    r.message_records_sent,
                    r.control_records_sent,
                    r.bytes_sent,
                    r.bytes_per_delivery(),
                    r.latency_quantile(0.5) as f64 / 1000.0,
                    r.latency_quantile(0.99) as f64 / 1000.0,
                    r.end_ms as f64 / 60_000.0,
                );
            }
        }
    }
}
