//! `wisp chat react ID EMOJI` and `wisp chat pin ID`: emoji reactions and pinned messages
//! through a running node's JSON-RPC (`wakuext_sendEmojiReaction`, `wakuext_sendPinMessage`;
//! the message's chat is looked up with `wakuext_messageByMessageID`).

use clap::Args;
use serde_json::{Value, json};

use crate::chat_cmd::{ChatError, ChatRpc, Output, str_field};
use crate::{error::Error, print_line};

/// `wisp chat react`
#[derive(Debug, Args)]
pub(crate) struct ReactArgs {
    /// The message's id (0x + 64 hex digits, as `wisp chat log --json` shows)
    #[arg(value_name = "ID")]
    id: String,
    /// love, thumbs-up, thumbs-down, laugh, sad or angry (or 1 to 6, or ❤ 👍 👎 😂 😢 😠)
    #[arg(value_name = "EMOJI")]
    emoji: String,
    /// Withdraw this reaction instead
    #[arg(long)]
    retract: bool,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// `wisp chat pin`
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The message's id (0x + 64 hex digits, as `wisp chat log --json` shows)
    #[arg(value_name = "ID")]
    id: String,
    /// Unpin it instead
    #[arg(long)]
    unpin: bool,
    /// The node and the output format.
    #[command(flatten)]
    out: Output,
}

/// status-go's emoji type of an EMOJI argument.
fn emoji_type(text: &str) -> Result<u64, ChatError> {
    let t = text.trim().trim_end_matches('\u{fe0f}');
    Ok(match t {
        "1" | "love" | "heart" | "❤" => 1,
        "2" | "thumbs-up" | "+1" | "👍" => 2,
        "3" | "thumbs-down" | "-1" | "👎" => 3,
        "4" | "laugh" | "😂" => 4,
        "5" | "sad" | "😢" => 5,
        "6" | "angry" | "😠" => 6,
        _ => {
            return Err(ChatError::Input(format!(
                "{t:?} is not an emoji Status knows: use love, thumbs-up, thumbs-down, laugh, \
                 sad or angry (or 1 to 6)"
            )));
        }
    })
}

fn message_id(text: &str) -> Result<String, ChatError> {
    let t = text.trim();
    let ok = t.len() == 66
        && t.starts_with("0x")
        && t.get(2..).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(ChatError::Input(format!(
            "{t:?} is not a message id: expected 0x and 64 hex digits, as `wisp chat log --json` \
             shows in \"id\""
        )));
    }
    Ok(t.to_ascii_lowercase())
}

/// The chat of message `id`.
async fn chat_of(rpc: &ChatRpc, id: &str) -> Result<String, ChatError> {
    let message = rpc.call("wakuext_messageByMessageID", json!([id])).await?;
    match str_field(&message, "localChatId") {
        "" => Err(ChatError::Answer {
            method: "wakuext_messageByMessageID",
            detail: "the message has no localChatId".into(),
        }),
        chat => Ok(chat.to_owned()),
    }
}

/// The reactions of the `chatMessages` page (1000 messages) holding message `id`:
/// `emojiReactionsByChatID` answers per page, as status-go's.
async fn reactions_on_page_of(rpc: &ChatRpc, chat: &str, id: &str) -> Result<Value, ChatError> {
    let mut cursor = String::new();
    loop {
        let (page, next) = rpc.messages(chat, &cursor, 1000).await?;
        if page.iter().any(|m| str_field(m, "id") == id) || next.is_empty() {
            return rpc.call("wakuext_emojiReactionsByChatID", json!([chat, cursor, 1000])).await;
        }
        cursor = next;
    }
}

/// Our chat key: every installation `wakuext_getOurInstallations` lists names it.
async fn our_key(rpc: &ChatRpc) -> Result<String, ChatError> {
    let list = rpc.call("wakuext_getOurInstallations", json!([])).await?;
    list.as_array()
        .and_then(|l| l.iter().map(|i| str_field(i, "identity")).find(|k| !k.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| ChatError::Answer {
            method: "wakuext_getOurInstallations",
            detail: "no installation names our chat key".into(),
        })
}

/// Runs `wisp chat react`.
pub(crate) async fn react(args: ReactArgs) -> Result<(), Error> {
    let id = message_id(&args.id)?;
    let emoji = emoji_type(&args.emoji)?;
    let rpc = ChatRpc::new(args.out.rpc.clone());
    let response = if args.retract {
        let chat = chat_of(&rpc, &id).await?;
        let me = our_key(&rpc).await?;
        let list = reactions_on_page_of(&rpc, &chat, &id).await?;
        let ours = list.as_array().and_then(|l| {
            l.iter()
                .find(|r| {
                    str_field(r, "messageId") == id
                        && r["emojiId"] == emoji
                        && str_field(r, "from").eq_ignore_ascii_case(&me)
                })
                .map(|r| str_field(r, "id").to_owned())
        });
        let Some(reaction) = ours else {
            return Err(ChatError::Input(format!("no reaction {emoji} on {id} to withdraw")).into());
        };
        rpc.call("wakuext_sendEmojiReactionRetraction", json!([reaction])).await?
    } else {
        let chat = chat_of(&rpc, &id).await?;
        rpc.call("wakuext_sendEmojiReaction", json!([chat, id, emoji])).await?
    };
    report(&args.out, &response, "emojiReactions", if args.retract { "withdrawn" } else { "sent" })
}

/// Runs `wisp chat pin`.
pub(crate) async fn pin(args: PinArgs) -> Result<(), Error> {
    let id = message_id(&args.id)?;
    let rpc = ChatRpc::new(args.out.rpc.clone());
    let chat = chat_of(&rpc, &id).await?;
    let request = json!([{ "chatId": chat, "messageId": id, "pinned": !args.unpin }]);
    let response = rpc.call("wakuext_sendPinMessage", request).await?;
    report(&args.out, &response, "pinMessages", if args.unpin { "unpinned" } else { "pinned" })
}

fn report(out: &Output, response: &Value, list: &str, what: &str) -> Result<(), Error> {
    let item = &response[list][0];
    if out.json {
        return print_line(&item.to_string());
    }
    print_line(&format!("{what}  {}  on {}", str_field(item, "id"), str_field(item, "messageId")))
}
