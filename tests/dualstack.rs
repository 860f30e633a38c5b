//! Dual-stack records end to end (issue 5, item 7): one `[[record]]` with
//! `type = ["A", "AAAA"]` whose primary endpoint has an IPv4 and an IPv6
//! address, each served by its own HTTP listener (127.0.N.2:P and
//! [::1]:P), so that one family can be taken down alone. The real binary
//! checks each family over its own address; real DNS queries for A and
//! AAAA show which answers fail over when the IPv6 listener stops:
//! with `families = "independent"` only the AAAA answer, with
//! `families = "together"` both. The API shows the verdict of each family.
//!
//! The backup endpoint has no checks (always up); its IPv6 address is the
//! IPv4-mapped form of its IPv4 one, answered but never probed. Checks
//! run every 100 ms with `fall = 2`; every wait has a deadline
//! ([`CHANGE_WAIT`]).
mod common;

use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;
use std::time::Duration;

use common::api::get;
use common::backends::{Backend, Net, bind_same_port};
use common::records::*;
use common::*;
use domain::base::iana::Rtype;

const ORIGIN: &str = "ds.test";
const WWW: &str = "www.ds.test";

/// One test at a time: a test stops its listener on [::1]:P, and another
/// test of this file binding [::1]:P meanwhile would make the stopped
/// family look alive.
static IPV6_LOOPBACK: Mutex<()> = Mutex::new(());

/// Whether ::1 can be bound here; prints why the test is skipped if not.
fn ipv6_loopback() -> bool {
    match TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipping: IPv6 loopback ::1 is unavailable here ({e})");
            false
        }
    }
}

/// The backends of the primary, one per family, and a server checking them.
struct Setup {
    v4: Backend,
    v6: Backend,
    server: Lifeline,
    api: SocketAddr,
    /// The primary's IPv4 address; ::1 is its IPv6 address.
    primary: String,
    /// The backup's IPv4 address and IPv6 (IPv4-mapped) address.
    backup: (String, String),
}

fn start(net: Net, families: &str) -> Setup {
    start_env(net, families, &[])
}

fn start_env(net: Net, families: &str, env: &[(&str, &str)]) -> Setup {
    let (mut listeners, port) = bind_same_port(&[net.ip(2), "::1".parse().unwrap()]);
    let v6 = Backend::http(listeners.pop().unwrap());
    let v4 = Backend::http(listeners.pop().unwrap());
    let (primary, backup) = (net.addr(2), net.addr(3));
    let backup_v6 = format!("::ffff:{backup}");
    let body = format!(
        r#"[[record]]
name = "{WWW}"
type = ["A", "AAAA"]
families = "{families}"
ttl = 30
ttl_degraded = 5
endpoint = [
  {{ name = "primary", addresses = ["{primary}", "::1"], priority = 1, checks = ["web"] }},
  {{ name = "backup", addresses = ["{backup}", "{backup_v6}"], priority = 2 }},
]

{check}"#,
        check = http_check("web", port),
    );
    let zone = zone_text("");
    let files = [(format!("{ORIGIN}.zone"), zone)];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let server = Lifeline::with_config_args(&config(ORIGIN, &body), &files, &["--api", "127.0.0.1:0"], env);
    let api = server.api.expect("the server prints where its API listens");
    Setup {
        v4,
        v6,
        server,
        api,
        primary,
        backup: (backup.clone(), canonical_v6(&backup_v6)),
    }
}

/// An IPv6 address as answers print it.
fn canonical_v6(text: &str) -> String {
    text.parse::<std::net::Ipv6Addr>().unwrap().to_string()
}

fn wait_for(addr: SocketAddr, rtype: Rtype, addresses: &[&str]) -> Answered {
    wait_until(addr, WWW, rtype, &format!("{addresses:?}"), |a| a.is(addresses))
}

/// The API's verdict of endpoint `name`.
fn endpoint_up(api: SocketAddr, name: &str) -> bool {
    let reply = get(api, &format!("/v1/endpoints/{}", name.replace('/', "%2F"))).json();
    reply["up"]
        .as_bool()
        .unwrap_or_else(|| panic!("no verdict for {name}: {reply}"))
}

/// Both families answer the primary, and each family's listener is probed.
fn healthy_start(s: &Setup) {
    wait_for(s.server.addr, Rtype::A, &[&s.primary]);
    wait_for(s.server.addr, Rtype::AAAA, &["::1"]);
    let probed = poll_until(CHANGE_WAIT, || s.v4.requests() >= 3 && s.v6.requests() >= 3);
    assert!(
        probed,
        "each family is checked over its own address: {} IPv4, {} IPv6 requests",
        s.v4.requests(),
        s.v6.requests()
    );
    assert!(endpoint_up(s.api, "primary/v4") && endpoint_up(s.api, "primary/v6"));
}

#[test]
fn independent_families_move_only_the_answer_of_the_family_that_failed() {
    let _one = IPV6_LOOPBACK.lock().unwrap_or_else(|e| e.into_inner());
    if !ipv6_loopback() {
        return;
    }
    let mut s = start(Net(71), "independent");
    let addr = s.server.addr;
    healthy_start(&s);

    s.v6.stop();
    let aaaa = wait_for(addr, Rtype::AAAA, &[&s.backup.1]);
    assert_eq!(aaaa.ttl(), 5, "ttl_degraded while the AAAA answer is failed over");
    assert_eq!(logged(&s.server, "endpoint primary/v6 is now DOWN"), 1);
    // The IPv4 family is still checked and still answered, at the full TTL.
    let v4_requests = s.v4.requests();
    stays(addr, WWW, Rtype::A, &[&s.primary], Duration::from_millis(600));
    assert!(s.v4.requests() > v4_requests, "IPv4 checks go on");
    assert_eq!(lookup(addr, WWW, Rtype::A).ttl(), 30);
    assert_eq!(s.server.log_count("endpoint primary/v4 is now DOWN"), 0);
    assert!(endpoint_up(s.api, "primary/v4") && !endpoint_up(s.api, "primary/v6"));
    let record = get(s.api, "/v1/records/www.ds.test%2FAAAA").json();
    assert_eq!(record["cause"], "best_healthy; down: primary/v6", "{record}");

    s.v6.restart();
    wait_for(addr, Rtype::AAAA, &["::1"]);
    assert!(lookup(addr, WWW, Rtype::A).is(&[&s.primary]));
}

#[test]
fn together_families_move_both_answers_when_one_family_fails() {
    let _one = IPV6_LOOPBACK.lock().unwrap_or_else(|e| e.into_inner());
    if !ipv6_loopback() {
        return;
    }
    let mut s = start(Net(72), "together");
    let addr = s.server.addr;
    healthy_start(&s);

    s.v6.stop();
    let a = wait_for(addr, Rtype::A, &[&s.backup.0]);
    assert_eq!(a.ttl(), 5, "the A answer fails over although its own family is up");
    let aaaa = wait_for(addr, Rtype::AAAA, &[&s.backup.1]);
    assert_eq!(aaaa.ttl(), 5);
    assert_eq!(logged(&s.server, "endpoint primary/v6 is now DOWN"), 1);
    assert_eq!(s.server.log_count("endpoint primary/v4 is now DOWN"), 0);
    // The verdicts stay per family; the A record counts the primary down.
    assert!(endpoint_up(s.api, "primary/v4") && !endpoint_up(s.api, "primary/v6"));
    let explain = get(s.api, "/v1/records/www.ds.test%2FA/explain").json();
    let why = explain["why"].to_string();
    assert!(
        why.contains("primary/v4 is UP") && why.contains("counted DOWN here"),
        "{explain}"
    );
    stays(addr, WWW, Rtype::A, &[&s.backup.0], Duration::from_millis(400));

    s.v6.restart();
    wait_for(addr, Rtype::A, &[&s.primary]);
    wait_for(addr, Rtype::AAAA, &["::1"]);
}

#[test]
fn draining_an_endpoint_by_the_name_written_drains_both_of_its_families() {
    let _one = IPV6_LOOPBACK.lock().unwrap_or_else(|e| e.into_inner());
    if !ipv6_loopback() {
        return;
    }
    let token = "ds-token-0123456789abcdef";
    let s = start_env(Net(73), "independent", &[("LIFELINE_API_TOKEN", token)]);
    healthy_start(&s);
    let reply = common::api::post(
        s.api,
        "/v1/overrides",
        Some(token),
        r#"{"endpoint": "primary", "mode": "drain", "reason": "rack move"}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json = reply.json();
    let named: Vec<&str> = json["endpoints"]
        .as_array()
        .expect("both families are listed")
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["primary/v4", "primary/v6"]);
    wait_for(s.server.addr, Rtype::A, &[&s.backup.0]);
    wait_for(s.server.addr, Rtype::AAAA, &[&s.backup.1]);
    // One family alone, by its own name.
    let reply = common::api::delete(s.api, "/v1/overrides/primary%2Fv6", Some(token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["name"], "primary/v6", "{}", reply.body);
    wait_for(s.server.addr, Rtype::AAAA, &["::1"]);
    assert!(lookup(s.server.addr, WWW, Rtype::A).is(&[&s.backup.0]));
    // Its views are per family, and the name as written says so.
    let reply = get(s.api, "/v1/endpoints/primary");
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains("primary/v4 and primary/v6"), "{}", reply.body);
    // Both, by the name as written.
    let reply = common::api::delete(s.api, "/v1/overrides/primary", Some(token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["endpoints"].as_array().map(Vec::len),
        Some(2),
        "{}",
        reply.body
    );
    wait_for(s.server.addr, Rtype::A, &[&s.primary]);
}
