//! `wisp chat` (the full-screen client) in a real terminal: two clients in tmux, each attached
//! (`--rpc`) to its own `wisp node --account` on 127.0.0.1, with a relay between the nodes.
//! The test types with `tmux send-keys` and reads the screens with `capture-pane`:
//!
//! - a public chat both ways (`/join #room`, Enter sends);
//! - a 1:1 chat both ways (`/msg KEY`), with a reply (`/reply`) shown as a quote, and the
//!   first message reaching the delivered mark `✓✓`;
//! - a reaction (`/react`) shown under the message it reacts to, on the other screen;
//! - a group (`/group new`), found by the invitee with Ctrl-N, accepted (`/accept`), both ways;
//! - `/quit` ends the client and a new one shows the history again (kept by the node);
//! - on a fresh data directory the client creates an account (the mnemonic shown once), runs an
//!   embedded node, and after a restart unlocks that account and shows its history.
//!
//! Skipped, with the reason printed, only when tmux cannot be run (`.ci/run` installs it).
//! Every wait is bounded; the tmux server and the nodes are killed on drop.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    path::PathBuf,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{Imported, RunningNode, Scratch};
use serde_json::json;
use wisp_accounts::{ChatIdentity, Mnemonic};

/// Longest wait for something to show on a screen (1:1 acknowledgements are resent after
/// 30 s plus jitter; CI is slow).
const WAIT: Duration = Duration::from_secs(120);
/// Between polls of a screen.
const POLL: Duration = Duration::from_millis(200);

/// A tmux server of our own (its socket named after this process), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server for the test `tag` (tests run in parallel, each with its own server); `None`
    /// when tmux cannot run here.
    fn new(tag: &str) -> Option<Self> {
        let ok = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        if !ok {
            return None;
        }
        Some(Self { socket: format!("wisp-tui-{tag}-{}", std::process::id()) })
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-L").arg(&self.socket);
        cmd
    }

    fn ok(&self, args: &[&str]) {
        let out = self.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts `wisp chat --rpc URL` in a new 100×30 session `name`.
    fn start(&self, name: &str, rpc: &str) {
        let line = format!("{} chat --rpc {rpc}", env!("CARGO_BIN_EXE_wisp"));
        self.ok(&["new-session", "-d", "-s", name, "-x", "100", "-y", "30", &line]);
        // Keep the pane after the client exits, to read what it left.
        self.ok(&["set-option", "-t", name, "remain-on-exit", "on"]);
    }

    /// Starts `wisp --data-dir DIR chat ARGS...` (an embedded node) in a new session `name`.
    fn start_embedded(&self, name: &str, data_dir: &std::path::Path, args: &str) {
        let line =
            format!("{} --data-dir {} chat {args}", env!("CARGO_BIN_EXE_wisp"), data_dir.display());
        self.ok(&["new-session", "-d", "-s", name, "-x", "100", "-y", "30", &line]);
        self.ok(&["set-option", "-t", name, "remain-on-exit", "on"]);
    }

    /// Waits until the client in `name` has exited.
    fn wait_exit(&self, name: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.exited(name) {
            assert!(Instant::now() < deadline, "{name} did not exit:\n{}", self.screen(name));
            thread::sleep(POLL);
        }
    }

    /// The screen of `name`.
    fn screen(&self, name: &str) -> String {
        let out = self.cmd().args(["capture-pane", "-p", "-t", name]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `name`'s screen shows `text` (outside the input line); returns the screen.
    fn wait_for(&self, name: &str, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen(name);
            if screen.lines().filter(|l| !l.starts_with('>')).any(|l| l.contains(text)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {text:?} not shown within {WAIT:?}:\n{screen}"
            );
            thread::sleep(POLL);
        }
    }

    /// Types `text` and presses Enter.
    fn type_line(&self, name: &str, text: &str) {
        self.ok(&["send-keys", "-t", name, "-l", text]);
        self.ok(&["send-keys", "-t", name, "Enter"]);
    }

    /// Whether the client in `name` has exited (the pane is dead).
    fn exited(&self, name: &str) -> bool {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", name, "#{pane_dead}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The socket file stays behind a killed server: it is removed too.
        let socket = self.cmd().args(["display-message", "-p", "#{socket_path}"]).output();
        let _ = self.cmd().arg("kill-server").output();
        if let Ok(out) = socket {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if path.contains(&self.socket) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// An account imported with a light KDF into its own data directory, and its node.
struct Person {
    data: PathBuf,
    password_file: PathBuf,
    identity: ChatIdentity,
}

impl Person {
    fn new(scratch: &Scratch, name: &str) -> Self {
        let mnemonic = Mnemonic::generate(12).unwrap();
        let imported = common::import_account(scratch, name, &mnemonic, "password\n");
        let Imported { data, password_file, identity, .. } = imported;
        Self { data, password_file, identity }
    }

    fn node(&self, relay: &str) -> RunningNode {
        RunningNode::start(common::account_node(
            &self.data,
            &self.password_file,
            &self.identity.compressed_key,
            &["--static", relay],
        ))
    }
}

/// The number of peers of `node` (`admin_peers`).
fn peers(node: &RunningNode) -> usize {
    let value =
        common::rpc_value(node.rpc_addr(), "admin_peers", &json!([]), Duration::from_secs(30));
    value["result"].as_array().map_or(0, Vec::len)
}

#[test]
fn two_terminal_clients_chat_publicly_and_one_to_one_and_keep_history() {
    let Some(tmux) = Tmux::new("two") else {
        println!("SKIPPED: tmux is not installed here (`.ci/run` installs it)");
        return;
    };
    let started = Instant::now();
    let scratch = Scratch::new("tui");
    let (alice, bob) = (Person::new(&scratch, "alice"), Person::new(&scratch, "bob"));
    let relay = RunningNode::start(common::wisp_node(
        &scratch.path("relay"),
        &["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"],
    ));
    let a = alice.node(relay.value("enode"));
    let b = bob.node(relay.value("enode"));
    let deadline = Instant::now() + WAIT;
    while peers(&relay) < 2 {
        assert!(Instant::now() < deadline, "the nodes did not connect to the relay");
        thread::sleep(POLL);
    }

    tmux.start("alice", a.value("rpc"));
    tmux.start("bob", b.value("rpc"));
    let first = tmux.wait_for("alice", "No chat is open");
    println!("alice's first screen after {:?}:\n{first}", started.elapsed());
    tmux.wait_for("bob", "/join #status");

    // Public chat, both ways.
    tmux.type_line("alice", "/join #tui-room");
    tmux.type_line("bob", "/join #tui-room");
    tmux.wait_for("alice", "#tui-room");
    tmux.wait_for("bob", "#tui-room");
    tmux.type_line("alice", "hello room from alice");
    tmux.wait_for("bob", "hello room from alice");
    tmux.type_line("bob", "hi alice, bob here");
    let screen = tmux.wait_for("alice", "hi alice, bob here");
    assert!(screen.contains(&bob.identity.alias), "bob's alias is shown:\n{screen}");

    // 1:1, both ways, with a reply.
    tmux.type_line("alice", &format!("/msg {}", bob.identity.compressed_key));
    tmux.wait_for("alice", &format!("@{}", bob.identity.alias));
    tmux.type_line("alice", "a secret for bob");
    tmux.type_line("bob", &format!("/msg {}", alice.identity.compressed_key));
    tmux.wait_for("bob", "a secret for bob");
    tmux.type_line("bob", "/reply 1 got it");
    let screen = tmux.wait_for("alice", "got it");
    assert!(screen.contains("┃ ") && screen.contains(": a secret for bob"), "the quote:\n{screen}");
    let screen = tmux.wait_for("alice", "a secret for bob ✓✓");
    println!("alice's screen:\n{screen}");

    // A reaction: alice likes bob's reply (the newest message), bob sees it under the reply.
    tmux.type_line("alice", "/react 1 like");
    tmux.wait_for("alice", "👍 1");
    let screen = tmux.wait_for("bob", "👍 1");
    let lines: Vec<&str> = screen.lines().collect();
    let reply = lines.iter().rposition(|l| l.contains("got it")).expect("the reply is shown");
    assert!(
        lines[reply + 1..].iter().take(2).any(|l| l.contains("👍 1")),
        "the reaction sits under the reply:\n{screen}"
    );

    // A group: alice creates it with bob, bob finds the invitation, accepts, both write.
    tmux.type_line("alice", &format!("/group new trio {}", bob.identity.compressed_key));
    tmux.wait_for("alice", "+trio");
    tmux.wait_for("bob", "invited");
    let deadline = Instant::now() + WAIT;
    while !tmux.screen("bob").contains("(invited: /accept") {
        assert!(Instant::now() < deadline, "bob cannot open the group:\n{}", tmux.screen("bob"));
        tmux.ok(&["send-keys", "-t", "bob", "C-n"]);
        thread::sleep(POLL);
    }
    tmux.type_line("bob", "/accept");
    tmux.wait_for("bob", "joined the group");
    tmux.type_line("bob", "bob joins trio");
    tmux.wait_for("bob", "bob joins trio");
    tmux.wait_for("alice", "bob joins trio");
    tmux.type_line("alice", "welcome to trio");
    let screen = tmux.wait_for("bob", "welcome to trio");
    println!("bob's group screen:\n{screen}");

    // Quit and start again: the history is back.
    tmux.type_line("bob", "/quit");
    let deadline = Instant::now() + WAIT;
    while !tmux.exited("bob") {
        assert!(Instant::now() < deadline, "bob's client did not exit:\n{}", tmux.screen("bob"));
        thread::sleep(POLL);
    }
    tmux.ok(&["kill-session", "-t", "bob"]);
    tmux.start("bob", b.value("rpc"));
    tmux.wait_for("bob", "#tui-room");
    tmux.type_line("bob", &format!("/msg {}", alice.identity.compressed_key));
    let screen = tmux.wait_for("bob", "a secret for bob");
    assert!(screen.contains("got it"), "bob's reply after the restart:\n{screen}");
    println!("bob's screen after the restart:\n{screen}");
}

#[test]
fn a_fresh_data_directory_creates_an_account_and_runs_an_embedded_node() {
    let Some(tmux) = Tmux::new("fresh") else {
        println!("SKIPPED: tmux is not installed here (`.ci/run` installs it)");
        return;
    };
    let scratch = Scratch::new("embedded");
    let password = scratch.write("pw", "password\n");
    let data = scratch.path("data");
    let args =
        format!("--password-file {} --listen 127.0.0.1:0 --no-discovery", password.display());
    tmux.start_embedded("solo", &data, &args);
    tmux.wait_for("solo", "c, i or q?");
    tmux.type_line("solo", "c");
    let screen = tmux.wait_for("solo", "Press Enter to start chatting");
    assert!(screen.contains("mnemonic (shown only this once"), "{screen}");
    let alias_line = screen.lines().find(|l| l.starts_with("alias:")).expect("the alias is shown");
    let alias = alias_line.trim_start_matches("alias:").trim().to_owned();
    tmux.type_line("solo", "");
    let screen = tmux.wait_for("solo", "No chat is open");
    assert!(screen.contains(&alias), "our alias on the status line:\n{screen}");
    tmux.type_line("solo", "/join #solo-room");
    tmux.wait_for("solo", "#solo-room");
    tmux.type_line("solo", "kept across restarts");
    tmux.wait_for("solo", "kept across restarts");
    tmux.type_line("solo", "/quit");
    tmux.wait_exit("solo");
    // The dead pane stays (remain-on-exit): killing the server's only session would stop the
    // server, and a new session started while it exits fails.

    // The one account of the data directory is unlocked; the mnemonic is not shown again.
    tmux.start_embedded("again", &data, &args);
    let screen = tmux.wait_for("again", "kept across restarts");
    assert!(!screen.contains("mnemonic"), "{screen}");
    assert!(screen.contains("#solo-room") && screen.contains(&alias), "{screen}");
    tmux.type_line("again", "/quit");
    tmux.wait_exit("again");
}

/// The walk-through: `wisp devnet` and two `wisp chat` with embedded light nodes (one
/// on each devnet node, `--static`), holding a public chat, a 1:1 and a group both ways.
#[test]
fn two_embedded_clients_on_a_devnet_hold_public_one_to_one_and_group_chats() {
    let Some(tmux) = Tmux::new("devnet") else {
        println!("SKIPPED: tmux is not installed here (`.ci/run` installs it)");
        return;
    };
    let scratch = Scratch::new("tui-devnet");
    let mut devnet = common::Running::spawn(
        scratch.wisp().env_remove("WISP_DATA_DIR").args(["devnet", "--nodes", "2"]),
    );
    devnet.read_until(WAIT, "'devnet ready' line", |l| l.starts_with("devnet ready"));
    // The table: index, enode URL, JSON-RPC URL.
    let enodes: Vec<String> = devnet
        .stdout
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let _index: usize = words.next()?.parse().ok()?;
            words.next().filter(|w| w.starts_with("enode://")).map(str::to_owned)
        })
        .collect();
    assert_eq!(enodes.len(), 2, "the devnet's table:\n{}", devnet.stdout.join("\n"));

    let (alice, bob) = (Person::new(&scratch, "alice"), Person::new(&scratch, "bob"));
    for (name, person, enode) in [("alice", &alice, &enodes[0]), ("bob", &bob, &enodes[1])] {
        let args = format!(
            "--password-file {} --listen 127.0.0.1:0 --no-discovery --static {enode}",
            person.password_file.display()
        );
        tmux.start_embedded(name, &person.data, &args);
    }
    tmux.wait_for("alice", "● 1 peer");
    tmux.wait_for("bob", "● 1 peer");

    tmux.type_line("alice", "/join #devnet-room");
    tmux.type_line("bob", "/join #devnet-room");
    tmux.wait_for("alice", "#devnet-room");
    tmux.wait_for("bob", "#devnet-room");
    tmux.type_line("alice", "hello from alice's terminal");
    tmux.wait_for("bob", "hello from alice's terminal");
    tmux.type_line("bob", "bob's terminal answers");
    tmux.wait_for("alice", "bob's terminal answers");

    tmux.type_line("alice", &format!("/msg {} a 1:1 over the devnet", bob.identity.compressed_key));
    tmux.type_line("bob", &format!("/msg {}", alice.identity.compressed_key));
    tmux.wait_for("bob", "a 1:1 over the devnet");
    tmux.type_line("bob", "and back to alice");
    tmux.wait_for("alice", "and back to alice");

    tmux.type_line("alice", &format!("/group new devs {}", bob.identity.compressed_key));
    tmux.wait_for("alice", "+devs");
    tmux.wait_for("bob", "invited");
    let deadline = Instant::now() + WAIT;
    while !tmux.screen("bob").contains("(invited: /accept") {
        assert!(Instant::now() < deadline, "bob cannot open the group:\n{}", tmux.screen("bob"));
        tmux.ok(&["send-keys", "-t", "bob", "C-n"]);
        thread::sleep(POLL);
    }
    tmux.type_line("bob", "/accept");
    tmux.wait_for("bob", "joined the group");
    tmux.type_line("bob", "bob in the group");
    tmux.wait_for("alice", "bob in the group");
    tmux.type_line("alice", "alice in the group");
    let screen = tmux.wait_for("bob", "alice in the group");
    println!("bob's screen:\n{screen}");

    for name in ["alice", "bob"] {
        tmux.type_line(name, "/quit");
        tmux.wait_exit(name);
    }
    devnet.signal("TERM");
    devnet.wait(WAIT);
}
