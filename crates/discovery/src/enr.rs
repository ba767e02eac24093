//! Ethereum Node Records (EIP-778) with the "v4" identity scheme.
//!
//! Spec: `devp2p/enr.md`. A record is the RLP list `[signature, seq, k1, v1, k2, v2, ...]`
//! of at most [`MAX_RECORD_SIZE`] bytes, its keys sorted and unique. Under "v4" the
//! signature is the 64-byte `r || s` of a secp256k1 signature over keccak256 of the RLP list
//! `[seq, k1, v1, ...]` (the *content*), made by the compressed key in the `secp256k1` entry.
//! The text form is `enr:` followed by the URL-safe base64 of the RLP, without padding.
//!
//! Inputs: bytes or text from the network (DNS trees, rendezvous, discovery), decoded by
//! [`Enr::decode`] / [`str::parse`]; every failure is an [`EnrError`]. Decoding checks the
//! signature, so a decoded [`Enr`] is always authentic. Outputs: records built and signed
//! with [`EnrBuilder`], their bytes and text, the endpoint accessors and the enode form
//! ([`Enr::to_node_record`]).
//!
//! Values are kept as their raw RLP items, so a decoded record re-encodes byte for byte,
//! including entries this module does not know. The entries it knows (`id`, `secp256k1`,
//! `ip`, `ip6`, `tcp`, `udp`, `tcp6`, `udp6`, `waku`) are checked at decode time: a record
//! whose `ip` is not 4 bytes is rejected rather than carried with an unusable address.
//!
//! ## The `waku` entry
//! Neither the devp2p ENR entry registry (`devp2p/enr-entries/`) nor Status's specs define an
//! entry for Waku v1 nodes (the `waku2` bitfield of Waku v2 has other bits and meanings). wisp
//! defines its own: key `waku`, value a one-byte RLP string, a bitfield of the roles
//! [`WakuRoles::RELAY`] (1), [`WakuRoles::MAILSERVER`] (2) and [`WakuRoles::LIGHT`] (4).
//! Unknown bits are kept.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use alloy_rlp::{Decodable, Encodable, Header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use wisp_crypto::{NodeId, PublicKey, RecoverableSignature, SecretKey, keccak256};
use wisp_rlpx::NodeRecord;

/// The largest encoded record (enr.md §RLP Encoding).
pub const MAX_RECORD_SIZE: usize = 300;
/// The prefix of the text form (enr.md §Text Encoding).
pub const ENR_PREFIX: &str = "enr:";
/// The longest text form: the prefix and the unpadded base64 of [`MAX_RECORD_SIZE`] bytes.
pub const MAX_TEXT_LEN: usize = ENR_PREFIX.len() + MAX_RECORD_SIZE.div_ceil(3) * 4;
/// The length of a "v4" signature (`r || s`, enr.md §"v4" Identity Scheme).
pub const V4_SIGNATURE_LEN: usize = 64;

/// Key of the identity scheme's name.
pub const KEY_ID: &[u8] = b"id";
/// Key of the compressed secp256k1 public key (33 bytes).
pub const KEY_SECP256K1: &[u8] = b"secp256k1";
/// Key of the IPv4 address (4 bytes).
pub const KEY_IP: &[u8] = b"ip";
/// Key of the IPv6 address (16 bytes).
pub const KEY_IP6: &[u8] = b"ip6";
/// Key of the TCP port.
pub const KEY_TCP: &[u8] = b"tcp";
/// Key of the UDP port.
pub const KEY_UDP: &[u8] = b"udp";
/// Key of the IPv6-specific TCP port.
pub const KEY_TCP6: &[u8] = b"tcp6";
/// Key of the IPv6-specific UDP port.
pub const KEY_UDP6: &[u8] = b"udp6";
/// Key of wisp's Waku v1 role bitfield (see the module docs).
pub const KEY_WAKU: &[u8] = b"waku";
/// The name of the only identity scheme there is.
pub const ID_V4: &[u8] = b"v4";

/// Half the secp256k1 group order: signatures with a larger `s` are malleated copies, which
/// go-ethereum's `VerifySignature` (and so every geth-based node) rejects.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// What is wrong with a node record. Each variant says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrError {
    /// The record is larger than the spec allows.
    #[error("node record of {size} bytes is larger than the {max}-byte maximum")]
    TooLarge {
        /// The size of the record (or of the text it would decode from).
        size: usize,
        /// [`MAX_RECORD_SIZE`] (or [`MAX_TEXT_LEN`] for text).
        max: usize,
    },
    /// The bytes are not well-formed RLP of the record's shape.
    #[error("node record is not valid RLP: {0} (expected [signature, seq, key, value, ...])")]
    Rlp(&'static str),
    /// Bytes follow the record's RLP list.
    #[error("node record has {0} bytes after its RLP list")]
    TrailingBytes(usize),
    /// The key/value list has a key without a value.
    #[error("node record has a key without a value (the list after seq must hold pairs)")]
    OddPairs,
    /// Keys are not in strictly ascending order (unsorted or repeated).
    #[error("node record key {key:?} is out of order or repeated (keys must be sorted and unique)")]
    KeyOrder {
        /// The offending key, lossily as UTF-8.
        key: String,
    },
    /// The `id` entry is missing.
    #[error("node record has no \"id\" entry (expected \"v4\")")]
    MissingId,
    /// The identity scheme is not "v4".
    #[error("node record identity scheme {0:?} is not supported (expected \"v4\")")]
    UnsupportedScheme(String),
    /// The `secp256k1` entry is missing.
    #[error("node record has no \"secp256k1\" entry (the v4 scheme requires the public key)")]
    MissingPublicKey,
    /// A known entry has a value of the wrong form.
    #[error("node record entry {key:?} is malformed: expected {expected}")]
    BadValue {
        /// The key of the entry.
        key: &'static str,
        /// What its value must be.
        expected: &'static str,
    },
    /// The signature has the wrong length for the v4 scheme.
    #[error("node record signature is {0} bytes (expected 64 for the v4 scheme)")]
    SignatureLength(usize),
    /// The signature was not made by the record's key.
    #[error("node record signature does not verify against its secp256k1 key")]
    BadSignature,
    /// The text form does not start with `enr:`.
    #[error("node record text must start with \"enr:\"")]
    Prefix,
    /// The text after `enr:` is not URL-safe base64 without padding.
    #[error("node record text is not URL-safe base64 without padding: {0}")]
    Base64(String),
    /// The record cannot become an enode URL: it has no IP address or no TCP port.
    #[error("node record has no {0} (an enode URL needs an IP address and a TCP port)")]
    NotDialable(&'static str),
}

impl From<alloy_rlp::Error> for EnrError {
    fn from(e: alloy_rlp::Error) -> Self {
        Self::Rlp(match e {
            alloy_rlp::Error::Overflow => "integer overflow",
            alloy_rlp::Error::LeadingZero => "integer with a leading zero",
            alloy_rlp::Error::InputTooShort => "input too short",
            alloy_rlp::Error::NonCanonicalSingleByte => "non-canonical single byte",
            alloy_rlp::Error::NonCanonicalSize => "non-canonical size",
            alloy_rlp::Error::UnexpectedLength => "unexpected length",
            alloy_rlp::Error::UnexpectedString => "string where a list is expected",
            alloy_rlp::Error::UnexpectedList => "list where a string is expected",
            _ => "malformed item",
        })
    }
}

/// The Waku v1 roles a node announces in its `waku` entry (a one-byte bitfield).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WakuRoles(pub u8);

impl WakuRoles {
    /// Relays envelopes (a full Waku node).
    pub const RELAY: Self = Self(1);
    /// Stores envelopes and serves history (a mailserver).
    pub const MAILSERVER: Self = Self(2);
    /// A light node: does not relay others' envelopes.
    pub const LIGHT: Self = Self(4);

    /// Whether every role of `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for WakuRoles {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// A signed, verified node record.
///
/// Built by [`EnrBuilder`] or decoded (and verified) from bytes or text. `Display` prints the
/// text form; equality is byte equality of the encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Enr {
    /// The full RLP encoding.
    raw: Vec<u8>,
    seq: u64,
    /// Keys with the raw RLP item of their values, sorted by key.
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    public_key: PublicKey,
}

impl Enr {
    /// Decodes and verifies a record from its RLP bytes, which must be exactly one record.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnrError> {
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(EnrError::TooLarge { size: bytes.len(), max: MAX_RECORD_SIZE });
        }
        let mut buf = bytes;
        let header = Header::decode(&mut buf)?;
        if !header.list {
            return Err(EnrError::Rlp("string where a list is expected"));
        }
        let mut body = buf.get(..header.payload_length).ok_or(EnrError::Rlp("input too short"))?;
        let trailing = buf.len() - body.len();
        if trailing != 0 {
            return Err(EnrError::TrailingBytes(trailing));
        }
        let signature = bytes_item(&mut body)?;
        let seq = u64::decode(&mut body)?;
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while !body.is_empty() {
            let key = bytes_item(&mut body)?;
            if body.is_empty() {
                return Err(EnrError::OddPairs);
            }
            let value = raw_item(&mut body)?;
            if pairs.last().is_some_and(|(last, _)| last.as_slice() >= key) {
                return Err(EnrError::KeyOrder { key: String::from_utf8_lossy(key).into_owned() });
            }
            pairs.push((key.to_vec(), value.to_vec()));
        }
        let public_key = check_entries(&pairs)?;
        if signature.len() != V4_SIGNATURE_LEN {
            return Err(EnrError::SignatureLength(signature.len()));
        }
        let hash = keccak256(content(seq, &pairs));
        if !verify_v4(signature, &hash, &public_key) {
            return Err(EnrError::BadSignature);
        }
        Ok(Self { raw: bytes.to_vec(), seq, pairs, public_key })
    }

    /// The RLP encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The text form, `enr:` and the URL-safe base64 of the encoding.
    pub fn to_text(&self) -> String {
        format!("{ENR_PREFIX}{}", URL_SAFE_NO_PAD.encode(&self.raw))
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8] {
        // The list header, then the 64-byte string's 2-byte header.
        let start = self.raw.len() - list_payload_len(&self.raw) + 2;
        &self.raw[start..start + V4_SIGNATURE_LEN]
    }

    /// The raw RLP item of the value under `key`, if present.
    pub fn get_raw(&self, key: &[u8]) -> Option<&[u8]> {
        self.pairs
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .and_then(|i| self.pairs.get(i))
            .map(|(_, v)| v.as_slice())
    }

    /// The keys and raw RLP values, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The node's public key (the `secp256k1` entry).
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The 64-byte devp2p node id (`x || y`) that enode URLs and RLPx use.
    pub fn node_id(&self) -> NodeId {
        self.public_key.node_id()
    }

    /// The v4 node address: keccak256 of `x || y` (what enr.md and discv5 call the node ID).
    pub fn node_address(&self) -> [u8; 32] {
        keccak256(self.public_key.node_id().as_bytes())
    }

    /// The IPv4 address.
    pub fn ip4(&self) -> Option<Ipv4Addr> {
        let bytes: [u8; 4] = self.string_value(KEY_IP)?.try_into().ok()?;
        Some(Ipv4Addr::from(bytes))
    }

    /// The IPv6 address.
    pub fn ip6(&self) -> Option<Ipv6Addr> {
        let bytes: [u8; 16] = self.string_value(KEY_IP6)?.try_into().ok()?;
        Some(Ipv6Addr::from(bytes))
    }

    /// The TCP port.
    pub fn tcp(&self) -> Option<u16> {
        self.port(KEY_TCP)
    }

    /// The UDP port.
    pub fn udp(&self) -> Option<u16> {
        self.port(KEY_UDP)
    }

    /// The IPv6 TCP port: `tcp6`, else `tcp` (enr.md: `tcp` applies to both addresses).
    pub fn tcp6(&self) -> Option<u16> {
        self.port(KEY_TCP6).or_else(|| self.tcp())
    }

    /// The IPv6 UDP port: `udp6`, else `udp`.
    pub fn udp6(&self) -> Option<u16> {
        self.port(KEY_UDP6).or_else(|| self.udp())
    }

    /// The Waku roles of the `waku` entry.
    pub fn waku(&self) -> Option<WakuRoles> {
        match self.string_value(KEY_WAKU)? {
            [bits] => Some(WakuRoles(*bits)),
            _ => None,
        }
    }

    /// The enode form: the IPv4 address with `tcp`/`udp`, else the IPv6 address with
    /// `tcp6`/`udp6`; the UDP port defaults to the TCP port.
    pub fn to_node_record(&self) -> Result<NodeRecord, EnrError> {
        let (address, tcp, udp) = match (self.ip4(), self.ip6()) {
            (Some(ip), _) => (IpAddr::V4(ip), self.tcp(), self.udp()),
            (None, Some(ip)) => (IpAddr::V6(ip), self.tcp6(), self.udp6()),
            (None, None) => return Err(EnrError::NotDialable("IP address")),
        };
        let tcp_port = tcp.ok_or(EnrError::NotDialable("TCP port"))?;
        Ok(NodeRecord { id: self.node_id(), address, tcp_port, udp_port: udp.unwrap_or(tcp_port) })
    }

    /// A string value's payload (checked at decode time for the known keys).
    fn string_value(&self, key: &[u8]) -> Option<&[u8]> {
        let mut raw = self.get_raw(key)?;
        bytes_item(&mut raw).ok()
    }

    fn port(&self, key: &[u8]) -> Option<u16> {
        let mut raw = self.get_raw(key)?;
        u16::decode(&mut raw).ok()
    }
}

impl fmt::Display for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enr")
            .field("seq", &self.seq)
            .field("node_id", &self.node_id())
            .field("ip", &self.ip4())
            .field("tcp", &self.tcp())
            .field("udp", &self.udp())
            .field("waku", &self.waku())
            .finish_non_exhaustive()
    }
}

impl FromStr for Enr {
    type Err = EnrError;

    /// Parses the text form `enr:<base64url>`; surrounding whitespace is not allowed.
    fn from_str(s: &str) -> Result<Self, EnrError> {
        let body = s.strip_prefix(ENR_PREFIX).ok_or(EnrError::Prefix)?;
        if s.len() > MAX_TEXT_LEN {
            return Err(EnrError::TooLarge { size: s.len(), max: MAX_TEXT_LEN });
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|e| EnrError::Base64(e.to_string()))?;
        Self::decode(&bytes)
    }
}

/// Builds and signs a record with the "v4" scheme.
///
/// ```
/// use std::net::Ipv4Addr;
/// use wisp_crypto::SecretKey;
/// use wisp_discovery::enr::{EnrBuilder, WakuRoles};
///
/// let key = SecretKey::random();
/// let enr = EnrBuilder::new(1)
///     .ip4(Ipv4Addr::LOCALHOST)
///     .tcp(30303)
///     .udp(30303)
///     .waku(WakuRoles::RELAY | WakuRoles::MAILSERVER)
///     .sign(&key)
///     .unwrap();
/// assert_eq!(enr.to_node_record().unwrap().tcp_port, 30303);
/// assert_eq!(enr.to_string().parse::<wisp_discovery::enr::Enr>().unwrap(), enr);
/// ```
#[derive(Clone, Debug)]
pub struct EnrBuilder {
    seq: u64,
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl EnrBuilder {
    /// A record with sequence number `seq` and no entries yet (`id` and `secp256k1` are added
    /// when it is signed).
    pub fn new(seq: u64) -> Self {
        Self { seq, pairs: BTreeMap::new() }
    }

    /// Sets the IPv4 address.
    pub fn ip4(self, ip: Ipv4Addr) -> Self {
        self.bytes(KEY_IP, &ip.octets())
    }

    /// Sets the IPv6 address.
    pub fn ip6(self, ip: Ipv6Addr) -> Self {
        self.bytes(KEY_IP6, &ip.octets())
    }

    /// Sets the TCP port.
    pub fn tcp(self, port: u16) -> Self {
        self.raw(KEY_TCP, rlp(&port))
    }

    /// Sets the UDP port.
    pub fn udp(self, port: u16) -> Self {
        self.raw(KEY_UDP, rlp(&port))
    }

    /// Sets the IPv6-specific TCP port.
    pub fn tcp6(self, port: u16) -> Self {
        self.raw(KEY_TCP6, rlp(&port))
    }

    /// Sets the IPv6-specific UDP port.
    pub fn udp6(self, port: u16) -> Self {
        self.raw(KEY_UDP6, rlp(&port))
    }

    /// Sets the Waku roles.
    pub fn waku(self, roles: WakuRoles) -> Self {
        self.bytes(KEY_WAKU, &[roles.0])
    }

    /// Sets `key` to a byte string.
    pub fn bytes(self, key: &[u8], value: &[u8]) -> Self {
        self.raw(key, rlp(&value))
    }

    /// Sets `key` to a raw RLP item (the caller encodes it).
    pub fn raw(mut self, key: &[u8], value: Vec<u8>) -> Self {
        self.pairs.insert(key.to_vec(), value);
        self
    }

    /// Adds `id = "v4"` and the key's `secp256k1` entry, signs, and checks the result as a
    /// decoder would (size limit, the form of known entries).
    pub fn sign(mut self, key: &SecretKey) -> Result<Enr, EnrError> {
        self.pairs.insert(KEY_ID.to_vec(), rlp(&ID_V4));
        self.pairs
            .insert(KEY_SECP256K1.to_vec(), rlp(&key.public_key().to_compressed().as_slice()));
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = self.pairs.into_iter().collect();
        let signature = key.sign_prehash(&keccak256(content(self.seq, &pairs)));
        let mut sig = [0u8; V4_SIGNATURE_LEN];
        sig[..32].copy_from_slice(&signature.r);
        sig[32..].copy_from_slice(&signature.s);
        let mut payload = Vec::new();
        sig.as_slice().encode(&mut payload);
        self.seq.encode(&mut payload);
        for (k, v) in &pairs {
            k.as_slice().encode(&mut payload);
            payload.extend_from_slice(v);
        }
        let mut raw = Vec::with_capacity(payload.len() + 3);
        Header { list: true, payload_length: payload.len() }.encode(&mut raw);
        raw.extend_from_slice(&payload);
        Enr::decode(&raw)
    }
}

/// Verifies a 64-byte `r || s` signature over `hash` against `key`, as go-ethereum's
/// `VerifySignature`: the recovery id is not given, so both are tried; high-s is rejected.
pub(crate) fn verify_v4(signature: &[u8], hash: &[u8; 32], key: &PublicKey) -> bool {
    let (Some(r), Some(s)) = (signature.get(..32), signature.get(32..64)) else {
        return false;
    };
    let (Ok(r), Ok(s)) = (<[u8; 32]>::try_from(r), <[u8; 32]>::try_from(s)) else {
        return false;
    };
    if s > HALF_ORDER {
        return false;
    }
    (0..=1).any(|v| RecoverableSignature { r, s, v }.verify(hash, key))
}

/// The RLP encoding of one value.
fn rlp<T: Encodable + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// The signed content: the RLP list `[seq, k1, v1, ...]`.
fn content(seq: u64, pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut payload = Vec::new();
    seq.encode(&mut payload);
    for (k, v) in pairs {
        k.as_slice().encode(&mut payload);
        payload.extend_from_slice(v);
    }
    let mut out = Vec::with_capacity(payload.len() + 3);
    Header { list: true, payload_length: payload.len() }.encode(&mut out);
    out.extend_from_slice(&payload);
    out
}

/// The payload length of a well-formed RLP list (`raw` was decoded before).
fn list_payload_len(raw: &[u8]) -> usize {
    let mut buf = raw;
    Header::decode(&mut buf).map(|h| h.payload_length).unwrap_or(0)
}

/// Takes one RLP byte string and returns its payload.
fn bytes_item<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], EnrError> {
    let header = Header::decode(buf)?;
    if header.list {
        return Err(EnrError::Rlp("list where a string is expected"));
    }
    take(buf, header.payload_length)
}

/// Takes one RLP item (string or list) and returns it whole, header included.
fn raw_item<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], EnrError> {
    let start = *buf;
    let header = Header::decode(buf)?;
    take(buf, header.payload_length)?;
    let len = start.len() - buf.len();
    start.get(..len).ok_or(EnrError::Rlp("input too short"))
}

fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], EnrError> {
    if buf.len() < len {
        return Err(EnrError::Rlp("input too short"));
    }
    let (item, rest) = buf.split_at(len);
    *buf = rest;
    Ok(item)
}

/// Checks the entries this module knows and returns the record's public key.
fn check_entries(pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<PublicKey, EnrError> {
    let find = |key: &[u8]| {
        pairs
            .binary_search_by(|(k, _)| k.as_slice().cmp(key))
            .ok()
            .and_then(|i| pairs.get(i))
            .map(|(_, v)| v.as_slice())
    };
    let string = |key: &'static str, expected: &'static str| -> Result<Option<&[u8]>, EnrError> {
        let Some(mut raw) = find(key.as_bytes()) else {
            return Ok(None);
        };
        let value = bytes_item(&mut raw).map_err(|_| EnrError::BadValue { key, expected })?;
        Ok(Some(value))
    };
    let id = string("id", "a byte string")?.ok_or(EnrError::MissingId)?;
    if id != ID_V4 {
        return Err(EnrError::UnsupportedScheme(String::from_utf8_lossy(id).into_owned()));
    }
    for (key, len, expected) in [
        ("ip", 4, "4 bytes (an IPv4 address)"),
        ("ip6", 16, "16 bytes (an IPv6 address)"),
        ("waku", 1, "1 byte (a role bitfield)"),
    ] {
        if string(key, expected)?.is_some_and(|v| v.len() != len) {
            return Err(EnrError::BadValue { key, expected });
        }
    }
    for key in ["tcp", "udp", "tcp6", "udp6"] {
        if let Some(mut raw) = find(key.as_bytes()) {
            let expected = "a port (an RLP integer up to 65535)";
            u16::decode(&mut raw).map_err(|_| EnrError::BadValue { key, expected })?;
            if !raw.is_empty() {
                return Err(EnrError::BadValue { key, expected });
            }
        }
    }
    let expected = "33 bytes (a compressed secp256k1 public key)";
    let key = string("secp256k1", expected)?.ok_or(EnrError::MissingPublicKey)?;
    if key.len() != 33 {
        return Err(EnrError::BadValue { key: "secp256k1", expected });
    }
    PublicKey::from_sec1(key).map_err(|_| EnrError::BadValue { key: "secp256k1", expected })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// enr.md §Test Vectors: the example record.
    const EXAMPLE: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
    const EXAMPLE_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

    fn example_key() -> SecretKey {
        SecretKey::from_bytes(&hex::decode(EXAMPLE_KEY).unwrap()).unwrap()
    }

    fn example() -> Enr {
        EXAMPLE.parse().unwrap()
    }

    /// Re-signs arbitrary pairs (for building malformed records that still verify).
    fn signed_raw(seq: u64, pairs: &[(&[u8], Vec<u8>)], key: &SecretKey) -> Vec<u8> {
        let owned: Vec<(Vec<u8>, Vec<u8>)> =
            pairs.iter().map(|(k, v)| (k.to_vec(), v.clone())).collect();
        let sig = key.sign_prehash(&keccak256(content(seq, &owned)));
        let mut payload = Vec::new();
        [sig.r, sig.s].concat().as_slice().encode(&mut payload);
        seq.encode(&mut payload);
        for (k, v) in &owned {
            k.as_slice().encode(&mut payload);
            payload.extend_from_slice(v);
        }
        let mut raw = Vec::new();
        Header { list: true, payload_length: payload.len() }.encode(&mut raw);
        raw.extend_from_slice(&payload);
        raw
    }

    fn base_pairs(key: &SecretKey) -> Vec<(&'static [u8], Vec<u8>)> {
        vec![
            (KEY_ID, rlp(&ID_V4)),
            (KEY_SECP256K1, rlp(&key.public_key().to_compressed().as_slice())),
        ]
    }

    #[test]
    fn enr_md_example_decodes_and_verifies() {
        let enr = example();
        assert_eq!(enr.seq(), 1);
        assert_eq!(enr.ip4(), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(enr.udp(), Some(30303));
        assert_eq!(enr.tcp(), None);
        assert_eq!(enr.waku(), None);
        assert_eq!(
            hex::encode(enr.node_address()),
            "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
        );
        assert_eq!(enr.public_key(), example_key().public_key());
        assert_eq!(
            hex::encode(enr.public_key().to_compressed()),
            "03ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
        );
        assert_eq!(
            hex::encode(enr.signature()),
            "7098ad865b00a582051940cb9cf36836572411a47278783077011599ed5cd16b76f2635f4e234738f30813a89eb9137e3e3df5266e3a1f11df72ecf1145ccb9c"
        );
        let keys: Vec<&[u8]> = enr.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, [&b"id"[..], b"ip", b"secp256k1", b"udp"]);
        assert_eq!(enr.to_string(), EXAMPLE);
    }

    #[test]
    fn enr_md_example_is_reproduced_by_the_builder() {
        // The v4 scheme signs deterministically (RFC 6979), so the same key and content give
        // the spec's record byte for byte.
        let enr =
            EnrBuilder::new(1).ip4(Ipv4Addr::LOCALHOST).udp(30303).sign(&example_key()).unwrap();
        assert_eq!(enr.to_string(), EXAMPLE);
        assert_eq!(enr, example());
    }

    /// The record statusd (status-go v0.79) registers at a rendezvous server, captured on
    /// loopback (team notes, `notes/discovery.md`): node key 0x11 x 32, seq 0, `udp` present
    /// and 0.
    #[test]
    fn statusd_rendezvous_record() {
        let raw = hex::decode("f889b84026ae89be5078f2141786291175f09eafde84dc07c6faeba04c7050f0390bb0e361d2b1d6616bd7cb3ebc1891f72b4cf5aac02d819fc3122d9f300d666faa12ee80826964827634826970847f00000189736563703235366b31a1034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa837463708276618375647080").unwrap();
        let enr = Enr::decode(&raw).unwrap();
        assert_eq!(enr.as_bytes(), raw);
        assert_eq!(enr.seq(), 0);
        assert_eq!(enr.public_key(), SecretKey::from_bytes(&[0x11; 32]).unwrap().public_key());
        assert_eq!(
            (enr.ip4(), enr.tcp(), enr.udp()),
            (Some(Ipv4Addr::LOCALHOST), Some(30305), Some(0))
        );
        let node = enr.to_node_record().unwrap();
        assert_eq!((node.tcp_port, node.udp_port), (30305, 0));
        // Our builder signs the same content to the same bytes (RFC 6979).
        let rebuilt = EnrBuilder::new(0)
            .ip4(Ipv4Addr::LOCALHOST)
            .tcp(30305)
            .udp(0)
            .sign(&SecretKey::from_bytes(&[0x11; 32]).unwrap())
            .unwrap();
        assert_eq!(rebuilt, enr);
    }

    #[test]
    fn not_dialable_without_tcp_port() {
        assert_eq!(example().to_node_record(), Err(EnrError::NotDialable("TCP port")));
        let key = example_key();
        let enr = EnrBuilder::new(3).tcp(1).sign(&key).unwrap();
        assert_eq!(enr.to_node_record(), Err(EnrError::NotDialable("IP address")));
    }

    #[test]
    fn to_node_record_v4_and_v6() {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let enr = EnrBuilder::new(5)
            .ip4(Ipv4Addr::new(127, 0, 0, 9))
            .tcp(30305)
            .waku(WakuRoles::RELAY | WakuRoles::LIGHT)
            .sign(&key)
            .unwrap();
        let node = enr.to_node_record().unwrap();
        assert_eq!(node.id, key.public_key().node_id());
        assert_eq!(node.tcp_addr(), "127.0.0.9:30305".parse().unwrap());
        assert_eq!(node.udp_port, 30305);
        let roles = enr.waku().unwrap();
        assert!(roles.contains(WakuRoles::RELAY) && roles.contains(WakuRoles::LIGHT));
        assert!(!roles.contains(WakuRoles::MAILSERVER));

        let enr =
            EnrBuilder::new(5).ip6(Ipv6Addr::LOCALHOST).tcp(1).tcp6(2).udp6(3).sign(&key).unwrap();
        let node = enr.to_node_record().unwrap();
        assert_eq!(node.address, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!((node.tcp_port, node.udp_port), (2, 3));
    }

    #[test]
    fn tampered_records_are_rejected() {
        let raw = example().as_bytes().to_vec();
        // Flip a byte of the signature, of the content (the ip) and of the key.
        let mut bad = raw.clone();
        bad[10] ^= 1;
        assert_eq!(Enr::decode(&bad), Err(EnrError::BadSignature));
        let ip = raw.windows(4).position(|w| w == [0x7f, 0, 0, 1]).unwrap();
        let mut bad = raw.clone();
        bad[ip + 3] = 2;
        assert_eq!(Enr::decode(&bad), Err(EnrError::BadSignature));
        // Trailing and truncated bytes.
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(Enr::decode(&long), Err(EnrError::TrailingBytes(1)));
        assert_eq!(Enr::decode(&raw[..raw.len() - 1]), Err(EnrError::Rlp("input too short")));
        assert!(Enr::decode(&[]).is_err());
        assert!(Enr::decode(&[0x80]).is_err());
    }

    #[test]
    fn high_s_signature_is_rejected() {
        let enr = example();
        let raw = enr.as_bytes();
        let start = raw.len() - list_payload_len(raw) + 2;
        // s' = n - s verifies mathematically but is a malleated copy.
        let n: [u8; 32] =
            hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                .unwrap()
                .try_into()
                .unwrap();
        let s = &raw[start + 32..start + 64];
        let mut neg = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(s[i]) - borrow;
            borrow = i16::from(d < 0);
            neg[i] = (d + 256 * borrow) as u8;
        }
        let mut bad = raw.to_vec();
        bad[start + 32..start + 64].copy_from_slice(&neg);
        assert_eq!(Enr::decode(&bad), Err(EnrError::BadSignature));
    }

    #[test]
    fn malformed_records_get_typed_errors() {
        let key = example_key();
        let base = base_pairs(&key);
        let with = |extra: &[(&'static [u8], Vec<u8>)]| {
            let mut pairs = base.clone();
            pairs.extend_from_slice(extra);
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            Enr::decode(&signed_raw(1, &pairs, &key))
        };
        assert!(with(&[]).is_ok());
        assert_eq!(
            with(&[(KEY_IP, rlp(&[1u8, 2, 3].as_slice()))]),
            Err(EnrError::BadValue { key: "ip", expected: "4 bytes (an IPv4 address)" })
        );
        assert!(matches!(
            with(&[(KEY_TCP, rlp(&70000u32))]),
            Err(EnrError::BadValue { key: "tcp", .. })
        ));
        assert!(matches!(
            with(&[(KEY_WAKU, rlp(&[1u8, 2].as_slice()))]),
            Err(EnrError::BadValue { key: "waku", .. })
        ));
        // Unsorted and repeated keys.
        let mut unsorted = base.clone();
        unsorted.push((KEY_IP, rlp(&[127u8, 0, 0, 1].as_slice())));
        assert!(matches!(
            Enr::decode(&signed_raw(1, &unsorted, &key)),
            Err(EnrError::KeyOrder { key }) if key == "ip"
        ));
        let mut repeated = base.clone();
        repeated.insert(1, (KEY_ID, rlp(&ID_V4)));
        assert!(matches!(
            Enr::decode(&signed_raw(1, &repeated, &key)),
            Err(EnrError::KeyOrder { .. })
        ));
        // Other schemes, no id, no key.
        let v5 = [(KEY_ID, rlp(&b"v5".as_slice()))];
        assert_eq!(
            Enr::decode(&signed_raw(1, &v5, &key)),
            Err(EnrError::UnsupportedScheme("v5".into()))
        );
        assert_eq!(Enr::decode(&signed_raw(1, &base[1..], &key)), Err(EnrError::MissingId));
        assert_eq!(Enr::decode(&signed_raw(1, &base[..1], &key)), Err(EnrError::MissingPublicKey));
        // Signed by another key.
        let other = SecretKey::from_bytes(&[9; 32]).unwrap();
        assert_eq!(Enr::decode(&signed_raw(1, &base, &other)), Err(EnrError::BadSignature));
    }

    #[test]
    fn size_limit_is_enforced() {
        let key = example_key();
        let big = EnrBuilder::new(1).bytes(b"z", &[0u8; 150]).sign(&key).unwrap();
        assert!(big.as_bytes().len() <= MAX_RECORD_SIZE);
        let too_big = EnrBuilder::new(1).bytes(b"z", &[0u8; 260]).sign(&key);
        assert!(matches!(too_big, Err(EnrError::TooLarge { max: MAX_RECORD_SIZE, .. })));
        let text = format!("enr:{}", "A".repeat(MAX_TEXT_LEN));
        assert!(matches!(text.parse::<Enr>(), Err(EnrError::TooLarge { .. })));
    }

    #[test]
    fn text_errors() {
        assert_eq!("enode://x".parse::<Enr>(), Err(EnrError::Prefix));
        assert!(matches!("enr:!!".parse::<Enr>(), Err(EnrError::Base64(_))));
        let padded = format!("{EXAMPLE}=");
        assert!(matches!(padded.parse::<Enr>(), Err(EnrError::Base64(_))));
    }

    proptest! {
        #[test]
        fn build_decode_round_trip(
            seed in any::<[u8; 32]>(),
            seq in any::<u64>(),
            ip in any::<[u8; 4]>(),
            tcp in any::<u16>(),
            udp in proptest::option::of(any::<u16>()),
            roles in any::<u8>(),
            extra in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let Ok(key) = SecretKey::from_bytes(&seed) else { return Ok(()) };
            let mut builder = EnrBuilder::new(seq)
                .ip4(Ipv4Addr::from(ip))
                .tcp(tcp)
                .waku(WakuRoles(roles))
                .bytes(b"x-extra", &extra);
            if let Some(udp) = udp {
                builder = builder.udp(udp);
            }
            let enr = builder.sign(&key).unwrap();
            let decoded = Enr::decode(enr.as_bytes()).unwrap();
            prop_assert_eq!(&decoded, &enr);
            prop_assert_eq!(decoded.to_text().parse::<Enr>().unwrap(), enr.clone());
            prop_assert_eq!(decoded.seq(), seq);
            prop_assert_eq!(decoded.tcp(), Some(tcp));
            prop_assert_eq!(decoded.udp(), udp);
            prop_assert_eq!(decoded.waku(), Some(WakuRoles(roles)));
            prop_assert_eq!(decoded.get_raw(b"x-extra").map(<[u8]>::to_vec), Some(rlp(&extra.as_slice())));
            let node = decoded.to_node_record().unwrap();
            prop_assert_eq!(node.udp_port, udp.unwrap_or(tcp));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Enr::decode(&bytes);
        }
    }
}
