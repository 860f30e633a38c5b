//! `lifeline plan`: what the configuration will do, before it does it.
//!
//! Per health-checked record: its tiers, the worst-case time until clients
//! move after a failure (detection + publish + TTL + negative TTL), the
//! query load its TTL implies, and with `--down`, what it would answer with
//! those endpoints down (the same pure decide code the server runs).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::bail;

use crate::config::health::{AllDown, CheckConfig, Combine, Failback, Families, RecordConfig};
use crate::config::{self, Config, Sources};
use crate::decide::answer_set::{self, Answer, RecordState};
use crate::decide::from_config;

/// Resolvers assumed for the load figure.
const RESOLVERS: f64 = 10_000.0;
/// Publishing a change: build the dynamic part of the snapshot and swap it.
const PUBLISH: Duration = Duration::from_millis(1);

/// Prints the plan for every record.
pub fn plan(sources: Sources, down: Vec<String>) -> anyhow::Result<()> {
    let config = config::load(&sources)?;
    let known: Vec<&str> = config
        .records
        .iter()
        .flat_map(|r| r.endpoints.iter().map(|e| e.name.as_str()))
        .collect();
    for name in &down {
        if !known.contains(&name.as_str()) {
            bail!(
                "--down {name}: no endpoint of that name (defined: {})",
                known.join(", ")
            );
        }
    }
    if config.records.is_empty() {
        println!("no health-checked records ([[record]]) in this configuration");
        return Ok(());
    }
    let specs = from_config::specs(&config)?;
    let negative_ttl = |record: &RecordConfig| negative_ttl(&config, record);
    for (record, spec) in config.records.iter().zip(&specs.records) {
        print!("{}", describe(record, &config.checks, negative_ttl(record)));
        if !down.is_empty() {
            let is_up = |id: crate::decide::EndpointId| {
                let name = &specs.endpoints[id.0 as usize].name;
                !down.contains(name)
            };
            let set = answer_set::compute(spec, &mut RecordState::default(), is_up, 0);
            println!("  with {} down: {}", down.join(", "), answer_text(&set));
        }
        println!();
    }
    Ok(())
}

/// The record's zone's negative TTL (RFC 2308 §5), from its SOA.
fn negative_ttl(config: &Config, record: &RecordConfig) -> Option<u32> {
    let zone = config
        .zones
        .iter()
        .filter(|z| record.name.ends_with(&z.origin))
        .max_by_key(|z| z.origin.wire().len())?;
    zone.records
        .iter()
        .find(|r| r.record.rtype == crate::dns::rtype::SOA)
        .map(|soa| {
            let rdata = &soa.record.rdata;
            let minimum = u32::from_be_bytes(rdata[rdata.len() - 4..].try_into().expect("4 octets"));
            soa.record.ttl.min(minimum)
        })
}

fn describe(record: &RecordConfig, checks: &[CheckConfig], negative_ttl: Option<u32>) -> String {
    let mut out = String::new();
    let rtype = crate::dns::rtype::mnemonic(record.rtype);
    let degraded = record
        .ttl_degraded
        .map_or(String::new(), |t| format!(", {t}s while failed over or degraded"));
    let _ = writeln!(out, "{} {rtype}: TTL {}s{degraded}", record.name, record.ttl);
    if let Some(families) = record.families {
        let how = match families {
            Families::Independent => "follows this family's verdicts only (families = \"independent\")",
            Families::Together => {
                "counts an endpoint up only while all of its families are up (families = \"together\")"
            }
        };
        let _ = writeln!(out, "  dual-stack, each family checked at its own address: {how}");
    }
    let failback = match record.failback {
        Failback::Auto { hold } => format!("automatic failback after {}", secs(hold)),
        Failback::Manual => "manual failback".into(),
    };
    let all_down = match &record.all_down {
        AllDown::All => "every endpoint (fail open)".to_string(),
        AllDown::Last => "the last healthy set".into(),
        AllDown::Backup(a) => format!("backup {}", join(a)),
        AllDown::None => "NODATA".into(),
        AllDown::Servfail => "SERVFAIL".into(),
    };
    let _ = writeln!(
        out,
        "  policy {:?} (up to {}), {failback}; all down: {all_down}",
        record.policy, record.max_answers
    );
    let mut tiers: Vec<u8> = record.endpoints.iter().map(|e| e.priority).collect();
    tiers.sort_unstable();
    tiers.dedup();
    for tier in tiers {
        let members: Vec<String> = record
            .endpoints
            .iter()
            .filter(|e| e.priority == tier)
            .map(|e| {
                let names: Vec<&str> = e.checks.iter().map(|&c| checks[c].name.as_str()).collect();
                let weight = if e.weight != 1 {
                    format!(" weight {}", e.weight)
                } else {
                    String::new()
                };
                format!("{} {}{weight} [{}]", e.name, join(&e.addresses), names.join(", "))
            })
            .collect();
        let _ = writeln!(out, "  tier {tier}: {}", members.join("; "));
    }
    let detection = detection(record, checks);
    let negative = negative_ttl.unwrap_or(0);
    // A cached NODATA lasts the negative TTL (RFC 2308 §5); only a record
    // that can answer NODATA makes clients wait for it.
    let can_be_negative = record.all_down == AllDown::None;
    let waited_negative = if can_be_negative { negative } else { 0 };
    let total = detection + PUBLISH + Duration::from_secs(u64::from(record.ttl) + u64::from(waited_negative));
    let negative_note = if can_be_negative {
        format!(" + negative TTL {negative}s")
    } else {
        format!(" (negative TTL {negative}s applies only to cached NODATA, which all_down does not produce)")
    };
    let _ = writeln!(
        out,
        "  clients move within {} of a failure: detection {} + publish {} + TTL {}s{negative_note}",
        secs(total),
        secs(detection),
        secs(PUBLISH),
        record.ttl
    );
    let load = |ttl: u32| {
        if ttl == 0 {
            "every query reaches us".to_string()
        } else {
            format!("{:.0} queries/s", RESOLVERS / f64::from(ttl))
        }
    };
    let degraded_load = record
        .ttl_degraded
        .map_or(String::new(), |t| format!(", {} while degraded", load(t)));
    let _ = writeln!(out, "  load per 10k resolvers: {}{degraded_load}", load(record.ttl));
    out
}

/// Worst case from a failure to a down verdict for the record's slowest
/// endpoint: a failure just after a check is seen by the next one, then
/// `fall` failures in a row, the last taking up to `timeout`. Checks
/// combined with "all" go down with their fastest check, with "any" with
/// their slowest.
fn detection(record: &RecordConfig, checks: &[CheckConfig]) -> Duration {
    let per_check = |c: &CheckConfig| c.interval * c.fall + c.timeout;
    record
        .endpoints
        .iter()
        .filter_map(|e| {
            let times = e.checks.iter().map(|&c| per_check(&checks[c]));
            match record.combine {
                Combine::All => times.min(),
                Combine::Any => times.max(),
            }
        })
        .max()
        .unwrap_or_default()
}

fn answer_text(set: &answer_set::AnswerSet) -> String {
    let what = match &set.answer {
        Answer::Addresses {
            candidates, selection, ..
        } => {
            let addrs: Vec<String> = candidates.iter().map(|c| c.address.to_string()).collect();
            format!("{} ({selection:?})", addrs.join(", "))
        }
        Answer::NoData => "NODATA".into(),
        Answer::ServFail => "SERVFAIL".into(),
    };
    let tier = set.tier.map_or("no tier".into(), |t| format!("tier {t}"));
    format!("{what}, {tier}, TTL {}s, rule {:?}", set.ttl, set.cause.rule)
}

fn join(addrs: &[std::net::IpAddr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(interval_ms: u64, fall: u32, timeout_ms: u64) -> CheckConfig {
        CheckConfig {
            name: "c".into(),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            rise: 2,
            fall,
            kind: crate::config::health::CheckKind::Tcp(crate::config::health::TcpCheck {
                port: 1,
                send: None,
                expect: None,
            }),
        }
    }

    #[test]
    fn detection_is_interval_times_fall_plus_timeout() {
        let checks = vec![check(1000, 2, 500), check(200, 3, 100)];
        let endpoint = crate::config::health::EndpointConfig {
            name: "e".into(),
            addresses: vec!["127.0.0.2".parse().unwrap()],
            target: None,
            priority: 1,
            weight: 1,
            checks: vec![0, 1],
            initial_up: true,
            tags: Vec::new(),
            family: None,
        };
        let mut record = RecordConfig {
            name: crate::dns::Name::parse("www.example.test").unwrap(),
            rtype: crate::dns::rtype::A,
            families: None,
            ttl: 30,
            ttl_degraded: None,
            policy: crate::config::health::Policy::All,
            max_answers: 8,
            failback: Failback::Manual,
            all_down: AllDown::All,
            combine: Combine::All,
            quorum: 1,
            damping: None,
            min_healthy: crate::config::health::MinHealthy::Count(1),
            backup_share: 0,
            endpoints: vec![endpoint],
        };
        assert_eq!(
            detection(&record, &checks),
            Duration::from_millis(700),
            "all: the fastest check decides"
        );
        record.combine = Combine::Any;
        assert_eq!(
            detection(&record, &checks),
            Duration::from_millis(2500),
            "any: the slowest check decides"
        );
    }
}
