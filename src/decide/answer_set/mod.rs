//! Answer sets: verdicts → what a health-checked record answers
//! (DESIGN.md §4).
//!
//! ```text
//!  verdicts ──► tier    (best tier with a healthy endpoint; failback
//!                        auto after a hold, or manual; sticky RecordState)
//!           ──► select  (in the tier: all / weighted / round_robin / first;
//!                        none healthy: the all-down policy)
//!           ──► AnswerSet { candidates + selection rule, ttl, tier, cause }
//!           ──► variants (precomputed answers for the DNS server)
//! ```
//!
//! [`compute`] is called whenever a verdict of one of the record's
//! endpoints changes, and at [`AnswerSet::next_deadline`]; between calls
//! nothing changes. The answer set is precomputable: it lists candidate
//! addresses and how each answer picks among them, and
//! [`AnswerSet::variants`] expands that into a fixed list of answers the
//! publish stage prebuilds, so a query costs the same as a static answer.

mod select;
mod tier;
mod variants;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::{Address, EndpointId, Millis, RecordId};

/// How answers are chosen within the answering tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Every healthy endpoint, up to `max_answers` addresses.
    All,
    /// `max_answers` addresses drawn by weight, per query.
    Weighted,
    /// Every healthy endpoint, the order rotating per query, up to
    /// `max_answers`.
    RoundRobin,
    /// The first healthy endpoint's addresses only.
    First,
}

/// How a record returns to a better tier once it is healthy again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    /// Once the better tier has been healthy continuously for `hold`.
    Auto { hold: Millis },
    /// When an operator fails back, or the current tier fails.
    Manual,
}

/// What a record answers when no endpoint of any tier is healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllDown {
    /// Fail open: every endpoint of every tier.
    All,
    /// The last healthy answer.
    Last,
    /// Fixed addresses.
    Backup(Vec<Address>),
    /// NODATA.
    None,
    /// SERVFAIL.
    Servfail,
}

/// One endpoint of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEndpoint {
    pub endpoint: EndpointId,
    /// One family, the record's.
    pub addresses: Vec<Address>,
    /// The tier: 1 is preferred, then 2, and so on.
    pub priority: u8,
    /// For [`Policy::Weighted`], per address; 0 is never drawn.
    pub weight: u32,
}

/// A health-checked record (one of A or AAAA), as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    pub id: RecordId,
    /// For messages.
    pub name: String,
    pub ttl: u32,
    /// The TTL while failed over, degraded or all down, so that recovery
    /// spreads faster; `ttl` if unset.
    pub ttl_degraded: Option<u32>,
    pub policy: Policy,
    pub max_answers: usize,
    pub failback: Failback,
    pub all_down: AllDown,
    /// In configuration order, which is the order of answers.
    pub endpoints: Vec<RecordEndpoint>,
}

impl RecordSpec {
    /// Checks what [`compute`] relies on. The configuration calls this;
    /// `compute` does not panic on an invalid spec, but may answer oddly.
    pub fn validate(&self) -> Result<(), RecordSpecError> {
        let record = || self.name.clone();
        if self.endpoints.is_empty() {
            return Err(RecordSpecError::NoEndpoints { record: record() });
        }
        if self.max_answers == 0 {
            return Err(RecordSpecError::ZeroMaxAnswers { record: record() });
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if e.addresses.is_empty() {
                return Err(RecordSpecError::NoAddresses {
                    record: record(),
                    endpoint: e.endpoint.0,
                });
            }
            if self.endpoints[..i].iter().any(|o| o.endpoint == e.endpoint) {
                return Err(RecordSpecError::DuplicateEndpoint {
                    record: record(),
                    endpoint: e.endpoint.0,
                });
            }
        }
        let backup = match &self.all_down {
            AllDown::Backup(addresses) if addresses.is_empty() => {
                return Err(RecordSpecError::EmptyBackup { record: record() });
            }
            AllDown::Backup(addresses) => addresses.as_slice(),
            _ => &[],
        };
        let mut addresses = self.endpoints.iter().flat_map(|e| &e.addresses).chain(backup);
        let first_is_v4 = self.endpoints[0].addresses[0].is_ipv4();
        match addresses.find(|a| a.is_ipv4() != first_is_v4) {
            Some(&address) => Err(RecordSpecError::MixedFamilies {
                record: record(),
                address,
            }),
            None => Ok(()),
        }
    }

    /// The best (lowest) tier configured.
    pub fn best_tier(&self) -> Option<u8> {
        self.endpoints.iter().map(|e| e.priority).min()
    }
}

/// A record specification that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordSpecError {
    #[error("record `{record}` has no endpoints; give it at least one")]
    NoEndpoints { record: String },
    #[error("record `{record}`: max_answers = 0; it must be at least 1")]
    ZeroMaxAnswers { record: String },
    #[error("record `{record}`: endpoint {endpoint} has no addresses; give it at least one")]
    NoAddresses { record: String, endpoint: u32 },
    #[error("record `{record}`: endpoint {endpoint} is listed twice; list it once")]
    DuplicateEndpoint { record: String, endpoint: u32 },
    #[error("record `{record}`: all_down = backup needs at least one backup address")]
    EmptyBackup { record: String },
    #[error(
        "record `{record}`: {address} is not of the same family as the record's first address; \
         A and AAAA are separate records"
    )]
    MixedFamilies { record: String, address: Address },
}

/// A record's sticky failover state: which tier it answers from, and the
/// history failback and `all_down = last` need. Persisted by the caller.
///
/// Times are on the caller's clock ([`Millis`]). When restoring after a
/// restart on a clock that does not continue the old one, clear
/// `healthy_since`: a failback hold then starts over, which is safe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// The tier answered from; `None` before the first answer, while all
    /// endpoints are down, and after an operator's failback.
    pub tier: Option<u8>,
    /// For each tier that is healthy, since when it has been continuously
    /// healthy; ordered by tier.
    pub healthy_since: Vec<TierSince>,
    /// The candidates of the last answer from a healthy tier.
    pub last_healthy: Option<Vec<Candidate>>,
}

/// A tier healthy since a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSince {
    pub tier: u8,
    pub since: Millis,
}

impl RecordState {
    /// An operator's failback: the next [`compute`] answers from the best
    /// healthy tier at once, whatever the failback mode and hold.
    pub fn failback(&mut self) {
        self.tier = None;
    }
}

/// An address that may be answered, with its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub address: Address,
    pub weight: u32,
}

/// How each answer is drawn from the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The candidates, as they are, are the answer.
    Fixed,
    /// The candidates rotated by one per query; the first `take`.
    RoundRobin { take: usize },
    /// `take` distinct candidates drawn by weight per query.
    Weighted { take: usize },
}

/// What a record answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Addresses, in endpoint order, and how each query picks among them.
    Addresses {
        candidates: Vec<Candidate>,
        selection: Selection,
    },
    /// The name exists but has no address of this type.
    NoData,
    ServFail,
}

/// The rule that chose an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The best tier with a healthy endpoint answers.
    BestHealthy,
    /// Auto failback: the better `tier` is healthy and takes over at `at`,
    /// when it has been healthy for the hold.
    FailbackPending { tier: u8, at: Millis },
    /// Manual failback: the better `tier` is healthy, but answers stay on
    /// the current tier until an operator fails back or it fails.
    ManualSticky { tier: u8 },
    /// No endpoint is healthy: the all-down policy answers.
    AllDown(AllDownRule),
}

/// Which all-down policy answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllDownRule {
    /// Every endpoint of every tier.
    All,
    /// The last healthy answer.
    Last,
    /// `last`, but the record was never healthy: the best tier's endpoints.
    LastNeverHealthy,
    Backup,
    None,
    Servfail,
}

/// One endpoint's verdict as an answer set used it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EndpointVerdict {
    pub endpoint: EndpointId,
    pub priority: u8,
    pub up: bool,
}

/// Why an answer set is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub rule: Rule,
    /// Not answering from the record's best tier (all down included).
    pub failed_over: bool,
    /// An endpoint of the answering tier is down (all down included).
    pub degraded: bool,
    /// Every endpoint of the record, in record order.
    pub verdicts: Vec<EndpointVerdict>,
}

/// What a record answers now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerSet {
    pub record: RecordId,
    pub answer: Answer,
    pub ttl: u32,
    /// The tier answered from; `None` when all are down.
    pub tier: Option<u8>,
    pub cause: Cause,
}

impl AnswerSet {
    /// Up to `max` precomputed answers (see [`Answer::variants`]).
    pub fn variants(&self, max: usize, seed: u64) -> Vec<Vec<Address>> {
        self.answer.variants(max, seed)
    }

    /// When time alone will change this answer set (a failback hold
    /// ending): call [`compute`] again then.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.cause.rule {
            Rule::FailbackPending { at, .. } => Some(at),
            _ => None,
        }
    }

    /// Whether clients would see the same thing (answer and TTL); the cause
    /// may differ, e.g. when an endpoint of an unused tier changed.
    pub fn same_served(&self, other: &AnswerSet) -> bool {
        self.record == other.record && self.answer == other.answer && self.ttl == other.ttl
    }
}

/// The answer set of a record at `now`, given its endpoints' verdicts;
/// updates the sticky `state`.
pub fn compute(
    spec: &RecordSpec,
    state: &mut RecordState,
    is_up: impl Fn(EndpointId) -> bool,
    now: Millis,
) -> AnswerSet {
    let verdicts: Vec<EndpointVerdict> = spec
        .endpoints
        .iter()
        .map(|e| EndpointVerdict {
            endpoint: e.endpoint,
            priority: e.priority,
            up: is_up(e.endpoint),
        })
        .collect();
    let tiers = tier::summarize(&verdicts);
    tier::track_health(state, &tiers, now);
    let (answer, tier, rule) = match tier::choose(spec.failback, state, &tiers, now) {
        Some((tier, rule)) => {
            let candidates = select::tier_candidates(spec, &verdicts, tier);
            state.last_healthy = Some(candidates.clone());
            (select::answer(spec, candidates), Some(tier), rule)
        }
        None => {
            let (answer, rule) = select::all_down(spec, state);
            (answer, None, Rule::AllDown(rule))
        }
    };
    state.tier = tier;
    let failed_over = tier.is_none() || tier != spec.best_tier();
    let degraded = tier.is_none_or(|t| tiers.iter().any(|x| x.priority == t && x.degraded));
    AnswerSet {
        record: spec.id,
        answer,
        ttl: ttl(spec, failed_over || degraded),
        tier,
        cause: Cause {
            rule,
            failed_over,
            degraded,
            verdicts,
        },
    }
}

/// The record's TTL.
fn ttl(spec: &RecordSpec, impaired: bool) -> u32 {
    // situation                                        | ttl
    // -------------------------------------------------+--------------------------
    // best tier, every endpoint of it up               | ttl
    // failed over, degraded or all down                | ttl_degraded, else ttl
    match (impaired, spec.ttl_degraded) {
        (true, Some(degraded)) => degraded,
        _ => spec.ttl,
    }
}
