//! `wisp devnet`, `wisp post` and `wisp watch` as a user runs them: real processes, nodes on
//! 127.0.0.1 with ports from :0, JSON-RPC over HTTP. Every wait is bounded and every child is
//! killed on drop, so a hang fails the test instead of blocking CI.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{process::Command, time::Duration};

use common::{Output, Running, Scratch};

/// Longest wait for a command that should finish (the demo included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a devnet's `devnet ready` line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for `wisp watch` to say it is watching.
const WATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a process to exit after a signal or its last message.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(cmd: &mut Command) -> Output {
    common::run(cmd, COMMAND_TIMEOUT)
}

/// The `(enode, rpc URL)` rows of a devnet's table.
fn table_rows(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let _index: usize = words.next()?.parse().ok()?;
            let enode = words.next()?.to_owned();
            let rpc = words.next()?.to_owned();
            Some((enode, rpc))
        })
        .collect()
}

#[test]
fn demo_crosses_a_line_of_three_nodes() {
    let scratch = Scratch::new("demo");
    let out = run(scratch.wisp().args(["devnet", "--nodes", "3", "--demo"]));
    assert!(out.status.success(), "demo failed:\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
    let rows = table_rows(&out.stdout);
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    for (enode, rpc) in &rows {
        assert!(enode.starts_with("enode://") && enode.contains("@127.0.0.1:"), "{enode}");
        assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    }
    let demo = out.stdout.lines().find(|l| l.contains(" went ")).unwrap_or_default();
    assert!(demo.contains("\"hello from node 0\""), "{}", out.stdout);
    assert!(demo.contains("node 0 -> node 1 -> node 2 (2 hops) in "), "{}", out.stdout);
    assert!(demo.ends_with(" ms"), "{}", out.stdout);
    // The chat demo: alice on node 0, bob on node 2; the public message is sent, each 1:1
    // message goes sending -> sent -> delivered and arrives.
    let chat: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("chat demo:")).collect();
    assert!(chat.iter().any(|l| l.contains("alice is ") && l.ends_with("on node 0")), "{chat:#?}");
    assert!(chat.iter().any(|l| l.contains("bob is ") && l.ends_with("on node 2")), "{chat:#?}");
    let states = |from: &str| -> Vec<String> {
        let start = chat.iter().position(|l| l.starts_with(&format!("chat demo: {from}"))).unwrap();
        chat[start + 1..]
            .iter()
            .take_while(|l| l.starts_with("chat demo:   "))
            .map(|l| l.split_whitespace().nth(2).unwrap().to_owned())
            .collect()
    };
    let public = states("alice -> #");
    assert_eq!(public.first().map(String::as_str), Some("sending"), "{chat:#?}");
    assert!(public.contains(&"sent".to_owned()), "{chat:#?}");
    for sender in ["alice -> 1:1", "bob -> 1:1"] {
        let seen = states(sender);
        assert_eq!(seen.first().map(String::as_str), Some("sending"), "{chat:#?}");
        for state in ["sent", "at", "delivered"] {
            assert!(seen.contains(&state.to_owned()), "{sender} {state}: {chat:#?}");
        }
    }
    assert_eq!(chat.last(), Some(&"chat demo: done"), "{chat:#?}");
    // With WISP_DATA_DIR set, the nodes keep their keys under it.
    for i in 0..3 {
        assert!(scratch.0.join(format!("data/devnet-{i}/node.key")).is_file());
    }
}

#[test]
fn post_and_watch_through_a_running_devnet() {
    let scratch = Scratch::new("post-watch");
    // No data dir: the nodes live in a temporary directory removed at exit.
    let mut devnet =
        Running::spawn(scratch.wisp().env_remove("WISP_DATA_DIR").args(["devnet", "--nodes", "2"]));
    devnet.read_until(READY_TIMEOUT, "'devnet ready' line", |l| l.starts_with("devnet ready"));
    let rows = table_rows(&devnet.stdout.join("\n"));
    assert_eq!(rows.len(), 2, "{:?}", devnet.stdout);
    let (first, second) = (&rows[0].1, &rows[1].1);

    let mut watch = Running::spawn(scratch.wisp().args([
        "watch",
        "--rpc",
        second,
        "--chat",
        "wisp-test",
        "--count",
        "1",
    ]));
    watch.stderr_until(WATCH_TIMEOUT, "watching topic");

    let out = run(scratch.wisp().args(["post", "--rpc", first, "--chat", "wisp-test", "hi there"]));
    assert!(out.status.success(), "post failed:\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
    let hash = out.stdout.trim();
    assert!(hash.starts_with("0x") && hash.len() == 66, "not an envelope hash: {hash:?}");

    let line = watch.read_until(COMMAND_TIMEOUT, "message line", |l| l.contains("hi there"));
    // <time> <topic> <signer> <payload>; the topic of a public chat is keccak256(name)[..4].
    let words: Vec<&str> = line.splitn(4, ' ').collect();
    assert_eq!(words.len(), 4, "{line}");
    assert!(words[0].ends_with('Z') && words[0].contains('T'), "{line}");
    assert!(words[1].starts_with("0x") && words[1].len() == 10, "{line}");
    assert_eq!(words[2], "unsigned", "{line}");
    assert_eq!(words[3], "hi there", "{line}");
    let status = watch.wait(EXIT_TIMEOUT);
    assert!(status.success(), "watch failed: {status:?}; stderr:\n{}", watch.stderr());

    // A password and an explicit topic work the same way as --chat.
    let mut watch = Running::spawn(scratch.wisp().args([
        "watch",
        "--rpc",
        first,
        "--topic",
        "0x12345678",
        "--password",
        "pw",
        "--count",
        "1",
        "--interval-ms",
        "50",
    ]));
    watch.stderr_until(WATCH_TIMEOUT, "watching topic 0x12345678");
    let out = run(scratch.wisp().args([
        "post",
        "--rpc",
        second,
        "--topic",
        "0x12345678",
        "--password",
        "pw",
        "--ttl",
        "30",
        "caf\u{e9}",
    ]));
    assert!(out.status.success(), "post failed: {}", out.stderr);
    let line = watch.read_until(COMMAND_TIMEOUT, "message line", |l| l.contains("0x12345678"));
    assert!(line.ends_with(" unsigned caf\u{e9}"), "{line}");
    assert!(watch.wait(EXIT_TIMEOUT).success(), "{}", watch.stderr());

    devnet.signal("TERM");
    let status = devnet.wait(EXIT_TIMEOUT);
    assert!(
        status.success(),
        "devnet did not exit cleanly on SIGTERM: {status:?}\n{}",
        devnet.stderr()
    );
}

#[test]
fn post_to_a_closed_port_cannot_reach_the_node() {
    let scratch = Scratch::new("refused");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(scratch.wisp().args(["post", "--rpc", &url, "--chat", "x", "hello"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.starts_with("error: cannot reach"), "{}", out.stderr);
    assert!(out.stderr.contains(&url), "{}", out.stderr);
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);
    assert!(out.stderr.contains("wisp node"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let out = run(scratch.wisp().args(["watch", "--rpc", &url, "--chat", "x", "--count", "1"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
}

#[test]
fn bad_flags_are_usage_errors() {
    let scratch = Scratch::new("usage");
    let cases: &[&[&str]] = &[
        &["devnet", "--nodes", "1"],
        &["devnet", "--nodes", "65"],
        &["devnet", "--topology", "ring"],
        &["devnet", "--nodes", "64", "--base-port", "65500"],
        &["post", "--topic", "0x1234", "--password", "p", "m"],
        &["post", "--topic", "nothex!!", "--password", "p", "m"],
        &["post", "--topic", "0x12345678", "m"],
        &["post", "--chat", "x", "--password", "p", "m"],
        &["post", "--topic", "0x12345678", "--sym-key", "0xabcd", "m"],
        &["post", "--chat", "x"],
        &["post", "--rpc", "https://127.0.0.1:1", "--chat", "x", "m"],
        &["watch", "--topic", "0x12345678"],
        &["watch", "--chat", "x", "--count", "0"],
    ];
    for args in cases {
        let out = run(scratch.wisp().args(*args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{args:?}: {}", out.stderr);
    }
    let out = run(scratch.wisp().args(["post", "--topic", "0x1234", "--password", "p", "m"]));
    assert!(out.stderr.contains("4 bytes"), "{}", out.stderr);
}
