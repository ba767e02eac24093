//! MVDS, Minimum Viable Data Synchronization ([2/MVDS], [4/MVDS-META]): reliable delivery of
//! 1:1 and private-group chat messages over a lossy, delayed network, as status-go speaks it.
//!
//! - [`Payload`] and [`Message`]: the wire types (`proto/mvds.proto`, status-go's field numbers
//!   5001-5004 and 6001-6003), decoded within [`Limits`]; [`Message::id`] is
//!   `sha256("MESSAGE_ID" || group_id || timestamp_le64 || body)` (DECISIONS 11);
//!   [`GroupId::one_to_one`] is the group status-go uses between two identities.
//! - [`Node`]: the sans-io state machine of one node. [`Node::send`], [`Node::on_payload`] and
//!   [`Node::tick`] take the current time; `tick` returns the payloads to send and the
//!   give-ups. Batch mode (status-go's default) and interactive mode (offer, request, ack);
//!   retransmission with exponential backoff (30 s x 2^(n-1), capped, plus jitter from an
//!   injected [`rand_core::Rng`]) and a give-up after [`Config::max_attempts`].
//! - [`Store`]: group membership, message bodies, delivered ids and the per-peer records, with
//!   [`MemoryStore`] and (feature `sqlite`, default) `SqliteStore`; a node rebuilt on the same
//!   store resumes retransmission where it stopped.
//!
//! Group membership is explicit: [`Node::add_peer`] makes a peer a member of a group, and a
//! message sent to the group goes to every member (status-go shares with every chat member;
//! for it each group is the pair [`GroupId::one_to_one`]).
//!
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use wisp_mvds::{Config, Event, GroupId, MemoryStore, Node, PeerId};
//!
//! let group = GroupId([7; 32]);
//! let (alice, bob) = (PeerId(b"alice".to_vec()), PeerId(b"bob".to_vec()));
//! let mut a = Node::new(Config::default(), MemoryStore::new(), StdRng::seed_from_u64(1));
//! let mut b = Node::new(Config::default(), MemoryStore::new(), StdRng::seed_from_u64(2));
//! a.add_peer(group, bob.clone())?;
//! b.add_peer(group, alice.clone())?;
//!
//! let id = a.send(group, b"hello".to_vec(), 1_000)?;
//! for out in a.tick(1_000)?.payloads {
//!     let events = b.on_payload(&alice, &out.payload.to_bytes(), 1_100)?;
//!     assert!(matches!(&events[..], [Event::Received { id: got, .. }] if *got == id));
//! }
//! for out in b.tick(1_100)?.payloads {
//!     let events = a.on_payload(&bob, &out.payload.to_bytes(), 1_200)?;
//!     assert!(matches!(&events[..], [Event::Delivered { .. }]));
//! }
//! assert_eq!(a.next_wakeup()?, None); // acknowledged: nothing left to retransmit
//! # Ok::<(), wisp_mvds::Error>(())
//! ```
//!
//! [2/MVDS]: https://specs.status.im/spec/2
//! [4/MVDS-META]: https://specs.status.im/spec/4

mod error;
mod node;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod wire;

pub use error::Error;
pub use node::{
    Config, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, DEFAULT_JITTER_MAX_MS,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_OUTGOING_PAYLOAD_BYTES, Event, Mode, Node, Outgoing, Tick,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION, SqliteStore};
pub use store::{MemoryStore, PeerId, Record, RecordKind, Store};
pub use wire::{
    DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_RECORDS, FIELD_ACKS, FIELD_MESSAGES, FIELD_OFFERS,
    FIELD_REQUESTS, GROUP_ID_LEN, GroupId, Limits, MESSAGE_ID_LEN, MESSAGE_ID_PREFIX, Message,
    MessageId, Metadata, Payload,
};
