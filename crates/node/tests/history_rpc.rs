//! `wakuext_requestMessages` against real nodes on loopback: a mailserver archives what a
//! relay posts on two topics; a client asks it for one topic's history through its JSON-RPC
//! and reads exactly that topic's messages from a filter that allows P2P. Bad requests are
//! errors that name the field.

use std::time::Duration;

use jsonrpsee::{
    core::{ClientError, client::ClientT, params::ArrayParams},
    http_client::{HttpClient, HttpClientBuilder},
};
use serde_json::{Value, json};
use wisp_crypto::symmetric_key_from_password;
use wisp_node::{ArchiveSpec, MailserverConfig, Node, NodeConfig, Role};
use wisp_waku::{Encryption, Envelope, MessageParams, SealBudget, Topic, seal_payload};

use {
    alloy_rlp as _, base64 as _, bytes as _, hex as _, proptest as _, serde as _, thiserror as _,
    tokio as _, toml as _, tracing as _, wisp_mailserver as _, wisp_rlpx as _,
};
// The messenger's dependencies (wisp-node runs it with a chat account).
use {rand as _, wisp_accounts as _, wisp_messenger as _};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::{now_secs, temp_dir, wait_until};

const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "wisp-history-rpc";
const MINE: Topic = Topic([0xaa, 0xbb, 0xcc, 0xdd]);
const OTHER: Topic = Topic([0x11, 0x22, 0x33, 0x44]);

fn config(role: Role, rpc: bool) -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir("history-rpc"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: rpc.then(|| "127.0.0.1:0".parse().unwrap()),
        role,
        mailserver: MailserverConfig { archive: ArchiveSpec::Memory, ..Default::default() },
        redial_min: Duration::from_millis(200),
        ..Default::default()
    }
}

fn envelope(topic: Topic, text: &str) -> Envelope {
    let key = symmetric_key_from_password(PASSWORD);
    let data =
        seal_payload(&MessageParams::new(text.as_bytes().to_vec()), &Encryption::Symmetric(key))
            .unwrap();
    let mut env =
        Envelope { expiry: now_secs() + 120, ttl: 120, topic, data: data.into(), nonce: 0 };
    let mut go = || true;
    assert!(env.seal(0.002, SealBudget { max_attempts: 1 << 22, keep_going: &mut go }).reached);
    env
}

async fn call(client: &HttpClient, method: &str, params: Vec<Value>) -> Result<Value, String> {
    let mut array = ArrayParams::new();
    for p in params {
        array.insert(p).unwrap();
    }
    match client.request::<Value, _>(method, array).await {
        Ok(v) => Ok(v),
        Err(ClientError::Call(e)) => Err(e.message().to_owned()),
        Err(e) => panic!("{method}: transport error {e}"),
    }
}

fn hex_topic(t: Topic) -> String {
    format!("0x{}", hex::encode(t.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_fetches_one_topics_history_over_json_rpc() {
    let mailserver = Node::start(config(Role::Mailserver, false)).await.unwrap();
    let relay = Node::start(config(Role::Relay, false)).await.unwrap();
    let client_node = Node::start(config(Role::Relay, true)).await.unwrap();
    let (ms, r) = (mailserver.handle(), relay.handle());
    let ms_id = mailserver.enode().id;
    r.add_peer(mailserver.enode()).unwrap();
    wait_until("relay-mailserver link", || async {
        r.peers().await.unwrap().iter().any(|p| p.id == ms_id)
    })
    .await;
    for i in 0..3 {
        r.post(envelope(MINE, &format!("mine {i}"))).await.unwrap().unwrap();
    }
    for i in 0..2 {
        r.post(envelope(OTHER, &format!("other {i}"))).await.unwrap().unwrap();
    }
    wait_until("the archive", || async {
        ms.metrics().total("wisp_archived_envelopes_total") == 5
    })
    .await;

    let url = format!("http://{}", client_node.rpc_addr().unwrap());
    let client = HttpClientBuilder::default().request_timeout(WAIT).build(url).unwrap();
    let enode = mailserver.enode().to_string();
    let request = |extra: Value| {
        let mut r = json!({
            "mailServerPeer": enode,
            "from": now_secs() - 3600,
            "to": now_secs() + 60,
            "topics": [hex_topic(MINE)],
            "timeout": 10,
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };

    // Not a peer yet.
    let err = call(&client, "wakuext_requestMessages", vec![request(json!({}))]).await.unwrap_err();
    assert!(err.contains("is not a connected peer: add it with admin_addPeer"), "{err}");
    assert!(err.contains(&enode), "{err}");
    // Bad requests name the field.
    for (extra, says) in [
        (json!({ "mailServerPeer": "enode://abcd@1.2.3.4:1" }), "MessagesRequest.mailServerPeer"),
        (json!({ "mailServerPeer": null }), "MessagesRequest.mailServerPeer is required"),
        (json!({ "symKeyID": "ab".repeat(32) }), "no symmetric key with id"),
        (json!({ "from": 200, "to": 100 }), "MessagesRequest.from (200) is after"),
        (json!({ "topics": ["0x1234"] }), "MessagesRequest.topics[0]"),
        (json!({ "topics": ["0xzz345678"] }), "MessagesRequest.topics[0]"),
        (json!({ "topics": [] }), "MessagesRequest.topics"),
        (json!({ "topics": vec!["0x01020304"; 1001] }), "MessagesRequest.topics (count)"),
        (json!({ "limit": 0 }), "MessagesRequest.limit"),
        (json!({ "timeout": "x" }), "MessagesRequest.timeout"),
        (json!({ "cursor": "0xz" }), "MessagesRequest.cursor"),
    ] {
        let err = call(&client, "wakuext_requestMessages", vec![request(extra.clone())])
            .await
            .unwrap_err();
        assert!(err.contains(says), "{extra}: {err}");
    }

    call(&client, "admin_addPeer", vec![json!(enode)]).await.unwrap();
    wait_until("client-mailserver link", || async {
        let peers = call(&client, "admin_peers", vec![]).await.unwrap();
        peers.as_array().unwrap().iter().any(|p| p["enode"] == json!(enode))
    })
    .await;
    let key =
        call(&client, "waku_generateSymKeyFromPassword", vec![json!(PASSWORD)]).await.unwrap();
    let filter = call(
        &client,
        "waku_newMessageFilter",
        vec![json!({ "symKeyID": key, "topics": [hex_topic(MINE)], "allowP2P": true })],
    )
    .await
    .unwrap();

    let result = call(&client, "wakuext_requestMessages", vec![request(json!({ "force": true }))])
        .await
        .unwrap();
    assert_eq!(result["envelopes"], json!(3), "{result}");
    assert!(result["pages"].as_u64().unwrap() >= 1, "{result}");
    assert_eq!(result["requestId"], Value::Null);
    assert!(result.get("error").is_none(), "{result}");

    let messages = call(&client, "waku_getFilterMessages", vec![filter]).await.unwrap();
    let mut texts: Vec<String> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["topic"], json!(hex_topic(MINE)));
            let payload = m["payload"].as_str().unwrap().trim_start_matches("0x");
            String::from_utf8(hex::decode(payload).unwrap()).unwrap()
        })
        .collect();
    texts.sort();
    assert_eq!(texts, ["mine 0", "mine 1", "mine 2"]);

    // The default password's key and the default range work too (a second page-less pass).
    let result = call(
        &client,
        "wakuext_requestMessages",
        vec![json!({ "mailServerPeer": enode, "topics": [hex_topic(OTHER)] })],
    )
    .await
    .unwrap();
    assert_eq!(result["envelopes"], json!(2), "{result}");

    for n in [client_node, relay, mailserver] {
        n.shutdown().await;
    }
}
