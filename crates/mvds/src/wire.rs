//! MVDS wire types (2/MVDS "Payloads", 4/MVDS-META) and their codec.
//!
//! The protobuf schema is `proto/mvds.proto`, compiled by prost-build + protox in `build.rs`.
//! The generated structs stay private; the types here are the validated domain form:
//! every id is exactly 32 bytes, and decoding is bounded by [`Limits`].

use std::fmt;

use prost::Message as _;
use prost::bytes::BufMut;
use prost::encoding::{encoded_len_varint, key_len};
use wisp_crypto::{PublicKey, keccak256_concat, sha256_concat};

use crate::error::Error;

/// Protobuf structs generated from `proto/mvds.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/mvds.rs"));
}

/// Prefix hashed in front of every message id (2/MVDS "Message Identifiers", DECISIONS 11).
pub const MESSAGE_ID_PREFIX: &[u8] = b"MESSAGE_ID";
/// Length of a message id: a SHA-256 digest.
pub const MESSAGE_ID_LEN: usize = 32;
/// Length of a group id: status-go's `state.GroupID` is `[32]byte`.
pub const GROUP_ID_LEN: usize = 32;

/// Protobuf field number of `Payload.acks` (2/MVDS).
pub const FIELD_ACKS: u32 = 5001;
/// Protobuf field number of `Payload.offers` (2/MVDS).
pub const FIELD_OFFERS: u32 = 5002;
/// Protobuf field number of `Payload.requests` (2/MVDS).
pub const FIELD_REQUESTS: u32 = 5003;
/// Protobuf field number of `Payload.messages` (2/MVDS).
pub const FIELD_MESSAGES: u32 = 5004;

/// Default for [`Limits::max_payload_bytes`]: 1 MiB, Waku's default maximum message size.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Default for [`Limits::max_records`].
pub const DEFAULT_MAX_RECORDS: usize = 16 * 1024;

/// A message identifier: `sha256("MESSAGE_ID" || group_id || timestamp_le64 || body)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MessageId(pub [u8; MESSAGE_ID_LEN]);

impl MessageId {
    /// Parses a 32-byte id; other lengths are [`Error::InvalidMessageId`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        <[u8; MESSAGE_ID_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| Error::InvalidMessageId { len: bytes.len() })
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; MESSAGE_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", hex::encode(self.0))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A group identifier: one independent synchronisation context (2/MVDS "Group Identifiers").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GroupId(pub [u8; GROUP_ID_LEN]);

impl GroupId {
    /// Parses a 32-byte group id; other lengths are [`Error::InvalidGroupId`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        <[u8; GROUP_ID_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| Error::InvalidGroupId { len: bytes.len() })
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; GROUP_ID_LEN] {
        &self.0
    }

    /// The group status-go uses for everything two identities exchange over MVDS, 1:1 and
    /// private-group messages alike (`datasync.ToOneToOneGroupID`):
    /// `keccak256(compressed(a) || compressed(b))`, the key with the smaller X coordinate first.
    /// The order of the arguments does not matter.
    pub fn one_to_one(a: &PublicKey, b: &PublicKey) -> Self {
        let (a, b) = (a.to_compressed(), b.to_compressed());
        // Compressed form: prefix byte, then X big-endian: comparing bytes 1.. compares X.
        let (lo, hi) = if a[1..] < b[1..] { (a, b) } else { (b, a) };
        Self(keccak256_concat(&[&lo, &hi]))
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", hex::encode(self.0))
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// 4/MVDS-META message metadata (field 6004 of `Message`). status-go v0.79.11 never sets it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Parent message ids in the conversation DAG; carried, not interpreted.
    pub parents: Vec<MessageId>,
    /// An ephemeral message is not acknowledged and not retransmitted.
    pub ephemeral: bool,
}

/// One MVDS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The group the message belongs to.
    pub group_id: GroupId,
    /// Unix time in seconds, set by the author.
    pub timestamp: i64,
    /// Opaque application bytes (for status-go: an `ApplicationMetadataMessage`).
    pub body: Vec<u8>,
    /// 4/MVDS-META metadata, if any. Not covered by the id.
    pub metadata: Option<Metadata>,
}

impl Message {
    /// A message without metadata.
    pub fn new(group_id: GroupId, timestamp: i64, body: Vec<u8>) -> Self {
        Self { group_id, timestamp, body, metadata: None }
    }

    /// `sha256("MESSAGE_ID" || group_id || timestamp as 8-byte little endian || body)`
    /// (DECISIONS 11).
    pub fn id(&self) -> MessageId {
        MessageId(sha256_concat(&[
            MESSAGE_ID_PREFIX,
            &self.group_id.0,
            &self.timestamp.to_le_bytes(),
            &self.body,
        ]))
    }

    /// Whether the metadata marks the message ephemeral.
    pub fn is_ephemeral(&self) -> bool {
        self.metadata.as_ref().is_some_and(|m| m.ephemeral)
    }

    /// Encodes the `Message` protobuf alone (as `SqliteStore` stores it).
    pub fn encode(&self, out: &mut impl BufMut) {
        // Writing into a `BufMut` only fails when it runs out of capacity; `encode_raw`
        // grows a `Vec` and never fails.
        self.to_proto().encode_raw(out);
    }

    /// Length of [`Message::encode`]'s output (computed without encoding).
    pub fn encoded_len(&self) -> usize {
        let bytes_field =
            |tag: u32, len: usize| key_len(tag) + encoded_len_varint(len as u64) + len;
        let mut len = bytes_field(6001, GROUP_ID_LEN);
        if self.timestamp != 0 {
            // int64 is a plain varint: a negative value takes ten bytes.
            len += key_len(6002) + encoded_len_varint(self.timestamp as u64);
        }
        if !self.body.is_empty() {
            len += bytes_field(6003, self.body.len());
        }
        if let Some(md) = &self.metadata {
            let md_len = md.parents.len() * bytes_field(1, MESSAGE_ID_LEN)
                + if md.ephemeral { key_len(2) + 1 } else { 0 };
            len += bytes_field(6004, md_len);
        }
        len
    }

    /// Decodes a `Message` protobuf of at most `max_bytes` bytes, consuming `buf`.
    pub fn decode(buf: &mut &[u8], max_bytes: usize) -> Result<Self, Error> {
        if buf.len() > max_bytes {
            return Err(Error::PayloadTooBig { size: buf.len(), max: max_bytes });
        }
        let proto = proto::Message::decode(&mut *buf)?;
        Self::from_proto(proto)
    }

    fn to_proto(&self) -> proto::Message {
        proto::Message {
            group_id: self.group_id.0.to_vec(),
            timestamp: self.timestamp,
            body: self.body.clone(),
            metadata: self.metadata.as_ref().map(|m| proto::Metadata {
                parents: m.parents.iter().map(|p| p.0.to_vec()).collect(),
                ephemeral: m.ephemeral,
            }),
        }
    }

    fn from_proto(m: proto::Message) -> Result<Self, Error> {
        let metadata = match m.metadata {
            None => None,
            Some(md) => Some(Metadata {
                parents: md
                    .parents
                    .iter()
                    .map(|p| MessageId::from_slice(p))
                    .collect::<Result<_, _>>()?,
                ephemeral: md.ephemeral,
            }),
        };
        Ok(Self {
            group_id: GroupId::from_slice(&m.group_id)?,
            timestamp: m.timestamp,
            body: m.body,
            metadata,
        })
    }
}

/// Bounds on what [`Payload::decode_with_limits`] accepts from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded payload accepted, checked before decoding. Default: 1 MiB.
    pub max_payload_bytes: usize,
    /// Most records (acks + offers + requests + messages + metadata parents) accepted.
    /// Default: 16 384.
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES, max_records: DEFAULT_MAX_RECORDS }
    }
}

/// An MVDS payload: every record a node sends one peer in one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Payload {
    /// Ids of messages the sender holds.
    pub acks: Vec<MessageId>,
    /// Ids of messages the sender offers.
    pub offers: Vec<MessageId>,
    /// Ids of messages the sender requests.
    pub requests: Vec<MessageId>,
    /// Full messages.
    pub messages: Vec<Message>,
}

impl Payload {
    /// Whether the payload carries no record at all.
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
            && self.offers.is_empty()
            && self.requests.is_empty()
            && self.messages.is_empty()
    }

    /// Number of records (acks + offers + requests + messages).
    pub fn record_count(&self) -> usize {
        self.acks.len() + self.offers.len() + self.requests.len() + self.messages.len()
    }

    /// Writes the protobuf encoding: fields in number order, as status-go's encoder does.
    pub fn encode(&self, out: &mut impl BufMut) {
        self.to_proto().encode_raw(out);
    }

    /// The protobuf encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Length of [`Payload::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let ids = (self.acks.len() + self.offers.len() + self.requests.len()) * id_record_len();
        ids + self.messages.iter().map(message_record_len).sum::<usize>()
    }

    /// Decodes with the default [`Limits`], consuming `buf`.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, Error> {
        Self::decode_with_limits(buf, &Limits::default())
    }

    /// Decodes an untrusted payload: the size is checked before decoding, the record count
    /// after; every id must be 32 bytes. Consumes `buf`.
    pub fn decode_with_limits(buf: &mut &[u8], limits: &Limits) -> Result<Self, Error> {
        if buf.len() > limits.max_payload_bytes {
            return Err(Error::PayloadTooBig { size: buf.len(), max: limits.max_payload_bytes });
        }
        let proto = proto::Payload::decode(&mut *buf)?;
        let parents: usize = proto
            .messages
            .iter()
            .map(|m| m.metadata.as_ref().map_or(0, |md| md.parents.len()))
            .sum();
        let count = proto.acks.len()
            + proto.offers.len()
            + proto.requests.len()
            + proto.messages.len()
            + parents;
        if count > limits.max_records {
            return Err(Error::TooManyRecords { count, max: limits.max_records });
        }
        let ids = |v: Vec<Vec<u8>>| -> Result<Vec<MessageId>, Error> {
            v.iter().map(|b| MessageId::from_slice(b)).collect()
        };
        Ok(Self {
            acks: ids(proto.acks)?,
            offers: ids(proto.offers)?,
            requests: ids(proto.requests)?,
            messages: proto
                .messages
                .into_iter()
                .map(Message::from_proto)
                .collect::<Result<_, _>>()?,
        })
    }

    fn to_proto(&self) -> proto::Payload {
        let ids = |v: &[MessageId]| v.iter().map(|id| id.0.to_vec()).collect();
        proto::Payload {
            acks: ids(&self.acks),
            offers: ids(&self.offers),
            requests: ids(&self.requests),
            messages: self.messages.iter().map(Message::to_proto).collect(),
        }
    }
}

/// Encoded length of one id in `acks`, `offers` or `requests` (the three share a key length).
pub(crate) fn id_record_len() -> usize {
    key_len(FIELD_ACKS) + encoded_len_varint(MESSAGE_ID_LEN as u64) + MESSAGE_ID_LEN
}

/// Encoded length of one entry of `messages`.
pub(crate) fn message_record_len(m: &Message) -> usize {
    let len = m.encoded_len();
    key_len(FIELD_MESSAGES) + encoded_len_varint(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const GROUP: &str = "21c3ec5cdd7c91265942b0e48aee19503b9398a6c2e82cf6968209d9e285558b";

    /// shared/vectors/chat/one-to-one.json, envelope #2: bob's MVDS ack of alice's first message.
    #[test]
    fn status_go_one_to_one_ack() {
        let bytes = h("cab802205d7ec85e5da115493539efb7af828cd2ab2ceec39601be177e2445f3207cec96");
        let p = Payload::decode(&mut &bytes[..]).unwrap();
        assert_eq!(
            p.acks,
            vec![
                MessageId::from_slice(&h(
                    "5d7ec85e5da115493539efb7af828cd2ab2ceec39601be177e2445f3207cec96"
                ))
                .unwrap()
            ]
        );
        assert!(p.offers.is_empty() && p.requests.is_empty() && p.messages.is_empty());
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(p.encoded_len(), bytes.len());
    }

    /// shared/vectors/chat/one-to-one.json, envelope #0: alice's "1:1 hello bob" in MVDS, and
    /// its id (acknowledged by envelope #2).
    #[test]
    fn status_go_one_to_one_message_id() {
        let bytes = h(concat!(
            "e2b802a1028af7022021c3ec5cdd7c91265942b0e48aee19503b9398a6c2e82cf6968209d9e285558b90f702e9ab",
            "89d8069af702f0010a41d2b5c7d09e7145dc4033cc3e97dca13bd0e005577f359eb5e4b5e9fabb936dcd4dd2f25e",
            "038de7c29ff3064bb00fca244d31e835ea04982da56f4b1f9f173fb80012a80108baadfe88a03410baadfe88a034",
            "1a0d313a312068656c6c6f20626f6232840130783034356636343939336363623430343461303035653832626130",
            "37653738623238313561366131376161376435616436326664353964353139373738303732343833613066646432",
            "34353433613964643737333935313139386635346530376537313163356335353431353833336433373163643332",
            "653337326538623130323364380140011801",
        ));
        let p = Payload::decode(&mut &bytes[..]).unwrap();
        assert!(p.acks.is_empty() && p.offers.is_empty() && p.requests.is_empty());
        let [msg] = &p.messages[..] else { panic!("one message expected") };
        assert_eq!(msg.group_id.to_string(), GROUP);
        assert_eq!(msg.timestamp, 1_795_315_177);
        assert_eq!(msg.body.len(), 240);
        assert_eq!(msg.body[..], bytes[bytes.len() - 240..]);
        assert_eq!(msg.metadata, None);
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(p.encoded_len(), bytes.len());
        assert_eq!(
            msg.id().to_string(),
            "5d7ec85e5da115493539efb7af828cd2ab2ceec39601be177e2445f3207cec96"
        );
    }

    /// The MVDS group of alice and bob in the vectors is `ToOneToOneGroupID(alice, bob)`.
    #[test]
    fn status_go_one_to_one_group_id() {
        let alice = PublicKey::from_sec1(&h(
            "0371102fc86b5c576c72f411e083cc03eb83d1b55065406ba2a483208dbb5074ab",
        ))
        .unwrap();
        let bob = PublicKey::from_sec1(&h(
            "035f64993ccb4044a005e82ba07e78b2815a6a17aa7d5ad62fd59d519778072483",
        ))
        .unwrap();
        assert_eq!(GroupId::one_to_one(&alice, &bob).to_string(), GROUP);
        assert_eq!(GroupId::one_to_one(&bob, &alice).to_string(), GROUP);
    }

    #[test]
    fn limits_are_enforced() {
        let id = MessageId([7; 32]);
        let p = Payload { acks: vec![id; 10], offers: vec![id; 5], ..Default::default() };
        let bytes = p.to_bytes();
        let limits = Limits { max_payload_bytes: bytes.len() - 1, max_records: 100 };
        assert!(matches!(
            Payload::decode_with_limits(&mut &bytes[..], &limits),
            Err(Error::PayloadTooBig { size, max }) if size == bytes.len() && max == size - 1
        ));
        let limits = Limits { max_payload_bytes: bytes.len(), max_records: 14 };
        assert!(matches!(
            Payload::decode_with_limits(&mut &bytes[..], &limits),
            Err(Error::TooManyRecords { count: 15, max: 14 })
        ));
        let limits = Limits { max_payload_bytes: bytes.len(), max_records: 15 };
        assert_eq!(Payload::decode_with_limits(&mut &bytes[..], &limits).unwrap(), p);
    }

    #[test]
    fn short_ids_are_rejected() {
        // acks = [0x01 0x02]
        let bytes = h("cab802020102");
        assert!(matches!(
            Payload::decode(&mut &bytes[..]),
            Err(Error::InvalidMessageId { len: 2 })
        ));
        // messages = [Message { group_id: [0x01] }]
        let bytes = h("e2b802058af7020101");
        assert!(matches!(Payload::decode(&mut &bytes[..]), Err(Error::InvalidGroupId { len: 1 })));
        // truncated
        let bytes = h("cab80220");
        assert!(matches!(Payload::decode(&mut &bytes[..]), Err(Error::Decode(_))));
    }

    #[test]
    fn metadata_round_trip_and_id_ignores_it() {
        let mut m = Message::new(GroupId([1; 32]), -5, b"hi".to_vec());
        let id = m.id();
        m.metadata = Some(Metadata { parents: vec![MessageId([2; 32])], ephemeral: true });
        assert_eq!(m.id(), id);
        let mut buf = Vec::new();
        m.encode(&mut buf);
        assert_eq!(buf.len(), m.encoded_len());
        assert_eq!(Message::decode(&mut &buf[..], 1 << 20).unwrap(), m);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn id() -> impl Strategy<Value = MessageId> {
        any::<[u8; 32]>().prop_map(MessageId)
    }

    fn message() -> impl Strategy<Value = Message> {
        (
            any::<[u8; 32]>(),
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::option::of((proptest::collection::vec(id(), 0..3), any::<bool>())),
        )
            .prop_map(|(g, timestamp, body, md)| Message {
                group_id: GroupId(g),
                timestamp,
                body,
                metadata: md.map(|(parents, ephemeral)| Metadata { parents, ephemeral }),
            })
    }

    fn payload() -> impl Strategy<Value = Payload> {
        let ids = || proptest::collection::vec(id(), 0..4);
        (ids(), ids(), ids(), proptest::collection::vec(message(), 0..4)).prop_map(
            |(acks, offers, requests, messages)| Payload { acks, offers, requests, messages },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn payload_round_trip(p in payload()) {
            let bytes = p.to_bytes();
            prop_assert_eq!(bytes.len(), p.encoded_len());
            let mut buf = &bytes[..];
            let back = Payload::decode(&mut buf).unwrap();
            prop_assert!(buf.is_empty());
            prop_assert_eq!(back, p);
        }
    }
}
