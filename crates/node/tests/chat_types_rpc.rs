//! Images, audio clips and stickers over `wakuext_sendChatMessage` between two real nodes on
//! loopback (status-go's `contentType`, `imagePath`, `audioPath`, `audioDurationMs`,
//! `sticker`), read back with `wakuext_chatMessages` on the other side (base64 data URIs as
//! status-go's `image` / `audio`); media the node refuses, with errors naming the field
//! and the path; and `wakuext_chatPinnedMessages` / `wakuext_emojiReactionsByChatID` paged
//! with `CURSOR, LIMIT` over more items than a page.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use jsonrpsee::http_client::HttpClient;
use serde_json::{Value, json};
use wisp_crypto::SecretKey;
use wisp_node::{Node, Role};

use {
    alloy_rlp as _, bytes as _, hex as _, jsonrpsee as _, proptest as _, rand as _, serde as _,
    thiserror as _, tokio as _, toml as _, tracing as _, wisp_accounts as _, wisp_mailserver as _,
    wisp_messenger as _, wisp_rlpx as _, wisp_waku as _,
};
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::{
    chat::{call, chat_config, client, key_hex, ok},
    temp_dir, wait_until,
};

/// The messages of `chat` on `client`, newest first (none while the chat is unknown).
async fn messages(client: &HttpClient, chat: &str) -> Vec<Value> {
    match call(client, "wakuext_chatMessages", vec![json!(chat), json!(""), json!(100)]).await {
        Ok(page) => page["messages"].as_array().unwrap().clone(),
        Err(e) if e.contains("unknown chat") => Vec::new(),
        Err(e) => panic!("wakuext_chatMessages: {e}"),
    }
}

async fn connect(a: &Node, b: &Node) {
    let (ha, b_id) = (a.handle(), b.enode().id);
    ha.add_peer(b.enode()).unwrap();
    wait_until("the peers to connect", || async {
        ha.peers().await.unwrap().iter().any(|p| p.id == b_id)
    })
    .await;
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..3_000u32).map(|i| (i * 7 % 256) as u8));
    b
}

fn amr() -> Vec<u8> {
    let mut b = b"#!AMR\n".to_vec();
    b.extend([0x3c; 400]);
    b
}

fn data_uri(kind: &str, bytes: &[u8]) -> String {
    format!("{kind};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_audio_and_sticker_go_one_to_one_and_read_back() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let a = Node::start(chat_config("media-rpc", Some(&ka), Role::Relay)).await.unwrap();
    let b = Node::start(chat_config("media-rpc", Some(&kb), Role::Relay)).await.unwrap();
    connect(&a, &b).await;
    let (ca, cb) = (client(&a), client(&b));
    let files = temp_dir("media-rpc-files");
    let image = write(&files, "pic.png", &png());
    let audio = write(&files, "note.amr", &amr());
    let to_b = key_hex(&kb);
    ok(&ca, "wakuext_createOneToOneChat", vec![json!({"id": to_b})]).await;

    let sent = ok(
        &ca,
        "wakuext_sendChatMessage",
        vec![json!({"chatId": to_b, "text": "", "contentType": 7,
                    "imagePath": image.to_str().unwrap()})],
    )
    .await;
    let m = &sent["messages"][0];
    assert_eq!((&m["contentType"], &m["messageType"]), (&json!(7), &json!(1)), "{m}");
    let want_image = format!("data:{}", data_uri("image/png", &png()));
    assert_eq!(m["image"], json!(want_image));
    let image_id = m["id"].clone();

    ok(
        &ca,
        "wakuext_sendChatMessage",
        vec![json!({"chatId": to_b, "text": "listen", "contentType": 8,
                    "audioPath": audio.to_str().unwrap(), "audioDurationMs": 2_400,
                    "responseTo": image_id})],
    )
    .await;
    ok(
        &ca,
        "wakuext_sendChatMessage",
        vec![json!({"chatId": to_b, "contentType": 2,
                    "sticker": {"hash": "e3010170122012ab", "pack": 1}})],
    )
    .await;

    // B reads all three in its chat with A.
    let from_a = key_hex(&ka);
    wait_until("B to receive the image, the clip and the sticker", || async {
        messages(&cb, &from_a).await.len() == 3
    })
    .await;
    let got = messages(&cb, &from_a).await;
    let (sticker, clip, picture) = (&got[0], &got[1], &got[2]);
    assert_eq!(picture["id"], image_id);
    assert_eq!(picture["contentType"], 7);
    assert_eq!(picture["image"], json!(want_image));
    assert_eq!(picture["from"], json!(from_a));
    assert_eq!(clip["contentType"], 8);
    assert_eq!(clip["audio"], json!(format!("data:{}", data_uri("audio/amr", &amr()))));
    assert_eq!((&clip["audioDurationMs"], &clip["text"]), (&json!(2_400), &json!("listen")));
    assert_eq!(clip["responseTo"], image_id);
    assert_eq!(sticker["contentType"], 2);
    assert_eq!(sticker["sticker"], json!({"hash": "e3010170122012ab", "pack": 1}));
    assert!(sticker.get("image").is_none() && sticker.get("audio").is_none());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_the_node_cannot_send_is_refused_naming_the_path() {
    let ka = SecretKey::random();
    let a = Node::start(chat_config("media-bad", Some(&ka), Role::Relay)).await.unwrap();
    let ca = client(&a);
    ok(&ca, "wakuext_createPublicChat", vec![json!({"id": "pics"})]).await;
    let files = temp_dir("media-bad-files");
    let max = wisp_messenger::MAX_MEDIA_BYTES;
    let mut big = png();
    big.resize(max + 1, 0);
    let big = write(&files, "big.png", &big);
    let text = write(&files, "notes.txt", b"not an image at all");
    let missing = files.join("missing.png");
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let send = |message: Value| {
        let ca = ca.clone();
        async move { call(&ca, "wakuext_sendChatMessage", vec![message]).await.unwrap_err() }
    };

    let e = send(json!({"chatId": "pics", "contentType": 7, "imagePath": path(&big)})).await;
    assert!(e.contains("Message.imagePath") && e.contains(&path(&big)), "{e}");
    assert!(e.contains(&max.to_string()) && e.contains(&(max + 1).to_string()), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 7, "imagePath": path(&text)})).await;
    assert!(e.contains(&path(&text)) && e.contains("JPEG, PNG, GIF or WebP"), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 7, "imagePath": path(&missing)})).await;
    assert!(e.contains(&path(&missing)) && e.contains("cannot be read"), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 7, "imagePath": path(&files)})).await;
    assert!(e.contains("not a regular file"), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 8, "audioPath": path(&text)})).await;
    assert!(e.contains("Message.audioPath") && e.contains("AAC (ADTS) or AMR"), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 7})).await;
    assert!(e.contains("Message.imagePath is required"), "{e}");
    let e = send(json!({"chatId": "pics", "text": "x", "imagePath": path(&big)})).await;
    assert!(e.contains("contentType 7 (IMAGE)"), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 2, "sticker": {"hash": ""}})).await;
    assert!(e.contains("Message.sticker must be an object"), "{e}");
    let e = send(json!({"chatId": "pics", "contentType": 5, "text": "x"})).await;
    assert!(e.contains("Message.contentType 5 is not supported"), "{e}");
    // In a batch, one bad file stops the whole batch before anything is sent.
    let e = call(
        &ca,
        "wakuext_sendChatMessages",
        vec![json!([{"chatId": "pics", "text": "fine"},
                    {"chatId": "pics", "contentType": 7, "imagePath": path(&big)}])],
    )
    .await
    .unwrap_err();
    assert!(e.contains("messages[1].imagePath"), "{e}");
    assert!(messages(&ca, "pics").await.is_empty(), "nothing was sent");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_messages_and_reactions_come_in_pages() {
    let ka = SecretKey::random();
    let a = Node::start(chat_config("paging-rpc", Some(&ka), Role::Relay)).await.unwrap();
    let ca = client(&a);
    ok(&ca, "wakuext_createPublicChat", vec![json!({"id": "pages"})]).await;
    let batch: Vec<Value> =
        (0..25).map(|i| json!({"chatId": "pages", "text": format!("m{i}")})).collect();
    ok(&ca, "wakuext_sendChatMessages", vec![json!(batch)]).await;
    let all = messages(&ca, "pages").await;
    assert_eq!(all.len(), 25);
    // Pin all but the two newest; two reactions on each message, one of them withdrawn on
    // the newest.
    for m in &all[2..] {
        ok(
            &ca,
            "wakuext_sendPinMessage",
            vec![json!({"chatId": "pages", "messageId": m["id"], "pinned": true})],
        )
        .await;
    }
    let mut withdraw = Value::Null;
    for m in &all {
        ok(&ca, "wakuext_sendEmojiReaction", vec![json!("pages"), m["id"].clone(), json!(2)]).await;
        let r =
            ok(&ca, "wakuext_sendEmojiReaction", vec![json!("pages"), m["id"].clone(), json!(4)])
                .await;
        if withdraw.is_null() {
            withdraw = r["emojiReactions"][0]["id"].clone();
        }
    }
    ok(&ca, "wakuext_sendEmojiReactionRetraction", vec![withdraw]).await;

    // Pinned messages: 23 in pages of 10, newest message first, each once.
    let mut pinned = Vec::new();
    let mut cursor = String::new();
    let mut sizes = Vec::new();
    loop {
        let page =
            ok(&ca, "wakuext_chatPinnedMessages", vec![json!("pages"), json!(cursor), json!(10)])
                .await;
        let list = page["pinnedMessages"].as_array().unwrap();
        sizes.push(list.len());
        for p in list {
            assert_eq!(p["pinnedBy"], json!(key_hex(&ka)));
            assert!(p["pinnedAt"].as_u64().unwrap() > 0);
            pinned.push(p["message"]["id"].clone());
        }
        cursor = page["cursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(sizes, [10, 10, 3]);
    let want: Vec<Value> = all[2..].iter().map(|m| m["id"].clone()).collect();
    assert_eq!(pinned, want, "the chatMessages order, newest first");

    // Reactions: those of the chatMessages page with the same cursor and limit.
    let mut cursor = String::new();
    let mut total = 0;
    loop {
        let page =
            ok(&ca, "wakuext_chatMessages", vec![json!("pages"), json!(cursor), json!(10)]).await;
        let reactions = ok(
            &ca,
            "wakuext_emojiReactionsByChatID",
            vec![json!("pages"), json!(cursor), json!(10)],
        )
        .await;
        let reactions = reactions.as_array().unwrap();
        let mut on: Vec<&str> =
            reactions.iter().map(|r| r["messageId"].as_str().unwrap()).collect();
        on.sort_unstable();
        on.dedup();
        let mut ids: Vec<&str> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(on, ids);
        assert!(reactions.iter().all(|r| r["retracted"] == json!(false)));
        total += reactions.len();
        cursor = page["cursor"].as_str().unwrap().to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(total, 25 * 2 - 1);

    // Bad paging arguments are named.
    let e = call(&ca, "wakuext_chatPinnedMessages", vec![json!("pages"), json!("12"), json!(10)])
        .await
        .unwrap_err();
    assert!(e.contains("cursor"), "{e}");
    let e = call(&ca, "wakuext_emojiReactionsByChatID", vec![json!("pages"), json!(""), json!(0)])
        .await
        .unwrap_err();
    assert!(e.contains("limit"), "{e}");
    a.shutdown().await;
}
