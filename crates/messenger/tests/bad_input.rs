//! Bad input is dropped and counted, never half-applied, and never stops the messenger: an
//! envelope that does not decode, is not signed, has a wrong signature, a clock too far in the
//! future, an unknown type, or does not decrypt.

mod common;

use common::{Party, Wire, seal};
use wisp_crypto::SecretKey;
use wisp_messenger::proto::{self, Message as _, MessageType, application_metadata_message::Type};
use wisp_messenger::{
    Counters, DropReason, Event, IncomingEnvelope, MAX_CLOCK_DRIFT_MS, MAX_MEDIA_BYTES,
    SignedMessage, text_message,
};
use wisp_ratchet::topic::{public_chat_key, public_chat_topic};
use wisp_ratchet::{MemoryStore, SecureTransport};
use wisp_waku::{Encryption, Topic};

const T0: u64 = 1_800_000_000_000;
const CHAT: &str = "bad-input";

/// Bob, in the public chat, and alice's raw transport to build messages by hand.
struct Setup {
    bob: Party,
    alice_key: SecretKey,
    alice: SecureTransport<MemoryStore>,
    topic: Topic,
    key: Encryption,
}

fn setup() -> Setup {
    let mut bob = Party::new(SecretKey::random(), "bob", None, 2);
    bob.messenger.start(T0).unwrap();
    bob.messenger.join_public_chat(CHAT).unwrap();
    bob.pump(T0);
    bob.take_events();
    let alice_key = SecretKey::random();
    let alice = SecureTransport::new(alice_key.clone(), "alice", MemoryStore::new());
    Setup {
        bob,
        alice_key,
        alice,
        topic: Topic(public_chat_topic(CHAT).0),
        key: Encryption::Symmetric(public_chat_key(CHAT)),
    }
}

impl Setup {
    /// A public-chat envelope carrying `amm` in a ProtocolMessage from alice, signed by `signer`.
    fn public_envelope(&mut self, amm: &[u8], signer: Option<&SecretKey>) -> Wire {
        let pm = self.alice.build_public_message(amm, std::time::UNIX_EPOCH).unwrap();
        seal(self.topic, pm.encode_to_vec(), &self.key, signer, (T0 / 1000) as u32)
    }

    fn chat_message(&self, clock: u64) -> Vec<u8> {
        text_message(clock, clock, "hello", CHAT, MessageType::PublicGroup).encode_to_vec()
    }

    fn signed(&self, payload: Vec<u8>, kind: Type) -> Vec<u8> {
        SignedMessage::build(payload, kind, &self.alice_key).1
    }

    /// Delivers `wire` to bob and checks it was dropped for `reason`, with nothing applied.
    #[track_caller]
    fn expect_drop(&mut self, wire: &Wire, reason: DropReason) {
        let before = self.bob.messenger.counters();
        let chats = self.bob.messenger.chats();
        let stored_chats = self.bob.messenger.chat_list().unwrap();
        let stored = self.stored();
        assert_eq!(self.bob.deliver(wire, T0), Some(Err(reason)));
        self.bob.pump(T0);
        let events = self.bob.take_events();
        assert!(events.is_empty(), "a dropped envelope reports nothing: {events:?}");
        assert_eq!(self.bob.messenger.chats(), chats, "no chat added");
        assert_eq!(self.bob.messenger.chat_list().unwrap(), stored_chats, "no chat stored");
        assert_eq!(self.stored(), stored, "nothing stored");
        let after = self.bob.messenger.counters();
        assert_eq!(after.dropped(), before.dropped() + 1, "{reason:?} counted once");
        assert_eq!(after.messages, before.messages);
    }

    /// A good message still gets through afterwards: the messenger did not stop.
    #[track_caller]
    fn expect_accepted(&mut self, clock: u64) {
        let amm = self.signed(self.chat_message(clock), Type::ChatMessage);
        let wire = self.public_envelope(&amm, Some(&self.alice_key.clone()));
        let stored = self.stored();
        assert_eq!(self.bob.deliver(&wire, T0), Some(Ok(())));
        self.bob.pump(T0);
        let events = self.bob.take_events();
        assert!(matches!(&events[..], [Event::MessageReceived(m)] if m.message.clock == clock));
        assert_eq!(self.stored(), stored + 1, "the good message is stored");
    }

    /// How many messages bob's store holds, in every chat.
    fn stored(&self) -> usize {
        let chats = self.bob.messenger.chat_list().unwrap();
        chats
            .iter()
            .map(|c| self.bob.messenger.chat_messages(&c.id, None, 1000).unwrap().0.len())
            .sum()
    }
}

#[test]
fn undecodable_layers_are_dropped_and_counted() {
    let mut s = setup();
    let alice = s.alice_key.clone();
    // Not a ProtocolMessage (a truncated varint).
    let wire = seal(s.topic, vec![0x08, 0xff], &s.key, Some(&alice), (T0 / 1000) as u32);
    s.expect_drop(&wire, DropReason::Undecodable);
    // A ProtocolMessage whose public message is not an ApplicationMetadataMessage.
    let wire = s.public_envelope(&[0x0a, 0x05, 0x01], Some(&alice));
    s.expect_drop(&wire, DropReason::Undecodable);
    // A signed ApplicationMetadataMessage whose ChatMessage does not decode.
    let amm = s.signed(vec![0x1a, 0x10, b'x'], Type::ChatMessage);
    let wire = s.public_envelope(&amm, Some(&alice));
    s.expect_drop(&wire, DropReason::Undecodable);
    // Larger than any Waku envelope (refused before decoding).
    let huge = IncomingEnvelope {
        topic: s.topic,
        payload: vec![0; proto::MAX_PAYLOAD_BYTES + 1],
        signer: Some(alice.public_key()),
        timestamp: (T0 / 1000) as u32,
        hash: [0; 32],
    };
    assert_eq!(s.bob.messenger.handle_envelope(&huge, T0), Err(DropReason::Undecodable));
    assert_eq!(s.bob.messenger.counters().undecodable, 4);
    s.expect_accepted(T0);
}

#[test]
fn unsigned_envelopes_and_messages_are_dropped_and_counted() {
    let mut s = setup();
    let alice = s.alice_key.clone();
    let amm = s.signed(s.chat_message(T0), Type::ChatMessage);
    // The Waku plaintext is not signed.
    let wire = s.public_envelope(&amm, None);
    s.expect_drop(&wire, DropReason::Unsigned);
    // The ApplicationMetadataMessage is not signed.
    let unsigned = proto::ApplicationMetadataMessage {
        signature: Vec::new(),
        payload: s.chat_message(T0),
        r#type: Type::ChatMessage as i32,
    };
    let wire = s.public_envelope(&unsigned.encode_to_vec(), Some(&alice));
    s.expect_drop(&wire, DropReason::Unsigned);
    assert_eq!(s.bob.messenger.counters().unsigned, 2);
    s.expect_accepted(T0);
}

#[test]
fn wrong_signatures_are_dropped_and_counted() {
    let mut s = setup();
    let alice = s.alice_key.clone();
    let mallory = SecretKey::random();
    // Signed by another key than the envelope's signer (a forged author).
    let forged = SignedMessage::build(s.chat_message(T0), Type::ChatMessage, &mallory).1;
    let wire = s.public_envelope(&forged, Some(&alice));
    s.expect_drop(&wire, DropReason::BadSignature);
    // A signature that recovers to no key (v out of range; r = s = 0).
    for signature in [vec![7; 65], vec![0; 65], vec![1; 64]] {
        let bad = proto::ApplicationMetadataMessage {
            signature,
            payload: s.chat_message(T0),
            r#type: Type::ChatMessage as i32,
        };
        let wire = s.public_envelope(&bad.encode_to_vec(), Some(&alice));
        s.expect_drop(&wire, DropReason::BadSignature);
    }
    // A payload changed after signing.
    let mut amm =
        proto::decode_application_metadata(&s.signed(s.chat_message(T0), Type::ChatMessage))
            .unwrap();
    amm.payload = s.chat_message(T0 + 1);
    let wire = s.public_envelope(&amm.encode_to_vec(), Some(&alice));
    s.expect_drop(&wire, DropReason::BadSignature);
    assert_eq!(s.bob.messenger.counters().bad_signature, 5);
    s.expect_accepted(T0);
}

#[test]
fn clocks_too_far_ahead_are_dropped_and_do_not_move_the_chat_clock() {
    let mut s = setup();
    let alice = s.alice_key.clone();
    // The envelope is stamped T0 (seconds); 120 s ahead is the limit.
    let ahead = T0 + MAX_CLOCK_DRIFT_MS + 1;
    let amm = s.signed(s.chat_message(ahead), Type::ChatMessage);
    let wire = s.public_envelope(&amm, Some(&alice));
    s.expect_drop(&wire, DropReason::ClockTooFarAhead);
    assert_eq!(s.bob.messenger.counters().clock_too_far_ahead, 1);
    // Nothing half-applied: bob's next message is not pushed after the refused clock.
    s.bob.messenger.send_public_text(CHAT, "mine", T0).unwrap();
    s.bob.pump(T0);
    let post = s.bob.posted.last().unwrap();
    let pm = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
    let signed = SignedMessage::open(&pm.public_message).unwrap();
    assert_eq!(proto::decode_chat_message(&signed.message.payload).unwrap().clock, T0);
    s.bob.take_events();
    // Exactly at the limit is accepted.
    s.expect_accepted(T0 + MAX_CLOCK_DRIFT_MS);
}

#[test]
fn unknown_types_are_dropped_and_counted() {
    let mut s = setup();
    let alice = s.alice_key.clone();
    for kind in [0, 29, 999, -1] {
        let amm = proto::ApplicationMetadataMessage {
            r#type: kind,
            ..proto::decode_application_metadata(&s.signed(s.chat_message(T0), Type::ChatMessage))
                .unwrap()
        };
        let wire = s.public_envelope(&amm.encode_to_vec(), Some(&alice));
        s.expect_drop(&wire, DropReason::UnknownType);
    }
    assert_eq!(s.bob.messenger.counters().unknown_type, 4);
    // A reaction with an unknown emoji type (0) and no message id is invalid.
    let reaction = proto::EmojiReaction { clock: T0, chat_id: CHAT.into(), ..Default::default() };
    let amm = s.signed(reaction.encode_to_vec(), Type::EmojiReaction);
    let wire = s.public_envelope(&amm, Some(&alice));
    s.expect_drop(&wire, DropReason::Invalid);
    // Known types the messenger does not act on yet are decoded, counted, and ignored.
    // (A transaction request: its payload is kept raw, never decoded.)
    let amm = s.signed(vec![0x08, 0x01], Type::RequestTransaction);
    let wire = s.public_envelope(&amm, Some(&alice));
    assert_eq!(s.bob.deliver(&wire, T0), Some(Ok(())));
    assert_eq!(s.bob.messenger.counters().ignored, 1);
    s.expect_accepted(T0);
}

#[test]
fn invalid_chat_messages_are_dropped_and_counted() {
    let mut s = setup();
    let alice = s.alice_key.clone();
    let cases = [
        // For a public chat bob did not join.
        text_message(T0, T0, "hi", "elsewhere", MessageType::PublicGroup),
        // Empty text.
        text_message(T0, T0, "", CHAT, MessageType::PublicGroup),
        // A 1:1 message in clear on a public topic.
        text_message(T0, T0, "hi", CHAT, MessageType::OneToOne),
        // No clock.
        text_message(0, T0, "hi", CHAT, MessageType::PublicGroup),
        // An image and an audio clip one byte over the limit (built by hand: the builders
        // refuse them).
        oversized(proto::chat_message::Payload::Image(proto::ImageMessage {
            payload: vec![0x89; MAX_MEDIA_BYTES + 1],
            r#type: proto::ImageType::Png as i32,
        })),
        oversized(proto::chat_message::Payload::Audio(proto::AudioMessage {
            payload: vec![0xff; MAX_MEDIA_BYTES + 1],
            r#type: proto::audio_message::AudioType::Aac as i32,
            duration_ms: 1_000,
        })),
    ];
    for message in cases {
        let amm = s.signed(message.encode_to_vec(), Type::ChatMessage);
        let wire = s.public_envelope(&amm, Some(&alice));
        s.expect_drop(&wire, DropReason::Invalid);
    }
    assert_eq!(s.bob.messenger.counters().invalid, 6);
    s.expect_accepted(T0);
}

/// A public-chat message of the test's chat carrying `payload` (an image or audio clip).
fn oversized(payload: proto::chat_message::Payload) -> proto::ChatMessage {
    let mut message = text_message(T0, T0, "", CHAT, MessageType::PublicGroup);
    message.content_type = match payload {
        proto::chat_message::Payload::Audio(_) => proto::chat_message::ContentType::Audio,
        _ => proto::chat_message::ContentType::Image,
    } as i32;
    message.payload = Some(payload);
    message
}

#[test]
fn duplicates_and_undecryptable_one_to_one_messages_are_dropped_and_counted() {
    let mut s = setup();
    let mut alice = Party::new(s.alice_key.clone(), "alice", None, 1);
    alice.messenger.start(T0).unwrap();
    alice.pump(T0);
    alice.messenger.send_text(&s.bob.public_key(), "first", T0).unwrap();
    let wires = alice.pump(T0);
    let dh = wires.last().unwrap().clone();
    assert_eq!(s.bob.deliver(&dh, T0), Some(Ok(())));
    let bob_wires = s.bob.pump(T0);
    assert!(s.bob.take_events().iter().any(|e| matches!(e, Event::MessageReceived(_))));
    // The same envelope again: a duplicate (MVDS re-acks it; no second message).
    assert_eq!(s.bob.deliver(&dh, T0), Some(Ok(())));
    s.bob.pump(T0);
    assert!(!s.bob.take_events().iter().any(|e| matches!(e, Event::MessageReceived(_))));
    assert_eq!(s.bob.messenger.counters().duplicates, 1);

    // Alice learns bob's bundle from his ack; her next message is a ratchet message. Flip a
    // byte of its ciphertext: it does not decrypt.
    for wire in &bob_wires {
        alice.deliver(wire, T0);
    }
    alice.messenger.send_text(&s.bob.public_key(), "second", T0 + 1).unwrap();
    alice.pump(T0 + 1);
    let post = alice.posted.last().unwrap().clone();
    let mut pm = wisp_ratchet::proto::decode_protocol_message(&post.payload).unwrap();
    let direct = pm.direct_message.values_mut().next().unwrap();
    assert!(direct.dr_header.is_some());
    let last = direct.payload.len() - 1;
    direct.payload[last] ^= 1;
    let wire = seal(
        post.topic,
        pm.encode_to_vec(),
        &post.encryption,
        Some(&s.alice_key),
        (T0 / 1000) as u32,
    );
    s.expect_drop(&wire, DropReason::Undecryptable);
    // The untouched message still opens: the failed one changed no session.
    let wire = seal(
        post.topic,
        post.payload.clone(),
        &post.encryption,
        Some(&s.alice_key),
        (T0 / 1000) as u32,
    );
    assert_eq!(s.bob.deliver(&wire, T0 + 1), Some(Ok(())));
    s.bob.pump(T0 + 1);
    assert!(
        s.bob
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::MessageReceived(m) if m.message.text == "second"))
    );
    let counters: Counters = s.bob.messenger.counters();
    assert_eq!((counters.undecryptable, counters.messages), (1, 2), "{counters:?}");
}
