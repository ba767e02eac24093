//! `wisp sim` as a user runs it: the figures as text and as JSON, the same seed giving the same
//! figures, and a bad setting naming its flag with exit code 2.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies, dead_code)]

mod common;

use std::time::Duration;

/// Longest wait for one `wisp sim` (a small debug run takes about a second).
const LIMIT: Duration = Duration::from_secs(120);

fn sim(args: &[&str]) -> common::Output {
    common::run(common::wisp().arg("sim").args(args), LIMIT)
}

#[test]
fn sim_prints_figures_and_replays_bit_for_bit() {
    let args =
        ["--scenario", "mesh", "--nodes", "12", "--degree", "4", "--days", "0.001", "--json"];
    let out = sim(&args);
    assert!(out.status.success(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    let f = &v["figures"];
    assert_eq!(f["violations"], 0, "{v}");
    assert!(f["posted"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(f["delivered"], f["expected"], "{v}");
    assert!(v["command"].as_str().unwrap().starts_with("wisp sim --scenario mesh --seed 1"));
    let again = sim(&args);
    assert_eq!(again.stdout, out.stdout);

    let text = sim(&args[..args.len() - 1]);
    assert!(text.status.success(), "{}", text.stderr);
    assert!(text.stdout.contains("invariants       0 violations"), "{}", text.stdout);
}

#[test]
fn sim_bad_setting_names_the_flag() {
    let out = sim(&["--scenario", "mesh", "--loss", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--loss: 2: expected a probability"), "{}", out.stderr);
    let out = sim(&["--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--scenario: nope: expected one of mesh"), "{}", out.stderr);
}

#[test]
fn sim_partition_delivers_every_conversation_message_once() {
    let args =
        ["--scenario", "partition", "--nodes", "8", "--light", "4", "--users", "4", "--json"];
    let out = sim(&args);
    assert!(out.status.success(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    let c = &v["figures"]["conversations"];
    assert_eq!(v["figures"]["violations"], 0, "{v}");
    assert_eq!(c["checked"], true, "{v}");
    assert_eq!(c["messages"], 80, "{v}");
    assert_eq!(c["delivered"], 80, "{v}");
    assert_eq!(c["acked"], 80, "{v}");
    let out = sim(&["--scenario", "partition", "--days", "0.01"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--days: 0.01: expected at least 0.05"), "{}", out.stderr);
}

#[test]
fn sim_chat_runs_messengers_with_pow() {
    let args = [
        "--scenario",
        "chat",
        "--nodes",
        "3",
        "--light",
        "4",
        "--messengers",
        "4",
        "--chat-msgs",
        "2",
        "--days",
        "0.01",
        "--pow",
        "0.002",
        "--json",
    ];
    let out = sim(&args);
    assert!(out.status.success(), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    let m = &v["figures"]["messengers"];
    assert_eq!(v["figures"]["violations"], 0, "{v}");
    assert_eq!(m["checked"], true, "{v}");
    assert_eq!(m["accounts"], 4, "{v}");
    // One chat of 4, 2 messages each: 8 messages, 3 receipts each.
    assert_eq!(
        (m["public_messages"].as_u64(), m["public_received"].as_u64()),
        (Some(8), Some(24)),
        "{v}"
    );
    // A ring of 4 pairs, 2 messages each way.
    assert_eq!(m["direct_messages"], 16, "{v}");
    assert_eq!(m["direct_delivered"], 16, "{v}");
    assert!(m["pow_attempts"].as_u64().unwrap() > 0, "{v}");
    assert!(v["command"].as_str().unwrap().contains("--messengers 4 --chat-msgs 2 --pow 0.002"));
    // Another process, the same seed: the same figures, messengers and all.
    let again = sim(&args);
    assert_eq!(again.stdout, out.stdout);
    let out = sim(&["--scenario", "chat", "--pow", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--pow: 2: expected a PoW target"), "{}", out.stderr);
}
