//! The Status messenger layer of wisp (6/PAYLOADS on top of 5/SECURE-TRANSPORT and 2/MVDS,
//! over Waku as 10/WAKU-USAGE says), byte for byte as status-go v0.79 speaks it.
//!
//! - [`proto`]: the payload protobufs (`proto/status.proto`) with status-go v0.79's field
//!   numbers: `ApplicationMetadataMessage` and its 28 types, `ChatMessage` (text, sticker,
//!   image, audio), `ContactCodeAdvertisement`, `ChatIdentity`, `EmojiReaction`, `PinMessage`,
//!   `MembershipUpdateMessage`; decoders bounded by [`proto::MAX_PAYLOAD_BYTES`].
//! - [`group`]: private group chats (7/GROUP-CHAT as status-go v0.79 runs them): chat ids,
//!   membership events signed over keccak256(chat id || event), the state replayed from
//!   them with the rules of who may do what. The [`Messenger`] stores the events per chat,
//!   sends group updates and messages pairwise to every member, and also carries emoji
//!   reactions and pins ([`ChatEntity`]) in every kind of chat.
//! - [`identity`]: signing and signer recovery of `ApplicationMetadataMessage`s, message ids
//!   (DECISIONS 18), Lamport clocks (DECISIONS 12).
//! - [`Messenger`]: the sans-io state machine of one account: public chats, 1:1 chats (DH mode
//!   first, then X3DH + Double Ratchet from `wisp-ratchet`, wrapped in MVDS batch mode from
//!   `wisp-mvds`), delivery states, bundle advertisement, bad input dropped and counted. It
//!   is generic over the ratchet, MVDS and message stores, so their SQLite stores slot in.
//! - [`store`]: the message database behind the [`MessageStore`] trait ([`MemoryMessageStore`],
//!   [`SqliteMessageStore`]): chats (kind, name, active, unread count, Lamport clock, times),
//!   messages (ordered by clock then id, deduplicated by id; the `ChatMessage` as sent, author,
//!   envelope time, seen, delivery state of ours, the signed bytes for resend, the MVDS id of
//!   a 1:1 message, deleted flag) and the history fetched per topic with its gaps. The
//!   [`Messenger`] owns it and writes before it acts, and [`Messenger::start`] restores from it.
//! - Contacts and paired devices (`messenger/contacts.rs`, `messenger/devices.rs`): contacts
//!   with ENS name, nickname, added and blocked flags and their `ChatIdentity`
//!   ([`Messenger::add_contact`], [`Messenger::block_contact`], `ContactUpdate` sent and
//!   received); our installations with name and device type ([`Messenger::our_installations`],
//!   `PairInstallation`, [`Messenger::enable_installation`]); the 1:1 messages we send copied
//!   to our enabled other installations, and `SyncInstallationContact` /
//!   `SyncInstallationPublicChat` ([`Messenger::sync_devices`]) so they see the same chats.
//! - [`db`]: `<data-dir>/messenger.sqlite`, one SQLCipher file per account holding the
//!   message database (`messenger_*` tables, version in `messenger_schema_version`), the
//!   secure-transport store (`ratchet_*`) and the MVDS store (`mvds_*`), each on its own
//!   connection (WAL, 5 s busy timeout). [`open_sqlite`] opens all three and builds a
//!   [`SqliteMessenger`].
//!
//! **Encryption at rest.** `messenger.sqlite` is encrypted with SQLCipher 4 (rusqlite's
//! `bundled-sqlcipher`; every page, the schema and the WAL included). The key is 32 raw bytes,
//! HKDF-SHA256 (empty salt) of the account's 32-byte chat private key with the info string
//! [`db::DATABASE_KEY_INFO`] (`"wisp messenger.sqlite sqlcipher key v1"`), see
//! [`database_key`]: the file opens only with the account's key, which the keystore gives out
//! only with the account's password, and there is no second secret to keep. The key is set as
//! `PRAGMA key = "x'<64 hex>'"` first thing on every connection and checked with a read; a
//! file written by another account (or damaged) is refused with
//! [`StoreError::WrongKey`] ("messenger.sqlite cannot be opened with this account's key:
//! wrong account or corrupted file"). A file written by a newer wisp is refused with
//! [`StoreError::FutureSchema`].
//!
//! **Crashes.** Every store write is one SQLite transaction, durable when it returns against
//! the process being killed (WAL; against an OS crash or power loss see "Durability" on
//! [`open_sqlite`]: `NORMAL` for the message and MVDS connections, `FULL` for the ratchet). An outgoing message is committed
//! (status `Sending`, signed bytes, MVDS id) before the messenger produces its envelope, so a
//! message whose send call returned is never lost: after a restart a public message still
//! `Sending` is posted again, and a 1:1 message is retransmitted by MVDS (from its own stored
//! records) until acked, the ack then marking it `Delivered` once. The secure transport, MVDS
//! and the message tables share the file but not a transaction, so an incoming 1:1 message
//! is committed in that order: ratchet step, then the message (deduplicated by id), then
//! MVDS's receipt, and only then does its ack exist. A crash (or a failing store) at any point
//! before MVDS's commit leaves the message unacknowledged; the sender retransmits it and the
//! database drops the copy it already has, so no acknowledged message is lost and none is
//! reported twice.
//!
//! The node drives it: it opens envelopes with the filters the messenger asks for, feeds them
//! to [`Messenger::handle_envelope`], seals and posts [`OutgoingEnvelope`]s signed with the
//! account's chat key, and calls [`Messenger::tick`] at [`Messenger::next_wakeup`].
//!
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use wisp_crypto::SecretKey;
//! use wisp_messenger::{Config, Event, MemoryMessageStore, Messenger, Output};
//!
//! # fn main() -> Result<(), wisp_messenger::Error> {
//! let key = SecretKey::random();
//! let transport =
//!     wisp_ratchet::SecureTransport::new(key.clone(), "laptop", wisp_ratchet::MemoryStore::new());
//! let mvds = wisp_mvds::Node::new(
//!     wisp_mvds::Config::default(),
//!     wisp_mvds::MemoryStore::new(),
//!     StdRng::seed_from_u64(1),
//! );
//! let mut messenger =
//!     Messenger::new(key, transport, mvds, MemoryMessageStore::new(), Config::default())?;
//! messenger.start(1_800_000_000_000)?;
//! messenger.join_public_chat("status")?;
//! let id = messenger.send_public_text("status", "hello", 1_800_000_000_000)?;
//! let outputs = messenger.drain_outputs();
//! assert!(outputs.iter().any(|o| matches!(o, Output::Post(p) if p.messages == [id])));
//! assert!(outputs.iter().any(|o| matches!(o, Output::Event(Event::ChatAdded { .. }))));
//! # Ok(())
//! # }
//! ```

pub mod db;
mod error;
pub mod group;
pub mod identity;
mod messenger;
pub mod proto;
pub mod store;

pub use db::{DATABASE_FILE, SqliteMessenger, database_key, open_sqlite};
pub use error::{Error, Result};
pub use identity::{LamportClock, MAX_CLOCK_DRIFT_MS, MessageId, SignedMessage};
pub use messenger::{
    BUNDLE_ANSWER_INTERVAL_MS, CONTACT_UPDATE_INTERVAL, ChatKind, Config, Counters,
    DEFAULT_MAX_SEEN_IDS, DEFAULT_MAX_TEXT_BYTES, DEFAULT_TTL_SECS, DeliveryStatus, DropReason,
    Event, FilterSpec, IncomingEnvelope, InstallationInfo, LARGE_PAYLOAD_BYTES,
    LARGE_PAYLOAD_POW_TARGET, MAX_BUNDLE_ANSWERS_PER_INTERVAL, MAX_FIELD_BYTES,
    MAX_INTRODUCTION_BYTES, MAX_MEDIA_BYTES, MAX_NAME_BYTES, MAX_PAGE, MAX_PROFILE_IMAGE_BYTES,
    MAX_REACTIONS, MAX_STICKER_HASH_BYTES, MAX_SYNC_ITEMS, Messenger, OutgoingEnvelope, Output,
    POW_TARGET, PinnedPage, ReceivedMessage, audio_message, audio_type, group_invitation_id,
    image_message, image_type, one_to_one_chat_id, pow_target, sticker_message, text_message,
};
pub use store::{
    ChatEntity, DeviceStore, EntityKind, GroupInvitation, HistoryRange, InstallationMetadata,
    MemoryMessageStore, MessageStore, OwnProfile, PendingMessage, SqliteMessageStore, StoreError,
    StoredChat, StoredContact, StoredMessage,
};

// Dev-dependencies used by the integration tests only.
#[cfg(test)]
use {criterion as _, proptest as _, rand as _, serde_json as _};
