//! `wisp bootnode`: a discovery bootnode. Runs legacy topic discovery (tickets, topic
//! registrations, lookups) on a UDP port, Discovery v5.1 on the next port (`--discv5-port`)
//! and an RLPx listener without Waku (`--role bootstrap`), and with `--rendezvous` a Status
//! rendezvous server; prints its enode, its v5.1 ENR (and rendezvous multiaddr) and runs until
//! SIGINT or SIGTERM.

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

  With `--rendezvous` the bootnode also serves Status rendezvous (default port 30703) and
  prints `rendezvous: /ip4/127.0.0.1/tcp/30703/ethv4/<peer id>`; nodes then find each other
  with `wisp node ... --rendezvous /ip4/127.0.0.1/tcp/30703/ethv4/<peer id>`.
  The same with Discovery v5.1 only (use the `enr:` line the bootnode prints; v5.1 takes
  the port after the discovery port, so leave a gap between the nodes' ports):
    wisp node --data-dir /tmp/a --listen 127.0.0.1:30310 --no-legacy-discovery \
      --bootnodes enr:<base64 record>
  or by its enode (the node asks it for its v5.1 record, at the enode's UDP port, then the
  next one):
    wisp node --data-dir /tmp/b --listen 127.0.0.1:30312 --no-legacy-discovery --discv5 \
      --bootnodes enode://<id>@127.0.0.1:30301

The bootnode prints `enode: <url>` (with ?discport= when the UDP port differs from the TCP
port) and `enr: <record>` (Discovery v5.1: ip, udp, tcp, and a `waku` entry with no roles). Its key is <data-dir>/node.key, created on first start, so the enode stays the same.";

/// The rendezvous port of status-go's fleets.
const DEFAULT_RENDEZVOUS_PORT: u16 = 30703;

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

    /// Also serve Status rendezvous (/rend/0.1.0 over libp2p) on this TCP address; without a
    /// value, on the listen IP with port 30703 [default: off]
    #[arg(long, value_name = "IP:PORT", num_args = 0..=1, default_missing_value = "")]
    pub(crate) rendezvous: Option<String>,
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
    config.discovery.rendezvous_listen = match args.rendezvous.as_deref() {
        None => None,
        Some("") => Some(SocketAddr::new(args.listen.ip(), DEFAULT_RENDEZVOUS_PORT)),
        Some(text) => Some(text.parse().map_err(|e| Error::Setting {
            name: "--rendezvous",
            message: format!(
                "{text:?} is not an address: {e}; expected IP:PORT such as 0.0.0.0:30703"
            ),
        })?),
    };
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
    if let Some(addr) = node.rendezvous_addr() {
        lines.push(format!("rendezvous: {addr}"));
    }
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
