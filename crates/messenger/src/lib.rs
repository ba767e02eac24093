//! The Status messenger layer of wisp (6/PAYLOADS on top of 5/SECURE-TRANSPORT and 2/MVDS,
//! over Waku as 10/WAKU-USAGE says), byte for byte as status-go v0.79 speaks it.
//!
//! - [`proto`]: the payload protobufs (`proto/status.proto`) with status-go v0.79's field
//!   numbers: `ApplicationMetadataMessage` and its 28 types, `ChatMessage` (text, sticker,
//!   image, audio), `ContactCodeAdvertisement`, `ChatIdentity`, `EmojiReaction`, `PinMessage`,
//!   `MembershipUpdateMessage`; decoders bounded by [`proto::MAX_PAYLOAD_BYTES`].
//! - [`identity`]: signing and signer recovery of `ApplicationMetadataMessage`s, message ids
//!   (DECISIONS 18), Lamport clocks (DECISIONS 12).
//! - [`Messenger`]: the sans-io state machine of one account: public chats, 1:1 chats (DH mode
//!   first, then X3DH + Double Ratchet from `wisp-ratchet`, wrapped in MVDS batch mode from
//!   `wisp-mvds`), delivery states, bundle advertisement, bad input dropped and counted. It
//!   is generic over the ratchet and MVDS stores, so their SQLite stores slot in.
//!
//! The node drives it: it opens envelopes with the filters the messenger asks for, feeds them
//! to [`Messenger::handle_envelope`], seals and posts [`OutgoingEnvelope`]s signed with the
//! account's chat key, and calls [`Messenger::tick`] at [`Messenger::next_wakeup`].
//!
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use wisp_crypto::SecretKey;
//! use wisp_messenger::{Config, Event, Messenger, Output};
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
//! let mut messenger = Messenger::new(key, transport, mvds, Config::default())?;
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
pub mod identity;
mod messenger;
pub mod proto;
pub mod store;

pub use db::{DATABASE_FILE, SqliteMessenger, database_key, open_sqlite};
pub use error::{Error, Result};
pub use identity::{LamportClock, MAX_CLOCK_DRIFT_MS, MessageId, SignedMessage};
pub use messenger::{
    ChatKind, Config, Counters, DEFAULT_MAX_SEEN_IDS, DEFAULT_MAX_TEXT_BYTES, DEFAULT_TTL_SECS,
    DeliveryStatus, DropReason, Event, FilterSpec, IncomingEnvelope, LARGE_PAYLOAD_BYTES,
    LARGE_PAYLOAD_POW_TARGET, MAX_PAGE, Messenger, OutgoingEnvelope, Output, POW_TARGET,
    ReceivedMessage, one_to_one_chat_id, pow_target, text_message,
};
pub use store::{
    HistoryRange, MemoryMessageStore, MessageStore, PendingMessage, SqliteMessageStore, StoreError,
    StoredChat, StoredMessage,
};

// Dev-dependencies used by the integration tests only.
#[cfg(test)]
use {criterion as _, proptest as _, rand as _, serde_json as _};
