//! The API against its own OpenAPI document, fuzzed by Schemathesis
//! (`st`/`schemathesis`, v4): every operation with generated valid and
//! invalid input, the stateful links between them, and every check it has
//! (`--checks all`: no 5xx, status codes, content types, headers and bodies
//! as documented, valid input accepted, invalid input rejected, the bearer
//! token enforced). The server is the real binary with a token and
//! health-checked records whose backends the test runs on loopback.
//!
//! Bounded by `--max-examples`, one worker and a fixed seed, so that a run
//! takes about a minute and a failure can be replayed. Skipped with a
//! printed reason when Schemathesis is not installed; a failure under
//! `LIFELINE_INTEROP=1`.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backends::{Net, backends_on};
use common::records::*;
use common::*;

const TOKEN: &str = "schemathesis-token-0123456789abcdef";
/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "30";
/// The whole run, however slow the machine.
const RUN_LIMIT: Duration = Duration::from_secs(300);

#[test]
fn the_api_conforms_to_its_openapi_document() {
    let Some(st) = external_tool("st").or_else(|| external_tool("schemathesis")) else {
        return;
    };
    let net = Net(94);
    let (_backends, port) = backends_on(&[net.ip(2), net.ip(3)]);
    let body = format!(
        "[[record]]\nname = \"www.st.test\"\ntype = \"A\"\nfailback = \"manual\"\nendpoint = [\n  \
         {{ name = \"web-a\", address = \"{a}\", priority = 1, checks = [\"web\"] }},\n  \
         {{ name = \"web-b\", address = \"{b}\", priority = 2, checks = [\"web\"] }},\n]\n\n\
         [[record]]\nname = \"www.st.test\"\ntype = \"AAAA\"\nendpoint = [{{ name = \"v6\", address = \"::1\" }}]\n\n{check}",
        a = net.addr(2),
        b = net.addr(3),
        check = http_check("web", port),
    );
    let zone = zone_text("");
    let server = Lifeline::with_config_args(
        &config("st.test", &body),
        &[("st.test.zone", &zone)],
        &["--api", "127.0.0.1:0"],
        &[("LIFELINE_API_TOKEN", TOKEN)],
    );
    let api = server.api.expect("the server prints where its API listens");

    // Its database and any report stay in a directory of their own.
    let dir = TempDir::new();
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut child = Command::new(st)
        .current_dir(&dir.0)
        .args(["run", &format!("http://{api}/v1/openapi.json")])
        .args(["--header", &auth, "--checks", "all", "--max-examples", MAX_EXAMPLES])
        .args(["--workers", "1", "--seed", "1", "--generation-database", "none"])
        .args(["--request-timeout", "10", "--no-color"])
        // Record names are NAME/TYPE, the slash written %2F in the path;
        // Schemathesis drops path values with a slash (most frameworks
        // split on it), which for the names the API itself lists is most
        // of them.
        .args(["--suppress-health-check", "filter_too_much"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schemathesis");
    // Read as it runs: a full pipe would stall it.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let report = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    eprintln!("{report}");
    assert!(status.success(), "schemathesis found problems:\n{report}");
}
