//! Legacy topic discovery: go-ethereum 1.9.5 `p2p/discv5`, "temporary discovery v5".
//!
//! status-go v0.79 (`cmd/bootnode` and statusd with discovery on) finds peers with this
//! protocol; it is neither discv5.0 nor discv5.1. There is no spec document: the facts come from
//! the Go code and from 17 captured packets (`vectors/discovery/legacy-discv5.json`,
//! `notes/discovery.md`).
//!
//! # Wire
//! A UDP datagram of at most [`MAX_PACKET_SIZE`] (1280) bytes: `"temporary discovery v5"` ‖
//! 65-byte recoverable signature over `keccak256(type ‖ body)` ‖ type ‖ RLP body. The sender is
//! whoever the signature recovers to; the packet hash `keccak256(signature ‖ type ‖ body)` is
//! echoed by pong (`reply_tok`) and topicNodes (`echo`). See [`packet`] for the eight bodies.
//!
//! # Protocol
//! - **Bonding**: a node answers findnode(Hash) and topicQuery only from endpoints that proved
//!   they receive at their address (a pong to our ping). A ping is answered with a pong and, if
//!   the sender is not bonded yet, a ping back (as the Go node state machine does).
//! - **Table**: Kademlia over `keccak256(node id)`, 256 buckets of [`BUCKET_SIZE`] (16) by log
//!   distance; at most [`BUCKET_SUBNET_LIMIT`] entries per /24 (IPv6: /64) in a bucket and
//!   [`TABLE_SUBNET_LIMIT`] in the table (loopback exempt unless configured otherwise).
//! - **Lookups**: iterative findnodeHash towards a target hash, [`LOOKUP_ALPHA`] (3) queries
//!   in flight; the Go code never sends findnode (type 3) but answers it, so do we.
//! - **Tickets and registration**: a ping listing topics is a ticket request. The pong is the
//!   ticket: `expiration` holds the registrar's issue time in its monotonic seconds,
//!   `topic_hash = keccak256(rlp(topics))`, a per-sender serial and one wait period per topic
//!   (at least [`MIN_WAIT_PERIOD_S`], 60 s). After the wait the registrant sends topicRegister
//!   carrying the whole pong; the registrar accepts it from (issue time + wait − 1 s) to
//!   (issue time + wait + [`REG_TIME_WINDOW_S`] + 1 s), keeps the entry for an hour, at most
//!   [`MAX_ENTRIES_PER_TOPIC`] (50) per topic (FIFO) and [`MAX_ENTRIES`] (10 000) in all, and
//!   stretches the topic's wait period when registrations come faster than one per 12 s.
//! - **Search**: topicQuery(topic) → topicNodes(echo, nodes). A node that registers a topic
//!   lists itself in its answers (self-advertising): in a small network peers find each
//!   other this way long before any ticket matures.
//! - **Protection**: packets whose expiration (Unix seconds) is past, replays (same packet
//!   hash while still valid), unsolicited pongs, neighbors and topicNodes, floods above a
//!   per-source-address rate and packets from unbonded endpoints are dropped and counted in
//!   [`Counters`].
//!
//! [`LegacyDiscovery`] is sans-io: feed it datagrams and the time, take the datagrams to send
//! and the [`Event`]s; `driver` (feature `tokio`) binds it to a UDP socket.
//!
//! # Example
//! A bootnode and a node that registers `whisper`, wired in memory; a searcher that knows only
//! the bootnode finds the node.
//! ```
//! use std::{collections::HashMap, net::{IpAddr, Ipv4Addr, SocketAddr}};
//! use wisp_crypto::SecretKey;
//! use wisp_discovery::legacy::{Config, Endpoint, Event, LegacyDiscovery, Topic};
//! use wisp_rlpx::NodeRecord;
//!
//! let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let t0 = 1_800_000_000_000;
//! let make = |seed: u8, port: u16, boot: Option<NodeRecord>, register: &[&str]| {
//!     let key = SecretKey::from_bytes(&[seed; 32]).unwrap();
//!     let mut cfg = Config::new(Endpoint { ip, udp: port, tcp: port });
//!     cfg.bootnodes = boot.into_iter().collect();
//!     cfg.register_topics = register.iter().map(|t| Topic::new(*t)).collect();
//!     let id = key.public_key().node_id();
//!     let record = NodeRecord { id, address: ip, tcp_port: port, udp_port: port };
//!     (LegacyDiscovery::new(key, cfg, t0), record)
//! };
//! let (boot, boot_record) = make(1, 30301, None, &[]);
//! let (relay, relay_record) = make(2, 30303, Some(boot_record), &["whisper"]);
//! let (mut searcher, _) = make(3, 30305, Some(boot_record), &[]);
//! searcher.search(Topic::new("whisper"), 1000, t0);
//!
//! let mut nodes: HashMap<u16, LegacyDiscovery> =
//!     [(30301, boot), (30303, relay), (30305, searcher)].into_iter().collect();
//! let mut found = None;
//! for step in 0..200u64 {
//!     let now = t0 + step * 100;
//!     let mut wire = Vec::new();
//!     for (port, node) in nodes.iter_mut() {
//!         node.tick(now);
//!         while let Some((to, bytes)) = node.poll_transmit() {
//!             wire.push((SocketAddr::new(ip, *port), to, bytes));
//!         }
//!     }
//!     for (from, to, bytes) in wire {
//!         if let Some(node) = nodes.get_mut(&to.port()) {
//!             node.handle_packet(from, &bytes, now);
//!         }
//!     }
//!     while let Some(event) = nodes.get_mut(&30305).unwrap().poll_event() {
//!         if let Event::NodeFound { record, .. } = event {
//!             found = Some(record);
//!         }
//!     }
//!     if found.is_some() {
//!         break;
//!     }
//! }
//! assert_eq!(found, Some(relay_record));
//! ```

#[cfg(feature = "tokio")]
pub mod driver;
mod machine;
pub mod packet;
mod table;
mod topics;

pub use machine::{Config, Counters, Event, LegacyDiscovery, PACKET_TTL_S};
pub use packet::{
    Endpoint, MAX_PACKET_SIZE, Message, NodeEntry, Packet, PacketError, PacketType, SignedPacket,
    Topic, topics_hash,
};
pub use table::{BUCKET_SIZE, BUCKET_SUBNET_LIMIT, TABLE_SUBNET_LIMIT};
pub use topics::{
    MAX_ENTRIES, MAX_ENTRIES_PER_TOPIC, MIN_WAIT_PERIOD_S, REG_TIME_WINDOW_S,
    REGISTRATION_LIFETIME_MS,
};

/// Queries in flight per lookup (Kademlia's alpha).
pub const LOOKUP_ALPHA: usize = 3;
