//! [`SqliteMessageStore`]: the message database in SQLite (the `messenger_*` tables of
//! `messenger.sqlite`), WAL journal, one transaction per write.
//!
//! `synchronous = NORMAL`: in WAL mode a commit is in the WAL (in the OS's cache) when it
//! returns, so it survives the process being killed at any point (kill -9); an OS crash or
//! power loss can lose the last commits, never corrupt the file. `FULL` (an fsync per commit)
//! made a public message 5 times slower end to end (benches/messenger.rs). MVDS uses `NORMAL`
//! too; the ratchet connection of [`crate::open_sqlite`] uses `FULL` (its "Durability" notes
//! say why).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, params};
use wisp_crypto::PublicKey;
use wisp_waku::Topic;

use super::{HistoryRange, MessageStore, PendingMessage, StoreError, StoredChat, StoredMessage};
use crate::identity::MessageId;
use crate::messenger::{ChatKind, DeliveryStatus};
use crate::proto::{self, ChatMessage, Message as _};

/// The schema version this build writes. A file with a higher version is refused with
/// [`StoreError::FutureSchema`].
pub const SCHEMA_VERSION: i64 = 5;

const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION, "one migration per version");

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE messenger_chats (
    id TEXT PRIMARY KEY NOT NULL,
    kind INTEGER NOT NULL,
    name TEXT NOT NULL,
    active INTEGER NOT NULL,
    last_clock_value INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    joined_ms INTEGER NOT NULL
);
CREATE TABLE messenger_messages (
    id BLOB PRIMARY KEY NOT NULL,
    chat_id TEXT NOT NULL,
    clock INTEGER NOT NULL,
    sender BLOB NOT NULL,
    outgoing_status INTEGER,
    seen INTEGER NOT NULL,
    whisper_timestamp_ms INTEGER NOT NULL,
    chat_message BLOB NOT NULL,
    raw BLOB NOT NULL,
    mvds_id BLOB,
    deleted INTEGER NOT NULL
);
CREATE INDEX messenger_messages_order ON messenger_messages (chat_id, clock, id);
CREATE INDEX messenger_messages_status ON messenger_messages (outgoing_status);
CREATE TABLE messenger_history (
    topic BLOB PRIMARY KEY NOT NULL,
    from_s INTEGER NOT NULL,
    to_s INTEGER NOT NULL
);
CREATE TABLE messenger_history_gaps (
    topic BLOB NOT NULL,
    from_s INTEGER NOT NULL,
    to_s INTEGER NOT NULL,
    PRIMARY KEY (topic, from_s, to_s)
);
",
    super::devices::MIGRATION_CONTACTS,
    "
CREATE TABLE messenger_group_events (
    chat_id TEXT NOT NULL,
    signature BLOB NOT NULL,
    clock INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (chat_id, signature)
);
CREATE TABLE messenger_chat_entities (
    key TEXT PRIMARY KEY NOT NULL,
    kind INTEGER NOT NULL,
    chat_id TEXT NOT NULL,
    target TEXT NOT NULL,
    sender BLOB NOT NULL,
    value INTEGER NOT NULL,
    active INTEGER NOT NULL,
    clock INTEGER NOT NULL,
    id BLOB NOT NULL
);
CREATE INDEX messenger_chat_entities_chat ON messenger_chat_entities (chat_id, kind, clock);
",
    "
CREATE TABLE messenger_group_invitations (
    id TEXT PRIMARY KEY NOT NULL,
    chat_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    introduction TEXT NOT NULL,
    state INTEGER NOT NULL,
    clock INTEGER NOT NULL
);
",
    super::devices::MIGRATION_OWN_PROFILE,
];

const MESSAGE_COLUMNS: &str = "id, chat_id, sender, outgoing_status, seen, whisper_timestamp_ms, \
                               chat_message, raw, deleted";

/// A [`MessageStore`] in a SQLite database (the SQLCipher file `messenger.sqlite` in a node).
#[derive(Debug)]
pub struct SqliteMessageStore {
    conn: Connection,
}

impl SqliteMessageStore {
    /// Opens (creating if needed) the SQLCipher database at `path` with `key` (see
    /// [`crate::db::open_connection`]) and creates or migrates the schema.
    pub fn open(path: &Path, key: &[u8; 32]) -> Result<Self, StoreError> {
        Self::from_connection(crate::db::open_connection(path, key)?)
    }

    /// A private in-memory database (for tests).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(StoreError::sqlite("open"))?;
        Self::from_connection(conn)
    }

    /// Uses an open (and, for an encrypted file, keyed) connection: sets WAL and
    /// `synchronous = NORMAL`, then creates or migrates the schema, refusing a newer one.
    pub fn from_connection(mut conn: Connection) -> Result<Self, StoreError> {
        // In-memory databases answer "memory"; both are fine.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(StoreError::sqlite("journal_mode"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(StoreError::sqlite("synchronous"))?;
        let tx = conn.transaction().map_err(StoreError::sqlite("begin"))?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS messenger_schema_version (version INTEGER NOT NULL)",
            [],
        )
        .map_err(StoreError::sqlite("schema version table"))?;
        let found: i64 = tx
            .query_row("SELECT COALESCE(MAX(version), 0) FROM messenger_schema_version", [], |r| {
                r.get(0)
            })
            .map_err(StoreError::sqlite("schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::FutureSchema { found, supported: SCHEMA_VERSION });
        }
        let start = usize::try_from(found).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
            tx.execute_batch(migration).map_err(StoreError::sqlite("migration"))?;
            let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
            tx.execute("INSERT INTO messenger_schema_version (version) VALUES (?1)", [version])
                .map_err(StoreError::sqlite("schema version"))?;
        }
        tx.commit().map_err(StoreError::sqlite("commit schema"))?;
        Ok(Self { conn })
    }

    /// The connection, e.g. to inspect the tables.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT COALESCE(MAX(version), 0) FROM messenger_schema_version", [], |r| {
                r.get(0)
            })
            .map_err(StoreError::sqlite("schema version"))
    }

    fn fill(&self, raw: RawChat) -> Result<StoredChat, StoreError> {
        let unread: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM messenger_messages WHERE chat_id = ?1 \
                 AND outgoing_status IS NULL AND seen = 0 AND deleted = 0",
                [&raw.id],
                |r| r.get(0),
            )
            .map_err(StoreError::sqlite("unread count"))?;
        let last_message = self.chat_messages(&raw.id, None, 1)?.pop();
        Ok(StoredChat {
            kind: match raw.kind {
                0 => ChatKind::Public,
                1 => ChatKind::OneToOne,
                2 => ChatKind::PrivateGroup,
                _ => return Err(StoreError::Corrupt { what: "chat kind", expected: "0 to 2" }),
            },
            id: raw.id,
            name: raw.name,
            active: raw.active,
            unread_count: u64::try_from(unread).unwrap_or(0),
            last_clock_value: from_sql(raw.last_clock_value),
            timestamp_ms: from_sql(raw.timestamp_ms),
            joined_ms: from_sql(raw.joined_ms),
            last_message,
        })
    }

    fn query_messages(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(StoreError::sqlite("prepare"))?;
        let rows = stmt
            .query_map(params, RawMessage::read)
            .map_err(StoreError::sqlite("read messages"))?;
        let mut messages = Vec::new();
        for row in rows {
            messages.push(row.map_err(StoreError::sqlite("read message"))?.decode()?);
        }
        Ok(messages)
    }
}

struct RawChat {
    id: String,
    kind: i64,
    name: String,
    active: bool,
    last_clock_value: i64,
    timestamp_ms: i64,
    joined_ms: i64,
}

impl RawChat {
    const COLUMNS: &'static str =
        "id, kind, name, active, last_clock_value, timestamp_ms, joined_ms";

    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            kind: row.get(1)?,
            name: row.get(2)?,
            active: row.get(3)?,
            last_clock_value: row.get(4)?,
            timestamp_ms: row.get(5)?,
            joined_ms: row.get(6)?,
        })
    }
}

struct RawMessage {
    id: Vec<u8>,
    chat_id: String,
    sender: Vec<u8>,
    status: Option<i64>,
    seen: bool,
    whisper_timestamp_ms: i64,
    chat_message: Vec<u8>,
    raw: Vec<u8>,
    deleted: bool,
}

impl RawMessage {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            chat_id: row.get(1)?,
            sender: row.get(2)?,
            status: row.get(3)?,
            seen: row.get(4)?,
            whisper_timestamp_ms: row.get(5)?,
            chat_message: row.get(6)?,
            raw: row.get(7)?,
            deleted: row.get(8)?,
        })
    }

    fn decode(self) -> Result<StoredMessage, StoreError> {
        let id = message_id(&self.id)?;
        let from = PublicKey::from_sec1(&self.sender).map_err(|_| StoreError::Corrupt {
            what: "message sender",
            expected: "a 65-byte secp256k1 public key",
        })?;
        let outgoing = self.status.map(status_from_code).transpose()?;
        if self.chat_message.len() > proto::MAX_PAYLOAD_BYTES {
            return Err(StoreError::Corrupt {
                what: "chat message",
                expected: "a ChatMessage within the payload limit",
            });
        }
        let message = ChatMessage::decode(&self.chat_message[..]).map_err(|_| {
            StoreError::Corrupt { what: "chat message", expected: "an encoded ChatMessage" }
        })?;
        Ok(StoredMessage {
            id,
            chat_id: self.chat_id,
            from,
            outgoing,
            seen: self.seen,
            whisper_timestamp_ms: from_sql(self.whisper_timestamp_ms),
            message,
            raw: self.raw,
            deleted: self.deleted,
        })
    }
}

fn message_id(bytes: &[u8]) -> Result<MessageId, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(MessageId)
        .map_err(|_| StoreError::Corrupt { what: "message id", expected: "32 bytes" })
}

fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn status_code(status: DeliveryStatus) -> i64 {
    match status {
        DeliveryStatus::Sending => 0,
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Expired => 3,
    }
}

fn status_from_code(code: i64) -> Result<DeliveryStatus, StoreError> {
    Ok(match code {
        0 => DeliveryStatus::Sending,
        1 => DeliveryStatus::Sent,
        2 => DeliveryStatus::Delivered,
        3 => DeliveryStatus::Expired,
        _ => return Err(StoreError::Corrupt { what: "delivery status", expected: "0 to 3" }),
    })
}

fn kind_code(kind: ChatKind) -> i64 {
    match kind {
        ChatKind::Public => 0,
        ChatKind::OneToOne => 1,
        ChatKind::PrivateGroup => 2,
    }
}

fn put_chat(conn: &Connection, chat: &StoredChat) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO messenger_chats (id, kind, name, active, last_clock_value, timestamp_ms, \
         joined_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET \
         kind = excluded.kind, name = excluded.name, active = excluded.active, \
         last_clock_value = excluded.last_clock_value, timestamp_ms = excluded.timestamp_ms, \
         joined_ms = excluded.joined_ms",
        params![
            chat.id,
            kind_code(chat.kind),
            chat.name,
            chat.active,
            to_sql(chat.last_clock_value),
            to_sql(chat.timestamp_ms),
            to_sql(chat.joined_ms),
        ],
    )
    .map_err(StoreError::sqlite("write chat"))?;
    Ok(())
}

impl MessageStore for SqliteMessageStore {
    fn chats(&self) -> Result<Vec<StoredChat>, StoreError> {
        let raws = {
            let sql = format!("SELECT {} FROM messenger_chats ORDER BY id", RawChat::COLUMNS);
            let mut stmt = self.conn.prepare(&sql).map_err(StoreError::sqlite("prepare"))?;
            let rows =
                stmt.query_map([], RawChat::read).map_err(StoreError::sqlite("read chats"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::sqlite("read chat"))?
        };
        raws.into_iter().map(|raw| self.fill(raw)).collect()
    }

    fn chat(&self, id: &str) -> Result<Option<StoredChat>, StoreError> {
        let sql = format!("SELECT {} FROM messenger_chats WHERE id = ?1", RawChat::COLUMNS);
        let raw = self
            .conn
            .query_row(&sql, [id], RawChat::read)
            .optional()
            .map_err(StoreError::sqlite("read chat"))?;
        raw.map(|raw| self.fill(raw)).transpose()
    }

    fn put_chat(&mut self, chat: &StoredChat) -> Result<(), StoreError> {
        put_chat(&self.conn, chat)
    }

    fn delete_chat(&mut self, id: &str) -> Result<bool, StoreError> {
        let tx = self.conn.transaction().map_err(StoreError::sqlite("begin"))?;
        tx.execute("DELETE FROM messenger_messages WHERE chat_id = ?1", [id])
            .map_err(StoreError::sqlite("delete messages"))?;
        let removed = tx
            .execute("DELETE FROM messenger_chats WHERE id = ?1", [id])
            .map_err(StoreError::sqlite("delete chat"))?;
        tx.commit().map_err(StoreError::sqlite("commit"))?;
        Ok(removed > 0)
    }

    fn delete_chat_messages(&mut self, id: &str) -> Result<u64, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE messenger_messages SET deleted = 1 WHERE chat_id = ?1 AND deleted = 0",
                [id],
            )
            .map_err(StoreError::sqlite("delete messages"))?;
        Ok(n as u64)
    }

    fn add_message(
        &mut self,
        chat: &StoredChat,
        message: &StoredMessage,
        mvds_id: Option<[u8; 32]>,
    ) -> Result<bool, StoreError> {
        let tx = self.conn.transaction().map_err(StoreError::sqlite("begin"))?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO messenger_messages (id, chat_id, clock, sender, \
                 outgoing_status, seen, whisper_timestamp_ms, chat_message, raw, mvds_id, \
                 deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    &message.id.0[..],
                    message.chat_id,
                    to_sql(message.message.clock),
                    &message.from.to_uncompressed()[..],
                    message.outgoing.map(status_code),
                    message.seen,
                    to_sql(message.whisper_timestamp_ms),
                    message.message.encode_to_vec(),
                    message.raw,
                    mvds_id.as_ref().map(|id| &id[..]),
                    message.deleted,
                ],
            )
            .map_err(StoreError::sqlite("write message"))?;
        if inserted == 0 {
            return Ok(false);
        }
        put_chat(&tx, chat)?;
        tx.commit().map_err(StoreError::sqlite("commit message"))?;
        Ok(true)
    }

    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messenger_messages WHERE id = ?1");
        Ok(self.query_messages(&sql, [&id.0[..]])?.pop())
    }

    fn has_message(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT 1 FROM messenger_messages WHERE id = ?1", [&id.0[..]], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(StoreError::sqlite("read message"))
    }

    fn mvds_id(&self, id: &MessageId) -> Result<Option<[u8; 32]>, StoreError> {
        let found: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT mvds_id FROM messenger_messages WHERE id = ?1", [&id.0[..]], |r| {
                r.get(0)
            })
            .optional()
            .map_err(StoreError::sqlite("read mvds id"))?;
        found
            .flatten()
            .map(|bytes| {
                <[u8; 32]>::try_from(&bytes[..])
                    .map_err(|_| StoreError::Corrupt { what: "mvds id", expected: "32 bytes" })
            })
            .transpose()
    }

    fn chat_messages(
        &self,
        chat_id: &str,
        before: Option<(u64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match before {
            None => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messenger_messages WHERE chat_id = ?1 \
                     AND deleted = 0 ORDER BY clock DESC, id DESC LIMIT ?2"
                );
                self.query_messages(&sql, params![chat_id, limit])
            }
            Some((clock, id)) => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messenger_messages WHERE chat_id = ?1 \
                     AND deleted = 0 AND (clock < ?2 OR (clock = ?2 AND id < ?3)) \
                     ORDER BY clock DESC, id DESC LIMIT ?4"
                );
                self.query_messages(&sql, params![chat_id, to_sql(clock), &id.0[..], limit])
            }
        }
    }

    fn set_status(&mut self, id: &MessageId, status: DeliveryStatus) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE messenger_messages SET outgoing_status = ?2 \
                 WHERE id = ?1 AND outgoing_status IS NOT NULL",
                params![&id.0[..], status_code(status)],
            )
            .map_err(StoreError::sqlite("write status"))?;
        Ok(n > 0)
    }

    fn set_mvds_id(&mut self, id: &MessageId, mvds_id: [u8; 32]) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE messenger_messages SET mvds_id = ?2 WHERE id = ?1",
                params![&id.0[..], &mvds_id[..]],
            )
            .map_err(StoreError::sqlite("write mvds id"))?;
        Ok(n > 0)
    }

    fn pending(&self) -> Result<Vec<PendingMessage>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, chat_id, outgoing_status, mvds_id FROM messenger_messages \
                 WHERE outgoing_status IN (0, 1) ORDER BY id",
            )
            .map_err(StoreError::sqlite("prepare"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                ))
            })
            .map_err(StoreError::sqlite("read pending"))?;
        let mut pending = Vec::new();
        for row in rows {
            let (id, chat_id, status, mvds_id) = row.map_err(StoreError::sqlite("read pending"))?;
            let mvds_id = mvds_id
                .map(|bytes| {
                    <[u8; 32]>::try_from(&bytes[..])
                        .map_err(|_| StoreError::Corrupt { what: "mvds id", expected: "32 bytes" })
                })
                .transpose()?;
            pending.push(PendingMessage {
                id: message_id(&id)?,
                chat_id,
                status: status_from_code(status)?,
                mvds_id,
            });
        }
        Ok(pending)
    }

    fn mark_seen(&mut self, chat_id: &str, ids: Option<&[MessageId]>) -> Result<u64, StoreError> {
        const COUNTED: &str = "outgoing_status IS NULL AND deleted = 0";
        let tx = self.conn.transaction().map_err(StoreError::sqlite("begin"))?;
        let mut count = 0u64;
        match ids {
            None => {
                count += tx
                    .query_row(
                        &format!(
                            "SELECT COUNT(*) FROM messenger_messages WHERE chat_id = ?1 \
                             AND seen = 0 AND {COUNTED}"
                        ),
                        [chat_id],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_err(StoreError::sqlite("count unread"))?
                    .max(0) as u64;
                tx.execute(
                    "UPDATE messenger_messages SET seen = 1 WHERE chat_id = ?1 AND seen = 0",
                    [chat_id],
                )
                .map_err(StoreError::sqlite("mark seen"))?;
            }
            Some(ids) => {
                for id in ids {
                    let counted: bool = tx
                        .query_row(
                            &format!(
                                "SELECT {COUNTED} FROM messenger_messages WHERE id = ?1 \
                                 AND chat_id = ?2 AND seen = 0"
                            ),
                            params![&id.0[..], chat_id],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(StoreError::sqlite("read message"))?
                        .unwrap_or(false);
                    let changed = tx
                        .execute(
                            "UPDATE messenger_messages SET seen = 1 WHERE id = ?1 \
                             AND chat_id = ?2 AND seen = 0",
                            params![&id.0[..], chat_id],
                        )
                        .map_err(StoreError::sqlite("mark seen"))?;
                    if changed > 0 && counted {
                        count += 1;
                    }
                }
            }
        }
        tx.commit().map_err(StoreError::sqlite("commit"))?;
        Ok(count)
    }

    fn set_deleted(&mut self, id: &MessageId) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE messenger_messages SET deleted = 1 WHERE id = ?1 AND deleted = 0",
                [&id.0[..]],
            )
            .map_err(StoreError::sqlite("delete message"))?;
        Ok(n > 0)
    }

    fn history_range(&self, topic: &Topic) -> Result<Option<HistoryRange>, StoreError> {
        self.conn
            .query_row(
                "SELECT from_s, to_s FROM messenger_history WHERE topic = ?1",
                [&topic.0[..]],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(StoreError::sqlite("read history range"))?
            .map(|(from, to)| seconds_range(from, to))
            .transpose()
    }

    fn set_history_range(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO messenger_history (topic, from_s, to_s) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(topic) DO UPDATE SET from_s = excluded.from_s, to_s = excluded.to_s",
                params![&topic.0[..], range.from, range.to],
            )
            .map_err(StoreError::sqlite("write history range"))?;
        Ok(())
    }

    fn add_gap(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO messenger_history_gaps (topic, from_s, to_s) \
                 VALUES (?1, ?2, ?3)",
                params![&topic.0[..], range.from, range.to],
            )
            .map_err(StoreError::sqlite("write gap"))?;
        Ok(())
    }

    fn put_chat_entity(&mut self, e: &super::ChatEntity) -> Result<bool, StoreError> {
        let kind = match e.kind {
            super::EntityKind::Reaction => 0,
            super::EntityKind::Pin => 1,
        };
        let changed = self
            .conn
            .execute(
                "INSERT INTO messenger_chat_entities \
                 (key, kind, chat_id, target, sender, value, active, clock, id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                 active = excluded.active, clock = excluded.clock, id = excluded.id \
                 WHERE excluded.clock > messenger_chat_entities.clock",
                params![
                    e.key(),
                    kind,
                    e.chat_id,
                    e.target,
                    &e.from.to_uncompressed()[..],
                    e.value,
                    e.active,
                    to_sql(e.clock),
                    &e.id.0[..]
                ],
            )
            .map_err(StoreError::sqlite("write chat entity"))?;
        Ok(changed > 0)
    }

    fn chat_entities(
        &self,
        chat_id: &str,
        kind: super::EntityKind,
    ) -> Result<Vec<super::ChatEntity>, StoreError> {
        let code = match kind {
            super::EntityKind::Reaction => 0,
            super::EntityKind::Pin => 1,
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT target, sender, value, active, clock, id FROM messenger_chat_entities \
                 WHERE chat_id = ?1 AND kind = ?2 ORDER BY clock, key",
            )
            .map_err(StoreError::sqlite("prepare"))?;
        let rows = stmt
            .query_map(params![chat_id, code], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i32>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .map_err(StoreError::sqlite("read chat entities"))?;
        let mut out = Vec::new();
        for row in rows {
            let (target, sender, value, active, clock, id) =
                row.map_err(StoreError::sqlite("read chat entity"))?;
            let from = wisp_crypto::PublicKey::from_sec1(&sender).map_err(|_| {
                StoreError::Corrupt { what: "chat entity sender", expected: "a public key" }
            })?;
            let id = <[u8; 32]>::try_from(id).map_err(|_| StoreError::Corrupt {
                what: "chat entity id",
                expected: "32 bytes",
            })?;
            out.push(super::ChatEntity {
                kind,
                chat_id: chat_id.to_owned(),
                target,
                from,
                value,
                active,
                clock: from_sql(clock),
                id: MessageId(id),
            });
        }
        Ok(out)
    }

    fn group_events(&self, chat_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT signature, event FROM messenger_group_events WHERE chat_id = ?1 \
                 ORDER BY clock, event",
            )
            .map_err(StoreError::sqlite("prepare"))?;
        let rows = stmt
            .query_map([chat_id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(StoreError::sqlite("read group events"))?;
        let mut events = Vec::new();
        for row in rows {
            let (mut signature, event) = row.map_err(StoreError::sqlite("read group event"))?;
            signature.extend_from_slice(&event);
            events.push(signature);
        }
        Ok(events)
    }

    fn add_group_events(
        &mut self,
        chat_id: &str,
        events: &[(u64, Vec<u8>)],
    ) -> Result<usize, StoreError> {
        let tx = self.conn.transaction().map_err(StoreError::sqlite("begin"))?;
        let mut added = 0;
        for (clock, wire) in events {
            let Some((signature, event)) = wire.split_at_checked(crate::group::EVENT_SIGNATURE_LEN)
            else {
                continue;
            };
            added += tx
                .execute(
                    "INSERT OR IGNORE INTO messenger_group_events (chat_id, signature, clock, event) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![chat_id, signature, to_sql(*clock), event],
                )
                .map_err(StoreError::sqlite("write group event"))?;
        }
        tx.commit().map_err(StoreError::sqlite("commit group events"))?;
        Ok(added)
    }

    fn put_group_invitation(
        &mut self,
        invitation: &super::GroupInvitation,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO messenger_group_invitations \
                 (id, chat_id, sender, introduction, state, clock) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (id) DO UPDATE SET chat_id = ?2, sender = ?3, introduction = ?4, \
                 state = ?5, clock = ?6 WHERE clock < ?6",
                params![
                    invitation.id,
                    invitation.chat_id,
                    invitation.from,
                    invitation.introduction_message,
                    invitation.state,
                    to_sql(invitation.clock),
                ],
            )
            .map_err(StoreError::sqlite("write group invitation"))?;
        Ok(changed > 0)
    }

    fn group_invitation(&self, id: &str) -> Result<Option<super::GroupInvitation>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, chat_id, sender, introduction, state, clock \
                 FROM messenger_group_invitations WHERE id = ?1",
                [id],
                invitation_row,
            )
            .optional()
            .map_err(StoreError::sqlite("read group invitation"))
    }

    fn group_invitations(&self) -> Result<Vec<super::GroupInvitation>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, chat_id, sender, introduction, state, clock \
                 FROM messenger_group_invitations ORDER BY clock, id",
            )
            .map_err(StoreError::sqlite("prepare"))?;
        let rows = stmt
            .query_map([], invitation_row)
            .map_err(StoreError::sqlite("read group invitations"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::sqlite("read group invitation"))
    }

    fn gaps(&self, topic: &Topic) -> Result<Vec<HistoryRange>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT from_s, to_s FROM messenger_history_gaps WHERE topic = ?1 \
                 ORDER BY from_s, to_s",
            )
            .map_err(StoreError::sqlite("prepare"))?;
        let rows = stmt
            .query_map([&topic.0[..]], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
            .map_err(StoreError::sqlite("read gaps"))?;
        let mut gaps = Vec::new();
        for row in rows {
            let (from, to) = row.map_err(StoreError::sqlite("read gap"))?;
            gaps.push(seconds_range(from, to)?);
        }
        Ok(gaps)
    }
}

fn seconds_range(from: i64, to: i64) -> Result<HistoryRange, StoreError> {
    let corrupt = || StoreError::Corrupt { what: "history range", expected: "Unix seconds" };
    Ok(HistoryRange {
        from: u32::try_from(from).map_err(|_| corrupt())?,
        to: u32::try_from(to).map_err(|_| corrupt())?,
    })
}

fn invitation_row(r: &Row<'_>) -> rusqlite::Result<super::GroupInvitation> {
    Ok(super::GroupInvitation {
        id: r.get(0)?,
        chat_id: r.get(1)?,
        from: r.get(2)?,
        introduction_message: r.get(3)?,
        state: r.get(4)?,
        clock: from_sql(r.get(5)?),
    })
}
