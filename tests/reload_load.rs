//! Reload under load (issue 6, item 8): while clients keep asking over UDP
//! and TCP, the configuration is reloaded 50 times, valid and invalid
//! alternately, by SIGHUP and by `POST /v1/reload`. No query is lost (each
//! is sent once and a missing reply is counted, never retried), none gets
//! SERVFAIL, every answer is the old configuration's or the new one's, an
//! invalid configuration is rejected with its file:line and the old one
//! keeps serving, and the verdict of the unchanged endpoint is kept
//! throughout: no verdict event.
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::api::{get, post};
use common::backends::{Net, backends_on};
use common::*;
use domain::base::iana::{Class, Rtype};

const TOKEN: &str = "reload-load-token-0123456789abcdef";
const NET: Net = Net(51);
const RELOADS: usize = 50;
/// Each client thread asks at least this many times, at most `MAX_QUERIES`.
const MIN_QUERIES: usize = 300;
const MAX_QUERIES: usize = 200_000;
/// The whole run is bounded in time too.
const MAX_RUN: Duration = Duration::from_secs(120);
const WWW: &str = "www.rl.test. 5 IN A 127.0.51.2";

const ZONE: &str =
    "$ORIGIN rl.test.\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 604800 5\n@ IN NS ns\nns IN A 127.0.0.1\n";

/// A valid configuration: `identity` tells one from the other. The
/// health-checked record and its endpoint are the same in every one.
fn config(identity: &str, port: u16) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
udp_threads = 1
identity = "{identity}"
[[zone]]
origin = "rl.test"
file = "rl.test.zone"
[check.web]
kind = "http"
port = {port}
path = "/"
interval = "200ms"
timeout = "150ms"
rise = 1
fall = 2
[[record]]
name = "www.rl.test"
type = "A"
ttl = 5
endpoint = [
  {{ name = "web", address = "{}", priority = 1, checks = ["web"] }},
  {{ name = "spare", address = "{}", priority = 2 }},
]
"#,
        NET.addr(2),
        NET.addr(3)
    )
}

/// An invalid configuration, one of several mistakes; the line of the
/// mistake in the file.
fn invalid(n: usize, port: u16) -> (String, usize) {
    let good = config("broken", port);
    let (from, to) = match n % 3 {
        0 => ("udp_threads = 1", "udp_threads = 0"),
        1 => ("ttl = 5", "ttl = \"five\""),
        _ => ("rise = 1", "rise = 1\nriser = 2"),
    };
    let text = good.replacen(from, to, 1);
    let line = text
        .lines()
        .position(|l| l.starts_with(to.lines().last().unwrap()))
        .unwrap()
        + 1;
    (text, line)
}

fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// What went wrong for one client thread.
#[derive(Debug, Default)]
struct Tally {
    asked: usize,
    timeouts: usize,
    servfail: usize,
    /// Answers of neither configuration.
    wrong: Vec<String>,
}

/// Asks `www` and `id.server` in turn, each once, until `stop` (at least
/// [`MIN_QUERIES`] times, at most [`MAX_QUERIES`]).
fn client(addr: SocketAddr, over_tcp: bool, identities: [&str; 2], stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let mut stream = over_tcp.then(|| tcp_connect(addr));
    let started = Instant::now();
    let expected_id = identities.map(|i| format!("id.server. 0 CH TXT \"{i}\""));
    while tally.asked < MAX_QUERIES
        && started.elapsed() < MAX_RUN
        && (tally.asked < MIN_QUERIES || !stop.load(Ordering::Relaxed))
    {
        let n = tally.asked;
        let query = match n % 2 {
            0 => q("www.rl.test", Rtype::A),
            _ => q("id.server", Rtype::TXT).class(Class::CH),
        }
        .id(n as u16);
        let wire = query.wire();
        tally.asked += 1;
        let bytes = match &mut stream {
            Some(stream) => {
                tcp_send(stream, &wire);
                tcp_recv(stream).ok()
            }
            None => udp_raw(addr, &wire, REPLY_TIMEOUT),
        };
        let Some(reply) = bytes.map(|b| Reply::parse(b, &wire)) else {
            tally.timeouts += 1;
            if over_tcp {
                // The connection is gone; count it and open another.
                stream = Some(tcp_connect(addr));
            }
            continue;
        };
        let answer = reply.answer();
        let fine = match n % 2 {
            0 => answer == [WWW],
            _ => answer.len() == 1 && expected_id.contains(&answer[0]),
        };
        if reply.rcode() == "SERVFAIL" {
            tally.servfail += 1;
        } else if !fine || reply.rcode() != "NOERROR" {
            tally.wrong.push(format!("query {n}: {} {answer:?}", reply.rcode()));
        }
    }
    tally
}

/// The identity the server answers now.
fn identity(addr: SocketAddr) -> String {
    let answer = udp(addr, &q("id.server", Rtype::TXT).class(Class::CH)).answer();
    answer[0].rsplit(' ').next().unwrap().trim_matches('"').to_string()
}

/// Sends SIGHUP and waits until the reload is logged as done or rejected;
/// returns the new log line.
fn sighup(server: &Lifeline) -> String {
    let before = server.log_count("reloaded") + server.log_count("reload rejected");
    server.sighup();
    let logged = poll_until(Duration::from_secs(10), || {
        server.log_count("reloaded") + server.log_count("reload rejected") > before
    });
    assert!(logged, "the reload is logged as done or rejected");
    let mut lines = server.log_lines("reload");
    lines.retain(|l| l.contains("reloaded") || l.contains("reload rejected"));
    lines.pop().unwrap()
}

/// Runs dnsperf against the server for `seconds`, if it is installed;
/// returns its report.
fn dnsperf(addr: SocketAddr, dir: &std::path::Path, seconds: u32) -> Option<std::thread::JoinHandle<String>> {
    let program = external_tool("dnsperf")?;
    let queries = dir.join("queries.txt");
    std::fs::write(&queries, "www.rl.test A\n").unwrap();
    Some(std::thread::spawn(move || {
        let out = std::process::Command::new(program)
            .args(["-s", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .args(["-d", queries.to_str().unwrap(), "-l", &seconds.to_string()])
            .args(["-Q", "2000", "-t", "3", "-c", "4"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }))
}

#[test]
fn fifty_reloads_under_load_lose_no_query_and_keep_verdicts() {
    let (_backends, port) = backends_on(&[NET.ip(2)]);
    let identities = ["old", "new"];
    let server = Lifeline::with_config_args(
        &config(identities[0], port),
        &[("rl.test.zone", ZONE)],
        &["--api", "127.0.0.1:0"],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    );
    let api = server.api.unwrap();
    let path = server.dir().join("lifeline.toml");
    // The endpoint's checks have decided before the reloads begin.
    let decided = poll_until(Duration::from_secs(10), || {
        get(api, "/v1/endpoints/web").json()["reason"] == "checks"
    });
    assert!(decided, "web's checks decide: {}", get(api, "/v1/endpoints/web").json());
    let before = get(api, "/v1/endpoints/web").json();
    assert_eq!(before["up"], true, "{before}");
    let last_event = get(api, "/v1/events?limit=1").json()["latest"].as_u64().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = [false, false, true, true]
        .into_iter()
        .map(|over_tcp| {
            let (addr, stop) = (server.addr, stop.clone());
            std::thread::spawn(move || client(addr, over_tcp, identities, stop))
        })
        .collect();
    let perf = dnsperf(server.addr, server.dir(), 10);

    let mut serving = identities[0];
    for i in 0..RELOADS {
        let by_api = (i / 2) % 2 == 0;
        if i % 2 == 0 {
            let next = identities[(i / 2 + 1) % 2];
            replace_file(&path, &config(next, port));
            if by_api {
                let reply = post(api, "/v1/reload", Some(TOKEN), "{}");
                assert_eq!(reply.status, 200, "reload {i}: {}", reply.body);
            } else {
                let logged = sighup(&server);
                assert!(logged.contains("reloaded"), "reload {i}: {logged}");
            }
            serving = next;
        } else {
            let (text, line) = invalid(i / 2, port);
            replace_file(&path, &text);
            let at = format!("lifeline.toml:{line}");
            if by_api {
                let reply = post(api, "/v1/reload", Some(TOKEN), "{}");
                assert!(
                    (400..500).contains(&reply.status),
                    "reload {i}: {} {}",
                    reply.status,
                    reply.body
                );
                assert!(reply.error().contains(&at), "reload {i}: {} lacks {at}", reply.error());
            } else {
                let logged = sighup(&server);
                assert!(
                    logged.contains("reload rejected") && logged.contains(&at),
                    "reload {i}: {logged}"
                );
            }
        }
        assert_eq!(identity(server.addr), serving, "after reload {i}");
    }
    stop.store(true, Ordering::Relaxed);

    for (handle, transport) in clients.into_iter().zip(["udp", "udp", "tcp", "tcp"]) {
        let tally = handle.join().unwrap();
        eprintln!(
            "{transport}: {} queries, {} without a reply",
            tally.asked, tally.timeouts
        );
        assert!(tally.asked >= MIN_QUERIES, "{transport}: {tally:?}");
        assert_eq!(tally.timeouts, 0, "{transport}: queries without a reply: {tally:?}");
        assert_eq!(tally.servfail, 0, "{transport}: SERVFAIL: {tally:?}");
        assert!(
            tally.wrong.is_empty(),
            "{transport}: {} of {} answers of neither configuration: {:?}",
            tally.wrong.len(),
            tally.asked,
            &tally.wrong[..tally.wrong.len().min(5)]
        );
    }
    if let Some(perf) = perf {
        let report = perf.join().unwrap();
        eprintln!("dnsperf during the reloads:\n{report}");
        assert!(
            report.contains("Queries lost:         0 "),
            "dnsperf lost queries:\n{report}"
        );
        let codes = report
            .lines()
            .find(|l| l.contains("Response codes:"))
            .unwrap_or_default();
        assert!(
            codes.contains("NOERROR") && !codes.contains("SERVFAIL"),
            "dnsperf:\n{report}"
        );
    }

    // The unchanged endpoint kept its verdict: no verdict event, the same
    // `since` (shown in wall time, computed from decide's clock: to the
    // millisecond or so; a verdict set anew would be seconds later).
    let after = get(api, "/v1/endpoints/web").json();
    let since = |v: &serde_json::Value| humantime::parse_rfc3339(v["since"].as_str().unwrap()).unwrap();
    let moved = since(&after).duration_since(since(&before)).unwrap_or_default();
    assert!(
        moved < Duration::from_millis(100),
        "since moved by {moved:?}: {before} -> {after}"
    );
    assert_eq!(after["up"], true);
    let flaps = get(api, &format!("/v1/events?kind=verdict&after={last_event}")).json();
    assert_eq!(flaps["events"].as_array().unwrap().len(), 0, "{flaps}");
}
