//! Verdicts kept across restarts: what the health engine writes to the
//! store when an endpoint's threshold machines change, and how it resumes
//! from that on start (DESIGN.md §3, "on start, the last verdicts are
//! loaded from the store").
//!
//! What is kept per endpoint is the state (up or down) of each check's
//! rise/fall machine at each location, with the check's key and
//! thresholds; the verdict and when it last changed go along for the
//! record. A machine is resumed only if its check is still configured for
//! the endpoint with the same key (definition and target) and the same
//! rise, fall and interval, and only if the previous server was alive
//! within [`VERDICT_RESTORE_WITHIN`]; anything else starts from the
//! configured initial state, as a new endpoint does. Consecutive counts are
//! not kept (they change with every result, and the store takes changes
//! only): a failure that straddles a restart needs its `fall` failures
//! counted again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::config::limits::VERDICT_RESTORE_WITHIN;
use crate::decide::verdict::{EndpointSpec, KeptMachine, Verdict};
use crate::decide::{LocationId, Millis};

/// One endpoint's verdict as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeptVerdict {
    up: bool,
    /// When `up` last changed, in milliseconds since the Unix epoch.
    since: u64,
    checks: Vec<KeptCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct KeptCheck {
    key: String,
    rise: u32,
    fall: u32,
    interval: Millis,
    /// (location, machine up)
    locations: Vec<(u16, bool)>,
}

/// An endpoint's verdict as JSON for the store. `now` is decide's clock,
/// `wall` the time it reads.
pub fn encode(spec: &EndpointSpec, verdict: &Verdict, now: Millis, wall: SystemTime) -> String {
    let since = wall - Duration::from_millis(now.saturating_sub(verdict.since));
    let kept = KeptVerdict {
        up: verdict.up,
        since: since.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        checks: spec
            .checks
            .iter()
            .zip(&verdict.evidence)
            .map(|(check, evidence)| KeptCheck {
                key: check.key.clone(),
                rise: check.params.rise,
                fall: check.params.fall,
                interval: check.params.interval,
                locations: evidence.locations.iter().map(|l| (l.location.0, l.up)).collect(),
            })
            .collect(),
    };
    serde_json::to_string(&kept).expect("a kept verdict encodes")
}

/// The machines of `json` that still apply to the endpoint as configured
/// now: those of checks with the same key and thresholds.
pub fn machines(spec: &EndpointSpec, json: &str) -> Result<Vec<KeptMachine>, serde_json::Error> {
    let kept: KeptVerdict = serde_json::from_str(json)?;
    let mut machines = Vec::new();
    for check in &spec.checks {
        let p = &check.params;
        let same = kept
            .checks
            .iter()
            .find(|k| k.key == check.key && (k.rise, k.fall, k.interval) == (p.rise, p.fall, p.interval));
        for &(location, up) in same.map_or(&[][..], |k| &k.locations) {
            machines.push(KeptMachine {
                check: check.id,
                location: LocationId(location),
                up,
            });
        }
    }
    Ok(machines)
}

/// Whether kept verdicts are recent enough to resume from: the previous
/// server was alive within [`VERDICT_RESTORE_WITHIN`] of `now`.
pub fn recent(alive: Option<SystemTime>, now: SystemTime) -> bool {
    alive.is_some_and(|at| now.duration_since(at).unwrap_or_default() <= VERDICT_RESTORE_WITHIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::verdict::{CheckParams, CheckSpec, Combine, Verdicts};
    use crate::decide::{CheckId, EndpointId, Outcome};

    fn spec(key: &str, fall: u32) -> EndpointSpec {
        EndpointSpec {
            id: EndpointId(0),
            name: "a".into(),
            checks: vec![CheckSpec {
                id: CheckId(0),
                key: key.into(),
                params: CheckParams {
                    rise: 2,
                    fall,
                    interval: 1000,
                },
            }],
            combine: Combine::All,
            quorum: 1,
            initial_up: true,
            damping: None,
            group: 0,
        }
    }

    /// The JSON of endpoint "a" after one failed result with fall 1.
    fn down() -> String {
        let mut v = Verdicts::new(vec![spec("http:a", 1)], 0).unwrap();
        v.observe(&Outcome {
            endpoint: EndpointId(0),
            check: CheckId(0),
            location: LocationId(0),
            ok: false,
            at: 500,
        });
        let verdict = v.verdict(EndpointId(0)).unwrap();
        assert!(!verdict.up);
        encode(&spec("http:a", 1), verdict, 2000, UNIX_EPOCH + Duration::from_secs(100))
    }

    #[test]
    fn a_kept_machine_comes_back_for_the_same_check_only() {
        let json = down();
        assert!(json.contains("\"since\":98500"), "wall time of the change: {json}");
        let same = machines(&spec("http:a", 1), &json).unwrap();
        assert_eq!(
            same,
            [KeptMachine {
                check: CheckId(0),
                location: LocationId(0),
                up: false
            }]
        );
        assert!(machines(&spec("http:b", 1), &json).unwrap().is_empty(), "another check");
        assert!(
            machines(&spec("http:a", 3), &json).unwrap().is_empty(),
            "other thresholds"
        );
        assert!(machines(&spec("http:a", 1), "not json").is_err());
    }

    #[test]
    fn only_recent_verdicts_are_resumed() {
        let now = SystemTime::now();
        assert!(recent(Some(now - Duration::from_secs(60)), now));
        assert!(!recent(
            Some(now - VERDICT_RESTORE_WITHIN - Duration::from_secs(1)),
            now
        ));
        assert!(!recent(None, now), "a store that never saw a server alive");
    }
}
