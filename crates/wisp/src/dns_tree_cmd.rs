//! `wisp dns-tree`: build and sign an EIP-1459 node list and write it as a zone file or TXT
//! records, ready to publish at a domain.
//!
//! Input: a file of node records, one per line (`#` comments and blank lines skipped). A line
//! is an `enr:` record, published as it is (it is signed by its node). An `enode://` URL
//! cannot be published as such: a tree holds ENRs, and only the node's own key can sign one.
//! So an enode line is accepted only when `--enode-key` gives that node's key file (a node
//! we run): wisp then signs a record for it (sequence number 1, the enode's IP, TCP and UDP
//! ports, and the `--roles` given). Any other enode line is an error naming the line.

use std::{
    collections::HashMap,
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
};

use clap::{Args, ValueEnum};
use wisp_crypto::{NodeId, SecretKey};
use wisp_discovery::{
    dns::{DnsError, LinkEntry, Tree, ZoneTtl},
    enr::{Enr, EnrBuilder, EnrError, WakuRoles},
};
use wisp_rlpx::NodeRecord;

use crate::{error::Error, keys::read_key_file, print_line};

/// Shown after `wisp dns-tree --help`.
const EXAMPLES: &str = "\
Examples:
  Sign a list of ENRs for nodes.example.org (sequence 1) with a key made by `wisp keys new`,
  and write the zone file lines to serve there:
    wisp keys new --out list.key
    wisp dns-tree --nodes nodes.txt --key list.key --domain nodes.example.org --seq 1 --out nodes.zone
  The nodes file holds one record a line:
    # relays
    enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8
    enode://<128 hex node id>@203.0.113.7:30303   (only with --enode-key <that node's key file>)
  Link to another list and print plain `name<TAB>text` TXT records instead:
    wisp dns-tree --nodes nodes.txt --key list.key --domain nodes.example.org --seq 2 \\
      --link enrtree://<base32 key>@more.example.org --format txt
The tree's enrtree:// URL (what clients are given) is printed on stderr.";

/// How the tree is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum TreeFormat {
    /// Zone-file lines ($ORIGIN, the root at @, one TXT line per entry, strings of <= 255 bytes).
    #[default]
    Zone,
    /// One record a line: the full name, a tab, the TXT text.
    Txt,
}

/// A role announced in the `waku` entry of records signed from enodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// A relaying Waku node.
    Relay,
    /// A mailserver (stores and serves history).
    Mailserver,
    /// A light node.
    Light,
}

/// `wisp dns-tree`
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct DnsTreeArgs {
    /// File of node records, one a line: enr:... (or enode://... with --enode-key); # comments
    #[arg(long, value_name = "FILE")]
    pub(crate) nodes: PathBuf,

    /// Key file that signs the tree's root (64 hex characters, as `wisp keys new` writes)
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,

    /// Domain the tree is published at, e.g. nodes.example.org
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: String,

    /// Sequence number of the tree; must grow with every update clients should take
    #[arg(long, value_name = "N")]
    pub(crate) seq: u64,

    /// Link to another list (repeatable): enrtree://<base32 key>@<domain>
    #[arg(long = "link", value_name = "URL")]
    pub(crate) links: Vec<String>,

    /// Key file of a node listed as an enode (repeatable): wisp signs an ENR for it
    #[arg(long = "enode-key", value_name = "FILE")]
    pub(crate) enode_keys: Vec<PathBuf>,

    /// Roles put in the waku entry of the records signed for enodes (comma-separated) [default: none]
    #[arg(long, value_name = "ROLE,...", value_delimiter = ',')]
    pub(crate) roles: Vec<Role>,

    /// Output format
    #[arg(long, value_enum, default_value_t = TreeFormat::Zone)]
    pub(crate) format: TreeFormat,

    /// TTL of the root record in the zone file, seconds
    #[arg(long, value_name = "SECS", default_value_t = ZoneTtl::default().root)]
    pub(crate) root_ttl: u32,

    /// TTL of the other records in the zone file, seconds
    #[arg(long, value_name = "SECS", default_value_t = ZoneTtl::default().entries)]
    pub(crate) entry_ttl: u32,

    /// Write here instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// Why `wisp dns-tree` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DnsTreeError {
    /// The nodes file could not be read.
    #[error("cannot read --nodes file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the nodes file is not a usable record.
    #[error("--nodes {}:{line}: {problem}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// The nodes file holds no record.
    #[error("--nodes {}: no node records (expected lines of enr:... or enode://...)", .0.display())]
    Empty(PathBuf),
    /// A `--link` does not parse.
    #[error("--link {url}: {source}")]
    Link {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        source: DnsError,
    },
    /// The domain is not one, or the tree could not be built.
    #[error("{0}")]
    Tree(#[from] DnsError),
    /// The output could not be written.
    #[error("cannot write --out file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs `wisp dns-tree`.
pub(crate) fn run(args: &DnsTreeArgs) -> Result<(), Error> {
    let key = read_key_file(&args.key)?;
    let mut enode_keys = HashMap::new();
    for path in &args.enode_keys {
        let node_key = read_key_file(path)?;
        enode_keys.insert(node_key.public_key().node_id(), node_key);
    }
    let roles = args.roles.iter().fold(WakuRoles::default(), |acc, role| {
        acc | match role {
            Role::Relay => WakuRoles::RELAY,
            Role::Mailserver => WakuRoles::MAILSERVER,
            Role::Light => WakuRoles::LIGHT,
        }
    });
    let text = std::fs::read_to_string(&args.nodes)
        .map_err(|source| DnsTreeError::Read { path: args.nodes.clone(), source })?;
    let enrs = parse_nodes(&text, &args.nodes, &enode_keys, roles)?;
    let links = args
        .links
        .iter()
        .map(|url| {
            url.parse::<LinkEntry>()
                .map_err(|source| DnsTreeError::Link { url: url.clone(), source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tree = Tree::sign(args.seq, &enrs, &links, &key).map_err(DnsTreeError::Tree)?;
    let url = tree.url(&args.domain).map_err(DnsTreeError::Tree)?;
    let output = match args.format {
        TreeFormat::Zone => tree
            .zone_file(&args.domain, ZoneTtl { root: args.root_ttl, entries: args.entry_ttl })
            .map_err(DnsTreeError::Tree)?,
        TreeFormat::Txt => {
            tree.txt_records(&args.domain).iter().fold(String::new(), |mut out, (name, text)| {
                let _ = writeln!(out, "{name}\t{text}");
                out
            })
        }
    };
    match &args.out {
        Some(path) => std::fs::write(path, &output)
            .map_err(|source| DnsTreeError::Write { path: path.clone(), source })?,
        None => print_line(output.trim_end())?,
    }
    eprintln!(
        "signed tree seq {} with {} records and {} links: {url}",
        args.seq,
        tree.enr_count(),
        tree.link_count()
    );
    Ok(())
}

/// The records of a nodes file; enode lines are signed with their key from `enode_keys`.
fn parse_nodes(
    text: &str,
    path: &Path,
    enode_keys: &HashMap<NodeId, SecretKey>,
    roles: WakuRoles,
) -> Result<Vec<Enr>, DnsTreeError> {
    let mut enrs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let problem =
            |problem: String| DnsTreeError::Line { path: path.to_owned(), line: i + 1, problem };
        let enr = if line.starts_with("enr:") {
            line.parse::<Enr>().map_err(|e| problem(e.to_string()))?
        } else if line.starts_with("enode://") {
            let node: NodeRecord = line.parse().map_err(|e| problem(format!("{e}")))?;
            let key = enode_keys.get(&node.id).ok_or_else(|| {
                problem(
                    "an enode URL cannot be published: a tree holds ENRs, which only the \
                     node's own key can sign; give the node's ENR (enr:...) or its key file \
                     with --enode-key"
                        .into(),
                )
            })?;
            enr_for(&node, key, roles).map_err(|e| problem(e.to_string()))?
        } else {
            return Err(problem(format!(
                "{:?} is neither an ENR (enr:...) nor an enode URL (enode://...)",
                line.chars().take(40).collect::<String>()
            )));
        };
        enrs.push(enr);
    }
    if enrs.is_empty() {
        return Err(DnsTreeError::Empty(path.to_owned()));
    }
    Ok(enrs)
}

/// A record for an enode of ours: sequence number 1, its address and ports, the roles.
fn enr_for(node: &NodeRecord, key: &SecretKey, roles: WakuRoles) -> Result<Enr, EnrError> {
    let builder = match node.address {
        IpAddr::V4(ip) => EnrBuilder::new(1).ip4(ip).tcp(node.tcp_port).udp(node.udp_port),
        IpAddr::V6(ip) => EnrBuilder::new(1).ip6(ip).tcp6(node.tcp_port).udp6(node.udp_port),
    };
    let builder = if roles == WakuRoles::default() { builder } else { builder.waku(roles) };
    builder.sign(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enode_lines_need_their_key() {
        let key = SecretKey::from_bytes(&[5; 32]).unwrap();
        let id = key.public_key().node_id();
        let text = format!("# comment\n\nenode://{id}@127.0.0.1:30303?discport=30304\n");
        let path = Path::new("nodes.txt");
        let err = parse_nodes(&text, path, &HashMap::new(), WakuRoles::RELAY).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("--nodes nodes.txt:3: an enode URL cannot be published"), "{msg}");
        let keys = HashMap::from([(id, key)]);
        let enrs = parse_nodes(&text, path, &keys, WakuRoles::RELAY).unwrap();
        let node = enrs[0].to_node_record().unwrap();
        assert_eq!(node.to_string(), format!("enode://{id}@127.0.0.1:30303?discport=30304"));
        assert_eq!(enrs[0].waku(), Some(WakuRoles::RELAY));
        let err = parse_nodes("garbage\n", path, &keys, WakuRoles::RELAY).unwrap_err();
        assert!(err.to_string().contains("neither an ENR"), "{err}");
        let err = parse_nodes("# nothing\n", path, &keys, WakuRoles::RELAY).unwrap_err();
        assert!(matches!(err, DnsTreeError::Empty(_)));
        let err = parse_nodes("enr:AAAA\n", path, &keys, WakuRoles::RELAY).unwrap_err();
        assert!(err.to_string().starts_with("--nodes nodes.txt:1: node record"), "{err}");
    }
}
