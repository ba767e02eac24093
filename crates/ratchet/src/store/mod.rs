//! Where the secure transport keeps its state: our signed pre-keys, the bundles and
//! installations of others, Double Ratchet sessions with their skipped message keys, and the
//! negotiated shared secrets.
//!
//! A [`Store`] answers reads and applies a batch of [`Write`]s atomically and durably
//! ([`Store::apply`]). The transport computes every change of an operation first, applies them
//! in one batch, and only then releases a plaintext or a ciphertext: a crash between two
//! operations never leaves a session half-updated, and a failed write changes nothing.
//!
//! Two implementations: [`MemoryStore`] and (feature `sqlite`) [`SqliteStore`].

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::BTreeSet;
use std::fmt;

use wisp_crypto::{PublicKey, SecretKey, Zeroizing};

pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION as SQLITE_SCHEMA_VERSION, SqliteStore};

use crate::bundle::CompressedKey;
use crate::error::StoreError;
use crate::ratchet::{RatchetState, SkippedKey};
use crate::topic::NegotiatedSecret;

/// One of our signed pre-keys, with its secret.
#[derive(Clone)]
pub struct OwnPreKey {
    /// Our installation the key belongs to.
    pub installation_id: String,
    /// The secret half.
    pub secret: SecretKey,
    /// The compressed public half (the bundle id of sessions started from it).
    pub public: CompressedKey,
    /// Version: 1 for the first key of the installation, +1 at each rotation.
    pub version: u32,
    /// When the key was created, Unix nanoseconds; it is rotated after
    /// [`crate::Config::bundle_refresh_interval`].
    pub created_at: i64,
    /// Rotated out: no longer advertised, nor used for new outgoing messages, but still used
    /// to answer sessions started from it.
    pub expired: bool,
}

impl fmt::Debug for OwnPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnPreKey")
            .field("installation_id", &self.installation_id)
            .field("public", &hex::encode(self.public))
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

/// A signed pre-key of another installation (of a contact, or one of our other devices),
/// learnt from a verified bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerPreKey {
    /// The owner's compressed identity key.
    pub identity: CompressedKey,
    /// The installation.
    pub installation_id: String,
    /// The compressed signed pre-key.
    pub key: CompressedKey,
    /// Its version.
    pub version: u32,
    /// The installation's protocol version.
    pub protocol_version: u32,
    /// The timestamp of the bundle it came in (Unix nanoseconds).
    pub timestamp: i64,
    /// Superseded by a higher version.
    pub expired: bool,
}

impl fmt::Debug for PeerPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerPreKey")
            .field("identity", &hex::encode(self.identity))
            .field("installation_id", &self.installation_id)
            .field("key", &hex::encode(self.key))
            .field("version", &self.version)
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

/// An installation (device) of an identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Installation {
    /// The owner's compressed identity key.
    pub identity: CompressedKey,
    /// The installation id.
    pub id: String,
    /// The highest protocol version seen for it.
    pub version: u32,
    /// Whether we send to it. Installations of others are enabled when first seen; our own
    /// other devices must be enabled explicitly (5/SECURE-TRANSPORT §pairing).
    pub enabled: bool,
    /// Timestamp of the newest bundle that listed it (Unix nanoseconds): the "last activity"
    /// by which at most [`crate::Config::max_installations`] are chosen.
    pub timestamp: i64,
}

impl fmt::Debug for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installation")
            .field("identity", &hex::encode(self.identity))
            .field("id", &self.id)
            .field("version", &self.version)
            .field("enabled", &self.enabled)
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// Names a session: the peer's identity and installation, and the bundle id (the signed
/// pre-key the session was started from, theirs if we initiated, ours if they did).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId {
    /// The peer's compressed identity key.
    pub identity: CompressedKey,
    /// The peer's installation id.
    pub installation_id: String,
    /// The bundle id.
    pub bundle_id: CompressedKey,
}

impl SessionId {
    /// status-go's session id: `bundle_id || utf8(installation_id)`.
    pub fn status_go_id(&self) -> Vec<u8> {
        let mut id = self.bundle_id.to_vec();
        id.extend_from_slice(self.installation_id.as_bytes());
        id
    }

    /// A unique byte key: `identity || bundle_id || utf8(installation_id)`.
    pub fn to_key(&self) -> Vec<u8> {
        let mut key = self.identity.to_vec();
        key.extend_from_slice(&self.bundle_id);
        key.extend_from_slice(self.installation_id.as_bytes());
        key
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionId")
            .field("identity", &hex::encode(self.identity))
            .field("installation_id", &self.installation_id)
            .field("bundle_id", &hex::encode(self.bundle_id))
            .finish()
    }
}

/// How a session started.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We ran X3DH with their bundle.
    Initiator {
        /// Our ephemeral key EK, sent in the X3DH header.
        ephemeral: CompressedKey,
        /// The peer has answered on this session: the X3DH header is no longer attached.
        confirmed: bool,
    },
    /// They ran X3DH with our bundle.
    Responder {
        /// Their ephemeral key EK, from the X3DH header.
        their_ephemeral: CompressedKey,
    },
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Initiator { ephemeral, confirmed } => f
                .debug_struct("Initiator")
                .field("ephemeral", &hex::encode(ephemeral))
                .field("confirmed", confirmed)
                .finish(),
            Self::Responder { their_ephemeral } => f
                .debug_struct("Responder")
                .field("their_ephemeral", &hex::encode(their_ephemeral))
                .finish(),
        }
    }
}

/// A Double Ratchet session with a peer installation.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// Its name.
    pub id: SessionId,
    /// The X3DH shared key SK; of two concurrent sessions, the one with the smaller SK is used
    /// (5/SECURE-TRANSPORT §concurrent sessions).
    pub shared_key: Zeroizing<[u8; 32]>,
    /// How it started.
    pub role: Role,
    /// The ratchet.
    pub state: RatchetState,
    /// When it was created, Unix nanoseconds.
    pub created_at: i64,
}

/// The shared secret with an identity and which of its installations have used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedSecretRecord {
    /// The secret (and the identity it is shared with).
    pub secret: NegotiatedSecret,
    /// Installations (of theirs, and ours, as status-go records them) that have agreed: when
    /// every installation a message targets is here, it goes on the negotiated topic.
    pub installations: BTreeSet<String>,
}

impl SharedSecretRecord {
    /// The identity the secret is shared with.
    pub fn identity(&self) -> &PublicKey {
        &self.secret.identity
    }
}

/// One change to a store; [`Store::apply`] applies a batch atomically.
#[derive(Clone, Debug)]
pub enum Write {
    /// Insert or replace one of our pre-keys (by public key).
    PutOwnPreKey(OwnPreKey),
    /// Insert or replace a peer pre-key (by key).
    PutPeerPreKey(PeerPreKey),
    /// Insert or replace an installation (by identity and id).
    PutInstallation(Installation),
    /// Insert or replace a session (by id).
    PutSession(Box<SessionRecord>),
    /// Store skipped message keys of a session.
    PutSkippedKeys {
        /// The session.
        session: SessionId,
        /// The keys.
        keys: Vec<SkippedKey>,
    },
    /// Delete one skipped message key (it has been used).
    DeleteSkippedKey {
        /// The session.
        session: SessionId,
        /// Remote ratchet key of the chain.
        dh: CompressedKey,
        /// Message number.
        n: u32,
    },
    /// Drop a session's oldest skipped keys: those with `seq <= delete_through_seq`, then all
    /// but the `keep_newest` newest.
    PruneSkippedKeys {
        /// The session.
        session: SessionId,
        /// Delete keys with a sequence number up to this one.
        delete_through_seq: Option<u64>,
        /// Keep at most this many keys.
        keep_newest: usize,
    },
    /// Insert or replace the shared secret with an identity.
    PutSharedSecret(SharedSecretRecord),
}

/// Storage of the secure transport's state.
///
/// Reads may be served from any consistent snapshot; [`Store::apply`] must apply a whole batch
/// or nothing, and be durable when it returns `Ok` (the transport releases plaintext only
/// then).
pub trait Store {
    /// All our signed pre-keys, expired or not.
    fn own_pre_keys(&self) -> Result<Vec<OwnPreKey>, StoreError>;
    /// The signed pre-keys known for an identity, expired or not.
    fn peer_pre_keys(&self, identity: &CompressedKey) -> Result<Vec<PeerPreKey>, StoreError>;
    /// The installations known for an identity.
    fn installations(&self, identity: &CompressedKey) -> Result<Vec<Installation>, StoreError>;
    /// One session.
    fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;
    /// All sessions with one installation of an identity.
    fn sessions(
        &self,
        identity: &CompressedKey,
        installation_id: &str,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// The stored skipped key of message `n` of the chain `dh` of a session.
    fn skipped_key(
        &self,
        session: &SessionId,
        dh: &CompressedKey,
        n: u32,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError>;
    /// How many skipped keys a session holds.
    fn skipped_key_count(&self, session: &SessionId) -> Result<usize, StoreError>;
    /// The shared secret with an identity.
    fn shared_secret(
        &self,
        identity: &CompressedKey,
    ) -> Result<Option<SharedSecretRecord>, StoreError>;
    /// All shared secrets (to install the negotiated-topic filters at start).
    fn shared_secrets(&self) -> Result<Vec<SharedSecretRecord>, StoreError>;
    /// Applies `writes` atomically and durably, in order.
    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError>;
}

impl<S: Store + ?Sized> Store for Box<S> {
    fn own_pre_keys(&self) -> Result<Vec<OwnPreKey>, StoreError> {
        (**self).own_pre_keys()
    }
    fn peer_pre_keys(&self, identity: &CompressedKey) -> Result<Vec<PeerPreKey>, StoreError> {
        (**self).peer_pre_keys(identity)
    }
    fn installations(&self, identity: &CompressedKey) -> Result<Vec<Installation>, StoreError> {
        (**self).installations(identity)
    }
    fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        (**self).session(id)
    }
    fn sessions(
        &self,
        identity: &CompressedKey,
        installation_id: &str,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        (**self).sessions(identity, installation_id)
    }
    fn skipped_key(
        &self,
        session: &SessionId,
        dh: &CompressedKey,
        n: u32,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        (**self).skipped_key(session, dh, n)
    }
    fn skipped_key_count(&self, session: &SessionId) -> Result<usize, StoreError> {
        (**self).skipped_key_count(session)
    }
    fn shared_secret(
        &self,
        identity: &CompressedKey,
    ) -> Result<Option<SharedSecretRecord>, StoreError> {
        (**self).shared_secret(identity)
    }
    fn shared_secrets(&self) -> Result<Vec<SharedSecretRecord>, StoreError> {
        (**self).shared_secrets()
    }
    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        (**self).apply(writes)
    }
}
