//! Fuzzes the mailserver request decoders (`wisp_mailserver::request`) and the server's
//! admission of what they decode. A payload that decodes re-encodes to `encoded_len` bytes and
//! decodes again to an equal value (in both payload forms for a bare request). Admission never
//! panics, answers with the request's own id, and never admits an unbounded query.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_mailserver::{
    HistoryServer, MessagesRequest, P2PRequest, PayloadForm, ServerConfig, ServerKeys,
    server::cursor_from_wire,
};

/// 2023-11-14T22:13:20Z, in milliseconds.
const NOW_MS: u64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok((req, _)) = MessagesRequest::decode_with_form(&mut &data[..]) {
        for form in [PayloadForm::StatusGo, PayloadForm::Spec] {
            let rlp = req.to_rlp(form);
            assert_eq!(rlp.len(), req.encoded_len(form));
            let again = MessagesRequest::decode_with_form(&mut &rlp[..])
                .unwrap_or_else(|e| panic!("re-encoded {req:?} does not decode: {e}"));
            assert_eq!(again, (req.clone(), form));
        }
    }

    if let Ok(p) = P2PRequest::decode(data) {
        let payload = p.to_payload();
        assert_eq!(payload.len(), p.encoded_len());
        let again = P2PRequest::decode(&payload)
            .unwrap_or_else(|e| panic!("re-encoded {p:?} does not decode: {e}"));
        assert_eq!(again, p);

        let mut server = HistoryServer::<u8>::new(ServerConfig::default(), ServerKeys::default());
        match server.admit(&1, &p, NOW_MS) {
            Ok(a) => {
                assert_eq!(a.request_id, p.id());
                assert!((1..=1000).contains(&a.query.limit));
                assert!(a.query.from <= a.query.to);
                if a.query.topics.is_none() {
                    assert!(a.query.to - a.query.from <= 86_400);
                }
            }
            Err(r) => {
                assert_eq!(r.request_id, Some(p.id()));
                if let Some(c) = r.complete {
                    assert_eq!(c.request_id, p.id());
                }
            }
        }
    }

    let _ = cursor_from_wire(data);
});
