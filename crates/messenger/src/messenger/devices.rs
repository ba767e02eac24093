//! Paired devices (5/SECURE-TRANSPORT §multi-device, status-go v0.79): our installations and
//! their metadata, `PairInstallation`, enabling and disabling installations, and the sync
//! messages between our devices (`SyncInstallation`, `SyncInstallationContact`,
//! `SyncInstallationPublicChat`).
//!
//! - Which installations of our account exist and which are enabled is the secure
//!   transport's: an installation is learnt from a bundle of ours (every `ProtocolMessage` our
//!   other devices send carries it) and starts disabled; [`Messenger::enable_installation`]
//!   makes our bundle list it (at most [`wisp_ratchet::DEFAULT_MAX_INSTALLATIONS`] in all,
//!   most recently active first) and every direct message we send is then encrypted for it
//!   too. Its name and device type come from its `PairInstallation`
//!   ([`Messenger::send_pair_installation`]).
//! - What goes to our own devices (pairing, sync, the copy of every 1:1 and group message we
//!   send, as status-go's `sendToPairedDevices`) is an MVDS message in the group of our key with
//!   itself, to our own key: encrypted for each enabled installation of ours, or in DH mode
//!   (readable by all of them) while none is enabled, which is how a `PairInstallation`
//!   reaches a device that has not enabled us yet. Group membership updates go to them as
//!   plain ratchet messages, as to the other members.
//! - Pairing and sync messages are accepted only from our own key, through the secure
//!   transport; anything else is dropped as [`DropReason::Invalid`]. Malformed ones (an
//!   empty installation id, a contact id that is not a key, a chat name that is not one,
//!   fields over [`MAX_FIELD_BYTES`]) are dropped and counted too; nothing of them is applied.

use wisp_crypto::PublicKey;
use wisp_mvds::GroupId;

use super::{DropReason, Event, Messenger, peer_id, peer_of_chat_id, validate_chat_name};
use crate::error::{Error, Result};
use crate::identity::{LamportClock, MessageId, SignedMessage};
use crate::proto::{
    self, Message as _, PairInstallation, SyncInstallation, SyncInstallationContact,
    SyncInstallationPublicChat, application_metadata_message::Type as AppType,
};
use crate::store::{
    InstallationMetadata, MessageStore, StoredContact, TAG_ADDED, TAG_BLOCKED, TAG_REQUEST_RECEIVED,
};

/// Longest name, device type or other text field of a pairing or sync message accepted, in
/// bytes.
pub const MAX_FIELD_BYTES: usize = 256;
/// Most items of one `SyncInstallation` applied (the rest is dropped).
pub const MAX_SYNC_ITEMS: usize = 1000;

/// One installation (device) of our account, as `getOurInstallations` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallationInfo {
    /// Its id.
    pub id: String,
    /// Whether it is this installation.
    pub this_device: bool,
    /// Whether messages are sent to it (this installation always is).
    pub enabled: bool,
    /// The highest protocol version seen for it.
    pub version: u32,
    /// Its last activity: the timestamp of the newest bundle listing it, Unix nanoseconds.
    pub timestamp: i64,
    /// Its name and device type, when known.
    pub metadata: Option<InstallationMetadata>,
}

/// The messenger's state of contacts and devices kept in memory.
#[derive(Debug, Default)]
pub(super) struct DevicesState {
    /// The uncompressed keys of blocked contacts.
    pub(super) blocked: std::collections::HashSet<[u8; 65]>,
    /// The clock of the contact, pairing and sync messages we send.
    pub(super) clock: LamportClock,
    /// Set while a received sync message is applied, so that what it does is not synced
    /// back.
    pub(super) applying_sync: bool,
    /// When we last answered a sender with our bundle (uncompressed key -> Unix ms).
    pub(super) bundle_answers: std::collections::HashMap<[u8; 65], u64>,
    /// Start of the current hour of bundle answers (Unix ms) and how many went in it.
    pub(super) bundle_answer_window: (u64, usize),
}

/// Most bundle answers sent per [`BUNDLE_ANSWER_INTERVAL_MS`], all senders together: each
/// costs a signature, an ECDH, a PBKDF2 key derivation and an envelope's proof of work, so a
/// flood of messages from fresh keys must not buy unbounded work.
pub const MAX_BUNDLE_ANSWERS_PER_INTERVAL: usize = 64;

/// A sender whose message had nothing for this installation gets our bundle at most this
/// often: 1 h.
pub const BUNDLE_ANSWER_INTERVAL_MS: u64 = 3_600_000;
/// Senders remembered for [`BUNDLE_ANSWER_INTERVAL_MS`] (forgotten all at once beyond).
const MAX_BUNDLE_ANSWERS: usize = 1024;

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// This installation's id.
    pub fn installation_id(&self) -> &str {
        self.transport.installation_id()
    }

    /// Every installation of our account known, this one first, then by id; with their
    /// metadata.
    pub fn our_installations(&self) -> Result<Vec<InstallationInfo>> {
        let metadata = self.db.installation_metadata()?;
        let ours = self.transport.installation_id().to_owned();
        let mut list: Vec<InstallationInfo> = self
            .transport
            .our_installations()?
            .into_iter()
            .map(|i| InstallationInfo {
                this_device: i.id == ours,
                enabled: i.enabled || i.id == ours,
                metadata: metadata.iter().find(|m| m.installation_id == i.id).cloned(),
                id: i.id,
                version: i.version,
                timestamp: i.timestamp,
            })
            .collect();
        list.sort_by(|a, b| b.this_device.cmp(&a.this_device).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    /// Sets this installation's name and device type (status-go `SetInstallationMetadata`);
    /// they go to our other devices with the next [`Messenger::send_pair_installation`].
    pub fn set_installation_metadata(&mut self, name: &str, device_type: &str) -> Result<()> {
        check_field("installation name", name)?;
        check_field("device type", device_type)?;
        let clock = self.devices.clock.tick(self.now_ms);
        let metadata = InstallationMetadata {
            installation_id: self.transport.installation_id().to_owned(),
            name: name.to_owned(),
            device_type: device_type.to_owned(),
            clock,
        };
        self.db.put_installation_metadata(&metadata)?;
        Ok(())
    }

    /// Announces this installation (id, name, device type) to our other devices with a
    /// `PairInstallation` (status-go `SendPairInstallation`). It goes even when none is
    /// enabled yet (in DH mode then), so a device that does not know us yet learns us.
    pub fn send_pair_installation(&mut self, now_ms: u64) -> Result<MessageId> {
        self.now_ms = self.now_ms.max(now_ms);
        let ours = self.transport.installation_id().to_owned();
        let metadata =
            self.db.installation_metadata()?.into_iter().find(|m| m.installation_id == ours);
        let (name, device_type) = metadata.map(|m| (m.name, m.device_type)).unwrap_or_default();
        let message = PairInstallation {
            clock: self.devices.clock.tick(now_ms),
            installation_id: ours,
            device_type,
            name,
        };
        self.send_to_own_devices(AppType::PairInstallation, message.encode_to_vec(), now_ms)
    }

    /// Enables one of our other installations: our bundle lists it from now on (advertised
    /// at once) and what we send is encrypted for it too. [`Error::UnknownInstallation`] when
    /// no bundle of ours named it yet.
    pub fn enable_installation(&mut self, installation_id: &str, now_ms: u64) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_other_installation(installation_id)?;
        if !self.transport.enable_installation(installation_id)? {
            return Err(Error::UnknownInstallation { id: installation_id.to_owned() });
        }
        self.event(Event::InstallationChanged { installation_id: installation_id.to_owned() });
        // Contacts learn the new bundle from our contact code.
        self.advertise(now_ms)
    }

    /// Disables one of our other installations: it leaves our bundle and gets nothing more.
    pub fn disable_installation(&mut self, installation_id: &str, now_ms: u64) -> Result<()> {
        self.now_ms = self.now_ms.max(now_ms);
        self.check_other_installation(installation_id)?;
        if !self.transport.disable_installation(installation_id)? {
            return Err(Error::UnknownInstallation { id: installation_id.to_owned() });
        }
        self.event(Event::InstallationChanged { installation_id: installation_id.to_owned() });
        self.advertise(now_ms)
    }

    fn check_other_installation(&self, installation_id: &str) -> Result<()> {
        if installation_id == self.transport.installation_id() {
            return Err(Error::InvalidInput {
                what: "installation id",
                reason: "is this installation's own (always enabled)",
            });
        }
        Ok(())
    }

    /// Whether any other installation of ours is enabled.
    pub fn has_paired_devices(&self) -> Result<bool> {
        let ours = self.transport.installation_id();
        Ok(self.transport.our_installations()?.iter().any(|i| i.enabled && i.id != ours))
    }

    /// Sends our contacts (added or blocked) and active public chats to our enabled other
    /// installations (status-go `SyncDevices`), one message each. Returns how many were sent
    /// (0 when no other installation is enabled).
    pub fn sync_devices(&mut self, now_ms: u64) -> Result<usize> {
        self.now_ms = self.now_ms.max(now_ms);
        if !self.has_paired_devices()? {
            return Ok(0);
        }
        let mut sent = 0;
        for contact in self.db.contacts()? {
            if contact.added || contact.blocked {
                self.sync_contact(&contact, now_ms)?;
                sent += 1;
            }
        }
        let public: Vec<String> = self
            .chats
            .iter()
            .filter(|(_, c)| c.kind == super::ChatKind::Public && c.active)
            .map(|(id, _)| id.clone())
            .collect();
        for name in public {
            self.sync_public_chat(&name, now_ms)?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Sends a contact to our enabled other installations, if any.
    pub(super) fn sync_contact(&mut self, contact: &StoredContact, now_ms: u64) -> Result<()> {
        if self.devices.applying_sync || !self.has_paired_devices()? {
            return Ok(());
        }
        let message = SyncInstallationContact {
            clock: self.devices.clock.tick(now_ms),
            id: contact.id(),
            profile_image: contact.profile_image.clone(),
            ens_name: contact.ens_name.clone(),
            last_updated: contact.last_updated,
            system_tags: contact.system_tags(),
            local_nickname: contact.local_nickname.clone(),
        };
        self.send_to_own_devices(
            AppType::SyncInstallationContact,
            message.encode_to_vec(),
            now_ms,
        )?;
        Ok(())
    }

    /// Sends a joined public chat to our enabled other installations, if any.
    pub(super) fn sync_public_chat(&mut self, name: &str, now_ms: u64) -> Result<()> {
        if self.devices.applying_sync || !self.has_paired_devices()? {
            return Ok(());
        }
        let message = SyncInstallationPublicChat {
            clock: self.devices.clock.tick(now_ms),
            id: name.to_owned(),
        };
        self.send_to_own_devices(
            AppType::SyncInstallationPublicChat,
            message.encode_to_vec(),
            now_ms,
        )?;
        Ok(())
    }

    /// Signs an application message and sends it over MVDS to our own key (our other
    /// installations). Returns its id.
    pub(super) fn send_to_own_devices(
        &mut self,
        kind: AppType,
        payload: Vec<u8>,
        now_ms: u64,
    ) -> Result<MessageId> {
        let (signed, bytes) = SignedMessage::build(payload, kind, &self.identity);
        self.remember(signed.id);
        self.mvds_to_own_devices(bytes, now_ms)?;
        self.flush_mvds(now_ms)?;
        Ok(signed.id)
    }

    /// Hands our signed message `raw` to MVDS for our own key (not flushed).
    fn mvds_to_own_devices(&mut self, raw: Vec<u8>, now_ms: u64) -> Result<()> {
        let group = GroupId::one_to_one(&self.public, &self.public);
        let seconds = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
        let record = wisp_mvds::Message::new(group, seconds, raw);
        self.mvds.add_peer(group, peer_id(&self.public))?;
        self.mvds.send_message(record, None, now_ms)?;
        Ok(())
    }

    /// The copy of a 1:1 or group message of ours for our enabled other installations (status-go
    /// `sendToPairedDevices`), when there is one; the caller flushes MVDS. The message to the
    /// contact is stored and handed to MVDS already, so a store failure here only loses the
    /// copy (logged), not the message.
    pub(super) fn copy_to_own_devices(&mut self, raw: &[u8], now_ms: u64) {
        let copied = self.has_paired_devices().and_then(|paired| {
            if paired { self.mvds_to_own_devices(raw.to_vec(), now_ms) } else { Ok(()) }
        });
        if let Err(e) = copied {
            tracing::debug!(target: "messenger", error = %e, "copy to our other devices not sent");
        }
    }

    /// Posts our signed message `raw` to our enabled other installations as a plain ratchet
    /// message (no MVDS), when there is one: the group membership updates we send (status-go
    /// keeps our own key among a group's recipients while a device is paired).
    pub(super) fn post_to_own_devices(&mut self, raw: &[u8], now_ms: u64) -> Result<()> {
        if !self.has_paired_devices()? {
            return Ok(());
        }
        let me = self.public;
        self.post_direct(&me, raw, Vec::new(), now_ms)
    }

    /// Answers `sender`, whose message carried nothing for this installation, with our
    /// bundle in an empty DH-mode message (status-go `BuildBundleAdvertiseMessage`), so their
    /// next messages include this installation; at most once per
    /// [`BUNDLE_ANSWER_INTERVAL_MS`] per sender and [`MAX_BUNDLE_ANSWERS_PER_INTERVAL`] in all.
    /// Failures are logged.
    pub(super) fn answer_with_bundle(&mut self, sender: &PublicKey, now_ms: u64) {
        let id = sender.to_uncompressed();
        if self
            .devices
            .bundle_answers
            .get(&id)
            .is_some_and(|last| now_ms.saturating_sub(*last) < BUNDLE_ANSWER_INTERVAL_MS)
        {
            return;
        }
        let (start, count) = &mut self.devices.bundle_answer_window;
        if now_ms.saturating_sub(*start) >= BUNDLE_ANSWER_INTERVAL_MS {
            (*start, *count) = (now_ms, 0);
        }
        if *count >= MAX_BUNDLE_ANSWERS_PER_INTERVAL {
            tracing::debug!(target: "messenger", "bundle answer skipped: hourly budget spent");
            return;
        }
        *count += 1;
        if self.devices.bundle_answers.len() >= MAX_BUNDLE_ANSWERS {
            self.devices.bundle_answers.clear();
        }
        self.devices.bundle_answers.insert(id, now_ms);
        match self.transport.build_bundle_advertisement(sender, super::system_time(now_ms)) {
            Ok(built) => {
                let topic = super::waku_topic(built.destination.topic());
                let payload = built.encode();
                self.post(topic, wisp_waku::Encryption::Asymmetric(*sender), payload, Vec::new());
                // Our bundle says we speak the negotiated topic: they will use it as soon as
                // they have it, so listen on it now.
                let secret = wisp_ratchet::NegotiatedSecret::derive(&self.identity, sender);
                self.install_negotiated(&secret);
            }
            Err(e) => {
                tracing::debug!(target: "messenger", error = %e, "bundle answer not built");
            }
        }
    }

    /// Applies a pairing or sync message (`kind`) from `author`.
    pub(super) fn apply_device_message(
        &mut self,
        kind: AppType,
        payload: &[u8],
        author: &PublicKey,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        if *author != self.public || !encrypted {
            return Err(DropReason::Invalid);
        }
        let undecodable = |_| DropReason::Undecodable;
        match kind {
            AppType::PairInstallation => {
                let message = proto::decode_pair_installation(payload).map_err(undecodable)?;
                self.apply_pair_installation(message)
            }
            AppType::SyncInstallationContact => {
                let message = proto::decode_sync_contact(payload).map_err(undecodable)?;
                let contact = self.check_sync_contact(&message)?;
                self.with_sync(|m| m.apply_sync_contact(&message, contact))
            }
            AppType::SyncInstallationPublicChat => {
                let message = proto::decode_sync_public_chat(payload).map_err(undecodable)?;
                validate_chat_name(&message.id).map_err(|_| DropReason::Invalid)?;
                self.with_sync(|m| m.apply_sync_public_chat(&message))
            }
            AppType::SyncInstallation => {
                let message = proto::decode_sync_installation(payload).map_err(undecodable)?;
                self.apply_sync_installation(&message)
            }
            // Our own profile image: wisp keeps no profile image yet.
            AppType::SyncInstallationAccount => {
                proto::decode_sync_account(payload).map_err(undecodable)?;
                Ok(())
            }
            _ => Err(DropReason::Invalid),
        }
    }

    fn with_sync(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<()>,
    ) -> std::result::Result<(), DropReason> {
        self.devices.applying_sync = true;
        let result = f(self);
        self.devices.applying_sync = false;
        result.map_err(|e| match e {
            Error::Store(_) => DropReason::Storage,
            _ => DropReason::Invalid,
        })
    }

    fn apply_pair_installation(
        &mut self,
        message: PairInstallation,
    ) -> std::result::Result<(), DropReason> {
        if message.installation_id.is_empty()
            || message.installation_id == self.transport.installation_id()
            || message.installation_id.len() > MAX_FIELD_BYTES
            || message.name.len() > MAX_FIELD_BYTES
            || message.device_type.len() > MAX_FIELD_BYTES
        {
            return Err(DropReason::Invalid);
        }
        let known = self.db.installation_metadata().map_err(|_| DropReason::Storage)?;
        if known
            .iter()
            .any(|m| m.installation_id == message.installation_id && m.clock >= message.clock)
        {
            return Ok(());
        }
        let metadata = InstallationMetadata {
            installation_id: message.installation_id.clone(),
            name: message.name,
            device_type: message.device_type,
            clock: message.clock,
        };
        self.db.put_installation_metadata(&metadata).map_err(|_| DropReason::Storage)?;
        self.event(Event::InstallationChanged { installation_id: message.installation_id });
        Ok(())
    }

    /// The contact a `SyncInstallationContact` is about, checked.
    fn check_sync_contact(
        &self,
        message: &SyncInstallationContact,
    ) -> std::result::Result<PublicKey, DropReason> {
        let key = peer_of_chat_id(&message.id).ok_or(DropReason::Invalid)?;
        if key == self.public
            || message.ens_name.len() > MAX_FIELD_BYTES
            || message.local_nickname.len() > MAX_FIELD_BYTES
            || message.system_tags.len() > 16
        {
            return Err(DropReason::Invalid);
        }
        Ok(key)
    }

    fn apply_sync_contact(
        &mut self,
        message: &SyncInstallationContact,
        key: PublicKey,
    ) -> Result<()> {
        let mut contact = self.db.contact(&key)?.unwrap_or_else(|| StoredContact::new(key));
        if contact.last_updated > message.last_updated && contact.last_updated != 0 {
            return Ok(());
        }
        let has = |tag: &str| message.system_tags.iter().any(|t| t == tag);
        contact.ens_name.clone_from(&message.ens_name);
        contact.profile_image.clone_from(&message.profile_image);
        contact.local_nickname.clone_from(&message.local_nickname);
        contact.last_updated = message.last_updated.max(message.clock);
        contact.has_added_us |= has(TAG_REQUEST_RECEIVED);
        if has(TAG_BLOCKED) {
            contact.added = false;
            self.block(contact)?;
        } else {
            contact.added = has(TAG_ADDED);
            contact.blocked = false;
            self.devices.blocked.remove(&key.to_uncompressed());
            self.db.put_contact(&contact)?;
            if contact.added {
                self.install_contact_code_filter(&key);
                self.open_one_to_one_chat(&key)?;
            }
            self.event(Event::ContactChanged { contact: contact.id() });
        }
        Ok(())
    }

    fn apply_sync_public_chat(&mut self, message: &SyncInstallationPublicChat) -> Result<()> {
        self.join_public_chat(&message.id)
    }

    fn apply_sync_installation(
        &mut self,
        message: &SyncInstallation,
    ) -> std::result::Result<(), DropReason> {
        if message.contacts.len() + message.public_chats.len() > MAX_SYNC_ITEMS {
            return Err(DropReason::Invalid);
        }
        // Each item is checked before anything is applied: a bad one drops the message.
        let mut contacts = Vec::with_capacity(message.contacts.len());
        for contact in &message.contacts {
            contacts.push((contact, self.check_sync_contact(contact)?));
        }
        for chat in &message.public_chats {
            validate_chat_name(&chat.id).map_err(|_| DropReason::Invalid)?;
        }
        self.with_sync(|m| {
            for (contact, key) in contacts {
                m.apply_sync_contact(contact, key)?;
            }
            for chat in &message.public_chats {
                m.apply_sync_public_chat(chat)?;
            }
            Ok(())
        })
    }
}

fn check_field(what: &'static str, value: &str) -> Result<()> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(Error::InvalidInput { what, reason: "is longer than 256 bytes" });
    }
    Ok(())
}
