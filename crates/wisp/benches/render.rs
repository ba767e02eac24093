//! Render time of a full `wisp chat` screen (ratatui's `TestBackend`, so the terminal's own
//! speed is not measured): 200×50 and 80×24, the open chat one of 20 chats holding 1 000
//! messages each. Also prints the resident memory the 20 000 messages add to the process
//! (VmRSS from /proc before and after they are loaded into the app state).
//!
//! `cargo bench -p wisp --bench render`

#![allow(unused_crate_dependencies, dead_code, unreachable_pub, unused_imports)]

// The client's screen code, compiled into the bench (the binary crate has no library); its
// modules refer to each other as siblings (`super::app`), so they sit at the root here.
#[path = "../src/tui/app.rs"]
mod app;
#[path = "../src/tui/keys.rs"]
mod keys;
#[path = "../src/tui/ui.rs"]
mod ui;

use crate::{
    app::{
        App, Chat, ChatKind, Delivery, Event, Identicon, Message, MessageKind, NetStatus, Quote,
    },
    keys::KeyMap,
};
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::{Terminal, backend::TestBackend};

const CHATS: usize = 20;
const MESSAGES: usize = 1000;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn loaded_app() -> App {
    let mut app = App::new(false);
    let chats = (0..CHATS)
        .map(|c| Chat {
            id: format!("room-{c}"),
            kind: if c % 3 == 0 { ChatKind::OneToOne } else { ChatKind::Public },
            name: format!("#room-{c}"),
            unread: c as u64,
            last: Some("Someone: the last message of the chat".into()),
            activity: 1000 - c as u64,
            not_joined: Vec::new(),
            last_from: None,
        })
        .collect();
    app.handle(Event::Chats(chats));
    for c in 0..CHATS {
        let page = (0..MESSAGES)
            .map(|i| Message {
                id: format!("0x{c:04}{i:060}"),
                from: format!("0x04{:0128}", i % 7),
                alias: ["Quiet Brave Owl", "Bob Jolly Hare", "日本の 名前 です"][i % 3].into(),
                text: format!(
                    "message {i} of chat {c}: a line of ordinary length, with some words in it 😀"
                ),
                clock: i as u64,
                timestamp_ms: 1_795_315_186_186 + i as u64 * 1000,
                delivery: (i % 2 == 0).then_some(Delivery::Delivered),
                quote: (i % 10 == 0).then(|| Quote {
                    alias: "Bob Jolly Hare".into(),
                    text: "an earlier line".into(),
                }),
                kind: MessageKind::Text,
                identicon: Some(Identicon {
                    cells: [[true, false, true, false, true]; 5],
                    rgb: [200, 100, 50],
                }),
                rtl: false,
            })
            .collect();
        app.handle(Event::Messages {
            chat: format!("room-{c}"),
            page,
            cursor: String::new(),
            older: true,
        });
    }
    app.handle(Event::Status(NetStatus {
        online: true,
        peers: 5,
        mailserver: Some("1 trusted".into()),
        history: Some((3, 8)),
    }));
    app
}

fn bench(c: &mut Criterion) {
    let before = rss_kib();
    let app = loaded_app();
    let after = rss_kib();
    println!(
        "app state with {CHATS} chats × {MESSAGES} messages: VmRSS {:.1} MiB → {:.1} MiB (+{:.1} MiB)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0
    );
    let keys = KeyMap::default();
    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let mut app = app.clone();
        app.handle(Event::Resize(w, h));
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
        c.bench_function(&format!("render {w}x{h}, 20 chats x 1000 messages"), |b| {
            b.iter(|| {
                terminal.draw(|f| ui::draw(f, &app, &keys)).expect("drawn");
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
