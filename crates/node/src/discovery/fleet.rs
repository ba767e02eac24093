//! Fleets: named sets of Status nodes in status-go's fleets JSON shape
//! (`{"fleets": {"<name>": {"boot": {..}, "mail": {..}, "rendezvous": {..}, "whisper": {..}}}}`,
//! each inner table mapping a host name to an enode URL or multiaddr).
//!
//! Applying a fleet: `boot` nodes become legacy discovery bootnodes (and turn discovery on),
//! `mail` nodes are dialled and trusted (for history), `whisper` (and `waku`) nodes are static
//! peers. `rendezvous` addresses are read and kept for the rendezvous client.
//!
//! Built in, opt-in only: `eth.prod`, the Waku v1 production bootnodes listed in
//! `status/1-client.md`. That fleet has been shut down; no default and no test selects it.

use std::collections::BTreeMap;

use serde::Deserialize;
use wisp_rlpx::NodeRecord;

use crate::NodeConfig;

/// The fleets compiled in (`--fleet NAME` without a fleet file).
pub const BUILTIN_NAMES: &[&str] = &["eth.prod"];
const ETH_PROD: &str = include_str!("../../fleets/eth.prod.json");

/// A fleets file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Not JSON in the fleets shape.
    #[error(
        "not a fleets file: {0}; expected {{\"fleets\": {{\"<name>\": {{\"boot\": {{..}}, \"mail\": {{..}}, \"whisper\": {{..}}}}}}}}"
    )]
    Json(String),
    /// The named fleet is not in the file.
    #[error("no fleet {name:?} in the file; it has {known:?}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names the file has.
        known: Vec<String>,
    },
    /// An entry is not an enode URL.
    #[error("fleet {fleet}, {kind} node {host}: {detail}; expected an enode URL")]
    BadNode {
        /// The fleet.
        fleet: String,
        /// `boot`, `mail`, `whisper` or `waku`.
        kind: &'static str,
        /// The entry's host name.
        host: String,
        /// The parse error.
        detail: String,
    },
}

#[derive(Deserialize)]
struct FleetsFile {
    fleets: BTreeMap<String, RawFleet>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFleet {
    boot: BTreeMap<String, String>,
    mail: BTreeMap<String, String>,
    rendezvous: BTreeMap<String, String>,
    whisper: BTreeMap<String, String>,
    waku: BTreeMap<String, String>,
}

/// One fleet, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fleet {
    /// The fleet's name.
    pub name: String,
    /// Discovery bootnodes.
    pub boot: Vec<NodeRecord>,
    /// Mailservers (trusted for history).
    pub mail: Vec<NodeRecord>,
    /// Rendezvous server multiaddrs, as written.
    pub rendezvous: Vec<String>,
    /// Relays (`whisper` and `waku`).
    pub whisper: Vec<NodeRecord>,
}

/// The text of a built-in fleets file, by fleet name.
pub fn builtin(name: &str) -> Option<&'static str> {
    (name == "eth.prod").then_some(ETH_PROD)
}

/// Reads fleet `name` from a fleets JSON text.
pub fn parse(text: &str, name: &str) -> Result<Fleet, FleetError> {
    let file: FleetsFile =
        serde_json::from_str(text).map_err(|e| FleetError::Json(e.to_string()))?;
    let Some(raw) = file.fleets.get(name) else {
        return Err(FleetError::Unknown {
            name: name.to_owned(),
            known: file.fleets.keys().cloned().collect(),
        });
    };
    let nodes = |kind: &'static str, m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(host, url)| {
                url.parse::<NodeRecord>().map_err(|e| FleetError::BadNode {
                    fleet: name.to_owned(),
                    kind,
                    host: host.clone(),
                    detail: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let mut whisper = nodes("whisper", &raw.whisper)?;
    whisper.extend(nodes("waku", &raw.waku)?);
    Ok(Fleet {
        name: name.to_owned(),
        boot: nodes("boot", &raw.boot)?,
        mail: nodes("mail", &raw.mail)?,
        rendezvous: raw.rendezvous.values().cloned().collect(),
        whisper,
    })
}

impl Fleet {
    /// Adds the fleet to `config`: bootnodes (discovery on), trusted mailservers, static
    /// relays, rendezvous servers. Nodes already configured are not added twice.
    pub fn apply(&self, config: &mut NodeConfig) {
        fn add(list: &mut Vec<NodeRecord>, nodes: &[NodeRecord]) {
            for n in nodes {
                if !list.iter().any(|k| k.id == n.id) {
                    list.push(*n);
                }
            }
        }
        if !self.boot.is_empty() {
            config.discovery.enabled = true;
        }
        add(&mut config.discovery.bootnodes, &self.boot);
        add(&mut config.trusted_nodes, &self.mail);
        add(&mut config.static_nodes, &self.whisper);
        for r in &self.rendezvous {
            if !config.discovery.rendezvous.contains(r) {
                config.discovery.rendezvous.push(r.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eth_prod_is_built_in_and_parses() {
        let f = parse(builtin("eth.prod").unwrap(), "eth.prod").unwrap();
        assert_eq!(f.boot.len(), 6);
        assert!(f.boot.iter().all(|n| n.tcp_port == 443 && n.udp_port == 443));
        assert!(f.mail.is_empty() && f.whisper.is_empty());
        // Applying it never happens by default; applied, it only adds bootnodes.
        let mut c = NodeConfig::default();
        assert!(!c.discovery.enabled && c.discovery.bootnodes.is_empty());
        f.apply(&mut c);
        assert!(c.discovery.enabled);
        assert_eq!(c.discovery.bootnodes.len(), 6);
        assert!(builtin("eth.staging").is_none());
    }

    #[test]
    fn status_go_shape_and_errors() {
        let id = "6e6554fb3034b211398fcd0f0082cbb6bd13619e1a7e76ba66e1809aaa0c5f1ac53c9ae79cf2fd4a7bacb10d12010899b370c75fed19b991d9c0cdd02891abad";
        let text = format!(
            r#"{{"fleets": {{"test": {{
                "boot": {{"b": "enode://{id}@127.0.0.1:30301"}},
                "mail": {{"m": "enode://{id}@127.0.0.1:30302"}},
                "rendezvous": {{"r": "/ip4/127.0.0.1/tcp/30703/ethv4/16Uiu2HAm"}},
                "whisper": {{"w": "enode://{id}@127.0.0.1:30303"}}
            }}}}, "meta": {{}}}}"#
        );
        let f = parse(&text, "test").unwrap();
        assert_eq!(f.boot[0].tcp_port, 30301);
        assert_eq!(f.mail[0].tcp_port, 30302);
        assert_eq!(f.whisper[0].tcp_port, 30303);
        assert_eq!(f.rendezvous.len(), 1);
        let mut c = NodeConfig::default();
        f.apply(&mut c);
        assert_eq!(c.trusted_nodes.len(), 1);
        assert_eq!(c.static_nodes.len(), 1);
        let e = parse(&text, "other").unwrap_err().to_string();
        assert!(e.contains("\"other\"") && e.contains("test"), "{e}");
        let bad = text.replace("enode://", "enode:/");
        assert!(matches!(parse(&bad, "test"), Err(FleetError::BadNode { .. })));
        assert!(matches!(parse("[]", "test"), Err(FleetError::Json(_))));
    }
}
