//! The messenger inside real nodes on loopback, driven over JSON-RPC (`wakuext_*` with
//! status-go's names and shapes): two accounts chat publicly and 1:1 (delivery states up to
//! `delivered`), page through a chat, get `messages.new` notifications on a WebSocket
//! subscription, fetch a chat's history from a wisp mailserver after joining it, three
//! accounts hold a group chat (create, accept, reply, rename, remove, leave), and bad
//! input is refused with errors that name the field.

use std::time::Duration;

use jsonrpsee::{
    core::{client::SubscriptionClientT, params::ArrayParams},
    http_client::HttpClient,
    ws_client::WsClientBuilder,
};
use serde_json::{Value, json};
use wisp_crypto::SecretKey;
use wisp_node::{Node, NodeConfig, Role};

use {
    alloy_rlp as _, base64 as _, bytes as _, hex as _, proptest as _, rand as _, serde as _,
    thiserror as _, tokio as _, toml as _, tracing as _, wisp_accounts as _, wisp_mailserver as _,
    wisp_messenger as _, wisp_rlpx as _, wisp_waku as _,
};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::{
    WAIT,
    chat::{call, chat_config, client, key_hex, ok},
    wait_until,
};

/// A node with a chat account (or none), RPC on.
fn config(account: Option<&SecretKey>, role: Role) -> NodeConfig {
    chat_config("chat-rpc", account, role)
}

/// status-go's `contentType` of a group chat's system messages.
const SYSTEM_MESSAGE: i64 = 6;

/// The texts of a chat's newest 100 messages but its system messages, newest first.
async fn texts(client: &HttpClient, chat: &str) -> Vec<String> {
    let page = ok(client, "wakuext_chatMessages", vec![json!(chat), json!(""), json!(100)]).await;
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["contentType"] != SYSTEM_MESSAGE)
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The texts of a group chat's system messages, oldest (lowest clock) first.
async fn system_texts(client: &HttpClient, chat: &str) -> Vec<String> {
    let page = ok(client, "wakuext_chatMessages", vec![json!(chat), json!(""), json!(100)]).await;
    let mut out: Vec<(u64, String)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["contentType"] == SYSTEM_MESSAGE)
        .map(|m| {
            assert_eq!(m["messageType"], 4, "SYSTEM_MESSAGE_PRIVATE_GROUP: {m}");
            (m["clock"].as_u64().unwrap(), m["text"].as_str().unwrap().to_owned())
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, t)| t).collect()
}

/// The `outgoingStatus` of message `id` in `chat`.
async fn status(client: &HttpClient, chat: &str, id: &Value) -> String {
    let page = ok(client, "wakuext_chatMessages", vec![json!(chat), json!(""), json!(100)]).await;
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| &m["id"] == id)
        .and_then(|m| m["outgoingStatus"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn connect(a: &Node, b: &Node) {
    let (ha, b_id) = (a.handle(), b.enode().id);
    ha.add_peer(b.enode()).unwrap();
    wait_until("the peers to connect", || async {
        ha.peers().await.unwrap().iter().any(|p| p.id == b_id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_chat_publicly_and_one_to_one() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let a = Node::start(config(Some(&ka), Role::Relay)).await.unwrap();
    let b = Node::start(config(Some(&kb), Role::Relay)).await.unwrap();
    connect(&a, &b).await;
    let (ca, cb) = (client(&a), client(&b));

    // B listens for messages.new on a WebSocket.
    let ws = WsClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("ws://{}", b.rpc_addr().unwrap()))
        .await
        .unwrap();
    let mut params = ArrayParams::new();
    params.insert("messages.new").unwrap();
    let mut sub = ws
        .subscribe::<Value, _>("wakuext_subscribe", params, "wakuext_unsubscribe")
        .await
        .expect("subscribed");

    // A listens too, for its delivery states.
    let ws_a = WsClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("ws://{}", a.rpc_addr().unwrap()))
        .await
        .unwrap();
    let mut params = ArrayParams::new();
    params.insert("messages.new").unwrap();
    let mut sub_a = ws_a
        .subscribe::<Value, _>("wakuext_subscribe", params, "wakuext_unsubscribe")
        .await
        .expect("subscribed");

    // Public chat.
    let started = ok(&ca, "wakuext_startMessenger", vec![]).await;
    assert!(started.is_object(), "{started}");
    for c in [&ca, &cb] {
        let r = ok(c, "wakuext_createPublicChat", vec![json!({"id": "wisp-test"})]).await;
        let chat = &r["chats"][0];
        assert_eq!(
            (&chat["id"], &chat["chatType"], &chat["active"]),
            (&json!("wisp-test"), &json!(2), &json!(true))
        );
        assert!(chat["color"].as_str().unwrap().starts_with('#'));
    }
    let sent = ok(
        &ca,
        "wakuext_sendChatMessage",
        vec![json!({"chatId": "wisp-test", "text": "hello public", "contentType": 1})],
    )
    .await;
    let message = &sent["messages"][0];
    assert_eq!(message["text"], "hello public");
    assert_eq!(message["outgoingStatus"], "sending");
    assert_eq!(message["from"], json!(key_hex(&ka)));
    assert_eq!(message["localChatId"], "wisp-test");
    assert_eq!(message["messageType"], 2, "PUBLIC_GROUP");
    let public_id = message["id"].clone();
    wait_until("B to receive the public message", || async {
        texts(&cb, "wisp-test").await == ["hello public"]
    })
    .await;
    wait_until("A's public message to be sent", || async {
        status(&ca, "wisp-test", &public_id).await == "sent"
    })
    .await;
    // status-go's Message fields, on the receiving side.
    let page =
        ok(&cb, "wakuext_chatMessages", vec![json!("wisp-test"), json!(""), json!(10)]).await;
    let got = &page["messages"][0];
    assert_eq!(got["id"], public_id);
    assert_eq!(got["from"], json!(key_hex(&ka)));
    assert_eq!(got["alias"], json!(wisp_accounts::alias(&ka.public_key())));
    assert!(got["identicon"].as_str().unwrap().starts_with("data:image/png;base64,"));
    assert_eq!(
        (&got["seen"], &got["rtl"], &got["lineCount"]),
        (&json!(false), &json!(false), &json!(0))
    );
    assert!(got.get("outgoingStatus").is_none(), "incoming messages have no outgoingStatus");
    for field in [
        "whisperTimestamp",
        "clock",
        "timestamp",
        "contentType",
        "parsedText",
        "chatId",
        "responseTo",
        "ensName",
        "quotedMessage",
        "sticker",
        "replace",
    ] {
        assert!(got.get(field).is_some(), "Message.{field} missing: {got}");
    }
    assert_eq!(page["cursor"], "");
    let chats = ok(&cb, "wakuext_chats", vec![]).await;
    let chat = chats.as_array().unwrap().iter().find(|c| c["id"] == "wisp-test").unwrap().clone();
    assert_eq!(chat["unviewedMessagesCount"], 1);
    assert_eq!(chat["lastMessage"]["text"], "hello public");
    ok(&cb, "wakuext_markAllRead", vec![json!("wisp-test")]).await;
    let chats = ok(&cb, "wakuext_activeChats", vec![]).await;
    let chat = chats.as_array().unwrap().iter().find(|c| c["id"] == "wisp-test").unwrap().clone();
    assert_eq!(chat["unviewedMessagesCount"], 0);

    // B replies to it; A sees the quote.
    let reply = ok(
        &cb,
        "wakuext_sendChatMessage",
        vec![json!({"chatId": "wisp-test", "text": "re: hello", "responseTo": public_id})],
    )
    .await;
    assert_eq!(
        reply["messages"][0]["quotedMessage"],
        json!({"from": key_hex(&ka), "text": "hello public"})
    );
    wait_until("A to receive the reply", || async {
        texts(&ca, "wisp-test").await.contains(&"re: hello".to_owned())
    })
    .await;
    let page = ok(&ca, "wakuext_chatMessages", vec![json!("wisp-test"), json!(""), json!(1)]).await;
    let got = &page["messages"][0];
    assert_eq!((&got["text"], &got["responseTo"]), (&json!("re: hello"), &public_id));
    assert_eq!(got["quotedMessage"], json!({"from": key_hex(&ka), "text": "hello public"}));

    // The notification.
    let note = loop {
        let n =
            tokio::time::timeout(WAIT, sub.next()).await.expect("a notification").unwrap().unwrap();
        assert_eq!(n["type"], "messages.new");
        if n["event"]["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["text"] == "hello public"))
        {
            break n;
        }
    };
    assert!(note["event"]["chats"].as_array().unwrap().iter().any(|c| c["id"] == "wisp-test"));

    // 1:1: A opens the chat and writes first (DH mode), B replies (ratchet).
    let b_chat = key_hex(&kb);
    let a_chat = key_hex(&ka);
    let r = ok(&ca, "wakuext_createOneToOneChat", vec![json!({"id": b_chat})]).await;
    assert_eq!((&r["chats"][0]["id"], &r["chats"][0]["chatType"]), (&json!(b_chat), &json!(1)));
    assert_eq!(r["chats"][0]["alias"], json!(wisp_accounts::alias(&kb.public_key())));
    let first =
        ok(&ca, "wakuext_sendChatMessage", vec![json!({"chatId": b_chat, "text": "hi B"})]).await;
    let first_id = first["messages"][0]["id"].clone();
    wait_until("B to receive the 1:1 message", || async {
        let chats = ok(&cb, "wakuext_chats", vec![]).await;
        chats.as_array().unwrap().iter().any(|c| c["id"] == json!(a_chat))
            && texts(&cb, &a_chat).await == ["hi B"]
    })
    .await;
    ok(&cb, "wakuext_sendChatMessage", vec![json!({"chatId": a_chat, "text": "hi A"})]).await;
    wait_until("A to receive the reply", || async {
        texts(&ca, &b_chat).await.contains(&"hi A".to_owned())
    })
    .await;
    wait_until("A's 1:1 message to be delivered", || async {
        status(&ca, &b_chat, &first_id).await == "delivered"
    })
    .await;

    // A was told: sending, sent, delivered.
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("delivered") {
        let n = tokio::time::timeout(WAIT, sub_a.next())
            .await
            .expect("a notification")
            .unwrap()
            .unwrap();
        for m in n["event"]["messages"].as_array().into_iter().flatten() {
            if m["id"] == first_id {
                states.push(m["outgoingStatus"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(states.first().map(String::as_str), Some("sending"), "{states:?}");

    // An unsigned envelope on the public chat's topic is dropped and counted.
    let key_id = ok(&ca, "waku_generateSymKeyFromPassword", vec![json!("wisp-test")]).await;
    let topic = format!("0x{}", hex::encode(&wisp_crypto::keccak256(b"wisp-test")[..4]));
    ok(&ca, "waku_post", vec![json!({"symKeyID": key_id, "topic": topic, "payload": "0x0102", "powTarget": 0.002, "powTime": 5})]).await;
    wait_until("the unsigned envelope to be counted", || async {
        b.handle().metrics().get("wisp_chat_messages_dropped_total", "reason=\"unsigned\"") >= 1
    })
    .await;

    // Paging: five more public messages, read two at a time, newest first.
    let batch: Vec<Value> =
        (0..5).map(|i| json!({"chatId": "wisp-test", "text": format!("n{i}")})).collect();
    let r = ok(&ca, "wakuext_sendChatMessages", vec![json!(batch)]).await;
    assert_eq!(r["messages"].as_array().unwrap().len(), 5);
    wait_until("B to receive the batch", || async { texts(&cb, "wisp-test").await.len() == 7 })
        .await;
    let mut cursor = json!("");
    let mut seen = Vec::new();
    for _ in 0..4 {
        let page =
            ok(&cb, "wakuext_chatMessages", vec![json!("wisp-test"), cursor.clone(), json!(2)])
                .await;
        for m in page["messages"].as_array().unwrap() {
            seen.push(m["text"].as_str().unwrap().to_owned());
        }
        cursor = page["cursor"].clone();
        if cursor == "" {
            break;
        }
    }
    assert_eq!(seen, ["n4", "n3", "n2", "n1", "n0", "re: hello", "hello public"]);
    assert!(b.handle().metrics().total("wisp_chat_messages_received_total") >= 7);
    assert!(a.handle().metrics().total("wisp_chat_messages_sent_total") >= 7);
    assert!(a.handle().metrics().total("wisp_chat_acks_total") >= 1);
    let rendered = a.handle().metrics().render();
    assert!(rendered.contains("wisp_chat_messages_sent_total "), "{rendered}");

    sub.unsubscribe().await.unwrap();
    sub_a.unsubscribe().await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chat_input_is_refused_with_clear_errors() {
    let key = SecretKey::random();
    let node = Node::start(config(Some(&key), Role::Relay)).await.unwrap();
    let c = client(&node);
    ok(&c, "wakuext_createPublicChat", vec![json!({"id": "room"})]).await;
    let other = key_hex(&SecretKey::random());
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        ("wakuext_createPublicChat", vec![json!({})], "CreatePublicChat.id is required"),
        ("wakuext_createPublicChat", vec![json!({"id": "two words"})], "CreatePublicChat.id"),
        ("wakuext_createOneToOneChat", vec![json!({"id": "0x1234"})], "is not a chat key"),
        ("wakuext_createOneToOneChat", vec![json!({"id": key_hex(&key)})], "own chat key"),
        ("wakuext_sendChatMessage", vec![json!({"chatId": "room"})], "Message.text is empty"),
        (
            "wakuext_sendChatMessage",
            vec![json!({"chatId": "room", "text": "x".repeat(600 * 1024)})],
            "more than the",
        ),
        ("wakuext_sendChatMessage", vec![json!({"text": "hi"})], "Message.chatId is required"),
        (
            "wakuext_sendChatMessage",
            vec![json!({"chatId": "0xzz", "text": "hi"})],
            "not a 1:1 chat id",
        ),
        (
            "wakuext_sendChatMessage",
            vec![json!({"chatId": "nowhere", "text": "hi"})],
            "unknown chat \"nowhere\"",
        ),
        ("wakuext_sendChatMessage", vec![json!({"chatId": other, "text": "hi"})], "unknown chat"),
        (
            "wakuext_sendChatMessage",
            vec![json!({"chatId": "room", "text": "hi", "contentType": 2})],
            "contentType",
        ),
        (
            "wakuext_sendChatMessage",
            vec![json!({"chatId": "room", "text": "hi", "responseTo": "0x12"})],
            "Message.responseTo",
        ),
        (
            "wakuext_sendChatMessage",
            vec![
                json!({"chatId": "room", "text": "hi", "responseTo": format!("0x{}", "22".repeat(32))}),
            ],
            "unknown message",
        ),
        (
            "wakuext_chatMessages",
            vec![json!("room"), json!("nonsense"), json!(10)],
            "not a chatMessages cursor",
        ),
        ("wakuext_chatMessages", vec![json!("room"), json!(""), json!(0)], "limit"),
        ("wakuext_chatMessages", vec![json!("room"), json!(""), json!(5000)], "limit"),
        ("wakuext_chatMessages", vec![json!("nowhere"), json!(""), json!(5)], "unknown chat"),
        ("wakuext_markMessagesSeen", vec![json!("room"), json!(["0x12"])], "ids[0]"),
        ("wakuext_reSendChatMessage", vec![json!("0x12")], "messageID"),
        (
            "wakuext_reSendChatMessage",
            vec![json!(format!("0x{}", "11".repeat(32)))],
            "unknown message",
        ),
        ("wakuext_deleteMessage", vec![json!(format!("0x{}", "11".repeat(32)))], "unknown message"),
        ("wakuext_sendChatMessages", vec![json!([])], "messages (count)"),
        ("wakuext_deleteChat", vec![json!("nowhere")], "unknown chat"),
    ];
    for (method, params, says) in cases {
        let e = call(&c, method, params.clone()).await.expect_err(method);
        assert!(e.contains(says), "{method} {params:?}: {e:?} should say {says:?}");
    }
    // A deactivated chat takes no messages until joined again.
    let r = ok(&c, "wakuext_deactivateChat", vec![json!({"id": "room"})]).await;
    assert_eq!(r["chats"][0]["active"], false);
    let e = call(&c, "wakuext_sendChatMessage", vec![json!({"chatId": "room", "text": "hi"})])
        .await
        .unwrap_err();
    assert!(e.contains("is not active"), "{e}");
    node.shutdown().await;

    // Without an account.
    let plain = Node::start(config(None, Role::Relay)).await.unwrap();
    let c = client(&plain);
    for method in ["wakuext_chats", "wakuext_startMessenger", "wakuext_requestAllHistoricMessages"]
    {
        let e = call(&c, method, vec![]).await.unwrap_err();
        assert_eq!(e, "this node runs without an account; start it with --account");
    }
    plain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_joined_later_gets_its_history_from_a_mailserver() {
    let mailserver = Node::start(config(None, Role::Mailserver)).await.unwrap();
    let ka = SecretKey::random();
    // A's envelopes live 2 s: B can only get them from the archive.
    let mut a_config = config(Some(&ka), Role::Relay);
    if let Some(chat) = &mut a_config.chat {
        chat.messenger.ttl_secs = 2;
    }
    let a = Node::start(a_config).await.unwrap();
    connect(&a, &mailserver).await;
    let ca = client(&a);
    ok(&ca, "wakuext_createPublicChat", vec![json!({"id": "history-room"})]).await;
    for text in ["before 1", "before 2"] {
        ok(&ca, "wakuext_sendChatMessage", vec![json!({"chatId": "history-room", "text": text})])
            .await;
    }
    let ms = mailserver.handle();
    // A's bundle advertisement and the two messages.
    wait_until("the archive", || async {
        ms.metrics().total("wisp_archived_envelopes_total") >= 3
    })
    .await;
    wait_until("the envelopes to expire from the mailserver's pool", || async {
        ms.stats().await.unwrap().1 == 0
    })
    .await;
    let served = ms.metrics().total("wisp_history_envelopes_served_total");

    // B starts later, trusting the mailserver, and joins the chat.
    let kb = SecretKey::random();
    let b = Node::start(NodeConfig {
        trusted_nodes: vec![mailserver.enode()],
        ..config(Some(&kb), Role::Relay)
    })
    .await
    .unwrap();
    let cb = client(&b);
    let ws = WsClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("ws://{}", b.rpc_addr().unwrap()))
        .await
        .unwrap();
    let mut params = ArrayParams::new();
    params.insert("history.progress").unwrap();
    let mut progress = ws
        .subscribe::<Value, _>("wakuext_subscribe", params, "wakuext_unsubscribe")
        .await
        .expect("subscribed");
    ok(&cb, "wakuext_createPublicChat", vec![json!({"id": "history-room"})]).await;
    let done = loop {
        let n =
            tokio::time::timeout(WAIT, progress.next()).await.expect("progress").unwrap().unwrap();
        assert_eq!(n["type"], "history.progress");
        let p = n["event"].clone();
        if p["running"] == false && p["topicsTotal"].as_u64() >= Some(1) {
            break p;
        }
    };
    assert_eq!(done["topicsDone"], done["topicsTotal"], "{done}");
    assert!(done["envelopes"].as_u64().unwrap() >= 2, "{done}");
    wait_until("B to get the history", || async {
        texts(&cb, "history-room").await == ["before 2", "before 1"]
    })
    .await;
    assert!(ms.metrics().total("wisp_history_envelopes_served_total") >= served + 2);
    let r = ok(&cb, "wakuext_requestAllHistoricMessages", vec![]).await;
    let h = &r["history"];
    assert_eq!(h["running"], false, "{r}");
    assert_eq!(h["topicsDone"], h["topicsTotal"], "{r}");
    assert!(h["topicsTotal"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(h["mailservers"], 1, "{r}");
    assert_eq!(h["failed"], 0, "{r}");
    assert!(r["chats"].as_array().unwrap().iter().any(|c| c["id"] == "history-room"), "{r}");
    // Nothing twice.
    assert_eq!(texts(&cb, "history-room").await.len(), 2);
    b.shutdown().await;
    a.shutdown().await;
    mailserver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_and_messages_survive_a_restart() {
    let key = SecretKey::random();
    let first = config(Some(&key), Role::Relay);
    let data_dir = first.data_dir.clone();
    let node = Node::start(first).await.unwrap();
    let c = client(&node);
    ok(&c, "wakuext_createPublicChat", vec![json!({"id": "kept"})]).await;
    let peer = key_hex(&SecretKey::random());
    ok(&c, "wakuext_createOneToOneChat", vec![json!({"id": peer})]).await;
    let sent =
        ok(&c, "wakuext_sendChatMessage", vec![json!({"chatId": "kept", "text": "still here"})])
            .await;
    let id = sent["messages"][0]["id"].clone();
    wait_until("the message to be sent", || async { status(&c, "kept", &id).await == "sent" })
        .await;
    let installation = std::fs::read_to_string(data_dir.join("installation-id")).unwrap();
    node.shutdown().await;

    let node =
        Node::start(NodeConfig { data_dir: data_dir.clone(), ..config(Some(&key), Role::Relay) })
            .await
            .unwrap();
    let c = client(&node);
    let chats = ok(&c, "wakuext_chats", vec![]).await;
    let mut ids: Vec<&str> =
        chats.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec!["kept", peer.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(texts(&c, "kept").await, ["still here"]);
    assert_eq!(status(&c, "kept", &id).await, "sent");
    assert_eq!(std::fs::read_to_string(data_dir.join("installation-id")).unwrap(), installation);
    // The database is not readable without the account's key.
    let other =
        Node::start(NodeConfig { data_dir, ..config(Some(&SecretKey::random()), Role::Relay) })
            .await;
    let e = other.expect_err("another account cannot open messenger.sqlite").to_string();
    assert!(e.contains("messenger.sqlite") && e.contains("wrong account"), "{e}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_node_with_an_account_chats_through_a_relay() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let relay = Node::start(config(Some(&ka), Role::Relay)).await.unwrap();
    let light = Node::start(config(Some(&kb), Role::Light)).await.unwrap();
    let (cr, cl) = (client(&relay), client(&light));
    // The light node's topic interest is its filters': join before connecting.
    for c in [&cr, &cl] {
        ok(c, "wakuext_createPublicChat", vec![json!({"id": "light-room"})]).await;
    }
    connect(&light, &relay).await;
    ok(&cr, "wakuext_sendChatMessage", vec![json!({"chatId": "light-room", "text": "to light"})])
        .await;
    wait_until("the light node to receive", || async {
        texts(&cl, "light-room").await == ["to light"]
    })
    .await;
    ok(&cl, "wakuext_sendChatMessage", vec![json!({"chatId": "light-room", "text": "from light"})])
        .await;
    wait_until("the relay to receive", || async {
        texts(&cr, "light-room").await.contains(&"from light".to_owned())
    })
    .await;
    light.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailserver_that_does_not_answer_is_reported() {
    // A plain relay trusted as a mailserver never answers history requests.
    let relay = Node::start(config(None, Role::Relay)).await.unwrap();
    let key = SecretKey::random();
    let mut b_config =
        NodeConfig { trusted_nodes: vec![relay.enode()], ..config(Some(&key), Role::Relay) };
    if let Some(chat) = &mut b_config.chat {
        chat.history_page_timeout = Duration::from_secs(1);
    }
    let b = Node::start(b_config).await.unwrap();
    let cb = client(&b);
    ok(&cb, "wakuext_createPublicChat", vec![json!({"id": "silent"})]).await;
    let r = ok(&cb, "wakuext_requestAllHistoricMessages", vec![]).await;
    let h = &r["history"];
    assert_eq!(
        (&h["running"], &h["mailservers"], &h["failed"]),
        (&json!(false), &json!(1), &json!(1)),
        "{r}"
    );
    assert!(h["error"].as_str().unwrap().contains("history request failed"), "{r}");
    assert_eq!(h["topicsDone"], h["topicsTotal"], "{r}");
    // The node and its messenger go on.
    ok(&cb, "wakuext_sendChatMessage", vec![json!({"chatId": "silent", "text": "still works"})])
        .await;
    b.shutdown().await;
    relay.shutdown().await;

    // Without a trusted mailserver the round says so.
    let plain = Node::start(config(Some(&SecretKey::random()), Role::Relay)).await.unwrap();
    let c = client(&plain);
    ok(&c, "wakuext_createPublicChat", vec![json!({"id": "alone"})]).await;
    let r = ok(&c, "wakuext_requestAllHistoricMessages", vec![]).await;
    assert!(r["history"]["error"].as_str().unwrap().contains("no trusted mailserver"), "{r}");
    plain.shutdown().await;
}

/// A group chat's JSON from `wakuext_chats`.
async fn group_chat(client: &HttpClient, id: &str) -> Value {
    let chats = ok(client, "wakuext_chats", vec![]).await;
    chats.as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or(Value::Null)
}

/// The members of a group chat as (id, admin, joined).
async fn members(client: &HttpClient, id: &str) -> Vec<(String, bool, bool)> {
    let chat = group_chat(client, id).await;
    let mut out: Vec<_> = chat["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    (
                        m["id"].as_str().unwrap().to_owned(),
                        m["admin"].as_bool().unwrap(),
                        m["joined"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_accounts_in_a_group_chat() {
    let (ka, kb, kc) = (SecretKey::random(), SecretKey::random(), SecretKey::random());
    let a = Node::start(config(Some(&ka), Role::Relay)).await.unwrap();
    let b = Node::start(config(Some(&kb), Role::Relay)).await.unwrap();
    let c = Node::start(config(Some(&kc), Role::Relay)).await.unwrap();
    connect(&a, &b).await;
    connect(&a, &c).await;
    connect(&b, &c).await;
    let (ca, cb, cc) = (client(&a), client(&b), client(&c));
    let (ha, hb, hc) = (key_hex(&ka), key_hex(&kb), key_hex(&kc));
    // C listens to `messages.new` for the group's system messages and reactions.
    let ws_c = WsClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("ws://{}", c.rpc_addr().unwrap()))
        .await
        .unwrap();
    let mut params = ArrayParams::new();
    params.insert("messages.new").unwrap();
    let mut sub_c = ws_c
        .subscribe::<Value, _>("wakuext_subscribe", params, "wakuext_unsubscribe")
        .await
        .expect("subscribed");
    // Reads C's events until one carries a message that `want` accepts.
    async fn next_with(
        sub: &mut jsonrpsee::core::client::Subscription<Value>,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let n = tokio::time::timeout(left, sub.next())
                .await
                .unwrap_or_else(|_| panic!("no messages.new event with {what}"))
                .expect("subscription open")
                .expect("an event");
            let messages = n["event"]["messages"].as_array().cloned().unwrap_or_default();
            if messages.iter().any(&want) {
                return;
            }
        }
    }

    // Create with members: B and C get an invitation.
    let r = ok(
        &ca,
        "wakuext_createGroupChatWithMembers",
        vec![json!("trio"), json!([hb.clone(), hc.clone()])],
    )
    .await;
    let chat = &r["chats"][0];
    assert_eq!((&chat["chatType"], &chat["name"]), (&json!(3), &json!("trio")));
    let id = chat["id"].as_str().unwrap().to_owned();
    assert!(id.ends_with(&ha), "{id}");
    assert_eq!(chat["membershipUpdateEvents"].as_array().unwrap().len(), 2);
    for client in [&cb, &cc] {
        wait_until("the invitation", || async {
            let inv = ok(client, "wisp_groupChatsToJoin", vec![]).await;
            inv.as_array().unwrap().iter().any(|c| c["id"] == id.as_str())
        })
        .await;
    }
    // The creation reached C's subscribers as a system message (contentType 6).
    next_with(&mut sub_c, "the creation's system message", |m| {
        m["contentType"] == 6
            && m["localChatId"] == id.as_str()
            && m["text"].as_str().is_some_and(|t| t.contains("created the group trio"))
    })
    .await;

    // Both accept; A sees them joined.
    for client in [&cb, &cc] {
        let r = ok(client, "wakuext_confirmJoiningGroup", vec![json!(id)]).await;
        assert_eq!(r["chats"][0]["chatType"], 3);
    }
    let mut want =
        vec![(ha.clone(), true, true), (hb.clone(), false, true), (hc.clone(), false, true)];
    want.sort();
    wait_until("A to see both joins", || async { members(&ca, &id).await == want }).await;
    assert!(ok(&cb, "wisp_groupChatsToJoin", vec![]).await.as_array().unwrap().is_empty());

    // Messages both ways, a reply among them.
    let sent =
        ok(&ca, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "hello trio"})]).await;
    let hello = sent["messages"][0]["id"].clone();
    assert_eq!(sent["messages"][0]["messageType"], 3, "PRIVATE_GROUP");
    for client in [&cb, &cc] {
        wait_until("the group message", || async { texts(client, &id).await == ["hello trio"] })
            .await;
    }
    ok(
        &cb,
        "wakuext_sendChatMessage",
        vec![json!({"chatId": id, "text": "hi all", "responseTo": hello})],
    )
    .await;
    for client in [&ca, &cc] {
        wait_until("the reply", || async { texts(client, &id).await == ["hi all", "hello trio"] })
            .await;
    }
    let page = ok(&cc, "wakuext_chatMessages", vec![json!(id), json!(""), json!(10)]).await;
    assert_eq!(page["messages"][0]["responseTo"], hello);
    assert_eq!(page["messages"][0]["quotedMessage"]["text"], "hello trio");

    // C's events so far are read; the next one naming `hello` is the reaction's.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(1), sub_c.next()).await {}

    // A reaction and a pin round trip; then the reaction is withdrawn.
    let r = ok(&cb, "wakuext_sendEmojiReaction", vec![json!(id), hello.clone(), json!(2)]).await;
    next_with(&mut sub_c, "the message B reacted to", |m| m["id"] == hello).await;
    let reaction = r["emojiReactions"][0]["id"].clone();
    wait_until("A to see B's reaction", || async {
        let list =
            ok(&ca, "wakuext_emojiReactionsByChatID", vec![json!(id), json!(""), json!(10)]).await;
        list.as_array().unwrap().iter().any(|e| e["emojiId"] == 2 && e["from"] == hb.as_str())
    })
    .await;
    ok(
        &ca,
        "wakuext_sendPinMessage",
        vec![json!({"chatId": id, "messageId": hello, "pinned": true})],
    )
    .await;
    wait_until("C to see the pin", || async {
        let p = ok(&cc, "wakuext_chatPinnedMessages", vec![json!(id), json!(""), json!(10)]).await;
        p["pinnedMessages"][0]["message"]["text"] == "hello trio"
    })
    .await;
    ok(&cb, "wakuext_sendEmojiReactionRetraction", vec![reaction]).await;
    wait_until("A to see the reaction withdrawn", || async {
        let list =
            ok(&ca, "wakuext_emojiReactionsByChatID", vec![json!(id), json!(""), json!(10)]).await;
        list.as_array().unwrap().is_empty()
    })
    .await;
    let err =
        call(&cb, "wakuext_sendEmojiReaction", vec![json!(id), hello.clone(), json!(9)]).await;
    assert!(err.unwrap_err().contains("emojiID"));

    // Rename; a non-admin may not.
    let err = call(&cb, "wakuext_changeGroupChatName", vec![json!(id), json!("bob's")]).await;
    assert!(err.unwrap_err().contains("admin"));
    ok(&ca, "wakuext_changeGroupChatName", vec![json!(id), json!("trio two")]).await;
    for client in [&cb, &cc] {
        wait_until("the new name", || async {
            group_chat(client, &id).await["name"] == "trio two"
        })
        .await;
    }

    // Remove C: she learns it and receives nothing new.
    ok(&ca, "wakuext_removeMemberFromGroupChat", vec![json!(id), json!(hc)]).await;
    wait_until("C to learn she was removed", || async {
        group_chat(&cc, &id).await["active"] == false
    })
    .await;
    ok(&ca, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "without C"})]).await;
    wait_until("B to get the message without C", || async {
        texts(&cb, &id).await.first().map(String::as_str) == Some("without C")
    })
    .await;
    assert_eq!(texts(&cc, &id).await, ["hi all", "hello trio"], "C got nothing new");

    // B leaves; A sees only herself.
    ok(&cb, "wakuext_leaveGroupChat", vec![json!(id), json!(false)]).await;
    wait_until("A to see B leave", || async {
        members(&ca, &id).await == [(ha.clone(), true, true)]
    })
    .await;
    assert_eq!(group_chat(&cb, &id).await["active"], false);

    // Bad input names the field.
    let err = call(&ca, "wakuext_addMembersToGroupChat", vec![json!("nope"), json!([])]).await;
    assert!(err.unwrap_err().contains("chatID"));
    let err =
        call(&ca, "wakuext_createGroupChatWithMembers", vec![json!("x"), json!(["0x12"])]).await;
    assert!(err.unwrap_err().contains("members[0]"));
    for n in [a, b, c] {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_invitation_request_is_rejected_and_events_become_system_messages() {
    let (ka, kb, kc) = (SecretKey::random(), SecretKey::random(), SecretKey::random());
    let a = Node::start(config(Some(&ka), Role::Relay)).await.unwrap();
    let b = Node::start(config(Some(&kb), Role::Relay)).await.unwrap();
    let c = Node::start(config(Some(&kc), Role::Relay)).await.unwrap();
    connect(&a, &b).await;
    connect(&a, &c).await;
    connect(&b, &c).await;
    let (ca, cb, cc) = (client(&a), client(&b), client(&c));
    let (ha, hb, hc) = (key_hex(&ka), key_hex(&kb), key_hex(&kc));

    // A creates the group with B: both events are system messages at A, in clock order.
    let r = ok(&ca, "wakuext_createGroupChatWithMembers", vec![json!("club"), json!([hb])]).await;
    let id = r["chats"][0]["id"].as_str().unwrap().to_owned();
    let created = vec![format!("@{ha} created the group club"), format!("@{ha} has added @{hb}")];
    assert_eq!(system_texts(&ca, &id).await, created);
    wait_until("B to get the group", || async {
        call(&cb, "wakuext_chatMessages", vec![json!(id), json!(""), json!(1)]).await.is_ok()
    })
    .await;
    wait_until("B to get the system messages", || async {
        system_texts(&cb, &id).await == created
    })
    .await;

    // C knows the chat from a link and asks A to be added.
    ok(&cc, "wakuext_createGroupChatFromInvitation", vec![json!("club"), json!(id), json!(ha)])
        .await;
    let r = ok(
        &cc,
        "wakuext_sendGroupChatInvitationRequest",
        vec![json!(id), json!(ha), json!("let me in")],
    )
    .await;
    let request = r["invitations"][0].clone();
    assert_eq!(
        (&request["chatId"], &request["from"], &request["introductionMessage"], &request["state"]),
        (&json!(id), &json!(hc), &json!("let me in"), &json!(1))
    );
    let inv = request["id"].as_str().unwrap().to_owned();
    assert_eq!(inv.len(), 66, "0x + keccak256 hex: {inv}");
    wait_until("A to get the request", || async {
        let all = ok(&ca, "wakuext_getGroupChatInvitations", vec![]).await;
        all.as_array().unwrap().iter().any(|i| i == &request)
    })
    .await;
    assert!(
        ok(&cb, "wakuext_getGroupChatInvitations", vec![]).await.as_array().unwrap().is_empty()
    );

    // A rejects it; C's record turns rejected.
    let r = ok(&ca, "wakuext_sendGroupChatInvitationRejection", vec![json!(inv)]).await;
    assert_eq!(
        (&r["invitations"][0]["id"], &r["invitations"][0]["state"]),
        (&json!(inv), &json!(2))
    );
    wait_until("C to learn the rejection", || async {
        let all = ok(&cc, "wakuext_getGroupChatInvitations", vec![]).await;
        all.as_array().unwrap().iter().any(|i| i["id"] == inv.as_str() && i["state"] == 2)
    })
    .await;

    // Bad input is refused, naming what is wrong.
    let err =
        call(&cc, "wakuext_sendGroupChatInvitationRequest", vec![json!(id), json!("0x12")]).await;
    assert!(err.unwrap_err().contains("adminPK"));
    let err = call(&ca, "wakuext_sendGroupChatInvitationRejection", vec![json!("0x00")]).await;
    assert!(err.unwrap_err().contains("invitation request id"));
    let err = call(&cc, "wakuext_sendGroupChatInvitationRejection", vec![json!(inv)]).await;
    assert!(err.unwrap_err().contains("our own request"));

    // B joins, A renames: everyone sees the same system messages once.
    ok(&cb, "wakuext_confirmJoiningGroup", vec![json!(id)]).await;
    wait_until("A to see B join", || async { system_texts(&ca, &id).await.len() == 3 }).await;
    ok(&ca, "wakuext_changeGroupChatName", vec![json!(id), json!("club two")]).await;
    let mut want = created.clone();
    want.push(format!("@{hb} joined the group"));
    want.push(format!("@{ha} changed the group's name to club two"));
    assert_eq!(system_texts(&ca, &id).await, want);
    wait_until("B to see the rename", || async { system_texts(&cb, &id).await == want }).await;
    ok(&ca, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "hi"})]).await;
    wait_until("B to get the message", || async { texts(&cb, &id).await == ["hi"] }).await;
    assert_eq!(system_texts(&cb, &id).await, want, "the replayed log added nothing");
    for n in [a, b, c] {
        n.shutdown().await;
    }
}
