//! Prometheus metrics, per node (a process may run many nodes: `wisp devnet`, tests), served as
//! the text exposition format on `GET /metrics`.
//!
//! A small registry of atomic counters keyed by name and label, rather than the global
//! `metrics` recorder, so that every node in a process reports its own figures.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::watch,
};

/// Descriptions of every metric, in exposition order.
const HELP: &[(&str, &str, &str)] = &[
    ("wisp_peers", "gauge", "Connected peers, by capability and direction (inbound/outbound)."),
    ("wisp_light_peers", "gauge", "Connected peers that are light nodes (their Status says so)."),
    ("wisp_peers_banned_total", "counter", "Node ids banned for repeated misbehaviour."),
    (
        "wisp_envelopes_received_total",
        "counter",
        "Envelopes accepted into the pool, by origin (peer or local).",
    ),
    ("wisp_envelopes_relayed_total", "counter", "Envelopes sent to peers."),
    ("wisp_envelopes_dropped_total", "counter", "Envelopes refused, by reason."),
    ("wisp_bytes_in_total", "counter", "Waku packet bytes received, by capability."),
    ("wisp_bytes_out_total", "counter", "Waku packet bytes sent, by capability."),
    ("wisp_peers_dropped_total", "counter", "Peers dropped by the router, by reason."),
    ("wisp_rate_limited_peers_total", "counter", "Peers dropped for exceeding a rate limit."),
    (
        "wisp_connections_refused_total",
        "counter",
        "Inbound connections closed right after accept, by reason (banned_ip, per_ip, handshakes).",
    ),
    ("wisp_filter_matches_total", "counter", "Messages delivered to local filters."),
    ("wisp_pool_envelopes", "gauge", "Envelopes in the pool."),
    ("wisp_pool_bytes", "gauge", "Bytes of encoded envelopes in the pool."),
    (
        "wisp_pool_evictions_total",
        "counter",
        "Envelopes evicted from a full pool (lowest PoW per byte first).",
    ),
    (
        "wisp_oversize_packets_total",
        "counter",
        "Well-formed packets with more envelopes than decoded, dropped without penalty.",
    ),
    ("wisp_archived_envelopes_total", "counter", "Envelopes written to the mailserver archive."),
    ("wisp_archive_errors_total", "counter", "Failed archive writes."),
    (
        "wisp_archive_dropped_total",
        "counter",
        "Accepted envelopes not archived because the archive queue was full.",
    ),
    ("wisp_archive_queue_bytes", "gauge", "Bytes of accepted envelopes waiting for the archive."),
    (
        "wisp_archive_unconfirmed_batches_total",
        "counter",
        "Received batches left unacknowledged because part of them was not archived.",
    ),
    ("wisp_history_requests_total", "counter", "History requests, by outcome."),
    ("wisp_discovery_found_total", "counter", "Nodes found by discovery, by protocol."),
    ("wisp_discv5_lookups_total", "counter", "Discovery v5.1 random lookups run."),
    ("wisp_discv5_table_nodes", "gauge", "Records in the Discovery v5.1 table."),
    ("wisp_discovery_dials_total", "counter", "Dials asked for by the peer pool, by outcome."),
    (
        "wisp_discovery_cache_hits_total",
        "counter",
        "Peers from the peer cache that connected again.",
    ),
    ("wisp_discovery_disconnects_total", "counter", "Pool peers that disconnected."),
    (
        "wisp_discovery_retries_total",
        "counter",
        "Lost peers (failed dial or disconnect) offered to the pool again after a backoff.",
    ),
    ("wisp_discovery_pool_peers", "gauge", "Peers the peer pool counts, by topic."),
    (
        "wisp_discovery_registrations_total",
        "counter",
        "Topic registrations accepted from other nodes (as a registrar).",
    ),
    (
        "wisp_rendezvous_requests_total",
        "counter",
        "Requests to rendezvous servers, by kind (register, discover) and outcome (ok, error).",
    ),
    (
        "wisp_rendezvous_invalid_records_total",
        "counter",
        "Records from rendezvous servers dropped because their signature did not verify.",
    ),
    (
        "wisp_history_envelopes_served_total",
        "counter",
        "Envelopes sent in answer to history requests.",
    ),
    ("wisp_chat_messages_received_total", "counter", "Chat messages accepted by the messenger."),
    ("wisp_chat_messages_sent_total", "counter", "Chat messages sent through the messenger."),
    (
        "wisp_chat_messages_dropped_total",
        "counter",
        "Envelopes or messages the messenger dropped, by reason (undecodable, unsigned, bad_signature, undecryptable, clock_too_far_ahead, unknown_type, invalid, duplicate, storage, blocked).",
    ),
    ("wisp_chat_acks_total", "counter", "MVDS acks that marked one of our 1:1 messages delivered."),
    (
        "wisp_chat_device_messages_total",
        "counter",
        "Contact updates, chat identities, pairing and sync messages applied.",
    ),
    ("wisp_chat_post_failures_total", "counter", "Messenger envelopes not sealed or not posted."),
    ("wisp_chat_errors_total", "counter", "Messenger errors (logged; the node goes on)."),
];

/// One node's metrics.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    values: Mutex<BTreeMap<(&'static str, String), Arc<AtomicI64>>>,
}

impl NodeMetrics {
    fn cell(&self, name: &'static str, labels: &str) -> Arc<AtomicI64> {
        let mut v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        v.entry((name, labels.to_owned())).or_default().clone()
    }

    /// Adds `by` to a metric with the given label set (`key="value",...`, or empty).
    pub fn add(&self, name: &'static str, labels: &str, by: i64) {
        self.cell(name, labels).fetch_add(by, Ordering::Relaxed);
    }

    /// The current value of a metric (0 if never set).
    pub fn get(&self, name: &'static str, labels: &str) -> i64 {
        let v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        v.get(&(name, labels.to_owned())).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// The sum of a metric over all its labels.
    pub fn total(&self, name: &'static str) -> i64 {
        let v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        v.iter().filter(|((n, _), _)| *n == name).map(|(_, c)| c.load(Ordering::Relaxed)).sum()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let v = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let mut any = false;
            for ((n, labels), c) in v.iter() {
                if n == name {
                    any = true;
                    let value = c.load(Ordering::Relaxed);
                    if labels.is_empty() {
                        let _ = writeln!(out, "{name} {value}");
                    } else {
                        let _ = writeln!(out, "{name}{{{labels}}} {value}");
                    }
                }
            }
            if !any {
                let _ = writeln!(out, "{name} 0");
            }
        }
        out
    }
}

/// Serves `GET /metrics` on `addr` until `shutdown` flips; returns the bound address.
pub(crate) async fn serve(
    addr: SocketAddr,
    metrics: Arc<NodeMetrics>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (mut tcp, _) = tokio::select! {
                r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                _ = shutdown.changed() => return,
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                // Read the request head (bounded), answer, close.
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                while n < buf.len() {
                    match tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        tcp.read(&mut buf[n..]),
                    )
                    .await
                    {
                        Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                        Ok(Ok(k)) => {
                            n += k;
                            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("");
                let (status, body) =
                    if head.starts_with("GET ") && (path == "/metrics" || path == "/") {
                        ("200 OK", metrics.render())
                    } else {
                        ("404 Not Found", "not found: try GET /metrics\n".to_owned())
                    };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(reply.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = NodeMetrics::default();
        m.add("wisp_envelopes_dropped_total", "reason=\"expired\"", 2);
        m.add("wisp_envelopes_dropped_total", "reason=\"low_pow\"", 1);
        m.add("wisp_peers", "", 3);
        let text = m.render();
        assert!(text.contains("wisp_envelopes_dropped_total{reason=\"expired\"} 2\n"));
        assert!(text.contains("# TYPE wisp_peers gauge\nwisp_peers 3\n"));
        assert!(text.contains("wisp_filter_matches_total 0\n"));
        assert_eq!(m.total("wisp_envelopes_dropped_total"), 3);
    }
}
