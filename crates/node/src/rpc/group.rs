//! The group chat methods of status-go's `wakuext` service (v0.79 `services/ext/api.go`),
//! served by the node's messenger; see [`wisp_messenger::group`] for the rules.
//!
//! | method | params | result |
//! |---|---|---|
//! | `wakuext_createGroupChatWithMembers` | `NAME, [KEY...]` | `MessengerResponse` with the chat |
//! | `wakuext_addMembersToGroupChat` | `CHAT, [KEY...]` | `MessengerResponse` with the chat |
//! | `wakuext_removeMemberFromGroupChat` | `CHAT, KEY` | `MessengerResponse` with the chat |
//! | `wakuext_addAdminsToGroupChat` | `CHAT, [KEY...]` | `MessengerResponse` with the chat |
//! | `wakuext_confirmJoiningGroup` | `CHAT` | `MessengerResponse` with the chat |
//! | `wakuext_changeGroupChatName` | `CHAT, NAME` | `MessengerResponse` with the chat |
//! | `wakuext_leaveGroupChat` | `CHAT, REMOVE` | `MessengerResponse` (the chat, or `removedChats`) |
//! | `wakuext_createGroupChatFromInvitation` | `NAME, CHAT, ADMIN_KEY` | `MessengerResponse` with the chat |
//! | `wakuext_sendGroupChatInvitationRequest` | `CHAT, ADMIN_KEY, TEXT` | `{invitations: [Invitation]}` (the request) |
//! | `wakuext_sendGroupChatInvitationRejection` | `INVITATION_ID` | `{invitations: [Invitation]}` (the rejection) |
//! | `wakuext_getGroupChatInvitations` | none | `[Invitation]`: every request sent or received, rejections included |
//! | `wisp_groupChatsToJoin` | none | `[Chat]`: groups we were added to and did not join (not status-go's) |
//!
//! A group `Chat` is the chat JSON of [`super::chat`] with `chatType` 3, `members`
//! (`[{id, admin, joined}]`) and `membershipUpdateEvents` (`[{type, clockValue, name,
//! members, from, chatId, signature, rawPayload}]`, hex without `0x` for the last two, as
//! status-go). `KEY` is a chat key (`0x04…`, `0x02…`/`0x03…` or `zQ3…`); `CHAT` a group chat
//! id (`<uuid>-0x04…`). Declining an invitation is `wakuext_leaveGroupChat` with `REMOVE`
//! true before joining, as in status-go.
//!
//! An `Invitation` is status-go's `GroupChatInvitation` JSON: `{id, chatId, from,
//! introductionMessage, state}` with `state` 1 (REQUEST) or 2 (REJECTED), `from` the
//! requester and `id` `0x` + hex of keccak256(`from` || `chatId`), the same at the requester
//! and at the admin. A request goes pairwise to the admin named (the chat must be known
//! here, e.g. from `wakuext_createGroupChatFromInvitation`); the admin accepts it by adding
//! the requester (`wakuext_addMembersToGroupChat`) or rejects it, which tells the requester.
//! Membership events also leave system messages in the chat (`wakuext_chatMessages`:
//! `contentType` 6, `messageType` 4, text as status-go's, e.g. "@0x04… created the group
//! NAME").

use serde_json::{Map, Value, json};
use wisp_crypto::PublicKey;
use wisp_messenger::GroupInvitation;
use wisp_messenger::group::{key_hex, open_event};

use super::chat::{chat_json, chat_of};
use super::{Module, State, error::RpcError, method, types::Args};
use crate::chat::{GroupChange, GroupChat};

/// Most members one call may name.
const MAX_KEYS: usize = 256;

/// A group chat id: `<uuid>-0x<uncompressed key>`.
fn group_id(field: &str, s: &str) -> Result<String, RpcError> {
    wisp_messenger::group::chat_id_creator(s).map_err(|_| {
        RpcError::Params(format!(
            "{field} {:?} is not a group chat id: expected <uuid>-0x04 followed by 128 hex digits",
            s.chars().take(200).collect::<String>()
        ))
    })?;
    Ok(s.to_owned())
}

fn key(field: &str, s: &str) -> Result<PublicKey, RpcError> {
    wisp_accounts::parse_public_key(s).map_err(|e| {
        RpcError::Params(format!(
            "{field} {s:?} is not a chat key (0x04…, 0x02…/0x03… or zQ3…): {e}"
        ))
    })
}

fn keys(args: &Args, index: usize, field: &str) -> Result<Vec<PublicKey>, RpcError> {
    let Some(Value::Array(items)) = args.opt(index) else {
        return Err(RpcError::Params(format!("{field} must be an array of chat keys")));
    };
    if items.len() > MAX_KEYS {
        return Err(RpcError::OutOfRange {
            field: "members (count)",
            min: 0,
            max: MAX_KEYS as u64,
            value: items.len() as u64,
        });
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("{field}[{i}]");
            key(&f, v.as_str().ok_or_else(|| RpcError::Params(format!("{f} must be a string")))?)
        })
        .collect()
}

fn name(field: &str, s: &str) -> Result<String, RpcError> {
    if s.trim().is_empty() || s.len() > wisp_messenger::group::MAX_NAME_BYTES {
        return Err(RpcError::Params(format!(
            "{field} must be a group name of 1 to {} bytes",
            wisp_messenger::group::MAX_NAME_BYTES
        )));
    }
    Ok(s.to_owned())
}

/// A group chat as status-go's `Chat` JSON (with members and events).
pub(crate) fn group_json(g: &GroupChat, st: &State) -> Value {
    let mut chat = chat_json(&g.chat, &st.profiles);
    if let Value::Object(o) = &mut chat {
        o.insert("chatType".into(), json!(3));
        let members: Vec<Value> = g
            .state
            .iter()
            .flat_map(|s| {
                s.members.iter().map(
                    |(id, joined)| json!({ "id": id, "admin": s.is_admin(id), "joined": joined }),
                )
            })
            .collect();
        o.insert("members".into(), Value::Array(members));
        let events: Vec<Value> = g
            .events
            .iter()
            .filter_map(|wire| open_event(&g.chat.id, wire).ok())
            .map(|ev| {
                let mut e = Map::new();
                e.insert("type".into(), json!(ev.event.r#type));
                e.insert("clockValue".into(), json!(ev.event.clock));
                e.insert("name".into(), json!(ev.event.name));
                e.insert("members".into(), json!(ev.event.members));
                e.insert("from".into(), json!(key_hex(&ev.from)));
                e.insert("chatId".into(), json!(g.chat.id));
                e.insert("signature".into(), json!(hex::encode(ev.signature)));
                e.insert("rawPayload".into(), json!(hex::encode(&ev.raw)));
                Value::Object(e)
            })
            .collect();
        o.insert("membershipUpdateEvents".into(), Value::Array(events));
    }
    chat
}

/// Chats as status-go's `Chat` JSON, group chats with their members and events.
pub(crate) async fn chats_json(
    chat: &crate::ChatHandle,
    chats: &[wisp_messenger::StoredChat],
    st: &State,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(chats.len());
    for c in chats {
        let group = match c.kind {
            wisp_messenger::ChatKind::PrivateGroup => chat.group_chat(&c.id).await.ok(),
            _ => None,
        };
        out.push(match group {
            Some(g) => group_json(&g, st),
            None => chat_json(c, &st.profiles),
        });
    }
    out
}

/// A group chat invitation request as status-go's `GroupChatInvitation` JSON (`chatId`,
/// `introductionMessage` and `state` left out when empty or zero, as there).
pub(crate) fn invitation_json(i: &GroupInvitation) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(i.id));
    if !i.chat_id.is_empty() {
        o.insert("chatId".into(), json!(i.chat_id));
    }
    o.insert("from".into(), json!(i.from));
    if !i.introduction_message.is_empty() {
        o.insert("introductionMessage".into(), json!(i.introduction_message));
    }
    if i.state != 0 {
        o.insert("state".into(), json!(i.state));
    }
    Value::Object(o)
}

fn response(g: &GroupChat, st: &State) -> Value {
    json!({ "chats": [group_json(g, st)] })
}

/// Registers the group chat methods.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "wakuext_createGroupChatWithMembers", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let name = name("name", args.string(0, "name")?)?;
        let members = keys(&args, 1, "members")?;
        let g = chat.create_group_chat(&name, members).await?;
        Ok(response(&g, &st))
    })?;
    method(m, "wakuext_addMembersToGroupChat", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        let members = keys(&args, 1, "members")?;
        Ok(response(&chat.group_change(&id, GroupChange::AddMembers(members)).await?, &st))
    })?;
    method(m, "wakuext_removeMemberFromGroupChat", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        let member = key("member", args.string(1, "member")?)?;
        Ok(response(&chat.group_change(&id, GroupChange::RemoveMember(member)).await?, &st))
    })?;
    method(m, "wakuext_addAdminsToGroupChat", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        let members = keys(&args, 1, "members")?;
        Ok(response(&chat.group_change(&id, GroupChange::AddAdmins(members)).await?, &st))
    })?;
    method(m, "wakuext_confirmJoiningGroup", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        Ok(response(&chat.group_change(&id, GroupChange::Join).await?, &st))
    })?;
    method(m, "wakuext_changeGroupChatName", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        let name = name("name", args.string(1, "name")?)?;
        Ok(response(&chat.group_change(&id, GroupChange::Rename(name)).await?, &st))
    })?;
    method(m, "wakuext_leaveGroupChat", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        let remove = match args.opt(1) {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| {
                RpcError::Params("parameter 2 (remove) must be true or false".into())
            })?,
        };
        let g = chat.group_chat(&id).await?;
        let me = key_hex(chat.public_key());
        let joined = g.state.as_ref().is_some_and(|s| s.has_joined(&me));
        if remove && !joined {
            // An invitation declined: nothing to tell the others.
            chat.decline_group_invitation(&id).await?;
            return Ok(json!({ "removedChats": [id] }));
        }
        if remove {
            chat.leave_and_remove_group_chat(&id).await?;
            return Ok(json!({ "removedChats": [id] }));
        }
        Ok(response(&chat.group_change(&id, GroupChange::Leave).await?, &st))
    })?;
    method(m, "wakuext_createGroupChatFromInvitation", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let name = name("name", args.string(0, "name")?)?;
        let id = group_id("chatID", args.string(1, "chatID")?)?;
        let admin = key("adminPK", args.string(2, "adminPK")?)?;
        if !id.ends_with(&key_hex(&admin)) {
            return Err(RpcError::Params(format!(
                "adminPK is not the creator named in chatID {id:?}"
            )));
        }
        Ok(response(&chat.create_group_chat_from_invitation(&id, &name).await?, &st))
    })?;
    method(m, "wakuext_getGroupChatInvitations", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let all = chat.group_chat_invitations().await?;
        Ok(all.iter().map(invitation_json).collect::<Vec<_>>())
    })?;
    method(m, "wisp_groupChatsToJoin", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let pending = chat.group_invitations().await?;
        Ok(pending.iter().map(|g| group_json(g, &st)).collect::<Vec<_>>())
    })?;
    method(m, "wakuext_sendGroupChatInvitationRequest", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = group_id("chatID", args.string(0, "chatID")?)?;
        let admin = key("adminPK", args.string(1, "adminPK")?)?;
        let message = match args.opt(2) {
            None => "",
            Some(v) => v
                .as_str()
                .ok_or_else(|| RpcError::Params("parameter 3 (message) must be a string".into()))?,
        };
        if message.len() > wisp_messenger::MAX_INTRODUCTION_BYTES {
            return Err(RpcError::Params(format!(
                "message must be at most {} bytes",
                wisp_messenger::MAX_INTRODUCTION_BYTES
            )));
        }
        let sent = chat.send_group_invitation_request(&id, admin, message).await?;
        Ok(json!({ "invitations": [invitation_json(&sent)] }))
    })?;
    method(m, "wakuext_sendGroupChatInvitationRejection", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = args.string(0, "invitationRequestID")?;
        let rejected = chat.reject_group_invitation_request(id).await?;
        Ok(json!({ "invitations": [invitation_json(&rejected)] }))
    })?;
    Ok(())
}
