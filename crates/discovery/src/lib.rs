//! Peer discovery for wisp.
//!
//! - [`enr`]: Ethereum Node Records (EIP-778) with the "v4" identity scheme.
//! - [`dns`]: EIP-1459 DNS node lists: the tree's entries, a lazy client behind a
//!   [`dns::Resolver`] trait and a publisher that signs a tree and writes its TXT records.

pub mod dns;
pub mod enr;
