//! The client's state machine: events in ([`Event`]), screen state and requests for the node
//! out ([`Request`]). No I/O and no clock: times come with the events, so every behaviour is a
//! unit test without a terminal or a node.

use std::collections::{HashMap, HashSet};

use super::keys::Action;

/// Most messages one chat keeps in memory (older ones are paged in again from the node).
pub(crate) const MAX_MESSAGES_PER_CHAT: usize = 5000;
/// Messages asked for per page.
pub(crate) const PAGE: u32 = 50;
/// Most reactions (and most pins) one chat keeps in memory.
const MAX_REACTIONS_PER_CHAT: usize = 10_000;
/// status-go's emoji reaction types 1 to 6, as drawn.
pub(crate) const EMOJIS: [&str; 6] = ["❤", "👍", "👎", "😂", "😢", "😠"];
/// Longest input accepted, in characters (a Status message is far shorter).
const MAX_INPUT: usize = 4096;

/// The kind of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChatKind {
    /// A public chat (`#name`).
    Public,
    /// A 1:1 chat with a person.
    OneToOne,
    /// A private group chat.
    Group,
}

/// The delivery state of one of our messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Stored, not yet out.
    Sending,
    /// The envelope left the node.
    Sent,
    /// The recipient acknowledged it.
    Delivered,
    /// Given up (status-go's `expired`) or refused by the node.
    Failed,
}

impl Delivery {
    /// The state of status-go's `outgoingStatus`, `None` for someone else's message.
    pub(crate) fn from_status(status: &str) -> Option<Self> {
        match status {
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "expired" | "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The mark drawn after the message.
    pub(crate) fn mark(self) -> &'static str {
        match self {
            Self::Sending => "…",
            Self::Sent => "✓",
            Self::Delivered => "✓✓",
            Self::Failed => "✗ failed",
        }
    }
}

/// What a message is. Group events, reactions and pins slot in here as they land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MessageKind {
    /// A text message.
    Text,
    /// A line from the system (joined, left, group change).
    System,
    /// A content type this client does not draw yet (status-go's `contentType`).
    Unsupported(u64),
}

/// The line a reply quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Quote {
    /// Who wrote the quoted message.
    pub(crate) alias: String,
    /// Its text.
    pub(crate) text: String,
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// `0x…` message id.
    pub(crate) id: String,
    /// The author's chat key (`0x04…`).
    pub(crate) from: String,
    /// The author's 3-word alias (or contact name).
    pub(crate) alias: String,
    /// The text.
    pub(crate) text: String,
    /// Lamport clock: the order in the chat.
    pub(crate) clock: u64,
    /// Unix milliseconds the author sent it.
    pub(crate) timestamp_ms: u64,
    /// Ours: its delivery state; `None` for others'.
    pub(crate) delivery: Option<Delivery>,
    /// The message it replies to.
    pub(crate) quote: Option<Quote>,
    /// What it is.
    pub(crate) kind: MessageKind,
    /// The author's identicon: 5×5 cells and a colour.
    pub(crate) identicon: Option<Identicon>,
    /// Right-to-left text (status-go's `rtl`: Arabic, Hebrew…): drawn aligned right.
    pub(crate) rtl: bool,
}

/// A small identicon: which of the 5×5 cells are filled, and their colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Identicon {
    /// Rows of cells.
    pub(crate) cells: [[bool; 5]; 5],
    /// The fill colour.
    pub(crate) rgb: [u8; 3],
}

/// One chat in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chat {
    /// The node's chat id (public name or `0x04…`).
    pub(crate) id: String,
    /// Its kind.
    pub(crate) kind: ChatKind,
    /// The name shown: `#status`, an alias, a group name.
    pub(crate) name: String,
    /// Unread messages.
    pub(crate) unread: u64,
    /// The last message, `alias: text`.
    pub(crate) last: Option<String>,
    /// Clock or time of the latest activity (the list is sorted by it, newest first).
    pub(crate) activity: u64,
    /// A group's members who have not joined (an invitation waits for them), by chat key.
    pub(crate) not_joined: Vec<String>,
    /// The chat key of the last message's author.
    pub(crate) last_from: Option<String>,
}

/// One emoji reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reaction {
    /// The reaction's own id (to retract it).
    pub(crate) id: String,
    /// The message reacted to.
    pub(crate) message: String,
    /// status-go's emoji type, 1 (love) to 6 (angry).
    pub(crate) emoji: u8,
    /// Who reacted (chat key).
    pub(crate) from: String,
}

/// The emoji type (1 to 6) of what the user typed: the emoji or a name.
pub(crate) fn emoji_type(text: &str) -> Option<u8> {
    let t = text.trim_end_matches('\u{fe0f}').to_lowercase();
    let n = match t.as_str() {
        "❤" | "♥" | "love" | "heart" | "<3" => 1,
        "👍" | "+1" | "like" | "thumbsup" | "yes" => 2,
        "👎" | "-1" | "dislike" | "thumbsdown" | "no" => 3,
        "😂" | "😄" | "😆" | "laugh" | "lol" | "haha" => 4,
        "😢" | "😭" | "sad" | "cry" => 5,
        "😠" | "😡" | "angry" => 6,
        _ => return None,
    };
    Some(n)
}

/// The messages of one chat held in memory, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Log {
    /// Oldest first.
    pub(crate) messages: Vec<Message>,
    /// The cursor of the next older page; empty when the start is loaded.
    pub(crate) cursor: String,
    /// Whether the start of the chat is in memory.
    pub(crate) complete: bool,
}

/// The network status the bottom line shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NetStatus {
    /// Whether the node answers.
    pub(crate) online: bool,
    /// Connected peers.
    pub(crate) peers: u32,
    /// The mailserver in use, if any.
    pub(crate) mailserver: Option<String>,
    /// History fetch: (done, total) while it runs.
    pub(crate) history: Option<(u32, u32)>,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// A bound key was pressed.
    Action(Action),
    /// A character was typed.
    Char(char),
    /// Text was pasted.
    Paste(String),
    /// The node's chat list.
    Chats(Vec<Chat>),
    /// A page of messages of a chat, newest first as the node gives them; `older` is true for a
    /// page fetched by scrolling back (else it is the newest page).
    Messages {
        /// The chat.
        chat: String,
        /// The messages.
        page: Vec<Message>,
        /// The cursor of the next older page.
        cursor: String,
        /// Whether it is an older page.
        older: bool,
    },
    /// A message we sent was accepted by the node (or it failed).
    Sent(Result<(String, Message), String>),
    /// The network status changed.
    Status(NetStatus),
    /// A request failed; the text is shown on the notice line.
    Failed(String),
    /// Our own chat key and alias are known.
    Me {
        /// `0x04…`.
        key: String,
        /// The 3-word alias.
        alias: String,
    },
    /// The terminal was resized.
    Resize(u16, u16),
    /// A 1:1 chat was opened on the node (`/msg`): show it.
    Opened(String),
    /// A chat we created on the node (`/group new`): list it and show it.
    Created(Chat),
    /// A request went through; the text is shown on the notice line.
    Notice(String),
    /// The reactions of a chat (all of them, replacing what was known).
    Reactions {
        /// The chat.
        chat: String,
        /// Its reactions.
        list: Vec<Reaction>,
    },
    /// Our contacts' names by chat key (all of them, replacing what was known).
    Contacts(Vec<(String, String)>),
    /// The pinned messages of a chat, by id (replacing what was known).
    Pins {
        /// The chat.
        chat: String,
        /// The pinned message ids.
        ids: Vec<String>,
    },
    /// A day more of a chat's history came from the mailserver (or the request failed).
    Synced {
        /// The chat.
        chat: String,
        /// The envelopes that came, or why it failed.
        result: Result<u64, String>,
    },
}

/// What the app asks the node to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Join a public chat.
    Join(String),
    /// Open the 1:1 chat with this key (as the user typed it).
    OpenOneToOne(String),
    /// Leave (deactivate) a chat.
    Leave(String),
    /// Send a text, maybe replying to a message.
    Send {
        /// The chat.
        chat: String,
        /// The text.
        text: String,
        /// The message replied to.
        reply_to: Option<String>,
    },
    /// Resend a failed message.
    Resend(String),
    /// Create a group chat with these members (chat keys as the user typed them).
    CreateGroup {
        /// The group's name.
        name: String,
        /// Its members besides us.
        members: Vec<String>,
    },
    /// Add members to a group chat.
    Invite {
        /// The group chat.
        chat: String,
        /// The chat keys to add.
        members: Vec<String>,
    },
    /// Remove a member from a group chat.
    Kick {
        /// The group chat.
        chat: String,
        /// The chat key to remove.
        member: String,
    },
    /// React to a message.
    React {
        /// The chat.
        chat: String,
        /// The message.
        message: String,
        /// The emoji type, 1 to 6.
        emoji: u8,
    },
    /// Take back one of our reactions (by its id).
    Unreact {
        /// The chat (its reactions are fetched again).
        chat: String,
        /// The reaction's id.
        id: String,
    },
    /// Pin or unpin a message.
    Pin {
        /// The chat.
        chat: String,
        /// The message.
        message: String,
        /// Pin (true) or unpin.
        pinned: bool,
    },
    /// Add a contact, maybe with a nickname.
    AddContact {
        /// The chat key as the user typed it.
        key: String,
        /// The nickname.
        name: Option<String>,
    },
    /// Block a contact (their 1:1 chat goes away).
    Block(String),
    /// Leave a group chat (or decline its invitation) and drop it.
    LeaveGroup(String),
    /// Accept the invitation to a group chat.
    AcceptGroup(String),
    /// Mark every message of a chat read.
    MarkRead(String),
    /// Fetch the newest page of a chat (it was opened).
    Load(String),
    /// Fetch the page before `cursor`.
    LoadOlder {
        /// The chat.
        chat: String,
        /// Where the memory starts.
        cursor: String,
    },
    /// Ask the mailserver for a day more of a chat's history (`wakuext_syncChatFromSyncedFrom`).
    SyncOlder(String),
    /// End the program.
    Quit,
}

/// The commands of the input line, with their help text.
pub(crate) const COMMANDS: &[(&str, &str)] = &[
    ("/join", "/join #name — join a public chat"),
    ("/msg", "/msg KEY|NAME [text] — open a 1:1 chat (0x04…/zQ3… key, or a contact or 1:1 name)"),
    ("/leave", "/leave — leave the open chat (a group: leave it, or decline its invitation)"),
    ("/group", "/group new NAME KEY... — create a group chat (NAME in \"quotes\" for spaces)"),
    ("/invite", "/invite KEY... — add people to the open group"),
    ("/kick", "/kick KEY — remove someone from the open group"),
    ("/accept", "/accept — join the open group you were invited to"),
    ("/read", "/read — mark the open chat read"),
    ("/reply", "/reply [N] text — reply to the Nth newest message (1 = newest)"),
    (
        "/react",
        "/react [N] EMOJI — react to message N (1 = newest) with ❤ 👍 👎 😂 😢 😠 (again: undo)",
    ),
    ("/pin", "/pin [N] — pin message N of the open chat (1 = newest)"),
    ("/unpin", "/unpin [N] — unpin message N"),
    ("/add", "/add [KEY] [NAME] — add a contact (in a 1:1 chat: that person), named NAME"),
    ("/block", "/block [KEY] — block someone (in a 1:1 chat: that person)"),
    ("/resend", "/resend — resend the last failed message of the open chat"),
    ("/search", "/search TEXT — find messages of the open chat (/search alone clears)"),
    ("/key", "/key — show my chat key and zQ3 key, and copy the chat key (OSC 52)"),
    ("/help", "/help — this list (Esc closes it)"),
    ("/quit", "/quit — leave wisp chat (Ctrl-C too)"),
];

/// Where the keyboard goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Typing a message or command.
    Insert,
    /// vi-style normal mode (only with vi keys on).
    Normal,
}

/// The whole screen state.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// Chats, sorted by activity (newest first).
    pub(crate) chats: Vec<Chat>,
    /// The open chat's id.
    pub(crate) open: Option<String>,
    /// Messages per chat id.
    pub(crate) logs: HashMap<String, Log>,
    /// The input line.
    pub(crate) input: String,
    /// The cursor in `input`, in characters.
    pub(crate) cursor: usize,
    /// Lines scrolled back from the bottom of the open chat.
    pub(crate) scroll: usize,
    /// The network status.
    pub(crate) status: NetStatus,
    /// A one-line notice (errors, command results).
    pub(crate) notice: Option<String>,
    /// Whether the help screen is up.
    pub(crate) help: bool,
    /// The search of the open chat.
    pub(crate) search: Option<String>,
    /// Our chat key and alias.
    pub(crate) me: Option<(String, String)>,
    /// Keyboard mode.
    pub(crate) mode: Mode,
    /// Whether vi-style keys are on.
    pub(crate) vi: bool,
    /// Whether the program should end.
    pub(crate) quit: bool,
    /// The terminal size.
    pub(crate) size: (u16, u16),
    /// A message picked by `/reply` whose quote is shown above the input.
    pub(crate) replying: Option<String>,
    /// The text of `/msg KEY text`, sent once the chat is open.
    pub(crate) after_open: Option<String>,
    /// Set when something deserves the bell (a 1:1 message or a mention in a chat not
    /// open); the caller rings and clears it.
    pub(crate) bell: bool,
    /// Reactions per chat id.
    pub(crate) reactions: HashMap<String, Vec<Reaction>>,
    /// Our compressed (`zQ3…`) chat key.
    pub(crate) me_compressed: Option<String>,
    /// Whether the status line shows our keys (`/key`; Esc or the next command hides them).
    pub(crate) key_shown: bool,
    /// Text to put on the terminal's clipboard; the caller writes it (OSC 52) and clears it.
    pub(crate) clipboard: Option<String>,
    /// Contact names by chat key.
    pub(crate) contacts: HashMap<String, String>,
    /// Pinned message ids per chat id.
    pub(crate) pins: HashMap<String, HashSet<String>>,
    /// Whether an older page is being fetched (so scrolling asks once).
    loading_older: bool,
    /// Chats whose older history is being fetched from the mailserver (one request each).
    syncing: HashSet<String>,
    /// Groups we accepted here whose chat list entry may still show the invitation (a list
    /// fetched before the confirmation): treated as joined until a list shows us joined.
    accepted: HashSet<String>,
}

impl App {
    /// An empty app; `vi` turns vi-style keys on (starting in insert mode).
    pub(crate) fn new(vi: bool) -> Self {
        Self {
            chats: Vec::new(),
            open: None,
            logs: HashMap::new(),
            input: String::new(),
            cursor: 0,
            scroll: 0,
            status: NetStatus::default(),
            notice: None,
            help: false,
            search: None,
            me: None,
            mode: Mode::Insert,
            vi,
            quit: false,
            size: (80, 24),
            replying: None,
            after_open: None,
            bell: false,
            reactions: HashMap::new(),
            pins: HashMap::new(),
            contacts: HashMap::new(),
            me_compressed: None,
            key_shown: false,
            clipboard: None,
            loading_older: false,
            syncing: HashSet::new(),
            accepted: HashSet::new(),
        }
    }

    /// Whether the open chat's older history is being fetched from the mailserver.
    pub(crate) fn fetching_older(&self) -> bool {
        self.open.as_ref().is_some_and(|id| self.syncing.contains(id))
    }

    /// The open chat.
    pub(crate) fn open_chat(&self) -> Option<&Chat> {
        let id = self.open.as_deref()?;
        self.chats.iter().find(|c| c.id == id)
    }

    /// The open chat's messages, oldest first (only the matches while searching).
    pub(crate) fn visible_messages(&self) -> Vec<&Message> {
        let Some(log) = self.open.as_ref().and_then(|id| self.logs.get(id)) else {
            return Vec::new();
        };
        match &self.search {
            Some(term) if !term.is_empty() => {
                let term = term.to_lowercase();
                log.messages.iter().filter(|m| m.text.to_lowercase().contains(&term)).collect()
            }
            _ => log.messages.iter().collect(),
        }
    }

    /// Applies one event; returns what to ask the node.
    pub(crate) fn handle(&mut self, event: Event) -> Vec<Request> {
        let mut out = Vec::new();
        match event {
            Event::Action(action) => self.act(action, &mut out),
            Event::Char(c) => self.typed(c, &mut out),
            Event::Paste(text) => {
                for c in text.chars().filter(|c| !c.is_control() || *c == '\n') {
                    self.insert(c);
                }
            }
            Event::Chats(chats) => self.set_chats(chats, &mut out),
            Event::Messages { chat, page, cursor, older } => {
                self.merge(&chat, page, cursor, older);
            }
            Event::Synced { chat, result } => self.synced(chat, result, &mut out),
            Event::Sent(Ok((chat, message))) => {
                self.merge(&chat, vec![message], String::new(), false);
            }
            Event::Sent(Err(e)) => self.notice = Some(format!("not sent: {e}")),
            Event::Status(status) => self.status = status,
            Event::Failed(e) => self.notice = Some(e),
            Event::Me { key, alias } => {
                self.me_compressed = wisp_accounts::parse_public_key(&key)
                    .ok()
                    .map(|k| wisp_accounts::compress_public_key(&k));
                self.me = Some((key, alias));
            }
            Event::Resize(w, h) => self.size = (w, h),
            Event::Opened(id) => {
                if !self.chats.iter().any(|c| c.id == id) {
                    let name = self.name_of_key(&id);
                    self.chats.insert(
                        0,
                        Chat {
                            id: id.clone(),
                            kind: ChatKind::OneToOne,
                            name,
                            unread: 0,
                            last: None,
                            activity: u64::MAX,
                            not_joined: Vec::new(),
                            last_from: None,
                        },
                    );
                }
                if let Some(text) = self.after_open.take() {
                    out.push(Request::Send { chat: id.clone(), text, reply_to: None });
                }
                self.select(id, &mut out);
            }
            Event::Created(chat) => {
                let id = chat.id.clone();
                self.chats.retain(|c| c.id != id);
                self.chats.insert(0, Chat { activity: u64::MAX, ..chat });
                self.select(id, &mut out);
            }
            Event::Notice(text) => self.notice = Some(text),
            Event::Reactions { chat, mut list } => {
                list.truncate(MAX_REACTIONS_PER_CHAT);
                self.reactions.insert(chat, list);
            }
            Event::Contacts(mut list) => {
                list.truncate(MAX_REACTIONS_PER_CHAT);
                self.contacts = list.into_iter().collect();
                for chat in &mut self.chats {
                    name_chat(chat, &self.contacts);
                }
            }
            Event::Pins { chat, mut ids } => {
                ids.truncate(MAX_REACTIONS_PER_CHAT);
                self.pins.insert(chat, ids.into_iter().collect());
            }
        }
        out
    }

    /// The name shown for the author `from` whose alias is `alias`: their contact name if
    /// they are a contact.
    pub(crate) fn name_of<'a>(&'a self, from: &str, alias: &'a str) -> &'a str {
        self.contacts.get(from).map_or(alias, String::as_str)
    }

    /// The person whose contact name, or 1:1 chat name (alias), starts `typed` (any ASCII
    /// case; the longest name wins, and it must end at a space or the end): their chat key and
    /// the text after the name.
    fn person_named<'a>(&self, typed: &'a str) -> Option<(String, &'a str)> {
        let contacts = self.contacts.iter().map(|(key, name)| (key.as_str(), name.as_str()));
        let chats = self
            .chats
            .iter()
            .filter(|c| c.kind == ChatKind::OneToOne)
            .map(|c| (c.id.as_str(), c.name.as_str()));
        contacts
            .chain(chats)
            .filter(|(_, name)| !name.is_empty())
            .filter_map(|(key, name)| {
                let head = typed.get(..name.len())?;
                let tail = typed.get(name.len()..)?;
                let ends = tail.is_empty() || tail.starts_with(char::is_whitespace);
                (ends && head.eq_ignore_ascii_case(name)).then_some((key, name.len(), tail))
            })
            .max_by_key(|(_, len, _)| *len)
            .map(|(key, _, tail)| (key.to_owned(), tail.trim()))
    }

    /// The key a contact command acts on: the one typed, else the open 1:1 chat's.
    fn person(&mut self, typed: Option<&str>, usage: &str) -> Option<String> {
        match typed {
            Some(key) => Some(key.to_owned()),
            None => match self.open_chat() {
                Some(c) if c.kind == ChatKind::OneToOne => Some(c.id.clone()),
                _ => {
                    self.notice = Some(usage.to_owned());
                    None
                }
            },
        }
    }

    /// Whether `chat` is a group that invited us and we have not joined.
    pub(crate) fn invited(&self, chat: &Chat) -> bool {
        chat.kind == ChatKind::Group
            && self.me.as_ref().is_some_and(|(key, _)| chat.not_joined.iter().any(|k| k == key))
    }

    /// The open chat if it is a group, else a notice saying so.
    fn open_group(&mut self) -> Option<String> {
        match self.open_chat() {
            Some(c) if c.kind == ChatKind::Group => Some(c.id.clone()),
            _ => {
                self.notice = Some("the open chat is not a group chat".into());
                None
            }
        }
    }

    fn set_chats(&mut self, mut chats: Vec<Chat>, out: &mut Vec<Request>) {
        let me = self.me.as_ref().map(|(key, _)| key.clone());
        for chat in &mut chats {
            name_chat(chat, &self.contacts);
            if self.accepted.contains(&chat.id) {
                let before = chat.not_joined.len();
                chat.not_joined.retain(|k| Some(k) != me.as_ref());
                if chat.not_joined.len() == before {
                    // The node's list shows us joined: it no longer needs our help.
                    self.accepted.remove(&chat.id);
                }
            }
        }
        sort_chats(&mut chats);
        // The bell: more unread in a 1:1 chat not open, or a last message that mentions us.
        for chat in &mut chats {
            let before = self.chats.iter().find(|c| c.id == chat.id);
            let grew = chat.unread > before.map_or(0, |c| c.unread);
            let open = self.open.as_deref() == Some(chat.id.as_str());
            if open && chat.unread > 0 {
                // Read as it arrives: the node is told.
                chat.unread = 0;
                out.push(Request::MarkRead(chat.id.clone()));
            }
            if grew && !open {
                let mentioned = self.me.as_ref().is_some_and(|(_, alias)| {
                    chat.last.as_deref().is_some_and(|l| l.contains(alias.as_str()))
                });
                if chat.kind == ChatKind::OneToOne || mentioned {
                    self.bell = true;
                }
            }
        }
        self.chats = chats;
        self.logs.retain(|id, _| self.chats.iter().any(|c| &c.id == id));
        self.reactions.retain(|id, _| self.chats.iter().any(|c| &c.id == id));
        self.pins.retain(|id, _| self.chats.iter().any(|c| &c.id == id));
        let still_open =
            self.open.as_ref().is_some_and(|id| self.chats.iter().any(|c| &c.id == id));
        if !still_open {
            self.open = None;
            if let Some(first) = self.chats.first() {
                let id = first.id.clone();
                self.select(id, out);
            }
        }
    }

    /// Opens chat `id`: asks for its newest page and marks it read.
    fn select(&mut self, id: String, out: &mut Vec<Request>) {
        if self.open.as_deref() == Some(&id) {
            return;
        }
        self.scroll = 0;
        self.search = None;
        self.replying = None;
        self.loading_older = false;
        out.push(Request::Load(id.clone()));
        if self.chats.iter().any(|c| c.id == id && c.unread > 0) {
            out.push(Request::MarkRead(id.clone()));
        }
        if let Some(chat) = self.chats.iter_mut().find(|c| c.id == id) {
            chat.unread = 0;
        }
        self.open = Some(id);
    }

    /// Merges a page into a chat's log (by id: a newer copy replaces an older one).
    fn merge(&mut self, chat: &str, page: Vec<Message>, cursor: String, older: bool) {
        let log = self.logs.entry(chat.to_owned()).or_default();
        let first_page = log.messages.is_empty();
        let mut index: HashMap<String, usize> =
            log.messages.iter().enumerate().map(|(i, m)| (m.id.clone(), i)).collect();
        for message in page {
            match index.get(&message.id) {
                Some(&i) => {
                    if let Some(slot) = log.messages.get_mut(i) {
                        *slot = message;
                    }
                }
                None => {
                    index.insert(message.id.clone(), log.messages.len());
                    log.messages.push(message);
                }
            }
        }
        log.messages.sort_by(|a, b| a.clock.cmp(&b.clock).then_with(|| a.id.cmp(&b.id)));
        if older || first_page {
            log.complete = cursor.is_empty();
            log.cursor = cursor;
        }
        if older {
            self.loading_older = false;
        }
        if log.messages.len() > MAX_MESSAGES_PER_CHAT {
            let drop = log.messages.len() - MAX_MESSAGES_PER_CHAT;
            log.messages.drain(..drop);
            log.complete = false;
            // The page before the oldest kept: its clock and id, as the node's cursor reads.
            if let Some(m) = log.messages.first() {
                log.cursor = format!("{:064}{}", m.clock, m.id);
            }
        }
    }

    fn act(&mut self, action: Action, out: &mut Vec<Request>) {
        if self.help && matches!(action, Action::Cancel | Action::Send) {
            self.help = false;
            return;
        }
        match action {
            Action::Quit => {
                self.quit = true;
                out.push(Request::Quit);
            }
            Action::Send => self.submit(out),
            Action::Newline => self.insert('\n'),
            Action::NextChat => self.cycle(1, out),
            Action::PrevChat => self.cycle(-1, out),
            Action::ScrollUp => self.scroll_by(1, out),
            Action::ScrollDown => self.scroll = self.scroll.saturating_sub(1),
            Action::PageUp => {
                let page = usize::from(self.size.1.saturating_sub(4)).max(1);
                self.scroll_by(page, out);
            }
            Action::PageDown => {
                let page = usize::from(self.size.1.saturating_sub(4)).max(1);
                self.scroll = self.scroll.saturating_sub(page);
            }
            Action::Left => self.cursor = self.cursor.saturating_sub(1),
            Action::Right => self.cursor = (self.cursor + 1).min(self.input.chars().count()),
            Action::Home => self.cursor = 0,
            Action::End => self.cursor = self.input.chars().count(),
            Action::Backspace => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    self.remove_at(self.cursor);
                }
            }
            Action::Delete => self.remove_at(self.cursor),
            Action::Complete => self.complete(),
            Action::Help => self.help = !self.help,
            Action::Cancel => {
                if self.vi && self.mode == Mode::Insert {
                    self.mode = Mode::Normal;
                } else if self.replying.is_some() {
                    self.replying = None;
                } else if self.search.is_some() {
                    self.search = None;
                } else {
                    self.notice = None;
                    self.key_shown = false;
                }
            }
        }
    }

    /// A typed character: text in insert mode, a command in vi normal mode.
    fn typed(&mut self, c: char, out: &mut Vec<Request>) {
        if self.mode == Mode::Insert {
            self.insert(c);
            return;
        }
        match c {
            'i' | 'a' => self.mode = Mode::Insert,
            ':' | '/' => {
                self.mode = Mode::Insert;
                if c == '/' {
                    self.insert('/');
                }
            }
            'j' => self.scroll = self.scroll.saturating_sub(1),
            'k' => self.scroll_by(1, out),
            'J' => self.cycle(1, out),
            'K' => self.cycle(-1, out),
            'G' => self.scroll = 0,
            'q' => {
                self.quit = true;
                out.push(Request::Quit);
            }
            _ => {}
        }
    }

    fn insert(&mut self, c: char) {
        if self.input.chars().count() >= MAX_INPUT {
            return;
        }
        let at = byte_at(&self.input, self.cursor);
        self.input.insert(at, c);
        self.cursor += 1;
    }

    fn remove_at(&mut self, chars: usize) {
        let at = byte_at(&self.input, chars);
        if at < self.input.len() {
            self.input.remove(at);
        }
    }

    fn cycle(&mut self, step: isize, out: &mut Vec<Request>) {
        if self.chats.is_empty() {
            return;
        }
        let len = self.chats.len() as isize;
        let now = self
            .open
            .as_ref()
            .and_then(|id| self.chats.iter().position(|c| &c.id == id))
            .map_or(-1, |i| i as isize);
        let next = (now + step).rem_euclid(len) as usize;
        if let Some(chat) = self.chats.get(next) {
            let id = chat.id.clone();
            self.select(id, out);
        }
    }

    /// Scrolls back `lines`; at the top of what is loaded, asks for the older page, and once
    /// the database has none, for a day more from the mailserver.
    fn scroll_by(&mut self, lines: usize, out: &mut Vec<Request>) {
        self.scroll = self.scroll.saturating_add(lines);
        let Some(id) = self.open.clone() else { return };
        let Some(log) = self.logs.get(&id) else { return };
        // A message takes at least one line: past their count, the start is on screen.
        let height = usize::from(self.size.1.saturating_sub(4));
        let max = log.messages.len().saturating_sub(1);
        let at_top = self.scroll + height >= log.messages.len();
        if at_top && !log.complete && !self.loading_older {
            self.loading_older = true;
            out.push(Request::LoadOlder { chat: id.clone(), cursor: log.cursor.clone() });
        }
        if log.complete {
            self.scroll = self.scroll.min(max);
            if at_top && self.search.is_none() && self.syncing.insert(id.clone()) {
                out.push(Request::SyncOlder(id));
            }
        }
    }

    /// The mailserver answered a [`Request::SyncOlder`]: the database may hold older
    /// messages now, so the page before the oldest in memory is loaded again.
    fn synced(&mut self, chat: String, result: Result<u64, String>, out: &mut Vec<Request>) {
        self.syncing.remove(&chat);
        if let Err(e) = result {
            self.notice = Some(format!("older messages: {e}"));
            return;
        }
        let Some(log) = self.logs.get_mut(&chat) else { return };
        match log.messages.first() {
            Some(m) => {
                log.complete = false;
                log.cursor = format!("{:064}{}", m.clock, m.id);
                if self.open.as_deref() == Some(chat.as_str()) {
                    self.loading_older = true;
                }
                out.push(Request::LoadOlder { chat, cursor: log.cursor.clone() });
            }
            None if self.open.as_deref() == Some(chat.as_str()) => out.push(Request::Load(chat)),
            None => {}
        }
    }

    /// Tab: completes a command name, or a chat name after `/join #`.
    fn complete(&mut self) {
        if !self.input.starts_with('/') || self.input.contains(' ') {
            if let Some(rest) = self.input.strip_prefix("/join #") {
                let names: Vec<&str> = self
                    .chats
                    .iter()
                    .filter(|c| c.kind == ChatKind::Public && c.id.starts_with(rest))
                    .map(|c| c.id.as_str())
                    .collect();
                if let [only] = names.as_slice() {
                    self.input = format!("/join #{only}");
                    self.cursor = self.input.chars().count();
                }
            }
            return;
        }
        let matches: Vec<&str> =
            COMMANDS.iter().map(|(c, _)| *c).filter(|c| c.starts_with(&self.input)).collect();
        match matches.as_slice() {
            [] => self.notice = Some(format!("no command starts with {}", self.input)),
            [only] => {
                self.input = format!("{only} ");
                self.cursor = self.input.chars().count();
            }
            many => {
                let common = common_prefix(many);
                if common.len() > self.input.len() {
                    self.input = common;
                    self.cursor = self.input.chars().count();
                } else {
                    self.notice = Some(many.join("  "));
                }
            }
        }
    }

    /// Enter: runs a command or sends the text to the open chat.
    fn submit(&mut self, out: &mut Vec<Request>) {
        let line = std::mem::take(&mut self.input);
        self.cursor = 0;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('/') && !trimmed.starts_with("//") {
            self.command(trimmed, out);
            return;
        }
        // `//text` sends `/text`.
        let text = trimmed.strip_prefix('/').filter(|t| t.starts_with('/')).unwrap_or(trimmed);
        let Some(chat) = self.open.clone() else {
            self.notice = Some("no chat is open: /join #name or /msg KEY first".into());
            self.input = line;
            self.cursor = self.input.chars().count();
            return;
        };
        if self.open_chat().is_some_and(|c| self.invited(c)) {
            self.notice = Some("you are invited to this group: /accept to join it first".into());
            self.input = line;
            self.cursor = self.input.chars().count();
            return;
        }
        self.scroll = 0;
        out.push(Request::Send { chat, text: text.to_owned(), reply_to: self.replying.take() });
    }

    fn command(&mut self, line: &str, out: &mut Vec<Request>) {
        let (name, rest) = match line.split_once(char::is_whitespace) {
            Some((n, r)) => (n, r.trim()),
            None => (line, ""),
        };
        self.notice = None;
        self.key_shown = false;
        match name {
            "/join" | "/j" => {
                let chat = rest.trim_start_matches('#');
                if chat.is_empty() || chat.contains(char::is_whitespace) {
                    self.notice = Some("usage: /join #name (one word, e.g. /join #status)".into());
                    return;
                }
                out.push(Request::Join(chat.to_owned()));
                self.pending_open(chat.to_owned(), out);
            }
            "/msg" | "/query" => {
                let (key, text) = match self.person_named(rest) {
                    Some((key, text)) => (key, text),
                    None => match rest.split_once(char::is_whitespace) {
                        Some((k, t)) => (k.to_owned(), t.trim()),
                        None => (rest.to_owned(), ""),
                    },
                };
                if key.is_empty() {
                    self.notice = Some(
                        "usage: /msg KEY|NAME [text] (0x04… or zQ3… chat key, a contact's name \
                         or a 1:1 chat's name)"
                            .into(),
                    );
                    return;
                }
                out.push(Request::OpenOneToOne(key));
                // The text goes once the node has opened the chat.
                self.after_open = (!text.is_empty()).then(|| text.to_owned());
            }
            "/leave" | "/part" => match self.open.clone() {
                Some(id) => {
                    let group = self.open_chat().is_some_and(|c| c.kind == ChatKind::Group);
                    out.push(if group {
                        Request::LeaveGroup(id.clone())
                    } else {
                        Request::Leave(id.clone())
                    });
                    self.chats.retain(|c| c.id != id);
                    self.logs.remove(&id);
                    self.open = None;
                    if let Some(first) = self.chats.first() {
                        let next = first.id.clone();
                        self.select(next, out);
                    }
                }
                None => self.notice = Some("no chat is open".into()),
            },
            "/group" => self.group_command(rest, out),
            "/invite" => {
                let members: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
                if members.is_empty() {
                    self.notice = Some("usage: /invite KEY... (0x04… or zQ3… chat keys)".into());
                    return;
                }
                if let Some(chat) = self.open_group() {
                    self.notice = Some(format!("inviting {} member(s)", members.len()));
                    out.push(Request::Invite { chat, members });
                }
            }
            "/kick" => {
                if rest.is_empty() || rest.contains(char::is_whitespace) {
                    self.notice = Some("usage: /kick KEY (one 0x04… or zQ3… chat key)".into());
                    return;
                }
                if let Some(chat) = self.open_group() {
                    out.push(Request::Kick { chat, member: rest.to_owned() });
                }
            }
            "/accept" => {
                let Some(chat) = self.open_group() else { return };
                if self.open_chat().is_some_and(|c| self.invited(c)) {
                    // Joined as far as this screen goes: what is typed next is sent after the
                    // confirmation (requests run in order); a refusal comes back as a notice
                    // and the next chat list marks the invitation again.
                    let me = self.me.as_ref().map(|(key, _)| key.clone());
                    if let Some(open) = self.chats.iter_mut().find(|c| c.id == chat) {
                        open.not_joined.retain(|k| Some(k) != me.as_ref());
                    }
                    self.accepted.insert(chat.clone());
                    out.push(Request::AcceptGroup(chat));
                } else {
                    self.notice = Some("no invitation to accept: you are in this group".into());
                }
            }
            "/add" => {
                const USAGE: &str =
                    "usage: /add KEY [NAME] (or /add [NAME] in a 1:1 chat; KEY 0x04… or zQ3…)";
                let (first, after) = match rest.split_once(char::is_whitespace) {
                    Some((f, a)) => (f, a.trim()),
                    None => (rest, ""),
                };
                let is_key = first.starts_with("0x") || first.starts_with("zQ3");
                let (key, name) = if is_key { (Some(first), after) } else { (None, rest) };
                let Some(key) = self.person(key, USAGE) else { return };
                let name = (!name.is_empty()).then(|| name.to_owned());
                self.notice = Some(match &name {
                    Some(n) => format!("adding {n} to the contacts"),
                    None => "adding the contact".into(),
                });
                out.push(Request::AddContact { key, name });
            }
            "/block" => {
                const USAGE: &str = "usage: /block KEY (or /block in a 1:1 chat)";
                if rest.contains(char::is_whitespace) {
                    self.notice = Some(USAGE.into());
                    return;
                }
                let typed = (!rest.is_empty()).then_some(rest);
                let Some(key) = self.person(typed, USAGE) else { return };
                out.push(Request::Block(key));
            }
            "/read" => match self.open.clone() {
                Some(id) => {
                    if let Some(c) = self.chats.iter_mut().find(|c| c.id == id) {
                        c.unread = 0;
                    }
                    out.push(Request::MarkRead(id));
                }
                None => self.notice = Some("no chat is open".into()),
            },
            "/reply" => self.reply(rest, out),
            "/react" => self.react(rest, out),
            "/pin" | "/unpin" => {
                let pinned = name == "/pin";
                let n = match rest {
                    "" => None,
                    n => match n.parse::<usize>() {
                        Ok(n) if n > 0 => Some(n),
                        _ => {
                            self.notice = Some(format!("usage: {name} [N] (N = 1 for the newest)"));
                            return;
                        }
                    },
                };
                if let Some((chat, message)) = self.target(n) {
                    out.push(Request::Pin { chat, message, pinned });
                }
            }
            "/resend" => {
                let failed = self
                    .visible_messages()
                    .iter()
                    .rev()
                    .find(|m| m.delivery == Some(Delivery::Failed))
                    .map(|m| m.id.clone());
                match failed {
                    Some(id) => {
                        out.push(Request::Resend(id));
                        self.notice = Some("resending".into());
                    }
                    None => self.notice = Some("no failed message in this chat".into()),
                }
            }
            "/search" => {
                self.scroll = 0;
                if rest.is_empty() {
                    self.search = None;
                } else {
                    self.search = Some(rest.to_owned());
                    let n = self.visible_messages().len();
                    self.notice = Some(format!("{n} messages match {rest:?} (Esc clears)"));
                }
            }
            "/key" | "/me" => match &self.me {
                Some((key, alias)) => {
                    self.key_shown = true;
                    self.clipboard = Some(key.clone());
                    self.notice =
                        Some(format!("{alias}: chat key copied to the clipboard (Esc hides it)"));
                }
                None => self.notice = Some("my key is not known yet".into()),
            },
            "/help" | "/h" | "/?" => self.help = true,
            "/quit" | "/q" | "/exit" => {
                self.quit = true;
                out.push(Request::Quit);
            }
            other => {
                self.notice = Some(format!("unknown command {other}; /help lists the commands"))
            }
        }
    }

    /// The message a command acts on: the Nth newest shown, else the one picked by `/reply`,
    /// else the newest; with its chat. A notice says when there is none.
    fn target(&mut self, n: Option<usize>) -> Option<(String, String)> {
        let id = match (n, &self.replying) {
            (None, Some(id)) => Some(id.clone()),
            (n, _) => self
                .visible_messages()
                .iter()
                .rev()
                .nth(n.unwrap_or(1).saturating_sub(1))
                .map(|m| m.id.clone()),
        };
        match (self.open.clone(), id) {
            (Some(chat), Some(id)) => Some((chat, id)),
            _ => {
                self.notice = Some(format!("no message number {}", n.unwrap_or(1)));
                None
            }
        }
    }

    /// `/react [N] EMOJI`: reacts, or takes our same reaction back.
    fn react(&mut self, rest: &str, out: &mut Vec<Request>) {
        let words: Vec<&str> = rest.split_whitespace().collect();
        let (n, emoji) = match words.as_slice() {
            [emoji] => (None, emoji_type(emoji)),
            [n, emoji] if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                (n.parse().ok(), emoji_type(emoji))
            }
            _ => (None, None),
        };
        let Some(emoji) = emoji else {
            self.notice = Some(
                "usage: /react [N] EMOJI (❤ 👍 👎 😂 😢 😠, or love, like, dislike, laugh, sad, angry)"
                    .into(),
            );
            return;
        };
        let Some((chat, message)) = self.target(n) else { return };
        self.replying = None;
        let me = self.me.as_ref().map(|(key, _)| key.as_str());
        let ours = self.reactions.get(&chat).and_then(|list| {
            list.iter()
                .find(|r| r.message == message && r.emoji == emoji && Some(r.from.as_str()) == me)
        });
        match ours {
            Some(r) => out.push(Request::Unreact { chat: chat.clone(), id: r.id.clone() }),
            None => out.push(Request::React { chat, message, emoji }),
        }
    }

    /// The reactions to message `id` of the open chat: (emoji type, count, whether one is
    /// ours), in emoji order; and whether it is pinned.
    pub(crate) fn reactions_of(&self, id: &str) -> (Vec<(u8, usize, bool)>, bool) {
        let Some(chat) = self.open.as_ref() else { return (Vec::new(), false) };
        let pinned = self.pins.get(chat).is_some_and(|p| p.contains(id));
        let me = self.me.as_ref().map(|(key, _)| key.as_str());
        let mut counts = [(0usize, false); 6];
        for r in self.reactions.get(chat).into_iter().flatten().filter(|r| r.message == id) {
            if let Some(slot) = counts.get_mut(usize::from(r.emoji).wrapping_sub(1)) {
                slot.0 += 1;
                slot.1 |= Some(r.from.as_str()) == me;
            }
        }
        let list = (1u8..)
            .zip(counts)
            .filter(|(_, (n, _))| *n > 0)
            .map(|(e, (n, mine))| (e, n, mine))
            .collect();
        (list, pinned)
    }

    /// `/reply [N] text`: replies to the Nth newest message shown.
    fn reply(&mut self, rest: &str, out: &mut Vec<Request>) {
        let (n, text) = match rest.split_once(char::is_whitespace) {
            Some((n, t)) if n.parse::<usize>().is_ok() => (n.parse::<usize>().unwrap_or(1), t),
            // `/reply 2`: pick message 2, the text follows on the next line.
            None if rest.parse::<usize>().is_ok() => (rest.parse::<usize>().unwrap_or(1), ""),
            _ => (1, rest),
        };
        let target =
            self.visible_messages().iter().rev().nth(n.saturating_sub(1)).map(|m| m.id.clone());
        let (Some(id), Some(chat)) = (target, self.open.clone()) else {
            self.notice = Some(format!("no message number {n} to reply to"));
            return;
        };
        if text.trim().is_empty() {
            self.replying = Some(id);
            self.notice = Some("replying: type the text and press Enter (Esc cancels)".into());
            return;
        }
        self.scroll = 0;
        out.push(Request::Send { chat, text: text.trim().to_owned(), reply_to: Some(id) });
    }

    /// `/group new NAME KEY...`.
    fn group_command(&mut self, rest: &str, out: &mut Vec<Request>) {
        const USAGE: &str = "usage: /group new NAME KEY... (NAME in \"quotes\" if it has spaces)";
        let Some(args) = rest.strip_prefix("new").filter(|a| a.is_empty() || a.starts_with(' '))
        else {
            self.notice = Some(USAGE.into());
            return;
        };
        let args = args.trim_start();
        let (name, keys) = match args.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((name, keys)) => (name.trim(), keys),
                None => ("", ""),
            },
            None => match args.split_once(char::is_whitespace) {
                Some((name, keys)) => (name, keys),
                None => (args, ""),
            },
        };
        if name.is_empty() {
            self.notice = Some(USAGE.into());
            return;
        }
        let members: Vec<String> = keys.split_whitespace().map(str::to_owned).collect();
        self.notice = Some(format!("creating group {name:?}"));
        out.push(Request::CreateGroup { name: name.to_owned(), members });
    }

    /// After `/join`, the chat opens once the node lists it.
    fn pending_open(&mut self, chat: String, out: &mut Vec<Request>) {
        if self.chats.iter().any(|c| c.id == chat) {
            self.select(chat, out);
        } else {
            self.chats.insert(
                0,
                Chat {
                    id: chat.clone(),
                    kind: ChatKind::Public,
                    name: format!("#{chat}"),
                    unread: 0,
                    last: None,
                    activity: u64::MAX,
                    not_joined: Vec::new(),
                    last_from: None,
                },
            );
            self.select(chat, out);
        }
    }

    /// A name for a 1:1 chat id before the node lists it.
    fn name_of_key(&self, id: &str) -> String {
        let short: String = id.chars().take(10).collect();
        format!("{short}…")
    }

    /// The message being replied to.
    pub(crate) fn replying_to(&self) -> Option<&Message> {
        let id = self.replying.as_ref()?;
        self.logs.get(self.open.as_ref()?)?.messages.iter().find(|m| &m.id == id)
    }

    /// Total unread messages outside the open chat.
    pub(crate) fn unread_elsewhere(&self) -> u64 {
        self.chats.iter().filter(|c| Some(&c.id) != self.open.as_ref()).map(|c| c.unread).sum()
    }
}

/// Puts contact names on a chat: a 1:1 chat's name, the author of its last message.
fn name_chat(chat: &mut Chat, contacts: &HashMap<String, String>) {
    if chat.kind == ChatKind::OneToOne
        && let Some(name) = contacts.get(&chat.id)
    {
        chat.name.clone_from(name);
    }
    if let (Some(from), Some(last)) = (&chat.last_from, &mut chat.last)
        && let Some(name) = contacts.get(from)
        && let Some((_, text)) = last.split_once(": ")
    {
        *last = format!("{name}: {text}");
    }
}

/// Sorts newest activity first, then by name.
pub(crate) fn sort_chats(chats: &mut [Chat]) {
    chats.sort_by(|a, b| b.activity.cmp(&a.activity).then_with(|| a.name.cmp(&b.name)));
}

/// The byte offset of character `chars` of `s` (its length past the end).
fn byte_at(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i)
}

fn common_prefix(words: &[&str]) -> String {
    let Some(first) = words.first() else { return String::new() };
    let mut end = first.len();
    for w in words {
        end = end.min(first.bytes().zip(w.bytes()).take_while(|(a, b)| a == b).count());
    }
    first.get(..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A chat for tests.
    pub(crate) fn chat(id: &str, kind: ChatKind, unread: u64, activity: u64) -> Chat {
        let name = match kind {
            ChatKind::Public => format!("#{id}"),
            _ => id.to_owned(),
        };
        Chat {
            id: id.into(),
            kind,
            name,
            unread,
            last: Some(format!("x: last of {id}")),
            activity,
            not_joined: Vec::new(),
            last_from: None,
        }
    }

    /// A message for tests.
    pub(crate) fn msg(id: &str, from: &str, alias: &str, text: &str, clock: u64) -> Message {
        Message {
            id: id.into(),
            from: from.into(),
            alias: alias.into(),
            text: text.into(),
            clock,
            timestamp_ms: clock * 60_000,
            delivery: None,
            quote: None,
            kind: MessageKind::Text,
            identicon: None,
            rtl: false,
        }
    }

    fn typed(app: &mut App, text: &str) -> Vec<Request> {
        let mut out = Vec::new();
        for c in text.chars() {
            out.extend(app.handle(Event::Char(c)));
        }
        out
    }

    fn enter(app: &mut App) -> Vec<Request> {
        app.handle(Event::Action(Action::Send))
    }

    #[test]
    fn chats_sort_by_activity_and_the_newest_opens() {
        let mut app = App::new(false);
        let out = app.handle(Event::Chats(vec![
            chat("old", ChatKind::Public, 0, 5),
            chat("new", ChatKind::Public, 2, 9),
            chat("mid", ChatKind::OneToOne, 0, 7),
        ]));
        let order: Vec<&str> = app.chats.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(order, ["new", "mid", "old"]);
        assert_eq!(app.open.as_deref(), Some("new"));
        assert_eq!(out, [Request::Load("new".into()), Request::MarkRead("new".into())]);
        assert_eq!(app.chats[0].unread, 0, "opening a chat reads it");
        let out = app.handle(Event::Action(Action::NextChat));
        assert_eq!(app.open.as_deref(), Some("mid"));
        assert_eq!(out, [Request::Load("mid".into())]);
        app.handle(Event::Action(Action::PrevChat));
        app.handle(Event::Action(Action::PrevChat));
        assert_eq!(app.open.as_deref(), Some("old"), "wraps around");
    }

    #[test]
    fn pages_merge_by_id_and_clock() {
        let mut app = App::new(false);
        app.handle(Event::Chats(vec![chat("a", ChatKind::Public, 0, 1)]));
        let page = vec![msg("0x3", "k", "A", "three", 3), msg("0x2", "k", "A", "two", 2)];
        app.handle(Event::Messages { chat: "a".into(), page, cursor: "c2".into(), older: false });
        let mut sent = msg("0x3", "k", "A", "three", 3);
        sent.delivery = Some(Delivery::Delivered);
        app.handle(Event::Messages {
            chat: "a".into(),
            page: vec![sent],
            cursor: String::new(),
            older: false,
        });
        let older = vec![msg("0x1", "k", "A", "one", 1)];
        app.handle(Event::Messages {
            chat: "a".into(),
            page: older,
            cursor: String::new(),
            older: true,
        });
        let texts: Vec<&str> = app.visible_messages().iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["one", "two", "three"]);
        assert_eq!(app.visible_messages()[2].delivery, Some(Delivery::Delivered));
        assert!(app.logs["a"].complete);
    }

    #[test]
    fn enter_sends_and_commands_become_requests() {
        let mut app = App::new(false);
        assert!(typed(&mut app, "hello").is_empty());
        assert!(enter(&mut app).is_empty(), "no chat open");
        assert!(app.notice.as_deref().unwrap().contains("/join"));
        assert_eq!(app.input, "hello", "the text is kept");
        app.input.clear();
        app.cursor = 0;
        typed(&mut app, "/join #status");
        let out = enter(&mut app);
        assert_eq!(out[0], Request::Join("status".into()));
        assert_eq!(app.open.as_deref(), Some("status"));
        typed(&mut app, "hi ");
        app.handle(Event::Action(Action::Newline));
        typed(&mut app, "there");
        let out = enter(&mut app);
        assert_eq!(
            out,
            [Request::Send { chat: "status".into(), text: "hi \nthere".into(), reply_to: None }]
        );
        assert!(app.input.is_empty());
        typed(&mut app, "//slash");
        assert_eq!(
            enter(&mut app),
            [Request::Send { chat: "status".into(), text: "/slash".into(), reply_to: None }]
        );
        typed(&mut app, "/msg zQ3abc hello you");
        assert_eq!(enter(&mut app), [Request::OpenOneToOne("zQ3abc".into())]);
        let out = app.handle(Event::Opened("0x04ab".into()));
        assert_eq!(app.open.as_deref(), Some("0x04ab"));
        assert!(out.contains(&Request::Send {
            chat: "0x04ab".into(),
            text: "hello you".into(),
            reply_to: None
        }));
        let mut late = msg("0x9", "me", "Me", "sent in status", 9);
        late.delivery = Some(Delivery::Sent);
        app.handle(Event::Sent(Ok(("status".into(), late))));
        assert!(app.visible_messages().is_empty(), "a late answer lands in its own chat");
        assert_eq!(app.logs["status"].messages.len(), 1);
        app.handle(Event::Action(Action::PrevChat));
        typed(&mut app, "/bogus");
        enter(&mut app);
        assert!(app.notice.as_deref().unwrap().contains("unknown command /bogus"));
        typed(&mut app, "/help");
        enter(&mut app);
        assert!(app.help);
        app.handle(Event::Action(Action::Cancel));
        assert!(!app.help);
        typed(&mut app, "/leave");
        assert_eq!(
            enter(&mut app),
            [Request::Leave("status".into()), Request::Load("0x04ab".into())],
            "leaving opens the next chat"
        );
        assert_eq!(app.open.as_deref(), Some("0x04ab"));
        typed(&mut app, "/quit");
        assert_eq!(enter(&mut app), [Request::Quit]);
        assert!(app.quit);
    }

    #[test]
    fn reply_resend_read_and_search() {
        let mut app = App::new(false);
        app.handle(Event::Chats(vec![chat("a", ChatKind::Public, 0, 1)]));
        let mut failed = msg("0x2", "me", "Me", "lost", 2);
        failed.delivery = Some(Delivery::Failed);
        let page = vec![failed, msg("0x1", "k", "Bob", "Apples", 1)];
        app.handle(Event::Messages { chat: "a".into(), page, cursor: String::new(), older: false });
        typed(&mut app, "/reply 2 yes");
        assert_eq!(
            enter(&mut app),
            [Request::Send { chat: "a".into(), text: "yes".into(), reply_to: Some("0x1".into()) }]
        );
        typed(&mut app, "/reply");
        enter(&mut app);
        assert_eq!(app.replying_to().unwrap().id, "0x2");
        typed(&mut app, "ok");
        assert_eq!(
            enter(&mut app),
            [Request::Send { chat: "a".into(), text: "ok".into(), reply_to: Some("0x2".into()) }]
        );
        typed(&mut app, "/resend");
        assert_eq!(enter(&mut app), [Request::Resend("0x2".into())]);
        typed(&mut app, "/read");
        assert_eq!(enter(&mut app), [Request::MarkRead("a".into())]);
        typed(&mut app, "/search apple");
        enter(&mut app);
        let found: Vec<&str> = app.visible_messages().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(found, ["0x1"]);
        app.handle(Event::Action(Action::Cancel));
        assert_eq!(app.visible_messages().len(), 2);
    }

    #[test]
    fn tab_completes_commands_and_cursor_edits_wide_text() {
        let mut app = App::new(false);
        typed(&mut app, "/jo");
        app.handle(Event::Action(Action::Complete));
        assert_eq!(app.input, "/join ");
        app.input = "/re".into();
        app.cursor = 3;
        app.handle(Event::Action(Action::Complete));
        assert_eq!(app.input, "/re", "ambiguous: /read /reply /resend");
        assert!(app.notice.as_deref().unwrap().contains("/resend"));
        app.input = "/res".into();
        app.handle(Event::Action(Action::Complete));
        assert_eq!(app.input, "/resend ");
        app.input.clear();
        app.cursor = 0;
        typed(&mut app, "日本😀");
        app.handle(Event::Action(Action::Left));
        app.handle(Event::Action(Action::Backspace));
        assert_eq!(app.input, "日😀");
        app.handle(Event::Action(Action::Home));
        app.handle(Event::Action(Action::Delete));
        assert_eq!(app.input, "😀");
    }

    #[test]
    fn scrolling_past_the_database_asks_the_mailserver_then_reloads() {
        let mut app = App::new(false);
        app.handle(Event::Resize(80, 10));
        app.handle(Event::Chats(vec![chat("a", ChatKind::Public, 0, 1)]));
        let page: Vec<Message> =
            (5..=8).rev().map(|i| msg(&format!("0x{i}"), "k", "A", "m", i)).collect();
        // The database has nothing older (empty cursor).
        app.handle(Event::Messages { chat: "a".into(), page, cursor: String::new(), older: false });
        assert!(!app.fetching_older());
        let out = app.handle(Event::Action(Action::PageUp));
        assert_eq!(out, [Request::SyncOlder("a".into())]);
        assert!(app.fetching_older());
        assert!(app.handle(Event::Action(Action::PageUp)).is_empty(), "one request per chat");
        assert!(app.handle(Event::Action(Action::ScrollUp)).is_empty());
        // Typing and switching keep working meanwhile.
        typed(&mut app, "hi");
        assert_eq!(app.input, "hi");
        // The mailserver answered: the page before the oldest in memory is loaded again.
        let out = app.handle(Event::Synced { chat: "a".into(), result: Ok(2) });
        let cursor = format!("{:064}0x5", 5);
        assert_eq!(out, [Request::LoadOlder { chat: "a".into(), cursor }]);
        assert!(!app.fetching_older());
        let older = vec![msg("0x2", "k", "A", "old", 2), msg("0x1", "k", "A", "older", 1)];
        app.handle(Event::Messages {
            chat: "a".into(),
            page: older,
            cursor: String::new(),
            older: true,
        });
        let texts: Vec<&str> = app.visible_messages().iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["older", "old", "m", "m", "m", "m"]);
        // At the top again: another day back; a failure is shown and allows a retry.
        let out = app.handle(Event::Action(Action::PageUp));
        assert_eq!(out, [Request::SyncOlder("a".into())]);
        let out =
            app.handle(Event::Synced { chat: "a".into(), result: Err("no mailserver".into()) });
        assert!(out.is_empty());
        assert!(app.notice.as_deref().is_some_and(|n| n.contains("no mailserver")));
        assert_eq!(app.handle(Event::Action(Action::PageUp)), [Request::SyncOlder("a".into())]);
    }

    #[test]
    fn scrolling_back_asks_for_older_pages_once() {
        let mut app = App::new(false);
        app.handle(Event::Resize(80, 10));
        app.handle(Event::Chats(vec![chat("a", ChatKind::Public, 0, 1)]));
        let page: Vec<Message> =
            (1..=8).rev().map(|i| msg(&format!("0x{i}"), "k", "A", "m", i)).collect();
        app.handle(Event::Messages { chat: "a".into(), page, cursor: "more".into(), older: false });
        let out = app.handle(Event::Action(Action::PageUp));
        assert_eq!(out, [Request::LoadOlder { chat: "a".into(), cursor: "more".into() }]);
        assert!(app.handle(Event::Action(Action::PageUp)).is_empty(), "one request at a time");
        app.handle(Event::Action(Action::PageDown));
        app.handle(Event::Action(Action::PageDown));
        assert_eq!(app.scroll, 0);
    }

    #[test]
    fn bell_for_one_to_one_messages_in_other_chats() {
        let mut app = App::new(false);
        app.handle(Event::Chats(vec![
            chat("a", ChatKind::Public, 0, 9),
            chat("bob", ChatKind::OneToOne, 0, 1),
        ]));
        assert!(!app.bell);
        app.handle(Event::Chats(vec![
            chat("a", ChatKind::Public, 3, 9),
            chat("bob", ChatKind::OneToOne, 0, 1),
        ]));
        assert!(!app.bell, "the open chat does not ring");
        app.handle(Event::Chats(vec![
            chat("a", ChatKind::Public, 0, 9),
            chat("bob", ChatKind::OneToOne, 1, 10),
        ]));
        assert!(app.bell);
        assert_eq!(app.open.as_deref(), Some("a"), "a new message does not switch chats");
    }

    #[test]
    fn groups_are_created_managed_accepted_and_left() {
        let mut app = App::new(false);
        app.handle(Event::Me { key: "0x04me".into(), alias: "Quiet Brave Owl".into() });
        app.handle(Event::Chats(vec![chat("status", ChatKind::Public, 0, 9)]));
        typed(&mut app, "/group new team 0x04bob zQ3carol");
        assert_eq!(
            enter(&mut app),
            [Request::CreateGroup {
                name: "team".into(),
                members: vec!["0x04bob".into(), "zQ3carol".into()]
            }]
        );
        typed(&mut app, "/group new \"night shift\" 0x04bob");
        assert_eq!(
            enter(&mut app),
            [Request::CreateGroup { name: "night shift".into(), members: vec!["0x04bob".into()] }]
        );
        for bad in ["/group", "/group old x", "/group new", "/group new \"open"] {
            typed(&mut app, bad);
            assert!(enter(&mut app).is_empty(), "{bad}");
            assert!(app.notice.as_deref().unwrap().starts_with("usage: /group new"), "{bad}");
        }
        typed(&mut app, "/invite 0x04dave");
        assert!(enter(&mut app).is_empty(), "not a group");
        assert!(app.notice.as_deref().unwrap().contains("not a group"));

        // The node answers with the new group: it is listed and opened.
        let mut team = chat("0xg1", ChatKind::Group, 0, 1);
        team.name = "team".into();
        let out = app.handle(Event::Created(team.clone()));
        assert_eq!(out, [Request::Load("0xg1".into())]);
        assert_eq!(app.open.as_deref(), Some("0xg1"));
        assert_eq!(app.chats[0].name, "team");
        typed(&mut app, "hello team");
        assert_eq!(
            enter(&mut app),
            [Request::Send { chat: "0xg1".into(), text: "hello team".into(), reply_to: None }]
        );
        typed(&mut app, "/invite 0x04dave zQ3erin");
        assert_eq!(
            enter(&mut app),
            [Request::Invite {
                chat: "0xg1".into(),
                members: vec!["0x04dave".into(), "zQ3erin".into()]
            }]
        );
        typed(&mut app, "/kick 0x04bob");
        assert_eq!(
            enter(&mut app),
            [Request::Kick { chat: "0xg1".into(), member: "0x04bob".into() }]
        );
        typed(&mut app, "/kick");
        assert!(enter(&mut app).is_empty());
        typed(&mut app, "/accept");
        assert!(enter(&mut app).is_empty(), "we are in the group already");
        assert!(app.notice.as_deref().unwrap().contains("no invitation"));

        // An invitation: we are listed as a member who has not joined.
        let mut invite = chat("0xg2", ChatKind::Group, 1, 20);
        invite.not_joined = vec!["0x04me".into()];
        app.handle(Event::Chats(vec![team, invite, chat("status", ChatKind::Public, 0, 9)]));
        assert!(app.invited(&app.chats[0]) && !app.invited(&app.chats[1]));
        app.handle(Event::Action(Action::NextChat));
        assert_eq!(app.open.as_deref(), Some("0xg2"));
        typed(&mut app, "hi");
        assert!(enter(&mut app).is_empty(), "nothing is sent before accepting");
        assert!(app.notice.as_deref().unwrap().contains("/accept"));
        assert_eq!(app.input, "hi", "the text is kept");
        app.input.clear();
        app.cursor = 0;
        typed(&mut app, "/accept");
        assert_eq!(enter(&mut app), [Request::AcceptGroup("0xg2".into())]);
        assert!(!app.invited(&app.chats[0]), "accepted: no longer shown as an invitation");
        typed(&mut app, "hi");
        assert_eq!(
            enter(&mut app),
            [Request::Send { chat: "0xg2".into(), text: "hi".into(), reply_to: None }],
            "what is typed right after /accept is sent (after the confirmation)"
        );
        // A chat list fetched before the confirmation still shows the invitation: stale.
        let mut stale = chat("0xg2", ChatKind::Group, 1, 21);
        stale.not_joined = vec!["0x04me".into()];
        app.handle(Event::Chats(vec![stale.clone()]));
        assert!(!app.invited(&app.chats[0]), "a stale list does not bring the invitation back");
        // Once a list shows us joined, the node's word holds again.
        stale.not_joined.clear();
        app.handle(Event::Chats(vec![stale.clone()]));
        stale.not_joined = vec!["0x04me".into()];
        app.handle(Event::Chats(vec![stale]));
        assert!(app.invited(&app.chats[0]));
        typed(&mut app, "/leave");
        let out = enter(&mut app);
        assert_eq!(out[0], Request::LeaveGroup("0xg2".into()), "a group is left, not deactivated");
        assert!(app.chats.iter().all(|c| c.id != "0xg2"));
        app.handle(Event::Notice("left".into()));
        assert_eq!(app.notice.as_deref(), Some("left"));
    }

    #[test]
    fn reactions_toggle_and_pins_target_the_nth_newest_message() {
        let mut app = App::new(false);
        app.handle(Event::Me { key: "0x04me".into(), alias: "Quiet Brave Owl".into() });
        app.handle(Event::Chats(vec![chat("a", ChatKind::Public, 0, 1)]));
        typed(&mut app, "/react 👍");
        assert!(enter(&mut app).is_empty(), "no messages");
        assert!(app.notice.as_deref().unwrap().contains("no message number 1"));
        let page =
            vec![msg("0x2", "0x04bob", "Bob", "two", 2), msg("0x1", "0x04bob", "Bob", "one", 1)];
        app.handle(Event::Messages { chat: "a".into(), page, cursor: String::new(), older: false });
        typed(&mut app, "/react 👍");
        assert_eq!(
            enter(&mut app),
            [Request::React { chat: "a".into(), message: "0x2".into(), emoji: 2 }]
        );
        typed(&mut app, "/react 2 ❤️");
        assert_eq!(
            enter(&mut app),
            [Request::React { chat: "a".into(), message: "0x1".into(), emoji: 1 }]
        );
        typed(&mut app, "/react 1 laugh");
        assert_eq!(
            enter(&mut app),
            [Request::React { chat: "a".into(), message: "0x2".into(), emoji: 4 }]
        );
        for bad in ["/react", "/react 1 🦀", "/react 0 👍", "/react 1 2 3"] {
            typed(&mut app, bad);
            assert!(enter(&mut app).is_empty(), "{bad}");
            assert!(app.notice.as_deref().unwrap().starts_with("usage: /react"), "{bad}");
        }
        typed(&mut app, "/react 3 👍");
        assert!(enter(&mut app).is_empty(), "only two messages");
        // The node's reactions: ours on 0x2 is taken back by reacting again.
        let r = |id: &str, message: &str, emoji, from: &str| Reaction {
            id: id.into(),
            message: message.into(),
            emoji,
            from: from.into(),
        };
        app.handle(Event::Reactions {
            chat: "a".into(),
            list: vec![
                r("0xr1", "0x2", 2, "0x04me"),
                r("0xr2", "0x2", 2, "0x04bob"),
                r("0xr3", "0x2", 6, "0x04bob"),
                r("0xr4", "0x1", 9, "0x04bob"),
            ],
        });
        assert_eq!(app.reactions_of("0x2"), (vec![(2, 2, true), (6, 1, false)], false));
        assert_eq!(app.reactions_of("0x1"), (vec![], false), "an unknown type is not drawn");
        typed(&mut app, "/react +1");
        assert_eq!(enter(&mut app), [Request::Unreact { chat: "a".into(), id: "0xr1".into() }]);
        // The message picked by /reply is the default target.
        typed(&mut app, "/reply 2");
        enter(&mut app);
        typed(&mut app, "/react sad");
        assert_eq!(
            enter(&mut app),
            [Request::React { chat: "a".into(), message: "0x1".into(), emoji: 5 }]
        );
        assert!(app.replying.is_none());
        typed(&mut app, "/pin");
        assert_eq!(
            enter(&mut app),
            [Request::Pin { chat: "a".into(), message: "0x2".into(), pinned: true }]
        );
        typed(&mut app, "/unpin 2");
        assert_eq!(
            enter(&mut app),
            [Request::Pin { chat: "a".into(), message: "0x1".into(), pinned: false }]
        );
        typed(&mut app, "/pin x");
        assert!(enter(&mut app).is_empty());
        app.handle(Event::Pins { chat: "a".into(), ids: vec!["0x1".into()] });
        assert!(app.reactions_of("0x1").1 && !app.reactions_of("0x2").1);
        assert_eq!(emoji_type("❤\u{fe0f}"), Some(1));
        assert_eq!(emoji_type("ANGRY"), Some(6));
        assert_eq!(emoji_type("1"), None);
    }

    #[test]
    fn contacts_are_added_blocked_and_named() {
        let mut app = App::new(false);
        app.handle(Event::Chats(vec![
            chat("0x04bob", ChatKind::OneToOne, 0, 9),
            chat("status", ChatKind::Public, 0, 5),
        ]));
        typed(&mut app, "/add Bobby");
        assert_eq!(
            enter(&mut app),
            [Request::AddContact { key: "0x04bob".into(), name: Some("Bobby".into()) }],
            "in a 1:1 chat /add names that person"
        );
        typed(&mut app, "/add zQ3carol Carol Smith");
        assert_eq!(
            enter(&mut app),
            [Request::AddContact { key: "zQ3carol".into(), name: Some("Carol Smith".into()) }]
        );
        typed(&mut app, "/add 0x04dave");
        assert_eq!(enter(&mut app), [Request::AddContact { key: "0x04dave".into(), name: None }]);
        typed(&mut app, "/block");
        assert_eq!(enter(&mut app), [Request::Block("0x04bob".into())]);
        app.handle(Event::Action(Action::NextChat));
        assert_eq!(app.open.as_deref(), Some("status"));
        typed(&mut app, "/add");
        assert!(enter(&mut app).is_empty(), "no key and not a 1:1 chat");
        assert!(app.notice.as_deref().unwrap().starts_with("usage: /add"));
        typed(&mut app, "/block");
        assert!(enter(&mut app).is_empty());
        typed(&mut app, "/block a b");
        assert!(enter(&mut app).is_empty());
        typed(&mut app, "/block zQ3eve");
        assert_eq!(enter(&mut app), [Request::Block("zQ3eve".into())]);

        // Contact names replace aliases: in the list and for authors.
        app.handle(Event::Contacts(vec![("0x04bob".into(), "Bobby".into())]));
        // `/msg` takes a contact's name (any case), then the text.
        typed(&mut app, "/msg bobby are you there?");
        assert_eq!(enter(&mut app), [Request::OpenOneToOne("0x04bob".into())]);
        assert_eq!(app.after_open.as_deref(), Some("are you there?"));
        typed(&mut app, "/msg Bobbyx hi");
        assert_eq!(
            enter(&mut app),
            [Request::OpenOneToOne("Bobbyx".into())],
            "a name must end at a space: otherwise the word goes to the node as a key"
        );
        assert_eq!(app.chats.iter().find(|c| c.id == "0x04bob").unwrap().name, "Bobby");
        app.handle(Event::Chats(vec![
            chat("0x04bob", ChatKind::OneToOne, 0, 9),
            chat("status", ChatKind::Public, 0, 5),
        ]));
        assert_eq!(app.chats[0].name, "Bobby", "kept when the node lists the chats again");
        let mut with_last = chat("status", ChatKind::Public, 0, 5);
        with_last.last = Some("Jolly: see you".into());
        with_last.last_from = Some("0x04bob".into());
        app.handle(Event::Chats(vec![with_last]));
        assert_eq!(app.chats[0].last.as_deref(), Some("Bobby: see you"));
        assert_eq!(app.name_of("0x04bob", "Jolly Bob Hare"), "Bobby");
        assert_eq!(app.name_of("0x04eve", "Eve Alias Here"), "Eve Alias Here");
    }

    #[test]
    fn key_shows_both_keys_and_asks_for_the_clipboard() {
        let mut app = App::new(false);
        typed(&mut app, "/key");
        assert!(enter(&mut app).is_empty());
        assert!(!app.key_shown && app.clipboard.is_none());
        assert!(app.notice.as_deref().unwrap().contains("not known yet"));
        let secret = wisp_crypto::SecretKey::from_bytes(&[7; 32]).unwrap();
        let key = format!("0x{}", hex::encode(secret.public_key().to_uncompressed()));
        app.handle(Event::Me { key: key.clone(), alias: "Quiet Brave Owl".into() });
        let compressed = app.me_compressed.clone().unwrap();
        assert!(compressed.starts_with("zQ3"), "{compressed}");
        typed(&mut app, "/key");
        assert!(enter(&mut app).is_empty());
        assert!(app.key_shown);
        assert_eq!(app.clipboard.take(), Some(key));
        app.handle(Event::Action(Action::Cancel));
        assert!(!app.key_shown, "Esc hides the keys");
        typed(&mut app, "/me");
        enter(&mut app);
        assert!(app.key_shown, "/me is /key");
        typed(&mut app, "/read");
        enter(&mut app);
        assert!(!app.key_shown, "the next command hides them");
    }

    #[test]
    fn vi_normal_mode_moves_without_typing() {
        let mut app = App::new(true);
        app.handle(Event::Chats(vec![
            chat("a", ChatKind::Public, 0, 9),
            chat("b", ChatKind::Public, 0, 1),
        ]));
        app.handle(Event::Action(Action::Cancel));
        assert_eq!(app.mode, Mode::Normal);
        app.handle(Event::Char('J'));
        assert_eq!(app.open.as_deref(), Some("b"));
        assert!(app.input.is_empty());
        app.handle(Event::Char('i'));
        typed(&mut app, "x");
        assert_eq!(app.input, "x");
    }

    #[test]
    fn memory_is_bounded_per_chat() {
        let mut app = App::new(false);
        app.handle(Event::Chats(vec![chat("a", ChatKind::Public, 0, 1)]));
        let page: Vec<Message> = (0..MAX_MESSAGES_PER_CHAT as u64 + 10)
            .map(|i| msg(&format!("0x{i:08}"), "k", "A", "m", i))
            .collect();
        app.handle(Event::Messages { chat: "a".into(), page, cursor: String::new(), older: false });
        let log = &app.logs["a"];
        assert_eq!(log.messages.len(), MAX_MESSAGES_PER_CHAT);
        assert!(!log.complete);
        assert_eq!(log.messages[0].clock, 10);
    }
}
