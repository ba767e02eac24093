//! The discovery flags of `wisp node` (`--bootnodes`, `--dns-tree`, `--rendezvous`,
//! `--no-discovery`, `--discovery-port`, `--discv5`, `--discv5-port`, `--no-legacy-discovery`,
//! `--fleet`, `--fleet-file`) and how they combine with `[discovery]`.
//!
//! Discovery runs when the file says `enabled = true` or anything gives it somewhere to start
//! (bootnodes, DNS trees, a fleet with bootnodes); `--no-discovery` turns it off whatever
//! else says. The peer cache is used either way (`[discovery] peer_cache = false` turns it
//! off).

use std::path::PathBuf;

use clap::Args;
use wisp_discovery::enr::{ENR_PREFIX, Enr};
use wisp_node::{FileConfig, NodeConfig, discovery::fleet};
use wisp_rlpx::NodeRecord;

use crate::error::Error;

/// Discovery flags of `wisp node`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DiscoveryArgs {
    /// Bootnode: an enode URL for legacy discovery (UDP port from ?discport= else the TCP
    /// port), also asked for its v5.1 record (at that UDP port, then the next) when --discv5
    /// runs, or an enr:<base64> record for Discovery v5.1 (turns --discv5 on); repeatable;
    /// replaces the file's discovery.bootnodes; turns discovery on [default: none]
    #[arg(long = "bootnodes", value_name = "ENODE|ENR", value_parser = parse_bootnode)]
    pub(crate) bootnodes: Vec<Bootnode>,

    /// Run Discovery v5.1 beside legacy discovery (on --discv5-port) [default: off]
    #[arg(long)]
    pub(crate) discv5: bool,

    /// Discovery v5.1 UDP port [default: the discovery port + 1]
    #[arg(long, value_name = "PORT")]
    pub(crate) discv5_port: Option<u16>,

    /// Run no legacy topic discovery (with --discv5: v5.1 only)
    #[arg(long)]
    pub(crate) no_legacy_discovery: bool,

    /// EIP-1459 node list to walk, enrtree://<key>@<domain>; repeatable; turns discovery on
    /// [default: none]
    #[arg(long = "dns-tree", value_name = "URL", value_parser = parse_tree)]
    pub(crate) dns_trees: Vec<String>,

    /// Status rendezvous server to register at and discover from,
    /// /ip4/<ip>/tcp/<port>/ethv4/<peer id> (as `wisp bootnode --rendezvous` prints it);
    /// repeatable; replaces the file's discovery.rendezvous; turns discovery on [default: none]
    #[arg(long = "rendezvous", value_name = "MULTIADDR", value_parser = parse_rendezvous)]
    pub(crate) rendezvous: Vec<String>,

    /// Run no discovery (legacy UDP, DNS trees, rendezvous), whatever the file or fleet says; the peer
    /// cache and static peers still work
    #[arg(long)]
    pub(crate) no_discovery: bool,

    /// Discovery UDP port [default: the RLPx listen port's number]
    #[arg(long, value_name = "PORT")]
    pub(crate) discovery_port: Option<u16>,

    /// Join a fleet: its bootnodes, mailservers (trusted) and relays (static). Built in:
    /// eth.prod (the Waku v1 production fleet, shut down; opt-in only) [default: none]
    #[arg(long, value_name = "NAME")]
    pub(crate) fleet: Option<String>,

    /// A fleets file in status-go's JSON shape to take --fleet from [default: built in]
    #[arg(long, value_name = "FILE", requires = "fleet")]
    pub(crate) fleet_file: Option<PathBuf>,
}

impl DiscoveryArgs {
    /// Applies the flags (and the file's fleet) onto `config`, which holds the file's keys.
    pub(crate) fn apply(&self, config: &mut NodeConfig, file: &FileConfig) -> Result<(), Error> {
        let d = &mut config.discovery;
        if !self.bootnodes.is_empty() {
            d.bootnodes.clear();
            d.v5_bootnodes.clear();
            for b in &self.bootnodes {
                match b {
                    Bootnode::Enode(n) => d.bootnodes.push(*n),
                    Bootnode::Enr(e) => d.v5_bootnodes.push(e.clone()),
                }
            }
        }
        if self.discv5 || !d.v5_bootnodes.is_empty() {
            d.v5 = true;
        }
        if self.discv5_port.is_some() {
            d.v5_port = self.discv5_port;
        }
        if self.no_legacy_discovery {
            d.legacy = false;
        }
        if !self.dns_trees.is_empty() {
            d.dns_trees = self.dns_trees.clone();
        }
        if !self.rendezvous.is_empty() {
            d.rendezvous = self.rendezvous.clone();
        }
        if self.discovery_port.is_some() {
            d.port = self.discovery_port;
        }
        if !d.bootnodes.is_empty()
            || !d.v5_bootnodes.is_empty()
            || !d.dns_trees.is_empty()
            || !d.rendezvous.is_empty()
        {
            d.enabled = true;
        }
        let name = self.fleet.as_ref().or(file.discovery.fleet.as_ref());
        if let Some(name) = name {
            let (setting, path) = match (&self.fleet_file, &file.discovery.fleet_file) {
                (Some(p), _) => ("--fleet-file", Some(p)),
                (None, Some(p)) if self.fleet.is_none() => ("discovery.fleet_file", Some(p)),
                _ => ("--fleet", None),
            };
            let text = match path {
                Some(p) => std::fs::read_to_string(p).map_err(|e| Error::Setting {
                    name: setting,
                    message: format!(
                        "cannot read {}: {e}; expected a fleets JSON file",
                        p.display()
                    ),
                })?,
                None => fleet::builtin(name)
                    .ok_or_else(|| Error::Setting {
                        name: "--fleet",
                        message: format!(
                            "no built-in fleet {name:?}; expected one of {:?} or --fleet-file FILE",
                            fleet::BUILTIN_NAMES
                        ),
                    })?
                    .to_owned(),
            };
            let f = fleet::parse(&text, name)
                .map_err(|e| Error::Setting { name: setting, message: e.to_string() })?;
            f.apply(config);
        }
        if self.no_discovery {
            config.discovery.enabled = false;
        }
        Ok(())
    }
}

/// A `--bootnodes` value.
#[derive(Clone, Debug)]
pub(crate) enum Bootnode {
    /// Legacy discovery.
    Enode(NodeRecord),
    /// Discovery v5.1.
    Enr(Enr),
}

fn parse_bootnode(s: &str) -> Result<Bootnode, String> {
    if s.starts_with(ENR_PREFIX) {
        return s.parse().map(Bootnode::Enr).map_err(|e: wisp_discovery::enr::EnrError| {
            format!("{e}; expected enr:<base64 record> or enode://<id>@IP:PORT")
        });
    }
    s.parse().map(Bootnode::Enode).map_err(|e: wisp_rlpx::EnodeError| e.to_string())
}

fn parse_tree(s: &str) -> Result<String, String> {
    wisp_discovery::dns::LinkEntry::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("{e}; expected enrtree://<base32 public key>@<domain>"))
}

fn parse_rendezvous(s: &str) -> Result<String, String> {
    wisp_node::discovery::rendezvous::check_addr(s).map(|()| s.to_owned())
}
