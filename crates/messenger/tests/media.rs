//! Images, audio clips and stickers sent with `Messenger::send_chat_message` between two (or
//! three) `Messenger`s through the in-test network, in a public chat, a 1:1 chat and a group
//! chat; the stored copy on both sides; media refused before anything is stored or posted.

mod common;

use common::{Party, settle};
use wisp_crypto::SecretKey;
use wisp_messenger::proto::audio_message::AudioType;
use wisp_messenger::proto::chat_message::{ContentType, Payload};
use wisp_messenger::proto::{ChatMessage, ImageType, MessageType};
use wisp_messenger::{
    Error, Event, MAX_MEDIA_BYTES, ReceivedMessage, audio_message, audio_type, image_message,
    image_type, sticker_message, text_message,
};

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

fn jpeg() -> Vec<u8> {
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0];
    b.extend((0..2_000u32).map(|i| (i % 251) as u8));
    b
}

fn aac() -> Vec<u8> {
    let mut b = vec![0xff, 0xf1, 0x50, 0x80];
    b.extend([0x21; 700]);
    b
}

/// The three media messages every chat kind gets, and what the receiver must see.
fn media() -> Vec<ChatMessage> {
    vec![
        image_message(jpeg()).unwrap(),
        audio_message(aac(), 3_250).unwrap(),
        sticker_message("e30101701220aa5b", 3).unwrap(),
    ]
}

fn assert_same_content(got: &ChatMessage, sent: &ChatMessage, kind: MessageType, chat: &str) {
    assert_eq!(got.content_type, sent.content_type);
    assert_eq!(got.payload, sent.payload);
    assert_eq!(got.message_type, kind as i32);
    assert_eq!(got.chat_id, chat);
    assert!(got.clock > 0 && got.timestamp > 0);
}

#[test]
fn media_round_trip_in_a_public_chat() {
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    for p in [&mut alice, &mut bob] {
        p.messenger.join_public_chat("pics").unwrap();
    }
    settle(&mut [&mut alice, &mut bob], T0);
    bob.take_events();
    for (i, message) in media().into_iter().enumerate() {
        let now = T0 + 1_000 * (i as u64 + 1);
        let id = alice.messenger.send_chat_message("pics", message.clone(), now).unwrap();
        settle(&mut [&mut alice, &mut bob], now);
        let got = received(&mut bob);
        assert_eq!(got.len(), 1, "message {i}");
        assert_eq!(got[0].id, id);
        assert_same_content(&got[0].message, &message, MessageType::PublicGroup, "pics");
        // Both sides keep it.
        let theirs = bob.messenger.message(&id).unwrap().unwrap();
        let ours = alice.messenger.message(&id).unwrap().unwrap();
        assert_eq!(
            (theirs.message.payload.clone(), ours.message.payload),
            (message.payload, theirs.message.payload)
        );
    }
}

#[test]
fn media_round_trip_in_a_one_to_one_chat() {
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    settle(&mut [&mut alice, &mut bob], T0);
    let chat = alice.messenger.open_one_to_one_chat(&bob.public_key()).unwrap();
    let back = wisp_messenger::one_to_one_chat_id(&alice.public_key());
    bob.take_events();
    for (i, message) in media().into_iter().enumerate() {
        let now = T0 + 1_000 * (i as u64 + 1);
        let id = alice.messenger.send_chat_message(&chat, message.clone(), now).unwrap();
        settle(&mut [&mut alice, &mut bob], now);
        let got = received(&mut bob);
        assert_eq!(got.len(), 1, "message {i}");
        assert_eq!((got[0].id, got[0].chat_id.as_str()), (id, back.as_str()));
        assert_same_content(&got[0].message, &message, MessageType::OneToOne, &chat);
        assert_eq!(
            alice.messenger.status(&id),
            Some(wisp_messenger::DeliveryStatus::Delivered),
            "acknowledged over MVDS"
        );
    }
    // A reply that is an image, the other way.
    let (page, _) = bob.messenger.chat_messages(&back, None, 1).unwrap();
    let mut reply = image_message(jpeg()).unwrap();
    reply.response_to = page[0].id.to_string();
    let id = bob.messenger.send_chat_message(&back, reply, T0 + 9_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 9_000);
    let got = received(&mut alice);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].id, &got[0].message.response_to), (id, &page[0].id.to_string()));
}

#[test]
fn media_round_trip_in_a_group_chat() {
    let (mut alice, mut bob, mut carol) = (party("alice", 1), party("bob", 2), party("carol", 3));
    settle(&mut [&mut alice, &mut bob, &mut carol], T0);
    let members = [bob.public_key(), carol.public_key()];
    let chat = alice.messenger.create_group_chat("media", &members, [9; 16], T0 + 500).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 500);
    bob.messenger.confirm_joining_group(&chat, T0 + 600).unwrap();
    carol.messenger.confirm_joining_group(&chat, T0 + 600).unwrap();
    settle(&mut [&mut alice, &mut bob, &mut carol], T0 + 600);
    for p in [&mut alice, &mut bob, &mut carol] {
        p.take_events();
    }
    for (i, message) in media().into_iter().enumerate() {
        let now = T0 + 1_000 * (i as u64 + 1);
        let id = bob.messenger.send_chat_message(&chat, message.clone(), now).unwrap();
        settle(&mut [&mut alice, &mut bob, &mut carol], now);
        for p in [&mut alice, &mut carol] {
            let got = received(p);
            assert_eq!(got.len(), 1, "message {i}");
            assert_eq!(got[0].id, id);
            assert_same_content(&got[0].message, &message, MessageType::PrivateGroup, &chat);
        }
    }
}

#[test]
fn formats_are_read_from_the_first_bytes() {
    assert_eq!(image_type(&jpeg()), Some(ImageType::Jpeg));
    assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some(ImageType::Png));
    assert_eq!(image_type(b"GIF89a...."), Some(ImageType::Gif));
    assert_eq!(image_type(b"GIF87a...."), Some(ImageType::Gif));
    assert_eq!(image_type(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageType::Webp));
    assert_eq!(image_type(b"RIFF\x10\0\0\0WAVEfmt "), None);
    assert_eq!(image_type(b"BM bitmap"), None);
    assert_eq!(image_type(b""), None);
    assert_eq!(audio_type(&aac()), Some(AudioType::Aac));
    assert_eq!(audio_type(&[0xff, 0xf9, 0, 0]), Some(AudioType::Aac));
    assert_eq!(audio_type(b"#!AMR\n\x3c\x00\x00\x00\x00\x00\x00"), Some(AudioType::Amr));
    assert_eq!(audio_type(b"#!AMR\n"), None, "status-go wants more than the header");
    assert_eq!(audio_type(b"ID3\x03 an mp3"), None);
    let m = audio_message(aac(), 1_500).unwrap();
    assert_eq!(m.content_type, ContentType::Audio as i32);
    match m.payload {
        Some(Payload::Audio(a)) => {
            assert_eq!((a.duration_ms, a.r#type), (1_500, AudioType::Aac as i32))
        }
        other => panic!("not audio: {other:?}"),
    }
}

#[test]
fn media_that_cannot_be_sent_is_refused_with_its_reason() {
    let (mut alice, mut bob) = (party("alice", 1), party("bob", 2));
    alice.messenger.join_public_chat("pics").unwrap();
    settle(&mut [&mut alice, &mut bob], T0);
    let chat = alice.messenger.open_one_to_one_chat(&bob.public_key()).unwrap();
    settle(&mut [&mut alice, &mut bob], T0);

    let too_big = image_message(vec![0xff; MAX_MEDIA_BYTES + 1]).unwrap_err();
    assert!(
        matches!(too_big, Error::MediaTooBig { what: "image", size, max }
            if size == MAX_MEDIA_BYTES + 1 && max == MAX_MEDIA_BYTES),
        "{too_big:?}"
    );
    assert!(too_big.to_string().contains(&MAX_MEDIA_BYTES.to_string()), "{too_big}");
    let e = audio_message(vec![0xff; MAX_MEDIA_BYTES + 1], 1).unwrap_err();
    assert!(matches!(e, Error::MediaTooBig { what: "audio", .. }), "{e:?}");
    let e = image_message(b"BM not a format status-go shows".to_vec()).unwrap_err();
    assert!(matches!(e, Error::UnsupportedMedia { what: "image", .. }), "{e:?}");
    assert!(e.to_string().contains("JPEG, PNG, GIF or WebP"), "{e}");
    let e = audio_message(b"ID3\x03 an mp3 file".to_vec(), 1).unwrap_err();
    assert!(matches!(e, Error::UnsupportedMedia { what: "audio", .. }), "{e:?}");
    assert!(sticker_message("", 1).is_err());

    // Built by hand past the builders: refused by send_chat_message too.
    let mut big = image_message(jpeg()).unwrap();
    if let Some(Payload::Image(image)) = &mut big.payload {
        image.payload.resize(MAX_MEDIA_BYTES + 1, 0);
    }
    let mut mislabelled = image_message(jpeg()).unwrap();
    if let Some(Payload::Image(image)) = &mut mislabelled.payload {
        image.r#type = ImageType::Png as i32;
    }
    let mut no_payload = text_message(0, 0, "", "", MessageType::OneToOne);
    no_payload.content_type = ContentType::Image as i32;
    let mut emoji = text_message(0, 0, "x", "", MessageType::OneToOne);
    emoji.content_type = ContentType::Emoji as i32;
    for target in ["pics", chat.as_str()] {
        for (message, check) in [
            (big.clone(), "MediaTooBig"),
            (mislabelled.clone(), "UnsupportedMedia"),
            (no_payload.clone(), "InvalidInput"),
            (emoji.clone(), "InvalidInput"),
        ] {
            let e = alice.messenger.send_chat_message(target, message, T0 + 1_000).unwrap_err();
            assert!(format!("{e:?}").starts_with(check), "{target}: {e:?}");
        }
        let (page, _) = alice.messenger.chat_messages(target, None, 10).unwrap();
        assert!(page.is_empty(), "nothing stored in {target}");
    }
    assert_eq!(settle(&mut [&mut alice, &mut bob], T0 + 1_000), 0, "nothing posted");
    assert!(received(&mut bob).is_empty());
    // An unknown chat is named.
    let e = alice.messenger.send_chat_message("nowhere", image_message(jpeg()).unwrap(), T0);
    assert!(matches!(e, Err(Error::UnknownChat { .. })), "{e:?}");
}
