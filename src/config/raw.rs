//! The configuration file as written (TOML). Unknown keys are rejected;
//! values keep their position so that later checks can point at them.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub zone: Vec<RawZone>,
    #[serde(default)]
    pub record: Vec<RawRecord>,
    #[serde(default)]
    pub check: BTreeMap<String, Spanned<RawCheck>>,
    #[serde(default)]
    pub health: RawHealth,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub webhook: Vec<Spanned<super::webhook::RawWebhook>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Vec<Spanned<String>>>,
    pub udp_threads: Option<Spanned<i64>>,
    pub identity: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub nsid: Option<Spanned<String>>,
    pub state_dir: Option<Spanned<String>>,
    pub log_format: Option<Spanned<String>>,
    pub event_retention: Option<Spanned<String>>,
    pub event_retention_rows: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub edns_udp_size: Option<Spanned<i64>>,
    pub tcp_connections: Option<Spanned<i64>>,
    pub tcp_idle_timeout: Option<Spanned<String>>,
}

/// The HTTP API (`[api]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub enabled: Option<Spanned<bool>>,
    pub listen: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub auth: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub origin: Spanned<String>,
    pub file: Option<Spanned<String>>,
    pub records: Option<Spanned<Vec<Spanned<String>>>>,
}

/// Deployment-wide health settings (`[health]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub breaker: Option<Spanned<bool>>,
    pub breaker_share: Option<Spanned<toml::Value>>,
    pub breaker_min_endpoints: Option<Spanned<i64>>,
    pub breaker_window: Option<Spanned<String>>,
    pub startup_grace: Option<Spanned<String>>,
}

/// A health-checked record (`[[record]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    pub name: Spanned<String>,
    /// `"A"`, `"AAAA"`, or `["A", "AAAA"]` for a dual-stack record.
    #[serde(rename = "type")]
    pub rtype: Spanned<toml::Value>,
    /// With both types: `independent` or `together`.
    pub families: Option<Spanned<String>>,
    pub ttl: Option<Spanned<i64>>,
    pub ttl_degraded: Option<Spanned<i64>>,
    pub policy: Option<Spanned<String>>,
    pub max_answers: Option<Spanned<i64>>,
    pub failback: Option<Spanned<String>>,
    pub failback_hold: Option<Spanned<String>>,
    pub all_down: Option<Spanned<String>>,
    pub backup: Option<Vec<Spanned<String>>>,
    pub combine: Option<Spanned<String>>,
    pub quorum: Option<Spanned<i64>>,
    pub flap_damping: Option<Spanned<RawDamping>>,
    /// A count (`2`) or a percentage (`"50%"`).
    pub min_healthy: Option<Spanned<toml::Value>>,
    pub backup_share: Option<Spanned<toml::Value>>,
    pub endpoint: Spanned<Vec<Spanned<RawEndpoint>>>,
}

/// `flap_damping = { max_changes = 4, window = "60s", hold = "120s" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDamping {
    pub max_changes: Spanned<i64>,
    pub window: Spanned<String>,
    pub hold: Spanned<String>,
}

/// One endpoint of a record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub name: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub addresses: Option<Vec<Spanned<String>>>,
    pub target: Option<Spanned<String>>,
    pub priority: Option<Spanned<i64>>,
    pub weight: Option<Spanned<i64>>,
    #[serde(default)]
    pub checks: Vec<Spanned<String>>,
    pub initial: Option<Spanned<String>>,
    /// Labels for operating on endpoints in groups (`dc = "fra"`).
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, Spanned<String>>,
}

/// A check definition (`[check.NAME]`); which keys apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub kind: Spanned<String>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub rise: Option<Spanned<i64>>,
    pub fall: Option<Spanned<i64>>,
    pub port: Option<Spanned<i64>>,
    // http, https
    pub path: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub sni: Option<Spanned<String>>,
    pub status: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub body_regex: Option<Spanned<String>>,
    pub body_limit: Option<Spanned<i64>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    pub verify: Option<Spanned<bool>>,
    pub ca: Option<Spanned<String>>,
    pub user_agent: Option<Spanned<String>>,
    pub cert_warn_days: Option<Spanned<i64>>,
    // tcp
    pub send: Option<Spanned<String>>,
    pub expect: Option<Spanned<String>>,
    // icmp
    pub count: Option<Spanned<i64>>,
    pub size: Option<Spanned<i64>>,
    // dns
    pub query: Option<Spanned<String>>,
    pub query_type: Option<Spanned<String>>,
    pub rcode: Option<Spanned<String>>,
    pub answer: Option<Spanned<String>>,
    // exec
    pub command: Option<Spanned<String>>,
    pub args: Option<Vec<String>>,
}
