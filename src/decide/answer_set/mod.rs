//! Answer sets: verdicts → what a health-checked record answers
//! (DESIGN.md §4).
//!
//! ```text
//!  EndpointHealth ──► tier    (best tier with min_healthy endpoints up;
//!  (verdicts, via            failback auto after a hold, or manual;
//!   the guard)               sticky RecordState; within the startup
//!                            grace, wait for a better tier's first results)
//!                 ──► select  (in the tier: all / weighted / round_robin /
//!                              first / consistent_hash; backup_share of the
//!                              answers from the next healthy tier; none
//!                              healthy: the all-down policy)
//!                 ──► AnswerSet { candidates + selection rule, ttl, tier, cause }
//!                 ──► variants (precomputed answers for the DNS server;
//!                               per hash bucket for consistent_hash)
//! ```
//!
//! [`compute`] is called whenever a verdict of one of the record's
//! endpoints changes, and at [`AnswerSet::next_deadline`]; between calls
//! nothing changes. The answer set is precomputable: it lists candidate
//! addresses and how each answer picks among them, and
//! [`AnswerSet::variants`] expands that into a fixed list of answers the
//! publish stage prebuilds, so a query costs the same as a static answer.

pub mod hash;
pub mod lowering;
mod select;
mod tier;
mod variants;

pub use self::hash::{BUCKETS, CLIENT_PREFIX_V4, CLIENT_PREFIX_V6, bucket};

#[cfg(test)]
pub(crate) mod tests;

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
    /// One address per client subnet, by rendezvous hashing of the
    /// subnet's bucket ([`bucket`]) over the healthy addresses: a subnet
    /// keeps its address while the set is stable, and when one of n
    /// addresses leaves, only the ≈ 1/n of buckets it had move.
    ConsistentHash,
}

/// Variants prebuilt per weighted, round-robin or split answer: enough for
/// weighted shares and `backup_share` to come out within 1/64 (the DNS
/// server picks one by query number).
pub const VARIANTS: usize = 64;

/// How many endpoints of a tier must be up for the tier to count as
/// healthy (`min_healthy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinHealthy {
    /// At least this many endpoints (at most the tier's size: a tier of
    /// two needs its two to meet `min_healthy = 3`).
    Count(u32),
    /// At least this percentage of the tier's endpoints, rounded up.
    Percent(u8),
}

impl Default for MinHealthy {
    fn default() -> Self {
        MinHealthy::Count(1)
    }
}

impl MinHealthy {
    /// The endpoints that must be up in a tier of `size` (at least one).
    pub fn required(self, size: usize) -> usize {
        let needed = match self {
            MinHealthy::Count(n) => (n as usize).min(size),
            MinHealthy::Percent(p) => (size * usize::from(p)).div_ceil(100),
        };
        needed.max(1)
    }
}

/// A fraction from 0 to 1 in millionths: `backup_share`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Share(u32);

impl Share {
    pub const NONE: Share = Share(0);
    pub const ALL: Share = Share(1_000_000);

    /// The share of `millionths` / 1,000,000; `None` above 1.
    pub fn from_millionths(millionths: u32) -> Option<Share> {
        (millionths <= Self::ALL.0).then_some(Share(millionths))
    }

    pub fn millionths(self) -> u32 {
        self.0
    }

    /// How many of `total` slots this share gets: the nearest whole number,
    /// but at least one when the share is above 0 and at most `total - 1`
    /// when it is below 1 (with two slots or more), so that a small share
    /// still reaches the backup and a large one still leaves some answers
    /// to the preferred tier.
    pub fn of(self, total: usize) -> usize {
        let nearest = ((total as u64 * u64::from(self.0) + 500_000) / 1_000_000) as usize;
        match self {
            Share::NONE => 0,
            Share::ALL => total,
            _ if nearest == 0 => 1.min(total),
            _ if nearest == total && total > 1 => total - 1,
            _ => nearest,
        }
    }
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
    /// Endpoints that must be up too for this one to count as up: the
    /// other address families of a dual-stack endpoint whose record says
    /// `families = "together"`. Usually empty.
    pub requires: Vec<EndpointId>,
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
    /// A tier with fewer endpoints up counts as down.
    pub min_healthy: MinHealthy,
    /// This part of the answers comes from the next healthy tier while a
    /// better one answers, to keep the backup warm; [`Share::ALL`] sends
    /// every answer there (a manual failover).
    pub backup_share: Share,
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
        if matches!(self.min_healthy, MinHealthy::Count(0) | MinHealthy::Percent(0))
            || matches!(self.min_healthy, MinHealthy::Percent(p) if p > 100)
        {
            return Err(RecordSpecError::MinHealthy { record: record() });
        }
        let addresses = self.endpoints.iter().map(|e| e.addresses.len()).sum::<usize>();
        if self.policy == Policy::ConsistentHash && addresses > BUCKETS {
            return Err(RecordSpecError::TooManyToHash {
                record: record(),
                addresses,
            });
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
    #[error("record `{record}`: min_healthy must be a count of at least 1 or a percentage from 1 to 100")]
    MinHealthy { record: String },
    #[error("record `{record}`: {addresses} addresses are more than consistent_hash's {BUCKETS} buckets can spread")]
    TooManyToHash { record: String, addresses: usize },
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
    /// The tier the failover rules chose (with `backup_share = 1` the
    /// answers come from the next one); `None` before the first answer,
    /// while all endpoints are down, and after an operator's failback.
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
    /// One candidate per client subnet, by rendezvous hashing
    /// ([`Answer::buckets`]).
    ConsistentHash,
}

/// What a record answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Addresses, in endpoint order, and how each query picks among them.
    Addresses {
        candidates: Vec<Candidate>,
        selection: Selection,
        /// `backup_share` below 1: part of the answers come from here.
        backup: Option<BackupShare>,
    },
    /// The name exists but has no address of this type.
    NoData,
    ServFail,
}

/// The part of a record's answers that `backup_share` sends to the next
/// healthy tier, and what they answer there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupShare {
    pub tier: u8,
    pub share: Share,
    pub candidates: Vec<Candidate>,
    pub selection: Selection,
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
    /// Startup grace: this better tier is down only because the first
    /// results of its checks have not come in; it answers with its
    /// endpoints that are up or waiting for them, until `until` at most.
    StartupGrace { until: Millis },
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
    /// Down only for want of results, within the startup grace that ends
    /// then (see [`EndpointHealth`]).
    pub pending_until: Option<Millis>,
}

/// What answer sets know of an endpoint: whether it is up, and whether it
/// is down only for want of results during the startup grace.
/// [`super::guard::Guard::health`] gives it; a plain `bool` is an endpoint
/// with no grace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointHealth {
    pub up: bool,
    /// `Some(end of the grace)` while the endpoint is down only because its
    /// checks have not decided yet (its verdict is
    /// [pending](super::verdict::Verdict::pending)).
    pub pending_until: Option<Millis>,
}

impl From<bool> for EndpointHealth {
    fn from(up: bool) -> Self {
        EndpointHealth {
            up,
            pending_until: None,
        }
    }
}

/// Why an answer set is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub rule: Rule,
    /// Not answering from the record's best tier (all down included).
    pub failed_over: bool,
    /// An endpoint of the answering tier is down (all down included).
    pub degraded: bool,
    /// The tier `backup_share` sends some answers to (all of them at 1).
    pub backup: Option<u8>,
    /// Every endpoint of the record, in record order.
    pub verdicts: Vec<EndpointVerdict>,
    /// The TTL is lowered ahead of a scheduled drain (set by the caller
    /// from [`lowering::lowered`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_lowered: Option<lowering::Lowered>,
}

/// What a record answers now, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerSet {
    pub record: RecordId,
    pub answer: Answer,
    pub ttl: u32,
    /// The tier answered from (the preferred one when `backup_share` is
    /// below 1); `None` when all are down.
    pub tier: Option<u8>,
    pub cause: Cause,
}

impl AnswerSet {
    /// Up to `max` precomputed answers (see [`Answer::variants`]).
    pub fn variants(&self, max: usize, seed: u64) -> Vec<Vec<Address>> {
        self.answer.variants(max, seed)
    }

    /// For `consistent_hash`: the variant of each hash bucket (see
    /// [`Answer::buckets`]).
    pub fn buckets(&self) -> Option<Vec<u16>> {
        self.answer.buckets()
    }

    /// When time alone will change this answer set (a failback hold or the
    /// startup grace ending): call [`compute`] again then.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.cause.rule {
            Rule::FailbackPending { at, .. } => Some(at),
            Rule::StartupGrace { until } => Some(until),
            _ => None,
        }
    }

    /// Applies a TTL lowered ahead of a scheduled drain, if it is below
    /// the TTL the rules chose.
    pub fn lower_ttl(&mut self, lowered: Option<lowering::Lowered>) {
        if let Some(l) = lowered.filter(|l| l.ttl < self.ttl) {
            self.ttl = l.ttl;
            self.cause.ttl_lowered = Some(l);
        }
    }

    /// Whether clients would see the same thing (answer and TTL); the cause
    /// may differ, e.g. when an endpoint of an unused tier changed.
    pub fn same_served(&self, other: &AnswerSet) -> bool {
        self.record == other.record && self.answer == other.answer && self.ttl == other.ttl
    }
}

/// The answer set of a record at `now`, given its endpoints' health
/// (a `bool` per endpoint, or an [`EndpointHealth`]); updates the sticky
/// `state`.
pub fn compute<H: Into<EndpointHealth>>(
    spec: &RecordSpec,
    state: &mut RecordState,
    health: impl Fn(EndpointId) -> H,
    now: Millis,
) -> AnswerSet {
    let verdicts: Vec<EndpointVerdict> = spec
        .endpoints
        .iter()
        .map(|e| {
            let h = counted_health(&health, e);
            EndpointVerdict {
                endpoint: e.endpoint,
                priority: e.priority,
                up: h.up,
                pending_until: h.pending_until.filter(|_| !h.up),
            }
        })
        .collect();
    let tiers = tier::summarize(&verdicts, spec.min_healthy);
    tier::track_health(state, &tiers, now);
    let chosen = tier::wait_for_pending(&tiers, tier::choose(spec.failback, state, &tiers, now));
    let (answer, tier, rule, backup) = match chosen {
        Some((tier, rule)) => {
            let served = from_tier(spec, &verdicts, &tiers, tier, rule);
            if !matches!(rule, Rule::StartupGrace { .. }) {
                state.last_healthy = Some(served.candidates);
            }
            state.tier = Some(tier);
            (served.answer, Some(served.tier), rule, served.backup)
        }
        None => {
            state.tier = None;
            let (answer, rule) = select::all_down(spec, state);
            (answer, None, Rule::AllDown(rule), None)
        }
    };
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
            backup,
            verdicts,
            ttl_lowered: None,
        },
    }
}

/// An endpoint's health as its record counts it: its own, and up only
/// when every endpoint it [requires](RecordEndpoint::requires) is up too.
fn counted_health<H: Into<EndpointHealth>>(health: &impl Fn(EndpointId) -> H, e: &RecordEndpoint) -> EndpointHealth {
    e.requires.iter().fold(health(e.endpoint).into(), |counted, &other| {
        both(counted, health(other).into())
    })
}

/// Two endpoints' health taken together.
fn both(a: EndpointHealth, b: EndpointHealth) -> EndpointHealth {
    // a            | b            | both
    // -------------+--------------+---------------------------------------
    // up           | up           | up
    // up           | pending (t)  | pending (t): down only for want of results
    // pending (t)  | pending (u)  | pending (the later of t and u)
    // down         | anything     | down, not pending
    let pending = |h: EndpointHealth| h.pending_until.filter(|_| !h.up);
    let pending_until = match (a.up, b.up) {
        (true, true) => None,
        (true, false) => pending(b),
        (false, true) => pending(a),
        (false, false) => pending(a).zip(pending(b)).map(|(t, u)| t.max(u)),
    };
    EndpointHealth {
        up: a.up && b.up,
        pending_until,
    }
}

/// What a tier chosen by the failover rules serves.
struct Served {
    answer: Answer,
    /// The tier answered from: the chosen one, or with `backup_share = 1`
    /// the next healthy one.
    tier: u8,
    /// The candidates of that tier.
    candidates: Vec<Candidate>,
    /// The tier `backup_share` sends answers to.
    backup: Option<u8>,
}

/// The answer from `tier`, chosen by `rule`, with `backup_share` applied.
fn from_tier(
    spec: &RecordSpec,
    verdicts: &[EndpointVerdict],
    tiers: &[tier::TierHealth],
    tier: u8,
    rule: Rule,
) -> Served {
    let waiting = matches!(rule, Rule::StartupGrace { .. });
    let candidates = select::tier_candidates(spec, verdicts, tier, waiting);
    let next = tiers
        .iter()
        .find(|t| t.priority > tier && t.healthy)
        .filter(|_| spec.backup_share != Share::NONE);
    // backup_share | next healthy tier | answers
    // -------------+-------------------+-------------------------------------
    // 0            | -                 | the tier
    // -            | none              | the tier
    // 1            | yes               | the next tier, all of them
    // between      | yes               | the tier, that share from the next
    let Some(next) = next else {
        return Served {
            answer: select::answer(spec, candidates.clone()),
            tier,
            candidates,
            backup: None,
        };
    };
    let backup_candidates = select::tier_candidates(spec, verdicts, next.priority, false);
    if spec.backup_share == Share::ALL {
        return Served {
            answer: select::answer(spec, backup_candidates.clone()),
            tier: next.priority,
            candidates: backup_candidates,
            backup: Some(next.priority),
        };
    }
    let (primary, selection) = select::pick(spec, candidates.clone());
    let (second, second_selection) = select::pick(spec, backup_candidates);
    let answer = Answer::Addresses {
        candidates: primary,
        selection,
        backup: Some(BackupShare {
            tier: next.priority,
            share: spec.backup_share,
            candidates: second,
            selection: second_selection,
        }),
    };
    Served {
        answer,
        tier,
        candidates,
        backup: Some(next.priority),
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
