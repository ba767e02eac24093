//! Peer discovery for wisp.
//!
//! - [`enr`]: Ethereum Node Records (EIP-778) with the "v4" identity scheme.
//! - [`dns`]: EIP-1459 DNS node lists: the tree's entries, a lazy client behind a
//!   [`dns::Resolver`] trait and a publisher that signs a tree and writes its TXT records.
//! - [`rendezvous`]: Status rendezvous `/rend/0.1.0`: messages, the server's registry and,
//!   with the feature `rendezvous`, the libp2p client and server.

pub mod dns;
pub mod enr;
pub mod rendezvous;
