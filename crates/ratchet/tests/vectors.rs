//! status-go v0.79.11 captures (`testdata/vectors/chat/one-to-one.json`, `group.json`,
//! `public.json`): every envelope decrypts as its recipient down to the `ProtocolMessage`
//! payload, every recorded intermediate value is reproduced, and two `SecureTransport`s fed the
//! recorded keys rebuild every `ProtocolMessage` byte for byte. Each test pins the number of
//! checks it made, so a shortened file fails.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Checks, arr, hx, load, public, secret};
use serde_json::Value;
use wisp_crypto::{PublicKey, SecretKey};
use wisp_ratchet::cipher::{MessageKeys, dh_open, dh_seal, kdf_ck, kdf_rk, open, seal};
use wisp_ratchet::proto::{self, Message as _};
use wisp_ratchet::topic::{
    contact_code_key, contact_code_topic, partitioned_topic, public_chat_key, public_chat_topic,
};
use wisp_ratchet::{
    Bundle, Destination, Header, KeyPurpose, MemoryStore, MessageKind, NegotiatedSecret,
    ScriptedEntropy, SecureTransport, SessionId, SqliteStore, Store, x3dh,
};
use wisp_waku::payload::{OpeningKey, open_payload};
use wisp_waku::{Envelope, Topic as WakuTopic};

fn party_key(file: &Value, name: &str) -> SecretKey {
    secret(&file["parties"][name]["chat_private_key"])
}

fn other(name: &str) -> &'static str {
    if name == "alice" { "bob" } else { "alice" }
}

/// Decrypts the Waku envelope of `envelope` as its recipient and returns the Waku payload.
fn open_envelope(checks: &mut Checks, file: &Value, envelope: &Value) -> Vec<u8> {
    let waku = &envelope["waku"];
    let rlp = hx(&waku["envelope_rlp"]);
    let decoded = Envelope::decode(&mut rlp.as_slice()).unwrap();
    checks.hex(decoded.hash(), &waku["envelope_hash"], "envelope hash");
    checks.hex(decoded.topic.0, &waku["topic"], "envelope topic");
    let opened = if let Some(recipient) = waku.get("recipient_private_key") {
        let key = secret(recipient);
        checks.eq(
            key.public_key(),
            party_key(file, other(envelope["sender"].as_str().unwrap())).public_key(),
            "asymmetric envelopes go to the recipient's chat key",
        );
        open_payload(&decoded.data, OpeningKey::Asymmetric(&key)).unwrap()
    } else {
        let key: [u8; 32] = arr(&waku["sym_key"]);
        let password = waku["sym_key_derivation"]["password"].as_str().unwrap();
        checks.eq(common::waku_key(password), key, "Waku key = PBKDF2(password)");
        open_payload(&decoded.data, OpeningKey::Symmetric(&key)).unwrap()
    };
    checks.hex(&opened.payload, &waku["payload"], "Waku payload");
    checks.hex(opened.signer.unwrap().to_uncompressed(), &waku["signer_public_key"], "signer");
    checks.eq(
        WakuTopic::from_name(waku["topic_derivation"]["input_string"].as_str().unwrap()).0,
        decoded.topic.0,
        "topic derivation",
    );
    opened.payload.to_vec()
}

/// One DH ratchet step of a trace, recomputed from the recorded keys.
fn check_ratchet_step(checks: &mut Checks, step: &Value) {
    let old = secret(&step["our_old_dhs_private"]);
    let theirs = public(&step["their_new_ratchet_key"]);
    let recv_dh = *old.ecdh(&theirs).as_bytes();
    checks.hex(recv_dh, &step["recv_dh_out"], "recv dh_out");
    let recv = kdf_rk(&arr(&step["kdf_rk_recv"]["rk_in"]), &recv_dh);
    checks.hex(recv.root_key, &step["kdf_rk_recv"]["root_key_out"], "recv root key");
    checks.hex(recv.chain_key, &step["kdf_rk_recv"]["chain_key_out(recv)"], "recv chain key");
    checks.hex(recv.header_key, &step["kdf_rk_recv"]["header_key_out(unused)"], "recv header key");
    let new = secret(&step["generated_dhs_private"]);
    checks.hex(new.public_key().to_compressed(), &step["generated_dhs_public"], "new ratchet key");
    let send_dh = *new.ecdh(&theirs).as_bytes();
    checks.hex(send_dh, &step["send_dh_out"], "send dh_out");
    checks.eq(
        hx(&step["kdf_rk_send"]["rk_in"]),
        hx(&step["kdf_rk_recv"]["root_key_out"]),
        "root chaining",
    );
    let send = kdf_rk(&recv.root_key, &send_dh);
    checks.hex(send.root_key, &step["kdf_rk_send"]["root_key_out"], "send root key");
    checks.hex(send.chain_key, &step["kdf_rk_send"]["chain_key_out(send)"], "send chain key");
    checks.hex(send.header_key, &step["kdf_rk_send"]["header_key_out(unused)"], "send header key");
}

/// The values one side of a ratchet message recorded.
fn check_message_side(
    checks: &mut Checks,
    side: &Value,
    layer: &Value,
    dmp: &proto::DirectMessageProtocol,
) {
    let dr = dmp.dr_header.as_ref().unwrap();
    let header = Header { dh: arr(&side["header"]["dh"]), n: dr.n, pn: dr.pn };
    checks.eq(
        hex::encode(dr.key.as_slice()),
        side["header"]["dh"].as_str().unwrap().to_owned(),
        "DR header key",
    );
    checks.eq(u64::from(dr.n), side["header"]["n"].as_u64().unwrap(), "DR header n");
    checks.eq(u64::from(dr.pn), side["header"]["pn"].as_u64().unwrap(), "DR header pn");
    let ad = header.associated_data();
    checks.hex(ad, &side["ad_header_encoded"], "AD");
    let (next, mk) = kdf_ck(&arr(&side["chain_key_before"]));
    checks.hex(next, &side["chain_key_after"], "chain key after");
    checks.hex(*mk, &side["message_key"], "message key");
    let keys = MessageKeys::derive(&mk);
    checks.hex(keys.enc_key, &side["enc_key"], "enc key");
    checks.hex(keys.auth_key, &side["auth_key"], "auth key");
    checks.hex(keys.iv, &side["iv"], "IV");
    let ciphertext = hx(&layer["ciphertext_payload_field"]);
    checks.eq(ciphertext.as_slice(), dmp.payload.as_slice(), "payload field");
    let plaintext = hx(&layer["decrypted"]);
    checks.eq(open(&mk, &ciphertext, &ad).unwrap(), plaintext.clone(), "decrypt");
    checks.eq(seal(&mk, &plaintext, &ad), ciphertext.clone(), "re-encrypt byte for byte");
    checks.hex(&ciphertext[ciphertext.len() - 32..], &side["hmac"], "HMAC");
    checks.eq(
        keys.mac(&ad, &ciphertext[..ciphertext.len() - 32]).to_vec(),
        hx(&side["hmac"]),
        "HMAC recomputed",
    );
}

/// Every envelope of `file`, opened as its recipient from the recorded keys, layer by layer.
fn check_layers(checks: &mut Checks, file: &Value) {
    for envelope in file["envelopes"].as_array().unwrap() {
        let sender = envelope["sender"].as_str().unwrap();
        let payload = open_envelope(checks, file, envelope);
        let layer = &envelope["encryption_layer"];
        let kind = layer["kind"].as_str().unwrap();
        if kind.starts_with("none") {
            // Push-notification queries skip the secure transport (DECISIONS 17).
            continue;
        }
        let pm_value = &envelope["protocol_message"];
        checks.hex(&payload, &pm_value["bytes"], "ProtocolMessage bytes");
        let pm = proto::decode_protocol_message(&payload).unwrap();
        checks.eq(pm.encode_to_vec(), payload.clone(), "ProtocolMessage re-encodes byte for byte");
        checks.eq(
            pm.installation_id.clone(),
            file["parties"][sender]["installation_id"].as_str().unwrap().to_owned(),
            "installation id",
        );
        for wire in &pm.bundles {
            let bundle = Bundle::from_proto(wire).unwrap();
            checks.eq(*bundle.identity(), party_key(file, sender).public_key(), "bundle identity");
            checks.eq(bundle.to_proto().encode_to_vec(), wire.encode_to_vec(), "bundle re-encodes");
        }
        let receiver = party_key(file, other(sender));
        if kind.starts_with("public") {
            checks.eq(pm.direct_message.is_empty(), true, "public message has no direct part");
            continue;
        }
        let map_key = layer["direct_message_map_key"].as_str().unwrap();
        let dmp = &pm.direct_message[map_key];
        if kind.starts_with("DH") {
            let ephemeral = PublicKey::from_sec1(&dmp.dh_header.as_ref().unwrap().key).unwrap();
            checks.hex(
                ephemeral.to_compressed(),
                &layer["ephemeral_public_key_compressed"],
                "DH ephemeral",
            );
            let key = *receiver.ecdh(&ephemeral).as_bytes();
            checks.hex(key, &layer["shared_key"], "DH key (recipient side)");
            let sender_ephemeral = secret(&layer["sender_ephemeral_private_key"]);
            checks.hex(
                *sender_ephemeral.ecdh(&receiver.public_key()).as_bytes(),
                &layer["shared_key"],
                "DH key (sender side)",
            );
            let plaintext = dh_open(&key, &dmp.payload).unwrap();
            checks.hex(&plaintext, &layer["decrypted"], "DH decrypt");
            checks.eq(
                dh_seal(&key, &arr(&layer["aes_gcm_nonce"]), &plaintext),
                dmp.payload.clone(),
                "DH re-encrypt",
            );
            continue;
        }
        // Double Ratchet.
        checks.eq(
            map_key,
            file["parties"][other(sender)]["installation_id"].as_str().unwrap(),
            "map key",
        );
        let dr = dmp.dr_header.as_ref().unwrap();
        checks.hex(&dr.id, &layer["dr_header"]["id"], "DR header id");
        if let Some(x3dh) = layer.get("x3dh_header") {
            let header = dmp.x3dh_header.as_ref().unwrap();
            checks.hex(&header.key, &x3dh["ephemeral_key"], "X3DH ephemeral");
            checks.hex(&header.id, &x3dh["bundle_id"], "X3DH bundle id");
        } else {
            checks.eq(dmp.x3dh_header.is_none(), true, "no X3DH header once confirmed");
        }
        check_message_side(checks, &layer["sender_side"], layer, dmp);
        check_message_side(checks, &layer["receiver_side"], layer, dmp);
        if let Some(step) = layer["receiver_side"].get("ratchet_step").filter(|s| !s.is_null()) {
            check_ratchet_step(checks, step);
        }
    }
}

#[test]
fn one_to_one_layers() {
    let file = load("one-to-one.json");
    let mut checks = Checks::default();
    check_layers(&mut checks, &file);

    // X3DH from the private keys.
    let x = &file["x3dh"];
    let bob = secret(&x["initiator_identity_private_key"]);
    let ephemeral = secret(&x["initiator_ephemeral_private_key"]);
    checks.hex(
        ephemeral.public_key().to_compressed(),
        &x["initiator_ephemeral_public_key_compressed"],
        "EK",
    );
    let spk = secret(&x["responder_signed_pre_key_private"]);
    checks.hex(
        spk.public_key().to_compressed(),
        &x["responder_signed_pre_key_public_compressed"],
        "SPK",
    );
    let alice_pub = public(&x["responder_identity_public_key"]);
    let active = x3dh::initiator(&bob, &ephemeral, &alice_pub, &spk.public_key());
    checks.hex(*active.dh1, &x["dh1 = ECDH(initiator_identity, responder_spk)"], "dh1");
    checks.hex(*active.dh2, &x["dh2 = ECDH(initiator_ephemeral, responder_identity)"], "dh2");
    checks.hex(*active.dh3, &x["dh3 = ECDH(initiator_ephemeral, responder_spk)"], "dh3");
    checks.hex(*active.shared_key, &x["sk = keccak256(dh1||dh2||dh3)"], "SK");
    let passive = x3dh::responder(
        &party_key(&file, "alice"),
        &spk,
        &bob.public_key(),
        &ephemeral.public_key(),
    );
    checks.hex(*passive.shared_key, &x["sk = keccak256(dh1||dh2||dh3)"], "SK (responder)");

    // The ratchet traces of both parties.
    for party in ["alice", "bob"] {
        for step in file["double_ratchet_state_trace"][party].as_array().unwrap() {
            match step["kind"].as_str().unwrap() {
                "dh_ratchet_step" => check_ratchet_step(&mut checks, step),
                kind if kind.starts_with("init_active") => {
                    let ours = secret(&step["generated_dhs_private"]);
                    checks.hex(
                        ours.public_key().to_compressed(),
                        &step["generated_dhs_public"],
                        "init DHs",
                    );
                    let dh = *ours.ecdh(&public(&step["remote_ratchet_key"])).as_bytes();
                    checks.hex(dh, &step["dh_out"], "init dh_out");
                    let kdf = kdf_rk(&arr(&step["shared_key_sk"]), &dh);
                    checks.hex(kdf.root_key, &step["kdf_rk"]["root_key_out"], "init root");
                    checks.hex(
                        kdf.chain_key,
                        &step["kdf_rk"]["chain_key_out(send)"],
                        "init send chain",
                    );
                }
                _ => {
                    checks.hex(
                        secret(&step["dhs_private(signed_pre_key)"]).public_key().to_compressed(),
                        &step["dhs_public"],
                        "passive DHs",
                    );
                }
            }
        }
    }

    // Topics and keys (DECISIONS 8, 15).
    let (alice, bob) = (party_key(&file, "alice"), party_key(&file, "bob"));
    for (name, key) in [("alice", &alice), ("bob", &bob)] {
        let party = &file["parties"][name];
        checks.hex(
            partitioned_topic(&key.public_key()).0,
            &party["partitioned_topic"]["topic"],
            "partitioned topic",
        );
        checks.hex(
            contact_code_topic(&key.public_key()).0,
            &party["contact_code_topic"]["topic"],
            "contact-code topic",
        );
        checks.hex(
            *contact_code_key(&key.public_key()),
            &party["contact_code_topic"]["sym_key"],
            "contact-code key",
        );
    }
    let negotiated = NegotiatedSecret::derive(&alice, &bob.public_key());
    let n = &file["negotiated_topic"];
    checks.hex(negotiated.as_bytes(), &n["ecdh_shared_secret"], "negotiated secret");
    checks.hex(negotiated.topic().0, &n["topic"], "negotiated topic");
    checks.hex(*negotiated.waku_key(), &n["sym_key"], "negotiated Waku key");
    eprintln!("one-to-one.json: {} checks", checks.count);
    assert_eq!(checks.count, 395, "checks against one-to-one.json");
}

#[test]
fn group_layers() {
    let file = load("group.json");
    let mut checks = Checks::default();
    check_layers(&mut checks, &file);
    eprintln!("group.json: {} checks", checks.count);
    assert_eq!(checks.count, 302, "checks against group.json");
}

/// One party of the replay: its transport, fed the keys status-go drew in the run.
struct Party<S> {
    name: &'static str,
    transport: SecureTransport<S>,
    key: SecretKey,
}

fn scripted_entropy(one: &Value, party: &str) -> ScriptedEntropy {
    let mut entropy = ScriptedEntropy::new([0xee; 32]);
    entropy.push_key(
        KeyPurpose::SignedPreKey,
        secret(&one["parties"][party]["signed_pre_key_private"]),
    );
    for step in one["double_ratchet_state_trace"][party].as_array().unwrap() {
        if let Some(key) = step.get("generated_dhs_private") {
            entropy.push_key(KeyPurpose::RatchetKey, secret(key));
        }
    }
    if one["x3dh"]["initiator"] == party {
        entropy.push_key(
            KeyPurpose::X3dhEphemeral,
            secret(&one["x3dh"]["initiator_ephemeral_private_key"]),
        );
    }
    for envelope in one["envelopes"].as_array().unwrap() {
        let layer = &envelope["encryption_layer"];
        if envelope["sender"] == party && layer.get("sender_ephemeral_private_key").is_some() {
            entropy
                .push_key(KeyPurpose::DhEphemeral, secret(&layer["sender_ephemeral_private_key"]));
            entropy.push_bytes(&hx(&layer["aes_gcm_nonce"]));
        }
    }
    entropy
}

fn bundle_time(pm: &proto::ProtocolMessage) -> SystemTime {
    let nanos = u64::try_from(pm.bundles[0].timestamp).unwrap();
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// The session of `party` with the other party (bob initiated with alice's bundle).
fn session_id(one: &Value, party: &str) -> SessionId {
    let peer = other(party);
    SessionId {
        identity: party_key(one, peer).public_key().to_compressed(),
        installation_id: one["parties"][peer]["installation_id"].as_str().unwrap().to_owned(),
        bundle_id: arr(&one["parties"]["alice"]["signed_pre_key_public_compressed"]),
    }
}

fn replay<S: Store>(make_store: impl Fn(&str) -> S) -> usize {
    let one = load("one-to-one.json");
    let group = load("group.json");
    let mut checks = Checks::default();
    let mut parties: BTreeMap<&str, Party<S>> = BTreeMap::new();
    for name in ["alice", "bob"] {
        let key = party_key(&one, name);
        let transport = SecureTransport::new(
            key.clone(),
            one["parties"][name]["installation_id"].as_str().unwrap(),
            make_store(name),
        )
        .with_entropy(scripted_entropy(&one, name));
        parties.insert(name, Party { name, transport, key });
    }
    let alice_spk: [u8; 33] = arr(&one["parties"]["alice"]["signed_pre_key_public_compressed"]);

    // Send order: 1:1 #0-#7, the group chat, then the contact-code advertisements.
    let one_envelopes = one["envelopes"].as_array().unwrap();
    let group_envelopes = group["envelopes"].as_array().unwrap();
    let order = one_envelopes[..8].iter().chain(group_envelopes).chain(&one_envelopes[8..]);
    for envelope in order {
        let layer = &envelope["encryption_layer"];
        let kind = layer["kind"].as_str().unwrap();
        if kind.starts_with("none") {
            continue;
        }
        let sender_name = envelope["sender"].as_str().unwrap();
        let receiver_name = other(sender_name);
        let expected = hx(&envelope["protocol_message"]["bytes"]);
        let expected_pm = proto::decode_protocol_message(&expected).unwrap();
        let now = bundle_time(&expected_pm);
        let receiver_key = parties[receiver_name].key.public_key();
        let sender_key = parties[sender_name].key.public_key();
        let waku = &envelope["waku"];

        // The sender rebuilds the message from the plaintext.
        let sender = parties.get_mut(sender_name).unwrap();
        let plaintext = if kind.starts_with("public") {
            let built =
                sender.transport.build_public_message(&expected_pm.public_message, now).unwrap();
            checks.eq(
                built.encode_to_vec(),
                expected.clone(),
                "public ProtocolMessage byte for byte",
            );
            checks.hex(contact_code_topic(&sender_key).0, &waku["topic"], "contact-code topic");
            checks.hex(
                common::waku_key(&wisp_ratchet::topic::contact_code_name(&sender_key)),
                &waku["sym_key"],
                "contact-code key",
            );
            expected_pm.public_message.clone()
        } else {
            let plaintext = hx(&layer["decrypted"]);
            let built =
                sender.transport.build_direct_message(&receiver_key, &plaintext, now).unwrap();
            checks.eq(built.encode(), expected.clone(), "direct ProtocolMessage byte for byte");
            checks.hex(built.destination.topic().0, &waku["topic"], "topic of the destination");
            match &built.destination {
                Destination::Partitioned { recipient, .. } => {
                    checks.eq(*recipient, receiver_key, "partitioned: ECIES to the recipient");
                    checks.eq(
                        secret(&waku["recipient_private_key"]).public_key(),
                        receiver_key,
                        "recipient key",
                    );
                }
                Destination::Negotiated { secret: s, .. } => {
                    checks.hex(
                        common::waku_key(&s.name()),
                        &waku["sym_key"],
                        "negotiated Waku key",
                    );
                }
            }
            if kind.starts_with("double_ratchet") {
                let session = sender
                    .transport
                    .store()
                    .session(&session_id(&one, sender.name))
                    .unwrap()
                    .unwrap();
                let sender_side = &layer["sender_side"];
                checks.hex(
                    session.state.send.key,
                    &sender_side["chain_key_after"],
                    "sender chain key after",
                );
                checks.eq(session.id.bundle_id, alice_spk, "bundle id");
                if sender.name == "bob" {
                    checks.hex(
                        session.id.status_go_id(),
                        &layer["session_id"],
                        "status-go session id",
                    );
                }
            }
            plaintext
        };

        // The receiver opens the recorded bytes.
        let receiver = parties.get_mut(receiver_name).unwrap();
        let received = receiver.transport.handle_message(&sender_key, &expected_pm, now).unwrap();
        checks.eq(received.payload.as_deref(), Some(plaintext.as_slice()), "received plaintext");
        let want_kind = if kind.starts_with("public") {
            MessageKind::Public
        } else if kind.starts_with("DH") {
            MessageKind::Dh
        } else {
            // The X3DH header creates the session only the first time (1:1 #2).
            MessageKind::DoubleRatchet { x3dh: std::ptr::eq(envelope, &one_envelopes[2]) }
        };
        checks.eq(received.kind, want_kind, "message kind");
        if kind.starts_with("double_ratchet") {
            let session = receiver
                .transport
                .store()
                .session(&session_id(&one, receiver.name))
                .unwrap()
                .unwrap();
            let receiver_side = &layer["receiver_side"];
            checks.hex(
                session.state.recv.key,
                &receiver_side["chain_key_after"],
                "receiver chain key after",
            );
            if let Some(step) = receiver_side.get("ratchet_step").filter(|s| !s.is_null()) {
                checks.hex(
                    session.state.root_key,
                    &step["kdf_rk_send"]["root_key_out"],
                    "root key after step",
                );
                checks.hex(
                    session.state.send.key,
                    &step["kdf_rk_send"]["chain_key_out(send)"],
                    "send chain after step",
                );
                checks.hex(
                    session.state.dhs_public,
                    &step["generated_dhs_public"],
                    "ratchet key after step",
                );
            }
        }
    }
    checks.count
}

#[test]
fn replay_with_memory_store() {
    let count = replay(|_| MemoryStore::new());
    eprintln!("replay (memory store): {count} checks");
    assert_eq!(count, 134, "replay checks (memory store)");
}

#[test]
fn replay_with_sqlite_store() {
    let count = replay(|_| SqliteStore::open_in_memory().unwrap());
    eprintln!("replay (sqlite store): {count} checks");
    assert_eq!(count, 134, "replay checks (sqlite store)");
}

#[test]
fn public_chat_messages() {
    let file = load("public.json");
    let mut checks = Checks::default();
    let alice = secret(&file["sender"]["chat_private_key"]);
    let mut entropy = ScriptedEntropy::new([1; 32]);
    entropy.push_key(KeyPurpose::SignedPreKey, secret(&file["sender"]["signed_pre_key_private"]));
    let mut transport = SecureTransport::new(
        alice.clone(),
        file["sender"]["installation_id"].as_str().unwrap(),
        MemoryStore::new(),
    )
    .with_entropy(entropy);
    let mut bob = SecureTransport::new(
        SecretKey::from_bytes(&[0x5e; 32]).unwrap(),
        "bob",
        MemoryStore::new(),
    );
    for vector in file["vectors"].as_array().unwrap() {
        let waku = &vector["waku"];
        let name = waku["topic_derivation"]["input_string"].as_str().unwrap();
        checks.hex(public_chat_topic(name).0, &waku["topic"], "public chat topic");
        checks.hex(*public_chat_key(name), &waku["sym_key"], "public chat key");
        let key: [u8; 32] = arr(&waku["sym_key"]);
        let rlp = hx(&waku["envelope_rlp"]);
        let envelope = Envelope::decode(&mut rlp.as_slice()).unwrap();
        let opened = open_payload(&envelope.data, OpeningKey::Symmetric(&key)).unwrap();
        checks.hex(&opened.payload, &vector["protocol_message"]["bytes"], "ProtocolMessage bytes");
        let pm = proto::decode_protocol_message(&opened.payload).unwrap();
        let built = transport.build_public_message(&pm.public_message, bundle_time(&pm)).unwrap();
        checks.eq(
            built.encode_to_vec(),
            opened.payload.to_vec(),
            "public ProtocolMessage byte for byte",
        );
        let received = bob.handle_message(&alice.public_key(), &pm, bundle_time(&pm)).unwrap();
        checks.eq(received.kind, MessageKind::Public, "public kind");
        checks.eq(received.payload, Some(pm.public_message.clone()), "public payload");
    }
    eprintln!("public.json: {} checks", checks.count);
    assert_eq!(checks.count, 12, "checks against public.json");
}
