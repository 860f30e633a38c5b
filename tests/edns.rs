//! EDNS(0) (RFC 6891) and truncation (RFC 1035 §4.2.1, RFC 2181 §9): the
//! OPT record echoed with our payload size, DO echoed, BADVERS, unknown
//! options ignored, and the client's payload size honoured up to the
//! configured maximum, with TC=1 when an answer does not fit.
mod common;

use common::*;
use domain::base::iana::Rtype;

const WWW: [&str; 2] = [
    "www.example.test. 60 IN A 127.0.0.1",
    "www.example.test. 60 IN A 127.0.0.2",
];

#[test]
fn opt_is_echoed_with_the_server_payload_size() {
    let server = Lifeline::example();
    // Whatever the client offers, the reply states our own size (default
    // limits.edns_udp_size = 1232).
    for size in [512, 1232, 4096, 65535] {
        let query = q("www.example.test", Rtype::A).edns(size);
        for reply in [udp(server.addr, &query), tcp(server.addr, &query)] {
            assert_eq!(reply.rcode(), "NOERROR", "size {size}");
            assert!(reply.aa(), "size {size}");
            assert_eq!(reply.answer(), WWW, "size {size}");
            assert_eq!(reply.opt(), Some((1232, 0, false, None)), "size {size}");
            assert_eq!(reply.counts()[3], 1, "the OPT is the only additional");
        }
    }
    // Without EDNS in the query, there is none in the reply.
    for reply in [
        udp(server.addr, &q("www.example.test", Rtype::A)),
        tcp(server.addr, &q("www.example.test", Rtype::A)),
    ] {
        assert_eq!(reply.opt(), None);
        assert_eq!(reply.counts()[3], 0);
    }
}

#[test]
fn opt_carries_the_configured_payload_size() {
    let server = Lifeline::example_with("", "edns_udp_size = 1400");
    for name in ["www.example.test", "nope.example.test", "www.example.com"] {
        let reply = udp(server.addr, &q(name, Rtype::A).edns(4096));
        assert_eq!(reply.opt(), Some((1400, 0, false, None)), "{name}");
    }
}

#[test]
fn do_bit_is_echoed() {
    // RFC 3225 §3: DO is copied into the reply; we have no signatures to add.
    let server = Lifeline::example();
    for name in ["www.example.test", "nope.example.test", "sub.example.test"] {
        let with_do = q(name, Rtype::A).edns(1232).dnssec_ok();
        for reply in [udp(server.addr, &with_do), tcp(server.addr, &with_do)] {
            let (_, _, dnssec_ok, _) = reply.opt().expect("OPT");
            assert!(dnssec_ok, "{name}: DO echoed");
        }
        let without = q(name, Rtype::A).edns(1232);
        for reply in [udp(server.addr, &without), tcp(server.addr, &without)] {
            let (_, _, dnssec_ok, _) = reply.opt().expect("OPT");
            assert!(!dnssec_ok, "{name}: DO not invented");
        }
    }
}

#[test]
fn edns_version_above_zero_is_badvers_with_version_zero() {
    // RFC 6891 §6.1.3: BADVERS (extended rcode 16), and the OPT states the
    // highest version we implement, 0. No data is given.
    let server = Lifeline::example();
    for version in [1, 2, 255] {
        let query = q("www.example.test", Rtype::A).edns(1232).edns_version(version);
        for reply in [udp(server.addr, &query), tcp(server.addr, &query)] {
            assert_eq!(reply.rcode(), "BADVERS", "version {version}");
            assert_eq!(reply.opt(), Some((1232, 0, false, None)));
            assert!(reply.answer().is_empty() && reply.authority().is_empty());
            assert!(reply.additional().is_empty());
            assert!(!reply.tc());
        }
    }
}

#[test]
fn unknown_edns_options_are_ignored() {
    // RFC 6891 §6.1.2: options we do not know are ignored, not echoed.
    let server = Lifeline::example();
    let query = q("www.example.test", Rtype::A)
        .edns(1232)
        .option(65001, b"experimental")
        .option(10, &[1, 2, 3, 4, 5, 6, 7, 8]) // a client COOKIE
        .option(65002, &[]);
    for reply in [udp(server.addr, &query), tcp(server.addr, &query)] {
        assert_eq!(reply.rcode(), "NOERROR");
        assert!(reply.aa());
        assert_eq!(reply.answer(), WWW);
        assert_eq!(reply.opt(), Some((1232, 0, false, None)));
        let opt = reply.msg.opt().unwrap();
        assert!(opt.opt().is_empty(), "no options echoed");
    }
}

/// A zone with TXT RRsets of `n` records of 100 bytes at `txt<n>`: 113
/// bytes each on the wire (compressed owner, fixed fields, length octet).
fn txt_zone(sets: &[usize]) -> String {
    let mut zone = String::from(
        "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60\n\
         @ 300 IN NS ns1\n\
         ns1 300 IN A 127.0.0.53\n",
    );
    for &n in sets {
        for i in 0..n {
            zone.push_str(&format!("txt{n} 300 IN TXT \"{i:03}{}\"\n", "x".repeat(96)));
        }
    }
    zone
}

/// Asserts a truncated reply: TC set, nothing in the sections (an RRset
/// that does not fit is not split, RFC 2181 §9), and within `limit`.
#[track_caller]
fn assert_truncated(reply: &Reply, limit: usize) {
    assert!(reply.tc(), "TC must be set");
    assert_eq!(reply.rcode(), "NOERROR");
    assert!(reply.len() <= limit, "{} bytes > {limit}", reply.len());
    assert!(reply.answer().is_empty(), "{:?}", reply.answer());
    assert!(reply.authority().is_empty());
    assert!(reply.additional().is_empty());
}

#[track_caller]
fn assert_whole(reply: &Reply, records: usize, limit: usize) {
    assert!(!reply.tc(), "TC must be clear");
    assert_eq!(reply.rcode(), "NOERROR");
    assert!(reply.aa());
    assert!(reply.len() <= limit, "{} bytes > {limit}", reply.len());
    let answer = reply.answer();
    assert_eq!(answer.len(), records);
    assert!(answer.iter().all(|r| r.starts_with("txt")), "{answer:?}");
}

#[test]
fn large_answer_is_truncated_over_udp_and_whole_over_tcp() {
    // 40 TXT records of 100 bytes: about 4.5 KB, more than any UDP size.
    let zone = txt_zone(&[40]);
    let server = Lifeline::with_zones("", "", &[("big.test", &zone)]);
    let name = "txt40.big.test";
    assert_truncated(&udp(server.addr, &q(name, Rtype::TXT)), 512);
    // The client offers 4096, the server's maximum is 1232.
    let reply = udp(server.addr, &q(name, Rtype::TXT).edns(4096));
    assert_truncated(&reply, 1232);
    assert_eq!(reply.opt().unwrap().0, 1232);
    for query in [q(name, Rtype::TXT), q(name, Rtype::TXT).edns(4096)] {
        let reply = tcp(server.addr, &query);
        assert_whole(&reply, 40, 65535);
        assert!(reply.len() > 4096);
    }
}

#[test]
fn answer_between_512_and_1232_needs_edns() {
    // 8 TXT records: about 950 bytes.
    let zone = txt_zone(&[8]);
    let server = Lifeline::with_zones("", "", &[("mid.test", &zone)]);
    let name = "txt8.mid.test";
    assert_truncated(&udp(server.addr, &q(name, Rtype::TXT)), 512);
    for size in [1232, 4096] {
        assert_whole(&udp(server.addr, &q(name, Rtype::TXT).edns(size)), 8, 1232);
    }
    // A payload size below 512 is read as 512 (RFC 6891 §6.2.5).
    assert_truncated(&udp(server.addr, &q(name, Rtype::TXT).edns(100)), 512);
}

#[test]
fn client_payload_size_below_the_server_maximum_is_honoured() {
    let zone = txt_zone(&[8]);
    let server = Lifeline::with_zones("", "", &[("mid.test", &zone)]);
    let name = "txt8.mid.test";
    let whole = udp(server.addr, &q(name, Rtype::TXT).edns(1232));
    let size = whole.len();
    assert_whole(&whole, 8, 1232);
    // One byte less than the answer needs: truncated; exactly enough: whole.
    assert_truncated(&udp(server.addr, &q(name, Rtype::TXT).edns(size as u16 - 1)), size - 1);
    assert_whole(&udp(server.addr, &q(name, Rtype::TXT).edns(size as u16)), 8, size);
}

#[test]
fn configured_maximum_bounds_udp_answers() {
    // 16 TXT records (about 1.8 KB): over the default 1232, within 4096.
    let zone = txt_zone(&[16]);
    let name = "txt16.max.test";
    let default = Lifeline::with_zones("", "", &[("max.test", &zone)]);
    assert_truncated(&udp(default.addr, &q(name, Rtype::TXT).edns(4096)), 1232);
    let large = Lifeline::with_zones("", "edns_udp_size = 4096", &[("max.test", &zone)]);
    let reply = udp(large.addr, &q(name, Rtype::TXT).edns(4096));
    assert_whole(&reply, 16, 4096);
    assert!(reply.len() > 1232);
    assert_eq!(reply.opt().unwrap().0, 4096);
    // The client's smaller size still wins.
    assert_truncated(&udp(large.addr, &q(name, Rtype::TXT).edns(1232)), 1232);
}

#[test]
fn truncated_reply_keeps_the_question_and_the_opt() {
    let zone = txt_zone(&[40]);
    let server = Lifeline::with_zones("", "", &[("big.test", &zone)]);
    let query = q("TXT40.Big.Test", Rtype::TXT).edns(1232).dnssec_ok();
    let reply = udp(server.addr, &query);
    assert_truncated(&reply, 1232);
    assert!(reply.aa());
    assert_eq!(reply.counts(), [1, 0, 0, 1]);
    assert_eq!(reply.opt(), Some((1232, 0, true, None)));
}
