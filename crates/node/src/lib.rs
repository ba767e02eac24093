//! # wisp-node: a running Status node
//!
//! Turns the layers into a daemon (1/CLIENT): RLPx peers (listen, static and trusted nodes
//! dialled and redialled with backoff, inbound/outbound slots, disconnect reasons), the Waku
//! router as a service behind a cheap [`NodeHandle`], JSON-RPC over HTTP and WebSocket, and
//! Prometheus metrics.
//!
//! The router is a sans-io state machine (`wisp_waku::Router`); this crate is its driver: one
//! task owns it and feeds it packets, commands and the clock; one task per peer moves packets
//! between its RLPx session and the router.
//!
//! With a chat account (`NodeConfig::chat`) the node also runs the Status messenger
//! ([`chat`]): public and 1:1 chats driven over the `wakuext_*` JSON-RPC methods.

pub mod chat;
mod config;
mod config_file;
pub mod discovery;
mod history;
mod mailserver;
pub mod metrics;
mod node;
pub mod node_key;
mod peer;
pub mod rpc;
mod scores;
mod service;
#[cfg(feature = "test-utils")]
pub mod test_utils;

pub use chat::{
    ChatError, ChatEvent, ChatHandle, GroupChange, GroupChat, HistoryProgress, SYNC_BACK_SECS,
    SyncedRange,
};
pub use config::{
    ChatConfig, DEFAULT_HISTORY_SECS, NodeConfig, Role, WakuConfig, default_data_dir, xdg_data_dir,
};
pub use config_file::{
    CONFIG_FILE_NAME, ChatSection, ConfigError, FileConfig, LogFormat, LogSection,
    MailserverSection, MetricsSection, NodeSection, RpcSection, WakuSection, load_config_file,
};
pub use config_file::{MAX_MAX_MESSAGE_SIZE, MAX_MIN_POW, MIN_MAX_MESSAGE_SIZE};
pub use discovery::{DiscoverError, DiscoveryConfig, Source as DiscoverySource};
pub use history::{HistoryError, HistoryOutcome};
pub use mailserver::{DEFAULT_ARCHIVE_QUEUE_BYTES, MailserverConfig};
pub use node::{Node, NodeError, client_id, load_or_create_key};
pub use service::{NodeHandle, NodeInfo, NodeStopped, PeerInfo};
pub use wisp_mailserver::{ArchiveSpec, ArchiveSpecError, client::HistoryQuery};

#[cfg(test)]
use {base64 as _, proptest as _, serde as _, serde_json as _, toml as _, wisp_node as _};
