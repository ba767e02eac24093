//! `wisp chat contact ...` and `wisp chat devices ...`: contacts and the devices
//! (installations) of the node's account, through the node's `wakuext_*` contact and
//! installation methods (status-go v0.79's names). Human output is one line per contact or
//! device; with `--json`, one JSON object per line as the node returned it.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{
    chat_cmd::{ChatRpc, Output, one_to_one_id, str_field},
    error::Error,
    print_line,
};

/// Shown after `wisp chat contact --help`.
const CONTACT_EXAMPLES: &str = "\
KEY is a chat key: 0x04… (130 hex digits) or zQ3sh…, as `wisp account show` prints it.
Examples:
    wisp chat contact add zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB --nickname Bob
    wisp chat contact list
    wisp chat contact block zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB
Adding sends them a contact update and opens the 1:1 chat; blocking deletes their messages
and their 1:1 chat, and drops what they send from then on. Both reach your other devices.";

/// Shown after `wisp chat devices --help`.
const DEVICES_EXAMPLES: &str = "\
A second device of the same account: import the same mnemonic into another data directory
(`wisp account import`) and run a node from it; it is a new installation of the account.
Pair them (run on each device, then enable the other one on each):
    wisp chat devices pair --name laptop --device-type desktop
    wisp chat devices list
    wisp chat devices enable <installation id listed>
    wisp chat devices sync
Once enabled both ways, what one device sends appears on the other, and `sync` sends the
contacts and public chats across.";

/// `wisp chat contact ...`
#[derive(Debug, Subcommand)]
#[command(after_help = CONTACT_EXAMPLES)]
pub(crate) enum ContactCommand {
    /// Add a contact (sends them a contact update, opens the 1:1 chat)
    Add(AddArgs),
    /// Remove a contact (the chat and its messages stay)
    Remove(KeyArgs),
    /// Block a contact: their messages and 1:1 chat are deleted, what they send is dropped
    Block(KeyArgs),
    /// Unblock a contact
    Unblock(KeyArgs),
    /// List the contacts added or blocked (--all: everyone the node heard of)
    List(ContactListArgs),
}

/// `wisp chat devices ...`
#[derive(Debug, Subcommand)]
#[command(after_help = DEVICES_EXAMPLES)]
pub(crate) enum DevicesCommand {
    /// List this account's devices (installations): this one first
    List(DevicesOutput),
    /// Announce this device to the account's other devices (after naming it, when given)
    Pair(PairArgs),
    /// Enable one of the account's other devices: messages go to it too
    Enable(InstallationArgs),
    /// Disable one of the account's other devices
    Disable(InstallationArgs),
    /// Send the contacts and public chats to the enabled other devices
    Sync(DevicesOutput),
}

/// `wisp chat contact add`
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// Their chat key: 0x04… or zQ3sh…
    #[arg(value_name = "KEY")]
    pub(crate) key: String,

    /// A nickname for them (kept on your devices only)
    #[arg(long, value_name = "NAME")]
    pub(crate) nickname: Option<String>,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// A contact's key.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// Their chat key: 0x04… or zQ3sh…
    #[arg(value_name = "KEY")]
    pub(crate) key: String,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// `wisp chat contact list`
#[derive(Debug, Args)]
pub(crate) struct ContactListArgs {
    /// Everyone the node knows a profile of, not only added or blocked contacts
    #[arg(long)]
    pub(crate) all: bool,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// The node and the output format.
#[derive(Debug, Args)]
pub(crate) struct DevicesOutput {
    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// `wisp chat devices pair`
#[derive(Debug, Args)]
pub(crate) struct PairArgs {
    /// This device's name, shown on the other devices
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// This device's type: desktop, android, ios (any text)
    #[arg(long, value_name = "TYPE", requires = "name")]
    pub(crate) device_type: Option<String>,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// An installation id.
#[derive(Debug, Args)]
pub(crate) struct InstallationArgs {
    /// The installation id, as `wisp chat devices list` prints it
    #[arg(value_name = "ID")]
    pub(crate) id: String,

    /// The node and the output format.
    #[command(flatten)]
    pub(crate) out: Output,
}

/// Runs a `wisp chat contact` command.
pub(crate) async fn run_contact(command: ContactCommand) -> Result<(), Error> {
    match command {
        ContactCommand::Add(args) => {
            let id = one_to_one_id(&args.key)?;
            let rpc = ChatRpc::new(args.out.rpc.clone());
            let mut request = json!({ "id": id });
            if let Some(nickname) = &args.nickname {
                request["nickname"] = json!(nickname);
            }
            let response = rpc.call("wakuext_addContact", json!([request])).await?;
            print_contacts(&args.out, &response, "added")
        }
        ContactCommand::Remove(args) => {
            let id = one_to_one_id(&args.key)?;
            let rpc = ChatRpc::new(args.out.rpc.clone());
            let response = rpc.call("wakuext_removeContact", json!([id])).await?;
            print_contacts(&args.out, &response, "removed")
        }
        ContactCommand::Unblock(args) => {
            let id = one_to_one_id(&args.key)?;
            let rpc = ChatRpc::new(args.out.rpc.clone());
            let response = rpc.call("wakuext_unblockContact", json!([id])).await?;
            print_contacts(&args.out, &response, "unblocked")
        }
        ContactCommand::Block(args) => {
            let id = one_to_one_id(&args.key)?;
            let rpc = ChatRpc::new(args.out.rpc.clone());
            let chats = rpc.call("wakuext_blockContact", json!([{ "id": id }])).await?;
            if args.out.json {
                return print_line(&json!({ "blocked": id, "chats": chats }).to_string());
            }
            let count = chats.as_array().map_or(0, Vec::len);
            print_line(&format!("blocked {id}; their messages were removed from {count} chat(s)"))
        }
        ContactCommand::List(args) => {
            let rpc = ChatRpc::new(args.out.rpc.clone());
            let contacts = rpc.call("wakuext_contacts", json!([])).await?;
            let contacts: Vec<&Value> = contacts
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| args.all || c["added"] == true || c["blocked"] == true)
                .collect();
            if args.out.json {
                for c in contacts {
                    print_line(&c.to_string())?;
                }
                return Ok(());
            }
            if contacts.is_empty() {
                return print_line("no contacts yet; `wisp chat contact add KEY` adds one");
            }
            for c in contacts {
                print_line(&contact_line(c))?;
            }
            Ok(())
        }
    }
}

fn print_contacts(out: &Output, response: &Value, what: &str) -> Result<(), Error> {
    for contact in response["contacts"].as_array().into_iter().flatten() {
        if out.json {
            print_line(&contact.to_string())?;
        } else {
            print_line(&format!("{what}: {}", contact_line(contact)))?;
        }
    }
    Ok(())
}

/// `0x04ab…cdef  Alias Name  "nickname"  ens.eth  added, has added you`.
pub(crate) fn contact_line(c: &Value) -> String {
    let id = str_field(c, "id");
    let short = if id.len() > 16 {
        format!("{}…{}", &id[..8], &id[id.len() - 6..])
    } else {
        id.to_owned()
    };
    let mut parts = vec![short, str_field(c, "alias").to_owned()];
    let nickname = str_field(c, "localNickname");
    if !nickname.is_empty() {
        parts.push(format!("{nickname:?}"));
    }
    for key in ["displayName", "name"] {
        let value = str_field(c, key);
        if !value.is_empty() {
            parts.push(value.to_owned());
        }
    }
    let mut flags = Vec::new();
    for (key, label) in
        [("added", "added"), ("blocked", "blocked"), ("hasAddedUs", "has added you")]
    {
        if c[key] == true {
            flags.push(label);
        }
    }
    if !flags.is_empty() {
        parts.push(flags.join(", "));
    }
    parts.join("  ")
}

/// Runs a `wisp chat devices` command.
pub(crate) async fn run_devices(command: DevicesCommand) -> Result<(), Error> {
    match command {
        DevicesCommand::List(args) => {
            let rpc = ChatRpc::new(args.out.rpc.clone());
            let list = rpc.call("wakuext_getOurInstallations", json!([])).await?;
            for device in list.as_array().into_iter().flatten() {
                if args.out.json {
                    print_line(&device.to_string())?;
                } else {
                    print_line(&device_line(device))?;
                }
            }
            Ok(())
        }
        DevicesCommand::Pair(args) => {
            let rpc = ChatRpc::new(args.out.rpc.clone());
            if let Some(name) = &args.name {
                let list = rpc.call("wakuext_getOurInstallations", json!([])).await?;
                let ours = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|d| d["thisDevice"] == true)
                    .map(|d| str_field(d, "id").to_owned())
                    .unwrap_or_default();
                let metadata = json!({ "name": name, "deviceType": args.device_type.as_deref().unwrap_or("desktop") });
                rpc.call("wakuext_setInstallationMetadata", json!([ours, metadata])).await?;
            }
            rpc.call("wakuext_sendPairInstallation", json!([])).await?;
            if args.out.json {
                return print_line(&json!({ "paired": true }).to_string());
            }
            print_line(
                "announced this device to the account's other devices; enable it there \
                 (`wisp chat devices enable ID`), and theirs here",
            )
        }
        DevicesCommand::Enable(args) | DevicesCommand::Disable(args)
            if args.id.trim().is_empty() =>
        {
            Err(crate::chat_cmd::ChatError::Input(
                "the installation id is empty; `wisp chat devices list` prints the ids".into(),
            )
            .into())
        }
        DevicesCommand::Enable(args) => switch(args, true).await,
        DevicesCommand::Disable(args) => switch(args, false).await,
        DevicesCommand::Sync(args) => {
            let rpc = ChatRpc::new(args.out.rpc.clone());
            rpc.call("wakuext_syncDevices", json!([])).await?;
            if args.out.json {
                return print_line(&json!({ "synced": true }).to_string());
            }
            print_line("sent the contacts and public chats to the enabled other devices")
        }
    }
}

async fn switch(args: InstallationArgs, enable: bool) -> Result<(), Error> {
    let rpc = ChatRpc::new(args.out.rpc.clone());
    let method = if enable { "wakuext_enableInstallation" } else { "wakuext_disableInstallation" };
    rpc.call(method, json!([args.id.trim()])).await?;
    let state = if enable { "enabled" } else { "disabled" };
    if args.out.json {
        return print_line(&json!({ "id": args.id.trim(), "enabled": enable }).to_string());
    }
    print_line(&format!("{state} {}", args.id.trim()))
}

/// `<id>  this device|enabled|disabled  name (type)`.
pub(crate) fn device_line(d: &Value) -> String {
    let state = if d["thisDevice"] == true {
        "this device"
    } else if d["enabled"] == true {
        "enabled"
    } else {
        "disabled"
    };
    let metadata = &d["metadata"];
    let name = str_field(metadata, "name");
    let kind = str_field(metadata, "deviceType");
    let label = match (name.is_empty(), kind.is_empty()) {
        (true, true) => "(unnamed)".to_owned(),
        (false, true) => name.to_owned(),
        (true, false) => format!("({kind})"),
        (false, false) => format!("{name} ({kind})"),
    };
    format!("{}  {state}  {label}", str_field(d, "id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_and_device_lines() {
        let c = json!({
            "id": format!("0x04{}", "ab".repeat(64)),
            "alias": "Some Three Words",
            "localNickname": "Bob",
            "name": "bob.eth",
            "displayName": "",
            "added": true,
            "blocked": false,
            "hasAddedUs": true,
        });
        assert_eq!(
            contact_line(&c),
            "0x04abab…ababab  Some Three Words  \"Bob\"  bob.eth  added, has added you"
        );
        let d = json!({"id": "abc", "thisDevice": false, "enabled": false, "metadata": {"name": "phone", "deviceType": "android"}});
        assert_eq!(device_line(&d), "abc  disabled  phone (android)");
        let d = json!({"id": "me", "thisDevice": true, "enabled": true, "metadata": null});
        assert_eq!(device_line(&d), "me  this device  (unnamed)");
    }
}
