//! # wisp-mailserver: offline inboxes
//!
//! A mailserver archives every envelope it sees and serves them to clients that were offline
//! (`waku/8-WAKU-MAIL.md`, `status/11-waku-mailserver.md`, `status/4-whisper-mailserver.md`,
//! DECISIONS 10): the archive ([`store`]), the history server and the history client.

pub mod client;
pub mod memory;
#[cfg(feature = "postgres")]
mod pg_tls;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod request;
pub mod retention;
pub mod server;
pub mod sqlite;
pub mod store;

pub use client::{
    ClientConfig, ClientError, FailReason, Failure, HistoryQuery, HistoryRequest, Next,
    OutgoingRequest, RequestForm, Summary,
};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresStore};
pub use request::{
    DEFAULT_MAILSERVER_PASSWORD, DirectRequest, MessagesRequest, OpenedRequest, P2PRequest,
    PayloadForm, RequestError, RequestSealing, build_request, open_request,
};
pub use retention::{DEFAULT_RETENTION_DAYS, RetentionConfig};
pub use server::{
    Admitted, HistoryServer, Outcome, P2PMessageBatch, RejectReason, Rejection, Reply,
    ServerConfig, ServerKeys, serve_request,
};
pub use sqlite::{SqliteConfig, SqliteStore};
pub use store::{
    AnyStore, ArchiveSpec, ArchiveSpecError, ArchivedEnvelope, Cursor, MAX_LIMIT, Page, Query,
    Store, StoreError,
};

use wisp_crypto as _;
