//! Test helpers (feature `test-utils`, STYLE item 13): a raw `waku/1` peer that does the RLPx
//! handshake, Hello and Status by hand, for tests and benchmarks that need to speak to a node
//! from outside it (to flood it, send it malformed packets, or count what it forwards).

use tokio::net::TcpStream;
use wisp_crypto::SecretKey;
use wisp_rlpx::{
    Hello, NodeRecord, P2P_VERSION, P2PConfig, P2PError, P2PStream, Protocol, RlpxConfig,
    RlpxError, RlpxStream, UnauthedP2PStream,
};
use wisp_waku::{
    StatusOptions, WakuPacket,
    packets::{WAKU_NAME, WAKU_PROTOCOL_LENGTH, WAKU_VERSION, waku_codes},
};

/// Dials `node` with `key`, completes the RLPx handshake and Hello (advertising `waku/1` as
/// `client_id`), and sends a `waku/1` Status with a PoW requirement of 0.
pub async fn raw_waku_peer(
    node: NodeRecord,
    key: &SecretKey,
    client_id: &str,
) -> Result<P2PStream<TcpStream>, P2PError> {
    let tcp = TcpStream::connect(node.tcp_addr()).await.map_err(RlpxError::from)?;
    let _ = tcp.set_nodelay(true);
    let rlpx = RlpxStream::connect(tcp, key, node.id, &RlpxConfig::default()).await?;
    let protocols = [Protocol::new(WAKU_NAME, WAKU_VERSION, WAKU_PROTOCOL_LENGTH)];
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: client_id.to_owned(),
        capabilities: vec![protocols[0].cap.clone()],
        listen_port: 0,
        id: key.public_key().node_id(),
    };
    let (mut stream, _) =
        UnauthedP2PStream::new(rlpx, P2PConfig::default()).handshake(hello, &protocols).await?;
    let mut status = Vec::new();
    WakuPacket::Status(StatusOptions { pow_requirement: Some(0.0), ..Default::default() })
        .encode(&mut status);
    stream.send_capability(WAKU_NAME, waku_codes::STATUS, &status).await?;
    Ok(stream)
}

/// Reads until the session ends and returns why (the peer's Disconnect, or the error).
pub async fn session_end(stream: &mut P2PStream<TcpStream>) -> P2PError {
    loop {
        if let Err(e) = stream.recv().await {
            return e;
        }
    }
}
