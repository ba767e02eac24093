//! AES: CTR mode (ECIES, RLPx frames), single-block encryption (RLPx MAC) and AES-256-GCM
//! (Waku/Whisper symmetric envelopes, Status DH-mode messages).

use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128, Aes256};
use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Payload};

use crate::error::{CryptoError, Result};

/// AES-128 in CTR mode with a big-endian 128-bit counter (Go's `cipher.NewCTR`).
type Aes128Ctr = ctr::Ctr128BE<Aes128>;
/// AES-256 in CTR mode with a big-endian 128-bit counter (Go's `cipher.NewCTR`).
type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Length of an AES-GCM nonce as Waku uses it.
pub const GCM_NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const GCM_TAG_LEN: usize = 16;

/// Encrypts or decrypts `data` in place with AES-128-CTR, `iv` being the initial counter block
/// (incremented as one big-endian 128-bit integer, as Go's `cipher.NewCTR`).
pub fn aes128_ctr_apply(key: &[u8; 16], iv: &[u8; 16], data: &mut [u8]) {
    Aes128Ctr::new(key.into(), iv.into()).apply_keystream(data);
}

/// Encrypts or decrypts `data` in place with AES-256-CTR, `iv` being the initial counter block
/// (incremented as one big-endian 128-bit integer, as Go's `cipher.NewCTR`).
pub fn aes256_ctr_apply(key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
    Aes256Ctr::new(key.into(), iv.into()).apply_keystream(data);
}

/// An AES-256-CTR keystream that keeps its position across calls: applying it to `a` then `b`
/// equals applying it once to `a || b`. RLPx uses one per direction for its frames.
///
/// The key schedule and counter state are wiped on drop.
pub struct Aes256CtrStream {
    cipher: Aes256Ctr,
}

impl Aes256CtrStream {
    /// A stream at position 0 with `key` and initial counter block `iv`.
    pub fn new(key: &[u8; 32], iv: &[u8; 16]) -> Self {
        Self { cipher: Aes256Ctr::new(key.into(), iv.into()) }
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encrypts or decrypts in place).
    pub fn apply(&mut self, data: &mut [u8]) {
        self.cipher.apply_keystream(data);
    }
}

impl std::fmt::Debug for Aes256CtrStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aes256CtrStream(..)")
    }
}

/// AES-256 as a block cipher: single-block (ECB) encryption, used by the RLPx frame MAC.
///
/// The key schedule is wiped on drop.
#[derive(Clone)]
pub struct Aes256Block {
    cipher: Aes256,
}

impl Aes256Block {
    /// Expands `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self { cipher: Aes256::new(key.into()) }
    }

    /// Encrypts one 16-byte block in place.
    pub fn encrypt_block(&self, block: &mut [u8; 16]) {
        self.cipher.encrypt_block(block.into());
    }
}

impl std::fmt::Debug for Aes256Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aes256Block(..)")
    }
}

/// AES-256-GCM encryption with a 12-byte nonce; returns `ciphertext || tag(16)`.
///
/// Waku/Whisper symmetric envelopes then append the nonce themselves (`vectors/README.md`).
pub fn aes256_gcm_seal(key: &[u8; 32], nonce: &[u8; 12], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .encrypt(nonce.into(), Payload { msg: plaintext, aad })
        // Fails only for plaintexts over 2^36 - 32 bytes (64 GiB), which cannot reach here.
        .expect("AES-GCM plaintext within the 64 GiB limit")
}

/// AES-256-GCM decryption of `ciphertext || tag(16)`; fails with [`CryptoError::AeadOpen`] if
/// the tag does not verify (wrong key, nonce or AAD; tampered or truncated input).
pub fn aes256_gcm_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    ciphertext_and_tag: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    if ciphertext_and_tag.len() < GCM_TAG_LEN {
        return Err(CryptoError::AeadOpen);
    }
    Aes256Gcm::new(key.into())
        .decrypt(nonce.into(), Payload { msg: ciphertext_and_tag, aad })
        .map_err(|_| CryptoError::AeadOpen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt), first two blocks.
    #[test]
    fn sp800_38a_f51_aes128_ctr() {
        let key: [u8; 16] = unhex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
        let iv: [u8; 16] = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        let mut data = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        aes128_ctr_apply(&key, &iv, &mut data);
        assert_eq!(
            hex::encode(&data),
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
        );
    }

    /// NIST SP 800-38A F.5.5 (CTR-AES256.Encrypt), first two blocks.
    #[test]
    fn sp800_38a_f55_aes256_ctr() {
        let key: [u8; 32] =
            unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
                .try_into()
                .unwrap();
        let iv: [u8; 16] = unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").try_into().unwrap();
        let mut data = unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        aes256_ctr_apply(&key, &iv, &mut data);
        assert_eq!(
            hex::encode(&data),
            "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
        );
    }

    /// The counter is one 128-bit big-endian integer: it carries across all 16 bytes.
    #[test]
    fn ctr_counter_wraps_128_bits() {
        let key = [3u8; 32];
        let iv = [0xffu8; 16];
        let mut two = [0u8; 32];
        aes256_ctr_apply(&key, &iv, &mut two);
        let block = Aes256Block::new(&key);
        let mut first = [0xffu8; 16];
        block.encrypt_block(&mut first);
        let mut second = [0u8; 16];
        block.encrypt_block(&mut second);
        assert_eq!(two[..16], first);
        assert_eq!(two[16..], second);
    }

    /// FIPS 197 appendix C.3 (AES-256).
    #[test]
    fn fips197_c3_aes256_block() {
        let key: [u8; 32] =
            unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .try_into()
                .unwrap();
        let mut block: [u8; 16] = unhex("00112233445566778899aabbccddeeff").try_into().unwrap();
        Aes256Block::new(&key).encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "8ea2b7ca516745bfeafc49904b496089");
    }

    /// NIST GCM test case 16 (AES-256, 12-byte IV, AAD) from the GCM specification.
    #[test]
    fn gcm_spec_test_case_16() {
        let key: [u8; 32] =
            unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
                .try_into()
                .unwrap();
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let pt = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let sealed = aes256_gcm_seal(&key, &nonce, &pt, &aad);
        assert_eq!(
            hex::encode(&sealed),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b"
        );
        assert_eq!(aes256_gcm_open(&key, &nonce, &sealed, &aad).unwrap(), pt);
    }

    #[test]
    fn gcm_rejects_tampering_and_short_input() {
        let key = [9u8; 32];
        let nonce = [1u8; 12];
        let sealed = aes256_gcm_seal(&key, &nonce, b"hello waku", b"aad");
        assert_eq!(sealed.len(), 10 + GCM_TAG_LEN);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(aes256_gcm_open(&key, &nonce, &bad, b"aad"), Err(CryptoError::AeadOpen));
        }
        assert_eq!(aes256_gcm_open(&key, &nonce, &sealed, b"other"), Err(CryptoError::AeadOpen));
        assert_eq!(aes256_gcm_open(&key, &[2u8; 12], &sealed, b"aad"), Err(CryptoError::AeadOpen));
        assert_eq!(
            aes256_gcm_open(&[8u8; 32], &nonce, &sealed, b"aad"),
            Err(CryptoError::AeadOpen)
        );
        for len in 0..sealed.len() {
            assert_eq!(
                aes256_gcm_open(&key, &nonce, &sealed[..len], b"aad"),
                Err(CryptoError::AeadOpen)
            );
        }
        // An empty plaintext is the bare tag.
        let empty = aes256_gcm_seal(&key, &nonce, b"", b"");
        assert_eq!(empty.len(), GCM_TAG_LEN);
        assert_eq!(aes256_gcm_open(&key, &nonce, &empty, b"").unwrap(), b"");
    }

    proptest! {
        #[test]
        fn ctr_stream_split_calls_equal_one_call(
            key in any::<[u8; 32]>(),
            iv in any::<[u8; 16]>(),
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..8),
        ) {
            let mut whole = data.clone();
            aes256_ctr_apply(&key, &iv, &mut whole);

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut pieces = data.clone();
            let mut stream = Aes256CtrStream::new(&key, &iv);
            let mut start = 0;
            for cut in cuts.into_iter().chain(std::iter::once(data.len())) {
                stream.apply(&mut pieces[start..cut]);
                start = cut;
            }
            prop_assert_eq!(&pieces, &whole);

            // Applying the keystream again decrypts.
            aes256_ctr_apply(&key, &iv, &mut whole);
            prop_assert_eq!(whole, data);
        }

        #[test]
        fn gcm_round_trip(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            pt in proptest::collection::vec(any::<u8>(), 0..300),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let sealed = aes256_gcm_seal(&key, &nonce, &pt, &aad);
            prop_assert_eq!(sealed.len(), pt.len() + GCM_TAG_LEN);
            prop_assert_eq!(aes256_gcm_open(&key, &nonce, &sealed, &aad).unwrap(), pt);
        }
    }
}
