//! Images, audio clips and stickers over `wakuext_sendChatMessage` between two real nodes on
//! loopback (status-go's `contentType`, `imagePath`, `audioPath`, `audioDurationMs`,
//! `sticker`), read back with `wakuext_chatMessages` on the other side (base64 data URIs as
//! status-go's `image` / `audio`); and media the node refuses, with errors naming the field
//! and the path.

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
