//! `wisp rlpx ping` and `wisp rlpx listen`: thin drivers over `wisp-rlpx`.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use tokio::{
    net::{TcpListener, TcpStream},
    signal::unix::{SignalKind, signal},
    sync::watch,
    task::JoinSet,
    time::{Instant, Interval, MissedTickBehavior, interval_at, timeout},
};
use tracing::Instrument;
use wisp_crypto::SecretKey;
use wisp_rlpx::{
    Capability, DisconnectReason, Hello, NodeRecord, P2P_VERSION, P2PConfig, P2PError, P2PStream,
    Protocol, RlpxConfig, RlpxStream, UnauthedP2PStream,
};

use crate::{
    cli::{CapabilityArgs, ListenArgs, PingArgs, RlpxCommand},
    data_dir::DataDir,
    error::{Error, handshake_reason, human_duration, io_reason, short_id},
    keys, print_line,
};

/// Message ids reserved by `waku/1` and `shh/6` (status-go `NumberOfMessageCodes`), and by any
/// capability given with `--caps`.
const CAPABILITY_LENGTH: u64 = 128;
/// How long `listen` gives its peers to take a Disconnect(ClientQuitting) on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Runs an `rlpx` subcommand.
pub(crate) async fn run(cmd: RlpxCommand, data_dir: &DataDir) -> Result<(), Error> {
    match cmd {
        RlpxCommand::Ping(args) => ping(args, data_dir).await,
        RlpxCommand::Listen(args) => listen(args, data_dir).await,
    }
}

/// Our client id in Hello: `wisp/v<version>/<os>-<arch>`.
fn client_id() -> String {
    format!(
        "wisp/v{}/{}-{}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The capabilities to advertise: `--caps`, else `waku/1` (and `shh/6` with `--whisper`).
fn protocols(args: &CapabilityArgs) -> Vec<Protocol> {
    let caps = match &args.caps {
        Some(caps) => caps.clone(),
        None if args.whisper => vec![Capability::new("waku", 1), Capability::new("shh", 6)],
        None => vec![Capability::new("waku", 1)],
    };
    caps.into_iter().map(|cap| Protocol { cap, length: CAPABILITY_LENGTH }).collect()
}

fn hello(key: &SecretKey, protocols: &[Protocol], listen_port: u16) -> Hello {
    Hello {
        protocol_version: P2P_VERSION,
        client_id: client_id(),
        capabilities: protocols.iter().map(|p| p.cap.clone()).collect(),
        listen_port,
        id: key.public_key().node_id(),
    }
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// `waku/1 (ids 0x10..=0x8f), shh/6 (ids 0x90..=0x10f)`.
fn shared_summary<S>(session: &P2PStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    join(session.shared_capabilities().iter().map(|c| {
        format!("{} (ids {:#x}..={:#x})", c.cap, c.offset, c.offset + c.length.saturating_sub(1))
    }))
}

fn millis(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// `wisp rlpx ping`.
async fn ping(args: PingArgs, data_dir: &DataDir) -> Result<(), Error> {
    let peer: NodeRecord = args.enode.parse()?;
    let key = keys::node_key(args.key.as_deref(), data_dir)?;
    let protocols = protocols(&args.caps);
    let addr = peer.tcp_addr();
    let step = args.timeout;

    let tcp = match timeout(step, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(Error::Connect { addr, reason: io_reason(&e) }),
        Err(_) => {
            let reason = format!("timed out after {}", human_duration(step));
            return Err(Error::Connect { addr, reason });
        }
    };
    // Pings are tiny: do not let Nagle's algorithm add to the round-trip times.
    let _ = tcp.set_nodelay(true);
    tracing::debug!(%addr, "connected; starting the RLPx handshake");

    let rlpx_config = RlpxConfig { handshake_timeout: step, ..RlpxConfig::default() };
    let rlpx = RlpxStream::connect(tcp, &key, peer.id, &rlpx_config)
        .await
        .map_err(|source| Error::Handshake { peer: peer.id, source })?;
    let p2p_config = P2PConfig { hello_timeout: step, ..P2PConfig::default() };
    let (mut session, theirs) = UnauthedP2PStream::new(rlpx, p2p_config)
        .handshake(hello(&key, &protocols, 0), &protocols)
        .await
        .map_err(Error::Session)?;

    let mut report = String::new();
    let _ = writeln!(report, "peer:         {peer}");
    let _ = writeln!(report, "client id:    {}", theirs.client_id);
    let _ = writeln!(report, "p2p version:  {}", theirs.protocol_version);
    let _ = writeln!(report, "capabilities: {}", join(&theirs.capabilities));
    let _ = write!(report, "negotiated:   {}", shared_summary(&session));
    print_line(&report)?;

    for seq in 1..=args.count {
        if seq > 1 && !args.interval.is_zero() {
            pause(&mut session, args.interval).await?;
        }
        let rtt = session.ping(step).await.map_err(Error::Session)?;
        print_line(&format!("pong {seq}/{}: rtt {}", args.count, millis(rtt)))?;
    }

    match timeout(step, session.disconnect(DisconnectReason::DisconnectRequested)).await {
        Ok(Ok(())) => tracing::debug!("sent Disconnect(disconnect requested)"),
        Ok(Err(e)) => tracing::debug!(error = %e, "could not send Disconnect"),
        Err(_) => tracing::debug!("sending Disconnect timed out"),
    }
    Ok(())
}

/// Waits `duration` while reading from the peer, so its Pings are answered; capability
/// messages are dropped.
async fn pause(session: &mut P2PStream<TcpStream>, duration: Duration) -> Result<(), Error> {
    let deadline = tokio::time::sleep(duration);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => return Ok(()),
            received = session.recv() => {
                let msg = received.map_err(Error::Session)?;
                tracing::debug!(id = msg.id, size = msg.data.len(), "ignoring message");
            }
        }
    }
}

/// What every connection task of `listen` shares.
struct Listener {
    key: SecretKey,
    protocols: Vec<Protocol>,
    hello: Hello,
    ping_interval: Option<Duration>,
}

/// `wisp rlpx listen`.
async fn listen(args: ListenArgs, data_dir: &DataDir) -> Result<(), Error> {
    let key = keys::node_key(args.key.as_deref(), data_dir)?;
    let protocols = protocols(&args.caps);
    // Handlers first: a signal that arrives after the "listening" line must not kill us.
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;
    let socket = TcpListener::bind(args.addr)
        .await
        .map_err(|source| Error::Bind { addr: args.addr, source })?;
    let local = socket.local_addr().map_err(|source| Error::Bind { addr: args.addr, source })?;
    print_line(&format!("listening {}", keys::enode(&key, local)))?;

    let node = Arc::new(Listener {
        hello: hello(&key, &protocols, local.port()),
        key,
        protocols,
        ping_interval: args.ping_interval,
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut peers = JoinSet::new();
    loop {
        tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok((tcp, remote)) => {
                    let span = tracing::info_span!("peer", %remote, id = tracing::field::Empty);
                    peers.spawn(serve_peer(node.clone(), tcp, shutdown_rx.clone()).instrument(span));
                }
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {}", io_reason(&e));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(done) = peers.join_next(), if !peers.is_empty() => {
                if let Err(e) = done {
                    tracing::error!("connection task failed: {e}");
                }
            }
            _ = sigint.recv() => {
                tracing::info!("SIGINT: shutting down");
                break;
            }
            _ = sigterm.recv() => {
                tracing::info!("SIGTERM: shutting down");
                break;
            }
        }
    }
    drop(socket);
    let _ = shutdown.send(true);
    let drained = timeout(SHUTDOWN_GRACE, async { while peers.join_next().await.is_some() {} });
    if drained.await.is_err() {
        peers.abort_all();
    }
    Ok(())
}

/// Serves one accepted connection until the peer leaves, an error, or shutdown. Failures are
/// logged, never returned: a bad peer must not stop the listener.
async fn serve_peer(node: Arc<Listener>, tcp: TcpStream, mut shutdown: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let rlpx = match RlpxStream::accept(tcp, &node.key, &RlpxConfig::default()).await {
        Ok(rlpx) => rlpx,
        Err(e) => {
            tracing::info!("RLPx handshake failed: {}", handshake_reason(&e));
            return;
        }
    };
    tracing::Span::current().record("id", short_id(&rlpx.remote_id()));
    let handshake = UnauthedP2PStream::new(rlpx, P2PConfig::default())
        .handshake(node.hello.clone(), &node.protocols);
    let (mut session, theirs) = match handshake.await {
        Ok(established) => established,
        Err(e) => {
            tracing::info!("Hello exchange failed: {}", Error::Session(e));
            return;
        }
    };
    tracing::info!(
        client = %theirs.client_id,
        capabilities = %join(&theirs.capabilities),
        negotiated = %shared_summary(&session),
        "peer connected"
    );

    let mut pinger = node.ping_interval.map(|every| {
        let mut t = interval_at(Instant::now() + every, every);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        (t, every)
    });
    let end = loop {
        tokio::select! {
            received = session.recv() => match received {
                Ok(msg) => match session.shared_capabilities().resolve(msg.id) {
                    Some((cap, code)) => tracing::debug!(
                        capability = %cap.cap, code, size = msg.data.len(), "ignoring message"
                    ),
                    None => tracing::debug!(id = msg.id, "ignoring message"),
                },
                Err(e) => break e,
            },
            every = tick(&mut pinger) => match session.ping(every).await {
                Ok(rtt) => tracing::info!(rtt = %millis(rtt), "pong"),
                Err(e) => break e,
            },
            _ = shutdown.changed() => {
                let _ = session.disconnect(DisconnectReason::ClientQuitting).await;
                tracing::info!("disconnected the peer: shutting down");
                return;
            }
        }
    };
    match end {
        P2PError::Disconnected(reason) => tracing::info!(%reason, "peer disconnected"),
        e => tracing::info!("session ended: {}", Error::Session(e)),
    }
}

/// Waits for the next ping time (forever without `--ping-interval`); yields the Pong timeout.
async fn tick(pinger: &mut Option<(Interval, Duration)>) -> Duration {
    match pinger {
        Some((interval, every)) => {
            interval.tick().await;
            *every
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_names_version_and_platform() {
        let id = client_id();
        assert!(id.starts_with(&format!("wisp/v{}/", env!("CARGO_PKG_VERSION"))), "{id}");
        assert_eq!(id.split('/').count(), 3, "{id}");
    }

    #[test]
    fn capabilities_follow_the_flags() {
        let names = |args: CapabilityArgs| {
            protocols(&args).iter().map(|p| (p.cap.to_string(), p.length)).collect::<Vec<_>>()
        };
        assert_eq!(names(CapabilityArgs { whisper: false, caps: None }), [("waku/1".into(), 128)]);
        assert_eq!(
            names(CapabilityArgs { whisper: true, caps: None }),
            [("waku/1".into(), 128), ("shh/6".into(), 128)]
        );
        let custom = CapabilityArgs { whisper: false, caps: Some(vec![Capability::new("foo", 3)]) };
        assert_eq!(names(custom), [("foo/3".into(), 128)]);
    }
}
