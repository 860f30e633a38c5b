//! How an endpoint's evidence becomes a vote: each location combines the
//! endpoint's checks (`all`/`any`), then a `quorum` of the locations with
//! fresh evidence decides (DESIGN.md §3).
//!
//! Evidence is three-valued: a check that has gone quiet is *unknown*, and
//! unknown never counts as up or as down, so a partitioned or stalled
//! checker freezes the verdict instead of moving traffic.

use super::{CheckEvidence, CheckParams, Combine, EndpointSpec};
use crate::decide::{LocationId, Millis};

/// One check of an endpoint as one location sees it at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckState {
    Up,
    Down,
    /// The location reported this check, but not for 3 × interval; or it
    /// never reported it and the check has existed for 3 × interval.
    Unknown,
    /// The location has not reported this check yet and the check is new:
    /// it is left out of the location's vote.
    Absent,
}

/// The state of `evidence` at `location` at `now`.
pub(super) fn check_state(
    params: &CheckParams,
    evidence: &CheckEvidence,
    location: LocationId,
    now: Millis,
) -> CheckState {
    match evidence.at(location) {
        Some(e) if e.is_fresh(params, now) && e.up => CheckState::Up,
        Some(e) if e.is_fresh(params, now) => CheckState::Down,
        Some(_) => CheckState::Unknown,
        None if now < params.fresh_until(evidence.configured_at) => CheckState::Absent,
        None => CheckState::Unknown,
    }
}

/// One location's vote on an endpoint from the states of its checks; `None`
/// when the location has no say (nothing fresh enough to decide).
pub(super) fn location_vote(combine: Combine, states: impl IntoIterator<Item = CheckState>) -> Option<bool> {
    let (mut up, mut down, mut unknown) = (false, false, false);
    for state in states {
        match state {
            CheckState::Up => up = true,
            CheckState::Down => down = true,
            CheckState::Unknown => unknown = true,
            CheckState::Absent => {}
        }
    }
    // combine | checks (absent ones left out)  | vote
    // --------+--------------------------------+------
    // all     | any down                       | down
    // all     | else any unknown               | none
    // all     | else any up (so all are up)    | up
    // any     | any up                         | up
    // any     | else any unknown               | none
    // any     | else any down (so all are down)| down
    // either  | every check absent             | none
    match combine {
        Combine::All if down => Some(false),
        Combine::All if unknown => None,
        Combine::All => up.then_some(true),
        Combine::Any if up => Some(true),
        Combine::Any if unknown => None,
        Combine::Any => down.then_some(false),
    }
}

/// The endpoint's vote from its locations' votes.
pub(super) fn quorum_vote(votes: impl IntoIterator<Item = bool>, quorum: u16) -> Option<bool> {
    let (mut fresh, mut up) = (0usize, 0usize);
    for vote in votes {
        fresh += 1;
        up += usize::from(vote);
    }
    let quorum = usize::from(quorum);
    // locations voting up | locations voting | endpoint
    // --------------------+------------------+-----------------------------
    // ≥ quorum            | -                | up
    // < quorum            | ≥ quorum         | down
    // < quorum            | < quorum         | none: too little fresh
    //                     |                  | evidence, hold (stale)
    if up >= quorum {
        Some(true)
    } else if fresh >= quorum {
        Some(false)
    } else {
        None
    }
}

/// What the checks of `spec` say at `now`, from `evidence` (one entry per
/// check, in `spec.checks` order); `None` when they cannot decide.
pub(super) fn endpoint_vote(spec: &EndpointSpec, evidence: &[CheckEvidence], now: Millis) -> Option<bool> {
    let mut locations: Vec<LocationId> = evidence
        .iter()
        .flat_map(|e| e.locations.iter().map(|l| l.location))
        .collect();
    locations.sort_unstable();
    locations.dedup();
    let votes = locations.into_iter().filter_map(|location| {
        let states = spec
            .checks
            .iter()
            .zip(evidence)
            .map(|(check, e)| check_state(&check.params, e, location, now));
        location_vote(spec.combine, states)
    });
    quorum_vote(votes, spec.quorum)
}

#[cfg(test)]
mod tests {
    use super::CheckState::{Absent, Down, Unknown, Up};
    use super::*;
    use crate::decide::verdict::LocationEvidence;

    const PARAMS: CheckParams = CheckParams {
        rise: 1,
        fall: 1,
        interval: 100,
    };

    fn evidence(configured_at: Millis, locations: &[(u16, bool, Millis)]) -> CheckEvidence {
        CheckEvidence {
            check: crate::decide::CheckId(0),
            configured_at,
            locations: locations
                .iter()
                .map(|&(l, ok, at)| LocationEvidence::first(LocationId(l), true, ok, at, &PARAMS))
                .collect(),
        }
    }

    #[test]
    fn check_state_is_up_or_down_while_fresh_then_unknown() {
        let e = evidence(0, &[(0, true, 1000), (1, false, 1000)]);
        assert_eq!(check_state(&PARAMS, &e, LocationId(0), 1299), Up);
        assert_eq!(check_state(&PARAMS, &e, LocationId(1), 1299), Down);
        assert_eq!(check_state(&PARAMS, &e, LocationId(0), 1300), Unknown);
        assert_eq!(check_state(&PARAMS, &e, LocationId(1), 1300), Unknown);
    }

    #[test]
    fn an_unreported_check_is_absent_while_new_then_unknown() {
        let e = evidence(1000, &[]);
        assert_eq!(check_state(&PARAMS, &e, LocationId(0), 1000), Absent);
        assert_eq!(check_state(&PARAMS, &e, LocationId(0), 1299), Absent);
        assert_eq!(check_state(&PARAMS, &e, LocationId(0), 1300), Unknown);
    }

    #[test]
    fn location_vote_all() {
        let all = |s: &[CheckState]| location_vote(Combine::All, s.iter().copied());
        assert_eq!(all(&[Up, Down]), Some(false));
        assert_eq!(all(&[Unknown, Down]), Some(false));
        assert_eq!(all(&[Up, Unknown]), None);
        assert_eq!(all(&[Up, Up]), Some(true));
        assert_eq!(all(&[Up, Absent]), Some(true));
        assert_eq!(all(&[Absent, Absent]), None);
        assert_eq!(all(&[]), None);
    }

    #[test]
    fn location_vote_any() {
        let any = |s: &[CheckState]| location_vote(Combine::Any, s.iter().copied());
        assert_eq!(any(&[Up, Down]), Some(true));
        assert_eq!(any(&[Up, Unknown]), Some(true));
        assert_eq!(any(&[Down, Unknown]), None);
        assert_eq!(any(&[Down, Down]), Some(false));
        assert_eq!(any(&[Down, Absent]), Some(false));
        assert_eq!(any(&[Absent]), None);
        assert_eq!(any(&[]), None);
    }

    #[test]
    fn quorum_counts_up_votes_among_fresh_locations() {
        assert_eq!(quorum_vote([true], 1), Some(true));
        assert_eq!(quorum_vote([false], 1), Some(false));
        assert_eq!(quorum_vote([false, true], 1), Some(true));
        assert_eq!(quorum_vote([true, true, false], 2), Some(true));
        assert_eq!(quorum_vote([true, false, false], 2), Some(false));
        assert_eq!(quorum_vote([true, false], 2), Some(false));
    }

    #[test]
    fn too_few_fresh_locations_for_the_quorum_decide_nothing() {
        assert_eq!(quorum_vote([], 1), None);
        assert_eq!(quorum_vote([true], 2), None);
        assert_eq!(quorum_vote([false], 2), None);
    }
}
