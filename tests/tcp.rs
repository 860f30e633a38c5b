//! DNS over TCP (RFC 7766): several queries on one connection answered in
//! order, the idle timeout, the connection limit, and a slow client that
//! does not hold up anyone else.
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use domain::base::iana::Rtype;

/// Sends a query on an open connection and reads its reply.
fn exchange(stream: &mut TcpStream, query: &Q) -> Reply {
    let wire = query.wire();
    tcp_send(stream, &wire);
    Reply::parse(tcp_recv(stream).expect("a TCP reply"), &wire)
}

/// Whether the server has closed `stream`: a read ends (EOF or reset)
/// instead of timing out.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn pipelined_queries_on_one_connection_are_answered_in_order() {
    // RFC 7766 §6.2.1: the client may send several queries without waiting.
    let server = Lifeline::example();
    let queries = [
        q("www.example.test", Rtype::A).id(1),
        q("nope.example.test", Rtype::A).id(2),
        q("static.example.test", Rtype::AAAA).id(3),
        q("www.example.com", Rtype::A).id(4),
        q("example.test", Rtype::MX).id(5).edns(1232),
        q("sub.example.test", Rtype::A).id(6),
    ];
    let expected = [
        ("NOERROR", 2),
        ("NXDOMAIN", 0),
        ("NOERROR", 3),
        ("REFUSED", 0),
        ("NOERROR", 1),
        ("NOERROR", 0),
    ];
    let mut stream = tcp_connect(server.addr);
    // All of them in one write, so they arrive together.
    let mut framed = Vec::new();
    for query in &queries {
        let wire = query.wire();
        framed.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        framed.extend_from_slice(&wire);
    }
    stream.write_all(&framed).unwrap();
    for (query, (rcode, answers)) in queries.iter().zip(expected) {
        let reply = Reply::parse(tcp_recv(&mut stream).unwrap(), &query.wire());
        assert_eq!(reply.rcode(), rcode, "query {}", query.id);
        assert_eq!(reply.answer().len(), answers, "query {}", query.id);
    }
    // The connection stays open for more.
    for id in 10..20 {
        let reply = exchange(&mut stream, &q("www.example.test", Rtype::A).id(id));
        assert_eq!(reply.answer().len(), 2);
    }
}

#[test]
fn idle_connection_is_closed_after_the_timeout() {
    // RFC 7766 §6.2.3: the server closes a connection that stays idle.
    let server = Lifeline::example_with("", "tcp_idle_timeout = \"500ms\"");
    let mut stream = tcp_connect(server.addr);
    let reply = exchange(&mut stream, &q("www.example.test", Rtype::A));
    assert_eq!(reply.answer().len(), 2);
    let idle_since = Instant::now();
    // The read timeout (REPLY_TIMEOUT, 3 s) bounds the wait.
    assert!(
        closed_by_server(&mut stream),
        "an idle connection must be closed within {REPLY_TIMEOUT:?}"
    );
    // The server's clock started a little before ours, so allow slack,
    // but the connection was not closed at once.
    assert!(idle_since.elapsed() >= Duration::from_millis(300));
    // A connection that never sends anything is closed too.
    let mut silent = tcp_connect(server.addr);
    assert!(closed_by_server(&mut silent));
    // And new connections are still served.
    let mut fresh = tcp_connect(server.addr);
    assert_eq!(
        exchange(&mut fresh, &q("www.example.test", Rtype::A)).rcode(),
        "NOERROR"
    );
}

#[test]
fn connections_over_the_limit_are_closed_and_the_others_keep_working() {
    // RFC 7766 §6.2.2: a bounded number of connections; one over the limit
    // is closed at once rather than queued.
    let server = Lifeline::example_with("", "tcp_connections = 2");
    let www = q("www.example.test", Rtype::A);
    let mut first = tcp_connect(server.addr);
    let mut second = tcp_connect(server.addr);
    // Answered, so both have been accepted and hold their slots.
    assert_eq!(exchange(&mut first, &www).answer().len(), 2);
    assert_eq!(exchange(&mut second, &www).answer().len(), 2);
    let mut third = tcp_connect(server.addr);
    // Writing may already fail if the close has arrived; either way no
    // reply may come.
    let _ = third.write_all(&[0, www.wire().len() as u8]);
    let _ = third.write_all(&www.wire());
    assert!(closed_by_server(&mut third), "the third connection is closed");
    // The first two still work.
    assert_eq!(exchange(&mut first, &www).answer().len(), 2);
    assert_eq!(exchange(&mut second, &www).answer().len(), 2);
    // Once one closes, its slot is free again (the server notices the
    // close asynchronously, so try for a while).
    drop(first);
    let reconnected = poll_until(Duration::from_secs(5), || {
        let mut stream = tcp_connect(server.addr);
        tcp_send(&mut stream, &www.wire());
        tcp_recv(&mut stream).is_ok()
    });
    assert!(reconnected, "a freed slot is given to a new connection");
    assert_eq!(exchange(&mut second, &www).answer().len(), 2);
    // UDP is not affected by the TCP limit.
    assert_eq!(udp(server.addr, &www).answer().len(), 2);
}

#[test]
fn a_slow_client_does_not_stall_others() {
    // RFC 7766 §6.2.3: clients that send half a length prefix, or half a
    // message, and then stall, hold only their own connections.
    let server = Lifeline::example();
    let www = q("www.example.test", Rtype::A);
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut half_prefix = tcp_connect(server.addr);
        half_prefix.write_all(&[0]).unwrap();
        stalled.push(half_prefix);
        let mut half_message = tcp_connect(server.addr);
        let wire = www.wire();
        half_message.write_all(&(wire.len() as u16).to_be_bytes()).unwrap();
        half_message.write_all(&wire[..wire.len() / 2]).unwrap();
        stalled.push(half_message);
    }
    // Each of these must be answered within REPLY_TIMEOUT (3 s), well
    // below the 10 s idle timeout for which the stalled clients may stay.
    for id in 0..20 {
        let query = www.clone().id(id);
        assert_eq!(tcp(server.addr, &query).answer().len(), 2);
        assert_eq!(udp(server.addr, &query).answer().len(), 2);
    }
    // A stalled client that finally sends the rest is answered.
    let mut late = stalled.pop().unwrap();
    let wire = www.wire();
    late.write_all(&wire[wire.len() / 2..]).unwrap();
    let reply = Reply::parse(tcp_recv(&mut late).unwrap(), &wire);
    assert_eq!(reply.answer().len(), 2);
}
