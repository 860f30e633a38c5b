//! The configuration reference stays true: its complete example is a valid
//! configuration, and every key the reference tables document is one the
//! parser accepts.
mod common;

use std::process::Command;

use common::TempDir;

fn reference() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap()
}

/// The first ```toml block of the reference.
fn complete_example(doc: &str) -> String {
    let start = doc.find("```toml\n").expect("a toml example") + "```toml\n".len();
    doc[start..start + doc[start..].find("```").unwrap()].to_string()
}

fn check(config: &str) -> std::process::Output {
    let dir = TempDir::new();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/example.test.zone"),
        dir.0.join("example.test.zone"),
    )
    .unwrap();
    dir.write(
        "internal-ca.pem",
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    );
    dir.write("api-token", "0123456789abcdef0123456789abcdef\n");
    dir.write("webhook-secret", "0123456789abcdef0123456789abcdef\n");
    let path = dir.write("lifeline.toml", config);
    Command::new(env!("CARGO_BIN_EXE_lifeline"))
        .args(["check", "--config"])
        .arg(&path)
        .env("LIFELINE_WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef")
        .output()
        .unwrap()
}

#[test]
fn the_complete_example_in_the_reference_is_valid() {
    let out = check(&complete_example(&reference()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("zone example.test.") && summary.contains("zone inline.test."),
        "{summary}"
    );
}

/// The keys in the first column of the tables under a heading: every
/// backticked word of `| `key` |`, `| `a` / `b` |` or `| `a`, `b` |`.
fn documented_keys<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let start = doc.find(heading).unwrap_or_else(|| panic!("no heading {heading}"));
    let section = &doc[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}

#[test]
fn every_documented_key_is_accepted_and_an_undocumented_one_is_not() {
    let doc = reference();
    let example = complete_example(&doc);
    for heading in [
        "## `[server]`",
        "## `[api]`",
        "## `[limits]`",
        "## `[health]`",
        "## `[[record]]`",
        "## `[check.NAME]`",
        "## `[[webhook]]`",
    ] {
        let keys = documented_keys(&doc, heading);
        assert!(keys.len() > 2, "no keys documented under {heading}");
        for key in keys {
            let used = ["\n", "{ ", ", "]
                .iter()
                .any(|before| example.contains(&format!("{before}{key} = ")));
            assert!(
                used,
                "documented key {key} ({heading}) is missing from the complete example"
            );
        }
    }
    let out = check(&example.replace("[limits]\n", "[limits]\nundocumented_key = 1\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("undocumented_key"));
}
