//! The `p2p` session over an RLPx stream, as a typestate: an [`UnauthedP2PStream`] can only
//! exchange Hello; the [`P2PStream`] it becomes carries capability messages, answers Pings,
//! compresses with snappy (EIP-706) and ends with a Disconnect.

use std::{collections::VecDeque, future::poll_fn, pin::Pin, time::Duration};

use bytes::Bytes;
use futures::{Sink, SinkExt, StreamExt};
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
    /// The largest message (after decompression) accepted. After Hello, frames are limited to
    /// what a message of this size needs ([`frame_limit`]). Default: 16 MiB.
    pub max_message_size: usize,
    /// How long to wait for the peer's Hello. Default: 5 s.
    pub hello_timeout: Duration,
    /// At most this many capability messages are held while [`P2PStream::ping`] waits for its
    /// Pong. Default: 1024.
    pub max_queued_messages: usize,
    /// How long a Disconnect we send may wait for the peer to take it before the connection
    /// is closed anyway. Default: 2 s.
    pub disconnect_timeout: Duration,
}

impl Default for P2PConfig {
    fn default() -> Self {
        Self {
            max_message_size: MAX_MESSAGE_SIZE,
            hello_timeout: Duration::from_secs(5),
            max_queued_messages: 1024,
            disconnect_timeout: Duration::from_secs(2),
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
        // One deadline for the whole exchange: a peer that trickles bytes cannot extend it.
        let timeout = self.config.hello_timeout;
        let deadline = Instant::now() + timeout;
        // The Hello is never compressed (DECISIONS 20).
        match tokio::time::timeout_at(deadline, self.inner.send(Bytes::from(frame))).await {
            Ok(sent) => sent?,
            Err(_) => return Err(P2PError::HelloTimeout(timeout)),
        }
        let linger = self.config.disconnect_timeout;
        let first = match tokio::time::timeout_at(deadline, self.inner.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e @ RlpxError::Frame(_)))) => {
                return Err(fail_uncompressed(&mut self.inner, e.into(), linger).await);
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err(P2PError::Closed),
            Err(_) => {
                let e = P2PError::HelloTimeout(timeout);
                return Err(fail_uncompressed(&mut self.inner, e, linger).await);
            }
        };
        let theirs = match Self::read_hello(&first) {
            Ok(h) => h,
            Err(e) => return Err(fail_uncompressed(&mut self.inner, e, linger).await),
        };
        let remote_id = self.inner.remote_id();
        if theirs.id != remote_id {
            let e = P2PError::UnexpectedIdentity {
                expected: Box::new(remote_id),
                got: Box::new(theirs.id),
            };
            return Err(fail_uncompressed(&mut self.inner, e, linger).await);
        }
        let shared = match SharedCapabilities::negotiate(protocols, &theirs.capabilities) {
            Ok(s) => s,
            Err(e) => return Err(fail_uncompressed(&mut self.inner, e, linger).await),
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
        let mut inner = self.inner;
        inner.set_max_frame_size(frame_limit(self.config.max_message_size, snappy));
        let stream = P2PStream {
            inner,
            config: self.config,
            shared,
            snappy,
            remote_hello: theirs.clone(),
            queue: VecDeque::new(),
            ping_sent: None,
            last_rtt: None,
            outbox: VecDeque::new(),
            ending: None,
            ended: false,
            write_broken: false,
            gate: None,
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

/// Sends the Disconnect an error warrants, before snappy is on (waiting at most `linger`
/// for the peer to take it), and returns the error.
async fn fail_uncompressed<S: AsyncRead + AsyncWrite + Unpin>(
    inner: &mut RlpxStream<S>,
    err: P2PError,
    linger: Duration,
) -> P2PError {
    let Some(reason) = err.disconnect_reason() else { return err };
    tracing::debug!(target: "rlpx", peer = %inner.remote_id(), %reason, error = %err, "disconnecting peer before Hello");
    let mut data = Vec::new();
    reason.encode(&mut data);
    let mut frame = Vec::new();
    encode_frame_data(DISCONNECT_ID, &data, &mut frame);
    let _ = tokio::time::timeout(linger, async {
        inner.send(Bytes::from(frame)).await?;
        SinkExt::<Bytes>::close(inner).await
    })
    .await;
    P2PError::WeDisconnected { reason, detail: err.to_string() }
}

/// The frame limit of a session whose messages are at most `max_message` bytes: the
/// message id and, with snappy, the worst-case growth of compression.
pub fn frame_limit(max_message: usize, snappy: bool) -> usize {
    let data = if snappy { snap::raw::max_compress_len(max_message) } else { max_message };
    // A zero-length result means the size is beyond what snappy can encode.
    let data = if data == 0 { max_message } else { data };
    data.saturating_add(MAX_ID_LEN)
}

/// The longest RLP encoding of a message id (a `u64`).
const MAX_ID_LEN: usize = 9;

/// Charges each incoming frame after Hello, before it is decompressed or decoded (a rate
/// limiter on the raw bytes received). A refusal ends the session with its reason.
pub trait FrameGate: Send {
    /// Admits a frame of `frame_len` bytes (message id and possibly compressed data), or
    /// refuses it with the Disconnect reason to send and a detail for the log.
    fn admit(&mut self, frame_len: usize) -> Result<(), (DisconnectReason, String)>;
}

/// An established `p2p` session: Hello exchanged, capabilities negotiated.
///
/// [`P2PStream::recv`] returns capability messages and answers Pings on the way; a malformed
/// message makes it send a Disconnect(BreachOfProtocol) and return the error.
///
/// Cancel safety: [`P2PStream::recv`] may be raced in `select!` against anything. Frames are
/// buffered by the codec; the answers it owes (a Pong, the Disconnect an error warrants) go
/// to an outbox first and leave it only once the transport took them, so a cancelled `recv`
/// loses nothing: the next call (or the next send) flushes the outbox and returns the
/// pending error. Sends go through the same outbox, so they keep their order.
pub struct P2PStream<S> {
    inner: RlpxStream<S>,
    config: P2PConfig,
    shared: SharedCapabilities,
    snappy: bool,
    remote_hello: Hello,
    queue: VecDeque<CapabilityMessage>,
    ping_sent: Option<Instant>,
    last_rtt: Option<Duration>,
    /// Frames to send, in order; a frame leaves only when the transport took it.
    outbox: VecDeque<Bytes>,
    /// The error the session ends with, once the outbox (holding its Disconnect) is flushed.
    ending: Option<P2PError>,
    /// The session ended; every call fails with [`P2PError::Closed`].
    ended: bool,
    /// Writing failed: nothing more is sent, but what the peer sent (its Disconnect, most
    /// likely) can still be read.
    write_broken: bool,
    gate: Option<Box<dyn FrameGate>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for P2PStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2PStream")
            .field("inner", &self.inner)
            .field("snappy", &self.snappy)
            .field("queued", &self.queue.len())
            .field("outbox", &self.outbox.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
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

    /// Charges every incoming frame to `gate` before it is decompressed or decoded.
    pub fn set_gate(&mut self, gate: Box<dyn FrameGate>) {
        self.gate = Some(gate);
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
        if self.ended || self.ending.is_some() {
            return Err(P2PError::Closed);
        }
        let frame = self.frame(id, data)?;
        self.outbox.push_back(frame);
        self.flush_outbox().await
    }

    /// Outgoing messages are bounded by the protocol limit, not by `max_message_size` (which
    /// bounds what the peer may send us).
    fn frame(&self, id: u64, data: &[u8]) -> Result<Bytes, P2PError> {
        if data.len() > MAX_MESSAGE_SIZE {
            return Err(P2PError::MessageTooBig { size: data.len(), max: MAX_MESSAGE_SIZE });
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

    /// Hands the outbox to the transport and flushes it. Cancel-safe: a frame leaves the
    /// outbox only in the same poll that the transport accepts it.
    async fn flush_outbox(&mut self) -> Result<(), P2PError> {
        if self.write_broken {
            self.outbox.clear();
            return Err(P2PError::Closed);
        }
        let inner = &mut self.inner;
        let outbox = &mut self.outbox;
        let flushed = poll_fn(|cx| {
            while !outbox.is_empty() {
                std::task::ready!(Sink::<Bytes>::poll_ready(Pin::new(&mut *inner), cx))?;
                let frame = outbox.pop_front().expect("the outbox is not empty");
                Pin::new(&mut *inner).start_send(frame)?;
            }
            Sink::<Bytes>::poll_flush(Pin::new(&mut *inner), cx)
        })
        .await;
        if let Err(e) = flushed {
            self.write_broken = true;
            self.outbox.clear();
            return Err(e.into());
        }
        Ok(())
    }

    /// Sends a Ping; the Pong is taken by [`P2PStream::recv`] or [`P2PStream::ping`].
    pub async fn send_ping(&mut self) -> Result<(), P2PError> {
        if self.ended {
            return Err(P2PError::Closed);
        }
        let frame = self.frame(PING_ID, &[alloy_rlp::EMPTY_LIST_CODE])?;
        self.outbox.push_back(frame);
        self.ping_sent.get_or_insert_with(Instant::now);
        self.flush_outbox().await
    }

    /// Pings the peer and waits up to `timeout` for the Pong; returns the round-trip time.
    /// Capability messages that arrive meanwhile are kept for [`P2PStream::recv`].
    pub async fn ping(&mut self, timeout: Duration) -> Result<Duration, P2PError> {
        let sent = Instant::now();
        let wait = async {
            self.send_ping().await?;
            loop {
                match self.next_message().await? {
                    Some(msg) => {
                        if self.queue.len() >= self.config.max_queued_messages {
                            let e = P2PError::QueueFull(self.config.max_queued_messages);
                            self.fail(e);
                            continue;
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
            Err(_) => {
                self.fail(P2PError::PingTimeout(timeout));
                match self.next_message().await {
                    Err(e) => Err(e),
                    Ok(_) => Err(P2PError::PingTimeout(timeout)),
                }
            }
        }
    }

    /// The next capability message. Pings are answered and Pongs recorded on the way.
    /// Cancel-safe (see the type's documentation).
    pub async fn recv(&mut self) -> Result<CapabilityMessage, P2PError> {
        if let Some(msg) = self.queue.pop_front() {
            return Ok(msg);
        }
        loop {
            if let Some(msg) = self.next_message().await? {
                return Ok(msg);
            }
        }
    }

    /// Flushes what is owed, ends the session if an error is pending, else reads and handles
    /// one frame: `Some` for a capability message, `None` for a handled base message.
    async fn next_message(&mut self) -> Result<Option<CapabilityMessage>, P2PError> {
        if self.ended {
            return Err(P2PError::Closed);
        }
        if self.ending.is_some() {
            return Err(self.finish().await);
        }
        if !self.write_broken {
            // A failed write does not end the session yet: the peer's Disconnect, which
            // explains it, may be waiting to be read.
            let _ = self.flush_outbox().await;
        }
        let frame = match self.inner.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e @ RlpxError::Frame(_))) => {
                self.fail(e.into());
                return Err(self.finish().await);
            }
            Some(Err(e)) => {
                self.ended = true;
                return Err(e.into());
            }
            None => {
                self.ended = true;
                return Err(P2PError::Closed);
            }
        };
        match self.handle_frame(&frame) {
            Ok(msg) => Ok(msg),
            Err(e @ P2PError::Disconnected(_)) => {
                self.ended = true;
                Err(e)
            }
            Err(e) => {
                self.fail(e);
                Err(self.finish().await)
            }
        }
    }

    /// Everything done with one incoming frame that needs no waiting.
    fn handle_frame(&mut self, frame: &[u8]) -> Result<Option<CapabilityMessage>, P2PError> {
        if let Some(gate) = &mut self.gate
            && let Err((reason, detail)) = gate.admit(frame.len())
        {
            return Err(P2PError::Refused { reason, detail });
        }
        match self.decode(frame)? {
            Decoded::Capability(msg) => Ok(Some(msg)),
            Decoded::Base(P2PMessage::Ping) => {
                let pong = self.frame(PONG_ID, &[alloy_rlp::EMPTY_LIST_CODE])?;
                self.outbox.push_back(pong);
                Ok(None)
            }
            Decoded::Base(P2PMessage::Pong) => {
                if let Some(sent) = self.ping_sent.take() {
                    self.last_rtt = Some(sent.elapsed());
                }
                Ok(None)
            }
            Decoded::Base(P2PMessage::Disconnect(reason)) => {
                tracing::debug!(target: "rlpx", peer = %self.inner.remote_id(), %reason, "peer disconnected");
                Err(P2PError::Disconnected(reason))
            }
            Decoded::Base(P2PMessage::Hello(_)) => Err(P2PError::Malformed {
                what: "second Hello",
                source: alloy_rlp::Error::Custom("Hello after the handshake"),
            }),
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

    /// Sends Disconnect(`reason`) (after anything already owed) and closes the connection,
    /// waiting at most `disconnect_timeout` for the peer to take it. Cancel-safe: a cancelled
    /// call leaves the Disconnect queued for the next call.
    pub async fn disconnect(&mut self, reason: DisconnectReason) -> Result<(), P2PError> {
        if self.ended {
            return Ok(());
        }
        if self.ending.is_none() {
            self.queue_disconnect(reason);
            self.ending = Some(P2PError::WeDisconnected { reason, detail: "requested".into() });
        }
        match self.finish().await {
            P2PError::WeDisconnected { .. } | P2PError::Disconnected(_) => Ok(()),
            e => Err(e),
        }
    }

    fn queue_disconnect(&mut self, reason: DisconnectReason) {
        let mut data = Vec::new();
        reason.encode(&mut data);
        if let Ok(frame) = self.frame(DISCONNECT_ID, &data) {
            self.outbox.push_back(frame);
        }
    }

    /// Records the end `err` warrants: a Disconnect with its reason (if any) is queued and the
    /// session ends once it is flushed.
    fn fail(&mut self, err: P2PError) {
        if self.ending.is_some() || self.ended {
            return;
        }
        let Some(reason) = err.disconnect_reason() else {
            self.ending = Some(err);
            return;
        };
        tracing::debug!(target: "rlpx", peer = %self.inner.remote_id(), %reason, error = %err, "disconnecting peer");
        self.queue_disconnect(reason);
        self.ending = Some(P2PError::WeDisconnected { reason, detail: err.to_string() });
    }

    /// Flushes the outbox (with its Disconnect) and closes, for at most `disconnect_timeout`,
    /// then returns the pending error. Cancel-safe: the error stays pending until the flush
    /// and close are over.
    async fn finish(&mut self) -> P2PError {
        let linger = self.config.disconnect_timeout;
        let _ = tokio::time::timeout(linger, async {
            self.flush_outbox().await?;
            SinkExt::<Bytes>::close(&mut self.inner).await?;
            Ok::<_, P2PError>(())
        })
        .await;
        self.ended = true;
        self.outbox.clear();
        self.ending.take().unwrap_or(P2PError::Closed)
    }
}

enum Decoded {
    Base(P2PMessage),
    Capability(CapabilityMessage),
}
