//! Private group chats in the [`Messenger`] (7/GROUP-CHAT as status-go v0.79 runs it; the
//! event rules live in [`crate::group`]).
//!
//! - The group's signed events are the state: they are stored per chat
//!   ([`MessageStore::group_events`]) and replayed ([`GroupState::replay`]) whenever the
//!   state is needed, so a restart restores every group exactly.
//! - Every update we make (and every group message) is a `MembershipUpdateMessage` carrying
//!   the whole event log, signed as an `ApplicationMetadataMessage`, sent pairwise over the
//!   secure transport to each member but us (a removed member gets the removal too), and
//!   to our own enabled other installations when there are any.
//!   Membership updates alone go as plain ratchet messages (DECISIONS 17: create and join are
//!   not wrapped in MVDS, and we do the same for the other events); a group message is
//!   wrapped in MVDS per member, its embedded `ChatMessage` of type `PRIVATE_GROUP`.
//! - Received updates are merged into the stored log; events that do not open or are not
//!   allowed are refused and counted ([`Counters::group_events_rejected`]); an update for a
//!   group we are not (and never were) a member of is dropped as invalid.
//! - Every event applied (ours or received) leaves a system message in the chat, as
//!   status-go's `buildSystemMessages`: content type `SYSTEM_MESSAGE_CONTENT_PRIVATE_GROUP`,
//!   text from [`group::system_message_text`], id keccak256(event signature).

use wisp_crypto::PublicKey;
use wisp_mvds::GroupId;

use super::{
    AppType, Chat, ChatKind, ChatMessage, DeliveryStatus, DropReason, Event, IncomingEnvelope,
    LamportClock, MessageType, Messenger, peer_id, text_message, waku_topic,
};
use crate::error::{Error, Result};
use crate::group::{
    self, GroupState, SignedEvent, chat_id_creator, key_hex, open_event, parse_key_hex, sign_event,
};
use crate::identity::{MessageId, SignedMessage};
use crate::proto::chat_message::ContentType;
use crate::proto::{
    MembershipUpdateMessage, Message as _, membership_update_event::EventType,
    membership_update_message::ChatEntity,
};
use crate::store::{MessageStore, StoredMessage};

impl Chat {
    /// A private group chat `id`, named `name`.
    pub(super) fn group(id: &str, name: &str, now_ms: u64) -> Option<Self> {
        let creator = chat_id_creator(id).ok()?;
        Some(Self {
            kind: ChatKind::PrivateGroup,
            name: name.to_owned(),
            topic: waku_topic(wisp_ratchet::topic::partitioned_topic(&creator)),
            key: None,
            peer: None,
            clock: LamportClock::new(),
            active: true,
            timestamp_ms: now_ms,
            joined_ms: now_ms,
        })
    }
}

fn group_error(e: group::GroupError) -> Error {
    Error::InvalidInput { what: "group chat", reason: group_reason(&e) }
}

fn group_reason(e: &group::GroupError) -> &'static str {
    match e {
        group::GroupError::NotAllowed { reason, .. } => reason,
        group::GroupError::BadMember { .. } => "a member is not 0x<uncompressed public key hex>",
        group::GroupError::BadChatId { .. } => "the chat id is not <uuid>-0x<creator key>",
        _ => "the event is malformed",
    }
}

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// The state of group chat `chat_id`, replayed from its stored events; `None` for a chat
    /// without events.
    pub fn group_state(&self, chat_id: &str) -> Result<Option<GroupState>> {
        let events = self.stored_group_events(chat_id)?;
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some(GroupState::replay(chat_id, &events).0))
    }

    fn stored_group_events(&self, chat_id: &str) -> Result<Vec<SignedEvent>> {
        Ok(self
            .db
            .group_events(chat_id)?
            .iter()
            .filter_map(|wire| open_event(chat_id, wire).ok())
            .collect())
    }

    /// Our key as group chats name members.
    fn our_hex(&self) -> String {
        key_hex(&self.public)
    }

    /// Creates group chat `name` with `members` (their keys): `uuid` is 16 random bytes
    /// (made a version 4 UUID), so the chat id is `<uuid>-0x<our key>`. Sends the creation
    /// and the additions to every member. Returns the chat id.
    pub fn create_group_chat(
        &mut self,
        name: &str,
        members: &[PublicKey],
        uuid: [u8; 16],
        now_ms: u64,
    ) -> Result<String> {
        self.now_ms = self.now_ms.max(now_ms);
        let chat_id = group::group_chat_id(&group::uuid_v4(uuid), &self.public);
        if self.chats.contains_key(&chat_id) {
            return Err(Error::InvalidInput { what: "group chat", reason: "exists already" });
        }
        let mut chat = Chat::group(&chat_id, name, now_ms)
            .ok_or(Error::InvalidInput { what: "group chat", reason: "bad chat id" })?;
        let clock = chat.clock.tick(now_ms);
        let mut events = vec![group::event(EventType::ChatCreated, clock, vec![], name)];
        let others: Vec<String> =
            members.iter().filter(|m| **m != self.public).map(key_hex).collect();
        if !others.is_empty() {
            let clock = chat.clock.tick(now_ms);
            events.push(group::event(EventType::MembersAdded, clock, others, ""));
        }
        self.db.put_chat(&chat.stored(&chat_id))?;
        self.adopt_chat(&chat_id, chat, true);
        self.group_update(&chat_id, events, None, now_ms)?;
        Ok(chat_id)
    }

    /// Adds `members` to group chat `chat_id` (we must be an admin).
    pub fn add_group_members(
        &mut self,
        chat_id: &str,
        members: &[PublicKey],
        now_ms: u64,
    ) -> Result<()> {
        let members = members.iter().map(key_hex).collect();
        self.group_event(chat_id, EventType::MembersAdded, members, "", now_ms)
    }

    /// Removes `member` from group chat `chat_id` (we must be an admin, they not).
    pub fn remove_group_member(
        &mut self,
        chat_id: &str,
        member: &PublicKey,
        now_ms: u64,
    ) -> Result<()> {
        self.group_event(chat_id, EventType::MemberRemoved, vec![key_hex(member)], "", now_ms)
    }

    /// Makes `members` admins of group chat `chat_id`.
    pub fn add_group_admins(
        &mut self,
        chat_id: &str,
        members: &[PublicKey],
        now_ms: u64,
    ) -> Result<()> {
        let members = members.iter().map(key_hex).collect();
        self.group_event(chat_id, EventType::AdminsAdded, members, "", now_ms)
    }

    /// Renames group chat `chat_id`.
    pub fn rename_group_chat(&mut self, chat_id: &str, name: &str, now_ms: u64) -> Result<()> {
        self.group_event(chat_id, EventType::NameChanged, vec![], name, now_ms)
    }

    /// Accepts the invitation to group chat `chat_id` (status-go `ConfirmJoiningGroup`).
    pub fn confirm_joining_group(&mut self, chat_id: &str, now_ms: u64) -> Result<()> {
        self.group_event(chat_id, EventType::MemberJoined, vec![], "", now_ms)
    }

    /// Leaves group chat `chat_id` (our removal, sent to the others); with `remove`, the chat
    /// and its messages are deleted here too, else it stays, inactive.
    pub fn leave_group_chat(&mut self, chat_id: &str, remove: bool, now_ms: u64) -> Result<()> {
        let me = self.our_hex();
        self.group_event(chat_id, EventType::MemberRemoved, vec![me], "", now_ms)?;
        if remove {
            self.delete_chat(chat_id)?;
        }
        Ok(())
    }

    /// Declines the invitation to group chat `chat_id`: the chat is deleted here and nothing
    /// is sent (status-go v0.79 sends nothing either).
    pub fn decline_group_invitation(&mut self, chat_id: &str) -> Result<bool> {
        self.delete_chat(chat_id)
    }

    /// Adds group chat `chat_id` named `name` from an invitation link, before any of its
    /// events arrived (status-go `CreateGroupChatFromInvitation`): the chat exists, and the
    /// admin's membership update fills it in when it comes.
    pub fn create_group_chat_from_invitation(
        &mut self,
        chat_id: &str,
        name: &str,
        now_ms: u64,
    ) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        group::chat_id_creator(chat_id).map_err(group_error)?;
        if self.chats.contains_key(chat_id) {
            return Ok(());
        }
        let chat = Chat::group(chat_id, name, now_ms)
            .ok_or(Error::InvalidInput { what: "group chat", reason: "bad chat id" })?;
        self.db.put_chat(&chat.stored(chat_id))?;
        self.adopt_chat(chat_id, chat, true);
        Ok(())
    }

    /// The group chats we were added to and have not joined yet (the invitations waiting for
    /// the user), by id.
    pub fn group_invitations(&self) -> Result<Vec<String>> {
        let me = self.our_hex();
        let mut out = Vec::new();
        for (id, chat) in &self.chats {
            if chat.kind != ChatKind::PrivateGroup || !chat.active {
                continue;
            }
            if let Some(state) = self.group_state(id)?
                && state.is_member(&me)
                && !state.has_joined(&me)
            {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    fn group_event(
        &mut self,
        chat_id: &str,
        kind: EventType,
        members: Vec<String>,
        name: &str,
        now_ms: u64,
    ) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut chat = self
            .chats
            .get(chat_id)
            .filter(|c| c.kind == ChatKind::PrivateGroup)
            .cloned()
            .ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        let clock = chat.clock.tick(now_ms);
        self.chats.insert(chat_id.to_owned(), chat);
        let event = group::event(kind, clock, members, name);
        self.group_update(chat_id, vec![event], None, now_ms).map(|_| ())
    }

    /// Sends `text` to group chat `chat_id` (a reply to `response_to` if given).
    pub fn send_group_text(
        &mut self,
        chat_id: &str,
        text: &str,
        response_to: Option<&MessageId>,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.now_ms = self.now_ms.max(now_ms);
        self.validate_text(text)?;
        let mut message = text_message(0, now_ms, text, chat_id, MessageType::PrivateGroup);
        if let Some(original) = response_to {
            message.response_to = original.to_string();
        }
        self.send_group_message(chat_id, message, now_ms)
    }

    /// Sends a prepared `ChatMessage` (e.g. [`super::image_message`]; its clock, chat and
    /// type are set here, and its timestamp when it has none) to group chat `chat_id`.
    pub fn send_group_message(
        &mut self,
        chat_id: &str,
        mut message: ChatMessage,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.now_ms = self.now_ms.max(now_ms);
        if !super::entities::media_acceptable(&message) {
            return Err(Error::InvalidInput {
                what: "image or audio",
                reason: "is larger than 512 KiB",
            });
        }
        let mut chat = self
            .chats
            .get(chat_id)
            .filter(|c| c.kind == ChatKind::PrivateGroup && c.active)
            .cloned()
            .ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        message.clock = chat.clock.tick(now_ms);
        if message.timestamp == 0 {
            message.timestamp = now_ms;
        }
        message.chat_id = chat_id.to_owned();
        message.message_type = MessageType::PrivateGroup as i32;
        chat.timestamp_ms = chat.timestamp_ms.max(now_ms);
        self.chats.insert(chat_id.to_owned(), chat);
        self.group_update(chat_id, Vec::new(), Some(message), now_ms)?
            .ok_or(Error::InvalidInput { what: "group message", reason: "was not built" })
    }

    /// Signs `events`, checks them against the state, stores them, and sends the whole log
    /// (with `message`, if any) to every member but us; returns the stored message's id when
    /// a message was sent.
    fn group_update(
        &mut self,
        chat_id: &str,
        events: Vec<crate::proto::MembershipUpdateEvent>,
        message: Option<ChatMessage>,
        now_ms: u64,
    ) -> Result<Option<MessageId>> {
        let before = self.stored_group_events(chat_id)?;
        let (mut state, _, _) = GroupState::replay(chat_id, &before);
        let me = self.our_hex();
        let mut recipients: Vec<String> = Vec::new();
        let mut signed = Vec::new();
        for event in events {
            let ev = sign_event(chat_id, event, &self.identity);
            state.apply(&ev).map_err(group_error)?;
            // A removed member hears of their removal.
            if ev.event.r#type == EventType::MemberRemoved as i32 {
                recipients.extend(ev.event.members.iter().cloned());
            }
            signed.push(ev);
        }
        if message.is_some() && !state.is_member(&me) {
            return Err(Error::InvalidInput { what: "group message", reason: "we are no member" });
        }
        let new: Vec<(u64, Vec<u8>)> =
            signed.iter().map(|e| (e.event.clock, e.to_wire())).collect();
        self.db.add_group_events(chat_id, &new)?;
        if let Some(chat) = self.chats.get_mut(chat_id) {
            chat.name.clone_from(&state.name);
            chat.active = state.is_member(&me);
            let stored = chat.stored(chat_id);
            self.db.put_chat(&stored)?;
        }
        self.store_system_messages(chat_id, &signed, now_ms)?;
        if !signed.is_empty() {
            self.event(Event::GroupUpdated { chat_id: chat_id.to_owned(), events: signed });
        }
        recipients.extend(state.members.keys().cloned());
        recipients.sort();
        recipients.dedup();
        let peers: Vec<PublicKey> =
            recipients.iter().filter(|m| **m != me).filter_map(|m| parse_key_hex(m).ok()).collect();
        let all: Vec<Vec<u8>> =
            self.stored_group_events(chat_id)?.iter().map(SignedEvent::to_wire).collect();
        let update = MembershipUpdateMessage {
            chat_id: chat_id.to_owned(),
            events: all,
            chat_entity: message.clone().map(ChatEntity::Message),
        };
        let (signed_message, bytes) = SignedMessage::build(
            update.encode_to_vec(),
            AppType::MembershipUpdateMessage,
            &self.identity,
        );
        let Some(message) = message else {
            for peer in &peers {
                self.post_direct(peer, &bytes, Vec::new(), now_ms)?;
            }
            // Our paired devices follow the group too (status-go keeps our key among the
            // recipients while one is paired).
            self.post_to_own_devices(&bytes, now_ms)?;
            return Ok(None);
        };
        // A group message: stored, then wrapped in MVDS for each member.
        let chat = self
            .chats
            .get(chat_id)
            .cloned()
            .ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        let stored = self.outgoing(&signed_message, chat_id, message, bytes.clone(), now_ms);
        let records: Vec<(PublicKey, wisp_mvds::Message)> =
            peers.iter().map(|p| (*p, self.mvds_message(p, &stored))).collect();
        let first = records.first().map(|(_, r)| r.id().0);
        if !self.db.add_message(&chat.stored(chat_id), &stored, first)? {
            return Err(Error::InvalidInput { what: "message", reason: "was sent already" });
        }
        let id = signed_message.id;
        self.remember(id);
        self.statuses.insert(id, (chat_id.to_owned(), DeliveryStatus::Sending));
        self.event(Event::MessageStatus {
            id,
            chat_id: chat_id.to_owned(),
            status: DeliveryStatus::Sending,
        });
        for (peer, record) in records {
            self.mvds_ids.insert(record.id(), id);
            self.mvds.add_peer(GroupId::one_to_one(&self.public, &peer), peer_id(&peer))?;
            self.mvds.send_message(record, None, now_ms)?;
        }
        // The copy for our paired devices, kept out of the delivery status.
        self.copy_to_own_devices(&bytes, now_ms);
        self.flush_mvds(now_ms)?;
        Ok(Some(id))
    }

    /// Stores the system message of each of `events` (applied to group chat `chat_id`) in
    /// the chat, as status-go does: content type `SYSTEM_MESSAGE_CONTENT_PRIVATE_GROUP`, the
    /// event's clock and author, id keccak256(event signature) so that an event seen twice
    /// (replayed, or received again after a restart) stores one message.
    fn store_system_messages(
        &mut self,
        chat_id: &str,
        events: &[SignedEvent],
        now_ms: u64,
    ) -> Result<()> {
        let Some(chat) = self.chats.get(chat_id).map(|c| c.stored(chat_id)) else {
            return Ok(());
        };
        for ev in events {
            let Some(text) = group::system_message_text(&ev.event, &ev.from) else {
                continue;
            };
            let message = ChatMessage {
                clock: ev.event.clock,
                timestamp: now_ms,
                text,
                chat_id: chat_id.to_owned(),
                message_type: MessageType::SystemMessagePrivateGroup as i32,
                content_type: ContentType::SystemMessageContentPrivateGroup as i32,
                ..ChatMessage::default()
            };
            let stored = StoredMessage {
                id: ev.system_message_id(),
                chat_id: chat_id.to_owned(),
                from: ev.from,
                outgoing: None,
                seen: true,
                whisper_timestamp_ms: now_ms,
                message,
                raw: Vec::new(),
                deleted: false,
            };
            self.db.add_message(&chat, &stored, None)?;
        }
        Ok(())
    }

    /// The group chat a `PRIVATE_GROUP` message from `sender` belongs to: one of ours, both
    /// of us members.
    pub(super) fn group_chat_for(
        &self,
        chat_id: &str,
        sender: &PublicKey,
    ) -> std::result::Result<Chat, DropReason> {
        let chat = self
            .chats
            .get(chat_id)
            .filter(|c| c.kind == ChatKind::PrivateGroup)
            .ok_or(DropReason::Invalid)?;
        let state = self.group_state(chat_id).map_err(|_| DropReason::Storage)?;
        let state = state.ok_or(DropReason::Invalid)?;
        if !state.is_member(&key_hex(sender)) || !state.is_member(&self.our_hex()) {
            return Err(DropReason::Invalid);
        }
        Ok(chat.clone())
    }

    /// A `MembershipUpdateMessage` from `signed.author`: its events merged into the group's
    /// log, then its chat message (if any) applied.
    pub(super) fn apply_membership(
        &mut self,
        signed: &SignedMessage,
        raw: &[u8],
        update: MembershipUpdateMessage,
        envelope: &IncomingEnvelope,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        if !encrypted {
            return Err(DropReason::Invalid);
        }
        let chat_id = update.chat_id.clone();
        let (opened, bad) =
            group::open_events(&chat_id, &update.events).map_err(|_| DropReason::Invalid)?;
        self.counters.group_events_rejected += bad.len() as u64;
        let stored = self.stored_group_events(&chat_id).map_err(|_| DropReason::Storage)?;
        let known = |ev: &SignedEvent| stored.iter().any(|s| s.signature == ev.signature);
        let fresh: Vec<SignedEvent> = opened.into_iter().filter(|e| !known(e)).collect();
        let mut all = stored.clone();
        all.extend(fresh.iter().cloned());
        let (state, applied, rejected) = GroupState::replay(&chat_id, &all);
        let new_rejected = rejected.iter().filter(|r| !known(&r.event)).count();
        self.counters.group_events_rejected += new_rejected as u64;
        let me = self.our_hex();
        let existing = self.chats.get(&chat_id).filter(|c| c.kind == ChatKind::PrivateGroup);
        if existing.is_none() && !state.is_member(&me) {
            return Err(DropReason::Invalid);
        }
        let added: Vec<SignedEvent> = applied.into_iter().filter(|e| !known(e)).collect();
        let rows: Vec<(u64, Vec<u8>)> =
            added.iter().map(|e| (e.event.clock, e.to_wire())).collect();
        self.db.add_group_events(&chat_id, &rows).map_err(|_| DropReason::Storage)?;
        let (mut chat, new) = match existing {
            Some(chat) => (chat.clone(), false),
            None => {
                (Chat::group(&chat_id, &state.name, self.now_ms).ok_or(DropReason::Invalid)?, true)
            }
        };
        chat.name.clone_from(&state.name);
        chat.clock.observe(state.clock);
        chat.active = state.is_member(&me);
        self.db.put_chat(&chat.stored(&chat_id)).map_err(|_| DropReason::Storage)?;
        self.adopt_chat(&chat_id, chat, new);
        let now_ms = u64::from(envelope.timestamp) * 1000;
        self.store_system_messages(&chat_id, &added, now_ms).map_err(|_| DropReason::Storage)?;
        if !added.is_empty() {
            self.counters.group_updates += 1;
            self.event(Event::GroupUpdated { chat_id: chat_id.clone(), events: added });
        }
        match update.chat_entity {
            Some(ChatEntity::Message(message)) => {
                if message.chat_id != chat_id {
                    return Err(DropReason::Invalid);
                }
                self.apply_chat_message(signed, raw, message, envelope, true)?;
                self.counters.messages += 1;
            }
            Some(ChatEntity::EmojiReaction(_)) => self.counters.ignored += 1,
            None => {}
        }
        Ok(())
    }
}
