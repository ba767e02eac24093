//! Status rendezvous `/rend/0.1.0`: the protocol status-go's peer pool uses to register its
//! node record under a topic (`whisper`, `whispermail`) at a rendezvous server and to discover
//! the records of others.
//!
//! It runs over libp2p (multistream-select, noise, yamux), not devp2p, and is not
//! libp2p-rendezvous: records are ENRs, messages are RLP, TTLs are at most 20 s and there is no
//! UNREGISTER (`rendezvous/status-im-rendezvous-README.md`; IMPLEMENTER-NOTES §2 item 7;
//! `notes/discovery.md` §Status rendezvous).
//!
//! - [`message`]: the messages and their wire form (always built).
//! - [`server`]: the server's registry as a sans-io state machine (always built).
//! - `net` (feature `rendezvous`): the libp2p glue, a `request_response` codec for
//!   `/rend/0.1.0`, a client and a server swarm, the `/ethv4/<peer id>` address form.

pub mod message;
#[cfg(feature = "rendezvous")]
pub mod net;
pub mod server;

pub use message::{
    Discover, DiscoverResponse, Message, MessageError, RecordBytes, Register, RegisterResponse,
    Status,
};
pub use server::{Server, ServerConfig};

/// The topic every Status relay registers.
pub const TOPIC_WHISPER: &str = "whisper";
/// The topic a mailserver registers as well.
pub const TOPIC_WHISPERMAIL: &str = "whispermail";
