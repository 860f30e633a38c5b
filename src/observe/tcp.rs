//! `tcp` checks, and the connect step every TCP-based check shares.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use super::result::{Failure, Phase, Trace};
use super::spec::TcpProbe;

/// Connects and records the connect latency. The socket closes with a
/// reset (`SO_LINGER` 0) instead of a FIN, as HAProxy's checks do: a
/// thousand probes a second would otherwise leave sixty thousand sockets
/// in TIME_WAIT and run the machine out of ephemeral ports.
pub(super) async fn connect(addr: SocketAddr, trace: &mut Trace) -> Result<TcpStream, Failure> {
    trace.phase = Phase::Connect;
    let started = Instant::now();
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_zero_linger()?;
    socket.set_nodelay(true)?;
    let stream = socket.connect(addr).await?;
    trace.latency.connect = Some(started.elapsed());
    Ok(stream)
}

pub(super) async fn check(addr: SocketAddr, tcp: &TcpProbe, trace: &mut Trace) -> Result<String, Failure> {
    let mut stream = connect(addr, trace).await?;
    trace.phase = Phase::Reply;
    let sent = Instant::now();
    if !tcp.send.is_empty() {
        stream.write_all(&tcp.send).await?;
    }
    if tcp.expect.is_empty() {
        return Ok("connected".into());
    }
    let mut reply = vec![0u8; tcp.expect.len()];
    let mut filled = 0;
    while filled < reply.len() {
        match stream.read(&mut reply[filled..]).await? {
            0 => return Err(Failure::Closed),
            n => filled += n,
        }
        trace.latency.first_byte.get_or_insert_with(|| sent.elapsed());
        if reply[..filled] != tcp.expect[..filled] {
            return Err(Failure::Reply);
        }
    }
    Ok("reply matched".into())
}
