//! The JSON-RPC server: HTTP and WebSocket on one port, status-go's API (9/WAKU-RPC).
//!
//! - `waku_*`: node settings, the key store (symmetric keys and key pairs under random ids),
//!   `waku_post`, polled message filters, and the `messages` subscription (`waku_subscribe`,
//!   WebSocket only);
//! - `admin_*` and `web3_clientVersion`: node info and peers, as go-ethereum shows them;
//! - `wakuext_requestMessages`: history from a connected mailserver (see `wakuext.rs`).
//!
//! Parameters and results have status-go's shapes. Byte strings come back as `0x`-hex;
//! `payload`, `padding`, `pubKey` and a criteria `sig` are also accepted as standard base64
//! when they lack the `0x` prefix, because status-go's Waku API used base64 there. Every bad
//! input is a JSON-RPC error whose message says what is wrong; no input stops the node.
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
mod error;
mod keys;
mod types;
mod waku;
mod wakuext;

use std::{collections::HashMap, future::Future, net::SocketAddr, sync::Arc, sync::Mutex};

use jsonrpsee::{
    RpcModule,
    core::RegisterMethodError,
    server::{IdProvider, Server, ServerConfig, ServerHandle},
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

/// What the methods share: the node, the key store and the polled filters.
#[derive(Debug)]
pub(crate) struct State {
    node: NodeHandle,
    keys: KeyStore,
    /// Filter ids given out by `waku_newMessageFilter`.
    filters: Mutex<HashMap<String, FilterId>>,
}

impl State {
    fn filters(&self) -> std::sync::MutexGuard<'_, HashMap<String, FilterId>> {
        self.filters.lock().unwrap_or_else(|e| e.into_inner())
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
    /// Binds `addr` and serves the node's methods over HTTP and WebSocket.
    pub async fn start(addr: SocketAddr, node: NodeHandle) -> Result<Self, NodeError> {
        let config = ServerConfig::builder()
            .max_request_body_size(MAX_REQUEST_BODY)
            .max_response_body_size(MAX_RESPONSE_BODY)
            .set_id_provider(HexIdProvider)
            .build();
        let server = Server::builder()
            .set_config(config)
            .build(addr)
            .await
            .map_err(|source| NodeError::Bind { what: "JSON-RPC", addr, source })?;
        let bound = server.local_addr().map_err(|source| NodeError::Bind {
            what: "JSON-RPC",
            addr,
            source,
        })?;
        let module = Self::module(node).map_err(|e| NodeError::Rpc(e.to_string()))?;
        let handle = server.start(module);
        tracing::info!(target: "node::rpc", addr = %bound, "JSON-RPC server listening");
        Ok(Self { addr: bound, handle })
    }

    fn module(node: NodeHandle) -> Result<Module, RegisterMethodError> {
        let state = State { node, keys: KeyStore::default(), filters: Mutex::default() };
        let mut module = RpcModule::new(state);
        waku::register(&mut module)?;
        admin::register(&mut module)?;
        wakuext::register(&mut module)?;
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
