//! Health-checked records seen from outside: a config serving one zone
//! with `[[record]]`s and `[check.NAME]`s, the answer a query gets
//! (addresses, TTL, rcode), and waits for an answer to change — or to stay
//! put for a while — with deadlines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use domain::base::iana::Rtype;

use super::{Lifeline, ask, q, udp};

/// How long a test waits for an answer to change after it made a backend
/// fail or recover: detection with the fast settings the tests use is
/// well under a second, this leaves room for a loaded machine.
pub const CHANGE_WAIT: Duration = Duration::from_secs(10);

/// A zone file for `origin` with SOA serial 1 and negative TTL 5, an NS
/// and its address, then `extra` lines.
pub fn zone_text(extra: &str) -> String {
    format!(
        "$TTL 300\n\
         @ IN SOA ns1 hostmaster 1 3600 600 604800 5\n\
         @ IN NS ns1\n\
         ns1 IN A 127.0.0.53\n\
         {extra}"
    )
}

/// A config serving `origin` from `ORIGIN.zone` on 127.0.0.1 port 0 with
/// one UDP thread (so consecutive queries take consecutive answer
/// variants), followed by `body` (records and checks).
pub fn config(origin: &str, body: &str) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nudp_threads = 1\n\n\
         [[zone]]\norigin = \"{origin}\"\nfile = \"{origin}.zone\"\n\n{body}"
    )
}

/// An HTTP check `NAME` of `/healthz` on `port` with the fast settings the
/// tests use: every 100 ms, 80 ms timeout, up after one success, down
/// after two failures.
pub fn http_check(name: &str, port: u16) -> String {
    format!(
        "[check.{name}]\nkind = \"http\"\nport = {port}\npath = \"/healthz\"\n\
         interval = \"100ms\"\ntimeout = \"80ms\"\nrise = 1\nfall = 2\n"
    )
}

/// Serves `origin` with the zone text `zone` and the records and checks in
/// `body`; `files` are written next to the config (e.g. a CA).
pub fn serve(origin: &str, zone: &str, body: &str, files: &[(&str, &str)]) -> Lifeline {
    serve_env(origin, zone, body, files, &[])
}

/// [`serve`] with environment variables for the server.
pub fn serve_env(origin: &str, zone: &str, body: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Lifeline {
    let zone_file = format!("{origin}.zone");
    let mut all = vec![(zone_file.as_str(), zone)];
    all.extend_from_slice(files);
    Lifeline::with_config_env(&config(origin, body), &all, env)
}

/// What one query got: the rcode, the address records (in order) with
/// their TTLs, every answer record as text, and the authority section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub rcode: String,
    pub addresses: Vec<String>,
    pub ttls: Vec<u32>,
    pub records: Vec<String>,
    pub authority: Vec<String>,
}

impl Answered {
    /// The TTL of the address records (they share one: an RRset, RFC 2181 §5.2).
    pub fn ttl(&self) -> u32 {
        let first = *self
            .ttls
            .first()
            .unwrap_or_else(|| panic!("no address records in {self:?}"));
        assert!(self.ttls.iter().all(|&t| t == first), "one TTL per RRset: {self:?}");
        first
    }

    pub fn is(&self, addresses: &[&str]) -> bool {
        self.rcode == "NOERROR" && self.addresses == addresses
    }
}

/// Asks `name` `rtype` over UDP.
pub fn lookup(addr: SocketAddr, name: &str, rtype: Rtype) -> Answered {
    let reply = udp(addr, &q(name, rtype));
    let records = reply.answer();
    let mut addresses = Vec::new();
    let mut ttls = Vec::new();
    for record in &records {
        // "owner. TTL CLASS TYPE RDATA"
        let fields: Vec<&str> = record.split(' ').collect();
        if fields[3] == "A" || fields[3] == "AAAA" {
            ttls.push(fields[1].parse().unwrap());
            addresses.push(fields[4].to_string());
        }
    }
    Answered {
        rcode: reply.rcode(),
        addresses,
        ttls,
        records,
        authority: reply.authority(),
    }
}

/// Asks `name` `rtype` over UDP, UDP with EDNS and TCP (the fast path
/// and the general path of the server) and asserts that all three agree
/// on the rcode, the answer and the authority section; for fixed answers
/// (variants would differ between the transports' query counters).
pub fn lookup_everywhere(addr: SocketAddr, name: &str, rtype: Rtype) -> Answered {
    let answered = lookup(addr, name, rtype);
    for (transport, reply) in ask(addr, &q(name, rtype)) {
        let seen = (reply.rcode(), reply.answer(), reply.authority());
        let expected = (
            answered.rcode.clone(),
            answered.records.clone(),
            answered.authority.clone(),
        );
        assert_eq!(seen, expected, "{name} {rtype} over {transport} differs from plain UDP");
    }
    answered
}

/// The A answer of `name`.
pub fn lookup_a(addr: SocketAddr, name: &str) -> Answered {
    lookup(addr, name, Rtype::A)
}

/// Polls `name` until `done` holds, within [`CHANGE_WAIT`]; returns that
/// answer, or fails with the last one seen.
pub fn wait_until(
    addr: SocketAddr,
    name: &str,
    rtype: Rtype,
    what: &str,
    done: impl Fn(&Answered) -> bool,
) -> Answered {
    let deadline = Instant::now() + CHANGE_WAIT;
    loop {
        let answer = lookup(addr, name, rtype);
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{name} {rtype}: not {what} within {CHANGE_WAIT:?}; last answer {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `name` A answers exactly `addresses`.
pub fn wait_for_a(addr: SocketAddr, name: &str, addresses: &[&str]) -> Answered {
    wait_until(addr, name, Rtype::A, &format!("{addresses:?}"), |a| a.is(addresses))
}

/// Asserts that `name` `rtype` answers exactly `addresses` on every query
/// for `window` (queried every 10 ms).
pub fn stays(addr: SocketAddr, name: &str, rtype: Rtype, addresses: &[&str], window: Duration) {
    let end = Instant::now() + window;
    let mut queries = 0;
    while Instant::now() < end {
        let answer = lookup(addr, name, rtype);
        assert!(
            answer.is(addresses),
            "{name} {rtype} must stay {addresses:?} for {window:?}; after {queries} queries got {answer:?}"
        );
        queries += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The SOA serial the server gives for `origin`.
pub fn serial(addr: SocketAddr, origin: &str) -> u32 {
    let reply = udp(addr, &q(origin, Rtype::SOA));
    let soa = &reply.answer()[0];
    soa.split(' ').nth(6).unwrap().parse().unwrap()
}

/// Waits until the server logged a line containing `needle` more than
/// `before` times; returns when it saw it.
pub fn wait_for_log(server: &Lifeline, needle: &str, before: usize) -> Instant {
    let deadline = Instant::now() + CHANGE_WAIT;
    while server.log_count(needle) <= before {
        assert!(
            Instant::now() < deadline,
            "no new log line with {needle:?} within {CHANGE_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Instant::now()
}

/// How many lines of the server's log contain `needle`, once at least one
/// does: the log is read from the server's stderr on a thread, so a line
/// can arrive after the change it reports has been seen over DNS.
pub fn logged(server: &Lifeline, needle: &str) -> usize {
    wait_for_log(server, needle, 0);
    server.log_count(needle)
}
