//! Every packet of `waku/1` (6/WAKU1) and `shh/6` (EIP-627 and status-go's Whisper fork), as
//! `(code, payload)` pairs: the code is relative to the capability's offset, the payload is
//! the RLP after the code, snappy already undone by `wisp-rlpx`.
//!
//! The shapes are the ones status-go and geth put on the wire (`vectors/README.md`, "Facts
//! observed on the wire"; DECISIONS 2, 10, 21, 22):
//!
//! | packet | payload |
//! |---|---|
//! | Status, Status Update (waku) | [`StatusOptions`]: the bare list of `[key, value]` pairs |
//! | Status (shh) | [`WhisperStatus`]: `[version, pow, bloom, light, confirmations, limits]` |
//! | Messages | a list of envelopes |
//! | PoW Requirement (shh) | a bare integer: the `f64` bit pattern |
//! | Bloom Filter (shh) | a bare 64-byte string |
//! | Batch Ack | the bare 32-byte batch hash |
//! | Message Response | `[1, [batch_hash, [[hash, code, description]...]]]` |
//! | P2P Request | one envelope |
//! | P2P Message | a list of envelopes, or one bare envelope |
//! | P2P Request Complete | a byte string `request_id ‖ last_envelope_hash ‖ cursor` |
//!
//! Codes 0..128 that are not listed decode to `Unknown` and MUST be ignored (6/WAKU1 §Packet
//! Codes, EIP-627). Every envelope is checked against [`PacketLimits::max_envelope_size`]
//! before its data is copied, and the number of envelopes or topics in a list is checked
//! before anything is allocated for it.

use alloy_rlp::{BufMut, Decodable, Encodable, Header};
use bytes::Bytes;
use wisp_crypto::keccak256;

use crate::{
    envelope::{DEFAULT_MAX_ENVELOPE_SIZE, Envelope, EnvelopeError},
    status::{StatusOptions, WhisperStatus, pow_from_bits},
    topic::{BLOOM_LEN, Bloom},
};

/// The `waku` capability name (6/WAKU1 §Use of DevP2P; DECISIONS 1).
pub const WAKU_NAME: &str = "waku";
/// The `waku` capability version advertised (6/WAKU1: `waku/1`; IMPLEMENTER-NOTES §3.9).
pub const WAKU_VERSION: u32 = 1;
/// Message codes `waku/1` reserves (6/WAKU1: "0 - 127").
pub const WAKU_PROTOCOL_LENGTH: u64 = 128;
/// The Whisper capability name (EIP-627).
pub const SHH_NAME: &str = "shh";
/// The Whisper capability version (EIP-627: `shh/6`).
pub const SHH_VERSION: u32 = 6;
/// Message codes `shh/6` reserves (EIP-627: "0 - 127").
pub const SHH_PROTOCOL_LENGTH: u64 = 128;

/// The `version` of a Message Response (6/WAKU1 §Batch Ack and Message Response: "The
/// current `version` in the `confirmation` is `1`").
pub const MESSAGE_RESPONSE_VERSION: u64 = 1;
/// Envelope error code 1: time sync error, the envelope is too old or from the future
/// (6/WAKU1 §Batch Ack and Message Response).
pub const ERROR_CODE_TIME_SYNC: u64 = 1;
/// Default most envelopes in one Messages or P2P Message packet. 6/WAKU1 sets no number; the
/// 1.5 MB packet limit allows about 15 000 of the smallest envelopes.
pub const DEFAULT_MAX_ENVELOPES: usize = 10_000;
/// The prefix of a failed P2P Request Complete payload: `ERROR=` ‖ request id ‖ message
/// (status-go `mailServerFailedPayloadPrefix`; not in the specs).
pub const REQUEST_FAILED_PREFIX: &[u8] = b"ERROR=";

/// Bytes in a keccak256 hash (batch hash, envelope hash, request id).
const HASH_LEN: usize = 32;

/// `waku/1` packet codes (6/WAKU1 §Packet Codes; DECISIONS 2; Status Update is 22 decimal,
/// IMPLEMENTER-NOTES §3.10).
pub mod waku_codes {
    /// Status: the handshake (required).
    pub const STATUS: u64 = 0;
    /// Messages: envelopes to relay (required).
    pub const MESSAGES: u64 = 1;
    /// Batch Ack: the bare batch hash (optional; status-go marks it deprecated).
    pub const BATCH_ACK: u64 = 11;
    /// Message Response: the batch hash and per-envelope errors (optional).
    pub const MESSAGE_RESPONSE: u64 = 12;
    /// Status Update: changed options (required). 22 decimal, not 0x22.
    pub const STATUS_UPDATE: u64 = 22;
    /// P2P Request Complete: a mailserver finished a request (8/WAKU-MAIL).
    pub const P2P_REQUEST_COMPLETE: u64 = 125;
    /// P2P Request: a request to a mailserver (8/WAKU-MAIL).
    pub const P2P_REQUEST: u64 = 126;
    /// P2P Message: envelopes sent peer to peer, not forwarded (8/WAKU-MAIL).
    pub const P2P_MESSAGE: u64 = 127;
}

/// `shh/6` packet codes (EIP-627 §Packet Codes; `status/3-whisper-usage.md`; DECISIONS 2).
pub mod whisper_codes {
    /// Status: the handshake.
    pub const STATUS: u64 = 0;
    /// Messages: envelopes to relay.
    pub const MESSAGES: u64 = 1;
    /// PoW Requirement: the sender's new minimum PoW.
    pub const POW_REQUIREMENT: u64 = 2;
    /// Bloom Filter: the sender's new bloom.
    pub const BLOOM_FILTER: u64 = 3;
    /// Batch Ack (status-go fork).
    pub const BATCH_ACK: u64 = 11;
    /// Message Response (status-go fork).
    pub const MESSAGE_RESPONSE: u64 = 12;
    /// P2P Request Complete (status-go fork, `status/4-whisper-mailserver.md`).
    pub const P2P_REQUEST_COMPLETE: u64 = 125;
    /// P2P Request.
    pub const P2P_REQUEST: u64 = 126;
    /// P2P Message.
    pub const P2P_MESSAGE: u64 = 127;
}

/// The packet codes of one capability. `waku/1` and `shh/6` share most of them; where they
/// differ (Status Update in `waku/1`, PoW Requirement and Bloom Filter in `shh/6`) is this
/// data, so that one code path serves both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codes {
    /// The capability, for messages: `waku/1` or `shh/6`.
    pub name: &'static str,
    /// Status.
    pub status: u64,
    /// Messages.
    pub messages: u64,
    /// Status Update (`waku/1` only).
    pub status_update: Option<u64>,
    /// PoW Requirement (`shh/6` only).
    pub pow_requirement: Option<u64>,
    /// Bloom Filter (`shh/6` only).
    pub bloom_filter: Option<u64>,
    /// Batch Ack.
    pub batch_ack: u64,
    /// Message Response.
    pub message_response: u64,
    /// P2P Request Complete.
    pub p2p_request_complete: u64,
    /// P2P Request.
    pub p2p_request: u64,
    /// P2P Message.
    pub p2p_message: u64,
    /// Message codes the capability reserves.
    pub protocol_length: u64,
    /// The name of each packet, for errors.
    pub names: &'static [(u64, &'static str)],
    /// The name of any other packet.
    pub other_name: &'static str,
}

impl Codes {
    /// The packet's name, for errors (`waku/1 Messages`).
    pub fn packet_name(&self, code: u64) -> &'static str {
        self.names.iter().find(|(c, _)| *c == code).map_or(self.other_name, |(_, n)| n)
    }
}

/// The codes of `waku/1`.
pub const WAKU_CODES: Codes = Codes {
    name: "waku/1",
    status: waku_codes::STATUS,
    messages: waku_codes::MESSAGES,
    status_update: Some(waku_codes::STATUS_UPDATE),
    pow_requirement: None,
    bloom_filter: None,
    batch_ack: waku_codes::BATCH_ACK,
    message_response: waku_codes::MESSAGE_RESPONSE,
    p2p_request_complete: waku_codes::P2P_REQUEST_COMPLETE,
    p2p_request: waku_codes::P2P_REQUEST,
    p2p_message: waku_codes::P2P_MESSAGE,
    protocol_length: WAKU_PROTOCOL_LENGTH,
    names: &[
        (waku_codes::STATUS, "waku/1 Status"),
        (waku_codes::MESSAGES, "waku/1 Messages"),
        (waku_codes::BATCH_ACK, "waku/1 Batch Ack"),
        (waku_codes::MESSAGE_RESPONSE, "waku/1 Message Response"),
        (waku_codes::STATUS_UPDATE, "waku/1 Status Update"),
        (waku_codes::P2P_REQUEST_COMPLETE, "waku/1 P2P Request Complete"),
        (waku_codes::P2P_REQUEST, "waku/1 P2P Request"),
        (waku_codes::P2P_MESSAGE, "waku/1 P2P Message"),
    ],
    other_name: "waku/1 packet",
};

/// The codes of `shh/6`.
pub const WHISPER_CODES: Codes = Codes {
    name: "shh/6",
    status: whisper_codes::STATUS,
    messages: whisper_codes::MESSAGES,
    status_update: None,
    pow_requirement: Some(whisper_codes::POW_REQUIREMENT),
    bloom_filter: Some(whisper_codes::BLOOM_FILTER),
    batch_ack: whisper_codes::BATCH_ACK,
    message_response: whisper_codes::MESSAGE_RESPONSE,
    p2p_request_complete: whisper_codes::P2P_REQUEST_COMPLETE,
    p2p_request: whisper_codes::P2P_REQUEST,
    p2p_message: whisper_codes::P2P_MESSAGE,
    protocol_length: SHH_PROTOCOL_LENGTH,
    names: &[
        (whisper_codes::STATUS, "shh/6 Status"),
        (whisper_codes::MESSAGES, "shh/6 Messages"),
        (whisper_codes::POW_REQUIREMENT, "shh/6 PoW Requirement"),
        (whisper_codes::BLOOM_FILTER, "shh/6 Bloom Filter"),
        (whisper_codes::BATCH_ACK, "shh/6 Batch Ack"),
        (whisper_codes::MESSAGE_RESPONSE, "shh/6 Message Response"),
        (whisper_codes::P2P_REQUEST_COMPLETE, "shh/6 P2P Request Complete"),
        (whisper_codes::P2P_REQUEST, "shh/6 P2P Request"),
        (whisper_codes::P2P_MESSAGE, "shh/6 P2P Message"),
    ],
    other_name: "shh/6 packet",
};

/// Limits applied while decoding, before anything is allocated for the data they bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketLimits {
    /// Largest encoded envelope accepted. Default: 1 MiB (6/WAKU1 §Maximum Packet Size).
    pub max_envelope_size: usize,
    /// Most envelopes in one Messages or P2P Message packet. Default:
    /// [`DEFAULT_MAX_ENVELOPES`].
    pub max_envelopes: usize,
}

impl Default for PacketLimits {
    fn default() -> Self {
        Self { max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE, max_envelopes: DEFAULT_MAX_ENVELOPES }
    }
}

/// Why a `waku/1` or `shh/6` packet could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PacketError {
    /// The RLP is malformed or not of the packet's shape.
    #[error("malformed {packet}: {error}")]
    Rlp {
        /// The packet or structure being decoded, e.g. `waku/1 Status`.
        packet: &'static str,
        /// What the RLP decoder found.
        #[source]
        error: alloy_rlp::Error,
    },
    /// Bytes follow the last item a list or payload may hold.
    #[error("{len} unexpected trailing bytes in {packet}")]
    TrailingBytes {
        /// The packet or structure being decoded.
        packet: &'static str,
        /// How many bytes were left.
        len: usize,
    },
    /// An envelope is malformed or too big.
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// More envelopes than [`PacketLimits::max_envelopes`] (counted before decoding them).
    #[error("{count} envelopes exceed the maximum of {max}")]
    TooManyEnvelopes {
        /// Envelopes in the packet.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More topics of interest than [`crate::MAX_TOPIC_INTEREST`] (6/WAKU1 §Topic Interest
    /// Field; counted before decoding them).
    #[error("{count} topics of interest exceed the maximum of {max}")]
    TooManyTopics {
        /// Topics in the list.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A PoW requirement that is NaN, infinite or negative (EIP-627, 6/WAKU1 ABNF).
    #[error("invalid PoW requirement {0}")]
    InvalidPow(f64),
    /// A bloom filter of the wrong length (64 bytes; 0 where a full node may send it empty).
    #[error("bloom filter of {len} bytes, expected {BLOOM_LEN}")]
    InvalidBloomLength {
        /// The length received.
        len: usize,
    },
    /// A `shh/6` Status with fewer than version, PoW and bloom (DECISIONS 21).
    #[error("shh/6 Status of {count} items, at least {min} required")]
    WhisperStatusTooShort {
        /// Items received.
        count: usize,
        /// The fewest accepted.
        min: usize,
    },
    /// A Message Response of a version other than 1. status-go ignores such a packet, so a
    /// caller should ignore it too rather than drop the peer.
    #[error("unsupported Message Response version {version}")]
    UnsupportedResponseVersion {
        /// The version received.
        version: u64,
    },
    /// A P2P Request Complete payload too short for a request id, or a completion whose
    /// request id could not be told from a failure report (it starts with `ERROR=`).
    #[error("invalid P2P Request Complete payload of {len} bytes")]
    InvalidRequestComplete {
        /// The payload length.
        len: usize,
    },
    /// A code outside the capability's 128 codes: the caller did not subtract its offset.
    #[error("packet code {code} is outside the capability's {max} codes")]
    CodeOutOfRange {
        /// The code given.
        code: u64,
        /// The number of codes.
        max: u64,
    },
}

impl From<alloy_rlp::Error> for PacketError {
    fn from(error: alloy_rlp::Error) -> Self {
        Self::Rlp { packet: "", error }
    }
}

impl PacketError {
    /// Names the packet in an RLP or trailing-bytes error that does not name one yet.
    pub(crate) fn in_packet(self, name: &'static str) -> Self {
        match self {
            Self::Rlp { packet: "", error } => Self::Rlp { packet: name, error },
            Self::TrailingBytes { packet: "", len } => Self::TrailingBytes { packet: name, len },
            other => other,
        }
    }
}

/// Counts the items of a list payload, checking each header, without decoding them.
pub(crate) fn count_items(mut list: &[u8]) -> Result<usize, alloy_rlp::Error> {
    let mut n = 0;
    while !list.is_empty() {
        // A single byte below 0x80 is its own payload: `decode` leaves it in place with a
        // length of 1. `decode` also checks that the payload is within `list`.
        let h = Header::decode(&mut list)?;
        list = &list[h.payload_length..];
        n += 1;
    }
    Ok(n)
}

/// Fails if bytes are left after the last item a list or payload may hold.
pub(crate) fn reject_trailing(rest: &[u8]) -> Result<(), PacketError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(PacketError::TrailingBytes { packet: "", len: rest.len() })
    }
}

/// The batch hash a Message Response or Batch Ack confirms: keccak256 of the decompressed
/// payload of the Messages packet (DECISIONS 22; status-go `sendConfirmation`).
pub fn batch_hash(messages_payload: &[u8]) -> [u8; 32] {
    keccak256(messages_payload)
}

fn list_len(payload_len: usize) -> usize {
    alloy_rlp::length_of_length(payload_len) + payload_len
}

fn envelopes_payload_len(envelopes: &[Envelope]) -> usize {
    envelopes.iter().map(Envelope::encoded_len).sum()
}

fn encode_envelopes(envelopes: &[Envelope], out: &mut dyn BufMut) {
    Header { list: true, payload_length: envelopes_payload_len(envelopes) }.encode(out);
    for e in envelopes {
        e.encode(out);
    }
}

/// Decodes the items of a list payload as envelopes, counting them first.
fn decode_envelope_items(
    mut items: &[u8],
    limits: &PacketLimits,
) -> Result<Vec<Envelope>, PacketError> {
    let count = count_items(items)?;
    if count > limits.max_envelopes {
        return Err(PacketError::TooManyEnvelopes { count, max: limits.max_envelopes });
    }
    let mut envelopes = Vec::with_capacity(count);
    while !items.is_empty() {
        envelopes.push(Envelope::decode_with_limit(&mut items, limits.max_envelope_size)?);
    }
    Ok(envelopes)
}

/// Messages: a list of envelopes, nothing after it.
fn decode_messages(payload: &[u8], limits: &PacketLimits) -> Result<Vec<Envelope>, PacketError> {
    let mut buf = payload;
    let items = Header::decode_bytes(&mut buf, true)?;
    reject_trailing(buf)?;
    decode_envelope_items(items, limits)
}

/// The first [`PacketLimits::max_envelopes`] envelopes of a Messages payload that holds more
/// (a packet [`WakuPacket::decode`] refuses with [`PacketError::TooManyEnvelopes`]), and how
/// many were left undecoded: for a receiver that takes what fits of a well-formed packet.
/// The item headers are all checked (as counting them does); the skipped items are not
/// decoded.
pub fn decode_messages_prefix(
    payload: &[u8],
    limits: &PacketLimits,
) -> Result<(Vec<Envelope>, usize), PacketError> {
    let mut buf = payload;
    let mut items = Header::decode_bytes(&mut buf, true)?;
    reject_trailing(buf)?;
    let count = count_items(items)?;
    let take = count.min(limits.max_envelopes);
    let mut envelopes = Vec::with_capacity(take);
    for _ in 0..take {
        envelopes.push(Envelope::decode_with_limit(&mut items, limits.max_envelope_size)?);
    }
    Ok((envelopes, count - take))
}

/// P2P Message: a list of envelopes (6/WAKU1, status-go), or one bare envelope (EIP-627,
/// geth). Receivers MUST accept both (`status/4-whisper-mailserver.md`, DECISIONS 10). The
/// forms differ in their first item: an envelope's is its expiry, a string; a list of
/// envelopes' is a list. Both decode to a list, which is what is encoded again.
fn decode_p2p_message(payload: &[u8], limits: &PacketLimits) -> Result<Vec<Envelope>, PacketError> {
    let mut buf = payload;
    let items = Header::decode_bytes(&mut buf, true)?;
    reject_trailing(buf)?;
    match items.first() {
        Some(&first) if first < alloy_rlp::EMPTY_LIST_CODE => {
            let mut one = payload;
            Ok(vec![Envelope::decode_with_limit(&mut one, limits.max_envelope_size)?])
        }
        _ => decode_envelope_items(items, limits),
    }
}

/// P2P Request: one envelope.
fn decode_p2p_request(payload: &[u8], limits: &PacketLimits) -> Result<Envelope, PacketError> {
    let mut buf = payload;
    let envelope = Envelope::decode_with_limit(&mut buf, limits.max_envelope_size)?;
    reject_trailing(buf)?;
    Ok(envelope)
}

fn decode_hash(payload: &[u8]) -> Result<[u8; HASH_LEN], PacketError> {
    let mut buf = payload;
    let hash = <[u8; HASH_LEN]>::decode(&mut buf)?;
    reject_trailing(buf)?;
    Ok(hash)
}

fn decode_whole<T>(
    payload: &[u8],
    f: impl FnOnce(&mut &[u8]) -> Result<T, PacketError>,
) -> Result<T, PacketError> {
    let mut buf = payload;
    let value = f(&mut buf)?;
    reject_trailing(buf)?;
    Ok(value)
}

/// The packets `waku/1` and `shh/6` share (same shapes, codes from [`Codes`]): one decoder
/// for both.
enum Shared {
    Messages(Vec<Envelope>),
    BatchAck([u8; HASH_LEN]),
    MessageResponse(MessageResponse),
    P2PRequest(Envelope),
    P2PMessage(Vec<Envelope>),
    P2PRequestComplete(P2PRequestComplete),
}

/// Decodes a packet both capabilities have; `None` for a code that is not one of them.
fn decode_shared(
    codes: &Codes,
    code: u64,
    payload: &[u8],
    limits: &PacketLimits,
) -> Option<Result<Shared, PacketError>> {
    let packet = if code == codes.messages {
        decode_messages(payload, limits).map(Shared::Messages)
    } else if code == codes.batch_ack {
        decode_hash(payload).map(Shared::BatchAck)
    } else if code == codes.message_response {
        decode_whole(payload, MessageResponse::decode_inner).map(Shared::MessageResponse)
    } else if code == codes.p2p_request {
        decode_p2p_request(payload, limits).map(Shared::P2PRequest)
    } else if code == codes.p2p_message {
        decode_p2p_message(payload, limits).map(Shared::P2PMessage)
    } else if code == codes.p2p_request_complete {
        decode_whole(payload, P2PRequestComplete::decode_inner).map(Shared::P2PRequestComplete)
    } else {
        return None;
    };
    Some(packet)
}

/// The common frame of both decoders: the code range, the capability's own packets
/// (`own`), the shared ones, `Unknown` for the rest, and the packet's name in errors.
fn decode_with<T>(
    codes: &Codes,
    code: u64,
    payload: &[u8],
    limits: &PacketLimits,
    own: impl FnOnce() -> Option<Result<T, PacketError>>,
    shared: impl FnOnce(Shared) -> T,
    unknown: impl FnOnce(u64) -> T,
) -> Result<T, PacketError> {
    if code >= codes.protocol_length {
        return Err(PacketError::CodeOutOfRange { code, max: codes.protocol_length });
    }
    let packet = match own() {
        Some(p) => p,
        None => match decode_shared(codes, code, payload, limits) {
            Some(p) => p.map(shared),
            None => Ok(unknown(code)),
        },
    };
    packet.map_err(|e| e.in_packet(codes.packet_name(code)))
}

/// One envelope's error in a Message Response: `[hash, code, description]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvelopeErrorReport {
    /// The envelope's hash.
    pub hash: [u8; 32],
    /// The error code; [`ERROR_CODE_TIME_SYNC`] is the only one 6/WAKU1 defines.
    pub code: u64,
    /// A description for humans. Read as UTF-8, invalid sequences replaced (status-go puts
    /// any Go string there).
    pub description: String,
}

impl EnvelopeErrorReport {
    fn payload_len(&self) -> usize {
        self.hash.length() + self.code.length() + self.description.as_bytes().length()
    }

    fn encoded_len(&self) -> usize {
        list_len(self.payload_len())
    }

    fn encode(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.hash.encode(out);
        self.code.encode(out);
        self.description.as_bytes().encode(out);
    }

    fn decode(buf: &mut &[u8]) -> Result<Self, PacketError> {
        let mut p = Header::decode_bytes(buf, true)?;
        let hash = <[u8; HASH_LEN]>::decode(&mut p)?;
        let code = u64::decode(&mut p)?;
        let description =
            String::from_utf8_lossy(Header::decode_bytes(&mut p, false)?).into_owned();
        reject_trailing(p)?;
        Ok(Self { hash, code, description })
    }
}

/// A Message Response: `[version, [batch_hash, [[hash, code, description]...]]]`
/// (6/WAKU1 `confirmation`, status-go `Version1MessageResponse`). An empty error list means
/// every envelope of the batch was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageResponse {
    /// The confirmation version: [`MESSAGE_RESPONSE_VERSION`].
    pub version: u64,
    /// keccak256 of the Messages payload confirmed ([`batch_hash`]).
    pub batch_hash: [u8; 32],
    /// The envelopes of the batch that were refused, and why.
    pub errors: Vec<EnvelopeErrorReport>,
}

impl MessageResponse {
    /// A version 1 response.
    pub fn new(batch_hash: [u8; 32], errors: Vec<EnvelopeErrorReport>) -> Self {
        Self { version: MESSAGE_RESPONSE_VERSION, batch_hash, errors }
    }

    fn errors_payload_len(&self) -> usize {
        self.errors.iter().map(EnvelopeErrorReport::encoded_len).sum()
    }

    fn response_payload_len(&self) -> usize {
        self.batch_hash.length() + list_len(self.errors_payload_len())
    }

    fn payload_len(&self) -> usize {
        self.version.length() + list_len(self.response_payload_len())
    }

    /// Encodes `[version, [batch_hash, [errors...]]]`.
    pub fn encode(&self, out: &mut dyn BufMut) {
        Header { list: true, payload_length: self.payload_len() }.encode(out);
        self.version.encode(out);
        Header { list: true, payload_length: self.response_payload_len() }.encode(out);
        self.batch_hash.encode(out);
        Header { list: true, payload_length: self.errors_payload_len() }.encode(out);
        for e in &self.errors {
            e.encode(out);
        }
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        list_len(self.payload_len())
    }

    /// Decodes a version 1 response; another version is
    /// [`PacketError::UnsupportedResponseVersion`] (its shape is unknown).
    pub fn decode(buf: &mut &[u8]) -> Result<Self, PacketError> {
        Self::decode_inner(buf).map_err(|e| e.in_packet("Message Response"))
    }

    fn decode_inner(buf: &mut &[u8]) -> Result<Self, PacketError> {
        let mut p = Header::decode_bytes(buf, true)?;
        let version = u64::decode(&mut p)?;
        if version != MESSAGE_RESPONSE_VERSION {
            return Err(PacketError::UnsupportedResponseVersion { version });
        }
        let mut response = Header::decode_bytes(&mut p, true)?;
        reject_trailing(p)?;
        let batch_hash = <[u8; HASH_LEN]>::decode(&mut response)?;
        let mut items = Header::decode_bytes(&mut response, true)?;
        reject_trailing(response)?;
        // Each error takes at least 36 bytes on the wire: the count is bounded by the payload,
        // but the capacity is not taken from it beyond a small hint.
        let mut errors = Vec::with_capacity(count_items(items)?.min(64));
        while !items.is_empty() {
            errors.push(EnvelopeErrorReport::decode(&mut items)?);
        }
        Ok(Self { version, batch_hash, errors })
    }
}

/// P2P Request Complete: a mailserver has sent everything a request asked for (8/WAKU-MAIL,
/// `status/11-waku-mailserver.md`), or reports that it failed.
///
/// The specs write it `[RequestID, LastEnvelopeHash, Cursor]` (DECISIONS 10), but status-go
/// (`CreateMailServerRequestCompletedPayload`, sent with `rlp.EncodeToReader(payload)`) puts
/// the three side by side in **one RLP string**, which matches the 6/WAKU1 ABNF
/// `p2p-request-complete = *OCTET`; a failure is the string `ERROR=` ‖ request id ‖ message.
/// That is what [`encode`](Self::encode) writes. [`decode`](Self::decode) reads it as
/// status-go does (a payload of just the request id, or with a partial second hash, leaves
/// the hash zero), keeps a cursor of any length (the cursor is opaque, DECISIONS 10;
/// status-go's are 36 bytes), and also accepts the spec's list form `[id, hash(, cursor)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P2PRequestComplete {
    /// keccak256 of the request envelope.
    pub request_id: [u8; 32],
    /// The hash of the last envelope sent for the request (zero if none or on failure).
    pub last_envelope_hash: [u8; 32],
    /// Where to resume; empty when everything was sent (and on failure).
    pub cursor: Bytes,
    /// The mailserver's error message if the request failed (status-go
    /// `CreateMailServerRequestFailedPayload`); `None` on success.
    pub error: Option<String>,
}

impl P2PRequestComplete {
    /// A successful completion.
    pub fn completed(request_id: [u8; 32], last_envelope_hash: [u8; 32], cursor: Bytes) -> Self {
        Self { request_id, last_envelope_hash, cursor, error: None }
    }

    /// A failure report.
    pub fn failed(request_id: [u8; 32], message: impl Into<String>) -> Self {
        Self {
            request_id,
            last_envelope_hash: [0; 32],
            cursor: Bytes::new(),
            error: Some(message.into()),
        }
    }

    fn payload_len(&self) -> usize {
        match &self.error {
            None => 2 * HASH_LEN + self.cursor.len(),
            Some(msg) => REQUEST_FAILED_PREFIX.len() + HASH_LEN + msg.len(),
        }
    }

    /// Encodes the RLP string `request_id ‖ last_envelope_hash ‖ cursor`, or
    /// `ERROR=` ‖ `request_id` ‖ message for a failure.
    pub fn encode(&self, out: &mut dyn BufMut) {
        // At least 38 bytes, so always a string header (never a single-byte string).
        Header { list: false, payload_length: self.payload_len() }.encode(out);
        match &self.error {
            None => {
                out.put_slice(&self.request_id);
                out.put_slice(&self.last_envelope_hash);
                out.put_slice(&self.cursor);
            }
            Some(msg) => {
                out.put_slice(REQUEST_FAILED_PREFIX);
                out.put_slice(&self.request_id);
                out.put_slice(msg.as_bytes());
            }
        }
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        list_len(self.payload_len())
    }

    /// Decodes the string form or the list form (see the type's documentation).
    pub fn decode(buf: &mut &[u8]) -> Result<Self, PacketError> {
        Self::decode_inner(buf).map_err(|e| e.in_packet("P2P Request Complete"))
    }

    fn decode_inner(buf: &mut &[u8]) -> Result<Self, PacketError> {
        let header = Header::decode(&mut &buf[..])?;
        let complete = if header.list {
            let mut p = Header::decode_bytes(buf, true)?;
            let request_id = <[u8; HASH_LEN]>::decode(&mut p)?;
            let last_envelope_hash = <[u8; HASH_LEN]>::decode(&mut p)?;
            let cursor = if p.is_empty() {
                Bytes::new()
            } else {
                Bytes::copy_from_slice(Header::decode_bytes(&mut p, false)?)
            };
            reject_trailing(p)?;
            Self::completed(request_id, last_envelope_hash, cursor)
        } else {
            Self::from_payload(Header::decode_bytes(buf, false)?)?
        };
        if complete.error.is_none() && complete.request_id.starts_with(REQUEST_FAILED_PREFIX) {
            // Encoded again, it would read as a failure report.
            return Err(PacketError::InvalidRequestComplete { len: header.payload_length });
        }
        Ok(complete)
    }

    /// Parses status-go's byte-string payload.
    fn from_payload(p: &[u8]) -> Result<Self, PacketError> {
        let invalid = || PacketError::InvalidRequestComplete { len: p.len() };
        if let Some(rest) = p.strip_prefix(REQUEST_FAILED_PREFIX)
            && rest.len() >= HASH_LEN
        {
            let (id, msg) = rest.split_at(HASH_LEN);
            let request_id = id.try_into().map_err(|_| invalid())?;
            return Ok(Self::failed(request_id, String::from_utf8_lossy(msg)));
        }
        if p.len() < HASH_LEN {
            return Err(invalid());
        }
        let (id, rest) = p.split_at(HASH_LEN);
        let request_id: [u8; HASH_LEN] = id.try_into().map_err(|_| invalid())?;
        if rest.len() < HASH_LEN {
            // status-go ignores a partial second hash.
            return Ok(Self::completed(request_id, [0; HASH_LEN], Bytes::new()));
        }
        let (last, cursor) = rest.split_at(HASH_LEN);
        let last_envelope_hash = last.try_into().map_err(|_| invalid())?;
        Ok(Self::completed(request_id, last_envelope_hash, Bytes::copy_from_slice(cursor)))
    }
}

/// A `waku/1` packet (6/WAKU1 §Packet Codes).
#[derive(Clone, Debug, PartialEq)]
pub enum WakuPacket {
    /// 0: the handshake.
    Status(StatusOptions),
    /// 1: envelopes to relay.
    Messages(Vec<Envelope>),
    /// 22: changed options; an empty one is a no-op.
    StatusUpdate(StatusOptions),
    /// 11: the bare batch hash.
    BatchAck([u8; 32]),
    /// 12: the batch hash and per-envelope errors.
    MessageResponse(MessageResponse),
    /// 126: a mailserver request envelope.
    P2PRequest(Envelope),
    /// 127: envelopes from a mailserver (either wire form decodes here; encoded as a list).
    P2PMessage(Vec<Envelope>),
    /// 125: a mailserver request is complete.
    P2PRequestComplete(P2PRequestComplete),
    /// Any other code below 128: to be ignored (6/WAKU1: "MUST be ignored"). The payload is
    /// not kept; encoding writes nothing.
    Unknown {
        /// The packet code.
        code: u64,
    },
}

impl WakuPacket {
    /// The packet code, relative to the capability's offset.
    pub fn code(&self) -> u64 {
        match self {
            Self::Status(_) => waku_codes::STATUS,
            Self::Messages(_) => waku_codes::MESSAGES,
            Self::StatusUpdate(_) => waku_codes::STATUS_UPDATE,
            Self::BatchAck(_) => waku_codes::BATCH_ACK,
            Self::MessageResponse(_) => waku_codes::MESSAGE_RESPONSE,
            Self::P2PRequest(_) => waku_codes::P2P_REQUEST,
            Self::P2PMessage(_) => waku_codes::P2P_MESSAGE,
            Self::P2PRequestComplete(_) => waku_codes::P2P_REQUEST_COMPLETE,
            Self::Unknown { code } => *code,
        }
    }

    /// Appends the payload (the RLP after the code).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        match self {
            Self::Status(o) | Self::StatusUpdate(o) => o.encode(out),
            Self::Messages(envs) | Self::P2PMessage(envs) => encode_envelopes(envs, out),
            Self::BatchAck(hash) => hash.encode(out),
            Self::MessageResponse(r) => r.encode(out),
            Self::P2PRequest(e) => e.encode(out),
            Self::P2PRequestComplete(c) => c.encode(out),
            Self::Unknown { .. } => {}
        }
    }

    /// The length of the payload [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Status(o) | Self::StatusUpdate(o) => o.encoded_len(),
            Self::Messages(envs) | Self::P2PMessage(envs) => list_len(envelopes_payload_len(envs)),
            Self::BatchAck(hash) => hash.length(),
            Self::MessageResponse(r) => r.encoded_len(),
            Self::P2PRequest(e) => e.encoded_len(),
            Self::P2PRequestComplete(c) => c.encoded_len(),
            Self::Unknown { .. } => 0,
        }
    }

    /// Decodes the payload of packet `code` (relative to the capability's offset). The whole
    /// payload must be used. Codes 0..128 this protocol does not define decode to
    /// [`WakuPacket::Unknown`] without reading the payload; codes from 128 are an error.
    pub fn decode(code: u64, payload: &[u8], limits: &PacketLimits) -> Result<Self, PacketError> {
        let own = || match code {
            waku_codes::STATUS => {
                Some(decode_whole(payload, StatusOptions::decode_inner).map(Self::Status))
            }
            waku_codes::STATUS_UPDATE => {
                Some(decode_whole(payload, StatusOptions::decode_inner).map(Self::StatusUpdate))
            }
            _ => None,
        };
        let shared = |p| match p {
            Shared::Messages(e) => Self::Messages(e),
            Shared::BatchAck(h) => Self::BatchAck(h),
            Shared::MessageResponse(r) => Self::MessageResponse(r),
            Shared::P2PRequest(e) => Self::P2PRequest(e),
            Shared::P2PMessage(e) => Self::P2PMessage(e),
            Shared::P2PRequestComplete(c) => Self::P2PRequestComplete(c),
        };
        decode_with(&WAKU_CODES, code, payload, limits, own, shared, |code| Self::Unknown { code })
    }
}

/// A `shh/6` packet (EIP-627 §Packet Codes, with status-go's additions).
#[derive(Clone, Debug, PartialEq)]
pub enum WhisperPacket {
    /// 0: the handshake.
    Status(WhisperStatus),
    /// 1: envelopes to relay.
    Messages(Vec<Envelope>),
    /// 2: the sender's new minimum PoW (a bare integer holding the `f64` bits).
    PowRequirement(f64),
    /// 3: the sender's new bloom (a bare 64-byte string).
    BloomFilter(Bloom),
    /// 11: the bare batch hash.
    BatchAck([u8; 32]),
    /// 12: the batch hash and per-envelope errors.
    MessageResponse(MessageResponse),
    /// 126: a mailserver request envelope.
    P2PRequest(Envelope),
    /// 127: envelopes from a mailserver (either wire form decodes here; encoded as a list,
    /// as status-go's fork sends them).
    P2PMessage(Vec<Envelope>),
    /// 125: a mailserver request is complete.
    P2PRequestComplete(P2PRequestComplete),
    /// Any other code below 128 (e.g. 123/124, status-go's undocumented sync packets): to
    /// be ignored (EIP-627). The payload is not kept; encoding writes nothing.
    Unknown {
        /// The packet code.
        code: u64,
    },
}

/// PoW Requirement: a bare RLP integer, the `f64` bit pattern (EIP-627, DECISIONS 21).
fn decode_pow_requirement(payload: &[u8]) -> Result<f64, PacketError> {
    let mut buf = payload;
    let bits = u64::decode(&mut buf)?;
    reject_trailing(buf)?;
    pow_from_bits(bits)
}

/// Bloom Filter: a bare string of exactly 64 bytes, as geth requires for this packet (only
/// the Status may carry an empty bloom).
fn decode_bloom_packet(payload: &[u8]) -> Result<Bloom, PacketError> {
    let mut buf = payload;
    let bytes = Header::decode_bytes(&mut buf, false)?;
    reject_trailing(buf)?;
    let arr: [u8; BLOOM_LEN] =
        bytes.try_into().map_err(|_| PacketError::InvalidBloomLength { len: bytes.len() })?;
    Ok(Bloom(arr))
}

impl WhisperPacket {
    /// The packet code, relative to the capability's offset.
    pub fn code(&self) -> u64 {
        match self {
            Self::Status(_) => whisper_codes::STATUS,
            Self::Messages(_) => whisper_codes::MESSAGES,
            Self::PowRequirement(_) => whisper_codes::POW_REQUIREMENT,
            Self::BloomFilter(_) => whisper_codes::BLOOM_FILTER,
            Self::BatchAck(_) => whisper_codes::BATCH_ACK,
            Self::MessageResponse(_) => whisper_codes::MESSAGE_RESPONSE,
            Self::P2PRequest(_) => whisper_codes::P2P_REQUEST,
            Self::P2PMessage(_) => whisper_codes::P2P_MESSAGE,
            Self::P2PRequestComplete(_) => whisper_codes::P2P_REQUEST_COMPLETE,
            Self::Unknown { code } => *code,
        }
    }

    /// Appends the payload (the RLP after the code).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        match self {
            Self::Status(s) => s.encode(out),
            Self::Messages(envs) | Self::P2PMessage(envs) => encode_envelopes(envs, out),
            Self::PowRequirement(pow) => pow.to_bits().encode(out),
            Self::BloomFilter(bloom) => bloom.encode(out),
            Self::BatchAck(hash) => hash.encode(out),
            Self::MessageResponse(r) => r.encode(out),
            Self::P2PRequest(e) => e.encode(out),
            Self::P2PRequestComplete(c) => c.encode(out),
            Self::Unknown { .. } => {}
        }
    }

    /// The length of the payload [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Status(s) => s.encoded_len(),
            Self::Messages(envs) | Self::P2PMessage(envs) => list_len(envelopes_payload_len(envs)),
            Self::PowRequirement(pow) => pow.to_bits().length(),
            Self::BloomFilter(bloom) => bloom.length(),
            Self::BatchAck(hash) => hash.length(),
            Self::MessageResponse(r) => r.encoded_len(),
            Self::P2PRequest(e) => e.encoded_len(),
            Self::P2PRequestComplete(c) => c.encoded_len(),
            Self::Unknown { .. } => 0,
        }
    }

    /// Decodes the payload of packet `code` (relative to the capability's offset). The whole
    /// payload must be used. Codes 0..128 this protocol does not define decode to
    /// [`WhisperPacket::Unknown`] without reading the payload; codes from 128 are an error.
    pub fn decode(code: u64, payload: &[u8], limits: &PacketLimits) -> Result<Self, PacketError> {
        let own = || match code {
            whisper_codes::STATUS => {
                Some(decode_whole(payload, WhisperStatus::decode_inner).map(Self::Status))
            }
            whisper_codes::POW_REQUIREMENT => {
                Some(decode_pow_requirement(payload).map(Self::PowRequirement))
            }
            whisper_codes::BLOOM_FILTER => {
                Some(decode_bloom_packet(payload).map(Self::BloomFilter))
            }
            _ => None,
        };
        let shared = |p| match p {
            Shared::Messages(e) => Self::Messages(e),
            Shared::BatchAck(h) => Self::BatchAck(h),
            Shared::MessageResponse(r) => Self::MessageResponse(r),
            Shared::P2PRequest(e) => Self::P2PRequest(e),
            Shared::P2PMessage(e) => Self::P2PMessage(e),
            Shared::P2PRequestComplete(c) => Self::P2PRequestComplete(c),
        };
        decode_with(&WHISPER_CODES, code, payload, limits, own, shared, |code| Self::Unknown {
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_response_shape() {
        // 6/WAKU1 `confirmation` with no errors: e4 01 e2 a0<32> c0.
        let r = MessageResponse::new([7; 32], vec![]);
        let mut out = Vec::new();
        r.encode(&mut out);
        let mut want = vec![0xe4, 0x01, 0xe2, 0xa0];
        want.extend_from_slice(&[7; 32]);
        want.push(0xc0);
        assert_eq!(out, want);
        assert_eq!(r.encoded_len(), out.len());
        assert_eq!(MessageResponse::decode(&mut &out[..]).unwrap(), r);
    }

    #[test]
    fn request_complete_string_form() {
        let c = P2PRequestComplete::completed([1; 32], [2; 32], Bytes::from_static(&[3; 36]));
        let mut out = Vec::new();
        c.encode(&mut out);
        assert_eq!(&out[..2], &[0xb8, 100]);
        assert_eq!(out.len(), c.encoded_len());
        assert_eq!(P2PRequestComplete::decode(&mut &out[..]).unwrap(), c);

        let f = P2PRequestComplete::failed([9; 32], "no such topic");
        let mut out = Vec::new();
        f.encode(&mut out);
        assert_eq!(out[0], 0x80 + 51);
        assert_eq!(&out[1..7], b"ERROR=");
        assert_eq!(P2PRequestComplete::decode(&mut &out[..]).unwrap(), f);
    }

    #[test]
    fn count_items_counts_single_bytes() {
        assert_eq!(count_items(&[0x01, 0x80, 0x82, 0xaa, 0xbb, 0xc0]).unwrap(), 4);
        assert!(count_items(&[0x83, 0x01]).is_err());
    }
}
