//! Every rule of [`compute`], driven with virtual time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const HOLD: Millis = 30_000;

fn ip(last: u8) -> Address {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn ep(id: u32, priority: u8, weight: u32, addresses: &[u8]) -> RecordEndpoint {
    RecordEndpoint {
        endpoint: EndpointId(id),
        requires: Vec::new(),
        addresses: addresses.iter().map(|&a| ip(a)).collect(),
        priority,
        weight,
    }
}

/// Tier 1: endpoints 1 and 2; tier 2: endpoint 3. Address = 10 × id.
fn record(policy: Policy, failback: Failback, all_down: AllDown) -> RecordSpec {
    RecordSpec {
        id: RecordId(4),
        name: "www.example.test".into(),
        ttl: 30,
        ttl_degraded: Some(10),
        policy,
        max_answers: 8,
        failback,
        all_down,
        min_healthy: MinHealthy::default(),
        backup_share: Share::NONE,
        endpoints: vec![ep(1, 1, 1, &[10]), ep(2, 1, 1, &[20]), ep(3, 2, 1, &[30])],
    }
}

/// A record of `ttl` with one tier of `endpoints`.
pub(super) fn spec_with(ttl: u32, ttl_degraded: Option<u32>, endpoints: &[u32]) -> RecordSpec {
    RecordSpec {
        ttl,
        ttl_degraded,
        endpoints: endpoints.iter().map(|&e| ep(e, 1, 1, &[e as u8 + 1])).collect(),
        ..plain()
    }
}

fn plain() -> RecordSpec {
    record(Policy::All, Failback::Auto { hold: HOLD }, AllDown::All)
}

/// The answer set with exactly the endpoints in `up` up.
fn run(spec: &RecordSpec, state: &mut RecordState, up: &[u32], now: Millis) -> AnswerSet {
    compute(spec, state, |id| up.contains(&id.0), now)
}

fn addresses(set: &AnswerSet) -> Vec<Address> {
    match &set.answer {
        Answer::Addresses { candidates, .. } => candidates.iter().map(|c| c.address).collect(),
        other => panic!("not addresses: {other:?}"),
    }
}

fn selection(set: &AnswerSet) -> Selection {
    match &set.answer {
        Answer::Addresses { selection, .. } => *selection,
        other => panic!("not addresses: {other:?}"),
    }
}

// ---- tiers and ttl -------------------------------------------------------

#[test]
fn all_healthy_answers_the_best_tier_with_the_normal_ttl() {
    let set = run(&plain(), &mut RecordState::default(), &[1, 2, 3], 0);
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
    assert_eq!(selection(&set), Selection::Fixed);
    assert_eq!((set.record, set.ttl, set.tier), (RecordId(4), 30, Some(1)));
    assert_eq!(set.cause.rule, Rule::BestHealthy);
    assert!(!set.cause.failed_over && !set.cause.degraded);
    assert_eq!(set.next_deadline(), None);
}

#[test]
fn the_cause_lists_every_endpoint_verdict() {
    let set = run(&plain(), &mut RecordState::default(), &[1, 3], 0);
    let verdicts: Vec<(u32, u8, bool)> = set
        .cause
        .verdicts
        .iter()
        .map(|v| (v.endpoint.0, v.priority, v.up))
        .collect();
    assert_eq!(verdicts, [(1, 1, true), (2, 1, false), (3, 2, true)]);
}

#[test]
fn a_down_endpoint_in_the_answering_tier_degrades_the_ttl() {
    let set = run(&plain(), &mut RecordState::default(), &[1, 3], 0);
    assert_eq!(addresses(&set), [ip(10)]);
    assert_eq!((set.ttl, set.tier), (10, Some(1)));
    assert!(set.cause.degraded && !set.cause.failed_over);
}

#[test]
fn a_down_endpoint_in_another_tier_does_not_degrade() {
    let set = run(&plain(), &mut RecordState::default(), &[1, 2], 0);
    assert_eq!(set.ttl, 30);
    assert!(!set.cause.degraded);
}

#[test]
fn failover_to_the_next_tier_uses_the_degraded_ttl() {
    let mut state = RecordState::default();
    run(&plain(), &mut state, &[1, 2, 3], 0);
    let set = run(&plain(), &mut state, &[3], 1000);
    assert_eq!(addresses(&set), [ip(30)]);
    assert_eq!((set.ttl, set.tier, state.tier), (10, Some(2), Some(2)));
    assert_eq!(set.cause.rule, Rule::BestHealthy);
    assert!(set.cause.failed_over && !set.cause.degraded);
}

#[test]
fn without_ttl_degraded_the_ttl_never_changes() {
    let mut spec = plain();
    spec.ttl_degraded = None;
    assert_eq!(run(&spec, &mut RecordState::default(), &[3], 0).ttl, 30);
    assert_eq!(run(&spec, &mut RecordState::default(), &[], 0).ttl, 30);
}

#[test]
fn the_first_answer_comes_from_the_best_healthy_tier() {
    let mut state = RecordState::default();
    let set = run(&plain(), &mut state, &[3], 0);
    assert_eq!((set.tier, set.cause.rule), (Some(2), Rule::BestHealthy));
}

// ---- failback ------------------------------------------------------------

#[test]
fn auto_failback_waits_for_the_better_tier_to_be_healthy_for_the_hold() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    let pending = run(&spec, &mut state, &[1, 3], 5000);
    assert_eq!(addresses(&pending), [ip(30)]);
    let at = 5000 + HOLD;
    assert_eq!(pending.cause.rule, Rule::FailbackPending { tier: 1, at });
    assert_eq!((pending.tier, pending.ttl), (Some(2), 10));
    assert_eq!(pending.next_deadline(), Some(at));
    assert_eq!(run(&spec, &mut state, &[1, 3], at - 1), pending);
    let back = run(&spec, &mut state, &[1, 3], at);
    assert_eq!(addresses(&back), [ip(10)]);
    assert_eq!((back.tier, back.cause.rule), (Some(1), Rule::BestHealthy));
    assert_eq!(back.next_deadline(), None);
}

#[test]
fn auto_failback_hold_restarts_when_the_better_tier_fails_again() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 3], 5000);
    run(&spec, &mut state, &[3], 6000);
    let pending = run(&spec, &mut state, &[2, 3], 7000);
    assert_eq!(pending.next_deadline(), Some(7000 + HOLD));
    assert_eq!(run(&spec, &mut state, &[2, 3], 5000 + HOLD).tier, Some(2));
}

#[test]
fn a_better_tier_stays_healthy_while_its_endpoints_take_turns() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 3], 5000);
    run(&spec, &mut state, &[2, 3], 6000);
    assert_eq!(run(&spec, &mut state, &[2, 3], 5000 + HOLD).tier, Some(1));
}

#[test]
fn when_the_current_tier_fails_during_the_hold_the_better_tier_answers_at_once() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 3], 5000);
    let set = run(&spec, &mut state, &[1], 6000);
    assert_eq!((set.tier, set.cause.rule), (Some(1), Rule::BestHealthy));
}

#[test]
fn manual_failback_stays_on_the_current_tier() {
    let spec = record(Policy::All, Failback::Manual, AllDown::All);
    let mut state = RecordState::default();
    run(&spec, &mut state, &[1, 2, 3], 0);
    run(&spec, &mut state, &[3], 1000);
    let sticky = run(&spec, &mut state, &[1, 2, 3], 2000);
    assert_eq!(addresses(&sticky), [ip(30)]);
    assert_eq!(sticky.cause.rule, Rule::ManualSticky { tier: 1 });
    assert_eq!((sticky.ttl, sticky.next_deadline()), (10, None));
    assert_eq!(run(&spec, &mut state, &[1, 2, 3], 1 << 40).tier, Some(2));
}

#[test]
fn an_operator_failback_returns_to_the_best_healthy_tier() {
    let spec = record(Policy::All, Failback::Manual, AllDown::All);
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 2, 3], 1000);
    state.failback();
    let set = run(&spec, &mut state, &[1, 2, 3], 2000);
    assert_eq!((set.tier, set.cause.rule, set.ttl), (Some(1), Rule::BestHealthy, 30));
}

#[test]
fn an_operator_failback_with_the_better_tier_down_changes_nothing() {
    let spec = record(Policy::All, Failback::Manual, AllDown::All);
    let mut state = RecordState::default();
    let before = run(&spec, &mut state, &[3], 0);
    state.failback();
    assert_eq!(run(&spec, &mut state, &[3], 1000), before);
}

#[test]
fn an_operator_failback_skips_an_auto_hold() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 3], 1000);
    state.failback();
    assert_eq!(run(&spec, &mut state, &[1, 3], 1001).tier, Some(1));
}

#[test]
fn manual_failback_moves_when_the_current_tier_fails() {
    let spec = record(Policy::All, Failback::Manual, AllDown::All);
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 3], 1000);
    let set = run(&spec, &mut state, &[1], 2000);
    assert_eq!((set.tier, set.cause.rule), (Some(1), Rule::BestHealthy));
}

// ---- policies within a tier ----------------------------------------------

#[test]
fn all_answers_at_most_max_answers() {
    let mut spec = plain();
    spec.max_answers = 1;
    let set = run(&spec, &mut RecordState::default(), &[1, 2, 3], 0);
    assert_eq!(addresses(&set), [ip(10)]);
}

#[test]
fn first_answers_the_first_healthy_endpoints_addresses_only() {
    let mut spec = record(Policy::First, Failback::Manual, AllDown::All);
    spec.endpoints[1].addresses = vec![ip(20), ip(21)];
    let set = run(&spec, &mut RecordState::default(), &[1, 2, 3], 0);
    assert_eq!((addresses(&set), selection(&set)), (vec![ip(10)], Selection::Fixed));
    let set = run(&spec, &mut RecordState::default(), &[2, 3], 0);
    assert_eq!(addresses(&set), [ip(20), ip(21)]);
    spec.max_answers = 1;
    assert_eq!(addresses(&run(&spec, &mut RecordState::default(), &[2], 0)), [ip(20)]);
}

#[test]
fn round_robin_rotates_the_healthy_endpoints() {
    let mut spec = record(Policy::RoundRobin, Failback::Manual, AllDown::All);
    spec.max_answers = 1;
    let set = run(&spec, &mut RecordState::default(), &[1, 2, 3], 0);
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
    assert_eq!(selection(&set), Selection::RoundRobin { take: 1 });
    assert_eq!(set.variants(64, 0), [vec![ip(10)], vec![ip(20)]]);
}

#[test]
fn weighted_carries_each_endpoints_weight_on_each_of_its_addresses() {
    let mut spec = record(Policy::Weighted, Failback::Manual, AllDown::All);
    spec.max_answers = 1;
    spec.endpoints[0].weight = 3;
    spec.endpoints[1] = ep(2, 1, 1, &[20, 21]);
    let set = run(&spec, &mut RecordState::default(), &[1, 2, 3], 0);
    let Answer::Addresses {
        candidates, selection, ..
    } = &set.answer
    else {
        panic!()
    };
    let weights: Vec<(Address, u32)> = candidates.iter().map(|c| (c.address, c.weight)).collect();
    assert_eq!(weights, [(ip(10), 3), (ip(20), 1), (ip(21), 1)]);
    assert_eq!(*selection, Selection::Weighted { take: 1 });
    let variants = set.variants(64, 0);
    let leading = variants.iter().filter(|v| v[0] == ip(10)).count();
    assert_eq!(leading, 38); // 64 × 3/5 = 38.4
}

#[test]
fn an_address_shared_by_two_endpoints_is_answered_once_with_both_weights() {
    let mut spec = record(Policy::Weighted, Failback::Manual, AllDown::All);
    spec.endpoints[1].addresses = vec![ip(10)];
    spec.endpoints[1].weight = 4;
    let set = run(&spec, &mut RecordState::default(), &[1, 2], 0);
    let Answer::Addresses { candidates, .. } = &set.answer else {
        panic!()
    };
    assert_eq!(
        candidates,
        &[Candidate {
            address: ip(10),
            weight: 5
        }]
    );
}

// ---- all down ------------------------------------------------------------

fn all_down(policy: AllDown) -> (AnswerSet, RecordState) {
    let mut spec = record(Policy::All, Failback::Auto { hold: HOLD }, policy);
    // Tier 2 first in record order: fail-open answers go best tier first.
    spec.endpoints.rotate_right(1);
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    let set = run(&spec, &mut state, &[], 1000);
    assert_eq!((set.tier, set.ttl), (None, 10));
    assert!(set.cause.failed_over && set.cause.degraded);
    (set, state)
}

#[test]
fn all_down_all_fails_open_with_every_endpoint_best_tier_first() {
    let (set, state) = all_down(AllDown::All);
    assert_eq!(addresses(&set), [ip(10), ip(20), ip(30)]);
    assert_eq!(set.cause.rule, Rule::AllDown(AllDownRule::All));
    assert_eq!(state.tier, None);
}

#[test]
fn all_down_all_follows_the_policy() {
    let mut spec = record(Policy::First, Failback::Manual, AllDown::All);
    spec.endpoints.rotate_right(1);
    let set = run(&spec, &mut RecordState::default(), &[], 0);
    assert_eq!(addresses(&set), [ip(10)]);
    spec.policy = Policy::All;
    spec.max_answers = 2;
    let set = run(&spec, &mut RecordState::default(), &[], 0);
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
}

#[test]
fn all_down_last_keeps_the_last_healthy_answer() {
    let (set, state) = all_down(AllDown::Last);
    assert_eq!(addresses(&set), [ip(30)]);
    assert_eq!(set.cause.rule, Rule::AllDown(AllDownRule::Last));
    assert_eq!(
        state.last_healthy.as_deref(),
        Some(
            &[Candidate {
                address: ip(30),
                weight: 1
            }][..]
        )
    );
}

#[test]
fn all_down_last_when_never_healthy_answers_the_best_tier() {
    let spec = record(Policy::All, Failback::Manual, AllDown::Last);
    let set = run(&spec, &mut RecordState::default(), &[], 0);
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
    assert_eq!(set.cause.rule, Rule::AllDown(AllDownRule::LastNeverHealthy));
}

#[test]
fn all_down_backup_answers_the_fixed_addresses() {
    let (set, _) = all_down(AllDown::Backup(vec![ip(99), ip(98)]));
    assert_eq!(addresses(&set), [ip(99), ip(98)]);
    assert_eq!(selection(&set), Selection::Fixed);
    assert_eq!(set.cause.rule, Rule::AllDown(AllDownRule::Backup));
}

#[test]
fn all_down_none_answers_nodata_and_servfail_servfail() {
    let (set, _) = all_down(AllDown::None);
    assert_eq!(
        (set.answer, set.cause.rule),
        (Answer::NoData, Rule::AllDown(AllDownRule::None))
    );
    let (set, _) = all_down(AllDown::Servfail);
    assert_eq!(
        (set.answer.clone(), set.cause.rule),
        (Answer::ServFail, Rule::AllDown(AllDownRule::Servfail))
    );
    assert!(set.variants(64, 0).is_empty());
}

#[test]
fn recovery_from_all_down_answers_the_first_healthy_tier_at_once() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[], 0);
    assert_eq!(run(&spec, &mut state, &[3], 1000).tier, Some(2));
    let pending = run(&spec, &mut state, &[1, 3], 2000);
    assert_eq!(
        pending.cause.rule,
        Rule::FailbackPending {
            tier: 1,
            at: 2000 + HOLD
        }
    );
}

// ---- comparing, persisting, validating ----------------------------------

#[test]
fn same_served_ignores_the_cause() {
    let spec = plain();
    let a = run(&spec, &mut RecordState::default(), &[1, 2, 3], 0);
    let b = run(&spec, &mut RecordState::default(), &[1, 2], 0);
    assert_ne!(a, b);
    assert!(a.same_served(&b));
    let c = run(&spec, &mut RecordState::default(), &[1], 0);
    assert!(!a.same_served(&c));
}

#[test]
fn the_same_inputs_give_the_same_answer_sets() {
    let go = || {
        let spec = plain();
        let mut state = RecordState::default();
        let ups: [&[u32]; 5] = [&[1, 2, 3], &[3], &[1, 3], &[], &[2]];
        (0..20u64)
            .map(|t| run(&spec, &mut state, ups[t as usize % 5], t * 7000))
            .collect::<Vec<_>>()
    };
    assert_eq!(go(), go());
}

#[test]
fn record_state_survives_serialisation() {
    let spec = plain();
    let mut state = RecordState::default();
    run(&spec, &mut state, &[3], 0);
    run(&spec, &mut state, &[1, 3], 5000);
    let text = toml::to_string(&state).unwrap();
    let back: RecordState = toml::from_str(&text).unwrap();
    assert_eq!(back, state);
    let mut restored = back;
    assert_eq!(
        run(&spec, &mut restored, &[1, 3], 6000),
        run(&spec, &mut state, &[1, 3], 6000)
    );
}

#[test]
fn a_valid_record_validates() {
    assert_eq!(plain().validate(), Ok(()));
    let mut v6 = plain();
    for e in &mut v6.endpoints {
        e.addresses = vec![IpAddr::V6(Ipv6Addr::LOCALHOST)];
    }
    assert_eq!(v6.validate(), Ok(()));
}

#[test]
fn invalid_records_are_rejected_with_what_would_be_right() {
    let check = |change: fn(&mut RecordSpec), message: &str| {
        let mut spec = plain();
        change(&mut spec);
        assert_eq!(spec.validate().unwrap_err().to_string(), message);
    };
    check(
        |s| s.endpoints.clear(),
        "record `www.example.test` has no endpoints; give it at least one",
    );
    check(
        |s| s.max_answers = 0,
        "record `www.example.test`: max_answers = 0; it must be at least 1",
    );
    check(
        |s| s.endpoints[1].addresses.clear(),
        "record `www.example.test`: endpoint 2 has no addresses; give it at least one",
    );
    check(
        |s| s.endpoints[2].endpoint = EndpointId(1),
        "record `www.example.test`: endpoint 1 is listed twice; list it once",
    );
    check(
        |s| s.all_down = AllDown::Backup(vec![]),
        "record `www.example.test`: all_down = backup needs at least one backup address",
    );
    check(
        |s| s.endpoints[2].addresses.push(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "record `www.example.test`: ::1 is not of the same family as the record's first \
         address; A and AAAA are separate records",
    );
    check(
        |s| s.all_down = AllDown::Backup(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]),
        "record `www.example.test`: ::1 is not of the same family as the record's first \
         address; A and AAAA are separate records",
    );
    check(
        |s| s.min_healthy = MinHealthy::Percent(0),
        "record `www.example.test`: min_healthy must be a count of at least 1 or a percentage from 1 to 100",
    );
    check(
        |s| s.min_healthy = MinHealthy::Count(0),
        "record `www.example.test`: min_healthy must be a count of at least 1 or a percentage from 1 to 100",
    );
    check(
        |s| {
            s.policy = Policy::ConsistentHash;
            s.endpoints[0].addresses = (0..4096).map(|i| ip(i as u8)).collect();
        },
        "record `www.example.test`: 4098 addresses are more than consistent_hash's 4096 buckets can spread",
    );
}

#[test]
fn an_invalid_record_does_not_panic() {
    let mut spec = plain();
    spec.endpoints.clear();
    spec.max_answers = 0;
    let set = run(&spec, &mut RecordState::default(), &[], 0);
    assert_eq!(addresses(&set), Vec::<Address>::new());
    spec.all_down = AllDown::Last;
    run(&spec, &mut RecordState::default(), &[], 0).variants(0, 0);
}

// ---- min_healthy ---------------------------------------------------------

/// Tier 1: endpoints 1..=4; tier 2: endpoint 5. Address = 10 × id.
fn pool(min_healthy: MinHealthy) -> RecordSpec {
    let mut spec = plain();
    spec.endpoints = (1..=4).map(|i| ep(i, 1, 1, &[10 * i as u8])).collect();
    spec.endpoints.push(ep(5, 2, 1, &[50]));
    spec.min_healthy = min_healthy;
    spec
}

#[test]
fn min_healthy_required_counts_and_percentages() {
    assert_eq!(MinHealthy::Count(1).required(4), 1);
    assert_eq!(MinHealthy::Count(3).required(4), 3);
    assert_eq!(MinHealthy::Count(3).required(2), 2, "at most the tier");
    assert_eq!(MinHealthy::Percent(50).required(4), 2);
    assert_eq!(MinHealthy::Percent(50).required(3), 2, "rounded up");
    assert_eq!(MinHealthy::Percent(1).required(4), 1);
    assert_eq!(MinHealthy::Percent(100).required(4), 4);
}

#[test]
fn a_tier_below_min_healthy_counts_as_down() {
    let spec = pool(MinHealthy::Percent(50));
    let set = run(&spec, &mut RecordState::default(), &[3, 4, 5], 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(30), ip(40)], Some(1)));
    assert!(set.cause.degraded);
    let set = run(&spec, &mut RecordState::default(), &[4, 5], 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(50)], Some(2)));
    assert_eq!(set.cause.rule, Rule::BestHealthy);
    assert!(set.cause.failed_over);
}

#[test]
fn a_count_beyond_a_small_tier_needs_all_of_it() {
    let spec = pool(MinHealthy::Count(2));
    let set = run(&spec, &mut RecordState::default(), &[1, 5], 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(50)], Some(2)));
}

#[test]
fn no_tier_meeting_min_healthy_is_all_down() {
    let spec = pool(MinHealthy::Count(2));
    let set = run(&spec, &mut RecordState::default(), &[1], 0);
    assert_eq!(set.cause.rule, Rule::AllDown(AllDownRule::All));
}

#[test]
fn failback_waits_for_min_healthy_too() {
    let spec = pool(MinHealthy::Percent(50));
    let mut state = RecordState::default();
    run(&spec, &mut state, &[4, 5], 0);
    // One more up in tier 1 makes it healthy; the hold starts then.
    let set = run(&spec, &mut state, &[3, 4, 5], 1000);
    assert_eq!(
        set.cause.rule,
        Rule::FailbackPending {
            tier: 1,
            at: 1000 + HOLD
        }
    );
}

// ---- startup grace -------------------------------------------------------

/// The answer set with `up` up and `pending` waiting for first results
/// until `until`.
fn run_pending(
    spec: &RecordSpec,
    state: &mut RecordState,
    up: &[u32],
    pending: &[u32],
    until: Millis,
    now: Millis,
) -> AnswerSet {
    compute(
        spec,
        state,
        |id| EndpointHealth {
            up: up.contains(&id.0),
            pending_until: pending.contains(&id.0).then_some(until),
        },
        now,
    )
}

#[test]
fn a_better_tier_waiting_for_first_results_answers_during_the_grace() {
    let spec = plain();
    let mut state = RecordState::default();
    let set = run_pending(&spec, &mut state, &[3], &[1, 2], 30_000, 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(10), ip(20)], Some(1)));
    assert_eq!(set.cause.rule, Rule::StartupGrace { until: 30_000 });
    assert_eq!(set.next_deadline(), Some(30_000));
    assert_eq!(set.ttl, 10, "not proven: the degraded TTL");
    assert_eq!(state.last_healthy, None, "not a healthy answer");
    assert_eq!(set.cause.verdicts[0].pending_until, Some(30_000));
}

#[test]
fn the_grace_adds_waiting_endpoints_only_where_the_tier_needs_them() {
    // Endpoint 1 is up: tier 1 is healthy and answers without endpoint 2.
    let set = run_pending(&plain(), &mut RecordState::default(), &[1, 3], &[2], 30_000, 0);
    assert_eq!(addresses(&set), [ip(10)]);
    assert_eq!(set.cause.rule, Rule::BestHealthy);
}

#[test]
fn waiting_endpoints_of_a_worse_tier_change_nothing() {
    let set = run_pending(&plain(), &mut RecordState::default(), &[1], &[3], 30_000, 0);
    assert_eq!(set.cause.rule, Rule::BestHealthy);
    assert_eq!(set.tier, Some(1));
}

#[test]
fn with_nothing_up_the_waiting_tier_answers_instead_of_the_all_down_policy() {
    let spec = record(Policy::All, Failback::Manual, AllDown::None);
    let set = run_pending(&spec, &mut RecordState::default(), &[], &[3], 30_000, 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(30)], Some(2)));
    assert_eq!(set.cause.rule, Rule::StartupGrace { until: 30_000 });
}

#[test]
fn waiting_counts_towards_min_healthy() {
    let spec = pool(MinHealthy::Percent(50));
    let set = run_pending(&spec, &mut RecordState::default(), &[1, 5], &[2], 30_000, 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(10), ip(20)], Some(1)));
    let short = run_pending(&spec, &mut RecordState::default(), &[5], &[2], 30_000, 0);
    assert_eq!(short.tier, Some(2), "one of four even with the waiting one");
}

#[test]
fn after_the_grace_the_waiting_tier_is_down_and_once_up_it_answers_without_a_hold() {
    let spec = plain();
    let mut state = RecordState::default();
    run_pending(&spec, &mut state, &[3], &[1, 2], 30_000, 0);
    // The checks come in within the grace: up, and no failback hold.
    let set = run(&spec, &mut state, &[1, 2, 3], 5_000);
    assert_eq!((set.tier, set.cause.rule), (Some(1), Rule::BestHealthy));
    // Another record whose checks stay silent: down when the grace ends.
    let mut other = RecordState::default();
    run_pending(&spec, &mut other, &[3], &[1, 2], 30_000, 0);
    let set = run(&spec, &mut other, &[3], 30_000);
    assert_eq!((set.tier, set.cause.rule), (Some(2), Rule::BestHealthy));
}

// ---- backup_share --------------------------------------------------------

fn shared(millionths: u32) -> RecordSpec {
    let mut spec = plain();
    spec.backup_share = Share::from_millionths(millionths).unwrap();
    spec
}

#[test]
fn a_backup_share_adds_the_next_tier_to_the_answer() {
    let set = run(&shared(100_000), &mut RecordState::default(), &[1, 2, 3], 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(10), ip(20)], Some(1)));
    assert_eq!(set.cause.backup, Some(2));
    assert!(!set.cause.failed_over);
    let Answer::Addresses {
        backup: Some(backup), ..
    } = &set.answer
    else {
        panic!("{:?}", set.answer)
    };
    assert_eq!((backup.tier, backup.share.millionths()), (2, 100_000));
    assert_eq!(
        backup.candidates,
        [Candidate {
            address: ip(30),
            weight: 1
        }]
    );
    let variants = set.variants(VARIANTS, 4);
    assert_eq!(variants.iter().filter(|v| v == &&[ip(30)]).count(), 6);
}

#[test]
fn without_a_healthy_next_tier_there_is_no_backup_share() {
    let set = run(&shared(100_000), &mut RecordState::default(), &[1, 2], 0);
    assert_eq!(set.cause.backup, None);
    assert_eq!(set.variants(VARIANTS, 0), [vec![ip(10), ip(20)]]);
}

#[test]
fn a_whole_backup_share_is_a_manual_failover() {
    let mut state = RecordState::default();
    let set = run(&shared(1_000_000), &mut state, &[1, 2, 3], 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(30)], Some(2)));
    assert_eq!((set.cause.rule, set.cause.backup), (Rule::BestHealthy, Some(2)));
    assert!(set.cause.failed_over);
    assert_eq!(set.ttl, 10);
    assert_eq!(state.tier, Some(1), "the failover rules still chose tier 1");
    assert_eq!(
        state.last_healthy,
        Some(vec![Candidate {
            address: ip(30),
            weight: 1
        }])
    );
}

#[test]
fn all_down_ignores_the_backup_share() {
    let set = run(&shared(500_000), &mut RecordState::default(), &[], 0);
    assert_eq!(set.cause.backup, None);
    assert!(matches!(set.answer, Answer::Addresses { backup: None, .. }));
}

// ---- consistent_hash -----------------------------------------------------

#[test]
fn consistent_hash_answers_every_healthy_address_one_per_bucket() {
    let mut spec = record(Policy::ConsistentHash, Failback::Manual, AllDown::All);
    spec.max_answers = 1;
    spec.endpoints[1] = ep(2, 1, 1, &[20, 21]);
    let set = run(&spec, &mut RecordState::default(), &[1, 2, 3], 0);
    assert_eq!(addresses(&set), [ip(10), ip(20), ip(21)]);
    assert_eq!(selection(&set), Selection::ConsistentHash);
    assert_eq!(set.variants(VARIANTS, 0), [vec![ip(10)], vec![ip(20)], vec![ip(21)]]);
    let buckets = set.buckets().unwrap();
    assert_eq!(buckets.len(), BUCKETS);
    assert!((0..3).all(|i| buckets.contains(&i)));
}

/// The A record of a dual-stack pair: endpoints 1 and 2 in tier 1 (their
/// IPv6 families are endpoints 11 and 12), endpoint 3 in tier 2 (13).
fn together() -> RecordSpec {
    let mut spec = plain();
    for e in &mut spec.endpoints {
        e.requires = vec![EndpointId(e.endpoint.0 + 10)];
    }
    spec
}

#[test]
fn a_required_family_down_counts_its_endpoint_down() {
    let mut state = RecordState::default();
    let set = run(&together(), &mut state, &[1, 2, 3, 11, 12, 13], 0);
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
    // Endpoint 1's IPv4 is up, its IPv6 (11) is down: it leaves the answer.
    let set = run(&together(), &mut state, &[1, 2, 3, 12, 13], 1000);
    assert_eq!(addresses(&set), [ip(20)]);
    assert!(set.cause.degraded);
    assert!(!set.cause.verdicts[0].up, "counted down");
    // The same verdicts without the requirement: endpoint 1 answers.
    let set = run(&plain(), &mut RecordState::default(), &[1, 2, 3, 12, 13], 1000);
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
}

#[test]
fn required_families_down_across_a_tier_fail_it_over() {
    let mut state = RecordState::default();
    let set = run(&together(), &mut state, &[1, 2, 3, 13], 0);
    assert_eq!((addresses(&set), set.tier), (vec![ip(30)], Some(2)));
    assert!(set.cause.failed_over);
    // Endpoint 3's own family down as well: all down, fail open.
    let set = run(&together(), &mut state, &[1, 2, 13], 1000);
    assert_eq!(set.cause.rule, Rule::AllDown(AllDownRule::All));
}

#[test]
fn a_required_family_waiting_for_results_keeps_its_endpoint_waiting() {
    let spec = together();
    // Endpoint 1 up, its IPv6 waiting; endpoint 2 waiting, its IPv6 up;
    // tier 1 waits through the grace instead of failing over to tier 2.
    let set = run_pending(&spec, &mut RecordState::default(), &[1, 12, 3, 13], &[11, 2], 30_000, 0);
    assert_eq!(set.cause.rule, Rule::StartupGrace { until: 30_000 });
    assert_eq!(set.cause.verdicts[0].pending_until, Some(30_000));
    assert_eq!(addresses(&set), [ip(10), ip(20)]);
    // A required family that failed is down, not waiting: tier 2 answers.
    let set = run_pending(&spec, &mut RecordState::default(), &[1, 2, 3, 13], &[], 30_000, 0);
    assert_eq!(set.cause.verdicts[0].pending_until, None);
    assert_eq!(addresses(&set), [ip(30)]);
}

#[test]
fn two_healths_taken_together_follow_the_decision_table() {
    let up = EndpointHealth::from(true);
    let down = EndpointHealth::from(false);
    let pending = |t| EndpointHealth {
        up: false,
        pending_until: Some(t),
    };
    assert_eq!(both(up, up), up);
    assert_eq!(both(up, pending(5)), pending(5));
    assert_eq!(both(pending(5), up), pending(5));
    assert_eq!(both(pending(5), pending(9)), pending(9));
    assert_eq!(both(pending(5), down), down);
    assert_eq!(both(down, up), down);
}
