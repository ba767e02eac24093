//! Images, audio clips and stickers in a `ChatMessage` (6/PAYLOADS; status-go v0.79
//! `sendChatMessage` with `imagePath`, `audioPath` + `audioDurationMs`, `sticker`).
//!
//! - An image is sent with content type IMAGE and its format (JPEG, PNG, GIF, WebP) read
//!   from its first bytes, as status-go's `images.ImageType`; anything else is refused.
//! - An audio clip is sent with content type AUDIO, its length in milliseconds and its
//!   format read from its first bytes as status-go's `audio.Type`: AAC (an ADTS header,
//!   `FF F1` or `FF F9`) or AMR (`#!AMR\n`); anything else is refused.
//! - A sticker is sent with content type STICKER, its content hash and pack id.
//! - Images and clips over [`MAX_MEDIA_BYTES`] are refused when built, sent or received.

use super::{ContentType, MessageType, Messenger};
use crate::error::{Error, Result};
use crate::identity::MessageId;
use crate::proto::{
    AudioMessage, ChatMessage, ImageMessage, ImageType, StickerMessage, audio_message::AudioType,
    chat_message::Payload,
};
use crate::store::MessageStore;

/// Largest image or audio clip accepted in a `ChatMessage`, sent or received: 512 KiB.
pub const MAX_MEDIA_BYTES: usize = 512 * 1024;
/// Longest sticker hash accepted, in bytes.
pub const MAX_STICKER_HASH_BYTES: usize = 256;
/// Formats [`image_message`] accepts.
const IMAGE_FORMATS: &str = "JPEG, PNG, GIF or WebP";
/// Formats [`audio_message`] accepts.
const AUDIO_FORMATS: &str = "AAC (ADTS) or AMR";

/// Whether the image or audio of `message`, if any, is within [`MAX_MEDIA_BYTES`].
pub(super) fn media_acceptable(message: &ChatMessage) -> bool {
    match &message.payload {
        Some(Payload::Image(image)) => image.payload.len() <= MAX_MEDIA_BYTES,
        Some(Payload::Audio(audio)) => audio.payload.len() <= MAX_MEDIA_BYTES,
        _ => true,
    }
}

/// The image format of `bytes`, read from their first bytes; `None` when they are none of
/// JPEG, PNG, GIF or WebP.
pub fn image_type(bytes: &[u8]) -> Option<ImageType> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(ImageType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageType::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageType::Gif)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(ImageType::Webp)
    } else {
        None
    }
}

/// The audio format of `bytes` as status-go's `audio.Type` reads it: an ADTS header
/// (`FF F1` or `FF F9`) is AAC, `#!AMR\n` (and more than 11 bytes) is AMR; else `None`.
pub fn audio_type(bytes: &[u8]) -> Option<AudioType> {
    if bytes.starts_with(&[0xff, 0xf1]) || bytes.starts_with(&[0xff, 0xf9]) {
        Some(AudioType::Aac)
    } else if bytes.len() > 11 && bytes.starts_with(b"#!AMR\n") {
        Some(AudioType::Amr)
    } else {
        None
    }
}

fn check_size(what: &'static str, size: usize) -> Result<()> {
    if size > MAX_MEDIA_BYTES {
        return Err(Error::MediaTooBig { what, size, max: MAX_MEDIA_BYTES });
    }
    Ok(())
}

/// An image `ChatMessage` (content type IMAGE) of `bytes`, whose format (JPEG, PNG, GIF,
/// WebP) is read from its first bytes: [`Error::MediaTooBig`] when larger than
/// [`MAX_MEDIA_BYTES`], [`Error::UnsupportedMedia`] when none of those formats. Its clock,
/// timestamp and chat are set when it is sent.
pub fn image_message(bytes: Vec<u8>) -> Result<ChatMessage> {
    check_size("image", bytes.len())?;
    let kind = image_type(&bytes)
        .ok_or(Error::UnsupportedMedia { what: "image", expected: IMAGE_FORMATS })?;
    Ok(ChatMessage {
        content_type: ContentType::Image as i32,
        payload: Some(Payload::Image(ImageMessage { payload: bytes, r#type: kind as i32 })),
        ..ChatMessage::default()
    })
}

/// An audio `ChatMessage` (content type AUDIO) of `bytes` lasting `duration_ms`, whose
/// format (AAC or AMR) is read from its first bytes: [`Error::MediaTooBig`] when larger
/// than [`MAX_MEDIA_BYTES`], [`Error::UnsupportedMedia`] when neither format.
pub fn audio_message(bytes: Vec<u8>, duration_ms: u64) -> Result<ChatMessage> {
    check_size("audio", bytes.len())?;
    let kind = audio_type(&bytes)
        .ok_or(Error::UnsupportedMedia { what: "audio", expected: AUDIO_FORMATS })?;
    Ok(ChatMessage {
        content_type: ContentType::Audio as i32,
        payload: Some(Payload::Audio(AudioMessage {
            payload: bytes,
            r#type: kind as i32,
            duration_ms,
        })),
        ..ChatMessage::default()
    })
}

/// A sticker `ChatMessage` (content type STICKER): the sticker's content `hash` (1 to
/// [`MAX_STICKER_HASH_BYTES`] bytes) and its `pack` id.
pub fn sticker_message(hash: &str, pack: i32) -> Result<ChatMessage> {
    if hash.is_empty() || hash.len() > MAX_STICKER_HASH_BYTES {
        return Err(Error::InvalidInput {
            what: "sticker hash",
            reason: "must be 1 to 256 bytes (the sticker's content hash)",
        });
    }
    Ok(ChatMessage {
        content_type: ContentType::Sticker as i32,
        payload: Some(Payload::Sticker(StickerMessage { hash: hash.to_owned(), pack })),
        ..ChatMessage::default()
    })
}

/// Checks that `message`'s content can be sent: its payload matches its content type, media
/// are within [`MAX_MEDIA_BYTES`] and of a known format.
fn check_content(message: &ChatMessage, max_text_bytes: usize) -> Result<()> {
    if message.text.len() > max_text_bytes {
        return Err(Error::InvalidInput { what: "text", reason: "is longer than max_text_bytes" });
    }
    let content = ContentType::try_from(message.content_type).ok();
    match (content, &message.payload) {
        (Some(ContentType::TextPlain), None) if !message.text.is_empty() => Ok(()),
        (Some(ContentType::TextPlain), None) => {
            Err(Error::InvalidInput { what: "text", reason: "is empty" })
        }
        (Some(ContentType::Image), Some(Payload::Image(image))) => {
            check_size("image", image.payload.len())?;
            match image_type(&image.payload) {
                Some(kind) if kind as i32 == image.r#type => Ok(()),
                _ => Err(Error::UnsupportedMedia { what: "image", expected: IMAGE_FORMATS }),
            }
        }
        (Some(ContentType::Audio), Some(Payload::Audio(audio))) => {
            check_size("audio", audio.payload.len())?;
            match audio_type(&audio.payload) {
                Some(kind) if kind as i32 == audio.r#type => Ok(()),
                _ => Err(Error::UnsupportedMedia { what: "audio", expected: AUDIO_FORMATS }),
            }
        }
        (Some(ContentType::Sticker), Some(Payload::Sticker(sticker))) => {
            sticker_message(&sticker.hash, sticker.pack).map(|_| ())
        }
        _ => Err(Error::InvalidInput {
            what: "content type",
            reason: "must be TEXT_PLAIN, STICKER, IMAGE or AUDIO with the matching payload",
        }),
    }
}

impl<RS, MS, R, DB> Messenger<RS, MS, R, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    R: rand_core::Rng,
    DB: MessageStore,
{
    /// Sends a prepared `ChatMessage` (from [`image_message`], [`audio_message`],
    /// [`sticker_message`] or [`super::text_message`]) to chat `chat_id` of any kind (a joined
    /// public chat, a 1:1 chat id, a group chat we are a member of) at `now_ms`. Its clock,
    /// chat id and message type are set here, its timestamp when it has none; its
    /// `response_to`, when set, must name a stored message of the same chat. Returns the
    /// message id.
    pub fn send_chat_message(
        &mut self,
        chat_id: &str,
        mut message: ChatMessage,
        now_ms: u64,
    ) -> Result<MessageId> {
        check_content(&message, self.config.max_text_bytes)?;
        let chat =
            self.chats.get(chat_id).ok_or_else(|| Error::UnknownChat { id: chat_id.to_owned() })?;
        let (kind, peer) = (chat.kind, chat.peer);
        if !message.response_to.is_empty() {
            let original =
                super::parse_message_id(&message.response_to).ok_or(Error::InvalidInput {
                    what: "response_to",
                    reason: "is not a 0x-hex message id",
                })?;
            let same_chat = self.db.message(&original)?.is_some_and(|m| m.chat_id == chat_id);
            if !same_chat {
                return Err(Error::InvalidInput {
                    what: "response_to",
                    reason: "is not a stored message of this chat",
                });
            }
        }
        if message.timestamp == 0 {
            message.timestamp = now_ms;
        }
        match (kind, peer) {
            (super::ChatKind::OneToOne, Some(peer)) => {
                message.message_type = MessageType::OneToOne as i32;
                self.send_direct(&peer, message, now_ms)
            }
            (super::ChatKind::PrivateGroup, _) => self.send_group_message(chat_id, message, now_ms),
            _ => {
                message.message_type = MessageType::PublicGroup as i32;
                self.send_public(chat_id, message, now_ms)
            }
        }
    }
}
