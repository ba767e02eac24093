//! Replays the six RLPx sessions captured between status-go and go-ethereum nodes
//! (`testdata/vectors/rlpx/`, tests 1-5 of the team's `shared/vectors/README.md`, see
//! `testdata/README.md`): from the recorded keys and randomness, the handshake, the secrets and
//! every frame reproduce the wire bytes exactly, in both directions, and the decrypted content
//! decodes as recorded. Every test pins the number of sessions and frames it went through, so a
//! shortened file fails.

use std::{fs, path::PathBuf};

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;
use wisp_crypto::{Digest, NodeId, SecretKey};
use wisp_rlpx::{
    Capability, DisconnectReason, P2PMessage, Protocol, RlpxConfig, RlpxStream, SharedCapabilities,
    codec::RlpxCodec,
    frame::{FrameCipher, MAX_FRAME_SIZE},
    handshake::{HandshakeFormat, HandshakeRandomness, Initiator, Recipient, Secrets},
    p2p::{decode_frame_data, decompress},
};

use {alloy_rlp as _, criterion as _, proptest as _, thiserror as _, tracing as _, zeroize as _};

/// `testdata/vectors/rlpx` at the repository root: the only place these tests read files from.
fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/rlpx")
}

/// Per captured session: (complete frames, frames whose sender was the initiator, truncated
/// frames at the end). The totals over the six sessions: 61 frames (32 from initiators, 29 from
/// recipients), 6 truncated.
fn expected_frames(name: &str) -> (usize, usize, usize) {
    match name {
        "s1-waku1-default.json" => (12, 6, 1),
        "s2-waku1-lightclient-topic-interest.json" => (7, 4, 1),
        "s3-waku1-lightclient-bloom-mode.json" => (8, 4, 1),
        "s4-waku1-confirmations-ratelimits.json" => (8, 4, 1),
        "s5-shh6-statusd078-geth195.json" => (15, 8, 1),
        "s6-shh6-and-waku-statusd078.json" => (11, 6, 1),
        other => panic!("unexpected session file {other}"),
    }
}

/// Every captured session, by file name.
fn sessions() -> Vec<(String, Value)> {
    let dir = vectors_dir();
    let mut out: Vec<(String, Value)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let v = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 6, "expected six captured sessions in {}", dir.display());
    out
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))).unwrap()
}
fn arr<const N: usize>(v: &Value) -> [u8; N] {
    h(v).try_into().unwrap()
}
fn key(v: &Value) -> SecretKey {
    SecretKey::from_bytes(&h(v)).unwrap()
}
fn node_id_of_pub(v: &Value) -> NodeId {
    let full = h(v);
    NodeId(full[full.len() - 64..].try_into().unwrap())
}

struct Replay {
    initiator: Initiator,
    recipient: Recipient,
}

fn randomness(hs: &Value, side: &str, packet: &str) -> HandshakeRandomness {
    HandshakeRandomness {
        ephemeral_key: key(&hs[format!("{side}_ephemeral_priv")]),
        nonce: arr(&hs[format!("{side}_nonce")]),
        ecies_key: key(&hs[packet]["ecies"]["ephemeral_priv"]),
        ecies_iv: arr(&hs[packet]["ecies"]["iv"]),
        padding_len: hs[packet]["padding_len"].as_u64().unwrap() as usize,
    }
}

fn replay(hs: &Value) -> Replay {
    let recipient_id = node_id_of_pub(&hs["recipient_static_pub"]);
    let initiator = Initiator::new(
        key(&hs["initiator_static_priv"]),
        recipient_id,
        randomness(hs, "initiator", "auth"),
    )
    .unwrap();
    let recipient =
        Recipient::new(key(&hs["recipient_static_priv"]), randomness(hs, "recipient", "ack"));
    Replay { initiator, recipient }
}

/// Runs both sides of the handshake from the recorded randomness; checks every byte and secret.
fn handshake(name: &str, hs: &Value) -> (Secrets, Secrets) {
    let Replay { mut initiator, recipient } = replay(hs);
    let auth = initiator.auth(HandshakeFormat::Eip8);
    assert_eq!(hex::encode(&auth), hs["auth"]["raw_hex"].as_str().unwrap(), "{name}: auth bytes");

    let received = recipient.read_auth(&auth).unwrap();
    let dec = &hs["auth"]["decoded"];
    assert_eq!(received.remote_id(), node_id_of_pub(&hs["initiator_static_pub"]), "{name}");
    assert_eq!(received.message.nonce, arr::<32>(&dec["nonce"]), "{name}");
    assert_eq!(received.message.version, dec["version"].as_u64().unwrap(), "{name}");
    assert_eq!(
        hex::encode(received.message.signature.to_bytes()),
        dec["signature"].as_str().unwrap()
    );
    assert_eq!(
        received.remote_ephemeral.to_uncompressed().to_vec(),
        h(&hs["auth"]["recovered_ephemeral_pub"]),
        "{name}: recovered ephemeral key"
    );

    let (ack, recipient_secrets) = recipient.ack(&received).unwrap();
    assert_eq!(hex::encode(&ack), hs["ack"]["raw_hex"].as_str().unwrap(), "{name}: ack bytes");
    let (initiator_secrets, ack_msg) = initiator.read_ack(&ack).unwrap();
    assert_eq!(ack_msg.nonce, arr::<32>(&hs["ack"]["decoded"]["nonce"]), "{name}");

    let s = &hs["secrets"];
    for secrets in [&initiator_secrets, &recipient_secrets] {
        assert_eq!(secrets.aes_secret, arr::<32>(&s["aes_secret"]), "{name}: aes-secret");
        assert_eq!(secrets.mac_secret, arr::<32>(&s["mac_secret"]), "{name}: mac-secret");
    }
    let digest = |m: &wisp_crypto::Keccak256| hex::encode(m.clone().finalize());
    assert_eq!(
        digest(&initiator_secrets.egress_mac),
        s["initiator_egress_mac_initial_digest"].as_str().unwrap()
    );
    assert_eq!(
        digest(&initiator_secrets.ingress_mac),
        s["initiator_ingress_mac_initial_digest"].as_str().unwrap()
    );
    assert_eq!(
        digest(&recipient_secrets.ingress_mac),
        s["initiator_egress_mac_initial_digest"].as_str().unwrap()
    );
    assert_eq!(
        digest(&recipient_secrets.egress_mac),
        s["initiator_ingress_mac_initial_digest"].as_str().unwrap()
    );
    assert_eq!(initiator_secrets.remote_id, node_id_of_pub(&hs["recipient_static_pub"]));
    assert_eq!(recipient_secrets.remote_id, node_id_of_pub(&hs["initiator_static_pub"]));
    (initiator_secrets, recipient_secrets)
}

fn is_initiator_frame(w: &Value) -> bool {
    w["sender_role"].as_str() == Some("initiator")
}

/// Test 1: the handshake from the recorded randomness, byte for byte, and the secrets.
#[test]
fn captured_handshakes_reproduce() {
    let mut checked = 0;
    for (name, v) in sessions() {
        handshake(&name, &v["handshake"]);
        checked += 1;
    }
    assert_eq!(checked, 6, "handshakes replayed");
}

/// Test 2: encrypting every frame reproduces its wire bytes; decrypting them gives the
/// recorded plaintext with both MACs valid. The truncated echo's header reproduces too.
#[test]
fn captured_frames_reproduce_both_directions() {
    let mut total = 0;
    for (name, v) in sessions() {
        let (si, sr) = handshake(&name, &v["handshake"]);
        let mut init = FrameCipher::new(&si, MAX_FRAME_SIZE);
        let mut rec = FrameCipher::new(&sr, MAX_FRAME_SIZE);
        let mut frames = 0;
        let mut truncated = 0;
        for w in v["wire"].as_array().unwrap() {
            let kind = w["kind"].as_str().unwrap();
            if kind != "frame" && kind != "truncated_frame" {
                continue;
            }
            let (sender, receiver) =
                if is_initiator_frame(w) { (&mut init, &mut rec) } else { (&mut rec, &mut init) };
            let raw = h(&w["raw_hex"]);
            let header_plain = h(&w["header_plain"]);
            let size =
                u32::from_be_bytes([0, header_plain[0], header_plain[1], header_plain[2]]) as usize;
            let idx = &w["index"];
            if kind == "truncated_frame" {
                // Only the header got out: any frame data of that size gives the same 32 bytes.
                let mut out = BytesMut::new();
                sender.writer.write_frame(&vec![0u8; size], &mut out).unwrap();
                assert_eq!(out[..32], raw[..32], "{name} #{idx}: truncated header");
                let got = receiver.reader.read_header(&raw[..32].try_into().unwrap()).unwrap();
                assert_eq!(got, size);
                truncated += 1;
                continue;
            }
            let frame_plain = h(&w["frame_plain"]);
            let data = &frame_plain[..size];
            let mut out = BytesMut::new();
            sender.writer.write_frame(data, &mut out).unwrap();
            assert_eq!(hex::encode(&out), hex::encode(&raw), "{name} #{idx}: frame bytes");

            let got = receiver.reader.read_header(&raw[..32].try_into().unwrap()).unwrap();
            assert_eq!(got, size, "{name} #{idx}: frame size");
            let mut body = raw[32..].to_vec();
            receiver.reader.read_body(&mut body, size).unwrap();
            assert_eq!(
                body[..body.len() - 16],
                frame_plain[..],
                "{name} #{idx}: decrypted frame (with padding)"
            );
            frames += 1;
        }
        let (want_frames, _, want_truncated) = expected_frames(&name);
        assert_eq!((frames, truncated), (want_frames, want_truncated), "{name}: frames replayed");
        total += frames;
    }
    assert_eq!(total, 61, "frames replayed in all sessions");
}

/// Tests 2 and 5 through the codec: decrypting each direction's whole TCP stream yields the
/// recorded frames, and a stream that ends inside a frame ends quietly.
#[test]
fn captured_streams_decode_and_end_cleanly() {
    let (mut streams, mut frames, mut truncated_streams) = (0, 0, 0);
    for (name, v) in sessions() {
        let mut session_frames = 0;
        let (si, sr) = handshake(&name, &v["handshake"]);
        let hs = &v["handshake"];
        let i_role = hs["initiator"].as_str().unwrap();
        let r_role = hs["recipient"].as_str().unwrap();
        for (dir, receiver_secrets, skip, from_initiator) in [
            (format!("{i_role}->{r_role}"), &sr, h(&hs["auth"]["raw_hex"]).len(), true),
            (format!("{r_role}->{i_role}"), &si, h(&hs["ack"]["raw_hex"]).len(), false),
        ] {
            let stream = h(&v["stream_hex"][&dir]);
            let expected: Vec<Vec<u8>> = v["wire"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|w| w["kind"] == "frame" && is_initiator_frame(w) == from_initiator)
                .map(|w| {
                    let hp = h(&w["header_plain"]);
                    let size = u32::from_be_bytes([0, hp[0], hp[1], hp[2]]) as usize;
                    h(&w["frame_plain"])[..size].to_vec()
                })
                .collect();
            let truncated =
                v["wire"].as_array().unwrap().iter().any(|w| {
                    w["kind"] == "truncated_frame" && is_initiator_frame(w) == from_initiator
                });

            let mut codec = RlpxCodec::new(FrameCipher::new(receiver_secrets, MAX_FRAME_SIZE));
            // Feed the bytes in uneven pieces, as TCP would.
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in stream[skip..].chunks(37) {
                buf.extend_from_slice(chunk);
                while let Some(frame) = codec.decode(&mut buf).unwrap() {
                    got.push(frame.to_vec());
                }
            }
            assert!(codec.decode_eof(&mut buf).unwrap().is_none());
            assert_eq!(got, expected, "{name} {dir}: frames");
            assert_eq!(codec.truncated_at_eof(), truncated, "{name} {dir}: truncated frame at EOF");
            streams += 1;
            session_frames += got.len();
            truncated_streams += usize::from(truncated);
        }
        assert_eq!(session_frames, expected_frames(&name).0, "{name}: frames decoded");
        frames += session_frames;
    }
    assert_eq!((streams, frames, truncated_streams), (12, 61, 6), "streams, frames, truncated");
}

fn protocol_length(name: &str) -> u64 {
    match name {
        "waku" | "shh" => 128,
        "eth" => 17,
        other => panic!("unexpected capability {other}"),
    }
}

fn caps(v: &Value) -> Vec<Capability> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            Capability::new(c["name"].as_str().unwrap(), c["version"].as_u64().unwrap() as u32)
        })
        .collect()
}

/// Tests 3 and 4: snappy, message ids, and the base-protocol codecs byte for byte.
#[test]
fn captured_messages_decode_and_reencode() {
    // Frames checked; of them snappy-compressed; of them base-protocol messages re-encoded.
    let (mut frames, mut snappy, mut base) = (0, 0, 0);
    for (name, v) in sessions() {
        // Capability matching from both Hellos gives the recorded offsets.
        let roles: Vec<&String> = v["hello"].as_object().unwrap().keys().collect();
        let (a, b) = (&v["hello"][roles[0]], &v["hello"][roles[1]]);
        let ours: Vec<Protocol> = caps(&a["caps"])
            .into_iter()
            .map(|c| Protocol { length: protocol_length(&c.name), cap: c })
            .collect();
        let shared = SharedCapabilities::negotiate(&ours, &caps(&b["caps"])).unwrap();
        let matched = v["matched_protocols"].as_object().unwrap();
        assert_eq!(shared.iter().count(), matched.len(), "{name}");
        for (cap_name, m) in matched {
            let s = shared.get(cap_name).unwrap();
            assert_eq!(u64::from(s.cap.version), m["version"].as_u64().unwrap(), "{name}");
            assert_eq!(s.offset, m["offset"].as_u64().unwrap(), "{name}: offset of {cap_name}");
            assert_eq!(s.length, m["length"].as_u64().unwrap(), "{name}");
        }

        for w in v["wire"].as_array().unwrap().iter().filter(|w| w["kind"] == "frame") {
            let hp = h(&w["header_plain"]);
            let size = u32::from_be_bytes([0, hp[0], hp[1], hp[2]]) as usize;
            let frame = h(&w["frame_plain"]);
            let (code, body) = decode_frame_data(&frame[..size]).unwrap();
            let idx = &w["index"];
            assert_eq!(code, w["code"].as_u64().unwrap(), "{name} #{idx}");
            assert_eq!(body, h(&w["body_wire"]), "{name} #{idx}");
            let plain = h(&w["body_plain"]);
            frames += 1;
            if w["snappy"] == true {
                snappy += 1;
                assert_eq!(decompress(body, 16 << 20).unwrap(), plain, "{name} #{idx}: snappy");
                let ours = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
                assert_eq!(decompress(&ours, 16 << 20).unwrap(), plain);
            } else {
                assert_eq!(body, plain, "{name} #{idx}: only Hello is uncompressed");
                assert_eq!(code, 0, "{name} #{idx}");
            }
            if code >= 0x10 {
                let (cap, rel) = shared.resolve(code).unwrap();
                assert_eq!(cap.cap.name, w["protocol"].as_str().unwrap(), "{name} #{idx}");
                assert_eq!(rel, w["relative_code"].as_u64().unwrap(), "{name} #{idx}");
                continue;
            }
            let msg = P2PMessage::decode(code, &plain).unwrap();
            base += 1;
            let mut re = Vec::new();
            msg.encode_data(&mut re);
            assert_eq!(hex::encode(&re), hex::encode(&plain), "{name} #{idx}: {msg:?} re-encodes");
            match msg {
                P2PMessage::Hello(hello) => {
                    let role = w["direction"].as_str().unwrap().split("->").next().unwrap();
                    let rec = &v["hello"][role];
                    assert_eq!(hello.client_id, rec["client_id"].as_str().unwrap());
                    assert_eq!(hello.capabilities, caps(&rec["caps"]));
                    assert_eq!(hello.protocol_version, 5);
                    assert_eq!(hello.listen_port, 0);
                    assert_eq!(hex::encode(hello.id.0), rec["node_id"].as_str().unwrap());
                }
                P2PMessage::Disconnect(reason) => {
                    assert_eq!(u64::from(reason.code()), w["decoded"]["reason"].as_u64().unwrap());
                }
                P2PMessage::Ping | P2PMessage::Pong => assert_eq!(plain, [0xc0]),
            }
        }
    }
    assert_eq!((frames, snappy, base), (61, 49, 26), "frames, snappy frames, base messages");
}

/// The recipient side through the real async stream: fed the initiator's recorded bytes, our
/// `accept` writes the recorded ack, and the recorded frames sent through the `Sink` come out
/// as the recorded wire bytes.
#[tokio::test]
async fn captured_session_replays_through_async_stream() {
    let (mut sent, mut received) = (0, 0);
    for (name, v) in sessions() {
        let hs = &v["handshake"];
        let i_role = hs["initiator"].as_str().unwrap();
        let r_role = hs["recipient"].as_str().unwrap();
        let from_initiator = h(&v["stream_hex"][format!("{i_role}->{r_role}")]);
        let to_initiator = h(&v["stream_hex"][format!("{r_role}->{i_role}")]);

        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        theirs.write_all(&from_initiator).await.unwrap();
        let rnd = randomness(hs, "recipient", "ack");
        let mut stream = RlpxStream::accept_with(
            ours,
            &key(&hs["recipient_static_priv"]),
            rnd,
            &RlpxConfig::default(),
        )
        .await
        .unwrap();
        assert_eq!(stream.remote_id(), node_id_of_pub(&hs["initiator_static_pub"]));

        let frames: Vec<&Value> = v["wire"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["kind"] == "frame" && !is_initiator_frame(w))
            .collect();
        for w in &frames {
            let hp = h(&w["header_plain"]);
            let size = u32::from_be_bytes([0, hp[0], hp[1], hp[2]]) as usize;
            stream.send(Bytes::from(h(&w["frame_plain"])[..size].to_vec())).await.unwrap();
        }
        let expected_len = h(&hs["ack"]["raw_hex"]).len()
            + frames.iter().map(|w| h(&w["raw_hex"]).len()).sum::<usize>();
        let mut written = vec![0u8; expected_len];
        theirs.read_exact(&mut written).await.unwrap();
        assert_eq!(hex::encode(&written), hex::encode(&to_initiator[..expected_len]), "{name}");

        // Incoming frames decode in order; the stream then ends (the capture's TCP FIN).
        drop(theirs);
        let mut n = 0;
        while let Some(frame) = stream.next().await {
            frame.unwrap();
            n += 1;
        }
        let expected_in = v["wire"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["kind"] == "frame" && is_initiator_frame(w))
            .count();
        assert_eq!(n, expected_in, "{name}: incoming frames");
        let (all, from_initiator, _) = expected_frames(&name);
        assert_eq!((frames.len(), n), (all - from_initiator, from_initiator), "{name}: frames");
        sent += frames.len();
        received += n;
    }
    assert_eq!((sent, received), (29, 32), "frames sent, frames received");
}

/// The Disconnect reasons of the captures (`c1 08`, `c1 80`) decode and re-encode.
#[test]
fn captured_disconnect_encodings() {
    for (bytes, reason) in [
        (&[0xc1, 0x08][..], DisconnectReason::ClientQuitting),
        (&[0xc1, 0x80], DisconnectReason::DisconnectRequested),
    ] {
        let mut b = bytes;
        assert_eq!(DisconnectReason::decode(&mut b).unwrap(), reason);
        let mut out = Vec::new();
        reason.encode(&mut out);
        assert_eq!(out, bytes);
    }
}
