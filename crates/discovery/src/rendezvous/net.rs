//! Status rendezvous over libp2p: the `/rend/0.1.0` codec, a client and a server.
//!
//! The transport is what the Go server v1.3.2 accepts and rust-libp2p has: TCP, noise, yamux
//! (`notes/discovery.md`: a secio-only v1.3.0 server cannot be reached). The libp2p identity is
//! the node's secp256k1 key, so a server's peer id is the `16Uiu2HA...` form of its node key.
//!
//! - [`RendezvousCodec`]: a [`request_response::Codec`] that reads and writes one
//!   [`Message`] per direction on each stream (the client closes its side after its request;
//!   the server answers and closes). Sizes are bounded by [`MAX_MESSAGE_SIZE`](super::message::MAX_MESSAGE_SIZE) before anything
//!   is buffered.
//! - [`ServerAddr`]: a server address, `/ip4/<ip>/tcp/<port>/ethv4/<peer id>` as status-go
//!   writes it, or with `/p2p/<peer id>`.
//! - [`Client`]: REGISTER our record under a topic, DISCOVER records with a limit. It keeps
//!   one connection per server and opens a stream per request; a request fails after
//!   [`REQUEST_TIMEOUT`] (statusd's 5 s).
//! - [`RendezvousServer`]: a listening swarm that feeds the sans-io [`Server`] registry.
//!
//! These are thin async drivers: they own a libp2p swarm and make progress only while one of
//! their `async` methods is awaited. Nothing here spawns tasks.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
/// libp2p's multiaddr (what [`RendezvousServer::bind`] listens on), re-exported so users need
/// no libp2p dependency of their own.
pub use libp2p::Multiaddr;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, StreamProtocol, Swarm, identity, noise, tcp, yamux};
use wisp_crypto::SecretKey;

use super::message::{Discover, Message, MessageError, PROTOCOL, Register, Status, item_len};
use super::server::{Server, ServerConfig};
use crate::enr::Enr;

/// How long a client waits for a response (statusd's rendezvous client: 5 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle connection to a server is kept. Default: 60 s (statusd registers every
/// 5 s and discovers at least every 30 s, so its connection never idles that long).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The multiaddr protocol name of status-im/go-multiaddr-ethv4 (code 0x01EA), unknown to
/// rust-multiaddr.
pub const ETHV4: &str = "ethv4";

/// What went wrong in the rendezvous network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The node key cannot be a libp2p secp256k1 identity.
    #[error("node key is not a valid secp256k1 libp2p identity: {0}")]
    Identity(String),
    /// The libp2p transport could not be built.
    #[error("cannot build the libp2p transport (tcp + noise + yamux): {0}")]
    Transport(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address asked for.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A server address is malformed.
    #[error(
        "rendezvous server address {addr:?} is invalid: {reason} (expected \
         /ip4/<ip>/tcp/<port>/ethv4/<peer id> or .../p2p/<peer id>)"
    )]
    Address {
        /// The text given.
        addr: String,
        /// What is wrong.
        reason: String,
    },
    /// The request did not get a response (dial failure, timeout, stream error).
    #[error("rendezvous request to {peer} failed: {reason}")]
    Request {
        /// The server.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The server answered with another message type than the request calls for.
    #[error("rendezvous server answered type {got} (expected {expected})")]
    UnexpectedResponse {
        /// The type expected.
        expected: u64,
        /// The type received.
        got: u64,
    },
    /// The server refused the request.
    #[error("rendezvous server refused the request with status {status}: {message:?}")]
    Refused {
        /// The status it answered.
        status: Status,
        /// Its explanation.
        message: String,
    },
    /// The swarm stopped producing events.
    #[error("the libp2p swarm stopped")]
    SwarmEnded,
}

/// A request as the codec reads it: a message, or a REGISTER/DISCOVER whose body did not decode
/// (the server answers it with [`Status::INVALID_CONTENT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A decoded request message.
    Message(Message),
    /// A request of type `kind` whose body is not a valid body of that type.
    Undecodable {
        /// The type number.
        kind: u64,
        /// What was wrong with the body.
        error: MessageError,
    },
}

/// The `/rend/0.1.0` codec for `request_response`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RendezvousCodec;

fn invalid_data(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Reads one RLP item from `io`, refusing one larger than [`super::message::MAX_MESSAGE_SIZE`].
async fn read_item<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(16);
    loop {
        match item_len(&buf).map_err(invalid_data)? {
            Some(len) => {
                let have = buf.len();
                buf.resize(len, 0);
                io.read_exact(buf.get_mut(have..).unwrap_or_default()).await?;
                return Ok(buf);
            }
            None => {
                let mut byte = [0u8; 1];
                io.read_exact(&mut byte).await?;
                buf.push(byte[0]);
            }
        }
    }
}

/// Reads a message's type and body items; `Err` only on I/O or an unreadable type.
async fn read_parts<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<(u64, Vec<u8>)> {
    let type_item = read_item(io).await?;
    let mut rest = type_item.as_slice();
    let kind = <u64 as alloy_rlp::Decodable>::decode(&mut rest)
        .map_err(|e| invalid_data(format!("rendezvous message type: {e}")))?;
    if !(1..=6).contains(&kind) {
        return Err(invalid_data(MessageError::UnknownType(kind)));
    }
    let body = read_item(io).await?;
    Ok((kind, [type_item, body].concat()))
}

async fn write_message<T: AsyncWrite + Unpin + Send>(io: &mut T, m: &Message) -> io::Result<()> {
    io.write_all(&m.to_bytes()).await?;
    io.flush().await
}

impl request_response::Codec for RendezvousCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Message;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let (kind, bytes) = read_parts(io).await?;
        if kind % 2 == 0 {
            return Err(invalid_data(format!("rendezvous response type {kind} sent as a request")));
        }
        Ok(match Message::decode(&mut bytes.as_slice()) {
            Ok(message) => Request::Message(message),
            Err(error) => Request::Undecodable { kind, error },
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        let (_, bytes) = read_parts(io).await?;
        Message::decode(&mut bytes.as_slice()).map_err(invalid_data)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match request {
            Request::Message(m) => write_message(io, &m).await,
            Request::Undecodable { kind, .. } => {
                Err(invalid_data(format!("cannot send an undecodable request of type {kind}")))
            }
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &response).await
    }
}

/// The libp2p identity of a node key.
pub fn keypair(key: &SecretKey) -> Result<identity::Keypair, NetError> {
    let mut bytes = *key.to_bytes();
    let secret = identity::secp256k1::SecretKey::try_from_bytes(&mut bytes)
        .map_err(|e| NetError::Identity(e.to_string()))?;
    Ok(identity::secp256k1::Keypair::from(secret).into())
}

/// The libp2p peer id of a node key (`16Uiu2HA...`).
pub fn peer_id(key: &SecretKey) -> Result<PeerId, NetError> {
    Ok(keypair(key)?.public().to_peer_id())
}

type Behaviour = request_response::Behaviour<RendezvousCodec>;

fn build_swarm(key: &SecretKey, support: ProtocolSupport) -> Result<Swarm<Behaviour>, NetError> {
    let config = request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT);
    let behaviour =
        Behaviour::with_codec(RendezvousCodec, [(StreamProtocol::new(PROTOCOL), support)], config);
    Ok(libp2p::SwarmBuilder::with_existing_identity(keypair(key)?)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build())
}

/// A rendezvous server's address: where to dial and whom to expect there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    /// The transport address (`/ip4/<ip>/tcp/<port>`).
    pub addr: Multiaddr,
    /// The server's peer id.
    pub peer_id: PeerId,
}

impl FromStr for ServerAddr {
    type Err = NetError;

    /// Parses `<transport>/ethv4/<peer id>` (status-go's form) or `<transport>/p2p/<peer id>`.
    fn from_str(s: &str) -> Result<Self, NetError> {
        let bad = |reason: String| NetError::Address { addr: s.to_owned(), reason };
        let marker = format!("/{ETHV4}/");
        if let Some(at) = s.rfind(&marker) {
            let (transport, id) = (&s[..at], &s[at + marker.len()..]);
            let peer_id = id.parse::<PeerId>().map_err(|e| bad(format!("peer id {id:?}: {e}")))?;
            let addr = transport.parse::<Multiaddr>().map_err(|e| bad(e.to_string()))?;
            return Ok(Self { addr, peer_id });
        }
        let mut addr = s.parse::<Multiaddr>().map_err(|e| bad(e.to_string()))?;
        match addr.pop() {
            Some(Protocol::P2p(peer_id)) => Ok(Self { addr, peer_id }),
            _ => Err(bad("it does not end in a peer id".into())),
        }
    }
}

impl std::fmt::Display for ServerAddr {
    /// The status-go form, `<transport>/ethv4/<peer id>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{ETHV4}/{}", self.addr, self.peer_id)
    }
}

/// The records a DISCOVER returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The records whose signatures verified.
    pub records: Vec<Enr>,
    /// How many records were dropped because they did not verify.
    pub invalid: usize,
}

/// A rendezvous client: registers and discovers at any number of servers.
pub struct Client {
    swarm: Swarm<Behaviour>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("peer_id", self.swarm.local_peer_id()).finish()
    }
}

impl Client {
    /// A client whose libp2p identity is `key` (status-go uses the node key). Must be created
    /// inside a tokio runtime.
    pub fn new(key: &SecretKey) -> Result<Self, NetError> {
        Ok(Self { swarm: build_swarm(key, ProtocolSupport::Outbound)? })
    }

    /// Our libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Whether a connection to `peer` is open.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.swarm.is_connected(peer)
    }

    /// Sends `request` to `server` and waits for its response (at most [`REQUEST_TIMEOUT`]
    /// after the stream opened).
    pub async fn request(
        &mut self,
        server: &ServerAddr,
        request: Message,
    ) -> Result<Message, NetError> {
        let id = self.swarm.behaviour_mut().send_request_with_addresses(
            &server.peer_id,
            Request::Message(request),
            vec![server.addr.clone()],
        );
        self.wait(server.peer_id, id).await
    }

    async fn wait(&mut self, peer: PeerId, id: OutboundRequestId) -> Result<Message, NetError> {
        loop {
            let event = self.swarm.next().await.ok_or(NetError::SwarmEnded)?;
            match event {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response },
                    ..
                }) if request_id == id => return Ok(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    request_id,
                    error,
                    ..
                }) if request_id == id => {
                    return Err(NetError::Request { peer, reason: error.to_string() });
                }
                other => tracing::trace!(target: "discovery::rendezvous", ?other, "client event"),
            }
        }
    }

    /// Registers `enr` under `topic` at `server` for `ttl` (status-go: 10 s, renewed every 5 s).
    pub async fn register(
        &mut self,
        server: &ServerAddr,
        topic: &str,
        enr: &Enr,
        ttl: Duration,
    ) -> Result<(), NetError> {
        let request = Message::Register(Register::new(topic, enr, ttl));
        match self.request(server, request).await? {
            Message::RegisterResponse(r) if r.status == Status::OK => Ok(()),
            Message::RegisterResponse(r) => {
                Err(NetError::Refused { status: r.status, message: r.message })
            }
            other => Err(NetError::UnexpectedResponse {
                expected: super::message::kind::REGISTER_RESPONSE,
                got: other.kind(),
            }),
        }
    }

    /// Asks `server` which IPv4 address it sees us at (REMOTEIP, rendezvous v1.3.3 and later;
    /// older servers drop the stream, which is a [`NetError::Request`]).
    pub async fn remote_ip(&mut self, server: &ServerAddr) -> Result<Ipv4Addr, NetError> {
        match self.request(server, Message::RemoteIp).await? {
            Message::RemoteIpResponse(r) if r.status == Status::OK => {
                r.ip.parse().map_err(|_| NetError::Refused {
                    status: r.status,
                    message: format!("{:?} is not an IPv4 address", r.ip),
                })
            }
            Message::RemoteIpResponse(r) => {
                Err(NetError::Refused { status: r.status, message: r.ip })
            }
            other => Err(NetError::UnexpectedResponse {
                expected: super::message::kind::REMOTEIP_RESPONSE,
                got: other.kind(),
            }),
        }
    }

    /// Asks `server` for up to `limit` records under `topic`; records that do not verify are
    /// dropped and counted.
    pub async fn discover(
        &mut self,
        server: &ServerAddr,
        topic: &str,
        limit: u64,
    ) -> Result<Discovered, NetError> {
        let request = Message::Discover(Discover { limit, topic: topic.to_owned() });
        match self.request(server, request).await? {
            Message::DiscoverResponse(r) if r.status == Status::OK => {
                let mut found = Discovered::default();
                for record in &r.records {
                    match record.verify() {
                        Ok(enr) => found.records.push(enr),
                        Err(e) => {
                            tracing::debug!(target: "discovery::rendezvous", %e, "dropped record");
                            found.invalid += 1;
                        }
                    }
                }
                Ok(found)
            }
            Message::DiscoverResponse(r) => {
                Err(NetError::Refused { status: r.status, message: r.message })
            }
            other => Err(NetError::UnexpectedResponse {
                expected: super::message::kind::DISCOVER_RESPONSE,
                got: other.kind(),
            }),
        }
    }
}

/// A rendezvous server: a listening libp2p swarm in front of the [`Server`] registry.
pub struct RendezvousServer {
    swarm: Swarm<Behaviour>,
    registry: Server,
    origin: tokio::time::Instant,
    remote_ips: HashMap<ConnectionId, Option<Ipv4Addr>>,
    address: ServerAddr,
}

impl std::fmt::Debug for RendezvousServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RendezvousServer").field("address", &self.address).finish()
    }
}

impl RendezvousServer {
    /// Listens on `listen` (e.g. `/ip4/127.0.0.1/tcp/0`) with the identity `key` and waits
    /// until the listener has an address. Must run inside a tokio runtime.
    pub async fn bind(
        key: &SecretKey,
        listen: Multiaddr,
        config: ServerConfig,
    ) -> Result<Self, NetError> {
        let mut swarm = build_swarm(key, ProtocolSupport::Inbound)?;
        let listen_err = |reason: String| NetError::Listen { addr: listen.clone(), reason };
        swarm.listen_on(listen.clone()).map_err(|e| listen_err(e.to_string()))?;
        let addr = loop {
            match swarm.next().await.ok_or(NetError::SwarmEnded)? {
                SwarmEvent::NewListenAddr { address, .. } => break address,
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(listen_err(error.to_string()));
                }
                SwarmEvent::ListenerClosed { reason: Err(e), .. } => {
                    return Err(listen_err(e.to_string()));
                }
                _ => {}
            }
        };
        let seed = u64::from_le_bytes(wisp_crypto::random_bytes::<8>());
        let address = ServerAddr { addr, peer_id: *swarm.local_peer_id() };
        Ok(Self {
            swarm,
            registry: Server::new(config, seed),
            origin: tokio::time::Instant::now(),
            remote_ips: HashMap::new(),
            address,
        })
    }

    /// The address clients dial (the first listen address with `/ethv4/<peer id>`).
    pub fn address(&self) -> &ServerAddr {
        &self.address
    }

    /// The registry (for counts and tests).
    pub fn registry(&self) -> &Server {
        &self.registry
    }

    /// Serves until the swarm ends (it does not end by itself): spawn it, or race it against a
    /// shutdown signal.
    pub async fn run(mut self) {
        while let Some(event) = self.swarm.next().await {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: SwarmEvent<request_response::Event<Request, Message>>) {
        match event {
            SwarmEvent::ConnectionEstablished { connection_id, endpoint, .. } => {
                let remote = match &endpoint {
                    ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
                    ConnectedPoint::Dialer { address, .. } => address,
                };
                let ip = remote.iter().find_map(|p| match p {
                    Protocol::Ip4(ip) => Some(ip),
                    _ => None,
                });
                self.remote_ips.insert(connection_id, ip);
            }
            SwarmEvent::ConnectionClosed { connection_id, .. } => {
                self.remote_ips.remove(&connection_id);
            }
            SwarmEvent::Behaviour(request_response::Event::Message {
                peer,
                connection_id,
                message: request_response::Message::Request { request, channel, .. },
            }) => {
                let now = self.origin.elapsed();
                let response = match &request {
                    Request::Message(m) => {
                        let ip = self.remote_ips.get(&connection_id).copied().flatten();
                        self.registry.handle(now, m, ip)
                    }
                    Request::Undecodable { kind, error } => {
                        tracing::debug!(target: "discovery::rendezvous", %peer, %error, "bad body");
                        Server::invalid(*kind)
                    }
                };
                match response {
                    Some(response) => {
                        if self.swarm.behaviour_mut().send_response(channel, response).is_err() {
                            tracing::debug!(target: "discovery::rendezvous", %peer, "stream gone");
                        }
                    }
                    // Dropping the channel closes the stream without an answer.
                    None => drop(channel),
                }
            }
            other => tracing::trace!(target: "discovery::rendezvous", ?other, "server event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    use super::*;

    fn protocol() -> StreamProtocol {
        StreamProtocol::new(PROTOCOL)
    }

    fn read_request(bytes: &[u8]) -> io::Result<Request> {
        block_on(RendezvousCodec.read_request(&protocol(), &mut Cursor::new(bytes.to_vec())))
    }

    #[test]
    fn codec_reads_one_message_without_length_prefix() {
        // The notes' discover request, followed by bytes of a next message that stay unread.
        let mut io = Cursor::new(hex::decode("03c90a877768697370657202").unwrap());
        let request = block_on(RendezvousCodec.read_request(&protocol(), &mut io)).unwrap();
        assert_eq!(
            request,
            Request::Message(Message::Discover(Discover { limit: 10, topic: "whisper".into() }))
        );
        assert_eq!(io.position(), 11);
        let mut out = Cursor::new(Vec::new());
        let ok = Message::RegisterResponse(super::super::message::RegisterResponse {
            status: Status::OK,
            message: String::new(),
        });
        block_on(RendezvousCodec.write_response(&protocol(), &mut out, ok.clone())).unwrap();
        assert_eq!(out.get_ref().as_slice(), hex::decode("02c28080").unwrap());
        let back = block_on(
            RendezvousCodec.read_response(&protocol(), &mut Cursor::new(out.into_inner())),
        );
        assert_eq!(back.unwrap(), ok);
    }

    #[test]
    fn codec_marks_undecodable_bodies_and_refuses_the_rest() {
        // REGISTER [ "", "", "" ]: the record is not a list; the server answers 104.
        assert!(matches!(
            read_request(&hex::decode("01c3808080").unwrap()).unwrap(),
            Request::Undecodable { kind: 1, .. }
        ));
        // Type 0 and 7 are unknown, a response type is no request: the stream is dropped.
        for bytes in ["80c0", "07c0", "02c28080"] {
            let err = read_request(&hex::decode(bytes).unwrap()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{bytes}");
        }
        // A body announcing 4 GiB is refused from its header alone.
        let err = read_request(&[0x03, 0xfb, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        // A truncated message is an early EOF.
        let err = read_request(&hex::decode("03c90a87776869").unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn server_addresses_in_both_forms() {
        let key = SecretKey::from_bytes(&[0x11; 32]).unwrap();
        let id = peer_id(&key).unwrap();
        assert!(id.to_string().starts_with("16Uiu2HA"), "{id}");
        let ethv4: ServerAddr = format!("/ip4/127.0.0.1/tcp/9090/ethv4/{id}").parse().unwrap();
        let p2p: ServerAddr = format!("/ip4/127.0.0.1/tcp/9090/p2p/{id}").parse().unwrap();
        assert_eq!(ethv4, p2p);
        assert_eq!(ethv4.addr, "/ip4/127.0.0.1/tcp/9090".parse::<Multiaddr>().unwrap());
        assert_eq!(ethv4.to_string(), format!("/ip4/127.0.0.1/tcp/9090/ethv4/{id}"));
        for bad in ["/ip4/127.0.0.1/tcp/9090", "/ip4/127.0.0.1/tcp/9090/ethv4/nope", "garbage"] {
            assert!(matches!(bad.parse::<ServerAddr>(), Err(NetError::Address { .. })), "{bad}");
        }
    }
}
