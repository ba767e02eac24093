//! Status rendezvous `/rend/0.1.0` on loopback: one wisp server and several clients over
//! tcp + noise + yamux on 127.0.0.1. Clients register records, others discover them by topic
//! with limits; short-lived registrations disappear; bad requests get the Go server's codes.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use libp2p::Multiaddr;
use wisp_crypto::SecretKey;
use wisp_discovery::enr::{Enr, EnrBuilder, WakuRoles};
use wisp_discovery::rendezvous::net::{Client, NetError, RendezvousServer, ServerAddr, peer_id};
use wisp_discovery::rendezvous::{
    Message, RecordBytes, Register, RegisterResponse, ServerConfig, Status, TOPIC_WHISPER,
    TOPIC_WHISPERMAIL,
};

// Dependencies of the library and of other test targets.
use aes_gcm as _;
use alloy_rlp as _;
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
use futures as _;
use hex as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
use k256 as _;
use proptest as _;
use thiserror as _;
use tracing as _;
use wisp_rlpx as _;

fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i; 32]).unwrap()
}

fn enr(i: u8, roles: WakuRoles) -> Enr {
    EnrBuilder::new(1)
        .ip4(Ipv4Addr::LOCALHOST)
        .tcp(30_000 + u16::from(i))
        .waku(roles)
        .sign(&key(i))
        .unwrap()
}

async fn start_server() -> (ServerAddr, tokio::task::JoinHandle<()>) {
    let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let server = RendezvousServer::bind(&key(0xee), listen, ServerConfig::default()).await.unwrap();
    let address = server.address().clone();
    assert_eq!(address.peer_id, peer_id(&key(0xee)).unwrap());
    (address, tokio::spawn(server.run()))
}

fn discovered_ports(records: &[Enr]) -> HashSet<u16> {
    records.iter().map(|r| r.tcp().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_register_and_discover_by_topic_with_limits() {
    let (server, task) = start_server().await;
    // The status-go text form round-trips and is what clients are configured with.
    let text = server.to_string();
    assert!(text.starts_with("/ip4/127.0.0.1/tcp/"), "{text}");
    assert!(text.contains("/ethv4/16Uiu2HA"), "{text}");
    let server: ServerAddr = text.parse().unwrap();

    // Three client hosts; together they register twelve relays and two mailservers.
    let mut clients: Vec<Client> = (1..=3).map(|i| Client::new(&key(100 + i)).unwrap()).collect();
    for i in 1..=12u8 {
        let roles =
            if i <= 2 { WakuRoles::RELAY | WakuRoles::MAILSERVER } else { WakuRoles::RELAY };
        let client = &mut clients[usize::from(i % 3)];
        let record = enr(i, roles);
        client.register(&server, TOPIC_WHISPER, &record, Duration::from_secs(20)).await.unwrap();
        if i <= 2 {
            client
                .register(&server, TOPIC_WHISPERMAIL, &record, Duration::from_secs(20))
                .await
                .unwrap();
        }
    }
    // statusd keeps one connection per server and opens a stream per request.
    assert!(clients.iter().all(|c| c.is_connected(&server.peer_id)));

    // The server tells a client the address it sees it at (REMOTEIP, v1.3.3 and later).
    assert_eq!(clients[0].remote_ip(&server).await.unwrap(), Ipv4Addr::LOCALHOST);

    // Another node discovers them.
    let mut seeker = Client::new(&key(200)).unwrap();
    let all_relays: HashSet<u16> = (1..=12).map(|i| 30_000 + i).collect();
    let mut seen = HashSet::new();
    for _ in 0..8 {
        let found = seeker.discover(&server, TOPIC_WHISPER, 100).await.unwrap();
        assert_eq!(found.invalid, 0);
        assert_eq!(found.records.len(), 10, "the limit is capped at 10");
        let ports = discovered_ports(&found.records);
        assert_eq!(ports.len(), 10, "no record twice");
        assert!(ports.is_subset(&all_relays));
        seen.extend(ports);
    }
    assert!(seen.len() > 10, "answers are random picks, {} records seen", seen.len());

    let found = seeker.discover(&server, TOPIC_WHISPER, 3).await.unwrap();
    assert_eq!(found.records.len(), 3);
    let mail = seeker.discover(&server, TOPIC_WHISPERMAIL, 10).await.unwrap();
    assert_eq!(discovered_ports(&mail.records), HashSet::from([30_001, 30_002]));
    assert!(mail.records.iter().all(|r| r.waku().unwrap().contains(WakuRoles::MAILSERVER)));
    let none = seeker.discover(&server, "nobody-here", 10).await.unwrap();
    assert!(none.records.is_empty());

    // Re-registering a node replaces its record: still twelve relays, with the new one.
    let newer = EnrBuilder::new(2).ip4(Ipv4Addr::LOCALHOST).tcp(31_005).sign(&key(5)).unwrap();
    clients[0].register(&server, TOPIC_WHISPER, &newer, Duration::from_secs(20)).await.unwrap();
    let mut seen = HashSet::new();
    for _ in 0..20 {
        seen.extend(discovered_ports(
            &seeker.discover(&server, TOPIC_WHISPER, 10).await.unwrap().records,
        ));
    }
    assert!(!seen.contains(&30_005), "the old record of node 5 is gone");
    assert!(seen.len() <= 12);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_registrations_expire() {
    let (server, task) = start_server().await;
    let mut registrant = Client::new(&key(101)).unwrap();
    let mut seeker = Client::new(&key(102)).unwrap();
    registrant
        .register(&server, TOPIC_WHISPER, &enr(1, WakuRoles::RELAY), Duration::from_secs(20))
        .await
        .unwrap();
    // A 1 s TTL lives 1.5 s on the server (the Go server's 0.5 s network delay).
    registrant
        .register(&server, TOPIC_WHISPER, &enr(2, WakuRoles::RELAY), Duration::from_secs(1))
        .await
        .unwrap();
    let ports =
        discovered_ports(&seeker.discover(&server, TOPIC_WHISPER, 10).await.unwrap().records);
    // Unless this machine took more than 1.5 s since the registration, both are there.
    assert!(ports.contains(&30_001));
    // Poll with a generous deadline until the short one is gone; the long one stays.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ports =
            discovered_ports(&seeker.discover(&server, TOPIC_WHISPER, 10).await.unwrap().records);
        assert!(ports.contains(&30_001), "the 20 s registration is still there");
        if !ports.contains(&30_002) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the 1 s registration never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_get_the_go_status_codes() {
    let (server, task) = start_server().await;
    let mut client = Client::new(&key(101)).unwrap();
    let record = enr(1, WakuRoles::RELAY);

    // A record whose signature does not verify: 101 invalid ENR.
    let mut forged = record.as_bytes().to_vec();
    forged[10] ^= 0x01;
    let request = Message::Register(Register {
        topic: TOPIC_WHISPER.into(),
        record: RecordBytes::new(&forged).unwrap(),
        ttl_nanos: 10_000_000_000,
    });
    let response = client.request(&server, request).await.unwrap();
    assert_eq!(
        response,
        Message::RegisterResponse(RegisterResponse {
            status: Status::INVALID_ENR,
            message: "".into()
        })
    );

    // A TTL over 20 s: 102; a topic over 50 bytes or empty: 100.
    let refused = |r: Result<(), NetError>| match r {
        Err(NetError::Refused { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let long = Duration::from_millis(20_001);
    assert_eq!(
        refused(client.register(&server, TOPIC_WHISPER, &record, long).await),
        Status::INVALID_TTL
    );
    let topic = "t".repeat(51);
    assert_eq!(
        refused(client.register(&server, &topic, &record, Duration::from_secs(5)).await),
        Status::INVALID_NAMESPACE
    );
    assert_eq!(
        refused(client.register(&server, "", &record, Duration::from_secs(5)).await),
        Status::INVALID_NAMESPACE
    );

    // None of them was stored.
    let found = client.discover(&server, TOPIC_WHISPER, 10).await.unwrap();
    assert!(found.records.is_empty());

    // A response type sent as a request gets no answer: the stream is dropped.
    let bogus =
        Message::RegisterResponse(RegisterResponse { status: Status::OK, message: "".into() });
    assert!(matches!(client.request(&server, bogus).await, Err(NetError::Request { .. })));

    // The connection is still usable afterwards.
    client.register(&server, TOPIC_WHISPER, &record, Duration::from_secs(5)).await.unwrap();
    assert_eq!(client.discover(&server, TOPIC_WHISPER, 10).await.unwrap().records, vec![record]);
    task.abort();
}

#[tokio::test]
async fn unreachable_server_is_an_error() {
    // Bind a port, then free it, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let id = peer_id(&key(0xee)).unwrap();
    let server: ServerAddr = format!("/ip4/127.0.0.1/tcp/{port}/ethv4/{id}").parse().unwrap();
    let mut client = Client::new(&key(101)).unwrap();
    let result = client.discover(&server, TOPIC_WHISPER, 10).await;
    assert!(matches!(result, Err(NetError::Request { .. })), "{result:?}");
}

/// A peer that writes raw bytes on `/rend/0.1.0` and reads whatever comes back until EOF.
mod raw {
    use std::io;

    use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;
    use libp2p::{StreamProtocol, Swarm, noise, tcp, yamux};
    use wisp_discovery::rendezvous::message::PROTOCOL;
    use wisp_discovery::rendezvous::net::{ServerAddr, keypair};

    #[derive(Clone, Default)]
    pub(crate) struct RawCodec;

    impl request_response::Codec for RawCodec {
        type Protocol = StreamProtocol;
        type Request = Vec<u8>;
        type Response = Vec<u8>;

        async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Vec<u8>>
        where
            T: AsyncRead + Unpin + Send,
        {
            Err(io::ErrorKind::Unsupported.into())
        }

        async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
        where
            T: AsyncRead + Unpin + Send,
        {
            let mut out = Vec::new();
            io.take(64 * 1024).read_to_end(&mut out).await?;
            Ok(out)
        }

        async fn write_request<T>(
            &mut self,
            _: &StreamProtocol,
            io: &mut T,
            bytes: Vec<u8>,
        ) -> io::Result<()>
        where
            T: AsyncWrite + Unpin + Send,
        {
            io.write_all(&bytes).await
        }

        async fn write_response<T>(
            &mut self,
            _: &StreamProtocol,
            _: &mut T,
            _: Vec<u8>,
        ) -> io::Result<()>
        where
            T: AsyncWrite + Unpin + Send,
        {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    pub(crate) struct RawPeer(Swarm<request_response::Behaviour<RawCodec>>);

    impl RawPeer {
        pub(crate) fn new() -> Self {
            let key = wisp_crypto::SecretKey::from_bytes(&[0x77; 32]).unwrap();
            let behaviour = request_response::Behaviour::with_codec(
                RawCodec,
                [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Outbound)],
                request_response::Config::default(),
            );
            let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair(&key).unwrap())
                .with_tokio()
                .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
                .unwrap()
                .with_behaviour(|_| behaviour)
                .unwrap()
                .build();
            Self(swarm)
        }

        /// Sends `bytes` as one stream; `Ok(answer)` or `Err(reason)` when the server dropped it.
        pub(crate) async fn send(
            &mut self,
            server: &ServerAddr,
            bytes: Vec<u8>,
        ) -> Result<Vec<u8>, String> {
            let id = self.0.behaviour_mut().send_request_with_addresses(
                &server.peer_id,
                bytes,
                vec![server.addr.clone()],
            );
            loop {
                match self.0.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    }) if request_id == id => return Ok(response),
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) if request_id == id => return Err(error.to_string()),
                    _ => {}
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_on_the_wire() {
    let (server, task) = start_server().await;
    let mut peer = raw::RawPeer::new();
    let hex = |s: &str| hex::decode(s).unwrap();

    // The notes' discover request on an empty server: status 0, no records.
    assert_eq!(peer.send(&server, hex("03c90a8777686973706572")).await.unwrap(), hex("04c38080c0"));
    // A REGISTER whose body does not decode (its record is a string): 104, as the Go server.
    assert_eq!(peer.send(&server, hex("01c3808080")).await.unwrap(), hex("02c26880"));
    // A DISCOVER whose body does not decode: 104 with no records.
    assert_eq!(peer.send(&server, hex("03c180")).await.unwrap(), hex("04c36880c0"));
    // statusd's REGISTER of its captured record (10 s TTL): 0.
    let statusd = "f889b84026ae89be5078f2141786291175f09eafde84dc07c6faeba04c7050f0390bb0e361d2b1d6616bd7cb3ebc1891f72b4cf5aac02d819fc3122d9f300d666faa12ee80826964827634826970847f00000189736563703235366b31a1034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa837463708276618375647080";
    let register = hex(&format!("01f8998777686973706572{statusd}8502540be400"));
    assert_eq!(peer.send(&server, register).await.unwrap(), hex("02c28080"));
    let found = peer.send(&server, hex("03c90a8777686973706572")).await.unwrap();
    assert_eq!(found, hex(&format!("04f88f8080f88b{statusd}")));

    // Type 0, an unknown type, a response type and a 4 GiB body get no answer at all.
    for bytes in ["80c0", "07c0", "02c28080", "03fbffffffff"] {
        let answer = peer.send(&server, hex(bytes)).await;
        assert!(
            answer.as_ref().is_err() || answer.as_ref().is_ok_and(Vec::is_empty),
            "{bytes}: {answer:?}"
        );
    }
    // The server is still serving.
    assert_eq!(peer.send(&server, hex("03c10a")).await.unwrap(), hex("04c36880c0"));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients() {
    let (server, task) = start_server().await;
    let mut tasks = Vec::new();
    for i in 1..=6u8 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::new(&key(100 + i)).unwrap();
            let record = enr(i, WakuRoles::RELAY);
            for _ in 0..3 {
                client
                    .register(&server, TOPIC_WHISPER, &record, Duration::from_secs(20))
                    .await
                    .unwrap();
                let found = client.discover(&server, TOPIC_WHISPER, 10).await.unwrap();
                assert!(found.records.contains(&record), "a client finds its own record");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut seeker = Client::new(&key(200)).unwrap();
    let found = seeker.discover(&server, TOPIC_WHISPER, 10).await.unwrap();
    assert_eq!(discovered_ports(&found.records), (1..=6).map(|i| 30_000 + i).collect());
    task.abort();
}

// A dev-dependency of other test targets of this crate.
use serde_json as _;
