//! Every configurable limit, with its default, its range and the reason
//! for them. Values outside the range are errors, never clamped.

use std::time::Duration;

/// A numeric limit: where it is set, its default, its bounds, and why.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub key: &'static str,
    pub default: u64,
    pub min: u64,
    pub max: u64,
    pub why: &'static str,
}

impl Limit {
    /// Checks a value against the bounds.
    pub fn check(&self, value: i64) -> Result<u64, String> {
        match u64::try_from(value) {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => Err(format!(
                "{value} is out of range: allowed {}..={} ({})",
                self.min, self.max, self.why
            )),
        }
    }
}

/// Largest UDP payload sent (RFC 6891 §6.2.5). 1232 is the DNS Flag Day
/// 2020 value that avoids IP fragmentation on common paths; 512 is the
/// RFC 1035 floor; 4096 bounds the receive buffers of the UDP workers.
pub const EDNS_UDP_SIZE: Limit = Limit {
    key: "limits.edns_udp_size",
    default: 1232,
    min: 512,
    max: 4096,
    why: "RFC 6891 §6.2.5; 1232 avoids fragmentation",
};

/// Simultaneous TCP connections (RFC 7766 §6.2.2 asks servers to bound
/// them); each costs a task and 128 KiB of buffers.
pub const TCP_CONNECTIONS: Limit = Limit {
    key: "limits.tcp_connections",
    default: 1024,
    min: 1,
    max: 65536,
    why: "RFC 7766 §6.2.2",
};

/// Seconds-scale idle timeout for TCP connections (RFC 7766 §6.2.3).
pub const TCP_IDLE_TIMEOUT: DurationLimit = DurationLimit {
    key: "limits.tcp_idle_timeout",
    default: Duration::from_secs(10),
    min: Duration::from_millis(100),
    max: Duration::from_secs(3600),
    why: "RFC 7766 §6.2.3",
};

/// UDP worker threads per listen address; default one per core.
pub const UDP_THREADS: Limit = Limit {
    key: "server.udp_threads",
    default: 0, // 0 = one per core, see `default_udp_threads`
    min: 1,
    max: 256,
    why: "one thread per core is the design; more only adds context switches",
};

/// Longest server identity string (one TXT character-string,
/// RFC 1035 §3.3).
pub const IDENTITY_LEN: Limit = Limit {
    key: "server.identity",
    default: 0,
    min: 1,
    max: 255,
    why: "one TXT character-string, RFC 1035 §3.3",
};

/// Depth of nested `$INCLUDE` in zone files.
pub const INCLUDE_DEPTH: usize = 8;

/// A duration limit.
#[derive(Debug, Clone, Copy)]
pub struct DurationLimit {
    pub key: &'static str,
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
    pub why: &'static str,
}

impl DurationLimit {
    pub fn check(&self, value: Duration) -> Result<Duration, String> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "{value:?} is out of range: allowed {:?}..={:?} ({})",
                self.min, self.max, self.why
            ))
        }
    }
}

/// A fraction limit (0 to 1), resolved to millionths.
#[derive(Debug, Clone, Copy)]
pub struct FractionLimit {
    pub key: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub why: &'static str,
}

impl FractionLimit {
    /// Checks a value against the bounds; the value in millionths.
    pub fn check(&self, value: f64) -> Result<u32, String> {
        if (self.min..=self.max).contains(&value) {
            Ok((value * 1e6).round() as u32)
        } else {
            Err(format!(
                "{value} is out of range: allowed {}..={} ({})",
                self.min, self.max, self.why
            ))
        }
    }

    pub fn default_millionths(&self) -> u32 {
        (self.default * 1e6).round() as u32
    }
}

/// One UDP worker per core.
pub fn default_udp_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How often a check runs. 100 ms is the fastest DESIGN.md §2 allows.
pub const CHECK_INTERVAL: DurationLimit = DurationLimit {
    key: "check.interval",
    default: Duration::from_secs(5),
    min: Duration::from_millis(100),
    max: Duration::from_secs(3600),
    why: "DESIGN.md §2: as low as 100 ms",
};

/// How long one check may take; must also be below its interval.
pub const CHECK_TIMEOUT: DurationLimit = DurationLimit {
    key: "check.timeout",
    default: Duration::from_secs(2),
    min: Duration::from_millis(10),
    max: Duration::from_secs(600),
    why: "a check must finish before the next one is due",
};

/// Consecutive successes to go up.
pub const RISE: Limit = Limit {
    key: "check.rise",
    default: 2,
    min: 1,
    max: 100,
    why: "consecutive results",
};

/// Consecutive failures to go down.
pub const FALL: Limit = Limit {
    key: "check.fall",
    default: 3,
    min: 1,
    max: 100,
    why: "consecutive results",
};

/// TTL of a health-checked record: short, since resolvers cache answers
/// and the TTL bounds how fast a change reaches clients.
pub const RECORD_TTL: Limit = Limit {
    key: "record.ttl",
    default: 30,
    min: 0,
    max: 86400,
    why: "RFC 2181 §8; a failover record's TTL bounds how fast clients move",
};

/// Addresses in one answer: 64 A records still fit in 1232 octets.
pub const MAX_ANSWERS: Limit = Limit {
    key: "record.max_answers",
    default: 8,
    min: 1,
    max: 64,
    why: "answers must fit a UDP reply",
};

/// Endpoint tiers: 1 is preferred.
pub const PRIORITY: Limit = Limit {
    key: "endpoint.priority",
    default: 1,
    min: 1,
    max: 255,
    why: "tier number",
};

/// Relative weight for the `weighted` policy.
pub const WEIGHT: Limit = Limit {
    key: "endpoint.weight",
    default: 1,
    min: 1,
    max: 10000,
    why: "relative share",
};

/// Locations that must agree an endpoint is up.
pub const QUORUM: Limit = Limit {
    key: "record.quorum",
    default: 1,
    min: 1,
    max: 64,
    why: "check locations",
};

/// Bytes of an HTTP body read for matching.
pub const BODY_LIMIT: Limit = Limit {
    key: "check.body_limit",
    default: 65536,
    min: 1,
    max: 1 << 20,
    why: "bounded memory per check",
};

/// Days before certificate expiry that raise a warning.
pub const CERT_WARN_DAYS: Limit = Limit {
    key: "check.cert_warn_days",
    default: 14,
    min: 0,
    max: 3650,
    why: "days",
};

/// ICMP echo requests per check.
pub const ICMP_COUNT: Limit = Limit {
    key: "check.count",
    default: 1,
    min: 1,
    max: 10,
    why: "one result per check",
};

/// ICMP payload bytes.
pub const ICMP_SIZE: Limit = Limit {
    key: "check.size",
    default: 56,
    min: 0,
    max: 1472,
    why: "fits a 1500-byte MTU",
};

/// Time a better tier must stay healthy before automatic failback.
pub const FAILBACK_HOLD: DurationLimit = DurationLimit {
    key: "record.failback_hold",
    default: Duration::ZERO,
    min: Duration::ZERO,
    max: Duration::from_secs(86400),
    why: "up to a day",
};

/// State changes within the damping window that trigger a hold.
pub const FLAP_CHANGES: Limit = Limit {
    key: "record.flap_damping.max_changes",
    default: 4,
    min: 1,
    max: 1000,
    why: "changes per window",
};

/// The window in which flap-damping changes are counted.
pub const FLAP_WINDOW: DurationLimit = DurationLimit {
    key: "record.flap_damping.window",
    default: Duration::from_secs(60),
    min: Duration::from_secs(1),
    max: Duration::from_secs(86400),
    why: "up to a day",
};

/// How long a flapping endpoint must stay stable before it counts again.
pub const FLAP_HOLD: DurationLimit = DurationLimit {
    key: "record.flap_damping.hold",
    default: Duration::from_secs(120),
    min: Duration::from_secs(1),
    max: Duration::from_secs(86400),
    why: "up to a day",
};

/// Length of an API bearer token: 16 characters is 64 bits of entropy as
/// hex, the least that makes guessing hopeless; 4096 keeps it within one
/// HTTP header line.
pub const API_TOKEN_LEN: Limit = Limit {
    key: "api.token_file",
    default: 0,
    min: 16,
    max: 4096,
    why: "at least 64 bits as hex; fits one header line",
};

/// Largest request body the API reads: an override or a failback is a
/// few hundred bytes; anything bigger is refused before it is parsed.
pub const API_BODY_BYTES: usize = 64 * 1024;

/// Events the API keeps in memory for `GET /v1/events`: answer, verdict
/// and override changes, and check results that differ from the one
/// before. A few hours of a busy installation at roughly 300 bytes each.
pub const API_EVENTS_KEPT: usize = 10_000;

/// Results kept per check of each endpoint for the status page's latency
/// charts: a minute of a check every second; about 40 bytes each.
pub const API_CHECK_HISTORY: usize = 60;

/// Events in one page of `GET /v1/events` (`limit=`).
pub const API_EVENTS_PAGE: Limit = Limit {
    key: "limit",
    default: 100,
    min: 1,
    max: 1000,
    why: "events per page",
};

/// How long an operator's override may be set to last (`for`).
pub const OVERRIDE_FOR: DurationLimit = DurationLimit {
    key: "for",
    default: Duration::ZERO,
    min: Duration::from_secs(1),
    max: Duration::from_secs(90 * 86400),
    why: "a maintenance window, up to 90 days",
};

/// Longest override reason and author, in characters (as the OpenAPI
/// document's `maxLength` counts): a sentence and a user name, kept in
/// every event about the override.
pub const OVERRIDE_REASON_CHARS: usize = 1024;
pub const OVERRIDE_BY_CHARS: usize = 128;

/// Endpoints of a tier that must be up for it to count as healthy.
pub const MIN_HEALTHY: Limit = Limit {
    key: "record.min_healthy",
    default: 1,
    min: 1,
    max: 10000,
    why: "endpoints per tier",
};

/// `min_healthy` as a percentage of a tier's endpoints.
pub const MIN_HEALTHY_PERCENT: Limit = Limit {
    key: "record.min_healthy",
    default: 0,
    min: 1,
    max: 100,
    why: "a percentage of the tier",
};

/// The share of answers sent to the next healthy tier; realised in steps of
/// 1/64 (the prebuilt variants).
pub const BACKUP_SHARE: FractionLimit = FractionLimit {
    key: "record.backup_share",
    default: 0.0,
    min: 0.0,
    max: 1.0,
    why: "a fraction; 1 sends every answer to the next tier",
};

/// The share of unrelated endpoints that must go down within the window
/// for the correlated-failure breaker to trip. Below 10% one failure among
/// ten would trip it; at 100% it could never trip (write breaker = false).
pub const BREAKER_SHARE: FractionLimit = FractionLimit {
    key: "health.breaker_share",
    default: 0.5,
    min: 0.1,
    max: 0.95,
    why: "a fraction; below 0.1 single failures trip it",
};

/// Unrelated endpoints (failure groups) needed for the breaker to trip: with
/// fewer, a share says little about the cause.
pub const BREAKER_MIN_ENDPOINTS: Limit = Limit {
    key: "health.breaker_min_endpoints",
    default: 4,
    min: 2,
    max: 1_000_000,
    why: "unrelated endpoints",
};

/// The window in which failures count as one burst. At least the longest
/// check interval: the checks that see one network fault report it over an
/// interval.
pub const BREAKER_WINDOW: DurationLimit = DurationLimit {
    key: "health.breaker_window",
    default: Duration::from_secs(10),
    min: Duration::from_secs(1),
    max: Duration::from_secs(3600),
    why: "up to an hour",
};

/// How long after the start a tier whose endpoints wait for their first
/// check results is waited for, rather than failed over from.
pub const STARTUP_GRACE: DurationLimit = DurationLimit {
    key: "health.startup_grace",
    default: Duration::from_secs(30),
    min: Duration::ZERO,
    max: Duration::from_secs(3600),
    why: "up to an hour",
};

/// How long one webhook delivery may take, connection and answer included.
pub const WEBHOOK_TIMEOUT: DurationLimit = DurationLimit {
    key: "webhook.timeout",
    default: Duration::from_secs(10),
    min: Duration::from_millis(100),
    max: Duration::from_secs(300),
    why: "a receiver should answer at once and work afterwards",
};

/// Attempts at delivering one event before it is given up.
pub const WEBHOOK_ATTEMPTS: Limit = Limit {
    key: "webhook.max_attempts",
    default: 12,
    min: 1,
    max: 1000,
    why: "attempts per event",
};

/// The wait after the first failed attempt; it doubles with each failure.
pub const WEBHOOK_BACKOFF: DurationLimit = DurationLimit {
    key: "webhook.backoff",
    default: Duration::from_secs(1),
    min: Duration::from_millis(10),
    max: Duration::from_secs(3600),
    why: "up to an hour",
};

/// The longest wait between two attempts.
pub const WEBHOOK_MAX_BACKOFF: DurationLimit = DurationLimit {
    key: "webhook.max_backoff",
    default: Duration::from_secs(300),
    min: Duration::from_millis(10),
    max: Duration::from_secs(86400),
    why: "up to a day",
};

/// Events waiting for one webhook; beyond it the oldest is dropped. About
/// 1 KiB each, in memory and in the store.
pub const WEBHOOK_QUEUE: Limit = Limit {
    key: "webhook.queue",
    default: 10_000,
    min: 1,
    max: 1_000_000,
    why: "bounded memory and store size per webhook",
};

/// Length of a webhook's HMAC key: at least 16 bytes (128 bits; RFC 2104
/// §3 recommends the hash output, 32 bytes for SHA-256); 4096 keeps it one
/// line of a file.
pub const WEBHOOK_SECRET_LEN: Limit = Limit {
    key: "webhook.secret",
    default: 0,
    min: 16,
    max: 4096,
    why: "at least 128 bits, RFC 2104 §3; e.g. `openssl rand -hex 32`",
};
/// How long the event history is kept (`server.event_retention`): a week
/// covers the incident reviews of the week after; 10 years bounds it.
pub const EVENT_RETENTION: DurationLimit = DurationLimit {
    key: "server.event_retention",
    default: Duration::from_secs(7 * 86400),
    min: Duration::from_secs(60),
    max: Duration::from_secs(3650 * 86400),
    why: "a minute to ten years",
};

/// Most events the history keeps (`server.event_retention_rows`): at
/// roughly 400 bytes each, a million rows is about 400 MB on disk.
pub const EVENT_RETENTION_ROWS: Limit = Limit {
    key: "server.event_retention_rows",
    default: 1_000_000,
    min: 1000,
    max: 100_000_000,
    why: "bounds the store's size on disk",
};

/// Verdicts kept in the store are restored on start only if the previous
/// server was alive this recently. After a restart or a reboot the world
/// is much as it was; after a longer outage the endpoints may have changed
/// meanwhile, and starting from the configured initial state is what a new
/// deployment would do.
pub const VERDICT_RESTORE_WITHIN: Duration = Duration::from_secs(3600);
