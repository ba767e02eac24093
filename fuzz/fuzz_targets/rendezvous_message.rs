//! Fuzzes the Status rendezvous `/rend/0.1.0` wire codec: `Message::decode` on the bytes,
//! `item_len` (the stream framing) on them, and the server registry's answer to each decoded
//! request.
//!
//! A message that decodes must re-encode to exactly the bytes it consumed (the decoder is
//! strict: canonical integers, no extra fields), with `encoded_len` equal to that length;
//! records inside must be RLP lists of at most 300 bytes; the registry must answer every
//! request without panicking and never return more than 10 records.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wisp_discovery::enr::MAX_RECORD_SIZE;
use wisp_discovery::rendezvous::message::{MAX_MESSAGE_SIZE, item_len};
use wisp_discovery::rendezvous::{Message, Server, ServerConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(len)) = item_len(data) {
        assert!(len <= MAX_MESSAGE_SIZE);
    }
    let mut buf = data;
    let Ok(message) = Message::decode(&mut buf) else { return };
    let consumed = &data[..data.len() - buf.len()];
    assert!(consumed.len() <= MAX_MESSAGE_SIZE);
    assert_eq!(message.to_bytes(), consumed, "a decoded message re-encodes byte for byte");
    assert_eq!(message.encoded_len(), consumed.len());
    if let Message::DiscoverResponse(r) = &message {
        assert!(r.records.iter().all(|r| r.as_bytes().len() <= MAX_RECORD_SIZE));
    }
    let mut server = Server::new(ServerConfig::default(), 1);
    let now = Duration::from_secs(1);
    if let Some(Message::DiscoverResponse(r)) = server.handle(now, &message, None) {
        assert!(r.records.len() <= 10);
    }
    if let Message::Register(register) = &message {
        let answer = server.register(now, register);
        if answer.status.0 == 0 {
            assert_eq!(server.topic_len(&register.topic), 1);
        }
    }
});
