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
