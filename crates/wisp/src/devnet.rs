//! `wisp devnet`: N nodes in this process on 127.0.0.1, connected as a line, a star or a full
//! mesh, each with its own data directory and JSON-RPC server. `--demo` posts a message on the
//! first node through its RPC and waits for it at the last one; then two fresh chat accounts,
//! alice on the first node and bob on the last, exchange a public and 1:1 messages through
//! the devnet, and the delivery states of alice's and bob's messages are printed as reached.

use std::{
    collections::{HashSet, VecDeque},
    fmt, fs,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, ValueEnum};
use tokio::{
    signal::unix::{SignalKind, signal},
    task::JoinSet,
    time::Instant,
};
use wisp_accounts::{Account, ChatIdentity, Mnemonic};
use wisp_crypto::SecretKey;
use wisp_node::{ChatConfig, Node, NodeConfig};
use wisp_rlpx::NodeId;

use crate::{
    chat_cmd::{ChatRpc, status_of, str_field},
    data_dir::DataDir,
    error::{Error, human_duration},
    post_watch::{Channel, chat_topic, delete_filter, filter_messages, new_filter, post_message},
    print_line,
    rpc_client::{RpcClient, RpcUrl},
};

/// Longest wait for every link of the topology to come up: this, plus [`LINK_TIMEOUT_PER_LINK`]
/// for each link (a 64-node mesh has 2016).
const LINK_TIMEOUT: Duration = Duration::from_secs(10);
const LINK_TIMEOUT_PER_LINK: Duration = Duration::from_millis(10);
/// A link still down this long after its dial is dialled again (more than the RLPx handshake
/// timeout, so the first attempt has ended).
const REDIAL_AFTER: Duration = Duration::from_secs(6);
/// Most links being dialled at once: a burst of thousands of handshakes starves the nodes'
/// tasks and their peers miss the Waku Status timeout.
const MAX_PENDING_DIALS: usize = 32;
/// How often the peers are checked while the links come up.
const LINK_POLL: Duration = Duration::from_millis(50);
/// Longest wait for the demo message at the last node; on long routes, [`DEMO_PER_HOP`] for
/// each hop plus [`DEMO_SLACK`] if that is more (each hop waits up to one 300 ms transmission
/// cycle).
const DEMO_TIMEOUT: Duration = Duration::from_secs(15);
const DEMO_PER_HOP: Duration = Duration::from_millis(500);
const DEMO_SLACK: Duration = Duration::from_secs(5);
/// Routes longer than this many nodes are shown with the middle left out.
const ROUTE_SHOWN: usize = 8;
/// How often the last node's filter is polled during the demo.
const DEMO_POLL: Duration = Duration::from_millis(20);
/// How long one RPC call of the demo may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// The demo's public chat: its name gives the topic and the key's password.
const DEMO_CHAT: &str = "wisp-devnet-demo";
/// The demo envelope: TTL (seconds), PoW target and most seconds of PoW.
const DEMO_TTL: u32 = 60;
const DEMO_POW: f64 = 0.002;
const DEMO_POW_TIME: u32 = 5;
/// The fewest and most nodes.
const MIN_NODES: u16 = 2;
const MAX_NODES: u16 = 64;
/// Peer slots of each node when the topology needs more than the default.
const DEFAULT_MAX_PEERS: usize = 50;

/// Shown after `wisp devnet --help`.
const DEVNET_NOTES: &str = "\
Each node keeps its key in <data-dir>/devnet-<i> when --data-dir or $WISP_DATA_DIR is set, else in
a temporary directory removed at exit. The table of nodes (index, enode URL, JSON-RPC URL) and a
`devnet ready` line go to stdout; `wisp post` and `wisp watch --rpc <URL>` talk to any node.
With --demo, the first and last node also run the messenger for two new accounts, alice and bob
(`chat demo:` lines: each delivery state of a public and two 1:1 messages, with the time since
the send).";

/// `wisp devnet`
#[derive(Debug, Args)]
#[command(after_help = DEVNET_NOTES)]
pub(crate) struct DevnetArgs {
    /// Number of nodes, 2 to 64
    #[arg(
        long,
        short = 'n',
        value_name = "N",
        default_value_t = 3,
        value_parser = clap::value_parser!(u16).range(i64::from(MIN_NODES)..=i64::from(MAX_NODES))
    )]
    pub(crate) nodes: u16,

    /// How the nodes connect: line (0-1-2-...), star (every node to node 0), mesh (all pairs)
    #[arg(long, value_enum, value_name = "SHAPE", default_value_t = Topology::Line)]
    pub(crate) topology: Topology,

    /// Post a message on the first node, show it arriving at the last one; then chat between
    /// two new accounts on those nodes (public and 1:1, with delivery states); stop and exit
    #[arg(long)]
    pub(crate) demo: bool,

    /// Node i listens on P+2i (RLPx) and P+2i+1 (JSON-RPC); 0 picks free ports
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub(crate) base_port: u16,

    /// Also speak shh/6 (Whisper) next to waku/1, bridging the two
    #[arg(long)]
    pub(crate) whisper: bool,
}

/// How the nodes of a devnet are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Topology {
    /// Node i dials node i+1: a message crosses N-1 hops from the first to the last.
    Line,
    /// Every node dials node 0.
    Star,
    /// Every node dials every other.
    Mesh,
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Line => "line",
            Self::Star => "star",
            Self::Mesh => "mesh",
        })
    }
}

impl Topology {
    /// The links as `(dialer, dialled)` node indexes.
    fn links(self, n: usize) -> Vec<(usize, usize)> {
        match self {
            Self::Line => (1..n).map(|i| (i - 1, i)).collect(),
            Self::Star => (1..n).map(|i| (i, 0)).collect(),
            Self::Mesh => (0..n).flat_map(|j| (0..j).map(move |i| (j, i))).collect(),
        }
    }
}

/// A shortest path from `from` to `to` over undirected `links`.
fn path(n: usize, links: &[(usize, usize)], from: usize, to: usize) -> Option<Vec<usize>> {
    let mut previous = vec![None; n];
    let mut queue = VecDeque::from([from]);
    let mut seen = vec![false; n];
    seen[from] = true;
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut hops = vec![to];
            let mut cur = to;
            while let Some(p) = previous[cur] {
                hops.push(p);
                cur = p;
            }
            hops.reverse();
            return Some(hops);
        }
        for &(a, b) in links {
            let next = if a == at {
                b
            } else if b == at {
                a
            } else {
                continue;
            };
            if !seen[next] {
                seen[next] = true;
                previous[next] = Some(at);
                queue.push_back(next);
            }
        }
    }
    None
}

/// Why a devnet failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevnetError {
    /// The devnet's directory could not be made.
    #[error("cannot create the devnet directory {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A node did not start.
    #[error("cannot start node {index}: {source}")]
    Start {
        /// Its index.
        index: usize,
        /// Why.
        source: wisp_node::NodeError,
    },
    /// Some links did not come up in time.
    #[error(
        "only {up} of {total} links came up within {}; missing: {missing}",
        human_duration(*limit)
    )]
    Links {
        /// How long we waited.
        limit: Duration,
        /// Links up.
        up: usize,
        /// Links expected.
        total: usize,
        /// The missing links, `node a - node b`.
        missing: String,
    },
    /// A node stopped while the devnet ran.
    #[error("node {0} stopped unexpectedly")]
    Stopped(usize),
    /// The demo message did not arrive.
    #[error("demo: {0}")]
    Demo(String),
    /// A demo account could not be made.
    #[error("demo: cannot create a chat account: {0}")]
    Account(wisp_accounts::AccountsError),
}

/// A new chat key, from a fresh mnemonic as `wisp account new` makes it.
fn new_chat_key() -> Result<SecretKey, DevnetError> {
    let mnemonic = Mnemonic::generate(12).map_err(DevnetError::Account)?;
    Account::from_mnemonic(&mnemonic, "")
        .and_then(|account| account.chat_key())
        .map_err(DevnetError::Account)
}

/// Where the nodes keep their keys: `<data-dir>/devnet-<i>`, or a temporary directory removed
/// when the devnet stops.
#[derive(Debug)]
struct DevnetDir {
    root: PathBuf,
    temporary: bool,
}

impl DevnetDir {
    fn new(explicit: Option<&Path>) -> Result<Self, DevnetError> {
        if let Some(dir) = explicit {
            return Ok(Self { root: dir.to_owned(), temporary: false });
        }
        let suffix = hex::encode(wisp_crypto::random_bytes::<4>());
        let root =
            std::env::temp_dir().join(format!("wisp-devnet-{}-{suffix}", std::process::id()));
        fs::create_dir_all(&root)
            .map_err(|source| DevnetError::Dir { path: root.clone(), source })?;
        Ok(Self { root, temporary: true })
    }

    fn node(&self, index: usize) -> PathBuf {
        self.root.join(format!("devnet-{index}"))
    }
}

impl Drop for DevnetDir {
    fn drop(&mut self) {
        if self.temporary
            && let Err(e) = fs::remove_dir_all(&self.root)
        {
            tracing::warn!("cannot remove {}: {e}", self.root.display());
        }
    }
}

/// A demo chat account: its name in the demo and its identity.
struct DemoAccount {
    name: &'static str,
    identity: ChatIdentity,
}

/// A started node and what the devnet shows of it.
struct Member {
    node: Node,
    id: NodeId,
    rpc: RpcUrl,
    /// The chat account the node runs the messenger for (`--demo`: the first and last node).
    account: Option<DemoAccount>,
}

/// Runs `wisp devnet`.
pub(crate) fn main(args: DevnetArgs, data_dir: &DataDir) -> Result<(), Error> {
    let n = usize::from(args.nodes);
    if args.base_port != 0 && usize::from(args.base_port) + 2 * n - 1 > usize::from(u16::MAX) {
        let message = format!(
            "--base-port {} leaves no room for {n} nodes (ports up to {} needed)",
            args.base_port,
            usize::from(args.base_port) + 2 * n - 1
        );
        <crate::cli::Cli as clap::CommandFactory>::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit();
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(run(args, data_dir))
}

async fn run(args: DevnetArgs, data_dir: &DataDir) -> Result<(), Error> {
    // Handlers first: a signal after the table is printed must not kill us.
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;
    let dir = DevnetDir::new(data_dir.explicit())?;
    let n = usize::from(args.nodes);

    let mut members = Vec::with_capacity(n);
    for index in 0..n {
        match start_node(&args, &dir, index).await {
            Ok(member) => members.push(member),
            Err(e) => {
                shutdown(members).await;
                return Err(e.into());
            }
        }
    }

    let interrupted = async {
        tokio::select! {
            _ = sigint.recv() => "SIGINT",
            _ = sigterm.recv() => "SIGTERM",
        }
    };
    let result = tokio::select! {
        result = drive(&args, &members) => result,
        signal = interrupted => {
            tracing::info!("{signal}: shutting down");
            if args.demo {
                Err(DevnetError::Demo(format!("interrupted by {signal}")).into())
            } else {
                Ok(())
            }
        }
    };
    shutdown(members).await;
    drop(dir);
    result
}

/// Connects the nodes, prints them, then runs the demo or waits for a node to stop.
async fn drive(args: &DevnetArgs, members: &[Member]) -> Result<(), Error> {
    let n = members.len();
    let links = args.topology.links(n);
    let started = Instant::now();
    connect(members, &links).await?;
    print_table(members)?;
    print_line(&format!(
        "devnet ready: {n} nodes, {} topology, {} link{} up in {} ms",
        args.topology,
        links.len(),
        if links.len() == 1 { "" } else { "s" },
        started.elapsed().as_millis()
    ))?;
    if args.demo {
        demo(members, &links).await?;
        return chat_demo(members).await;
    }
    eprintln!("devnet running; Ctrl-C or SIGTERM stops it");
    // Runs until a signal; a node whose service stops ends the devnet with an error.
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        check.tick().await;
        for (index, member) in members.iter().enumerate() {
            if member.node.handle().peers().await.is_err() {
                return Err(DevnetError::Stopped(index).into());
            }
        }
    }
}

async fn start_node(
    args: &DevnetArgs,
    dir: &DevnetDir,
    index: usize,
) -> Result<Member, DevnetError> {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (p2p_port, rpc_port) = match args.base_port {
        0 => (0, 0),
        base => {
            let p = base + 2 * u16::try_from(index).expect("at most 64 nodes");
            (p, p + 1)
        }
    };
    let peers = DEFAULT_MAX_PEERS.max(usize::from(args.nodes));
    let last = usize::from(args.nodes) - 1;
    let account = match index {
        _ if !args.demo => None,
        0 => Some(("alice", new_chat_key()?)),
        i if i == last => Some(("bob", new_chat_key()?)),
        _ => None,
    };
    let config = NodeConfig {
        chat: account.as_ref().map(|(_, key)| ChatConfig::new(key.clone())),
        data_dir: dir.node(index),
        listen: SocketAddr::new(localhost, p2p_port),
        rpc: Some(SocketAddr::new(localhost, rpc_port)),
        whisper: args.whisper,
        max_peers: peers,
        max_inbound: peers,
        ..NodeConfig::default()
    };
    let node = Node::start(config).await.map_err(|source| DevnetError::Start { index, source })?;
    let id = node.enode().id;
    let rpc = node.rpc_addr().expect("the devnet configures JSON-RPC on every node");
    tracing::info!(index, enode = %node.enode(), %rpc, "devnet node started");
    let account = account
        .map(|(name, key)| DemoAccount { name, identity: ChatIdentity::of(&key.public_key()) });
    Ok(Member { node, id, rpc: RpcUrl::from_addr(rpc), account })
}

/// Stops every node, all at once.
async fn shutdown(members: Vec<Member>) {
    let mut stopping = JoinSet::new();
    for member in members {
        stopping.spawn(member.node.shutdown());
    }
    while stopping.join_next().await.is_some() {}
}

/// Dials every link, [`MAX_PENDING_DIALS`] at a time, and waits until each is up on both
/// ends; a link still down [`REDIAL_AFTER`] its dial is dialled again.
async fn connect(members: &[Member], links: &[(usize, usize)]) -> Result<(), DevnetError> {
    let limit = LINK_TIMEOUT + LINK_TIMEOUT_PER_LINK * u32::try_from(links.len()).unwrap_or(0);
    let deadline = Instant::now() + limit;
    let mut dialled: Vec<Option<Instant>> = vec![None; links.len()];
    loop {
        let mut peers = Vec::with_capacity(members.len());
        for (index, member) in members.iter().enumerate() {
            let ids: HashSet<NodeId> = match member.node.handle().peers().await {
                Ok(list) => list.into_iter().map(|p| p.id).collect(),
                Err(_) => return Err(DevnetError::Stopped(index)),
            };
            peers.push(ids);
        }
        let missing: Vec<usize> = (0..links.len())
            .filter(|&l| {
                let (a, b) = links[l];
                !peers[a].contains(&members[b].id) || !peers[b].contains(&members[a].id)
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let shown: Vec<String> = missing
                .iter()
                .take(10)
                .map(|&l| format!("node {} - node {}", links[l].0, links[l].1))
                .collect();
            let more = match missing.len() {
                m if m > 10 => format!(" and {} more", m - 10),
                _ => String::new(),
            };
            return Err(DevnetError::Links {
                limit,
                up: links.len() - missing.len(),
                total: links.len(),
                missing: format!("{}{more}", shown.join(", ")),
            });
        }
        let pending = |at: &Option<Instant>| at.is_some_and(|t| now < t + REDIAL_AFTER);
        let mut in_flight = missing.iter().filter(|&&l| pending(&dialled[l])).count();
        for &l in &missing {
            if in_flight >= MAX_PENDING_DIALS {
                break;
            }
            if pending(&dialled[l]) {
                continue;
            }
            let (a, b) = links[l];
            tracing::debug!(from = a, to = b, again = dialled[l].is_some(), "dialling");
            if members[a].node.handle().add_peer(members[b].node.enode()).is_err() {
                return Err(DevnetError::Stopped(a));
            }
            dialled[l] = Some(now);
            in_flight += 1;
        }
        tokio::time::sleep(LINK_POLL).await;
    }
}

/// The table of nodes: index, enode URL, RPC URL.
fn print_table(members: &[Member]) -> Result<(), Error> {
    let enodes: Vec<String> = members.iter().map(|m| m.node.enode().to_string()).collect();
    let width = enodes.iter().map(String::len).max().unwrap_or(0);
    let mut table = format!("{:<4}  {:<width$}  rpc", "node", "enode");
    for (index, (enode, member)) in enodes.iter().zip(members).enumerate() {
        table.push_str(&format!("\n{index:<4}  {enode:<width$}  {}", member.rpc));
    }
    print_line(&table)
}

/// Posts on the first node, waits for the message at the last and reports the route and time.
async fn demo(members: &[Member], links: &[(usize, usize)]) -> Result<(), Error> {
    let n = members.len();
    let first = RpcClient::new(members[0].rpc.clone(), RPC_TIMEOUT);
    let last = RpcClient::new(members[n - 1].rpc.clone(), RPC_TIMEOUT);
    let rpc_err = |e: crate::rpc_client::RpcError| DevnetError::Demo(e.to_string());
    let topic = chat_topic(DEMO_CHAT);

    // The receiver listens before anything is sent.
    let inbox = Channel::open_with(&last, topic, Some(DEMO_CHAT), None).await.map_err(rpc_err)?;
    let filter = new_filter(&last, &inbox).await.map_err(rpc_err)?;
    let outbox = Channel::open_with(&first, topic, Some(DEMO_CHAT), None).await.map_err(rpc_err)?;

    let text = "hello from node 0";
    let sent = Instant::now();
    let hash = post_message(&first, &outbox, text.as_bytes(), DEMO_TTL, DEMO_POW, DEMO_POW_TIME)
        .await
        .map_err(rpc_err)?;
    let posted_in = sent.elapsed();
    print_line(&format!(
        "demo: posted {text:?} on node 0 (envelope {hash}, proof of work and post took {} ms)",
        posted_in.as_millis()
    ))?;

    let route = path(n, links, 0, n - 1).unwrap_or_else(|| vec![0, n - 1]);
    let hops = route.len() - 1;
    let limit = DEMO_TIMEOUT.max(DEMO_PER_HOP * u32::try_from(hops).unwrap_or(0) + DEMO_SLACK);
    let deadline = sent + limit;
    let arrived = loop {
        let messages = filter_messages(&last, &filter).await.map_err(rpc_err)?;
        if messages
            .iter()
            .any(|m| crate::post_watch::payload_of(m).as_deref() == Some(text.as_bytes()))
        {
            break Some(sent.elapsed());
        }
        if Instant::now() >= deadline {
            break None;
        }
        tokio::time::sleep(DEMO_POLL).await;
    };
    delete_filter(&last, &filter).await;
    inbox.close(&last).await;
    outbox.close(&first).await;

    let Some(took) = arrived else {
        let mut pooled = Vec::with_capacity(n);
        for member in members {
            let count = match member.node.handle().stats().await {
                Ok((_, pool)) => pool.to_string(),
                Err(_) => "stopped".into(),
            };
            pooled.push(count);
        }
        return Err(Error::from(DevnetError::Demo(format!(
            "{text:?} did not reach node {} within {} (envelopes in each node's pool: {})",
            n - 1,
            human_duration(limit),
            pooled.join(", ")
        ))));
    };
    print_line(&format!(
        "demo: {text:?} went {} ({hops} hop{}) in {} ms",
        show_route(&route),
        if hops == 1 { "" } else { "s" },
        took.as_millis()
    ))
}

/// The chat part of the demo: alice (first node) and bob (last node) join a public chat and
/// exchange a public message, then 1:1 messages both ways; every delivery state of the
/// sender's message is printed when reached, with the time since `send`.
async fn chat_demo(members: &[Member]) -> Result<(), Error> {
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return Ok(());
    };
    let (Some(alice), Some(bob)) = (&first.account, &last.account) else {
        return Ok(());
    };
    let n = members.len();
    for (account, index) in [(alice, 0), (bob, n - 1)] {
        print_line(&format!(
            "chat demo: {} is {} ({}) on node {index}",
            account.name, account.identity.alias, account.identity.compressed_key
        ))?;
    }
    let a = Chatter { account: alice, rpc: ChatRpc::new(first.rpc.clone()) };
    let b = Chatter { account: bob, rpc: ChatRpc::new(last.rpc.clone()) };
    let err = |e: crate::chat_cmd::ChatError| DevnetError::Demo(e.to_string());
    a.rpc.join_public(DEMO_CHAT).await.map_err(err)?;
    b.rpc.join_public(DEMO_CHAT).await.map_err(err)?;

    a.say(&b, DEMO_CHAT, DEMO_CHAT, "hello #wisp-devnet-demo from alice", "sent").await?;
    let (to_bob, to_alice) =
        (b.account.identity.public_key_hex(), a.account.identity.public_key_hex());
    a.rpc.open_one_to_one(&to_bob).await.map_err(err)?;
    // bob looks at his chat with alice before her message arrives (it exists once opened).
    b.rpc.open_one_to_one(&to_alice).await.map_err(err)?;
    a.say(&b, &to_bob, &to_alice, "hi bob, this is alice (1:1)", "delivered").await?;
    b.say(&a, &to_alice, &to_bob, "hi alice, bob here (1:1 reply)", "delivered").await?;
    print_line("chat demo: done")
}

/// An account of the chat demo and its node's RPC.
struct Chatter<'a> {
    account: &'a DemoAccount,
    rpc: ChatRpc,
}

impl Chatter<'_> {
    /// Sends `text` in `chat` (the recipient sees it in `their_chat`), prints each delivery
    /// state until `until`, and the arrival at `to`.
    async fn say(
        &self,
        to: &Chatter<'_>,
        chat: &str,
        their_chat: &str,
        text: &str,
        until: &str,
    ) -> Result<(), Error> {
        let err = |e: crate::chat_cmd::ChatError| DevnetError::Demo(e.to_string());
        let (from, name) = (self.account.name, to.account.name);
        let kind =
            if chat == DEMO_CHAT { format!("#{DEMO_CHAT}") } else { format!("1:1 to {name}") };
        let started = Instant::now();
        let message = self.rpc.send_text(chat, text, None).await.map_err(err)?;
        let id = str_field(&message, "id").to_owned();
        let mut state = status_of(&message);
        print_line(&format!("chat demo: {from} -> {kind}: {text:?}"))?;
        print_line(&format!("chat demo:   {state:<9} +{} ms", started.elapsed().as_millis()))?;
        let deadline = started + CHAT_DEMO_TIMEOUT;
        let mut arrived = false;
        while state != until || !arrived {
            if Instant::now() >= deadline {
                return Err(DevnetError::Demo(format!(
                    "{from}'s message {text:?} is {state}{} after {}",
                    if arrived { String::new() } else { format!(" and not at {name}") },
                    human_duration(CHAT_DEMO_TIMEOUT)
                ))
                .into());
            }
            tokio::time::sleep(DEMO_POLL).await;
            if !arrived && to.rpc.find_message(their_chat, &id, 100).await.map_err(err)?.is_some() {
                arrived = true;
                print_line(&format!(
                    "chat demo:   {:<9} +{} ms",
                    format!("at {name}"),
                    started.elapsed().as_millis()
                ))?;
            }
            if let Some(now) = self.rpc.find_message(chat, &id, 100).await.map_err(err)? {
                let new_state = status_of(&now);
                if new_state != state && !new_state.is_empty() {
                    state = new_state;
                    print_line(&format!(
                        "chat demo:   {state:<9} +{} ms",
                        started.elapsed().as_millis()
                    ))?;
                }
            }
        }
        Ok(())
    }
}

/// How long each chat demo message may take to reach its last state.
const CHAT_DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// `node 0 -> node 1 -> node 2`; a long route keeps its first and last nodes around a `…`.
fn show_route(route: &[usize]) -> String {
    let name = |i: &usize| format!("node {i}");
    if route.len() <= ROUTE_SHOWN {
        return route.iter().map(name).collect::<Vec<_>>().join(" -> ");
    }
    let head: Vec<String> = route[..ROUTE_SHOWN / 2].iter().map(name).collect();
    let tail: Vec<String> = route[route.len() - ROUTE_SHOWN / 2..].iter().map(name).collect();
    format!("{} -> … -> {}", head.join(" -> "), tail.join(" -> "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topologies_link_every_node() {
        assert_eq!(Topology::Line.links(3), [(0, 1), (1, 2)]);
        assert_eq!(Topology::Star.links(4), [(1, 0), (2, 0), (3, 0)]);
        assert_eq!(Topology::Mesh.links(3), [(1, 0), (2, 0), (2, 1)]);
        assert_eq!(Topology::Mesh.links(64).len(), 64 * 63 / 2);
    }

    #[test]
    fn routes_are_shortest_paths() {
        assert_eq!(path(3, &Topology::Line.links(3), 0, 2), Some(vec![0, 1, 2]));
        assert_eq!(path(5, &Topology::Star.links(5), 0, 4), Some(vec![0, 4]));
        assert_eq!(path(5, &Topology::Mesh.links(5), 0, 4), Some(vec![0, 4]));
        assert_eq!(path(3, &[(0, 1)], 0, 2), None);
        assert_eq!(show_route(&[0, 1, 2]), "node 0 -> node 1 -> node 2");
        let long: Vec<usize> = (0..64).collect();
        assert_eq!(
            show_route(&long),
            "node 0 -> node 1 -> node 2 -> node 3 -> … -> node 60 -> node 61 -> node 62 -> node 63"
        );
    }
}
