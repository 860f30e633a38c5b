//! `lifeline plan` (issue 4 §5): per record its tiers, the worst-case time
//! until clients move, the load its TTL implies, and with `--down` what it
//! would answer with those endpoints down — which must be what the server
//! then answers when they do go down.
mod common;

use std::time::Duration;

use common::backends::{Net, backends_on};
use common::records::*;
use common::{TempDir, run_lifeline};

const ORIGIN: &str = "plan.test";

/// Two records: a failover pair checked over HTTP on `port`, and a
/// weighted pair that answers NODATA when both are down.
fn body(net: Net, port: u16) -> String {
    format!(
        r#"[[record]]
name = "www.{ORIGIN}"
type = "A"
ttl = 30
ttl_degraded = 10
failback = "auto"
failback_hold = "30s"
endpoint = [
  {{ name = "web-a", address = "{a}", priority = 1, checks = ["web"] }},
  {{ name = "web-b", address = "{b}", priority = 2, checks = ["web"] }},
]

[[record]]
name = "api.{ORIGIN}"
type = "A"
ttl = 20
policy = "weighted"
all_down = "none"
endpoint = [
  {{ name = "api-a", address = "{c}", weight = 3, checks = ["web"] }},
  {{ name = "api-b", address = "{d}", checks = ["web"] }},
]

[check.web]
kind = "http"
port = {port}
interval = "1s"
timeout = "500ms"
rise = 2
fall = 2
"#,
        a = net.addr(2),
        b = net.addr(3),
        c = net.addr(4),
        d = net.addr(5),
    )
}

/// Runs `lifeline plan --config FILE ARGS`; returns its stdout, or fails
/// with its stderr.
fn plan(config: &str, args: &[&str]) -> String {
    let dir = TempDir::new();
    dir.write(&format!("{ORIGIN}.zone"), &zone_text(""));
    let path = dir.write("lifeline.toml", config);
    let mut all = vec!["plan", "--config", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let done = run_lifeline(&all, Duration::from_secs(20));
    assert!(done.status.success(), "plan failed: {}", done.stderr);
    done.stdout
}

#[test]
fn plan_prints_tiers_timing_and_load() {
    let net = Net(41);
    let out = plan(&config(ORIGIN, &body(net, 8080)), &[]);
    for line in [
        "www.plan.test. A: TTL 30s, 10s while failed over or degraded".to_string(),
        "automatic failback after 30.0s; all down: every endpoint (fail open)".into(),
        format!("  tier 1: web-a {} [web]", net.addr(2)),
        format!("  tier 2: web-b {} [web]", net.addr(3)),
        // interval × fall + timeout = 2.5 s, then the TTL.
        "  clients move within 32.5s of a failure: detection 2.5s".into(),
        "  load per 10k resolvers: 333 queries/s, 1000 queries/s while degraded".into(),
        "api.plan.test. A: TTL 20s".into(),
        format!(
            "  tier 1: api-a {} weight 3 [web]; api-b {} [web]",
            net.addr(4),
            net.addr(5)
        ),
        // NODATA is cached for the zone's negative TTL (RFC 2308 §5): 5 s.
        "  clients move within 27.5s of a failure: detection 2.5s".into(),
        " + TTL 20s + negative TTL 5s\n".into(),
        "  load per 10k resolvers: 500 queries/s".into(),
    ] {
        assert!(out.contains(&line), "plan output lacks {line:?}:\n{out}");
    }
    assert!(!out.contains("  with "), "no --down, no what-if:\n{out}");
}

#[test]
fn plan_down_shows_answers_before_it_happens() {
    let net = Net(42);
    let out = plan(&config(ORIGIN, &body(net, 8080)), &["--down", "web-a,api-a,api-b"]);
    let expected = [
        format!(
            "  with web-a, api-a, api-b down: {} (Fixed), tier 2, TTL 10s, rule BestHealthy",
            net.addr(3)
        ),
        "  with web-a, api-a, api-b down: NODATA, no tier, TTL 20s, rule AllDown(None)".into(),
    ];
    for line in expected {
        assert!(out.contains(&line), "plan output lacks {line:?}:\n{out}");
    }
    let out = plan(
        &config(ORIGIN, &body(net, 8080)),
        &["--down", "web-a", "--down", "web-b"],
    );
    let all = format!(
        "  with web-a, web-b down: {}, {} (Fixed), no tier, TTL 10s",
        net.addr(2),
        net.addr(3)
    );
    assert!(out.contains(&all), "both down: every endpoint (all_down = all):\n{out}");

    let dir = TempDir::new();
    dir.write(&format!("{ORIGIN}.zone"), &zone_text(""));
    let path = dir.write("lifeline.toml", &config(ORIGIN, &body(net, 8080)));
    let done = run_lifeline(
        &["plan", "--config", path.to_str().unwrap(), "--down", "web-z"],
        Duration::from_secs(20),
    );
    assert!(!done.status.success());
    assert!(
        done.stderr
            .contains("--down web-z: no endpoint of that name (defined: web-a, web-b, api-a, api-b)"),
        "{}",
        done.stderr
    );
}

/// What `plan --down web-a` predicts is what the server answers once
/// web-a's check fails.
#[test]
fn plan_down_matches_what_the_server_then_answers() {
    let net = Net(43);
    let (backends, port) = backends_on(&[net.ip(2), net.ip(3), net.ip(4), net.ip(5)]);
    let body = body(net, port)
        .replace("interval = \"1s\"", "interval = \"100ms\"")
        .replace("timeout = \"500ms\"\nrise = 2", "timeout = \"80ms\"\nrise = 1");
    let out = plan(&config(ORIGIN, &body), &["--down", "web-a"]);
    let predicted = out
        .lines()
        .find_map(|l| l.strip_prefix("  with web-a down: "))
        .expect("a what-if line");
    let (addresses, rest) = predicted.split_once(" (Fixed), ").expect("a fixed answer");
    let ttl: u32 = rest
        .split("TTL ")
        .nth(1)
        .unwrap()
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let server = serve(ORIGIN, &zone_text(""), &body, &[]);
    backends[0].set_healthy(false);
    let answer = wait_for_a(server.addr, &format!("www.{ORIGIN}"), &[addresses]);
    assert_eq!(answer.ttl(), ttl, "the TTL the plan predicted");
}

/// A dual-stack record: plan shows each family as its own record with
/// NAME/v4 and NAME/v6 endpoints, and with `together` one family down
/// takes the endpoint out of both answers.
#[test]
fn plan_of_a_dual_stack_record_shows_both_families() {
    let body = |families: &str| {
        format!(
            r#"[[record]]
name = "ds.{ORIGIN}"
type = ["A", "AAAA"]
families = "{families}"
endpoint = [
  {{ name = "web1", addresses = ["127.0.44.2", "::1"], priority = 1 }},
  {{ name = "web2", addresses = ["127.0.44.3", "::ffff:127.0.44.3"], priority = 2 }},
]
"#
        )
    };
    let together = plan(&config(ORIGIN, &body("together")), &["--down", "web1/v6"]);
    for line in [
        "ds.plan.test. A: TTL 30s",
        "ds.plan.test. AAAA: TTL 30s",
        "  dual-stack, each family checked at its own address: counts an endpoint up only while all of its families are up",
        "  tier 1: web1/v4 127.0.44.2 []",
        "  tier 1: web1/v6 ::1 []",
        "  with web1/v6 down: 127.0.44.3 (Fixed), tier 2",
        "  with web1/v6 down: ::ffff:127.0.44.3 (Fixed), tier 2",
    ] {
        assert!(together.contains(line), "missing {line:?} in:\n{together}");
    }
    let independent = plan(&config(ORIGIN, &body("independent")), &["--down", "web1/v6"]);
    for line in [
        "follows this family's verdicts only (families = \"independent\")",
        "  with web1/v6 down: 127.0.44.2 (Fixed), tier 1",
        "  with web1/v6 down: ::ffff:127.0.44.3 (Fixed), tier 2",
    ] {
        assert!(independent.contains(line), "missing {line:?} in:\n{independent}");
    }
}
