//! RLPx framing as pure code over buffers: AES-256-CTR encryption of header and body, the
//! keccak MACs, 16-byte padding and the frame-size limit.
//!
//! Spec: `devp2p/rlpx.md` §"Framing" and §"MAC". A frame on the wire is
//! `header-ct(16) || header-mac(16) || frame-ct(padded to 16) || frame-mac(16)`; the header
//! is `frame-size(3, big endian) || rlp([0, 0]) || zero padding`.

use bytes::{BufMut, BytesMut};
use wisp_crypto::{Aes256Block, Aes256CtrStream, Digest, Keccak256, constant_time_eq};

use crate::{error::FrameError, handshake::Secrets};

/// Size of the encrypted header plus its MAC.
pub const HEADER_LEN: usize = 32;
/// Size of a MAC on the wire.
pub const MAC_LEN: usize = 16;
/// The largest frame size the 24-bit header field can carry.
pub const MAX_FRAME_SIZE: usize = 0xff_ffff;
/// `header-data` as status-go and go-ethereum send it: `rlp([0, 0])`.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

/// The number of bytes a frame body of `frame_size` takes on the wire after the header:
/// the padded ciphertext and the frame MAC.
pub fn body_len(frame_size: usize) -> usize {
    padded(frame_size) + MAC_LEN
}

fn padded(n: usize) -> usize {
    n.div_ceil(16) * 16
}

/// One direction's MAC state.
struct MacState {
    hash: Keccak256,
    cipher: Aes256Block,
}

impl MacState {
    fn digest16(&self) -> [u8; 16] {
        let d = self.hash.clone().finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// `seed = aes(mac-secret, digest[:16]) ^ header-ct; update(seed); mac = digest[:16]`.
    fn header_mac(&mut self, header_ct: &[u8]) -> [u8; 16] {
        let mut seed = self.digest16();
        self.cipher.encrypt_block(&mut seed);
        for (s, c) in seed.iter_mut().zip(header_ct) {
            *s ^= c;
        }
        self.hash.update(seed);
        self.digest16()
    }

    /// `update(frame-ct); d = digest[:16]; seed = aes(d) ^ d; update(seed); mac = digest[:16]`.
    fn frame_mac(&mut self, frame_ct: &[u8]) -> [u8; 16] {
        self.hash.update(frame_ct);
        let prev = self.digest16();
        let mut seed = prev;
        self.cipher.encrypt_block(&mut seed);
        for (s, p) in seed.iter_mut().zip(prev) {
            *s ^= p;
        }
        self.hash.update(seed);
        self.digest16()
    }
}

/// The egress half of a session's frame cipher: encrypts and MACs outgoing frames.
pub struct FrameWriter {
    enc: Aes256CtrStream,
    mac: MacState,
}

/// The ingress half of a session's frame cipher: checks MACs and decrypts incoming frames.
pub struct FrameReader {
    dec: Aes256CtrStream,
    mac: MacState,
    max_frame_size: usize,
}

/// Both halves of the frame cipher, built from the handshake secrets.
pub struct FrameCipher {
    /// Outgoing frames.
    pub writer: FrameWriter,
    /// Incoming frames.
    pub reader: FrameReader,
}

impl std::fmt::Debug for FrameCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCipher")
            .field("max_frame_size", &self.reader.max_frame_size)
            .finish_non_exhaustive()
    }
}

impl FrameCipher {
    /// The frame cipher of a session. `max_frame_size` bounds incoming frames (at most
    /// [`MAX_FRAME_SIZE`]); a larger header is rejected before anything is allocated.
    pub fn new(secrets: &Secrets, max_frame_size: usize) -> Self {
        // One CTR stream per direction, both with aes-secret and an all-zero IV (rlpx.md).
        let iv = [0u8; 16];
        Self {
            writer: FrameWriter {
                enc: Aes256CtrStream::new(&secrets.aes_secret, &iv),
                mac: MacState {
                    hash: secrets.egress_mac.clone(),
                    cipher: Aes256Block::new(&secrets.mac_secret),
                },
            },
            reader: FrameReader {
                dec: Aes256CtrStream::new(&secrets.aes_secret, &iv),
                mac: MacState {
                    hash: secrets.ingress_mac.clone(),
                    cipher: Aes256Block::new(&secrets.mac_secret),
                },
                max_frame_size: max_frame_size.min(MAX_FRAME_SIZE),
            },
        }
    }
}

impl FrameWriter {
    /// Appends only the 32-byte header (encrypted, with its MAC) of a frame of `size` bytes.
    /// [`FrameWriter::write_frame`] uses it; alone, it lets a test or tool announce a frame
    /// it never sends.
    pub fn write_header(&mut self, size: usize, out: &mut BytesMut) -> Result<(), FrameError> {
        if size > MAX_FRAME_SIZE {
            return Err(FrameError::FrameTooBig { size, max: MAX_FRAME_SIZE });
        }
        let mut header = [0u8; 16];
        header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.enc.apply(&mut header);
        let header_mac = self.mac.header_mac(&header);
        out.put_slice(&header);
        out.put_slice(&header_mac);
        Ok(())
    }

    /// Appends one encrypted frame carrying `frame_data` (`msg-id || msg-data`) to `out`.
    ///
    /// Fails only if `frame_data` is larger than [`MAX_FRAME_SIZE`].
    pub fn write_frame(&mut self, frame_data: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        let size = frame_data.len();
        if size > MAX_FRAME_SIZE {
            return Err(FrameError::FrameTooBig { size, max: MAX_FRAME_SIZE });
        }
        let start = out.len();
        out.reserve(HEADER_LEN + body_len(size));
        self.write_header(size, out)?;

        let body_start = out.len();
        out.put_slice(frame_data);
        out.put_bytes(0, padded(size) - size);
        let body = &mut out[body_start..];
        self.enc.apply(body);
        let frame_mac = self.mac.frame_mac(body);
        out.put_slice(&frame_mac);
        debug_assert_eq!(out.len() - start, HEADER_LEN + body_len(size));
        Ok(())
    }
}

impl FrameReader {
    /// The largest frame [`FrameReader::read_header`] accepts.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Changes the largest frame accepted (capped at [`MAX_FRAME_SIZE`]).
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.max_frame_size = max.min(MAX_FRAME_SIZE);
    }

    /// Checks the MAC of a 32-byte header and decrypts it; returns the frame size.
    pub fn read_header(&mut self, header: &[u8; HEADER_LEN]) -> Result<usize, FrameError> {
        let (ct, mac) = header.split_at(16);
        let expected = self.mac.header_mac(ct);
        if !constant_time_eq(&expected, mac) {
            return Err(FrameError::HeaderMac);
        }
        let mut plain = [0u8; 16];
        plain.copy_from_slice(ct);
        self.dec.apply(&mut plain);
        let size = u32::from_be_bytes([0, plain[0], plain[1], plain[2]]) as usize;
        if size > self.max_frame_size {
            return Err(FrameError::FrameTooBig { size, max: self.max_frame_size });
        }
        Ok(size)
    }

    /// Checks the MAC of a frame body (`body_len(frame_size)` bytes: padded ciphertext and
    /// MAC) and decrypts it in place. The frame data is `body[..frame_size]` afterwards.
    pub fn read_body(&mut self, body: &mut [u8], frame_size: usize) -> Result<(), FrameError> {
        let want = body_len(frame_size);
        if body.len() != want {
            return Err(FrameError::BodyLength { expected: want, got: body.len() });
        }
        let (ct, mac) = body.split_at_mut(want - MAC_LEN);
        let expected = self.mac.frame_mac(ct);
        if !constant_time_eq(&expected, mac) {
            return Err(FrameError::FrameMac);
        }
        self.dec.apply(ct);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tokio_util::codec::Decoder;

    use super::*;
    use crate::{
        codec::RlpxCodec,
        handshake::{HandshakeFormat, HandshakeRandomness, Initiator, Recipient},
    };

    fn secrets() -> (Secrets, Secrets) {
        let (ka, kb) = (wisp_crypto::SecretKey::random(), wisp_crypto::SecretKey::random());
        let mut a =
            Initiator::new(ka, kb.public_key().node_id(), HandshakeRandomness::generate()).unwrap();
        let auth = a.auth(HandshakeFormat::Eip8);
        let b = Recipient::new(kb, HandshakeRandomness::generate());
        let received = b.read_auth(&auth).unwrap();
        let (ack, sb) = b.ack(&received).unwrap();
        let (sa, _) = a.read_ack(&ack).unwrap();
        (sa, sb)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Frames of any size, written by one side and fed to the other side's codec in any
        /// chunking, come back unchanged.
        #[test]
        fn frames_round_trip_through_codec(
            frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..8),
            chunk in 1usize..500,
        ) {
            let (sa, sb) = secrets();
            let mut writer = FrameCipher::new(&sa, MAX_FRAME_SIZE).writer;
            let mut codec = RlpxCodec::new(FrameCipher::new(&sb, MAX_FRAME_SIZE));
            let mut wire = BytesMut::new();
            for f in &frames {
                writer.write_frame(f, &mut wire).unwrap();
            }
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for c in wire.chunks(chunk) {
                buf.extend_from_slice(c);
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    got.push(f.to_vec());
                }
            }
            prop_assert_eq!(got, frames);
        }

        /// Any flipped bit of a frame is caught by a MAC.
        #[test]
        fn tampering_is_detected(data in prop::collection::vec(any::<u8>(), 1..200), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (sa, sb) = secrets();
            let mut writer = FrameCipher::new(&sa, MAX_FRAME_SIZE).writer;
            let mut codec = RlpxCodec::new(FrameCipher::new(&sb, MAX_FRAME_SIZE));
            let mut wire = BytesMut::new();
            writer.write_frame(&data, &mut wire).unwrap();
            let i = pos.index(wire.len());
            wire[i] ^= 1 << bit;
            let r = codec.decode(&mut wire);
            prop_assert!(r.is_err(), "flipped byte {} not detected", i);
        }
    }

    #[test]
    fn oversized_header_is_rejected_before_the_body() {
        let (sa, sb) = secrets();
        let mut writer = FrameCipher::new(&sa, MAX_FRAME_SIZE).writer;
        let mut reader = FrameCipher::new(&sb, 1024).reader;
        let mut wire = BytesMut::new();
        writer.write_frame(&[0u8; 2000], &mut wire).unwrap();
        let header: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
        assert_eq!(
            reader.read_header(&header),
            Err(FrameError::FrameTooBig { size: 2000, max: 1024 })
        );
        assert!(matches!(
            writer.write_frame(&vec![0u8; MAX_FRAME_SIZE + 1], &mut wire),
            Err(FrameError::FrameTooBig { .. })
        ));
    }
}
