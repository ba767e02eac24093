//! Contacts (6/PAYLOADS `ContactUpdate`, `ChatIdentity`; status-go v0.79's contact flows).
//!
//! - A contact is stored for anyone we add, block or whose profile reaches us (a
//!   `ContactUpdate` over the secure transport, a `ChatIdentity` alone or inside a
//!   contact-code advertisement). The ENS name is kept as text; alias and identicon are
//!   derived from the key by whoever shows them.
//! - [`Messenger::add_contact`] marks it added, opens the 1:1 chat, listens on its
//!   contact-code topic (so its bundle advertisements keep our view of its devices fresh),
//!   sends it a `ContactUpdate` and syncs it to our other devices.
//! - [`Messenger::block_contact`] marks it blocked: its messages are deleted in every chat,
//!   its 1:1 chat is deleted and its contact-code filter removed, and whatever it sends later
//!   is dropped ([`DropReason::Blocked`]).
//! - A received `ContactUpdate` or `ChatIdentity` applies only when its clock is newer than
//!   what we have; ours (from another device of ours) is not a contact.
//! - Our profile (ENS name, profile image) as our last `ContactUpdate` carried it is stored
//!   ([`OwnProfile`]), with when a `ContactUpdate` last went to every added contact; every
//!   [`CONTACT_UPDATE_INTERVAL`] (48 h, as status-go) after that, [`Messenger::tick`] sends
//!   it to every added contact again. The time is stored, so a restart does not reset it.

use tracing::debug;
use wisp_crypto::PublicKey;

use super::{DropReason, Event, Messenger, one_to_one_chat_id};
use crate::error::{Error, Result};
use crate::identity::{MessageId, SignedMessage};
use crate::proto::{
    self, ChatIdentity, ContactUpdate, Message as _, application_metadata_message::Type as AppType,
};
use crate::store::{MessageStore, OwnProfile, StoredContact};

/// How long after our `ContactUpdate` last went to every added contact it goes again: 48 h
/// (status-go re-sends it to its contacts every 48 hours).
pub const CONTACT_UPDATE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(48 * 3600);

/// Largest ENS name or nickname accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Largest profile image accepted in a `ContactUpdate` (base64 text), in bytes.
pub const MAX_PROFILE_IMAGE_BYTES: usize = 256 * 1024;

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// Every contact known, by key.
    pub fn contacts(&self) -> Result<Vec<StoredContact>> {
        Ok(self.db.contacts()?)
    }

    /// One contact.
    pub fn contact(&self, key: &PublicKey) -> Result<Option<StoredContact>> {
        Ok(self.db.contact(key)?)
    }

    /// Whether `key` is blocked.
    pub fn is_blocked(&self, key: &PublicKey) -> bool {
        self.devices.blocked.contains(&key.to_uncompressed())
    }

    /// Reads the blocked contacts (in [`Messenger::new`]).
    pub(super) fn load_contacts(&mut self) -> Result<()> {
        for contact in self.db.contacts()? {
            if contact.blocked {
                self.devices.blocked.insert(contact.key.to_uncompressed());
            }
            self.devices.clock.observe(contact.last_updated);
        }
        for metadata in self.db.installation_metadata()? {
            self.devices.clock.observe(metadata.clock);
        }
        Ok(())
    }

    /// Listens on the contact-code topics of our added contacts (on start).
    pub(super) fn install_contact_filters(&mut self) -> Result<()> {
        for contact in self.db.contacts()? {
            if contact.added && !contact.blocked {
                self.install_contact_code_filter(&contact.key);
            }
        }
        Ok(())
    }

    fn check_key(&self, key: &PublicKey) -> Result<()> {
        if *key == self.public {
            return Err(Error::InvalidInput { what: "contact", reason: "is ourselves" });
        }
        Ok(())
    }

    /// Adds `key` as a contact (status-go `AddContact`), unblocking it, with `nickname` when
    /// given: stored, its 1:1 chat opened, its contact code listened to, a `ContactUpdate`
    /// sent to it with our `ens_name`, and the contact synced to our other devices.
    pub fn add_contact(
        &mut self,
        key: &PublicKey,
        nickname: Option<&str>,
        ens_name: &str,
        now_ms: u64,
    ) -> Result<StoredContact> {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_key(key)?;
        check_name("nickname", nickname.unwrap_or_default())?;
        let mut contact = self.db.contact(key)?.unwrap_or_else(|| StoredContact::new(*key));
        contact.added = true;
        contact.blocked = false;
        if let Some(nickname) = nickname {
            nickname.clone_into(&mut contact.local_nickname);
        }
        contact.last_updated = self.devices.clock.tick(now_ms);
        self.db.put_contact(&contact)?;
        self.devices.blocked.remove(&key.to_uncompressed());
        self.install_contact_code_filter(key);
        self.open_one_to_one_chat(key)?;
        self.event(Event::ContactChanged { contact: contact.id() });
        let image = self.db.own_profile()?.unwrap_or_default().profile_image;
        self.send_contact_update(key, ens_name, &image, now_ms)?;
        self.sync_contact(&contact, now_ms)?;
        Ok(contact)
    }

    /// Removes `key` from our contacts (status-go `RemoveContact`): no longer added; its
    /// chat and messages stay. Synced to our other devices.
    pub fn remove_contact(&mut self, key: &PublicKey, now_ms: u64) -> Result<StoredContact> {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_key(key)?;
        let mut contact = self
            .db
            .contact(key)?
            .ok_or_else(|| Error::UnknownContact { id: one_to_one_chat_id(key) })?;
        contact.added = false;
        contact.last_updated = self.devices.clock.tick(now_ms);
        self.db.put_contact(&contact)?;
        self.event(Event::ContactChanged { contact: contact.id() });
        self.sync_contact(&contact, now_ms)?;
        Ok(contact)
    }

    /// Blocks `key` (status-go `BlockContact`): see the module docs. Returns the ids of the
    /// chats that changed (its 1:1 chat, deleted, and the chats its messages were deleted
    /// from). Synced to our other devices.
    pub fn block_contact(&mut self, key: &PublicKey, now_ms: u64) -> Result<Vec<String>> {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_key(key)?;
        let mut contact = self.db.contact(key)?.unwrap_or_else(|| StoredContact::new(*key));
        contact.added = false;
        contact.last_updated = self.devices.clock.tick(now_ms);
        let chats = self.block(contact.clone())?;
        contact.blocked = true;
        self.sync_contact(&contact, now_ms)?;
        Ok(chats)
    }

    /// Unblocks `key`: its messages are accepted again (those deleted stay deleted).
    pub fn unblock_contact(&mut self, key: &PublicKey, now_ms: u64) -> Result<StoredContact> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut contact = self
            .db
            .contact(key)?
            .ok_or_else(|| Error::UnknownContact { id: one_to_one_chat_id(key) })?;
        contact.blocked = false;
        contact.last_updated = self.devices.clock.tick(now_ms);
        self.db.put_contact(&contact)?;
        self.devices.blocked.remove(&key.to_uncompressed());
        self.event(Event::ContactChanged { contact: contact.id() });
        self.sync_contact(&contact, now_ms)?;
        Ok(contact)
    }

    /// Marks `contact` blocked and applies it; returns the chats that changed.
    pub(super) fn block(&mut self, mut contact: StoredContact) -> Result<Vec<String>> {
        let key = contact.key;
        contact.blocked = true;
        self.db.put_contact(&contact)?;
        self.devices.blocked.insert(key.to_uncompressed());
        let mut changed = self.db.delete_messages_from(&key)?;
        let chat_id = one_to_one_chat_id(&key);
        self.remove_filter(&format!("contact-code:{chat_id}"));
        if self.delete_chat(&chat_id)? && !changed.contains(&chat_id) {
            changed.push(chat_id);
        }
        self.event(Event::ContactChanged { contact: contact.id() });
        Ok(changed)
    }

    /// Saves a contact as given (status-go `SaveContact`: nickname, flags); blocking and
    /// unblocking through it apply as [`Messenger::block_contact`] and
    /// [`Messenger::unblock_contact`] do, without syncing.
    pub fn save_contact(&mut self, contact: &StoredContact) -> Result<()> {
        self.check_key(&contact.key)?;
        check_name("nickname", &contact.local_nickname)?;
        check_name("ens name", &contact.ens_name)?;
        let was_blocked = self.is_blocked(&contact.key);
        if contact.blocked && !was_blocked {
            self.block(contact.clone())?;
            return Ok(());
        }
        self.db.put_contact(contact)?;
        if !contact.blocked {
            self.devices.blocked.remove(&contact.key.to_uncompressed());
        }
        if contact.added && !contact.blocked {
            self.install_contact_code_filter(&contact.key);
        }
        self.event(Event::ContactChanged { contact: contact.id() });
        Ok(())
    }

    /// Sends a `ContactUpdate` (our ENS name and profile image) to `key` over its 1:1 chat
    /// (MVDS, the secure transport, and a copy to our other devices). Returns its id.
    pub fn send_contact_update(
        &mut self,
        key: &PublicKey,
        ens_name: &str,
        profile_image: &str,
        now_ms: u64,
    ) -> Result<MessageId> {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_key(key)?;
        check_name("ens name", ens_name)?;
        if profile_image.len() > MAX_PROFILE_IMAGE_BYTES {
            return Err(Error::InvalidInput {
                what: "profile image",
                reason: "is larger than 256 KiB",
            });
        }
        let mut profile = self.db.own_profile()?.unwrap_or_default();
        if profile.ens_name != ens_name || profile.profile_image != profile_image {
            ens_name.clone_into(&mut profile.ens_name);
            profile_image.clone_into(&mut profile.profile_image);
            self.db.put_own_profile(&profile)?;
        }
        self.send_update(key, &profile, now_ms)
    }

    fn send_update(
        &mut self,
        key: &PublicKey,
        profile: &OwnProfile,
        now_ms: u64,
    ) -> Result<MessageId> {
        let update = ContactUpdate {
            clock: self.devices.clock.tick(now_ms),
            ens_name: profile.ens_name.clone(),
            profile_image: profile.profile_image.clone(),
        };
        self.send_direct_app(key, AppType::ContactUpdate, update.encode_to_vec(), now_ms)
    }

    /// Our profile as our `ContactUpdate`s carry it, and when they last went to every added
    /// contact (`None` before [`Messenger::start`] first ran).
    pub fn own_profile(&self) -> Result<Option<OwnProfile>> {
        Ok(self.db.own_profile()?)
    }

    /// Schedules the periodic `ContactUpdate` (on start): due
    /// [`super::Config::contact_update_interval`] after it last went to every contact; on the
    /// very first start that time is now (a new contact gets one when added anyway).
    pub(super) fn schedule_contact_updates(&mut self, now_ms: u64) -> Result<()> {
        let sent = match self.db.own_profile()? {
            Some(profile) => profile.contact_updates_sent_ms,
            None => {
                let profile =
                    OwnProfile { contact_updates_sent_ms: now_ms, ..OwnProfile::default() };
                self.db.put_own_profile(&profile)?;
                now_ms
            }
        };
        self.next_contact_updates_ms = Some(sent.saturating_add(self.contact_update_interval_ms()));
        Ok(())
    }

    fn contact_update_interval_ms(&self) -> u64 {
        u64::try_from(self.config.contact_update_interval.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// The periodic re-send: our stored profile to every added contact that is not blocked.
    /// The time is stored (and the next one scheduled) before anything is sent, so a failure
    /// cannot make every tick try again.
    pub(super) fn resend_contact_updates(&mut self, now_ms: u64) -> Result<Vec<MessageId>> {
        let mut profile = self.db.own_profile()?.unwrap_or_default();
        profile.contact_updates_sent_ms = now_ms;
        self.db.put_own_profile(&profile)?;
        self.next_contact_updates_ms =
            Some(now_ms.saturating_add(self.contact_update_interval_ms()));
        let mut ids = Vec::new();
        for contact in self.db.contacts()? {
            if contact.added && !contact.blocked && contact.key != self.public {
                ids.push(self.send_update(&contact.key, &profile, now_ms)?);
            }
        }
        debug!(target: "messenger", contacts = ids.len(), "periodic contact updates sent");
        Ok(ids)
    }

    /// Sends a `ContactUpdate` with `ens_name` and `profile_image` (stored as our profile)
    /// to every added contact that is not blocked (status-go `SendContactUpdates`); the
    /// periodic re-send counts from now. Returns the ids.
    pub fn send_contact_updates(
        &mut self,
        ens_name: &str,
        profile_image: &str,
        now_ms: u64,
    ) -> Result<Vec<MessageId>> {
        self.now_ms = self.now_ms.max(now_ms);
        check_name("ens name", ens_name)?;
        if profile_image.len() > MAX_PROFILE_IMAGE_BYTES {
            return Err(Error::InvalidInput {
                what: "profile image",
                reason: "is larger than 256 KiB",
            });
        }
        let mut profile = self.db.own_profile()?.unwrap_or_default();
        ens_name.clone_into(&mut profile.ens_name);
        profile_image.clone_into(&mut profile.profile_image);
        self.db.put_own_profile(&profile)?;
        self.resend_contact_updates(now_ms)
    }

    /// Signs an application message and sends it to `peer` over MVDS and the secure
    /// transport, with a copy to our other devices. Returns its id.
    pub(super) fn send_direct_app(
        &mut self,
        peer: &PublicKey,
        kind: AppType,
        payload: Vec<u8>,
        now_ms: u64,
    ) -> Result<MessageId> {
        let (signed, bytes) = SignedMessage::build(payload, kind, &self.identity);
        self.remember(signed.id);
        let group = wisp_mvds::GroupId::one_to_one(&self.public, peer);
        let seconds = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        let record = wisp_mvds::Message::new(group, seconds, bytes.clone());
        self.mvds.add_peer(group, super::peer_id(peer))?;
        self.mvds.send_message(record, None, now_ms)?;
        self.copy_to_own_devices(&bytes, now_ms);
        self.flush_mvds(now_ms)?;
        Ok(signed.id)
    }

    /// Applies a `ContactUpdate` from `author` (through the secure transport only).
    pub(super) fn apply_contact_update(
        &mut self,
        payload: &[u8],
        author: &PublicKey,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        let update = proto::decode_contact_update(payload).map_err(|_| DropReason::Undecodable)?;
        if !encrypted {
            return Err(DropReason::Invalid);
        }
        if *author == self.public {
            // Our own update to a contact, copied to this device.
            return Ok(());
        }
        if update.ens_name.len() > MAX_NAME_BYTES
            || update.profile_image.len() > MAX_PROFILE_IMAGE_BYTES
        {
            return Err(DropReason::Invalid);
        }
        let storage = |_| DropReason::Storage;
        let mut contact = self
            .db
            .contact(author)
            .map_err(storage)?
            .unwrap_or_else(|| StoredContact::new(*author));
        contact.has_added_us = true;
        if update.clock > contact.last_updated {
            contact.ens_name = update.ens_name;
            contact.profile_image = update.profile_image;
            contact.last_updated = update.clock;
        }
        self.db.put_contact(&contact).map_err(storage)?;
        self.event(Event::ContactChanged { contact: contact.id() });
        Ok(())
    }

    /// Applies a `ChatIdentity` (alone or in a contact-code advertisement) from `author`.
    pub(super) fn apply_chat_identity(
        &mut self,
        identity: ChatIdentity,
        author: &PublicKey,
    ) -> std::result::Result<(), DropReason> {
        if *author == self.public {
            return Ok(());
        }
        if identity.display_name.len() > MAX_NAME_BYTES || identity.ens_name.len() > MAX_NAME_BYTES
        {
            return Err(DropReason::Invalid);
        }
        let storage = |_| DropReason::Storage;
        let mut contact = self
            .db
            .contact(author)
            .map_err(storage)?
            .unwrap_or_else(|| StoredContact::new(*author));
        if contact.identity.as_ref().is_some_and(|old| old.clock >= identity.clock) {
            return Ok(());
        }
        identity.display_name.clone_into(&mut contact.display_name);
        if !identity.ens_name.is_empty() {
            identity.ens_name.clone_into(&mut contact.ens_name);
        }
        contact.identity = Some(identity);
        self.db.put_contact(&contact).map_err(storage)?;
        self.event(Event::ContactChanged { contact: contact.id() });
        Ok(())
    }
}

fn check_name(what: &'static str, value: &str) -> Result<()> {
    if value.len() > MAX_NAME_BYTES {
        return Err(Error::InvalidInput { what, reason: "is longer than 256 bytes" });
    }
    Ok(())
}
