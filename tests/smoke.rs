//! The shortest end-to-end proof: start the binary, ask over UDP and TCP.
mod common;

use common::*;
use domain::base::iana::Rtype;

#[test]
fn answers_an_a_query_over_udp_and_tcp() {
    let server = Lifeline::example();
    for reply in [
        udp(server.addr, &q("www.example.test", Rtype::A)),
        tcp(server.addr, &q("www.example.test", Rtype::A)),
    ] {
        assert_eq!(reply.rcode(), "NOERROR");
        assert!(reply.aa());
        assert_eq!(
            reply.answer(),
            [
                "www.example.test. 60 IN A 127.0.0.1",
                "www.example.test. 60 IN A 127.0.0.2"
            ]
        );
    }
}

/// On a wildcard bind, each reply leaves from the address the query was
/// sent to (IP_PKTINFO / IPV6_PKTINFO): a client that checks the source,
/// as resolvers do, accepts it. `udp_raw` asserts the source address.
#[test]
fn replies_leave_from_the_queried_address_on_a_wildcard_bind() {
    let zone = format!("example.test={}", example_zone().display());
    let server = Lifeline::start(&[
        "--listen",
        "0.0.0.0:0",
        "--listen",
        "[::]:0",
        "--zone",
        &zone,
        "--udp-threads",
        "2",
    ]);
    let (v4, v6) = (server.addrs[0].port(), server.addrs[1].port());
    for dest in [
        format!("127.0.0.1:{v4}"),
        format!("127.0.0.2:{v4}"),
        format!("127.0.0.3:{v4}"),
        format!("[::1]:{v6}"),
    ] {
        let wire = q("www.example.test", Rtype::A).wire();
        let reply =
            udp_raw(dest.parse().unwrap(), &wire, REPLY_TIMEOUT).unwrap_or_else(|| panic!("no reply via {dest}"));
        let reply = Reply::parse(reply, &wire);
        assert_eq!(reply.answer().len(), 2, "via {dest}");
    }
}
