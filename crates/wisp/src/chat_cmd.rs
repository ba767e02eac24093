//! `wisp chat`: Status public and 1:1 chats through a running node's JSON-RPC, the `wakuext_*`
//! methods with status-go v0.79's names and shapes. The node must run with an account
//! (`wisp node --account ID`); it keeps the chats and messages, this command only asks it.
//!
//! Human output is one line per message (time, alias, text, and the delivery state of ours);
//! with `--json` each line is one JSON object as the node returned it (status-go's `Message`
//! and `Chat` fields), so `log --follow --json` is a stream of objects, one per line.

use std::{collections::HashMap, time::Duration};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use tokio::{
    signal::unix::{SignalKind, signal},
    time::Instant,
};
use wisp_accounts::parse_public_key;

use crate::{
    error::{Error, human_duration},
    print_line,
    rpc_client::{DEFAULT_RPC_URL, RpcClient, RpcError, RpcUrl},
};

/// How long one RPC call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How often `log --follow` and `send --wait` ask the node.
const POLL: Duration = Duration::from_millis(200);
/// Messages asked for per poll of `log --follow` (new ones beyond are fetched page by page).
const FOLLOW_PAGE: u32 = 50;
/// Most pages one poll of `log --follow` walks back to find where it left off.
const FOLLOW_MAX_PAGES: usize = 20;
/// status-go's `contentType` of plain text (`ChatMessage.ContentType.TEXT_PLAIN`).
const TEXT_PLAIN: u64 = 1;
/// status-go's `contentType` of a sticker, an image and an audio clip.
const STICKER: u64 = 2;
const IMAGE: u64 = 7;
const AUDIO: u64 = 8;
/// status-go's `chatType` values.
const CHAT_ONE_TO_ONE: u64 = 1;
const CHAT_PUBLIC: u64 = 2;
const CHAT_PRIVATE_GROUP: u64 = 3;

/// Shown after `wisp chat --help`.
const CHAT_EXAMPLES: &str = "\
The node does the chatting: start it with an account first (one per data directory):
    wisp account new --password-file ~/.wisp-pw
    wisp node --account <zQ3 key or alias printed above> --password-file ~/.wisp-pw
Every `wisp chat` command then talks to that node's JSON-RPC (--rpc, default
http://127.0.0.1:8545) with the wakuext_* methods the Status app uses.

Examples:
  Join the public chat #status and say hello in it:
    wisp chat join status
    wisp chat send --public status 'hello #status'
  Write to someone (their chat key, 0x04… or zQ3sh…); wait until they acknowledge it:
    wisp chat send --to zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB 'hi' --wait delivered
  The chats, and the last 20 messages of one; then follow it live:
    wisp chat list
    wisp chat log status
    wisp chat log zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB --follow
  For scripts: one JSON object per line (status-go's Message and Chat fields):
    wisp chat log status --follow --json | jq -r .text
  Leave a public chat:
    wisp chat leave status

Delivery states of your messages: sending (stored, not yet out), sent (the envelope left the
node), delivered (1:1: the recipient's device acknowledged it), expired (it gave up resending).
Public messages have no acknowledgement: they stay at sent.";

/// `wisp chat [COMMAND]`: with no command, the full-screen client (feature `tui`).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = CHAT_EXAMPLES)]
pub(crate) struct ChatArgs {
    /// The command; none starts the full-screen client.
    #[command(subcommand)]
    pub(crate) command: Option<ChatCommand>,

    /// The full-screen client's settings.
    #[cfg(feature = "tui")]
    #[command(flatten)]
    pub(crate) tui: crate::tui::TuiArgs,
}

/// Runs `wisp chat`: a command, or with none the full-screen client.
pub(crate) fn dispatch(args: ChatArgs, data_dir: &crate::data_dir::DataDir) -> Result<(), Error> {
    match args.command {
        Some(command) => run(command),
        #[cfg(feature = "tui")]
        None => crate::tui::main(args.tui, data_dir),
        #[cfg(not(feature = "tui"))]
        None => {
            let _ = data_dir;
            Err(Error::Setting {
                name: "wisp chat",
                message: "this wisp was built without the full-screen client (feature tui); \
                          use a subcommand, see `wisp chat --help`"
                    .into(),
            })
        }
    }
}

/// `wisp chat ...`
#[derive(Debug, Subcommand)]
#[command(after_help = CHAT_EXAMPLES)]
pub(crate) enum ChatCommand {
    /// Send text, an image, an audio clip or a sticker to a public chat (--public NAME), a person
    /// (--to KEY) or a group (--group CHAT)
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendArgs),
    /// List the active chats: type, name or key, unread count, last message
    List(ListArgs),
    /// Print a chat's messages, oldest first; --follow keeps printing new ones
    #[command(after_help = LOG_EXAMPLES)]
    Log(LogArgs),
    /// Join a public chat by name (its messages are then received and kept)
    Join(JoinArgs),
    /// Leave a public chat (stop receiving it; its messages stay on the node)
    Leave(JoinArgs),
    /// Contacts: add, remove, block, unblock, list
    #[command(subcommand)]
    Contact(crate::chat_contact_cmd::ContactCommand),
    /// This account's devices (installations): list, pair, enable, disable, sync
    #[command(subcommand)]
    Devices(crate::chat_contact_cmd::DevicesCommand),
    /// React to a message with an emoji (love, thumbs-up, thumbs-down, laugh, sad, angry)
    React(crate::chat_react_cmd::ReactArgs),
    /// Pin a message in its chat (--unpin to unpin)
    Pin(crate::chat_react_cmd::PinArgs),
    /// Private group chats: new, add, remove, admin, rename, accept, decline, leave, invitations
    #[command(subcommand)]
    Group(crate::chat_group_cmd::GroupCommand),
}

/// Shown after `wisp chat send --help`.
const SEND_EXAMPLES: &str = "\
Examples:
    wisp chat send --public status 'hello everyone'
    wisp chat send --to 0x04<128 hex digits> 'hi' --wait delivered --timeout 60
    wisp chat send --to zQ3sh... --image cat.jpg 'my cat'
    wisp chat send --group <uuid>-0x04... --audio note.aac --duration-ms 2400
    wisp chat send --public status --sticker e30101701220ab12:1
Images are JPEG, PNG, GIF or WebP, audio AAC (ADTS) or AMR, each at most 512 KiB; the node
reads the file, so it must be on the node's machine. TEXT is a caption then (optional).
Prints the message id and its delivery state; with --wait, each state as it is reached, and
exits 1 if the state is not reached in time. A public chat is joined if it was not.";

/// Shown after `wisp chat log --help`.
const LOG_EXAMPLES: &str = "\
CHAT is a public chat's name (status or #status; join it first) or a person's chat key (0x04…
or zQ3sh…; the 1:1 chat is opened if it was not).
Examples:
    wisp chat log status --limit 100
    wisp chat log zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB --follow --json
With --follow, a message is printed again when its delivery state changes (a JSON consumer
keeps the last line of each id). Ctrl-C or SIGTERM ends it (exit 0).";

/// Where the node is and how to print.
#[derive(Debug, Args)]
pub(crate) struct Output {
    /// JSON-RPC URL of a node running with --account (`wisp node` and `wisp devnet` print it)
    #[arg(long, value_name = "URL", default_value = DEFAULT_RPC_URL)]
    pub(crate) rpc: RpcUrl,

    /// Print JSON, one object per line (status-go's Message / Chat fields), instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// `wisp chat send`
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// A public chat's name, e.g. status (joined if needed)
    #[arg(long, value_name = "NAME", required_unless_present_any = ["to", "group"], conflicts_with_all = ["to", "group"])]
    pub(crate) public: Option<String>,

    /// A person's chat key: 0x04… (130 hex digits) or zQ3sh…, as `wisp account show` prints
    #[arg(long, value_name = "KEY", conflicts_with = "group")]
    pub(crate) to: Option<String>,

    /// A group chat's id (`<uuid>-0x04…`, as `wisp chat group new` prints it)
    #[arg(long, value_name = "CHAT")]
    pub(crate) group: Option<String>,

    /// Send as a reply to this message (its id, 0x + 64 hex digits, as `wisp chat log --json` shows)
    #[arg(long, value_name = "ID")]
    pub(crate) reply_to: Option<String>,

    /// The text to send (with --image, --audio or --sticker: an optional caption)
    #[arg(value_name = "TEXT", required_unless_present_any = ["image", "audio", "sticker"])]
    pub(crate) text: Option<String>,

    /// Send an image: a JPEG, PNG, GIF or WebP file of at most 512 KiB. The node reads the
    /// file, so it must be on the node's machine (the path is made absolute here)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["audio", "sticker"])]
    pub(crate) image: Option<std::path::PathBuf>,

    /// Send an audio clip: an AAC (ADTS) or AMR file of at most 512 KiB, read by the node;
    /// give its length with --duration-ms
    #[arg(long, value_name = "FILE", conflicts_with = "sticker", requires = "duration_ms")]
    pub(crate) audio: Option<std::path::PathBuf>,

    /// Length of the --audio clip in milliseconds
    #[arg(long, value_name = "N", requires = "audio")]
    pub(crate) duration_ms: Option<u64>,

    /// Send a sticker: its content hash and pack id, HASH:PACK (e.g. e30101701220…:1)
    #[arg(long, value_name = "HASH:PACK", value_parser = parse_sticker)]
    pub(crate) sticker: Option<Sticker>,

    /// Wait until the message is sent, or delivered (acknowledged; 1:1 only), printing each state
    #[arg(long, value_name = "STATE")]
    pub(crate) wait: Option<WaitFor>,

    /// Most seconds --wait waits
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout: u64,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// A sticker to send: `HASH:PACK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sticker {
    /// The sticker's content hash.
    pub(crate) hash: String,
    /// Its pack id.
    pub(crate) pack: i32,
}

/// Parses `--sticker HASH:PACK`.
fn parse_sticker(text: &str) -> Result<Sticker, String> {
    let bad = |why: &str| {
        format!("{text:?} is not a sticker: {why}; expected HASH:PACK, e.g. e30101701220ab12:1")
    };
    let (hash, pack) = text.rsplit_once(':').ok_or_else(|| bad("no ':' before the pack id"))?;
    if hash.is_empty() || hash.len() > 256 {
        return Err(bad("the hash must be 1 to 256 characters"));
    }
    let pack = pack.parse::<i32>().map_err(|_| bad("the pack id is not a whole number"))?;
    Ok(Sticker { hash: hash.to_owned(), pack })
}

/// The delivery state `send --wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WaitFor {
    /// The envelope left the node.
    Sent,
    /// The recipient acknowledged it (1:1 chats only).
    Delivered,
}

/// `wisp chat list`
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Every chat the node knows, also the ones left or deactivated
    #[arg(long)]
    pub(crate) all: bool,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// `wisp chat log`
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// The chat: a public chat's name (status, #status) or a person's key (0x04…, zQ3sh…)
    #[arg(value_name = "CHAT")]
    pub(crate) chat: String,

    /// Keep running and print new messages (and delivery state changes) as they come
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,

    /// How many of the latest messages to print first
    #[arg(long, short = 'n', value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: u32,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// `wisp chat join` / `leave`
#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    /// The public chat's name, e.g. status (a leading # is dropped)
    #[arg(value_name = "NAME")]
    pub(crate) name: String,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// Why a chat command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChatError {
    /// No node answers at the URL.
    #[error(
        "cannot reach a node at {url} ({reason}); start one with an account, \
         `wisp node --account ID --rpc {addr}`, or pass --rpc URL of a running one"
    )]
    Unreachable {
        /// The endpoint.
        url: RpcUrl,
        /// `host:port`, for the hint.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The node does not know the chat methods.
    #[error(
        "the node at {url} has no chat RPC ({method} is unknown to it); is it a wisp node \
         started with --account?"
    )]
    NoChatRpc {
        /// The endpoint.
        url: RpcUrl,
        /// The method.
        method: String,
    },
    /// Another RPC failure.
    #[error("{0}")]
    Rpc(RpcError),
    /// A CHAT or KEY argument is wrong.
    #[error("{0}")]
    Input(String),
    /// The node answered something we cannot read.
    #[error("unexpected answer from the node to {method}: {detail}")]
    Answer {
        /// The method.
        method: &'static str,
        /// What is missing or wrong.
        detail: String,
    },
    /// `send --wait` ran out of time.
    #[error("message {id} did not become {wanted} within {}: it is {state}", human_duration(*limit))]
    WaitTimeout {
        /// The message.
        id: String,
        /// What we waited for.
        wanted: &'static str,
        /// Its last state.
        state: String,
        /// How long we waited.
        limit: Duration,
    },
    /// The message expired while we waited.
    #[error("message {0} expired: the recipient did not acknowledge it and it is no longer resent")]
    Expired(String),
}

/// Runs a `wisp chat` command.
pub(crate) fn run(command: ChatCommand) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async move {
        match command {
            ChatCommand::Send(args) => send(args).await,
            ChatCommand::List(args) => list(args).await,
            ChatCommand::Log(args) => log(args).await,
            ChatCommand::Join(args) => join(args, true).await,
            ChatCommand::Leave(args) => join(args, false).await,
            ChatCommand::Contact(command) => crate::chat_contact_cmd::run_contact(command).await,
            ChatCommand::Devices(command) => crate::chat_contact_cmd::run_devices(command).await,
            ChatCommand::Group(cmd) => crate::chat_group_cmd::run(cmd).await,
            ChatCommand::React(args) => crate::chat_react_cmd::react(args).await,
            ChatCommand::Pin(args) => crate::chat_react_cmd::pin(args).await,
        }
    })
}

/// A node's chat RPC.
pub(crate) struct ChatRpc {
    rpc: RpcClient,
}

impl ChatRpc {
    /// The chat RPC at `url`.
    pub(crate) fn new(url: RpcUrl) -> Self {
        Self { rpc: RpcClient::new(url, CALL_TIMEOUT) }
    }

    /// Calls `method`, turning transport failures into chat-specific hints.
    pub(crate) async fn call(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<Value, ChatError> {
        self.rpc.call(method, params).await.map_err(|e| match e {
            RpcError::Unreachable { url, reason } => {
                let addr = url.to_string().trim_start_matches("http://").to_owned();
                ChatError::Unreachable { url, addr, reason }
            }
            RpcError::Call { code: -32601, .. } => {
                ChatError::NoChatRpc { url: self.rpc.url().clone(), method: method.into() }
            }
            other => ChatError::Rpc(other),
        })
    }

    /// `wakuext_createPublicChat`: joins `name`; returns the MessengerResponse.
    pub(crate) async fn join_public(&self, name: &str) -> Result<Value, ChatError> {
        self.call("wakuext_createPublicChat", json!([{ "id": name }])).await
    }

    /// `wakuext_deactivateChat`: leaves a chat.
    pub(crate) async fn deactivate(&self, chat_id: &str) -> Result<Value, ChatError> {
        self.call("wakuext_deactivateChat", json!([{ "id": chat_id }])).await
    }

    /// `wakuext_createOneToOneChat`: opens the 1:1 chat with `chat_id` (`0x04…`).
    pub(crate) async fn open_one_to_one(&self, chat_id: &str) -> Result<Value, ChatError> {
        self.call("wakuext_createOneToOneChat", json!([{ "id": chat_id }])).await
    }

    /// `wakuext_sendChatMessage`: sends `text` in `chat_id`; returns the stored Message.
    pub(crate) async fn send_text(
        &self,
        chat_id: &str,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<Value, ChatError> {
        let message = json!({ "chatId": chat_id, "text": text, "contentType": TEXT_PLAIN });
        self.send_message(chat_id, message, reply_to).await
    }

    /// `wakuext_sendChatMessage` of `message` (status-go's `Message` fields: `chatId`,
    /// `text`, `contentType`, `imagePath`, ...) in `chat_id`; returns the stored Message.
    pub(crate) async fn send_message(
        &self,
        chat_id: &str,
        mut message: Value,
        reply_to: Option<&str>,
    ) -> Result<Value, ChatError> {
        const METHOD: &str = "wakuext_sendChatMessage";
        if let Some(id) = reply_to {
            message["responseTo"] = json!(id);
        }
        let response = self.call(METHOD, json!([message])).await?;
        let messages = response.get("messages").and_then(Value::as_array);
        messages
            .and_then(|list| {
                list.iter().find(|m| m.get("chatId").and_then(Value::as_str) == Some(chat_id))
            })
            .or_else(|| messages.and_then(|list| list.first()))
            .cloned()
            .ok_or(ChatError::Answer {
                method: METHOD,
                detail: "the MessengerResponse has no message".into(),
            })
    }

    /// `wakuext_chatMessages`: a page of `chat_id`'s messages, newest first, and the cursor
    /// of the next (older) page, empty at the end.
    pub(crate) async fn messages(
        &self,
        chat_id: &str,
        cursor: &str,
        limit: u32,
    ) -> Result<(Vec<Value>, String), ChatError> {
        const METHOD: &str = "wakuext_chatMessages";
        let page = self.call(METHOD, json!([chat_id, cursor, limit])).await?;
        let messages = match page.get("messages") {
            Some(Value::Array(list)) => list.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => {
                return Err(ChatError::Answer {
                    method: METHOD,
                    detail: format!("messages is not a list: {other}"),
                });
            }
        };
        let cursor = page.get("cursor").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok((messages, cursor))
    }

    /// `wakuext_activeChats` or `wakuext_chats`.
    pub(crate) async fn chats(&self, all: bool) -> Result<Vec<Value>, ChatError> {
        let method = if all { "wakuext_chats" } else { "wakuext_activeChats" };
        match self.call(method, json!([])).await? {
            Value::Array(list) => Ok(list),
            Value::Null => Ok(Vec::new()),
            other => Err(ChatError::Answer { method, detail: format!("not a list: {other}") }),
        }
    }

    /// The message `id` of `chat_id`, looked up in the newest `depth` messages.
    pub(crate) async fn find_message(
        &self,
        chat_id: &str,
        id: &str,
        depth: u32,
    ) -> Result<Option<Value>, ChatError> {
        let (messages, _) = self.messages(chat_id, "", depth).await?;
        Ok(messages.into_iter().find(|m| str_field(m, "id") == id))
    }
}

/// The chat id of a CHAT argument: a person's key as `0x04…`, else a public chat's name.
pub(crate) fn chat_id_of(text: &str) -> Result<String, ChatError> {
    let text = text.trim();
    if looks_like_key(text) {
        return one_to_one_id(text);
    }
    public_name(text)
}

/// Does `text` look like a chat key (so that a bad one is reported as a bad key)?
fn looks_like_key(text: &str) -> bool {
    text.starts_with("zQ3") || text.starts_with("0x") || text.starts_with("0X")
}

/// `0x04…` of a KEY argument.
pub(crate) fn one_to_one_id(text: &str) -> Result<String, ChatError> {
    let key = parse_public_key(text.trim()).map_err(|e| {
        ChatError::Input(format!(
            "{:?} is not a chat key: {e}; expected 0x04 and 128 hex digits, or zQ3sh… text, \
             as `wisp account show` prints them",
            shorten(text.trim(), 140)
        ))
    })?;
    Ok(format!("0x{}", hex::encode(key.to_uncompressed())))
}

/// A public chat's name without its leading `#`.
pub(crate) fn public_name(text: &str) -> Result<String, ChatError> {
    let name = text.trim().trim_start_matches('#');
    if name.is_empty() {
        return Err(ChatError::Input(
            "the public chat name is empty; expected a name such as status".into(),
        ));
    }
    Ok(name.to_owned())
}

async fn join(args: JoinArgs, join: bool) -> Result<(), Error> {
    let name = public_name(&args.name)?;
    let rpc = ChatRpc::new(args.out.rpc.clone());
    let response = if join { rpc.join_public(&name).await? } else { rpc.deactivate(&name).await? };
    if args.out.json {
        return print_line(&response.to_string());
    }
    if join { print_line(&format!("joined #{name}")) } else { print_line(&format!("left #{name}")) }
}

async fn send(args: SendArgs) -> Result<(), Error> {
    let rpc = ChatRpc::new(args.out.rpc.clone());
    let chat_id = match (&args.public, &args.to, &args.group) {
        (Some(name), _, _) => public_name(name)?,
        (None, Some(key), _) => one_to_one_id(key)?,
        (None, None, Some(group)) => group.trim().to_owned(),
        (None, None, None) => unreachable!("clap requires --public, --to or --group"),
    };
    // Join or open the chat only if it is not active (joining asks mailservers for history).
    let active = rpc.chats(false).await?;
    if args.group.is_some() && !active.iter().any(|c| str_field(c, "id") == chat_id) {
        return Err(ChatError::Input(format!(
            "{chat_id:?} is not an active group chat of this node: accept the invitation first \
             (`wisp chat group accept CHAT`), or see `wisp chat list`"
        ))
        .into());
    }
    if !active.iter().any(|c| str_field(c, "id") == chat_id) {
        if args.public.is_some() {
            rpc.join_public(&chat_id).await?;
        } else {
            rpc.open_one_to_one(&chat_id).await?;
        }
    }
    if args.wait == Some(WaitFor::Delivered) && args.public.is_some() {
        return Err(ChatError::Input(
            "--wait delivered needs a 1:1 chat (--to): public messages are never acknowledged; \
             use --wait sent"
                .into(),
        )
        .into());
    }
    let started = Instant::now();
    let message =
        rpc.send_message(&chat_id, outgoing(&args, &chat_id)?, args.reply_to.as_deref()).await?;
    let id = str_field(&message, "id").to_owned();
    let mut state = status_of(&message);
    report_state(&args.out, &message, &state, started.elapsed())?;
    let Some(wanted) = args.wait else { return Ok(()) };
    let wanted_name = match wanted {
        WaitFor::Sent => "sent",
        WaitFor::Delivered => "delivered",
    };
    let limit = Duration::from_secs(args.timeout);
    let deadline = started + limit;
    while !reached(&state, wanted) {
        if state == "expired" {
            return Err(ChatError::Expired(id).into());
        }
        if Instant::now() >= deadline {
            return Err(ChatError::WaitTimeout { id, wanted: wanted_name, state, limit }.into());
        }
        tokio::time::sleep(POLL).await;
        // The newest messages hold ours unless many arrived meanwhile.
        if let Some(now) = rpc.find_message(&chat_id, &id, 200).await? {
            let new_state = status_of(&now);
            if new_state != state {
                state = new_state;
                report_state(&args.out, &now, &state, started.elapsed())?;
            }
        }
    }
    Ok(())
}

/// The `wakuext_sendChatMessage` object of `send`'s arguments: text, or an image, audio
/// clip or sticker (with the text as caption). Media paths are made absolute (the node
/// reads them) and must name a file here.
fn outgoing(args: &SendArgs, chat_id: &str) -> Result<Value, ChatError> {
    let text = args.text.clone().unwrap_or_default();
    let file = |flag: &str, path: &std::path::Path| {
        let absolute = std::fs::canonicalize(path).map_err(|e| {
            ChatError::Input(format!("{flag} {}: cannot read it: {e}", path.display()))
        })?;
        if !absolute.is_file() {
            return Err(ChatError::Input(format!("{flag} {}: not a regular file", path.display())));
        }
        Ok(absolute.to_string_lossy().into_owned())
    };
    let mut message = json!({ "chatId": chat_id, "text": text });
    if let Some(path) = &args.image {
        message["contentType"] = json!(IMAGE);
        message["imagePath"] = json!(file("--image", path)?);
    } else if let Some(path) = &args.audio {
        message["contentType"] = json!(AUDIO);
        message["audioPath"] = json!(file("--audio", path)?);
        message["audioDurationMs"] = json!(args.duration_ms.unwrap_or(0));
    } else if let Some(sticker) = &args.sticker {
        message["contentType"] = json!(STICKER);
        message["sticker"] = json!({ "hash": sticker.hash, "pack": sticker.pack });
    } else {
        if text.trim().is_empty() {
            return Err(ChatError::Input(
                "the text is empty: give TEXT, or --image, --audio or --sticker".into(),
            ));
        }
        message["contentType"] = json!(TEXT_PLAIN);
    }
    Ok(message)
}

/// Has `state` reached `wanted`?
fn reached(state: &str, wanted: WaitFor) -> bool {
    match wanted {
        WaitFor::Sent => matches!(state, "sent" | "delivered"),
        WaitFor::Delivered => state == "delivered",
    }
}

/// Prints the message (JSON) or `id state +ms` (text).
fn report_state(out: &Output, message: &Value, state: &str, after: Duration) -> Result<(), Error> {
    if out.json {
        return print_line(&message.to_string());
    }
    print_line(&format!("{}  {state}  +{} ms", str_field(message, "id"), after.as_millis()))
}

async fn list(args: ListArgs) -> Result<(), Error> {
    let rpc = ChatRpc::new(args.out.rpc.clone());
    let chats = rpc.chats(args.all).await?;
    if args.out.json {
        for chat in &chats {
            print_line(&chat.to_string())?;
        }
        return Ok(());
    }
    if chats.is_empty() {
        return print_line(
            "no chats yet; `wisp chat join NAME` or `wisp chat send --to KEY TEXT` starts one",
        );
    }
    for chat in &chats {
        print_line(&chat_line(chat))?;
    }
    Ok(())
}

/// `public  #status  2 unread  last: 12:01:02 Alias: text`.
fn chat_line(chat: &Value) -> String {
    let kind = match chat.get("chatType").and_then(Value::as_u64) {
        Some(CHAT_ONE_TO_ONE) => "1:1",
        Some(CHAT_PUBLIC) => "public",
        Some(CHAT_PRIVATE_GROUP) => "group",
        _ => "chat",
    };
    let id = str_field(chat, "id");
    let shown = match kind {
        "public" => format!("#{id}"),
        "1:1" => match parse_public_key(id) {
            Ok(key) => {
                format!(
                    "{} ({})",
                    wisp_accounts::alias(&key),
                    wisp_accounts::compress_public_key(&key)
                )
            }
            Err(_) => id.to_owned(),
        },
        _ => match str_field(chat, "name") {
            "" => id.to_owned(),
            name => name.to_owned(),
        },
    };
    let unread = chat.get("unviewedMessagesCount").and_then(Value::as_u64).unwrap_or(0);
    let mut line = format!("{kind:<6}  {shown}  {unread} unread");
    if chat.get("active").and_then(Value::as_bool) == Some(false) {
        line.push_str("  (left)");
    }
    if let Some(last) = chat.get("lastMessage").filter(|m| m.is_object()) {
        line.push_str(&format!("  last: {}", message_line(last)));
    }
    line
}

async fn log(args: LogArgs) -> Result<(), Error> {
    let chat_id = chat_id_of(&args.chat)?;
    let rpc = ChatRpc::new(args.out.rpc.clone());
    if chat_id.starts_with("0x") {
        // A person's chat exists once either side wrote; opening it (as the app does when you
        // look at someone) lets `log` show it, or wait for it with --follow, before that.
        let known = rpc.chats(true).await?;
        if !known.iter().any(|c| str_field(c, "id") == chat_id) {
            rpc.open_one_to_one(&chat_id).await?;
        }
    }
    let (mut first, _) = rpc.messages(&chat_id, "", args.limit).await?;
    sort_oldest_first(&mut first);
    let mut seen: HashMap<String, String> = HashMap::new();
    for message in &first {
        print_message(&args.out, message)?;
        seen.insert(str_field(message, "id").to_owned(), status_of(message));
    }
    if !args.follow {
        return Ok(());
    }
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;
    loop {
        tokio::select! {
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
            () = tokio::time::sleep(POLL) => {}
        }
        let fresh = newer_than_seen(&rpc, &chat_id, &seen).await?;
        for message in fresh {
            let id = str_field(&message, "id").to_owned();
            let state = status_of(&message);
            match seen.get(&id) {
                Some(old) if *old == state => continue,
                Some(_) if !args.out.json => {
                    print_line(&format!("  {} is now {state}", short_id(&id)))?;
                }
                _ => print_message(&args.out, &message)?,
            }
            seen.insert(id, state);
        }
    }
}

/// The newest messages, oldest first: pages are fetched, newest first, until one holds no
/// message not seen before. The caller compares delivery states, so a state change is noticed
/// for the messages of the pages fetched (at least the newest [`FOLLOW_PAGE`]).
async fn newer_than_seen(
    rpc: &ChatRpc,
    chat_id: &str,
    seen: &HashMap<String, String>,
) -> Result<Vec<Value>, ChatError> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    for _ in 0..FOLLOW_MAX_PAGES {
        let (page, next) = rpc.messages(chat_id, &cursor, FOLLOW_PAGE).await?;
        let any_new = page.iter().any(|m| !seen.contains_key(str_field(m, "id")));
        all.extend(page);
        if !any_new || next.is_empty() {
            break;
        }
        cursor = next;
    }
    sort_oldest_first(&mut all);
    Ok(all)
}

/// Orders by clock, then id (the node's order, reversed to read top-down).
fn sort_oldest_first(messages: &mut [Value]) {
    messages.sort_by(|a, b| {
        let clock = |m: &Value| m.get("clock").and_then(Value::as_u64).unwrap_or(0);
        clock(a).cmp(&clock(b)).then_with(|| str_field(a, "id").cmp(str_field(b, "id")))
    });
}

fn print_message(out: &Output, message: &Value) -> Result<(), Error> {
    if out.json { print_line(&message.to_string()) } else { print_line(&message_line(message)) }
}

/// `2026-12-04 08:01:02  New Awful Harpseal: text  [delivered]` (the state for ours only).
pub(crate) fn message_line(message: &Value) -> String {
    let ms = message
        .get("timestamp")
        .and_then(Value::as_u64)
        .or_else(|| message.get("whisperTimestamp").and_then(Value::as_u64))
        .unwrap_or(0);
    let alias = match str_field(message, "alias") {
        "" => match parse_public_key(str_field(message, "from")) {
            Ok(key) => wisp_accounts::alias(&key),
            Err(_) => "?".to_owned(),
        },
        alias => alias.to_owned(),
    };
    let mut text = str_field(message, "text").replace('\n', " ⏎ ");
    if let Some(label) = media_label(message) {
        text = if text.is_empty() { label } else { format!("{label} {text}") };
    }
    let mut line = format!("{}  {alias}: {text}", utc_time(ms));
    let state = status_of(message);
    if !state.is_empty() {
        line.push_str(&format!("  [{state}]"));
    }
    line
}

/// `[image png, 3.0 KiB]`, `[audio amr, 2.4 s]`, `[sticker e3010170…, pack 1]` for a media
/// message; `None` for text.
fn media_label(message: &Value) -> Option<String> {
    let data = |key: &str| {
        let uri = str_field(message, key);
        let (head, b64) = uri.split_once(";base64,")?;
        let kind = head.rsplit('/').next().unwrap_or("?").to_owned();
        let padding = b64.bytes().rev().take_while(|b| *b == b'=').count();
        Some((kind, (b64.len() / 4 * 3).saturating_sub(padding)))
    };
    match message.get("contentType").and_then(Value::as_u64)? {
        IMAGE => {
            let (kind, size) = data("image")?;
            Some(format!("[image {kind}, {:.1} KiB]", size as f64 / 1024.0))
        }
        AUDIO => {
            let (kind, _) = data("audio")?;
            let ms = message.get("audioDurationMs").and_then(Value::as_u64).unwrap_or(0);
            Some(format!("[audio {kind}, {:.1} s]", ms as f64 / 1000.0))
        }
        STICKER => {
            let sticker = message.get("sticker")?;
            let hash = sticker.get("hash").and_then(Value::as_str).unwrap_or("?");
            let pack = sticker.get("pack").and_then(Value::as_i64).unwrap_or(0);
            Some(format!("[sticker {}, pack {pack}]", shorten(hash, 12)))
        }
        _ => None,
    }
}

/// The `outgoingStatus` of one of our messages, empty for others'.
pub(crate) fn status_of(message: &Value) -> String {
    str_field(message, "outgoingStatus").to_owned()
}

/// A string field, empty when absent or not a string.
pub(crate) fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `0x1234abcd…`.
fn short_id(id: &str) -> String {
    shorten(id, 10)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn utc_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_arguments_become_chat_ids() {
        let key = wisp_crypto::SecretKey::from_bytes(&[7; 32]).unwrap().public_key();
        let hex = format!("0x{}", hex::encode(key.to_uncompressed()));
        assert_eq!(chat_id_of(&hex).unwrap(), hex);
        assert_eq!(chat_id_of(&wisp_accounts::compress_public_key(&key)).unwrap(), hex);
        assert_eq!(chat_id_of("#status").unwrap(), "status");
        assert_eq!(chat_id_of(" status ").unwrap(), "status");
        assert!(chat_id_of("#").unwrap_err().to_string().contains("empty"));
        let bad = chat_id_of("0x04abcd").unwrap_err().to_string();
        assert!(bad.contains("not a chat key") && bad.contains("0x04"), "{bad}");
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(1_795_315_186_186), "2026-11-22 02:39:46");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn messages_read_as_lines() {
        let ours = json!({
            "id": "0xaa", "text": "hi\nthere", "timestamp": 0u64, "alias": "Some Alias Here",
            "outgoingStatus": "delivered", "clock": 2u64
        });
        assert_eq!(
            message_line(&ours),
            "1970-01-01 00:00:00  Some Alias Here: hi ⏎ there  [delivered]"
        );
        let theirs = json!({ "id": "0xbb", "text": "yo", "timestamp": 1000u64, "clock": 1u64,
                             "outgoingStatus": null });
        assert_eq!(message_line(&theirs), "1970-01-01 00:00:01  ?: yo");
        let mut both = vec![ours, theirs];
        sort_oldest_first(&mut both);
        assert_eq!(str_field(&both[0], "id"), "0xbb");
        assert!(reached("delivered", WaitFor::Sent));
        assert!(!reached("sent", WaitFor::Delivered));
        let chat = json!({ "id": "status", "chatType": 2, "unviewedMessagesCount": 3,
                           "active": true, "lastMessage": null });
        assert_eq!(chat_line(&chat), "public  #status  3 unread");
    }

    /// `wisp chat send ...` parsed.
    fn send_args(args: &[&str]) -> Result<SendArgs, clap::Error> {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            command: ChatCommand,
        }
        let argv = ["chat", "send"].iter().chain(args).copied();
        match Cli::try_parse_from(argv)?.command {
            ChatCommand::Send(send) => Ok(send),
            _ => unreachable!("a send command"),
        }
    }

    #[test]
    fn send_takes_an_image_audio_or_sticker() {
        let dir = std::env::temp_dir().join(format!("wisp-chat-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pic = dir.join("pic.png");
        std::fs::write(&pic, b"\x89PNG\r\n\x1a\n").unwrap();
        let pic_arg = pic.to_str().unwrap();

        let args = send_args(&["--public", "status", "--image", pic_arg]).unwrap();
        let m = outgoing(&args, "status").unwrap();
        assert_eq!((&m["contentType"], &m["text"]), (&json!(7), &json!("")));
        let absolute = std::fs::canonicalize(&pic).unwrap();
        assert_eq!(m["imagePath"], json!(absolute.to_str().unwrap()));

        let args = send_args(&["--to", "0x04", "--audio", pic_arg, "--duration-ms", "2400", "hi"])
            .unwrap();
        let m = outgoing(&args, "c").unwrap();
        assert_eq!((&m["contentType"], &m["audioDurationMs"]), (&json!(8), &json!(2400)));
        assert_eq!(m["text"], "hi");

        let args = send_args(&["--public", "status", "--sticker", "e301ab:3"]).unwrap();
        let m = outgoing(&args, "status").unwrap();
        assert_eq!(
            (&m["contentType"], &m["sticker"]),
            (&json!(2), &json!({"hash": "e301ab", "pack": 3}))
        );

        let args = send_args(&["--public", "status", "plain"]).unwrap();
        assert_eq!(outgoing(&args, "status").unwrap()["contentType"], 1);

        // Refused: no text nor media, audio without its length, two kinds at once, a bad
        // sticker, a file that is not there (named).
        assert!(send_args(&["--public", "status"]).is_err());
        let e = send_args(&["--public", "s", "--audio", pic_arg]).unwrap_err().to_string();
        assert!(e.contains("--duration-ms"), "{e}");
        assert!(send_args(&["--public", "s", "--image", pic_arg, "--sticker", "a:1"]).is_err());
        let e = send_args(&["--public", "s", "--sticker", "abc"]).unwrap_err().to_string();
        assert!(e.contains("HASH:PACK"), "{e}");
        assert!(send_args(&["--public", "s", "--sticker", "abc:x"]).is_err());
        let missing = dir.join("missing.jpg");
        let args = send_args(&["--public", "s", "--image", missing.to_str().unwrap()]).unwrap();
        let e = outgoing(&args, "s").unwrap_err().to_string();
        assert!(e.contains("--image") && e.contains("missing.jpg"), "{e}");
        let args = send_args(&["--public", "s", "--image", dir.to_str().unwrap()]).unwrap();
        assert!(outgoing(&args, "s").unwrap_err().to_string().contains("not a regular file"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn media_messages_read_as_lines() {
        let image = json!({ "id": "0x1", "text": "my cat", "timestamp": 0u64, "alias": "A B C",
                            "contentType": 7, "image": "data:image/png;base64,AAAAAA==" });
        assert_eq!(message_line(&image), "1970-01-01 00:00:00  A B C: [image png, 0.0 KiB] my cat");
        let audio = json!({ "text": "", "timestamp": 0u64, "alias": "A B C", "contentType": 8,
                            "audio": "data:audio/amr;base64,AAAA", "audioDurationMs": 2400 });
        assert_eq!(message_line(&audio), "1970-01-01 00:00:00  A B C: [audio amr, 2.4 s]");
        let sticker = json!({ "text": "", "timestamp": 0u64, "alias": "A B C", "contentType": 2,
                              "sticker": { "hash": "e30101701220abcdef", "pack": 1 } });
        assert_eq!(
            message_line(&sticker),
            "1970-01-01 00:00:00  A B C: [sticker e30101701220…, pack 1]"
        );
    }
}
