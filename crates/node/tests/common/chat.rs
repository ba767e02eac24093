//! Nodes with a chat account driven over JSON-RPC (`wakuext_*`): their config, an HTTP
//! client, and calls that return the node's error message or panic on transport errors.

use std::time::Duration;

use jsonrpsee::{
    core::{ClientError, client::ClientT, params::ArrayParams},
    http_client::{HttpClient, HttpClientBuilder},
};
use serde_json::Value;
use wisp_crypto::SecretKey;
use wisp_node::{ArchiveSpec, ChatConfig, MailserverConfig, Node, NodeConfig, Role};

use super::{WAIT, temp_dir};

/// A node on 127.0.0.1 with RPC on, an in-memory mailserver archive, quick redials, and a
/// chat account (or none); its data directory is a fresh one named after `prefix`.
pub(crate) fn chat_config(prefix: &str, account: Option<&SecretKey>, role: Role) -> NodeConfig {
    NodeConfig {
        data_dir: temp_dir(prefix),
        listen: "127.0.0.1:0".parse().unwrap(),
        rpc: Some("127.0.0.1:0".parse().unwrap()),
        role,
        mailserver: MailserverConfig { archive: ArchiveSpec::Memory, ..Default::default() },
        redial_min: Duration::from_millis(200),
        chat: account.map(|k| ChatConfig {
            mailserver_wait: Duration::from_secs(5),
            history_page_timeout: Duration::from_secs(10),
            ..ChatConfig::new(k.clone())
        }),
        ..Default::default()
    }
}

/// An HTTP JSON-RPC client of `node`.
pub(crate) fn client(node: &Node) -> HttpClient {
    let url = format!("http://{}", node.rpc_addr().unwrap());
    HttpClientBuilder::default().request_timeout(WAIT).build(url).unwrap()
}

/// Calls `method`; the node's error message on a call error, a panic on a transport error.
pub(crate) async fn call(
    client: &HttpClient,
    method: &str,
    params: Vec<Value>,
) -> Result<Value, String> {
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

/// Calls `method` and expects a result.
pub(crate) async fn ok(client: &HttpClient, method: &str, params: Vec<Value>) -> Value {
    call(client, method, params).await.unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// A chat key as the RPC takes it: `0x04…`, uncompressed.
pub(crate) fn key_hex(key: &SecretKey) -> String {
    format!("0x{}", hex::encode(key.public_key().to_uncompressed()))
}
