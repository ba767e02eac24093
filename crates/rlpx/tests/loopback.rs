//! Two RLPx nodes on 127.0.0.1 (ports from `:0`): handshake, Hello, Ping in both directions,
//! capability messages, Disconnect reasons, and a misbehaving peer that gets disconnected with
//! the right reason.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use wisp_crypto::SecretKey;
use wisp_rlpx::{
    DisconnectReason, HandshakeError, Hello, P2P_VERSION, P2PConfig, P2PError, P2PStream, Protocol,
    RlpxConfig, RlpxError, RlpxStream, UnauthedP2PStream,
    p2p::{decode_frame_data, encode_frame_data},
};

use {
    alloy_rlp as _, criterion as _, hex as _, proptest as _, serde_json as _, snap as _,
    thiserror as _, tokio_util as _, tracing as _, zeroize as _,
};

const TIMEOUT: Duration = Duration::from_secs(10);

fn hello(key: &SecretKey, caps: &[Protocol]) -> Hello {
    Hello {
        protocol_version: P2P_VERSION,
        client_id: "wisp-test".into(),
        capabilities: caps.iter().map(|p| p.cap.clone()).collect(),
        listen_port: 0,
        id: key.public_key().node_id(),
    }
}

fn waku() -> Vec<Protocol> {
    vec![Protocol::new("waku", 1, 128)]
}

async fn session_pair(
    a_caps: Vec<Protocol>,
    b_caps: Vec<Protocol>,
) -> (
    Result<(P2PStream<TcpStream>, Hello), P2PError>,
    Result<(P2PStream<TcpStream>, Hello), P2PError>,
) {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b_id = kb.public_key().node_id();
    let b_hello = hello(&kb, &b_caps);
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let rlpx = RlpxStream::accept(tcp, &kb, &RlpxConfig::default()).await?;
        UnauthedP2PStream::new(rlpx, P2PConfig::default()).handshake(b_hello, &b_caps).await
    });
    let dial = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let rlpx = RlpxStream::connect(tcp, &ka, b_id, &RlpxConfig::default()).await?;
        UnauthedP2PStream::new(rlpx, P2PConfig::default())
            .handshake(hello(&ka, &a_caps), &a_caps)
            .await
    };
    let a = tokio::time::timeout(TIMEOUT, dial).await.expect("dial timed out");
    let b = tokio::time::timeout(TIMEOUT, accept).await.expect("accept timed out").unwrap();
    (a, b)
}

#[tokio::test]
async fn handshake_hello_ping_both_directions() {
    let caps = vec![
        Protocol::new("shh", 6, 128),
        Protocol::new("waku", 0, 128),
        Protocol::new("waku", 1, 128),
    ];
    let (a, b) = session_pair(caps.clone(), caps).await;
    let (mut a, a_saw) = a.unwrap();
    let (mut b, b_saw) = b.unwrap();
    assert_eq!(a_saw.id, a.rlpx().remote_id());
    assert_eq!(b_saw.id, b.rlpx().remote_id());
    assert_eq!(a_saw.client_id, "wisp-test");
    assert_eq!(b_saw.capabilities.len(), 3);
    assert!(a.snappy() && b.snappy());
    // shh/6 at 0x10, waku/1 (not waku/0) at 0x90, as status-go (DECISIONS 20).
    let shared: Vec<(String, u32, u64)> = a
        .shared_capabilities()
        .iter()
        .map(|c| (c.cap.name.clone(), c.cap.version, c.offset))
        .collect();
    assert_eq!(shared, vec![("shh".into(), 6, 0x10), ("waku".into(), 1, 0x90)]);

    // A pings B while B is reading (B answers from recv), then the other way round.
    let b_task = tokio::spawn(async move {
        let msg = b.recv().await.unwrap();
        (b, msg)
    });
    let rtt = a.ping(TIMEOUT).await.unwrap();
    assert!(rtt < TIMEOUT);
    assert_eq!(a.last_rtt(), Some(rtt));
    a.send_capability("waku", 1, &[0xc0]).await.unwrap();
    let (mut b, msg) = b_task.await.unwrap();
    assert_eq!(msg.id, 0x91);
    assert_eq!(msg.data, Bytes::from_static(&[0xc0]));

    let a_task = tokio::spawn(async move {
        let msg = a.recv().await.unwrap();
        (a, msg)
    });
    let rtt = b.ping(TIMEOUT).await.unwrap();
    assert!(rtt < TIMEOUT);
    let big = vec![0x42u8; 200_000];
    b.send(0x10 + 5, &big).await.unwrap();
    let (mut a, msg) = a_task.await.unwrap();
    assert_eq!((msg.id, msg.data.len()), (0x15, big.len()));

    // A capability message that arrives while a Ping waits is kept for recv.
    b.send_capability("shh", 1, &[0xc1, 0x01]).await.unwrap();
    let b_task = tokio::spawn(async move {
        let e = b.recv().await.unwrap_err();
        (b, e)
    });
    let rtt = a.ping(TIMEOUT).await;
    assert!(rtt.is_ok(), "{rtt:?}");
    assert_eq!(a.recv().await.unwrap().id, 0x11);

    // Disconnect carries its reason to the peer.
    a.disconnect(DisconnectReason::ClientQuitting).await.unwrap();
    let (_b, err) = b_task.await.unwrap();
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::ClientQuitting)), "{err}");
}

#[tokio::test]
async fn no_shared_capability_is_a_useless_peer() {
    let (a, b) = session_pair(vec![Protocol::new("foo", 1, 8)], waku()).await;
    for r in [a.map(|_| ()), b.map(|_| ())] {
        match r {
            Err(P2PError::WeDisconnected { reason: DisconnectReason::UselessPeer, detail }) => {
                assert!(detail.contains("no shared capability"), "{detail}");
            }
            Err(P2PError::Disconnected(DisconnectReason::UselessPeer)) => {}
            other => panic!("expected UselessPeer, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn wrong_remote_key_fails_the_handshake() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        RlpxStream::accept(tcp, &kb, &RlpxConfig::default()).await.map(|_| ())
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    // Dial with someone else's id: the listener cannot open the auth.
    let wrong = SecretKey::random().public_key().node_id();
    let dial = RlpxStream::connect(tcp, &ka, wrong, &RlpxConfig::default()).await;
    let server = accept.await.unwrap().unwrap_err();
    assert!(matches!(server, RlpxError::Handshake(HandshakeError::Crypto(_))), "{server}");
    assert!(server.to_string().contains("handshake failed"), "{server}");
    let client = dial.unwrap_err();
    assert!(
        matches!(client, RlpxError::ClosedDuringHandshake | RlpxError::Io(_)),
        "dialer should see the connection closed, got {client}"
    );
}

#[tokio::test]
async fn silent_peer_times_out_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(TIMEOUT).await;
        drop(tcp);
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = RlpxConfig { handshake_timeout: Duration::from_millis(200), ..Default::default() };
    let id = SecretKey::random().public_key().node_id();
    let err = RlpxStream::connect(tcp, &SecretKey::random(), id, &config).await.unwrap_err();
    assert!(matches!(err, RlpxError::HandshakeTimeout(_)), "{err}");
}

/// A raw peer that does the RLPx handshake and Hello by hand, then sends `frames` as is.
/// Returns what our session's `recv` reported and the reason the raw peer was sent.
async fn misbehave(frames: Vec<Vec<u8>>) -> (P2PError, Option<DisconnectReason>) {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b_id = kb.public_key().node_id();
    let good = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let rlpx = RlpxStream::accept(tcp, &kb, &RlpxConfig::default()).await.unwrap();
        let (mut s, _) = UnauthedP2PStream::new(rlpx, P2PConfig::default())
            .handshake(hello(&kb, &waku()), &waku())
            .await
            .unwrap();
        tokio::time::timeout(TIMEOUT, s.recv()).await.expect("recv hung").unwrap_err()
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut raw = RlpxStream::connect(tcp, &ka, b_id, &RlpxConfig::default()).await.unwrap();
    let mut data = Vec::new();
    hello(&ka, &waku()).encode(&mut data);
    let mut frame = Vec::new();
    encode_frame_data(0, &data, &mut frame);
    raw.send(Bytes::from(frame)).await.unwrap();
    let _their_hello = raw.next().await.unwrap().unwrap();
    for f in frames {
        raw.send(Bytes::from(f)).await.unwrap();
    }
    let err = good.await.unwrap();
    let mut reason = None;
    while let Some(Ok(frame)) = raw.next().await {
        let (id, body) = decode_frame_data(&frame).unwrap();
        if id == 1 {
            let plain = snap::raw::Decoder::new().decompress_vec(body).unwrap();
            reason = Some(DisconnectReason::decode(&mut &plain[..]).unwrap());
        }
    }
    (err, reason)
}

fn snappy_frame(id: u64, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    encode_frame_data(id, &snap::raw::Encoder::new().compress_vec(data).unwrap(), &mut f);
    f
}

#[tokio::test]
async fn unknown_message_id_is_a_breach_of_protocol() {
    let (err, reason) = misbehave(vec![snappy_frame(0x500, &[0xc0])]).await;
    assert!(
        matches!(err, P2PError::WeDisconnected { reason: DisconnectReason::BreachOfProtocol, .. }),
        "{err}"
    );
    assert_eq!(reason, Some(DisconnectReason::BreachOfProtocol));
}

#[tokio::test]
async fn bad_snappy_is_a_breach_of_protocol() {
    let mut f = Vec::new();
    encode_frame_data(0x10, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00], &mut f);
    let (err, reason) = misbehave(vec![f]).await;
    assert!(
        matches!(err, P2PError::WeDisconnected { reason: DisconnectReason::BreachOfProtocol, .. }),
        "{err}"
    );
    assert_eq!(reason, Some(DisconnectReason::BreachOfProtocol));
}

#[tokio::test]
async fn oversized_message_is_rejected_before_decompression() {
    // A snappy header declaring 32 MiB, more than the 16 MiB limit.
    let mut body = Vec::new();
    let mut n: u64 = 32 << 20;
    while n >= 0x80 {
        body.push((n as u8) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    body.extend_from_slice(&[0; 8]);
    let mut f = Vec::new();
    encode_frame_data(0x10, &body, &mut f);
    let (err, reason) = misbehave(vec![f]).await;
    match err {
        P2PError::WeDisconnected { reason: DisconnectReason::BreachOfProtocol, detail } => {
            assert!(detail.contains("exceeds the maximum"), "{detail}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(reason, Some(DisconnectReason::BreachOfProtocol));
}

#[tokio::test]
async fn second_hello_is_a_breach_of_protocol() {
    let mut data = Vec::new();
    hello(&SecretKey::random(), &waku()).encode(&mut data);
    let (err, reason) = misbehave(vec![snappy_frame(0, &data)]).await;
    assert!(
        matches!(err, P2PError::WeDisconnected { reason: DisconnectReason::BreachOfProtocol, .. }),
        "{err}"
    );
    assert_eq!(reason, Some(DisconnectReason::BreachOfProtocol));
}

#[tokio::test]
async fn peer_disconnect_reason_is_reported() {
    let mut data = Vec::new();
    DisconnectReason::TooManyPeers.encode(&mut data);
    let (err, reason) = misbehave(vec![snappy_frame(1, &data)]).await;
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::TooManyPeers)), "{err}");
    assert_eq!(err.to_string(), "peer disconnected: too many peers (0x04)");
    assert_eq!(reason, None);
}

#[tokio::test]
async fn hello_with_another_identity_is_rejected() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b_id = kb.public_key().node_id();
    let good = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let rlpx = RlpxStream::accept(tcp, &kb, &RlpxConfig::default()).await.unwrap();
        UnauthedP2PStream::new(rlpx, P2PConfig::default())
            .handshake(hello(&kb, &waku()), &waku())
            .await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let rlpx = RlpxStream::connect(tcp, &ka, b_id, &RlpxConfig::default()).await.unwrap();
    // Our Hello names another key than the one the handshake authenticated.
    let liar = hello(&SecretKey::random(), &waku());
    let dial = UnauthedP2PStream::new(rlpx, P2PConfig::default()).handshake(liar, &waku()).await;
    let err = good.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            P2PError::WeDisconnected { reason: DisconnectReason::UnexpectedIdentity, .. }
        ),
        "{err}"
    );
    // The liar got our Hello before our verdict; its next read is the (uncompressed) Disconnect.
    let (mut liar, _) = dial.unwrap();
    let got = liar.recv().await.unwrap_err();
    assert!(matches!(got, P2PError::Disconnected(DisconnectReason::UnexpectedIdentity)), "{got}");
}

/// A pre-EIP-8 initiator: the listener recognises the fixed-size legacy auth on the socket,
/// answers with a legacy ack, and both sides derive the same frame keys.
#[tokio::test]
async fn legacy_auth_over_a_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wisp_rlpx::{
        frame::{FrameCipher, MAX_FRAME_SIZE},
        handshake::{
            HandshakeFormat, HandshakeRandomness, Initiator, LEGACY_ACK_LEN, LEGACY_AUTH_LEN,
        },
    };

    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let b_id = kb.public_key().node_id();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = RlpxStream::accept(tcp, &kb, &RlpxConfig::default()).await.unwrap();
        let frame = s.next().await.unwrap().unwrap();
        (s.remote_id(), frame.to_vec())
    });
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut init = Initiator::new(ka.clone(), b_id, HandshakeRandomness::generate()).unwrap();
    let auth = init.auth(HandshakeFormat::Legacy);
    assert_eq!(auth.len(), LEGACY_AUTH_LEN);
    tcp.write_all(&auth).await.unwrap();
    let mut ack = vec![0u8; LEGACY_ACK_LEN];
    tcp.read_exact(&mut ack).await.unwrap();
    let (secrets, _) = init.read_ack(&ack).unwrap();
    let mut wire = bytes::BytesMut::new();
    FrameCipher::new(&secrets, MAX_FRAME_SIZE)
        .writer
        .write_frame(b"legacy hello", &mut wire)
        .unwrap();
    tcp.write_all(&wire).await.unwrap();
    let (remote, frame) = tokio::time::timeout(TIMEOUT, accept).await.unwrap().unwrap();
    assert_eq!(remote, ka.public_key().node_id());
    assert_eq!(frame, b"legacy hello");
}

/// The accepting side of a raw pair: RLPx handshake done, the `p2p` Hello exchange run with
/// `config`; the dialling side stays a raw RLPx stream the test drives by hand.
async fn hello_stage(
    config: P2PConfig,
) -> (
    tokio::task::JoinHandle<Result<(P2PStream<TcpStream>, Hello), P2PError>>,
    RlpxStream<TcpStream>,
    SecretKey,
) {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let b_id = kb.public_key().node_id();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let rlpx = RlpxStream::accept(tcp, &kb, &RlpxConfig::default()).await?;
        UnauthedP2PStream::new(rlpx, config).handshake(hello(&kb, &waku()), &waku()).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let raw = RlpxStream::connect(tcp, &ka, b_id, &RlpxConfig::default()).await.unwrap();
    (server, raw, ka)
}

/// Reads frames until the stream ends; returns the reason of an uncompressed Disconnect.
async fn uncompressed_disconnect(raw: &mut RlpxStream<TcpStream>) -> Option<DisconnectReason> {
    let mut reason = None;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(TIMEOUT, raw.next()).await {
        let (id, body) = decode_frame_data(&frame).unwrap();
        if id == 1 {
            reason = Some(DisconnectReason::decode(&mut &body[..]).unwrap());
        }
    }
    reason
}

/// Issue 11: after a Hello timeout the peer is sent a Disconnect, not just closed.
#[tokio::test]
async fn hello_timeout_sends_a_disconnect() {
    let config = P2PConfig { hello_timeout: Duration::from_millis(300), ..Default::default() };
    let (server, mut raw, _) = hello_stage(config).await;
    let err = server.await.unwrap().unwrap_err();
    assert!(matches!(err, P2PError::WeDisconnected { .. }), "{err}");
    let (id, _) = decode_frame_data(&raw.next().await.unwrap().unwrap()).unwrap();
    assert_eq!(id, 0, "their Hello comes first");
    assert_eq!(uncompressed_disconnect(&mut raw).await, Some(DisconnectReason::TcpSubsystemError));
}

/// Issue 11: a bad MAC on the Hello frame is answered with Disconnect(BreachOfProtocol).
#[tokio::test]
async fn bad_mac_on_hello_sends_a_disconnect() {
    let (server, mut raw, _) = hello_stage(P2PConfig::default()).await;
    raw.get_ref().writable().await.unwrap();
    raw.get_ref().try_write(&[0x5a; 64]).unwrap();
    let err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(err, P2PError::WeDisconnected { reason: DisconnectReason::BreachOfProtocol, .. }),
        "{err}"
    );
    let _their_hello = raw.next().await.unwrap().unwrap();
    assert_eq!(uncompressed_disconnect(&mut raw).await, Some(DisconnectReason::BreachOfProtocol));
}

/// Issue 11: before Hello, a frame header announcing more than a Hello needs is refused
/// (before its body is read or allocated) with Disconnect(BreachOfProtocol).
#[tokio::test]
async fn oversized_hello_is_refused_by_its_header() {
    let (server, mut raw, ka) = hello_stage(P2PConfig::default()).await;
    let mut h = hello(&ka, &waku());
    h.client_id = "x".repeat(1 << 20);
    h.capabilities = (0..10_000).map(|i| wisp_rlpx::Capability::new("cap", i)).collect();
    let mut data = Vec::new();
    h.encode(&mut data);
    let mut frame = Vec::new();
    encode_frame_data(0, &data, &mut frame);
    // The node stops reading at the header, so the send may never finish.
    let _ = tokio::time::timeout(Duration::from_secs(2), raw.send(Bytes::from(frame))).await;
    let err = tokio::time::timeout(TIMEOUT, server).await.expect("refused in time").unwrap();
    match err.unwrap_err() {
        P2PError::WeDisconnected { reason: DisconnectReason::BreachOfProtocol, detail } => {
            assert!(detail.contains("exceeds the maximum"), "{detail}");
        }
        other => panic!("{other}"),
    }
}

/// Writes of the wrapped stream alternate between "not now" and done once `stutter` is on:
/// every write has to wait at least once, as on a congested socket.
struct Stutter<S> {
    io: S,
    on: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pend: bool,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Stutter<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Stutter<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.on.load(std::sync::atomic::Ordering::Relaxed) {
            self.pend = !self.pend;
            if self.pend {
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
        }
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Issue 11: `recv` raced in `select!` (as a peer's serve loop does) and cancelled while it
/// is answering a Ping loses no Pong. Every write of the answering side has to wait once,
/// and the other branch wins each such race, so each Pong write is cut short.
#[tokio::test]
async fn cancelled_recv_loses_no_pong() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (ia, ib) = tokio::io::duplex(64 * 1024);
    let on = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ia = Stutter { io: ia, on: on.clone(), pend: false };
    let b_id = kb.public_key().node_id();
    let server = tokio::spawn(async move {
        let rlpx = RlpxStream::accept(ia, &kb, &RlpxConfig::default()).await.unwrap();
        let (mut s, _) = UnauthedP2PStream::new(rlpx, P2PConfig::default())
            .handshake(hello(&kb, &waku()), &waku())
            .await
            .unwrap();
        on.store(true, std::sync::atomic::Ordering::Relaxed);
        loop {
            tokio::select! {
                biased;
                _ = tokio::task::yield_now() => {}
                r = s.recv() => return r,
            }
        }
    });
    let rlpx = RlpxStream::connect(ib, &ka, b_id, &RlpxConfig::default()).await.unwrap();
    let (mut b, _) = UnauthedP2PStream::new(rlpx, P2PConfig::default())
        .handshake(hello(&ka, &waku()), &waku())
        .await
        .unwrap();
    for i in 0..20 {
        b.ping(Duration::from_secs(3)).await.unwrap_or_else(|e| panic!("ping {i}: {e}"));
    }
    b.send(0x10, &[0xc0]).await.unwrap();
    assert_eq!(server.await.unwrap().unwrap().id, 0x10);
}

struct CountGate {
    left: usize,
}

impl wisp_rlpx::FrameGate for CountGate {
    fn admit(&mut self, frame_len: usize) -> Result<(), (DisconnectReason, String)> {
        if frame_len > self.left {
            return Err((DisconnectReason::SubprotocolError, "byte budget spent".into()));
        }
        self.left -= frame_len;
        Ok(())
    }
}

/// A gate charges raw frame bytes before decoding; its refusal disconnects with its reason.
#[tokio::test]
async fn frame_gate_refusal_disconnects_with_its_reason() {
    let (a, b) = session_pair(waku(), waku()).await;
    let (mut a, _) = a.unwrap();
    let (mut b, _) = b.unwrap();
    b.set_gate(Box::new(CountGate { left: 2_500 }));
    let receiver = tokio::spawn(async move {
        let mut got = 0;
        loop {
            match b.recv().await {
                Ok(_) => got += 1,
                Err(e) => return (got, e),
            }
        }
    });
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let payload: Vec<u8> = (0..1000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for _ in 0..10 {
        if a.send(0x10, &payload).await.is_err() {
            break;
        }
    }
    let (got, err) = tokio::time::timeout(TIMEOUT, receiver).await.unwrap().unwrap();
    assert!(got < 10, "the gate let all {got} through");
    assert!(
        matches!(err, P2PError::WeDisconnected { reason: DisconnectReason::SubprotocolError, .. }),
        "{err}"
    );
    assert!(matches!(
        tokio::time::timeout(TIMEOUT, wisp_rlpx_test_end(&mut a)).await.unwrap(),
        P2PError::Disconnected(DisconnectReason::SubprotocolError)
    ));
}

async fn wisp_rlpx_test_end(s: &mut P2PStream<TcpStream>) -> P2PError {
    loop {
        if let Err(e) = s.recv().await {
            return e;
        }
    }
}
