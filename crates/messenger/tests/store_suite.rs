//! One behavioural suite run against every `MessageStore`: the in-memory store and SQLite
//! (an in-memory database and an encrypted file).

mod common;

use wisp_crypto::{PublicKey, SecretKey};
use wisp_messenger::proto::{ChatMessage, MessageType};
use wisp_messenger::{
    ChatKind, DeliveryStatus, HistoryRange, MemoryMessageStore, MessageId, MessageStore,
    SqliteMessageStore, StoredChat, StoredMessage, text_message,
};
use wisp_waku::Topic;

fn key(byte: u8) -> PublicKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap().public_key()
}

fn chat(id: &str) -> StoredChat {
    StoredChat {
        id: id.to_owned(),
        kind: ChatKind::Public,
        name: id.to_owned(),
        active: true,
        unread_count: 0,
        last_clock_value: 0,
        timestamp_ms: 1_000,
        joined_ms: 1_000,
        last_message: None,
    }
}

fn message(id: u8, chat_id: &str, clock: u64, outgoing: Option<DeliveryStatus>) -> StoredMessage {
    let body: ChatMessage =
        text_message(clock, clock, &format!("text {id}"), chat_id, MessageType::PublicGroup);
    StoredMessage {
        id: MessageId([id; 32]),
        chat_id: chat_id.to_owned(),
        from: key(if outgoing.is_some() { 1 } else { 2 }),
        outgoing,
        seen: outgoing.is_some(),
        whisper_timestamp_ms: clock,
        message: body,
        raw: vec![id; 3],
        deleted: false,
    }
}

fn ids(messages: &[StoredMessage]) -> Vec<u8> {
    messages.iter().map(|m| m.id.0[0]).collect()
}

fn suite(store: &mut dyn MessageStore) {
    // Chats.
    assert!(store.chats().unwrap().is_empty());
    store.put_chat(&chat("b")).unwrap();
    store.put_chat(&chat("a")).unwrap();
    let mut inactive = chat("a");
    inactive.active = false;
    inactive.last_clock_value = 7;
    store.put_chat(&inactive).unwrap();
    let chats = store.chats().unwrap();
    assert_eq!(chats.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(chats[0], inactive);
    assert_eq!(store.chat("nope").unwrap(), None);

    // Messages: stored with their chat, deduplicated by id.
    let mut with_clock = chat("b");
    with_clock.last_clock_value = 30;
    assert!(store.add_message(&with_clock, &message(3, "b", 30, None), None).unwrap());
    assert!(!store.add_message(&chat("b"), &message(3, "b", 99, None), None).unwrap());
    assert_eq!(
        store.chat("b").unwrap().unwrap().last_clock_value,
        30,
        "a duplicate changes nothing"
    );
    assert!(store.add_message(&with_clock, &message(1, "b", 10, None), None).unwrap());
    assert!(store.add_message(&with_clock, &message(2, "b", 20, None), None).unwrap());
    // Same clock as 2: ordered by id.
    assert!(store.add_message(&with_clock, &message(9, "b", 20, None), None).unwrap());
    assert!(
        store
            .add_message(
                &with_clock,
                &message(5, "b", 40, Some(DeliveryStatus::Sending)),
                Some([5; 32])
            )
            .unwrap()
    );
    assert!(store.add_message(&chat("a"), &message(6, "a", 5, None), None).unwrap());
    assert_eq!(store.message(&MessageId([9; 32])).unwrap(), Some(message(9, "b", 20, None)));
    assert!(store.has_message(&MessageId([1; 32])).unwrap());
    assert!(!store.has_message(&MessageId([4; 32])).unwrap());
    assert_eq!(store.mvds_id(&MessageId([5; 32])).unwrap(), Some([5; 32]));
    assert_eq!(store.mvds_id(&MessageId([1; 32])).unwrap(), None);

    // Newest first, (clock, id) descending, paged strictly before a (clock, id).
    let all = store.chat_messages("b", None, 100).unwrap();
    assert_eq!(ids(&all), [5, 3, 9, 2, 1]);
    assert_eq!(ids(&store.chat_messages("b", None, 2).unwrap()), [5, 3]);
    let before = Some((20, MessageId([9; 32])));
    assert_eq!(ids(&store.chat_messages("b", before, 100).unwrap()), [2, 1]);
    assert!(store.chat_messages("nope", None, 10).unwrap().is_empty());

    // Unread counts and the last message.
    let b = store.chat("b").unwrap().unwrap();
    assert_eq!(b.unread_count, 4);
    assert_eq!(b.last_message.as_ref().map(|m| m.id), Some(MessageId([5; 32])));
    assert_eq!(
        store
            .mark_seen("b", Some(&[MessageId([1; 32]), MessageId([5; 32]), MessageId([6; 32])]))
            .unwrap(),
        1
    );
    assert_eq!(store.chat("b").unwrap().unwrap().unread_count, 3);
    assert_eq!(store.mark_seen("b", None).unwrap(), 3);
    assert_eq!(store.mark_seen("b", None).unwrap(), 0);
    assert_eq!(store.chat("b").unwrap().unwrap().unread_count, 0);
    assert_eq!(store.chat("a").unwrap().unwrap().unread_count, 1);

    // Delivery states and pending messages.
    let pending = store.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id, pending[0].status, pending[0].mvds_id),
        (MessageId([5; 32]), DeliveryStatus::Sending, Some([5; 32]))
    );
    assert!(store.set_status(&MessageId([5; 32]), DeliveryStatus::Sent).unwrap());
    assert_eq!(store.pending().unwrap()[0].status, DeliveryStatus::Sent);
    assert!(store.set_mvds_id(&MessageId([5; 32]), [8; 32]).unwrap());
    assert_eq!(store.pending().unwrap()[0].mvds_id, Some([8; 32]));
    assert!(store.set_status(&MessageId([5; 32]), DeliveryStatus::Delivered).unwrap());
    assert!(store.pending().unwrap().is_empty());
    assert!(!store.set_status(&MessageId([1; 32]), DeliveryStatus::Sent).unwrap(), "not ours");
    assert!(!store.set_status(&MessageId([4; 32]), DeliveryStatus::Sent).unwrap(), "unknown");
    assert_eq!(
        store.message(&MessageId([5; 32])).unwrap().unwrap().outgoing,
        Some(DeliveryStatus::Delivered)
    );

    // Deleting a message hides it but keeps its id.
    assert!(store.set_deleted(&MessageId([3; 32])).unwrap());
    assert!(!store.set_deleted(&MessageId([3; 32])).unwrap());
    assert!(store.has_message(&MessageId([3; 32])).unwrap());
    assert!(store.message(&MessageId([3; 32])).unwrap().unwrap().deleted);
    assert_eq!(ids(&store.chat_messages("b", None, 100).unwrap()), [5, 9, 2, 1]);
    assert_eq!(store.delete_chat_messages("b").unwrap(), 4);
    assert!(store.chat_messages("b", None, 100).unwrap().is_empty());
    assert!(store.chat("b").unwrap().unwrap().last_message.is_none());

    // Deleting a chat removes its messages.
    assert!(store.delete_chat("a").unwrap());
    assert!(!store.delete_chat("a").unwrap());
    assert!(!store.has_message(&MessageId([6; 32])).unwrap());
    assert_eq!(store.chats().unwrap().len(), 1);

    // History ranges and gaps, per topic.
    let topic = Topic([1, 2, 3, 4]);
    let other = Topic([4, 3, 2, 1]);
    assert_eq!(store.history_range(&topic).unwrap(), None);
    store.set_history_range(&topic, HistoryRange { from: 10, to: 20 }).unwrap();
    store.set_history_range(&topic, HistoryRange { from: 5, to: 30 }).unwrap();
    assert_eq!(store.history_range(&topic).unwrap(), Some(HistoryRange { from: 5, to: 30 }));
    assert_eq!(store.history_range(&other).unwrap(), None);
    store.add_gap(&topic, HistoryRange { from: 25, to: 26 }).unwrap();
    store.add_gap(&topic, HistoryRange { from: 7, to: 8 }).unwrap();
    store.add_gap(&topic, HistoryRange { from: 7, to: 8 }).unwrap();
    assert_eq!(
        store.gaps(&topic).unwrap(),
        [HistoryRange { from: 7, to: 8 }, HistoryRange { from: 25, to: 26 }]
    );
    assert!(store.gaps(&other).unwrap().is_empty());

    // Our own profile: none, then one row that each put replaces.
    assert_eq!(store.own_profile().unwrap(), None);
    let mut profile = wisp_messenger::OwnProfile {
        ens_name: "me.eth".into(),
        profile_image: "aW1n".into(),
        contact_updates_sent_ms: 1_800_000_000_000,
    };
    store.put_own_profile(&profile).unwrap();
    profile.contact_updates_sent_ms += 1;
    store.put_own_profile(&profile).unwrap();
    assert_eq!(store.own_profile().unwrap(), Some(profile));
}

#[test]
fn memory_store() {
    suite(&mut MemoryMessageStore::new());
}

#[test]
fn sqlite_store_in_memory() {
    suite(&mut SqliteMessageStore::open_in_memory().unwrap());
}

#[test]
fn sqlite_store_encrypted_file() {
    let dir = common::TempDir::new("store-suite");
    let path = dir.path().join("messenger.sqlite");
    let key = [7u8; 32];
    {
        let mut store = SqliteMessageStore::open(&path, &key).unwrap();
        assert_eq!(store.schema_version().unwrap(), wisp_messenger::store::SCHEMA_VERSION);
        suite(&mut store);
    }
    // Reopened: what the suite left is there.
    let store = SqliteMessageStore::open(&path, &key).unwrap();
    assert_eq!(store.chats().unwrap().len(), 1);
    let profile = wisp_messenger::DeviceStore::own_profile(&store).unwrap().unwrap();
    assert_eq!(profile.contact_updates_sent_ms, 1_800_000_000_001);
    assert_eq!(
        store.history_range(&Topic([1, 2, 3, 4])).unwrap(),
        Some(HistoryRange { from: 5, to: 30 })
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Whatever the insertion order, clocks and page size, both stores page the same messages
    /// in the same order: newest first by (clock, id), each once.
    #[test]
    fn stores_agree_on_paging(
        messages in proptest::collection::vec((0u8..=255, 1u64..6), 0..40),
        page in 1usize..7,
    ) {
        let mut memory = MemoryMessageStore::new();
        let mut sqlite = SqliteMessageStore::open_in_memory().unwrap();
        for (id, clock) in &messages {
            let m = message(*id, "c", *clock, None);
            let a = memory.add_message(&chat("c"), &m, None).unwrap();
            let b = sqlite.add_message(&chat("c"), &m, None).unwrap();
            proptest::prop_assert_eq!(a, b);
        }
        let mut expected: Vec<(u64, u8)> = Vec::new();
        for (id, clock) in &messages {
            if !expected.iter().any(|(_, i)| i == id) {
                expected.push((*clock, *id));
            }
        }
        expected.sort_by(|a, b| b.cmp(a));
        for store in [&memory as &dyn MessageStore, &sqlite] {
            let mut seen = Vec::new();
            let mut before = None;
            loop {
                let got = store.chat_messages("c", before, page).unwrap();
                if got.is_empty() {
                    break;
                }
                let last = got.last().unwrap();
                before = Some((last.message.clock, last.id));
                seen.extend(got.iter().map(|m| (m.message.clock, m.id.0[0])));
            }
            proptest::prop_assert_eq!(&seen, &expected);
        }
    }
}
