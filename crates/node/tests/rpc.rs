//! The JSON-RPC API against real nodes on loopback (ports from :0), through jsonrpsee's HTTP
//! and WebSocket clients: keys, posting and filters on one node, relay between two nodes
//! (symmetric, asymmetric and signed, direct P2P), base64 inputs, the `messages` subscription,
//! bad inputs (each an error, the node serving on), the shapes of the info methods, and the
//! server's bounds (stalled requests timed out, connections capped, batch, body and filter
//! limits).

use std::{future::Future, time::Duration};

use base64::Engine as _;
use jsonrpsee::{
    core::{
        ClientError,
        client::{ClientT, SubscriptionClientT},
        params::ArrayParams,
    },
    http_client::{HttpClient, HttpClientBuilder},
    ws_client::WsClientBuilder,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use wisp_node::{Node, NodeConfig, rpc::RpcLimits};

use {
    alloy_rlp as _, bytes as _, proptest as _, serde as _, thiserror as _, toml as _, tracing as _,
    wisp_crypto as _, wisp_mailserver as _, wisp_rlpx as _, wisp_waku as _,
};
// The messenger's dependencies (wisp-node runs it with a chat account).
use {rand as _, wisp_accounts as _, wisp_messenger as _};
// wisp-node serves JSON-RPC connections itself (rpc/serve.rs).
use {http_body_util as _, hyper as _, hyper_util as _, tower as _};

mod common;
use common::temp_dir;

/// The longest any wait may take.
const WAIT: Duration = Duration::from_secs(20);
/// PBKDF2("refpeers-test") (shared/vectors/README.md, "test symmetric key").
const REFPEERS_TEST_KEY: &str = "db534a9ca86bc80608f06f3967956ee98ba451fdb0d263a155659f2152a4c5d9";
/// The vectors' signer key (a1 x 32) and its public key.
const SIGNER_SECRET: &str = "0xa1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const SIGNER_PUBLIC: &str = "0x04ab5d2e79cfd621b1b027ffb24e2453ed7fb571ba9a841ff0e2473466cabd168d240d1103860d4901da953cc7021d4d62f3f95691ac7cd434cbf9fc9e8b8d871d";
const TOPIC: &str = "0x12345678";

/// A new HTTP JSON-RPC client (its own connection pool) for the server at `addr`.
fn http_client(addr: std::net::SocketAddr) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("http://{addr}"))
        .expect("HTTP client")
}

/// A node with RPC on a free port, and an HTTP client for it.
async fn start() -> (Node, HttpClient) {
    let node = Node::start(NodeConfig {
        data_dir: temp_dir("rpc"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: Some("127.0.0.1:0".parse().unwrap()),
        redial_min: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .expect("node starts");
    let client = http_client(node.rpc_addr().expect("RPC is serving"));
    (node, client)
}

/// Calls `method` with positional `params`; an error is its JSON-RPC message.
async fn call(client: &impl ClientT, method: &str, params: Vec<Value>) -> Result<Value, String> {
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

async fn ok(client: &impl ClientT, method: &str, params: Vec<Value>) -> Value {
    match call(client, method, params).await {
        Ok(v) => v,
        Err(e) => panic!("{method} failed: {e}"),
    }
}

/// Retries `f` every 100 ms until it gives `Some`, for at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a filter until it holds at least one message; returns them all.
async fn filter_messages(client: &HttpClient, filter: &Value) -> Vec<Value> {
    eventually("a filter message", || async {
        let msgs = ok(client, "waku_getFilterMessages", vec![filter.clone()]).await;
        let msgs = msgs.as_array().cloned().unwrap_or_default();
        (!msgs.is_empty()).then_some(msgs)
    })
    .await
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn is_hash(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 66 && s.starts_with("0x"))
}

#[tokio::test]
async fn symmetric_round_trip_on_one_node() {
    let (node, c) = start().await;
    let key_id = ok(&c, "waku_generateSymKeyFromPassword", vec![json!("refpeers-test")]).await;
    let id = key_id.as_str().unwrap();
    assert_eq!(id.len(), 64, "ids are 32 bytes of hex without 0x, as status-go's");
    assert_eq!(
        ok(&c, "waku_getSymKey", vec![key_id.clone()]).await,
        json!(format!("0x{REFPEERS_TEST_KEY}"))
    );
    assert_eq!(ok(&c, "waku_hasSymKey", vec![key_id.clone()]).await, json!(true));

    let filter =
        ok(&c, "waku_newMessageFilter", vec![json!({"symKeyID": key_id, "topics": [TOPIC]})]).await;
    let payload = hex0x(b"hello over JSON-RPC");
    let hash = ok(
        &c,
        "waku_post",
        vec![json!({"symKeyID": key_id, "topic": TOPIC, "payload": payload,
            "powTarget": 0.002, "powTime": 5, "ttl": 60})],
    )
    .await;
    assert!(is_hash(&hash), "{hash}");

    let msgs = filter_messages(&c, &filter).await;
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m["payload"], json!(payload));
    assert_eq!(m["hash"], hash);
    assert_eq!(m["topic"], json!(TOPIC));
    assert_eq!(m["ttl"], json!(60));
    assert!(m["pow"].as_f64().unwrap() >= 0.002, "{m}");
    assert!(m.get("sig").is_none() && m.get("recipientPublicKey").is_none(), "{m}");
    assert_eq!(m["padding"].as_str().unwrap().len() % 2, 0);

    // Base64 inputs (status-go's Waku API) are accepted without 0x; output stays hex.
    let b64 = base64::engine::general_purpose::STANDARD;
    let hash2 = ok(
        &c,
        "waku_post",
        vec![json!({"symKeyID": key_id, "topic": TOPIC, "payload": b64.encode(b"from base64"),
            "padding": b64.encode([0xee; 16]), "powTarget": 0.002, "powTime": 5})],
    )
    .await;
    let m = &filter_messages(&c, &filter).await[0];
    assert_eq!(m["hash"], hash2);
    assert_eq!(m["payload"], json!(hex0x(b"from base64")));
    assert_eq!(m["padding"], json!(hex0x(&[0xee; 16])), "caller padding is used as is");
    assert_eq!(m["ttl"], json!(50), "default TTL");

    let info = ok(&c, "waku_info", vec![]).await;
    assert_eq!(info["messages"], json!(2));
    assert_eq!(ok(&c, "waku_deleteMessageFilter", vec![filter.clone()]).await, json!(true));
    let e = call(&c, "waku_getFilterMessages", vec![filter]).await.unwrap_err();
    assert!(e.contains("filter not found"), "{e}");
    assert_eq!(ok(&c, "waku_deleteSymKey", vec![key_id.clone()]).await, json!(true));
    assert_eq!(ok(&c, "waku_hasSymKey", vec![key_id]).await, json!(false));
    node.shutdown().await;
}

#[tokio::test]
async fn two_nodes_relay_symmetric_asymmetric_and_p2p() {
    let (node1, c1) = start().await;
    let (node2, c2) = start().await;
    let info1 = ok(&c1, "admin_nodeInfo", vec![]).await;
    let info2 = ok(&c2, "admin_nodeInfo", vec![]).await;
    assert_eq!(info1["enode"], json!(node1.enode().to_string()));
    assert_eq!(ok(&c2, "admin_addPeer", vec![info1["enode"].clone()]).await, json!(true));
    let peers = eventually("node 2 to list node 1", || async {
        let peers = ok(&c2, "admin_peers", vec![]).await;
        (peers.as_array().map(Vec::len) == Some(1)).then_some(peers)
    })
    .await;
    let p = &peers[0];
    assert_eq!(p["id"], info1["id"]);
    assert_eq!(p["caps"], json!(["waku/1"]));
    assert_eq!(p["network"]["inbound"], json!(false));
    assert!(p["name"].as_str().unwrap().starts_with("wisp/"), "{p}");
    eventually("node 1 to list node 2", || async {
        let peers = ok(&c1, "admin_peers", vec![]).await;
        (peers.as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;

    // Symmetric: the same password on both sides.
    let k1 = ok(&c1, "waku_generateSymKeyFromPassword", vec![json!("refpeers-test")]).await;
    let k2 = ok(&c2, "waku_generateSymKeyFromPassword", vec![json!("refpeers-test")]).await;
    let sym_filter =
        ok(&c2, "waku_newMessageFilter", vec![json!({"symKeyID": k2, "topics": [TOPIC]})]).await;
    let payload = hex0x(b"relayed from node 1");
    let hash = ok(
        &c1,
        "waku_post",
        vec![json!({"symKeyID": k1, "topic": TOPIC, "payload": payload,
            "powTarget": 0.002, "powTime": 5, "ttl": 60})],
    )
    .await;
    let m = &filter_messages(&c2, &sym_filter).await[0];
    assert_eq!((&m["payload"], &m["hash"]), (&json!(payload), &hash));

    // Asymmetric and signed: to node 2's key pair, signed by the vectors' signer, whose
    // public key is passed in base64 (no 0x) as status-go's API took it.
    let pair = ok(&c2, "waku_newKeyPair", vec![]).await;
    let recipient = ok(&c2, "waku_getPublicKey", vec![pair.clone()]).await;
    let recipient_b64 = base64::engine::general_purpose::STANDARD
        .encode(hex::decode(&recipient.as_str().unwrap()[2..]).unwrap());
    let asym_filter = ok(&c2, "waku_newMessageFilter", vec![json!({"privateKeyID": pair})]).await;
    let signer = ok(&c1, "waku_addPrivateKey", vec![json!(SIGNER_SECRET)]).await;
    let hash = ok(
        &c1,
        "waku_post",
        vec![json!({"pubKey": recipient_b64, "sig": signer, "topic": "0xabcdef01",
            "payload": hex0x(b"for node 2 only"), "powTarget": 0.002, "powTime": 5})],
    )
    .await;
    let m = &filter_messages(&c2, &asym_filter).await[0];
    assert_eq!(m["hash"], hash);
    assert_eq!(m["sig"], json!(SIGNER_PUBLIC));
    assert_eq!(m["recipientPublicKey"], recipient);
    assert_eq!(m["payload"], json!(hex0x(b"for node 2 only")));

    // Direct P2P delivery (targetPeer) to a node that trusts us and allows P2P.
    assert_eq!(ok(&c2, "waku_markTrustedPeer", vec![info1["enode"].clone()]).await, json!(true));
    let p2p_filter = ok(
        &c2,
        "waku_newMessageFilter",
        vec![json!({"symKeyID": k2, "topics": ["0x0badf00d"], "allowP2P": true})],
    )
    .await;
    let hash = ok(
        &c1,
        "waku_post",
        vec![json!({"symKeyID": k1, "topic": "0x0badf00d", "payload": "0x01",
            "powTarget": 0.002, "powTime": 5, "targetPeer": info2["enode"]})],
    )
    .await;
    let m = &filter_messages(&c2, &p2p_filter).await[0];
    assert_eq!(m["hash"], hash);
    assert_eq!(m["bool"], json!(true), "status-go's name for the P2P flag");

    assert_eq!(ok(&c2, "admin_removePeer", vec![info1["enode"].clone()]).await, json!(true));
    eventually("node 2 to drop node 1", || async {
        let peers = ok(&c2, "admin_peers", vec![]).await;
        (peers.as_array().map(Vec::len) == Some(0)).then_some(())
    })
    .await;
    node1.shutdown().await;
    node2.shutdown().await;
}

#[tokio::test]
async fn websocket_subscription_receives_posted_messages() {
    let (node, http) = start().await;
    let addr = node.rpc_addr().unwrap();
    let ws = WsClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("ws://{addr}"))
        .await
        .expect("WebSocket client");
    let key = ok(&ws, "waku_newSymKey", vec![]).await;

    let mut bad = ArrayParams::new();
    bad.insert("envelopes").unwrap();
    bad.insert(json!({"symKeyID": key, "topics": [TOPIC]})).unwrap();
    let e = ws
        .subscribe::<Value, _>("waku_subscribe", bad, "waku_unsubscribe")
        .await
        .expect_err("only \"messages\" exists");
    assert!(e.to_string().contains("unknown subscription"), "{e}");

    let mut params = ArrayParams::new();
    params.insert("messages").unwrap();
    params.insert(json!({"symKeyID": key, "topics": [TOPIC]})).unwrap();
    let mut sub = ws
        .subscribe::<Value, _>("waku_subscribe", params, "waku_unsubscribe")
        .await
        .expect("subscribed");

    for text in [&b"first"[..], b"second"] {
        let hash = ok(
            &http,
            "waku_post",
            vec![json!({"symKeyID": key, "topic": TOPIC, "payload": hex0x(text),
                "powTarget": 0.002, "powTime": 5})],
        )
        .await;
        let m = tokio::time::timeout(WAIT, sub.next())
            .await
            .expect("a notification in time")
            .expect("subscription open")
            .expect("a message");
        assert_eq!((&m["payload"], &m["hash"]), (&json!(hex0x(text)), &hash));
    }
    sub.unsubscribe().await.expect("unsubscribed");
    assert!(ok(&ws, "waku_info", vec![]).await.is_object());
    node.shutdown().await;
}

#[tokio::test]
async fn bad_inputs_are_errors_and_the_node_keeps_serving() {
    let (node, c) = start().await;
    let key = ok(&c, "waku_newSymKey", vec![]).await;
    let post = |fields: Value| {
        let mut msg = json!({"symKeyID": key, "topic": TOPIC, "payload": "0x01",
            "powTarget": 0.002, "powTime": 2});
        for (k, v) in fields.as_object().unwrap() {
            if v.is_null() {
                msg.as_object_mut().unwrap().remove(k);
            } else {
                msg[k] = v.clone();
            }
        }
        ("waku_post", vec![msg])
    };
    let pub_b64 = base64::engine::general_purpose::STANDARD.encode([4u8; 10]);
    let cases: Vec<((&str, Vec<Value>), &str)> = vec![
        (post(json!({"payload": "0xzz"})), "NewMessage.payload: invalid hex"),
        (post(json!({"payload": "0x123"})), "odd number of hex digits"),
        (post(json!({"payload": "not base64!"})), "not padded standard base64"),
        (post(json!({"payload": "abc"})), "it looks like hex: write hex with the 0x prefix"),
        (post(json!({"symKeyID": "feed"})), "no symmetric key with id \"feed\""),
        (post(json!({"pubKey": SIGNER_PUBLIC})), "exactly one of symKeyID and pubKey"),
        (post(json!({"symKeyID": null})), "neither was given"),
        (post(json!({"symKeyID": null, "pubKey": pub_b64})), "invalid public key"),
        (post(json!({"topic": "0x1234"})), "must be 4 bytes"),
        (post(json!({"topic": null})), "needs a topic"),
        (post(json!({"sig": "nobody"})), "no key pair with id"),
        (post(json!({"ttl": "sixty"})), "NewMessage.ttl must be an integer"),
        (post(json!({"powTarget": 0})), "PoW too low"),
        (post(json!({"powTarget": -1})), "powTarget must be a non-negative number"),
        (post(json!({"powTarget": 1e30, "powTime": 0})), "failed to reach the PoW target"),
        (post(json!({"payload": hex0x(&[7; 2 << 20])})), "message too large"),
        (("waku_post", vec![json!("x")]), "must be an object"),
        (("waku_post", vec![]), "missing parameter 1"),
        (("waku_info", vec![json!(1)]), "too many parameters"),
        (("waku_setMinPoW", vec![json!(-0.5)]), "non-negative"),
        (("waku_setMinPoW", vec![json!("NaN")]), "must be a number"),
        (("waku_setMinPoW", vec![json!(1e308)]), "minimum PoW 1e308 is above 100"),
        (("waku_setMinPoW", vec![json!(100.5)]), "expected a number from 0 to 100"),
        (("waku_setMaxMessageSize", vec![json!(0)]), "between 1024 and 10485760"),
        (("waku_setMaxMessageSize", vec![json!(1023)]), "between 1024 and 10485760"),
        (("waku_setMaxMessageSize", vec![json!(11 << 20)]), "between 1024 and 10485760"),
        (("waku_setMaxMessageSize", vec![json!(1u64 << 40)]), "between 1024 and 10485760"),
        (("waku_setBloomFilter", vec![json!("0x00")]), "bloom must be 64 bytes"),
        (("waku_addSymKey", vec![json!("0x0102")]), "symmetric key must be 32 bytes"),
        (
            ("waku_addPrivateKey", vec![json!(format!("0x{}", "00".repeat(32)))]),
            "invalid private key",
        ),
        (("waku_getPublicKey", vec![json!("nope")]), "no key pair with id"),
        (("waku_deleteKeyPair", vec![json!("nope")]), "no key pair with id"),
        (("waku_getSymKey", vec![json!("nope")]), "no symmetric key with id"),
        (("waku_newMessageFilter", vec![json!({"symKeyID": key})]), "missing topic(s)"),
        (
            ("waku_newMessageFilter", vec![json!({"symKeyID": key, "topics": ["0x12"]})]),
            "Criteria.topics[0] must be 4 bytes",
        ),
        (("waku_newMessageFilter", vec![json!({"privateKeyID": "x"})]), "no key pair with id"),
        (("waku_getFilterMessages", vec![json!("nope")]), "filter not found"),
        (("waku_deleteMessageFilter", vec![json!("nope")]), "filter not found"),
        (("admin_addPeer", vec![json!("enode://xyz@127.0.0.1:30303")]), "node id must be 128 hex"),
        (("admin_addPeer", vec![json!("127.0.0.1:30303")]), "must start with \"enode://\""),
        (("admin_removePeer", vec![json!(42)]), "must be a string"),
        (("waku_markTrustedPeer", vec![json!("enode://")]), "invalid enode"),
    ];
    for ((method, params), expected) in cases {
        let e = call(&c, method, params.clone()).await.expect_err(method);
        assert!(e.contains(expected), "{method}: {e:?} lacks {expected:?}");
        // The node keeps serving.
        assert!(ok(&c, "waku_info", vec![]).await.is_object());
    }

    // An envelope over a lowered size limit is refused before any PoW.
    assert_eq!(ok(&c, "waku_setMaxMessageSize", vec![json!(1024)]).await, json!(true));
    let (method, params) = post(json!({"payload": hex0x(&[1; 2000]), "powTarget": 1e30}));
    let e = call(&c, method, params).await.unwrap_err();
    assert!(e.contains("message too large") && e.contains("maximum is 1024"), "{e}");
    assert_eq!(ok(&c, "waku_info", vec![]).await["maxMessageSize"], json!(1024));
    node.shutdown().await;
}

#[tokio::test]
async fn info_version_settings_and_key_pairs() {
    let (node, c) = start().await;
    assert_eq!(
        ok(&c, "waku_info", vec![]).await,
        json!({"messages": 0, "minPow": 2e-06, "maxMessageSize": 1048576})
    );
    assert_eq!(ok(&c, "waku_version", vec![]).await, json!("1"));
    let version = ok(&c, "web3_clientVersion", vec![]).await;
    assert_eq!(version, json!(wisp_node::client_id()));

    assert_eq!(ok(&c, "waku_setMinPoW", vec![json!(100)]).await, json!(true));
    assert_eq!(ok(&c, "waku_setMinPoW", vec![json!(0.001)]).await, json!(true));
    assert_eq!(ok(&c, "waku_setMaxMessageSize", vec![json!(4096)]).await, json!(true));
    assert_eq!(
        ok(&c, "waku_info", vec![]).await,
        json!({"messages": 0, "minPow": 0.001, "maxMessageSize": 4096})
    );
    let bloom = format!("0x{}", "ff".repeat(64));
    assert_eq!(ok(&c, "waku_setBloomFilter", vec![json!(bloom)]).await, json!(true));
    assert_eq!(ok(&c, "waku_makeLightClient", vec![]).await, json!(true));
    let info = ok(&c, "admin_nodeInfo", vec![]).await;
    assert_eq!(info["protocols"]["waku"]["lightClient"], json!(true));
    assert_eq!(ok(&c, "waku_cancelLightClient", vec![]).await, json!(true));

    let enode = node.enode();
    assert_eq!(info["enode"], json!(enode.to_string()));
    assert_eq!(info["listenAddr"], json!(enode.tcp_addr().to_string()));
    assert_eq!(info["ports"]["listener"], json!(enode.tcp_port));
    assert_eq!(info["id"].as_str().unwrap().len(), 64);
    assert_eq!(info["name"], version);
    assert_eq!(ok(&c, "admin_peers", vec![]).await, json!([]));

    let id = ok(&c, "waku_addPrivateKey", vec![json!(SIGNER_SECRET)]).await;
    assert_eq!(ok(&c, "waku_hasKeyPair", vec![id.clone()]).await, json!(true));
    assert_eq!(ok(&c, "waku_getPublicKey", vec![id.clone()]).await, json!(SIGNER_PUBLIC));
    assert_eq!(ok(&c, "waku_getPrivateKey", vec![id.clone()]).await, json!(SIGNER_SECRET));
    assert_eq!(ok(&c, "waku_deleteKeyPair", vec![id.clone()]).await, json!(true));
    assert_eq!(ok(&c, "waku_hasKeyPair", vec![id]).await, json!(false));
    let sym = ok(&c, "waku_addSymKey", vec![json!(format!("0x{REFPEERS_TEST_KEY}"))]).await;
    assert_eq!(ok(&c, "waku_getSymKey", vec![sym]).await, json!(format!("0x{REFPEERS_TEST_KEY}")));
    node.shutdown().await;
}

/// A node whose JSON-RPC server has `limits`.
async fn start_limited(limits: RpcLimits) -> (Node, HttpClient) {
    let node = Node::start(NodeConfig {
        data_dir: temp_dir("rpc-limits"),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: Some("127.0.0.1:0".parse().unwrap()),
        rpc_limits: limits,
        ..Default::default()
    })
    .await
    .expect("node starts");
    let client = http_client(node.rpc_addr().expect("RPC is serving"));
    (node, client)
}

/// Request headers of a JSON POST whose body is `len` bytes.
fn post_head(len: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection (bounded by [`WAIT`]).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    match tokio::time::timeout(WAIT, stream.read_to_end(&mut out)).await {
        Ok(Ok(_)) => {}
        // A reset after the response is a close too.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => panic!("the server kept the connection open past {WAIT:?}"),
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends a whole POST and reads the response (the server closes or the body is complete).
async fn raw_post(addr: std::net::SocketAddr, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(post_head(body.len()).as_bytes()).await.unwrap();
    // The server may answer (413) and close before the body is all written.
    let _ = s.write_all(body).await;
    let _ = s.write_all(b"").await;
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut chunk = [0u8; 65536];
        let n = match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!("no complete response within {WAIT:?}"),
        };
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if n == 0 || len.is_some_and(|len| body.len() >= len) {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, body.to_owned());
            }
        } else if n == 0 {
            panic!("connection closed without a response: {text:?}");
        }
    }
}

#[tokio::test]
async fn stalled_requests_are_timed_out_while_honest_calls_are_answered() {
    let limits = RpcLimits {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        ..RpcLimits::default()
    };
    let (node, c) = start_limited(limits).await;
    let addr = node.rpc_addr().unwrap();
    // 150 connections stall mid-body (more than jsonrpsee's own cap of 100, which they used
    // to fill), 20 mid-headers.
    let mut mid_body = Vec::new();
    for _ in 0..150 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(post_head(100).as_bytes()).await.unwrap();
        s.write_all(br#"{"jsonrpc":"2.0","#).await.unwrap();
        mid_body.push(s);
    }
    let mut mid_headers = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: loc").await.unwrap();
        mid_headers.push(s);
    }
    // Honest calls are answered meanwhile.
    for _ in 0..3 {
        assert_eq!(ok(&c, "waku_version", vec![]).await, json!("1"));
    }
    // The stalled ones are answered 408 (mid-body) or closed (mid-headers).
    for s in &mut mid_body {
        let response = read_to_close(s).await;
        assert!(response.starts_with("HTTP/1.1 408 "), "{response:?}");
        assert!(response.contains("not received within 2 s"), "{response:?}");
    }
    for s in &mut mid_headers {
        let response = read_to_close(s).await;
        assert!(!response.contains("200 OK"), "{response:?}");
    }
    // A fresh client: the first one's pooled keep-alive connection sat idle past the 2 s header
    // timeout while the stalled connections were read, and the server may close it just as the
    // client reuses it (the keep-alive race every HTTP/1.1 client must live with).
    assert_eq!(ok(&http_client(addr), "waku_version", vec![]).await, json!("1"));
    node.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_with_503() {
    let limits = RpcLimits { max_connections: 4, ..RpcLimits::default() };
    let (node, c) = start_limited(limits).await;
    let addr = node.rpc_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    // The accept loop counts a connection once it has taken it: wait until all four are in.
    let mut extra = eventually("a refused connection", || async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 12];
        match tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some((s, buf)),
            _ => None,
        }
    })
    .await;
    assert_eq!(&extra.1, b"HTTP/1.1 503");
    let rest = read_to_close(&mut extra.0).await;
    assert!(rest.contains("too many JSON-RPC connections"), "{rest:?}");
    drop(held);
    // Once they are gone, calls are served again.
    eventually("a call after the held connections closed", || async {
        call(&c, "waku_version", vec![]).await.ok()
    })
    .await;
    node.shutdown().await;
}

#[tokio::test]
async fn batches_bodies_and_filters_are_bounded() {
    let limits = RpcLimits { max_batch: 10, max_filters: 3, ..RpcLimits::default() };
    let (node, c) = start_limited(limits).await;
    let addr = node.rpc_addr().unwrap();

    let batch = |n: usize| {
        let calls: Vec<Value> = (0..n)
            .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "waku_version", "params": []}))
            .collect();
        serde_json::to_vec(&calls).unwrap()
    };
    let (status, body) = raw_post(addr, &batch(10)).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().len(), 10);
    let (status, body) = raw_post(addr, &batch(11)).await;
    assert_eq!(status, 200, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], json!(-32010), "{body}");
    assert!(error["error"]["message"].as_str().unwrap().contains("batch request was too large"));

    // A body over the limit is refused from its Content-Length, before it is read.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(post_head(wisp_node::rpc::MAX_REQUEST_BODY as usize + 1).as_bytes()).await.unwrap();
    let response = read_to_close(&mut s).await;
    assert!(response.starts_with("HTTP/1.1 413 "), "{response:?}");

    let key = ok(&c, "waku_newSymKey", vec![]).await;
    let criteria = json!({"symKeyID": key, "topics": [TOPIC]});
    let mut filters = Vec::new();
    for _ in 0..3 {
        filters.push(ok(&c, "waku_newMessageFilter", vec![criteria.clone()]).await);
    }
    let e = call(&c, "waku_newMessageFilter", vec![criteria.clone()]).await.unwrap_err();
    assert!(e.contains("too many message filters: at most 3"), "{e}");
    // Subscriptions count too.
    let ws = WsClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("ws://{addr}"))
        .await
        .expect("WebSocket client");
    let mut params = ArrayParams::new();
    params.insert("messages").unwrap();
    params.insert(criteria.clone()).unwrap();
    let e = ws
        .subscribe::<Value, _>("waku_subscribe", params.clone(), "waku_unsubscribe")
        .await
        .expect_err("over the filter cap");
    assert!(e.to_string().contains("too many message filters"), "{e}");
    // Deleting one makes room.
    assert_eq!(ok(&c, "waku_deleteMessageFilter", vec![filters.pop().unwrap()]).await, json!(true));
    let sub = ws
        .subscribe::<Value, _>("waku_subscribe", params, "waku_unsubscribe")
        .await
        .expect("a place was freed");
    let e = call(&c, "waku_newMessageFilter", vec![criteria.clone()]).await.unwrap_err();
    assert!(e.contains("too many message filters"), "{e}");
    sub.unsubscribe().await.unwrap();
    eventually("the unsubscribed place to be free", || async {
        call(&c, "waku_newMessageFilter", vec![criteria.clone()]).await.ok()
    })
    .await;
    node.shutdown().await;
}

#[tokio::test]
async fn websocket_sessions_are_capped_too() {
    let limits = RpcLimits { max_connections: 2, ..RpcLimits::default() };
    let (node, _) = start_limited(limits).await;
    let url = format!("ws://{}", node.rpc_addr().unwrap());
    let ws = || WsClientBuilder::default().request_timeout(WAIT).build(url.clone());
    let (a, b) = (ws().await.expect("first session"), ws().await.expect("second session"));
    let e = ws().await.expect_err("a third session is over the cap");
    assert!(e.to_string().contains("429"), "{e}");
    drop(a);
    eventually("a session after one closed", || async { ws().await.ok() }).await;
    assert!(ok(&b, "waku_version", vec![]).await.is_string());
    node.shutdown().await;
}
