//! On loopback: two wisp nodes and a wisp mailserver. A light node is offline while messages
//! flow (some expire meanwhile), comes back, asks the mailserver for history and receives all
//! of them and only its topics.

use std::time::Duration;

use wisp_crypto::{Zeroizing, symmetric_key_from_password};
use wisp_node::{ArchiveSpec, HistoryQuery, MailserverConfig, Node, NodeConfig, NodeHandle, Role};
use wisp_waku::{
    Encryption, Envelope, Filter, FilterKey, MessageParams, RouterConfig, SealBudget, Topic,
    seal_payload,
};

use {
    alloy_rlp as _, base64 as _, bytes as _, hex as _, jsonrpsee as _, proptest as _, serde as _,
    serde_json as _, thiserror as _, tokio as _, toml as _, tracing as _, wisp_mailserver as _,
    wisp_rlpx as _,
};
// The messenger's dependencies (wisp-node runs it with a chat account).
use {rand as _, wisp_accounts as _, wisp_messenger as _};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::{now_secs, temp_dir, wait_until};

const MINE: Topic = Topic([0xaa, 0xbb, 0xcc, 0xdd]);
const OTHER: Topic = Topic([0x11, 0x22, 0x33, 0x44]);

fn config(role: Role, archive: ArchiveSpec) -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir("mailserver"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: None,
        role,
        mailserver: MailserverConfig { archive, ..Default::default() },
        waku: wisp_node::WakuConfig { router: RouterConfig::default() },
        ..Default::default()
    }
}

fn chat_key() -> Zeroizing<[u8; 32]> {
    Zeroizing::new([0x77; 32])
}

fn envelope(topic: Topic, text: &str, ttl: u32) -> Envelope {
    let data = seal_payload(
        &MessageParams::new(text.as_bytes().to_vec()),
        &Encryption::Symmetric(chat_key()),
    )
    .unwrap();
    let mut env = Envelope { expiry: now_secs() + ttl, ttl, topic, data: data.into(), nonce: 0 };
    let mut go = || true;
    assert!(env.seal(0.002, SealBudget { max_attempts: 1 << 22, keep_going: &mut go }).reached);
    env
}

async fn link(a: &NodeHandle, b: &Node) {
    a.add_peer(b.enode()).unwrap();
    let id = b.enode().id;
    wait_until("link", || async { a.peers().await.unwrap().iter().any(|p| p.id == id) }).await;
}

async fn offline_light_node_catches_up(archive: ArchiveSpec) {
    let mailserver = Node::start(config(Role::Mailserver, archive)).await.unwrap();
    let relay = Node::start(config(Role::Relay, ArchiveSpec::Memory)).await.unwrap();
    let ms = mailserver.handle();
    link(&relay.handle(), &mailserver).await;

    // Messages flow while the light node is offline; the short-lived ones expire meanwhile.
    let r = relay.handle();
    for i in 0..4 {
        r.post(envelope(MINE, &format!("mine {i}"), 60)).await.unwrap().unwrap();
        r.post(envelope(OTHER, &format!("other {i}"), 60)).await.unwrap().unwrap();
    }
    for i in 0..2 {
        r.post(envelope(MINE, &format!("mine short-lived {i}"), 2)).await.unwrap().unwrap();
    }
    wait_until("the archive", || async {
        ms.metrics().total("wisp_archived_envelopes_total") == 10
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The light node comes online, listens on its topic and asks for history.
    let light = Node::start(config(Role::Light, ArchiveSpec::Memory)).await.unwrap();
    let l = light.handle();
    let filter = l
        .install_filter(Filter {
            key: FilterKey::Symmetric(chat_key()),
            topics: vec![MINE],
            min_pow: 0.0,
            signer: None,
            allow_p2p: true,
        })
        .await
        .unwrap();
    link(&l, &mailserver).await;
    let mut pages_seen = Vec::new();
    let outcome = l
        .request_history(
            mailserver.enode().id,
            HistoryQuery::topics(vec![MINE], now_secs() - 3600, now_secs() + 60),
            symmetric_key_from_password(wisp_mailserver::request::DEFAULT_MAILSERVER_PASSWORD),
            Duration::from_secs(10),
            |received, pages| pages_seen.push((received, pages)),
        )
        .await
        .unwrap();
    assert_eq!(outcome.received, 6, "every envelope on its topic, expired ones too");
    assert!(!pages_seen.is_empty());

    let mut texts: Vec<String> = l
        .filter_messages(filter)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|m| {
            // The expired ones can only have come from the mailserver; the others may also
            // arrive relayed from its pool, but each reaches the filter once.
            if m.ttl == 2 {
                assert!(m.p2p, "an expired envelope came directly from the mailserver");
            }
            String::from_utf8(m.payload).unwrap()
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        ["mine 0", "mine 1", "mine 2", "mine 3", "mine short-lived 0", "mine short-lived 1"]
    );
    assert_eq!(ms.metrics().get("wisp_history_requests_total", "outcome=\"served\""), 1);
    for n in [light, relay, mailserver] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_light_node_catches_up_from_a_sqlite_mailserver() {
    offline_light_node_catches_up(ArchiveSpec::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_light_node_catches_up_from_a_postgres_mailserver() {
    match std::env::var("WISP_TEST_POSTGRES_URL") {
        Ok(url) => offline_light_node_catches_up(ArchiveSpec::Postgres(url)).await,
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL cases: set WISP_TEST_POSTGRES_URL (.ci/run does)")
        }
        Err(_) => eprintln!("skipped: set WISP_TEST_POSTGRES_URL to run against PostgreSQL"),
    }
}
