//! The errors of the JSON-RPC layer. Each names what is wrong in the caller's terms (the
//! parameter, the id, the limit), and becomes a JSON-RPC error object whose `message` is the
//! error's text: `-32602` (invalid params) for bad input, `-32000` (go-ethereum's server
//! error) when the input was fine but the node could not do it.

use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, error::INVALID_PARAMS_CODE};
use wisp_rlpx::EnodeError;
use wisp_waku::EnvelopeDrop;

use crate::NodeStopped;

/// go-ethereum's code for errors returned by a method (`rpc.defaultErrorCode`).
pub(crate) const SERVER_ERROR_CODE: i32 = -32000;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum RpcError {
    /// The parameters are not what the method takes (count, JSON types).
    #[error("{0}")]
    Params(String),
    /// A `0x`-prefixed value is not valid hex.
    #[error("{field}: invalid hex: {detail}")]
    BadHex {
        /// The parameter or field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A value without `0x` is not valid padded standard base64 either.
    #[error(
        "{field}: not 0x-prefixed hex, and not padded standard base64 (status-go's form) either: {detail}"
    )]
    BadBase64 {
        /// The parameter or field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A byte string of the wrong length.
    #[error("{field} must be {expected} bytes, got {got}")]
    WrongLength {
        /// The parameter or field.
        field: String,
        /// The length it must have.
        expected: usize,
        /// Its length.
        got: usize,
    },
    /// A topic that is not 4 bytes.
    #[error("{field} must be 4 bytes of hex such as \"0x12345678\", got {got} bytes")]
    TopicLength {
        /// The parameter or field.
        field: String,
        /// Its length in bytes.
        got: usize,
    },
    /// No symmetric key has this id.
    #[error(
        "no symmetric key with id {0:?} (waku_newSymKey, waku_addSymKey and waku_generateSymKeyFromPassword return ids)"
    )]
    UnknownSymKey(String),
    /// No key pair has this id.
    #[error("no key pair with id {0:?} (waku_newKeyPair and waku_addPrivateKey return ids)")]
    UnknownKeyPair(String),
    /// No message filter has this id.
    #[error("filter not found: no message filter with id {0:?}")]
    UnknownFilter(String),
    /// [`super::RpcLimits::max_filters`] filters and subscriptions are open.
    #[error(
        "too many message filters: at most {max} filters and subscriptions may be open at once; delete unused ones (waku_deleteMessageFilter, waku_unsubscribe)"
    )]
    TooManyFilters {
        /// The limit.
        max: usize,
    },
    /// Both keys, or neither, were given.
    #[error(
        "specify either a symmetric or an asymmetric key: exactly one of {sym} and {asym} ({given})"
    )]
    SymAsym {
        /// The symmetric key field.
        sym: &'static str,
        /// The asymmetric key field.
        asym: &'static str,
        /// "both were given" or "neither was given".
        given: &'static str,
    },
    /// Symmetric encryption needs a topic.
    #[error("missing topic(s): {0}")]
    NoTopics(&'static str),
    /// A public key that is not a secp256k1 point.
    #[error("{field}: invalid public key: {detail}")]
    BadPublicKey {
        /// The parameter or field.
        field: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A private key that is not a valid secp256k1 scalar.
    #[error("invalid private key: {0}")]
    BadPrivateKey(String),
    /// A PoW value that is NaN or negative.
    #[error("{field} must be a non-negative number, got {value}")]
    BadPow {
        /// The parameter or field.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// A minimum PoW no envelope could reach in reasonable time.
    #[error(
        "minimum PoW {value:?} is above {max}: no peer could seal an envelope for it and every post would be refused; expected a number from 0 to {max}"
    )]
    MinPowTooHigh {
        /// The value.
        value: f64,
        /// The ceiling.
        max: f64,
    },
    /// The payload cannot fit in an envelope the node accepts.
    #[error(
        "message too large: the envelope would be at least {size} bytes, the maximum is {max} (see waku_info.maxMessageSize)"
    )]
    TooLarge {
        /// The (least) envelope size.
        size: usize,
        /// The node's limit.
        max: usize,
    },
    /// The requested PoW is below the node's minimum.
    #[error(
        "message rejected, PoW too low: powTarget {target} is below the node's minimum PoW {min}"
    )]
    PowTooLow {
        /// The requested target.
        target: f64,
        /// The node's minimum.
        min: f64,
    },
    /// The PoW target was not reached in time.
    #[error(
        "failed to reach the PoW target {target}: the best PoW found in {pow_time} s was {achieved}; raise powTime or lower powTarget"
    )]
    PowNotReached {
        /// The requested target.
        target: f64,
        /// The best PoW found.
        achieved: f64,
        /// The seconds spent.
        pow_time: u32,
    },
    /// The TTL would take the expiry past the year 2106.
    #[error("ttl {0} s is too large: the expiry does not fit in 32 bits")]
    TtlTooLarge(u32),
    /// A size outside the allowed range.
    #[error("{field} must be between {min} and {max}, got {value}")]
    OutOfRange {
        /// The parameter.
        field: &'static str,
        /// The least value.
        min: u64,
        /// The largest value.
        max: u64,
        /// The value.
        value: u64,
    },
    /// A malformed enode URL.
    #[error("invalid enode: {0}")]
    BadEnode(#[from] EnodeError),
    /// The subscription kind is not `messages`.
    #[error("unknown subscription {0:?}: the only subscription is \"messages\"")]
    UnknownSubscription(String),
    /// The chat subscription kind is not one of ours.
    #[error(
        "unknown subscription {0:?}: wakuext_subscribe takes \"messages.new\" or \"history.progress\""
    )]
    UnknownChatSubscription(String),
    /// The router refused the envelope.
    #[error("envelope refused: {}", drop_text(.0))]
    Refused(EnvelopeDrop),
    /// The peer to deliver to is not connected.
    #[error("target peer {0} is not connected")]
    PeerNotConnected(String),
    /// A mailserver (`wakuext_requestMessages`) is not a connected peer.
    #[error("mailserver {0} is not a connected peer: add it with admin_addPeer")]
    MailserverNotConnected(String),
    /// A chat method was called on a node without a chat account.
    #[error("this node runs without an account; start it with --account")]
    NoAccount,
    /// A chat method's input refused by the messenger (unknown chat or message, inactive
    /// chat, invalid text).
    #[error("{0}")]
    ChatInput(String),
    /// The messenger could not do it (its store failed, the node is stopping).
    #[error("{0}")]
    Chat(String),
    /// The node is shutting down.
    #[error(transparent)]
    Stopped(#[from] NodeStopped),
    /// A background task failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// `peer_discover` was refused (status-go's message first).
    #[error("{0}")]
    Discover(String),
}

fn drop_text(reason: &EnvelopeDrop) -> &'static str {
    match reason {
        EnvelopeDrop::Expired => "it has expired",
        EnvelopeDrop::FutureDated => "it is dated in the future",
        EnvelopeDrop::LowPow => "its PoW is below the node's minimum",
        EnvelopeDrop::InvalidTtl => "its TTL is invalid",
        EnvelopeDrop::TooBig => "it exceeds the maximum message size",
        EnvelopeDrop::Duplicate => "the same envelope was already posted",
        EnvelopeDrop::PoolFull => "the pool is full of envelopes of more PoW per byte",
    }
}

impl RpcError {
    /// The JSON-RPC error code.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Self::PowNotReached { .. }
            | Self::Refused(_)
            | Self::PeerNotConnected(_)
            | Self::MailserverNotConnected(_)
            | Self::NoAccount
            | Self::Chat(_)
            | Self::TooManyFilters { .. }
            | Self::Stopped(_)
            | Self::Internal(_)
            | Self::Discover(_) => SERVER_ERROR_CODE,
            _ => INVALID_PARAMS_CODE,
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        ErrorObject::owned(e.code(), e.to_string(), None::<()>)
    }
}
