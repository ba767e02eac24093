//! `wisp chat group ...`: private group chats through a running node's JSON-RPC (the
//! `wakuext_*` group methods with status-go v0.79's names). A group is named by its chat id
//! (`<uuid>-0x04…`, as `wisp chat group new` and `wisp chat list --json` print it); members
//! by their chat keys (`0x04…` or `zQ3sh…`).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::chat_cmd::{ChatError, ChatRpc, Output, one_to_one_id, str_field};
use crate::{error::Error, print_line};

/// Shown after `wisp chat group --help`.
const GROUP_EXAMPLES: &str = "\
Examples:
  Create a group with two people (prints the group's chat id):
    wisp chat group new friends zQ3shBob… zQ3shCarol…
  On Bob's and Carol's nodes: see the invitation, accept it (or decline it):
    wisp chat group invitations
    wisp chat group accept <chat id>
  Talk in it (a reply names the message id `wisp chat log` prints):
    wisp chat send --group <chat id> 'hello friends'
    wisp chat send --group <chat id> 'yes!' --reply-to 0x<message id>
    wisp chat log <chat id> --follow
  Admins add, remove, promote and rename; anyone may leave:
    wisp chat group add <chat id> zQ3shDave…
    wisp chat group remove <chat id> zQ3shCarol…
    wisp chat group admin <chat id> zQ3shBob…
    wisp chat group rename <chat id> 'best friends'
    wisp chat group leave <chat id>
  Someone who knows a group but is not in it (e.g. was removed) asks an admin to be added;
  the admin lists the requests and adds or rejects them:
    wisp chat group request <chat id> zQ3shAdmin… 'may I join?'
    wisp chat group requests
    wisp chat group reject 0x<request id>";

/// `wisp chat group ...`
#[derive(Debug, Subcommand)]
#[command(after_help = GROUP_EXAMPLES)]
pub(crate) enum GroupCommand {
    /// Create a group chat NAME with the given members; prints its chat id
    New(NewArgs),
    /// Add members to a group (admins only)
    Add(MembersArgs),
    /// Remove a member from a group (admins only)
    Remove(MembersArgs),
    /// Make members admins of a group (admins only)
    Admin(MembersArgs),
    /// Rename a group (admins only)
    Rename(RenameArgs),
    /// Accept an invitation to a group
    Accept(ChatArgs),
    /// Decline an invitation to a group (the chat is removed here)
    Decline(ChatArgs),
    /// Leave a group (the others are told; the chat stays here, inactive)
    Leave(ChatArgs),
    /// The groups you were added to and did not accept yet
    Invitations(InvitationsArgs),
    /// Ask an admin of a group you know but are not in to add you
    Request(RequestArgs),
    /// Requests to join sent and received, with their state (request, rejected)
    Requests(InvitationsArgs),
    /// Reject a request to join one of your groups (admins; the requester is told)
    Reject(RejectArgs),
}

/// `wisp chat group request`
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The group's chat id
    #[arg(value_name = "CHAT")]
    chat: String,
    /// The chat key (0x04… or zQ3sh…) of an admin of the group
    #[arg(value_name = "ADMIN")]
    admin: String,
    /// A few words for the admin
    #[arg(value_name = "MESSAGE", default_value = "")]
    message: String,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat group reject`
#[derive(Debug, Args)]
pub(crate) struct RejectArgs {
    /// The request's id (0x + 64 hex digits, as `wisp chat group requests` prints it)
    #[arg(value_name = "ID")]
    id: String,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat group new`
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The group's name
    #[arg(value_name = "NAME")]
    name: String,
    /// The members' chat keys (0x04… or zQ3sh…)
    #[arg(value_name = "KEY", num_args = 1..)]
    members: Vec<String>,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat group add|remove|admin`
#[derive(Debug, Args)]
pub(crate) struct MembersArgs {
    /// The group's chat id
    #[arg(value_name = "CHAT")]
    chat: String,
    /// The members' chat keys (0x04… or zQ3sh…)
    #[arg(value_name = "KEY", num_args = 1..)]
    members: Vec<String>,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat group rename`
#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// The group's chat id
    #[arg(value_name = "CHAT")]
    chat: String,
    /// The new name
    #[arg(value_name = "NAME")]
    name: String,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat group accept|decline|leave`
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    /// The group's chat id
    #[arg(value_name = "CHAT")]
    chat: String,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat group invitations`
#[derive(Debug, Args)]
pub(crate) struct InvitationsArgs {
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

fn keys(members: &[String]) -> Result<Vec<String>, ChatError> {
    members.iter().map(|k| one_to_one_id(k)).collect()
}

/// A group chat id argument, checked for its form before asking the node.
fn group_id(text: &str) -> Result<String, ChatError> {
    let id = text.trim();
    let key = id.get(37..).filter(|_| id.len() == 36 + 1 + 132 && id.as_bytes()[36] == b'-');
    let uuid_ok = id.get(..36).is_some_and(|u| {
        u.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() }
        })
    });
    if !uuid_ok || key.is_none_or(|k| one_to_one_id(k).is_err()) {
        return Err(ChatError::Input(format!(
            "{id:?} is not a group chat id: expected <uuid>-0x04… as `wisp chat group new` or \
             `wisp chat list --json` print it"
        )));
    }
    Ok(id.to_owned())
}

/// `name (id): N members, M joined`, or the JSON chat.
fn report(out: &Output, what: &str, response: &Value) -> Result<(), Error> {
    if out.json {
        return print_line(&response.to_string());
    }
    let chat = &response["chats"][0];
    let members = chat["members"].as_array().map_or(0, Vec::len);
    let joined =
        chat["members"].as_array().map_or(0, |m| m.iter().filter(|m| m["joined"] == true).count());
    print_line(&format!(
        "{what} {}  {}  ({members} members, {joined} joined)",
        str_field(chat, "name"),
        str_field(chat, "id")
    ))
}

/// A request id argument: `0x` + 64 hex digits.
fn request_id(text: &str) -> Result<String, ChatError> {
    let t = text.trim();
    let ok = t.len() == 66
        && t.starts_with("0x")
        && t.get(2..).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(ChatError::Input(format!(
            "{t:?} is not a request id: expected 0x and 64 hex digits, as `wisp chat group \
             requests` prints it"
        )));
    }
    Ok(t.to_ascii_lowercase())
}

/// `id  chat  from KEY  STATE  "message"` for an invitation record.
fn invitation_line(i: &Value) -> String {
    let state = match i["state"].as_u64() {
        Some(1) => "request",
        Some(2) => "rejected",
        Some(3) => "approved",
        _ => "unknown",
    };
    format!(
        "{}  {}  from {}  {state}  {:?}",
        str_field(i, "id"),
        str_field(i, "chatId"),
        str_field(i, "from"),
        str_field(i, "introductionMessage")
    )
}

/// Prints the `invitations` of an answer (JSON lines with `--json`).
fn report_invitations(out: &Output, what: &str, list: &Value) -> Result<(), Error> {
    let list = list.as_array().cloned().unwrap_or_default();
    for i in &list {
        if out.json {
            print_line(&i.to_string())?;
        } else {
            print_line(&format!("{what}{}", invitation_line(i)))?;
        }
    }
    if list.is_empty() && !out.json {
        print_line("no requests")?;
    }
    Ok(())
}

/// Runs a `wisp chat group` command.
pub(crate) async fn run(command: GroupCommand) -> Result<(), Error> {
    match command {
        GroupCommand::New(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let members = keys(&a.members)?;
            let r =
                rpc.call("wakuext_createGroupChatWithMembers", json!([a.name, members])).await?;
            report(&a.out, "created", &r)
        }
        GroupCommand::Add(a) | GroupCommand::Admin(a) | GroupCommand::Remove(a)
            if a.members.is_empty() =>
        {
            Err(ChatError::Input("name at least one member KEY".into()).into())
        }
        GroupCommand::Add(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc
                .call(
                    "wakuext_addMembersToGroupChat",
                    json!([group_id(&a.chat)?, keys(&a.members)?]),
                )
                .await?;
            report(&a.out, "added to", &r)
        }
        GroupCommand::Admin(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc
                .call(
                    "wakuext_addAdminsToGroupChat",
                    json!([group_id(&a.chat)?, keys(&a.members)?]),
                )
                .await?;
            report(&a.out, "admins of", &r)
        }
        GroupCommand::Remove(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let id = group_id(&a.chat)?;
            let mut last = Value::Null;
            for key in keys(&a.members)? {
                last = rpc.call("wakuext_removeMemberFromGroupChat", json!([id, key])).await?;
            }
            report(&a.out, "removed from", &last)
        }
        GroupCommand::Rename(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc
                .call("wakuext_changeGroupChatName", json!([group_id(&a.chat)?, a.name]))
                .await?;
            report(&a.out, "renamed", &r)
        }
        GroupCommand::Accept(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc.call("wakuext_confirmJoiningGroup", json!([group_id(&a.chat)?])).await?;
            report(&a.out, "joined", &r)
        }
        GroupCommand::Decline(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let id = group_id(&a.chat)?;
            let r = rpc.call("wakuext_leaveGroupChat", json!([id, true])).await?;
            if a.out.json {
                return print_line(&r.to_string());
            }
            print_line(&format!("declined {id}"))
        }
        GroupCommand::Leave(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc.call("wakuext_leaveGroupChat", json!([group_id(&a.chat)?, false])).await?;
            report(&a.out, "left", &r)
        }
        GroupCommand::Request(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc
                .call(
                    "wakuext_sendGroupChatInvitationRequest",
                    json!([group_id(&a.chat)?, one_to_one_id(&a.admin)?, a.message]),
                )
                .await?;
            report_invitations(&a.out, "sent ", &r["invitations"])
        }
        GroupCommand::Requests(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let list = rpc.call("wakuext_getGroupChatInvitations", json!([])).await?;
            report_invitations(&a.out, "", &list)
        }
        GroupCommand::Reject(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let r = rpc
                .call("wakuext_sendGroupChatInvitationRejection", json!([request_id(&a.id)?]))
                .await?;
            report_invitations(&a.out, "rejected ", &r["invitations"])
        }
        GroupCommand::Invitations(a) => {
            let rpc = ChatRpc::new(a.out.rpc.clone());
            let list = rpc.call("wisp_groupChatsToJoin", json!([])).await?;
            let list = list.as_array().cloned().unwrap_or_default();
            if a.out.json {
                for chat in &list {
                    print_line(&chat.to_string())?;
                }
                return Ok(());
            }
            if list.is_empty() {
                return print_line("no invitations");
            }
            for chat in &list {
                let admin = chat["members"]
                    .as_array()
                    .and_then(|m| m.iter().find(|m| m["admin"] == true))
                    .map(|m| str_field(m, "id").to_owned())
                    .unwrap_or_default();
                print_line(&format!(
                    "{}  {}  from {}",
                    str_field(chat, "name"),
                    str_field(chat, "id"),
                    admin
                ))?;
            }
            Ok(())
        }
    }
}
