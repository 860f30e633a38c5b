//! The state store: overrides, manual-failover state, verdicts and the
//! event history survive `kill -9` (DESIGN.md §6). Every write the API
//! acknowledged is there after a restart, and in force before the first
//! query is answered; the store opens intact after every kill.
mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::api::{delete, post};
use common::*;
use domain::base::iana::Rtype;

const TOKEN: &str = "persist-test-token-0123456789abcdef";

const ZONE: &str =
    "$ORIGIN p.test.\n$TTL 60\n@ IN SOA ns hostmaster 1 3600 600 604800 5\n@ IN NS ns\nns IN A 127.0.0.1\n";

fn config(failback: &str) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
udp_threads = 1
[[zone]]
origin = "p.test"
file = "p.test.zone"
[[record]]
name = "www.p.test"
type = "A"
ttl = 5
failback = "{failback}"
endpoint = [
  {{ name = "a", address = "127.0.0.2", priority = 1 }},
  {{ name = "b", address = "127.0.0.3", priority = 2 }},
  {{ name = "c", address = "127.0.0.4", priority = 3 }},
]
"#
    )
}

fn start(state: &TempDir, failback: &str) -> Lifeline {
    let dir = state.0.to_str().unwrap();
    Lifeline::with_config_args(
        &config(failback),
        &[("p.test.zone", ZONE)],
        &["--api", "127.0.0.1:0", "--state-dir", dir],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    )
}

fn answer(server: &Lifeline) -> Vec<String> {
    udp(server.addr, &q("www.p.test", Rtype::A))
        .answer()
        .iter()
        .map(|r| r.rsplit(' ').next().unwrap().to_string())
        .collect()
}

fn drain(server: &Lifeline, endpoint: &str) -> u16 {
    let body = format!(r#"{{"endpoint": "{endpoint}", "mode": "drain", "reason": "maintenance"}}"#);
    post(server.api.unwrap(), "/v1/overrides", Some(TOKEN), &body).status
}

#[test]
fn a_drain_survives_kill_9_and_its_removal_too() {
    let state = TempDir::new();
    let server = start(&state, "auto");
    assert_eq!(answer(&server), ["127.0.0.2"]);
    assert!((200..300).contains(&drain(&server, "a")));
    assert!(poll_until(Duration::from_secs(5), || answer(&server) == ["127.0.0.3"]));
    server.kill9();
    drop(server);

    let server = start(&state, "auto");
    assert_eq!(
        answer(&server),
        ["127.0.0.3"],
        "the drain is in force from the first answer"
    );
    let cleared = delete(server.api.unwrap(), "/v1/overrides/a", Some(TOKEN));
    assert!((200..300).contains(&cleared.status), "{}", cleared.error());
    assert!(poll_until(Duration::from_secs(5), || answer(&server) == ["127.0.0.2"]));
    server.kill9();
    drop(server);

    let server = start(&state, "auto");
    assert_eq!(answer(&server), ["127.0.0.2"], "the cleared drain stays cleared");
}

#[test]
fn a_manual_failover_is_not_forgotten_by_a_restart() {
    let state = TempDir::new();
    let server = start(&state, "manual");
    assert!((200..300).contains(&drain(&server, "a")));
    assert!(poll_until(Duration::from_secs(5), || answer(&server) == ["127.0.0.3"]));
    let undrained = delete(server.api.unwrap(), "/v1/overrides/a", Some(TOKEN));
    assert!((200..300).contains(&undrained.status));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(answer(&server), ["127.0.0.3"], "manual failback: stays on the backup");
    server.kill9();
    drop(server);

    let server = start(&state, "manual");
    assert_eq!(
        answer(&server),
        ["127.0.0.3"],
        "still on the backup after kill -9 and restart"
    );
    let failback = post(
        server.api.unwrap(),
        "/v1/records/www.p.test%2FA/failback",
        Some(TOKEN),
        "{}",
    );
    assert!((200..300).contains(&failback.status), "{}", failback.error());
    assert!(poll_until(Duration::from_secs(5), || answer(&server) == ["127.0.0.2"]));
}

/// The crash test's scale (issue: "1,000 override writes through the API
/// while killing Lifeline with SIGKILL at random moments").
const WRITES: usize = 1000;
/// Concurrent writers, each with its own endpoints, so that the last
/// acknowledged write of each endpoint is well defined.
const WRITERS: usize = 4;
const PER_WRITER: usize = 2;

fn crash_config() -> String {
    let endpoints: Vec<String> = (0..WRITERS * PER_WRITER)
        .map(|i| {
            format!(
                "  {{ name = \"e{i}\", address = \"127.0.0.{}\", priority = 1 }},",
                i + 2
            )
        })
        .collect();
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_threads = 1\n[[zone]]\norigin = \"p.test\"\nfile = \"p.test.zone\"\n\
         [[record]]\nname = \"www.p.test\"\ntype = \"A\"\nttl = 5\nendpoint = [\n{}\n]\n",
        endpoints.join("\n")
    )
}

fn start_crash(state: &TempDir) -> Lifeline {
    Lifeline::with_config_args(
        &crash_config(),
        &[("p.test.zone", ZONE)],
        &["--api", "127.0.0.1:0", "--state-dir", state.0.to_str().unwrap()],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    )
}

/// An endpoint's override as the API lists it ("auto" when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    Drain,
    ForceUp,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Drain => "drain",
            Mode::ForceUp => "force-up",
        }
    }

    /// The write after this one in each endpoint's cycle.
    fn next(self) -> Mode {
        match self {
            Mode::Auto => Mode::Drain,
            Mode::Drain => Mode::ForceUp,
            Mode::ForceUp => Mode::Auto,
        }
    }
}

/// Sets `mode` on `endpoint`; the HTTP status, or `None` when the server
/// went away before a complete reply.
fn write_mode(api: std::net::SocketAddr, endpoint: &str, mode: Mode) -> Option<u16> {
    match mode {
        Mode::Auto => {
            let path = format!("/v1/overrides/{endpoint}");
            common::api::try_request(api, "DELETE", &path, Some(TOKEN), None)
        }
        _ => {
            let body = format!(
                r#"{{"endpoint": "{endpoint}", "mode": "{}", "reason": "crash test"}}"#,
                mode.name()
            );
            common::api::try_request(api, "POST", "/v1/overrides", Some(TOKEN), Some(&body))
        }
    }
}

/// Every endpoint's mode, as `GET /v1/overrides` lists them.
fn listed_modes(api: std::net::SocketAddr, count: usize) -> Vec<Mode> {
    let listed = common::api::get(api, "/v1/overrides").json();
    let mut modes = vec![Mode::Auto; count];
    for o in listed["overrides"].as_array().unwrap() {
        let i: usize = o["endpoint"].as_str().unwrap()[1..].parse().unwrap();
        modes[i] = match o["mode"].as_str().unwrap() {
            "drain" => Mode::Drain,
            "force-up" => Mode::ForceUp,
            other => panic!("unexpected mode {other}"),
        };
    }
    modes
}

/// Opens the store file as a fresh process would and checks it whole.
fn integrity_check(state: &TempDir) {
    let conn = rusqlite::Connection::open(state.0.join("lifeline.db")).expect("the store opens after kill -9");
    let result: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs");
    assert_eq!(result, "ok", "the store is intact after kill -9");
}

/// Every event the API lists, newest first, walking `before=` pages.
fn all_events(api: std::net::SocketAddr) -> Vec<(u64, String)> {
    let mut events = Vec::new();
    let mut before = String::new();
    for _ in 0..100 {
        let page = common::api::get(api, &format!("/v1/events?limit=1000{before}")).json();
        for e in page["events"].as_array().unwrap() {
            events.push((e["id"].as_u64().unwrap(), e["message"].as_str().unwrap().to_string()));
        }
        match page["next_before"].as_u64() {
            Some(b) => before = format!("&before={b}"),
            None => return events,
        }
    }
    panic!("more than 100 pages of events");
}

/// A next pseudo-random number (xorshift).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// What one writer saw in one round.
struct Written {
    /// (endpoint, mode) acknowledged with a 2xx, in order.
    acked: Vec<(usize, Mode)>,
    /// The write cut off by the kill: it may or may not have landed.
    in_doubt: Option<(usize, Mode)>,
}

/// Writes until the server goes away or `total` reaches [`WRITES`].
fn writer(api: std::net::SocketAddr, w: usize, mut modes: Vec<Mode>, total: &AtomicUsize) -> Written {
    let mut written = Written {
        acked: Vec::new(),
        in_doubt: None,
    };
    for i in 0..10 * WRITES {
        if total.load(Ordering::SeqCst) >= WRITES {
            break;
        }
        let slot = i % PER_WRITER;
        let e = w * PER_WRITER + slot;
        let mode = modes[slot].next();
        match write_mode(api, &format!("e{e}"), mode) {
            Some(status) if (200..300).contains(&status) => {
                total.fetch_add(1, Ordering::SeqCst);
                written.acked.push((e, mode));
                modes[slot] = mode;
            }
            Some(status) => panic!("write refused with {status}"),
            None => {
                written.in_doubt = Some((e, mode));
                break;
            }
        }
    }
    written
}

/// Collects every event the API shows, by id, until the server goes away.
fn follow_events(api: std::net::SocketAddr, seen: &Mutex<BTreeMap<u64, String>>) {
    let mut after = seen.lock().unwrap().keys().next_back().copied().unwrap_or(0);
    for _ in 0..100_000 {
        let Some(page) = common::api::try_get_json(api, &format!("/v1/events?limit=1000&after={after}")) else {
            return;
        };
        let events = page["events"].as_array().unwrap();
        assert!(events.len() < 1000, "the follower fell behind");
        let mut seen = seen.lock().unwrap();
        for e in events {
            let id = e["id"].as_u64().unwrap();
            seen.insert(id, e["message"].as_str().unwrap().to_string());
            after = after.max(id);
        }
        drop(seen);
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_thousand_acknowledged_writes_survive_kill_9_at_random_moments() {
    let state = TempDir::new();
    let count = WRITERS * PER_WRITER;
    // The last acknowledged mode of each endpoint, and the write in doubt.
    let mut expected = vec![Mode::Auto; count];
    let mut in_doubt: Vec<Option<Mode>> = vec![None; count];
    // Every event any server showed, by id.
    let seen: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    // The history as checked at the last restart, and where the ids of the
    // server since then began.
    let mut kept = BTreeMap::new();
    let mut floor = 0;
    let total = Arc::new(AtomicUsize::new(0));
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let started = std::time::Instant::now();
    let mut rounds = 0;
    loop {
        let server = start_crash(&state);
        let api = server.api.unwrap();
        // Every acknowledged write is there, the one in doubt either way.
        let listed = listed_modes(api, count);
        for e in 0..count {
            let doubtful = in_doubt[e].is_some_and(|m| m == listed[e]);
            assert!(
                listed[e] == expected[e] || doubtful,
                "after kill {rounds}: e{e} is {:?}, last acknowledged {:?} (in doubt {:?})",
                listed[e],
                expected[e],
                in_doubt[e]
            );
            expected[e] = listed[e];
        }
        in_doubt = vec![None; count];
        floor = check_history(api, &seen.lock().unwrap(), &mut kept, floor, rounds);
        if total.load(Ordering::SeqCst) >= WRITES {
            break;
        }
        assert!(
            rounds < 100 && started.elapsed() < Duration::from_secs(600),
            "{} writes in {rounds} rounds",
            total.load(Ordering::SeqCst)
        );
        let pid = server.pid();
        let delay = Duration::from_millis(30 + next(&mut seed) % 400);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        });
        let follower = {
            let seen = seen.clone();
            std::thread::spawn(move || follow_events(api, &seen))
        };
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let modes = expected[w * PER_WRITER..(w + 1) * PER_WRITER].to_vec();
                let total = total.clone();
                std::thread::spawn(move || writer(api, w, modes, &total))
            })
            .collect();
        for written in writers.into_iter().map(|h| h.join().unwrap()) {
            for (e, mode) in written.acked {
                expected[e] = mode;
            }
            if let Some((e, mode)) = written.in_doubt {
                in_doubt[e] = Some(mode);
            }
        }
        killer.join().unwrap();
        follower.join().unwrap();
        drop(server);
        integrity_check(&state);
        rounds += 1;
    }
    assert!(rounds >= 3, "the writes spanned several kills ({rounds})");
    // Only the last milliseconds before each kill may be missing.
    let overrides = kept.values().filter(|m| m.contains(" set to ")).count();
    eprintln!("{WRITES} writes, {rounds} kills, {overrides} override events kept");
    assert!(
        overrides >= WRITES / 2,
        "{overrides} override events kept of {WRITES} writes"
    );
}

/// The event history after a restart: ids strictly decreasing page after
/// page; everything kept at the previous restart still there; of the
/// lifetime just killed (ids above `floor`), a prefix of what it showed,
/// with the same content (only the last milliseconds before a kill may be
/// lost); and the newest id at least every id shown before, so none is
/// given again. Returns the newest id.
fn check_history(
    api: std::net::SocketAddr,
    seen: &BTreeMap<u64, String>,
    kept_before: &mut BTreeMap<u64, String>,
    floor: u64,
    round: usize,
) -> u64 {
    let history = all_events(api);
    let ids: Vec<u64> = history.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "ids strictly decrease: {ids:?}");
    let shown_max = seen.keys().next_back().copied().unwrap_or(0);
    let latest = common::api::get(api, "/v1/events?limit=1").json()["latest"]
        .as_u64()
        .unwrap();
    assert!(
        latest >= shown_max,
        "round {round}: latest {latest} < {shown_max} shown before the kill"
    );
    let kept: BTreeMap<u64, String> = history.into_iter().filter(|(id, _)| *id <= shown_max).collect();
    for (id, message) in kept_before.iter() {
        assert_eq!(
            kept.get(id),
            Some(message),
            "round {round}: event {id} was kept, now it is not"
        );
    }
    let kept_max = kept.keys().next_back().copied().unwrap_or(0);
    for (id, message) in seen.range(floor + 1..=kept_max) {
        assert_eq!(
            kept.get(id),
            Some(message),
            "round {round}: event {id} shown before the kill is not in the history (kept up to {kept_max})"
        );
    }
    *kept_before = kept;
    latest
}

/// A record whose tier-1 endpoint `a` has one exec check that takes
/// `SLOW` seconds and passes while `flag` exists; `b` (tier 2) has no
/// checks. `interval` tells one definition of the check from another.
fn verdict_config(flag: &std::path::Path, interval: &str) -> String {
    format!(
        r#"[server]
listen = ["127.0.0.1:0"]
udp_threads = 1
[[zone]]
origin = "p.test"
file = "p.test.zone"
[check.slow]
kind = "exec"
command = "/bin/sh"
args = ["-c", "sleep {SLOW}; test -e {}"]
interval = "{interval}"
timeout = "{}s"
rise = 1
fall = 1
[[record]]
name = "www.p.test"
type = "A"
ttl = 5
endpoint = [
  {{ name = "a", address = "127.0.0.2", priority = 1, checks = ["slow"] }},
  {{ name = "b", address = "127.0.0.3", priority = 2 }},
]
"#,
        flag.display(),
        SLOW + 2
    )
}

/// Seconds the slow check takes: the first answers after a start come
/// before its first result (its first run is due within its first
/// interval, the result `SLOW` seconds later).
const SLOW: u64 = 4;

fn start_verdicts(state: &TempDir, interval: &str) -> Lifeline {
    Lifeline::with_config_args(
        &verdict_config(&state.0.join("up"), interval),
        &[("p.test.zone", ZONE)],
        &["--api", "127.0.0.1:0", "--state-dir", state.0.to_str().unwrap()],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    )
}

/// The kept verdict of `endpoint`, read from the store file.
fn kept_verdict(state: &TempDir, endpoint: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(state.0.join("lifeline.db")).ok()?;
    conn.query_row("SELECT state FROM verdicts WHERE endpoint = ?1", [endpoint], |r| {
        r.get(0)
    })
    .ok()
}

#[test]
fn a_down_verdict_survives_kill_9_unless_its_check_changed() {
    let state = TempDir::new();
    let server = start_verdicts(&state, "8s");
    assert_eq!(answer(&server), ["127.0.0.2"], "a starts up (initial)");
    assert!(
        poll_until(Duration::from_secs(30), || answer(&server) == ["127.0.0.3"]),
        "a's check fails: b answers"
    );
    assert!(
        poll_until(Duration::from_secs(5), || kept_verdict(&state, "a")
            .is_some_and(|v| v.contains("\"up\":false"))),
        "a's verdict is written: {:?}",
        kept_verdict(&state, "a")
    );
    server.kill9();
    drop(server);

    // Same check: the first answers come before its first result, from
    // the kept verdict; starting from `initial` would answer a.
    let server = start_verdicts(&state, "8s");
    assert_eq!(answer(&server), ["127.0.0.3"], "a is still down from the first answer");
    let verdict = common::api::get(server.api.unwrap(), "/v1/endpoints/a").json();
    assert_eq!(verdict["up"], false, "{verdict}");
    let events = common::api::get(server.api.unwrap(), "/v1/events?endpoint=a&kind=verdict").json();
    let restart_flaps = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["up"] == true)
        .count();
    assert_eq!(restart_flaps, 0, "no verdict flapped up: {events}");
    server.kill9();
    drop(server);

    // Another interval is another check: it starts afresh, from `initial`.
    let server = start_verdicts(&state, "9s");
    assert_eq!(
        answer(&server),
        ["127.0.0.2"],
        "a verdict of a changed check is not restored"
    );
}

#[test]
fn events_survive_kill_9_with_their_ids_and_filters() {
    let state = TempDir::new();
    let server = start(&state, "auto");
    let api = server.api.unwrap();
    for endpoint in ["a", "b", "a"] {
        assert!((200..300).contains(&drain(&server, endpoint)));
        let cleared = delete(api, &format!("/v1/overrides/{endpoint}"), Some(TOKEN));
        assert!((200..300).contains(&cleared.status));
    }
    let before = all_events(api);
    let latest = before[0].0;
    assert!(before.len() >= 6, "{before:?}");
    // Events are written a few milliseconds after they happen: wait for
    // them to be in the file before the kill.
    let stored_max = || {
        let conn = rusqlite::Connection::open(state.0.join("lifeline.db")).ok()?;
        conn.query_row("SELECT max(id) FROM events", [], |r| r.get::<_, Option<i64>>(0))
            .ok()
            .flatten()
    };
    assert!(poll_until(Duration::from_secs(5), || stored_max() == Some(latest as i64)));
    server.kill9();
    drop(server);

    let server = start(&state, "auto");
    let api = server.api.unwrap();
    assert_eq!(all_events(api), before, "the same events under the same ids");
    let of_a = common::api::get(api, "/v1/events?endpoint=a&kind=override&limit=2").json();
    let ids: Vec<u64> = of_a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    let older = common::api::get(
        api,
        &format!("/v1/events?endpoint=a&kind=override&before={}", of_a["next_before"]),
    )
    .json();
    let a_overrides = older["events"].as_array().unwrap();
    assert_eq!(a_overrides.len(), 2, "four override events of a in all: {older}");
    assert!(
        a_overrides
            .iter()
            .all(|e| e["endpoint"] == "a" && e["kind"] == "override")
    );
    assert!((200..300).contains(&drain(&server, "c")));
    // The event log takes events from the engine's stream, a moment after
    // the API has answered.
    let newest = || common::api::get(api, "/v1/events?limit=1&kind=override").json();
    let renumbered = poll_until(Duration::from_secs(5), || {
        newest()["events"][0]["endpoint"] == "c" && newest()["events"][0]["id"].as_u64().unwrap() > latest
    });
    assert!(renumbered, "a new event gets a new id: {}", newest());
}
