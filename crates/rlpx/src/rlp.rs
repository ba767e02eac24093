//! Small RLP helpers over `alloy-rlp` for the hand-written codecs of this crate: lists whose
//! trailing extra elements must be ignored (EIP-8), and heterogeneous lists.

use alloy_rlp::{BufMut, Decodable, Encodable, Header};

/// Splits the next RLP list off `buf` and returns its payload.
pub(crate) fn list_payload<'a>(buf: &mut &'a [u8]) -> alloy_rlp::Result<&'a [u8]> {
    Header::decode_bytes(buf, true)
}

/// Decodes the next item of a list payload as `T`.
pub(crate) fn item<T: Decodable>(payload: &mut &[u8]) -> alloy_rlp::Result<T> {
    T::decode(payload)
}

/// Decodes the next RLP string of exactly `N` bytes.
pub(crate) fn fixed<const N: usize>(payload: &mut &[u8]) -> alloy_rlp::Result<[u8; N]> {
    let bytes = Header::decode_bytes(payload, false)?;
    bytes.try_into().map_err(|_| alloy_rlp::Error::UnexpectedLength)
}

/// Encodes `items` as one RLP list.
pub(crate) fn encode_list(items: &[&dyn Encodable], out: &mut dyn BufMut) {
    let payload_length = items.iter().map(|i| i.length()).sum();
    Header { list: true, payload_length }.encode(out);
    for i in items {
        i.encode(out);
    }
}

/// The length of `items` encoded as one RLP list.
pub(crate) fn list_length(items: &[&dyn Encodable]) -> usize {
    let payload_length = items.iter().map(|i| i.length()).sum();
    alloy_rlp::length_of_length(payload_length) + payload_length
}
