//! Discovery v5.1 in the node (`[discovery] v5 = true`, `--discv5`): the `discv5` crate's
//! service on its own UDP port (default: the legacy discovery port + 1), our ENR with the
//! RLPx `tcp` port and the `waku` roles, random lookups whose relay/mailserver records feed
//! the PeerPool with source `discv5`.
//!
//! A node with a pool looks up at the pool's pace: every fast interval (3 s) while a topic is
//! below `min`, every slow one (30 s) from `min`, not at all once every topic is at `max`,
//! and again when a peer leaves (the crate keeps its table alive meanwhile). Every lookup
//! offers all the wanted records it met, so a node whose dial failed is tried again. A node
//! without a pool (a bootnode) looks up every fast interval until it has met
//! [`ENOUGH_FOUND`] wanted nodes, then every slow one.
//!
//! Bootnodes: `enr:` records go straight into the crate's table. Enode bootnodes (the
//! `bootnodes` list, which legacy discovery uses too) are asked for their record before the
//! first lookup, and again before a lookup while the table is empty: at the enode's UDP
//! port (go-ethereum's nodes run both discovery versions on one port) and, failing that, at
//! the next port (wisp's own default: v5.1 on the legacy discovery port + 1).

use std::{collections::HashSet, net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use wisp_crypto::{NodeId, SecretKey};
use wisp_discovery::{
    enr::{Enr, WakuRoles},
    v5::{V5Config, V5Service},
};
use wisp_rlpx::NodeRecord;

use super::{DiscoveryConfig, Source, dns_topics};
use crate::{Role, metrics::NodeMetrics};

/// Lookups slow down once this many wanted nodes were found.
const ENOUGH_FOUND: usize = 16;

/// The `waku` entry of a node of `role`.
pub(crate) fn roles_of(role: Role) -> WakuRoles {
    match role {
        Role::Relay => WakuRoles::RELAY,
        Role::Mailserver => WakuRoles::RELAY | WakuRoles::MAILSERVER,
        Role::Light => WakuRoles::LIGHT,
        Role::Bootstrap => WakuRoles(0),
    }
}

/// What the v5 task needs.
pub(crate) struct V5Env {
    pub(crate) key: SecretKey,
    pub(crate) role: Role,
    /// Where the crate binds.
    pub(crate) bind: SocketAddr,
    /// The RLPx address we advertise (its IP goes in `ip`, its port in `tcp`).
    pub(crate) advertised: SocketAddr,
    pub(crate) metrics: Arc<NodeMetrics>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) found: mpsc::Sender<(String, NodeRecord, Source)>,
    /// The pool's lookup interval (`None`: the pool is at its limits); `None` for a node
    /// without a pool, which keeps its own schedule.
    pub(crate) search: Option<watch::Receiver<Option<Duration>>>,
}

/// Starts the service and its lookup task; returns our record.
pub(crate) async fn start(
    cfg: &DiscoveryConfig,
    env: V5Env,
    tasks: &mut JoinSet<()>,
) -> Result<Enr, crate::NodeError> {
    let mut config = V5Config::new(env.bind, env.advertised.port(), roles_of(env.role));
    config.external_ip = Some(env.advertised.ip());
    config.bootnodes = cfg.v5_bootnodes.clone();
    let mut enode_boots: Vec<NodeRecord> = cfg.bootnodes.clone();
    let bind_err = |e: wisp_discovery::v5::V5Error| crate::NodeError::Bind {
        what: "discv5",
        addr: env.bind,
        source: std::io::Error::other(e.to_string()),
    };
    let mut service = match V5Service::start(&env.key, config.clone()).await {
        Ok(s) => s,
        // The default port (discovery port + 1) is taken: take a free one (the port is
        // announced in our record, not implied by another).
        Err(e) if cfg.v5_port.is_none() => {
            let free = std::net::UdpSocket::bind(SocketAddr::new(env.bind.ip(), 0))
                .and_then(|s| s.local_addr())
                .map_err(|_| bind_err(e))?;
            tracing::info!(target: "node::discovery", port = free.port(), "discv5: the default port is taken");
            config.listen = free;
            V5Service::start(&env.key, config).await.map_err(bind_err)?
        }
        Err(e) => return Err(bind_err(e)),
    };
    let local = service.local_record().clone();
    tracing::info!(target: "node::discovery", udp = service.port(), bootnodes = cfg.v5_bootnodes.len(), enr = %local, "discv5 started");
    let fast = Duration::from_millis(cfg.fast_search_ms.max(100));
    let slow = Duration::from_millis(cfg.slow_search_ms.max(100));
    let feeds_pool = env.role != Role::Bootstrap;
    let (metrics, mut shutdown, tx, mut search) =
        (env.metrics, env.shutdown, env.found, env.search);
    tasks.spawn(async move {
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut last: Option<tokio::time::Instant> = None;
        let mut asked = false;
        loop {
            let interval = match &search {
                Some(rx) => *rx.borrow(),
                None if seen.len() >= ENOUGH_FOUND => Some(slow),
                None => Some(fast),
            };
            let Some(interval) = interval else {
                // At the limits: wait for the pool to search again.
                let Some(rx) = search.as_mut() else { break };
                tokio::select! {
                    _ = shutdown.changed() => break,
                    r = rx.changed() => if r.is_err() { search = None },
                }
                continue;
            };
            if let Some(at) = last {
                let due = at + interval;
                let changed = async {
                    match search.as_mut() {
                        Some(rx) => rx.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.changed() => break,
                    () = tokio::time::sleep_until(due) => {}
                    ok = changed => {
                        // The pace changed: wait again with the new interval.
                        if !ok {
                            search = None;
                        }
                        continue;
                    }
                }
            }
            if !enode_boots.is_empty() && (!asked || service.table_len() == 0) {
                asked = true;
                tokio::select! {
                    _ = shutdown.changed() => break,
                    () = ask_enode_bootnodes(&service, &mut enode_boots) => {}
                }
            }
            last = Some(tokio::time::Instant::now());
            let wanted = WakuRoles::RELAY | WakuRoles::MAILSERVER;
            let mut found = tokio::select! {
                _ = shutdown.changed() => break,
                r = service.lookup(wanted) => r.unwrap_or_else(|e| {
                    tracing::debug!(target: "node::discovery", error = %e, "discv5 lookup failed");
                    Vec::new()
                }),
            };
            found.extend(service.table(wanted));
            metrics.add("wisp_discv5_lookups_total", "", 1);
            let mut offered: HashSet<NodeId> = HashSet::new();
            for (enr, node) in found {
                if !offered.insert(node.id) {
                    continue;
                }
                if seen.insert(node.id) {
                    metrics.add("wisp_discovery_found_total", "protocol=\"discv5\"", 1);
                }
                if !feeds_pool {
                    continue;
                }
                // Offered again at every lookup: the pool skips peers it has or dials, and
                // a node whose dial failed gets another chance.
                for topic in dns_topics(enr.waku()) {
                    // The pool is gone only when the node stops.
                    let _ = tx.send(((*topic).to_owned(), node, Source::Discv5)).await;
                }
            }
            let table = i64::try_from(service.table_len()).unwrap_or(i64::MAX);
            let was = metrics.get("wisp_discv5_table_nodes", "");
            metrics.add("wisp_discv5_table_nodes", "", table - was);
        }
        service.shutdown();
    });
    Ok(local)
}

/// Asks each enode bootnode for its v5.1 record (at its UDP port, then the next one); those
/// that answer are in the table and leave `pending`.
async fn ask_enode_bootnodes(service: &V5Service, pending: &mut Vec<NodeRecord>) {
    let mut still = Vec::new();
    for node in pending.drain(..) {
        let mut ports = vec![node.udp_port];
        ports.extend(node.udp_port.checked_add(1));
        let mut got = None;
        for port in ports {
            let at = NodeRecord { udp_port: port, ..node };
            match service.request_record(&at).await {
                Ok(record) => {
                    got = Some(record);
                    break;
                }
                Err(e) => {
                    tracing::debug!(target: "node::discovery", bootnode = %at, error = %e, "discv5: no record")
                }
            }
        }
        match got {
            Some(record) => {
                tracing::info!(target: "node::discovery", bootnode = %node, enr = %record, "discv5: bootnode record")
            }
            None => still.push(node),
        }
    }
    *pending = still;
}
