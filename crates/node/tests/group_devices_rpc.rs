//! A group chat with a member who has two paired devices, inside four real nodes on loopback
//! driven over JSON-RPC (`wakuext_*` with status-go's names): A1 and A2 (one account from
//! one key, two data directories) pair, A1 creates a group with B and C, and A2 follows it
//! all: the joins, everyone's messages (A1's as ours), its own messages reaching the
//! others, a rename and a removal; a group made before the pairing reaches A2 with its next
//! message.

use jsonrpsee::http_client::HttpClient;
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
    chat::{chat_config, client, key_hex, ok},
    wait_until,
};

fn config(account: &SecretKey) -> NodeConfig {
    chat_config("group-devices-rpc", Some(account), Role::Relay)
}

async fn connect(a: &Node, b: &Node) {
    let (ha, b_id) = (a.handle(), b.enode().id);
    ha.add_peer(b.enode()).unwrap();
    wait_until("the peers to connect", || async {
        ha.peers().await.unwrap().iter().any(|p| p.id == b_id)
    })
    .await;
}

/// (text, outgoingStatus) of a chat's messages, newest first; empty if there is no chat.
async fn texts(client: &HttpClient, chat: &str) -> Vec<(String, String)> {
    let page = ok(client, "wakuext_chatMessages", vec![json!(chat), json!(""), json!(100)]).await;
    page["messages"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    (
                        m["text"].as_str().unwrap().to_owned(),
                        m["outgoingStatus"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn has_text(client: &HttpClient, chat: &str, text: &str) -> bool {
    texts(client, chat).await.iter().any(|(t, _)| t == text)
}

/// Group chat `id` as `wakuext_chats` lists it, or null.
async fn group_chat(client: &HttpClient, id: &str) -> Value {
    let chats = ok(client, "wakuext_chats", vec![]).await;
    chats.as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap_or(Value::Null)
}

/// The members of a group chat as (id, admin, joined), sorted.
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

/// The id of this installation of `client`'s account.
async fn this_installation(client: &HttpClient) -> String {
    let list = ok(client, "wakuext_getOurInstallations", vec![]).await;
    let this = list.as_array().unwrap().iter().find(|i| i["thisDevice"] == true).unwrap();
    this["id"].as_str().unwrap().to_owned()
}

/// Pairs two installations of one account both ways.
async fn pair(c1: &HttpClient, c2: &HttpClient) {
    let (id1, id2) = (this_installation(c1).await, this_installation(c2).await);
    ok(c2, "wakuext_sendPairInstallation", vec![]).await;
    wait_until("A1 to learn A2", || async {
        let list = ok(c1, "wakuext_getOurInstallations", vec![]).await;
        list.as_array().unwrap().iter().any(|i| i["id"] == id2.as_str())
    })
    .await;
    ok(c1, "wakuext_enableInstallation", vec![json!(id2)]).await;
    ok(c1, "wakuext_sendPairInstallation", vec![]).await;
    wait_until("A2 to learn A1", || async {
        let list = ok(c2, "wakuext_getOurInstallations", vec![]).await;
        list.as_array().unwrap().iter().any(|i| i["id"] == id1.as_str())
    })
    .await;
    ok(c2, "wakuext_enableInstallation", vec![json!(id1)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_device_of_a_member_follows_the_group() {
    let (ka, kb, kc) = (SecretKey::random(), SecretKey::random(), SecretKey::random());
    let a1 = Node::start(config(&ka)).await.unwrap();
    let a2 = Node::start(config(&ka)).await.unwrap();
    let b = Node::start(config(&kb)).await.unwrap();
    let c = Node::start(config(&kc)).await.unwrap();
    for (x, y) in [(&a1, &a2), (&a1, &b), (&a1, &c), (&a2, &b), (&a2, &c), (&b, &c)] {
        connect(x, y).await;
    }
    let (c1, c2, cb, cc) = (client(&a1), client(&a2), client(&b), client(&c));
    for client in [&c1, &c2, &cb, &cc] {
        ok(client, "wakuext_startMessenger", vec![]).await;
    }
    let (ha, hb, hc) = (key_hex(&ka), key_hex(&kb), key_hex(&kc));

    // Before the pairing, A1 makes a group with B: A2 knows nothing of it.
    let r =
        ok(&c1, "wakuext_createGroupChatWithMembers", vec![json!("early"), json!([hb.clone()])])
            .await;
    let early = r["chats"][0]["id"].as_str().unwrap().to_owned();
    wait_until("B's invitation to the early group", || async {
        !group_chat(&cb, &early).await.is_null()
    })
    .await;
    ok(&cb, "wakuext_confirmJoiningGroup", vec![json!(early)]).await;
    wait_until("A1 to see B join the early group", || async {
        members(&c1, &early).await.iter().any(|(id, _, joined)| *id == hb && *joined)
    })
    .await;
    assert!(group_chat(&c2, &early).await.is_null());

    pair(&c1, &c2).await;

    // A1 creates the group: B, C and A2 get it.
    let r = ok(
        &c1,
        "wakuext_createGroupChatWithMembers",
        vec![json!("quad"), json!([hb.clone(), hc.clone()])],
    )
    .await;
    let id = r["chats"][0]["id"].as_str().unwrap().to_owned();
    for client in [&cb, &cc] {
        wait_until("the invitation", || async {
            let inv = ok(client, "wisp_groupChatsToJoin", vec![]).await;
            inv.as_array().unwrap().iter().any(|c| c["id"] == id.as_str())
        })
        .await;
    }
    wait_until("A2 to get the group", || async {
        let chat = group_chat(&c2, &id).await;
        chat["name"] == "quad" && chat["active"] == true && chat["chatType"] == 3
    })
    .await;
    assert!(
        ok(&c2, "wisp_groupChatsToJoin", vec![]).await.as_array().unwrap().is_empty(),
        "A created it: no invitation on A2"
    );

    // B and C accept: A2 sees them joined.
    for client in [&cb, &cc] {
        ok(client, "wakuext_confirmJoiningGroup", vec![json!(id)]).await;
    }
    let mut want =
        vec![(ha.clone(), true, true), (hb.clone(), false, true), (hc.clone(), false, true)];
    want.sort();
    wait_until("A2 to see both joins", || async { members(&c2, &id).await == want }).await;

    // B's, C's and A1's messages reach A2 (A1's as ours).
    ok(&cb, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "from b"})]).await;
    ok(&cc, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "from c"})]).await;
    ok(&c1, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "from a1"})]).await;
    wait_until("A2 to get B's, C's and A1's messages", || async {
        let got = texts(&c2, &id).await;
        let has = |t: &str| got.iter().any(|(text, _)| text == t);
        has("from b") && has("from c") && has("from a1")
    })
    .await;
    let on_a2 = texts(&c2, &id).await;
    let a1_on_a2 = on_a2.iter().find(|(t, _)| t == "from a1").unwrap();
    assert_eq!(a1_on_a2.1, "sent", "A1's message is ours on A2");
    assert!(on_a2.iter().filter(|(t, _)| t != "from a1").all(|(_, s)| s.is_empty()));

    // A2 writes: B, C and A1 get it.
    ok(&c2, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "from a2"})]).await;
    wait_until("B, C and A1 to get A2's message", || async {
        has_text(&cb, &id, "from a2").await
            && has_text(&cc, &id, "from a2").await
            && has_text(&c1, &id, "from a2").await
    })
    .await;
    let page = ok(&cb, "wakuext_chatMessages", vec![json!(id), json!(""), json!(100)]).await;
    let from_a2 =
        page["messages"].as_array().unwrap().iter().find(|m| m["text"] == "from a2").unwrap();
    assert_eq!(from_a2["from"], json!(ha));

    // A1 renames: A2 shows it.
    ok(&c1, "wakuext_changeGroupChatName", vec![json!(id), json!("quad two")]).await;
    wait_until("A2 to show the new name", || async {
        group_chat(&c2, &id).await["name"] == "quad two"
    })
    .await;

    // A1 removes C: A2 sees C gone; C receives nothing new.
    ok(&c1, "wakuext_removeMemberFromGroupChat", vec![json!(id), json!(hc)]).await;
    wait_until("A2 to see C gone", || async {
        !members(&c2, &id).await.iter().any(|(m, _, _)| *m == hc)
    })
    .await;
    wait_until("C to learn she was removed", || async {
        group_chat(&cc, &id).await["active"] == false
    })
    .await;
    let c_before = texts(&cc, &id).await;
    ok(&c2, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "a2 without c"})]).await;
    ok(&c1, "wakuext_sendChatMessage", vec![json!({"chatId": id, "text": "a1 without c"})]).await;
    wait_until("B to get both messages without C", || async {
        has_text(&cb, &id, "a2 without c").await && has_text(&cb, &id, "a1 without c").await
    })
    .await;
    assert_eq!(texts(&cc, &id).await, c_before, "C got nothing new");

    // The early group: A1's next message carries it to A2.
    ok(&c1, "wakuext_sendChatMessage", vec![json!({"chatId": early, "text": "early news"})]).await;
    wait_until("A2 to get the early group with its message", || async {
        group_chat(&c2, &early).await["name"] == "early"
            && texts(&c2, &early).await.iter().any(|(t, s)| t == "early news" && s == "sent")
    })
    .await;
    assert!(members(&c2, &early).await.iter().any(|(m, _, joined)| *m == hb && *joined));

    for node in [a1, a2, b, c] {
        node.shutdown().await;
    }
}
