//! `icmp` checks: echo requests through the shared surge-ping client.

use std::net::IpAddr;
use std::time::Duration;

use surge_ping::{PingIdentifier, PingSequence, SurgeError};

use super::clients::Clients;
use super::result::{Failure, Phase, Trace};
use super::spec::IcmpProbe;

/// Sends `count` echo requests one after another, each allowed 90% of
/// `timeout / count` (so that a lost reply reads "no reply", not as the
/// probe's own timeout); up when at least one reply comes back.
pub(super) async fn check(
    target: IpAddr,
    icmp: &IcmpProbe,
    timeout: Duration,
    clients: &Clients,
    trace: &mut Trace,
) -> Result<String, Failure> {
    trace.phase = Phase::Reply;
    let client = clients.icmp(target).map_err(Failure::Icmp)?;
    let ident = PingIdentifier(clients.next_icmp_ident());
    let mut pinger = client.pinger(target, ident).await;
    pinger.timeout(timeout * 9 / (10 * u32::from(icmp.count)));
    let payload = vec![0u8; usize::from(icmp.size)];
    let mut replies = 0u16;
    for _ in 0..icmp.count {
        let seq = PingSequence(clients.next_icmp_seq());
        match pinger.ping(seq, &payload).await {
            Ok((_, rtt)) => {
                replies += 1;
                trace.latency.first_byte.get_or_insert(rtt);
            }
            Err(SurgeError::Timeout { .. }) => {}
            Err(SurgeError::IOError(e)) => return Err(Failure::Io(e)),
            Err(e) => return Err(Failure::Icmp(e.to_string())),
        }
    }
    if replies == 0 {
        return Err(Failure::NoEcho(icmp.count));
    }
    Ok(format!("{replies}/{} replies", icmp.count))
}
