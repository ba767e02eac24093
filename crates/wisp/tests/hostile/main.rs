//! The hostile-input suite: a real `wisp node` process attacked over loopback from outside its
//! own code paths (raw TCP, a raw RLPx peer, raw HTTP). Each test asserts the node's reaction
//! (the disconnect reason, the error, a metrics counter) and that its memory stays bounded
//! (the child's resident set, read from `/proc/<pid>/status`).
//!
//! One module per surface: `transport` (the RLPx port: handshake, Hello, frames), `waku`
//! (floods of valid and invalid envelopes, the pool cap) and `rpc` (JSON-RPC over HTTP and
//! WebSocket).

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

#[path = "../common/mod.rs"]
mod common;

mod rpc;
mod transport;
mod waku;
