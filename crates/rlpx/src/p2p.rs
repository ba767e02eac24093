//! The `p2p` base protocol, version 5: Hello, Disconnect, Ping and Pong, and the capability
//! negotiation that assigns message ids from 0x10 on.
//!
//! Specs: `devp2p/rlpx.md` §"p2p Capability" and §"Message ID-based Multiplexing",
//! `eips/eip-706.md` (snappy from version 5), `eips/eip-8.md` (extra Hello elements are ignored).

use std::fmt;

use alloy_rlp::{BufMut, Encodable};
use wisp_crypto::NodeId;

use crate::{error::P2PError, rlp};

/// The version of the `p2p` base protocol we speak (EIP-706).
pub const P2P_VERSION: u64 = 5;
/// Snappy is used when both sides' Hello version is at least this (EIP-706).
pub const SNAPPY_MIN_VERSION: u64 = 5;
/// Message ids 0x00..0x10 belong to the base protocol; capabilities start here.
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;
/// Hello.
pub const HELLO_ID: u64 = 0x00;
/// Disconnect.
pub const DISCONNECT_ID: u64 = 0x01;
/// Ping.
pub const PING_ID: u64 = 0x02;
/// Pong.
pub const PONG_ID: u64 = 0x03;
/// Most capabilities a Hello may list (a sanity bound on untrusted input).
pub const MAX_CAPABILITIES: usize = 64;
/// Longest capability name accepted (the spec says 8 ASCII characters; we allow slack).
pub const MAX_CAPABILITY_NAME: usize = 32;
/// Longest client id accepted.
pub const MAX_CLIENT_ID: usize = 1024;

/// A capability as listed in Hello: a name and a version.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// The capability name, e.g. `waku`.
    pub name: String,
    /// Its version.
    pub version: u32,
}

impl Capability {
    /// A capability.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Self { name: name.into(), version }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// A capability this node speaks, with the number of message ids it reserves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    /// Name and version advertised in Hello.
    pub cap: Capability,
    /// How many message ids the capability uses (128 for `waku/1` and `shh/6`).
    pub length: u64,
}

impl Protocol {
    /// A protocol with `length` message ids.
    pub fn new(name: impl Into<String>, version: u32, length: u64) -> Self {
        Self { cap: Capability::new(name, version), length }
    }
}

/// The Hello message (`[protocolVersion, clientId, capabilities, listenPort, nodeKey, ...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The `p2p` version (5).
    pub protocol_version: u64,
    /// Human-readable client id, e.g. `wisp/v0.1.0/linux-x86_64`.
    pub client_id: String,
    /// Capabilities offered.
    pub capabilities: Vec<Capability>,
    /// Legacy listen port; status-go sends 0 and it should be ignored.
    pub listen_port: u16,
    /// The sender's node id (64-byte public key).
    pub id: NodeId,
}

impl Hello {
    /// Encodes the message data (an RLP list).
    pub fn encode(&self, out: &mut dyn BufMut) {
        let caps = CapList(&self.capabilities);
        rlp::encode_list(
            &[
                &self.protocol_version,
                &self.client_id.as_str(),
                &caps,
                &self.listen_port,
                &&self.id.0[..],
            ],
            out,
        );
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        let caps = CapList(&self.capabilities);
        rlp::list_length(&[
            &self.protocol_version,
            &self.client_id.as_str(),
            &caps,
            &self.listen_port,
            &&self.id.0[..],
        ])
    }

    /// Decodes the message data; elements after the node id are ignored (EIP-8).
    pub fn decode(buf: &mut &[u8]) -> Result<Self, P2PError> {
        Self::decode_inner(buf).map_err(|source| P2PError::Malformed { what: "Hello", source })
    }

    fn decode_inner(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let mut p = rlp::list_payload(buf)?;
        let protocol_version = rlp::item(&mut p)?;
        let client_id_bytes = alloy_rlp::Header::decode_bytes(&mut p, false)?;
        if client_id_bytes.len() > MAX_CLIENT_ID {
            return Err(alloy_rlp::Error::Custom("client id too long"));
        }
        // Invalid UTF-8 is replaced (3 bytes per bad byte), so check the length again: a
        // decoded Hello must re-encode within the limit.
        let client_id = String::from_utf8_lossy(client_id_bytes).into_owned();
        if client_id.len() > MAX_CLIENT_ID {
            return Err(alloy_rlp::Error::Custom("client id too long"));
        }
        let mut caps_payload = rlp::list_payload(&mut p)?;
        let mut capabilities = Vec::new();
        while !caps_payload.is_empty() {
            if capabilities.len() == MAX_CAPABILITIES {
                return Err(alloy_rlp::Error::Custom("too many capabilities"));
            }
            let mut c = rlp::list_payload(&mut caps_payload)?;
            let name = alloy_rlp::Header::decode_bytes(&mut c, false)?;
            if name.len() > MAX_CAPABILITY_NAME {
                return Err(alloy_rlp::Error::Custom("capability name too long"));
            }
            let name = std::str::from_utf8(name)
                .map_err(|_| alloy_rlp::Error::Custom("capability name not UTF-8"))?;
            let version: u32 = rlp::item(&mut c)?;
            capabilities.push(Capability::new(name, version));
        }
        let listen_port = rlp::item(&mut p)?;
        let id = NodeId(rlp::fixed(&mut p)?);
        Ok(Self { protocol_version, client_id, capabilities, listen_port, id })
    }
}

struct CapList<'a>(&'a [Capability]);

impl CapList<'_> {
    fn payload_len(&self) -> usize {
        self.0.iter().map(|c| rlp::list_length(&[&c.name.as_str(), &c.version])).sum()
    }
}

impl Encodable for CapList<'_> {
    fn encode(&self, out: &mut dyn BufMut) {
        alloy_rlp::Header { list: true, payload_length: self.payload_len() }.encode(out);
        for c in self.0 {
            rlp::encode_list(&[&c.name.as_str(), &c.version], out);
        }
    }

    fn length(&self) -> usize {
        let p = self.payload_len();
        alloy_rlp::length_of_length(p) + p
    }
}

/// Why a session ends (`rlpx.md` §Disconnect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisconnectReason {
    /// 0x00 Disconnect requested.
    DisconnectRequested,
    /// 0x01 TCP sub-system error.
    TcpSubsystemError,
    /// 0x02 Breach of protocol, e.g. a malformed message, bad RLP.
    BreachOfProtocol,
    /// 0x03 Useless peer.
    UselessPeer,
    /// 0x04 Too many peers.
    TooManyPeers,
    /// 0x05 Already connected.
    AlreadyConnected,
    /// 0x06 Incompatible P2P protocol version.
    IncompatibleVersion,
    /// 0x07 Null node identity received.
    NullIdentity,
    /// 0x08 Client quitting.
    ClientQuitting,
    /// 0x09 Unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a Identity is the same as this node.
    ConnectedToSelf,
    /// 0x0b Ping timeout.
    PingTimeout,
    /// 0x10 Some other reason specific to a subprotocol.
    SubprotocolError,
    /// A code the spec does not define.
    Other(u8),
}

impl DisconnectReason {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::DisconnectRequested => 0x00,
            Self::TcpSubsystemError => 0x01,
            Self::BreachOfProtocol => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleVersion => 0x06,
            Self::NullIdentity => 0x07,
            Self::ClientQuitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolError => 0x10,
            Self::Other(c) => c,
        }
    }

    /// The reason of a wire code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::DisconnectRequested,
            0x01 => Self::TcpSubsystemError,
            0x02 => Self::BreachOfProtocol,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::NullIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolError,
            c => Self::Other(c),
        }
    }

    /// Every reason the spec defines.
    pub const ALL: [Self; 13] = [
        Self::DisconnectRequested,
        Self::TcpSubsystemError,
        Self::BreachOfProtocol,
        Self::UselessPeer,
        Self::TooManyPeers,
        Self::AlreadyConnected,
        Self::IncompatibleVersion,
        Self::NullIdentity,
        Self::ClientQuitting,
        Self::UnexpectedIdentity,
        Self::ConnectedToSelf,
        Self::PingTimeout,
        Self::SubprotocolError,
    ];

    /// Encodes the Disconnect message data: the list `[reason]` (DECISIONS 20).
    pub fn encode(self, out: &mut dyn BufMut) {
        rlp::encode_list(&[&self.code()], out);
    }

    /// Decodes Disconnect message data: `[reason]`, a bare `reason`, or `[]` (no reason,
    /// read as DisconnectRequested), as peers in the wild send all three.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, P2PError> {
        let inner = |buf: &mut &[u8]| -> alloy_rlp::Result<Self> {
            if buf.is_empty() {
                return Ok(Self::DisconnectRequested);
            }
            let header = alloy_rlp::Header::decode(&mut &buf[..])?;
            let code: u8 = if header.list {
                let mut p = rlp::list_payload(buf)?;
                if p.is_empty() { 0 } else { rlp::item(&mut p)? }
            } else {
                rlp::item(buf)?
            };
            Ok(Self::from_code(code))
        };
        inner(buf).map_err(|source| P2PError::Malformed { what: "Disconnect", source })
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::DisconnectRequested => "disconnect requested",
            Self::TcpSubsystemError => "TCP sub-system error",
            Self::BreachOfProtocol => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::NullIdentity => "null node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolError => "subprotocol error",
            Self::Other(c) => return write!(f, "unknown reason {c:#04x}"),
        };
        write!(f, "{text} ({:#04x})", self.code())
    }
}

/// A message of the base protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum P2PMessage {
    /// Hello (0x00).
    Hello(Hello),
    /// Disconnect (0x01).
    Disconnect(DisconnectReason),
    /// Ping (0x02).
    Ping,
    /// Pong (0x03).
    Pong,
}

impl P2PMessage {
    /// The message id.
    pub fn id(&self) -> u64 {
        match self {
            Self::Hello(_) => HELLO_ID,
            Self::Disconnect(_) => DISCONNECT_ID,
            Self::Ping => PING_ID,
            Self::Pong => PONG_ID,
        }
    }

    /// Encodes the message data (without the id).
    pub fn encode_data(&self, out: &mut dyn BufMut) {
        match self {
            Self::Hello(h) => h.encode(out),
            Self::Disconnect(r) => r.encode(out),
            Self::Ping | Self::Pong => out.put_u8(alloy_rlp::EMPTY_LIST_CODE),
        }
    }

    /// Decodes the message data of base-protocol message `id` (0x00..=0x03).
    pub fn decode(id: u64, mut data: &[u8]) -> Result<Self, P2PError> {
        match id {
            HELLO_ID => Ok(Self::Hello(Hello::decode(&mut data)?)),
            DISCONNECT_ID => Ok(Self::Disconnect(DisconnectReason::decode(&mut data)?)),
            // Ping and Pong carry an empty list; anything is tolerated, as geth does.
            PING_ID => Ok(Self::Ping),
            PONG_ID => Ok(Self::Pong),
            other => Err(P2PError::UnknownMessageId(other)),
        }
    }
}

/// A capability both sides share, at the highest shared version, with its id range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedCapability {
    /// Name and (highest shared) version.
    pub cap: Capability,
    /// The first message id of its range.
    pub offset: u64,
    /// The number of ids it reserves.
    pub length: u64,
}

/// The capabilities of a session and their message-id ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedCapabilities(Vec<SharedCapability>);

impl SharedCapabilities {
    /// Matches our protocols against the peer's Hello: for each name both sides list, the
    /// highest version both list wins (others get no range); shared capabilities take ids from
    /// 0x10 on in name order.
    pub fn negotiate(ours: &[Protocol], theirs: &[Capability]) -> Result<Self, P2PError> {
        let mut best: Vec<&Protocol> = Vec::new();
        for p in ours {
            if !theirs.contains(&p.cap) {
                continue;
            }
            match best.iter_mut().find(|b| b.cap.name == p.cap.name) {
                Some(b) if b.cap.version < p.cap.version => *b = p,
                Some(_) => {}
                None => best.push(p),
            }
        }
        if best.is_empty() {
            let join = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<_>>().join(", ");
            return Err(P2PError::NoSharedCapability {
                ours: join(&mut ours.iter().map(|p| p.cap.to_string())),
                theirs: join(&mut theirs.iter().map(|c| c.to_string())),
            });
        }
        best.sort_by(|a, b| a.cap.name.cmp(&b.cap.name));
        let mut offset = BASE_PROTOCOL_LENGTH;
        let shared = best
            .into_iter()
            .map(|p| {
                let s = SharedCapability { cap: p.cap.clone(), offset, length: p.length };
                offset += p.length;
                s
            })
            .collect();
        Ok(Self(shared))
    }

    /// The shared capabilities in id order.
    pub fn iter(&self) -> impl Iterator<Item = &SharedCapability> {
        self.0.iter()
    }

    /// The shared capability of this name, if any.
    pub fn get(&self, name: &str) -> Option<&SharedCapability> {
        self.0.iter().find(|c| c.cap.name == name)
    }

    /// The absolute message id of `code` of capability `name`.
    pub fn message_id(&self, name: &str, code: u64) -> Option<u64> {
        self.get(name).filter(|c| code < c.length).map(|c| c.offset + code)
    }

    /// The capability and relative code of an absolute message id (>= 0x10).
    pub fn resolve(&self, id: u64) -> Option<(&SharedCapability, u64)> {
        self.0
            .iter()
            .find(|c| id >= c.offset && id < c.offset + c.length)
            .map(|c| (c, id - c.offset))
    }
}

/// Encodes a frame's data: `rlp(msg-id) || msg-data`.
pub fn encode_frame_data(id: u64, data: &[u8], out: &mut Vec<u8>) {
    id.encode(out);
    out.extend_from_slice(data);
}

/// Splits a frame's data into the message id and the (possibly compressed) message data.
pub fn decode_frame_data(mut frame: &[u8]) -> Result<(u64, &[u8]), P2PError> {
    let id = <u64 as alloy_rlp::Decodable>::decode(&mut frame)
        .map_err(|source| P2PError::Malformed { what: "message id", source })?;
    Ok((id, frame))
}

/// Snappy-decompresses message data (raw block format), checking the declared length
/// against `max` before allocating anything (EIP-706).
pub fn decompress(data: &[u8], max: usize) -> Result<Vec<u8>, P2PError> {
    let len = snap::raw::decompress_len(data)?;
    if len > max {
        return Err(P2PError::MessageTooBig { size: len, max });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(data)?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// `eips/eip-8.md` §"devp2p Base Protocol": a Hello with a future version and extra list
    /// elements decodes, and the extras are ignored.
    #[test]
    fn eip8_hello() {
        let bytes =
            h("f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840
            fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569
            bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304");
        let hello = Hello::decode(&mut &bytes[..]).unwrap();
        assert_eq!(hello.protocol_version, 55);
        assert_eq!(hello.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            hello.capabilities,
            vec![Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(hello.listen_port, 9999);
        assert_eq!(hex::encode(&hello.id.0[..4]), "fda1cff6");
    }

    #[test]
    fn every_disconnect_reason_round_trips() {
        for r in DisconnectReason::ALL {
            let mut out = Vec::new();
            r.encode(&mut out);
            assert_eq!(out, [0xc1, if r.code() == 0 { 0x80 } else { r.code() }]);
            assert_eq!(DisconnectReason::decode(&mut &out[..]).unwrap(), r);
            assert_eq!(DisconnectReason::from_code(r.code()), r);
        }
        // A bare integer and an empty list are accepted too.
        assert_eq!(
            DisconnectReason::decode(&mut &[0x04][..]).unwrap(),
            DisconnectReason::TooManyPeers
        );
        assert_eq!(
            DisconnectReason::decode(&mut &[0xc0][..]).unwrap(),
            DisconnectReason::DisconnectRequested
        );
        assert!(DisconnectReason::decode(&mut &[0xc2, 0x81][..]).is_err());
    }

    #[test]
    fn negotiation_takes_highest_shared_version_in_name_order() {
        let ours = [
            Protocol::new("waku", 0, 128),
            Protocol::new("waku", 1, 128),
            Protocol::new("shh", 6, 128),
        ];
        let theirs = [
            Capability::new("waku", 1),
            Capability::new("waku", 0),
            Capability::new("shh", 6),
            Capability::new("eth", 63),
        ];
        let s = SharedCapabilities::negotiate(&ours, &theirs).unwrap();
        assert_eq!(s.message_id("shh", 0), Some(0x10));
        assert_eq!(s.message_id("waku", 22), Some(0x90 + 22));
        assert_eq!(s.message_id("waku", 128), None);
        assert_eq!(s.get("waku").unwrap().cap.version, 1);
        assert_eq!(s.resolve(0x8f).map(|(c, r)| (c.cap.name.as_str(), r)), Some(("shh", 127)));
        assert_eq!(s.resolve(0x110), None);
        assert!(matches!(
            SharedCapabilities::negotiate(&ours, &[Capability::new("waku", 2)]),
            Err(P2PError::NoSharedCapability { .. })
        ));
    }

    #[test]
    fn hostile_hellos_are_bounded() {
        let id = NodeId([1; 64]);
        let mut hello = Hello {
            protocol_version: 5,
            client_id: "x".repeat(MAX_CLIENT_ID + 1),
            capabilities: vec![],
            listen_port: 0,
            id,
        };
        let mut out = Vec::new();
        hello.encode(&mut out);
        assert!(Hello::decode(&mut &out[..]).is_err());
        hello.client_id = "x".into();
        hello.capabilities =
            (0..=MAX_CAPABILITIES as u32).map(|v| Capability::new("a", v)).collect();
        out.clear();
        hello.encode(&mut out);
        assert!(Hello::decode(&mut &out[..]).is_err());
    }

    proptest! {
        #[test]
        fn hello_round_trips(
            version in any::<u64>(),
            client in "[ -~]{0,64}",
            caps in prop::collection::vec(("[a-z]{1,8}", any::<u32>()), 0..10),
            port in any::<u16>(),
            id in prop::array::uniform32(any::<u8>()),
        ) {
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&id);
            let hello = Hello {
                protocol_version: version,
                client_id: client,
                capabilities: caps.into_iter().map(|(n, v)| Capability::new(n, v)).collect(),
                listen_port: port,
                id: NodeId(full),
            };
            let mut out = Vec::new();
            hello.encode(&mut out);
            prop_assert_eq!(out.len(), hello.encoded_len());
            prop_assert_eq!(Hello::decode(&mut &out[..]).unwrap(), hello);
        }

        #[test]
        fn decoders_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Hello::decode(&mut &data[..]);
            let _ = DisconnectReason::decode(&mut &data[..]);
            let _ = decode_frame_data(&data);
            let _ = decompress(&data, 1 << 16);
        }
    }
}
