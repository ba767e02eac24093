//! Contacts and the metadata of our installations (paired devices), beside the messages: the
//! [`DeviceStore`] part of every [`super::MessageStore`].
//!
//! In SQLite they are the tables `messenger_contacts` (one row per chat key, the
//! `ChatIdentity` kept encoded) and `messenger_installations` (name and device type per
//! installation id of our account), created by schema version 2. Which installations exist
//! and which are enabled is the secure transport's (`ratchet_*`), not this store's.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};
use wisp_crypto::PublicKey;

use super::{MemoryMessageStore, SqliteMessageStore, StoreError};
use crate::proto::{ChatIdentity, Message as _};

/// Schema migration 1 -> 2: the contact and installation tables.
pub(super) const MIGRATION_CONTACTS: &str = "
CREATE TABLE messenger_contacts (
    key BLOB PRIMARY KEY NOT NULL,
    ens_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    local_nickname TEXT NOT NULL,
    profile_image TEXT NOT NULL,
    added INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    has_added_us INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    identity BLOB
);
CREATE TABLE messenger_installations (
    installation_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    device_type TEXT NOT NULL,
    clock INTEGER NOT NULL
);
";

/// Schema 5: our own profile as our `ContactUpdate`s carry it, with when they last went to
/// every added contact (one row, id 0). `IF NOT EXISTS`: development builds created it
/// outside the numbered migrations.
pub(super) const MIGRATION_OWN_PROFILE: &str = "
CREATE TABLE IF NOT EXISTS messenger_own_profile (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 0),
    ens_name TEXT NOT NULL,
    profile_image TEXT NOT NULL,
    contact_updates_sent_ms INTEGER NOT NULL
);
";

/// Our own profile as our `ContactUpdate`s carry it, and when a `ContactUpdate` last went to
/// every added contact (the periodic re-send counts from then).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnProfile {
    /// Our ENS name, as text.
    pub ens_name: String,
    /// Our profile image (base64 text), as `ContactUpdate.profile_image`.
    pub profile_image: String,
    /// Unix milliseconds of the last `ContactUpdate` to every added contact.
    pub contact_updates_sent_ms: u64,
}

/// A contact: anyone whose profile we learnt or whom we added or blocked.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredContact {
    /// Their chat key.
    pub key: PublicKey,
    /// Their ENS name, as text (not resolved).
    pub ens_name: String,
    /// The display name of their latest `ChatIdentity`.
    pub display_name: String,
    /// The nickname we gave them.
    pub local_nickname: String,
    /// Their profile image as their `ContactUpdate` carried it (base64 text).
    pub profile_image: String,
    /// We added them (`:contact/added`).
    pub added: bool,
    /// We blocked them (`:contact/blocked`): their messages are dropped.
    pub blocked: bool,
    /// They sent us a `ContactUpdate` (`:contact/request-received`).
    pub has_added_us: bool,
    /// Clock of the newest change applied (a `ContactUpdate` received, a sync, our edit).
    pub last_updated: u64,
    /// Their latest `ChatIdentity` (display name, images), as received.
    pub identity: Option<ChatIdentity>,
}

impl StoredContact {
    /// A contact with `key` and nothing known about it.
    pub fn new(key: PublicKey) -> Self {
        Self {
            key,
            ens_name: String::new(),
            display_name: String::new(),
            local_nickname: String::new(),
            profile_image: String::new(),
            added: false,
            blocked: false,
            has_added_us: false,
            last_updated: 0,
            identity: None,
        }
    }

    /// Its id, status-go's: `0x` + its 65-byte key in hex (also its 1:1 chat id).
    pub fn id(&self) -> String {
        crate::messenger::one_to_one_chat_id(&self.key)
    }

    /// status-go's `systemTags` of the contact.
    pub fn system_tags(&self) -> Vec<String> {
        let mut tags = Vec::new();
        if self.added {
            tags.push(TAG_ADDED.to_owned());
        }
        if self.blocked {
            tags.push(TAG_BLOCKED.to_owned());
        }
        if self.has_added_us {
            tags.push(TAG_REQUEST_RECEIVED.to_owned());
        }
        tags
    }
}

/// The system tag of an added contact.
pub const TAG_ADDED: &str = ":contact/added";
/// The system tag of a blocked contact.
pub const TAG_BLOCKED: &str = ":contact/blocked";
/// The system tag of a contact who added us.
pub const TAG_REQUEST_RECEIVED: &str = ":contact/request-received";

/// The name and device type of one installation of our account (ours, or one announced by a
/// `PairInstallation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallationMetadata {
    /// The installation id.
    pub installation_id: String,
    /// The name its user gave it.
    pub name: String,
    /// Its kind of device ("desktop", "android", "ios", or anything else, kept as text).
    pub device_type: String,
    /// Clock of the `PairInstallation` (or local edit) it came from.
    pub clock: u64,
}

/// Contacts and installation metadata. Every method is atomic.
pub trait DeviceStore {
    /// Every contact, by key.
    fn contacts(&self) -> Result<Vec<StoredContact>, StoreError>;
    /// One contact.
    fn contact(&self, key: &PublicKey) -> Result<Option<StoredContact>, StoreError>;
    /// Inserts or replaces a contact.
    fn put_contact(&mut self, contact: &StoredContact) -> Result<(), StoreError>;
    /// Marks every message authored by `key` deleted (in every chat); returns the ids of the
    /// chats that had such messages not deleted yet, sorted.
    fn delete_messages_from(&mut self, key: &PublicKey) -> Result<Vec<String>, StoreError>;
    /// The metadata of every installation known, by id.
    fn installation_metadata(&self) -> Result<Vec<InstallationMetadata>, StoreError>;
    /// Inserts or replaces the metadata of one installation.
    fn put_installation_metadata(
        &mut self,
        metadata: &InstallationMetadata,
    ) -> Result<(), StoreError>;
    /// Our own profile, `None` until first stored.
    fn own_profile(&self) -> Result<Option<OwnProfile>, StoreError>;
    /// Replaces our own profile.
    fn put_own_profile(&mut self, profile: &OwnProfile) -> Result<(), StoreError>;
}

/// The contact and installation tables of a [`MemoryMessageStore`].
#[derive(Clone, Debug, Default)]
pub(super) struct MemoryDevices {
    contacts: BTreeMap<[u8; 65], StoredContact>,
    installations: BTreeMap<String, InstallationMetadata>,
    own_profile: Option<OwnProfile>,
}

impl DeviceStore for MemoryMessageStore {
    fn contacts(&self) -> Result<Vec<StoredContact>, StoreError> {
        Ok(self.devices.contacts.values().cloned().collect())
    }

    fn contact(&self, key: &PublicKey) -> Result<Option<StoredContact>, StoreError> {
        Ok(self.devices.contacts.get(&key.to_uncompressed()).cloned())
    }

    fn put_contact(&mut self, contact: &StoredContact) -> Result<(), StoreError> {
        self.devices.contacts.insert(contact.key.to_uncompressed(), contact.clone());
        Ok(())
    }

    fn delete_messages_from(&mut self, key: &PublicKey) -> Result<Vec<String>, StoreError> {
        let mut chats = std::collections::BTreeSet::new();
        for (message, _) in self.messages.values_mut() {
            if message.from == *key && !message.deleted {
                message.deleted = true;
                chats.insert(message.chat_id.clone());
            }
        }
        Ok(chats.into_iter().collect())
    }

    fn installation_metadata(&self) -> Result<Vec<InstallationMetadata>, StoreError> {
        Ok(self.devices.installations.values().cloned().collect())
    }

    fn put_installation_metadata(
        &mut self,
        metadata: &InstallationMetadata,
    ) -> Result<(), StoreError> {
        self.devices.installations.insert(metadata.installation_id.clone(), metadata.clone());
        Ok(())
    }

    fn own_profile(&self) -> Result<Option<OwnProfile>, StoreError> {
        Ok(self.devices.own_profile.clone())
    }

    fn put_own_profile(&mut self, profile: &OwnProfile) -> Result<(), StoreError> {
        self.devices.own_profile = Some(profile.clone());
        Ok(())
    }
}

const CONTACT_COLUMNS: &str = "key, ens_name, display_name, local_nickname, profile_image, added, \
                               blocked, has_added_us, last_updated, identity";

fn contact_from_row(row: &Row<'_>) -> rusqlite::Result<Result<StoredContact, StoreError>> {
    let key: Vec<u8> = row.get(0)?;
    let identity: Option<Vec<u8>> = row.get(9)?;
    let last_updated: i64 = row.get(8)?;
    let mut contact = match PublicKey::from_sec1(&key) {
        Ok(key) => StoredContact::new(key),
        Err(_) => {
            return Ok(Err(StoreError::Corrupt {
                what: "contact key",
                expected: "a 65-byte secp256k1 public key",
            }));
        }
    };
    contact.ens_name = row.get(1)?;
    contact.display_name = row.get(2)?;
    contact.local_nickname = row.get(3)?;
    contact.profile_image = row.get(4)?;
    contact.added = row.get(5)?;
    contact.blocked = row.get(6)?;
    contact.has_added_us = row.get(7)?;
    contact.last_updated = u64::try_from(last_updated).unwrap_or(0);
    if let Some(bytes) = identity {
        match ChatIdentity::decode(&bytes[..]) {
            Ok(identity) => contact.identity = Some(identity),
            Err(_) => {
                return Ok(Err(StoreError::Corrupt {
                    what: "contact identity",
                    expected: "an encoded ChatIdentity",
                }));
            }
        }
    }
    Ok(Ok(contact))
}

fn clock_column(clock: u64) -> i64 {
    i64::try_from(clock).unwrap_or(i64::MAX)
}

impl DeviceStore for SqliteMessageStore {
    fn contacts(&self) -> Result<Vec<StoredContact>, StoreError> {
        let mut statement = self
            .connection()
            .prepare(&format!("SELECT {CONTACT_COLUMNS} FROM messenger_contacts ORDER BY key"))
            .map_err(StoreError::sqlite("select contacts"))?;
        let rows = statement
            .query_map([], contact_from_row)
            .map_err(StoreError::sqlite("select contacts"))?;
        let mut contacts = Vec::new();
        for row in rows {
            contacts.push(row.map_err(StoreError::sqlite("read contact"))??);
        }
        Ok(contacts)
    }

    fn contact(&self, key: &PublicKey) -> Result<Option<StoredContact>, StoreError> {
        self.connection()
            .query_row(
                &format!("SELECT {CONTACT_COLUMNS} FROM messenger_contacts WHERE key = ?1"),
                [&key.to_uncompressed()[..]],
                contact_from_row,
            )
            .optional()
            .map_err(StoreError::sqlite("select contact"))?
            .transpose()
    }

    fn put_contact(&mut self, contact: &StoredContact) -> Result<(), StoreError> {
        let identity = contact.identity.as_ref().map(|i| i.encode_to_vec());
        self.connection()
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO messenger_contacts ({CONTACT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    &contact.key.to_uncompressed()[..],
                    contact.ens_name,
                    contact.display_name,
                    contact.local_nickname,
                    contact.profile_image,
                    contact.added,
                    contact.blocked,
                    contact.has_added_us,
                    clock_column(contact.last_updated),
                    identity,
                ],
            )
            .map_err(StoreError::sqlite("put contact"))?;
        Ok(())
    }

    fn delete_messages_from(&mut self, key: &PublicKey) -> Result<Vec<String>, StoreError> {
        let sender = &key.to_uncompressed()[..];
        let tx = self
            .connection()
            .unchecked_transaction()
            .map_err(StoreError::sqlite("begin delete messages of a sender"))?;
        let chats = {
            let mut statement = tx
                .prepare(
                    "SELECT DISTINCT chat_id FROM messenger_messages \
                     WHERE sender = ?1 AND deleted = 0 ORDER BY chat_id",
                )
                .map_err(StoreError::sqlite("select chats of a sender"))?;
            let rows = statement
                .query_map([sender], |row| row.get::<_, String>(0))
                .map_err(StoreError::sqlite("select chats of a sender"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(StoreError::sqlite("read chats of a sender"))?
        };
        tx.execute(
            "UPDATE messenger_messages SET deleted = 1 WHERE sender = ?1 AND deleted = 0",
            [sender],
        )
        .map_err(StoreError::sqlite("delete messages of a sender"))?;
        tx.commit().map_err(StoreError::sqlite("commit delete messages of a sender"))?;
        Ok(chats)
    }

    fn installation_metadata(&self) -> Result<Vec<InstallationMetadata>, StoreError> {
        let mut statement = self
            .connection()
            .prepare(
                "SELECT installation_id, name, device_type, clock FROM messenger_installations \
                 ORDER BY installation_id",
            )
            .map_err(StoreError::sqlite("select installations"))?;
        let rows = statement
            .query_map([], |row| {
                let clock: i64 = row.get(3)?;
                Ok(InstallationMetadata {
                    installation_id: row.get(0)?,
                    name: row.get(1)?,
                    device_type: row.get(2)?,
                    clock: u64::try_from(clock).unwrap_or(0),
                })
            })
            .map_err(StoreError::sqlite("select installations"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::sqlite("read installation"))
    }

    fn put_installation_metadata(
        &mut self,
        metadata: &InstallationMetadata,
    ) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT OR REPLACE INTO messenger_installations \
                 (installation_id, name, device_type, clock) VALUES (?1, ?2, ?3, ?4)",
                params![
                    metadata.installation_id,
                    metadata.name,
                    metadata.device_type,
                    clock_column(metadata.clock),
                ],
            )
            .map_err(StoreError::sqlite("put installation"))?;
        Ok(())
    }

    fn own_profile(&self) -> Result<Option<OwnProfile>, StoreError> {
        self.connection()
            .query_row(
                "SELECT ens_name, profile_image, contact_updates_sent_ms \
                 FROM messenger_own_profile WHERE id = 0",
                [],
                |row| {
                    let sent: i64 = row.get(2)?;
                    Ok(OwnProfile {
                        ens_name: row.get(0)?,
                        profile_image: row.get(1)?,
                        contact_updates_sent_ms: u64::try_from(sent).unwrap_or(0),
                    })
                },
            )
            .optional()
            .map_err(StoreError::sqlite("select own profile"))
    }

    fn put_own_profile(&mut self, profile: &OwnProfile) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT OR REPLACE INTO messenger_own_profile \
                 (id, ens_name, profile_image, contact_updates_sent_ms) VALUES (0, ?1, ?2, ?3)",
                params![
                    profile.ens_name,
                    profile.profile_image,
                    clock_column(profile.contact_updates_sent_ms),
                ],
            )
            .map_err(StoreError::sqlite("put own profile"))?;
        Ok(())
    }
}
