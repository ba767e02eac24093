//! The history request a client sends in a P2P Request packet (126), and how it is sealed into
//! and opened from its envelope.
//!
//! # Wire forms
//!
//! 8/WAKU-MAIL §Requesting Historic Envelopes writes the envelope payload
//! `[Lower, Upper, Bloom, Limit, Cursor(, Topics)]` (DECISIONS 10). status-go, the reference
//! implementation, encodes and decodes a Go struct instead (`mailserver.MessagesRequestPayload`,
//! identical in v0.78.0 and v0.79.11), so the order and the item count differ:
//!
//! | form | payload |
//! |---|---|
//! | [`PayloadForm::StatusGo`] | `[Lower, Upper, Bloom, Topics, Limit, Cursor, Batch]` |
//! | [`PayloadForm::Spec`] | `[Lower, Upper, Bloom, Limit, Cursor(, Topics)]` (and status-go before 2020: `[Lower, Upper, Bloom, Limit, Cursor, Batch]`) |
//!
//! status-go's mailserver decodes the payload with `rlp.DecodeBytes` into that struct, which
//! refuses any other item count, so the spec form is refused by every status-go mailserver:
//! we therefore **send** the status-go form and **accept** both (the fourth item tells them
//! apart: a list in status-go's form, an integer in the spec's). Following DECISIONS'
//! preamble, compatibility with what status-go puts on the wire wins over spec prose.
//!
//! status-go v0.79.11's messenger does not use an envelope at all: it sends its
//! `waku/common.MessagesRequest` unencrypted as the P2P Request payload,
//! `[ID, From, To, Limit, Cursor, Bloom, Topics]`, and its mailserver tries the envelope first
//! and this form second (`waku/v1/peer.go` `handleP2PRequestCode`). [`P2PRequest`] decodes
//! both; they differ in their item count (5 for an envelope, 7 for the direct request).
//!
//! Integers are RLP integers as status-go writes them (big-endian, no leading zeros). The
//! ABNF's `4OCTET` suggests fixed-width fields, so up to four bytes with leading zeros are
//! accepted as well; anything longer is an error.
//!
//! # Request id
//!
//! The id that the completion (125) echoes is keccak256 of the request envelope's RLP, i.e.
//! [`Envelope::hash`] (8/WAKU-MAIL: "a Keccak-256 hash of the envelope containing the
//! original request"; status-go `request.Hash()`), and for a direct request its `ID` field
//! (status-go `types.BytesToHash(req.ID)`: left-padded to 32 bytes).

use alloy_rlp::{BufMut, Encodable, Header};
use wisp_crypto::{PublicKey, SecretKey};
use wisp_waku::{
    BLOOM_LEN, Bloom, Encryption, Envelope, EnvelopeError, MessageParams, OpeningKey, PayloadError,
    SealBudget, TOPIC_LEN, Topic, open_payload, seal_payload,
};

/// Most topics in a request (8/WAKU-MAIL: `topics = "[" *1000topic "]"`).
pub const MAX_REQUEST_TOPICS: usize = 1000;
/// Longest cursor accepted in a request. Cursors are opaque (DECISIONS 10); ours are 36 bytes
/// (status-go's `CursorLength`) and the archive key is 40, so this only bounds the input.
pub const MAX_CURSOR_LEN: usize = 64;
/// Bytes in a request id (8/WAKU-MAIL: `request-id = 32OCTET`).
pub const REQUEST_ID_LEN: usize = 32;
/// Largest P2P Request payload decoded. A request with 1000 topics, sealed and padded, is
/// about 6 KiB; this bounds the work spent on anything larger.
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;
/// The mailserver password whose key encrypts requests by default (DECISIONS 9; status-go
/// `MailServerPassword`).
pub const DEFAULT_MAILSERVER_PASSWORD: &str = "status-offline-inbox";
/// TTL of a request envelope (status-go `waku.DefaultTTL`, which `makeEnvelop` leaves in
/// place).
pub const DEFAULT_REQUEST_TTL: u32 = 50;
/// PoW a request envelope is sealed to: the Status target for small payloads (DECISIONS 4).
/// status-go seals to its own minimum (0.000002), which any target at or above satisfies.
pub const DEFAULT_REQUEST_POW: f64 = 0.002;
/// Topic of a request envelope (status-go leaves `MessageParams.Topic` zero).
pub const REQUEST_TOPIC: Topic = Topic([0; TOPIC_LEN]);
/// Most nonces tried when sealing a request. At [`DEFAULT_REQUEST_POW`] about 64 are needed.
pub const SEAL_MAX_ATTEMPTS: u64 = 1 << 22;

#[cfg(test)]
use proptest as _;

/// Items in an envelope (`[Expiry, TTL, Topic, Data, Nonce]`).
const ENVELOPE_ITEMS: usize = 5;
/// Items in status-go's direct request (`[ID, From, To, Limit, Cursor, Bloom, Topics]`).
const DIRECT_ITEMS: usize = 7;

/// Why a request could not be decoded, opened or built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The RLP is malformed or not of the expected shape.
    #[error("malformed request: {0}")]
    Rlp(#[from] alloy_rlp::Error),
    /// The payload is larger than [`MAX_REQUEST_SIZE`].
    #[error("request of {size} bytes exceeds the maximum of {max}")]
    TooBig {
        /// The payload size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A required item is missing.
    #[error("request lacks its {field}")]
    Missing {
        /// The field, e.g. `limit`.
        field: &'static str,
    },
    /// Items follow the last one the form may hold.
    #[error("{count} unexpected trailing items in the request")]
    TrailingItems {
        /// How many.
        count: usize,
    },
    /// The P2P Request payload is a list of neither 5 items (an envelope) nor 7 (a direct
    /// request).
    #[error("P2P Request of {count} items is neither an envelope nor a direct request")]
    UnknownForm {
        /// Items in the payload.
        count: usize,
    },
    /// An integer field is longer than 4 bytes.
    #[error("{field} of {len} bytes does not fit 32 bits")]
    IntegerTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The bloom is neither 64 bytes nor empty.
    #[error("bloom filter of {len} bytes, expected {BLOOM_LEN}")]
    BloomLength {
        /// The length received.
        len: usize,
    },
    /// A topic is not 4 bytes.
    #[error("topic of {len} bytes, expected {TOPIC_LEN}")]
    TopicLength {
        /// The length received.
        len: usize,
    },
    /// More topics than [`MAX_REQUEST_TOPICS`] (counted before they are decoded).
    #[error("request with more than {max} topics")]
    TooManyTopics {
        /// The limit.
        max: usize,
    },
    /// A cursor longer than [`MAX_CURSOR_LEN`].
    #[error("cursor of {len} bytes exceeds the maximum of {max}")]
    CursorTooLong {
        /// The length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A direct request's id is longer than 32 bytes.
    #[error("request id of {len} bytes, at most {REQUEST_ID_LEN}")]
    IdTooLong {
        /// The length received.
        len: usize,
    },
    /// The `Batch` flag is not an RLP boolean (`0x80` or `0x01`).
    #[error("invalid Batch flag")]
    BadBatchFlag,
    /// The request envelope is malformed.
    #[error("invalid request envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// None of the keys opens the envelope.
    #[error("failed to decrypt p2p request")]
    Undecryptable,
    /// The payload could not be sealed.
    #[error("cannot seal request: {0}")]
    Seal(#[from] PayloadError),
    /// Sealing did not reach the PoW target within [`SEAL_MAX_ATTEMPTS`].
    #[error("request PoW {pow} below the target {target}")]
    PowNotReached {
        /// The PoW reached.
        pow: f64,
        /// The target.
        target: f64,
    },
}

/// How a [`MessagesRequest`] is laid out inside a request envelope (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PayloadForm {
    /// `[Lower, Upper, Bloom, Topics, Limit, Cursor, Batch]`: what status-go sends and the only
    /// form status-go mailservers accept. The default.
    #[default]
    StatusGo,
    /// `[Lower, Upper, Bloom, Limit, Cursor(, Topics)]`: the 8/WAKU-MAIL ABNF. Topics are
    /// written only when there are some.
    Spec,
}

/// What a client asks a mailserver for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagesRequest {
    /// Oldest sent time wanted, Unix seconds, inclusive.
    pub lower: u32,
    /// Newest sent time wanted, inclusive; 0 asks the mailserver for "now" (status-go
    /// `SetDefaults`).
    pub upper: u32,
    /// Used when `topics` is empty: envelopes whose topic matches it. An empty bloom on the
    /// wire reads as [`Bloom::EMPTY`].
    pub bloom: Bloom,
    /// Most envelopes in the reply; 0 means the mailserver's default.
    pub limit: u32,
    /// Where to resume: the cursor of the previous completion; empty for the first page.
    /// Absent and empty are the same on the wire.
    pub cursor: Vec<u8>,
    /// Only these topics, if any; then `bloom` is ignored (8/WAKU-MAIL). Absent and empty are
    /// the same on the wire.
    pub topics: Vec<Topic>,
}

impl MessagesRequest {
    fn topics_payload_len(&self) -> usize {
        self.topics.iter().map(Encodable::length).sum()
    }

    fn topics_len(&self) -> usize {
        list_len(self.topics_payload_len())
    }

    fn payload_len(&self, form: PayloadForm) -> usize {
        let common = self.lower.length()
            + self.upper.length()
            + self.bloom.length()
            + self.limit.length()
            + self.cursor[..].length();
        match form {
            PayloadForm::StatusGo => common + self.topics_len() + true.length(),
            PayloadForm::Spec if self.topics.is_empty() => common,
            PayloadForm::Spec => common + self.topics_len(),
        }
    }

    fn encode_topics(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.topics_payload_len() }.encode(out);
        for t in &self.topics {
            t.encode(out);
        }
    }

    /// Encodes the payload in `form`. The bloom is always written as 64 bytes.
    pub fn encode(&self, form: PayloadForm, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len(form) }.encode(out);
        self.lower.encode(out);
        self.upper.encode(out);
        self.bloom.encode(out);
        match form {
            PayloadForm::StatusGo => {
                self.encode_topics(out);
                self.limit.encode(out);
                self.cursor[..].encode(out);
                // status-go `MakeMessagesRequestPayload`: "Client must tell the MailServer
                // if it supports batch responses."
                true.encode(out);
            }
            PayloadForm::Spec => {
                self.limit.encode(out);
                self.cursor[..].encode(out);
                if !self.topics.is_empty() {
                    self.encode_topics(out);
                }
            }
        }
    }

    /// The length [`encode`](Self::encode) writes.
    pub fn encoded_len(&self, form: PayloadForm) -> usize {
        list_len(self.payload_len(form))
    }

    /// The payload in `form`.
    pub fn to_rlp(&self, form: PayloadForm) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len(form));
        self.encode(form, &mut out);
        out
    }

    /// Decodes a payload in either form.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, RequestError> {
        Self::decode_with_form(buf).map(|(r, _)| r)
    }

    /// Decodes a payload in either form and says which it was.
    pub fn decode_with_form(buf: &mut &[u8]) -> Result<(Self, PayloadForm), RequestError> {
        let mut p = decode_list(buf)?;
        let lower = decode_u32(&mut p, "lower")?;
        let upper = decode_u32(&mut p, "upper")?;
        let bloom = decode_bloom(&mut p)?;
        let (form, topics, limit, cursor);
        if next_is_list(p, "topics or limit")? {
            form = PayloadForm::StatusGo;
            topics = decode_topics(&mut p)?;
            limit = decode_u32(&mut p, "limit")?;
            cursor = decode_cursor(&mut p)?;
            // Go's decoder requires the flag; it carries nothing for us, so its absence is
            // tolerated.
            if !p.is_empty() {
                decode_batch(&mut p)?;
            }
        } else {
            form = PayloadForm::Spec;
            limit = decode_u32(&mut p, "limit")?;
            cursor = if p.is_empty() { Vec::new() } else { decode_cursor(&mut p)? };
            topics = if p.is_empty() {
                Vec::new()
            } else if next_is_list(p, "topics")? {
                decode_topics(&mut p)?
            } else {
                // status-go before topics (2018-2020): `[..., Cursor, Batch]`.
                decode_batch(&mut p)?;
                Vec::new()
            };
        }
        reject_trailing(p)?;
        Ok((Self { lower, upper, bloom, limit, cursor, topics }, form))
    }
}

/// status-go's direct request (`waku/common.MessagesRequest`), sent unencrypted as the whole
/// P2P Request payload: `[ID, From, To, Limit, Cursor, Bloom, Topics]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectRequest {
    /// The request id the completion echoes. status-go fills it with the 32 ASCII hex digits
    /// of a UUID; a shorter id is left-padded with zeros, as status-go's mailserver reads it.
    pub id: [u8; REQUEST_ID_LEN],
    /// The request.
    pub request: MessagesRequest,
}

impl DirectRequest {
    fn bloom_bytes(&self) -> &[u8] {
        // status-go's messenger leaves the bloom empty when it sends topics.
        if self.request.bloom.is_empty() { &[] } else { &self.request.bloom.0 }
    }

    fn payload_len(&self) -> usize {
        let r = &self.request;
        self.id.length()
            + r.lower.length()
            + r.upper.length()
            + r.limit.length()
            + r.cursor[..].length()
            + self.bloom_bytes().length()
            + r.topics_len()
    }

    /// Encodes `[ID, From, To, Limit, Cursor, Bloom, Topics]`; an empty bloom is written as
    /// an empty string.
    pub fn encode(&self, out: &mut dyn BufMut) {
        let r = &self.request;
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.id.encode(out);
        r.lower.encode(out);
        r.upper.encode(out);
        r.limit.encode(out);
        r.cursor[..].encode(out);
        self.bloom_bytes().encode(out);
        r.encode_topics(out);
    }

    /// The length [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        list_len(self.payload_len())
    }

    /// Decodes a direct request.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, RequestError> {
        let mut p = decode_list(buf)?;
        let id_bytes = decode_string(&mut p, "id")?;
        if id_bytes.len() > REQUEST_ID_LEN {
            return Err(RequestError::IdTooLong { len: id_bytes.len() });
        }
        let mut id = [0u8; REQUEST_ID_LEN];
        id[REQUEST_ID_LEN - id_bytes.len()..].copy_from_slice(id_bytes);
        let lower = decode_u32(&mut p, "from")?;
        let upper = decode_u32(&mut p, "to")?;
        let limit = decode_u32(&mut p, "limit")?;
        let cursor = decode_cursor(&mut p)?;
        let bloom = decode_bloom(&mut p)?;
        let topics = decode_topics(&mut p)?;
        reject_trailing(p)?;
        Ok(Self { id, request: MessagesRequest { lower, upper, bloom, limit, cursor, topics } })
    }
}

/// The payload of a P2P Request packet (126).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum P2PRequest {
    /// 8/WAKU-MAIL: an envelope whose data holds an encrypted [`MessagesRequest`].
    Envelope(Envelope),
    /// status-go v0.79.11's messenger: a [`DirectRequest`], unencrypted.
    Direct(DirectRequest),
}

impl P2PRequest {
    /// The id the completion must carry: the envelope's hash, or the direct request's id.
    pub fn id(&self) -> [u8; REQUEST_ID_LEN] {
        match self {
            Self::Envelope(e) => e.hash(),
            Self::Direct(d) => d.id,
        }
    }

    /// Appends the payload.
    pub fn encode(&self, out: &mut dyn BufMut) {
        match self {
            Self::Envelope(e) => e.encode(out),
            Self::Direct(d) => d.encode(out),
        }
    }

    /// The length [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Envelope(e) => e.encoded_len(),
            Self::Direct(d) => d.encoded_len(),
        }
    }

    /// The payload of the P2P Request packet.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Decodes a whole P2P Request payload: an envelope (5 items) or a direct request
    /// (7 items). Nothing may follow it.
    pub fn decode(payload: &[u8]) -> Result<Self, RequestError> {
        if payload.len() > MAX_REQUEST_SIZE {
            return Err(RequestError::TooBig { size: payload.len(), max: MAX_REQUEST_SIZE });
        }
        let mut buf = payload;
        let items = Header::decode_bytes(&mut buf, true)?;
        reject_trailing_bytes(buf)?;
        let count = count_items(items, DIRECT_ITEMS + 1)?;
        let mut buf = payload;
        let request = match count {
            ENVELOPE_ITEMS => {
                Self::Envelope(Envelope::decode_with_limit(&mut buf, MAX_REQUEST_SIZE)?)
            }
            DIRECT_ITEMS => Self::Direct(DirectRequest::decode(&mut buf)?),
            count => return Err(RequestError::UnknownForm { count }),
        };
        reject_trailing_bytes(buf)?;
        Ok(request)
    }
}

/// A request opened by a mailserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedRequest {
    /// The id its completion must carry.
    pub id: [u8; REQUEST_ID_LEN],
    /// What it asks for.
    pub request: MessagesRequest,
    /// The payload form; `None` for a direct request.
    pub form: Option<PayloadForm>,
    /// Who signed the envelope's payload; `None` if unsigned or direct.
    pub signer: Option<PublicKey>,
}

impl OpenedRequest {
    /// A direct request needs no opening.
    pub fn from_direct(direct: &DirectRequest) -> Self {
        Self { id: direct.id, request: direct.request.clone(), form: None, signer: None }
    }
}

/// Opens a request envelope with the first key that decrypts it (status-go tries its node
/// key, then the password key) and decodes the payload inside.
pub fn open_request(
    envelope: &Envelope,
    keys: &[OpeningKey<'_>],
) -> Result<OpenedRequest, RequestError> {
    let opened = keys
        .iter()
        .find_map(|key| open_payload(&envelope.data, *key).ok())
        .ok_or(RequestError::Undecryptable)?;
    let mut buf = &opened.payload[..];
    let (request, form) = MessagesRequest::decode_with_form(&mut buf)?;
    reject_trailing_bytes(buf)?;
    Ok(OpenedRequest { id: envelope.hash(), request, form: Some(form), signer: opened.signer })
}

/// How a client seals a request envelope.
#[derive(Clone, Debug)]
pub struct RequestSealing {
    /// The key: the mailserver password's ([`wisp_crypto::symmetric_key_from_password`] of
    /// [`DEFAULT_MAILSERVER_PASSWORD`]) or the mailserver's node key.
    pub encryption: Encryption,
    /// Signs the payload. status-go mailservers refuse an unsigned request ("wrong signature
    /// of p2p request") but check nothing else about the signer; status-go signs with the
    /// node key. Default: a fresh random key.
    pub signer: Option<SecretKey>,
    /// The envelope's TTL. Default: [`DEFAULT_REQUEST_TTL`].
    pub ttl: u32,
    /// The PoW target. Default: [`DEFAULT_REQUEST_POW`].
    pub pow: f64,
    /// The payload form. Default: [`PayloadForm::StatusGo`].
    pub form: PayloadForm,
}

impl RequestSealing {
    /// Defaults for `encryption`.
    pub fn new(encryption: Encryption) -> Self {
        Self {
            encryption,
            signer: Some(SecretKey::random()),
            ttl: DEFAULT_REQUEST_TTL,
            pow: DEFAULT_REQUEST_POW,
            form: PayloadForm::StatusGo,
        }
    }
}

/// Builds the request envelope a client sends: the payload in `sealing.form`, signed,
/// encrypted, on [`REQUEST_TOPIC`], expiring `ttl` seconds after `now_secs`, sealed to the PoW
/// target within [`SEAL_MAX_ATTEMPTS`] nonces.
pub fn build_request(
    request: &MessagesRequest,
    sealing: &RequestSealing,
    now_secs: u32,
) -> Result<Envelope, RequestError> {
    let mut params = MessageParams::new(request.to_rlp(sealing.form));
    params.signing_key = sealing.signer.clone();
    let data = seal_payload(&params, &sealing.encryption)?;
    let ttl = sealing.ttl.max(1);
    let mut envelope = Envelope {
        expiry: now_secs.saturating_add(ttl),
        ttl,
        topic: REQUEST_TOPIC,
        data: data.into(),
        nonce: 0,
    };
    let mut go_on = || true;
    let outcome = envelope
        .seal(sealing.pow, SealBudget { max_attempts: SEAL_MAX_ATTEMPTS, keep_going: &mut go_on });
    if !outcome.reached {
        return Err(RequestError::PowNotReached { pow: outcome.pow, target: sealing.pow });
    }
    Ok(envelope)
}

// ----- RLP helpers -----

fn list_len(payload_len: usize) -> usize {
    alloy_rlp::length_of_length(payload_len) + payload_len
}

/// Decodes a list header, refusing a payload over [`MAX_REQUEST_SIZE`] before reading on.
fn decode_list<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], RequestError> {
    let header = Header::decode(&mut &buf[..])?;
    if header.payload_length > MAX_REQUEST_SIZE {
        return Err(RequestError::TooBig { size: header.payload_length, max: MAX_REQUEST_SIZE });
    }
    Ok(Header::decode_bytes(buf, true)?)
}

/// Counts the items of a list payload, checking each header, stopping after `max`.
fn count_items(mut list: &[u8], max: usize) -> Result<usize, RequestError> {
    let mut n = 0;
    while !list.is_empty() && n < max {
        // A byte below 0x80 is its own payload: `decode` leaves it in place, length 1.
        let h = Header::decode(&mut list)?;
        list = &list[h.payload_length..];
        n += 1;
    }
    Ok(n)
}

fn next_is_list(p: &[u8], field: &'static str) -> Result<bool, RequestError> {
    if p.is_empty() {
        return Err(RequestError::Missing { field });
    }
    Ok(Header::decode(&mut &p[..])?.list)
}

fn decode_string<'a>(p: &mut &'a [u8], field: &'static str) -> Result<&'a [u8], RequestError> {
    if p.is_empty() {
        return Err(RequestError::Missing { field });
    }
    Ok(Header::decode_bytes(p, false)?)
}

/// A 32-bit integer: up to four big-endian bytes, leading zeros tolerated (see module docs).
fn decode_u32(p: &mut &[u8], field: &'static str) -> Result<u32, RequestError> {
    let bytes = decode_string(p, field)?;
    if bytes.len() > 4 {
        return Err(RequestError::IntegerTooLong { field, len: bytes.len() });
    }
    Ok(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

fn decode_bloom(p: &mut &[u8]) -> Result<Bloom, RequestError> {
    let bytes = decode_string(p, "bloom")?;
    match bytes.len() {
        0 => Ok(Bloom::EMPTY),
        BLOOM_LEN => {
            let mut b = [0u8; BLOOM_LEN];
            b.copy_from_slice(bytes);
            Ok(Bloom(b))
        }
        len => Err(RequestError::BloomLength { len }),
    }
}

fn decode_cursor(p: &mut &[u8]) -> Result<Vec<u8>, RequestError> {
    let bytes = decode_string(p, "cursor")?;
    if bytes.len() > MAX_CURSOR_LEN {
        return Err(RequestError::CursorTooLong { len: bytes.len(), max: MAX_CURSOR_LEN });
    }
    Ok(bytes.to_vec())
}

fn decode_topics(p: &mut &[u8]) -> Result<Vec<Topic>, RequestError> {
    if p.is_empty() {
        return Err(RequestError::Missing { field: "topics" });
    }
    let mut items = Header::decode_bytes(p, true)?;
    let count = count_items(items, MAX_REQUEST_TOPICS + 1)?;
    if count > MAX_REQUEST_TOPICS {
        return Err(RequestError::TooManyTopics { max: MAX_REQUEST_TOPICS });
    }
    let mut topics = Vec::with_capacity(count);
    while !items.is_empty() {
        let bytes = Header::decode_bytes(&mut items, false)?;
        let t: [u8; TOPIC_LEN] =
            bytes.try_into().map_err(|_| RequestError::TopicLength { len: bytes.len() })?;
        topics.push(Topic(t));
    }
    Ok(topics)
}

/// Go's RLP boolean: `0x80` (false) or `0x01` (true).
fn decode_batch(p: &mut &[u8]) -> Result<bool, RequestError> {
    match decode_string(p, "batch")? {
        [] => Ok(false),
        [1] => Ok(true),
        _ => Err(RequestError::BadBatchFlag),
    }
}

fn reject_trailing(p: &[u8]) -> Result<(), RequestError> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(RequestError::TrailingItems { count: count_items(p, usize::MAX).unwrap_or(1) })
    }
}

fn reject_trailing_bytes(rest: &[u8]) -> Result<(), RequestError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(alloy_rlp::Error::Custom("trailing bytes after the request").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8/WAKU-MAIL §Requesting Historic Envelopes, in status-go's field order
    /// (`MessagesRequestPayload`), hand-assembled.
    #[test]
    fn waku_mail_request_status_go_form() {
        let topic = Topic([0x12, 0x34, 0x56, 0x78]);
        let req = MessagesRequest {
            lower: 0x5f5e_1000,
            upper: 0x5f5f_6180,
            bloom: topic.bloom(),
            limit: 1000,
            cursor: Vec::new(),
            topics: vec![topic],
        };
        let mut want = vec![0xf8, 87, 0x84, 0x5f, 0x5e, 0x10, 0x00, 0x84, 0x5f, 0x5f, 0x61, 0x80];
        want.extend_from_slice(&[0xb8, 64]);
        want.extend_from_slice(&topic.bloom().0);
        want.extend_from_slice(&[0xc5, 0x84, 0x12, 0x34, 0x56, 0x78]);
        want.extend_from_slice(&[0x82, 0x03, 0xe8, 0x80, 0x01]);
        assert_eq!(req.to_rlp(PayloadForm::StatusGo), want);
        assert_eq!(req.encoded_len(PayloadForm::StatusGo), want.len());
        assert_eq!(
            MessagesRequest::decode_with_form(&mut &want[..]).unwrap(),
            (req, PayloadForm::StatusGo)
        );
    }
}
