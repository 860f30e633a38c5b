//! Snapshot and reload (issue 3 §4): SIGHUP re-reads the configuration and
//! zones; a good change is served, a bad one is rejected with its error
//! logged while the old data keeps serving, a change is applied whole or
//! not at all, and no query is dropped while reloads happen.
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use domain::base::iana::Rtype;

/// How long a reload may take to show.
const RELOAD_WAIT: Duration = Duration::from_secs(5);

/// A small zone with serial `serial` and, when `extra` is set, one more
/// A record `new.ORIGIN`.
fn zone(serial: u32, extra: bool) -> String {
    let mut text = format!(
        "$TTL 300\n\
         @ IN SOA ns1 hostmaster {serial} 3600 600 604800 60\n\
         @ IN NS ns1\n\
         ns1 IN A 127.0.0.53\n\
         www 60 IN A 127.0.0.1\n"
    );
    if extra {
        text.push_str("new 60 IN A 127.0.0.9\n");
    }
    text
}

/// Replaces a file by renaming a complete new one over it, so a reload
/// never reads half of it.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The serial in the SOA the server gives for ORIGIN.
fn serial(addr: SocketAddr, origin: &str) -> u32 {
    let reply = udp(addr, &q(origin, Rtype::SOA));
    let soa = &reply.answer()[0];
    soa.split(' ').nth(6).unwrap().parse().unwrap()
}

/// Sends SIGHUP and waits for the reload to be logged as done or rejected;
/// returns which ("reloaded" or "reload rejected").
fn reload(server: &Lifeline) -> &'static str {
    let done = server.log_count("reloaded");
    let rejected = server.log_count("reload rejected");
    server.sighup();
    let mut outcome = None;
    poll_until(RELOAD_WAIT, || {
        if server.log_count("reloaded") > done {
            outcome = Some("reloaded");
        } else if server.log_count("reload rejected") > rejected {
            outcome = Some("reload rejected");
        }
        outcome.is_some()
    });
    outcome.expect("the reload is logged as done or rejected")
}

#[test]
fn sighup_serves_the_changed_zone() {
    let mut server = Lifeline::with_zones("", "", &[("reload.test", &zone(1, false))]);
    let new = q("new.reload.test", Rtype::A);
    assert_eq!(udp(server.addr, &new).rcode(), "NXDOMAIN");
    assert_eq!(serial(server.addr, "reload.test"), 1);
    replace_file(&server.dir().join("reload.test.zone"), &zone(2, true));
    server.sighup();
    // Polled, not waited for: the first answer with the new record ends it.
    let served = poll_until(RELOAD_WAIT, || udp(server.addr, &new).rcode() == "NOERROR");
    assert!(served, "the new record is served after SIGHUP");
    for reply in [udp(server.addr, &new), tcp(server.addr, &new)] {
        assert!(reply.aa());
        assert_eq!(reply.answer(), ["new.reload.test. 60 IN A 127.0.0.9"]);
    }
    assert_eq!(serial(server.addr, "reload.test"), 2);
    // Negative answers carry the new SOA too.
    let reply = udp(server.addr, &q("gone.reload.test", Rtype::A));
    assert_eq!(reply.rcode(), "NXDOMAIN");
    assert!(reply.authority()[0].contains(" 2 3600 600 604800 60"));
    assert!(server.is_running());
}

#[test]
fn sighup_right_after_startup_reloads_instead_of_killing_the_server() {
    // Regression: the server announced itself before installing its SIGHUP
    // handler, and SIGHUP's default action ended it.
    let mut server = Lifeline::with_zones("", "", &[("reload.test", &zone(1, false))]);
    assert_eq!(reload(&server), "reloaded");
    assert!(server.is_running());
    assert_eq!(serial(server.addr, "reload.test"), 1);
}

#[test]
fn invalid_zone_on_reload_is_rejected_and_the_old_data_keeps_serving() {
    let mut server = Lifeline::with_zones("", "", &[("reload.test", &zone(1, true))]);
    let zone_path = server.dir().join("reload.test.zone");
    let broken = format!("{}bad 60 IN A 300.1.2.3\n", zone(2, true));
    replace_file(&zone_path, &broken);
    assert_eq!(reload(&server), "reload rejected");
    // The error names the zone file and the line of the bad record.
    let logged = server.log_lines("reload rejected").join("\n");
    assert!(logged.contains("reload.test.zone:7"), "{logged}");
    assert!(server.is_running(), "a bad reload does not stop the server");
    // The old data, serial 1, is still what is served, over UDP and TCP.
    assert_eq!(serial(server.addr, "reload.test"), 1);
    for (how, reply) in ask(server.addr, &q("new.reload.test", Rtype::A)) {
        assert_eq!(reply.rcode(), "NOERROR", "{how}");
        assert_eq!(reply.answer(), ["new.reload.test. 60 IN A 127.0.0.9"], "{how}");
    }
    // Fixed, the next reload applies.
    replace_file(&zone_path, &zone(3, false));
    assert_eq!(reload(&server), "reloaded");
    assert_eq!(serial(server.addr, "reload.test"), 3);
    assert_eq!(udp(server.addr, &q("new.reload.test", Rtype::A)).rcode(), "NXDOMAIN");
}

#[test]
fn invalid_config_on_reload_is_rejected_and_the_old_one_keeps_serving() {
    let mut server = Lifeline::with_zones("identity = \"before\"", "", &[("reload.test", &zone(1, false))]);
    let config_path = server.dir().join("lifeline.toml");
    let zones = [("reload.test", "")];
    // An unknown key, together with a zone change that must not apply.
    replace_file(
        &config_path,
        &zones_config("identity = \"after\"\nidentiy = \"typo\"", "", &zones),
    );
    replace_file(&server.dir().join("reload.test.zone"), &zone(2, true));
    assert_eq!(reload(&server), "reload rejected");
    let logged = server.log_lines("reload rejected").join("\n");
    assert!(
        logged.contains("lifeline.toml:") && logged.contains("identiy"),
        "{logged}"
    );
    assert!(server.is_running());
    assert_eq!(serial(server.addr, "reload.test"), 1);
    let id = q("id.server", Rtype::TXT).class(domain::base::iana::Class::CH);
    assert_eq!(udp(server.addr, &id).answer(), ["id.server. 0 CH TXT \"before\""]);
    // The corrected config applies, identity and zone together.
    replace_file(&config_path, &zones_config("identity = \"after\"", "", &zones));
    assert_eq!(reload(&server), "reloaded");
    assert_eq!(udp(server.addr, &id).answer(), ["id.server. 0 CH TXT \"after\""]);
    assert_eq!(serial(server.addr, "reload.test"), 2);
}

#[test]
fn a_reload_applies_all_zones_or_none() {
    // One zone changes for the better, another breaks: neither change is
    // served (DESIGN.md §6: apply atomically or not at all).
    let server = Lifeline::with_zones("", "", &[("one.test", &zone(1, false)), ("two.test", &zone(1, false))]);
    replace_file(&server.dir().join("one.test.zone"), &zone(2, true));
    replace_file(
        &server.dir().join("two.test.zone"),
        "@ IN NS ns1\nns1 IN A 127.0.0.53\n", // no SOA
    );
    assert_eq!(reload(&server), "reload rejected");
    assert_eq!(serial(server.addr, "one.test"), 1);
    assert_eq!(serial(server.addr, "two.test"), 1);
    assert_eq!(udp(server.addr, &q("new.one.test", Rtype::A)).rcode(), "NXDOMAIN");
}

/// Asks for www.reload.test over and over until `stop` (at least `min`
/// times, at most `max`); returns how many were asked and what went wrong.
fn query_loop(addr: SocketAddr, over_tcp: bool, stop: Arc<AtomicBool>, min: usize, max: usize) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut stream = over_tcp.then(|| tcp_connect(addr));
    let mut n = 0;
    while n < max && (n < min || !stop.load(Ordering::Relaxed)) {
        let query = q("www.reload.test", Rtype::A).id(n as u16);
        let wire = query.wire();
        let bytes = match &mut stream {
            Some(stream) => {
                tcp_send(stream, &wire);
                tcp_recv(stream).ok()
            }
            None => udp_raw(addr, &wire, REPLY_TIMEOUT),
        };
        match bytes.map(|b| Reply::parse(b, &wire)) {
            Some(reply)
                if reply.rcode() == "NOERROR"
                    && reply.aa()
                    && reply.answer() == ["www.reload.test. 60 IN A 127.0.0.1"] => {}
            Some(reply) => failures.push(format!("query {n}: {:?}", reply.answer())),
            None => failures.push(format!("query {n}: no reply")),
        }
        n += 1;
    }
    (n, failures)
}

#[test]
fn queries_in_flight_during_reloads_are_never_dropped() {
    let server = Lifeline::with_zones("", "", &[("reload.test", &zone(1, false))]);
    let zone_path = server.dir().join("reload.test.zone");
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = [false, true]
        .into_iter()
        .map(|over_tcp| {
            let (addr, stop) = (server.addr, stop.clone());
            std::thread::spawn(move || query_loop(addr, over_tcp, stop, 2_000, 200_000))
        })
        .collect();
    for i in 0..10 {
        // Every other reload changes the data; all of them swap a snapshot.
        replace_file(&zone_path, &zone(2 + i, i % 2 == 0));
        assert_eq!(reload(&server), "reloaded", "reload {i}");
    }
    stop.store(true, Ordering::Relaxed);
    for (handle, transport) in loops.into_iter().zip(["udp", "tcp"]) {
        let (asked, failures) = handle.join().unwrap();
        assert!(asked >= 2_000, "{transport}: {asked} queries");
        assert!(
            failures.is_empty(),
            "{transport}: {} of {asked} queries failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
    }
    assert_eq!(serial(server.addr, "reload.test"), 11);
}
