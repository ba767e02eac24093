//! The mailserver role's glue: archiving what the router accepts, serving P2P Requests from
//! the archive, and (for every node) asking a trusted mailserver for history.

use std::{path::Path, sync::Arc, time::Duration};

use tokio::sync::{Mutex, mpsc};
use wisp_crypto::NodeId;
use wisp_mailserver::{
    AnyStore, ArchiveSpec, ArchivedEnvelope, HistoryServer, ServerConfig, ServerKeys, Store,
    retention::{self, RetentionConfig},
    serve_request,
    server::complete_payload,
};
use wisp_waku::{Capability, Envelope};

use crate::{
    metrics::NodeMetrics,
    service::{PeerCommand, now_ms},
};

/// Settings of the mailserver role.
#[derive(Clone, Debug)]
pub struct MailserverConfig {
    /// Where the archive lives. Default: SQLite in `<data-dir>/archive.sqlite`.
    pub archive: ArchiveSpec,
    /// Envelopes older than this many days are deleted. Default: 30.
    pub retention_days: u32,
    /// The password whose PBKDF2 key opens history requests. Default: `status-offline-inbox`.
    pub password: String,
}

impl Default for MailserverConfig {
    fn default() -> Self {
        Self {
            archive: ArchiveSpec::default(),
            retention_days: retention::DEFAULT_RETENTION_DAYS,
            password: wisp_mailserver::request::DEFAULT_MAILSERVER_PASSWORD.to_owned(),
        }
    }
}

/// A running mailserver: its archive and history server.
pub(crate) struct Mailserver {
    pub(crate) store: AnyStore,
    server: Mutex<HistoryServer<NodeId>>,
    metrics: Arc<NodeMetrics>,
}

impl Mailserver {
    /// Opens the archive and starts the archiver and retention tasks; returns the mailserver and
    /// the channel the router service feeds accepted envelopes into.
    pub(crate) async fn start(
        config: &MailserverConfig,
        data_dir: &Path,
        node_key: wisp_crypto::SecretKey,
        metrics: Arc<NodeMetrics>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) -> Result<(Arc<Self>, mpsc::UnboundedSender<Envelope>), wisp_mailserver::StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| wisp_mailserver::StoreError::Backend {
            backend: "sqlite",
            detail: format!("cannot create {}: {e}", data_dir.display()),
        })?;
        let store = AnyStore::open(&config.archive, data_dir).await?;
        tracing::info!(target: "mailserver", backend = store.backend(), "archive open");
        let keys = ServerKeys::from_password(&config.password).with_node_key(node_key);
        let server = Mutex::new(HistoryServer::new(ServerConfig::default(), keys));
        let this = Arc::new(Self { store: store.clone(), server, metrics: metrics.clone() });

        let (tx, rx) = mpsc::unbounded_channel();
        tasks.spawn(archiver(store.clone(), rx, metrics));
        let retention_config =
            RetentionConfig { days: config.retention_days, ..Default::default() };
        tasks.spawn(retention::run(store, retention_config, || now_ms() / 1000));
        Ok((this, tx))
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
        tokio::spawn(async move {
            let admitted = {
                let mut server = this.server.lock().await;
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
    pub(crate) fn forget(self: &Arc<Self>, node: NodeId) {
        let this = self.clone();
        tokio::spawn(async move { this.server.lock().await.forget_peer(&node) });
    }
}

/// Writes accepted envelopes to the archive in batches (each `put` is durable before it
/// returns).
/// Attempts per archive batch before it is given up (waits 0.1 s, 0.4 s, 1.6 s, 6.4 s between).
const ARCHIVE_ATTEMPTS: u32 = 5;

async fn archiver(
    store: AnyStore,
    mut rx: mpsc::UnboundedReceiver<Envelope>,
    metrics: Arc<NodeMetrics>,
) {
    const BATCH: usize = 512;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(first) = rx.recv().await else { return };
        batch.push(archived(&first));
        // Gather what else is already queued, up to a batch, without waiting long.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(archived(&e)),
                _ => break,
            }
        }
        // A failed write (a busy or restarting database) is retried with backoff before the
        // batch is given up; each failure is counted.
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=ARCHIVE_ATTEMPTS {
            match store.put(&batch).await {
                Ok(new) => {
                    metrics.add("wisp_archived_envelopes_total", "", new as i64);
                    break;
                }
                Err(e) => {
                    metrics.add("wisp_archive_errors_total", "", 1);
                    if attempt == ARCHIVE_ATTEMPTS {
                        tracing::error!(target: "mailserver", error = %e, lost = batch.len(), "archive write failed; batch dropped");
                    } else {
                        tracing::warn!(target: "mailserver", error = %e, attempt, retry_in = ?delay, "archive write failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 4;
                    }
                }
            }
        }
        batch.clear();
    }
}

fn archived(e: &Envelope) -> ArchivedEnvelope {
    let rlp = e.to_rlp();
    ArchivedEnvelope { hash: wisp_crypto::keccak256(&rlp), sent: e.sent(), topic: e.topic, rlp }
}
