//! The live status page (issue 6, item 5) against the real binary: a
//! server started with `--api 127.0.0.1:0` checks HTTP backends the test
//! runs on loopback. Over plain HTTP, the page and its assets come with
//! their content types and a Content-Security-Policy, and `/v1/stream`
//! sends the whole picture on connect, then the failover as it happens,
//! and ends when the server shuts down. In a real headless Chromium
//! (driven by chromedriver), the page shows the records and endpoints,
//! logs no error, requests nothing from any other origin, shows a
//! failover within two seconds of the DNS answer changing, and shows an
//! operator's drain.
//!
//! The browser test saves its screenshot to `status-page.png` in Cargo's
//! test scratch directory, and to `docs/status-page.png` when
//! `LIFELINE_UPDATE_SCREENSHOT=1`.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::api::{get, post};
use common::backends::{Backend, Net, backends_on};
use common::records::*;
use common::webdriver::{Chromedriver, Session, browser};
use common::*;
use serde_json::Value;

const ORIGIN: &str = "pg.test";
const WWW: &str = "www.pg.test";
const RECORD: &str = "www.pg.test/A";
const API_RECORD: &str = "api.pg.test/A";
const ENDPOINTS: [&str; 4] = ["api-1", "api-2", "backup", "primary"];
const TOKEN: &str = "test-token-0123456789abcdef";
/// How soon after the DNS answer changes the page must show it.
const PAGE_WAIT: Duration = Duration::from_secs(2);

/// `www` fails over from `primary` (tier 1) to `backup` (tier 2); `api`
/// balances over two endpoints of one tier. One HTTP check every 100 ms.
fn body(net: Net, port: u16) -> String {
    format!(
        r#"[[record]]
name = "{WWW}"
type = "A"
ttl = 30
ttl_degraded = 5
endpoint = [
  {{ name = "primary", address = "{primary}", priority = 1, checks = ["web"] }},
  {{ name = "backup", address = "{backup}", priority = 2, checks = ["web"] }},
]

[[record]]
name = "api.{ORIGIN}"
type = "A"
ttl = 60
endpoint = [
  {{ name = "api-1", address = "{api1}", checks = ["web"] }},
  {{ name = "api-2", address = "{api2}", checks = ["web"] }},
]

{check}"#,
        primary = net.addr(2),
        backup = net.addr(3),
        api1 = net.addr(4),
        api2 = net.addr(5),
        check = http_check("web", port),
    )
}

/// The backends (primary, backup, api-1, api-2) and a server with its API
/// on a free port, once `www` answers the primary and every endpoint has
/// passed a check.
fn start(net: Net) -> (Vec<Backend>, Lifeline, SocketAddr) {
    let (backends, port) = backends_on(&[net.ip(2), net.ip(3), net.ip(4), net.ip(5)]);
    let zone = ("pg.test.zone", zone_text(""));
    let server = Lifeline::with_config_args(
        &config(ORIGIN, &body(net, port)),
        &[(zone.0, &zone.1)],
        &["--api", "127.0.0.1:0"],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    );
    let api = server.api.expect("the API listens");
    wait_for_a(server.addr, WWW, &[&net.addr(2)]);
    let checked = poll_until(CHANGE_WAIT, || {
        let endpoints = get(api, "/v1/endpoints").json()["endpoints"].clone();
        endpoints
            .as_array()
            .is_some_and(|all| all.iter().all(|e| e["checks"][0]["last"]["ok"] == true))
    });
    assert!(checked, "every endpoint has passed a check");
    (backends, server, api)
}

#[test]
fn the_page_and_its_assets_are_served_with_their_types_and_a_policy_that_allows_only_this_server() {
    let (_backends, _server, api) = start(Net(97));
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/status.js", "text/javascript; charset=utf-8"),
        ("/status.css", "text/css; charset=utf-8"),
    ] {
        let reply = get(api, path);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        let policy = reply.header("content-security-policy").unwrap_or_default();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        for directive in ["script-src 'self'", "style-src 'self'", "connect-src 'self'"] {
            assert!(policy.contains(directive), "{path}: {policy} lacks {directive}");
        }
        assert!(
            !policy.contains("unsafe") && !policy.contains("http"),
            "{path}: {policy}"
        );
    }
    let page = get(api, "/").body;
    assert!(page.contains("<script src=\"/status.js\"") && page.contains("href=\"/status.css\""));
    assert_eq!(get(api, "/nothing-here").status, 404, "other paths are still JSON 404s");
}

/// One Server-Sent Events connection, read incrementally.
struct Stream {
    reader: BufReader<TcpStream>,
    /// Decoded body bytes not yet split into messages.
    pending: String,
}

impl Stream {
    fn open(api: SocketAddr) -> Stream {
        let mut stream = TcpStream::connect_timeout(&api, Duration::from_secs(3)).expect("connect to the API");
        stream.set_read_timeout(Some(CHANGE_WAIT)).unwrap();
        write!(
            stream,
            "GET /v1/stream HTTP/1.1\r\nHost: {api}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        for _ in 0..50 {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            if line == "\r\n" {
                break;
            }
            head.push(line.trim().to_ascii_lowercase());
        }
        assert!(head[0].starts_with("http/1.1 200"), "{head:?}");
        assert!(
            head.contains(&"content-type: text/event-stream".to_string()),
            "{head:?}"
        );
        assert!(head.contains(&"transfer-encoding: chunked".to_string()), "{head:?}");
        Stream {
            reader,
            pending: String::new(),
        }
    }

    /// The next message as (event, JSON data); `None` when the server
    /// ended the stream. Comments (keep-alives) are skipped.
    fn next(&mut self) -> Option<(String, Value)> {
        loop {
            while let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = name.to_string();
                    } else if let Some(text) = line.strip_prefix("data: ") {
                        data.push_str(text);
                    }
                }
                if !data.is_empty() {
                    let json =
                        serde_json::from_str(&data).unwrap_or_else(|e| panic!("{event}: not JSON ({e}): {data}"));
                    return Some((event, json));
                }
            }
            let chunk = self.chunk()?;
            self.pending.push_str(&chunk);
        }
    }

    /// One chunk of the body (RFC 9112 §7.1); `None` at the last one, or
    /// when the server closed the connection.
    fn chunk(&mut self) -> Option<String> {
        let mut size = String::new();
        if self.reader.read_line(&mut size).expect("a chunk size") == 0 {
            return None;
        }
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return None;
        }
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data).expect("a chunk");
        data.truncate(size);
        Some(String::from_utf8(data).expect("UTF-8"))
    }

    /// Skips messages until one named `event` passes `done`.
    fn until(&mut self, event: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + CHANGE_WAIT;
        while Instant::now() < deadline {
            match self.next() {
                Some((name, data)) if name == event && done(&data) => return data,
                Some(_) => {}
                None => panic!("the stream ended while waiting for {event}"),
            }
        }
        panic!("no matching {event} within {CHANGE_WAIT:?}");
    }
}

fn record<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {state}"))
}

#[test]
fn the_stream_starts_with_the_whole_picture_follows_a_failover_and_ends_at_shutdown() {
    let net = Net(98);
    let (backends, mut server, api) = start(net);
    let mut stream = Stream::open(api);

    let (event, state) = stream.next().expect("a first message");
    assert_eq!(event, "state");
    assert_eq!(record(&state, RECORD)["answer"]["addresses"][0], net.addr(2));
    assert_eq!(record(&state, RECORD)["tier"], 1);
    let names: Vec<&str> = state["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["primary", "backup", "api-1", "api-2"]);
    let (event, history) = stream.next().unwrap();
    assert_eq!(event, "history");
    let series = history.as_array().unwrap();
    assert_eq!(series.len(), 4, "one series per endpoint and check: {history}");
    assert!(
        series
            .iter()
            .all(|s| s["check"] == "web" && s["results"][0]["ok"] == true)
    );
    let (event, events) = stream.next().unwrap();
    assert_eq!(event, "events");
    assert!(
        !events.as_array().unwrap().is_empty(),
        "the first check results are events"
    );

    let checks = stream.until("checks", |c| c.as_array().is_some_and(|a| !a.is_empty()));
    assert!(checks[0]["latency_ms"].as_f64().unwrap() > 0.0, "{checks}");

    backends[0].set_healthy(false);
    let event = stream.until("event", |e| e["kind"] == "answer" && e["record"] == RECORD);
    assert_eq!(event["new"]["addresses"][0], net.addr(3));
    assert_eq!(event["new"]["tier"], 2);
    let state = stream.until("state", |s| record(s, RECORD)["tier"] == 2);
    assert_eq!(record(&state, RECORD)["failed_over"], true);
    assert_eq!(record(&state, API_RECORD)["tier"], 1, "the other record is untouched");
    let primary = &state["endpoints"][0];
    assert_eq!(primary["name"], "primary");
    assert_eq!(primary["up"], false, "{primary}");

    // A second client, like a browser reconnecting, starts from now.
    let mut again = Stream::open(api);
    let (event, state) = again.next().unwrap();
    assert_eq!(event, "state");
    assert_eq!(record(&state, RECORD)["tier"], 2);

    // Shutdown does not wait for the streams: they end, and the server exits.
    server.sigterm();
    let ended = (0..10_000).find_map(|_| match stream.next() {
        None => Some(true),
        Some(_) => None,
    });
    assert_eq!(ended, Some(true), "the stream ends at shutdown");
    assert!(
        poll_until(CHANGE_WAIT, || !server.is_running()),
        "the server exits with streams open"
    );
}

/// What the page shows, read from its DOM.
#[derive(Debug, Default)]
struct Shown {
    connection: String,
    records: Vec<String>,
    /// Endpoint name and the verdict shown with its badges ("DOWN
    /// drain"), in page order.
    endpoints: Vec<(String, String)>,
    answer: String,
    tier: String,
    /// What `api` answers.
    api_answer: String,
    charts: u64,
    failed_marks: u64,
}

const READ_PAGE: &str = r#"
const www = document.querySelector('tr[data-record="www.pg.test/A"]');
const primary = document.querySelector('tr[data-endpoint="primary"]');
const api = document.querySelector('tr[data-record="api.pg.test/A"]');
return {
  connection: document.getElementById("connection").dataset.state,
  records: [...document.querySelectorAll("tr[data-record]")].map((r) => r.dataset.record),
  endpoints: [...document.querySelectorAll("tr[data-endpoint]")].map((r) =>
    [r.dataset.endpoint, r.querySelector(".verdict").textContent.split(/\s+/).join(" ").trim()]),
  answer: www ? www.querySelector(".answer").textContent : "",
  tier: www ? www.querySelector(".tier").textContent : "",
  api_answer: api ? api.querySelector(".answer").textContent : "",
  charts: document.querySelectorAll("svg.chart polyline").length,
  failed_marks: primary ? primary.querySelectorAll("svg.chart rect.failed").length : 0,
};"#;

fn shown(browser: &Session) -> Shown {
    let v = browser.execute(READ_PAGE);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    Shown {
        connection: v["connection"].as_str().unwrap_or_default().to_string(),
        records: strings(&v["records"]),
        endpoints: v["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                let pair = strings(pair);
                (pair[0].clone(), pair[1].clone())
            })
            .collect(),
        answer: v["answer"].as_str().unwrap_or_default().to_string(),
        tier: v["tier"].as_str().unwrap_or_default().to_string(),
        api_answer: v["api_answer"].as_str().unwrap_or_default().to_string(),
        charts: v["charts"].as_u64().unwrap_or(0),
        failed_marks: v["failed_marks"].as_u64().unwrap_or(0),
    }
}

/// Reads the page until it shows what `done` wants, within `wait`.
fn wait_for_page(browser: &Session, wait: Duration, what: &str, done: impl Fn(&Shown) -> bool) -> Shown {
    let mut last = Shown::default();
    let seen = poll_until(wait, || {
        last = shown(browser);
        done(&last)
    });
    assert!(seen, "the page did not show {what} within {wait:?}; it shows {last:?}");
    last
}

fn verdict<'a>(page: &'a Shown, endpoint: &str) -> &'a str {
    page.endpoints
        .iter()
        .find(|(name, _)| name == endpoint)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn the_page_in_a_real_browser_shows_the_state_and_follows_a_failover_within_two_seconds() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let net = Net(99);
    let (p, b) = (net.addr(2), net.addr(3));
    let (mut backends, server, api) = start(net);
    let driver = Chromedriver::start(chromium, chromedriver);
    let browser = driver.session(1100, 1000);
    let origin = format!("http://{api}");
    browser.navigate(&format!("{origin}/"));

    let page = wait_for_page(&browser, CHANGE_WAIT, "the configured state", |s| {
        s.connection == "live" && s.endpoints.len() == 4 && s.charts == 4
    });
    assert_eq!(page.records, [RECORD, API_RECORD]);
    let mut endpoints: Vec<&str> = page.endpoints.iter().map(|(n, _)| n.as_str()).collect();
    endpoints.sort();
    assert_eq!(endpoints, ENDPOINTS);
    assert!(page.endpoints.iter().all(|(_, v)| v == "UP"), "{page:?}");
    assert_eq!((page.answer.as_str(), page.tier.as_str()), (p.as_str(), "1"));

    backends[0].stop();
    wait_for_a(server.addr, WWW, &[&b]);
    let answer_changed = Instant::now();
    let page = wait_for_page(&browser, PAGE_WAIT, "the failover", |s| {
        s.answer == b && s.tier == "2" && verdict(s, "primary") == "DOWN"
    });
    eprintln!(
        "the page showed the failover {:?} after the DNS answer changed",
        answer_changed.elapsed()
    );
    assert_eq!(verdict(&page, "backup"), "UP");

    // An operator's drain shows as such, and the record it belongs to
    // answers without it.
    let drain = r#"{"endpoint": "api-2", "mode": "drain", "reason": "kernel upgrade", "by": "alice"}"#;
    assert_eq!(post(api, "/v1/overrides", Some(TOKEN), drain).status, 200);
    wait_for_page(&browser, CHANGE_WAIT, "the drain", |s| {
        verdict(s, "api-2") == "DOWN drain" && s.api_answer == net.addr(4)
    });

    // A few failed results in the primary's chart, for the screenshot.
    wait_for_page(&browser, CHANGE_WAIT, "failed checks in the chart", |s| {
        s.failed_marks >= 15
    });
    save_screenshot(&browser.screenshot());

    let severe: Vec<_> = browser
        .log("browser")
        .into_iter()
        .filter(|e| e.level == "SEVERE")
        .collect();
    assert!(severe.is_empty(), "the console has errors: {severe:?}");

    let urls = browser.requested_urls();
    for path in ["/", "/status.js", "/status.css", "/v1/stream"] {
        let url = format!("{origin}{path}");
        assert!(urls.contains(&url), "the page loaded {url}; requests: {urls:?}");
    }
    let elsewhere: Vec<&String> = urls
        .iter()
        .filter(|u| !u.starts_with(&format!("{origin}/")) && !u.starts_with("data:"))
        .collect();
    assert!(elsewhere.is_empty(), "requests beyond {origin}: {elsewhere:?}");
}

/// Checks that `png` is a PNG and saves it (see the module comment).
fn save_screenshot(png: &[u8]) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 800 && height >= 600, "the screenshot is {width}×{height}");
    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&scratch, png).unwrap();
    eprintln!("screenshot: {}", scratch.display());
    if std::env::var("LIFELINE_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status-page.png");
        std::fs::write(docs, png).unwrap();
        eprintln!("screenshot: {docs}");
    }
}
