//! The node's state (2/MVDS "State"), behind the [`Store`] trait, and [`MemoryStore`].
//!
//! A store holds four things:
//! - group membership: which peers share each group;
//! - message bodies the node may still have to send (its own, until every peer acknowledged
//!   them or the node gave up);
//! - the ids of messages already handed to the application, so each is delivered once;
//! - the synchronisation state: one [`Record`] per (peer, message id, kind) for the kinds
//!   `OFFER`, `REQUEST` and `MESSAGE`, with its send count and send epoch. `ACK`s are never
//!   stored (2/MVDS: "state MUST NOT contain ACK records").

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use crate::error::Error;
use crate::wire::{GroupId, Message, MessageId};

/// A peer, as the layer above names it (for status-go: the 65-byte public key of an identity).
/// Opaque bytes to MVDS.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PeerId(pub Vec<u8>);

impl PeerId {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for PeerId {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}

impl From<Vec<u8>> for PeerId {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", hex::encode(&self.0))
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

/// The type of a stored record (2/MVDS "State": `OFFER`, `REQUEST` or `MESSAGE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// We offered the message to the peer (interactive mode).
    Offer = 1,
    /// We requested the message from the peer (interactive mode).
    Request = 2,
    /// We sent the full message to the peer.
    Message = 3,
}

impl RecordKind {
    /// The code stored in databases.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`RecordKind::code`].
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Offer),
            2 => Some(Self::Request),
            3 => Some(Self::Message),
            _ => None,
        }
    }
}

/// One record of synchronisation state for one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The peer the record is for.
    pub peer: PeerId,
    /// The message it is about.
    pub id: MessageId,
    /// `OFFER`, `REQUEST` or `MESSAGE`.
    pub kind: RecordKind,
    /// The message's group; unknown (`None`) for a `REQUEST`, which only has an offered id.
    pub group: Option<GroupId>,
    /// How many times the record has been sent (2/MVDS "Send Count").
    pub send_count: u32,
    /// When it is next due, in ms of the node's clock (2/MVDS "Send Epoch").
    pub send_epoch: u64,
}

/// Persistent state of an MVDS node. Implementations: [`MemoryStore`] and, with the `sqlite`
/// feature, `SqliteStore`.
///
/// The node brackets each of its operations with [`Store::begin`] and [`Store::commit`] (or
/// [`Store::rollback`] on error), so a transactional store applies an operation whole.
pub trait Store {
    /// Adds `peer` to `group`; `false` if it was already there.
    fn add_peer(&mut self, group: &GroupId, peer: &PeerId) -> Result<bool, Error>;
    /// Removes `peer` from `group`; `false` if it was not there.
    fn remove_peer(&mut self, group: &GroupId, peer: &PeerId) -> Result<bool, Error>;
    /// The peers of `group`, sorted.
    fn peers(&self, group: &GroupId) -> Result<Vec<PeerId>, Error>;

    /// Stores a message body under its id (replacing any).
    fn put_message(&mut self, id: &MessageId, message: &Message) -> Result<(), Error>;
    /// A stored message body.
    fn message(&self, id: &MessageId) -> Result<Option<Message>, Error>;
    /// Forgets a message body.
    fn remove_message(&mut self, id: &MessageId) -> Result<(), Error>;

    /// Remembers that `id` was delivered (or authored); `true` if it was new.
    fn mark_received(&mut self, id: &MessageId) -> Result<bool, Error>;
    /// Whether `id` was delivered (or authored) before.
    fn has_received(&self, id: &MessageId) -> Result<bool, Error>;

    /// The record for (peer, id, kind), if any.
    fn record(
        &self,
        peer: &PeerId,
        id: &MessageId,
        kind: RecordKind,
    ) -> Result<Option<Record>, Error>;
    /// Inserts or replaces the record with the same (peer, id, kind).
    fn put_record(&mut self, record: &Record) -> Result<(), Error>;
    /// Removes and returns the record for (peer, id, kind).
    fn remove_record(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        kind: RecordKind,
    ) -> Result<Option<Record>, Error>;
    /// Whether any record, for any peer, refers to `id`.
    fn has_records_for(&self, id: &MessageId) -> Result<bool, Error>;
    /// Every record with `send_epoch <= now`, ordered by (send epoch, peer, id, kind).
    fn due_records(&self, now: u64) -> Result<Vec<Record>, Error>;
    /// The smallest send epoch of all records.
    fn next_due(&self) -> Result<Option<u64>, Error>;
    /// How many records there are.
    fn record_count(&self) -> Result<usize, Error>;

    /// Starts an atomic group of changes. Default: nothing.
    fn begin(&mut self) -> Result<(), Error> {
        Ok(())
    }
    /// Applies the changes since [`Store::begin`]. Default: nothing.
    fn commit(&mut self) -> Result<(), Error> {
        Ok(())
    }
    /// Drops the changes since [`Store::begin`]. Default: nothing.
    fn rollback(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

type RecordKey = (PeerId, MessageId, RecordKind);

/// A [`Store`] in memory: for tests, simulations and nodes that need no persistence.
/// Deterministic: every listing is sorted.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    peers: BTreeMap<GroupId, BTreeSet<PeerId>>,
    messages: BTreeMap<MessageId, Message>,
    received: HashSet<MessageId>,
    records: BTreeMap<RecordKey, Record>,
    /// (send epoch, key): the due index.
    due: BTreeSet<(u64, RecordKey)>,
    /// Number of records per message id.
    per_message: BTreeMap<MessageId, usize>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored message bodies.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// Number of remembered delivered ids.
    pub fn received_count(&self) -> usize {
        self.received.len()
    }

    fn unindex(&mut self, record: &Record) {
        let key = (record.peer.clone(), record.id, record.kind);
        self.due.remove(&(record.send_epoch, key));
        if let Some(n) = self.per_message.get_mut(&record.id) {
            *n -= 1;
            if *n == 0 {
                self.per_message.remove(&record.id);
            }
        }
    }
}

impl Store for MemoryStore {
    fn add_peer(&mut self, group: &GroupId, peer: &PeerId) -> Result<bool, Error> {
        Ok(self.peers.entry(*group).or_default().insert(peer.clone()))
    }

    fn remove_peer(&mut self, group: &GroupId, peer: &PeerId) -> Result<bool, Error> {
        let Some(set) = self.peers.get_mut(group) else { return Ok(false) };
        let removed = set.remove(peer);
        if set.is_empty() {
            self.peers.remove(group);
        }
        Ok(removed)
    }

    fn peers(&self, group: &GroupId) -> Result<Vec<PeerId>, Error> {
        Ok(self.peers.get(group).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }

    fn put_message(&mut self, id: &MessageId, message: &Message) -> Result<(), Error> {
        self.messages.insert(*id, message.clone());
        Ok(())
    }

    fn message(&self, id: &MessageId) -> Result<Option<Message>, Error> {
        Ok(self.messages.get(id).cloned())
    }

    fn remove_message(&mut self, id: &MessageId) -> Result<(), Error> {
        self.messages.remove(id);
        Ok(())
    }

    fn mark_received(&mut self, id: &MessageId) -> Result<bool, Error> {
        Ok(self.received.insert(*id))
    }

    fn has_received(&self, id: &MessageId) -> Result<bool, Error> {
        Ok(self.received.contains(id))
    }

    fn record(
        &self,
        peer: &PeerId,
        id: &MessageId,
        kind: RecordKind,
    ) -> Result<Option<Record>, Error> {
        Ok(self.records.get(&(peer.clone(), *id, kind)).cloned())
    }

    fn put_record(&mut self, record: &Record) -> Result<(), Error> {
        let key = (record.peer.clone(), record.id, record.kind);
        if let Some(old) = self.records.insert(key.clone(), record.clone()) {
            self.unindex(&old);
        }
        self.due.insert((record.send_epoch, key));
        *self.per_message.entry(record.id).or_default() += 1;
        Ok(())
    }

    fn remove_record(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        kind: RecordKind,
    ) -> Result<Option<Record>, Error> {
        let old = self.records.remove(&(peer.clone(), *id, kind));
        if let Some(old) = &old {
            self.unindex(old);
        }
        Ok(old)
    }

    fn has_records_for(&self, id: &MessageId) -> Result<bool, Error> {
        Ok(self.per_message.contains_key(id))
    }

    fn due_records(&self, now: u64) -> Result<Vec<Record>, Error> {
        Ok(self
            .due
            .iter()
            .take_while(|(epoch, _)| *epoch <= now)
            .filter_map(|(_, key)| self.records.get(key).cloned())
            .collect())
    }

    fn next_due(&self) -> Result<Option<u64>, Error> {
        Ok(self.due.first().map(|(epoch, _)| *epoch))
    }

    fn record_count(&self) -> Result<usize, Error> {
        Ok(self.records.len())
    }
}

/// Tests any [`Store`] implementation against the contract the node relies on.
#[cfg(test)]
pub(crate) fn check_store_contract(store: &mut impl Store) {
    let g = GroupId([1; 32]);
    let (a, b) = (PeerId(vec![0xa]), PeerId(vec![0xb]));
    assert!(store.add_peer(&g, &b).unwrap());
    assert!(store.add_peer(&g, &a).unwrap());
    assert!(!store.add_peer(&g, &a).unwrap());
    assert_eq!(store.peers(&g).unwrap(), vec![a.clone(), b.clone()]);
    assert!(store.remove_peer(&g, &b).unwrap());
    assert!(!store.remove_peer(&g, &b).unwrap());
    assert_eq!(store.peers(&g).unwrap(), vec![a.clone()]);
    assert!(store.peers(&GroupId([2; 32])).unwrap().is_empty());

    let m = Message::new(g, 42, b"body".to_vec());
    let id = m.id();
    assert_eq!(store.message(&id).unwrap(), None);
    store.put_message(&id, &m).unwrap();
    assert_eq!(store.message(&id).unwrap(), Some(m.clone()));
    store.remove_message(&id).unwrap();
    assert_eq!(store.message(&id).unwrap(), None);

    assert!(!store.has_received(&id).unwrap());
    assert!(store.mark_received(&id).unwrap());
    assert!(!store.mark_received(&id).unwrap());
    assert!(store.has_received(&id).unwrap());

    let rec = |peer: &PeerId, kind, epoch| Record {
        peer: peer.clone(),
        id,
        kind,
        group: (kind != RecordKind::Request).then_some(g),
        send_count: 0,
        send_epoch: epoch,
    };
    assert_eq!(store.next_due().unwrap(), None);
    store.put_record(&rec(&a, RecordKind::Offer, 50)).unwrap();
    store.put_record(&rec(&b, RecordKind::Message, 10)).unwrap();
    store.put_record(&rec(&a, RecordKind::Request, 30)).unwrap();
    assert_eq!(store.record_count().unwrap(), 3);
    assert_eq!(store.next_due().unwrap(), Some(10));
    let due = store.due_records(30).unwrap();
    assert_eq!(due, vec![rec(&b, RecordKind::Message, 10), rec(&a, RecordKind::Request, 30)]);
    // Replacing moves the record in the due index.
    let mut moved = rec(&b, RecordKind::Message, 100);
    moved.send_count = 3;
    store.put_record(&moved).unwrap();
    assert_eq!(store.record_count().unwrap(), 3);
    assert_eq!(store.next_due().unwrap(), Some(30));
    assert_eq!(store.record(&b, &id, RecordKind::Message).unwrap(), Some(moved.clone()));
    assert_eq!(store.due_records(u64::MAX).unwrap().len(), 3);
    assert!(store.has_records_for(&id).unwrap());
    assert_eq!(store.remove_record(&b, &id, RecordKind::Message).unwrap(), Some(moved));
    assert_eq!(store.remove_record(&b, &id, RecordKind::Message).unwrap(), None);
    store.remove_record(&a, &id, RecordKind::Offer).unwrap();
    assert!(store.has_records_for(&id).unwrap());
    store.remove_record(&a, &id, RecordKind::Request).unwrap();
    assert!(!store.has_records_for(&id).unwrap());
    assert_eq!(store.next_due().unwrap(), None);
    assert_eq!(store.record_count().unwrap(), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_contract() {
        check_store_contract(&mut MemoryStore::new());
    }
}
