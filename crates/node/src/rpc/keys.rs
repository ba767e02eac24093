//! The keys clients keep in the node (9/WAKU-RPC: "the API is privileged as a node stores the
//! keys of clients"): symmetric keys and secp256k1 key pairs, each under a random id.
//!
//! Ids are 32 random bytes as 64 lowercase hex characters without `0x`, as status-go's
//! `GenerateRandomID`. Keys live only in memory and are wiped when deleted or dropped
//! ([`Zeroizing`], [`SecretKey`]).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use wisp_crypto::{SYMMETRIC_KEY_LEN, SecretKey, Zeroizing, random_bytes};

/// Random bytes in a key id (status-go `KeyIDSize`).
pub(crate) const KEY_ID_LEN: usize = 32;

/// A symmetric (AES-256-GCM) key.
pub(crate) type SymKey = Zeroizing<[u8; SYMMETRIC_KEY_LEN]>;

#[derive(Default)]
struct Keys {
    sym: HashMap<String, SymKey>,
    pairs: HashMap<String, SecretKey>,
}

/// Symmetric keys and key pairs by id. Cheap to share; the lock is never held across an
/// `await`.
#[derive(Default)]
pub(crate) struct KeyStore {
    keys: Mutex<Keys>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.lock();
        f.debug_struct("KeyStore")
            .field("sym_keys", &keys.sym.len())
            .field("key_pairs", &keys.pairs.len())
            .finish()
    }
}

/// A fresh id that `taken` does not hold.
pub(crate) fn new_id(taken: impl Fn(&str) -> bool) -> String {
    loop {
        let id = hex::encode(random_bytes::<KEY_ID_LEN>());
        if !taken(&id) {
            return id;
        }
    }
}

impl KeyStore {
    fn lock(&self) -> MutexGuard<'_, Keys> {
        // A panic while holding the lock cannot leave the maps half-updated.
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a key pair; returns its id.
    pub(crate) fn add_key_pair(&self, key: SecretKey) -> String {
        let mut keys = self.lock();
        let id = new_id(|id| keys.pairs.contains_key(id));
        keys.pairs.insert(id.clone(), key);
        id
    }

    /// The key pair with this id.
    pub(crate) fn key_pair(&self, id: &str) -> Option<SecretKey> {
        self.lock().pairs.get(id).cloned()
    }

    /// Whether a key pair has this id.
    pub(crate) fn has_key_pair(&self, id: &str) -> bool {
        self.lock().pairs.contains_key(id)
    }

    /// Deletes a key pair; `false` if there was none.
    pub(crate) fn delete_key_pair(&self, id: &str) -> bool {
        self.lock().pairs.remove(id).is_some()
    }

    /// Stores a symmetric key; returns its id.
    pub(crate) fn add_sym_key(&self, key: SymKey) -> String {
        let mut keys = self.lock();
        let id = new_id(|id| keys.sym.contains_key(id));
        keys.sym.insert(id.clone(), key);
        id
    }

    /// The symmetric key with this id.
    pub(crate) fn sym_key(&self, id: &str) -> Option<SymKey> {
        self.lock().sym.get(id).cloned()
    }

    /// Whether a symmetric key has this id.
    pub(crate) fn has_sym_key(&self, id: &str) -> bool {
        self.lock().sym.contains_key(id)
    }

    /// Deletes a symmetric key; `false` if there was none.
    pub(crate) fn delete_sym_key(&self, id: &str) -> bool {
        self.lock().sym.remove(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_lowercase_hex_and_keys_round_trip() {
        let store = KeyStore::default();
        let sym = store.add_sym_key(Zeroizing::new([7; 32]));
        assert_eq!(sym.len(), 64);
        assert!(sym.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_eq!(*store.sym_key(&sym).unwrap(), [7; 32]);
        assert!(store.has_sym_key(&sym));
        assert!(!store.has_key_pair(&sym), "the two kinds of keys have separate ids");
        assert!(store.delete_sym_key(&sym));
        assert!(!store.delete_sym_key(&sym));
        assert!(store.sym_key(&sym).is_none());

        let key = SecretKey::random();
        let pair = store.add_key_pair(key.clone());
        assert_ne!(pair, sym);
        assert_eq!(store.key_pair(&pair).unwrap().public_key(), key.public_key());
        assert!(store.delete_key_pair(&pair));
        assert!(!store.has_key_pair(&pair));
        assert!(format!("{store:?}").contains("key_pairs: 0"));
    }
}
