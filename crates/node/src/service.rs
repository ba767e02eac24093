//! The router service: one task owns the [`Router`] state machine and feeds it peers'
//! packets, local commands and the clock; a cheap, cloneable [`NodeHandle`] talks to it
//! (STYLE item 4). Peer tasks get the packets the router wants sent.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, broadcast, mpsc, oneshot, watch};

use crate::{
    mailserver::{ArchiveQueue, Mailserver},
    metrics::NodeMetrics,
    scores::Scores,
};
use wisp_crypto::NodeId;
use wisp_rlpx::{DisconnectReason, NodeRecord};
use wisp_waku::{
    Bloom, Capability, DropReason, Envelope, EnvelopeDrop, Event, Filter, FilterId, Output, PeerId,
    PostError, ReceivedMessage, Router, RouterConfig, RouterStats, Topic,
};

/// How often the router's clock advances (transmission cycles are 300 ms by default).
const TICK: Duration = Duration::from_millis(100);
/// Packets queued to one peer; while it is full, packets to the peer are dropped, and a peer
/// whose queue stays full for `NodeConfig::slow_peer_grace` is disconnected.
pub(crate) const PEER_QUEUE: usize = 1024;
/// Bytes of one peer's packets that may wait for the router at once (a packet larger than
/// this takes the whole share). Keeps a flooding peer from filling the service's queue ahead
/// of the others: round-robin-like fairness without a queue per peer.
pub(crate) const PEER_IN_FLIGHT_BYTES: usize = 256 * 1024;

/// Ends a peer's session with a reason. The service holds it next to the peer's queue, and
/// it does not go through that queue: a decision to drop a peer always reaches the session,
/// however full the queue is.
pub(crate) type Kill = watch::Sender<Option<DisconnectReason>>;

/// Milliseconds since the Unix epoch, the router's clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What the service tells a peer task.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    /// Send packet `code` of `capability`.
    Send { capability: Capability, code: u64, payload: Vec<u8> },
}

/// A connected peer, as `admin_peers` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node id.
    pub id: NodeId,
    /// Its client id from Hello.
    pub client_id: String,
    /// Its address.
    pub remote_addr: SocketAddr,
    /// Whether it dialled us.
    pub inbound: bool,
    /// Whether it is trusted (mailserver).
    pub trusted: bool,
    /// The capabilities of the session, e.g. `waku/1`.
    pub caps: Vec<String>,
}

/// This node, as `admin_nodeInfo` shows it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// Our node id.
    pub id: NodeId,
    /// Our enode URL (with the bound listen address).
    pub enode: NodeRecord,
    /// Our client id.
    pub client_id: String,
    /// The RPC address, if serving.
    pub rpc: Option<SocketAddr>,
    /// The metrics address, if serving.
    pub metrics: Option<SocketAddr>,
    /// The role.
    pub role: crate::Role,
    /// The rendezvous server's address, when this node serves rendezvous.
    pub rendezvous: Option<String>,
}

pub(crate) enum Command {
    PeerUp {
        info: PeerInfo,
        ids: Vec<(PeerId, Capability)>,
        tx: mpsc::Sender<PeerCommand>,
        kill: Kill,
    },
    PeerPacket {
        id: PeerId,
        code: u64,
        payload: Bytes,
        /// The peer's share of the router's attention, given back once the packet is handled.
        permit: Option<OwnedSemaphorePermit>,
    },
    PeerDown {
        node: NodeId,
    },
    Post {
        envelope: Envelope,
        reply: oneshot::Sender<Result<[u8; 32], PostError>>,
    },
    InstallFilter {
        filter: Filter,
        subscriber: Option<mpsc::Sender<ReceivedMessage>>,
        reply: oneshot::Sender<FilterId>,
    },
    RemoveFilter {
        id: FilterId,
        reply: oneshot::Sender<bool>,
    },
    FilterMessages {
        id: FilterId,
        reply: oneshot::Sender<Option<Vec<ReceivedMessage>>>,
    },
    SetMinPow(f64),
    SetBloom(Bloom),
    SetLight(bool),
    SetMaxMessageSize(usize),
    MarkTrusted(NodeId),
    Disconnect {
        node: NodeId,
        reason: DisconnectReason,
    },
    SendPacket {
        node: NodeId,
        code: u64,
        payload: Vec<u8>,
        reply: oneshot::Sender<bool>,
    },
    PeerIds {
        node: NodeId,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Stats(oneshot::Sender<(RouterStats, usize)>),
    Config(oneshot::Sender<RouterConfig>),
    SendP2P {
        node: NodeId,
        envelopes: Vec<Envelope>,
        reply: oneshot::Sender<bool>,
    },
}

/// The service is gone (the node shut down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the node is shutting down")]
pub struct NodeStopped;

/// A cheap, cloneable handle to a running node's router service.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) info: Arc<NodeInfo>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) dial: mpsc::UnboundedSender<NodeRecord>,
    pub(crate) metrics: Arc<NodeMetrics>,
    /// The messenger, on a node with a chat account.
    pub(crate) chat: Option<crate::chat::ChatHandle>,
    /// How discovery found each peer (`admin_peers` `discoveredBy`).
    pub(crate) found_by: crate::discovery::FoundBy,
    /// The PeerPool's limits (RPC `peer_discover`).
    pub(crate) pool: crate::discovery::PoolControl,
    /// The legacy discovery machine, when it runs (its counters).
    pub(crate) legacy: crate::discovery::LegacyLink,
}

impl NodeHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeStopped> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| NodeStopped)?;
        rx.await.map_err(|_| NodeStopped)
    }

    async fn tell(&self, cmd: Command) -> Result<(), NodeStopped> {
        self.tx.send(cmd).await.map_err(|_| NodeStopped)
    }

    /// This node's identity and addresses.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// Posts a local envelope (already encrypted and sealed).
    pub async fn post(
        &self,
        envelope: Envelope,
    ) -> Result<Result<[u8; 32], PostError>, NodeStopped> {
        self.ask(|reply| Command::Post { envelope, reply }).await
    }

    /// Installs a filter whose messages are read with [`NodeHandle::filter_messages`].
    pub async fn install_filter(&self, filter: Filter) -> Result<FilterId, NodeStopped> {
        self.ask(|reply| Command::InstallFilter { filter, subscriber: None, reply }).await
    }

    /// Installs a filter whose messages are pushed to the returned receiver.
    pub async fn subscribe(
        &self,
        filter: Filter,
    ) -> Result<(FilterId, mpsc::Receiver<ReceivedMessage>), NodeStopped> {
        let (tx, rx) = mpsc::channel(1024);
        let id = self
            .ask(|reply| Command::InstallFilter { filter, subscriber: Some(tx), reply })
            .await?;
        Ok((id, rx))
    }

    /// Removes a filter; `false` if there was none.
    pub async fn remove_filter(&self, id: FilterId) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::RemoveFilter { id, reply }).await
    }

    /// Takes the messages a filter received since the last call (`None`: no such filter).
    pub async fn filter_messages(
        &self,
        id: FilterId,
    ) -> Result<Option<Vec<ReceivedMessage>>, NodeStopped> {
        self.ask(|reply| Command::FilterMessages { id, reply }).await
    }

    /// Sets our minimum PoW and tells the peers.
    pub async fn set_min_pow(&self, pow: f64) -> Result<(), NodeStopped> {
        self.tell(Command::SetMinPow(pow)).await
    }

    /// Sets our bloom filter and tells the peers.
    pub async fn set_bloom(&self, bloom: Bloom) -> Result<(), NodeStopped> {
        self.tell(Command::SetBloom(bloom)).await
    }

    /// Switches light mode.
    pub async fn set_light(&self, light: bool) -> Result<(), NodeStopped> {
        self.tell(Command::SetLight(light)).await
    }

    /// Sets the largest envelope accepted.
    pub async fn set_max_message_size(&self, size: usize) -> Result<(), NodeStopped> {
        self.tell(Command::SetMaxMessageSize(size)).await
    }

    /// Trusts a peer (its P2P messages are accepted), now and when it reconnects.
    pub async fn mark_trusted(&self, node: NodeId) -> Result<(), NodeStopped> {
        self.tell(Command::MarkTrusted(node)).await
    }

    /// Dials a peer (once; static nodes from the config are redialled).
    pub fn add_peer(&self, node: NodeRecord) -> Result<(), NodeStopped> {
        self.dial.send(node).map_err(|_| NodeStopped)
    }

    /// Disconnects a peer with DisconnectRequested.
    pub async fn remove_peer(&self, node: NodeId) -> Result<(), NodeStopped> {
        self.tell(Command::Disconnect { node, reason: DisconnectReason::DisconnectRequested }).await
    }

    /// Sends a raw packet of the peer's `waku/1` (or `shh/6`) capability; `false` if the peer
    /// is not connected or its queue is full.
    pub async fn send_packet(
        &self,
        node: NodeId,
        code: u64,
        payload: Vec<u8>,
    ) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::SendPacket { node, code, payload, reply }).await
    }

    /// The router's ids of a connected peer (one per shared capability).
    pub(crate) async fn peer_ids(&self, node: NodeId) -> Result<Vec<PeerId>, NodeStopped> {
        self.ask(|reply| Command::PeerIds { node, reply }).await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NodeStopped> {
        self.ask(Command::Peers).await
    }

    /// The router's counters and the number of pooled envelopes.
    pub async fn stats(&self) -> Result<(RouterStats, usize), NodeStopped> {
        self.ask(Command::Stats).await
    }

    /// The router's current settings.
    pub async fn router_config(&self) -> Result<RouterConfig, NodeStopped> {
        self.ask(Command::Config).await
    }

    /// Sends envelopes straight to one connected peer in a P2P Message packet (not relayed;
    /// `waku_post` with `targetPeer`). `false`: the peer is not connected or its queue is full.
    pub async fn send_p2p(
        &self,
        node: NodeId,
        envelopes: Vec<Envelope>,
    ) -> Result<bool, NodeStopped> {
        self.ask(|reply| Command::SendP2P { node, envelopes, reply }).await
    }

    /// The messenger of the node's chat account (`NodeConfig::chat`), if it has one.
    pub fn chat(&self) -> Option<&crate::chat::ChatHandle> {
        self.chat.as_ref()
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// Router events (accepted envelopes for an archive, P2P requests for a mailserver...).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

struct Connected {
    info: PeerInfo,
    ids: Vec<(PeerId, Capability)>,
    tx: mpsc::Sender<PeerCommand>,
    kill: Kill,
    /// Since when its queue has been full (packets to it are being dropped).
    full_since: Option<std::time::Instant>,
}

impl Connected {
    /// Ends the peer's session with `reason` (the first reason given wins).
    fn kill(&self, reason: DisconnectReason) {
        self.kill.send_if_modified(|r| {
            if r.is_some() {
                return false;
            }
            *r = Some(reason);
            true
        });
    }
}

pub(crate) struct Service {
    router: Router,
    rx: mpsc::Receiver<Command>,
    peers: HashMap<NodeId, Connected>,
    by_peer_id: HashMap<PeerId, NodeId>,
    subscribers: HashMap<FilterId, mpsc::Sender<ReceivedMessage>>,
    trusted: std::collections::HashSet<NodeId>,
    events: broadcast::Sender<Event>,
    light_topics: bool,
    metrics: Arc<NodeMetrics>,
    scores: Arc<Scores>,
    light_peers: std::collections::HashSet<PeerId>,
    archive: Option<ArchiveQueue>,
    mailserver: Option<Arc<Mailserver>>,
    /// The router figures last copied into the metrics (see [`Service::sync_pool_metrics`]).
    pool_figures: [i64; 4],
    slow_peer_grace: Duration,
}

impl Service {
    pub(crate) fn new(
        router: Router,
        rx: mpsc::Receiver<Command>,
        events: broadcast::Sender<Event>,
        trusted: impl IntoIterator<Item = NodeId>,
        metrics: Arc<NodeMetrics>,
        scores: Arc<Scores>,
        mailserver: Option<(Arc<Mailserver>, ArchiveQueue)>,
    ) -> Self {
        let (mailserver, archive) = match mailserver {
            Some((m, queue)) => (Some(m), Some(queue)),
            None => (None, None),
        };
        let light_topics = router.config().light_node;
        Self {
            slow_peer_grace: Duration::from_secs(10),
            router,
            rx,
            peers: HashMap::new(),
            by_peer_id: HashMap::new(),
            subscribers: HashMap::new(),
            trusted: trusted.into_iter().collect(),
            events,
            light_topics,
            metrics,
            scores,
            light_peers: std::collections::HashSet::new(),
            archive,
            mailserver,
            pool_figures: [0; 4],
        }
    }

    /// Copies the pool's size and the router's eviction and oversize-packet counters into
    /// the metrics, as the differences since the last copy.
    fn sync_pool_metrics(&mut self) {
        const NAMES: [&str; 4] = [
            "wisp_pool_envelopes",
            "wisp_pool_bytes",
            "wisp_pool_evictions_total",
            "wisp_oversize_packets_total",
        ];
        let stats = self.router.stats();
        let now = [
            self.router.pool_len() as i64,
            self.router.pool_bytes() as i64,
            stats.evicted as i64,
            stats.oversize_packets as i64,
        ];
        for (i, name) in NAMES.into_iter().enumerate() {
            if now[i] != self.pool_figures[i] {
                self.metrics.add(name, "", now[i] - self.pool_figures[i]);
            }
        }
        self.pool_figures = now;
    }

    /// Sets how long a peer's queue may stay full before the peer is dropped.
    pub(crate) fn with_slow_peer_grace(mut self, grace: Duration) -> Self {
        self.slow_peer_grace = grace;
        self
    }

    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                _ = tick.tick() => {
                    self.router.tick(now_ms());
                    self.sync_pool_metrics();
                }
            }
            self.drain();
        }
        tracing::debug!(target: "node::service", "router service stopped");
    }

    fn handle(&mut self, cmd: Command) {
        let now = now_ms();
        match cmd {
            Command::PeerUp { info, ids, tx, kill } => {
                let node = info.id;
                let trusted = self.trusted.contains(&node);
                let ip = Some(info.remote_addr.ip()).filter(|ip: &IpAddr| !ip.is_loopback());
                for (id, cap) in &ids {
                    self.by_peer_id.insert(*id, node);
                    self.router.add_peer(*id, *cap, ip, now);
                    if trusted {
                        self.router.mark_trusted(*id);
                    }
                }
                for (_, cap) in &ids {
                    self.metrics.add("wisp_peers", &peer_labels(*cap, info.inbound), 1);
                }
                let info = PeerInfo { trusted, ..info };
                self.peers.insert(node, Connected { info, ids, tx, kill, full_since: None });
            }
            Command::PeerPacket { id, code, payload, permit: _permit } => {
                let cap = self.capability_of(id);
                if let Some(cap) = cap {
                    self.metrics.add("wisp_bytes_in_total", &cap_labels(cap), payload.len() as i64);
                }
                self.router.handle_packet(id, code, &payload, now);
            }
            Command::PeerDown { node } => {
                if let Some(m) = &self.mailserver {
                    m.forget(node);
                }
                if let Some(c) = self.peers.remove(&node) {
                    for (id, cap) in c.ids {
                        self.metrics.add("wisp_peers", &peer_labels(cap, c.info.inbound), -1);
                        if self.light_peers.remove(&id) {
                            self.metrics.add("wisp_light_peers", "", -1);
                        }
                        self.by_peer_id.remove(&id);
                        self.router.remove_peer(id);
                        if let Some(archive) = &mut self.archive {
                            archive.forget(id);
                        }
                    }
                }
            }
            Command::Post { envelope, reply } => {
                let _ = reply.send(self.router.post(envelope, now));
            }
            Command::InstallFilter { filter, subscriber, reply } => {
                let id = self.router.filters_mut().install(filter);
                if let Some(s) = subscriber {
                    self.subscribers.insert(id, s);
                }
                self.update_light_topics();
                let _ = reply.send(id);
            }
            Command::RemoveFilter { id, reply } => {
                self.subscribers.remove(&id);
                let removed = self.router.filters_mut().remove(id);
                self.update_light_topics();
                let _ = reply.send(removed);
            }
            Command::FilterMessages { id, reply } => {
                let _ = reply.send(self.router.filters_mut().take_messages(id));
            }
            Command::SetMinPow(pow) => self.router.set_min_pow(pow),
            Command::SetBloom(bloom) => self.router.set_bloom(bloom),
            Command::SetLight(light) => self.router.set_light_node(light),
            Command::SetMaxMessageSize(size) => self.router.set_max_envelope_size(size),
            Command::MarkTrusted(node) => {
                self.trusted.insert(node);
                if let Some(c) = self.peers.get_mut(&node) {
                    c.info.trusted = true;
                    for (id, _) in &c.ids {
                        self.router.mark_trusted(*id);
                    }
                }
            }
            Command::Disconnect { node, reason } => {
                if let Some(c) = self.peers.get(&node) {
                    c.kill(reason);
                }
            }
            Command::SendPacket { node, code, payload, reply } => {
                // Prefer waku/1 when the peer speaks both.
                let cap = self.peers.get(&node).and_then(|c| {
                    c.ids
                        .iter()
                        .map(|(_, cap)| *cap)
                        .find(|cap| *cap == Capability::Waku)
                        .or_else(|| c.ids.first().map(|(_, cap)| *cap))
                });
                let sent = cap.is_some_and(|capability| {
                    self.enqueue(node, PeerCommand::Send { capability, code, payload })
                });
                let _ = reply.send(sent);
            }
            Command::PeerIds { node, reply } => {
                let ids = self.peers.get(&node).map(|c| c.ids.iter().map(|(id, _)| *id).collect());
                let _ = reply.send(ids.unwrap_or_default());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peers.values().map(|c| c.info.clone()).collect());
            }
            Command::Stats(reply) => {
                let _ = reply.send((self.router.stats().clone(), self.router.pool_len()));
            }
            Command::Config(reply) => {
                let _ = reply.send(self.router.config().clone());
            }
            Command::SendP2P { node, envelopes, reply } => {
                let _ = reply.send(self.send_p2p(node, envelopes));
            }
        }
    }

    /// A P2P Message packet to one peer, on its first capability.
    fn send_p2p(&mut self, node: NodeId, envelopes: Vec<Envelope>) -> bool {
        let Some(c) = self.peers.get(&node) else { return false };
        let Some(&(_, capability)) = c.ids.first() else { return false };
        // A P2P Message is the same envelope list in both capabilities; only the code differs.
        let mut payload = Vec::new();
        wisp_waku::WakuPacket::P2PMessage(envelopes).encode(&mut payload);
        let code = capability.codes().p2p_message;
        self.enqueue(node, PeerCommand::Send { capability, code, payload })
    }

    /// Queues `cmd` to `node`. A full queue drops the packet; a queue full for longer than
    /// the grace drops the peer, through its kill signal (not through the full queue).
    fn enqueue(&mut self, node: NodeId, cmd: PeerCommand) -> bool {
        let Some(c) = self.peers.get_mut(&node) else { return false };
        match c.tx.try_send(cmd) {
            Ok(()) => {
                c.full_since = None;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let now = std::time::Instant::now();
                let since = *c.full_since.get_or_insert(now);
                if since == now {
                    tracing::warn!(target: "node::service", peer = %node, "peer too slow: its queue is full, dropping packets to it");
                } else if now.duration_since(since) >= self.slow_peer_grace
                    && c.kill.borrow().is_none()
                {
                    tracing::warn!(target: "node::service", peer = %node, grace = ?self.slow_peer_grace, "dropping a peer too slow to keep up");
                    self.metrics.add("wisp_peers_dropped_total", "reason=\"slow_peer\"", 1);
                    c.kill(DisconnectReason::SubprotocolError);
                }
                false
            }
        }
    }

    /// A light client tells its peers the topics of its filters (topic interest).
    fn update_light_topics(&mut self) {
        if self.light_topics {
            let topics: Vec<Topic> = self.router.filters().topics();
            self.router.set_topic_interest(topics);
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.router.poll_output() {
            match out {
                Output::Send { peer, code, payload } => self.send(peer, code, payload),
                Output::Disconnect { peer, reason } => {
                    tracing::info!(target: "node::service", %peer, %reason, "dropping peer");
                    self.metrics.add(
                        "wisp_peers_dropped_total",
                        &format!("reason=\"{}\"", drop_label(&reason)),
                        1,
                    );
                    if matches!(reason, DropReason::RateLimited { .. }) {
                        self.metrics.add("wisp_rate_limited_peers_total", "", 1);
                    }
                    if let Some(c) = self.by_peer_id.get(&peer).and_then(|n| self.peers.get(n)) {
                        c.kill(disconnect_reason(&reason));
                        let node = c.info.id;
                        let ip = c.info.inbound.then(|| c.info.remote_addr.ip());
                        if self.scores.penalize_from(
                            node,
                            ip,
                            crate::scores::penalty(&reason),
                            std::time::Instant::now(),
                        ) {
                            tracing::warn!(target: "node::service", peer = %node, "peer banned for repeated misbehaviour");
                            self.metrics.add("wisp_peers_banned_total", "", 1);
                        }
                    }
                }
                Output::Event(e) => self.event(e),
            }
        }
    }

    fn capability_of(&self, peer: PeerId) -> Option<Capability> {
        let node = self.by_peer_id.get(&peer)?;
        self.peers.get(node)?.ids.iter().find(|(id, _)| *id == peer).map(|(_, c)| *c)
    }

    fn send(&mut self, peer: PeerId, code: u64, payload: Vec<u8>) {
        let Some(node) = self.by_peer_id.get(&peer).copied() else { return };
        let Some(c) = self.peers.get(&node) else { return };
        let Some(capability) = c.ids.iter().find(|(id, _)| *id == peer).map(|(_, cap)| *cap) else {
            return;
        };
        self.metrics.add("wisp_bytes_out_total", &cap_labels(capability), payload.len() as i64);
        if code == wisp_waku::packets::waku_codes::MESSAGES {
            self.metrics.add("wisp_envelopes_relayed_total", "", count_envelopes(&payload));
        }
        self.enqueue(node, PeerCommand::Send { capability, code, payload });
    }

    fn event(&mut self, e: Event) {
        match &e {
            Event::P2PRequest { peer, payload } => {
                if let Some(m) = &self.mailserver
                    && let Some(node) = self.by_peer_id.get(peer)
                    && let Some(c) = self.peers.get(node)
                    && let Some(capability) = self.capability_of(*peer)
                {
                    m.handle_request(*node, capability, payload.clone(), c.tx.clone());
                }
            }
            Event::Accepted { from, envelope, hash } => {
                if let Some(archive) = &mut self.archive {
                    archive.push(*hash, envelope, *from);
                }
                let origin = if from.is_some() { "peer" } else { "local" };
                self.metrics.add(
                    "wisp_envelopes_received_total",
                    &format!("origin=\"{origin}\""),
                    1,
                );
            }
            Event::BatchReceived { peer, capability, batch_hash, errors } => {
                // A mailserver confirms a batch once it is archived.
                if let Some(c) = self.by_peer_id.get(peer).and_then(|n| self.peers.get(n)) {
                    let (tx, capability, errors) = (c.tx.clone(), *capability, errors.clone());
                    match &mut self.archive {
                        Some(archive) => {
                            archive.confirm(*peer, tx, capability, *batch_hash, errors)
                        }
                        // Nothing to wait for: confirm at once.
                        None => {
                            for (code, payload) in
                                capability.confirmation_packets(*batch_hash, errors)
                            {
                                let _ =
                                    tx.try_send(PeerCommand::Send { capability, code, payload });
                            }
                        }
                    }
                }
            }
            Event::Dropped { reason, .. } => {
                let labels = format!("reason=\"{}\"", envelope_drop_label(*reason));
                self.metrics.add("wisp_envelopes_dropped_total", &labels, 1);
            }
            Event::PeerReady { peer, light: true } if self.light_peers.insert(*peer) => {
                self.metrics.add("wisp_light_peers", "", 1);
            }
            Event::Matched { filter, .. } => {
                self.metrics.add("wisp_filter_matches_total", "", 1);
                if let Some(sub) = self.subscribers.get(filter) {
                    let msgs = self.router.filters_mut().take_messages(*filter).unwrap_or_default();
                    let mut closed = false;
                    for m in msgs {
                        if sub.try_send(m).is_err() {
                            closed = sub.is_closed();
                        }
                    }
                    if closed {
                        self.subscribers.remove(filter);
                        self.router.filters_mut().remove(*filter);
                    }
                }
            }
            _ => {}
        }
        let _ = self.events.send(e);
    }
}

fn cap_label(c: Capability) -> &'static str {
    c.codes().name
}

fn cap_labels(c: Capability) -> String {
    format!("capability=\"{}\"", cap_label(c))
}

fn peer_labels(c: Capability, inbound: bool) -> String {
    let dir = if inbound { "inbound" } else { "outbound" };
    format!("capability=\"{}\",direction=\"{dir}\"", cap_label(c))
}

/// The number of envelopes in a Messages payload (an RLP list), without decoding them.
fn count_envelopes(payload: &[u8]) -> i64 {
    let mut buf = payload;
    let Ok(mut items) = alloy_rlp::Header::decode_bytes(&mut buf, true) else { return 0 };
    let mut n = 0;
    while !items.is_empty() {
        let Ok(h) = alloy_rlp::Header::decode(&mut items) else { break };
        if h.payload_length > items.len() {
            break;
        }
        items = &items[h.payload_length..];
        n += 1;
    }
    n
}

/// The devp2p reason for a router drop.
pub(crate) fn disconnect_reason(r: &DropReason) -> DisconnectReason {
    match r {
        DropReason::LightPeer => DisconnectReason::UselessPeer,
        DropReason::StatusTimeout => DisconnectReason::SubprotocolError,
        DropReason::RateLimited { .. } | DropReason::FutureEnvelopes { .. } => {
            DisconnectReason::SubprotocolError
        }
        DropReason::PacketBeforeStatus { .. } | DropReason::BadPacket { .. } => {
            DisconnectReason::BreachOfProtocol
        }
    }
}

fn drop_label(r: &DropReason) -> &'static str {
    match r {
        DropReason::StatusTimeout => "status_timeout",
        DropReason::PacketBeforeStatus { .. } => "packet_before_status",
        DropReason::BadPacket { .. } => "bad_packet",
        DropReason::RateLimited { .. } => "rate_limited",
        DropReason::LightPeer => "light_peer",
        DropReason::FutureEnvelopes { .. } => "future_envelopes",
    }
}

fn envelope_drop_label(r: EnvelopeDrop) -> &'static str {
    match r {
        EnvelopeDrop::Expired => "expired",
        EnvelopeDrop::FutureDated => "future",
        EnvelopeDrop::LowPow => "low_pow",
        EnvelopeDrop::InvalidTtl => "invalid_ttl",
        EnvelopeDrop::TooBig => "too_big",
        EnvelopeDrop::Duplicate => "duplicate",
        EnvelopeDrop::PoolFull => "pool_full",
    }
}
