//! The contact and paired-device commands of [`ChatHandle`] (the JSON-RPC `wakuext_*`
//! contact and installation methods use them).

use wisp_crypto::PublicKey;
use wisp_messenger::{InstallationInfo, MessageId, StoredChat, StoredContact};

use super::{ChatError, ChatHandle};

impl ChatHandle {
    /// Every contact known.
    pub async fn contacts(&self) -> Result<Vec<StoredContact>, ChatError> {
        self.run(|core, _| core.messenger.contacts()).await?.map_err(Into::into)
    }

    /// One contact.
    pub async fn contact(&self, key: PublicKey) -> Result<Option<StoredContact>, ChatError> {
        self.run(move |core, _| core.messenger.contact(&key)).await?.map_err(Into::into)
    }

    /// Adds a contact (with a nickname when given): its 1:1 chat is opened, a
    /// `ContactUpdate` sent, and it is synced to our other devices. Returns the contact and
    /// its chat.
    pub async fn add_contact(
        &self,
        key: PublicKey,
        nickname: Option<String>,
        ens_name: String,
    ) -> Result<(StoredContact, Option<StoredChat>), ChatError> {
        self.run(move |core, now| {
            let contact = core.messenger.add_contact(&key, nickname.as_deref(), &ens_name, now)?;
            let chat = core.messenger.chat(&contact.id())?;
            Ok((contact, chat))
        })
        .await?
    }

    /// Removes a contact (no longer added; chat and messages stay).
    pub async fn remove_contact(&self, key: PublicKey) -> Result<StoredContact, ChatError> {
        self.run(move |core, now| Ok(core.messenger.remove_contact(&key, now)?)).await?
    }

    /// Blocks a contact; returns the chats that changed that still exist.
    pub async fn block_contact(&self, key: PublicKey) -> Result<Vec<StoredChat>, ChatError> {
        self.run(move |core, now| {
            let ids = core.messenger.block_contact(&key, now)?;
            let mut chats = Vec::new();
            for id in ids {
                if let Some(chat) = core.messenger.chat(&id)? {
                    chats.push(chat);
                }
            }
            Ok(chats)
        })
        .await?
    }

    /// Unblocks a contact.
    pub async fn unblock_contact(&self, key: PublicKey) -> Result<StoredContact, ChatError> {
        self.run(move |core, now| Ok(core.messenger.unblock_contact(&key, now)?)).await?
    }

    /// Saves a contact as given (nickname, flags).
    pub async fn save_contact(&self, contact: StoredContact) -> Result<(), ChatError> {
        self.run(move |core, _| Ok(core.messenger.save_contact(&contact)?)).await?
    }

    /// Sends a `ContactUpdate` to one contact.
    pub async fn send_contact_update(
        &self,
        key: PublicKey,
        ens_name: String,
        profile_image: String,
    ) -> Result<MessageId, ChatError> {
        self.run(move |core, now| {
            Ok(core.messenger.send_contact_update(&key, &ens_name, &profile_image, now)?)
        })
        .await?
    }

    /// Sends a `ContactUpdate` to every added contact.
    pub async fn send_contact_updates(
        &self,
        ens_name: String,
        profile_image: String,
    ) -> Result<Vec<MessageId>, ChatError> {
        self.run(move |core, now| {
            Ok(core.messenger.send_contact_updates(&ens_name, &profile_image, now)?)
        })
        .await?
    }

    /// This device's installation id.
    pub async fn installation_id(&self) -> Result<String, ChatError> {
        self.run(|core, _| core.messenger.installation_id().to_owned()).await
    }

    /// Every installation of our account known, this one first.
    pub async fn our_installations(&self) -> Result<Vec<InstallationInfo>, ChatError> {
        self.run(|core, _| core.messenger.our_installations()).await?.map_err(Into::into)
    }

    /// Sets this installation's name and device type.
    pub async fn set_installation_metadata(
        &self,
        name: String,
        device_type: String,
    ) -> Result<(), ChatError> {
        self.run(move |core, _| {
            Ok(core.messenger.set_installation_metadata(&name, &device_type)?)
        })
        .await?
    }

    /// Announces this installation to our other devices.
    pub async fn send_pair_installation(&self) -> Result<MessageId, ChatError> {
        self.run(|core, now| Ok(core.messenger.send_pair_installation(now)?)).await?
    }

    /// Enables one of our other installations.
    pub async fn enable_installation(&self, id: String) -> Result<(), ChatError> {
        self.run(move |core, now| Ok(core.messenger.enable_installation(&id, now)?)).await?
    }

    /// Disables one of our other installations.
    pub async fn disable_installation(&self, id: String) -> Result<(), ChatError> {
        self.run(move |core, now| Ok(core.messenger.disable_installation(&id, now)?)).await?
    }

    /// Sends our contacts and public chats to our enabled other installations; returns how
    /// many messages went.
    pub async fn sync_devices(&self) -> Result<usize, ChatError> {
        self.run(|core, now| Ok(core.messenger.sync_devices(now)?)).await?
    }
}
