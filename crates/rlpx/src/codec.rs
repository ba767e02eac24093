//! A tokio codec over the frame cipher: bytes in, frame data (`msg-id || msg-data`) out.
//!
//! The decoder is an explicit state machine (waiting for a header, then for a body of known
//! size). A header announcing more than the current frame limit is refused before anything
//! is allocated, and the buffer grows with the bytes actually received, never with the size
//! a header announces (at most [`READ_AHEAD`] beyond what is there). The frame limit can be
//! changed between frames: the session keeps it small until the peer's Hello is read. A
//! partial frame at EOF ends the stream quietly: go-ethereum answers a Disconnect by echoing
//! it and closing, so only part of the echo reaches the wire (DECISIONS 20).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    error::RlpxError,
    frame::{FrameCipher, HEADER_LEN, body_len},
};

/// The most the decoder reserves beyond the bytes already buffered while a frame body is
/// arriving: memory follows what the peer sent, not what its header announced.
pub const READ_AHEAD: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum DecodeState {
    /// Waiting for a 32-byte header.
    Header,
    /// The header was read; waiting for the body of a frame of this size.
    Body { frame_size: usize },
}

/// Encrypts outgoing and decrypts incoming RLPx frames.
#[derive(Debug)]
pub struct RlpxCodec {
    cipher: FrameCipher,
    state: DecodeState,
    truncated_at_eof: bool,
}

impl RlpxCodec {
    /// A codec around a session's frame cipher.
    pub fn new(cipher: FrameCipher) -> Self {
        Self { cipher, state: DecodeState::Header, truncated_at_eof: false }
    }

    /// The largest incoming frame now accepted.
    pub fn max_frame_size(&self) -> usize {
        self.cipher.reader.max_frame_size()
    }

    /// Changes the largest incoming frame accepted from the next header on (capped at
    /// [`crate::frame::MAX_FRAME_SIZE`]).
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.cipher.reader.set_max_frame_size(max);
    }

    /// Whether the stream ended in the middle of a frame.
    pub fn truncated_at_eof(&self) -> bool {
        self.truncated_at_eof
    }
}

impl Decoder for RlpxCodec {
    type Item = BytesMut;
    type Error = RlpxError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        loop {
            match self.state {
                DecodeState::Header => {
                    if src.len() < HEADER_LEN {
                        src.reserve(HEADER_LEN - src.len());
                        return Ok(None);
                    }
                    let mut header = [0u8; HEADER_LEN];
                    header.copy_from_slice(&src[..HEADER_LEN]);
                    let frame_size = self.cipher.reader.read_header(&header)?;
                    src.advance(HEADER_LEN);
                    self.state = DecodeState::Body { frame_size };
                }
                DecodeState::Body { frame_size } => {
                    let need = body_len(frame_size);
                    if src.len() < need {
                        src.reserve((need - src.len()).min(READ_AHEAD));
                        return Ok(None);
                    }
                    let mut body = src.split_to(need);
                    self.cipher.reader.read_body(&mut body, frame_size)?;
                    body.truncate(frame_size);
                    self.state = DecodeState::Header;
                    return Ok(Some(body));
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, RlpxError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                if !buf.is_empty() || matches!(self.state, DecodeState::Body { .. }) {
                    tracing::debug!(target: "rlpx", left = buf.len(), "stream ended inside a frame");
                    self.truncated_at_eof = true;
                    buf.clear();
                    self.state = DecodeState::Header;
                }
                Ok(None)
            }
        }
    }
}

impl Encoder<&[u8]> for RlpxCodec {
    type Error = RlpxError;

    fn encode(&mut self, frame_data: &[u8], dst: &mut BytesMut) -> Result<(), RlpxError> {
        Ok(self.cipher.writer.write_frame(frame_data, dst)?)
    }
}

impl Encoder<Bytes> for RlpxCodec {
    type Error = RlpxError;

    fn encode(&mut self, frame_data: Bytes, dst: &mut BytesMut) -> Result<(), RlpxError> {
        Ok(self.cipher.writer.write_frame(&frame_data, dst)?)
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::codec::Decoder;

    use super::*;
    use crate::{
        frame::MAX_FRAME_SIZE,
        handshake::{HandshakeFormat, HandshakeRandomness, Initiator, Recipient, Secrets},
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

    /// A header announcing a large frame followed by a trickle of body bytes must not make
    /// the decoder reserve the announced size (issue 11: 16 MiB pinned per connection).
    #[test]
    fn announced_size_is_not_reserved() {
        let (sa, sb) = secrets();
        let mut writer = FrameCipher::new(&sa, MAX_FRAME_SIZE).writer;
        let mut codec = RlpxCodec::new(FrameCipher::new(&sb, MAX_FRAME_SIZE));
        let mut wire = BytesMut::new();
        let big = 8 * 1024 * 1024;
        writer.write_frame(&vec![7u8; big], &mut wire).unwrap();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&wire[..HEADER_LEN + 100]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= READ_AHEAD + 1024, "reserved {} bytes", buf.capacity());
        // The frame still arrives whole when the bytes do.
        let mut rest = &wire[HEADER_LEN + 100..];
        let mut got = None;
        while got.is_none() {
            let n = rest.len().min(100_000);
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            got = codec.decode(&mut buf).unwrap();
        }
        assert_eq!(got.unwrap().len(), big);
    }

    /// The frame limit may be changed between frames (small before Hello, larger after).
    #[test]
    fn frame_limit_applies_from_the_next_header() {
        let (sa, sb) = secrets();
        let mut writer = FrameCipher::new(&sa, MAX_FRAME_SIZE).writer;
        let mut codec = RlpxCodec::new(FrameCipher::new(&sb, 1024));
        let mut wire = BytesMut::new();
        writer.write_frame(&[1u8; 2000], &mut wire).unwrap();
        let mut first = wire.clone();
        assert!(matches!(
            codec.decode(&mut first),
            Err(RlpxError::Frame(crate::FrameError::FrameTooBig { size: 2000, max: 1024 }))
        ));
        let (sa, sb) = secrets();
        let mut writer = FrameCipher::new(&sa, MAX_FRAME_SIZE).writer;
        let mut codec = RlpxCodec::new(FrameCipher::new(&sb, 1024));
        codec.set_max_frame_size(4096);
        assert_eq!(codec.max_frame_size(), 4096);
        let mut wire = BytesMut::new();
        writer.write_frame(&[1u8; 2000], &mut wire).unwrap();
        assert_eq!(codec.decode(&mut wire).unwrap().unwrap().len(), 2000);
    }
}
