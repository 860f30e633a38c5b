//! Guards between verdicts and answer sets: the moments when verdicts
//! alone must not move answers.
//!
//! ```text
//!  Verdicts ──► breaker (more than breaker_share of the unrelated endpoint
//!                        groups went down within breaker_window: their
//!                        answers are held, an event is raised)
//!           ──► grace   (within startup_grace of the start: an endpoint
//!                        down only for want of results is waited for)
//!           ──► EndpointHealth, what answer sets read
//! ```
//!
//! **The correlated-failure breaker.** When many unrelated endpoints fail
//! at once, the likelier cause is the checker's own network, and moving
//! every record to its backups (or to its all-down policy) would hurt more
//! than it helps. Endpoints are related when they belong to one record name
//! (its A and AAAA records alike) or are probed at one address: each such
//! *failure group* counts once, so a real outage of one record's endpoints,
//! or of one host serving several names, is not a correlated failure. When
//! more than `share` of the groups (with at least `min_groups` of them) have
//! an endpoint that its checks took down within `window`, the breaker
//! trips: every endpoint that went down from `window` before the trip on is
//! answered as up, so records keep the answers they had before the burst,
//! and [`Guard::update`] reports a [`BreakerChange`] for the runtime to
//! raise as an event. Verdicts stay what the checks say. The breaker closes
//! again once the held endpoints that are still down are no longer more than
//! `share` of the groups (their checks recovered), or when an operator
//! accepts the failures ([`Guard::release`]); endpoints still down then move
//! traffic as usual.
//!
//! **The startup grace.** An endpoint that starts down (`initial = "down"`)
//! is down only for want of results until its checks decide (a verdict
//! resumed down from the store is not: its checks decided before the
//! restart). Within `startup_grace` of the start such an
//! endpoint is reported as pending, and answer sets do not fail over from
//! its tier to a worse one on its account (see
//! [`super::answer_set::Rule::StartupGrace`]). After the grace its initial
//! state holds until the checks decide.
//!
//! Pure like the rest of decide: the state is a trip time and a time of
//! acceptance; everything else is read from the verdicts when asked.

#[cfg(test)]
mod tests;

use rustc_hash::FxHashSet;
use serde::Serialize;

use super::answer_set::{EndpointHealth, Share};
use super::verdict::{Verdict, VerdictReason, Verdicts};
use super::{EndpointId, Millis};

/// The guards as configured (`[health]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuardSpec {
    /// `None`: the breaker is off.
    pub breaker: Option<BreakerSpec>,
    /// How long after the start an endpoint that waits for its first
    /// results is waited for.
    pub startup_grace: Millis,
}

/// The correlated-failure breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSpec {
    /// The breaker trips when more than this share of the failure groups
    /// went down within `window`.
    pub share: Share,
    /// And only when there are at least this many failure groups.
    pub min_groups: u32,
    pub window: Millis,
}

/// A tripped breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trip {
    /// When it tripped; endpoints that went down after `at - window` are
    /// held.
    pub at: Millis,
    /// Failure groups that had gone down, and all of them, at the trip.
    pub groups_down: usize,
    pub groups: usize,
}

/// The breaker tripped or closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerChange {
    /// Tripped now (true) or closed now (false).
    pub tripped: bool,
    pub at: Millis,
    /// Failure groups with an endpoint down that the breaker counts (at a
    /// trip: those that went down within the window; at a close: those
    /// still held), and all failure groups.
    pub groups_down: usize,
    pub groups: usize,
    /// At a trip, the endpoints held up; at a close, those still down,
    /// whose traffic moves now.
    pub endpoints: Vec<EndpointId>,
    /// Closed by an operator.
    pub by_operator: bool,
}

/// The guards' state: the decide stage's middle, between [`Verdicts`] and
/// the answer sets.
#[derive(Debug, Clone)]
pub struct Guard {
    spec: GuardSpec,
    /// When decide started: the startup grace runs from here.
    started: Millis,
    trip: Option<Trip>,
    /// An operator accepted the endpoints that went down up to then.
    accepted: Option<Millis>,
}

impl Guard {
    /// The guards of a decide stage started at `now`.
    pub fn new(spec: GuardSpec, now: Millis) -> Self {
        Guard {
            spec,
            started: now,
            trip: None,
            accepted: None,
        }
    }

    /// New settings (a reload): the start, a trip and an acceptance are
    /// kept; the next [`update`](Self::update) applies the new settings
    /// (closing a breaker that was turned off).
    pub fn reconfigure(&mut self, spec: GuardSpec) {
        self.spec = spec;
    }

    pub fn spec(&self) -> &GuardSpec {
        &self.spec
    }

    /// Trips or closes the breaker after the verdicts changed (or time
    /// passed); call once per batch of changes, before computing answer
    /// sets. O(endpoints).
    pub fn update(&mut self, verdicts: &Verdicts, now: Millis) -> Option<BreakerChange> {
        // breaker | state    | condition                                   | then
        // --------+----------+---------------------------------------------+-------
        // off     | tripped  | -                                           | close
        // on      | closed   | > share of ≥ min_groups went down in window | trip
        // on      | tripped  | held groups still down ≤ share, or too few  | close
        let Some(breaker) = self.spec.breaker else {
            return self.close(verdicts, now, false);
        };
        match self.trip {
            None => {
                let recent = |v: &Verdict| self.counts(v) && v.since.saturating_add(breaker.window) > now;
                let (down, groups) = count(verdicts, recent);
                if !exceeds(&breaker, down.len(), groups) {
                    return None;
                }
                let trip = Trip {
                    at: now,
                    groups_down: down.len(),
                    groups,
                };
                self.trip = Some(trip);
                Some(BreakerChange {
                    tripped: true,
                    at: now,
                    groups_down: trip.groups_down,
                    groups,
                    endpoints: self.held(verdicts),
                    by_operator: false,
                })
            }
            Some(_) => {
                let (down, groups) = count(verdicts, |v| self.holds(v));
                if exceeds(&breaker, down.len(), groups) {
                    return None;
                }
                self.close(verdicts, now, false)
            }
        }
    }

    /// An operator accepts the failures: the breaker closes, and endpoints
    /// that went down until now no longer count towards a trip.
    pub fn release(&mut self, verdicts: &Verdicts, now: Millis) -> Option<BreakerChange> {
        let change = self.close(verdicts, now, true);
        self.accepted = Some(now);
        change
    }

    /// The trip, while the breaker holds answers.
    pub fn tripped(&self) -> Option<&Trip> {
        self.trip.as_ref()
    }

    /// The endpoints the breaker answers as up although their checks say
    /// down, in specification order.
    pub fn held(&self, verdicts: &Verdicts) -> Vec<EndpointId> {
        verdicts
            .iter()
            .filter(|(_, v)| self.holds(v))
            .map(|(s, _)| s.id)
            .collect()
    }

    /// When the startup grace ends.
    pub fn grace_until(&self) -> Millis {
        self.started.saturating_add(self.spec.startup_grace)
    }

    /// What answer sets know of an endpoint at `now`: its verdict, held up
    /// by a tripped breaker, and pending within the startup grace.
    pub fn health(&self, verdicts: &Verdicts, id: EndpointId, now: Millis) -> EndpointHealth {
        let Some(v) = verdicts.verdict(id) else {
            return EndpointHealth::default();
        };
        let until = self.grace_until();
        EndpointHealth {
            up: v.up || self.holds(v),
            pending_until: (v.pending && now < until).then_some(until),
        }
    }

    /// [`health`](Self::health) as a function, for
    /// [`compute`](super::answer_set::compute).
    pub fn view<'a>(&'a self, verdicts: &'a Verdicts, now: Millis) -> impl Fn(EndpointId) -> EndpointHealth + 'a {
        move |id| self.health(verdicts, id, now)
    }

    /// Whether a verdict counts towards a trip: the checks took the
    /// endpoint down (not an operator), after the last acceptance.
    fn counts(&self, v: &Verdict) -> bool {
        let by_checks = matches!(v.reason, VerdictReason::Checks | VerdictReason::Damped);
        !v.up && by_checks && self.accepted.is_none_or(|a| v.since > a)
    }

    /// Whether a tripped breaker holds this verdict up: it went down
    /// within the window before the trip, or since.
    fn holds(&self, v: &Verdict) -> bool {
        match (self.trip, self.spec.breaker) {
            (Some(trip), Some(b)) => self.counts(v) && v.since.saturating_add(b.window) > trip.at,
            _ => false,
        }
    }

    fn close(&mut self, verdicts: &Verdicts, now: Millis, by_operator: bool) -> Option<BreakerChange> {
        self.trip?;
        let endpoints = self.held(verdicts);
        let (down, groups) = count(verdicts, |v| self.holds(v));
        self.trip = None;
        Some(BreakerChange {
            tripped: false,
            at: now,
            groups_down: down.len(),
            groups,
            endpoints,
            by_operator,
        })
    }
}

/// The failure groups with an endpoint that `down` picks, and the number of
/// failure groups with a checked endpoint (unchecked ones cannot fail).
fn count(verdicts: &Verdicts, down: impl Fn(&Verdict) -> bool) -> (FxHashSet<u32>, usize) {
    let mut groups = FxHashSet::default();
    let mut failed = FxHashSet::default();
    for (spec, v) in verdicts.iter().filter(|(s, _)| !s.checks.is_empty()) {
        groups.insert(spec.group);
        if down(v) {
            failed.insert(spec.group);
        }
    }
    (failed, groups.len())
}

/// More than the share of at least `min_groups` groups.
fn exceeds(breaker: &BreakerSpec, down: usize, groups: usize) -> bool {
    let share = u128::from(breaker.share.millionths());
    groups >= breaker.min_groups as usize && down as u128 * 1_000_000 > share * groups as u128
}
