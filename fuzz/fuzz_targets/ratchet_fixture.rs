#![allow(dead_code)]

//! Shared fixture of the `ratchet_*` targets: Alice (0xa1…, installation `alice-1`) and Bob
//! (0xb2…, `bob-1`) after a DH-mode first contact, Bob's X3DH reply and Alice's answer; a
//! stranger (0xc3…). Each input starts from fresh copies of the stores, with deterministic
//! entropy, so runs are reproducible.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use wisp_crypto::{PublicKey, SecretKey};
use wisp_ratchet::store::{Role, SessionId};
use wisp_ratchet::{MemoryStore, SecureTransport, SeededEntropy, Store};

pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

pub struct Fixture {
    pub alice_key: SecretKey,
    pub bob_key: SecretKey,
    pub alice: PublicKey,
    pub bob: PublicKey,
    pub stranger: PublicKey,
    alice_store: MemoryStore,
    bob_store: MemoryStore,
    /// Bob's session with Alice.
    pub session: SessionId,
}

impl Fixture {
    pub fn alice(&self) -> SecureTransport<MemoryStore> {
        SecureTransport::new(self.alice_key.clone(), "alice-1", self.alice_store.clone())
            .with_entropy(SeededEntropy::new([0x1a; 32]))
    }

    pub fn bob(&self) -> SecureTransport<MemoryStore> {
        SecureTransport::new(self.bob_key.clone(), "bob-1", self.bob_store.clone())
            .with_entropy(SeededEntropy::new([0x2b; 32]))
    }
}

pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let alice_key = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let bob_key = SecretKey::from_bytes(&[0xb2; 32]).unwrap();
    let (alice, bob) = (alice_key.public_key(), bob_key.public_key());
    let mut a = SecureTransport::new(alice_key.clone(), "alice-1", MemoryStore::new())
        .with_entropy(SeededEntropy::new([0xa1; 32]));
    let mut b = SecureTransport::new(bob_key.clone(), "bob-1", MemoryStore::new())
        .with_entropy(SeededEntropy::new([0xb2; 32]));
    let first = a.build_direct_message(&bob, b"hello", now()).unwrap();
    b.handle_message(&alice, &first.message, now()).unwrap();
    let reply = b.build_direct_message(&alice, b"reply", now()).unwrap();
    a.handle_message(&bob, &reply.message, now()).unwrap();
    let answer = a.build_direct_message(&bob, b"answer", now()).unwrap();
    b.handle_message(&alice, &answer.message, now()).unwrap();
    // A message Bob skips over, so he holds a stored key.
    let _skipped = a.build_direct_message(&bob, b"skipped", now()).unwrap();
    let next = a.build_direct_message(&bob, b"next", now()).unwrap();
    b.handle_message(&alice, &next.message, now()).unwrap();
    let session = b.store().sessions(&alice.to_compressed(), "alice-1").unwrap().remove(0).id;
    Fixture {
        alice_key,
        bob_key,
        alice,
        bob,
        stranger: SecretKey::from_bytes(&[0xc3; 32]).unwrap().public_key(),
        alice_store: a.into_store(),
        bob_store: b.into_store(),
        session,
    }
});

/// Everything the future of Bob's session with Alice depends on.
pub fn fingerprint<S: Store>(store: &S, id: &SessionId) -> Vec<u8> {
    let session = store.session(id).unwrap().unwrap();
    let state = &session.state;
    let mut out = Vec::new();
    out.extend_from_slice(&state.root_key);
    out.extend_from_slice(&state.send.key);
    out.extend_from_slice(&state.send.n.to_le_bytes());
    out.extend_from_slice(&state.recv.key);
    out.extend_from_slice(&state.recv.n.to_le_bytes());
    out.extend_from_slice(&state.dhs_public);
    out.extend_from_slice(&state.dhr.unwrap_or([0; 33]));
    out.extend_from_slice(&state.pn.to_le_bytes());
    out.extend_from_slice(&state.keys_count.to_le_bytes());
    out.extend_from_slice(&(store.skipped_key_count(id).unwrap() as u64).to_le_bytes());
    out.push(u8::from(matches!(session.role, Role::Initiator { confirmed: true, .. })));
    out
}
