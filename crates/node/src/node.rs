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
    sync::{broadcast, mpsc, watch},
    task::JoinSet,
};
use wisp_crypto::SecretKey;
use wisp_rlpx::{NodeRecord, RlpxConfig, RlpxStream};
use wisp_waku::Router;

use crate::{
    config::{NodeConfig, Role},
    metrics::NodeMetrics,
    peer::{Ctx, SessionEnd, protocols, run_session, short},
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
}

/// A running node.
pub struct Node {
    handle: NodeHandle,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    rpc: Option<crate::rpc::RpcServer>,
    mailserver: Option<Arc<crate::mailserver::Mailserver>>,
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
        let scores = Arc::new(crate::scores::Scores::default());
        let service = Service::new(
            Router::new(router_config),
            rx,
            events.clone(),
            trusted,
            metrics.clone(),
            scores.clone(),
            mailserver,
        );

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
        });

        let mut info = NodeInfo {
            id,
            enode: NodeRecord::new(id, advertised),
            client_id: ctx.client_id.clone(),
            rpc: None,
            metrics: metrics_addr,
            role: config.role,
        };
        tasks.spawn(service.run());
        tasks.spawn(accept_loop(listener, ctx.clone()));

        let mut handle =
            NodeHandle { tx, info: Arc::new(info.clone()), events, dial: dial_tx, metrics };
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
            tasks.spawn(static_dialer(*node, ctx.clone(), config.clone()));
        }
        let dial_ctx = ctx.clone();
        let dial_config = config.clone();
        let mut dial_shutdown = shutdown_rx.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    node = dial_rx.recv() => match node {
                        Some(node) => {
                            let (ctx, config) = (dial_ctx.clone(), dial_config.clone());
                            tokio::spawn(async move {
                                if let Err(e) = dial_once(node, ctx, &config).await {
                                    tracing::info!(target: "node::dial", peer = %short(&node.id), error = %e, "dial failed");
                                }
                            });
                        }
                        None => break,
                    },
                    _ = dial_shutdown.changed() => break,
                }
            }
        });
        tracing::info!(target: "node", enode = %handle.info.enode, role = %config.role, "node started");
        Ok(Self { handle, shutdown, tasks, rpc, mailserver: mailserver_tasks })
    }

    /// A handle to the node.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
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

    /// Stops the node: every peer is sent Disconnect(ClientQuitting), then the tasks end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(rpc) = self.rpc.take() {
            rpc.stop().await;
        }
        // Give peer tasks a moment to send their Disconnect.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        // The archive commits what it queued (and confirms it) before the node is gone.
        if let Some(mailserver) = self.mailserver.take() {
            mailserver.close().await;
        }
    }
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.clone();
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
            _ = shutdown.changed() => return,
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            match RlpxStream::accept(tcp, &ctx.key, &RlpxConfig::default()).await {
                Ok(rlpx) => {
                    if let SessionEnd::Failed(e) = run_session(ctx, rlpx, addr, true).await {
                        tracing::debug!(target: "node::peer", %addr, error = %e, "inbound session failed");
                    }
                }
                Err(e) => {
                    tracing::debug!(target: "node::peer", %addr, error = %e, "inbound handshake failed")
                }
            }
        });
    }
}

async fn dial_once(
    node: NodeRecord,
    ctx: Arc<Ctx>,
    config: &NodeConfig,
) -> Result<SessionEnd, String> {
    let addr = node.tcp_addr();
    let rlpx = tokio::time::timeout(config.dial_timeout, async {
        let tcp =
            TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        RlpxStream::connect(tcp, &ctx.key, node.id, &RlpxConfig::default())
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| format!("no answer from {addr} within {:?}", config.dial_timeout))??;
    Ok(run_session(ctx, rlpx, addr, false).await)
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
