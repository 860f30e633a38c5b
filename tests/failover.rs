//! Failover end to end (issue 4, "How it is checked"): the real binary
//! checks HTTP backends the test runs on loopback, and real DNS queries see
//! the answer move to the backup tier when the primary fails (HTTP 503 or
//! connection refused), come back after `failback_hold` (auto) or stay on
//! the backup (manual), with `ttl_degraded` while failed over; a CNAME to
//! the record follows it, the zone's SOA serial moves with every change,
//! and a reload keeps what the checks already know.
//!
//! Checks run every 100 ms with `fall = 2`, so detection takes a few
//! hundred milliseconds; every wait has a deadline ([`CHANGE_WAIT`]), and
//! "not before" assertions keep a margin.
mod common;

use std::time::{Duration, Instant};

use common::backends::{Backend, Net, backends_on};
use common::records::*;
use common::*;
use domain::base::iana::Rtype;

const ORIGIN: &str = "fo.test";
const WWW: &str = "www.fo.test";

/// A primary (tier 1) and a backup (tier 2) behind one HTTP check, with
/// the failback given (e.g. `failback = "auto"\nfailback_hold = "2s"`).
fn failover_body(net: Net, port: u16, failback: &str) -> String {
    format!(
        r#"[[record]]
name = "{WWW}"
type = "A"
ttl = 30
ttl_degraded = 5
policy = "all"
{failback}
endpoint = [
  {{ name = "primary", address = "{primary}", priority = 1, checks = ["web"] }},
  {{ name = "backup", address = "{backup}", priority = 2, checks = ["web"] }},
]

{check}"#,
        primary = net.addr(2),
        backup = net.addr(3),
        check = http_check("web", port),
    )
}

/// The two backends and a server checking them.
fn start(net: Net, failback: &str, zone_extra: &str) -> (Backend, Backend, Lifeline) {
    let (mut backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let backup = backends.pop().unwrap();
    let primary = backends.pop().unwrap();
    let server = serve(ORIGIN, &zone_text(zone_extra), &failover_body(net, port, failback), &[]);
    (primary, backup, server)
}

/// The log line of an answer change, as `publish` words it.
fn answer_change(old: &str, new: &str) -> String {
    format!("answer of {WWW}/A: {old} -> {new}")
}

#[test]
fn failover_to_the_backup_on_http_503_with_ttl_degraded() {
    let net = Net(11);
    let (p, b) = (net.addr(2), net.addr(3));
    let (primary, backup, server) = start(net, "failback = \"auto\"", "");
    let first = lookup_a(server.addr, WWW);
    assert!(first.is(&[&p]), "the primary answers while healthy: {first:?}");
    assert_eq!(first.ttl(), 30, "the full TTL while nothing is wrong");
    poll_until(CHANGE_WAIT, || primary.requests() >= 3 && backup.requests() >= 3);
    assert!(
        primary.requests() >= 3 && backup.requests() >= 3,
        "both endpoints are checked"
    );
    stays(server.addr, WWW, Rtype::A, &[&p], Duration::from_millis(300));

    primary.set_healthy(false);
    let failed_over = wait_for_a(server.addr, WWW, &[&b]);
    assert_eq!(failed_over.ttl(), 5, "ttl_degraded while failed over");
    assert_eq!(logged(&server, "endpoint primary is now DOWN"), 1);
    let line = answer_change(&format!("{p} (TTL 30, tier 1)"), &format!("{b} (TTL 5, tier 2)"));
    assert_eq!(
        logged(&server, &line),
        1,
        "the change is logged with old and new answer"
    );
    assert!(
        server.log_lines(&line)[0].contains("down: primary"),
        "the cause names the endpoint"
    );

    primary.set_healthy(true);
    let back = wait_for_a(server.addr, WWW, &[&p]);
    assert_eq!(back.ttl(), 30, "the full TTL again on the best tier");
    assert_eq!(logged(&server, "endpoint primary is now UP"), 1);
    assert_eq!(logged(&server, &answer_change(&format!("{b} (TTL 5, tier 2)"), &p)), 1);
}

#[test]
fn failover_to_the_backup_when_the_primary_refuses_connections() {
    let net = Net(12);
    let (p, b) = (net.addr(2), net.addr(3));
    let (mut primary, _backup, server) = start(net, "failback = \"auto\"", "");
    assert!(lookup_a(server.addr, WWW).is(&[&p]));

    primary.stop();
    let refused = poll_until(CHANGE_WAIT, || {
        std::net::TcpStream::connect((net.ip(2), primary.port())).is_err()
    });
    assert!(refused, "a stopped backend refuses connections");
    let failed_over = wait_for_a(server.addr, WWW, &[&b]);
    assert_eq!(failed_over.ttl(), 5);
    assert_eq!(logged(&server, "endpoint primary is now DOWN"), 1);

    primary.restart();
    let back = wait_for_a(server.addr, WWW, &[&p]);
    assert_eq!(back.ttl(), 30);
}

/// With a 2 s hold the answer stays on the backup for the hold after the
/// primary is back up, then returns. The hold starts when the server sees
/// the primary pass again, which is after the test made it healthy, less
/// at most one check's run time (the check that passes may have started
/// just before): so the return must come at least the hold, less that
/// check timeout, after the test made the primary healthy.
#[test]
fn automatic_failback_only_after_the_hold() {
    const HOLD: Duration = Duration::from_secs(2);
    const CHECK_TIMEOUT: Duration = Duration::from_millis(80);
    let net = Net(13);
    let (p, b) = (net.addr(2), net.addr(3));
    let (primary, _backup, server) = start(net, "failback = \"auto\"\nfailback_hold = \"2s\"", "");
    assert!(lookup_a(server.addr, WWW).is(&[&p]));
    primary.set_healthy(false);
    wait_for_a(server.addr, WWW, &[&b]);

    let healthy_at = Instant::now();
    primary.set_healthy(true);
    wait_for_log(&server, "endpoint primary is now UP", 0);
    // Not before the hold: still the backup, with the degraded TTL, until
    // well into it.
    let window = (HOLD - CHECK_TIMEOUT - Duration::from_millis(200)).saturating_sub(healthy_at.elapsed());
    stays(server.addr, WWW, Rtype::A, &[&b], window);
    assert_eq!(lookup_a(server.addr, WWW).ttl(), 5, "still failed over during the hold");

    let back = wait_for_a(server.addr, WWW, &[&p]);
    let after = healthy_at.elapsed();
    assert!(
        after + CHECK_TIMEOUT >= HOLD,
        "failed back {after:?} after the primary was healthy again, before the {HOLD:?} hold"
    );
    assert_eq!(back.ttl(), 30);
    assert_eq!(logged(&server, &answer_change(&format!("{b} (TTL 5, tier 2)"), &p)), 1);
}

/// Manual failback: once the primary is healthy again the answer stays on
/// the backup (the operator's command comes with a later issue) until the
/// backup itself fails.
#[test]
fn manual_failback_stays_on_the_backup_until_it_fails() {
    let net = Net(14);
    let (p, b) = (net.addr(2), net.addr(3));
    let (primary, backup, server) = start(net, "failback = \"manual\"", "");
    assert!(lookup_a(server.addr, WWW).is(&[&p]));
    primary.set_healthy(false);
    wait_for_a(server.addr, WWW, &[&b]);

    let ups = server.log_count("endpoint primary is now UP");
    primary.set_healthy(true);
    wait_for_log(&server, "endpoint primary is now UP", ups);
    // Fifteen check intervals and more: an automatic failback with no hold
    // would have happened long before.
    stays(server.addr, WWW, Rtype::A, &[&b], Duration::from_millis(1500));
    assert_eq!(lookup_a(server.addr, WWW).ttl(), 5);

    backup.set_healthy(false);
    let back = wait_for_a(server.addr, WWW, &[&p]);
    assert_eq!(back.ttl(), 30, "the best tier again, nothing of it down");
    assert_eq!(logged(&server, "endpoint backup is now DOWN"), 1);
}

/// A reload with the primary down keeps its DOWN verdict (its check is
/// unchanged): the answer stays on the backup, never flapping to the
/// primary as a fresh start (initial state up) would, and the zone's
/// serial does not go back to the file's.
#[test]
fn reload_keeps_the_verdict_of_an_unchanged_endpoint() {
    let net = Net(15);
    let (p, b) = (net.addr(2), net.addr(3));
    let (primary, _backup, server) = start(net, "failback = \"auto\"", "");
    primary.set_healthy(false);
    wait_for_a(server.addr, WWW, &[&b]);
    let serial_before = serial(server.addr, ORIGIN);
    let answers_before = logged(&server, &format!("answer of {WWW}/A"));

    std::fs::write(
        server.dir().join(format!("{ORIGIN}.zone")),
        zone_text("new 60 IN A 127.0.0.99\n"),
    )
    .unwrap();
    let reloads = server.log_count("reloaded");
    server.sighup();
    let reloaded_at = wait_for_log(&server, "reloaded", reloads);
    assert_eq!(
        lookup_a(server.addr, "new.fo.test").addresses,
        ["127.0.0.99"],
        "the reload happened"
    );
    // Right after the reload, and for many check intervals.
    stays(server.addr, WWW, Rtype::A, &[&b], Duration::from_millis(1000));
    assert!(reloaded_at.elapsed() >= Duration::from_millis(1000));
    assert_eq!(server.log_count("endpoint primary is now UP"), 0, "no flap to up");
    assert_eq!(
        logged(&server, &format!("answer of {WWW}/A")),
        answers_before,
        "no answer change"
    );
    let serial_after = serial(server.addr, ORIGIN);
    assert!(
        serial_after >= serial_before,
        "the serial never goes back after a reload ({serial_before} -> {serial_after}), e.g. to the file's 1"
    );

    primary.set_healthy(true);
    wait_for_a(server.addr, WWW, &[&p]);
}

/// A CNAME in the zone file pointing at the health-checked name is
/// answered with the record's current addresses, and every answer change
/// bumps the zone's SOA serial (secondaries and caches see a new version).
#[test]
fn cname_follows_the_change_and_the_serial_increases() {
    let net = Net(16);
    let (p, b) = (net.addr(2), net.addr(3));
    let (primary, _backup, server) = start(net, "failback = \"auto\"", "alias 120 IN CNAME www\n");
    let alias = lookup_a(server.addr, "alias.fo.test");
    assert_eq!(alias.records[0], "alias.fo.test. 120 IN CNAME www.fo.test.");
    assert_eq!(alias.addresses, [p.as_str()]);
    assert_eq!(alias.ttl(), 30);
    let serial0 = serial(server.addr, ORIGIN);

    primary.set_healthy(false);
    wait_until(
        server.addr,
        "alias.fo.test",
        Rtype::A,
        "the backup via the CNAME",
        |a| a.addresses == [b.as_str()],
    );
    let alias = lookup_a(server.addr, "alias.fo.test");
    assert_eq!(alias.records[0], "alias.fo.test. 120 IN CNAME www.fo.test.");
    assert_eq!(alias.ttl(), 5);
    assert_eq!(
        serial(server.addr, ORIGIN),
        serial0.wrapping_add(1),
        "one change, one serial step"
    );
    lookup_everywhere(server.addr, "alias.fo.test", Rtype::A);
    // Negative answers carry the SOA with the new serial too, from every
    // path (prebuilt NXDOMAIN, NODATA, TCP).
    for (name, rtype, rcode) in [("nope.fo.test", Rtype::A, "NXDOMAIN"), (WWW, Rtype::TXT, "NOERROR")] {
        let negative = lookup_everywhere(server.addr, name, rtype);
        assert_eq!(negative.rcode, rcode);
        let soa_serial = negative.authority[0].split(' ').nth(6).unwrap();
        assert_eq!(
            soa_serial,
            serial0.wrapping_add(1).to_string(),
            "{name} {rtype}: {negative:?}"
        );
    }

    primary.set_healthy(true);
    wait_until(
        server.addr,
        "alias.fo.test",
        Rtype::A,
        "the primary via the CNAME",
        |a| a.addresses == [p.as_str()],
    );
    assert_eq!(serial(server.addr, ORIGIN), serial0.wrapping_add(2));
}

/// AAAA records with a check `target`: the answered addresses are
/// documentation addresses nobody connects to, the probes go to backends
/// on ::1, one port each.
#[test]
fn aaaa_failover_probing_a_target_on_ipv6_loopback() {
    let listen = || std::net::TcpListener::bind("[::1]:0").expect("IPv6 loopback");
    let primary = Backend::http(listen());
    let backup = Backend::http(listen());
    let body = format!(
        r#"[[record]]
name = "v6.fo.test"
type = "AAAA"
ttl = 20
ttl_degraded = 4
endpoint = [
  {{ name = "v6-primary", address = "2001:db8::1", target = "::1", priority = 1, checks = ["primary"] }},
  {{ name = "v6-backup", address = "2001:db8::2", target = "::1", priority = 2, checks = ["backup"] }},
]

{}{}"#,
        http_check("primary", primary.port()),
        http_check("backup", backup.port())
    );
    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    let first = lookup(server.addr, "v6.fo.test", Rtype::AAAA);
    assert!(first.is(&["2001:db8::1"]), "{first:?}");
    assert_eq!(first.ttl(), 20);
    assert!(
        lookup_a(server.addr, "v6.fo.test").addresses.is_empty(),
        "no A records: NODATA"
    );

    poll_until(CHANGE_WAIT, || primary.requests() > 0 && backup.requests() > 0);
    assert!(
        primary.requests() > 0 && backup.requests() > 0,
        "the targets on ::1 are probed"
    );
    primary.set_healthy(false);
    let failed_over = wait_until(server.addr, "v6.fo.test", Rtype::AAAA, "the backup", |a| {
        a.is(&["2001:db8::2"])
    });
    assert_eq!(failed_over.ttl(), 4);
}

/// A reload that changes the primary's check (its timeout here) starts
/// that check's evidence over, from the endpoint's current verdict: the
/// primary, down, stays down and the answer on the backup.
#[test]
fn reload_with_a_changed_check_keeps_a_down_endpoint_down() {
    let net = Net(17);
    let (p, b) = (net.addr(2), net.addr(3));
    let (primary, _backup, server) = start(net, "failback = \"auto\"", "");
    primary.set_healthy(false);
    wait_for_a(server.addr, WWW, &[&b]);

    let path = server.dir().join("lifeline.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, config.replace("timeout = \"80ms\"", "timeout = \"90ms\"")).unwrap();
    let reloads = server.log_count("reloaded");
    server.sighup();
    wait_for_log(&server, "reloaded", reloads);
    stays(server.addr, WWW, Rtype::A, &[&b], Duration::from_millis(1000));
    assert_eq!(server.log_count("endpoint primary is now UP"), 0, "no flap to up");

    primary.set_healthy(true);
    wait_for_a(server.addr, WWW, &[&p]);
}

/// Issue 4 §3: every answer change bumps the zone's serial and emits an
/// event. A reload that changes what a record answers (here an endpoint's
/// address) serves the new answer but logs no answer event (the reload
/// path in `src/app/health.rs` swaps in the new answer sets without
/// comparing them with the old ones), and, with the zone file's serial
/// unchanged, keeps the served serial (`continued_serials`).
#[test]
fn reload_that_changes_an_answer_moves_the_serial_and_logs_it() {
    let net = Net(18);
    let body = |address: &str| {
        format!(
            "[[record]]\nname = \"fixed.{ORIGIN}\"\ntype = \"A\"\n\
             endpoint = [ {{ name = \"fixed\", address = \"{address}\" }} ]\n"
        )
    };
    let server = serve(ORIGIN, &zone_text(""), &body(&net.addr(2)), &[]);
    assert!(lookup_a(server.addr, "fixed.fo.test").is(&[&net.addr(2)]));
    let serial_before = serial(server.addr, ORIGIN);

    let path = server.dir().join("lifeline.toml");
    std::fs::write(&path, config(ORIGIN, &body(&net.addr(3)))).unwrap();
    server.sighup();
    wait_for_a(server.addr, "fixed.fo.test", &[&net.addr(3)]);
    let serial_after = serial(server.addr, ORIGIN);
    assert!(
        serial_after > serial_before,
        "the answer changed, the serial did not: {serial_after}"
    );
    let line = format!(
        "answer of fixed.{ORIGIN}/A: {} (TTL 30, tier 1) -> {} (TTL 30, tier 1)",
        net.addr(2),
        net.addr(3)
    );
    assert_eq!(logged(&server, &line), 1, "the change is an event");
}
