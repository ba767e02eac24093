//! Hostile input on the waku surface (see main.rs).
