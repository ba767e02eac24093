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
pub mod topic;

pub use envelope::{DEFAULT_MAX_ENVELOPE_SIZE, Envelope, EnvelopeError, SealBudget, SealOutcome};
pub use topic::{BLOOM_LEN, Bloom, MAX_TOPIC_INTEREST, TOPIC_LEN, Topic};

#[cfg(test)]
use {proptest as _, serde_json as _, tracing as _};
