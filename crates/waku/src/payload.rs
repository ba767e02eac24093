//! Envelope payload encryption: the `data` field of an envelope (7/WAKU-DATA, EIP-627
//! §"Payload Encryption"; IMPLEMENTER-NOTES §3.17; DECISIONS 14).
//!
//! ```text
//! plaintext  = flags(1) || payload_size(flags & 3 bytes, little-endian) || payload || padding
//!              || signature(65, only if flags & 4)
//! symmetric  = AES-256-GCM(key, nonce, plaintext, no AAD) || nonce(12)   (ciphertext || tag || nonce)
//! asymmetric = ECIES(recipient, plaintext, no shared MAC data)           (R || iv || c || mac)
//! ```
//!
//! The signature is `r || s || v` (v in {0, 1}; 27/28 accepted when opening) over
//! keccak256 of everything before it, the signature flag included. Without caller padding the
//! plaintext is padded with random bytes to a multiple of 256 bytes, signature included, exactly
//! as go-ethereum and status-go do it (`appendPadding`): an already aligned message gets 256
//! bytes of padding, never 0.
//!
//! Everything here is a pure function; randomness (padding, GCM nonce, ECIES ephemeral key and
//! IV) comes from [`wisp_crypto::fill_random`] or from a caller-supplied source
//! ([`seal_payload_with`]), so tests can reproduce captured envelopes byte for byte.
//!
//! ```
//! use wisp_crypto::{SecretKey, symmetric_key_from_password};
//! use wisp_waku::payload::{Encryption, MessageParams, OpeningKey, open_payload, seal_payload};
//!
//! # fn main() -> Result<(), wisp_waku::payload::PayloadError> {
//! let key = symmetric_key_from_password("status");
//! let signer = SecretKey::random();
//! let params = MessageParams::new(b"hello".to_vec()).signed_by(signer.clone());
//! let data = seal_payload(&params, &Encryption::Symmetric(key.clone()))?;
//!
//! let opened = open_payload(&data, OpeningKey::Symmetric(&key))?;
//! assert_eq!(&opened.payload[..], b"hello");
//! assert_eq!(opened.signer, Some(signer.public_key()));
//! assert_eq!(opened.plaintext.len() % 256, 0);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use bytes::Bytes;
use wisp_crypto::{
    CryptoError, GCM_NONCE_LEN, GCM_TAG_LEN, PublicKey, RecoverableSignature, SYMMETRIC_KEY_LEN,
    SecretKey, Zeroizing, aes256_gcm_open, aes256_gcm_seal, ecies, fill_random, keccak256,
};

/// Length of the flags byte (EIP-627).
pub const FLAGS_LEN: usize = 1;
/// Bits of the flags byte that give the length of the payload-size field (EIP-627: "first two
/// bits"; go-ethereum `SizeMask`).
pub const SIZE_MASK: u8 = 0x03;
/// Flag bit set when a signature is present (EIP-627: "third bit"; go-ethereum
/// `signatureFlag`).
pub const SIGNATURE_FLAG: u8 = 0x04;
/// Length of the signature, `r || s || v` (EIP-627).
pub const SIGNATURE_LEN: usize = wisp_crypto::SIGNATURE_LEN;
/// Random padding aligns the plaintext to a multiple of this (EIP-627 "factor of 256 bytes";
/// go-ethereum `padSizeLimit`).
pub const PADDING_ALIGNMENT: usize = 256;
/// Largest payload whose size fits the 3 bytes that [`SIZE_MASK`] can describe. go-ethereum
/// would emit a 4-byte field and corrupt the signature flag beyond it; we refuse instead.
pub const MAX_PAYLOAD_LEN: usize = (1 << 24) - 1;
/// Length of the AES-GCM nonce appended to symmetric data (the "salt" of 7/WAKU-DATA, whose
/// ABNF wrongly says 2 bytes; IMPLEMENTER-NOTES §3.17).
pub const AES_NONCE_LEN: usize = GCM_NONCE_LEN;
/// Bytes symmetric encryption adds to the plaintext: GCM tag and nonce.
pub const SYMMETRIC_OVERHEAD: usize = GCM_TAG_LEN + AES_NONCE_LEN;
/// Bytes asymmetric encryption adds to the plaintext: ECIES ephemeral key, IV and MAC.
pub const ASYMMETRIC_OVERHEAD: usize = ecies::OVERHEAD;

/// Why a payload could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The envelope data is shorter than the cipher's fixed overhead.
    #[error("envelope data of {len} bytes is too short: at least {min} bytes needed")]
    DataTooShort {
        /// Length of the data.
        len: usize,
        /// [`SYMMETRIC_OVERHEAD`] or [`ASYMMETRIC_OVERHEAD`].
        min: usize,
    },
    /// AES-GCM authentication failed: wrong key, or tampered data.
    #[error("AES-GCM authentication failed")]
    Gcm(#[source] CryptoError),
    /// ECIES decryption failed: wrong key, bad ephemeral key, or tampered data.
    #[error("ECIES decryption failed")]
    Ecies(#[source] CryptoError),
    /// The decrypted plaintext is too short for its flags (size field, signature).
    #[error("plaintext of {len} bytes is too short for its flags: at least {min} bytes needed")]
    PlaintextTooShort {
        /// Length of the plaintext.
        len: usize,
        /// The minimum its flags require.
        min: usize,
    },
    /// The payload-size field declares more bytes than the plaintext holds.
    #[error("payload size field declares {declared} bytes, only {available} available")]
    BadSizeField {
        /// The size declared.
        declared: usize,
        /// Bytes between the size field and the signature (or the end).
        available: usize,
    },
    /// The signature is malformed or recovers no public key.
    #[error("invalid message signature")]
    BadSignature(#[source] CryptoError),
    /// The payload is too large for the payload-size field.
    #[error("payload of {size} bytes exceeds the maximum of {max}")]
    PayloadTooLarge {
        /// Length of the payload.
        size: usize,
        /// [`MAX_PAYLOAD_LEN`].
        max: usize,
    },
}

/// What to put in the plaintext: payload, padding and an optional signature.
#[derive(Clone, Debug, Default)]
pub struct MessageParams {
    /// The payload (at most [`MAX_PAYLOAD_LEN`] bytes).
    pub payload: Vec<u8>,
    /// Caller padding, used as is, even when it leaves the plaintext unaligned (as statusd
    /// does with `waku_post`'s `padding`). `None`: random padding to a multiple of
    /// [`PADDING_ALIGNMENT`]. Note that status-go treats an *empty* caller padding as absent;
    /// here `Some(vec![])` means "no padding at all", so an RPC layer should map an empty
    /// padding to `None`.
    pub padding: Option<Vec<u8>>,
    /// Signs the message when set (go-ethereum `MessageParams.Src`).
    pub signing_key: Option<SecretKey>,
}

impl MessageParams {
    /// Unsigned, randomly padded parameters for `payload`.
    pub fn new(payload: Vec<u8>) -> Self {
        Self { payload, padding: None, signing_key: None }
    }

    /// Uses `padding` as is instead of random padding.
    pub fn with_padding(mut self, padding: Vec<u8>) -> Self {
        self.padding = Some(padding);
        self
    }

    /// Signs the message with `key`.
    pub fn signed_by(mut self, key: SecretKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// The length of the plaintext these parameters give.
    pub fn plaintext_len(&self) -> usize {
        let signed = self.signing_key.is_some();
        let padding = match &self.padding {
            Some(p) => p.len(),
            None => random_padding_len(self.payload.len(), signed),
        };
        unpadded_len(self.payload.len(), signed) + padding
    }
}

/// How to encrypt a plaintext.
#[derive(Clone)]
pub enum Encryption {
    /// AES-256-GCM with a 32-byte topic key (e.g. [`wisp_crypto::symmetric_key_from_password`]).
    Symmetric(Zeroizing<[u8; SYMMETRIC_KEY_LEN]>),
    /// ECIES to the recipient's public key.
    Asymmetric(PublicKey),
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symmetric(_) => f.write_str("Symmetric(..)"),
            Self::Asymmetric(key) => f.debug_tuple("Asymmetric").field(key).finish(),
        }
    }
}

/// The key to open a payload with.
#[derive(Clone, Copy)]
pub enum OpeningKey<'a> {
    /// The 32-byte AES-256-GCM key.
    Symmetric(&'a [u8; SYMMETRIC_KEY_LEN]),
    /// The recipient's secret key (ECIES).
    Asymmetric(&'a SecretKey),
}

impl fmt::Debug for OpeningKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Symmetric(_) => f.write_str("Symmetric(..)"),
            Self::Asymmetric(key) => f.debug_tuple("Asymmetric").field(key).finish(),
        }
    }
}

/// A decrypted and parsed plaintext. `payload`, `padding` and `plaintext` share one buffer.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenedMessage {
    /// The flags byte as received (other bits than [`SIZE_MASK`] and [`SIGNATURE_FLAG`] are
    /// kept but mean nothing).
    pub flags: u8,
    /// The payload.
    pub payload: Bytes,
    /// The padding (random or caller-chosen; may be empty).
    pub padding: Bytes,
    /// The signature, with `v` normalised to 0/1; `Some` exactly when `flags & 4` is set.
    pub signature: Option<RecoverableSignature>,
    /// The public key the signature recovers to; `Some` exactly when `signature` is.
    pub signer: Option<PublicKey>,
    /// The whole decrypted plaintext.
    pub plaintext: Bytes,
}

impl OpenedMessage {
    /// Whether the message carries a signature.
    pub fn is_signed(&self) -> bool {
        self.flags & SIGNATURE_FLAG != 0
    }

    /// The raw payload-size field (0 to 3 bytes, little-endian).
    pub fn payload_size_field(&self) -> &[u8] {
        let len = usize::from(self.flags & SIZE_MASK);
        // Parsing checked that the plaintext holds the field.
        self.plaintext.get(FLAGS_LEN..FLAGS_LEN + len).unwrap_or_default()
    }
}

impl fmt::Debug for OpenedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lengths only: payloads are private content.
        f.debug_struct("OpenedMessage")
            .field("flags", &self.flags)
            .field("payload_len", &self.payload.len())
            .field("padding_len", &self.padding.len())
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Length of the payload-size field for a payload of `payload_len` bytes: the fewest bytes
/// that hold it, at least 1 (go-ethereum `getSizeOfPayloadSizeField`; an empty payload gets
/// the 1-byte field `00`).
pub fn payload_size_field_len(payload_len: usize) -> usize {
    let mut len = 1;
    let mut rest = payload_len;
    while rest >= 256 {
        len += 1;
        rest /= 256;
    }
    len
}

/// Flags, size field, payload and (if `signed`) signature, without padding.
fn unpadded_len(payload_len: usize, signed: bool) -> usize {
    FLAGS_LEN
        + payload_size_field_len(payload_len)
        + payload_len
        + if signed { SIGNATURE_LEN } else { 0 }
}

/// Length of the random padding for a payload of `payload_len` bytes (go-ethereum and
/// status-go `appendPadding`): `256 - (unpadded % 256)`, so the plaintext including the
/// signature becomes a multiple of 256. Always 1 to 256: an already aligned message gets a full
/// 256 bytes, never 0.
pub fn random_padding_len(payload_len: usize, signed: bool) -> usize {
    PADDING_ALIGNMENT - unpadded_len(payload_len, signed) % PADDING_ALIGNMENT
}

/// Builds the plaintext for `params`. Random padding, when `params.padding` is `None`, comes
/// from `fill`; the signature is deterministic (RFC 6979), so with caller padding the result
/// is too.
pub fn build_plaintext(
    params: &MessageParams,
    mut fill: impl FnMut(&mut [u8]),
) -> Result<Vec<u8>, PayloadError> {
    let payload = &params.payload;
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(PayloadError::PayloadTooLarge { size: payload.len(), max: MAX_PAYLOAD_LEN });
    }
    let field_len = payload_size_field_len(payload.len());
    let signed = params.signing_key.is_some();
    let mut raw = Vec::with_capacity(params.plaintext_len());

    // `field_len` is 1..=3 here, so it never touches the signature flag.
    raw.push(field_len as u8 | if signed { SIGNATURE_FLAG } else { 0 });
    raw.extend_from_slice(&(payload.len() as u32).to_le_bytes()[..field_len]);
    raw.extend_from_slice(payload);
    match &params.padding {
        Some(padding) => raw.extend_from_slice(padding),
        None => {
            let start = raw.len();
            raw.resize(start + random_padding_len(payload.len(), signed), 0);
            fill(&mut raw[start..]);
        }
    }
    if let Some(key) = &params.signing_key {
        // The flag is already set: the signature covers it (go-ethereum `sign`).
        let signature = key.sign_prehash(&keccak256(&raw));
        raw.extend_from_slice(&signature.to_bytes());
    }
    Ok(raw)
}

/// Encrypts `plaintext` with AES-256-GCM under `key` and `nonce`, no AAD:
/// `ciphertext || tag(16) || nonce(12)`. Deterministic; never reuse a nonce with a key outside
/// tests.
pub fn encrypt_symmetric(
    plaintext: &[u8],
    key: &[u8; SYMMETRIC_KEY_LEN],
    nonce: &[u8; AES_NONCE_LEN],
) -> Vec<u8> {
    let mut data = aes256_gcm_seal(key, nonce, plaintext, &[]);
    data.extend_from_slice(nonce);
    data
}

/// Encrypts `plaintext` to `recipient` with ECIES, the given ephemeral key and IV, and no
/// shared MAC data. Deterministic; never reuse an ephemeral key outside tests.
pub fn encrypt_asymmetric(
    plaintext: &[u8],
    recipient: &PublicKey,
    ephemeral: &SecretKey,
    iv: &[u8; ecies::IV_LEN],
) -> Vec<u8> {
    ecies::encrypt_with(recipient, plaintext, &[], ephemeral, iv)
}

/// Builds the plaintext for `params` and encrypts it: the envelope `data`. Randomness from the
/// operating system ([`fill_random`]).
pub fn seal_payload(
    params: &MessageParams,
    encryption: &Encryption,
) -> Result<Vec<u8>, PayloadError> {
    seal_payload_with(params, encryption, fill_random)
}

/// [`seal_payload`] with the random bytes drawn from `fill`, in this order: the padding (only
/// when `params.padding` is `None`), then the GCM nonce (12 bytes), or the ECIES ephemeral key
/// (32 bytes; if they are not a valid secret key, their keccak256 is tried, repeatedly) and
/// IV (16 bytes).
pub fn seal_payload_with(
    params: &MessageParams,
    encryption: &Encryption,
    mut fill: impl FnMut(&mut [u8]),
) -> Result<Vec<u8>, PayloadError> {
    let plaintext = build_plaintext(params, &mut fill)?;
    Ok(match encryption {
        Encryption::Symmetric(key) => {
            let mut nonce = [0u8; AES_NONCE_LEN];
            fill(&mut nonce);
            encrypt_symmetric(&plaintext, key, &nonce)
        }
        Encryption::Asymmetric(recipient) => {
            let mut seed = Zeroizing::new([0u8; 32]);
            fill(&mut seed[..]);
            let ephemeral = loop {
                match SecretKey::from_bytes(&seed[..]) {
                    Ok(key) => break key,
                    // Zero or not below the curve order (probability ~2^-128 for random
                    // bytes); hashing cannot cycle through invalid values in practice.
                    Err(_) => *seed = keccak256(&seed[..]),
                }
            };
            let mut iv = [0u8; ecies::IV_LEN];
            fill(&mut iv);
            encrypt_asymmetric(&plaintext, recipient, &ephemeral, &iv)
        }
    })
}

/// Decrypts symmetric envelope data (`ciphertext || tag || nonce`) to its plaintext.
pub fn decrypt_symmetric(
    data: &[u8],
    key: &[u8; SYMMETRIC_KEY_LEN],
) -> Result<Vec<u8>, PayloadError> {
    match data.split_last_chunk::<AES_NONCE_LEN>() {
        Some((sealed, nonce)) if sealed.len() >= GCM_TAG_LEN => {
            aes256_gcm_open(key, nonce, sealed, &[]).map_err(PayloadError::Gcm)
        }
        _ => Err(PayloadError::DataTooShort { len: data.len(), min: SYMMETRIC_OVERHEAD }),
    }
}

/// Decrypts asymmetric (ECIES) envelope data to its plaintext.
pub fn decrypt_asymmetric(data: &[u8], key: &SecretKey) -> Result<Vec<u8>, PayloadError> {
    if data.len() < ASYMMETRIC_OVERHEAD {
        return Err(PayloadError::DataTooShort { len: data.len(), min: ASYMMETRIC_OVERHEAD });
    }
    ecies::decrypt(key, data, &[]).map_err(PayloadError::Ecies)
}

/// Parses a decrypted plaintext and recovers its signer, with status-go's rules
/// (`ValidateAndParse`): a signed plaintext needs at least 2 bytes before the signature; a
/// size field of length 0 means an empty payload and all the rest padding; the declared size
/// must fit before the signature. 27/28 are accepted for `v` as well as 0/1.
///
/// Never panics; `payload`, `padding` and `plaintext` of the result share the input's buffer.
pub fn parse_plaintext(plaintext: impl Into<Bytes>) -> Result<OpenedMessage, PayloadError> {
    let raw: Bytes = plaintext.into();
    let len = raw.len();
    let Some(&flags) = raw.first() else {
        return Err(PayloadError::PlaintextTooShort { len, min: FLAGS_LEN });
    };
    let field_len = usize::from(flags & SIZE_MASK);
    let signed = flags & SIGNATURE_FLAG != 0;
    let min =
        if signed { FLAGS_LEN + field_len.max(1) + SIGNATURE_LEN } else { FLAGS_LEN + field_len };
    if len < min {
        return Err(PayloadError::PlaintextTooShort { len, min });
    }
    let end = if signed { len - SIGNATURE_LEN } else { len };

    let mut size = [0u8; 4];
    size[..field_len].copy_from_slice(&raw[FLAGS_LEN..FLAGS_LEN + field_len]);
    let declared = u32::from_le_bytes(size) as usize;
    let payload_start = FLAGS_LEN + field_len;
    let available = end - payload_start;
    if declared > available {
        return Err(PayloadError::BadSizeField { declared, available });
    }
    let payload_end = payload_start + declared;

    let (signature, signer) = if signed {
        let signature =
            RecoverableSignature::from_bytes(&raw[end..]).map_err(PayloadError::BadSignature)?;
        let signer =
            signature.recover(&keccak256(&raw[..end])).map_err(PayloadError::BadSignature)?;
        (Some(signature), Some(signer))
    } else {
        (None, None)
    };

    Ok(OpenedMessage {
        flags,
        payload: raw.slice(payload_start..payload_end),
        padding: raw.slice(payload_end..end),
        signature,
        signer,
        plaintext: raw,
    })
}

/// Decrypts envelope `data` with `key` and parses the plaintext.
///
/// Never panics on any input, and allocates no more than the data's length (the plaintext,
/// which the result's fields share).
pub fn open_payload(data: &[u8], key: OpeningKey<'_>) -> Result<OpenedMessage, PayloadError> {
    let plaintext = match key {
        OpeningKey::Symmetric(key) => decrypt_symmetric(data, key)?,
        OpeningKey::Asymmetric(key) => decrypt_asymmetric(data, key)?,
    };
    parse_plaintext(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn no_rng(_: &mut [u8]) {
        panic!("no randomness expected");
    }

    /// go-ethereum `getSizeOfPayloadSizeField`.
    #[test]
    fn size_field_lengths() {
        for (len, field) in
            [(0, 1), (1, 1), (255, 1), (256, 2), (1000, 2), (65_535, 2), (65_536, 3), (70_000, 3)]
        {
            assert_eq!(payload_size_field_len(len), field, "{len}");
        }
        assert_eq!(payload_size_field_len(MAX_PAYLOAD_LEN), 3);
    }

    /// `appendPadding`: the vectors' random paddings (waku/envelopes.json) and the aligned edge.
    #[test]
    fn random_padding_rule() {
        // (payload, signed, padding recorded by statusd)
        for (len, signed, pad) in [
            (35, false, 219),
            (42, true, 147),
            (52, true, 137),
            (45, false, 209),
            (70_000, true, 75),
            (1000, true, 212),
            (1, false, 253),
            (0, false, 254),
        ] {
            assert_eq!(random_padding_len(len, signed), pad, "payload {len}, signed {signed}");
        }
        // Already aligned: a full block of padding, never 0.
        assert_eq!(random_padding_len(254, false), 256);
        assert_eq!(random_padding_len(189, true), 256);
        assert_eq!(random_padding_len(253, false), 1);
        // Around the size-field step: 255 bytes take a 1-byte field, 256 a 2-byte one.
        assert_eq!(random_padding_len(255, false), 255);
        assert_eq!(random_padding_len(256, false), 253);
    }

    #[test]
    fn plaintext_layout() {
        let params = MessageParams::new(vec![0xaa; 3]).with_padding(vec![0xbb; 2]);
        let raw = build_plaintext(&params, no_rng).unwrap();
        assert_eq!(raw, [0x01, 0x03, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb]);
        assert_eq!(params.plaintext_len(), raw.len());

        let params = MessageParams::new(vec![7; 1000]).with_padding(vec![]);
        let raw = build_plaintext(&params, no_rng).unwrap();
        assert_eq!(raw[..3], [0x02, 0xe8, 0x03]);
        assert_eq!(raw.len(), 1003);

        let signer = key(0xa1);
        let params = MessageParams::new(b"x".to_vec()).signed_by(signer.clone());
        let raw = build_plaintext(&params, |b: &mut [u8]| b.fill(0x5a)).unwrap();
        assert_eq!(raw.len(), 256);
        assert_eq!(raw[..3], [0x05, 0x01, b'x']);
        assert!(raw[3..191].iter().all(|&b| b == 0x5a));
        let opened = parse_plaintext(raw.clone()).unwrap();
        assert_eq!(opened.signer, Some(signer.public_key()));
        assert_eq!(opened.signature.unwrap().to_bytes()[..], raw[191..]);
        assert_eq!(&opened.payload[..], b"x");
        assert_eq!(opened.payload_size_field(), [0x01]);
    }

    #[test]
    fn payload_too_large() {
        let params = MessageParams::new(vec![0; MAX_PAYLOAD_LEN + 1]);
        assert_eq!(
            build_plaintext(&params, no_rng),
            Err(PayloadError::PayloadTooLarge { size: MAX_PAYLOAD_LEN + 1, max: MAX_PAYLOAD_LEN })
        );
    }

    /// status-go `ValidateAndParse` edge cases.
    #[test]
    fn parse_rules() {
        let err = |raw: &[u8]| parse_plaintext(raw.to_vec()).unwrap_err();
        assert_eq!(err(&[]), PayloadError::PlaintextTooShort { len: 0, min: 1 });
        // No size field: empty payload, the rest is padding.
        let m = parse_plaintext(vec![0x00, 1, 2]).unwrap();
        assert!(m.payload.is_empty());
        assert_eq!(&m.padding[..], [1, 2]);
        assert_eq!(m.payload_size_field(), [0u8; 0]);
        let m = parse_plaintext(vec![0xf8]).unwrap();
        assert_eq!((m.flags, m.payload.len(), m.padding.len()), (0xf8, 0, 0));
        // Truncated size field.
        assert_eq!(err(&[0x03, 1, 0]), PayloadError::PlaintextTooShort { len: 3, min: 4 });
        // Declared size larger than what follows.
        assert_eq!(err(&[0x01, 3, 1, 2]), PayloadError::BadSizeField { declared: 3, available: 2 });
        assert_eq!(
            err(&[0x03, 0xff, 0xff, 0xff]),
            PayloadError::BadSizeField { declared: 0xff_ffff, available: 0 }
        );
        let m = parse_plaintext(vec![0x02, 2, 0, 9, 9, 8]).unwrap();
        assert_eq!((&m.payload[..], &m.padding[..]), (&[9u8, 9][..], &[8u8][..]));

        // Signed: at least 2 bytes before the signature, whatever the size field.
        assert_eq!(err(&[0x04; 66]), PayloadError::PlaintextTooShort { len: 66, min: 67 });
        assert_eq!(err(&[0x06; 67]), PayloadError::PlaintextTooShort { len: 67, min: 68 });
        // The size field must fit before the signature.
        let mut raw = vec![0x05, 1];
        raw.extend_from_slice(&[0u8; 65]);
        assert_eq!(err(&raw), PayloadError::BadSizeField { declared: 1, available: 0 });
        // A zero signature recovers nothing; v outside {0, 1, 27, 28} is refused.
        raw[1] = 0;
        assert!(matches!(err(&raw), PayloadError::BadSignature(_)));
        raw[66] = 5;
        assert_eq!(err(&raw), PayloadError::BadSignature(CryptoError::InvalidRecoveryId(5)));
    }

    #[test]
    fn legacy_v_accepted() {
        let signer = key(0x42);
        let params =
            MessageParams::new(b"v".to_vec()).with_padding(vec![1, 2]).signed_by(signer.clone());
        let mut raw = build_plaintext(&params, no_rng).unwrap();
        let v = raw[raw.len() - 1];
        assert!(v <= 1);
        *raw.last_mut().unwrap() = v + 27;
        let m = parse_plaintext(raw).unwrap();
        assert_eq!(m.signer, Some(signer.public_key()));
        assert_eq!(m.signature.unwrap().v, v);
    }

    #[test]
    fn short_data() {
        let sym = [1u8; 32];
        let sk = key(0xb2);
        for len in 0..SYMMETRIC_OVERHEAD {
            assert_eq!(
                open_payload(&vec![0; len], OpeningKey::Symmetric(&sym)),
                Err(PayloadError::DataTooShort { len, min: SYMMETRIC_OVERHEAD })
            );
        }
        assert!(matches!(
            open_payload(&[0; SYMMETRIC_OVERHEAD], OpeningKey::Symmetric(&sym)),
            Err(PayloadError::Gcm(_))
        ));
        assert_eq!(
            open_payload(&[0; 112], OpeningKey::Asymmetric(&sk)),
            Err(PayloadError::DataTooShort { len: 112, min: ASYMMETRIC_OVERHEAD })
        );
        assert!(matches!(
            open_payload(&[0; 113], OpeningKey::Asymmetric(&sk)),
            Err(PayloadError::Ecies(_))
        ));
        // An empty plaintext, correctly encrypted, has no flags byte.
        assert_eq!(
            open_payload(&encrypt_symmetric(&[], &sym, &[0; 12]), OpeningKey::Symmetric(&sym)),
            Err(PayloadError::PlaintextTooShort { len: 0, min: 1 })
        );
    }

    #[test]
    fn secrets_not_in_debug() {
        let enc = Encryption::Symmetric(Zeroizing::new([0x5c; 32]));
        assert_eq!(format!("{enc:?}"), "Symmetric(..)");
        let k = [0x5c; 32];
        assert_eq!(format!("{:?}", OpeningKey::Symmetric(&k)), "Symmetric(..)");
    }
}
