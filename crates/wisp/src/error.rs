//! The errors of the command line. `main` prints each as one `error: ...` line and exits 1.

use std::{io, net::SocketAddr, path::PathBuf, time::Duration};

use wisp_rlpx::{EnodeError, NodeId, P2PError, RlpxError};

/// Why a command failed; the `Display` text is the whole message the user sees.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Neither `--data-dir`, `$WISP_DATA_DIR`, `$XDG_DATA_HOME` nor `$HOME` is set.
    #[error("cannot find the data directory: $XDG_DATA_HOME and $HOME are unset; pass --data-dir")]
    NoDataDir,
    /// `keys new` without `--force` found a file.
    #[error("key file {} already exists; pass --force to overwrite it", .0.display())]
    KeyExists(PathBuf),
    /// A key file could not be read.
    #[error(
        "cannot read key file {}: {} (a node key file holds 64 hex characters; create one with `wisp keys new`)",
        path.display(),
        io_reason(source)
    )]
    KeyRead {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A key file does not hold a key.
    #[error(
        "invalid key file {}: expected 64 hex characters (a secp256k1 secret key), {problem}",
        path.display()
    )]
    KeyFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        problem: String,
    },
    /// A key file could not be written.
    #[error("cannot write key file {}: {}", path.display(), io_reason(source))]
    KeyWrite {
        /// The file (or its directory).
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The ENODE argument does not parse.
    #[error("invalid enode URL: {0}")]
    Enode(#[from] EnodeError),
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address dialed.
        addr: SocketAddr,
        /// Why, in a few words.
        reason: String,
    },
    /// The RLPx (ECIES) handshake failed.
    #[error(
        "handshake with {}… failed: {}{}",
        short_id(peer),
        handshake_reason(source),
        dial_hint(source)
    )]
    Handshake {
        /// The node dialed.
        peer: NodeId,
        /// What went wrong.
        source: RlpxError,
    },
    /// The Hello exchange or the session failed.
    #[error("{}", session_reason(.0))]
    Session(P2PError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {}", io_reason(source))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What went wrong.
        source: io::Error,
    },
    /// A signal handler could not be installed.
    #[error("cannot handle {signal}: {source}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// What went wrong.
        source: io::Error,
    },
    /// The tokio runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// Standard output is gone.
    #[error("cannot write to stdout: {}", io_reason(.0))]
    Stdout(io::Error),
    /// `wisp.toml` (or a setting taken from it) is wrong: exit code 2.
    #[error(transparent)]
    Config(#[from] wisp_node::ConfigError),
    /// A flag (or the default it stands for) names something unusable: exit code 2.
    #[error("{name}: {message}")]
    Setting {
        /// The flag, e.g. `--archive`.
        name: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// `wisp node` could not start its node.
    #[error("{}", node_start_reason(.0))]
    NodeStart(wisp_node::NodeError),
    /// A second SIGINT or SIGTERM arrived while the node was shutting down.
    #[error("interrupted again while shutting down; exiting without waiting for peers")]
    Interrupted,
    /// A JSON-RPC call to a node failed (`wisp post`, `wisp watch`).
    #[error("{0}")]
    Rpc(#[from] crate::rpc_client::RpcError),
    /// `wisp devnet` failed.
    #[error("{0}")]
    Devnet(#[from] crate::devnet::DevnetError),
    /// `wisp account` failed.
    #[error("{0}")]
    Account(#[from] crate::account_cmd::AccountError),
    /// `wisp chat` failed.
    #[error("{0}")]
    Chat(#[from] crate::chat_cmd::ChatError),
    /// `wisp history` failed (the mailserver did not connect, or the request failed).
    #[error("{0}")]
    History(String),
    /// `wisp dns-tree` failed.
    #[error("{0}")]
    DnsTree(#[from] crate::dns_tree_cmd::DnsTreeError),
    /// `wisp sim` ran and an invariant broke (the message has the seed and the replay command).
    #[error("{0}")]
    Sim(String),
}

impl From<wisp_node::node_key::NodeKeyError> for Error {
    fn from(e: wisp_node::node_key::NodeKeyError) -> Self {
        use wisp_node::node_key::NodeKeyError as K;
        match e {
            K::Read { path, source } => Self::KeyRead { path, source },
            K::Format { path, problem } => Self::KeyFormat { path, problem },
            K::Write { path, source } => Self::KeyWrite { path, source },
            K::Exists(path) => Self::KeyExists(path),
        }
    }
}

impl Error {
    /// The process exit code: 2 for configuration errors (as clap's usage errors), else 1.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::Setting { .. } => 2,
            _ => 1,
        }
    }
}

/// Why a node did not start; for a busy address, which one and what for.
fn node_start_reason(e: &wisp_node::NodeError) -> String {
    match e {
        wisp_node::NodeError::Bind { what, addr, source } => {
            let hint = match source.kind() {
                io::ErrorKind::AddrInUse => {
                    "; is another node running? pick another port, or port 0 for a free one"
                }
                io::ErrorKind::AddrNotAvailable => "; use an address of this host, or 0.0.0.0",
                _ => "",
            };
            format!("cannot listen on {addr} ({what}): {}{hint}", io_reason(source))
        }
        other => other.to_string(),
    }
}

/// The first 8 hex characters of a node id, as logs and messages show it.
pub(crate) fn short_id(id: &NodeId) -> String {
    let mut s = id.to_string();
    s.truncate(8);
    s
}

/// A duration as a person writes it: `5s`, `500ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    format!("{d:?}")
}

/// An I/O error in a few lowercase words, without the `(os error N)` tail.
pub(crate) fn io_reason(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let text = match e.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::AddrInUse => "address already in use",
        K::AddrNotAvailable => "address not available on this host",
        K::PermissionDenied => "permission denied",
        K::NotFound => "no such file or directory",
        K::AlreadyExists => "file exists",
        K::IsADirectory => "is a directory",
        K::NotADirectory => "not a directory",
        K::BrokenPipe => "broken pipe",
        _ => return e.to_string(),
    };
    text.to_owned()
}

/// Why an RLPx handshake failed, without the "handshake failed: " that `RlpxError` adds.
pub(crate) fn handshake_reason(e: &RlpxError) -> String {
    match e {
        RlpxError::Handshake(h) => h.to_string(),
        RlpxError::HandshakeTimeout(d) => format!("no answer within {}", human_duration(*d)),
        RlpxError::ClosedDuringHandshake => "the peer closed the connection".into(),
        RlpxError::Io(io) => io_reason(io),
        RlpxError::Frame(f) => f.to_string(),
    }
}

/// A hint for the dialer: a node that cannot open our auth (it was encrypted to the node id in
/// the enode URL) just closes the connection, as go-ethereum and wisp do.
fn dial_hint(e: &RlpxError) -> &'static str {
    let closed = match e {
        RlpxError::ClosedDuringHandshake => true,
        RlpxError::Io(io) => io.kind() == io::ErrorKind::ConnectionReset,
        _ => false,
    };
    if closed { " (is the node id in the enode URL right?)" } else { "" }
}

/// Why a `p2p` session (Hello exchange, Pings) failed.
fn session_reason(e: &P2PError) -> String {
    match e {
        // The detail is the error that made us disconnect ("no shared capability: ...").
        P2PError::WeDisconnected { detail, .. } => detail.clone(),
        P2PError::Closed => "the peer closed the connection".into(),
        P2PError::HelloTimeout(d) => {
            format!("no Hello from the peer within {}", human_duration(*d))
        }
        P2PError::PingTimeout(d) => format!("no Pong from the peer within {}", human_duration(*d)),
        P2PError::Rlpx(RlpxError::Io(io)) => format!("connection lost: {}", io_reason(io)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use wisp_rlpx::{DisconnectReason, HandshakeError};

    use super::*;

    #[test]
    fn messages_say_what_failed() {
        let refused = Error::Connect {
            addr: "127.0.0.1:30303".parse().unwrap(),
            reason: io_reason(&io::Error::from(io::ErrorKind::ConnectionRefused)),
        };
        assert_eq!(refused.to_string(), "cannot connect to 127.0.0.1:30303: connection refused");

        let peer = wisp_crypto::SecretKey::from_bytes(&[0xaa; 32]).unwrap().public_key().node_id();
        let bad_mac = Error::Handshake {
            peer,
            source: RlpxError::Handshake(HandshakeError::Crypto(
                wisp_crypto::CryptoError::EciesMac,
            )),
        };
        let text = bad_mac.to_string();
        assert!(text.starts_with("handshake with "), "{text}");
        assert!(text.ends_with("… failed: ECIES MAC mismatch"), "{text}");

        let gone = Error::Session(P2PError::Disconnected(DisconnectReason::TooManyPeers));
        assert_eq!(gone.to_string(), "peer disconnected: too many peers (0x04)");

        let useless = Error::Session(P2PError::WeDisconnected {
            reason: DisconnectReason::UselessPeer,
            detail: "no shared capability: we offer [bar/1], the peer offers [foo/1]".into(),
        });
        assert_eq!(
            useless.to_string(),
            "no shared capability: we offer [bar/1], the peer offers [foo/1]"
        );
    }
}
