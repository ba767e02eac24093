//! Status rendezvous (`/rend/0.1.0`) in the node: the client that registers our ENR and
//! discovers others for the PeerPool, and the server a bootnode runs.
//!
//! - Client (`--rendezvous MULTIADDR`, `[discovery] rendezvous`): a relay or mailserver
//!   registers its ENR (IPv4, RLPx `tcp` port, discovery `udp` port, `waku` roles) under each
//!   of its register topics at every server, every [`REGISTER_PERIOD`] (5 s) with a TTL of
//!   [`REGISTER_TTL`] (10 s), as statusd does; a light node never registers. While the
//!   PeerPool searches a topic, the client sends one DISCOVER (limit [`DISCOVER_LIMIT`]) per
//!   search interval, to the servers in turn, and feeds the verified records to the pool with
//!   source `rendezvous`.
//! - Server (`wisp bootnode --rendezvous [ADDR]`, [`super::DiscoveryConfig::rendezvous_listen`]):
//!   [`wisp_discovery::rendezvous::net::RendezvousServer`] with the node key, so its peer id
//!   follows from the enode.
//!
//! Both need the crate feature `rendezvous` (libp2p); without it, a node told to use
//! rendezvous logs that it cannot and a node told to serve it does not start.

use std::collections::BTreeMap;

/// How many records one DISCOVER asks for: the servers' cap (status-go's rendezvous server
/// answers at most 10).
pub const DISCOVER_LIMIT: u64 = 10;

pub use wisp_discovery::rendezvous::{REGISTER_PERIOD, REGISTER_TTL};

/// What the PeerPool asks of the rendezvous client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SearchCmd {
    /// Search `topic` every `interval_ms`.
    Search { topic: String, interval_ms: u64 },
    /// Stop searching `topic`.
    Stop { topic: String },
}

/// Checks a rendezvous server address (`/ip4/<ip>/tcp/<port>/ethv4/<peer id>` or
/// `.../p2p/<peer id>`); the error says what is expected.
pub fn check_addr(addr: &str) -> Result<(), String> {
    const EXPECTED: &str = "expected /ip4/<ip>/tcp/<port>/ethv4/<peer id>";
    #[cfg(feature = "rendezvous")]
    {
        addr.parse::<wisp_discovery::rendezvous::net::ServerAddr>()
            .map(|_| ())
            .map_err(|e| format!("{addr:?}: {e}; {EXPECTED}"))
    }
    #[cfg(not(feature = "rendezvous"))]
    {
        if addr.starts_with('/') && (addr.contains("/ethv4/") || addr.contains("/p2p/")) {
            Ok(())
        } else {
            Err(format!("{addr:?} does not end in /ethv4/<peer id>; {EXPECTED}"))
        }
    }
}

/// The searches the client runs: topic → interval.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "rendezvous"), allow(dead_code))]
pub(crate) struct Searches(BTreeMap<String, u64>);

#[cfg_attr(not(feature = "rendezvous"), allow(dead_code))]
impl Searches {
    /// Applies a command; returns whether the topic is (re)started and due now.
    pub(crate) fn apply(&mut self, cmd: SearchCmd) -> Option<String> {
        match cmd {
            SearchCmd::Search { topic, interval_ms } => {
                let changed = self.0.insert(topic.clone(), interval_ms) != Some(interval_ms);
                changed.then_some(topic)
            }
            SearchCmd::Stop { topic } => {
                self.0.remove(&topic);
                None
            }
        }
    }

    /// The interval of `topic`, if it is searched.
    pub(crate) fn interval(&self, topic: &str) -> Option<u64> {
        self.0.get(topic).copied()
    }
}

#[cfg(feature = "rendezvous")]
pub(crate) use imp::{ClientSetup, run_client, start_server};

#[cfg(feature = "rendezvous")]
mod imp {
    use std::{
        collections::HashMap,
        net::{IpAddr, SocketAddr},
        sync::Arc,
        time::Duration,
    };

    use tokio::{
        sync::{mpsc, watch},
        task::JoinSet,
        time::Instant,
    };
    use wisp_crypto::SecretKey;
    use wisp_discovery::{
        enr::{Enr, EnrBuilder, WakuRoles},
        rendezvous::{
            ServerConfig,
            net::{Client, NetError, REQUEST_TIMEOUT, RendezvousServer, ServerAddr},
        },
    };
    use wisp_rlpx::NodeRecord;

    use super::{DISCOVER_LIMIT, REGISTER_PERIOD, REGISTER_TTL, SearchCmd, Searches};
    use crate::{NodeError, Role, discovery::Source, metrics::NodeMetrics};

    /// A request that takes longer than this (dial, noise, yamux and the answer) is given up.
    const REQUEST_DEADLINE: Duration = REQUEST_TIMEOUT.saturating_mul(2);

    /// What the client task needs.
    pub(crate) struct ClientSetup {
        pub(crate) key: SecretKey,
        pub(crate) role: Role,
        pub(crate) servers: Vec<String>,
        /// Our RLPx address as others dial it.
        pub(crate) advertised: SocketAddr,
        /// Our discovery UDP port, when legacy discovery runs.
        pub(crate) udp: Option<u16>,
        pub(crate) register_topics: Vec<String>,
        pub(crate) metrics: Arc<NodeMetrics>,
    }

    fn roles(role: Role) -> WakuRoles {
        match role {
            Role::Mailserver => WakuRoles::RELAY | WakuRoles::MAILSERVER,
            Role::Light => WakuRoles::LIGHT,
            Role::Relay | Role::Bootstrap => WakuRoles::RELAY,
        }
    }

    fn our_enr(setup: &ClientSetup) -> Result<Enr, String> {
        let IpAddr::V4(ip) = setup.advertised.ip() else {
            return Err(format!(
                "advertised address {} is not IPv4; rendezvous records need an ip4 entry",
                setup.advertised
            ));
        };
        // The sequence number grows across restarts: seconds since the epoch.
        let seq = wisp_discovery::legacy::driver::unix_ms() / 1000;
        let mut b =
            EnrBuilder::new(seq).ip4(ip).tcp(setup.advertised.port()).waku(roles(setup.role));
        if let Some(udp) = setup.udp {
            b = b.udp(udp);
        }
        b.sign(&setup.key).map_err(|e| format!("cannot sign our ENR: {e}"))
    }

    /// Runs the client until shutdown or until the pool drops its command sender.
    pub(crate) async fn run_client(
        setup: ClientSetup,
        mut cmds: mpsc::UnboundedReceiver<SearchCmd>,
        found: mpsc::Sender<(String, NodeRecord, Source)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut servers = Vec::new();
        for s in &setup.servers {
            match s.parse::<ServerAddr>() {
                Ok(a) => servers.push(a),
                Err(e) => {
                    tracing::warn!(target: "node::discovery", addr = %s, error = %e, "bad rendezvous server skipped")
                }
            }
        }
        if servers.is_empty() {
            return;
        }
        let registering = !setup.register_topics.is_empty();
        let enr = match our_enr(&setup) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(target: "node::discovery", error = %e, "not registering at rendezvous servers");
                None
            }
        };
        let mut client = match Client::new(&setup.key) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "node::discovery", error = %e, "rendezvous client did not start");
                return;
            }
        };
        tracing::info!(target: "node::discovery", servers = servers.len(), registering, "rendezvous client started");
        let metrics = setup.metrics.clone();
        let mut searches = Searches::default();
        let mut due: HashMap<String, Instant> = HashMap::new();
        let mut next_register = Instant::now();
        let mut turn = 0usize;
        loop {
            let now = Instant::now();
            if registering && now >= next_register {
                if let Some(enr) = &enr {
                    for server in &servers {
                        for topic in &setup.register_topics {
                            let r = tokio::time::timeout(
                                REQUEST_DEADLINE,
                                client.register(server, topic, enr, REGISTER_TTL),
                            )
                            .await
                            .unwrap_or(Err(NetError::SwarmEnded));
                            count(&metrics, "register", &r);
                            if let Err(e) = r {
                                tracing::debug!(target: "node::discovery", %server, %topic, error = %e, "rendezvous register failed");
                                // A server that does not answer is not asked again this round.
                                break;
                            }
                        }
                    }
                }
                next_register = now + REGISTER_PERIOD;
            }
            let ready: Vec<String> =
                due.iter().filter(|(_, at)| **at <= now).map(|(t, _)| t.clone()).collect();
            for topic in ready {
                let Some(interval) = searches.interval(&topic) else {
                    due.remove(&topic);
                    continue;
                };
                let Some(server) = servers.get(turn % servers.len()) else { break };
                turn = turn.wrapping_add(1);
                let r = tokio::time::timeout(
                    REQUEST_DEADLINE,
                    client.discover(server, &topic, DISCOVER_LIMIT),
                )
                .await
                .unwrap_or(Err(NetError::SwarmEnded));
                count(&metrics, "discover", &r);
                match r {
                    Ok(d) => {
                        if d.invalid > 0 {
                            metrics.add(
                                "wisp_rendezvous_invalid_records_total",
                                "",
                                i64::try_from(d.invalid).unwrap_or(i64::MAX),
                            );
                        }
                        for enr in d.records {
                            let Ok(record) = enr.to_node_record() else { continue };
                            metrics.add("wisp_discovery_found_total", "protocol=\"rendezvous\"", 1);
                            if found
                                .send((topic.clone(), record, Source::Rendezvous))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::debug!(target: "node::discovery", %server, %topic, error = %e, "rendezvous discover failed");
                    }
                }
                due.insert(topic, Instant::now() + Duration::from_millis(interval));
            }
            let mut wake = due.values().min().copied();
            if registering && enr.is_some() {
                wake = Some(wake.map_or(next_register, |w| w.min(next_register)));
            }
            let wake = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => {
                        if let SearchCmd::Stop { topic } = &cmd {
                            due.remove(topic);
                        }
                        if let Some(topic) = searches.apply(cmd) {
                            due.insert(topic, Instant::now());
                        }
                    }
                    None => return,
                },
                () = tokio::time::sleep_until(wake) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    fn count<T>(metrics: &NodeMetrics, kind: &str, r: &Result<T, NetError>) {
        let outcome = if r.is_ok() { "ok" } else { "error" };
        metrics.add(
            "wisp_rendezvous_requests_total",
            &format!("kind=\"{kind}\",outcome=\"{outcome}\""),
            1,
        );
    }

    /// Binds a rendezvous server on `listen` with the node key, spawns it into `tasks` and
    /// returns its address in status-go's form (the advertised IP in place of an unspecified
    /// listen IP).
    pub(crate) async fn start_server(
        key: &SecretKey,
        listen: SocketAddr,
        advertised_ip: IpAddr,
        tasks: &mut JoinSet<()>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<String, NodeError> {
        let proto = if listen.is_ipv4() { "ip4" } else { "ip6" };
        let maddr = format!("/{proto}/{}/tcp/{}", listen.ip(), listen.port());
        let bad = |e: String| NodeError::Rendezvous(format!("server on {listen}: {e}"));
        let maddr = maddr
            .parse::<wisp_discovery::rendezvous::net::Multiaddr>()
            .map_err(|e| bad(e.to_string()))?;
        let server = RendezvousServer::bind(key, maddr, ServerConfig::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
        let mut address = server.address().to_string();
        if listen.ip().is_unspecified() {
            let unspecified = format!("/{proto}/{}/", listen.ip());
            let ours = if advertised_ip.is_ipv4() { "ip4" } else { "ip6" };
            address = address.replacen(&unspecified, &format!("/{ours}/{advertised_ip}/"), 1);
        }
        tracing::info!(target: "node::discovery", %address, "rendezvous server started");
        tasks.spawn(async move {
            tokio::select! {
                () = server.run() => {}
                _ = shutdown.changed() => {}
            }
        });
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_start_change_and_stop() {
        let mut s = Searches::default();
        let search = |t: &str, i| SearchCmd::Search { topic: t.into(), interval_ms: i };
        assert_eq!(s.apply(search("whisper", 3000)), Some("whisper".into()));
        assert_eq!(s.apply(search("whisper", 3000)), None);
        assert_eq!(s.apply(search("whisper", 30_000)), Some("whisper".into()));
        assert_eq!(s.interval("whisper"), Some(30_000));
        assert_eq!(s.apply(SearchCmd::Stop { topic: "whisper".into() }), None);
        assert_eq!(s.interval("whisper"), None);
    }

    #[test]
    fn server_addresses_are_checked() {
        assert!(check_addr("/ip4/127.0.0.1/tcp/30703").is_err());
        assert!(check_addr("nope").unwrap_err().contains("/ethv4/"));
    }
}
