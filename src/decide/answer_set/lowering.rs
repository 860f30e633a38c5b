//! TTL pre-lowering ahead of a scheduled drain.
//!
//! A resolver keeps an answer for its TTL, so taking an endpoint out at
//! time T only moves its clients by T + TTL. An operator who schedules the
//! drain in advance gets better: one record TTL before T the record starts
//! answering with its short TTL (`ttl_degraded`, else [`LOWERED_TTL`]), so
//! that the long-lived copies have expired when the endpoint leaves, and
//! the copies made meanwhile expire within the short TTL of it. At T the
//! drain takes effect and the usual TTL rules apply again.
//!
//! ```text
//!   ... ttl ... | lowered (one old ttl long)     | drain in force
//! --------------+--------------------------------+----------------->
//!            T - ttl                             T
//! ```

use serde::Serialize;

use super::RecordSpec;
use crate::decide::{EndpointId, Millis};

/// The short TTL of a record without `ttl_degraded`, in seconds.
pub const LOWERED_TTL: u32 = 30;

/// A drain that an operator scheduled to start at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledDrain {
    pub endpoint: EndpointId,
    pub at: Millis,
}

/// Why a record answers with a lowered TTL: the scheduled drain of
/// `endpoint` at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Lowered {
    pub ttl: u32,
    pub endpoint: EndpointId,
    pub at: Millis,
}

/// The TTL a record answers with ahead of scheduled drains of its
/// endpoints, if one lowers it at `now`: the earliest drain whose window
/// `[at - ttl, at)` holds `now`.
pub fn lowered(spec: &RecordSpec, drains: &[ScheduledDrain], now: Millis) -> Option<Lowered> {
    let ttl = spec.ttl_degraded.unwrap_or(LOWERED_TTL).min(spec.ttl);
    let window = Millis::from(spec.ttl) * 1000;
    drains
        .iter()
        .filter(|d| spec.endpoints.iter().any(|e| e.endpoint == d.endpoint))
        .filter(|d| d.at.saturating_sub(window) <= now && now < d.at)
        .min_by_key(|d| d.at)
        .map(|d| Lowered {
            ttl,
            endpoint: d.endpoint,
            at: d.at,
        })
}

/// When time alone changes what [`lowered`] says for this record: the
/// next window start or end after `now`.
pub fn next_change(spec: &RecordSpec, drains: &[ScheduledDrain], now: Millis) -> Option<Millis> {
    let window = Millis::from(spec.ttl) * 1000;
    drains
        .iter()
        .filter(|d| spec.endpoints.iter().any(|e| e.endpoint == d.endpoint))
        .flat_map(|d| [d.at.saturating_sub(window), d.at])
        .filter(|&t| t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::answer_set::tests::spec_with;

    fn drain(endpoint: u32, at: Millis) -> ScheduledDrain {
        ScheduledDrain {
            endpoint: EndpointId(endpoint),
            at,
        }
    }

    #[test]
    fn the_ttl_is_lowered_one_old_ttl_before_the_drain_and_not_after() {
        // ttl 300 s, ttl_degraded 20 s, endpoints 0 and 1; drain of 1 at 1,000 s.
        let spec = spec_with(300, Some(20), &[0, 1]);
        let drains = [drain(1, 1_000_000)];
        assert_eq!(lowered(&spec, &drains, 699_999), None, "before the window");
        let at_start = lowered(&spec, &drains, 700_000).expect("lowered from T - ttl");
        assert_eq!(
            (at_start.ttl, at_start.endpoint, at_start.at),
            (20, EndpointId(1), 1_000_000)
        );
        assert!(lowered(&spec, &drains, 999_999).is_some());
        assert_eq!(
            lowered(&spec, &drains, 1_000_000),
            None,
            "the drain is in force: usual rules"
        );
        assert_eq!(next_change(&spec, &drains, 0), Some(700_000));
        assert_eq!(next_change(&spec, &drains, 700_000), Some(1_000_000));
        assert_eq!(next_change(&spec, &drains, 1_000_000), None);
    }

    #[test]
    fn drains_of_other_records_endpoints_do_not_lower_this_one() {
        let spec = spec_with(300, Some(20), &[0, 1]);
        assert_eq!(lowered(&spec, &[drain(7, 1_000_000)], 900_000), None);
        assert_eq!(next_change(&spec, &[drain(7, 1_000_000)], 0), None);
    }

    #[test]
    fn without_ttl_degraded_the_short_ttl_is_used_and_never_raises_a_ttl() {
        let long = spec_with(300, None, &[0]);
        assert_eq!(
            lowered(&long, &[drain(0, 1_000_000)], 900_000).unwrap().ttl,
            LOWERED_TTL
        );
        let short = spec_with(10, None, &[0]);
        assert_eq!(lowered(&short, &[drain(0, 1_000_000)], 995_000).unwrap().ttl, 10);
    }

    #[test]
    fn the_earliest_of_several_drains_is_named() {
        let spec = spec_with(60, Some(5), &[0, 1]);
        let drains = [drain(1, 100_000), drain(0, 90_000)];
        let l = lowered(&spec, &drains, 50_000).unwrap();
        assert_eq!((l.endpoint, l.at), (EndpointId(0), 90_000));
    }
}
