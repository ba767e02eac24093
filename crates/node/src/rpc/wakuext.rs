//! `wakuext_requestMessages`: ask a connected mailserver for history (status-go's
//! `wakuext` service, 10/WAKU-USAGE §`wakuext_requestMessages`).
//!
//! One object parameter, status-go's `MessagesRequest`:
//!
//! | field | type | default | |
//! |---|---|---|---|
//! | `mailServerPeer` | enode URL | required | must be a connected peer (`admin_addPeer`) |
//! | `from` | Unix seconds | now − 24 h | inclusive |
//! | `to` | Unix seconds | now | inclusive; `from` ≤ `to` |
//! | `limit` | number | 1000 | envelopes per page, 1 to 1000; every page is fetched |
//! | `cursor` | hex | none | checked, then ignored: pages are followed to the end |
//! | `topics` | `[4-byte hex]` | required | 1 to 1000 topics |
//! | `symKeyID` | key id | the key of `status-offline-inbox` | the mailserver password's key |
//! | `timeout` | seconds | 30 | per page |
//! | `force` | bool | false | accepted and ignored (status-go skipped its rate check) |
//!
//! status-go returned at once and ran the request in the background; this method waits until
//! the request completes (or fails) and returns
//! `{requestId: null, envelopes, pages}`, plus `error` and `gap: {from, to}` (the range not
//! covered) when the mailserver failed part way. The envelopes themselves go to the node's
//! filters that allow P2P (`waku_newMessageFilter` with `allowP2P: true`).

use std::{
    str::FromStr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};
use wisp_mailserver::{client::HistoryQuery, request::MAX_REQUEST_TOPICS, store::MAX_LIMIT};
use wisp_rlpx::NodeRecord;

use super::{
    Module,
    error::RpcError,
    method,
    types::{decode_bytes, decode_topic},
};
use crate::HistoryError;

/// The default time range: the last 24 hours.
const DEFAULT_RANGE_SECS: u32 = 24 * 60 * 60;
/// The default seconds to wait for each page.
const DEFAULT_PAGE_TIMEOUT_SECS: u32 = 30;
/// The longest page timeout accepted.
const MAX_PAGE_TIMEOUT_SECS: u64 = 600;
/// The object's name in error messages.
const WHAT: &str = "MessagesRequest";

fn now_secs() -> u32 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Registers `wakuext_requestMessages`.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "wakuext_requestMessages", 1, |args, st| async move {
        let r = args.object(0, WHAT)?;
        let field = |key: &str| format!("{WHAT}.{key}");

        let enode = r
            .str("mailServerPeer")?
            .ok_or_else(|| RpcError::Params(format!("{} is required", field("mailServerPeer"))))?;
        let peer = NodeRecord::from_str(enode).map_err(|e| {
            RpcError::Params(format!("{}: invalid enode: {e}", field("mailServerPeer")))
        })?;

        let now = now_secs();
        let to = r.u32("to")?.unwrap_or(now);
        let from = r.u32("from")?.unwrap_or_else(|| now.saturating_sub(DEFAULT_RANGE_SECS));
        if from > to {
            return Err(RpcError::Params(format!(
                "{} ({from}) is after {} ({to})",
                field("from"),
                field("to")
            )));
        }
        let limit = r.u32("limit")?.unwrap_or(MAX_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(RpcError::OutOfRange {
                field: "MessagesRequest.limit",
                min: 1,
                max: MAX_LIMIT.into(),
                value: limit.into(),
            });
        }
        if let Some(cursor) = r.str("cursor")? {
            // Checked, then ignored: every page is followed from the start of the range.
            decode_bytes(&field("cursor"), cursor, false)?;
        }
        let texts = r.strings("topics")?;
        if texts.is_empty() {
            return Err(RpcError::NoTopics("MessagesRequest.topics needs at least one topic"));
        }
        if texts.len() > MAX_REQUEST_TOPICS {
            return Err(RpcError::OutOfRange {
                field: "MessagesRequest.topics (count)",
                min: 1,
                max: MAX_REQUEST_TOPICS as u64,
                value: texts.len() as u64,
            });
        }
        let topics = texts
            .iter()
            .enumerate()
            .map(|(i, t)| decode_topic(&format!("{}[{i}]", field("topics")), t))
            .collect::<Result<Vec<_>, _>>()?;
        let key = match r.str("symKeyID")? {
            Some(id) => {
                st.keys.sym_key(id).ok_or_else(|| RpcError::UnknownSymKey(id.to_owned()))?
            }
            None => tokio::task::spawn_blocking(crate::chat::default_mailserver_key)
                .await
                .map_err(|e| RpcError::Internal(e.to_string()))?,
        };
        let timeout = r.u32("timeout")?.unwrap_or(DEFAULT_PAGE_TIMEOUT_SECS);
        if !(1..=MAX_PAGE_TIMEOUT_SECS).contains(&u64::from(timeout)) {
            return Err(RpcError::OutOfRange {
                field: "MessagesRequest.timeout",
                min: 1,
                max: MAX_PAGE_TIMEOUT_SECS,
                value: timeout.into(),
            });
        }
        // Accepted for status-go's clients; there is no client-side rate check to skip.
        let _force = r.bool("force")?;

        let not_connected = || RpcError::MailserverNotConnected(enode.to_owned());
        if !st.node.peers().await?.iter().any(|p| p.id == peer.id) {
            return Err(not_connected());
        }
        let mut query = HistoryQuery::topics(topics, from, to);
        query.limit = limit;
        let mut pages_seen = 0u32;
        let outcome = st
            .node
            .request_history(
                peer.id,
                query,
                key,
                Duration::from_secs(timeout.into()),
                |_, pages| pages_seen = pages,
            )
            .await;
        match outcome {
            Ok(o) => {
                Ok(json!({ "requestId": Value::Null, "envelopes": o.received, "pages": o.pages }))
            }
            Err(HistoryError::Failed { reason, received, gap }) => Ok(json!({
                "requestId": Value::Null,
                "envelopes": received,
                "pages": pages_seen,
                "error": format!("history request failed: {reason:?}"),
                "gap": { "from": gap.0, "to": gap.1 },
            })),
            Err(HistoryError::NotConnected(_)) => Err(not_connected()),
            Err(HistoryError::Stopped(e)) => Err(e.into()),
            Err(HistoryError::Request(e)) => {
                Err(RpcError::Params(format!("cannot build the request: {e}")))
            }
        }
    })?;
    Ok(())
}
