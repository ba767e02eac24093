//! Paging of pinned messages and reactions (status-go's `chatPinnedMessages` and
//! `emojiReactionsByChatID`): more items than one page, walked with the cursor chain.

mod common;

use common::Party;
use wisp_crypto::SecretKey;
use wisp_messenger::{Error, MessageId};

const T0: u64 = 1_800_000_000_000;

/// Alice in public chat "pages" with `n` messages of hers, oldest first.
fn alice_with(n: u64) -> (Party, Vec<MessageId>) {
    let mut alice = Party::new(SecretKey::random(), "alice", None, 1);
    alice.messenger.start(T0).unwrap();
    alice.messenger.join_public_chat("pages").unwrap();
    let ids = (0..n)
        .map(|i| {
            alice.messenger.send_chat_text("pages", &format!("m{i}"), None, T0 + i * 1_000).unwrap()
        })
        .collect();
    alice.pump(T0 + n * 1_000);
    (alice, ids)
}

#[test]
fn pinned_messages_come_in_pages_newest_message_first() {
    let (mut alice, ids) = alice_with(9);
    let now = T0 + 20_000;
    // Pinned: 0, 2, 3, 5, 6, 8 (pinned out of order), 4 pinned then unpinned, 7 deleted.
    for (n, i) in [8usize, 0, 5, 2, 6, 3, 4, 7].into_iter().enumerate() {
        alice.messenger.pin_message("pages", &ids[i], true, now + n as u64).unwrap();
    }
    alice.messenger.pin_message("pages", &ids[4], false, now + 100).unwrap();
    alice.messenger.delete_message(&ids[7]).unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let (page, next) = alice.messenger.pinned_messages("pages", cursor.as_deref(), 4).unwrap();
        pages += 1;
        assert!(page.len() <= 4);
        for (message, pin) in &page {
            assert!(pin.active);
            assert_eq!(pin.target, message.id.to_string());
            seen.push(message.id);
        }
        match next {
            Some(next) => {
                assert_eq!(next, page.last().unwrap().0.cursor(), "the last message's cursor");
                cursor = Some(next);
            }
            None => break,
        }
    }
    let want: Vec<MessageId> = [8, 6, 5, 3, 2, 0].iter().map(|&i| ids[i]).collect();
    assert_eq!(seen, want, "every pinned message once, newest message first");
    assert_eq!(pages, 2);
    // A limit of exactly the count: one page, no cursor.
    let (page, next) = alice.messenger.pinned_messages("pages", None, 6).unwrap();
    assert_eq!((page.len(), next), (6, None));
    // Other chats have none; a bad cursor is named.
    assert!(alice.messenger.pinned_messages("other", None, 4).unwrap().0.is_empty());
    let e = alice.messenger.pinned_messages("pages", Some("12"), 4).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { what: "cursor", .. }), "{e:?}");
}

#[test]
fn reactions_follow_the_page_of_chat_messages() {
    let (mut alice, ids) = alice_with(7);
    let now = T0 + 20_000;
    // Two reactions on every message; the "sad" (5) on message 1 withdrawn.
    for (i, id) in ids.iter().enumerate() {
        alice.messenger.send_reaction("pages", id, 1, false, now + i as u64).unwrap();
        alice.messenger.send_reaction("pages", id, 5, false, now + i as u64).unwrap();
    }
    alice.messenger.send_reaction("pages", &ids[1], 5, true, now + 50).unwrap();

    let mut cursor: Option<String> = None;
    let mut total = 0;
    loop {
        let (messages, next) =
            alice.messenger.chat_messages("pages", cursor.as_deref(), 3).unwrap();
        let reactions = alice.messenger.reactions_page("pages", cursor.as_deref(), 3).unwrap();
        let mut targets: Vec<String> = reactions.iter().map(|r| r.target.clone()).collect();
        targets.sort();
        targets.dedup();
        let mut page_ids: Vec<String> = messages.iter().map(|m| m.id.to_string()).collect();
        page_ids.sort();
        assert_eq!(targets, page_ids, "reactions of exactly this page's messages");
        assert!(reactions.iter().all(|r| r.active));
        assert!(reactions.windows(2).all(|w| w[0].clock >= w[1].clock), "newest first");
        total += reactions.len();
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(total, 7 * 2 - 1, "every reaction not withdrawn, once");
    let e = alice.messenger.reactions_page("pages", Some("not a cursor"), 3).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { what: "cursor", .. }), "{e:?}");
}
