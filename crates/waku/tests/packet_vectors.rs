//! `testdata/vectors/waku/packets.json` (17 `waku/1` packets from statusd v0.79.11 and v0.78.0)
//! and `testdata/vectors/shh/packets.json` (10 `shh/6` packets from geth 1.9.5 and statusd
//! v0.78.0): every payload decodes into the recorded content and re-encodes byte for byte;
//! confirmations carry keccak256 of the Messages payload they confirm (DECISIONS 22). Then
//! the corner cases of the codecs, and proptest round trips.

mod testdata;

use std::collections::HashMap;

use alloy_rlp::{Encodable, Header};
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::Value;
use wisp_crypto::keccak256;
use wisp_waku::{
    Bloom, Envelope, EnvelopeError, EnvelopeErrorReport, MAX_TOPIC_INTEREST, MessageResponse,
    P2PRequestComplete, PacketError, PacketLimits, RateLimits, StatusOptions, Topic, WakuPacket,
    WhisperPacket, WhisperStatus, batch_hash,
    packets::{waku_codes, whisper_codes},
};

use {criterion as _, thiserror as _, tracing as _};

fn load(rel: &str) -> Value {
    testdata::json(&format!("vectors/{rel}"))
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().unwrap()
}

fn code(p: &Value) -> u64 {
    p["relative_code"].as_u64().unwrap()
}

fn encode_waku(p: &WakuPacket) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out.len(), p.encoded_len(), "encoded_len of {p:?}");
    out
}

fn encode_shh(p: &WhisperPacket) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(&mut out);
    assert_eq!(out.len(), p.encoded_len(), "encoded_len of {p:?}");
    out
}

fn limits(v: &Value) -> RateLimits {
    RateLimits {
        ip: v["ip_limits"].as_u64().unwrap(),
        peer_id: v["peer_id_limits"].as_u64().unwrap(),
        topic: v["topic_limits"].as_u64().unwrap(),
    }
}

/// The recorded `decoded.options` against the typed options: each key present exactly when
/// recorded, with the recorded value.
fn check_options(name: &str, o: &StatusOptions, decoded: &Value) {
    let mut seen = [false; 7];
    for opt in decoded["options"].as_array().unwrap() {
        let key = opt["key"].as_u64().unwrap() as usize;
        seen[key] = true;
        let v = &opt["value"];
        match key {
            0 => {
                let pow = o.pow_requirement.unwrap();
                assert_eq!(pow.to_bits(), opt["value_uint64"].as_u64().unwrap(), "{name}");
                assert_eq!(pow, opt["value_float64"].as_f64().unwrap(), "{name}");
            }
            1 => {
                let bloom = o.bloom.unwrap();
                assert_eq!(bloom.0[..], h(v)[..], "{name}");
                assert_eq!(opt["bloom_len"].as_u64(), Some(64));
                match opt["bloom_kind"].as_str().unwrap() {
                    k if k.starts_with("all-ones") => assert!(bloom.is_full(), "{name}"),
                    k if k.starts_with("all-zeros") => assert!(bloom.is_empty(), "{name}"),
                    _ => {
                        let topics: Vec<Topic> = opt["bloom_of_topics"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|t| t.as_str().unwrap().parse().unwrap())
                            .collect();
                        assert_eq!(bloom, Bloom::from_topics(&topics), "{name}: TopicToBloom");
                    }
                }
            }
            2 => assert_eq!(o.light_node, v.as_bool(), "{name}"),
            3 => assert_eq!(o.confirmations_enabled, v.as_bool(), "{name}"),
            4 => assert_eq!(o.packet_rate_limits, Some(limits(v)), "{name}"),
            5 => {
                let want: Vec<Topic> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().parse().unwrap())
                    .collect();
                assert_eq!(o.topic_interest.as_deref(), Some(&want[..]), "{name}");
            }
            6 => assert_eq!(o.bytes_rate_limits, Some(limits(v)), "{name}"),
            _ => panic!("{name}: unexpected key {key}"),
        }
    }
    assert_eq!(o.pow_requirement.is_some(), seen[0], "{name}: key 0");
    assert_eq!(o.bloom.is_some(), seen[1], "{name}: key 1");
    assert_eq!(o.light_node.is_some(), seen[2], "{name}: key 2");
    assert_eq!(o.confirmations_enabled.is_some(), seen[3], "{name}: key 3");
    assert_eq!(o.packet_rate_limits.is_some(), seen[4], "{name}: key 4");
    assert_eq!(o.topic_interest.is_some(), seen[5], "{name}: key 5");
    assert_eq!(o.bytes_rate_limits.is_some(), seen[6], "{name}: key 6");
}

fn check_envelopes(name: &str, envs: &[Envelope], decoded: &Value) {
    let want = decoded["envelopes"].as_array().unwrap();
    assert_eq!(envs.len(), want.len(), "{name}");
    for (e, w) in envs.iter().zip(want) {
        assert_eq!(hex::encode(e.hash()), w["envelope_hash"].as_str().unwrap(), "{name}");
        assert_eq!(e.to_rlp(), h(&w["envelope_rlp"]), "{name}");
        let f = &w["fields"];
        assert_eq!(u64::from(e.expiry), f["expiry"].as_u64().unwrap(), "{name}");
        assert_eq!(u64::from(e.ttl), f["ttl"].as_u64().unwrap(), "{name}");
        assert_eq!(e.topic, f["topic"].as_str().unwrap().parse::<Topic>().unwrap(), "{name}");
        assert_eq!(e.data[..], h(&f["data"])[..], "{name}");
        assert_eq!(e.nonce, f["nonce"].as_u64().unwrap(), "{name}");
    }
}

/// The Messages payload a confirmation refers to (same session, recorded wire index).
fn confirmed_payload<'a>(
    name: &str,
    p: &Value,
    messages: &'a HashMap<(String, u64), Vec<u8>>,
) -> &'a [u8] {
    let idx = p["decoded"]["batch_hash_is_keccak256_of_payload_of_wire_index"].as_u64().unwrap();
    let session = p["session"].as_str().unwrap().to_owned();
    messages.get(&(session, idx)).unwrap_or_else(|| panic!("{name}: no Messages at {idx}"))
}

fn messages_by_wire_index(doc: &Value) -> HashMap<(String, u64), Vec<u8>> {
    doc["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["msg"] == "Messages")
        .map(|p| {
            let key =
                (p["session"].as_str().unwrap().to_owned(), p["wire_index"].as_u64().unwrap());
            (key, h(&p["body_plain"]))
        })
        .collect()
}

#[test]
fn waku1_packets_from_the_wire() {
    let doc = load("waku/packets.json");
    let messages = messages_by_wire_index(&doc);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for p in doc["packets"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let msg = p["msg"].as_str().unwrap();
        let body = h(&p["body_plain"]);
        let packet = WakuPacket::decode(code(p), &body, &PacketLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(packet.code(), code(p), "{name}");
        let d = &p["decoded"];
        match (&packet, msg) {
            (WakuPacket::Status(o), "Status") | (WakuPacket::StatusUpdate(o), "StatusUpdate") => {
                check_options(name, o, d)
            }
            (WakuPacket::Messages(envs), "Messages") => {
                check_envelopes(name, envs, d);
                assert!(envs.iter().all(|e| e.topic == Topic([0x12, 0x34, 0x56, 0x78])));
            }
            (WakuPacket::MessageResponse(r), "MessageResponse") => {
                assert_eq!(r.version, d["version"].as_u64().unwrap(), "{name}");
                assert_eq!(r.batch_hash, h32(&d["response"][0]), "{name}");
                assert!(r.errors.is_empty() && d["response"][1].as_array().unwrap().is_empty());
                let confirmed = confirmed_payload(name, p, &messages);
                assert_eq!(r.batch_hash, keccak256(confirmed), "{name}: batch hash");
                assert_eq!(r.batch_hash, batch_hash(confirmed), "{name}: batch hash");
            }
            (WakuPacket::BatchAck(hash), "BatchAcknowledged") => {
                assert_eq!(*hash, h32(&d["batch_hash"]), "{name}");
                assert_eq!(*hash, batch_hash(confirmed_payload(name, p, &messages)), "{name}");
            }
            (other, _) => panic!("{name}: {msg} decoded as {other:?}"),
        }
        // Every kind captured is deterministic: byte for byte.
        assert_eq!(hex::encode(encode_waku(&packet)), hex::encode(&body), "{name}: re-encoding");
        *counts.entry(msg).or_default() += 1;
    }
    let want = [
        ("Status", 5),
        ("StatusUpdate", 4),
        ("Messages", 6),
        ("MessageResponse", 1),
        ("BatchAcknowledged", 1),
    ];
    assert_eq!(counts, HashMap::from(want));
}

#[test]
fn shh6_packets_from_the_wire() {
    let doc = load("shh/packets.json");
    let messages = messages_by_wire_index(&doc);
    let mut n = 0;
    for p in doc["packets"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let msg = p["msg"].as_str().unwrap();
        let body = h(&p["body_plain"]);
        let packet = WhisperPacket::decode(code(p), &body, &PacketLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(packet.code(), code(p), "{name}");
        let d = &p["decoded"];
        match (&packet, msg) {
            (WhisperPacket::Status(s), "Status") => {
                let w = &d["status"];
                assert_eq!(s.version, w["version"].as_u64().unwrap(), "{name}");
                assert_eq!(s.pow_requirement.to_bits(), w["pow_uint64"].as_u64().unwrap());
                assert_eq!(s.pow_requirement, w["pow_float64"].as_f64().unwrap(), "{name}");
                // Both geth and statusd send an empty bloom for a full node.
                assert_eq!(w["bloom_len"].as_u64(), Some(0), "{name}");
                assert_eq!(s.bloom, None, "{name}");
                assert_eq!(s.effective_bloom(), Bloom::FULL, "{name}");
                assert_eq!(s.light_node, w["light_node"].as_bool(), "{name}");
                assert_eq!(s.confirmations_enabled, w["confirmations_enabled"].as_bool(), "{name}");
                let n_fields = w["n_fields"].as_u64().unwrap();
                if n_fields >= 6 {
                    assert_eq!(s.rate_limits, Some(RateLimits::default()), "{name}");
                } else {
                    assert_eq!(s.rate_limits, None, "{name}");
                }
            }
            (WhisperPacket::Messages(envs), "Messages") => check_envelopes(name, envs, d),
            (WhisperPacket::MessageResponse(r), "MessageResponse") => {
                assert_eq!(r.version, d["version"].as_u64().unwrap(), "{name}");
                assert_eq!(r.batch_hash, h32(&d["response"][0]), "{name}");
                assert!(r.errors.is_empty());
                assert_eq!(r.batch_hash, keccak256(confirmed_payload(name, p, &messages)));
            }
            (WhisperPacket::BatchAck(hash), "BatchAcknowledged") => {
                assert_eq!(*hash, h32(&d["batch_hash"]), "{name}");
                assert_eq!(*hash, batch_hash(confirmed_payload(name, p, &messages)), "{name}");
            }
            (WhisperPacket::PowRequirement(pow), "PowRequirement") => {
                assert_eq!(pow.to_bits(), d["pow_uint64"].as_u64().unwrap(), "{name}");
                assert_eq!(*pow, d["pow_float64"].as_f64().unwrap(), "{name}");
            }
            (WhisperPacket::BloomFilter(bloom), "BloomFilterExchange") => {
                assert_eq!(bloom.0[..], h(&d["bloom"])[..], "{name}");
                let topics = ["0x12345678", "0xdeadbeef"].map(|t| t.parse::<Topic>().unwrap());
                assert_eq!(*bloom, Bloom::from_topics(&topics), "{name}");
            }
            (other, _) => panic!("{name}: {msg} decoded as {other:?}"),
        }
        assert_eq!(hex::encode(encode_shh(&packet)), hex::encode(&body), "{name}: re-encoding");
        n += 1;
    }
    assert_eq!(n, 10);
}

// ---------------------------------------------------------------------------------------
// Corner cases.

fn list(items: &[Vec<u8>]) -> Vec<u8> {
    let payload: Vec<u8> = items.concat();
    let mut out = Vec::new();
    Header { list: true, payload_length: payload.len() }.encode(&mut out);
    out.extend_from_slice(&payload);
    out
}

fn rlp<T: Encodable + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

fn envelope(i: u8, data_len: usize) -> Envelope {
    Envelope {
        expiry: 1_795_316_597 + u32::from(i),
        ttl: 60,
        topic: Topic([0x12, 0x34, 0x56, i]),
        data: Bytes::from(vec![i; data_len]),
        nonce: 0x1000 + u64::from(i), // same width for every i
    }
}

#[test]
fn status_unknown_keys_are_ignored() {
    // Key 9 with a nested list value and an extra item; key 48 (ASCII "0", waku/0's string
    // keys) with a bool; both around known keys, in no particular order.
    let body = list(&[
        list(&[rlp(&2u64), rlp(&true)]),
        list(&[rlp(&9u64), list(&[rlp(&1u64), rlp(&[0xaa_u8; 40][..])]), rlp(&7u64)]),
        list(&[rlp(&0u64), rlp(&0.002f64.to_bits())]),
        list(&[rlp(&48u64), rlp(&true)]),
        list(&[rlp(&1000u64)]),
    ]);
    let o = StatusOptions::decode(&mut &body[..]).unwrap();
    assert_eq!(
        o,
        StatusOptions {
            pow_requirement: Some(0.002),
            light_node: Some(true),
            ..StatusOptions::default()
        }
    );
    let p = WakuPacket::decode(waku_codes::STATUS_UPDATE, &body, &PacketLimits::default());
    assert_eq!(p.unwrap(), WakuPacket::StatusUpdate(o.clone()));
    // Re-encoded in key order, without the unknown keys.
    assert_eq!(o.to_rlp(), hex::decode("ceca80883f60624dd2f1a9fcc20201").unwrap());
    // An empty Status Update is a no-op.
    let empty = WakuPacket::decode(waku_codes::STATUS_UPDATE, &[0xc0], &PacketLimits::default());
    assert!(matches!(empty.unwrap(), WakuPacket::StatusUpdate(o) if o.is_empty()));
}

#[test]
fn status_malformed_pairs_are_refused() {
    let lim = PacketLimits::default();
    // A pair with no key.
    let body = list(&[list(&[])]);
    assert!(matches!(
        WakuPacket::decode(0, &body, &lim),
        Err(PacketError::Rlp { packet: "waku/1 Status", .. })
    ));
    // A known key with an extra item.
    let body = list(&[list(&[rlp(&2u64), rlp(&true), rlp(&true)])]);
    assert!(matches!(WakuPacket::decode(0, &body, &lim), Err(PacketError::TrailingBytes { .. })));
    // A bool that is neither 0 nor 1.
    let body = list(&[list(&[rlp(&3u64), rlp(&2u8)])]);
    assert!(WakuPacket::decode(0, &body, &lim).is_err());
    // A bloom of 63 bytes.
    let body = list(&[list(&[rlp(&1u64), rlp(&[0xff_u8; 63][..])])]);
    assert_eq!(
        WakuPacket::decode(0, &body, &lim),
        Err(PacketError::InvalidBloomLength { len: 63 })
    );
    // Rate limits of 2 items.
    let body = list(&[list(&[rlp(&4u64), list(&[rlp(&1u64), rlp(&2u64)])])]);
    assert!(WakuPacket::decode(0, &body, &lim).is_err());
    // Bytes after the options.
    let mut body = list(&[list(&[rlp(&2u64), rlp(&true)])]);
    body.push(0x80);
    assert!(matches!(
        WakuPacket::decode(0, &body, &lim),
        Err(PacketError::TrailingBytes { packet: "waku/1 Status", len: 1 })
    ));
}

#[test]
fn status_empty_bloom_is_read_as_full() {
    // Lenient (status-go's waku/1 refuses it): an empty bloom reads as the full bloom.
    let body = list(&[list(&[rlp(&1u64), rlp(&[0u8; 0][..])])]);
    let o = StatusOptions::decode(&mut &body[..]).unwrap();
    assert_eq!(o.bloom, Some(Bloom::FULL));
}

fn topics_status(n: usize) -> Vec<u8> {
    let topics: Vec<Vec<u8>> = (0..n as u32).map(|i| rlp(&Topic(i.to_be_bytes()))).collect();
    list(&[list(&[rlp(&5u64), list(&topics)])])
}

#[test]
fn topic_interest_limit() {
    let ok = topics_status(MAX_TOPIC_INTEREST);
    let o = StatusOptions::decode(&mut &ok[..]).unwrap();
    assert_eq!(o.topic_interest.as_ref().map(Vec::len), Some(MAX_TOPIC_INTEREST));
    assert_eq!(o.effective_bloom(), None);
    assert_eq!(o.to_rlp(), ok);

    let too_many = topics_status(MAX_TOPIC_INTEREST + 1);
    assert_eq!(
        StatusOptions::decode(&mut &too_many[..]),
        Err(PacketError::TooManyTopics { count: 10_001, max: 10_000 })
    );
    assert_eq!(
        WakuPacket::decode(waku_codes::STATUS, &too_many, &PacketLimits::default()),
        Err(PacketError::TooManyTopics { count: 10_001, max: 10_000 })
    );
    // An empty list: interested in nothing.
    let none = topics_status(0);
    assert_eq!(StatusOptions::decode(&mut &none[..]).unwrap().topic_interest, Some(vec![]));
}

#[test]
fn invalid_pow_is_refused() {
    let lim = PacketLimits::default();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.002, -f64::MIN_POSITIVE] {
        let body = list(&[list(&[rlp(&0u64), rlp(&bad.to_bits())])]);
        let err = WakuPacket::decode(waku_codes::STATUS, &body, &lim).unwrap_err();
        assert!(matches!(err, PacketError::InvalidPow(p) if p.to_bits() == bad.to_bits()), "{bad}");

        let shh = rlp(&bad.to_bits());
        let err = WhisperPacket::decode(whisper_codes::POW_REQUIREMENT, &shh, &lim).unwrap_err();
        assert!(matches!(err, PacketError::InvalidPow(_)), "{bad}");

        let status = list(&[rlp(&6u64), rlp(&bad.to_bits()), rlp(&[0u8; 0][..])]);
        let err = WhisperPacket::decode(whisper_codes::STATUS, &status, &lim).unwrap_err();
        assert!(matches!(err, PacketError::InvalidPow(_)), "{bad}");
    }
    // Zero is a valid requirement (key 0 with value `80`).
    let body = list(&[list(&[rlp(&0u64), rlp(&0u64)])]);
    assert_eq!(body, [0xc3, 0xc2, 0x80, 0x80]);
    let o = StatusOptions::decode(&mut &body[..]).unwrap();
    assert_eq!(o.pow_requirement, Some(0.0));
}

#[test]
fn whisper_status_of_3_4_6_and_7_items() {
    let lim = PacketLimits::default();
    let pow = rlp(&0.001f64.to_bits());
    let decode = |b: &[u8]| match WhisperPacket::decode(whisper_codes::STATUS, b, &lim) {
        Ok(WhisperPacket::Status(s)) => Ok(s),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };

    // 3 items (EIP-627), a 64-byte bloom.
    let mut bloom = [0u8; 64];
    bloom[2] = 0x04;
    let three = list(&[rlp(&6u64), pow.clone(), rlp(&bloom[..])]);
    let s = decode(&three).unwrap();
    assert_eq!(s.bloom, Some(Bloom(bloom)));
    assert_eq!(s.effective_bloom(), Bloom(bloom));
    assert_eq!((s.light_node, s.confirmations_enabled, s.rate_limits), (None, None, None));
    assert_eq!(s.to_rlp(), three);

    // 4 items (geth), empty bloom.
    let four = hex::decode("cc06883f50624dd2f1a9fc8080").unwrap();
    let s = decode(&four).unwrap();
    assert_eq!((s.bloom, s.light_node, s.confirmations_enabled), (None, Some(false), None));
    assert_eq!(s.to_rlp(), four);

    // 6 items (statusd), non-zero rate limits, light node.
    let six = list(&[
        rlp(&6u64),
        pow.clone(),
        rlp(&[0u8; 0][..]),
        rlp(&true),
        rlp(&false),
        list(&[rlp(&100u64), rlp(&50u64), rlp(&0u64)]),
    ]);
    let s = decode(&six).unwrap();
    assert_eq!(s.light_node, Some(true));
    assert_eq!(s.confirmations_enabled, Some(false));
    assert_eq!(s.rate_limits, Some(RateLimits { ip: 100, peer_id: 50, topic: 0 }));
    assert_eq!(s.to_rlp(), six);

    // 7 items: the 7th is ignored (DECISIONS 21); re-encoded with 6.
    let mut items7 = vec![
        rlp(&6u64),
        pow.clone(),
        rlp(&[0u8; 0][..]),
        rlp(&true),
        rlp(&false),
        list(&[rlp(&100u64), rlp(&50u64), rlp(&0u64)]),
    ];
    items7.push(list(&[rlp("future")]));
    let seven = list(&items7);
    assert_eq!(decode(&seven).unwrap(), s);

    // 2 items and a bloom of another length are refused.
    let two = list(&[rlp(&6u64), pow.clone()]);
    assert_eq!(decode(&two), Err(PacketError::WhisperStatusTooShort { count: 2, min: 3 }));
    let odd = list(&[rlp(&6u64), pow, rlp(&[0xff_u8; 32][..])]);
    assert_eq!(decode(&odd), Err(PacketError::InvalidBloomLength { len: 32 }));

    // A trailing field implies the earlier ones (written `false`).
    let s = WhisperStatus {
        version: 6,
        pow_requirement: 0.2,
        bloom: None,
        light_node: None,
        confirmations_enabled: Some(true),
        rate_limits: None,
    };
    let again = decode(&s.to_rlp()).unwrap();
    assert_eq!(again.light_node, Some(false));
    assert_eq!(again.confirmations_enabled, Some(true));
}

#[test]
fn whisper_bloom_packet_is_64_bytes() {
    let lim = PacketLimits::default();
    let full = rlp(&[0xff_u8; 64][..]);
    let p = WhisperPacket::decode(whisper_codes::BLOOM_FILTER, &full, &lim).unwrap();
    assert_eq!(p, WhisperPacket::BloomFilter(Bloom::FULL));
    assert_eq!(encode_shh(&p), full);
    for bad in [rlp(&[0u8; 0][..]), rlp(&[0xff_u8; 65][..]), list(std::slice::from_ref(&full))] {
        assert!(WhisperPacket::decode(whisper_codes::BLOOM_FILTER, &bad, &lim).is_err());
    }
}

#[test]
fn p2p_message_accepts_a_list_and_a_single_envelope() {
    let lim = PacketLimits::default();
    let envs = vec![envelope(1, 10), envelope(2, 300)];
    let as_list = list(&envs.iter().map(Envelope::to_rlp).collect::<Vec<_>>());
    let single = envs[0].to_rlp();
    let code = waku_codes::P2P_MESSAGE;
    let p = WakuPacket::decode(code, &as_list, &lim).unwrap();
    assert_eq!(p, WakuPacket::P2PMessage(envs.clone()));
    assert_eq!(encode_waku(&p), as_list);

    let p = WakuPacket::decode(code, &single, &lim).unwrap();
    assert_eq!(p, WakuPacket::P2PMessage(vec![envs[0].clone()]));
    // Always re-encoded as a list (status-go's form).
    assert_eq!(encode_waku(&p), list(std::slice::from_ref(&single)));

    let p = WakuPacket::decode(code, &[0xc0], &lim).unwrap();
    assert_eq!(p, WakuPacket::P2PMessage(vec![]));
    let p = WhisperPacket::decode(whisper_codes::P2P_MESSAGE, &single, &lim).unwrap();
    assert_eq!(p, WhisperPacket::P2PMessage(vec![envs[0].clone()]));
    let p = WhisperPacket::decode(whisper_codes::P2P_MESSAGE, &as_list, &lim).unwrap();
    assert_eq!(p, WhisperPacket::P2PMessage(envs.clone()));

    // Messages takes only the list form.
    assert!(WakuPacket::decode(waku_codes::MESSAGES, &single, &lim).is_err());
    // P2P Request takes one envelope.
    let p = WakuPacket::decode(waku_codes::P2P_REQUEST, &single, &lim).unwrap();
    assert_eq!(p, WakuPacket::P2PRequest(envs[0].clone()));
    assert_eq!(encode_waku(&p), single);
    assert!(WakuPacket::decode(waku_codes::P2P_REQUEST, &as_list, &lim).is_err());
}

#[test]
fn envelope_limits_apply_before_decoding() {
    let envs: Vec<Envelope> = (0..5).map(|i| envelope(i, 100)).collect();
    let body = list(&envs.iter().map(Envelope::to_rlp).collect::<Vec<_>>());
    let size = envs[0].encoded_len();

    let few = PacketLimits { max_envelopes: 4, ..PacketLimits::default() };
    for code in [waku_codes::MESSAGES, waku_codes::P2P_MESSAGE] {
        assert_eq!(
            WakuPacket::decode(code, &body, &few),
            Err(PacketError::TooManyEnvelopes { count: 5, max: 4 })
        );
    }
    let small = PacketLimits { max_envelope_size: size - 1, ..PacketLimits::default() };
    let too_big = PacketError::Envelope(EnvelopeError::TooBig { size, max: size - 1 });
    assert_eq!(WakuPacket::decode(waku_codes::MESSAGES, &body, &small), Err(too_big.clone()));
    assert_eq!(
        WhisperPacket::decode(whisper_codes::P2P_MESSAGE, &envs[0].to_rlp(), &small),
        Err(too_big.clone())
    );
    assert_eq!(
        WakuPacket::decode(waku_codes::P2P_REQUEST, &envs[0].to_rlp(), &small),
        Err(too_big)
    );
    let exact = PacketLimits { max_envelope_size: size, max_envelopes: 5 };
    let p = WakuPacket::decode(waku_codes::MESSAGES, &body, &exact).unwrap();
    assert_eq!(p, WakuPacket::Messages(envs));
}

#[test]
fn unknown_codes_are_ignored() {
    let lim = PacketLimits::default();
    // Deprecated waku codes 2, 3, 20, 21, 34 (0x22), and anything else below 128, whatever
    // the payload.
    for code in [2, 3, 20, 21, 34, 100, 123, 124] {
        let p = WakuPacket::decode(code, b"\xff\xfe not rlp", &lim).unwrap();
        assert_eq!(p, WakuPacket::Unknown { code });
        assert_eq!(p.code(), code);
        assert!(encode_waku(&p).is_empty());
    }
    for code in [4, 20, 22, 123, 124] {
        let p = WhisperPacket::decode(code, &[], &lim).unwrap();
        assert_eq!(p, WhisperPacket::Unknown { code });
    }
    assert_eq!(
        WakuPacket::decode(128, &[0xc0], &lim),
        Err(PacketError::CodeOutOfRange { code: 128, max: 128 })
    );
    assert!(WhisperPacket::decode(u64::MAX, &[0xc0], &lim).is_err());
}

#[test]
fn batch_ack_and_message_response() {
    let lim = PacketLimits::default();
    let hash = [0x5e; 32];
    let ack = rlp(&hash);
    assert_eq!(
        WakuPacket::decode(waku_codes::BATCH_ACK, &ack, &lim).unwrap(),
        WakuPacket::BatchAck(hash)
    );
    // The hash is 32 bytes, bare: not 31, not in a list.
    assert!(WakuPacket::decode(waku_codes::BATCH_ACK, &rlp(&[0x5e_u8; 31]), &lim).is_err());
    assert!(
        WakuPacket::decode(waku_codes::BATCH_ACK, &list(std::slice::from_ref(&ack)), &lim).is_err()
    );

    let r = MessageResponse::new(
        hash,
        vec![EnvelopeErrorReport {
            hash: [1; 32],
            code: wisp_waku::packets::ERROR_CODE_TIME_SYNC,
            description: "envelope from the future".into(),
        }],
    );
    let p = WakuPacket::MessageResponse(r);
    let bytes = encode_waku(&p);
    assert_eq!(WakuPacket::decode(waku_codes::MESSAGE_RESPONSE, &bytes, &lim).unwrap(), p);
    // Version 2 is not understood (status-go ignores it).
    let v2 = list(&[rlp(&2u64), list(&[ack, list(&[])])]);
    assert_eq!(
        WakuPacket::decode(waku_codes::MESSAGE_RESPONSE, &v2, &lim),
        Err(PacketError::UnsupportedResponseVersion { version: 2 })
    );
}

#[test]
fn p2p_request_complete_forms() {
    let lim = PacketLimits::default();
    let decode = |b: &[u8]| match WakuPacket::decode(waku_codes::P2P_REQUEST_COMPLETE, b, &lim) {
        Ok(WakuPacket::P2PRequestComplete(c)) => Ok(c),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    let id = [0x11; 32];
    let last = [0x22; 32];
    let cursor = [0x33; 36];

    // status-go: one byte string.
    let s = rlp(&[&id[..], &last[..], &cursor[..]].concat()[..]);
    let c = decode(&s).unwrap();
    assert_eq!(c, P2PRequestComplete::completed(id, last, Bytes::copy_from_slice(&cursor)));
    assert_eq!(encode_waku(&WakuPacket::P2PRequestComplete(c)), s);
    // Without a cursor; with just the request id.
    let c = decode(&rlp(&[&id[..], &last[..]].concat()[..])).unwrap();
    assert_eq!((c.last_envelope_hash, c.cursor.len()), (last, 0));
    let c = decode(&rlp(&id[..])).unwrap();
    assert_eq!(c, P2PRequestComplete::completed(id, [0; 32], Bytes::new()));
    // A cursor of another length is kept (opaque, DECISIONS 10).
    let c = decode(&rlp(&[&id[..], &last[..], &[9u8; 5][..]].concat()[..])).unwrap();
    assert_eq!(&c.cursor[..], &[9u8; 5]);
    // The failure form.
    let f = decode(&rlp(&[&b"ERROR="[..], &id[..], &b"boom"[..]].concat()[..])).unwrap();
    assert_eq!(f, P2PRequestComplete::failed(id, "boom"));
    // The spec's list form.
    let l = list(&[rlp(&id), rlp(&last), rlp(&cursor[..])]);
    assert_eq!(
        decode(&l).unwrap(),
        P2PRequestComplete::completed(id, last, Bytes::copy_from_slice(&cursor))
    );
    let l = list(&[rlp(&id), rlp(&last)]);
    assert_eq!(decode(&l).unwrap().cursor.len(), 0);
    // Too short for a request id.
    assert_eq!(decode(&rlp(&[1u8; 31][..])), Err(PacketError::InvalidRequestComplete { len: 31 }));
}

// ---------------------------------------------------------------------------------------
// Property tests.

fn pow() -> impl Strategy<Value = f64> {
    // Every finite, non-negative double.
    (0u64..0x7ff0_0000_0000_0000).prop_map(f64::from_bits)
}

fn bloom() -> impl Strategy<Value = Bloom> {
    prop::collection::vec(any::<u8>(), 64).prop_map(|v| Bloom(v.try_into().unwrap()))
}

fn rate_limits() -> impl Strategy<Value = RateLimits> {
    (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(ip, peer_id, topic)| RateLimits {
        ip,
        peer_id,
        topic,
    })
}

fn topic() -> impl Strategy<Value = Topic> {
    any::<[u8; 4]>().prop_map(Topic)
}

fn status_options() -> impl Strategy<Value = StatusOptions> {
    (
        prop::option::of(pow()),
        prop::option::of(bloom()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(rate_limits()),
        prop::option::of(prop::collection::vec(topic(), 0..40)),
        prop::option::of(rate_limits()),
    )
        .prop_map(|(pow, bloom, light, conf, packet, topics, bytes)| StatusOptions {
            pow_requirement: pow,
            bloom,
            light_node: light,
            confirmations_enabled: conf,
            packet_rate_limits: packet,
            topic_interest: topics,
            bytes_rate_limits: bytes,
        })
}

fn whisper_status() -> impl Strategy<Value = WhisperStatus> {
    (
        any::<u64>(),
        pow(),
        prop::option::of(bloom()),
        3usize..=6,
        any::<bool>(),
        any::<bool>(),
        rate_limits(),
    )
        .prop_map(|(version, pow, bloom, n, light, conf, limits)| WhisperStatus {
            version,
            pow_requirement: pow,
            bloom,
            light_node: (n >= 4).then_some(light),
            confirmations_enabled: (n >= 5).then_some(conf),
            rate_limits: (n >= 6).then_some(limits),
        })
}

fn any_envelope() -> impl Strategy<Value = Envelope> {
    (any::<u32>(), any::<u32>(), topic(), prop::collection::vec(any::<u8>(), 0..300), any::<u64>())
        .prop_map(|(expiry, ttl, topic, data, nonce)| Envelope {
            expiry,
            ttl,
            topic,
            data: data.into(),
            nonce,
        })
}

fn message_response() -> impl Strategy<Value = MessageResponse> {
    (
        any::<[u8; 32]>(),
        prop::collection::vec(
            (any::<[u8; 32]>(), any::<u64>(), "\\PC{0,60}").prop_map(
                |(hash, code, description)| EnvelopeErrorReport { hash, code, description },
            ),
            0..8,
        ),
    )
        .prop_map(|(hash, errors)| MessageResponse::new(hash, errors))
}

proptest! {
    #[test]
    fn status_options_round_trip(o in status_options()) {
        let bytes = o.to_rlp();
        prop_assert_eq!(bytes.len(), o.encoded_len());
        prop_assert_eq!(&StatusOptions::decode(&mut &bytes[..]).unwrap(), &o);
        let p = WakuPacket::Status(o.clone());
        prop_assert_eq!(WakuPacket::decode(0, &bytes, &PacketLimits::default()).unwrap(), p);
        let p = WakuPacket::StatusUpdate(o);
        prop_assert_eq!(WakuPacket::decode(22, &bytes, &PacketLimits::default()).unwrap(), p);
    }

    #[test]
    fn whisper_status_round_trip(s in whisper_status()) {
        let bytes = s.to_rlp();
        prop_assert_eq!(bytes.len(), s.encoded_len());
        let p = WhisperPacket::decode(0, &bytes, &PacketLimits::default()).unwrap();
        prop_assert_eq!(&p, &WhisperPacket::Status(s));
        prop_assert_eq!(encode_shh(&p), bytes);
    }

    #[test]
    fn message_response_round_trip(r in message_response()) {
        let p = WakuPacket::MessageResponse(r.clone());
        let bytes = encode_waku(&p);
        prop_assert_eq!(WakuPacket::decode(12, &bytes, &PacketLimits::default()).unwrap(), p);
        let p = WhisperPacket::MessageResponse(r);
        let bytes = encode_shh(&p);
        prop_assert_eq!(WhisperPacket::decode(12, &bytes, &PacketLimits::default()).unwrap(), p);
    }

    #[test]
    fn messages_round_trip(envs in prop::collection::vec(any_envelope(), 0..12)) {
        let lim = PacketLimits::default();
        for p in [WakuPacket::Messages(envs.clone()), WakuPacket::P2PMessage(envs.clone())] {
            let bytes = encode_waku(&p);
            prop_assert_eq!(WakuPacket::decode(p.code(), &bytes, &lim).unwrap(), p);
        }
        let p = WhisperPacket::Messages(envs.clone());
        let bytes = encode_shh(&p);
        prop_assert_eq!(WhisperPacket::decode(1, &bytes, &lim).unwrap(), p);
        prop_assert_eq!(batch_hash(&bytes), keccak256(&bytes));
        if let Some(e) = envs.first() {
            let p = WakuPacket::P2PRequest(e.clone());
            prop_assert_eq!(WakuPacket::decode(126, &encode_waku(&p), &lim).unwrap(), p);
        }
    }

    #[test]
    fn request_complete_round_trip(
        id in any::<[u8; 32]>(),
        last in any::<[u8; 32]>(),
        cursor in prop::collection::vec(any::<u8>(), 0..80),
        failure in prop::option::of("\\PC{0,40}"),
    ) {
        prop_assume!(!id.starts_with(b"ERROR="));
        let c = match failure {
            None => P2PRequestComplete::completed(id, last, cursor.into()),
            Some(msg) => P2PRequestComplete::failed(id, msg),
        };
        let p = WhisperPacket::P2PRequestComplete(c);
        prop_assert_eq!(WhisperPacket::decode(125, &encode_shh(&p), &PacketLimits::default()).unwrap(), p);
    }

    #[test]
    fn decode_never_panics(code in 0u64..140, payload in prop::collection::vec(any::<u8>(), 0..200)) {
        let lim = PacketLimits { max_envelope_size: 150, max_envelopes: 3 };
        if let Ok(p) = WakuPacket::decode(code, &payload, &lim) {
            prop_assert_eq!(p.code(), code);
            let again = WakuPacket::decode(code, &encode_waku(&p), &lim).unwrap();
            prop_assert_eq!(again, p);
        }
        if let Ok(p) = WhisperPacket::decode(code, &payload, &lim) {
            prop_assert_eq!(p.code(), code);
            let again = WhisperPacket::decode(code, &encode_shh(&p), &lim).unwrap();
            prop_assert_eq!(again, p);
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_vectors(
        idx in 0usize..17,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        // Mutations of real payloads reach deeper than random bytes.
        static DOC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        let doc = DOC.get_or_init(|| load("waku/packets.json"));
        let p = &doc["packets"][idx];
        let mut body = h(&p["body_plain"]);
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        let lim = PacketLimits::default();
        if let Ok(packet) = WakuPacket::decode(code(p), &body, &lim) {
            let again = WakuPacket::decode(code(p), &encode_waku(&packet), &lim).unwrap();
            prop_assert_eq!(again, packet);
        }
    }
}
