//! `wakuext_syncChatFromSyncedFrom` on real nodes over loopback: a mailserver's archive holds
//! a public chat's messages from 30 hours ago; a node whose history covers only the last 24
//! hours steps a day back and gets them, and its fetched range moves back by a day. Unknown
//! chats and a node without a mailserver are errors that name the chat. The history progress
//! can be polled (`wakuext_historyProgress`).

use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use wisp_crypto::{SecretKey, random_bytes};
use wisp_mailserver::{ArchiveSpec, ArchivedEnvelope, SqliteStore, Store};
use wisp_messenger::{Config, Output};
use wisp_node::{MailserverConfig, Node, NodeConfig, Role, SYNC_BACK_SECS};
use wisp_waku::{Envelope, MessageParams, SealBudget, seal_payload};

use {
    alloy_rlp as _, base64 as _, bytes as _, hex as _, proptest as _, serde as _, thiserror as _,
    tokio as _, toml as _, tracing as _, wisp_accounts as _, wisp_rlpx as _,
};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, jsonrpsee as _, tower as _};

mod common;
use common::{
    chat::{call, chat_config, client, ok},
    now_secs, temp_dir,
};

const ROOM: &str = "sync-back-room";
/// How old the archived messages are.
const AGE_SECS: u32 = 30 * 60 * 60;

/// Envelopes carrying `texts` in public chat [`ROOM`], posted by a messenger of its own at
/// `sent` (Unix seconds), as the node's driver would seal them.
fn old_envelopes(sent: u32, texts: &[&str]) -> Vec<Envelope> {
    let key = SecretKey::random();
    let dir = temp_dir("sync-back-author");
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = wisp_messenger::open_sqlite(
        &dir.join("m.sqlite"),
        key.clone(),
        "author",
        Config::default(),
        StdRng::from_seed(random_bytes()),
    )
    .unwrap();
    let now_ms = u64::from(sent) * 1000;
    m.start(now_ms).unwrap();
    m.join_public_chat(ROOM).unwrap();
    m.drain_outputs();
    for (i, text) in texts.iter().enumerate() {
        m.send_public_text(ROOM, text, now_ms + i as u64).unwrap();
    }
    let mut envelopes = Vec::new();
    for out in m.drain_outputs() {
        let Output::Post(out) = out else { continue };
        let params = MessageParams::new(out.payload).signed_by(key.clone());
        let data = seal_payload(&params, &out.encryption).unwrap();
        let mut env = Envelope {
            expiry: sent + out.ttl,
            ttl: out.ttl,
            topic: out.topic,
            data: data.into(),
            nonce: 0,
        };
        let mut go = || true;
        assert!(
            env.seal(out.pow_target, SealBudget { max_attempts: 1 << 24, keep_going: &mut go })
                .reached
        );
        envelopes.push(env);
    }
    assert_eq!(envelopes.len(), texts.len(), "one envelope per message");
    envelopes
}

/// The texts of the newest 100 messages of [`ROOM`], newest first.
async fn texts(c: &jsonrpsee::http_client::HttpClient) -> Vec<String> {
    let page = ok(c, "wakuext_chatMessages", vec![json!(ROOM), json!(""), json!(100)]).await;
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_back_brings_older_messages_from_the_mailserver() {
    // The mailserver's archive: two messages from 30 h ago.
    let archive = temp_dir("sync-back-archive").join("archive.sqlite");
    std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let sent = now_secs() - AGE_SECS;
    let envelopes = old_envelopes(sent, &["thirty hours ago 1", "thirty hours ago 2"]);
    {
        let store = SqliteStore::open(&archive).unwrap();
        let archived: Vec<ArchivedEnvelope> = envelopes.iter().map(ArchivedEnvelope::new).collect();
        assert_eq!(store.put(&archived).await.unwrap(), 2);
    }
    let mailserver = Node::start(NodeConfig {
        mailserver: MailserverConfig {
            archive: ArchiveSpec::SqliteAt(archive.clone()),
            ..Default::default()
        },
        ..chat_config("sync-back-ms", None, Role::Mailserver)
    })
    .await
    .unwrap();

    // The node fetches the last 24 h (the default) when it joins: nothing.
    let key = SecretKey::random();
    let node = Node::start(NodeConfig {
        trusted_nodes: vec![mailserver.enode()],
        ..chat_config("sync-back-node", Some(&key), Role::Relay)
    })
    .await
    .unwrap();
    let c = client(&node);
    ok(&c, "wakuext_createPublicChat", vec![json!({"id": ROOM})]).await;
    let first = ok(&c, "wakuext_requestAllHistoricMessages", vec![]).await;
    assert_eq!(first["history"]["mailservers"], 1, "{first}");
    assert_eq!(first["history"]["failed"], 0, "{first}");
    assert!(texts(&c).await.is_empty());
    // HTTP clients poll the progress the `history.progress` subscription sends.
    let p = ok(&c, "wakuext_historyProgress", vec![]).await;
    assert_eq!(p["running"], false, "{p}");
    assert_eq!(p["topicsDone"], p["topicsTotal"], "{p}");
    assert!(p["topicsTotal"].as_u64().unwrap() >= 1 && p["rounds"].as_u64().unwrap() >= 1, "{p}");

    // A day back from where the fetched range starts.
    let before = now_secs();
    let r = ok(&c, "wakuext_syncChatFromSyncedFrom", vec![json!(ROOM)]).await;
    let (from, to) = (r["syncedFrom"].as_u64().unwrap(), r["syncedTo"].as_u64().unwrap());
    assert_eq!(r["envelopes"], 2, "{r}");
    assert!(to >= u64::from(before) - 5 && to <= u64::from(now_secs()), "{r}");
    // The range started about 24 h ago (when the node joined); it now starts a day earlier.
    let day = u64::from(SYNC_BACK_SECS);
    assert!(from <= u64::from(before) - 2 * day + 5, "{r}");
    assert!(from >= u64::from(before) - 2 * day - 120, "{r}");
    assert!(from < u64::from(sent), "{r}");
    // Stored by the time the call answers.
    assert_eq!(texts(&c).await, ["thirty hours ago 2", "thirty hours ago 1"]);

    // The next step starts where this one ended: nothing more, the range moves back again.
    let again = ok(&c, "wakuext_syncChatFromSyncedFrom", vec![json!(ROOM)]).await;
    assert_eq!(again["envelopes"], 0, "{again}");
    assert_eq!(again["syncedFrom"].as_u64().unwrap(), from - day, "{again}");
    assert_eq!(texts(&c).await.len(), 2);

    let err = call(&c, "wakuext_syncChatFromSyncedFrom", vec![json!("nowhere")]).await.unwrap_err();
    assert!(err.contains("\"nowhere\""), "{err}");
    node.shutdown().await;
    mailserver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_mailserver_the_error_names_the_chat() {
    let key = SecretKey::random();
    let node = Node::start(chat_config("sync-back-alone", Some(&key), Role::Relay)).await.unwrap();
    let c = client(&node);
    ok(&c, "wakuext_createPublicChat", vec![json!({"id": ROOM})]).await;
    let err = call(&c, "wakuext_syncChatFromSyncedFrom", vec![json!(ROOM)]).await.unwrap_err();
    assert!(err.contains(ROOM) && err.contains("mailserver"), "{err}");
    let err = call(&c, "wakuext_syncChatFromSyncedFrom", vec![json!("")]).await.unwrap_err();
    assert!(err.contains("chatID"), "{err}");
    let _: Value = ok(&c, "wakuext_chats", vec![]).await;
    node.shutdown().await;
}
