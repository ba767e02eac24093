//! Private group chats as status-go v0.79 runs them (7/GROUP-CHAT; DECISIONS 17-19).
//!
//! A group chat's id is `<uuid v4>-0x<creator's uncompressed key, lowercase hex>`. Its state
//! (name, members, admins, who joined) is never sent as such: every change is a
//! `MembershipUpdateEvent`, signed by its author over keccak256(utf8(chat id) || event bytes)
//! and sent as `signature (65 bytes, r || s || v) || event bytes` inside a
//! `MembershipUpdateMessage`. Everyone derives the state by replaying the valid events in
//! clock order ([`GroupState::replay`]); an event its author had no right to send (a
//! non-admin renaming, adding or promoting; a removal of someone else by a non-admin; a join
//! by a non-member; a second creation) is rejected and reported, as are events whose
//! signature does not recover ([`open_event`]).
//!
//! This module is pure: no store, no clock, no transport.

use std::collections::{BTreeMap, BTreeSet};

use wisp_crypto::{PublicKey, RecoverableSignature, SecretKey, keccak256_concat};

use crate::proto::{MembershipUpdateEvent, Message as _, membership_update_event::EventType};

/// Length of an event signature (`r || s || v`).
pub const EVENT_SIGNATURE_LEN: usize = 65;

/// Most events one `MembershipUpdateMessage` may carry (status-go sends the whole log each
/// time; a group of [`MAX_MEMBERS`] with renames stays far below).
pub const MAX_EVENTS: usize = 1024;

/// Most members a group chat may hold (status-go's client limit is 20; we accept more from
/// others but refuse a log that would grow past this bound).
pub const MAX_MEMBERS: usize = 256;

/// Longest group name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// Why a group event or message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// An event shorter than its signature plus one byte.
    #[error("group event is {len} bytes, expected a 65-byte signature followed by the event")]
    ShortEvent {
        /// Its length.
        len: usize,
    },
    /// The event's signature recovers to no key.
    #[error("group event signature does not recover to a key")]
    BadSignature,
    /// The event bytes are not a `MembershipUpdateEvent`.
    #[error("group event does not decode as MembershipUpdateEvent")]
    Decode,
    /// A chat id that is not `<uuid>-0x<130 hex digits of an uncompressed key>`.
    #[error("group chat id {id:?} is not <uuid>-0x<creator public key hex>")]
    BadChatId {
        /// The id.
        id: String,
    },
    /// A member string that is not `0x` + an uncompressed public key in hex.
    #[error("group member {member:?} is not 0x<uncompressed public key hex>")]
    BadMember {
        /// The string.
        member: String,
    },
    /// More events than [`MAX_EVENTS`].
    #[error("membership update has {count} events, at most {MAX_EVENTS} are accepted")]
    TooManyEvents {
        /// How many.
        count: usize,
    },
    /// The event's author had no right to make it in the state it applies to.
    #[error("group event {kind} from {from} is not allowed: {reason}")]
    NotAllowed {
        /// The event type (raw number).
        kind: i32,
        /// The author, `0x`-hex.
        from: String,
        /// Why.
        reason: &'static str,
    },
}

/// A `MembershipUpdateEvent` whose signature was checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedEvent {
    /// The decoded event.
    pub event: MembershipUpdateEvent,
    /// The event bytes exactly as signed.
    pub raw: Vec<u8>,
    /// The signature (`r || s || v`, `v` in {0, 1}).
    pub signature: [u8; EVENT_SIGNATURE_LEN],
    /// Who signed it.
    pub from: PublicKey,
}

impl SignedEvent {
    /// The id of the system message this event leaves in its chat: keccak256 of the
    /// signature, so that an event seen twice leaves one message.
    pub fn system_message_id(&self) -> crate::identity::MessageId {
        crate::identity::MessageId(wisp_crypto::keccak256(self.signature))
    }

    /// `signature || raw`: the form a `MembershipUpdateMessage` carries.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(EVENT_SIGNATURE_LEN + self.raw.len());
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.raw);
        out
    }

    /// The author as `0x`-hex.
    pub fn from_hex(&self) -> String {
        key_hex(&self.from)
    }
}

/// `0x` + lowercase hex of the uncompressed key: how status-go names members.
pub fn key_hex(key: &PublicKey) -> String {
    format!("0x{}", hex::encode(key.to_uncompressed()))
}

/// Parses `0x<uncompressed key hex>` (the case of the hex digits is ignored).
pub fn parse_key_hex(member: &str) -> Result<PublicKey, GroupError> {
    let bad = || GroupError::BadMember { member: member.chars().take(200).collect() };
    let digits = member.strip_prefix("0x").ok_or_else(bad)?;
    if digits.len() != 130 {
        return Err(bad());
    }
    let bytes = hex::decode(digits).map_err(|_| bad())?;
    PublicKey::from_sec1(&bytes).map_err(|_| bad())
}

/// The creator's key named by a group chat id `<uuid>-0x<key>`.
pub fn chat_id_creator(chat_id: &str) -> Result<PublicKey, GroupError> {
    let bad = || GroupError::BadChatId { id: chat_id.chars().take(300).collect() };
    let (_, key) = chat_id.rsplit_once('-').ok_or_else(bad)?;
    let uuid = chat_id.get(..36).ok_or_else(bad)?;
    if chat_id.len() != 36 + 1 + 132 || !is_uuid(uuid) {
        return Err(bad());
    }
    parse_key_hex(key).map_err(|_| bad())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() }
        })
}

/// A group chat id for `uuid` (36 characters, as `Uuid::to_string`) created by `creator`.
pub fn group_chat_id(uuid: &str, creator: &PublicKey) -> String {
    format!("{uuid}-{}", key_hex(creator))
}

/// Formats 16 random bytes as a version 4 UUID (RFC 4122 variant).
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The hash an event signature covers: keccak256(utf8(chat id) || event bytes).
pub fn event_hash(chat_id: &str, raw: &[u8]) -> [u8; 32] {
    keccak256_concat(&[chat_id.as_bytes(), raw])
}

/// Encodes and signs `event` for `chat_id` with `key`. Deterministic (RFC 6979).
pub fn sign_event(chat_id: &str, event: MembershipUpdateEvent, key: &SecretKey) -> SignedEvent {
    let raw = event.encode_to_vec();
    let signature = key.sign_prehash(&event_hash(chat_id, &raw)).to_bytes();
    SignedEvent { event, raw, signature, from: key.public_key() }
}

/// Splits `signature || event`, decodes the event and recovers its author.
pub fn open_event(chat_id: &str, wire: &[u8]) -> Result<SignedEvent, GroupError> {
    let (sig, raw) = wire
        .split_at_checked(EVENT_SIGNATURE_LEN)
        .filter(|(_, raw)| !raw.is_empty())
        .ok_or(GroupError::ShortEvent { len: wire.len() })?;
    let mut signature = [0u8; EVENT_SIGNATURE_LEN];
    signature.copy_from_slice(sig);
    let from = RecoverableSignature::from_bytes(sig)
        .and_then(|s| s.recover(&event_hash(chat_id, raw)))
        .map_err(|_| GroupError::BadSignature)?;
    let event = MembershipUpdateEvent::decode(raw).map_err(|_| GroupError::Decode)?;
    Ok(SignedEvent { event, raw: raw.to_vec(), signature, from })
}

/// Builds a `MembershipUpdateEvent`.
pub fn event(
    kind: EventType,
    clock: u64,
    members: Vec<String>,
    name: &str,
) -> MembershipUpdateEvent {
    MembershipUpdateEvent { clock, members, name: name.to_owned(), r#type: kind as i32 }
}

/// The state of one group chat, derived from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    /// The chat id.
    pub chat_id: String,
    /// The creator (`0x`-hex), once the creation event was applied.
    pub creator: Option<String>,
    /// The current name.
    pub name: String,
    /// Members (`0x`-hex) and whether each joined.
    pub members: BTreeMap<String, bool>,
    /// Admins (`0x`-hex).
    pub admins: BTreeSet<String>,
    /// The highest clock applied.
    pub clock: u64,
}

/// An event that replay refused, with why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    /// The event.
    pub event: SignedEvent,
    /// Why.
    pub error: GroupError,
}

impl GroupState {
    /// An empty state for `chat_id` (no creation event yet).
    pub fn new(chat_id: &str) -> Self {
        Self { chat_id: chat_id.to_owned(), ..Self::default() }
    }

    /// Whether `member` (`0x`-hex) is a member.
    pub fn is_member(&self, member: &str) -> bool {
        self.members.contains_key(member)
    }

    /// Whether `member` is a member who joined.
    pub fn has_joined(&self, member: &str) -> bool {
        self.members.get(member).copied().unwrap_or(false)
    }

    /// Whether `member` is an admin.
    pub fn is_admin(&self, member: &str) -> bool {
        self.admins.contains(member)
    }

    /// Replays `events` (in any order, duplicates allowed) from an empty state: sorted by
    /// (clock, bytes), deduplicated by signature, each applied if valid. Returns the state,
    /// the events applied (in order) and those refused.
    pub fn replay(
        chat_id: &str,
        events: &[SignedEvent],
    ) -> (Self, Vec<SignedEvent>, Vec<Rejected>) {
        let mut sorted: Vec<&SignedEvent> = events.iter().collect();
        sorted.sort_by(|a, b| a.event.clock.cmp(&b.event.clock).then_with(|| a.raw.cmp(&b.raw)));
        sorted.dedup_by(|a, b| a.signature == b.signature);
        let mut state = Self::new(chat_id);
        let mut applied = Vec::new();
        let mut rejected = Vec::new();
        for ev in sorted {
            match state.apply(ev) {
                Ok(()) => applied.push(ev.clone()),
                Err(error) => rejected.push(Rejected { event: ev.clone(), error }),
            }
        }
        (state, applied, rejected)
    }

    /// Checks `ev` against this state and applies it (status-go `validateEvent` then
    /// `processEvent`).
    pub fn apply(&mut self, ev: &SignedEvent) -> Result<(), GroupError> {
        let from = ev.from_hex();
        let kind = ev.event.r#type;
        let deny = |reason| GroupError::NotAllowed { kind, from: from.clone(), reason };
        for member in &ev.event.members {
            parse_key_hex(member)?;
        }
        let members: Vec<String> =
            ev.event.members.iter().map(|m| m.to_ascii_lowercase()).collect();
        match EventType::try_from(kind) {
            Ok(EventType::ChatCreated) => {
                if self.creator.is_some() || !self.members.is_empty() {
                    return Err(deny("the chat was already created"));
                }
                let creator = chat_id_creator(&self.chat_id)?;
                if creator != ev.from {
                    return Err(deny("only the key named in the chat id may create it"));
                }
                check_name(&ev.event.name).map_err(deny)?;
                self.name.clone_from(&ev.event.name);
                self.creator = Some(from.clone());
                self.members.insert(from.clone(), true);
                self.admins.insert(from.clone());
            }
            Ok(EventType::NameChanged) => {
                if !self.is_admin(&from) {
                    return Err(deny("only an admin may rename"));
                }
                check_name(&ev.event.name).map_err(deny)?;
                self.name.clone_from(&ev.event.name);
            }
            Ok(EventType::MembersAdded) => {
                if !self.is_admin(&from) {
                    return Err(deny("only an admin may add members"));
                }
                if members.is_empty() {
                    return Err(deny("no members named"));
                }
                let new = members.iter().filter(|m| !self.is_member(m)).count();
                if self.members.len() + new > MAX_MEMBERS {
                    return Err(deny("the group would exceed its member limit"));
                }
                for m in members {
                    self.members.entry(m).or_insert(false);
                }
            }
            Ok(EventType::MemberJoined) => {
                if !self.is_member(&from) {
                    return Err(deny("only an invited member may join"));
                }
                if self.has_joined(&from) {
                    return Err(deny("the member already joined"));
                }
                self.members.insert(from.clone(), true);
            }
            Ok(EventType::MemberRemoved) => {
                let [target] = members.as_slice() else {
                    return Err(deny("a removal names exactly one member"));
                };
                let itself = *target == from;
                if !itself && (!self.is_admin(&from) || self.is_admin(target)) {
                    return Err(deny("only the member or an admin may remove a non-admin member"));
                }
                if !self.is_member(target) {
                    return Err(deny("the removed key is not a member"));
                }
                self.members.remove(target);
                self.admins.remove(target);
            }
            Ok(EventType::AdminsAdded) => {
                if !self.is_admin(&from) {
                    return Err(deny("only an admin may add admins"));
                }
                if members.is_empty() || !members.iter().all(|m| self.is_member(m)) {
                    return Err(deny("admins must be members"));
                }
                self.admins.extend(members);
            }
            Ok(EventType::AdminRemoved) => {
                let [target] = members.as_slice() else {
                    return Err(deny("an admin removal names exactly one admin"));
                };
                if *target != from || !self.is_admin(&from) {
                    return Err(deny("an admin may only remove their own admin rights"));
                }
                self.admins.remove(target);
            }
            Ok(EventType::Unknown) | Err(_) => return Err(deny("unknown event type")),
        }
        self.clock = self.clock.max(ev.event.clock);
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        Err("the name is empty")
    } else if name.len() > MAX_NAME_BYTES {
        Err("the name is too long")
    } else {
        Ok(())
    }
}

/// Opens every event of a `MembershipUpdateMessage`; those that do not open are returned
/// apart. Refuses more than [`MAX_EVENTS`] events.
pub fn open_events(
    chat_id: &str,
    events: &[Vec<u8>],
) -> Result<(Vec<SignedEvent>, Vec<GroupError>), GroupError> {
    if events.len() > MAX_EVENTS {
        return Err(GroupError::TooManyEvents { count: events.len() });
    }
    chat_id_creator(chat_id)?;
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for wire in events {
        match open_event(chat_id, wire) {
            Ok(ev) => ok.push(ev),
            Err(e) => bad.push(e),
        }
    }
    Ok((ok, bad))
}

/// The text status-go v0.79 shows for `event` by `from` in the group chat (its system
/// messages: "@0x04… created the group NAME", "@0x04… has added @0x04…, @0x04…", ...);
/// `None` for an event kind without one.
pub fn system_message_text(event: &MembershipUpdateEvent, from: &PublicKey) -> Option<String> {
    let from = key_hex(from);
    let mentions = || event.members.iter().map(|m| format!("@{m}")).collect::<Vec<_>>().join(", ");
    let first = || event.members.first().map(|m| format!("@{m}"));
    Some(match EventType::try_from(event.r#type).ok()? {
        EventType::ChatCreated => format!("@{from} created the group {}", event.name),
        EventType::NameChanged => format!("@{from} changed the group's name to {}", event.name),
        EventType::MembersAdded => format!("@{from} has added {}", mentions()),
        EventType::MemberJoined => format!("@{from} joined the group"),
        EventType::AdminsAdded => format!("@{from} has made {} admin", mentions()),
        EventType::MemberRemoved => format!("{} left the group", first()?),
        EventType::AdminRemoved => format!("{} is not admin anymore", first()?),
        EventType::Unknown => return None,
    })
}
