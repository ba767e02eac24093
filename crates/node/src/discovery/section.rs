//! `[discovery]` in wisp.toml.
//!
//! ```toml
//! [discovery]
//! enabled = true
//! port = 30303                       # UDP; default: the RLPx port's number
//! bootnodes = ["enode://<128 hex node id>@127.0.0.1:30301", "enr:<base64>"]  # enr: = v5.1
//! legacy = true                      # legacy topic discovery; default true
//! v5 = true                          # Discovery v5.1; default false
//! v5_port = 30304                    # UDP; default: port + 1
//! dns_trees = ["enrtree://<key>@nodes.example.org"]
//! dns_server = "127.0.0.1:5353"      # default: the system resolver
//! rendezvous = ["/ip4/127.0.0.1/tcp/30703/ethv4/16Uiu2HA..."]   # default: none
//! register_topics = ["whisper"]      # default: by role
//! peer_cache = true
//! fleet = "eth.prod"                 # default: none
//! fleet_file = "fleets.json"         # default: the built-in fleets
//!
//! [discovery.require_topics]         # default: by role
//! whisper = { min = 2, max = 2 }
//! whispermail = { min = 1, max = 1 }
//! ```

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

use serde::Deserialize;
use wisp_discovery::{
    dns::LinkEntry,
    enr::{ENR_PREFIX, Enr},
    pool::Limits,
};
use wisp_rlpx::NodeRecord;

use crate::{ConfigError, FileConfig, NodeConfig};

/// Longest topic name accepted (the legacy protocol sends it in every ticket request).
pub const MAX_TOPIC_LEN: usize = 64;

/// `{ min = N, max = M }` of one required topic.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table { min = N, max = M }")]
pub struct LimitsSection {
    /// Below this many peers, search fast.
    pub min: usize,
    /// At this many peers, stop searching.
    pub max: usize,
}

/// `[discovery]`: how the node finds peers. Every key is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of discovery settings")]
pub struct DiscoverySection {
    /// `enabled`: run legacy discovery and walk DNS trees. Default: false (on when the
    /// command line names bootnodes, trees or a fleet).
    pub enabled: Option<bool>,
    /// `port`: the discovery UDP port. Default: the RLPx port's number.
    pub port: Option<u16>,
    /// `bootnodes`: legacy discovery bootnodes, enode URLs. Default: none.
    pub bootnodes: Option<Vec<String>>,
    /// `dns_trees`: EIP-1459 `enrtree://` URLs. Default: none.
    pub dns_trees: Option<Vec<String>>,
    /// `dns_server`: the DNS server for the trees, IP:PORT. Default: the system resolver.
    pub dns_server: Option<SocketAddr>,
    /// `rendezvous`: Status rendezvous servers, `/ip4/<ip>/tcp/<port>/ethv4/<peer id>`.
    /// Default: none.
    pub rendezvous: Option<Vec<String>>,
    /// `register_topics`: topics to register. Default: by role.
    pub register_topics: Option<Vec<String>>,
    /// `require_topics`: `{ min, max }` peers per topic. Default: by role.
    pub require_topics: Option<BTreeMap<String, LimitsSection>>,
    /// `peer_cache`: keep `<data-dir>/peers.sqlite`. Default: true.
    pub peer_cache: Option<bool>,
    /// `fleet`: a fleet name. Default: none.
    pub fleet: Option<String>,
    /// `fleet_file`: a status-go fleets JSON file. Default: the built-in fleets.
    pub fleet_file: Option<PathBuf>,
    /// Run legacy topic discovery (default true).
    pub legacy: Option<bool>,
    /// Run Discovery v5.1 (default false).
    pub v5: Option<bool>,
    /// The Discovery v5.1 UDP port (default: the discovery port + 1).
    pub v5_port: Option<u16>,
}

impl DiscoverySection {
    /// The bootnodes: enode URLs (legacy, and v5.1 when it runs) and `enr:` records
    /// (Discovery v5.1).
    fn bootnode_records(&self) -> Result<(Vec<NodeRecord>, Vec<Enr>), (String, String)> {
        let mut enodes = Vec::new();
        let mut enrs = Vec::new();
        for (i, text) in self.bootnodes.iter().flatten().enumerate() {
            if text.starts_with(ENR_PREFIX) {
                let enr = text.parse::<Enr>().map_err(|e| {
                    (
                        "discovery.bootnodes".to_owned(),
                        format!(
                            "entry {} ({text:?}) is not a valid ENR: {e}; expected enr:<base64 \
                             record> (Discovery v5.1) or an enode URL",
                            i + 1
                        ),
                    )
                })?;
                enrs.push(enr);
                continue;
            }
            let node = text.parse::<NodeRecord>().map_err(|e| {
                (
                    "discovery.bootnodes".to_owned(),
                    format!(
                        "entry {} ({text:?}) is not an enode URL: {e}; expected \
                         enode://<128 hex node id>@IP:PORT[?discport=UDP] or enr:<base64 record>",
                        i + 1
                    ),
                )
            })?;
            enodes.push(node);
        }
        Ok((enodes, enrs))
    }

    pub(crate) fn check(&self, file: &FileConfig) -> Result<(), ConfigError> {
        let bad = |(key, message): (String, String)| file.invalid(&key, message);
        self.bootnode_records().map_err(bad)?;
        for (i, url) in self.dns_trees.iter().flatten().enumerate() {
            LinkEntry::parse(url).map_err(|e| {
                bad((
                    "discovery.dns_trees".to_owned(),
                    format!(
                        "entry {} ({url:?}) is not a tree URL: {e}; expected \
                         enrtree://<base32 public key>@<domain>",
                        i + 1
                    ),
                ))
            })?;
        }
        for (i, addr) in self.rendezvous.iter().flatten().enumerate() {
            crate::discovery::rendezvous::check_addr(addr).map_err(|m| {
                bad(("discovery.rendezvous".to_owned(), format!("entry {}: {m}", i + 1)))
            })?;
        }
        for topic in self.register_topics.iter().flatten() {
            check_topic(topic).map_err(|m| bad(("discovery.register_topics".to_owned(), m)))?;
        }
        for (topic, limits) in self.require_topics.iter().flatten() {
            let key = format!("discovery.require_topics.{topic}");
            check_topic(topic).map_err(|m| bad((key.clone(), m)))?;
            if limits.max == 0 || limits.min > limits.max {
                return Err(bad((
                    key,
                    format!(
                        "min {} and max {}: expected 0 <= min <= max and max >= 1",
                        limits.min, limits.max
                    ),
                )));
            }
        }
        if let Some(name) = &self.fleet
            && self.fleet_file.is_none()
            && crate::discovery::fleet::builtin(name).is_none()
        {
            return Err(bad((
                "discovery.fleet".to_owned(),
                format!(
                    "no built-in fleet {name:?}; expected one of {:?} or a fleet_file",
                    crate::discovery::fleet::BUILTIN_NAMES
                ),
            )));
        }
        Ok(())
    }

    /// Writes the keys it sets onto `config` (the fleet is resolved by the caller).
    pub(crate) fn apply(&self, config: &mut NodeConfig) {
        let d = &mut config.discovery;
        if let Some(v) = self.enabled {
            d.enabled = v;
        }
        if self.port.is_some() {
            d.port = self.port;
        }
        if let Ok((nodes, enrs)) = self.bootnode_records()
            && self.bootnodes.is_some()
        {
            d.bootnodes = nodes;
            d.v5_bootnodes = enrs;
        }
        if let Some(v) = self.legacy {
            d.legacy = v;
        }
        if let Some(v) = self.v5 {
            d.v5 = v;
        }
        if self.v5_port.is_some() {
            d.v5_port = self.v5_port;
        }
        if let Some(v) = &self.dns_trees {
            d.dns_trees = v.clone();
        }
        if self.dns_server.is_some() {
            d.dns_server = self.dns_server;
        }
        if let Some(v) = &self.rendezvous {
            d.rendezvous = v.clone();
        }
        if let Some(v) = &self.register_topics {
            d.register_topics = Some(v.clone());
        }
        if let Some(v) = &self.require_topics {
            d.require_topics = Some(
                v.iter().map(|(t, l)| (t.clone(), Limits { min: l.min, max: l.max })).collect(),
            );
        }
        if let Some(v) = self.peer_cache {
            d.peer_cache = v;
        }
    }
}

fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN || !topic.is_ascii() {
        return Err(format!(
            "topic {topic:?}: expected 1 to {MAX_TOPIC_LEN} ASCII characters such as \"whisper\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{FileConfig, NodeConfig};

    #[test]
    fn keys_apply_and_errors_name_the_key() {
        let id = "6e6554fb3034b211398fcd0f0082cbb6bd13619e1a7e76ba66e1809aaa0c5f1ac53c9ae79cf2fd4a7bacb10d12010899b370c75fed19b991d9c0cdd02891abad";
        let file = FileConfig::parse(&format!(
            "[discovery]\nenabled = true\nport = 30399\nbootnodes = [\"enode://{id}@127.0.0.1:30301\"]\n\
             dns_server = \"127.0.0.1:5353\"\nregister_topics = [\"whisper\"]\npeer_cache = false\n\
             [discovery.require_topics]\nwhisper = {{ min = 1, max = 3 }}\n"
        ))
        .unwrap();
        let mut c = NodeConfig::default();
        file.apply(&mut c);
        let d = &c.discovery;
        assert!(d.enabled && !d.peer_cache);
        assert_eq!(d.port, Some(30399));
        assert_eq!(d.bootnodes[0].tcp_port, 30301);
        assert_eq!(d.dns_server, Some("127.0.0.1:5353".parse().unwrap()));
        assert_eq!(d.require_topics.as_ref().unwrap()["whisper"].max, 3);

        for (text, key) in [
            ("[discovery]\nbootnodes = [\"enode://nope\"]", "discovery.bootnodes"),
            ("[discovery]\ndns_trees = [\"http://x\"]", "discovery.dns_trees"),
            (
                "[discovery.require_topics]\nwhisper = { min = 3, max = 2 }",
                "discovery.require_topics.whisper",
            ),
            ("[discovery]\nregister_topics = [\"\"]", "discovery.register_topics"),
            ("[discovery]\nrendezvous = [\"/ip4/127.0.0.1/tcp/1\"]", "discovery.rendezvous"),
            ("[discovery]\nfleet = \"eth.nope\"", "discovery.fleet"),
            ("[discovery]\nbogus = 1", "discovery.bogus"),
        ] {
            let e = FileConfig::parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn v5_keys_and_enr_bootnodes() {
        let key = wisp_crypto::SecretKey::from_bytes(&[5; 32]).unwrap();
        let enr = wisp_discovery::enr::EnrBuilder::new(1)
            .ip4([127, 0, 0, 1].into())
            .udp(30302)
            .tcp(30301)
            .sign(&key)
            .unwrap();
        let id = "6e6554fb3034b211398fcd0f0082cbb6bd13619e1a7e76ba66e1809aaa0c5f1ac53c9ae79cf2fd4a7bacb10d12010899b370c75fed19b991d9c0cdd02891abad";
        let file = FileConfig::parse(&format!(
            "[discovery]\nlegacy = false\nv5 = true\nv5_port = 30400\n\
             bootnodes = [\"enode://{id}@127.0.0.1:30301\", \"{enr}\"]\n"
        ))
        .unwrap();
        let mut c = NodeConfig::default();
        file.apply(&mut c);
        let d = &c.discovery;
        assert!(!d.legacy && d.v5);
        assert_eq!(d.v5_port, Some(30400));
        assert_eq!(d.bootnodes.len(), 1);
        assert_eq!(d.v5_bootnodes, vec![enr]);
        let e =
            FileConfig::parse("[discovery]\nbootnodes = [\"enr:-AAAA\"]").unwrap_err().to_string();
        assert!(e.contains("discovery.bootnodes") && e.contains("ENR"), "{e}");
    }
}
