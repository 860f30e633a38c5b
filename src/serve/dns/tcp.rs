//! DNS over TCP (RFC 7766) on tokio: length-prefixed messages, several
//! queries per connection answered in order, an idle timeout, a limit on
//! connections. Every connection is its own task, so a slow client holds
//! only its own connection (RFC 7766 §6.2.3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::answer::{self, Transport};
use super::stats::LiveCounts;
use crate::publish::snapshot::SharedSnapshot;

/// How long a reply may take to be written before the connection is
/// dropped: a client that stops reading does not keep its slot.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP settings from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Binds a listener with SO_REUSEADDR so a restart does not wait out
/// TIME_WAIT.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until `shutdown` changes; counts every reply in
/// `counts` (shared by all connections: a TCP reply already costs a
/// system call, next to which two relaxed atomic adds are lost).
pub async fn serve(
    listener: TcpListener,
    snapshot: SharedSnapshot,
    limits: TcpLimits,
    counts: Arc<LiveCounts>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        // Over the limit: close at once rather than queue (RFC 7766 §6.2.2).
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "TCP connection limit reached; closing new connection");
            continue;
        };
        let (snapshot, counts, shutdown) = (snapshot.clone(), counts.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &snapshot, limits.idle_timeout, &counts, shutdown).await {
                tracing::debug!(%peer, error = %e, "TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// Serves one connection: read a length-prefixed query, answer, repeat.
async fn connection(
    stream: TcpStream,
    snapshot: &SharedSnapshot,
    idle: Duration,
    counts: &LiveCounts,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut query = vec![0u8; u16::MAX as usize];
    let mut reply = vec![0u8; 2 + u16::MAX as usize];
    let mut seq = 0u32;
    loop {
        let len = tokio::select! {
            r = tokio::time::timeout(idle, read.read_u16()) => match r {
                Ok(Ok(len)) => len as usize,
                _ => return Ok(()), // idle timeout, EOF or reset
            },
            _ = shutdown.changed() => return Ok(()),
        };
        match tokio::time::timeout(idle, read.read_exact(&mut query[..len])).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        seq = seq.wrapping_add(1);
        let answered = {
            let current = snapshot.load();
            answer::respond_from(&current, &query[..len], Transport::Tcp, seq, peer, &mut reply[2..])
        };
        let Some(n) = answered else { continue };
        counts.add_reply(&reply[2..2 + n]);
        reply[..2].copy_from_slice(&(n as u16).to_be_bytes());
        match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&reply[..2 + n])).await {
            Ok(Ok(())) => {}
            _ => return Ok(()),
        }
    }
}
