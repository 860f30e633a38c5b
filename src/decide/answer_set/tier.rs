//! Which tier answers (DESIGN.md §4, active-passive): the best tier with a
//! healthy endpoint, except that a record that failed over returns to a
//! better tier only after it has been healthy for the failback hold (auto),
//! or when an operator says so (manual).

use super::{EndpointVerdict, Failback, RecordState, Rule, TierSince};
use crate::decide::Millis;

/// One tier of a record at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TierHealth {
    pub priority: u8,
    /// At least one endpoint is up.
    pub healthy: bool,
    /// At least one endpoint is down.
    pub degraded: bool,
}

/// The record's tiers, best first.
pub(super) fn summarize(verdicts: &[EndpointVerdict]) -> Vec<TierHealth> {
    let mut tiers: Vec<TierHealth> = Vec::new();
    for v in verdicts {
        match tiers.iter_mut().find(|t| t.priority == v.priority) {
            Some(t) => {
                t.healthy |= v.up;
                t.degraded |= !v.up;
            }
            None => tiers.push(TierHealth {
                priority: v.priority,
                healthy: v.up,
                degraded: !v.up,
            }),
        }
    }
    tiers.sort_unstable_by_key(|t| t.priority);
    tiers
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
            })
            .collect();
        summarize(&verdicts)
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
                    degraded: true
                },
                TierHealth {
                    priority: 2,
                    healthy: true,
                    degraded: true
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
}
