//! The process harness the `wisp` integration tests share: scratch directories, running the
//! binary to completion with a timeout, and long-running children whose output is read on
//! threads and which are killed on drop. Every wait is bounded.
//!
//! Each test file is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use wisp_accounts::{Account, ChatIdentity, Mnemonic};
use wisp_crypto::SecretKey;

/// A scratch directory under cargo's per-target temp dir (`wisp-<test file>/<name>-<pid>`),
/// removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(concat!("wisp-", env!("CARGO_CRATE_NAME")))
            .join(format!("{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` (creating its parent directories) and returns its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// `wisp` with its data directory inside the scratch dir and logs at the default level.
    pub(crate) fn wisp(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wisp"));
        cmd.env("WISP_DATA_DIR", self.path("data")).env_remove("RUST_LOG");
        cmd
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `wisp` with no inherited data directory or log settings.
pub(crate) fn wisp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wisp"));
    cmd.env_remove("WISP_DATA_DIR").env_remove("RUST_LOG");
    cmd
}

/// `wisp node --data-dir DIR ARGS...`
pub(crate) fn wisp_node(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = wisp();
    cmd.arg("node").arg("--data-dir").arg(data_dir).args(args);
    cmd
}

/// What a finished command printed.
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Collects a pipe on a thread.
pub(crate) fn collect(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs a command to completion with no standard input, killing it after `limit`.
pub(crate) fn run(cmd: &mut Command, limit: Duration) -> Output {
    run_with_stdin(cmd, None, limit)
}

/// Runs a command to completion, killing it after `limit`. With `Some(text)`, its standard
/// input is a pipe (so not a terminal) carrying `text`; with `None`, it is null.
pub(crate) fn run_with_stdin(cmd: &mut Command, stdin: Option<&str>, limit: Duration) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_owned();
        thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        })
    });
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let status = wait_with_timeout(&mut child, limit);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!("{cmd:?} did not finish within {limit:?}\nstdout: {stdout}\nstderr: {stderr}");
    };
    Output { status, stdout, stderr }
}

/// Waits for `child` up to `limit`; kills it and returns `None` if it is still running.
pub(crate) fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
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

/// A running `wisp` whose stdout lines and stderr are collected on threads (so it never
/// blocks on a full pipe); killed on drop (also when an assertion fails).
pub(crate) struct Running {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    /// The stdout lines read so far.
    pub(crate) stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub(crate) fn spawn(cmd: &mut Command) -> Self {
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
        let (tx, lines) = mpsc::channel();
        let out_pipe = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, stdout: Vec::new(), stderr }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Reads stdout lines until one satisfies `done`; panics after `limit`.
    pub(crate) fn read_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if done(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no {what} within {limit:?} ({e}); stdout:\n{}\nstderr:\n{}",
                    self.stdout.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Waits until stderr contains `text`; panics after `limit`.
    pub(crate) fn stderr_until(&self, limit: Duration, text: &str) {
        let deadline = Instant::now() + limit;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} on stderr within {limit:?}:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stderr has a line containing every one of `words`, and returns it; panics
    /// after `limit`.
    pub(crate) fn wait_for_log(&self, words: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.stderr();
            if let Some(line) = log.lines().find(|l| words.iter().all(|w| l.contains(w))) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no log line with {words:?} in {limit:?}:\n{log}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit; panics after `limit`.
    pub(crate) fn wait(&mut self, limit: Duration) -> ExitStatus {
        match wait_with_timeout(&mut self.child, limit) {
            Some(status) => {
                // The reader thread ends with the pipe; take what is left.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
                    self.stdout.push(line);
                }
                status
            }
            None => panic!(
                "did not exit within {limit:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout.join("\n"),
                self.stderr()
            ),
        }
    }

    /// Sends `signal` (e.g. "TERM") with `kill`.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }

    /// Sends `signal` and checks that the process (`what`, for the message) exits with status 0
    /// within `limit`; returns how long it took to exit.
    pub(crate) fn stop_with(&mut self, signal: &str, limit: Duration, what: &str) -> Duration {
        self.signal(signal);
        let started = Instant::now();
        let status = wait_with_timeout(&mut self.child, limit);
        assert!(
            status.is_some_and(|s| s.success()),
            "{what} did not exit cleanly on SIG{signal}: {status:?}; stderr:\n{}",
            self.stderr()
        );
        started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Longest wait for a node's start-up lines.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `wisp node`, killed on drop (also when an assertion fails).
pub(crate) struct RunningNode {
    pub(crate) proc: Running,
    /// The start-up lines, `key: value`.
    pub(crate) lines: Vec<(String, String)>,
}

impl RunningNode {
    /// Runs `cmd` and waits for its start-up lines (up to `role: ...`).
    pub(crate) fn start(mut cmd: Command) -> Self {
        let mut proc = Running::spawn(&mut cmd);
        let mut lines = Vec::new();
        proc.read_until(START_TIMEOUT, "start-up lines", |line| {
            let (key, value) =
                line.split_once(": ").unwrap_or_else(|| panic!("odd start-up line {line:?}"));
            lines.push((key.to_owned(), value.to_owned()));
            key == "role"
        });
        Self { proc, lines }
    }

    /// The value of a start-up line, if there is one.
    pub(crate) fn line(&self, key: &str) -> Option<&str> {
        self.lines.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of a start-up line that must be there.
    pub(crate) fn value(&self, key: &str) -> &str {
        self.line(key).unwrap_or_else(|| panic!("no {key:?} start-up line: {:?}", self.lines))
    }

    pub(crate) fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// The `host:port` of the node's JSON-RPC server (its `rpc` start-up line).
    pub(crate) fn rpc_addr(&self) -> &str {
        self.value("rpc").trim_start_matches("http://")
    }

    /// The `host:port` of the node's metrics server (its `metrics` start-up line).
    pub(crate) fn metrics_addr(&self) -> &str {
        self.value("metrics").trim_start_matches("http://").trim_end_matches("/metrics")
    }
}

/// Sends one JSON-RPC request to `addr` (`host:port`) over HTTP/1.1 with `Connection: close`
/// and reads until the server closes; the whole HTTP response (status line, headers, body).
/// A failed read (the read timeout is `limit`) is returned as the error.
pub(crate) fn rpc_response(
    addr: &str,
    method: &str,
    params: &Value,
    limit: Duration,
) -> std::io::Result<String> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(limit)).unwrap();
    write!(
        tcp,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response)?;
    Ok(response)
}

/// One JSON-RPC call (see [`rpc_response`]); the whole JSON-RPC response object (`result` or
/// `error`). Panics when the read fails or the body is not JSON.
pub(crate) fn rpc_value(addr: &str, method: &str, params: &Value, limit: Duration) -> Value {
    let response = rpc_response(addr, method, params, limit).unwrap();
    let (_, json) = response.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// The HTTP response to a call of `method` with no parameters on `addr` (see
/// [`rpc_response`]), read with a 10 s timeout; empty when the read fails (callers poll).
pub(crate) fn rpc_poll(addr: std::net::SocketAddr, method: &str) -> String {
    rpc_response(&addr.to_string(), method, &json!([]), Duration::from_secs(10)).unwrap_or_default()
}

/// The text of `GET /metrics` from `addr` (`host:port`), with the read timeout `limit`.
pub(crate) fn metrics_text(addr: &str, limit: Duration) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(limit)).unwrap();
    write!(tcp, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).unwrap();
    text
}

/// Longest wait for one `wisp account import` or `wisp chat` command.
pub(crate) const CHAT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A chat account imported with `wisp account import --light-kdf` into its own data directory.
pub(crate) struct Imported {
    /// The data directory, `<scratch>/<name>`.
    pub(crate) data: PathBuf,
    /// The file holding the account's password.
    pub(crate) password_file: PathBuf,
    /// The account's chat key.
    pub(crate) key: SecretKey,
    /// The identity of that key.
    pub(crate) identity: ChatIdentity,
    /// What the import printed.
    pub(crate) stdout: String,
}

/// Imports `mnemonic` (no passphrase) with a light KDF into `<scratch>/<name>`, the password
/// being the line `password`; the import must succeed.
pub(crate) fn import_account(
    scratch: &Scratch,
    name: &str,
    mnemonic: &Mnemonic,
    password: &str,
) -> Imported {
    let key = Account::from_mnemonic(mnemonic, "").unwrap().chat_key().unwrap();
    let mnemonic_file = scratch.write(&format!("{name}.words"), mnemonic.phrase());
    let password_file = scratch.write(&format!("{name}.pw"), password);
    let data = scratch.path(name);
    let out = run(
        wisp()
            .arg("--data-dir")
            .arg(&data)
            .args(["account", "import", "--light-kdf", "--mnemonic-file"])
            .arg(&mnemonic_file)
            .arg("--password-file")
            .arg(&password_file),
        CHAT_COMMAND_TIMEOUT,
    );
    assert!(out.status.success(), "account import: {}", out.stderr);
    let identity = ChatIdentity::of(&key.public_key());
    Imported { data, password_file, key, identity, stdout: out.stdout }
}

/// `wisp node --account <zQ3 key> --password-file FILE` on `data` with its P2P and RPC ports
/// on loopback (from :0), and `args`.
pub(crate) fn account_node(
    data: &Path,
    password_file: &Path,
    compressed_key: &str,
    args: &[&str],
) -> Command {
    let mut cmd = wisp_node(
        data,
        &["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--account", compressed_key],
    );
    cmd.arg("--password-file").arg(password_file).args(args);
    cmd
}

/// `wisp chat ARGS... --rpc <node's rpc> --json`, which must succeed; its JSON lines.
pub(crate) fn chat(node: &RunningNode, args: &[&str]) -> Vec<Value> {
    let out = run(
        wisp().arg("chat").args(args).args(["--rpc", node.value("rpc"), "--json"]),
        CHAT_COMMAND_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "wisp chat {args:?} failed: {}\nnode:\n{}",
        out.stderr,
        node.stderr()
    );
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}
