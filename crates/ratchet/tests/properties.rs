//! Property tests: random interleavings of sends and receives between two parties, with loss
//! and reordering, always decrypt; a store saved and restored at any point (a memory snapshot,
//! or a SQLite database closed and reopened) continues correctly; wire types round trip.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use wisp_crypto::SecretKey;
use wisp_ratchet::proto::{self, Message as _};
use wisp_ratchet::{MemoryStore, SecureTransport, SeededEntropy, SqliteStore, Store};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

#[derive(Clone, Debug)]
enum Op {
    /// A party sends a message of `len` bytes.
    Send { from_a: bool, len: usize },
    /// The oldest-but-`pick` message in flight towards a party arrives (reordering).
    Deliver { to_a: bool, pick: usize },
    /// A message in flight towards a party is lost.
    Lose { to_a: bool, pick: usize },
    /// A party's state is saved and restored.
    Restart { a: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0usize..64).prop_map(|(from_a, len)| Op::Send { from_a, len }),
        4 => (any::<bool>(), 0usize..8).prop_map(|(to_a, pick)| Op::Deliver { to_a, pick }),
        1 => (any::<bool>(), 0usize..8).prop_map(|(to_a, pick)| Op::Lose { to_a, pick }),
        1 => any::<bool>().prop_map(|a| Op::Restart { a }),
    ]
}

/// How a party's store is saved and restored.
trait Persistence: Sized {
    type S: Store;
    fn open(&mut self, party: usize) -> Self::S;
    /// Saves `store` and returns the restored copy.
    fn restart(&mut self, party: usize, store: Self::S) -> Self::S;
}

/// Snapshot by cloning the memory store; the old copy is dropped.
struct Snapshot;

impl Persistence for Snapshot {
    type S = MemoryStore;
    fn open(&mut self, _: usize) -> MemoryStore {
        MemoryStore::new()
    }
    fn restart(&mut self, _: usize, store: MemoryStore) -> MemoryStore {
        let saved = store.clone();
        drop(store);
        saved
    }
}

/// Close the SQLite database and open it again.
struct Database {
    paths: [PathBuf; 2],
}

impl Database {
    fn new(case: u64) -> Self {
        let path = |party: usize| {
            let path = std::env::temp_dir()
                .join(format!("wisp-ratchet-prop-{}-{case}-{party}.sqlite", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            path
        };
        Self { paths: [path(0), path(1)] }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        for path in &self.paths {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

impl Persistence for Database {
    type S = SqliteStore;
    fn open(&mut self, party: usize) -> SqliteStore {
        SqliteStore::open(&self.paths[party]).unwrap()
    }
    fn restart(&mut self, party: usize, store: SqliteStore) -> SqliteStore {
        drop(store);
        self.open(party)
    }
}

struct Party<S> {
    key: SecretKey,
    installation: &'static str,
    transport: Option<SecureTransport<S>>,
    restarts: u8,
    seed: u8,
}

impl<S: Store> Party<S> {
    fn transport(&mut self) -> &mut SecureTransport<S> {
        self.transport.as_mut().unwrap()
    }

    fn start(&mut self, store: S) {
        self.restarts = self.restarts.wrapping_add(1);
        let entropy = SeededEntropy::new(
            [self.seed, self.restarts, 0x5a, 0xa5].repeat(8).try_into().unwrap(),
        );
        self.transport = Some(
            SecureTransport::new(self.key.clone(), self.installation, store).with_entropy(entropy),
        );
    }
}

/// Runs `ops` between two parties that have first set up their session (DH-mode first
/// contact, X3DH reply, answer), then delivers everything still in flight. Every delivered
/// message must decrypt to what was sent.
fn run<P: Persistence>(mut persistence: P, seed: u8, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut parties = [
        Party {
            key: SecretKey::from_bytes(&[0xa1; 32]).unwrap(),
            installation: "a",
            transport: None,
            restarts: 0,
            seed,
        },
        Party {
            key: SecretKey::from_bytes(&[0xb2; 32]).unwrap(),
            installation: "b",
            transport: None,
            restarts: 0,
            seed: seed ^ 0xff,
        },
    ];
    for (i, party) in parties.iter_mut().enumerate() {
        let store = persistence.open(i);
        party.start(store);
    }
    let publics = [parties[0].key.public_key(), parties[1].key.public_key()];
    // In flight towards party i: (encoded message, plaintext).
    let mut in_flight: [Vec<(Vec<u8>, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
    let mut counter = 0u32;

    let mut send = |parties: &mut [Party<P::S>; 2],
                    in_flight: &mut [Vec<(Vec<u8>, Vec<u8>)>; 2],
                    from: usize,
                    len: usize| {
        counter += 1;
        let mut plaintext = counter.to_le_bytes().to_vec();
        plaintext.resize(len.max(4), from as u8);
        let to = 1 - from;
        let message =
            parties[from].transport().build_direct_message(&publics[to], &plaintext, t0()).unwrap();
        in_flight[to].push((message.encode(), plaintext));
    };
    let deliver = |parties: &mut [Party<P::S>; 2],
                   in_flight: &mut [Vec<(Vec<u8>, Vec<u8>)>; 2],
                   to: usize,
                   pick: usize|
     -> Result<(), TestCaseError> {
        if in_flight[to].is_empty() {
            return Ok(());
        }
        let (bytes, plaintext) = in_flight[to].remove(pick % in_flight[to].len());
        let message = proto::decode_protocol_message(&bytes).unwrap();
        let received = parties[to].transport().handle_message(&publics[1 - to], &message, t0());
        match received {
            Ok(received) => prop_assert_eq!(received.payload, Some(plaintext)),
            Err(err) => prop_assert!(false, "delivery to {} failed: {:?}", to, err),
        }
        Ok(())
    };

    // Session set-up, in order.
    send(&mut parties, &mut in_flight, 0, 8);
    deliver(&mut parties, &mut in_flight, 1, 0)?;
    send(&mut parties, &mut in_flight, 1, 8);
    deliver(&mut parties, &mut in_flight, 0, 0)?;

    for op in ops {
        match *op {
            Op::Send { from_a, len } => {
                send(&mut parties, &mut in_flight, usize::from(!from_a), len)
            }
            Op::Deliver { to_a, pick } => {
                deliver(&mut parties, &mut in_flight, usize::from(!to_a), pick)?
            }
            Op::Lose { to_a, pick } => {
                let queue = &mut in_flight[usize::from(!to_a)];
                if !queue.is_empty() {
                    let index = pick % queue.len();
                    queue.remove(index);
                }
            }
            Op::Restart { a } => {
                let i = usize::from(!a);
                let store = parties[i].transport.take().unwrap().into_store();
                let restored = persistence.restart(i, store);
                parties[i].start(restored);
            }
        }
    }
    for to in [0, 1] {
        while !in_flight[to].is_empty() {
            deliver(&mut parties, &mut in_flight, to, 0)?;
        }
    }
    // Both can still talk.
    send(&mut parties, &mut in_flight, 0, 4);
    deliver(&mut parties, &mut in_flight, 1, 0)?;
    send(&mut parties, &mut in_flight, 1, 4);
    deliver(&mut parties, &mut in_flight, 0, 0)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn interleavings_always_decrypt(seed in any::<u8>(), ops in prop::collection::vec(op(), 0..64)) {
        run(Snapshot, seed, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_reopened_at_any_point_continues(
        case in any::<u64>(),
        seed in any::<u8>(),
        ops in prop::collection::vec(op(), 0..40),
    ) {
        run(Database::new(case), seed, &ops)?;
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn direct_message() -> impl Strategy<Value = proto::DirectMessageProtocol> {
    (
        prop::option::of(
            (bytes(40), bytes(40)).prop_map(|(key, id)| proto::X3dhHeader { key, id }),
        ),
        prop::option::of(
            (bytes(40), any::<u32>(), any::<u32>(), bytes(40))
                .prop_map(|(key, n, pn, id)| proto::DrHeader { key, n, pn, id }),
        ),
        bytes(200),
        prop::option::of(bytes(40).prop_map(|key| proto::DhHeader { key })),
    )
        .prop_map(|(x3dh_header, dr_header, payload, dh_header)| {
            proto::DirectMessageProtocol { x3dh_header, dr_header, payload, dh_header }
        })
}

fn bundle() -> impl Strategy<Value = proto::Bundle> {
    (
        bytes(40),
        prop::collection::btree_map(
            "[a-z0-9-]{0,12}",
            (bytes(40), any::<u32>(), any::<u32>()),
            0..3,
        ),
        bytes(70),
        any::<i64>(),
    )
        .prop_map(|(identity, spks, signature, timestamp)| proto::Bundle {
            identity,
            signed_pre_keys: spks
                .into_iter()
                .map(|(id, (signed_pre_key, version, protocol_version))| {
                    (id, proto::SignedPreKey { signed_pre_key, version, protocol_version })
                })
                .collect(),
            signature,
            timestamp,
        })
}

proptest! {
    #[test]
    fn protocol_message_round_trips(
        installation_id in "[a-z0-9-]{0,40}",
        bundles in prop::collection::vec(bundle(), 0..3),
        direct in prop::collection::btree_map("[a-z0-9-]{0,12}", direct_message(), 0..3),
        public_message in bytes(100),
    ) {
        let message = proto::ProtocolMessage {
            installation_id,
            bundles,
            direct_message: direct.into_iter().collect::<BTreeMap<_, _>>(),
            public_message,
        };
        let encoded = message.encode_to_vec();
        prop_assert_eq!(encoded.len(), message.encoded_len());
        let decoded = proto::decode_protocol_message(&encoded).unwrap();
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(decoded.encode_to_vec(), encoded);
    }
}
