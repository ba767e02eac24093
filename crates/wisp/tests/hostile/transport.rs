//! The RLPx port under attack: garbage and truncated auth packets, hundreds of idle
//! connections, an enormous Hello, frame headers announcing 16 MiB, a snappy body declaring a
//! huge length, bad MACs, unknown message ids, malformed Status and Messages. Each test
//! checks the node's reaction (the Disconnect reason the raw peer reads, the connection
//! closing, a metrics counter) and that the node's memory stays bounded.
//!
//! The raw peer here is hand-driven over a blocking socket: the handshake is done with the
//! pure `wisp_rlpx::handshake` and `frame` code, so every byte sent is chosen by the test.

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use wisp_crypto::SecretKey;
use wisp_rlpx::{
    Capability, DisconnectReason, Hello, NodeRecord,
    frame::{FrameCipher, FrameReader, FrameWriter, HEADER_LEN, MAX_FRAME_SIZE, body_len},
    handshake::{HandshakeFormat, HandshakeRandomness, Initiator, eip8_packet_len},
    p2p::{decode_frame_data, decompress, encode_frame_data},
};

use crate::common::{RunningNode, Scratch, wisp_node};

/// The longest any single wait may take.
const WAIT: Duration = Duration::from_secs(30);
/// Message id of `waku/1` packet `code` (the only capability shared).
const fn waku_id(code: u64) -> u64 {
    0x10 + code
}

/// A `wisp node` child with RLPx on loopback, metrics on, RPC off, and `[node]` settings.
struct Target {
    node: RunningNode,
    enode: NodeRecord,
    metrics: String,
    _scratch: Scratch,
}

impl Target {
    fn start(name: &str, node_toml: &str) -> Self {
        let scratch = Scratch::new(name);
        let config = scratch.write("wisp.toml", &format!("[node]\n{node_toml}\n"));
        let args = [
            "--listen",
            "127.0.0.1:0",
            "--no-rpc",
            "--metrics",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ];
        let node = RunningNode::start(wisp_node(&scratch.path("data"), &args));
        let enode = node.value("enode").parse().unwrap();
        let metrics = node
            .value("metrics")
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
            .to_owned();
        Self { node, enode, metrics, _scratch: scratch }
    }

    fn pid(&self) -> u32 {
        self.node.proc.child.id()
    }

    /// A line of the node's `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    fn mem_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Asserts the node's peak resident memory stayed under `mib`.
    fn assert_peak_below(&self, mib: u64) {
        let peak = self.mem_kib("VmHWM") / 1024;
        assert!(peak < mib, "the node's peak RSS is {peak} MiB (limit {mib} MiB)");
    }

    /// The value of a metric line `name{labels}` (or `name`), 0 if absent.
    fn metric(&self, key: &str) -> i64 {
        let mut tcp = TcpStream::connect(&self.metrics).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Polls a metric until it reaches `at_least`; fails after [`WAIT`].
    fn wait_metric(&self, key: &str, at_least: i64) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.metric(key) >= at_least {
                return;
            }
            assert!(Instant::now() < deadline, "{key} never reached {at_least}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn tcp(&self) -> TcpStream {
        let tcp = TcpStream::connect(self.enode.tcp_addr()).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = tcp.set_nodelay(true);
        tcp
    }

    /// An honest `waku/1` peer (the same raw peer the tests of wisp-node use), retried the
    /// way a dialer backs off, that gets in and hears the node's Status.
    fn honest_peer_gets_in(&self) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            self.honest_peer().await;
        });
    }

    async fn honest_peer(&self) -> wisp_rlpx::P2PStream<tokio::net::TcpStream> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut peer = loop {
            let key = SecretKey::random();
            match wisp_node::test_utils::raw_waku_peer(self.enode, &key, "honest").await {
                Ok(p) => break p,
                Err(e) => assert!(Instant::now() < deadline, "the honest peer never got in: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let status = tokio::time::timeout(WAIT, peer.recv()).await.unwrap().unwrap();
        assert_eq!(status.id, waku_id(0), "the node's Status");
        peer
    }

    /// Two honest peers get in; an envelope one sends is relayed to the other.
    fn honest_peers_relay(&self) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut a = self.honest_peer().await;
            let mut b = self.honest_peer().await;
            let data = b"relayed past 500 idle sockets";
            a.send_capability("waku", 1, &messages_packet(data)).await.unwrap();
            let relayed = tokio::time::timeout(WAIT, async {
                loop {
                    let m = b.recv().await.unwrap();
                    if m.id == waku_id(1) && m.data.windows(data.len()).any(|w| w == data) {
                        return;
                    }
                }
            })
            .await;
            assert!(relayed.is_ok(), "the envelope was not relayed");
        });
    }
}

/// A Messages packet with one envelope `[expiry, ttl, topic, data, nonce]`, RLP by hand
/// (this crate does not depend on the Waku crate); `data` under 56 bytes. Whatever PoW nonce
/// 0 gives is far above the default minimum for an envelope this small.
fn messages_packet(data: &[u8]) -> Vec<u8> {
    assert!(data.len() < 56);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as u32;
    let mut env = vec![0x84];
    env.extend_from_slice(&(now + 60).to_be_bytes());
    env.push(60); // ttl
    env.push(0x84);
    env.extend_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    env.push(0x80 + data.len() as u8);
    env.extend_from_slice(data);
    env.push(0x80); // nonce 0
    let mut one = vec![0xc0 + env.len() as u8];
    one.extend_from_slice(&env);
    let mut packet = vec![0xc0 + one.len() as u8];
    packet.extend_from_slice(&one);
    packet
}

/// Whether the node closed `tcp` (EOF or reset) within the read timeout.
fn closed(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Deterministic bytes that compress badly.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A raw RLPx session over a blocking socket, driven frame by frame.
struct RawSession {
    tcp: TcpStream,
    writer: FrameWriter,
    reader: FrameReader,
    key: SecretKey,
    /// Whether the node's frames are snappy-compressed (both Hellos said version 5).
    snappy: bool,
}

impl RawSession {
    /// Dials and completes the auth/ack handshake (no Hello yet).
    fn connect(target: &Target) -> Self {
        let mut tcp = target.tcp();
        let key = SecretKey::random();
        let mut initiator =
            Initiator::new(key.clone(), target.enode.id, HandshakeRandomness::generate()).unwrap();
        tcp.write_all(&initiator.auth(HandshakeFormat::Eip8)).unwrap();
        let mut prefix = [0u8; 2];
        tcp.read_exact(&mut prefix).unwrap();
        let mut ack = prefix.to_vec();
        ack.resize(eip8_packet_len(prefix), 0);
        tcp.read_exact(&mut ack[2..]).unwrap();
        let (secrets, _) = initiator.read_ack(&ack).unwrap();
        let cipher = FrameCipher::new(&secrets, MAX_FRAME_SIZE);
        Self { tcp, writer: cipher.writer, reader: cipher.reader, key, snappy: false }
    }

    /// Dials, and exchanges Hellos with `p2p` version `version` (4: no snappy).
    fn after_hello(target: &Target, version: u64) -> Self {
        let mut s = Self::connect(target);
        let hello = Hello {
            protocol_version: version,
            client_id: "hostile".into(),
            capabilities: vec![Capability::new("waku", 1)],
            listen_port: 0,
            id: s.key.public_key().node_id(),
        };
        s.send_hello(&hello);
        let (id, _) = s.read_message().expect("the node's Hello");
        assert_eq!(id, 0, "the node's first message is its Hello");
        s.snappy = version >= 5;
        s
    }

    fn send_hello(&mut self, hello: &Hello) {
        let mut data = Vec::new();
        hello.encode(&mut data);
        self.send(0, &data);
    }

    /// Sends a frame carrying message `id` with `data` as given (never compressed here).
    /// The node may stop reading before it is all out: write errors are ignored.
    fn send(&mut self, id: u64, data: &[u8]) {
        let mut frame = Vec::new();
        encode_frame_data(id, data, &mut frame);
        // (`BytesMut`, named through the writer: this crate does not depend on `bytes`.)
        let mut wire = Default::default();
        self.writer.write_frame(&frame, &mut wire).unwrap();
        let _ = self.tcp.write_all(&wire[..]);
    }

    /// Sends only the header of a frame of `size` bytes, then `body` bytes of it.
    fn announce(&mut self, size: usize, body: usize) {
        let mut wire = Default::default();
        self.writer.write_header(size, &mut wire).unwrap();
        let _ = self.tcp.write_all(&wire[..]);
        let _ = self.tcp.write_all(&vec![0u8; body]);
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.tcp.write_all(bytes);
    }

    /// The next message from the node (id and data, decompressed), `None` at the end.
    fn read_message(&mut self) -> Option<(u64, Vec<u8>)> {
        let mut header = [0u8; HEADER_LEN];
        self.tcp.read_exact(&mut header).ok()?;
        let size = self.reader.read_header(&header).ok()?;
        let mut body = vec![0u8; body_len(size)];
        self.tcp.read_exact(&mut body).ok()?;
        self.reader.read_body(&mut body, size).ok()?;
        body.truncate(size);
        let (id, data) = decode_frame_data(&body).ok()?;
        let data = if self.snappy {
            decompress(data, 1 << 20).unwrap_or_else(|_| data.to_vec())
        } else {
            data.to_vec()
        };
        Some((id, data))
    }

    /// Reads until the node closes the connection; returns the reason of its Disconnect.
    fn disconnect_reason(&mut self) -> Option<DisconnectReason> {
        let mut reason = None;
        while let Some((id, data)) = self.read_message() {
            if id == 1 {
                reason = Some(DisconnectReason::decode(&mut &data[..]).unwrap());
            }
        }
        reason
    }
}

/// Random bytes, truncated auth packets and a length prefix with nothing after it are all
/// closed by the node (at the latest when the handshake times out), and an honest peer gets
/// in meanwhile.
#[test]
fn garbage_and_truncated_auth_are_closed() {
    let target = Target::start("garbage", "handshake_timeout_secs = 2");
    let mut conns = Vec::new();
    for i in 0..20 {
        let mut tcp = target.tcp();
        let _ = tcp.write_all(&noise(300 + i * 37, i as u64 + 1));
        conns.push(tcp);
    }
    for i in 0..20 {
        let mut tcp = target.tcp();
        let key = SecretKey::random();
        let mut init =
            Initiator::new(key, target.enode.id, HandshakeRandomness::generate()).unwrap();
        let auth = init.auth(HandshakeFormat::Eip8);
        let _ = tcp.write_all(&auth[..(auth.len() * i / 20).max(1)]);
        conns.push(tcp);
    }
    for _ in 0..5 {
        let mut tcp = target.tcp();
        let _ = tcp.write_all(&[0xff, 0xff]);
        conns.push(tcp);
    }
    target.honest_peer_gets_in();
    for (i, tcp) in conns.iter_mut().enumerate() {
        assert!(closed(tcp), "connection {i} is still open after {WAIT:?}");
    }
    target.assert_peak_below(128);
}

/// 500 connections that never send anything: the node bounds the handshakes it serves
/// (closing the excess at once, counted), and honest peers still get in and relay an
/// envelope between them while the attacker holds its sockets. The node's memory is measured with all 500 held.
#[test]
fn idle_connections_do_not_keep_an_honest_peer_out() {
    let target = Target::start("idle", "handshake_timeout_secs = 3\nhello_timeout_secs = 3");
    let before = target.mem_kib("VmRSS");
    let held: Vec<TcpStream> = (0..500).map(|_| target.tcp()).collect();
    target.wait_metric("wisp_connections_refused_total{reason=\"handshakes\"}", 1);
    let with_idle = target.mem_kib("VmRSS");
    eprintln!("VmRSS: {before} KiB idle, {with_idle} KiB with 500 idle connections held");
    target.honest_peers_relay();
    assert!(with_idle < 128 * 1024, "{with_idle} KiB with 500 idle connections");
    drop(held);
    target.assert_peak_below(128);
}

/// A Hello with a 1 MiB client id and 10 000 capabilities is refused by its frame header
/// (the pre-Hello frame limit), before its body is read, with Disconnect(BreachOfProtocol).
#[test]
fn an_enormous_hello_is_refused_by_its_header() {
    let target = Target::start("hello", "");
    let mut s = RawSession::connect(&target);
    let hello = Hello {
        protocol_version: 5,
        client_id: "x".repeat(1 << 20),
        capabilities: (0..10_000).map(|i| Capability::new("cap", i)).collect(),
        listen_port: 0,
        id: s.key.public_key().node_id(),
    };
    s.send_hello(&hello);
    let (id, _) = s.read_message().expect("the node's Hello");
    assert_eq!(id, 0);
    assert_eq!(s.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));
    target.assert_peak_below(64);
}

/// Issue 11's "memory pinned before Hello", after Hello: 100 connections announce 16 MiB
/// frames (refused by the header, Disconnect(BreachOfProtocol)), and 100 more announce frames
/// just under the session limit and send a trickle of their body. The node's memory follows
/// the bytes received, not the sizes announced (100 x 1.6 MB would be 160 MB).
#[test]
fn frame_headers_announcing_large_bodies_pin_no_memory() {
    let target = Target::start("frames", "max_peers = 250\nmax_inbound = 250");
    let before = target.mem_kib("VmRSS");
    for i in 0..100 {
        let mut s = RawSession::after_hello(&target, 5);
        s.announce(MAX_FRAME_SIZE, 1000);
        assert_eq!(s.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol), "{i}");
    }
    let held: Vec<RawSession> = (0..100)
        .map(|_| {
            let mut s = RawSession::after_hello(&target, 5);
            s.announce(1_600_000, 4096);
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let during = target.mem_kib("VmRSS");
    eprintln!("VmRSS: {before} KiB before, {during} KiB with 100 frames of 1.6 MB announced");
    assert!(
        during < before + 48 * 1024,
        "RSS grew from {before} KiB to {during} KiB: announced sizes were reserved"
    );
    drop(held);
    target.assert_peak_below(128);
}

/// A snappy body whose header declares 2 GiB is refused before anything is decompressed.
#[test]
fn a_snappy_body_declaring_a_huge_length_is_refused() {
    let target = Target::start("snappy", "");
    let mut s = RawSession::after_hello(&target, 5);
    // A snappy varint length of 2^31 - 1, then a few bytes of "data".
    let mut body = vec![0xff, 0xff, 0xff, 0xff, 0x07];
    body.extend_from_slice(&[0u8; 16]);
    s.send(waku_id(1), &body);
    assert_eq!(s.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));
    target.assert_peak_below(64);
}

/// Bad MACs, on the Hello frame and on a frame after it, are answered with
/// Disconnect(BreachOfProtocol).
#[test]
fn bad_macs_are_a_breach_of_protocol() {
    let target = Target::start("macs", "");
    let mut before_hello = RawSession::connect(&target);
    before_hello.send_raw(&noise(64, 7));
    let (id, _) = before_hello.read_message().expect("the node's Hello");
    assert_eq!(id, 0);
    assert_eq!(before_hello.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));

    let mut after_hello = RawSession::after_hello(&target, 5);
    after_hello.send_raw(&noise(64, 9));
    assert_eq!(after_hello.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));
    target.assert_peak_below(64);
}

/// A message id outside every shared capability is a breach of protocol.
#[test]
fn unknown_message_ids_are_a_breach_of_protocol() {
    let target = Target::start("codes", "");
    // Version 4: no snappy, so the bytes sent are the message exactly.
    let mut s = RawSession::after_hello(&target, 4);
    s.send(0x10 + 500, &[0xc0]);
    assert_eq!(s.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));
    target.assert_peak_below(64);
}

/// Messages before Status, a malformed Status, and a malformed Messages packet after a good
/// Status: each is a breach of protocol, counted by reason.
#[test]
fn malformed_status_and_messages_are_dropped_and_counted() {
    let target = Target::start("waku-packets", "");
    let mut early = RawSession::after_hello(&target, 4);
    early.send(waku_id(1), &[0xc0]);
    assert_eq!(early.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));
    target.wait_metric("wisp_peers_dropped_total{reason=\"packet_before_status\"}", 1);

    let mut bad_status = RawSession::after_hello(&target, 4);
    bad_status.send(waku_id(0), &[0xc3, 0x01, 0x02, 0x03]);
    assert_eq!(bad_status.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));

    let mut bad_messages = RawSession::after_hello(&target, 4);
    bad_messages.send(waku_id(0), &[0xc0]);
    bad_messages.send(waku_id(1), &[0xc3, 0x01, 0x02, 0x03]);
    assert_eq!(bad_messages.disconnect_reason(), Some(DisconnectReason::BreachOfProtocol));
    target.wait_metric("wisp_peers_dropped_total{reason=\"bad_packet\"}", 2);
    target.assert_peak_below(64);
}
