//! Every check kind deciding real answers (issue 4, "How it is checked"):
//! the binary checks backends the test runs — HTTPS with certificates from
//! a test CA (valid, expired, for the wrong host, unverified), TCP (accept,
//! refuse, send/expect), exec (exit status, a flag file, the target in the
//! environment), DNS (another Lifeline serving a zone: answer, rcode,
//! refused), ICMP to loopback — and DNS queries see the answers follow.
//!
//! The pattern: an endpoint whose check should pass starts `initial =
//! "down"` and must be logged UP and answered with the record's full TTL
//! (only a tier with every endpoint up gets it; before its first results a
//! tier may be answered with the degraded TTL); one whose check should fail
//! starts up and must go down; a fallback tier without checks shows where
//! answers go. Servers run with `LIFELINE_LOG=debug` so failed checks, with
//! their reason, are in the log.
mod common;

use std::time::Duration;

use common::Lifeline;
use common::backends::{Backend, Net, Pki, backends_on};
use common::records::*;
use domain::base::iana::Rtype;

const ORIGIN: &str = "e2e.test";
const DEBUG: &[(&str, &str)] = &[("LIFELINE_LOG", "debug")];

/// Timing every check here uses: fast, and generous enough for a process
/// to start (exec) on a loaded machine.
const TIMING: &str = "interval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2\n";

/// A record `NAME.ORIGIN` with one checked endpoint (tier 1) and a
/// fallback without checks (tier 2); `extra` goes into the endpoint's table,
/// e.g. `initial = "down"`.
fn record(name: &str, endpoint: &str, address: &str, check: &str, extra: &str, fallback: &str) -> String {
    format!(
        r#"[[record]]
name = "{name}.{ORIGIN}"
type = "A"
ttl = 30
ttl_degraded = 5
endpoint = [
  {{ name = "{endpoint}", address = "{address}", priority = 1, checks = ["{check}"]{extra} }},
  {{ name = "{endpoint}-fallback", address = "{fallback}", priority = 2 }},
]

"#
    )
}

fn name(label: &str) -> String {
    format!("{label}.{ORIGIN}")
}

/// Waits until `endpoint`'s checks have passed: its UP verdict is logged
/// and `LABEL.ORIGIN` answers its `address` with the full TTL.
fn wait_for_passing(server: &Lifeline, label: &str, endpoint: &str, address: &str) {
    logged(server, &format!("endpoint {endpoint} is now UP"));
    wait_until(server.addr, &name(label), Rtype::A, "up with the full TTL", |a| {
        a.is(&[address]) && a.ttl() == 30
    });
}

/// HTTPS decides answers by its certificate checks: a certificate from the
/// configured CA for the record's name (the default Host and SNI) passes;
/// an expired one and one for another name fail; `verify = false` accepts
/// the expired one; a certificate that expires while served moves the
/// answer away.
#[test]
fn https_certificates_decide_answers() {
    let net = Net(31);
    let pki = Pki::new();
    let www = "www.e2e.test";
    let good = Backend::https_on(net.ip(2), pki.valid(&[www]));
    let expired = Backend::https_on(net.ip(3), pki.expired(&[www]));
    let wrong = Backend::https_on(net.ip(4), pki.valid(&["other.e2e.test"]));
    let fallback = net.addr(100);
    let https = |check: &str, port: u16, options: &str| {
        format!("[check.{check}]\nkind = \"https\"\nport = {port}\npath = \"/healthz\"\n{options}{TIMING}\n")
    };
    let host = format!("host = \"{www}\"\n");
    let body = [
        record("www", "good", &net.addr(2), "good", ", initial = \"down\"", &fallback),
        record("expired", "expired", &net.addr(3), "strict_expired", "", &fallback),
        record("wrong", "wrong", &net.addr(4), "strict_wrong", "", &fallback),
        record("lax", "lax", &net.addr(3), "lax", ", initial = \"down\"", &fallback),
        https("good", good.port(), "ca = \"ca.pem\"\n"),
        https("strict_expired", expired.port(), &format!("ca = \"ca.pem\"\n{host}")),
        https("strict_wrong", wrong.port(), &format!("ca = \"ca.pem\"\n{host}")),
        https("lax", expired.port(), &format!("verify = false\n{host}")),
    ]
    .concat();
    let server = serve_env(ORIGIN, &zone_text(""), &body, &[("ca.pem", &pki.ca_pem())], DEBUG);

    // A valid certificate from the custom CA passes.
    wait_for_passing(&server, "www", "good", &net.addr(2));
    wait_for_a(server.addr, &name("expired"), &[&fallback]);
    assert!(logged(&server, "check strict_expired of expired: FAIL (certificate expired") > 0);
    wait_for_a(server.addr, &name("wrong"), &[&fallback]);
    assert!(
        logged(
            &server,
            "check strict_wrong of wrong: FAIL (certificate not valid for this name"
        ) > 0
    );
    wait_for_passing(&server, "lax", "lax", &net.addr(3));
    // On a loaded machine a run may time out; none fails on the certificate.
    let lax_failures = server.log_lines("check lax of lax: FAIL");
    assert!(
        lax_failures.iter().all(|l| !l.contains("certificate")),
        "verify = false accepts the expired certificate: {lax_failures:?}"
    );
    assert!(
        good.requests() > 0 && expired.requests() > 0,
        "HTTP requests after the handshakes that passed"
    );
    assert_eq!(wrong.requests(), 0, "no request after a rejected handshake");

    good.set_tls(pki.expired(&[www]));
    wait_for_a(server.addr, &name("www"), &[&fallback]);
    assert!(logged(&server, "check good of good: FAIL (certificate expired") > 0);
    assert_eq!(logged(&server, "endpoint good is now DOWN"), 1);
}

/// TCP: a plain check passes while the port accepts and fails once it is
/// refused; a check that sends a request and expects a reply prefix fails
/// as soon as the reply changes, though the port still accepts.
#[test]
fn tcp_checks_accept_refuse_and_expect() {
    let net = Net(32);
    let (p, b) = (net.addr(2), net.addr(3));
    let (mut backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let two_tiers = |record: &str, check: &str| {
        format!(
            r#"[[record]]
name = "{record}.{ORIGIN}"
type = "A"
ttl = 30
ttl_degraded = 5
endpoint = [
  {{ name = "{record}-p", address = "{p}", priority = 1, checks = ["{check}"] }},
  {{ name = "{record}-b", address = "{b}", priority = 2, checks = ["{check}"] }},
]

"#
        )
    };
    let body = format!(
        r#"{}{}[check.connect]
kind = "tcp"
port = {port}
{TIMING}
[check.expect]
kind = "tcp"
port = {port}
send = "GET /healthz HTTP/1.0\r\n\r\n"
expect = "HTTP/1.1 200"
{TIMING}"#,
        two_tiers("tcp", "connect"),
        two_tiers("tcpx", "expect")
    );
    let server = serve_env(ORIGIN, &zone_text(""), &body, &[], DEBUG);
    assert!(lookup_a(server.addr, &name("tcp")).is(&[&p]));
    assert!(lookup_a(server.addr, &name("tcpx")).is(&[&p]));

    backends[0].set_healthy(false);
    wait_for_a(server.addr, &name("tcpx"), &[&b]);
    assert!(logged(&server, "check expect of tcpx-p: FAIL (reply did not match") > 0);
    stays(server.addr, &name("tcp"), Rtype::A, &[&p], Duration::from_millis(500));

    backends[0].stop();
    let answer = wait_for_a(server.addr, &name("tcp"), &[&b]);
    assert_eq!(answer.ttl(), 5);
    assert!(logged(&server, "check connect of tcp-p: FAIL (connection refused") > 0);

    backends[0].restart();
    backends[0].set_healthy(true);
    wait_for_a(server.addr, &name("tcp"), &[&p]);
    wait_for_a(server.addr, &name("tcpx"), &[&p]);
}

/// A record whose endpoint has the checks `ok` and `flag`, combined as
/// `combine` says.
fn combined(combine: &str, address: &str, fallback: &str) -> String {
    format!(
        r#"[[record]]
name = "{combine}.{ORIGIN}"
type = "A"
combine = "{combine}"
endpoint = [
  {{ name = "both-{combine}", address = "{address}", priority = 1, checks = ["ok", "flag"] }},
  {{ name = "both-{combine}-fallback", address = "{fallback}", priority = 2 }},
]

"#
    )
}

/// exec: exit 0 is up and anything else down (`true`, `false`, a flag
/// file the test removes and creates), and the command gets the address it
/// checks in `LIFELINE_TARGET`. With two checks, one failing, an endpoint
/// is down under `combine = "all"` and up under `"any"`.
#[test]
fn exec_checks_follow_the_exit_status() {
    let net = Net(33);
    let (p, fallback) = (net.addr(2), net.addr(100));
    let flags = common::TempDir::new();
    let flag = flags.write("healthy", "");
    let exec = |check: &str, command: &str, args: &str| {
        format!("[check.{check}]\nkind = \"exec\"\ncommand = \"{command}\"\nargs = {args}\n{TIMING}\n")
    };
    let body = [
        record("true", "t", &p, "ok", ", initial = \"down\"", &fallback),
        record("false", "f", &p, "fails", "", &fallback),
        record("flag", "flag", &p, "flag", "", &fallback),
        record("target", "target", &p, "target", ", initial = \"down\"", &fallback),
        combined("all", &p, &fallback),
        combined("any", &p, &fallback),
        exec("ok", "true", "[]"),
        exec("fails", "false", "[]"),
        exec("flag", "test", &format!("[\"-e\", \"{}\"]", flag.display())),
        exec(
            "target",
            "sh",
            &format!("[\"-c\", \"test \\\"$LIFELINE_TARGET\\\" = {p}\"]"),
        ),
    ]
    .concat();
    let server = serve_env(ORIGIN, &zone_text(""), &body, &[], DEBUG);

    wait_for_passing(&server, "true", "t", &p);
    wait_for_a(server.addr, &name("false"), &[&fallback]);
    assert!(logged(&server, "check fails of f: FAIL (exit 1") > 0);
    wait_for_passing(&server, "target", "target", &p);
    assert!(lookup_a(server.addr, &name("flag")).is(&[&p]));

    assert!(lookup_a(server.addr, &name("all")).is(&[&p]));

    std::fs::remove_file(&flag).unwrap();
    wait_for_a(server.addr, &name("flag"), &[&fallback]);
    wait_for_a(server.addr, &name("all"), &[&fallback]);
    stays(server.addr, &name("any"), Rtype::A, &[&p], Duration::from_millis(600));
    std::fs::write(&flag, "").unwrap();
    wait_for_a(server.addr, &name("flag"), &[&p]);
    wait_for_a(server.addr, &name("all"), &[&p]);
}

/// DNS checks against another Lifeline serving `up.test`: one expects an
/// address in the answer, one an NXDOMAIN, one the SOA (default query
/// type) with NOERROR. A reload of the upstream that changes the address
/// and adds the missing name fails the first two; stopping it fails the
/// third.
#[test]
fn dns_checks_expect_rcode_and_answer() {
    let net = Net(34);
    let (p, fallback) = (net.addr(2), net.addr(100));
    let upstream_zone = |www: &str, extra: &str| zone_text(&format!("www 60 IN A {www}\n{extra}"));
    let upstream = Lifeline::with_zones("", "", &[("up.test", &upstream_zone(&net.addr(9), ""))]);
    let port = upstream.addr.port();
    let dns =
        |check: &str, options: &str| format!("[check.{check}]\nkind = \"dns\"\nport = {port}\n{options}{TIMING}\n");
    let target = ", target = \"127.0.0.1\", initial = \"down\"";
    let body = [
        record("answer", "dns-answer", &p, "answer", target, &fallback),
        record("rcode", "dns-rcode", &p, "rcode", target, &fallback),
        record("soa", "dns-soa", &p, "soa", target, &fallback),
        dns(
            "answer",
            &format!(
                "query = \"www.up.test\"\nquery_type = \"A\"\nanswer = \"{}\"\n",
                net.addr(9)
            ),
        ),
        dns(
            "rcode",
            "query = \"gone.up.test\"\nquery_type = \"A\"\nrcode = \"NXDOMAIN\"\n",
        ),
        dns("soa", "query = \"up.test\"\n"),
    ]
    .concat();
    let server = serve_env(ORIGIN, &zone_text(""), &body, &[], DEBUG);
    for label in ["answer", "rcode", "soa"] {
        wait_for_passing(&server, label, &format!("dns-{label}"), &p);
    }

    let changed = upstream_zone(&net.addr(10), "gone 60 IN A 127.0.0.11\n");
    std::fs::write(upstream.dir().join("up.test.zone"), changed).unwrap();
    let reloads = upstream.log_count("reloaded");
    upstream.sighup();
    wait_for_log(&upstream, "reloaded", reloads);
    wait_for_a(server.addr, &name("answer"), &[&fallback]);
    assert!(
        logged(
            &server,
            &format!("check answer of dns-answer: FAIL (answer lacks {}", net.addr(9))
        ) > 0
    );
    wait_for_a(server.addr, &name("rcode"), &[&fallback]);
    assert!(
        logged(
            &server,
            "check rcode of dns-rcode: FAIL (rcode NOERROR, expected NXDOMAIN"
        ) > 0
    );
    stays(server.addr, &name("soa"), Rtype::A, &[&p], Duration::from_millis(500));

    drop(upstream);
    wait_for_a(server.addr, &name("soa"), &[&fallback]);
}

/// Whether this process may open an ICMP socket (a ping socket, or a raw
/// one as root).
fn icmp_permitted() -> bool {
    let protocol = Some(socket2::Protocol::ICMPV4);
    [socket2::Type::DGRAM, socket2::Type::RAW]
        .into_iter()
        .any(|kind| socket2::Socket::new(socket2::Domain::IPV4, kind, protocol).is_ok())
}

/// ICMP echo to a loopback address brings an endpoint that starts down up.
#[test]
fn icmp_check_to_loopback() {
    if !icmp_permitted() {
        eprintln!(
            "SKIP icmp_check_to_loopback: ICMP sockets are not permitted \
             (net.ipv4.ping_group_range excludes this group and we are not root)"
        );
        return;
    }
    let net = Net(35);
    let (p, fallback) = (net.addr(2), net.addr(100));
    let body = format!(
        "{}[check.ping]\nkind = \"icmp\"\ncount = 2\nsize = 32\n{TIMING}",
        record("ping", "ping", &p, "ping", ", initial = \"down\"", &fallback)
    );
    let server = serve_env(ORIGIN, &zone_text(""), &body, &[], DEBUG);
    wait_for_passing(&server, "ping", "ping", &p);
    assert_eq!(logged(&server, "endpoint ping is now UP"), 1);
    stays(server.addr, &name("ping"), Rtype::A, &[&p], Duration::from_millis(600));
}
