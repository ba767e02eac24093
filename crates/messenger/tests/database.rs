//! The messenger with its message database: `messenger.sqlite` (SQLCipher, keyed from the
//! account), restarts that restore chats, filters and pending deliveries, deduplication across
//! restarts, paging, unread counts, resend, and a store that fails.

mod common;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use common::{Party, TempDir, Wire, settle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wisp_crypto::{PublicKey, SecretKey};
use wisp_messenger::store::StoreError;
use wisp_messenger::{
    ChatKind, Config, DATABASE_FILE, DeliveryStatus, DropReason, Error, Event, HistoryRange,
    MemoryMessageStore, MessageId, MessageStore, Messenger, Output, PendingMessage,
    SqliteMessageStore, SqliteMessenger, StoredChat, StoredMessage, database_key,
    one_to_one_chat_id, open_sqlite,
};
use wisp_ratchet::{MemoryStore, SecureTransport};
use wisp_waku::Topic;

const T0: u64 = 1_800_000_000_000;

type SqliteParty = Party<wisp_ratchet::SqliteStore, wisp_mvds::SqliteStore, SqliteMessageStore>;

/// A scratch directory named `name` for an account's database, and a new account key.
fn account(name: &str) -> (TempDir, SecretKey) {
    (TempDir::new(name), SecretKey::random())
}

/// `<dir>/messenger.sqlite`.
fn database_path(dir: &Path) -> PathBuf {
    dir.join(DATABASE_FILE)
}

/// `open_sqlite` on `path` for `key`, installation "laptop", default config, MVDS jitter
/// seeded with `seed`.
fn try_open(path: &Path, key: SecretKey, seed: u64) -> Result<SqliteMessenger<StdRng>, Error> {
    open_sqlite(path, key, "laptop", Config::default(), StdRng::seed_from_u64(seed))
}

/// The account `key`'s messenger on `<dir>/messenger.sqlite`, started at `now`.
fn open(dir: &Path, key: &SecretKey, seed: u64, now: u64) -> SqliteParty {
    let messenger = try_open(&database_path(dir), key.clone(), seed).unwrap();
    let mut party = Party::with_messenger(key.clone(), messenger);
    party.messenger.start(now).unwrap();
    party
}

fn memory_party(seed: u64) -> Party {
    let mut party = Party::new(SecretKey::random(), "phone", None, seed);
    party.messenger.start(T0).unwrap();
    party
}

/// Alice (MVDS seed 1) and Bob (seed 2), in memory, started at [`T0`].
fn memory_pair() -> (Party, Party) {
    (memory_party(1), memory_party(2))
}

fn filter_names<RS, MS, DB>(party: &Party<RS, MS, DB>) -> BTreeSet<String> {
    party.filters.iter().map(|f| f.name.clone()).collect()
}

fn received<RS, MS, DB>(party: &mut Party<RS, MS, DB>) -> Vec<MessageId> {
    std::mem::take(&mut party.events)
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageReceived(m) => Some(m.id),
            _ => None,
        })
        .collect()
}

fn statuses<RS, MS, DB>(party: &mut Party<RS, MS, DB>, id: MessageId) -> Vec<DeliveryStatus> {
    std::mem::take(&mut party.events)
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageStatus { id: i, status, .. } if i == id => Some(status),
            _ => None,
        })
        .collect()
}

fn deliver_all<RS, MS, DB>(party: &mut Party<RS, MS, DB>, wires: &[Wire], now: u64)
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    DB: MessageStore,
{
    for wire in wires {
        party.deliver(wire, now);
    }
}

#[test]
fn restart_restores_chats_and_filters() {
    let (dir, alice_key) = account("restore");
    let mut bob = memory_party(2);
    let bob_chat = one_to_one_chat_id(&bob.public_key());
    {
        let mut alice = open(dir.path(), &alice_key, 1, T0);
        alice.messenger.join_public_chat("wisp").unwrap();
        alice.messenger.join_public_chat("gone").unwrap();
        assert!(alice.messenger.leave_public_chat("gone").unwrap());
        assert_eq!(alice.messenger.open_one_to_one_chat(&bob.public_key()).unwrap(), bob_chat);
        alice.pump(T0);
        let events = alice.take_events();
        assert!(
            events.contains(&Event::ChatAdded {
                chat_id: bob_chat.clone(),
                kind: ChatKind::OneToOne
            })
        );
        assert!(alice.posted.iter().all(|p| p.messages.is_empty()), "opening a chat sends nothing");
    }
    let mut alice = open(dir.path(), &alice_key, 1, T0 + 1_000);
    alice.pump(T0 + 1_000);
    let names = filter_names(&alice);
    for name in
        ["public:wisp", "partitioned", "personal-discovery", &format!("contact-code:{bob_chat}")]
    {
        assert!(names.contains(name), "{name} re-installed: {names:?}");
    }
    assert!(!names.contains("public:gone"), "a left chat stays left");
    let chats = alice.messenger.chat_list().unwrap();
    let summary: Vec<(&str, ChatKind, bool)> =
        chats.iter().map(|c| (c.id.as_str(), c.kind, c.active)).collect();
    assert_eq!(
        summary,
        [
            (bob_chat.as_str(), ChatKind::OneToOne, true),
            ("gone", ChatKind::Public, false),
            ("wisp", ChatKind::Public, true),
        ]
    );
    assert_eq!(chats[2].joined_ms, T0);
    assert_eq!(
        alice.messenger.chats(),
        [(bob_chat, ChatKind::OneToOne), ("wisp".to_owned(), ChatKind::Public)]
    );

    // The restored filter works: bob's message reaches alice and is stored.
    bob.messenger.join_public_chat("wisp").unwrap();
    let id = bob.messenger.send_public_text("wisp", "after the restart", T0 + 2_000).unwrap();
    let wires = bob.pump(T0 + 2_000);
    deliver_all(&mut alice, &wires, T0 + 2_000);
    alice.pump(T0 + 2_000);
    assert_eq!(received(&mut alice), [id]);
    let (messages, _) = alice.messenger.chat_messages("wisp", None, 10).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message.text, "after the restart");
    assert_eq!(messages[0].from, bob.public_key());
    assert_eq!(messages[0].outgoing, None);
    assert!(!messages[0].seen);

    // Rejoining the left chat activates it again.
    alice.messenger.join_public_chat("gone").unwrap();
    alice.pump(T0 + 2_000);
    assert!(filter_names(&alice).contains("public:gone"));
    assert!(alice.messenger.chat("gone").unwrap().unwrap().active);
}

#[test]
fn one_file_holds_the_three_stores_encrypted() {
    let (dir, alice_key) = account("encrypted");
    let secret_text = "a known plaintext that must not be on disk 5f3a";
    let mut bob = memory_party(2);
    {
        let mut alice = open(dir.path(), &alice_key, 1, T0);
        alice.messenger.join_public_chat("wisp").unwrap();
        alice.messenger.send_public_text("wisp", secret_text, T0).unwrap();
        // A 1:1 message fills the ratchet and MVDS tables too.
        alice.messenger.send_text(&bob.public_key(), secret_text, T0).unwrap();
        let wires = alice.pump(T0);
        deliver_all(&mut bob, &wires, T0);
        let tables: Vec<String> = {
            let conn = alice.messenger.store().connection();
            let mut stmt =
                conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        for prefix in ["messenger_", "ratchet_", "mvds_"] {
            assert!(tables.iter().any(|t| t.starts_with(prefix)), "{prefix} tables: {tables:?}");
        }
        assert!(
            tables
                .iter()
                .all(|t| ["messenger_", "ratchet_", "mvds_"].iter().any(|p| t.starts_with(p)))
        );
        let on_disk = files_bytes(dir.path());
        assert!(!contains(&on_disk, secret_text.as_bytes()), "plaintext in the open files");
    }
    let on_disk = files_bytes(dir.path());
    assert!(!on_disk.is_empty());
    assert!(!contains(&on_disk, secret_text.as_bytes()), "plaintext on disk");
    assert!(!contains(&on_disk, b"SQLite format 3"), "a plain SQLite header");
    assert!(!contains(&on_disk, b"messenger_messages"), "the schema is encrypted too");

    // Reopened with the key, the message is there.
    let alice = open(dir.path(), &alice_key, 1, T0 + 1_000);
    let (messages, _) = alice.messenger.chat_messages("wisp", None, 10).unwrap();
    assert_eq!(messages[0].message.text, secret_text);
}

/// Every file of `dir` (the database, its WAL and shared memory), concatenated.
fn files_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn another_account_cannot_open_the_file() {
    let (dir, alice_key) = account("wrong-key");
    {
        let mut alice = open(dir.path(), &alice_key, 1, T0);
        alice.messenger.join_public_chat("wisp").unwrap();
    }
    let path = database_path(dir.path());
    let err = try_open(&path, SecretKey::random(), 1).unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::WrongKey { .. })), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("messenger.sqlite cannot be opened with this account's key"), "{text}");
    assert!(text.contains("wrong account or corrupted file"), "{text}");
    assert!(matches!(
        SqliteMessageStore::open(&path, &[0u8; 32]),
        Err(StoreError::WrongKey { .. })
    ));
    // The right key still opens it, with its chat.
    assert_ne!(*database_key(&alice_key), [0u8; 32]);
    let alice = open(dir.path(), &alice_key, 1, T0);
    assert_eq!(alice.messenger.chats(), [("wisp".to_owned(), ChatKind::Public)]);
}

#[test]
fn the_database_key_is_derived_from_the_chat_key() {
    let key = SecretKey::from_bytes(&[0x11; 32]).unwrap();
    assert_eq!(database_key(&key), database_key(&SecretKey::from_bytes(&[0x11; 32]).unwrap()));
    assert_ne!(*database_key(&key), *database_key(&SecretKey::from_bytes(&[0x12; 32]).unwrap()));
    assert_ne!(&database_key(&key)[..], &key.to_bytes()[..], "not the chat key itself");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new("schema");
    let path = database_path(dir.path());
    let key = [3u8; 32];
    {
        let store = SqliteMessageStore::open(&path, &key).unwrap();
        assert_eq!(store.schema_version().unwrap(), wisp_messenger::store::SCHEMA_VERSION);
        store
            .connection()
            .execute("INSERT INTO messenger_schema_version (version) VALUES (99)", [])
            .unwrap();
    }
    let err = SqliteMessageStore::open(&path, &key).unwrap_err();
    assert!(matches!(err, StoreError::FutureSchema { found: 99, supported: 5 }), "{err:?}");
    assert!(err.to_string().contains("newer than the 5 this build knows"), "{err}");
}

#[test]
fn restart_resumes_one_to_one_retransmission_and_the_ack_marks_delivered_once() {
    let ((alice_dir, alice_key), (bob_dir, bob_key)) = (account("kill-alice"), account("kill-bob"));
    let mut bob = open(bob_dir.path(), &bob_key, 2, T0);
    bob.pump(T0);
    let (id, lost) = {
        let mut alice = open(alice_dir.path(), &alice_key, 1, T0);
        alice.pump(T0);
        let id =
            alice.messenger.send_text(&bob_key.public_key(), "survives a restart", T0).unwrap();
        let lost = alice.pump(T0);
        assert!(alice.posted.iter().any(|p| p.messages == [id]));
        assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Sending, DeliveryStatus::Sent]);
        // The node stops here: nothing reached bob.
        (id, lost)
    };
    let t1 = T0 + 1_000;
    let mut alice = open(alice_dir.path(), &alice_key, 1, t1);
    alice.pump(t1);
    assert_eq!(alice.messenger.status(&id), Some(DeliveryStatus::Sent));
    assert!(alice.posted.iter().all(|p| p.messages.is_empty()), "not due yet");
    let alice_chat = one_to_one_chat_id(&bob_key.public_key());
    assert!(filter_names(&alice).contains(&format!("contact-code:{alice_chat}")));

    // MVDS's stored record comes due: alice sends again, bob receives, acks.
    let due = alice.messenger.next_wakeup().unwrap().expect("a retransmission is pending");
    assert!(due < T0 + 60_000, "the first retransmission after 30 s + jitter, got {}", due - T0);
    alice.messenger.tick(due).unwrap();
    settle(&mut [&mut alice, &mut bob], due);
    assert!(alice.posted.iter().any(|p| p.messages == [id]), "retransmitted");
    assert_eq!(received(&mut bob), [id]);
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Delivered]);
    assert_eq!(alice.messenger.status(&id), Some(DeliveryStatus::Delivered));

    // The copy sent before the restart arrives late: a duplicate, acked again, reported
    // nowhere.
    let late = due + 1_000;
    deliver_all(&mut bob, &lost, late);
    settle(&mut [&mut alice, &mut bob], late);
    assert!(received(&mut bob).is_empty());
    assert!(statuses(&mut alice, id).is_empty(), "delivered exactly once");
    let bob_chat = one_to_one_chat_id(&alice_key.public_key());
    let (messages, _) = bob.messenger.chat_messages(&bob_chat, None, 10).unwrap();
    assert_eq!(messages.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);

    // And it stays delivered, with nothing more to send for it.
    drop(alice);
    let later = late + 3_600_000;
    let mut alice = open(alice_dir.path(), &alice_key, 1, later);
    alice.messenger.tick(later).unwrap();
    alice.pump(later);
    assert_eq!(alice.messenger.status(&id), Some(DeliveryStatus::Delivered));
    assert!(alice.posted.iter().all(|p| p.messages.is_empty()));
    assert!(alice.messenger.store().pending().unwrap().is_empty());
}

#[test]
fn duplicates_are_dropped_across_a_restart() {
    let (dir, bob_key) = account("dedup");
    let mut alice = memory_party(1);
    alice.messenger.join_public_chat("wisp").unwrap();
    let id = alice.messenger.send_public_text("wisp", "once", T0).unwrap();
    let wires = alice.pump(T0);
    {
        let mut bob = open(dir.path(), &bob_key, 2, T0);
        bob.messenger.join_public_chat("wisp").unwrap();
        bob.pump(T0);
        deliver_all(&mut bob, &wires, T0);
        bob.pump(T0);
        assert_eq!(received(&mut bob), [id]);
    }
    let mut bob = open(dir.path(), &bob_key, 2, T0 + 1_000);
    bob.pump(T0 + 1_000);
    let wire = wires.iter().find(|w| bob.open(w.topic, &w.data, w.timestamp).is_some()).unwrap();
    assert_eq!(bob.deliver(wire, T0 + 1_000), Some(Err(DropReason::Duplicate)));
    bob.pump(T0 + 1_000);
    assert!(received(&mut bob).is_empty());
    assert_eq!(bob.messenger.chat_messages("wisp", None, 10).unwrap().0.len(), 1);
}

#[test]
fn chat_messages_pages_newest_first_with_status_go_cursors() {
    let (mut alice, mut bob) = memory_pair();
    alice.messenger.join_public_chat("wisp").unwrap();
    bob.messenger.join_public_chat("wisp").unwrap();
    bob.pump(T0);
    bob.take_events();
    let mut sent = Vec::new();
    for i in 0..7u64 {
        // Two messages in the same millisecond: the clock still moves forward.
        let now = T0 + (i / 2) * 1_000;
        sent.push(alice.messenger.send_public_text("wisp", &format!("message {i}"), now).unwrap());
        let wires = alice.pump(now);
        deliver_all(&mut bob, &wires, now);
    }
    bob.pump(T0 + 10_000);
    assert_eq!(received(&mut bob), sent);

    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = bob.messenger.chat_messages("wisp", cursor.as_deref(), 3).unwrap();
        pages.push(page.iter().map(|m| m.id).collect::<Vec<_>>());
        if let Some(next) = &next {
            let last = page.last().unwrap();
            assert_eq!(next, &format!("{:064}{}", last.message.clock, last.id));
            assert_eq!(next.len(), 64 + 66);
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let newest_first: Vec<MessageId> = sent.iter().rev().copied().collect();
    assert_eq!(pages.concat(), newest_first);
    // Alice's own view is the same.
    let (mine, _) = alice.messenger.chat_messages("wisp", Some(""), 100).unwrap();
    assert_eq!(mine.iter().map(|m| m.id).collect::<Vec<_>>(), newest_first);
    assert!(mine.windows(2).all(|w| (w[0].message.clock, w[0].id) > (w[1].message.clock, w[1].id)));
    assert!(mine.iter().all(|m| m.outgoing == Some(DeliveryStatus::Sent) && m.seen));

    for bad in [
        "abc",
        &format!("{:064}", 5),
        &format!("{:064}0x1234", 5),
        &format!("{:063}x0x{}", 5, "00".repeat(32)),
    ] {
        let err = bob.messenger.chat_messages("wisp", Some(bad), 3).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { what: "cursor", .. }), "{bad}: {err:?}");
    }
    assert!(bob.messenger.chat_messages("nope", None, 3).unwrap().0.is_empty());
}

#[test]
fn unread_counts_follow_mark_seen_and_mark_all_read() {
    let (mut alice, mut bob) = memory_pair();
    alice.messenger.join_public_chat("wisp").unwrap();
    bob.messenger.join_public_chat("wisp").unwrap();
    bob.pump(T0);
    bob.take_events();
    let ids: Vec<MessageId> = (0..3u64)
        .map(|i| alice.messenger.send_public_text("wisp", "unread", T0 + i).unwrap())
        .collect();
    let wires = alice.pump(T0 + 5);
    deliver_all(&mut bob, &wires, T0 + 5);
    let unread = |p: &Party| p.messenger.chat("wisp").unwrap().unwrap().unread_count;
    assert_eq!(unread(&bob), 3);
    assert_eq!(unread(&alice), 0, "our own messages are seen");
    let chat = bob.messenger.chat("wisp").unwrap().unwrap();
    assert_eq!(chat.last_message.map(|m| m.id), Some(ids[2]));
    assert_eq!(bob.messenger.mark_messages_seen("wisp", &[ids[0], MessageId([9; 32])]).unwrap(), 1);
    assert_eq!(bob.messenger.mark_messages_seen("wisp", &[ids[0]]).unwrap(), 0);
    assert_eq!(unread(&bob), 2);
    assert!(bob.messenger.message(&ids[0]).unwrap().unwrap().seen);
    assert_eq!(bob.messenger.mark_all_read("wisp").unwrap(), 2);
    assert_eq!(unread(&bob), 0);
    assert_eq!(bob.messenger.mark_all_read("wisp").unwrap(), 0);

    // A deleted message is kept as an id only.
    assert!(bob.messenger.delete_message(&ids[1]).unwrap());
    assert!(!bob.messenger.delete_message(&ids[1]).unwrap());
    assert!(bob.messenger.message(&ids[1]).unwrap().unwrap().deleted);
    let (listed, _) = bob.messenger.chat_messages("wisp", None, 10).unwrap();
    assert_eq!(listed.iter().map(|m| m.id).collect::<Vec<_>>(), [ids[2], ids[0]]);
}

#[test]
fn resend_posts_the_same_message_again() {
    let (mut alice, mut bob) = memory_pair();
    alice.messenger.join_public_chat("wisp").unwrap();
    bob.messenger.join_public_chat("wisp").unwrap();
    bob.pump(T0);
    bob.take_events();
    let id = alice.messenger.send_public_text("wisp", "again", T0).unwrap();
    let first = alice.pump(T0);
    alice.messenger.resend(&id, T0 + 1_000).unwrap();
    let second = alice.pump(T0 + 1_000);
    assert_eq!(alice.posted.iter().filter(|p| p.messages == [id]).count(), 2);
    deliver_all(&mut bob, &first, T0 + 1_000);
    deliver_all(&mut bob, &second, T0 + 1_000);
    bob.pump(T0 + 1_000);
    assert_eq!(received(&mut bob), [id], "the same id: received once");
    assert_eq!(bob.messenger.counters().duplicates, 1);

    assert!(matches!(
        alice.messenger.resend(&MessageId([1; 32]), T0),
        Err(Error::UnknownMessage { .. })
    ));
    assert!(
        matches!(bob.messenger.resend(&id, T0), Err(Error::InvalidInput { what: "message", .. })),
        "bob cannot resend alice's message"
    );
}

#[test]
fn an_expired_one_to_one_message_is_resent_and_delivered() {
    let (mut alice, mut bob) = memory_pair();
    let id = alice.messenger.send_text(&bob.public_key(), "are you there?", T0).unwrap();
    alice.pump(T0);
    let mut now = T0;
    for _ in 0..100 {
        if alice.messenger.status(&id) == Some(DeliveryStatus::Expired) {
            break;
        }
        now = alice.messenger.next_wakeup().unwrap().unwrap().max(now);
        alice.messenger.tick(now).unwrap();
        alice.pump(now);
    }
    assert_eq!(alice.messenger.status(&id), Some(DeliveryStatus::Expired));
    assert_eq!(
        alice.messenger.message(&id).unwrap().unwrap().outgoing,
        Some(DeliveryStatus::Expired),
        "stored"
    );
    alice.take_events();
    alice.messenger.resend(&id, now).unwrap();
    settle(&mut [&mut alice, &mut bob], now);
    assert_eq!(
        statuses(&mut alice, id),
        [DeliveryStatus::Sending, DeliveryStatus::Sent, DeliveryStatus::Delivered]
    );
    assert_eq!(received(&mut bob), [id]);
    assert_eq!(
        alice.messenger.message(&id).unwrap().unwrap().outgoing,
        Some(DeliveryStatus::Delivered)
    );
}

#[test]
fn chats_deactivate_delete_and_name_their_topics() {
    let mut alice = memory_party(1);
    let bob = SecretKey::random().public_key();
    alice.messenger.join_public_chat("wisp").unwrap();
    let chat = alice.messenger.open_one_to_one_chat(&bob).unwrap();
    assert!(matches!(
        alice.messenger.open_one_to_one_chat(&alice.public_key()),
        Err(Error::InvalidInput { what: "recipient", .. })
    ));
    assert_eq!(
        alice.messenger.chat_topics("wisp").unwrap(),
        [Topic(wisp_ratchet::topic::public_chat_topic("wisp").0)]
    );
    assert_eq!(
        alice.messenger.chat_topics(&chat).unwrap(),
        [
            Topic(wisp_ratchet::topic::partitioned_topic(&alice.public_key()).0),
            Topic(wisp_ratchet::topic::contact_code_topic(&bob).0),
        ]
    );
    assert!(matches!(alice.messenger.chat_topics("nope"), Err(Error::UnknownChat { .. })));

    alice.messenger.send_public_text("wisp", "before leaving", T0).unwrap();
    alice.pump(T0);
    assert!(alice.messenger.deactivate_chat("wisp").unwrap());
    assert!(!alice.messenger.deactivate_chat("wisp").unwrap());
    alice.pump(T0);
    assert!(!filter_names(&alice).contains("public:wisp"));
    assert!(alice.messenger.chat_messages("wisp", None, 10).unwrap().0.is_empty());
    assert!(!alice.messenger.chat("wisp").unwrap().unwrap().active);
    assert!(matches!(
        alice.messenger.send_public_text("wisp", "x", T0),
        Err(Error::NotJoined { .. })
    ));

    assert!(alice.messenger.delete_chat(&chat).unwrap());
    assert!(!alice.messenger.delete_chat(&chat).unwrap());
    alice.pump(T0);
    assert!(alice.messenger.chat(&chat).unwrap().is_none());
    assert!(!filter_names(&alice).contains(&format!("contact-code:{chat}")));
}

#[test]
fn history_ranges_and_gaps_per_topic() {
    let (dir, key) = account("history");
    let topic = Topic([0xde, 0xad, 0xbe, 0xef]);
    {
        let mut alice = open(dir.path(), &key, 1, T0);
        assert_eq!(alice.messenger.history_range(&topic).unwrap(), None);
        alice.messenger.set_history_fetched(&topic, 1_000, 2_000).unwrap();
        alice.messenger.set_history_fetched(&topic, 2_000, 3_000).unwrap();
        alice.messenger.record_history_gap(&topic, 1_500, 1_600).unwrap();
    }
    let alice = open(dir.path(), &key, 1, T0);
    assert_eq!(
        alice.messenger.history_range(&topic).unwrap(),
        Some(HistoryRange { from: 1_000, to: 3_000 })
    );
    assert_eq!(
        alice.messenger.history_gaps(&topic).unwrap(),
        [HistoryRange { from: 1_500, to: 1_600 }]
    );
}

/// A memory store whose writes fail while `fail` is set.
struct FailingStore {
    inner: MemoryMessageStore,
    fail: Rc<Cell<bool>>,
}

impl FailingStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.fail.get() {
            return Err(StoreError::Corrupt { what: "test", expected: "a working disk" });
        }
        Ok(())
    }
}

impl wisp_messenger::DeviceStore for FailingStore {
    fn contacts(&self) -> Result<Vec<wisp_messenger::StoredContact>, StoreError> {
        self.inner.contacts()
    }
    fn contact(
        &self,
        key: &PublicKey,
    ) -> Result<Option<wisp_messenger::StoredContact>, StoreError> {
        self.inner.contact(key)
    }
    fn put_contact(&mut self, contact: &wisp_messenger::StoredContact) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_contact(contact)
    }
    fn delete_messages_from(&mut self, key: &PublicKey) -> Result<Vec<String>, StoreError> {
        self.check()?;
        self.inner.delete_messages_from(key)
    }
    fn installation_metadata(
        &self,
    ) -> Result<Vec<wisp_messenger::InstallationMetadata>, StoreError> {
        self.inner.installation_metadata()
    }
    fn put_installation_metadata(
        &mut self,
        metadata: &wisp_messenger::InstallationMetadata,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_installation_metadata(metadata)
    }
    fn own_profile(&self) -> Result<Option<wisp_messenger::OwnProfile>, StoreError> {
        self.inner.own_profile()
    }
    fn put_own_profile(&mut self, profile: &wisp_messenger::OwnProfile) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_own_profile(profile)
    }
}

impl MessageStore for FailingStore {
    fn chats(&self) -> Result<Vec<StoredChat>, StoreError> {
        self.inner.chats()
    }
    fn chat(&self, id: &str) -> Result<Option<StoredChat>, StoreError> {
        self.inner.chat(id)
    }
    fn put_chat(&mut self, chat: &StoredChat) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put_chat(chat)
    }
    fn delete_chat(&mut self, id: &str) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.delete_chat(id)
    }
    fn delete_chat_messages(&mut self, id: &str) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.delete_chat_messages(id)
    }
    fn add_message(
        &mut self,
        chat: &StoredChat,
        message: &StoredMessage,
        mvds_id: Option<[u8; 32]>,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.add_message(chat, message, mvds_id)
    }
    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>, StoreError> {
        self.inner.message(id)
    }
    fn has_message(&self, id: &MessageId) -> Result<bool, StoreError> {
        self.inner.has_message(id)
    }
    fn mvds_id(&self, id: &MessageId) -> Result<Option<[u8; 32]>, StoreError> {
        self.inner.mvds_id(id)
    }
    fn chat_messages(
        &self,
        chat_id: &str,
        before: Option<(u64, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.inner.chat_messages(chat_id, before, limit)
    }
    fn set_status(&mut self, id: &MessageId, status: DeliveryStatus) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_status(id, status)
    }
    fn set_mvds_id(&mut self, id: &MessageId, mvds_id: [u8; 32]) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_mvds_id(id, mvds_id)
    }
    fn put_chat_entity(
        &mut self,
        entity: &wisp_messenger::store::ChatEntity,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.put_chat_entity(entity)
    }
    fn chat_entities(
        &self,
        chat_id: &str,
        kind: wisp_messenger::store::EntityKind,
    ) -> Result<Vec<wisp_messenger::store::ChatEntity>, StoreError> {
        self.inner.chat_entities(chat_id, kind)
    }
    fn group_events(&self, chat_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        self.inner.group_events(chat_id)
    }
    fn add_group_events(
        &mut self,
        chat_id: &str,
        events: &[(u64, Vec<u8>)],
    ) -> Result<usize, StoreError> {
        self.check()?;
        self.inner.add_group_events(chat_id, events)
    }
    fn put_group_invitation(
        &mut self,
        invitation: &wisp_messenger::GroupInvitation,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.put_group_invitation(invitation)
    }
    fn group_invitation(
        &self,
        id: &str,
    ) -> Result<Option<wisp_messenger::GroupInvitation>, StoreError> {
        self.inner.group_invitation(id)
    }
    fn group_invitations(&self) -> Result<Vec<wisp_messenger::GroupInvitation>, StoreError> {
        self.inner.group_invitations()
    }
    fn pending(&self) -> Result<Vec<PendingMessage>, StoreError> {
        self.inner.pending()
    }
    fn mark_seen(&mut self, chat_id: &str, ids: Option<&[MessageId]>) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.mark_seen(chat_id, ids)
    }
    fn set_deleted(&mut self, id: &MessageId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_deleted(id)
    }
    fn history_range(&self, topic: &Topic) -> Result<Option<HistoryRange>, StoreError> {
        self.inner.history_range(topic)
    }
    fn set_history_range(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set_history_range(topic, range)
    }
    fn add_gap(&mut self, topic: &Topic, range: HistoryRange) -> Result<(), StoreError> {
        self.check()?;
        self.inner.add_gap(topic, range)
    }
    fn gaps(&self, topic: &Topic) -> Result<Vec<HistoryRange>, StoreError> {
        self.inner.gaps(topic)
    }
}

type FailingParty = Party<MemoryStore, wisp_mvds::MemoryStore, FailingStore>;

fn failing_party(seed: u64) -> (FailingParty, Rc<Cell<bool>>) {
    let key = SecretKey::random();
    let fail = Rc::new(Cell::new(false));
    let transport = SecureTransport::new(key.clone(), "phone", MemoryStore::new());
    let mvds = wisp_mvds::Node::new(
        wisp_mvds::Config::default(),
        wisp_mvds::MemoryStore::new(),
        StdRng::seed_from_u64(seed),
    );
    let store = FailingStore { inner: MemoryMessageStore::new(), fail: fail.clone() };
    let messenger = Messenger::new(key.clone(), transport, mvds, store, Config::default()).unwrap();
    let mut party = Party::with_messenger(key, messenger);
    party.messenger.start(T0).unwrap();
    party.pump(T0);
    (party, fail)
}

#[test]
fn an_outgoing_message_is_stored_before_its_envelope_exists() {
    let (mut alice, fail) = failing_party(1);
    let bob: PublicKey = SecretKey::random().public_key();
    alice.messenger.join_public_chat("wisp").unwrap();
    alice.pump(T0);
    alice.take_events();

    // The store fails: nothing is sent, no chat appears, nothing is pending in MVDS.
    fail.set(true);
    let err = alice.messenger.send_public_text("wisp", "lost?", T0).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    let err = alice.messenger.send_text(&bob, "lost?", T0).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err:?}");
    assert!(alice.messenger.drain_outputs().is_empty(), "no post, no event");
    assert_eq!(alice.messenger.chats(), [("wisp".to_owned(), ChatKind::Public)]);
    let wakeup = alice.messenger.next_wakeup().unwrap();
    assert!(wakeup.is_none_or(|t| t >= T0 + 3_600_000), "no MVDS record: {wakeup:?}");
    fail.set(false);

    // When the Post output appears, the message is already stored as Sending (1:1: with its
    // MVDS id).
    let public = alice.messenger.send_public_text("wisp", "stored first", T0).unwrap();
    let direct = alice.messenger.send_text(&bob, "stored first", T0).unwrap();
    let mut posts = 0;
    while let Some(output) = alice.messenger.poll_output() {
        if let Output::Post(post) = output {
            for id in &post.messages {
                let stored = alice.messenger.message(id).unwrap().expect("stored before posting");
                assert_eq!(stored.outgoing, Some(DeliveryStatus::Sending));
                assert_eq!(stored.message.text, "stored first");
                posts += 1;
            }
        }
    }
    assert_eq!(posts, 2);
    assert!(alice.messenger.store().mvds_id(&direct).unwrap().is_some());
    assert!(alice.messenger.store().mvds_id(&public).unwrap().is_none());

    // A status change that cannot be stored is an error, and the status stays.
    alice.messenger.send_public_text("wisp", "status", T0).unwrap();
    let post = alice
        .messenger
        .drain_outputs()
        .into_iter()
        .find_map(|o| match o {
            Output::Post(p) => Some(p),
            _ => None,
        })
        .unwrap();
    fail.set(true);
    assert!(alice.messenger.envelope_sent(post.id).is_err());
    assert_eq!(alice.messenger.status(&post.messages[0]), Some(DeliveryStatus::Sending));
    fail.set(false);
    alice.messenger.envelope_sent(post.id).unwrap();
    assert_eq!(alice.messenger.status(&post.messages[0]), Some(DeliveryStatus::Sent));
}

#[test]
fn a_message_that_cannot_be_stored_is_not_applied() {
    let (mut bob, fail) = failing_party(2);
    let mut alice = memory_party(1);
    bob.messenger.join_public_chat("wisp").unwrap();
    bob.pump(T0);
    bob.take_events();
    alice.messenger.join_public_chat("wisp").unwrap();
    let id = alice.messenger.send_public_text("wisp", "store me", T0).unwrap();
    let wires = alice.pump(T0);
    let wire = wires.iter().find(|w| bob.open(w.topic, &w.data, w.timestamp).is_some()).unwrap();

    fail.set(true);
    assert_eq!(bob.deliver(wire, T0), Some(Err(DropReason::Storage)));
    bob.pump(T0);
    assert!(bob.take_events().is_empty(), "nothing reported");
    assert_eq!(bob.messenger.counters().storage_failures, 1);
    assert_eq!(bob.messenger.counters().messages, 0);

    // Not remembered as seen: once the store works, the same envelope is accepted.
    fail.set(false);
    assert_eq!(bob.deliver(wire, T0), Some(Ok(())));
    bob.pump(T0);
    assert_eq!(received(&mut bob), [id]);
    assert_eq!(bob.messenger.chat_messages("wisp", None, 10).unwrap().0.len(), 1);
}

#[test]
fn the_sqlite_messenger_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<wisp_messenger::SqliteMessenger<StdRng>>();
}

#[test]
fn a_public_message_stored_but_never_posted_is_posted_after_a_restart() {
    let (dir, alice_key) = account("unposted");
    let mut bob = memory_party(2);
    bob.messenger.join_public_chat("wisp").unwrap();
    bob.pump(T0);
    let id = {
        let mut alice = open(dir.path(), &alice_key, 1, T0);
        alice.messenger.join_public_chat("wisp").unwrap();
        // The process stops before the node takes the Post output.
        alice.messenger.send_public_text("wisp", "not lost", T0).unwrap()
    };
    let t1 = T0 + 5_000;
    let mut alice = open(dir.path(), &alice_key, 1, t1);
    // Joining again before the first start changes nothing stored.
    alice.messenger.join_public_chat("wisp").unwrap();
    assert_eq!(alice.messenger.chat("wisp").unwrap().unwrap().joined_ms, T0);
    let wires = alice.pump(t1);
    assert_eq!(alice.posted.iter().filter(|p| p.messages == [id]).count(), 1);
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Sent]);
    assert_eq!(alice.messenger.status(&id), Some(DeliveryStatus::Sent));
    deliver_all(&mut bob, &wires, t1);
    bob.pump(t1);
    assert_eq!(received(&mut bob), [id]);
}

#[test]
fn a_one_to_one_message_stored_before_mvds_had_it_is_sent_after_a_restart() {
    let ((alice_dir, alice_key), (bob_dir, bob_key)) =
        (account("pre-mvds-alice"), account("pre-mvds-bob"));
    let alice_pub = alice_key.public_key();
    let bob_pub = bob_key.public_key();
    let chat_id = one_to_one_chat_id(&bob_pub);
    // What `send_text` commits before it hands the message to MVDS, written by hand: the
    // process stopped between the two.
    let id = {
        let message = wisp_messenger::text_message(
            T0,
            T0,
            "between two commits",
            &chat_id,
            wisp_messenger::proto::MessageType::OneToOne,
        );
        let (signed, raw) = wisp_messenger::SignedMessage::build(
            wisp_messenger::proto::Message::encode_to_vec(&message),
            wisp_messenger::proto::application_metadata_message::Type::ChatMessage,
            &alice_key,
        );
        let group = wisp_mvds::GroupId::one_to_one(&alice_pub, &bob_pub);
        let mvds_id = wisp_mvds::Message::new(group, (T0 / 1000) as i64, raw.clone()).id();
        let chat = StoredChat {
            id: chat_id.clone(),
            kind: ChatKind::OneToOne,
            name: chat_id.clone(),
            active: true,
            unread_count: 0,
            last_clock_value: T0,
            timestamp_ms: T0,
            joined_ms: T0,
            last_message: None,
        };
        let stored = StoredMessage {
            id: signed.id,
            chat_id: chat_id.clone(),
            from: alice_pub,
            outgoing: Some(DeliveryStatus::Sending),
            seen: true,
            whisper_timestamp_ms: T0,
            message,
            raw,
            deleted: false,
        };
        let path = database_path(alice_dir.path());
        let mut store = SqliteMessageStore::open(&path, &database_key(&alice_key)).unwrap();
        assert!(store.add_message(&chat, &stored, Some(mvds_id.0)).unwrap());
        signed.id
    };
    let t1 = T0 + 2_000;
    let mut alice = open(alice_dir.path(), &alice_key, 1, t1);
    let mut bob = open(bob_dir.path(), &bob_key, 2, t1);
    settle(&mut [&mut alice, &mut bob], t1);
    assert!(alice.posted.iter().any(|p| p.messages == [id]), "handed to MVDS and sent");
    assert_eq!(received(&mut bob), [id]);
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Sent, DeliveryStatus::Delivered]);
    let (messages, _) =
        bob.messenger.chat_messages(&one_to_one_chat_id(&alice_pub), None, 10).unwrap();
    assert_eq!(messages[0].message.text, "between two commits");
}

#[test]
fn send_chat_text_replies_by_chat_id() {
    let (mut alice, mut bob) = memory_pair();
    alice.messenger.join_public_chat("wisp").unwrap();
    bob.messenger.join_public_chat("wisp").unwrap();
    bob.pump(T0);
    let question = bob.messenger.send_chat_text("wisp", "question?", None, T0).unwrap();
    let wires = bob.pump(T0);
    alice.pump(T0);
    deliver_all(&mut alice, &wires, T0);
    let answer = alice.messenger.send_chat_text("wisp", "answer", Some(&question), T0 + 1).unwrap();
    let stored = alice.messenger.message(&answer).unwrap().unwrap();
    assert_eq!(stored.message.response_to, question.to_string());
    let wires = alice.pump(T0 + 1);
    deliver_all(&mut bob, &wires, T0 + 1);
    assert_eq!(
        bob.messenger.message(&answer).unwrap().unwrap().message.response_to,
        question.to_string()
    );

    // 1:1 by chat id, replying to a message of another chat: refused.
    let chat = alice.messenger.open_one_to_one_chat(&bob.public_key()).unwrap();
    let err = alice.messenger.send_chat_text(&chat, "re", Some(&question), T0 + 2).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { what: "response_to", .. }), "{err:?}");
    let direct = alice.messenger.send_chat_text(&chat, "direct", None, T0 + 2).unwrap();
    settle(&mut [&mut alice, &mut bob], T0 + 2);
    let bob_chat = one_to_one_chat_id(&alice.public_key());
    assert_eq!(bob.messenger.message(&direct).unwrap().unwrap().chat_id, bob_chat);
    assert!(matches!(
        alice.messenger.send_chat_text("nope", "x", None, T0),
        Err(Error::UnknownChat { .. })
    ));
}

#[test]
fn a_database_path_that_cannot_be_opened_is_named() {
    let dir = TempDir::new("bad-path");
    let path = database_path(&dir.path().join("missing-dir"));
    let err = try_open(&path, SecretKey::random(), 1).unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::Open { .. })), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

/// Bob's MVDS store on `messenger.sqlite` that, while `crash` is set, dies at the commit of
/// an operation that marked a message received: the transaction is rolled back, as a
/// process killed before its `COMMIT` reached the WAL leaves it.
struct CrashingMvds {
    inner: wisp_mvds::SqliteStore,
    crash: Rc<Cell<bool>>,
    marked: bool,
}

impl wisp_mvds::Store for CrashingMvds {
    fn add_peer(
        &mut self,
        group: &wisp_mvds::GroupId,
        peer: &wisp_mvds::PeerId,
    ) -> Result<bool, wisp_mvds::Error> {
        self.inner.add_peer(group, peer)
    }
    fn remove_peer(
        &mut self,
        group: &wisp_mvds::GroupId,
        peer: &wisp_mvds::PeerId,
    ) -> Result<bool, wisp_mvds::Error> {
        self.inner.remove_peer(group, peer)
    }
    fn peers(
        &self,
        group: &wisp_mvds::GroupId,
    ) -> Result<Vec<wisp_mvds::PeerId>, wisp_mvds::Error> {
        self.inner.peers(group)
    }
    fn put_message(
        &mut self,
        id: &wisp_mvds::MessageId,
        message: &wisp_mvds::Message,
    ) -> Result<(), wisp_mvds::Error> {
        self.inner.put_message(id, message)
    }
    fn message(
        &self,
        id: &wisp_mvds::MessageId,
    ) -> Result<Option<wisp_mvds::Message>, wisp_mvds::Error> {
        self.inner.message(id)
    }
    fn remove_message(&mut self, id: &wisp_mvds::MessageId) -> Result<(), wisp_mvds::Error> {
        self.inner.remove_message(id)
    }
    fn mark_received(&mut self, id: &wisp_mvds::MessageId) -> Result<bool, wisp_mvds::Error> {
        self.marked = true;
        self.inner.mark_received(id)
    }
    fn has_received(&self, id: &wisp_mvds::MessageId) -> Result<bool, wisp_mvds::Error> {
        self.inner.has_received(id)
    }
    fn record(
        &self,
        peer: &wisp_mvds::PeerId,
        id: &wisp_mvds::MessageId,
        kind: wisp_mvds::RecordKind,
    ) -> Result<Option<wisp_mvds::Record>, wisp_mvds::Error> {
        self.inner.record(peer, id, kind)
    }
    fn put_record(&mut self, record: &wisp_mvds::Record) -> Result<(), wisp_mvds::Error> {
        self.inner.put_record(record)
    }
    fn remove_record(
        &mut self,
        peer: &wisp_mvds::PeerId,
        id: &wisp_mvds::MessageId,
        kind: wisp_mvds::RecordKind,
    ) -> Result<Option<wisp_mvds::Record>, wisp_mvds::Error> {
        self.inner.remove_record(peer, id, kind)
    }
    fn has_records_for(&self, id: &wisp_mvds::MessageId) -> Result<bool, wisp_mvds::Error> {
        self.inner.has_records_for(id)
    }
    fn due_records(&self, now: u64) -> Result<Vec<wisp_mvds::Record>, wisp_mvds::Error> {
        self.inner.due_records(now)
    }
    fn next_due(&self) -> Result<Option<u64>, wisp_mvds::Error> {
        self.inner.next_due()
    }
    fn record_count(&self) -> Result<usize, wisp_mvds::Error> {
        self.inner.record_count()
    }
    fn begin(&mut self) -> Result<(), wisp_mvds::Error> {
        self.marked = false;
        self.inner.begin()
    }
    fn commit(&mut self) -> Result<(), wisp_mvds::Error> {
        if self.crash.get() && self.marked {
            self.inner.rollback()?;
            return Err(wisp_mvds::Error::Store("killed before the MVDS commit".into()));
        }
        self.inner.commit()
    }
    fn rollback(&mut self) -> Result<(), wisp_mvds::Error> {
        self.inner.rollback()
    }
}

type CrashingParty = Party<wisp_ratchet::SqliteStore, CrashingMvds, SqliteMessageStore>;

/// `key`'s messenger on `<dir>/messenger.sqlite` as `open_sqlite` builds it, but with the
/// MVDS store of [`CrashingMvds`]; started at `now`.
fn open_crashing(dir: &Path, key: &SecretKey, now: u64) -> (CrashingParty, Rc<Cell<bool>>) {
    let path = database_path(dir);
    let db_key = database_key(key);
    let connection = || wisp_messenger::db::open_connection(&path, &db_key).unwrap();
    let messages = SqliteMessageStore::from_connection(connection()).unwrap();
    let ratchet = wisp_ratchet::SqliteStore::new(connection()).unwrap();
    let crash = Rc::new(Cell::new(false));
    let mvds_store = CrashingMvds {
        inner: wisp_mvds::SqliteStore::from_connection(connection()).unwrap(),
        crash: crash.clone(),
        marked: false,
    };
    let transport = SecureTransport::new(key.clone(), "laptop", ratchet);
    let mvds =
        wisp_mvds::Node::new(wisp_mvds::Config::default(), mvds_store, StdRng::seed_from_u64(2));
    let messenger =
        Messenger::new(key.clone(), transport, mvds, messages, Config::default()).unwrap();
    let mut party = Party::with_messenger(key.clone(), messenger);
    party.messenger.start(now).unwrap();
    (party, crash)
}

#[test]
fn a_crash_between_the_message_commit_and_the_mvds_commit_loses_nothing() {
    let ((alice_dir, alice_key), (bob_dir, bob_key)) =
        (account("crash-mvds-alice"), account("crash-mvds-bob"));
    let mut alice = open(alice_dir.path(), &alice_key, 1, T0);
    alice.pump(T0);
    let alice_pub = alice_key.public_key();
    let bob_chat = one_to_one_chat_id(&alice_pub);

    // Bob stores the message, then dies before MVDS commits its receipt: nothing acked.
    let (id, first_copy) = {
        let (mut bob, crash) = open_crashing(bob_dir.path(), &bob_key, T0);
        bob.pump(T0);
        bob.take_events();
        let id = alice.messenger.send_text(&bob_key.public_key(), "do not lose me", T0).unwrap();
        let wires = alice.pump(T0);
        crash.set(true);
        let results: Vec<_> = wires.iter().filter_map(|w| bob.deliver(w, T0)).collect();
        assert_eq!(results, [Err(DropReason::Storage)]);
        assert_eq!(bob.messenger.counters().messages, 1);
        assert_eq!(bob.messenger.counters().storage_failures, 1);
        assert!(!bob.pump(T0).iter().any(|w| alice.open(w.topic, &w.data, w.timestamp).is_some()));
        assert_eq!(received(&mut bob), [id], "stored, so reported");
        (id, wires)
    };
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Sending, DeliveryStatus::Sent]);

    // Bob restarts; alice retransmits: a duplicate for bob's database, received by MVDS
    // now, acked, delivered.
    let t1 = T0 + 1_000;
    let mut bob = open(bob_dir.path(), &bob_key, 2, t1);
    settle(&mut [&mut alice, &mut bob], t1);
    assert!(statuses(&mut alice, id).is_empty(), "not acked before the retransmission");
    let due = alice.messenger.next_wakeup().unwrap().expect("a retransmission is pending");
    alice.messenger.tick(due).unwrap();
    settle(&mut [&mut alice, &mut bob], due);
    assert!(received(&mut bob).is_empty(), "reported once, before the crash");
    assert_eq!(bob.messenger.counters().duplicates, 1);
    assert_eq!(bob.messenger.counters().messages, 0);
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Delivered]);
    assert_eq!(alice.messenger.status(&id), Some(DeliveryStatus::Delivered));

    // The first copy arrives again: an MVDS duplicate now, acked, counted, nothing else.
    let late = due + 1_000;
    deliver_all(&mut bob, &first_copy, late);
    settle(&mut [&mut alice, &mut bob], late);
    assert!(received(&mut bob).is_empty());
    assert_eq!(bob.messenger.counters().duplicates, 2);
    assert!(statuses(&mut alice, id).is_empty(), "delivered exactly once");
    let (messages, _) = bob.messenger.chat_messages(&bob_chat, None, 10).unwrap();
    assert_eq!(messages.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    assert_eq!(messages[0].message.text, "do not lose me");
    assert_eq!(bob.messenger.chat(&bob_chat).unwrap().unwrap().unread_count, 1);
}

#[test]
fn a_one_to_one_message_the_store_could_not_take_is_not_acked() {
    let (mut bob, fail) = failing_party(2);
    let (mut alice, _) = failing_party(1);
    bob.take_events();
    alice.take_events();
    let id = alice.messenger.send_text(&bob.public_key(), "store me first", T0).unwrap();
    let wires = alice.pump(T0);

    // The ratchet step and nothing else: no message, no MVDS receipt, no ack.
    fail.set(true);
    deliver_all(&mut bob, &wires, T0);
    assert_eq!(bob.messenger.counters().storage_failures, 1);
    settle(&mut [&mut alice, &mut bob], T0);
    assert!(received(&mut bob).is_empty());
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Sending, DeliveryStatus::Sent]);

    // The store works again; the retransmission is stored, reported and acked, once.
    fail.set(false);
    let due = alice.messenger.next_wakeup().unwrap().expect("a retransmission is pending");
    alice.messenger.tick(due).unwrap();
    settle(&mut [&mut alice, &mut bob], due);
    assert_eq!(received(&mut bob), [id]);
    assert_eq!(statuses(&mut alice, id), [DeliveryStatus::Delivered]);
    assert_eq!(bob.messenger.counters().messages, 1);
    assert_eq!(bob.messenger.counters().duplicates, 0);

    // A late copy of the first attempt: an MVDS duplicate, acked again, not reported.
    deliver_all(&mut bob, &wires, due + 1);
    settle(&mut [&mut alice, &mut bob], due + 1);
    assert!(received(&mut bob).is_empty());
    assert!(statuses(&mut alice, id).is_empty());
    assert_eq!(bob.messenger.counters().duplicates, 1);
    let chat = one_to_one_chat_id(&alice.public_key());
    assert_eq!(bob.messenger.chat_messages(&chat, None, 10).unwrap().0.len(), 1);
}

#[test]
fn open_sqlite_runs_its_connections_in_wal_with_normal_and_the_ratchet_with_full() {
    let (dir, key) = account("durability");
    let party = open(dir.path(), &key, 1, T0);
    let messenger = &party.messenger;
    // PRAGMA synchronous: 1 = NORMAL, 2 = FULL.
    let connections = [
        ("messages", messenger.store().connection(), 1),
        ("ratchet", messenger.transport().store().connection(), 2),
        ("mvds", messenger.mvds().store().connection(), 1),
    ];
    for (name, conn, expected) in connections {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal", "{name}");
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, expected, "{name}: synchronous");
    }
    assert_eq!(wisp_messenger::db::SYNCHRONOUS, "NORMAL");
    assert_eq!(wisp_messenger::db::RATCHET_SYNCHRONOUS, "FULL");
}
