//! Maintenance as an operator runs it (issue 6, item 2): draining every
//! endpoint of a data centre by tag in one call, and a drain scheduled
//! ahead whose records first lower their TTL, so that caches have expired
//! when the endpoint leaves; both through the API and the `lifeline`
//! commands of the real binary, both kept by the store across `kill -9`.
//!
//! Endpoints have no checks (they are up), so that every change of the
//! answers comes from the operator.
mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use common::api::{get, post};
use common::records::*;
use common::*;

const TOKEN: &str = "drain-token-0123456789abcdef";
const WWW: &str = "www.drain.test";
const API: &str = "api.drain.test";

/// `www`: fra-1 and fra-2 (tag dc=fra) and ams-1 (dc=ams), TTL `ttl`
/// (degraded 1 s); `api`: fra-3 and ams-2.
fn body(ttl: u32) -> String {
    format!(
        r#"[[record]]
name = "{WWW}"
type = "A"
ttl = {ttl}
ttl_degraded = 1
endpoint = [
  {{ name = "fra-1", address = "127.0.0.11", tags = {{ dc = "fra", rack = "r1" }} }},
  {{ name = "fra-2", address = "127.0.0.12", tags = {{ dc = "fra", rack = "r2" }} }},
  {{ name = "ams-1", address = "127.0.0.21", tags = {{ dc = "ams" }} }},
]

[[record]]
name = "{API}"
type = "A"
ttl = {ttl}
endpoint = [
  {{ name = "fra-3", address = "127.0.0.13", tags = {{ dc = "fra" }} }},
  {{ name = "ams-2", address = "127.0.0.22", tags = {{ dc = "ams" }} }},
]
"#
    )
}

fn start(ttl: u32, state: Option<&TempDir>) -> Lifeline {
    let mut args = vec!["--api", "127.0.0.1:0"];
    if let Some(state) = state {
        args.extend(["--state-dir", state.0.to_str().unwrap()]);
    }
    Lifeline::with_config_args(
        &config("drain.test", &body(ttl)),
        &[("drain.test.zone", &zone_text(""))],
        &args,
        &[("LIFELINE_API_TOKEN", TOKEN)],
    )
}

fn api(server: &Lifeline) -> SocketAddr {
    server.api.expect("the server prints where its API listens")
}

fn sorted(mut addresses: Vec<String>) -> Vec<String> {
    addresses.sort();
    addresses
}

fn a(server: &Lifeline, name: &str) -> Answered {
    lookup_a(server.addr, name)
}

/// Runs `lifeline ARGS` against the server's API with the token.
fn cli(server: &Lifeline, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifeline"))
        .args(args)
        .env("LIFELINE_API", format!("http://{}", api(server)))
        .env("LIFELINE_API_TOKEN", TOKEN)
        .output()
        .expect("run lifeline")
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_tag_drains_every_endpoint_that_carries_it_in_one_call() {
    let server = start(30, None);
    let api = api(&server);
    assert_eq!(
        sorted(a(&server, WWW).addresses),
        ["127.0.0.11", "127.0.0.12", "127.0.0.21"]
    );
    assert_eq!(sorted(a(&server, API).addresses), ["127.0.0.13", "127.0.0.22"]);

    let reply = post(
        api,
        "/v1/overrides",
        Some(TOKEN),
        r#"{"tag": "dc=fra", "mode": "drain", "reason": "fra power work", "by": "alice"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let drained: Vec<String> = reply.json()["endpoints"]
        .as_array()
        .expect("a tag answers with the endpoints it named")
        .iter()
        .map(|e| {
            assert_eq!(e["override"]["mode"], "drain", "{e}");
            assert_eq!(e["override"]["reason"], "fra power work", "{e}");
            assert_eq!(e["tags"]["dc"], "fra", "{e}");
            e["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(drained, ["fra-1", "fra-2", "fra-3"]);
    // Both records changed at once: no window with only one moved.
    assert_eq!(a(&server, WWW).addresses, ["127.0.0.21"]);
    assert_eq!(a(&server, API).addresses, ["127.0.0.22"]);
    let overrides = get(api, "/v1/overrides").json();
    assert_eq!(overrides["overrides"].as_array().unwrap().len(), 3, "{overrides}");
    let events = get(api, "/v1/events?kind=override").json();
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        3,
        "one event per endpoint: {events}"
    );

    // A second tag key narrows nothing by itself: rack=r2 is one endpoint.
    let out = cli(&server, &["undrain", "--tag", "rack=r2", "--reason", "r2 done"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fra-2: follows its checks"),
        "{}",
        text(&out)
    );
    assert_eq!(sorted(a(&server, WWW).addresses), ["127.0.0.12", "127.0.0.21"]);

    let out = cli(&server, &["undrain", "--tag", "dc=fra"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        sorted(a(&server, WWW).addresses),
        ["127.0.0.11", "127.0.0.12", "127.0.0.21"]
    );
    assert_eq!(sorted(a(&server, API).addresses), ["127.0.0.13", "127.0.0.22"]);
    assert_eq!(get(api, "/v1/overrides").json()["overrides"], serde_json::json!([]));
}

#[test]
fn a_bad_tag_request_is_refused_and_changes_nothing() {
    let server = start(30, None);
    let api = api(&server);
    let cases = [
        (
            r#"{"tag": "dc=nowhere", "mode": "drain", "reason": "x"}"#,
            404,
            "no endpoint carries the tag dc=nowhere",
        ),
        (r#"{"tag": "dc", "mode": "drain", "reason": "x"}"#, 400, "KEY=VALUE"),
        (
            r#"{"tag": "dc=fra", "endpoint": "fra-1", "mode": "drain", "reason": "x"}"#,
            400,
            "either `endpoint`",
        ),
        (r#"{"mode": "drain", "reason": "x"}"#, 400, "either `endpoint`"),
    ];
    for (body, status, message) in cases {
        let reply = post(api, "/v1/overrides", Some(TOKEN), body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.error().contains(message), "{body}: {}", reply.error());
    }
    let reply = post(
        api,
        "/v1/overrides",
        None,
        r#"{"tag": "dc=fra", "mode": "drain", "reason": "x"}"#,
    );
    assert_eq!(reply.status, 401);
    assert_eq!(
        sorted(a(&server, WWW).addresses),
        ["127.0.0.11", "127.0.0.12", "127.0.0.21"]
    );
    let out = cli(&server, &["drain", "--tag", "dc=nowhere", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1), "the API refused: {}", text(&out));
    let out = cli(&server, &["drain", "fra-1", "--tag", "dc=fra", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses both: {}", text(&out));
}

/// Polls the `www` answer until `done`, within `limit`; returns when.
fn until(server: &Lifeline, limit: Duration, done: impl Fn(&Answered) -> bool) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let answered = a(server, WWW);
        if done(&answered) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no such answer within {limit:?}; last {answered:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_scheduled_drain_lowers_the_ttl_one_ttl_ahead_then_takes_the_endpoint_out() {
    // TTL 3 s: the lowering starts 3 s before the drain.
    let server = start(3, None);
    let api = api(&server);
    let asked = SystemTime::now();
    let out = cli(
        &server,
        &["drain", "fra-1", "--at", "+6s", "--for", "1h", "--reason", "disk swap"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("scheduled at"),
        "{}",
        text(&out)
    );
    let starts = get(api, "/v1/overrides").json()["scheduled"][0]["starts"]
        .as_str()
        .expect("listed as scheduled")
        .to_string();
    let starts = humantime::parse_rfc3339(&starts).unwrap();
    let ahead = starts.duration_since(asked).unwrap();
    assert!(
        ahead > Duration::from_secs(4) && ahead <= Duration::from_secs(7),
        "{ahead:?}"
    );
    let starts_in = |t: Instant| starts.duration_since(SystemTime::now()).unwrap_or_default() + t.elapsed();
    let status = cli(&server, &["status"]);
    let row = String::from_utf8_lossy(&status.stdout)
        .lines()
        .find(|l| l.starts_with("fra-1 "))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        row.contains(" drain at 20"),
        "the status table shows the scheduled drain: {}",
        text(&status)
    );

    // Before the window: the normal TTL, every endpoint.
    let now = a(&server, WWW);
    assert_eq!((now.ttl(), now.addresses.len()), (3, 3), "{now:?}");
    // One TTL before the drain: TTL 1 (ttl_degraded), fra-1 still answered.
    let lowered = until(&server, Duration::from_secs(8), |x| x.ttls.first() == Some(&1));
    let lead = starts_in(lowered);
    assert!(
        lead > Duration::from_millis(2500) && lead <= Duration::from_millis(3100),
        "lowered {lead:?} before the drain, expected one TTL (3 s)"
    );
    assert!(a(&server, WWW).addresses.contains(&"127.0.0.11".to_string()));
    let explain = get(api, "/v1/records/www.drain.test%2FA/explain").json();
    let why = explain["why"].to_string();
    assert!(
        why.contains("TTL 1: lowered ahead of the drain of fra-1 scheduled at"),
        "{why}"
    );
    // At the drain: fra-1 leaves.
    let left = until(&server, Duration::from_secs(8), |x| {
        !x.addresses.contains(&"127.0.0.11".to_string())
    });
    let late = SystemTime::now().duration_since(starts).unwrap_or_default();
    assert!(
        late < Duration::from_millis(700),
        "left {late:?} after its time ({left:?})"
    );
    let overrides = get(api, "/v1/overrides").json();
    assert_eq!(overrides["scheduled"], serde_json::json!([]), "{overrides}");
    let drain = &overrides["overrides"][0];
    assert_eq!(
        (drain["endpoint"].as_str(), drain["mode"].as_str()),
        (Some("fra-1"), Some("drain"))
    );
    let until_text = drain["until"].as_str().expect("lasts 1h from its start");
    let lapses = humantime::parse_rfc3339(until_text).unwrap();
    assert_eq!(lapses.duration_since(starts).unwrap().as_secs(), 3600, "{drain}");
    let events = get(api, "/v1/events?endpoint=fra-1&kind=override").json();
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "scheduled, then in force: {messages:?}");
    assert!(messages[1].contains("to be drained at"), "{messages:?}");
    assert!(messages[0].contains("set to drained"), "{messages:?}");
}

#[test]
fn undrain_cancels_a_scheduled_drain_and_its_lowered_ttl() {
    let server = start(60, None);
    let api = api(&server);
    let out = cli(
        &server,
        &["drain", "--tag", "dc=ams", "--at", "+20s", "--reason", "move"],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Within one TTL (60 s) of the drain: lowered at once.
    assert_eq!(a(&server, WWW).ttl(), 1);
    assert_eq!(a(&server, API).ttl(), 30, "no ttl_degraded: the short default, 30 s");
    assert_eq!(
        get(api, "/v1/overrides").json()["scheduled"].as_array().unwrap().len(),
        2
    );
    let out = cli(&server, &["undrain", "--tag", "dc=ams"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(a(&server, WWW).ttl(), 60);
    assert_eq!(a(&server, API).ttl(), 60);
    assert_eq!(get(api, "/v1/overrides").json()["scheduled"], serde_json::json!([]));
    assert_eq!(a(&server, WWW).addresses.len(), 3);
}

#[test]
fn scheduled_and_tagged_drains_survive_kill_9() {
    let state = TempDir::new();
    let server = start(30, Some(&state));
    let out = cli(&server, &["drain", "--tag", "dc=fra", "--reason", "power"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cli(&server, &["drain", "ams-1", "--at", "+5s", "--reason", "later"]);
    assert!(out.status.success(), "{}", text(&out));
    let scheduled = get(api(&server), "/v1/overrides").json()["scheduled"][0]["starts"].clone();
    server.kill9();
    drop(server);

    let server = start(30, Some(&state));
    assert_eq!(
        a(&server, WWW).addresses,
        ["127.0.0.21"],
        "the tag drain is back before the first answer"
    );
    assert_eq!(a(&server, WWW).ttl(), 1, "inside the scheduled drain's window");
    let overrides = get(api(&server), "/v1/overrides").json();
    assert_eq!(overrides["overrides"].as_array().unwrap().len(), 3, "{overrides}");
    assert!(
        overrides["overrides"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["reason"] == "power" && o["by"].is_string()),
        "who and why survive the restart too: {overrides}"
    );
    assert_eq!(overrides["scheduled"][0]["starts"], scheduled, "{overrides}");
    assert_eq!(overrides["scheduled"][0]["reason"], "later", "{overrides}");
    // At its time the scheduled drain starts: every endpoint of www is out,
    // and the answer follows all_down (the default answers every endpoint).
    let moved = poll_until(Duration::from_secs(10), || {
        get(api(&server), "/v1/overrides").json()["overrides"]
            .as_array()
            .is_some_and(|o| o.len() == 4)
    });
    assert!(moved, "the scheduled drain started after the restart");
}

#[test]
fn a_tag_that_is_not_a_word_is_a_config_error_with_its_line() {
    let dir = TempDir::new();
    let body = format!(
        "{}\n[[record]]\nname = \"x.drain.test\"\ntype = \"A\"\nendpoint = [\n  {{ name = \"x\", address = \"127.0.0.9\", tags = {{ dc = \"fra west\" }} }},\n]\n",
        ""
    );
    dir.write("drain.test.zone", &zone_text(""));
    let path = dir.write("lifeline.toml", &config("drain.test", &body));
    let out = run_lifeline(&["check", "--config", path.to_str().unwrap()], Duration::from_secs(20));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("lifeline.toml:"), "{}", out.stderr);
    assert!(out.stderr.contains("tags.dc"), "{}", out.stderr);
    assert!(out.stderr.contains("\"fra west\""), "{}", out.stderr);
}

#[test]
fn a_scheduled_return_to_the_checks_survives_kill_9_and_ends_the_drain_at_its_time() {
    let state = TempDir::new();
    let server = start(30, Some(&state));
    let out = cli(&server, &["drain", "fra-1", "--reason", "rack work"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cli(&server, &["undrain", "fra-1", "--at", "+4s", "--reason", "work ends"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("auto (work ends) scheduled at"),
        "{}",
        text(&out)
    );
    server.kill9();
    drop(server);

    let server = start(30, Some(&state));
    assert!(
        !a(&server, WWW).addresses.contains(&"127.0.0.11".to_string()),
        "still drained"
    );
    let overrides = get(api(&server), "/v1/overrides").json();
    assert_eq!(overrides["scheduled"][0]["mode"], "auto", "{overrides}");
    let back = poll_until(Duration::from_secs(10), || {
        a(&server, WWW).addresses.contains(&"127.0.0.11".to_string())
    });
    assert!(back, "the drain ended at its scheduled time after the restart");
    let overrides = get(api(&server), "/v1/overrides").json();
    assert_eq!(overrides["overrides"], serde_json::json!([]), "{overrides}");
    assert_eq!(overrides["scheduled"], serde_json::json!([]), "{overrides}");
}

#[test]
fn times_at_the_edges_of_rfc_3339_are_taken_without_harm() {
    let server = start(30, None);
    let api = api(&server);
    // The last second RFC 3339 can write, for 90 days: the lapse cannot be
    // written, and is shown as the last writable moment.
    let far = r#"{"endpoint": "fra-1", "mode": "drain", "reason": "x", "for": "2160h", "at": "9999-12-31T23:59:59Z"}"#;
    let reply = post(api, "/v1/overrides", Some(TOKEN), far);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["scheduled"]["until"],
        "9999-12-31T23:59:59.999Z",
        "{}",
        reply.body
    );
    // A time before 1970 has passed: the drain acts now.
    let past = r#"{"endpoint": "fra-2", "mode": "drain", "reason": "x", "at": "1960-01-01T00:00:00Z"}"#;
    let reply = post(api, "/v1/overrides", Some(TOKEN), past);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["override"]["mode"], "drain", "{}", reply.body);
    // The engine is alive and answering.
    assert_eq!(sorted(a(&server, WWW).addresses), ["127.0.0.11", "127.0.0.21"]);
    let events = get(api, "/v1/events?kind=override").json();
    assert_eq!(events["events"].as_array().map(Vec::len), Some(2), "{events}");
    assert_eq!(server.log_count("panicked"), 0);
}
