//! Reading the envelopes of a Messages packet without decoding them: the simulator counts
//! the copies a node receives and remembers what each link carried, by a cheap 64-bit
//! fingerprint of each envelope's bytes. The bytes may come from a simulated hostile node,
//! so every malformed input is a typed error, and nothing is allocated.

/// Why a payload is not an RLP list of RLP items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The payload ended inside a header or an item.
    #[error("packet truncated at byte {at}: expected {needed} more bytes")]
    Truncated {
        /// Offset of the header or item that does not fit.
        at: usize,
        /// Bytes it needs beyond the end.
        needed: usize,
    },
    /// The outer item is a string, not a list of envelopes.
    #[error("packet payload is an RLP string, expected a list of envelopes")]
    NotAList,
    /// A length of length over 8 bytes.
    #[error("RLP length of length {0} at byte {1}, expected at most 8")]
    LengthTooLong(usize, usize),
    /// Bytes after the outer list.
    #[error("{0} bytes after the envelope list, expected none")]
    Trailing(usize),
}

/// Header of the RLP item at `buf[at..]`: (is list, header length, payload length).
fn header(buf: &[u8], at: usize) -> Result<(bool, usize, usize), SplitError> {
    let truncated = |needed: usize| SplitError::Truncated { at, needed };
    let b = *buf.get(at).ok_or(truncated(1))?;
    let long = |lol: usize, list: bool| -> Result<(bool, usize, usize), SplitError> {
        if lol > 8 {
            return Err(SplitError::LengthTooLong(lol, at));
        }
        let bytes = buf.get(at + 1..at + 1 + lol).ok_or(truncated(lol))?;
        let len = bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        Ok((list, 1 + lol, usize::try_from(len).unwrap_or(usize::MAX)))
    };
    match b {
        0x00..=0x7f => Ok((false, 0, 1)),
        0x80..=0xb7 => Ok((false, 1, usize::from(b - 0x80))),
        0xb8..=0xbf => long(usize::from(b - 0xb7), false),
        0xc0..=0xf7 => Ok((true, 1, usize::from(b - 0xc0))),
        0xf8..=0xff => long(usize::from(b - 0xf7), true),
    }
}

/// Calls `each` with every item (header included) of the RLP list `payload`; returns how
/// many there were.
pub fn for_each_item(payload: &[u8], mut each: impl FnMut(&[u8])) -> Result<usize, SplitError> {
    let (list, h, len) = header(payload, 0)?;
    if !list {
        return Err(SplitError::NotAList);
    }
    let end = h.checked_add(len).filter(|&e| e <= payload.len()).ok_or(SplitError::Truncated {
        at: 0,
        needed: h.saturating_add(len).saturating_sub(payload.len()),
    })?;
    if end < payload.len() {
        return Err(SplitError::Trailing(payload.len() - end));
    }
    let mut at = h;
    let mut count = 0;
    while at < end {
        let (_, ih, ilen) = header(payload, at)?;
        let item_end = at.checked_add(ih).and_then(|x| x.checked_add(ilen));
        let item = item_end
            .and_then(|e| (e <= end).then(|| payload.get(at..e)).flatten())
            .ok_or(SplitError::Truncated { at, needed: ih.saturating_add(ilen) })?;
        each(item);
        at += item.len();
        count += 1;
    }
    Ok(count)
}

/// The expiry (the first field) of an encoded envelope, if it reads as one.
pub fn envelope_expiry(item: &[u8]) -> Option<u32> {
    let (list, h, _) = header(item, 0).ok()?;
    if !list {
        return None;
    }
    let (is_list, fh, flen) = header(item, h).ok()?;
    if is_list || flen > 4 {
        return None;
    }
    if fh == 0 {
        return item.get(h).map(|&b| u32::from(b));
    }
    let bytes = item.get(h + fh..h + fh + flen)?;
    Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// A cheap 64-bit fingerprint of bytes (not cryptographic: it tells the simulator's own
/// envelopes apart).
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    crate::mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_list_and_refuses_garbage() {
        // [ "ab", [1, 2], 0x05 ]
        let p = [0xc7, 0x82, b'a', b'b', 0xc2, 0x01, 0x02, 0x05];
        let mut items = Vec::new();
        assert_eq!(for_each_item(&p, |i| items.push(i.to_vec())), Ok(3));
        assert_eq!(items, vec![vec![0x82, b'a', b'b'], vec![0xc2, 1, 2], vec![5]]);
        assert_eq!(for_each_item(&[0x82, 1, 2], |_| {}), Err(SplitError::NotAList));
        assert!(matches!(
            for_each_item(&[0xc3, 0x82, 1], |_| {}),
            Err(SplitError::Truncated { .. })
        ));
        assert!(matches!(
            for_each_item(&[0xc2, 0x83, 1], |_| {}),
            Err(SplitError::Truncated { .. })
        ));
        assert_eq!(for_each_item(&[0xc0, 0], |_| {}), Err(SplitError::Trailing(1)));
        assert!(for_each_item(&[], |_| {}).is_err());
        assert!(matches!(
            for_each_item(&[0xff, 1], |_| {}),
            Err(SplitError::LengthTooLong(8, 0)) | Err(SplitError::Truncated { .. })
        ));
    }

    #[test]
    fn reads_the_expiry() {
        let env = wisp_waku::Envelope {
            expiry: 1_700_000_300,
            ttl: 300,
            topic: wisp_waku::Topic([1, 2, 3, 4]),
            data: bytes::Bytes::from_static(b"hello"),
            nonce: 7,
        };
        let mut payload = Vec::new();
        wisp_waku::WakuPacket::Messages(vec![env.clone(), env]).encode(&mut payload);
        let mut expiries = Vec::new();
        assert_eq!(for_each_item(&payload, |i| expiries.push(envelope_expiry(i))), Ok(2));
        assert_eq!(expiries, vec![Some(1_700_000_300); 2]);
        assert_eq!(envelope_expiry(&[0x05]), None);
        assert_eq!(envelope_expiry(&[0xc1, 0x05]), Some(5));
        assert_eq!(envelope_expiry(&[0xc2, 0x81]), None);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::Rng::new(1);
        for _ in 0..20_000 {
            let len = rng.below(40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let _ = for_each_item(&bytes, |i| {
                assert!(i.len() <= bytes.len());
                let _ = envelope_expiry(i);
            });
        }
    }
}
