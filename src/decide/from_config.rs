//! From the resolved configuration to decide's specifications: one
//! [`EndpointSpec`] per endpoint, one [`RecordSpec`] per health-checked
//! record, numbered the way observations and answer sets name them, and the
//! [`GuardSpec`] of `[health]`.
//!
//! Numbering: endpoints in configuration order across all records
//! ([`EndpointId`]), checks by their index in `Config::checks`
//! ([`CheckId`]), records in configuration order ([`RecordId`]). The
//! observe stage must name its outcomes the same way, so both number from
//! [`specs`].
//!
//! Failure groups (for the correlated-failure breaker): endpoints of one
//! record name (its A and AAAA records alike) and endpoints probed at one
//! address are related and share a group; the group is named by its first
//! endpoint's id.
//!
//! Dual-stack records (`type = ["A", "AAAA"]`) arrive as two records, one
//! per family, whose endpoints are the families of the endpoints as written
//! (`web1/v4`, `web1/v6`), each with its own verdict. With
//! `families = "together"` each of them [requires](RecordEndpoint::requires)
//! the other families of its endpoint, so the two answers fail over
//! together.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use super::answer_set::{self, RecordEndpoint, RecordSpec, RecordSpecError, Share};
use super::guard::{BreakerSpec, GuardSpec};
use super::verdict::{self, CheckParams, CheckSpec, EndpointSpec};
use super::{CheckId, EndpointId, Millis, RecordId};
use crate::config::Config;
use crate::config::health::{self, CheckConfig, EndpointConfig, Families, HealthConfig, RecordConfig};
use crate::dns::rtype;

/// Everything decide needs from a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specs {
    pub endpoints: Vec<EndpointSpec>,
    pub records: Vec<RecordSpec>,
    pub guard: GuardSpec,
}

/// The specifications of `config`'s health-checked records.
pub fn specs(config: &Config) -> Result<Specs, RecordSpecError> {
    let mut specs = Specs {
        endpoints: Vec::new(),
        records: Vec::new(),
        guard: guard_spec(&config.health),
    };
    let families = families_of_endpoints(&config.records);
    for (i, record) in config.records.iter().enumerate() {
        let first = specs.endpoints.len();
        for endpoint in &record.endpoints {
            let id = EndpointId(specs.endpoints.len() as u32);
            specs
                .endpoints
                .push(endpoint_spec(id, record, endpoint, &config.checks));
        }
        let ids = (first..specs.endpoints.len()).map(|n| EndpointId(n as u32));
        let spec = record_spec(RecordId(i as u32), record, ids, &families);
        spec.validate()?;
        specs.records.push(spec);
    }
    for (endpoint, group) in specs.endpoints.iter_mut().zip(failure_groups(&config.records)) {
        endpoint.group = group;
    }
    Ok(specs)
}

/// The ids of every family of each dual-stack endpoint, by its name as
/// written.
fn families_of_endpoints(records: &[RecordConfig]) -> HashMap<&str, Vec<EndpointId>> {
    let mut families: HashMap<&str, Vec<EndpointId>> = HashMap::new();
    let endpoints = records.iter().flat_map(|r| &r.endpoints);
    for (n, endpoint) in endpoints.enumerate() {
        if let Some(of) = &endpoint.family {
            families
                .entry(of.endpoint.as_str())
                .or_default()
                .push(EndpointId(n as u32));
        }
    }
    families
}

/// What endpoint `id` of `record` requires to count as up: with
/// `families = "together"`, the other families of its endpoint.
fn requires(
    record: &RecordConfig,
    endpoint: &EndpointConfig,
    id: EndpointId,
    families: &HashMap<&str, Vec<EndpointId>>,
) -> Vec<EndpointId> {
    match (record.families, &endpoint.family) {
        (Some(Families::Together), Some(of)) => families[of.endpoint.as_str()]
            .iter()
            .copied()
            .filter(|&other| other != id)
            .collect(),
        _ => Vec::new(),
    }
}

fn guard_spec(health: &HealthConfig) -> GuardSpec {
    GuardSpec {
        breaker: health.breaker.map(|b| BreakerSpec {
            share: Share::from_millionths(b.share).unwrap_or(Share::ALL),
            min_groups: b.min_endpoints,
            window: millis(b.window),
        }),
        startup_grace: millis(health.startup_grace),
    }
}

/// The failure group of every endpoint, in endpoint order: the smallest
/// endpoint index it is related to through shared record names and probed
/// addresses (union-find).
fn failure_groups(records: &[RecordConfig]) -> Vec<u32> {
    let endpoints: Vec<(String, IpAddr)> = records
        .iter()
        .flat_map(|r| {
            let name = r.name.lowercase().to_string();
            r.endpoints
                .iter()
                .map(move |e| (name.clone(), e.target.unwrap_or(e.addresses[0])))
        })
        .collect();
    let mut parent: Vec<usize> = (0..endpoints.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut by_address: HashMap<IpAddr, usize> = HashMap::new();
    for (i, (name, address)) in endpoints.iter().enumerate() {
        for first in [
            *by_name.entry(name).or_insert(i),
            *by_address.entry(*address).or_insert(i),
        ] {
            let (a, b) = (root(&mut parent, first), root(&mut parent, i));
            parent[a.max(b)] = a.min(b);
        }
    }
    (0..endpoints.len()).map(|i| root(&mut parent, i) as u32).collect()
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
                key: check_key(&checks[c], record, endpoint),
                params: CheckParams {
                    rise: checks[c].rise,
                    fall: checks[c].fall,
                    interval: millis(checks[c].interval),
                },
            })
            .collect(),
        combine: record.combine,
        quorum: record.quorum,
        initial_up: endpoint.initial_up,
        group: id.0,
        damping: record.damping.map(|d| verdict::Damping {
            max_changes: d.max_changes,
            window: millis(d.window),
            hold: millis(d.hold),
        }),
    }
}

/// The check's name and a fingerprint of what it probes: its definition,
/// the endpoint's addresses and target, and the record's name (an HTTP
/// check's default Host header). A reload that changes any of them starts
/// the check's evidence afresh; any other change keeps it.
fn check_key(check: &CheckConfig, record: &RecordConfig, endpoint: &EndpointConfig) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    format!("{check:?}").hash(&mut hasher);
    record.name.lowercase().hash(&mut hasher);
    endpoint.addresses.hash(&mut hasher);
    endpoint.target.hash(&mut hasher);
    format!("{}#{:016x}", check.name, hasher.finish())
}

fn record_spec(
    id: RecordId,
    record: &RecordConfig,
    ids: impl Iterator<Item = EndpointId>,
    families: &HashMap<&str, Vec<EndpointId>>,
) -> RecordSpec {
    RecordSpec {
        id,
        name: record_name(record),
        ttl: record.ttl,
        ttl_degraded: record.ttl_degraded,
        policy: record.policy,
        max_answers: record.max_answers,
        failback: match record.failback {
            health::Failback::Auto { hold } => answer_set::Failback::Auto { hold: millis(hold) },
            health::Failback::Manual => answer_set::Failback::Manual,
        },
        all_down: record.all_down.clone(),
        min_healthy: record.min_healthy,
        backup_share: Share::from_millionths(record.backup_share).unwrap_or(Share::ALL),
        endpoints: record
            .endpoints
            .iter()
            .zip(ids)
            .map(|(e, endpoint)| RecordEndpoint {
                endpoint,
                requires: requires(record, e, endpoint, families),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Sources};
    use crate::decide::verdict::Verdicts;
    use crate::decide::{LocationId, Outcome};

    const ZONE: &str = r#"
[[zone]]
origin = "example.test"
records = [
  "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60",
  "@ 300 IN NS ns1",
  "ns1 300 IN A 192.0.2.53",
]

[check.web]
kind = "tcp"
port = 80
interval = "1s"
timeout = "500ms"
"#;

    fn load(name: &str, text: &str) -> Config {
        let path = std::env::temp_dir().join(format!("lifeline-from-config-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, format!("{text}\n{ZONE}")).unwrap();
        let config = config::load(&Sources {
            file: Some(path.clone()),
            ..Sources::default()
        });
        let _ = std::fs::remove_file(path);
        config.unwrap()
    }

    const RECORDS: &str = r#"
[[record]]
name = "www.example.test"
type = "A"
endpoint = [
  { name = "www-1", address = "192.0.2.1", checks = ["web"] },
  { name = "www-2", address = "192.0.2.2", checks = ["web"] },
]

[[record]]
name = "www.example.test"
type = "AAAA"
endpoint = [{ name = "www-6", address = "2001:db8::1", checks = ["web"] }]

[[record]]
name = "shop.example.test"
type = "A"
endpoint = [{ name = "shop-1", address = "192.0.2.100", checks = ["web"] }]

[[record]]
name = "blog.example.test"
type = "A"
endpoint = [
  { name = "blog-1", address = "192.0.2.200", target = "192.0.2.100", checks = ["web"] },
  { name = "blog-2", address = "192.0.2.201", checks = ["web"] },
]

[[record]]
name = "api.example.test"
type = "A"
min_healthy = "50%"
backup_share = 0.25
policy = "consistent_hash"
endpoint = [{ name = "api-1", address = "192.0.2.50", checks = ["web"] }]
"#;

    #[test]
    fn failure_groups_join_one_name_and_one_probed_address() {
        let specs = specs(&load("groups", RECORDS)).unwrap();
        let groups: Vec<(&str, u32)> = specs.endpoints.iter().map(|e| (e.name.as_str(), e.group)).collect();
        assert_eq!(
            groups,
            [
                // www A and AAAA: one name.
                ("www-1", 0),
                ("www-2", 0),
                ("www-6", 0),
                // shop, and blog through blog-1's target: one host.
                ("shop-1", 3),
                ("blog-1", 3),
                ("blog-2", 3),
                ("api-1", 6),
            ]
        );
    }

    #[test]
    fn record_keys_map_to_the_record_spec() {
        let specs = specs(&load("keys", RECORDS)).unwrap();
        let api = &specs.records[4];
        assert_eq!(api.min_healthy, answer_set::MinHealthy::Percent(50));
        assert_eq!(api.backup_share.millionths(), 250_000);
        assert_eq!(api.policy, answer_set::Policy::ConsistentHash);
        assert_eq!(specs.records[0].min_healthy, answer_set::MinHealthy::Count(1));
        assert_eq!(specs.records[0].backup_share, Share::NONE);
    }

    #[test]
    fn the_health_table_gives_the_guard_spec() {
        let defaults = specs(&load("guard-defaults", RECORDS)).unwrap().guard;
        assert_eq!(
            defaults,
            GuardSpec {
                breaker: Some(BreakerSpec {
                    share: Share::from_millionths(500_000).unwrap(),
                    min_groups: 4,
                    window: 10_000,
                }),
                startup_grace: 30_000,
            }
        );
        let text = format!(
            "[health]\nbreaker_share = 0.75\nbreaker_min_endpoints = 10\nbreaker_window = \"1m\"\n\
             startup_grace = \"5s\"\n{RECORDS}"
        );
        let set = specs(&load("guard-set", &text)).unwrap().guard;
        let breaker = set.breaker.unwrap();
        assert_eq!(
            (breaker.share.millionths(), breaker.min_groups, breaker.window),
            (750_000, 10, 60_000)
        );
        assert_eq!(set.startup_grace, 5_000);
        let off = specs(&load("guard-off", &format!("[health]\nbreaker = false\n{RECORDS}"))).unwrap();
        assert_eq!(off.guard.breaker, None);
    }

    #[test]
    fn a_reload_with_unchanged_checks_keeps_their_verdicts() {
        let before = specs(&load("reload-1", RECORDS)).unwrap();
        let mut verdicts = Verdicts::new(before.endpoints.clone(), 0).unwrap();
        for at in [0, 1000, 2000] {
            verdicts.observe(&Outcome {
                endpoint: EndpointId(0),
                check: CheckId(0),
                location: LocationId(0),
                ok: false,
                at,
            });
        }
        assert!(!verdicts.is_up(EndpointId(0)));
        // Another TTL, a new record first: ids move, the check is the same.
        let changed = RECORDS.replacen("type = \"A\"\n", "type = \"A\"\nttl = 60\n", 1);
        let text = format!(
            "[[record]]\nname = \"new.example.test\"\ntype = \"A\"\n\
             endpoint = [{{ name = \"new-1\", address = \"192.0.2.9\", checks = [\"web\"] }}]\n{changed}"
        );
        let after = specs(&load("reload-2", &text)).unwrap();
        assert_eq!(after.endpoints[1].name, "www-1");
        assert_eq!(after.endpoints[1].checks[0].key, before.endpoints[0].checks[0].key);
        verdicts.reconfigure(after.endpoints, 3000).unwrap();
        assert!(
            !verdicts.is_up(EndpointId(1)),
            "www-1 keeps its verdict under its new id"
        );
        let evidence = &verdicts.verdict(EndpointId(1)).unwrap().evidence[0];
        assert_eq!(evidence.locations[0].failures, 3, "and its evidence");
        // A check of another address starts afresh.
        let other = specs(&load("reload-3", &RECORDS.replace("192.0.2.1\"", "192.0.2.7\""))).unwrap();
        assert_ne!(other.endpoints[0].checks[0].key, before.endpoints[0].checks[0].key);
    }

    const DUAL: &str = r#"
[[record]]
name = "www.example.test"
type = ["A", "AAAA"]
families = "FAMILIES"
endpoint = [
  { name = "web1", addresses = ["192.0.2.1", "2001:db8::1"], checks = ["web"] },
  { name = "web2", address = "192.0.2.2", priority = 2, checks = ["web"] },
  { name = "web3", addresses = ["2001:db8::3", "2001:db8::33"], checks = ["web"] },
]
"#;

    fn dual(families: &str) -> (Config, Specs) {
        let config = load(&format!("dual-{families}"), &DUAL.replace("FAMILIES", families));
        let specs = specs(&config).unwrap();
        (config, specs)
    }

    #[test]
    fn a_dual_stack_record_is_one_record_per_family_with_an_endpoint_per_family() {
        let (config, specs) = dual("independent");
        let names: Vec<String> = config.records.iter().map(record_name).collect();
        assert_eq!(names, ["www.example.test/A", "www.example.test/AAAA"]);
        let endpoints: Vec<&str> = specs.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(endpoints, ["web1/v4", "web2/v4", "web1/v6", "web3/v6"]);
        let addresses = |r: usize| -> Vec<Vec<String>> {
            specs.records[r]
                .endpoints
                .iter()
                .map(|e| e.addresses.iter().map(ToString::to_string).collect())
                .collect()
        };
        assert_eq!(addresses(0), [vec!["192.0.2.1"], vec!["192.0.2.2"]]);
        assert_eq!(addresses(1), [vec!["2001:db8::1"], vec!["2001:db8::3", "2001:db8::33"]]);
        // Each family's check probes its own address: distinct evidence.
        assert_ne!(specs.endpoints[0].checks[0].key, specs.endpoints[2].checks[0].key);
        // Independent: no endpoint requires another.
        assert!(
            specs
                .records
                .iter()
                .flat_map(|r| &r.endpoints)
                .all(|e| e.requires.is_empty())
        );
        // One record name: one failure group.
        assert!(specs.endpoints.iter().all(|e| e.group == 0));
    }

    #[test]
    fn together_makes_each_family_of_an_endpoint_require_the_others() {
        let (_, specs) = dual("together");
        let requires = |r: usize| -> Vec<(u32, Vec<u32>)> {
            specs.records[r]
                .endpoints
                .iter()
                .map(|e| (e.endpoint.0, e.requires.iter().map(|x| x.0).collect()))
                .collect()
        };
        // web1/v4 (0) and web1/v6 (2) require each other; web2 and web3
        // have one family each and require nothing.
        assert_eq!(requires(0), [(0, vec![2]), (1, vec![])]);
        assert_eq!(requires(1), [(2, vec![0]), (3, vec![])]);
        let mut state = answer_set::RecordState::default();
        // web1/v6 down: web1 leaves the A answer too, which fails over to web2.
        let set = answer_set::compute(&specs.records[0], &mut state, |id| id != EndpointId(2), 0);
        let answer = match set.answer {
            answer_set::Answer::Addresses { candidates, .. } => candidates,
            other => panic!("{other:?}"),
        };
        assert_eq!(answer.len(), 1);
        assert_eq!(answer[0].address.to_string(), "192.0.2.2");
    }
}
