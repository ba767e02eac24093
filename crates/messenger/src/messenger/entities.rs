//! Emoji reactions (`EmojiReaction`, with retraction) and pinned messages (`PinMessage`) in
//! every kind of chat: sent as their own application messages (status-go `dispatchMessage`:
//! public chats in clear on the chat topic, 1:1 chats in MVDS over the ratchet, group chats
//! in MVDS to each member), stored per target message with the latest clock winning.

use wisp_crypto::PublicKey;
use wisp_mvds::GroupId;

use super::{
    AppType, ChatKind, DropReason, IncomingEnvelope, MessageType, Messenger, clock_acceptable,
    one_to_one_chat_id, peer_id,
};
use crate::error::{Error, Result};
use crate::group::{key_hex, parse_key_hex};
use crate::identity::{MessageId, SignedMessage};
use crate::proto::{EmojiReaction, Message as _, PinMessage, emoji_reaction};
use crate::store::{ChatEntity, EntityKind, MessageStore, StoredMessage};

/// A page of pinned messages with their pins, and the cursor of the next page (`None` at
/// the end): what [`Messenger::pinned_messages`] returns.
pub type PinnedPage = (Vec<(StoredMessage, ChatEntity)>, Option<String>);

/// Most reactions [`Messenger::reactions_page`] returns: 1000, as status-go's
/// `emojiReactionsByChatID`.
pub const MAX_REACTIONS: usize = 1000;

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// The reactions (`EntityKind::Reaction`) or pins (`EntityKind::Pin`) of chat `chat_id`.
    pub fn chat_entities(&self, chat_id: &str, kind: EntityKind) -> Result<Vec<ChatEntity>> {
        Ok(self.db.chat_entities(chat_id, kind)?)
    }

    /// The reactions (not withdrawn) on the messages of one page of chat `chat_id`: the page
    /// [`Messenger::chat_messages`] returns for the same `cursor` and `limit`, as status-go's
    /// `emojiReactionsByChatID` pairs with its `chatMessages`; at most [`MAX_REACTIONS`]
    /// (status-go's bound), newest reaction first.
    pub fn reactions_page(
        &self,
        chat_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChatEntity>> {
        let (page, _) = self.chat_messages(chat_id, cursor, limit)?;
        let ids: std::collections::HashSet<String> =
            page.iter().map(|m| m.id.to_string()).collect();
        let mut reactions: Vec<ChatEntity> = self
            .db
            .chat_entities(chat_id, EntityKind::Reaction)?
            .into_iter()
            .filter(|e| e.active && ids.contains(&e.target))
            .collect();
        reactions.sort_by_key(|e| std::cmp::Reverse((e.clock, e.id.0)));
        reactions.truncate(MAX_REACTIONS);
        Ok(reactions)
    }

    /// Up to `limit` pinned messages of chat `chat_id` with their pins, ordered as status-go's
    /// `chatPinnedMessages`: by the pinned message's clock, then id, newest first. `cursor`
    /// is `None` (or empty) for the first page, else the cursor of the previous page, in
    /// [`Messenger::chat_messages`]' format; the page holds the messages strictly older than
    /// it. The second value is the cursor of the next page (the last message returned),
    /// `None` when there are no more. Deleted messages and unpinned ones are left out.
    pub fn pinned_messages(
        &self,
        chat_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<PinnedPage> {
        let before = match cursor {
            None | Some("") => None,
            Some(cursor) => Some(super::parse_cursor(cursor)?),
        };
        let mut pinned = Vec::new();
        for pin in self.db.chat_entities(chat_id, EntityKind::Pin)? {
            if !pin.active {
                continue;
            }
            let Some(target) = super::parse_message_id(&pin.target) else { continue };
            let Some(message) = self.db.message(&target)? else { continue };
            if message.deleted || message.chat_id != chat_id {
                continue;
            }
            let key = (message.message.clock, message.id.0);
            if before.is_some_and(|(clock, id)| key >= (clock, id.0)) {
                continue;
            }
            pinned.push((message, pin));
        }
        pinned.sort_by_key(|(m, _)| std::cmp::Reverse((m.message.clock, m.id.0)));
        let limit = limit.min(super::MAX_PAGE);
        let next = if pinned.len() > limit {
            pinned.truncate(limit);
            pinned.last().map(|(m, _)| m.cursor())
        } else {
            None
        };
        Ok((pinned, next))
    }

    /// Reacts to message `target` of chat `chat_id` with `emoji` (status-go's types 1 to 6),
    /// or withdraws that reaction (`retract`). Returns the reaction's message id.
    pub fn send_reaction(
        &mut self,
        chat_id: &str,
        target: &MessageId,
        emoji: i32,
        retract: bool,
        now_ms: u64,
    ) -> Result<MessageId> {
        if emoji_reaction::Type::try_from(emoji).ok().is_none_or(|t| t as i32 == 0) {
            return Err(Error::InvalidInput { what: "emoji", reason: "is not a type from 1 to 6" });
        }
        let (kind, clock, wire_chat) = self.entity_target(chat_id, target, now_ms)?;
        let reaction = EmojiReaction {
            clock,
            chat_id: wire_chat,
            message_id: target.to_string(),
            message_type: kind as i32,
            r#type: emoji,
            retracted: retract,
            grant: Vec::new(),
        };
        let (signed, bytes) =
            SignedMessage::build(reaction.encode_to_vec(), AppType::EmojiReaction, &self.identity);
        let entity = ChatEntity {
            kind: EntityKind::Reaction,
            chat_id: chat_id.to_owned(),
            target: target.to_string(),
            from: self.public,
            value: emoji,
            active: !retract,
            clock,
            id: signed.id,
        };
        self.db.put_chat_entity(&entity)?;
        self.dispatch(chat_id, &bytes, signed.id, now_ms)?;
        Ok(signed.id)
    }

    /// Pins (or unpins) message `target` of chat `chat_id`. Returns the pin's message id.
    pub fn pin_message(
        &mut self,
        chat_id: &str,
        target: &MessageId,
        pinned: bool,
        now_ms: u64,
    ) -> Result<MessageId> {
        let (kind, clock, wire_chat) = self.entity_target(chat_id, target, now_ms)?;
        let pin = PinMessage {
            clock,
            message_id: target.to_string(),
            chat_id: wire_chat,
            pinned,
            message_type: kind as i32,
        };
        let (signed, bytes) =
            SignedMessage::build(pin.encode_to_vec(), AppType::PinMessage, &self.identity);
        let entity = ChatEntity {
            kind: EntityKind::Pin,
            chat_id: chat_id.to_owned(),
            target: target.to_string(),
            from: self.public,
            value: 0,
            active: pinned,
            clock,
            id: signed.id,
        };
        self.db.put_chat_entity(&entity)?;
        self.dispatch(chat_id, &bytes, signed.id, now_ms)?;
        Ok(signed.id)
    }

    /// Checks that `target` is a stored message of active chat `chat_id`; ticks the chat's
    /// clock; returns the message type, the clock and the chat id as the wire carries it
    /// (for 1:1 the other party's key, as status-go).
    fn entity_target(
        &mut self,
        chat_id: &str,
        target: &MessageId,
        now_ms: u64,
    ) -> Result<(MessageType, u64, String)> {
        self.now_ms = self.now_ms.max(now_ms);
        if self.db.message(target)?.is_none_or(|m| m.chat_id != chat_id) {
            return Err(Error::InvalidInput {
                what: "message id",
                reason: "is not a stored message of this chat",
            });
        }
        let chat = self
            .chats
            .get_mut(chat_id)
            .filter(|c| c.active)
            .ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        let clock = chat.clock.tick(now_ms);
        let stored = chat.stored(chat_id);
        let kind = match chat.kind {
            ChatKind::Public => MessageType::PublicGroup,
            ChatKind::OneToOne => MessageType::OneToOne,
            ChatKind::PrivateGroup => MessageType::PrivateGroup,
        };
        self.db.put_chat(&stored)?;
        Ok((kind, clock, chat_id.to_owned()))
    }

    /// Sends our signed application message `raw` to chat `chat_id`'s audience.
    fn dispatch(&mut self, chat_id: &str, raw: &[u8], id: MessageId, now_ms: u64) -> Result<()> {
        let chat = self
            .chats
            .get(chat_id)
            .cloned()
            .ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        self.remember(id);
        let peers: Vec<PublicKey> = match chat.kind {
            ChatKind::Public => return self.post_public(&chat, raw, id, now_ms),
            ChatKind::OneToOne => chat.peer.into_iter().collect(),
            ChatKind::PrivateGroup => {
                let me = key_hex(&self.public);
                self.group_state(chat_id)?
                    .map(|s| {
                        s.members
                            .keys()
                            .filter(|m| **m != me)
                            .filter_map(|m| parse_key_hex(m).ok())
                            .collect()
                    })
                    .unwrap_or_default()
            }
        };
        let seconds = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        for peer in peers {
            let group = GroupId::one_to_one(&self.public, &peer);
            let record = wisp_mvds::Message::new(group, seconds, raw.to_vec());
            self.mvds.add_peer(group, peer_id(&peer))?;
            self.mvds.send_message(record, None, now_ms)?;
        }
        self.flush_mvds(now_ms)
    }

    /// The local chat of a reaction or pin from `sender` naming `chat_id` of kind `kind`.
    fn entity_chat(
        &self,
        chat_id: &str,
        kind: i32,
        sender: &PublicKey,
        envelope: &IncomingEnvelope,
        encrypted: bool,
    ) -> std::result::Result<String, DropReason> {
        match MessageType::try_from(kind) {
            Ok(MessageType::PublicGroup) if !encrypted => self
                .chats
                .get(chat_id)
                .filter(|c| c.kind == ChatKind::Public && c.active && c.topic == envelope.topic)
                .map(|_| chat_id.to_owned())
                .ok_or(DropReason::Invalid),
            Ok(MessageType::OneToOne) if encrypted => {
                let id = one_to_one_chat_id(sender);
                if self.chats.contains_key(&id) { Ok(id) } else { Err(DropReason::Invalid) }
            }
            Ok(MessageType::PrivateGroup) if encrypted => {
                self.group_chat_for(chat_id, sender).map(|_| chat_id.to_owned())
            }
            _ => Err(DropReason::Invalid),
        }
    }

    /// A received `EmojiReaction`.
    pub(super) fn apply_reaction(
        &mut self,
        signed: &SignedMessage,
        reaction: EmojiReaction,
        envelope: &IncomingEnvelope,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        if !clock_acceptable(reaction.clock, envelope.timestamp) {
            return Err(DropReason::ClockTooFarAhead);
        }
        let known = emoji_reaction::Type::try_from(reaction.r#type).is_ok_and(|t| t as i32 != 0);
        if reaction.clock == 0 || reaction.message_id.len() != 66 || !known {
            return Err(DropReason::Invalid);
        }
        let chat = self.entity_chat(
            &reaction.chat_id,
            reaction.message_type,
            &signed.author,
            envelope,
            encrypted,
        )?;
        let entity = ChatEntity {
            kind: EntityKind::Reaction,
            chat_id: chat,
            target: reaction.message_id,
            from: signed.author,
            value: reaction.r#type,
            active: !reaction.retracted,
            clock: reaction.clock,
            id: signed.id,
        };
        self.db.put_chat_entity(&entity).map_err(|_| DropReason::Storage)?;
        self.counters.reactions += 1;
        self.event(super::Event::EntityChanged(Box::new(entity)));
        Ok(())
    }

    /// A received `PinMessage`.
    pub(super) fn apply_pin(
        &mut self,
        signed: &SignedMessage,
        pin: PinMessage,
        envelope: &IncomingEnvelope,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        if !clock_acceptable(pin.clock, envelope.timestamp) {
            return Err(DropReason::ClockTooFarAhead);
        }
        if pin.clock == 0 || pin.message_id.len() != 66 {
            return Err(DropReason::Invalid);
        }
        let chat =
            self.entity_chat(&pin.chat_id, pin.message_type, &signed.author, envelope, encrypted)?;
        let entity = ChatEntity {
            kind: EntityKind::Pin,
            chat_id: chat,
            target: pin.message_id,
            from: signed.author,
            value: 0,
            active: pin.pinned,
            clock: pin.clock,
            id: signed.id,
        };
        self.db.put_chat_entity(&entity).map_err(|_| DropReason::Storage)?;
        self.counters.pins += 1;
        self.event(super::Event::EntityChanged(Box::new(entity)));
        Ok(())
    }
}

// The media checks moved to `media.rs`; the group module still reaches them here.
pub(super) use super::media::media_acceptable;
