//! The state store: overrides and manual-failover state survive `kill -9`
//! (DESIGN.md §6). Every write the API acknowledged is there after a
//! restart, and in force before the first query is answered.
mod common;

use std::process::Command;
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

fn kill9(server: &Lifeline) {
    assert!(
        Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(100));
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
    kill9(&server);
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
    kill9(&server);
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
    kill9(&server);
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

#[test]
fn acknowledged_writes_survive_kills_at_random_moments() {
    let state = TempDir::new();
    let endpoints = ["a", "b", "c"];
    // Last acknowledged state per endpoint: true = drained.
    let mut expected = [false; 3];
    let mut seed = 0x9e37_79b9_u64;
    for round in 0..4 {
        let server = start(&state, "auto");
        let api = server.api.unwrap();
        let pid = server.pid();
        // Kill the server at a pseudo-random moment while writes go on.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(20 + seed % 200);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        });
        // The write cut off by the kill may or may not have landed.
        let mut in_doubt = None;
        for i in 0..200 {
            let e = (i + round) % 3;
            let drained = i % 2 == 0;
            let reply = if drained {
                let body = format!(
                    r#"{{"endpoint": "{}", "mode": "drain", "reason": "crash test"}}"#,
                    endpoints[e]
                );
                common::api::try_request(api, "POST", "/v1/overrides", Some(TOKEN), Some(&body))
            } else {
                common::api::try_request(
                    api,
                    "DELETE",
                    &format!("/v1/overrides/{}", endpoints[e]),
                    Some(TOKEN),
                    None,
                )
            };
            match reply {
                Some(status) if (200..300).contains(&status) => expected[e] = drained,
                Some(status) => panic!("write refused with {status}"),
                None => {
                    in_doubt = Some(e);
                    break;
                }
            }
        }
        killer.join().unwrap();
        drop(server);
        // A write cut off by the kill is either there or not; what was
        // acknowledged must be. Check through a fresh server.
        let server = start(&state, "auto");
        let listed = common::api::get(server.api.unwrap(), "/v1/overrides").json();
        for (e, name) in endpoints.iter().enumerate() {
            let drained = listed.to_string().contains(&format!("\"{name}\"")) && listed.to_string().contains("drain");
            if in_doubt != Some(e) {
                assert_eq!(
                    drained, expected[e],
                    "round {round}: {name} is not as last acknowledged: {listed}"
                );
            }
        }
        // Settle the state to what the server says, for the next round.
        for (e, name) in endpoints.iter().enumerate() {
            let status = delete(server.api.unwrap(), &format!("/v1/overrides/{name}"), Some(TOKEN)).status;
            assert!((200..300).contains(&status) || status == 404);
            expected[e] = false;
        }
    }
}
