//! `wisp chat` with no subcommand: the full-screen terminal client (ratatui on crossterm).
//!
//! - [`app`]: the state machine (events in, screen state and node requests out), no I/O;
//! - [`ui`]: drawing it;
//! - [`client`]: the task that talks to the node's JSON-RPC;
//! - [`keys`]: key bindings (defaults, `[chat.keys]` in wisp.toml).
//!
//! It attaches to a running `wisp node --account` (`--rpc URL`), or runs an embedded light
//! node from the data directory (creating or importing the account on first start). The
//! terminal is restored on exit, on a panic, on Ctrl-C and on SIGTERM.

pub(crate) mod app;
pub(crate) mod client;
pub(crate) mod keys;
pub(crate) mod ui;

use std::{
    io::{self, BufRead, IsTerminal, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
};

use clap::Args;
use crossterm::{
    event::{
        DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, KeyCode, KeyEvent,
        KeyEventKind, KeyModifiers,
    },
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use ratatui::{Terminal, backend::CrosstermBackend};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc,
};
use wisp_node::{CONFIG_FILE_NAME, FileConfig, Node, Role, load_config_file};
use wisp_rlpx::NodeRecord;

use self::{
    app::{App, Event, Request},
    keys::{Code, Key, KeyMap},
};
use crate::{account_cmd::AccountId, data_dir::DataDir, error::Error, rpc_client::RpcUrl};

/// `wisp chat` (no subcommand): where the node is, or how to run one.
#[derive(Debug, Args)]
pub(crate) struct TuiArgs {
    /// Attach to a running `wisp node --account` at this JSON-RPC URL instead of running an
    /// embedded node [default: run an embedded light node from the data directory]
    #[arg(long, value_name = "URL")]
    pub(crate) rpc: Option<RpcUrl>,

    /// Embedded node: the account to chat as (chat key, zQ3sh… key, 3-word alias or address)
    /// [default: [chat] account in wisp.toml, else the only account of the data directory;
    /// on a fresh data directory you are asked to create or import one]
    #[arg(long, value_name = "ID", value_parser = AccountId::parse)]
    pub(crate) account: Option<AccountId>,

    /// Embedded node: read the keystore password from the first line of FILE [default:
    /// [chat] password_file in wisp.toml, else prompt]
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,

    /// Embedded node: config file [default: <data-dir>/wisp.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Embedded node: RLPx address to listen on [default: 0.0.0.0:0, a free port]
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) listen: Option<SocketAddr>,

    /// Embedded node: a peer to keep connected; repeatable
    #[arg(long = "static", value_name = "ENODE", value_parser = parse_enode)]
    pub(crate) static_nodes: Vec<NodeRecord>,

    /// Embedded node: a trusted peer (mailserver); repeatable
    #[arg(long = "trusted", value_name = "ENODE", value_parser = parse_enode)]
    pub(crate) trusted_nodes: Vec<NodeRecord>,

    /// Embedded node: run as a full relay instead of a light client
    #[arg(long)]
    pub(crate) relay: bool,

    /// vi-style keys (Esc for normal mode, j/k scroll, J/K chats, i to type) [default:
    /// [chat] vi_keys in wisp.toml, else off]
    #[arg(long)]
    pub(crate) vi: bool,

    /// Discovery of the embedded node: bootnodes, DNS trees, fleets.
    #[command(flatten)]
    pub(crate) discovery: crate::discovery_args::DiscoveryArgs,
}

fn parse_enode(s: &str) -> Result<NodeRecord, String> {
    s.parse::<NodeRecord>().map_err(|e| format!("{e}; expected enode://<128 hex digits>@IP:PORT"))
}

/// The settings of the screen from wisp.toml `[chat]`.
struct ScreenConfig {
    keys: KeyMap,
    vi: bool,
    bell: bool,
}

fn screen_config(file: &FileConfig, vi_flag: bool) -> Result<ScreenConfig, Error> {
    let keys = KeyMap::with_overrides(&file.chat.keys)
        .map_err(|(key, message)| Error::Config(file.invalid(&key, message)))?;
    let bell = match file.chat.notify.as_deref() {
        None => file.chat.bell.unwrap_or(true),
        Some("bell") => true,
        Some("none") => false,
        Some(other) => {
            return Err(Error::Config(file.invalid(
                "chat.notify",
                format!("{other:?} is not a way to notify; expected \"bell\" or \"none\""),
            )));
        }
    };
    Ok(ScreenConfig { keys, vi: vi_flag || file.chat.vi_keys.unwrap_or(false), bell })
}

/// The escape sequence that puts `text` on the terminal's clipboard (OSC 52), which the
/// terminal honours even over ssh. Inside tmux the same sequence also goes through tmux's
/// passthrough (`allow-passthrough on`); the plain one is taken by tmux itself with
/// `set-clipboard on`.
fn osc52(text: &str, tmux: bool) -> String {
    let plain = format!("\x1b]52;c;{}\x07", base64(text.as_bytes()));
    if !tmux {
        return plain;
    }
    // Passthrough: ESC P tmux; the sequence with each ESC doubled, ESC \.
    let wrapped = plain.replace('\x1b', "\x1b\x1b");
    format!("{plain}\x1bPtmux;{wrapped}\x1b\\")
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk.first(), chunk.get(1), chunk.get(2)].map(|b| b.copied().unwrap_or(0));
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(ALPHABET.get(index as usize).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs the client until the user quits.
pub(crate) fn main(args: TuiArgs, data_dir: &DataDir) -> Result<(), Error> {
    let config_path = match &args.config {
        Some(p) => Some(p.clone()),
        None => data_dir.path().ok().map(|d| d.join(CONFIG_FILE_NAME)).filter(|p| p.is_file()),
    };
    let file = match &config_path {
        Some(p) => load_config_file(p)?,
        None => FileConfig::default(),
    };
    let screen = screen_config(&file, args.vi)?;
    if !io::stdout().is_terminal() {
        return Err(Error::Setting {
            name: "wisp chat",
            message: "the full-screen client needs a terminal on stdout; use the subcommands \
                      (`wisp chat list`, `log`, `send`) in scripts"
                .into(),
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async move {
        let mut node = None;
        let mut me = None;
        let url = match args.rpc.clone() {
            Some(url) => url,
            None => {
                let (started, identity) = embedded(&args, data_dir, config_path, &file).await?;
                let addr = started.rpc_addr().ok_or(Error::Setting {
                    name: "wisp chat",
                    message: "the embedded node serves no RPC".into(),
                })?;
                me = Some(identity);
                node = Some(started);
                RpcUrl::from_addr(addr)
            }
        };
        let result = screen_loop(url, screen, me).await;
        if let Some(node) = node {
            node.shutdown().await;
        }
        result
    })
}

/// Starts the embedded node: the account (created or imported on a fresh data directory),
/// unlocked; RPC on a free loopback port. Logs go to `<data-dir>/chat.log`.
async fn embedded(
    args: &TuiArgs,
    data_dir: &DataDir,
    config_path: Option<PathBuf>,
    file: &FileConfig,
) -> Result<(Node, (String, String)), Error> {
    let dir = match (data_dir.explicit(), &file.node.data_dir) {
        (Some(d), _) => d.to_owned(),
        (None, Some(d)) => d.clone(),
        (None, None) => data_dir.path()?,
    };
    let account = match (&args.account, &file.chat.account) {
        (Some(id), _) => id.clone(),
        (None, Some(_)) => AccountId::parse(file.chat.account.as_deref().unwrap_or_default())
            .map_err(|m| Error::Config(file.invalid("chat.account", m)))?,
        (None, None) => match only_account(&dir) {
            Some(id) => id,
            None => walkthrough(&dir, args.password_file.as_deref())?,
        },
    };
    let node_args = crate::node_cmd::NodeArgs {
        config: config_path,
        listen: Some(args.listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))),
        rpc: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        no_rpc: false,
        static_nodes: args.static_nodes.clone(),
        trusted_nodes: args.trusted_nodes.clone(),
        role: Some(if args.relay { Role::Relay } else { Role::Light }),
        whisper: false,
        external_ip: None,
        metrics: None,
        max_peers: None,
        min_pow: None,
        archive: None,
        retention_days: None,
        archive_full_sync: false,
        account: Some(account),
        password_file: args.password_file.clone(),
        discovery: args.discovery.clone(),
    };
    let explicit = DataDir::new(Some(dir.clone()));
    let plan = crate::node_cmd::plan(&node_args, &explicit, Some("info"), None)?;
    log_to_file(&dir.join("chat.log"));
    let mut config = plan.config;
    let Some((_, key)) = plan.account else {
        return Err(Error::Setting { name: "--account", message: "no account to chat as".into() });
    };
    let public = key.public_key();
    config.chat = Some(wisp_node::ChatConfig::new(key));
    let node = Node::start(config).await.map_err(Error::NodeStart)?;
    let me =
        (format!("0x{}", hex::encode(public.to_uncompressed())), wisp_accounts::alias(&public));
    Ok((node, me))
}

/// The one account of `<dir>/keystore`, by its address (go-ethereum's file names end in it).
fn only_account(dir: &Path) -> Option<AccountId> {
    let entries = std::fs::read_dir(dir.join("keystore")).ok()?;
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    let [name] = names.as_slice() else { return None };
    let address = name.rsplit("--").next()?;
    AccountId::parse(&format!("0x{address}")).ok()
}

/// First start: create or import the account (the mnemonic is shown once).
fn walkthrough(dir: &Path, password_file: Option<&Path>) -> Result<AccountId, Error> {
    let mut out = io::stdout();
    let _ = writeln!(
        out,
        "Welcome to wisp chat. There is no account in {} yet.\n\
         [c] create a new account (a 12-word mnemonic is shown once: write it down)\n\
         [i] import an account from its mnemonic\n\
         [q] quit",
        dir.display()
    );
    let choice = loop {
        let _ = write!(out, "c, i or q? ");
        let _ = out.flush();
        let mut line = String::new();
        let read = io::stdin().lock().read_line(&mut line).map_err(Error::Stdout)?;
        if read == 0 {
            return Err(Error::Interrupted);
        }
        match line.trim() {
            "c" | "C" => break true,
            "i" | "I" => break false,
            "q" | "Q" => return Err(Error::Interrupted),
            _ => {}
        }
    };
    let data_dir = DataDir::new(Some(dir.to_owned()));
    crate::account_cmd::create_or_import(choice, &data_dir, password_file)?;
    let _ = writeln!(out, "Press Enter to start chatting.");
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    only_account(dir).ok_or(Error::Setting {
        name: "--account",
        message: format!(
            "the account was written, but {} holds several; pass --account",
            dir.display()
        ),
    })
}

/// Sends the embedded node's logs to `path` (the screen is not the place for them).
fn log_to_file(path: &Path) {
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(path) else { return };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

/// Puts the terminal back: raw mode off, main screen, cursor shown.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped (normal exit, error, or unwinding).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

async fn screen_loop(
    url: RpcUrl,
    screen: ScreenConfig,
    me: Option<(String, String)>,
) -> Result<(), Error> {
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    enable_raw_mode().map_err(Error::Stdout)?;
    let _guard = TerminalGuard;
    execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste).map_err(Error::Stdout)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout())).map_err(Error::Stdout)?;

    let (request_tx, request_rx) = mpsc::unbounded_channel();
    let (event_tx, mut event_rx) = mpsc::unbounded_channel();
    let client = tokio::spawn(client::run(url, request_rx, event_tx));
    // Terminal input is read on a thread of its own (crossterm's read blocks).
    let (term_tx, mut term_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = crossterm::event::read() {
            if term_tx.send(event).is_err() {
                break;
            }
        }
    });

    let mut app = App::new(screen.vi);
    if let Ok(size) = terminal.size() {
        app.handle(Event::Resize(size.width, size.height));
    }
    if let Some((key, alias)) = me {
        app.handle(Event::Me { key, alias });
    }
    loop {
        terminal.draw(|f| ui::draw(f, &app, &screen.keys)).map_err(Error::Stdout)?;
        let mut events = Vec::new();
        tokio::select! {
            Some(t) = term_rx.recv() => {
                events.extend(translate(t, &screen.keys, &app));
                while let Ok(t) = term_rx.try_recv() {
                    events.extend(translate(t, &screen.keys, &app));
                }
            }
            Some(e) = event_rx.recv() => {
                events.push(e);
                while let Ok(e) = event_rx.try_recv() {
                    events.push(e);
                }
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
        for event in events {
            for request in app.handle(event) {
                let _ = request_tx.send(request);
            }
        }
        if std::mem::take(&mut app.bell) && screen.bell {
            let _ = io::stdout().write_all(b"\x07");
        }
        if let Some(text) = app.clipboard.take() {
            let tmux = std::env::var_os("TMUX").is_some();
            let mut stdout = io::stdout();
            let _ = stdout.write_all(osc52(&text, tmux).as_bytes());
            let _ = stdout.flush();
        }
        if app.quit {
            break;
        }
    }
    let _ = request_tx.send(Request::Quit);
    drop(request_tx);
    let _ = client.await;
    Ok(())
}

/// A terminal event as app events.
fn translate(event: TermEvent, keys: &KeyMap, app: &App) -> Vec<Event> {
    match event {
        TermEvent::Key(k) if k.kind != KeyEventKind::Release => {
            key_event(k, keys, app).into_iter().collect()
        }
        TermEvent::Paste(text) => vec![Event::Paste(text)],
        TermEvent::Resize(w, h) => vec![Event::Resize(w, h)],
        _ => Vec::new(),
    }
}

fn key_event(k: KeyEvent, keys: &KeyMap, app: &App) -> Option<Event> {
    let code = match k.code {
        KeyCode::Char(c) => Code::Char(c),
        KeyCode::Enter => Code::Enter,
        KeyCode::Tab => Code::Tab,
        KeyCode::Backspace => Code::Backspace,
        KeyCode::Delete => Code::Delete,
        KeyCode::Esc => Code::Esc,
        KeyCode::Up => Code::Up,
        KeyCode::Down => Code::Down,
        KeyCode::Left => Code::Left,
        KeyCode::Right => Code::Right,
        KeyCode::Home => Code::Home,
        KeyCode::End => Code::End,
        KeyCode::PageUp => Code::PageUp,
        KeyCode::PageDown => Code::PageDown,
        KeyCode::F(n) => Code::F(n),
        _ => return None,
    };
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    let key = Key {
        code: match code {
            Code::Char(c) if ctrl || alt => Code::Char(c.to_ascii_lowercase()),
            other => other,
        },
        ctrl,
        alt,
    };
    if let Some(action) = keys.action(key) {
        // In insert mode a plain character is text even if bound (vi keys are bound only in
        // normal mode by the app itself).
        let plain_char = matches!(code, Code::Char(_)) && !ctrl && !alt;
        if !plain_char || app.mode == app::Mode::Normal {
            return Some(Event::Action(action));
        }
    }
    match code {
        Code::Char(c) if !ctrl => Some(Event::Char(c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_settings_come_from_wisp_toml_and_errors_name_the_key() {
        let file = FileConfig::parse(
            "[chat]\nvi_keys = true\nbell = false\n[chat.keys]\nnext_chat = \"ctrl-j\"\n",
        )
        .unwrap();
        let screen = screen_config(&file, false).unwrap();
        assert!(screen.vi && !screen.bell);
        assert_eq!(
            screen.keys.action(Key { code: Code::Char('j'), ctrl: true, alt: false }),
            Some(keys::Action::NextChat)
        );
        let defaults = screen_config(&FileConfig::default(), false).unwrap();
        assert!(!defaults.vi && defaults.bell);

        let bad = FileConfig::parse("[chat.keys]\nquit = \"hyper-q\"\n").unwrap();
        let e = screen_config(&bad, false).err().unwrap().to_string();
        assert!(e.contains("chat.keys.quit") && e.contains("not a key"), "{e}");
        let unknown = FileConfig::parse("[chat.keys]\nteleport = \"x\"\n").unwrap();
        let e = screen_config(&unknown, false).err().unwrap().to_string();
        assert!(e.contains("chat.keys.teleport") && e.contains("next_chat"), "{e}");
        let e = FileConfig::parse("[chat]\nvi_keys = \"yes\"\n").err().unwrap().to_string();
        assert!(e.contains("vi_keys"), "{e}");
    }

    #[test]
    fn notify_is_bell_or_none_and_a_bad_value_names_the_key() {
        let bell = |text: &str| screen_config(&FileConfig::parse(text).unwrap(), false);
        assert!(bell("[chat]\nnotify = \"bell\"\n").unwrap().bell);
        assert!(!bell("[chat]\nnotify = \"none\"\n").unwrap().bell);
        assert!(!bell("[chat]\nbell = false\n").unwrap().bell, "the older key still works");
        assert!(bell("[chat]\nbell = false\nnotify = \"bell\"\n").unwrap().bell, "notify wins");
        let e = bell("[chat]\nnotify = \"popup\"\n").err().unwrap().to_string();
        assert!(
            e.contains("chat.notify") && e.contains("\"popup\"") && e.contains("\"none\""),
            "{e}"
        );
        let e = FileConfig::parse("[chat]\nnotify = 1\n").err().unwrap().to_string();
        assert!(e.contains("notify"), "{e}");
    }

    #[test]
    fn osc52_puts_the_key_on_the_clipboard_also_through_tmux() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
        assert_eq!(osc52("0x04ab", false), "\x1b]52;c;MHgwNGFi\x07");
        let tmux = osc52("0x04ab", true);
        assert!(tmux.starts_with("\x1b]52;c;MHgwNGFi\x07"), "the plain one first: {tmux:?}");
        assert!(
            tmux.ends_with("\x1bPtmux;\x1b\x1b]52;c;MHgwNGFi\x07\x1b\\"),
            "then through tmux's passthrough: {tmux:?}"
        );
    }

    #[test]
    fn terminal_keys_become_actions_or_text() {
        let keys = KeyMap::default();
        let app = App::new(false);
        let press = |code, modifiers| key_event(KeyEvent::new(code, modifiers), &keys, &app);
        assert_eq!(
            press(KeyCode::Enter, KeyModifiers::NONE),
            Some(Event::Action(keys::Action::Send))
        );
        assert_eq!(
            press(KeyCode::Enter, KeyModifiers::ALT),
            Some(Event::Action(keys::Action::Newline))
        );
        assert_eq!(
            press(KeyCode::Char('n'), KeyModifiers::CONTROL),
            Some(Event::Action(keys::Action::NextChat))
        );
        assert_eq!(press(KeyCode::Char('x'), KeyModifiers::NONE), Some(Event::Char('x')));
        assert_eq!(press(KeyCode::Char('X'), KeyModifiers::SHIFT), Some(Event::Char('X')));
        assert_eq!(press(KeyCode::Char('日'), KeyModifiers::NONE), Some(Event::Char('日')));
        assert_eq!(press(KeyCode::Insert, KeyModifiers::NONE), None);
    }
}
