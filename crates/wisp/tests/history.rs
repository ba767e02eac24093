//! `wisp history` against real processes on 127.0.0.1 (ports from :0): a mailserver archives
//! what a relay receives from `wisp post`; a third node fetches it for `wisp history`. Also the
//! `[mailserver]` table's errors. Every wait is bounded, and every child is killed on drop.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    fs,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{Output, RunningNode, Scratch, wisp};

/// Longest wait for one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the posted message to be archived and fetched.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(60);

/// `wisp node --data-dir DIR --listen 127.0.0.1:0 ARGS...`
fn wisp_node(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = common::wisp_node(data_dir, &["--listen", "127.0.0.1:0"]);
    cmd.args(args);
    cmd
}

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(cmd: &mut Command) -> Output {
    common::run(cmd, COMMAND_TIMEOUT)
}

#[test]
fn history_fetches_what_a_mailserver_archived() {
    let scratch = Scratch::new("fetch");
    let mailserver = RunningNode::start(wisp_node(
        &scratch.path("ms"),
        &["--role", "mailserver", "--archive", "sqlite", "--retention-days", "2", "--no-rpc"],
    ));
    assert_eq!(mailserver.value("role"), "mailserver");
    let ms_enode = mailserver.value("enode").to_owned();
    let relay = RunningNode::start(wisp_node(
        &scratch.path("relay"),
        &["--rpc", "127.0.0.1:0", "--static", &ms_enode],
    ));
    let client = RunningNode::start(wisp_node(&scratch.path("client"), &["--rpc", "127.0.0.1:0"]));

    let text = "hello from the archive";
    let posted = run(wisp().args([
        "post",
        "--rpc",
        relay.value("rpc"),
        "--chat",
        "wisp-history",
        "--ttl",
        "120",
        text,
    ]));
    assert!(posted.status.success(), "post: {}", posted.stderr);

    // Archiving is asynchronous: ask again until the message is in the history.
    let deadline = Instant::now() + HISTORY_TIMEOUT;
    let out = loop {
        let out = run(wisp().args([
            "history",
            "--rpc",
            client.value("rpc"),
            "--mailserver",
            &ms_enode,
            "--chat",
            "wisp-history",
            "--since",
            "1h",
            "--timeout",
            "10",
        ]));
        if out.status.success() && out.stdout.contains(text) {
            break out;
        }
        assert!(
            Instant::now() < deadline,
            "no history with {text:?}: {:?}\nstdout: {}\nstderr: {}\nmailserver:\n{}\nrelay:\n{}",
            out.status,
            out.stdout,
            out.stderr,
            mailserver.stderr(),
            relay.stderr()
        );
        thread::sleep(Duration::from_millis(500));
    };
    assert!(out.stdout.lines().all(|l| l.contains("unsigned")), "{}", out.stdout);
    assert!(out.stderr.contains("history: "), "{}", out.stderr);
    assert!(out.stderr.contains(" messages from "), "{}", out.stderr);
    assert!(scratch.path("ms").join("archive.sqlite").exists(), "the sqlite archive is used");
}

#[test]
fn history_fails_clearly() {
    // No node's RPC there.
    let id = wisp_crypto::SecretKey::from_bytes(&[7; 32]).unwrap().public_key().node_id();
    let enode = format!("enode://{id}@127.0.0.1:1");
    let out = run(wisp().args([
        "history",
        "--rpc",
        "http://127.0.0.1:1",
        "--mailserver",
        &enode,
        "--topic",
        "0x12345678",
        "--password",
        "x",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.starts_with("error: cannot reach"), "{}", out.stderr);
    // Bad flags are usage errors.
    for args in [
        &["history", "--mailserver", "enode://x", "--chat", "c"][..],
        &["history", "--mailserver", &enode, "--chat", "c", "--since", "1w"],
        &["history", "--mailserver", &enode],
    ] {
        let out = run(wisp().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn bad_mailserver_settings_exit_2_and_name_the_key() {
    let scratch = Scratch::new("config");
    let file = scratch.path("wisp.toml");
    fs::write(&file, "[mailserver]\narchve = \"memory\"\n").unwrap();
    let out = run(&mut wisp_node(&scratch.path("data"), &["--config", file.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("key `mailserver.archve`"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean `archive`"), "{}", out.stderr);

    fs::write(&file, "[mailserver]\nretention_days = 0\n").unwrap();
    let out = run(&mut wisp_node(&scratch.path("data"), &["--config", file.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("key `mailserver.retention_days`"), "{}", out.stderr);

    let out = run(&mut wisp_node(&scratch.path("data"), &["--archive", "mysql://x"]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--archive"), "{}", out.stderr);
}
