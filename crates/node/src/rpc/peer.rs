//! `peer_discover`, status-go's `peer` API (`services/peer`): changes the `{min, max}` peers
//! the PeerPool keeps for a topic it already keeps. Takes one object
//! `{"topic": "whisper", "max": 3, "min": 2}` and returns `null`; the errors are status-go's
//! (`topic not valid`, `invalid range, Min should be lower or equal to Max`,
//! `discoverer not provided`, `topic not found`), with what is expected added.

use serde_json::Value;

use super::{Module, error::RpcError, method};

/// Registers `peer_discover`.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "peer_discover", 1, |args, st| async move {
        let req = args.object(0, "DiscoverRequest")?;
        let topic = req.str("topic")?.unwrap_or_default();
        let max = req.u32("max")?.unwrap_or(0);
        let min = req.u32("min")?.unwrap_or(0);
        let to_usize = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        st.node
            .discover(topic, to_usize(min), to_usize(max))
            .map_err(|e| RpcError::Discover(e.to_string()))?;
        Ok(Value::Null)
    })
}
