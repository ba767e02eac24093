//! `wisp.toml`: the node's configuration file, loaded onto [`NodeConfig`].
//!
//! Every table and key is optional; an absent key keeps the built-in default of
//! [`NodeConfig`] (or of [`wisp_waku::RouterConfig`]). An unknown key or a malformed value is
//! an error that names the file, the line and column, the key (`node.listen`) and the form
//! expected: status-go silently ignored unknown keys, and its operators paid for it.
//!
//! ```toml
//! [node]
//! listen = "0.0.0.0:30303"
//! role = "relay"                # relay | light | bootstrap | mailserver
//! static_nodes = ["enode://<128 hex node id>@203.0.113.7:30303"]
//!
//! [rpc]
//! listen = "127.0.0.1:8545"
//! max_connections = 256
//! max_filters = 1000
//!
//! [waku]
//! min_pow = 0.000002
//!
//! [mailserver]                 # used with role = "mailserver"
//! archive = "sqlite"            # memory | sqlite | sqlite:PATH | postgres://user@host:port/db
//! retention_days = 30
//! full_sync = false             # SQLite: fsync every commit (power-loss safe)
//!
//! [chat]                       # read by `wisp node`: run the messenger as this account
//! account = "zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB"
//! password_file = "password"    # relative to this file's directory
//! vi_keys = false               # `wisp chat`: vi-style keys too
//! notify = "bell"               # `wisp chat`: bell for a 1:1 message or a mention elsewhere; or "none"
//!
//! [chat.keys]                  # `wisp chat` key bindings: action = key
//! next_chat = "ctrl-n"
//!
//! [log]
//! level = "info"
//! format = "json"               # pretty | json
//! ```
//!
//! ```
//! # fn main() -> Result<(), wisp_node::ConfigError> {
//! let file = wisp_node::FileConfig::parse("[node]\nmax_peers = 10\n")?;
//! let mut config = wisp_node::NodeConfig::default();
//! file.apply(&mut config);
//! assert_eq!(config.max_peers, 10);
//! # Ok(())
//! # }
//! ```

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use serde::{
    Deserialize, Deserializer,
    de::{self, Unexpected, Visitor},
};
use wisp_rlpx::NodeRecord;
use wisp_waku::ratelimit::Limit;

use crate::config::{NodeConfig, Role};

/// The file's name inside the data directory, read when no `--config` is given.
pub const CONFIG_FILE_NAME: &str = "wisp.toml";

/// Highest minimum PoW (`waku.min_pow`, `--min-pow`, `waku_setMinPoW`). PoW is
/// 2^(leading zero bits of the hash) / (size × TTL): at 100, a 1 KiB envelope with a 10 s TTL
/// already takes about 2^20 hashes to seal, and every higher value only makes posting (and
/// accepting peers' envelopes) impossible sooner.
pub const MAX_MIN_POW: f64 = 100.0;
/// Smallest `waku.max_message_size` (and `waku_setMaxMessageSize`): below 1 KiB not even a
/// short signed message fits in an envelope.
pub const MIN_MAX_MESSAGE_SIZE: u32 = 1024;
/// Largest `waku.max_message_size`: the ceiling of 9/WAKU-RPC and status-go,
/// [`crate::rpc::MAX_MESSAGE_SIZE_LIMIT`] (10 MiB), which keeps the largest envelope inside
/// one 16 MiB RLPx frame with its packet overhead.
pub const MAX_MAX_MESSAGE_SIZE: u32 = crate::rpc::MAX_MESSAGE_SIZE_LIMIT;

/// How an address is written, in error messages.
const ADDR_FORM: &str = "IP:PORT such as 0.0.0.0:30303 or [::1]:8545 (port 0 picks a free port)";
/// How an enode URL is written, in error messages.
const ENODE_FORM: &str = "enode://<128 hex node id>@<ip>:<port>";

/// Why `wisp.toml` could not be used. Both kinds are configuration errors (`wisp` exits 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read config file {}: {}", path.display(), read_reason(source))]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key is unknown, or a value is malformed.
    #[error("{}", invalid_text(path, *position, key.as_deref(), message))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line and column (from 1) of the offending key or value, when known.
        position: Option<(usize, usize)>,
        /// The dotted key, e.g. `node.listen`, when known.
        key: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
}

fn read_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

fn invalid_text(
    path: &Path,
    position: Option<(usize, usize)>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut text = path.display().to_string();
    if let Some((line, column)) = position {
        text.push_str(&format!(":{line}:{column}"));
    }
    if let Some(key) = key {
        text.push_str(&format!(": key `{key}`"));
    }
    text.push_str(": ");
    text.push_str(message);
    text
}

/// Log output format (`[log] format`, `--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format {other:?}: expected pretty or json")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        })
    }
}

/// The whole of `wisp.toml`. Every field is optional: `None` keeps the default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table")]
pub struct FileConfig {
    /// `[node]`: data directory, listener, role, peers.
    pub node: NodeSection,
    /// `[rpc]`: the JSON-RPC server (HTTP and WebSocket on one port).
    pub rpc: RpcSection,
    /// `[metrics]`: the Prometheus endpoint.
    pub metrics: MetricsSection,
    /// `[waku]`: the Waku router.
    pub waku: WakuSection,
    /// `[log]`: logging (applied by the `wisp` binary, not by [`FileConfig::apply`]).
    pub log: LogSection,
    /// `[mailserver]`: the archive and history service of the mailserver role.
    pub mailserver: MailserverSection,
    /// `[chat]`: the account whose messenger the node runs (read by the `wisp` binary, which
    /// unlocks the keystore; not by [`FileConfig::apply`]).
    pub chat: ChatSection,
    /// `[discovery]`: legacy discovery, DNS trees, the peer pool, fleets.
    pub discovery: crate::discovery::section::DiscoverySection,
    /// The file and text this was parsed from, to place errors found later.
    #[serde(skip)]
    origin: Option<Arc<(PathBuf, String)>>,
}

/// `[mailserver]`: settings of the mailserver role (ignored by the other roles).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of mailserver settings")]
pub struct MailserverSection {
    /// `archive`: `memory`, `sqlite` (`<data-dir>/archive.sqlite`), `sqlite:PATH` or
    /// `postgres://user@host:port/db`. Default: sqlite.
    #[serde(deserialize_with = "archive")]
    pub archive: Option<wisp_mailserver::ArchiveSpec>,
    /// `retention_days`: envelopes older than this many days are deleted. Default: 30.
    #[serde(deserialize_with = "positive_u32")]
    pub retention_days: Option<u32>,
    /// `password`: the password whose key opens history requests.
    /// Default: `status-offline-inbox`.
    #[serde(deserialize_with = "string")]
    pub password: Option<String>,
    /// `full_sync`: a SQLite archive fsyncs every commit (survives a power cut, not only a
    /// crash). Default: false.
    #[serde(deserialize_with = "boolean")]
    pub full_sync: Option<bool>,
    /// `archive_queue_bytes`: bytes of accepted envelopes that may wait for the archive before
    /// new ones go unarchived (and unacknowledged). Default: 67108864 (64 MiB).
    #[serde(deserialize_with = "positive_usize")]
    pub archive_queue_bytes: Option<usize>,
}

/// `[chat]`: which account `wisp node` runs the messenger for (`--account`,
/// `--password-file` override these keys).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of chat settings")]
pub struct ChatSection {
    /// `account`: the chat key (`0x04…`, `zQ3sh…`), 3-word alias or address of an account in
    /// `<data-dir>/keystore`. Default: none (a plain relay).
    #[serde(deserialize_with = "string")]
    pub account: Option<String>,
    /// `password_file`: the file whose first line is the keystore's password; a relative path
    /// is relative to the file's directory. Default: none (the password is prompted for).
    #[serde(deserialize_with = "path")]
    pub password_file: Option<PathBuf>,
    /// `vi_keys`: `wisp chat` (the terminal client) also takes vi-style keys (Esc, then j/k,
    /// J/K, i). Default: false.
    pub vi_keys: Option<bool>,
    /// `bell`: `wisp chat` rings the terminal bell for a 1:1 message or a mention in a chat
    /// that is not open. Default: true. `notify` wins when both are set.
    pub bell: Option<bool>,
    /// `notify`: how `wisp chat` tells of a 1:1 message or a mention in a chat that is not
    /// open: `"bell"` (the terminal bell) or `"none"`; the `wisp` binary checks the value.
    /// Default: `"bell"`.
    #[serde(deserialize_with = "string")]
    pub notify: Option<String>,
    /// `[chat.keys]`: `wisp chat` key bindings, action = key (`next_chat = "ctrl-j"`); the
    /// `wisp` binary checks the names and keys.
    pub keys: std::collections::BTreeMap<String, String>,
}

/// `[node]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of node settings")]
pub struct NodeSection {
    /// `data_dir`: where `node.key` and the databases live; a relative path is relative to the
    /// file's directory, `~/` is the home directory. Default: `~/.local/share/wisp`.
    #[serde(deserialize_with = "path")]
    pub data_dir: Option<PathBuf>,
    /// `listen`: the RLPx address. Default: `0.0.0.0:30303`.
    #[serde(deserialize_with = "addr")]
    pub listen: Option<SocketAddr>,
    /// `role`: relay, light, bootstrap or mailserver. Default: relay.
    #[serde(deserialize_with = "role")]
    pub role: Option<Role>,
    /// `external_ip`: the IP other nodes should dial, put in the enode. Default: the listen
    /// IP (127.0.0.1 when listening on 0.0.0.0).
    #[serde(deserialize_with = "ip")]
    pub external_ip: Option<IpAddr>,
    /// `whisper`: also speak `shh/6`. Default: false.
    #[serde(deserialize_with = "boolean")]
    pub whisper: Option<bool>,
    /// `static_nodes`: enode URLs to dial and keep dialling. Default: none.
    #[serde(deserialize_with = "enodes")]
    pub static_nodes: Option<Vec<NodeRecord>>,
    /// `trusted_nodes`: enode URLs trusted for P2P messages (mailservers); also dialled.
    /// Default: none.
    #[serde(deserialize_with = "enodes")]
    pub trusted_nodes: Option<Vec<NodeRecord>>,
    /// `max_peers`: most peers at once. Default: 50.
    #[serde(deserialize_with = "count")]
    pub max_peers: Option<usize>,
    /// `max_inbound`: most inbound peers (at most `max_peers`). Default: 40.
    #[serde(deserialize_with = "count")]
    pub max_inbound: Option<usize>,
    /// `ping_interval_secs`: seconds between Pings to each peer. Default: 15.
    #[serde(deserialize_with = "secs")]
    pub ping_interval_secs: Option<Duration>,
    /// `redial_min_secs`: first redial delay of a static node, doubled per failure.
    /// Default: 1.
    #[serde(deserialize_with = "secs")]
    pub redial_min_secs: Option<Duration>,
    /// `redial_max_secs`: longest redial delay. Default: 60.
    #[serde(deserialize_with = "secs")]
    pub redial_max_secs: Option<Duration>,
    /// `dial_timeout_secs`: how long a dial (TCP, handshake, Hello) may take. Default: 10.
    #[serde(deserialize_with = "secs")]
    pub dial_timeout_secs: Option<Duration>,
    /// `handshake_timeout_secs`: how long the RLPx auth/ack exchange may take in all.
    /// Default: 5.
    #[serde(deserialize_with = "secs")]
    pub handshake_timeout_secs: Option<Duration>,
    /// `hello_timeout_secs`: how long the peer's Hello may take. Default: 5.
    #[serde(deserialize_with = "secs")]
    pub hello_timeout_secs: Option<Duration>,
    /// `max_pending_handshakes`: most inbound connections in their handshake at once; more
    /// are closed at accept. Default: 100.
    #[serde(deserialize_with = "positive_count")]
    pub max_pending_handshakes: Option<usize>,
    /// `max_peers_per_ip`: most inbound connections from one IP address. Default: 8.
    #[serde(deserialize_with = "positive_count")]
    pub max_peers_per_ip: Option<usize>,
    /// `limit_loopback`: apply the per-IP limits and IP bans to loopback too. Default: false.
    #[serde(deserialize_with = "boolean")]
    pub limit_loopback: Option<bool>,
    /// `slow_peer_grace_secs`: how long a peer's outgoing queue may stay full before it is
    /// dropped. Default: 10.
    #[serde(deserialize_with = "secs")]
    pub slow_peer_grace_secs: Option<Duration>,
}

/// `[rpc]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of JSON-RPC settings")]
pub struct RpcSection {
    /// `enabled`: serve JSON-RPC. Default: true.
    #[serde(deserialize_with = "boolean")]
    pub enabled: Option<bool>,
    /// `listen`: the HTTP and WebSocket address. Default: `127.0.0.1:8545`.
    #[serde(deserialize_with = "addr")]
    pub listen: Option<SocketAddr>,
    /// `max_connections`: most connections at once; the next get 503. Default: 256.
    #[serde(deserialize_with = "positive_u32")]
    pub max_connections: Option<u32>,
    /// `header_timeout_secs`: seconds to send a request's headers, and the longest a
    /// keep-alive connection may sit idle. Default: 10.
    #[serde(deserialize_with = "secs")]
    pub header_timeout_secs: Option<Duration>,
    /// `body_timeout_secs`: seconds to send a request's body; then 408 and the connection is
    /// closed. Default: 30.
    #[serde(deserialize_with = "secs")]
    pub body_timeout_secs: Option<Duration>,
    /// `max_batch`: most calls in one batch request. Default: 100.
    #[serde(deserialize_with = "positive_u32")]
    pub max_batch: Option<u32>,
    /// `max_filters`: most message filters and subscriptions open at once. Default: 1000.
    #[serde(deserialize_with = "positive_count")]
    pub max_filters: Option<usize>,
}

/// `[metrics]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of metrics settings")]
pub struct MetricsSection {
    /// `listen`: serve Prometheus metrics at `http://<listen>/metrics`. Default: absent (off).
    #[serde(deserialize_with = "addr")]
    pub listen: Option<SocketAddr>,
}

/// `[waku]`: the operator-facing fields of [`wisp_waku::RouterConfig`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of Waku settings")]
pub struct WakuSection {
    /// `min_pow`: envelopes with less PoW are dropped; advertised to peers. Default: 0.000002.
    /// From 0 to [`MAX_MIN_POW`].
    #[serde(deserialize_with = "min_pow")]
    pub min_pow: Option<f64>,
    /// `max_message_size`: largest envelope accepted, in bytes, from [`MIN_MAX_MESSAGE_SIZE`]
    /// to [`MAX_MAX_MESSAGE_SIZE`]. Default: 1048576 (1 MiB).
    #[serde(deserialize_with = "message_size")]
    pub max_message_size: Option<usize>,
    /// `confirmations`: send Message Response and Batch Ack. Default: false.
    #[serde(deserialize_with = "boolean")]
    pub confirmations: Option<bool>,
    /// `sync_allowance_secs`: seconds an envelope may be dated in the future. Default: 10.
    #[serde(deserialize_with = "count_u32")]
    pub sync_allowance_secs: Option<u32>,
    /// `max_future_offences`: future-dated envelopes a peer may send before it is dropped.
    /// Default: 3.
    #[serde(deserialize_with = "count_u32")]
    pub max_future_offences: Option<u32>,
    /// `transmission_cycle_ms`: milliseconds between Messages batches. Default: 300.
    #[serde(deserialize_with = "positive_u64")]
    pub transmission_cycle_ms: Option<u64>,
    /// `status_timeout_ms`: milliseconds a peer has to send its Status. Default: 5000.
    #[serde(deserialize_with = "positive_u64")]
    pub status_timeout_ms: Option<u64>,
    /// `refuse_light_peers`: as a light node, refuse light peers. Default: true.
    #[serde(deserialize_with = "boolean")]
    pub refuse_light_peers: Option<bool>,
    /// `bridge`: relay between `waku/1` and `shh/6` peers. Default: true.
    #[serde(deserialize_with = "boolean")]
    pub bridge: Option<bool>,
    /// `peer_packets_per_sec`: packets per second from one peer; 0 is no limit. Default: 100.
    #[serde(deserialize_with = "rate")]
    pub peer_packets_per_sec: Option<u64>,
    /// `peer_bytes_per_sec`: bytes per second from one peer; 0 is no limit.
    /// Default: 10000000.
    #[serde(deserialize_with = "rate")]
    pub peer_bytes_per_sec: Option<u64>,
    /// `ip_packets_per_sec`: packets per second from one IP address; 0 is no limit.
    /// Default: 200.
    #[serde(deserialize_with = "rate")]
    pub ip_packets_per_sec: Option<u64>,
    /// `ip_bytes_per_sec`: bytes per second from one IP address; 0 is no limit.
    /// Default: 20000000.
    #[serde(deserialize_with = "rate")]
    pub ip_bytes_per_sec: Option<u64>,
    /// `rate_limit_tolerance_secs`: seconds' worth of traffic that may arrive at once before a
    /// rate limit bites (all four limits). Default: 2.
    #[serde(deserialize_with = "positive")]
    pub rate_limit_tolerance_secs: Option<f64>,
    /// `future_offence_decay_secs`: seconds after which one future-dated envelope is
    /// forgiven; 0 never forgives. Default: 60.
    #[serde(deserialize_with = "count_u32")]
    pub future_offence_decay_secs: Option<u32>,
    /// `pool_max_envelopes`: most envelopes in the pool. Default: 100000.
    #[serde(deserialize_with = "positive_usize")]
    pub pool_max_envelopes: Option<usize>,
    /// `pool_max_bytes`: most bytes of envelopes in the pool. Default: 67108864 (64 MiB).
    #[serde(deserialize_with = "positive_usize")]
    pub pool_max_bytes: Option<usize>,
    /// `pool_peer_share`: the share of each pool cap one peer's envelopes may take (above 1
    /// counts as 1). Default: 0.25.
    #[serde(deserialize_with = "positive")]
    pub pool_peer_share: Option<f64>,
}

/// `[log]`. The binary applies it: a library does not install a logger.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of log settings")]
pub struct LogSection {
    /// `level`: a tracing filter (`info`, `node=debug,info`). Default: `info` for `wisp node`.
    #[serde(deserialize_with = "string")]
    pub level: Option<String>,
    /// `format`: `pretty` or `json`. Default: pretty.
    #[serde(deserialize_with = "log_format")]
    pub format: Option<LogFormat>,
}

/// Reads and checks `path`. A relative `node.data_dir` or `chat.password_file` is resolved
/// against the file's directory.
pub fn load_config_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let mut file = FileConfig::parse_named(&text, path)?;
    let base = path.parent().unwrap_or(Path::new(""));
    for relative in [&mut file.node.data_dir, &mut file.chat.password_file] {
        if let Some(dir) = relative
            && dir.is_relative()
        {
            *dir = base.join(&*dir);
        }
    }
    Ok(file)
}

impl FileConfig {
    /// Parses the text of a `wisp.toml`; errors name the file as `wisp.toml`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_named(text, Path::new(CONFIG_FILE_NAME))
    }

    fn parse_named(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut file: Self = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            ConfigError::Invalid {
                path: path.to_owned(),
                position: offset.map(|o| line_column(text, o)),
                key: offset.and_then(|o| key_at(text, o)),
                message: operator_message(e.message()),
            }
        })?;
        file.origin = Some(Arc::new((path.to_owned(), text.to_owned())));
        file.check()?;
        Ok(file)
    }

    /// The checks that involve more than one key.
    fn check(&self) -> Result<(), ConfigError> {
        let defaults = NodeConfig::default();
        let node = &self.node;
        let min = node.redial_min_secs.unwrap_or(defaults.redial_min);
        let max = node.redial_max_secs.unwrap_or(defaults.redial_max);
        if min > max {
            let key = if node.redial_min_secs.is_some() {
                "node.redial_min_secs"
            } else {
                "node.redial_max_secs"
            };
            return Err(self.invalid(
                key,
                format!(
                    "the first redial delay ({} s) is longer than the longest (node.redial_max_secs, {} s); \
                     expected redial_min_secs <= redial_max_secs",
                    min.as_secs_f64(),
                    max.as_secs_f64()
                ),
            ));
        }
        self.discovery.check(self)?;
        Ok(())
    }

    /// A config error about `key` (dotted), placed at its value in the file this came from
    /// (`wisp.toml` without a position when it was not parsed from text).
    pub fn invalid(&self, key: &str, message: String) -> ConfigError {
        let (path, position) = match self.origin.as_deref() {
            Some((path, text)) => (path.clone(), position_of(text, key)),
            None => (PathBuf::from(CONFIG_FILE_NAME), None),
        };
        ConfigError::Invalid { path, position, key: Some(key.to_owned()), message }
    }

    /// Writes every key the file sets onto `config`; the others keep their values. `[log]`
    /// is left to the caller.
    pub fn apply(&self, config: &mut NodeConfig) {
        let node = &self.node;
        set(&mut config.data_dir, &node.data_dir);
        set(&mut config.listen, &node.listen);
        set(&mut config.role, &node.role);
        if node.external_ip.is_some() {
            config.external_ip = node.external_ip;
        }
        set(&mut config.whisper, &node.whisper);
        set(&mut config.static_nodes, &node.static_nodes);
        set(&mut config.trusted_nodes, &node.trusted_nodes);
        set(&mut config.max_peers, &node.max_peers);
        set(&mut config.max_inbound, &node.max_inbound);
        set(&mut config.ping_interval, &node.ping_interval_secs);
        set(&mut config.redial_min, &node.redial_min_secs);
        set(&mut config.redial_max, &node.redial_max_secs);
        set(&mut config.dial_timeout, &node.dial_timeout_secs);
        set(&mut config.handshake_timeout, &node.handshake_timeout_secs);
        set(&mut config.hello_timeout, &node.hello_timeout_secs);
        set(&mut config.max_pending_handshakes, &node.max_pending_handshakes);
        set(&mut config.max_peers_per_ip, &node.max_peers_per_ip);
        set(&mut config.limit_loopback, &node.limit_loopback);
        set(&mut config.slow_peer_grace, &node.slow_peer_grace_secs);

        if let Some(addr) = self.rpc.listen {
            config.rpc = Some(addr);
        }
        if self.rpc.enabled == Some(false) {
            config.rpc = None;
        } else if self.rpc.enabled == Some(true) && config.rpc.is_none() {
            config.rpc = NodeConfig::default().rpc;
        }
        let limits = &mut config.rpc_limits;
        set(&mut limits.max_connections, &self.rpc.max_connections);
        set(&mut limits.header_timeout, &self.rpc.header_timeout_secs);
        set(&mut limits.body_timeout, &self.rpc.body_timeout_secs);
        set(&mut limits.max_batch, &self.rpc.max_batch);
        set(&mut limits.max_filters, &self.rpc.max_filters);
        if let Some(addr) = self.metrics.listen {
            config.metrics = Some(addr);
        }

        let ms = &self.mailserver;
        set(&mut config.mailserver.archive, &ms.archive);
        set(&mut config.mailserver.retention_days, &ms.retention_days);
        set(&mut config.mailserver.password, &ms.password);
        set(&mut config.mailserver.full_sync, &ms.full_sync);
        set(&mut config.mailserver.archive_queue_bytes, &ms.archive_queue_bytes);
        self.discovery.apply(config);

        let waku = &self.waku;
        let router = &mut config.waku.router;
        set(&mut router.min_pow, &waku.min_pow);
        if let Some(size) = waku.max_message_size {
            router.max_envelope_size = size;
            router.packet_limits.max_envelope_size = size;
        }
        set(&mut router.confirmations, &waku.confirmations);
        set(&mut router.sync_allowance_secs, &waku.sync_allowance_secs);
        set(&mut router.max_future_offences, &waku.max_future_offences);
        set(&mut router.future_offence_decay_secs, &waku.future_offence_decay_secs);
        set(&mut router.pool.max_envelopes, &waku.pool_max_envelopes);
        set(&mut router.pool.max_bytes, &waku.pool_max_bytes);
        set(&mut router.pool.peer_share, &waku.pool_peer_share);
        set(&mut router.transmission_cycle_ms, &waku.transmission_cycle_ms);
        set(&mut router.status_timeout_ms, &waku.status_timeout_ms);
        set(&mut router.refuse_light_peers, &waku.refuse_light_peers);
        set(&mut router.bridge, &waku.bridge);
        set(&mut router.peer_limits.packets.per_second, &waku.peer_packets_per_sec);
        set(&mut router.peer_limits.bytes.per_second, &waku.peer_bytes_per_sec);
        set(&mut router.ip_limits.packets.per_second, &waku.ip_packets_per_sec);
        set(&mut router.ip_limits.bytes.per_second, &waku.ip_bytes_per_sec);
        if let Some(tolerance) = waku.rate_limit_tolerance_secs {
            let limits: [&mut Limit; 4] = [
                &mut router.peer_limits.packets,
                &mut router.peer_limits.bytes,
                &mut router.ip_limits.packets,
                &mut router.ip_limits.bytes,
            ];
            for limit in limits {
                limit.tolerance = tolerance;
            }
        }
    }
}

fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *field = value.clone();
    }
}

/// Line and column (from 1, in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Line and column of the value of the dotted `key`, if the text sets it.
fn position_of(text: &str, key: &str) -> Option<(usize, usize)> {
    let (doc, _errors) = toml::de::DeTable::parse_recoverable(text);
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let value = table.get(part)?;
        if parts.peek().is_none() {
            return Some(line_column(text, value.span().start));
        }
        table = value.get_ref().as_table()?;
    }
    None
}

/// The dotted key whose name or value covers `offset` (the deepest one).
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(
        table: &toml::de::DeTable<'_>,
        offset: usize,
        path: &mut Vec<String>,
        best: &mut Option<Vec<String>>,
    ) {
        let covers = |span: std::ops::Range<usize>| {
            span.start <= offset && (offset < span.end || offset == span.start)
        };
        for (key, value) in table.iter() {
            path.push(key.get_ref().to_string());
            if (covers(key.span()) || covers(value.span()))
                && best.as_ref().is_none_or(|b| b.len() < path.len())
            {
                *best = Some(path.clone());
            }
            if let Some(inner) = value.get_ref().as_table() {
                walk(inner, offset, path, best);
            }
            path.pop();
        }
    }
    let (doc, _errors) = toml::de::DeTable::parse_recoverable(text);
    let mut best = None;
    walk(doc.get_ref(), offset, &mut Vec::new(), &mut best);
    best.map(|path| path.join(".")).or_else(|| bare_key_at(text, offset))
}

/// For what the parser dropped (a duplicate key): the bare key starting at `offset`, under the
/// last `[table]` header above it.
fn bare_key_at(text: &str, offset: usize) -> Option<String> {
    let rest = text.get(offset..)?;
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))?;
    if len == 0 || !rest[len..].trim_start().starts_with('=') {
        return None;
    }
    let header = text[..offset].lines().rev().find_map(|line| {
        let line = line.trim();
        let inner = line.strip_prefix('[')?.split(']').next()?;
        (!inner.starts_with('[')).then(|| inner.trim().to_owned())
    });
    Some(match header {
        Some(table) => format!("{table}.{}", &rest[..len]),
        None => rest[..len].to_owned(),
    })
}

/// serde's words to an operator's: a field is a key; a close unknown key gets a suggestion.
fn operator_message(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((unknown, expected)) = rest.split_once("`, ") else {
        return message.replace("unknown field", "unknown key");
    };
    let mut text = format!("unknown key; {expected}");
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if let Some(close) = known.iter().copied().min_by_key(|k| edit_distance(unknown, k))
        && edit_distance(unknown, close) <= 2.max(unknown.len() / 3)
    {
        text.push_str(&format!(" (did you mean `{close}`?)"));
    }
    text
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

// ---- value parsers: each says what form it expects -------------------------------------

/// Accepts a string; any other type is an error that names `expecting`.
struct Text(&'static str);

impl Visitor<'_> for Text {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        Ok(s.to_owned())
    }
}

/// A string parsed with `parse`; its error becomes the message.
fn text_then<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let s = d.deserialize_str(Text(expecting))?;
    parse(&s).map(Some).map_err(de::Error::custom)
}

fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text_then(d, "a string", |s| Ok(s.to_owned()))
}

fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    text_then(d, "a directory path", |s| {
        if s.is_empty() {
            return Err("expected a directory path, got an empty string".into());
        }
        match s.strip_prefix("~/") {
            Some(rest) => match std::env::var_os("HOME") {
                Some(home) => Ok(PathBuf::from(home).join(rest)),
                None => Err(format!("{s:?} starts with ~/ but $HOME is unset")),
            },
            None => Ok(PathBuf::from(s)),
        }
    })
}

fn addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    text_then(d, ADDR_FORM, |s| s.parse().map_err(|_| format!("expected {ADDR_FORM}, got {s:?}")))
}

fn ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    text_then(d, "an IP address such as 203.0.113.7", |s| {
        s.parse().map_err(|_| format!("expected an IP address such as 203.0.113.7, got {s:?}"))
    })
}

fn role<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Role>, D::Error> {
    text_then(d, "relay, light, bootstrap or mailserver", |s| s.parse())
}

fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogFormat>, D::Error> {
    text_then(d, "pretty or json", |s| s.parse())
}

fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false (without quotes)")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
    }
    d.deserialize_bool(V).map(Some)
}

fn enodes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<NodeRecord>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<NodeRecord>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a list of enode URLs such as [\"{ENODE_FORM}\"]")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut nodes = Vec::new();
            while let Some(text) = seq.next_element::<toml::Value>()? {
                let n = nodes.len() + 1;
                let Some(s) = text.as_str() else {
                    return Err(de::Error::custom(format!(
                        "entry {n} is {} {text}, expected a string {ENODE_FORM}",
                        article(text.type_str())
                    )));
                };
                let node = s.parse::<NodeRecord>().map_err(|e| {
                    de::Error::custom(format!("entry {n} {s:?}: {e} (expected {ENODE_FORM})"))
                })?;
                nodes.push(node);
            }
            Ok(nodes)
        }
    }
    d.deserialize_seq(V).map(Some)
}

fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// A TOML integer from `min` up; `expecting` says so.
struct Whole {
    min: u64,
    expecting: &'static str,
}

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v < self.min {
            return Err(E::invalid_value(Unexpected::Unsigned(v), &self));
        }
        Ok(v)
    }
}

fn whole<'de, D: Deserializer<'de>>(
    d: D,
    min: u64,
    expecting: &'static str,
) -> Result<u64, D::Error> {
    d.deserialize_u64(Whole { min, expecting })
}

fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = whole(d, 0, "a whole number, 0 or more")?;
    usize::try_from(v).map(Some).map_err(|_| de::Error::custom(format!("{v} is too large")))
}

fn count_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = whole(d, 0, "a whole number from 0 to 4294967295")?;
    u32::try_from(v).map(Some).map_err(|_| {
        de::Error::custom(format!("{v} is too large, expected a whole number from 0 to 4294967295"))
    })
}

fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = whole(d, 1, "a whole number from 1 to 4294967295")?;
    u32::try_from(v).map(Some).map_err(|_| {
        de::Error::custom(format!("{v} is too large, expected a whole number from 1 to 4294967295"))
    })
}

fn archive<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<wisp_mailserver::ArchiveSpec>, D::Error> {
    text_then(d, "memory, sqlite, sqlite:PATH or postgres://user@host:port/db", |s| {
        s.parse().map_err(|e: wisp_mailserver::ArchiveSpecError| e.to_string())
    })
}

fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 1, "a whole number greater than 0").map(Some)
}

fn message_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let expecting = "a whole number of bytes from 1024 to 10485760 (10 MiB)";
    let v = whole(d, MIN_MAX_MESSAGE_SIZE.into(), expecting)?;
    if v > u64::from(MAX_MAX_MESSAGE_SIZE) {
        return Err(de::Error::invalid_value(Unexpected::Unsigned(v), &expecting));
    }
    usize::try_from(v).map(Some).map_err(|_| de::Error::custom(format!("{v} is too large")))
}

fn positive_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = whole(d, 1, "a whole number greater than 0")?;
    usize::try_from(v).map(Some).map_err(|_| de::Error::custom(format!("{v} is too large")))
}

fn positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let v = whole(d, 1, "a whole number of bytes greater than 0")?;
    usize::try_from(v).map(Some).map_err(|_| de::Error::custom(format!("{v} is too large")))
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d, 0, "a whole number per second, 0 or more (0 is no limit)").map(Some)
}

/// A finite TOML number (integer or float), at least `min` (or above it if `exclusive`), at
/// most `max`.
struct Number {
    min: f64,
    exclusive: bool,
    max: f64,
    expecting: &'static str,
}

impl Visitor<'_> for Number {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        self.check(v, Unexpected::Float(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.check(v as f64, Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.check(v as f64, Unexpected::Unsigned(v))
    }
}

impl Number {
    fn check<E: de::Error>(self, v: f64, as_written: Unexpected<'_>) -> Result<f64, E> {
        let low = if self.exclusive { v <= self.min } else { v < self.min };
        if !v.is_finite() || low || v > self.max {
            return Err(E::invalid_value(as_written, &self));
        }
        Ok(v)
    }
}

fn min_pow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let expecting = "a number from 0 to 100, such as 0.000002";
    d.deserialize_f64(Number { min: 0.0, exclusive: false, max: MAX_MIN_POW, expecting }).map(Some)
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let expecting = "a number greater than 0, such as 2 or 0.5";
    d.deserialize_f64(Number { min: 0.0, exclusive: true, max: f64::INFINITY, expecting }).map(Some)
}

fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let expecting = "a number of seconds greater than 0, such as 15 or 0.5";
    let v =
        d.deserialize_f64(Number { min: 0.0, exclusive: true, max: f64::INFINITY, expecting })?;
    Duration::try_from_secs_f64(v)
        .map(Some)
        .map_err(|_| de::Error::custom(format!("{v} seconds is too long")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enode(port: u16) -> String {
        let id = wisp_crypto::SecretKey::from_bytes(&[7; 32]).unwrap().public_key().node_id();
        format!("enode://{id}@127.0.0.1:{port}")
    }

    /// The error's text for a document.
    fn error(doc: &str) -> String {
        FileConfig::parse(doc).expect_err(doc).to_string()
    }

    fn applied(doc: &str) -> NodeConfig {
        let mut config = NodeConfig::default();
        FileConfig::parse(doc).unwrap_or_else(|e| panic!("{doc}: {e}")).apply(&mut config);
        config
    }

    #[test]
    fn pool_and_offence_keys_are_applied() {
        let r = applied(
            "[waku]\npool_max_envelopes = 500\npool_max_bytes = 65536\npool_peer_share = 0.5\nfuture_offence_decay_secs = 0\n",
        )
        .waku
        .router;
        assert_eq!((r.pool.max_envelopes, r.pool.max_bytes, r.pool.peer_share), (500, 65536, 0.5));
        assert_eq!(r.future_offence_decay_secs, 0);
        let text = error("[waku]\npool_max_envelopes = 0\n");
        assert!(text.contains("waku.pool_max_envelopes"), "{text}");
    }

    #[test]
    fn an_empty_file_keeps_every_default() {
        let config = applied("");
        let default = NodeConfig::default();
        assert_eq!(config.listen, default.listen);
        assert_eq!(config.rpc, default.rpc);
        assert_eq!(config.metrics, None);
        assert_eq!(config.role, Role::Relay);
        assert_eq!(config.max_peers, 50);
        assert_eq!(config.waku.router.min_pow, wisp_waku::router::DEFAULT_MIN_POW);
        let empty_tables = applied("[node]\n[rpc]\n[metrics]\n[waku]\n[log]\n");
        assert_eq!(empty_tables.rpc, default.rpc);
    }

    #[test]
    fn every_key_is_applied() {
        let doc = format!(
            r#"
[node]
data_dir = "/var/lib/wisp"
listen = "127.0.0.1:0"
external_ip = "203.0.113.7"
role = "mailserver"
whisper = true
static_nodes = ["{a}", "{b}"]
trusted_nodes = ["{b}"]
max_peers = 7
max_inbound = 3
ping_interval_secs = 2.5
redial_min_secs = 2
redial_max_secs = 30
dial_timeout_secs = 4
handshake_timeout_secs = 3
hello_timeout_secs = 2
max_pending_handshakes = 20
max_peers_per_ip = 2
limit_loopback = true
slow_peer_grace_secs = 1.5

[rpc]
enabled = true
listen = "[::1]:0"
max_connections = 12
header_timeout_secs = 3
body_timeout_secs = 4.5
max_batch = 5
max_filters = 6

[metrics]
listen = "127.0.0.1:9100"

[waku]
min_pow = 0.5
max_message_size = 2048
confirmations = true
sync_allowance_secs = 20
max_future_offences = 9
transmission_cycle_ms = 100
status_timeout_ms = 700
refuse_light_peers = false
bridge = false
peer_packets_per_sec = 1
peer_bytes_per_sec = 2
ip_packets_per_sec = 3
ip_bytes_per_sec = 0
rate_limit_tolerance_secs = 4.5

[log]
level = "node=debug,info"
format = "json"
"#,
            a = enode(1),
            b = enode(2)
        );
        let file = FileConfig::parse(&doc).unwrap();
        assert_eq!(file.log.level.as_deref(), Some("node=debug,info"));
        assert_eq!(file.log.format, Some(LogFormat::Json));
        let mut c = NodeConfig::default();
        file.apply(&mut c);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/wisp"));
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.role, Role::Mailserver);
        assert_eq!(c.external_ip, Some("203.0.113.7".parse().unwrap()));
        assert!(c.whisper);
        assert_eq!(c.static_nodes.len(), 2);
        assert_eq!(c.static_nodes[1].tcp_port, 2);
        assert_eq!(c.trusted_nodes.len(), 1);
        assert_eq!((c.max_peers, c.max_inbound), (7, 3));
        assert_eq!(c.ping_interval, Duration::from_millis(2500));
        assert_eq!(c.redial_min, Duration::from_secs(2));
        assert_eq!(c.redial_max, Duration::from_secs(30));
        assert_eq!(c.dial_timeout, Duration::from_secs(4));
        assert_eq!(
            (c.handshake_timeout, c.hello_timeout, c.slow_peer_grace),
            (Duration::from_secs(3), Duration::from_secs(2), Duration::from_millis(1500))
        );
        assert_eq!((c.max_pending_handshakes, c.max_peers_per_ip), (20, 2));
        assert!(c.limit_loopback);
        assert_eq!(c.rpc, Some("[::1]:0".parse().unwrap()));
        assert_eq!(
            c.rpc_limits,
            crate::rpc::RpcLimits {
                max_connections: 12,
                header_timeout: Duration::from_secs(3),
                body_timeout: Duration::from_millis(4500),
                max_batch: 5,
                max_filters: 6,
            }
        );
        assert_eq!(c.metrics, Some("127.0.0.1:9100".parse().unwrap()));
        let r = &c.waku.router;
        assert_eq!(r.min_pow, 0.5);
        assert_eq!((r.max_envelope_size, r.packet_limits.max_envelope_size), (2048, 2048));
        assert!(r.confirmations);
        assert_eq!((r.sync_allowance_secs, r.max_future_offences), (20, 9));
        assert_eq!((r.transmission_cycle_ms, r.status_timeout_ms), (100, 700));
        assert!(!r.refuse_light_peers);
        assert!(!r.bridge);
        assert_eq!(r.peer_limits.packets.per_second, 1);
        assert_eq!(r.peer_limits.bytes.per_second, 2);
        assert_eq!(r.ip_limits.packets.per_second, 3);
        assert_eq!(r.ip_limits.bytes.per_second, 0);
        for limit in [r.peer_limits.packets, r.peer_limits.bytes, r.ip_limits.packets] {
            assert_eq!(limit.tolerance, 4.5);
        }
    }

    #[test]
    fn rpc_can_be_turned_off_and_on() {
        assert_eq!(applied("[rpc]\nenabled = false\n").rpc, None);
        assert_eq!(applied("[rpc]\nenabled = false\nlisten = \"127.0.0.1:1\"\n").rpc, None);
        let mut config = NodeConfig { rpc: None, ..NodeConfig::default() };
        FileConfig::parse("[rpc]\nenabled = true\n").unwrap().apply(&mut config);
        assert_eq!(config.rpc, NodeConfig::default().rpc);
        assert_eq!(
            applied("[rpc]\nlisten = \"0.0.0.0:8546\"\n").rpc,
            Some("0.0.0.0:8546".parse().unwrap())
        );
    }

    #[test]
    fn dotted_keys_and_inline_tables_work_too() {
        let c = applied("node.max_peers = 3\nrpc = { enabled = false }\n");
        assert_eq!((c.max_peers, c.rpc), (3, None));
    }

    #[test]
    fn unknown_keys_are_named_with_their_table_and_place() {
        let text = error("[node]\nlisten = \"0.0.0.0:1\"\nlisen = \"0.0.0.0:2\"\n");
        assert!(text.starts_with("wisp.toml:3:1: key `node.lisen`: unknown key; "), "{text}");
        assert!(text.contains("expected one of `data_dir`, `listen`"), "{text}");
        assert!(text.ends_with("(did you mean `listen`?)"), "{text}");

        let text = error("[nod]\nlisten = 1\n");
        assert!(text.starts_with("wisp.toml:1:2: key `nod`: unknown key; "), "{text}");
        assert!(text.contains("`node`, `rpc`, `metrics`, `waku`, `log`"), "{text}");
        assert!(text.contains("did you mean `node`?"), "{text}");

        let text = error("[waku]\nmin_pow = 1\nlight_client = true\n");
        assert!(text.starts_with("wisp.toml:3:1: key `waku.light_client`"), "{text}");
        assert!(!text.contains("did you mean"), "{text}");

        let text = error("max_peers = 3\n");
        assert!(text.starts_with("wisp.toml:1:1: key `max_peers`: unknown key"), "{text}");

        let text = error("rpc = { enabld = false }\n");
        assert!(text.contains("key `rpc.enabld`"), "{text}");
        assert!(text.contains("did you mean `enabled`?"), "{text}");

        let text = error("[log]\nformat = \"json\"\ncolour = true\n");
        assert!(text.contains("key `log.colour`"), "{text}");
    }

    #[test]
    fn addresses_name_the_key_and_the_form() {
        for key in ["node.listen", "rpc.listen", "metrics.listen"] {
            let (table, name) = key.split_once('.').unwrap();
            for (value, got) in [("\"abc\"", "got \"abc\""), ("\"localhost:8545\"", "localhost")] {
                let text = error(&format!("[{table}]\n{name} = {value}\n"));
                assert!(text.starts_with("wisp.toml:2:"), "{text}");
                assert!(text.contains(&format!("key `{key}`: expected IP:PORT")), "{text}");
                assert!(text.contains(got), "{text}");
            }
            let text = error(&format!("[{table}]\n{name} = 8545\n"));
            assert!(text.contains(&format!("key `{key}`: invalid type: integer `8545`")), "{text}");
            assert!(text.contains("expected IP:PORT"), "{text}");
        }
        assert!(error("[node]\nlisten = \"1.2.3.4:70000\"\n").contains("expected IP:PORT"));
    }

    #[test]
    fn enodes_name_the_key_the_entry_and_the_problem() {
        let doc =
            format!("[node]\nstatic_nodes = [\"{}\", \"enode://abcd@1.2.3.4:30303\"]\n", enode(1));
        let text = error(&doc);
        assert!(text.starts_with("wisp.toml:2:16: key `node.static_nodes`: entry 2 "), "{text}");
        assert!(text.contains("node id must be 128 hex characters"), "{text}");
        assert!(text.contains("expected enode://<128 hex node id>@<ip>:<port>"), "{text}");

        let bad_host = enode(1).replace("127.0.0.1", "host");
        let text = error(&format!("[node]\ntrusted_nodes = [\"{bad_host}\"]\n"));
        assert!(text.contains("key `node.trusted_nodes`: entry 1 "), "{text}");
        assert!(text.contains("host"), "{text}");

        let text = error("[node]\nstatic_nodes = [1]\n");
        assert!(text.contains("key `node.static_nodes`: entry 1 is an integer 1"), "{text}");

        let text = error(&format!("[node]\nstatic_nodes = \"{}\"\n", enode(1)));
        assert!(text.contains("key `node.static_nodes`: invalid type: string"), "{text}");
        assert!(text.contains("expected a list of enode URLs"), "{text}");
        assert!(applied("[node]\nstatic_nodes = []\n").static_nodes.is_empty());
    }

    #[test]
    fn numbers_reject_negatives_zero_and_the_wrong_type() {
        let cases = [
            ("[node]\nmax_peers = -1\n", "node.max_peers", "a whole number, 0 or more"),
            ("[node]\nmax_inbound = 1.5\n", "node.max_inbound", "floating point `1.5`"),
            ("[node]\nmax_peers = \"50\"\n", "node.max_peers", "invalid type: string"),
            ("[node]\nping_interval_secs = 0\n", "node.ping_interval_secs", "greater than 0"),
            ("[node]\nmax_peers_per_ip = 0\n", "node.max_peers_per_ip", "greater than 0"),
            ("[node]\ndial_timeout_secs = -2\n", "node.dial_timeout_secs", "seconds"),
            ("[node]\nredial_max_secs = 1e300\n", "node.redial_max_secs", "too long"),
            ("[waku]\nmin_pow = -0.1\n", "waku.min_pow", "a number from 0 to 100"),
            ("[waku]\nmin_pow = nan\n", "waku.min_pow", "a number from 0 to 100"),
            ("[waku]\nmin_pow = 1e308\n", "waku.min_pow", "expected a number from 0 to 100"),
            ("[waku]\nmin_pow = 100.5\n", "waku.min_pow", "from 0 to 100"),
            ("[waku]\nmin_pow = \"high\"\n", "waku.min_pow", "invalid type: string"),
            ("[waku]\nmax_message_size = 0\n", "waku.max_message_size", "from 1024 to 10485760"),
            ("[waku]\nmax_message_size = 1023\n", "waku.max_message_size", "from 1024"),
            (
                "[waku]\nmax_message_size = 1099511627776\n",
                "waku.max_message_size",
                "invalid value: integer `1099511627776`, expected a whole number of bytes from 1024 to 10485760",
            ),
            ("[waku]\nmax_message_size = 10485761\n", "waku.max_message_size", "10 MiB"),
            ("[waku]\nsync_allowance_secs = 5000000000\n", "waku.sync_allowance_secs", "from 0 to"),
            ("[waku]\nmax_future_offences = -3\n", "waku.max_future_offences", "from 0 to"),
            ("[waku]\ntransmission_cycle_ms = 0\n", "waku.transmission_cycle_ms", "greater than 0"),
            ("[waku]\nstatus_timeout_ms = -1\n", "waku.status_timeout_ms", "greater than 0"),
            ("[waku]\npeer_packets_per_sec = -1\n", "waku.peer_packets_per_sec", "0 is no limit"),
            ("[waku]\npeer_bytes_per_sec = 1.0\n", "waku.peer_bytes_per_sec", "per second"),
            ("[waku]\nip_packets_per_sec = true\n", "waku.ip_packets_per_sec", "boolean"),
            ("[waku]\nip_bytes_per_sec = -5\n", "waku.ip_bytes_per_sec", "0 or more"),
            ("[waku]\nrate_limit_tolerance_secs = 0\n", "waku.rate_limit_tolerance_secs", "> 0"),
            ("[rpc]\nmax_connections = 0\n", "rpc.max_connections", "from 1"),
            ("[rpc]\nheader_timeout_secs = 0\n", "rpc.header_timeout_secs", "> 0"),
            ("[rpc]\nbody_timeout_secs = -1\n", "rpc.body_timeout_secs", "seconds"),
            ("[rpc]\nmax_batch = 0\n", "rpc.max_batch", "from 1"),
            ("[rpc]\nmax_filters = 0\n", "rpc.max_filters", "> 0"),
        ];
        for (doc, key, expected) in cases {
            let text = error(doc);
            assert!(text.contains(&format!("key `{key}`: ")), "{doc}: {text}");
            let expected = expected.replace("> 0", "greater than 0");
            assert!(text.contains(&expected), "{doc}: {text}");
        }
        assert_eq!(applied("[waku]\nmin_pow = 0\n").waku.router.min_pow, 0.0);
        assert_eq!(applied("[waku]\nmin_pow = 2\n").waku.router.min_pow, 2.0);
        assert_eq!(applied("[waku]\nmin_pow = 100\n").waku.router.min_pow, MAX_MIN_POW);
        let sizes = applied("[waku]\nmax_message_size = 10485760\n").waku.router;
        assert_eq!(sizes.max_envelope_size, 10 << 20);
        assert_eq!(
            applied("[waku]\nmax_message_size = 1024\n").waku.router.max_envelope_size,
            1024
        );
        assert_eq!(applied("[node]\nmax_peers = 0\n").max_peers, 0);
    }

    #[test]
    fn redial_min_must_not_exceed_redial_max() {
        let text = error("[node]\nredial_min_secs = 30\nredial_max_secs = 5\n");
        assert!(text.starts_with("wisp.toml:2:19: key `node.redial_min_secs`: "), "{text}");
        assert!(text.contains("(30 s) is longer than the longest"), "{text}");
        assert!(text.contains("expected redial_min_secs <= redial_max_secs"), "{text}");
        // Against the other key's default (60 s, 1 s).
        let text = error("[node]\nredial_min_secs = 61\n");
        assert!(text.starts_with("wisp.toml:2:19: key `node.redial_min_secs`"), "{text}");
        let text = error("[node]\nredial_max_secs = 0.5\n");
        assert!(text.starts_with("wisp.toml:2:19: key `node.redial_max_secs`"), "{text}");
        let c = applied("[node]\nredial_min_secs = 5\nredial_max_secs = 5\n");
        assert_eq!((c.redial_min, c.redial_max), (Duration::from_secs(5), Duration::from_secs(5)));
    }

    #[test]
    fn errors_found_after_parsing_are_placed_in_the_file() {
        let file = FileConfig::parse("[log]\n\nlevel   = \"x\"\n").unwrap();
        let text = file.invalid("log.level", "bad".into()).to_string();
        assert_eq!(text, "wisp.toml:3:11: key `log.level`: bad");
        let text = FileConfig::default().invalid("log.level", "bad".into()).to_string();
        assert_eq!(text, "wisp.toml: key `log.level`: bad");
    }

    #[test]
    fn booleans_roles_formats_and_paths() {
        let text = error("[node]\nwhisper = \"yes\"\n");
        assert!(text.contains("key `node.whisper`: invalid type: string \"yes\""), "{text}");
        assert!(text.contains("expected true or false"), "{text}");
        for key in ["rpc.enabled", "waku.confirmations", "waku.refuse_light_peers", "waku.bridge"] {
            let (table, name) = key.split_once('.').unwrap();
            let text = error(&format!("[{table}]\n{name} = 1\n"));
            assert!(text.contains(&format!("key `{key}`: invalid type: integer")), "{text}");
        }

        let text = error("[node]\nrole = \"full\"\n");
        assert!(text.contains("key `node.role`: unknown role \"full\""), "{text}");
        assert!(text.contains("relay, light, bootstrap or mailserver"), "{text}");
        for role in ["relay", "light", "bootstrap", "mailserver"] {
            assert_eq!(applied(&format!("[node]\nrole = \"{role}\"\n")).role.to_string(), role);
        }

        let text = error("[log]\nformat = \"xml\"\n");
        assert!(text.contains("key `log.format`: unknown log format \"xml\""), "{text}");
        assert!(text.contains("pretty or json"), "{text}");
        let text = error("[log]\nlevel = 3\n");
        assert!(text.contains("key `log.level`: invalid type: integer"), "{text}");

        let text = error("[node]\ndata_dir = \"\"\n");
        assert!(text.contains("key `node.data_dir`: expected a directory path"), "{text}");
        if let Some(home) = std::env::var_os("HOME") {
            let c = applied("[node]\ndata_dir = \"~/w\"\n");
            assert_eq!(c.data_dir, PathBuf::from(home).join("w"));
        }
    }

    #[test]
    fn malformed_toml_says_where() {
        let text = error("[node]\nlisten = \n");
        assert!(text.starts_with("wisp.toml:2:10: key `node.listen`: "), "{text}");
        let text = error("[node]\nmax_peers = 1\nmax_peers = 2\n");
        assert!(text.starts_with("wisp.toml:3:1: key `node.max_peers`: duplicate key"), "{text}");
        let text = error("[node\n");
        assert!(text.starts_with("wisp.toml:1:"), "{text}");
        let text = error("node = 5\n");
        assert!(text.contains("key `node`: invalid type: integer `5`, expected a table"), "{text}");
    }

    #[test]
    fn load_reads_the_file_and_resolves_a_relative_data_dir() {
        let dir = std::env::temp_dir().join(format!("wisp-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wisp.toml");
        std::fs::write(&path, "[node]\ndata_dir = \"data\"\n").unwrap();
        let file = load_config_file(&path).unwrap();
        assert_eq!(file.node.data_dir, Some(dir.join("data")));

        std::fs::write(&path, "[node]\nlisen = 1\n").unwrap();
        let text = load_config_file(&path).unwrap_err().to_string();
        assert!(text.starts_with(&format!("{}:2:1: key `node.lisen`", path.display())), "{text}");

        let missing = dir.join("missing.toml");
        let err = load_config_file(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert_eq!(
            err.to_string(),
            format!("cannot read config file {}: no such file", missing.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_mailserver_table() {
        use wisp_mailserver::ArchiveSpec;
        let default = applied("[mailserver]\n").mailserver;
        assert_eq!(default.archive, ArchiveSpec::Sqlite);
        assert_eq!(default.retention_days, 30);
        assert_eq!(default.password, "status-offline-inbox");
        let c = applied(
            "[mailserver]\narchive = \"sqlite:/var/lib/wisp/a.db\"\nretention_days = 7\n\
             password = \"secret\"\n",
        )
        .mailserver;
        assert_eq!(c.archive, ArchiveSpec::SqliteAt("/var/lib/wisp/a.db".into()));
        assert_eq!((c.retention_days, c.password.as_str()), (7, "secret"));
        assert_eq!(
            applied("[mailserver]\narchive = \"memory\"\n").mailserver.archive,
            ArchiveSpec::Memory
        );
        let pg = "postgres://wisp@127.0.0.1:5432/wisp";
        assert_eq!(
            applied(&format!("[mailserver]\narchive = \"{pg}\"\n")).mailserver.archive,
            ArchiveSpec::Postgres(pg.into())
        );

        for (doc, key, says) in [
            ("[mailserver]\narchive = \"mysql\"\n", "mailserver.archive", "sqlite:PATH"),
            ("[mailserver]\narchive = \"sqlite:\"\n", "mailserver.archive", "sqlite:PATH"),
            ("[mailserver]\narchive = 1\n", "mailserver.archive", "memory, sqlite"),
            ("[mailserver]\nretention_days = 0\n", "mailserver.retention_days", "from 1"),
            ("[mailserver]\nretention_days = -3\n", "mailserver.retention_days", "from 1"),
            ("[mailserver]\nretention_days = \"30\"\n", "mailserver.retention_days", "whole"),
            ("[mailserver]\npassword = 5\n", "mailserver.password", "a string"),
            ("[mailserver]\nretention = 5\n", "mailserver.retention", "retention_days"),
        ] {
            let text = error(doc);
            assert!(text.contains(&format!("key `{key}`")), "{doc}: {text}");
            assert!(text.contains(says), "{doc}: {text}");
        }
    }

    #[test]
    fn the_archive_durability_and_queue_keys() {
        let default = applied("[mailserver]\n").mailserver;
        assert!(!default.full_sync);
        assert_eq!(default.archive_queue_bytes, 64 * 1024 * 1024);
        let c =
            applied("[mailserver]\nfull_sync = true\narchive_queue_bytes = 1048576\n").mailserver;
        assert!(c.full_sync);
        assert_eq!(c.archive_queue_bytes, 1 << 20);
        for (doc, key, says) in [
            ("[mailserver]\nfull_sync = 1\n", "mailserver.full_sync", "true or false"),
            (
                "[mailserver]\narchive_queue_bytes = 0\n",
                "mailserver.archive_queue_bytes",
                "greater than 0",
            ),
            ("[mailserver]\nfullsync = true\n", "mailserver.fullsync", "full_sync"),
        ] {
            let text = error(doc);
            assert!(text.contains(&format!("key `{key}`")), "{doc}: {text}");
            assert!(text.contains(says), "{doc}: {text}");
        }
    }

    #[test]
    fn suggestions_need_a_close_name() {
        assert_eq!(edit_distance("lisen", "listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            operator_message("unknown field `x`, expected `node`"),
            "unknown key; expected `node`"
        );
    }
}
