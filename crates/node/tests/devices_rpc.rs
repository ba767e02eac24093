//! Contacts and paired devices inside real nodes on loopback, driven over JSON-RPC
//! (`wakuext_*` with status-go's names): two installations of one account (two data
//! directories, one chat key) pair, sync a contact and a public chat, and see each other's
//! messages; a contact update reaches the contact; blocking drops what the blocked account
//! sends; bad input is refused naming the parameter.

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
    chat::{call, chat_config, client, key_hex, ok},
    wait_until,
};

fn config(account: &SecretKey) -> NodeConfig {
    chat_config("devices-rpc", Some(account), Role::Relay)
}

/// (text, outgoingStatus) of a chat's messages, newest first; empty if there is no chat.
async fn texts(client: &HttpClient, chat: &str) -> Vec<(String, String)> {
    let Ok(page) =
        call(client, "wakuext_chatMessages", vec![json!(chat), json!(""), json!(100)]).await
    else {
        return Vec::new();
    };
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap().to_owned(),
                m["outgoingStatus"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn has_text(client: &HttpClient, chat: &str, text: &str) -> bool {
    texts(client, chat).await.iter().any(|(t, _)| t == text)
}

async fn connect(a: &Node, b: &Node) {
    let (ha, b_id) = (a.handle(), b.enode().id);
    ha.add_peer(b.enode()).unwrap();
    wait_until("the peers to connect", || async {
        ha.peers().await.unwrap().iter().any(|p| p.id == b_id)
    })
    .await;
}

/// Our installations as (id, thisDevice, enabled, metadata name).
async fn installations(client: &HttpClient) -> Vec<(String, bool, bool, String)> {
    let list = ok(client, "wakuext_getOurInstallations", vec![]).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["thisDevice"].as_bool().unwrap(),
                i["enabled"].as_bool().unwrap(),
                i["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn contact(client: &HttpClient, key: &str) -> Value {
    ok(client, "wakuext_getContactByID", vec![json!(key)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_one_account_pair_and_sync_and_a_contact_is_updated_and_blocked() {
    let (me, carol_key) = (SecretKey::random(), SecretKey::random());
    let laptop = Node::start(config(&me)).await.unwrap();
    let phone = Node::start(config(&me)).await.unwrap();
    let carol = Node::start(config(&carol_key)).await.unwrap();
    connect(&laptop, &phone).await;
    connect(&laptop, &carol).await;
    connect(&phone, &carol).await;
    let (cl, cp, cc) = (client(&laptop), client(&phone), client(&carol));
    for c in [&cl, &cp, &cc] {
        ok(c, "wakuext_startMessenger", vec![]).await;
    }
    let (my_chat, carol_chat) = (key_hex(&me), key_hex(&carol_key));

    // Each device knows itself only, enabled.
    let phone_self = installations(&cp).await;
    assert_eq!(phone_self.len(), 1, "{phone_self:?}");
    let (phone_id, this, enabled, _) = phone_self[0].clone();
    assert!(this && enabled);
    let laptop_id = installations(&cl).await[0].0.clone();
    assert_ne!(laptop_id, phone_id, "two data directories, two installations");

    // The phone names itself and announces itself; the laptop sees it, disabled.
    ok(
        &cp,
        "wakuext_setInstallationMetadata",
        vec![json!(phone_id), json!({"name": "phone", "deviceType": "android"})],
    )
    .await;
    ok(&cp, "wakuext_sendPairInstallation", vec![]).await;
    wait_until("the laptop to learn the phone", || async {
        installations(&cl)
            .await
            .iter()
            .any(|(id, _, on, name)| *id == phone_id && !on && name == "phone")
    })
    .await;
    ok(&cl, "wakuext_enableInstallation", vec![json!(phone_id)]).await;
    ok(
        &cl,
        "wakuext_setInstallationMetadata",
        vec![json!(laptop_id), json!({"name": "laptop", "deviceType": "desktop"})],
    )
    .await;
    ok(&cl, "wakuext_sendPairInstallation", vec![]).await;
    wait_until("the phone to learn the laptop", || async {
        installations(&cp).await.iter().any(|(id, _, _, name)| *id == laptop_id && name == "laptop")
    })
    .await;
    ok(&cp, "wakuext_enableInstallation", vec![json!(laptop_id)]).await;
    let list = ok(&cp, "wakuext_getOurInstallations", vec![]).await;
    let laptop_entry =
        list.as_array().unwrap().iter().find(|i| i["id"] == json!(laptop_id)).unwrap().clone();
    assert_eq!(laptop_entry["enabled"], true);
    assert_eq!(laptop_entry["metadata"]["deviceType"], "desktop");
    assert_eq!(laptop_entry["identity"], json!(my_chat));

    // The laptop joins a public chat and adds carol; the phone gets both.
    ok(&cl, "wakuext_createPublicChat", vec![json!({"id": "devices-test"})]).await;
    ok(&cc, "wakuext_createPublicChat", vec![json!({"id": "devices-test"})]).await;
    let added =
        ok(&cl, "wakuext_addContact", vec![json!({"id": carol_chat, "nickname": "Caz"})]).await;
    assert_eq!(added["contacts"][0]["added"], true);
    assert_eq!(added["chats"][0]["id"], json!(carol_chat));
    ok(&cl, "wakuext_syncDevices", vec![]).await;
    wait_until("the phone to get the public chat and the contact", || async {
        let chats = ok(&cp, "wakuext_activeChats", vec![]).await;
        let joined = chats.as_array().unwrap().iter().any(|c| c["id"] == "devices-test");
        let c = contact(&cp, &carol_chat).await;
        joined && c["added"] == true && c["localNickname"] == "Caz"
    })
    .await;
    let synced = contact(&cp, &carol_chat).await;
    assert_eq!(synced["systemTags"], json!([":contact/added"]));
    assert_eq!(synced["alias"], json!(wisp_accounts::alias(&carol_key.public_key())));
    assert!(synced["identicon"].as_str().unwrap().starts_with("data:image/png;base64,"));

    // Carol got the laptop's ContactUpdate.
    wait_until("carol to get the contact update", || async {
        contact(&cc, &my_chat).await["hasAddedUs"] == true
    })
    .await;

    // The laptop writes to carol: carol gets it, the phone shows it as ours.
    ok(&cl, "wakuext_sendChatMessage", vec![json!({"chatId": carol_chat, "text": "from laptop"})])
        .await;
    wait_until("carol to receive the laptop's message", || async {
        has_text(&cc, &my_chat, "from laptop").await
    })
    .await;
    wait_until("the phone to show the laptop's message", || async {
        texts(&cp, &carol_chat).await.iter().any(|(t, s)| t == "from laptop" && s == "sent")
    })
    .await;
    // Carol answers: both devices get it.
    ok(&cc, "wakuext_sendChatMessage", vec![json!({"chatId": my_chat, "text": "hi both"})]).await;
    wait_until("both devices to receive carol's answer", || async {
        has_text(&cl, &carol_chat, "hi both").await && has_text(&cp, &carol_chat, "hi both").await
    })
    .await;
    // The phone writes: carol and the laptop see it.
    ok(&cp, "wakuext_sendChatMessage", vec![json!({"chatId": carol_chat, "text": "from phone"})])
        .await;
    wait_until("carol and the laptop to see the phone's message", || async {
        has_text(&cc, &my_chat, "from phone").await
            && has_text(&cl, &carol_chat, "from phone").await
    })
    .await;
    // Public: what the laptop posts shows on the phone as ours.
    ok(&cl, "wakuext_sendChatMessage", vec![json!({"chatId": "devices-test", "text": "pub"})])
        .await;
    wait_until("the phone and carol to see the public message", || async {
        has_text(&cp, "devices-test", "pub").await && has_text(&cc, "devices-test", "pub").await
    })
    .await;

    // Carol blocks the account: its messages go, its 1:1 chat goes, new ones are dropped.
    let changed = ok(&cc, "wakuext_blockContact", vec![json!({"id": my_chat})]).await;
    assert!(changed.as_array().unwrap().iter().any(|c| c["id"] == "devices-test"), "{changed}");
    assert!(texts(&cc, "devices-test").await.is_empty());
    assert!(texts(&cc, &my_chat).await.is_empty());
    assert_eq!(contact(&cc, &my_chat).await["blocked"], true);
    ok(&cl, "wakuext_sendChatMessage", vec![json!({"chatId": "devices-test", "text": "blocked"})])
        .await;
    wait_until("carol to drop the blocked account's message", || async {
        carol.handle().metrics().get("wisp_chat_messages_dropped_total", "reason=\"blocked\"") >= 1
    })
    .await;
    assert!(texts(&cc, "devices-test").await.is_empty());
    assert!(phone.handle().metrics().total("wisp_chat_device_messages_total") >= 3);
    let contacts = ok(&cc, "wakuext_contacts", vec![]).await;
    assert!(contacts.as_array().unwrap().iter().any(|c| c["id"] == json!(my_chat)));

    // Bad input names what is wrong.
    let e = call(&cl, "wakuext_addContact", vec![json!("0x1234")]).await.unwrap_err();
    assert!(e.contains("AddContact") && e.contains("chat key"), "{e}");
    let e = call(&cl, "wakuext_addContact", vec![json!(my_chat)]).await.unwrap_err();
    assert!(e.contains("ourselves"), "{e}");
    let e = call(&cl, "wakuext_enableInstallation", vec![json!("nope")]).await.unwrap_err();
    assert!(e.contains("no installation \"nope\""), "{e}");
    let e = call(&cl, "wakuext_enableInstallation", vec![json!(laptop_id)]).await.unwrap_err();
    assert!(e.contains("own"), "{e}");
    let e =
        call(&cl, "wakuext_setInstallationMetadata", vec![json!(phone_id), json!({"name": "x"})])
            .await
            .unwrap_err();
    assert!(e.contains("not this device's"), "{e}");
    let e = call(&cl, "wakuext_removeContact", vec![json!(key_hex(&SecretKey::random()))])
        .await
        .unwrap_err();
    assert!(e.contains("no contact"), "{e}");

    laptop.shutdown().await;
    phone.shutdown().await;
    carol.shutdown().await;
}
