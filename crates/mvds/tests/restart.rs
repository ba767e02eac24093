//! Persistence: a node on a SQLite file is dropped mid-retransmission and rebuilt from the same
//! file; it continues where it stopped (same send count, same send epoch), and a receiver
//! rebuilt from its file still delivers each message once.

use criterion as _;
use hex as _;
use proptest as _;
use prost as _;
use rand_core as _;
use rusqlite as _;
use serde_json as _;
use thiserror as _;
use wisp_crypto as _;

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wisp_mvds::{Config, Event, GroupId, MessageId, Node, PeerId, RecordKind, SqliteStore, Store};

const G: GroupId = GroupId([0x42; 32]);

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "wisp-mvds-{name}-{}-{:?}.sqlite",
            std::process::id(),
            std::thread::current().id()
        ));
        let db = Self(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

fn config() -> Config {
    Config { jitter_max_ms: 0, ..Config::default() }
}

fn open(db: &TempDb, seed: u64) -> Node<SqliteStore, StdRng> {
    Node::new(config(), SqliteStore::open(&db.0).unwrap(), StdRng::seed_from_u64(seed))
}

#[test]
fn retransmission_resumes_after_restart() {
    let (alice, bob) = (PeerId(b"alice".to_vec()), PeerId(b"bob".to_vec()));
    let db_a = TempDb::new("alice");
    let db_b = TempDb::new("bob");

    // Alice sends; the first two transmissions are lost.
    let mut a = open(&db_a, 1);
    a.add_peer(G, bob.clone()).unwrap();
    let id = a.send(G, b"persist me".to_vec(), 10_000).unwrap();
    assert_eq!(a.tick(10_000).unwrap().payloads.len(), 1); // lost
    assert_eq!(a.next_wakeup().unwrap(), Some(40_000));
    assert_eq!(a.tick(40_000).unwrap().payloads.len(), 1); // lost
    drop(a);

    // Restart: the record comes back with its count and epoch (30 s, then 60 s).
    let mut a = open(&db_a, 2);
    let rec = a.store().record(&bob, &id, RecordKind::Message).unwrap().unwrap();
    assert_eq!((rec.send_count, rec.send_epoch), (2, 100_000));
    assert_eq!(a.peers(&G).unwrap(), vec![bob.clone()]);
    assert_eq!(a.next_wakeup().unwrap(), Some(100_000));
    assert!(a.tick(99_999).unwrap().payloads.is_empty());
    let third = a.tick(100_000).unwrap().payloads;
    assert_eq!(third.len(), 1);
    let rec = a.store().record(&bob, &id, RecordKind::Message).unwrap().unwrap();
    assert_eq!((rec.send_count, rec.send_epoch), (3, 220_000));

    // Bob receives the third transmission, restarts before acking, receives it again.
    let bytes = third[0].payload.to_bytes();
    let mut b = open(&db_b, 3);
    b.add_peer(G, alice.clone()).unwrap();
    let ev = b.on_payload(&alice, &bytes, 100_500).unwrap();
    assert!(matches!(&ev[..], [Event::Received { id: got, .. }] if *got == id));
    drop(b); // the ack was never sent
    let mut b = open(&db_b, 4);
    assert!(b.tick(100_600).unwrap().payloads.is_empty(), "acks are not persisted");

    let fourth = a.tick(220_000).unwrap().payloads;
    let ev = b.on_payload(&alice, &fourth[0].payload.to_bytes(), 220_300).unwrap();
    assert!(ev.is_empty(), "delivered once across the restart");
    let ack = b.tick(220_300).unwrap().payloads;
    assert_eq!(ack[0].payload.acks, vec![id]);

    // Alice restarts once more, then gets the ack: retransmission stops, the body is dropped.
    drop(a);
    let mut a = open(&db_a, 5);
    let ev = a.on_payload(&bob, &ack[0].payload.to_bytes(), 220_600).unwrap();
    assert_eq!(ev, vec![Event::Delivered { peer: bob, group: G, id }]);
    assert_eq!(a.next_wakeup().unwrap(), None);
    assert_eq!(a.store().message_count().unwrap(), 0);
    assert!(a.tick(u64::MAX / 2).unwrap().payloads.is_empty());
}

#[test]
fn interactive_state_survives_restart() {
    let (alice, bob) = (PeerId(b"alice".to_vec()), PeerId(b"bob".to_vec()));
    let db_b = TempDb::new("bob-interactive");
    let mut b = open(&db_b, 1);
    b.add_peer(G, alice.clone()).unwrap();
    let id = MessageId([7; 32]);
    let offer = wisp_mvds::Payload { offers: vec![id], ..Default::default() };
    b.on_decoded_payload(&alice, offer, 0).unwrap();
    assert_eq!(b.tick(0).unwrap().payloads[0].payload.requests, vec![id]);
    drop(b);
    let mut b = open(&db_b, 2);
    let rec = b.store().record(&alice, &id, RecordKind::Request).unwrap().unwrap();
    assert_eq!((rec.send_count, rec.send_epoch, rec.group), (1, 30_000, None));
    assert_eq!(b.tick(30_000).unwrap().payloads[0].payload.requests, vec![id]);
    let _ = bob;
}
