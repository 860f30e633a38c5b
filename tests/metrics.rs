//! `/metrics` of the real binary after real traffic: queries of several
//! types over UDP and TCP are counted by transport, type and RCODE; the
//! per-check verdicts, the checker's liveness and the breaker are there
//! with sensible values; every metric is in docs/api.md; and every metric
//! the Grafana dashboard
//! (`contrib/grafana/lifeline.json`) and the alert rules
//! (`contrib/prometheus/lifeline-alerts.yml`) use exists in a scrape, so
//! neither can drift from the server. `promtool` (Debian's prometheus)
//! checks the scrape and the rules when it is installed.
mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use domain::base::iana::Rtype;

use common::api::get;
use common::backends::{Backend, Net, backends_on};
use common::records::*;
use common::*;

const ORIGIN: &str = "metrics.test";
const WWW: &str = "www.metrics.test";

/// A server with one health-checked record behind an HTTP check that
/// passes, a static MX and TXT, and its API on a free port.
fn start(net: Net) -> (Backend, Lifeline, SocketAddr) {
    let (mut backends, port) = backends_on(&[net.ip(2)]);
    let body = format!(
        "[[record]]\nname = \"{WWW}\"\ntype = \"A\"\nendpoint = [{{ name = \"web-a\", address = \"{a}\", checks = [\"web\"] }}]\n\n{check}",
        a = net.addr(2),
        check = http_check("web", port),
    );
    let zone = zone_text("@ IN MX 10 ns1\n@ IN TXT \"v=spf1 -all\"\n");
    let files = [("metrics.test.zone", zone.as_str())];
    let server = Lifeline::with_config_args(&config(ORIGIN, &body), &files, &["--api", "127.0.0.1:0"], &[]);
    let api = server.api.expect("the server prints where its API listens");
    let checked = poll_until(CHANGE_WAIT, || {
        scrape(api).contains("lifeline_check_up{endpoint=\"web-a\",check=\"web\"} 1")
    });
    assert!(checked, "the check reports: {}", scrape(api));
    (backends.pop().unwrap(), server, api)
}

fn scrape(api: SocketAddr) -> String {
    let reply = get(api, "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The value of the sample written exactly `series` (name and labels).
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until the sample `series` has the value `want`; fails with the
/// scrape otherwise.
fn wait_for(api: SocketAddr, series: &str, want: f64) {
    let mut last = String::new();
    let reached = poll_until(CHANGE_WAIT, || {
        last = scrape(api);
        value(&last, series) == Some(want)
    });
    assert!(reached, "{series} never became {want}:\n{last}");
}

#[test]
fn queries_are_counted_by_transport_type_and_rcode() {
    let (_backend, server, api) = start(Net(91));
    let addr = server.addr;
    let mut udp_queries = vec![(WWW, Rtype::A); 3];
    udp_queries.extend([
        (WWW, Rtype::AAAA),
        (ORIGIN, Rtype::MX),
        (ORIGIN, Rtype::MX),
        (ORIGIN, Rtype::TXT),
        (ORIGIN, Rtype::SOA),
        (ORIGIN, Rtype::HINFO),
        ("nope.metrics.test", Rtype::A),
        ("nope.metrics.test", Rtype::A),
    ]);
    for (name, rtype) in &udp_queries {
        let reply = udp(addr, &q(name, *rtype));
        let want = if name.starts_with("nope") {
            "NXDOMAIN"
        } else {
            "NOERROR"
        };
        assert_eq!(reply.rcode(), want, "{name} {rtype}");
    }
    for (name, rtype) in [
        (WWW, Rtype::A),
        (WWW, Rtype::A),
        (ORIGIN, Rtype::MX),
        ("no.metrics.test", Rtype::A),
    ] {
        tcp(addr, &q(name, rtype));
    }

    for (series, want) in [
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"A\"}", 5.0),
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"AAAA\"}", 1.0),
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"MX\"}", 2.0),
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"TXT\"}", 1.0),
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"SOA\"}", 1.0),
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"other\"}", 1.0),
        ("lifeline_dns_queries_total{transport=\"udp\",qtype=\"SRV\"}", 0.0),
        ("lifeline_dns_replies_total{transport=\"udp\",rcode=\"NOERROR\"}", 9.0),
        ("lifeline_dns_replies_total{transport=\"udp\",rcode=\"NXDOMAIN\"}", 2.0),
        ("lifeline_dns_replies_total{transport=\"udp\",rcode=\"REFUSED\"}", 0.0),
        ("lifeline_dns_queries_total{transport=\"tcp\",qtype=\"A\"}", 3.0),
        ("lifeline_dns_queries_total{transport=\"tcp\",qtype=\"MX\"}", 1.0),
        ("lifeline_dns_queries_total{transport=\"tcp\",qtype=\"TXT\"}", 0.0),
        ("lifeline_dns_replies_total{transport=\"tcp\",rcode=\"NOERROR\"}", 3.0),
        ("lifeline_dns_replies_total{transport=\"tcp\",rcode=\"NXDOMAIN\"}", 1.0),
    ] {
        wait_for(api, series, want);
    }
    let metrics = scrape(api);
    assert_eq!(
        value(&metrics, "lifeline_dns_udp_queries_total"),
        Some(11.0),
        "{metrics}"
    );
}

#[test]
fn checks_checker_and_breaker_are_reported() {
    let (backend, server, api) = start(Net(92));
    let metrics = scrape(api);
    for (series, want) in [
        ("lifeline_check_up{endpoint=\"web-a\",check=\"web\"}", 1.0),
        ("lifeline_endpoint_up{endpoint=\"web-a\"}", 1.0),
        ("lifeline_endpoint_stale{endpoint=\"web-a\"}", 0.0),
        ("lifeline_record_tier{record=\"www.metrics.test/A\"}", 1.0),
        ("lifeline_checker_restarts_total", 0.0),
        // The breaker is on by default; one endpoint cannot trip it.
        ("lifeline_breaker_enabled", 1.0),
        ("lifeline_breaker_tripped", 0.0),
        ("lifeline_breaker_groups_down", 0.0),
        (
            "lifeline_zone_serial{zone=\"metrics.test.\"}",
            f64::from(serial(server.addr, ORIGIN)),
        ),
    ] {
        assert_eq!(value(&metrics, series), Some(want), "{series} in\n{metrics}");
    }
    // Checks run every 100 ms: results are fresh, the checker is not silent.
    let age = value(
        &metrics,
        "lifeline_check_result_age_seconds{endpoint=\"web-a\",check=\"web\"}",
    );
    assert!(age.is_some_and(|a| (0.0..5.0).contains(&a)), "{metrics}");
    let silence = value(&metrics, "lifeline_checker_silence_seconds");
    assert!(silence.is_some_and(|s| (0.0..5.0).contains(&s)), "{metrics}");
    let runs = value(&metrics, "lifeline_schedule_runs_total");
    assert!(runs.is_some_and(|n| n >= 1.0), "{metrics}");

    // The check fails: its machine and the verdict go down, the record
    // has no tier left.
    backend.set_healthy(false);
    wait_for(api, "lifeline_check_up{endpoint=\"web-a\",check=\"web\"}", 0.0);
    wait_for(api, "lifeline_endpoint_up{endpoint=\"web-a\"}", 0.0);
    wait_for(api, "lifeline_record_tier{record=\"www.metrics.test/A\"}", 0.0);
    assert_eq!(
        value(&scrape(api), "lifeline_events_total{kind=\"verdict\"}").map(|n| n >= 1.0),
        Some(true)
    );
    promtool_check_metrics(&scrape(api));
}

/// `promtool check metrics` on a scrape, when promtool is installed.
fn promtool_check_metrics(metrics: &str) {
    let Some(promtool) = external_tool("promtool") else {
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {said}");
}

/// Every `lifeline_*` name in `text`, histogram and counter suffixes
/// included as written.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("lifeline_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The names a scrape declares (`# TYPE`) and writes samples of.
fn exported(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(typed) => typed.split(' ').next(),
            None if !l.starts_with('#') => l.split(['{', ' ']).next(),
            None => None,
        })
        .map(str::to_string)
        .collect()
}

/// A family's sample names as a query may write them.
fn with_suffixes(exported: &BTreeSet<String>) -> BTreeSet<String> {
    exported
        .iter()
        .flat_map(|name| ["", "_bucket", "_sum", "_count", "_total"].map(|suffix| format!("{name}{suffix}")))
        .collect()
}

fn contrib(path: &str) -> (std::path::PathBuf, String) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    (full, text)
}

/// The PromQL of every panel target in a Grafana dashboard.
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<String> {
    let mut queries = Vec::new();
    let mut stack = vec![dashboard];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                // Panel targets, and template variables' queries.
                for key in ["expr", "definition"] {
                    if let Some(serde_json::Value::String(query)) = map.get(key) {
                        queries.push(query.clone());
                    }
                }
                stack.extend(map.values());
            }
            serde_json::Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    queries
}

#[test]
fn every_exported_metric_is_documented() {
    let (_backend, _server, api) = start(Net(95));
    let metrics = scrape(api);
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md")).unwrap();
    let families: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(families.len() >= 20, "{metrics}");
    for family in families {
        assert!(
            doc.contains(&format!("`{family}`")),
            "{family} is not in docs/api.md's metrics table"
        );
    }
}

#[test]
fn the_dashboard_and_alert_rules_use_only_exported_metrics() {
    let (_backend, server, api) = start(Net(93));
    // Traffic over both transports, so every family has samples.
    udp(server.addr, &q(WWW, Rtype::A));
    tcp(server.addr, &q(WWW, Rtype::A));
    wait_for(api, "lifeline_dns_queries_total{transport=\"tcp\",qtype=\"A\"}", 1.0);
    let available = with_suffixes(&exported(&scrape(api)));

    let (path, text) = contrib("grafana/lifeline.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 10, "{}: {} queries", path.display(), queries.len());
    let used = metric_names(&queries.join("\n"));
    let missing: Vec<_> = used.difference(&available).collect();
    assert!(
        missing.is_empty(),
        "{} uses metrics the server does not export: {missing:?}",
        path.display()
    );
    for wanted in [
        "lifeline_dns_queries_total",
        "lifeline_dns_replies_total",
        "lifeline_answer_changes_total",
        "lifeline_endpoint_up",
        "lifeline_record_tier",
        "lifeline_check_latency_seconds_bucket",
        "lifeline_schedule_lag_seconds",
        "lifeline_breaker_tripped",
        "lifeline_checker_restarts_total",
    ] {
        assert!(used.contains(wanted), "{} has no panel on {wanted}", path.display());
    }

    let (path, rules) = contrib("prometheus/lifeline-alerts.yml");
    let used = metric_names(&rules);
    assert!(used.len() >= 5, "{}: {used:?}", path.display());
    let missing: Vec<_> = used.difference(&available).collect();
    assert!(
        missing.is_empty(),
        "{} uses metrics the server does not export: {missing:?}",
        path.display()
    );
    if let Some(promtool) = external_tool("promtool") {
        let out = Command::new(promtool)
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool check rules: {said}");
    }
}
