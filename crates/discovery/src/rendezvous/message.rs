//! The messages of Status rendezvous `/rend/0.1.0` and their wire form.
//!
//! Wire facts (IMPLEMENTER-NOTES §2 item 7, `notes/discovery.md` §Status rendezvous; status-im/
//! rendezvous `protocol/protocol.go`): on a stream, a message is `RLP(uint type)` immediately
//! followed by `RLP(body)`, with no length prefix. Types are 1-based; bodies are RLP lists:
//!
//! | type | message | body |
//! |---|---|---|
//! | 1 | REGISTER | `[topic, ENR (its RLP list), ttl in nanoseconds]` |
//! | 2 | REGISTER_RESPONSE | `[status, message]` |
//! | 3 | DISCOVER | `[limit, topic]` |
//! | 4 | DISCOVER_RESPONSE | `[status, message, [ENR, ...]]` |
//! | 5 | REMOTEIP | `[]` |
//! | 6 | REMOTEIP_RESPONSE | `[status, ip]` |
//!
//! Decoding is strict the way go-ethereum's `rlp` decodes the Go structs: every field is
//! mandatory, no extra field is allowed, integers are canonical. Strings (topics, messages, the
//! IP) must be UTF-8 here, a restriction Go does not make. Records inside messages are kept as
//! [`RecordBytes`], checked only for being an RLP list of at most [`MAX_RECORD_SIZE`] bytes:
//! their signature is verified by whoever uses them ([`RecordBytes::verify`]), so that the server
//! can answer a bad signature with [`Status::INVALID_ENR`] rather than drop the message.
//!
//! Sizes are bounded: a whole message is at most [`MAX_MESSAGE_SIZE`] bytes, which
//! [`item_len`] enforces before anything is buffered.

use std::time::Duration;

use alloy_rlp::{Decodable, Encodable, Header};

use crate::enr::{Enr, EnrError, MAX_RECORD_SIZE};

/// The libp2p stream protocol id (status-im/rendezvous `protocol.VERSION`).
pub const PROTOCOL: &str = "/rend/0.1.0";

/// The largest encoded message (type and body) wisp reads or writes. A full discover response
/// (10 records of at most 300 bytes) is about 3.1 KiB; this leaves room for larger limits of
/// other servers without letting a peer make us buffer much.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024;

/// What is wrong with a rendezvous message. Each variant says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The message is larger than [`MAX_MESSAGE_SIZE`].
    #[error("rendezvous message of {size} bytes is larger than the {max}-byte maximum")]
    TooLarge {
        /// The size the message announces (type and body).
        size: usize,
        /// [`MAX_MESSAGE_SIZE`].
        max: usize,
    },
    /// The bytes are not RLP of the expected shape.
    #[error("rendezvous {what} is not valid RLP: {reason}")]
    Rlp {
        /// Which part of the message.
        what: &'static str,
        /// What the RLP decoder found.
        reason: &'static str,
    },
    /// The type number is not one of 1..=6.
    #[error("unknown rendezvous message type {0} (expected 1..=6)")]
    UnknownType(u64),
    /// A body list has fewer or more fields than its message has.
    #[error("rendezvous {message} body has {found} fields (expected {expected})")]
    FieldCount {
        /// The message type's name.
        message: &'static str,
        /// The number of fields found.
        found: usize,
        /// The number of fields the message has.
        expected: usize,
    },
    /// A string field is not UTF-8.
    #[error("rendezvous {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A record inside the message is not an RLP list of at most 300 bytes.
    #[error("rendezvous message carries a malformed node record: {0}")]
    Record(EnrError),
    /// Bytes follow the message.
    #[error("rendezvous message has {0} bytes after its body")]
    TrailingBytes(usize),
}

fn rlp_error(what: &'static str) -> impl Fn(alloy_rlp::Error) -> MessageError {
    move |e| MessageError::Rlp {
        what,
        reason: match e {
            alloy_rlp::Error::Overflow => "integer overflow",
            alloy_rlp::Error::LeadingZero => "integer with a leading zero",
            alloy_rlp::Error::InputTooShort => "input too short",
            alloy_rlp::Error::NonCanonicalSingleByte => "non-canonical single byte",
            alloy_rlp::Error::NonCanonicalSize => "non-canonical size",
            alloy_rlp::Error::UnexpectedLength => "unexpected length",
            alloy_rlp::Error::UnexpectedString => "string where a list is expected",
            alloy_rlp::Error::UnexpectedList => "list where a string is expected",
            _ => "malformed item",
        },
    }
}

/// A rendezvous response status (status-im/rendezvous `protocol.ResponseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u64);

impl Status {
    /// 0: the request succeeded.
    pub const OK: Self = Self(0);
    /// 100: the topic is empty, longer than 50 bytes or holds the 0xff delimiter.
    pub const INVALID_NAMESPACE: Self = Self(100);
    /// 101: the record does not verify under the "v4" scheme.
    pub const INVALID_ENR: Self = Self(101);
    /// 102: the TTL is longer than the server allows (20 s).
    pub const INVALID_TTL: Self = Self(102);
    /// 103: the limit is invalid.
    pub const INVALID_LIMIT: Self = Self(103);
    /// 104: the body could not be decoded.
    pub const INVALID_CONTENT: Self = Self(104);
    /// 200: the request is not authorized.
    pub const NOT_AUTHORIZED: Self = Self(200);
    /// 300: the server failed (wisp's server also answers this when its store is full).
    pub const INTERNAL_ERROR: Self = Self(300);

    /// The name of a known status.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::OK => "ok",
            Self::INVALID_NAMESPACE => "invalid namespace",
            Self::INVALID_ENR => "invalid ENR",
            Self::INVALID_TTL => "invalid TTL",
            Self::INVALID_LIMIT => "invalid limit",
            Self::INVALID_CONTENT => "invalid content",
            Self::NOT_AUTHORIZED => "not authorized",
            Self::INTERNAL_ERROR => "internal error",
            _ => return None,
        })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A node record as carried in a message: an RLP list of at most [`MAX_RECORD_SIZE`] bytes whose
/// signature has not been checked yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordBytes(Vec<u8>);

impl RecordBytes {
    /// Checks that `bytes` is one RLP list of at most [`MAX_RECORD_SIZE`] bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, MessageError> {
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(MessageError::Record(EnrError::TooLarge {
                size: bytes.len(),
                max: MAX_RECORD_SIZE,
            }));
        }
        let mut buf = bytes;
        let header = Header::decode(&mut buf).map_err(rlp_error("node record"))?;
        if !header.list {
            return Err(MessageError::Record(EnrError::Rlp("string where a list is expected")));
        }
        if buf.len() != header.payload_length {
            return Err(MessageError::Record(EnrError::Rlp("list length does not match")));
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The record's RLP bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Decodes the record and verifies its signature.
    pub fn verify(&self) -> Result<Enr, EnrError> {
        Enr::decode(&self.0)
    }
}

impl From<&Enr> for RecordBytes {
    fn from(enr: &Enr) -> Self {
        Self(enr.as_bytes().to_vec())
    }
}

/// REGISTER (1): keep `record` under `topic` for `ttl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// The topic (namespace), e.g. `whisper`.
    pub topic: String,
    /// The record to register.
    pub record: RecordBytes,
    /// How long the record lives, in nanoseconds (a Go `time.Duration`).
    pub ttl_nanos: u64,
}

impl Register {
    /// A registration of `enr` under `topic` for `ttl` (saturating at `u64::MAX` ns).
    pub fn new(topic: impl Into<String>, enr: &Enr, ttl: Duration) -> Self {
        Self {
            topic: topic.into(),
            record: enr.into(),
            ttl_nanos: u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The TTL as a duration.
    pub fn ttl(&self) -> Duration {
        Duration::from_nanos(self.ttl_nanos)
    }
}

/// REGISTER_RESPONSE (2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterResponse {
    /// The outcome.
    pub status: Status,
    /// A human-readable explanation (the Go server leaves it empty).
    pub message: String,
}

/// DISCOVER (3): up to `limit` records registered under `topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discover {
    /// The most records wanted (the Go server caps it at 10).
    pub limit: u64,
    /// The topic.
    pub topic: String,
}

/// DISCOVER_RESPONSE (4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverResponse {
    /// The outcome.
    pub status: Status,
    /// A human-readable explanation (the Go server leaves it empty).
    pub message: String,
    /// The records found, in random order, not yet verified.
    pub records: Vec<RecordBytes>,
}

/// REMOTEIP_RESPONSE (6): the address the server sees the asker at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteIpResponse {
    /// The outcome.
    pub status: Status,
    /// The IPv4 address in dotted form.
    pub ip: String,
}

/// One rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Type 1.
    Register(Register),
    /// Type 2.
    RegisterResponse(RegisterResponse),
    /// Type 3.
    Discover(Discover),
    /// Type 4.
    DiscoverResponse(DiscoverResponse),
    /// Type 5 (rendezvous v1.3.3 and later); its body is the empty list.
    RemoteIp,
    /// Type 6 (rendezvous v1.3.3 and later).
    RemoteIpResponse(RemoteIpResponse),
}

/// The type numbers.
pub mod kind {
    /// REGISTER.
    pub const REGISTER: u64 = 1;
    /// REGISTER_RESPONSE.
    pub const REGISTER_RESPONSE: u64 = 2;
    /// DISCOVER.
    pub const DISCOVER: u64 = 3;
    /// DISCOVER_RESPONSE.
    pub const DISCOVER_RESPONSE: u64 = 4;
    /// REMOTEIP.
    pub const REMOTEIP: u64 = 5;
    /// REMOTEIP_RESPONSE.
    pub const REMOTEIP_RESPONSE: u64 = 6;
}

fn string_len(s: &[u8]) -> usize {
    s.length()
}

fn list_len(payload: usize) -> usize {
    Header { list: true, payload_length: payload }.length() + payload
}

impl Message {
    /// The type number.
    pub fn kind(&self) -> u64 {
        match self {
            Self::Register(_) => kind::REGISTER,
            Self::RegisterResponse(_) => kind::REGISTER_RESPONSE,
            Self::Discover(_) => kind::DISCOVER,
            Self::DiscoverResponse(_) => kind::DISCOVER_RESPONSE,
            Self::RemoteIp => kind::REMOTEIP,
            Self::RemoteIpResponse(_) => kind::REMOTEIP_RESPONSE,
        }
    }

    /// Whether this is a request (an odd type), which a server answers.
    pub fn is_request(&self) -> bool {
        self.kind() % 2 == 1
    }

    fn body_payload_len(&self) -> usize {
        match self {
            Self::Register(m) => {
                string_len(m.topic.as_bytes()) + m.record.0.len() + m.ttl_nanos.length()
            }
            Self::RegisterResponse(m) => m.status.0.length() + string_len(m.message.as_bytes()),
            Self::Discover(m) => m.limit.length() + string_len(m.topic.as_bytes()),
            Self::DiscoverResponse(m) => {
                let records: usize = m.records.iter().map(|r| r.0.len()).sum();
                m.status.0.length() + string_len(m.message.as_bytes()) + list_len(records)
            }
            Self::RemoteIp => 0,
            Self::RemoteIpResponse(m) => m.status.0.length() + string_len(m.ip.as_bytes()),
        }
    }

    /// The encoded length (type and body).
    pub fn encoded_len(&self) -> usize {
        self.kind().length() + list_len(self.body_payload_len())
    }

    /// Appends the type and the body.
    pub fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        self.kind().encode(out);
        Header { list: true, payload_length: self.body_payload_len() }.encode(out);
        match self {
            Self::Register(m) => {
                m.topic.as_bytes().encode(out);
                out.put_slice(&m.record.0);
                m.ttl_nanos.encode(out);
            }
            Self::RegisterResponse(m) => {
                m.status.0.encode(out);
                m.message.as_bytes().encode(out);
            }
            Self::Discover(m) => {
                m.limit.encode(out);
                m.topic.as_bytes().encode(out);
            }
            Self::DiscoverResponse(m) => {
                m.status.0.encode(out);
                m.message.as_bytes().encode(out);
                let records: usize = m.records.iter().map(|r| r.0.len()).sum();
                Header { list: true, payload_length: records }.encode(out);
                for record in &m.records {
                    out.put_slice(&record.0);
                }
            }
            Self::RemoteIp => {}
            Self::RemoteIpResponse(m) => {
                m.status.0.encode(out);
                m.ip.as_bytes().encode(out);
            }
        }
    }

    /// The encoding as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes one message (type and body) from the front of `buf`, advancing it.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, MessageError> {
        let type_len = item_len(buf)?
            .ok_or(MessageError::Rlp { what: "message type", reason: "input too short" })?;
        let body_start = buf.get(type_len..).unwrap_or_default();
        let body_len = item_len(body_start)?
            .ok_or(MessageError::Rlp { what: "message body", reason: "input too short" })?;
        if type_len + body_len > MAX_MESSAGE_SIZE {
            return Err(MessageError::TooLarge {
                size: type_len + body_len,
                max: MAX_MESSAGE_SIZE,
            });
        }
        let (type_item, rest) = buf
            .split_at_checked(type_len)
            .ok_or(MessageError::Rlp { what: "message type", reason: "input too short" })?;
        let (body_item, rest) = rest
            .split_at_checked(body_len)
            .ok_or(MessageError::Rlp { what: "message body", reason: "input too short" })?;
        let message = Self::decode_parts(type_item, body_item)?;
        *buf = rest;
        Ok(message)
    }

    /// Decodes a message from exactly its type item and its body item (as split by
    /// [`item_len`]).
    pub fn decode_parts(type_item: &[u8], body_item: &[u8]) -> Result<Self, MessageError> {
        let kind = decode_exact::<u64>(type_item, "message type")?;
        let name = match kind {
            kind::REGISTER => "register",
            kind::REGISTER_RESPONSE => "register response",
            kind::DISCOVER => "discover",
            kind::DISCOVER_RESPONSE => "discover response",
            kind::REMOTEIP => "remote IP request",
            kind::REMOTEIP_RESPONSE => "remote IP response",
            other => return Err(MessageError::UnknownType(other)),
        };
        let mut body = list_payload(body_item, name)?;
        let mut fields = Fields { body: &mut body, message: name, index: 0 };
        let message = match kind {
            kind::REGISTER => {
                let topic = fields.string("topic", 3)?;
                let record = RecordBytes::new(fields.raw(3)?)?;
                let ttl_nanos = fields.uint(3)?;
                Self::Register(Register { topic, record, ttl_nanos })
            }
            kind::REGISTER_RESPONSE => {
                let status = Status(fields.uint(2)?);
                let message = fields.string("response message", 2)?;
                Self::RegisterResponse(RegisterResponse { status, message })
            }
            kind::DISCOVER => {
                let limit = fields.uint(2)?;
                let topic = fields.string("topic", 2)?;
                Self::Discover(Discover { limit, topic })
            }
            kind::DISCOVER_RESPONSE => {
                let status = Status(fields.uint(3)?);
                let message = fields.string("response message", 3)?;
                let mut list = list_payload(fields.raw(3)?, "record list")?;
                let mut records = Vec::new();
                while !list.is_empty() {
                    let len = item_len(list)?.ok_or(MessageError::Rlp {
                        what: "record list",
                        reason: "input too short",
                    })?;
                    let (record, rest) = list.split_at_checked(len).ok_or(MessageError::Rlp {
                        what: "record list",
                        reason: "input too short",
                    })?;
                    records.push(RecordBytes::new(record)?);
                    list = rest;
                }
                Self::DiscoverResponse(DiscoverResponse { status, message, records })
            }
            kind::REMOTEIP => Self::RemoteIp,
            _ => {
                let status = Status(fields.uint(2)?);
                let ip = fields.string("IP address", 2)?;
                Self::RemoteIpResponse(RemoteIpResponse { status, ip })
            }
        };
        fields.finish()?;
        Ok(message)
    }
}

/// Walks a body's fields, counting them for the error messages.
struct Fields<'a, 'b> {
    body: &'a mut &'b [u8],
    message: &'static str,
    index: usize,
}

impl<'b> Fields<'_, 'b> {
    fn expect(&mut self, expected: usize) -> Result<(), MessageError> {
        if self.body.is_empty() {
            return Err(MessageError::FieldCount {
                message: self.message,
                found: self.index,
                expected,
            });
        }
        self.index += 1;
        Ok(())
    }

    fn raw(&mut self, expected: usize) -> Result<&'b [u8], MessageError> {
        self.expect(expected)?;
        let len = item_len(self.body)?
            .ok_or(MessageError::Rlp { what: self.message, reason: "input too short" })?;
        let (item, rest) = self
            .body
            .split_at_checked(len)
            .ok_or(MessageError::Rlp { what: self.message, reason: "input too short" })?;
        *self.body = rest;
        Ok(item)
    }

    fn uint(&mut self, expected: usize) -> Result<u64, MessageError> {
        self.expect(expected)?;
        u64::decode(self.body).map_err(rlp_error(self.message))
    }

    fn string(&mut self, what: &'static str, expected: usize) -> Result<String, MessageError> {
        self.expect(expected)?;
        let header = Header::decode(self.body).map_err(rlp_error(what))?;
        if header.list {
            return Err(MessageError::Rlp { what, reason: "list where a string is expected" });
        }
        let (bytes, rest) = self
            .body
            .split_at_checked(header.payload_length)
            .ok_or(MessageError::Rlp { what, reason: "input too short" })?;
        *self.body = rest;
        String::from_utf8(bytes.to_vec()).map_err(|_| MessageError::NotUtf8(what))
    }

    fn finish(self) -> Result<(), MessageError> {
        if self.body.is_empty() {
            return Ok(());
        }
        let mut extra = 0;
        let mut rest: &[u8] = self.body;
        while let Ok(Some(len)) = item_len(rest) {
            extra += 1;
            rest = rest.get(len..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
        }
        Err(MessageError::FieldCount {
            message: self.message,
            found: self.index + extra.max(1),
            expected: self.index,
        })
    }
}

fn decode_exact<T: Decodable>(item: &[u8], what: &'static str) -> Result<T, MessageError> {
    let mut buf = item;
    let value = T::decode(&mut buf).map_err(rlp_error(what))?;
    if !buf.is_empty() {
        return Err(MessageError::TrailingBytes(buf.len()));
    }
    Ok(value)
}

fn list_payload<'a>(item: &'a [u8], what: &'static str) -> Result<&'a [u8], MessageError> {
    let mut buf = item;
    let header = Header::decode(&mut buf).map_err(rlp_error(what))?;
    if !header.list {
        return Err(MessageError::Rlp { what, reason: "string where a list is expected" });
    }
    if buf.len() != header.payload_length {
        return Err(MessageError::Rlp { what, reason: "list length does not match" });
    }
    Ok(buf)
}

/// The full length (header and payload) of the RLP item at the front of `buf`, or `None` when
/// `buf` is too short to tell. Errors when the item is larger than [`MAX_MESSAGE_SIZE`] or its
/// header is not canonical, so a stream reader can refuse it before buffering it.
pub fn item_len(buf: &[u8]) -> Result<Option<usize>, MessageError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let (header_len, payload_len) = match first {
        0x00..=0x7f => return Ok(Some(1)),
        0x80..=0xb7 => (1, usize::from(first - 0x80)),
        0xc0..=0xf7 => (1, usize::from(first - 0xc0)),
        0xb8..=0xbf | 0xf8..=0xff => {
            let len_of_len = usize::from(if first >= 0xf8 { first - 0xf7 } else { first - 0xb7 });
            let Some(len_bytes) = buf.get(1..1 + len_of_len) else { return Ok(None) };
            if len_bytes.first() == Some(&0) {
                return Err(MessageError::Rlp {
                    what: "item header",
                    reason: "non-canonical size",
                });
            }
            let mut payload_len: u64 = 0;
            for &b in len_bytes {
                payload_len = (payload_len << 8) | u64::from(b);
            }
            if payload_len < 56 {
                return Err(MessageError::Rlp {
                    what: "item header",
                    reason: "non-canonical size",
                });
            }
            let payload_len = usize::try_from(payload_len).unwrap_or(usize::MAX);
            (1 + len_of_len, payload_len)
        }
    };
    let total = header_len.saturating_add(payload_len);
    if total > MAX_MESSAGE_SIZE {
        return Err(MessageError::TooLarge { size: total, max: MAX_MESSAGE_SIZE });
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// statusd's rendezvous record (node key 0x11 x 32, RLPx port 30305), notes/discovery.md.
    const STATUSD_ENR: &str = "f889b84026ae89be5078f2141786291175f09eafde84dc07c6faeba04c7050f0390bb0e361d2b1d6616bd7cb3ebc1891f72b4cf5aac02d819fc3122d9f300d666faa12ee80826964827634826970847f00000189736563703235366b31a1034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa837463708276618375647080";

    fn statusd_enr() -> Enr {
        Enr::decode(&hex::decode(STATUSD_ENR).unwrap()).unwrap()
    }

    fn round_trip(bytes: &[u8]) -> Message {
        let mut buf = bytes;
        let message = Message::decode(&mut buf).unwrap();
        assert!(buf.is_empty());
        assert_eq!(message.to_bytes(), bytes);
        assert_eq!(message.encoded_len(), bytes.len());
        message
    }

    #[test]
    fn notes_register_response_bytes() {
        let message = round_trip(&hex::decode("02c28080").unwrap());
        assert_eq!(
            message,
            Message::RegisterResponse(RegisterResponse {
                status: Status::OK,
                message: String::new()
            })
        );
    }

    #[test]
    fn notes_discover_request_bytes() {
        let message = round_trip(&hex::decode("03c90a8777686973706572").unwrap());
        assert_eq!(message, Message::Discover(Discover { limit: 10, topic: "whisper".into() }));
    }

    #[test]
    fn notes_statusd_register_bytes() {
        // statusd registers its record under `whisper` with a 10 s TTL, `85 02540be400`.
        let enr = statusd_enr();
        let register = Register::new("whisper", &enr, Duration::from_secs(10));
        let expected = format!("01f8998777686973706572{STATUSD_ENR}8502540be400");
        let bytes = Message::Register(register.clone()).to_bytes();
        assert_eq!(hex::encode(&bytes), expected);
        let decoded = round_trip(&bytes);
        let Message::Register(decoded) = decoded else { panic!("not a register") };
        assert_eq!(decoded, register);
        assert_eq!(decoded.ttl(), Duration::from_secs(10));
        assert_eq!(decoded.record.verify().unwrap(), enr);
    }

    #[test]
    fn discover_response_with_records() {
        let enr = statusd_enr();
        let message = Message::DiscoverResponse(DiscoverResponse {
            status: Status::OK,
            message: String::new(),
            records: vec![(&enr).into(), (&enr).into()],
        });
        let bytes = message.to_bytes();
        // 04, then [0, "", [enr, enr]]: 2 * 139 = 278 bytes of records.
        assert_eq!(hex::encode(&bytes[..10]), "04f9011b8080f90116f8");
        assert_eq!(round_trip(&bytes), message);
        let empty = hex::decode("04c38080c0").unwrap();
        assert_eq!(
            round_trip(&empty),
            Message::DiscoverResponse(DiscoverResponse {
                status: Status::OK,
                message: String::new(),
                records: vec![]
            })
        );
    }

    #[test]
    fn status_codes_and_remote_ip() {
        let bytes = hex::decode("02c56883666f6f").unwrap();
        assert_eq!(
            round_trip(&bytes),
            Message::RegisterResponse(RegisterResponse {
                status: Status::INVALID_CONTENT,
                message: "foo".into()
            })
        );
        assert_eq!(round_trip(&[0x05, 0xc0]), Message::RemoteIp);
        let ip = round_trip(&hex::decode("06cb80893132372e302e302e31").unwrap());
        assert_eq!(
            ip,
            Message::RemoteIpResponse(RemoteIpResponse {
                status: Status::OK,
                ip: "127.0.0.1".into()
            })
        );
        assert_eq!(Status(300).to_string(), "300 (internal error)");
        assert_eq!(Status(7).to_string(), "7");
    }

    #[test]
    fn rejects_malformed() {
        let decode = |hex_str: &str| Message::decode(&mut hex::decode(hex_str).unwrap().as_slice());
        assert_eq!(decode("80c0"), Err(MessageError::UnknownType(0)));
        assert!(matches!(decode("00c0"), Err(MessageError::Rlp { .. })));
        assert_eq!(decode("07c0"), Err(MessageError::UnknownType(7)));
        // A discover without its topic, and one with a field too many.
        assert!(matches!(
            decode("03c10a"),
            Err(MessageError::FieldCount { found: 1, expected: 2, .. })
        ));
        assert!(matches!(decode("03c30a7780"), Err(MessageError::FieldCount { expected: 2, .. })));
        // Body not a list; non-canonical integer; truncated.
        assert!(matches!(decode("0380"), Err(MessageError::Rlp { .. })));
        assert!(matches!(decode("03c482000a80"), Err(MessageError::Rlp { .. })));
        assert!(matches!(decode("03c90a87776869737065"), Err(MessageError::Rlp { .. })));
        // A register whose record is a string, not a list.
        assert!(matches!(decode("01c57782aaaa0a"), Err(MessageError::Record(_))));
        // Non-UTF-8 topic.
        assert_eq!(decode("03c30a81ff"), Err(MessageError::NotUtf8("topic")));
        // Announced sizes beyond the maximum are refused before any payload is read.
        assert!(matches!(item_len(&[0xfa, 0x01, 0x00, 0x00]), Err(MessageError::TooLarge { .. })));
        assert_eq!(item_len(&[0xf9, 0x01]), Ok(None));
        assert!(matches!(item_len(&[0xb8, 0x10]), Err(MessageError::Rlp { .. })));
        assert!(matches!(item_len(&[0xb9, 0x00, 0x40]), Err(MessageError::Rlp { .. })));
    }

    #[test]
    fn record_bytes_checks_shape_only() {
        let mut bytes = hex::decode(STATUSD_ENR).unwrap();
        // Flip a signature byte: still a well-formed list, but it no longer verifies.
        bytes[5] ^= 1;
        let record = RecordBytes::new(&bytes).unwrap();
        assert_eq!(record.verify(), Err(EnrError::BadSignature));
        assert!(RecordBytes::new(&[0xc1]).is_err());
        assert!(RecordBytes::new(&vec![0xc0; 301]).is_err());
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::*;

        fn record() -> impl Strategy<Value = RecordBytes> {
            proptest::collection::vec(any::<u8>(), 0..200).prop_map(|payload| {
                let mut out = Vec::new();
                Header { list: true, payload_length: payload.len() + 2 }.encode(&mut out);
                out.push(0x81);
                out.push(0xaa);
                out.extend(payload.iter().map(|b| b & 0x7f));
                RecordBytes::new(&out).unwrap()
            })
        }

        fn message() -> impl Strategy<Value = Message> {
            prop_oneof![
                (".{0,60}", record(), any::<u64>()).prop_map(|(topic, record, ttl_nanos)| {
                    Message::Register(Register { topic, record, ttl_nanos })
                }),
                (any::<u64>(), ".{0,40}").prop_map(|(s, message)| {
                    Message::RegisterResponse(RegisterResponse { status: Status(s), message })
                }),
                (any::<u64>(), ".{0,60}")
                    .prop_map(|(limit, topic)| Message::Discover(Discover { limit, topic })),
                (any::<u64>(), ".{0,40}", proptest::collection::vec(record(), 0..12)).prop_map(
                    |(s, message, records)| {
                        Message::DiscoverResponse(DiscoverResponse {
                            status: Status(s),
                            message,
                            records,
                        })
                    }
                ),
                Just(Message::RemoteIp),
                (any::<u64>(), ".{0,40}").prop_map(|(s, ip)| {
                    Message::RemoteIpResponse(RemoteIpResponse { status: Status(s), ip })
                }),
            ]
        }

        proptest! {
            #[test]
            fn round_trip(message in message()) {
                let bytes = message.to_bytes();
                prop_assert_eq!(bytes.len(), message.encoded_len());
                let mut buf = bytes.as_slice();
                prop_assert_eq!(Message::decode(&mut buf).unwrap(), message);
                prop_assert!(buf.is_empty());
            }
        }
    }
}
