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

/// How long statusd asks a server to keep its record (notes/discovery.md: 10 s).
pub const REGISTER_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// How often statusd renews its registration (notes/discovery.md: every 5 s).
pub const REGISTER_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// The topics a node with `roles` registers: a light node none; a relay `whisper`; a
/// mailserver `whisper` and `whispermail` (`status/1-client.md`, IMPLEMENTER-NOTES §2 item 6).
pub fn register_topics(roles: crate::enr::WakuRoles) -> &'static [&'static str] {
    use crate::enr::WakuRoles;
    if roles.contains(WakuRoles::LIGHT) {
        &[]
    } else if roles.contains(WakuRoles::MAILSERVER) {
        &[TOPIC_WHISPER, TOPIC_WHISPERMAIL]
    } else if roles.contains(WakuRoles::RELAY) {
        &[TOPIC_WHISPER]
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enr::WakuRoles;

    #[test]
    fn topics_by_role() {
        assert_eq!(register_topics(WakuRoles::RELAY), [TOPIC_WHISPER]);
        assert_eq!(
            register_topics(WakuRoles::RELAY | WakuRoles::MAILSERVER),
            [TOPIC_WHISPER, TOPIC_WHISPERMAIL]
        );
        assert_eq!(register_topics(WakuRoles::MAILSERVER), [TOPIC_WHISPER, TOPIC_WHISPERMAIL]);
        assert!(register_topics(WakuRoles::LIGHT).is_empty());
        assert!(register_topics(WakuRoles::LIGHT | WakuRoles::RELAY).is_empty());
        assert!(register_topics(WakuRoles(0)).is_empty());
    }
}
