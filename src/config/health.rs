//! Health-checked records (`[[record]]`), their checks (`[check.NAME]`) and
//! the deployment-wide health settings (`[health]`), resolved and
//! cross-checked: every record lies in a served zone and does not clash
//! with its static data, every check named by an endpoint exists, timeouts
//! are below intervals, endpoint names are unique. A record of both types
//! (`type = ["A", "AAAA"]`) resolves into one record per address family
//! (see [`super::families`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::error::ConfigError;
pub use super::families::{Families, Family, FamilyOf};
use super::limits::{self, DurationLimit, FractionLimit, Limit};
use super::raw::{RawCheck, RawEndpoint, RawHealth, RawRecord};
use super::resolved::{FileCtx, ZoneData, parse_duration};
use crate::observe::StatusRange;
// The record's policies are decide's own types: configuration resolves
// straight into what decide consumes.
pub use crate::decide::answer_set::{AllDown, MinHealthy, Policy};
pub use crate::decide::verdict::Combine;
use crate::dns::{Name, rtype};

/// A check definition, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub kind: CheckKind,
}

/// What a check does, with the options of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Icmp(IcmpCheck),
    Dns(DnsCheck),
    Exec(ExecCheck),
}

impl CheckKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Http(h) if h.tls => "https",
            CheckKind::Http(_) => "http",
            CheckKind::Tcp(_) => "tcp",
            CheckKind::Icmp(_) => "icmp",
            CheckKind::Dns(_) => "dns",
            CheckKind::Exec(_) => "exec",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub tls: bool,
    pub port: u16,
    pub path: String,
    pub method: String,
    /// Host header; default: the record name.
    pub host: Option<String>,
    /// TLS server name; default: the Host header.
    pub sni: Option<String>,
    pub status: StatusRange,
    pub body: Option<BodyMatch>,
    pub body_limit: usize,
    pub headers: Vec<(String, String)>,
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub user_agent: String,
    pub cert_warn_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyMatch {
    Substring(String),
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    pub port: u16,
    pub send: Option<Vec<u8>>,
    pub expect: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpCheck {
    pub count: u32,
    pub size: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    pub port: u16,
    pub query: Name,
    pub qtype: u16,
    pub rcode: u16,
    pub answer: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCheck {
    pub command: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    Auto { hold: Duration },
    Manual,
}

/// A health-checked record, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    pub name: Name,
    /// `rtype::A` or `rtype::AAAA`.
    pub rtype: u16,
    /// `Some` when this is one family of a dual-stack record
    /// (`type = ["A", "AAAA"]`): how its families fail over. The other
    /// family is the record of the same name and the other type.
    pub families: Option<Families>,
    pub ttl: u32,
    pub ttl_degraded: Option<u32>,
    pub policy: Policy,
    pub max_answers: usize,
    pub failback: Failback,
    pub all_down: AllDown,
    pub combine: Combine,
    pub quorum: u16,
    /// Hold an endpoint down that changes state too often.
    pub damping: Option<DampingConfig>,
    pub min_healthy: MinHealthy,
    /// The share of answers sent to the next healthy tier, in millionths.
    pub backup_share: u32,
    pub endpoints: Vec<EndpointConfig>,
}

/// The deployment-wide health settings (`[health]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// The correlated-failure breaker; `None` when turned off.
    pub breaker: Option<BreakerConfig>,
    /// How long after the start a tier whose endpoints wait for their first
    /// results is waited for.
    pub startup_grace: Duration,
}

/// The correlated-failure breaker: when more than `share` of at least
/// `min_endpoints` unrelated endpoints go down within `window`, answers are
/// held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// In millionths.
    pub share: u32,
    pub min_endpoints: u32,
    pub window: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            breaker: Some(BreakerConfig {
                share: limits::BREAKER_SHARE.default_millionths(),
                min_endpoints: limits::BREAKER_MIN_ENDPOINTS.default as u32,
                window: limits::BREAKER_WINDOW.default,
            }),
            startup_grace: limits::STARTUP_GRACE.default,
        }
    }
}

/// Flap damping: more than `max_changes` state changes within `window`
/// hold the endpoint down until it has been stable for `hold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DampingConfig {
    pub max_changes: u32,
    pub window: Duration,
    pub hold: Duration,
}

/// One endpoint of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Unique across the configuration.
    pub name: String,
    pub addresses: Vec<IpAddr>,
    /// Address probed instead of the answered ones (e.g. a load balancer's
    /// health port); default: each answered address.
    pub target: Option<IpAddr>,
    pub priority: u8,
    pub weight: u32,
    /// Indexes into `Config::checks`.
    pub checks: Vec<usize>,
    pub initial_up: bool,
    /// `key = value` labels, sorted by key: operators drain by tag.
    pub tags: Vec<(String, String)>,
    /// In a dual-stack record: the endpoint as written and the family this
    /// one is (its `name` is then `NAME/v4` or `NAME/v6`).
    pub family: Option<FamilyOf>,
}

/// Check locations: this server (probe agents in other locations are not
/// configurable yet).
pub const CHECK_LOCATIONS: u16 = 1;

/// The User-Agent HTTP checks send unless told otherwise: servers that
/// block requests without one would otherwise fail every check.
pub fn default_user_agent() -> String {
    format!("lifeline/{} (health check)", env!("CARGO_PKG_VERSION"))
}

pub(super) fn limit(ctx: &FileCtx, v: &Option<Spanned<i64>>, field: &str, l: &Limit) -> Result<u64, ConfigError> {
    match v {
        None => Ok(l.default),
        Some(v) => l.check(*v.get_ref()).map_err(|m| ctx.error(v, field, m)),
    }
}

pub(super) fn duration(
    ctx: &FileCtx,
    v: &Option<Spanned<String>>,
    field: &str,
    l: &DurationLimit,
) -> Result<Duration, ConfigError> {
    let Some(v) = v else { return Ok(l.default) };
    let d = parse_duration(v.get_ref()).map_err(|m| ctx.error(v, field, m))?;
    l.check(d).map_err(|m| ctx.error(v, field, m))
}

/// A fraction from 0 to 1 (`0.1`, or `0` and `1` written as integers), in
/// millionths.
fn fraction(
    ctx: &FileCtx,
    v: &Option<Spanned<toml::Value>>,
    field: &str,
    l: &FractionLimit,
) -> Result<u32, ConfigError> {
    let Some(v) = v else {
        return Ok(l.default_millionths());
    };
    let value = match v.get_ref() {
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        other => {
            let message = format!("{other} is not a number; write a fraction such as 0.1");
            return Err(ctx.error(v, field, message));
        }
    };
    l.check(value).map_err(|m| ctx.error(v, field, m))
}

/// Resolves `[health]`.
pub(super) fn resolve_health(raw: &RawHealth, ctx: &FileCtx) -> Result<HealthConfig, ConfigError> {
    let on = raw.breaker.as_ref().is_none_or(|b| *b.get_ref());
    let startup_grace = duration(ctx, &raw.startup_grace, "health.startup_grace", &limits::STARTUP_GRACE)?;
    if !on {
        let keys = [
            ("breaker_share", raw.breaker_share.is_some()),
            ("breaker_min_endpoints", raw.breaker_min_endpoints.is_some()),
            ("breaker_window", raw.breaker_window.is_some()),
        ];
        if let Some((key, _)) = keys.iter().find(|(_, given)| *given) {
            let breaker = raw.breaker.as_ref().expect("breaker = false");
            let message = format!("{key} applies while breaker = true");
            return Err(ctx.error(breaker, &format!("health.{key}"), message));
        }
        return Ok(HealthConfig {
            breaker: None,
            startup_grace,
        });
    }
    let breaker = BreakerConfig {
        share: fraction(ctx, &raw.breaker_share, "health.breaker_share", &limits::BREAKER_SHARE)?,
        min_endpoints: limit(
            ctx,
            &raw.breaker_min_endpoints,
            "health.breaker_min_endpoints",
            &limits::BREAKER_MIN_ENDPOINTS,
        )? as u32,
        window: duration(
            ctx,
            &raw.breaker_window,
            "health.breaker_window",
            &limits::BREAKER_WINDOW,
        )?,
    };
    Ok(HealthConfig {
        breaker: Some(breaker),
        startup_grace,
    })
}

/// `min_healthy = 2` (endpoints) or `min_healthy = "50%"`.
fn min_healthy(ctx: &FileCtx, v: &Option<Spanned<toml::Value>>, field: &str) -> Result<MinHealthy, ConfigError> {
    let Some(v) = v else {
        return Ok(MinHealthy::Count(limits::MIN_HEALTHY.default as u32));
    };
    let bad = || {
        ctx.error(
            v,
            field,
            "write a count of endpoints (e.g. 2) or a percentage (e.g. \"50%\")",
        )
    };
    match v.get_ref() {
        toml::Value::Integer(n) => {
            let n = limits::MIN_HEALTHY.check(*n).map_err(|m| ctx.error(v, field, m))?;
            Ok(MinHealthy::Count(n as u32))
        }
        toml::Value::String(text) => {
            let number = text.trim().strip_suffix('%').ok_or_else(bad)?;
            let p: i64 = number.trim().parse().map_err(|_| bad())?;
            let p = limits::MIN_HEALTHY_PERCENT
                .check(p)
                .map_err(|m| ctx.error(v, field, m))?;
            Ok(MinHealthy::Percent(p as u8))
        }
        _ => Err(bad()),
    }
}

/// Picks one of `choices` for a string option.
fn choice<T: Copy>(
    ctx: &FileCtx,
    v: &Option<Spanned<String>>,
    field: &str,
    default: T,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let Some(v) = v else { return Ok(default) };
    choices
        .iter()
        .find(|(name, _)| *name == v.get_ref().as_str())
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            ctx.error(
                v,
                field,
                format!("\"{}\" is not one of: {}", v.get_ref(), names.join(", ")),
            )
        })
}

/// Resolves every `[check.NAME]`, in name order.
pub(super) fn resolve_checks(
    raw: &BTreeMap<String, Spanned<RawCheck>>,
    ctx: &FileCtx,
) -> Result<Vec<CheckConfig>, ConfigError> {
    raw.iter()
        .map(|(name, check)| resolve_check(name, check, ctx))
        .collect()
}

fn resolve_check(name: &str, spanned: &Spanned<RawCheck>, ctx: &FileCtx) -> Result<CheckConfig, ConfigError> {
    let c = spanned.get_ref();
    let f = |key: &str| format!("check.{name}.{key}");
    let interval = duration(ctx, &c.interval, &f("interval"), &limits::CHECK_INTERVAL)?;
    let timeout = duration(ctx, &c.timeout, &f("timeout"), &limits::CHECK_TIMEOUT)?;
    if timeout >= interval {
        let at = c.timeout.as_ref().map_or(spanned.span().start, |t| t.span().start);
        return Err(ConfigError::Field {
            location: super::error::Location::at(&ctx.path.display().to_string(), &ctx.text, at),
            field: f("timeout"),
            message: format!("timeout {timeout:?} must be shorter than the interval {interval:?}"),
        });
    }
    let rise = limit(ctx, &c.rise, &f("rise"), &limits::RISE)? as u32;
    let fall = limit(ctx, &c.fall, &f("fall"), &limits::FALL)? as u32;
    let kind_name = c.kind.get_ref().as_str();
    let kind = match kind_name {
        "http" | "https" => CheckKind::Http(http_check(c, kind_name == "https", ctx, &f)?),
        "tcp" => CheckKind::Tcp(TcpCheck {
            port: port(ctx, c, &f, None)?,
            send: c.send.as_ref().map(|s| s.get_ref().as_bytes().to_vec()),
            expect: c.expect.as_ref().map(|s| s.get_ref().as_bytes().to_vec()),
        }),
        "icmp" => CheckKind::Icmp(IcmpCheck {
            count: limit(ctx, &c.count, &f("count"), &limits::ICMP_COUNT)? as u32,
            size: limit(ctx, &c.size, &f("size"), &limits::ICMP_SIZE)? as usize,
        }),
        "dns" => CheckKind::Dns(dns_check(c, ctx, &f)?),
        "exec" => {
            let command = c
                .command
                .as_ref()
                .ok_or_else(|| ctx.error(&c.kind, &f("command"), "an exec check needs `command`"))?;
            CheckKind::Exec(ExecCheck {
                command: command.get_ref().clone(),
                args: c.args.clone().unwrap_or_default(),
            })
        }
        other => {
            return Err(ctx.error(
                &c.kind,
                &f("kind"),
                format!("\"{other}\" is not one of: http, https, tcp, icmp, dns, exec"),
            ));
        }
    };
    reject_foreign_keys(c, &kind, ctx, &f)?;
    Ok(CheckConfig {
        name: name.to_string(),
        interval,
        timeout,
        rise,
        fall,
        kind,
    })
}

fn port(ctx: &FileCtx, c: &RawCheck, f: &impl Fn(&str) -> String, default: Option<u16>) -> Result<u16, ConfigError> {
    match (&c.port, default) {
        (Some(p), _) => u16::try_from(*p.get_ref())
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| ctx.error(p, &f("port"), "a port is 1..=65535")),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(ctx.error(
            &c.kind,
            &f("port"),
            format!("a {} check needs `port`", c.kind.get_ref()),
        )),
    }
}

fn http_check(c: &RawCheck, tls: bool, ctx: &FileCtx, f: &impl Fn(&str) -> String) -> Result<HttpCheck, ConfigError> {
    let status = match &c.status {
        None => StatusRange::SUCCESS_OR_REDIRECT,
        Some(s) => s
            .get_ref()
            .parse()
            .map_err(|e: crate::observe::SpecError| ctx.error(s, &f("status"), e.to_string()))?,
    };
    let body = match (&c.body, &c.body_regex) {
        (Some(_), Some(r)) => {
            return Err(ctx.error(r, &f("body_regex"), "give either `body` or `body_regex`, not both"));
        }
        (Some(b), None) => Some(BodyMatch::Substring(b.get_ref().clone())),
        (None, Some(r)) => {
            regex::Regex::new(r.get_ref())
                .map_err(|e| ctx.error(r, &f("body_regex"), format!("invalid regex: {e}")))?;
            Some(BodyMatch::Regex(r.get_ref().clone()))
        }
        (None, None) => None,
    };
    let path = c.path.as_ref().map_or("/".to_string(), |p| p.get_ref().clone());
    if !path.starts_with('/') {
        return Err(ctx.error(c.path.as_ref().unwrap(), &f("path"), "a path starts with /"));
    }
    let method = c.method.as_ref().map_or("GET".to_string(), |m| m.get_ref().clone());
    if !["GET", "HEAD", "POST", "OPTIONS"].contains(&method.as_str()) {
        return Err(ctx.error(
            c.method.as_ref().unwrap(),
            &f("method"),
            "one of GET, HEAD, POST, OPTIONS",
        ));
    }
    let ca = match &c.ca {
        None => None,
        Some(p) => {
            let path = ctx.dir().join(p.get_ref());
            if !path.is_file() {
                return Err(ctx.error(p, &f("ca"), format!("no such CA file: {}", path.display())));
            }
            Some(path)
        }
    };
    Ok(HttpCheck {
        tls,
        port: port(ctx, c, f, Some(if tls { 443 } else { 80 }))?,
        path,
        method,
        host: c.host.as_ref().map(|h| h.get_ref().clone()),
        sni: c.sni.as_ref().map(|h| h.get_ref().clone()),
        status,
        body,
        body_limit: limit(ctx, &c.body_limit, &f("body_limit"), &limits::BODY_LIMIT)? as usize,
        headers: c
            .headers
            .as_ref()
            .map(|h| h.get_ref().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        verify: c.verify.as_ref().is_none_or(|v| *v.get_ref()),
        ca,
        user_agent: c
            .user_agent
            .as_ref()
            .map_or_else(default_user_agent, |u| u.get_ref().clone()),
        cert_warn_days: limit(ctx, &c.cert_warn_days, &f("cert_warn_days"), &limits::CERT_WARN_DAYS)? as u32,
    })
}

fn dns_check(c: &RawCheck, ctx: &FileCtx, f: &impl Fn(&str) -> String) -> Result<DnsCheck, ConfigError> {
    let query = c
        .query
        .as_ref()
        .ok_or_else(|| ctx.error(&c.kind, &f("query"), "a dns check needs `query`, the name to ask"))?;
    let qname = Name::parse(query.get_ref()).map_err(|e| ctx.error(query, &f("query"), e.to_string()))?;
    let qtype = match &c.query_type {
        None => rtype::SOA,
        Some(t) => parse_rtype(t.get_ref())
            .ok_or_else(|| ctx.error(t, &f("query_type"), "a type such as A, AAAA, SOA, NS, TXT or TYPE65280"))?,
    };
    let rcodes = [
        ("NOERROR", 0),
        ("FORMERR", 1),
        ("SERVFAIL", 2),
        ("NXDOMAIN", 3),
        ("NOTIMP", 4),
        ("REFUSED", 5),
    ];
    let rcode = choice(ctx, &c.rcode, &f("rcode"), 0, &rcodes)?;
    let answer = match &c.answer {
        None => None,
        Some(a) => Some(
            a.get_ref()
                .parse()
                .map_err(|_| ctx.error(a, &f("answer"), "an IPv4 or IPv6 address"))?,
        ),
    };
    Ok(DnsCheck {
        port: port(ctx, c, f, Some(53))?,
        query: qname,
        qtype,
        rcode,
        answer,
    })
}

fn parse_rtype(text: &str) -> Option<u16> {
    let known = [
        ("A", 1),
        ("NS", 2),
        ("CNAME", 5),
        ("SOA", 6),
        ("PTR", 12),
        ("MX", 15),
        ("TXT", 16),
        ("AAAA", 28),
        ("SRV", 33),
        ("CAA", 257),
    ];
    let upper = text.to_ascii_uppercase();
    known
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, t)| *t)
        .or_else(|| upper.strip_prefix("TYPE")?.parse().ok())
}

/// Keys that belong to another kind of check are mistakes, not no-ops.
fn reject_foreign_keys(
    c: &RawCheck,
    kind: &CheckKind,
    ctx: &FileCtx,
    f: &impl Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let http = matches!(kind, CheckKind::Http(_));
    let keyed: [(&str, Option<usize>, bool); 19] = [
        ("path", c.path.as_ref().map(|v| v.span().start), http),
        ("method", c.method.as_ref().map(|v| v.span().start), http),
        ("host", c.host.as_ref().map(|v| v.span().start), http),
        ("sni", c.sni.as_ref().map(|v| v.span().start), http),
        ("status", c.status.as_ref().map(|v| v.span().start), http),
        ("body", c.body.as_ref().map(|v| v.span().start), http),
        ("body_regex", c.body_regex.as_ref().map(|v| v.span().start), http),
        ("body_limit", c.body_limit.as_ref().map(|v| v.span().start), http),
        ("headers", c.headers.as_ref().map(|v| v.span().start), http),
        ("verify", c.verify.as_ref().map(|v| v.span().start), http),
        ("ca", c.ca.as_ref().map(|v| v.span().start), http),
        ("user_agent", c.user_agent.as_ref().map(|v| v.span().start), http),
        (
            "cert_warn_days",
            c.cert_warn_days.as_ref().map(|v| v.span().start),
            http,
        ),
        (
            "send",
            c.send.as_ref().map(|v| v.span().start),
            matches!(kind, CheckKind::Tcp(_)),
        ),
        (
            "expect",
            c.expect.as_ref().map(|v| v.span().start),
            matches!(kind, CheckKind::Tcp(_)),
        ),
        (
            "count",
            c.count.as_ref().map(|v| v.span().start),
            matches!(kind, CheckKind::Icmp(_)),
        ),
        (
            "size",
            c.size.as_ref().map(|v| v.span().start),
            matches!(kind, CheckKind::Icmp(_)),
        ),
        (
            "query",
            c.query.as_ref().map(|v| v.span().start),
            matches!(kind, CheckKind::Dns(_)),
        ),
        (
            "command",
            c.command.as_ref().map(|v| v.span().start),
            matches!(kind, CheckKind::Exec(_)),
        ),
    ];
    let port_applies = !matches!(kind, CheckKind::Icmp(_) | CheckKind::Exec(_));
    let extra = [("port", c.port.as_ref().map(|v| v.span().start), port_applies)];
    for (key, at, applies) in keyed.into_iter().chain(extra) {
        if let (Some(at), false) = (at, applies) {
            return Err(ConfigError::Field {
                location: super::error::Location::at(&ctx.path.display().to_string(), &ctx.text, at),
                field: f(key),
                message: format!("`{key}` does not apply to a {} check", kind.name()),
            });
        }
    }
    Ok(())
}

/// Resolves every `[[record]]` against the served zones and the checks.
pub(super) fn resolve_records(
    raw: &[RawRecord],
    checks: &[CheckConfig],
    zones: &[ZoneData],
    ctx: &FileCtx,
) -> Result<Vec<RecordConfig>, ConfigError> {
    let mut endpoint_names: HashMap<String, usize> = HashMap::new();
    let mut records: Vec<RecordConfig> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        for (record, written) in resolve_record(r, i, checks, zones, ctx)? {
            if let Some(dup) = records
                .iter()
                .find(|o| o.name.lowercase() == record.name.lowercase() && o.rtype == record.rtype)
            {
                return Err(ctx.error(
                    &r.name,
                    &format!("record[{i}].name"),
                    format!("{} {} is defined twice", dup.name, rtype::mnemonic(record.rtype)),
                ));
            }
            for (&e, endpoint) in written.iter().zip(&record.endpoints) {
                if let Some(other) = endpoint_names.insert(endpoint.name.clone(), i) {
                    let raw_name = &r.endpoint.get_ref()[e].get_ref().name;
                    return Err(ctx.error(
                        raw_name,
                        &format!("record[{i}].endpoint[{e}].name"),
                        format!(
                            "endpoint name \"{}\" is already used in record[{other}]; names must be unique",
                            endpoint.name
                        ),
                    ));
                }
            }
            records.push(record);
        }
    }
    Ok(records)
}

/// Resolves one `[[record]]`: one record, or with `type = ["A", "AAAA"]`
/// one per family (see [`super::families`]). Each comes with the index of
/// each of its endpoints in the record as written.
fn resolve_record(
    r: &RawRecord,
    i: usize,
    checks: &[CheckConfig],
    zones: &[ZoneData],
    ctx: &FileCtx,
) -> Result<Vec<(RecordConfig, Vec<usize>)>, ConfigError> {
    let f = |key: &str| format!("record[{i}].{key}");
    let types = super::families::types(r, ctx, &f)?;
    let mut resolved = Vec::new();
    for &rtype in &types.rtypes {
        let kind = RecordKind {
            rtype,
            dual: types.families,
        };
        let (record, written) = resolve_family(r, i, kind, checks, zones, ctx)?;
        if record.endpoints.is_empty() {
            let family = Family::of_rtype(rtype);
            let message = format!(
                "type includes {}, but no endpoint has an {} address",
                rtype::mnemonic(rtype),
                family.label()
            );
            return Err(ctx.error(&r.rtype, &f("type"), message));
        }
        resolved.push((record, written));
    }
    Ok(resolved)
}

/// Which record [`resolve_family`] resolves: its type, and whether it is
/// one family of a dual-stack record, whose addresses of the other family
/// belong to the other record.
#[derive(Debug, Clone, Copy)]
struct RecordKind {
    rtype: u16,
    dual: Option<Families>,
}

impl RecordKind {
    fn family(self) -> Family {
        Family::of_rtype(self.rtype)
    }
}

fn resolve_family(
    r: &RawRecord,
    i: usize,
    kind: RecordKind,
    checks: &[CheckConfig],
    zones: &[ZoneData],
    ctx: &FileCtx,
) -> Result<(RecordConfig, Vec<usize>), ConfigError> {
    let f = |key: &str| format!("record[{i}].{key}");
    let name = Name::parse(r.name.get_ref()).map_err(|e| ctx.error(&r.name, &f("name"), e.to_string()))?;
    let rtype = kind.rtype;
    check_against_zones(&name, rtype, zones).map_err(|m| ctx.error(&r.name, &f("name"), m))?;
    let ttl = limit(ctx, &r.ttl, &f("ttl"), &limits::RECORD_TTL)? as u32;
    let ttl_degraded = match &r.ttl_degraded {
        None => None,
        Some(v) => {
            let t = limits::RECORD_TTL
                .check(*v.get_ref())
                .map_err(|m| ctx.error(v, &f("ttl_degraded"), m))? as u32;
            if t > ttl {
                return Err(ctx.error(
                    v,
                    &f("ttl_degraded"),
                    format!("{t} is longer than ttl {ttl}; a degraded record should spread changes faster"),
                ));
            }
            Some(t)
        }
    };
    let policy = choice(
        ctx,
        &r.policy,
        &f("policy"),
        Policy::All,
        &[
            ("all", Policy::All),
            ("weighted", Policy::Weighted),
            ("round_robin", Policy::RoundRobin),
            ("first", Policy::First),
            ("consistent_hash", Policy::ConsistentHash),
        ],
    )?;
    let max_answers = limit(ctx, &r.max_answers, &f("max_answers"), &limits::MAX_ANSWERS)? as usize;
    let manual = choice(
        ctx,
        &r.failback,
        &f("failback"),
        false,
        &[("auto", false), ("manual", true)],
    )?;
    let failback = if manual {
        if let Some(h) = &r.failback_hold {
            return Err(ctx.error(h, &f("failback_hold"), "failback_hold applies to failback = \"auto\""));
        }
        Failback::Manual
    } else {
        Failback::Auto {
            hold: duration(ctx, &r.failback_hold, &f("failback_hold"), &limits::FAILBACK_HOLD)?,
        }
    };
    let all_down = resolve_all_down(r, kind, ctx, &f)?;
    let combine = choice(
        ctx,
        &r.combine,
        &f("combine"),
        Combine::All,
        &[("all", Combine::All), ("any", Combine::Any)],
    )?;
    let quorum = limit(ctx, &r.quorum, &f("quorum"), &limits::QUORUM)? as u16;
    // Checks run from this server only: a larger quorum is never reached and
    // the verdicts hold their initial state. Kept as a warning so decide's
    // scenarios can simulate more locations.
    if quorum > CHECK_LOCATIONS {
        tracing::warn!(
            record = %r.name.get_ref(),
            "quorum {quorum} needs {quorum} check locations; checks run from this server only, so the \
             verdicts of this record's endpoints will not follow their checks"
        );
    }
    let min_healthy = min_healthy(ctx, &r.min_healthy, &f("min_healthy"))?;
    let backup_share = fraction(ctx, &r.backup_share, &f("backup_share"), &limits::BACKUP_SHARE)?;
    let damping = match &r.flap_damping {
        None => None,
        Some(d) => {
            let d = d.get_ref();
            let max_changes = limits::FLAP_CHANGES
                .check(*d.max_changes.get_ref())
                .map_err(|m| ctx.error(&d.max_changes, &f("flap_damping.max_changes"), m))?
                as u32;
            let window = Some(d.window.clone());
            let hold = Some(d.hold.clone());
            Some(DampingConfig {
                max_changes,
                window: duration(ctx, &window, &f("flap_damping.window"), &limits::FLAP_WINDOW)?,
                hold: duration(ctx, &hold, &f("flap_damping.hold"), &limits::FLAP_HOLD)?,
            })
        }
    };
    if r.endpoint.get_ref().is_empty() {
        return Err(ctx.error(&r.endpoint, &f("endpoint"), "a record needs at least one endpoint"));
    }
    let mut endpoints = Vec::new();
    let mut written = Vec::new();
    for (e, ep) in r.endpoint.get_ref().iter().enumerate() {
        let path = format!("record[{i}].endpoint[{e}]");
        if let Some(endpoint) = resolve_endpoint(ep.get_ref(), &path, kind, checks, ctx)? {
            endpoints.push(endpoint);
            written.push(e);
        }
    }
    let record = RecordConfig {
        name,
        rtype,
        families: kind.dual,
        ttl,
        ttl_degraded,
        policy,
        max_answers,
        failback,
        all_down,
        combine,
        quorum,
        damping,
        min_healthy,
        backup_share,
        endpoints,
    };
    Ok((record, written))
}

fn resolve_all_down(
    r: &RawRecord,
    kind: RecordKind,
    ctx: &FileCtx,
    f: &impl Fn(&str) -> String,
) -> Result<AllDown, ConfigError> {
    #[derive(Clone, Copy)]
    enum Choice {
        All,
        Last,
        Backup,
        None,
        Servfail,
    }
    let kinds = [
        ("all", Choice::All),
        ("last", Choice::Last),
        ("backup", Choice::Backup),
        ("none", Choice::None),
        ("servfail", Choice::Servfail),
    ];
    let chosen = choice(ctx, &r.all_down, &f("all_down"), Choice::All, &kinds)?;
    match (chosen, &r.backup) {
        (Choice::Backup, Some(list)) if !list.is_empty() => {
            let addrs = addresses(list, kind, ctx, &f("backup"))?;
            if addrs.is_empty() {
                let message = format!(
                    "type includes {}: give `backup` an {} address too",
                    rtype::mnemonic(kind.rtype),
                    kind.family().label()
                );
                return Err(ctx.error(&list[0], &f("backup"), message));
            }
            Ok(AllDown::Backup(addrs))
        }
        (Choice::Backup, _) => Err(ctx.error(
            r.all_down.as_ref().unwrap(),
            &f("all_down"),
            "all_down = \"backup\" needs `backup = [addresses]`",
        )),
        (_, Some(list)) => Err(ctx.error(
            list.first().map_or(&r.name, |a| a),
            &f("backup"),
            "`backup` applies to all_down = \"backup\"",
        )),
        (Choice::All, None) => Ok(AllDown::All),
        (Choice::Last, None) => Ok(AllDown::Last),
        (Choice::None, None) => Ok(AllDown::None),
        (Choice::Servfail, None) => Ok(AllDown::Servfail),
    }
}

/// The addresses of `list` that `kind`'s record answers: in a record of
/// one type every address must be of its family; in a dual-stack record
/// the other family's addresses belong to the other record.
fn addresses(
    list: &[Spanned<String>],
    kind: RecordKind,
    ctx: &FileCtx,
    field: &str,
) -> Result<Vec<IpAddr>, ConfigError> {
    let mut addrs = Vec::new();
    for a in list {
        let ip: IpAddr = a
            .get_ref()
            .parse()
            .map_err(|_| ctx.error(a, field, format!("\"{}\" is not an IP address", a.get_ref())))?;
        match (kind.family().holds(&ip), kind.dual) {
            (true, _) => addrs.push(ip),
            (false, Some(_)) => {}
            (false, None) => {
                let message = format!("{ip} is not an {} address", rtype::mnemonic(kind.rtype));
                return Err(ctx.error(a, field, message));
            }
        }
    }
    Ok(addrs)
}

/// One endpoint of `kind`'s record; `None` when it has no address of the
/// record's family (in a dual-stack record: it serves the other family
/// only).
fn resolve_endpoint(
    e: &RawEndpoint,
    path: &str,
    kind: RecordKind,
    checks: &[CheckConfig],
    ctx: &FileCtx,
) -> Result<Option<EndpointConfig>, ConfigError> {
    let f = |key: &str| format!("{path}.{key}");
    if e.name.get_ref().is_empty() {
        return Err(ctx.error(&e.name, &f("name"), "an endpoint needs a name"));
    }
    let addresses = match (&e.address, &e.addresses) {
        (Some(a), None) => addresses(std::slice::from_ref(a), kind, ctx, &f("address"))?,
        (None, Some(list)) if !list.is_empty() => addresses(list, kind, ctx, &f("addresses"))?,
        (Some(a), Some(_)) => {
            return Err(ctx.error(a, &f("address"), "give either `address` or `addresses`, not both"));
        }
        _ => {
            return Err(ctx.error(&e.name, &f("address"), "an endpoint needs `address` (or `addresses`)"));
        }
    };
    let target = match &e.target {
        Some(t) if kind.dual.is_some() => {
            let message = "`target` applies to a record of one type; in a record of both types each family \
                           is probed at its own address";
            return Err(ctx.error(t, &f("target"), message));
        }
        None => None,
        Some(t) => Some(
            t.get_ref()
                .parse()
                .map_err(|_| ctx.error(t, &f("target"), format!("\"{}\" is not an IP address", t.get_ref())))?,
        ),
    };
    let check_ids = e
        .checks
        .iter()
        .map(|c| {
            checks.iter().position(|k| &k.name == c.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = checks.iter().map(|k| k.name.as_str()).collect();
                ctx.error(
                    c,
                    &f("checks"),
                    format!(
                        "no check named \"{}\" (defined: {})",
                        c.get_ref(),
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let initial_up = choice(ctx, &e.initial, &f("initial"), true, &[("up", true), ("down", false)])?;
    let tags = e
        .tags
        .iter()
        .map(|(key, value)| {
            let field = f(&format!("tags.{key}"));
            for (what, text) in [("key", key.as_str()), ("value", value.get_ref().as_str())] {
                if !is_tag_word(text) {
                    return Err(ctx.error(
                        value,
                        &field,
                        format!("tag {what} \"{text}\": use 1 to 63 letters, digits, '-', '_' or '.'"),
                    ));
                }
            }
            Ok((key.clone(), value.get_ref().clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() {
        return Ok(None);
    }
    let family = kind.dual.map(|_| FamilyOf {
        endpoint: e.name.get_ref().clone(),
        family: kind.family(),
    });
    Ok(Some(EndpointConfig {
        name: family.as_ref().map_or_else(|| e.name.get_ref().clone(), FamilyOf::name),
        addresses,
        target,
        priority: limit(ctx, &e.priority, &f("priority"), &limits::PRIORITY)? as u8,
        weight: limit(ctx, &e.weight, &f("weight"), &limits::WEIGHT)? as u32,
        checks: check_ids,
        initial_up,
        tags,
        family,
    }))
}

/// A tag key or value: what `drain --tag KEY=VALUE` can name unquoted.
pub fn is_tag_word(text: &str) -> bool {
    (1..=63).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A record must lie in a served zone, not below a delegation, and not
/// collide with static data of the same name (RFC 1034 §3.6.2 for CNAME).
fn check_against_zones(name: &Name, rtype: u16, zones: &[ZoneData]) -> Result<(), String> {
    let zone = zones
        .iter()
        .filter(|z| name.ends_with(&z.origin))
        .max_by_key(|z| z.origin.wire().len())
        .ok_or_else(|| format!("{name} is outside every served zone"))?;
    let key = name.lowercase();
    for sourced in &zone.records {
        let r = &sourced.record;
        let owner = r.owner.lowercase();
        if owner == key && (r.rtype == rtype || r.rtype == rtype::CNAME) {
            return Err(format!(
                "{name} {} is also in the zone data ({}:{}); remove one of them",
                rtype::mnemonic(r.rtype),
                zone.source,
                sourced.line
            ));
        }
        if r.rtype == rtype::NS && owner != zone.origin.lowercase() && key.ends_with(&owner) {
            return Err(format!(
                "{name} is below the delegation at {} ({}:{})",
                r.owner, zone.source, sourced.line
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Sources, load};

    const BASE: &str = r#"
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
"#;

    /// Loads BASE plus `extra`, with one record carrying `record_keys`.
    fn load_with(name: &str, extra: &str, record_keys: &str) -> Result<Config, String> {
        let text = format!(
            "{extra}\n{BASE}\n[[record]]\nname = \"www.example.test\"\ntype = \"A\"\n{record_keys}\n\
             endpoint = [{{ name = \"a\", address = \"192.0.2.1\", checks = [\"web\"] }}]\n"
        );
        load_text(name, &text)
    }

    /// Loads `text` as a configuration file.
    fn load_text(name: &str, text: &str) -> Result<Config, String> {
        let path = std::env::temp_dir().join(format!("lifeline-health-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let config = load(&Sources {
            file: Some(path.clone()),
            ..Sources::default()
        });
        let _ = std::fs::remove_file(path);
        config.map_err(|e| e.to_string())
    }

    #[test]
    fn min_healthy_is_a_count_or_a_percentage() {
        let c = load_with("mh-count", "", "min_healthy = 2").unwrap();
        assert_eq!(c.records[0].min_healthy, MinHealthy::Count(2));
        let c = load_with("mh-pct", "", "min_healthy = \"50%\"").unwrap();
        assert_eq!(c.records[0].min_healthy, MinHealthy::Percent(50));
        let c = load_with("mh-default", "", "").unwrap();
        assert_eq!(c.records[0].min_healthy, MinHealthy::Count(1));
        for (case, bad, words) in [
            ("mh-zero", "min_healthy = 0", "1..=10000"),
            ("mh-big", "min_healthy = \"150%\"", "1..=100"),
            ("mh-word", "min_healthy = \"half\"", "a percentage"),
            ("mh-float", "min_healthy = 0.5", "a percentage"),
        ] {
            let err = load_with(case, "", bad).unwrap_err();
            assert!(err.contains("record[0].min_healthy") && err.contains(words), "{err}");
        }
    }

    #[test]
    fn backup_share_is_a_fraction_from_0_to_1() {
        let c = load_with("bs", "", "backup_share = 0.1").unwrap();
        assert_eq!(c.records[0].backup_share, 100_000);
        let c = load_with("bs-one", "", "backup_share = 1").unwrap();
        assert_eq!(c.records[0].backup_share, 1_000_000);
        assert_eq!(load_with("bs-none", "", "").unwrap().records[0].backup_share, 0);
        let err = load_with("bs-big", "", "backup_share = 1.5").unwrap_err();
        assert!(err.contains("record[0].backup_share") && err.contains("0..=1"), "{err}");
        let err = load_with("bs-text", "", "backup_share = \"10%\"").unwrap_err();
        assert!(err.contains("not a number"), "{err}");
    }

    #[test]
    fn consistent_hash_is_a_policy() {
        let c = load_with("ch", "", "policy = \"consistent_hash\"").unwrap();
        assert_eq!(c.records[0].policy, Policy::ConsistentHash);
    }

    #[test]
    fn the_health_table_has_defaults_and_limits() {
        let c = load_with("h-default", "", "").unwrap();
        assert_eq!(c.health, HealthConfig::default());
        let breaker = c.health.breaker.unwrap();
        assert_eq!((breaker.share, breaker.min_endpoints), (500_000, 4));
        assert_eq!(breaker.window, Duration::from_secs(10));
        assert_eq!(c.health.startup_grace, Duration::from_secs(30));
        let c = load_with("h-set", "[health]\nbreaker_share = 0.75\nstartup_grace = \"0s\"", "").unwrap();
        assert_eq!(c.health.breaker.unwrap().share, 750_000);
        assert_eq!(c.health.startup_grace, Duration::ZERO);
        let off = load_with("h-off", "[health]\nbreaker = false", "").unwrap();
        assert_eq!(off.health.breaker, None);
        for (case, bad, words) in [
            ("h-share", "breaker_share = 1", "health.breaker_share"),
            ("h-min", "breaker_min_endpoints = 1", "health.breaker_min_endpoints"),
            ("h-window", "breaker_window = \"10\"", "health.breaker_window"),
            (
                "h-off-share",
                "breaker = false\nbreaker_share = 0.5",
                "applies while breaker = true",
            ),
            ("h-unknown", "breaker_size = 3", "breaker_size"),
        ] {
            let err = load_with(case, &format!("[health]\n{bad}"), "").unwrap_err();
            assert!(err.contains(words), "{case}: {err}");
        }
    }

    /// Loads BASE plus the records in `records`.
    fn load_records(name: &str, records: &str) -> Result<Config, String> {
        load_text(name, &format!("{BASE}\n{records}"))
    }

    /// A record of `name` with `keys` and the endpoints `endpoints`.
    fn record(keys: &str, endpoints: &str) -> String {
        format!("[[record]]\nname = \"www.example.test\"\n{keys}\nendpoint = [\n{endpoints}\n]\n")
    }

    const WEB1: &str = r#"{ name = "web1", addresses = ["192.0.2.1", "2001:db8::1"], checks = ["web"] }"#;

    #[test]
    fn a_record_of_both_types_resolves_into_one_record_per_family() {
        let c = load_records("dual", &record("type = [\"AAAA\", \"A\"]", WEB1)).unwrap();
        let got: Vec<(u16, Option<Families>, &str, String)> = c
            .records
            .iter()
            .flat_map(|r| {
                r.endpoints
                    .iter()
                    .map(move |e| (r.rtype, r.families, e.name.as_str(), e.addresses[0].to_string()))
            })
            .collect();
        assert_eq!(
            got,
            [
                (rtype::A, Some(Families::Independent), "web1/v4", "192.0.2.1".into()),
                (
                    rtype::AAAA,
                    Some(Families::Independent),
                    "web1/v6",
                    "2001:db8::1".into()
                ),
            ]
        );
        let of = c.records[1].endpoints[0].family.as_ref().unwrap();
        assert_eq!((of.endpoint.as_str(), of.family), ("web1", Family::V6));
        let together = record("type = [\"A\", \"AAAA\"]\nfamilies = \"together\"", WEB1);
        let c = load_records("dual-together", &together).unwrap();
        assert!(c.records.iter().all(|r| r.families == Some(Families::Together)));
        // A list of one type is that type, as before.
        let v6 = r#"{ name = "web1", address = "2001:db8::1", checks = ["web"] }"#;
        let c = load_records("one-listed", &record("type = [\"aaaa\"]", v6)).unwrap();
        assert_eq!((c.records.len(), c.records[0].rtype), (1, rtype::AAAA));
        assert_eq!(
            (c.records[0].endpoints[0].name.as_str(), c.records[0].families),
            ("web1", None)
        );
    }

    #[test]
    fn an_endpoint_of_one_family_serves_only_that_family_of_a_dual_stack_record() {
        let endpoints = format!("{WEB1},\n{{ name = \"web2\", address = \"2001:db8::2\", checks = [\"web\"] }}");
        let c = load_records("dual-v6-only", &record("type = [\"A\", \"AAAA\"]", &endpoints)).unwrap();
        let names = |r: usize| -> Vec<&str> { c.records[r].endpoints.iter().map(|e| e.name.as_str()).collect() };
        assert_eq!(names(0), ["web1/v4"]);
        assert_eq!(names(1), ["web1/v6", "web2/v6"]);
    }

    #[test]
    fn dual_stack_mistakes_name_the_line_and_field() {
        let both = "type = [\"A\", \"AAAA\"]";
        let v4 = r#"{ name = "web1", address = "192.0.2.1", checks = ["web"] }"#;
        let target = r#"{ name = "web1", addresses = ["192.0.2.1", "2001:db8::1"], target = "192.0.2.9" }"#;
        let bad = r#"{ name = "web1", addresses = ["192.0.2.1", "2001:db8::x"] }"#;
        let cases = [
            (
                "twice",
                record("type = [\"A\", \"a\"]", WEB1),
                "record[0].type",
                "A is listed twice",
            ),
            (
                "empty",
                record("type = []", WEB1),
                "record[0].type",
                "[\"A\", \"AAAA\"]",
            ),
            (
                "number",
                record("type = 1", WEB1),
                "record[0].type",
                "[\"A\", \"AAAA\"]",
            ),
            (
                "mx",
                record("type = [\"A\", \"MX\"]", WEB1),
                "record[0].type",
                "\"A\" or \"AAAA\"",
            ),
            (
                "families-one",
                record("type = \"A\"\nfamilies = \"together\"", WEB1),
                "record[0].families",
                "applies to a record of both types",
            ),
            (
                "families-word",
                record(&format!("{both}\nfamilies = \"both\""), WEB1),
                "record[0].families",
                "independent, together",
            ),
            (
                "no-v6",
                record(both, v4),
                "record[0].type",
                "type includes AAAA, but no endpoint has an IPv6 address",
            ),
            (
                "target",
                record(both, target),
                "record[0].endpoint[0].target",
                "its own address",
            ),
            (
                "backup-v4",
                record(
                    &format!("{both}\nall_down = \"backup\"\nbackup = [\"192.0.2.9\"]"),
                    WEB1,
                ),
                "record[0].backup",
                "an IPv6 address too",
            ),
            (
                "bad-address",
                record(both, bad),
                "record[0].endpoint[0].addresses",
                "not an IP address",
            ),
            (
                "aaaa-v4",
                record("type = \"AAAA\"", v4),
                "record[0].endpoint[0].address",
                "192.0.2.1 is not an AAAA address",
            ),
        ];
        for (case, text, field, words) in cases {
            let err = load_records(case, &text).unwrap_err();
            assert!(
                err.contains(&format!(": {field}: ")) && err.contains(words),
                "{case}: {err}"
            );
            let line = err.split(':').nth(1).unwrap_or_default();
            assert!(line.parse::<usize>().is_ok_and(|l| l > 10), "{case}: no line in {err}");
        }
    }

    #[test]
    fn family_names_must_not_clash_with_other_endpoints() {
        let other = r#"[[record]]
name = "api.example.test"
type = "A"
endpoint = [{ name = "web1/v6", address = "192.0.2.7" }]
"#;
        let text = format!("{other}\n{}", record("type = [\"A\", \"AAAA\"]", WEB1));
        let err = load_records("clash", &text).unwrap_err();
        assert!(
            err.contains("record[1].endpoint[0].name") && err.contains("\"web1/v6\" is already used in record[0]"),
            "{err}"
        );
    }
}
