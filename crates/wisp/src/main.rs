//! `wisp`: the command line of the wisp Status/devp2p node.
//!
//! This layer parses arguments ([`cli`]), sets up logging (tracing to stderr, filtered by
//! `--log-level` or `RUST_LOG`), runs a command and turns its [`error::Error`] into one
//! `error: ...` line on stderr and exit code 1 (clap's usage errors exit 2). Results go to
//! stdout; logs and notes go to stderr.

mod cli;
mod data_dir;
mod error;
mod keys;
mod rlpx_cmd;

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
};

use clap::Parser;

use crate::{
    cli::{Cli, Command, KeysCommand},
    data_dir::DataDir,
    error::Error,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_level);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let data_dir = DataDir::new(cli.data_dir);
    match cli.command {
        Command::Keys(KeysCommand::New(args)) => keys::new(&args, &data_dir),
        Command::Keys(KeysCommand::Show(args)) => keys::show(&args, &data_dir),
        Command::Rlpx(cmd) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(Error::Runtime)?;
            runtime.block_on(rlpx_cmd::run(cmd, &data_dir))
        }
    }
}

/// Logs go to stderr, coloured only on a terminal; `filter` was checked by the parser.
fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Writes `text` and a newline to stdout and flushes it (scripts and tests read it line by
/// line); a closed stdout is an error, not a panic.
pub(crate) fn print_line(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(Error::Stdout)
}
