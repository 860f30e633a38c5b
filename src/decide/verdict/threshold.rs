//! The rise/fall threshold machine of one check of one endpoint at one
//! location (DESIGN.md §3): `rise` consecutive successes to go up, `fall`
//! consecutive failures to go down. One failure among successes only resets
//! the count; that is what keeps a single lost packet from moving traffic.

use serde::Serialize;

use super::CheckParams;
use crate::decide::{LocationId, Millis};

/// What one location has seen of one check of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LocationEvidence {
    pub location: LocationId,
    /// The threshold machine's state.
    pub up: bool,
    /// The last outcome and when it was observed.
    pub last_ok: bool,
    pub last_at: Millis,
    /// Consecutive successes (0 after a failure).
    pub successes: u32,
    /// Consecutive failures (0 after a success).
    pub failures: u32,
}

impl LocationEvidence {
    /// The machine of a location that reports for the first time: it starts
    /// in `start_up` (the endpoint's current verdict from the checks, which
    /// before any evidence is its configured initial state), then takes the
    /// outcome.
    pub(super) fn first(location: LocationId, start_up: bool, ok: bool, at: Millis, params: &CheckParams) -> Self {
        let mut evidence = LocationEvidence {
            location,
            up: start_up,
            last_ok: ok,
            last_at: at,
            successes: 0,
            failures: 0,
        };
        evidence.record(ok, at, params);
        evidence
    }

    /// Takes one outcome.
    pub(super) fn record(&mut self, ok: bool, at: Millis, params: &CheckParams) {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        self.last_ok = ok;
        self.last_at = at;
        // state | outcome | new state
        // ------+---------+------------------------------------
        // up    | ok      | up
        // up    | fail    | down once failures ≥ fall, else up
        // down  | ok      | up once successes ≥ rise, else down
        // down  | fail    | down
        self.up = match (self.up, ok) {
            (true, true) => true,
            (true, false) => self.failures < params.fall,
            (false, true) => self.successes >= params.rise,
            (false, false) => false,
        };
    }

    /// Whether this evidence still counts at `now` (see
    /// [`CheckParams::fresh_until`]).
    pub fn is_fresh(&self, params: &CheckParams, now: Millis) -> bool {
        now < params.fresh_until(self.last_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: CheckParams = CheckParams {
        rise: 2,
        fall: 3,
        interval: 1000,
    };

    /// Feeds `outcomes` one per second to a machine starting in `start_up`,
    /// returning the state after each.
    fn run(start_up: bool, outcomes: &[bool]) -> Vec<bool> {
        let mut e: Option<LocationEvidence> = None;
        let mut states = Vec::new();
        for (i, &ok) in outcomes.iter().enumerate() {
            let at = i as Millis * 1000;
            match &mut e {
                None => e = Some(LocationEvidence::first(LocationId(0), start_up, ok, at, &PARAMS)),
                Some(e) => e.record(ok, at, &PARAMS),
            }
            states.push(e.unwrap().up);
        }
        states
    }

    #[test]
    fn up_goes_down_on_the_fall_th_consecutive_failure() {
        assert_eq!(run(true, &[false, false, false]), [true, true, false]);
    }

    #[test]
    fn down_goes_up_on_the_rise_th_consecutive_success() {
        assert_eq!(run(false, &[true, true]), [false, true]);
    }

    #[test]
    fn a_success_between_failures_restarts_the_fall_count() {
        assert_eq!(
            run(true, &[false, false, true, false, false, false]),
            [true, true, true, true, true, false]
        );
    }

    #[test]
    fn a_failure_between_successes_restarts_the_rise_count() {
        assert_eq!(run(false, &[true, false, true, true]), [false, false, false, true]);
    }

    #[test]
    fn successes_keep_up_up_and_failures_keep_down_down() {
        assert_eq!(run(true, &[true, true, true]), [true; 3]);
        assert_eq!(run(false, &[false, false, false]), [false; 3]);
    }

    #[test]
    fn rise_and_fall_of_one_follow_every_outcome() {
        let p = CheckParams {
            rise: 1,
            fall: 1,
            interval: 1000,
        };
        let mut e = LocationEvidence::first(LocationId(0), true, false, 0, &p);
        assert!(!e.up);
        e.record(true, 1, &p);
        assert!(e.up);
        e.record(false, 2, &p);
        assert!(!e.up);
    }

    #[test]
    fn counts_and_last_outcome_are_kept() {
        let mut e = LocationEvidence::first(LocationId(3), true, true, 10, &PARAMS);
        e.record(true, 20, &PARAMS);
        assert_eq!((e.successes, e.failures, e.last_ok, e.last_at), (2, 0, true, 20));
        e.record(false, 30, &PARAMS);
        assert_eq!((e.successes, e.failures, e.last_ok, e.last_at), (0, 1, false, 30));
        assert_eq!(e.location, LocationId(3));
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut e = LocationEvidence::first(LocationId(0), true, true, 0, &PARAMS);
        e.successes = u32::MAX;
        e.record(true, 1, &PARAMS);
        assert_eq!(e.successes, u32::MAX);
        assert!(e.up);
    }

    #[test]
    fn evidence_is_fresh_for_less_than_three_intervals() {
        let e = LocationEvidence::first(LocationId(0), true, true, 1000, &PARAMS);
        assert!(e.is_fresh(&PARAMS, 1000));
        assert!(e.is_fresh(&PARAMS, 3999));
        assert!(!e.is_fresh(&PARAMS, 4000));
    }
}
