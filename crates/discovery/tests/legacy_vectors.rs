//! The 17 captured legacy discovery packets (`testdata/vectors/discovery/legacy-discv5.json`):
//! each decodes to the recorded fields and signer, and re-encodes and re-signs byte for byte.

use alloy_rlp as _;
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
