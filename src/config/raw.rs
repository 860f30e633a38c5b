//! The configuration file as written (TOML). Unknown keys are rejected;
//! values keep their position so that later checks can point at them.

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Vec<Spanned<String>>>,
    pub udp_threads: Option<Spanned<i64>>,
    pub identity: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub nsid: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub edns_udp_size: Option<Spanned<i64>>,
    pub tcp_connections: Option<Spanned<i64>>,
    pub tcp_idle_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub origin: Spanned<String>,
    pub file: Option<Spanned<String>>,
    pub records: Option<Spanned<Vec<Spanned<String>>>>,
}
