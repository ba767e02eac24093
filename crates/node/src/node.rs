//! Starting and stopping a node: the key, the listener, the dialer, the router service, and
//! (if configured) the JSON-RPC and metrics servers.

use std::{
    collections::HashSet,
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize},
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, watch},
    task::JoinSet,
};
use wisp_crypto::SecretKey;
use wisp_rlpx::{NodeRecord, P2PConfig, RlpxConfig, RlpxStream, frame_limit};
use wisp_waku::Router;

use crate::{
    config::{NodeConfig, Role},
    metrics::NodeMetrics,
    peer::{Ctx, IpSlot, IpTable, PACKET_OVERHEAD, SessionEnd, protocols, run_session, short},
    service::{NodeHandle, NodeInfo, Service},
};

/// The client id sent in Hello and answered by `web3_clientVersion`.
pub fn client_id() -> String {
    format!(
        "wisp/v{}/{}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory or key file could not be used.
    #[error("node key {path}: {detail}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// An address could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// What was to listen there.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// The mailserver archive could not be opened.
    #[error("mailserver archive: {0}")]
    Archive(String),
    /// The JSON-RPC server could not start.
    #[error("JSON-RPC server: {0}")]
    Rpc(String),
    /// The messenger (chat account) could not start: its database or installation id.
    #[error("messenger: {0}")]
    Chat(String),
    /// The rendezvous server could not start (or this build has no rendezvous support).
    #[error("rendezvous: {0}")]
    Rendezvous(String),
}

/// How long shutdown waits for the peer tasks to send their Disconnect(ClientQuitting) and
/// end before the remaining tasks are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running node.
pub struct Node {
    handle: NodeHandle,
    shutdown: watch::Sender<bool>,
    /// The accept loop, the dialers and the one-shot dials; each owns the sessions it started.
    network: JoinSet<()>,
    /// The router service, the mailserver's tasks: ended after the network tasks.
    tasks: JoinSet<()>,
    rpc: Option<crate::rpc::RpcServer>,
    mailserver: Option<Arc<crate::mailserver::Mailserver>>,
    /// Our Discovery v5.1 record, when v5 runs.
    discv5_enr: Option<wisp_discovery::enr::Enr>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("enode", &self.handle.info.enode.to_string())
            .finish_non_exhaustive()
    }
}

/// Reads `<data_dir>/node.key`, or creates it (mode 0600, in a 0700 directory) on first start
/// (see [`crate::node_key`]).
pub fn load_or_create_key(data_dir: &Path) -> Result<SecretKey, NodeError> {
    use crate::node_key::{NODE_KEY_FILE, NodeKeyError, read_key_file, write_key_file};
    let path = data_dir.join(NODE_KEY_FILE);
    let err = |e: NodeKeyError| NodeError::Key { path: path.clone(), detail: e.to_string() };
    match read_key_file(&path) {
        Ok(key) => Ok(key),
        Err(NodeKeyError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let key = SecretKey::random();
            write_key_file(&path, &key, false).map_err(err)?;
            tracing::info!(target: "node", path = %path.display(), "generated a node key");
            Ok(key)
        }
        Err(e) => Err(err(e)),
    }
}

impl Node {
    /// Starts a node: binds its listener (and RPC/metrics servers), spawns its tasks, dials
    /// its static and trusted nodes.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let key = load_or_create_key(&config.data_dir)?;
        let id = key.public_key().node_id();
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| NodeError::Bind { what: "RLPx", addr: config.listen, source })?;
        let bound = listener.local_addr().map_err(|source| NodeError::Bind {
            what: "RLPx",
            addr: config.listen,
            source,
        })?;
        let advertised = match config.external_ip {
            Some(ip) => SocketAddr::new(ip, bound.port()),
            None if bound.ip().is_unspecified() => {
                tracing::warn!(target: "node", "listening on every interface without external_ip: the enode names 127.0.0.1, which only local peers can dial");
                SocketAddr::new("127.0.0.1".parse().expect("valid"), bound.port())
            }
            None => bound,
        };

        let (shutdown, shutdown_rx) = watch::channel(false);
        let metrics = Arc::new(NodeMetrics::default());
        let metrics_addr = match config.metrics {
            Some(addr) => {
                let (bound, _task) =
                    crate::metrics::serve(addr, metrics.clone(), shutdown_rx.clone())
                        .await
                        .map_err(|source| NodeError::Bind { what: "metrics", addr, source })?;
                Some(bound)
            }
            None => None,
        };

        let mut router_config = config.waku.router.clone();
        if config.role == Role::Light {
            router_config.light_node = true;
            if router_config.topic_interest.is_none() {
                router_config.topic_interest = Some(Vec::new());
            }
        }
        // A mailserver acknowledges a batch once it is archived (the service sends the ack).
        router_config.withhold_batch_ack = config.role == Role::Mailserver;
        let (tx, rx) = mpsc::channel(4096);
        let (events, _) = broadcast::channel(4096);
        let (dial_tx, mut dial_rx) = mpsc::unbounded_channel::<NodeRecord>();
        let trusted: Vec<_> = config.trusted_nodes.iter().map(|n| n.id).collect();
        let mut tasks = JoinSet::new();
        let mailserver = if config.role == Role::Mailserver {
            let m = crate::mailserver::Mailserver::start(
                &config.mailserver,
                &config.data_dir,
                key.clone(),
                metrics.clone(),
            )
            .await
            .map_err(|e| NodeError::Archive(e.to_string()))?;
            Some(m)
        } else {
            None
        };
        let mailserver_tasks = mailserver.as_ref().map(|(m, _)| m.clone());
        let scores = Arc::new(crate::scores::Scores::new(config.limit_loopback));
        // Incoming messages are bounded by the largest envelope or packet this node accepts or
        // sends (status-go rejects larger packets itself), not by the 16 MiB protocol limit.
        let max_message =
            router_config.max_envelope_size.max(router_config.max_packet_size) + PACKET_OVERHEAD;
        let rlpx = RlpxConfig {
            handshake_timeout: config.handshake_timeout,
            max_frame_size: frame_limit(max_message, true),
            ..RlpxConfig::default()
        };
        let p2p = P2PConfig {
            max_message_size: max_message,
            hello_timeout: config.hello_timeout,
            ..P2PConfig::default()
        };
        let peer_limits = router_config.peer_limits;
        let ips = Arc::new(IpTable::new(
            config.max_peers_per_ip,
            config.limit_loopback,
            router_config.ip_limits,
        ));
        let service = Service::new(
            Router::new(router_config),
            rx,
            events.clone(),
            trusted,
            metrics.clone(),
            scores.clone(),
            mailserver,
        )
        .with_slow_peer_grace(config.slow_peer_grace);

        let ctx = Arc::new(Ctx {
            key,
            id,
            client_id: client_id(),
            protocols: protocols(config.role != Role::Bootstrap, config.whisper),
            service: tx.clone(),
            shutdown: shutdown_rx.clone(),
            connected: Mutex::new(HashSet::new()),
            inbound: AtomicUsize::new(0),
            outbound: AtomicUsize::new(0),
            max_peers: config.max_peers,
            max_inbound: config.max_inbound.min(config.max_peers),
            ping_interval: config.ping_interval,
            next_peer_id: AtomicU64::new(1),
            scores,
            metrics: metrics.clone(),
            rlpx,
            p2p,
            handshakes: Arc::new(Semaphore::new(config.max_pending_handshakes)),
            ips,
            peer_limits,
        });

        let mut info = NodeInfo {
            id,
            enode: NodeRecord::new(id, advertised),
            client_id: ctx.client_id.clone(),
            rpc: None,
            metrics: metrics_addr,
            role: config.role,
            rendezvous: None,
        };
        tasks.spawn(service.run());
        let mut network = JoinSet::new();
        network.spawn(accept_loop(listener, ctx.clone()));

        let found_by = crate::discovery::FoundBy::default();
        let mut handle = NodeHandle {
            tx,
            info: Arc::new(info.clone()),
            events,
            dial: dial_tx,
            metrics: metrics.clone(),
            chat: None,
            found_by: found_by.clone(),
            pool: crate::discovery::PoolControl::default(),
            legacy: crate::discovery::LegacyLink::default(),
        };
        let discovery = crate::discovery::start(
            &config.discovery,
            crate::discovery::Env {
                key: ctx.key.clone(),
                role: config.role,
                data_dir: &config.data_dir,
                advertised,
                listen: config.listen,
                dial_timeout: config.dial_timeout,
                handle: handle.clone(),
                dial: crate::discovery::Dialer { ctx: ctx.clone(), config: config.clone() },
                metrics,
                shutdown: shutdown_rx.clone(),
                found_by,
                pool: handle.pool.clone(),
            },
            &mut network,
        )
        .await?;
        if let Some(udp) = discovery.udp {
            info.enode.udp_port = udp.port();
            handle.info = Arc::new(info.clone());
        }
        handle.legacy = crate::discovery::LegacyLink(discovery.legacy.clone());
        if discovery.rendezvous.is_some() {
            info.rendezvous = discovery.rendezvous;
            handle.info = Arc::new(info.clone());
        }
        if let Some(chat) = &config.chat {
            let settings = crate::chat::Settings::resolve(chat, &config.data_dir).map_err(|e| {
                NodeError::Chat(format!("installation id in {}: {e}", config.data_dir.display()))
            })?;
            let started = crate::chat::start(
                settings,
                handle.clone(),
                config.trusted_nodes.clone(),
                shutdown_rx.clone(),
                &mut tasks,
            )
            .map_err(NodeError::Chat)?;
            handle.chat = Some(started);
        }
        let rpc = match config.rpc {
            Some(addr) => {
                let server = crate::rpc::RpcServer::start_with(
                    addr,
                    config.rpc_limits.clone(),
                    handle.clone(),
                )
                .await?;
                info.rpc = Some(server.local_addr());
                handle.info = Arc::new(info);
                Some(server)
            }
            None => None,
        };

        for node in config.static_nodes.iter().chain(&config.trusted_nodes) {
            network.spawn(static_dialer(*node, ctx.clone(), config.clone()));
        }
        let dial_ctx = ctx.clone();
        let dial_config = config.clone();
        let mut dial_shutdown = shutdown_rx.clone();
        network.spawn(async move {
            // One-shot dials (`admin_addPeer`) are tracked here and ended with the node.
            let mut dials = JoinSet::new();
            loop {
                tokio::select! {
                    node = dial_rx.recv() => match node {
                        Some(node) => {
                            let (ctx, config) = (dial_ctx.clone(), dial_config.clone());
                            dials.spawn(async move {
                                if let Err(e) = dial_once(node, ctx, &config).await {
                                    tracing::info!(target: "node::dial", peer = %short(&node.id), error = %e, "dial failed");
                                }
                            });
                        }
                        None => break,
                    },
                    Some(_) = dials.join_next(), if !dials.is_empty() => {}
                    _ = dial_shutdown.changed() => break,
                }
            }
            end_children(dials).await;
        });
        tracing::info!(target: "node", enode = %handle.info.enode, role = %config.role, "node started");
        Ok(Self {
            handle,
            shutdown,
            network,
            tasks,
            rpc,
            mailserver: mailserver_tasks,
            discv5_enr: discovery.v5.clone(),
        })
    }

    /// A handle to the node.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// The node's Discovery v5.1 record (`enr:...`), when v5 runs.
    pub fn discv5_enr(&self) -> Option<&wisp_discovery::enr::Enr> {
        self.discv5_enr.as_ref()
    }

    /// The node's enode URL.
    pub fn enode(&self) -> NodeRecord {
        self.handle.info.enode
    }

    /// The JSON-RPC address, if serving.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.handle.info.rpc
    }

    /// The metrics address, if serving.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.handle.info.metrics
    }

    /// The rendezvous server's address (`/ip4/<ip>/tcp/<port>/ethv4/<peer id>`), when this
    /// node serves rendezvous ([`crate::DiscoveryConfig::rendezvous_listen`]).
    pub fn rendezvous_addr(&self) -> Option<&str> {
        self.handle.info.rendezvous.as_deref()
    }

    /// Stops the node: every peer is sent Disconnect(ClientQuitting), then the tasks end.
    /// The listener, dialers and every session they started end first (each session sends
    /// its Disconnect, waiting at most the Disconnect timeout); the router service and the
    /// rest are aborted after them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rpc) = self.rpc.take() {
            rpc.stop().await;
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.network.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(target: "node", "network tasks still running after {SHUTDOWN_GRACE:?}; aborting them");
        }
        self.network.shutdown().await;
        self.tasks.shutdown().await;
        // The archive commits what it queued (and confirms it) before the node is gone.
        if let Some(mailserver) = self.mailserver.take() {
            mailserver.close().await;
        }
    }
}

/// Waits for tracked children to end (they watch the shutdown signal), then aborts the rest.
pub(crate) async fn end_children(mut children: JoinSet<()>) {
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while children.join_next().await.is_some() {}
    })
    .await;
    children.shutdown().await;
}

/// Why an inbound connection was closed right after accept.
fn refuse(ctx: &Ctx, addr: SocketAddr, reason: &'static str) {
    tracing::debug!(target: "node::peer", %addr, reason, "connection refused");
    ctx.metrics.add("wisp_connections_refused_total", &format!("reason=\"{reason}\""), 1);
}

/// Accepts connections. What can be checked before any work is checked right after accept,
/// and a connection that fails a check is closed at once: a banned IP address, the per-IP
/// connection count, the number of handshakes in progress. Each accepted connection's task
/// is tracked and ended with the node.
async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut children = JoinSet::new();
    loop {
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(target: "node::peer", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Some(_) = children.join_next(), if !children.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        let ip = addr.ip();
        if ctx.scores.banned_ip(&ip, std::time::Instant::now()).is_some() {
            refuse(&ctx, addr, "banned_ip");
            continue;
        }
        let Some(slot) = ctx.ips.enter(ip) else {
            refuse(&ctx, addr, "per_ip");
            continue;
        };
        let Ok(permit) = ctx.handshakes.clone().try_acquire_owned() else {
            refuse(&ctx, addr, "handshakes");
            continue;
        };
        children.spawn(inbound(ctx.clone(), tcp, addr, permit, slot));
    }
    drop(listener);
    end_children(children).await;
}

/// One inbound connection: the RLPx handshake (bounded by `handshake_timeout` in all), then
/// the session.
async fn inbound(
    ctx: Arc<Ctx>,
    tcp: TcpStream,
    addr: SocketAddr,
    permit: OwnedSemaphorePermit,
    slot: IpSlot,
) {
    let _ = tcp.set_nodelay(true);
    let mut shutdown = ctx.shutdown.clone();
    let rlpx = tokio::select! {
        r = RlpxStream::accept(tcp, &ctx.key, &ctx.rlpx) => r,
        _ = shutdown.changed() => return,
    };
    match rlpx {
        Ok(rlpx) => {
            let end = run_session(ctx, rlpx, addr, true, Some(permit), Some(slot)).await;
            if let SessionEnd::Failed(e) = end {
                tracing::debug!(target: "node::peer", %addr, error = %e, "inbound session failed");
            }
        }
        Err(e) => {
            tracing::debug!(target: "node::peer", %addr, error = %e, "inbound handshake failed")
        }
    }
}

pub(crate) async fn dial_once(
    node: NodeRecord,
    ctx: Arc<Ctx>,
    config: &NodeConfig,
) -> Result<SessionEnd, String> {
    let addr = node.tcp_addr();
    let rlpx = tokio::time::timeout(config.dial_timeout, async {
        let tcp =
            TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        RlpxStream::connect(tcp, &ctx.key, node.id, &ctx.rlpx).await.map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| format!("no answer from {addr} within {:?}", config.dial_timeout))??;
    Ok(run_session(ctx, rlpx, addr, false, None, None).await)
}

/// Keeps a static node connected: dial, and redial with exponential backoff.
async fn static_dialer(node: NodeRecord, ctx: Arc<Ctx>, config: NodeConfig) {
    let mut shutdown = ctx.shutdown.clone();
    let mut backoff = config.redial_min;
    loop {
        let already = ctx.connected.lock().unwrap_or_else(|e| e.into_inner()).contains(&node.id);
        if !already {
            match dial_once(node, ctx.clone(), &config).await {
                Ok(SessionEnd::Closed(_)) => backoff = config.redial_min,
                Ok(SessionEnd::Failed(e)) | Err(e) => {
                    tracing::info!(target: "node::dial", peer = %short(&node.id), error = %e, retry_in = ?backoff, "static node unreachable");
                    backoff = (backoff * 2).min(config.redial_max);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
    }
}
