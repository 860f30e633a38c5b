//! What the answering tier says (DESIGN.md §4, active-active): its healthy
//! endpoints' addresses under the record's policy; and what a record says
//! when no tier is healthy, under its all-down policy.

use super::{
    AllDown, AllDownRule, Answer, Candidate, EndpointVerdict, Policy, RecordEndpoint, RecordSpec, RecordState,
    Selection,
};

/// The candidates of `tier`: the addresses of its healthy endpoints (and,
/// when `with_pending`, of those waiting for their first results), in
/// record order (only the first endpoint's under `first`).
pub(super) fn tier_candidates(
    spec: &RecordSpec,
    verdicts: &[EndpointVerdict],
    tier: u8,
    with_pending: bool,
) -> Vec<Candidate> {
    let answering = spec
        .endpoints
        .iter()
        .zip(verdicts)
        .filter(|(e, v)| e.priority == tier && (v.up || with_pending && v.pending_until.is_some()))
        .map(|(e, _)| e);
    policy_candidates(spec, answering)
}

/// The answer from `candidates` under the record's policy.
pub(super) fn answer(spec: &RecordSpec, candidates: Vec<Candidate>) -> Answer {
    let (candidates, selection) = pick(spec, candidates);
    Answer::Addresses {
        candidates,
        selection,
        backup: None,
    }
}

/// The candidates an answer keeps under the record's policy, and how each
/// query picks among them.
pub(super) fn pick(spec: &RecordSpec, mut candidates: Vec<Candidate>) -> (Vec<Candidate>, Selection) {
    let take = spec.max_answers.max(1);
    // policy          | candidates                               | each answer
    // ----------------+------------------------------------------+----------------------------
    // all             | every address, the first max_answers     | the candidates (Fixed)
    // first           | the first endpoint's, the first max_...  | the candidates (Fixed)
    // round_robin     | every address                            | rotated per query, first max_answers
    // weighted        | every address with its endpoint's weight | max_answers drawn by weight
    // consistent_hash | every address                            | one, by the client's hash bucket
    let selection = match spec.policy {
        Policy::All | Policy::First => {
            candidates.truncate(take);
            Selection::Fixed
        }
        Policy::RoundRobin => Selection::RoundRobin { take },
        Policy::Weighted => Selection::Weighted { take },
        Policy::ConsistentHash => Selection::ConsistentHash,
    };
    (candidates, selection)
}

/// The answer when no tier is healthy.
pub(super) fn all_down(spec: &RecordSpec, state: &RecordState) -> (Answer, AllDownRule) {
    // all_down | answer                                                  | rule
    // ---------+---------------------------------------------------------+-----------------
    // all      | the policy over every endpoint, best tier first         | All
    // last     | the policy over the last healthy candidates             | Last
    // last     | never healthy: the policy over the best tier's endpoints| LastNeverHealthy
    // backup   | the backup addresses, as given                          | Backup
    // none     | NODATA                                                  | None
    // servfail | SERVFAIL                                                | Servfail
    match (&spec.all_down, &state.last_healthy) {
        (AllDown::All, _) => {
            let mut endpoints: Vec<&RecordEndpoint> = spec.endpoints.iter().collect();
            endpoints.sort_by_key(|e| e.priority);
            let candidates = policy_candidates(spec, endpoints.into_iter());
            (answer(spec, candidates), AllDownRule::All)
        }
        (AllDown::Last, Some(last)) => (answer(spec, last.clone()), AllDownRule::Last),
        (AllDown::Last, None) => {
            let best = spec.best_tier();
            let endpoints = spec.endpoints.iter().filter(|e| Some(e.priority) == best);
            let candidates = policy_candidates(spec, endpoints);
            (answer(spec, candidates), AllDownRule::LastNeverHealthy)
        }
        (AllDown::Backup(addresses), _) => {
            let candidates = addresses
                .iter()
                .map(|&address| Candidate { address, weight: 1 })
                .collect();
            let answer = Answer::Addresses {
                candidates,
                selection: Selection::Fixed,
                backup: None,
            };
            (answer, AllDownRule::Backup)
        }
        (AllDown::None, _) => (Answer::NoData, AllDownRule::None),
        (AllDown::Servfail, _) => (Answer::ServFail, AllDownRule::Servfail),
    }
}

/// The candidates of `endpoints` (those answering) under the record's
/// policy: `first` keeps the first endpoint only.
fn policy_candidates<'a>(spec: &RecordSpec, endpoints: impl Iterator<Item = &'a RecordEndpoint>) -> Vec<Candidate> {
    match spec.policy {
        Policy::First => candidates(endpoints.take(1)),
        Policy::All | Policy::Weighted | Policy::RoundRobin | Policy::ConsistentHash => candidates(endpoints),
    }
}

/// Every address of `endpoints` once, in order, with its endpoint's weight.
/// An address two endpoints share is one candidate with both weights
/// (RFC 2181 §5: an RRset has no duplicate records).
fn candidates<'a>(endpoints: impl Iterator<Item = &'a RecordEndpoint>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for e in endpoints {
        for &address in &e.addresses {
            match out.iter_mut().find(|c| c.address == address) {
                Some(c) => c.weight = c.weight.saturating_add(e.weight),
                None => out.push(Candidate {
                    address,
                    weight: e.weight,
                }),
            }
        }
    }
    out
}
