//! The node's configuration: a plain struct with documented defaults (STYLE item 10). The
//! `wisp.toml` file maps onto it key for key; unknown keys are errors that name the key.

use std::{
    ffi::OsString,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use wisp_rlpx::NodeRecord;
use wisp_waku::RouterConfig;

/// What a node does (`status/1-client.md` §"Node discovery and roles").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A full Waku node that relays every envelope (the default).
    #[default]
    Relay,
    /// A mobile/light client: light mode, topic interest, relays only its own envelopes.
    Light,
    /// Peers only, no Waku: a rendezvous point for other nodes.
    Bootstrap,
    /// A relay that also archives envelopes and serves history (the mailserver issue plugs in
    /// through [`crate::NodeHandle::events`]).
    Mailserver,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "relay" => Ok(Self::Relay),
            "light" => Ok(Self::Light),
            "bootstrap" => Ok(Self::Bootstrap),
            "mailserver" => Ok(Self::Mailserver),
            other => Err(format!(
                "unknown role {other:?}: expected relay, light, bootstrap or mailserver"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Relay => "relay",
            Self::Light => "light",
            Self::Bootstrap => "bootstrap",
            Self::Mailserver => "mailserver",
        })
    }
}

/// Waku settings of a node.
#[derive(Clone, Debug, Default)]
pub struct WakuConfig {
    /// The router's settings (min PoW, sizes, rate limits, light mode, confirmations...).
    pub router: RouterConfig,
}

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where `node.key` and the databases live. Default: `~/.local/share/wisp`.
    pub data_dir: PathBuf,
    /// The RLPx listen address; port 0 picks a free port. Default: `0.0.0.0:30303`.
    pub listen: SocketAddr,
    /// The IP other nodes should dial, put in our enode. Default: none, which advertises the
    /// listen IP (127.0.0.1 when listening on every interface).
    pub external_ip: Option<IpAddr>,
    /// The node's role. Default: relay.
    pub role: Role,
    /// Also speak `shh/6` (Whisper) and bridge it with `waku/1`. Default: false.
    pub whisper: bool,
    /// Peers to dial and keep dialling (with backoff). Default: none.
    pub static_nodes: Vec<NodeRecord>,
    /// Peers trusted to deliver P2P messages (mailservers); also dialled. Default: none.
    pub trusted_nodes: Vec<NodeRecord>,
    /// Most peers at once. Default: 50.
    pub max_peers: usize,
    /// Most inbound peers at once (the rest of `max_peers` is kept for dialling out).
    /// Default: 40.
    pub max_inbound: usize,
    /// JSON-RPC (HTTP and WebSocket) address; `None` disables it. Default: `127.0.0.1:8545`.
    pub rpc: Option<SocketAddr>,
    /// Limits of the JSON-RPC server (connections, timeouts, batch size, filters).
    pub rpc_limits: crate::rpc::RpcLimits,
    /// Prometheus metrics address; `None` disables it. Default: none.
    pub metrics: Option<SocketAddr>,
    /// Waku settings.
    pub waku: WakuConfig,
    /// Mailserver settings (used with the mailserver role).
    pub mailserver: crate::MailserverConfig,
    /// Seconds between Pings to each peer. Default: 15 s (as go-ethereum).
    pub ping_interval: Duration,
    /// First redial delay of a static node; doubles per failure. Default: 1 s.
    pub redial_min: Duration,
    /// Longest redial delay. Default: 60 s.
    pub redial_max: Duration,
    /// How long a dial (TCP + handshake + Hello) may take. Default: 10 s.
    pub dial_timeout: Duration,
    /// How long the RLPx auth/ack exchange may take, in all (a peer that trickles bytes
    /// cannot extend it). Default: 5 s (as go-ethereum).
    pub handshake_timeout: Duration,
    /// How long the peer's Hello may take after the RLPx handshake. Default: 5 s.
    pub hello_timeout: Duration,
    /// Most inbound connections in their handshake (auth, ack, Hello) at once; a connection
    /// beyond it is closed as soon as it is accepted. Default: 100 (twice `max_peers`).
    pub max_pending_handshakes: usize,
    /// Most inbound connections (in handshake or connected) from one IP address; more are
    /// closed as soon as they are accepted. Loopback is exempt unless `limit_loopback`.
    /// Default: 8.
    pub max_peers_per_ip: usize,
    /// Treat loopback addresses as any other: the per-IP connection limit, the per-IP rate
    /// limit on received frames and IP bans apply to them. Default: false.
    pub limit_loopback: bool,
    /// How long a peer's outgoing queue may stay full (packets to it are dropped meanwhile)
    /// before the peer is disconnected as too slow. Default: 10 s.
    pub slow_peer_grace: Duration,
    /// The chat account: with it the node runs the Status messenger (public and 1:1 chats,
    /// `wakuext_*` chat methods); `None` makes a plain relay. Default: none.
    pub chat: Option<ChatConfig>,
    /// Discovery: legacy topic discovery, DNS trees, the PeerPool and its peer cache.
    /// Default: off (see [`crate::DiscoveryConfig`]).
    pub discovery: crate::DiscoveryConfig,
}

/// Default [`ChatConfig::history_default_secs`]: the last 24 hours.
pub const DEFAULT_HISTORY_SECS: u32 = 24 * 60 * 60;

/// The messenger of a node with a chat account (`NodeConfig::chat`).
///
/// Data: `<data-dir>/messenger.sqlite` (chats, messages, the secure-transport and MVDS state,
/// encrypted with a key derived from the chat key) and `<data-dir>/installation-id` (this
/// device's installation id, created once).
#[derive(Clone)]
pub struct ChatConfig {
    /// The account's chat key.
    pub identity: wisp_crypto::SecretKey,
    /// This device's installation id (status-go's multi-device id). `None`: read from
    /// `<data-dir>/installation-id`, which is created (a random UUID v4) on first start.
    /// Default: none.
    pub installation_id: Option<String>,
    /// On the first start, history is asked from the trusted mailservers for this many seconds
    /// back; later starts ask from the end of the range already fetched. Default: 24 h.
    pub history_default_secs: u32,
    /// How long to wait for a trusted mailserver to be connected before asking it for history.
    /// Default: 10 s.
    pub mailserver_wait: Duration,
    /// How long each page of a history request may take. Default: 30 s.
    pub history_page_timeout: Duration,
    /// The messenger's settings (TTL, text size...).
    pub messenger: wisp_messenger::Config,
}

impl ChatConfig {
    /// The settings for `identity`, everything else default.
    pub fn new(identity: wisp_crypto::SecretKey) -> Self {
        Self {
            identity,
            installation_id: None,
            history_default_secs: DEFAULT_HISTORY_SECS,
            mailserver_wait: Duration::from_secs(10),
            history_page_timeout: Duration::from_secs(30),
            messenger: wisp_messenger::Config::default(),
        }
    }
}

impl std::fmt::Debug for ChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key: only the public one.
        f.debug_struct("ChatConfig")
            .field("account", &self.identity.public_key())
            .field("installation_id", &self.installation_id)
            .field("history_default_secs", &self.history_default_secs)
            .field("mailserver_wait", &self.mailserver_wait)
            .field("history_page_timeout", &self.history_page_timeout)
            .field("messenger", &self.messenger)
            .finish()
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            listen: "0.0.0.0:30303".parse().expect("valid address"),
            external_ip: None,
            role: Role::Relay,
            whisper: false,
            static_nodes: Vec::new(),
            trusted_nodes: Vec::new(),
            max_peers: 50,
            max_inbound: 40,
            rpc: Some("127.0.0.1:8545".parse().expect("valid address")),
            rpc_limits: crate::rpc::RpcLimits::default(),
            metrics: None,
            waku: WakuConfig::default(),
            mailserver: crate::MailserverConfig::default(),
            ping_interval: Duration::from_secs(15),
            redial_min: Duration::from_secs(1),
            redial_max: Duration::from_secs(60),
            dial_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            hello_timeout: Duration::from_secs(5),
            max_pending_handshakes: 100,
            max_peers_per_ip: 8,
            limit_loopback: false,
            slow_peer_grace: Duration::from_secs(10),
            chat: None,
            discovery: crate::DiscoveryConfig::default(),
        }
    }
}

/// `$WISP_DATA_DIR`, else `$XDG_DATA_HOME/wisp`, else `~/.local/share/wisp` ([`xdg_data_dir`]),
/// else (no `$HOME`) `./.local/share/wisp`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WISP_DATA_DIR") {
        return PathBuf::from(d);
    }
    xdg_data_dir(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
        .unwrap_or_else(|| Path::new(".").join(".local").join("share").join("wisp"))
}

/// The XDG base-directory rule for wisp's data: `$XDG_DATA_HOME/wisp` if that variable is an
/// absolute path, else `$HOME/.local/share/wisp`; `None` without a (non-empty) `$HOME`.
pub fn xdg_data_dir(xdg_data_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_data_home.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = match xdg {
        Some(base) => base,
        None => {
            let home = home.filter(|h| !h.is_empty())?;
            Path::new(&home).join(".local").join("share")
        }
    };
    Some(base.join("wisp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_config_debug_shows_no_private_key() {
        let key = wisp_crypto::SecretKey::random();
        let text = format!("{:?}", ChatConfig::new(key.clone()));
        assert!(!text.contains(&hex::encode(key.to_bytes())), "{text}");
        assert!(text.contains(&hex::encode(key.public_key().to_uncompressed())), "{text}");
        assert_eq!(ChatConfig::new(key).history_default_secs, 24 * 60 * 60);
    }

    #[test]
    fn data_dir_follows_the_xdg_rule() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(xdg_data_dir(os("/x/data"), os("/home/a")), Some("/x/data/wisp".into()));
        assert_eq!(
            xdg_data_dir(os("relative"), os("/home/a")),
            Some("/home/a/.local/share/wisp".into())
        );
        assert_eq!(xdg_data_dir(os(""), os("/home/a")), Some("/home/a/.local/share/wisp".into()));
        assert_eq!(xdg_data_dir(None, os("/home/a")), Some("/home/a/.local/share/wisp".into()));
        assert_eq!(xdg_data_dir(None, None), None);
        assert_eq!(xdg_data_dir(None, os("")), None);
    }
}
