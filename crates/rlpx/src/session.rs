//! The `p2p` session over an RLPx stream, as a typestate: an [`UnauthedP2PStream`] can only
//! exchange Hello; the [`P2PStream`] it becomes carries capability messages, answers Pings,
//! compresses with snappy (EIP-706) and ends with a Disconnect.

use std::{collections::VecDeque, time::Duration};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::Instant,
};

use crate::{
    error::{P2PError, RlpxError},
    p2p::{
        BASE_PROTOCOL_LENGTH, DISCONNECT_ID, DisconnectReason, HELLO_ID, Hello, P2PMessage,
        PING_ID, PONG_ID, Protocol, SNAPPY_MIN_VERSION, SharedCapabilities, decode_frame_data,
        decompress, encode_frame_data,
    },
    stream::RlpxStream,
};

/// The largest decompressed message accepted (`rlpx.md`: 16 MiB).
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Settings of the `p2p` session.
#[derive(Clone, Debug)]
pub struct P2PConfig {
    /// The largest message (after decompression) accepted. Default: 16 MiB.
    pub max_message_size: usize,
    /// How long to wait for the peer's Hello. Default: 5 s.
    pub hello_timeout: Duration,
    /// At most this many capability messages are held while [`P2PStream::ping`] waits for its
    /// Pong. Default: 1024.
    pub max_queued_messages: usize,
}

impl Default for P2PConfig {
    fn default() -> Self {
        Self {
            max_message_size: MAX_MESSAGE_SIZE,
            hello_timeout: Duration::from_secs(5),
            max_queued_messages: 1024,
        }
    }
}

/// A capability message: its absolute id (>= 0x10) and its decompressed data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityMessage {
    /// The absolute message id; [`SharedCapabilities::resolve`] maps it to a capability.
    pub id: u64,
    /// The message data (RLP), decompressed.
    pub data: Bytes,
}

/// An RLPx connection before the Hello exchange. It cannot send capability messages: only
/// [`UnauthedP2PStream::handshake`] turns it into a [`P2PStream`] that can.
///
/// ```compile_fail
/// # async fn f(mut s: wisp_rlpx::UnauthedP2PStream<tokio::net::TcpStream>) {
/// s.send(0x10, b"\xc0").await; // no such method before the Hello exchange
/// # }
/// ```
#[derive(Debug)]
pub struct UnauthedP2PStream<S> {
    inner: RlpxStream<S>,
    config: P2PConfig,
}

impl<S: AsyncRead + AsyncWrite + Unpin> UnauthedP2PStream<S> {
    /// Wraps an RLPx stream whose cryptographic handshake is done.
    pub fn new(inner: RlpxStream<S>, config: P2PConfig) -> Self {
        Self { inner, config }
    }

    /// Sends our Hello, reads the peer's, checks its identity and negotiates capabilities.
    /// On a mismatch the peer is sent a Disconnect with the fitting reason (UselessPeer when no
    /// capability is shared, UnexpectedIdentity, BreachOfProtocol for a malformed Hello).
    pub async fn handshake(
        mut self,
        ours: Hello,
        protocols: &[Protocol],
    ) -> Result<(P2PStream<S>, Hello), P2PError> {
        let mut frame = Vec::with_capacity(ours.encoded_len() + 1);
        let mut data = Vec::with_capacity(ours.encoded_len());
        ours.encode(&mut data);
        encode_frame_data(HELLO_ID, &data, &mut frame);
        // The Hello is never compressed (DECISIONS 20).
        self.inner.send(Bytes::from(frame)).await?;

        let timeout = self.config.hello_timeout;
        let first = tokio::time::timeout(timeout, self.inner.next())
            .await
            .map_err(|_| P2PError::HelloTimeout(timeout))?;
        let first = match first {
            Some(frame) => frame?,
            None => return Err(P2PError::Closed),
        };
        let theirs = match Self::read_hello(&first) {
            Ok(h) => h,
            Err(e) => return Err(fail_uncompressed(&mut self.inner, e).await),
        };
        let remote_id = self.inner.remote_id();
        if theirs.id != remote_id {
            let e = P2PError::UnexpectedIdentity {
                expected: Box::new(remote_id),
                got: Box::new(theirs.id),
            };
            return Err(fail_uncompressed(&mut self.inner, e).await);
        }
        let shared = match SharedCapabilities::negotiate(protocols, &theirs.capabilities) {
            Ok(s) => s,
            Err(e) => return Err(fail_uncompressed(&mut self.inner, e).await),
        };
        let snappy = ours.protocol_version >= SNAPPY_MIN_VERSION
            && theirs.protocol_version >= SNAPPY_MIN_VERSION;
        tracing::debug!(
            target: "rlpx",
            peer = %remote_id,
            client = %theirs.client_id,
            snappy,
            "p2p session established"
        );
        let stream = P2PStream {
            inner: self.inner,
            config: self.config,
            shared,
            snappy,
            remote_hello: theirs.clone(),
            queue: VecDeque::new(),
            ping_sent: None,
            last_rtt: None,
        };
        Ok((stream, theirs))
    }

    fn read_hello(frame: &[u8]) -> Result<Hello, P2PError> {
        let (id, data) = decode_frame_data(frame)?;
        match id {
            HELLO_ID => {
                let mut d = data;
                Hello::decode(&mut d)
            }
            // A Disconnect before Hello is not compressed (snappy is not on yet).
            DISCONNECT_ID => {
                let mut d = data;
                Err(P2PError::Disconnected(DisconnectReason::decode(&mut d)?))
            }
            other => Err(P2PError::HelloExpected(other)),
        }
    }
}

/// Sends the Disconnect an error warrants, before snappy is on, and returns the error.
async fn fail_uncompressed<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut RlpxStream<S>,
    err: P2PError,
) -> P2PError {
    let Some(reason) = err.disconnect_reason() else { return err };
    let mut data = Vec::new();
    reason.encode(&mut data);
    let mut frame = Vec::new();
    encode_frame_data(DISCONNECT_ID, &data, &mut frame);
    let _ = inner.send(Bytes::from(frame)).await;
    let _ = SinkExt::<Bytes>::close(inner).await;
    P2PError::WeDisconnected { reason, detail: err.to_string() }
}

/// An established `p2p` session: Hello exchanged, capabilities negotiated.
///
/// [`P2PStream::recv`] returns capability messages and answers Pings on the way; a malformed
/// message makes it send a Disconnect(BreachOfProtocol) and return the error. Its futures are
/// cancel-safe with respect to incoming data (frames are buffered by the codec).
#[derive(Debug)]
pub struct P2PStream<S> {
    inner: RlpxStream<S>,
    config: P2PConfig,
    shared: SharedCapabilities,
    snappy: bool,
    remote_hello: Hello,
    queue: VecDeque<CapabilityMessage>,
    ping_sent: Option<Instant>,
    last_rtt: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> P2PStream<S> {
    /// The capabilities of this session and their id ranges.
    pub fn shared_capabilities(&self) -> &SharedCapabilities {
        &self.shared
    }

    /// The peer's Hello.
    pub fn remote_hello(&self) -> &Hello {
        &self.remote_hello
    }

    /// Whether message data is snappy-compressed on this session.
    pub fn snappy(&self) -> bool {
        self.snappy
    }

    /// Whether a Ping we sent is still waiting for its Pong.
    pub fn awaiting_pong(&self) -> bool {
        self.ping_sent.is_some()
    }

    /// The round-trip time of the last answered Ping.
    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// The underlying RLPx stream.
    pub fn rlpx(&self) -> &RlpxStream<S> {
        &self.inner
    }

    /// Sends a capability message with absolute id `id` (see
    /// [`SharedCapabilities::message_id`]).
    pub async fn send(&mut self, id: u64, data: &[u8]) -> Result<(), P2PError> {
        if id < BASE_PROTOCOL_LENGTH || self.shared.resolve(id).is_none() {
            return Err(P2PError::UnknownMessageId(id));
        }
        self.send_raw(id, data).await
    }

    /// Sends message `code` of capability `name`.
    pub async fn send_capability(
        &mut self,
        name: &str,
        code: u64,
        data: &[u8],
    ) -> Result<(), P2PError> {
        let id = self
            .shared
            .message_id(name, code)
            .ok_or_else(|| P2PError::NotShared { name: name.to_owned(), code })?;
        self.send_raw(id, data).await
    }

    async fn send_raw(&mut self, id: u64, data: &[u8]) -> Result<(), P2PError> {
        let frame = self.frame(id, data)?;
        self.inner.send(frame).await?;
        Ok(())
    }

    fn frame(&self, id: u64, data: &[u8]) -> Result<Bytes, P2PError> {
        if data.len() > self.config.max_message_size {
            return Err(P2PError::MessageTooBig {
                size: data.len(),
                max: self.config.max_message_size,
            });
        }
        let mut frame = Vec::with_capacity(data.len() + 16);
        if self.snappy {
            let compressed = snap::raw::Encoder::new().compress_vec(data)?;
            encode_frame_data(id, &compressed, &mut frame);
        } else {
            encode_frame_data(id, data, &mut frame);
        }
        Ok(Bytes::from(frame))
    }

    /// Sends a Ping; the Pong is taken by [`P2PStream::recv`] or [`P2PStream::ping`].
    pub async fn send_ping(&mut self) -> Result<(), P2PError> {
        let frame = self.frame(PING_ID, &[alloy_rlp::EMPTY_LIST_CODE])?;
        self.inner.send(frame).await?;
        self.ping_sent = Some(Instant::now());
        Ok(())
    }

    /// Pings the peer and waits up to `timeout` for the Pong; returns the round-trip time.
    /// Capability messages that arrive meanwhile are kept for [`P2PStream::recv`].
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, P2PError> {
        self.send_ping().await?;
        let sent = self.ping_sent.unwrap_or_else(Instant::now);
        let wait = async {
            loop {
                match self.next_frame().await? {
                    Some(msg) => {
                        if self.queue.len() >= self.config.max_queued_messages {
                            return Err(self
                                .fail(P2PError::QueueFull(self.config.max_queued_messages))
                                .await);
                        }
                        self.queue.push_back(msg);
                    }
                    None => {
                        if self.ping_sent.is_none() {
                            return Ok(self.last_rtt.unwrap_or_else(|| sent.elapsed()));
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(self.fail(P2PError::PingTimeout(timeout)).await),
        }
    }

    /// The next capability message. Pings are answered and Pongs recorded on the way.
    pub async fn recv(&mut self) -> Result<CapabilityMessage, P2PError> {
        if let Some(msg) = self.queue.pop_front() {
            return Ok(msg);
        }
        loop {
            if let Some(msg) = self.next_frame().await? {
                return Ok(msg);
            }
        }
    }

    /// Reads one frame: `Some` for a capability message, `None` for a handled base message.
    async fn next_frame(&mut self) -> Result<Option<CapabilityMessage>, P2PError> {
        let frame = match self.inner.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e @ RlpxError::Frame(_))) => return Err(self.fail(e.into()).await),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(P2PError::Closed),
        };
        match self.decode(&frame) {
            Ok(Decoded::Capability(msg)) => Ok(Some(msg)),
            Ok(Decoded::Base(P2PMessage::Ping)) => {
                let pong = self.frame(PONG_ID, &[alloy_rlp::EMPTY_LIST_CODE])?;
                self.inner.send(pong).await?;
                Ok(None)
            }
            Ok(Decoded::Base(P2PMessage::Pong)) => {
                if let Some(sent) = self.ping_sent.take() {
                    self.last_rtt = Some(sent.elapsed());
                }
                Ok(None)
            }
            Ok(Decoded::Base(P2PMessage::Disconnect(reason))) => {
                tracing::debug!(target: "rlpx", peer = %self.inner.remote_id(), %reason, "peer disconnected");
                Err(P2PError::Disconnected(reason))
            }
            Ok(Decoded::Base(P2PMessage::Hello(_))) => Err(self
                .fail(P2PError::Malformed {
                    what: "second Hello",
                    source: alloy_rlp::Error::Custom("Hello after the handshake"),
                })
                .await),
            Err(e) => Err(self.fail(e).await),
        }
    }

    fn decode(&self, frame: &[u8]) -> Result<Decoded, P2PError> {
        let (id, data) = decode_frame_data(frame)?;
        let data = if self.snappy {
            match decompress(data, self.config.max_message_size) {
                Ok(d) => Bytes::from(d),
                // A peer that fails our Hello disconnects before it turns snappy on (as
                // go-ethereum does), so a Disconnect may come uncompressed.
                Err(_) if id == DISCONNECT_ID => Bytes::copy_from_slice(data),
                Err(e) => return Err(e),
            }
        } else {
            Bytes::copy_from_slice(data)
        };
        if data.len() > self.config.max_message_size {
            return Err(P2PError::MessageTooBig {
                size: data.len(),
                max: self.config.max_message_size,
            });
        }
        if id < BASE_PROTOCOL_LENGTH {
            return Ok(Decoded::Base(P2PMessage::decode(id, &data)?));
        }
        if self.shared.resolve(id).is_none() {
            return Err(P2PError::UnknownMessageId(id));
        }
        Ok(Decoded::Capability(CapabilityMessage { id, data }))
    }

    /// Sends Disconnect(`reason`) and closes the connection.
    pub async fn disconnect(&mut self, reason: DisconnectReason) -> Result<(), P2PError> {
        let mut data = Vec::new();
        reason.encode(&mut data);
        let frame = self.frame(DISCONNECT_ID, &data)?;
        self.inner.send(frame).await?;
        SinkExt::<Bytes>::close(&mut self.inner).await?;
        Ok(())
    }

    /// Disconnects with the reason `err` warrants (if any) and returns the error to report.
    async fn fail(&mut self, err: P2PError) -> P2PError {
        let Some(reason) = err.disconnect_reason() else { return err };
        tracing::debug!(target: "rlpx", peer = %self.inner.remote_id(), %reason, error = %err, "disconnecting peer");
        let _ = self.disconnect(reason).await;
        P2PError::WeDisconnected { reason, detail: err.to_string() }
    }
}

enum Decoded {
    Base(P2PMessage),
    Capability(CapabilityMessage),
}
