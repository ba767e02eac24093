//! The errors of the RLPx layer, from the handshake up to the `p2p` base protocol.

use std::io;

use wisp_crypto::{CryptoError, NodeId};

use crate::p2p::DisconnectReason;

/// The handshake failed: the packet could not be opened, decoded or verified.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// ECIES or signature failure (a bad MAC means the packet was not for our key or was
    /// corrupted).
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// The body is not valid RLP of the expected shape.
    #[error("malformed handshake message: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// A packet or body has the wrong length.
    #[error("{what} is {got} bytes, expected {expected}")]
    Length {
        /// What was measured.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The remote static key is not a valid public key.
    #[error("remote node id is not a valid secp256k1 public key")]
    InvalidRemoteId,
    /// The remote ephemeral key is not a valid public key.
    #[error("remote ephemeral key is not a valid secp256k1 public key")]
    InvalidEphemeralKey,
    /// The auth signature does not recover to a valid ephemeral key.
    #[error("auth signature is invalid")]
    InvalidSignature,
}

/// A frame could not be read: a MAC mismatch or a size over the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header MAC does not match.
    #[error("frame header MAC mismatch")]
    HeaderMac,
    /// The frame MAC does not match.
    #[error("frame MAC mismatch")]
    FrameMac,
    /// The frame is larger than allowed.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    FrameTooBig {
        /// The size in the header or of the data to send.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A frame body buffer has the wrong length.
    #[error("frame body is {got} bytes, expected {expected}")]
    BodyLength {
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
}

/// An error of the RLPx transport (handshake and framed stream).
#[derive(Debug, thiserror::Error)]
pub enum RlpxError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The cryptographic handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// A frame was rejected.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The handshake did not complete in time.
    #[error("handshake timed out after {0:?}")]
    HandshakeTimeout(std::time::Duration),
    /// The peer closed the connection during the handshake.
    #[error("connection closed by the peer during the handshake")]
    ClosedDuringHandshake,
}

/// An error of the `p2p` base protocol session.
#[derive(Debug, thiserror::Error)]
pub enum P2PError {
    /// The transport failed.
    #[error(transparent)]
    Rlpx(#[from] RlpxError),
    /// The peer sent a Disconnect.
    #[error("peer disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// We disconnected the peer for this reason (the Disconnect was sent).
    #[error("disconnected the peer: {reason} ({detail})")]
    WeDisconnected {
        /// The reason sent to the peer.
        reason: DisconnectReason,
        /// What happened, for the log.
        detail: String,
    },
    /// A base-protocol message could not be decoded.
    #[error("malformed {what} message: {source}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// The RLP error.
        source: alloy_rlp::Error,
    },
    /// The peer's first message was not Hello.
    #[error("expected Hello, got message id {0:#x}")]
    HelloExpected(u64),
    /// No capability is shared with the peer.
    #[error("no shared capability: we offer [{ours}], the peer offers [{theirs}]")]
    NoSharedCapability {
        /// Our capabilities.
        ours: String,
        /// Theirs.
        theirs: String,
    },
    /// The Hello's node id differs from the key of the handshake.
    #[error("peer identity in Hello ({got}) differs from the handshake ({expected})")]
    UnexpectedIdentity {
        /// The handshake's id.
        expected: Box<NodeId>,
        /// The Hello's id.
        got: Box<NodeId>,
    },
    /// A message (decompressed) is larger than allowed.
    #[error("message of {size} bytes exceeds the maximum of {max}")]
    MessageTooBig {
        /// The declared or actual size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Snappy decompression failed.
    #[error("invalid snappy data: {0}")]
    Snappy(#[from] snap::Error),
    /// A message id outside the base protocol and every shared capability.
    #[error("message id {0:#x} belongs to no shared capability")]
    UnknownMessageId(u64),
    /// The capability is not shared or the code is outside its range.
    #[error("capability {name} code {code} is not available on this session")]
    NotShared {
        /// The capability name.
        name: String,
        /// The relative code.
        code: u64,
    },
    /// The peer did not answer a Ping in time.
    #[error("no Pong within {0:?}")]
    PingTimeout(std::time::Duration),
    /// Too many messages arrived while waiting for a Pong.
    #[error("more than {0} messages queued while waiting for a Pong")]
    QueueFull(usize),
    /// The Hello exchange did not complete in time.
    #[error("Hello not received within {0:?}")]
    HelloTimeout(std::time::Duration),
    /// A [`crate::FrameGate`] refused an incoming frame (a rate limit).
    #[error("frame refused: {detail}")]
    Refused {
        /// The reason sent to the peer.
        reason: DisconnectReason,
        /// Which limit, for the log.
        detail: String,
    },
    /// The connection ended.
    #[error("connection closed")]
    Closed,
}

impl P2PError {
    /// The Disconnect reason this error warrants, if the session should send one.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        use DisconnectReason as R;
        match self {
            Self::Rlpx(RlpxError::Frame(_)) => Some(R::BreachOfProtocol),
            Self::Rlpx(_) => Some(R::TcpSubsystemError),
            Self::Malformed { .. }
            | Self::HelloExpected(_)
            | Self::MessageTooBig { .. }
            | Self::Snappy(_)
            | Self::UnknownMessageId(_) => Some(R::BreachOfProtocol),
            Self::NoSharedCapability { .. } => Some(R::UselessPeer),
            Self::UnexpectedIdentity { .. } => Some(R::UnexpectedIdentity),
            Self::PingTimeout(_) => Some(R::PingTimeout),
            Self::QueueFull(_) => Some(R::SubprotocolError),
            Self::HelloTimeout(_) => Some(R::TcpSubsystemError),
            Self::Refused { reason, .. } => Some(*reason),
            Self::Disconnected(_)
            | Self::WeDisconnected { .. }
            | Self::NotShared { .. }
            | Self::Closed => None,
        }
    }
}
