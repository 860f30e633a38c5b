//! The operator's commands that talk to a running server's API: `status`,
//! `events`, `drain`, `undrain`, `force-up`, `failback`, `reload`,
//! `explain`. Human tables by default, the API's JSON with `--json`.
//!
//! Exit codes, for scripts: 0 done; 1 the API refused (its message is
//! printed: unknown endpoint, bad input, missing token, rejected reload);
//! 2 the API could not be reached (nothing listening, bad `--api` URL,
//! unreadable token file).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::http::client::{Client, ClientError, DEFAULT_API_URL, segment};

/// The environment variable naming the API's URL.
pub const API_ENV: &str = "LIFELINE_API";
/// The environment variable holding the token for writes.
pub const TOKEN_ENV: &str = "LIFELINE_API_TOKEN";
/// How often `events --follow` asks for new events.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Where the API is and how to talk to it.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// `--api URL`; else `LIFELINE_API`, else [`DEFAULT_API_URL`].
    pub url: Option<String>,
    /// `--token-file PATH`; else `LIFELINE_API_TOKEN`.
    pub token_file: Option<PathBuf>,
    /// Print the API's JSON instead of tables.
    pub json: bool,
}

/// What to ask.
#[derive(Debug, Clone)]
pub enum Request {
    Status,
    Events {
        record: Option<String>,
        endpoint: Option<String>,
        kind: Option<String>,
        limit: u32,
        /// Only events numbered below this: the next page of older ones.
        before: Option<u64>,
        follow: bool,
    },
    /// `drain`, `undrain` (mode `auto`), `force-up`.
    Override {
        target: Target,
        mode: &'static str,
        reason: Option<String>,
        lasts: Option<String>,
        /// RFC 3339 or `+DURATION`.
        at: Option<String>,
    },
    Failback {
        record: String,
    },
    Reload,
    Explain {
        name: String,
    },
}

/// Which endpoints an override names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Endpoint(String),
    /// `KEY=VALUE`.
    Tag(String),
}

impl Request {
    /// `drain`, `undrain` (`auto`) or `force-up` of `target`.
    pub fn overriding(
        target: Target,
        mode: &'static str,
        reason: Option<String>,
        lasts: Option<String>,
        at: Option<String>,
    ) -> Request {
        Request::Override {
            target,
            mode,
            reason,
            lasts,
            at,
        }
    }
}

/// `--at`: an RFC 3339 time as it is, or `+DURATION` from now turned into
/// one.
fn at_time(text: &str) -> Result<String, ClientError> {
    match text.strip_prefix('+') {
        Some(ahead) => {
            let ahead = crate::config::resolved::parse_duration(ahead)
                .map_err(|e| ClientError::Url(format!("--at {text}: {e}")))?;
            let at = crate::publish::event::writable(std::time::SystemTime::now() + ahead);
            Ok(humantime::format_rfc3339_seconds(at).to_string())
        }
        None => Ok(text.to_string()),
    }
}

/// Runs one command; returns the exit code.
pub fn run(options: ApiOptions, request: Request) -> u8 {
    let result = client(&options).and_then(|client| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Connect {
                url: String::new(),
                reason: e.to_string(),
            })?;
        runtime.block_on(ask(&client, &request, options.json))
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("lifeline: {e}");
            match e {
                ClientError::Api { .. } | ClientError::Reply(_) => 1,
                ClientError::Connect { .. } | ClientError::Url(_) => 2,
            }
        }
    }
}

fn client(options: &ApiOptions) -> Result<Client, ClientError> {
    let url = options
        .url
        .clone()
        .or_else(|| std::env::var(API_ENV).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_API_URL.to_string());
    let token = match &options.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| ClientError::Url(format!("--token-file {}: {e}", path.display())))?
                .trim()
                .to_string(),
        ),
        None => std::env::var(TOKEN_ENV).ok(),
    };
    Client::new(&url, token)
}

async fn ask(client: &Client, request: &Request, json: bool) -> Result<(), ClientError> {
    match request {
        Request::Status => {
            let status = client.get("/v1/status").await?;
            let records = client.get("/v1/records").await?;
            let endpoints = client.get("/v1/endpoints").await?;
            if json {
                print_json(
                    &json!({ "status": status, "records": records["records"], "endpoints": endpoints["endpoints"] }),
                );
            } else {
                print_status(&status, &records, &endpoints);
            }
        }
        Request::Events { follow: true, .. } => follow(client, request, json).await?,
        Request::Events { .. } => {
            let page = client.get(&events_path(request, None)).await?;
            if json {
                print_json(&page);
            } else {
                print_events(&page);
            }
        }
        Request::Override {
            target,
            mode,
            reason,
            lasts,
            at,
        } => {
            let at = at.as_deref().map(at_time).transpose()?;
            let view = set_override(client, target, mode, reason.as_deref(), lasts.as_deref(), at).await?;
            if json {
                print_json(&view);
            } else if let Some(endpoints) = view["endpoints"].as_array() {
                for e in endpoints {
                    println!("{}", endpoint_line(e));
                }
            } else {
                println!("{}", endpoint_line(&view));
            }
        }
        Request::Failback { record } => {
            let view = client
                .post(&format!("/v1/records/{}/failback", segment(record)), json!({}))
                .await?;
            if json {
                print_json(&view);
            } else {
                println!("{}: {}", text(&view["name"]), answer_text(&view));
            }
        }
        Request::Reload => {
            let reply = client.post("/v1/reload", json!({})).await?;
            if json {
                print_json(&reply);
            } else {
                println!("reloaded; {}", zones_text(&reply["zones"]));
            }
        }
        Request::Explain { name } => {
            let view = client.get(&format!("/v1/records/{}/explain", segment(name))).await?;
            if json {
                print_json(&view);
            } else {
                print_explain(&view);
            }
        }
    }
    Ok(())
}

async fn set_override(
    client: &Client,
    target: &Target,
    mode: &str,
    reason: Option<&str>,
    lasts: Option<&str>,
    at: Option<String>,
) -> Result<Value, ClientError> {
    let by = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "cli".into());
    if let (Target::Endpoint(endpoint), "auto", None) = (target, mode, &at) {
        let mut path = format!("/v1/overrides/{}?by={}", segment(endpoint), segment(&by));
        if let Some(reason) = reason {
            path += &format!("&reason={}", segment(reason));
        }
        return client.delete(&path).await;
    }
    let mut body = json!({ "mode": mode, "reason": reason, "by": by });
    match target {
        Target::Endpoint(endpoint) => body["endpoint"] = json!(endpoint),
        Target::Tag(tag) => body["tag"] = json!(tag),
    }
    if let Some(lasts) = lasts {
        body["for"] = json!(lasts);
    }
    if let Some(at) = at {
        body["at"] = json!(at);
    }
    client.post("/v1/overrides", body).await
}

fn events_path(request: &Request, after: Option<u64>) -> String {
    let Request::Events {
        record,
        endpoint,
        kind,
        limit,
        before,
        ..
    } = request
    else {
        unreachable!("events_path is only called for events");
    };
    let mut path = format!("/v1/events?limit={limit}");
    for (key, value) in [("record", record), ("endpoint", endpoint), ("kind", kind)] {
        if let Some(value) = value {
            path += &format!("&{key}={}", segment(value));
        }
    }
    if let Some(before) = before {
        path += &format!("&before={before}");
    }
    if let Some(after) = after {
        path += &format!("&after={after}");
    }
    path
}

/// Prints the recent events, then new ones as they come, until killed.
async fn follow(client: &Client, request: &Request, json: bool) -> Result<(), ClientError> {
    let mut after = None;
    loop {
        let page = client.get(&events_path(request, after)).await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for event in events.iter().rev() {
            if json {
                println!("{event}");
            } else {
                println!("{}", event_line(event));
            }
        }
        let _ = std::io::stdout().flush();
        after = Some(page["latest"].as_u64().unwrap_or(0));
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// A JSON value as plain text: strings without quotes, null as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Rows under a header, columns padded to their widest cell.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn answer_text(record: &Value) -> String {
    let answer = &record["answer"];
    let what = match answer["negative"].as_str() {
        Some(negative) => negative.to_string(),
        None => {
            let addresses: Vec<String> = answer["addresses"].as_array().into_iter().flatten().map(text).collect();
            addresses.join(" ")
        }
    };
    format!(
        "{what} (TTL {}, tier {}, {})",
        text(&record["ttl"]),
        text(&record["tier"]),
        text(&record["rule"]["name"])
    )
}

fn zones_text(zones: &Value) -> String {
    let zones: Vec<String> = zones
        .as_array()
        .into_iter()
        .flatten()
        .map(|z| format!("{} serial {}", text(&z["name"]), text(&z["serial"])))
        .collect();
    format!("zones: {}", zones.join(", "))
}

fn print_status(status: &Value, records: &Value, endpoints: &Value) {
    let r = &status["records"];
    let e = &status["endpoints"];
    println!(
        "lifeline {}, up {}s, writes {}",
        text(&status["version"]),
        text(&status["uptime_seconds"]),
        if status["writes"] == true {
            "enabled"
        } else {
            "disabled (no API token)"
        }
    );
    println!("{}", zones_text(&status["zones"]));
    println!(
        "records: {} ({} healthy, {} failed over, {} degraded, {} all down)",
        r["total"], r["healthy"], r["failed_over"], r["degraded"], r["all_down"]
    );
    println!(
        "endpoints: {} ({} up, {} down, {} stale, {} overridden)",
        e["total"], e["up"], e["down"], e["stale"], e["overridden"]
    );
    let rows: Vec<Vec<String>> = records["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut answer = answer_text(r);
            answer.truncate(answer.find(" (TTL").unwrap_or(answer.len()));
            vec![
                text(&r["name"]),
                answer,
                text(&r["ttl"]),
                text(&r["tier"]),
                text(&r["cause"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!();
        print_table(&["RECORD", "ANSWER", "TTL", "TIER", "WHY"], &rows);
    }
    let rows: Vec<Vec<String>> = endpoints["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(endpoint_row)
        .collect();
    if !rows.is_empty() {
        println!();
        print_table(&["ENDPOINT", "STATE", "REASON", "OVERRIDE", "LAST CHECKS"], &rows);
    }
}

fn endpoint_row(e: &Value) -> Vec<String> {
    let state = match (e["up"] == true, e["stale"] == true) {
        (true, false) => "up",
        (true, true) => "up (stale)",
        (false, false) => "DOWN",
        (false, true) => "DOWN (stale)",
    };
    let admin = &e["override"];
    let mut admin = if admin.is_null() {
        "-".to_string()
    } else {
        format!("{} by {}", text(&admin["mode"]), text(&admin["by"]))
    };
    let scheduled = &e["scheduled"];
    if !scheduled.is_null() {
        let next = format!("{} at {}", text(&scheduled["mode"]), text(&scheduled["starts"]));
        admin = match admin.as_str() {
            "-" => next,
            _ => format!("{admin}; {next}"),
        };
    }
    vec![
        text(&e["name"]),
        state.into(),
        text(&e["reason"]),
        admin,
        checks_text(e),
    ]
}

/// `web ok (200, 1.2 ms)`, for each check.
fn checks_text(endpoint: &Value) -> String {
    let checks: Vec<String> = endpoint["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| match c["last"].as_object() {
            Some(last) => format!(
                "{} {} ({}, {:.1} ms)",
                text(&c["check"]),
                if last["ok"] == true { "ok" } else { "FAIL" },
                text(&last["detail"]),
                last["latency_ms"].as_f64().unwrap_or(0.0)
            ),
            None => format!("{} (no result yet)", text(&c["check"])),
        })
        .collect();
    if checks.is_empty() {
        "-".into()
    } else {
        checks.join("; ")
    }
}

/// One line about an endpoint after an override.
fn endpoint_line(e: &Value) -> String {
    let state = if e["up"] == true { "UP" } else { "DOWN" };
    let admin = &e["override"];
    let scheduled = &e["scheduled"];
    if !scheduled.is_null() {
        let until = match scheduled["until"].as_str() {
            Some(until) => format!(" until {until}"),
            None => String::new(),
        };
        return format!(
            "{}: {} ({}) scheduled at {}{until}; now {state}",
            text(&e["name"]),
            text(&scheduled["mode"]),
            text(&scheduled["reason"]),
            text(&scheduled["starts"])
        );
    }
    if admin.is_null() {
        return format!("{}: follows its checks; now {state}", text(&e["name"]));
    }
    let until = match admin["until"].as_str() {
        Some(until) => format!(" until {until}"),
        None => String::new(),
    };
    format!(
        "{}: {} ({}){until}; now {state}",
        text(&e["name"]),
        text(&admin["mode"]),
        text(&admin["reason"])
    )
}

fn event_line(event: &Value) -> String {
    format!(
        "{}  #{:<5} {:<11} {}",
        text(&event["at"]),
        text(&event["id"]),
        text(&event["kind"]),
        text(&event["message"])
    )
}

fn print_events(page: &Value) {
    let events = page["events"].as_array().cloned().unwrap_or_default();
    if events.is_empty() {
        println!("no events");
    }
    for event in events.iter().rev() {
        println!("{}", event_line(event));
    }
    if let Some(before) = page["next_before"].as_u64() {
        println!("(older events: lifeline events --before {before})");
    }
}

fn print_explain(view: &Value) {
    let record = &view["record"];
    println!("{}: {}", text(&record["name"]), answer_text(record));
    for line in view["why"].as_array().into_iter().flatten() {
        println!("  - {}", text(line));
    }
    let rows: Vec<Vec<String>> = view["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| {
            e["checks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(move |c| {
                    let last = c["last"].clone();
                    let e = e.clone();
                    c["locations"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .map(move |l| {
                            vec![
                                text(&e["name"]),
                                text(&c["check"]),
                                text(&l["location"]),
                                if l["up"] == true { "up".into() } else { "DOWN".into() },
                                format!("{}/{}", text(&l["successes"]), text(&l["failures"])),
                                text(&l["last_at"]),
                                format!(
                                    "{} {:.1} ms",
                                    text(&last["detail"]),
                                    last["latency_ms"].as_f64().unwrap_or(0.0)
                                ),
                            ]
                        })
                })
        })
        .collect();
    if !rows.is_empty() {
        println!();
        print_table(
            &[
                "ENDPOINT",
                "CHECK",
                "LOCATION",
                "STATE",
                "OK/FAIL RUN",
                "LAST RESULT AT",
                "LAST RESULT",
            ],
            &rows,
        );
    }
}
