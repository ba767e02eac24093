//! Three `Messenger`s in a private group chat through the in-test network: create with
//! members, accept, messages both ways (a reply among them), rename, a removed member who
//! receives nothing new, a member who leaves, a restart that restores the group from the
//! stored events, and forged updates refused and counted.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{Party, TempDir, seal, settle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wisp_crypto::SecretKey;
use wisp_messenger::group::{self, key_hex};
use wisp_messenger::proto::application_metadata_message::Type as AppType;
use wisp_messenger::proto::membership_update_event::EventType;
use wisp_messenger::proto::membership_update_message::ChatEntity;
use wisp_messenger::proto::{self, Message as _, MessageType};
use wisp_messenger::{
    ChatKind, Config, DATABASE_FILE, DeliveryStatus, DropReason, Event, MessageStore as _,
    ReceivedMessage, SignedMessage, SqliteMessageStore, open_sqlite, text_message,
};
use wisp_ratchet::{Destination, MemoryStore, SecureTransport};
use wisp_waku::{Encryption, Topic};

const T0: u64 = 1_800_000_000_000;

fn party(name: &str, seed: u64) -> Party {
    let mut p = Party::new(SecretKey::random(), name, None, seed);
    p.messenger.start(T0).unwrap();
    p
}

fn received(party: &mut Party) -> Vec<ReceivedMessage> {
    party
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageReceived(m) => Some(*m),
            _ => None,
        })
        .collect()
}

#[test]
fn three_members_create_accept_talk_rename_remove_leave() {
    let (mut alice, mut bob, mut carol) = (party("alice", 1), party("bob", 2), party("carol", 3));
    settle(&mut [&mut alice, &mut bob, &mut carol], T0);
    let (b, c) = (bob.public_key(), carol.public_key());

    let chat_id =
        alice.messenger.create_group_chat("friends", &[b, c], [7; 16], T0 + 1_000).unwrap();
    assert!(chat_id.ends_with(&key_hex(&alice.public_key())));
    assert_eq!(&chat_id[14..15], "4", "a version 4 UUID");
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 1_000);
    for p in [&bob, &carol] {
        let chat = p.messenger.chat(&chat_id).unwrap().expect("invited");
        assert_eq!((chat.kind, chat.name.as_str()), (ChatKind::PrivateGroup, "friends"));
        let state = p.messenger.group_state(&chat_id).unwrap().unwrap();
        assert_eq!(state.members.len(), 3);
        assert!(!state.has_joined(&key_hex(&p.public_key())), "invited, not joined yet");
    }

    bob.messenger.confirm_joining_group(&chat_id, T0 + 2_000).unwrap();
    carol.messenger.confirm_joining_group(&chat_id, T0 + 2_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 2_000);
    let state = alice.messenger.group_state(&chat_id).unwrap().unwrap();
    assert!(state.has_joined(&key_hex(&b)) && state.has_joined(&key_hex(&c)));
    for p in [&mut alice, &mut bob, &mut carol] {
        p.take_events();
    }

    // Messages both ways; the second is a reply.
    let hello = alice.messenger.send_group_text(&chat_id, "hello group", None, T0 + 3_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 3_000);
    for p in [&mut bob, &mut carol] {
        let got = received(p);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].id, got[0].chat_id.as_str()), (hello, chat_id.as_str()));
        assert_eq!(got[0].message.message_type, MessageType::PrivateGroup as i32);
        assert_eq!(got[0].message.text, "hello group");
    }
    let reply =
        bob.messenger.send_group_text(&chat_id, "hi alice", Some(&hello), T0 + 4_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 4_000);
    for p in [&mut alice, &mut carol] {
        let got = received(p);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, reply);
        assert_eq!(got[0].message.response_to, hello.to_string());
    }
    assert_eq!(alice.messenger.status(&hello), Some(DeliveryStatus::Delivered));
    // The stored message is the same ChatMessage for everyone.
    let stored = carol.messenger.message(&reply).unwrap().unwrap();
    assert_eq!(stored.message.text, "hi alice");

    // Rename (admin only: bob is refused locally).
    assert!(bob.messenger.rename_group_chat(&chat_id, "bobs", T0 + 5_000).is_err());
    alice.messenger.rename_group_chat(&chat_id, "best friends", T0 + 5_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 5_000);
    for p in [&bob, &carol] {
        assert_eq!(p.messenger.chat(&chat_id).unwrap().unwrap().name, "best friends");
    }

    // Remove carol: she learns it, then receives nothing new.
    alice.messenger.remove_group_member(&chat_id, &c, T0 + 6_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 6_000);
    let carol_state = carol.messenger.group_state(&chat_id).unwrap().unwrap();
    assert!(!carol_state.is_member(&key_hex(&c)));
    assert!(!carol.messenger.chat(&chat_id).unwrap().unwrap().active);
    carol.take_events();
    bob.take_events();
    let after =
        alice.messenger.send_group_text(&chat_id, "without carol", None, T0 + 7_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 7_000);
    assert!(received(&mut carol).is_empty());
    assert!(carol.messenger.message(&after).unwrap().is_none());
    assert_eq!(received(&mut bob).len(), 1);
    assert!(carol.messenger.send_group_text(&chat_id, "still here?", None, T0 + 7_500).is_err());

    // Bob leaves; alice sees him gone and the chat stays on bob's side, inactive.
    bob.messenger.leave_group_chat(&chat_id, false, T0 + 8_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 8_000);
    let state = alice.messenger.group_state(&chat_id).unwrap().unwrap();
    assert_eq!(state.members.keys().cloned().collect::<Vec<_>>(), [key_hex(&alice.public_key())]);
    assert!(!bob.messenger.chat(&chat_id).unwrap().unwrap().active);
    assert_eq!(alice.messenger.counters().group_events_rejected, 0);
}

#[test]
fn forged_and_foreign_updates_are_refused_and_counted() {
    let (mut alice, mut bob, mut mallory) =
        (party("alice", 1), party("bob", 2), party("mallory", 3));
    settle(&mut [&mut alice, &mut bob, &mut mallory], T0);
    let chat_id =
        alice.messenger.create_group_chat("g", &[bob.public_key()], [1; 16], T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut mallory], T0 + 1_000);
    assert!(mallory.messenger.chat(&chat_id).unwrap().is_none(), "not a member: nothing");

    // Mallory (no member) sends bob the group's log plus an event adding herself, a junk
    // event and a group message, in an update she signs, over the secure transport.
    let m = mallory.key.clone();
    let add = group::sign_event(
        &chat_id,
        group::event(EventType::MembersAdded, T0 + 2_000, vec![key_hex(&m.public_key())], ""),
        &m,
    );
    let rename = group::sign_event(
        &chat_id,
        group::event(EventType::NameChanged, T0 + 2_001, vec![], "pwned"),
        &m,
    );
    let mut events: Vec<Vec<u8>> = bob.messenger.store().group_events(&chat_id).unwrap();
    assert_eq!(events.len(), 2, "created, added");
    events.push(add.to_wire());
    events.push(rename.to_wire());
    events.push(vec![0u8; 70]);
    let message =
        text_message(T0 + 2_000, T0 + 2_000, "let me in", &chat_id, MessageType::PrivateGroup);
    let update = proto::MembershipUpdateMessage {
        chat_id: chat_id.clone(),
        events,
        chat_entity: Some(ChatEntity::Message(message)),
    };
    let (_, bytes) =
        SignedMessage::build(update.encode_to_vec(), AppType::MembershipUpdateMessage, &m);
    let before = bob.messenger.counters();
    let mut transport = SecureTransport::new(m.clone(), "mallory-2", MemoryStore::new());
    let built = transport
        .build_direct_message(
            &bob.public_key(),
            &bytes,
            UNIX_EPOCH + Duration::from_secs(T0 / 1000 + 2),
        )
        .unwrap();
    let Destination::Partitioned { topic, recipient } = built.destination else {
        panic!("DH mode to bob's partitioned topic expected");
    };
    let wire = seal(
        Topic(topic.0),
        built.encode(),
        &Encryption::Asymmetric(recipient),
        Some(&m),
        u32::try_from(T0 / 1000 + 2).unwrap(),
    );
    let result = bob.deliver(&wire, T0 + 2_000).expect("bob opens it");
    assert_eq!(result, Err(DropReason::Invalid), "the message of a non-member");
    let after = bob.messenger.counters();
    assert_eq!(after.group_events_rejected - before.group_events_rejected, 3, "add, rename, junk");
    assert_eq!(after.invalid - before.invalid, 1);
    let state = bob.messenger.group_state(&chat_id).unwrap().unwrap();
    assert!(!state.is_member(&key_hex(&m.public_key())));
    assert_eq!(state.name, "g");
    assert_eq!(bob.messenger.store().group_events(&chat_id).unwrap().len(), 2, "nothing stored");

    // Bob's duplicate join is refused locally, and a repeated update changes nothing.
    bob.messenger.confirm_joining_group(&chat_id, T0 + 3_000).unwrap();
    assert!(bob.messenger.confirm_joining_group(&chat_id, T0 + 3_001).is_err());
    settle(&mut [&mut alice, &mut bob], T0 + 3_000);
    assert!(
        alice
            .messenger
            .group_state(&chat_id)
            .unwrap()
            .unwrap()
            .has_joined(&key_hex(&bob.public_key()))
    );
}

#[test]
fn the_group_survives_a_restart_and_the_schema_migrates() {
    let dir = TempDir::new("group-restart");
    let path = dir.path().join(DATABASE_FILE);
    let key = SecretKey::random();
    let bob = SecretKey::random().public_key();
    let open = || {
        let mut m =
            open_sqlite(&path, key.clone(), "laptop", Config::default(), StdRng::seed_from_u64(1))
                .unwrap();
        m.start(T0).unwrap();
        m
    };
    let chat_id = {
        let mut m = open();
        let id = m.create_group_chat("persisted", &[bob], [9; 16], T0).unwrap();
        m.rename_group_chat(&id, "renamed", T0 + 1).unwrap();
        id
    };
    let mut m = open();
    let chat = m.chat(&chat_id).unwrap().unwrap();
    assert_eq!(
        (chat.kind, chat.name.as_str(), chat.active),
        (ChatKind::PrivateGroup, "renamed", true)
    );
    let state = m.group_state(&chat_id).unwrap().unwrap();
    assert_eq!(state.members.len(), 2);
    assert!(state.is_admin(&key_hex(&key.public_key())));
    m.send_group_text(&chat_id, "after restart", None, T0 + 2).unwrap();
    drop(m);

    // A version 2 database (no group events table) is migrated to version 4.
    let db = TempDir::new("group-migrate");
    let file = db.path().join("m.sqlite");
    {
        let store = SqliteMessageStore::open(&file, &[5; 32]).unwrap();
        store
            .connection()
            .execute_batch(
                "DROP TABLE messenger_group_events; DROP TABLE messenger_chat_entities; \
                 DROP TABLE messenger_group_invitations; \
                 DELETE FROM messenger_schema_version WHERE version >= 3;",
            )
            .unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
    }
    let mut store = SqliteMessageStore::open(&file, &[5; 32]).unwrap();
    assert_eq!(store.schema_version().unwrap(), 5);
    assert_eq!(store.add_group_events("x", &[(1, vec![1; 70])]).unwrap(), 1);
    assert_eq!(store.add_group_events("x", &[(1, vec![1; 70])]).unwrap(), 0, "by signature");
    assert_eq!(store.group_events("x").unwrap(), [vec![1u8; 70]]);
    // Reactions and pins: the latest clock wins per key.
    let mut e = wisp_messenger::ChatEntity {
        kind: wisp_messenger::EntityKind::Reaction,
        chat_id: "x".into(),
        target: format!("0x{}", "ab".repeat(32)),
        from: key.public_key(),
        value: 2,
        active: true,
        clock: 10,
        id: wisp_messenger::MessageId([1; 32]),
    };
    assert!(store.put_chat_entity(&e).unwrap());
    e.active = false;
    e.clock = 9;
    assert!(!store.put_chat_entity(&e).unwrap(), "older: ignored");
    e.clock = 11;
    assert!(store.put_chat_entity(&e).unwrap());
    let got = store.chat_entities("x", wisp_messenger::EntityKind::Reaction).unwrap();
    assert_eq!(got, [e]);
    assert!(store.chat_entities("x", wisp_messenger::EntityKind::Pin).unwrap().is_empty());
}

#[test]
fn reactions_and_pins_round_trip_in_group_and_one_to_one_chats() {
    use wisp_messenger::EntityKind;
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    settle(&mut [&mut alice, &mut bob], T0);
    let chat_id =
        alice.messenger.create_group_chat("g", &[bob.public_key()], [3; 16], T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    bob.messenger.confirm_joining_group(&chat_id, T0 + 2_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 2_000);
    let hello = alice.messenger.send_group_text(&chat_id, "react to me", None, T0 + 3_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 3_000);

    // Bob reacts (thumbs up), alice sees it; bob retracts it, alice sees it withdrawn.
    bob.messenger.send_reaction(&chat_id, &hello, 2, false, T0 + 4_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 4_000);
    let got = alice.messenger.chat_entities(&chat_id, EntityKind::Reaction).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].value, got[0].active, got[0].from), (2, true, bob.public_key()));
    assert_eq!(got[0].target, hello.to_string());
    bob.messenger.send_reaction(&chat_id, &hello, 2, true, T0 + 5_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 5_000);
    let got = alice.messenger.chat_entities(&chat_id, EntityKind::Reaction).unwrap();
    assert_eq!((got.len(), got[0].active), (1, false), "retracted");

    // Alice pins her message; bob sees it pinned.
    alice.messenger.pin_message(&chat_id, &hello, true, T0 + 6_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 6_000);
    let pins = bob.messenger.chat_entities(&chat_id, EntityKind::Pin).unwrap();
    assert_eq!((pins.len(), pins[0].active), (1, true));
    assert_eq!(bob.messenger.counters().pins, 1);

    // 1:1: a reaction to a message of the chat.
    let direct = alice.messenger.send_text(&bob.public_key(), "1:1", T0 + 7_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 7_000);
    let bob_chat = wisp_messenger::one_to_one_chat_id(&alice.public_key());
    bob.messenger.send_reaction(&bob_chat, &direct, 1, false, T0 + 8_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 8_000);
    let alice_chat = wisp_messenger::one_to_one_chat_id(&bob.public_key());
    let got = alice.messenger.chat_entities(&alice_chat, EntityKind::Reaction).unwrap();
    assert_eq!((got.len(), got[0].value), (1, 1));

    // Refused locally: an unknown emoji type, a message of another chat.
    assert!(bob.messenger.send_reaction(&bob_chat, &direct, 9, false, T0 + 9_000).is_err());
    assert!(bob.messenger.send_reaction(&chat_id, &direct, 1, false, T0 + 9_000).is_err());
    let c = alice.messenger.counters();
    assert_eq!(c.dropped(), c.duplicates, "only our own echoes: {c:?}");
}

#[test]
fn images_round_trip_and_oversized_ones_are_refused() {
    use wisp_messenger::proto::{ImageType, chat_message::Payload};
    use wisp_messenger::{MAX_MEDIA_BYTES, image_message};
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    settle(&mut [&mut alice, &mut bob], T0);
    let chat_id = alice
        .messenger
        .create_group_chat("pics", &[bob.public_key()], [4; 16], T0 + 1_000)
        .unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    bob.take_events();

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend([7u8; 100]);
    let id = alice
        .messenger
        .send_group_message(&chat_id, image_message(png.clone()).unwrap(), T0 + 2_000)
        .unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 2_000);
    let got = received(&mut bob);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id);
    match &got[0].message.payload {
        Some(Payload::Image(image)) => {
            assert_eq!(
                (image.payload.as_slice(), image.r#type),
                (png.as_slice(), ImageType::Png as i32)
            );
        }
        other => panic!("not an image: {other:?}"),
    }
    assert!(image_message(b"not an image".to_vec()).is_err());
    assert!(image_message(vec![0xff; MAX_MEDIA_BYTES + 1]).is_err());

    // An oversized image built by hand (bypassing image_message) is refused when sent.
    let mut big = image_message(png).unwrap();
    if let Some(Payload::Image(image)) = &mut big.payload {
        image.payload.resize(MAX_MEDIA_BYTES + 1, 0);
    }
    assert!(alice.messenger.send_group_message(&chat_id, big, T0 + 3_000).is_err());
    settle(&mut [&mut alice, &mut bob], T0 + 3_000);
    assert!(received(&mut bob).is_empty());
}
