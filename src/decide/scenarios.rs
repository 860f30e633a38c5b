//! The scenario runner: every `tests/scenarios/*.toml` is a configuration
//! plus a timeline of endpoint failures, operator actions and expected
//! answers, played against the decide stage in virtual time.
//!
//! A scenario file is a Lifeline configuration (`[[record]]`,
//! `[check.NAME]`, optionally `[[zone]]`; without one, the zone
//! `example.test` is served) with two more keys:
//!
//! ```toml
//! [scenario]
//! description = "what this shows"
//! locations = [0, 1, 2]      # where the simulated checks run; default [0]
//!
//! [[timeline]]
//! at = "10s"                 # non-decreasing
//! fail = ["web-a"]           # from now on every check of web-a fails;
//!                            # "web-a@1": only at location 1; "web-a/v6":
//!                            # one family of a dual-stack endpoint
//! recover = ["web-a"]        # ... passes again
//! silence = ["web-a@2"]      # ... stops reporting (a stalled checker)
//! resume = ["web-a@2"]       # ... reports again
//! drain = ["web-b"]          # operator overrides: drain, force_up, auto
//! failback = ["www.example.test/A"]   # operator failback of a record
//! release_breaker = true     # an operator accepts the failures
//! up = ["web-a"]             # expected verdicts: up, down, stale, fresh
//! breaker = "tripped"        # expected breaker state: tripped, closed
//! [timeline.expect."www.example.test/A"]
//! answer = ["192.0.2.2"]     # the candidates, in order; or nodata/servfail = true
//! ttl = 10
//! tier = 2                   # 0: no tier (all down)
//! rule = "failback_pending"  # best_healthy, failback_pending, manual_sticky,
//!                            # startup_grace, all_down
//! share = { "192.0.2.9" = 0.1 }  # of 10,000 answers picked by query number
//!                            # from the server's 64 variants, the share that
//!                            # holds this address (± 0.02)
//! buckets_moved = 0.25       # consistent_hash: the share of the 4,096 buckets
//!                            # whose address changed since this record's
//!                            # previous step (± 0.03); only buckets whose
//!                            # address is no longer answered may move
//! ```
//!
//! Every simulated check runs at 0, interval, 2 × interval, … from each
//! location. At each moment the runner applies the timeline's actions,
//! runs the checks that are due, lets time pass for the verdicts, updates
//! the guards, recomputes every answer set, then compares the expectations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::answer_set::{self, Answer, AnswerSet, RecordState, Rule, VARIANTS};
use super::from_config::{self, Specs};
use super::guard::Guard;
use super::verdict::{EndpointSpec, Override, Verdict, Verdicts};
use super::{Address, EndpointId, LocationId, Millis, Outcome};
use crate::config::{self, Sources};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    #[serde(default = "local_only")]
    locations: Vec<u16>,
}

fn local_only() -> Vec<u16> {
    vec![0]
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    at: String,
    #[serde(default)]
    fail: Vec<String>,
    #[serde(default)]
    recover: Vec<String>,
    #[serde(default)]
    silence: Vec<String>,
    #[serde(default)]
    resume: Vec<String>,
    #[serde(default)]
    drain: Vec<String>,
    #[serde(default)]
    force_up: Vec<String>,
    #[serde(default)]
    auto: Vec<String>,
    #[serde(default)]
    failback: Vec<String>,
    #[serde(default)]
    release_breaker: bool,
    #[serde(default)]
    up: Vec<String>,
    #[serde(default)]
    down: Vec<String>,
    #[serde(default)]
    stale: Vec<String>,
    #[serde(default)]
    fresh: Vec<String>,
    breaker: Option<String>,
    #[serde(default)]
    expect: BTreeMap<String, Expect>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    answer: Option<Vec<IpAddr>>,
    #[serde(default)]
    nodata: bool,
    #[serde(default)]
    servfail: bool,
    ttl: Option<u32>,
    tier: Option<u8>,
    rule: Option<String>,
    #[serde(default)]
    share: BTreeMap<IpAddr, f64>,
    buckets_moved: Option<f64>,
}

/// One simulated check of one endpoint from one location.
#[derive(Debug)]
struct Probe {
    endpoint: EndpointId,
    name: String,
    check: super::CheckId,
    location: u16,
    interval: Millis,
    next: Millis,
}

/// The scripted health of the endpoints: (name, location) → state.
#[derive(Debug, Default)]
struct World {
    failing: BTreeMap<(String, u16), bool>,
    silent: BTreeMap<(String, u16), bool>,
}

/// A scenario being played.
struct Run {
    file: String,
    specs: Specs,
    locations: Vec<u16>,
    verdicts: Verdicts,
    guard: Guard,
    states: Vec<RecordState>,
    sets: Vec<AnswerSet>,
    /// Per record, the address of each hash bucket at its previous step.
    buckets: Vec<Option<Vec<Address>>>,
    probes: Vec<Probe>,
    world: World,
    failures: Vec<String>,
}

const DEFAULT_ZONE: &str = r#"
[[zone]]
origin = "example.test"
records = [
  "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60",
  "@ 300 IN NS ns1",
  "ns1 300 IN A 192.0.2.53",
]
"#;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Splits a scenario file into its configuration (loaded as Lifeline would
/// load it), its `[scenario]` table and its timeline.
fn load(path: &Path) -> (config::Config, Scenario, Vec<Step>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scenario: Scenario = table
        .remove("scenario")
        .unwrap_or_else(|| panic!("{}: no [scenario] table", path.display()))
        .try_into()
        .unwrap_or_else(|e| panic!("{}: [scenario]: {e}", path.display()));
    let steps: Vec<Step> = table
        .remove("timeline")
        .map(|t| {
            t.try_into()
                .unwrap_or_else(|e| panic!("{}: [[timeline]]: {e}", path.display()))
        })
        .unwrap_or_default();
    let mut config_text = toml::to_string(&table).unwrap();
    if !table.contains_key("zone") {
        config_text.push_str(DEFAULT_ZONE);
    }
    let stem = path.file_stem().unwrap().to_string_lossy();
    let config_path = std::env::temp_dir().join(format!("lifeline-scenario-{}-{stem}.toml", std::process::id()));
    std::fs::write(&config_path, config_text).unwrap();
    let sources = Sources {
        file: Some(config_path.clone()),
        ..Sources::default()
    };
    let config = config::load(&sources).unwrap_or_else(|e| panic!("{}: configuration: {e}", path.display()));
    let _ = std::fs::remove_file(config_path);
    (config, scenario, steps)
}

fn millis(path: &Path, text: &str) -> Millis {
    let d = config::resolved::parse_duration(text).unwrap_or_else(|e| panic!("{}: at: {e}", path.display()));
    d.as_millis() as Millis
}

impl Run {
    fn new(path: &Path, config: &config::Config, scenario: &Scenario) -> Run {
        let specs = from_config::specs(config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let verdicts = Verdicts::new(specs.endpoints.clone(), 0).unwrap();
        let probes = specs
            .endpoints
            .iter()
            .flat_map(|e| e.checks.iter().map(move |c| (e, c)))
            .flat_map(|(e, c)| {
                scenario.locations.iter().map(move |&location| Probe {
                    endpoint: e.id,
                    name: e.name.clone(),
                    check: c.id,
                    location,
                    interval: c.params.interval,
                    next: 0,
                })
            })
            .collect();
        Run {
            file: path.display().to_string(),
            states: vec![RecordState::default(); specs.records.len()],
            sets: Vec::new(),
            buckets: vec![None; specs.records.len()],
            guard: Guard::new(specs.guard, 0),
            locations: scenario.locations.clone(),
            verdicts,
            probes,
            specs,
            world: World::default(),
            failures: Vec::new(),
        }
    }

    fn endpoint(&self, name: &str) -> &EndpointSpec {
        self.specs
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{}: no endpoint named {name}", self.file))
    }

    fn record(&self, name: &str) -> usize {
        self.specs
            .records
            .iter()
            .position(|r| r.name == name)
            .unwrap_or_else(|| panic!("{}: no record named {name}", self.file))
    }

    /// `name` or `name@location` → (name, locations).
    fn targets(&self, spec: &str) -> Vec<(String, u16)> {
        match spec.split_once('@') {
            Some((name, loc)) => vec![(name.to_string(), loc.parse().expect("location number"))],
            None => {
                self.endpoint(spec);
                self.locations.iter().map(|&l| (spec.to_string(), l)).collect()
            }
        }
    }

    fn apply(&mut self, step: &Step, now: Millis) {
        for (names, failing, silent) in [
            (&step.fail, Some(true), None),
            (&step.recover, Some(false), None),
            (&step.silence, None, Some(true)),
            (&step.resume, None, Some(false)),
        ] {
            let targets: Vec<(String, u16)> = names.iter().flat_map(|n| self.targets(n)).collect();
            for target in targets {
                if let Some(f) = failing {
                    self.world.failing.insert(target.clone(), f);
                }
                if let Some(s) = silent {
                    self.world.silent.insert(target, s);
                }
            }
        }
        for (names, admin) in [
            (&step.drain, Override::Drain),
            (&step.force_up, Override::ForceUp),
            (&step.auto, Override::Auto),
        ] {
            for name in names {
                let id = self.endpoint(name).id;
                self.verdicts.set_override(id, admin, now).unwrap();
            }
        }
        for name in &step.failback {
            let r = self.record(name);
            self.states[r].failback();
        }
        if step.release_breaker {
            self.guard.release(&self.verdicts, now);
        }
    }

    /// Runs the checks due at `now`, lets time pass, recomputes answers.
    fn advance(&mut self, now: Millis) {
        for probe in self.probes.iter_mut().filter(|p| p.next <= now) {
            probe.next = now + probe.interval;
            let key = (probe.name.clone(), probe.location);
            if self.world.silent.get(&key).copied().unwrap_or(false) {
                continue;
            }
            let ok = !self.world.failing.get(&key).copied().unwrap_or(false);
            self.verdicts.observe(&Outcome {
                endpoint: probe.endpoint,
                check: probe.check,
                location: LocationId(probe.location),
                ok,
                at: now,
            });
        }
        self.verdicts.tick(now);
        self.guard.update(&self.verdicts, now);
        let health = self.guard.view(&self.verdicts, now);
        self.sets = self
            .specs
            .records
            .iter()
            .zip(&mut self.states)
            .map(|(spec, state)| answer_set::compute(spec, state, &health, now))
            .collect();
    }

    /// The next moment anything happens, up to `until`.
    fn next(&self, until: Millis) -> Millis {
        let probes = self.probes.iter().map(|p| p.next);
        let sets = self.sets.iter().filter_map(AnswerSet::next_deadline);
        probes
            .chain(sets)
            .chain(self.verdicts.next_deadline())
            .chain(std::iter::once(until))
            .min()
            .unwrap()
    }

    fn check(&mut self, step: &Step, now: Millis) {
        let at = &step.at;
        for (names, wanted, holds) in [
            (&step.up, "up", (|v| v.up) as fn(&Verdict) -> bool),
            (&step.down, "down", |v| !v.up),
            (&step.stale, "stale", |v| v.stale),
            (&step.fresh, "fresh", |v| !v.stale),
        ] {
            for name in names {
                let id = self.endpoint(name).id;
                let v = self.verdicts.verdict(id).unwrap();
                if !holds(v) {
                    self.failures.push(format!(
                        "{}: at {at}: {name}: expected {wanted}, got up = {}, stale = {} ({:?})",
                        self.file, v.up, v.stale, v.reason
                    ));
                }
            }
        }
        if let Some(wanted) = &step.breaker {
            let got = if self.guard.tripped().is_some() {
                "tripped"
            } else {
                "closed"
            };
            if wanted != got {
                self.failures
                    .push(format!("{}: at {at}: breaker {got}, expected {wanted}", self.file));
            }
        }
        for (name, expect) in &step.expect {
            let r = self.record(name);
            let mut problems = compare(expect, &self.sets[r]);
            problems.extend(compare_share(expect, &self.sets[r], r as u64));
            let table = bucket_addresses(&self.sets[r]);
            problems.extend(compare_buckets(expect, self.buckets[r].as_deref(), table.as_deref()));
            self.buckets[r] = table;
            if !problems.is_empty() {
                let mut message = format!("{}: at {at} ({now} ms): {name}: {}", self.file, problems.join("; "));
                let _ = write!(message, "\n    answer set: {:?}", self.sets[r]);
                self.failures.push(message);
            }
        }
    }
}

/// What differs between an expectation and an answer set.
fn compare(expect: &Expect, set: &AnswerSet) -> Vec<String> {
    let mut problems = Vec::new();
    let got = match &set.answer {
        Answer::Addresses { candidates, .. } => {
            format!("{:?}", candidates.iter().map(|c| c.address).collect::<Vec<_>>())
        }
        Answer::NoData => "nodata".into(),
        Answer::ServFail => "servfail".into(),
    };
    let want = match (&expect.answer, expect.nodata, expect.servfail) {
        (Some(a), _, _) => Some(format!("{a:?}")),
        (None, true, _) => Some("nodata".into()),
        (None, _, true) => Some("servfail".into()),
        _ => None,
    };
    if let Some(want) = want
        && want != got
    {
        problems.push(format!("answer {got}, expected {want}"));
    }
    if let Some(ttl) = expect.ttl
        && ttl != set.ttl
    {
        problems.push(format!("ttl {}, expected {ttl}", set.ttl));
    }
    if let Some(tier) = expect.tier
        && Some(tier).filter(|&t| t != 0) != set.tier
    {
        problems.push(format!("tier {:?}, expected {tier}", set.tier));
    }
    if let Some(rule) = &expect.rule
        && rule != rule_name(&set.cause.rule)
    {
        problems.push(format!("rule {}, expected {rule}", rule_name(&set.cause.rule)));
    }
    problems
}

fn rule_name(rule: &Rule) -> &'static str {
    match rule {
        Rule::BestHealthy => "best_healthy",
        Rule::FailbackPending { .. } => "failback_pending",
        Rule::ManualSticky { .. } => "manual_sticky",
        Rule::StartupGrace { .. } => "startup_grace",
        Rule::AllDown(_) => "all_down",
    }
}

/// The shares of 10,000 answers picked by query number, as the DNS server
/// picks them from the variants it prebuilds (seeded with the record's
/// index), that hold each expected address.
fn compare_share(expect: &Expect, set: &AnswerSet, seed: u64) -> Vec<String> {
    const ANSWERS: usize = 10_000;
    let variants = set.variants(VARIANTS, seed);
    let mut problems = Vec::new();
    for (address, &want) in &expect.share {
        let hits = (0..ANSWERS)
            .filter(|seq| {
                variants
                    .get(seq % variants.len().max(1))
                    .is_some_and(|v| v.contains(address))
            })
            .count();
        let got = hits as f64 / ANSWERS as f64;
        if (got - want).abs() > 0.02 {
            problems.push(format!(
                "{address} in {got:.4} of {ANSWERS} answers, expected {want} ± 0.02"
            ));
        }
    }
    problems
}

/// The address of each hash bucket of a consistent-hash answer.
fn bucket_addresses(set: &AnswerSet) -> Option<Vec<Address>> {
    let variants = set.variants(VARIANTS, 0);
    let buckets = set.buckets()?;
    Some(buckets.iter().map(|&i| variants[usize::from(i)][0]).collect())
}

/// How many buckets moved since the previous step, and that only buckets
/// whose address left, or that went to an address that joined, did.
fn compare_buckets(expect: &Expect, before: Option<&[Address]>, after: Option<&[Address]>) -> Vec<String> {
    let Some(want) = expect.buckets_moved else {
        return Vec::new();
    };
    let (Some(before), Some(after)) = (before, after) else {
        return vec!["buckets_moved needs a consistent_hash answer at this step and the previous one".into()];
    };
    let moved: Vec<usize> = (0..before.len()).filter(|&b| before[b] != after[b]).collect();
    let mut problems = Vec::new();
    let needless = |&&b: &&usize| after.contains(&before[b]) && before.contains(&after[b]);
    if let Some(&b) = moved.iter().find(needless) {
        problems.push(format!(
            "bucket {b} moved from {} to {}, both answered before and after",
            before[b], after[b]
        ));
    }
    let got = moved.len() as f64 / before.len() as f64;
    if (got - want).abs() > 0.03 {
        problems.push(format!("{got:.4} of the buckets moved, expected {want} ± 0.03"));
    }
    problems
}

/// Plays one scenario file; the failed expectations.
fn play(path: &Path) -> Vec<String> {
    let (config, scenario, steps) = load(path);
    assert!(
        !scenario.description.is_empty(),
        "{}: describe the scenario",
        path.display()
    );
    let mut run = Run::new(path, &config, &scenario);
    let times: Vec<Millis> = steps.iter().map(|s| millis(path, &s.at)).collect();
    assert!(
        times.is_sorted(),
        "{}: timeline times must not decrease",
        path.display()
    );
    let mut now = 0;
    let mut next_step = 0;
    while next_step < steps.len() {
        let due: Vec<usize> = (next_step..steps.len()).take_while(|&i| times[i] == now).collect();
        for &i in &due {
            run.apply(&steps[i], now);
        }
        run.advance(now);
        for &i in &due {
            run.check(&steps[i], now);
        }
        next_step += due.len();
        if let Some(&until) = times.get(next_step) {
            now = run.next(until);
        }
    }
    run.failures
}

#[test]
fn every_scenario_plays_as_written() {
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenarios in tests/scenarios");
    let failures: Vec<String> = files.iter().flat_map(|f| play(f)).collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn answers_are_checked_against_what_the_scenario_expects() {
    // The runner itself: a wrong expectation is reported, not ignored.
    let set = AnswerSet {
        record: super::RecordId(0),
        answer: Answer::NoData,
        ttl: 30,
        tier: None,
        cause: answer_set::Cause {
            rule: Rule::AllDown(answer_set::AllDownRule::None),
            failed_over: true,
            degraded: true,
            backup: None,
            verdicts: Vec::new(),
            ttl_lowered: None,
        },
    };
    let right = Expect {
        nodata: true,
        ttl: Some(30),
        tier: Some(0),
        rule: Some("all_down".into()),
        ..Expect::default()
    };
    assert!(compare(&right, &set).is_empty());
    let wrong = Expect {
        answer: Some(vec![IpAddr::from([192, 0, 2, 1])]),
        ttl: Some(10),
        tier: Some(1),
        rule: Some("best_healthy".into()),
        ..Expect::default()
    };
    assert_eq!(compare(&wrong, &set).len(), 4);
}
