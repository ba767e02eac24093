//! Asking a trusted mailserver for history: the client state machine of `wisp-mailserver`
//! driven over the node's peer connection. The envelopes the mailserver sends reach the
//! node's filters that allow P2P (the router accepts P2P messages only from trusted peers).

use std::time::Duration;

use wisp_crypto::{NodeId, Zeroizing};
use wisp_mailserver::{
    client::{ClientConfig, FailReason, HistoryQuery, HistoryRequest, Next, RequestForm, Summary},
    request::RequestSealing,
};
use wisp_waku::{Encryption, Event};

use crate::service::{NodeHandle, NodeStopped, now_ms};

/// Why a history request did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The node is shutting down.
    #[error(transparent)]
    Stopped(#[from] NodeStopped),
    /// The mailserver is not a connected peer.
    #[error("mailserver {0} is not connected (add it as a peer first)")]
    NotConnected(String),
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Request(String),
    /// The request failed part way; `received` envelopes arrived before, `gap` is the range
    /// not covered.
    #[error("history request failed: {reason:?} after {received} envelopes; not covered: {gap:?}")]
    Failed {
        /// Why.
        reason: FailReason,
        /// Envelopes received before the failure.
        received: u64,
        /// The time range (Unix seconds) still missing.
        gap: (u32, u32),
    },
}

/// What a completed history request brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryOutcome {
    /// Envelopes received (all were handed to the filters that allow P2P).
    pub received: u64,
    /// Pages (request/completion rounds) it took.
    pub pages: u32,
}

impl NodeHandle {
    /// Asks `mailserver` (a connected peer; it is marked trusted) for the envelopes of `query`,
    /// with requests sealed with `key` (the mailserver password's key), following cursors to the
    /// end. `progress` is called after every page with the envelopes received so far.
    pub async fn request_history(
        &self,
        mailserver: NodeId,
        query: HistoryQuery,
        key: Zeroizing<[u8; 32]>,
        page_timeout: Duration,
        mut progress: impl FnMut(u64, u32) + Send,
    ) -> Result<HistoryOutcome, HistoryError> {
        self.mark_trusted(mailserver).await?;
        let ids = self.peer_ids(mailserver).await?;
        if ids.is_empty() {
            return Err(HistoryError::NotConnected(mailserver.to_string()));
        }
        let mut events = self.events();
        let sealing = RequestSealing::new(Encryption::Symmetric(key));
        let mut config = ClientConfig::new(RequestForm::envelope(sealing));
        config.page_timeout_ms = page_timeout.as_millis() as u64;
        let (mut request, outgoing) = HistoryRequest::start(query, config, now_ms())
            .map_err(|e| HistoryError::Request(e.to_string()))?;
        let send = |payload: Vec<u8>| {
            self.send_packet(mailserver, wisp_mailserver::client::OutgoingRequest::CODE, payload)
        };
        if !send(outgoing.to_payload()).await? {
            return Err(HistoryError::NotConnected(mailserver.to_string()));
        }
        let mut received = 0u64;
        loop {
            let wait = request.deadline_ms().unwrap_or(0).saturating_sub(now_ms());
            let next = match tokio::time::timeout(Duration::from_millis(wait), events.recv()).await
            {
                Err(_) => request.on_timeout(now_ms()),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(target: "mailserver::client", missed = n, "history events lagged");
                    Next::Pending
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                    return Err(NodeStopped.into());
                }
                Ok(Ok(Event::P2PMessages { peer, envelopes })) if ids.contains(&peer) => {
                    received += envelopes.len() as u64;
                    let next = request.on_p2p_messages(&envelopes);
                    // The router already gave them to the filters; keep no copies here.
                    request.take_envelopes();
                    next
                }
                Ok(Ok(Event::P2PRequestComplete { peer, complete })) if ids.contains(&peer) => {
                    let next = request.on_complete(&complete, now_ms());
                    progress(received, request.pages());
                    next
                }
                Ok(Ok(_)) => Next::Ignored,
            };
            match next {
                Next::Ignored | Next::Pending => {}
                Next::Request(o) => {
                    if !send(o.to_payload()).await? {
                        return Err(HistoryError::NotConnected(mailserver.to_string()));
                    }
                }
                Next::Done(Summary { received, pages, .. }) => {
                    return Ok(HistoryOutcome { received, pages });
                }
                Next::Failed(f) => {
                    return Err(HistoryError::Failed {
                        reason: f.reason,
                        received: f.summary.received,
                        gap: f.gap,
                    });
                }
            }
        }
    }
}
