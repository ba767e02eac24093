//! # wisp-mailserver: offline inboxes
//!
//! A mailserver archives every envelope it sees and serves them to clients that were offline
//! (`waku/8-WAKU-MAIL.md`, `status/11-waku-mailserver.md`, `status/4-whisper-mailserver.md`,
//! DECISIONS 10): the archive ([`store`]), the history server and the history client.

pub mod store;

pub use store::{ArchivedEnvelope, Cursor, Page, Query, Store, StoreError};

use wisp_crypto as _;
