//! Fuzzes the group chat decoders of `wisp-messenger`: the input as a
//! `MembershipUpdateMessage`, its events opened (signature recovered over the chat id) and
//! replayed into a group state; and the input split into signed events directly.
//!
//! Checks: no panic; every applied event is one of the opened ones; members stay bounded.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_messenger::group::{GroupState, MAX_MEMBERS, open_events};

const CHAT_ID: &str = "f3ee2cb6-2124-4162-b2a2-659afab1e430-0x0471102fc86b5c576c72f411e083cc03eb83d1b55065406ba2a483208dbb5074abc8eda67660454cf1ab064b338250b5ce1f64b57c5eaaf6f1ad792196cebece9b";

fn replay(chat_id: &str, events: &[Vec<u8>]) {
    if let Ok((opened, _bad)) = open_events(chat_id, events) {
        let (state, applied, rejected) = GroupState::replay(chat_id, &opened);
        assert!(applied.len() + rejected.len() <= opened.len());
        assert!(state.members.len() <= MAX_MEMBERS);
        assert!(state.admins.iter().all(|a| state.is_member(a)));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(update) = wisp_messenger::proto::decode_membership_update(data) {
        replay(&update.chat_id, &update.events);
        replay(CHAT_ID, &update.events);
    }
    let chunks: Vec<Vec<u8>> = data.split(|b| *b == 0xa5).map(<[u8]>::to_vec).collect();
    replay(CHAT_ID, &chunks);
});
