//! X3DH pre-key bundles (5/SECURE-TRANSPORT §prekeys, IMPLEMENTER-NOTES §5): signed pre-keys
//! per installation, the bundle with identity and signature, verification.

use std::collections::BTreeMap;
use std::fmt;

use wisp_crypto::{
    COMPRESSED_PUBLIC_KEY_LEN, PublicKey, RecoverableSignature, SIGNATURE_LEN, SecretKey, keccak256,
};

use crate::error::{Error, Result};
use crate::proto;

/// The encryption protocol version we speak and advertise in our signed pre-keys: 1 = shared
/// secrets (negotiated topic) and partitioned topics (status-go `protocolVersion`).
pub const PROTOCOL_VERSION: u32 = 1;

/// A 33-byte compressed public key that is known to be a point on the curve.
pub type CompressedKey = [u8; COMPRESSED_PUBLIC_KEY_LEN];

/// Checks that `bytes` is a 33-byte compressed key on the curve.
pub(crate) fn compressed_key(field: &'static str, bytes: &[u8]) -> Result<CompressedKey> {
    let key: CompressedKey = bytes.try_into().map_err(|_| Error::InvalidLength {
        field,
        expected: COMPRESSED_PUBLIC_KEY_LEN,
        got: bytes.len(),
    })?;
    PublicKey::from_sec1(&key).map_err(|_| Error::InvalidKey { field })?;
    Ok(key)
}

/// Decodes a compressed key that [`compressed_key`] (or our own code) checked.
pub(crate) fn public_key(field: &'static str, key: &CompressedKey) -> Result<PublicKey> {
    PublicKey::from_sec1(key).map_err(|_| Error::InvalidKey { field })
}

/// One installation's signed pre-key as advertised in a bundle.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedPreKey {
    /// The compressed signed pre-key SPK (also the "bundle id" of sessions started from it).
    pub key: CompressedKey,
    /// Version of the pre-key (1, then +1 at each rotation).
    pub version: u32,
    /// Version of the encryption protocol of the installation.
    pub protocol_version: u32,
}

impl fmt::Debug for SignedPreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKey")
            .field("key", &hex::encode(self.key))
            .field("version", &self.version)
            .field("protocol_version", &self.protocol_version)
            .finish()
    }
}

/// A verified X3DH bundle: an identity key, its installations' signed pre-keys, and the
/// identity's signature over them.
///
/// A `Bundle` is either built and signed by us ([`Bundle::sign`]) or decoded and verified
/// ([`Bundle::from_proto`]); an unverified bundle cannot be constructed.
#[derive(Clone, PartialEq, Eq)]
pub struct Bundle {
    identity: PublicKey,
    signed_pre_keys: BTreeMap<String, SignedPreKey>,
    signature: [u8; SIGNATURE_LEN],
    timestamp: i64,
}

impl Bundle {
    /// The bytes the identity signs (hashed with keccak256): for each installation id in
    /// lexicographic order, `utf8(id) || signed_pre_key || decimal(version)`, then
    /// `decimal(timestamp)` if the timestamp is not 0 (IMPLEMENTER-NOTES §5; the spec text
    /// omits the timestamp).
    pub fn signature_material(
        signed_pre_keys: &BTreeMap<String, SignedPreKey>,
        timestamp: i64,
    ) -> Vec<u8> {
        let mut material = Vec::new();
        for (installation_id, spk) in signed_pre_keys {
            material.extend_from_slice(installation_id.as_bytes());
            material.extend_from_slice(&spk.key);
            material.extend_from_slice(spk.version.to_string().as_bytes());
        }
        if timestamp != 0 {
            material.extend_from_slice(timestamp.to_string().as_bytes());
        }
        material
    }

    /// Signs a bundle of `signed_pre_keys` with `identity` at `timestamp` (Unix nanoseconds).
    pub fn sign(
        identity: &SecretKey,
        signed_pre_keys: BTreeMap<String, SignedPreKey>,
        timestamp: i64,
    ) -> Self {
        let hash = keccak256(Self::signature_material(&signed_pre_keys, timestamp));
        let signature = identity.sign_prehash(&hash).to_bytes();
        Self { identity: identity.public_key(), signed_pre_keys, signature, timestamp }
    }

    /// Decodes a received bundle and verifies its signature against its identity key.
    pub fn from_proto(bundle: &proto::Bundle) -> Result<Self> {
        let identity =
            public_key("bundle.identity", &compressed_key("bundle.identity", &bundle.identity)?)?;
        if bundle.signed_pre_keys.is_empty() {
            return Err(Error::EmptyBundle);
        }
        let mut signed_pre_keys = BTreeMap::new();
        for (installation_id, spk) in &bundle.signed_pre_keys {
            let key = compressed_key("bundle.signed_pre_key", &spk.signed_pre_key)?;
            signed_pre_keys.insert(
                installation_id.clone(),
                SignedPreKey { key, version: spk.version, protocol_version: spk.protocol_version },
            );
        }
        let signature: [u8; SIGNATURE_LEN] =
            bundle.signature.as_slice().try_into().map_err(|_| Error::InvalidLength {
                field: "bundle.signature",
                expected: SIGNATURE_LEN,
                got: bundle.signature.len(),
            })?;
        let hash = keccak256(Self::signature_material(&signed_pre_keys, bundle.timestamp));
        let recovered = RecoverableSignature::from_bytes(&signature)
            .and_then(|sig| sig.recover(&hash))
            .map_err(|_| Error::BundleSignature)?;
        if recovered != identity {
            return Err(Error::BundleSignature);
        }
        Ok(Self { identity, signed_pre_keys, signature, timestamp: bundle.timestamp })
    }

    /// The wire form.
    pub fn to_proto(&self) -> proto::Bundle {
        proto::Bundle {
            identity: self.identity.to_compressed().to_vec(),
            signed_pre_keys: self
                .signed_pre_keys
                .iter()
                .map(|(id, spk)| {
                    (
                        id.clone(),
                        proto::SignedPreKey {
                            signed_pre_key: spk.key.to_vec(),
                            version: spk.version,
                            protocol_version: spk.protocol_version,
                        },
                    )
                })
                .collect(),
            signature: self.signature.to_vec(),
            timestamp: self.timestamp,
        }
    }

    /// The identity key IK.
    pub fn identity(&self) -> &PublicKey {
        &self.identity
    }

    /// Signed pre-keys by installation id.
    pub fn signed_pre_keys(&self) -> &BTreeMap<String, SignedPreKey> {
        &self.signed_pre_keys
    }

    /// The signature `r || s || v` (v in {0, 1}).
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// When the bundle was signed, in Unix nanoseconds (DECISIONS 19).
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("identity", &self.identity)
            .field("signed_pre_keys", &self.signed_pre_keys)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Alice's bundle of envelope 0, `vectors/chat/one-to-one.json`.
    const ALICE_BUNDLE: &str = "0a210371102fc86b5c576c72f411e083cc03eb83d1b55065406ba2a483208dbb5074ab124f0a2431313131313131312d313131312d343131312d383131312d31313131313131313131313112270a21022c90c4796df3421af31da9fa0be7fcd2ef20ef5d1d145ea34a7a6723c2c56fff100118012241b05e9610b5c7ac153c3712a75c969b48e9e73388b7cbb21d218f3e338bb390a87cb184fd616dd74bff32b4ef5ad5e514f17d2f0f6f43f19a0922cc52957499e50028b6f0c2d8c5b48ff518";

    #[test]
    fn secure_transport_bundle_signature_with_timestamp() {
        let bytes = hex::decode(ALICE_BUNDLE).unwrap();
        let wire = proto::Bundle::decode(bytes.as_slice()).unwrap();
        let bundle = Bundle::from_proto(&wire).unwrap();
        assert_eq!(bundle.timestamp(), 1_795_315_177_572_317_238);
        assert_eq!(
            hex::encode(Bundle::signature_material(bundle.signed_pre_keys(), bundle.timestamp())),
            "31313131313131312d313131312d343131312d383131312d313131313131313131313131022c90c4796df3421af31da9fa0be7fcd2ef20ef5d1d145ea34a7a6723c2c56fff3131373935333135313737353732333137323338"
        );
        // Re-encoding is byte-exact, and re-signing reproduces the signature (RFC 6979).
        assert_eq!(bundle.to_proto().encode_to_vec(), bytes);
        let alice = SecretKey::from_bytes(&[0x4d; 32]).unwrap();
        let resigned = Bundle::sign(&alice, bundle.signed_pre_keys().clone(), bundle.timestamp());
        assert_eq!(resigned, bundle);

        // A changed timestamp, version or key breaks the signature.
        let mut bad = wire.clone();
        bad.timestamp += 1;
        assert!(matches!(Bundle::from_proto(&bad), Err(Error::BundleSignature)));
        let mut bad = wire.clone();
        bad.signed_pre_keys.values_mut().for_each(|spk| spk.version = 2);
        assert!(matches!(Bundle::from_proto(&bad), Err(Error::BundleSignature)));
        let mut bad = wire.clone();
        bad.signature.pop();
        assert!(matches!(Bundle::from_proto(&bad), Err(Error::InvalidLength { .. })));
        let mut bad = wire.clone();
        bad.identity[0] = 4;
        assert!(matches!(Bundle::from_proto(&bad), Err(Error::InvalidKey { .. })));
        let mut bad = wire;
        bad.signed_pre_keys.clear();
        assert!(matches!(Bundle::from_proto(&bad), Err(Error::EmptyBundle)));
    }
}
