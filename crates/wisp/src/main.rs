//! `wisp`: the command line of the wisp Status/devp2p node.
//!
//! This layer parses arguments ([`cli`]), sets up logging (tracing to stderr, filtered by
//! `--log-level` or `RUST_LOG`, as pretty lines or JSON), runs a command and turns its
//! [`error::Error`] into one `error: ...` line on stderr and exit code 1, or 2 for
//! configuration errors (as clap's usage errors). Results go to stdout; logs and notes go to
//! stderr.

mod account_cmd;
mod bootnode_cmd;
mod chat_cmd;
mod chat_contact_cmd;
mod chat_group_cmd;
mod chat_react_cmd;
mod cli;
mod data_dir;
mod devnet;
mod discovery_args;
mod dns_tree_cmd;
mod error;
mod history_cmd;
mod keys;
mod node_cmd;
mod post_watch;
mod rlpx_cmd;
mod rpc_client;
mod sim_cmd;
#[cfg(feature = "tui")]
mod tui;

// Dev-dependencies of the integration tests (hostile waku tests, mailserver_ack), linked into
// the unit tests too.
#[cfg(test)]
use {criterion as _, rusqlite as _, wisp_ratchet as _, wisp_waku as _};

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
};

use clap::Parser;
use wisp_node::LogFormat;

use crate::{
    cli::{Cli, Command, KeysCommand},
    data_dir::DataDir,
    error::Error,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `wisp node` starts logging itself, once it has read `[log]` from its config file.
    // The full-screen client logs to a file (its embedded node's logs would cover the screen).
    let full_screen = matches!(&cli.command, Command::Chat(args) if args.command.is_none());
    if !matches!(cli.command, Command::Node(_)) && !full_screen {
        init_tracing(
            cli.log_level.as_deref().unwrap_or("warn"),
            cli.log_format.unwrap_or_default(),
        );
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let data_dir = DataDir::new(cli.data_dir);
    match cli.command {
        Command::Node(args) => {
            node_cmd::main(&args, &data_dir, cli.log_level.as_deref(), cli.log_format)
        }
        Command::Keys(KeysCommand::New(args)) => keys::new(&args, &data_dir),
        Command::Keys(KeysCommand::Show(args)) => keys::show(&args, &data_dir),
        Command::Rlpx(cmd) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(Error::Runtime)?;
            runtime.block_on(rlpx_cmd::run(cmd, &data_dir))
        }
        Command::Devnet(args) => devnet::main(args, &data_dir),
        Command::Post(args) => post_watch::post(args),
        Command::Watch(args) => post_watch::watch(args),
        Command::History(args) => history_cmd::run(args),
        Command::Account(cmd) => account_cmd::run(cmd, &data_dir),
        Command::Chat(args) => chat_cmd::dispatch(args, &data_dir),
        Command::DnsTree(args) => dns_tree_cmd::run(&args),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Bootnode(args) => bootnode_cmd::main(&args, &data_dir),
    }
}

/// Logs go to stderr: pretty lines (coloured only on a terminal) or one JSON object per line;
/// `filter` was checked by the parser.
fn init_tracing(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
}

/// Writes `text` and a newline to stdout and flushes it (scripts and tests read it line by
/// line); a closed stdout is an error, not a panic.
pub(crate) fn print_line(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(Error::Stdout)
}
