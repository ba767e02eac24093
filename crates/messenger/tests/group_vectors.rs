//! status-go v0.79.11's group chat capture (`testdata/vectors/chat/group.json`): every
//! membership event of every envelope verifies over keccak256(chat id || event bytes), the
//! state replayed from them matches what status-go reported, our own events for the same
//! inputs re-encode (and re-sign: RFC 6979) byte for byte, and tampered or unauthorised
//! events are refused.

mod common;

use common::{hx, load, secret};
use serde_json::Value;
use wisp_messenger::SignedMessage;
use wisp_messenger::group::{
    self, GroupError, GroupState, chat_id_creator, key_hex, open_event, open_events, sign_event,
};
use wisp_messenger::proto::{self, AppPayload, MessageType, membership_update_event::EventType};

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))
}

fn membership(envelope: &Value) -> Option<(SignedMessage, proto::MembershipUpdateMessage)> {
    let app = envelope["application"].as_array()?.first()?;
    let bytes = hx(&app["application_metadata_message"]);
    let signed = SignedMessage::open(&bytes).unwrap();
    match proto::decode_app_payload(signed.message.r#type, &signed.message.payload).unwrap() {
        AppPayload::Membership(m) => Some((signed, m)),
        other => panic!("not a membership update: {other:?}"),
    }
}

#[test]
fn status_go_group_events_verify_and_replay() {
    let file = load("group.json");
    let group = &file["group"];
    let chat_id = text(&group["chat_id"]);
    let alice = secret(&file["parties"]["alice"]["chat_private_key"]);
    let bob = secret(&file["parties"]["bob"]["chat_private_key"]);
    assert_eq!(chat_id_creator(chat_id).unwrap(), alice.public_key());

    // The events as status-go reported them: signature and raw bytes.
    let reported = group["membership_update_events_reported_by_status_go"].as_array().unwrap();
    let mut all = Vec::new();
    for ev in reported {
        let mut wire = hx(&ev["signature"]);
        wire.extend(hx(&ev["rawPayload"]));
        let opened = open_event(chat_id, &wire).unwrap();
        assert_eq!(opened.from_hex(), text(&ev["from"]));
        assert_eq!(i64::from(opened.event.r#type), ev["type"].as_i64().unwrap());
        assert_eq!(opened.event.clock, ev["clockValue"].as_u64().unwrap());
        all.push(opened);
    }

    // Every envelope's MembershipUpdateMessage: its events are among those, signed by
    // their authors, and the embedded message is PRIVATE_GROUP for this chat.
    let mut seen_messages = 0;
    for envelope in file["envelopes"].as_array().unwrap() {
        let Some((signed, update)) = membership(envelope) else { continue };
        assert_eq!(update.chat_id, chat_id);
        let (events, bad) = open_events(chat_id, &update.events).unwrap();
        assert!(bad.is_empty(), "{bad:?}");
        for ev in &events {
            assert!(all.iter().any(|known| known.raw == ev.raw && known.signature == ev.signature));
        }
        let sender = text(&envelope["sender"]);
        let key = if sender == "alice" { &alice } else { &bob };
        assert_eq!(signed.author, key.public_key());
        let (state, _, rejected) = GroupState::replay(chat_id, &events);
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(state.name, text(&group["name"]));
        if let Some(proto::membership_update_message::ChatEntity::Message(m)) = update.chat_entity {
            assert_eq!(m.message_type, MessageType::PrivateGroup as i32);
            assert_eq!(m.chat_id, chat_id);
            seen_messages += 1;
        }
    }
    assert_eq!(seen_messages, 2);

    // The state from all events matches status-go's view of the members.
    let (state, applied, rejected) = GroupState::replay(chat_id, &all);
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(applied.len(), all.len());
    let members = group["members_reported_by_status_go"].as_array().unwrap();
    assert_eq!(state.members.len(), members.len());
    for m in members {
        let id = text(&m["id"]);
        assert_eq!(state.is_admin(id), m["admin"].as_bool().unwrap(), "admin {id}");
        assert_eq!(state.has_joined(id), m["joined"].as_bool().unwrap(), "joined {id}");
    }
    assert_eq!(state.creator.as_deref(), Some(key_hex(&alice.public_key()).as_str()));

    // Our create / add / join events for the same inputs: the same bytes and signatures.
    for ev in &all {
        let key = if ev.from == alice.public_key() { &alice } else { &bob };
        let kind = EventType::try_from(ev.event.r#type).unwrap();
        let ours = sign_event(
            chat_id,
            group::event(kind, ev.event.clock, ev.event.members.clone(), &ev.event.name),
            key,
        );
        assert_eq!(hex::encode(&ours.raw), hex::encode(&ev.raw), "{kind:?} bytes");
        assert_eq!(ours.signature, ev.signature, "{kind:?} signature");
    }
}

#[test]
fn forged_unauthorised_and_malformed_events_are_refused() {
    let file = load("group.json");
    let chat_id = text(&file["group"]["chat_id"]);
    let alice = secret(&file["parties"]["alice"]["chat_private_key"]);
    let bob = secret(&file["parties"]["bob"]["chat_private_key"]);
    let carol = wisp_crypto::SecretKey::from_bytes(&[0x77; 32]).unwrap();
    let (a, b, c) =
        (key_hex(&alice.public_key()), key_hex(&bob.public_key()), key_hex(&carol.public_key()));
    let ev = |kind, clock, members: Vec<String>, name: &str, key| {
        sign_event(chat_id, group::event(kind, clock, members, name), key)
    };
    let created = ev(EventType::ChatCreated, 10, vec![], "g", &alice);
    let added = ev(EventType::MembersAdded, 11, vec![b.clone()], "", &alice);

    // Tampered bytes: the signature recovers to another key, so the author is not an admin.
    let mut wire = added.to_wire();
    if let Some(last) = wire.last_mut() {
        *last ^= 1;
    }
    match open_event(chat_id, &wire) {
        Ok(forged) => assert_ne!(forged.from, alice.public_key()),
        Err(e) => assert!(matches!(e, GroupError::BadSignature | GroupError::Decode)),
    }
    assert_eq!(open_event(chat_id, &[0; 65]).unwrap_err(), GroupError::ShortEvent { len: 65 });
    assert!(matches!(open_event(chat_id, &[0xff; 80]), Err(GroupError::BadSignature)));
    assert!(matches!(open_events("not-a-group", &[]), Err(GroupError::BadChatId { .. })));

    // A creation by someone else than the chat id's creator; non-admin rename and add;
    // a join by a non-member; a duplicate join; out-of-order delivery.
    let cases = vec![
        ev(EventType::ChatCreated, 9, vec![], "evil", &bob),
        ev(EventType::NameChanged, 12, vec![], "renamed by bob", &bob),
        ev(EventType::MembersAdded, 13, vec![c.clone()], "", &bob),
        ev(EventType::MemberJoined, 14, vec![], "", &carol),
        ev(EventType::MemberJoined, 15, vec![], "", &bob),
        ev(EventType::MemberJoined, 16, vec![], "", &bob),
        ev(EventType::MemberRemoved, 17, vec![a.clone()], "", &bob),
        ev(EventType::AdminRemoved, 18, vec![a.clone()], "", &bob),
    ];
    let mut events = cases.clone();
    events.push(added.clone());
    events.push(created.clone());
    events.push(created.clone());
    let (state, applied, rejected) = GroupState::replay(chat_id, &events);
    assert_eq!(state.name, "g");
    assert_eq!(applied.len(), 3, "create, add, bob's first join");
    assert_eq!(rejected.len(), 7, "{rejected:#?}");
    assert!(state.has_joined(&b) && !state.is_member(&c) && state.is_admin(&a));

    // An unknown event type is refused, not a crash.
    let unknown = sign_event(
        chat_id,
        proto::MembershipUpdateEvent {
            clock: 20,
            members: vec![],
            name: String::new(),
            r#type: 99,
        },
        &alice,
    );
    let mut s = state.clone();
    assert!(matches!(s.apply(&unknown), Err(GroupError::NotAllowed { kind: 99, .. })));
    // A member string that is no key.
    let junk = ev(EventType::MembersAdded, 21, vec!["0xzz".into()], "", &alice);
    assert!(matches!(s.apply(&junk), Err(GroupError::BadMember { .. })));
    // Legitimate: bob leaves, then is no member.
    let leave = ev(EventType::MemberRemoved, 22, vec![b.clone()], "", &bob);
    s.apply(&leave).unwrap();
    assert!(!s.is_member(&b));
}
