//! The messenger inside the node: a thin async driver around the sans-io
//! [`wisp_messenger::Messenger`] of the node's chat account (`NodeConfig::chat`).
//!
//! One task owns the messenger (and through it `<data-dir>/messenger.sqlite`). It
//! - installs and removes the Waku filters the messenger asks for (with `allowP2P`, so that
//!   history from a trusted mailserver reaches it too), and feeds every envelope they open to
//!   [`wisp_messenger::Messenger::handle_envelope`];
//! - seals the envelopes the messenger wants posted (signed with the chat key, PoW per
//!   [`wisp_messenger::OutgoingEnvelope`]) on a blocking thread, posts them, and reports them
//!   sent ([`wisp_messenger::Messenger::envelope_sent`]);
//! - calls [`wisp_messenger::Messenger::tick`] at its `next_wakeup`;
//! - runs the commands of [`ChatHandle`] (the JSON-RPC `wakuext_*` chat methods use it) one
//!   at a time, and answers each once its outputs are handled (the filters of a joined chat
//!   are installed when `join` returns);
//! - broadcasts [`ChatEvent`]s (status-go's `messages.new` signal and history progress).
//!
//! A messenger error is logged and counted (`wisp_chat_errors_total`), never stops the node.
//! Offline history (`history.rs`): on start and when a chat is joined, each trusted mailserver
//! (`NodeConfig::trusted_nodes`) is asked for the chats' topics from the end of the range
//! already fetched (the last [`ChatConfig::history_default_secs`] on the first start).
//!
//! The installation id of this device is `<data-dir>/installation-id`, a random UUID v4
//! written on first start ([`load_or_create_installation_id`]) unless
//! [`ChatConfig::installation_id`] names one.

mod devices;
mod driver;
mod entities;
mod group;
mod history;

use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use tokio::sync::{broadcast, mpsc, oneshot};
use wisp_crypto::PublicKey;
use wisp_messenger::{DeliveryStatus, MessageId, StoredChat, StoredMessage};

pub use group::{GroupChange, GroupChat};
pub(crate) use history::default_mailserver_key;
pub use history::{HistoryProgress, SYNC_BACK_SECS, SyncedRange};
pub use wisp_messenger::PinnedPage;

pub(crate) use driver::{one_to_one_key, start};

use crate::ChatConfig;

/// The file holding this device's installation id.
pub const INSTALLATION_ID_FILE: &str = "installation-id";
/// Most messages [`ChatHandle::chat_messages`] returns at once.
pub const MAX_PAGE: usize = 1000;

/// Why a chat command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The node (and its messenger) is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// No chat has this id.
    #[error(
        "unknown chat {0:?}: join it first (wakuext_createPublicChat, wakuext_createOneToOneChat)"
    )]
    UnknownChat(String),
    /// No message has this id.
    #[error("unknown message {0}")]
    UnknownMessage(String),
    /// The chat is not active (deactivated): join it again to post in it.
    #[error(
        "chat {0:?} is not active: join it again (wakuext_createPublicChat, wakuext_createOneToOneChat)"
    )]
    InactiveChat(String),
    /// No trusted mailserver can be asked for a chat's history.
    #[error("no trusted mailserver to fetch the history of chat {chat:?}: {why}")]
    NoMailserver {
        /// The chat.
        chat: String,
        /// Why: none configured, or none connected.
        why: String,
    },
    /// Every mailserver asked for a chat's history failed.
    #[error("fetching the history of chat {chat:?} failed: {why}")]
    HistoryFailed {
        /// The chat.
        chat: String,
        /// The last failure.
        why: String,
    },
    /// The messenger refused the command or its store failed.
    #[error(transparent)]
    Messenger(#[from] wisp_messenger::Error),
}

/// What the messenger reports to subscribers.
#[derive(Clone, Debug)]
pub enum ChatEvent {
    /// status-go's `messages.new` signal: messages received or changed (delivery status) and
    /// the chats they are in or that were added.
    Messages {
        /// New or changed messages.
        messages: Vec<StoredMessage>,
        /// New or changed chats.
        chats: Vec<StoredChat>,
    },
    /// Progress of the history requests to the trusted mailservers.
    History(HistoryProgress),
}

/// A command for the driver: runs on the messenger at `now_ms`, then returns what delivers
/// its answer, which the driver calls once the command's outputs are handled.
type Job = Box<dyn FnOnce(&mut driver::Core, u64) -> Box<dyn FnOnce() + Send> + Send>;

/// A cheap, cloneable handle to the node's messenger.
#[derive(Clone, Debug)]
pub struct ChatHandle {
    jobs: mpsc::Sender<Job>,
    events: broadcast::Sender<ChatEvent>,
    public: PublicKey,
    max_text_bytes: usize,
    progress: Arc<Mutex<HistoryProgress>>,
    history: mpsc::Sender<history::Trigger>,
}

impl ChatHandle {
    /// Runs `f` on the messenger and returns its result once the outputs it caused are
    /// handled.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut driver::Core, u64) -> T + Send + 'static,
    ) -> Result<T, ChatError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |core, now| {
            let value = f(core, now);
            Box::new(move || {
                let _ = tx.send(value);
            })
        });
        self.jobs.send(job).await.map_err(|_| ChatError::Stopped)?;
        rx.await.map_err(|_| ChatError::Stopped)
    }

    /// The account's chat key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The longest text [`ChatHandle::send_text`] accepts, in bytes.
    pub fn max_text_bytes(&self) -> usize {
        self.max_text_bytes
    }

    /// Events: `messages.new` and history progress.
    pub fn events(&self) -> broadcast::Receiver<ChatEvent> {
        self.events.subscribe()
    }

    /// Every chat, active or not.
    pub async fn chats(&self) -> Result<Vec<StoredChat>, ChatError> {
        self.run(|core, _| core.messenger.chat_list()).await?.map_err(Into::into)
    }

    /// One chat.
    pub async fn chat(&self, id: &str) -> Result<StoredChat, ChatError> {
        let id = id.to_owned();
        self.run(move |core, _| match core.messenger.chat(&id) {
            Ok(Some(chat)) => Ok(chat),
            Ok(None) => Err(ChatError::UnknownChat(id)),
            Err(e) => Err(e.into()),
        })
        .await?
    }

    /// Joins public chat `name` (again, if it was deactivated) and asks the mailservers for
    /// its history. Returns the chat.
    pub async fn join_public_chat(&self, name: &str) -> Result<StoredChat, ChatError> {
        let name = name.to_owned();
        let chat = self
            .run(move |core, _| {
                core.messenger.join_public_chat(&name)?;
                core.messenger.chat(&name)?.ok_or(ChatError::UnknownChat(name))
            })
            .await??;
        self.fetch_history(Some(vec![chat.id.clone()]), None).await;
        Ok(chat)
    }

    /// Opens (or reactivates) the 1:1 chat with `key` without sending anything, and asks the
    /// mailservers for its history. Returns the chat.
    pub async fn open_one_to_one_chat(&self, key: PublicKey) -> Result<StoredChat, ChatError> {
        let chat = self
            .run(move |core, _| {
                let id = core.messenger.open_one_to_one_chat(&key)?;
                core.messenger.chat(&id)?.ok_or(ChatError::UnknownChat(id))
            })
            .await??;
        self.fetch_history(Some(vec![chat.id.clone()]), None).await;
        Ok(chat)
    }

    /// Deactivates a chat (status-go's soft delete: its filters go, its messages stay).
    pub async fn deactivate_chat(&self, id: &str) -> Result<StoredChat, ChatError> {
        let id = id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            core.messenger.deactivate_chat(&id)?;
            core.messenger.chat(&id)?.ok_or(ChatError::UnknownChat(id))
        })
        .await?
    }

    /// Deletes a chat and its messages.
    pub async fn delete_chat(&self, id: &str) -> Result<(), ChatError> {
        let id = id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            core.messenger.delete_chat(&id)?;
            Ok(())
        })
        .await?
    }

    /// A page of a chat's messages, newest first, from `cursor` (status-go's form, from the
    /// previous page), at most `limit`; with the cursor of the next page.
    pub async fn chat_messages(
        &self,
        chat_id: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, Option<String>), ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            Ok(core.messenger.chat_messages(&id, cursor.as_deref(), limit.min(MAX_PAGE))?)
        })
        .await?
    }

    /// One message.
    pub async fn message(&self, id: MessageId) -> Result<Option<StoredMessage>, ChatError> {
        self.run(move |core, _| core.messenger.message(&id)).await?.map_err(Into::into)
    }

    /// Sends `text` to chat `chat_id` (an active public chat or 1:1 chat), as a reply to
    /// `response_to` (a message of that chat) when given. Returns the stored message (status
    /// `sending`).
    pub async fn send_text(
        &self,
        chat_id: &str,
        text: &str,
        response_to: Option<MessageId>,
    ) -> Result<StoredMessage, ChatError> {
        let (id, text) = (chat_id.to_owned(), text.to_owned());
        self.run(move |core, now| core.send_text(&id, &text, response_to, now)).await?
    }

    /// Sends a prepared `ChatMessage` (text, image, audio or sticker: see
    /// [`wisp_messenger::image_message`] and its siblings) to chat `chat_id` (an active chat
    /// of any kind); its clock, chat and message type are set by the messenger. Returns the
    /// stored message (status `sending`).
    pub async fn send_message(
        &self,
        chat_id: &str,
        message: wisp_messenger::proto::ChatMessage,
    ) -> Result<StoredMessage, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, now| core.send_message(&id, message, now)).await?
    }

    /// Sends a message again (same id); an expired one goes back to `sending`.
    pub async fn resend(&self, id: MessageId) -> Result<(), ChatError> {
        self.run(move |core, now| {
            if core.messenger.message(&id)?.is_none() {
                return Err(ChatError::UnknownMessage(id.to_string()));
            }
            core.messenger.resend(&id, now)?;
            Ok(())
        })
        .await?
    }

    /// Marks every message of a chat read; returns how many were unread.
    pub async fn mark_all_read(&self, chat_id: &str) -> Result<u64, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            Ok(core.messenger.mark_all_read(&id)?)
        })
        .await?
    }

    /// Marks messages of a chat seen; returns how many were unseen.
    pub async fn mark_messages_seen(
        &self,
        chat_id: &str,
        ids: Vec<MessageId>,
    ) -> Result<u64, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            Ok(core.messenger.mark_messages_seen(&id, &ids)?)
        })
        .await?
    }

    /// Deletes a message (locally); `false` if there was none.
    pub async fn delete_message(&self, id: MessageId) -> Result<bool, ChatError> {
        self.run(move |core, _| core.messenger.delete_message(&id)).await?.map_err(Into::into)
    }

    /// Asks the trusted mailservers for the history of every active chat and waits until
    /// every request is done. Returns the progress at the end.
    pub async fn request_all_history(&self) -> Result<HistoryProgress, ChatError> {
        let (tx, rx) = oneshot::channel();
        self.fetch_history(None, Some(tx)).await;
        rx.await.map_err(|_| ChatError::Stopped)
    }

    /// Asks the trusted mailservers for the day ([`SYNC_BACK_SECS`]) of chat `chat_id`'s
    /// history before its fetched range starts (before now if nothing was fetched), and
    /// widens that range. The envelopes reach the messenger through its filters; this waits
    /// (up to 5 s) until it has handled as many envelopes as came, so they are stored.
    /// Returns the chat's fetched range and how many envelopes came.
    pub async fn sync_chat_from_synced_from(
        &self,
        chat_id: &str,
    ) -> Result<SyncedRange, ChatError> {
        let (tx, rx) = oneshot::channel();
        let back = history::SyncBack { chat: chat_id.to_owned(), reply: tx };
        let trigger = history::Trigger { chats: None, done: None, back: Some(back) };
        self.history.send(trigger).await.map_err(|_| ChatError::Stopped)?;
        rx.await.map_err(|_| ChatError::Stopped)?
    }

    /// The progress of the history requests so far.
    pub fn history_progress(&self) -> HistoryProgress {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn fetch_history(
        &self,
        chats: Option<Vec<String>>,
        done: Option<oneshot::Sender<HistoryProgress>>,
    ) {
        let _ = self.history.send(history::Trigger { chats, done, back: None }).await;
    }
}

/// The installation id in `<data_dir>/installation-id`, or a new random UUID v4 written
/// there (in a 0700 directory) on first use.
pub fn load_or_create_installation_id(data_dir: &Path) -> io::Result<String> {
    let path: PathBuf = data_dir.join(INSTALLATION_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: expected one line with an installation id (a UUID), found {:?}",
                        path.display(),
                        text.chars().take(40).collect::<String>()
                    ),
                ));
            }
            Ok(id.to_owned())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut b: [u8; 16] = wisp_crypto::random_bytes();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            let h = hex::encode(b);
            let id =
                format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
            std::fs::create_dir_all(data_dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
            }
            std::fs::write(&path, format!("{id}\n"))?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

/// The delivery status as status-go's `outgoingStatus` names it (`expired`: MVDS gave up;
/// status-go v0.79 has no such state, its app shows "not sent").
pub fn outgoing_status_name(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Sending => "sending",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Expired => "expired",
    }
}

/// The settings a driver starts with, resolved from [`ChatConfig`] and the data directory.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: ChatConfig,
    pub(crate) installation_id: String,
    pub(crate) db: PathBuf,
}

impl Settings {
    pub(crate) fn resolve(config: &ChatConfig, data_dir: &Path) -> io::Result<Self> {
        let installation_id = match &config.installation_id {
            Some(id) => id.clone(),
            None => load_or_create_installation_id(data_dir)?,
        };
        Ok(Self {
            config: config.clone(),
            installation_id,
            db: data_dir.join(wisp_messenger::DATABASE_FILE),
        })
    }
}

/// A `0x`-hex message id.
pub(crate) fn parse_message_id(s: &str) -> Option<MessageId> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(s.strip_prefix("0x")?, &mut bytes).ok()?;
    Some(MessageId(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installation_id_is_created_once() {
        let dir = std::env::temp_dir().join(format!("wisp-inst-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = load_or_create_installation_id(&dir).unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert_eq!(load_or_create_installation_id(&dir).unwrap(), a);
        std::fs::write(dir.join(INSTALLATION_ID_FILE), "\n").unwrap();
        let e = load_or_create_installation_id(&dir).unwrap_err();
        assert!(e.to_string().contains("installation-id"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
