//! The sans-io `Messenger`: public and 1:1 chats of one account (6/PAYLOADS, 5/SECURE-TRANSPORT,
//! 10/WAKU-USAGE), in the style of `wisp_waku::Router` and `wisp_mvds::Node`: no sockets, no
//! clock reads, no spawning. Time is passed in as Unix milliseconds.
//!
//! **Inputs**
//! - [`Messenger::handle_envelope`]: a Waku envelope that one of our filters opened (topic,
//!   payload, signer, envelope timestamp, hash);
//! - commands: [`Messenger::start`], [`Messenger::join_public_chat`],
//!   [`Messenger::leave_public_chat`], [`Messenger::send_public_text`], [`Messenger::send_text`];
//! - the message database's commands: [`Messenger::open_one_to_one_chat`],
//!   [`Messenger::deactivate_chat`], [`Messenger::delete_chat`], [`Messenger::mark_all_read`],
//!   [`Messenger::mark_messages_seen`], [`Messenger::delete_message`], [`Messenger::resend`],
//!   [`Messenger::set_history_fetched`], [`Messenger::record_history_gap`],
//!   [`Messenger::send_chat_text`] (by chat id, with an optional reply),
//!   [`Messenger::send_chat_message`] (images, audio, stickers: see `media.rs`), and its queries
//!   ([`Messenger::chat_list`], [`Messenger::chat_messages`], [`Messenger::chat_topics`], ...);
//! - [`Messenger::envelope_sent`] when the node has handed an envelope to the network;
//! - [`Messenger::tick`] at [`Messenger::next_wakeup`] (MVDS retransmission, bundle
//!   advertisement).
//!
//! **Outputs** ([`Messenger::poll_output`]): envelopes to post ([`Output::Post`]: topic, Waku
//! encryption, payload, PoW target and TTL of DECISIONS 4; the node signs every envelope with the
//! account's chat key), filters to install or remove ([`Output::InstallFilter`],
//! [`Output::RemoveFilter`]), and [`Event`]s (chat added, message received, delivery status).
//!
//! **Rules**
//! - Public chats: key = PBKDF2(name), topic = keccak256(name)[0..4] (DECISIONS 8, 9); messages
//!   are `ProtocolMessage.public_message` with our bundle (DECISIONS 17); no MVDS.
//! - 1:1 chats: every `ApplicationMetadataMessage` goes into MVDS batch mode (group
//!   `GroupId::one_to_one`, peers identified by their 65-byte keys, as status-go), and each MVDS
//!   payload through the secure transport: DH mode on the recipient's partitioned topic while no
//!   bundle of theirs is known, then X3DH + Double Ratchet on the negotiated topic
//!   (DECISIONS 15). Acks drive the delivery state: sending, sent (envelope left the node),
//!   delivered (MVDS ack), expired (MVDS gave up).
//! - Bundles are learnt from every received `ProtocolMessage` and from contact-code
//!   advertisements; ours is advertised on our contact-code topic at start and every 6 h
//!   (DECISIONS 13).
//! - Everything lasting goes to the [`MessageStore`] `DB` first (see [`crate::store`]): an
//!   incoming chat message is stored (with its chat) before it is reported or marked seen; an
//!   outgoing one is stored with status `Sending`, its signed bytes and its MVDS id before its
//!   envelope or MVDS record exists; each delivery state change is stored before its event; a
//!   1:1 message carried by MVDS is stored before MVDS marks it received and acks it (the
//!   crash-ordering argument is on `Messenger::store_carried`). A store failure is an `Err`
//!   ([`Error::Store`], or [`DropReason::Storage`] for input) and nothing of the message is
//!   applied (a 1:1 message then is not acked either). [`Messenger::start`] restores chats (filters
//!   re-installed), the MVDS-id mapping and the pending delivery states from the store, so a
//!   restarted node resumes MVDS retransmission and a later ack marks the message delivered;
//!   messages are deduplicated by id across restarts.
//! - Bad input is dropped and counted in [`Counters`], never half-applied, never a panic: a
//!   payload that does not decode, an unsigned envelope or application message, a signature
//!   that does not recover or recovers to another key than the envelope's signer, a clock more
//!   than 120 s ahead of the envelope timestamp (DECISIONS 12), an unknown type. The secure
//!   transport and MVDS consume what they opened (ratchet keys, acks), but no chat, message
//!   or clock changes for a dropped message.

mod contacts;
mod devices;
mod media;

pub use contacts::{CONTACT_UPDATE_INTERVAL, MAX_NAME_BYTES, MAX_PROFILE_IMAGE_BYTES};
pub use devices::{
    BUNDLE_ANSWER_INTERVAL_MS, InstallationInfo, MAX_BUNDLE_ANSWERS_PER_INTERVAL, MAX_FIELD_BYTES,
    MAX_SYNC_ITEMS,
};

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::debug;
use wisp_crypto::{PublicKey, SecretKey, Zeroizing};
use wisp_mvds::{Event as MvdsEvent, GroupId, PeerId};
use wisp_ratchet::topic::{
    contact_code_key, contact_code_topic, partitioned_topic, personal_discovery_topic,
    public_chat_key, public_chat_topic,
};
use wisp_ratchet::{Destination, MessageKind, NegotiatedSecret, SecureTransport};
use wisp_waku::{Encryption, FilterKey, Topic};

use crate::error::{Error, Result};
use crate::identity::{LamportClock, MessageId, SignedMessage, clock_acceptable};
use crate::proto::{
    self, AppPayload, ChatMessage, ContactCodeAdvertisement, Message as _, MessageType,
    application_metadata_message::Type as AppType, chat_message::ContentType,
};
use crate::store::{HistoryRange, MessageStore, StoredChat, StoredMessage};

/// PoW target of envelopes with payloads under [`LARGE_PAYLOAD_BYTES`] (DECISIONS 4).
pub const POW_TARGET: f64 = 0.002;
/// PoW target of envelopes with larger payloads (DECISIONS 4).
pub const LARGE_PAYLOAD_POW_TARGET: f64 = 0.000_002;
/// Payload size from which [`LARGE_PAYLOAD_POW_TARGET`] applies (DECISIONS 4).
pub const LARGE_PAYLOAD_BYTES: usize = 50_000;
/// Default [`Config::ttl_secs`]: 15 s (DECISIONS 4).
pub const DEFAULT_TTL_SECS: u32 = 15;
/// Default [`Config::max_seen_ids`].
pub const DEFAULT_MAX_SEEN_IDS: usize = 100_000;
/// Default [`Config::max_text_bytes`]: what fits a Waku envelope with room for the layers.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 512 * 1024;

/// Most messages [`Messenger::chat_messages`] returns at once: 10 000.
pub const MAX_PAGE: usize = 10_000;

/// Messenger settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// TTL of posted envelopes, in seconds. Default: 15 s (DECISIONS 4).
    pub ttl_secs: u32,
    /// Message ids remembered to drop duplicates (oldest forgotten first). Default: 100 000.
    pub max_seen_ids: usize,
    /// Our bundle is advertised on our contact-code topic this often. Default: 6 h
    /// (DECISIONS 13).
    pub advertise_interval: Duration,
    /// Longest text [`Messenger::send_text`] and [`Messenger::send_public_text`] accept, in
    /// bytes. Default: 512 KiB.
    pub max_text_bytes: usize,
    /// Our `ContactUpdate` goes again to every added contact this long after it last went to
    /// all of them. Default: 48 h ([`CONTACT_UPDATE_INTERVAL`], as status-go).
    pub contact_update_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ttl_secs: DEFAULT_TTL_SECS,
            max_seen_ids: DEFAULT_MAX_SEEN_IDS,
            advertise_interval: wisp_ratchet::CONTACT_CODE_ADVERTISE_INTERVAL,
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            contact_update_interval: CONTACT_UPDATE_INTERVAL,
        }
    }
}

/// PoW target for a payload of `len` bytes (DECISIONS 4).
pub fn pow_target(len: usize) -> f64 {
    if len < LARGE_PAYLOAD_BYTES { POW_TARGET } else { LARGE_PAYLOAD_POW_TARGET }
}

/// The 1:1 chat id of `key`: `0x` + hex of its 65-byte form (status-go).
pub fn one_to_one_chat_id(key: &PublicKey) -> String {
    format!("0x{}", hex::encode(key.to_uncompressed()))
}

/// A Waku envelope received and opened by one of our filters.
#[derive(Clone, Debug)]
pub struct IncomingEnvelope {
    /// Its topic.
    pub topic: Topic,
    /// The decrypted Waku payload (a `ProtocolMessage`).
    pub payload: Vec<u8>,
    /// The key that signed the Waku plaintext, if it was signed.
    pub signer: Option<PublicKey>,
    /// The envelope's timestamp (expiry - TTL), Unix seconds.
    pub timestamp: u32,
    /// The envelope hash.
    pub hash: [u8; 32],
}

/// An envelope for the node to seal, sign with the account's chat key, and post.
#[derive(Clone, Debug)]
pub struct OutgoingEnvelope {
    /// Local id, for [`Messenger::envelope_sent`].
    pub id: u64,
    /// Topic.
    pub topic: Topic,
    /// Waku encryption: the chat's symmetric key, or the recipient's key (ECIES).
    pub encryption: Encryption,
    /// The Waku payload (an encoded `ProtocolMessage`).
    pub payload: Vec<u8>,
    /// PoW target (DECISIONS 4).
    pub pow_target: f64,
    /// TTL in seconds.
    pub ttl: u32,
    /// The messages it carries (their status becomes `Sent` when it is sent).
    pub messages: Vec<MessageId>,
}

/// A Waku filter the node should install: envelopes on `topic` that `key` opens go to
/// [`Messenger::handle_envelope`].
#[derive(Clone, Debug)]
pub struct FilterSpec {
    /// What the filter is for: `public:<name>`, `partitioned`, `personal-discovery`,
    /// `contact-code:<0x key>`, `negotiated:<topic hex>`.
    pub name: String,
    /// The topic.
    pub topic: Topic,
    /// The key.
    pub key: FilterKey,
}

/// The kind of a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatKind {
    /// A public chat, by name.
    Public,
    /// A 1:1 chat, by the other party's key.
    OneToOne,
    /// A private group chat, by `<uuid>-0x<creator key>` (see [`crate::group`]).
    PrivateGroup,
}

/// Delivery state of one of our messages, as the Status app shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Built, not yet handed to the network.
    Sending,
    /// An envelope with it left the node.
    Sent,
    /// The recipient acknowledged it (1:1, MVDS ack).
    Delivered,
    /// MVDS gave up retransmitting it.
    Expired,
}

/// A chat message received.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedMessage {
    /// Its id.
    pub id: MessageId,
    /// Our chat it belongs to: the public chat's name, or the sender's 1:1 chat id.
    pub chat_id: String,
    /// Its author.
    pub sender: PublicKey,
    /// The timestamp of the envelope it came in, Unix seconds.
    pub envelope_timestamp: u32,
    /// The message as sent (`chat_id` there is the author's view: our key for 1:1).
    pub message: ChatMessage,
}

/// What the messenger reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A chat was created (joined, or a first 1:1 message sent or received).
    ChatAdded {
        /// Its id.
        chat_id: String,
        /// Its kind.
        kind: ChatKind,
    },
    /// A chat message arrived.
    MessageReceived(Box<ReceivedMessage>),
    /// A group chat's membership or name changed (events applied; see
    /// [`Messenger::group_state`]).
    GroupUpdated {
        /// The group chat id.
        chat_id: String,
        /// The events newly applied, in order.
        events: Vec<crate::group::SignedEvent>,
    },
    /// A group chat invitation request or rejection was sent or received (stored; see
    /// [`Messenger::group_chat_invitations`]).
    GroupInvitation {
        /// Its id ([`group_invitation_id`]).
        id: String,
    },
    /// A reaction or pin arrived (stored; see [`Messenger::chat_entities`]).
    EntityChanged(Box<crate::store::ChatEntity>),
    /// The delivery state of one of our messages changed.
    MessageStatus {
        /// The message.
        id: MessageId,
        /// Its chat.
        chat_id: String,
        /// The new state.
        status: DeliveryStatus,
    },
    /// A contact was added, changed, blocked or heard from.
    ContactChanged {
        /// Its id (`0x` + 65-byte key hex).
        contact: String,
    },
    /// An installation of our account was announced, enabled or disabled.
    InstallationChanged {
        /// Its id.
        installation_id: String,
    },
}

/// What the node must do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Post an envelope.
    Post(OutgoingEnvelope),
    /// Install a filter.
    InstallFilter(FilterSpec),
    /// Remove a filter.
    RemoveFilter(FilterSpec),
    /// Report an event.
    Event(Event),
}

/// Why an envelope or a message in it was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A layer did not decode (ProtocolMessage, MVDS payload, ApplicationMetadataMessage,
    /// the typed payload), or was too big.
    Undecodable,
    /// The envelope or the application message carried no signature.
    Unsigned,
    /// The application message's signature does not recover, or recovers to another key than
    /// the envelope's signer; or a bundle's signature is wrong.
    BadSignature,
    /// The secure transport could not open it (no session, bad MAC, replay...).
    Undecryptable,
    /// Its clock is more than 120 s ahead of the envelope timestamp (DECISIONS 12).
    ClockTooFarAhead,
    /// Its application type is unknown (or `UNKNOWN`).
    UnknownType,
    /// A chat message that is invalid for where it came (empty text, no clock, a public
    /// message for a chat not joined or on another topic, a 1:1 message sent in clear or to
    /// someone else).
    Invalid,
    /// Already received (or our own, echoed back).
    Duplicate,
    /// Not applied because the message store failed (logged): nothing of the message was
    /// stored or reported.
    Storage,
    /// Its author is a blocked contact.
    Blocked,
}

/// Counts of what [`Messenger::handle_envelope`] did with its input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Chat messages accepted.
    pub messages: u64,
    /// Contact-code advertisements accepted (their bundles learnt).
    pub contact_codes: u64,
    /// Valid application messages of known types not acted on yet (chat identities,
    /// contact updates, ...).
    pub ignored: u64,
    /// MVDS acks that marked one of our messages delivered.
    pub acks: u64,
    /// Contact updates, chat identities, pairing and sync messages applied.
    pub devices: u64,
    /// Emoji reactions (and retractions) accepted.
    pub reactions: u64,
    /// Pins (and unpins) accepted.
    pub pins: u64,
    /// Group membership updates accepted (with at least one valid event for a group of ours).
    pub group_updates: u64,
    /// Group chat invitation requests and rejections accepted (stored).
    pub group_invitations: u64,
    /// Group membership events refused (bad signature, not allowed, malformed).
    pub group_events_rejected: u64,
    /// Drops: [`DropReason::Undecodable`].
    pub undecodable: u64,
    /// Drops: [`DropReason::Unsigned`].
    pub unsigned: u64,
    /// Drops: [`DropReason::BadSignature`].
    pub bad_signature: u64,
    /// Drops: [`DropReason::Undecryptable`].
    pub undecryptable: u64,
    /// Drops: [`DropReason::ClockTooFarAhead`].
    pub clock_too_far_ahead: u64,
    /// Drops: [`DropReason::UnknownType`].
    pub unknown_type: u64,
    /// Drops: [`DropReason::Invalid`].
    pub invalid: u64,
    /// Drops: [`DropReason::Duplicate`].
    pub duplicates: u64,
    /// Drops: [`DropReason::Storage`].
    pub storage_failures: u64,
    /// Drops: [`DropReason::Blocked`].
    pub blocked: u64,
}

impl Counters {
    fn count(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Undecodable => &mut self.undecodable,
            DropReason::Unsigned => &mut self.unsigned,
            DropReason::BadSignature => &mut self.bad_signature,
            DropReason::Undecryptable => &mut self.undecryptable,
            DropReason::ClockTooFarAhead => &mut self.clock_too_far_ahead,
            DropReason::UnknownType => &mut self.unknown_type,
            DropReason::Invalid => &mut self.invalid,
            DropReason::Duplicate => &mut self.duplicates,
            DropReason::Storage => &mut self.storage_failures,
            DropReason::Blocked => &mut self.blocked,
        };
        *counter += 1;
    }

    /// All drops.
    pub fn dropped(&self) -> u64 {
        self.undecodable
            + self.unsigned
            + self.bad_signature
            + self.undecryptable
            + self.clock_too_far_ahead
            + self.unknown_type
            + self.invalid
            + self.duplicates
            + self.storage_failures
            + self.blocked
    }
}

fn drop_reason(error: &Error) -> DropReason {
    match error {
        Error::Decode { .. } | Error::TooBig { .. } | Error::Mvds(_) => DropReason::Undecodable,
        Error::Unsigned => DropReason::Unsigned,
        Error::Store(_) => DropReason::Storage,
        Error::BadSignature(_) => DropReason::BadSignature,
        Error::UnknownType { .. } => DropReason::UnknownType,
        Error::Ratchet(e) => match e {
            wisp_ratchet::Error::Decode(_)
            | wisp_ratchet::Error::InvalidLength { .. }
            | wisp_ratchet::Error::InvalidKey { .. }
            | wisp_ratchet::Error::EmptyBundle
            | wisp_ratchet::Error::NoPayload
            | wisp_ratchet::Error::NoKeyHeader => DropReason::Undecodable,
            wisp_ratchet::Error::BundleSignature => DropReason::BadSignature,
            _ => DropReason::Undecryptable,
        },
        _ => DropReason::Invalid,
    }
}

/// One chat, as the messenger keeps it in memory (the store has the same).
#[derive(Clone)]
struct Chat {
    kind: ChatKind,
    name: String,
    /// Public: the chat topic; 1:1: the other party's partitioned topic.
    topic: Topic,
    /// Public chats: the Waku key.
    key: Option<Zeroizing<[u8; 32]>>,
    /// 1:1 chats: the other party.
    peer: Option<PublicKey>,
    clock: LamportClock,
    active: bool,
    timestamp_ms: u64,
    joined_ms: u64,
}

impl Chat {
    fn public(name: &str, now_ms: u64) -> Self {
        Self {
            kind: ChatKind::Public,
            name: name.to_owned(),
            topic: waku_topic(public_chat_topic(name)),
            key: Some(public_chat_key(name)),
            peer: None,
            clock: LamportClock::new(),
            active: true,
            timestamp_ms: now_ms,
            joined_ms: now_ms,
        }
    }

    fn one_to_one(peer: &PublicKey, now_ms: u64) -> Self {
        Self {
            kind: ChatKind::OneToOne,
            name: one_to_one_chat_id(peer),
            topic: waku_topic(partitioned_topic(peer)),
            key: None,
            peer: Some(*peer),
            clock: LamportClock::new(),
            active: true,
            timestamp_ms: now_ms,
            joined_ms: now_ms,
        }
    }

    /// The chat restored from its stored row.
    fn restore(stored: &StoredChat) -> Option<Self> {
        let mut chat = match stored.kind {
            ChatKind::Public => Self::public(&stored.id, stored.joined_ms),
            ChatKind::OneToOne => Self::one_to_one(&peer_of_chat_id(&stored.id)?, stored.joined_ms),
            ChatKind::PrivateGroup => Self::group(&stored.id, &stored.name, stored.joined_ms)?,
        };
        chat.clock.observe(stored.last_clock_value);
        chat.active = stored.active;
        chat.timestamp_ms = stored.timestamp_ms;
        chat.name.clone_from(&stored.name);
        Some(chat)
    }

    /// The row to store for chat `id`.
    fn stored(&self, id: &str) -> StoredChat {
        StoredChat {
            id: id.to_owned(),
            kind: self.kind,
            name: self.name.clone(),
            active: self.active,
            unread_count: 0,
            last_clock_value: self.clock.last(),
            timestamp_ms: self.timestamp_ms,
            joined_ms: self.joined_ms,
            last_message: None,
        }
    }
}

mod entities;
mod group_chat;
mod group_invitations;
pub use group_invitations::{MAX_INTRODUCTION_BYTES, group_invitation_id};

pub use entities::{MAX_REACTIONS, PinnedPage};
pub use media::{
    MAX_MEDIA_BYTES, MAX_STICKER_HASH_BYTES, audio_message, audio_type, image_message, image_type,
    sticker_message,
};

/// A `0x`-hex message id.
fn parse_message_id(s: &str) -> Option<MessageId> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(s.strip_prefix("0x")?, &mut bytes).ok()?;
    Some(MessageId(bytes))
}

/// The key of a 1:1 chat id (`0x` + 65-byte key in hex).
fn peer_of_chat_id(id: &str) -> Option<PublicKey> {
    let bytes = hex::decode(id.strip_prefix("0x")?).ok()?;
    PublicKey::from_sec1(&bytes).ok()
}

/// Parses a status-go paging cursor: the clock as 64 decimal digits, then the `0x` id.
fn parse_cursor(cursor: &str) -> Result<(u64, MessageId)> {
    let bad = || Error::InvalidInput {
        what: "cursor",
        reason: "expected 64 decimal digits of clock followed by a 0x-hex message id",
    };
    let (clock, id) = cursor.split_at_checked(64).ok_or_else(bad)?;
    if !clock.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let clock = clock.trim_start_matches('0');
    let clock = if clock.is_empty() { 0 } else { clock.parse::<u64>().map_err(|_| bad())? };
    let id = id.strip_prefix("0x").ok_or_else(bad)?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(id, &mut bytes).map_err(|_| bad())?;
    Ok((clock, MessageId(bytes)))
}

fn system_time(now_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(now_ms)
}

fn waku_topic(topic: wisp_ratchet::Topic) -> Topic {
    Topic(topic.0)
}

/// The messenger of one account and installation, over a secure-transport store `RS`, an
/// MVDS store `MS`, MVDS's jitter source `R` and a message database `DB`.
pub struct Messenger<RS, MS, R, DB> {
    identity: SecretKey,
    public: PublicKey,
    chat_id: String,
    config: Config,
    transport: SecureTransport<RS>,
    mvds: wisp_mvds::Node<MS, R>,
    db: DB,
    /// The latest time passed in (for commands that take none).
    now_ms: u64,
    /// Whether [`Messenger::start`] ran (filters of stored chats installed, pending
    /// messages resumed).
    started: bool,
    chats: BTreeMap<String, Chat>,
    filters: BTreeMap<String, FilterSpec>,
    /// Delivery state and chat of our messages.
    statuses: HashMap<MessageId, (String, DeliveryStatus)>,
    /// Our MVDS message ids and the message each carries.
    mvds_ids: HashMap<wisp_mvds::MessageId, MessageId>,
    /// Envelopes posted and not yet reported sent, with their messages.
    unsent: HashMap<u64, Vec<MessageId>>,
    seen: HashSet<MessageId>,
    seen_order: VecDeque<MessageId>,
    contact_code_key: Option<Zeroizing<[u8; 32]>>,
    /// Waku keys of the negotiated topics (PBKDF2, derived once).
    negotiated_keys: HashMap<[u8; 4], Zeroizing<[u8; 32]>>,
    next_advertisement_ms: Option<u64>,
    /// When our `ContactUpdate` next goes to every added contact (set by `start`).
    next_contact_updates_ms: Option<u64>,
    next_envelope_id: u64,
    outputs: VecDeque<Output>,
    counters: Counters,
    /// Blocked contacts, the clock of contact and sync messages.
    devices: devices::DevicesState,
}

impl<RS, MS, R, DB> fmt::Debug for Messenger<RS, MS, R, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messenger")
            .field("identity", &self.public)
            .field("chats", &self.chats.keys().collect::<Vec<_>>())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// The messenger of `identity` (the account's chat key), over its secure `transport`
    /// (which must be `identity`'s), MVDS node and message database `db`: the chats and our
    /// pending messages are read from `db` now; [`Messenger::start`] installs their filters
    /// and resumes the pending messages.
    pub fn new(
        identity: SecretKey,
        transport: SecureTransport<RS>,
        mvds: wisp_mvds::Node<MS, R>,
        db: DB,
        config: Config,
    ) -> Result<Self> {
        let public = identity.public_key();
        if *transport.public_key() != public {
            return Err(Error::IdentityMismatch);
        }
        let mut messenger = Self {
            chat_id: one_to_one_chat_id(&public),
            identity,
            public,
            config,
            transport,
            mvds,
            db,
            now_ms: 0,
            started: false,
            chats: BTreeMap::new(),
            filters: BTreeMap::new(),
            statuses: HashMap::new(),
            mvds_ids: HashMap::new(),
            unsent: HashMap::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            contact_code_key: None,
            negotiated_keys: HashMap::new(),
            next_advertisement_ms: None,
            next_contact_updates_ms: None,
            next_envelope_id: 0,
            outputs: VecDeque::new(),
            counters: Counters::default(),
            devices: devices::DevicesState::default(),
        };
        messenger.load()?;
        Ok(messenger)
    }

    /// Our chat key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// What was received and dropped so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The secure transport (bundles, sessions).
    pub fn transport(&self) -> &SecureTransport<RS> {
        &self.transport
    }

    /// The MVDS node (its store: received ids, records still to send).
    pub fn mvds(&self) -> &wisp_mvds::Node<MS, R> {
        &self.mvds
    }

    /// The message database.
    pub fn store(&self) -> &DB {
        &self.db
    }

    /// The delivery state of one of our messages (from memory, else from the store).
    pub fn status(&self, id: &MessageId) -> Option<DeliveryStatus> {
        match self.statuses.get(id) {
            Some((_, status)) => Some(*status),
            None => self.db.message(id).ok().flatten().and_then(|m| m.outgoing),
        }
    }

    /// The active chats, by id, with their kinds.
    pub fn chats(&self) -> Vec<(String, ChatKind)> {
        self.chats
            .iter()
            .filter(|(_, chat)| chat.active)
            .map(|(id, chat)| (id.clone(), chat.kind))
            .collect()
    }

    /// The filters currently wanted (what the node should have installed).
    pub fn filters(&self) -> impl Iterator<Item = &FilterSpec> {
        self.filters.values()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Every pending output, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        self.outputs.drain(..).collect()
    }

    /// Starts the messenger at `now_ms`. The first start installs the filters of the chats
    /// read from the store (active public chats; every 1:1 chat's contact-code topic) and
    /// resumes our pending messages (a public message still `Sending` is posted again; a 1:1
    /// message stored but not yet handed to MVDS is handed now; MVDS resumes its own
    /// retransmissions from its store). Every start listens on our partitioned and personal
    /// discovery topics (asymmetric) and on the negotiated topics already agreed, and
    /// advertises our bundle on our contact-code topic.
    pub fn start(&mut self, now_ms: u64) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        if !self.started {
            self.resume(now_ms)?;
            self.started = true;
        }
        self.install_filter(FilterSpec {
            name: "partitioned".to_owned(),
            topic: waku_topic(partitioned_topic(&self.public)),
            key: FilterKey::Asymmetric(self.identity.clone()),
        });
        // status-go still listens on the legacy personal discovery topic too.
        self.install_filter(FilterSpec {
            name: "personal-discovery".to_owned(),
            topic: waku_topic(personal_discovery_topic(&self.public)),
            key: FilterKey::Asymmetric(self.identity.clone()),
        });
        for secret in self.transport.shared_secrets()? {
            self.install_negotiated(&secret);
        }
        self.install_contact_filters()?;
        self.schedule_contact_updates(now_ms)?;
        self.advertise(now_ms)?;
        self.flush_mvds(now_ms)
    }

    /// Reads the chats and our pending messages back from the store (in [`Messenger::new`]).
    fn load(&mut self) -> Result<()> {
        for stored in self.db.chats()? {
            match Chat::restore(&stored) {
                Some(chat) => {
                    self.chats.insert(stored.id, chat);
                }
                None => {
                    debug!(target: "messenger", chat = %stored.id, "stored chat with a bad id skipped");
                }
            }
        }
        for pending in self.db.pending()? {
            let Some(chat) = self.chats.get(&pending.chat_id) else {
                continue;
            };
            // A public message that was sent is done.
            if chat.kind == ChatKind::Public && pending.status == DeliveryStatus::Sent {
                continue;
            }
            if let Some(mvds_id) = pending.mvds_id {
                self.mvds_ids.insert(wisp_mvds::MessageId(mvds_id), pending.id);
            }
            self.statuses.insert(pending.id, (pending.chat_id, pending.status));
        }
        self.load_contacts()
    }

    /// The first start: filters of the loaded chats, pending messages resumed.
    fn resume(&mut self, now_ms: u64) -> Result<()> {
        let chats: Vec<(String, Chat)> =
            self.chats.iter().map(|(id, chat)| (id.clone(), chat.clone())).collect();
        for (id, chat) in &chats {
            match (chat.kind, chat.peer) {
                (ChatKind::Public, _) if chat.active => self.install_public_filter(id, chat),
                (ChatKind::OneToOne, Some(peer)) => self.install_contact_code_filter(&peer),
                _ => {}
            }
        }
        let mut pending: Vec<(MessageId, String, DeliveryStatus)> = self
            .statuses
            .iter()
            .map(|(id, (chat_id, status))| (*id, chat_id.clone(), *status))
            .collect();
        pending.sort_by_key(|(id, _, _)| *id);
        for (id, chat_id, status) in pending {
            let (Some(chat), Some(message)) =
                (self.chats.get(&chat_id).cloned(), self.db.message(&id)?)
            else {
                continue;
            };
            match (chat.kind, chat.peer) {
                (ChatKind::Public, _) if status == DeliveryStatus::Sending => {
                    self.post_public(&chat, &message.raw, id, now_ms)?;
                }
                (ChatKind::OneToOne, Some(peer)) => {
                    // Stored, then the process stopped before MVDS had it: hand it over now,
                    // with the same MVDS id.
                    let record = self.mvds_message(&peer, &message);
                    if self.db.mvds_id(&id)? != Some(record.id().0)
                        || self.mvds.store().has_received(&record.id())?
                    {
                        continue;
                    }
                    self.mvds.add_peer(record.group_id, peer_id(&peer))?;
                    self.mvds.send_message(record, None, now_ms)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The MVDS message carrying our stored 1:1 message (its timestamp is the second it was
    /// sent, so the MVDS id is the one stored).
    fn mvds_message(&self, peer: &PublicKey, message: &StoredMessage) -> wisp_mvds::Message {
        let group = GroupId::one_to_one(&self.public, peer);
        let seconds = i64::try_from(message.whisper_timestamp_ms / 1000).unwrap_or(i64::MAX);
        wisp_mvds::Message::new(group, seconds, message.raw.clone())
    }

    /// When [`Messenger::tick`] should next run: the next MVDS retransmission, bundle
    /// advertisement or periodic `ContactUpdate`.
    pub fn next_wakeup(&self) -> Result<Option<u64>> {
        let mvds = self.mvds.next_wakeup()?;
        Ok([mvds, self.next_advertisement_ms, self.next_contact_updates_ms]
            .into_iter()
            .flatten()
            .min())
    }

    /// Retransmits what MVDS says is due, reports give-ups as expired, advertises our
    /// bundle when due, and sends our `ContactUpdate` to every added contact when due
    /// ([`Config::contact_update_interval`]).
    pub fn tick(&mut self, now_ms: u64) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        self.flush_mvds(now_ms)?;
        if self.next_advertisement_ms.is_some_and(|due| due <= now_ms) {
            self.advertise(now_ms)?;
        }
        if self.next_contact_updates_ms.is_some_and(|due| due <= now_ms) {
            self.resend_contact_updates(now_ms)?;
        }
        Ok(())
    }

    /// The node handed envelope `id` to the network: its messages that were `Sending` become
    /// `Sent` (stored, then reported). On `Err` (the store failed) the envelope's messages
    /// stay `Sending`.
    pub fn envelope_sent(&mut self, id: u64) -> Result<()> {
        let Some(messages) = self.unsent.remove(&id) else {
            return Ok(());
        };
        for (index, message) in messages.iter().enumerate() {
            if let Err(e) = self.set_status(*message, DeliveryStatus::Sent) {
                self.unsent.insert(id, messages[index..].to_vec());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Joins public chat `name`: stores it, installs its filter and reports the chat. Joining
    /// a chat that was deactivated activates it again; joining twice is a no-op.
    pub fn join_public_chat(&mut self, name: &str) -> Result<()> {
        validate_chat_name(name)?;
        let mut chat = match self.chats.get(name) {
            Some(chat) if chat.kind == ChatKind::Public && chat.active => return Ok(()),
            Some(chat) if chat.kind == ChatKind::Public => chat.clone(),
            Some(_) => {
                return Err(Error::InvalidInput {
                    what: "chat name",
                    reason: "is the id of a 1:1 chat",
                });
            }
            None => Chat::public(name, self.now_ms),
        };
        chat.active = true;
        chat.timestamp_ms = chat.timestamp_ms.max(self.now_ms);
        self.db.put_chat(&chat.stored(name))?;
        self.install_public_filter(name, &chat);
        self.chats.insert(name.to_owned(), chat);
        self.event(Event::ChatAdded { chat_id: name.to_owned(), kind: ChatKind::Public });
        // Our other devices join it too (status-go `syncPublicChat`); the chat is joined here
        // whatever becomes of that.
        if let Err(e) = self.sync_public_chat(name, self.now_ms) {
            debug!(target: "messenger", chat = name, error = %e, "public chat not synced to our devices");
        }
        Ok(())
    }

    /// Leaves public chat `name` ([`Messenger::deactivate_chat`]). Returns whether it was
    /// joined.
    pub fn leave_public_chat(&mut self, name: &str) -> Result<bool> {
        if !self.chats.get(name).is_some_and(|c| c.kind == ChatKind::Public && c.active) {
            return Ok(false);
        }
        self.deactivate_chat(name)
    }

    /// Opens (creating and storing if needed, activating if deactivated) the 1:1 chat with
    /// `peer`, without sending anything. Returns its id.
    pub fn open_one_to_one_chat(&mut self, peer: &PublicKey) -> Result<String> {
        if *peer == self.public {
            return Err(Error::InvalidInput { what: "recipient", reason: "is ourselves" });
        }
        let chat_id = one_to_one_chat_id(peer);
        let (mut chat, new) = match self.chats.get(&chat_id) {
            Some(chat) if chat.active => return Ok(chat_id),
            Some(chat) => (chat.clone(), false),
            None => (Chat::one_to_one(peer, self.now_ms), true),
        };
        chat.active = true;
        self.db.put_chat(&chat.stored(&chat_id))?;
        self.adopt_chat(&chat_id, chat, new);
        Ok(chat_id)
    }

    /// Deactivates a chat as status-go's `deactivateChat` does: it is kept but not listed as
    /// active, its messages are deleted (kept as ids for deduplication), and a public chat's
    /// filter is removed. A 1:1 chat becomes active again with the next message. Returns
    /// whether there was an active chat with that id.
    pub fn deactivate_chat(&mut self, id: &str) -> Result<bool> {
        let Some(chat) = self.chats.get(id).filter(|c| c.active) else {
            return Ok(false);
        };
        let mut chat = chat.clone();
        chat.active = false;
        self.db.put_chat(&chat.stored(id))?;
        self.db.delete_chat_messages(id)?;
        if chat.kind == ChatKind::Public {
            self.remove_filter(&format!("public:{id}"));
        }
        self.chats.insert(id.to_owned(), chat);
        Ok(true)
    }

    /// Deletes a chat and its messages from the store and stops listening for it. Returns
    /// whether there was such a chat.
    pub fn delete_chat(&mut self, id: &str) -> Result<bool> {
        let existed = self.db.delete_chat(id)?;
        if let Some(chat) = self.chats.remove(id) {
            match chat.kind {
                ChatKind::Public => self.remove_filter(&format!("public:{id}")),
                ChatKind::OneToOne => self.remove_filter(&format!("contact-code:{id}")),
                ChatKind::PrivateGroup => {}
            }
            self.statuses.retain(|_, (chat_id, _)| chat_id != id);
            return Ok(true);
        }
        Ok(existed)
    }

    /// Every chat, active or not, with its unread count and last message.
    pub fn chat_list(&self) -> Result<Vec<StoredChat>> {
        Ok(self.db.chats()?)
    }

    /// One chat.
    pub fn chat(&self, id: &str) -> Result<Option<StoredChat>> {
        Ok(self.db.chat(id)?)
    }

    /// Up to `limit` messages of a chat, newest first (clock, then id), as status-go's
    /// `chatMessages`: from the start when `cursor` is `None` or empty, else strictly after
    /// (older than) the message the cursor names. The second value is the cursor of the next
    /// page (`format!("{:064}{}", clock, id)` of the last message returned), `None` when
    /// there are no more.
    pub fn chat_messages(
        &self,
        chat_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, Option<String>)> {
        let before = match cursor {
            None | Some("") => None,
            Some(cursor) => Some(parse_cursor(cursor)?),
        };
        let limit = limit.min(MAX_PAGE);
        let mut messages = self.db.chat_messages(chat_id, before, limit.saturating_add(1))?;
        let next = if messages.len() > limit {
            messages.truncate(limit);
            messages.last().map(StoredMessage::cursor)
        } else {
            None
        };
        Ok((messages, next))
    }

    /// One stored message (a deleted one too, flagged).
    pub fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        Ok(self.db.message(id)?)
    }

    /// Marks every message of a chat seen. Returns how many unread messages it had.
    pub fn mark_all_read(&mut self, chat_id: &str) -> Result<u64> {
        Ok(self.db.mark_seen(chat_id, None)?)
    }

    /// Marks the messages `ids` of a chat seen. Returns how many of them were unread.
    pub fn mark_messages_seen(&mut self, chat_id: &str, ids: &[MessageId]) -> Result<u64> {
        Ok(self.db.mark_seen(chat_id, Some(ids))?)
    }

    /// Deletes a message (kept as a flagged row so it is not received again). Returns whether
    /// there was such a message not deleted yet.
    pub fn delete_message(&mut self, id: &MessageId) -> Result<bool> {
        Ok(self.db.set_deleted(id)?)
    }

    /// Sends one of our stored messages again at `now_ms`, with the same id and bytes: a
    /// public message is posted again; a 1:1 message is handed to MVDS again (a new MVDS
    /// record, retransmitted until acked). An `Expired` message goes back to `Sending`.
    pub fn resend(&mut self, id: &MessageId, now_ms: u64) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        let message = self.db.message(id)?.ok_or(Error::UnknownMessage { id: *id })?;
        let Some(status) = message.outgoing else {
            return Err(Error::InvalidInput { what: "message", reason: "is not one of ours" });
        };
        let chat = self
            .chats
            .get(&message.chat_id)
            .cloned()
            .ok_or_else(|| Error::UnknownChat { id: message.chat_id.clone() })?;
        if status == DeliveryStatus::Expired {
            self.db.set_status(id, DeliveryStatus::Sending)?;
            self.statuses.insert(*id, (message.chat_id.clone(), DeliveryStatus::Sending));
            self.event(Event::MessageStatus {
                id: *id,
                chat_id: message.chat_id.clone(),
                status: DeliveryStatus::Sending,
            });
        } else if status == DeliveryStatus::Sending
            || (status == DeliveryStatus::Sent && chat.kind == ChatKind::OneToOne)
        {
            self.statuses.entry(*id).or_insert((message.chat_id.clone(), status));
        }
        match (chat.kind, chat.peer) {
            (ChatKind::OneToOne, Some(peer)) => {
                let group = GroupId::one_to_one(&self.public, &peer);
                let seconds = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
                let record = wisp_mvds::Message::new(group, seconds, message.raw.clone());
                let mvds_id = record.id();
                self.db.set_mvds_id(id, mvds_id.0)?;
                self.mvds.add_peer(group, peer_id(&peer))?;
                self.mvds.send_message(record, None, now_ms)?;
                self.mvds_ids.insert(mvds_id, *id);
                self.flush_mvds(now_ms)
            }
            _ => self.post_public(&chat, &message.raw, *id, now_ms),
        }
    }

    /// The history fetched for `topic` from mailservers, in Unix seconds.
    pub fn history_range(&self, topic: &Topic) -> Result<Option<HistoryRange>> {
        Ok(self.db.history_range(topic)?)
    }

    /// Records that history of `topic` from `from` to `to` (Unix seconds) was fetched: the
    /// stored range widens to cover it.
    pub fn set_history_fetched(&mut self, topic: &Topic, from: u32, to: u32) -> Result<()> {
        let (from, to) = (from.min(to), from.max(to));
        let range = match self.db.history_range(topic)? {
            Some(old) => HistoryRange { from: old.from.min(from), to: old.to.max(to) },
            None => HistoryRange { from, to },
        };
        Ok(self.db.set_history_range(topic, range)?)
    }

    /// Records that history of `topic` from `from` to `to` (Unix seconds) could not be
    /// fetched.
    pub fn record_history_gap(&mut self, topic: &Topic, from: u32, to: u32) -> Result<()> {
        let range = HistoryRange { from: from.min(to), to: from.max(to) };
        Ok(self.db.add_gap(topic, range)?)
    }

    /// The gaps recorded for `topic`, oldest first.
    pub fn history_gaps(&self, topic: &Topic) -> Result<Vec<HistoryRange>> {
        Ok(self.db.gaps(topic)?)
    }

    /// The topics to ask a mailserver for to fill a chat's history: a public chat's topic; for
    /// a 1:1 chat our partitioned topic, the topic negotiated with the other party (once
    /// agreed) and their contact-code topic.
    pub fn chat_topics(&self, chat_id: &str) -> Result<Vec<Topic>> {
        let chat =
            self.chats.get(chat_id).ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        let Some(peer) = chat.peer else {
            return Ok(vec![chat.topic]);
        };
        let mut topics = vec![waku_topic(partitioned_topic(&self.public))];
        for secret in self.transport.shared_secrets()? {
            if secret.identity == peer {
                topics.push(waku_topic(secret.topic()));
            }
        }
        topics.push(waku_topic(contact_code_topic(&peer)));
        Ok(topics)
    }

    /// Sends `text` to public chat `name` (joined first) at `now_ms`: stored as `Sending`,
    /// then posted. Returns the message id.
    pub fn send_public_text(&mut self, name: &str, text: &str, now_ms: u64) -> Result<MessageId> {
        self.validate_text(text)?;
        let message = text_message(0, now_ms, text, name, MessageType::PublicGroup);
        self.send_public(name, message, now_ms)
    }

    /// Sends `text` to chat `chat_id` (a joined public chat, a 1:1 chat id or a group chat)
    /// at `now_ms`, as a reply to `response_to` when given (`ChatMessage.response_to`, the
    /// `0x` id, as status-go's `sendChatMessage` with `responseTo`), which must be a stored
    /// message of the same chat. Returns the message id.
    pub fn send_chat_text(
        &mut self,
        chat_id: &str,
        text: &str,
        response_to: Option<&MessageId>,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.validate_text(text)?;
        let mut message = text_message(0, now_ms, text, chat_id, MessageType::PublicGroup);
        if let Some(original) = response_to {
            message.response_to = original.to_string();
        }
        self.send_chat_message(chat_id, message, now_ms)
    }

    /// Sends `message` (content checked by the caller) to public chat `name`: its clock and
    /// chat are set, it is stored as `Sending`, then posted.
    fn send_public(
        &mut self,
        name: &str,
        mut message: ChatMessage,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut chat = self
            .chats
            .get(name)
            .filter(|c| c.kind == ChatKind::Public && c.active)
            .cloned()
            .ok_or_else(|| Error::NotJoined { name: name.to_owned() })?;
        message.clock = chat.clock.tick(now_ms);
        message.chat_id = name.to_owned();
        message.message_type = MessageType::PublicGroup as i32;
        chat.timestamp_ms = chat.timestamp_ms.max(now_ms);
        let (signed, bytes) =
            SignedMessage::build(message.encode_to_vec(), AppType::ChatMessage, &self.identity);
        let stored = self.outgoing(&signed, name, message, bytes, now_ms);
        if !self.db.add_message(&chat.stored(name), &stored, None)? {
            return Err(Error::InvalidInput { what: "message", reason: "was sent already" });
        }
        self.chats.insert(name.to_owned(), chat.clone());
        self.remember(signed.id);
        self.statuses.insert(signed.id, (name.to_owned(), DeliveryStatus::Sending));
        self.event(Event::MessageStatus {
            id: signed.id,
            chat_id: name.to_owned(),
            status: DeliveryStatus::Sending,
        });
        self.post_public(&chat, &stored.raw, signed.id, now_ms)?;
        Ok(signed.id)
    }

    /// Sends `text` to the account `recipient` at `now_ms` over MVDS and the secure transport
    /// (DH mode until their bundle is known): stored as `Sending` with its MVDS id, then
    /// handed to MVDS. Returns the message id.
    pub fn send_text(
        &mut self,
        recipient: &PublicKey,
        text: &str,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.validate_text(text)?;
        let message = text_message(0, now_ms, text, "", MessageType::OneToOne);
        self.send_direct(recipient, message, now_ms)
    }

    /// Sends `message` (content checked by the caller) to `recipient`: its clock and chat
    /// are set, it is stored as `Sending` with its MVDS id, then handed to MVDS.
    fn send_direct(
        &mut self,
        recipient: &PublicKey,
        mut message: ChatMessage,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.now_ms = self.now_ms.max(now_ms);
        if *recipient == self.public {
            return Err(Error::InvalidInput { what: "recipient", reason: "is ourselves" });
        }
        let chat_id = one_to_one_chat_id(recipient);
        let (mut chat, new) = match self.chats.get(&chat_id) {
            Some(chat) => (chat.clone(), false),
            None => (Chat::one_to_one(recipient, now_ms), true),
        };
        let reactivated = !chat.active;
        chat.active = true;
        message.clock = chat.clock.tick(now_ms);
        message.chat_id.clone_from(&chat_id);
        message.message_type = MessageType::OneToOne as i32;
        chat.timestamp_ms = chat.timestamp_ms.max(now_ms);
        let (signed, bytes) =
            SignedMessage::build(message.encode_to_vec(), AppType::ChatMessage, &self.identity);
        let stored = self.outgoing(&signed, &chat_id, message, bytes, now_ms);
        let record = self.mvds_message(recipient, &stored);
        let mvds_id = record.id();
        if !self.db.add_message(&chat.stored(&chat_id), &stored, Some(mvds_id.0))? {
            return Err(Error::InvalidInput { what: "message", reason: "was sent already" });
        }
        self.adopt_chat(&chat_id, chat, new || reactivated);
        self.mvds_ids.insert(mvds_id, signed.id);
        self.remember(signed.id);
        self.statuses.insert(signed.id, (chat_id.clone(), DeliveryStatus::Sending));
        self.event(Event::MessageStatus {
            id: signed.id,
            chat_id,
            status: DeliveryStatus::Sending,
        });
        self.mvds.add_peer(record.group_id, peer_id(recipient))?;
        self.mvds.send_message(record, None, now_ms)?;
        self.copy_to_own_devices(&stored.raw, now_ms);
        self.flush_mvds(now_ms)?;
        Ok(signed.id)
    }

    /// The stored form of a message we just built.
    fn outgoing(
        &self,
        signed: &SignedMessage,
        chat_id: &str,
        message: ChatMessage,
        raw: Vec<u8>,
        now_ms: u64,
    ) -> StoredMessage {
        StoredMessage {
            id: signed.id,
            chat_id: chat_id.to_owned(),
            from: self.public,
            outgoing: Some(DeliveryStatus::Sending),
            seen: true,
            whisper_timestamp_ms: now_ms,
            message,
            raw,
            deleted: false,
        }
    }

    /// Posts our signed message `raw` (id `id`) to public chat `chat`.
    fn post_public(&mut self, chat: &Chat, raw: &[u8], id: MessageId, now_ms: u64) -> Result<()> {
        let protocol = self.transport.build_public_message(raw, system_time(now_ms))?;
        let key = chat.key.clone().unwrap_or_default();
        self.post(chat.topic, Encryption::Symmetric(key), protocol.encode_to_vec(), vec![id]);
        Ok(())
    }

    /// Puts a chat (already stored) in memory; when `announce`, installs its filter and
    /// reports it.
    fn adopt_chat(&mut self, chat_id: &str, chat: Chat, announce: bool) {
        let kind = chat.kind;
        if announce {
            match (&chat.peer, kind) {
                (Some(peer), _) => self.install_contact_code_filter(peer),
                (None, ChatKind::Public) => self.install_public_filter(chat_id, &chat),
                (None, ChatKind::OneToOne | ChatKind::PrivateGroup) => {}
            }
        }
        self.chats.insert(chat_id.to_owned(), chat);
        if announce {
            self.event(Event::ChatAdded { chat_id: chat_id.to_owned(), kind });
        }
    }

    fn install_public_filter(&mut self, name: &str, chat: &Chat) {
        self.install_filter(FilterSpec {
            name: format!("public:{name}"),
            topic: chat.topic,
            key: FilterKey::Symmetric(chat.key.clone().unwrap_or_default()),
        });
    }

    fn install_contact_code_filter(&mut self, peer: &PublicKey) {
        self.install_filter(FilterSpec {
            name: format!("contact-code:{}", one_to_one_chat_id(peer)),
            topic: waku_topic(contact_code_topic(peer)),
            key: FilterKey::Symmetric(contact_code_key(peer)),
        });
    }

    fn remove_filter(&mut self, name: &str) {
        if let Some(filter) = self.filters.remove(name) {
            self.outputs.push_back(Output::RemoveFilter(filter));
        }
    }

    /// Handles an envelope one of our filters opened, at `now_ms`. An envelope or message
    /// that is dropped is counted in [`Messenger::counters`]; `Err` names why the envelope as
    /// a whole was dropped (messages inside an accepted envelope are counted one by one).
    pub fn handle_envelope(
        &mut self,
        envelope: &IncomingEnvelope,
        now_ms: u64,
    ) -> std::result::Result<(), DropReason> {
        self.now_ms = self.now_ms.max(now_ms);
        let result = self.open_envelope(envelope, now_ms);
        if let Err(reason) = result {
            debug!(target: "messenger", hash = %hex::encode(envelope.hash), ?reason, "envelope dropped");
            self.counters.count(reason);
        }
        result
    }

    fn open_envelope(
        &mut self,
        envelope: &IncomingEnvelope,
        now_ms: u64,
    ) -> std::result::Result<(), DropReason> {
        if envelope.payload.len() > proto::MAX_PAYLOAD_BYTES {
            return Err(DropReason::Undecodable);
        }
        let signer = envelope.signer.ok_or(DropReason::Unsigned)?;
        let protocol = wisp_ratchet::proto::decode_protocol_message(&envelope.payload)
            .map_err(|_| DropReason::Undecodable)?;
        let received = match self.transport.handle_message(&signer, &protocol, system_time(now_ms))
        {
            Ok(received) => received,
            Err(e) => {
                if matches!(e, wisp_ratchet::Error::DeviceNotFound { .. }) {
                    // They do not know this installation yet: tell them (5/SECURE-TRANSPORT
                    // §partitioned devices).
                    self.answer_with_bundle(&signer, now_ms);
                }
                return Err(drop_reason(&Error::Ratchet(e)));
            }
        };
        if let Some(secret) = &received.shared_secret {
            self.install_negotiated(secret);
        }
        if signer == self.public && received.installation_id == self.transport.installation_id() {
            // Our own envelope, echoed back (a DH-mode one to our own key decrypts).
            return Err(DropReason::Duplicate);
        }
        let Some(payload) = received.payload else {
            // Our own message, echoed back, with nothing for this installation.
            return Err(DropReason::Duplicate);
        };
        if payload.is_empty() && received.kind == MessageKind::Dh {
            // A bundle advertisement: its bundle was processed above.
            return Ok(());
        }
        let encrypted = match received.kind {
            MessageKind::Public => false,
            MessageKind::Dh | MessageKind::DoubleRatchet { .. } => true,
            MessageKind::OwnEcho => return Err(DropReason::Duplicate),
        };
        if !encrypted {
            return self.apply(&payload, &signer, envelope, false);
        }
        // status-go `handleDatasync`: an MVDS payload if it decodes to records, else the
        // application message itself.
        let limits = wisp_mvds::Limits::default();
        let mut records = match wisp_mvds::Payload::decode_with_limits(&mut &payload[..], &limits) {
            Ok(records) if !records.is_empty() => records,
            _ => return self.apply(&payload, &signer, envelope, true),
        };
        let peer = peer_id(&signer);
        let group = GroupId::one_to_one(&self.public, &signer);
        records.messages = self.store_carried(records.messages, &signer, envelope);
        let events = self
            .mvds
            .add_peer(group, peer.clone())
            .and_then(|_| self.mvds.on_decoded_payload(&peer, records, now_ms))
            .map_err(|e| {
                debug!(target: "messenger", error = %e, "MVDS store failed");
                DropReason::Storage
            })?;
        for event in events {
            match event {
                // Stored and reported by `store_carried` already.
                MvdsEvent::Received { .. } => {}
                MvdsEvent::Delivered { id, .. } => {
                    if let Some(message) = self.mvds_ids.get(&id).copied() {
                        self.counters.acks += 1;
                        if let Err(e) = self.set_status(message, DeliveryStatus::Delivered) {
                            debug!(target: "messenger", %message, error = %e, "delivered state not stored");
                            self.counters.count(DropReason::Storage);
                        }
                    }
                }
                MvdsEvent::GaveUp { id, .. } => {
                    if let Err(e) = self.expire(&id) {
                        debug!(target: "messenger", error = %e, "expired state not stored");
                        self.counters.count(DropReason::Storage);
                    }
                }
            }
        }
        // Acks go out at once (status-go's batch mode sends them at the next epoch).
        self.flush_mvds(now_ms).map_err(|e| drop_reason(&e))
    }

    /// The MVDS messages of one incoming payload, applied to the message database *before*
    /// MVDS sees them; returns those MVDS may mark received and ack.
    ///
    /// The secure transport, MVDS and the message tables commit separately, so the order of
    /// the commits decides what a crash between them can do. Were MVDS first, a crash after
    /// its commit would lose the message: MVDS has marked it received, acks every
    /// retransmission, and never reports it again. So each carried message is verified and
    /// stored (deduplicated by message id) first, and only then marked received by MVDS,
    /// whose acks leave after its commit:
    /// - a crash before the message commit: MVDS has nothing, no ack left, the sender
    ///   retransmits (through a new ratchet step), and the message is stored then;
    /// - a crash between the message commit and MVDS's: no ack either; the retransmission
    ///   is a duplicate for the database (counted, not reported again) and MVDS marks it
    ///   received and acks it, so the sender sees it delivered;
    /// - after MVDS's commit: a retransmission is an MVDS duplicate, acked again.
    ///
    /// A message MVDS already received is a duplicate (counted, not applied: the database
    /// has it, or it was dropped as bad input the first time) and is acked again. A message
    /// that is dropped as bad input is still acked (as status-go does), so the sender stops
    /// sending it. A message the database (or MVDS's store, asked whether it has it) failed
    /// to take is left out: not acked, so it comes again.
    fn store_carried(
        &mut self,
        messages: Vec<wisp_mvds::Message>,
        signer: &PublicKey,
        envelope: &IncomingEnvelope,
    ) -> Vec<wisp_mvds::Message> {
        let mut accepted = Vec::with_capacity(messages.len());
        for message in messages {
            let reason = match self.mvds.store().has_received(&message.id()) {
                Ok(true) => Some(DropReason::Duplicate),
                Ok(false) => self.apply(&message.body, signer, envelope, true).err(),
                Err(e) => {
                    debug!(target: "messenger", error = %e, "MVDS store failed");
                    Some(DropReason::Storage)
                }
            };
            if let Some(reason) = reason {
                debug!(target: "messenger", ?reason, "message in MVDS payload dropped");
                self.counters.count(reason);
                if reason == DropReason::Storage {
                    continue;
                }
            }
            accepted.push(message);
        }
        accepted
    }

    /// Applies one `ApplicationMetadataMessage` from `signer`; `encrypted` when it came through
    /// the secure transport.
    fn apply(
        &mut self,
        bytes: &[u8],
        signer: &PublicKey,
        envelope: &IncomingEnvelope,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        let signed = SignedMessage::open(bytes).map_err(|e| drop_reason(&e))?;
        if signed.author != *signer {
            return Err(DropReason::BadSignature);
        }
        if self.is_blocked(&signed.author) {
            return Err(DropReason::Blocked);
        }
        if self.seen.contains(&signed.id) {
            return Err(DropReason::Duplicate);
        }
        match self.db.has_message(&signed.id) {
            Ok(false) => {}
            Ok(true) => {
                self.remember(signed.id);
                return Err(DropReason::Duplicate);
            }
            Err(e) => {
                debug!(target: "messenger", id = %signed.id, error = %e, "message store failed");
                return Err(DropReason::Storage);
            }
        }
        let payload = proto::decode_app_payload(signed.message.r#type, &signed.message.payload)
            .map_err(|e| drop_reason(&e))?;
        match payload {
            AppPayload::Chat(message) => {
                self.apply_chat_message(&signed, bytes, message, envelope, encrypted)?;
                self.counters.messages += 1;
            }
            AppPayload::Reaction(reaction) => {
                self.apply_reaction(&signed, reaction, envelope, encrypted)?;
            }
            AppPayload::Pin(pin) => self.apply_pin(&signed, pin, envelope, encrypted)?,
            AppPayload::Membership(update) => {
                self.apply_membership(&signed, bytes, update, envelope, encrypted)?;
            }
            AppPayload::GroupInvitation(invitation) => {
                self.apply_group_invitation(&signed, invitation, encrypted)?;
            }
            AppPayload::ContactCode(advertisement) => {
                // The bundle in the ProtocolMessage was processed by the secure transport.
                if let Some(identity) = advertisement.chat_identity {
                    self.apply_chat_identity(identity, signer)?;
                }
                self.counters.contact_codes += 1;
            }
            AppPayload::Identity(identity) => {
                self.apply_chat_identity(identity, signer)?;
                self.counters.devices += 1;
            }
            AppPayload::Other { kind: AppType::ContactUpdate } => {
                self.apply_contact_update(&signed.message.payload, signer, encrypted)?;
                self.counters.devices += 1;
            }
            AppPayload::Other {
                kind:
                    kind @ (AppType::PairInstallation
                    | AppType::SyncInstallation
                    | AppType::SyncInstallationContact
                    | AppType::SyncInstallationAccount
                    | AppType::SyncInstallationPublicChat),
            } => {
                self.apply_device_message(kind, &signed.message.payload, signer, encrypted)?;
                self.counters.devices += 1;
            }
            _ => self.counters.ignored += 1,
        }
        self.remember(signed.id);
        Ok(())
    }

    fn apply_chat_message(
        &mut self,
        signed: &SignedMessage,
        raw: &[u8],
        message: ChatMessage,
        envelope: &IncomingEnvelope,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        let sender = signed.author;
        if !clock_acceptable(message.clock, envelope.timestamp) {
            return Err(DropReason::ClockTooFarAhead);
        }
        // status-go `ValidateReceivedChatMessage`.
        if message.clock == 0
            || message.timestamp == 0
            || message.chat_id.is_empty()
            || (message.content_type == ContentType::TextPlain as i32 && message.text.is_empty())
            || !entities::media_acceptable(&message)
        {
            return Err(DropReason::Invalid);
        }
        let (chat_id, mut chat, new) = match MessageType::try_from(message.message_type) {
            Ok(MessageType::PublicGroup) => {
                let chat = self.chats.get(&message.chat_id).filter(|chat| {
                    chat.kind == ChatKind::Public && chat.active && chat.topic == envelope.topic
                });
                match chat {
                    Some(chat) if !encrypted => (message.chat_id.clone(), chat.clone(), false),
                    _ => return Err(DropReason::Invalid),
                }
            }
            Ok(MessageType::OneToOne) => {
                if !encrypted {
                    return Err(DropReason::Invalid);
                }
                let peer = if sender == self.public {
                    // Ours, from another of our devices: the chat is the one it names
                    // (status-go `matchChatEntity`).
                    peer_of_chat_id(&message.chat_id)
                        .filter(|peer| *peer != self.public)
                        .ok_or(DropReason::Invalid)?
                } else if message.chat_id == self.chat_id {
                    sender
                } else {
                    return Err(DropReason::Invalid);
                };
                let chat_id = one_to_one_chat_id(&peer);
                match self.chats.get(&chat_id) {
                    Some(chat) => (chat_id, chat.clone(), !chat.active),
                    None => (chat_id, Chat::one_to_one(&peer, self.now_ms), true),
                }
            }
            Ok(MessageType::PrivateGroup) if encrypted => {
                let chat_id = message.chat_id.clone();
                let chat = self.group_chat_for(&chat_id, &sender)?;
                (chat_id, chat, false)
            }
            _ => return Err(DropReason::Invalid),
        };
        chat.clock.observe(message.clock);
        chat.active = true;
        chat.timestamp_ms = chat.timestamp_ms.max(self.now_ms);
        // Ours, sent from another of our devices.
        let own = sender == self.public;
        let stored = StoredMessage {
            id: signed.id,
            chat_id: chat_id.clone(),
            from: sender,
            outgoing: own.then_some(DeliveryStatus::Sent),
            seen: own,
            whisper_timestamp_ms: u64::from(envelope.timestamp) * 1000,
            message,
            raw: raw.to_vec(),
            deleted: false,
        };
        match self.db.add_message(&chat.stored(&chat_id), &stored, None) {
            Ok(true) => {}
            Ok(false) => return Err(DropReason::Duplicate),
            Err(e) => {
                debug!(target: "messenger", id = %signed.id, error = %e, "message not stored");
                return Err(DropReason::Storage);
            }
        }
        self.adopt_chat(&chat_id, chat, new);
        self.event(Event::MessageReceived(Box::new(ReceivedMessage {
            id: signed.id,
            chat_id,
            sender,
            envelope_timestamp: envelope.timestamp,
            message: stored.message,
        })));
        Ok(())
    }

    /// Wraps every MVDS payload due now in the secure transport and posts it; reports
    /// give-ups.
    fn flush_mvds(&mut self, now_ms: u64) -> Result<()> {
        let tick = self.mvds.tick(now_ms)?;
        for event in tick.events {
            if let MvdsEvent::GaveUp { id, .. } = event {
                self.expire(&id)?;
            }
        }
        for out in tick.payloads {
            let Ok(peer) = PublicKey::from_sec1(out.peer.as_bytes()) else {
                continue;
            };
            let messages: Vec<MessageId> = out
                .payload
                .messages
                .iter()
                .filter_map(|m| self.mvds_ids.get(&m.id()).copied())
                .collect();
            self.post_direct(&peer, &out.payload.to_bytes(), messages, now_ms)?;
        }
        Ok(())
    }

    /// Encrypts `payload` for `peer` with the secure transport and posts it on the
    /// partitioned or negotiated topic the transport chose (MVDS payloads and group updates).
    pub(super) fn post_direct(
        &mut self,
        peer: &PublicKey,
        payload: &[u8],
        messages: Vec<MessageId>,
        now_ms: u64,
    ) -> Result<()> {
        let built = self.transport.build_direct_message(peer, payload, system_time(now_ms))?;
        if let Some(secret) = &built.shared_secret {
            self.install_negotiated(secret);
        }
        let (topic, encryption) = match &built.destination {
            Destination::Partitioned { topic, recipient } => {
                (waku_topic(*topic), Encryption::Asymmetric(*recipient))
            }
            Destination::Negotiated { topic, secret } => {
                let key = self.negotiated_key(secret);
                (waku_topic(*topic), Encryption::Symmetric(key))
            }
        };
        self.post(topic, encryption, built.encode(), messages);
        Ok(())
    }

    fn expire(&mut self, mvds_id: &wisp_mvds::MessageId) -> Result<()> {
        match self.mvds_ids.get(mvds_id).copied() {
            Some(message) => self.set_status(message, DeliveryStatus::Expired),
            None => Ok(()),
        }
    }

    fn advertise(&mut self, now_ms: u64) -> Result<()> {
        let key =
            self.contact_code_key.get_or_insert_with(|| contact_code_key(&self.public)).clone();
        let (_, bytes) = SignedMessage::build(
            ContactCodeAdvertisement::default().encode_to_vec(),
            AppType::ContactCodeAdvertisement,
            &self.identity,
        );
        let protocol = self.transport.build_public_message(&bytes, system_time(now_ms))?;
        let topic = waku_topic(contact_code_topic(&self.public));
        self.post(topic, Encryption::Symmetric(key), protocol.encode_to_vec(), Vec::new());
        let interval =
            u64::try_from(self.config.advertise_interval.as_millis()).unwrap_or(u64::MAX);
        self.next_advertisement_ms = Some(now_ms.saturating_add(interval));
        Ok(())
    }

    /// The Waku key of a negotiated topic: PBKDF2 (65 356 rounds) once per secret.
    fn negotiated_key(&mut self, secret: &NegotiatedSecret) -> Zeroizing<[u8; 32]> {
        self.negotiated_keys.entry(secret.topic().0).or_insert_with(|| secret.waku_key()).clone()
    }

    fn install_negotiated(&mut self, secret: &NegotiatedSecret) {
        let topic = waku_topic(secret.topic());
        let name = format!("negotiated:{}", hex::encode(topic.0));
        if !self.filters.contains_key(&name) {
            let key = self.negotiated_key(secret);
            self.install_filter(FilterSpec { name, topic, key: FilterKey::Symmetric(key) });
        }
    }

    fn install_filter(&mut self, filter: FilterSpec) {
        if self.filters.contains_key(&filter.name) {
            return;
        }
        self.filters.insert(filter.name.clone(), filter.clone());
        self.outputs.push_back(Output::InstallFilter(filter));
    }

    fn post(
        &mut self,
        topic: Topic,
        encryption: Encryption,
        payload: Vec<u8>,
        messages: Vec<MessageId>,
    ) {
        let id = self.next_envelope_id;
        self.next_envelope_id += 1;
        if !messages.is_empty() {
            self.unsent.insert(id, messages.clone());
        }
        self.outputs.push_back(Output::Post(OutgoingEnvelope {
            id,
            topic,
            encryption,
            pow_target: pow_target(payload.len()),
            payload,
            ttl: self.config.ttl_secs,
            messages,
        }));
    }

    /// Moves a message forward: sending -> sent -> delivered | expired (never back; a
    /// delivered message does not expire). Stored first, then reported.
    fn set_status(&mut self, id: MessageId, status: DeliveryStatus) -> Result<()> {
        let Some((chat_id, current)) = self.statuses.get(&id) else {
            return Ok(());
        };
        let forward = match status {
            DeliveryStatus::Sending => false,
            DeliveryStatus::Sent => *current == DeliveryStatus::Sending,
            DeliveryStatus::Delivered | DeliveryStatus::Expired => {
                matches!(*current, DeliveryStatus::Sending | DeliveryStatus::Sent)
            }
        };
        if !forward {
            return Ok(());
        }
        let chat_id = chat_id.clone();
        self.db.set_status(&id, status)?;
        // Final states live in the store only ([`Messenger::status`] reads it), so memory
        // holds the pending messages alone.
        let public = self.chats.get(&chat_id).is_some_and(|c| c.kind == ChatKind::Public);
        let last = match status {
            DeliveryStatus::Sending => false,
            DeliveryStatus::Sent => public,
            DeliveryStatus::Delivered | DeliveryStatus::Expired => true,
        };
        if last {
            self.statuses.remove(&id);
            self.mvds_ids.retain(|_, message| *message != id);
        } else {
            self.statuses.insert(id, (chat_id.clone(), status));
        }
        self.event(Event::MessageStatus { id, chat_id, status });
        Ok(())
    }

    fn remember(&mut self, id: MessageId) {
        if self.seen.insert(id) {
            self.seen_order.push_back(id);
            while self.seen_order.len() > self.config.max_seen_ids {
                if let Some(old) = self.seen_order.pop_front() {
                    self.seen.remove(&old);
                }
            }
        }
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn validate_text(&self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Err(Error::InvalidInput { what: "text", reason: "is empty" });
        }
        if text.len() > self.config.max_text_bytes {
            return Err(Error::InvalidInput {
                what: "text",
                reason: "is longer than max_text_bytes",
            });
        }
        Ok(())
    }
}

fn validate_chat_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidInput { what: "chat name", reason: "is empty" });
    }
    if name.len() > 256 {
        return Err(Error::InvalidInput { what: "chat name", reason: "is longer than 256 bytes" });
    }
    Ok(())
}

fn peer_id(key: &PublicKey) -> PeerId {
    PeerId(key.to_uncompressed().to_vec())
}

/// A plain-text `ChatMessage` (status-go `sendChatMessage` for text).
pub fn text_message(
    clock: u64,
    timestamp: u64,
    text: &str,
    chat_id: &str,
    message_type: MessageType,
) -> ChatMessage {
    ChatMessage {
        clock,
        timestamp,
        text: text.to_owned(),
        chat_id: chat_id.to_owned(),
        message_type: message_type as i32,
        content_type: ContentType::TextPlain as i32,
        ..ChatMessage::default()
    }
}
