//! Peer discovery for wisp: how a Status node finds relays (`whisper`) and mailservers
//! (`whispermail`) by itself.
//!
//! - [`legacy`]: go-ethereum 1.9.5's `p2p/discv5` ("temporary discovery v5"), the UDP topic
//!   discovery status-go's bootnodes and statusd ran in the Waku v1 era (DECISIONS 5,
//!   IMPLEMENTER-NOTES §2): the packet codec, the sans-io [`legacy::LegacyDiscovery`] state
//!   machine and, with the `tokio` feature (on by default), a thin UDP driver.
//! - [`enr`]: Ethereum Node Records (EIP-778) with the "v4" identity scheme.
//! - [`dns`]: EIP-1459 DNS node lists: the tree's entries, a lazy client behind a
//!   [`dns::Resolver`] trait and a publisher that signs a tree and writes its TXT records.
//! - [`rendezvous`]: Status rendezvous `/rend/0.1.0`: messages, the server's registry and,
//!   with the feature `rendezvous`, the libp2p client and server.
//! - `v5` (feature `discv5`): Discovery v5.1 through the `discv5` crate, our ENR with the
//!   `waku` roles entry, discovered records filtered by it.
//! - [`pool`]: the PeerPool, status-go's per-topic `{min, max}` limits with fast and slow
//!   searches, as a sans-io state machine independent of the discovery protocol.

pub mod dns;
pub mod enr;
pub mod legacy;
pub mod pool;
pub mod rendezvous;
#[cfg(feature = "discv5")]
pub mod v5;

#[cfg(test)]
use aes_gcm as _;
#[cfg(test)]
use k256 as _;
#[cfg(test)]
use serde_json as _;
