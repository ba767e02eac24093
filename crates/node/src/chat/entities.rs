//! Reactions and pins through [`ChatHandle`].

use wisp_messenger::{ChatEntity, EntityKind, MessageId, PinnedPage};

use super::{ChatError, ChatHandle};

impl ChatHandle {
    /// Reacts to (or, with `retract`, withdraws the reaction `emoji` from) message `target`
    /// of chat `chat_id`; returns the reaction as stored.
    pub async fn send_reaction(
        &self,
        chat_id: &str,
        target: MessageId,
        emoji: i32,
        retract: bool,
    ) -> Result<ChatEntity, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, now| {
            core.known_chat(&id)?;
            core.messenger.send_reaction(&id, &target, emoji, retract, now)?;
            let all = core.messenger.chat_entities(&id, EntityKind::Reaction)?;
            let me = *core.messenger.public_key();
            all.into_iter()
                .find(|e| e.from == me && e.target == target.to_string() && e.value == emoji)
                .ok_or_else(|| ChatError::UnknownMessage(target.to_string()))
        })
        .await?
    }

    /// Withdraws our reaction whose id (its message id) is `reaction`.
    pub async fn retract_reaction(&self, reaction: MessageId) -> Result<ChatEntity, ChatError> {
        let found = self
            .run(move |core, _| -> Result<Option<ChatEntity>, ChatError> {
                let me = *core.messenger.public_key();
                for chat in core.messenger.chat_list()? {
                    let all = core.messenger.chat_entities(&chat.id, EntityKind::Reaction)?;
                    if let Some(e) = all.into_iter().find(|e| e.id == reaction && e.from == me) {
                        return Ok(Some(e));
                    }
                }
                Ok(None)
            })
            .await??
            .ok_or_else(|| ChatError::UnknownMessage(format!("{reaction} (emojiReactionID)")))?;
        let target = parse_id(&found.target)?;
        self.send_reaction(&found.chat_id, target, found.value, true).await
    }

    /// Pins or unpins message `target` of chat `chat_id`; returns the pin as stored.
    pub async fn pin_message(
        &self,
        chat_id: &str,
        target: MessageId,
        pinned: bool,
    ) -> Result<ChatEntity, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, now| {
            core.known_chat(&id)?;
            core.messenger.pin_message(&id, &target, pinned, now)?;
            core.messenger
                .chat_entities(&id, EntityKind::Pin)?
                .into_iter()
                .find(|e| e.target == target.to_string())
                .ok_or_else(|| ChatError::UnknownMessage(target.to_string()))
        })
        .await?
    }

    /// The reactions or pins of chat `chat_id`.
    pub async fn chat_entities(
        &self,
        chat_id: &str,
        kind: EntityKind,
    ) -> Result<Vec<ChatEntity>, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            Ok(core.messenger.chat_entities(&id, kind)?)
        })
        .await?
    }

    /// A page of the messages pinned in chat `chat_id` (with their pins), newest message
    /// first, from `cursor` (`chatMessages`' format), at most `limit`; with the cursor of the
    /// next page (see [`wisp_messenger::Messenger::pinned_messages`]).
    pub async fn pinned_messages(
        &self,
        chat_id: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<PinnedPage, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            Ok(core.messenger.pinned_messages(&id, cursor.as_deref(), limit)?)
        })
        .await?
    }

    /// The reactions (not withdrawn) on the page of chat `chat_id` that `chat_messages`
    /// returns for the same `cursor` and `limit` (status-go's `emojiReactionsByChatID`).
    pub async fn reactions_page(
        &self,
        chat_id: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Vec<ChatEntity>, ChatError> {
        let id = chat_id.to_owned();
        self.run(move |core, _| {
            core.known_chat(&id)?;
            Ok(core.messenger.reactions_page(&id, cursor.as_deref(), limit)?)
        })
        .await?
    }
}

fn parse_id(s: &str) -> Result<MessageId, ChatError> {
    s.strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(MessageId)
        .ok_or_else(|| ChatError::UnknownMessage(s.to_owned()))
}
