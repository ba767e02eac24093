//! The `wisp` binary as a user runs it: real processes, real sockets on 127.0.0.1, ports from
//! :0. Every wait is bounded, so a hang fails the test instead of blocking CI.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Duration,
};

use common::{Output, Running, Scratch};
use wisp_crypto::SecretKey;
use wisp_rlpx::NodeRecord;

/// Longest wait for one `wisp` command to finish.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a listener's `listening enode://...` line.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for a listener to exit after a signal.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

impl Scratch {
    /// Writes a key file with `wisp keys new` and returns its path.
    fn new_key(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        let out = run(self.wisp().args(["keys", "new", "--out"]).arg(&path));
        assert!(out.status.success(), "keys new failed: {}", out.stderr);
        path
    }
}

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(cmd: &mut Command) -> Output {
    common::run(cmd, COMMAND_TIMEOUT)
}

/// A running `wisp rlpx listen`, killed on drop (also when an assertion fails).
struct Listener {
    proc: Running,
    enode: String,
}

impl Listener {
    /// Starts `wisp rlpx listen --addr 127.0.0.1:0 ARGS...` and waits for its enode line.
    fn start(scratch: &Scratch, args: &[&str]) -> Self {
        let mut proc = Running::spawn(
            scratch
                .wisp()
                .args(["rlpx", "listen", "--addr", "127.0.0.1:0", "--log-level", "info"])
                .args(args),
        );
        let line = proc.read_until(LISTEN_TIMEOUT, "'listening' line", |_| true);
        let enode = line.strip_prefix("listening ").unwrap_or_else(|| panic!("odd line {line:?}"));
        let record: NodeRecord = enode.parse().unwrap();
        assert_eq!(record.address.to_string(), "127.0.0.1");
        assert_ne!(record.tcp_port, 0, "the enode must show the bound port");
        let enode = enode.to_owned();
        Self { proc, enode }
    }

    fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// Sends `signal` (e.g. "TERM") and checks that the listener exits with status 0.
    fn stop_with(mut self, signal: &str) {
        self.proc.stop_with(signal, EXIT_TIMEOUT, "listener");
    }
}

/// The enode URL of a key file, computed here from the file (not by `wisp`).
fn enode_of(key_file: &Path, addr: &str) -> String {
    let text = fs::read_to_string(key_file).unwrap();
    let key = SecretKey::from_bytes(&hex::decode(text.trim_end()).unwrap()).unwrap();
    format!("enode://{}@{addr}", key.public_key().node_id())
}

/// Pings `enode` with `key` and checks the report.
fn assert_ping_works(scratch: &Scratch, enode: &str, key: &Path) {
    let out = run(scratch.wisp().args(["rlpx", "ping", enode, "--count", "2", "--key"]).arg(key));
    assert!(out.status.success(), "ping failed:\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
    let client = out.stdout.lines().find(|l| l.starts_with("client id:")).unwrap_or_default();
    assert!(client.contains("wisp/v"), "no wisp client id in:\n{}", out.stdout);
    assert!(out.stdout.contains("waku/1"), "no waku/1 in:\n{}", out.stdout);
    let negotiated = out.stdout.lines().find(|l| l.starts_with("negotiated:")).unwrap_or_default();
    assert!(negotiated.contains("waku/1 (ids 0x10..=0x8f)"), "{}", out.stdout);
    let rtts = out.stdout.lines().filter(|l| l.starts_with("pong ") && l.ends_with(" ms")).count();
    assert_eq!(rtts, 2, "expected two RTT lines in:\n{}", out.stdout);
}

#[test]
fn version_and_help() {
    let scratch = Scratch::new("version");
    let out = run(scratch.wisp().arg("--version"));
    assert!(out.status.success());
    assert_eq!(out.stdout.trim(), format!("wisp {}", env!("CARGO_PKG_VERSION")));

    let out = run(scratch.wisp().arg("--help"));
    assert!(out.status.success());
    for word in ["keys", "rlpx", "--data-dir", "--log-level", "Examples:"] {
        assert!(out.stdout.contains(word), "--help does not mention {word}:\n{}", out.stdout);
    }
    let out = run(scratch.wisp().args(["rlpx", "ping", "--help"]));
    for word in ["--timeout", "[default: 5]", "--count", "--whisper", "--caps", "advanced"] {
        assert!(
            out.stdout.to_lowercase().contains(&word.to_lowercase()),
            "{word}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn keys_new_writes_a_private_nodekey_and_never_overwrites_by_accident() {
    let scratch = Scratch::new("keys-new");
    let path = scratch.path("sub/dir/node.key");
    let out = run(scratch.wisp().args(["keys", "new", "--out"]).arg(&path));
    assert!(out.status.success(), "{}", out.stderr);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 65);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    assert!(text.trim_end().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let enode = enode_of(&path, "127.0.0.1:30303");
    assert_eq!(out.stdout.trim(), enode);
    assert!(out.stderr.contains(&path.display().to_string()), "{}", out.stderr);

    let out = run(scratch.wisp().args(["keys", "show", "--key"]).arg(&path));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), enode);
    let out =
        run(scratch.wisp().args(["keys", "show", "--addr", "10.1.2.3:4", "--key"]).arg(&path));
    assert_eq!(out.stdout.trim(), enode_of(&path, "10.1.2.3:4"));

    // A second run without --force fails, names the file and leaves it alone.
    let out = run(scratch.wisp().args(["keys", "new", "--out"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains(&path.display().to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(fs::read_to_string(&path).unwrap(), text);

    // --force replaces the key, and the new file is 0600 even if the old one was not.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(scratch.wisp().args(["keys", "new", "--force", "--out"]).arg(&path));
    assert!(out.status.success(), "{}", out.stderr);
    assert_ne!(fs::read_to_string(&path).unwrap(), text);
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(out.stdout.trim(), enode_of(&path, "127.0.0.1:30303"));

    // Without --out the key goes to <data-dir>/node.key.
    let out = run(scratch.wisp().args(["keys", "new"]));
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), enode_of(&scratch.path("data/node.key"), "127.0.0.1:30303"));
    let out = run(scratch.wisp().args(["keys", "show"]));
    assert_eq!(out.stdout.trim(), enode_of(&scratch.path("data/node.key"), "127.0.0.1:30303"));
}

#[test]
fn keys_show_names_the_file_and_the_expected_form() {
    let scratch = Scratch::new("keys-show");
    let missing = scratch.path("missing.key");
    let out = run(scratch.wisp().args(["keys", "show", "--key"]).arg(&missing));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains(&missing.display().to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("64 hex characters"), "{}", out.stderr);

    for content in ["hello\n", "", &format!("0x{}\n", "ab".repeat(31)), &"00".repeat(32)] {
        let bad = scratch.path("bad.key");
        fs::write(&bad, content).unwrap();
        let out = run(scratch.wisp().args(["keys", "show", "--key"]).arg(&bad));
        assert_eq!(out.status.code(), Some(1), "{content:?}");
        assert!(out.stderr.contains(&bad.display().to_string()), "{}", out.stderr);
        assert!(out.stderr.contains("64 hex characters"), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
}

#[test]
fn two_instances_dial_and_accept_each_other() {
    let scratch = Scratch::new("two-instances");
    let k1 = scratch.new_key("k1");
    let k2 = scratch.new_key("k2");

    let first = Listener::start(&scratch, &["--key", k1.to_str().unwrap()]);
    assert!(first.enode.starts_with(&enode_of(&k1, "127.0.0.1:")), "{}", first.enode);
    assert_ping_works(&scratch, &first.enode, &k2);

    let second = Listener::start(&scratch, &["--key", k2.to_str().unwrap(), "--whisper"]);
    assert_ping_works(&scratch, &second.enode, &k1);

    // The listeners saw the dialers' Hello and their Disconnect.
    thread::sleep(Duration::from_millis(200));
    for (listener, dialer) in [(&first, &k2), (&second, &k1)] {
        let log = listener.stderr();
        let dialer_id = &enode_of(dialer, "")["enode://".len()..][..8];
        assert!(log.contains("peer connected") && log.contains(dialer_id), "{log}");
        assert!(log.contains("disconnect requested"), "{log}");
    }
    first.stop_with("TERM");
    second.stop_with("INT");
}

#[test]
fn whisper_is_negotiated_when_both_sides_offer_it() {
    let scratch = Scratch::new("whisper");
    let listener = Listener::start(&scratch, &["--whisper"]);
    // No --key and no <data-dir>/node.key: the dialer runs with a fresh random key.
    let out =
        run(scratch.wisp().args(["rlpx", "ping", &listener.enode, "--whisper", "--count", "0"]));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("capabilities: waku/1, shh/6"), "{}", out.stdout);
    assert!(
        out.stdout.contains("shh/6 (ids 0x10..=0x8f), waku/1 (ids 0x90..=0x10f)"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("pong "), "{}", out.stdout);
    listener.stop_with("TERM");
}

#[test]
fn ping_to_a_closed_port_says_connection_refused() {
    let scratch = Scratch::new("refused");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let id = SecretKey::random().public_key().node_id();
    let out = run(scratch.wisp().args(["rlpx", "ping", &format!("enode://{id}@127.0.0.1:{port}")]));
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr.to_lowercase();
    assert!(err.contains("connection refused"), "{}", out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{}", out.stderr);
}

#[test]
fn ping_with_the_wrong_node_id_fails_the_handshake_and_the_listener_survives() {
    let scratch = Scratch::new("wrong-id");
    let k1 = scratch.new_key("k1");
    let k2 = scratch.new_key("k2");
    let listener = Listener::start(&scratch, &["--key", k1.to_str().unwrap()]);
    let addr = listener.enode.rsplit_once('@').unwrap().1.to_owned();
    let wrong = enode_of(&scratch.new_key("other"), &addr);

    let out = run(scratch.wisp().args(["rlpx", "ping", &wrong, "--key"]).arg(&k2));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("handshake"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // A bad peer does not stop the listener.
    assert_ping_works(&scratch, &listener.enode, &k2);
    listener.stop_with("TERM");
}

#[test]
fn ping_with_a_malformed_enode_names_the_wrong_part() {
    let scratch = Scratch::new("malformed");
    let id = SecretKey::random().public_key().node_id();
    let cases = [
        ("enode://abcd@127.0.0.1:30303".to_owned(), "node id"),
        (format!("enr://{id}@127.0.0.1:30303"), "enode://"),
        (format!("enode://{id}@localhost:30303"), "host"),
        (format!("enode://{id}@127.0.0.1"), "port"),
        (format!("enode://{id}@127.0.0.1:99999"), "port"),
    ];
    for (url, part) in cases {
        let out = run(scratch.wisp().args(["rlpx", "ping", &url]));
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert!(out.stderr.starts_with("error: invalid enode URL: "), "{url}: {}", out.stderr);
        assert!(out.stderr.contains(part), "{url}: {}", out.stderr);
    }
}

#[test]
fn no_shared_capability_is_reported() {
    let scratch = Scratch::new("no-shared-cap");
    let listener = Listener::start(&scratch, &["--caps", "foo/1"]);
    let out = run(scratch.wisp().args(["rlpx", "ping", &listener.enode, "--caps", "bar/1"]));
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr.to_lowercase();
    assert!(err.contains("no shared capability") || err.contains("useless peer"), "{err}");
    listener.stop_with("TERM");
}

#[test]
fn listener_pings_its_peers_when_asked() {
    let scratch = Scratch::new("ping-interval");
    let listener = Listener::start(&scratch, &["--ping-interval", "0.2"]);
    let args = ["rlpx", "ping", &listener.enode, "--count", "2", "--interval", "1"];
    let out = run(scratch.wisp().args(args));
    assert!(out.status.success(), "{}", out.stderr);
    thread::sleep(Duration::from_millis(200));
    let log = listener.stderr();
    assert!(log.lines().any(|l| l.contains("pong") && l.contains(" ms")), "{log}");
    listener.stop_with("TERM");
}
