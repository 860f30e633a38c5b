//! Decisions operators can trust when the checker itself fails (issue 5,
//! item 1) and when the server starts cold (item 3), over real sockets
//! against the real binary:
//!
//! - a checker that stalls: verdicts freeze at their last value and go
//!   stale (a backend that fails meanwhile does not move the answers, nor
//!   does the lack of results), the watchdog replaces the checker with an
//!   event, and the new one fails over as usual;
//! - a checker that dies: replaced, with an event, and results resume;
//! - a target that accepts connections and never answers: its check fails
//!   by timeout, and the checker goes on with every other check;
//! - a cold start with slow checks: a primary that starts `down` is waited
//!   for during `startup_grace`, never answering from the backup only
//!   because its first result is late; a primary that really is down fails
//!   over at its first failed check.
//!
//! The failures are injected with `LIFELINE_FAULT` (docs/operations.md).
mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::api::get;
use common::backends::{Net, backends_on};
use common::records::*;
use common::*;
use domain::base::iana::Rtype;

const ORIGIN: &str = "wd.test";

fn zone() -> String {
    zone_text("")
}

fn start(body: &str, env: &[(&str, &str)]) -> Lifeline {
    Lifeline::with_config_args(
        &config(ORIGIN, body),
        &[("wd.test.zone", &zone())],
        &["--api", "127.0.0.1:0"],
        env,
    )
}

fn api(server: &Lifeline) -> SocketAddr {
    server.api.expect("the server prints where its API listens")
}

fn watchdog_events(server: &Lifeline) -> Vec<serde_json::Value> {
    get(api(server), "/v1/events?kind=watchdog").json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn endpoint(server: &Lifeline, name: &str) -> serde_json::Value {
    get(api(server), &format!("/v1/endpoints/{name}")).json()
}

/// `www`: web-a (tier 1) and web-b (tier 2) on `net`, one HTTP check.
fn failover_body(net: Net, port: u16, interval: &str, timeout: &str) -> String {
    format!(
        r#"[[record]]
name = "www.{ORIGIN}"
type = "A"
ttl = 5
endpoint = [
  {{ name = "web-a", address = "{a}", priority = 1, checks = ["web"] }},
  {{ name = "web-b", address = "{b}", priority = 2, checks = ["web"] }},
]

[check.web]
kind = "http"
port = {port}
path = "/healthz"
interval = "{interval}"
timeout = "{timeout}"
rise = 1
fall = 1
"#,
        a = net.addr(2),
        b = net.addr(3),
    )
}

#[test]
fn a_stalled_checker_freezes_verdicts_then_is_replaced_and_failover_works_again() {
    let net = Net(81);
    let (mut backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let primary = &mut backends[0];
    // Checks every 1 s; the checker stalls 1.5 s after the start. Silence
    // is noticed after three periods (3 × 1.2 s) and the checker replaced.
    let server = start(
        &failover_body(net, port, "1s", "200ms"),
        &[("LIFELINE_FAULT", "checker-stalls-after=1500ms")],
    );
    let www = format!("www.{ORIGIN}");
    wait_for_a(server.addr, &www, &[&net.addr(2)]);
    wait_for_log(&server, "injected fault: the checker stalls", 0);
    // The primary fails while nothing checks it: the answer holds...
    primary.set_healthy(false);
    // ...and the verdict goes stale (no fresh result for 3 × interval)
    // without changing.
    let stale = poll_until(CHANGE_WAIT, || endpoint(&server, "web-a")["stale"] == true);
    assert!(stale, "web-a is marked stale while its checker is stuck");
    let frozen = endpoint(&server, "web-a");
    assert_eq!(frozen["up"], true, "a stale verdict holds its last value: {frozen}");
    assert!(
        lookup_a(server.addr, &www).is(&[&net.addr(2)]),
        "no evidence, no change of the answer"
    );
    // The watchdog notices, says so, and starts a new checker...
    let noticed = poll_until(CHANGE_WAIT, || !watchdog_events(&server).is_empty());
    assert!(noticed, "a watchdog event");
    let event = &watchdog_events(&server)[0];
    assert!(
        event["message"].as_str().unwrap().contains("no check result"),
        "{event}"
    );
    assert!(logged(&server, "checker restarted") >= 1);
    // ...which checks again: the failed primary is seen and the answer
    // moves to the backup.
    wait_for_a(server.addr, &www, &[&net.addr(3)]);
    let after = endpoint(&server, "web-a");
    assert_eq!(
        (after["up"].clone(), after["stale"].clone()),
        (false.into(), false.into()),
        "{after}"
    );
    // Exactly one restart: the new checker runs normally.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(watchdog_events(&server).len(), 1);
}

#[test]
fn a_checker_that_dies_is_replaced_with_an_event_and_results_resume() {
    let net = Net(82);
    let (backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let server = start(
        &failover_body(net, port, "200ms", "100ms"),
        &[("LIFELINE_FAULT", "checker-dies-after=1s")],
    );
    let www = format!("www.{ORIGIN}");
    wait_for_a(server.addr, &www, &[&net.addr(2)]);
    let noticed = poll_until(CHANGE_WAIT, || !watchdog_events(&server).is_empty());
    assert!(noticed, "a watchdog event");
    let event = &watchdog_events(&server)[0];
    assert!(
        event["message"].as_str().unwrap().contains("the checker stopped"),
        "{event}"
    );
    // Results resume: the backend keeps getting requests after the restart.
    let before = backends[0].requests();
    let resumed = poll_until(CHANGE_WAIT, || backends[0].requests() >= before + 3);
    assert!(resumed, "checks run again after the restart");
    backends[0].set_healthy(false);
    wait_for_a(server.addr, &www, &[&net.addr(3)]);
    backends[0].set_healthy(true);
    wait_for_a(server.addr, &www, &[&net.addr(2)]);
    assert_eq!(watchdog_events(&server).len(), 1);
}

/// Accepts connections and never answers on them.
struct Silent {
    addr: SocketAddr,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Silent {
    fn on(ip: IpAddr, port: u16) -> Silent {
        let listener = TcpListener::bind((ip, port)).expect("bind the silent server");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        a.fetch_add(1, Ordering::Relaxed);
                        held.truncate(64);
                        held.push(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Silent {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_target_that_accepts_and_never_answers_fails_by_timeout_and_the_rest_goes_on() {
    let net = Net(83);
    let (backends, port) = backends_on(&[net.ip(3)]);
    let silent = Silent::on(net.ip(2), port);
    assert_eq!(silent.addr.port(), port);
    let body = format!(
        r#"{}
[[record]]
name = "other.{ORIGIN}"
type = "A"
endpoint = [{{ name = "other", address = "{c}", checks = ["web"] }}]
"#,
        failover_body(net, port, "300ms", "150ms"),
        c = net.addr(3),
    );
    let server = start(&body, &[]);
    let www = format!("www.{ORIGIN}");
    // web-a connects and times out: down, with the timeout as its detail.
    wait_for_a(server.addr, &www, &[&net.addr(3)]);
    let a = endpoint(&server, "web-a");
    assert_eq!(a["up"], false, "{a}");
    let detail = a["checks"][0]["last"]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(detail.contains("timed out") || detail.contains("timeout"), "{a}");
    assert!(silent.accepted.load(Ordering::Relaxed) >= 1, "the check did connect");
    // The checker is not stuck: the other endpoints keep being checked and
    // stay up, and no watchdog event is raised.
    let before = backends[0].requests();
    assert!(poll_until(CHANGE_WAIT, || backends[0].requests() >= before + 5));
    assert_eq!(endpoint(&server, "other")["up"], true);
    assert_eq!(endpoint(&server, "other")["stale"], false);
    assert!(lookup_a(server.addr, &format!("other.{ORIGIN}")).is(&[&net.addr(3)]));
    assert!(watchdog_events(&server).is_empty());
    // Stuck connections do not pile up: at most one run in flight per
    // probe, however long the silent target keeps them.
    let metrics = get(api(&server), "/metrics").body;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let (in_flight, probes) = (value("lifeline_checks_in_flight"), value("lifeline_checks_scheduled"));
    assert!((1.0..=3.0).contains(&probes), "{probes} probes");
    assert!(in_flight <= probes, "{in_flight} runs in flight for {probes} probes");
}

/// An HTTP server that answers 200 after `delay`, each connection on its
/// own thread.
struct Slow {
    stop: Arc<AtomicBool>,
    served: Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Slow {
    fn on(ip: IpAddr, port: u16, delay: Duration) -> Slow {
        let listener = TcpListener::bind((ip, port)).expect("bind the slow server");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (s, n) = (stop.clone(), served.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let n = n.clone();
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                            let mut buf = [0u8; 1024];
                            let _ = stream.read(&mut buf);
                            std::thread::sleep(delay);
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                            n.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Slow {
            stop,
            served,
            thread: Some(thread),
        }
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_cold_start_with_slow_checks_never_answers_from_the_backup_during_the_grace() {
    let net = Net(84);
    // `slow-a` answers its checks after 1.5 s; `dead-a` refuses them (no
    // listener); the backups answer at once.
    let (backends, port) = backends_on(&[net.ip(3), net.ip(13)]);
    let slow = Slow::on(net.ip(2), port, Duration::from_millis(1500));
    let body = format!(
        r#"[health]
startup_grace = "10s"

[[record]]
name = "www.{ORIGIN}"
type = "A"
ttl = 30
ttl_degraded = 5
endpoint = [
  {{ name = "slow-a", address = "{a}", priority = 1, checks = ["web"], initial = "down" }},
  {{ name = "slow-b", address = "{b}", priority = 2, checks = ["web"] }},
]

[[record]]
name = "dead.{ORIGIN}"
type = "A"
endpoint = [
  {{ name = "dead-a", address = "{c}", priority = 1, checks = ["web"], initial = "down" }},
  {{ name = "dead-b", address = "{d}", priority = 2, checks = ["web"] }},
]

[check.web]
kind = "http"
port = {port}
path = "/healthz"
interval = "3s"
timeout = "2500ms"
rise = 1
fall = 1
"#,
        a = net.addr(2),
        b = net.addr(3),
        c = net.addr(12),
        d = net.addr(13),
    );
    let started = Instant::now();
    let server = start(&body, &[]);
    let www = format!("www.{ORIGIN}");
    // From the first answer until slow-a's first result (1.5 s): the
    // primary, waited for at the short TTL; never the backup.
    let mut answers = 0;
    while slow.served.load(Ordering::Relaxed) == 0 {
        let answer = lookup_a(server.addr, &www);
        assert!(
            answer.is(&[&net.addr(2)]),
            "during the grace the waiting primary answers, not the backup: {answer:?}"
        );
        assert_eq!(answer.ttl(), 5, "waiting answers use ttl_degraded");
        answers += 1;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "slow-a's check never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(answers >= 10, "{answers} answers before the first result");
    // Its check passed: the primary stays, at the normal TTL.
    let risen = wait_until(server.addr, &www, Rtype::A, "the primary at TTL 30", |a| {
        a.is(&[&net.addr(2)]) && a.ttl() == 30
    });
    assert!(risen.is(&[&net.addr(2)]));
    // dead-a's first check (within the first 3 s interval) fails with
    // connection refused: evidence, so its record fails over at once, long
    // before the 10 s grace ends.
    wait_for_a(server.addr, &format!("dead.{ORIGIN}"), &[&net.addr(13)]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "failed over at its first result, not at the end of the grace"
    );
    assert_eq!(endpoint(&server, "dead-a")["up"], false);
    drop(backends);
}

#[test]
fn a_server_whose_health_engine_dies_exits_with_an_error_instead_of_serving_frozen_answers() {
    let net = Net(85);
    let (_backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let mut server = start(
        &failover_body(net, port, "200ms", "100ms"),
        &[("LIFELINE_FAULT", "engine-dies-after=1s")],
    );
    let www = format!("www.{ORIGIN}");
    wait_for_a(server.addr, &www, &[&net.addr(2)]);
    let exited = poll_until(Duration::from_secs(10), || !server.is_running());
    assert!(exited, "the server exits once its health engine is gone");
    let status = server.exit_status().expect("exited");
    assert!(
        !status.success(),
        "with an error, for the service manager to restart it: {status:?}"
    );
    assert!(
        logged(&server, "the health engine stopped unexpectedly") >= 1,
        "and says why"
    );
}
