//! `admin_*` and `web3_clientVersion`, in go-ethereum's shapes (`p2p.NodeInfo`,
//! `p2p.PeerInfo`), which status-go serves too.
//!
//! `id` is go-ethereum's node id: keccak256 of the 64-byte public key, as hex. The public key
//! itself is in the `enode` URL.

use std::str::FromStr;

use serde_json::{Value, json};
use wisp_crypto::{NodeId, keccak256};
use wisp_rlpx::NodeRecord;

use super::{Module, method, waku::VERSION};
use crate::{PeerInfo, Role};

/// go-ethereum's `enode.ID` of a v4 node: keccak256 of the public key.
fn geth_id(id: &NodeId) -> String {
    hex::encode(keccak256(id.as_bytes()))
}

fn peer_json(p: &PeerInfo, discovered_by: &str) -> Value {
    json!({
        "enode": NodeRecord::new(p.id, p.remote_addr).to_string(),
        "id": geth_id(&p.id),
        "name": p.client_id,
        "caps": p.caps,
        "network": {
            "remoteAddress": p.remote_addr.to_string(),
            "inbound": p.inbound,
            "trusted": p.trusted,
        },
        "discoveredBy": discovered_by,
    })
}

/// Registers `admin_*` and `web3_clientVersion`.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(
        m,
        "web3_clientVersion",
        0,
        |_, st| async move { Ok(st.node.info().client_id.clone()) },
    )?;
    method(m, "admin_nodeInfo", 0, |_, st| async move {
        let info = st.node.info();
        let enode = info.enode;
        let protocols = if info.role == Role::Bootstrap {
            json!({})
        } else {
            let config = st.node.router_config().await?;
            json!({ "waku": {
                "version": VERSION,
                "minPow": config.min_pow,
                "maxMessageSize": config.max_envelope_size,
                "lightClient": config.light_node,
            }})
        };
        Ok(json!({
            "id": geth_id(&info.id),
            "name": info.client_id,
            "enode": enode.to_string(),
            "ip": enode.address.to_string(),
            "ports": { "discovery": enode.udp_port, "listener": enode.tcp_port },
            "listenAddr": enode.tcp_addr().to_string(),
            "role": info.role.to_string(),
            "protocols": protocols,
        }))
    })?;
    method(m, "admin_peers", 0, |_, st| async move {
        let mut peers = st.node.peers().await?;
        peers.sort_by_key(|p| p.id);
        Ok(peers
            .iter()
            .map(|p| peer_json(p, st.node.discovered_by(p).as_str()))
            .collect::<Vec<_>>())
    })?;
    method(m, "admin_addPeer", 1, |args, st| async move {
        let node = NodeRecord::from_str(args.string(0, "enode")?)?;
        st.node.add_peer(node)?;
        Ok(true)
    })?;
    method(m, "admin_removePeer", 1, |args, st| async move {
        let node = NodeRecord::from_str(args.string(0, "enode")?)?;
        st.node.remove_peer(node.id).await?;
        Ok(true)
    })?;
    Ok(())
}
