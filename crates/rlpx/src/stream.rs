//! The async RLPx stream: `connect` and `accept` run the handshake over any byte stream
//! (usually a `TcpStream`), then frames flow through [`RlpxCodec`].

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Framed;
use wisp_crypto::{NodeId, SecretKey};

use crate::{
    codec::RlpxCodec,
    error::RlpxError,
    frame::{FrameCipher, MAX_FRAME_SIZE},
    handshake::{
        HandshakeFormat, HandshakeRandomness, Initiator, LEGACY_AUTH_LEN, Recipient, Secrets,
        eip8_packet_len,
    },
};

/// Settings of the RLPx transport.
#[derive(Clone, Debug)]
pub struct RlpxConfig {
    /// How long the auth/ack exchange may take. Default: 5 s (as go-ethereum).
    pub handshake_timeout: Duration,
    /// The largest incoming frame accepted. Default: 16 MiB - 1, the 24-bit limit. The `p2p`
    /// session lowers it after Hello to fit its largest message.
    pub max_frame_size: usize,
    /// The largest incoming frame accepted until the peer's Hello is read (a Hello is a few
    /// hundred bytes; [`crate::p2p::MAX_CLIENT_ID`] and [`crate::p2p::MAX_CAPABILITIES`]
    /// bound it under 8 KiB). Default: 16 KiB ([`MAX_HELLO_FRAME_SIZE`]).
    pub max_hello_frame_size: usize,
}

/// The default frame limit before the Hello exchange.
pub const MAX_HELLO_FRAME_SIZE: usize = 16 * 1024;

impl Default for RlpxConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            max_frame_size: MAX_FRAME_SIZE,
            max_hello_frame_size: MAX_HELLO_FRAME_SIZE,
        }
    }
}

/// An authenticated, encrypted RLPx connection: a `Stream` of incoming frame data and a
/// `Sink` of outgoing frame data. The `p2p` Hello has not been exchanged yet; wrap it in
/// [`crate::UnauthedP2PStream`] to do so.
#[derive(Debug)]
pub struct RlpxStream<S> {
    framed: Framed<S, RlpxCodec>,
    remote_id: NodeId,
    max_frame_size: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RlpxStream<S> {
    /// Runs the handshake as initiator with the node `remote_id` over `io`.
    pub async fn connect(
        io: S,
        key: &SecretKey,
        remote_id: NodeId,
        config: &RlpxConfig,
    ) -> Result<Self, RlpxError> {
        Self::connect_with(io, key, remote_id, HandshakeRandomness::generate(), config).await
    }

    /// As [`RlpxStream::connect`], with the handshake randomness given.
    pub async fn connect_with(
        mut io: S,
        key: &SecretKey,
        remote_id: NodeId,
        rnd: HandshakeRandomness,
        config: &RlpxConfig,
    ) -> Result<Self, RlpxError> {
        let run = async {
            let mut initiator = Initiator::new(key.clone(), remote_id, rnd)?;
            io.write_all(&initiator.auth(HandshakeFormat::Eip8)).await?;
            io.flush().await?;
            let ack = read_packet(&mut io, None).await?;
            let (secrets, _) = initiator.read_ack(&ack)?;
            Ok::<_, RlpxError>(secrets)
        };
        let secrets = tokio::time::timeout(config.handshake_timeout, run)
            .await
            .map_err(|_| RlpxError::HandshakeTimeout(config.handshake_timeout))??;
        tracing::debug!(target: "rlpx", remote = %remote_id, "handshake complete (initiator)");
        Ok(Self::from_secrets(io, &secrets, config))
    }

    /// Runs the handshake as recipient over an accepted `io`.
    pub async fn accept(io: S, key: &SecretKey, config: &RlpxConfig) -> Result<Self, RlpxError> {
        Self::accept_with(io, key, HandshakeRandomness::generate(), config).await
    }

    /// As [`RlpxStream::accept`], with the handshake randomness given.
    pub async fn accept_with(
        mut io: S,
        key: &SecretKey,
        rnd: HandshakeRandomness,
        config: &RlpxConfig,
    ) -> Result<Self, RlpxError> {
        let run = async {
            let recipient = Recipient::new(key.clone(), rnd);
            let auth = read_packet(&mut io, Some(&recipient)).await?;
            let received = recipient.read_auth(&auth)?;
            let (ack, secrets) = recipient.ack(&received)?;
            io.write_all(&ack).await?;
            io.flush().await?;
            Ok::<_, RlpxError>(secrets)
        };
        let secrets = tokio::time::timeout(config.handshake_timeout, run)
            .await
            .map_err(|_| RlpxError::HandshakeTimeout(config.handshake_timeout))??;
        tracing::debug!(target: "rlpx", remote = %secrets.remote_id, "handshake complete (recipient)");
        Ok(Self::from_secrets(io, &secrets, config))
    }

    /// Wraps `io` whose handshake produced `secrets`. Incoming frames are limited to
    /// `max_hello_frame_size` until [`RlpxStream::set_max_frame_size`] raises it (the `p2p`
    /// session does so once Hello is read), and never beyond `max_frame_size`.
    pub fn from_secrets(io: S, secrets: &Secrets, config: &RlpxConfig) -> Self {
        let first = config.max_hello_frame_size.min(config.max_frame_size);
        let codec = RlpxCodec::new(FrameCipher::new(secrets, first));
        Self {
            framed: Framed::new(io, codec),
            remote_id: secrets.remote_id,
            max_frame_size: config.max_frame_size,
        }
    }
}

impl<S> RlpxStream<S> {
    /// The remote node's id, authenticated by the handshake.
    pub fn remote_id(&self) -> NodeId {
        self.remote_id
    }

    /// The underlying byte stream.
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }

    /// Whether the peer closed the stream in the middle of a frame.
    pub fn truncated_at_eof(&self) -> bool {
        self.framed.codec().truncated_at_eof()
    }

    /// The largest incoming frame now accepted.
    pub fn max_frame_size(&self) -> usize {
        self.framed.codec().max_frame_size()
    }

    /// Sets the largest incoming frame accepted from the next frame on, at most the
    /// configured `max_frame_size`.
    pub fn set_max_frame_size(&mut self, max: usize) {
        let max = max.min(self.max_frame_size);
        self.framed.codec_mut().set_max_frame_size(max);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RlpxStream<S> {
    /// Sends one frame carrying `frame_data` (`msg-id || msg-data`, as given: nothing is
    /// compressed). The `Sink` without the trait, for tools and tests.
    pub async fn send_frame(&mut self, frame_data: Bytes) -> Result<(), RlpxError> {
        futures::SinkExt::send(self, frame_data).await
    }

    /// The next frame's data, `None` at the end of the stream. The `Stream` without the
    /// trait, for tools and tests.
    pub async fn recv_frame(&mut self) -> Option<Result<BytesMut, RlpxError>> {
        futures::StreamExt::next(self).await
    }
}

/// Reads one handshake packet of the EIP-8 form. For an auth (`legacy` is the recipient), a
/// packet that starts with 0x04 may instead be a fixed-size legacy packet (ECIES output starts
/// with an uncompressed point): [`LEGACY_AUTH_LEN`] bytes are read and tried as such first.
async fn read_packet<S: AsyncRead + Unpin>(
    io: &mut S,
    legacy: Option<&Recipient>,
) -> Result<Vec<u8>, RlpxError> {
    let mut prefix = [0u8; 2];
    read_exact(io, &mut prefix).await?;
    let mut packet = prefix.to_vec();
    if let Some(recipient) = legacy
        && prefix[0] == 0x04
    {
        packet.resize(LEGACY_AUTH_LEN, 0);
        read_exact(io, &mut packet[2..]).await?;
        if recipient.read_auth(&packet).is_ok() {
            return Ok(packet);
        }
    }
    // An EIP-8 prefix starting with 0x04 declares at least 1026 bytes, more than a legacy auth.
    let have = packet.len();
    packet.resize(eip8_packet_len(prefix).max(have), 0);
    read_exact(io, &mut packet[have..]).await?;
    Ok(packet)
}

async fn read_exact<S: AsyncRead + Unpin>(io: &mut S, buf: &mut [u8]) -> Result<(), RlpxError> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(RlpxError::ClosedDuringHandshake)
        }
        Err(e) => Err(e.into()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for RlpxStream<S> {
    type Item = Result<BytesMut, RlpxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.framed).poll_next(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Bytes> for RlpxStream<S> {
    type Error = RlpxError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Sink::<Bytes>::poll_ready(Pin::new(&mut self.framed), cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Bytes) -> Result<(), RlpxError> {
        Pin::new(&mut self.framed).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Sink::<Bytes>::poll_flush(Pin::new(&mut self.framed), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), RlpxError>> {
        Sink::<Bytes>::poll_close(Pin::new(&mut self.framed), cx)
    }
}
