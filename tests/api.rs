//! The HTTP API and the CLI against the real binary (issue 6, items 3 and
//! 4): a server started with `--api 127.0.0.1:0` checks HTTP backends the
//! test runs on loopback; the test reads status, records, endpoints and
//! events over HTTP, drains and fails back through the API and sees the
//! DNS answer move, reloads, gets the right 4xx for bad input and missing
//! tokens, and runs the `lifeline` commands against the same server.
//!
//! Checks run every 100 ms with `rise = 1`, `fall = 1`; every wait has a
//! deadline ([`CHANGE_WAIT`]).
mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use common::api::{delete, get, post};
use common::backends::{Backend, Net, backends_on};
use common::records::*;
use common::*;

const ORIGIN: &str = "api.test";
const WWW: &str = "www.api.test";
const TOKEN: &str = "test-token-0123456789abcdef";

/// A primary (tier 1) and a backup (tier 2) behind one HTTP check, plus an
/// AAAA record of the same name (so that the bare name is ambiguous).
fn body(net: Net, port: u16, failback: &str) -> String {
    format!(
        r#"[[record]]
name = "{WWW}"
type = "A"
ttl = 30
{failback}
endpoint = [
  {{ name = "web-a", address = "{a}", priority = 1, checks = ["web"] }},
  {{ name = "web-b", address = "{b}", priority = 2, checks = ["web"] }},
]

[[record]]
name = "{WWW}"
type = "AAAA"
endpoint = [{{ name = "v6", address = "::1" }}]

[check.web]
kind = "http"
port = {port}
path = "/healthz"
interval = "100ms"
timeout = "80ms"
rise = 1
fall = 1
"#,
        a = net.addr(2),
        b = net.addr(3),
    )
}

/// Two backends and a server with its API on a free port; `env` for the
/// server (the token, usually).
struct Setup {
    primary: Backend,
    _backup: Backend,
    server: Lifeline,
    api: SocketAddr,
    a: String,
    b: String,
}

fn start_with(net: Net, failback: &str, extra: &str, env: &[(&str, &str)]) -> Setup {
    let (mut backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let backup = backends.pop().unwrap();
    let primary = backends.pop().unwrap();
    let config = config(ORIGIN, &format!("{}\n{extra}", body(net, port, failback)));
    let zone = zone_text("");
    let files = [
        ("api.test.zone", zone.as_str()),
        ("token", "file-token-0123456789abcdef\n"),
    ];
    let server = Lifeline::with_config_args(&config, &files, &["--api", "127.0.0.1:0"], env);
    let api = server.api.expect("the server prints where its API listens");
    let setup = Setup {
        primary,
        _backup: backup,
        server,
        api,
        a: net.addr(2),
        b: net.addr(3),
    };
    // Both endpoints have been checked once the primary answers with evidence.
    let checked = poll_until(CHANGE_WAIT, || {
        let endpoints = get(setup.api, "/v1/endpoints").json();
        endpoints["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .take(2)
            .all(|e| e["checks"][0]["last"]["ok"] == true)
    });
    assert!(checked, "both endpoints get check results");
    setup
}

fn start(net: Net, failback: &str) -> Setup {
    start_with(net, failback, "", &[("LIFELINE_API_TOKEN", TOKEN)])
}

const RECORD: &str = "/v1/records/www.api.test%2FA";

fn drain(api: SocketAddr, endpoint: &str, extra: &str) -> common::api::Reply {
    let body =
        format!(r#"{{"endpoint": "{endpoint}", "mode": "drain", "reason": "kernel upgrade", "by": "alice"{extra}}}"#);
    post(api, "/v1/overrides", Some(TOKEN), &body)
}

#[test]
fn status_records_and_endpoints_describe_what_is_served() {
    let s = start(Net(51), "failback = \"auto\"");
    let status = get(s.api, "/v1/status").json();
    assert_eq!(status["records"]["total"], 2, "{status}");
    assert_eq!(status["records"]["healthy"], 2, "{status}");
    assert_eq!(status["endpoints"]["total"], 3, "{status}");
    assert_eq!(status["endpoints"]["up"], 3, "{status}");
    assert_eq!(status["writes"], true);
    assert_eq!(status["zones"][0]["name"], "api.test.");
    assert_eq!(
        status["zones"][0]["serial"].as_u64(),
        Some(serial(s.server.addr, ORIGIN) as u64)
    );

    let records = get(s.api, "/v1/records").json();
    let record = &records["records"][0];
    assert_eq!(record["name"], "www.api.test/A");
    assert_eq!(record["type"], "A");
    assert_eq!(record["answer"]["addresses"], serde_json::json!([s.a]));
    assert_eq!(record["tier"], 1);
    assert_eq!(record["rule"]["name"], "best_healthy");
    assert_eq!(record["endpoints"][1]["name"], "web-b");
    assert_eq!(get(s.api, RECORD).json(), *record);
    assert_eq!(
        get(s.api, "/v1/records/WWW.api.test.%2Fa").json()["name"],
        "www.api.test/A"
    );
    assert_eq!(
        get(s.api, "/v1/records/www.api.test%2FAAAA").json()["answer"]["addresses"][0],
        "::1"
    );

    let endpoint = get(s.api, "/v1/endpoints/web-a").json();
    assert_eq!(endpoint["up"], true);
    assert_eq!(endpoint["reason"], "checks");
    assert_eq!(endpoint["records"], serde_json::json!(["www.api.test/A"]));
    assert_eq!(endpoint["override"], serde_json::Value::Null);
    let check = &endpoint["checks"][0];
    assert_eq!(check["check"], "web");
    assert_eq!(check["locations"][0]["location"], 0);
    assert_eq!(check["locations"][0]["up"], true);
    assert!(check["last"]["detail"].as_str().unwrap().starts_with("200"), "{check}");
    assert!(check["last"]["latency_ms"].as_f64().unwrap() > 0.0);

    let explain = get(s.api, &format!("{RECORD}/explain")).json();
    let why = explain["why"].to_string();
    assert!(why.contains("tier 1 answers") && why.contains("web-a is UP"), "{why}");
    assert_eq!(explain["endpoints"][0]["name"], "web-a");

    let doc = get(s.api, "/v1/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/records/{name}/explain"]["get"].is_object());
}

#[test]
fn a_drain_moves_the_answer_and_clearing_it_brings_it_back() {
    let s = start(Net(52), "failback = \"auto\"");
    let before = serial(s.server.addr, ORIGIN);
    let reply = drain(s.api, "web-a", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let endpoint = reply.json();
    assert_eq!(
        (endpoint["up"].clone(), endpoint["reason"].clone()),
        (false.into(), "drained".into())
    );
    assert_eq!(endpoint["override"]["reason"], "kernel upgrade");
    assert_eq!(endpoint["override"]["by"], "alice");
    wait_for_a(s.server.addr, WWW, &[&s.b]);
    assert!(
        serial(s.server.addr, ORIGIN) > before,
        "the answer change moves the SOA serial"
    );

    let overrides = get(s.api, "/v1/overrides").json();
    assert_eq!(overrides["overrides"].as_array().unwrap().len(), 1, "{overrides}");
    assert_eq!(overrides["overrides"][0]["mode"], "drain");
    let record = get(s.api, RECORD).json();
    assert_eq!(
        (record["tier"].clone(), record["failed_over"].clone()),
        (2.into(), true.into()),
        "{record}"
    );
    let why = get(s.api, &format!("{RECORD}/explain")).json()["why"].to_string();
    assert!(why.contains("web-a is DOWN (drain by alice: kernel upgrade)"), "{why}");

    let events = get(s.api, "/v1/events?endpoint=web-a&kind=override").json();
    assert_eq!(events["events"][0]["by"], "alice", "{events}");
    let answers = get(s.api, "/v1/events?record=www.api.test&kind=answer").json();
    let change = &answers["events"][0];
    assert_eq!(change["new"]["addresses"], serde_json::json!([s.b]), "{answers}");
    assert_eq!(change["old"]["addresses"], serde_json::json!([s.a]));

    let cleared = delete(s.api, "/v1/overrides/web-a?reason=done", Some(TOKEN));
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.json()["override"], serde_json::Value::Null);
    wait_for_a(s.server.addr, WWW, &[&s.a]);
    assert!(
        get(s.api, "/v1/overrides").json()["overrides"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_override_for_a_while_lapses_by_itself() {
    let s = start(Net(53), "failback = \"auto\"");
    let reply = drain(s.api, "web-a", r#", "for": "1s""#);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["override"]["until"].is_string());
    wait_for_a(s.server.addr, WWW, &[&s.b]);
    wait_for_a(s.server.addr, WWW, &[&s.a]);
    let lapsed = get(s.api, "/v1/events?endpoint=web-a&kind=override&limit=1").json();
    assert_eq!(lapsed["events"][0]["by"], "lifeline", "{lapsed}");
    assert_eq!(lapsed["events"][0]["mode"], "auto");
}

#[test]
fn failback_of_a_manual_record_returns_it_to_the_primary() {
    let s = start(Net(54), "failback = \"manual\"");
    s.primary.set_healthy(false);
    wait_for_a(s.server.addr, WWW, &[&s.b]);
    s.primary.set_healthy(true);
    let sticky = poll_until(CHANGE_WAIT, || {
        get(s.api, RECORD).json()["rule"]["name"] == "manual_sticky"
    });
    assert!(sticky, "the record waits for an operator: {}", get(s.api, RECORD).body);
    stays(
        s.server.addr,
        WWW,
        domain::base::iana::Rtype::A,
        &[&s.b],
        Duration::from_millis(300),
    );

    let reply = post(s.api, "/v1/records/www.api.test%2FA/failback", Some(TOKEN), "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["tier"], 1);
    wait_for_a(s.server.addr, WWW, &[&s.a]);
}

#[test]
fn reload_applies_a_valid_configuration_and_rejects_an_invalid_one() {
    let s = start(Net(55), "failback = \"auto\"");
    let reply = post(s.api, "/v1/reload", Some(TOKEN), "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["zones"][0]["name"], "api.test.");

    let path = s.server.dir().join("lifeline.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, good.replace("ttl = 30", "ttl = 30\nttl = 31")).unwrap();
    let reply = post(s.api, "/v1/reload", Some(TOKEN), "");
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.error().contains("lifeline.toml:"), "{}", reply.error());
    assert!(
        lookup_a(s.server.addr, WWW).is(&[&s.a]),
        "the previous configuration keeps serving"
    );
}

#[test]
fn bad_requests_get_the_right_status_and_a_json_message() {
    let s = start(Net(56), "failback = \"auto\"");
    let api = s.api;
    let cases: Vec<(common::api::Reply, u16, &str)> = vec![
        (get(api, "/v1/records/nope.api.test"), 404, "no health-checked record"),
        (get(api, "/v1/records/www.api.test"), 400, "ambiguous"),
        (get(api, "/v1/endpoints/nope"), 404, "no endpoint named \"nope\""),
        (get(api, "/v1/nothing"), 404, "no such route"),
        (delete(api, "/v1/status", Some(TOKEN)), 405, "not allowed"),
        (get(api, "/v1/events?limit=0"), 400, "limit"),
        (get(api, "/v1/events?kind=everything"), 400, "kind"),
        (get(api, "/v1/events?since=yesterday"), 400, "since"),
        (
            post(api, "/v1/overrides", Some(TOKEN), "{not json"),
            400,
            "not a valid request",
        ),
        (
            post(
                api,
                "/v1/overrides",
                Some(TOKEN),
                r#"{"endpoint": "web-a", "mode": "drain", "reasn": "x"}"#,
            ),
            400,
            "reasn",
        ),
        (
            post(
                api,
                "/v1/overrides",
                Some(TOKEN),
                r#"{"endpoint": "web-a", "mode": "drain"}"#,
            ),
            400,
            "reason",
        ),
        (
            post(
                api,
                "/v1/overrides",
                Some(TOKEN),
                r#"{"endpoint": "web-a", "mode": "sleep", "reason": "x"}"#,
            ),
            400,
            "sleep",
        ),
        (drain(api, "web-a", r#", "for": "forever""#), 400, "for"),
        (drain(api, "web-a", r#", "for": "2200h""#), 400, "for"),
        (drain(api, "nope", ""), 404, "no endpoint named \"nope\""),
        (
            post(api, "/v1/records/nope.api.test/failback", Some(TOKEN), ""),
            404,
            "no health-checked record",
        ),
        (
            post(
                api,
                "/v1/overrides",
                Some(TOKEN),
                &format!(r#"{{"endpoint": "{}"}}"#, "x".repeat(70_000)),
            ),
            413,
            "larger",
        ),
    ];
    for (reply, status, needle) in cases {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert!(reply.error().contains(needle), "{needle:?} not in {:?}", reply.error());
    }
}

#[test]
fn writes_need_the_token_and_change_nothing_without_it() {
    let s = start(Net(57), "failback = \"auto\"");
    let body = r#"{"endpoint": "web-a", "mode": "drain", "reason": "x"}"#;
    for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
        let writes = [
            post(s.api, "/v1/overrides", token, body),
            delete(s.api, "/v1/overrides/web-a", token),
            post(s.api, "/v1/records/www.api.test%2FA/failback", token, ""),
            post(s.api, "/v1/reload", token, ""),
        ];
        for reply in writes {
            assert_eq!(reply.status, 401, "{token:?}: {}", reply.body);
            assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"lifeline\""));
        }
    }
    // An unknown endpoint without a token is still 401: nothing is revealed.
    assert_eq!(
        post(s.api, "/v1/overrides", None, r#"{"endpoint": "nope"}"#).status,
        401
    );
    assert_eq!(
        get(s.api, "/v1/endpoints/web-a").json()["override"],
        serde_json::Value::Null
    );
    assert!(lookup_a(s.server.addr, WWW).is(&[&s.a]));
}

#[test]
fn without_a_configured_token_writes_are_refused_and_reads_work() {
    let s = start_with(Net(58), "failback = \"auto\"", "", &[]);
    assert_eq!(get(s.api, "/v1/status").json()["writes"], false);
    let reply = drain(s.api, "web-a", "");
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.error().contains("LIFELINE_API_TOKEN") && reply.error().contains("token_file"));
}

#[test]
fn the_token_can_come_from_a_file_named_in_the_configuration() {
    let s = start_with(Net(59), "failback = \"auto\"", "[api]\ntoken_file = \"token\"\n", &[]);
    let body = r#"{"endpoint": "web-a", "mode": "force-up", "reason": "checks are wrong"}"#;
    assert_eq!(post(s.api, "/v1/overrides", Some(TOKEN), body).status, 401);
    let reply = post(s.api, "/v1/overrides", Some("file-token-0123456789abcdef"), body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["reason"], "forced-up");
}

/// A server of static records only, with `[api]` lines `api`, the API on
/// a free port and `env` for the server.
fn static_server(api: &str, env: &[(&str, &str)]) -> (Lifeline, SocketAddr) {
    let config = format!("{}\n[api]\n{api}\n", config(ORIGIN, ""));
    let zone = zone_text("www IN A 127.0.0.80\n");
    let server = Lifeline::with_config_args(&config, &[("api.test.zone", &zone)], &["--api", "127.0.0.1:0"], env);
    let api = server.api.expect("the server prints where its API listens");
    (server, api)
}

#[test]
fn with_auth_all_reads_and_metrics_need_the_token_too() {
    let (_server, api) = static_server("auth = \"all\"", &[("LIFELINE_API_TOKEN", TOKEN)]);
    for path in [
        "/v1/status",
        "/v1/records",
        "/v1/events",
        "/v1/openapi.json",
        "/metrics",
        "/v1/nope",
    ] {
        for token in [None, Some("wrong-token-0123456789abcdef")] {
            let reply = common::api::request(api, "GET", path, token, None);
            assert_eq!(reply.status, 401, "{path} {token:?}: {}", reply.body);
            assert!(reply.error().contains("token"), "{}", reply.body);
            assert_eq!(reply.header("www-authenticate"), Some("Bearer realm=\"lifeline\""));
        }
    }
    let status = common::api::request(api, "GET", "/v1/status", Some(TOKEN), None);
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.json()["zones"][0]["name"], "api.test.");
    let metrics = common::api::request(api, "GET", "/metrics", Some(TOKEN), None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("lifeline_zone_serial{zone=\"api.test.\"}"));
    // An unknown route with the token is a 404 as always.
    assert_eq!(
        common::api::request(api, "GET", "/v1/nope", Some(TOKEN), None).status,
        404
    );
    // The commands send the token on reads as well.
    let out = cli(api, Some(TOKEN), &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = cli(api, None, &["status"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn with_auth_all_a_browser_signs_in_once_and_reads_with_a_cookie_but_cannot_write() {
    let (_server, api) = static_server("auth = \"all\"", &[("LIFELINE_API_TOKEN", TOKEN)]);
    assert_eq!(get(api, "/").status, 401, "the page needs the token too");
    assert_eq!(get(api, "/?token=wrong-token-0123456789abcdef").status, 401);
    let signed_in = get(api, &format!("/?token={TOKEN}"));
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), Some("/"));
    let cookie = signed_in.header("set-cookie").expect("a cookie").to_string();
    assert!(cookie.starts_with(&format!("lifeline_token={TOKEN};")), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let with_cookie = |method: &str, path: &str, body: Option<&str>| {
        common::api::request_with(
            api,
            method,
            path,
            &[("cookie", &format!("a=1; lifeline_token={TOKEN}"))],
            body,
        )
    };
    let page = with_cookie("GET", "/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);
    assert_eq!(with_cookie("GET", "/v1/status", None).status, 200);
    assert_eq!(with_cookie("GET", "/status.js", None).status, 200);
    // The cookie reads; it never writes.
    let write = with_cookie("POST", "/v1/reload", Some("{}"));
    assert_eq!(write.status, 401, "{}", write.body);
    let wrong = common::api::request_with(api, "GET", "/v1/status", &[("cookie", "lifeline_token=nope")], None);
    assert_eq!(wrong.status, 401);
}

#[test]
fn with_auth_writes_reads_are_open() {
    let (_server, api) = static_server("auth = \"writes\"", &[("LIFELINE_API_TOKEN", TOKEN)]);
    for path in ["/v1/status", "/v1/records", "/metrics"] {
        assert_eq!(get(api, path).status, 200, "{path}");
    }
    assert_eq!(post(api, "/v1/reload", None, "").status, 401);
}

/// What fuzzing the API against its OpenAPI document (tests/schemathesis.rs)
/// found, one case each: valid input the server refused, input that could
/// overflow.
#[test]
fn inputs_the_openapi_document_allows_are_accepted() {
    let (_server, api) = static_server("", &[("LIFELINE_API_TOKEN", TOKEN)]);
    // Any RFC 3339 date-time: an offset, a year before 1970, lower-case t/z.
    for since in [
        "2026-01-02T03:04:05%2B02:00",
        "0080-07-09T01:36:13Z",
        "2026-01-02t03:04:05.5z",
    ] {
        let reply = get(api, &format!("/v1/events?since={since}"));
        assert_eq!(reply.status, 200, "{since}: {}", reply.body);
    }
    assert_eq!(get(api, "/v1/events?since=2026-01-02T03:04:05").status, 400);
    // Event numbers up to u64::MAX.
    assert_eq!(get(api, "/v1/events?after=18446744073709551615").status, 200);
    // Lengths count characters, as maxLength does: 1024 of them, 3 bytes each,
    // pass validation (and reach the unknown endpoint); 1025 do not.
    let body = |reason: &str| format!(r#"{{"endpoint": "nope", "mode": "drain", "reason": "{reason}"}}"#);
    let reply = post(api, "/v1/overrides", Some(TOKEN), &body(&"€".repeat(1024)));
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = post(api, "/v1/overrides", Some(TOKEN), &body(&"€".repeat(1025)));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().contains("1025 characters"), "{}", reply.body);
    // A duration whose seconds overflow is a bad request, not a crash.
    let huge = r#"{"endpoint": "nope", "mode": "drain", "reason": "x", "for": "99999999999999999h"}"#;
    let reply = post(api, "/v1/overrides", Some(TOKEN), huge);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(get(api, "/v1/status").status, 200);
}

#[test]
fn auth_all_without_a_token_does_not_start_and_a_bad_value_names_the_field() {
    let dir = TempDir::new();
    let zone = zone_text("");
    dir.write("api.test.zone", &zone);
    for (auth, expected) in [("\"all\"", "auth = \"all\" needs a token"), ("\"reads\"", "api.auth")] {
        let config = format!(
            "{}\n[api]\nlisten = \"127.0.0.1:0\"\nauth = {auth}\n",
            config(ORIGIN, "")
        );
        let path = dir.write("lifeline.toml", &config);
        let out = run_lifeline(&["serve", "--config", path.to_str().unwrap()], Duration::from_secs(20));
        assert_ne!(out.status.code(), Some(0), "{auth}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{auth}: {}", out.stderr);
    }
}

/// Runs `lifeline ARGS` against the API at `api` with `token` in the
/// environment (and nothing else from the test's environment about it).
fn cli(api: SocketAddr, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lifeline"));
    command
        .args(args)
        .env("LIFELINE_API", format!("http://{api}"))
        .env_remove("LIFELINE_API_TOKEN");
    if let Some(token) = token {
        command.env("LIFELINE_API_TOKEN", token);
    }
    command.output().expect("run lifeline")
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_commands_drive_the_same_server_with_exit_codes_scripts_can_rely_on() {
    let s = start(Net(60), "failback = \"manual\"");
    let status = cli(s.api, None, &["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("www.api.test/A") && shown.contains("web-a") && shown.contains("web ok (200"),
        "{shown}"
    );

    let json = cli(s.api, None, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("status --json is JSON");
    assert_eq!(json["records"][0]["name"], "www.api.test/A");

    let denied = cli(s.api, None, &["drain", "web-a", "--reason", "maintenance"]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("HTTP 401"),
        "{}",
        text(&denied)
    );

    let drained = cli(
        s.api,
        Some(TOKEN),
        &["drain", "web-a", "--reason", "maintenance", "--for", "1h"],
    );
    assert_eq!(drained.status.code(), Some(0), "{}", text(&drained));
    assert!(String::from_utf8_lossy(&drained.stdout).contains("web-a: drain (maintenance) until"));
    wait_for_a(s.server.addr, WWW, &[&s.b]);

    let explain = cli(s.api, None, &["explain", "www.api.test/A"]);
    assert_eq!(explain.status.code(), Some(0), "{}", text(&explain));
    assert!(
        String::from_utf8_lossy(&explain.stdout).contains("web-a is DOWN (drain by"),
        "{}",
        text(&explain)
    );

    let events = cli(s.api, None, &["events", "--kind", "answer", "--json"]);
    let events: serde_json::Value = serde_json::from_slice(&events.stdout).expect("events --json is JSON");
    assert_eq!(events["events"][0]["record"], "www.api.test/A");
    let events = cli(s.api, None, &["events", "--endpoint", "web-a"]);
    assert!(
        String::from_utf8_lossy(&events.stdout).contains("set to drained by"),
        "{}",
        text(&events)
    );

    let undrained = cli(s.api, Some(TOKEN), &["undrain", "web-a"]);
    assert_eq!(undrained.status.code(), Some(0), "{}", text(&undrained));
    // Manual failback: web-a is up again, but answers stay on web-b.
    let sticky = poll_until(CHANGE_WAIT, || {
        get(s.api, RECORD).json()["rule"]["name"] == "manual_sticky"
    });
    assert!(sticky, "{}", get(s.api, RECORD).body);
    let failback = cli(s.api, Some(TOKEN), &["failback", "www.api.test/A"]);
    assert_eq!(failback.status.code(), Some(0), "{}", text(&failback));
    wait_for_a(s.server.addr, WWW, &[&s.a]);

    let reload = cli(s.api, Some(TOKEN), &["reload"]);
    assert_eq!(reload.status.code(), Some(0), "{}", text(&reload));
    assert!(String::from_utf8_lossy(&reload.stdout).contains("reloaded; zones: api.test. serial"));

    let unknown = cli(s.api, Some(TOKEN), &["force-up", "nope", "--reason", "x"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no endpoint named \"nope\""));

    // Nothing listens on a port that was just freed: exit code 2.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = cli(free, None, &["status"]);
    assert_eq!(unreachable.status.code(), Some(2), "{}", text(&unreachable));
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the API"));
}

#[test]
fn metrics_report_decisions_events_and_dns_queries() {
    let s = start(Net(61), "failback = \"auto\"");
    for _ in 0..3 {
        assert!(lookup_a(s.server.addr, WWW).is(&[&s.a]));
    }
    assert_eq!(drain(s.api, "web-a", "").status, 200);
    wait_for_a(s.server.addr, WWW, &[&s.b]);
    let reply = get(s.api, "/metrics");
    assert_eq!(reply.status, 200);
    let content_type = reply.header("content-type").unwrap();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let metrics = &reply.body;
    for line in [
        "lifeline_record_tier{record=\"www.api.test/A\"} 2",
        "lifeline_record_failed_over{record=\"www.api.test/A\"} 1",
        "lifeline_endpoint_up{endpoint=\"web-a\"} 0",
        "lifeline_endpoint_override{endpoint=\"web-a\",mode=\"drain\"} 1",
        "lifeline_answer_changes_total{record=\"www.api.test/A\"} 1",
        "lifeline_events_total{kind=\"override\"} 1",
        "lifeline_check_latency_seconds_count{endpoint=\"web-a\",check=\"web\"}",
        "lifeline_zone_serial{zone=\"api.test.\"} 2",
    ] {
        assert!(metrics.contains(line), "{line:?} not in\n{metrics}");
    }
    let queries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lifeline_dns_udp_queries_total "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(queries.is_some_and(|n| n >= 4), "{metrics}");
    assert!(
        metrics.contains("lifeline_dns_replies_total{transport=\"udp\",rcode=\"NOERROR\"}"),
        "{metrics}"
    );
    // Prometheus asks for OpenMetrics, and gets it.
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let open = common::api::request_with(s.api, "GET", "/metrics", &[("Accept", accept)], None);
    assert!(
        open.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(open.body.contains("# TYPE lifeline_answer_changes counter") && open.body.ends_with("# EOF\n"));
    // `promtool check metrics` (Debian's prometheus) lints names, types and help.
    if let Some(promtool) = external_tool("promtool") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "promtool: {}", text(&out));
    }
}
