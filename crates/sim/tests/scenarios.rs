//! Each scenario of `wisp sim` at a small size, a handful of seeds: the invariants hold and
//! the scenario's own promise is kept. The README's full-size rows are `#[ignore]`d:
//! `cargo test --release -p wisp-sim --test scenarios -- --ignored --nocapture`.

use bytes as _;
use rand_core as _;
use thiserror as _;
use wisp_mailserver as _;
use wisp_mvds as _;
use wisp_sim::{Scenario, ScenarioConfig, run_scenario, scenario::Report};
use wisp_waku as _;
use {wisp_crypto as _, wisp_messenger as _, wisp_ratchet as _};

fn small(s: Scenario, seed: u64) -> ScenarioConfig {
    let mut c = ScenarioConfig::new(s, seed);
    // Small envelopes: hashing dominates a debug build.
    c.size = Some(128);
    match s {
        Scenario::Mesh => {
            (c.nodes, c.degree, c.days, c.msgs) = (Some(16), Some(4), Some(0.001), Some(2000.0))
        }
        Scenario::Churn => {
            (c.nodes, c.degree, c.days, c.msgs, c.churn) =
                (Some(30), Some(6), Some(0.01), Some(300.0), Some(1.0));
            (c.messengers, c.chat_msgs) = (Some(4), Some(1))
        }
        Scenario::Whisper => {
            (c.nodes, c.light, c.users, c.envelopes, c.days) =
                (Some(4), Some(10), Some(200), Some(2), Some(0.002));
            // Two messengers, one message each way: their traffic stays small next to the
            // model's workload, whose byte ratios the whisper test checks.
            (c.messengers, c.chat_msgs) = (Some(2), Some(1));
        }
        Scenario::Offline => {
            (c.nodes, c.light, c.days, c.msgs) = (Some(4), Some(6), Some(0.3), Some(20.0))
        }
        Scenario::Faults => (c.nodes, c.days) = (Some(12), Some(0.0015)),
        Scenario::Partition => {
            (c.nodes, c.light, c.users, c.msgs, c.messengers) =
                (Some(10), Some(4), Some(6), Some(5.0), Some(4))
        }
        Scenario::Chat => (c.nodes, c.light, c.messengers) = (Some(4), Some(6), Some(6)),
    }
    c
}

fn run(c: &ScenarioConfig) -> Report {
    let r = run_scenario(c).expect("valid settings");
    let f = &r.figures;
    assert_eq!(f.violations, 0, "replay: {}\n{f}", r.config.command());
    r
}

#[test]
fn mesh_delivers_everything_once() {
    for seed in 1..4 {
        let r = run(&small(Scenario::Mesh, seed));
        let f = &r.figures;
        assert!(f.posted >= 10, "{f}");
        assert_eq!(f.delivered, f.expected, "{f}");
        // Degree 4: every node gets a copy from most of its 4 neighbours.
        assert!(f.duplicates_per_new > 1.0 && f.duplicates_per_new < 4.0, "{f}");
    }
}

#[test]
fn churn_and_loss_break_no_invariant() {
    for seed in 1..4 {
        let r = run(&small(Scenario::Churn, seed));
        let f = &r.figures;
        assert!(f.packets_lost > 0, "{f}");
        // 30 % loss on a degree-6 mesh: flooding still reaches most nodes.
        assert!(f.delivery_ratio > 0.8 && f.delivery_ratio <= 1.0, "{f}");
        // Messengers through loss and churn: every 1:1 message delivered once and acked
        // (checked as an invariant at the end of the run).
        let m = &f.messengers;
        assert!(m.checked && m.accounts == 4 && m.direct_messages > 0, "{f}");
        assert_eq!(m.direct_delivered, m.direct_messages, "{f}");
    }
}

#[test]
fn whisper_fleet_light_clients_get_their_topics() {
    for seed in 1..4 {
        let r = run(&small(Scenario::Whisper, seed));
        let f = &r.figures;
        assert_eq!(f.delivered, f.expected, "{f}");
        let relay = f.kind("relay").expect("relays");
        let topic = f.kind("light-topic").expect("topic-interest clients");
        let bloom = f.kind("light-bloom").expect("bloom clients");
        // A full node takes everything; a light client a small part; the bloom's false
        // positives put a bloom client in between.
        assert!(
            relay.new_envelope_bytes_per_node_day > 10.0 * topic.new_envelope_bytes_per_node_day,
            "{f}"
        );
        assert!(
            bloom.new_envelope_bytes_per_node_day > topic.new_envelope_bytes_per_node_day,
            "{f}"
        );
        assert!(f.false_positives > 0, "{f}");
    }
}

#[test]
fn offline_light_client_gets_everything_from_mailservers() {
    for seed in 1..4 {
        let r = run(&small(Scenario::Offline, seed));
        let f = &r.figures;
        assert!(f.mail.completed >= 1 && f.mail.failed == 0, "{f}");
        assert!(f.mail.served_envelopes > 0, "{f}");
        assert!(r.notes.iter().any(|n| n.contains("; 0 never received")), "{:?}", r.notes);
    }
}

#[test]
fn faults_and_hostile_nodes() {
    for seed in 1..4 {
        let r = run(&small(Scenario::Faults, seed));
        let f = &r.figures;
        // The raw flooder is cut off by the rate limits, the bad sender for its packets.
        assert!(f.disconnects.get("rate_limited").copied().unwrap_or(0) > 0, "{f}");
        assert!(f.disconnects.get("bad_packet").copied().unwrap_or(0) > 0, "{f}");
        assert!(f.envelope_drops.get("expired").copied().unwrap_or(0) > 0, "{f}");
        // Pools stay under their 512 KiB cap (checked every minute as an invariant too).
        assert!(f.peak_pool_bytes <= 512 * 1024, "{f}");
        assert!(f.delivery_ratio > 0.3, "{f}");
    }
}

#[test]
fn same_seed_same_figures() {
    for s in [Scenario::Whisper, Scenario::Offline, Scenario::Faults, Scenario::Chat] {
        let a = run(&small(s, 5));
        if s != Scenario::Faults {
            // Messengers ran: their figures are part of what must replay.
            assert!(a.figures.messengers.direct_delivered > 0, "{s}: {}", a.figures);
        }
        let b = run(&small(s, 5));
        let c = run(&small(s, 6));
        assert_eq!(a, b, "{s}");
        assert_ne!(a.figures.trace, c.figures.trace, "{s}");
    }
}

#[test]
fn chat_messengers_public_and_one_to_one() {
    for seed in 1..3 {
        let r = run(&small(Scenario::Chat, seed));
        let f = &r.figures;
        let m = &f.messengers;
        assert!(m.checked, "{f}");
        assert_eq!(m.accounts, 6, "{f}");
        // Two chats (4 + 2 members), 5 messages each: every other member gets each one.
        assert_eq!(m.public_messages, 30, "{f}");
        assert_eq!(m.public_received, m.public_expected, "{f}");
        assert_eq!(m.public_checked, 30, "{f}");
        // A ring of 6 pairs, 5 messages each way.
        assert_eq!(m.direct_messages, 60, "{f}");
        assert_eq!((m.direct_received, m.direct_delivered), (60, 60), "{f}");
        assert_eq!(m.direct_expired, 0, "{f}");
    }
}

/// Regression: wisp-waku's router told only the peers whose Status had arrived of an
/// interest change, so a light client whose messenger installed its filters during the
/// handshakes kept a stale topic interest or bloom at its other peers and missed a public
/// message of its chat (this seed: account 0, a bloom client, lost account 3's first message).
#[test]
fn regression_chat_seed_2_interest_change_during_the_handshake() {
    let r = run(&small(Scenario::Chat, 2));
    let m = &r.figures.messengers;
    assert_eq!((m.public_received, m.public_expected), (70, 70), "{}", r.figures);
}

/// A fixed seed of the chat scenario replays to these exact figures (any change to the
/// messenger, the router or the simulator that alters them shows here).
#[test]
fn chat_seed_1_exact_figures() {
    let r = run(&small(Scenario::Chat, 1));
    let f = &r.figures;
    let m = &f.messengers;
    assert_eq!((m.accounts, m.light_accounts, m.public_chats), (6, 4, 2), "{f}");
    assert_eq!((m.public_messages, m.public_expected, m.public_received), (30, 70, 70), "{f}");
    assert_eq!((m.direct_messages, m.direct_received, m.direct_delivered), (60, 60, 60), "{f}");
    assert_eq!((m.envelopes, m.acks), (156, 60), "{f}");
    assert_eq!(format!("{:016x}", f.trace), "ab8b38c838a98670", "{f}");
}

/// PoW on: every router asks for 0.002, every envelope (workload, MVDS conversations,
/// messengers) is sealed to it; nothing is refused for low PoW and every message arrives.
#[test]
fn pow_on_seals_every_envelope() {
    let mut c = small(Scenario::Chat, 3);
    (c.pow, c.msgs, c.chat_msgs) = (Some(0.002), Some(200.0), Some(2));
    let r = run(&c);
    let f = &r.figures;
    let m = &f.messengers;
    assert!(m.pow_attempts > m.envelopes, "{f}");
    assert!(f.posted > 0 && f.delivered == f.expected, "{f}");
    assert!(!f.envelope_drops.contains_key("low_pow"), "{f}");
    assert_eq!(
        (m.public_received, m.direct_delivered),
        (m.public_expected, m.direct_messages),
        "{f}"
    );
    let mut c = small(Scenario::Partition, 3);
    c.pow = Some(0.002);
    let r = run(&c);
    let conv = &r.figures.conversations;
    assert_eq!((conv.delivered, conv.acked), (conv.messages, conv.messages), "{}", r.figures);
    assert!(!r.figures.envelope_drops.contains_key("low_pow"), "{}", r.figures);
}

#[test]
fn bad_settings_name_their_key() {
    let mut c = ScenarioConfig::new(Scenario::Mesh, 1);
    c.loss = Some(1.5);
    let e = run_scenario(&c).unwrap_err().to_string();
    assert!(e.contains("--loss 1.5") && e.contains("probability"), "{e}");
    let mut c = ScenarioConfig::new(Scenario::Chat, 1);
    c.pow = Some(-1.0);
    let e = run_scenario(&c).unwrap_err().to_string();
    assert!(e.contains("--pow -1") && e.contains("PoW target"), "{e}");
    let e = "nope".parse::<Scenario>().unwrap_err().to_string();
    assert!(e.contains("--scenario nope") && e.contains("whisper"), "{e}");
}

fn big(c: ScenarioConfig) {
    let t = std::time::Instant::now();
    let r = run(&c);
    println!(
        "{}\n{}\n{}\nwall time {:?}",
        r.config.command(),
        r.figures,
        r.notes.join("\n"),
        t.elapsed()
    );
}

/// README: whisper model at 10k users (15 simulated minutes, scaled to a day).
#[test]
#[ignore]
fn readme_whisper() {
    big(without_messengers(Scenario::Whisper));
}

/// The rows measured before messengers existed replay with `--messengers 0`.
fn without_messengers(s: Scenario) -> ScenarioConfig {
    let mut c = ScenarioConfig::new(s, 1);
    c.messengers = Some(0);
    c
}

/// README: duplicate factor at degree 4, 8 and 16.
#[test]
#[ignore]
fn readme_duplicates() {
    for d in [4, 8, 16] {
        let mut c = ScenarioConfig::new(Scenario::Mesh, 1);
        (c.nodes, c.degree, c.days) = (Some(200), Some(d), Some(0.01));
        big(c);
    }
}

/// README: a light client offline 6 h.
#[test]
#[ignore]
fn readme_offline() {
    big(without_messengers(Scenario::Offline));
}

/// README: 1:1 conversations through a partition (defaults, and 10 % loss over 0.2 days).
#[test]
#[ignore]
fn readme_partition() {
    big(without_messengers(Scenario::Partition));
    let mut c = without_messengers(Scenario::Partition);
    (c.loss, c.days) = (Some(0.1), Some(0.2));
    big(c);
}

/// A sweep of 100 seeds over every scenario at its small size (about 10 min in a debug build,
/// messengers included).
#[test]
#[ignore]
fn sweep_seeds() {
    for seed in 10..110 {
        for (_, s) in Scenario::ALL {
            run(&small(s, seed));
        }
    }
}

#[test]
fn partition_conversations_deliver_every_message_exactly_once() {
    for seed in 1..5 {
        let r = run(&small(Scenario::Partition, seed));
        let c = &r.figures.conversations;
        let f = &r.figures;
        assert!(c.checked, "{f}");
        assert_eq!(c.conversations, 6, "{f}");
        assert_eq!(c.messages, 60, "{f}");
        assert_eq!(c.delivered, c.messages, "{f}");
        assert_eq!(c.acked, c.messages, "{f}");
        // Messages sent during the cut are retransmitted until it heals.
        assert!(c.retransmissions_per_message > 0.0, "{f}");
        assert!(c.delivery_ms.1 > 30_000, "{f}");
        assert_eq!(c.gave_up, 0, "{f}");
    }
}

#[test]
fn partition_with_loss_still_delivers_exactly_once() {
    for seed in 1..3 {
        let mut c = small(Scenario::Partition, seed);
        // Loss hits retransmissions too: the drain after the heal must leave room for several
        // (the backoff doubles: the cut from 29 to 72 min leaves about three sends of a
        // message sent early in it before the end at 4.8 h).
        c.loss = Some(0.1);
        c.days = Some(0.2);
        let r = run(&c);
        let c = &r.figures.conversations;
        assert_eq!((c.delivered, c.acked), (c.messages, c.messages), "{}", r.figures);
    }
}

#[test]
fn partition_replays_bit_for_bit() {
    let a = run(&small(Scenario::Partition, 7));
    let b = run(&small(Scenario::Partition, 7));
    assert_eq!(a.figures, b.figures);
}

/// `cargo test --release -p wisp-sim --test scenarios -- --ignored partition_sweep`
#[test]
#[ignore]
fn partition_sweep() {
    for seed in 1..101 {
        let r = run(&small(Scenario::Partition, seed));
        let c = &r.figures.conversations;
        assert_eq!((c.delivered, c.acked), (c.messages, c.messages), "{}", r.figures);
    }
    for seed in 1..21 {
        let mut c = ScenarioConfig::new(Scenario::Partition, seed);
        c.loss = Some(0.1);
        c.days = Some(0.2);
        run(&c);
    }
}

/// README: messengers. `chat` at its defaults, with 10 % loss and churn over 0.2 days, and
/// with PoW; `offline` and `partition` at their defaults (messengers on).
#[test]
#[ignore]
fn readme_chat() {
    big(ScenarioConfig::new(Scenario::Chat, 1));
    let mut c = ScenarioConfig::new(Scenario::Chat, 1);
    (c.loss, c.churn, c.days) = (Some(0.1), Some(0.5), Some(0.2));
    big(c);
    let mut c = ScenarioConfig::new(Scenario::Chat, 1);
    c.pow = Some(0.002);
    big(c);
    big(ScenarioConfig::new(Scenario::Offline, 1));
    big(ScenarioConfig::new(Scenario::Partition, 1));
}

/// Messengers over 50 small seeds of `chat`, and 20 with 10 % loss and churn:
/// `cargo test --release -p wisp-sim --test scenarios -- --ignored chat_sweep`
#[test]
#[ignore]
fn chat_sweep() {
    for seed in 1..51 {
        let r = run(&small(Scenario::Chat, seed));
        let m = &r.figures.messengers;
        assert_eq!(m.public_received, m.public_expected, "{}", r.figures);
        assert_eq!(m.direct_delivered, m.direct_messages, "{}", r.figures);
    }
    for seed in 1..21 {
        let mut c = small(Scenario::Chat, seed);
        (c.loss, c.churn, c.days) = (Some(0.1), Some(0.5), Some(0.2));
        let r = run(&c);
        let m = &r.figures.messengers;
        assert_eq!(m.direct_delivered, m.direct_messages, "{}", r.figures);
    }
}
