//! A tokio codec over the frame cipher: bytes in, frame data (`msg-id || msg-data`) out.
//!
//! The decoder is an explicit state machine (waiting for a header, then for a body of known
//! size). It never reserves more than one frame of at most `max_frame_size`, and a partial
//! frame at EOF ends the stream quietly: go-ethereum answers a Disconnect by echoing it and
//! closing, so only part of the echo reaches the wire (DECISIONS 20).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    error::RlpxError,
    frame::{FrameCipher, HEADER_LEN, body_len},
};

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
                        src.reserve(need - src.len());
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
