//! Answer policies end to end (issue 4, DESIGN.md §4): how the answering
//! tier's healthy endpoints are spread over queries (`weighted`,
//! `round_robin`), cut (`first`, `all` with `max_answers`), and what a
//! record answers when every endpoint is down (`all_down` = all, last,
//! backup, none, servfail), seen through real DNS queries while the test
//! makes real checks pass and fail.
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::TempDir;
use common::backends::{Backend, Net, backends_on};
use common::records::*;
use domain::base::iana::Rtype;

const ORIGIN: &str = "pol.test";

/// Answers to `count` queries for `name` A, one after another.
fn answers(server: &common::Lifeline, name: &str, count: usize) -> Vec<Vec<String>> {
    (0..count).map(|_| lookup_a(server.addr, name).addresses).collect()
}

/// How often each address comes first.
fn firsts(answers: &[Vec<String>]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for a in answers {
        *counts.entry(a[0].clone()).or_default() += 1;
    }
    counts
}

/// Asserts that `address` leads `share` of `answers`, within 6 points.
fn assert_share(counts: &HashMap<String, usize>, total: usize, address: &str, share: f64) {
    let got = counts.get(address).copied().unwrap_or(0) as f64 / total as f64;
    assert!(
        (got - share).abs() <= 0.06,
        "{address} leads {got:.3} of {total} answers, expected {share:.3}; all: {counts:?}"
    );
}

/// Weights 3:1 lead answers 3:1; a third endpoint (weight 4) is left out
/// while its check fails and takes half once it passes.
#[test]
fn weighted_spreads_by_weight_among_healthy_endpoints() {
    let net = Net(21);
    let (a, b, c) = (net.addr(2), net.addr(3), net.addr(4));
    let (backends, port) = backends_on(&[net.ip(2), net.ip(3), net.ip(4)]);
    backends[2].set_healthy(false);
    let body = format!(
        r#"[[record]]
name = "api.{ORIGIN}"
type = "A"
policy = "weighted"
max_answers = 1
endpoint = [
  {{ name = "a", address = "{a}", weight = 3, checks = ["web"] }},
  {{ name = "b", address = "{b}", weight = 1, checks = ["web"] }},
  {{ name = "c", address = "{c}", weight = 4, checks = ["web"], initial = "down" }},
]

[[record]]
name = "two.{ORIGIN}"
type = "A"
policy = "weighted"
max_answers = 2
endpoint = [
  {{ name = "a2", address = "{a}", weight = 3, checks = ["web"] }},
  {{ name = "b2", address = "{b}", weight = 1, checks = ["web"] }},
  {{ name = "c2", address = "{c}", weight = 4, checks = ["web"], initial = "down" }},
]

{}"#,
        http_check("web", port)
    );
    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    poll_until_checked(&backends);

    let api = format!("api.{ORIGIN}");
    let seen = answers(&server, &api, 400);
    assert!(seen.iter().all(|a| a.len() == 1), "max_answers = 1");
    let counts = firsts(&seen);
    assert_eq!(counts.get(&c), None, "a failing endpoint is never answered");
    assert_share(&counts, 400, &a, 0.75);
    assert_share(&counts, 400, &b, 0.25);

    let two = format!("two.{ORIGIN}");
    let seen = answers(&server, &two, 400);
    for answer in &seen {
        assert_eq!(answer.len(), 2, "max_answers = 2 of two healthy: {answer:?}");
        assert_ne!(answer[0], answer[1], "no address twice (RFC 2181 §5)");
    }
    let counts = firsts(&seen);
    assert_share(&counts, 400, &a, 0.75);

    backends[2].set_healthy(true);
    wait_until(server.addr, &api, Rtype::A, "including c", |x| {
        x.addresses == [c.as_str()]
    });
    let counts = firsts(&answers(&server, &api, 400));
    assert_share(&counts, 400, &a, 3.0 / 8.0);
    assert_share(&counts, 400, &b, 1.0 / 8.0);
    assert_share(&counts, 400, &c, 4.0 / 8.0);
}

/// Waits until every backend has been probed, so the verdicts reflect
/// their checks rather than the initial states.
fn poll_until_checked(backends: &[Backend]) {
    let done = common::poll_until(CHANGE_WAIT, || backends.iter().all(|b| b.requests() >= 2));
    assert!(done, "every backend is checked");
}

/// Whether `answer` is `take` consecutive members of `ring`, wrapping.
fn is_rotation(answer: &[String], ring: &[&str], take: usize) -> bool {
    let Some(start) = ring.iter().position(|r| *r == answer[0]) else {
        return false;
    };
    answer.len() == take
        && answer
            .iter()
            .enumerate()
            .all(|(i, a)| a == ring[(start + i) % ring.len()])
}

/// Round robin: every answer is the healthy endpoints in a rotated order,
/// the next query the next rotation; a failing endpoint drops out of it.
#[test]
fn round_robin_rotates_the_order_across_queries() {
    let net = Net(22);
    let (a, b, c) = (net.addr(2), net.addr(3), net.addr(4));
    let (backends, port) = backends_on(&[net.ip(2), net.ip(3), net.ip(4)]);
    let body = format!(
        r#"[[record]]
name = "rr.{ORIGIN}"
type = "A"
ttl = 10
policy = "round_robin"
endpoint = [
  {{ name = "a", address = "{a}", checks = ["web"] }},
  {{ name = "b", address = "{b}", checks = ["web"] }},
  {{ name = "c", address = "{c}", checks = ["web"] }},
]

[[record]]
name = "rr2.{ORIGIN}"
type = "A"
policy = "round_robin"
max_answers = 2
endpoint = [
  {{ name = "a2", address = "{a}", checks = ["web"] }},
  {{ name = "b2", address = "{b}", checks = ["web"] }},
  {{ name = "c2", address = "{c}", checks = ["web"] }},
]

{}"#,
        http_check("web", port)
    );
    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    poll_until_checked(&backends);
    let ring = [a.as_str(), b.as_str(), c.as_str()];

    for (name, take) in [(format!("rr.{ORIGIN}"), 3), (format!("rr2.{ORIGIN}"), 2)] {
        let seen = answers(&server, &name, 30);
        for answer in &seen {
            assert!(
                is_rotation(answer, &ring, take),
                "{name}: {answer:?} is not a rotation of {ring:?}"
            );
        }
        // One UDP worker: consecutive queries take consecutive rotations.
        for pair in seen.windows(2) {
            assert_ne!(
                pair[0][0], pair[1][0],
                "{name}: the order rotates from one query to the next"
            );
        }
        let counts = firsts(&seen);
        assert_eq!(counts.len(), 3, "{name}: every endpoint leads some answers: {counts:?}");
        assert!(counts.values().all(|&n| n == 10), "{name}: evenly: {counts:?}");
    }
    assert_eq!(lookup_a(server.addr, &format!("rr.{ORIGIN}")).ttl(), 10);

    backends[1].set_healthy(false);
    let rr = format!("rr.{ORIGIN}");
    wait_until(server.addr, &rr, Rtype::A, "without b", |x| x.addresses.len() == 2);
    let seen = answers(&server, &rr, 20);
    let ring = [a.as_str(), c.as_str()];
    for answer in &seen {
        assert!(is_rotation(answer, &ring, 2), "{answer:?} rotates a and c only");
    }
    assert_eq!(firsts(&seen).len(), 2);
}

/// `first` answers the first healthy endpoint's addresses only (cut to
/// `max_answers`), then the next endpoint's when it fails.
#[test]
fn first_answers_the_first_healthy_endpoint() {
    let net = Net(23);
    let (a, a_too, b) = (net.addr(2), net.addr(5), net.addr(3));
    let (backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let body = format!(
        r#"[[record]]
name = "first.{ORIGIN}"
type = "A"
ttl = 60
ttl_degraded = 6
policy = "first"
endpoint = [
  {{ name = "a", addresses = ["{a}", "{a_too}"], target = "{a}", checks = ["web"] }},
  {{ name = "b", address = "{b}", checks = ["web"] }},
]

[[record]]
name = "first1.{ORIGIN}"
type = "A"
policy = "first"
max_answers = 1
endpoint = [
  {{ name = "a1", addresses = ["{a}", "{a_too}"], target = "{a}", checks = ["web"] }},
  {{ name = "b1", address = "{b}", checks = ["web"] }},
]

{}"#,
        http_check("web", port)
    );
    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    poll_until_checked(&backends);
    let first = format!("first.{ORIGIN}");
    let first1 = format!("first1.{ORIGIN}");
    let answer = lookup_a(server.addr, &first);
    assert!(answer.is(&[&a, &a_too]), "the first endpoint's addresses: {answer:?}");
    assert_eq!(answer.ttl(), 60);
    assert!(lookup_a(server.addr, &first1).is(&[&a]), "cut to max_answers");

    backends[0].set_healthy(false);
    let answer = wait_for_a(server.addr, &first, &[&b]);
    assert_eq!(answer.ttl(), 6, "degraded: an endpoint of the tier is down");
    wait_for_a(server.addr, &first1, &[&b]);
}

/// `all` answers every healthy endpoint of the tier in configuration
/// order, cut to `max_answers`: when one fails the next moves up.
#[test]
fn all_answers_healthy_endpoints_up_to_max_answers() {
    let net = Net(24);
    let ips: Vec<String> = (2..=5).map(|h| net.addr(h)).collect();
    let (backends, port) = backends_on(&(2..=5).map(|h| net.ip(h)).collect::<Vec<_>>());
    let endpoints: Vec<String> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("  {{ name = \"e{i}\", address = \"{ip}\", checks = [\"web\"] }},\n"))
        .collect();
    let body = format!(
        "[[record]]\nname = \"all.{ORIGIN}\"\ntype = \"A\"\nttl = 40\nttl_degraded = 8\npolicy = \"all\"\n\
         max_answers = 2\nendpoint = [\n{}]\n\n{}",
        endpoints.concat(),
        http_check("web", port)
    );
    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    poll_until_checked(&backends);
    let name = format!("all.{ORIGIN}");
    let answer = lookup_a(server.addr, &name);
    assert!(answer.is(&[&ips[0], &ips[1]]), "{answer:?}");
    assert_eq!(answer.ttl(), 40);
    stays(
        server.addr,
        &name,
        Rtype::A,
        &[&ips[0], &ips[1]],
        Duration::from_millis(200),
    );

    backends[0].set_healthy(false);
    let answer = wait_for_a(server.addr, &name, &[&ips[1], &ips[2]]);
    assert_eq!(answer.ttl(), 8);
    backends[0].set_healthy(true);
    let answer = wait_for_a(server.addr, &name, &[&ips[0], &ips[1]]);
    assert_eq!(answer.ttl(), 40);
}

/// Every `all_down` policy on one server. Each record has a primary
/// (check `p`) and a backup tier (check `b`): exec checks that pass while
/// a flag file exists. With only the primaries down every record answers
/// its backup; with both down each answers as its policy says; with the
/// primaries back, every record answers them again.
#[test]
fn every_all_down_policy() {
    let net = Net(25);
    let (p, b, fixed) = (net.addr(2), net.addr(3), net.addr(53));
    let flags = TempDir::new();
    let p_flag = flags.write("primary-up", "");
    let b_flag = flags.write("backup-up", "");
    let mut body = String::new();
    for policy in ["all", "last", "backup", "none", "servfail"] {
        let backup = if policy == "backup" {
            format!("backup = [\"{fixed}\"]\n")
        } else {
            String::new()
        };
        body.push_str(&format!(
            r#"[[record]]
name = "{policy}.{ORIGIN}"
type = "A"
ttl = 30
ttl_degraded = 3
all_down = "{policy}"
{backup}endpoint = [
  {{ name = "{policy}-p", address = "{p}", priority = 1, checks = ["p"] }},
  {{ name = "{policy}-b", address = "{b}", priority = 2, checks = ["b"] }},
]

"#
        ));
    }
    for (check, flag) in [("p", &p_flag), ("b", &b_flag)] {
        body.push_str(&format!(
            "[check.{check}]\nkind = \"exec\"\ncommand = \"test\"\nargs = [\"-e\", \"{}\"]\n\
             interval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2\n\n",
            flag.display()
        ));
    }
    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    let name = |policy: &str| format!("{policy}.{ORIGIN}");
    let policies = ["all", "last", "backup", "none", "servfail"];
    for policy in policies {
        assert!(lookup_a(server.addr, &name(policy)).is(&[&p]));
    }

    std::fs::remove_file(&p_flag).unwrap();
    for policy in policies {
        let answer = wait_for_a(server.addr, &name(policy), &[&b]);
        assert_eq!(answer.ttl(), 3, "{policy}: failed over");
    }
    for policy in policies {
        lookup_everywhere(server.addr, &name(policy), Rtype::A);
    }

    std::fs::remove_file(&b_flag).unwrap();
    let all = wait_for_a(server.addr, &name("all"), &[&p, &b]);
    assert_eq!(all.ttl(), 3, "all: every endpoint, fail open, degraded TTL");
    let backup = wait_for_a(server.addr, &name("backup"), &[&fixed]);
    assert_eq!(backup.ttl(), 3, "backup: the fixed addresses");
    let none = wait_until(server.addr, &name("none"), Rtype::A, "NODATA", |a| {
        a.rcode == "NOERROR" && a.records.is_empty()
    });
    assert_eq!(
        none.authority.len(),
        1,
        "NODATA carries the SOA (RFC 2308 §2.2): {none:?}"
    );
    assert!(
        none.authority[0].starts_with(&format!("{ORIGIN}. 5 IN SOA ")),
        "{none:?}"
    );
    let soa_serial: u32 = none.authority[0].split(' ').nth(6).unwrap().parse().unwrap();
    assert_eq!(
        soa_serial,
        serial(server.addr, ORIGIN),
        "the NODATA's SOA is the current one"
    );
    assert!(soa_serial > 1, "answer changes moved the serial on from the file's 1");
    let servfail = wait_until(server.addr, &name("servfail"), Rtype::A, "SERVFAIL", |a| {
        a.rcode == "SERVFAIL"
    });
    assert!(servfail.records.is_empty());
    // `last` has nothing to change to: it keeps the last healthy answer,
    // the backup, while everything is down (the others changed already).
    stays(server.addr, &name("last"), Rtype::A, &[&b], Duration::from_millis(600));
    assert_eq!(lookup_a(server.addr, &name("last")).ttl(), 3);
    let line = format!("answer of last.{ORIGIN}/A");
    assert_eq!(logged(&server, &line), 1, "last: only the failover changed its answer");
    assert_eq!(
        logged(
            &server,
            &format!("answer of none.{ORIGIN}/A: {b} (TTL 3, tier 2) -> NODATA (TTL 3)")
        ),
        1
    );
    // The same on every transport, and for AAAA (no such records: NODATA).
    for policy in policies {
        lookup_everywhere(server.addr, &name(policy), Rtype::A);
        let aaaa = lookup_everywhere(server.addr, &name(policy), Rtype::AAAA);
        assert!(
            aaaa.rcode == "NOERROR" && aaaa.records.is_empty(),
            "{policy} AAAA: {aaaa:?}"
        );
    }

    std::fs::write(&p_flag, "").unwrap();
    for policy in policies {
        let answer = wait_for_a(server.addr, &name(policy), &[&p]);
        assert_eq!(answer.ttl(), 30, "{policy}: back on the best tier");
    }
}
