//! Every transition of [`Verdicts`], driven with virtual time.

use super::*;

const SECOND: Millis = 1000;

fn check(id: u32) -> CheckSpec {
    CheckSpec {
        id: CheckId(id),
        key: format!("check-{id}"),
        params: CheckParams {
            rise: 2,
            fall: 3,
            interval: SECOND,
        },
    }
}

fn endpoint(id: u32, checks: &[u32]) -> EndpointSpec {
    EndpointSpec {
        id: EndpointId(id),
        name: format!("ep-{id}"),
        checks: checks.iter().map(|&c| check(c)).collect(),
        combine: Combine::All,
        quorum: 1,
        initial_up: true,
        damping: None,
        group: id,
    }
}

fn outcome(endpoint: u32, check: u32, location: u16, ok: bool, at: Millis) -> Outcome {
    Outcome {
        endpoint: EndpointId(endpoint),
        check: CheckId(check),
        location: LocationId(location),
        ok,
        at,
    }
}

/// Feeds `oks` to (endpoint 0, check, location), one per second from `from`;
/// the changes.
fn feed(v: &mut Verdicts, check: u32, location: u16, from: Millis, oks: &[bool]) -> Vec<VerdictChange> {
    oks.iter()
        .enumerate()
        .filter_map(|(i, &ok)| v.observe(&outcome(0, check, location, ok, from + i as Millis * SECOND)))
        .collect()
}

fn one(spec: EndpointSpec) -> Verdicts {
    Verdicts::new(vec![spec], 0).unwrap()
}

fn verdict(v: &Verdicts) -> &Verdict {
    v.verdict(EndpointId(0)).unwrap()
}

// ---- initial state -------------------------------------------------------

#[test]
fn an_endpoint_starts_at_its_initial_state() {
    let mut down = endpoint(1, &[0]);
    down.initial_up = false;
    let v = Verdicts::new(vec![endpoint(0, &[0]), down], 7).unwrap();
    let up = v.verdict(EndpointId(0)).unwrap();
    assert!(up.up && !up.stale);
    assert_eq!(
        (up.reason, up.since, up.admin),
        (VerdictReason::Initial, 7, Override::Auto)
    );
    assert!(!v.is_up(EndpointId(1)));
}

#[test]
fn a_first_success_confirms_initial_up_without_a_change() {
    let mut v = one(endpoint(0, &[0]));
    assert!(feed(&mut v, 0, 0, SECOND, &[true]).is_empty());
    assert_eq!(verdict(&v).reason, VerdictReason::Checks);
    assert!(verdict(&v).up);
}

#[test]
fn initial_down_needs_rise_successes() {
    let mut spec = endpoint(0, &[0]);
    spec.initial_up = false;
    let mut v = one(spec);
    let changes = feed(&mut v, 0, 0, SECOND, &[true, true]);
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].new, changes[0].at), (true, 2 * SECOND));
}

#[test]
fn an_endpoint_starting_down_is_pending_until_its_checks_decide_or_fail() {
    let mut spec = endpoint(0, &[0]);
    spec.initial_up = false;
    let mut v = one(spec.clone());
    assert!(verdict(&v).pending);
    // One success of rise = 2: still down only for want of results.
    assert!(feed(&mut v, 0, 0, SECOND, &[true]).is_empty());
    assert!(verdict(&v).pending && !verdict(&v).up);
    let changes = feed(&mut v, 0, 0, 2 * SECOND, &[true]);
    assert!(changes[0].flipped() && !verdict(&v).pending);
    // A failure is evidence: no longer pending, though the verdict stays
    // down; reported so that answer sets stop waiting.
    let mut v = one(spec);
    let changes = feed(&mut v, 0, 0, SECOND, &[false]);
    assert_eq!(changes.len(), 1);
    assert!(!changes[0].flipped() && !verdict(&v).pending);
}

#[test]
fn an_endpoint_starting_up_or_drained_or_unchecked_is_not_pending() {
    let mut v = one(endpoint(0, &[0]));
    assert!(!verdict(&v).pending);
    let mut down = endpoint(0, &[0]);
    down.initial_up = false;
    v = one(down.clone());
    v.set_override(EndpointId(0), Override::Drain, 0).unwrap();
    assert!(!verdict(&v).pending);
    down.checks.clear();
    assert!(!verdict(&one(down)).pending);
}

#[test]
fn reconfigure_keeps_whether_a_check_has_failed() {
    let mut down = endpoint(0, &[0]);
    down.initial_up = false;
    let mut v = one(down.clone());
    feed(&mut v, 0, 0, SECOND, &[false]);
    assert!(v.reconfigure(vec![down], 2 * SECOND).unwrap().is_empty());
    assert!(!verdict(&v).pending);
}

#[test]
fn with_no_evidence_the_verdict_goes_stale_after_the_grace() {
    let mut v = one(endpoint(0, &[0]));
    assert_eq!(v.next_deadline(), Some(3 * SECOND));
    assert!(v.tick(3 * SECOND - 1).is_empty());
    let changes = v.tick(3 * SECOND);
    assert_eq!(changes.len(), 1);
    assert!(changes[0].stale && !changes[0].was_stale && !changes[0].flipped());
    assert!(verdict(&v).up);
    assert_eq!(verdict(&v).reason, VerdictReason::Initial);
}

#[test]
fn an_endpoint_without_checks_follows_its_initial_state_and_never_goes_stale() {
    let mut v = one(endpoint(0, &[]));
    assert!(v.tick(1_000_000).is_empty());
    assert!(verdict(&v).up && !verdict(&v).stale);
    assert_eq!(v.next_deadline(), None);
}

// ---- rise and fall -------------------------------------------------------

#[test]
fn goes_down_on_the_fall_th_failure() {
    let mut v = one(endpoint(0, &[0]));
    let changes = feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    assert_eq!(
        changes,
        [VerdictChange {
            endpoint: EndpointId(0),
            old: true,
            new: false,
            was_stale: false,
            stale: false,
            at: 3 * SECOND,
            reason: VerdictReason::Checks,
        }]
    );
    assert_eq!(verdict(&v).since, 3 * SECOND);
    let e = verdict(&v).evidence[0].at(LocationId(0)).unwrap();
    assert_eq!((e.up, e.failures, e.last_ok, e.last_at), (false, 3, false, 3 * SECOND));
}

#[test]
fn comes_back_on_the_rise_th_success() {
    let mut v = one(endpoint(0, &[0]));
    feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    let changes = feed(&mut v, 0, 0, 4 * SECOND, &[true, false, true, true]);
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].new, changes[0].at), (true, 7 * SECOND));
}

#[test]
fn an_outcome_older_than_the_last_of_its_location_is_ignored() {
    let mut v = one(endpoint(0, &[0]));
    feed(&mut v, 0, 0, 5 * SECOND, &[false, false]);
    assert_eq!(v.observe(&outcome(0, 0, 0, false, 4 * SECOND)), None);
    assert_eq!(verdict(&v).evidence[0].locations[0].failures, 2);
    // The same time again counts.
    assert!(v.observe(&outcome(0, 0, 0, false, 6 * SECOND)).is_some());
}

#[test]
fn outcomes_for_unknown_endpoints_or_checks_are_ignored() {
    let mut v = one(endpoint(0, &[0]));
    assert_eq!(v.observe(&outcome(9, 0, 0, false, SECOND)), None);
    assert_eq!(v.observe(&outcome(0, 9, 0, false, SECOND)), None);
    assert!(verdict(&v).evidence[0].locations.is_empty());
}

// ---- combining checks ----------------------------------------------------

#[test]
fn all_goes_down_when_one_check_goes_down() {
    let mut v = one(endpoint(0, &[0, 1]));
    for t in 1..=3 {
        v.observe(&outcome(0, 0, 0, true, t * SECOND));
        v.observe(&outcome(0, 1, 0, false, t * SECOND));
    }
    assert!(!verdict(&v).up);
}

#[test]
fn any_stays_up_while_one_check_is_up() {
    let mut spec = endpoint(0, &[0, 1]);
    spec.combine = Combine::Any;
    let mut v = one(spec);
    for t in 1..=3 {
        v.observe(&outcome(0, 0, 0, true, t * SECOND));
        v.observe(&outcome(0, 1, 0, false, t * SECOND));
    }
    assert!(verdict(&v).up);
    for t in 4..=6 {
        v.observe(&outcome(0, 0, 0, false, t * SECOND));
        v.observe(&outcome(0, 1, 0, false, t * SECOND));
    }
    assert!(!verdict(&v).up);
}

#[test]
fn a_new_check_not_yet_reported_is_waited_for_then_freezes_all() {
    let mut v = one(endpoint(0, &[0, 1]));
    // Check 0 keeps reporting up; check 1 never reports.
    for t in 1..=2 {
        v.observe(&outcome(0, 0, 0, true, t * SECOND));
    }
    assert!(verdict(&v).up && !verdict(&v).stale);
    assert_eq!(verdict(&v).reason, VerdictReason::Checks);
    let change = v.observe(&outcome(0, 0, 0, true, 3 * SECOND)).unwrap();
    assert!(change.stale && !change.flipped());
    assert!(verdict(&v).up);
}

// ---- locations, quorum, freshness ----------------------------------------

fn quorum(n: u16) -> Verdicts {
    let mut spec = endpoint(0, &[0]);
    spec.quorum = n;
    spec.checks[0].params.fall = 1;
    spec.checks[0].params.rise = 1;
    one(spec)
}

#[test]
fn quorum_of_two_needs_two_locations_saying_up() {
    let mut v = quorum(2);
    v.observe(&outcome(0, 0, 0, false, SECOND));
    v.observe(&outcome(0, 0, 1, true, SECOND));
    v.observe(&outcome(0, 0, 2, true, SECOND));
    assert!(verdict(&v).up);
    let change = v.observe(&outcome(0, 0, 1, false, 2 * SECOND)).unwrap();
    assert!(!change.new);
    let change = v.observe(&outcome(0, 0, 0, true, 2 * SECOND)).unwrap();
    assert!(change.new);
}

#[test]
fn quorum_of_one_is_up_while_any_location_says_up() {
    let mut v = quorum(1);
    v.observe(&outcome(0, 0, 0, false, SECOND));
    v.observe(&outcome(0, 0, 1, true, SECOND));
    assert!(verdict(&v).up);
    v.observe(&outcome(0, 0, 1, false, 2 * SECOND));
    assert!(!verdict(&v).up);
}

#[test]
fn a_location_that_goes_quiet_drops_out_of_the_quorum() {
    let mut v = quorum(1);
    v.observe(&outcome(0, 0, 0, false, SECOND));
    v.observe(&outcome(0, 0, 1, true, SECOND));
    // Location 0 keeps reporting down; location 1 falls silent.
    v.observe(&outcome(0, 0, 0, false, 3 * SECOND));
    assert!(verdict(&v).up);
    let change = v.observe(&outcome(0, 0, 0, false, 4 * SECOND)).unwrap();
    assert!(!change.new && !change.stale);
}

#[test]
fn fewer_fresh_locations_than_the_quorum_hold_the_verdict_as_stale() {
    let mut v = quorum(2);
    v.observe(&outcome(0, 0, 0, true, SECOND));
    v.observe(&outcome(0, 0, 1, true, SECOND));
    // Location 1 falls silent; location 0 alone cannot make a quorum of 2.
    let change = v.observe(&outcome(0, 0, 0, false, 4 * SECOND)).unwrap();
    assert!(change.stale && change.new);
    assert!(verdict(&v).up);
}

#[test]
fn with_no_fresh_location_the_verdict_holds_and_is_stale() {
    for initial_up in [true, false] {
        let mut spec = endpoint(0, &[0]);
        spec.initial_up = initial_up;
        let mut v = one(spec);
        feed(&mut v, 0, 0, SECOND, &[!initial_up; 3]);
        let held = !initial_up;
        assert_eq!(verdict(&v).up, held);
        assert_eq!(v.next_deadline(), Some(6 * SECOND));
        assert!(v.tick(6 * SECOND - 1).is_empty());
        let changes = v.tick(6 * SECOND);
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].old, changes[0].new, changes[0].stale), (held, held, true));
        assert_eq!(verdict(&v).reason, VerdictReason::Checks);
        // Evidence again: fresh again.
        let change = v.observe(&outcome(0, 0, 0, !initial_up, 7 * SECOND)).unwrap();
        assert!(change.was_stale && !change.stale && !change.flipped());
    }
}

#[test]
fn a_stale_check_at_a_location_freezes_all_but_not_a_down_vote() {
    let mut v = one(endpoint(0, &[0, 1]));
    v.observe(&outcome(0, 0, 0, true, SECOND));
    v.observe(&outcome(0, 1, 0, true, SECOND));
    // Check 1 goes quiet while up: the location cannot say up any more.
    v.observe(&outcome(0, 0, 0, true, 3 * SECOND));
    let change = v.observe(&outcome(0, 0, 0, true, 4 * SECOND)).unwrap();
    assert!(change.stale && change.new);
    // But check 0 failing is enough to say down under `all`.
    feed(&mut v, 0, 0, 5 * SECOND, &[false, false, false]);
    assert!(!verdict(&v).up && !verdict(&v).stale);
}

#[test]
fn a_location_reporting_late_starts_from_the_current_verdict() {
    let mut v = one(endpoint(0, &[0]));
    feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    assert!(!verdict(&v).up);
    // A probe agent's first failure must not vote up (from initial = up).
    assert_eq!(v.observe(&outcome(0, 0, 1, false, 4 * SECOND)), None);
    assert!(!verdict(&v).up);
    assert!(!verdict(&v).evidence[0].at(LocationId(1)).unwrap().up);
}

#[test]
fn time_never_goes_back() {
    let mut v = one(endpoint(0, &[0]));
    v.tick(10 * SECOND);
    assert!(verdict(&v).stale);
    // An outcome stamped before the last tick is judged at the last tick.
    v.observe(&outcome(0, 0, 0, true, 2 * SECOND));
    assert!(verdict(&v).stale);
    assert_eq!(v.now(), 10 * SECOND);
    assert!(v.tick(SECOND).is_empty());
    assert_eq!(v.now(), 10 * SECOND);
}

// ---- overrides -----------------------------------------------------------

#[test]
fn drain_takes_an_up_endpoint_down_and_auto_gives_it_back() {
    let mut v = one(endpoint(0, &[0]));
    let change = v.set_override(EndpointId(0), Override::Drain, SECOND).unwrap().unwrap();
    assert_eq!(
        (change.old, change.new, change.reason),
        (true, false, VerdictReason::Drained)
    );
    assert!(feed(&mut v, 0, 0, 2 * SECOND, &[true, true]).is_empty());
    assert_eq!(verdict(&v).admin, Override::Drain);
    assert!(verdict(&v).checks_up);
    let change = v
        .set_override(EndpointId(0), Override::Auto, 4 * SECOND)
        .unwrap()
        .unwrap();
    assert_eq!((change.new, change.reason), (true, VerdictReason::Checks));
}

#[test]
fn force_up_beats_failing_checks() {
    let mut v = one(endpoint(0, &[0]));
    feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    let change = v
        .set_override(EndpointId(0), Override::ForceUp, 4 * SECOND)
        .unwrap()
        .unwrap();
    assert_eq!((change.new, change.reason), (true, VerdictReason::ForcedUp));
    assert!(feed(&mut v, 0, 0, 5 * SECOND, &[false, false]).is_empty());
    assert!(verdict(&v).up);
    let change = v
        .set_override(EndpointId(0), Override::Auto, 7 * SECOND)
        .unwrap()
        .unwrap();
    assert!(!change.new);
}

#[test]
fn an_override_that_does_not_flip_reports_no_change_but_shows_its_reason() {
    let mut v = one(endpoint(0, &[0]));
    feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    assert_eq!(v.set_override(EndpointId(0), Override::Drain, 4 * SECOND), Ok(None));
    assert_eq!(verdict(&v).reason, VerdictReason::Drained);
    assert_eq!(verdict(&v).since, 3 * SECOND);
}

#[test]
fn an_override_for_an_unknown_endpoint_is_an_error() {
    let mut v = one(endpoint(0, &[0]));
    let err = v.set_override(EndpointId(5), Override::Drain, 0).unwrap_err();
    assert_eq!(err, UnknownEndpoint(EndpointId(5)));
    assert_eq!(err.to_string(), "no endpoint with id 5");
}

// ---- damping -------------------------------------------------------------

fn damped() -> Verdicts {
    let mut spec = endpoint(0, &[0]);
    spec.checks[0].params.rise = 1;
    spec.checks[0].params.fall = 1;
    spec.damping = Some(Damping {
        max_changes: 2,
        window: 10 * SECOND,
        hold: 5 * SECOND,
    });
    one(spec)
}

#[test]
fn flapping_beyond_max_changes_holds_the_endpoint_down() {
    let mut v = damped();
    let changes = feed(&mut v, 0, 0, SECOND, &[false, true, false, true]);
    // down (1), up (2), down (3: held), up (still held).
    assert_eq!(changes.iter().map(|c| c.new).collect::<Vec<_>>(), [false, true, false]);
    assert!(!verdict(&v).up);
    assert_eq!(verdict(&v).reason, VerdictReason::Damped);
    assert!(verdict(&v).checks_up);
    assert_eq!(verdict(&v).held_until, Some(9 * SECOND));
}

#[test]
fn a_held_endpoint_is_released_after_the_hold_of_stability() {
    let mut v = damped();
    feed(&mut v, 0, 0, SECOND, &[false, true, false, true, true, true, true]);
    assert!(!verdict(&v).up);
    assert_eq!(v.next_deadline(), Some(9 * SECOND));
    let changes = v.tick(9 * SECOND);
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].new, changes[0].reason), (true, VerdictReason::Checks));
    assert_eq!(verdict(&v).held_until, None);
}

#[test]
fn a_change_while_held_restarts_the_hold() {
    let mut v = damped();
    feed(&mut v, 0, 0, SECOND, &[false, true, false, true, false, true]);
    // Changes at 4 s (held), 5 s, 6 s: held until 6 s + 5 s.
    assert_eq!(verdict(&v).held_until, Some(11 * SECOND));
    assert!(feed(&mut v, 0, 0, 8 * SECOND, &[true, true, true]).is_empty());
    assert!(v.observe(&outcome(0, 0, 0, true, 11 * SECOND)).unwrap().new);
}

#[test]
fn released_into_down_when_the_checks_say_down() {
    let mut v = damped();
    feed(&mut v, 0, 0, SECOND, &[false, true, false]);
    assert_eq!(verdict(&v).held_until, Some(8 * SECOND));
    assert!(feed(&mut v, 0, 0, 6 * SECOND, &[false, false, false]).is_empty());
    assert_eq!(verdict(&v).held_until, None);
    assert_eq!(verdict(&v).reason, VerdictReason::Checks);
}

#[test]
fn force_up_beats_damping() {
    let mut v = damped();
    feed(&mut v, 0, 0, SECOND, &[false, true, false, true]);
    let change = v
        .set_override(EndpointId(0), Override::ForceUp, 5 * SECOND)
        .unwrap()
        .unwrap();
    assert!(change.new);
    assert_eq!(verdict(&v).held_until, Some(9 * SECOND));
}

// ---- deadlines -----------------------------------------------------------

#[test]
fn next_deadline_is_the_first_moment_time_alone_may_change_something() {
    let mut v = one(endpoint(0, &[0]));
    v.observe(&outcome(0, 0, 0, true, SECOND));
    // The check's own wait ends at 3 s; the evidence from 1 s goes stale at 4 s.
    assert_eq!(v.next_deadline(), Some(3 * SECOND));
    v.tick(3 * SECOND);
    assert_eq!(v.next_deadline(), Some(4 * SECOND));
    v.tick(4 * SECOND);
    assert_eq!(v.next_deadline(), None);
}

// ---- reconfiguration -----------------------------------------------------

#[test]
fn reconfigure_keeps_unchanged_endpoints_under_their_new_ids() {
    let mut v = Verdicts::new(vec![endpoint(0, &[0]), endpoint(1, &[0])], 0).unwrap();
    feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    v.set_override(EndpointId(1), Override::Drain, 3 * SECOND).unwrap();
    let before = verdict(&v).clone();
    // ep-0 moves to id 7 and its check to id 4 (same key and params).
    let mut moved = endpoint(7, &[4]);
    moved.name = "ep-0".into();
    moved.checks[0].key = "check-0".into();
    let mut drained = endpoint(8, &[0]);
    drained.name = "ep-1".into();
    let changes = v
        .reconfigure(vec![moved, drained, endpoint(9, &[0])], 4 * SECOND)
        .unwrap();
    assert!(changes.is_empty());
    let after = v.verdict(EndpointId(7)).unwrap();
    assert_eq!(
        (after.up, after.since, after.reason),
        (before.up, before.since, before.reason)
    );
    assert_eq!(after.evidence[0].check, CheckId(4));
    assert_eq!(after.evidence[0].locations, before.evidence[0].locations);
    assert_eq!(v.verdict(EndpointId(8)).unwrap().admin, Override::Drain);
    assert!(!v.is_up(EndpointId(8)));
    let new = v.verdict(EndpointId(9)).unwrap();
    assert_eq!(
        (new.up, new.reason, new.since),
        (true, VerdictReason::Initial, 4 * SECOND)
    );
    // Old ids are gone.
    assert_eq!(v.verdict(EndpointId(0)), None);
    assert!(!v.is_up(EndpointId(1)));
    // Outcomes now arrive under the new ids.
    assert!(v.observe(&outcome(7, 4, 0, true, 5 * SECOND)).is_none());
    assert_eq!(v.verdict(EndpointId(7)).unwrap().evidence[0].locations[0].successes, 1);
}

#[test]
fn reconfigure_restarts_the_evidence_of_a_changed_check_but_keeps_the_verdict() {
    let mut v = one(endpoint(0, &[0]));
    feed(&mut v, 0, 0, SECOND, &[false, false, false]);
    let mut changed = endpoint(0, &[0]);
    changed.checks[0].params.fall = 5;
    let changes = v.reconfigure(vec![changed], 4 * SECOND).unwrap();
    assert!(changes.is_empty());
    assert!(!verdict(&v).up && !verdict(&v).stale);
    assert!(verdict(&v).evidence[0].locations.is_empty());
    assert_eq!(verdict(&v).evidence[0].configured_at, 4 * SECOND);
    // The new check's first report starts from the kept verdict (down).
    assert_eq!(v.observe(&outcome(0, 0, 0, true, 5 * SECOND)), None);
    assert!(v.observe(&outcome(0, 0, 0, true, 6 * SECOND)).unwrap().new);
}

#[test]
fn reconfigure_reports_changes_the_new_specification_causes() {
    let mut v = one(endpoint(0, &[0, 1]));
    for t in 1..=3 {
        v.observe(&outcome(0, 0, 0, true, t * SECOND));
        v.observe(&outcome(0, 1, 0, false, t * SECOND));
    }
    assert!(!verdict(&v).up);
    let mut any = endpoint(0, &[0, 1]);
    any.combine = Combine::Any;
    let changes = v.reconfigure(vec![any], 3 * SECOND).unwrap();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].new);
}

#[test]
fn reconfigure_with_new_damping_forgets_the_hold() {
    let mut v = damped();
    feed(&mut v, 0, 0, SECOND, &[false, true, false, true]);
    assert!(!verdict(&v).up);
    let mut spec = endpoint(0, &[0]);
    spec.checks[0].params.rise = 1;
    spec.checks[0].params.fall = 1;
    let changes = v.reconfigure(vec![spec], 5 * SECOND).unwrap();
    assert!(changes[0].new);
    assert_eq!(verdict(&v).held_until, None);
}

#[test]
fn an_invalid_reconfiguration_changes_nothing() {
    let mut v = one(endpoint(0, &[0]));
    let mut bad = endpoint(0, &[0]);
    bad.quorum = 0;
    assert!(v.reconfigure(vec![bad], SECOND).is_err());
    assert!(v.verdict(EndpointId(0)).is_some());
    assert_eq!(v.now(), 0);
}

// ---- validation ----------------------------------------------------------

fn rejected(specs: Vec<EndpointSpec>) -> String {
    Verdicts::new(specs, 0).unwrap_err().to_string()
}

#[test]
fn invalid_specifications_are_rejected_with_what_would_be_right() {
    let mut same_id = endpoint(0, &[0]);
    same_id.name = "other".into();
    assert_eq!(
        rejected(vec![endpoint(0, &[0]), same_id]),
        "endpoint id 0 is given to both `ep-0` and `other`; ids must be unique"
    );
    let mut same_name = endpoint(1, &[0]);
    same_name.name = "ep-0".into();
    assert_eq!(
        rejected(vec![endpoint(0, &[0]), same_name]),
        "endpoint name `ep-0` is used twice; endpoint names must be unique"
    );
    assert_eq!(
        rejected(vec![endpoint(0, &[3, 3])]),
        "endpoint `ep-0`: check 3 (`check-3`) is listed twice; list each check once"
    );
    let mut same_key = endpoint(0, &[1, 2]);
    same_key.checks[1].key = "check-1".into();
    assert!(matches!(
        Verdicts::new(vec![same_key], 0),
        Err(SpecError::DuplicateCheck { check: 2, .. })
    ));
    let mut no_quorum = endpoint(0, &[0]);
    no_quorum.quorum = 0;
    assert_eq!(
        rejected(vec![no_quorum]),
        "endpoint `ep-0`: quorum = 0; it must be at least 1 location"
    );
}

#[test]
fn zero_thresholds_and_damping_values_are_rejected() {
    for (field, set) in [
        ("rise", (|p: &mut CheckParams| p.rise = 0) as fn(&mut CheckParams)),
        ("fall", |p| p.fall = 0),
        ("interval", |p| p.interval = 0),
    ] {
        let mut spec = endpoint(0, &[0]);
        set(&mut spec.checks[0].params);
        assert_eq!(
            rejected(vec![spec]),
            format!("endpoint `ep-0`: check `check-0` has {field} = 0; it must be at least 1")
        );
    }
    let good = Damping {
        max_changes: 1,
        window: 1,
        hold: 1,
    };
    for (field, damping) in [
        ("max_changes", Damping { max_changes: 0, ..good }),
        ("window", Damping { window: 0, ..good }),
        ("hold", Damping { hold: 0, ..good }),
    ] {
        let mut spec = endpoint(0, &[0]);
        spec.damping = Some(damping);
        assert_eq!(
            rejected(vec![spec]),
            format!("endpoint `ep-0`: damping {field} = 0; it must be at least 1")
        );
    }
}

// ---- reading -------------------------------------------------------------

#[test]
fn iter_lists_endpoints_in_specification_order() {
    let v = Verdicts::new(vec![endpoint(5, &[0]), endpoint(2, &[0])], 0).unwrap();
    let ids: Vec<_> = v.iter().map(|(s, _)| s.id).collect();
    assert_eq!(ids, [EndpointId(5), EndpointId(2)]);
    assert_eq!(v.spec(EndpointId(2)).unwrap().name, "ep-2");
    assert!(!v.is_up(EndpointId(3)));
}

#[test]
fn tick_reports_changes_in_specification_order() {
    let mut v = Verdicts::new(vec![endpoint(5, &[0]), endpoint(2, &[0])], 0).unwrap();
    let ids: Vec<_> = v.tick(3 * SECOND).iter().map(|c| c.endpoint).collect();
    assert_eq!(ids, [EndpointId(5), EndpointId(2)]);
}

#[test]
fn the_same_inputs_give_the_same_verdicts() {
    let run = || {
        let mut v = Verdicts::new(vec![endpoint(0, &[0, 1])], 0).unwrap();
        let mut log = Vec::new();
        for t in 1..40u64 {
            let o = outcome(0, (t % 2) as u32, (t % 3) as u16, t % 5 != 0 && t % 7 != 0, t * 300);
            log.extend(v.observe(&o));
            log.extend(v.tick(t * 300 + 150));
        }
        (log, v.verdict(EndpointId(0)).cloned())
    };
    assert_eq!(run(), run());
}

#[test]
fn ticking_only_at_deadlines_misses_nothing() {
    // Two engines see the same outcomes; one ticks every 50 ms, the other
    // only when its next deadline has come. Both must report the same.
    let specs = || {
        let mut two = endpoint(1, &[0, 1]);
        two.combine = Combine::Any;
        two.quorum = 2;
        let mut damped = endpoint(2, &[0]);
        damped.damping = Some(Damping {
            max_changes: 1,
            window: 5 * SECOND,
            hold: 2 * SECOND,
        });
        vec![endpoint(0, &[0]), two, damped]
    };
    let mut every = Verdicts::new(specs(), 0).unwrap();
    let mut lazy = Verdicts::new(specs(), 0).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for step in 0..1200u64 {
        let t = step * 50;
        // Bursts of outcomes with silences, from three locations.
        if step % 20 == 0 && (step / 100) % 3 != 2 {
            for e in 0..3u32 {
                let ok = (step / 60 + u64::from(e)) % 2 == 0;
                let o = outcome(e, (step / 20 % 2) as u32, (step / 40 % 3) as u16, ok, t);
                a.extend(every.observe(&o));
                b.extend(lazy.observe(&o));
            }
        }
        a.extend(every.tick(t));
        if lazy.next_deadline().is_some_and(|d| d <= t) {
            b.extend(lazy.tick(t));
        }
    }
    assert!(a.len() > 10, "the scenario exercises changes: {}", a.len());
    assert_eq!(a, b);
}

// ---- restored from the store ---------------------------------------------

fn kept(check: u32, up: bool) -> KeptMachine {
    KeptMachine {
        check: CheckId(check),
        location: LocationId(0),
        up,
    }
}

#[test]
fn a_restored_down_machine_holds_the_endpoint_down_until_rise_successes() {
    let mut v = one(endpoint(0, &[0]));
    let change = v.restore(EndpointId(0), &[kept(0, false)], 0).unwrap();
    assert!(change.old && !change.new);
    assert_eq!(verdict(&v).reason, VerdictReason::Checks);
    assert!(!verdict(&v).pending, "a kept failure is not a wait for results");
    assert!(feed(&mut v, 0, 0, 100, &[true]).is_empty(), "one success of rise 2");
    assert!(feed(&mut v, 0, 0, 1100, &[true])[0].new);
}

#[test]
fn a_restored_up_machine_needs_fall_failures_and_goes_stale_without_results() {
    let mut spec = endpoint(0, &[0]);
    spec.initial_up = false;
    let mut v = one(spec);
    assert!(v.restore(EndpointId(0), &[kept(0, true)], 0).unwrap().new);
    assert!(feed(&mut v, 0, 0, 100, &[false, false]).is_empty());
    assert!(!feed(&mut v, 0, 0, 2100, &[false])[0].new);
    let mut quiet = one(endpoint(0, &[0]));
    quiet.restore(EndpointId(0), &[kept(0, true)], 0);
    assert!(
        quiet.tick(3 * SECOND)[0].stale,
        "kept evidence ages like observed evidence"
    );
}

#[test]
fn machines_of_unknown_checks_and_of_locations_that_reported_are_ignored() {
    let mut v = one(endpoint(0, &[0]));
    assert!(v.restore(EndpointId(0), &[kept(7, false)], 0).is_none());
    feed(&mut v, 0, 0, 0, &[true]);
    assert!(v.restore(EndpointId(0), &[kept(0, false)], 10).is_none());
    assert!(verdict(&v).up);
    assert!(v.restore(EndpointId(9), &[kept(0, false)], 10).is_none());
}
