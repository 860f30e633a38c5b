//! Verdicts: observations → up/down per endpoint (DESIGN.md §3).
//!
//! ```text
//!  Outcome ──► threshold (per check × location: rise/fall)
//!          ──► vote      (per location: checks all/any; per endpoint: quorum
//!                         of locations with fresh evidence, else hold + stale)
//!          ──► damping   (too many changes in a window: held down)
//!          ──► override  (drain / force-up / auto)            ──► Verdict
//! ```
//!
//! [`Verdicts`] owns the state of every endpoint. It is fed outcomes
//! ([`Verdicts::observe`]), operator overrides ([`Verdicts::set_override`])
//! and the passing of time ([`Verdicts::tick`], at
//! [`Verdicts::next_deadline`]), and reports every change as a
//! [`VerdictChange`]. Answer sets ([`super::answer_set`]) read the result
//! through [`Verdicts::is_up`], or through [`super::guard`], which adds the
//! correlated-failure breaker and the startup grace.

mod damping;
mod threshold;
mod vote;

#[cfg(test)]
mod tests;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use self::damping::Flaps;
pub use self::threshold::LocationEvidence;
use super::{CheckId, EndpointId, LocationId, Millis, Outcome};

/// Evidence is fresh for this many check intervals after it was observed
/// (DESIGN.md §3): long enough to ride out one late or lost result, short
/// enough that a dead checker is noticed within seconds.
pub const FRESH_INTERVALS: u64 = 3;

/// The thresholds and schedule of a check, as far as verdicts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckParams {
    /// Consecutive successes to go up.
    pub rise: u32,
    /// Consecutive failures to go down.
    pub fall: u32,
    /// Time between two runs of the check.
    pub interval: Millis,
}

impl CheckParams {
    /// The first moment at which evidence observed at `at` is no longer
    /// fresh: `at + FRESH_INTERVALS × interval`.
    pub fn fresh_until(&self, at: Millis) -> Millis {
        at.saturating_add(self.interval.saturating_mul(FRESH_INTERVALS))
    }
}

/// One check of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// What observations name.
    pub id: CheckId,
    /// What the check is, stable across reloads (e.g. the check's name and
    /// a fingerprint of its definition and target). On reload the evidence
    /// of a check is kept when the endpoint's name, this key and the params
    /// are all unchanged; `id`, an index, may change.
    pub key: String,
    pub params: CheckParams,
}

/// How an endpoint's checks combine at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Combine {
    /// Up when every check is up.
    #[default]
    All,
    /// Up when any check is up.
    Any,
}

/// An operator's override of the checks (DESIGN.md §3); persisted and
/// audit-logged by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Override {
    /// Follow the checks.
    #[default]
    Auto,
    /// Treat as down, e.g. for maintenance.
    Drain,
    /// Treat as up whatever the checks say.
    ForceUp,
}

/// Flap damping: more than `max_changes` changes of the checks' verdict
/// within `window` hold the endpoint down until the checks have been stable
/// for `hold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damping {
    pub max_changes: u32,
    pub window: Millis,
    pub hold: Millis,
}

/// One health-checked endpoint, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSpec {
    pub id: EndpointId,
    /// Unique; what survives a reload.
    pub name: String,
    /// May be empty: the endpoint then follows `initial_up` and overrides.
    pub checks: Vec<CheckSpec>,
    pub combine: Combine,
    /// How many locations with fresh evidence must say up.
    pub quorum: u16,
    /// The verdict until there is evidence (evidence kept by the store
    /// across a restart counts: see [`Verdicts::restore`]).
    pub initial_up: bool,
    pub damping: Option<Damping>,
    /// The endpoint's failure group: endpoints that are expected to fail
    /// together (one record name, one probed address) share it. Verdicts
    /// ignore it; the correlated-failure breaker counts groups, not
    /// endpoints.
    pub group: u32,
}

/// Why a verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictReason {
    /// No check has decided yet: the configured initial state.
    Initial,
    /// The checks decided (perhaps some time ago: see `stale`).
    Checks,
    /// An operator drained the endpoint.
    Drained,
    /// An operator forced the endpoint up.
    ForcedUp,
    /// Flap damping holds the endpoint down.
    Damped,
}

/// What the checks of one endpoint have seen, per location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckEvidence {
    pub check: CheckId,
    /// When the check was added to the endpoint (configuration or reload):
    /// a location that has not reported it yet is waited for until
    /// `fresh_until(configured_at)`.
    pub configured_at: Millis,
    /// Ordered by location.
    pub locations: Vec<LocationEvidence>,
}

impl CheckEvidence {
    fn new(check: CheckId, configured_at: Millis) -> Self {
        CheckEvidence {
            check,
            configured_at,
            locations: Vec::new(),
        }
    }

    /// The evidence from `location`, if it has reported.
    pub fn at(&self, location: LocationId) -> Option<&LocationEvidence> {
        self.locations
            .binary_search_by_key(&location, |l| l.location)
            .ok()
            .map(|i| &self.locations[i])
    }
}

/// An endpoint's verdict and everything behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// What answers use.
    pub up: bool,
    /// The checks cannot decide (no fresh evidence, or too little for the
    /// quorum), so the verdict holds its last value.
    pub stale: bool,
    /// When `up` last changed (or the endpoint was configured).
    pub since: Millis,
    pub reason: VerdictReason,
    /// What the checks say (held while stale), before damping and override.
    pub checks_up: bool,
    pub admin: Override,
    /// Flap damping holds the endpoint down until then.
    pub held_until: Option<Millis>,
    /// Down only for want of results: the checks have not decided up yet
    /// (the endpoint started down: `initial = "down"`), and none of them
    /// has failed since the endpoint was configured. Answer sets may wait
    /// for such an endpoint during the startup grace.
    pub pending: bool,
    /// Per check, in the order of the endpoint's checks.
    pub evidence: Vec<CheckEvidence>,
}

/// A change of an endpoint's verdict: `up` flipped, it became stale or
/// fresh again, or it stopped being [pending](Verdict::pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerdictChange {
    pub endpoint: EndpointId,
    pub old: bool,
    pub new: bool,
    pub was_stale: bool,
    pub stale: bool,
    pub at: Millis,
    pub reason: VerdictReason,
}

impl VerdictChange {
    /// Whether `up` changed, which is what answer sets care about.
    pub fn flipped(&self) -> bool {
        self.old != self.new
    }
}

/// The state of one check's threshold machine at one location, as a
/// store keeps it across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptMachine {
    pub check: CheckId,
    pub location: LocationId,
    pub up: bool,
}

/// An endpoint specification that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("endpoint id {id} is given to both `{first}` and `{second}`; ids must be unique")]
    DuplicateId { id: u32, first: String, second: String },
    #[error("endpoint name `{0}` is used twice; endpoint names must be unique")]
    DuplicateName(String),
    #[error("endpoint `{endpoint}`: check {check} (`{key}`) is listed twice; list each check once")]
    DuplicateCheck { endpoint: String, check: u32, key: String },
    #[error("endpoint `{endpoint}`: check `{key}` has {field} = 0; it must be at least 1")]
    ZeroCheckParam {
        endpoint: String,
        key: String,
        field: &'static str,
    },
    #[error("endpoint `{endpoint}`: quorum = 0; it must be at least 1 location")]
    ZeroQuorum { endpoint: String },
    #[error("endpoint `{endpoint}`: damping {field} = 0; it must be at least 1")]
    ZeroDamping { endpoint: String, field: &'static str },
}

/// An override for an endpoint that is not configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no endpoint with id {}", .0.0)]
pub struct UnknownEndpoint(pub EndpointId);

/// The verdicts of every configured endpoint: the decide stage's first half.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// In specification order, which is also the order of reported changes.
    endpoints: Vec<Endpoint>,
    index: FxHashMap<EndpointId, usize>,
    /// The latest time seen; time never goes back.
    now: Millis,
}

impl Verdicts {
    /// Every endpoint at its initial state, configured at `now`.
    pub fn new(specs: Vec<EndpointSpec>, now: Millis) -> Result<Self, SpecError> {
        validate(&specs)?;
        let endpoints: Vec<Endpoint> = specs.into_iter().map(|s| Endpoint::new(s, now)).collect();
        Ok(Verdicts {
            index: index(&endpoints),
            endpoints,
            now,
        })
    }

    /// Takes one outcome. Outcomes for endpoints or checks that are not
    /// configured (a checker stopped by a reload may deliver one last
    /// result) and outcomes older than the last one of the same check and
    /// location are ignored.
    pub fn observe(&mut self, outcome: &Outcome) -> Option<VerdictChange> {
        let &i = self.index.get(&outcome.endpoint)?;
        self.now = self.now.max(outcome.at);
        let endpoint = &mut self.endpoints[i];
        if !endpoint.record(outcome) {
            return None;
        }
        endpoint.step(self.now)
    }

    /// Lets time pass: evidence goes stale, damping holds end. Call at
    /// [`next_deadline`](Self::next_deadline); calling more often is
    /// harmless and cheap (only endpoints whose deadline has come are
    /// re-decided).
    pub fn tick(&mut self, now: Millis) -> Vec<VerdictChange> {
        self.now = self.now.max(now);
        let now = self.now;
        self.endpoints
            .iter_mut()
            .filter(|e| e.deadline.is_some_and(|d| d <= now))
            .filter_map(|e| e.step(now))
            .collect()
    }

    /// The next moment at which time alone may change a verdict, if any.
    /// O(endpoints): call it once per batch of outcomes, not per outcome.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.endpoints.iter().filter_map(|e| e.deadline).min()
    }

    /// Sets an operator override; it beats the checks until set back to
    /// [`Override::Auto`].
    pub fn set_override(
        &mut self,
        id: EndpointId,
        admin: Override,
        now: Millis,
    ) -> Result<Option<VerdictChange>, UnknownEndpoint> {
        let &i = self.index.get(&id).ok_or(UnknownEndpoint(id))?;
        self.now = self.now.max(now);
        let endpoint = &mut self.endpoints[i];
        endpoint.verdict.admin = admin;
        Ok(endpoint.step(self.now))
    }

    /// Replaces the endpoint specifications, all or nothing. An endpoint
    /// whose name is still configured keeps its verdict and override, its
    /// damping state if the damping settings are unchanged, and the evidence
    /// of each check whose key and params are unchanged; other checks start
    /// afresh; new endpoints start at their initial state. Returns the changes of kept endpoints (under
    /// their new ids) that the new specification causes.
    pub fn reconfigure(&mut self, specs: Vec<EndpointSpec>, now: Millis) -> Result<Vec<VerdictChange>, SpecError> {
        validate(&specs)?;
        let now = self.now.max(now);
        let mut old: FxHashMap<String, Endpoint> = self.endpoints.drain(..).map(|e| (e.spec.name.clone(), e)).collect();
        let mut changes = Vec::new();
        for spec in specs {
            let endpoint = match old.remove(&spec.name) {
                Some(previous) => {
                    let mut endpoint = Endpoint::carried(previous, spec, now);
                    changes.extend(endpoint.step(now));
                    endpoint
                }
                None => Endpoint::new(spec, now),
            };
            self.endpoints.push(endpoint);
        }
        self.index = index(&self.endpoints);
        self.now = now;
        Ok(changes)
    }

    /// Resumes an endpoint from threshold machines a store kept across a
    /// restart (DESIGN.md §3: "on start, the last verdicts are loaded").
    /// Each machine is taken as observed at `now`, with no consecutive
    /// count: it is fresh for [`FRESH_INTERVALS`] intervals, then, without
    /// new results, the verdict holds and goes stale as any other. Machines
    /// of checks the endpoint does not have, or of locations that have
    /// reported since the start, are ignored. The change, if there is one.
    pub fn restore(&mut self, id: EndpointId, machines: &[KeptMachine], now: Millis) -> Option<VerdictChange> {
        let &i = self.index.get(&id)?;
        self.now = self.now.max(now);
        let endpoint = &mut self.endpoints[i];
        for m in machines {
            let Some(c) = endpoint.spec.checks.iter().position(|c| c.id == m.check) else {
                continue;
            };
            let locations = &mut endpoint.verdict.evidence[c].locations;
            if let Err(j) = locations.binary_search_by_key(&m.location, |l| l.location) {
                let kept = LocationEvidence {
                    location: m.location,
                    up: m.up,
                    last_ok: m.up,
                    last_at: self.now,
                    successes: 0,
                    failures: 0,
                };
                locations.insert(j, kept);
                endpoint.seen_failure |= !m.up;
            }
        }
        endpoint.step(self.now)
    }

    /// The verdict of an endpoint, if it is configured.
    pub fn verdict(&self, id: EndpointId) -> Option<&Verdict> {
        self.index.get(&id).map(|&i| &self.endpoints[i].verdict)
    }

    /// Whether an endpoint is up; an endpoint that is not configured is not.
    pub fn is_up(&self, id: EndpointId) -> bool {
        self.verdict(id).is_some_and(|v| v.up)
    }

    /// The specification of an endpoint, if it is configured.
    pub fn spec(&self, id: EndpointId) -> Option<&EndpointSpec> {
        self.index.get(&id).map(|&i| &self.endpoints[i].spec)
    }

    /// Every endpoint with its verdict, in specification order.
    pub fn iter(&self) -> impl Iterator<Item = (&EndpointSpec, &Verdict)> {
        self.endpoints.iter().map(|e| (&e.spec, &e.verdict))
    }

    /// The latest time seen.
    pub fn now(&self) -> Millis {
        self.now
    }
}

fn index(endpoints: &[Endpoint]) -> FxHashMap<EndpointId, usize> {
    endpoints.iter().enumerate().map(|(i, e)| (e.spec.id, i)).collect()
}

fn validate(specs: &[EndpointSpec]) -> Result<(), SpecError> {
    let mut ids: FxHashMap<EndpointId, &str> = FxHashMap::default();
    let mut names: FxHashSet<&str> = FxHashSet::default();
    for spec in specs {
        if let Some(first) = ids.insert(spec.id, &spec.name) {
            return Err(SpecError::DuplicateId {
                id: spec.id.0,
                first: first.to_string(),
                second: spec.name.clone(),
            });
        }
        if !names.insert(&spec.name) {
            return Err(SpecError::DuplicateName(spec.name.clone()));
        }
        validate_endpoint(spec)?;
    }
    Ok(())
}

fn validate_endpoint(spec: &EndpointSpec) -> Result<(), SpecError> {
    let endpoint = || spec.name.clone();
    if spec.quorum == 0 {
        return Err(SpecError::ZeroQuorum { endpoint: endpoint() });
    }
    for (i, check) in spec.checks.iter().enumerate() {
        let p = &check.params;
        for (field, value) in [
            ("rise", p.rise.into()),
            ("fall", p.fall.into()),
            ("interval", p.interval),
        ] {
            if value == 0 {
                return Err(SpecError::ZeroCheckParam {
                    endpoint: endpoint(),
                    key: check.key.clone(),
                    field,
                });
            }
        }
        if spec.checks[..i].iter().any(|c| c.id == check.id || c.key == check.key) {
            return Err(SpecError::DuplicateCheck {
                endpoint: endpoint(),
                check: check.id.0,
                key: check.key.clone(),
            });
        }
    }
    if let Some(d) = &spec.damping {
        let fields = [
            ("max_changes", d.max_changes.into()),
            ("window", d.window),
            ("hold", d.hold),
        ];
        if let Some((field, _)) = fields.into_iter().find(|&(_, v)| v == 0) {
            return Err(SpecError::ZeroDamping {
                endpoint: endpoint(),
                field,
            });
        }
    }
    Ok(())
}

/// One endpoint's specification and state.
#[derive(Debug, Clone)]
struct Endpoint {
    spec: EndpointSpec,
    verdict: Verdict,
    flaps: Flaps,
    /// Before this, a verdict that the checks cannot decide yet is not
    /// stale: the checks have not had time to report.
    grace_end: Millis,
    /// Whether the checks have ever decided.
    evidenced: bool,
    /// Whether a check has failed since the endpoint was configured.
    seen_failure: bool,
    /// The next moment after the last decision at which time alone may
    /// change the verdict (see [`Endpoint::next_deadline`]).
    deadline: Option<Millis>,
}

impl Endpoint {
    fn new(spec: EndpointSpec, now: Millis) -> Self {
        let evidence = spec.checks.iter().map(|c| CheckEvidence::new(c.id, now)).collect();
        let verdict = Verdict {
            up: spec.initial_up,
            stale: false,
            since: now,
            reason: VerdictReason::Initial,
            checks_up: spec.initial_up,
            admin: Override::Auto,
            held_until: None,
            pending: false,
            evidence,
        };
        let mut endpoint = Endpoint {
            grace_end: grace_end(&spec, &verdict.evidence),
            spec,
            verdict,
            flaps: Flaps::default(),
            evidenced: false,
            seen_failure: false,
            deadline: None,
        };
        endpoint.verdict.pending = endpoint.is_pending();
        endpoint.deadline = endpoint.next_deadline(now);
        endpoint
    }

    /// `previous` under a new specification with the same name.
    fn carried(previous: Endpoint, spec: EndpointSpec, now: Millis) -> Self {
        let evidence: Vec<CheckEvidence> = spec
            .checks
            .iter()
            .map(|check| {
                previous
                    .spec
                    .checks
                    .iter()
                    .position(|p| p.key == check.key && p.params == check.params)
                    .map_or_else(
                        || CheckEvidence::new(check.id, now),
                        |i| CheckEvidence {
                            check: check.id,
                            ..previous.verdict.evidence[i].clone()
                        },
                    )
            })
            .collect();
        let flaps = if previous.spec.damping == spec.damping {
            previous.flaps
        } else {
            Flaps::default()
        };
        Endpoint {
            grace_end: grace_end(&spec, &evidence),
            verdict: Verdict {
                evidence,
                ..previous.verdict
            },
            spec,
            flaps,
            evidenced: previous.evidenced,
            seen_failure: previous.seen_failure,
            // `reconfigure` re-decides at once, which sets it.
            deadline: None,
        }
    }

    /// Files an outcome with its check and location; false if it does not
    /// belong (unknown check, or older than what that location reported).
    fn record(&mut self, outcome: &Outcome) -> bool {
        let Some(i) = self.spec.checks.iter().position(|c| c.id == outcome.check) else {
            return false;
        };
        let params = self.spec.checks[i].params;
        let start_up = self.verdict.checks_up;
        self.seen_failure |= !outcome.ok;
        let locations = &mut self.verdict.evidence[i].locations;
        match locations.binary_search_by_key(&outcome.location, |l| l.location) {
            Ok(j) if outcome.at < locations[j].last_at => return false,
            Ok(j) => locations[j].record(outcome.ok, outcome.at, &params),
            Err(j) => locations.insert(
                j,
                LocationEvidence::first(outcome.location, start_up, outcome.ok, outcome.at, &params),
            ),
        }
        true
    }

    /// Re-decides the verdict at `now`; the change, if there is one.
    fn step(&mut self, now: Millis) -> Option<VerdictChange> {
        let (old, was_stale, was_pending) = (self.verdict.up, self.verdict.stale, self.verdict.pending);
        self.flaps.release_if_due(now);
        match vote::endpoint_vote(&self.spec, &self.verdict.evidence, now) {
            Some(up) => {
                self.evidenced = true;
                self.verdict.stale = false;
                if up != self.verdict.checks_up {
                    self.verdict.checks_up = up;
                    if let Some(damping) = &self.spec.damping {
                        self.flaps.record(now, damping);
                    }
                }
            }
            None => self.verdict.stale = !self.spec.checks.is_empty() && now >= self.grace_end,
        }
        let held = self.flaps.held_until();
        let (up, reason) = resolve(
            self.verdict.admin,
            held.is_some(),
            self.evidenced,
            self.verdict.checks_up,
        );
        if up != old {
            self.verdict.since = now;
        }
        self.verdict.up = up;
        self.verdict.reason = reason;
        self.verdict.held_until = held;
        self.verdict.pending = self.is_pending();
        self.deadline = self.next_deadline(now);
        let changed = up != old || self.verdict.stale != was_stale || self.verdict.pending != was_pending;
        changed.then_some(VerdictChange {
            endpoint: self.spec.id,
            old,
            new: up,
            was_stale,
            stale: self.verdict.stale,
            at: now,
            reason,
        })
    }

    /// Whether the endpoint is down only for want of results (see
    /// [`Verdict::pending`]): an operator's drain or a damping hold is a
    /// reason, not a want.
    fn is_pending(&self) -> bool {
        let waiting = matches!(self.verdict.reason, VerdictReason::Initial | VerdictReason::Checks);
        waiting && !self.verdict.up && !self.seen_failure && !self.spec.checks.is_empty()
    }

    /// The next moment after `now` at which time alone may change this
    /// endpoint's verdict: a hold ends, evidence goes stale, a new check's
    /// wait ends.
    fn next_deadline(&self, now: Millis) -> Option<Millis> {
        let evidence = self.spec.checks.iter().zip(&self.verdict.evidence);
        let checks = evidence.flat_map(|(check, e)| {
            let p = check.params;
            std::iter::once(p.fresh_until(e.configured_at))
                .chain(e.locations.iter().map(move |l| p.fresh_until(l.last_at)))
        });
        checks
            .chain(self.flaps.held_until())
            .chain(std::iter::once(self.grace_end))
            .filter(|&t| t > now)
            .min()
    }
}

/// When the checks of an endpoint have all had time to report.
fn grace_end(spec: &EndpointSpec, evidence: &[CheckEvidence]) -> Millis {
    spec.checks
        .iter()
        .zip(evidence)
        .map(|(c, e)| c.params.fresh_until(e.configured_at))
        .max()
        .unwrap_or(0)
}

/// The verdict from the override, the damping hold and the checks.
fn resolve(admin: Override, held: bool, evidenced: bool, checks_up: bool) -> (bool, VerdictReason) {
    // override | damping held | checks decided   | up        | reason
    // ---------+--------------+------------------+-----------+---------
    // drain    | -            | -                | down      | Drained
    // force-up | -            | -                | up        | ForcedUp
    // auto     | yes          | -                | down      | Damped
    // auto     | no           | never            | initial   | Initial
    // auto     | no           | yes (maybe stale)| checks_up | Checks
    match (admin, held, evidenced) {
        (Override::Drain, _, _) => (false, VerdictReason::Drained),
        (Override::ForceUp, _, _) => (true, VerdictReason::ForcedUp),
        (Override::Auto, true, _) => (false, VerdictReason::Damped),
        (Override::Auto, false, false) => (checks_up, VerdictReason::Initial),
        (Override::Auto, false, true) => (checks_up, VerdictReason::Checks),
    }
}
