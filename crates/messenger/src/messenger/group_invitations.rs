//! Requests to join a private group chat (`GROUP_CHAT_INVITATION`, status-go v0.79's
//! `SendGroupChatInvitationRequest` / `SendGroupChatInvitationRejection`).
//!
//! - A non-member who knows a group chat (from an invitation link,
//!   [`Messenger::create_group_chat_from_invitation`]) asks one of its admins to be added: a
//!   `GroupChatInvitation` in state `REQUEST` with the chat's next clock, sent pairwise over
//!   the secure transport (plain ratchet message, no MVDS).
//! - The admin stores it as pending; they accept by adding the requester
//!   ([`Messenger::add_group_members`]) or reject it: the same invitation in state
//!   `REJECTED`, with a newer clock, sent back to the requester.
//! - Both sides key the record by status-go's id, `0x` + hex of keccak256(requester key hex
//!   || chat id), so the rejection replaces the requester's own copy of the request. A
//!   record is only replaced by one with a higher clock.
//! - Received requests for chats we do not administer, rejections from non-admins or for
//!   requests we never sent, and anything that did not come through the secure transport
//!   are dropped as invalid.

use wisp_crypto::PublicKey;

use super::{AppType, ChatKind, DropReason, Event, Messenger};
use crate::error::{Error, Result};
use crate::group::{chat_id_creator, key_hex};
use crate::identity::SignedMessage;
use crate::proto::{GroupChatInvitation, Message as _, group_chat_invitation::State};
use crate::store::{GroupInvitation, MessageStore};

/// Longest introduction message accepted, in bytes (a chat message's default bound).
pub const MAX_INTRODUCTION_BYTES: usize = super::DEFAULT_MAX_TEXT_BYTES;

/// status-go's id of the request of `from` (`0x` + key hex) to join `chat_id`.
pub fn group_invitation_id(from: &str, chat_id: &str) -> String {
    let hash = wisp_crypto::keccak256_concat(&[from.as_bytes(), chat_id.as_bytes()]);
    format!("0x{}", hex::encode(hash))
}

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// Asks `admin` to add us to group chat `chat_id` (which we must know, e.g. from
    /// [`Self::create_group_chat_from_invitation`]) with `message`. Returns the stored
    /// request.
    pub fn send_group_invitation_request(
        &mut self,
        chat_id: &str,
        admin: &PublicKey,
        message: &str,
        now_ms: u64,
    ) -> Result<GroupInvitation> {
        self.now_ms = self.now_ms.max(now_ms);
        if message.len() > MAX_INTRODUCTION_BYTES {
            return Err(Error::InvalidInput {
                what: "introduction message",
                reason: "is longer than MAX_INTRODUCTION_BYTES",
            });
        }
        if *admin == self.public {
            return Err(Error::InvalidInput {
                what: "group chat invitation",
                reason: "the admin is ourselves",
            });
        }
        let me = key_hex(&self.public);
        if let Some(state) = self.group_state(chat_id)?
            && state.is_member(&me)
        {
            return Err(Error::InvalidInput {
                what: "group chat invitation",
                reason: "we are a member of the group already",
            });
        }
        let clock = self.tick_group_clock(chat_id, now_ms)?;
        let invitation = GroupInvitation {
            id: group_invitation_id(&me, chat_id),
            chat_id: chat_id.to_owned(),
            from: me,
            introduction_message: message.to_owned(),
            state: State::Request as i32,
            clock,
        };
        self.send_group_invitation(admin, &invitation, now_ms)?;
        Ok(invitation)
    }

    /// Rejects the pending request `id` received from a would-be member: the rejection goes
    /// back to them. Returns the stored (rejected) record.
    pub fn reject_group_invitation_request(
        &mut self,
        id: &str,
        now_ms: u64,
    ) -> Result<GroupInvitation> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut invitation = self.db.group_invitation(id)?.ok_or(Error::InvalidInput {
            what: "invitation request id",
            reason: "names no request we received",
        })?;
        if invitation.from == key_hex(&self.public) {
            return Err(Error::InvalidInput {
                what: "invitation request id",
                reason: "names our own request, not one we received",
            });
        }
        let requester = crate::group::parse_key_hex(&invitation.from).map_err(|_| {
            Error::InvalidInput { what: "invitation request", reason: "has a bad requester key" }
        })?;
        invitation.clock =
            self.tick_group_clock(&invitation.chat_id, now_ms)?.max(invitation.clock + 1);
        invitation.state = State::Rejected as i32;
        self.send_group_invitation(&requester, &invitation, now_ms)?;
        Ok(invitation)
    }

    /// Every group chat invitation we sent or received (requests and rejections), by clock.
    pub fn group_chat_invitations(&self) -> Result<Vec<GroupInvitation>> {
        Ok(self.db.group_invitations()?)
    }

    /// The next clock of group chat `chat_id`, which must be a group chat we know.
    fn tick_group_clock(&mut self, chat_id: &str, now_ms: u64) -> Result<u64> {
        let chat = self
            .chats
            .get_mut(chat_id)
            .filter(|c| c.kind == ChatKind::PrivateGroup)
            .ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        Ok(chat.clock.tick(now_ms))
    }

    fn send_group_invitation(
        &mut self,
        to: &PublicKey,
        invitation: &GroupInvitation,
        now_ms: u64,
    ) -> Result<()> {
        let wire = GroupChatInvitation {
            clock: invitation.clock,
            chat_id: invitation.chat_id.clone(),
            introduction_message: invitation.introduction_message.clone(),
            state: invitation.state,
        };
        let (_, bytes) = SignedMessage::build(
            wire.encode_to_vec(),
            AppType::GroupChatInvitation,
            &self.identity,
        );
        self.post_direct(to, &bytes, Vec::new(), now_ms)?;
        self.db.put_group_invitation(invitation)?;
        self.event(Event::GroupInvitation { id: invitation.id.clone() });
        Ok(())
    }

    /// A `GroupChatInvitation` from `signed.author`: a request to a group we administer, or
    /// the rejection of our own request.
    pub(super) fn apply_group_invitation(
        &mut self,
        signed: &SignedMessage,
        invitation: GroupChatInvitation,
        encrypted: bool,
    ) -> std::result::Result<(), DropReason> {
        if !encrypted
            || chat_id_creator(&invitation.chat_id).is_err()
            || invitation.introduction_message.len() > MAX_INTRODUCTION_BYTES
        {
            return Err(DropReason::Invalid);
        }
        let chat_id = invitation.chat_id.clone();
        let known = self.chats.get(&chat_id).is_some_and(|c| c.kind == ChatKind::PrivateGroup);
        if !known {
            return Err(DropReason::Invalid);
        }
        let state = self.group_state(&chat_id).map_err(|_| DropReason::Storage)?;
        let me = key_hex(&self.public);
        let author = key_hex(&signed.author);
        let from = match State::try_from(invitation.state) {
            Ok(State::Request) => {
                // To us as an admin, from someone not in the group.
                let state = state.ok_or(DropReason::Invalid)?;
                if !state.is_admin(&me) || state.is_member(&author) {
                    return Err(DropReason::Invalid);
                }
                author
            }
            Ok(State::Rejected) => {
                // From an admin (or the creator, if we know no events), about our request.
                let admin = match &state {
                    Some(s) => s.is_admin(&author),
                    None => chat_id_creator(&chat_id).is_ok_and(|c| c == signed.author),
                };
                let ours = self
                    .db
                    .group_invitation(&group_invitation_id(&me, &chat_id))
                    .map_err(|_| DropReason::Storage)?;
                if !admin || ours.is_none() {
                    return Err(DropReason::Invalid);
                }
                me
            }
            _ => return Err(DropReason::Invalid),
        };
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            chat.clock.observe(invitation.clock);
        }
        let record = GroupInvitation {
            id: group_invitation_id(&from, &chat_id),
            chat_id,
            from,
            introduction_message: invitation.introduction_message,
            state: invitation.state,
            clock: invitation.clock,
        };
        if self.db.put_group_invitation(&record).map_err(|_| DropReason::Storage)? {
            self.counters.group_invitations += 1;
            self.event(Event::GroupInvitation { id: record.id });
        } else {
            self.counters.ignored += 1;
        }
        Ok(())
    }
}
