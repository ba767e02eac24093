//! The JSON shapes of the API (9/WAKU-RPC §Objects, as status-go's `waku/api.go`) and the
//! decoding of parameters, with errors that name the parameter and what is wrong with it.
//!
//! Input objects are read field by field from the JSON (not through `serde` derives), so that
//! a wrong type says which field it is in. Unknown fields are ignored and `null` means absent,
//! as Go's `encoding/json` does; an empty string is absent too (status-go tests `len(x) > 0`).
//!
//! Bytes: outputs are `0x`-hex. Inputs are `0x`-hex; `payload`, `padding`, `pubKey` and a
//! criteria `sig` without the prefix are read as padded standard base64, because status-go's
//! Waku API used base64 there (its vectors' `waku_post_params` do). A string that is both valid
//! hex and valid base64 (`"deadbeef"`) is therefore base64 unless it starts with `0x`; one that
//! is neither is an error naming the field.

use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};
use wisp_crypto::{PublicKey, Zeroizing};
use wisp_waku::{ReceivedMessage, TOPIC_LEN, Topic};

use super::error::RpcError;

/// A method's positional parameters.
#[derive(Debug)]
pub(crate) struct Args(Vec<Value>);

impl Args {
    /// Reads the `params` array (absent or `null` is no parameters), refusing more than `max`.
    pub(crate) fn parse(raw: Option<&str>, max: usize) -> Result<Self, RpcError> {
        let values = match raw {
            None => Vec::new(),
            Some(raw) => match serde_json::from_str::<Value>(raw) {
                Ok(Value::Array(values)) => values,
                Ok(Value::Null) => Vec::new(),
                Ok(_) => {
                    return Err(RpcError::Params(
                        "params must be an array of positional parameters".into(),
                    ));
                }
                Err(e) => return Err(RpcError::Params(format!("params are not valid JSON: {e}"))),
            },
        };
        if values.len() > max {
            return Err(RpcError::Params(format!(
                "too many parameters: want at most {max}, got {}",
                values.len()
            )));
        }
        Ok(Self(values))
    }

    /// Parameter `index` (0-based), `None` when absent or `null`.
    pub(crate) fn opt(&self, index: usize) -> Option<&Value> {
        self.0.get(index).filter(|v| !v.is_null())
    }

    /// Parameter `index`, which must be present; `what` names it in errors.
    pub(crate) fn required(&self, index: usize, what: &str) -> Result<&Value, RpcError> {
        self.opt(index)
            .ok_or_else(|| RpcError::Params(format!("missing parameter {}: {what}", index + 1)))
    }

    /// A required string parameter.
    pub(crate) fn string(&self, index: usize, what: &str) -> Result<&str, RpcError> {
        self.required(index, what)?.as_str().ok_or_else(|| {
            RpcError::Params(format!("parameter {} ({what}) must be a string", index + 1))
        })
    }

    /// A required number parameter.
    pub(crate) fn number(&self, index: usize, what: &str) -> Result<f64, RpcError> {
        self.required(index, what)?.as_f64().ok_or_else(|| {
            RpcError::Params(format!("parameter {} ({what}) must be a number", index + 1))
        })
    }

    /// A required non-negative integer parameter.
    pub(crate) fn uint(&self, index: usize, what: &str) -> Result<u64, RpcError> {
        self.required(index, what)?.as_u64().ok_or_else(|| {
            RpcError::Params(format!(
                "parameter {} ({what}) must be a non-negative integer",
                index + 1
            ))
        })
    }

    /// A required object parameter.
    pub(crate) fn object(&self, index: usize, what: &'static str) -> Result<Fields<'_>, RpcError> {
        match self.required(index, what)? {
            Value::Object(map) => Ok(Fields { map, what }),
            _ => {
                Err(RpcError::Params(format!("parameter {} ({what}) must be an object", index + 1)))
            }
        }
    }
}

/// The fields of an object parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &str) -> RpcError {
        RpcError::Params(format!("{}.{key} must be {expected}", self.what))
    }

    /// A string field; absent, `null` and `""` are `None`.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, RpcError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    /// A `u32` field.
    pub(crate) fn u32(&self, key: &str) -> Result<Option<u32>, RpcError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer from 0 to 4294967295")),
        }
    }

    /// A number field.
    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, RpcError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.wrong(key, "a number")),
        }
    }

    /// A boolean field.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, RpcError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| self.wrong(key, "true or false")),
        }
    }

    /// An array-of-strings field.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<&'a str>, RpcError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| self.wrong(key, "an array of strings")))
                .collect(),
            Some(_) => Err(self.wrong(key, "an array of strings")),
        }
    }

    /// The name of field `key` for error messages, e.g. `NewMessage.payload`.
    pub(crate) fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.what)
    }
}

/// Decodes `0x`-prefixed hex. Without the prefix the string is read as padded standard
/// base64 when `base64_ok` (status-go's encoding of `[]byte`), as hex otherwise.
///
/// With `base64_ok`, a string that is valid base64 is base64 even when it also looks like hex
/// (`"deadbeef"` is 6 bytes, not 4): that is what status-go's clients mean by it. A string
/// that is neither `0x`-hex nor padded base64 is an error naming the field; when it is made
/// of hex digits the error says to add the `0x` prefix.
pub(crate) fn decode_bytes(field: &str, s: &str, base64_ok: bool) -> Result<Vec<u8>, RpcError> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => decode_hex(field, h),
        None if base64_ok => base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| {
            let hint = if s.bytes().all(|b| b.is_ascii_hexdigit()) {
                "; it looks like hex: write hex with the 0x prefix"
            } else {
                ""
            };
            RpcError::BadBase64 { field: field.to_owned(), detail: format!("{e}{hint}") }
        }),
        None => decode_hex(field, s),
    }
}

fn decode_hex(field: &str, h: &str) -> Result<Vec<u8>, RpcError> {
    if let Some((index, c)) = h.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(RpcError::BadHex {
            field: field.to_owned(),
            detail: format!("{c:?} at position {index} is not a hex digit"),
        });
    }
    if !h.len().is_multiple_of(2) {
        return Err(RpcError::BadHex {
            field: field.to_owned(),
            detail: format!("odd number of hex digits ({})", h.len()),
        });
    }
    hex::decode(h).map_err(|e| RpcError::BadHex { field: field.to_owned(), detail: e.to_string() })
}

/// Decodes exactly `N` bytes of hex (`0x` optional).
pub(crate) fn decode_fixed<const N: usize>(
    field: &str,
    s: &str,
) -> Result<Zeroizing<[u8; N]>, RpcError> {
    let bytes = Zeroizing::new(decode_bytes(field, s, false)?);
    let mut out = Zeroizing::new([0u8; N]);
    if bytes.len() != N {
        return Err(RpcError::WrongLength {
            field: field.to_owned(),
            expected: N,
            got: bytes.len(),
        });
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Decodes a 4-byte topic (`0x` optional).
pub(crate) fn decode_topic(field: &str, s: &str) -> Result<Topic, RpcError> {
    let bytes = decode_bytes(field, s, false)?;
    let topic: [u8; TOPIC_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| RpcError::TopicLength { field: field.to_owned(), got: bytes.len() })?;
    Ok(Topic(topic))
}

/// Decodes a public key (hex or base64; 65 bytes uncompressed or 33 compressed).
pub(crate) fn decode_public_key(field: &str, s: &str) -> Result<PublicKey, RpcError> {
    let bytes = decode_bytes(field, s, true)?;
    PublicKey::from_sec1(&bytes)
        .map_err(|e| RpcError::BadPublicKey { field: field.to_owned(), detail: e.to_string() })
}

/// `0x`-hex of `bytes`.
pub(crate) fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A secret as `0x`-hex, wiped from memory when dropped (the response bytes are not).
#[derive(Clone)]
pub(crate) struct SecretHex(Zeroizing<String>);

impl SecretHex {
    /// The hex of `bytes`.
    pub(crate) fn new(bytes: &[u8]) -> Self {
        let mut s = Zeroizing::new(String::with_capacity(2 + 2 * bytes.len()));
        s.push_str("0x");
        for b in bytes {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        Self(s)
    }
}

impl Serialize for SecretHex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A decrypted message (9/WAKU-RPC §Message; status-go `waku.Message`). `sig` and
/// `recipientPublicKey` are left out when absent and `bool` (status-go's name for the P2P
/// flag) when false, as status-go's `omitempty` does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Message {
    /// The signer's 65-byte public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sig: Option<String>,
    /// Our public key, for asymmetric messages.
    #[serde(rename = "recipientPublicKey", skip_serializing_if = "Option::is_none")]
    pub(crate) recipient_public_key: Option<String>,
    /// Time to live, seconds.
    pub(crate) ttl: u32,
    /// When it was sent (`expiry - ttl`), Unix seconds.
    pub(crate) timestamp: u32,
    /// The topic.
    pub(crate) topic: String,
    /// The payload.
    pub(crate) payload: String,
    /// The padding.
    pub(crate) padding: String,
    /// The envelope's PoW.
    pub(crate) pow: f64,
    /// The envelope hash.
    pub(crate) hash: String,
    /// Delivered directly by a trusted peer (mailserver).
    #[serde(rename = "bool", skip_serializing_if = "std::ops::Not::not")]
    pub(crate) p2p: bool,
}

impl From<&ReceivedMessage> for Message {
    fn from(m: &ReceivedMessage) -> Self {
        Self {
            sig: m.signer.map(|k| to_hex(k.to_uncompressed())),
            recipient_public_key: m.recipient.map(|k| to_hex(k.to_uncompressed())),
            ttl: m.ttl,
            timestamp: m.timestamp,
            topic: m.topic.to_string(),
            payload: to_hex(&m.payload),
            padding: to_hex(&m.padding),
            pow: m.pow,
            hash: to_hex(m.hash),
            p2p: m.p2p,
        }
    }
}

/// `waku_info` (status-go `waku.Info`; the shape of the vectors' `receiver_waku_info`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Info {
    /// Envelopes in the pool.
    pub(crate) messages: usize,
    /// The minimum PoW accepted.
    pub(crate) min_pow: f64,
    /// The largest envelope accepted, bytes.
    pub(crate) max_message_size: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decode_hex_and_base64() {
        assert_eq!(decode_bytes("p", "0x0102ff", true).unwrap(), [1, 2, 255]);
        assert_eq!(decode_bytes("p", "0x", true).unwrap(), Vec::<u8>::new());
        assert_eq!(decode_bytes("p", "AQL/", true).unwrap(), [1, 2, 255]);
        assert_eq!(decode_bytes("p", "0102ff", false).unwrap(), [1, 2, 255]);
        let e = decode_bytes("payload", "0x0g", true).unwrap_err().to_string();
        assert!(e.contains("payload") && e.contains("'g'"), "{e}");
        let e = decode_bytes("payload", "0x012", true).unwrap_err().to_string();
        assert!(e.contains("odd number"), "{e}");
        let e = decode_bytes("payload", "not base64!", true).unwrap_err().to_string();
        assert!(e.contains("base64"), "{e}");
    }

    #[test]
    fn unprefixed_bytes_are_padded_base64_or_an_error_naming_the_field() {
        // Valid base64 that also looks like hex is base64 (status-go's []byte encoding).
        assert_eq!(
            decode_bytes("NewMessage.payload", "deadbeef", true).unwrap(),
            [0x75, 0xe6, 0x9d, 0x6d, 0xe7, 0x9f]
        );
        assert_eq!(decode_bytes("p", "0xdeadbeef", true).unwrap(), [0xde, 0xad, 0xbe, 0xef]);
        // Hex digits that are not base64: the field, both forms, and the fix.
        // (An unprefixed 65-byte public key is 130 hex digits: not a base64 length.)
        let key = format!("04{}", "ab".repeat(64));
        for hexish in ["abc", "0102ff", &key] {
            let e = decode_bytes("NewMessage.pubKey", hexish, true).unwrap_err().to_string();
            assert!(e.starts_with("NewMessage.pubKey: not 0x-prefixed hex, and not"), "{e}");
            assert!(e.ends_with("it looks like hex: write hex with the 0x prefix"), "{e}");
        }
        // Neither: unpadded, URL-safe, spaces.
        for bad in ["AQL", "AQ-_", " AQL/", "AQL/\n"] {
            let e = decode_bytes("NewMessage.padding", bad, true).unwrap_err().to_string();
            assert!(e.starts_with("NewMessage.padding: not 0x-prefixed hex"), "{bad:?}: {e}");
            assert!(e.contains("padded standard base64"), "{bad:?}: {e}");
            assert!(!e.contains("looks like hex"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn vector_post_params_decode() {
        // `waku_post_params` of shared/vectors/waku/envelopes.json (asym_signed): base64 pubKey.
        let key = decode_public_key(
            "pubKey",
            "BGqj2ptcHWGVYHbLMBT/2qCZa6za4pukuJ45tAiPhux4liDNLi6Okbdg0QRV+Jn8jjLK5GkA3Za8oQiDQNj6Ny0=",
        )
        .unwrap();
        assert_eq!(
            hex::encode(key.to_uncompressed()),
            "046aa3da9b5c1d61956076cb3014ffdaa0996bacdae29ba4b89e39b4088f86ec789620cd2e2e8e91b760d10455f899fc8e32cae46900dd96bca1088340d8fa372d"
        );
        assert_eq!(decode_bytes("padding", "7u7u7u7u7u7u7u7u7u7u7g==", true).unwrap(), [0xee; 16]);
        assert_eq!(decode_topic("topic", "0x12345678").unwrap(), Topic([0x12, 0x34, 0x56, 0x78]));
        assert!(matches!(
            decode_topic("topic", "0x123456"),
            Err(RpcError::TopicLength { got: 3, .. })
        ));
    }

    #[test]
    fn message_shape_matches_status_go() {
        let m = Message {
            sig: None,
            recipient_public_key: None,
            ttl: 60,
            timestamp: 1795315573,
            topic: "0x5c5c5c5c".into(),
            payload: "0x01".into(),
            padding: "0x".into(),
            pow: 0.5,
            hash: "0xaa".into(),
            p2p: false,
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"ttl": 60, "timestamp": 1795315573, "topic": "0x5c5c5c5c",
                "payload": "0x01", "padding": "0x", "pow": 0.5, "hash": "0xaa"})
        );
        assert_eq!(SecretHex::new(&[0xab, 0x01]).0.as_str(), "0xab01");
    }

    #[test]
    fn args_count_and_types() {
        assert!(Args::parse(Some("[1, 2]"), 1).is_err());
        assert!(Args::parse(Some("{}"), 1).is_err());
        let a = Args::parse(Some("[\"x\", null]"), 2).unwrap();
        assert_eq!(a.string(0, "id").unwrap(), "x");
        assert!(a.required(1, "criteria").is_err());
        assert!(a.number(0, "pow").is_err());
        assert!(Args::parse(None, 0).unwrap().opt(0).is_none());
    }
}
