//! Contacts and paired devices through the in-test network: two installations of one account
//! pair (PairInstallation, enable), sync contacts and public chats, and see each other's
//! messages; contact updates, chat identities and blocking; bad pairing and sync messages are
//! dropped and counted.

mod common;

use common::{Party, Wire, seal, settle};
use wisp_crypto::SecretKey;
use wisp_messenger::proto::{
    self, Message as _, PairInstallation, SyncInstallation, SyncInstallationContact,
    SyncInstallationPublicChat, application_metadata_message::Type,
};
use wisp_messenger::{
    ChatKind, DeliveryStatus, DropReason, Event, SignedMessage, StoredMessage, one_to_one_chat_id,
};
use wisp_ratchet::topic::partitioned_topic;
use wisp_ratchet::{MemoryStore, SecureTransport};
use wisp_waku::{Encryption, Topic};

const T0: u64 = 1_800_000_000_000;

fn texts(party: &Party, chat: &str) -> Vec<(String, Option<DeliveryStatus>)> {
    let mut messages: Vec<StoredMessage> =
        party.messenger.chat_messages(chat, None, 100).unwrap().0;
    messages.reverse();
    messages.into_iter().map(|m| (m.message.text, m.outgoing)).collect()
}

/// Two installations of one account, paired both ways, and a contact `carol`.
struct Setup {
    laptop: Party,
    phone: Party,
    carol: Party,
}

fn paired() -> Setup {
    let key = SecretKey::random();
    let mut laptop = Party::new(key.clone(), "laptop-installation", None, 1);
    let mut phone = Party::new(key, "phone-installation", None, 2);
    let mut carol = Party::new(SecretKey::random(), "carol-installation", None, 3);
    for p in [&mut laptop, &mut phone, &mut carol] {
        p.messenger.start(T0).unwrap();
    }
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0);

    // The phone announces itself; the laptop learns it (disabled) with its metadata.
    phone.messenger.set_installation_metadata("my phone", "android").unwrap();
    phone.messenger.send_pair_installation(T0 + 1_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 1_000);
    let seen = laptop.messenger.our_installations().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].this_device && seen[0].id == "laptop-installation" && seen[0].enabled);
    assert_eq!(seen[1].id, "phone-installation");
    assert!(!seen[1].enabled, "our other devices start disabled");
    let metadata = seen[1].metadata.as_ref().expect("PairInstallation metadata");
    assert_eq!((metadata.name.as_str(), metadata.device_type.as_str()), ("my phone", "android"));
    assert!(!laptop.messenger.has_paired_devices().unwrap());

    // Enabled on the laptop; the laptop announces itself to the phone, which enables it.
    laptop.messenger.enable_installation("phone-installation", T0 + 2_000).unwrap();
    laptop.messenger.set_installation_metadata("my laptop", "desktop").unwrap();
    laptop.messenger.send_pair_installation(T0 + 2_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 2_000);
    let seen = phone.messenger.our_installations().unwrap();
    let laptop_seen = seen.iter().find(|i| i.id == "laptop-installation").expect("laptop known");
    assert_eq!(laptop_seen.metadata.as_ref().map(|m| m.name.as_str()), Some("my laptop"));
    phone.messenger.enable_installation("laptop-installation", T0 + 3_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 3_000);
    assert!(laptop.messenger.has_paired_devices().unwrap());
    assert!(phone.messenger.has_paired_devices().unwrap());
    Setup { laptop, phone, carol }
}

#[test]
fn paired_devices_sync_contacts_public_chats_and_messages() {
    let Setup { mut laptop, mut phone, mut carol } = paired();
    let carol_id = one_to_one_chat_id(&carol.public_key());
    let me = laptop.public_key();
    let my_id = one_to_one_chat_id(&me);

    // Contacts and public chats joined on the laptop reach the phone.
    laptop.messenger.join_public_chat("status").unwrap();
    laptop.messenger.add_contact(&carol.public_key(), Some("Caz"), "", T0 + 4_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 4_000);
    assert!(phone.messenger.chats().contains(&("status".to_owned(), ChatKind::Public)));
    let synced = phone.messenger.contact(&carol.public_key()).unwrap().expect("contact synced");
    assert!(synced.added && !synced.blocked);
    assert_eq!(synced.local_nickname, "Caz");
    assert!(phone.messenger.chats().contains(&(carol_id.clone(), ChatKind::OneToOne)));
    // Carol got the ContactUpdate.
    let me_at_carol = carol.messenger.contact(&me).unwrap().expect("ContactUpdate received");
    assert!(me_at_carol.has_added_us && !me_at_carol.added);

    // sync_devices sends them again (and idempotently).
    assert_eq!(laptop.messenger.sync_devices(T0 + 5_000).unwrap(), 2);
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 5_000);

    // What the laptop sends appears on the phone as ours; carol's answer reaches both.
    laptop.messenger.send_text(&carol.public_key(), "from the laptop", T0 + 6_000).unwrap();
    laptop.messenger.send_public_text("status", "public from the laptop", T0 + 6_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 6_000);
    assert_eq!(
        texts(&phone, &carol_id),
        [("from the laptop".to_owned(), Some(DeliveryStatus::Sent))]
    );
    assert_eq!(
        texts(&phone, "status"),
        [("public from the laptop".to_owned(), Some(DeliveryStatus::Sent))]
    );
    assert_eq!(texts(&carol, &my_id), [("from the laptop".to_owned(), None)]);

    carol.messenger.send_text(&me, "hi both", T0 + 7_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 7_000);
    for device in [&laptop, &phone] {
        assert!(
            texts(device, &carol_id).contains(&("hi both".to_owned(), None)),
            "{:?}",
            texts(device, &carol_id)
        );
    }

    // And the other way: the phone sends, carol and the laptop see it.
    phone.messenger.send_text(&carol.public_key(), "from the phone", T0 + 8_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 8_000);
    assert!(texts(&carol, &my_id).contains(&("from the phone".to_owned(), None)));
    assert!(
        texts(&laptop, &carol_id)
            .contains(&("from the phone".to_owned(), Some(DeliveryStatus::Sent)))
    );

    // Disabled: the phone no longer gets the laptop's messages.
    laptop.messenger.disable_installation("phone-installation", T0 + 9_000).unwrap();
    assert!(!laptop.messenger.has_paired_devices().unwrap());
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 9_000);
    laptop.messenger.send_text(&carol.public_key(), "laptop only", T0 + 10_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 10_000);
    assert!(!texts(&phone, &carol_id).iter().any(|(t, _)| t == "laptop only"));
    assert!(texts(&carol, &my_id).iter().any(|(t, _)| t == "laptop only"));

    assert!(matches!(
        laptop.messenger.enable_installation("no-such-device", T0),
        Err(wisp_messenger::Error::UnknownInstallation { .. })
    ));
    assert!(laptop.messenger.enable_installation("laptop-installation", T0).is_err());
}

#[test]
fn contact_update_identity_and_block() {
    let mut alice = Party::new(SecretKey::random(), "alice", None, 1);
    let mut bob = Party::new(SecretKey::random(), "bob", None, 2);
    for p in [&mut alice, &mut bob] {
        p.messenger.start(T0).unwrap();
        p.messenger.join_public_chat("town").unwrap();
    }
    settle(&mut [&mut alice, &mut bob], T0);
    let (a, b) = (alice.public_key(), bob.public_key());

    alice.messenger.add_contact(&b, None, "alice.stateofus.eth", T0 + 1_000).unwrap();
    alice.messenger.send_text(&b, "one", T0 + 1_000).unwrap();
    alice.messenger.send_public_text("town", "public one", T0 + 1_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 1_000);
    let seen = bob.messenger.contact(&a).unwrap().expect("contact from ContactUpdate");
    assert!(seen.has_added_us);
    assert_eq!(seen.ens_name, "alice.stateofus.eth");
    assert!(bob.take_events().iter().any(|e| matches!(e, Event::ContactChanged { .. })));

    // A newer ContactUpdate replaces the name; the profile image is kept as text.
    alice.messenger.send_contact_updates("alice.eth", "aW1hZ2U=", T0 + 2_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 2_000);
    let seen = bob.messenger.contact(&a).unwrap().unwrap();
    assert_eq!((seen.ens_name.as_str(), seen.profile_image.as_str()), ("alice.eth", "aW1hZ2U="));

    // Blocking: alice's messages go, her 1:1 chat goes, and what she sends next is dropped.
    let alice_chat = one_to_one_chat_id(&a);
    assert_eq!(bob.messenger.chat_messages(&alice_chat, None, 10).unwrap().0.len(), 1);
    let changed = bob.messenger.block_contact(&a, T0 + 3_000).unwrap();
    assert!(changed.contains(&alice_chat) && changed.contains(&"town".to_owned()), "{changed:?}");
    assert!(bob.messenger.chat(&alice_chat).unwrap().is_none());
    assert!(bob.messenger.chat_messages("town", None, 10).unwrap().0.is_empty());
    assert!(bob.messenger.contact(&a).unwrap().unwrap().blocked);
    bob.pump(T0 + 3_000);
    assert!(!bob.filters.iter().any(|f| f.name == format!("contact-code:{alice_chat}")));

    let before = bob.messenger.counters();
    alice.messenger.send_public_text("town", "public two", T0 + 4_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 4_000);
    assert!(bob.messenger.chat_messages("town", None, 10).unwrap().0.is_empty());
    assert_eq!(bob.messenger.counters().blocked, before.blocked + 1);

    // Unblocked: accepted again.
    bob.messenger.unblock_contact(&a, T0 + 5_000).unwrap();
    alice.messenger.send_public_text("town", "public three", T0 + 5_000).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 5_000);
    let town: Vec<String> = bob
        .messenger
        .chat_messages("town", None, 10)
        .unwrap()
        .0
        .into_iter()
        .map(|m| m.message.text)
        .collect();
    assert_eq!(town, ["public three"]);

    // Contacts of ourselves are refused; removing keeps the chat.
    assert!(alice.messenger.add_contact(&a, None, "", T0).is_err());
    let removed = alice.messenger.remove_contact(&b, T0 + 6_000).unwrap();
    assert!(!removed.added);
    assert!(alice.messenger.chat(&one_to_one_chat_id(&b)).unwrap().is_some());
}

#[test]
fn chat_identity_in_contact_code_is_stored() {
    let mut alice = Party::new(SecretKey::random(), "alice", None, 1);
    let bob_key = SecretKey::random();
    alice.messenger.start(T0).unwrap();
    alice.messenger.add_contact(&bob_key.public_key(), None, "", T0).unwrap();
    alice.pump(T0);
    // Bob's contact-code advertisement with his profile, built by hand.
    let mut bob = SecureTransport::new(bob_key.clone(), "bob", MemoryStore::new());
    let advertisement = proto::ContactCodeAdvertisement {
        chat_identity: Some(proto::ChatIdentity {
            clock: 5,
            display_name: "Bob B".to_owned(),
            ens_name: "bob.eth".to_owned(),
            // Enum values v0.79 does not know are kept as their numbers.
            images: [(
                "thumbnail".to_owned(),
                proto::IdentityImage { payload: vec![1, 2, 3], source_type: 42, image_type: 99 },
            )]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (_, amm) = SignedMessage::build(
        advertisement.encode_to_vec(),
        Type::ContactCodeAdvertisement,
        &bob_key,
    );
    let pm = bob.build_public_message(&amm, std::time::UNIX_EPOCH).unwrap();
    let topic = Topic(wisp_ratchet::topic::contact_code_topic(&bob_key.public_key()).0);
    let key = wisp_ratchet::topic::contact_code_key(&bob_key.public_key());
    let wire = seal(
        topic,
        pm.encode_to_vec(),
        &Encryption::Symmetric(key),
        Some(&bob_key),
        (T0 / 1000) as u32,
    );
    assert_eq!(alice.deliver(&wire, T0), Some(Ok(())));
    let contact = alice.messenger.contact(&bob_key.public_key()).unwrap().unwrap();
    assert_eq!(contact.display_name, "Bob B");
    assert_eq!(contact.ens_name, "bob.eth");
    assert_eq!(contact.identity.as_ref().map(|i| i.clock), Some(5));
    let image = &contact.identity.as_ref().unwrap().images["thumbnail"];
    assert_eq!((image.source_type, image.image_type, &image.payload[..]), (42, 99, &[1, 2, 3][..]));
    assert!(contact.added);
}

/// A direct message in DH mode from another installation of `key` to `key`, carrying
/// `payload` of `kind` (not wrapped in MVDS), as a wire envelope.
fn from_own_key(key: &SecretKey, kind: Type, payload: Vec<u8>, sign_with: &SecretKey) -> Wire {
    let mut forger = SecureTransport::new(key.clone(), "forger", MemoryStore::new());
    let (_, amm) = SignedMessage::build(payload, kind, sign_with);
    let built =
        forger.build_direct_message(&key.public_key(), &amm, std::time::UNIX_EPOCH).unwrap();
    let topic = Topic(partitioned_topic(&key.public_key()).0);
    seal(
        topic,
        built.encode(),
        &Encryption::Asymmetric(key.public_key()),
        Some(key),
        (T0 / 1000) as u32,
    )
}

#[test]
fn bad_pairing_and_sync_messages_are_dropped_and_counted() {
    let key = SecretKey::random();
    let mut me = Party::new(key.clone(), "mine", None, 1);
    me.messenger.start(T0).unwrap();
    me.pump(T0);
    let stranger = SecretKey::random();
    let drops = |p: &Party| p.messenger.counters().dropped();
    let cases: Vec<(Type, Vec<u8>, DropReason)> = vec![
        (Type::PairInstallation, PairInstallation::default().encode_to_vec(), DropReason::Invalid),
        (
            Type::PairInstallation,
            PairInstallation { clock: 1, installation_id: "x".repeat(300), ..Default::default() }
                .encode_to_vec(),
            DropReason::Invalid,
        ),
        (Type::PairInstallation, vec![0xff, 0xff, 0xff], DropReason::Undecodable),
        (
            Type::SyncInstallationContact,
            SyncInstallationContact {
                clock: 1,
                id: "0xnot-a-key".to_owned(),
                system_tags: vec![":contact/added".to_owned()],
                ..Default::default()
            }
            .encode_to_vec(),
            DropReason::Invalid,
        ),
        (
            Type::SyncInstallationContact,
            SyncInstallationContact {
                clock: 1,
                id: one_to_one_chat_id(&key.public_key()),
                ..Default::default()
            }
            .encode_to_vec(),
            DropReason::Invalid,
        ),
        (
            Type::SyncInstallationPublicChat,
            SyncInstallationPublicChat { clock: 1, id: String::new() }.encode_to_vec(),
            DropReason::Invalid,
        ),
        (
            Type::SyncInstallation,
            SyncInstallation {
                public_chats: vec![
                    SyncInstallationPublicChat { clock: 1, id: "fine".to_owned() },
                    SyncInstallationPublicChat { clock: 1, id: "y".repeat(300) },
                ],
                ..Default::default()
            }
            .encode_to_vec(),
            DropReason::Invalid,
        ),
        (Type::SyncInstallationPublicChat, vec![0x0a], DropReason::Undecodable),
        (Type::ContactUpdate, vec![0x08], DropReason::Undecodable),
    ];
    for (kind, payload, reason) in cases {
        let before = drops(&me);
        let wire = from_own_key(&key, kind, payload, &key);
        assert_eq!(me.deliver(&wire, T0), Some(Err(reason)), "{kind:?}");
        assert_eq!(drops(&me), before + 1);
    }
    // Nothing was applied: no chat ("fine" came with a bad item), no contact, no metadata.
    assert!(me.messenger.chats().is_empty());
    assert!(me.messenger.contacts().unwrap().is_empty());
    assert!(me.messenger.our_installations().unwrap().iter().all(|i| i.metadata.is_none()));

    // A sync message signed by someone else inside our own transport: the signer does not
    // match the envelope (bad signature); from a stranger's own transport it is not ours.
    let wire = from_own_key(
        &key,
        Type::SyncInstallationPublicChat,
        SyncInstallationPublicChat { clock: 1, id: "x".to_owned() }.encode_to_vec(),
        &stranger,
    );
    assert_eq!(me.deliver(&wire, T0), Some(Err(DropReason::BadSignature)));
    let mut theirs = SecureTransport::new(stranger.clone(), "stranger", MemoryStore::new());
    let (_, amm) = SignedMessage::build(
        SyncInstallationPublicChat { clock: 1, id: "x".to_owned() }.encode_to_vec(),
        Type::SyncInstallationPublicChat,
        &stranger,
    );
    let built =
        theirs.build_direct_message(&key.public_key(), &amm, std::time::UNIX_EPOCH).unwrap();
    let wire = seal(
        Topic(partitioned_topic(&key.public_key()).0),
        built.encode(),
        &Encryption::Asymmetric(key.public_key()),
        Some(&stranger),
        (T0 / 1000) as u32,
    );
    assert_eq!(me.deliver(&wire, T0), Some(Err(DropReason::Invalid)));
    assert!(me.messenger.chats().is_empty());

    // A good one still applies afterwards.
    let wire = from_own_key(
        &key,
        Type::SyncInstallationPublicChat,
        SyncInstallationPublicChat { clock: 2, id: "synced".to_owned() }.encode_to_vec(),
        &key,
    );
    assert_eq!(me.deliver(&wire, T0), Some(Ok(())));
    assert_eq!(me.messenger.chats(), [("synced".to_owned(), ChatKind::Public)]);
    // An unknown application type from ourselves is an unknown type, not a crash.
    let wire = from_own_key(&key, Type::Unknown, vec![1, 2, 3], &key);
    assert_eq!(me.deliver(&wire, T0), Some(Err(DropReason::UnknownType)));
}

#[test]
fn contacts_and_installations_persist_in_sqlite_and_v1_files_migrate() {
    use wisp_messenger::{DeviceStore, InstallationMetadata, SqliteMessageStore, StoredContact};
    let dir = common::TempDir::new("devices-sqlite");
    let path = dir.path().join("messenger.sqlite");
    let key = [9u8; 32];
    let bob = SecretKey::random().public_key();
    {
        // A file as schema version 1 left it: no contact tables.
        let store = SqliteMessageStore::open(&path, &key).unwrap();
        store
            .connection()
            .execute_batch(
                "DROP TABLE messenger_contacts; DROP TABLE messenger_installations; \
                 DROP TABLE messenger_group_events; DROP TABLE messenger_chat_entities; \
                 DROP TABLE messenger_group_invitations; \
                 DELETE FROM messenger_schema_version WHERE version >= 2;",
            )
            .unwrap();
        assert_eq!(store.schema_version().unwrap(), 1);
    }
    let mut store = SqliteMessageStore::open(&path, &key).unwrap();
    assert_eq!(store.schema_version().unwrap(), 5, "migrated");
    let mut contact = StoredContact::new(bob);
    contact.added = true;
    contact.ens_name = "bob.eth".to_owned();
    contact.last_updated = 42;
    contact.identity = Some(proto::ChatIdentity {
        clock: 3,
        display_name: "Bob".to_owned(),
        ..Default::default()
    });
    store.put_contact(&contact).unwrap();
    let metadata = InstallationMetadata {
        installation_id: "phone".to_owned(),
        name: "my phone".to_owned(),
        device_type: "android".to_owned(),
        clock: 7,
    };
    store.put_installation_metadata(&metadata).unwrap();
    drop(store);
    let store = SqliteMessageStore::open(&path, &key).unwrap();
    assert_eq!(store.contacts().unwrap(), [contact.clone()]);
    assert_eq!(store.contact(&bob).unwrap(), Some(contact));
    assert_eq!(store.installation_metadata().unwrap(), [metadata]);
    assert_eq!(
        StoredContact { blocked: true, has_added_us: true, ..StoredContact::new(bob) }
            .system_tags(),
        [":contact/blocked", ":contact/request-received"]
    );
}

#[test]
fn a_blocked_contact_stays_blocked_after_a_restart() {
    let dir = common::TempDir::new("devices-restart");
    let path = dir.path().join(wisp_messenger::DATABASE_FILE);
    let key = SecretKey::random();
    let carol = SecretKey::random().public_key();
    let open = || {
        wisp_messenger::open_sqlite(
            &path,
            key.clone(),
            "mine",
            wisp_messenger::Config::default(),
            <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1),
        )
        .unwrap()
    };
    let mut messenger = open();
    messenger.start(T0).unwrap();
    messenger.block_contact(&carol, T0).unwrap();
    messenger.set_installation_metadata("desk", "desktop").unwrap();
    drop(messenger);
    let messenger = open();
    assert!(messenger.is_blocked(&carol));
    let ours = messenger.our_installations().unwrap();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].metadata.as_ref().map(|m| m.name.as_str()), Some("desk"));
}

#[test]
fn a_device_the_sender_does_not_know_answers_with_its_bundle() {
    let key = SecretKey::random();
    let mut laptop = Party::new(key.clone(), "laptop-installation", None, 1);
    let mut phone = Party::new(key, "phone-installation", None, 2);
    let mut carol = Party::new(SecretKey::random(), "carol-installation", None, 3);
    for p in [&mut laptop, &mut phone, &mut carol] {
        p.messenger.start(T0).unwrap();
    }
    // Carol learns the laptop's bundle from a public message; the phone is not in the chat.
    laptop.messenger.join_public_chat("p").unwrap();
    carol.messenger.join_public_chat("p").unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0);
    laptop.messenger.send_public_text("p", "hello", T0 + 1_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 1_000);
    let me = laptop.public_key();
    let known = |carol: &Party| -> Vec<String> {
        carol
            .messenger
            .transport()
            .active_installations(&me)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(known(&carol), ["laptop-installation"]);

    // Her first 1:1 message is for the laptop only; the phone cannot read it and answers with
    // its bundle, once.
    let before = phone.messenger.counters().undecryptable;
    carol.messenger.send_text(&me, "first", T0 + 2_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 2_000);
    // (It then also sees, and cannot read, the laptop's acks to carol on their topic.)
    assert!(phone.messenger.counters().undecryptable > before);
    let mut both = known(&carol);
    both.sort();
    assert_eq!(both, ["laptop-installation", "phone-installation"]);
    let carol_id = one_to_one_chat_id(&carol.public_key());
    assert_eq!(texts(&laptop, &carol_id), [("first".to_owned(), None)]);

    // Her next message reaches both devices.
    carol.messenger.send_text(&me, "second", T0 + 3_000).unwrap();
    settle(&mut [&mut laptop, &mut phone, &mut carol], T0 + 3_000);
    assert!(texts(&phone, &carol_id).contains(&("second".to_owned(), None)));
    assert!(texts(&laptop, &carol_id).contains(&("second".to_owned(), None)));
    // The bundle answer is no bad input at carol's.
    let counters = carol.messenger.counters();
    assert_eq!(counters.dropped(), counters.duplicates, "{counters:?}");
}
