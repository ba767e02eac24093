//! The node's transport defences on loopback (ports from :0), with raw TCP connections and
//! raw `waku/1` peers: admission checks at accept (handshake slots, per-IP count, IP bans),
//! self / duplicate / slot refusals, the ping timeout, the static dialer's backoff, slow
//! peers and drop decisions that reach a peer whose queue is full, the rate gate on raw
//! frames, and shutdown ending every connection.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
};
use wisp_crypto::SecretKey;
use wisp_node::{
    Node, NodeConfig, NodeHandle, load_or_create_key,
    test_utils::{raw_waku_peer, session_end},
};
use wisp_rlpx::{
    DisconnectReason, Hello, NodeRecord, P2P_VERSION, P2PError, P2PStream, RlpxConfig, RlpxStream,
    p2p::{decode_frame_data, encode_frame_data},
};
use wisp_waku::{
    RouterConfig,
    packets::{WAKU_NAME, waku_codes},
    ratelimit::{Limit, RateLimitConfig},
};
// wisp-node's dependencies (its JSON-RPC server) that this test does not use.
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};
// The messenger's dependencies (wisp-node runs it with a chat account).
use {rand as _, wisp_accounts as _, wisp_messenger as _};

use {
    alloy_rlp as _, base64 as _, hex as _, jsonrpsee as _, proptest as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_mailserver as _,
};

mod common;
use common::{WAIT, temp_dir, wait_until};

fn config() -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir("transport"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: None,
        // Long enough that a connection closed during a test was closed by a check, not by
        // the handshake timing out.
        handshake_timeout: Duration::from_secs(120),
        hello_timeout: Duration::from_secs(120),
        ..Default::default()
    }
}

async fn raw_peer(node: &Node, key: &SecretKey) -> Result<P2PStream<TcpStream>, P2PError> {
    raw_waku_peer(node.enode(), key, "transport-test").await
}

async fn peer_count(h: &NodeHandle) -> usize {
    h.peers().await.unwrap().len()
}

/// A TCP connection to the node that sends nothing.
async fn idle(node: &Node) -> TcpStream {
    TcpStream::connect(node.enode().tcp_addr()).await.unwrap()
}

/// Whether the node closed `tcp` within `limit` (EOF or a reset).
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(limit, tcp.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("the node sent bytes before the auth"),
        Err(_) => false,
    }
}

/// A raw peer that retries (an honest dialer backs off and comes back) until it gets in.
async fn honest_peer(node: &Node) -> P2PStream<TcpStream> {
    let deadline = Instant::now() + WAIT;
    loop {
        match raw_peer(node, &SecretKey::random()).await {
            Ok(p) => return p,
            Err(e) => assert!(Instant::now() < deadline, "the honest peer never got in: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn refused(h: &NodeHandle, reason: &str) -> i64 {
    h.metrics().get("wisp_connections_refused_total", &format!("reason=\"{reason}\""))
}

/// Issue 11: connections from one address beyond `max_peers_per_ip` are closed right after
/// accept (loopback counted here through `limit_loopback`), and the count is given back when
/// they leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_limit_are_closed_at_accept() {
    let node = Node::start(NodeConfig { max_peers_per_ip: 2, limit_loopback: true, ..config() })
        .await
        .unwrap();
    let h = node.handle();
    let mut held = vec![idle(&node).await, idle(&node).await];
    let mut third = idle(&node).await;
    assert!(closed_within(&mut third, WAIT).await, "the third connection stays open");
    assert_eq!(refused(&h, "per_ip"), 1, "{}", h.metrics().render());
    for tcp in &mut held {
        assert!(!closed_within(tcp, Duration::from_millis(300)).await, "a held one was closed");
    }
    drop(held);
    // The address's count is given back: a full peer gets in.
    let _peer = honest_peer(&node).await;
    wait_until("a peer admitted after the idle ones left", || async { peer_count(&h).await == 1 })
        .await;
    node.shutdown().await;
}

/// Issue 11: inbound handshakes in progress are bounded; one more is closed at once, and an
/// honest peer gets in once a slot is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_over_the_limit_are_closed_at_accept() {
    let node = Node::start(NodeConfig { max_pending_handshakes: 3, ..config() }).await.unwrap();
    let h = node.handle();
    let mut held = vec![idle(&node).await, idle(&node).await, idle(&node).await];
    let mut fourth = idle(&node).await;
    assert!(closed_within(&mut fourth, WAIT).await, "the fourth handshake stays open");
    assert_eq!(refused(&h, "handshakes"), 1, "{}", h.metrics().render());
    for tcp in &mut held {
        assert!(!closed_within(tcp, Duration::from_millis(300)).await, "a held one was closed");
    }
    held.pop();
    let _peer = honest_peer(&node).await;
    wait_until("the honest peer admitted", || async { peer_count(&h).await == 1 }).await;
    node.shutdown().await;
}

/// A node refuses itself, a second session of a connected node id, and peers beyond its
/// slots, each with its Disconnect reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_duplicate_and_full_slots_are_refused() {
    let cfg = NodeConfig { max_peers: 1, max_inbound: 1, ..config() };
    let own_key = load_or_create_key(&cfg.data_dir).unwrap();
    let node = Node::start(cfg).await.unwrap();
    let h = node.handle();

    let mut me = raw_peer(&node, &own_key).await.unwrap();
    let err = tokio::time::timeout(WAIT, session_end(&mut me)).await.unwrap();
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::ConnectedToSelf)), "{err}");

    let key = SecretKey::random();
    let _first = raw_peer(&node, &key).await.unwrap();
    wait_until("the first peer", || async { peer_count(&h).await == 1 }).await;
    let mut twin = raw_peer(&node, &key).await.unwrap();
    let err = tokio::time::timeout(WAIT, session_end(&mut twin)).await.unwrap();
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::AlreadyConnected)), "{err}");

    let mut extra = raw_peer(&node, &SecretKey::random()).await.unwrap();
    let err = tokio::time::timeout(WAIT, session_end(&mut extra)).await.unwrap();
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::TooManyPeers)), "{err}");
    assert_eq!(peer_count(&h).await, 1);
    node.shutdown().await;
}

/// Issue 11: the last slot is taken atomically: of many peers arriving at once for one slot,
/// exactly one is admitted and every other one hears TooManyPeers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_peers_never_exceed_the_slots() {
    let node = Node::start(NodeConfig { max_peers: 1, max_inbound: 1, ..config() }).await.unwrap();
    let enode = node.enode();
    let tries: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut p = raw_waku_peer(enode, &SecretKey::random(), "racer").await.unwrap();
                match tokio::time::timeout(Duration::from_secs(3), session_end(&mut p)).await {
                    Ok(e) => (Some(e), p),
                    Err(_) => (None, p),
                }
            })
        })
        .collect();
    let mut admitted = 0;
    let mut kept = Vec::new();
    for t in tries {
        let (end, p) = t.await.unwrap();
        match end {
            None => admitted += 1,
            Some(P2PError::Disconnected(DisconnectReason::TooManyPeers)) => {}
            Some(other) => panic!("unexpected end: {other}"),
        }
        kept.push(p);
    }
    assert_eq!(admitted, 1);
    assert_eq!(peer_count(&node.handle()).await, 1);
    node.shutdown().await;
}

/// Issue 11: a banned peer's IP address is banned with it; a new key from there is closed
/// right after accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_peer_cannot_return_with_a_new_key() {
    let node = Node::start(NodeConfig { limit_loopback: true, ..config() }).await.unwrap();
    let h = node.handle();
    let key = SecretKey::random();
    for _ in 0..2 {
        let mut p = raw_peer(&node, &key).await.unwrap();
        wait_until("the offender admitted", || async { peer_count(&h).await == 1 }).await;
        p.send_capability(WAKU_NAME, waku_codes::MESSAGES, &[0xc3, 0x01, 0x02, 0x03])
            .await
            .unwrap();
        let _ = tokio::time::timeout(WAIT, session_end(&mut p)).await.unwrap();
        wait_until("the offender gone", || async { peer_count(&h).await == 0 }).await;
    }
    assert_eq!(h.metrics().total("wisp_peers_banned_total"), 1);
    let back = raw_peer(&node, &SecretKey::random()).await;
    assert!(back.is_err(), "a new key from the banned address got through the handshake");
    assert_eq!(refused(&h, "banned_ip"), 1, "{}", h.metrics().render());
    node.shutdown().await;
}

/// A peer that answers no Ping is dropped with Disconnect(PingTimeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_pings_is_dropped() {
    let node = Node::start(NodeConfig { ping_interval: Duration::from_millis(300), ..config() })
        .await
        .unwrap();
    let h = node.handle();
    // The raw peer reads nothing (so answers nothing) until the node gave up on it.
    let mut p = raw_peer(&node, &SecretKey::random()).await.unwrap();
    wait_until("the peer admitted", || async { peer_count(&h).await == 1 }).await;
    wait_until("the silent peer dropped", || async { peer_count(&h).await == 0 }).await;
    let err = tokio::time::timeout(WAIT, session_end(&mut p)).await.unwrap();
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::PingTimeout)), "{err}");
    node.shutdown().await;
}

/// A static node that fails is redialled with exponential backoff, up to the maximum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_dialer_backs_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = NodeRecord::new(SecretKey::random().public_key().node_id(), addr);
    let node = Node::start(NodeConfig {
        static_nodes: vec![target],
        redial_min: Duration::from_millis(100),
        redial_max: Duration::from_millis(400),
        ..config()
    })
    .await
    .unwrap();
    let mut at = Vec::new();
    while at.len() < 6 {
        let (tcp, _) = tokio::time::timeout(WAIT, listener.accept()).await.unwrap().unwrap();
        at.push(Instant::now());
        drop(tcp);
    }
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    // Each failure doubles the wait (100 ms -> 200, 400, then capped at 400). Delays on a
    // loaded machine only lengthen the gaps, so only lower bounds are checked.
    let floor = [200, 400, 400, 400, 400];
    for (gap, ms) in gaps.iter().zip(floor) {
        assert!(*gap >= Duration::from_millis(ms - 20), "gaps {gaps:?}");
    }
    node.shutdown().await;
}

/// A raw peer whose queue at the node is full: it reads nothing, and the node is told to send
/// it large packets until its queue refuses them.
async fn fill_queue(node: &Node) -> (P2PStream<TcpStream>, wisp_crypto::NodeId) {
    let h = node.handle();
    let key = SecretKey::random();
    let p = raw_peer(node, &key).await.unwrap();
    let id = key.public_key().node_id();
    wait_until("the peer admitted", || async { peer_count(&h).await == 1 }).await;
    let payload = vec![0x5a; 32 * 1024];
    let mut refused = false;
    for _ in 0..20_000 {
        if !h.send_packet(id, waku_codes::MESSAGES, payload.clone()).await.unwrap() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the peer's queue never filled");
    (p, id)
}

/// Issue 11: a peer that cannot keep up is dropped after the grace, through a path that does
/// not depend on its (full) queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_peer_is_dropped_after_the_grace() {
    let node = Node::start(NodeConfig { slow_peer_grace: Duration::from_millis(300), ..config() })
        .await
        .unwrap();
    let h = node.handle();
    let (_p, id) = fill_queue(&node).await;
    // Packets keep coming faster than the peer takes them: its queue stays full.
    wait_until("the slow peer dropped", || async {
        for _ in 0..64 {
            let _ = h.send_packet(id, waku_codes::MESSAGES, vec![0x5a; 32 * 1024]).await;
        }
        peer_count(&h).await == 0
    })
    .await;
    assert_eq!(h.metrics().get("wisp_peers_dropped_total", "reason=\"slow_peer\""), 1);
    node.shutdown().await;
}

/// Issue 11: a decision to drop a peer (here `admin_removePeer`) reaches its session even
/// when its queue is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_decision_reaches_a_peer_with_a_full_queue() {
    let node = Node::start(NodeConfig { slow_peer_grace: Duration::from_secs(3600), ..config() })
        .await
        .unwrap();
    let h = node.handle();
    let (_p, id) = fill_queue(&node).await;
    h.remove_peer(id).await.unwrap();
    wait_until("the removed peer gone", || async { peer_count(&h).await == 0 }).await;
    node.shutdown().await;
}

/// Dials `node` and completes the RLPx handshake and Hello by hand, leaving a raw RLPx
/// stream (frames are sent as given, not compressed).
async fn raw_rlpx_after_hello(node: &Node, key: &SecretKey) -> RlpxStream<TcpStream> {
    let tcp = TcpStream::connect(node.enode().tcp_addr()).await.unwrap();
    let mut raw =
        RlpxStream::connect(tcp, key, node.enode().id, &RlpxConfig::default()).await.unwrap();
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: "raw".into(),
        capabilities: vec![wisp_rlpx::Capability::new(WAKU_NAME, 1)],
        listen_port: 0,
        id: key.public_key().node_id(),
    };
    let mut data = Vec::new();
    hello.encode(&mut data);
    let mut frame = Vec::new();
    encode_frame_data(0, &data, &mut frame);
    raw.send_frame(Bytes::from(frame)).await.unwrap();
    let first = raw.recv_frame().await.unwrap().unwrap();
    assert_eq!(decode_frame_data(&first).unwrap().0, 0, "the node's Hello");
    raw
}

/// Issue 11: frames are charged to the rate limiter on their raw size, before snappy: a
/// large frame that is not even valid snappy costs its sender the rate limit (a counted
/// rate-limit drop), not a decompression attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_frames_are_charged_before_decompression() {
    let strict = RouterConfig {
        peer_limits: RateLimitConfig {
            packets: Limit::new(100),
            bytes: Limit { per_second: 20_000, tolerance: 1.0 },
        },
        ..Default::default()
    };
    let node =
        Node::start(NodeConfig { waku: wisp_node::WakuConfig { router: strict }, ..config() })
            .await
            .unwrap();
    let h = node.handle();
    let mut raw = raw_rlpx_after_hello(&node, &SecretKey::random()).await;
    let mut frame = Vec::new();
    // Message id 0x10 + MESSAGES, 64 KiB of bytes that are not snappy.
    encode_frame_data(0x10 + waku_codes::MESSAGES, &vec![0xff; 64 * 1024], &mut frame);
    let _ = raw.send_frame(Bytes::from(frame)).await;
    wait_until("a rate-limit drop", || async {
        h.metrics().get("wisp_peers_dropped_total", "reason=\"rate_limited\"") == 1
    })
    .await;
    assert_eq!(h.metrics().total("wisp_rate_limited_peers_total"), 1);
    node.shutdown().await;
}

/// Issue 11: shutdown ends the connections still in their handshake (tracked tasks, not
/// detached ones) and still sends Disconnect(ClientQuitting) to every peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_handshakes_and_quits_peers() {
    let node = Node::start(config()).await.unwrap();
    let h = node.handle();
    let mut pending = idle(&node).await;
    let mut p = raw_peer(&node, &SecretKey::random()).await.unwrap();
    wait_until("the peer admitted", || async { peer_count(&h).await == 1 }).await;
    let stopping = tokio::spawn(node.shutdown());
    let err = tokio::time::timeout(WAIT, session_end(&mut p)).await.unwrap();
    assert!(matches!(err, P2PError::Disconnected(DisconnectReason::ClientQuitting)), "{err}");
    assert!(closed_within(&mut pending, WAIT).await, "a handshake outlived the node");
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    let _: SocketAddr = h.info().enode.tcp_addr();
}

/// Issue 11: a peer that sends its auth one byte at a time cannot stretch the handshake: the
/// timeout covers the whole exchange, so the node closes it long before the auth is complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_auth_cannot_extend_the_handshake_timeout() {
    use tokio::io::AsyncWriteExt;
    let node = Node::start(NodeConfig { handshake_timeout: Duration::from_secs(1), ..config() })
        .await
        .unwrap();
    let mut init = wisp_rlpx::handshake::Initiator::new(
        SecretKey::random(),
        node.enode().id,
        wisp_rlpx::handshake::HandshakeRandomness::generate(),
    )
    .unwrap();
    let auth = init.auth(wisp_rlpx::handshake::HandshakeFormat::Eip8);
    let mut tcp = idle(&node).await;
    // At one byte per 100 ms the auth would take auth.len() / 10 seconds (over 30 s).
    let mut sent = 0;
    for b in &auth {
        if tcp.write_all(&[*b]).await.is_err() {
            break;
        }
        sent += 1;
        if closed_within(&mut tcp, Duration::from_millis(100)).await {
            break;
        }
    }
    assert!(sent < auth.len(), "the node waited for the whole trickled auth");
    node.shutdown().await;
}
