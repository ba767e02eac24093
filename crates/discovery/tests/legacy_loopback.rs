//! Real UDP on 127.0.0.1: one bootnode and eight nodes that know only the bootnode find each
//! other under `whisper`; a mailserver registered under `whispermail` is found by a light
//! searcher; the bootnode ends up holding registrations (tickets matured and spent).

use aes_gcm as _;
use alloy_rlp as _;
use hex as _;
use k256 as _;
use proptest as _;
use serde_json as _;
use thiserror as _;
use tracing as _;

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use tokio::{net::UdpSocket, sync::mpsc};
use wisp_crypto::{NodeId, SecretKey};
use wisp_discovery::legacy::{
    Config, Endpoint, Event, LegacyDiscovery, PacketType, Topic,
    driver::{Handle, UdpDriver, unix_ms},
};
use wisp_rlpx::NodeRecord;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Node {
    id: NodeId,
    record: NodeRecord,
    handle: Handle,
    events: mpsc::UnboundedReceiver<Event>,
}

/// Starts a node on a fresh loopback port; `tcp` is the RLPx port it advertises.
async fn start(seed: u8, tcp: u16, bootnodes: Vec<NodeRecord>, register: &[&str]) -> Node {
    let socket = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind 127.0.0.1:0");
    let udp = socket.local_addr().expect("local addr").port();
    let key = SecretKey::from_bytes(&[seed; 32]).expect("key");
    let id = key.public_key().node_id();
    let mut cfg = Config::new(Endpoint { ip: LOCALHOST, udp, tcp });
    cfg.bootnodes = bootnodes;
    cfg.register_topics = register.iter().map(|t| Topic::new(*t)).collect();
    cfg.min_wait_period_s = 1;
    cfg.fast_refresh_ms = 500;
    cfg.revalidate_ms = 2000;
    cfg.seed = u64::from(seed);
    let machine = LegacyDiscovery::new(key, cfg, unix_ms());
    let (driver, handle, events) = UdpDriver::new(socket, machine);
    tokio::spawn(driver.run());
    let record = NodeRecord { id, address: LOCALHOST, tcp_port: tcp, udp_port: udp };
    Node { id, record, handle, events }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other_and_a_mailserver_through_one_bootnode() {
    let boot = start(1, 40000, Vec::new(), &[]).await;
    let whisper = Topic::new("whisper");
    let mail = Topic::new("whispermail");

    const RELAYS: u8 = 8;
    let mut relays = Vec::new();
    for i in 0..RELAYS {
        let n = start(10 + i, 41000 + u16::from(i), vec![boot.record], &["whisper"]).await;
        n.handle.lock().search(whisper.clone(), 500, unix_ms());
        relays.push(n);
    }
    let mut mailserver = start(50, 42000, vec![boot.record], &["whisper", "whispermail"]).await;
    let mut light = start(60, 43000, vec![boot.record], &[]).await;
    light.handle.lock().search(mail.clone(), 500, unix_ms());

    // Everyone registered under whisper: the relays and the mailserver.
    let expected: HashMap<NodeId, NodeRecord> = relays
        .iter()
        .map(|n| (n.id, n.record))
        .chain(std::iter::once((mailserver.id, mailserver.record)))
        .collect();
    // Each relay must find at least this many other whisper nodes (status-go's default max
    // is 2; we ask for all of them).
    let required = expected.len() - 1;

    let started = tokio::time::Instant::now();
    let mut found: Vec<HashSet<NodeId>> = vec![HashSet::new(); relays.len()];
    let mut mail_found: Option<NodeRecord> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        for (i, n) in relays.iter_mut().enumerate() {
            while let Ok(e) = n.events.try_recv() {
                if let Event::NodeFound { topic, record } = e {
                    assert_eq!(topic, whisper);
                    let want = expected.get(&record.id).expect("only registered nodes are found");
                    assert_eq!(record, *want, "the found record carries the advertised TCP port");
                    assert_ne!(record.id, n.id, "a node does not find itself");
                    found[i].insert(record.id);
                }
            }
        }
        while let Ok(e) = light.events.try_recv() {
            if let Event::NodeFound { topic, record } = e {
                assert_eq!(topic, mail);
                assert_eq!(record, mailserver.record, "only the mailserver is under whispermail");
                mail_found = Some(record);
            }
        }
        while mailserver.events.try_recv().is_ok() {}
        let done = found.iter().all(|f| f.len() >= required) && mail_found.is_some();
        if done {
            eprintln!(
                "figure: {} relays found all {required} other whisper nodes and the light node \
                 the mailserver in {} ms",
                relays.len(),
                started.elapsed().as_millis()
            );
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let held = boot.handle.lock().registrations_held();
            let boot_counters = boot.handle.lock().counters().clone();
            let relay_counters = relays[0].handle.lock().counters().clone();
            panic!(
                "not found in time: {:?}, mailserver found: {}; bootnode holds {held} \
                 registrations, counters {boot_counters:?}; relay 0 counters {relay_counters:?}",
                found.iter().map(HashSet::len).collect::<Vec<_>>(),
                mail_found.is_some(),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The light node never registers: nobody lists it, and it sent no topicRegister.
    assert_eq!(light.handle.lock().counters().sent(PacketType::TopicRegister), 0);

    // The bootnode serves registrations: tickets mature after the 1 s wait and are spent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held = boot.handle.lock().registrations_held();
        // RELAYS + mailserver under whisper, the mailserver under whispermail as well.
        if held == usize::from(RELAYS) + 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "bootnode holds {held} registrations");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = boot.handle.lock().counters().clone();
    assert_eq!(c.total_dropped(), c.dropped_unsolicited, "no honest packet was dropped: {c:?}");
    assert!(c.registrations_accepted >= u64::from(RELAYS) + 2, "{c:?}");
    assert!(boot.handle.lock().table_len() >= usize::from(RELAYS) + 2);
    // Figures: discovery traffic per node per minute (search every 500 ms in this test).
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    for (name, n) in
        [("relay", &relays[0]), ("mailserver", &mailserver), ("light", &light), ("bootnode", &boot)]
    {
        let c = n.handle.lock().counters().clone();
        let per_type: Vec<String> = PacketType::ALL
            .iter()
            .map(|t| format!("{} {:.0}", t.name(), c.sent(*t) as f64 / minutes))
            .collect();
        eprintln!(
            "figure: {name} sent {:.0} packets/min ({:.1} KiB/min): {}",
            c.total_sent() as f64 / minutes,
            c.bytes_sent as f64 / 1024.0 / minutes,
            per_type.join(", ")
        );
        assert!(c.total_sent() > 0);
    }
    let _ = SocketAddr::new(LOCALHOST, 0);
}

// Dependencies of the DNS code, not of these tests.
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
