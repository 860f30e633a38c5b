//! The core serving behaviours seen through the clients operators use:
//! Knot's `kdig` and BIND's `dig`. Each test runs with every one of them
//! that is installed; a missing one is skipped with a printed reason, or
//! fails the test under `LIFELINE_INTEROP=1` (see
//! [`common::external_tool`]).
mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::*;

/// A DNS command-line client found on this machine.
struct Tool {
    name: &'static str,
    path: PathBuf,
}

/// The installed clients among kdig and dig.
fn tools() -> Vec<Tool> {
    ["kdig", "dig"]
        .into_iter()
        .filter_map(|name| external_tool(name).map(|path| Tool { name, path }))
        .collect()
}

impl Tool {
    /// Runs `TOOL @ADDR -p PORT ARGS`, with one try of at most 3 s.
    fn ask(&self, addr: SocketAddr, args: &[&str]) -> DigOutput {
        let at = format!("@{}", addr.ip());
        let port = addr.port().to_string();
        // One retry: a datagram lost on a machine loaded by the other tests
        // is not what these tests are about (what the answers say is).
        let once = match self.name {
            "kdig" => ["+time=3", "+retry=1"],
            _ => ["+time=3", "+tries=2"],
        };
        let mut all = vec![at.as_str(), "-p", port.as_str()];
        all.extend(once);
        all.extend(args);
        let output = DigOutput::parse(&run(&self.path, &all));
        eprintln!("{} {}: {} {:?}", self.name, args.join(" "), output.status, output.flags);
        output
    }
}

const NEGATIVE_SOA: &str =
    "example.test. 60 IN SOA ns1.example.test. hostmaster.example.test. 2026112501 3600 600 604800 60";

#[test]
fn authoritative_answer_without_recursion() {
    let server = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+norec", "www.example.test", "A"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert_eq!(out.flags, ["qr", "aa"], "{}", tool.name);
        assert_eq!(
            out.answer,
            [
                "www.example.test. 60 IN A 127.0.0.1",
                "www.example.test. 60 IN A 127.0.0.2"
            ],
            "{}",
            tool.name
        );
        assert!(out.authority.is_empty() && out.additional.is_empty(), "{}", tool.name);
    }
}

#[test]
fn cname_chain_over_tcp() {
    let server = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+tcp", "+norec", "static.example.test", "AAAA"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert!(out.has_flag("aa"), "{}", tool.name);
        assert_eq!(
            out.answer,
            [
                "static.example.test. 300 IN CNAME cdn.example.test.",
                "cdn.example.test. 300 IN CNAME www.example.test.",
                "www.example.test. 60 IN AAAA ::1"
            ],
            "{}",
            tool.name
        );
        assert!(out.text.contains("(TCP)"), "{}: went over TCP", tool.name);
    }
}

#[test]
fn nxdomain_nodata_and_empty_non_terminal() {
    let server = Lifeline::example();
    for tool in tools() {
        for (name, rtype, status) in [
            ("nope.example.test", "A", "NXDOMAIN"),
            ("www.example.test", "MX", "NOERROR"),
            ("lab.example.test", "A", "NOERROR"),
            ("x.apps.example.test", "TXT", "NOERROR"),
        ] {
            let out = tool.ask(server.addr, &["+norec", name, rtype]);
            let what = format!("{} {name} {rtype}", tool.name);
            assert_eq!(out.status, status, "{what}");
            assert_eq!(out.flags, ["qr", "aa"], "{what}");
            assert!(out.answer.is_empty(), "{what}");
            assert_eq!(out.authority, [NEGATIVE_SOA], "{what}");
        }
    }
}

#[test]
fn wildcard_answer_is_owned_by_the_query_name() {
    let server = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+norec", "Some.Host.apps.example.test", "A"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert_eq!(out.flags, ["qr", "aa"], "{}", tool.name);
        // The owner is the name asked for, in the case it was sent in
        // (dig keeps the case given; kdig lowercases it).
        assert!(out.question.eq_ignore_ascii_case("some.host.apps.example.test."));
        assert_eq!(
            out.answer,
            [format!("{} 300 IN A 127.0.0.80", out.question)],
            "{}",
            tool.name
        );
    }
}

#[test]
fn outside_our_zones_is_refused_even_with_recursion_desired() {
    let server = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+rec", "www.example.com", "A"]);
        assert_eq!(out.status, "REFUSED", "{}", tool.name);
        assert_eq!(out.flags, ["qr", "rd"], "{}: no aa, no ra", tool.name);
        assert!(out.answer.is_empty() && out.authority.is_empty(), "{}", tool.name);
    }
}

#[test]
fn referral_with_glue() {
    let server = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+norec", "www.sub.example.test", "A"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert_eq!(out.flags, ["qr"], "{}: not authoritative", tool.name);
        assert!(out.answer.is_empty(), "{}", tool.name);
        assert_eq!(
            out.authority,
            [
                "sub.example.test. 300 IN NS ns1.sub.example.test.",
                "sub.example.test. 300 IN NS ns2.sub.example.test."
            ],
            "{}",
            tool.name
        );
        assert_eq!(
            out.additional,
            [
                "ns1.sub.example.test. 300 IN A 127.0.0.101",
                "ns2.sub.example.test. 300 IN A 127.0.0.102",
                "ns2.sub.example.test. 300 IN AAAA fd00::102"
            ],
            "{}",
            tool.name
        );
    }
}

#[test]
fn nsid_when_configured() {
    let server = Lifeline::example_with("nsid = \"lifeline-interop\"", "");
    let plain = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+nsid", "+norec", "www.example.test", "A"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert_eq!(out.answer.len(), 2, "{}", tool.name);
        let nsid = out.text.lines().find(|l| l.contains("NSID:"));
        assert!(
            nsid.is_some_and(|l| l.contains("lifeline-interop")),
            "{}: {nsid:?}",
            tool.name
        );
        let out = tool.ask(plain.addr, &["+nsid", "+norec", "www.example.test", "A"]);
        assert!(!out.text.contains("NSID:"), "{}: none configured", tool.name);
    }
}

#[test]
fn edns_version_1_is_badvers() {
    let server = Lifeline::example();
    for tool in tools() {
        // dig would retry with version 0 unless told not to.
        let args: &[&str] = match tool.name {
            "dig" => &["+edns=1", "+noednsneg", "+norec", "www.example.test", "A"],
            _ => &["+edns=1", "+norec", "www.example.test", "A"],
        };
        let out = tool.ask(server.addr, args);
        assert_eq!(out.status, "BADVERS", "{}", tool.name);
        assert!(!out.has_flag("aa"), "{}", tool.name);
        assert!(out.answer.is_empty(), "{}", tool.name);
        let version_0 = out
            .text
            .lines()
            .any(|l| l.contains("Version: 0;") || l.contains("version: 0,"));
        assert!(version_0, "{}: the OPT says version 0", tool.name);
    }
    // dig's negotiation then succeeds with version 0.
    if let Some(dig) = tools().into_iter().find(|t| t.name == "dig") {
        let out = dig.ask(server.addr, &["+edns=1", "+norec", "www.example.test", "A"]);
        assert!(out.text.contains("BADVERS, retrying with EDNS version 0"));
        assert_eq!(out.status, "NOERROR");
        assert_eq!(out.answer.len(), 2);
    }
}

#[test]
fn truncated_udp_answer_is_retried_over_tcp() {
    let mut zone =
        String::from("@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ 300 IN NS ns1\nns1 300 IN A 127.0.0.53\n");
    for i in 0..40 {
        zone.push_str(&format!("big 300 IN TXT \"{i:03}{}\"\n", "x".repeat(96)));
    }
    let server = Lifeline::with_zones("", "", &[("big.test", &zone)]);
    for tool in tools() {
        // Told to keep the truncated reply: TC and an empty answer.
        let out = tool.ask(server.addr, &["+ignore", "+norec", "big.big.test", "TXT"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert!(out.has_flag("tc") && out.has_flag("aa"), "{}", tool.name);
        assert!(out.answer.is_empty(), "{}", tool.name);
        // By default they retry over TCP and get everything.
        let out = tool.ask(server.addr, &["+norec", "big.big.test", "TXT"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert!(!out.has_flag("tc"), "{}", tool.name);
        assert_eq!(out.answer.len(), 40, "{}", tool.name);
        assert!(out.text.contains("(TCP)"), "{}: retried over TCP", tool.name);
    }
}

#[test]
fn any_is_one_rrset_over_udp_and_all_over_tcp() {
    let server = Lifeline::example();
    for tool in tools() {
        let out = tool.ask(server.addr, &["+notcp", "+norec", "example.test", "ANY"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        let types: Vec<&str> = out.answer.iter().map(|r| r.split(' ').nth(3).unwrap()).collect();
        assert!(!types.is_empty(), "{}", tool.name);
        assert!(types.iter().all(|t| *t == types[0]), "{}: {types:?}", tool.name);
        let out = tool.ask(server.addr, &["+tcp", "+norec", "example.test", "ANY"]);
        assert_eq!(out.answer.len(), 6, "{}: {:?}", tool.name, out.answer);
    }
}

#[test]
fn chaos_identity_and_version() {
    let server = Lifeline::example_with("identity = \"interop-ns\"", "");
    for tool in tools() {
        let out = tool.ask(server.addr, &["id.server", "CH", "TXT"]);
        assert_eq!(out.status, "NOERROR", "{}", tool.name);
        assert!(out.has_flag("aa"), "{}", tool.name);
        assert_eq!(out.answer, ["id.server. 0 CH TXT \"interop-ns\""], "{}", tool.name);
        let out = tool.ask(server.addr, &["version.bind", "CH", "TXT"]);
        assert_eq!(out.status, "REFUSED", "{}", tool.name);
        assert!(out.answer.is_empty(), "{}", tool.name);
    }
}

#[test]
fn question_case_is_kept_over_ipv6() {
    let server = Lifeline::start(&[
        "--listen",
        "[::1]:0",
        "--zone",
        &format!("example.test={}", example_zone().display()),
        "--udp-threads",
        "1",
    ]);
    for tool in tools() {
        for transport in ["+notcp", "+tcp"] {
            let out = tool.ask(server.addr, &[transport, "+norec", "wWw.ExAmPlE.TeSt", "AAAA"]);
            assert_eq!(out.status, "NOERROR", "{} {transport}", tool.name);
            assert_eq!(out.flags, ["qr", "aa"], "{} {transport}", tool.name);
            // dig sends the name as given, kdig lowercases it; either way
            // the answer's owner is the question as sent.
            assert!(out.question.eq_ignore_ascii_case("www.example.test."));
            if tool.name == "dig" {
                assert_eq!(out.question, "wWw.ExAmPlE.TeSt.");
            }
            assert_eq!(
                out.answer,
                [format!("{} 60 IN AAAA ::1", out.question)],
                "{} {transport}",
                tool.name
            );
        }
    }
}
