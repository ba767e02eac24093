//! The group chat commands of [`ChatHandle`] (7/GROUP-CHAT; the rules are
//! [`wisp_messenger::group`]'s, the sending [`wisp_messenger::Messenger`]'s).

use wisp_crypto::PublicKey;
use wisp_messenger::group::GroupState;
use wisp_messenger::{GroupInvitation, StoredChat};

use super::{ChatError, ChatHandle};

/// A group chat with its state (members, admins, who joined), as the RPC shows it.
#[derive(Clone, Debug)]
pub struct GroupChat {
    /// The stored chat.
    pub chat: StoredChat,
    /// Its state, replayed from its events (`None` for a chat created from an invitation
    /// whose events did not arrive yet).
    pub state: Option<GroupState>,
    /// The events, `signature || event` each, by clock.
    pub events: Vec<Vec<u8>>,
}

impl ChatHandle {
    /// The group chat `id` with its state.
    pub async fn group_chat(&self, id: &str) -> Result<GroupChat, ChatError> {
        let id = id.to_owned();
        self.run(move |core, _| core.group_chat(&id)).await?
    }

    /// Creates group chat `name` with `members`; returns it.
    pub async fn create_group_chat(
        &self,
        name: &str,
        members: Vec<PublicKey>,
    ) -> Result<GroupChat, ChatError> {
        let name = name.to_owned();
        let uuid: [u8; 16] = wisp_crypto::random_bytes();
        self.run(move |core, now| {
            let id = core.messenger.create_group_chat(&name, &members, uuid, now)?;
            core.group_chat(&id)
        })
        .await?
    }

    /// Adds group chat `id` from an invitation (its events come from the admin).
    pub async fn create_group_chat_from_invitation(
        &self,
        id: &str,
        name: &str,
    ) -> Result<GroupChat, ChatError> {
        let (id, name) = (id.to_owned(), name.to_owned());
        self.run(move |core, now| {
            core.messenger.create_group_chat_from_invitation(&id, &name, now)?;
            core.group_chat(&id)
        })
        .await?
    }

    /// Runs one membership change on group chat `id` and returns the chat after it.
    pub async fn group_change(
        &self,
        id: &str,
        change: GroupChange,
    ) -> Result<GroupChat, ChatError> {
        let id = id.to_owned();
        self.run(move |core, now| {
            core.known_chat(&id)?;
            let m = &mut core.messenger;
            match change {
                GroupChange::AddMembers(keys) => m.add_group_members(&id, &keys, now)?,
                GroupChange::RemoveMember(key) => m.remove_group_member(&id, &key, now)?,
                GroupChange::AddAdmins(keys) => m.add_group_admins(&id, &keys, now)?,
                GroupChange::Rename(name) => m.rename_group_chat(&id, &name, now)?,
                GroupChange::Join => m.confirm_joining_group(&id, now)?,
                GroupChange::Leave => m.leave_group_chat(&id, false, now)?,
            }
            core.group_chat(&id)
        })
        .await?
    }

    /// Leaves group chat `id` and deletes it here.
    pub async fn leave_and_remove_group_chat(&self, id: &str) -> Result<(), ChatError> {
        let id = id.to_owned();
        self.run(move |core, now| {
            core.known_chat(&id)?;
            core.messenger.leave_group_chat(&id, true, now)?;
            Ok(())
        })
        .await?
    }

    /// Declines the invitation to group chat `id`: the chat is deleted here.
    pub async fn decline_group_invitation(&self, id: &str) -> Result<(), ChatError> {
        let id = id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            core.messenger.decline_group_invitation(&id)?;
            Ok(())
        })
        .await?
    }

    /// The group chats we were added to and have not joined yet.
    pub async fn group_invitations(&self) -> Result<Vec<GroupChat>, ChatError> {
        self.run(move |core, _| {
            core.messenger
                .group_invitations()?
                .iter()
                .map(|id| core.group_chat(id))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
    }
}

impl ChatHandle {
    /// Asks `admin` to add us to group chat `id` (known here, e.g. from an invitation link)
    /// with `message`; returns the stored request.
    pub async fn send_group_invitation_request(
        &self,
        id: &str,
        admin: PublicKey,
        message: &str,
    ) -> Result<GroupInvitation, ChatError> {
        let (id, message) = (id.to_owned(), message.to_owned());
        self.run(move |core, now| {
            core.known_chat(&id)?;
            Ok(core.messenger.send_group_invitation_request(&id, &admin, &message, now)?)
        })
        .await?
    }

    /// Rejects the invitation request `id` we received; returns the stored (rejected) record.
    pub async fn reject_group_invitation_request(
        &self,
        id: &str,
    ) -> Result<GroupInvitation, ChatError> {
        let id = id.to_owned();
        self.run(move |core, now| Ok(core.messenger.reject_group_invitation_request(&id, now)?))
            .await?
    }

    /// Every group chat invitation request sent or received, and the rejections, by clock.
    pub async fn group_chat_invitations(&self) -> Result<Vec<GroupInvitation>, ChatError> {
        self.run(move |core, _| Ok(core.messenger.group_chat_invitations()?)).await?
    }
}

/// One change of a group chat's membership.
#[derive(Clone, Debug)]
pub enum GroupChange {
    /// Add members (admin).
    AddMembers(Vec<PublicKey>),
    /// Remove a member (admin).
    RemoveMember(PublicKey),
    /// Make members admins (admin).
    AddAdmins(Vec<PublicKey>),
    /// Rename (admin).
    Rename(String),
    /// Accept the invitation.
    Join,
    /// Leave, keeping the chat (inactive).
    Leave,
}

impl super::driver::Core {
    /// Group chat `id` with its state and events.
    pub(crate) fn group_chat(&self, id: &str) -> Result<GroupChat, ChatError> {
        let chat = self.known_chat(id)?;
        if chat.kind != wisp_messenger::ChatKind::PrivateGroup {
            return Err(ChatError::UnknownChat(id.to_owned()));
        }
        let state = self.messenger.group_state(id)?;
        let events = wisp_messenger::MessageStore::group_events(self.messenger.store(), id)
            .map_err(wisp_messenger::Error::from)?;
        Ok(GroupChat { chat, state, events })
    }
}
