//! `wisp bootnode` and `wisp node --bootnodes` as an operator runs them: real processes on
//! 127.0.0.1. A bootnode and three relays that know only the bootnode find each other by the
//! `whisper` topic and peer, and so do three relays that know only the bootnode's rendezvous
//! server; `admin_peers` says how each peer was found.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::{RunningNode, Scratch, rpc_poll, wisp, wisp_node};

/// Generous: CI is two slow cores shared by many builds.
const FIND_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn a_bootnode_and_three_relays_find_each_other() {
    let s = Scratch::new("boot");
    let boot = RunningNode::start({
        let mut cmd = wisp();
        cmd.arg("bootnode").arg("--data-dir").arg(s.path("boot")).args(["--listen", "127.0.0.1:0"]);
        cmd
    });
    assert_eq!(boot.value("role"), "bootstrap");
    let enode = boot.value("enode").to_owned();
    let t0 = Instant::now();
    let relays: Vec<RunningNode> = (0..3)
        .map(|i| {
            RunningNode::start(wisp_node(
                &s.path(&format!("relay{i}")),
                &["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--bootnodes", &enode],
            ))
        })
        .collect();
    let addrs: Vec<SocketAddr> = relays
        .iter()
        .map(|r| r.value("rpc").trim_start_matches("http://").parse().unwrap())
        .collect();
    // Each relay keeps whisper {2, 2}: it peers with both others.
    loop {
        let done = addrs.iter().all(|a| {
            rpc_poll(*a, "admin_peers").matches("\"discoveredBy\":\"legacy\"").count() >= 2
        });
        if done {
            break;
        }
        assert!(
            t0.elapsed() < FIND_TIMEOUT,
            "relays did not find each other; bootnode log:\n{}\nrelay log:\n{}",
            boot.stderr(),
            relays[0].stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("cli: 3 relays found each other through a bootnode in {:?}", t0.elapsed());
}

#[test]
fn three_relays_find_each_other_through_bootnode_rendezvous() {
    let s = Scratch::new("rdv");
    let boot = RunningNode::start({
        let mut cmd = wisp();
        cmd.arg("bootnode").arg("--data-dir").arg(s.path("boot")).args([
            "--listen",
            "127.0.0.1:0",
            "--rendezvous",
            "127.0.0.1:0",
        ]);
        cmd
    });
    let server = boot.value("rendezvous").to_owned();
    assert!(server.starts_with("/ip4/127.0.0.1/tcp/") && server.contains("/ethv4/"), "{server}");
    let t0 = Instant::now();
    let relays: Vec<RunningNode> = (0..3)
        .map(|i| {
            RunningNode::start(wisp_node(
                &s.path(&format!("relay{i}")),
                &["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--rendezvous", &server],
            ))
        })
        .collect();
    let addrs: Vec<SocketAddr> = relays
        .iter()
        .map(|r| r.value("rpc").trim_start_matches("http://").parse().unwrap())
        .collect();
    loop {
        let done = addrs.iter().all(|a| {
            rpc_poll(*a, "admin_peers").matches("\"discoveredBy\":\"rendezvous\"").count() >= 1
                && rpc_poll(*a, "admin_peers").matches("\"enode\"").count() >= 2
        });
        if done {
            break;
        }
        assert!(
            t0.elapsed() < FIND_TIMEOUT,
            "relays did not find each other; bootnode log:\n{}\nrelay log:\n{}",
            boot.stderr(),
            relays[0].stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("cli: 3 relays found each other through rendezvous in {:?}", t0.elapsed());
}

#[test]
fn discovery_flags_are_checked() {
    let s = Scratch::new("flags");
    for (args, word) in [
        (vec!["--bootnodes", "enode://nope"], "--bootnodes"),
        (vec!["--dns-tree", "https://example.org"], "--dns-tree"),
        (vec!["--fleet", "eth.nope"], "--fleet"),
        (vec!["--rendezvous", "/ip4/127.0.0.1/tcp/1"], "--rendezvous"),
    ] {
        let out = common::run(&mut wisp_node(&s.path("n"), &args), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(word), "{args:?}: {}", out.stderr);
    }
    let help = common::run(wisp().args(["bootnode", "--help"]), Duration::from_secs(30));
    assert!(help.stdout.contains("--bootnodes enode://"), "{}", help.stdout);
    assert!(help.stdout.contains("--rendezvous"), "{}", help.stdout);
    let bad = common::run(
        wisp().arg("bootnode").arg("--data-dir").arg(s.path("b")).args(["--rendezvous", "nope"]),
        Duration::from_secs(30),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--rendezvous"), "{}", bad.stderr);
}
