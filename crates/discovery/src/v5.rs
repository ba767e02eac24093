//! Discovery v5.1 (`devp2p/discv5/`) through the `discv5` crate (feature `discv5`).
//!
//! The crate runs the whole protocol (sessions, handshakes, the Kademlia table, FINDNODE
//! queries) and owns its UDP socket: that is the one place below the `node` crate where a
//! library does its own I/O (CRATES.md). This module is the thin wisp side of it:
//!
//! - our record: [`local_record`] signs, with the node key and our own [`crate::enr`] code,
//!   an ENR carrying `ip`, `udp` (the v5 port), `tcp` (the RLPx port others dial) and the
//!   `waku` roles entry, and [`to_crate_enr`] hands it to the crate;
//! - discovered records come back through [`from_crate_enr`], are filtered by their `waku`
//!   entry ([`wanted`]) and turned into enode [`NodeRecord`]s for the PeerPool;
//! - [`V5Service`]: start, random lookups filtered by role, the table's wanted records.
//!
//! Bootnodes are ENRs (`enr:...`) or enode URLs. A v5.1 session starts from a public key
//! and a UDP address; the crate asks such a contact for its record ([`V5Service::request_record`],
//! a FINDNODE at distance 0) when it is given the contact as a multiaddr
//! `/ip4/<ip>/udp/<port>/p2p/<peer id>` (its `libp2p` feature, which only adds the
//! multiaddr and peer id types). [`enode_multiaddr`] writes that multiaddr from an enode.
//!
//! The crate's errors do not implement `std::error::Error`; [`V5Error`] carries their text.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use wisp_crypto::SecretKey;
use wisp_rlpx::NodeRecord;

use crate::enr::{Enr, EnrBuilder, EnrError, WakuRoles};

/// What can go wrong starting or querying the v5.1 service.
#[derive(Debug, thiserror::Error)]
pub enum V5Error {
    /// Our record could not be built or a record could not be converted between the crate's
    /// form and ours.
    #[error("discv5 record: {0}")]
    Record(#[from] EnrError),
    /// The crate rejected a record in its text form (`enr:` + base64 RLP expected).
    #[error("discv5 record {text}: {reason}")]
    CrateRecord {
        /// The record's text (truncated to 80 characters).
        text: String,
        /// The crate's reason.
        reason: String,
    },
    /// The node key is not a valid secp256k1 secret key for the crate.
    #[error("discv5 node key: {0}")]
    Key(String),
    /// The crate refused the configuration or could not bind its UDP socket.
    #[error("discv5 service on {addr}: {reason}")]
    Start {
        /// The UDP address the service was to listen on.
        addr: SocketAddr,
        /// The crate's reason.
        reason: String,
    },
    /// A bootnode record was refused by the crate's table.
    #[error("discv5 bootnode {node}: {reason}")]
    Bootnode {
        /// The bootnode's record text (truncated).
        node: String,
        /// The crate's reason.
        reason: &'static str,
    },
    /// An enode's public key is not a valid secp256k1 point.
    #[error("discv5 contact {node}: the enode id is not a secp256k1 public key")]
    EnodeKey {
        /// The enode URL.
        node: String,
    },
    /// A node asked for its record did not answer with one, or answered with another
    /// node's.
    #[error("discv5 record request to {node}: {reason}")]
    RecordRequest {
        /// The enode URL.
        node: String,
        /// What went wrong.
        reason: String,
    },
    /// A lookup failed (service stopped, channel closed).
    #[error("discv5 lookup: {0}")]
    Query(String),
}

/// The configuration of a [`V5Service`].
#[derive(Clone, Debug)]
pub struct V5Config {
    /// The UDP address the crate binds (its port is announced in `udp`).
    pub listen: SocketAddr,
    /// The IP announced in `ip`/`ip6`. Default: `None`, the listen IP.
    pub external_ip: Option<IpAddr>,
    /// The RLPx TCP port announced in `tcp` (what found nodes dial).
    pub tcp_port: u16,
    /// Our roles, announced in the `waku` entry.
    pub roles: WakuRoles,
    /// Bootnode records.
    pub bootnodes: Vec<Enr>,
    /// How long one lookup may take.
    pub query_timeout: Duration,
}

impl V5Config {
    /// A configuration with no bootnodes and a 10 s query timeout.
    pub fn new(listen: SocketAddr, tcp_port: u16, roles: WakuRoles) -> Self {
        Self {
            listen,
            external_ip: None,
            tcp_port,
            roles,
            bootnodes: Vec::new(),
            query_timeout: Duration::from_secs(10),
        }
    }
}

/// Our ENR for v5.1: `ip`/`ip6` the external IP (else the listen IP), `udp`/`udp6` the listen
/// port, `tcp`/`tcp6` the RLPx port, `waku` the roles; sequence number 1.
pub fn local_record(key: &SecretKey, config: &V5Config) -> Result<Enr, EnrError> {
    let builder = EnrBuilder::new(1).waku(config.roles);
    let builder = match config.external_ip.unwrap_or(config.listen.ip()) {
        IpAddr::V4(ip) => builder.ip4(ip).udp(config.listen.port()).tcp(config.tcp_port),
        IpAddr::V6(ip) => builder.ip6(ip).udp6(config.listen.port()).tcp6(config.tcp_port),
    };
    builder.sign(key)
}

/// Whether a record announces one of the `wanted` roles in its `waku` entry (records without
/// the entry are not Waku v1 nodes and never match).
pub fn wanted(record: &Enr, wanted: WakuRoles) -> bool {
    record.waku().is_some_and(|roles| roles.0 & wanted.0 != 0)
}

/// Our record in the crate's type (through the text form, which both sides verify).
pub fn to_crate_enr(record: &Enr) -> Result<discv5::Enr, V5Error> {
    let text = record.to_text();
    text.parse::<discv5::Enr>()
        .map_err(|reason| V5Error::CrateRecord { text: truncate(&text), reason })
}

/// A record of the crate's type in ours (decoding checks the signature again and the form of
/// the entries wisp knows).
pub fn from_crate_enr(record: &discv5::Enr) -> Result<Enr, EnrError> {
    record.to_base64().parse::<Enr>()
}

/// A wanted record's enode form (`None` for records without the role or not dialable).
pub fn dialable(record: &discv5::Enr, roles: WakuRoles) -> Option<(Enr, NodeRecord)> {
    let ours = from_crate_enr(record).ok()?;
    if !wanted(&ours, roles) {
        return None;
    }
    let node = ours.to_node_record().ok()?;
    Some((ours, node))
}

/// Multiaddr protocol codes (the multiformats table) and the identity multihash.
const MA_IP4: u8 = 0x04;
const MA_IP6: u8 = 0x29;
/// 273 as an unsigned varint.
const MA_UDP: [u8; 2] = [0x91, 0x02];
/// 421 as an unsigned varint.
const MA_P2P: [u8; 2] = [0xa5, 0x03];
const MULTIHASH_IDENTITY: u8 = 0x00;

/// The binary multiaddr `/ip4|ip6/<ip>/udp/<udp port>/p2p/<peer id>` of an enode, the form
/// the crate takes to contact a node whose record it does not have. The peer id is the
/// identity multihash of the libp2p public key message (key type 2, secp256k1; the
/// compressed key), 39 bytes.
pub fn enode_multiaddr(node: &NodeRecord) -> Result<Vec<u8>, V5Error> {
    let key = wisp_crypto::PublicKey::from_node_id(node.id.as_bytes())
        .map_err(|_| V5Error::EnodeKey { node: node.to_string() })?;
    let compressed = key.to_compressed();
    // The libp2p `PublicKey` message: field 1 (varint) type 2, field 2 (bytes) the key.
    let mut message = vec![0x08, 0x02, 0x12];
    message.push(compressed.len() as u8);
    message.extend_from_slice(&compressed);
    let mut peer_id = vec![MULTIHASH_IDENTITY, message.len() as u8];
    peer_id.extend_from_slice(&message);
    let mut out = Vec::with_capacity(64);
    match node.address {
        IpAddr::V4(ip) => {
            out.push(MA_IP4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(MA_IP6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&MA_UDP);
    out.extend_from_slice(&node.udp_port.to_be_bytes());
    out.extend_from_slice(&MA_P2P);
    out.push(peer_id.len() as u8);
    out.extend_from_slice(&peer_id);
    Ok(out)
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

/// A running v5.1 service (the crate's, on its own UDP socket).
pub struct V5Service {
    inner: discv5::Discv5,
    local: Enr,
}

impl std::fmt::Debug for V5Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V5Service").field("local", &self.local).finish_non_exhaustive()
    }
}

impl V5Service {
    /// Builds our record, binds the UDP socket and adds the bootnodes. Must run inside a tokio
    /// runtime (the crate spawns its tasks on it).
    pub async fn start(key: &SecretKey, config: V5Config) -> Result<Self, V5Error> {
        let local = local_record(key, &config)?;
        let mut secret = *key.to_bytes();
        let crate_key = enr::CombinedKey::secp256k1_from_bytes(&mut secret)
            .map_err(|e| V5Error::Key(e.to_string()))?;
        let crate_config = discv5::ConfigBuilder::new(discv5::ListenConfig::from_ip(
            config.listen.ip(),
            config.listen.port(),
        ))
        .query_timeout(config.query_timeout)
        .build();
        let start_err = |reason: String| V5Error::Start { addr: config.listen, reason };
        let mut inner = discv5::Discv5::new(to_crate_enr(&local)?, crate_key, crate_config)
            .map_err(|e| start_err(e.to_string()))?;
        inner.start().await.map_err(|e| start_err(format!("{e:?}")))?;
        let service = Self { inner, local };
        for boot in &config.bootnodes {
            service.add_node(boot)?;
        }
        Ok(service)
    }

    /// Our record (as others see it).
    pub fn local_record(&self) -> &Enr {
        &self.local
    }

    /// The UDP port the service listens on.
    pub fn port(&self) -> u16 {
        self.local.udp().or(self.local.udp6()).unwrap_or(0)
    }

    /// Adds a record to the table (a bootnode, or a record learnt elsewhere).
    pub fn add_node(&self, record: &Enr) -> Result<(), V5Error> {
        self.inner
            .add_enr(to_crate_enr(record)?)
            .map_err(|reason| V5Error::Bootnode { node: truncate(&record.to_text()), reason })
    }

    /// Asks a node known by its enode (public key and UDP port) for its record, and adds
    /// the record to the table (a bootnode given as `enode://`). Fails when the node does not
    /// answer in the crate's request timeout, or answers with a record that is not its own.
    pub async fn request_record(&self, node: &NodeRecord) -> Result<Enr, V5Error> {
        let fail = |reason: String| V5Error::RecordRequest { node: node.to_string(), reason };
        let addr = enode_multiaddr(node)?;
        let record = self.inner.request_enr(addr).await.map_err(|e| fail(format!("{e:?}")))?;
        let ours = from_crate_enr(&record)?;
        if ours.public_key().node_id() != node.id {
            return Err(fail("the record is another node's".to_owned()));
        }
        self.add_node(&ours)?;
        Ok(ours)
    }

    /// One lookup towards a random target; returns the wanted, dialable records it met,
    /// without ourselves.
    pub async fn lookup(&self, roles: WakuRoles) -> Result<Vec<(Enr, NodeRecord)>, V5Error> {
        let found = self
            .inner
            .find_node(enr::NodeId::random())
            .await
            .map_err(|e| V5Error::Query(format!("{e:?}")))?;
        let me = self.local.node_id();
        Ok(found
            .iter()
            .filter_map(|r| dialable(r, roles))
            .filter(|(r, _)| r.node_id() != me)
            .collect())
    }

    /// The wanted, dialable records in the table.
    pub fn table(&self, roles: WakuRoles) -> Vec<(Enr, NodeRecord)> {
        self.inner.table_entries_enr().iter().filter_map(|r| dialable(r, roles)).collect()
    }

    /// How many records the table holds, wanted or not.
    pub fn table_len(&self) -> usize {
        self.inner.table_entries_id().len()
    }

    /// Stops the service (its tasks end and the socket closes).
    pub fn shutdown(&mut self) {
        self.inner.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32]).expect("valid key")
    }

    #[test]
    fn local_record_carries_ports_and_roles_and_converts_both_ways() {
        let config = V5Config::new(
            "127.0.0.1:30304".parse().expect("addr"),
            30303,
            WakuRoles::RELAY | WakuRoles::MAILSERVER,
        );
        let record = local_record(&key(7), &config).expect("record");
        assert_eq!(record.udp(), Some(30304));
        assert_eq!(record.tcp(), Some(30303));
        assert_eq!(record.waku(), Some(WakuRoles(3)));
        let theirs = to_crate_enr(&record).expect("crate accepts our record");
        assert_eq!(theirs.tcp4(), Some(30303));
        assert_eq!(theirs.udp4(), Some(30304));
        assert_eq!(theirs.node_id().raw(), record.node_address());
        let back = from_crate_enr(&theirs).expect("back");
        assert_eq!(back.as_bytes(), record.as_bytes());
        let (_, node) = dialable(&theirs, WakuRoles::MAILSERVER).expect("a mailserver");
        assert_eq!(node.tcp_port, 30303);
        assert_eq!(node.udp_port, 30304);
    }

    #[test]
    fn an_enode_becomes_a_udp_multiaddr_with_its_peer_id() {
        let public = key(7).public_key();
        let node = NodeRecord {
            id: public.node_id(),
            address: [127, 0, 0, 1].into(),
            tcp_port: 30303,
            udp_port: 30304,
        };
        let addr = enode_multiaddr(&node).expect("multiaddr");
        let mut want = vec![0x04, 127, 0, 0, 1, 0x91, 0x02, 0x76, 0x60, 0xa5, 0x03, 39];
        want.extend_from_slice(&[0x00, 37, 0x08, 0x02, 0x12, 33]);
        want.extend_from_slice(&public.to_compressed());
        assert_eq!(addr, want);
        let v6 = NodeRecord { address: std::net::Ipv6Addr::LOCALHOST.into(), ..node };
        let addr = enode_multiaddr(&v6).expect("multiaddr");
        assert_eq!(addr[0], 0x29);
        assert_eq!(addr.len(), 1 + 16 + 4 + 3 + 39);
        let bad = NodeRecord { id: wisp_crypto::NodeId([0xff; 64]), ..node };
        assert!(matches!(enode_multiaddr(&bad), Err(V5Error::EnodeKey { .. })));
    }

    #[test]
    fn records_are_filtered_by_the_waku_entry() {
        let rec = |roles: Option<WakuRoles>| {
            let b = EnrBuilder::new(1).ip4([127, 0, 0, 1].into()).tcp(1).udp(2);
            let b = match roles {
                Some(r) => b.waku(r),
                None => b,
            };
            b.sign(&key(9)).expect("record")
        };
        let relay_wants = WakuRoles::RELAY | WakuRoles::MAILSERVER;
        assert!(wanted(&rec(Some(WakuRoles::RELAY)), relay_wants));
        assert!(wanted(&rec(Some(WakuRoles::MAILSERVER)), relay_wants));
        assert!(!wanted(&rec(Some(WakuRoles::LIGHT)), relay_wants));
        assert!(!wanted(&rec(None), relay_wants));
        assert!(!wanted(&rec(Some(WakuRoles::RELAY)), WakuRoles::MAILSERVER));
        assert!(wanted(
            &rec(Some(WakuRoles::RELAY | WakuRoles::MAILSERVER)),
            WakuRoles::MAILSERVER
        ));
    }
}
