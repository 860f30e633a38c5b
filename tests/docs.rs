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
    let path = dir.write("lifeline.toml", config);
    Command::new(env!("CARGO_BIN_EXE_lifeline"))
        .args(["check", "--config"])
        .arg(&path)
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

#[test]
fn every_documented_key_is_accepted_and_an_undocumented_one_is_not() {
    let doc = reference();
    let example = complete_example(&doc);
    for section in ["server", "limits"] {
        let table = &doc[doc.find(&format!("## `[{section}]`")).unwrap()..];
        let table = &table[..table[3..].find("\n## ").map_or(table.len(), |i| i + 3)];
        let keys: Vec<&str> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        assert!(!keys.is_empty(), "no keys documented for [{section}]");
        for key in keys {
            assert!(
                example.contains(&format!("\n{key} = ")),
                "documented key {section}.{key} is missing from the complete example"
            );
        }
    }
    let out = check(&example.replace("[limits]\n", "[limits]\nundocumented_key = 1\n"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("undocumented_key"));
}
