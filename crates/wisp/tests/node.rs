//! `wisp node` as an operator runs it: real processes, real sockets on 127.0.0.1, ports from
//! :0, `wisp.toml` files, signals. Every wait is bounded, and every child is killed on drop.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{fs, os::unix::fs::PermissionsExt, path::Path, process::Command, thread, time::Duration};

use common::{Output, RunningNode, START_TIMEOUT, Scratch, wisp, wisp_node};
use wisp_crypto::SecretKey;
use wisp_rlpx::NodeRecord;

/// Longest wait for a command that should fail at once (a config error).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a node to exit after a signal.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for two nodes to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(cmd: &mut Command) -> Output {
    common::run(cmd, COMMAND_TIMEOUT)
}

impl RunningNode {
    fn enode(&self) -> NodeRecord {
        let text = self.line("enode").unwrap_or_else(|| panic!("no enode line: {:?}", self.lines));
        text.parse().unwrap_or_else(|e| panic!("bad enode {text:?}: {e}"))
    }

    /// Waits until stderr contains every one of `words` on one line.
    fn wait_for_log(&self, words: &[&str], limit: Duration) -> String {
        self.proc.wait_for_log(words, limit)
    }

    /// Sends `signal` (e.g. "TERM") and checks that the node exits with status 0.
    fn stop_with(mut self, signal: &str) -> String {
        let elapsed = self.proc.stop_with(signal, EXIT_TIMEOUT, "node");
        assert!(elapsed < Duration::from_secs(5), "slow exit: {elapsed:?}");
        // Give the stderr reader a moment to take the last lines.
        thread::sleep(Duration::from_millis(100));
        self.stderr()
    }
}

/// The node id (hex) of a key file, computed here from the file.
fn id_of(key_file: &Path) -> String {
    let text = fs::read_to_string(key_file).unwrap();
    let key = SecretKey::from_bytes(&hex::decode(text.trim_end()).unwrap()).unwrap();
    key.public_key().node_id().to_string()
}

/// Checks an `http://` or `ws://` URL on 127.0.0.1 with a real port; returns the port.
fn port_of(url: &str, scheme: &str) -> u16 {
    let addr =
        url.strip_prefix(&format!("{scheme}://127.0.0.1:")).unwrap_or_else(|| panic!("{url}"));
    let port: u16 = addr.trim_end_matches("/metrics").parse().unwrap();
    assert_ne!(port, 0, "{url}");
    port
}

/// Asserts a configuration error: exit 2, nothing on stdout, one `error:` line naming all of
/// `words`, and no node key written.
fn assert_config_error(out: &Output, data_dir: &Path, words: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    for word in words {
        assert!(out.stderr.contains(word), "{word:?} not in: {}", out.stderr);
    }
    assert!(!data_dir.join("node.key").exists(), "a config error must not start anything");
}

#[test]
fn node_prints_its_enode_and_rpc_keeps_its_key_and_stops_on_signals() {
    let scratch = Scratch::new("start-stop");
    let data = scratch.path("data");
    let args = ["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"];

    let node = RunningNode::start(wisp_node(&data, &args));
    let enode = node.enode();
    assert_eq!(enode.address.to_string(), "127.0.0.1");
    assert_ne!(enode.tcp_port, 0, "the enode must show the bound port");
    let rpc_port = port_of(node.line("rpc").unwrap(), "http");
    assert_eq!(port_of(node.line("ws").unwrap(), "ws"), rpc_port, "HTTP and WS share a port");
    assert_eq!(node.line("role"), Some("relay"));
    assert_eq!(node.line("metrics"), None, "metrics are off by default");

    // The key was generated on first start, private, and is the enode's.
    let key = data.join("node.key");
    assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(enode.id.to_string(), id_of(&key));
    // Logging defaults to info for a node.
    node.wait_for_log(&["node started"], START_TIMEOUT);
    let log = node.stop_with("TERM");
    assert!(log.contains("SIGTERM"), "{log}");

    // A second start reuses the key: same id, whatever the port.
    let again = RunningNode::start(wisp_node(&data, &args));
    assert_eq!(again.enode().id, enode.id);
    again.stop_with("INT");
}

#[test]
fn two_nodes_connect_through_a_static_enode_and_part_with_client_quitting() {
    let scratch = Scratch::new("two-nodes");
    let common = ["--listen", "127.0.0.1:0", "--no-rpc", "--log-level", "info"];
    let a = RunningNode::start(wisp_node(&scratch.path("a"), &common));
    let a_enode = a.enode().to_string();

    let mut b_args = common.to_vec();
    b_args.extend(["--static", &a_enode]);
    let b = RunningNode::start(wisp_node(&scratch.path("b"), &b_args));
    let a_id = &a.enode().id.to_string()[..8];
    let b_id = &b.enode().id.to_string()[..8];

    a.wait_for_log(&["peer connected", b_id, "inbound=true"], CONNECT_TIMEOUT);
    b.wait_for_log(&["peer connected", a_id, "inbound=false"], CONNECT_TIMEOUT);

    // B quits: A hears Disconnect(ClientQuitting).
    b.stop_with("TERM");
    a.wait_for_log(&["peer disconnected", b_id, "client quitting"], CONNECT_TIMEOUT);
    a.stop_with("TERM");
}

#[test]
fn config_file_sets_every_section_and_flags_override_it() {
    let scratch = Scratch::new("config");
    let data = scratch.path("data");
    let peer = SecretKey::random().public_key().node_id();
    // 203.0.113.7 is TEST-NET-3: not an address of this host, so binding it fails at once.
    let file = format!(
        r#"
[node]
listen = "203.0.113.7:30303"
role = "light"
whisper = true
static_nodes = []
trusted_nodes = ["enode://{peer}@127.0.0.1:9"]
max_peers = 10
max_inbound = 5
ping_interval_secs = 15
redial_min_secs = 60
redial_max_secs = 60
dial_timeout_secs = 1

[rpc]
enabled = false
listen = "127.0.0.1:0"

[metrics]
listen = "127.0.0.1:0"

[waku]
min_pow = 0.001
max_message_size = 1048576
confirmations = true
sync_allowance_secs = 10
max_future_offences = 3
transmission_cycle_ms = 300
status_timeout_ms = 5000
refuse_light_peers = true
bridge = true
peer_packets_per_sec = 100
peer_bytes_per_sec = 10000000
ip_packets_per_sec = 200
ip_bytes_per_sec = 20000000
rate_limit_tolerance_secs = 2

[log]
level = "info"
format = "json"
"#
    );
    // <data-dir>/wisp.toml is read without --config.
    scratch.write("data/wisp.toml", &file);

    // The file's listen address is used as is: exit 1, naming the address and what it was for.
    let out = run(&mut wisp_node(&data, &[]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: cannot listen on 203.0.113.7:30303 (RLPx)"), "{}", out.stderr);

    // --listen overrides it; the other sections apply: no RPC, metrics on, light, JSON logs.
    let node = RunningNode::start(wisp_node(&data, &["--listen", "127.0.0.1:0"]));
    assert_eq!(node.enode().address.to_string(), "127.0.0.1");
    assert_eq!(node.line("rpc"), None, "[rpc] enabled = false: {:?}", node.lines);
    port_of(node.line("metrics").unwrap(), "http");
    assert_eq!(node.line("role"), Some("light"));
    let started = node.wait_for_log(&["node started"], START_TIMEOUT);
    assert!(started.starts_with('{') && started.contains("\"level\":\"INFO\""), "{started}");
    node.stop_with("TERM");

    // --config points elsewhere; flags override the file's role, and --rpc turns RPC back on.
    let other =
        scratch.write("other.toml", "[node]\nrole = \"bootstrap\"\n[rpc]\nenabled = false\n");
    let node = RunningNode::start(wisp_node(
        &data,
        &[
            "--config",
            other.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--rpc",
            "127.0.0.1:0",
            "--role",
            "mailserver",
        ],
    ));
    port_of(node.line("rpc").unwrap(), "http");
    assert_eq!(node.line("role"), Some("mailserver"));
    assert_eq!(node.line("metrics"), None, "other.toml has no [metrics]");
    node.stop_with("TERM");
}

#[test]
fn bad_config_exits_2_and_names_the_key() {
    let scratch = Scratch::new("bad-config");
    let data = scratch.path("data");
    let config = |name: &str, text: &str| scratch.write(name, text).to_str().unwrap().to_owned();

    // An unknown key: named with its table and place, with the keys that would do.
    let path =
        config("unknown.toml", "[node]\nlisten = \"127.0.0.1:0\"\nlisen = \"127.0.0.1:0\"\n");
    let out = run(&mut wisp_node(&data, &["--config", &path]));
    assert_config_error(
        &out,
        &data,
        &[&format!("{path}:3:1"), "key `node.lisen`", "unknown key", "`listen`"],
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // A bad enode in static_nodes: the key, the entry and what is wrong with it.
    let path = config("enode.toml", "[node]\nstatic_nodes = [\"enode://abcd@127.0.0.1:30303\"]\n");
    let out = run(&mut wisp_node(&data, &["--config", &path]));
    assert_config_error(&out, &data, &["key `node.static_nodes`", "entry 1", "128 hex characters"]);

    // A bad address in rpc.listen: the key and the form expected.
    let path = config("addr.toml", "[rpc]\nlisten = \"localhost:8545\"\n");
    let out = run(&mut wisp_node(&data, &["--config", &path]));
    assert_config_error(&out, &data, &["key `rpc.listen`", "expected IP:PORT", "localhost:8545"]);

    // Negative numbers, bad roles, bad log settings.
    for (text, key) in [
        ("[node]\nmax_peers = -1\n", "key `node.max_peers`"),
        ("[node]\nrole = \"full\"\n", "key `node.role`"),
        ("[waku]\nmin_pow = -1\n", "key `waku.min_pow`"),
        ("[log]\nformat = \"xml\"\n", "key `log.format`"),
        ("[log]\nlevel = \"node=lots\"\n", "key `log.level`"),
        ("[nodes]\n", "key `nodes`"),
    ] {
        let path = config("more.toml", text);
        let out = run(&mut wisp_node(&data, &["--config", &path]));
        assert_config_error(&out, &data, &[key]);
    }

    // <data-dir>/wisp.toml is checked as strictly as --config.
    scratch.write("data/wisp.toml", "[metrics]\nlisten = \"9100\"\n");
    let out = run(&mut wisp_node(&data, &[]));
    assert_config_error(&out, &data, &["data/wisp.toml:2:", "key `metrics.listen`"]);
    fs::remove_file(data.join("wisp.toml")).unwrap();

    // --config naming a missing file.
    let missing = scratch.path("missing.toml");
    let out = run(&mut wisp_node(&data, &["--config", missing.to_str().unwrap()]));
    assert_config_error(&out, &data, &[&missing.display().to_string(), "no such file"]);

    // Bad flags: clap names the flag.
    for (flag, value, words) in [
        ("--role", "full", &["--role", "relay, light, bootstrap, mailserver"][..]),
        ("--listen", "abc", &["--listen", "IP:PORT"]),
        ("--rpc", "127.0.0.1", &["--rpc", "IP:PORT"]),
        ("--static", "enode://abcd@127.0.0.1:1", &["--static", "128 hex characters"]),
        ("--log-format", "xml", &["--log-format", "pretty, json"]),
    ] {
        let out = run(&mut wisp_node(&data, &[flag, value]));
        assert_config_error(&out, &data, words);
    }
}

#[test]
fn help_documents_every_flag_with_its_default_and_examples() {
    let out = run(wisp().args(["node", "--help"]));
    assert!(out.status.success(), "{}", out.stderr);
    for word in [
        "--data-dir",
        "--config",
        "--listen",
        "[default: 0.0.0.0:30303]",
        "--rpc",
        "[default: 127.0.0.1:8545]",
        "--no-rpc",
        "--static",
        "--trusted",
        "--role",
        "[default: relay]",
        "--whisper",
        "--metrics",
        "--max-peers",
        "[default: 50]",
        "--min-pow",
        "[default: 0.000002]",
        "--log-level",
        "--log-format",
        "Examples:",
        "wisp.toml",
    ] {
        assert!(out.stdout.contains(word), "wisp node --help lacks {word}:\n{}", out.stdout);
    }
    let out = run(wisp().arg("--help"));
    assert!(out.stdout.contains("node"), "{}", out.stdout);
}

#[test]
fn useless_values_exit_2_naming_the_key_or_flag_and_its_place() {
    let scratch = Scratch::new("useless-values");
    let data = scratch.path("data");
    let config = |name: &str, text: &str| scratch.write(name, text).to_str().unwrap().to_owned();

    // Values that would leave the node unable to relay anything.
    for (text, words) in [
        ("[waku]\nmin_pow = 1e308\n", &["v.toml:2:11: key `waku.min_pow`", "from 0 to 100"][..]),
        (
            "[waku]\nmax_message_size = 1099511627776\n",
            &["v.toml:2:20: key `waku.max_message_size`", "from 1024 to 10485760"],
        ),
        (
            "[node]\nredial_min_secs = 90\nredial_max_secs = 10\n",
            &["v.toml:2:19: key `node.redial_min_secs`", "redial_min_secs <= redial_max_secs"],
        ),
        // The log filter is checked by the binary, and placed in the file too.
        ("[log]\nlevel = \"node=lots\"\n", &["v.toml:2:9: key `log.level`"]),
    ] {
        let path = config("v.toml", text);
        let out = run(&mut wisp_node(&data, &["--config", &path]));
        assert_config_error(&out, &data, words);
    }

    // Negative and absurd flag values name the flag.
    for (flag, value) in [
        ("--max-peers", "-1"),
        ("--min-pow", "-1"),
        ("--min-pow", "1e308"),
        ("--retention-days", "-3"),
    ] {
        let out = run(&mut wisp_node(&data, &[flag, value]));
        assert_config_error(&out, &data, &[&format!("invalid value '{value}' for '{flag} ")]);
    }

    // An unusable data directory or archive path names its flag or key.
    let file = scratch.write("a-file", "not a directory");
    let out = run(&mut wisp_node(&file, &[]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.starts_with("error: --data-dir (or $WISP_DATA_DIR): "), "{}", out.stderr);
    assert!(out.stderr.contains("expected a directory this user can write"), "{}", out.stderr);
    let path = config("d.toml", &format!("[node]\ndata_dir = {:?}\n", file.join("sub")));
    let out = run(wisp().args(["node", "--config", &path]));
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("d.toml:2:12: key `node.data_dir`: "), "{}", out.stderr);

    let missing_dir = scratch.path("no-such-dir").join("archive.db");
    let archive = format!("sqlite:{}", missing_dir.display());
    let out = run(&mut wisp_node(&data, &["--role", "mailserver", "--archive", &archive]));
    assert_config_error(&out, &data, &["error: --archive: ", "does not exist", "sqlite:PATH"]);
    let path = config("m.toml", &format!("[mailserver]\narchive = {archive:?}\n"));
    let out = run(&mut wisp_node(&data, &["--config", &path, "--role", "mailserver"]));
    assert_config_error(&out, &data, &["m.toml:2:11: key `mailserver.archive`", "does not exist"]);
}

#[test]
fn max_peers_zero_starts_with_a_warning() {
    let scratch = Scratch::new("max-peers-zero");
    let data = scratch.path("data");
    let node = RunningNode::start(wisp_node(
        &data,
        &["--listen", "127.0.0.1:0", "--no-rpc", "--max-peers", "0"],
    ));
    let line = node.wait_for_log(&["WARN", "--max-peers is 0"], START_TIMEOUT);
    assert!(line.contains("relays nothing"), "{line}");
    node.stop_with("TERM");

    scratch.write("data/wisp.toml", "[node]\nmax_peers = 0\n");
    let node = RunningNode::start(wisp_node(&data, &["--listen", "127.0.0.1:0", "--no-rpc"]));
    node.wait_for_log(&["WARN", "node.max_peers is 0"], START_TIMEOUT);
    node.stop_with("TERM");
}

#[test]
fn node_and_keys_share_one_key_file_format() {
    let scratch = Scratch::new("shared-key-file");
    let data = scratch.path("data");
    // A key file both reject, with the same words.
    scratch.write("data/node.key", "abcd\n");
    let out = run(&mut wisp_node(&data, &["--listen", "127.0.0.1:0", "--no-rpc"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let words = "expected 64 hex characters (a secp256k1 secret key), got 4 characters";
    assert!(out.stderr.contains(words), "{}", out.stderr);
    let out = run(scratch.wisp().args(["keys", "show"]));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(words), "{}", out.stderr);

    // A key the node creates is 0600 in a 0700 directory, as `wisp keys new` writes it, and
    // `wisp keys show` prints the node's enode from it.
    fs::remove_dir_all(&data).unwrap();
    let node = RunningNode::start(wisp_node(&data, &["--listen", "127.0.0.1:0", "--no-rpc"]));
    let enode = node.enode();
    node.stop_with("TERM");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data.join("node.key")), 0o600);
    assert_eq!(mode(&data), 0o700);
    let out = run(scratch.wisp().args(["keys", "show"]));
    assert!(out.status.success(), "{}", out.stderr);
    let shown: NodeRecord = out.stdout.trim().parse().unwrap();
    assert_eq!(shown.id, enode.id);
}
