//! Group chat invitation requests (`GROUP_CHAT_INVITATION`) between `Messenger`s through the
//! in-test network, and the system messages that membership events leave in a group chat.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{Party, TempDir, seal, settle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wisp_crypto::SecretKey;
use wisp_messenger::group::key_hex;
use wisp_messenger::proto::application_metadata_message::Type as AppType;
use wisp_messenger::proto::chat_message::ContentType;
use wisp_messenger::proto::group_chat_invitation::State;
use wisp_messenger::proto::{self, Message as _, MessageType};
use wisp_messenger::{
    Config, DATABASE_FILE, DropReason, Event, GroupInvitation, MessageStore as _, SignedMessage,
    SqliteMessageStore, StoredMessage, group_invitation_id, open_sqlite,
};
use wisp_ratchet::{Destination, MemoryStore, SecureTransport};
use wisp_waku::{Encryption, Topic};

const T0: u64 = 1_800_000_000_000;

fn party(name: &str, seed: u64) -> Party {
    let mut p = Party::new(SecretKey::random(), name, None, seed);
    p.messenger.start(T0).unwrap();
    p
}

/// The system messages of `chat_id` as `(clock, text)`, in clock order.
fn system_messages(messages: &[StoredMessage]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = messages
        .iter()
        .filter(|m| m.message.content_type == ContentType::SystemMessageContentPrivateGroup as i32)
        .map(|m| (m.message.clock, m.message.text.clone()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_non_member_asks_the_admin_who_rejects() {
    let (mut alice, mut bob, mut carol, mut dave) =
        (party("alice", 1), party("bob", 2), party("carol", 3), party("dave", 4));
    settle(&mut [&mut alice, &mut bob, &mut carol, &mut dave], T0);
    let (a, b) = (alice.public_key(), bob.public_key());
    let chat_id = alice.messenger.create_group_chat("club", &[b], [3; 16], T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol, &mut dave], T0 + 1_000);

    // Carol knows the chat from a link only: she asks Alice, the admin.
    carol.messenger.create_group_chat_from_invitation(&chat_id, "club", T0 + 2_000).unwrap();
    let sent = carol
        .messenger
        .send_group_invitation_request(&chat_id, &a, "let me in", T0 + 2_000)
        .unwrap();
    let carol_hex = key_hex(&carol.public_key());
    assert_eq!(sent.id, group_invitation_id(&carol_hex, &chat_id));
    assert_eq!(
        (sent.from.as_str(), sent.state, sent.introduction_message.as_str()),
        (carol_hex.as_str(), State::Request as i32, "let me in")
    );
    alice.take_events();
    settle(&mut [&mut alice, &mut bob, &mut carol, &mut dave], T0 + 2_000);
    let pending = alice.messenger.group_chat_invitations().unwrap();
    assert_eq!(
        pending,
        std::slice::from_ref(&sent),
        "the admin stores the request as the requester does"
    );
    assert_eq!(alice.messenger.counters().group_invitations, 1);
    assert!(
        alice.take_events().contains(&Event::GroupInvitation { id: sent.id.clone() }),
        "the admin is told"
    );
    assert!(bob.messenger.group_chat_invitations().unwrap().is_empty(), "sent to the admin only");

    // A member may not ask; nobody may reject their own request or an unknown one.
    assert!(bob.messenger.send_group_invitation_request(&chat_id, &a, "hi", T0 + 2_500).is_err());
    assert!(carol.messenger.reject_group_invitation_request(&sent.id, T0 + 2_500).is_err());
    assert!(alice.messenger.reject_group_invitation_request("0x00", T0 + 2_500).is_err());
    // A request for a chat we do not know at all is refused before sending.
    let unknown = format!("{}-{}", "0f0e0d0c-0b0a-4908-8706-050403020100", key_hex(&a));
    assert!(carol.messenger.send_group_invitation_request(&unknown, &a, "", T0).is_err());

    // Alice rejects: Carol's copy turns rejected, under the same id.
    let rejected = alice.messenger.reject_group_invitation_request(&sent.id, T0 + 3_000).unwrap();
    assert_eq!((rejected.id.as_str(), rejected.state), (sent.id.as_str(), State::Rejected as i32));
    assert!(rejected.clock > sent.clock);
    settle(&mut [&mut alice, &mut bob, &mut carol, &mut dave], T0 + 3_000);
    let mine = carol.messenger.group_chat_invitations().unwrap();
    assert_eq!(mine, std::slice::from_ref(&rejected));
    assert_eq!(alice.messenger.group_chat_invitations().unwrap(), [rejected]);

    // Dave asks Bob, who is no admin: Bob drops it.
    dave.messenger.create_group_chat_from_invitation(&chat_id, "club", T0 + 4_000).unwrap();
    dave.messenger.send_group_invitation_request(&chat_id, &b, "bob?", T0 + 4_000).unwrap();
    let invalid = bob.messenger.counters().invalid;
    settle(&mut [&mut alice, &mut bob, &mut carol, &mut dave], T0 + 4_000);
    assert!(bob.messenger.group_chat_invitations().unwrap().is_empty());
    assert_eq!(bob.messenger.counters().invalid, invalid + 1);
}

/// `invitation` signed by `from` and sent to `to` over a fresh secure transport session,
/// delivered; returns what `to` made of it.
fn forge(
    from: &SecretKey,
    to: &mut Party,
    invitation: &proto::GroupChatInvitation,
    now_ms: u64,
) -> Result<(), DropReason> {
    let (_, bytes) =
        SignedMessage::build(invitation.encode_to_vec(), AppType::GroupChatInvitation, from);
    let mut transport = SecureTransport::new(from.clone(), "forger", MemoryStore::new());
    let secs = now_ms / 1000;
    let built = transport
        .build_direct_message(&to.public_key(), &bytes, UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
    let Destination::Partitioned { topic, recipient } = built.destination else {
        panic!("DH mode to the partitioned topic expected");
    };
    let timestamp = u32::try_from(secs).unwrap();
    let wire = seal(
        Topic(topic.0),
        built.encode(),
        &Encryption::Asymmetric(recipient),
        Some(from),
        timestamp,
    );
    to.deliver(&wire, now_ms).expect("opens")
}

#[test]
fn forged_rejections_and_malformed_invitations_are_refused() {
    let (mut alice, mut bob, mut carol) = (party("alice", 1), party("bob", 2), party("carol", 3));
    settle(&mut [&mut alice, &mut bob, &mut carol], T0);
    let a = alice.public_key();
    let chat_id =
        alice.messenger.create_group_chat("club", &[bob.public_key()], [4; 16], T0).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0);
    carol.messenger.create_group_chat_from_invitation(&chat_id, "club", T0).unwrap();
    let sent = carol.messenger.send_group_invitation_request(&chat_id, &a, "hi", T0).unwrap();
    let mallory = SecretKey::random();
    let rejection = proto::GroupChatInvitation {
        clock: sent.clock + 10,
        chat_id: chat_id.clone(),
        introduction_message: String::new(),
        state: State::Rejected as i32,
    };
    let invalid = carol.messenger.counters().invalid;
    // From someone who is no admin (Mallory, then Bob, a member).
    assert_eq!(forge(&mallory, &mut carol, &rejection, T0 + 1_000), Err(DropReason::Invalid));
    assert_eq!(
        forge(&bob.key.clone(), &mut carol, &rejection, T0 + 1_000),
        Err(DropReason::Invalid)
    );
    // A state that is neither a request nor a rejection; a chat id that is none.
    let odd = proto::GroupChatInvitation { state: 7, ..rejection.clone() };
    assert_eq!(forge(&alice.key.clone(), &mut carol, &odd, T0 + 1_000), Err(DropReason::Invalid));
    let bad_id = proto::GroupChatInvitation { chat_id: "nope".into(), ..rejection.clone() };
    assert_eq!(
        forge(&alice.key.clone(), &mut carol, &bad_id, T0 + 1_000),
        Err(DropReason::Invalid)
    );
    assert_eq!(carol.messenger.counters().invalid, invalid + 4);
    assert_eq!(carol.messenger.group_chat_invitations().unwrap(), std::slice::from_ref(&sent));
    // The real admin's rejection is taken.
    assert_eq!(forge(&alice.key.clone(), &mut carol, &rejection, T0 + 1_000), Ok(()));
    let got = carol.messenger.group_chat_invitations().unwrap();
    assert_eq!((got.len(), got[0].state), (1, State::Rejected as i32));
}

#[test]
fn invitations_are_stored_in_sqlite_newest_clock_wins() {
    let mut store = SqliteMessageStore::open_in_memory().unwrap();
    let request = GroupInvitation {
        id: "0x01".into(),
        chat_id: "chat".into(),
        from: "0x04ab".into(),
        introduction_message: "hello".into(),
        state: State::Request as i32,
        clock: 5,
    };
    assert!(store.put_group_invitation(&request).unwrap());
    let older = GroupInvitation { state: State::Rejected as i32, clock: 4, ..request.clone() };
    assert!(!store.put_group_invitation(&older).unwrap(), "an older clock is ignored");
    assert_eq!(store.group_invitation("0x01").unwrap(), Some(request.clone()));
    let newer = GroupInvitation { state: State::Rejected as i32, clock: 6, ..request.clone() };
    assert!(store.put_group_invitation(&newer).unwrap());
    let other = GroupInvitation { id: "0x02".into(), clock: 1, ..request };
    store.put_group_invitation(&other).unwrap();
    assert_eq!(store.group_invitations().unwrap(), [other, newer]);
    assert_eq!(store.group_invitation("0x03").unwrap(), None);
}

#[test]
fn the_group_invitation_decoder_refuses_bad_input() {
    assert!(proto::decode_group_chat_invitation(&[0xff, 0xff, 0xff]).is_err());
    let huge = vec![0u8; proto::MAX_PAYLOAD_BYTES + 1];
    assert!(matches!(
        proto::decode_group_chat_invitation(&huge),
        Err(wisp_messenger::Error::TooBig { .. })
    ));
    let wire = proto::GroupChatInvitation {
        clock: 7,
        chat_id: "c".into(),
        introduction_message: "m".into(),
        state: 2,
    };
    // Field numbers of status-go v0.79: clock 1, chat_id 2, introduction_message 3, state 4.
    assert_eq!(proto::Message::encode_to_vec(&wire), [8, 7, 18, 1, b'c', 26, 1, b'm', 32, 2]);
    assert_eq!(
        proto::decode_group_chat_invitation(&[8, 7, 18, 1, b'c', 26, 1, b'm', 32, 2]).unwrap(),
        wire
    );
}

#[test]
fn membership_events_become_system_messages_once() {
    let (mut alice, mut bob, mut carol) = (party("alice", 1), party("bob", 2), party("carol", 3));
    settle(&mut [&mut alice, &mut bob, &mut carol], T0);
    let (ha, hb, hc) =
        (key_hex(&alice.public_key()), key_hex(&bob.public_key()), key_hex(&carol.public_key()));
    let (b, c) = (bob.public_key(), carol.public_key());
    let chat_id = alice.messenger.create_group_chat("friends", &[b], [5; 16], T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 1_000);
    bob.messenger.confirm_joining_group(&chat_id, T0 + 2_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 2_000);
    alice.messenger.add_group_members(&chat_id, &[c], T0 + 3_000).unwrap();
    alice.messenger.rename_group_chat(&chat_id, "pals", T0 + 3_000).unwrap();
    alice.messenger.add_group_admins(&chat_id, &[b], T0 + 3_000).unwrap();
    alice.messenger.remove_group_member(&chat_id, &c, T0 + 3_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 3_000);

    let want = [
        format!("@{ha} created the group friends"),
        format!("@{ha} has added @{hb}"),
        format!("@{hb} joined the group"),
        format!("@{ha} has added @{hc}"),
        format!("@{ha} changed the group's name to pals"),
        format!("@{ha} has made @{hb} admin"),
        format!("@{hc} left the group"),
    ];
    let (messages, _) = alice.messenger.chat_messages(&chat_id, None, 50).unwrap();
    let got = system_messages(&messages);
    assert_eq!(got.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(), want, "in clock order");
    for m in &messages {
        assert_eq!(m.message.message_type, MessageType::SystemMessagePrivateGroup as i32);
        assert_eq!(m.chat_id, chat_id);
        assert!(m.seen);
    }
    let (bobs, _) = bob.messenger.chat_messages(&chat_id, None, 50).unwrap();
    assert_eq!(system_messages(&bobs), got, "the same messages, clocks included, at Bob's");
    let ids: std::collections::BTreeSet<_> = bobs.iter().map(|m| m.id).collect();
    assert_eq!(ids, messages.iter().map(|m| m.id).collect(), "ids from the event signatures");

    // Every later update replays the whole log: nothing is stored twice.
    alice.messenger.send_group_text(&chat_id, "still here", None, T0 + 4_000).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 4_000);
    let (bobs, _) = bob.messenger.chat_messages(&chat_id, None, 50).unwrap();
    assert_eq!(system_messages(&bobs), got);
    assert_eq!(bobs.len(), want.len() + 1, "the system messages and the text");
}

#[test]
fn system_messages_survive_a_restart_without_duplicates() {
    let dir = TempDir::new("group-system");
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
    let me = key_hex(&key.public_key());
    let want = vec![
        format!("@{me} created the group persisted"),
        format!("@{me} has added @{}", key_hex(&bob)),
        format!("@{me} changed the group's name to renamed"),
    ];
    for _ in 0..2 {
        let m = open();
        let (messages, _) = m.chat_messages(&chat_id, None, 50).unwrap();
        let texts: Vec<String> = system_messages(&messages).into_iter().map(|(_, t)| t).collect();
        assert_eq!(texts, want);
        assert_eq!(messages.len(), 3);
    }
}
