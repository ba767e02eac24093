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
//! | `wakuext_getGroupChatInvitations` | none | `[Chat]`: groups we were added to and did not join |
//! | `wakuext_sendGroupChatInvitationRequest` | `CHAT, ADMIN_KEY, TEXT` | refused: not supported yet |
//! | `wakuext_sendGroupChatInvitationRejection` | `INVITATION_ID` | refused: not supported yet |
//!
//! A group `Chat` is the chat JSON of [`super::chat`] with `chatType` 3, `members`
//! (`[{id, admin, joined}]`) and `membershipUpdateEvents` (`[{type, clockValue, name,
//! members, from, chatId, signature, rawPayload}]`, hex without `0x` for the last two, as
//! status-go). `KEY` is a chat key (`0x04…`, `0x02…`/`0x03…` or `zQ3…`); `CHAT` a group chat
//! id (`<uuid>-0x04…`). Declining an invitation is `wakuext_leaveGroupChat` with `REMOVE`
//! true before joining, as in status-go.

use serde_json::{Map, Value, json};
use wisp_crypto::PublicKey;
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
        let pending = chat.group_invitations().await?;
        Ok(pending.iter().map(|g| group_json(g, &st)).collect::<Vec<_>>())
    })?;
    method(m, "wakuext_sendGroupChatInvitationRequest", 3, |_, st| async move {
        chat_of(&st)?;
        Err::<Value, _>(RpcError::ChatInput(
            "sendGroupChatInvitationRequest is not supported yet (GROUP_CHAT_INVITATION messages); ask an admin to add you (wakuext_addMembersToGroupChat)".into(),
        ))
    })?;
    method(m, "wakuext_sendGroupChatInvitationRejection", 1, |_, st| async move {
        chat_of(&st)?;
        Err::<Value, _>(RpcError::ChatInput(
            "sendGroupChatInvitationRejection is not supported yet (GROUP_CHAT_INVITATION messages); decline an invitation with wakuext_leaveGroupChat(chatID, true)".into(),
        ))
    })?;
    Ok(())
}
