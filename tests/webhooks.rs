//! Webhooks seen from the receiving end: a real HTTP receiver on
//! 127.0.0.1 that is first down (connection refused), then too slow (it
//! answers after the webhook's timeout), then up. Events are made by
//! operator overrides through the API; every one of them arrives, signed
//! (the signature is checked here with `ring`, not with the server's
//! code), in order per record and per endpoint, and none that the receiver
//! acknowledged arrives twice. Pending deliveries survive `kill -9`.
mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::api::{delete, get, post};
use common::*;
use domain::base::iana::Rtype;

const TOKEN: &str = "webhook-test-token-0123456789abcdef";
const SECRET: &str = "webhook-test-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(20);

const ZONE: &str =
    "$ORIGIN w.test.\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 604800 5\n@ IN NS ns\nns IN A 127.0.0.1\n";

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reads the request, then answers 200 only after `SLOW`.
    Slow,
    /// Answers at once with this status.
    Status(u16),
    /// Answers 503 to bodies containing this, 200 to the others.
    FailWhere(&'static str),
}

/// Longer than the webhooks' timeout (300 ms) in [`config`].
const SLOW: Duration = Duration::from_millis(800);

/// One request the receiver read.
#[derive(Debug, Clone)]
struct Delivery {
    method: String,
    path: String,
    /// Lowercased names.
    headers: BTreeMap<String, String>,
    body: String,
    json: serde_json::Value,
}

/// An HTTP/1.1 receiver on 127.0.0.1: one thread per connection, every
/// request kept; requests answered in time are `answered`, those answered
/// too late (`Mode::Slow`) are `late`.
struct Receiver {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    answered: Arc<Mutex<Vec<Delivery>>>,
    late: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A free port with nothing listening on it: connections are refused.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Receiver {
    fn listen(port: u16, mode: Mode) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver's port again");
        listener.set_nonblocking(true).unwrap();
        let mut receiver = Receiver {
            port,
            mode: Arc::new(Mutex::new(mode)),
            answered: Arc::default(),
            late: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        let (mode, answered, late, stop) = (
            receiver.mode.clone(),
            receiver.answered.clone(),
            receiver.late.clone(),
            receiver.stop.clone(),
        );
        receiver.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (mode, answered, late) = (mode.clone(), answered.clone(), late.clone());
                        std::thread::spawn(move || serve(stream, &mode, &answered, &late));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
        receiver
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn answered(&self) -> Vec<Delivery> {
        self.answered.lock().unwrap().clone()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook?source=lifeline", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, mode: &Mutex<Mode>, answered: &Mutex<Vec<Delivery>>, late: &AtomicUsize) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let Some(delivery) = read_request(&mut stream) else {
        return;
    };
    let mode = *mode.lock().unwrap();
    let status = match mode {
        Mode::Slow => {
            std::thread::sleep(SLOW);
            late.fetch_add(1, Ordering::Relaxed);
            200
        }
        Mode::Status(status) => {
            answered.lock().unwrap().push(delivery);
            status
        }
        Mode::FailWhere(text) if delivery.body.contains(text) => 503,
        Mode::FailWhere(_) => {
            answered.lock().unwrap().push(delivery);
            200
        }
    };
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(reply.as_bytes());
}

fn read_request(stream: &mut TcpStream) -> Option<Delivery> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).ok().filter(|&n| n > 0)?;
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?.to_string(), request_line.next()?.to_string());
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    while raw.len() < head_end + length {
        let n = stream.read(&mut buf).ok().filter(|&n| n > 0)?;
        raw.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8(raw[head_end..head_end + length].to_vec()).ok()?;
    let json = serde_json::from_str(&body).expect("the body is JSON");
    Some(Delivery {
        method,
        path,
        headers,
        body,
        json,
    })
}

/// Checks a delivery's headers and its signature, computed here with
/// `ring` from the secret, `X-Lifeline-Timestamp` and the body.
fn assert_signed(d: &Delivery) {
    assert_eq!(d.method, "POST");
    assert_eq!(d.path, "/hook?source=lifeline");
    assert_eq!(d.headers["content-type"], "application/json");
    assert!(d.headers["user-agent"].starts_with("lifeline/"), "{:?}", d.headers);
    let timestamp = &d.headers["x-lifeline-timestamp"];
    let sent: u64 = timestamp.parse().expect("a Unix time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(sent <= now && now - sent < 120, "timestamp {sent}, now {now}");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{timestamp}.{}", d.body).as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(d.headers["x-lifeline-signature"], format!("sha256={hex}"), "{}", d.body);
}

fn config(webhooks: &str) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
udp_threads = 1
[[zone]]
origin = "w.test"
file = "w.test.zone"
[[record]]
name = "www.w.test"
type = "A"
ttl = 5
endpoint = [
  {{ name = "a", address = "127.0.0.2", priority = 1 }},
  {{ name = "b", address = "127.0.0.3", priority = 2 }},
]
{webhooks}"#
    )
}

/// A webhook with the fast retry settings of these tests.
fn webhook(url: &str, extra: &str) -> String {
    format!(
        "[[webhook]]\nurl = \"{url}\"\nsecret_file = \"hook-secret\"\ntimeout = \"300ms\"\n\
         backoff = \"50ms\"\nmax_backoff = \"400ms\"\n{extra}\n"
    )
}

fn start(config: &str, state: Option<&TempDir>) -> Lifeline {
    let mut args = vec!["--api", "127.0.0.1:0"];
    if let Some(state) = state {
        args.extend(["--state-dir", state.0.to_str().unwrap()]);
    }
    Lifeline::with_config_args(
        config,
        &[("w.test.zone", ZONE), ("hook-secret", &format!("{SECRET}\n"))],
        &args,
        &[("LIFELINE_API_TOKEN", TOKEN)],
    )
}

fn answer(server: &Lifeline) -> Vec<String> {
    udp(server.addr, &q("www.w.test", Rtype::A))
        .answer()
        .iter()
        .map(|r| r.rsplit(' ').next().unwrap().to_string())
        .collect()
}

fn set(server: &Lifeline, endpoint: &str, drained: bool) {
    let api = server.api.unwrap();
    let reply = match drained {
        true => {
            let body = format!(r#"{{"endpoint": "{endpoint}", "mode": "drain", "reason": "maintenance"}}"#);
            post(api, "/v1/overrides", Some(TOKEN), &body)
        }
        false => delete(api, &format!("/v1/overrides/{endpoint}"), Some(TOKEN)),
    };
    assert!((200..300).contains(&reply.status), "{}", reply.body);
}

/// Drains and undrains the endpoints; the answer moves each time `a`
/// does. Events: overrides and verdicts of a and b, answers of www.
fn make_events(server: &Lifeline) {
    let moves = [
        ("a", true, "127.0.0.3"),
        ("a", false, "127.0.0.2"),
        ("b", true, "127.0.0.2"),
    ];
    for (endpoint, drained, then) in moves {
        set(server, endpoint, drained);
        assert!(poll_until(WAIT, || answer(server) == [then]), "{endpoint} {drained}");
    }
    set(server, "b", false);
}

/// An event as (lane, kind, at, message): what the API lists, and what a
/// delivery carries.
type Seen = (String, String, String, String);

fn seen(event: &serde_json::Value) -> Seen {
    let text = |k: &str| event[k].as_str().unwrap_or_default().to_string();
    let lane = match text("kind").as_str() {
        "answer" => format!("record:{}", text("record")),
        _ => format!("endpoint:{}", text("endpoint")),
    };
    (lane, text("kind"), text("at"), text("message"))
}

/// The API's events of the given kinds, oldest first.
fn api_events(server: &Lifeline, kinds: &[&str]) -> Vec<Seen> {
    let page = get(server.api.unwrap(), "/v1/events?limit=1000").json();
    let mut events: Vec<Seen> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| kinds.contains(&e["kind"].as_str().unwrap()))
        .map(seen)
        .collect();
    events.reverse();
    events
}

/// The API's change events once no more are coming.
fn settled_events(server: &Lifeline) -> Vec<Seen> {
    let mut last = api_events(server, &CHANGES);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(300));
        let now = api_events(server, &CHANGES);
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("events keep coming: {last:?}");
}

/// A metric's value for one webhook (`name{webhook="URL",...}`).
fn metric(server: &Lifeline, name: &str, url: &str, result: Option<&str>) -> Option<u64> {
    let text = get(server.api.unwrap(), "/metrics").body;
    let labels = match result {
        Some(r) => format!("{name}{{webhook=\"{url}\",result=\"{r}\"}} "),
        None => format!("{name}{{webhook=\"{url}\"}} "),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&labels))
        .map(|v| v.trim().parse().unwrap())
}

/// Events in `got` (in arrival order) grouped by lane.
fn by_lane(got: &[Seen]) -> BTreeMap<String, Vec<Seen>> {
    let mut lanes: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for s in got {
        lanes.entry(s.0.clone()).or_default().push(s.clone());
    }
    lanes
}

const CHANGES: [&str; 3] = ["answer", "verdict", "override"];

#[test]
fn every_event_arrives_signed_and_in_order_after_the_receiver_was_down_then_slow() {
    let port = free_port();
    let main_url = format!("http://127.0.0.1:{port}/hook?source=lifeline");
    let answers = Receiver::listen(free_port(), Mode::Status(204));
    let refusing = Receiver::listen(free_port(), Mode::Status(400));
    let hooks = [
        webhook(&main_url, "max_attempts = 1000"),
        webhook(&answers.url(), "events = [\"answer\"]\nrecords = [\"www.w.test\"]"),
        webhook(&refusing.url(), "events = [\"override\"]"),
    ];
    let server = start(&config(&hooks.concat()), None);
    make_events(&server);
    let expected = settled_events(&server);
    let n = expected.len() as u64;
    assert!(n >= 10, "{expected:?}");

    // Down: every event is queued, and attempts are refused.
    assert!(poll_until(WAIT, || metric(
        &server,
        "lifeline_webhook_queued",
        &main_url,
        None
    ) == Some(n)));
    assert!(poll_until(WAIT, || server.log_count("Connection refused") >= 3));
    // Meanwhile the other webhooks got theirs: one receiver down holds back no other.
    let answer_events: Vec<Seen> = expected.iter().filter(|e| e.1 == "answer").cloned().collect();
    assert!(poll_until(WAIT, || answers.answered().len() == answer_events.len()));
    let got: Vec<Seen> = answers.answered().iter().map(|d| seen(&d.json)).collect();
    assert_eq!(got, answer_events, "only the record's answers, in order");
    let overrides = expected.iter().filter(|e| e.1 == "override").count();
    assert!(poll_until(WAIT, || metric(
        &server,
        "lifeline_webhook_deliveries_total",
        &refusing.url(),
        Some("failed")
    ) == Some(overrides as u64)));
    assert_eq!(refusing.answered().len(), overrides, "a 400 is not retried");
    assert!(server.log_count("not retried: HTTP 400") >= overrides);

    // Slow: the receiver reads the requests but answers after the timeout.
    let receiver = Receiver::listen(port, Mode::Slow);
    assert!(poll_until(WAIT, || receiver.late.load(Ordering::Relaxed) >= 2));
    assert!(server.log_count("no answer within 300ms") >= 2);
    assert_eq!(metric(&server, "lifeline_webhook_queued", &main_url, None), Some(n));

    // Up: everything arrives.
    receiver.set_mode(Mode::Status(200));
    assert!(
        poll_until(WAIT, || metric(&server, "lifeline_webhook_queued", &main_url, None)
            == Some(0)),
        "still queued: {:?}",
        metric(&server, "lifeline_webhook_queued", &main_url, None)
    );
    let delivered = receiver.answered();
    for d in delivered.iter().chain(&answers.answered()).chain(&refusing.answered()) {
        assert_signed(d);
    }
    let mut ids: Vec<&str> = delivered.iter().map(|d| d.json["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), delivered.len(), "an acknowledged event was sent again");
    let got: Vec<Seen> = delivered.iter().map(|d| seen(&d.json)).collect();
    let mut sorted_got = got.clone();
    let mut sorted_expected = expected.clone();
    sorted_got.sort();
    sorted_expected.sort();
    assert_eq!(sorted_got, sorted_expected, "every event once");
    assert_eq!(
        by_lane(&got),
        by_lane(&expected),
        "in order per record and per endpoint"
    );
    assert_eq!(
        metric(
            &server,
            "lifeline_webhook_deliveries_total",
            &main_url,
            Some("delivered")
        ),
        Some(n)
    );
    let first = &delivered[0].json;
    assert!(first["id"].is_string() && first["at"].is_string() && first["message"].is_string());
}

#[test]
fn an_endpoint_whose_events_keep_failing_holds_back_no_other_record_or_endpoint() {
    let receiver = Receiver::listen(free_port(), Mode::FailWhere("\"endpoint\":\"a\""));
    let url = receiver.url();
    let server = start(&config(&webhook(&url, "max_attempts = 1000")), None);
    make_events(&server);
    let expected = settled_events(&server);
    let (of_a, others): (Vec<Seen>, Vec<Seen>) = expected.iter().cloned().partition(|e| e.0 == "endpoint:a");
    assert!(!of_a.is_empty() && !others.is_empty(), "{expected:?}");
    assert!(poll_until(WAIT, || receiver.answered().len() == others.len()));
    let got: Vec<Seen> = receiver.answered().iter().map(|d| seen(&d.json)).collect();
    assert_eq!(by_lane(&got), by_lane(&others), "the other lanes, in order");
    assert!(poll_until(WAIT, || server.log_count("retrying in") >= 3));
    assert_eq!(
        metric(&server, "lifeline_webhook_queued", &url, None),
        Some(of_a.len() as u64),
        "endpoint a's events wait"
    );

    receiver.set_mode(Mode::Status(200));
    assert!(poll_until(WAIT, || receiver.answered().len() == expected.len()));
    let got: Vec<Seen> = receiver.answered().iter().map(|d| seen(&d.json)).collect();
    assert_eq!(by_lane(&got), by_lane(&expected), "endpoint a's events too, in order");
}

#[test]
fn events_queued_while_the_receiver_is_down_survive_kill_9() {
    let state = TempDir::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook?source=lifeline");
    let config = config(&webhook(&url, "max_attempts = 1000"));
    let server = start(&config, Some(&state));
    make_events(&server);
    let before = settled_events(&server);
    let n = before.len() as u64;
    // Queued means committed to the store.
    assert!(poll_until(WAIT, || metric(
        &server,
        "lifeline_webhook_queued",
        &url,
        None
    ) == Some(n)));
    server.kill9();
    drop(server);

    let receiver = Receiver::listen(port, Mode::Status(200));
    let server = start(&config, Some(&state));
    assert!(poll_until(WAIT, || server
        .log_count("resending deliveries kept from before the restart")
        == 1));
    let deadline = Instant::now() + WAIT;
    let arrived = |got: &[Seen]| before.iter().all(|e| got.contains(e));
    while !arrived(&receiver.answered().iter().map(|d| seen(&d.json)).collect::<Vec<_>>()) {
        assert!(Instant::now() < deadline, "not resent after the restart");
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = receiver.answered();
    delivered.iter().for_each(assert_signed);
    let got: Vec<Seen> = delivered
        .iter()
        .map(|d| seen(&d.json))
        .filter(|s| before.contains(s))
        .collect();
    assert_eq!(got.len(), before.len(), "each kept event once");
    assert_eq!(by_lane(&got), by_lane(&before), "in order per record and per endpoint");
    drop(server);
}

#[test]
fn a_bad_webhook_is_refused_with_its_place_and_field() {
    let cases = [
        (
            "url = \"ftp://127.0.0.1/hook\"\nsecret = \"0123456789abcdef\"",
            "webhook[0].url",
            1,
            "http://",
        ),
        ("url = \"http://127.0.0.1:9/hook\"", "webhook[0].url", 1, "secret"),
        (
            "url = \"http://127.0.0.1:9/hook\"\nsecret = \"short\"",
            "webhook[0].secret",
            2,
            "16..=4096",
        ),
        (
            "url = \"http://127.0.0.1:9/hook\"\nsecret = \"0123456789abcdef\"\nevents = [\"answer\", \"everything\"]",
            "webhook[0].events",
            3,
            "not a kind of event",
        ),
        (
            "url = \"http://127.0.0.1:9/hook\"\nsecret = \"0123456789abcdef\"\nrecords = [\"nope.w.test\"]",
            "webhook[0].records",
            3,
            "not a configured record",
        ),
        (
            "url = \"http://127.0.0.1:9/hook\"\nsecret = \"0123456789abcdef\"\nqueue = 0",
            "webhook[0].queue",
            3,
            "out of range",
        ),
        (
            "url = \"http://127.0.0.1:9/hook\"\nsecret = \"0123456789abcdef\"\nretries = 3",
            "webhook.retries",
            3,
            "unknown field",
        ),
    ];
    for (table, field, offset, message) in cases {
        let dir = TempDir::new();
        dir.write("w.test.zone", ZONE);
        let text = config(&format!("[[webhook]]\n{table}\n"));
        let line = text.lines().position(|l| l == "[[webhook]]").unwrap() + 1 + offset;
        let path = dir.write("lifeline.toml", &text);
        let out = run_lifeline(&["check", "--config", path.to_str().unwrap()], WAIT);
        assert!(!out.status.success(), "{table}");
        let located = format!("{}:{line}:", path.display());
        assert!(
            out.stderr.contains(&located) && out.stderr.contains(field) && out.stderr.contains(message),
            "{table}\n{}",
            out.stderr
        );
    }
}

#[test]
fn a_reload_applies_added_changed_and_removed_webhooks() {
    let first = Receiver::listen(free_port(), Mode::Status(200));
    let second = Receiver::listen(free_port(), Mode::Status(200));
    let server = start(&config(&webhook(&first.url(), "events = [\"override\"]")), None);
    let kinds = |r: &Receiver| -> Vec<String> {
        r.answered()
            .iter()
            .map(|d| d.json["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let reload = |webhooks: String| {
        std::fs::write(server.dir().join("lifeline.toml"), config(&webhooks)).unwrap();
        let reply = post(server.api.unwrap(), "/v1/reload", Some(TOKEN), "{}");
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    set(&server, "a", true);
    assert!(
        poll_until(WAIT, || kinds(&first) == ["override"]),
        "{:?}",
        kinds(&first)
    );

    // The first now wants answers too; a second one is added.
    reload(webhook(&first.url(), "events = [\"override\", \"answer\"]") + &webhook(&second.url(), ""));
    set(&server, "a", false);
    assert!(
        poll_until(WAIT, || kinds(&first).len() == 3),
        "the changed filter applies: {:?}",
        kinds(&first)
    );
    assert_eq!(kinds(&first)[1..].iter().filter(|k| *k == "answer").count(), 1);
    assert!(
        poll_until(WAIT, || kinds(&second).contains(&"override".to_string())),
        "the added webhook gets events: {:?}",
        kinds(&second)
    );
    for d in first.answered().iter().chain(&second.answered()) {
        assert_signed(d);
    }

    // The first is removed: it gets nothing more.
    reload(webhook(&second.url(), ""));
    let before = (first.answered().len(), second.answered().len());
    set(&server, "b", true);
    assert!(poll_until(WAIT, || second.answered().len() > before.1));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(first.answered().len(), before.0, "a removed webhook is sent nothing");
}

#[test]
fn a_webhook_added_by_reload_to_a_server_started_without_any_gets_events() {
    let receiver = Receiver::listen(free_port(), Mode::Status(200));
    let server = start(&config(""), None);
    std::fs::write(
        server.dir().join("lifeline.toml"),
        config(&webhook(&receiver.url(), "events = [\"override\"]")),
    )
    .unwrap();
    let reply = post(server.api.unwrap(), "/v1/reload", Some(TOKEN), "{}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    set(&server, "a", true);
    assert!(poll_until(WAIT, || receiver.answered().len() == 1));
    assert_signed(&receiver.answered()[0]);
    assert_eq!(receiver.answered()[0].json["endpoint"], "a");
}

/// An HTTPS receiver on 127.0.0.1 with a certificate from `pki`: answers
/// 200 and keeps each body.
struct TlsReceiver {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsReceiver {
    fn start(tls: Arc<rustls::ServerConfig>) -> TlsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (bodies, stop) = (Arc::<Mutex<Vec<String>>>::default(), Arc::<AtomicBool>::default());
        let (b, s) = (bodies.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let Ok(connection) = rustls::ServerConnection::new(tls.clone()) else {
                    continue;
                };
                let mut tls_stream = rustls::StreamOwned::new(connection, stream);
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then the body its Content-Length announces.
                let complete = |raw: &[u8]| {
                    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
                    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .split("content-length:")
                        .nth(1)?
                        .trim_start()
                        .split('\r')
                        .next()?
                        .parse()
                        .ok()?;
                    (raw.len() >= end + length).then(|| String::from_utf8_lossy(&raw[end..end + length]).to_string())
                };
                let body = loop {
                    if let Some(body) = complete(&raw) {
                        break Some(body);
                    }
                    match tls_stream.read(&mut buf) {
                        Ok(n) if n > 0 => raw.extend_from_slice(&buf[..n]),
                        _ => break None,
                    }
                };
                if let Some(body) = body {
                    b.lock().unwrap().push(body);
                    let _ = tls_stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    tls_stream.conn.send_close_notify();
                    let _ = tls_stream.flush();
                }
            }
        });
        TlsReceiver {
            port,
            bodies,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn an_https_receiver_is_verified_against_the_configured_ca() {
    let pki = common::backends::Pki::new();
    let receiver = TlsReceiver::start(pki.valid(&["127.0.0.1"]));
    let url = format!("https://127.0.0.1:{}/hook", receiver.port);
    let body = config(&webhook(&url, "events = [\"override\"]\nca = \"hook-ca.pem\""));
    let server = Lifeline::with_config_args(
        &body,
        &[
            ("w.test.zone", ZONE),
            ("hook-secret", &format!("{SECRET}\n")),
            ("hook-ca.pem", &pki.ca_pem()),
        ],
        &["--api", "127.0.0.1:0"],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    );
    set(&server, "a", true);
    assert!(poll_until(WAIT, || receiver.bodies.lock().unwrap().len() == 1));
    let json: serde_json::Value = serde_json::from_str(&receiver.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(
        (json["kind"].as_str(), json["endpoint"].as_str()),
        (Some("override"), Some("a"))
    );

    // Without the CA (the bundled web roots only) the receiver is not trusted.
    let untrusting = start(&config(&webhook(&url, "events = [\"override\"]")), None);
    set(&untrusting, "b", true);
    assert!(poll_until(WAIT, || untrusting.log_count("TLS with 127.0.0.1") > 0));
    assert_eq!(
        receiver.bodies.lock().unwrap().len(),
        1,
        "nothing sent over an unverified connection"
    );
}

#[test]
fn a_webhook_ca_must_be_a_readable_certificate_for_an_https_url() {
    let dir = TempDir::new();
    dir.write("w.test.zone", ZONE);
    dir.write("hook-secret", SECRET);
    dir.write("not-a-ca.pem", "hello\n");
    for (url, ca, message) in [
        ("http://127.0.0.1:9/hook", "not-a-ca.pem", "https:// URLs only"),
        ("https://127.0.0.1:9/hook", "missing.pem", "missing.pem"),
        ("https://127.0.0.1:9/hook", "not-a-ca.pem", "not-a-ca.pem"),
    ] {
        let path = dir.write("lifeline.toml", &config(&webhook(url, &format!("ca = \"{ca}\""))));
        let out = run_lifeline(&["check", "--config", path.to_str().unwrap()], Duration::from_secs(20));
        assert!(!out.status.success(), "{url} {ca}");
        assert!(out.stderr.contains("webhook[0].ca"), "{}", out.stderr);
        assert!(out.stderr.contains(message), "{}", out.stderr);
    }
}
