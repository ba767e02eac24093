//! A second device of one account from the command line, between real `wisp node --account`
//! processes on 127.0.0.1 (ports from :0) with a relay between them: the same mnemonic
//! imported (`wisp account import`) into two data directories gives two installations of one
//! account; `wisp chat devices pair/list/enable/sync` pairs them; the contact and public chat
//! added on one appear on the other, and what either sends to a contact appears on both;
//! `wisp chat contact add/block/list` works on the contact's side too. Every wait is bounded
//! and every child is killed on drop.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    path::PathBuf,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{CHAT_COMMAND_TIMEOUT, Imported, Output, RunningNode, Scratch, chat, wisp};
use serde_json::Value;
use wisp_accounts::{ChatIdentity, Mnemonic};

/// Longest wait for something to arrive (MVDS resends after 30 s plus jitter; CI is slow).
const WAIT: Duration = Duration::from_secs(120);
/// Between polls.
const POLL: Duration = Duration::from_millis(250);

fn run(cmd: &mut Command) -> Output {
    common::run(cmd, CHAT_COMMAND_TIMEOUT)
}

/// One installation of an account: a data directory the mnemonic was imported into.
struct Device {
    data: PathBuf,
    password_file: PathBuf,
    identity: ChatIdentity,
}

impl Device {
    fn import(scratch: &Scratch, name: &str, mnemonic: &Mnemonic) -> Self {
        let imported =
            common::import_account(scratch, name, mnemonic, &format!("{name} password\n"));
        let Imported { data, password_file, identity, .. } = imported;
        Self { data, password_file, identity }
    }

    fn node(&self, relay: &str) -> RunningNode {
        RunningNode::start(common::account_node(
            &self.data,
            &self.password_file,
            &self.identity.compressed_key,
            &["--static", relay],
        ))
    }
}

/// Polls `wisp chat ARGS` on `node` until `done` holds for its lines; returns them.
fn wait_for(
    node: &RunningNode,
    args: &[&str],
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let lines = chat(node, args);
        if done(&lines) {
            return lines;
        }
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}: {lines:?}\n{}", node.stderr());
        thread::sleep(POLL);
    }
}

fn has_text(lines: &[Value], text: &str) -> bool {
    lines.iter().any(|m| m["text"] == text)
}

/// The id of the device listed with `name` on `node`, once it is listed.
fn wait_for_device(node: &RunningNode, name: &str) -> String {
    let lines = wait_for(node, &["devices", "list"], &format!("device {name} listed"), |l| {
        l.iter().any(|d| d["metadata"]["name"] == name)
    });
    let device = lines.iter().find(|d| d["metadata"]["name"] == name).unwrap();
    assert_eq!(device["enabled"], false, "a new device of ours starts disabled");
    device["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_second_device_of_one_account_pairs_and_sees_the_same_chats() {
    let scratch = Scratch::new("devices");
    let mnemonic = Mnemonic::generate(12).unwrap();
    let laptop_dir = Device::import(&scratch, "laptop", &mnemonic);
    let phone_dir = Device::import(&scratch, "phone", &mnemonic);
    assert_eq!(laptop_dir.identity.compressed_key, phone_dir.identity.compressed_key);
    let carol_dir = Device::import(&scratch, "carol", &Mnemonic::generate(12).unwrap());
    let relay = RunningNode::start(common::wisp_node(
        &scratch.path("relay"),
        &["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"],
    ));
    let enode = relay.value("enode").to_owned();
    let (laptop, phone, carol) =
        (laptop_dir.node(&enode), phone_dir.node(&enode), carol_dir.node(&enode));
    let me = laptop_dir.identity.public_key_hex();
    let carol_id = carol_dir.identity.public_key_hex();

    // Two installations of one account.
    let laptop_self = chat(&laptop, &["devices", "list"]);
    let phone_self = chat(&phone, &["devices", "list"]);
    assert_eq!((laptop_self.len(), phone_self.len()), (1, 1));
    assert_eq!(laptop_self[0]["thisDevice"], true);
    assert_ne!(laptop_self[0]["id"], phone_self[0]["id"]);

    // Pair: each announces itself, each enables the other.
    chat(&phone, &["devices", "pair", "--name", "phone", "--device-type", "android"]);
    let phone_id = wait_for_device(&laptop, "phone");
    chat(&laptop, &["devices", "enable", &phone_id]);
    chat(&laptop, &["devices", "pair", "--name", "laptop", "--device-type", "desktop"]);
    let laptop_id = wait_for_device(&phone, "laptop");
    chat(&phone, &["devices", "enable", &laptop_id]);
    let listed = chat(&phone, &["devices", "list"]);
    assert!(listed.iter().any(|d| d["id"] == laptop_id.as_str() && d["enabled"] == true));

    // A public chat and a contact on the laptop reach the phone.
    chat(&laptop, &["join", "devices-e2e"]);
    chat(&carol, &["join", "devices-e2e"]);
    chat(&laptop, &["contact", "add", &carol_id, "--nickname", "Carol"]);
    chat(&laptop, &["devices", "sync"]);
    wait_for(&phone, &["contact", "list"], "carol synced to the phone", |l| {
        l.iter().any(|c| c["id"] == carol_id.as_str() && c["added"] == true)
    });
    wait_for(&phone, &["list"], "the public chat synced to the phone", |l| {
        l.iter().any(|c| c["id"] == "devices-e2e")
    });
    wait_for(&carol, &["contact", "list", "--all"], "carol to get the contact update", |l| {
        l.iter().any(|c| c["id"] == me.as_str() && c["hasAddedUs"] == true)
    });

    // What one device sends, both show; carol's answer reaches both.
    chat(&laptop, &["send", "--to", &carol_id, "from the laptop", "--wait", "sent"]);
    wait_for(&carol, &["log", &me], "carol to get the laptop's message", |l| {
        has_text(l, "from the laptop")
    });
    wait_for(&phone, &["log", &carol_id], "the phone to show the laptop's message", |l| {
        l.iter().any(|m| m["text"] == "from the laptop" && m["outgoingStatus"] == "sent")
    });
    chat(&carol, &["send", "--to", &me, "hello both", "--wait", "sent"]);
    for (device, name) in [(&laptop, "laptop"), (&phone, "phone")] {
        wait_for(device, &["log", &carol_id], &format!("the {name} to get carol's answer"), |l| {
            has_text(l, "hello both")
        });
    }
    chat(&phone, &["send", "--to", &carol_id, "from the phone", "--wait", "sent"]);
    wait_for(&laptop, &["log", &carol_id], "the laptop to show the phone's message", |l| {
        has_text(l, "from the phone")
    });
    chat(&laptop, &["send", "--public", "devices-e2e", "public from the laptop", "--wait", "sent"]);
    wait_for(&phone, &["log", "devices-e2e"], "the phone to show the public message", |l| {
        has_text(l, "public from the laptop")
    });

    // Carol blocks the account: the chat and messages go from her side.
    let blocked = chat(&carol, &["contact", "block", &me]);
    assert_eq!(blocked[0]["blocked"], me.as_str());
    let contacts = chat(&carol, &["contact", "list"]);
    assert!(contacts.iter().any(|c| c["id"] == me.as_str() && c["blocked"] == true));
    assert!(!has_text(&chat(&carol, &["log", "devices-e2e"]), "public from the laptop"));

    // Human output.
    let out = run(wisp().args(["chat", "devices", "list", "--rpc", phone.value("rpc")]));
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("this device") && out.stdout.contains("laptop (desktop)"),
        "{}",
        out.stdout
    );
    let out = run(wisp().args([
        "chat",
        "devices",
        "enable",
        "no-such-device",
        "--rpc",
        phone.value("rpc"),
    ]));
    assert!(!out.status.success());
    assert!(out.stderr.contains("no installation \"no-such-device\""), "{}", out.stderr);
}
