//! # wisp-waku: Waku v1 and Whisper v6
//!
//! The transport-privacy layer of Status as a pure library: envelopes and their proof of work,
//! topics and bloom filters, status options, every packet of `waku/1` and `shh/6`, payload
//! encryption (7/WAKU-DATA), filters, and the per-peer protocol and router as state machines.
//! No sockets and no clock reads: time is passed in, and packets go in and out as
//! `(code, payload)` pairs that `wisp-node` binds to an RLPx capability.
//!
//! Specs: `waku/6-WAKU1.md`, `waku/7-WAKU-DATA.md`, `eips/eip-627.md`,
//! `status/10-waku-usage.md`; `shared/DECISIONS.md` items 1-4, 9, 12, 14, 20-22.

pub mod envelope;
pub mod filter;
pub mod packets;
pub mod payload;
pub mod pool;
pub mod ratelimit;
pub mod router;
pub mod status;
pub mod topic;

pub use envelope::{DEFAULT_MAX_ENVELOPE_SIZE, Envelope, EnvelopeError, SealBudget, SealOutcome};
pub use filter::{Filter, FilterId, FilterKey, Filters, ReceivedMessage};
pub use packets::{
    EnvelopeErrorReport, MessageResponse, P2PRequestComplete, PacketError, PacketLimits, SHH_NAME,
    SHH_PROTOCOL_LENGTH, SHH_VERSION, WAKU_NAME, WAKU_PROTOCOL_LENGTH, WAKU_VERSION, WakuPacket,
    WhisperPacket, batch_hash,
};
pub use payload::{
    Encryption, MessageParams, OpenedMessage, OpeningKey, PayloadError, open_payload, seal_payload,
};
pub use router::{
    Capability, DropReason, EnvelopeDrop, Event, Output, PeerId, PeerStatus, PostError, Router,
    RouterConfig, RouterStats,
};
pub use status::{RateLimits, StatusOptions, WhisperStatus};
pub use topic::{BLOOM_LEN, Bloom, MAX_TOPIC_INTEREST, TOPIC_LEN, Topic};

#[cfg(test)]
use {criterion as _, proptest as _, serde_json as _, tracing as _};
