//! Discovery in the node: the driver that binds `wisp-discovery` to a running node.
//!
//! When discovery is on, the node runs the legacy topic discovery
//! ([`wisp_discovery::legacy`]) on its UDP port (by default the number of its RLPx TCP port, as
//! statusd does), walks the configured EIP-1459 trees ([`wisp_discovery::dns`]), registers at
//! and discovers from Status rendezvous servers ([`rendezvous`], feature `rendezvous`) and
//! feeds the nodes they find to a [`PeerPool`] (status-go's `RequireTopics`). The pool's dials go
//! through the node's one-shot dialer ([`crate::NodeHandle::add_peer`]); connects,
//! disconnects and failed dials are read back from the node's peer list. Peers that worked are
//! kept in the peer cache ([`cache::PeerCache`], `<data-dir>/peers.sqlite`) and offered to the
//! pool first after a restart, also with discovery off.
//!
//! Roles (`status/1-client.md` §Node discovery and roles):
//! - relay: registers `whisper`, keeps `whisper` {2, 2} by default;
//! - mailserver: registers `whisper` and `whispermail`, keeps `whisper` {2, 2};
//! - light: registers nothing (searches only), keeps `whisper` {2, 2} and `whispermail` {1, 1}
//!   (the latter is wisp's choice: status-go's only default is `whisper` {2, 2});
//! - bootstrap: serves discovery (tickets, registrations, lookups), keeps no peers.
//!
//! This module owns no protocol logic: the state machines are in `wisp-discovery`; it passes
//! them the wall-clock time.

pub mod cache;
pub mod fleet;
pub mod rendezvous;
mod retry;
pub mod section;
mod v5;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    net::UdpSocket,
    sync::{mpsc, watch},
    task::JoinSet,
};
use wisp_crypto::{NodeId, SecretKey};
use wisp_discovery::{
    dns::{Client, ClientConfig, HickoryResolver, MemoryResolver, Resolver},
    enr::{Enr, WakuRoles},
    legacy::{
        self, Endpoint, LegacyDiscovery, Topic,
        driver::{Handle, UdpDriver, unix_ms},
    },
    pool::{Limits, PeerPool, PoolAction, PoolConfig},
};
use wisp_rlpx::NodeRecord;

use crate::{NodeHandle, Role, metrics::NodeMetrics};
use cache::{CACHE_LOAD_LIMIT, PeerCache};
use retry::Retries;

/// The relay topic (status-go `params.WhisperDiscv5Topic`).
pub const TOPIC_WHISPER: &str = "whisper";
/// The mailserver topic (status-go `params.MailServerDiscv5Topic`).
pub const TOPIC_WHISPERMAIL: &str = "whispermail";
/// How often the driver compares the pool's view with the node's peer list.
const RECONCILE_EVERY: Duration = Duration::from_millis(250);
/// DNS-listed records kept to be offered again, at most (the DNS client yields 1000 at most).
const DNS_KNOWN_MAX: usize = 1000;
/// Extra time given to a dial beyond the node's dial timeout before it counts as failed.
const DIAL_GRACE: Duration = Duration::from_secs(2);

/// How a peer was found (`admin_peers` `discoveredBy`, metric labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// `--static` / `--trusted` / `admin_addPeer`.
    Static,
    /// Legacy topic discovery.
    Legacy,
    /// An EIP-1459 DNS tree.
    Dns,
    /// A Status rendezvous server.
    Rendezvous,
    /// Discovery v5.1.
    Discv5,
    /// The peer cache.
    Cache,
    /// It dialled us.
    Inbound,
}

impl Source {
    /// The label: `static`, `legacy`, `dns`, `rendezvous`, `discv5`, `cache`, `inbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Legacy => "legacy",
            Self::Dns => "dns",
            Self::Rendezvous => "rendezvous",
            Self::Discv5 => "discv5",
            Self::Cache => "cache",
            Self::Inbound => "inbound",
        }
    }
}

/// Discovery settings of a node (`[discovery]` in wisp.toml, `--bootnodes`, `--dns-tree`...).
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// Run discovery (legacy UDP and DNS trees). Default: false in the library (a node started
    /// from code finds nobody by itself); `wisp node` turns it on when it is given bootnodes,
    /// DNS trees or a fleet. The `bootstrap` role always runs it.
    pub enabled: bool,
    /// The discovery UDP port. Default: `None`, the RLPx TCP port's number.
    pub port: Option<u16>,
    /// Enode bootnodes (UDP port from `discport`): legacy discovery's, and when v5.1 runs
    /// also v5.1's (asked for their record at that UDP port, then the next). Default: none.
    pub bootnodes: Vec<NodeRecord>,
    /// EIP-1459 tree URLs (`enrtree://<key>@<domain>`). Default: none.
    pub dns_trees: Vec<String>,
    /// The DNS server asked for the trees. Default: `None`, the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// A resolver in memory instead of DNS (tests). Default: `None`.
    pub dns_memory: Option<MemoryResolver>,
    /// Topics to register. Default: `None`, by role (see the module docs).
    pub register_topics: Option<Vec<String>>,
    /// Peers to keep per topic. Default: `None`, by role (see the module docs).
    pub require_topics: Option<BTreeMap<String, Limits>>,
    /// Search interval below a topic's `min`, ms. Default: 3000 (status-go `DefaultFastSync`).
    pub fast_search_ms: u64,
    /// Search interval from `min`, ms. Default: 30 000 (status-go `DefaultSlowSync`).
    pub slow_search_ms: u64,
    /// Shortest ticket wait period we issue as a registrar, seconds. Default: 60 (go-ethereum);
    /// tests use 1.
    pub min_wait_period_s: u32,
    /// Keep and use `<data-dir>/peers.sqlite`. Default: true.
    pub peer_cache: bool,
    /// Rendezvous servers to register at and discover from, `/ip4/<ip>/tcp/<port>/ethv4/<peer
    /// id>` (used when discovery is enabled; needs the feature `rendezvous`). Default: none.
    pub rendezvous: Vec<String>,
    /// Serve rendezvous on this TCP address (`wisp bootnode --rendezvous`; needs the feature
    /// `rendezvous`), whether or not discovery is enabled. Default: `None`.
    pub rendezvous_listen: Option<SocketAddr>,
    /// Run legacy topic discovery when discovery runs. Default: true.
    pub legacy: bool,
    /// Run Discovery v5.1 when discovery runs. Default: false.
    pub v5: bool,
    /// The Discovery v5.1 UDP port. Default: `None`, the legacy discovery port + 1.
    pub v5_port: Option<u16>,
    /// Discovery v5.1 bootnodes (ENRs). Default: none.
    pub v5_bootnodes: Vec<Enr>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            port: None,
            bootnodes: Vec::new(),
            dns_trees: Vec::new(),
            dns_server: None,
            dns_memory: None,
            register_topics: None,
            require_topics: None,
            fast_search_ms: wisp_discovery::pool::FAST_SEARCH_MS,
            slow_search_ms: wisp_discovery::pool::SLOW_SEARCH_MS,
            min_wait_period_s: legacy::MIN_WAIT_PERIOD_S,
            peer_cache: true,
            rendezvous: Vec::new(),
            rendezvous_listen: None,
            legacy: true,
            v5: false,
            v5_port: None,
            v5_bootnodes: Vec::new(),
        }
    }
}

impl DiscoveryConfig {
    /// The topics a node of `role` registers, unless configured.
    pub fn register_topics_for(&self, role: Role) -> Vec<String> {
        if let Some(t) = &self.register_topics {
            return if role == Role::Light { Vec::new() } else { t.clone() };
        }
        match role {
            Role::Relay => vec![TOPIC_WHISPER.to_owned()],
            Role::Mailserver => vec![TOPIC_WHISPER.to_owned(), TOPIC_WHISPERMAIL.to_owned()],
            Role::Light | Role::Bootstrap => Vec::new(),
        }
    }

    /// The peers per topic a node of `role` keeps, unless configured.
    pub fn require_topics_for(&self, role: Role) -> BTreeMap<String, Limits> {
        if role == Role::Bootstrap {
            return BTreeMap::new();
        }
        if let Some(t) = &self.require_topics {
            return t.clone();
        }
        let mut topics = BTreeMap::new();
        topics.insert(TOPIC_WHISPER.to_owned(), Limits { min: 2, max: 2 });
        if role == Role::Light {
            topics.insert(TOPIC_WHISPERMAIL.to_owned(), Limits { min: 1, max: 1 });
        }
        topics
    }
}

/// How each known peer was found; shared with `admin_peers`.
#[derive(Clone, Debug, Default)]
pub struct FoundBy(Arc<Mutex<HashMap<NodeId, Source>>>);

impl FoundBy {
    /// How `id` was found, if discovery found it.
    pub fn get(&self, id: &NodeId) -> Option<Source> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(id).copied()
    }

    fn note(&self, id: NodeId, source: Source) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(id).or_insert(source);
        // A peer that dialled us and that discovery also found is shown as found.
        if *entry == Source::Inbound {
            *entry = source;
        }
    }
}

/// Why [`NodeHandle::discover`] refused (status-go's `peer_discover` errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    /// The node runs no PeerPool (discovery off and no peer cache, or the bootstrap role).
    #[error("discoverer not provided: this node runs no peer pool (start it with discovery)")]
    NoPool,
    /// The topic is empty.
    #[error("topic not valid: expected a topic name such as \"whisper\"")]
    InvalidTopic,
    /// `min` is above `max`.
    #[error("invalid range, Min should be lower or equal to Max (min {min}, max {max})")]
    InvalidRange {
        /// The requested min.
        min: usize,
        /// The requested max.
        max: usize,
    },
    /// The pool does not keep peers for this topic.
    #[error("topic not found: the peer pool keeps {known:?}, not {topic:?}")]
    UnknownTopic {
        /// The requested topic.
        topic: String,
        /// The pool's topics.
        known: Vec<String>,
    },
}

/// The running PeerPool's topics and a way to change their limits; shared with RPC.
#[derive(Clone, Debug, Default)]
pub(crate) struct PoolControl(Arc<Mutex<Option<PoolLink>>>);

#[derive(Debug)]
struct PoolLink {
    topics: Vec<String>,
    tx: mpsc::UnboundedSender<(String, Limits)>,
}

impl PoolControl {
    fn attach(&self, topics: Vec<String>) -> mpsc::UnboundedReceiver<(String, Limits)> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(PoolLink { topics, tx });
        rx
    }

    fn set_limits(&self, topic: &str, limits: Limits) -> Result<(), DiscoverError> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let link = guard.as_ref().ok_or(DiscoverError::NoPool)?;
        if !link.topics.iter().any(|t| t == topic) {
            return Err(DiscoverError::UnknownTopic {
                topic: topic.to_owned(),
                known: link.topics.clone(),
            });
        }
        link.tx.send((topic.to_owned(), limits)).map_err(|_| DiscoverError::NoPool)
    }
}

/// The legacy discovery machine of a node, when it runs (for its counters).
#[derive(Clone, Default)]
pub(crate) struct LegacyLink(pub(crate) Option<Handle>);

impl std::fmt::Debug for LegacyLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LegacyLink").field(&self.0.is_some()).finish()
    }
}

/// What [`start`] started.
pub(crate) struct Started {
    /// The legacy discovery machine, when it runs.
    pub(crate) legacy: Option<Handle>,
    /// The bound discovery UDP address, when it runs.
    pub(crate) udp: Option<SocketAddr>,
    /// The rendezvous server's address (`.../ethv4/<peer id>`), when it runs.
    pub(crate) rendezvous: Option<String>,
    /// Our Discovery v5.1 record, when it runs.
    pub(crate) v5: Option<Enr>,
}

/// Dials for the pool through the node's own dial path, reporting when a dial ends.
pub(crate) struct Dialer {
    pub(crate) ctx: Arc<crate::peer::Ctx>,
    pub(crate) config: crate::NodeConfig,
}

/// Everything the discovery tasks need from the node.
pub(crate) struct Env<'a> {
    pub(crate) key: SecretKey,
    pub(crate) role: Role,
    pub(crate) data_dir: &'a Path,
    /// The RLPx address we advertise (its port is what others dial).
    pub(crate) advertised: SocketAddr,
    /// The RLPx listen address (its IP is where discovery binds).
    pub(crate) listen: SocketAddr,
    pub(crate) dial_timeout: Duration,
    pub(crate) handle: NodeHandle,
    pub(crate) dial: Dialer,
    pub(crate) metrics: Arc<NodeMetrics>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) found_by: FoundBy,
    pub(crate) pool: PoolControl,
}

/// Starts the discovery tasks of a node (into `tasks`): legacy discovery and DNS trees when
/// enabled, and the pool whenever it has something to work with (discovery or the cache).
pub(crate) async fn start(
    cfg: &DiscoveryConfig,
    env: Env<'_>,
    tasks: &mut JoinSet<()>,
) -> Result<Started, crate::NodeError> {
    let enabled = cfg.enabled || env.role == Role::Bootstrap;
    let mut started = Started { legacy: None, udp: None, rendezvous: None, v5: None };
    let (found_tx, found_rx) = mpsc::channel::<(String, NodeRecord, Source)>(1024);
    let local_id = env.key.public_key().node_id();

    if let Some(listen) = cfg.rendezvous_listen {
        #[cfg(feature = "rendezvous")]
        {
            let addr = rendezvous::start_server(
                &env.key,
                listen,
                env.advertised.ip(),
                tasks,
                env.shutdown.clone(),
            )
            .await?;
            started.rendezvous = Some(addr);
        }
        #[cfg(not(feature = "rendezvous"))]
        return Err(crate::NodeError::Rendezvous(format!(
            "cannot serve on {listen}: this build has no rendezvous support (wisp-node feature \
             `rendezvous`)"
        )));
    }
    // The pool's searches for the rendezvous client, when it runs.
    #[cfg_attr(not(feature = "rendezvous"), allow(unused_mut))]
    let mut rendezvous_searches: Option<mpsc::UnboundedSender<rendezvous::SearchCmd>> = None;
    // The pool's lookup interval for the v5 task, when it runs.
    let mut v5_searches: Option<watch::Sender<Option<Duration>>> = None;

    if enabled {
        let port = cfg.port.unwrap_or(env.advertised.port());
        if cfg.legacy {
            let bind = SocketAddr::new(env.listen.ip(), port);
            let socket = UdpSocket::bind(bind).await.map_err(|source| crate::NodeError::Bind {
                what: "discovery",
                addr: bind,
                source,
            })?;
            let udp = socket.local_addr().map_err(|source| crate::NodeError::Bind {
                what: "discovery",
                addr: bind,
                source,
            })?;
            let endpoint =
                Endpoint { ip: env.advertised.ip(), udp: udp.port(), tcp: env.advertised.port() };
            let mut lcfg = legacy::Config::new(endpoint);
            lcfg.bootnodes = cfg.bootnodes.clone();
            lcfg.register_topics =
                cfg.register_topics_for(env.role).into_iter().map(Topic::new).collect();
            lcfg.min_wait_period_s = cfg.min_wait_period_s;
            lcfg.seed = u64::from_le_bytes(local_id.0[..8].try_into().unwrap_or([1; 8]));
            let machine = LegacyDiscovery::new(env.key.clone(), lcfg, unix_ms());
            let (driver, handle, mut events) = UdpDriver::new(socket, machine);
            let mut shutdown = env.shutdown.clone();
            tasks.spawn(async move {
                tokio::select! {
                    r = driver.run() => if let Err(e) = r {
                        tracing::warn!(target: "node::discovery", error = %e, "legacy discovery stopped");
                    },
                    _ = shutdown.changed() => {}
                }
            });
            // Forward what the legacy machine finds to the pool.
            let tx = found_tx.clone();
            let metrics = env.metrics.clone();
            tasks.spawn(async move {
                while let Some(event) = events.recv().await {
                    match event {
                        legacy::Event::NodeFound { topic, record } => {
                            metrics.add("wisp_discovery_found_total", "protocol=\"legacy\"", 1);
                            if tx
                                .send((topic.as_str().to_owned(), record, Source::Legacy))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        legacy::Event::Registered { .. } => {
                            metrics.add("wisp_discovery_registrations_total", "", 1);
                        }
                        _ => {}
                    }
                }
            });
            tracing::info!(target: "node::discovery", %udp, bootnodes = cfg.bootnodes.len(), "legacy discovery started");
            started.legacy = Some(handle);
            started.udp = Some(udp);
        }
        if cfg.v5 {
            let v5_port = cfg.v5_port.unwrap_or(port.wrapping_add(1));
            // A node with a pool looks up while the pool searches, at its pace; others (a
            // bootnode) on their own schedule.
            let search =
                if env.role != Role::Bootstrap && !cfg.require_topics_for(env.role).is_empty() {
                    let fast = Duration::from_millis(cfg.fast_search_ms);
                    let (tx, rx) = watch::channel(Some(fast));
                    v5_searches = Some(tx);
                    Some(rx)
                } else {
                    None
                };
            let record = v5::start(
                cfg,
                v5::V5Env {
                    key: env.key.clone(),
                    role: env.role,
                    bind: SocketAddr::new(env.listen.ip(), v5_port),
                    advertised: env.advertised,
                    metrics: env.metrics.clone(),
                    shutdown: env.shutdown.clone(),
                    found: found_tx.clone(),
                    search,
                },
                tasks,
            )
            .await?;
            started.v5 = Some(record);
        }

        if !cfg.rendezvous.is_empty() && env.role != Role::Bootstrap {
            #[cfg(feature = "rendezvous")]
            {
                let (tx, rx) = mpsc::unbounded_channel();
                let setup = rendezvous::ClientSetup {
                    key: env.key.clone(),
                    role: env.role,
                    servers: cfg.rendezvous.clone(),
                    advertised: env.advertised,
                    udp: started.udp.map(|udp| udp.port()),
                    register_topics: cfg.register_topics_for(env.role),
                    metrics: env.metrics.clone(),
                };
                tasks.spawn(rendezvous::run_client(
                    setup,
                    rx,
                    found_tx.clone(),
                    env.shutdown.clone(),
                ));
                rendezvous_searches = Some(tx);
            }
            #[cfg(not(feature = "rendezvous"))]
            tracing::warn!(target: "node::discovery", "this build has no rendezvous support (wisp-node feature `rendezvous`): rendezvous servers ignored");
        }

        if !cfg.dns_trees.is_empty() && env.role != Role::Bootstrap {
            let client_cfg = ClientConfig {
                seed: u64::from_le_bytes(local_id.0[8..16].try_into().unwrap_or([2; 8])),
                ..ClientConfig::default()
            };
            let shutdown = env.shutdown.clone();
            let metrics = env.metrics.clone();
            if let Some(memory) = cfg.dns_memory.clone() {
                let client = dns_client(Client::new(memory, client_cfg), &cfg.dns_trees);
                tasks.spawn(run_dns(client, found_tx.clone(), metrics, shutdown));
            } else {
                let resolver = match cfg.dns_server {
                    Some(addr) => HickoryResolver::with_server(addr, Duration::from_secs(5)),
                    None => HickoryResolver::system(),
                };
                match resolver {
                    Ok(r) => {
                        let client = dns_client(Client::new(r, client_cfg), &cfg.dns_trees);
                        tasks.spawn(run_dns(client, found_tx.clone(), metrics, shutdown));
                    }
                    Err(e) => {
                        tracing::warn!(target: "node::discovery", error = %e, "no DNS resolver: DNS trees are not walked")
                    }
                }
            }
        }
    }

    let topics = cfg.require_topics_for(env.role);
    if topics.is_empty() {
        return Ok(started);
    }
    let cache = if cfg.peer_cache {
        match PeerCache::open(env.data_dir) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(target: "node::discovery", error = %e, "peer cache unavailable");
                None
            }
        }
    } else {
        None
    };
    let cached = cache.as_ref().map(|c| c.load(CACHE_LOAD_LIMIT)).transpose().unwrap_or_else(|e| {
        tracing::warn!(target: "node::discovery", error = %e, "peer cache unreadable");
        None
    });
    let cached = cached.unwrap_or_default();
    if !enabled && cached.is_empty() {
        return Ok(started);
    }
    let topic_names: Vec<String> = topics.keys().cloned().collect();
    let pool = PeerPool::new(PoolConfig {
        topics,
        fast_search_ms: cfg.fast_search_ms,
        slow_search_ms: cfg.slow_search_ms,
    });
    let mut driver = PoolDriver {
        pool,
        legacy: started.legacy.clone(),
        rendezvous: rendezvous_searches,
        v5: v5_searches,
        searching: BTreeMap::new(),
        handle: env.handle,
        dialer: env.dial,
        dials: JoinSet::new(),
        dial_ended: mpsc::unbounded_channel(),
        metrics: env.metrics,
        cache,
        found_by: env.found_by,
        local_id,
        dial_deadline: env.dial_timeout + DIAL_GRACE,
        pending: HashMap::new(),
        connected: HashMap::new(),
        cached_ids: HashSet::new(),
        mail: HashMap::new(),
        records: HashMap::new(),
        retries: Retries::default(),
        started_at: Instant::now(),
        dns_known: BTreeMap::new(),
        dns_offered: HashMap::new(),
    };
    for peer in cached {
        driver.cached_ids.insert(peer.node.id);
        driver.found(&peer.topic, peer.node, Source::Cache);
    }
    tracing::info!(target: "node::discovery", cached = driver.cached_ids.len(), "peer pool started");
    let limits_rx = env.pool.attach(topic_names);
    tasks.spawn(driver.run(found_rx, limits_rx, env.shutdown));
    Ok(started)
}

fn dns_client<R: Resolver>(mut client: Client<R>, urls: &[String]) -> Client<R> {
    for url in urls {
        if let Err(e) = client.add_url(url) {
            tracing::warn!(target: "node::discovery", %url, error = %e, "bad DNS tree URL");
        }
    }
    client
}

/// The topics a DNS-listed node is offered under: by the roles in its ENR's `waku` entry.
fn dns_topics(roles: Option<WakuRoles>) -> &'static [&'static str] {
    match roles {
        Some(r) if r.contains(WakuRoles::MAILSERVER) => &[TOPIC_WHISPERMAIL, TOPIC_WHISPER],
        Some(r) if r.contains(WakuRoles::LIGHT) => &[],
        _ => &[TOPIC_WHISPER],
    }
}

/// Walks the DNS trees, sending every dialable record to the pool; sleeps until a root is
/// due again.
async fn run_dns<R: Resolver + Send + 'static>(
    mut client: Client<R>,
    tx: mpsc::Sender<(String, NodeRecord, Source)>,
    metrics: Arc<NodeMetrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        while let Some(result) = client.next_node(Instant::now()).await {
            match result {
                Ok(enr) => match enr.to_node_record() {
                    Ok(record) => {
                        metrics.add("wisp_discovery_found_total", "protocol=\"dns\"", 1);
                        for topic in dns_topics(enr.waku()) {
                            if tx.send(((*topic).to_owned(), record, Source::Dns)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(target: "node::discovery", error = %e, "DNS record not dialable")
                    }
                },
                Err(e) => {
                    tracing::info!(target: "node::discovery", error = %e, "DNS tree walk failed")
                }
            }
            if *shutdown.borrow() {
                return;
            }
        }
        let wait = client
            .next_wakeup()
            .map_or(Duration::from_secs(60), |at| at.saturating_duration_since(Instant::now()));
        tokio::select! {
            () = tokio::time::sleep(wait.max(Duration::from_millis(100))) => {}
            _ = shutdown.changed() => return,
        }
    }
}

struct Pending {
    topic: String,
    node: NodeRecord,
    since: Instant,
    /// The dial ended without a connection.
    failed: bool,
}

/// Carries out the pool's actions and tells it what happened.
struct PoolDriver {
    pool: PeerPool,
    legacy: Option<Handle>,
    /// The rendezvous client's search commands.
    rendezvous: Option<mpsc::UnboundedSender<rendezvous::SearchCmd>>,
    /// The v5 task's lookup interval: the shortest of the searching topics', `None` when
    /// no topic searches.
    v5: Option<watch::Sender<Option<Duration>>>,
    /// The topics searching, with their interval in ms.
    searching: BTreeMap<String, u64>,
    handle: NodeHandle,
    dialer: Dialer,
    /// The pool's dials (each runs its session to the end).
    dials: JoinSet<()>,
    /// Ids whose dial (and session) ended.
    dial_ended: (mpsc::UnboundedSender<NodeId>, mpsc::UnboundedReceiver<NodeId>),
    metrics: Arc<NodeMetrics>,
    cache: Option<PeerCache>,
    found_by: FoundBy,
    local_id: NodeId,
    dial_deadline: Duration,
    pending: HashMap<NodeId, Pending>,
    /// Peers the pool counts, with the topic they count for.
    connected: HashMap<NodeId, String>,
    cached_ids: HashSet<NodeId>,
    /// Nodes found under `whispermail`.
    mail: HashMap<NodeId, NodeRecord>,
    /// The records of the peers in `connected`, to offer again when they go.
    records: HashMap<NodeId, NodeRecord>,
    /// Nodes whose dial failed or that disconnected, offered again after a backoff.
    retries: Retries,
    /// The origin of the driver's clock (the retries' time).
    started_at: Instant,
    /// Records found in DNS trees, by topic. The tree client yields a record once (until
    /// the root changes), unlike the other protocols, which find the same nodes on every
    /// search; these are offered to the pool again at each search interval while their
    /// topic searches, so a node whose tree peers were not yet (or no longer) listening when
    /// it first dialled them tries them again (go-ethereum's DNS iterator walks a synced
    /// tree again for the same reason).
    dns_known: BTreeMap<String, HashMap<NodeId, NodeRecord>>,
    /// When the DNS records of a topic were last offered.
    dns_offered: HashMap<String, Instant>,
}

impl PoolDriver {
    fn found(&mut self, topic: &str, node: NodeRecord, source: Source) {
        if node.id == self.local_id {
            return;
        }
        self.found_by.note(node.id, source);
        if source == Source::Dns {
            let known: usize = self.dns_known.values().map(HashMap::len).sum();
            let list = self.dns_known.entry(topic.to_owned()).or_default();
            if known < DNS_KNOWN_MAX || list.contains_key(&node.id) {
                list.insert(node.id, node);
                self.dns_offered.entry(topic.to_owned()).or_insert_with(Instant::now);
            }
        }
        if topic == TOPIC_WHISPERMAIL {
            self.mail.insert(node.id, node);
            if self.connected.get(&node.id).is_some_and(|t| t != TOPIC_WHISPERMAIL) {
                self.promote(node.id);
                return;
            }
        }
        self.pool.on_found(topic, node);
    }

    /// A connected peer counted for another topic is a mailserver: count it for
    /// `whispermail` instead (a mailserver registers both topics, and the order in which a
    /// search finds them must not starve the mailserver topic). Its old topic searches again.
    fn promote(&mut self, id: NodeId) {
        let Some(node) = self.mail.get(&id).copied() else { return };
        if self.pool.search_interval(TOPIC_WHISPERMAIL).is_none()
            && self.pool.connected(TOPIC_WHISPERMAIL) > 0
        {
            return;
        }
        self.connected.remove(&id);
        self.pool.on_disconnected(&id);
        self.pool.on_found(TOPIC_WHISPERMAIL, node);
    }

    async fn run(
        mut self,
        mut found: mpsc::Receiver<(String, NodeRecord, Source)>,
        mut limits: mpsc::UnboundedReceiver<(String, Limits)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(RECONCILE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut live: Option<HashSet<NodeId>> = None;
        loop {
            self.act(live.as_ref());
            tokio::select! {
                f = found.recv(), if !found.is_closed() => if let Some((topic, node, source)) = f {
                    self.found(&topic, node, source);
                },
                Some((topic, l)) = limits.recv() => {
                    if self.pool.set_limits(&topic, l) {
                        tracing::info!(target: "node::discovery", %topic, min = l.min, max = l.max, "peer pool limits changed");
                    }
                }
                _ = tick.tick() => {
                    let Ok(peers) = self.handle.peers().await else { return };
                    let ids: HashSet<NodeId> = peers.iter().map(|p| p.id).collect();
                    for p in peers.iter().filter(|p| p.inbound) {
                        self.found_by.note(p.id, Source::Inbound);
                    }
                    self.reconcile(&ids);
                    self.offer_retries();
                    self.offer_dns_again(Instant::now());
                    live = Some(ids);
                }
                Some(id) = self.dial_ended.1.recv() => {
                    // A dial (or the session it started) ended: if the peer is not connected
                    // (either way round), the dial failed now, not at the deadline.
                    if self.pending.contains_key(&id) {
                        let Ok(peers) = self.handle.peers().await else { return };
                        let ids: HashSet<NodeId> = peers.iter().map(|p| p.id).collect();
                        if !ids.contains(&id)
                            && let Some(p) = self.pending.get_mut(&id)
                        {
                            p.failed = true;
                        }
                        self.reconcile(&ids);
                        live = Some(ids);
                    }
                }
                Some(_) = self.dials.join_next(), if !self.dials.is_empty() => {}
                _ = shutdown.changed() => break,
            }
        }
        // Sessions see the shutdown and send their Disconnect; wait for them like the node does.
        crate::node::end_children(std::mem::take(&mut self.dials)).await;
    }

    /// Carries out the pool's actions.
    fn act(&mut self, live: Option<&HashSet<NodeId>>) {
        while let Some(action) = self.pool.poll_action() {
            match action {
                PoolAction::Search { topic, interval_ms } => {
                    self.searching.insert(topic.clone(), interval_ms);
                    self.tell_v5();
                    if let Some(r) = &self.rendezvous {
                        let _ = r.send(rendezvous::SearchCmd::Search {
                            topic: topic.clone(),
                            interval_ms,
                        });
                    }
                    if let Some(l) = &self.legacy {
                        l.lock().search(Topic::new(topic), interval_ms, unix_ms());
                    }
                }
                PoolAction::StopSearch { topic } => {
                    self.searching.remove(&topic);
                    self.tell_v5();
                    if let Some(r) = &self.rendezvous {
                        let _ = r.send(rendezvous::SearchCmd::Stop { topic: topic.clone() });
                    }
                    if let Some(l) = &self.legacy {
                        l.lock().stop_search(&Topic::new(topic));
                    }
                }
                PoolAction::Dial { topic, node } => {
                    if live.is_some_and(|l| l.contains(&node.id)) {
                        // Already connected (it dialled us, or it is static): count it.
                        self.pool.on_connected(&node.id);
                        self.metrics.add(
                            "wisp_discovery_dials_total",
                            "outcome=\"already_connected\"",
                            1,
                        );
                        self.record_success(&node, &topic);
                        self.retries.succeeded(&node.id);
                        self.records.insert(node.id, node);
                        self.connected.insert(node.id, topic);
                        continue;
                    }
                    tracing::debug!(target: "node::discovery", %topic, peer = %node, "dialling");
                    let (ctx, config) = (self.dialer.ctx.clone(), self.dialer.config.clone());
                    let ended = self.dial_ended.0.clone();
                    self.dials.spawn(async move {
                        if let Err(e) = crate::node::dial_once(node, ctx, &config).await {
                            tracing::debug!(target: "node::discovery", peer = %node, error = %e, "dial failed");
                        }
                        let _ = ended.send(node.id);
                    });
                    self.pending.insert(
                        node.id,
                        Pending { topic, node, since: Instant::now(), failed: false },
                    );
                }
            }
        }
    }

    fn record_success(&self, node: &NodeRecord, topic: &str) {
        if let Some(c) = &self.cache
            && let Err(e) = c.record_success(node, topic, unix_ms())
        {
            tracing::warn!(target: "node::discovery", error = %e, "peer cache write failed");
        }
    }

    /// The driver's clock, for the retries.
    fn clock(&self) -> Duration {
        self.started_at.elapsed()
    }

    /// Offers the pool again the lost nodes whose backoff ended (see [`retry`]). A node that
    /// came back by dialling us is offered too: the pool counts it as connected (the `Dial`
    /// of a live node), where skipping it left the pool one peer short for ever while
    /// connected to it.
    fn offer_retries(&mut self) {
        for (topic, node) in self.retries.due(self.clock()) {
            if self.connected.contains_key(&node.id) || self.pending.contains_key(&node.id) {
                continue;
            }
            tracing::debug!(target: "node::discovery", %topic, peer = %node, "offering a lost peer again");
            self.metrics.add("wisp_discovery_retries_total", "", 1);
            self.pool.on_found(&topic, node);
        }
    }

    /// Gives the v5 task the pool's pace: the shortest interval of the searching topics.
    fn tell_v5(&self) {
        if let Some(v5) = &self.v5 {
            let interval = self.searching.values().min().map(|ms| Duration::from_millis(*ms));
            v5.send_if_modified(|now| {
                let changed = *now != interval;
                *now = interval;
                changed
            });
        }
    }

    /// Offers the DNS-listed records of every searching topic to the pool again, once per
    /// search interval (see `dns_known`). The pool skips those connected or being dialled.
    fn offer_dns_again(&mut self, now: Instant) {
        let due: Vec<String> = self
            .dns_offered
            .iter()
            .filter(|(topic, at)| {
                self.pool.search_interval(topic).is_some_and(|ms| {
                    now.saturating_duration_since(**at) >= Duration::from_millis(ms)
                })
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in due {
            self.dns_offered.insert(topic.clone(), now);
            let nodes: Vec<NodeRecord> = self
                .dns_known
                .get(&topic)
                .map(|m| m.values().copied().collect())
                .unwrap_or_default();
            for node in nodes {
                if !self.connected.contains_key(&node.id) && !self.pending.contains_key(&node.id) {
                    self.pool.on_found(&topic, node);
                }
            }
        }
    }

    fn reconcile(&mut self, live: &HashSet<NodeId>) {
        let now = Instant::now();
        let done: Vec<NodeId> = self
            .pending
            .iter()
            .filter(|(id, p)| {
                live.contains(id) || p.failed || now.duration_since(p.since) > self.dial_deadline
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let Some(p) = self.pending.remove(&id) else { continue };
            let from_cache = self.cached_ids.contains(&id);
            if live.contains(&id) {
                self.pool.on_connected(&id);
                self.metrics.add("wisp_discovery_dials_total", "outcome=\"connected\"", 1);
                if from_cache {
                    self.metrics.add("wisp_discovery_cache_hits_total", "", 1);
                }
                self.record_success(&p.node, &p.topic);
                self.retries.succeeded(&id);
                self.records.insert(id, p.node);
                let promote = p.topic != TOPIC_WHISPERMAIL && self.mail.contains_key(&id);
                self.connected.insert(id, p.topic);
                if promote {
                    self.promote(id);
                }
            } else {
                self.pool.on_dial_failed(&id);
                self.retries.failed(&p.topic, p.node, self.clock(), rand::random::<f64>());
                self.metrics.add("wisp_discovery_dials_total", "outcome=\"failed\"", 1);
                if let Some(c) = &self.cache
                    && let Err(e) = c.record_failure(&id)
                {
                    tracing::warn!(target: "node::discovery", error = %e, "peer cache write failed");
                }
            }
        }
        let gone: Vec<NodeId> =
            self.connected.keys().filter(|id| !live.contains(id)).copied().collect();
        for id in gone {
            if let (Some(topic), Some(node)) =
                (self.connected.remove(&id), self.records.remove(&id))
            {
                self.retries.failed(&topic, node, self.clock(), rand::random::<f64>());
            }
            self.pool.on_disconnected(&id);
            self.metrics.add("wisp_discovery_disconnects_total", "", 1);
        }
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for topic in self.connected.values() {
            *counts.entry(topic.as_str()).or_default() += 1;
        }
        for topic in [TOPIC_WHISPER, TOPIC_WHISPERMAIL] {
            let labels = format!("topic=\"{topic}\"");
            let now = counts.get(topic).copied().unwrap_or(0);
            let was = self.metrics.get("wisp_discovery_pool_peers", &labels);
            self.metrics.add("wisp_discovery_pool_peers", &labels, now - was);
        }
    }
}

impl NodeHandle {
    /// Changes the `{min, max}` peers the PeerPool keeps for `topic` (RPC `peer_discover`,
    /// status-go's `PeerPool.UpdateTopic`): only topics the pool already keeps; peers above a
    /// lowered `max` stay connected.
    pub fn discover(&self, topic: &str, min: usize, max: usize) -> Result<(), DiscoverError> {
        if topic.is_empty() {
            return Err(DiscoverError::InvalidTopic);
        }
        if max < min {
            return Err(DiscoverError::InvalidRange { min, max });
        }
        self.pool.set_limits(topic, Limits { min, max })
    }

    /// The legacy discovery machine's packet and drop counters and its table size, when it
    /// runs (figures: discovery traffic per node per minute).
    pub fn legacy_counters(&self) -> Option<(legacy::Counters, usize)> {
        self.legacy.0.as_ref().map(|h| {
            let m = h.lock();
            (m.counters().clone(), m.table_len())
        })
    }

    /// How `peer` was found: by discovery ([`Source::Legacy`], [`Source::Dns`],
    /// [`Source::Rendezvous`], [`Source::Cache`]), else [`Source::Inbound`] or [`Source::Static`].
    pub fn discovered_by(&self, peer: &crate::PeerInfo) -> Source {
        match self.found_by.get(&peer.id) {
            Some(s) if s != Source::Inbound || peer.inbound => s,
            _ if peer.inbound => Source::Inbound,
            _ => Source::Static,
        }
    }
}
