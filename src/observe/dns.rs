//! `dns` checks: one query over UDP, judged by rcode and optionally by an
//! address in the answer. No retries: rise/fall already absorb a lost
//! datagram.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use domain::base::{Message, MessageBuilder};
use domain::rdata::{A, Aaaa};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::result::{Failure, Phase, Trace};
use super::spec::DnsProbe;

/// Advertised EDNS payload size: the DNS Flag Day 2020 value, so that an
/// answer with several addresses is not truncated (RFC 6891 §6.2.5).
const EDNS_PAYLOAD: u16 = 1232;

/// Datagrams that are not the reply (wrong ID or question) tolerated
/// before giving up; the timeout bounds the wait in any case.
const MAX_STRAY: usize = 16;

pub(super) async fn check(target: IpAddr, dns: &DnsProbe, trace: &mut Trace) -> Result<String, Failure> {
    trace.phase = Phase::Reply;
    let local = match target {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = UdpSocket::bind(local).await?;
    // Connected: only the target's datagrams arrive, and an ICMP port
    // unreachable surfaces as "connection refused".
    socket.connect((target, dns.port)).await?;
    let query = query(dns, super::random_u64() as u16);
    let sent = Instant::now();
    socket.send(query.as_slice()).await?;
    let mut buf = vec![0u8; usize::from(EDNS_PAYLOAD)];
    for _ in 0..MAX_STRAY {
        let n = socket.recv(&mut buf).await?;
        let Ok(reply) = Message::from_octets(&buf[..n]) else {
            continue;
        };
        if reply.is_answer(&query) {
            trace.latency.first_byte = Some(sent.elapsed());
            return judge(&reply, dns);
        }
    }
    Err(Failure::Malformed)
}

fn query(dns: &DnsProbe, id: u16) -> Message<Vec<u8>> {
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder.header_mut().set_rd(false);
    let mut builder = builder.question();
    builder
        .push((&dns.name, dns.rtype))
        .expect("one question fits in a growable buffer");
    let mut builder = builder.additional();
    builder
        .opt(|opt| {
            opt.set_udp_payload_size(EDNS_PAYLOAD);
            Ok(())
        })
        .expect("an empty OPT record fits in a growable buffer");
    builder.into_message()
}

fn judge(reply: &Message<&[u8]>, dns: &DnsProbe) -> Result<String, Failure> {
    let rcode = reply.header().rcode();
    if rcode != dns.expect_rcode {
        return Err(Failure::Rcode {
            got: rcode.to_string(),
            want: dns.expect_rcode.to_string(),
        });
    }
    match dns.expect_address {
        None => Ok(rcode.to_string()),
        Some(addr) if answer_has(reply, addr)? => Ok(format!("{rcode} {addr}")),
        Some(addr) => Err(Failure::Answer(addr)),
    }
}

fn answer_has(reply: &Message<&[u8]>, addr: IpAddr) -> Result<bool, Failure> {
    let answer = reply.answer().map_err(|_| Failure::Malformed)?;
    let found = match addr {
        IpAddr::V4(v4) => answer.limit_to::<A>().any(|r| r.is_ok_and(|r| r.data().addr() == v4)),
        IpAddr::V6(v6) => answer
            .limit_to::<Aaaa>()
            .any(|r| r.is_ok_and(|r| r.data().addr() == v6)),
    };
    Ok(found)
}
