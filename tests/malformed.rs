//! Bad input (issue 3 §5): every packet of the corpus in `tests/malformed/`
//! is sent to the running server over UDP and over TCP. Each must get the
//! reply its line in `cases.tsv` names (or none), the server must keep
//! running, and a good query must still get the right answer afterwards.
//!
//! "No reply" is checked without waiting out a timeout: each bad packet is
//! followed by a good query (the probe) on the same socket or connection.
//! The server answers one socket's datagrams, and one connection's
//! messages, in order, so the first reply that comes back is either the
//! bad packet's or, when that one was rightly dropped, the probe's.
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use common::*;
use domain::base::iana::Rtype;

/// ID of the probe query; no corpus file uses it.
const PROBE_ID: u16 = 0xbeef;

/// One line of `cases.tsv`.
#[derive(Debug)]
struct Case {
    file: String,
    packet: Vec<u8>,
    udp: Expect,
    tcp: Expect,
    qdcount: u16,
}

/// What the server must do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    NoReply,
    Rcode(String),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn expect(field: &str) -> Expect {
    match field {
        "none" => Expect::NoReply,
        rcode => Expect::Rcode(rcode.to_string()),
    }
}

/// Reads `cases.tsv` and the packets it lists; every `.bin` file must be
/// listed, so a new case cannot be added without its expectation.
fn corpus() -> Vec<Case> {
    let dir = corpus_dir();
    let table = std::fs::read_to_string(dir.join("cases.tsv")).expect("tests/malformed/cases.tsv");
    let cases: Vec<Case> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "cases.tsv line {line:?}");
            Case {
                file: f[0].to_string(),
                packet: std::fs::read(dir.join(f[0])).unwrap(),
                udp: expect(f[1]),
                tcp: expect(f[2]),
                qdcount: f[3].parse().unwrap(),
            }
        })
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bin"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.file.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every .bin file needs a line in cases.tsv");
    assert!(cases.len() >= 30, "the corpus is missing");
    cases
}

fn probe() -> Q {
    let mut probe = q("www.example.test", Rtype::A);
    probe.id = PROBE_ID;
    probe
}

/// Checks the answer to the probe: the right records, so the server is
/// not merely alive but still serving.
fn assert_good_answer(reply: &Reply, context: &str) {
    assert_eq!(reply.rcode(), "NOERROR", "{context}");
    assert!(reply.aa(), "{context}");
    assert_eq!(
        reply.answer(),
        [
            "www.example.test. 60 IN A 127.0.0.1",
            "www.example.test. 60 IN A 127.0.0.2"
        ],
        "{context}"
    );
}

/// Checks the first reply that came back after sending `case` and the
/// probe; returns whether it was the probe's (the case got no reply).
fn check_first_reply(case: &Case, expected: &Expect, first: Vec<u8>, transport: &str) -> bool {
    let context = format!("{} over {transport}", case.file);
    let is_probe = first.len() >= 2 && u16::from_be_bytes([first[0], first[1]]) == PROBE_ID;
    match expected {
        Expect::NoReply => {
            assert!(is_probe, "{context}: expected no reply, got {first:02x?}");
            assert_good_answer(&Reply::parse(first, &probe().wire()), &context);
            true
        }
        Expect::Rcode(rcode) => {
            assert!(!is_probe, "{context}: expected {rcode}, got no reply");
            let reply = Reply::parse(first, &case.packet);
            assert_eq!(&reply.rcode(), rcode, "{context}");
            let counts = reply.msg.header_counts();
            assert_eq!(counts.qdcount(), case.qdcount, "{context}: QDCOUNT");
            if rcode == "FORMERR" || rcode == "NOTIMP" {
                // At most an OPT, when the query had a readable one (RFC 6891 §6.1.1).
                assert_eq!(
                    counts.ancount() + counts.nscount(),
                    0,
                    "{context}: records in an error reply"
                );
                assert!(
                    counts.arcount() <= 1 && reply.additional().is_empty(),
                    "{context}: more than an OPT"
                );
                assert!(!reply.aa(), "{context}: an error reply is not authoritative");
            } else {
                assert!(reply.aa(), "{context}: an answer from the zone is authoritative");
            }
            false
        }
    }
}

/// Sends the case, then the probe, from one UDP socket.
fn replay_udp(server: SocketAddr, case: &Case) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    socket.send_to(&case.packet, server).unwrap();
    socket.send_to(&probe().wire(), server).unwrap();
    let mut buf = vec![0u8; 65535];
    let mut recv = || {
        let (n, from) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("{} over UDP: no reply to the probe: {e}", case.file));
        assert_eq!(from, server);
        buf[..n].to_vec()
    };
    let first = recv();
    if !check_first_reply(case, &case.udp, first, "UDP") {
        let second = recv();
        assert_good_answer(&Reply::parse(second, &probe().wire()), &case.file);
    }
}

/// Sends the case, then the probe, on one TCP connection.
fn replay_tcp(server: SocketAddr, case: &Case) {
    let mut stream = tcp_connect(server);
    tcp_send(&mut stream, &case.packet);
    tcp_send(&mut stream, &probe().wire());
    let mut recv = || {
        tcp_recv(&mut stream).unwrap_or_else(|e| {
            panic!(
                "{} over TCP: no reply to the probe (connection dropped?): {e}",
                case.file
            )
        })
    };
    let first = recv();
    if !check_first_reply(case, &case.tcp, first, "TCP") {
        let second = recv();
        assert_good_answer(&Reply::parse(second, &probe().wire()), &case.file);
    }
}

#[test]
fn corpus_ids_differ_from_the_probe() {
    for case in corpus() {
        let id = case.packet.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        assert_ne!(id, Some(PROBE_ID), "{}", case.file);
    }
}

#[test]
fn every_malformed_packet_gets_its_reply_over_udp_and_tcp_and_the_server_keeps_serving() {
    let mut server = Lifeline::example();
    for case in corpus() {
        replay_udp(server.addr, &case);
        replay_tcp(server.addr, &case);
        assert!(server.is_running(), "server exited after {}", case.file);
    }
    assert_good_answer(&udp(server.addr, &probe()), "UDP after the corpus");
    assert_good_answer(&tcp(server.addr, &probe()), "TCP after the corpus");
    assert!(server.is_running());
}

/// The whole corpus on one TCP connection, back to back, then a good
/// query: bad messages never cost a client its connection.
#[test]
fn one_tcp_connection_survives_the_whole_corpus() {
    let server = Lifeline::example();
    let cases = corpus();
    let mut stream = tcp_connect(server.addr);
    for case in &cases {
        tcp_send(&mut stream, &case.packet);
    }
    tcp_send(&mut stream, &probe().wire());
    for case in cases.iter().filter(|c| c.tcp != Expect::NoReply) {
        let reply = tcp_recv(&mut stream).unwrap();
        let id = u16::from_be_bytes([reply[0], reply[1]]);
        assert_eq!(id, u16::from_be_bytes([case.packet[0], case.packet[1]]));
    }
    let last = tcp_recv(&mut stream).expect("reply to the probe");
    assert_good_answer(&Reply::parse(last, &probe().wire()), "after the corpus");
}
