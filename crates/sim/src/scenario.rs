//! The named scenarios of `wisp sim`: topology, workload, faults and the checks each adds to
//! the invariants. See the crate README for what each one shows.

use std::fmt;
use std::str::FromStr;

use wisp_waku::{RouterConfig, Topic};

use crate::figures::Figures;
use crate::sim::{Interest, Kind, LinkModel, Sim, SimConfig};

/// Partition topics of the model (A9: private messages spread over 5 000 shards).
pub const PARTITIONS: u32 = 5000;
/// Topics in a bloom light client's filter (model A12: 100 topics per bloom).
pub const BLOOM_TOPICS: usize = 100;

/// A named scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A random regular mesh of relays (duplicate factor by degree).
    Mesh,
    /// The mesh with loss and churn (defaults: 1 000 nodes, 30 % loss, 5 % churn per hour, a
    /// day).
    Churn,
    /// The Status fleet at the Whisper model's load: full nodes and mailservers, light clients
    /// with topic interest (case 8) or a bloom (case 5); full nodes see everything (case 2).
    Whisper,
    /// A light client offline for 6 h fetches what it missed from the mailservers.
    Offline,
    /// Every fault at once: bandwidth, duplication, reordering, clock skew, a two-group
    /// partition that heals, flooders, a bad-envelope sender and non-relayers.
    Faults,
    /// 1:1 conversations over MVDS (`U` pairs of relays and light clients, `M` messages each
    /// way) through a two-group partition that heals: every message is delivered exactly once
    /// and acknowledged by the end of the run.
    Partition,
    /// Messengers on the Status fleet: public chats and 1:1 chats (DH first message, then
    /// X3DH and the Double Ratchet, MVDS with acks) between real `wisp_messenger::Messenger`s
    /// on light clients and relays.
    Chat,
}

impl Scenario {
    /// Every scenario, by name.
    pub const ALL: [(&'static str, Scenario); 7] = [
        ("mesh", Scenario::Mesh),
        ("churn", Scenario::Churn),
        ("whisper", Scenario::Whisper),
        ("offline", Scenario::Offline),
        ("faults", Scenario::Faults),
        ("partition", Scenario::Partition),
        ("chat", Scenario::Chat),
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, s)| *s == self).map_or("?", |(n, _)| n)
    }
}

impl FromStr for Scenario {
    type Err = ScenarioError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, v)| *v).ok_or_else(|| {
            ScenarioError::Invalid {
                key: "scenario",
                value: s.to_string(),
                expected: "one of mesh, churn, whisper, offline, faults, partition, chat",
            }
        })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A setting out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The value of `key` is not usable.
    #[error("--{key} {value}: expected {expected}")]
    Invalid {
        /// The option.
        key: &'static str,
        /// What was given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
}

/// What to run. `None` takes the scenario's default (see [`ScenarioConfig::resolve`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// Full nodes (relays and mailservers) or, in the meshes, all nodes.
    pub nodes: Option<usize>,
    /// Light clients.
    pub light: Option<usize>,
    /// Simulated days (fractions allowed).
    pub days: Option<f64>,
    /// Probability that a Messages packet is lost.
    pub loss: Option<f64>,
    /// Probability per node per hour of a stop and restart (down 1 to 30 min).
    pub churn: Option<f64>,
    /// Mesh degree.
    pub degree: Option<usize>,
    /// Users behind the workload (posts of users without a simulated node enter at a relay).
    pub users: Option<u64>,
    /// Messages per user per day.
    pub msgs: Option<f64>,
    /// Envelopes per message (the model's A2 is 10).
    pub envelopes: Option<u32>,
    /// Envelope data bytes.
    pub size: Option<usize>,
    /// Nodes that run a messenger (accounts).
    pub messengers: Option<usize>,
    /// Messages each account sends to its public chat and to each 1:1 partner.
    pub chat_msgs: Option<u64>,
    /// PoW every router asks for and every envelope is sealed to (0: none).
    pub pow: Option<f64>,
}

impl ScenarioConfig {
    /// `scenario` with `seed` and every default.
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        Self {
            scenario,
            seed,
            nodes: None,
            light: None,
            days: None,
            loss: None,
            churn: None,
            degree: None,
            users: None,
            msgs: None,
            envelopes: None,
            size: None,
            messengers: None,
            chat_msgs: None,
            pow: None,
        }
    }

    /// Every `None` replaced by the scenario's default, checked.
    pub fn resolve(&self) -> Result<Resolved, ScenarioError> {
        use Scenario::*;
        let s = self.scenario;
        let nodes = self.nodes.unwrap_or(match s {
            Mesh => 50,
            Churn => 1000,
            Whisper => 8,
            Offline => 6,
            Faults => 30,
            Partition => 20,
            Chat => 6,
        });
        let light = self.light.unwrap_or(match s {
            Mesh | Churn | Faults => 0,
            Whisper => 100,
            Offline => 20,
            Partition => 6,
            Chat => 12,
        });
        let users = self.users.unwrap_or(match s {
            Whisper => 10_000,
            Offline | Chat => light as u64,
            Partition => 10,
            _ => nodes as u64,
        });
        let r = Resolved {
            scenario: s,
            seed: self.seed,
            nodes,
            light,
            days: self.days.unwrap_or(match s {
                Mesh => 0.01,
                Churn => 1.0,
                Whisper => 1.0 / 96.0,
                Offline => 0.5,
                Faults => 0.02,
                Partition | Chat => 0.05,
            }),
            loss: self.loss.unwrap_or(if s == Churn { 0.3 } else { 0.0 }),
            churn: self.churn.unwrap_or(if s == Churn { 0.05 } else { 0.0 }),
            degree: self.degree.unwrap_or(match s {
                Faults => 6,
                Partition => 4,
                _ => 8,
            }),
            users,
            msgs: self.msgs.unwrap_or(match s {
                Churn => 10.0,
                Partition => 10.0,
                Chat => 0.0,
                _ => 100.0,
            }),
            envelopes: self.envelopes.unwrap_or(if s == Whisper { 10 } else { 1 }),
            size: self.size.unwrap_or(1024),
            messengers: self.messengers.unwrap_or(match s {
                Mesh | Faults => 0,
                Chat => 12,
                Churn => 20,
                Whisper | Partition => 8,
                Offline => 4,
            }),
            chat_msgs: self.chat_msgs.unwrap_or(if s == Chat { 5 } else { 2 }),
            pow: self.pow.unwrap_or(0.0),
        };
        let bad =
            |key, value: String, expected| Err(ScenarioError::Invalid { key, value, expected });
        let min_nodes = if matches!(s, Whisper | Offline | Partition | Chat) { 2 } else { 1 };
        if r.nodes < min_nodes || r.nodes > 100_000 {
            return bad("nodes", r.nodes.to_string(), "2 to 100000 (1 for the meshes)");
        }
        if r.light > 100_000 {
            return bad("light", r.light.to_string(), "at most 100000");
        }
        if s == Offline && r.light == 0 {
            return bad("light", "0".into(), "at least 1 (the client that goes offline)");
        }
        if !(r.days > 0.0 && r.days <= 30.0) {
            return bad("days", r.days.to_string(), "more than 0 and at most 30");
        }
        if s == Offline && r.days < 0.3 {
            return bad(
                "days",
                r.days.to_string(),
                "at least 0.3 (the client is offline from 1 h to 7 h)",
            );
        }
        if s == Partition && r.days < 0.05 {
            return bad(
                "days",
                r.days.to_string(),
                "at least 0.05 (MVDS retransmissions need the last 75 % of the run to drain)",
            );
        }
        if s == Partition && (r.users == 0 || r.users > 10_000) {
            return bad("users", r.users.to_string(), "1 to 10000 conversation pairs");
        }
        if !(0.0..=1.0).contains(&r.loss) {
            return bad("loss", r.loss.to_string(), "a probability from 0 to 1");
        }
        if !(0.0..=1.0).contains(&r.churn) {
            return bad("churn", r.churn.to_string(), "a probability per hour from 0 to 1");
        }
        if r.degree < 2 {
            return bad("degree", r.degree.to_string(), "at least 2");
        }
        if !(r.msgs >= 0.0 && r.msgs <= 1e6) {
            return bad("msgs", r.msgs.to_string(), "0 to 1000000 messages per user per day");
        }
        if r.envelopes == 0 || r.envelopes > 100 {
            return bad("envelopes", r.envelopes.to_string(), "1 to 100");
        }
        if r.messengers > 100_000 {
            return bad("messengers", r.messengers.to_string(), "at most 100000");
        }
        if r.chat_msgs > 10_000 {
            return bad("chat-msgs", r.chat_msgs.to_string(), "at most 10000 per account");
        }
        if !(r.pow >= 0.0 && r.pow <= 1.0) {
            return bad("pow", r.pow.to_string(), "a PoW target from 0 (none) to 1");
        }
        if r.size < 8 || r.size > 512 * 1024 {
            return bad("size", r.size.to_string(), "8 to 524288 bytes");
        }
        let posts = r.users as f64 * r.msgs * f64::from(r.envelopes) * r.days;
        if posts > 50_000_000.0 {
            return bad("days", r.days.to_string(), "a run of at most 50 000 000 envelopes");
        }
        Ok(r)
    }
}

/// A scenario with every setting decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// Full nodes (or all mesh nodes).
    pub nodes: usize,
    /// Light clients.
    pub light: usize,
    /// Simulated days.
    pub days: f64,
    /// Messages packet loss.
    pub loss: f64,
    /// Churn per node per hour.
    pub churn: f64,
    /// Mesh degree.
    pub degree: usize,
    /// Users.
    pub users: u64,
    /// Messages per user per day.
    pub msgs: f64,
    /// Envelopes per message.
    pub envelopes: u32,
    /// Envelope data bytes.
    pub size: usize,
    /// Nodes running a messenger.
    pub messengers: usize,
    /// Messages per account to its public chat and to each 1:1 partner.
    pub chat_msgs: u64,
    /// PoW target (0: none).
    pub pow: f64,
}

impl Resolved {
    /// The one-line command that replays this run.
    pub fn command(&self) -> String {
        format!(
            "wisp sim --scenario {} --seed {} --nodes {} --light {} --days {} --loss {} --churn {} --degree {} --users {} --msgs {} --envelopes {} --size {} --messengers {} --chat-msgs {} --pow {}",
            self.scenario,
            self.seed,
            self.nodes,
            self.light,
            self.days,
            self.loss,
            self.churn,
            self.degree,
            self.users,
            self.msgs,
            self.envelopes,
            self.size,
            self.messengers,
            self.chat_msgs,
            self.pow
        )
    }
}

/// A finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The settings.
    pub config: Resolved,
    /// The figures (scenario checks included in `violations`).
    pub figures: Figures,
    /// Scenario-specific results, one line each.
    pub notes: Vec<String>,
}

/// A public chat shared by users `2c` and `2c + 1` (the model's users receive as many public
/// messages as they send). Topics look random, as Status's (hashes of names) do: the bloom
/// bits of structured topics would collide more than real ones.
pub fn chat_topic(c: u64) -> Topic {
    random_topic(c ^ 0x6368_6174_0000_0000)
}

/// The partition topic of user `u` (model A9).
pub fn partition_topic(u: u64) -> Topic {
    random_topic((u % u64::from(PARTITIONS)) ^ 0x7061_7274_0000_0000)
}

fn random_topic(x: u64) -> Topic {
    let b = crate::mix(x).to_be_bytes();
    Topic([b[0], b[1], b[2], b[3]])
}

fn user_topics(u: u64) -> Vec<Topic> {
    vec![chat_topic(u / 2), partition_topic(u)]
}

/// Schedules the model's workload: `users` users post `msgs` messages a day each, `envelopes`
/// envelopes of `size` bytes per message, half on their chat, half to a random user's
/// partition topic. User `u` posts from `poster(u)`.
fn workload(sim: &mut Sim, r: &Resolved, run_ms: u64, poster: &dyn Fn(u64) -> usize) {
    let total = (r.users as f64 * r.msgs * r.days).round() as u64;
    // The last minute carries no posts, so that every envelope has time to arrive.
    let window = run_ms.saturating_sub(60_000).max(1);
    for _ in 0..total {
        let u = sim.rng().below(r.users);
        let at = 1_000 + sim.rng().below(window);
        let topic = if sim.rng().chance(0.5) {
            chat_topic(u / 2)
        } else {
            let v = sim.rng().below(r.users);
            partition_topic(v)
        };
        let node = poster(u);
        for e in 0..u64::from(r.envelopes) {
            sim.post_at(at + e, node, topic, r.size);
        }
    }
}

/// Stops and restarts `nodes` at random (`r.churn` per node per hour, down 1 to 30 min). A node
/// in `quiet` (a messenger's) is back by 60 % of the run at the latest, so that the
/// retransmissions of its 1:1 messages can drain before the check at the end.
fn churn(sim: &mut Sim, r: &Resolved, nodes: &[usize], run_ms: u64, quiet: &[usize]) {
    if r.churn <= 0.0 {
        return;
    }
    let hours = run_ms.div_ceil(3_600_000);
    for &n in nodes {
        for h in 0..hours {
            if sim.rng().chance(r.churn) {
                let from = h * 3_600_000 + sim.rng().below(3_600_000);
                let down = 60_000 + sim.rng().below(29 * 60_000);
                if from < run_ms && (!quiet.contains(&n) || from + down <= run_ms / 10 * 6) {
                    sim.churn(n, from, from + down);
                }
            }
        }
    }
}

/// Messengers on `r.messengers` of `candidates` (the first one kept when `keep_first`, the rest
/// drawn at random): accounts `4c..4c+3` share public chat `sim-chat-c`; account `i` has a 1:1
/// chat with account `i + 1` (a ring); each account sends `r.chat_msgs` messages to its public
/// chat and to each 1:1 partner at random times in `window` (ms after the start); the check
/// runs at `check_at`. Returns the nodes.
fn messengers(
    sim: &mut Sim,
    r: &Resolved,
    candidates: &[usize],
    keep_first: bool,
    window: (u64, u64),
    check_at: u64,
) -> Vec<usize> {
    let k = r.messengers.min(candidates.len());
    if k == 0 {
        return Vec::new();
    }
    let mut c = candidates.to_vec();
    let skip = usize::from(keep_first).min(c.len());
    sim.rng().shuffle(&mut c[skip..]);
    let nodes: Vec<usize> = c[..k].to_vec();
    let accounts: Vec<usize> = nodes.iter().map(|&n| sim.add_messenger(n)).collect();
    let chat = |i: usize| format!("sim-chat-{}", i / 4);
    for (i, &a) in accounts.iter().enumerate() {
        sim.join_public_chat(a, &chat(i));
    }
    let span = window.1.saturating_sub(window.0).max(1);
    for (i, &a) in accounts.iter().enumerate() {
        for _ in 0..r.chat_msgs {
            let at = window.0 + sim.rng().below(span);
            sim.public_send_at(at, a, &chat(i));
        }
    }
    let pairs = match k {
        0 | 1 => 0,
        2 => 1,
        _ => k,
    };
    for i in 0..pairs {
        let (a, b) = (accounts[i], accounts[(i + 1) % k]);
        for _ in 0..r.chat_msgs {
            let at = window.0 + sim.rng().below(span);
            sim.direct_send_at(at, a, b);
            let at = window.0 + sim.rng().below(span);
            sim.direct_send_at(at, b, a);
        }
    }
    sim.check_messengers_at(check_at);
    nodes
}

fn messenger_note(f: &Figures) -> Option<String> {
    let m = &f.messengers;
    (m.accounts > 0).then(|| {
        format!(
            "messengers: {} accounts; public {}/{} member receipts ({} messages checked); 1:1 {} sent, {} received, {} delivered, {} expired; receipt p50 {} ms p95 {} ms",
            m.accounts,
            m.public_received,
            m.public_expected,
            m.public_checked,
            m.direct_messages,
            m.direct_received,
            m.direct_delivered,
            m.direct_expired,
            m.direct_ms.0,
            m.direct_ms.1
        )
    })
}

/// The fleet: `r.nodes` full nodes (a quarter of them mailservers, at least one) in a full
/// mesh up to 16 of them (a degree-`r.degree` graph beyond), and `r.light` light clients
/// attached to a mailserver and two relays. Even light clients advertise topic interest,
/// odd ones a bloom of their topics and idle ones up to [`BLOOM_TOPICS`]. Returns (full nodes,
/// light clients).
fn fleet(sim: &mut Sim, r: &Resolved) -> (Vec<usize>, Vec<usize>) {
    let mailservers = (r.nodes / 4).max(1);
    let full: Vec<usize> = (0..r.nodes)
        .map(|i| {
            let kind = if i < mailservers { Kind::Mailserver } else { Kind::Relay };
            sim.add_node(kind, Interest::All)
        })
        .collect();
    if full.len() <= 16 {
        for (i, &a) in full.iter().enumerate() {
            for &b in &full[i + 1..] {
                sim.link(a, b);
            }
        }
    } else {
        sim.random_regular_on(&full, r.degree);
    }
    let mut lights = Vec::new();
    for u in 0..r.light as u64 {
        let wanted = user_topics(u);
        let interest = if u % 2 == 0 {
            Interest::Topics(wanted)
        } else {
            let extra = (0..BLOOM_TOPICS.saturating_sub(wanted.len()))
                .map(|_| {
                    let x = sim.rng().next_u64().to_be_bytes();
                    Topic([x[0], x[1], x[2], x[3]])
                })
                .collect();
            Interest::Bloom { wanted, extra }
        };
        let l = sim.add_node(Kind::Light, interest);
        sim.link(l, full[(u as usize) % mailservers]);
        let relays = &full[mailservers..];
        let mut attached = 0;
        let mut tries = 0;
        while attached < 2.min(relays.len()) && tries < 20 {
            tries += 1;
            let x = relays[sim.rng().below(relays.len() as u64) as usize];
            if !sim.neighbours(l).contains(&x) {
                sim.link(l, x);
                attached += 1;
            }
        }
        lights.push(l);
    }
    (full, lights)
}

/// Runs a scenario.
pub fn run_scenario(cfg: &ScenarioConfig) -> Result<Report, ScenarioError> {
    let r = cfg.resolve()?;
    let run_ms = (r.days * 86_400_000.0).round() as u64;
    let link = LinkModel { loss: r.loss, ..LinkModel::default() };
    let mut notes = Vec::new();
    let mut extra_violations = Vec::new();
    let figures = match r.scenario {
        Scenario::Mesh | Scenario::Churn => {
            let mut sim =
                Sim::new(SimConfig { link, seed: r.seed, pow: r.pow, ..SimConfig::default() });
            let nodes: Vec<usize> =
                (0..r.nodes).map(|_| sim.add_node(Kind::Relay, Interest::All)).collect();
            sim.random_regular(r.degree);
            let n = nodes.len() as u64;
            workload(&mut sim, &r, run_ms, &|u| (u % n) as usize);
            let quiet = messengers(&mut sim, &r, &nodes, false, (1_000, run_ms / 2), run_ms);
            churn(&mut sim, &r, &nodes, run_ms, &quiet);
            let f = sim.run(run_ms);
            if r.loss == 0.0 && r.churn == 0.0 && f.delivered != f.expected {
                extra_violations.push(format!(
                    "a fault-free mesh delivered {} of {} expected arrivals",
                    f.delivered, f.expected
                ));
            }
            f
        }
        Scenario::Whisper | Scenario::Offline | Scenario::Chat => {
            let mut sim =
                Sim::new(SimConfig { link, seed: r.seed, pow: r.pow, ..SimConfig::default() });
            let (full, lights) = fleet(&mut sim, &r);
            let mailservers = (r.nodes / 4).max(1);
            let relays: Vec<usize> = full[mailservers..].to_vec();
            let relays = if relays.is_empty() { full.clone() } else { relays };
            let lights_c = lights.clone();
            workload(&mut sim, &r, run_ms, &|u| match lights_c.get(u as usize) {
                Some(&l) => l,
                None => relays[(u as usize) % relays.len()],
            });
            // Messengers on light clients and relays (the offline client first).
            let candidates: Vec<usize> = lights.iter().chain(&relays).copied().collect();
            let keep_first = r.scenario == Scenario::Offline;
            let quiet =
                messengers(&mut sim, &r, &candidates, keep_first, (1_000, run_ms / 2), run_ms);
            let all: Vec<usize> = full.iter().chain(&lights).copied().collect();
            churn(&mut sim, &r, &all, run_ms, &quiet);
            let offline = (3_600_000, 7 * 3_600_000);
            if r.scenario == Scenario::Offline
                && let Some(&l) = lights.first()
            {
                sim.churn(l, offline.0, offline.1);
            }
            let f = sim.run(run_ms);
            if r.scenario == Scenario::Offline
                && let Some(&l) = lights.first()
            {
                let wanted_total = sim.missing_for_total(l, 0, run_ms);
                let missing = sim.missing_for(l, 0, run_ms.saturating_sub(60_000));
                let during = sim.missing_for_total(l, offline.0, offline.1);
                notes.push(format!(
                    "light client {l} offline {} h to {} h: {during} envelopes on its topics posted meanwhile, {wanted_total} in the run; {missing} never received",
                    offline.0 / 3_600_000,
                    offline.1 / 3_600_000
                ));
                if missing > 0 {
                    extra_violations.push(format!(
                        "light client {l} never received {missing} envelopes of its topics"
                    ));
                }
            }
            if r.scenario == Scenario::Whisper {
                for (kind, case) in
                    [("relay", "case 2"), ("light-bloom", "case 5"), ("light-topic", "case 8")]
                {
                    if let Some(k) = f.kind(kind) {
                        notes.push(format!(
                            "{case} ({kind}): {} received per node per day, {} of distinct envelopes",
                            crate::human(k.in_per_node_day),
                            crate::human(k.new_envelope_bytes_per_node_day)
                        ));
                    }
                }
            }
            f
        }
        Scenario::Faults => {
            let link = LinkModel {
                loss: r.loss,
                bandwidth_bps: 10_000_000,
                duplicate: 0.01,
                reorder: 0.01,
                ..LinkModel::default()
            };
            let mut router = RouterConfig { min_pow: 0.0, ..RouterConfig::default() };
            router.pool.max_bytes = 512 * 1024;
            router.pool.max_envelopes = 500;
            let mut sim = Sim::new(SimConfig {
                link,
                seed: r.seed,
                router,
                skew_ms: 3_000,
                ttl_secs: 300,
                pow: r.pow,
            });
            let honest: Vec<usize> =
                (0..r.nodes).map(|_| sim.add_node(Kind::Relay, Interest::All)).collect();
            let hostile = [
                sim.add_node(Kind::Flooder { per_sec: 10 }, Interest::All),
                sim.add_node(
                    Kind::RawFlooder { packets_per_sec: 200, envelopes: 2 },
                    Interest::All,
                ),
                sim.add_node(Kind::BadSender, Interest::All),
                sim.add_node(Kind::NonRelay, Interest::All),
                sim.add_node(Kind::NonRelay, Interest::All),
            ];
            let all: Vec<usize> = honest.iter().chain(&hostile).copied().collect();
            sim.random_regular_on(&all, r.degree);
            let n = honest.len() as u64;
            workload(&mut sim, &r, run_ms, &|u| honest[(u % n) as usize]);
            let quiet = messengers(&mut sim, &r, &honest, false, (1_000, run_ms / 2), run_ms);
            churn(&mut sim, &r, &honest, run_ms, &quiet);
            let half: Vec<usize> = honest[..honest.len() / 2].to_vec();
            sim.partition_groups(&half, run_ms / 3, run_ms / 2);
            sim.run(run_ms)
        }
        Scenario::Partition => conversations(&r, run_ms, link, &mut notes),
    };
    let mut figures = figures;
    if let Some(n) = messenger_note(&figures) {
        notes.push(n);
    }
    for v in extra_violations {
        figures.violations += 1;
        if figures.violation_texts.len() < 8 {
            figures.violation_texts.push(v);
        }
    }
    Ok(Report { config: r, figures, notes })
}

/// The `partition` scenario: `nodes` relays on a random regular mesh, `light` light clients
/// each on two relays of one half, `users` conversation pairs between random nodes (relays or
/// light clients, a topic each), `msgs` messages each way per pair at random times in the first
/// 30 % of the run; the two halves are cut from 10 % to 25 % of the run; the exactly-once
/// check runs at the end. MVDS's backoff doubles with every send, so a message sent early in
/// the cut is next sent about as long after the heal as the cut lasted: the last 75 % of the
/// run leave room for two or three sends after the heal (loss needs them).
fn conversations(r: &Resolved, run_ms: u64, link: LinkModel, notes: &mut Vec<String>) -> Figures {
    let mut sim = Sim::new(SimConfig { link, seed: r.seed, pow: r.pow, ..SimConfig::default() });
    let relays: Vec<usize> =
        (0..r.nodes).map(|_| sim.add_node(Kind::Relay, Interest::All)).collect();
    sim.random_regular_on(&relays, r.degree.min(r.nodes - 1));
    let total = (r.nodes + r.light) as u64;
    let pairs: Vec<(usize, usize, Topic)> = (0..r.users)
        .map(|p| {
            let a = sim.rng().below(total) as usize;
            let b = (a + 1 + sim.rng().below(total - 1) as usize) % total as usize;
            (a, b, random_topic(p ^ 0x636f_6e76_0000_0000))
        })
        .collect();
    let half = r.nodes / 2;
    let mut side_a: Vec<usize> = relays[..half].to_vec();
    for j in 0..r.light {
        let idx = r.nodes + j;
        let mut topics: Vec<Topic> =
            pairs.iter().filter(|(a, b, _)| *a == idx || *b == idx).map(|(_, _, t)| *t).collect();
        if topics.is_empty() {
            topics.push(random_topic(idx as u64 ^ 0x6964_6c65_0000_0000));
        }
        let l = sim.add_node(Kind::Light, Interest::Topics(topics));
        let home = if j % 2 == 0 && half > 0 { &relays[..half] } else { &relays[half..] };
        if j % 2 == 0 && half > 0 {
            side_a.push(l);
        }
        let mut attached = 0;
        let mut tries = 0;
        while attached < 2.min(home.len()) && tries < 20 {
            tries += 1;
            let x = home[sim.rng().below(home.len() as u64) as usize];
            if !sim.neighbours(l).contains(&x) {
                sim.link(l, x);
                attached += 1;
            }
        }
    }
    let window = (run_ms as f64 * 0.3) as u64;
    let all: Vec<usize> = (0..r.nodes + r.light).collect();
    messengers(&mut sim, r, &all, false, (1_000, 1_000 + window), run_ms);
    for (a, b, topic) in &pairs {
        let c = sim.add_conversation(*a, *b, *topic);
        for side in 0..2 {
            for _ in 0..(r.msgs.round() as u64) {
                let at = 1_000 + sim.rng().below(window);
                sim.conversation_send_at(at, c, side);
            }
        }
    }
    let cut = (run_ms / 10, run_ms / 4);
    sim.partition_groups(&side_a, cut.0, cut.1);
    sim.check_conversations_at(run_ms);
    let f = sim.run(run_ms);
    let c = &f.conversations;
    notes.push(format!(
        "partition {} s to {} s: {} of {} messages delivered ({:.4}), {} acked, {:.2} retransmissions per message, time to delivery p50 {} ms p95 {} ms",
        cut.0 / 1000,
        cut.1 / 1000,
        c.delivered,
        c.messages,
        c.delivered_ratio,
        c.acked,
        c.retransmissions_per_message,
        c.delivery_ms.0,
        c.delivery_ms.1
    ));
    f
}
