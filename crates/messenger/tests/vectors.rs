//! status-go v0.79.11 captures (`testdata/vectors/chat/public.json`, `one-to-one.json`,
//! `group.json`): every public, 1:1 and group envelope opened by a `Messenger` as its
//! recipient and checked against what status-go reported (chat, sender, text, clock, message
//! id, group state), and the messages we build for the same inputs re-encoded byte for byte
//! where the encoding is deterministic.

mod common;

use std::collections::BTreeMap;

use common::{Party, hx, load, secret};
use serde_json::Value;
use wisp_crypto::{PublicKey, SecretKey};
use wisp_messenger::proto::{self, Message as _};
use wisp_messenger::{ChatKind, DeliveryStatus, Event, MessageId, ReceivedMessage, SignedMessage};
use wisp_ratchet::{KeyPurpose, ScriptedEntropy};
use wisp_waku::Envelope;

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

fn received(events: &[Event]) -> Vec<ReceivedMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageReceived(m) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

/// Checks a received message against a status-go message view (`status_go_reported` or an
/// entry of `status_go_chat_views`).
fn check_view(got: &ReceivedMessage, view: &Value) {
    assert_eq!(got.id.to_string(), text(&view["id"]), "id");
    assert_eq!(got.message.text, text(&view["text"]), "text");
    assert_eq!(got.message.clock, view["clock"].as_u64().unwrap(), "clock");
    assert_eq!(got.message.timestamp, view["timestamp"].as_u64().unwrap(), "timestamp");
    assert_eq!(got.message.chat_id, text(&view["chatId"]), "chatId (as sent)");
    assert_eq!(
        format!("0x{}", hex::encode(got.sender.to_uncompressed())),
        text(&view["from"]),
        "from"
    );
    assert_eq!(i64::from(got.message.message_type), view["messageType"].as_i64().unwrap());
    assert_eq!(i64::from(got.message.content_type), view["contentType"].as_i64().unwrap());
}

fn recorded_envelope(waku: &Value) -> Envelope {
    let rlp = hx(&waku["envelope_rlp"]);
    let envelope = Envelope::decode(&mut rlp.as_slice()).unwrap();
    assert_eq!(hex::encode(envelope.hash()), text(&waku["envelope_hash"]));
    envelope
}

/// `party` opens a recorded envelope with its own filters and handles it.
fn deliver_recorded(party: &mut Party, waku: &Value, now_ms: u64) {
    let envelope = recorded_envelope(waku);
    let incoming =
        party.open(envelope.topic, &envelope.data, envelope.sent()).unwrap_or_else(|| {
            panic!("no filter of ours opens the envelope on {}", text(&waku["topic"]))
        });
    party.messenger.handle_envelope(&incoming, now_ms).unwrap();
}

#[test]
fn public_chat_envelopes() {
    let file = load("public.json");
    let alice_key = secret(&file["sender"]["chat_private_key"]);
    let mut entropy = ScriptedEntropy::new([1; 32]);
    entropy.push_key(KeyPurpose::SignedPreKey, secret(&file["sender"]["signed_pre_key_private"]));
    let mut alice =
        Party::new(alice_key.clone(), text(&file["sender"]["installation_id"]), Some(entropy), 1);
    let mut bob = Party::new(SecretKey::from_bytes(&[0x5e; 32]).unwrap(), "bob", None, 2);
    let mut checked = 0;
    for vector in file["vectors"].as_array().unwrap() {
        let waku = &vector["waku"];
        let app = &vector["application"][0];
        let view = &app["status_go_reported"];
        let name = text(&waku["filter_chat_id"]);
        let clock = view["clock"].as_u64().unwrap();

        // Build: the same inputs give the same ChatMessage and ApplicationMetadataMessage.
        alice.messenger.join_public_chat(name).unwrap();
        let id = alice.messenger.send_public_text(name, text(&view["text"]), clock).unwrap();
        assert_eq!(hex::encode(id.0), text(&app["message_id"]), "message id");
        alice.pump(clock);
        let filter = alice.filters.iter().find(|f| f.name == format!("public:{name}")).unwrap();
        assert_eq!(hex::encode(filter.topic.0), text(&waku["topic"]), "public chat topic");
        let post = alice.posted.last().unwrap();
        assert_eq!(post.topic, filter.topic);
        assert_eq!(post.pow_target, waku["pow_target_used_by_sender"].as_f64().unwrap());
        assert_eq!(post.ttl, 15);
        let built = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
        assert_eq!(
            hex::encode(&built.public_message),
            text(&app["application_metadata_message"]),
            "ApplicationMetadataMessage byte for byte"
        );
        let amm = proto::decode_application_metadata(&built.public_message).unwrap();
        assert_eq!(hex::encode(&amm.payload), text(&app["payload"]), "ChatMessage byte for byte");

        // Open: bob, in the chat, gets what status-go reported.
        bob.messenger.join_public_chat(name).unwrap();
        bob.pump(clock);
        deliver_recorded(&mut bob, waku, clock);
        bob.pump(clock);
        let got = received(&bob.take_events());
        assert_eq!(got.len(), 1);
        check_view(&got[0], view);
        assert_eq!(got[0].chat_id, name);
        assert_eq!(got[0].sender, alice_key.public_key());
        assert_eq!(
            u64::from(got[0].envelope_timestamp) * 1000,
            view["whisperTimestamp"].as_u64().unwrap()
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "public messages checked");
    assert_eq!(bob.messenger.counters().messages, 2);
    assert_eq!(bob.messenger.counters().dropped(), 0);
}

/// The recorded random keys of `party` (signed pre-key, ratchet keys, X3DH and DH-mode
/// ephemerals, GCM nonces), in the order the secure transport draws them.
fn scripted_entropy(file: &Value, party: &str, group: Option<&Value>) -> ScriptedEntropy {
    let mut entropy = ScriptedEntropy::new([0xee; 32]);
    entropy.push_key(
        KeyPurpose::SignedPreKey,
        secret(&file["parties"][party]["signed_pre_key_private"]),
    );
    for step in file["double_ratchet_state_trace"][party].as_array().unwrap() {
        if let Some(key) = step.get("generated_dhs_private") {
            entropy.push_key(KeyPurpose::RatchetKey, secret(key));
        }
    }
    if file["x3dh"]["initiator"] == party {
        entropy.push_key(
            KeyPurpose::X3dhEphemeral,
            secret(&file["x3dh"]["initiator_ephemeral_private_key"]),
        );
    }
    for envelope in file["envelopes"].as_array().unwrap() {
        let layer = &envelope["encryption_layer"];
        if envelope["sender"] == party && layer.get("sender_ephemeral_private_key").is_some() {
            entropy
                .push_key(KeyPurpose::DhEphemeral, secret(&layer["sender_ephemeral_private_key"]));
            entropy.push_bytes(&hx(&layer["aes_gcm_nonce"]));
        }
    }
    // The group session continues the same ratchet: the receiver of each envelope steps and
    // draws its next sending key.
    for envelope in group.and_then(|g| g["envelopes"].as_array()).into_iter().flatten() {
        let step = &envelope["encryption_layer"]["receiver_side"]["ratchet_step"];
        if envelope["sender"] != party
            && let Some(key) = step.get("generated_dhs_private")
        {
            entropy.push_key(KeyPurpose::RatchetKey, secret(key));
        }
    }
    entropy
}

/// The direct messages of an encoded `ProtocolMessage`, encoded (the bundle, which carries
/// the signing time, left out).
fn direct_messages(payload: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let pm = wisp_ratchet::proto::decode_protocol_message(payload).unwrap();
    pm.direct_message.iter().map(|(k, v)| (k.clone(), v.encode_to_vec())).collect()
}

fn statuses(events: &[Event]) -> Vec<(MessageId, DeliveryStatus)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageStatus { id, status, .. } => Some((*id, *status)),
            _ => None,
        })
        .collect()
}

#[test]
fn one_to_one_envelopes() {
    replay_one_to_one(None);
}

/// Replays `one-to-one.json` between alice and bob (checking every envelope) and returns
/// them; with `group`, their entropy also holds the ratchet keys of `group.json`.
fn replay_one_to_one(group: Option<&Value>) -> BTreeMap<&'static str, Party> {
    let file = load("one-to-one.json");
    let envelopes = file["envelopes"].as_array().unwrap();
    let mut parties: BTreeMap<&str, Party> = BTreeMap::new();
    for (seed, name) in [(1, "alice"), (2, "bob")] {
        let key = secret(&file["parties"][name]["chat_private_key"]);
        let installation = text(&file["parties"][name]["installation_id"]);
        let entropy = scripted_entropy(&file, name, group);
        parties.insert(name, Party::new(key, installation, Some(entropy), seed));
    }
    let key_of =
        |parties: &BTreeMap<&str, Party>, name: &str| -> PublicKey { parties[name].public_key() };
    let (alice_pub, bob_pub) = (key_of(&parties, "alice"), key_of(&parties, "bob"));
    let start = envelopes[0]["summary"][0]["clock"].as_u64().unwrap() - 10_000;
    for party in parties.values_mut() {
        party.messenger.start(start).unwrap();
        party.pump(start);
    }

    let mut sent_ids = Vec::new();
    let mut received_count = 0;
    let mut delivered_count = 0;
    let mut contact_codes = 0;
    let mut last_ms = start;
    for envelope in envelopes {
        let layer_kind = text(&envelope["encryption_layer"]["kind"]);
        if layer_kind.starts_with("none") {
            // Push-notification queries: not on a chat topic (the next issue).
            continue;
        }
        let sender_name = text(&envelope["sender"]);
        let receiver_name = if sender_name == "alice" { "bob" } else { "alice" };
        let waku = &envelope["waku"];
        let now_ms = last_ms.max(u64::from(recorded_envelope(waku).sent()) * 1000);
        let summary = envelope["summary"].as_array().unwrap();

        // The sender builds its envelope (a chat message, or the ack of the message it just
        // received, already flushed when that arrived).
        let sender = parties.get_mut(sender_name).unwrap();
        if let Some(chat) = summary.iter().find(|s| s["type_name"] == "CHAT_MESSAGE") {
            let clock = chat["clock"].as_u64().unwrap();
            let recipient = if sender_name == "alice" { bob_pub } else { alice_pub };
            let id = sender.messenger.send_text(&recipient, text(&chat["text"]), clock).unwrap();
            assert_eq!(hex::encode(id.0), text(&chat["message_id"]), "message id");
            sent_ids.push((sender_name, id));
            sender.pump(clock);
        }
        if layer_kind.starts_with("public") {
            // Contact-code advertisement: ours went out at start; check it is the same kind.
            let post =
                sender.posted.iter().find(|p| hex::encode(p.topic.0) == text(&waku["topic"]));
            let post = post.expect("our advertisement went out on our contact-code topic");
            let pm = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
            let signed = SignedMessage::open(&pm.public_message).unwrap();
            assert_eq!(signed.message.r#type, 15, "CONTACT_CODE_ADVERTISEMENT");
            assert_eq!(signed.message.payload, hx(&envelope["application"][0]["payload"]));
        } else {
            let post = sender
                .posted
                .iter()
                .rev()
                .find(|p| hex::encode(p.topic.0) == text(&waku["topic"]))
                .unwrap_or_else(|| {
                    panic!("{sender_name} posted nothing on {}", text(&waku["topic"]))
                });
            assert_eq!(
                direct_messages(&post.payload),
                direct_messages(&hx(&envelope["protocol_message"]["bytes"])),
                "envelope {}: direct messages byte for byte",
                envelope["index"]
            );
            if let Some(mvds) =
                envelope["mvds"].get("payload").filter(|_| layer_kind.starts_with("DH"))
            {
                // DH mode: decrypt ours with the recorded key, compare the MVDS payload.
                let key: [u8; 32] =
                    hx(&envelope["encryption_layer"]["shared_key"]).try_into().unwrap();
                let pm = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
                let ours = wisp_ratchet::cipher::dh_open(&key, &pm.direct_message["none"].payload)
                    .unwrap();
                assert_eq!(hex::encode(ours), text(mvds), "MVDS payload byte for byte");
            }
        }

        // The receiver opens the recorded envelope with its own filters.
        let receiver = parties.get_mut(receiver_name).unwrap();
        receiver.take_events();
        deliver_recorded(receiver, waku, now_ms);
        receiver.pump(now_ms);
        let events = receiver.take_events();
        let got = received(&events);
        let expected: Vec<&Value> =
            summary.iter().filter(|s| s["type_name"] == "CHAT_MESSAGE").collect();
        assert_eq!(got.len(), expected.len(), "envelope {}", envelope["index"]);
        for (got, want) in got.iter().zip(&expected) {
            let view = &envelope["application"][0]["status_go_reported"];
            check_view(got, view);
            assert_eq!(
                got.chat_id,
                format!("0x{}", hex::encode(key_of(&parties, sender_name).to_uncompressed()))
            );
            assert_eq!(got.message.text, text(&want["text"]));
            received_count += 1;
        }
        if let Some(acks) = envelope["mvds"].get("acks") {
            for _ in acks.as_array().unwrap() {
                assert!(
                    statuses(&events).iter().any(|(_, s)| *s == DeliveryStatus::Delivered),
                    "envelope {}: the ack marks our message delivered",
                    envelope["index"]
                );
                delivered_count += 1;
            }
        }
        if layer_kind.starts_with("public") {
            contact_codes += 1;
        }
        last_ms = now_ms;
    }
    assert_eq!(received_count, 3, "1:1 chat messages checked");
    assert_eq!(delivered_count, 3, "acks checked");
    assert_eq!(contact_codes, 2, "contact-code advertisements opened");

    // status-go's views of the chat: every message, with alice's own marked delivered.
    for (view_name, owner) in
        [("alice_view_of_chat_with_bob", "alice"), ("bob_view_of_chat_with_alice", "bob")]
    {
        let views = file["status_go_chat_views"][view_name].as_array().unwrap();
        assert_eq!(views.len(), 3);
        for view in views {
            let id = text(&view["id"]);
            let mine = sent_ids.iter().find(|(who, sent)| *who == owner && sent.to_string() == id);
            if let Some((_, sent)) = mine {
                let want = match view["outgoingStatus"].as_str() {
                    Some("delivered") => DeliveryStatus::Delivered,
                    other => panic!("unexpected outgoingStatus {other:?}"),
                };
                assert_eq!(parties[owner].messenger.status(sent), Some(want), "{view_name} {id}");
            } else {
                let from = text(&view["from"]);
                assert_ne!(
                    from,
                    format!("0x{}", hex::encode(key_of(&parties, owner).to_uncompressed()))
                );
            }
        }
    }
    for party in parties.values() {
        let counters = party.messenger.counters();
        assert_eq!(counters.dropped(), 0, "{counters:?}");
        assert_eq!(counters.contact_codes, 1);
        assert_eq!(
            party.messenger.chats(),
            vec![(
                format!(
                    "0x{}",
                    hex::encode(
                        if party.public_key() == alice_pub { bob_pub } else { alice_pub }
                            .to_uncompressed()
                    )
                ),
                ChatKind::OneToOne
            )]
        );
    }
    parties
}

/// The filters the messenger asks for are those status-go v0.79.11 installed
/// (`topics.json`): public chats, the contact's contact code, our partitioned and personal
/// discovery topics, the negotiated topic.
#[test]
fn filters_match_status_go_topics() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/topics.json");
    let topics: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let alice_key = SecretKey::from_bytes(&[0x4d; 32]).unwrap();
    let bob_key = SecretKey::from_bytes(&[0x5e; 32]).unwrap();
    let mut alice = Party::new(alice_key, "alice", None, 1);
    let mut bob = Party::new(bob_key.clone(), "bob", None, 2);
    let now = 1_800_000_000_000;
    alice.messenger.start(now).unwrap();
    bob.messenger.start(now).unwrap();
    for name in ["refpeers", "status"] {
        alice.messenger.join_public_chat(name).unwrap();
    }
    alice.messenger.send_text(&bob_key.public_key(), "hi", now).unwrap();
    let wires = alice.pump(now);
    for wire in &wires {
        bob.deliver(wire, now);
    }
    alice.pump(now);
    let mut checked = 0;
    for topic in topics["topics"].as_array().unwrap() {
        let kind = text(&topic["kind"]);
        let wanted = match kind {
            "public_chat" => format!("public:{}", text(&topic["input_string"])),
            "contact_code" if text(&topic["name"]).starts_with("bob") => {
                format!("contact-code:0x{}", hex::encode(bob_key.public_key().to_uncompressed()))
            }
            "partitioned" if text(&topic["name"]).starts_with("alice") => "partitioned".to_owned(),
            "personal_discovery" if text(&topic["name"]).starts_with("alice") => {
                "personal-discovery".to_owned()
            }
            "negotiated" => format!("negotiated:{}", text(&topic["topic"])),
            _ => continue,
        };
        let filter = alice
            .filters
            .iter()
            .find(|f| f.name == wanted)
            .unwrap_or_else(|| panic!("alice has no filter {wanted}"));
        assert_eq!(hex::encode(filter.topic.0), text(&topic["topic"]), "{wanted}");
        match (&filter.key, topic.get("sym_key")) {
            (wisp_waku::FilterKey::Symmetric(key), Some(want)) => {
                assert_eq!(hex::encode(&key[..]), text(want), "{wanted} key")
            }
            (wisp_waku::FilterKey::Asymmetric(key), None) => {
                assert_eq!(key.public_key(), alice.public_key(), "{wanted} key")
            }
            (key, want) => panic!("{wanted}: {key:?} vs {want:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "filters checked against topics.json");
}

/// `group.json` continues the session of `one-to-one.json`: alice creates the group with
/// bob, bob joins, each sends a message, each acks. Every envelope is built by our sender
/// from the same inputs (compared byte for byte where status-go's plaintext is ours) and the
/// recorded one is opened by our receiver; the group state and messages match status-go's.
#[test]
fn group_envelopes() {
    let group = load("group.json");
    let mut parties = replay_one_to_one(Some(&group));
    let info = &group["group"];
    let chat_id = text(&info["chat_id"]);
    let uuid: [u8; 16] = hex::decode(chat_id[..36].replace('-', "")).unwrap().try_into().unwrap();
    let bob_pub = parties["bob"].public_key();
    let events = info["membership_update_events_reported_by_status_go"].as_array().unwrap();
    let clock_of = |kind: i64| {
        events.iter().find(|e| e["type"] == kind).and_then(|e| e["clockValue"].as_u64()).unwrap()
    };
    for party in parties.values_mut() {
        party.take_events();
    }
    let mut last_ms = 0;
    let mut same_bytes = Vec::new();
    let mut received_count = 0;
    for envelope in group["envelopes"].as_array().unwrap() {
        let index = envelope["index"].as_u64().unwrap();
        let sender_name = text(&envelope["sender"]);
        let receiver_name = if sender_name == "alice" { "bob" } else { "alice" };
        let waku = &envelope["waku"];
        let now_ms = last_ms.max(u64::from(recorded_envelope(waku).sent()) * 1000);
        let summary = envelope["summary"].as_array().unwrap();
        let sender = parties.get_mut(sender_name).unwrap();
        let before = sender.posted.len();
        if let Some(s) = summary.first() {
            match (index, s.get("chat_message")) {
                (0, _) => {
                    let name = text(&info["name"]);
                    let id = sender
                        .messenger
                        .create_group_chat(name, &[bob_pub], uuid, clock_of(1))
                        .unwrap();
                    assert_eq!(id, chat_id, "chat id from the same UUID");
                }
                (1, _) => sender.messenger.confirm_joining_group(chat_id, clock_of(4)).unwrap(),
                (_, Some(m)) => {
                    let clock = m["clock"].as_u64().unwrap();
                    let id = sender
                        .messenger
                        .send_group_text(chat_id, text(&m["text"]), None, clock)
                        .unwrap();
                    // Same id only when status-go's update carried the same events as ours.
                    if hex::encode(id.0) == text(&s["message_id"]) {
                        same_bytes.push(index);
                    }
                }
                _ => panic!("unexpected envelope {index}"),
            }
            sender.pump(now_ms);
            let post = sender.posted[before..]
                .iter()
                .find(|p| hex::encode(p.topic.0) == text(&waku["topic"]))
                .unwrap_or_else(|| panic!("envelope {index}: nothing on the negotiated topic"));
            if index < 2 {
                // Create and join: not in MVDS, deterministic: the same bytes as status-go.
                assert_eq!(
                    direct_messages(&post.payload),
                    direct_messages(&hx(&envelope["protocol_message"]["bytes"])),
                    "envelope {index}: direct messages byte for byte"
                );
                same_bytes.push(index);
            }
        }

        let receiver = parties.get_mut(receiver_name).unwrap();
        receiver.take_events();
        deliver_recorded(receiver, waku, now_ms);
        receiver.pump(now_ms);
        let events = receiver.take_events();
        let views = group["status_go_chat_views"][receiver_name].as_array().unwrap();
        for got in received(&events) {
            let view = views.iter().find(|v| text(&v["id"]) == got.id.to_string()).unwrap();
            check_view(&got, view);
            assert_eq!(got.chat_id, chat_id);
            received_count += 1;
        }
        last_ms = now_ms;
    }
    assert_eq!(received_count, 2, "group messages received");
    // Create, join and bob's message are ours byte for byte (bob's: the same message id);
    // alice's message differs only because status-go's update carried the creation event
    // alone where we send the whole log.
    assert_eq!(same_bytes, [0, 1, 4]);

    let members = info["members_reported_by_status_go"].as_array().unwrap();
    for (name, party) in &parties {
        let state = party.messenger.group_state(chat_id).unwrap().unwrap();
        assert_eq!(state.name, text(&info["name"]), "{name}");
        assert_eq!(state.members.len(), members.len());
        for m in members {
            let id = text(&m["id"]);
            assert_eq!(state.is_admin(id), m["admin"].as_bool().unwrap(), "{name}: admin {id}");
            assert_eq!(state.has_joined(id), m["joined"].as_bool().unwrap(), "{name}: {id}");
        }
        let counters = party.messenger.counters();
        assert_eq!(counters.dropped(), 0, "{name}: {counters:?}");
        assert_eq!(counters.group_events_rejected, 0, "{name}");
        assert!(party.messenger.chats().contains(&(chat_id.to_owned(), ChatKind::PrivateGroup)));
    }
}
