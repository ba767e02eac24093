//! Fuzzes the legacy discovery packet decoder (`wisp_discovery::legacy::Packet::decode`) and the
//! state machine that consumes it.
//!
//! Each input is decoded as a whole datagram, and also as a body of every type signed by a
//! fixed key (so the fuzzer reaches the RLP of each body without forging a signature). A body
//! that decodes must re-encode to a body that decodes to the same message, and a signed packet
//! must decode to the same message, signer and hash. Finally the datagram is fed to a fresh
//! `LegacyDiscovery`, which must not panic and may only send packets that decode.

#![no_main]

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::LazyLock,
};

use libfuzzer_sys::fuzz_target;
use wisp_crypto::SecretKey;
use wisp_discovery::legacy::{Config, Endpoint, LegacyDiscovery, Message, Packet, PacketType};

static KEY: LazyLock<SecretKey> =
    LazyLock::new(|| SecretKey::from_bytes(&[0xa1; 32]).expect("fixed key"));

const NOW_MS: u64 = 1_800_000_000_000;

fn check_body(kind: PacketType, body: &[u8]) {
    let Ok(msg) = Message::decode_body(kind, body) else { return };
    let mut again = Vec::new();
    msg.encode_body(&mut again);
    let decoded = Message::decode_body(kind, &again).expect("re-encoded body decodes");
    assert_eq!(decoded, msg, "body round trip");
    let signed = msg.sign(&KEY);
    if signed.bytes.len() <= wisp_discovery::legacy::MAX_PACKET_SIZE {
        let p = Packet::decode(&signed.bytes).expect("signed packet decodes");
        assert_eq!(p.message, msg);
        assert_eq!(p.sender, KEY.public_key().node_id());
        assert_eq!(p.hash, signed.hash);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::decode(data) {
        let mut body = Vec::new();
        p.message.encode_body(&mut body);
        assert!(Message::decode_body(p.message.kind(), &body).is_ok());
    }
    for kind in PacketType::ALL {
        check_body(kind, data);
    }

    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut node = LegacyDiscovery::new(
        SecretKey::from_bytes(&[0xb2; 32]).expect("fixed key"),
        Config::new(Endpoint { ip: local, udp: 30301, tcp: 30301 }),
        NOW_MS,
    );
    let from = SocketAddr::new(local, 30303);
    node.tick(NOW_MS);
    node.handle_packet(from, data, NOW_MS);
    node.tick(NOW_MS + 60_000);
    while let Some((_, bytes)) = node.poll_transmit() {
        assert!(Packet::decode(&bytes).is_ok(), "the node sends valid packets");
    }
});
