//! What the API shows: the health engine's [`Status`] turned into JSON
//! views that name endpoints instead of numbering them, give times as
//! RFC 3339 timestamps instead of decide's clock, and say in words why a
//! record answers what it does.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::error::ApiError;
use super::events::EventLog;
use super::overrides::mode_name;
use crate::app::health::{EndpointStatus, Note, RecordStatus, Status};
use crate::decide::answer_set::{AllDownRule, Answer, AnswerSet, BackupShare, Rule, Selection};
use crate::decide::verdict::{Override, VerdictReason};
use crate::decide::{EndpointId, Millis};

/// A time as the API writes it: RFC 3339, UTC, milliseconds.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(crate::publish::event::writable(t)).to_string()
}

/// Decide's clock paired with the wall clock at the moment of a status,
/// to turn decide's times into timestamps.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: SystemTime,
    now: Millis,
}

impl Clock {
    pub fn of(status: &Status) -> Clock {
        Clock {
            wall: SystemTime::now(),
            now: status.now,
        }
    }

    pub fn wall(&self, at: Millis) -> SystemTime {
        if at <= self.now {
            self.wall - Duration::from_millis(self.now - at)
        } else {
            self.wall + Duration::from_millis(at - self.now)
        }
    }

    pub fn stamp(&self, at: Millis) -> String {
        timestamp(self.wall(at))
    }
}

/// Whether the record `canonical` (`www.example.test/A`) is the one
/// `asked` names: `NAME/TYPE` or `NAME`, with or without the final dot, in
/// any case.
pub fn record_matches(canonical: &str, asked: &str) -> bool {
    let (owner, rtype) = canonical.rsplit_once('/').unwrap_or((canonical, ""));
    let (asked_owner, asked_type) = match asked.rsplit_once('/') {
        Some((o, t)) => (o, Some(t)),
        None => (asked, None),
    };
    owner.eq_ignore_ascii_case(asked_owner.trim_end_matches('.'))
        && asked_type.is_none_or(|t| t.eq_ignore_ascii_case(rtype))
}

/// The record `asked` names; a bare name with both A and AAAA records is
/// ambiguous.
pub fn find_record<'a>(status: &'a Status, asked: &str) -> Result<&'a RecordStatus, ApiError> {
    let found: Vec<&RecordStatus> = status
        .records
        .iter()
        .filter(|r| record_matches(&r.name, asked))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(ApiError::UnknownRecord(asked.to_string())),
        several => Err(ApiError::AmbiguousRecord {
            name: asked.to_string(),
            choices: several
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
        }),
    }
}

pub fn find_endpoint<'a>(status: &'a Status, name: &str) -> Result<&'a EndpointStatus, ApiError> {
    if let Some(e) = status.endpoints.iter().find(|e| e.name == name) {
        return Ok(e);
    }
    // A dual-stack endpoint has a verdict per family: name them.
    let families: Vec<String> = crate::config::families::family_names(name)
        .into_iter()
        .filter(|n| status.endpoints.iter().any(|e| e.name == *n))
        .collect();
    match families.is_empty() {
        true => Err(ApiError::UnknownEndpoint(name.to_string())),
        false => Err(ApiError::DualStackEndpoint {
            name: name.to_string(),
            families: families.join(" and "),
        }),
    }
}

/// What the views need besides the status.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub status: &'a Status,
    pub clock: Clock,
    pub log: &'a EventLog,
}

impl<'a> Context<'a> {
    /// An endpoint's name; decide numbers endpoints in the order the
    /// status lists them.
    fn endpoint_name(&self, id: EndpointId) -> &'a str {
        self.status
            .endpoints
            .get(id.0 as usize)
            .map_or("?", |e| e.name.as_str())
    }
}

/// A health-checked record and what it answers now.
#[derive(Debug, Serialize)]
pub struct RecordView {
    /// `www.example.test/A`: how the API, the CLI and events name it.
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub answer: AnswerView,
    pub ttl: u32,
    /// The tier answered from; `null` when every endpoint is down.
    pub tier: Option<u8>,
    pub rule: RuleView,
    /// Not answering from the record's best tier.
    pub failed_over: bool,
    /// An endpoint of the answering tier is down.
    pub degraded: bool,
    /// The rule and the endpoints that are down, in one line.
    pub cause: String,
    /// Every endpoint of the record, in configuration order.
    pub endpoints: Vec<RecordEndpointView>,
}

/// What a record answers.
#[derive(Debug, Serialize)]
pub struct AnswerView {
    /// The candidate addresses; each answer is drawn from them as
    /// `selection` says.
    pub addresses: Vec<IpAddr>,
    /// `NODATA` or `SERVFAIL` instead of addresses.
    pub negative: Option<&'static str>,
    /// `fixed` (all of them), `round_robin`, `weighted` or
    /// `consistent_hash`.
    pub selection: Option<&'static str>,
    /// With `round_robin` and `weighted`: addresses per answer.
    pub take: Option<usize>,
    /// With `backup_share` below 1: the part of the answers that comes
    /// from the next healthy tier.
    pub backup: Option<BackupView>,
}

/// The part of the answers `backup_share` sends to another tier.
#[derive(Debug, Serialize)]
pub struct BackupView {
    pub tier: u8,
    /// From 0 to 1.
    pub share: f64,
    pub addresses: Vec<IpAddr>,
    pub selection: &'static str,
}

/// The rule that chose an answer.
#[derive(Debug, Serialize)]
pub struct RuleView {
    /// `best_healthy`, `failback_pending`, `manual_sticky`,
    /// `startup_grace` or `all_down`.
    pub name: &'static str,
    /// The better tier waiting (`failback_pending`, `manual_sticky`).
    pub waiting_tier: Option<u8>,
    /// When `failback_pending` moves answers back, or `startup_grace`
    /// ends.
    pub until: Option<String>,
    /// The all-down policy that answered (`all_down`).
    pub policy: Option<&'static str>,
    /// The rule in words.
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct RecordEndpointView {
    pub name: String,
    /// The endpoint's tier.
    pub priority: u8,
    pub up: bool,
}

impl RecordView {
    pub fn of(record: &RecordStatus, ctx: &Context) -> RecordView {
        let set = &record.answer;
        let rtype = record.name.rsplit_once('/').map_or("A", |(_, t)| t).to_string();
        let down: Vec<&str> = set
            .cause
            .verdicts
            .iter()
            .filter(|v| !v.up)
            .map(|v| ctx.endpoint_name(v.endpoint))
            .collect();
        let rule = RuleView::of(set, ctx.clock);
        let cause = match down.as_slice() {
            [] => rule.name.to_string(),
            down => format!("{}; down: {}", rule.name, down.join(", ")),
        };
        RecordView {
            name: record.name.clone(),
            rtype,
            answer: AnswerView::of(&set.answer),
            ttl: set.ttl,
            tier: set.tier,
            rule,
            failed_over: set.cause.failed_over,
            degraded: set.cause.degraded,
            cause,
            endpoints: set
                .cause
                .verdicts
                .iter()
                .map(|v| RecordEndpointView {
                    name: ctx.endpoint_name(v.endpoint).to_string(),
                    priority: v.priority,
                    up: v.up,
                })
                .collect(),
        }
    }
}

impl AnswerView {
    fn of(answer: &Answer) -> AnswerView {
        match answer {
            Answer::Addresses {
                candidates,
                selection,
                backup,
            } => {
                let (name, take) = selection_name(*selection);
                AnswerView {
                    addresses: candidates.iter().map(|c| c.address).collect(),
                    negative: None,
                    selection: Some(name),
                    take,
                    backup: backup.as_ref().map(BackupView::of),
                }
            }
            Answer::NoData => AnswerView::negative("NODATA"),
            Answer::ServFail => AnswerView::negative("SERVFAIL"),
        }
    }

    fn negative(what: &'static str) -> AnswerView {
        AnswerView {
            addresses: Vec::new(),
            negative: Some(what),
            selection: None,
            take: None,
            backup: None,
        }
    }
}

impl BackupView {
    fn of(backup: &BackupShare) -> BackupView {
        BackupView {
            tier: backup.tier,
            share: f64::from(backup.share.millionths()) / 1e6,
            addresses: backup.candidates.iter().map(|c| c.address).collect(),
            selection: selection_name(backup.selection).0,
        }
    }
}

/// A selection's name, and how many addresses each answer takes.
fn selection_name(selection: Selection) -> (&'static str, Option<usize>) {
    match selection {
        Selection::Fixed => ("fixed", None),
        Selection::RoundRobin { take } => ("round_robin", Some(take)),
        Selection::Weighted { take } => ("weighted", Some(take)),
        Selection::ConsistentHash => ("consistent_hash", None),
    }
}

impl RuleView {
    fn of(set: &AnswerSet, clock: Clock) -> RuleView {
        let tier = set.tier.map_or_else(|| "none".to_string(), |t| t.to_string());
        let mut view = RuleView {
            name: "best_healthy",
            waiting_tier: None,
            until: None,
            policy: None,
            text: String::new(),
        };
        // rule             | what it means
        // -----------------+-------------------------------------------------
        // best_healthy     | the best tier with a healthy endpoint answers
        // failback_pending | a better tier is healthy; answers return at `at`
        // manual_sticky    | a better tier is healthy; an operator must fail back
        // startup_grace    | a better tier waits for its first check results
        // all_down         | no endpoint is up; the all-down policy answers
        view.text = match set.cause.rule {
            Rule::BestHealthy => format!("tier {tier} answers: the best tier with a healthy endpoint"),
            Rule::FailbackPending { tier: better, at } => {
                view.name = "failback_pending";
                view.waiting_tier = Some(better);
                view.until = Some(clock.stamp(at));
                format!(
                    "tier {tier} answers; tier {better} is healthy again and takes over at {} (failback hold)",
                    clock.stamp(at)
                )
            }
            Rule::ManualSticky { tier: better } => {
                view.name = "manual_sticky";
                view.waiting_tier = Some(better);
                format!(
                    "tier {tier} answers; tier {better} is healthy again, but failback is manual: \
                     answers stay until an operator fails back (lifeline failback) or tier {tier} fails"
                )
            }
            Rule::StartupGrace { until } => {
                view.name = "startup_grace";
                view.until = Some(clock.stamp(until));
                format!(
                    "tier {tier} answers with its endpoints that are up or still waiting for their first \
                     check results, until {} at most (startup grace)",
                    clock.stamp(until)
                )
            }
            Rule::AllDown(policy) => {
                view.name = "all_down";
                let (name, text) = all_down(policy);
                view.policy = Some(name);
                format!("no endpoint is up; all_down = \"{name}\": {text}")
            }
        };
        view
    }
}

fn all_down(policy: AllDownRule) -> (&'static str, &'static str) {
    match policy {
        AllDownRule::All => ("all", "every endpoint of every tier is answered (fail open)"),
        AllDownRule::Last => ("last", "the last healthy answer is kept"),
        AllDownRule::LastNeverHealthy => ("last", "never healthy yet, so the best tier's endpoints are answered"),
        AllDownRule::Backup => ("backup", "the backup addresses are answered"),
        AllDownRule::None => ("none", "NODATA is answered"),
        AllDownRule::Servfail => ("servfail", "SERVFAIL is answered"),
    }
}

/// An endpoint's verdict with its evidence.
#[derive(Debug, Serialize)]
pub struct EndpointView {
    pub name: String,
    pub records: Vec<String>,
    /// The verdict answers use.
    pub up: bool,
    /// The checks cannot decide now (no fresh result); the verdict holds.
    pub stale: bool,
    /// When `up` last changed.
    pub since: String,
    /// `initial`, `checks`, `drained`, `forced-up` or `damped`.
    pub reason: VerdictReason,
    /// What the checks say, before damping and override.
    pub checks_up: bool,
    /// The operator's override; `null` when the endpoint follows its checks.
    #[serde(rename = "override")]
    pub admin: Option<OverrideView>,
    /// An override scheduled to start later (`starts`); `null` if none.
    pub scheduled: Option<OverrideView>,
    /// `key = value` labels from the configuration.
    pub tags: std::collections::BTreeMap<String, String>,
    /// Flap damping holds the endpoint down until then.
    pub held_until: Option<String>,
    pub checks: Vec<CheckView>,
}

/// An override in force.
#[derive(Debug, Serialize)]
pub struct OverrideView {
    pub endpoint: String,
    /// `drain` or `force-up` (`auto` is no override).
    pub mode: Override,
    pub reason: Option<String>,
    pub by: Option<String>,
    pub at: Option<String>,
    /// When it lapses back to `auto`; `null`: until changed.
    pub until: Option<String>,
    /// When a scheduled override takes effect; `null` once in force.
    pub starts: Option<String>,
}

/// One check of an endpoint.
#[derive(Debug, Serialize)]
pub struct CheckView {
    pub check: String,
    /// Per check location; 0 is this node.
    pub locations: Vec<LocationView>,
    /// The last result this node saw, with its latency and detail.
    pub last: Option<LastView>,
}

#[derive(Debug, Serialize)]
pub struct LocationView {
    pub location: u16,
    /// The rise/fall state at this location.
    pub up: bool,
    pub last_ok: bool,
    pub last_at: String,
    /// Consecutive successes and failures.
    pub successes: u32,
    pub failures: u32,
}

#[derive(Debug, Serialize)]
pub struct LastView {
    pub ok: bool,
    pub at: String,
    pub latency_ms: f64,
    /// E.g. the HTTP status, or what failed.
    pub detail: String,
}

impl EndpointView {
    pub fn of(endpoint: &EndpointStatus, ctx: &Context) -> Option<EndpointView> {
        let verdict = endpoint.verdict.as_ref()?;
        let checks = verdict
            .evidence
            .iter()
            .zip(&endpoint.checks)
            .map(|(evidence, name)| CheckView {
                check: name.clone(),
                locations: evidence
                    .locations
                    .iter()
                    .map(|l| LocationView {
                        location: l.location.0,
                        up: l.up,
                        last_ok: l.last_ok,
                        last_at: ctx.clock.stamp(l.last_at),
                        successes: l.successes,
                        failures: l.failures,
                    })
                    .collect(),
                last: ctx.log.last_check(&endpoint.name, name).map(|c| LastView {
                    ok: c.ok,
                    at: timestamp(c.at),
                    latency_ms: c.latency.as_secs_f64() * 1e3,
                    detail: c.detail,
                }),
            })
            .collect();
        Some(EndpointView {
            name: endpoint.name.clone(),
            records: endpoint.records.clone(),
            up: verdict.up,
            stale: verdict.stale,
            since: ctx.clock.stamp(verdict.since),
            reason: verdict.reason,
            checks_up: verdict.checks_up,
            admin: OverrideView::of(endpoint),
            scheduled: endpoint
                .scheduled
                .as_ref()
                .map(|n| OverrideView::from_note(&endpoint.name, n.mode, n)),
            tags: endpoint.tags.iter().cloned().collect(),
            held_until: verdict.held_until.map(|t| ctx.clock.stamp(t)),
            checks,
        })
    }

    /// The endpoint's state in a few words, for `explain`.
    fn summary(&self) -> String {
        let state = if self.up { "UP" } else { "DOWN" };
        let mut text = format!("{} is {state}", self.name);
        if let Some(o) = &self.admin {
            let by = o.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            let reason = o.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            let until = o.until.as_deref().map(|u| format!(", until {u}")).unwrap_or_default();
            text += &format!(" ({}{by}{reason}{until})", mode_name(o.mode));
        }
        if let Some(s) = &self.scheduled {
            let by = s.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
            let starts = s.starts.as_deref().unwrap_or("?");
            text += &format!(" ({} scheduled at {starts}{by})", mode_name(s.mode));
        }
        if self.admin.is_some() {
        } else if let Some(until) = &self.held_until {
            text += &format!(" (flapping: held down until {until})");
        } else if self.stale {
            text += " (stale: no fresh check result, holding the last verdict)";
        } else if self.reason == VerdictReason::Initial {
            text += " (initial state: no check has decided yet)";
        }
        for check in &self.checks {
            if let Some(last) = &check.last {
                let ok = if last.ok { "ok" } else { "FAIL" };
                text += &format!(
                    "; {} {ok} ({}, {:.1} ms at {})",
                    check.check, last.detail, last.latency_ms, last.at
                );
            }
        }
        text
    }
}

impl OverrideView {
    /// The override in force on an endpoint, if any.
    pub fn of(endpoint: &EndpointStatus) -> Option<OverrideView> {
        let verdict = endpoint.verdict.as_ref()?;
        if verdict.admin == Override::Auto {
            return None;
        }
        Some(match &endpoint.note {
            Some(note) => OverrideView::from_note(&endpoint.name, verdict.admin, note),
            None => OverrideView {
                endpoint: endpoint.name.clone(),
                mode: verdict.admin,
                reason: None,
                by: None,
                at: None,
                until: None,
                starts: None,
            },
        })
    }

    pub fn from_note(endpoint: &str, mode: Override, note: &Note) -> OverrideView {
        OverrideView {
            endpoint: endpoint.to_string(),
            mode,
            reason: Some(note.reason.clone()).filter(|r| !r.is_empty()),
            by: Some(note.by.clone()).filter(|b| !b.is_empty()),
            at: Some(timestamp(note.at)),
            until: note.until.map(timestamp),
            starts: note.starts.map(timestamp),
        }
    }
}

/// Why a record answers what it does.
#[derive(Debug, Serialize)]
pub struct ExplainView {
    pub record: RecordView,
    /// The reasoning in sentences: the rule, then each endpoint by tier.
    pub why: Vec<String>,
    /// Every endpoint of the record with its evidence.
    pub endpoints: Vec<EndpointView>,
}

impl ExplainView {
    pub fn of(record: &RecordStatus, ctx: &Context) -> ExplainView {
        let view = RecordView::of(record, ctx);
        let endpoints: Vec<EndpointView> = record
            .answer
            .cause
            .verdicts
            .iter()
            .filter_map(|v| ctx.status.endpoints.get(v.endpoint.0 as usize))
            .filter_map(|e| EndpointView::of(e, ctx))
            .collect();
        let mut why = vec![view.rule.text.clone()];
        for (e, endpoint) in view.endpoints.iter().zip(&endpoints) {
            // Up by its own verdict, down as the record counts it: another
            // family of a dual-stack endpoint is down (families = "together").
            let held = if endpoint.up && !e.up {
                "; counted DOWN here: another address family of it is down (families = \"together\")"
            } else {
                ""
            };
            why.push(format!("tier {}: {}{held}", e.priority, endpoint.summary()));
        }
        let ttl = match (view.failed_over, view.degraded) {
            (false, false) => "the record is healthy on its best tier",
            (true, _) => "the record is failed over (ttl_degraded applies when configured)",
            (false, true) => "the record is degraded (ttl_degraded applies when configured)",
        };
        match record.answer.cause.ttl_lowered {
            Some(lowered) => why.push(format!(
                "TTL {}: lowered ahead of the drain of {} scheduled at {}, so that caches have expired when it leaves",
                view.ttl,
                ctx.endpoint_name(lowered.endpoint),
                ctx.clock.stamp(lowered.at)
            )),
            None => why.push(format!("TTL {}: {ttl}", view.ttl)),
        }
        ExplainView {
            record: view,
            why,
            endpoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_match_with_or_without_type_dot_and_case() {
        assert!(record_matches("www.example.test/A", "www.example.test"));
        assert!(record_matches("www.example.test/A", "WWW.example.test."));
        assert!(record_matches("www.example.test/AAAA", "www.example.test/aaaa"));
        assert!(!record_matches("www.example.test/A", "www.example.test/AAAA"));
        assert!(!record_matches("www.example.test/A", "example.test"));
    }

    #[test]
    fn the_clock_maps_decide_times_both_ways() {
        let clock = Clock {
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(100),
            now: 10_000,
        };
        assert_eq!(clock.wall(9_000), SystemTime::UNIX_EPOCH + Duration::from_secs(99));
        assert_eq!(clock.wall(12_000), SystemTime::UNIX_EPOCH + Duration::from_secs(102));
        assert_eq!(clock.stamp(10_000), "1970-01-01T00:01:40.000Z");
    }
}
