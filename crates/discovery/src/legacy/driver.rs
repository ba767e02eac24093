//! A thin tokio driver: one UDP socket feeding one [`LegacyDiscovery`].
//!
//! The driver owns no protocol logic. It reads datagrams and hands them to the state machine
//! with the wall-clock time, calls [`LegacyDiscovery::tick`] when the machine asks, writes what
//! the machine wants sent and forwards its [`Event`]s to a channel. The machine sits behind a
//! mutex so the owner can read counters or start searches while the driver runs; the caller
//! spawns [`UdpDriver::run`].

use std::{
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::{net::UdpSocket, sync::mpsc};

use super::{Event, LegacyDiscovery, MAX_PACKET_SIZE};

/// The current Unix time in milliseconds (the driver's clock; the machine takes it as input).
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A running node's shared state.
#[derive(Clone)]
pub struct Handle {
    machine: Arc<Mutex<LegacyDiscovery>>,
}

impl Handle {
    /// Locks the state machine (to read counters, start a search...).
    pub fn lock(&self) -> MutexGuard<'_, LegacyDiscovery> {
        self.machine.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Binds a [`LegacyDiscovery`] to a UDP socket.
pub struct UdpDriver {
    socket: UdpSocket,
    handle: Handle,
    events: mpsc::UnboundedSender<Event>,
}

impl UdpDriver {
    /// A driver for `machine` on `socket`; events go to the returned receiver.
    pub fn new(
        socket: UdpSocket,
        machine: LegacyDiscovery,
    ) -> (Self, Handle, mpsc::UnboundedReceiver<Event>) {
        let handle = Handle { machine: Arc::new(Mutex::new(machine)) };
        let (events, rx) = mpsc::unbounded_channel();
        (Self { socket, handle: handle.clone(), events }, handle, rx)
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Runs until the socket fails or the event receiver is dropped.
    pub async fn run(self) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
        let mut wake_at = 0;
        loop {
            let (out, events, wake) = {
                let mut m = self.handle.lock();
                let now = unix_ms();
                if now >= wake_at {
                    m.tick(now);
                }
                wake_at = m.next_wakeup(now);
                let out: Vec<_> = std::iter::from_fn(|| m.poll_transmit()).collect();
                let events: Vec<_> = std::iter::from_fn(|| m.poll_event()).collect();
                (out, events, wake_at.saturating_sub(now))
            };
            for (to, bytes) in out {
                if let Err(e) = self.socket.send_to(&bytes, to).await {
                    tracing::debug!(target: "discovery::legacy", %to, error = %e, "send failed");
                }
            }
            for e in events {
                if self.events.send(e).is_err() {
                    return Ok(());
                }
            }
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (len, from) = match received {
                        Ok(r) => r,
                        // ICMP port unreachable surfaces as an error on some systems: not fatal.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                        Err(e) => return Err(e),
                    };
                    let datagram = buf.get(..len).unwrap_or_default();
                    self.handle.lock().handle_packet(from, datagram, unix_ms());
                }
                () = tokio::time::sleep(Duration::from_millis(wake)) => {}
            }
        }
    }
}
