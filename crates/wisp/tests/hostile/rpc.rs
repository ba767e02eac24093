//! Hostile input on the rpc surface (see main.rs).
