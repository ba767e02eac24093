//! Fuzzes MVDS payload decoding (`wisp_mvds::Payload::decode_with_limits`) and a node applying
//! the payload.
//!
//! 1. Decoding within small limits (64 KiB, 256 records): an error is typed, a size error only
//!    above the byte limit; a decoded payload re-encodes to `encoded_len` bytes, decodes again
//!    to an equal value, and its encoding is stable.
//! 2. The bytes given to a node (batch and interactive) as a payload from a group peer:
//!    `on_payload` agrees with the decoder; each message is received at most once; the next
//!    tick acks exactly the non-ephemeral messages and the offers of our own message, and
//!    requests the other offered ids not delivered in the same payload; the same bytes applied again receive nothing new.

#![no_main]

#[allow(dead_code)]
mod common;

use std::collections::BTreeSet;

use common::Counter;
use libfuzzer_sys::fuzz_target;
use wisp_mvds::{
    Config, Error, Event, GroupId, Limits, MemoryStore, MessageId, Mode, Node, Payload, PeerId,
};

const LIMITS: Limits = Limits { max_payload_bytes: 64 * 1024, max_records: 256 };

fuzz_target!(|data: &[u8]| {
    let decoded = Payload::decode_with_limits(&mut &data[..], &LIMITS);
    let payload = match decoded {
        Ok(p) => p,
        Err(Error::PayloadTooBig { size, max }) => {
            assert!(size == data.len() && size > max && max == LIMITS.max_payload_bytes);
            return;
        }
        Err(Error::TooManyRecords { count, max }) => {
            assert!(count > max && max == LIMITS.max_records);
            return;
        }
        Err(Error::Decode(_) | Error::InvalidMessageId { .. } | Error::InvalidGroupId { .. }) => {
            return;
        }
        Err(e) => panic!("unexpected decode error {e}"),
    };

    // 1. Round trip.
    let bytes = payload.to_bytes();
    assert_eq!(bytes.len(), payload.encoded_len());
    let again = Payload::decode_with_limits(&mut &bytes[..], &Limits::default())
        .expect("a re-encoded payload decodes");
    assert_eq!(again, payload);
    assert_eq!(again.to_bytes(), bytes, "encoding is stable");

    // 2. A node applying it.
    let peer = PeerId(b"peer".to_vec());
    let group = payload.messages.first().map_or(GroupId([0; 32]), |m| m.group_id);
    for mode in [Mode::Batch, Mode::Interactive] {
        let config = Config { mode, limits: LIMITS, ..Config::default() };
        let mut node = Node::new(config, MemoryStore::new(), Counter(1));
        node.add_peer(group, peer.clone()).unwrap();
        // Something of our own in flight, so acks and requests can hit a record.
        let own = node.send(group, b"own".to_vec(), 0).unwrap();

        let events = node.on_payload(&peer, data, 1_000).expect("decoder accepted it");
        let mut received = BTreeSet::new();
        for e in &events {
            match e {
                Event::Received { from, id, message } => {
                    assert_eq!(from, &peer);
                    assert_eq!(message.id(), *id);
                    assert!(received.insert(*id), "received twice");
                    assert_ne!(*id, own);
                }
                Event::Delivered { peer: p, group: g, id } => {
                    assert_eq!((p, g, id), (&peer, &group, &own));
                    assert!(payload.acks.contains(&own));
                }
                Event::GaveUp { .. } => panic!("on_payload never gives up"),
            }
        }
        let delivered: BTreeSet<MessageId> = payload.messages.iter().map(|m| m.id()).collect();
        assert!(received.is_subset(&delivered));

        let tick = node.tick(1_000).unwrap();
        let mut acks = BTreeSet::new();
        let mut requests = BTreeSet::new();
        for out in &tick.payloads {
            assert_eq!(out.peer, peer);
            acks.extend(out.payload.acks.iter().copied());
            requests.extend(out.payload.requests.iter().copied());
        }
        // Offers are applied before messages: only our own message is held at that point.
        let mut want_acks: BTreeSet<MessageId> =
            payload.messages.iter().filter(|m| !m.is_ephemeral()).map(|m| m.id()).collect();
        want_acks.extend(payload.offers.iter().filter(|id| **id == own));
        assert_eq!(acks, want_acks);
        // A request is dropped when its message arrives in the same payload.
        let want_requests: BTreeSet<MessageId> = payload
            .offers
            .iter()
            .filter(|id| **id != own && !delivered.contains(id))
            .copied()
            .collect();
        assert_eq!(requests, want_requests);

        let events = node.on_payload(&peer, data, 2_000).unwrap();
        assert!(events.iter().all(|e| !matches!(e, Event::Received { .. })));
    }
});
