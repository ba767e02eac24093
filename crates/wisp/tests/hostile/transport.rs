//! Hostile input on the transport surface (see main.rs).
