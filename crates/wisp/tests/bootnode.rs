//! `wisp bootnode` and `wisp node --bootnodes` as an operator runs them: real processes on
//! 127.0.0.1. A bootnode and three relays that know only the bootnode find each other by the
//! `whisper` topic and peer; `admin_peers` says how each peer was found.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use common::{RunningNode, Scratch, wisp, wisp_node};

/// Generous: CI is two slow cores shared by many builds.
const FIND_TIMEOUT: Duration = Duration::from_secs(120);

/// One JSON-RPC call over plain HTTP; the response body.
fn rpc(addr: SocketAddr, method: &str) -> String {
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":[]}}"#);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

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
        let done = addrs
            .iter()
            .all(|a| rpc(*a, "admin_peers").matches("\"discoveredBy\":\"legacy\"").count() >= 2);
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
fn discovery_flags_are_checked() {
    let s = Scratch::new("flags");
    for (args, word) in [
        (vec!["--bootnodes", "enode://nope"], "--bootnodes"),
        (vec!["--dns-tree", "https://example.org"], "--dns-tree"),
        (vec!["--fleet", "eth.nope"], "--fleet"),
    ] {
        let out = common::run(&mut wisp_node(&s.path("n"), &args), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(word), "{args:?}: {}", out.stderr);
    }
    let help = common::run(wisp().args(["bootnode", "--help"]), Duration::from_secs(30));
    assert!(help.stdout.contains("--bootnodes enode://"), "{}", help.stdout);
}
