//! The driver task: owns the messenger, moves envelopes between it and the router service,
//! runs [`super::ChatHandle`]'s commands, and reports events and metrics.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rand::{SeedableRng, rngs::StdRng};
use tokio::{
    sync::{broadcast, mpsc, watch},
    task::{JoinHandle, JoinSet},
};
use wisp_crypto::{PublicKey, SecretKey};
use wisp_messenger::{
    Counters, Event, FilterSpec, IncomingEnvelope, MessageId, OutgoingEnvelope, Output,
    SqliteMessenger, StoredChat, StoredMessage, proto::ChatMessage,
};
use wisp_rlpx::NodeRecord;
use wisp_waku::{
    Envelope, Filter, FilterId, MessageParams, ReceivedMessage, SealBudget, seal_payload,
};

use super::{ChatError, ChatEvent, ChatHandle, Job, Settings, history};
use crate::{NodeHandle, metrics::NodeMetrics, service::now_ms};

/// Commands waiting for the driver.
const JOB_QUEUE: usize = 256;
/// Envelopes opened by our filters waiting for the driver.
const INCOMING_QUEUE: usize = 8192;
/// Envelopes handled before the outputs they caused are (handling a burst in one go).
const INCOMING_BATCH: usize = 64;
/// How long the PoW search of one envelope may take.
const POW_TIME: Duration = Duration::from_secs(10);
/// The largest wait between ticks (the messenger may have nothing scheduled).
const IDLE_WAKEUP: Duration = Duration::from_secs(60);
/// The least wait between ticks: a wakeup that stays in the past cannot spin the task.
const MIN_WAKEUP: Duration = Duration::from_millis(5);

/// The messenger and what the commands need beside it.
pub(crate) struct Core {
    /// The messenger with its SQLite store.
    pub(crate) messenger: SqliteMessenger<StdRng>,
    /// Messages sent by commands since the last report.
    sent: u64,
    /// Envelopes the filters handed to the messenger since the start.
    pub(crate) handled: u64,
}

impl Core {
    /// The chat `id`, or [`ChatError::UnknownChat`].
    pub(crate) fn known_chat(&self, id: &str) -> Result<StoredChat, ChatError> {
        self.messenger.chat(id)?.ok_or_else(|| ChatError::UnknownChat(id.to_owned()))
    }

    /// Sends `text` to an active chat, as a reply to `response_to` (a stored message of the
    /// chat) when given.
    pub(crate) fn send_text(
        &mut self,
        chat_id: &str,
        text: &str,
        response_to: Option<MessageId>,
        now_ms: u64,
    ) -> Result<StoredMessage, ChatError> {
        let mut message = wisp_messenger::text_message(
            0,
            now_ms,
            text,
            chat_id,
            wisp_messenger::proto::MessageType::PublicGroup,
        );
        if let Some(original) = response_to {
            message.response_to = original.to_string();
        }
        self.send_message(chat_id, message, now_ms)
    }

    /// Sends a prepared `ChatMessage` (text, image, audio or sticker) to an active chat;
    /// its `response_to`, when set, must name a stored message of the chat.
    pub(crate) fn send_message(
        &mut self,
        chat_id: &str,
        message: ChatMessage,
        now_ms: u64,
    ) -> Result<StoredMessage, ChatError> {
        let chat = self.known_chat(chat_id)?;
        if !chat.active {
            return Err(ChatError::InactiveChat(chat_id.to_owned()));
        }
        if !message.response_to.is_empty() {
            let original = super::parse_message_id(&message.response_to);
            let found = match original {
                Some(id) => self.messenger.message(&id)?,
                None => None,
            };
            if !found.is_some_and(|m| m.chat_id == chat_id && !m.deleted) {
                return Err(ChatError::UnknownMessage(format!(
                    "{} in chat {chat_id:?} (responseTo)",
                    message.response_to
                )));
            }
        }
        let id = self.messenger.send_chat_message(chat_id, message, now_ms)?;
        self.sent += 1;
        self.messenger.message(&id)?.ok_or_else(|| ChatError::UnknownMessage(id.to_string()))
    }
}

/// The key of a 1:1 chat id (`0x` + 65-byte key hex).
pub(crate) fn one_to_one_key(chat_id: &str) -> Option<PublicKey> {
    let bytes = hex::decode(chat_id.strip_prefix("0x")?).ok()?;
    PublicKey::from_sec1(&bytes).ok()
}

/// Opens `<data-dir>/messenger.sqlite` and starts the driver and history tasks in `tasks`.
pub(crate) fn start(
    settings: Settings,
    node: NodeHandle,
    trusted: Vec<NodeRecord>,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Result<ChatHandle, String> {
    let Settings { config, installation_id, db } = settings;
    let rng = StdRng::from_seed(wisp_crypto::random_bytes());
    let messenger = wisp_messenger::open_sqlite(
        &db,
        config.identity.clone(),
        &installation_id,
        config.messenger.clone(),
        rng,
    )
    .map_err(|e| format!("{}: {e}", db.display()))?;
    let public = config.identity.public_key();
    let (jobs_tx, jobs) = mpsc::channel::<Job>(JOB_QUEUE);
    let (events, _) = broadcast::channel(1024);
    let (history_tx, history_rx) = mpsc::channel(64);
    let progress = Arc::new(Mutex::new(history::HistoryProgress::default()));
    let handle = ChatHandle {
        jobs: jobs_tx,
        events: events.clone(),
        public,
        max_text_bytes: config.messenger.max_text_bytes,
        progress: progress.clone(),
        history: history_tx,
    };
    let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
    let (posted_tx, posted) = mpsc::unbounded_channel();
    let metrics = node.metrics.clone();
    let driver = Driver {
        core: Core { messenger, sent: 0, handled: 0 },
        identity: config.identity.clone(),
        node: node.clone(),
        jobs,
        incoming_tx,
        incoming,
        posted_tx,
        posted,
        filters: HashMap::new(),
        events: events.clone(),
        metrics,
        shutdown: shutdown.clone(),
        reported: Counters::default(),
        posting: JoinSet::new(),
        changed_messages: Vec::new(),
        changed_chats: BTreeSet::new(),
    };
    tasks.spawn(driver.run());
    tasks.spawn(history::run(history::Runner {
        chat: handle.clone(),
        node,
        trusted,
        config,
        progress,
        events,
        triggers: history_rx,
        shutdown,
    }));
    tracing::info!(target: "chat", account = %hex::encode(public.to_uncompressed()), installation = %installation_id, db = %db.display(), "messenger started");
    Ok(handle)
}

struct Driver {
    core: Core,
    identity: SecretKey,
    node: NodeHandle,
    jobs: mpsc::Receiver<Job>,
    incoming_tx: mpsc::Sender<ReceivedMessage>,
    incoming: mpsc::Receiver<ReceivedMessage>,
    posted_tx: mpsc::UnboundedSender<(u64, bool)>,
    posted: mpsc::UnboundedReceiver<(u64, bool)>,
    /// Installed filters by the messenger's name, with their forwarding tasks.
    filters: HashMap<String, (FilterId, JoinHandle<()>)>,
    events: broadcast::Sender<ChatEvent>,
    metrics: Arc<NodeMetrics>,
    shutdown: watch::Receiver<bool>,
    /// The messenger's counters last copied into the metrics.
    reported: Counters,
    /// Envelopes being sealed and posted.
    posting: JoinSet<()>,
    /// Messages and chats changed since the last `messages.new` event.
    changed_messages: Vec<MessageId>,
    changed_chats: BTreeSet<String>,
}

impl Driver {
    async fn run(mut self) {
        if let Err(e) = self.core.messenger.start(now_ms()) {
            self.error("start", &e);
        }
        self.drain().await;
        loop {
            let wake = match self.core.messenger.next_wakeup() {
                Ok(w) => w,
                Err(e) => {
                    self.error("next_wakeup", &e);
                    None
                }
            };
            let sleep = wake
                .map(|w| Duration::from_millis(w.saturating_sub(now_ms())))
                .unwrap_or(IDLE_WAKEUP)
                .clamp(MIN_WAKEUP, IDLE_WAKEUP);
            tokio::select! {
                job = self.jobs.recv() => {
                    let Some(job) = job else { break };
                    let deliver = job(&mut self.core, now_ms());
                    self.drain().await;
                    deliver();
                }
                Some(message) = self.incoming.recv() => {
                    self.handle(message);
                    for _ in 1..INCOMING_BATCH {
                        match self.incoming.try_recv() {
                            Ok(message) => self.handle(message),
                            Err(_) => break,
                        }
                    }
                    self.drain().await;
                }
                Some((id, ok)) = self.posted.recv() => {
                    if ok && let Err(e) = self.core.messenger.envelope_sent(id) {
                        self.error("envelope_sent", &e);
                    }
                    self.drain().await;
                }
                _ = tokio::time::sleep(sleep) => {
                    if let Err(e) = self.core.messenger.tick(now_ms()) {
                        self.error("tick", &e);
                    }
                    self.drain().await;
                }
                Some(_) = self.posting.join_next(), if !self.posting.is_empty() => {}
                _ = self.shutdown.changed() => break,
            }
        }
        for (_, (_, forwarder)) in self.filters.drain() {
            forwarder.abort();
        }
        self.posting.shutdown().await;
    }

    fn error(&self, what: &'static str, e: &dyn std::fmt::Display) {
        tracing::warn!(target: "chat", what, error = %e, "messenger error");
        self.metrics.add("wisp_chat_errors_total", "", 1);
    }

    fn handle(&mut self, m: ReceivedMessage) {
        let envelope = IncomingEnvelope {
            topic: m.topic,
            payload: m.payload,
            signer: m.signer,
            timestamp: m.timestamp,
            hash: m.hash,
        };
        // Drops are counted by the messenger (and copied into the metrics by `drain`).
        let _ = self.core.messenger.handle_envelope(&envelope, now_ms());
        self.core.handled += 1;
    }

    /// Handles every pending output of the messenger, then reports events and metrics.
    async fn drain(&mut self) {
        while let Some(output) = self.core.messenger.poll_output() {
            match output {
                Output::InstallFilter(spec) => self.install(spec).await,
                Output::RemoveFilter(spec) => self.remove(&spec).await,
                Output::Post(envelope) => self.post(envelope),
                Output::Event(event) => self.note(event),
            }
        }
        self.report().await;
    }

    async fn install(&mut self, spec: FilterSpec) {
        if self.filters.contains_key(&spec.name) {
            return;
        }
        let filter = Filter {
            key: spec.key,
            topics: vec![spec.topic],
            min_pow: 0.0,
            signer: None,
            // History from a trusted mailserver comes as P2P messages.
            allow_p2p: true,
        };
        let Ok((id, mut rx)) = self.node.subscribe(filter).await else {
            return;
        };
        let tx = self.incoming_tx.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        tracing::debug!(target: "chat", name = %spec.name, topic = %hex::encode(spec.topic.0), "filter installed");
        self.filters.insert(spec.name, (id, forwarder));
    }

    async fn remove(&mut self, spec: &FilterSpec) {
        if let Some((id, forwarder)) = self.filters.remove(&spec.name) {
            forwarder.abort();
            let _ = self.node.remove_filter(id).await;
            tracing::debug!(target: "chat", name = %spec.name, "filter removed");
        }
    }

    /// Seals (on a blocking thread) and posts an envelope; its id comes back on `posted`.
    fn post(&mut self, out: OutgoingEnvelope) {
        let identity = self.identity.clone();
        let node = self.node.clone();
        let posted = self.posted_tx.clone();
        let metrics = self.metrics.clone();
        self.posting.spawn(async move {
            let id = out.id;
            let sealed = tokio::task::spawn_blocking(move || seal(out, &identity)).await;
            let ok = match sealed {
                Ok(Ok(envelope)) => match node.post(envelope).await {
                    Ok(Ok(_)) => true,
                    Ok(Err(e)) => {
                        tracing::warn!(target: "chat", error = ?e, "envelope refused by the router");
                        false
                    }
                    Err(_) => false,
                },
                Ok(Err(e)) => {
                    tracing::warn!(target: "chat", error = %e, "envelope not sealed");
                    false
                }
                Err(e) => {
                    tracing::warn!(target: "chat", error = %e, "sealing task failed");
                    false
                }
            };
            if !ok {
                metrics.add("wisp_chat_post_failures_total", "", 1);
            }
            let _ = posted.send((id, ok));
        });
    }

    fn note(&mut self, event: Event) {
        match event {
            Event::ChatAdded { chat_id, .. } => {
                self.changed_chats.insert(chat_id);
            }
            Event::MessageReceived(message) => {
                self.changed_chats.insert(message.chat_id.clone());
                self.changed_messages.push(message.id);
            }
            Event::MessageStatus { id, chat_id, status } => {
                tracing::debug!(target: "chat", %id, chat = %chat_id, ?status, "delivery status");
                self.changed_chats.insert(chat_id);
                self.changed_messages.push(id);
            }
            Event::GroupUpdated { chat_id, events } => {
                // The system messages the events left (an event without one finds nothing).
                self.changed_messages.extend(events.iter().map(|e| e.system_message_id()));
                self.changed_chats.insert(chat_id);
            }
            Event::EntityChanged(entity) => {
                // The message reacted to or pinned, so that clients fetch its reactions and
                // pins again.
                let target = entity.target.strip_prefix("0x").and_then(|h| {
                    let mut id = [0u8; 32];
                    hex::decode_to_slice(h, &mut id).ok().map(|()| MessageId(id))
                });
                self.changed_messages.extend(target);
                self.changed_chats.insert(entity.chat_id);
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// Copies the counters into the metrics and sends the `messages.new` event.
    async fn report(&mut self) {
        let now = self.core.messenger.counters();
        let before = std::mem::replace(&mut self.reported, now);
        let delta = |a: u64, b: u64| i64::try_from(a.saturating_sub(b)).unwrap_or(i64::MAX);
        let m = &self.metrics;
        if now.messages != before.messages {
            m.add("wisp_chat_messages_received_total", "", delta(now.messages, before.messages));
        }
        for (reason, a, b) in [
            ("undecodable", now.undecodable, before.undecodable),
            ("unsigned", now.unsigned, before.unsigned),
            ("bad_signature", now.bad_signature, before.bad_signature),
            ("undecryptable", now.undecryptable, before.undecryptable),
            ("clock_too_far_ahead", now.clock_too_far_ahead, before.clock_too_far_ahead),
            ("unknown_type", now.unknown_type, before.unknown_type),
            ("invalid", now.invalid, before.invalid),
            ("duplicate", now.duplicates, before.duplicates),
            ("storage", now.storage_failures, before.storage_failures),
            ("blocked", now.blocked, before.blocked),
        ] {
            if a != b {
                m.add(
                    "wisp_chat_messages_dropped_total",
                    &format!("reason=\"{reason}\""),
                    delta(a, b),
                );
            }
        }
        if now.devices != before.devices {
            m.add("wisp_chat_device_messages_total", "", delta(now.devices, before.devices));
        }
        if now.acks != before.acks {
            m.add("wisp_chat_acks_total", "", delta(now.acks, before.acks));
        }
        if self.core.sent > 0 {
            m.add("wisp_chat_messages_sent_total", "", delta(self.core.sent, 0));
            self.core.sent = 0;
        }
        if self.changed_messages.is_empty() && self.changed_chats.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.changed_messages);
        let chat_ids = std::mem::take(&mut self.changed_chats);
        let mut messages: Vec<StoredMessage> = Vec::new();
        let mut seen = BTreeSet::new();
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            match self.core.messenger.message(&id) {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => {}
                Err(e) => self.error("message", &e),
            }
        }
        let mut chats = Vec::new();
        for id in chat_ids {
            match self.core.messenger.chat(&id) {
                Ok(Some(chat)) => chats.push(chat),
                Ok(None) => {}
                Err(e) => self.error("chat", &e),
            }
        }
        let _ = self.events.send(ChatEvent::Messages { messages, chats });
    }
}

/// Encrypts the payload (signed with the chat key) and seals the envelope with the PoW the
/// messenger asked for.
fn seal(out: OutgoingEnvelope, identity: &SecretKey) -> Result<Envelope, String> {
    let params = MessageParams::new(out.payload).signed_by(identity.clone());
    let data = seal_payload(&params, &out.encryption).map_err(|e| e.to_string())?;
    let now = u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX);
    let mut envelope = Envelope {
        expiry: now.saturating_add(out.ttl),
        ttl: out.ttl,
        topic: out.topic,
        data: data.into(),
        nonce: 0,
    };
    let deadline = Instant::now() + POW_TIME;
    let mut keep_going = || Instant::now() < deadline;
    let outcome = envelope
        .seal(out.pow_target, SealBudget { max_attempts: u64::MAX, keep_going: &mut keep_going });
    if !outcome.reached {
        return Err(format!(
            "PoW {} not reached in {POW_TIME:?} (best {})",
            out.pow_target, outcome.pow
        ));
    }
    Ok(envelope)
}
