//! The message database: chats, messages, delivery states and the history-fetched range per
//! topic, behind the [`MessageStore`] trait, with an in-memory ([`MemoryMessageStore`]) and a
//! SQLite ([`SqliteMessageStore`]) implementation.
//!
//! The messenger writes through it before it acts: an incoming chat message is stored before
//! it is reported, an outgoing one (status `Sending`, its signed `ApplicationMetadataMessage`
//! bytes and, for 1:1, its MVDS id) before its envelope is produced, and every delivery state
//! change before its event. Messages are ordered by (clock, id) and deduplicated by id.
//!
//! The SQLite store lives in `messenger.sqlite` beside the ratchet (`ratchet_*`) and MVDS
//! (`mvds_*`) tables; its own tables are prefixed `messenger_` and its schema version is in
//! `messenger_schema_version`. The file is encrypted with SQLCipher: see [`crate::db`].

mod devices;
mod memory;
mod sqlite;

pub use devices::{
    DeviceStore, InstallationMetadata, OwnProfile, StoredContact, TAG_ADDED, TAG_BLOCKED,
    TAG_REQUEST_RECEIVED,
};

pub use memory::MemoryMessageStore;
pub use sqlite::{SCHEMA_VERSION, SqliteMessageStore};

use wisp_crypto::PublicKey;
use wisp_waku::Topic;

use crate::identity::MessageId;
use crate::messenger::{ChatKind, DeliveryStatus};
use crate::proto::ChatMessage;

/// A failure of a [`MessageStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("message store: {what}: {source}")]
    Sqlite {
        /// The operation.
        what: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database file cannot be opened or created (missing directory, permissions, not a
    /// file, disk full).
    #[error("{path} cannot be opened: {source}")]
    Open {
        /// The file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database could not be switched to WAL journaling (a file system without shared
    /// memory support, or a read-only file).
    #[error(
        "{path} is in journal mode {mode} (expected wal: the messenger's durability against \
         crashes needs it; is the data directory on a local, writable file system?)"
    )]
    NotWal {
        /// The file.
        path: String,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The database file does not open with the key derived from this account.
    #[error(
        "{path} cannot be opened with this account's key: wrong account or corrupted file \
         (expected a SQLCipher database written by this account)"
    )]
    WrongKey {
        /// The file.
        path: String,
    },
    /// The database was written by a newer wisp.
    #[error(
        "message store schema version {found} is newer than the {supported} this build knows: \
         upgrade wisp to open this data directory"
    )]
    FutureSchema {
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A stored row does not decode (a corrupt or foreign file).
    #[error("message store: corrupt {what} in a stored row (expected {expected})")]
    Corrupt {
        /// The column.
        what: &'static str,
        /// Its expected form.
        expected: &'static str,
    },
}

impl StoreError {
    pub(crate) fn sqlite(what: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Sqlite { what, source }
    }
}

/// A chat as stored, with what is derived from its messages.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredChat {
    /// Its id: the public chat's name, or `0x` + the other party's 65-byte key in hex for 1:1
    /// (status-go's chat ids).
    pub id: String,
    /// Public or 1:1.
    pub kind: ChatKind,
    /// Its display name: the public chat's name; for 1:1 the chat id.
    pub name: String,
    /// Whether the chat is shown and listened to (`false` after
    /// [`crate::Messenger::deactivate_chat`]).
    pub active: bool,
    /// Incoming messages not seen yet (derived; ignored when writing).
    pub unread_count: u64,
    /// The chat's Lamport clock: the highest clock sent or received in it.
    pub last_clock_value: u64,
    /// Unix milliseconds of the last activity (a message sent or received, the chat joined).
    pub timestamp_ms: u64,
    /// Unix milliseconds when the chat was created or joined.
    pub joined_ms: u64,
    /// The newest message not deleted (derived; ignored when writing).
    pub last_message: Option<StoredMessage>,
}

/// A chat message as stored, incoming or outgoing.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    /// Its id (DECISIONS 18).
    pub id: MessageId,
    /// The chat it belongs to (see [`StoredChat::id`]).
    pub chat_id: String,
    /// Its author.
    pub from: PublicKey,
    /// `Some(status)` for our own messages, `None` for received ones.
    pub outgoing: Option<DeliveryStatus>,
    /// Whether the user has seen it (our own messages are seen).
    pub seen: bool,
    /// Unix milliseconds of the envelope it came in (received), or of its sending (ours).
    pub whisper_timestamp_ms: u64,
    /// The message as its author sent it: clock, timestamp, text, `response_to`, `ens_name`,
    /// content and message types, sticker/image/audio.
    pub message: ChatMessage,
    /// The signed `ApplicationMetadataMessage` bytes (what is re-sent on resend).
    pub raw: Vec<u8>,
    /// Deleted by the user: kept for deduplication, not listed.
    pub deleted: bool,
}

impl StoredMessage {
    /// The message's Lamport clock.
    pub fn clock(&self) -> u64 {
        self.message.clock
    }

    /// Its paging cursor, status-go's: the clock as 64 decimal digits, then the `0x` id.
    pub fn cursor(&self) -> String {
        format!("{:064}{}", self.message.clock, self.id)
    }
}

/// One of our messages whose delivery is not final (`Sending` or `Sent`), restored on start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMessage {
    /// The message.
    pub id: MessageId,
    /// Its chat.
    pub chat_id: String,
    /// Its state.
    pub status: DeliveryStatus,
    /// The MVDS id carrying it (1:1).
    pub mvds_id: Option<[u8; 32]>,
}

/// A time range, in Unix seconds, inclusive (Waku mailserver requests' unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HistoryRange {
    /// First second.
    pub from: u32,
    /// Last second.
    pub to: u32,
}

/// The message database of one account. Every method is atomic: it applies whole or not at
/// all, and an `Err` changes nothing. Contacts and installation metadata are its
/// [`DeviceStore`] part.
pub trait MessageStore: DeviceStore {
    /// Every chat, active or not, ordered by id.
    fn chats(&self) -> Result<Vec<StoredChat>, StoreError>;
    /// One chat.
    fn chat(&self, id: &str) -> Result<Option<StoredChat>, StoreError>;
    /// Inserts or replaces a chat (its derived fields are ignored).
    fn put_chat(&mut self, chat: &StoredChat) -> Result<(), StoreError>;
    /// Removes a chat and its messages; `false` if there was none.
    fn delete_chat(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Marks every message of a chat deleted; returns how many were not deleted yet.
    fn delete_chat_messages(&mut self, id: &str) -> Result<u64, StoreError>;

    /// Stores `chat` (as [`MessageStore::put_chat`]) and adds `message` to it, in one
    /// transaction, with the MVDS id carrying it (1:1, ours). Returns `false`, changing
    /// nothing, when a message with the same id is already stored.
    fn add_message(
        &mut self,
        chat: &StoredChat,
        message: &StoredMessage,
        mvds_id: Option<[u8; 32]>,
    ) -> Result<bool, StoreError>;
    /// One message (deleted ones too).
    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError>;
    /// Whether a message with this id is stored (deleted ones too).
    fn has_message(&self, id: &MessageId) -> Result<bool, StoreError>;
    /// The MVDS id carrying one of our messages.
    fn mvds_id(&self, id: &MessageId) -> Result<Option<[u8; 32]>, StoreError>;
    /// Up to `limit` messages of a chat that are not deleted, newest first (clock, then id,
    /// descending), strictly older than `before` (clock, id) when given.
    fn chat_messages(
        &self,
        chat_id: &str,
        before: Option<(u64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// Sets the delivery state of one of our messages; `false` if there is no such message.
    fn set_status(&mut self, id: &MessageId, status: DeliveryStatus) -> Result<bool, StoreError>;
    /// Sets the MVDS id carrying one of our messages; `false` if there is no such message.
    fn set_mvds_id(&mut self, id: &MessageId, mvds_id: [u8; 32]) -> Result<bool, StoreError>;
    /// Our messages in state `Sending` or `Sent`.
    fn pending(&self) -> Result<Vec<PendingMessage>, StoreError>;
    /// Marks messages of `chat_id` seen: those in `ids`, or all when `ids` is `None`. Returns
    /// how many were unseen.
    fn mark_seen(&mut self, chat_id: &str, ids: Option<&[MessageId]>) -> Result<u64, StoreError>;
    /// Marks a message deleted; `false` if there is none or it was deleted already.
    fn set_deleted(&mut self, id: &MessageId) -> Result<bool, StoreError>;

    /// The range of history fetched for `topic`.
    fn history_range(&self, topic: &Topic) -> Result<Option<HistoryRange>, StoreError>;
    /// Sets the range of history fetched for `topic`.
    fn set_history_range(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError>;
    /// Records a range of `topic` that could not be fetched.
    fn add_gap(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError>;
    /// The gaps recorded for `topic`, oldest first.
    fn gaps(&self, topic: &Topic) -> Result<Vec<HistoryRange>, StoreError>;

    /// Stores a reaction or pin, replacing the one with the same [`ChatEntity::key`] when
    /// `entity` has a higher clock; returns whether it was stored.
    fn put_chat_entity(&mut self, entity: &ChatEntity) -> Result<bool, StoreError>;
    /// The reactions or pins (`kind`) of chat `chat_id`, by clock.
    fn chat_entities(&self, chat_id: &str, kind: EntityKind)
    -> Result<Vec<ChatEntity>, StoreError>;

    /// The signed membership events of group chat `chat_id` (`signature || event`, see
    /// [`crate::group`]), by clock.
    fn group_events(&self, chat_id: &str) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Adds signed membership events `(clock, signature || event)` of group chat `chat_id`,
    /// ignoring those already stored (by signature); returns how many were new.
    fn add_group_events(
        &mut self,
        chat_id: &str,
        events: &[(u64, Vec<u8>)],
    ) -> Result<usize, StoreError>;

    /// Stores a group chat invitation request (or its rejection), replacing the one with the
    /// same id when `invitation` has a higher clock; returns whether it was stored.
    fn put_group_invitation(&mut self, invitation: &GroupInvitation) -> Result<bool, StoreError>;
    /// The group chat invitation `id`.
    fn group_invitation(&self, id: &str) -> Result<Option<GroupInvitation>, StoreError>;
    /// Every group chat invitation (sent and received, requests and rejections), by clock
    /// then id.
    fn group_invitations(&self) -> Result<Vec<GroupInvitation>, StoreError>;
}

/// A request to be added to a private group chat, as its requester and the admin it went
/// to store it (status-go's `GroupChatInvitation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInvitation {
    /// `0x` + hex of keccak256(`from` || `chat_id`), the same on both sides.
    pub id: String,
    /// The group chat.
    pub chat_id: String,
    /// The requester (`0x` + 65-byte key hex).
    pub from: String,
    /// The requester's words to the admin.
    pub introduction_message: String,
    /// `REQUEST` or `REJECTED` ([`crate::proto::group_chat_invitation::State`]).
    pub state: i32,
    /// The Lamport clock of the last request or rejection.
    pub clock: u64,
}

/// Whether `(clock, id)` sorts strictly before `before` (the paging order).
pub(crate) fn older_than(clock: u64, id: &MessageId, before: Option<&(u64, MessageId)>) -> bool {
    before.is_none_or(|(c, i)| (clock, id) < (*c, i))
}

/// What a [`ChatEntity`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// An `EmojiReaction`: `value` is the emoji type, `active` false once retracted.
    Reaction,
    /// A `PinMessage`: `active` true while pinned.
    Pin,
}

/// A reaction to, or the pin state of, a message of a chat (the latest by clock is kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatEntity {
    /// Reaction or pin.
    pub kind: EntityKind,
    /// Our chat id.
    pub chat_id: String,
    /// The message reacted to or pinned (`0x`-hex id, as sent).
    pub target: String,
    /// Who reacted or pinned.
    pub from: PublicKey,
    /// The emoji type (reactions; 0 for pins).
    pub value: i32,
    /// Not retracted (reactions) or pinned (pins).
    pub active: bool,
    /// Lamport clock.
    pub clock: u64,
    /// The id of the application message that set it.
    pub id: MessageId,
}

impl ChatEntity {
    /// The key a newer entity replaces: (chat, target, author, emoji) for reactions,
    /// (chat, target) for pins.
    pub fn key(&self) -> String {
        match self.kind {
            EntityKind::Reaction => format!(
                "r|{}|{}|{}|{}",
                self.chat_id,
                self.target,
                hex::encode(self.from.to_uncompressed()),
                self.value
            ),
            EntityKind::Pin => format!("p|{}|{}", self.chat_id, self.target),
        }
    }
}
