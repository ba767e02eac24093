//! Emoji reactions and pinned messages over `wakuext_*` (status-go v0.79 names and shapes).
//!
//! | method | params | result |
//! |---|---|---|
//! | `wakuext_sendEmojiReaction` | `CHAT, MESSAGE_ID, EMOJI` (1 to 6) | `{emojiReactions: [EmojiReaction]}` |
//! | `wakuext_sendEmojiReactionRetraction` | `REACTION_ID` | `{emojiReactions: [EmojiReaction]}` |
//! | `wakuext_emojiReactionsByChatID` | `CHAT, CURSOR, LIMIT` | `[EmojiReaction]` (not retracted) |
//! | `wakuext_sendPinMessage` | `{chatId, messageId, pinned}` | `{pinMessages: [PinMessage]}` |
//! | `wakuext_messageByMessageID` | `MESSAGE_ID` | `Message` |
//! | `wakuext_chatPinnedMessages` | `CHAT, CURSOR, LIMIT` | `{pinnedMessages: [{message, pinnedAt, pinnedBy}], cursor}` |
//!
//! `CURSOR, LIMIT` page as `wakuext_chatMessages` does (`""` for the newest page, else the
//! `cursor` of the previous page; `LIMIT` 1 to 1000, default 20). `chatPinnedMessages` orders
//! the pinned messages by the message's clock then id, newest first, and returns the next
//! page's cursor (`""` at the end). `emojiReactionsByChatID` returns, as status-go, the
//! reactions (not withdrawn, at most 1000) on the messages of the `chatMessages` page with
//! the same `CURSOR, LIMIT`: call both with the same arguments, and take the next cursor
//! from `chatMessages`.
//!
//! `EmojiReaction` is `{id, clock, chatId, localChatId, from, messageId, emojiId, retracted}`
//! (`id` is the reaction's message id); `PinMessage` `{id, clock, chatId, localChatId, from,
//! messageId, pinned}`. Emoji types are status-go's: 1 love, 2 thumbs up, 3 thumbs down,
//! 4 laugh, 5 sad, 6 angry.

use serde_json::{Value, json};
use wisp_messenger::ChatEntity;

use super::chat::{chat_of, message_id, message_json, page_args};
use super::{Module, error::RpcError, method};

fn key_hex(key: &wisp_crypto::PublicKey) -> String {
    format!("0x{}", hex::encode(key.to_uncompressed()))
}

fn reaction_json(e: &ChatEntity) -> Value {
    json!({
        "id": e.id.to_string(),
        "clock": e.clock,
        "chatId": e.chat_id,
        "localChatId": e.chat_id,
        "from": key_hex(&e.from),
        "messageId": e.target,
        "emojiId": e.value,
        "retracted": !e.active,
    })
}

fn pin_json(e: &ChatEntity) -> Value {
    json!({
        "id": e.id.to_string(),
        "clock": e.clock,
        "chatId": e.chat_id,
        "localChatId": e.chat_id,
        "from": key_hex(&e.from),
        "messageId": e.target,
        "pinned": e.active,
    })
}

fn chat_id(field: &str, s: &str) -> Result<String, RpcError> {
    if s.is_empty() || s.len() > 300 {
        return Err(RpcError::Params(format!("{field} must be a chat id")));
    }
    Ok(s.to_owned())
}

/// Registers the reaction and pin methods.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "wakuext_sendEmojiReaction", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        let target = message_id("messageID", args.string(1, "messageID")?)?;
        let emoji = args.uint(2, "emojiID")?;
        if !(1..=6).contains(&emoji) {
            return Err(RpcError::Params(format!(
                "emojiID {emoji} is not an emoji type: expected 1 (love) to 6 (angry)"
            )));
        }
        let e = chat.send_reaction(&id, target, i32::try_from(emoji).unwrap_or(0), false).await?;
        Ok(json!({ "emojiReactions": [reaction_json(&e)] }))
    })?;
    method(m, "wakuext_sendEmojiReactionRetraction", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = message_id("emojiReactionID", args.string(0, "emojiReactionID")?)?;
        let e = chat.retract_reaction(id).await?;
        Ok(json!({ "emojiReactions": [reaction_json(&e)] }))
    })?;
    method(m, "wakuext_emojiReactionsByChatID", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        let (cursor, limit) = page_args(&args)?;
        let page = chat.reactions_page(&id, cursor, limit).await?;
        Ok(page.iter().map(reaction_json).collect::<Vec<_>>())
    })?;
    method(m, "wakuext_sendPinMessage", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let o = args.object(0, "PinMessage")?;
        let id = chat_id(
            "PinMessage.chatId",
            o.str("chatId")?
                .ok_or_else(|| RpcError::Params("PinMessage.chatId is required".into()))?,
        )?;
        let target = message_id(
            "PinMessage.messageId",
            o.str("messageId")?
                .ok_or_else(|| RpcError::Params("PinMessage.messageId is required".into()))?,
        )?;
        let pinned = o.bool("pinned")?.unwrap_or(true);
        let e = chat.pin_message(&id, target, pinned).await?;
        Ok(json!({ "pinMessages": [pin_json(&e)] }))
    })?;
    method(m, "wakuext_messageByMessageID", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = message_id("messageID", args.string(0, "messageID")?)?;
        let found = chat.message(id).await?.filter(|m| !m.deleted);
        let m = found
            .ok_or_else(|| RpcError::ChatInput(format!("unknown message {id} (messageID)")))?;
        Ok(message_json(&m, &st.profiles, &Default::default()))
    })?;
    method(m, "wakuext_chatPinnedMessages", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        let (cursor, limit) = page_args(&args)?;
        let (pinned, next) = chat.pinned_messages(&id, cursor, limit).await?;
        let quotes = Default::default();
        let list: Vec<Value> = pinned
            .iter()
            .map(|(m, pin)| {
                json!({
                    "message": message_json(m, &st.profiles, &quotes),
                    "pinnedAt": pin.clock,
                    "pinnedBy": key_hex(&pin.from),
                })
            })
            .collect();
        Ok(json!({ "pinnedMessages": list, "cursor": next.unwrap_or_default() }))
    })?;
    Ok(())
}
