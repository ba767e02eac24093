//! Topics and keys (10/WAKU-USAGE §keys management, DECISIONS 8, 9, 15): which Waku topic and
//! which Waku key each message of the secure transport goes out on.
//!
//! The crate keeps its own 4-byte [`Topic`] rather than depending on `wisp-waku`
//! (ARCHITECTURE: `ratchet` sits beside `waku`); `Topic::to_bytes` converts.

use std::fmt;

use wisp_crypto::{PublicKey, SecretKey, Zeroizing, keccak256, symmetric_key_from_password};

/// Number of partitioned topics (10/WAKU-USAGE §partitioned topic).
pub const PARTITIONS: u32 = 5000;

/// Prefix of partitioned topic names (10/WAKU-USAGE §partitioned topic).
pub const PARTITION_PREFIX: &str = "contact-discovery-";

/// Suffix of contact-code topic names (10/WAKU-USAGE §contact code topic).
pub const CONTACT_CODE_SUFFIX: &str = "-contact-code";

/// A 4-byte Waku topic: `keccak256(input)[0..4]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(pub [u8; 4]);

impl Topic {
    /// The topic of a name: the first 4 bytes of `keccak256(input)`.
    pub fn from_input(input: impl AsRef<[u8]>) -> Self {
        let hash = keccak256(input);
        Self([hash[0], hash[1], hash[2], hash[3]])
    }

    /// The 4 bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({self})")
    }
}

/// The topic of a public chat: `keccak256(name)[0..4]` (10/WAKU-USAGE §public chats).
pub fn public_chat_topic(name: &str) -> Topic {
    Topic::from_input(name)
}

/// The Waku key of a public chat: PBKDF2 of its name (DECISIONS 9). Costs 65 356 HMAC rounds.
pub fn public_chat_key(name: &str) -> Zeroizing<[u8; 32]> {
    symmetric_key_from_password(name)
}

/// The contact-code name of an identity: `"0x" + hex(uncompressed key) + "-contact-code"`; both
/// the topic input and the Waku password (DECISIONS 8).
pub fn contact_code_name(identity: &PublicKey) -> String {
    format!("0x{}{CONTACT_CODE_SUFFIX}", hex::encode(identity.to_uncompressed()))
}

/// The contact-code topic of an identity, where its bundle is advertised (DECISIONS 8, 13).
pub fn contact_code_topic(identity: &PublicKey) -> Topic {
    Topic::from_input(contact_code_name(identity))
}

/// The Waku key of an identity's contact-code topic: PBKDF2 of [`contact_code_name`].
pub fn contact_code_key(identity: &PublicKey) -> Zeroizing<[u8; 32]> {
    symmetric_key_from_password(&contact_code_name(identity))
}

/// The partition of an identity: the x-coordinate of its key modulo 5000.
pub fn partition(identity: &PublicKey) -> u32 {
    let uncompressed = identity.to_uncompressed();
    // x is bytes 1..33, big-endian; reduce it byte by byte.
    uncompressed[1..33].iter().fold(0u32, |acc, &byte| (acc * 256 + u32::from(byte)) % PARTITIONS)
}

/// The partitioned topic of an identity: `keccak256("contact-discovery-" + decimal(X mod
/// 5000))[0..4]` (10/WAKU-USAGE §partitioned topic). Messages on it are ECIES-encrypted to the
/// identity key.
pub fn partitioned_topic(identity: &PublicKey) -> Topic {
    Topic::from_input(format!("{PARTITION_PREFIX}{}", partition(identity)))
}

/// The personal discovery topic `keccak256("contact-discovery-" + hex(uncompressed key))`,
/// which status-go still listens on (commented out of 10/WAKU-USAGE).
pub fn personal_discovery_topic(identity: &PublicKey) -> Topic {
    Topic::from_input(format!("{PARTITION_PREFIX}{}", hex::encode(identity.to_uncompressed())))
}

/// The secret two identities share for their negotiated topic: the raw ECDH x-coordinate of
/// their chat keys (status-go `ecies.GenerateShared(16, 16)` returns all 32 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct NegotiatedSecret {
    /// The other identity.
    pub identity: PublicKey,
    secret: Zeroizing<[u8; 32]>,
}

impl NegotiatedSecret {
    /// The secret between `ours` and `theirs`.
    pub fn derive(ours: &SecretKey, theirs: &PublicKey) -> Self {
        Self { identity: *theirs, secret: Zeroizing::new(*ours.ecdh(theirs).as_bytes()) }
    }

    /// A secret from its stored bytes.
    pub fn from_bytes(identity: PublicKey, secret: [u8; 32]) -> Self {
        Self { identity, secret: Zeroizing::new(secret) }
    }

    /// The 32 secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The topic and password input: the lowercase hex of the secret, without `0x`.
    pub fn name(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.secret))
    }

    /// The negotiated topic: `keccak256(hex(secret))[0..4]` (DECISIONS 8: the pseudo-code).
    pub fn topic(&self) -> Topic {
        Topic::from_input(self.name().as_bytes())
    }

    /// The Waku key of the negotiated topic: PBKDF2 of `hex(secret)`, not the secret itself
    /// (DECISIONS 15). Costs 65 356 HMAC rounds; callers cache it.
    pub fn waku_key(&self) -> Zeroizing<[u8; 32]> {
        symmetric_key_from_password(&self.name())
    }
}

impl fmt::Debug for NegotiatedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NegotiatedSecret")
            .field("identity", &self.identity)
            .field("topic", &self.topic())
            .finish_non_exhaustive()
    }
}

/// Where an outgoing direct message goes: topic and Waku encryption (DECISIONS 15).
#[derive(Clone, PartialEq, Eq)]
pub enum Destination {
    /// The recipient's partitioned topic, asymmetric (ECIES) to their identity key: used until
    /// every targeted installation has answered us.
    Partitioned {
        /// [`partitioned_topic`] of the recipient.
        topic: Topic,
        /// The key to ECIES-encrypt the Waku payload to.
        recipient: PublicKey,
    },
    /// The negotiated topic, symmetric with its PBKDF2 key.
    Negotiated {
        /// [`NegotiatedSecret::topic`].
        topic: Topic,
        /// The secret; [`NegotiatedSecret::waku_key`] is the Waku key.
        secret: NegotiatedSecret,
    },
}

impl Destination {
    /// The topic the envelope goes out on.
    pub fn topic(&self) -> Topic {
        match self {
            Self::Partitioned { topic, .. } | Self::Negotiated { topic, .. } => *topic,
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partitioned { topic, recipient } => f
                .debug_struct("Partitioned")
                .field("topic", topic)
                .field("recipient", recipient)
                .finish(),
            Self::Negotiated { topic, .. } => {
                f.debug_struct("Negotiated").field("topic", topic).finish_non_exhaustive()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32]).unwrap()
    }

    /// `vectors/chat/one-to-one.json` `parties` and `negotiated_topic`.
    #[test]
    fn one_to_one_topics() {
        let alice = key(0x4d);
        let bob = key(0x5e);
        assert_eq!(partition(&alice.public_key()), 1259);
        assert_eq!(partition(&bob.public_key()), 2307);
        assert_eq!(partitioned_topic(&alice.public_key()).to_string(), "c0a1d424");
        assert_eq!(partitioned_topic(&bob.public_key()).to_string(), "e166f75a");
        assert_eq!(personal_discovery_topic(&alice.public_key()).to_string(), "53f103bb");
        assert_eq!(personal_discovery_topic(&bob.public_key()).to_string(), "a67c41f6");
        assert_eq!(contact_code_topic(&alice.public_key()).to_string(), "b008eff2");
        assert_eq!(contact_code_topic(&bob.public_key()).to_string(), "34b17465");
        let secret = NegotiatedSecret::derive(&alice, &bob.public_key());
        assert_eq!(
            hex::encode(secret.as_bytes()),
            "05d20a66f78a100b823b0c79288f9bac2a6ada6166dd231edeed3a974ef7d41f"
        );
        assert_eq!(NegotiatedSecret::derive(&bob, &alice.public_key()), {
            NegotiatedSecret::from_bytes(alice.public_key(), *secret.as_bytes())
        });
        assert_eq!(secret.topic().to_string(), "a28e0eff");
        assert_eq!(public_chat_topic("refpeers").0, Topic::from_input(b"refpeers").0);
    }
}
