//! The command line as clap types. `main` parses them and dispatches to the command modules.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{
    Args, Parser, Subcommand,
    builder::{PossibleValuesParser, TypedValueParser},
};
use wisp_node::LogFormat;
use wisp_rlpx::Capability;

/// Shown after the top-level `--help`.
const EXAMPLES: &str = "\
Examples:
  Run a node (key, config and databases in <data-dir>; `wisp node --help` has more):
    wisp node --listen 0.0.0.0:30303 --rpc 127.0.0.1:8545
  Create this node's key (<data-dir>/node.key) and print its enode URL:
    wisp keys new
  Print the enode URL of the key with the address other nodes should dial:
    wisp keys show --addr 203.0.113.7:30303
  Accept RLPx peers and log them:
    wisp rlpx listen --addr 0.0.0.0:30303 --log-level info
  Handshake with a node, print what it speaks, ping it three times:
    wisp rlpx ping enode://<128 hex node id>@127.0.0.1:30303 --count 3
  Start three connected nodes, post on the first and watch it arrive at the last:
    wisp devnet --nodes 3 --demo
  Create a Status chat identity (mnemonic, keystore, 3-word alias) and show it:
    wisp account new
    wisp account show
  Chat as that identity: run a node with it, then join, send and read through the node:
    wisp node --account <zQ3 key or alias> --password-file ~/.wisp-pw
    wisp chat send --public status 'hello'
    wisp chat log status --follow
  Send and watch raw messages on a Status public chat's topic through a node's JSON-RPC:
    wisp watch --rpc http://127.0.0.1:8545 --chat test
    wisp post --rpc http://127.0.0.1:8545 --chat test hello
  Sign a DNS node list (EIP-1459) of ENRs for nodes.example.org and write its zone file:
    wisp dns-tree --nodes nodes.txt --key list.key --domain nodes.example.org --seq 1
  Run a discovery bootnode, and a node that finds its peers through it:
    wisp bootnode --listen 127.0.0.1:30301
    wisp node --bootnodes enode://<128 hex node id>@127.0.0.1:30301";

/// The help heading of the options every command takes.
const GLOBAL_OPTIONS: &str = "Global options";

/// The default for `--addr`: where an enode URL points and where `listen` binds.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:30303";

/// wisp: a Status/devp2p node.
#[derive(Debug, Parser)]
#[command(name = "wisp", version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Directory of node.key and the node's databases [default: $XDG_DATA_HOME/wisp or ~/.local/share/wisp]
    #[arg(
        long,
        global = true,
        env = "WISP_DATA_DIR",
        value_name = "DIR",
        help_heading = GLOBAL_OPTIONS
    )]
    pub(crate) data_dir: Option<PathBuf>,

    /// Log filter for stderr: error, warn, info, debug, trace, or directives such as "rlpx=debug" [default: warn; for `wisp node`: [log] level in wisp.toml, or info]
    #[arg(
        long,
        global = true,
        env = "RUST_LOG",
        value_name = "LEVEL",
        value_parser = parse_log_filter,
        help_heading = GLOBAL_OPTIONS
    )]
    pub(crate) log_level: Option<String>,

    /// Log format on stderr: pretty lines, or one JSON object per line [default: pretty, or [log] format in wisp.toml for `wisp node`]
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        value_parser = PossibleValuesParser::new(["pretty", "json"])
            .map(|s| s.parse::<LogFormat>().expect("a listed format")),
        help_heading = GLOBAL_OPTIONS
    )]
    pub(crate) log_format: Option<LogFormat>,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the node's many flags costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Run a Status node (Waku relay, light client, bootstrap or mailserver) until SIGINT/SIGTERM
    Node(crate::node_cmd::NodeArgs),
    /// Create and inspect node keys (the secp256k1 key behind an enode id)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Speak RLPx to devp2p nodes: ping one, or accept connections
    #[command(subcommand)]
    Rlpx(RlpxCommand),
    /// Run N connected nodes in this process on 127.0.0.1 (a local test network)
    Devnet(crate::devnet::DevnetArgs),
    /// Send a message on a topic through a running node's JSON-RPC
    Post(crate::post_watch::PostArgs),
    /// Print the messages on a topic as they arrive at a running node (JSON-RPC)
    Watch(crate::post_watch::WatchArgs),
    /// Fetch a topic's history from a mailserver through a running node's JSON-RPC
    History(crate::history_cmd::HistoryArgs),
    /// Status chat identities: create or import from a mnemonic, show, draw identicons
    #[command(subcommand)]
    Account(crate::account_cmd::AccountCommand),
    /// Chat: the full-screen client (no command), or commands through a node run with --account
    Chat(crate::chat_cmd::ChatArgs),
    /// Sign an EIP-1459 DNS node list from ENRs and write its zone file or TXT records
    DnsTree(crate::dns_tree_cmd::DnsTreeArgs),
    /// Simulate a network of wisp routers and mailservers on a virtual clock (crates/sim)
    Sim(crate::sim_cmd::SimArgs),
    /// Run a discovery bootnode (legacy topic discovery, no Waku) and print its enode
    Bootnode(crate::bootnode_cmd::BootnodeArgs),
}

/// `wisp keys ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a node key, save it in go-ethereum's nodekey format and print its enode URL
    New(KeysNewArgs),
    /// Print the enode URL of an existing node key
    Show(KeysShowArgs),
}

/// `wisp keys new`
#[derive(Debug, Args)]
pub(crate) struct KeysNewArgs {
    /// File to write: 64 hex characters and a newline, mode 0600 [default: <data-dir>/node.key]
    #[arg(long, value_name = "PATH")]
    pub(crate) out: Option<PathBuf>,

    /// Overwrite the file if it exists (the old key is lost)
    #[arg(long)]
    pub(crate) force: bool,

    /// IP:PORT written into the printed enode URL
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR)]
    pub(crate) addr: SocketAddr,
}

/// `wisp keys show`
#[derive(Debug, Args)]
pub(crate) struct KeysShowArgs {
    /// Key file to read (64 hex characters) [default: <data-dir>/node.key]
    #[arg(long, value_name = "PATH")]
    pub(crate) key: Option<PathBuf>,

    /// IP:PORT written into the printed enode URL
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR)]
    pub(crate) addr: SocketAddr,
}

/// `wisp rlpx ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RlpxCommand {
    /// Dial a node, run the RLPx handshake and Hello, print what it speaks, ping it, disconnect
    Ping(PingArgs),
    /// Accept RLPx connections, answer Pings and log peers until Ctrl-C or SIGTERM
    Listen(ListenArgs),
}

/// `wisp rlpx ping`
#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// The node to dial: enode://<128 hex node id>@<ip>:<port>
    #[arg(value_name = "ENODE")]
    pub(crate) enode: String,

    /// Node key file [default: <data-dir>/node.key if it exists, else a fresh random key]
    #[arg(long, value_name = "PATH")]
    pub(crate) key: Option<PathBuf>,

    /// Seconds to wait for each step: TCP connect, handshake, Hello, each Pong
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub(crate) timeout: Duration,

    /// Number of Pings to send (0: only handshake and Hello)
    #[arg(long, short = 'c', value_name = "N", default_value_t = 1)]
    pub(crate) count: u32,

    /// Seconds between Pings; the peer's own Pings are answered meanwhile (0: back to back)
    #[arg(long, short = 'i', value_name = "SECS", default_value = "0", value_parser = parse_pause)]
    pub(crate) interval: Duration,

    /// Capabilities to advertise.
    #[command(flatten)]
    pub(crate) caps: CapabilityArgs,
}

/// `wisp rlpx listen`
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// IP:PORT to listen on; port 0 picks a free port (the printed enode shows the real one)
    #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR)]
    pub(crate) addr: SocketAddr,

    /// Node key file [default: <data-dir>/node.key if it exists, else a fresh random key]
    #[arg(long, value_name = "PATH")]
    pub(crate) key: Option<PathBuf>,

    /// Ping each peer every SECS seconds and log the round-trip time [default: off]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) ping_interval: Option<Duration>,

    /// Capabilities to advertise.
    #[command(flatten)]
    pub(crate) caps: CapabilityArgs,
}

/// The capabilities advertised in Hello.
#[derive(Debug, Args)]
pub(crate) struct CapabilityArgs {
    /// Also advertise shh/6 (Whisper) next to waku/1
    #[arg(long)]
    pub(crate) whisper: bool,

    /// Advanced: override advertised capabilities, e.g. "waku/1,shh/6" (128 message ids each)
    #[arg(
        long,
        value_name = "NAME/VERSION,...",
        value_delimiter = ',',
        conflicts_with = "whisper",
        value_parser = parse_capability
    )]
    pub(crate) caps: Option<Vec<Capability>>,
}

/// Parses a positive number of seconds, fractions allowed.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err("must be more than 0 seconds".into());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s} seconds is too long"))
}

/// Parses a number of seconds, zero or more, fractions allowed.
fn parse_pause(s: &str) -> Result<Duration, String> {
    if s.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

/// Checks a tracing filter (`info`, `rlpx=debug,warn`, ...).
pub(crate) fn parse_log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s).map_err(|e| e.to_string())?;
    Ok(s.to_owned())
}

/// Parses `name/version`, e.g. `waku/1`.
fn parse_capability(s: &str) -> Result<Capability, String> {
    let (name, version) =
        s.split_once('/').ok_or_else(|| format!("{s:?} is not NAME/VERSION (e.g. waku/1)"))?;
    // rlpx.md: capability names are short ASCII strings (at most 8 characters).
    if name.is_empty() || name.len() > 8 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("capability name {name:?} must be 1 to 8 ASCII letters or digits"));
    }
    let version =
        version.parse().map_err(|_| format!("capability version {version:?} is not a number"))?;
    Ok(Capability::new(name, version))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_and_command_is_documented() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help line");
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let sub_path = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "{sub_path} has no help line");
                walk(sub, &sub_path);
            }
        }
        walk(&Cli::command(), "wisp");
    }

    #[test]
    fn parses_capabilities_and_seconds() {
        assert_eq!(parse_capability("waku/1").unwrap(), Capability::new("waku", 1));
        assert!(parse_capability("waku").is_err());
        assert!(parse_capability("/1").is_err());
        assert!(parse_capability("waku/x").is_err());
        assert!(parse_capability("much-too-long/1").is_err());
        assert_eq!(parse_secs("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("NaN").is_err());
        assert!(parse_secs("1e30").is_err());
        assert_eq!(parse_pause("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_pause("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_pause("-1").is_err());
    }
}
