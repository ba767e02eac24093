//! status-go v0.79.11 captures (`testdata/vectors/chat/one-to-one.json` and `group.json`): every
//! MVDS payload decodes to the recorded fields, re-encodes byte for byte, its messages
//! reproduce their recorded ids, each ack acknowledges an earlier message of the other party,
//! and the group is `GroupId::one_to_one(alice, bob)`.

use criterion as _;
use proptest as _;
use prost as _;
use rand as _;
use rand_core as _;
#[cfg(feature = "sqlite")]
use rusqlite as _;
use thiserror as _;

use std::path::PathBuf;

use serde_json::Value;
use wisp_mvds::{GroupId, MessageId, Payload};

/// `testdata/vectors/chat/<name>` at the repository root (see `testdata/README.md`).
fn load(name: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/chat").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).unwrap()
}

fn id(v: &Value) -> MessageId {
    MessageId::from_slice(&h(v)).unwrap()
}

/// What [`check_file`] went through.
struct Checked {
    /// Envelopes in the file.
    envelopes: usize,
    /// MVDS payloads decoded and checked.
    payloads: usize,
    /// Message ids, in order.
    messages: Vec<MessageId>,
    /// Acknowledged ids, in order.
    acks: Vec<MessageId>,
}

/// Checks every `mvds` block of a file.
fn check_file(file: &Value) -> Checked {
    let mut messages = Vec::new();
    let mut acks = Vec::new();
    let envelopes = file["envelopes"].as_array().unwrap();
    let mut payloads = 0;
    for (i, env) in envelopes.iter().enumerate() {
        let Some(mvds) = env.get("mvds").filter(|m| !m.is_null()) else { continue };
        payloads += 1;
        let bytes = h(&mvds["payload"]);
        let mut buf = &bytes[..];
        let p = Payload::decode(&mut buf).unwrap_or_else(|e| panic!("envelope {i}: {e}"));
        assert!(buf.is_empty());
        assert_eq!(p.to_bytes(), bytes, "envelope {i}: re-encoding");
        assert_eq!(p.encoded_len(), bytes.len());

        let want_acks: Vec<MessageId> = mvds["acks"].as_array().unwrap().iter().map(id).collect();
        assert_eq!(p.acks, want_acks, "envelope {i}");
        assert!(p.offers.is_empty() && p.requests.is_empty(), "status-go runs batch mode");

        let want = mvds["messages"].as_array().unwrap();
        assert_eq!(p.messages.len(), want.len(), "envelope {i}");
        for (m, w) in p.messages.iter().zip(want) {
            assert_eq!(m.group_id.0.to_vec(), h(&w["group_id"]));
            assert_eq!(m.timestamp, w["timestamp"].as_i64().unwrap());
            assert_eq!(m.body, h(&w["body"]));
            assert_eq!(m.metadata, None);
            assert_eq!(m.id(), id(&w["mvds_message_id"]), "envelope {i}: message id");
            messages.push(m.id());
        }

        // The field list: numbers 5001 (acks) / 5004 (messages) and 6001..6003 inside.
        for f in mvds["fields"].as_array().unwrap() {
            let n = f["field"].as_u64().unwrap();
            assert!(n == 5001 || n == 5004, "field {n}");
            if n == 5004 {
                let inner: Vec<u64> = f["value"]["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|g| g["field"].as_u64().unwrap())
                    .collect();
                assert_eq!(inner, vec![6001, 6002, 6003]);
            }
        }
        acks.extend(p.acks);
    }
    Checked { envelopes: envelopes.len(), payloads, messages, acks }
}

#[test]
fn one_to_one_payloads_and_ids() {
    let file = load("one-to-one.json");
    let Checked { envelopes, payloads, messages, acks } = check_file(&file);
    assert_eq!((envelopes, payloads), (10, 6), "envelopes, MVDS payloads checked");
    assert_eq!(messages.len(), 3);
    // Envelopes 2, 5 and 7 acknowledge 0, 3 and 6: every message is acked, in order.
    assert_eq!(acks, messages);

    let key = |who: &str| {
        wisp_crypto::PublicKey::from_sec1(&h(&file["parties"][who]["chat_public_key"])).unwrap()
    };
    let group = GroupId::one_to_one(&key("alice"), &key("bob"));
    let env0 = &file["envelopes"][0]["mvds"]["messages"][0]["group_id"];
    assert_eq!(group.0.to_vec(), h(env0));
}

#[test]
fn group_chat_payloads_and_ids() {
    let Checked { envelopes, payloads, messages, acks } = check_file(&load("group.json"));
    assert_eq!((envelopes, payloads), (6, 4), "envelopes, MVDS payloads checked");
    assert_eq!(messages.len(), 2);
    assert_eq!(acks, messages);
}
