//! # wisp-rlpx: the devp2p RLPx transport
//!
//! RLPx carries every Status peer connection: an ECIES handshake authenticates both nodes and
//! keys the session, frames are encrypted with AES-256-CTR and authenticated with keccak MACs,
//! and the `p2p` base protocol (version 5) exchanges Hello, negotiates capabilities
//! (`waku/1`, `shh/6`), keeps the link alive with Ping/Pong and ends it with Disconnect.
//!
//! Specs: `devp2p/rlpx.md`, `eips/eip-8.md`, `eips/eip-706.md`; the wire facts status-go and
//! go-ethereum show are in `shared/DECISIONS.md` item 20.
//!
//! The crate is layered as reth's `ecies`:
//! - pure code over buffers: [`enode`] (node URLs), [`handshake`] (auth/ack and secrets),
//!   [`frame`] (frame cipher and MACs), [`p2p`] (base-protocol messages, capability matching);
//! - a tokio codec: [`codec::RlpxCodec`];
//! - async streams: [`RlpxStream`] (`connect`/`accept`), then the typestate
//!   [`UnauthedP2PStream`] → [`P2PStream`].
//!
//! ```no_run
//! use wisp_crypto::SecretKey;
//! use wisp_rlpx::{Hello, NodeRecord, P2PConfig, Protocol, RlpxConfig, RlpxStream, UnauthedP2PStream, P2P_VERSION};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SecretKey::random();
//! let peer: NodeRecord = "enode://6a04ab98d9e4774ad806e302dddeb63bea16b5cb5f223ee77478e861bb583eb336b6fbcb60b5b3d4f1551ac45e5ffc4936466e7d98f6c7a0d3b8c2b8ecd1ebd3@127.0.0.1:30303".parse()?;
//! let tcp = tokio::net::TcpStream::connect(peer.tcp_addr()).await?;
//! let rlpx = RlpxStream::connect(tcp, &key, peer.id, &RlpxConfig::default()).await?;
//! let hello = Hello {
//!     protocol_version: P2P_VERSION,
//!     client_id: "wisp/example".into(),
//!     capabilities: vec![wisp_rlpx::Capability::new("waku", 1)],
//!     listen_port: 0,
//!     id: key.public_key().node_id(),
//! };
//! let (mut session, theirs) = UnauthedP2PStream::new(rlpx, P2PConfig::default())
//!     .handshake(hello, &[Protocol::new("waku", 1, 128)])
//!     .await?;
//! println!("{} speaks {:?}", theirs.client_id, theirs.capabilities);
//! let rtt = session.ping(std::time::Duration::from_secs(5)).await?;
//! println!("rtt {rtt:?}");
//! # Ok(()) }
//! ```

pub mod codec;
pub mod enode;
mod error;
pub mod frame;
pub mod handshake;
pub mod p2p;
mod rlp;
mod session;
mod stream;

pub use enode::{EnodeError, NodeRecord};
pub use error::{FrameError, HandshakeError, P2PError, RlpxError};
pub use p2p::{
    Capability, DisconnectReason, Hello, P2P_VERSION, P2PMessage, Protocol, SharedCapabilities,
    SharedCapability,
};
pub use session::{
    CapabilityMessage, FrameGate, MAX_MESSAGE_SIZE, P2PConfig, P2PStream, UnauthedP2PStream,
    frame_limit,
};
pub use stream::{MAX_HELLO_FRAME_SIZE, RlpxConfig, RlpxStream};
pub use wisp_crypto::{NodeId, SecretKey};

#[cfg(test)]
use {criterion as _, serde_json as _};
