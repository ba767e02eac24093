//! The 17 captured legacy discovery packets (`testdata/vectors/discovery/legacy-discv5.json`):
//! each decodes to the recorded fields and signer, and re-encodes and re-signs byte for byte.

use aes_gcm as _;
use alloy_rlp as _;
use k256 as _;
use proptest as _;
use std::{net::IpAddr, path::PathBuf};
use thiserror as _;
use tokio as _;
use tracing as _;
use wisp_rlpx as _;

use serde_json::Value;
use wisp_crypto::{NodeId, SecretKey};
use wisp_discovery::legacy::{
    Endpoint, Message, NodeEntry, Packet, PacketType, Topic, packet::PROTOCOL_VERSION, topics_hash,
};

fn vectors() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors/discovery/legacy-discv5.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().expect("hex string")).expect("hex").try_into().expect("32 bytes")
}

fn node_id(v: &Value) -> NodeId {
    NodeId(hex::decode(v.as_str().expect("hex string")).expect("hex").try_into().expect("64 bytes"))
}

fn endpoint(v: &Value) -> Endpoint {
    Endpoint {
        ip: v["ip"].as_str().expect("ip").parse::<IpAddr>().expect("ip parses"),
        udp: v["udp"].as_u64().expect("udp") as u16,
        tcp: v["tcp"].as_u64().expect("tcp") as u16,
    }
}

fn nodes(v: &Value) -> Vec<NodeEntry> {
    v.as_array()
        .expect("nodes")
        .iter()
        .map(|n| NodeEntry { endpoint: endpoint(n), id: node_id(&n["id"]) })
        .collect()
}

fn topics(v: &Value) -> Vec<Topic> {
    v.as_array().expect("topics").iter().map(|t| Topic::new(t.as_str().expect("topic"))).collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().expect("number")
}

/// Checks the decoded message against the vector's `decoded` object, field by field.
fn check_fields(label: &str, msg: &Message, d: &Value) {
    match msg {
        Message::Ping(m) => {
            assert_eq!(m.version, PROTOCOL_VERSION, "{label}");
            assert_eq!(m.version, u(&d["version"]), "{label}");
            assert_eq!(m.from, endpoint(&d["from"]), "{label}");
            assert_eq!(m.to, endpoint(&d["to"]), "{label}");
            assert_eq!(m.expiration, u(&d["expiration"]), "{label}");
            assert_eq!(m.topics, topics(&d["topics"]), "{label}");
        }
        Message::Pong(m) => {
            assert_eq!(m.to, endpoint(&d["to"]), "{label}");
            assert_eq!(m.reply_tok, hex32(&d["reply_tok"]), "{label}");
            assert_eq!(m.expiration, u(&d["expiration"]), "{label}");
            assert_eq!(m.topic_hash, hex32(&d["topic_hash"]), "{label}");
            assert_eq!(u64::from(m.ticket_serial), u(&d["ticket_serial"]), "{label}");
            let waits: Vec<u64> =
                d["wait_periods"].as_array().expect("waits").iter().map(u).collect();
            assert_eq!(m.wait_periods.iter().map(|&w| u64::from(w)).collect::<Vec<_>>(), waits);
        }
        Message::FindNode(m) => {
            assert_eq!(m.target, node_id(&d["target"]), "{label}");
            assert_eq!(m.expiration, u(&d["expiration"]), "{label}");
        }
        Message::Neighbors(m) => {
            assert_eq!(m.nodes, nodes(&d["nodes"]), "{label}");
            assert_eq!(m.expiration, u(&d["expiration"]), "{label}");
        }
        Message::FindNodeHash(m) => {
            assert_eq!(m.target, hex32(&d["target_hash"]), "{label}");
            assert_eq!(m.expiration, u(&d["expiration"]), "{label}");
        }
        Message::TopicRegister(m) => {
            assert_eq!(m.topics, topics(&d["topics"]), "{label}");
            assert_eq!(m.idx, u(&d["idx"]), "{label}");
            assert_eq!(hex::encode(&m.pong), d["pong"].as_str().expect("pong"), "{label}");
        }
        Message::TopicQuery(m) => {
            assert_eq!(m.topic, Topic::new(d["topic"].as_str().expect("topic")), "{label}");
            assert_eq!(m.expiration, u(&d["expiration"]), "{label}");
        }
        Message::TopicNodes(m) => {
            assert_eq!(m.echo, hex32(&d["echo"]), "{label}");
            assert_eq!(m.nodes, nodes(&d["nodes"]), "{label}");
        }
    }
}

#[test]
fn legacy_discv5_packets_decode_reencode_and_resign() {
    let v = vectors();
    let packets = v["packets"].as_array().expect("packets");
    assert_eq!(packets.len(), 17, "the file holds 17 packets");
    let mut kinds = std::collections::BTreeSet::new();
    for p in packets {
        let label = p["label"].as_str().expect("label");
        let bytes = hex::decode(p["hex"].as_str().expect("hex")).expect("hex");
        assert_eq!(bytes.len() as u64, u(&p["length"]), "{label}");
        let packet = Packet::decode(&bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
        let kind = packet.message.kind();
        assert_eq!(u64::from(kind.byte()), u(&p["type"]), "{label}");
        assert_eq!(kind.name(), p["type_name"].as_str().expect("type_name"), "{label}");
        assert_eq!(packet.sender, node_id(&p["signer_node_id"]), "{label}: signer");
        assert_eq!(packet.hash, hex32(&p["packet_hash"]), "{label}: packet hash");
        check_fields(label, &packet.message, &p["decoded"]);

        // Re-encoding the body gives the captured bytes.
        let mut body = Vec::new();
        packet.message.encode_body(&mut body);
        assert_eq!(hex::encode(&body), hex::encode(&bytes[88..]), "{label}: body re-encodes");

        // Re-signing with the listed key gives the whole packet (RFC 6979).
        let role = p["from_role"].as_str().expect("from_role");
        let key_hex = v["nodes"][role]["secret_key"].as_str().expect("secret key");
        let key = SecretKey::from_bytes(&hex::decode(key_hex).expect("hex")).expect("key");
        assert_eq!(key.public_key().node_id(), packet.sender, "{label}: key of {role}");
        let signed = packet.message.sign(&key);
        assert_eq!(hex::encode(&signed.bytes), hex::encode(&bytes), "{label}: re-signed packet");
        assert_eq!(signed.hash, packet.hash, "{label}");
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 8, "every packet type is covered");
}

#[test]
fn replies_and_tickets_correlate() {
    let v = vectors();
    let packets: Vec<Packet> = v["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| {
            Packet::decode(&hex::decode(p["hex"].as_str().expect("hex")).expect("hex"))
                .expect("decodes")
        })
        .collect();
    let hashes: Vec<[u8; 32]> = packets.iter().map(|p| p.hash).collect();
    let mut pongs = 0;
    let mut registers = 0;
    for p in &packets {
        match &p.message {
            Message::Pong(m) => {
                pongs += 1;
                assert!(hashes.contains(&m.reply_tok), "reply_tok is the hash of a captured ping");
                let ping = packets.iter().find(|q| q.hash == m.reply_tok).expect("ping");
                let Message::Ping(ping) = &ping.message else { panic!("reply_tok names a ping") };
                assert_eq!(m.topic_hash, topics_hash(&ping.topics));
                assert_eq!(m.wait_periods.len(), ping.topics.len());
            }
            Message::TopicRegister(m) => {
                registers += 1;
                let inner = Packet::decode(&m.pong).expect("the embedded pong decodes");
                assert_eq!(inner.message.kind(), PacketType::Pong);
                assert!(hashes.contains(&inner.hash), "the embedded pong is a captured pong");
                let Message::Pong(pong) = inner.message else { unreachable!() };
                assert_eq!(pong.topic_hash, topics_hash(&m.topics));
            }
            _ => {}
        }
    }
    assert_eq!((pongs, registers), (3, 2));
    // keccak256(0xc0) for no topics, 01cf94fc... for ["whisper"].
    assert_eq!(
        hex::encode(topics_hash(&[])),
        "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
    );
    assert!(hex::encode(topics_hash(&[Topic::new("whisper")])).starts_with("01cf94fc"));
}

fn packet_hex(v: &Value, label_start: &str) -> Vec<u8> {
    let p = v["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .find(|p| p["label"].as_str().is_some_and(|l| l.starts_with(label_start)))
        .unwrap_or_else(|| panic!("no packet labelled {label_start:?}"));
    hex::decode(p["hex"].as_str().expect("hex")).expect("hex")
}

fn secret(v: &Value, role: &str) -> SecretKey {
    SecretKey::from_bytes(
        &hex::decode(v["nodes"][role]["secret_key"].as_str().expect("key")).expect("hex"),
    )
    .expect("key")
}

/// Our registrar, with the captured bootnode's key, serves the captured clients: it answers
/// statusd's pings with well-formed tickets, accepts the Python probe's captured topicRegister
/// (which carries a ticket the Go bootnode signed with the same key) in its time window, and
/// lists the registrant in its topicNodes answer to the probe's query, whose hash is the echo
/// the Go bootnode sent.
#[test]
fn our_registrar_serves_the_captured_clients() {
    use std::net::{Ipv4Addr, SocketAddr};
    use wisp_discovery::legacy::{
        Config, Event, LegacyDiscovery,
        packet::{Pong, TopicQuery},
    };

    let v = vectors();
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let probe = SocketAddr::new(local, 30311);
    let node_a = SocketAddr::new(local, 30303);
    // The probe's register left 61 s after a ticket issued at the Go bootnode's monotonic
    // second 4295 (wait 60): put our clock there.
    let ping_at_s: u64 = 1_795_316_012;
    let register_at_s = ping_at_s + 61;
    let start_ms = (register_at_s - 4295 - 61) * 1000;
    let mut boot = LegacyDiscovery::new(
        secret(&v, "bootnode"),
        Config::new(Endpoint { ip: local, udp: 30301, tcp: 30301 }),
        start_ms,
    );

    // statusd A's first ping: a pong answering it, with the ticket fields of an empty list.
    let ping_a = packet_hex(&v, "ping A->bootnode (first contact");
    let ping_a_hash = Packet::decode(&ping_a).expect("decodes").hash;
    boot.handle_packet(node_a, &ping_a, 1_795_315_870_000);
    let sent: Vec<Packet> = std::iter::from_fn(|| boot.poll_transmit())
        .map(|(_, b)| Packet::decode(&b).expect("valid"))
        .collect();
    let pong = sent
        .iter()
        .find_map(|p| match &p.message {
            Message::Pong(m) => Some(m.clone()),
            _ => None,
        })
        .expect("a pong");
    assert_eq!(pong.reply_tok, ping_a_hash);
    assert_eq!(pong.to, Endpoint { ip: local, udp: 30303, tcp: 30303 });
    assert_eq!(pong.topic_hash, topics_hash(&[]));
    assert!(pong.wait_periods.is_empty());
    assert!(sent.iter().any(|p| p.message.kind() == PacketType::Ping), "and a ping back to bond");

    // The probe's ping with topics: a 60 s ticket for ["whisper"].
    let ping_e = packet_hex(&v, "ping probe_e->bootnode");
    boot.handle_packet(probe, &ping_e, ping_at_s * 1000);
    let sent: Vec<Packet> = std::iter::from_fn(|| boot.poll_transmit())
        .map(|(_, b)| Packet::decode(&b).expect("valid"))
        .collect();
    let ticket = sent
        .iter()
        .find_map(|p| match &p.message {
            Message::Pong(m) => Some(m.clone()),
            _ => None,
        })
        .expect("a ticket");
    assert_eq!(ticket.wait_periods, vec![60]);
    assert_eq!(ticket.topic_hash, topics_hash(&[Topic::new("whisper")]));
    // The probe answers our ping back, and is bonded.
    let our_ping = sent.iter().find(|p| p.message.kind() == PacketType::Ping).expect("ping back");
    let probe_key = secret(&v, "probe_e");
    let probe_pong = Message::Pong(Pong {
        to: Endpoint { ip: local, udp: 30301, tcp: 30301 },
        reply_tok: our_ping.hash,
        expiration: 1,
        topic_hash: topics_hash(&[]),
        ticket_serial: 1,
        wait_periods: vec![],
    });
    boot.handle_packet(probe, &probe_pong.sign(&probe_key).bytes, ping_at_s * 1000 + 5);

    // The captured topicRegister (the Go bootnode's ticket, same key) registers the probe.
    let register = packet_hex(&v, "topicRegister probe_e->bootnode");
    boot.handle_packet(probe, &register, register_at_s * 1000 + 300);
    assert_eq!(boot.registrations_held(), 1, "{:?}", boot.counters());
    let registered: Vec<Event> = std::iter::from_fn(|| boot.poll_event())
        .filter(|e| matches!(e, Event::Registered { .. }))
        .collect();
    assert_eq!(registered.len(), 1);
    let Event::Registered { topic, record } = &registered[0] else { unreachable!() };
    assert_eq!(topic, &Topic::new("whisper"));
    assert_eq!((record.tcp_port, record.udp_port), (30311, 30311));

    // The probe's query: its hash is the echo the Go bootnode answered with.
    let query = Message::TopicQuery(TopicQuery { topic: Topic::new("whisper"), expiration: 0 })
        .sign(&probe_key);
    assert_eq!(
        hex::encode(query.hash),
        "8cf07d3e0f89337bbce4ec53913428c792836aaca706338de48d066c35e1e4b3"
    );
    let _ = std::iter::from_fn(|| boot.poll_transmit()).count();
    boot.handle_packet(probe, &query.bytes, register_at_s * 1000 + 400);
    let (to, answer) = boot.poll_transmit().expect("topicNodes");
    assert_eq!(to, probe);
    let answer = Packet::decode(&answer).expect("valid");
    let Message::TopicNodes(nodes) = answer.message else { panic!("topicNodes expected") };
    assert_eq!(nodes.echo, query.hash);
    assert_eq!(
        nodes.nodes,
        vec![NodeEntry {
            endpoint: Endpoint { ip: local, udp: 30311, tcp: 30311 },
            id: probe_key.public_key().node_id()
        }]
    );
}

// Dependencies of the DNS code, not of these tests.
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
