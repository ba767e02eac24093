//! Peer sessions: the Hello exchange, admission (identity, duplicates, slots), and one task
//! per peer that moves packets between its RLPx session and the router service.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch},
};
use wisp_crypto::{NodeId, SecretKey};
use wisp_rlpx::{
    DisconnectReason, FrameGate, Hello, P2P_VERSION, P2PConfig, P2PError, P2PStream, Protocol,
    RlpxConfig, RlpxStream, UnauthedP2PStream,
};
use wisp_waku::{
    Capability, DropReason, PeerId,
    packets::{
        SHH_NAME, SHH_PROTOCOL_LENGTH, SHH_VERSION, WAKU_NAME, WAKU_PROTOCOL_LENGTH, WAKU_VERSION,
    },
    ratelimit::{Bucket, Exceeded, RateLimitConfig},
};

use crate::{
    metrics::NodeMetrics,
    service::{Command, PEER_IN_FLIGHT_BYTES, PEER_QUEUE, PeerCommand, PeerInfo, now_ms},
};

/// Room for a packet's RLP framing and message id around the largest envelope.
pub(crate) const PACKET_OVERHEAD: usize = 4096;

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
    pub(crate) metrics: Arc<NodeMetrics>,
    /// The RLPx settings (auth/ack timeout, frame limits).
    pub(crate) rlpx: RlpxConfig,
    /// The `p2p` settings (Hello timeout, message limit).
    pub(crate) p2p: P2PConfig,
    /// Inbound connections in their handshake.
    pub(crate) handshakes: Arc<Semaphore>,
    /// Inbound connections and frame rate limits per IP address.
    pub(crate) ips: Arc<IpTable>,
    /// Rate limits per peer on the raw frames received.
    pub(crate) peer_limits: RateLimitConfig,
}

/// Inbound connections per IP address, and each address's rate-limit buckets. An entry lives
/// while a connection from its address does: the last one to leave frees it.
#[derive(Debug)]
pub(crate) struct IpTable {
    entries: Mutex<HashMap<IpAddr, IpEntry>>,
    max_per_ip: usize,
    limit_loopback: bool,
    limits: RateLimitConfig,
}

#[derive(Debug)]
struct IpEntry {
    conns: usize,
    packets: Bucket,
    bytes: Bucket,
}

/// One inbound connection counted against its IP address, until dropped.
#[derive(Debug)]
pub(crate) struct IpSlot {
    table: Arc<IpTable>,
    ip: IpAddr,
    counted: bool,
}

impl IpTable {
    pub(crate) fn new(max_per_ip: usize, limit_loopback: bool, limits: RateLimitConfig) -> Self {
        Self { entries: Mutex::new(HashMap::new()), max_per_ip, limit_loopback, limits }
    }

    fn exempt(&self, ip: &IpAddr) -> bool {
        ip.is_loopback() && !self.limit_loopback
    }

    /// Counts a new inbound connection from `ip`, or `None` if the address has its maximum.
    pub(crate) fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.exempt(&ip) {
            return Some(IpSlot { table: self.clone(), ip, counted: false });
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        let e = entries.entry(ip).or_insert_with(|| IpEntry {
            conns: 0,
            packets: Bucket::new(&self.limits.packets, now),
            bytes: Bucket::new(&self.limits.bytes, now),
        });
        if e.conns >= self.max_per_ip {
            if e.conns == 0 {
                entries.remove(&ip);
            }
            return None;
        }
        e.conns += 1;
        Some(IpSlot { table: self.clone(), ip, counted: true })
    }

    /// Charges one frame of `bytes` to `ip`'s buckets; `Err` names the limit exceeded.
    fn charge(&self, ip: &IpAddr, bytes: usize, now: u64) -> Result<(), Exceeded> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = entries.get_mut(ip) else { return Ok(()) };
        if !e.packets.take(&self.limits.packets, 1, now) {
            return Err(Exceeded::Packets);
        }
        if !e.bytes.take(&self.limits.bytes, bytes as u64, now) {
            return Err(Exceeded::Bytes);
        }
        Ok(())
    }

    /// The addresses with state (for tests: it must empty when the peers leave).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let mut entries = self.table.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(&self.ip) {
            e.conns = e.conns.saturating_sub(1);
            if e.conns == 0 {
                entries.remove(&self.ip);
            }
        }
    }
}

/// The rate limit on raw frames (before snappy and decoding): per peer, and per IP address
/// for inbound connections. A refusal drops the peer with SubprotocolError, counts it as the
/// router's rate-limit drops are counted, and costs the node id the same points.
struct RateGate {
    limits: RateLimitConfig,
    packets: Bucket,
    bytes: Bucket,
    ip: Option<(Arc<IpTable>, IpAddr)>,
    node: NodeId,
    scores: Arc<crate::scores::Scores>,
    metrics: Arc<NodeMetrics>,
}

impl RateGate {
    fn refuse(&self, scope: &'static str, exceeded: Exceeded) -> (DisconnectReason, String) {
        let ip = self.ip.as_ref().map(|(_, ip)| *ip);
        let reason = DropReason::RateLimited { scope, exceeded };
        self.metrics.add("wisp_peers_dropped_total", "reason=\"rate_limited\"", 1);
        self.metrics.add("wisp_rate_limited_peers_total", "", 1);
        let points = crate::scores::penalty(&reason);
        if self.scores.penalize_from(self.node, ip, points, std::time::Instant::now()) {
            self.metrics.add("wisp_peers_banned_total", "", 1);
        }
        (crate::service::disconnect_reason(&reason), format!("{reason} (raw frames)"))
    }
}

impl FrameGate for RateGate {
    fn admit(&mut self, frame_len: usize) -> Result<(), (DisconnectReason, String)> {
        let now = now_ms();
        if !self.packets.take(&self.limits.packets, 1, now) {
            return Err(self.refuse("peer", Exceeded::Packets));
        }
        if !self.bytes.take(&self.limits.bytes, frame_len as u64, now) {
            return Err(self.refuse("peer", Exceeded::Bytes));
        }
        if let Some((table, ip)) = &self.ip
            && let Err(exceeded) = table.charge(ip, frame_len, now)
        {
            return Err(self.refuse("ip", exceeded));
        }
        Ok(())
    }
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

/// Runs the Hello exchange and the peer's session until it ends. `permit` (an inbound
/// handshake slot) is given back once the peer is admitted or refused; `ip_slot` (an inbound
/// connection counted against its address) is held until the session ends.
pub(crate) async fn run_session(
    ctx: Arc<Ctx>,
    rlpx: RlpxStream<TcpStream>,
    remote_addr: SocketAddr,
    inbound: bool,
    permit: Option<OwnedSemaphorePermit>,
    ip_slot: Option<IpSlot>,
) -> SessionEnd {
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: ctx.client_id.clone(),
        capabilities: ctx.protocols.iter().map(|p| p.cap.clone()).collect(),
        listen_port: 0,
        id: ctx.id,
    };
    let (mut stream, theirs) = match UnauthedP2PStream::new(rlpx, ctx.p2p.clone())
        .handshake(hello, &ctx.protocols)
        .await
    {
        Ok(s) => s,
        Err(e) => return SessionEnd::Failed(e.to_string()),
    };
    let node = theirs.id;
    let slots = if inbound { &ctx.inbound } else { &ctx.outbound };
    // Admission: not ourselves, not banned, not twice, within the slots. The checks and the
    // taking of the slot happen under one lock, so two peers cannot both take the last slot.
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
            slots.fetch_add(1, Ordering::Relaxed);
            None
        }
    };
    drop(permit);
    if let Some(reason) = refuse {
        let _ = stream.disconnect(reason).await;
        return SessionEnd::Failed(format!("refused: {reason}"));
    }
    let now = now_ms();
    stream.set_gate(Box::new(RateGate {
        limits: ctx.peer_limits,
        packets: Bucket::new(&ctx.peer_limits.packets, now),
        bytes: Bucket::new(&ctx.peer_limits.bytes, now),
        ip: ip_slot.as_ref().filter(|s| s.counted).map(|s| (s.table.clone(), s.ip)),
        node,
        scores: ctx.scores.clone(),
        metrics: ctx.metrics.clone(),
    }));
    let end = serve(&ctx, &mut stream, &theirs, remote_addr, inbound).await;
    slots.fetch_sub(1, Ordering::Relaxed);
    ctx.connected.lock().unwrap_or_else(|e| e.into_inner()).remove(&node);
    let _ = ctx.service.send(Command::PeerDown { node }).await;
    drop(ip_slot);
    tracing::info!(target: "node::peer", peer = %short(&node), client = %theirs.client_id, reason = %end, "peer disconnected");
    SessionEnd::Closed(end)
}

/// Why the serve loop stops between two messages.
enum Stop {
    /// The service (router, RPC, a slow queue) wants the peer gone.
    Kill,
    /// The node shuts down.
    Quit,
    /// Sending failed.
    Failed(String),
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
    let (kill_tx, mut kill) = watch::channel(None);
    let in_flight = Arc::new(Semaphore::new(PEER_IN_FLIGHT_BYTES));
    let info = PeerInfo {
        id: node,
        client_id: theirs.client_id.clone(),
        remote_addr,
        inbound,
        trusted: false,
        caps,
    };
    tracing::info!(target: "node::peer", peer = %short(&node), client = %theirs.client_id, %remote_addr, inbound, "peer connected");
    let up = Command::PeerUp { info, ids: ids.clone(), tx, kill: kill_tx };
    if ctx.service.send(up).await.is_err() {
        let _ = stream.disconnect(DisconnectReason::ClientQuitting).await;
        return "node shutting down".into();
    }
    let mut shutdown = ctx.shutdown.clone();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + ctx.ping_interval,
        ctx.ping_interval,
    );
    loop {
        let stop = tokio::select! {
            msg = stream.recv() => match msg {
                Ok(msg) => {
                    let Some((shared, code)) = stream.shared_capabilities().resolve(msg.id) else { continue };
                    let want = if shared.cap.name == SHH_NAME { Capability::Whisper } else { Capability::Waku };
                    let Some((id, _)) = ids.iter().find(|(_, c)| *c == want) else { continue };
                    // Fairness: a peer may have at most PEER_IN_FLIGHT_BYTES of packets waiting
                    // for the router, so a flooding peer cannot fill the service's queue ahead of
                    // everyone else (its own socket backs up instead).
                    let cost = msg.data.len().clamp(1, PEER_IN_FLIGHT_BYTES) as u32;
                    let forward = async {
                        let permit = in_flight.clone().acquire_many_owned(cost).await.ok();
                        let cmd = Command::PeerPacket { id: *id, code, payload: msg.data, permit };
                        ctx.service.send(cmd).await
                    };
                    tokio::select! {
                        sent = forward => if sent.is_err() { Stop::Quit } else { continue },
                        _ = kill.changed() => Stop::Kill,
                        _ = shutdown.changed() => Stop::Quit,
                    }
                }
                Err(P2PError::Disconnected(reason)) => return format!("peer sent Disconnect: {reason}"),
                Err(e) => return e.to_string(),
            },
            cmd = rx.recv() => match cmd {
                Some(PeerCommand::Send { capability, code, payload }) => {
                    let name = match capability { Capability::Waku => WAKU_NAME, Capability::Whisper => SHH_NAME };
                    // A peer that reads nothing blocks this send: the kill signal still ends it.
                    tokio::select! {
                        sent = stream.send_capability(name, code, &payload) => match sent {
                            Ok(()) => continue,
                            Err(e) => Stop::Failed(format!("send failed: {e}")),
                        },
                        _ = kill.changed() => Stop::Kill,
                        _ = shutdown.changed() => Stop::Quit,
                    }
                }
                None => return "router service stopped".into(),
            },
            _ = ping.tick() => {
                if stream.awaiting_pong() {
                    let _ = stream.disconnect(DisconnectReason::PingTimeout).await;
                    return "no Pong in time".into();
                }
                tokio::select! {
                    sent = stream.send_ping() => match sent {
                        Ok(()) => continue,
                        Err(e) => Stop::Failed(format!("ping failed: {e}")),
                    },
                    _ = kill.changed() => Stop::Kill,
                    _ = shutdown.changed() => Stop::Quit,
                }
            }
            _ = kill.changed() => Stop::Kill,
            _ = shutdown.changed() => Stop::Quit,
        };
        return match stop {
            Stop::Kill => {
                let reason = (*kill.borrow()).unwrap_or(DisconnectReason::DisconnectRequested);
                let _ = stream.disconnect(reason).await;
                format!("we sent Disconnect: {reason}")
            }
            Stop::Quit => {
                let _ = stream.disconnect(DisconnectReason::ClientQuitting).await;
                "node shutting down".into()
            }
            Stop::Failed(e) => e,
        };
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

#[cfg(test)]
mod tests {
    use wisp_waku::ratelimit::Limit;

    use super::*;

    fn table(limit_loopback: bool) -> Arc<IpTable> {
        let limits = RateLimitConfig { packets: Limit::new(10), bytes: Limit::new(1000) };
        Arc::new(IpTable::new(2, limit_loopback, limits))
    }

    #[test]
    fn per_ip_count_is_bounded_and_freed_by_the_last_connection() {
        let t = table(false);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = t.enter(ip).unwrap();
        let b = t.enter(ip).unwrap();
        assert!(t.enter(ip).is_none());
        assert!(t.enter("192.0.2.2".parse().unwrap()).is_some());
        drop(a);
        let c = t.enter(ip).unwrap();
        drop((b, c));
        assert_eq!(t.len(), 0, "the state of an address goes with its last connection");
    }

    #[test]
    fn loopback_is_exempt_unless_limited() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let t = table(false);
        let held: Vec<_> = (0..10).map(|_| t.enter(lo).unwrap()).collect();
        assert_eq!(t.len(), 0);
        drop(held);
        let t = table(true);
        let _a = (t.enter(lo).unwrap(), t.enter(lo).unwrap());
        assert!(t.enter(lo).is_none());
    }

    #[test]
    fn ip_buckets_charge_raw_bytes() {
        let t = table(false);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let _slot = t.enter(ip).unwrap();
        assert!(t.charge(&ip, 1500, 0).is_ok());
        assert_eq!(t.charge(&ip, 600, 0), Err(Exceeded::Bytes));
    }
}
