//! EIP-1459 trees through the in-memory resolver: the dnsdisc.md example tree, trees our
//! publisher signs, and hostile or changing trees.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    path::PathBuf,
    time::{Duration, Instant},
};

use wisp_crypto::SecretKey;
use wisp_discovery::{
    dns::{
        Client, ClientConfig, DnsError, Entry, LinkEntry, MAX_BRANCH_TEXT, MemoryResolver,
        RootEntry, SyncError, Tree, ZoneTtl,
        entry::{entry_hash, hash_matches},
    },
    enr::{Enr, EnrBuilder, WakuRoles},
};

// Dependencies of the library and of other test targets.
use aes_gcm as _;
use alloy_rlp as _;
use base64 as _;
#[cfg(feature = "discv5")]
use discv5 as _;
#[cfg(feature = "discv5")]
use enr as _;
#[cfg(feature = "rendezvous")]
use futures as _;
#[cfg(feature = "hickory")]
use hickory_resolver as _;
use k256 as _;
#[cfg(feature = "rendezvous")]
use libp2p as _;
use thiserror as _;
use tracing as _;
use wisp_rlpx as _;

const EXAMPLE_DOMAIN: &str = "nodes.example.org";
/// dnsdisc.md §URL Scheme: "signed by the public key 0x049f88…". This key signs the example
/// root. The spec's example URL (`enrtree://AM5FCQ…@nodes.example.org`) carries another key
/// (the one the example's link entry uses), so the tree is checked against this one.
const EXAMPLE_SIGNER: &str = "049f88229042fef9200246f49f94d9b77c4e954721442714e85850cb6d9e5daf2d880ea0e53cb3ac1a75f9923c2726a4f941f7d326781baa6380754a360de5c2b6";
/// The example's own URL, whose key does not sign the example root.
const EXAMPLE_URL: &str =
    "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@nodes.example.org";

fn example_signer() -> LinkEntry {
    let key = wisp_crypto::PublicKey::from_sec1(&hex::decode(EXAMPLE_SIGNER).unwrap()).unwrap();
    LinkEntry::new(EXAMPLE_DOMAIN, key).unwrap()
}

/// The example tree of dnsdisc.md as `(name, ttl, text)`, names made absolute.
fn example_zone() -> Vec<(String, u32, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/discovery/dnsdisc-example.zone");
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<(String, u32, String)> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 5, "{line}");
            assert_eq!((fields[2], fields[3]), ("IN", "TXT"));
            // The content is the rest of the line after the type (the root holds spaces).
            let content = line.split_once(" TXT ").unwrap().1.trim().to_owned();
            let name = match fields[0] {
                "@" => EXAMPLE_DOMAIN.to_owned(),
                hash => format!("{hash}.{EXAMPLE_DOMAIN}"),
            };
            (name, fields[1].parse().unwrap(), content)
        })
        .collect();
    assert_eq!(records.len(), 6, "the example holds a root, a link, a branch and 3 records");
    records
}

fn node(seed: u8, port: u16) -> (SecretKey, Enr) {
    let key = SecretKey::from_bytes(&[seed; 32]).unwrap();
    let enr = EnrBuilder::new(1)
        .ip4(Ipv4Addr::new(127, 0, 0, seed))
        .tcp(port)
        .udp(port)
        .waku(WakuRoles::RELAY)
        .sign(&key)
        .unwrap();
    (key, enr)
}

fn nodes(n: usize) -> Vec<Enr> {
    (0..n)
        .map(|i| {
            let key =
                SecretKey::from_bytes(&wisp_crypto::keccak256((i as u64).to_be_bytes())).unwrap();
            EnrBuilder::new(1)
                .ip4(Ipv4Addr::new(127, 0, (i / 256) as u8, (i % 256) as u8))
                .tcp(30303)
                .sign(&key)
                .unwrap()
        })
        .collect()
}

fn list_key() -> SecretKey {
    SecretKey::from_bytes(&[0x42; 32]).unwrap()
}

fn sorted(enrs: &[Enr]) -> Vec<String> {
    let mut texts: Vec<String> = enrs.iter().map(Enr::to_text).collect();
    texts.sort();
    texts
}

#[test]
fn dnsdisc_example_hashes_and_signature() {
    let zone = example_zone();
    let url = example_signer();
    let spec_url: LinkEntry = EXAMPLE_URL.parse().unwrap();
    for (name, _, text) in &zone {
        let entry = Entry::parse(text).unwrap();
        assert_eq!(entry.to_text(), *text, "every entry re-encodes unchanged");
        if let Some(hash) = name.strip_suffix(&format!(".{EXAMPLE_DOMAIN}")) {
            assert!(hash_matches(hash, text), "{name} is the hash of its text");
            assert_eq!(entry_hash(text), hash);
        } else {
            let Entry::Root(root) = entry else { panic!("the apex holds the root") };
            assert_eq!(root.seq, 1);
            assert!(root.verify(&url.public_key), "the root is signed by the URL's key");
            let other = SecretKey::from_bytes(&[1; 32]).unwrap();
            assert!(!root.verify(&other.public_key()));
            assert!(!root.verify(&spec_url.public_key), "the spec's URL key is another key");
        }
    }
}

#[tokio::test]
async fn dnsdisc_example_tree_syncs() {
    let zone = example_zone();
    let resolver =
        MemoryResolver::from_records(zone.iter().map(|(n, _, t)| (n.clone(), t.clone())));
    let mut client = Client::new(resolver.clone(), ClientConfig::default());
    let url = example_signer().to_string();
    assert!(client.add_url(&url).unwrap());
    assert!(!client.add_url(&url).unwrap(), "a known domain is not added twice");
    let (found, errors) = client.sync_all(Instant::now()).await;
    // Pointed at the spec's URL, the same tree is rejected: its key did not sign the root.
    let mut wrong = Client::new(resolver.clone(), ClientConfig::default());
    wrong.add_url(EXAMPLE_URL).unwrap();
    let (none, wrong_errors) = wrong.sync_all(Instant::now()).await;
    assert!(none.is_empty());
    assert!(matches!(wrong_errors[..], [SyncError { error: DnsError::RootSignature { .. }, .. }]));

    let expected: Vec<Enr> = zone
        .iter()
        .filter(|(_, _, t)| t.starts_with("enr:"))
        .map(|(_, _, t)| t.parse().unwrap())
        .collect();
    assert_eq!(found.len(), 3);
    assert_eq!(sorted(&found), sorted(&expected));
    // The link points at morenodes.example.org, which this resolver does not hold.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].domain, "morenodes.example.org");
    assert!(matches!(errors[0].error, DnsError::Resolve(_)));
    let trees = client.trees();
    assert_eq!(trees.len(), 2);
    assert_eq!(trees[0].seq, Some(1));
    assert_eq!(trees[0].nodes, 3);
    assert_eq!(trees[1].url.domain, "morenodes.example.org");
    // Root, link, branch, 3 records, and the linked root (and the rejected root above).
    assert_eq!(resolver.lookups(), 8);
}

/// Our publisher lays out the example's records and link as the spec's tree: same entries,
/// same hashes (the root's signature differs: the example's key is not given).
#[test]
fn publisher_reproduces_the_dnsdisc_example_layout() {
    let zone = example_zone();
    let enrs: Vec<Enr> = zone
        .iter()
        .filter(|(_, _, t)| t.starts_with("enr:"))
        .map(|(_, _, t)| t.parse().unwrap())
        .collect();
    let links: Vec<LinkEntry> = zone
        .iter()
        .filter(|(_, _, t)| t.starts_with("enrtree://"))
        .map(|(_, _, t)| t.parse().unwrap())
        .collect();
    // Any order in, the same tree out.
    let reversed: Vec<Enr> = enrs.iter().rev().cloned().collect();
    let tree = Tree::sign(1, &reversed, &links, &list_key()).unwrap();
    assert_eq!(tree.root().enr_root, "JWXYDBPXYWG6FX3GMDIBFA6CJ4");
    assert_eq!(tree.root().link_root, "C7HRFPF3BLGF3YR4DY5KX3SMBE");
    let ours: BTreeMap<String, String> =
        tree.txt_records(EXAMPLE_DOMAIN).into_iter().skip(1).collect();
    let spec: BTreeMap<String, String> =
        zone.iter().skip(1).map(|(n, _, t)| (n.clone(), t.clone())).collect();
    assert_eq!(ours, spec);
    assert!(tree.root().verify(&list_key().public_key()));
}

#[test]
fn zone_file_lines() {
    let (_, enr) = node(1, 30303);
    let tree = Tree::sign(3, std::slice::from_ref(&enr), &[], &list_key()).unwrap();
    let zone = tree.zone_file("nodes.example.org.", ZoneTtl::default()).unwrap();
    let lines: Vec<&str> = zone.lines().collect();
    assert!(lines[0].starts_with("; EIP-1459 node list: 1 records, 0 links, seq 3"));
    assert_eq!(lines[1], format!("; {}", tree.url("nodes.example.org").unwrap()));
    assert_eq!(lines[2], "$ORIGIN nodes.example.org.");
    assert_eq!(lines[3], format!("@\t60\tIN\tTXT\t\"{}\"", tree.root()));
    // A single record is the ENR root itself; the link root is the empty branch.
    assert_eq!(tree.root().enr_root, entry_hash(&enr.to_text()));
    assert_eq!(tree.root().link_root, entry_hash("enrtree-branch:"));
    assert_eq!(lines.len(), 6);
    for line in &lines[4..] {
        let (name, rest) = line.split_once('\t').unwrap();
        assert!(rest.starts_with("86900\tIN\tTXT\t\""));
        let content = rest.split_once("TXT\t").unwrap().1;
        // Quoted strings of at most 255 bytes, joined back to the entry.
        let parts: Vec<&str> = content.split("\" \"").collect();
        let joined: String = parts.iter().map(|p| p.trim_matches('"')).collect();
        assert!(parts.iter().all(|p| p.trim_matches('"').len() <= 255));
        assert!(hash_matches(name, &joined));
    }
    assert!(matches!(
        tree.zone_file("bad domain", ZoneTtl::default()),
        Err(DnsError::BadDomain { .. })
    ));
}

#[tokio::test]
async fn large_tree_is_split_into_bounded_branches_and_syncs_whole() {
    let enrs = nodes(400);
    let tree = Tree::sign(1, &enrs, &[], &list_key()).unwrap();
    assert_eq!(tree.enr_count(), 400);
    let mut branches = 0;
    for (_, text) in tree.entries() {
        if text.starts_with("enrtree-branch:") {
            branches += 1;
            assert!(text.len() <= MAX_BRANCH_TEXT, "{} bytes", text.len());
        }
    }
    // 400 records: 31 branches of 13 (and one of 1, which is the record itself), 3 above
    // them, and the top branch.
    assert!(branches >= 31, "{branches}");
    let domain = "big.example.org";
    let resolver = MemoryResolver::from_records(tree.txt_records(domain));
    let mut client = Client::new(resolver, ClientConfig::default());
    client.add_tree(tree.url(domain).unwrap());
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sorted(&found), sorted(&enrs));
}

#[tokio::test]
async fn walk_is_lazy_and_bounded() {
    let enrs = nodes(100);
    let tree = Tree::sign(1, &enrs, &[], &list_key()).unwrap();
    let domain = "lazy.example.org";
    let resolver = MemoryResolver::from_records(tree.txt_records(domain));
    let config = ClientConfig { max_nodes: 10, ..ClientConfig::default() };
    let mut client = Client::new(resolver.clone(), config);
    client.add_tree(tree.url(domain).unwrap());
    let now = Instant::now();
    let first = client.next_node(now).await.unwrap().unwrap();
    assert!(enrs.contains(&first));
    // Root, link root, then at most the branch levels down to one record.
    assert!(resolver.lookups() <= 6, "{} lookups for the first record", resolver.lookups());
    let (rest, errors) = client.sync_all(now).await;
    assert!(errors.is_empty());
    assert_eq!(rest.len(), 9, "max_nodes bounds the total");
    assert!(client.next_node(now).await.is_none());
}

#[tokio::test]
async fn links_are_followed() {
    let (a, b) = (nodes(3), nodes(5)[3..].to_vec());
    let key_b = SecretKey::from_bytes(&[0x43; 32]).unwrap();
    let tree_b = Tree::sign(1, &b, &[], &key_b).unwrap();
    let link = tree_b.url("b.example.org").unwrap();
    let tree_a = Tree::sign(1, &a, &[link], &list_key()).unwrap();
    let mut records = tree_a.txt_records("a.example.org");
    records.extend(tree_b.txt_records("b.example.org"));
    let mut client = Client::new(MemoryResolver::from_records(records), ClientConfig::default());
    client.add_tree(tree_a.url("a.example.org").unwrap());
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert!(errors.is_empty(), "{errors:?}");
    let all: Vec<Enr> = a.iter().chain(&b).cloned().collect();
    assert_eq!(sorted(&found), sorted(&all));
    assert_eq!(client.trees().len(), 2);
}

#[tokio::test]
async fn tampered_root_signature_is_rejected() {
    let enrs = nodes(3);
    let tree = Tree::sign(1, &enrs, &[], &list_key()).unwrap();
    let domain = "evil.example.org";
    let resolver = MemoryResolver::from_records(tree.txt_records(domain));
    // Bump seq without re-signing.
    let mut forged = tree.root().clone();
    forged.seq = 2;
    resolver.set(domain, vec![forged.to_string()]);
    let mut client = Client::new(resolver.clone(), ClientConfig::default());
    client.add_tree(tree.url(domain).unwrap());
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert!(found.is_empty());
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0].error, DnsError::RootSignature { .. }), "{errors:?}");
    // Signed by another key: also rejected.
    let other = Tree::sign(1, &enrs, &[], &SecretKey::from_bytes(&[9; 32]).unwrap()).unwrap();
    resolver.set(domain, vec![other.root().to_string()]);
    let mut client = Client::new(resolver, ClientConfig::default());
    client.add_tree(tree.url(domain).unwrap());
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert!(found.is_empty());
    assert!(matches!(errors[0].error, DnsError::RootSignature { .. }));
}

#[tokio::test]
async fn root_is_rechecked_and_a_new_seq_restarts_the_walk() {
    let domain = "update.example.org";
    let enrs = nodes(6);
    let v1 = Tree::sign(1, &enrs[..4], &[], &list_key()).unwrap();
    let resolver = MemoryResolver::from_records(v1.txt_records(domain));
    let config = ClientConfig { root_recheck: Duration::from_secs(60), ..ClientConfig::default() };
    let mut client = Client::new(resolver.clone(), config);
    client.add_tree(v1.url(domain).unwrap());
    let t0 = Instant::now();
    let (found, errors) = client.sync_all(t0).await;
    assert!(errors.is_empty());
    assert_eq!(sorted(&found), sorted(&enrs[..4]));
    assert_eq!(client.next_wakeup(), Some(t0 + Duration::from_secs(60)));

    // Publish seq 2 with two more records; before the recheck time nothing happens.
    let v2 = Tree::sign(2, &enrs, &[], &list_key()).unwrap();
    for (name, text) in v2.txt_records(domain) {
        resolver.set(&name, vec![text]);
    }
    assert!(client.next_node(t0 + Duration::from_secs(59)).await.is_none());
    let lookups = resolver.lookups();
    let (found, errors) = client.sync_all(t0 + Duration::from_secs(60)).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(sorted(&found), sorted(&enrs[4..]), "only the new records are yielded");
    assert_eq!(client.trees()[0].seq, Some(2));
    // The unchanged records were cached: new root, link root, new branch, 2 new records.
    assert!(resolver.lookups() - lookups <= 6, "{}", resolver.lookups() - lookups);

    // A root going back to seq 1 is reported and ignored.
    resolver.set(domain, vec![v1.root().to_string()]);
    let (found, errors) = client.sync_all(t0 + Duration::from_secs(120)).await;
    assert!(found.is_empty());
    assert!(matches!(errors[0].error, DnsError::SeqBackwards { known: 2, got: 1, .. }));
    assert_eq!(client.trees()[0].seq, Some(2));
}

#[tokio::test]
async fn bad_entries_are_reported_and_skipped() {
    let domain = "bad.example.org";
    let key = list_key();
    let (_, good) = node(1, 1);
    let good_hash = entry_hash(&good.to_text());
    // A link in the ENR subtree, a record whose name is not its hash, an unparsable entry.
    let link = "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@x.example.org";
    let garbage = "enr:not-a-record";
    let wrong_name = "AAAAAAAAAAAAAAAAAAAAAAAAAA";
    let branch = format!(
        "enrtree-branch:{good_hash},{},{},{wrong_name}",
        entry_hash(link),
        entry_hash(garbage)
    );
    let empty = "enrtree-branch:";
    let root = RootEntry::sign(entry_hash(&branch), entry_hash(empty), 1, &key);
    let resolver = MemoryResolver::new();
    resolver.add(domain, "v=spf1 -all");
    resolver.add(domain, &root.to_string());
    for text in [branch.as_str(), empty, link, garbage, good.to_text().as_str()] {
        resolver.add(&format!("{}.{domain}", entry_hash(text)), text);
    }
    resolver.add(&format!("{wrong_name}.{domain}"), &good.to_text());
    let mut client = Client::new(resolver, ClientConfig::default());
    client.add_url(&format!("{}", LinkEntry::new(domain, key.public_key()).unwrap())).unwrap();
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert_eq!(found, vec![good]);
    let kinds: BTreeSet<String> = errors
        .iter()
        .map(|e| match &e.error {
            DnsError::WrongSubtree { got, subtree, .. } => format!("{got} in {subtree}"),
            DnsError::HashMismatch { .. } => "hash".into(),
            DnsError::Enr(_) => "enr".into(),
            other => format!("{other}"),
        })
        .collect();
    assert_eq!(kinds, BTreeSet::from(["link in enr".into(), "hash".into(), "enr".into()]));
}

#[test]
fn publisher_rejects_two_records_of_one_node() {
    let (key, enr) = node(1, 1);
    let newer = EnrBuilder::new(2).ip4(Ipv4Addr::LOCALHOST).tcp(2).sign(&key).unwrap();
    assert!(matches!(
        Tree::sign(1, &[enr.clone(), newer], &[], &list_key()),
        Err(DnsError::DuplicateNode { .. })
    ));
    // The same record twice is kept once.
    let tree = Tree::sign(1, &[enr.clone(), enr], &[], &list_key()).unwrap();
    assert_eq!(tree.enr_count(), 1);
}

#[tokio::test]
async fn empty_tree_and_missing_root() {
    let tree = Tree::sign(1, &[], &[], &list_key()).unwrap();
    let domain = "empty.example.org";
    let resolver = MemoryResolver::from_records(tree.txt_records(domain));
    let mut client = Client::new(resolver, ClientConfig::default());
    client.add_tree(tree.url(domain).unwrap());
    client.add_tree(LinkEntry::new("none.example.org", list_key().public_key()).unwrap());
    let (found, errors) = client.sync_all(Instant::now()).await;
    assert!(found.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].domain, "none.example.org");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(24))]

    /// Any set of records and links: the published tree syncs back to exactly the records,
    /// every branch fits its bound, and the unreachable links are each one error.
    #[test]
    fn publish_then_sync_round_trip(n in 0usize..90, links in 0usize..4, seq in proptest::prelude::any::<u64>()) {
        let enrs = nodes(n);
        let links: Vec<LinkEntry> = (0..links)
            .map(|i| {
                let key = SecretKey::from_bytes(&[0x10 + i as u8; 32]).unwrap();
                LinkEntry::new(&format!("l{i}.example.org"), key.public_key()).unwrap()
            })
            .collect();
        let tree = Tree::sign(seq, &enrs, &links, &list_key()).unwrap();
        proptest::prop_assert_eq!(tree.root().seq, seq);
        for (hash, text) in tree.entries() {
            proptest::prop_assert!(hash_matches(hash, text));
            if text.starts_with("enrtree-branch:") {
                proptest::prop_assert!(text.len() <= MAX_BRANCH_TEXT);
            }
        }
        let domain = "prop.example.org";
        let mut client = Client::new(MemoryResolver::from_records(tree.txt_records(domain)), ClientConfig::default());
        client.add_tree(tree.url(domain).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (found, errors) = runtime.block_on(client.sync_all(Instant::now()));
        proptest::prop_assert_eq!(sorted(&found), sorted(&enrs));
        proptest::prop_assert_eq!(errors.len(), links.len());
        proptest::prop_assert_eq!(client.trees().len(), 1 + links.len());
    }
}

// A dev-dependency of other test targets of this crate.
use serde_json as _;
