//! Nodes on loopback (ports from :0) relaying over real RLPx: a line of three, a light
//! client, bloom and topic interest, relay-once, dropped envelopes in the metrics, and a
//! flooding peer that is dropped while the others keep receiving.

use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use wisp_crypto::{SecretKey, Zeroizing};
use wisp_node::{
    Node, NodeConfig, NodeHandle, Role,
    test_utils::{raw_waku_peer, session_end},
};
use wisp_rlpx::P2PStream;
use wisp_waku::{
    Bloom, Encryption, Envelope, Filter, FilterKey, MessageParams, RouterConfig, SealBudget,
    StatusOptions, Topic, WakuPacket,
    packets::{WAKU_NAME, waku_codes},
    ratelimit::{Limit, RateLimitConfig},
    seal_payload,
};

use {
    alloy_rlp as _, base64 as _, hex as _, jsonrpsee as _, proptest as _, serde as _,
    serde_json as _, thiserror as _, toml as _, tracing as _, wisp_mailserver as _,
};
// The messenger's dependencies (wisp-node runs it with a chat account).
use {rand as _, wisp_accounts as _, wisp_messenger as _};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::{now_secs, temp_dir, wait_until};

const WAIT: Duration = Duration::from_secs(20);
const TA: Topic = Topic([0x12, 0x34, 0x56, 0x78]);
const TB: Topic = Topic([0xde, 0xad, 0xbe, 0xef]);

fn config(router: RouterConfig) -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir("network"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: None,
        waku: wisp_node::WakuConfig { router },
        redial_min: Duration::from_millis(200),
        ..Default::default()
    }
}

fn sym_key() -> Zeroizing<[u8; 32]> {
    Zeroizing::new([0x42; 32])
}

fn envelope(topic: Topic, text: &str, sent: u32, ttl: u32, pow: f64) -> Envelope {
    let data = seal_payload(
        &MessageParams::new(text.as_bytes().to_vec()),
        &Encryption::Symmetric(sym_key()),
    )
    .unwrap();
    let mut env = Envelope { expiry: sent + ttl, ttl, topic, data: data.into(), nonce: 0 };
    let mut go = || true;
    assert!(env.seal(pow, SealBudget { max_attempts: 1 << 24, keep_going: &mut go }).reached);
    env
}

fn filter(topic: Topic) -> Filter {
    Filter {
        key: FilterKey::Symmetric(sym_key()),
        topics: vec![topic],
        min_pow: 0.0,
        signer: None,
        allow_p2p: false,
    }
}

async fn wait_peers(h: &NodeHandle, n: usize) {
    wait_until(&format!("{n} peers"), || async { h.peers().await.unwrap().len() >= n }).await;
}

async fn connect(a: &Node, b: &Node) {
    b.handle().add_peer(a.enode()).unwrap();
    let (ha, hb) = (a.handle(), b.handle());
    let (ida, idb) = (ha.info().id, hb.info().id);
    wait_until("link", || async {
        ha.peers().await.unwrap().iter().any(|p| p.id == idb)
            && hb.peers().await.unwrap().iter().any(|p| p.id == ida)
    })
    .await;
}

async fn accepted(h: &NodeHandle) -> u64 {
    h.stats().await.unwrap().0.accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_of_three_relays_each_envelope_once() {
    let a = Node::start(config(RouterConfig::default())).await.unwrap();
    let b = Node::start(config(RouterConfig::default())).await.unwrap();
    // C dials B as a static node (redialled with backoff), B dials A.
    let c = Node::start(NodeConfig {
        static_nodes: vec![b.enode()],
        ..config(RouterConfig::default())
    })
    .await
    .unwrap();
    connect(&a, &b).await;
    wait_peers(&c.handle(), 1).await;
    wait_peers(&b.handle(), 2).await;

    let f = c.handle().install_filter(filter(TA)).await.unwrap();
    let hash = a
        .handle()
        .post(envelope(TA, "along the line", now_secs(), 60, 0.002))
        .await
        .unwrap()
        .unwrap();
    let hc = c.handle();
    let deadline = tokio::time::Instant::now() + WAIT;
    let got = loop {
        let got = hc.filter_messages(f).await.unwrap().unwrap();
        if !got.is_empty() {
            break got;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for the message at C");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(got[0].payload, b"along the line");
    assert_eq!(got[0].hash, hash);

    // Give a few transmission cycles for any duplicate to show up, then count.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for (name, node) in [("a", &a), ("b", &b), ("c", &c)] {
        assert_eq!(accepted(&node.handle()).await, 1, "node {name} pooled it once");
    }
    let relayed = |n: &Node| n.handle().metrics().total("wisp_envelopes_relayed_total");
    assert_eq!(relayed(&a), 1, "A sent it to B only");
    assert_eq!(relayed(&b), 1, "B sent it to C only, not back to A");
    assert_eq!(relayed(&c), 0, "C had no one else to send it to");
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn light_client_gets_only_its_topics_and_bloom_is_honoured() {
    let a = Node::start(config(RouterConfig::default())).await.unwrap();
    let light = Node::start(NodeConfig { role: Role::Light, ..config(RouterConfig::default()) })
        .await
        .unwrap();
    let bloomy = Node::start(config(RouterConfig { bloom: TA.bloom(), ..Default::default() }))
        .await
        .unwrap();
    let fl = light.handle().install_filter(filter(TB)).await.unwrap();
    connect(&a, &light).await;
    connect(&a, &bloomy).await;
    // The light client's topic interest (from its filter) reaches A.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ha = a.handle();
    ha.post(envelope(TA, "topic a", now_secs(), 60, 0.002)).await.unwrap().unwrap();
    ha.post(envelope(TB, "topic b", now_secs(), 60, 0.002)).await.unwrap().unwrap();
    let hl = light.handle();
    wait_until("the light client's message", || async { accepted(&hl).await >= 1 }).await;
    let hb = bloomy.handle();
    wait_until("the bloom node's message", || async { accepted(&hb).await >= 1 }).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(accepted(&hl).await, 1, "light client got only its topic");
    assert_eq!(hl.filter_messages(fl).await.unwrap().unwrap()[0].payload, b"topic b");
    assert_eq!(accepted(&hb).await, 1, "bloom node got only what its bloom matches");
    assert!(!Bloom::from_topic(&TA).matches(&TB));
    for n in [a, light, bloomy] {
        n.shutdown().await;
    }
}

/// A raw `waku/1` peer: RLPx + Hello + Status by hand.
async fn raw_peer(node: &Node) -> P2PStream<TcpStream> {
    raw_peer_with(node, &SecretKey::random()).await
}

async fn raw_peer_with(node: &Node, key: &SecretKey) -> P2PStream<TcpStream> {
    raw_waku_peer(node.enode(), key, "raw-test-peer").await.unwrap()
}

fn messages(envs: Vec<Envelope>) -> Vec<u8> {
    let mut p = Vec::new();
    WakuPacket::Messages(envs).encode(&mut p);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_envelopes_are_dropped_and_counted() {
    // Envelopes above 64 KiB are refused; packets up to the 1 MiB packet size still reach the
    // router (a larger packet is refused by the transport before it is read, see
    // tests/transport.rs), so an oversized envelope is counted and its sender stays.
    let a = Node::start(config(RouterConfig {
        min_pow: 0.001,
        max_envelope_size: 64 * 1024,
        ..Default::default()
    }))
    .await
    .unwrap();
    let mut peer = raw_peer(&a).await;
    wait_peers(&a.handle(), 1).await;
    let now = now_secs();
    let expired = envelope(TA, "expired", now - 100, 30, 0.002);
    let future = envelope(TA, "from the future", now + 3600, 30, 0.002);
    let low = {
        let mut e = envelope(TA, "low pow", now, 30, 0.0);
        while e.pow() >= 0.001 {
            e.nonce += 1;
        }
        e
    };
    let mut big = envelope(TA, "big", now, 30, 0.0);
    big.data = Bytes::from(vec![0u8; 100_000]);
    let good = envelope(TA, "good", now, 30, 0.002);
    peer.send_capability(
        WAKU_NAME,
        waku_codes::MESSAGES,
        &messages(vec![expired, future, low, good]),
    )
    .await
    .unwrap();
    let h = a.handle();
    wait_until("the good envelope", || async { accepted(&h).await == 1 }).await;
    let m = h.metrics();
    for reason in ["expired", "future", "low_pow"] {
        assert_eq!(
            m.get("wisp_envelopes_dropped_total", &format!("reason=\"{reason}\"")),
            1,
            "{reason}"
        );
    }
    // An oversized envelope is dropped and counted; its sender stays connected.
    peer.send_capability(WAKU_NAME, waku_codes::MESSAGES, &messages(vec![big])).await.unwrap();
    wait_until("the oversized envelope counted", || async {
        m.get("wisp_envelopes_dropped_total", "reason=\"too_big\"") == 1
    })
    .await;
    assert_eq!(h.peers().await.unwrap().len(), 1);
    assert_eq!(accepted(&h).await, 1);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_dropped_and_the_others_keep_receiving() {
    let strict = RouterConfig {
        peer_limits: RateLimitConfig {
            packets: Limit { per_second: 20, tolerance: 1.0 },
            bytes: Limit::OFF,
        },
        ..Default::default()
    };
    let a = Node::start(config(strict)).await.unwrap();
    let b = Node::start(config(RouterConfig::default())).await.unwrap();
    connect(&a, &b).await;
    let fb = b.handle().install_filter(filter(TA)).await.unwrap();
    let mut flooder = raw_peer(&a).await;
    wait_peers(&a.handle(), 2).await;
    let mut update = Vec::new();
    WakuPacket::StatusUpdate(StatusOptions::default()).encode(&mut update);
    for _ in 0..200 {
        if flooder.send_capability(WAKU_NAME, waku_codes::STATUS_UPDATE, &update).await.is_err() {
            break;
        }
    }
    let h = a.handle();
    wait_until("the flooder dropped", || async {
        h.metrics().total("wisp_rate_limited_peers_total") == 1
    })
    .await;
    // The flooder hears why, and the node keeps serving B.
    let err = tokio::time::timeout(WAIT, session_end(&mut flooder)).await.unwrap();
    assert!(err.to_string().contains("subprotocol"), "{err}");
    h.post(envelope(TA, "still here", now_secs(), 60, 0.002)).await.unwrap().unwrap();
    let hb = b.handle();
    wait_until("B's message", || async { accepted(&hb).await == 1 }).await;
    assert_eq!(hb.filter_messages(fb).await.unwrap().unwrap().len(), 1);
    for n in [a, b] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_offender_is_banned() {
    let a = Node::start(config(RouterConfig::default())).await.unwrap();
    let h = a.handle();
    let key = SecretKey::random();
    // Twice: a malformed Messages packet is a breach of protocol (60 points each).
    for round in 1..=2 {
        let mut p = raw_peer_with(&a, &key).await;
        wait_peers(&h, 1).await;
        // The Status already went out in raw_peer; send garbage as Messages instead.
        p.send_capability(WAKU_NAME, waku_codes::MESSAGES, &[0xc3, 0x01, 0x02, 0x03])
            .await
            .unwrap();
        let err = tokio::time::timeout(WAIT, session_end(&mut p)).await.unwrap();
        assert!(err.to_string().contains("breach of protocol"), "round {round}: {err}");
        wait_until("the peer gone", || async { h.peers().await.unwrap().is_empty() }).await;
    }
    assert_eq!(h.metrics().total("wisp_peers_banned_total"), 1, "{}", h.metrics().render());
    // The third time the node refuses it right after Hello.
    let mut p = raw_peer_with(&a, &key).await;
    let err = tokio::time::timeout(WAIT, session_end(&mut p)).await.unwrap();
    assert!(err.to_string().contains("useless peer"), "{err}");
    // Others are still welcome.
    let _other = raw_peer(&a).await;
    wait_peers(&h, 1).await;
    a.shutdown().await;
}
