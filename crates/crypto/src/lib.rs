//! Cryptographic primitives of wisp, the layer every protocol crate builds on.
//!
//! Everything the devp2p/RLPx transport, Whisper/Waku envelopes and the Status chat protocols
//! need, as go-ethereum and status-go compute it, so that the bytes on the wire agree:
//!
//! - **secp256k1** ([`SecretKey`], [`PublicKey`], [`NodeId`]): keys in their 32/33/65/64-byte
//!   forms, Ethereum addresses, raw-x-coordinate ECDH ([`SharedSecret`]), and recoverable
//!   signatures ([`RecoverableSignature`], RFC 6979, low-s, `r || s || v` with v in {0, 1} —
//!   go-ethereum's `crypto.Sign`).
//! - **Hashes**: Keccak-256 (what the specs call "SHA3") and SHA-256; [`Keccak256`] is
//!   re-exported with the [`Digest`] trait so callers can keep and clone incremental states (the
//!   RLPx MACs, PoW midstates).
//! - **MACs and KDFs**: HMAC-SHA256, HKDF-SHA256, PBKDF2-HMAC-SHA256, the NIST concat KDF of
//!   ECIES, and the Whisper/Waku password key ([`symmetric_key_from_password`], DECISIONS 9).
//! - **AES**: CTR (one-shot and a position-keeping [`Aes256CtrStream`] for RLPx frames), a single
//!   block cipher for the RLPx MAC ([`Aes256Block`]), and AES-256-GCM for symmetric envelopes.
//! - **[`ecies`]**: go-ethereum's ECIES (`R || iv || AES-128-CTR || HMAC-SHA256`), used by the
//!   RLPx handshake and asymmetric envelopes.
//!
//! Secrets ([`SecretKey`], [`SharedSecret`], derived keys, cipher states) are wiped on drop and
//! never printed by `Debug`. Decoders and authenticated decryption return a [`CryptoError`] and
//! never panic on malformed input.
//!
//! Built on RustCrypto (`k256`, `sha3`, `sha2`, `hmac`, `hkdf`, `pbkdf2`, `aes`, `ctr`,
//! `aes-gcm`); the `secp256k1` C library is not used.
//!
//! # Example
//!
//! ```
//! use wisp_crypto::{RecoverableSignature, SecretKey, ecies, keccak256};
//!
//! # fn main() -> wisp_crypto::Result<()> {
//! let alice = SecretKey::random();
//! let bob = SecretKey::random();
//!
//! // Sign a hash and recover the signer, as Waku message signatures work.
//! let hash = keccak256(b"hello waku");
//! let signature = alice.sign_prehash(&hash);
//! let wire = signature.to_bytes(); // r || s || v, v in {0, 1}
//! let recovered = RecoverableSignature::from_bytes(&wire)?.recover(&hash)?;
//! assert_eq!(recovered, alice.public_key());
//!
//! // ECDH agrees on the raw x-coordinate.
//! let ab = alice.ecdh(&bob.public_key());
//! assert_eq!(ab.as_bytes(), bob.ecdh(&alice.public_key()).as_bytes());
//!
//! // ECIES to Bob's key, authenticated with some shared MAC data (RLPx: the size prefix).
//! let message = ecies::encrypt(&bob.public_key(), b"secret", b"\x00\x79");
//! assert_eq!(message.len(), ecies::encrypted_len(6));
//! assert_eq!(ecies::decrypt(&bob, &message, b"\x00\x79")?, b"secret");
//! assert!(ecies::decrypt(&alice, &message, b"\x00\x79").is_err());
//!
//! // Node ids print as 128 hex characters, as in enode URLs.
//! let id = bob.public_key().node_id();
//! assert_eq!(id.to_string().parse::<wisp_crypto::NodeId>()?, id);
//! # Ok(())
//! # }
//! ```

pub mod ecies;
mod error;
mod hash;
mod kdf;
mod keys;
mod random;
mod signature;
mod symmetric;

#[cfg(test)]
mod vector_tests;

pub use error::{CryptoError, Result};
pub use hash::{keccak256, keccak256_concat, sha256, sha256_concat};
pub use kdf::{
    HKDF_SHA256_MAX_OUTPUT, SYMMETRIC_KEY_LEN, SYMMETRIC_KEY_PBKDF2_ITERATIONS, concat_kdf_sha256,
    constant_time_eq, hkdf_sha256, hmac_sha256, pbkdf2_hmac_sha256, symmetric_key_from_password,
};
pub use keys::{
    COMPRESSED_PUBLIC_KEY_LEN, NODE_ID_LEN, NodeId, PublicKey, SECRET_KEY_LEN, SecretKey,
    SharedSecret, UNCOMPRESSED_PUBLIC_KEY_LEN,
};
pub use random::{fill_random, random_bytes};
pub use sha3::{Digest, Keccak256};
pub use signature::{RecoverableSignature, SIGNATURE_LEN};
pub use symmetric::{
    Aes256Block, Aes256CtrStream, GCM_NONCE_LEN, GCM_TAG_LEN, aes128_ctr_apply, aes256_ctr_apply,
    aes256_gcm_open, aes256_gcm_seal,
};
pub use zeroize::Zeroizing;
