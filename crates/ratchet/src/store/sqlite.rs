//! The SQLite store: WAL journal, `synchronous = FULL` (a committed batch survives a crash or
//! power loss), one transaction per [`Store::apply`], a schema version table.
//!
//! Tables are prefixed `ratchet_` so the store can share a database file (`messenger.sqlite`,
//! ARCHITECTURE §where data lives) with other layers.

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use wisp_crypto::{PublicKey, SecretKey, Zeroizing};

use super::{
    Installation, OwnPreKey, PeerPreKey, Role, SessionId, SessionRecord, SharedSecretRecord, Store,
    Write,
};
use crate::bundle::CompressedKey;
use crate::error::StoreError;
use crate::ratchet::{Chain, RatchetState};
use crate::topic::NegotiatedSecret;

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE ratchet_own_pre_keys (
    public BLOB NOT NULL PRIMARY KEY,
    installation_id TEXT NOT NULL,
    secret BLOB NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expired INTEGER NOT NULL
);
CREATE TABLE ratchet_peer_pre_keys (
    key BLOB NOT NULL PRIMARY KEY,
    identity BLOB NOT NULL,
    installation_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    protocol_version INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    expired INTEGER NOT NULL
);
CREATE INDEX ratchet_peer_pre_keys_identity ON ratchet_peer_pre_keys(identity);
CREATE TABLE ratchet_installations (
    identity BLOB NOT NULL,
    installation_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    PRIMARY KEY (identity, installation_id)
);
CREATE TABLE ratchet_sessions (
    identity BLOB NOT NULL,
    installation_id TEXT NOT NULL,
    bundle_id BLOB NOT NULL,
    shared_key BLOB NOT NULL,
    initiator INTEGER NOT NULL,
    ephemeral BLOB NOT NULL,
    confirmed INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    root_key BLOB NOT NULL,
    dhs BLOB NOT NULL,
    dhs_public BLOB NOT NULL,
    dhr BLOB,
    send_key BLOB NOT NULL,
    send_n INTEGER NOT NULL,
    recv_key BLOB NOT NULL,
    recv_n INTEGER NOT NULL,
    pn INTEGER NOT NULL,
    keys_count INTEGER NOT NULL,
    retired BLOB NOT NULL,
    PRIMARY KEY (identity, installation_id, bundle_id)
);
CREATE TABLE ratchet_skipped_keys (
    session BLOB NOT NULL,
    dh BLOB NOT NULL,
    n INTEGER NOT NULL,
    message_key BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (session, dh, n)
);
CREATE INDEX ratchet_skipped_keys_seq ON ratchet_skipped_keys(session, seq);
CREATE TABLE ratchet_shared_secrets (
    identity BLOB NOT NULL PRIMARY KEY,
    public_key BLOB NOT NULL,
    secret BLOB NOT NULL
);
CREATE TABLE ratchet_shared_secret_installations (
    identity BLOB NOT NULL,
    installation_id TEXT NOT NULL,
    PRIMARY KEY (identity, installation_id)
);
";

fn store_error(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |err| StoreError::with_source(format!("sqlite: {what}"), err)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::new(format!("sqlite: corrupt row in {what}"))
}

fn array<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes.try_into().map_err(|_| corrupt(what))
}

/// A [`Store`] in a SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(store_error("open"))?;
        Self::new(conn)
    }

    /// An in-memory database (not durable; for tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(store_error("open"))?;
        Self::new(conn)
    }

    /// Uses `conn`: sets WAL and full synchronisation, creates or checks the schema.
    pub fn new(mut conn: Connection) -> Result<Self, StoreError> {
        // In-memory databases answer "memory"; both are fine.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(store_error("journal_mode"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(store_error("synchronous"))?;
        let tx = conn.transaction().map_err(store_error("begin"))?;
        tx.execute("CREATE TABLE IF NOT EXISTS ratchet_schema (version INTEGER NOT NULL)", [])
            .map_err(store_error("schema table"))?;
        let version: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM ratchet_schema", [], |row| row.get(0))
            .map_err(store_error("schema version"))?;
        match version {
            None => {
                tx.execute_batch(SCHEMA_V1).map_err(store_error("create schema"))?;
                tx.execute("INSERT INTO ratchet_schema (version) VALUES (?1)", [SCHEMA_VERSION])
                    .map_err(store_error("schema version"))?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(StoreError::new(format!(
                    "sqlite: schema version {other}, this build knows {SCHEMA_VERSION}"
                )));
            }
        }
        tx.commit().map_err(store_error("commit"))?;
        Ok(Self { conn })
    }

    /// The connection, e.g. to inspect the tables or to change per-connection settings
    /// (`PRAGMA synchronous`) for a caller whose durability needs differ from this store's
    /// default.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT MAX(version) FROM ratchet_schema", [], |row| row.get(0))
            .map_err(store_error("schema version"))
    }

    fn session_from_row(row: &Row<'_>) -> rusqlite::Result<RawSession> {
        Ok(RawSession {
            identity: row.get(0)?,
            installation_id: row.get(1)?,
            bundle_id: row.get(2)?,
            shared_key: row.get(3)?,
            initiator: row.get(4)?,
            ephemeral: row.get(5)?,
            confirmed: row.get(6)?,
            created_at: row.get(7)?,
            root_key: row.get(8)?,
            dhs: row.get(9)?,
            dhs_public: row.get(10)?,
            dhr: row.get(11)?,
            send_key: row.get(12)?,
            send_n: row.get(13)?,
            recv_key: row.get(14)?,
            recv_n: row.get(15)?,
            pn: row.get(16)?,
            keys_count: row.get(17)?,
            retired: row.get(18)?,
        })
    }

    fn apply_one(tx: &Transaction<'_>, write: Write) -> Result<(), StoreError> {
        match write {
            Write::PutOwnPreKey(key) => {
                tx.execute(
                    "INSERT OR REPLACE INTO ratchet_own_pre_keys
                     (public, installation_id, secret, version, created_at, expired)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        &key.public[..],
                        key.installation_id,
                        &key.secret.to_bytes()[..],
                        key.version,
                        key.created_at,
                        key.expired
                    ],
                )
                .map_err(store_error("put own pre-key"))?;
            }
            Write::PutPeerPreKey(key) => {
                tx.execute(
                    "INSERT OR REPLACE INTO ratchet_peer_pre_keys
                     (key, identity, installation_id, version, protocol_version, timestamp, expired)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        &key.key[..],
                        &key.identity[..],
                        key.installation_id,
                        key.version,
                        key.protocol_version,
                        key.timestamp,
                        key.expired
                    ],
                )
                .map_err(store_error("put peer pre-key"))?;
            }
            Write::PutInstallation(installation) => {
                tx.execute(
                    "INSERT OR REPLACE INTO ratchet_installations
                     (identity, installation_id, version, enabled, timestamp)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        &installation.identity[..],
                        installation.id,
                        installation.version,
                        installation.enabled,
                        installation.timestamp
                    ],
                )
                .map_err(store_error("put installation"))?;
            }
            Write::PutSession(session) => {
                let (initiator, ephemeral, confirmed) = match session.role {
                    Role::Initiator { ephemeral, confirmed } => (true, ephemeral, confirmed),
                    Role::Responder { their_ephemeral } => (false, their_ephemeral, true),
                };
                let state = &session.state;
                let retired: Vec<u8> = state.retired.iter().flatten().copied().collect();
                tx.execute(
                    "INSERT OR REPLACE INTO ratchet_sessions
                     (identity, installation_id, bundle_id, shared_key, initiator, ephemeral,
                      confirmed, created_at, root_key, dhs, dhs_public, dhr, send_key, send_n,
                      recv_key, recv_n, pn, keys_count, retired)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18, ?19)",
                    params![
                        &session.id.identity[..],
                        session.id.installation_id,
                        &session.id.bundle_id[..],
                        &session.shared_key[..],
                        initiator,
                        &ephemeral[..],
                        confirmed,
                        session.created_at,
                        &state.root_key[..],
                        &state.dhs.to_bytes()[..],
                        &state.dhs_public[..],
                        state.dhr.as_ref().map(|k| k.to_vec()),
                        &state.send.key[..],
                        state.send.n,
                        &state.recv.key[..],
                        state.recv.n,
                        state.pn,
                        i64::try_from(state.keys_count).unwrap_or(i64::MAX),
                        retired
                    ],
                )
                .map_err(store_error("put session"))?;
            }
            Write::PutSkippedKeys { session, keys } => {
                let session_key = session.to_key();
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO ratchet_skipped_keys (session, dh, n, message_key, seq)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(store_error("put skipped keys"))?;
                for key in keys {
                    stmt.execute(params![
                        session_key,
                        &key.dh[..],
                        key.n,
                        &key.message_key[..],
                        i64::try_from(key.seq).unwrap_or(i64::MAX)
                    ])
                    .map_err(store_error("put skipped keys"))?;
                }
            }
            Write::DeleteSkippedKey { session, dh, n } => {
                tx.execute(
                    "DELETE FROM ratchet_skipped_keys WHERE session = ?1 AND dh = ?2 AND n = ?3",
                    params![session.to_key(), &dh[..], n],
                )
                .map_err(store_error("delete skipped key"))?;
            }
            Write::PruneSkippedKeys { session, delete_through_seq, keep_newest } => {
                let session_key = session.to_key();
                if let Some(through) = delete_through_seq {
                    tx.execute(
                        "DELETE FROM ratchet_skipped_keys WHERE session = ?1 AND seq <= ?2",
                        params![session_key, i64::try_from(through).unwrap_or(i64::MAX)],
                    )
                    .map_err(store_error("prune skipped keys"))?;
                }
                tx.execute(
                    "DELETE FROM ratchet_skipped_keys WHERE rowid IN (
                         SELECT rowid FROM ratchet_skipped_keys WHERE session = ?1
                         ORDER BY seq DESC LIMIT -1 OFFSET ?2)",
                    params![session_key, i64::try_from(keep_newest).unwrap_or(i64::MAX)],
                )
                .map_err(store_error("prune skipped keys"))?;
            }
            Write::PutSharedSecret(record) => {
                let identity = record.secret.identity.to_compressed();
                tx.execute(
                    "INSERT OR REPLACE INTO ratchet_shared_secrets (identity, public_key, secret)
                     VALUES (?1, ?2, ?3)",
                    params![
                        &identity[..],
                        &record.secret.identity.to_uncompressed()[..],
                        &record.secret.as_bytes()[..]
                    ],
                )
                .map_err(store_error("put shared secret"))?;
                tx.execute(
                    "DELETE FROM ratchet_shared_secret_installations WHERE identity = ?1",
                    params![&identity[..]],
                )
                .map_err(store_error("put shared secret"))?;
                for installation in &record.installations {
                    tx.execute(
                        "INSERT INTO ratchet_shared_secret_installations (identity, installation_id)
                         VALUES (?1, ?2)",
                        params![&identity[..], installation],
                    )
                    .map_err(store_error("put shared secret"))?;
                }
            }
        }
        Ok(())
    }

    fn secret_installations(&self, identity: &[u8]) -> Result<BTreeSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT installation_id FROM ratchet_shared_secret_installations WHERE identity = ?1",
            )
            .map_err(store_error("shared secret"))?;
        let rows = stmt
            .query_map([identity], |row| row.get::<_, String>(0))
            .map_err(store_error("shared secret"))?;
        rows.collect::<Result<_, _>>().map_err(store_error("shared secret"))
    }

    fn secret_from_row(
        &self,
        identity: Vec<u8>,
        public_key: Vec<u8>,
        secret: Vec<u8>,
    ) -> Result<SharedSecretRecord, StoreError> {
        let public_key =
            PublicKey::from_sec1(&public_key).map_err(|_| corrupt("ratchet_shared_secrets"))?;
        let secret = array::<32>(&secret, "ratchet_shared_secrets")?;
        Ok(SharedSecretRecord {
            secret: NegotiatedSecret::from_bytes(public_key, secret),
            installations: self.secret_installations(&identity)?,
        })
    }
}

/// A session row before its keys are checked.
struct RawSession {
    identity: Vec<u8>,
    installation_id: String,
    bundle_id: Vec<u8>,
    shared_key: Vec<u8>,
    initiator: bool,
    ephemeral: Vec<u8>,
    confirmed: bool,
    created_at: i64,
    root_key: Vec<u8>,
    dhs: Vec<u8>,
    dhs_public: Vec<u8>,
    dhr: Option<Vec<u8>>,
    send_key: Vec<u8>,
    send_n: u32,
    recv_key: Vec<u8>,
    recv_n: u32,
    pn: u32,
    keys_count: i64,
    retired: Vec<u8>,
}

impl RawSession {
    fn into_record(self) -> Result<SessionRecord, StoreError> {
        const WHAT: &str = "ratchet_sessions";
        let ephemeral = array::<33>(&self.ephemeral, WHAT)?;
        let role = if self.initiator {
            Role::Initiator { ephemeral, confirmed: self.confirmed }
        } else {
            Role::Responder { their_ephemeral: ephemeral }
        };
        let dhr = self.dhr.as_deref().map(|k| array::<33>(k, WHAT)).transpose()?;
        if !self.retired.len().is_multiple_of(33) {
            return Err(corrupt(WHAT));
        }
        let retired = self
            .retired
            .chunks(33)
            .map(|chunk| array::<33>(chunk, WHAT))
            .collect::<Result<Vec<_>, _>>()?;
        let state = RatchetState {
            root_key: array(&self.root_key, WHAT)?,
            dhs: SecretKey::from_bytes(&self.dhs).map_err(|_| corrupt(WHAT))?,
            dhs_public: array(&self.dhs_public, WHAT)?,
            dhr,
            send: Chain { key: array(&self.send_key, WHAT)?, n: self.send_n },
            recv: Chain { key: array(&self.recv_key, WHAT)?, n: self.recv_n },
            pn: self.pn,
            keys_count: u64::try_from(self.keys_count).map_err(|_| corrupt(WHAT))?,
            retired,
        };
        Ok(SessionRecord {
            id: SessionId {
                identity: array(&self.identity, WHAT)?,
                installation_id: self.installation_id,
                bundle_id: array(&self.bundle_id, WHAT)?,
            },
            shared_key: Zeroizing::new(array(&self.shared_key, WHAT)?),
            role,
            state,
            created_at: self.created_at,
        })
    }
}

const SESSION_COLUMNS: &str = "identity, installation_id, bundle_id, shared_key, initiator,
    ephemeral, confirmed, created_at, root_key, dhs, dhs_public, dhr, send_key, send_n,
    recv_key, recv_n, pn, keys_count, retired";

impl Store for SqliteStore {
    fn own_pre_keys(&self) -> Result<Vec<OwnPreKey>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT public, installation_id, secret, version, created_at, expired
                 FROM ratchet_own_pre_keys ORDER BY created_at",
            )
            .map_err(store_error("own pre-keys"))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, String>(1)?,
                    Zeroizing::new(row.get::<_, Vec<u8>>(2)?),
                    row.get::<_, u32>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, bool>(5)?,
                ))
            })
            .map_err(store_error("own pre-keys"))?;
        let mut keys = Vec::new();
        for row in rows {
            let (public, installation_id, secret, version, created_at, expired) =
                row.map_err(store_error("own pre-keys"))?;
            keys.push(OwnPreKey {
                installation_id,
                secret: SecretKey::from_bytes(&secret)
                    .map_err(|_| corrupt("ratchet_own_pre_keys"))?,
                public: array(&public, "ratchet_own_pre_keys")?,
                version,
                created_at,
                expired,
            });
        }
        Ok(keys)
    }

    fn peer_pre_keys(&self, identity: &CompressedKey) -> Result<Vec<PeerPreKey>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, installation_id, version, protocol_version, timestamp, expired
                 FROM ratchet_peer_pre_keys WHERE identity = ?1",
            )
            .map_err(store_error("peer pre-keys"))?;
        let rows = stmt
            .query_map([&identity[..]], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, u32>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, bool>(5)?,
                ))
            })
            .map_err(store_error("peer pre-keys"))?;
        let mut keys = Vec::new();
        for row in rows {
            let (key, installation_id, version, protocol_version, timestamp, expired) =
                row.map_err(store_error("peer pre-keys"))?;
            keys.push(PeerPreKey {
                identity: *identity,
                installation_id,
                key: array(&key, "ratchet_peer_pre_keys")?,
                version,
                protocol_version,
                timestamp,
                expired,
            });
        }
        Ok(keys)
    }

    fn installations(&self, identity: &CompressedKey) -> Result<Vec<Installation>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT installation_id, version, enabled, timestamp
                 FROM ratchet_installations WHERE identity = ?1 ORDER BY installation_id",
            )
            .map_err(store_error("installations"))?;
        let rows = stmt
            .query_map([&identity[..]], |row| {
                Ok(Installation {
                    identity: *identity,
                    id: row.get(0)?,
                    version: row.get(1)?,
                    enabled: row.get(2)?,
                    timestamp: row.get(3)?,
                })
            })
            .map_err(store_error("installations"))?;
        rows.collect::<Result<_, _>>().map_err(store_error("installations"))
    }

    fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM ratchet_sessions
                 WHERE identity = ?1 AND installation_id = ?2 AND bundle_id = ?3"
            ))
            .map_err(store_error("session"))?;
        let raw = stmt
            .query_row(
                params![&id.identity[..], id.installation_id, &id.bundle_id[..]],
                Self::session_from_row,
            )
            .optional()
            .map_err(store_error("session"))?;
        raw.map(RawSession::into_record).transpose()
    }

    fn sessions(
        &self,
        identity: &CompressedKey,
        installation_id: &str,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM ratchet_sessions
                 WHERE identity = ?1 AND installation_id = ?2"
            ))
            .map_err(store_error("sessions"))?;
        let rows = stmt
            .query_map(params![&identity[..], installation_id], Self::session_from_row)
            .map_err(store_error("sessions"))?;
        let mut sessions = Vec::new();
        for row in rows {
            sessions.push(row.map_err(store_error("sessions"))?.into_record()?);
        }
        Ok(sessions)
    }

    fn skipped_key(
        &self,
        session: &SessionId,
        dh: &CompressedKey,
        n: u32,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT message_key FROM ratchet_skipped_keys
                 WHERE session = ?1 AND dh = ?2 AND n = ?3",
            )
            .map_err(store_error("skipped key"))?;
        let key: Option<Zeroizing<Vec<u8>>> = stmt
            .query_row(params![session.to_key(), &dh[..], n], |row| {
                row.get::<_, Vec<u8>>(0).map(Zeroizing::new)
            })
            .optional()
            .map_err(store_error("skipped key"))?;
        key.map(|k| array::<32>(&k, "ratchet_skipped_keys").map(Zeroizing::new)).transpose()
    }

    fn skipped_key_count(&self, session: &SessionId) -> Result<usize, StoreError> {
        let count: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM ratchet_skipped_keys WHERE session = ?1",
                [session.to_key()],
                |row| row.get(0),
            )
            .map_err(store_error("skipped key count"))?;
        usize::try_from(count).map_err(|_| corrupt("ratchet_skipped_keys"))
    }

    fn shared_secret(
        &self,
        identity: &CompressedKey,
    ) -> Result<Option<SharedSecretRecord>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT public_key, secret FROM ratchet_shared_secrets WHERE identity = ?1",
                [&identity[..]],
                |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map_err(store_error("shared secret"))?;
        row.map(|(public_key, secret)| self.secret_from_row(identity.to_vec(), public_key, secret))
            .transpose()
    }

    fn shared_secrets(&self) -> Result<Vec<SharedSecretRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT identity, public_key, secret FROM ratchet_shared_secrets")
            .map_err(store_error("shared secrets"))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, Vec<u8>>(0)?,
                    row.get::<_, Vec<u8>>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(store_error("shared secrets"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_error("shared secrets"))?;
        rows.into_iter()
            .map(|(identity, public_key, secret)| {
                self.secret_from_row(identity, public_key, secret)
            })
            .collect()
    }

    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(store_error("begin"))?;
        for write in writes {
            Self::apply_one(&tx, write)?;
        }
        // Dropping an uncommitted transaction rolls it back: an error above changes nothing.
        tx.commit().map_err(store_error("commit"))
    }
}
