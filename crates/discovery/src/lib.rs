//! Peer discovery for wisp: how a Status node finds relays (`whisper`) and mailservers
//! (`whispermail`) by itself.
//!
//! - [`legacy`]: go-ethereum 1.9.5's `p2p/discv5` ("temporary discovery v5"), the UDP topic
//!   discovery status-go's bootnodes and statusd ran in the Waku v1 era (DECISIONS 5,
//!   IMPLEMENTER-NOTES §2): the packet codec, the sans-io [`legacy::LegacyDiscovery`] state
//!   machine and, with the `tokio` feature (on by default), a thin UDP driver.
//! - [`pool`]: the PeerPool, status-go's per-topic `{min, max}` limits with fast and slow
//!   searches, as a sans-io state machine independent of the discovery protocol.

pub mod legacy;
pub mod pool;

#[cfg(test)]
use serde_json as _;
