//! `wisp bootnode` and `wisp node --bootnodes enr:...` with Discovery v5.1 only, as an
//! operator runs them: real processes on 127.0.0.1. The bootnode prints its v5.1 record; three
//! relays that know only that record find each other and peer; `admin_peers` says `discv5`.

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
fn a_bootnode_and_three_relays_find_each_other_by_discv5() {
    let s = Scratch::new("boot5");
    let boot = RunningNode::start({
        let mut cmd = wisp();
        cmd.arg("bootnode").arg("--data-dir").arg(s.path("boot")).args(["--listen", "127.0.0.1:0"]);
        cmd
    });
    assert_eq!(boot.value("role"), "bootstrap");
    let enr = boot.value("enr").to_owned();
    assert!(enr.starts_with("enr:"), "{enr}");
    let t0 = Instant::now();
    let relays: Vec<RunningNode> = (0..3)
        .map(|i| {
            RunningNode::start(wisp_node(
                &s.path(&format!("relay{i}")),
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--rpc",
                    "127.0.0.1:0",
                    "--no-legacy-discovery",
                    "--bootnodes",
                    &enr,
                ],
            ))
        })
        .collect();
    let addrs: Vec<SocketAddr> = relays
        .iter()
        .map(|r| r.value("rpc").trim_start_matches("http://").parse().unwrap())
        .collect();
    loop {
        let done = addrs.iter().all(|a| {
            rpc_poll(*a, "admin_peers").matches("\"discoveredBy\":\"discv5\"").count() >= 2
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
    println!("cli: 3 relays found each other through a bootnode by discv5 in {:?}", t0.elapsed());
}

#[test]
fn a_bad_enr_bootnode_is_refused_naming_the_flag() {
    let s = Scratch::new("flags5");
    let out = common::run(
        &mut wisp_node(&s.path("n"), &["--bootnodes", "enr:-nope"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--bootnodes"), "{}", out.stderr);
}
