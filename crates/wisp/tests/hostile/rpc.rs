//! Hostile input on the rpc surface (see main.rs): a real `wisp node` whose JSON-RPC port is
//! attacked with raw HTTP over loopback. Stalled requests are timed out while honest calls are
//! answered; deep nesting, huge bodies, huge batches and endless filters each get their error;
//! the node's memory stays bounded throughout.

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::common::{RunningNode, Scratch, wisp_node};

/// The longest any single wait may take.
const WAIT: Duration = Duration::from_secs(60);
/// How much the node's peak resident set may grow under one attack (bytes). The largest
/// request the server buffers is 32 MiB; the margin is generous for a loaded machine.
const RSS_GROWTH: u64 = 160 << 20;

/// A node with JSON-RPC and metrics on free ports, and `toml` as its config file.
fn node(scratch: &Scratch, toml: &str) -> (RunningNode, SocketAddr) {
    let config = scratch.write("wisp.toml", toml);
    let node = RunningNode::start(wisp_node(
        &scratch.path("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--rpc",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
        ],
    ));
    let addr = node.value("rpc").trim_start_matches("http://").parse().unwrap();
    (node, addr)
}

/// `VmRSS` or `VmHWM` of the child, in bytes.
fn memory(node: &RunningNode, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", node.proc.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn head(len: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one HTTP response (status, body) from `s`; `None` if the server closed first.
fn response(s: &mut TcpStream) -> Option<(u16, String)> {
    let deadline = Instant::now() + WAIT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        assert!(Instant::now() < deadline, "no response within {WAIT:?}");
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read failed: {e}"),
        };
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            if n == 0 {
                return None;
            }
            continue;
        };
        let len = head.lines().find_map(|l| {
            let l = l.to_ascii_lowercase();
            l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
        });
        if n == 0 || len.is_some_and(|len| body.len() >= len) {
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            return Some((status, body.to_owned()));
        }
    }
}

/// POSTs `body` on a new connection; the status and body of the response.
fn post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut s = connect(addr);
    s.write_all(head(body.len()).as_bytes()).unwrap();
    // The server may answer and close before reading it all.
    let _ = s.write_all(body);
    response(&mut s).expect("a response")
}

/// One JSON-RPC call on connection `s` (kept alive); the response object.
fn call_on(s: &mut TcpStream, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    s.write_all(format!("{}{body}", head(body.len())).as_bytes()).unwrap();
    let (status, text) = response(s).expect("a response");
    assert_eq!(status, 200, "{method}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn call(addr: SocketAddr, method: &str, params: Value) -> Value {
    call_on(&mut connect(addr), method, params)
}

/// Waits until the server closes `s`; returns what it sent first.
fn closed(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server kept a stalled connection open ({e})"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn stalled_rpc_connections_are_closed_while_honest_calls_are_answered() {
    let scratch = Scratch::new("rpc-stall");
    let (node, addr) = node(&scratch, "[rpc]\nheader_timeout_secs = 3\nbody_timeout_secs = 3\n");
    let before = memory(&node, "VmRSS:");
    // 150 connections stall mid-body (jsonrpsee's own cap of 100 used to be filled by them,
    // and every call refused), 50 mid-headers.
    let mut mid_body: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(head(1000).as_bytes()).unwrap();
            s.write_all(br#"{"jsonrpc":"2.0","id":1,"#).unwrap();
            s
        })
        .collect();
    let mut mid_headers: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"POST / HTTP/1.1\r\nContent-Ty").unwrap();
            s
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(call(addr, "waku_version", json!([]))["result"], json!("1"));
    }
    for s in &mut mid_body {
        let text = closed(s);
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout"), "{text:?}");
    }
    for s in &mut mid_headers {
        let text = closed(s);
        assert!(!text.contains(" 200 "), "{text:?}");
    }
    assert_eq!(call(addr, "waku_version", json!([]))["result"], json!("1"));
    let peak = memory(&node, "VmHWM:");
    eprintln!("VmRSS before {} KiB, VmHWM after {} KiB", before >> 10, peak >> 10);
    assert!(peak < before + RSS_GROWTH, "peak RSS {peak} grew from {before}");
}

#[test]
fn malformed_json_rpc_gets_errors_and_memory_stays_bounded() {
    let scratch = Scratch::new("rpc-malformed");
    let (node, addr) = node(&scratch, "");
    let before = memory(&node, "VmRSS:");

    // 100 000 nested arrays: an invalid request (a batch whose one entry is not a call),
    // not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body) = post(addr, deep.as_bytes());
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(answer[0]["error"]["code"], json!(-32600), "{body}");
    let nested_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"waku_post","params":{}{}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let (_, body) = post(addr, nested_params.as_bytes());
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(error["error"]["code"].as_i64().is_some(), "{body}");

    // 50 MiB bodies: refused from the Content-Length, and when sent without one (chunked)
    // once 32 MiB have arrived.
    let big = vec![b' '; 50 << 20];
    let (status, body) = post(addr, &big);
    assert_eq!(status, 413, "{body}");
    let mut s = connect(addr);
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    for piece in big.chunks(1 << 20) {
        if s.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).is_err()
            || s.write_all(piece).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let (status, _) = response(&mut s).expect("a response to the chunked body");
    assert_eq!(status, 413);

    // A 10 000-call batch: one error, no calls made.
    let batch: Vec<Value> = (0..10_000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "waku_newSymKey", "params": []}))
        .collect();
    let (status, body) = post(addr, serde_json::to_string(&batch).unwrap().as_bytes());
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(error["error"]["code"], json!(-32010), "{body}");
    assert_eq!(error["error"]["message"], json!("The batch request was too large"));
    // Malformed JSON and a wrong content type.
    let (_, body) = post(addr, b"{\"jsonrpc\":\"2.0\",");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], json!(-32700));

    assert_eq!(call(addr, "waku_version", json!([]))["result"], json!("1"));
    let peak = memory(&node, "VmHWM:");
    eprintln!("VmRSS before {} KiB, VmHWM after {} KiB", before >> 10, peak >> 10);
    assert!(peak < before + RSS_GROWTH, "peak RSS {peak} grew from {before}");
}

#[test]
fn filters_never_deleted_are_capped() {
    let scratch = Scratch::new("rpc-filters");
    let (node, addr) = node(&scratch, "");
    let before = memory(&node, "VmRSS:");
    let mut s = connect(addr);
    let key = call_on(&mut s, "waku_newSymKey", json!([]))["result"].clone();
    let criteria = json!([{"symKeyID": key, "topics": ["0x12345678"]}]);
    let mut refused = 0;
    for i in 0..3000 {
        let answer = call_on(&mut s, "waku_newMessageFilter", criteria.clone());
        if i < 1000 {
            assert!(answer["result"].is_string(), "filter {i}: {answer}");
        } else {
            assert_eq!(answer["error"]["code"], json!(-32000), "{answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("too many message filters: at most 1000"), "{message}");
            refused += 1;
        }
    }
    assert_eq!(refused, 2000);
    assert_eq!(call(addr, "waku_version", json!([]))["result"], json!("1"));
    let peak = memory(&node, "VmHWM:");
    eprintln!("VmRSS before {} KiB, VmHWM after {} KiB", before >> 10, peak >> 10);
    assert!(peak < before + RSS_GROWTH, "peak RSS {peak} grew from {before}");
}

#[test]
fn concurrent_large_bodies_share_a_bounded_budget() {
    let scratch = Scratch::new("rpc-big-bodies");
    let (node, addr) = node(&scratch, "");
    let before = memory(&node, "VmRSS:");
    // Ten clients each send 30 MiB of a 30 MiB + 1 body and stall: 300 MiB if the server
    // buffered them all; it holds at most its 128 MiB budget (and 64 KiB per body).
    let sent = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..10)
        .map(|_| {
            let sent = sent.clone();
            thread::spawn(move || {
                let mut s = connect(addr);
                s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                let len = 30 << 20;
                if s.write_all(head(len + 1).as_bytes()).is_err() {
                    return s;
                }
                let piece = vec![b' '; 1 << 16];
                for _ in 0..len / piece.len() {
                    if s.write_all(&piece).is_err() {
                        break;
                    }
                    sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
                s
            })
        })
        .collect();
    // Wait until the writers are done or blocked (no progress for 3 s), within WAIT.
    let deadline = Instant::now() + WAIT;
    let mut last = (0, Instant::now());
    while Instant::now() < deadline && last.1.elapsed() < Duration::from_secs(3) {
        let now = sent.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
        thread::sleep(Duration::from_millis(100));
    }
    // Honest (small) calls are answered meanwhile.
    assert_eq!(call(addr, "waku_version", json!([]))["result"], json!("1"));
    let peak = memory(&node, "VmHWM:");
    eprintln!(
        "{} MiB sent; VmRSS before {} KiB, VmHWM after {} KiB",
        sent.load(Ordering::Relaxed) >> 20,
        before >> 10,
        peak >> 10
    );
    assert!(peak < before + RSS_GROWTH, "peak RSS {peak} grew from {before}");
    drop(writers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>());
}
