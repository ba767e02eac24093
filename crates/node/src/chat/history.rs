//! Offline history (10/WAKU-USAGE, 11/WAKU-MAILSERVER): the chats' topics are asked from the
//! trusted mailservers (`NodeConfig::trusted_nodes`), each topic from the end of the range
//! already fetched (the last `ChatConfig::history_default_secs` the first time) to now. The
//! envelopes reach the messenger through its filters (they allow P2P). What was fetched, and
//! the gaps a failed request left, are recorded in the messenger's store.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use wisp_crypto::{Zeroizing, symmetric_key_from_password};
use wisp_mailserver::{client::HistoryQuery, request::DEFAULT_MAILSERVER_PASSWORD};
use wisp_rlpx::NodeRecord;
use wisp_waku::Topic;

use super::{ChatError, ChatEvent, ChatHandle};
use crate::{ChatConfig, HistoryError, NodeHandle, service::now_ms};

/// How often the connected peers are checked while waiting for a mailserver.
const PEER_POLL: Duration = Duration::from_millis(100);
/// How long a step back waits for the envelopes that came to reach the messenger.
const HANDLED_WAIT: Duration = Duration::from_secs(5);

/// The key of the default mailserver password (`status-offline-inbox`), derived once
/// (PBKDF2 is slow).
pub(crate) fn default_mailserver_key() -> Zeroizing<[u8; 32]> {
    static KEY: OnceLock<Zeroizing<[u8; 32]>> = OnceLock::new();
    KEY.get_or_init(|| symmetric_key_from_password(DEFAULT_MAILSERVER_PASSWORD)).clone()
}

/// Where the history requests are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryProgress {
    /// A round of requests is running.
    pub running: bool,
    /// Topics whose requests are done (fetched or failed) in this round.
    pub topics_done: usize,
    /// Topics in this round.
    pub topics_total: usize,
    /// Envelopes received from the mailservers in this round.
    pub envelopes: u64,
    /// Trusted mailservers that were connected and asked.
    pub mailservers: usize,
    /// Requests that failed (their ranges are recorded as gaps).
    pub failed: usize,
    /// Why the round did not ask anyone, or the last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rounds completed since the node started.
    pub rounds: u64,
}

/// How far back one [`super::ChatHandle::sync_chat_from_synced_from`] call reaches: a day.
pub const SYNC_BACK_SECS: u32 = 24 * 60 * 60;

/// What one step back into a chat's history fetched
/// ([`super::ChatHandle::sync_chat_from_synced_from`], `wakuext_syncChatFromSyncedFrom`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncedRange {
    /// Where the chat's fetched history starts now (Unix seconds).
    pub synced_from: u32,
    /// Where the chat's fetched history ends (Unix seconds).
    pub synced_to: u32,
    /// Envelopes the mailservers sent for this step.
    pub envelopes: u64,
}

/// A request for a round of history.
pub(crate) struct Trigger {
    /// The chats to fetch; `None`: every active chat.
    pub(crate) chats: Option<Vec<String>>,
    /// Answered with the progress when the round is over.
    pub(crate) done: Option<oneshot::Sender<HistoryProgress>>,
    /// Instead of a round: one step back into this chat's history.
    pub(crate) back: Option<SyncBack>,
}

/// One step back (a day) into a chat's history, answered when it is done.
pub(crate) struct SyncBack {
    pub(crate) chat: String,
    pub(crate) reply: oneshot::Sender<Result<SyncedRange, ChatError>>,
}

pub(crate) struct Runner {
    pub(crate) chat: ChatHandle,
    pub(crate) node: NodeHandle,
    pub(crate) trusted: Vec<NodeRecord>,
    pub(crate) config: ChatConfig,
    pub(crate) progress: Arc<Mutex<HistoryProgress>>,
    pub(crate) events: broadcast::Sender<ChatEvent>,
    pub(crate) triggers: mpsc::Receiver<Trigger>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Runs rounds of history requests as they are asked for (on start: every chat).
pub(crate) async fn run(mut r: Runner) {
    let mut pending = vec![Trigger { chats: None, done: None, back: None }];
    loop {
        if pending.is_empty() {
            tokio::select! {
                t = r.triggers.recv() => match t {
                    Some(t) => pending.push(t),
                    None => return,
                },
                _ = r.shutdown.changed() => return,
            }
        }
        // Every trigger queued meanwhile joins this round.
        while let Ok(t) = r.triggers.try_recv() {
            pending.push(t);
        }
        let mut chats: Option<BTreeSet<String>> = Some(BTreeSet::new());
        let mut done = Vec::new();
        let mut backs = Vec::new();
        let mut round = false;
        for t in pending.drain(..) {
            if let Some(back) = t.back {
                backs.push(back);
                continue;
            }
            round = true;
            match (&mut chats, t.chats) {
                (Some(all), Some(some)) => all.extend(some),
                (_, None) => chats = None,
                (None, Some(_)) => {}
            }
            done.extend(t.done);
        }
        let mut shutdown = r.shutdown.clone();
        if round {
            tokio::select! {
                _ = r.round(chats) => {}
                _ = shutdown.changed() => return,
            }
            let progress = r.snapshot();
            for d in done {
                let _ = d.send(progress.clone());
            }
        }
        for back in backs {
            let answer = tokio::select! {
                a = r.sync_back(&back.chat) => a,
                _ = shutdown.changed() => return,
            };
            let _ = back.reply.send(answer);
        }
    }
}

impl Runner {
    fn snapshot(&self) -> HistoryProgress {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut HistoryProgress)) {
        let snapshot = {
            let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut p);
            p.clone()
        };
        let _ = self.events.send(ChatEvent::History(snapshot));
    }

    /// One round: the topics of `chats` (`None`: every active chat).
    async fn round(&self, chats: Option<BTreeSet<String>>) {
        let topics = match self.topics(chats).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(target: "chat::history", error = %e, "cannot list the chats' topics");
                return;
            }
        };
        self.update(|p| {
            *p = HistoryProgress {
                running: true,
                topics_total: topics.len(),
                rounds: p.rounds,
                ..HistoryProgress::default()
            }
        });
        let finish = |error: Option<String>| {
            self.update(|p| {
                p.running = false;
                p.rounds += 1;
                if error.is_some() {
                    p.error = error;
                }
            })
        };
        if topics.is_empty() {
            return finish(None);
        }
        if self.trusted.is_empty() {
            return finish(Some("no trusted mailserver configured (--trusted)".into()));
        }
        let mailservers = self.connected_mailservers().await;
        if mailservers.is_empty() {
            tracing::info!(target: "chat::history", wait = ?self.config.mailserver_wait, "no trusted mailserver connected: history not fetched");
            return finish(Some(format!(
                "no trusted mailserver connected within {:?}",
                self.config.mailserver_wait
            )));
        }
        self.update(|p| p.mailservers = mailservers.len());
        let key = match tokio::task::spawn_blocking(default_mailserver_key).await {
            Ok(k) => k,
            Err(e) => return finish(Some(format!("internal error: {e}"))),
        };
        let now = u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX);
        // Topics grouped by where their request starts.
        let mut groups: BTreeMap<u32, Vec<Topic>> = BTreeMap::new();
        for topic in topics {
            let range = self
                .chat
                .run(move |core, _| core.messenger.history_range(&topic))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            let from = match range {
                Some(range) => range.to.min(now),
                None => now.saturating_sub(self.config.history_default_secs),
            };
            groups.entry(from).or_default().push(topic);
        }
        for (from, topics) in groups {
            let mut fetched = false;
            let mut gaps = Vec::new();
            for peer in &mailservers {
                let base = self.snapshot().envelopes;
                let query = HistoryQuery::topics(topics.clone(), from, now);
                let outcome = self
                    .node
                    .request_history(
                        peer.id,
                        query,
                        key.clone(),
                        self.config.history_page_timeout,
                        |received, _| self.update(|p| p.envelopes = base + received),
                    )
                    .await;
                match outcome {
                    Ok(o) => {
                        fetched = true;
                        self.update(|p| p.envelopes = base + o.received);
                        tracing::info!(target: "chat::history", mailserver = %peer, topics = topics.len(), from, to = now, envelopes = o.received, pages = o.pages, "history fetched");
                    }
                    Err(HistoryError::Failed { reason, received, gap }) => {
                        gaps.push(gap);
                        let error = format!("history request failed: {reason:?}");
                        tracing::warn!(target: "chat::history", mailserver = %peer, %error, ?gap, "history request failed");
                        self.update(|p| {
                            p.envelopes = base + received;
                            p.failed += 1;
                            p.error = Some(error);
                        });
                    }
                    Err(e) => {
                        tracing::warn!(target: "chat::history", mailserver = %peer, error = %e, "history request failed");
                        self.update(|p| {
                            p.failed += 1;
                            p.error = Some(e.to_string());
                        });
                    }
                }
            }
            // A range no mailserver delivered is a gap: the part a failed request names, or
            // the whole range. The fetched range moves on either way (the gaps keep the holes).
            if fetched {
                gaps.clear();
            } else if gaps.is_empty() {
                gaps.push((from, now));
            }
            let record = topics.clone();
            let recorded = self
                .chat
                .run(move |core, _| {
                    for topic in &record {
                        core.messenger.set_history_fetched(topic, from, now)?;
                        for (a, b) in &gaps {
                            core.messenger.record_history_gap(topic, *a, *b)?;
                        }
                    }
                    Ok::<_, wisp_messenger::Error>(())
                })
                .await;
            if let Ok(Err(e)) = recorded {
                tracing::warn!(target: "chat::history", error = %e, "cannot record the history range");
            }
            self.update(|p| p.topics_done += topics.len());
        }
        finish(None);
    }

    /// Asks the trusted mailservers for the day of `chat`'s history before its fetched range
    /// starts (before now if nothing was fetched), and widens the range when one answered.
    async fn sync_back(&self, chat: &str) -> Result<SyncedRange, ChatError> {
        let id = chat.to_owned();
        let (topics, start) = self
            .chat
            .run(move |core, _| {
                core.known_chat(&id)?;
                let topics = core.messenger.chat_topics(&id)?;
                let mut start: Option<u32> = None;
                for topic in &topics {
                    if let Some(range) = core.messenger.history_range(topic)? {
                        start = Some(start.map_or(range.from, |s| s.min(range.from)));
                    }
                }
                Ok::<_, ChatError>((topics, start))
            })
            .await??;
        let no_mailserver =
            |why: &str| ChatError::NoMailserver { chat: chat.to_owned(), why: why.to_owned() };
        if self.trusted.is_empty() {
            return Err(no_mailserver("none is configured (--trusted)"));
        }
        let mailservers = self.connected_mailservers().await;
        if mailservers.is_empty() {
            return Err(no_mailserver(&format!(
                "none of the trusted ones connected within {:?}",
                self.config.mailserver_wait
            )));
        }
        let now = u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX);
        let to = start.unwrap_or(now).min(now);
        let from = to.saturating_sub(SYNC_BACK_SECS);
        let key = tokio::task::spawn_blocking(default_mailserver_key)
            .await
            .map_err(|e| ChatError::HistoryFailed { chat: chat.to_owned(), why: e.to_string() })?;
        let handled_before = self.chat.run(|core, _| core.handled).await?;
        let mut envelopes = 0;
        let mut failure = None;
        let mut fetched = false;
        for peer in &mailservers {
            let query = HistoryQuery::topics(topics.clone(), from, to);
            let outcome = self
                .node
                .request_history(
                    peer.id,
                    query,
                    key.clone(),
                    self.config.history_page_timeout,
                    |_, _| {},
                )
                .await;
            match outcome {
                Ok(o) => {
                    fetched = true;
                    envelopes += o.received;
                    tracing::info!(target: "chat::history", mailserver = %peer, chat, from, to, envelopes = o.received, "older history fetched");
                }
                Err(e) => {
                    tracing::warn!(target: "chat::history", mailserver = %peer, chat, error = %e, "older history request failed");
                    failure = Some(e.to_string());
                }
            }
        }
        if !fetched {
            return Err(ChatError::HistoryFailed {
                chat: chat.to_owned(),
                why: failure.unwrap_or_else(|| "no mailserver answered".into()),
            });
        }
        // The envelopes go through the filters to the messenger: wait (a little) until it has
        // seen as many, so that they are stored when this answers.
        let deadline = tokio::time::Instant::now() + HANDLED_WAIT;
        while envelopes > 0 && tokio::time::Instant::now() < deadline {
            let handled = self.chat.run(|core, _| core.handled).await?;
            if handled >= handled_before.saturating_add(envelopes) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let range = self
            .chat
            .run(move |core, _| {
                let mut range = (from, to);
                for topic in &topics {
                    core.messenger.set_history_fetched(topic, from, to)?;
                    if let Some(r) = core.messenger.history_range(topic)? {
                        range = (range.0.min(r.from), range.1.max(r.to));
                    }
                }
                Ok::<_, ChatError>(range)
            })
            .await??;
        Ok(SyncedRange { synced_from: range.0, synced_to: range.1, envelopes })
    }

    /// The topics of the chats (deduplicated).
    async fn topics(
        &self,
        chats: Option<BTreeSet<String>>,
    ) -> Result<Vec<Topic>, super::ChatError> {
        self.chat
            .run(move |core, _| {
                let mut topics = BTreeSet::new();
                for chat in core.messenger.chat_list()? {
                    let wanted = chats.as_ref().is_none_or(|c| c.contains(&chat.id));
                    if chat.active && wanted {
                        topics
                            .extend(core.messenger.chat_topics(&chat.id)?.into_iter().map(|t| t.0));
                    }
                }
                Ok::<_, super::ChatError>(topics.into_iter().map(Topic).collect())
            })
            .await?
    }

    /// The trusted mailservers connected now, or within `mailserver_wait` for the first one.
    async fn connected_mailservers(&self) -> Vec<NodeRecord> {
        let deadline = tokio::time::Instant::now() + self.config.mailserver_wait;
        loop {
            if let Ok(peers) = self.node.peers().await {
                let up: Vec<NodeRecord> = self
                    .trusted
                    .iter()
                    .filter(|t| peers.iter().any(|p| p.id == t.id))
                    .copied()
                    .collect();
                if !up.is_empty() || tokio::time::Instant::now() >= deadline {
                    return up;
                }
            } else {
                return Vec::new();
            }
            tokio::time::sleep(PEER_POLL).await;
        }
    }
}
