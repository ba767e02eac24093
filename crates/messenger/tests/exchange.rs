//! Two (and three) `Messenger`s exchanging public and 1:1 messages through a tiny in-test
//! network: envelopes sealed and opened with wisp-waku's payload encryption, the filters the
//! messengers ask for, and every post delivered to every party.

mod common;

use common::{Party, settle};
use wisp_crypto::SecretKey;
use wisp_messenger::{ChatKind, DeliveryStatus, Event, MessageId, ReceivedMessage};
use wisp_waku::Encryption;

const T0: u64 = 1_800_000_000_000;

fn party(name: &str, seed: u64) -> Party {
    Party::new(SecretKey::random(), name, None, seed)
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

fn status_history(party: &Party, id: MessageId) -> Vec<DeliveryStatus> {
    party
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MessageStatus { id: got, status, .. } if *got == id => Some(*status),
            _ => None,
        })
        .collect()
}

#[test]
fn public_chat_both_ways() {
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    for (p, now) in [(&mut alice, T0), (&mut bob, T0)] {
        p.messenger.start(now).unwrap();
        p.messenger.join_public_chat("wisp-test").unwrap();
    }
    settle(&mut [&mut alice, &mut bob], T0);
    alice.take_events();
    bob.take_events();

    let id = alice.messenger.send_public_text("wisp-test", "hello from alice", T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    assert_eq!(status_history(&alice, id), [DeliveryStatus::Sending, DeliveryStatus::Sent]);
    let got = received(&mut bob);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, got[0].chat_id.as_str()), (id, "wisp-test"));
    assert_eq!(got[0].sender, alice.public_key());
    assert_eq!(got[0].message.text, "hello from alice");
    assert_eq!(got[0].message.clock, T0 + 1_000);

    // Bob's answer comes after alice's message in the chat's clock, even with a slow clock.
    let reply = bob.messenger.send_public_text("wisp-test", "hi alice", T0 + 500).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    let got = received(&mut alice);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, reply);
    assert_eq!(got[0].message.clock, T0 + 1_001, "Lamport: max(now, last + 1)");
    // Each party's own message came back to it once: a duplicate, nothing else dropped.
    for p in [&alice, &bob] {
        let counters = p.messenger.counters();
        assert_eq!((counters.messages, counters.duplicates), (1, 1), "{counters:?}");
        assert_eq!(counters.dropped(), counters.duplicates);
    }

    // Leaving removes the filter: nothing more arrives.
    assert!(bob.messenger.leave_public_chat("wisp-test").unwrap());
    alice.messenger.send_public_text("wisp-test", "anyone?", T0 + 2_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 2_000);
    assert!(received(&mut bob).is_empty());
    assert!(bob.filters.iter().all(|f| f.name != "public:wisp-test"));
}

#[test]
fn one_to_one_dh_first_then_ratchet_and_delivered() {
    let (mut alice, mut bob) = (party("alice-laptop", 1), party("bob-phone", 2));
    alice.messenger.start(T0).unwrap();
    bob.messenger.start(T0).unwrap();
    settle(&mut [&mut alice, &mut bob], T0);

    // First message: no bundle of bob's known, DH mode, on his partitioned topic, ECIES.
    let first = alice.messenger.send_text(&bob.public_key(), "hi bob", T0 + 1_000).unwrap();
    let wires = alice.pump(T0 + 1_000);
    let post = alice.posted.last().unwrap();
    assert_eq!(post.messages, [first]);
    assert_eq!(post.topic.0, wisp_ratchet::topic::partitioned_topic(&bob.public_key()).0);
    assert!(matches!(&post.encryption, Encryption::Asymmetric(k) if *k == bob.public_key()));
    let pm = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
    assert!(pm.direct_message["none"].dh_header.is_some(), "DH mode");
    for wire in &wires {
        bob.deliver(wire, T0 + 1_000);
        alice.deliver(wire, T0 + 1_000);
    }
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    let got = received(&mut bob);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message.text, "hi bob");
    assert_eq!(got[0].chat_id, wisp_messenger::one_to_one_chat_id(&alice.public_key()));
    assert_eq!(
        status_history(&alice, first),
        [DeliveryStatus::Sending, DeliveryStatus::Sent, DeliveryStatus::Delivered]
    );

    // The reply goes over X3DH + Double Ratchet on the negotiated topic.
    let reply = bob.messenger.send_text(&alice.public_key(), "hello alice", T0 + 2_000).unwrap();
    let wires = bob.pump(T0 + 2_000);
    let post = bob.posted.last().unwrap();
    assert_eq!(post.messages, [reply]);
    assert!(matches!(post.encryption, Encryption::Symmetric(_)));
    let pm = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
    let direct = pm.direct_message.values().next().unwrap();
    assert!(direct.dr_header.is_some() && direct.dh_header.is_none(), "Double Ratchet");
    assert!(direct.x3dh_header.is_some(), "X3DH header until alice answers");
    for wire in &wires {
        alice.deliver(wire, T0 + 2_000);
        bob.deliver(wire, T0 + 2_000);
    }
    settle(&mut [&mut alice, &mut bob], T0 + 2_000);
    let got = received(&mut alice);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, got[0].message.text.as_str()), (reply, "hello alice"));
    assert_eq!(bob.messenger.status(&reply), Some(DeliveryStatus::Delivered));

    // And on: alice's second message ratchets too, and is delivered.
    let second = alice.messenger.send_text(&bob.public_key(), "how are you?", T0 + 3_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 3_000);
    assert_eq!(received(&mut bob).len(), 1);
    assert_eq!(alice.messenger.status(&second), Some(DeliveryStatus::Delivered));
    assert_eq!(
        alice.messenger.next_wakeup().unwrap(),
        Some(T0 + 6 * 3600 * 1000),
        "only the next advertisement"
    );
    for p in [&alice, &bob] {
        assert_eq!(p.messenger.chats().len(), 1);
        assert_eq!(p.messenger.chats()[0].1, ChatKind::OneToOne);
        let counters = p.messenger.counters();
        // What is dropped is each party's own echoes (its posts on the shared topics).
        assert_eq!(counters.dropped(), counters.duplicates, "{counters:?}");
    }
}

#[test]
fn unanswered_one_to_one_message_expires() {
    let mut alice = party("alice", 1);
    let carol = SecretKey::random().public_key();
    alice.messenger.start(T0).unwrap();
    let id = alice.messenger.send_text(&carol, "are you there?", T0).unwrap();
    alice.pump(T0);
    let mut now = T0;
    for _ in 0..100 {
        if alice.messenger.status(&id) == Some(DeliveryStatus::Expired) {
            break;
        }
        now = alice.messenger.next_wakeup().unwrap().expect("a retransmission is due").max(now);
        alice.messenger.tick(now).unwrap();
        alice.pump(now);
    }
    assert_eq!(
        status_history(&alice, id),
        [DeliveryStatus::Sending, DeliveryStatus::Sent, DeliveryStatus::Expired]
    );
    let retransmissions = alice.posted.iter().filter(|p| p.messages == [id]).count();
    assert_eq!(retransmissions, 12, "MVDS max_attempts");
}
