//! Nodes for the discovery tests: their config, a start that retries a taken UDP port, pool
//! metrics, a bounded wait over many nodes, and the mailserver history steps the "a light node
//! finds a mailserver" tests share.

use std::time::{Duration, Instant};

use wisp_crypto::{NodeId, symmetric_key_from_password};
use wisp_node::{
    DiscoveryConfig, HistoryOutcome, HistoryQuery, Node, NodeConfig, NodeError, NodeHandle, Role,
};
use wisp_waku::{Encryption, Envelope, MessageParams, SealBudget, Topic, seal_payload};

use super::{now_secs, temp_dir, wait_until};

/// How long the discovery tests wait for nodes to reach their limits. Generous: CI is two
/// slow cores shared by many builds.
pub(crate) const DEADLINE: Duration = Duration::from_secs(90);

/// A node on 127.0.0.1 (port from :0) with RPC off, `role` and `discovery`; its data
/// directory is a fresh one named after the test file.
pub(crate) fn config(role: Role, discovery: DiscoveryConfig) -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir(env!("CARGO_CRATE_NAME")),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: None,
        role,
        discovery,
        ..NodeConfig::default()
    }
}

/// Starts a node, retrying (up to 10 times) when the UDP port its discovery takes next to its
/// TCP port (legacy discovery or discv5) is taken.
pub(crate) async fn start(cfg: NodeConfig) -> Node {
    for _ in 0..10 {
        match Node::start(cfg.clone()).await {
            Ok(n) => return n,
            Err(NodeError::Bind { what: "discovery" | "discv5", .. }) => continue,
            Err(e) => panic!("node did not start: {e}"),
        }
    }
    panic!("no free UDP port next to a TCP port");
}

/// The discovery pool's peer count for `topic`.
pub(crate) fn pool_peers(h: &NodeHandle, topic: &str) -> i64 {
    h.metrics().get("wisp_discovery_pool_peers", &format!("topic=\"{topic}\""))
}

/// Polls every 50 ms until `f` holds for every handle; returns the time it took. Fails the
/// test after [`DEADLINE`].
pub(crate) async fn wait_all(
    what: &str,
    handles: &[NodeHandle],
    f: impl Fn(&NodeHandle) -> bool,
) -> Duration {
    let t0 = Instant::now();
    loop {
        if handles.iter().all(&f) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An envelope on `topic` carrying `text` (symmetric key 0x33…, TTL 300 s), sealed to PoW
/// 0.002.
pub(crate) fn envelope(topic: Topic, text: &str) -> Envelope {
    let data = seal_payload(
        &MessageParams::new(text.as_bytes().to_vec()),
        &Encryption::Symmetric(wisp_crypto::Zeroizing::new([0x33; 32])),
    )
    .unwrap();
    let ttl = 300;
    let mut env = Envelope { expiry: now_secs() + ttl, ttl, topic, data: data.into(), nonce: 0 };
    let mut go = || true;
    assert!(env.seal(0.002, SealBudget { max_attempts: 1 << 22, keep_going: &mut go }).reached);
    env
}

/// Waits until `relay` peers with `mail`, posts three envelopes on `topic` from the relay,
/// and waits until the mailserver has archived (at least) three.
pub(crate) async fn archive_three(relay: &Node, mail: &Node, topic: Topic) {
    let (r, ms) = (relay.handle(), mail.handle());
    let mail_id = mail.enode().id;
    wait_until("the relay peers with the mailserver", || async {
        r.peers().await.unwrap().iter().any(|p| p.id == mail_id)
    })
    .await;
    for i in 0..3 {
        r.post(envelope(topic, &format!("before the light node {i}"))).await.unwrap().unwrap();
    }
    wait_until("the archive", || async {
        ms.metrics().total("wisp_archived_envelopes_total") >= 3
    })
    .await;
}

/// Asks the mailserver `mail_id` (with the default mailserver password) for the last hour of
/// `topic`, 10 s per page; the request must succeed.
pub(crate) async fn fetch_history(h: &NodeHandle, mail_id: NodeId, topic: Topic) -> HistoryOutcome {
    h.request_history(
        mail_id,
        HistoryQuery::topics(vec![topic], now_secs() - 3600, now_secs() + 60),
        symmetric_key_from_password(wisp_mailserver::request::DEFAULT_MAILSERVER_PASSWORD),
        Duration::from_secs(10),
        |_, _| {},
    )
    .await
    .unwrap()
}
