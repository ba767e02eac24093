//! Fuzzes `Envelope::decode_with_limit`. Decoding is canonical, so an envelope that decodes
//! re-encodes (`to_rlp`) to exactly the bytes it consumed, `encoded_len` is their number, and
//! a limit one byte smaller refuses it as too big before reading it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_waku::{DEFAULT_MAX_ENVELOPE_SIZE, Envelope, EnvelopeError};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Ok(env) = Envelope::decode_with_limit(&mut rest, DEFAULT_MAX_ENVELOPE_SIZE) else {
        return;
    };
    let consumed = &data[..data.len() - rest.len()];
    assert_eq!(env.to_rlp(), consumed, "re-encoding of {env:?}");
    assert_eq!(env.encoded_len(), consumed.len());

    let mut again = consumed;
    assert_eq!(Envelope::decode(&mut again).as_ref(), Ok(&env));
    assert!(again.is_empty());

    let max = consumed.len() - 1;
    assert_eq!(
        Envelope::decode_with_limit(&mut &consumed[..], max),
        Err(EnvelopeError::TooBig { size: consumed.len(), max })
    );
});
