//! The breaker and the startup grace, driven with virtual time.

use super::*;
use crate::decide::verdict::{CheckParams, CheckSpec, Combine, EndpointSpec, Override};
use crate::decide::{CheckId, LocationId, Outcome};

const SECOND: Millis = 1000;
const WINDOW: Millis = 10 * SECOND;

/// Endpoint `id` in failure group `group`, checked every second with
/// rise = fall = 1.
fn endpoint(id: u32, group: u32) -> EndpointSpec {
    EndpointSpec {
        id: EndpointId(id),
        name: format!("ep-{id}"),
        checks: vec![CheckSpec {
            id: CheckId(0),
            key: "check".into(),
            params: CheckParams {
                rise: 1,
                fall: 1,
                interval: SECOND,
            },
        }],
        combine: Combine::All,
        quorum: 1,
        initial_up: true,
        damping: None,
        group,
    }
}

/// One endpoint per group, `n` groups.
fn unrelated(n: u32) -> Verdicts {
    Verdicts::new((0..n).map(|i| endpoint(i, i)).collect(), 0).unwrap()
}

fn breaker() -> GuardSpec {
    GuardSpec {
        breaker: Some(BreakerSpec {
            share: Share::from_millionths(500_000).unwrap(),
            min_groups: 4,
            window: WINDOW,
        }),
        startup_grace: 0,
    }
}

fn report(v: &mut Verdicts, ids: &[u32], ok: bool, at: Millis) {
    for &id in ids {
        v.observe(&Outcome {
            endpoint: EndpointId(id),
            check: CheckId(0),
            location: LocationId(0),
            ok,
            at,
        });
    }
}

fn ids(list: &[u32]) -> Vec<EndpointId> {
    list.iter().map(|&i| EndpointId(i)).collect()
}

fn up(g: &Guard, v: &Verdicts, id: u32) -> bool {
    g.health(v, EndpointId(id), v.now()).up
}

// ---- the breaker ---------------------------------------------------------

#[test]
fn three_of_four_unrelated_failing_at_once_trip_the_breaker_and_are_held() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2, 3], true, SECOND);
    assert_eq!(g.update(&v, SECOND), None);
    report(&mut v, &[0, 1, 2], false, 20 * SECOND);
    let change = g.update(&v, 20 * SECOND).expect("tripped");
    assert!(change.tripped && !change.by_operator);
    assert_eq!((change.groups_down, change.groups), (3, 4));
    assert_eq!(change.endpoints, ids(&[0, 1, 2]));
    assert!(g.tripped().is_some());
    // Verdicts say down; answer sets see them up.
    assert!(!v.is_up(EndpointId(0)));
    assert!((0..4).all(|i| up(&g, &v, i)));
    assert_eq!(g.update(&v, 21 * SECOND), None, "reported once");
}

#[test]
fn half_is_not_more_than_half() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1], false, SECOND);
    assert_eq!(g.update(&v, SECOND), None);
    assert!(!up(&g, &v, 0));
}

#[test]
fn fewer_groups_than_the_minimum_never_trip() {
    let mut v = unrelated(3);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert_eq!(g.update(&v, SECOND), None);
    assert!(!up(&g, &v, 0));
}

#[test]
fn one_groups_endpoints_count_once_so_a_real_outage_fails_over() {
    // Group 0 has three endpoints (one record), groups 1..=3 one each.
    let specs = vec![
        endpoint(0, 0),
        endpoint(1, 0),
        endpoint(2, 0),
        endpoint(3, 1),
        endpoint(4, 2),
        endpoint(5, 3),
    ];
    let mut v = Verdicts::new(specs, 0).unwrap();
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert_eq!(g.update(&v, SECOND), None, "1 of 4 groups");
    assert!(!up(&g, &v, 0) && !up(&g, &v, 1) && !up(&g, &v, 2));
}

#[test]
fn failures_spread_over_more_than_the_window_do_not_trip() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    for (i, at) in [(0, 1), (1, 12), (2, 23)] {
        report(&mut v, &[i], false, at * SECOND);
        assert_eq!(g.update(&v, at * SECOND), None, "endpoint {i}");
    }
    assert!(!up(&g, &v, 0) && !up(&g, &v, 1) && !up(&g, &v, 2));
}

#[test]
fn failures_within_the_window_add_up() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0], false, SECOND);
    report(&mut v, &[1], false, 5 * SECOND);
    assert_eq!(g.update(&v, 5 * SECOND), None);
    assert!(!up(&g, &v, 0), "the first failures move traffic");
    report(&mut v, &[2], false, 10 * SECOND);
    assert!(g.update(&v, 10 * SECOND).is_some_and(|c| c.tripped));
    // ... and are held once it trips: records return to their answers.
    assert!(up(&g, &v, 0) && up(&g, &v, 1) && up(&g, &v, 2));
}

#[test]
fn an_endpoint_down_before_the_window_stays_down() {
    let mut v = unrelated(5);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[4], false, SECOND);
    report(&mut v, &[0, 1, 2], false, 30 * SECOND);
    assert!(g.update(&v, 30 * SECOND).is_some_and(|c| c.tripped));
    assert!(!up(&g, &v, 4));
    assert_eq!(g.held(&v), ids(&[0, 1, 2]));
}

#[test]
fn endpoints_failing_while_tripped_are_held_too() {
    let mut v = unrelated(5);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert!(g.update(&v, SECOND).is_some());
    report(&mut v, &[3], false, 60 * SECOND);
    assert_eq!(g.update(&v, 60 * SECOND), None);
    assert!(up(&g, &v, 3));
}

#[test]
fn the_breaker_closes_when_the_checks_recover() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert!(g.update(&v, SECOND).is_some());
    report(&mut v, &[0, 1, 2], true, 30 * SECOND);
    let change = g.update(&v, 30 * SECOND).expect("closed");
    assert!(!change.tripped);
    assert!(change.endpoints.is_empty());
    assert!(g.tripped().is_none());
}

#[test]
fn when_few_enough_stay_down_the_breaker_closes_and_they_move_traffic() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert!(g.update(&v, SECOND).is_some());
    report(&mut v, &[1, 2], true, 30 * SECOND);
    let change = g.update(&v, 30 * SECOND).expect("closed");
    assert_eq!((change.groups_down, change.endpoints), (1, ids(&[0])));
    assert!(!up(&g, &v, 0));
}

#[test]
fn an_operator_release_accepts_the_failures() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert!(g.update(&v, SECOND).is_some());
    let change = g.release(&v, 2 * SECOND).expect("closed");
    assert!(!change.tripped && change.by_operator);
    assert_eq!(change.endpoints, ids(&[0, 1, 2]));
    assert!(!up(&g, &v, 0));
    // The accepted failures do not trip it again; new ones may.
    assert_eq!(g.update(&v, 3 * SECOND), None);
    assert_eq!(g.release(&v, 4 * SECOND), None, "nothing to release");
}

#[test]
fn drained_endpoints_are_not_failures() {
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    for i in 0..3 {
        v.set_override(EndpointId(i), Override::Drain, SECOND).unwrap();
    }
    assert_eq!(g.update(&v, SECOND), None);
    assert!(!up(&g, &v, 0));
}

#[test]
fn endpoints_without_checks_are_not_counted() {
    let mut specs: Vec<EndpointSpec> = (0..4).map(|i| endpoint(i, i)).collect();
    for i in 4..8 {
        let mut unchecked = endpoint(i, i);
        unchecked.checks.clear();
        specs.push(unchecked);
    }
    let mut v = Verdicts::new(specs, 0).unwrap();
    let mut g = Guard::new(breaker(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert!(g.update(&v, SECOND).is_some_and(|c| c.groups == 4));
}

#[test]
fn a_breaker_turned_off_never_trips_and_closes_on_reload() {
    let mut v = unrelated(4);
    let mut off = Guard::new(GuardSpec::default(), 0);
    report(&mut v, &[0, 1, 2], false, SECOND);
    assert_eq!(off.update(&v, SECOND), None);
    assert!(!up(&off, &v, 0));
    let mut g = Guard::new(breaker(), 0);
    assert!(g.update(&v, SECOND).is_some());
    g.reconfigure(GuardSpec::default());
    assert!(g.update(&v, 2 * SECOND).is_some_and(|c| !c.tripped));
    assert!(!up(&g, &v, 0));
}

// ---- the startup grace -----------------------------------------------------

fn starting_down(grace: Millis) -> (Verdicts, Guard) {
    let mut down = endpoint(0, 0);
    down.initial_up = false;
    let v = Verdicts::new(vec![down, endpoint(1, 1)], 0).unwrap();
    let g = Guard::new(
        GuardSpec {
            breaker: None,
            startup_grace: grace,
        },
        0,
    );
    (v, g)
}

#[test]
fn an_endpoint_waiting_for_its_first_results_is_pending_within_the_grace() {
    let (v, g) = starting_down(30 * SECOND);
    assert_eq!(
        g.health(&v, EndpointId(0), 29 * SECOND),
        EndpointHealth {
            up: false,
            pending_until: Some(30 * SECOND)
        }
    );
    assert_eq!(g.health(&v, EndpointId(0), 30 * SECOND).pending_until, None);
    assert_eq!(g.health(&v, EndpointId(1), 0).pending_until, None, "up, not waiting");
    assert_eq!(g.grace_until(), 30 * SECOND);
}

#[test]
fn a_failed_check_ends_the_wait() {
    let (mut v, g) = starting_down(30 * SECOND);
    let change = v.observe(&Outcome {
        endpoint: EndpointId(0),
        check: CheckId(0),
        location: LocationId(0),
        ok: false,
        at: SECOND,
    });
    // The verdict stays down but is now the checks': a change answer sets
    // must hear of.
    assert!(change.is_some_and(|c| !c.flipped()));
    assert_eq!(g.health(&v, EndpointId(0), 2 * SECOND).pending_until, None);
}

#[test]
fn without_a_grace_nothing_is_pending() {
    let (v, g) = starting_down(0);
    assert_eq!(g.health(&v, EndpointId(0), 0).pending_until, None);
}

#[test]
fn a_reload_keeps_the_start_of_the_grace() {
    let (v, mut g) = starting_down(30 * SECOND);
    g.reconfigure(GuardSpec {
        breaker: None,
        startup_grace: 10 * SECOND,
    });
    assert_eq!(g.grace_until(), 10 * SECOND);
    assert_eq!(g.health(&v, EndpointId(0), 11 * SECOND).pending_until, None);
}

#[test]
fn an_unknown_endpoint_is_down() {
    let (v, g) = starting_down(30 * SECOND);
    assert_eq!(g.health(&v, EndpointId(9), 0), EndpointHealth::default());
}

#[test]
fn verdicts_restored_down_and_accepted_are_no_burst_but_new_failures_are() {
    use crate::decide::verdict::KeptMachine;
    let mut v = unrelated(4);
    let mut g = Guard::new(breaker(), 0);
    let down = |check| KeptMachine {
        check,
        location: LocationId(0),
        up: false,
    };
    for id in 0..3 {
        v.restore(EndpointId(id), &[down(CheckId(0))], 0);
    }
    assert_eq!(g.release(&v, 0), None, "nothing was held");
    assert_eq!(g.update(&v, 100), None, "failures from before the restart are no burst");
    assert!(!up(&g, &v, 0), "and not held up");
    // The three stay down (the checks agree); the fourth joins them: one of
    // four groups went down now, no burst either.
    report(&mut v, &[0, 1, 2, 3], false, SECOND);
    assert_eq!(g.update(&v, SECOND), None);
}
