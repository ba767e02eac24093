//! A group chat with a member who has two paired devices, through the in-test network:
//! accounts A (installations A1 and A2, paired both ways), B and C. Membership updates and
//! group messages reach every enabled installation of every member (status-go v0.79 keeps
//! our own key among the recipients while a device is paired), our own messages included;
//! a group created before the pairing reaches the second device with its next message.

mod common;

use common::{Party, settle};
use wisp_crypto::SecretKey;
use wisp_messenger::group::key_hex;
use wisp_messenger::{ChatKind, DeliveryStatus, StoredMessage};

const T0: u64 = 1_800_000_000_000;

/// A1, A2 (one account, paired), B and C.
struct Setup {
    a1: Party,
    a2: Party,
    b: Party,
    c: Party,
}

impl Setup {
    fn new() -> Self {
        let key = SecretKey::random();
        let mut a1 = Party::new(key.clone(), "a1-installation", None, 1);
        let mut a2 = Party::new(key, "a2-installation", None, 2);
        let mut b = Party::new(SecretKey::random(), "b-installation", None, 3);
        let mut c = Party::new(SecretKey::random(), "c-installation", None, 4);
        for p in [&mut a1, &mut a2, &mut b, &mut c] {
            p.messenger.start(T0).unwrap();
        }
        let mut setup = Self { a1, a2, b, c };
        setup.settle(T0);
        setup
    }

    fn settle(&mut self, now_ms: u64) {
        let Self { a1, a2, b, c } = self;
        settle(&mut [a1, a2, b, c], now_ms);
    }

    /// Pairs A1 and A2 both ways (PairInstallation, then enabled on each side).
    fn pair(&mut self, now_ms: u64) {
        self.a2.messenger.send_pair_installation(now_ms).unwrap();
        self.settle(now_ms);
        self.a1.messenger.enable_installation("a2-installation", now_ms + 1).unwrap();
        self.a1.messenger.send_pair_installation(now_ms + 1).unwrap();
        self.settle(now_ms + 1);
        self.a2.messenger.enable_installation("a1-installation", now_ms + 2).unwrap();
        self.settle(now_ms + 2);
        assert!(self.a1.messenger.has_paired_devices().unwrap());
        assert!(self.a2.messenger.has_paired_devices().unwrap());
    }
}

/// The texts of chat `chat` on `party`, oldest first, with whether each is ours.
fn texts(party: &Party, chat: &str) -> Vec<(String, bool)> {
    let mut messages: Vec<StoredMessage> =
        party.messenger.chat_messages(chat, None, 100).unwrap().0;
    messages.reverse();
    messages.into_iter().map(|m| (m.message.text, m.outgoing.is_some())).collect()
}

fn has(party: &Party, chat: &str, text: &str) -> bool {
    texts(party, chat).iter().any(|(t, _)| t == text)
}

#[test]
fn second_device_follows_a_group_its_account_created() {
    let mut s = Setup::new();
    s.pair(T0 + 1_000);
    let (a, b, c) = (s.a1.public_key(), s.b.public_key(), s.c.public_key());

    // A1 creates the group; the invitation reaches B, C and A2 (joined: A created it).
    let chat_id = s.a1.messenger.create_group_chat("trio", &[b, c], [3; 16], T0 + 2_000).unwrap();
    s.settle(T0 + 2_000);
    for p in [&s.a2, &s.b, &s.c] {
        let chat = p.messenger.chat(&chat_id).unwrap().expect("group known");
        assert_eq!(
            (chat.kind, chat.name.as_str(), chat.active),
            (ChatKind::PrivateGroup, "trio", true)
        );
        assert_eq!(p.messenger.group_state(&chat_id).unwrap().unwrap().members.len(), 3);
    }
    assert!(s.a2.messenger.group_invitations().unwrap().is_empty(), "our own group: no invitation");

    // B and C accept: A2 sees them joined.
    s.b.messenger.confirm_joining_group(&chat_id, T0 + 3_000).unwrap();
    s.c.messenger.confirm_joining_group(&chat_id, T0 + 3_000).unwrap();
    s.settle(T0 + 3_000);
    for p in [&s.a1, &s.a2] {
        let state = p.messenger.group_state(&chat_id).unwrap().unwrap();
        assert!(state.has_joined(&key_hex(&b)) && state.has_joined(&key_hex(&c)), "{state:?}");
    }

    // B's and C's messages reach both of A's devices; A1's own reaches A2 as ours.
    s.b.messenger.send_group_text(&chat_id, "from b", None, T0 + 4_000).unwrap();
    s.c.messenger.send_group_text(&chat_id, "from c", None, T0 + 4_100).unwrap();
    let from_a1 = s.a1.messenger.send_group_text(&chat_id, "from a1", None, T0 + 4_200).unwrap();
    s.settle(T0 + 4_200);
    for device in [&s.a1, &s.a2] {
        let got = texts(device, &chat_id);
        for (text, ours) in [("from b", false), ("from c", false), ("from a1", true)] {
            assert!(got.contains(&(text.to_owned(), ours)), "{text} on {got:?}");
        }
    }
    assert_eq!(
        s.a2.messenger.message(&from_a1).unwrap().unwrap().outgoing,
        Some(DeliveryStatus::Sent)
    );
    for p in [&s.b, &s.c] {
        assert!(has(p, &chat_id, "from a1"));
    }

    // A2 sends: B, C and A1 get it (on A1 as ours).
    let from_a2 = s.a2.messenger.send_group_text(&chat_id, "from a2", None, T0 + 5_000).unwrap();
    s.settle(T0 + 5_000);
    for p in [&s.b, &s.c] {
        let stored = p.messenger.message(&from_a2).unwrap().expect("A2's message arrived");
        assert_eq!((stored.message.text.as_str(), stored.from), ("from a2", a));
    }
    assert!(texts(&s.a1, &chat_id).contains(&("from a2".to_owned(), true)));

    // A1 renames; A2 shows the new name.
    s.a1.messenger.rename_group_chat(&chat_id, "quartet", T0 + 6_000).unwrap();
    s.settle(T0 + 6_000);
    for p in [&s.a2, &s.b, &s.c] {
        assert_eq!(p.messenger.chat(&chat_id).unwrap().unwrap().name, "quartet");
    }

    // A1 removes C: A2 sees C gone, and C receives nothing new from either device or B.
    s.a1.messenger.remove_group_member(&chat_id, &c, T0 + 7_000).unwrap();
    s.settle(T0 + 7_000);
    let state = s.a2.messenger.group_state(&chat_id).unwrap().unwrap();
    assert!(!state.is_member(&key_hex(&c)) && state.is_member(&key_hex(&b)));
    assert!(!s.c.messenger.chat(&chat_id).unwrap().unwrap().active);
    s.a1.messenger.send_group_text(&chat_id, "a1 without c", None, T0 + 8_000).unwrap();
    s.a2.messenger.send_group_text(&chat_id, "a2 without c", None, T0 + 8_000).unwrap();
    s.b.messenger.send_group_text(&chat_id, "b without c", None, T0 + 8_000).unwrap();
    s.settle(T0 + 8_000);
    for text in ["a1 without c", "a2 without c", "b without c"] {
        assert!(!has(&s.c, &chat_id, text), "C got {text}");
        assert!(
            has(&s.b, &chat_id, text) && has(&s.a1, &chat_id, text) && has(&s.a2, &chat_id, text)
        );
    }
    for p in [&s.a1, &s.a2, &s.b, &s.c] {
        assert_eq!(p.messenger.counters().group_events_rejected, 0);
    }
}

#[test]
fn groups_created_by_others_or_before_pairing_reach_the_second_device() {
    let mut s = Setup::new();
    let (b, c) = (s.b.public_key(), s.c.public_key());
    let a = s.a1.public_key();

    // Before the pairing: A1 makes a group with B and C; A2 knows nothing of it.
    let early = s.a1.messenger.create_group_chat("early", &[b, c], [5; 16], T0 + 1_000).unwrap();
    s.settle(T0 + 1_000);
    s.b.messenger.confirm_joining_group(&early, T0 + 1_500).unwrap();
    s.settle(T0 + 1_500);
    assert!(s.a2.messenger.chat(&early).unwrap().is_none());

    s.pair(T0 + 2_000);
    // status-go v0.79's SyncInstallation carries contacts, public chats and the account,
    // no group chats: syncDevices does not send the group.
    s.a1.messenger.sync_devices(T0 + 3_000).unwrap();
    s.settle(T0 + 3_000);
    assert!(s.a2.messenger.chat(&early).unwrap().is_none());
    // A1's next message in it carries the whole event log to A2 as well.
    s.a1.messenger.send_group_text(&early, "still here", None, T0 + 4_000).unwrap();
    s.settle(T0 + 4_000);
    let chat = s.a2.messenger.chat(&early).unwrap().expect("the group reached A2");
    assert_eq!((chat.name.as_str(), chat.active), ("early", true));
    assert!(texts(&s.a2, &early).contains(&("still here".to_owned(), true)));
    let state = s.a2.messenger.group_state(&early).unwrap().unwrap();
    assert!(state.has_joined(&key_hex(&b)) && !state.has_joined(&key_hex(&c)));
    // And B's answer (B knows A2 now from A1's bundle) reaches both devices.
    s.b.messenger.send_group_text(&early, "welcome a2", None, T0 + 5_000).unwrap();
    s.settle(T0 + 5_000);
    assert!(has(&s.a1, &early, "welcome a2") && has(&s.a2, &early, "welcome a2"));

    // After the pairing, B creates a group with A and C: both of A's devices are invited,
    // and A2 accepting is A accepting, on A1 too.
    let by_b = s.b.messenger.create_group_chat("bees", &[a, c], [9; 16], T0 + 6_000).unwrap();
    s.settle(T0 + 6_000);
    for p in [&s.a1, &s.a2] {
        assert_eq!(p.messenger.group_invitations().unwrap(), std::slice::from_ref(&by_b));
    }
    s.a2.messenger.confirm_joining_group(&by_b, T0 + 7_000).unwrap();
    s.settle(T0 + 7_000);
    for p in [&s.a1, &s.b] {
        let state = p.messenger.group_state(&by_b).unwrap().unwrap();
        assert!(state.has_joined(&key_hex(&a)), "A's join seen");
    }
    assert!(s.a1.messenger.group_invitations().unwrap().is_empty());
    s.b.messenger.send_group_text(&by_b, "buzz", None, T0 + 8_000).unwrap();
    s.settle(T0 + 8_000);
    assert!(has(&s.a1, &by_b, "buzz") && has(&s.a2, &by_b, "buzz"));
}
