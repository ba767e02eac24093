//! The mailserver role's glue: archiving what the router accepts, serving P2P Requests from
//! the archive, and (for every node) asking a trusted mailserver for history.

use std::{
    collections::HashSet,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch},
    task::{JoinHandle, JoinSet},
};
use wisp_crypto::NodeId;
use wisp_mailserver::{
    AnyStore, ArchiveSpec, ArchivedEnvelope, HistoryServer, ServerConfig, ServerKeys, SqliteConfig,
    Store,
    retention::{self, RetentionConfig},
    serve_request,
    server::complete_payload,
};
use wisp_waku::{Capability, Envelope, PeerId, packets::EnvelopeErrorReport};

use crate::{
    metrics::NodeMetrics,
    service::{PeerCommand, now_ms},
};

/// Default of [`MailserverConfig::archive_queue_bytes`]: 64 MiB. A healthy archive commits
/// 25 000-48 000 small (230-byte) envelopes per second (`crates/mailserver` benchmark: SQLite with
/// and without `full_sync`, PostgreSQL plain and TLS), far above what a Status network carries,
/// so the queue stays near empty; 64 MiB (about 140 000 such envelopes at their queue cost of
/// data + 256 bytes) absorbs a multi-second stall of the database (a checkpoint, a PostgreSQL
/// restart: writes are retried for about 10 s) or a burst from peers at the router's byte
/// limits, and bounds the memory a mailserver spends on it.
pub const DEFAULT_ARCHIVE_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// What a queued item costs beyond its envelope's data (the envelope's other fields, the
/// archive row being built, the channel's node): bounds the queue in count as well as bytes.
const QUEUE_ITEM_OVERHEAD: usize = 256;

/// Most envelopes per archive transaction.
const ARCHIVE_BATCH: usize = 1024;

/// Most queue bytes (see [`QUEUE_ITEM_OVERHEAD`]) per archive transaction.
const ARCHIVE_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// How long the archiver waits for more envelopes before it commits a partial batch.
const GATHER_WINDOW: Duration = Duration::from_millis(20);

/// Attempts per archive batch before it is given up (waits 0.1 s, 0.4 s, 1.6 s, 6.4 s between).
const ARCHIVE_ATTEMPTS: u32 = 5;

/// Longest wait, on shutdown, for the archiver to commit what is queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the mailserver role.
#[derive(Clone, Debug)]
pub struct MailserverConfig {
    /// Where the archive lives. Default: SQLite in `<data-dir>/archive.sqlite`.
    pub archive: ArchiveSpec,
    /// Envelopes older than this many days are deleted. Default: 30.
    pub retention_days: u32,
    /// The password whose PBKDF2 key opens history requests. Default: `status-offline-inbox`.
    pub password: String,
    /// SQLite archive: fsync every commit (`synchronous = FULL`), so that archived envelopes
    /// also survive a power cut or OS crash, at the cost of one fsync per batch. Default: false
    /// (a process crash or `kill -9` loses nothing committed; a power cut may lose the last
    /// commits).
    pub full_sync: bool,
    /// Bytes of accepted envelopes that may wait for the archive. When the archive falls this
    /// far behind, newly accepted envelopes are still relayed but not archived: each is counted
    /// in `wisp_archive_dropped_total` and its batch is not acknowledged. Default: 64 MiB.
    pub archive_queue_bytes: usize,
}

impl Default for MailserverConfig {
    fn default() -> Self {
        Self {
            archive: ArchiveSpec::default(),
            retention_days: retention::DEFAULT_RETENTION_DAYS,
            password: wisp_mailserver::request::DEFAULT_MAILSERVER_PASSWORD.to_owned(),
            full_sync: false,
            archive_queue_bytes: DEFAULT_ARCHIVE_QUEUE_BYTES,
        }
    }
}

/// What waits for the archiver, in the order the router accepted it.
enum ArchiveItem {
    /// An accepted envelope (its hash as the router computed it), holding its share of the
    /// queue's byte budget until committed.
    Envelope { hash: [u8; 32], envelope: Envelope, _permit: OwnedSemaphorePermit },
    /// A batch's withheld confirmations: sent once everything queued before is committed.
    Confirm {
        tx: mpsc::Sender<PeerCommand>,
        capability: Capability,
        packets: [(u64, Vec<u8>); 2],
        _permit: OwnedSemaphorePermit,
    },
}

/// The router service's end of the archive queue: bounded in bytes, never blocking the
/// service (relaying does not wait for the archive).
pub(crate) struct ArchiveQueue {
    tx: mpsc::UnboundedSender<ArchiveItem>,
    budget: Arc<Semaphore>,
    metrics: Arc<NodeMetrics>,
    /// Peers that lost an envelope of the batch being received: its confirmation is withheld.
    lost: HashSet<PeerId>,
    /// Whether the last envelope offered was dropped (logs once per episode).
    dropping: bool,
}

impl ArchiveQueue {
    fn permit(&self, cost: usize) -> Option<OwnedSemaphorePermit> {
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        self.budget.clone().try_acquire_many_owned(cost).ok()
    }

    /// Queues an accepted envelope from `from`; when the queue is full it is dropped (counted in
    /// `wisp_archive_dropped_total`) and the batch it came in will not be acknowledged.
    pub(crate) fn push(&mut self, hash: [u8; 32], envelope: &Envelope, from: Option<PeerId>) {
        let cost = envelope.data.len() + QUEUE_ITEM_OVERHEAD;
        let queued = self.permit(cost).is_some_and(|permit| {
            let item = ArchiveItem::Envelope { hash, envelope: envelope.clone(), _permit: permit };
            self.tx.send(item).is_ok()
        });
        if queued {
            self.metrics.add("wisp_archive_queue_bytes", "", cost as i64);
            self.dropping = false;
            return;
        }
        self.metrics.add("wisp_archive_dropped_total", "", 1);
        if let Some(peer) = from {
            self.lost.insert(peer);
        }
        if !self.dropping {
            self.dropping = true;
            tracing::warn!(target: "mailserver", queue_bytes = self.budget_bytes(), "archive queue full: accepted envelopes are relayed but not archived");
        }
    }

    fn budget_bytes(&self) -> usize {
        self.budget.available_permits()
    }

    /// A batch from `peer` whose confirmations the router withheld: they are sent once the
    /// batch is committed, or never if part of it was dropped or could not be written.
    pub(crate) fn confirm(
        &mut self,
        peer: PeerId,
        tx: mpsc::Sender<PeerCommand>,
        capability: Capability,
        batch_hash: [u8; 32],
        errors: Vec<EnvelopeErrorReport>,
    ) {
        if self.lost.remove(&peer) {
            self.metrics.add("wisp_archive_unconfirmed_batches_total", "", 1);
            return;
        }
        let packets = capability.confirmation_packets(batch_hash, errors);
        let queued = self.permit(QUEUE_ITEM_OVERHEAD).is_some_and(|permit| {
            let item = ArchiveItem::Confirm { tx, capability, packets, _permit: permit };
            self.tx.send(item).is_ok()
        });
        if queued {
            self.metrics.add("wisp_archive_queue_bytes", "", QUEUE_ITEM_OVERHEAD as i64);
        } else {
            self.metrics.add("wisp_archive_unconfirmed_batches_total", "", 1);
        }
    }

    /// Forgets a disconnected peer.
    pub(crate) fn forget(&mut self, peer: PeerId) {
        self.lost.remove(&peer);
    }
}

/// A running mailserver: its archive, history server and tasks.
pub(crate) struct Mailserver {
    pub(crate) store: AnyStore,
    server: Mutex<HistoryServer<NodeId>>,
    metrics: Arc<NodeMetrics>,
    /// History requests being served, and the retention task.
    tasks: Mutex<JoinSet<()>>,
    archiver: Mutex<Option<JoinHandle<()>>>,
    stop: watch::Sender<bool>,
}

impl Mailserver {
    /// Opens the archive and starts the archiver and retention tasks; returns the mailserver and
    /// the queue the router service feeds accepted envelopes into. [`Mailserver::close`] ends
    /// them.
    pub(crate) async fn start(
        config: &MailserverConfig,
        data_dir: &Path,
        node_key: wisp_crypto::SecretKey,
        metrics: Arc<NodeMetrics>,
    ) -> Result<(Arc<Self>, ArchiveQueue), wisp_mailserver::StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| wisp_mailserver::StoreError::Backend {
            backend: "sqlite",
            detail: format!("cannot create {}: {e}", data_dir.display()),
        })?;
        let sqlite = SqliteConfig { full_sync: config.full_sync, ..SqliteConfig::default() };
        let store = AnyStore::open_with(&config.archive, data_dir, sqlite).await?;
        tracing::info!(target: "mailserver", backend = store.backend(), full_sync = config.full_sync, "archive open");
        let keys = ServerKeys::from_password(&config.password).with_node_key(node_key);
        let server = Mutex::new(HistoryServer::new(ServerConfig::default(), keys));

        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let archiver = tokio::spawn(archiver(store.clone(), rx, stop_rx, metrics.clone()));
        let mut tasks = JoinSet::new();
        let retention_config =
            RetentionConfig { days: config.retention_days, ..Default::default() };
        tasks.spawn(retention::run(store.clone(), retention_config, || now_ms() / 1000));
        let this = Arc::new(Self {
            store,
            server,
            metrics: metrics.clone(),
            tasks: Mutex::new(tasks),
            archiver: Mutex::new(Some(archiver)),
            stop,
        });
        let budget =
            Arc::new(Semaphore::new(config.archive_queue_bytes.min(Semaphore::MAX_PERMITS)));
        let queue = ArchiveQueue { tx, budget, metrics, lost: HashSet::new(), dropping: false };
        Ok((this, queue))
    }

    /// Ends the mailserver's tasks: history requests being served and retention are aborted;
    /// the archiver takes no new envelopes, commits what is queued (sending the confirmations
    /// it owes), and ends. Waits for it (at most 30 s).
    pub(crate) async fn close(&self) {
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let _ = self.stop.send(true);
        let archiver = self.archiver.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(archiver) = archiver {
            match tokio::time::timeout(CLOSE_TIMEOUT, archiver).await {
                Ok(_) => tracing::debug!(target: "mailserver", "archive flushed"),
                Err(_) => {
                    tracing::error!(target: "mailserver", timeout = ?CLOSE_TIMEOUT, "archive not flushed in time; queued envelopes lost")
                }
            }
        }
    }

    /// Serves one P2P Request from `node`; replies go to the peer's queue in order.
    pub(crate) fn handle_request(
        self: &Arc<Self>,
        node: NodeId,
        capability: Capability,
        payload: Vec<u8>,
        tx: mpsc::Sender<PeerCommand>,
    ) {
        let this = self.clone();
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        // Reap the finished ones: the set holds only requests being served.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let admitted = {
                let mut server = this.server.lock().unwrap_or_else(PoisonError::into_inner);
                server.prune(now_ms());
                server.admit_payload(&node, &payload, now_ms())
            };
            match admitted {
                Ok(admitted) => {
                    let reply = serve_request(&this.store, &admitted).await;
                    this.metrics.add("wisp_history_requests_total", "outcome=\"served\"", 1);
                    if let wisp_mailserver::Outcome::Served { envelopes, .. } = reply.outcome {
                        this.metrics.add(
                            "wisp_history_envelopes_served_total",
                            "",
                            envelopes as i64,
                        );
                    }
                    for (code, payload) in reply.packets() {
                        if tx.send(PeerCommand::Send { capability, code, payload }).await.is_err() {
                            break;
                        }
                    }
                }
                Err(rejection) => {
                    let label = format!("outcome=\"{}\"", rejection.reason.label());
                    this.metrics.add("wisp_history_requests_total", &label, 1);
                    tracing::debug!(target: "mailserver", peer = %node, reason = rejection.reason.label(), "history request refused");
                    if let Some(complete) = &rejection.complete {
                        let payload = complete_payload(complete);
                        let code = wisp_waku::packets::waku_codes::P2P_REQUEST_COMPLETE;
                        let _ = tx.send(PeerCommand::Send { capability, code, payload }).await;
                    }
                }
            }
        });
    }

    /// Forgets a peer's request rate state.
    pub(crate) fn forget(&self, node: NodeId) {
        self.server.lock().unwrap_or_else(PoisonError::into_inner).forget_peer(&node);
    }
}

/// Commits queued envelopes to the archive in batches (each `put` is durable before it
/// returns) and sends a batch's withheld confirmations once everything queued before them is
/// committed. On `stop` it takes nothing new, commits what is queued, and returns.
async fn archiver(
    store: AnyStore,
    mut rx: mpsc::UnboundedReceiver<ArchiveItem>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<NodeMetrics>,
) {
    let mut batch = Batch {
        envelopes: Vec::with_capacity(ARCHIVE_BATCH),
        bytes: 0,
        permit: None,
        failed: false,
        started: tokio::time::Instant::now(),
    };
    let mut stopping = false;
    loop {
        let item = if batch.envelopes.is_empty() {
            tokio::select! {
                item = rx.recv() => item,
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    rx.close();
                    continue;
                }
            }
        } else {
            // Gather what else arrives, up to a batch, for at most GATHER_WINDOW after the
            // batch's first envelope.
            match tokio::time::timeout_at(batch.started + GATHER_WINDOW, rx.recv()).await {
                Ok(item) => item,
                Err(_) => {
                    batch.commit(&store, &metrics).await;
                    continue;
                }
            }
        };
        match item {
            None => {
                batch.commit(&store, &metrics).await;
                return;
            }
            Some(ArchiveItem::Envelope { hash, envelope, _permit: permit }) => {
                if batch.envelopes.is_empty() {
                    batch.started = tokio::time::Instant::now();
                }
                let rlp = envelope.to_rlp();
                let sent = envelope.sent();
                batch.envelopes.push(ArchivedEnvelope { hash, sent, topic: envelope.topic, rlp });
                // The budget is given back when the batch is committed.
                batch.bytes += permit.num_permits();
                match &mut batch.permit {
                    Some(held) => held.merge(permit),
                    None => batch.permit = Some(permit),
                }
                if batch.envelopes.len() >= ARCHIVE_BATCH || batch.bytes >= ARCHIVE_BATCH_BYTES {
                    batch.commit(&store, &metrics).await;
                }
            }
            Some(ArchiveItem::Confirm { tx, capability, packets, _permit }) => {
                metrics.add("wisp_archive_queue_bytes", "", -(QUEUE_ITEM_OVERHEAD as i64));
                batch.commit(&store, &metrics).await;
                if std::mem::take(&mut batch.failed) {
                    metrics.add("wisp_archive_unconfirmed_batches_total", "", 1);
                    continue;
                }
                for (code, payload) in packets {
                    if tx.try_send(PeerCommand::Send { capability, code, payload }).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Envelopes gathered for one archive transaction.
struct Batch {
    envelopes: Vec<ArchivedEnvelope>,
    /// Their share of the queue's byte budget (reported in `wisp_archive_queue_bytes`).
    bytes: usize,
    /// That share, held until they are committed.
    permit: Option<OwnedSemaphorePermit>,
    /// A commit since the last confirmation failed for good.
    failed: bool,
    /// When its first envelope arrived.
    started: tokio::time::Instant,
}

impl Batch {
    /// Writes the batch; a failed write (a busy or restarting database) is retried with backoff
    /// before the batch is given up. Each failure is counted.
    async fn commit(&mut self, store: &AnyStore, metrics: &NodeMetrics) {
        if self.envelopes.is_empty() {
            return;
        }
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=ARCHIVE_ATTEMPTS {
            match store.put(&self.envelopes).await {
                Ok(new) => {
                    metrics.add("wisp_archived_envelopes_total", "", new as i64);
                    break;
                }
                Err(e) => {
                    metrics.add("wisp_archive_errors_total", "", 1);
                    if attempt == ARCHIVE_ATTEMPTS {
                        tracing::error!(target: "mailserver", error = %e, lost = self.envelopes.len(), "archive write failed; batch dropped");
                        self.failed = true;
                    } else {
                        tracing::warn!(target: "mailserver", error = %e, attempt, retry_in = ?delay, "archive write failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 4;
                    }
                }
            }
        }
        metrics.add("wisp_archive_queue_bytes", "", -(self.bytes as i64));
        self.envelopes.clear();
        self.bytes = 0;
        self.permit = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `full_sync` reaches the SQLite archive the mailserver opens (`PRAGMA synchronous`).
    #[tokio::test]
    async fn full_sync_reaches_the_sqlite_archive() {
        for (full_sync, want) in [(false, 1), (true, 2)] {
            let dir = std::env::temp_dir()
                .join(format!("wisp-node-full-sync-{}-{full_sync}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let config = MailserverConfig { full_sync, ..MailserverConfig::default() };
            let key = wisp_crypto::SecretKey::random();
            let metrics = Arc::new(NodeMetrics::default());
            let (mailserver, queue) = Mailserver::start(&config, &dir, key, metrics).await.unwrap();
            let AnyStore::Sqlite(store) = &mailserver.store else { panic!("not SQLite") };
            assert_eq!(store.synchronous().await.unwrap(), want, "full_sync = {full_sync}");
            assert_eq!(store.config().full_sync, full_sync);
            drop(queue);
            mailserver.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A history request stuck on a peer whose queue is full is ended by `close`: its task
    /// (and the peer queue's sender it holds) is gone.
    #[tokio::test]
    async fn close_ends_history_requests_in_flight() {
        use wisp_mailserver::{
            ClientConfig, HistoryQuery, HistoryRequest, RequestForm, RequestSealing,
        };
        let config = MailserverConfig { archive: ArchiveSpec::Memory, ..Default::default() };
        let dir = std::env::temp_dir().join(format!("wisp-node-close-{}", std::process::id()));
        let key = wisp_crypto::SecretKey::random();
        let metrics = Arc::new(NodeMetrics::default());
        let (mailserver, queue) =
            Mailserver::start(&config, &dir, key, metrics.clone()).await.unwrap();

        let password = wisp_mailserver::request::DEFAULT_MAILSERVER_PASSWORD;
        let sealing = RequestSealing::new(wisp_waku::Encryption::Symmetric(
            wisp_crypto::symmetric_key_from_password(password),
        ));
        let now = now_ms();
        let query = HistoryQuery::topics(
            vec![wisp_waku::Topic([1, 2, 3, 4])],
            (now / 1000) as u32 - 60,
            (now / 1000) as u32,
        );
        let (_, request) =
            HistoryRequest::start(query, ClientConfig::new(RequestForm::envelope(sealing)), now)
                .unwrap();
        // The peer's queue is full: the reply waits for room that never comes.
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(PeerCommand::Send {
            capability: Capability::Waku,
            code: wisp_waku::packets::waku_codes::STATUS,
            payload: Vec::new(),
        })
        .unwrap();
        let node = wisp_crypto::SecretKey::random().public_key().node_id();
        mailserver.handle_request(node, Capability::Waku, request.to_payload(), tx);
        let served = || metrics.get("wisp_history_requests_total", "outcome=\"served\"");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while served() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the request was not served");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        drop(queue);
        mailserver.close().await;
        assert!(rx.recv().await.is_some(), "what was queued before");
        let closed = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
        assert!(matches!(closed, Ok(None)), "the request's task still holds the peer's queue");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
