//! `messenger.sqlite`: one SQLCipher file per account holding the message database
//! (`messenger_*`), the secure-transport store (`ratchet_*`) and the MVDS store (`mvds_*`),
//! each through its own connection, all keyed with the same key.
//!
//! **Encryption at rest.** The file is a SQLCipher 4 database (rusqlite's
//! `bundled-sqlcipher`: pages encrypted with AES-256-CBC and authenticated with HMAC-SHA512,
//! as status-go's `accounts` and app databases are). Its 32-byte raw key is derived from the
//! account's chat private key:
//!
//! ```text
//! key = HKDF-SHA256(salt = "", ikm = chat private key (32 bytes), info = DATABASE_KEY_INFO)
//! ```
//!
//! so only the account's key (from its keystore, unlocked with its password) opens the file,
//! and no second secret has to be kept. The key is handed to SQLCipher as a raw key
//! (`PRAGMA key = "x'<64 hex>'"`, no PBKDF2 on every open) first thing on every connection,
//! then checked with a read of `sqlite_master`: a wrong key (another account, or a damaged
//! file) is [`StoreError::WrongKey`].

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use wisp_crypto::{SecretKey, Zeroizing, hkdf_sha256};

use crate::error::Result;
use crate::messenger::{Config, Messenger};
use crate::store::{SqliteMessageStore, StoreError};

/// The file name of the database in a node's data directory.
pub const DATABASE_FILE: &str = "messenger.sqlite";

/// The HKDF info string of the database key (see the module docs). Changing it makes every
/// existing database unreadable.
pub const DATABASE_KEY_INFO: &[u8] = b"wisp messenger.sqlite sqlcipher key v1";

/// How long a connection waits for another connection's write lock: 5 s.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A messenger whose three stores live in one `messenger.sqlite`.
pub type SqliteMessenger<R> =
    Messenger<wisp_ratchet::SqliteStore, wisp_mvds::SqliteStore, R, SqliteMessageStore>;

/// The SQLCipher key of `identity`'s database: HKDF-SHA256 of the chat private key with
/// [`DATABASE_KEY_INFO`].
pub fn database_key(identity: &SecretKey) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    let secret = identity.to_bytes();
    // 32 bytes is far below HKDF-SHA256's limit, so this cannot fail.
    if hkdf_sha256(&[], &secret[..], DATABASE_KEY_INFO, &mut key[..]).is_err() {
        unreachable!("HKDF-SHA256 refuses 32 bytes of output");
    }
    key
}

/// Opens (creating if needed) the SQLCipher database at `path` with the raw `key`: sets the
/// key first, checks it with a read, then sets the busy timeout. The connection can be given
/// to any of the three stores.
pub fn open_connection(path: &Path, key: &[u8; 32]) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|source| StoreError::Open { path: path.display().to_string(), source })?;
    // Built in place so that no copy of the key outlives the call.
    let mut pragma = Zeroizing::new(String::with_capacity(84));
    pragma.push_str("PRAGMA key = \"x'");
    for byte in key {
        let _ = write!(pragma, "{byte:02x}");
    }
    pragma.push_str("'\";");
    conn.execute_batch(&pragma).map_err(StoreError::sqlite("set key"))?;
    let check: rusqlite::Result<i64> =
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0));
    match check {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(StoreError::WrongKey { path: path.display().to_string() });
        }
        Err(source) => return Err(StoreError::Sqlite { what: "read with key", source }),
    }
    conn.busy_timeout(BUSY_TIMEOUT).map_err(StoreError::sqlite("busy_timeout"))?;
    Ok(conn)
}

/// The durability of the three connections of [`open_sqlite`], set after each store has
/// applied its own defaults: the file must be in WAL mode (each store asks for it; anything
/// else is [`StoreError::NotWal`]), and `synchronous` is [`SYNCHRONOUS`].
///
/// In WAL mode with `synchronous = NORMAL` a commit has been appended to the WAL, in the
/// operating system's cache, when it returns; the WAL is synced at checkpoints. So a
/// committed transaction survives the process being killed (kill -9, a panic, an OOM kill)
/// at any point, and the file is never corrupted; only an operating-system crash or power
/// loss can take back the last commits (all three stores roll back together to a consistent
/// older state of the same file). `FULL` would sync the WAL at every commit: several syncs
/// per message and ack, which made a 1:1 message with its ack on loopback several times
/// slower (crates/messenger/README.md has the figures). status-go runs its SQLCipher
/// databases the same way: WAL (its `sqlite` package) with the SQLCipher driver's default of
/// `synchronous = NORMAL`.
///
/// The ratchet store keeps `FULL` as its own default for other users; only the connections
/// opened here get `NORMAL`.
fn set_durability(path: &Path, conn: &Connection) -> Result<(), StoreError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(StoreError::sqlite("journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal { path: path.display().to_string(), mode });
    }
    conn.pragma_update(None, "synchronous", SYNCHRONOUS).map_err(StoreError::sqlite("synchronous"))
}

/// The `PRAGMA synchronous` of every connection [`open_sqlite`] opens: `NORMAL` (why: the
/// notes of `set_durability` in this module's source, summed up in [`open_sqlite`]).
pub const SYNCHRONOUS: &str = "NORMAL";

/// Opens `identity`'s messenger on the database at `path` (usually
/// `<data-dir>/`[`DATABASE_FILE`]), creating it if needed: derives the key
/// ([`database_key`]), opens the message, secure-transport and MVDS stores on three keyed
/// connections, and builds the messenger of installation `installation_id` with MVDS's
/// default (batch) configuration and jitter source `rng`. Call [`Messenger::start`] next.
///
/// Durability: all three connections use WAL with `synchronous = NORMAL` ([`SYNCHRONOUS`]):
/// a returned commit survives kill -9; an operating-system crash or power loss can lose the
/// last commits but never corrupts the file. The ratchet store's own default (`FULL`) is
/// overridden on its connection here only.
///
/// ```
/// use rand::{SeedableRng, rngs::StdRng};
/// use wisp_crypto::SecretKey;
/// use wisp_messenger::{Config, DATABASE_FILE, open_sqlite};
///
/// # fn main() -> Result<(), wisp_messenger::Error> {
/// let dir = std::env::temp_dir().join(format!("wisp-doc-open-sqlite-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let key = SecretKey::random();
/// let path = dir.join(DATABASE_FILE);
/// let mut messenger =
///     open_sqlite(&path, key.clone(), "laptop", Config::default(), StdRng::seed_from_u64(1))?;
/// messenger.start(1_800_000_000_000)?;
/// messenger.join_public_chat("status")?;
/// drop(messenger);
/// // Reopened: the chat is still there.
/// let messenger = open_sqlite(&path, key, "laptop", Config::default(), StdRng::seed_from_u64(1))?;
/// assert_eq!(messenger.chat_list()?.len(), 1);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub fn open_sqlite<R: rand_core::Rng>(
    path: &Path,
    identity: SecretKey,
    installation_id: &str,
    config: Config,
    rng: R,
) -> Result<SqliteMessenger<R>> {
    let key = database_key(&identity);
    let messages = SqliteMessageStore::from_connection(open_connection(path, &key)?)?;
    set_durability(path, messages.connection())?;
    let ratchet = wisp_ratchet::SqliteStore::new(open_connection(path, &key)?)
        .map_err(wisp_ratchet::Error::from)?;
    set_durability(path, ratchet.connection())?;
    let mvds_store = wisp_mvds::SqliteStore::from_connection(open_connection(path, &key)?)?;
    set_durability(path, mvds_store.connection())?;
    let transport = wisp_ratchet::SecureTransport::new(identity.clone(), installation_id, ratchet);
    let mvds = wisp_mvds::Node::new(wisp_mvds::Config::default(), mvds_store, rng);
    Messenger::new(identity, transport, mvds, messages, config)
}
