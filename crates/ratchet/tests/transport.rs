//! Behaviour of `SecureTransport`: the DH → X3DH switch, the X3DH header until the reply, bad
//! input, failing stores, multi-device, bundle rotation, persistence and key limits.

mod common;

use std::time::{Duration, SystemTime};

use wisp_crypto::{PublicKey, SecretKey, Zeroizing};
use wisp_ratchet::proto::{self, Message as _};
use wisp_ratchet::store::{
    Installation, OwnPreKey, PeerPreKey, SessionRecord, SharedSecretRecord, Write,
};
use wisp_ratchet::{
    CompressedKey, Config, Destination, Error, MemoryStore, MessageKind, OutgoingMessage,
    SecureTransport, SeededEntropy, SessionId, SqliteStore, Store, StoreError,
};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

fn party<S: Store>(byte: u8, installation: &str, store: S) -> SecureTransport<S> {
    SecureTransport::new(key(byte), installation, store)
        .with_entropy(SeededEntropy::new([byte; 32]))
}

/// Delivers `message` from `from` to `to` and returns the plaintext.
fn deliver<S: Store, T: Store>(
    from: &SecureTransport<S>,
    to: &mut SecureTransport<T>,
    message: &OutgoingMessage,
) -> Vec<u8> {
    let bytes = message.encode();
    let decoded = proto::decode_protocol_message(&bytes).unwrap();
    to.handle_message(from.public_key(), &decoded, t0()).unwrap().payload.unwrap()
}

/// Alice and Bob after DH mode, Bob's X3DH reply and Alice's answer.
fn established() -> (SecureTransport<MemoryStore>, SecureTransport<MemoryStore>) {
    let mut alice = party(0xa1, "alice-1", MemoryStore::new());
    let mut bob = party(0xb2, "bob-1", MemoryStore::new());
    let first = alice.build_direct_message(&key(0xb2).public_key(), b"hello", t0()).unwrap();
    deliver(&alice, &mut bob, &first);
    let reply = bob.build_direct_message(&key(0xa1).public_key(), b"reply", t0()).unwrap();
    deliver(&bob, &mut alice, &reply);
    let answer = alice.build_direct_message(&key(0xb2).public_key(), b"answer", t0()).unwrap();
    deliver(&alice, &mut bob, &answer);
    (alice, bob)
}

fn only_session<S: Store>(
    transport: &SecureTransport<S>,
    peer: &PublicKey,
    installation: &str,
) -> SessionRecord {
    let mut sessions = transport.store().sessions(&peer.to_compressed(), installation).unwrap();
    assert_eq!(sessions.len(), 1, "one session");
    sessions.remove(0)
}

/// Everything a session's future depends on.
fn fingerprint<S: Store>(transport: &SecureTransport<S>, id: &SessionId) -> Vec<u8> {
    let session = transport.store().session(id).unwrap().unwrap();
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
    out.extend_from_slice(&(state.retired.len() as u64).to_le_bytes());
    out.extend_from_slice(&(transport.store().skipped_key_count(id).unwrap() as u64).to_le_bytes());
    out.push(u8::from(matches!(
        session.role,
        wisp_ratchet::store::Role::Initiator { confirmed: true, .. }
    )));
    out
}

#[test]
fn dh_mode_then_x3dh_header_until_reply() {
    let (alice_pub, bob_pub) = (key(0xa1).public_key(), key(0xb2).public_key());
    let mut alice = party(0xa1, "alice-1", MemoryStore::new());
    let mut bob = party(0xb2, "bob-1", MemoryStore::new());

    // No bundle of Bob's: DH mode on Bob's partitioned topic, under "none".
    let first = alice.build_direct_message(&bob_pub, b"hello", t0()).unwrap();
    assert!(first.installations.is_empty());
    assert_eq!(first.message.direct_message.keys().collect::<Vec<_>>(), ["none"]);
    assert!(
        matches!(first.destination, Destination::Partitioned { recipient, .. } if recipient == bob_pub)
    );
    let received = bob.handle_message(&alice_pub, &first.message, t0()).unwrap();
    assert_eq!(received.kind, MessageKind::Dh);
    assert_eq!(received.new_installations.len(), 1);
    let secret = received.shared_secret.unwrap();
    assert_eq!(secret.topic(), first.shared_secret.as_ref().unwrap().topic());

    // Bob has Alice's bundle: X3DH, header attached on every message until Alice answers.
    let mut replies = Vec::new();
    for i in 0..3u8 {
        let reply = bob.build_direct_message(&alice_pub, &[i], t0()).unwrap();
        assert_eq!(reply.installations, ["alice-1"]);
        assert!(
            matches!(reply.destination, Destination::Negotiated { topic, .. } if topic == secret.topic())
        );
        let dmp = &reply.message.direct_message["alice-1"];
        assert!(dmp.x3dh_header.is_some(), "X3DH header on message {i}");
        assert_eq!(dmp.dr_header.as_ref().unwrap().n, u32::from(i));
        replies.push(reply);
    }
    // Delivered out of order: the last first.
    let received = alice.handle_message(&bob_pub, &replies[2].message, t0()).unwrap();
    assert_eq!(received.kind, MessageKind::DoubleRatchet { x3dh: true });
    assert_eq!(received.payload.unwrap(), [2]);
    for i in [0usize, 1] {
        let received = alice.handle_message(&bob_pub, &replies[i].message, t0()).unwrap();
        assert_eq!(received.kind, MessageKind::DoubleRatchet { x3dh: false });
        assert_eq!(received.payload.unwrap(), [i as u8]);
    }
    // Alice answers on the negotiated topic, without X3DH header (she is the responder).
    let answer = alice.build_direct_message(&bob_pub, b"answer", t0()).unwrap();
    assert!(matches!(answer.destination, Destination::Negotiated { .. }));
    assert!(answer.message.direct_message["bob-1"].x3dh_header.is_none());
    assert_eq!(deliver(&alice, &mut bob, &answer), b"answer");
    // Confirmed: Bob stops attaching the header.
    let next = bob.build_direct_message(&alice_pub, b"next", t0()).unwrap();
    assert!(next.message.direct_message["alice-1"].x3dh_header.is_none());
    assert_eq!(deliver(&bob, &mut alice, &next), b"next");
    assert_eq!(alice.shared_secrets().unwrap().len(), 1);
}

#[test]
fn bad_input_is_a_typed_error_and_leaves_the_session_untouched() {
    let (mut alice, mut bob) = established();
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    let id = only_session(&bob, &alice_pub, "alice-1").id;
    let message = alice.build_direct_message(&bob_pub, b"the real one", t0()).unwrap().message;
    let before = fingerprint(&bob, &id);

    let variant = |change: &dyn Fn(&mut proto::DirectMessageProtocol)| {
        let mut bad = message.clone();
        change(bad.direct_message.get_mut("bob-1").unwrap());
        bad
    };
    type Case = (&'static str, proto::ProtocolMessage, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        ("tampered ciphertext", variant(&|d| d.payload[20] ^= 1), |e| matches!(e, Error::BadMac)),
        ("tampered MAC", variant(&|d| *d.payload.last_mut().unwrap() ^= 1), |e| {
            matches!(e, Error::BadMac)
        }),
        ("truncated payload", variant(&|d| d.payload.truncate(47)), |e| {
            matches!(e, Error::CiphertextTooShort { len: 47, min: 48 })
        }),
        ("tampered n", variant(&|d| d.dr_header.as_mut().unwrap().n += 1), |e| {
            matches!(e, Error::BadMac)
        }),
        ("tampered pn", variant(&|d| d.dr_header.as_mut().unwrap().pn += 1), |e| {
            matches!(e, Error::BadMac)
        }),
        (
            "truncated header key",
            variant(&|d| {
                d.dr_header.as_mut().unwrap().key.pop();
            }),
            |e| matches!(e, Error::InvalidLength { field: "DR_header.key", expected: 33, got: 32 }),
        ),
        ("header key off the curve", variant(&|d| d.dr_header.as_mut().unwrap().key[0] = 5), |e| {
            matches!(e, Error::InvalidKey { .. })
        }),
        (
            "other ratchet key",
            variant(&|d| {
                let h = d.dr_header.as_mut().unwrap();
                h.key = key(7).public_key().to_compressed().to_vec();
                h.pn = 5;
            }),
            |e| matches!(e, Error::BadMac),
        ),
        (
            "inconsistent pn",
            variant(&|d| {
                let h = d.dr_header.as_mut().unwrap();
                h.key = key(7).public_key().to_compressed().to_vec();
                h.pn = 0;
            }),
            |e| matches!(e, Error::InconsistentHeader { pn: 0, received: 1 }),
        ),
        (
            "truncated bundle id",
            variant(&|d| {
                d.dr_header.as_mut().unwrap().id.truncate(10);
            }),
            |e| matches!(e, Error::InvalidLength { field: "DR_header.id", .. }),
        ),
        (
            "unknown bundle id",
            variant(&|d| {
                d.dr_header.as_mut().unwrap().id = key(8).public_key().to_compressed().to_vec()
            }),
            |e| matches!(e, Error::SessionNotFound { .. }),
        ),
        ("no header", variant(&|d| d.dr_header = None), |e| matches!(e, Error::NoKeyHeader)),
        (
            "unknown X3DH pre-key",
            variant(&|d| {
                d.x3dh_header = Some(proto::X3dhHeader {
                    key: key(9).public_key().to_compressed().to_vec(),
                    id: key(10).public_key().to_compressed().to_vec(),
                })
            }),
            |e| matches!(e, Error::UnknownSignedPreKey { .. }),
        ),
        (
            "X3DH key truncated",
            variant(&|d| d.x3dh_header = Some(proto::X3dhHeader { key: vec![2; 5], id: vec![] })),
            |e| matches!(e, Error::InvalidLength { field: "X3DH_header.key", .. }),
        ),
    ];
    for (what, bad, expected) in cases {
        let err = bob.handle_message(&alice_pub, &bad, t0()).unwrap_err();
        assert!(expected(&err), "{what}: {err:?}");
        assert_eq!(fingerprint(&bob, &id), before, "{what} changed the session");
    }

    // Not for this installation, a stranger's key, our own unpaired installation.
    let mut other_installation = message.clone();
    let dmp = other_installation.direct_message.remove("bob-1").unwrap();
    other_installation.direct_message.insert("bob-2".into(), dmp);
    assert!(
        matches!(bob.handle_message(&alice_pub, &other_installation, t0()), Err(Error::DeviceNotFound { installation_id }) if installation_id == "bob-1")
    );
    let carol = key(0xc3).public_key();
    assert!(matches!(
        bob.handle_message(&carol, &message, t0()),
        Err(Error::SessionNotFound { .. })
    ));
    let mut own = other_installation.clone();
    own.bundles.clear();
    own.installation_id = "bob-9".into();
    assert!(
        matches!(bob.handle_message(&bob_pub, &own, t0()), Err(Error::NotPairedDevice { installation_id }) if installation_id == "bob-9")
    );
    own.installation_id = "bob-1".into();
    assert_eq!(bob.handle_message(&bob_pub, &own, t0()).unwrap().kind, MessageKind::OwnEcho);
    // A forged bundle, an empty message, undecodable bytes.
    let mut forged = message.clone();
    forged.bundles[0].timestamp += 1;
    assert!(matches!(bob.handle_message(&alice_pub, &forged, t0()), Err(Error::BundleSignature)));
    let empty = proto::ProtocolMessage { installation_id: "alice-1".into(), ..Default::default() };
    assert!(matches!(bob.handle_message(&alice_pub, &empty, t0()), Err(Error::NoPayload)));
    let bytes = message.encode_to_vec();
    assert!(matches!(
        proto::decode_protocol_message(&bytes[..bytes.len() - 3]),
        Err(Error::Decode(_))
    ));
    assert_eq!(fingerprint(&bob, &id), before);

    // The genuine message still decrypts; then it is a replay.
    let received = bob.handle_message(&alice_pub, &message, t0()).unwrap();
    assert_eq!(received.payload.unwrap(), b"the real one");
    let after = fingerprint(&bob, &id);
    assert!(matches!(bob.handle_message(&alice_pub, &message, t0()), Err(Error::Replay { .. })));
    assert_eq!(fingerprint(&bob, &id), after);

    // A DH-mode message for someone else does not open with our key.
    let for_carol = alice.build_dh_message(&carol, b"not for bob", t0()).unwrap();
    assert!(matches!(
        bob.handle_message(&alice_pub, &for_carol.message, t0()),
        Err(Error::DhDecrypt)
    ));
}

/// A store whose writes can be made to fail.
struct FailingStore {
    inner: MemoryStore,
    fail: bool,
}

impl Store for FailingStore {
    fn own_pre_keys(&self) -> Result<Vec<OwnPreKey>, StoreError> {
        self.inner.own_pre_keys()
    }
    fn peer_pre_keys(&self, identity: &CompressedKey) -> Result<Vec<PeerPreKey>, StoreError> {
        self.inner.peer_pre_keys(identity)
    }
    fn installations(&self, identity: &CompressedKey) -> Result<Vec<Installation>, StoreError> {
        self.inner.installations(identity)
    }
    fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.session(id)
    }
    fn sessions(
        &self,
        identity: &CompressedKey,
        installation_id: &str,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.sessions(identity, installation_id)
    }
    fn skipped_key(
        &self,
        session: &SessionId,
        dh: &CompressedKey,
        n: u32,
    ) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        self.inner.skipped_key(session, dh, n)
    }
    fn skipped_key_count(&self, session: &SessionId) -> Result<usize, StoreError> {
        self.inner.skipped_key_count(session)
    }
    fn shared_secret(
        &self,
        identity: &CompressedKey,
    ) -> Result<Option<SharedSecretRecord>, StoreError> {
        self.inner.shared_secret(identity)
    }
    fn shared_secrets(&self) -> Result<Vec<SharedSecretRecord>, StoreError> {
        self.inner.shared_secrets()
    }
    fn apply(&mut self, writes: Vec<Write>) -> Result<(), StoreError> {
        if self.fail {
            return Err(StoreError::new("disk full"));
        }
        self.inner.apply(writes)
    }
}

#[test]
fn a_failed_write_releases_nothing_and_changes_nothing() {
    let (mut alice, bob) = established();
    let bob_pub = *bob.public_key();
    let alice_pub = *alice.public_key();
    let mut bob = party(0xb2, "bob-1", FailingStore { inner: bob.into_store(), fail: false })
        .with_entropy(SeededEntropy::new([0x42; 32]));
    let id = only_session(&bob, &alice_pub, "alice-1").id;

    // Receiving: the plaintext is not returned and the session does not move.
    let messages: Vec<_> =
        (0..3u8).map(|i| alice.build_direct_message(&bob_pub, &[i], t0()).unwrap()).collect();
    let before = fingerprint(&bob, &id);
    bob.store_mut().fail = true;
    for message in &messages {
        let err = bob.handle_message(&alice_pub, &message.message, t0()).unwrap_err();
        assert!(matches!(err, Error::Store(_)), "{err:?}");
        assert_eq!(fingerprint(&bob, &id), before);
    }
    bob.store_mut().fail = false;
    for (i, message) in messages.iter().enumerate().rev() {
        assert_eq!(
            bob.handle_message(&alice_pub, &message.message, t0()).unwrap().payload.unwrap(),
            [i as u8]
        );
    }

    // Sending: no ciphertext, and the next message reuses nothing.
    let before = fingerprint(&bob, &id);
    bob.store_mut().fail = true;
    assert!(matches!(bob.build_direct_message(&alice_pub, b"lost", t0()), Err(Error::Store(_))));
    assert_eq!(fingerprint(&bob, &id), before);
    bob.store_mut().fail = false;
    let sent = bob.build_direct_message(&alice_pub, b"kept", t0()).unwrap();
    assert_eq!(deliver(&bob, &mut alice, &sent), b"kept");
}

#[test]
fn multi_device_pairing_enable_disable() {
    let t = t0();
    let alice_pub = key(0xa1).public_key();
    let bob_pub = key(0xb2).public_key();
    let mut alice1 = party(0xa1, "alice-1", MemoryStore::new());
    let mut alice2 =
        party(0xa1, "alice-2", MemoryStore::new()).with_entropy(SeededEntropy::new([0xa2; 32]));
    let mut bob = party(0xb2, "bob-1", MemoryStore::new());

    // Pairing: each device sees the other's bundle (disabled until enabled by the user).
    let from2 = alice2.build_public_message(b"pair", t).unwrap();
    let received = alice1.handle_message(&alice_pub, &from2, t).unwrap();
    assert_eq!(received.new_installations.len(), 1);
    assert!(!received.new_installations[0].enabled);
    assert!(alice1.build_direct_messages(&bob_pub, b"x", t).unwrap().len() == 1);
    assert!(alice1.enable_installation("alice-2").unwrap());
    assert!(!alice1.enable_installation("alice-9").unwrap());
    let from1 = alice1.build_public_message(b"pair", t).unwrap();
    // alice-1's bundle now advertises both devices.
    assert_eq!(from1.bundles[0].signed_pre_keys.len(), 2);
    alice2.handle_message(&alice_pub, &from1, t).unwrap();
    alice2.enable_installation("alice-1").unwrap();
    assert_eq!(alice1.our_installations().unwrap().len(), 2);

    // Bob learns both installations from alice-1's bundle and encrypts for each.
    bob.handle_message(&alice_pub, &from1, t).unwrap();
    let to_alice = bob.build_direct_message(&alice_pub, b"to both", t).unwrap();
    assert_eq!(to_alice.installations.len(), 2);
    assert_eq!(deliver(&bob, &mut alice1, &to_alice), b"to both");
    assert_eq!(deliver(&bob, &mut alice2, &to_alice), b"to both");

    // alice-1 writes to Bob and to her other device.
    let sent = alice1.build_direct_messages(&bob_pub, b"sync me", t).unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(deliver(&alice1, &mut bob, &sent[0]), b"sync me");
    assert_eq!(sent[1].installations, ["alice-2"]);
    assert_eq!(deliver(&alice1, &mut alice2, &sent[1]), b"sync me");
    // The copy to Bob has nothing for alice-2 (status-go: "not paired", even when paired).
    assert!(matches!(
        alice2.handle_message(&alice_pub, &sent[0].message, t),
        Err(Error::NotPairedDevice { .. })
    ));

    // Disabled: no more copies, and no longer advertised.
    assert!(alice1.disable_installation("alice-2").unwrap());
    assert_eq!(alice1.build_direct_messages(&bob_pub, b"solo", t).unwrap().len(), 1);
    assert_eq!(alice1.bundle(t).unwrap().signed_pre_keys().len(), 1);
}

#[test]
fn at_most_three_installations_most_recent_first() {
    let alice_pub = key(0xa1).public_key();
    let mut bob = party(0xb2, "bob-1", MemoryStore::new());
    for i in 0..4u64 {
        let mut device = party(0xa1, &format!("alice-{i}"), MemoryStore::new())
            .with_entropy(SeededEntropy::new([i as u8 + 1; 32]));
        let t = t0() + Duration::from_secs(i);
        let message = device.build_public_message(b"hi", t).unwrap();
        bob.handle_message(&alice_pub, &message, t).unwrap();
    }
    let active = bob.active_installations(&alice_pub).unwrap();
    assert_eq!(
        active.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["alice-3", "alice-2", "alice-1"]
    );
    let sent = bob.build_direct_message(&alice_pub, b"x", t0()).unwrap();
    assert_eq!(sent.installations, ["alice-3", "alice-2", "alice-1"]);
}

#[test]
fn bundle_rotation_every_24_hours() {
    let (mut alice, mut bob) = established();
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    let v1 = alice.bundle(t0()).unwrap().signed_pre_keys()["alice-1"];
    assert_eq!(v1.version, 1);
    let later = t0() + Duration::from_secs(23 * 3600);
    assert_eq!(alice.bundle(later).unwrap().signed_pre_keys()["alice-1"], v1);
    // Sent before the rotation, delivered after.
    let late = bob.build_direct_message(&alice_pub, b"late", t0()).unwrap();

    let next_day = t0() + Duration::from_secs(25 * 3600);
    let rotated = alice.bundle(next_day).unwrap();
    let v2 = rotated.signed_pre_keys()["alice-1"];
    assert_eq!(v2.version, 2);
    assert_ne!(v2.key, v1.key);
    // Alice's session on her old pre-key is no longer used to send: a new X3DH with Bob's bundle.
    let fresh = alice.build_direct_message(&bob_pub, b"rekeyed", next_day).unwrap();
    let dmp = &fresh.message.direct_message["bob-1"];
    assert!(dmp.x3dh_header.is_some());
    let received = bob.handle_message(&alice_pub, &fresh.message, next_day).unwrap();
    assert_eq!(received.kind, MessageKind::DoubleRatchet { x3dh: true });
    // Bob saw version 2: his session on Alice's version 1 is retired, the new one is used.
    let reply = bob.build_direct_message(&alice_pub, b"on the new session", next_day).unwrap();
    assert!(reply.message.direct_message["alice-1"].x3dh_header.is_none());
    assert_eq!(deliver(&bob, &mut alice, &reply), b"on the new session");
    // The old pre-key still opens what was sent under it.
    assert_eq!(deliver(&bob, &mut alice, &late), b"late");
}

#[test]
fn skip_limit_and_key_retention() {
    let (mut alice, bob) = established();
    let config = Config { max_skip: 5, max_message_keys_per_session: 3, ..Config::default() };
    let mut bob = party(0xb2, "bob-1", bob.into_store())
        .with_config(config)
        .with_entropy(SeededEntropy::new([0x43; 32]));
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    let id = only_session(&bob, &alice_pub, "alice-1").id;
    let messages: Vec<_> =
        (0..8u8).map(|i| alice.build_direct_message(&bob_pub, &[i], t0()).unwrap()).collect();
    let before = fingerprint(&bob, &id);
    assert!(matches!(
        bob.handle_message(&alice_pub, &messages[7].message, t0()),
        Err(Error::TooManySkipped { skip: 7, max: 5 })
    ));
    assert_eq!(fingerprint(&bob, &id), before);
    // Skip 5 (0..5), keep the 3 newest (2, 3, 4).
    assert_eq!(deliver(&alice, &mut bob, &messages[5]), [5]);
    assert_eq!(bob.store().skipped_key_count(&id).unwrap(), 3);
    assert!(matches!(
        bob.handle_message(&alice_pub, &messages[0].message, t0()),
        Err(Error::Replay { n: 1 })
    ));
    assert_eq!(deliver(&alice, &mut bob, &messages[3]), [3]);
    assert_eq!(bob.store().skipped_key_count(&id).unwrap(), 2);
    assert_eq!(deliver(&alice, &mut bob, &messages[7]), [7]);
    assert_eq!(deliver(&alice, &mut bob, &messages[6]), [6]);
}

/// Alice (memory store) and Bob (`bob_store`, `config`) after DH mode, Bob's X3DH reply and
/// Alice's answer, as [`established`].
fn established_with<S: Store>(
    bob_store: S,
    config: Config,
) -> (SecureTransport<MemoryStore>, SecureTransport<S>) {
    let mut alice = party(0xa1, "alice-1", MemoryStore::new());
    let mut bob = party(0xb2, "bob-1", bob_store).with_config(config);
    let first = alice.build_direct_message(&key(0xb2).public_key(), b"hello", t0()).unwrap();
    deliver(&alice, &mut bob, &first);
    let reply = bob.build_direct_message(&key(0xa1).public_key(), b"reply", t0()).unwrap();
    deliver(&bob, &mut alice, &reply);
    let answer = alice.build_direct_message(&key(0xb2).public_key(), b"answer", t0()).unwrap();
    deliver(&alice, &mut bob, &answer);
    (alice, bob)
}

/// MaxKeep (status-go `encryptorConfig.MaxKeep`, [`Config::max_keep`]): a skipped key is
/// dropped once the session has derived `max_keep` receiving keys counting from it (it is
/// deleted when `keys_count - max_keep >= its seq`), whatever the per-session cap. Run with a
/// small `max_keep` and the default per-session cap (2000), which never bites here, so only
/// MaxKeep can prune. The oldest keys go, the newer ones still decrypt.
fn max_keep_prunes_the_oldest_skipped_keys<S: Store>(bob_store: S) {
    const MAX_KEEP: u64 = 10;
    let config = Config { max_skip: 8, max_keep: MAX_KEEP, ..Config::default() };
    assert_eq!(config.max_message_keys_per_session, 2000);
    let (mut alice, mut bob) = established_with(bob_store, config);
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    let id = only_session(&bob, &alice_pub, "alice-1").id;
    let skipped = |bob: &SecureTransport<S>| bob.store().skipped_key_count(&id).unwrap();
    assert_eq!(skipped(&bob), 0);
    // One sending chain: message i has n = n0 + i.
    let messages: Vec<_> =
        (0..12u8).map(|i| alice.build_direct_message(&bob_pub, &[i], t0()).unwrap()).collect();

    // Message 4 first: the keys of 0..=3 are stored (seq s..s+3), message 4 used seq s+4.
    assert_eq!(deliver(&alice, &mut bob, &messages[4]), [4]);
    assert_eq!(skipped(&bob), 4);
    // 5..=8 in order: keys_count reaches s+9; no key has MAX_KEEP derivations yet.
    for i in 5..=8u8 {
        assert_eq!(deliver(&alice, &mut bob, &messages[usize::from(i)]), [i]);
        assert_eq!(skipped(&bob), 4, "after message {i}");
    }
    // 9: keys_count = s+10 = seq(0) + MAX_KEEP, message 0's key goes; 10: message 1's.
    assert_eq!(deliver(&alice, &mut bob, &messages[9]), [9]);
    assert_eq!(skipped(&bob), 3, "after message 9");
    assert_eq!(deliver(&alice, &mut bob, &messages[10]), [10]);
    assert_eq!(skipped(&bob), 2, "after message 10");

    // The pruned keys are gone for good: a typed error, the session unchanged.
    for i in [0, 1] {
        let before = fingerprint(&bob, &id);
        assert!(
            matches!(
                bob.handle_message(&alice_pub, &messages[i].message, t0()),
                Err(Error::Replay { .. })
            ),
            "message {i} after its key was pruned"
        );
        assert_eq!(fingerprint(&bob, &id), before, "message {i}");
    }
    // The newer skipped keys were kept and still open their messages, once each.
    assert_eq!(deliver(&alice, &mut bob, &messages[3]), [3]);
    assert_eq!(deliver(&alice, &mut bob, &messages[2]), [2]);
    assert_eq!(skipped(&bob), 0);
    assert!(matches!(
        bob.handle_message(&alice_pub, &messages[2].message, t0()),
        Err(Error::Replay { .. })
    ));
    assert_eq!(deliver(&alice, &mut bob, &messages[11]), [11]);
}

#[test]
fn max_keep_prunes_the_oldest_skipped_keys_memory_store() {
    max_keep_prunes_the_oldest_skipped_keys(MemoryStore::new());
}

#[test]
fn max_keep_prunes_the_oldest_skipped_keys_sqlite_store() {
    max_keep_prunes_the_oldest_skipped_keys(SqliteStore::open_in_memory().unwrap());
}

/// MaxKeep at status-go's defaults (skip at most 1000 per message, keep 2000 per session,
/// drop after 3000 derivations): 1000 keys skipped at once, then 2000 messages in order; the
/// two oldest skipped keys reach 3000 derivations and go, the other 998 still decrypt.
fn max_keep_at_the_default_limits<S: Store>(bob_store: S) {
    let config = Config::default();
    assert_eq!(
        (config.max_skip, config.max_keep, config.max_message_keys_per_session),
        (1000, 3000, 2000)
    );
    let (mut alice, mut bob) = established_with(bob_store, config);
    let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
    let id = only_session(&bob, &alice_pub, "alice-1").id;
    let skipped = |bob: &SecureTransport<S>| bob.store().skipped_key_count(&id).unwrap();
    let text = |i: usize| (i as u32).to_be_bytes();
    let messages: Vec<_> =
        (0..=3000).map(|i| alice.build_direct_message(&bob_pub, &text(i), t0()).unwrap()).collect();

    // 1000 skipped at once: keys of 0..=999 stored with seq s..s+999.
    assert_eq!(deliver(&alice, &mut bob, &messages[1000]), text(1000));
    assert_eq!(skipped(&bob), 1000);
    // In order up to 2998: keys_count = s+2999, every skipped key kept.
    for (i, message) in messages.iter().enumerate().take(2999).skip(1001) {
        assert_eq!(deliver(&alice, &mut bob, message), text(i));
    }
    assert_eq!(skipped(&bob), 1000);
    // 2999 and 3000: keys_count reaches s+3000 and s+3001; the keys of 0 and 1 go.
    assert_eq!(deliver(&alice, &mut bob, &messages[2999]), text(2999));
    assert_eq!(skipped(&bob), 999);
    assert_eq!(deliver(&alice, &mut bob, &messages[3000]), text(3000));
    assert_eq!(skipped(&bob), 998);
    for i in [0, 1] {
        assert!(
            matches!(
                bob.handle_message(&alice_pub, &messages[i].message, t0()),
                Err(Error::Replay { .. })
            ),
            "message {i} after its key was pruned"
        );
    }
    // The newest and the oldest kept key still open their messages.
    assert_eq!(deliver(&alice, &mut bob, &messages[999]), text(999));
    assert_eq!(deliver(&alice, &mut bob, &messages[2]), text(2));
    assert_eq!(skipped(&bob), 996);
}

#[test]
fn max_keep_at_the_default_limits_memory_store() {
    max_keep_at_the_default_limits(MemoryStore::new());
}

#[test]
fn max_keep_at_the_default_limits_sqlite_store() {
    max_keep_at_the_default_limits(SqliteStore::open_in_memory().unwrap());
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("wisp-ratchet-{}-{name}.sqlite", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[test]
fn sqlite_store_survives_reopening() {
    let path = temp_db("reopen");
    let mut alice = party(0xa1, "alice-1", MemoryStore::new());
    let alice_pub = *alice.public_key();
    let bob_pub = key(0xb2).public_key();
    {
        let mut bob = party(0xb2, "bob-1", SqliteStore::open(&path).unwrap());
        assert_eq!(
            bob.store().schema_version().unwrap(),
            wisp_ratchet::store::SQLITE_SCHEMA_VERSION
        );
        let first = alice.build_direct_message(&bob_pub, b"one", t0()).unwrap();
        assert_eq!(deliver(&alice, &mut bob, &first), b"one");
        let reply = bob.build_direct_message(&alice_pub, b"two", t0()).unwrap();
        assert_eq!(deliver(&bob, &mut alice, &reply), b"two");
    }
    // A message skipped before the restart, delivered after it.
    let skipped = alice.build_direct_message(&bob_pub, b"three", t0()).unwrap();
    let next = alice.build_direct_message(&bob_pub, b"four", t0()).unwrap();
    {
        let mut bob = party(0xb2, "bob-1", SqliteStore::open(&path).unwrap())
            .with_entropy(SeededEntropy::new([0x44; 32]));
        assert_eq!(deliver(&alice, &mut bob, &next), b"four");
    }
    let mut bob = party(0xb2, "bob-1", SqliteStore::open(&path).unwrap())
        .with_entropy(SeededEntropy::new([0x45; 32]));
    assert_eq!(deliver(&alice, &mut bob, &skipped), b"three");
    assert!(matches!(
        bob.handle_message(&alice_pub, &skipped.message, t0()),
        Err(Error::Replay { .. })
    ));
    assert_eq!(bob.shared_secrets().unwrap().len(), 1);
    let reply = bob.build_direct_message(&alice_pub, b"five", t0()).unwrap();
    assert!(matches!(reply.destination, Destination::Negotiated { .. }));
    assert_eq!(deliver(&bob, &mut alice, &reply), b"five");
    drop(bob);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn concurrent_sessions_converge_on_the_smaller_shared_key() {
    let (alice_pub, bob_pub) = (key(0xa1).public_key(), key(0xb2).public_key());
    let mut alice = party(0xa1, "alice-1", MemoryStore::new());
    let mut bob = party(0xb2, "bob-1", MemoryStore::new());
    // Both learn the other's bundle (contact codes), then both start a session at once.
    let code = alice.build_public_message(b"code", t0()).unwrap();
    bob.handle_message(&alice_pub, &code, t0()).unwrap();
    let code = bob.build_public_message(b"code", t0()).unwrap();
    alice.handle_message(&bob_pub, &code, t0()).unwrap();
    let from_alice = alice.build_direct_message(&bob_pub, b"a", t0()).unwrap();
    let from_bob = bob.build_direct_message(&alice_pub, b"b", t0()).unwrap();
    assert!(from_alice.message.direct_message["bob-1"].x3dh_header.is_some());
    assert!(from_bob.message.direct_message["alice-1"].x3dh_header.is_some());
    assert_eq!(deliver(&alice, &mut bob, &from_alice), b"a");
    assert_eq!(deliver(&bob, &mut alice, &from_bob), b"b");
    // Two sessions each; both sides now use the same one.
    let a_sessions = alice.store().sessions(&bob_pub.to_compressed(), "bob-1").unwrap();
    assert_eq!(a_sessions.len(), 2);
    let next_a = alice.build_direct_message(&bob_pub, b"a2", t0()).unwrap();
    let next_b = bob.build_direct_message(&alice_pub, b"b2", t0()).unwrap();
    let id_a = &next_a.message.direct_message["bob-1"].dr_header.as_ref().unwrap().id;
    let id_b = &next_b.message.direct_message["alice-1"].dr_header.as_ref().unwrap().id;
    assert_eq!(id_a, id_b, "both chose the same session");
    assert_eq!(deliver(&alice, &mut bob, &next_a), b"a2");
    assert_eq!(deliver(&bob, &mut alice, &next_b), b"b2");
    // The initiator of the chosen session got an answer on it: no more X3DH header.
    let last_a = alice.build_direct_message(&bob_pub, b"a3", t0()).unwrap();
    let last_b = bob.build_direct_message(&alice_pub, b"b3", t0()).unwrap();
    assert!(last_a.message.direct_message["bob-1"].x3dh_header.is_none());
    assert!(last_b.message.direct_message["alice-1"].x3dh_header.is_none());
    assert_eq!(deliver(&alice, &mut bob, &last_a), b"a3");
    assert_eq!(deliver(&bob, &mut alice, &last_b), b"b3");
}
