//! `wisp dns-tree` as a user runs it: the real binary signs a tree from a nodes file; the
//! records it prints are read back by the EIP-1459 client (in memory) and give every node.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{net::Ipv4Addr, time::Duration, time::Instant};

use common::{Scratch, run};
use wisp_crypto::SecretKey;
use wisp_discovery::{
    dns::{Client, ClientConfig, LinkEntry, MemoryResolver},
    enr::{Enr, EnrBuilder, WakuRoles},
};

const LIMIT: Duration = Duration::from_secs(60);
const DOMAIN: &str = "nodes.example.org";

fn enr(seed: u8) -> Enr {
    EnrBuilder::new(1)
        .ip4(Ipv4Addr::new(127, 0, 0, seed))
        .tcp(30303)
        .waku(WakuRoles::RELAY)
        .sign(&SecretKey::from_bytes(&[seed; 32]).unwrap())
        .unwrap()
}

fn key_file(scratch: &Scratch, name: &str, key: &SecretKey) -> std::path::PathBuf {
    scratch.write(name, &format!("{}\n", hex::encode(*key.to_bytes())))
}

#[test]
fn signs_a_tree_the_client_reads_back() {
    let scratch = Scratch::new("signs");
    let list_key = SecretKey::from_bytes(&[0x77; 32]).unwrap();
    let key = key_file(&scratch, "list.key", &list_key);
    let enrs: Vec<Enr> = (1..=20).map(enr).collect();
    // An enode of a node whose key we hold becomes a record too.
    let ours = SecretKey::from_bytes(&[0x99; 32]).unwrap();
    let our_key = key_file(&scratch, "ours.key", &ours);
    let enode = format!("enode://{}@127.0.0.99:30399", ours.public_key().node_id());
    let mut nodes = String::from("# test nodes\n\n");
    for enr in &enrs {
        nodes.push_str(&format!("{enr}\n"));
    }
    nodes.push_str(&format!("{enode}\n"));
    let nodes = scratch.write("nodes.txt", &nodes);
    let link = LinkEntry::new(
        "more.example.org",
        SecretKey::from_bytes(&[0x55; 32]).unwrap().public_key(),
    )
    .unwrap()
    .to_string();

    let out = run(
        scratch
            .wisp()
            .args(["dns-tree", "--nodes"])
            .arg(&nodes)
            .arg("--key")
            .arg(&key)
            .args([
                "--domain",
                DOMAIN,
                "--seq",
                "9",
                "--format",
                "txt",
                "--roles",
                "relay,mailserver",
            ])
            .arg("--enode-key")
            .arg(&our_key)
            .args(["--link", &link]),
        LIMIT,
    );
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let url = LinkEntry::new(DOMAIN, list_key.public_key()).unwrap().to_string();
    assert!(
        out.stderr.contains(&format!("signed tree seq 9 with 21 records and 1 links: {url}")),
        "{}",
        out.stderr
    );

    let resolver = MemoryResolver::new();
    for line in out.stdout.lines() {
        let (name, text) = line.split_once('\t').unwrap();
        resolver.add(name, text);
    }
    let mut client = Client::new(resolver, ClientConfig::default());
    client.add_url(&url).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (found, errors) = runtime.block_on(client.sync_all(Instant::now()));
    // The linked list is not in this resolver: one error for it.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].domain, "more.example.org");
    assert_eq!(found.len(), 21);
    for enr in &enrs {
        assert!(found.contains(enr));
    }
    let signed = found.iter().find(|e| e.node_id() == ours.public_key().node_id()).unwrap();
    assert_eq!(signed.to_node_record().unwrap().to_string(), enode);
    assert_eq!(signed.waku(), Some(WakuRoles::RELAY | WakuRoles::MAILSERVER));
    assert_eq!(client.trees()[0].seq, Some(9));

    // The zone format, to a file.
    let zone = scratch.path("nodes.zone");
    let out = run(
        scratch
            .wisp()
            .args(["dns-tree", "--nodes"])
            .arg(&nodes)
            .arg("--key")
            .arg(&key)
            .args(["--domain", DOMAIN, "--seq", "9", "--out"])
            .arg(&zone)
            .arg("--enode-key")
            .arg(&our_key),
        LIMIT,
    );
    assert!(out.status.success(), "{}", out.stderr);
    let zone = std::fs::read_to_string(zone).unwrap();
    assert!(
        zone.contains(&format!("$ORIGIN {DOMAIN}.\n@\t60\tIN\tTXT\t\"enrtree-root:v1 e=")),
        "{zone}"
    );
}

#[test]
fn enode_without_its_key_is_refused_with_the_line() {
    let scratch = Scratch::new("enode");
    let key = key_file(&scratch, "list.key", &SecretKey::from_bytes(&[0x77; 32]).unwrap());
    let id = SecretKey::from_bytes(&[0x99; 32]).unwrap().public_key().node_id();
    let nodes = scratch.write("nodes.txt", &format!("{}\nenode://{id}@127.0.0.1:30303\n", enr(1)));
    let out = run(
        scratch
            .wisp()
            .args(["dns-tree", "--nodes"])
            .arg(&nodes)
            .arg("--key")
            .arg(&key)
            .args(["--domain", DOMAIN, "--seq", "1"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("nodes.txt:2: an enode URL cannot be published")
            && out.stderr.contains("--enode-key"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn help_shows_an_example() {
    let out = run(common::wisp().args(["dns-tree", "--help"]), LIMIT);
    assert!(out.status.success());
    assert!(out.stdout.contains(
        "wisp dns-tree --nodes nodes.txt --key list.key --domain nodes.example.org --seq 1"
    ));
    assert!(out.stdout.contains("--enode-key"));
}
