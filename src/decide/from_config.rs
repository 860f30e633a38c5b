//! From the resolved configuration to decide's specifications: one
//! [`EndpointSpec`] per endpoint and one [`RecordSpec`] per health-checked
//! record, numbered the way observations and answer sets name them.
//!
//! Numbering: endpoints in configuration order across all records
//! ([`EndpointId`]), checks by their index in `Config::checks`
//! ([`CheckId`]), records in configuration order ([`RecordId`]). The
//! observe stage must name its outcomes the same way, so both number from
//! [`specs`].

use std::hash::{Hash, Hasher};
use std::time::Duration;

use super::answer_set::{self, RecordEndpoint, RecordSpec, RecordSpecError};
use super::verdict::{self, CheckParams, CheckSpec, EndpointSpec};
use super::{CheckId, EndpointId, Millis, RecordId};
use crate::config::Config;
use crate::config::health::{self, CheckConfig, EndpointConfig, RecordConfig};
use crate::dns::rtype;

/// Everything decide needs from a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specs {
    pub endpoints: Vec<EndpointSpec>,
    pub records: Vec<RecordSpec>,
}

/// The specifications of `config`'s health-checked records.
pub fn specs(config: &Config) -> Result<Specs, RecordSpecError> {
    let mut specs = Specs {
        endpoints: Vec::new(),
        records: Vec::new(),
    };
    for (i, record) in config.records.iter().enumerate() {
        let first = specs.endpoints.len();
        for endpoint in &record.endpoints {
            let id = EndpointId(specs.endpoints.len() as u32);
            specs
                .endpoints
                .push(endpoint_spec(id, record, endpoint, &config.checks));
        }
        let ids = (first..specs.endpoints.len()).map(|n| EndpointId(n as u32));
        let spec = record_spec(RecordId(i as u32), record, ids);
        spec.validate()?;
        specs.records.push(spec);
    }
    Ok(specs)
}

/// `www.example.test/A`: how records are named in messages and scenarios.
pub fn record_name(record: &RecordConfig) -> String {
    let kind = if record.rtype == rtype::AAAA { "AAAA" } else { "A" };
    let name = record.name.to_string();
    format!("{}/{kind}", name.trim_end_matches('.'))
}

fn endpoint_spec(
    id: EndpointId,
    record: &RecordConfig,
    endpoint: &EndpointConfig,
    checks: &[CheckConfig],
) -> EndpointSpec {
    EndpointSpec {
        id,
        name: endpoint.name.clone(),
        checks: endpoint
            .checks
            .iter()
            .map(|&c| CheckSpec {
                id: CheckId(c as u32),
                key: check_key(&checks[c], endpoint),
                params: CheckParams {
                    rise: checks[c].rise,
                    fall: checks[c].fall,
                    interval: millis(checks[c].interval),
                },
            })
            .collect(),
        combine: match record.combine {
            health::Combine::All => verdict::Combine::All,
            health::Combine::Any => verdict::Combine::Any,
        },
        quorum: record.quorum,
        initial_up: endpoint.initial_up,
        damping: record.damping.map(|d| verdict::Damping {
            max_changes: d.max_changes,
            window: millis(d.window),
            hold: millis(d.hold),
        }),
    }
}

/// The check's name and a fingerprint of what it probes: its definition and
/// the endpoint's addresses and target. A reload that changes any of them
/// starts the check's evidence afresh.
fn check_key(check: &CheckConfig, endpoint: &EndpointConfig) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    format!("{check:?}").hash(&mut hasher);
    endpoint.addresses.hash(&mut hasher);
    endpoint.target.hash(&mut hasher);
    format!("{}#{:016x}", check.name, hasher.finish())
}

fn record_spec(id: RecordId, record: &RecordConfig, ids: impl Iterator<Item = EndpointId>) -> RecordSpec {
    RecordSpec {
        id,
        name: record_name(record),
        ttl: record.ttl,
        ttl_degraded: record.ttl_degraded,
        policy: match record.policy {
            health::Policy::All => answer_set::Policy::All,
            health::Policy::Weighted => answer_set::Policy::Weighted,
            health::Policy::RoundRobin => answer_set::Policy::RoundRobin,
            health::Policy::First => answer_set::Policy::First,
        },
        max_answers: record.max_answers,
        failback: match record.failback {
            health::Failback::Auto { hold } => answer_set::Failback::Auto { hold: millis(hold) },
            health::Failback::Manual => answer_set::Failback::Manual,
        },
        all_down: match &record.all_down {
            health::AllDown::All => answer_set::AllDown::All,
            health::AllDown::Last => answer_set::AllDown::Last,
            health::AllDown::Backup(addresses) => answer_set::AllDown::Backup(addresses.clone()),
            health::AllDown::None => answer_set::AllDown::None,
            health::AllDown::Servfail => answer_set::AllDown::Servfail,
        },
        endpoints: record
            .endpoints
            .iter()
            .zip(ids)
            .map(|(e, endpoint)| RecordEndpoint {
                endpoint,
                addresses: e.addresses.clone(),
                priority: e.priority,
                weight: e.weight,
            })
            .collect(),
    }
}

fn millis(d: Duration) -> Millis {
    d.as_millis().try_into().unwrap_or(Millis::MAX)
}
