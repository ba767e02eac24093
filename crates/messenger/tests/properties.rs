//! Proptest round trips of the wire types, and decoders that never panic on arbitrary bytes.

mod common;

use proptest::prelude::*;
use wisp_crypto::SecretKey;
use wisp_messenger::proto::{self, Message as _, application_metadata_message::Type};
use wisp_messenger::{MessageId, SignedMessage};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn chat_message() -> impl Strategy<Value = proto::ChatMessage> {
    let content = prop_oneof![
        Just(None),
        (".{0,16}", any::<i32>()).prop_map(|(hash, pack)| Some(
            proto::chat_message::Payload::Sticker(proto::StickerMessage { hash, pack })
        )),
        (bytes(64), 0..5i32).prop_map(|(payload, r#type)| Some(
            proto::chat_message::Payload::Image(proto::ImageMessage { payload, r#type })
        )),
        (bytes(64), 0..3i32, any::<u64>()).prop_map(|(payload, r#type, duration_ms)| Some(
            proto::chat_message::Payload::Audio(proto::AudioMessage {
                payload,
                r#type,
                duration_ms
            })
        )),
    ];
    (
        (any::<u64>(), any::<u64>(), ".{0,64}", ".{0,16}", ".{0,16}", ".{0,32}"),
        (any::<i32>(), any::<i32>(), content, bytes(16)),
    )
        .prop_map(
            |(
                (clock, timestamp, text, response_to, ens_name, chat_id),
                (mt, ct, payload, grant),
            )| {
                proto::ChatMessage {
                    clock,
                    timestamp,
                    text,
                    response_to,
                    ens_name,
                    chat_id,
                    message_type: mt,
                    content_type: ct,
                    payload,
                    grant,
                }
            },
        )
}

fn round_trip<M: proto::Message + Default + PartialEq + std::fmt::Debug>(message: &M) {
    let encoded = message.encode_to_vec();
    assert_eq!(encoded.len(), message.encoded_len());
    assert_eq!(&M::decode(encoded.as_slice()).unwrap(), message);
}

proptest! {
    #[test]
    fn chat_message_round_trips(message in chat_message()) {
        round_trip(&message);
        let decoded = proto::decode_chat_message(&message.encode_to_vec()).unwrap();
        prop_assert_eq!(decoded, message);
    }

    #[test]
    fn application_metadata_round_trips(signature in bytes(80), payload in bytes(256), kind in any::<i32>()) {
        let message = proto::ApplicationMetadataMessage { signature, payload, r#type: kind };
        round_trip(&message);
        // Unknown types survive as their raw number.
        prop_assert_eq!(proto::decode_application_metadata(&message.encode_to_vec()).unwrap().r#type, kind);
    }

    #[test]
    fn other_payloads_round_trip(
        clock in any::<u64>(),
        text in ".{0,24}",
        flag in any::<bool>(),
        kind in any::<i32>(),
        blob in bytes(48),
        members in proptest::collection::vec(".{0,12}", 0..4),
        events in proptest::collection::vec(bytes(40), 0..4),
    ) {
        round_trip(&proto::EmojiReaction {
            clock, chat_id: text.clone(), message_id: text.clone(), message_type: kind, r#type: kind,
            retracted: flag, grant: blob.clone(),
        });
        round_trip(&proto::PinMessage {
            clock, message_id: text.clone(), chat_id: text.clone(), pinned: flag, message_type: kind,
        });
        let mut images = std::collections::BTreeMap::new();
        images.insert(text.clone(), proto::IdentityImage { payload: blob.clone(), source_type: kind, image_type: kind });
        let identity = proto::ChatIdentity {
            clock, ens_name: text.clone(), images, display_name: text.clone(),
            description: text.clone(), color: text.clone(),
        };
        round_trip(&identity);
        round_trip(&proto::ContactCodeAdvertisement {
            push_notification_info: vec![proto::PushNotificationQueryInfo {
                access_token: text.clone(), installation_id: text.clone(), public_key: blob.clone(),
                allowed_key_list: events.clone(), grant: blob.clone(), version: clock,
                server_public_key: blob.clone(),
            }],
            chat_identity: flag.then_some(identity),
        });
        round_trip(&proto::MembershipUpdateEvent { clock, members, name: text.clone(), r#type: kind });
        round_trip(&proto::MembershipUpdateMessage {
            chat_id: text.clone(),
            events,
            chat_entity: flag.then(|| proto::membership_update_message::ChatEntity::Message(
                wisp_messenger::text_message(clock, clock, &text, &text, proto::MessageType::PrivateGroup),
            )),
        });
    }

    #[test]
    fn signed_messages_round_trip(secret in any::<[u8; 32]>(), payload in bytes(256), kind in 1..=28i32) {
        let Ok(key) = SecretKey::from_bytes(&secret) else { return Ok(()) };
        let kind = Type::try_from(kind).unwrap();
        let (built, encoded) = SignedMessage::build(payload, kind, &key);
        let opened = SignedMessage::open(&encoded).unwrap();
        prop_assert_eq!(&opened, &built);
        prop_assert_eq!(opened.author, key.public_key());
        prop_assert_eq!(opened.id, MessageId::of(&key.public_key(), &encoded));
        // Signing is deterministic: the same inputs give the same bytes.
        let (_, again) = SignedMessage::build(built.message.payload.clone(), kind, &key);
        prop_assert_eq!(again, encoded);
    }

    #[test]
    fn decoders_never_panic(data in bytes(512), kind in any::<i32>()) {
        let _ = SignedMessage::open(&data);
        let _ = proto::decode_app_payload(kind, &data);
        for kind in 0..=30 {
            let _ = proto::decode_app_payload(kind, &data);
        }
    }
}
