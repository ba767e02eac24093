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
use alloy_rlp as _;
use base64 as _;
use futures as _;
use hex as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
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
