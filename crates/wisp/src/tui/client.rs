//! The task that talks to the node: it turns [`Request`]s into `wakuext_*` calls over the
//! node's JSON-RPC (HTTP) and the answers into [`Event`]s, polling the chat list, the open
//! chat and the peers. The screen never waits on it: both sides only use channels.
//!
//! Messages typed while the node does not answer are kept in order and sent once it answers.

use std::{collections::HashMap, collections::VecDeque, time::Duration};

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use wisp_accounts::parse_public_key;

use super::app::{
    Chat, ChatKind, Delivery, Event, Identicon, Message, MessageKind, NetStatus, PAGE, Quote,
    Reaction, Request,
};
use crate::{
    chat_cmd::{one_to_one_id, str_field},
    rpc_client::{RpcClient, RpcError, RpcUrl},
};

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a step back into a chat's history from the mailserver may take.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the chat list and the open chat are polled.
pub(crate) const POLL: Duration = Duration::from_millis(300);
/// How often the peers are asked for.
const PEERS_EVERY: u32 = 5;
/// Most contacts read from the node.
const MAX_CONTACTS: usize = 10_000;
/// Most members of a group read from the node.
const MAX_MEMBERS: usize = 1000;
/// Most messages kept in the offline queue.
const MAX_QUEUED: usize = 1000;

/// status-go's `contentType` values drawn here.
const TEXT_PLAIN: u64 = 1;
const SYSTEM_MESSAGE_TYPES: [u64; 2] = [6, 7];

/// A message waiting for the node to answer.
#[derive(Debug, Clone)]
struct Outgoing {
    chat: String,
    text: String,
    reply_to: Option<String>,
}

/// Runs until a [`Request::Quit`] or until the screen side is gone.
pub(crate) async fn run(
    url: RpcUrl,
    mut requests: UnboundedReceiver<Request>,
    events: UnboundedSender<Event>,
) {
    let rpc = RpcClient::new(url, CALL_TIMEOUT);
    let mut state = State {
        open: None,
        profiles: HashMap::new(),
        queue: VecDeque::new(),
        online: false,
        status: NetStatus::default(),
        contacts: Vec::new(),
        me_known: false,
    };
    let mut ticker = tokio::time::interval(POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: u32 = 0;
    // History from the mailservers: one round at start, in the background (it waits for the
    // whole round).
    let (history_tx, mut history_rx) = tokio::sync::mpsc::unbounded_channel();
    {
        let rpc = rpc.clone();
        tokio::spawn(async move {
            let _ = history_tx.send(None);
            let answer = rpc
                .call_within(
                    "wakuext_requestAllHistoricMessages",
                    json!([]),
                    Duration::from_secs(300),
                )
                .await;
            let _ = history_tx.send(Some(answer));
        });
    }
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return };
                if request == Request::Quit {
                    return;
                }
                state.request(&rpc, request, &events).await;
            }
            _ = ticker.tick() => {
                tick = tick.wrapping_add(1);
                state.poll(&rpc, &events, tick % PEERS_EVERY == 1).await;
            }
            Some(history) = history_rx.recv() => {
                match history {
                    None => state.history_started(),
                    Some(answer) => state.history_done(answer.map_err(|e| e.to_string())),
                }
                if events.send(Event::Status(state.status.clone())).is_err() {
                    return;
                }
            }
        }
    }
}

struct State {
    /// The chat the screen shows.
    open: Option<String>,
    /// Identicons by chat key.
    profiles: HashMap<String, Option<Identicon>>,
    /// Messages typed while offline.
    queue: VecDeque<Outgoing>,
    /// Whether the last call got an answer.
    online: bool,
    /// The last status sent.
    status: NetStatus,
    /// The contact names last sent.
    contacts: Vec<(String, String)>,
    /// Whether our chat key was sent to the screen.
    me_known: bool,
}

impl State {
    /// `wakuext_requestAllHistoricMessages` was sent: the bar says "fetching…".
    fn history_started(&mut self) {
        self.status.history = Some((0, 0));
    }

    /// The node's history progress (`wakuext_historyProgress`) while the fetch runs: the bar
    /// follows `topicsDone`/`topicsTotal` of a running round. Returns whether it changed.
    fn history_progress(&mut self, p: &Value) -> bool {
        if self.status.history.is_none() || p.get("running") != Some(&Value::Bool(true)) {
            return false;
        }
        let n = |k: &str| {
            p.get(k).and_then(Value::as_u64).map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let bar = Some((n("topicsDone").min(n("topicsTotal")), n("topicsTotal")));
        let changed = self.status.history != bar;
        self.status.history = bar;
        changed
    }

    /// The fetch is over: the bar goes, the mailserver part says what came.
    fn history_done(&mut self, answer: Result<Value, String>) {
        self.status.history = None;
        match answer {
            Ok(answer) => {
                let h = answer.get("history").cloned().unwrap_or(Value::Null);
                let n = |k: &str| h.get(k).and_then(Value::as_u64).unwrap_or(0);
                self.status.mailserver = match n("mailservers") {
                    0 => Some(
                        h.get("error")
                            .and_then(Value::as_str)
                            .map_or("none".to_owned(), |e| format!("none ({e})")),
                    ),
                    m => Some(format!("{m} trusted, {} envelopes", n("envelopes"))),
                };
            }
            Err(e) => self.status.mailserver = Some(format!("history failed: {e}")),
        }
    }

    async fn request(
        &mut self,
        rpc: &RpcClient,
        request: Request,
        events: &UnboundedSender<Event>,
    ) {
        let result = match request {
            Request::Join(name) => {
                rpc.call("wakuext_createPublicChat", json!([{ "id": name }])).await.map(drop)
            }
            Request::OpenOneToOne(key) => match one_to_one_id(&key) {
                Ok(id) => {
                    let r = rpc
                        .call("wakuext_createOneToOneChat", json!([{ "id": id }]))
                        .await
                        .map(drop);
                    if r.is_ok() {
                        self.open = Some(id.clone());
                        let _ = events.send(Event::Opened(id));
                    }
                    r
                }
                Err(e) => {
                    let _ = events.send(Event::Failed(e.to_string()));
                    return;
                }
            },
            Request::Leave(id) => {
                rpc.call("wakuext_deactivateChat", json!([{ "id": id }])).await.map(drop)
            }
            Request::Send { chat, text, reply_to } => {
                let out = Outgoing { chat, text, reply_to };
                if !self.online || !self.queue.is_empty() {
                    self.enqueue(out, events);
                    return;
                }
                match send(rpc, &out).await {
                    Ok(m) => {
                        let message = self.message(&m);
                        let _ = events.send(Event::Sent(Ok((out.chat, message))));
                        Ok(())
                    }
                    Err(RpcError::Unreachable { .. } | RpcError::Timeout { .. }) => {
                        self.online = false;
                        self.enqueue(out, events);
                        return;
                    }
                    Err(e) => {
                        let _ = events.send(Event::Sent(Err(e.to_string())));
                        return;
                    }
                }
            }
            Request::CreateGroup { name, members } => {
                match rpc.call("wakuext_createGroupChatWithMembers", json!([name, members])).await {
                    Ok(answer) => {
                        match answer.pointer("/chats/0").filter(|c| c.is_object()) {
                            Some(c) => {
                                let _ = events.send(Event::Created(chat_of(c)));
                                let _ = events.send(Event::Notice(format!(
                                    "group {name:?} created; /invite KEY adds people"
                                )));
                            }
                            None => {
                                let _ = events
                                    .send(Event::Failed("the node created no group chat".into()));
                            }
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Request::Invite { chat, members } => {
                let n = members.len();
                notice(
                    rpc.call("wakuext_addMembersToGroupChat", json!([chat, members])).await,
                    events,
                    format!("{n} member(s) added"),
                )
            }
            Request::Kick { chat, member } => notice(
                rpc.call("wakuext_removeMemberFromGroupChat", json!([chat, member])).await,
                events,
                format!("{member} removed from the group"),
            ),
            Request::LeaveGroup(chat) => {
                if self.open.as_ref() == Some(&chat) {
                    self.open = None;
                }
                notice(
                    rpc.call("wakuext_leaveGroupChat", json!([chat, true])).await,
                    events,
                    "left the group".into(),
                )
            }
            Request::AcceptGroup(chat) => notice(
                rpc.call("wakuext_confirmJoiningGroup", json!([chat])).await,
                events,
                "joined the group".into(),
            ),
            Request::React { chat, message, emoji } => {
                let r = rpc.call("wakuext_sendEmojiReaction", json!([chat, message, emoji])).await;
                match r {
                    Ok(_) => extras(rpc, &chat, events).await,
                    Err(e) => Err(e),
                }
            }
            Request::Unreact { chat, id } => {
                match rpc.call("wakuext_sendEmojiReactionRetraction", json!([id])).await {
                    Ok(_) => extras(rpc, &chat, events).await,
                    Err(e) => Err(e),
                }
            }
            Request::Pin { chat, message, pinned } => {
                let pin = json!([{ "chatId": chat, "messageId": message, "pinned": pinned }]);
                match rpc.call("wakuext_sendPinMessage", pin).await {
                    Ok(_) => {
                        let what = if pinned { "pinned" } else { "unpinned" };
                        let _ = events.send(Event::Notice(format!("message {what}")));
                        extras(rpc, &chat, events).await
                    }
                    Err(e) => Err(e),
                }
            }
            Request::AddContact { key, name } => {
                let mut contact = json!({ "id": key });
                if let (Some(name), Some(o)) = (&name, contact.as_object_mut()) {
                    o.insert("nickname".into(), json!(name));
                }
                let r = rpc.call("wakuext_addContact", json!([contact])).await;
                let done = format!("{} added to the contacts", name.as_deref().unwrap_or(&key));
                match notice(r, events, done) {
                    Ok(()) => self.contacts(rpc, events).await,
                    Err(e) => Err(e),
                }
            }
            Request::Block(key) => {
                let r = rpc.call("wakuext_blockContact", json!([key])).await;
                match notice(r, events, format!("{key} blocked")) {
                    Ok(()) => self.contacts(rpc, events).await,
                    Err(e) => Err(e),
                }
            }
            Request::Resend(id) => {
                rpc.call("wakuext_reSendChatMessage", json!([id])).await.map(drop)
            }
            Request::MarkRead(id) => rpc.call("wakuext_markAllRead", json!([id])).await.map(drop),
            Request::Load(id) => {
                self.open = Some(id.clone());
                self.page(rpc, &id, "", false, events).await
            }
            Request::LoadOlder { chat, cursor } => {
                self.page(rpc, &chat, &cursor, true, events).await
            }
            Request::SyncOlder(chat) => {
                // The mailserver may take a while: its own task, so the polling goes on.
                let (rpc, events) = (rpc.clone(), events.clone());
                tokio::spawn(async move {
                    let result = rpc
                        .call_within("wakuext_syncChatFromSyncedFrom", json!([chat]), SYNC_TIMEOUT)
                        .await
                        .map(|r| r.get("envelopes").and_then(Value::as_u64).unwrap_or(0))
                        .map_err(|e| e.to_string());
                    let _ = events.send(Event::Synced { chat, result });
                });
                Ok(())
            }
            Request::Quit => Ok(()),
        };
        if let Err(e) = result {
            let _ = events.send(Event::Failed(e.to_string()));
        }
    }

    fn enqueue(&mut self, out: Outgoing, events: &UnboundedSender<Event>) {
        if self.queue.len() >= MAX_QUEUED {
            let _ = events.send(Event::Failed("the offline queue is full; message dropped".into()));
            return;
        }
        self.queue.push_back(out);
        let _ = events.send(Event::Failed(format!(
            "offline: {} message(s) queued, sent when the node answers",
            self.queue.len()
        )));
    }

    async fn page(
        &mut self,
        rpc: &RpcClient,
        chat: &str,
        cursor: &str,
        older: bool,
        events: &UnboundedSender<Event>,
    ) -> Result<(), RpcError> {
        let page = rpc.call("wakuext_chatMessages", json!([chat, cursor, PAGE])).await?;
        let list = page.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
        let messages = list.iter().map(|m| self.message(m)).collect();
        let cursor = str_field(&page, "cursor").to_owned();
        let _ =
            events.send(Event::Messages { chat: chat.to_owned(), page: messages, cursor, older });
        Ok(())
    }

    /// One round of polling: the chat list, the newest page of the open chat, the queue, and
    /// every few rounds the peers.
    async fn poll(&mut self, rpc: &RpcClient, events: &UnboundedSender<Event>, peers: bool) {
        let chats = match rpc.call("wakuext_activeChats", json!([])).await {
            Ok(c) => c,
            Err(e) => {
                if self.online || self.status.online {
                    self.online = false;
                    self.status.online = false;
                    let _ = events.send(Event::Status(self.status.clone()));
                    let _ = events.send(Event::Failed(format!("node unreachable: {e}")));
                }
                return;
            }
        };
        if !self.online {
            self.online = true;
            self.status.online = true;
            let _ = events.send(Event::Status(self.status.clone()));
        }
        if !self.me_known
            && let Ok(list) = rpc.call("wakuext_getOurInstallations", json!([])).await
            && let Some(key) = our_key(&list)
        {
            // Attached with --rpc the screen does not know whose node it is until now.
            self.me_known = true;
            let alias = alias_of(&key);
            let _ = events.send(Event::Me { key, alias });
        }
        let list = chats.as_array().cloned().unwrap_or_default();
        let chats: Vec<Chat> = list.iter().map(|c| self.chat(c)).collect();
        // A chat left, declined or blocked is gone: its page is not asked for any more.
        if self.open.as_ref().is_some_and(|open| !chats.iter().any(|c| &c.id == open)) {
            self.open = None;
        }
        let _ = events.send(Event::Chats(chats));
        while let Some(out) = self.queue.front().cloned() {
            match send(rpc, &out).await {
                Ok(m) => {
                    self.queue.pop_front();
                    let message = self.message(&m);
                    let _ = events.send(Event::Sent(Ok((out.chat, message))));
                }
                Err(RpcError::Unreachable { .. } | RpcError::Timeout { .. }) => break,
                Err(e) => {
                    self.queue.pop_front();
                    let _ = events.send(Event::Sent(Err(e.to_string())));
                }
            }
        }
        if let Some(open) = self.open.clone() {
            let page = self.page(rpc, &open, "", false, events).await;
            if let Err(e) = page.and(extras(rpc, &open, events).await) {
                let _ = events.send(Event::Failed(e.to_string()));
            }
        }
        if peers && let Err(e) = self.contacts(rpc, events).await {
            let _ = events.send(Event::Failed(e.to_string()));
        }
        if self.status.history.is_some()
            && let Ok(p) = rpc.call("wakuext_historyProgress", json!([])).await
            && self.history_progress(&p)
        {
            let _ = events.send(Event::Status(self.status.clone()));
        }
        if peers && let Ok(Value::Array(list)) = rpc.call("admin_peers", json!([])).await {
            let n = u32::try_from(list.len()).unwrap_or(u32::MAX);
            if n != self.status.peers {
                self.status.peers = n;
                let _ = events.send(Event::Status(self.status.clone()));
            }
        }
    }

    /// Fetches the contacts' names; tells the screen when they changed.
    async fn contacts(
        &mut self,
        rpc: &RpcClient,
        events: &UnboundedSender<Event>,
    ) -> Result<(), RpcError> {
        let list = rpc.call("wakuext_contacts", json!([])).await?;
        let names: Vec<(String, String)> = list
            .as_array()
            .map(|l| l.iter().filter_map(contact_name).take(MAX_CONTACTS).collect())
            .unwrap_or_default();
        if names != self.contacts {
            self.contacts.clone_from(&names);
            let _ = events.send(Event::Contacts(names));
        }
        Ok(())
    }

    fn identicon(&mut self, from: &str) -> Option<Identicon> {
        if let Some(i) = self.profiles.get(from) {
            return *i;
        }
        if self.profiles.len() > 10_000 {
            self.profiles.clear();
        }
        let icon = identicon_of(from);
        self.profiles.insert(from.to_owned(), icon);
        icon
    }

    /// A status-go `Chat` object as the list shows it.
    fn chat(&mut self, c: &Value) -> Chat {
        chat_of(c)
    }

    /// A status-go `Message` object as the screen shows it.
    fn message(&mut self, m: &Value) -> Message {
        let mut message = message_of(m);
        message.identicon = self.identicon(&message.from);
        message
    }
}

/// Fetches the reactions and the pinned messages of `chat`.
async fn extras(
    rpc: &RpcClient,
    chat: &str,
    events: &UnboundedSender<Event>,
) -> Result<(), RpcError> {
    let reactions = rpc.call("wakuext_emojiReactionsByChatID", json!([chat, "", 1000])).await?;
    let list = reactions.as_array().map(|l| l.iter().filter_map(reaction_of).collect());
    let _ = events.send(Event::Reactions { chat: chat.to_owned(), list: list.unwrap_or_default() });
    let pins = rpc.call("wakuext_chatPinnedMessages", json!([chat, "", 100])).await?;
    let ids = pins
        .get("pinnedMessages")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .map(|p| str_field(p.get("message").unwrap_or(&Value::Null), "id").to_owned())
                .collect()
        })
        .unwrap_or_default();
    let _ = events.send(Event::Pins { chat: chat.to_owned(), ids });
    Ok(())
}

/// A status-go `Contact` as (chat key, the name shown): the nickname we gave, else the name
/// they gave themselves, else their ENS name; none without any.
pub(crate) fn contact_name(c: &Value) -> Option<(String, String)> {
    let id = str_field(c, "id");
    let name = ["localNickname", "displayName", "name"]
        .iter()
        .map(|k| str_field(c, k).trim())
        .find(|n| !n.is_empty())?;
    (!id.is_empty()).then(|| (id.to_owned(), name.chars().take(100).collect()))
}

/// Our chat key from `wakuext_getOurInstallations` (each names the account's key).
pub(crate) fn our_key(installations: &Value) -> Option<String> {
    let list = installations.as_array()?;
    let this = list
        .iter()
        .find(|i| i.get("thisDevice").and_then(Value::as_bool) == Some(true))
        .or(list.first())?;
    let key = str_field(this, "identity");
    parse_public_key(key).ok().map(|_| key.to_owned())
}

/// A status-go `EmojiReaction` (retracted ones are none).
pub(crate) fn reaction_of(r: &Value) -> Option<Reaction> {
    if r.get("retracted").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let emoji = r.get("emojiId").and_then(Value::as_u64).and_then(|e| u8::try_from(e).ok())?;
    Some(Reaction {
        id: str_field(r, "id").to_owned(),
        message: str_field(r, "messageId").to_owned(),
        emoji,
        from: str_field(r, "from").to_owned(),
    })
}

/// A call's outcome: on success `done` goes to the notice line.
fn notice(
    result: Result<Value, RpcError>,
    events: &UnboundedSender<Event>,
    done: String,
) -> Result<(), RpcError> {
    result.map(|_| {
        let _ = events.send(Event::Notice(done));
    })
}

async fn send(rpc: &RpcClient, out: &Outgoing) -> Result<Value, RpcError> {
    let mut message = json!({ "chatId": out.chat, "text": out.text, "contentType": TEXT_PLAIN });
    if let (Some(id), Some(o)) = (&out.reply_to, message.as_object_mut()) {
        o.insert("responseTo".into(), json!(id));
    }
    let response = rpc.call("wakuext_sendChatMessage", json!([message])).await?;
    let messages = response.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(messages
        .iter()
        .find(|m| str_field(m, "chatId") == out.chat)
        .or(messages.first())
        .cloned()
        .unwrap_or(Value::Null))
}

/// The identicon of a chat key (`0x04…`), none if it is not a key.
pub(crate) fn identicon_of(from: &str) -> Option<Identicon> {
    let key = parse_public_key(from).ok()?;
    let icon = wisp_accounts::Identicon::for_public_key(&key);
    let grid = icon.cells();
    let mut cells = [[false; 5]; 5];
    for (r, row) in cells.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().enumerate() {
            *cell = grid.get(r).and_then(|g| g.get(c)).copied().unwrap_or(false);
        }
    }
    Some(Identicon { cells, rgb: icon.color() })
}

/// The alias of a chat key, or the text itself.
fn alias_of(key: &str) -> String {
    match parse_public_key(key) {
        Ok(k) => wisp_accounts::alias(&k),
        Err(_) => key.to_owned(),
    }
}

/// A status-go `Chat` object as the list shows it.
pub(crate) fn chat_of(c: &Value) -> Chat {
    let id = str_field(c, "id").to_owned();
    let kind = match c.get("chatType").and_then(Value::as_u64) {
        Some(1) => ChatKind::OneToOne,
        Some(3) => ChatKind::Group,
        _ => ChatKind::Public,
    };
    let name = match kind {
        ChatKind::Public => format!("#{id}"),
        ChatKind::OneToOne => match str_field(c, "alias") {
            "" => alias_of(&id),
            a => a.to_owned(),
        },
        ChatKind::Group => match str_field(c, "name") {
            "" => id.clone(),
            n => n.to_owned(),
        },
    };
    let last = c.get("lastMessage").filter(|m| m.is_object()).map(|m| {
        let who = match str_field(m, "alias") {
            "" => alias_of(str_field(m, "from")),
            a => a.to_owned(),
        };
        let first = who.split(' ').next().unwrap_or_default().to_owned();
        format!("{first}: {}", named_mentions(str_field(m, "text")))
    });
    let activity = c
        .get("lastMessage")
        .and_then(|m| m.get("clock"))
        .and_then(Value::as_u64)
        .or_else(|| c.get("lastClockValue").and_then(Value::as_u64))
        .or_else(|| c.get("timestamp").and_then(Value::as_u64))
        .unwrap_or(0);
    let unread = c.get("unviewedMessagesCount").and_then(Value::as_u64).unwrap_or(0);
    let not_joined = match kind {
        ChatKind::Group => c
            .get("members")
            .and_then(Value::as_array)
            .map(|members| {
                members
                    .iter()
                    .filter(|m| m.get("joined").and_then(Value::as_bool) == Some(false))
                    .map(|m| str_field(m, "id").to_owned())
                    .take(MAX_MEMBERS)
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let last_from = c
        .get("lastMessage")
        .map(|m| str_field(m, "from"))
        .filter(|f| !f.is_empty())
        .map(str::to_owned);
    Chat { id, kind, name, unread, last, activity, not_joined, last_from }
}

/// `text` with every mention of a chat key (`@0x04` + 128 hex digits, as status-go's group
/// system messages and mentions carry them) replaced by `@` and that key's 3-word alias.
pub(crate) fn named_mentions(text: &str) -> String {
    const KEY_LEN: usize = 2 + 130;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("@0x04") {
        out.push_str(&rest[..at + 1]);
        let after = &rest[at + 1..];
        let key = after.get(..KEY_LEN).filter(|k| k[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        match key.and_then(|k| parse_public_key(k).ok().map(|_| k)) {
            Some(k) => {
                out.push_str(&alias_of(k));
                rest = &after[KEY_LEN..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// A status-go `Message` object as the screen shows it (without its identicon).
pub(crate) fn message_of(m: &Value) -> Message {
    let from = str_field(m, "from").to_owned();
    let alias = match str_field(m, "alias") {
        "" => alias_of(&from),
        a => a.to_owned(),
    };
    let quote = m.get("quotedMessage").filter(|q| q.is_object()).map(|q| Quote {
        alias: alias_of(str_field(q, "from")),
        text: str_field(q, "text").to_owned(),
    });
    let content = m.get("contentType").and_then(Value::as_u64).unwrap_or(TEXT_PLAIN);
    let kind = match content {
        TEXT_PLAIN | 0 | 2 => MessageKind::Text,
        t if SYSTEM_MESSAGE_TYPES.contains(&t) => MessageKind::System,
        t => MessageKind::Unsupported(t),
    };
    Message {
        id: str_field(m, "id").to_owned(),
        from,
        alias,
        text: named_mentions(str_field(m, "text")),
        clock: m.get("clock").and_then(Value::as_u64).unwrap_or(0),
        timestamp_ms: m
            .get("timestamp")
            .and_then(Value::as_u64)
            .or_else(|| m.get("whisperTimestamp").and_then(Value::as_u64))
            .unwrap_or(0),
        delivery: Delivery::from_status(str_field(m, "outgoingStatus")),
        quote,
        kind,
        identicon: None,
        rtl: m.get("rtl").and_then(Value::as_bool).unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentioned_keys_show_as_aliases() {
        let key = wisp_crypto::SecretKey::random().public_key();
        let hex = format!("0x{}", hex::encode(key.to_uncompressed()));
        let alias = wisp_accounts::alias(&key);
        let text = format!("@{hex} has added @{hex}, @0x04nothex and @{}", &hex[..40]);
        assert_eq!(
            named_mentions(&text),
            format!("@{alias} has added @{alias}, @0x04nothex and @{}", &hex[..40])
        );
        assert_eq!(named_mentions("no mention, an @ alone @"), "no mention, an @ alone @");
        assert_eq!(named_mentions("ünïcode @0x04"), "ünïcode @0x04");
    }

    fn state() -> State {
        State {
            open: None,
            profiles: HashMap::new(),
            queue: VecDeque::new(),
            online: true,
            status: NetStatus::default(),
            contacts: Vec::new(),
            me_known: false,
        }
    }

    #[test]
    fn the_rtl_flag_of_the_node_is_kept() {
        let m = message_of(&json!({"id": "0x1", "text": "שלום", "rtl": true}));
        assert!(m.rtl);
        assert_eq!(m.text, "שלום");
        assert!(!message_of(&json!({"id": "0x2", "text": "hi"})).rtl);
        assert!(!message_of(&json!({"id": "0x3", "text": "hi", "rtl": "yes"})).rtl);
    }

    #[test]
    fn the_history_bar_follows_the_progress_of_the_fetch() {
        let mut s = state();
        // Progress seen before the fetch was asked for does not start a bar.
        assert!(!s.history_progress(&json!({"running": true, "topicsDone": 0, "topicsTotal": 3})));
        assert_eq!(s.status.history, None);
        s.history_started();
        assert_eq!(s.status.history, Some((0, 0)), "fetching…");
        // A round not started yet (the previous one is over) keeps "fetching…".
        assert!(!s.history_progress(&json!({"running": false, "topicsDone": 2, "topicsTotal": 2})));
        assert_eq!(s.status.history, Some((0, 0)));
        let p = |done: u64| json!({"running": true, "topicsDone": done, "topicsTotal": 3});
        assert!(s.history_progress(&p(0)));
        assert_eq!(s.status.history, Some((0, 3)));
        assert!(s.history_progress(&p(1)));
        assert_eq!(s.status.history, Some((1, 3)));
        assert!(!s.history_progress(&p(1)), "no change, no redraw");
        assert!(s.history_progress(&p(9)));
        assert_eq!(s.status.history, Some((3, 3)), "never past the total");
        assert!(!s.history_progress(&json!("garbage")));
        s.history_done(Ok(json!({"history": {"mailservers": 1, "envelopes": 12}})));
        assert_eq!(s.status.history, None);
        assert_eq!(s.status.mailserver.as_deref(), Some("1 trusted, 12 envelopes"));
        assert!(!s.history_progress(&p(2)), "after the fetch the bar stays away");
        s.history_started();
        s.history_done(Err("timed out".into()));
        assert_eq!(s.status.history, None);
        assert_eq!(s.status.mailserver.as_deref(), Some("history failed: timed out"));
        s.history_done(Ok(
            json!({"history": {"mailservers": 0, "error": "no trusted mailserver"}}),
        ));
        assert_eq!(s.status.mailserver.as_deref(), Some("none (no trusted mailserver)"));
    }

    #[test]
    fn node_json_maps_to_chats_reactions_and_contact_names() {
        let c = json!({
            "id": "0a1b-0x04aa", "name": "team", "chatType": 3, "unviewedMessagesCount": 2,
            "lastClockValue": 7,
            "members": [
                { "id": "0x04aa", "admin": true, "joined": true },
                { "id": "0x04bb", "admin": false, "joined": false },
                { "id": 5 }
            ]
        });
        let chat = chat_of(&c);
        assert_eq!(chat.kind, ChatKind::Group);
        assert_eq!(chat.name, "team");
        assert_eq!((chat.unread, chat.activity), (2, 7));
        assert_eq!(chat.not_joined, ["0x04bb"]);
        let public = chat_of(
            &json!({ "id": "status", "chatType": 2, "members": [{"id": "x", "joined": false}] }),
        );
        assert_eq!(public.name, "#status");
        assert!(public.not_joined.is_empty());
        // Whatever the node sends, the mapping never fails.
        let r = json!({ "id": "0xr", "messageId": "0x1", "emojiId": 2, "from": "0x04bb", "retracted": false });
        assert_eq!(
            reaction_of(&r),
            Some(Reaction {
                id: "0xr".into(),
                message: "0x1".into(),
                emoji: 2,
                from: "0x04bb".into()
            })
        );
        assert_eq!(reaction_of(&json!({ "emojiId": 2, "retracted": true })), None);
        assert_eq!(reaction_of(&json!({ "emojiId": 300 })), None);
        assert_eq!(reaction_of(&json!(null)), None);
        let c = json!({ "id": "0x04bb", "alias": "Jolly Bob Hare", "localNickname": "", "displayName": "Bob", "name": "bob.eth" });
        assert_eq!(contact_name(&c), Some(("0x04bb".into(), "Bob".into())));
        let c = json!({ "id": "0x04bb", "localNickname": "Bobby", "displayName": "Bob" });
        assert_eq!(contact_name(&c).unwrap().1, "Bobby", "our nickname first");
        assert_eq!(contact_name(&json!({ "id": "0x04bb", "alias": "A B C" })), None);
        assert_eq!(contact_name(&json!([1])), None);
        let key = format!("0x04{}", "ab".repeat(64));
        let valid = wisp_crypto::SecretKey::from_bytes(&[7; 32]).unwrap().public_key();
        let valid = format!("0x{}", hex::encode(valid.to_uncompressed()));
        let list = json!([{ "identity": key, "thisDevice": false }, { "identity": valid, "thisDevice": true }]);
        assert_eq!(our_key(&list), Some(valid));
        assert_eq!(our_key(&json!([{ "identity": "nope" }])), None);
        assert_eq!(our_key(&json!({})), None);
        for odd in [json!(null), json!([]), json!({"chatType": "x", "members": 3})] {
            chat_of(&odd);
        }
    }
}
