//! What an authoritative server answers (DESIGN.md §5; RFC 1034 §4.3.2,
//! RFC 2308, RFC 4592, RFC 3597, RFC 8482): flags, rcode, every section
//! and every TTL, for each kind of answer the example zone holds. Most
//! queries are asked three ways (UDP, UDP with EDNS, TCP; see
//! [`common::ask`]) so the prebuilt answers and the general path are held to
//! the same result.
mod common;

use common::*;
use domain::base::iana::{Class, Rtype};

/// The SOA of the example zone as it appears in negative answers: TTL
/// min(SOA TTL 300, MINIMUM 60) = 60 (RFC 2308 §3).
const NEGATIVE_SOA: &str =
    "example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. 2026112501 3600 600 604800 60";

/// Asserts the parts of a reply every test here checks.
#[track_caller]
fn assert_reply(
    how: &str,
    reply: &Reply,
    rcode: &str,
    aa: bool,
    answer: &[&str],
    authority: &[&str],
    additional: &[&str],
) {
    assert_eq!(reply.rcode(), rcode, "{how}: rcode");
    assert_eq!(reply.aa(), aa, "{how}: AA");
    assert!(!reply.tc(), "{how}: TC");
    assert!(!reply.ra(), "{how}: RA (we are not a resolver)");
    assert_eq!(reply.answer(), answer, "{how}: answer section");
    assert_eq!(reply.authority(), authority, "{how}: authority section");
    assert_eq!(reply.additional(), additional, "{how}: additional section");
}

#[test]
fn authoritative_answer_sets_aa_and_copies_rd_without_ra() {
    let server = Lifeline::example();
    for query in [q("www.example.test", Rtype::A), q("www.example.test", Rtype::A).rd()] {
        for (how, reply) in ask(server.addr, &query) {
            assert_reply(
                how,
                &reply,
                "NOERROR",
                true,
                &[
                    "www.example.test. 60 IN A 127.0.0.1",
                    "www.example.test. 60 IN A 127.0.0.2",
                ],
                &[],
                &[],
            );
            assert_eq!(reply.rd(), query.rd, "{how}: RD is copied (RFC 1035 §4.1.1)");
        }
    }
}

#[test]
fn nxdomain_carries_the_soa_with_the_negative_ttl() {
    let server = Lifeline::example();
    for name in ["nope.example.test", "deep.nope.example.test"] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::A)) {
            assert_reply(how, &reply, "NXDOMAIN", true, &[], &[NEGATIVE_SOA], &[]);
        }
    }
}

#[test]
fn nodata_carries_the_soa_with_the_negative_ttl() {
    let server = Lifeline::example();
    for (name, rtype) in [
        ("www.example.test", Rtype::MX),
        ("www.example.test", Rtype::TXT),
        ("mail.example.test", Rtype::CNAME),
    ] {
        for (how, reply) in ask(server.addr, &q(name, rtype)) {
            assert_reply(how, &reply, "NOERROR", true, &[], &[NEGATIVE_SOA], &[]);
        }
    }
}

#[test]
fn negative_ttl_is_the_soa_ttl_when_that_is_below_the_minimum() {
    // RFC 2308 §3/§5: the SOA in a negative answer has TTL min(SOA TTL,
    // MINIMUM); here the SOA's own TTL (30) is the smaller.
    let zone = "@ 30 IN SOA ns1 hostmaster 7 3600 600 604800 3600\n\
                @ 300 IN NS ns1\n\
                ns1 300 IN A 127.0.0.53\n";
    let server = Lifeline::with_zones("", "", &[("ttl.test", zone)]);
    let soa = "ttl.test. 30 IN SOA ns1.ttl.test. hostmaster.ttl.test. 7 3600 600 604800 3600";
    for (name, rcode) in [("nope.ttl.test", "NXDOMAIN"), ("ns1.ttl.test", "NOERROR")] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::MX)) {
            assert_reply(how, &reply, rcode, true, &[], &[soa], &[]);
        }
    }
    // Asked for directly, the SOA keeps its own TTL.
    for (how, reply) in ask(server.addr, &q("ttl.test", Rtype::SOA)) {
        assert_eq!(reply.answer(), [soa], "{how}");
    }
}

#[test]
fn empty_non_terminal_is_nodata_not_nxdomain() {
    // lab exists only because host1.lab does; apps only because *.apps
    // does; in-addr only because 1.1.0.127.in-addr does (RFC 4592 §2.2.2).
    let server = Lifeline::example();
    for name in [
        "lab.example.test",
        "apps.example.test",
        "in-addr.example.test",
        "0.127.in-addr.example.test",
    ] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::A)) {
            assert_reply(how, &reply, "NOERROR", true, &[], &[NEGATIVE_SOA], &[]);
        }
    }
}

#[test]
fn names_outside_our_zones_are_refused_without_aa_or_recursion() {
    // RFC 8906 §3.1.2 / RFC 5358: not ours, not authoritative, and not an
    // open resolver, even when recursion is desired.
    let server = Lifeline::example();
    for name in ["www.example.com", "test", ".", "example.test.example.org"] {
        for query in [q(name, Rtype::A), q(name, Rtype::A).rd()] {
            for (how, reply) in ask(server.addr, &query) {
                assert_reply(how, &reply, "REFUSED", false, &[], &[], &[]);
                assert_eq!(reply.rd(), query.rd, "{how}: RD is copied");
            }
        }
    }
}

#[test]
fn cname_chain_within_the_zone_is_followed_for_a_and_aaaa() {
    let server = Lifeline::example();
    let chain = [
        "static.example.test. 300 IN CNAME cdn.example.test.",
        "cdn.example.test. 300 IN CNAME www.example.test.",
    ];
    let cases = [
        (
            Rtype::A,
            vec![
                "www.example.test. 60 IN A 127.0.0.1",
                "www.example.test. 60 IN A 127.0.0.2",
            ],
        ),
        (Rtype::AAAA, vec!["www.example.test. 60 IN AAAA ::1"]),
    ];
    for (rtype, addresses) in cases {
        let expected: Vec<&str> = chain.iter().copied().chain(addresses).collect();
        for (how, reply) in ask(server.addr, &q("static.example.test", rtype)) {
            assert_reply(how, &reply, "NOERROR", true, &expected, &[], &[]);
        }
        // Entering the chain half-way gives the rest of it.
        for (how, reply) in ask(server.addr, &q("cdn.example.test", rtype)) {
            assert_eq!(reply.answer(), expected[1..], "{how}");
        }
    }
}

#[test]
fn cname_chain_ending_in_nodata_carries_the_soa() {
    // RFC 2308 §2.2: the chain is given, then NODATA for its end.
    let server = Lifeline::example();
    for (how, reply) in ask(server.addr, &q("static.example.test", Rtype::MX)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &[
                "static.example.test. 300 IN CNAME cdn.example.test.",
                "cdn.example.test. 300 IN CNAME www.example.test.",
            ],
            &[NEGATIVE_SOA],
            &[],
        );
    }
    // Asking for the CNAME itself gives only the CNAME (RFC 1034 §3.6.2).
    for (how, reply) in ask(server.addr, &q("static.example.test", Rtype::CNAME)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &["static.example.test. 300 IN CNAME cdn.example.test."],
            &[],
            &[],
        );
    }
}

/// The example zone of RFC 4592 §2.2.1 (under wild.test), whose section
/// 2.2.1 lists what each query must get.
fn wild() -> Lifeline {
    Lifeline::zone_files(&[("wild.test", &test_zone("wild.test.zone"))])
}

const WILD_SOA: &str = "wild.test. 300 IN SOA ns.example.com. hostmaster.wild.test. 1 3600 600 604800 300";

#[test]
fn wildcard_synthesises_records_owned_by_the_query_name() {
    let server = wild();
    for (how, reply) in ask(server.addr, &q("host3.wild.test", Rtype::MX)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &["host3.wild.test. 3600 IN MX 10 host1.wild.test."],
            &[],
            &["host1.wild.test. 3600 IN A 192.0.2.1"],
        );
    }
    // Several labels may match the `*` (RFC 4592 §2.1.1).
    for (how, reply) in ask(server.addr, &q("foo.bar.wild.test", Rtype::TXT)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &["foo.bar.wild.test. 3600 IN TXT \"this is a wildcard\""],
            &[],
            &[],
        );
    }
    let example = Lifeline::example();
    for (how, reply) in ask(example.addr, &q("a.b.apps.example.test", Rtype::A)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &["a.b.apps.example.test. 300 IN A 127.0.0.80"],
            &[],
            &[],
        );
    }
}

#[test]
fn wildcard_without_the_type_asked_for_is_nodata() {
    let server = wild();
    for (how, reply) in ask(server.addr, &q("host3.wild.test", Rtype::A)) {
        assert_reply(how, &reply, "NOERROR", true, &[], &[WILD_SOA], &[]);
    }
    let example = Lifeline::example();
    for (how, reply) in ask(example.addr, &q("x.apps.example.test", Rtype::TXT)) {
        assert_reply(how, &reply, "NOERROR", true, &[], &[NEGATIVE_SOA], &[]);
    }
}

#[test]
fn wildcard_does_not_match_names_that_exist_or_lie_below_existing_names() {
    let server = wild();
    // Existing names (including an empty non-terminal and the literal
    // `sub.*` owner) are answered from themselves: NODATA.
    for name in ["host1.wild.test", "sub.*.wild.test", "_tcp.host1.wild.test"] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::MX)) {
            assert_reply(how, &reply, "NOERROR", true, &[], &[WILD_SOA], &[]);
        }
    }
    // Below an existing name the closest encloser is that name, which has
    // no wildcard child: NXDOMAIN.
    for (name, rtype) in [
        ("_telnet._tcp.host1.wild.test", Rtype::SRV),
        ("ghost.*.wild.test", Rtype::MX),
    ] {
        for (how, reply) in ask(server.addr, &q(name, rtype)) {
            assert_reply(how, &reply, "NXDOMAIN", true, &[], &[WILD_SOA], &[]);
        }
    }
    // The wildcard's own name answers with `*` as the owner.
    for (how, reply) in ask(server.addr, &q("*.wild.test", Rtype::TXT)) {
        assert_eq!(
            reply.answer(),
            ["*.wild.test. 3600 IN TXT \"this is a wildcard\""],
            "{how}"
        );
    }
    // Below a delegation the wildcard does not apply: a referral.
    for (how, reply) in ask(server.addr, &q("host.subdel.wild.test", Rtype::A)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            false,
            &[],
            &[
                "subdel.wild.test. 3600 IN NS ns.example.com.",
                "subdel.wild.test. 3600 IN NS ns.example.net.",
            ],
            &[],
        );
    }
}

const SUB_NS: [&str; 2] = [
    "sub.example.test. 300 IN NS ns1.sub.example.test.",
    "sub.example.test. 300 IN NS ns2.sub.example.test.",
];
const SUB_GLUE: [&str; 3] = [
    "ns1.sub.example.test. 300 IN A 127.0.0.101",
    "ns2.sub.example.test. 300 IN A 127.0.0.102",
    "ns2.sub.example.test. 300 IN AAAA fd00::102",
];

#[test]
fn delegation_is_a_referral_with_glue_and_no_aa() {
    // RFC 1034 §4.3.2 step 3b: the NS of the cut in authority, addresses
    // of in-domain name servers as glue, AA clear; also for NS at the cut,
    // which belongs to the child.
    let server = Lifeline::example();
    for rtype in [Rtype::A, Rtype::NS, Rtype::MX] {
        for (how, reply) in ask(server.addr, &q("sub.example.test", rtype)) {
            assert_reply(how, &reply, "NOERROR", false, &[], &SUB_NS, &SUB_GLUE);
        }
    }
}

#[test]
fn names_below_a_delegation_get_the_referral() {
    let server = Lifeline::example();
    for name in ["www.sub.example.test", "a.b.c.sub.example.test", "ns1.sub.example.test"] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::A)) {
            assert_reply(how, &reply, "NOERROR", false, &[], &SUB_NS, &SUB_GLUE);
        }
    }
}

#[test]
fn ds_at_a_delegation_is_answered_by_the_parent() {
    // RFC 4035 §3.1.4.1: DS lives on the parent side of the cut; we hold
    // none, so NODATA, authoritatively.
    let server = Lifeline::example();
    for (how, reply) in ask(server.addr, &q("sub.example.test", Rtype::DS)) {
        assert_reply(how, &reply, "NOERROR", true, &[], &[NEGATIVE_SOA], &[]);
    }
}

#[test]
fn unknown_record_type_is_answered_as_stored() {
    // RFC 3597: a type we know nothing about is served from its opaque
    // RDATA, and asked for where absent, is NODATA.
    let server = Lifeline::example();
    let private = Rtype::from_int(65280);
    for (how, reply) in ask(server.addr, &q("private.example.test", private)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &["private.example.test. 300 IN TYPE65280 \\# 4 0a 00 00 01"],
            &[],
            &[],
        );
    }
    for (how, reply) in ask(server.addr, &q("www.example.test", private)) {
        assert_reply(how, &reply, "NOERROR", true, &[], &[NEGATIVE_SOA], &[]);
    }
}

#[test]
fn static_record_types_are_served() {
    let server = Lifeline::example();
    let cases = [
        (
            "example.test",
            Rtype::TXT,
            "example.test. 300 IN TXT \"v=spf1 mx -all\"",
        ),
        (
            "_dmarc.example.test",
            Rtype::TXT,
            "_dmarc.example.test. 300 IN TXT \"v=DMARC1; p=none\"",
        ),
        (
            "example.test",
            Rtype::CAA,
            "example.test. 300 IN CAA 0 issue \"ca.example.net\"",
        ),
        (
            "1.1.0.127.in-addr.example.test",
            Rtype::PTR,
            "1.1.0.127.in-addr.example.test. 300 IN PTR host1.lab.example.test.",
        ),
        (
            "mail.example.test",
            Rtype::AAAA,
            "mail.example.test. 300 IN AAAA fd00::20",
        ),
    ];
    for (name, rtype, record) in cases {
        for (how, reply) in ask(server.addr, &q(name, rtype)) {
            assert_reply(how, &reply, "NOERROR", true, &[record], &[], &[]);
        }
    }
}

#[test]
fn soa_query_is_answered_with_its_own_ttl() {
    let server = Lifeline::example();
    for (how, reply) in ask(server.addr, &q("example.test", Rtype::SOA)) {
        assert_reply(
            how,
            &reply,
            "NOERROR",
            true,
            &["example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112501 3600 600 604800 60"],
            &[],
            &[],
        );
    }
}

/// The types at the apex of the example zone, in any order.
const APEX_TYPES: [Rtype; 5] = [Rtype::SOA, Rtype::NS, Rtype::MX, Rtype::TXT, Rtype::CAA];

fn types_of(records: &[String]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.split(' ').nth(3).unwrap().to_string())
        .collect()
}

#[test]
fn any_over_udp_is_answered_with_one_rrset() {
    // RFC 8482 §4.1: a small answer: one whole RRset of the name.
    let server = Lifeline::example();
    let all = tcp(server.addr, &q("example.test", Rtype::ANY)).answer();
    for query in [q("example.test", Rtype::ANY), q("example.test", Rtype::ANY).edns(1232)] {
        let reply = udp(server.addr, &query);
        assert_eq!(reply.rcode(), "NOERROR");
        assert!(reply.aa() && !reply.tc());
        let answer = reply.answer();
        let types = types_of(&answer);
        assert!(!types.is_empty(), "{answer:?}");
        assert!(types.iter().all(|t| *t == types[0]), "one RRset: {answer:?}");
        let whole: Vec<&String> = all
            .iter()
            .filter(|r| types_of(std::slice::from_ref(r))[0] == types[0])
            .collect();
        assert_eq!(answer.iter().collect::<Vec<_>>(), whole, "the whole RRset");
        assert!(reply.authority().is_empty());
    }
}

#[test]
fn any_over_tcp_is_answered_with_every_rrset() {
    let server = Lifeline::example();
    let reply = tcp(server.addr, &q("example.test", Rtype::ANY));
    assert_eq!(reply.rcode(), "NOERROR");
    assert!(reply.aa() && !reply.tc());
    let mut answer = reply.answer();
    answer.sort();
    assert_eq!(
        answer,
        [
            "example.test. 300 IN CAA 0 issue \"ca.example.net\"",
            "example.test. 300 IN MX 10 mail.example.test.",
            "example.test. 300 IN NS ns1.example.test.",
            "example.test. 300 IN NS ns2.example.test.",
            "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112501 3600 600 604800 60",
            "example.test. 300 IN TXT \"v=spf1 mx -all\"",
        ]
    );
    let mut types = types_of(&answer);
    types.dedup();
    assert_eq!(types.len(), APEX_TYPES.len());
    // ANY for a name that does not exist, or is empty, is negative.
    let reply = tcp(server.addr, &q("nope.example.test", Rtype::ANY));
    assert_eq!(reply.rcode(), "NXDOMAIN");
    assert_eq!(reply.authority(), [NEGATIVE_SOA]);
    for reply in [
        tcp(server.addr, &q("lab.example.test", Rtype::ANY)),
        udp(server.addr, &q("lab.example.test", Rtype::ANY)),
    ] {
        assert_eq!(reply.rcode(), "NOERROR");
        assert!(reply.answer().is_empty());
        assert_eq!(reply.authority(), [NEGATIVE_SOA]);
    }
}

#[test]
fn mx_srv_and_ns_targets_get_their_addresses_as_additional_data() {
    // RFC 1035 §3.3.9 (MX), §3.3.11 (NS), RFC 2782 (SRV).
    let server = Lifeline::example();
    let cases = [
        (
            "example.test",
            Rtype::MX,
            vec!["example.test. 300 IN MX 10 mail.example.test."],
            vec![
                "mail.example.test. 300 IN A 127.0.0.20",
                "mail.example.test. 300 IN AAAA fd00::20",
            ],
        ),
        (
            "_sip._udp.example.test",
            Rtype::SRV,
            // (`domain` prints an SRV target without the final dot.)
            vec!["_sip._udp.example.test. 300 IN SRV 10 60 5060 sip.example.test"],
            vec!["sip.example.test. 300 IN A 127.0.0.25"],
        ),
        (
            "example.test",
            Rtype::NS,
            vec![
                "example.test. 300 IN NS ns1.example.test.",
                "example.test. 300 IN NS ns2.example.test.",
            ],
            vec![
                "ns1.example.test. 300 IN A 127.0.0.53",
                "ns1.example.test. 300 IN AAAA ::1",
                "ns2.example.test. 300 IN A 127.0.0.54",
            ],
        ),
    ];
    for (name, rtype, answer, additional) in cases {
        for (how, reply) in ask(server.addr, &q(name, rtype)) {
            assert_reply(how, &reply, "NOERROR", true, &answer, &[], &additional);
        }
    }
}

#[test]
fn question_case_is_preserved_and_the_owner_points_at_the_question() {
    // RFC 1035 §7.3 / RFC 4343: the question is echoed as sent (checked by
    // `Reply::parse`), and the answer's owner is a compression pointer to
    // it at offset 12 (RFC 1035 §4.1.4), so the answer shows the same case.
    let server = Lifeline::example();
    let wild = wild();
    let cases = [
        (
            server.addr,
            "wWw.ExAmPlE.TeSt",
            Rtype::A,
            "wWw.ExAmPlE.TeSt. 60 IN A 127.0.0.1",
        ),
        (
            server.addr,
            "StAtIc.ExAmPlE.tEsT",
            Rtype::A,
            "StAtIc.ExAmPlE.tEsT. 300 IN CNAME cdn.example.test.",
        ),
        (
            wild.addr,
            "HoSt3.WiLd.TeSt",
            Rtype::MX,
            "HoSt3.WiLd.TeSt. 3600 IN MX 10 host1.wild.test.",
        ),
    ];
    for (addr, name, rtype, first) in cases {
        for (how, reply) in ask(addr, &q(name, rtype)) {
            assert_eq!(reply.rcode(), "NOERROR", "{how} {name}");
            assert!(reply.aa(), "{how} {name}");
            // The owner keeps the case of the question; names in RDATA
            // may be compressed against it, and match ignoring case.
            let answer = &reply.answer()[0];
            assert!(answer.starts_with(&format!("{name}. ")), "{how}: {answer}");
            assert_eq!(answer.to_lowercase(), first.to_lowercase(), "{how}");
            let at = reply.question_end();
            assert_eq!(
                &reply.bytes()[at..at + 2],
                &[0xc0, 12],
                "{how} {name}: the answer owner is a pointer to the question"
            );
        }
    }
}

#[test]
fn names_in_the_reply_are_compressed() {
    // Every name in the MX answer and its additional data ends in the
    // question's suffix, so each is written as at most one new label and a
    // pointer: the reply is far shorter than the names written out.
    let server = Lifeline::example();
    for (how, reply) in ask(server.addr, &q("example.test", Rtype::MX)) {
        let bytes = reply.bytes();
        let at = reply.question_end();
        // Answer: owner pointer, type, class, TTL, RDLENGTH, preference,
        // then "mail" and a pointer to the question name.
        assert_eq!(&bytes[at..at + 2], &[0xc0, 12], "{how}");
        let rdlength = u16::from_be_bytes([bytes[at + 10], bytes[at + 11]]);
        assert_eq!(rdlength, 2 + 5 + 2, "{how}: MX exchange compressed");
        assert_eq!(&bytes[at + 14..at + 19], b"\x04mail", "{how}");
        assert_eq!(&bytes[at + 19..at + 21], &[0xc0, 12], "{how}");
    }
}

#[test]
fn chaos_version_bind_is_refused_unless_configured() {
    let server = Lifeline::example();
    for name in ["version.bind", "version.server", "id.server", "hostname.bind"] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::TXT).class(Class::CH)) {
            assert_reply(how, &reply, "REFUSED", false, &[], &[], &[]);
        }
    }
    let configured = Lifeline::example_with("version = \"lifeline-test 1.0\"", "");
    for name in ["version.bind", "VERSION.bind", "version.server"] {
        for (how, reply) in ask(configured.addr, &q(name, Rtype::TXT).class(Class::CH)) {
            let record = format!("{name}. 0 CH TXT \"lifeline-test 1.0\"");
            assert_reply(how, &reply, "NOERROR", true, &[&record], &[], &[]);
        }
    }
    // Configuring the version does not disclose an identity.
    let reply = udp(configured.addr, &q("id.server", Rtype::TXT).class(Class::CH));
    assert_eq!(reply.rcode(), "REFUSED");
}

#[test]
fn chaos_id_server_is_answered_when_identity_is_configured() {
    // RFC 4892 §2.
    let server = Lifeline::example_with("identity = \"ns-test-7\"", "");
    for name in ["id.server", "hostname.bind", "ID.SERVER"] {
        for (how, reply) in ask(server.addr, &q(name, Rtype::TXT).class(Class::CH)) {
            let record = format!("{name}. 0 CH TXT \"ns-test-7\"");
            assert_reply(how, &reply, "NOERROR", true, &[&record], &[], &[]);
        }
    }
    // Other CH names, and the version that was not configured, stay refused.
    for name in ["version.bind", "authors.bind", "www.example.test"] {
        let reply = udp(server.addr, &q(name, Rtype::TXT).class(Class::CH));
        assert_eq!(reply.rcode(), "REFUSED", "{name}");
        assert!(!reply.aa() && reply.answer().is_empty(), "{name}");
    }
    // CH identity does not leak into class IN.
    let reply = udp(server.addr, &q("id.server", Rtype::TXT));
    assert_eq!(reply.rcode(), "REFUSED");
}

#[test]
fn nsid_is_returned_when_configured_and_asked_for() {
    // RFC 5001 §2.3: the payload goes back only to a client that asked.
    let server = Lifeline::example_with("nsid = \"lifeline-nsid-1\"", "");
    let asked = q("www.example.test", Rtype::A).edns(1232).nsid();
    for reply in [udp(server.addr, &asked), tcp(server.addr, &asked)] {
        assert_eq!(reply.rcode(), "NOERROR");
        assert!(reply.aa());
        assert_eq!(reply.answer().len(), 2);
        let (_, version, _, nsid) = reply.opt().expect("OPT in the reply");
        assert_eq!(version, 0);
        assert_eq!(nsid.as_deref(), Some(&b"lifeline-nsid-1"[..]));
    }
    // Also on negative and refused answers.
    for name in ["nope.example.test", "www.example.com"] {
        let reply = udp(server.addr, &q(name, Rtype::A).edns(1232).nsid());
        assert_eq!(
            reply.opt().unwrap().3.as_deref(),
            Some(&b"lifeline-nsid-1"[..]),
            "{name}"
        );
    }
    let not_asked = q("www.example.test", Rtype::A).edns(1232);
    for reply in [udp(server.addr, &not_asked), tcp(server.addr, &not_asked)] {
        assert_eq!(reply.answer().len(), 2);
        assert_eq!(reply.opt().expect("OPT").3, None);
    }
}

#[test]
fn nsid_is_absent_when_not_configured() {
    let server = Lifeline::example();
    let asked = q("www.example.test", Rtype::A).edns(1232).nsid();
    for reply in [udp(server.addr, &asked), tcp(server.addr, &asked)] {
        assert_eq!(reply.rcode(), "NOERROR");
        assert_eq!(reply.answer().len(), 2);
        assert_eq!(reply.opt().expect("OPT").3, None);
    }
}

#[test]
fn ipv6_listener_answers_over_udp_and_tcp() {
    let server = Lifeline::start(&[
        "--listen",
        "[::1]:0",
        "--listen",
        "127.0.0.1:0",
        "--zone",
        &format!("example.test={}", example_zone().display()),
        "--udp-threads",
        "1",
    ]);
    let v6 = server.addrs.iter().find(|a| a.is_ipv6()).copied().unwrap();
    let v4 = server.addrs.iter().find(|a| a.is_ipv4()).copied().unwrap();
    assert!(v6.ip().is_loopback() && v6.port() != 0);
    for addr in [v6, v4] {
        for (how, reply) in ask(addr, &q("www.example.test", Rtype::AAAA)) {
            assert_reply(
                how,
                &reply,
                "NOERROR",
                true,
                &["www.example.test. 60 IN AAAA ::1"],
                &[],
                &[],
            );
        }
        let reply = udp(addr, &q("nope.example.test", Rtype::AAAA));
        assert_eq!(reply.rcode(), "NXDOMAIN");
        assert_eq!(reply.authority(), [NEGATIVE_SOA]);
    }
}
