//! X3DH on secp256k1 without one-time pre-keys (5/SECURE-TRANSPORT §initial key exchange,
//! IMPLEMENTER-NOTES §5): `SK = keccak256(DH1 || DH2 || DH3)` with DH1 = DH(IK_A, SPK_B),
//! DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B); each DH is the raw 32-byte x-coordinate.

use std::fmt;

use wisp_crypto::{PublicKey, SecretKey, Zeroizing, keccak256_concat};

/// The three DH outputs and the shared key of one X3DH run.
#[derive(Clone)]
pub struct X3dhSecrets {
    /// DH(IK_A, SPK_B).
    pub dh1: Zeroizing<[u8; 32]>,
    /// DH(EK_A, IK_B).
    pub dh2: Zeroizing<[u8; 32]>,
    /// DH(EK_A, SPK_B).
    pub dh3: Zeroizing<[u8; 32]>,
    /// SK = keccak256(DH1 || DH2 || DH3).
    pub shared_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for X3dhSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("X3dhSecrets(..)")
    }
}

fn dh(ours: &SecretKey, theirs: &PublicKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(*ours.ecdh(theirs).as_bytes())
}

fn finish(
    dh1: Zeroizing<[u8; 32]>,
    dh2: Zeroizing<[u8; 32]>,
    dh3: Zeroizing<[u8; 32]>,
) -> X3dhSecrets {
    let shared_key = Zeroizing::new(keccak256_concat(&[&dh1[..], &dh2[..], &dh3[..]]));
    X3dhSecrets { dh1, dh2, dh3, shared_key }
}

/// The initiator's side (A, with B's bundle): status-go `x3dhActive`.
pub fn initiator(
    our_identity: &SecretKey,
    our_ephemeral: &SecretKey,
    their_identity: &PublicKey,
    their_signed_pre_key: &PublicKey,
) -> X3dhSecrets {
    finish(
        dh(our_identity, their_signed_pre_key),
        dh(our_ephemeral, their_identity),
        dh(our_ephemeral, their_signed_pre_key),
    )
}

/// The responder's side (B, whose signed pre-key A used): status-go `x3dhPassive`.
pub fn responder(
    our_identity: &SecretKey,
    our_signed_pre_key: &SecretKey,
    their_identity: &PublicKey,
    their_ephemeral: &PublicKey,
) -> X3dhSecrets {
    finish(
        dh(our_signed_pre_key, their_identity),
        dh(our_identity, their_ephemeral),
        dh(our_signed_pre_key, their_ephemeral),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_key: &str) -> SecretKey {
        SecretKey::from_bytes(&hex::decode(hex_key).unwrap()).unwrap()
    }

    /// `vectors/chat/one-to-one.json` `x3dh`: bob initiates with alice's bundle.
    #[test]
    fn secure_transport_x3dh() {
        let bob = SecretKey::from_bytes(&[0x5e; 32]).unwrap();
        let alice = SecretKey::from_bytes(&[0x4d; 32]).unwrap();
        let ephemeral = key("d04eedafe715678770de8969c9b8d911ce8376c78137e47c8c21cfeeef852ddf");
        let spk = key("88ca0145885e1668105abb64b4fe04597e81582a2e4745c87d7fc72a92b2abb4");
        assert_eq!(
            hex::encode(ephemeral.public_key().to_compressed()),
            "03ea0981e865d7e7a988d42d6a2ed41b0c77947d75770e4351ba90d20b8fdf19c7"
        );
        let active = initiator(&bob, &ephemeral, &alice.public_key(), &spk.public_key());
        assert_eq!(
            hex::encode(*active.dh1),
            "a31adca24f20aab06319f13252404e5f80aee4e72e0c08aed4251043e473990d"
        );
        assert_eq!(
            hex::encode(*active.dh2),
            "610934d3b6f6553e5fac61cbf3dbe3b28bc7de3ce2547aa771d8459b065fd98e"
        );
        assert_eq!(
            hex::encode(*active.dh3),
            "940d79486f402f8beb0bde25af6cab8bac33a9e20abcb34e35847959a451e4e7"
        );
        assert_eq!(
            hex::encode(*active.shared_key),
            "78d0ee710ff4b5f1531b7ac73ab5c3573f3a3a5e36088beb85dbb803f1425d1d"
        );
        let passive = responder(&alice, &spk, &bob.public_key(), &ephemeral.public_key());
        assert_eq!(*passive.shared_key, *active.shared_key);
    }
}
