//! Queries that get an error, or nothing: NOTIMP for opcodes other than
//! QUERY, FORMERR for malformed questions when the header is readable,
//! silence for responses and for packets too short to hold a header
//! (RFC 1035 §4.1.1, RFC 8906 §3.1). After each, the server still answers.
//!
//! "No reply" is shown without waiting out a timeout: the bad packet and
//! then a good query go out from one socket (or one TCP connection); the
//! server answers one client in order, so the first reply that comes back
//! must be the good query's.
mod common;

use common::*;
use domain::base::iana::{Opcode, Rtype};

const BAD_ID: u16 = 0xbad0;
const GOOD_ID: u16 = 0x600d;

fn good_query() -> Q {
    q("www.example.test", Rtype::A).id(GOOD_ID)
}

/// The server still answers a good query over UDP and TCP.
#[track_caller]
fn assert_still_answers(server: &Lifeline) {
    for reply in [udp(server.addr, &good_query()), tcp(server.addr, &good_query())] {
        assert_eq!(reply.rcode(), "NOERROR");
        assert!(reply.aa());
        assert_eq!(reply.answer().len(), 2);
    }
}

/// Sends `bad` then a good query over UDP and over one TCP connection, and
/// returns the first reply of each.
fn first_replies_after(server: &Lifeline, bad: &[u8]) -> [Vec<u8>; 2] {
    let good = good_query().wire();
    let udp_first = udp_sequence(server.addr, &[bad.to_vec(), good.clone()], 1)
        .pop()
        .expect("a reply over UDP");
    let mut stream = tcp_connect(server.addr);
    tcp_send(&mut stream, bad);
    tcp_send(&mut stream, &good);
    let tcp_first = tcp_recv(&mut stream).expect("a reply over TCP");
    [udp_first, tcp_first]
}

/// Sends `bad` over UDP and TCP, expecting a reply to it on each.
fn replies_to(server: &Lifeline, bad: &[u8]) -> [Reply; 2] {
    let udp_reply = udp_raw(server.addr, bad, REPLY_TIMEOUT).expect("a UDP reply");
    let mut stream = tcp_connect(server.addr);
    tcp_send(&mut stream, bad);
    let tcp_reply = tcp_recv(&mut stream).expect("a TCP reply");
    [Reply::parse(udp_reply, bad), Reply::parse(tcp_reply, bad)]
}

#[test]
fn opcodes_other_than_query_are_notimp() {
    // RFC 1035 §4.1.1, RFC 8906 §3.1.4: NOTIMP, with the opcode and the
    // question echoed; not authoritative, nothing else. NOTIFY and UPDATE
    // are opcodes this server does not accept.
    let server = Lifeline::example();
    for opcode in [
        Opcode::IQUERY,
        Opcode::STATUS,
        Opcode::from_int(3),
        Opcode::NOTIFY,
        Opcode::UPDATE,
        Opcode::from_int(15),
    ] {
        let query = q("www.example.test", Rtype::A).id(BAD_ID).opcode(opcode).rd();
        for reply in replies_to(&server, &query.wire()) {
            assert_eq!(reply.rcode(), "NOTIMP", "{opcode}");
            assert_eq!(reply.opcode(), opcode, "opcode echoed");
            assert_eq!(reply.counts(), [1, 0, 0, 0], "{opcode}: the question only");
            assert!(!reply.aa() && !reply.tc() && !reply.ra(), "{opcode}");
            assert!(!reply.rd(), "{opcode}: RD is defined for QUERY only (RFC 8906 §8.1.4)");
        }
        // With an OPT in the query, the NOTIMP carries one too (RFC 6891 §6.1.1).
        let query = q("www.example.test", Rtype::A).id(BAD_ID).opcode(opcode).edns(1232);
        for reply in replies_to(&server, &query.wire()) {
            assert_eq!(reply.rcode(), "NOTIMP", "{opcode}");
            assert_eq!(reply.counts(), [1, 0, 0, 1], "{opcode}: the question and the OPT");
            assert_eq!(reply.opt().map(|o| o.1), Some(0), "{opcode}: EDNS version 0");
        }
    }
    assert_still_answers(&server);
}

#[test]
fn formerr_to_a_query_with_an_opt_carries_an_opt() {
    // QDCOUNT 0 with a valid OPT: FORMERR, and the OPT is answered
    // (RFC 6891 §6.1.1), as Knot does.
    let server = Lifeline::example();
    let mut packet = good_query().edns(1232).wire();
    packet[..2].copy_from_slice(&BAD_ID.to_be_bytes());
    packet[4..6].copy_from_slice(&0u16.to_be_bytes());
    let question_len = packet.len() - 12 - 11;
    packet.drain(12..12 + question_len);
    for reply in replies_to(&server, &packet) {
        assert_eq!(reply.rcode(), "FORMERR");
        assert_eq!(reply.counts(), [0, 0, 0, 1]);
        assert!(reply.opt().is_some());
    }
    assert_still_answers(&server);
}

#[test]
fn qdcount_zero_is_formerr() {
    let server = Lifeline::example();
    let mut header = good_query().wire()[..12].to_vec();
    header[..2].copy_from_slice(&BAD_ID.to_be_bytes());
    header[4..6].copy_from_slice(&0u16.to_be_bytes());
    for reply in replies_to(&server, &header) {
        assert_eq!(reply.rcode(), "FORMERR");
        assert_eq!(reply.opcode(), Opcode::QUERY);
        assert_eq!(reply.counts(), [0, 0, 0, 0]);
        assert!(!reply.aa() && !reply.tc() && !reply.ra());
    }
    assert_still_answers(&server);
}

#[test]
fn qdcount_two_is_formerr() {
    let server = Lifeline::example();
    let mut two = q("www.example.test", Rtype::A).id(BAD_ID).wire();
    let question = two[12..].to_vec();
    two.extend_from_slice(&question);
    two[4..6].copy_from_slice(&2u16.to_be_bytes());
    for reply in replies_to(&server, &two) {
        assert_eq!(reply.rcode(), "FORMERR");
        assert!(reply.answer().is_empty() && reply.authority().is_empty());
        assert!(!reply.aa() && !reply.tc());
    }
    assert_still_answers(&server);
}

#[test]
fn label_longer_than_63_octets_is_formerr() {
    // RFC 1035 §2.3.4: a label is at most 63 octets; 64 is also the start
    // of the reserved 0b01 label type.
    let server = Lifeline::example();
    let mut packet = q("www.example.test", Rtype::A).id(BAD_ID).wire()[..12].to_vec();
    packet.push(64);
    packet.extend_from_slice(&[b'a'; 64]);
    packet.extend_from_slice(b"\x07example\x04test\x00\x00\x01\x00\x01");
    for reply in replies_to(&server, &packet) {
        assert_eq!(reply.rcode(), "FORMERR");
        assert!(reply.answer().is_empty());
        assert!(!reply.aa());
    }
    assert_still_answers(&server);
}

#[test]
fn a_packet_with_qr_set_gets_no_reply() {
    // A response is never answered (RFC 8906 §3.1.1): that would let two
    // servers bounce packets off each other forever.
    let server = Lifeline::example();
    let query = q("www.example.test", Rtype::A).id(BAD_ID);
    let mut response = query.wire();
    response[2] |= 0x80;
    // Also a full-looking response with AA and an answer count.
    let mut with_answer = udp(server.addr, &q("www.example.test", Rtype::A).id(BAD_ID))
        .bytes()
        .to_vec();
    with_answer[2] |= 0x80;
    for bad in [response, with_answer] {
        for first in first_replies_after(&server, &bad) {
            let reply = Reply::parse(first, &good_query().wire());
            assert_eq!(reply.msg.header().id(), GOOD_ID, "the first reply is the good one");
            assert_eq!(reply.rcode(), "NOERROR");
        }
    }
    assert_still_answers(&server);
}

#[test]
fn a_packet_shorter_than_a_header_gets_no_reply() {
    let server = Lifeline::example();
    let query = q("www.example.test", Rtype::A).id(BAD_ID).wire();
    for len in [0, 1, 2, 4, 11] {
        for first in first_replies_after(&server, &query[..len]) {
            let reply = Reply::parse(first, &good_query().wire());
            assert_eq!(reply.msg.header().id(), GOOD_ID, "{len} bytes: no reply");
        }
    }
    assert_still_answers(&server);
}
