//! Which tier answers (DESIGN.md §4, active-passive): the best tier with
//! `min_healthy` endpoints up, except that a record that failed over
//! returns to a better tier only after it has been healthy for the
//! failback hold (auto), or when an operator says so (manual); and that
//! within the startup grace a better tier is waited for while it is down
//! only because its checks have not reported yet.

use super::{EndpointVerdict, Failback, MinHealthy, RecordState, Rule, TierSince};
use crate::decide::Millis;

/// One tier of a record at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TierHealth {
    pub priority: u8,
    /// At least `min_healthy` endpoints are up.
    pub healthy: bool,
    /// At least one endpoint is down.
    pub degraded: bool,
    /// Not healthy, but would be with the endpoints that wait for their
    /// first results counted up: the end of their startup grace.
    pub pending_until: Option<Millis>,
}

/// The record's tiers, best first.
pub(super) fn summarize(verdicts: &[EndpointVerdict], min_healthy: MinHealthy) -> Vec<TierHealth> {
    let mut priorities: Vec<u8> = verdicts.iter().map(|v| v.priority).collect();
    priorities.sort_unstable();
    priorities.dedup();
    priorities
        .into_iter()
        .map(|priority| {
            let members: Vec<&EndpointVerdict> = verdicts.iter().filter(|v| v.priority == priority).collect();
            let required = min_healthy.required(members.len());
            let up = members.iter().filter(|v| v.up).count();
            let pending: Vec<Millis> = members.iter().filter_map(|v| v.pending_until).collect();
            let healthy = up >= required;
            let waits = !healthy && up + pending.len() >= required;
            TierHealth {
                priority,
                healthy,
                degraded: up < members.len(),
                pending_until: pending.into_iter().max().filter(|_| waits),
            }
        })
        .collect()
}

/// Records since when each healthy tier has been healthy: a tier keeps its
/// time while it stays healthy, gets `now` when it becomes healthy, and is
/// forgotten when it is not.
pub(super) fn track_health(state: &mut RecordState, tiers: &[TierHealth], now: Millis) {
    let previous = std::mem::take(&mut state.healthy_since);
    state.healthy_since = tiers
        .iter()
        .filter(|t| t.healthy)
        .map(|t| TierSince {
            tier: t.priority,
            since: previous.iter().find(|p| p.tier == t.priority).map_or(now, |p| p.since),
        })
        .collect();
}

/// The tier to answer from and the rule that chose it; `None` when no tier
/// is healthy.
pub(super) fn choose(failback: Failback, state: &RecordState, tiers: &[TierHealth], now: Millis) -> Option<(u8, Rule)> {
    let best = tiers.iter().find(|t| t.healthy)?.priority;
    let healthy = |tier: u8| tiers.iter().any(|t| t.priority == tier && t.healthy);
    // current tier           | failback | answer from                            | rule
    // -----------------------+----------+----------------------------------------+----------------
    // none, or not healthy   | -        | best healthy tier                      | BestHealthy
    // the best healthy tier  | -        | it                                     | BestHealthy
    // worse than best healthy| manual   | current                                | ManualSticky
    // worse than best healthy| auto     | best tier healthy for ≥ hold, else the | BestHealthy if that is
    //                        |          | current                                | the best, else Pending
    let current = match state.tier {
        Some(current) if healthy(current) && current > best => current,
        _ => return Some((best, Rule::BestHealthy)),
    };
    match failback {
        Failback::Manual => Some((current, Rule::ManualSticky { tier: best })),
        Failback::Auto { hold } => Some(auto_failback(state, current, best, hold, now)),
    }
}

/// The startup grace over the failover rules' `chosen` tier: a better tier
/// that is down only because its checks have not reported yet answers
/// instead, so that no answer comes from a worse tier for want of results.
pub(super) fn wait_for_pending(tiers: &[TierHealth], chosen: Option<(u8, Rule)>) -> Option<(u8, Rule)> {
    // best waiting tier      | chosen tier          | answer from
    // -----------------------+----------------------+-------------------------------
    // none                   | -                    | chosen (or all down)
    // better than chosen     | -                    | waiting tier, StartupGrace
    // any                    | none (all down)      | waiting tier, StartupGrace
    // worse than chosen      | -                    | chosen
    let waiting = tiers.iter().find(|t| t.pending_until.is_some());
    match (waiting, chosen) {
        (Some(w), Some((tier, _))) if w.priority >= tier => chosen,
        (Some(w), _) => w.pending_until.map(|until| (w.priority, Rule::StartupGrace { until })),
        (None, _) => chosen,
    }
}

/// Auto failback from `current` while a better tier (`best`) is healthy.
fn auto_failback(state: &RecordState, current: u8, best: u8, hold: Millis, now: Millis) -> (u8, Rule) {
    // `healthy_since` lists exactly the healthy tiers, best first.
    let due = |s: &TierSince| s.since.saturating_add(hold);
    let chosen = state
        .healthy_since
        .iter()
        .find(|s| s.tier < current && due(s) <= now)
        .map_or(current, |s| s.tier);
    if chosen == best {
        return (best, Rule::BestHealthy);
    }
    // The best tier is healthy and better than the chosen one, so this finds
    // at least that one (`track_health` ran first).
    let Some(pending) = state
        .healthy_since
        .iter()
        .filter(|s| s.tier < chosen)
        .min_by_key(|s| (due(s), s.tier))
    else {
        return (best, Rule::BestHealthy);
    };
    (
        chosen,
        Rule::FailbackPending {
            tier: pending.tier,
            at: due(pending),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::EndpointId;

    fn tiers(health: &[(u8, bool)]) -> Vec<TierHealth> {
        let verdicts: Vec<EndpointVerdict> = health
            .iter()
            .enumerate()
            .map(|(i, &(priority, up))| EndpointVerdict {
                endpoint: EndpointId(i as u32),
                priority,
                up,
                pending_until: None,
            })
            .collect();
        summarize(&verdicts, MinHealthy::default())
    }

    fn state(tier: Option<u8>, since: &[(u8, Millis)]) -> RecordState {
        RecordState {
            tier,
            healthy_since: since.iter().map(|&(tier, since)| TierSince { tier, since }).collect(),
            last_healthy: None,
        }
    }

    #[test]
    fn summarize_orders_tiers_and_merges_their_endpoints() {
        let t = tiers(&[(2, true), (1, false), (2, false), (1, false)]);
        assert_eq!(
            t,
            [
                TierHealth {
                    priority: 1,
                    healthy: false,
                    degraded: true,
                    pending_until: None,
                },
                TierHealth {
                    priority: 2,
                    healthy: true,
                    degraded: true,
                    pending_until: None,
                },
            ]
        );
    }

    #[test]
    fn track_health_keeps_times_of_tiers_that_stay_healthy() {
        let mut s = state(None, &[(1, 5), (3, 7)]);
        track_health(&mut s, &tiers(&[(1, true), (2, true), (3, false)]), 10);
        assert_eq!(s, state(None, &[(1, 5), (2, 10)]));
    }

    #[test]
    fn no_healthy_tier_chooses_nothing() {
        let t = tiers(&[(1, false), (2, false)]);
        assert_eq!(choose(Failback::Manual, &state(Some(1), &[]), &t, 0), None);
    }

    #[test]
    fn without_a_current_tier_the_best_healthy_tier_answers() {
        let t = tiers(&[(1, false), (2, true), (3, true)]);
        let s = state(None, &[(2, 0), (3, 0)]);
        assert_eq!(choose(Failback::Manual, &s, &t, 0), Some((2, Rule::BestHealthy)));
    }

    #[test]
    fn a_failed_current_tier_moves_to_the_best_healthy_even_before_the_hold() {
        let t = tiers(&[(1, true), (2, false), (3, true)]);
        let s = state(Some(2), &[(1, 100), (3, 0)]);
        let auto = Failback::Auto { hold: 1000 };
        assert_eq!(choose(auto, &s, &t, 100), Some((1, Rule::BestHealthy)));
        assert_eq!(choose(Failback::Manual, &s, &t, 100), Some((1, Rule::BestHealthy)));
    }

    #[test]
    fn a_current_tier_that_is_a_tier_no_longer_configured_moves() {
        let t = tiers(&[(1, false), (2, true)]);
        let s = state(Some(4), &[(2, 0)]);
        assert_eq!(choose(Failback::Manual, &s, &t, 0), Some((2, Rule::BestHealthy)));
    }

    #[test]
    fn manual_stays_on_a_healthy_current_tier() {
        let t = tiers(&[(1, true), (2, true)]);
        let s = state(Some(2), &[(1, 0), (2, 0)]);
        assert_eq!(
            choose(Failback::Manual, &s, &t, 1_000_000),
            Some((2, Rule::ManualSticky { tier: 1 }))
        );
    }

    #[test]
    fn auto_waits_for_the_hold_then_fails_back() {
        let t = tiers(&[(1, true), (2, true)]);
        let s = state(Some(2), &[(1, 100), (2, 0)]);
        let auto = Failback::Auto { hold: 1000 };
        let pending = Rule::FailbackPending { tier: 1, at: 1100 };
        assert_eq!(choose(auto, &s, &t, 100), Some((2, pending)));
        assert_eq!(choose(auto, &s, &t, 1099), Some((2, pending)));
        assert_eq!(choose(auto, &s, &t, 1100), Some((1, Rule::BestHealthy)));
    }

    #[test]
    fn auto_moves_to_an_intermediate_tier_whose_hold_ended_first() {
        let t = tiers(&[(1, true), (2, true), (3, true)]);
        // Tier 2 healthy since 0, tier 1 since 500; hold 1000.
        let s = state(Some(3), &[(1, 500), (2, 0), (3, 0)]);
        let auto = Failback::Auto { hold: 1000 };
        assert_eq!(
            choose(auto, &s, &t, 200),
            Some((3, Rule::FailbackPending { tier: 2, at: 1000 }))
        );
        assert_eq!(
            choose(auto, &s, &t, 1000),
            Some((2, Rule::FailbackPending { tier: 1, at: 1500 }))
        );
        assert_eq!(choose(auto, &s, &t, 1500), Some((1, Rule::BestHealthy)));
    }

    #[test]
    fn auto_with_a_zero_hold_fails_back_at_once() {
        let t = tiers(&[(1, true), (2, true)]);
        let s = state(Some(2), &[(1, 100), (2, 0)]);
        assert_eq!(
            choose(Failback::Auto { hold: 0 }, &s, &t, 100),
            Some((1, Rule::BestHealthy))
        );
    }

    /// Tiers from (priority, up, pending) endpoints, grace until 500.
    fn waiting(health: &[(u8, bool, bool)], min_healthy: MinHealthy) -> Vec<TierHealth> {
        let verdicts: Vec<EndpointVerdict> = health
            .iter()
            .enumerate()
            .map(|(i, &(priority, up, pending))| EndpointVerdict {
                endpoint: EndpointId(i as u32),
                priority,
                up,
                pending_until: pending.then_some(500),
            })
            .collect();
        summarize(&verdicts, min_healthy)
    }

    #[test]
    fn summarize_counts_min_healthy_per_tier() {
        let one = [(1, true, false), (1, false, false), (1, false, false), (2, true, false)];
        let t = waiting(&one, MinHealthy::Percent(50));
        assert_eq!((t[0].healthy, t[1].healthy), (false, true));
        let t = waiting(&one, MinHealthy::Count(1));
        assert!(t[0].healthy);
    }

    #[test]
    fn a_tier_waits_when_its_pending_endpoints_would_make_it_healthy() {
        let t = waiting(
            &[(1, false, true), (1, false, false), (2, true, false)],
            MinHealthy::Count(1),
        );
        assert_eq!(t[0].pending_until, Some(500));
        let t = waiting(&[(1, false, true), (1, false, false)], MinHealthy::Count(2));
        assert_eq!(t[0].pending_until, None, "one pending of two needed");
        let t = waiting(&[(1, true, true), (1, true, false)], MinHealthy::Count(1));
        assert_eq!(t[0].pending_until, None, "healthy: nothing to wait for");
    }

    #[test]
    fn wait_for_pending_prefers_a_better_waiting_tier() {
        let t = waiting(
            &[(1, false, true), (2, true, false), (3, false, true)],
            MinHealthy::Count(1),
        );
        let grace = Some((1, Rule::StartupGrace { until: 500 }));
        assert_eq!(wait_for_pending(&t, Some((2, Rule::BestHealthy))), grace);
        assert_eq!(wait_for_pending(&t, None), grace);
        let t = waiting(&[(1, true, false), (2, false, true)], MinHealthy::Count(1));
        assert_eq!(
            wait_for_pending(&t, Some((1, Rule::BestHealthy))),
            Some((1, Rule::BestHealthy))
        );
    }
}
