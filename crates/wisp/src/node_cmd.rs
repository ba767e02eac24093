//! `wisp node`: run a Status node until SIGINT or SIGTERM.
//!
//! Settings come from three places, each overriding the one before: the built-in defaults
//! (`wisp_node::NodeConfig`), `wisp.toml` (`--config FILE`, else `<data-dir>/wisp.toml` if it
//! exists), and the flags. A bad file, key or flag is a configuration error: one `error: ...`
//! line and exit code 2, before anything starts.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use clap::{
    Args,
    builder::{PossibleValuesParser, TypedValueParser},
};
use tokio::signal::unix::{SignalKind, signal};
use wisp_accounts::ChatIdentity;
use wisp_node::{
    ArchiveSpec, CONFIG_FILE_NAME, FileConfig, LogFormat, Node, NodeConfig, Role, load_config_file,
};
use wisp_rlpx::NodeRecord;

use crate::{
    account_cmd::{AccountId, UnlockError},
    cli::parse_log_filter,
    data_dir::DataDir,
    error::Error,
    print_line,
};

/// The log filter of `wisp node` when neither `--log-level`, `RUST_LOG` nor `[log] level` says.
pub(crate) const DEFAULT_NODE_LOG_LEVEL: &str = "info";

/// Shown after `wisp node --help`.
const EXAMPLES: &str = "\
Examples:
  Run a relay with the defaults (RLPx on 0.0.0.0:30303, JSON-RPC on 127.0.0.1:8545):
    wisp node
  Two nodes on one machine, the second dialling the first (use the enode the first prints):
    wisp node --data-dir /tmp/a --listen 127.0.0.1:30303 --rpc 127.0.0.1:8545
    wisp node --data-dir /tmp/b --listen 127.0.0.1:30304 --rpc 127.0.0.1:8546 \\
      --static enode://<128 hex node id>@127.0.0.1:30303
  A light client without JSON-RPC, with JSON logs for a collector:
    wisp node --role light --no-rpc --log-format json
  Settings from a file, one of them overridden; metrics for Prometheus:
    wisp node --config /etc/wisp/wisp.toml --max-peers 100 --metrics 127.0.0.1:9100

On start the node prints, one per line: `enode: <url>`, `rpc: http://<addr>`, `ws: ws://<addr>`,
`metrics: http://<addr>/metrics` (if on), `account: <zQ3 key>` and `alias: <3 words>` (with
--account) and `role: <role>`. SIGINT or SIGTERM disconnects every
peer (ClientQuitting) and exits 0. Exit codes: 0 stopped by a signal, 1 the node failed (e.g. an
address in use), 2 a bad flag or config file (the message names the key).

Find peers by themselves (legacy topic discovery through a bootnode, `wisp bootnode --help`;
or an EIP-1459 DNS tree); peers that worked are kept in <data-dir>/peers.sqlite:
    wisp node --bootnodes enode://<128 hex node id>@127.0.0.1:30301
    wisp node --dns-tree enrtree://<base32 key>@nodes.example.org

A mailserver archives what it relays and serves history (`wisp history`):
    wisp node --role mailserver --archive sqlite --retention-days 30

Chat as a Status account (create it first with `wisp account new`; `wisp chat --help` next):
    wisp node --account zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB --password-file ~/.wisp-pw
  With --account the node runs the messenger: <data-dir>/messenger.sqlite keeps chats and
  messages (encrypted with a key from the account). Messages sent to you while you were offline
  come from the mailservers given with --trusted. The role stays relay unless --role light.

wisp.toml has the tables [node], [rpc], [metrics], [waku], [mailserver], [chat], [discovery] and [log]; the README's
Configuration section lists every key with its default. Unknown keys are errors.";

/// How an address is written, in flag errors.
const ADDR_FORM: &str = "IP:PORT such as 127.0.0.1:30303 or [::1]:8545 (port 0 picks a free port)";

/// `wisp node`
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct NodeArgs {
    /// Config file; flags override its keys [default: <data-dir>/wisp.toml if it exists]
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// RLPx address to listen on; port 0 picks a free port [default: 0.0.0.0:30303]
    #[arg(long, value_name = "IP:PORT", value_parser = parse_addr)]
    pub(crate) listen: Option<SocketAddr>,

    /// JSON-RPC address, HTTP and WebSocket on one port [default: 127.0.0.1:8545]
    #[arg(long, value_name = "IP:PORT", value_parser = parse_addr, conflicts_with = "no_rpc")]
    pub(crate) rpc: Option<SocketAddr>,

    /// Do not serve JSON-RPC
    #[arg(long)]
    pub(crate) no_rpc: bool,

    /// Peer to dial and keep connected, redialled with backoff; repeatable; replaces the
    /// file's static_nodes [default: none]
    #[arg(long = "static", value_name = "ENODE", value_parser = parse_enode)]
    pub(crate) static_nodes: Vec<NodeRecord>,

    /// Trusted peer (a mailserver), also dialled; repeatable; replaces the file's
    /// trusted_nodes [default: none]
    #[arg(long = "trusted", value_name = "ENODE", value_parser = parse_enode)]
    pub(crate) trusted_nodes: Vec<NodeRecord>,

    /// What the node does: relay every envelope, light client, bootstrap (peers only, no
    /// Waku), or mailserver [default: relay]
    #[arg(
        long,
        value_name = "ROLE",
        value_parser = PossibleValuesParser::new(["relay", "light", "bootstrap", "mailserver"])
            .map(|s| s.parse::<Role>().expect("a listed role"))
    )]
    pub(crate) role: Option<Role>,

    /// Also speak shh/6 (Whisper) and bridge it with waku/1 [default: off]
    #[arg(long)]
    pub(crate) whisper: bool,

    /// The IP other nodes should dial, written into the printed enode
    /// [default: the listen IP; 127.0.0.1 when listening on 0.0.0.0]
    #[arg(long, value_name = "IP")]
    pub(crate) external_ip: Option<std::net::IpAddr>,

    /// Serve Prometheus metrics at http://IP:PORT/metrics [default: off]
    #[arg(long, value_name = "IP:PORT", value_parser = parse_addr)]
    pub(crate) metrics: Option<SocketAddr>,

    /// Most peers at once, inbound and outbound; 0 connects to no one [default: 50]
    // `allow_negative_numbers`: `--max-peers -1` is a bad value of --max-peers, not an
    // unknown flag `-1`.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) max_peers: Option<usize>,

    /// Envelopes with less proof of work are dropped; advertised to peers; 0 to 100
    /// [default: 0.000002]
    #[arg(long, value_name = "POW", value_parser = parse_min_pow, allow_negative_numbers = true)]
    pub(crate) min_pow: Option<f64>,

    /// Mailserver archive: memory, sqlite (<data-dir>/archive.sqlite), sqlite:PATH or
    /// postgres://user@host:port/db; only opened with --role mailserver [default: sqlite]
    #[arg(long, value_name = "SPEC", value_parser = parse_archive)]
    pub(crate) archive: Option<ArchiveSpec>,

    /// Mailserver: delete archived envelopes older than N days [default: 30]
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..),
        allow_negative_numbers = true
    )]
    pub(crate) retention_days: Option<u32>,

    /// Mailserver, SQLite archive: fsync every commit, so that archived envelopes survive a
    /// power cut too [default: off]
    #[arg(long)]
    pub(crate) archive_full_sync: bool,

    /// Run the Status messenger as this account (chat key 0x04…, zQ3sh… key, 3-word alias or
    /// address, as `wisp account show` prints them; its keystore in <data-dir>/keystore);
    /// `wisp chat` then talks to it [default: [chat] account in wisp.toml, else none: a plain
    /// relay]
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    pub(crate) account: Option<AccountId>,

    /// Read the account's keystore password from the first line of FILE [default: [chat]
    /// password_file in wisp.toml, else prompt on the terminal without echo, or read a line
    /// from stdin]
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,

    /// Discovery: bootnodes, DNS trees, fleets.
    #[command(flatten)]
    pub(crate) discovery: crate::discovery_args::DiscoveryArgs,
}

/// Everything `wisp node` resolved before starting.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The node's settings.
    pub(crate) config: NodeConfig,
    /// The file read, if any.
    pub(crate) file: Option<PathBuf>,
    /// The log filter.
    pub(crate) log_level: String,
    /// The log format.
    pub(crate) log_format: LogFormat,
    /// Settings that are allowed but probably not meant, logged once logging is up.
    pub(crate) warnings: Vec<String>,
    /// The unlocked account the messenger runs as, if any.
    pub(crate) account: Option<(AccountId, wisp_crypto::SecretKey)>,
}

/// The account `wisp node` runs the messenger for, and where its password comes from.
#[derive(Debug, Clone)]
struct AccountPlan {
    /// The account.
    id: AccountId,
    /// The flag or key that named it, for errors.
    id_setting: Setting,
    /// The password file, if any (else a prompt).
    password_file: Option<PathBuf>,
    /// The flag or key that named the password file, for errors.
    password_setting: Setting,
}

/// Runs `wisp node`: resolves the settings (exit 2 on a config error), starts logging, runs
/// the node until a signal.
pub(crate) fn main(
    args: &NodeArgs,
    data_dir: &DataDir,
    log_level: Option<&str>,
    log_format: Option<LogFormat>,
) -> Result<(), Error> {
    let plan = plan(args, data_dir, log_level, log_format)?;
    crate::init_tracing(&plan.log_level, plan.log_format);
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    match &plan.file {
        Some(path) => tracing::info!(path = %path.display(), "read the config file"),
        None => {
            let looked_for = plan.config.data_dir.join(CONFIG_FILE_NAME);
            tracing::info!(looked_for = %looked_for.display(), "no config file; defaults and flags")
        }
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(run(plan.config, plan.account))
}

/// Defaults, then the file, then the flags.
pub(crate) fn plan(
    args: &NodeArgs,
    data_dir: &DataDir,
    log_level: Option<&str>,
    log_format: Option<LogFormat>,
) -> Result<Plan, Error> {
    let path = match &args.config {
        Some(path) => Some(path.clone()),
        None => data_dir.path().ok().map(|dir| dir.join(CONFIG_FILE_NAME)).filter(|p| p.is_file()),
    };
    let file = match &path {
        Some(path) => load_config_file(path)?,
        None => FileConfig::default(),
    };

    let mut config = NodeConfig::default();
    file.apply(&mut config);
    config.data_dir = match (data_dir.explicit(), &file.node.data_dir) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => data_dir.path()?,
    };
    if let Some(addr) = args.listen {
        config.listen = addr;
    }
    if let Some(addr) = args.rpc {
        config.rpc = Some(addr);
    }
    if args.no_rpc {
        config.rpc = None;
    }
    if !args.static_nodes.is_empty() {
        config.static_nodes = args.static_nodes.clone();
    }
    if !args.trusted_nodes.is_empty() {
        config.trusted_nodes = args.trusted_nodes.clone();
    }
    if let Some(role) = args.role {
        config.role = role;
    }
    if args.whisper {
        config.whisper = true;
    }
    if let Some(addr) = args.metrics {
        config.metrics = Some(addr);
    }
    if let Some(ip) = args.external_ip {
        config.external_ip = Some(ip);
    }
    if let Some(n) = args.max_peers {
        config.max_peers = n;
    }
    if let Some(pow) = args.min_pow {
        config.waku.router.min_pow = pow;
    }
    if let Some(archive) = &args.archive {
        config.mailserver.archive = archive.clone();
    }
    if let Some(days) = args.retention_days {
        config.mailserver.retention_days = days;
    }
    if args.archive_full_sync {
        config.mailserver.full_sync = true;
    }
    args.discovery.apply(&mut config, &file)?;

    let log_level = match (log_level, &file.log.level) {
        (Some(level), _) => level.to_owned(),
        (None, Some(level)) => {
            parse_log_filter(level).map_err(|problem| {
                Setting::Key("log.level").error(
                    &file,
                    format!(
                        "{problem}; expected a level (error, warn, info, debug, trace) or \
                         directives such as \"node=debug,info\""
                    ),
                )
            })?;
            level.clone()
        }
        (None, None) => DEFAULT_NODE_LOG_LEVEL.to_owned(),
    };
    let log_format = log_format.or(file.log.format).unwrap_or_default();

    // Where the node will write: checked now, so that a bad directory is a configuration
    // error naming its setting (exit 2), not a start failure (exit 1).
    let data_dir_setting = match (data_dir.explicit(), &file.node.data_dir) {
        (Some(_), _) => Setting::Flag("--data-dir (or $WISP_DATA_DIR)"),
        (None, Some(_)) => Setting::Key("node.data_dir"),
        (None, None) => Setting::Flag("the default data directory (set --data-dir)"),
    };
    if let Err(problem) = writable_dir(&config.data_dir) {
        return Err(data_dir_setting.error(
            &file,
            format!(
                "{} is not usable: {problem}; expected a directory this user can write",
                config.data_dir.display()
            ),
        ));
    }
    if config.role == Role::Mailserver
        && let ArchiveSpec::SqliteAt(db) = &config.mailserver.archive
    {
        let setting = if args.archive.is_some() {
            Setting::Flag("--archive")
        } else {
            Setting::Key("mailserver.archive")
        };
        if let Err(problem) = writable_file(db) {
            return Err(setting.error(
                &file,
                format!(
                    "sqlite:{} is not usable: {problem}; expected sqlite:PATH of a file this user \
                     can create or write, in an existing directory",
                    db.display()
                ),
            ));
        }
    }

    let mut warnings = Vec::new();
    if config.max_peers == 0 {
        let source = if args.max_peers.is_some() { "--max-peers" } else { "node.max_peers" };
        warnings.push(format!(
            "{source} is 0: the node will neither accept nor dial peers, so it relays nothing"
        ));
    }
    let account = match account_plan(args, &file)? {
        Some(wanted) => Some(unlock(&wanted, &config.data_dir, &file)?),
        None => None,
    };
    Ok(Plan { config, file: path, log_level, log_format, warnings, account })
}

/// The account named by `--account` or `[chat] account`, if any.
fn account_plan(args: &NodeArgs, file: &FileConfig) -> Result<Option<AccountPlan>, Error> {
    let (password_file, password_setting) = match (&args.password_file, &file.chat.password_file) {
        (Some(path), _) => (Some(path.clone()), Setting::Flag("--password-file")),
        (None, Some(path)) => (Some(path.clone()), Setting::Key("chat.password_file")),
        (None, None) => (None, Setting::Flag("--password-file (prompted)")),
    };
    let (id, id_setting) = match (&args.account, &file.chat.account) {
        (Some(id), _) => (id.clone(), Setting::Flag("--account")),
        (None, Some(text)) => {
            let id = AccountId::parse(text)
                .map_err(|problem| Setting::Key("chat.account").error(file, problem))?;
            (id, Setting::Key("chat.account"))
        }
        (None, None) => {
            if args.password_file.is_some() {
                return Err(Error::Setting {
                    name: "--password-file",
                    message: "given without an account; add --account ID (or [chat] account \
                              in wisp.toml)"
                        .into(),
                });
            }
            return Ok(None);
        }
    };
    Ok(Some(AccountPlan { id, id_setting, password_file, password_setting }))
}

/// Opens the account's keystore; errors name the flag or key at fault.
fn unlock(
    wanted: &AccountPlan,
    data_dir: &Path,
    file: &FileConfig,
) -> Result<(AccountId, wisp_crypto::SecretKey), Error> {
    match crate::account_cmd::unlock(data_dir, &wanted.id, wanted.password_file.as_deref()) {
        Ok(key) => Ok((wanted.id.clone(), key)),
        Err(e @ UnlockError::Unknown { .. }) => Err(wanted.id_setting.error(file, e.to_string())),
        Err(e @ UnlockError::WrongPassword { .. }) => {
            Err(wanted.password_setting.error(file, e.to_string()))
        }
        Err(UnlockError::Account(e)) => Err(wanted.password_setting.error(file, e.to_string())),
    }
}

/// Where a setting came from, to name it in an error.
#[derive(Clone, Copy, Debug)]
enum Setting {
    /// A command-line flag (or what stands in for one).
    Flag(&'static str),
    /// A `wisp.toml` key, placed in the file.
    Key(&'static str),
}

impl Setting {
    fn error(self, file: &FileConfig, message: String) -> Error {
        match self {
            Self::Flag(flag) => Error::Setting { name: flag, message },
            Self::Key(key) => Error::Config(file.invalid(key, message)),
        }
    }
}

/// Creates `dir` if needed (mode 0700, as the node would: it holds the node key) and checks
/// that a file can be created in it.
fn writable_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| crate::error::io_reason(&e))?;
    if !dir.is_dir() {
        return Err("it is not a directory".into());
    }
    let probe = dir.join(format!(".wisp-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot create a file in it: {}", crate::error::io_reason(&e)))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Checks that the database file `path` can be opened for writing, or created.
fn writable_file(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err("it is a directory".into());
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| crate::error::io_reason(&e));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!("its directory {} does not exist", parent.display()));
    }
    let probe = parent.join(format!(".wisp-probe-{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).map_err(|e| {
        format!("cannot create a file in {}: {}", parent.display(), crate::error::io_reason(&e))
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Starts the node, prints where it is, and waits for SIGINT or SIGTERM.
async fn run(
    mut config: NodeConfig,
    account: Option<(AccountId, wisp_crypto::SecretKey)>,
) -> Result<(), Error> {
    // Handlers first: a signal that arrives after the printed lines must not kill us.
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;

    let role = config.role;
    let identity = account.as_ref().map(|(_, key)| ChatIdentity::of(&key.public_key()));
    if let Some((_, key)) = account {
        config.chat = Some(wisp_node::ChatConfig::new(key));
    }
    tracing::info!(data_dir = %config.data_dir.display(), "starting");
    let node = Node::start(config).await.map_err(Error::NodeStart)?;
    let mut lines = vec![format!("enode: {}", node.enode())];
    if let Some(addr) = node.rpc_addr() {
        lines.push(format!("rpc: http://{addr}"));
        lines.push(format!("ws: ws://{addr}"));
    }
    if let Some(addr) = node.metrics_addr() {
        lines.push(format!("metrics: http://{addr}/metrics"));
    }
    if let Some(identity) = &identity {
        lines.push(format!("account: {}", identity.compressed_key));
        lines.push(format!("alias: {}", identity.alias));
    }
    lines.push(format!("role: {role}"));
    if let Err(e) = print_line(&lines.join("\n")) {
        node.shutdown().await;
        return Err(e);
    }

    let signal = tokio::select! {
        _ = sigint.recv() => "SIGINT",
        _ = sigterm.recv() => "SIGTERM",
    };
    tracing::info!("{signal}: disconnecting peers and shutting down");
    tokio::select! {
        () = node.shutdown() => {}
        _ = sigint.recv() => return Err(Error::Interrupted),
        _ = sigterm.recv() => return Err(Error::Interrupted),
    }
    tracing::info!("stopped");
    Ok(())
}

/// `IP:PORT`, with a message that shows the form.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("expected {ADDR_FORM}"))
}

/// An enode URL; the error says which part is wrong.
fn parse_enode(s: &str) -> Result<NodeRecord, String> {
    s.parse().map_err(|e: wisp_rlpx::EnodeError| e.to_string())
}

/// A mailserver archive: `memory`, `sqlite`, `sqlite:PATH` or a PostgreSQL URL.
fn parse_archive(s: &str) -> Result<ArchiveSpec, String> {
    s.parse().map_err(|e: wisp_node::ArchiveSpecError| e.to_string())
}

/// An account as `wisp account show` prints it.
fn parse_account(s: &str) -> Result<AccountId, String> {
    AccountId::parse(s)
}

/// A minimum PoW: a number from 0 to [`wisp_node::MAX_MIN_POW`].
fn parse_min_pow(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(pow) if (0.0..=wisp_node::MAX_MIN_POW).contains(&pow) => Ok(pow),
        _ => Err("expected a number from 0 to 100, such as 0.000002".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("wisp-node-cmd-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Parses `wisp node ARGS...` (with `--data-dir dir`) and plans it.
    fn plan_of(dir: &Path, args: &[&str]) -> Result<Plan, Error> {
        let mut argv = vec!["wisp", "node", "--data-dir", dir.to_str().unwrap()];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Node(node_args) = &cli.command else { panic!("not node") };
        plan(
            node_args,
            &DataDir::new(cli.data_dir.clone()),
            cli.log_level.as_deref(),
            cli.log_format,
        )
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let scratch = Scratch::new("precedence");
        let plan = plan_of(&scratch.0, &[]).unwrap();
        assert_eq!(plan.file, None);
        assert_eq!(plan.config.listen, NodeConfig::default().listen);
        assert_eq!(plan.config.data_dir, scratch.0);
        assert_eq!((plan.log_level.as_str(), plan.log_format), ("info", LogFormat::Pretty));

        // <data-dir>/wisp.toml is read without --config.
        let file = scratch.0.join("wisp.toml");
        fs::write(
            &file,
            "[node]\nlisten = \"127.0.0.1:1\"\nmax_peers = 5\nrole = \"light\"\n\
             [rpc]\nenabled = false\n[log]\nlevel = \"debug\"\nformat = \"json\"\n",
        )
        .unwrap();
        let plan = plan_of(&scratch.0, &[]).unwrap();
        assert_eq!(plan.file.as_deref(), Some(file.as_path()));
        assert_eq!(plan.config.listen, "127.0.0.1:1".parse().unwrap());
        assert_eq!(
            (plan.config.max_peers, plan.config.role, plan.config.rpc),
            (5, Role::Light, None)
        );
        assert_eq!((plan.log_level.as_str(), plan.log_format), ("debug", LogFormat::Json));

        let plan = plan_of(
            &scratch.0,
            &[
                "--listen",
                "127.0.0.1:2",
                "--rpc",
                "127.0.0.1:3",
                "--role",
                "relay",
                "--log-level",
                "warn",
                "--log-format",
                "pretty",
                "--max-peers",
                "9",
                "--min-pow",
                "0.5",
                "--whisper",
                "--metrics",
                "127.0.0.1:0",
            ],
        )
        .unwrap();
        let c = &plan.config;
        assert_eq!(c.listen, "127.0.0.1:2".parse().unwrap());
        assert_eq!(c.rpc, Some("127.0.0.1:3".parse().unwrap()));
        assert_eq!((c.role, c.max_peers, c.whisper), (Role::Relay, 9, true));
        assert_eq!(c.metrics, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(c.waku.router.min_pow, 0.5);
        assert_eq!((plan.log_level.as_str(), plan.log_format), ("warn", LogFormat::Pretty));
    }

    #[test]
    fn flags_replace_the_files_peer_lists_and_no_rpc_wins() {
        let scratch = Scratch::new("lists");
        let id = |b| wisp_crypto::SecretKey::from_bytes(&[b; 32]).unwrap().public_key().node_id();
        let (a, b) =
            (format!("enode://{}@127.0.0.1:1", id(1)), format!("enode://{}@127.0.0.1:2", id(2)));
        let file = scratch.0.join("custom.toml");
        fs::write(&file, format!("[node]\nstatic_nodes = [\"{a}\"]\ntrusted_nodes = [\"{a}\"]\n"))
            .unwrap();
        let path = file.to_str().unwrap();
        let plan = plan_of(&scratch.0, &["--config", path]).unwrap();
        assert_eq!(plan.config.static_nodes[0].to_string(), a);
        let plan =
            plan_of(&scratch.0, &["--config", path, "--static", &b, "--trusted", &b, "--no-rpc"])
                .unwrap();
        assert_eq!(plan.config.static_nodes.len(), 1);
        assert_eq!(plan.config.static_nodes[0].to_string(), b);
        assert_eq!(plan.config.trusted_nodes[0].to_string(), b);
        assert_eq!(plan.config.rpc, None);
    }

    #[test]
    fn the_files_data_dir_applies_unless_a_flag_says_otherwise() {
        let scratch = Scratch::new("data-dir");
        let file = scratch.0.join("w.toml");
        fs::write(&file, "[node]\ndata_dir = \"sub\"\n").unwrap();
        let path = file.to_str().unwrap();
        let cli = Cli::try_parse_from(["wisp", "node", "--config", path]).unwrap();
        let Command::Node(args) = &cli.command else { panic!() };
        let plan = plan(args, &DataDir::new(None), None, None).unwrap();
        assert_eq!(plan.config.data_dir, scratch.0.join("sub"));
        let plan = plan_of(&scratch.0.join("flag"), &["--config", path]).unwrap();
        assert_eq!(plan.config.data_dir, scratch.0.join("flag"));
    }

    #[test]
    fn config_errors_exit_2_and_name_the_key_or_file() {
        let scratch = Scratch::new("errors");
        let missing = scratch.0.join("missing.toml");
        let err = plan_of(&scratch.0, &["--config", missing.to_str().unwrap()]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");

        fs::write(scratch.0.join("wisp.toml"), "[log]\nlevel = \"node=lots\"\n").unwrap();
        let err = plan_of(&scratch.0, &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("key `log.level`"), "{err}");
        // A flag wins over the bad file value without reading it.
        assert_eq!(plan_of(&scratch.0, &["--log-level", "info"]).unwrap().log_level, "info");
    }

    #[test]
    fn archive_flags_override_the_mailserver_table() {
        let scratch = Scratch::new("archive");
        fs::write(
            scratch.0.join("wisp.toml"),
            "[mailserver]\narchive = \"memory\"\nretention_days = 7\n",
        )
        .unwrap();
        let plan = plan_of(&scratch.0, &[]).unwrap();
        assert_eq!(plan.config.mailserver.archive, ArchiveSpec::Memory);
        assert_eq!(plan.config.mailserver.retention_days, 7);
        let plan = plan_of(
            &scratch.0,
            &["--role", "mailserver", "--archive", "sqlite:/tmp/x.db", "--retention-days", "2"],
        )
        .unwrap();
        assert_eq!(plan.config.role, Role::Mailserver);
        assert_eq!(plan.config.mailserver.archive, ArchiveSpec::SqliteAt("/tmp/x.db".into()));
        assert_eq!(plan.config.mailserver.retention_days, 2);
        assert!(!plan.config.mailserver.full_sync);
        let plan = plan_of(&scratch.0, &["--archive-full-sync"]).unwrap();
        assert!(plan.config.mailserver.full_sync);
        fs::write(scratch.0.join("wisp.toml"), "[mailserver]\nfull_sync = true\n").unwrap();
        assert!(plan_of(&scratch.0, &[]).unwrap().config.mailserver.full_sync);

        fs::write(scratch.0.join("wisp.toml"), "[mailserver]\narchve = \"memory\"\n").unwrap();
        let err = plan_of(&scratch.0, &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("key `mailserver.archve`"), "{err}");
    }

    #[test]
    fn flag_values_are_checked_by_the_parser() {
        for args in [
            &["--listen", "abc"][..],
            &["--rpc", "localhost:1"],
            &["--metrics", "1.2.3.4"],
            &["--static", "enode://abcd@1.2.3.4:1"],
            &["--trusted", "x"],
            &["--role", "full"],
            &["--max-peers=-1"],
            &["--max-peers", "-1"],
            &["--min-pow=-1"],
            &["--min-pow", "-1"],
            &["--min-pow", "1e308"],
            &["--retention-days", "-1"],
            &["--min-pow", "inf"],
            &["--log-format", "xml"],
            &["--rpc", "127.0.0.1:1", "--no-rpc"],
            &["--archive", "mysql"],
            &["--retention-days", "0"],
        ] {
            let mut argv = vec!["wisp", "node"];
            argv.extend_from_slice(args);
            let err = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            let text = err.to_string();
            let flag = args[0].split('=').next().unwrap();
            assert!(text.contains(flag), "{args:?}: {text}");
        }
        assert_eq!(parse_min_pow("0").unwrap(), 0.0);
        assert!(parse_addr("[::1]:0").is_ok());
    }

    #[test]
    fn account_is_found_by_any_of_its_names_and_unlocked() {
        use wisp_accounts::{Kdf, ScryptParams};
        let scratch = Scratch::new("account");
        let keystore = scratch.0.join("keystore");
        let key = wisp_crypto::SecretKey::from_bytes(&[5; 32]).unwrap();
        let other = wisp_crypto::SecretKey::from_bytes(&[6; 32]).unwrap();
        let light = Kdf::Scrypt(ScryptParams::LIGHT);
        crate::account_cmd::write_keystore(&keystore, &key, "right", light).unwrap();
        crate::account_cmd::write_keystore(&keystore, &other, "other", light).unwrap();
        let password = scratch.0.join("pw");
        fs::write(&password, "right\n").unwrap();
        let pw = password.to_str().unwrap();
        let identity = ChatIdentity::of(&key.public_key());
        for id in [
            identity.compressed_key.clone(),
            identity.public_key_hex(),
            identity.checksum_address(),
            identity.alias.clone(),
            identity.alias.to_lowercase(),
        ] {
            let plan = plan_of(&scratch.0, &["--account", &id, "--password-file", pw])
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            let (_, unlocked) = plan.account.expect("an account");
            assert_eq!(unlocked.public_key(), key.public_key(), "{id}");
        }
        // Without --account the node is a plain relay.
        assert!(plan_of(&scratch.0, &[]).unwrap().account.is_none());

        // [chat] in the file, the password file relative to it.
        fs::write(
            scratch.0.join("wisp.toml"),
            format!("[chat]\naccount = \"{}\"\npassword_file = \"pw\"\n", identity.alias),
        )
        .unwrap();
        let (_, unlocked) = plan_of(&scratch.0, &[]).unwrap().account.unwrap();
        assert_eq!(unlocked.public_key(), key.public_key());
        for (toml, key) in [
            ("[chat]\nacount = \"x\"\n", "key `chat.acount`"),
            ("[chat]\naccount = \"0x1234\"\n", "key `chat.account`"),
        ] {
            fs::write(scratch.0.join("wisp.toml"), toml).unwrap();
            let err = plan_of(&scratch.0, &[]).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(key), "{err}");
        }
        fs::remove_file(scratch.0.join("wisp.toml")).unwrap();

        fs::write(&password, "wrong\n").unwrap();
        let err =
            plan_of(&scratch.0, &["--account", &identity.compressed_key, "--password-file", pw])
                .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.starts_with("--password-file: wrong password for account zQ3"), "{text}");

        let stranger = wisp_crypto::SecretKey::from_bytes(&[9; 32]).unwrap().public_key();
        let stranger = wisp_accounts::compress_public_key(&stranger);
        let err =
            plan_of(&scratch.0, &["--account", &stranger, "--password-file", pw]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.starts_with("--account: no account zQ3"), "{text}");
        assert!(text.contains(&identity.checksum_address()), "lists the known ones: {text}");

        let err = plan_of(&scratch.0, &["--password-file", pw]).unwrap_err();
        assert!(err.to_string().starts_with("--password-file: given without an account"), "{err}");
        for bad in ["", "0x1234", "two words", "zQ3shbad"] {
            let argv = ["wisp", "node", "--account", bad];
            let err = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(err.contains("--account"), "{bad:?}: {err}");
        }
    }
}
