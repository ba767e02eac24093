//! Peer sessions: the Hello exchange, admission (identity, duplicates, slots), and one task
//! per peer that moves packets between its RLPx session and the router service.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    net::TcpStream,
    sync::{mpsc, watch},
};
use wisp_crypto::{NodeId, SecretKey};
use wisp_rlpx::{
    DisconnectReason, Hello, P2P_VERSION, P2PConfig, P2PError, P2PStream, Protocol, RlpxStream,
    UnauthedP2PStream,
};
use wisp_waku::{
    Capability, PeerId,
    packets::{
        SHH_NAME, SHH_PROTOCOL_LENGTH, SHH_VERSION, WAKU_NAME, WAKU_PROTOCOL_LENGTH, WAKU_VERSION,
    },
};

use crate::service::{Command, PEER_QUEUE, PeerCommand, PeerInfo};

/// What every peer task shares.
pub(crate) struct Ctx {
    pub(crate) key: SecretKey,
    pub(crate) id: NodeId,
    pub(crate) client_id: String,
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) service: mpsc::Sender<Command>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) connected: Mutex<HashSet<NodeId>>,
    pub(crate) inbound: AtomicUsize,
    pub(crate) outbound: AtomicUsize,
    pub(crate) max_peers: usize,
    pub(crate) max_inbound: usize,
    pub(crate) ping_interval: Duration,
    pub(crate) next_peer_id: AtomicU64,
    pub(crate) scores: Arc<crate::scores::Scores>,
}

/// The capabilities a node advertises: `waku/1`, and `shh/6` with Whisper on; none for a
/// bootstrap node.
pub(crate) fn protocols(waku: bool, whisper: bool) -> Vec<Protocol> {
    let mut p = Vec::new();
    if whisper {
        p.push(Protocol::new(SHH_NAME, SHH_VERSION, SHH_PROTOCOL_LENGTH));
    }
    if waku {
        p.push(Protocol::new(WAKU_NAME, WAKU_VERSION, WAKU_PROTOCOL_LENGTH));
    }
    p
}

/// Why a session ended, for logs and dial backoff.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    /// It ran and ended (a Disconnect either way, or the socket closed).
    Closed(String),
    /// It never got going.
    Failed(String),
}

/// Runs the Hello exchange and the peer's session until it ends.
pub(crate) async fn run_session(
    ctx: Arc<Ctx>,
    rlpx: RlpxStream<TcpStream>,
    remote_addr: SocketAddr,
    inbound: bool,
) -> SessionEnd {
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: ctx.client_id.clone(),
        capabilities: ctx.protocols.iter().map(|p| p.cap.clone()).collect(),
        listen_port: 0,
        id: ctx.id,
    };
    let (mut stream, theirs) = match UnauthedP2PStream::new(rlpx, P2PConfig::default())
        .handshake(hello, &ctx.protocols)
        .await
    {
        Ok(s) => s,
        Err(e) => return SessionEnd::Failed(e.to_string()),
    };
    let node = theirs.id;
    // Admission: not ourselves, not twice, within the slots.
    let refuse = {
        let mut connected = ctx.connected.lock().unwrap_or_else(|e| e.into_inner());
        let total = ctx.inbound.load(Ordering::Relaxed) + ctx.outbound.load(Ordering::Relaxed);
        if node == ctx.id {
            Some(DisconnectReason::ConnectedToSelf)
        } else if ctx.scores.banned(&node, std::time::Instant::now()).is_some() {
            Some(DisconnectReason::UselessPeer)
        } else if connected.contains(&node) {
            Some(DisconnectReason::AlreadyConnected)
        } else if total >= ctx.max_peers
            || (inbound && ctx.inbound.load(Ordering::Relaxed) >= ctx.max_inbound)
        {
            Some(DisconnectReason::TooManyPeers)
        } else {
            connected.insert(node);
            None
        }
    };
    if let Some(reason) = refuse {
        let _ = stream.disconnect(reason).await;
        return SessionEnd::Failed(format!("refused: {reason}"));
    }
    let slots = if inbound { &ctx.inbound } else { &ctx.outbound };
    slots.fetch_add(1, Ordering::Relaxed);
    let end = serve(&ctx, &mut stream, &theirs, remote_addr, inbound).await;
    slots.fetch_sub(1, Ordering::Relaxed);
    ctx.connected.lock().unwrap_or_else(|e| e.into_inner()).remove(&node);
    let _ = ctx.service.send(Command::PeerDown { node }).await;
    tracing::info!(target: "node::peer", peer = %short(&node), client = %theirs.client_id, reason = %end, "peer disconnected");
    SessionEnd::Closed(end)
}

async fn serve(
    ctx: &Ctx,
    stream: &mut P2PStream<TcpStream>,
    theirs: &Hello,
    remote_addr: SocketAddr,
    inbound: bool,
) -> String {
    let node = theirs.id;
    let mut ids = Vec::new();
    let mut caps = Vec::new();
    for c in stream.shared_capabilities().iter() {
        let cap = match c.cap.name.as_str() {
            WAKU_NAME => Capability::Waku,
            SHH_NAME => Capability::Whisper,
            _ => continue,
        };
        ids.push((PeerId(ctx.next_peer_id.fetch_add(1, Ordering::Relaxed)), cap));
        caps.push(c.cap.to_string());
    }
    let (tx, mut rx) = mpsc::channel(PEER_QUEUE);
    let info = PeerInfo {
        id: node,
        client_id: theirs.client_id.clone(),
        remote_addr,
        inbound,
        trusted: false,
        caps,
    };
    tracing::info!(target: "node::peer", peer = %short(&node), client = %theirs.client_id, %remote_addr, inbound, "peer connected");
    if ctx.service.send(Command::PeerUp { info, ids: ids.clone(), tx }).await.is_err() {
        let _ = stream.disconnect(DisconnectReason::ClientQuitting).await;
        return "node shutting down".into();
    }
    let mut shutdown = ctx.shutdown.clone();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + ctx.ping_interval,
        ctx.ping_interval,
    );
    loop {
        tokio::select! {
            msg = stream.recv() => match msg {
                Ok(msg) => {
                    let Some((shared, code)) = stream.shared_capabilities().resolve(msg.id) else { continue };
                    let want = if shared.cap.name == SHH_NAME { Capability::Whisper } else { Capability::Waku };
                    let Some((id, _)) = ids.iter().find(|(_, c)| *c == want) else { continue };
                    let cmd = Command::PeerPacket { id: *id, code, payload: msg.data };
                    if ctx.service.send(cmd).await.is_err() {
                        let _ = stream.disconnect(DisconnectReason::ClientQuitting).await;
                        return "node shutting down".into();
                    }
                }
                Err(P2PError::Disconnected(reason)) => return format!("peer sent Disconnect: {reason}"),
                Err(e) => return e.to_string(),
            },
            cmd = rx.recv() => match cmd {
                Some(PeerCommand::Send { capability, code, payload }) => {
                    let name = match capability { Capability::Waku => WAKU_NAME, Capability::Whisper => SHH_NAME };
                    if let Err(e) = stream.send_capability(name, code, &payload).await {
                        return format!("send failed: {e}");
                    }
                }
                Some(PeerCommand::Disconnect(reason)) => {
                    let _ = stream.disconnect(reason).await;
                    return format!("we sent Disconnect: {reason}");
                }
                None => return "router service stopped".into(),
            },
            _ = ping.tick() => {
                if stream.awaiting_pong() {
                    let _ = stream.disconnect(DisconnectReason::PingTimeout).await;
                    return "no Pong in time".into();
                }
                if let Err(e) = stream.send_ping().await {
                    return format!("ping failed: {e}");
                }
            }
            _ = shutdown.changed() => {
                let _ = stream.disconnect(DisconnectReason::ClientQuitting).await;
                return "node shutting down".into();
            }
        }
    }
}

/// The first 8 hex characters of a node id, for logs.
pub(crate) fn short(id: &NodeId) -> String {
    id.to_string()[..8].to_owned()
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed(s) | Self::Failed(s) => f.write_str(s),
        }
    }
}
