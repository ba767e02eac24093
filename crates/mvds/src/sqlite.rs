//! [`SqliteStore`]: the persistent [`Store`] (rusqlite, bundled SQLite, WAL).
//!
//! Tables are prefixed `mvds_` so they can live in a database shared with other layers
//! (`messenger.sqlite`). `mvds_schema_version` holds the schema version.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Error;
use crate::store::{PeerId, Record, RecordKind, Store};
use crate::wire::{GroupId, Message, MessageId};

/// Schema version this build writes. Opening a database with a higher version fails with
/// [`Error::SchemaVersion`].
pub const SCHEMA_VERSION: i64 = 1;

/// Largest stored message accepted when reading one back (a corrupt row must not allocate
/// without bound): 64 MiB.
const MAX_STORED_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS mvds_peers (
    group_id BLOB NOT NULL,
    peer_id  BLOB NOT NULL,
    PRIMARY KEY (group_id, peer_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mvds_messages (
    id       BLOB PRIMARY KEY NOT NULL,
    message  BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mvds_received (
    id BLOB PRIMARY KEY NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mvds_records (
    peer_id    BLOB NOT NULL,
    message_id BLOB NOT NULL,
    kind       INTEGER NOT NULL,
    group_id   BLOB,
    send_count INTEGER NOT NULL,
    send_epoch INTEGER NOT NULL,
    PRIMARY KEY (peer_id, message_id, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mvds_records_due ON mvds_records (send_epoch);
CREATE INDEX IF NOT EXISTS mvds_records_message ON mvds_records (message_id);
";

/// A [`Store`] in a SQLite database file (WAL journal, `synchronous = NORMAL`).
///
/// Every node operation runs in one transaction ([`Store::begin`] / [`Store::commit`]), so a
/// crash leaves the state of before or after the operation. After a restart, a node built on
/// the same file resumes retransmission at the stored send epochs.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_connection(Connection::open(path)?)
    }

    /// A private in-memory database (lost on drop).
    pub fn open_in_memory() -> Result<Self, Error> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    /// Uses an open connection: sets WAL and creates or checks the schema.
    pub fn from_connection(conn: Connection) -> Result<Self, Error> {
        // `journal_mode` returns a row; in-memory databases answer "memory".
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS mvds_schema_version (version INTEGER NOT NULL);",
        )?;
        let found: Option<i64> = conn
            .query_row("SELECT MAX(version) FROM mvds_schema_version", [], |r| r.get(0))
            .optional()?
            .flatten();
        match found {
            None => {
                conn.execute_batch(&format!(
                    "BEGIN; {SCHEMA_V1} INSERT INTO mvds_schema_version (version) VALUES ({SCHEMA_VERSION}); COMMIT;"
                ))?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(Error::SchemaVersion { found, supported: SCHEMA_VERSION }),
        }
        Ok(Self { conn })
    }

    /// The connection, e.g. to inspect the tables.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Number of stored message bodies.
    pub fn message_count(&self) -> Result<usize, Error> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM mvds_messages", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}

fn epoch_to_sql(epoch: u64) -> i64 {
    i64::try_from(epoch).unwrap_or(i64::MAX)
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
    Ok(RawRecord {
        peer: r.get(0)?,
        id: r.get(1)?,
        kind: r.get(2)?,
        group: r.get(3)?,
        send_count: r.get(4)?,
        send_epoch: r.get(5)?,
    })
}

/// A row of `mvds_records` before validation.
struct RawRecord {
    peer: Vec<u8>,
    id: Vec<u8>,
    kind: i64,
    group: Option<Vec<u8>>,
    send_count: i64,
    send_epoch: i64,
}

impl RawRecord {
    fn validate(self) -> Result<Record, Error> {
        let corrupt = |what| Error::CorruptStore { what };
        Ok(Record {
            peer: PeerId(self.peer),
            id: MessageId::from_slice(&self.id).map_err(|_| corrupt("record message id"))?,
            kind: u8::try_from(self.kind)
                .ok()
                .and_then(RecordKind::from_code)
                .ok_or(corrupt("record kind"))?,
            group: self
                .group
                .map(|g| GroupId::from_slice(&g))
                .transpose()
                .map_err(|_| corrupt("record group id"))?,
            send_count: u32::try_from(self.send_count).map_err(|_| corrupt("record send count"))?,
            send_epoch: u64::try_from(self.send_epoch).map_err(|_| corrupt("record send epoch"))?,
        })
    }
}

const RECORD_COLUMNS: &str = "peer_id, message_id, kind, group_id, send_count, send_epoch";

impl Store for SqliteStore {
    fn add_peer(&mut self, group: &GroupId, peer: &PeerId) -> Result<bool, Error> {
        let n = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO mvds_peers (group_id, peer_id) VALUES (?1, ?2)")?
            .execute(params![&group.0[..], peer.as_bytes()])?;
        Ok(n > 0)
    }

    fn remove_peer(&mut self, group: &GroupId, peer: &PeerId) -> Result<bool, Error> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM mvds_peers WHERE group_id = ?1 AND peer_id = ?2")?
            .execute(params![&group.0[..], peer.as_bytes()])?;
        Ok(n > 0)
    }

    fn peers(&self, group: &GroupId) -> Result<Vec<PeerId>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT peer_id FROM mvds_peers WHERE group_id = ?1 ORDER BY peer_id",
        )?;
        let rows = stmt.query_map(params![&group.0[..]], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| Ok(PeerId(r?))).collect()
    }

    fn put_message(&mut self, id: &MessageId, message: &Message) -> Result<(), Error> {
        let mut blob = Vec::with_capacity(message.encoded_len());
        message.encode(&mut blob);
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO mvds_messages (id, message) VALUES (?1, ?2)")?
            .execute(params![&id.0[..], blob])?;
        Ok(())
    }

    fn message(&self, id: &MessageId) -> Result<Option<Message>, Error> {
        let blob: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT message FROM mvds_messages WHERE id = ?1")?
            .query_row(params![&id.0[..]], |r| r.get(0))
            .optional()?;
        blob.map(|b| {
            Message::decode(&mut &b[..], MAX_STORED_MESSAGE_BYTES)
                .map_err(|_| Error::CorruptStore { what: "stored message" })
        })
        .transpose()
    }

    fn remove_message(&mut self, id: &MessageId) -> Result<(), Error> {
        self.conn
            .prepare_cached("DELETE FROM mvds_messages WHERE id = ?1")?
            .execute(params![&id.0[..]])?;
        Ok(())
    }

    fn mark_received(&mut self, id: &MessageId) -> Result<bool, Error> {
        let n = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO mvds_received (id) VALUES (?1)")?
            .execute(params![&id.0[..]])?;
        Ok(n > 0)
    }

    fn has_received(&self, id: &MessageId) -> Result<bool, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM mvds_received WHERE id = ?1")?
            .query_row(params![&id.0[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn record(
        &self,
        peer: &PeerId,
        id: &MessageId,
        kind: RecordKind,
    ) -> Result<Option<Record>, Error> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM mvds_records
                 WHERE peer_id = ?1 AND message_id = ?2 AND kind = ?3"
            ))?
            .query_row(params![peer.as_bytes(), &id.0[..], kind.code()], row_to_record)
            .optional()?
            .map(RawRecord::validate)
            .transpose()
    }

    fn put_record(&mut self, record: &Record) -> Result<(), Error> {
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO mvds_records ({RECORD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                record.peer.as_bytes(),
                &record.id.0[..],
                record.kind.code(),
                record.group.as_ref().map(|g| &g.0[..]),
                record.send_count,
                epoch_to_sql(record.send_epoch),
            ])?;
        Ok(())
    }

    fn remove_record(
        &mut self,
        peer: &PeerId,
        id: &MessageId,
        kind: RecordKind,
    ) -> Result<Option<Record>, Error> {
        let old = self.record(peer, id, kind)?;
        if old.is_some() {
            self.conn
                .prepare_cached(
                    "DELETE FROM mvds_records WHERE peer_id = ?1 AND message_id = ?2 AND kind = ?3",
                )?
                .execute(params![peer.as_bytes(), &id.0[..], kind.code()])?;
        }
        Ok(old)
    }

    fn has_records_for(&self, id: &MessageId) -> Result<bool, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM mvds_records WHERE message_id = ?1 LIMIT 1")?
            .query_row(params![&id.0[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn due_records(&self, now: u64) -> Result<Vec<Record>, Error> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM mvds_records WHERE send_epoch <= ?1
             ORDER BY send_epoch, peer_id, message_id, kind"
        ))?;
        let rows = stmt.query_map(params![epoch_to_sql(now)], row_to_record)?;
        rows.map(|r| r?.validate()).collect()
    }

    fn next_due(&self) -> Result<Option<u64>, Error> {
        let min: Option<i64> =
            self.conn.query_row("SELECT MIN(send_epoch) FROM mvds_records", [], |r| r.get(0))?;
        min.map(|m| u64::try_from(m).map_err(|_| Error::CorruptStore { what: "record send epoch" }))
            .transpose()
    }

    fn record_count(&self) -> Result<usize, Error> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM mvds_records", [], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn begin(&mut self) -> Result<(), Error> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), Error> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), Error> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::check_store_contract;

    #[test]
    fn sqlite_store_contract() {
        check_store_contract(&mut SqliteStore::open_in_memory().unwrap());
    }

    #[test]
    fn reopens_and_checks_schema_version() {
        let path = std::env::temp_dir().join(format!(
            "wisp-mvds-schema-{}-{}.sqlite",
            std::process::id(),
            line!()
        ));
        let _ = std::fs::remove_file(&path);
        let g = GroupId([3; 32]);
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.add_peer(&g, &PeerId(vec![1])).unwrap();
            let mode: String =
                s.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
        }
        {
            let s = SqliteStore::open(&path).unwrap();
            assert_eq!(s.peers(&g).unwrap(), vec![PeerId(vec![1])]);
            s.connection().execute("INSERT INTO mvds_schema_version VALUES (99)", []).unwrap();
        }
        assert!(matches!(
            SqliteStore::open(&path),
            Err(Error::SchemaVersion { found: 99, supported: SCHEMA_VERSION })
        ));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[test]
    fn rollback_drops_changes() {
        let mut s = SqliteStore::open_in_memory().unwrap();
        s.begin().unwrap();
        s.mark_received(&MessageId([1; 32])).unwrap();
        s.rollback().unwrap();
        assert!(!s.has_received(&MessageId([1; 32])).unwrap());
        s.begin().unwrap();
        s.mark_received(&MessageId([1; 32])).unwrap();
        s.commit().unwrap();
        assert!(s.has_received(&MessageId([1; 32])).unwrap());
    }
}
