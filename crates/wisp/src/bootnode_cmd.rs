//! `wisp bootnode`: a discovery bootnode. Runs legacy topic discovery (tickets, topic
//! registrations, lookups) on a UDP port, Discovery v5.1 on the next port (`--discv5-port`)
//! and an RLPx listener without Waku (`--role bootstrap`); prints its enode and its v5.1
//! ENR and runs until SIGINT or SIGTERM.

use std::net::{IpAddr, SocketAddr};

use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use wisp_node::{Node, NodeConfig, Role};

use crate::{data_dir::DataDir, error::Error, print_line};

/// Shown after `wisp bootnode --help`.
const EXAMPLES: &str = "\
Examples:
  A bootnode and two relays on one machine that find each other through it (the relays
  register and search the `whisper` topic; use the enode the bootnode prints):
    wisp bootnode --data-dir /tmp/boot --listen 127.0.0.1:30301
    wisp node --data-dir /tmp/a --listen 127.0.0.1:30303 --rpc 127.0.0.1:8545 \\
      --bootnodes enode://<128 hex node id>@127.0.0.1:30301
    wisp node --data-dir /tmp/b --listen 127.0.0.1:30304 --rpc 127.0.0.1:8546 \\
      --bootnodes enode://<128 hex node id>@127.0.0.1:30301
  Then `curl -s -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"admin_peers\",\"params\":[]}' \\
      127.0.0.1:8545` shows the other relay with \"discoveredBy\": \"legacy\".

  The same with Discovery v5.1 only (use the `enr:` line the bootnode prints; v5.1 takes
  the port after the discovery port, so leave a gap between the nodes' ports):
    wisp node --data-dir /tmp/a --listen 127.0.0.1:30310 --no-legacy-discovery \
      --bootnodes enr:<base64 record>

The bootnode prints `enode: <url>` (with ?discport= when the UDP port differs from the TCP
port) and `enr: <record>` (Discovery v5.1: ip, udp, tcp, and a `waku` entry with no roles). Its key is <data-dir>/node.key, created on first start, so the enode stays the same.";

/// `wisp bootnode`
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct BootnodeArgs {
    /// RLPx address to listen on; discovery uses the same port number over UDP
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:30301")]
    pub(crate) listen: SocketAddr,

    /// Discovery UDP port [default: the listen port's number]
    #[arg(long, value_name = "PORT")]
    pub(crate) discovery_port: Option<u16>,

    /// The IP other nodes should reach, written into the printed enode
    /// [default: the listen IP; 127.0.0.1 when listening on 0.0.0.0]
    #[arg(long, value_name = "IP")]
    pub(crate) external_ip: Option<IpAddr>,

    /// Discovery v5.1 UDP port [default: the discovery port + 1]
    #[arg(long, value_name = "PORT")]
    pub(crate) discv5_port: Option<u16>,

    /// Serve Prometheus metrics at http://IP:PORT/metrics [default: off]
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) metrics: Option<SocketAddr>,
}

/// Runs `wisp bootnode`.
pub(crate) fn main(args: &BootnodeArgs, data_dir: &DataDir) -> Result<(), Error> {
    let mut config = NodeConfig {
        data_dir: data_dir.path()?,
        listen: args.listen,
        external_ip: args.external_ip,
        role: Role::Bootstrap,
        rpc: None,
        metrics: args.metrics,
        ..NodeConfig::default()
    };
    config.discovery.enabled = true;
    config.discovery.port = args.discovery_port;
    config.discovery.v5 = true;
    config.discovery.v5_port = args.discv5_port;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(run(config))
}

async fn run(config: NodeConfig) -> Result<(), Error> {
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;
    let node = Node::start(config).await.map_err(Error::NodeStart)?;
    let mut lines = vec![format!("enode: {}", node.enode())];
    if let Some(enr) = node.discv5_enr() {
        lines.push(format!("enr: {enr}"));
    }
    if let Some(addr) = node.metrics_addr() {
        lines.push(format!("metrics: http://{addr}/metrics"));
    }
    lines.push("role: bootstrap".to_owned());
    if let Err(e) = print_line(&lines.join("\n")) {
        node.shutdown().await;
        return Err(e);
    }
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    node.shutdown().await;
    Ok(())
}
