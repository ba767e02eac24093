//! Helpers shared by the integration tests: vectors, and a messenger with a tiny Waku
//! "network" (envelopes sealed and opened with wisp-waku's payload encryption, no sockets).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

// Dependencies of the library or of other test targets.
use {
    criterion as _, hex as _, proptest as _, prost as _, rand_core as _, rusqlite as _,
    thiserror as _, tracing as _, wisp_mvds as _,
};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use wisp_crypto::{PublicKey, SecretKey, keccak256};
use wisp_messenger::{
    Config, DropReason, Event, FilterSpec, IncomingEnvelope, MemoryMessageStore, Messenger,
    OutgoingEnvelope, Output,
};
use wisp_ratchet::{MemoryStore, SecureTransport};
use wisp_waku::{Encryption, FilterKey, MessageParams, OpeningKey, Topic, open_payload};

/// `testdata/vectors/chat/<name>` of the workspace.
pub fn load(name: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/vectors/chat").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("vector file {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn hx(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap_or_else(|| panic!("not a string: {value}"))).unwrap()
}

pub fn secret(value: &Value) -> SecretKey {
    SecretKey::from_bytes(&hx(value)).unwrap()
}

pub type TestMessenger = Messenger<MemoryStore, wisp_mvds::MemoryStore, StdRng, MemoryMessageStore>;

/// An envelope on the test "network": what a node would put in a Waku envelope.
#[derive(Clone, Debug)]
pub struct Wire {
    pub topic: Topic,
    /// Envelope data (encrypted).
    pub data: Vec<u8>,
    /// Envelope timestamp, Unix seconds.
    pub timestamp: u32,
    /// Which outgoing envelope it was, for the sender.
    pub local_id: u64,
}

/// One account: its messenger, the filters it asked for, and what it reported. Generic over
/// the messenger's stores (memory by default).
pub struct Party<RS = MemoryStore, MS = wisp_mvds::MemoryStore, DB = MemoryMessageStore> {
    pub key: SecretKey,
    pub messenger: Messenger<RS, MS, StdRng, DB>,
    pub filters: Vec<FilterSpec>,
    pub events: Vec<Event>,
    pub posted: Vec<OutgoingEnvelope>,
}

impl Party {
    /// A party with `key`, installation `installation`, and the given secure transport entropy.
    pub fn new(
        key: SecretKey,
        installation: &str,
        entropy: Option<wisp_ratchet::ScriptedEntropy>,
        seed: u64,
    ) -> Self {
        let mut transport = SecureTransport::new(key.clone(), installation, MemoryStore::new());
        if let Some(entropy) = entropy {
            transport = transport.with_entropy(entropy);
        }
        let mvds = wisp_mvds::Node::new(
            wisp_mvds::Config::default(),
            wisp_mvds::MemoryStore::new(),
            StdRng::seed_from_u64(seed),
        );
        let messenger = Messenger::new(
            key.clone(),
            transport,
            mvds,
            MemoryMessageStore::new(),
            Config::default(),
        )
        .unwrap();
        Self::with_messenger(key, messenger)
    }
}

impl<RS, MS, DB> Party<RS, MS, DB>
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    DB: wisp_messenger::MessageStore,
{
    /// A party around an existing messenger of `key`.
    pub fn with_messenger(key: SecretKey, messenger: Messenger<RS, MS, StdRng, DB>) -> Self {
        Self { key, messenger, filters: Vec::new(), events: Vec::new(), posted: Vec::new() }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Takes the messenger's outputs: filters and events are recorded, posts are sealed with
    /// wisp-waku (signed by our key), reported sent, and returned.
    pub fn pump(&mut self, now_ms: u64) -> Vec<Wire> {
        let mut wires = Vec::new();
        while let Some(output) = self.messenger.poll_output() {
            match output {
                Output::InstallFilter(filter) => self.filters.push(filter),
                Output::RemoveFilter(filter) => self.filters.retain(|f| f.name != filter.name),
                Output::Event(event) => self.events.push(event),
                Output::Post(post) => {
                    let params =
                        MessageParams::new(post.payload.clone()).signed_by(self.key.clone());
                    let data = wisp_waku::seal_payload(&params, &post.encryption).unwrap();
                    wires.push(Wire {
                        topic: post.topic,
                        data,
                        timestamp: u32::try_from(now_ms / 1000).unwrap(),
                        local_id: post.id,
                    });
                    self.messenger.envelope_sent(post.id).unwrap();
                    self.posted.push(post);
                }
            }
        }
        wires
    }

    /// Opens `data` on `topic` with our filters, as a node would; `None` when no filter
    /// opens it.
    pub fn open(&self, topic: Topic, data: &[u8], timestamp: u32) -> Option<IncomingEnvelope> {
        for filter in self.filters.iter().filter(|f| f.topic == topic) {
            let opened = match &filter.key {
                FilterKey::Symmetric(key) => open_payload(data, OpeningKey::Symmetric(key)),
                FilterKey::Asymmetric(key) => open_payload(data, OpeningKey::Asymmetric(key)),
            };
            if let Ok(opened) = opened {
                return Some(IncomingEnvelope {
                    topic,
                    payload: opened.payload.to_vec(),
                    signer: opened.signer,
                    timestamp,
                    hash: keccak256(data),
                });
            }
        }
        None
    }

    /// Delivers a wire envelope: opened with our filters and handed to the messenger.
    /// `None` when no filter of ours opens it.
    pub fn deliver(&mut self, wire: &Wire, now_ms: u64) -> Option<Result<(), DropReason>> {
        let incoming = self.open(wire.topic, &wire.data, wire.timestamp)?;
        Some(self.messenger.handle_envelope(&incoming, now_ms))
    }

    /// The events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

/// Seals `payload` for `encryption`, signed by `key` (or unsigned), as a wire envelope.
pub fn seal(
    topic: Topic,
    payload: Vec<u8>,
    encryption: &Encryption,
    key: Option<&SecretKey>,
    timestamp: u32,
) -> Wire {
    let mut params = MessageParams::new(payload);
    if let Some(key) = key {
        params = params.signed_by(key.clone());
    }
    Wire {
        topic,
        data: wisp_waku::seal_payload(&params, encryption).unwrap(),
        timestamp,
        local_id: 0,
    }
}

/// Runs the test "network" at `now_ms` until it is quiet: every party's posts are delivered to
/// every party (the sender too, as a Waku node's own filters see its posts). Returns how many
/// envelopes went around. Bounded: panics after 1000 rounds.
pub fn settle<RS, MS, DB>(parties: &mut [&mut Party<RS, MS, DB>], now_ms: u64) -> usize
where
    RS: wisp_ratchet::Store,
    MS: wisp_mvds::Store,
    DB: wisp_messenger::MessageStore,
{
    let mut total = 0;
    for _ in 0..1000 {
        let wires: Vec<Wire> = parties.iter_mut().flat_map(|p| p.pump(now_ms)).collect();
        if wires.is_empty() {
            return total;
        }
        total += wires.len();
        for wire in &wires {
            for party in parties.iter_mut() {
                party.deliver(wire, now_ms);
            }
        }
    }
    panic!("the network did not settle");
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory named after `name`, the process and the thread.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "wisp-messenger-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
