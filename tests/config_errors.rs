//! `lifeline check` on configurations and zones that are wrong: it fails,
//! and its message names the file, the line and the field (issue 3 §2),
//! so an operator can go straight to the mistake. And on the shipped
//! example, it succeeds.
mod common;

use std::time::Duration;

use common::*;

const RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// A zone block pointing at `zone.zone` next to the config.
const ZONE_BLOCK: &str = "[[zone]]\norigin = \"example.test\"\nfile = \"zone.zone\"\n";

/// A good zone for example.test, to which cases append a bad line.
const GOOD_ZONE: &str = "$TTL 300\n\
                         @ IN SOA ns1 hostmaster 1 3600 600 604800 60\n\
                         @ IN NS ns1\n\
                         ns1 IN A 127.0.0.53\n";

/// Runs `lifeline check --config` on `config` (with `zone` as zone.zone
/// next to it); returns the outcome and the paths of the two files.
fn check(config: &str, zone: &str) -> (Finished, String, String) {
    let dir = TempDir::new();
    let config_path = dir.write("lifeline.toml", config);
    let zone_path = dir.write("zone.zone", zone);
    let path = config_path.to_str().unwrap();
    let finished = run_lifeline(&["check", "--config", path], RUN_TIMEOUT);
    (finished, path.to_string(), zone_path.to_str().unwrap().to_string())
}

/// Asserts that check failed and that its message starts at `file:line:`
/// and contains every one of `words` (the field, what was wrong).
#[track_caller]
fn assert_rejected(finished: &Finished, file: &str, line: usize, words: &[&str]) {
    assert!(
        !finished.status.success(),
        "check must fail; stdout: {}",
        finished.stdout
    );
    let message = finished.stderr.trim();
    let at = format!("lifeline: {file}:{line}:");
    assert!(message.starts_with(&at), "expected {at}… got: {message}");
    for word in words {
        assert!(message.contains(word), "expected {word:?} in: {message}");
    }
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let config = format!("[server]\nlisten = [\"127.0.0.1:53\"]\nlisen = [\"127.0.0.1:53\"]\n\n{ZONE_BLOCK}");
    let (finished, file, _) = check(&config, GOOD_ZONE);
    assert_rejected(&finished, &file, 3, &["lisen", "listen"]);
    // An unknown table too.
    let (finished, file, _) = check(&format!("{ZONE_BLOCK}\n[limit]\nx = 1\n"), GOOD_ZONE);
    assert_rejected(&finished, &file, 5, &["limit"]);
}

#[test]
fn wrong_type_is_named_with_its_line() {
    let config = format!("[limits]\nedns_udp_size = \"big\"\n\n{ZONE_BLOCK}");
    let (finished, file, _) = check(&config, GOOD_ZONE);
    assert_rejected(&finished, &file, 2, &["edns_udp_size", "string"]);
    let config = format!("[server]\nudp_threads = 2\nidentity = 7\n\n{ZONE_BLOCK}");
    let (finished, file, _) = check(&config, GOOD_ZONE);
    assert_rejected(&finished, &file, 3, &["identity"]);
}

#[test]
fn out_of_range_limits_are_errors_with_the_allowed_range() {
    // Never clamped (STYLE.md habit 4): the message gives the range.
    let cases = [
        ("edns_udp_size = 100", "limits.edns_udp_size", "512..=4096"),
        ("edns_udp_size = 65535", "limits.edns_udp_size", "512..=4096"),
        ("tcp_connections = 0", "limits.tcp_connections", "1..=65536"),
        ("tcp_idle_timeout = \"10ms\"", "limits.tcp_idle_timeout", "100ms"),
        ("tcp_idle_timeout = \"5 minutes\"", "limits.tcp_idle_timeout", "500ms"),
    ];
    for (line, field, range) in cases {
        let config = format!("[limits]\n# one of:\n{line}\n\n{ZONE_BLOCK}");
        let (finished, file, _) = check(&config, GOOD_ZONE);
        assert_rejected(&finished, &file, 3, &[field, range]);
    }
}

#[test]
fn bad_listen_address_is_named_with_its_line() {
    for address in ["127.0.0.1", "localhost:53", "[::1]", "127.0.0.1:99999"] {
        let config = format!("[server]\nlisten = [\"{address}\"]\n\n{ZONE_BLOCK}");
        let (finished, file, _) = check(&config, GOOD_ZONE);
        assert_rejected(&finished, &file, 2, &["server.listen", address]);
    }
}

#[test]
fn missing_zone_file_is_named_with_the_config_line() {
    let config = "[server]\nlisten = [\"127.0.0.1:53\"]\n\n[[zone]]\norigin = \"example.test\"\nfile = \"nope.zone\"\n";
    let (finished, file, _) = check(config, GOOD_ZONE);
    assert_rejected(&finished, &file, 6, &["zone[0].file", "nope.zone"]);
}

#[test]
fn bad_record_in_a_zone_file_names_the_zone_file_and_line() {
    let zone = format!("{GOOD_ZONE}www IN A 127.0.0.1\nbad IN A 300.1.2.3\n");
    let (finished, _, zone_file) = check(ZONE_BLOCK, &zone);
    assert_rejected(&finished, &zone_file, 6, &["IPv4"]);
    // A record type the parser does not know, in the middle of the file.
    let zone = format!("{GOOD_ZONE}bad IN NOTATYPE 1\nwww IN A 127.0.0.1\n");
    let (finished, _, zone_file) = check(ZONE_BLOCK, &zone);
    assert_rejected(&finished, &zone_file, 5, &[]);
}

#[test]
fn bad_inline_record_names_the_config_line() {
    let config = "[[zone]]\norigin = \"inline.test\"\nrecords = [\n  \"@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60\",\n  \"@ 300 IN NS ns1\",\n  \"ns1 300 IN A 127.0.0.300\",\n]\n";
    let (finished, file, _) = check(config, GOOD_ZONE);
    assert_rejected(&finished, &file, 6, &[]);
}

#[test]
fn record_outside_the_zone_names_the_zone_file_and_line() {
    let zone = format!("{GOOD_ZONE}www IN A 127.0.0.1\nwww.other.test. IN A 127.0.0.2\n");
    let (finished, _, zone_file) = check(ZONE_BLOCK, &zone);
    assert_rejected(&finished, &zone_file, 6, &["www.other.test", "outside the zone"]);
}

#[test]
fn cname_and_other_data_at_one_name_is_rejected_with_its_line() {
    // RFC 1034 §3.6.2, RFC 2181 §10.1.
    let zone = format!("{GOOD_ZONE}www IN A 127.0.0.1\nwww IN CNAME ns1\n");
    let (finished, _, zone_file) = check(ZONE_BLOCK, &zone);
    assert!(!finished.status.success());
    let message = finished.stderr.trim();
    assert!(
        message.starts_with(&format!("lifeline: {zone_file}:5:"))
            || message.starts_with(&format!("lifeline: {zone_file}:6:")),
        "the line of one of the two records: {message}"
    );
    assert!(message.contains("www.example.test") && message.contains("CNAME and other data"));
}

#[test]
fn zone_without_soa_is_rejected_naming_the_zone_file() {
    let zone = "$TTL 300\n@ IN NS ns1\nns1 IN A 127.0.0.53\n";
    let (finished, _, zone_file) = check(ZONE_BLOCK, zone);
    assert!(!finished.status.success());
    let message = finished.stderr.trim();
    assert!(message.starts_with(&format!("lifeline: {zone_file}:")), "{message}");
    assert!(message.contains("no SOA"), "{message}");
}

#[test]
fn check_accepts_the_shipped_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lifeline.toml");
    let finished = run_lifeline(&["check", "--config", example], RUN_TIMEOUT);
    assert!(finished.status.success(), "{}", finished.stderr);
    let summary = &finished.stdout;
    assert!(summary.contains("configuration OK"), "{summary}");
    assert!(summary.contains("zone example.test.: serial 2026112501"), "{summary}");
    assert!(summary.contains("zone inline.test.: serial 1"), "{summary}");
}

#[test]
fn quick_mode_zone_without_a_file_is_an_error() {
    // `--zone ORIGIN=FILE` is the form tools drive; a bare origin fails at
    // once with a message saying what is expected, and nothing is served.
    for command in ["serve", "check"] {
        let finished = run_lifeline(
            &[command, "--listen", "127.0.0.1:0", "--zone", "example.test"],
            RUN_TIMEOUT,
        );
        assert!(!finished.status.success(), "{command}");
        let message = finished.stderr.trim();
        assert!(
            message.contains("--zone example.test") && message.contains("ORIGIN=FILE"),
            "{command}: {message}"
        );
        assert!(!finished.stdout.contains("listening"), "{command}");
    }
    // And a file that does not exist.
    let finished = run_lifeline(
        &["check", "--zone", "example.test=/nonexistent/example.test.zone"],
        RUN_TIMEOUT,
    );
    assert!(!finished.status.success());
    assert!(
        finished.stderr.contains("/nonexistent/example.test.zone"),
        "{}",
        finished.stderr
    );
}

#[test]
fn dual_stack_record_mistakes_are_named_with_line_column_and_field() {
    let record = |keys: &str, endpoint: &str| {
        format!("{ZONE_BLOCK}\n[[record]]\nname = \"www.example.test\"\n{keys}\nendpoint = [{endpoint}]\n")
    };
    let v4_only = r#"{ name = "web1", address = "127.0.0.2" }"#;
    let (finished, file, _) = check(&record("type = [\"A\", \"AAAA\"]", v4_only), GOOD_ZONE);
    assert_rejected(
        &finished,
        &file,
        7,
        &[
            "7:8:",
            "record[0].type",
            "type includes AAAA, but no endpoint has an IPv6 address",
        ],
    );
    let both = r#"{ name = "web1", addresses = ["127.0.0.2", "::1"] }"#;
    let (finished, file, _) = check(&record("type = \"A\"\nfamilies = \"together\"", both), GOOD_ZONE);
    assert_rejected(&finished, &file, 8, &["record[0].families", "both types"]);
    let (finished, file, _) = check(&record("type = \"AAAA\"", both), GOOD_ZONE);
    assert_rejected(
        &finished,
        &file,
        8,
        &[
            "8:43:",
            "record[0].endpoint[0].addresses",
            "127.0.0.2 is not an AAAA address",
        ],
    );
}
