//! The JSON-RPC server (HTTP and WebSocket on one port).

use std::net::SocketAddr;

use jsonrpsee::{
    RpcModule,
    server::{Server, ServerHandle},
};

use crate::{NodeError, NodeHandle};

/// A running JSON-RPC server.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// Binds `addr` and serves the node's methods.
    pub async fn start(addr: SocketAddr, node: NodeHandle) -> Result<Self, NodeError> {
        let server = Server::builder().build(addr).await.map_err(|source| NodeError::Bind {
            what: "JSON-RPC",
            addr,
            source,
        })?;
        let bound = server.local_addr().map_err(|source| NodeError::Bind {
            what: "JSON-RPC",
            addr,
            source,
        })?;
        let mut module = RpcModule::new(node);
        module
            .register_method("web3_clientVersion", |_, node, _| node.info().client_id.clone())
            .map_err(|e| NodeError::Rpc(e.to_string()))?;
        let handle = server.start(module);
        Ok(Self { addr: bound, handle })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}
