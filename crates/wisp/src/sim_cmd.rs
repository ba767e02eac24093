//! `wisp sim`: runs a wisp-sim scenario (real routers and mailservers on a virtual clock and
//! network) and prints its figures; a run that breaks an invariant prints its seed and the
//! command that replays it, and exits with 1.

use clap::Args;
use wisp_sim::{Scenario, ScenarioConfig, ScenarioError, run_scenario};

use crate::{error::Error, print_line};

/// `wisp sim`
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Scenario: mesh, churn, whisper, offline, faults, partition or chat (crates/sim/README.md)
    #[arg(long, value_name = "NAME")]
    pub(crate) scenario: String,
    /// Full nodes (relays and mailservers; in mesh, churn and faults: all honest nodes) [default: per scenario]
    #[arg(long, value_name = "N")]
    pub(crate) nodes: Option<usize>,
    /// Light clients [default: per scenario]
    #[arg(long, value_name = "L")]
    pub(crate) light: Option<usize>,
    /// Seed of every random choice; the same seed gives the same figures
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub(crate) seed: u64,
    /// Simulated days, fractions allowed [default: per scenario]
    #[arg(long, value_name = "D")]
    pub(crate) days: Option<f64>,
    /// Probability that a Messages packet is lost [default: 0.3 for churn, else 0]
    #[arg(long, value_name = "P")]
    pub(crate) loss: Option<f64>,
    /// Probability per node per hour of a stop and restart [default: 0.05 for churn, else 0]
    #[arg(long, value_name = "R")]
    pub(crate) churn: Option<f64>,
    /// Degree of the relay mesh [default: 8; 6 for faults; 4 for partition]
    #[arg(long, value_name = "K")]
    pub(crate) degree: Option<usize>,
    /// Users behind the workload; in partition: 1:1 conversation pairs [default: 10000 for whisper, 10 for partition, else one per node]
    #[arg(long, value_name = "U")]
    pub(crate) users: Option<u64>,
    /// Messages per user per day; in partition: messages each way per pair [default: 100; 10 for churn and partition]
    #[arg(long, value_name = "M")]
    pub(crate) msgs: Option<f64>,
    /// Envelopes per message [default: 10 for whisper (the model's A2), else 1]
    #[arg(long, value_name = "E")]
    pub(crate) envelopes: Option<u32>,
    /// Envelope data bytes [default: 1024]
    #[arg(long, value_name = "BYTES")]
    pub(crate) size: Option<usize>,
    /// Nodes running a messenger (wisp-messenger, public and 1:1 chats) [default: 12 for chat, 20 for churn, 8 for whisper and partition, 4 for offline, 0 for mesh and faults]
    #[arg(long, value_name = "A")]
    pub(crate) messengers: Option<usize>,
    /// Messages each messenger sends to its public chat and to each 1:1 partner [default: 5 for chat, else 2]
    #[arg(long, value_name = "C")]
    pub(crate) chat_msgs: Option<u64>,
    /// PoW target every router asks for and every envelope is sealed to; 0 for none [default: 0]
    #[arg(long, value_name = "TARGET")]
    pub(crate) pow: Option<f64>,
    /// Print the figures as one JSON object
    #[arg(long)]
    pub(crate) json: bool,
}

fn setting(e: ScenarioError) -> Error {
    let ScenarioError::Invalid { key, value, expected } = &e;
    let name = match *key {
        "scenario" => "--scenario",
        "nodes" => "--nodes",
        "light" => "--light",
        "days" => "--days",
        "loss" => "--loss",
        "churn" => "--churn",
        "degree" => "--degree",
        "msgs" => "--msgs",
        "envelopes" => "--envelopes",
        "users" => "--users",
        "messengers" => "--messengers",
        "chat-msgs" => "--chat-msgs",
        "pow" => "--pow",
        _ => "--size",
    };
    Error::Setting { name, message: format!("{value}: expected {expected}") }
}

pub(crate) fn run(args: SimArgs) -> Result<(), Error> {
    let scenario: Scenario = args.scenario.parse().map_err(setting)?;
    let config = ScenarioConfig {
        scenario,
        seed: args.seed,
        nodes: args.nodes,
        light: args.light,
        days: args.days,
        loss: args.loss,
        churn: args.churn,
        degree: args.degree,
        users: args.users,
        msgs: args.msgs,
        envelopes: args.envelopes,
        size: args.size,
        messengers: args.messengers,
        chat_msgs: args.chat_msgs,
        pow: args.pow,
    };
    let report = run_scenario(&config).map_err(setting)?;
    let command = report.config.command();
    if args.json {
        let notes: Vec<String> =
            report.notes.iter().map(|n| serde_json::Value::from(n.as_str()).to_string()).collect();
        print_line(&format!(
            "{{\"command\":{},\"figures\":{},\"notes\":[{}]}}",
            serde_json::Value::from(command.as_str()),
            report.figures.to_json(),
            notes.join(",")
        ))?;
    } else {
        print_line(&format!("{command}\n{}", report.figures))?;
        for note in &report.notes {
            print_line(note)?;
        }
    }
    if report.figures.violations > 0 {
        return Err(Error::Sim(format!(
            "{} invariant violation(s) with seed {}; replay: {command}",
            report.figures.violations, report.config.seed
        )));
    }
    Ok(())
}
