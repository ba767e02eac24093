//! The history protocol (8/WAKU-MAIL, DECISIONS 10): the request codec in both payload forms
//! and status-go's direct form, opening requests, the server over an in-memory archive of
//! ~3000 envelopes (pagination, concurrent inserts, topics vs bloom, every refusal), and the
//! client state machine driving the server end to end.

use std::{collections::HashSet, sync::OnceLock};

use bytes::Bytes;
use proptest::prelude::*;
use wisp_crypto::{SecretKey, Zeroizing, keccak256, symmetric_key_from_password};
use wisp_mailserver::{
    ArchivedEnvelope, ClientConfig, DEFAULT_MAILSERVER_PASSWORD, DirectRequest, FailReason,
    Failure, HistoryQuery, HistoryRequest, HistoryServer, MemoryStore, MessagesRequest, Next,
    Outcome, P2PRequest, Page, PayloadForm, Query, RejectReason, Reply, RequestError, RequestForm,
    RequestSealing, ServerConfig, ServerKeys, SqliteStore, Store, StoreError, build_request,
    open_request,
    request::{MAX_CURSOR_LEN, MAX_REQUEST_TOPICS},
    serve_request,
    server::{WIRE_CURSOR_LEN, complete_payload, cursor_from_wire},
};
use wisp_waku::{
    Bloom, Encryption, Envelope, MessageParams, OpeningKey, P2PRequestComplete, PacketLimits,
    Topic, WakuPacket, packets::waku_codes, payload::seal_payload, ratelimit::Limit,
};

// Dependencies of the library this test does not use directly.
use alloy_rlp as _;
#[cfg(feature = "postgres")]
use {deadpool_postgres as _, rustls as _, tokio_postgres as _, tokio_rustls as _};
use {rusqlite as _, thiserror as _, tracing as _};

/// The mailserver password's key (PBKDF2 with 65 356 rounds: derived once).
fn password_key() -> &'static Zeroizing<[u8; 32]> {
    static KEY: OnceLock<Zeroizing<[u8; 32]>> = OnceLock::new();
    KEY.get_or_init(|| symmetric_key_from_password(DEFAULT_MAILSERVER_PASSWORD))
}

fn server_keys() -> ServerKeys {
    ServerKeys::from_symmetric(password_key().clone())
}

fn sealing() -> RequestSealing {
    RequestSealing::new(Encryption::Symmetric(password_key().clone()))
}

const A: Topic = Topic([0xaa, 0x01, 0x02, 0x03]);
const B: Topic = Topic([0xbb, 0x04, 0x05, 0x06]);
const C: Topic = Topic([0xcc, 0x07, 0x08, 0x09]);
const D: Topic = Topic([0xdd, 0x0a, 0x0b, 0x0c]);
const T0: u32 = 1_700_000_000;
const NOW_MS: u64 = (T0 as u64 + 20_000) * 1000;

fn envelope(sent: u32, topic: Topic, salt: u32) -> Envelope {
    let mut data = salt.to_be_bytes().to_vec();
    data.extend_from_slice(&[0x5a; 60]);
    Envelope { expiry: sent + 15, ttl: 15, topic, data: data.into(), nonce: u64::from(salt) }
}

/// ~3000 envelopes over 10 000 s on four topics, several per second.
fn archive_envelopes() -> Vec<Envelope> {
    let topics = [A, B, C, D];
    (0..3000u32)
        .map(|i| envelope(T0 + (i * 7919) % 10_000 / 3, topics[(i % 4) as usize], i))
        .collect()
}

async fn store_with(envelopes: &[Envelope]) -> MemoryStore {
    let store = MemoryStore::new();
    let archived: Vec<_> = envelopes.iter().map(ArchivedEnvelope::new).collect();
    assert_eq!(store.put(&archived).await.unwrap(), envelopes.len());
    store
}

/// The (sent, hash) order the server promises.
fn sorted_keys<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> Vec<(u32, [u8; 32])> {
    let mut keys: Vec<_> = envelopes.into_iter().map(|e| (e.sent(), e.hash())).collect();
    keys.sort();
    keys
}

fn request(topics: Vec<Topic>, lower: u32, upper: u32, limit: u32) -> MessagesRequest {
    MessagesRequest {
        lower,
        upper,
        bloom: Bloom::from_topics(&topics),
        limit,
        cursor: Vec::new(),
        topics,
    }
}

fn direct(request: MessagesRequest) -> P2PRequest {
    P2PRequest::Direct(DirectRequest { id: [0x42; 32], request })
}

fn sealed(request: &MessagesRequest) -> P2PRequest {
    P2PRequest::Envelope(build_request(request, &sealing(), T0).unwrap())
}

fn no_rate() -> ServerConfig {
    ServerConfig { rate_limit: Limit::OFF, ..ServerConfig::default() }
}

/// Everything a client sees of a reply, decoded from the packets as a peer would.
fn decode_reply(reply: &Reply) -> (Vec<Envelope>, P2PRequestComplete) {
    let limits = PacketLimits::default();
    let mut envelopes = Vec::new();
    let mut complete = None;
    for (code, payload) in reply.packets() {
        match WakuPacket::decode(code, &payload, &limits).unwrap() {
            WakuPacket::P2PMessage(envs) => {
                assert!(complete.is_none(), "messages after the completion");
                envelopes.extend(envs);
            }
            WakuPacket::P2PRequestComplete(c) => complete = Some(c),
            other => panic!("unexpected packet {other:?}"),
        }
    }
    (envelopes, complete.expect("a completion"))
}

// ---------------------------------------------------------------------------------------------
// Request codec
// ---------------------------------------------------------------------------------------------

/// 8/WAKU-MAIL `payload-with-topic = "[" lower upper bloom limit cursor [ topics ] "]"`,
/// hand-assembled.
#[test]
fn spec_form_is_byte_exact() {
    let topic = Topic([0x12, 0x34, 0x56, 0x78]);
    let mut req = request(vec![topic], 0x5f5e_1000, 0x5f5f_6180, 100);
    req.cursor = vec![0xab; 36];
    let mut want = vec![0xf8, 120, 0x84, 0x5f, 0x5e, 0x10, 0x00, 0x84, 0x5f, 0x5f, 0x61, 0x80];
    want.extend_from_slice(&[0xb8, 64]);
    want.extend_from_slice(&topic.bloom().0);
    want.push(0x64); // limit 100: a single byte
    want.push(0xa4); // 36-byte cursor
    want.extend_from_slice(&[0xab; 36]);
    want.extend_from_slice(&[0xc5, 0x84, 0x12, 0x34, 0x56, 0x78]);
    assert_eq!(req.to_rlp(PayloadForm::Spec), want);
    assert_eq!(req.encoded_len(PayloadForm::Spec), want.len());
    assert_eq!(
        MessagesRequest::decode_with_form(&mut &want[..]).unwrap(),
        (req.clone(), PayloadForm::Spec)
    );

    // `payload-without-topic`: no topics item.
    req.topics.clear();
    let rlp = req.to_rlp(PayloadForm::Spec);
    assert_eq!(rlp.len(), want.len() - 6);
    assert_eq!(MessagesRequest::decode(&mut &rlp[..]).unwrap(), req);
}

/// The ABNF's fixed-width `4OCTET` integers (leading zeros) read as status-go's minimal ones.
#[test]
fn fixed_width_integers_are_accepted() {
    let mut rlp = vec![0xf8, 82, 0x84, 0, 0, 0, 5, 0x84, 0, 0, 0, 9, 0xb8, 64];
    rlp.extend_from_slice(&[0xff; 64]);
    rlp.extend_from_slice(&[0x84, 0, 0, 0x03, 0xe8, 0x80]);
    assert_eq!(rlp.len(), 2 + 82);
    let req = MessagesRequest::decode(&mut &rlp[..]).unwrap();
    assert_eq!((req.lower, req.upper, req.limit, req.bloom), (5, 9, 1000, Bloom::FULL));
    assert!(req.cursor.is_empty() && req.topics.is_empty());
}

/// status-go's direct request (`waku/common.MessagesRequest`), as its messenger sends it:
/// an ASCII-hex UUID id, an empty bloom, topics.
#[test]
fn direct_form_is_byte_exact() {
    let id: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
    let req = MessagesRequest {
        lower: 1,
        upper: 2,
        bloom: Bloom::EMPTY,
        limit: 1000,
        cursor: Vec::new(),
        topics: vec![A, B],
    };
    let d = DirectRequest { id, request: req };
    let mut want = vec![0xc0 + 51, 0xa0];
    want.extend_from_slice(&id);
    want.extend_from_slice(&[0x01, 0x02, 0x82, 0x03, 0xe8, 0x80, 0x80, 0xca, 0x84]);
    want.extend_from_slice(&A.0);
    want.push(0x84);
    want.extend_from_slice(&B.0);
    let p = P2PRequest::Direct(d.clone());
    assert_eq!(p.to_payload(), want);
    assert_eq!(p.encoded_len(), want.len());
    assert_eq!(P2PRequest::decode(&want).unwrap(), p);
    assert_eq!(p.id(), id);

    // A shorter id is left-padded, as status-go's `BytesToHash` does.
    let mut short = vec![0xc0 + 17, 0x83, 1, 2, 3];
    short.extend_from_slice(&[0x01, 0x02, 0x82, 0x03, 0xe8, 0x80, 0x80, 0xc5, 0x84]);
    short.extend_from_slice(&A.0);
    assert_eq!(short.len(), 1 + 17);
    let P2PRequest::Direct(d) = P2PRequest::decode(&short).unwrap() else { panic!("direct") };
    let mut id = [0u8; 32];
    id[29..].copy_from_slice(&[1, 2, 3]);
    assert_eq!(d.id, id);
}

#[test]
fn both_payload_forms_round_trip() {
    let cases = [
        request(vec![], T0, T0 + 60, 0),
        request(vec![A], T0, T0 + 60, 1000),
        MessagesRequest { cursor: vec![1; 36], ..request(vec![A, B, C], 0, u32::MAX, 7) },
        MessagesRequest { cursor: vec![2; 40], ..request(vec![], 5, 5, 1) },
    ];
    for req in cases {
        for form in [PayloadForm::StatusGo, PayloadForm::Spec] {
            let rlp = req.to_rlp(form);
            assert_eq!(rlp.len(), req.encoded_len(form));
            assert_eq!(
                MessagesRequest::decode_with_form(&mut &rlp[..]).unwrap(),
                (req.clone(), form)
            );
        }
    }
}

/// status-go before topics (2018-2020): `[Lower, Upper, Bloom, Limit, Cursor, Batch]`.
#[test]
fn legacy_status_go_form_decodes() {
    let mut rlp = vec![0xf8, 0x4c, 0x01, 0x02, 0xb8, 64];
    rlp.extend_from_slice(&[0xff; 64]);
    rlp.extend_from_slice(&[0x82, 0x01, 0xf4, 0x80, 0x01]);
    rlp[1] = (rlp.len() - 2) as u8;
    let (req, form) = MessagesRequest::decode_with_form(&mut &rlp[..]).unwrap();
    assert_eq!(form, PayloadForm::Spec);
    assert_eq!((req.lower, req.upper, req.limit), (1, 2, 500));
}

#[test]
fn malformed_requests_have_typed_errors() {
    let good = request(vec![A], 1, 2, 3);
    let decode = |bytes: &[u8]| MessagesRequest::decode(&mut &bytes[..]);

    // Too many topics, counted before they are decoded.
    let many = MessagesRequest { topics: vec![A; MAX_REQUEST_TOPICS + 1], ..good.clone() };
    assert_eq!(
        decode(&many.to_rlp(PayloadForm::StatusGo)),
        Err(RequestError::TooManyTopics { max: MAX_REQUEST_TOPICS })
    );
    let most = MessagesRequest { topics: vec![A; MAX_REQUEST_TOPICS], ..good.clone() };
    assert_eq!(decode(&most.to_rlp(PayloadForm::StatusGo)).unwrap(), most);

    // A 5-byte integer.
    let mut rlp = good.to_rlp(PayloadForm::Spec);
    rlp[1] += 5;
    rlp.splice(2..3, [0x85, 1, 2, 3, 4, 5]);
    assert!(matches!(decode(&rlp), Err(RequestError::IntegerTooLong { field: "lower", len: 5 })));

    // A bloom of 63 bytes.
    let mut rlp = vec![0xf8, 0, 0x01, 0x02, 0xb8, 63];
    rlp.extend_from_slice(&[0xff; 63]);
    rlp.extend_from_slice(&[0x03, 0x80]);
    rlp[1] = (rlp.len() - 2) as u8;
    assert_eq!(decode(&rlp), Err(RequestError::BloomLength { len: 63 }));

    // A 3-byte topic.
    let mut rlp = vec![0xf8, 0, 0x01, 0x02, 0xb8, 64];
    rlp.extend_from_slice(&[0xff; 64]);
    rlp.extend_from_slice(&[0xc4, 0x83, 1, 2, 3, 0x03, 0x80, 0x01]);
    rlp[1] = (rlp.len() - 2) as u8;
    assert_eq!(decode(&rlp), Err(RequestError::TopicLength { len: 3 }));

    // Missing limit; an extra item; a bad Batch flag; a huge cursor.
    let mut rlp = vec![0xf8, 0, 0x01, 0x02, 0xb8, 64];
    rlp.extend_from_slice(&[0xff; 64]);
    rlp[1] = (rlp.len() - 2) as u8;
    assert_eq!(decode(&rlp), Err(RequestError::Missing { field: "topics or limit" }));
    let mut rlp = good.to_rlp(PayloadForm::StatusGo);
    rlp.push(0x05);
    rlp[1] += 1;
    assert_eq!(decode(&rlp), Err(RequestError::TrailingItems { count: 1 }));
    let mut rlp = good.to_rlp(PayloadForm::StatusGo);
    *rlp.last_mut().unwrap() = 0x02;
    assert_eq!(decode(&rlp), Err(RequestError::BadBatchFlag));
    let huge = MessagesRequest { cursor: vec![0; MAX_CURSOR_LEN + 1], ..good.clone() };
    assert!(matches!(
        decode(&huge.to_rlp(PayloadForm::Spec)),
        Err(RequestError::CursorTooLong { .. })
    ));

    // Not a list, or nothing.
    assert!(matches!(decode(&[0x83, 1, 2, 3]), Err(RequestError::Rlp(_))));
    assert!(matches!(decode(&[]), Err(RequestError::Rlp(_))));

    // P2P Request payloads of neither shape.
    assert_eq!(P2PRequest::decode(&[0xc3, 1, 2, 3]), Err(RequestError::UnknownForm { count: 3 }));
    let mut trailing = direct(good).to_payload();
    trailing.push(0x80);
    assert!(P2PRequest::decode(&trailing).is_err());
}

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

#[test]
fn open_request_with_the_password_key() {
    let req = request(vec![A, B], T0, T0 + 3600, 100);
    let P2PRequest::Envelope(env) = sealed(&req) else { unreachable!() };
    assert!(env.pow() >= wisp_mailserver::request::DEFAULT_REQUEST_POW);
    assert_eq!(env.expiry, T0 + wisp_mailserver::request::DEFAULT_REQUEST_TTL);
    assert_eq!(env.topic, Topic([0; 4]));
    // Through the P2P Request codec of wisp-waku and ours.
    let payload = P2PRequest::Envelope(env.clone()).to_payload();
    assert!(matches!(
        WakuPacket::decode(waku_codes::P2P_REQUEST, &payload, &PacketLimits::default()),
        Ok(WakuPacket::P2PRequest(e)) if e == env
    ));
    assert_eq!(P2PRequest::decode(&payload).unwrap(), P2PRequest::Envelope(env.clone()));

    let opened = open_request(&env, &[OpeningKey::Symmetric(password_key())]).unwrap();
    assert_eq!(opened.request, req);
    assert_eq!(opened.id, keccak256(env.to_rlp()));
    assert_eq!(opened.form, Some(PayloadForm::StatusGo));
    assert!(opened.signer.is_some());

    let wrong = symmetric_key_from_password("not the password");
    assert_eq!(
        open_request(&env, &[OpeningKey::Symmetric(&wrong)]),
        Err(RequestError::Undecryptable)
    );
    assert_eq!(open_request(&env, &[]), Err(RequestError::Undecryptable));
}

#[test]
fn open_request_with_the_node_key() {
    let node = SecretKey::from_bytes(&[0xb2; 32]).unwrap();
    let signer = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let req = request(vec![C], T0, T0 + 10, 5);
    let sealing = RequestSealing {
        signer: Some(signer.clone()),
        form: PayloadForm::Spec,
        ..RequestSealing::new(Encryption::Asymmetric(node.public_key()))
    };
    let env = build_request(&req, &sealing, T0).unwrap();
    // The node key is tried first, then the password key, as status-go does.
    let keys = [OpeningKey::Asymmetric(&node), OpeningKey::Symmetric(password_key())];
    let opened = open_request(&env, &keys).unwrap();
    assert_eq!(opened.request, req);
    assert_eq!(opened.form, Some(PayloadForm::Spec));
    assert_eq!(opened.signer, Some(signer.public_key()));
    let other = SecretKey::from_bytes(&[0x33; 32]).unwrap();
    assert_eq!(
        open_request(&env, &[OpeningKey::Asymmetric(&other)]),
        Err(RequestError::Undecryptable)
    );
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

/// Follows the cursors of `first` to the end; returns the envelopes in arrival order and the
/// replies. `between` runs after each page (to insert envelopes concurrently).
async fn follow<S: Store>(
    server: &mut HistoryServer<u8>,
    store: &S,
    first: MessagesRequest,
    envelope_form: bool,
    mut between: impl AsyncFnMut(usize, &[u8]),
) -> (Vec<Envelope>, Vec<Reply>) {
    let mut req = first;
    let mut got = Vec::new();
    let mut replies = Vec::new();
    for page in 0.. {
        assert!(page < 100, "the cursor does not converge");
        let packet = if envelope_form { sealed(&req) } else { direct(req.clone()) };
        let admitted = server.admit(&1, &packet, NOW_MS).unwrap();
        assert_eq!(admitted.request_id, packet.id());
        let reply = serve_request(store, &admitted).await;
        let (envs, complete) = decode_reply(&reply);
        assert_eq!(complete.request_id, packet.id());
        assert_eq!(complete.error, None);
        let last = envs.last().map_or([0; 32], Envelope::hash);
        assert_eq!(complete.last_envelope_hash, last);
        // status-go clients refuse a completion longer than 32 + 32 + 36 bytes.
        assert!(complete.cursor.is_empty() || complete.cursor.len() == WIRE_CURSOR_LEN);
        assert!(reply.packets().last().unwrap().1.len() <= 2 + 100);
        got.extend(envs);
        let cursor = complete.cursor.to_vec();
        replies.push(reply);
        if cursor.is_empty() {
            break;
        }
        between(page, &cursor).await;
        req.cursor = cursor;
    }
    (got, replies)
}

#[tokio::test]
async fn pagination_covers_every_envelope_once_in_order() {
    let all = archive_envelopes();
    let store = store_with(&all).await;
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let (lower, upper) = (T0 + 100, T0 + 3000);
    let want = sorted_keys(
        all.iter().filter(|e| [A, B].contains(&e.topic) && (lower..=upper).contains(&e.sent())),
    );
    assert!(want.len() > 500, "{} envelopes match", want.len());

    for envelope_form in [true, false] {
        let first = request(vec![A, B], lower, upper, 100);
        let (got, replies) =
            follow(&mut server, &store, first, envelope_form, async |_, _| {}).await;
        let got_keys: Vec<_> = got.iter().map(|e| (e.sent(), e.hash())).collect();
        assert_eq!(got_keys, want, "every matching envelope once, in (sent, hash) order");
        assert_eq!(replies.len(), want.len().div_ceil(100));
        for r in &replies[..replies.len() - 1] {
            assert!(matches!(r.outcome, Outcome::Served { envelopes: 100, more: true, .. }));
        }
    }
}

#[tokio::test]
async fn pagination_stays_correct_while_envelopes_arrive() {
    let all = archive_envelopes();
    let store = store_with(&all).await;
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let (lower, upper) = (T0, T0 + 4000);
    let mut expected: Vec<Envelope> = all
        .iter()
        .filter(|e| e.topic == A && (lower..=upper).contains(&e.sent()))
        .cloned()
        .collect();
    let mut added_before = Vec::new();
    let store2 = store.clone();
    let first = request(vec![A], lower, upper, 100);
    let (got, _) = follow(&mut server, &store, first, false, async |page, cursor: &[u8]| {
        let at = cursor_from_wire(cursor).unwrap().unwrap().sent;
        // New envelopes after the cursor (to be served) and before it (already passed).
        let later = envelope(at + 1, A, 1_000_000 + page as u32);
        let end = envelope(upper, A, 2_000_000 + page as u32);
        let earlier = envelope(at.saturating_sub(1).max(lower), A, 3_000_000 + page as u32);
        let outside = envelope(upper + 1, A, 4_000_000 + page as u32);
        let other_topic = envelope(at + 1, B, 5_000_000 + page as u32);
        for e in [&later, &end, &earlier, &outside, &other_topic] {
            store2.put(&[ArchivedEnvelope::new(e)]).await.unwrap();
        }
        expected.extend([later, end]);
        added_before.push(earlier);
    })
    .await;
    let got_keys: Vec<_> = got.iter().map(|e| (e.sent(), e.hash())).collect();
    assert_eq!(got_keys, sorted_keys(&expected));
    let unique: HashSet<_> = got_keys.iter().collect();
    assert_eq!(unique.len(), got_keys.len(), "no duplicates");
    assert!(added_before.iter().all(|e| !got.contains(e)));
}

/// The same pagination over the SQLite archive, topics and bloom.
#[tokio::test]
async fn pagination_over_sqlite() {
    let path = std::env::temp_dir()
        .join(format!("wisp-mailserver-protocol-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).unwrap();
    let all = archive_envelopes();
    let archived: Vec<_> = all.iter().map(ArchivedEnvelope::new).collect();
    assert_eq!(store.put(&archived).await.unwrap(), all.len());
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let (lower, upper) = (T0 + 10, T0 + 3000);
    for (topics, bloom) in [(vec![A, D], Bloom::EMPTY), (vec![], Bloom::from_topics(&[C]))] {
        let want = sorted_keys(all.iter().filter(|e| {
            let selected =
                if topics.is_empty() { bloom.matches(&e.topic) } else { topics.contains(&e.topic) };
            selected && (lower..=upper).contains(&e.sent())
        }));
        let req = MessagesRequest { bloom, ..request(topics.clone(), lower, upper, 100) };
        let (got, _) = follow(&mut server, &store, req, false, async |_, _| {}).await;
        let got: Vec<_> = got.iter().map(|e| (e.sent(), e.hash())).collect();
        assert_eq!(got, want);
    }
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn topics_take_precedence_over_the_bloom() {
    let all = archive_envelopes();
    let store = store_with(&all).await;
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let (lower, upper) = (T0, T0 + 3600);

    // Topics [A] with C's bloom: only A.
    let req = MessagesRequest { bloom: C.bloom(), ..request(vec![A], lower, upper, 1000) };
    let reply = serve_request(&store, &server.admit(&1, &direct(req), NOW_MS).unwrap()).await;
    let (envs, _) = decode_reply(&reply);
    assert!(!envs.is_empty() && envs.iter().all(|e| e.topic == A));

    // Bloom only: whatever matches it (a bloom may also match other topics).
    let bloom = Bloom::from_topics(&[B, D]);
    let req = MessagesRequest { bloom, ..request(vec![], lower, upper, 1000) };
    let (envs, _) = follow(&mut server, &store, req, true, async |_, _| {}).await;
    let want = sorted_keys(
        all.iter().filter(|e| bloom.matches(&e.topic) && (lower..=upper).contains(&e.sent())),
    );
    assert_eq!(envs.iter().map(|e| (e.sent(), e.hash())).collect::<Vec<_>>(), want);
    assert!(envs.iter().any(|e| e.topic == B) && envs.iter().any(|e| e.topic == D));
}

#[tokio::test]
async fn limits_are_capped_and_defaulted() {
    let all = archive_envelopes();
    let store = store_with(&all).await;
    let mut server = HistoryServer::new(no_rate(), server_keys());
    for limit in [0, 1001, 5000, u32::MAX] {
        let req = request(vec![A, B, C, D], T0, T0 + 10_000, limit);
        let admitted = server.admit(&1, &direct(req), NOW_MS).unwrap();
        assert_eq!(admitted.query.limit, 1000);
        let reply = serve_request(&store, &admitted).await;
        let (envs, complete) = decode_reply(&reply);
        assert_eq!(envs.len(), 1000);
        assert_eq!(complete.cursor.len(), WIRE_CURSOR_LEN);
    }
    // Upper 0 means now + 60 s.
    let admitted = server.admit(&1, &direct(request(vec![A], 5, 0, 1)), NOW_MS).unwrap();
    assert_eq!(admitted.query.to, (NOW_MS / 1000) as u32 + 60);
}

#[tokio::test]
async fn packets_stay_within_the_byte_budget() {
    let all = archive_envelopes();
    let store = store_with(&all).await;
    let config = ServerConfig { max_packet_bytes: 1000, store_batch: 64, ..no_rate() };
    let mut server = HistoryServer::new(config, server_keys());
    let req = request(vec![A, B], T0, T0 + 10_000, 1000);
    let reply = serve_request(&store, &server.admit(&1, &direct(req), NOW_MS).unwrap()).await;
    assert!(reply.messages.len() > 10);
    for b in &reply.messages {
        assert!(b.payload_len() <= 1000);
        assert_eq!(b.payload().len(), b.payload_len());
        assert_eq!(
            b.to_packet().unwrap(),
            WakuPacket::decode(127, &b.payload(), &PacketLimits::default()).unwrap()
        );
    }
    let (envs, _) = decode_reply(&reply);
    assert_eq!(envs.len(), 1000);
    assert!(matches!(reply.outcome, Outcome::Served { envelopes: 1000, more: true, .. }));
}

#[tokio::test]
async fn refusals() {
    let all = archive_envelopes();
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let reject =
        |server: &mut HistoryServer<u8>, p: &P2PRequest| server.admit(&1, p, NOW_MS).unwrap_err();

    // Reversed range: an empty completion.
    let p = direct(request(vec![A], T0 + 10, T0, 10));
    let r = reject(&mut server, &p);
    assert_eq!(r.reason, RejectReason::ReversedRange);
    assert_eq!(r.complete, Some(P2PRequestComplete::completed(p.id(), [0; 32], Bytes::new())));
    assert_eq!(r.outcome(), Outcome::Rejected(RejectReason::ReversedRange));

    // Bad cursor: a failure report; a 40-byte archive key is a good one.
    let p = direct(MessagesRequest { cursor: vec![1; 35], ..request(vec![A], T0, T0 + 10, 10) });
    let r = reject(&mut server, &p);
    assert_eq!(r.reason, RejectReason::BadCursor);
    assert_eq!(r.complete, Some(P2PRequestComplete::failed(p.id(), "invalid cursor")));
    let key = all[0]
        .sent()
        .to_be_bytes()
        .into_iter()
        .chain(all[0].hash())
        .chain(all[0].topic.0)
        .collect();
    let p = direct(MessagesRequest { cursor: key, ..request(vec![A], T0, T0 + 10, 10) });
    assert!(server.admit(&1, &p, NOW_MS).is_ok());

    // Bloom-only over more than 24 h; with topics it is fine.
    let p = direct(request(vec![], T0, T0 + 86_401, 10));
    let p = match p {
        P2PRequest::Direct(mut d) => {
            d.request.bloom = A.bloom();
            P2PRequest::Direct(d)
        }
        p => p,
    };
    assert_eq!(reject(&mut server, &p).reason, RejectReason::RangeTooLong);
    assert!(server.admit(&1, &direct(request(vec![A], T0, T0 + 86_401, 10)), NOW_MS).is_ok());

    // Neither topics nor bloom.
    let p = direct(MessagesRequest { bloom: Bloom::EMPTY, ..request(vec![], T0, T0 + 10, 10) });
    assert_eq!(reject(&mut server, &p).reason, RejectReason::NoTopics);

    // Unsigned; under the minimum PoW; undecryptable; garbage inside.
    let req = request(vec![A], T0, T0 + 10, 10);
    let unsigned = RequestSealing { signer: None, ..sealing() };
    let p = P2PRequest::Envelope(build_request(&req, &unsigned, T0).unwrap());
    let r = reject(&mut server, &p);
    assert_eq!(r.reason, RejectReason::Unsigned);
    assert!(r.complete.unwrap().error.unwrap().contains("wrong signature"));
    let lax = ServerConfig { require_signature: false, ..no_rate() };
    assert!(HistoryServer::<u8>::new(lax, server_keys()).admit(&1, &p, NOW_MS).is_ok());

    let demanding = ServerConfig { min_request_pow: 1e9, ..no_rate() };
    let r = HistoryServer::<u8>::new(demanding, server_keys())
        .admit(&1, &sealed(&req), NOW_MS)
        .unwrap_err();
    assert_eq!(r.reason, RejectReason::PowTooLow);

    let other = RequestSealing::new(Encryption::Symmetric(symmetric_key_from_password("x")));
    let p = P2PRequest::Envelope(build_request(&req, &other, T0).unwrap());
    let r = reject(&mut server, &p);
    assert_eq!(r.reason, RejectReason::Undecryptable);
    assert_eq!(
        r.complete,
        Some(P2PRequestComplete::failed(p.id(), "failed to decrypt p2p request"))
    );

    let data = seal_payload(
        &MessageParams::new(vec![0xc2, 1, 2]).signed_by(SecretKey::random()),
        &Encryption::Symmetric(password_key().clone()),
    )
    .unwrap();
    let env =
        Envelope { expiry: T0 + 50, ttl: 50, topic: Topic([0; 4]), data: data.into(), nonce: 0 };
    let p = P2PRequest::Envelope(env);
    let lax = ServerConfig { min_request_pow: 0.0, ..no_rate() };
    let r = HistoryServer::<u8>::new(lax, server_keys()).admit(&1, &p, NOW_MS).unwrap_err();
    assert_eq!(r.reason, RejectReason::Malformed);
    assert_eq!(r.request_id, Some(p.id()));
    assert!(r.complete.unwrap().error.unwrap().starts_with("failed to decode data"));

    // Not a request at all: nothing to answer.
    let r = server.admit_payload(&1, &[0xc3, 1, 2, 3], NOW_MS).unwrap_err();
    assert_eq!((r.reason, r.complete, r.request_id), (RejectReason::Malformed, None, None));
}

#[test]
fn requests_are_rate_limited_per_peer() {
    let config = ServerConfig {
        rate_limit: Limit { per_second: 1, tolerance: 3.0 },
        ..ServerConfig::default()
    };
    let mut server = HistoryServer::<u8>::new(config, server_keys());
    let p = direct(request(vec![A], T0, T0 + 10, 10));
    for _ in 0..3 {
        assert!(server.admit(&1, &p, NOW_MS).is_ok());
    }
    let r = server.admit(&1, &p, NOW_MS).unwrap_err();
    assert_eq!(r.reason, RejectReason::RateLimited);
    assert_eq!(r.complete, Some(P2PRequestComplete::failed(p.id(), "rate limit exceeded")));
    // Garbage costs a token too.
    assert!(server.admit_payload(&2, &[0x01], NOW_MS).is_err());
    // Another peer has its own bucket; a second later there is a token again.
    assert!(server.admit(&2, &p, NOW_MS).is_ok());
    assert!(server.admit(&1, &p, NOW_MS + 1000).is_ok());
    assert!(server.admit(&1, &p, NOW_MS + 1000).is_err());
    assert_eq!(server.tracked_peers(), 2);
    server.prune(NOW_MS + 60_000);
    assert_eq!(server.tracked_peers(), 0);
}

/// An archive that always fails.
struct BrokenStore;

impl Store for BrokenStore {
    async fn put(&self, _: &[ArchivedEnvelope]) -> Result<usize, StoreError> {
        Err(StoreError::Backend { backend: "memory", detail: "broken".into() })
    }
    async fn query(&self, _: &Query) -> Result<Page, StoreError> {
        Err(StoreError::Backend { backend: "memory", detail: "broken".into() })
    }
    async fn delete_before(&self, _: u32, _: u32) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

#[tokio::test]
async fn archive_failure_is_reported() {
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let p = direct(request(vec![A], T0, T0 + 10, 10));
    let admitted = server.admit(&1u8, &p, NOW_MS).unwrap();
    // The node spawns it: the future must be `Send`.
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let reply = assert_send(serve_request(&BrokenStore, &admitted)).await;
    assert_eq!(reply.outcome, Outcome::StoreFailed);
    assert!(reply.messages.is_empty());
    assert!(reply.complete.error.is_some());
    assert_eq!(reply.complete.request_id, p.id());
}

// ---------------------------------------------------------------------------------------------
// Client against the server, in memory
// ---------------------------------------------------------------------------------------------

/// Runs a history request against a server over `store` until it ends.
async fn drive(
    server: &mut HistoryServer<u8>,
    store: &MemoryStore,
    query: HistoryQuery,
    config: ClientConfig,
) -> (Next, Vec<Envelope>) {
    let limits = PacketLimits::default();
    let mut now = NOW_MS;
    let (mut client, mut out) = HistoryRequest::start(query, config, now).unwrap();
    let mut taken = Vec::new();
    loop {
        assert_eq!(client.request_id(), Some(out.request_id));
        assert!(client.gap().is_some());
        let packets: Vec<(u64, Vec<u8>)> = match server.admit_payload(&7, &out.to_payload(), now) {
            Ok(admitted) => serve_request(store, &admitted).await.packets().collect(),
            Err(r) => {
                vec![(waku_codes::P2P_REQUEST_COMPLETE, complete_payload(&r.complete.unwrap()))]
            }
        };
        let mut next = Next::Pending;
        for (code, payload) in packets {
            next = match WakuPacket::decode(code, &payload, &limits).unwrap() {
                WakuPacket::P2PMessage(envs) => client.on_p2p_messages(&envs),
                WakuPacket::P2PRequestComplete(c) => client.on_complete(&c, now),
                other => panic!("unexpected {other:?}"),
            };
        }
        taken.extend(client.take_envelopes());
        now += 10;
        match next {
            Next::Request(o) => out = o,
            end => return (end, taken),
        }
    }
}

#[tokio::test]
async fn client_follows_the_cursor_to_the_end() {
    let all = archive_envelopes();
    let store = store_with(&all).await;
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let (from, to) = (T0 + 500, T0 + 2500);
    let want = sorted_keys(
        all.iter().filter(|e| [B, C].contains(&e.topic) && (from..=to).contains(&e.sent())),
    );
    for form in [RequestForm::envelope(sealing()), RequestForm::Direct] {
        let query = HistoryQuery { limit: 150, ..HistoryQuery::topics(vec![B, C], from, to) };
        let (end, mut taken) = drive(&mut server, &store, query, ClientConfig::new(form)).await;
        let Next::Done(summary) = end else { panic!("not done: {end:?}") };
        assert_eq!(summary.pages as usize, want.len().div_ceil(150));
        assert_eq!(summary.received as usize, want.len());
        assert_eq!(summary.unexpected, 0);
        // The last page's envelopes come with the summary; the others were taken on the way.
        assert!(!taken.is_empty() && summary.envelopes.len() <= 150);
        taken.extend(summary.envelopes);
        assert_eq!(sorted_keys(&taken), want);
        assert_eq!(summary.last_envelope_hash, taken.last().unwrap().hash());
    }
}

#[tokio::test]
async fn client_reports_a_mailserver_failure() {
    let store = store_with(&archive_envelopes()).await;
    let mut server = HistoryServer::new(no_rate(), server_keys());
    let query = HistoryQuery::bloom(A.bloom(), T0, T0 + 2 * 86_400);
    let (end, _) = drive(&mut server, &store, query, ClientConfig::new(RequestForm::Direct)).await;
    let Next::Failed(f) = end else { panic!("{end:?}") };
    assert_eq!(
        f.reason,
        FailReason::Mailserver("query range must be smaller or equal to 24 hours".into())
    );
    assert_eq!(f.gap, (T0, T0 + 2 * 86_400));
}

#[test]
fn client_times_out_and_retries() {
    let mut config = ClientConfig::new(RequestForm::envelope(sealing()));
    config.page_timeout_ms = 1000;
    config.retries = 1;
    let query = HistoryQuery::topics(vec![A], T0, T0 + 100);
    let (mut client, first) = HistoryRequest::start(query, config, 0).unwrap();
    assert_eq!(client.deadline_ms(), Some(1000));
    assert_eq!(client.on_timeout(999), Next::Pending);
    let Next::Request(retry) = client.on_timeout(1000) else { panic!("a retry") };
    assert_ne!(retry.request_id, first.request_id, "a new envelope, a new id");
    assert_eq!(client.deadline_ms(), Some(2000));
    // The first request's late completion is not this page's.
    let late = P2PRequestComplete::completed(first.request_id, [0; 32], Bytes::new());
    assert_eq!(client.on_complete(&late, 1500), Next::Ignored);
    client.on_p2p_messages(&[envelope(T0 + 1, A, 1), envelope(T0 + 1, B, 2)]);
    let Next::Failed(f) = client.on_timeout(2000) else { panic!("timed out") };
    assert_eq!(f.reason, FailReason::Timeout);
    assert_eq!((f.summary.received, f.summary.unexpected, f.summary.envelopes.len()), (2, 1, 2));
    assert_eq!(client.gap(), Some((T0, T0 + 100)));
    assert!(client.is_finished());
    assert_eq!(client.on_timeout(10_000), Next::Ignored);
    assert_eq!(client.on_p2p_messages(&[envelope(T0, A, 3)]), Next::Ignored);
}

#[test]
fn client_refuses_a_looping_cursor() {
    let query = HistoryQuery::topics(vec![A], T0, T0 + 100);
    let (mut client, out) =
        HistoryRequest::start(query, ClientConfig::new(RequestForm::Direct), 0).unwrap();
    // status-go's messenger's id: 32 ASCII hex digits.
    assert!(out.request_id.iter().all(u8::is_ascii_hexdigit));
    let cursor = Bytes::from(vec![9; 36]);
    let c = P2PRequestComplete::completed(out.request_id, [1; 32], cursor.clone());
    let Next::Request(next) = client.on_complete(&c, 1) else { panic!("next page") };
    let P2PRequest::Direct(d) = &next.packet else { panic!("direct") };
    assert_eq!(d.request.cursor, cursor.to_vec());
    let again = P2PRequestComplete::completed(next.request_id, [1; 32], cursor);
    let Next::Failed(f) = client.on_complete(&again, 2) else { panic!("loop") };
    assert_eq!(f.reason, FailReason::NoProgress);

    let (mut client, out) = HistoryRequest::start(
        HistoryQuery::topics(vec![A], T0, T0 + 100),
        ClientConfig { max_pages: 1, ..ClientConfig::new(RequestForm::Direct) },
        0,
    )
    .unwrap();
    let c = P2PRequestComplete::completed(out.request_id, [1; 32], Bytes::from(vec![1; 36]));
    assert!(matches!(
        client.on_complete(&c, 1),
        Next::Failed(Failure { reason: FailReason::TooManyPages, .. })
    ));

    assert!(
        HistoryRequest::start(
            HistoryQuery::topics(vec![A], 2, 1),
            ClientConfig::new(RequestForm::Direct),
            0
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn arb_request() -> impl Strategy<Value = MessagesRequest> {
    (
        any::<u32>(),
        any::<u32>(),
        prop_oneof![Just(Bloom::FULL), any::<[u8; 4]>().prop_map(|t| Topic(t).bloom())],
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..=MAX_CURSOR_LEN),
        prop::collection::vec(any::<[u8; 4]>().prop_map(Topic), 0..20),
    )
        .prop_map(|(lower, upper, bloom, limit, cursor, topics)| MessagesRequest {
            lower,
            upper,
            bloom,
            limit,
            cursor,
            topics,
        })
}

proptest! {
    #[test]
    fn request_round_trips(req in arb_request(), spec in any::<bool>()) {
        let form = if spec { PayloadForm::Spec } else { PayloadForm::StatusGo };
        let rlp = req.to_rlp(form);
        prop_assert_eq!(rlp.len(), req.encoded_len(form));
        prop_assert_eq!(MessagesRequest::decode_with_form(&mut &rlp[..]).unwrap(), (req, form));
    }

    #[test]
    fn direct_request_round_trips(req in arb_request(), id in any::<[u8; 32]>(), empty_bloom in any::<bool>()) {
        let request = MessagesRequest { bloom: if empty_bloom { Bloom::EMPTY } else { req.bloom }, ..req };
        let p = P2PRequest::Direct(DirectRequest { id, request });
        let payload = p.to_payload();
        prop_assert_eq!(payload.len(), p.encoded_len());
        prop_assert_eq!(P2PRequest::decode(&payload).unwrap(), p);
    }

    #[test]
    fn decoders_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = MessagesRequest::decode(&mut &data[..]);
        let _ = P2PRequest::decode(&data);
        let _ = cursor_from_wire(&data);
    }

    #[test]
    fn mutated_requests_never_panic(req in arb_request(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut rlp = req.to_rlp(PayloadForm::StatusGo);
        let i = at.index(rlp.len());
        rlp[i] = byte;
        let _ = MessagesRequest::decode(&mut &rlp[..]);
        let mut payload = P2PRequest::Direct(DirectRequest { id: [1; 32], request: req }).to_payload();
        let i = at.index(payload.len());
        payload[i] = byte;
        let _ = P2PRequest::decode(&payload);
    }

    /// Whatever a direct request says, admission never panics and never admits an unbounded
    /// query.
    #[test]
    fn admission_is_bounded(req in arb_request(), now in any::<u64>()) {
        let mut server = HistoryServer::<u8>::new(no_rate(), ServerKeys::default());
        if let Ok(a) = server.admit(&1, &direct(req), now) {
            prop_assert!((1..=1000).contains(&a.query.limit));
            prop_assert!(a.query.from <= a.query.to);
            if a.query.topics.is_none() {
                prop_assert!(a.query.to - a.query.from <= 86_400);
            }
        }
    }
}
