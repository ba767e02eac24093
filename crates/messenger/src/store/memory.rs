//! [`MemoryMessageStore`]: the message database in memory (tests, benchmarks, nodes that keep
//! nothing).

use std::collections::{BTreeMap, HashMap};

use wisp_waku::Topic;

use super::{
    HistoryRange, MessageStore, PendingMessage, StoreError, StoredChat, StoredMessage, older_than,
};
use crate::identity::MessageId;
use crate::messenger::DeliveryStatus;

/// A [`MessageStore`] in memory, lost on drop.
#[derive(Clone, Debug, Default)]
pub struct MemoryMessageStore {
    chats: BTreeMap<String, StoredChat>,
    pub(super) messages: HashMap<MessageId, (StoredMessage, Option<[u8; 32]>)>,
    /// Per chat, the message ids by (clock, id).
    order: HashMap<String, BTreeMap<(u64, MessageId), ()>>,
    history: HashMap<Topic, HistoryRange>,
    gaps: HashMap<Topic, Vec<HistoryRange>>,
    /// Contacts and installation metadata.
    pub(super) devices: super::devices::MemoryDevices,
    /// Per group chat, its signed events by (clock, signature || event).
    group_events: HashMap<String, BTreeMap<(u64, Vec<u8>), ()>>,
    /// Reactions and pins by key.
    entities: HashMap<String, super::ChatEntity>,
    /// Group chat invitations by id.
    invitations: HashMap<String, super::GroupInvitation>,
}

impl MemoryMessageStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn fill(&self, chat: &StoredChat) -> StoredChat {
        let mut chat = chat.clone();
        chat.unread_count = self
            .messages
            .values()
            .filter(|(m, _)| m.chat_id == chat.id && m.outgoing.is_none() && !m.seen && !m.deleted)
            .count() as u64;
        chat.last_message = self.chat_messages(&chat.id, None, 1).ok().and_then(|mut v| v.pop());
        chat
    }
}

impl MessageStore for MemoryMessageStore {
    fn chats(&self) -> Result<Vec<StoredChat>, StoreError> {
        Ok(self.chats.values().map(|c| self.fill(c)).collect())
    }

    fn chat(&self, id: &str) -> Result<Option<StoredChat>, StoreError> {
        Ok(self.chats.get(id).map(|c| self.fill(c)))
    }

    fn put_chat(&mut self, chat: &StoredChat) -> Result<(), StoreError> {
        let mut chat = chat.clone();
        chat.unread_count = 0;
        chat.last_message = None;
        self.chats.insert(chat.id.clone(), chat);
        Ok(())
    }

    fn delete_chat(&mut self, id: &str) -> Result<bool, StoreError> {
        let existed = self.chats.remove(id).is_some();
        if let Some(order) = self.order.remove(id) {
            for (_, message) in order.keys() {
                self.messages.remove(message);
            }
        }
        Ok(existed)
    }

    fn delete_chat_messages(&mut self, id: &str) -> Result<u64, StoreError> {
        let mut count = 0;
        for (message, _) in self.messages.values_mut() {
            if message.chat_id == id && !message.deleted {
                message.deleted = true;
                count += 1;
            }
        }
        Ok(count)
    }

    fn add_message(
        &mut self,
        chat: &StoredChat,
        message: &StoredMessage,
        mvds_id: Option<[u8; 32]>,
    ) -> Result<bool, StoreError> {
        if self.messages.contains_key(&message.id) {
            return Ok(false);
        }
        self.put_chat(chat)?;
        self.order
            .entry(message.chat_id.clone())
            .or_default()
            .insert((message.message.clock, message.id), ());
        self.messages.insert(message.id, (message.clone(), mvds_id));
        Ok(true)
    }

    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self.messages.get(id).map(|(m, _)| m.clone()))
    }

    fn has_message(&self, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.messages.contains_key(id))
    }

    fn mvds_id(&self, id: &MessageId) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.messages.get(id).and_then(|(_, mvds)| *mvds))
    }

    fn chat_messages(
        &self,
        chat_id: &str,
        before: Option<(u64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let Some(order) = self.order.get(chat_id) else {
            return Ok(Vec::new());
        };
        Ok(order
            .keys()
            .rev()
            .filter(|(clock, id)| older_than(*clock, id, before.as_ref()))
            .filter_map(|(_, id)| self.messages.get(id).map(|(m, _)| m))
            .filter(|m| !m.deleted)
            .take(limit)
            .cloned()
            .collect())
    }

    fn set_status(&mut self, id: &MessageId, status: DeliveryStatus) -> Result<bool, StoreError> {
        match self.messages.get_mut(id) {
            Some((message, _)) if message.outgoing.is_some() => {
                message.outgoing = Some(status);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn set_mvds_id(&mut self, id: &MessageId, mvds_id: [u8; 32]) -> Result<bool, StoreError> {
        match self.messages.get_mut(id) {
            Some((_, slot)) => {
                *slot = Some(mvds_id);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn pending(&self) -> Result<Vec<PendingMessage>, StoreError> {
        let mut pending: Vec<PendingMessage> = self
            .messages
            .values()
            .filter_map(|(m, mvds_id)| match m.outgoing {
                Some(status @ (DeliveryStatus::Sending | DeliveryStatus::Sent)) => {
                    Some(PendingMessage {
                        id: m.id,
                        chat_id: m.chat_id.clone(),
                        status,
                        mvds_id: *mvds_id,
                    })
                }
                _ => None,
            })
            .collect();
        pending.sort_by_key(|p| p.id);
        Ok(pending)
    }

    fn mark_seen(&mut self, chat_id: &str, ids: Option<&[MessageId]>) -> Result<u64, StoreError> {
        let mut count = 0;
        for (message, _) in self.messages.values_mut() {
            let chosen = ids.is_none_or(|ids| ids.contains(&message.id));
            if message.chat_id == chat_id && chosen && !message.seen {
                message.seen = true;
                if message.outgoing.is_none() && !message.deleted {
                    count += 1;
                }
            }
        }
        Ok(count)
    }

    fn set_deleted(&mut self, id: &MessageId) -> Result<bool, StoreError> {
        match self.messages.get_mut(id) {
            Some((message, _)) if !message.deleted => {
                message.deleted = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn history_range(&self, topic: &Topic) -> Result<Option<HistoryRange>, StoreError> {
        Ok(self.history.get(topic).copied())
    }

    fn set_history_range(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError> {
        self.history.insert(*topic, range);
        Ok(())
    }

    fn add_gap(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError> {
        let gaps = self.gaps.entry(*topic).or_default();
        if !gaps.contains(&range) {
            gaps.push(range);
            gaps.sort();
        }
        Ok(())
    }

    fn gaps(&self, topic: &Topic) -> Result<Vec<HistoryRange>, StoreError> {
        Ok(self.gaps.get(topic).cloned().unwrap_or_default())
    }

    fn group_events(&self, chat_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .group_events
            .get(chat_id)
            .map(|events| events.keys().map(|(_, wire)| wire.clone()).collect())
            .unwrap_or_default())
    }

    fn add_group_events(
        &mut self,
        chat_id: &str,
        events: &[(u64, Vec<u8>)],
    ) -> Result<usize, StoreError> {
        let stored = self.group_events.entry(chat_id.to_owned()).or_default();
        let mut added = 0;
        for (clock, wire) in events {
            let signature = wire.get(..crate::group::EVENT_SIGNATURE_LEN);
            let known =
                stored.keys().any(|(_, w)| w.get(..crate::group::EVENT_SIGNATURE_LEN) == signature);
            if !known {
                stored.insert((*clock, wire.clone()), ());
                added += 1;
            }
        }
        Ok(added)
    }

    fn put_group_invitation(
        &mut self,
        invitation: &super::GroupInvitation,
    ) -> Result<bool, StoreError> {
        if self.invitations.get(&invitation.id).is_some_and(|old| old.clock >= invitation.clock) {
            return Ok(false);
        }
        self.invitations.insert(invitation.id.clone(), invitation.clone());
        Ok(true)
    }

    fn group_invitation(&self, id: &str) -> Result<Option<super::GroupInvitation>, StoreError> {
        Ok(self.invitations.get(id).cloned())
    }

    fn group_invitations(&self) -> Result<Vec<super::GroupInvitation>, StoreError> {
        let mut all: Vec<_> = self.invitations.values().cloned().collect();
        all.sort_by(|a, b| (a.clock, &a.id).cmp(&(b.clock, &b.id)));
        Ok(all)
    }

    fn put_chat_entity(&mut self, entity: &super::ChatEntity) -> Result<bool, StoreError> {
        let key = entity.key();
        if self.entities.get(&key).is_some_and(|old| old.clock >= entity.clock) {
            return Ok(false);
        }
        self.entities.insert(key, entity.clone());
        Ok(true)
    }

    fn chat_entities(
        &self,
        chat_id: &str,
        kind: super::EntityKind,
    ) -> Result<Vec<super::ChatEntity>, StoreError> {
        let mut out: Vec<_> = self
            .entities
            .values()
            .filter(|e| e.chat_id == chat_id && e.kind == kind)
            .cloned()
            .collect();
        out.sort_by_key(|e| (e.clock, e.key()));
        Ok(out)
    }
}
