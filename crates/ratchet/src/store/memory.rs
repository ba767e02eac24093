//! The in-memory store.

use std::collections::BTreeMap;

use wisp_crypto::Zeroizing;

use super::{
    Installation, OwnPreKey, PeerPreKey, SessionId, SessionRecord, SharedSecretRecord, Store, Write,
};
use crate::bundle::CompressedKey;
use crate::error::StoreError;
use crate::ratchet::SkippedKey;

/// A [`Store`] in memory: for tests, the simulator and ephemeral accounts. `Clone` takes a
/// snapshot of the whole state.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    own_pre_keys: BTreeMap<CompressedKey, OwnPreKey>,
    peer_pre_keys: BTreeMap<CompressedKey, PeerPreKey>,
    installations: BTreeMap<(CompressedKey, String), Installation>,
    sessions: BTreeMap<SessionId, SessionRecord>,
    skipped: BTreeMap<SessionId, BTreeMap<(CompressedKey, u32), SkippedKey>>,
    secrets: BTreeMap<CompressedKey, SharedSecretRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn own_pre_keys(&self) -> Result<Vec<OwnPreKey>, StoreError> {
        Ok(self.own_pre_keys.values().cloned().collect())
    }

    fn peer_pre_keys(&self, identity: &CompressedKey) -> Result<Vec<PeerPreKey>, StoreError> {
        Ok(self.peer_pre_keys.values().filter(|k| &k.identity == identity).cloned().collect())
    }

    fn installations(&self, identity: &CompressedKey) -> Result<Vec<Installation>, StoreError> {
        Ok(self
            .installations
            .range((*identity, String::new())..)
            .take_while(|((id, _), _)| id == identity)
            .map(|(_, installation)| installation.clone())
            .collect())
    }

    fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions.get(id).cloned())
    }

    fn sessions(
        &self,
        identity: &CompressedKey,
        installation_id: &str,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        Ok(self
            .sessions
            .values()
            .filter(|s| &s.id.identity == identity && s.id.installation_id == installation_id)
            .cloned()
            .collect())
    }

    fn skipped_key(
        &self,
        session: &SessionId,
        dh: &CompressedKey,
        n: u32,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        Ok(self
            .skipped
            .get(session)
            .and_then(|keys| keys.get(&(*dh, n)))
            .map(|key| Zeroizing::new(key.message_key)))
    }

    fn skipped_key_count(&self, session: &SessionId) -> Result<usize, StoreError> {
        Ok(self.skipped.get(session).map_or(0, BTreeMap::len))
    }

    fn shared_secret(
        &self,
        identity: &CompressedKey,
    ) -> Result<Option<SharedSecretRecord>, StoreError> {
        Ok(self.secrets.get(identity).cloned())
    }

    fn shared_secrets(&self) -> Result<Vec<SharedSecretRecord>, StoreError> {
        Ok(self.secrets.values().cloned().collect())
    }

    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        // Nothing below can fail, so the batch is atomic.
        for write in writes {
            match write {
                Write::PutOwnPreKey(key) => {
                    self.own_pre_keys.insert(key.public, key);
                }
                Write::PutPeerPreKey(key) => {
                    self.peer_pre_keys.insert(key.key, key);
                }
                Write::PutInstallation(installation) => {
                    self.installations
                        .insert((installation.identity, installation.id.clone()), installation);
                }
                Write::PutSession(session) => {
                    self.sessions.insert(session.id.clone(), *session);
                }
                Write::PutSkippedKeys { session, keys } => {
                    let stored = self.skipped.entry(session).or_default();
                    for key in keys {
                        stored.insert((key.dh, key.n), key);
                    }
                }
                Write::DeleteSkippedKey { session, dh, n } => {
                    if let Some(stored) = self.skipped.get_mut(&session) {
                        stored.remove(&(dh, n));
                    }
                }
                Write::PruneSkippedKeys { session, delete_through_seq, keep_newest } => {
                    if let Some(stored) = self.skipped.get_mut(&session) {
                        if let Some(through) = delete_through_seq {
                            stored.retain(|_, key| key.seq > through);
                        }
                        if stored.len() > keep_newest {
                            let mut seqs: Vec<u64> = stored.values().map(|k| k.seq).collect();
                            seqs.sort_unstable_by(|a, b| b.cmp(a));
                            let cutoff = seqs[keep_newest];
                            stored.retain(|_, key| key.seq > cutoff);
                        }
                    }
                }
                Write::PutSharedSecret(record) => {
                    self.secrets.insert(record.secret.identity.to_compressed(), record);
                }
            }
        }
        Ok(())
    }
}
