//! The chat methods of status-go's `wakuext` service (v0.79 `services/ext/api.go`), served by
//! the node's messenger (`NodeConfig::chat`, `wisp node --account`). On a node without an
//! account every one answers "this node runs without an account; start it with --account".
//!
//! | method | params | result |
//! |---|---|---|
//! | `wakuext_startMessenger` | none | `MessengerResponse` with every chat |
//! | `wakuext_chats` | none | `[Chat]` (all) |
//! | `wakuext_activeChats` | none | `[Chat]` (active) |
//! | `wakuext_createPublicChat` | `{id: NAME}` | `MessengerResponse` with the chat |
//! | `wakuext_createOneToOneChat` | `{id: KEY}` | `MessengerResponse` with the chat |
//! | `wakuext_deactivateChat` | `{id: CHAT}` | `MessengerResponse` with the chat |
//! | `wakuext_deleteChat` | `CHAT` | `null` |
//! | `wakuext_chatMessages` | `CHAT, CURSOR, LIMIT` | `{messages: [Message], cursor}` |
//! | `wakuext_sendChatMessage` | `{chatId, text, contentType?, responseTo?, imagePath?, audioPath?, audioDurationMs?, sticker?}` | `MessengerResponse` with the message and chat |
//! | `wakuext_sendChatMessages` | `[{chatId, text, ...}...]` (as `sendChatMessage`) | `MessengerResponse` |
//! | `wakuext_reSendChatMessage` | `MESSAGE_ID` | `null` |
//! | `wakuext_markAllRead` | `CHAT` | `null` |
//! | `wakuext_markMessagesSeen` | `CHAT, [MESSAGE_ID...]` | number of messages newly seen |
//! | `wakuext_deleteMessage` | `MESSAGE_ID` | `null` |
//! | `wakuext_requestAllHistoricMessages` | none | `MessengerResponse` + `history` progress |
//! | `wakuext_historyProgress` | none | the `history.progress` event (a wisp addition) |
//! | `wakuext_syncChatFromSyncedFrom` | `CHAT` | `{syncedFrom, syncedTo, envelopes}` |
//! | `wakuext_subscribe` | `"messages.new"` or `"history.progress"` | subscription id (WebSocket) |
//!
//! - `CHAT` is a chat id: a public chat's name, or `0x04…` (130 hex digits) for a 1:1 chat.
//!   `KEY` is a chat key: `0x04…`, compressed `0x02…`/`0x03…`, or `zQ3…`.
//! - `MESSAGE_ID` is `0x` + 64 hex digits. `CURSOR` is `""` (or `null`) for the newest page,
//!   else the `cursor` of the previous page (status-go's form: the clock as 64 digits, then
//!   the id); `LIMIT` is 1 to 1000. Pages are newest first; an empty `cursor` means no more.
//! - `Message` and `Chat` carry status-go's JSON fields: `Message` {`id`, `whisperTimestamp`,
//!   `from`, `alias`, `identicon`, `seen`, `outgoingStatus` (ours: `sending`, `sent`,
//!   `delivered`, `expired`), `quotedMessage`, `rtl`, `parsedText`, `lineCount`, `text`,
//!   `chatId`, `localChatId`, `clock`, `replace`, `responseTo`, `ensName`, `sticker`,
//!   `image` and `audio` (base64 data URIs, only when the message has one), `audioDurationMs`,
//!   `commandParameters`, `timestamp`, `contentType`, `messageType`}; `Chat` {`id`, `name`,
//!   `description`, `color`, `active`, `chatType` (1: 1:1, 2: public), `timestamp`,
//!   `lastClockValue`, `deletedAtClockValue`, `unviewedMessagesCount`, `lastMessage`,
//!   `members`, `membershipUpdateEvents`, `alias` and `identicon` (1:1), `muted`, `joined`}.
//!   `MessengerResponse` is `{chats?, messages?, removedChats?}` (empty lists left out, as
//!   status-go's `omitempty`).
//! - Sending by `contentType`: 1 (TEXT_PLAIN, the default) needs `text`; 2 (STICKER) needs
//!   `sticker: {hash, pack}`; 7 (IMAGE) needs `imagePath`, a JPEG, PNG, GIF or WebP file the
//!   node reads; 8 (AUDIO) needs `audioPath`, an AAC (ADTS) or AMR file the node reads, and
//!   takes `audioDurationMs`. Files are at most 512 KiB; errors name the field and the path.
//!   Media messages may carry `text` too. Any chat kind takes any of them.
//! - `wakuext_syncChatFromSyncedFrom` (the name of later status-go versions) asks the trusted
//!   mailservers for the day of the chat's history before the range already fetched starts
//!   (before now if none was), and widens the range; `syncedFrom` and `syncedTo` are that
//!   range's ends (Unix seconds). The messages are in `wakuext_chatMessages` when it
//!   answers (it waits up to 5 s for the envelopes to be opened). An unknown chat, no
//!   trusted mailserver connected, or every request failing is an error naming the chat.
//! - `wakuext_subscribe` (WebSocket only; ended by `wakuext_unsubscribe`) sends
//!   `wakuext_subscription` notifications whose `result` is status-go's signal envelope:
//!   `{"type": "messages.new", "event": MessengerResponse}` for messages received or whose
//!   delivery status changed (and chats added), group system messages as their events apply,
//!   and a message someone reacted to or pinned (fetch its reactions and pins again); or
//!   `{"type": "history.progress", "event":
//!   {running, topicsDone, topicsTotal, envelopes, mailservers, failed, error?, rounds}}`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use jsonrpsee::{core::to_json_raw_value, types::ErrorObjectOwned};
use serde_json::{Map, Value, json};
use wisp_crypto::PublicKey;
use wisp_messenger::{
    ChatKind, MessageId, StoredChat, StoredMessage, proto::chat_message::Payload,
};

use super::{Module, State, error::RpcError, method, types::Args};
use crate::chat::{ChatError, ChatEvent, ChatHandle, HistoryProgress, outgoing_status_name};

/// Longest public chat name accepted, in bytes (the messenger's limit).
const MAX_CHAT_NAME: usize = 256;
/// Largest page of `wakuext_chatMessages`.
const MAX_LIMIT: u64 = 1000;
/// Messages one `wakuext_sendChatMessages` call may send.
const MAX_BATCH: usize = 100;
/// Profiles (alias, identicon) cached; the cache is emptied when it is full.
const MAX_PROFILES: usize = 4096;
/// status-go's chat colours, picked by the chat id's hash.
const CHAT_COLORS: [&str; 6] = ["#fa6565", "#887af9", "#FE8F59", "#7cda00", "#51d0f0", "#d37ef4"];

/// The 3-word alias and identicon of chat keys, computed once each (the identicon is a PNG).
#[derive(Debug, Default)]
pub(crate) struct Profiles(Mutex<HashMap<[u8; 65], Arc<Profile>>>);

/// A chat key's 3-word alias and identicon (a PNG data URI).
type Profile = (String, String);

impl Profiles {
    pub(super) fn of(&self, key: &PublicKey) -> Arc<Profile> {
        let bytes = key.to_uncompressed();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(&bytes) {
            return p.clone();
        }
        if map.len() >= MAX_PROFILES {
            map.clear();
        }
        let profile = Arc::new((
            wisp_accounts::alias(key),
            wisp_accounts::Identicon::for_public_key(key).to_data_uri(),
        ));
        map.insert(bytes, profile.clone());
        profile
    }
}

pub(crate) fn chat_of(st: &State) -> Result<ChatHandle, RpcError> {
    st.node.chat().cloned().ok_or(RpcError::NoAccount)
}

impl From<ChatError> for RpcError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Stopped
            | ChatError::NoMailserver { .. }
            | ChatError::HistoryFailed { .. } => RpcError::Chat(e.to_string()),
            ChatError::UnknownChat(_)
            | ChatError::UnknownMessage(_)
            | ChatError::InactiveChat(_) => RpcError::ChatInput(e.to_string()),
            ChatError::Messenger(wisp_messenger::Error::InvalidInput { .. })
            | ChatError::Messenger(wisp_messenger::Error::UnknownChat { .. })
            | ChatError::Messenger(wisp_messenger::Error::NotJoined { .. })
            | ChatError::Messenger(wisp_messenger::Error::UnknownContact { .. })
            | ChatError::Messenger(wisp_messenger::Error::UnknownInstallation { .. })
            | ChatError::Messenger(wisp_messenger::Error::MediaTooBig { .. })
            | ChatError::Messenger(wisp_messenger::Error::UnsupportedMedia { .. }) => {
                RpcError::ChatInput(e.to_string())
            }
            other => RpcError::Chat(format!("messenger: {other}")),
        }
    }
}

/// A chat id: a public chat name, or `0x04…` for a 1:1 chat.
fn chat_id(field: &str, s: &str) -> Result<String, RpcError> {
    if s.is_empty() {
        return Err(RpcError::Params(format!(
            "{field} is empty: expected a chat id (a public chat name, or 0x04… for a 1:1 chat)"
        )));
    }
    if let Some(hex_part) = s.strip_prefix("0x") {
        let ok = hex_part.len() == 130
            && hex_part.starts_with("04")
            && hex::decode(hex_part).ok().is_some_and(|b| PublicKey::from_sec1(&b).is_ok());
        if !ok {
            return Err(RpcError::Params(format!(
                "{field} {s:?} is not a 1:1 chat id: expected 0x04 followed by 128 hex digits (an uncompressed chat key)"
            )));
        }
        return Ok(s.to_owned());
    }
    public_chat_name(field, s)?;
    Ok(s.to_owned())
}

/// A public chat name: 1 to 256 bytes, no whitespace or control characters.
fn public_chat_name(field: &str, s: &str) -> Result<(), RpcError> {
    if s.is_empty() || s.len() > MAX_CHAT_NAME {
        return Err(RpcError::Params(format!(
            "{field} must be a public chat name of 1 to {MAX_CHAT_NAME} bytes, got {} bytes",
            s.len()
        )));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(RpcError::Params(format!(
            "{field} {s:?} is not a public chat name: {c:?} is not allowed (no spaces or control characters; Status uses lowercase letters, digits and '-')"
        )));
    }
    if s.starts_with("0x") {
        return Err(RpcError::Params(format!(
            "{field} {s:?}: a public chat name may not start with 0x (that is a 1:1 chat id)"
        )));
    }
    Ok(())
}

/// A message id: `0x` + 64 hex digits.
pub(crate) fn message_id(field: &str, s: &str) -> Result<MessageId, RpcError> {
    s.strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(MessageId)
        .ok_or_else(|| {
            RpcError::Params(format!(
                "{field} {s:?} is not a message id: expected 0x followed by 64 hex digits"
            ))
        })
}

/// A `chatMessages` cursor: `""` for the first page, else 64 digits and a message id.
fn cursor(s: &str) -> Result<Option<String>, RpcError> {
    if s.is_empty() {
        return Ok(None);
    }
    let ok = s.len() == 64 + 66
        && s.is_char_boundary(64)
        && s[..64].bytes().all(|b| b.is_ascii_digit())
        && message_id("cursor", &s[64..]).is_ok();
    if !ok {
        return Err(RpcError::Params(format!(
            "cursor {:?} is not a chatMessages cursor: pass \"\" for the newest page, else the cursor of the previous page (64 digits then 0x and 64 hex digits)",
            s.chars().take(40).collect::<String>()
        )));
    }
    Ok(Some(s.to_owned()))
}

/// The `CURSOR, LIMIT` parameters (2 and 3) of the paged methods (`chatMessages`,
/// `chatPinnedMessages`, `emojiReactionsByChatID`): the cursor as `chatMessages` returns it
/// (`""` or absent for the newest page), the limit 1 to 1000 (absent: 20).
pub(crate) fn page_args(args: &Args) -> Result<(Option<String>, usize), RpcError> {
    let cursor = match args.opt(1) {
        None => None,
        Some(Value::String(s)) => cursor(s)?,
        Some(_) => {
            return Err(RpcError::Params("parameter 2 (cursor) must be a string".into()));
        }
    };
    let limit = match args.opt(2) {
        None => 20,
        Some(v) => v.as_u64().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            RpcError::Params(format!(
                "parameter 3 (limit) must be an integer from 1 to {MAX_LIMIT}, got {v}"
            ))
        })?,
    };
    Ok((cursor, usize::try_from(limit).unwrap_or(1000)))
}

/// `text` of a message to send: not empty, at most the messenger's limit.
fn check_text(field: &str, text: &str, max: usize) -> Result<(), RpcError> {
    if text.trim().is_empty() {
        return Err(RpcError::Params(format!("{field} is empty: expected the text to send")));
    }
    if text.len() > max {
        return Err(RpcError::Params(format!(
            "{field} is {} bytes, more than the {max} allowed",
            text.len()
        )));
    }
    Ok(())
}

/// Whether text reads right to left (its first character is Hebrew, Arabic or U+200F), as
/// status-go's `isRTL`.
fn is_rtl(text: &str) -> bool {
    let Some(c) = text.chars().next() else { return false };
    matches!(c as u32,
        0x0590..=0x05FF | 0xFB1D..=0xFB4F // Hebrew
        | 0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF // Arabic
        | 0x200F)
}

/// status-go's `parsedText` (its markdown tree as JSON), for plain text: one paragraph per
/// block of lines.
fn parsed_text(text: &str) -> Value {
    Value::Array(
        text.split("\n\n")
            .filter(|p| !p.is_empty())
            .map(|p| json!({ "type": "paragraph", "children": [{ "literal": p }] }))
            .collect(),
    )
}

fn key_hex(key: &PublicKey) -> String {
    format!("0x{}", hex::encode(key.to_uncompressed()))
}

/// The messages replied to, by id, for `quotedMessage`.
pub(crate) type Quotes = HashMap<MessageId, StoredMessage>;

/// The messages `messages` reply to that are stored (status-go's `quotedMessage`).
async fn quotes(chat: &ChatHandle, messages: &[StoredMessage]) -> Quotes {
    let mut quotes = Quotes::new();
    for m in messages {
        let Ok(id) = message_id("responseTo", &m.message.response_to) else { continue };
        if quotes.contains_key(&id) {
            continue;
        }
        if let Ok(Some(quoted)) = chat.message(id).await
            && !quoted.deleted
        {
            quotes.insert(id, quoted);
        }
    }
    quotes
}

/// A message as status-go's `common.Message` JSON.
pub(crate) fn message_json(m: &StoredMessage, profiles: &Profiles, quotes: &Quotes) -> Value {
    let profile = profiles.of(&m.from);
    let c = &m.message;
    let sticker = match &c.payload {
        Some(Payload::Sticker(s)) => json!({ "hash": s.hash, "pack": s.pack }),
        _ => Value::Null,
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(m.id.to_string()));
    o.insert("whisperTimestamp".into(), json!(m.whisper_timestamp_ms));
    o.insert("from".into(), json!(key_hex(&m.from)));
    o.insert("alias".into(), json!(profile.0));
    o.insert("identicon".into(), json!(profile.1));
    o.insert("seen".into(), json!(m.seen));
    if let Some(status) = m.outgoing {
        o.insert("outgoingStatus".into(), json!(outgoing_status_name(status)));
    }
    let quoted = message_id("responseTo", &c.response_to).ok().and_then(|id| quotes.get(&id));
    o.insert(
        "quotedMessage".into(),
        quoted.map_or(Value::Null, |q| json!({ "from": key_hex(&q.from), "text": q.message.text })),
    );
    o.insert("rtl".into(), json!(is_rtl(&c.text)));
    o.insert("parsedText".into(), parsed_text(&c.text));
    o.insert("lineCount".into(), json!(c.text.matches('\n').count()));
    o.insert("text".into(), json!(c.text));
    o.insert("chatId".into(), json!(c.chat_id));
    o.insert("localChatId".into(), json!(m.chat_id));
    o.insert("clock".into(), json!(c.clock));
    o.insert("replace".into(), json!(""));
    o.insert("responseTo".into(), json!(c.response_to));
    o.insert("ensName".into(), json!(c.ens_name));
    o.insert("sticker".into(), sticker);
    match &c.payload {
        Some(Payload::Image(image)) => {
            o.insert(
                "image".into(),
                json!(data_uri("image", image_mime(image.r#type), &image.payload)),
            );
        }
        Some(Payload::Audio(audio)) => {
            o.insert(
                "audio".into(),
                json!(data_uri("audio", audio_mime(audio.r#type), &audio.payload)),
            );
            o.insert("audioDurationMs".into(), json!(audio.duration_ms));
        }
        _ => {}
    }
    o.insert("commandParameters".into(), Value::Null);
    o.insert("timestamp".into(), json!(c.timestamp));
    o.insert("contentType".into(), json!(c.content_type));
    o.insert("messageType".into(), json!(c.message_type));
    Value::Object(o)
}

/// status-go's `image` / `audio` field: a base64 data URI (`data:image/png;base64,…`).
fn data_uri(kind: &str, mime: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!("data:{kind}/{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The MIME subtype of an `ImageMessage.type`, as status-go's `getImageMessageMIME`.
fn image_mime(kind: i32) -> &'static str {
    use wisp_messenger::proto::ImageType;
    match ImageType::try_from(kind) {
        Ok(ImageType::Png) => "png",
        Ok(ImageType::Jpeg) => "jpeg",
        Ok(ImageType::Webp) => "webp",
        Ok(ImageType::Gif) => "gif",
        _ => "unknown",
    }
}

/// The MIME subtype of an `AudioMessage.type`, as status-go's `getAudioMessageMIME`.
fn audio_mime(kind: i32) -> &'static str {
    use wisp_messenger::proto::audio_message::AudioType;
    match AudioType::try_from(kind) {
        Ok(AudioType::Aac) => "aac",
        Ok(AudioType::Amr) => "amr",
        _ => "unknown",
    }
}

/// A chat as status-go's `protocol.Chat` JSON.
pub(crate) fn chat_json(c: &StoredChat, profiles: &Profiles) -> Value {
    let color =
        CHAT_COLORS[usize::from(wisp_crypto::keccak256(c.id.as_bytes())[0]) % CHAT_COLORS.len()];
    let mut o = Map::new();
    o.insert("id".into(), json!(c.id));
    o.insert("name".into(), json!(c.name));
    o.insert("description".into(), json!(""));
    o.insert("color".into(), json!(color));
    o.insert("active".into(), json!(c.active));
    let chat_type = match c.kind {
        ChatKind::OneToOne => 1,
        ChatKind::Public => 2,
        ChatKind::PrivateGroup => 3,
    };
    o.insert("chatType".into(), json!(chat_type));
    o.insert("timestamp".into(), json!(c.timestamp_ms));
    o.insert("lastClockValue".into(), json!(c.last_clock_value));
    o.insert("deletedAtClockValue".into(), json!(0));
    o.insert("unviewedMessagesCount".into(), json!(c.unread_count));
    o.insert(
        "lastMessage".into(),
        c.last_message.as_ref().map_or(Value::Null, |m| message_json(m, profiles, &Quotes::new())),
    );
    o.insert("members".into(), json!([]));
    o.insert("membershipUpdateEvents".into(), json!([]));
    let key = match c.kind {
        ChatKind::OneToOne => crate::chat::one_to_one_key(&c.id),
        ChatKind::Public | ChatKind::PrivateGroup => None,
    };
    match key {
        Some(key) => {
            let profile = profiles.of(&key);
            o.insert("alias".into(), json!(profile.0));
            o.insert("identicon".into(), json!(profile.1));
        }
        None => {
            o.insert("identicon".into(), json!(""));
        }
    }
    o.insert("muted".into(), json!(false));
    o.insert("joined".into(), json!(c.timestamp_ms));
    Value::Object(o)
}

/// status-go's `MessengerResponse`: empty lists are left out.
pub(super) fn response(
    chats: &[StoredChat],
    messages: &[StoredMessage],
    profiles: &Profiles,
    quotes: &Quotes,
) -> Value {
    let mut o = Map::new();
    if !chats.is_empty() {
        o.insert("chats".into(), chats.iter().map(|c| chat_json(c, profiles)).collect());
    }
    if !messages.is_empty() {
        o.insert(
            "messages".into(),
            messages.iter().map(|m| message_json(m, profiles, quotes)).collect(),
        );
    }
    Value::Object(o)
}

/// The `id` of a request object (`CreatePublicChat`, `CreateOneToOneChat`, `DeactivateChat`).
fn request_id<'a>(args: &'a Args, what: &'static str) -> Result<&'a str, RpcError> {
    let r = args.object(0, what)?;
    r.str("id")?.ok_or_else(|| RpcError::Params(format!("{what}.id is required")))
}

/// status-go's `ChatMessage.ContentType` values that can be sent.
const TEXT_PLAIN: u64 = 1;
const STICKER: u64 = 2;
const IMAGE: u64 = 7;
const AUDIO: u64 = 8;

/// What a message to send carries.
enum Content {
    /// `contentType` 1: the text alone.
    Text,
    /// `contentType` 2: `sticker: {hash, pack}`.
    Sticker { hash: String, pack: i32 },
    /// `contentType` 7: the image file at `imagePath`, read by the node.
    Image { path: String },
    /// `contentType` 8: the audio file at `audioPath` and `audioDurationMs`.
    Audio { path: String, duration_ms: u64 },
}

/// A message to send: `{chatId, text, contentType?, responseTo?, imagePath?, audioPath?,
/// audioDurationMs?, sticker?}` (status-go's `common.Message` fields).
struct Outgoing {
    /// Where the message's fields came from (`Message`, `messages[2]`), for errors.
    what: String,
    chat_id: String,
    text: String,
    response_to: Option<MessageId>,
    content: Content,
}

/// Reads a message to send.
fn outgoing(value: &Value, what: &str, max_text: usize) -> Result<Outgoing, RpcError> {
    let Value::Object(map) = value else {
        return Err(RpcError::Params(format!("{what} must be an object {{chatId, text}}")));
    };
    let field = |key: &str| map.get(key).filter(|v| !v.is_null());
    let string = |key: &str| -> Result<Option<&str>, RpcError> {
        match field(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(RpcError::Params(format!("{what}.{key} must be a string"))),
        }
    };
    let chat =
        string("chatId")?.ok_or_else(|| RpcError::Params(format!("{what}.chatId is required")))?;
    let chat = chat_id(&format!("{what}.chatId"), chat)?;
    let text = string("text")?.unwrap_or("");
    let content_type = match field("contentType") {
        None => TEXT_PLAIN,
        Some(t) => t.as_u64().filter(|t| [TEXT_PLAIN, STICKER, IMAGE, AUDIO].contains(t)).ok_or_else(|| {
            RpcError::Params(format!(
                "{what}.contentType {t} is not supported: expected 1 (TEXT_PLAIN), 2 (STICKER), \
                 7 (IMAGE) or 8 (AUDIO)"
            ))
        })?,
    };
    let image_path = string("imagePath")?.filter(|p| !p.is_empty());
    let audio_path = string("audioPath")?.filter(|p| !p.is_empty());
    let sticker = field("sticker");
    for (present, key, wanted, name) in [
        (image_path.is_some(), "imagePath", IMAGE, "IMAGE"),
        (audio_path.is_some(), "audioPath", AUDIO, "AUDIO"),
        (sticker.is_some(), "sticker", STICKER, "STICKER"),
    ] {
        if present && content_type != wanted {
            return Err(RpcError::Params(format!(
                "{what}.{key} is only read with {what}.contentType {wanted} ({name}), got {content_type}"
            )));
        }
    }
    let content = match content_type {
        STICKER => {
            let bad = || {
                RpcError::Params(format!(
                    "{what}.sticker must be an object {{hash: \"<content hash>\", pack: <pack id>}} \
                     with contentType 2"
                ))
            };
            let s = sticker.and_then(Value::as_object).ok_or_else(bad)?;
            let hash = s.get("hash").and_then(Value::as_str).filter(|h| !h.is_empty());
            let pack = s.get("pack").and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok());
            let (Some(hash), Some(pack)) = (hash, pack) else { return Err(bad()) };
            Content::Sticker { hash: hash.to_owned(), pack }
        }
        IMAGE => Content::Image {
            path: image_path
                .ok_or_else(|| {
                    RpcError::Params(format!(
                        "{what}.imagePath is required with contentType 7 (IMAGE): a file the node can read"
                    ))
                })?
                .to_owned(),
        },
        AUDIO => Content::Audio {
            path: audio_path
                .ok_or_else(|| {
                    RpcError::Params(format!(
                        "{what}.audioPath is required with contentType 8 (AUDIO): a file the node can read"
                    ))
                })?
                .to_owned(),
            duration_ms: match field("audioDurationMs") {
                None => 0,
                Some(v) => v.as_u64().ok_or_else(|| {
                    RpcError::Params(format!(
                        "{what}.audioDurationMs must be a whole number of milliseconds, got {v}"
                    ))
                })?,
            },
        },
        _ => {
            check_text(&format!("{what}.text"), text, max_text)?;
            Content::Text
        }
    };
    if text.len() > max_text {
        check_text(&format!("{what}.text"), text, max_text)?;
    }
    let response_to = match string("responseTo")? {
        Some(id) if !id.is_empty() => Some(message_id(&format!("{what}.responseTo"), id)?),
        _ => None,
    };
    Ok(Outgoing {
        what: what.to_owned(),
        chat_id: chat,
        text: text.to_owned(),
        response_to,
        content,
    })
}

/// Reads the media file at `path` (`field` names it in errors): a regular file of at most
/// [`wisp_messenger::MAX_MEDIA_BYTES`], read without holding more than that.
async fn read_media(field: &str, path: &str) -> Result<Vec<u8>, RpcError> {
    use tokio::io::AsyncReadExt as _;
    let max = wisp_messenger::MAX_MEDIA_BYTES;
    let cannot = |e: std::io::Error| {
        RpcError::Params(format!("{field} {path:?} cannot be read by the node: {e}"))
    };
    let file = tokio::fs::File::open(path).await.map_err(cannot)?;
    let meta = file.metadata().await.map_err(cannot)?;
    if !meta.is_file() {
        return Err(RpcError::Params(format!("{field} {path:?} is not a regular file")));
    }
    let too_big = |size: u64| {
        RpcError::Params(format!(
            "{field} {path:?} is {size} bytes, more than the limit of {max} bytes (512 KiB)"
        ))
    };
    if meta.len() > max as u64 {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0).min(max));
    file.take(max as u64 + 1).read_to_end(&mut bytes).await.map_err(cannot)?;
    if bytes.len() > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

impl Outgoing {
    /// The `ChatMessage` to send: media files read and checked (errors name the field and
    /// the path).
    async fn build(&self) -> Result<wisp_messenger::proto::ChatMessage, RpcError> {
        let what = &self.what;
        let media = |field: String, path: &str, e: wisp_messenger::Error| {
            RpcError::Params(format!("{what}.{field} {path:?}: {e}"))
        };
        let mut message = match &self.content {
            Content::Text => wisp_messenger::text_message(
                0,
                0,
                &self.text,
                &self.chat_id,
                wisp_messenger::proto::MessageType::PublicGroup,
            ),
            Content::Sticker { hash, pack } => wisp_messenger::sticker_message(hash, *pack)
                .map_err(|e| RpcError::Params(format!("{what}.sticker: {e}")))?,
            Content::Image { path } => {
                let bytes = read_media(&format!("{what}.imagePath"), path).await?;
                wisp_messenger::image_message(bytes)
                    .map_err(|e| media("imagePath".into(), path, e))?
            }
            Content::Audio { path, duration_ms } => {
                let bytes = read_media(&format!("{what}.audioPath"), path).await?;
                wisp_messenger::audio_message(bytes, *duration_ms)
                    .map_err(|e| media("audioPath".into(), path, e))?
            }
        };
        message.text.clone_from(&self.text);
        if let Some(id) = self.response_to {
            message.response_to = id.to_string();
        }
        Ok(message)
    }
}

/// Registers the chat methods and the `messages.new` subscription.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "wakuext_startMessenger", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let chats = chat.chats().await?;
        Ok(response(&chats, &[], &st.profiles, &Quotes::new()))
    })?;
    method(m, "wakuext_chats", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let chats = chat.chats().await?;
        Ok(super::group::chats_json(&chat, &chats, &st).await)
    })?;
    method(m, "wakuext_activeChats", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let mut chats = chat.chats().await?;
        chats.retain(|c| c.active);
        Ok(super::group::chats_json(&chat, &chats, &st).await)
    })?;
    method(m, "wakuext_createPublicChat", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let name = request_id(&args, "CreatePublicChat")?;
        public_chat_name("CreatePublicChat.id", name)?;
        let joined = chat.join_public_chat(name).await?;
        Ok(response(&[joined], &[], &st.profiles, &Quotes::new()))
    })?;
    method(m, "wakuext_createOneToOneChat", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = request_id(&args, "CreateOneToOneChat")?;
        let key = wisp_accounts::parse_public_key(id).map_err(|e| {
            RpcError::Params(format!(
                "CreateOneToOneChat.id {id:?} is not a chat key (0x04…, 0x02…/0x03… or zQ3…): {e}"
            ))
        })?;
        if key == *chat.public_key() {
            return Err(RpcError::Params(
                "CreateOneToOneChat.id is this node's own chat key: a 1:1 chat needs another account"
                    .into(),
            ));
        }
        let opened = chat.open_one_to_one_chat(key).await?;
        Ok(response(&[opened], &[], &st.profiles, &Quotes::new()))
    })?;
    method(m, "wakuext_deactivateChat", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("DeactivateChat.id", request_id(&args, "DeactivateChat")?)?;
        let deactivated = chat.deactivate_chat(&id).await?;
        Ok(response(&[deactivated], &[], &st.profiles, &Quotes::new()))
    })?;
    method(m, "wakuext_deleteChat", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        chat.delete_chat(&id).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_chatMessages", 3, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        let (cursor, limit) = page_args(&args)?;
        let (messages, next) = chat.chat_messages(&id, cursor, limit).await?;
        let quotes = quotes(&chat, &messages).await;
        Ok(json!({
            "messages": messages.iter().map(|m| message_json(m, &st.profiles, &quotes)).collect::<Vec<_>>(),
            "cursor": next.unwrap_or_default(),
        }))
    })?;
    method(m, "wakuext_sendChatMessage", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let out = outgoing(args.required(0, "Message")?, "Message", chat.max_text_bytes())?;
        let message = out.build().await?;
        let sent = chat.send_message(&out.chat_id, message).await?;
        let current = chat.chat(&out.chat_id).await?;
        let sent = [sent];
        let quotes = quotes(&chat, &sent).await;
        Ok(response(&[current], &sent, &st.profiles, &quotes))
    })?;
    method(m, "wakuext_sendChatMessages", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let Some(Value::Array(items)) = args.opt(0) else {
            return Err(RpcError::Params(
                "parameter 1 (messages) must be an array of {chatId, text} objects".into(),
            ));
        };
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(RpcError::OutOfRange {
                field: "messages (count)",
                min: 1,
                max: MAX_BATCH as u64,
                value: items.len() as u64,
            });
        }
        // Every message is checked before any is sent.
        let max = chat.max_text_bytes();
        let wanted = items
            .iter()
            .enumerate()
            .map(|(i, v)| outgoing(v, &format!("messages[{i}]"), max))
            .collect::<Result<Vec<_>, _>>()?;
        let mut built = Vec::with_capacity(wanted.len());
        for out in wanted {
            let message = out.build().await?;
            built.push((out, message));
        }
        let mut sent = Vec::new();
        let mut chats: Vec<String> = Vec::new();
        for (out, message) in built {
            sent.push(chat.send_message(&out.chat_id, message).await?);
            if !chats.contains(&out.chat_id) {
                chats.push(out.chat_id);
            }
        }
        let mut current = Vec::new();
        for id in chats {
            current.push(chat.chat(&id).await?);
        }
        let quotes = quotes(&chat, &sent).await;
        Ok(response(&current, &sent, &st.profiles, &quotes))
    })?;
    method(m, "wakuext_reSendChatMessage", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = message_id("messageID", args.string(0, "messageID")?)?;
        chat.resend(id).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_markAllRead", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        chat.mark_all_read(&id).await?;
        Ok(Value::Null)
    })?;
    method(m, "wakuext_markMessagesSeen", 2, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chatID")?)?;
        let Some(Value::Array(items)) = args.opt(1) else {
            return Err(RpcError::Params(
                "parameter 2 (ids) must be an array of message ids (0x + 64 hex digits)".into(),
            ));
        };
        let ids = items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let field = format!("ids[{i}]");
                let s = v
                    .as_str()
                    .ok_or_else(|| RpcError::Params(format!("{field} must be a string")))?;
                message_id(&field, s)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(chat.mark_messages_seen(&id, ids).await?)
    })?;
    method(m, "wakuext_deleteMessage", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = message_id("id", args.string(0, "message id")?)?;
        if !chat.delete_message(id).await? {
            return Err(RpcError::ChatInput(format!("unknown message {id}")));
        }
        Ok(Value::Null)
    })?;
    method(m, "wakuext_requestAllHistoricMessages", 0, |_, st| async move {
        let chat = chat_of(&st)?;
        let progress = chat.request_all_history().await?;
        let chats = chat.chats().await?;
        let active: Vec<StoredChat> = chats.into_iter().filter(|c| c.active).collect();
        let mut r = response(&active, &[], &st.profiles, &Quotes::new());
        if let Value::Object(o) = &mut r {
            o.insert("history".into(), history_json(&progress));
        }
        Ok(r)
    })?;
    method(m, "wakuext_historyProgress", 0, |_, st| async move {
        Ok(history_json(&chat_of(&st)?.history_progress()))
    })?;
    method(m, "wakuext_syncChatFromSyncedFrom", 1, |args, st| async move {
        let chat = chat_of(&st)?;
        let id = chat_id("chatID", args.string(0, "chat id")?)?;
        let range = chat.sync_chat_from_synced_from(&id).await?;
        Ok(serde_json::to_value(range).unwrap_or(Value::Null))
    })?;

    m.register_subscription(
        "wakuext_subscribe",
        "wakuext_subscription",
        "wakuext_unsubscribe",
        |params, pending, st, _| async move {
            let kind = Args::parse(params.as_str(), 1).and_then(|args| {
                let kind = args.string(0, "subscription name (\"messages.new\")")?;
                match kind {
                    "messages.new" | "history.progress" => Ok(kind.to_owned()),
                    other => Err(RpcError::UnknownChatSubscription(other.to_owned())),
                }
            });
            let subscribed = kind.and_then(|kind| Ok((kind, chat_of(&st)?)));
            let (kind, chat) = match subscribed {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(target: "node::rpc", method = "wakuext_subscribe", error = %e, "call failed");
                    pending.reject(ErrorObjectOwned::from(e)).await;
                    return;
                }
            };
            let mut events = chat.events();
            let Ok(sink) = pending.accept().await else { return };
            loop {
                tokio::select! {
                    event = events.recv() => {
                        let value = match event {
                            Ok(ChatEvent::Messages { messages, chats }) if kind == "messages.new" => {
                                let quotes = quotes(&chat, &messages).await;
                                json!({ "type": "messages.new", "event": response(&chats, &messages, &st.profiles, &quotes) })
                            }
                            Ok(ChatEvent::History(p)) if kind == "history.progress" => {
                                json!({ "type": "history.progress", "event": history_json(&p) })
                            }
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                tracing::warn!(target: "node::rpc", missed = n, "chat subscription lagged");
                                continue;
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                        };
                        let Ok(json) = to_json_raw_value(&value) else { continue };
                        if sink.send(json).await.is_err() {
                            break;
                        }
                    }
                    _ = sink.closed() => break,
                }
            }
        },
    )?;
    Ok(())
}

fn history_json(p: &HistoryProgress) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_and_names_are_checked() {
        let key = wisp_crypto::SecretKey::random().public_key();
        let id = key_hex(&key);
        assert_eq!(chat_id("c", &id).unwrap(), id);
        assert_eq!(chat_id("c", "status").unwrap(), "status");
        for (bad, says) in [
            ("", "is empty"),
            ("0x1234", "expected 0x04 followed by 128 hex digits"),
            ("two words", "' ' is not allowed"),
            (&"a".repeat(257)[..], "1 to 256 bytes"),
        ] {
            let e = chat_id("Message.chatId", bad).unwrap_err().to_string();
            assert!(e.contains("Message.chatId") && e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn cursors_and_message_ids_are_checked() {
        let id = format!("0x{}", "ab".repeat(32));
        assert!(message_id("id", &id).is_ok());
        assert!(message_id("id", "0xabc").unwrap_err().to_string().contains("64 hex digits"));
        assert_eq!(cursor("").unwrap(), None);
        let good = format!("{:064}{id}", 42);
        assert_eq!(cursor(&good).unwrap(), Some(good.clone()));
        for bad in ["12", &format!("{:064}0x12", 1), &format!("{:063}x{id}", 1)] {
            assert!(cursor(bad).unwrap_err().to_string().contains("not a chatMessages cursor"));
        }
    }

    fn stored(from: &PublicKey, text: &str, response_to: &str) -> StoredMessage {
        let message = wisp_messenger::text_message(
            7,
            1_800_000_000_000,
            text,
            "room",
            wisp_messenger::proto::MessageType::PublicGroup,
        );
        let message =
            wisp_messenger::proto::ChatMessage { response_to: response_to.to_owned(), ..message };
        StoredMessage {
            id: MessageId(wisp_crypto::keccak256(text.as_bytes())),
            chat_id: "room".into(),
            from: *from,
            outgoing: None,
            seen: false,
            whisper_timestamp_ms: 1_800_000_000_000,
            message,
            raw: Vec::new(),
            deleted: false,
        }
    }

    #[test]
    fn message_json_has_status_go_fields_and_quotes() {
        let key = wisp_crypto::SecretKey::random().public_key();
        let original = stored(&key, "first line", "");
        let reply = stored(&key, "a\nb", &original.id.to_string());
        let quotes = Quotes::from([(original.id, original.clone())]);
        let profiles = Profiles::default();
        let v = message_json(&reply, &profiles, &quotes);
        assert_eq!(v["quotedMessage"], json!({ "from": key_hex(&key), "text": "first line" }));
        assert_eq!(v["lineCount"], 1);
        assert_eq!(v["responseTo"], json!(original.id.to_string()));
        assert_eq!(v["alias"], json!(wisp_accounts::alias(&key)));
        assert_eq!((&v["messageType"], &v["contentType"]), (&json!(2), &json!(1)));
        assert!(v.get("outgoingStatus").is_none());
        let mut ours = original.clone();
        ours.outgoing = Some(wisp_messenger::DeliveryStatus::Delivered);
        let v = message_json(&ours, &profiles, &Quotes::new());
        assert_eq!(
            (&v["outgoingStatus"], &v["quotedMessage"]),
            (&json!("delivered"), &Value::Null)
        );
        let fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for f in [
            "id",
            "whisperTimestamp",
            "from",
            "alias",
            "identicon",
            "seen",
            "rtl",
            "parsedText",
            "text",
            "chatId",
            "localChatId",
            "clock",
            "replace",
            "ensName",
            "sticker",
            "commandParameters",
            "timestamp",
        ] {
            assert!(fields.contains(&f), "{f} missing");
        }
    }

    #[test]
    fn text_and_rtl() {
        assert!(
            check_text("Message.text", " ", 10)
                .unwrap_err()
                .to_string()
                .contains("Message.text is empty")
        );
        assert!(
            check_text("Message.text", "hello world", 5)
                .unwrap_err()
                .to_string()
                .contains("more than the 5")
        );
        assert!(is_rtl("שלום"));
        assert!(is_rtl("مرحبا"));
        assert!(!is_rtl("hello"));
        assert_eq!(parsed_text("a\n\nb").as_array().unwrap().len(), 2);
    }
}
