//! `wisp history` against real processes on 127.0.0.1 (ports from :0): a mailserver archives
//! what a relay receives from `wisp post`; a third node fetches it for `wisp history`. Also the
//! `[mailserver]` table's errors. Every wait is bounded, and every child is killed on drop.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

/// Longest wait for one command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a node's start-up lines.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for the posted message to be archived and fetched.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(60);

/// A scratch directory under cargo's per-target temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("wisp-history")
            .join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `wisp` with no inherited data directory or log settings.
fn wisp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wisp"));
    cmd.env_remove("WISP_DATA_DIR").env_remove("RUST_LOG");
    cmd
}

/// `wisp node --data-dir DIR --listen 127.0.0.1:0 ARGS...`
fn wisp_node(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = wisp();
    cmd.arg("node").arg("--data-dir").arg(data_dir).args(["--listen", "127.0.0.1:0"]).args(args);
    cmd
}

/// What a finished command printed.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn collect(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(cmd: &mut Command) -> Output {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let status = wait_with_timeout(&mut child, COMMAND_TIMEOUT);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!("{cmd:?} did not finish in {COMMAND_TIMEOUT:?}\nstdout: {stdout}\nstderr: {stderr}");
    };
    Output { status, stdout, stderr }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A running `wisp node`, killed on drop (also when an assertion fails).
struct RunningNode {
    child: Child,
    lines: Vec<(String, String)>,
    stderr: Arc<Mutex<String>>,
}

impl RunningNode {
    fn start(mut cmd: Command) -> Self {
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = BufReader::new(child.stderr.take().unwrap());
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut line = String::new();
            while matches!(err_pipe.read_line(&mut line), Ok(n) if n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let (tx, rx) = mpsc::channel();
        let out_pipe = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node = Self { child, lines: Vec::new(), stderr };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|e| {
                panic!("no start-up lines ({e}): {:?}\n{}", node.lines, node.stderr())
            });
            let (key, value) = line.split_once(": ").expect("key: value");
            node.lines.push((key.to_owned(), value.to_owned()));
            if key == "role" {
                return node;
            }
        }
    }

    fn line(&self, key: &str) -> &str {
        self.lines.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).expect(key)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn history_fetches_what_a_mailserver_archived() {
    let scratch = Scratch::new("fetch");
    let mailserver = RunningNode::start(wisp_node(
        &scratch.path("ms"),
        &["--role", "mailserver", "--archive", "sqlite", "--retention-days", "2", "--no-rpc"],
    ));
    assert_eq!(mailserver.line("role"), "mailserver");
    let ms_enode = mailserver.line("enode").to_owned();
    let relay = RunningNode::start(wisp_node(
        &scratch.path("relay"),
        &["--rpc", "127.0.0.1:0", "--static", &ms_enode],
    ));
    let client = RunningNode::start(wisp_node(&scratch.path("client"), &["--rpc", "127.0.0.1:0"]));

    let text = "hello from the archive";
    let posted = run(wisp().args([
        "post",
        "--rpc",
        relay.line("rpc"),
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
            client.line("rpc"),
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
