//! The legacy packet codec: framing, signatures, hashes and the eight message bodies.
//!
//! A datagram is `"temporary discovery v5"` (22 bytes) ‖ signature (65 bytes, `r‖s‖v`, v in
//! {0, 1}) ‖ type (1 byte) ‖ RLP body. The signature covers `keccak256(type ‖ body)`, the sender's
//! node id is the key it recovers to, and the packet hash is `keccak256(signature ‖ type ‖ body)`
//! (the prefix excluded). Facts from go-ethereum 1.9.5 `p2p/discv5/udp.go`, checked against the
//! captured packets in `vectors/discovery/legacy-discv5.json`.
//!
//! Every field of a body is mandatory. Ping, pong, findnode, neighbors and findnodeHash accept
//! (and drop) extra trailing list elements, as the Go structs' `rlp:"tail"` fields do;
//! topicRegister, topicQuery and topicNodes, whose Go structs have no tail, reject them. Nothing
//! here checks times: expirations are the state machine's business (and `pong.expiration` is not
//! a Unix time at all, see [`Pong::expiration`]).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use alloy_rlp::{Decodable, Encodable, Header};
use wisp_crypto::{NodeId, RecoverableSignature, SIGNATURE_LEN, SecretKey, keccak256};

/// The 22 ASCII bytes every packet starts with.
pub const VERSION_PREFIX: &[u8; 22] = b"temporary discovery v5";
/// The largest datagram accepted or sent (the Go reader's buffer).
pub const MAX_PACKET_SIZE: usize = 1280;
/// Prefix, signature and type byte.
pub const HEADER_LEN: usize = VERSION_PREFIX.len() + SIGNATURE_LEN + 1;
/// The `version` field of a ping (the Go package constant `Version`).
pub const PROTOCOL_VERSION: u64 = 4;
/// Most topics accepted in one ping or topicRegister (status-go registers one or two).
pub const MAX_TOPICS: usize = 32;
/// Most node entries accepted in one neighbors or topicNodes packet (a full 1280-byte packet
/// holds at most 16 IPv4 entries).
pub const MAX_NODES: usize = 32;

/// The type byte of each packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PacketType {
    /// 1: ping (a ticket request when it lists topics).
    Ping = 1,
    /// 2: pong (a ticket).
    Pong = 2,
    /// 3: findnode by 64-byte node id (answered, never sent by the Go code).
    FindNode = 3,
    /// 4: neighbors, the answer to findnode and findnodeHash.
    Neighbors = 4,
    /// 5: findnodeHash by 32-byte point in keccak256(node id) space.
    FindNodeHash = 5,
    /// 6: topicRegister, spending a ticket (no reply).
    TopicRegister = 6,
    /// 7: topicQuery.
    TopicQuery = 7,
    /// 8: topicNodes, the answer to topicQuery.
    TopicNodes = 8,
}

impl PacketType {
    /// All eight types, in type-byte order.
    pub const ALL: [PacketType; 8] = [
        Self::Ping,
        Self::Pong,
        Self::FindNode,
        Self::Neighbors,
        Self::FindNodeHash,
        Self::TopicRegister,
        Self::TopicQuery,
        Self::TopicNodes,
    ];

    /// The type for a type byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.get(usize::from(b).checked_sub(1)?).copied()
    }

    /// The type byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The name used in the Go code and in the vectors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::FindNode => "findnode",
            Self::Neighbors => "neighbors",
            Self::FindNodeHash => "findnodeHash",
            Self::TopicRegister => "topicRegister",
            Self::TopicQuery => "topicQuery",
            Self::TopicNodes => "topicNodes",
        }
    }

    /// Index 0..8, for per-type counters.
    pub fn index(self) -> usize {
        usize::from(self.byte()) - 1
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a received datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Larger than [`MAX_PACKET_SIZE`].
    #[error("packet of {size} bytes is larger than the {max}-byte maximum")]
    TooLarge {
        /// Datagram size.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// Shorter than prefix + signature + type.
    #[error(
        "packet of {size} bytes is shorter than the {min}-byte header (prefix, signature, type)"
    )]
    TooShort {
        /// Datagram size.
        size: usize,
        /// The header length.
        min: usize,
    },
    /// The first 22 bytes are not `"temporary discovery v5"`.
    #[error("packet does not start with the \"temporary discovery v5\" prefix")]
    BadPrefix,
    /// The type byte is not 1..=8.
    #[error("unknown packet type {0} (expected 1 to 8)")]
    UnknownType(u8),
    /// A field is not valid RLP of the expected shape.
    #[error("{kind} field `{field}`: {error} (expected {expected})")]
    Field {
        /// The packet type.
        kind: PacketType,
        /// The field's name.
        field: &'static str,
        /// What the RLP decoder said.
        error: alloy_rlp::Error,
        /// What the field must hold.
        expected: &'static str,
    },
    /// A mandatory field is absent (the list ends early).
    #[error("{kind} has no field `{field}` (all fields are mandatory)")]
    MissingField {
        /// The packet type.
        kind: PacketType,
        /// The first absent field.
        field: &'static str,
    },
    /// A list without a tail has extra elements, or bytes follow the body.
    #[error("{kind} {what} has extra data after its last field")]
    TrailingData {
        /// The packet type.
        kind: PacketType,
        /// Which list.
        what: &'static str,
    },
    /// A list field holds more items than allowed.
    #[error("{kind} field `{field}` holds more than {max} items")]
    TooManyItems {
        /// The packet type.
        kind: PacketType,
        /// The list field.
        field: &'static str,
        /// The cap.
        max: usize,
    },
    /// An IP address is neither 4 nor 16 bytes.
    #[error("{kind} holds an IP address of {len} bytes (expected 4 or 16)")]
    BadIp {
        /// The packet type.
        kind: PacketType,
        /// Its length.
        len: usize,
    },
    /// A topic is not UTF-8.
    #[error("{kind} holds a topic that is not UTF-8")]
    TopicNotUtf8 {
        /// The packet type.
        kind: PacketType,
    },
    /// The signature does not recover to a public key.
    #[error("packet signature does not recover to a public key")]
    BadSignature,
}

/// A discovery topic: a plain string on the wire (`whisper`, `whispermail`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(pub String);

impl Topic {
    /// A topic from its name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The topic's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `keccak256(name)`: the topic's point in the table's hash space.
    pub fn hash(&self) -> [u8; 32] {
        keccak256(self.0.as_bytes())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `keccak256(rlp(list of topic strings))`, the `topic_hash` of a ticket pong.
pub fn topics_hash(topics: &[Topic]) -> [u8; 32] {
    let mut out = Vec::new();
    encode_topics(topics, &mut out);
    keccak256(out)
}

/// An endpoint `[ip, udp, tcp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 (4 bytes on the wire) or IPv6 (16 bytes).
    pub ip: IpAddr,
    /// Discovery (UDP) port.
    pub udp: u16,
    /// RLPx (TCP) port: what other nodes dial.
    pub tcp: u16,
}

/// A node entry `[ip, udp, tcp, id]` of neighbors and topicNodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeEntry {
    /// The node's address and ports.
    pub endpoint: Endpoint,
    /// Its 64-byte node id (not checked to be on the curve here).
    pub id: NodeId,
}

/// Type 1: `[version, from, to, expiration, topics, ...tail]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Always [`PROTOCOL_VERSION`] when sent; not checked on receipt.
    pub version: u64,
    /// The sender's endpoint; `from.tcp` is the port others dial.
    pub from: Endpoint,
    /// The recipient's endpoint as the sender sees it.
    pub to: Endpoint,
    /// Unix seconds after which the ping is stale.
    pub expiration: u64,
    /// The topics the sender registers (a ticket request when not empty).
    pub topics: Vec<Topic>,
}

/// Type 2: `[to, reply_tok, expiration, topic_hash, ticket_serial, wait_periods, ...tail]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pong {
    /// The ping's sender endpoint as seen by the registrar.
    pub to: Endpoint,
    /// The packet hash of the ping answered.
    pub reply_tok: [u8; 32],
    /// The registrar's ticket issue time in its own monotonic-clock seconds (not Unix time:
    /// never expiry-checked).
    pub expiration: u64,
    /// `keccak256(rlp(ping.topics))`.
    pub topic_hash: [u8; 32],
    /// Tickets issued by the registrar to this sender so far.
    pub ticket_serial: u32,
    /// Seconds to wait before registering each topic of the ping.
    pub wait_periods: Vec<u32>,
}

/// Type 3: `[target, expiration, ...tail]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindNode {
    /// A 64-byte node id.
    pub target: NodeId,
    /// Unix seconds.
    pub expiration: u64,
}

/// Type 4: `[nodes, expiration, ...tail]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbors {
    /// The closest nodes to the target.
    pub nodes: Vec<NodeEntry>,
    /// Unix seconds.
    pub expiration: u64,
}

/// Type 5: `[target_hash, expiration, ...tail]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindNodeHash {
    /// A point in keccak256(node id) space.
    pub target: [u8; 32],
    /// Unix seconds.
    pub expiration: u64,
}

/// Type 6: `[topics, idx, pong]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRegister {
    /// The topic list the ticket was issued for.
    pub topics: Vec<Topic>,
    /// Which of them to register.
    pub idx: u64,
    /// The registrar's complete pong packet, byte for byte.
    pub pong: Vec<u8>,
}

/// Type 7: `[topic, expiration]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicQuery {
    /// The topic searched.
    pub topic: Topic,
    /// Always 0 from the Go code.
    pub expiration: u64,
}

/// Type 8: `[echo, nodes]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicNodes {
    /// The packet hash of the topicQuery answered.
    pub echo: [u8; 32],
    /// Nodes registered (or self-advertising) under the topic.
    pub nodes: Vec<NodeEntry>,
}

/// A packet body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Type 1.
    Ping(Ping),
    /// Type 2.
    Pong(Pong),
    /// Type 3.
    FindNode(FindNode),
    /// Type 4.
    Neighbors(Neighbors),
    /// Type 5.
    FindNodeHash(FindNodeHash),
    /// Type 6.
    TopicRegister(TopicRegister),
    /// Type 7.
    TopicQuery(TopicQuery),
    /// Type 8.
    TopicNodes(TopicNodes),
}

/// A verified received packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The body.
    pub message: Message,
    /// The node id the signature recovers to.
    pub sender: NodeId,
    /// `keccak256(signature ‖ type ‖ body)`.
    pub hash: [u8; 32],
}

/// A signed packet ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPacket {
    /// The whole datagram.
    pub bytes: Vec<u8>,
    /// Its packet hash.
    pub hash: [u8; 32],
}

impl Message {
    /// The packet type of this body.
    pub fn kind(&self) -> PacketType {
        match self {
            Self::Ping(_) => PacketType::Ping,
            Self::Pong(_) => PacketType::Pong,
            Self::FindNode(_) => PacketType::FindNode,
            Self::Neighbors(_) => PacketType::Neighbors,
            Self::FindNodeHash(_) => PacketType::FindNodeHash,
            Self::TopicRegister(_) => PacketType::TopicRegister,
            Self::TopicQuery(_) => PacketType::TopicQuery,
            Self::TopicNodes(_) => PacketType::TopicNodes,
        }
    }

    /// The RLP body (without the type byte).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        list(out, |p| match self {
            Self::Ping(m) => {
                m.version.encode(p);
                encode_endpoint(&m.from, p);
                encode_endpoint(&m.to, p);
                m.expiration.encode(p);
                encode_topics(&m.topics, p);
            }
            Self::Pong(m) => {
                encode_endpoint(&m.to, p);
                m.reply_tok.as_slice().encode(p);
                m.expiration.encode(p);
                m.topic_hash.as_slice().encode(p);
                m.ticket_serial.encode(p);
                list(p, |l| m.wait_periods.iter().for_each(|w| w.encode(l)));
            }
            Self::FindNode(m) => {
                m.target.as_bytes().as_slice().encode(p);
                m.expiration.encode(p);
            }
            Self::Neighbors(m) => {
                encode_nodes(&m.nodes, p);
                m.expiration.encode(p);
            }
            Self::FindNodeHash(m) => {
                m.target.as_slice().encode(p);
                m.expiration.encode(p);
            }
            Self::TopicRegister(m) => {
                encode_topics(&m.topics, p);
                m.idx.encode(p);
                m.pong.as_slice().encode(p);
            }
            Self::TopicQuery(m) => {
                m.topic.0.as_bytes().encode(p);
                m.expiration.encode(p);
            }
            Self::TopicNodes(m) => {
                m.echo.as_slice().encode(p);
                encode_nodes(&m.nodes, p);
            }
        });
    }

    /// Signs the body with `key` and frames it.
    pub fn sign(&self, key: &SecretKey) -> SignedPacket {
        let mut bytes = Vec::with_capacity(MAX_PACKET_SIZE);
        bytes.extend_from_slice(VERSION_PREFIX);
        bytes.extend_from_slice(&[0u8; SIGNATURE_LEN]);
        bytes.push(self.kind().byte());
        self.encode_body(&mut bytes);
        let sig_at = VERSION_PREFIX.len();
        let signed = bytes.get(sig_at + SIGNATURE_LEN..).unwrap_or_default();
        let sig = key.sign_prehash(&keccak256(signed)).to_bytes();
        if let Some(slot) = bytes.get_mut(sig_at..sig_at + SIGNATURE_LEN) {
            slot.copy_from_slice(&sig);
        }
        let hash = keccak256(bytes.get(sig_at..).unwrap_or_default());
        SignedPacket { bytes, hash }
    }

    /// Decodes a body of type `kind`.
    pub fn decode_body(kind: PacketType, body: &[u8]) -> Result<Self, PacketError> {
        let mut outer = body;
        let payload = Header::decode_bytes(&mut outer, true).map_err(|error| {
            PacketError::Field { kind, field: "body", error, expected: "an RLP list" }
        })?;
        if !outer.is_empty() {
            return Err(PacketError::TrailingData { kind, what: "packet" });
        }
        let mut f = Fields { kind, buf: payload };
        let msg = match kind {
            PacketType::Ping => {
                let version = f.uint("version")?;
                let from = f.endpoint("from")?;
                let to = f.endpoint("to")?;
                let expiration = f.uint("expiration")?;
                let topics = f.topics("topics")?;
                f.tail()?;
                Self::Ping(Ping { version, from, to, expiration, topics })
            }
            PacketType::Pong => {
                let to = f.endpoint("to")?;
                let reply_tok = f.fixed::<32>("reply_tok")?;
                let expiration = f.uint("expiration")?;
                let topic_hash = f.fixed::<32>("topic_hash")?;
                let ticket_serial = f.uint("ticket_serial")?;
                let mut w = f.list("wait_periods")?;
                let mut wait_periods = Vec::new();
                while !w.buf.is_empty() {
                    if wait_periods.len() == MAX_TOPICS {
                        return Err(PacketError::TooManyItems {
                            kind,
                            field: "wait_periods",
                            max: MAX_TOPICS,
                        });
                    }
                    wait_periods.push(w.uint("wait_periods")?);
                }
                f.tail()?;
                Self::Pong(Pong {
                    to,
                    reply_tok,
                    expiration,
                    topic_hash,
                    ticket_serial,
                    wait_periods,
                })
            }
            PacketType::FindNode => {
                let target = NodeId(f.fixed::<64>("target")?);
                let expiration = f.uint("expiration")?;
                f.tail()?;
                Self::FindNode(FindNode { target, expiration })
            }
            PacketType::Neighbors => {
                let nodes = f.nodes("nodes")?;
                let expiration = f.uint("expiration")?;
                f.tail()?;
                Self::Neighbors(Neighbors { nodes, expiration })
            }
            PacketType::FindNodeHash => {
                let target = f.fixed::<32>("target")?;
                let expiration = f.uint("expiration")?;
                f.tail()?;
                Self::FindNodeHash(FindNodeHash { target, expiration })
            }
            PacketType::TopicRegister => {
                let topics = f.topics("topics")?;
                let idx = f.uint("idx")?;
                let pong = f.bytes("pong")?.to_vec();
                f.end("packet")?;
                Self::TopicRegister(TopicRegister { topics, idx, pong })
            }
            PacketType::TopicQuery => {
                let topic = f.topic("topic")?;
                let expiration = f.uint("expiration")?;
                f.end("packet")?;
                Self::TopicQuery(TopicQuery { topic, expiration })
            }
            PacketType::TopicNodes => {
                let echo = f.fixed::<32>("echo")?;
                let nodes = f.nodes("nodes")?;
                f.end("packet")?;
                Self::TopicNodes(TopicNodes { echo, nodes })
            }
        };
        Ok(msg)
    }
}

impl Packet {
    /// Decodes and verifies a datagram: size, prefix, type, body, then the signature (the
    /// expensive step last).
    pub fn decode(datagram: &[u8]) -> Result<Self, PacketError> {
        if datagram.len() > MAX_PACKET_SIZE {
            return Err(PacketError::TooLarge { size: datagram.len(), max: MAX_PACKET_SIZE });
        }
        let (Some(prefix), Some(sig), Some(&type_byte), Some(body)) = (
            datagram.get(..VERSION_PREFIX.len()),
            datagram.get(VERSION_PREFIX.len()..VERSION_PREFIX.len() + SIGNATURE_LEN),
            datagram.get(HEADER_LEN - 1),
            datagram.get(HEADER_LEN..),
        ) else {
            return Err(PacketError::TooShort { size: datagram.len(), min: HEADER_LEN });
        };
        if prefix != VERSION_PREFIX {
            return Err(PacketError::BadPrefix);
        }
        let kind = PacketType::from_byte(type_byte).ok_or(PacketError::UnknownType(type_byte))?;
        let message = Message::decode_body(kind, body)?;
        let signed = datagram.get(HEADER_LEN - 1..).unwrap_or_default();
        let sender = RecoverableSignature::from_bytes(sig)
            .and_then(|s| s.recover(&keccak256(signed)))
            .map_err(|_| PacketError::BadSignature)?
            .node_id();
        let hash = keccak256(datagram.get(VERSION_PREFIX.len()..).unwrap_or_default());
        Ok(Self { message, sender, hash })
    }
}

fn list(out: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    let mut payload = Vec::new();
    f(&mut payload);
    Header { list: true, payload_length: payload.len() }.encode(out);
    out.extend_from_slice(&payload);
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

fn encode_endpoint(e: &Endpoint, out: &mut Vec<u8>) {
    list(out, |p| {
        ip_bytes(&e.ip).as_slice().encode(p);
        e.udp.encode(p);
        e.tcp.encode(p);
    });
}

fn encode_nodes(nodes: &[NodeEntry], out: &mut Vec<u8>) {
    list(out, |p| {
        for n in nodes {
            list(p, |q| {
                ip_bytes(&n.endpoint.ip).as_slice().encode(q);
                n.endpoint.udp.encode(q);
                n.endpoint.tcp.encode(q);
                n.id.as_bytes().as_slice().encode(q);
            });
        }
    });
}

fn encode_topics(topics: &[Topic], out: &mut Vec<u8>) {
    list(out, |p| topics.iter().for_each(|t| t.0.as_bytes().encode(p)));
}

/// A cursor over the payload of one RLP list, naming the packet type in its errors.
struct Fields<'a> {
    kind: PacketType,
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn present(&self, field: &'static str) -> Result<(), PacketError> {
        if self.buf.is_empty() {
            Err(PacketError::MissingField { kind: self.kind, field })
        } else {
            Ok(())
        }
    }

    fn err(
        &self,
        field: &'static str,
        expected: &'static str,
    ) -> impl Fn(alloy_rlp::Error) -> PacketError {
        let kind = self.kind;
        move |error| PacketError::Field { kind, field, error, expected }
    }

    fn uint<T: Decodable>(&mut self, field: &'static str) -> Result<T, PacketError> {
        self.present(field)?;
        T::decode(&mut self.buf).map_err(self.err(field, "a canonical unsigned integer in range"))
    }

    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], PacketError> {
        self.present(field)?;
        Header::decode_bytes(&mut self.buf, false).map_err(self.err(field, "a byte string"))
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], PacketError> {
        let bytes = self.bytes(field)?;
        bytes.try_into().map_err(|_| PacketError::Field {
            kind: self.kind,
            field,
            error: alloy_rlp::Error::UnexpectedLength,
            expected: if N == 64 { "a 64-byte node id" } else { "a 32-byte hash" },
        })
    }

    fn list(&mut self, field: &'static str) -> Result<Fields<'a>, PacketError> {
        self.present(field)?;
        let buf = Header::decode_bytes(&mut self.buf, true).map_err(self.err(field, "a list"))?;
        Ok(Fields { kind: self.kind, buf })
    }

    fn ip(&mut self, field: &'static str) -> Result<IpAddr, PacketError> {
        let raw = self.bytes(field)?;
        if let Ok(v4) = <[u8; 4]>::try_from(raw) {
            Ok(IpAddr::V4(Ipv4Addr::from(v4)))
        } else if let Ok(v6) = <[u8; 16]>::try_from(raw) {
            Ok(IpAddr::V6(Ipv6Addr::from(v6)))
        } else {
            Err(PacketError::BadIp { kind: self.kind, len: raw.len() })
        }
    }

    fn endpoint(&mut self, field: &'static str) -> Result<Endpoint, PacketError> {
        let mut e = self.list(field)?;
        let ip = e.ip("ip")?;
        let udp = e.uint("udp")?;
        let tcp = e.uint("tcp")?;
        e.end(field)?;
        Ok(Endpoint { ip, udp, tcp })
    }

    fn nodes(&mut self, field: &'static str) -> Result<Vec<NodeEntry>, PacketError> {
        let mut l = self.list(field)?;
        let mut nodes = Vec::new();
        while !l.buf.is_empty() {
            if nodes.len() == MAX_NODES {
                return Err(PacketError::TooManyItems { kind: self.kind, field, max: MAX_NODES });
            }
            let mut n = l.list(field)?;
            let ip = n.ip("ip")?;
            let udp = n.uint("udp")?;
            let tcp = n.uint("tcp")?;
            let id = NodeId(n.fixed::<64>("id")?);
            n.end(field)?;
            nodes.push(NodeEntry { endpoint: Endpoint { ip, udp, tcp }, id });
        }
        Ok(nodes)
    }

    fn topic(&mut self, field: &'static str) -> Result<Topic, PacketError> {
        let raw = self.bytes(field)?;
        let s =
            std::str::from_utf8(raw).map_err(|_| PacketError::TopicNotUtf8 { kind: self.kind })?;
        Ok(Topic(s.to_owned()))
    }

    fn topics(&mut self, field: &'static str) -> Result<Vec<Topic>, PacketError> {
        let mut l = self.list(field)?;
        let mut topics = Vec::new();
        while !l.buf.is_empty() {
            if topics.len() == MAX_TOPICS {
                return Err(PacketError::TooManyItems { kind: self.kind, field, max: MAX_TOPICS });
            }
            topics.push(l.topic(field)?);
        }
        Ok(topics)
    }

    /// The list must end here.
    fn end(self, what: &'static str) -> Result<(), PacketError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(PacketError::TrailingData { kind: self.kind, what })
        }
    }

    /// Extra elements may follow (`rlp:"tail"`), but each must be well-formed RLP.
    fn tail(mut self) -> Result<(), PacketError> {
        while !self.buf.is_empty() {
            let header = Header::decode(&mut self.buf).map_err(self.err("tail", "RLP items"))?;
            self.buf = self.buf.get(header.payload_length..).ok_or(PacketError::Field {
                kind: self.kind,
                field: "tail",
                error: alloy_rlp::Error::InputTooShort,
                expected: "RLP items",
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[0x5a; 32]).expect("key")
    }

    fn endpoint() -> impl Strategy<Value = Endpoint> {
        (any::<bool>(), any::<[u8; 16]>(), any::<u16>(), any::<u16>()).prop_map(
            |(v4, b, udp, tcp)| {
                let ip = if v4 {
                    IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
                } else {
                    IpAddr::V6(Ipv6Addr::from(b))
                };
                Endpoint { ip, udp, tcp }
            },
        )
    }

    fn topics() -> impl Strategy<Value = Vec<Topic>> {
        proptest::collection::vec("[a-z]{0,12}".prop_map(Topic), 0..4)
    }

    fn nodes() -> impl Strategy<Value = Vec<NodeEntry>> {
        proptest::collection::vec(
            (endpoint(), any::<[u8; 32]>()).prop_map(|(endpoint, h)| {
                let mut id = [0u8; 64];
                id[..32].copy_from_slice(&h);
                id[32..].copy_from_slice(&h);
                NodeEntry { endpoint, id: NodeId(id) }
            }),
            0..12,
        )
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (endpoint(), endpoint(), any::<u64>(), topics()).prop_map(
                |(from, to, expiration, topics)| {
                    Message::Ping(Ping { version: PROTOCOL_VERSION, from, to, expiration, topics })
                }
            ),
            (
                endpoint(),
                any::<[u8; 32]>(),
                any::<u64>(),
                any::<u32>(),
                proptest::collection::vec(any::<u32>(), 0..4)
            )
                .prop_map(|(to, tok, expiration, ticket_serial, wait_periods)| {
                    Message::Pong(Pong {
                        to,
                        reply_tok: tok,
                        expiration,
                        topic_hash: keccak256(tok),
                        ticket_serial,
                        wait_periods,
                    })
                }),
            (any::<[u8; 32]>(), any::<u64>()).prop_map(|(h, expiration)| {
                let mut id = [1u8; 64];
                id[..32].copy_from_slice(&h);
                Message::FindNode(FindNode { target: NodeId(id), expiration })
            }),
            (nodes(), any::<u64>()).prop_map(|(nodes, expiration)| Message::Neighbors(Neighbors {
                nodes,
                expiration
            })),
            (any::<[u8; 32]>(), any::<u64>()).prop_map(|(target, expiration)| {
                Message::FindNodeHash(FindNodeHash { target, expiration })
            }),
            (topics(), any::<u64>(), proptest::collection::vec(any::<u8>(), 0..300)).prop_map(
                |(topics, idx, pong)| Message::TopicRegister(TopicRegister { topics, idx, pong })
            ),
            ("[a-z]{0,16}", any::<u64>()).prop_map(|(t, expiration)| Message::TopicQuery(
                TopicQuery { topic: Topic(t), expiration }
            )),
            (any::<[u8; 32]>(), nodes())
                .prop_map(|(echo, nodes)| Message::TopicNodes(TopicNodes { echo, nodes })),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn signed_packets_round_trip(msg in message()) {
            let k = key();
            let signed = msg.sign(&k);
            prop_assert!(signed.bytes.len() <= MAX_PACKET_SIZE);
            let p = Packet::decode(&signed.bytes).expect("decodes");
            prop_assert_eq!(&p.message, &msg);
            prop_assert_eq!(p.sender, k.public_key().node_id());
            prop_assert_eq!(p.hash, signed.hash);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
            let mut framed = VERSION_PREFIX.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = Packet::decode(&bytes);
            let _ = Packet::decode(&framed);
        }
    }

    fn body(kind: PacketType, hex_body: &str) -> Result<Message, PacketError> {
        Message::decode_body(kind, &hex::decode(hex_body).expect("hex"))
    }

    #[test]
    fn every_field_is_mandatory_and_tails_follow_the_go_structs() {
        // A 3-field pong (no ticket fields).
        let short_pong = "f0cb847f00000182765f82765fa0adbfc9dc8eb2c7161ccdc24a1af38c271d895b10cadcca27b7009a86eba2cb21821039";
        assert!(matches!(
            body(PacketType::Pong, short_pong),
            Err(PacketError::MissingField { field: "topic_hash", .. })
        ));
        // A ping without its topics list.
        let ping = "de04cb847f00000182765f82765fcb847f00000182765d82765d846b0258b2";
        assert!(matches!(
            body(PacketType::Ping, ping),
            Err(PacketError::MissingField { field: "topics", .. })
        ));
        // A ping with an extra trailing element is accepted (Go `rlp:"tail"`).
        let ping_tail = "e204cb847f00000182765f82765fcb847f00000182765d82765d846b0258b2c082abcd";
        assert!(body(PacketType::Ping, ping_tail).is_ok());
        // A topicQuery with an extra element is not (no tail in the Go struct).
        let query_tail = "cb877768697370657280820102";
        assert!(matches!(
            body(PacketType::TopicQuery, query_tail),
            Err(PacketError::TrailingData { .. })
        ));
        // Bytes after the body list.
        assert!(matches!(
            body(PacketType::TopicQuery, "c98777686973706572800a"),
            Err(PacketError::TrailingData { .. })
        ));
        // An IP of 5 bytes.
        let bad_ip = "f853f850f84e85010203040582765f82765fb8401111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111101";
        assert!(matches!(
            body(PacketType::Neighbors, bad_ip),
            Err(PacketError::BadIp { kind: PacketType::Neighbors, len: 5 })
        ));
    }

    #[test]
    fn size_and_header_errors_name_the_problem() {
        assert_eq!(
            Packet::decode(&[0; 1281]),
            Err(PacketError::TooLarge { size: 1281, max: MAX_PACKET_SIZE })
        );
        assert_eq!(
            Packet::decode(&[0; 10]),
            Err(PacketError::TooShort { size: 10, min: HEADER_LEN })
        );
        let mut p = Message::TopicQuery(TopicQuery { topic: Topic::new("whisper"), expiration: 0 })
            .sign(&key())
            .bytes;
        p[HEADER_LEN - 1] = 0;
        assert_eq!(Packet::decode(&p), Err(PacketError::UnknownType(0)));
        assert_eq!(PacketType::from_byte(9), None);
        assert_eq!(PacketType::from_byte(8), Some(PacketType::TopicNodes));
    }

    #[test]
    fn lists_are_capped() {
        let topics: Vec<Topic> = (0..=MAX_TOPICS).map(|_| Topic::new("a")).collect();
        let msg = Message::TopicRegister(TopicRegister { topics, idx: 0, pong: vec![] });
        let p = msg.sign(&key());
        assert!(matches!(
            Packet::decode(&p.bytes),
            Err(PacketError::TooManyItems { field: "topics", .. })
        ));
    }
}
