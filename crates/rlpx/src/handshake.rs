//! The RLPx handshake as pure functions over buffers: `auth` and `ack` in the EIP-8 and the
//! legacy (pre-EIP-8) form, as initiator and as recipient, and the session secrets.
//!
//! Spec: `devp2p/rlpx.md` §"Initial Handshake", `eips/eip-8.md`. Nothing here reads a socket
//! or a clock; randomness is passed in ([`HandshakeRandomness`]) so the captured sessions of
//! `shared/vectors/rlpx/` can be replayed byte for byte.

use wisp_crypto::{
    Digest, Keccak256, NodeId, PublicKey, RecoverableSignature, SecretKey, ecies, keccak256,
    keccak256_concat,
};
use zeroize::Zeroize;

use crate::{error::HandshakeError, rlp};

/// The handshake version sent in `auth-vsn` and `ack-vsn` (EIP-8).
pub const HANDSHAKE_VERSION: u64 = 4;
/// Length of a legacy auth body: sig(65) || keccak(ephemeral)(32) || pubkey(64) || nonce(32) || 0.
pub const LEGACY_AUTH_BODY_LEN: usize = 65 + 32 + 64 + 32 + 1;
/// Length of a legacy ack body: ephemeral pubkey(64) || nonce(32) || 0.
pub const LEGACY_ACK_BODY_LEN: usize = 64 + 32 + 1;
/// Length of an encrypted legacy auth packet (307 bytes).
pub const LEGACY_AUTH_LEN: usize = LEGACY_AUTH_BODY_LEN + ecies::OVERHEAD;
/// Length of an encrypted legacy ack packet (210 bytes).
pub const LEGACY_ACK_LEN: usize = LEGACY_ACK_BODY_LEN + ecies::OVERHEAD;
/// Smallest EIP-8 padding go-ethereum sends; it sends 100..=199 zero bytes.
pub const MIN_EIP8_PADDING: usize = 100;

/// Which encoding of the handshake messages is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeFormat {
    /// RLP bodies with a 2-byte size prefix that is also the ECIES shared MAC data (EIP-8).
    /// status-go and go-ethereum always send this (DECISIONS 20).
    Eip8,
    /// The fixed-size bodies of RLPx before EIP-8. Only accepted and answered in kind.
    Legacy,
}

/// The random values one side of a handshake needs. Generate them with
/// [`HandshakeRandomness::generate`]; tests inject recorded values.
#[derive(Clone, Debug)]
pub struct HandshakeRandomness {
    /// The ephemeral key whose ECDH with the peer's ephemeral key keys the session.
    pub ephemeral_key: SecretKey,
    /// This side's 32-byte nonce.
    pub nonce: [u8; 32],
    /// The ECIES ephemeral key that seals the auth or ack packet.
    pub ecies_key: SecretKey,
    /// The ECIES IV that seals the auth or ack packet.
    pub ecies_iv: [u8; 16],
    /// Zero bytes appended to an EIP-8 body (ignored in the legacy form).
    pub padding_len: usize,
}

impl HandshakeRandomness {
    /// Fresh randomness from the OS, with 100..=199 bytes of padding as go-ethereum sends.
    pub fn generate() -> Self {
        let pad: [u8; 1] = wisp_crypto::random_bytes();
        Self {
            ephemeral_key: SecretKey::random(),
            nonce: wisp_crypto::random_bytes(),
            ecies_key: SecretKey::random(),
            ecies_iv: wisp_crypto::random_bytes(),
            padding_len: MIN_EIP8_PADDING + usize::from(pad[0] % 100),
        }
    }
}

/// The decoded auth message (`[sig, initiator-pubk, initiator-nonce, auth-vsn, ...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMessage {
    /// Signature of `static-shared-secret ^ nonce` by the initiator's ephemeral key.
    pub signature: RecoverableSignature,
    /// The initiator's static public key.
    pub initiator_id: NodeId,
    /// The initiator's nonce.
    pub nonce: [u8; 32],
    /// `auth-vsn` (4; other values are accepted).
    pub version: u64,
}

/// The decoded ack message (`[recipient-ephemeral-pubk, recipient-nonce, ack-vsn, ...]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckMessage {
    /// The recipient's ephemeral public key.
    pub ephemeral_id: NodeId,
    /// The recipient's nonce.
    pub nonce: [u8; 32],
    /// `ack-vsn` (4; other values are accepted).
    pub version: u64,
}

impl AuthMessage {
    /// The EIP-8 RLP body, without padding.
    pub fn encode_eip8(&self, out: &mut Vec<u8>) {
        let sig = self.signature.to_bytes();
        rlp::encode_list(
            &[&&sig[..], &&self.initiator_id.0[..], &&self.nonce[..], &self.version],
            out,
        );
    }

    /// Decodes an EIP-8 body; trailing list elements and padding are ignored.
    pub fn decode_eip8(mut buf: &[u8]) -> Result<Self, HandshakeError> {
        let mut p = rlp::list_payload(&mut buf)?;
        let sig: [u8; 65] = rlp::fixed(&mut p)?;
        let signature = RecoverableSignature::from_bytes(&sig)?;
        let initiator_id = NodeId(rlp::fixed(&mut p)?);
        let nonce = rlp::fixed(&mut p)?;
        let version = rlp::item(&mut p)?;
        Ok(Self { signature, initiator_id, nonce, version })
    }

    /// Decodes a legacy body, given the ephemeral key hash it carries is checked by the caller.
    fn decode_legacy(buf: &[u8]) -> Result<(Self, [u8; 32]), HandshakeError> {
        if buf.len() != LEGACY_AUTH_BODY_LEN {
            return Err(HandshakeError::Length {
                what: "legacy auth body",
                expected: LEGACY_AUTH_BODY_LEN,
                got: buf.len(),
            });
        }
        let signature = RecoverableSignature::from_bytes(&buf[..65])?;
        let mut eph_hash = [0u8; 32];
        eph_hash.copy_from_slice(&buf[65..97]);
        let mut id = [0u8; 64];
        id.copy_from_slice(&buf[97..161]);
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&buf[161..193]);
        Ok((
            Self { signature, initiator_id: NodeId(id), nonce, version: HANDSHAKE_VERSION },
            eph_hash,
        ))
    }
}

impl AckMessage {
    /// The EIP-8 RLP body, without padding.
    pub fn encode_eip8(&self, out: &mut Vec<u8>) {
        rlp::encode_list(&[&&self.ephemeral_id.0[..], &&self.nonce[..], &self.version], out);
    }

    /// Decodes an EIP-8 body; trailing list elements and padding are ignored.
    pub fn decode_eip8(mut buf: &[u8]) -> Result<Self, HandshakeError> {
        let mut p = rlp::list_payload(&mut buf)?;
        let ephemeral_id = NodeId(rlp::fixed(&mut p)?);
        let nonce = rlp::fixed(&mut p)?;
        let version = rlp::item(&mut p)?;
        Ok(Self { ephemeral_id, nonce, version })
    }

    fn decode_legacy(buf: &[u8]) -> Result<Self, HandshakeError> {
        if buf.len() != LEGACY_ACK_BODY_LEN {
            return Err(HandshakeError::Length {
                what: "legacy ack body",
                expected: LEGACY_ACK_BODY_LEN,
                got: buf.len(),
            });
        }
        let mut id = [0u8; 64];
        id.copy_from_slice(&buf[..64]);
        let mut nonce = [0u8; 32];
        nonce.copy_from_slice(&buf[64..96]);
        Ok(Self { ephemeral_id: NodeId(id), nonce, version: HANDSHAKE_VERSION })
    }
}

/// How many bytes of a handshake packet to read, given its first two bytes.
///
/// For the EIP-8 form this is the whole packet. A packet starting with `0x04` may be a
/// legacy one (ECIES output starts with an uncompressed point): read [`LEGACY_AUTH_LEN`] or
/// [`LEGACY_ACK_LEN`] bytes first, try the legacy form, and fall back to this length.
pub fn eip8_packet_len(prefix: [u8; 2]) -> usize {
    2 + usize::from(u16::from_be_bytes(prefix))
}

/// The secrets both sides derive from the handshake (`rlpx.md` §"Initial Handshake").
pub struct Secrets {
    /// `aes-secret`, the frame cipher key.
    pub aes_secret: [u8; 32],
    /// `mac-secret`, the key of the MAC's AES step.
    pub mac_secret: [u8; 32],
    /// The egress MAC state, seeded with `(mac-secret ^ their nonce) || our packet`.
    pub egress_mac: Keccak256,
    /// The ingress MAC state, seeded with `(mac-secret ^ our nonce) || their packet`.
    pub ingress_mac: Keccak256,
    /// The remote node's static public key.
    pub remote_id: NodeId,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        self.aes_secret.zeroize();
        self.mac_secret.zeroize();
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("remote_id", &self.remote_id).finish_non_exhaustive()
    }
}

/// One side's view of a completed exchange, from which the secrets are derived.
struct Exchange<'a> {
    ephemeral_key: &'a SecretKey,
    remote_ephemeral: &'a PublicKey,
    initiator_nonce: &'a [u8; 32],
    recipient_nonce: &'a [u8; 32],
    we_initiated: bool,
    our_packet: &'a [u8],
    their_packet: &'a [u8],
    remote_id: NodeId,
}

/// `rlpx.md`: shared-secret, aes-secret, mac-secret and the two MAC states.
fn derive_secrets(x: Exchange<'_>) -> Secrets {
    let ecdhe = x.ephemeral_key.ecdh(x.remote_ephemeral);
    let nonce_hash = keccak256_concat(&[x.recipient_nonce, x.initiator_nonce]);
    let mut shared = keccak256_concat(&[ecdhe.as_bytes(), &nonce_hash]);
    let aes_secret = keccak256_concat(&[ecdhe.as_bytes(), &shared]);
    let mac_secret = keccak256_concat(&[ecdhe.as_bytes(), &aes_secret]);
    shared.zeroize();

    let (our_nonce, their_nonce) = if x.we_initiated {
        (x.initiator_nonce, x.recipient_nonce)
    } else {
        (x.recipient_nonce, x.initiator_nonce)
    };
    let mut egress_mac = Keccak256::new();
    egress_mac.update(xor32(&mac_secret, their_nonce));
    egress_mac.update(x.our_packet);
    let mut ingress_mac = Keccak256::new();
    ingress_mac.update(xor32(&mac_secret, our_nonce));
    ingress_mac.update(x.their_packet);
    Secrets { aes_secret, mac_secret, egress_mac, ingress_mac, remote_id: x.remote_id }
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = a[i] ^ b[i];
    }
    out
}

fn seal(
    format: HandshakeFormat,
    body: &mut Vec<u8>,
    padding_len: usize,
    remote: &PublicKey,
    rnd: &HandshakeRandomness,
) -> Vec<u8> {
    match format {
        HandshakeFormat::Legacy => {
            ecies::encrypt_with(remote, body, &[], &rnd.ecies_key, &rnd.ecies_iv)
        }
        HandshakeFormat::Eip8 => {
            body.resize(body.len() + padding_len, 0);
            let size = ecies::encrypted_len(body.len());
            let prefix = u16::try_from(size).unwrap_or(u16::MAX).to_be_bytes();
            let mut out = Vec::with_capacity(2 + size);
            out.extend_from_slice(&prefix);
            out.extend_from_slice(&ecies::encrypt_with(
                remote,
                body,
                &prefix,
                &rnd.ecies_key,
                &rnd.ecies_iv,
            ));
            out
        }
    }
}

/// Opens a handshake packet, trying the legacy form first when the length fits it.
fn open(
    key: &SecretKey,
    packet: &[u8],
    legacy_len: usize,
) -> Result<(HandshakeFormat, Vec<u8>), HandshakeError> {
    if packet.len() == legacy_len
        && let Ok(body) = ecies::decrypt(key, packet, &[])
    {
        return Ok((HandshakeFormat::Legacy, body));
    }
    if packet.len() < 2 {
        return Err(HandshakeError::Length {
            what: "handshake packet",
            expected: 2,
            got: packet.len(),
        });
    }
    let expected = eip8_packet_len([packet[0], packet[1]]);
    if packet.len() != expected {
        return Err(HandshakeError::Length {
            what: "EIP-8 handshake packet",
            expected,
            got: packet.len(),
        });
    }
    let body = ecies::decrypt(key, &packet[2..], &packet[..2])?;
    Ok((HandshakeFormat::Eip8, body))
}

/// The initiator (dialer) side of the handshake.
#[derive(Debug)]
pub struct Initiator {
    static_key: SecretKey,
    remote_id: NodeId,
    remote_key: PublicKey,
    rnd: HandshakeRandomness,
    auth_packet: Vec<u8>,
}

impl Initiator {
    /// Prepares a handshake with the node `remote_id`.
    pub fn new(
        static_key: SecretKey,
        remote_id: NodeId,
        rnd: HandshakeRandomness,
    ) -> Result<Self, HandshakeError> {
        let remote_key = remote_id.public_key().map_err(|_| HandshakeError::InvalidRemoteId)?;
        Ok(Self { static_key, remote_id, remote_key, rnd, auth_packet: Vec::new() })
    }

    /// Builds the auth packet (to be written to the socket as is) and remembers it for the MAC.
    pub fn auth(&mut self, format: HandshakeFormat) -> Vec<u8> {
        let static_shared = self.static_key.ecdh(&self.remote_key);
        let signed = xor32(static_shared.as_bytes(), &self.rnd.nonce);
        let signature = self.rnd.ephemeral_key.sign_prehash(&signed);
        let our_id = self.static_key.public_key().node_id();
        let mut body = Vec::with_capacity(LEGACY_AUTH_BODY_LEN + self.rnd.padding_len + 8);
        match format {
            HandshakeFormat::Eip8 => AuthMessage {
                signature,
                initiator_id: our_id,
                nonce: self.rnd.nonce,
                version: HANDSHAKE_VERSION,
            }
            .encode_eip8(&mut body),
            HandshakeFormat::Legacy => {
                body.extend_from_slice(&signature.to_bytes());
                let eph = self.rnd.ephemeral_key.public_key().node_id();
                body.extend_from_slice(&keccak256(eph.0));
                body.extend_from_slice(&our_id.0);
                body.extend_from_slice(&self.rnd.nonce);
                body.push(0);
            }
        }
        self.auth_packet =
            seal(format, &mut body, self.rnd.padding_len, &self.remote_key, &self.rnd);
        self.auth_packet.clone()
    }

    /// Reads the recipient's ack packet and derives the session secrets.
    pub fn read_ack(self, packet: &[u8]) -> Result<(Secrets, AckMessage), HandshakeError> {
        let (format, body) = open(&self.static_key, packet, LEGACY_ACK_LEN)?;
        let ack = match format {
            HandshakeFormat::Legacy => AckMessage::decode_legacy(&body)?,
            HandshakeFormat::Eip8 => AckMessage::decode_eip8(&body)?,
        };
        let remote_ephemeral =
            ack.ephemeral_id.public_key().map_err(|_| HandshakeError::InvalidEphemeralKey)?;
        let secrets = derive_secrets(Exchange {
            ephemeral_key: &self.rnd.ephemeral_key,
            remote_ephemeral: &remote_ephemeral,
            initiator_nonce: &self.rnd.nonce,
            recipient_nonce: &ack.nonce,
            we_initiated: true,
            our_packet: &self.auth_packet,
            their_packet: packet,
            remote_id: self.remote_id,
        });
        Ok((secrets, ack))
    }
}

/// The recipient (listener) side of the handshake.
#[derive(Debug)]
pub struct Recipient {
    static_key: SecretKey,
    rnd: HandshakeRandomness,
}

/// What the recipient learnt from an auth packet; pass it to [`Recipient::ack`].
#[derive(Debug)]
pub struct ReceivedAuth {
    /// The decoded auth message.
    pub message: AuthMessage,
    /// The form the initiator used; the ack is sent in the same form.
    pub format: HandshakeFormat,
    /// The initiator's ephemeral public key, recovered from the signature.
    pub remote_ephemeral: PublicKey,
    packet: Vec<u8>,
}

impl ReceivedAuth {
    /// The initiator's static node id.
    pub fn remote_id(&self) -> NodeId {
        self.message.initiator_id
    }
}

impl Recipient {
    /// Prepares to answer one auth packet.
    pub fn new(static_key: SecretKey, rnd: HandshakeRandomness) -> Self {
        Self { static_key, rnd }
    }

    /// Opens and checks an auth packet: decrypts it, decodes it and recovers the initiator's
    /// ephemeral key from its signature.
    pub fn read_auth(&self, packet: &[u8]) -> Result<ReceivedAuth, HandshakeError> {
        let (format, body) = open(&self.static_key, packet, LEGACY_AUTH_LEN)?;
        let (message, eph_hash) = match format {
            HandshakeFormat::Legacy => {
                let (m, h) = AuthMessage::decode_legacy(&body)?;
                (m, Some(h))
            }
            HandshakeFormat::Eip8 => (AuthMessage::decode_eip8(&body)?, None),
        };
        let remote_key =
            message.initiator_id.public_key().map_err(|_| HandshakeError::InvalidRemoteId)?;
        let static_shared = self.static_key.ecdh(&remote_key);
        let signed = xor32(static_shared.as_bytes(), &message.nonce);
        let remote_ephemeral =
            message.signature.recover(&signed).map_err(|_| HandshakeError::InvalidSignature)?;
        if let Some(h) = eph_hash
            && keccak256(remote_ephemeral.node_id().0) != h
        {
            return Err(HandshakeError::InvalidSignature);
        }
        Ok(ReceivedAuth { message, format, remote_ephemeral, packet: packet.to_vec() })
    }

    /// Builds the ack packet (in the form of the auth) and derives the session secrets.
    pub fn ack(self, auth: &ReceivedAuth) -> Result<(Vec<u8>, Secrets), HandshakeError> {
        let remote_key =
            auth.message.initiator_id.public_key().map_err(|_| HandshakeError::InvalidRemoteId)?;
        let eph_id = self.rnd.ephemeral_key.public_key().node_id();
        let mut body = Vec::with_capacity(LEGACY_ACK_BODY_LEN + self.rnd.padding_len + 8);
        match auth.format {
            HandshakeFormat::Eip8 => AckMessage {
                ephemeral_id: eph_id,
                nonce: self.rnd.nonce,
                version: HANDSHAKE_VERSION,
            }
            .encode_eip8(&mut body),
            HandshakeFormat::Legacy => {
                body.extend_from_slice(&eph_id.0);
                body.extend_from_slice(&self.rnd.nonce);
                body.push(0);
            }
        }
        let packet = seal(auth.format, &mut body, self.rnd.padding_len, &remote_key, &self.rnd);
        let secrets = derive_secrets(Exchange {
            ephemeral_key: &self.rnd.ephemeral_key,
            remote_ephemeral: &auth.remote_ephemeral,
            initiator_nonce: &auth.message.nonce,
            recipient_nonce: &self.rnd.nonce,
            we_initiated: false,
            our_packet: &packet,
            their_packet: &auth.packet,
            remote_id: auth.message.initiator_id,
        });
        Ok((packet, secrets))
    }
}

#[cfg(test)]
mod tests {
    //! `eips/eip-8.md` §"Test Vectors" / §"RLPx Handshake": node A initiates with node B.
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }
    fn key(s: &str) -> SecretKey {
        SecretKey::from_bytes(&h(s)).unwrap()
    }
    fn arr32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    const STATIC_A: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
    const STATIC_B: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
    const EPH_A: &str = "869d6ecf5211f1cc60418a13b9d870b22959d0c16f02bec714c960dd2298a32d";
    const EPH_B: &str = "e238eb8e04fee6511ab04c6dd3c89ce097b11f25d584863ac2b6d5b35b1847e4";
    const NONCE_A: &str = "7e968bba13b6c50e2c4cd7f241cc0d64d1ac25c7f5952df231ac6a2bda8ee5d6";
    const NONCE_B: &str = "559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd";

    const AUTH1: &str =
        "048ca79ad18e4b0659fab4853fe5bc58eb83992980f4c9cc147d2aa31532efd29a3d3dc6a3d89eaf
913150cfc777ce0ce4af2758bf4810235f6e6ceccfee1acc6b22c005e9e3a49d6448610a58e98744
ba3ac0399e82692d67c1f58849050b3024e21a52c9d3b01d871ff5f210817912773e610443a9ef14
2e91cdba0bd77b5fdf0769b05671fc35f83d83e4d3b0b000c6b2a1b1bba89e0fc51bf4e460df3105
c444f14be226458940d6061c296350937ffd5e3acaceeaaefd3c6f74be8e23e0f45163cc7ebd7622
0f0128410fd05250273156d548a414444ae2f7dea4dfca2d43c057adb701a715bf59f6fb66b2d1d2
0f2c703f851cbf5ac47396d9ca65b6260bd141ac4d53e2de585a73d1750780db4c9ee4cd4d225173
a4592ee77e2bd94d0be3691f3b406f9bba9b591fc63facc016bfa8";
    const AUTH2: &str =
        "01b304ab7578555167be8154d5cc456f567d5ba302662433674222360f08d5f1534499d3678b513b
0fca474f3a514b18e75683032eb63fccb16c156dc6eb2c0b1593f0d84ac74f6e475f1b8d56116b84
9634a8c458705bf83a626ea0384d4d7341aae591fae42ce6bd5c850bfe0b999a694a49bbbaf3ef6c
da61110601d3b4c02ab6c30437257a6e0117792631a4b47c1d52fc0f8f89caadeb7d02770bf999cc
147d2df3b62e1ffb2c9d8c125a3984865356266bca11ce7d3a688663a51d82defaa8aad69da39ab6
d5470e81ec5f2a7a47fb865ff7cca21516f9299a07b1bc63ba56c7a1a892112841ca44b6e0034dee
70c9adabc15d76a54f443593fafdc3b27af8059703f88928e199cb122362a4b35f62386da7caad09
c001edaeb5f8a06d2b26fb6cb93c52a9fca51853b68193916982358fe1e5369e249875bb8d0d0ec3
6f917bc5e1eafd5896d46bd61ff23f1a863a8a8dcd54c7b109b771c8e61ec9c8908c733c0263440e
2aa067241aaa433f0bb053c7b31a838504b148f570c0ad62837129e547678c5190341e4f1693956c
3bf7678318e2d5b5340c9e488eefea198576344afbdf66db5f51204a6961a63ce072c8926c";
    const AUTH3: &str =
        "01b8044c6c312173685d1edd268aa95e1d495474c6959bcdd10067ba4c9013df9e40ff45f5bfd6f7
2471f93a91b493f8e00abc4b80f682973de715d77ba3a005a242eb859f9a211d93a347fa64b597bf
280a6b88e26299cf263b01b8dfdb712278464fd1c25840b995e84d367d743f66c0e54a586725b7bb
f12acca27170ae3283c1073adda4b6d79f27656993aefccf16e0d0409fe07db2dc398a1b7e8ee93b
cd181485fd332f381d6a050fba4c7641a5112ac1b0b61168d20f01b479e19adf7fdbfa0905f63352
bfc7e23cf3357657455119d879c78d3cf8c8c06375f3f7d4861aa02a122467e069acaf513025ff19
6641f6d2810ce493f51bee9c966b15c5043505350392b57645385a18c78f14669cc4d960446c1757
1b7c5d725021babbcd786957f3d17089c084907bda22c2b2675b4378b114c601d858802a55345a15
116bc61da4193996187ed70d16730e9ae6b3bb8787ebcaea1871d850997ddc08b4f4ea668fbf3740
7ac044b55be0908ecb94d4ed172ece66fd31bfdadf2b97a8bc690163ee11f5b575a4b44e36e2bfb2
f0fce91676fd64c7773bac6a003f481fddd0bae0a1f31aa27504e2a533af4cef3b623f4791b2cca6
d490";
    const ACK1: &str =
        "049f8abcfa9c0dc65b982e98af921bc0ba6e4243169348a236abe9df5f93aa69d99cadddaa387662
b0ff2c08e9006d5a11a278b1b3331e5aaabf0a32f01281b6f4ede0e09a2d5f585b26513cb794d963
5a57563921c04a9090b4f14ee42be1a5461049af4ea7a7f49bf4c97a352d39c8d02ee4acc416388c
1c66cec761d2bc1c72da6ba143477f049c9d2dde846c252c111b904f630ac98e51609b3b1f58168d
dca6505b7196532e5f85b259a20c45e1979491683fee108e9660edbf38f3add489ae73e3dda2c71b
d1497113d5c755e942d1";
    const ACK2: &str =
        "01ea0451958701280a56482929d3b0757da8f7fbe5286784beead59d95089c217c9b917788989470
b0e330cc6e4fb383c0340ed85fab836ec9fb8a49672712aeabbdfd1e837c1ff4cace34311cd7f4de
05d59279e3524ab26ef753a0095637ac88f2b499b9914b5f64e143eae548a1066e14cd2f4bd7f814
c4652f11b254f8a2d0191e2f5546fae6055694aed14d906df79ad3b407d94692694e259191cde171
ad542fc588fa2b7333313d82a9f887332f1dfc36cea03f831cb9a23fea05b33deb999e85489e645f
6aab1872475d488d7bd6c7c120caf28dbfc5d6833888155ed69d34dbdc39c1f299be1057810f34fb
e754d021bfca14dc989753d61c413d261934e1a9c67ee060a25eefb54e81a4d14baff922180c395d
3f998d70f46f6b58306f969627ae364497e73fc27f6d17ae45a413d322cb8814276be6ddd13b885b
201b943213656cde498fa0e9ddc8e0b8f8a53824fbd82254f3e2c17e8eaea009c38b4aa0a3f306e8
797db43c25d68e86f262e564086f59a2fc60511c42abfb3057c247a8a8fe4fb3ccbadde17514b7ac
8000cdb6a912778426260c47f38919a91f25f4b5ffb455d6aaaf150f7e5529c100ce62d6d92826a7
1778d809bdf60232ae21ce8a437eca8223f45ac37f6487452ce626f549b3b5fdee26afd2072e4bc7
5833c2464c805246155289f4";
    const ACK3: &str =
        "01f004076e58aae772bb101ab1a8e64e01ee96e64857ce82b1113817c6cdd52c09d26f7b90981cd7
ae835aeac72e1573b8a0225dd56d157a010846d888dac7464baf53f2ad4e3d584531fa203658fab0
3a06c9fd5e35737e417bc28c1cbf5e5dfc666de7090f69c3b29754725f84f75382891c561040ea1d
dc0d8f381ed1b9d0d4ad2a0ec021421d847820d6fa0ba66eaf58175f1b235e851c7e2124069fbc20
2888ddb3ac4d56bcbd1b9b7eab59e78f2e2d400905050f4a92dec1c4bdf797b3fc9b2f8e84a482f3
d800386186712dae00d5c386ec9387a5e9c9a1aca5a573ca91082c7d68421f388e79127a5177d4f8
590237364fd348c9611fa39f78dcdceee3f390f07991b7b47e1daa3ebcb6ccc9607811cb17ce51f1
c8c2c5098dbdd28fca547b3f58c01a424ac05f869f49c6a34672ea2cbbc558428aa1fe48bbfd6115
8b1b735a65d99f21e70dbc020bfdface9f724a0d1fb5895db971cc81aa7608baa0920abb0a565c9c
436e2fd13323428296c86385f2384e408a31e104670df0791d93e743a3a5194ee6b076fb6323ca59
3011b7348c16cf58f66b9633906ba54a2ee803187344b394f75dd2e663a57b956cb830dd7a908d4f
39a2336a61ef9fda549180d4ccde21514d117b6c6fd07a9102b5efe710a32af4eeacae2cb3b1dec0
35b9593b48b9d3ca4c13d245d5f04169b0b1";

    fn rnd(eph: &str, nonce: &str) -> HandshakeRandomness {
        HandshakeRandomness {
            ephemeral_key: key(eph),
            nonce: arr32(nonce),
            ecies_key: SecretKey::random(),
            ecies_iv: [7; 16],
            padding_len: 100,
        }
    }

    /// B reads each of Auth₁ (legacy), Auth₂ and Auth₃ (EIP-8): A's key and nonce, and A's
    /// ephemeral key recovered from the signature.
    #[test]
    fn eip8_auth_vectors_decode() {
        let b = Recipient::new(key(STATIC_B), rnd(EPH_B, NONCE_B));
        let a_id = key(STATIC_A).public_key().node_id();
        let eph_a = key(EPH_A).public_key();
        for (name, packet, format, version) in [
            ("auth1", AUTH1, HandshakeFormat::Legacy, 4),
            ("auth2", AUTH2, HandshakeFormat::Eip8, 4),
            ("auth3", AUTH3, HandshakeFormat::Eip8, 56),
        ] {
            let got = b.read_auth(&h(packet)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.format, format, "{name}");
            assert_eq!(got.remote_id(), a_id, "{name}");
            assert_eq!(got.message.nonce, arr32(NONCE_A), "{name}");
            assert_eq!(got.message.version, version, "{name}");
            assert_eq!(got.remote_ephemeral, eph_a, "{name}");
        }
    }

    /// Auth₂'s body re-encodes byte for byte to the RLP at the start of its plaintext.
    #[test]
    fn eip8_auth2_body_reencodes() {
        let packet = h(AUTH2);
        let body = ecies::decrypt(&key(STATIC_B), &packet[2..], &packet[..2]).unwrap();
        let msg = AuthMessage::decode_eip8(&body).unwrap();
        let mut out = Vec::new();
        msg.encode_eip8(&mut out);
        assert_eq!(out[..], body[..out.len()]);
        // The rest is padding.
        assert!(body.len() > out.len());
    }

    /// A reads each of Ack₁ (legacy), Ack₂ and Ack₃ (EIP-8).
    #[test]
    fn eip8_ack_vectors_decode() {
        let eph_b = key(EPH_B).public_key().node_id();
        for (name, packet, version) in [("ack1", ACK1, 4), ("ack2", ACK2, 4), ("ack3", ACK3, 57)] {
            let mut a = Initiator::new(
                key(STATIC_A),
                key(STATIC_B).public_key().node_id(),
                rnd(EPH_A, NONCE_A),
            )
            .unwrap();
            a.auth_packet = h(AUTH2);
            let (_, ack) = a.read_ack(&h(packet)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ack.ephemeral_id, eph_b, "{name}");
            assert_eq!(ack.nonce, arr32(NONCE_B), "{name}");
            assert_eq!(ack.version, version, "{name}");
        }
    }

    /// B's secrets for (Auth₂, Ack₂): aes-secret, mac-secret and ingress-mac("foo").
    #[test]
    fn eip8_auth2_ack2_secrets() {
        let b = Recipient::new(key(STATIC_B), rnd(EPH_B, NONCE_B));
        let auth = b.read_auth(&h(AUTH2)).unwrap();
        let (_, secrets) = b.ack(&auth).unwrap();
        assert_eq!(
            secrets.aes_secret,
            arr32("80e8632c05fed6fc2a13b0f8d31a3cf645366239170ea067065aba8e28bac487")
        );
        assert_eq!(
            secrets.mac_secret,
            arr32("2ea74ec5dae199227dff1af715362700e989d889d7a493cb0639691efb8e5f98")
        );
        let mut ingress = secrets.ingress_mac.clone();
        ingress.update(b"foo");
        assert_eq!(
            ingress.finalize()[..],
            h("0c7ec6340062cc46f5e9f1e3cf86f8c8c403c5a0964f5df0ebd34a75ddc86db5")[..]
        );

        // A, reading Ack₂ after sending Auth₂, derives the same secrets, and its egress MAC
        // starts where B's ingress MAC does.
        let mut a = Initiator::new(
            key(STATIC_A),
            key(STATIC_B).public_key().node_id(),
            rnd(EPH_A, NONCE_A),
        )
        .unwrap();
        a.auth_packet = h(AUTH2);
        let (a_secrets, _) = a.read_ack(&h(ACK2)).unwrap();
        assert_eq!(a_secrets.aes_secret, secrets.aes_secret);
        assert_eq!(a_secrets.mac_secret, secrets.mac_secret);
        assert_eq!(a_secrets.egress_mac.clone().finalize(), secrets.ingress_mac.clone().finalize());
    }

    /// Both forms, both roles, with fresh keys: the two sides agree on every secret.
    #[test]
    fn handshake_round_trip_both_forms() {
        for format in [HandshakeFormat::Eip8, HandshakeFormat::Legacy] {
            let (ka, kb) = (SecretKey::random(), SecretKey::random());
            let mut a = Initiator::new(
                ka.clone(),
                kb.public_key().node_id(),
                HandshakeRandomness::generate(),
            )
            .unwrap();
            let auth = a.auth(format);
            if format == HandshakeFormat::Legacy {
                assert_eq!(auth.len(), LEGACY_AUTH_LEN);
            }
            let b = Recipient::new(kb, HandshakeRandomness::generate());
            let received = b.read_auth(&auth).unwrap();
            assert_eq!(received.format, format);
            assert_eq!(received.remote_id(), ka.public_key().node_id());
            let (ack, sb) = b.ack(&received).unwrap();
            if format == HandshakeFormat::Legacy {
                assert_eq!(ack.len(), LEGACY_ACK_LEN);
            }
            let (sa, _) = a.read_ack(&ack).unwrap();
            assert_eq!(sa.aes_secret, sb.aes_secret);
            assert_eq!(sa.mac_secret, sb.mac_secret);
            assert_eq!(sa.egress_mac.clone().finalize(), sb.ingress_mac.clone().finalize());
            assert_eq!(sa.ingress_mac.clone().finalize(), sb.egress_mac.clone().finalize());
        }
    }

    /// An auth for another key, a flipped byte, and truncations all fail with an error.
    #[test]
    fn bad_auth_is_rejected() {
        let b = Recipient::new(key(STATIC_B), rnd(EPH_B, NONCE_B));
        let other = Recipient::new(key(STATIC_A), rnd(EPH_B, NONCE_B));
        assert!(matches!(other.read_auth(&h(AUTH2)), Err(HandshakeError::Crypto(_))));
        let mut flipped = h(AUTH2);
        flipped[100] ^= 1;
        assert!(b.read_auth(&flipped).is_err());
        let full = h(AUTH2);
        for n in 0..full.len() {
            assert!(b.read_auth(&full[..n]).is_err(), "truncated to {n}");
        }
    }
}
