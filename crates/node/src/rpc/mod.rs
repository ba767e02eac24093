//! The JSON-RPC server: HTTP and WebSocket on one port, status-go's API (9/WAKU-RPC).
//!
//! - `waku_*`: node settings, the key store (symmetric keys and key pairs under random ids),
//!   `waku_post`, polled message filters, and the `messages` subscription (`waku_subscribe`,
//!   WebSocket only);
//! - `admin_*` and `web3_clientVersion`: node info and peers, as go-ethereum shows them;
//! - `wakuext_requestMessages`: history from a connected mailserver (see `wakuext.rs`);
//! - the chat methods of a node with an account (`NodeConfig::chat`), status-go v0.79's names
//!   and shapes: `wakuext_startMessenger`, `wakuext_chats`, `wakuext_activeChats`,
//!   `wakuext_createPublicChat`, `wakuext_createOneToOneChat`, `wakuext_deactivateChat`,
//!   `wakuext_deleteChat`, `wakuext_chatMessages`, `wakuext_sendChatMessage`,
//!   `wakuext_sendChatMessages`, `wakuext_reSendChatMessage`, `wakuext_markAllRead`,
//!   `wakuext_markMessagesSeen`, `wakuext_deleteMessage`,
//!   `wakuext_requestAllHistoricMessages`, `wakuext_syncChatFromSyncedFrom`,
//!   `wakuext_historyProgress`, and the subscription `wakuext_subscribe`
//!   (`"messages.new"` or `"history.progress"`; notifications `wakuext_subscription`, ended by
//!   `wakuext_unsubscribe`), WebSocket only (see `chat.rs` for parameters and results).
//!
//! Parameters and results have status-go's shapes. Byte strings come back as `0x`-hex;
//! `payload`, `padding`, `pubKey` and a criteria `sig` are `0x`-hex or, without the prefix,
//! padded standard base64, because status-go's Waku API used base64 there; a string that is
//! neither is an error naming the field (and, if it is made of hex digits, asking for the
//! `0x` prefix). Every bad
//! input is a JSON-RPC error whose message says what is wrong; no input stops the node.
//!
//! The server is bounded by [`RpcLimits`]: connections, the time to send a request, the
//! calls in a batch, the request size ([`MAX_REQUEST_BODY`]) and the filters clients may
//! keep open (see `serve.rs` for how connections are served).
//!
//! ```no_run
//! # async fn run(node: wisp_node::NodeHandle) -> Result<(), wisp_node::NodeError> {
//! let server = wisp_node::rpc::RpcServer::start("127.0.0.1:0".parse().unwrap(), node).await?;
//! let url = format!("http://{}", server.local_addr());
//! # let _ = url;
//! server.stop().await;
//! # Ok(())
//! # }
//! ```

mod admin;
mod chat;
mod contacts;
mod error;
mod group;
mod keys;
mod peer;
mod reactions;
mod serve;
mod types;
mod waku;
mod wakuext;

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use jsonrpsee::{
    RpcModule,
    core::RegisterMethodError,
    server::{
        BatchRequestConfig, IdProvider, PingConfig, Server, ServerConfig, ServerHandle,
        stop_channel,
    },
    types::{ErrorObjectOwned, SubscriptionId},
};
use serde::Serialize;
use wisp_waku::FilterId;

use crate::{NodeError, NodeHandle};
use error::RpcError;
use keys::KeyStore;
use types::Args;

/// Largest request body (bytes). A payload at the 10 MiB ceiling of
/// [`MAX_MESSAGE_SIZE_LIMIT`] is 20 MiB as hex; the rest is slack for the JSON around it.
pub const MAX_REQUEST_BODY: u32 = 32 * 1024 * 1024;
/// Largest response body (bytes): `waku_getFilterMessages` hands over (and forgets) every
/// queued message at once, so the limit is generous.
pub const MAX_RESPONSE_BODY: u32 = 256 * 1024 * 1024;
/// Largest value `waku_setMaxMessageSize` accepts: 10 MiB, the ceiling of 9/WAKU-RPC
/// ("can never exceed the underlying envelope size of 10mb") and status-go's `MaxMessageSize`.
pub const MAX_MESSAGE_SIZE_LIMIT: u32 = 10 * 1024 * 1024;

/// The limits of the JSON-RPC server (`[rpc]` in `wisp.toml`). They bound what local clients
/// can make the node hold: connections, time, request sizes, filters.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcLimits {
    /// Most HTTP connections at once; the next ones are answered `503 Service Unavailable`
    /// and closed. WebSocket sessions (once upgraded) are counted apart, by jsonrpsee, with the
    /// same limit (beyond it an upgrade gets `429`). Default: 256 (a client needs a few;
    /// jsonrpsee's own 100 was filled by 100 stalled connections).
    pub max_connections: u32,
    /// How long a client may take to send a request's headers; also how long a keep-alive
    /// connection may sit idle between requests. Default: 10 s.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body once its headers are in; then it
    /// gets `408 Request Timeout` and the connection is closed. Default: 30 s (32 MiB at about
    /// 1 MiB/s).
    pub body_timeout: Duration,
    /// Most calls in one batch request. Default: 100 (each call may cost a PBKDF2 or a PoW
    /// search; status-go's clients send single calls).
    pub max_batch: u32,
    /// Most message filters (`waku_newMessageFilter`) and `messages` subscriptions at once,
    /// across all clients; beyond it both answer an error. Default: 1000 (a Status client
    /// keeps a filter per chat and per partitioned topic).
    pub max_filters: usize,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_batch: 100,
            max_filters: 1000,
        }
    }
}

/// What the methods share: the node, the key store and the polled filters.
#[derive(Debug)]
pub(crate) struct State {
    node: NodeHandle,
    keys: KeyStore,
    /// Filter ids given out by `waku_newMessageFilter`.
    filters: Mutex<HashMap<String, FilterId>>,
    /// Polled filters and subscriptions open (or being opened).
    open_filters: AtomicUsize,
    /// [`RpcLimits::max_filters`].
    max_filters: usize,
    /// Aliases and identicons of chat keys, for the chat methods.
    profiles: chat::Profiles,
}

impl State {
    fn filters(&self) -> std::sync::MutexGuard<'_, HashMap<String, FilterId>> {
        self.filters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one of the [`RpcLimits::max_filters`] places, or says there is none left.
    fn reserve_filter(&self) -> Result<(), RpcError> {
        self.open_filters
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_filters).then_some(n + 1)
            })
            .map(drop)
            .map_err(|_| RpcError::TooManyFilters { max: self.max_filters })
    }

    /// Gives back a place taken by [`State::reserve_filter`].
    fn release_filter(&self) {
        self.open_filters.fetch_sub(1, Ordering::AcqRel);
    }
}

type Module = RpcModule<State>;

/// Registers `name`: its positional parameters (at most `max_params`) are handed to `f`, and
/// an error becomes a JSON-RPC error object.
fn method<T, F, Fut>(
    module: &mut Module,
    name: &'static str,
    max_params: usize,
    f: F,
) -> Result<(), RegisterMethodError>
where
    T: Serialize + Clone + Send + 'static,
    F: Fn(Args, Arc<State>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, RpcError>> + Send + 'static,
{
    module.register_async_method(name, move |params, state, _| {
        let f = f.clone();
        async move {
            let result = match Args::parse(params.as_str(), max_params) {
                Ok(args) => f(args, state).await,
                Err(e) => Err(e),
            };
            result.map_err(|e| {
                tracing::debug!(target: "node::rpc", method = name, error = %e, "call failed");
                ErrorObjectOwned::from(e)
            })
        }
    })?;
    Ok(())
}

/// Subscription ids as status-go's: 32 random bytes as 64 hex characters.
#[derive(Debug, Clone, Copy)]
struct HexIdProvider;

impl IdProvider for HexIdProvider {
    fn next_id(&self) -> SubscriptionId<'static> {
        SubscriptionId::Str(keys::new_id(|_| false).into())
    }
}

/// A running JSON-RPC server.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// Binds `addr` and serves the node's methods over HTTP and WebSocket, with the default
    /// [`RpcLimits`].
    pub async fn start(addr: SocketAddr, node: NodeHandle) -> Result<Self, NodeError> {
        Self::start_with(addr, RpcLimits::default(), node).await
    }

    /// Binds `addr` and serves the node's methods over HTTP and WebSocket within `limits`.
    pub async fn start_with(
        addr: SocketAddr,
        limits: RpcLimits,
        node: NodeHandle,
    ) -> Result<Self, NodeError> {
        let bind_error = |source| NodeError::Bind { what: "JSON-RPC", addr, source };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let config = ServerConfig::builder()
            .max_request_body_size(MAX_REQUEST_BODY)
            .max_response_body_size(MAX_RESPONSE_BODY)
            .max_connections(limits.max_connections)
            .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch))
            // A WebSocket client that answers no ping for 60 s is disconnected.
            .enable_ws_ping(
                PingConfig::new()
                    .ping_interval(Duration::from_secs(30))
                    .inactive_limit(Duration::from_secs(60))
                    .max_failures(1),
            )
            .set_id_provider(HexIdProvider)
            .build();
        let module =
            Self::module(node, limits.max_filters).map_err(|e| NodeError::Rpc(e.to_string()))?;
        let (stop, handle) = stop_channel();
        let shared = serve::Shared {
            builder: Server::builder()
                .set_config(config)
                .to_service_builder()
                .max_connections(limits.max_connections),
            methods: module.into(),
            stop,
            max_body: MAX_REQUEST_BODY,
            body_budget: serve::Shared::body_budget(),
            limits,
        };
        tokio::spawn(serve::accept_loop(listener, shared));
        tracing::info!(target: "node::rpc", addr = %bound, "JSON-RPC server listening");
        Ok(Self { addr: bound, handle })
    }

    fn module(node: NodeHandle, max_filters: usize) -> Result<Module, RegisterMethodError> {
        let state = State {
            node,
            keys: KeyStore::default(),
            filters: Mutex::default(),
            open_filters: AtomicUsize::new(0),
            max_filters,
            profiles: chat::Profiles::default(),
        };
        let mut module = RpcModule::new(state);
        waku::register(&mut module)?;
        admin::register(&mut module)?;
        wakuext::register(&mut module)?;
        chat::register(&mut module)?;
        contacts::register(&mut module)?;
        group::register(&mut module)?;
        reactions::register(&mut module)?;
        peer::register(&mut module)?;
        Ok(module)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving; open subscriptions end and remove their filters.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}
