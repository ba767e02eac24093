//! 5/SECURE-TRANSPORT for wisp: the end-to-end encryption of Status one-to-one and group chats,
//! byte for byte as status-go v0.79 does it.
//!
//! - **Bundles** ([`Bundle`]): a signed pre-key per installation, signed by the identity key
//!   over the pre-keys, their versions and the timestamp; verified on receipt; rotated every
//!   24 h ([`Config::bundle_refresh_interval`]).
//! - **X3DH** ([`x3dh`]) and the **Double Ratchet** ([`RatchetState`]) on secp256k1, with
//!   status-go's KDFs and AES-256-CTR + HMAC cipher ([`cipher`]), the header (ratchet key, N,
//!   PN) as associated data (DECISIONS 16), skipped message keys for out-of-order delivery (at
//!   most 1000 skipped per message, 2000 kept per session, none older than 3000 derivations).
//! - **DH mode** (DECISIONS 15): the first message to a contact whose bundle is unknown, under
//!   a one-off ECDH key; then X3DH + Double Ratchet once a bundle is known, the X3DH header
//!   attached until the peer answers.
//! - **Multi-device**: up to 3 installations per identity, our own enabled and disabled
//!   explicitly; a message is encrypted for every active installation of the recipient
//!   ([`SecureTransport::build_direct_messages`] adds our own).
//! - **Topics** ([`topic`]): which topic and Waku key each message goes out on: the
//!   partitioned topic (asymmetric) until the negotiated topic (PBKDF2 of the hex ECDH secret)
//!   is agreed, the contact-code topic for bundle advertisements ([`Destination`]).
//! - **The `ProtocolMessage`** wire schema ([`proto`]), compiled from `proto/encryption.proto`.
//!
//! [`SecureTransport`] is the state machine of one installation. It is sans-io: time is passed
//! in, keys and nonces come from an injectable [`Entropy`], and all state lives in a [`Store`]
//! ([`MemoryStore`], or [`SqliteStore`] with the default `sqlite` feature). Every operation
//! writes its changes in one atomic batch *before* it returns a ciphertext or a plaintext, so a
//! crash never desynchronises a session, and a message that fails to decrypt (wrong key,
//! replay, tampered MAC, truncated header, unknown installation) leaves every session as it
//! was and returns a typed [`Error`].
//!
//! The layer below is [`wisp_crypto`]; the Waku envelope around a `ProtocolMessage` is
//! `wisp-waku`'s, chosen by the caller from [`OutgoingMessage::destination`].
//!
//! # Example: two parties
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use wisp_crypto::SecretKey;
//! use wisp_ratchet::{Destination, MemoryStore, MessageKind, SecureTransport, proto};
//!
//! # fn main() -> Result<(), wisp_ratchet::Error> {
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let alice_key = SecretKey::random();
//! let bob_key = SecretKey::random();
//! let (alice_pub, bob_pub) = (alice_key.public_key(), bob_key.public_key());
//! let mut alice = SecureTransport::new(alice_key, "alice-phone", MemoryStore::new());
//! let mut bob = SecureTransport::new(bob_key, "bob-laptop", MemoryStore::new());
//!
//! // Alice knows nothing of Bob's devices yet: DH mode, on Bob's partitioned topic.
//! let first = alice.build_direct_message(&bob_pub, b"hi bob", now)?;
//! assert!(matches!(first.destination, Destination::Partitioned { .. }));
//! let bytes = first.encode(); // the Waku payload, ECIES-encrypted to Bob's key
//! let received = bob.handle_message(&alice_pub, &proto::decode_protocol_message(&bytes)?, now)?;
//! assert_eq!(received.payload.as_deref(), Some(&b"hi bob"[..]));
//! assert_eq!(received.kind, MessageKind::Dh);
//!
//! // Bob learnt Alice's bundle: X3DH + Double Ratchet, on their negotiated topic.
//! let reply = bob.build_direct_message(&alice_pub, b"hello alice", now)?;
//! assert!(matches!(reply.destination, Destination::Negotiated { .. }));
//! let received = alice.handle_message(&bob_pub, &reply.message, now)?;
//! assert_eq!(received.payload.as_deref(), Some(&b"hello alice"[..]));
//! assert_eq!(received.kind, MessageKind::DoubleRatchet { x3dh: true });
//!
//! // Both now ratchet; a replay is refused and changes nothing.
//! let again = alice.build_direct_message(&bob_pub, b"ratcheting", now)?;
//! assert_eq!(bob.handle_message(&alice_pub, &again.message, now)?.payload.unwrap(), b"ratcheting");
//! assert!(matches!(
//!     bob.handle_message(&alice_pub, &again.message, now),
//!     Err(wisp_ratchet::Error::Replay { .. })
//! ));
//! # Ok(())
//! # }
//! ```

pub mod bundle;
pub mod cipher;
pub mod entropy;
mod error;
pub mod proto;
pub mod ratchet;
pub mod store;
pub mod topic;
mod transport;
pub mod x3dh;

// Dev-dependencies used by the integration tests and benches only.
#[cfg(test)]
use {criterion as _, proptest as _, serde_json as _, wisp_waku as _};

pub use bundle::{Bundle, CompressedKey, PROTOCOL_VERSION, SignedPreKey};
pub use entropy::{Entropy, KeyPurpose, OsEntropy, ScriptedEntropy, SeededEntropy};
pub use error::{Error, Result, StoreError};
pub use ratchet::{Header, RatchetState};
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{Installation, MemoryStore, SessionId, Store};
pub use topic::{Destination, NegotiatedSecret, Topic};
pub use transport::{
    CONTACT_CODE_ADVERTISE_INTERVAL, Config, DEFAULT_BUNDLE_REFRESH_INTERVAL,
    DEFAULT_MAX_INSTALLATIONS, DEFAULT_MAX_KEEP, DEFAULT_MAX_MESSAGE_KEYS_PER_SESSION,
    DEFAULT_MAX_SKIP, MessageKind, NO_INSTALLATION_ID, OutgoingMessage, Received, SecureTransport,
};
