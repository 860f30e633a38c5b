//! Log formats of the real binary: `serve --log-format json` and
//! `[server] log_format = "json"` write one JSON object per stderr line
//! with the level, the message and its fields; text stays the default; a
//! bad value in the file names the key.
mod common;

use std::time::Duration;

use common::*;

/// A config serving the example zone on a free port, with `server` lines
/// added to `[server]`.
fn config(server: &str) -> String {
    let zone = std::fs::read_to_string(example_zone()).unwrap();
    zones_config(server, "", &[("example.test", &zone)])
}

fn zone_file() -> (&'static str, String) {
    ("example.test.zone", std::fs::read_to_string(example_zone()).unwrap())
}

/// Waits until the server has logged at least `n` lines; returns them.
fn lines(server: &Lifeline, n: usize) -> Vec<String> {
    let logged = poll_until(Duration::from_secs(10), || server.log_lines("").len() >= n);
    assert!(logged, "fewer than {n} log lines: {:?}", server.log_lines(""));
    server.log_lines("")
}

/// Every line is a JSON object with a level, a message and the fields.
fn assert_json_lines(lines: &[String]) {
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let level = v["level"].as_str().unwrap_or_else(|| panic!("no level: {line}"));
        assert!(["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level), "{line}");
        assert!(v["fields"]["message"].is_string(), "no message: {line}");
        assert!(v["timestamp"].is_string() && v["target"].is_string(), "{line}");
    }
}

#[test]
fn the_flag_makes_every_log_line_a_json_object_with_its_fields() {
    let (name, zone) = zone_file();
    // No token: the server warns that its API is read-only; debug shows more.
    let server = Lifeline::with_config_args(
        &config(""),
        &[(name, &zone)],
        &["--api", "127.0.0.1:0", "--log-format", "json"],
        &[("LIFELINE_LOG", "debug")],
    );
    // The warning comes when the API starts, after the lines of the load.
    assert!(poll_until(Duration::from_secs(10), || server.log_count("read-only") >= 1));
    let lines = lines(&server, 2);
    assert_json_lines(&lines);
    let warning = lines
        .iter()
        .find(|l| l.contains("read-only"))
        .expect("the read-only warning");
    let v: serde_json::Value = serde_json::from_str(warning).unwrap();
    assert_eq!(v["level"], "WARN");
    // Structured fields stay fields, not text in the message.
    let with_fields = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    assert!(
        with_fields
            .into_iter()
            .any(|v| v["fields"].as_object().is_some_and(|f| f.len() > 1)),
        "{lines:?}"
    );
}

#[test]
fn the_configuration_can_ask_for_json_and_text_is_the_default() {
    let (name, zone) = zone_file();
    let server = Lifeline::with_config_args(
        &config("log_format = \"json\""),
        &[(name, &zone)],
        &["--api", "127.0.0.1:0"],
        &[],
    );
    assert_json_lines(&lines(&server, 1));

    let server = Lifeline::with_config_args(&config(""), &[(name, &zone)], &["--api", "127.0.0.1:0"], &[]);
    assert!(poll_until(Duration::from_secs(10), || server.log_count("read-only") >= 1));
    let text = lines(&server, 1);
    assert!(text.iter().all(|l| !l.starts_with('{')), "{text:?}");
    assert!(
        text.iter().any(|l| l.contains("WARN") && l.contains("read-only")),
        "{text:?}"
    );

    // The flag wins over the file.
    let server = Lifeline::with_config_args(
        &config("log_format = \"json\""),
        &[(name, &zone)],
        &["--api", "127.0.0.1:0", "--log-format", "text"],
        &[],
    );
    assert!(lines(&server, 1).iter().all(|l| !l.starts_with('{')));
}

#[test]
fn a_bad_log_format_names_the_key() {
    let dir = TempDir::new();
    let (name, zone) = zone_file();
    dir.write(name, &zone);
    let path = dir.write("lifeline.toml", &config("log_format = \"xml\""));
    let out = run_lifeline(&["check", "--config", path.to_str().unwrap()], Duration::from_secs(20));
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("server.log_format") && out.stderr.contains("\"text\" or \"json\""),
        "{}",
        out.stderr
    );
    let out = run_lifeline(&["serve", "--log-format", "xml"], Duration::from_secs(20));
    assert!(!out.status.success());
    assert!(out.stderr.contains("possible values: text, json"), "{}", out.stderr);
}
