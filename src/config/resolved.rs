//! The configuration the program runs on: validated, typed, defaults
//! filled in, zone data read. Nothing downstream sees the raw form.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::api::{self, ApiConfig};
use super::error::{ConfigError, Location};
use super::health::{self, CheckConfig, HealthConfig, RecordConfig};
use super::limits::{self, Limit};
use super::raw::{RawConfig, RawServer, RawZone};
use super::zonefile::{self, SourcedRecord};
use crate::dns::Name;

/// Where the configuration comes from: a file, command-line additions, or
/// both (flags add to what the file says).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    pub listen: Vec<String>,
    /// `ORIGIN=FILE`
    pub zones: Vec<String>,
    pub udp_threads: Option<usize>,
    /// `lifeline serve --api ADDR`: where the HTTP API listens.
    pub api: Option<String>,
    /// `lifeline serve --state-dir DIR`: where the state store lives.
    pub state_dir: Option<PathBuf>,
}

/// One zone's data as read, not yet checked as a whole.
#[derive(Debug, Clone)]
pub struct ZoneData {
    pub origin: Name,
    /// File path (or config path for inline records), for messages.
    pub source: String,
    pub records: Vec<SourcedRecord>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub udp_threads: usize,
    pub version: Option<String>,
    pub identity: Option<String>,
    pub nsid: Option<Vec<u8>>,
    pub edns_udp_size: u16,
    pub tcp_connections: usize,
    pub tcp_idle_timeout: Duration,
    pub zones: Vec<ZoneData>,
    /// `[check.NAME]`, in name order.
    pub checks: Vec<CheckConfig>,
    /// `[[record]]`, in file order.
    pub records: Vec<RecordConfig>,
    /// `[health]`: the correlated-failure breaker and the startup grace.
    pub health: HealthConfig,
    /// `[api]`: the HTTP API.
    pub api: ApiConfig,
    /// Where overrides and sticky failover state are kept across restarts;
    /// `None` keeps them in memory only.
    pub state_dir: Option<PathBuf>,
    /// `[[webhook]]`, in file order.
    pub webhooks: Vec<super::WebhookConfig>,
    /// How much event history the store keeps.
    pub event_retention: crate::persist::history::Retention,
}

/// Listen addresses when none are given: port 53 on every address.
pub const DEFAULT_LISTEN: [&str; 2] = ["0.0.0.0:53", "[::]:53"];

/// Reads and resolves the configuration from its sources.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let (raw, file) = match &sources.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            (
                parse_toml(path, &text)?,
                Some(FileCtx {
                    path: path.clone(),
                    text,
                }),
            )
        }
        None => (RawConfig::default(), None),
    };
    resolve(raw, file.as_ref(), sources)
}

/// The file being resolved, for locating errors.
#[derive(Debug)]
pub(super) struct FileCtx {
    pub(super) path: PathBuf,
    pub(super) text: String,
}

impl FileCtx {
    pub(super) fn error<T>(&self, spanned: &Spanned<T>, field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Field {
            location: Location::at(&self.path.display().to_string(), &self.text, spanned.span().start),
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

fn parse_toml(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let location = Location::at(&path.display().to_string(), text, offset);
        let message = e.message().trim().to_string();
        match key_on_line(text, offset) {
            Some(field) => ConfigError::Field {
                location,
                field,
                message,
            },
            None => ConfigError::Syntax { location, message },
        }
    })
}

/// The `key` of a `key = value` line containing `offset`, to name the field
/// in a type error.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.\"".contains(c);
    if key.is_empty() || !key.chars().all(plain) {
        return None;
    }
    // The table the key is in: the last `[table]` or `[[table]]` header above.
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(table.map_or_else(|| key.to_string(), |t| format!("{t}.{key}")))
}

fn resolve(raw: RawConfig, file: Option<&FileCtx>, sources: &Sources) -> Result<Config, ConfigError> {
    let server = &raw.server;
    let mut listen = Vec::new();
    for addr in server.listen.iter().flatten() {
        let ctx = file.expect("a listen key comes from a file");
        listen.push(parse_addr(addr.get_ref()).map_err(|m| ctx.error(addr, "server.listen", m))?);
    }
    for addr in &sources.listen {
        listen.push(parse_addr(addr).map_err(|message| ConfigError::Flag {
            flag: format!("--listen {addr}"),
            message,
        })?);
    }
    if listen.is_empty() {
        listen = DEFAULT_LISTEN
            .iter()
            .map(|a| a.parse().expect("valid default"))
            .collect();
    }
    listen.dedup();
    let udp_threads = match (sources.udp_threads, &server.udp_threads) {
        (Some(n), _) => limits::UDP_THREADS
            .check(n as i64)
            .map_err(|message| ConfigError::Flag {
                flag: format!("--udp-threads {n}"),
                message,
            })? as usize,
        (None, Some(v)) => checked(file, v, &limits::UDP_THREADS)? as usize,
        (None, None) => limits::default_udp_threads(),
    };
    let text_field = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let len = v.get_ref().len() as i64;
        limits::IDENTITY_LEN
            .check(len)
            .map_err(|_| file.unwrap().error(v, key, "must be 1 to 255 bytes long"))?;
        Ok(Some(v.get_ref().clone()))
    };
    let version = text_field(&server.version, "server.version")?;
    let identity = text_field(&server.identity, "server.identity")?;
    let nsid = text_field(&server.nsid, "server.nsid")?.map(String::into_bytes);
    // The flag wins over the file; a relative path in the file is relative
    // to the file.
    let state_dir = match (&sources.state_dir, &server.state_dir, file) {
        (Some(dir), _, _) => Some(dir.clone()),
        (None, Some(dir), Some(ctx)) if dir.get_ref().is_empty() => {
            return Err(ctx.error(
                dir,
                "server.state_dir",
                "an empty path; leave the key out to keep state in memory",
            ));
        }
        (None, Some(dir), Some(ctx)) => Some(ctx.dir().join(dir.get_ref())),
        _ => None,
    };
    // Applied before the load (see log_format::configured); checked here.
    if let (Some(format), Some(ctx)) = (&server.log_format, file) {
        super::log_format::LogFormat::parse(format.get_ref()).map_err(|m| ctx.error(format, "server.log_format", m))?;
    }
    let event_retention = resolve_retention(server, file)?;
    let l = &raw.limits;
    let edns_udp_size = l
        .edns_udp_size
        .as_ref()
        .map_or(Ok(limits::EDNS_UDP_SIZE.default), |v| {
            checked(file, v, &limits::EDNS_UDP_SIZE)
        })? as u16;
    let tcp_connections = l
        .tcp_connections
        .as_ref()
        .map_or(Ok(limits::TCP_CONNECTIONS.default), |v| {
            checked(file, v, &limits::TCP_CONNECTIONS)
        })? as usize;
    let tcp_idle_timeout = match &l.tcp_idle_timeout {
        None => limits::TCP_IDLE_TIMEOUT.default,
        Some(v) => {
            let ctx = file.unwrap();
            let d = parse_duration(v.get_ref()).map_err(|m| ctx.error(v, limits::TCP_IDLE_TIMEOUT.key, m))?;
            limits::TCP_IDLE_TIMEOUT
                .check(d)
                .map_err(|m| ctx.error(v, limits::TCP_IDLE_TIMEOUT.key, m))?
        }
    };
    let mut zones = Vec::new();
    for (i, zone) in raw.zone.iter().enumerate() {
        zones.push(resolve_zone(zone, i, file.expect("zones in a file"))?);
    }
    for flag in &sources.zones {
        zones.push(resolve_zone_flag(flag)?);
    }
    check_distinct_zones(&zones)?;
    if zones.is_empty() {
        return Err(ConfigError::NoZones);
    }
    let (checks, records, health, webhooks) = match file {
        Some(ctx) => {
            let checks = health::resolve_checks(&raw.check, ctx)?;
            let records = health::resolve_records(&raw.record, &checks, &zones, ctx)?;
            let webhooks = super::webhook::resolve(&raw.webhook, &records, ctx)?;
            (checks, records, health::resolve_health(&raw.health, ctx)?, webhooks)
        }
        None => (Vec::new(), Vec::new(), HealthConfig::default(), Vec::new()),
    };
    let api = api::resolve(&raw.api, file, sources.api.as_deref())?;
    Ok(Config {
        listen,
        udp_threads,
        version,
        identity,
        nsid,
        edns_udp_size,
        tcp_connections,
        tcp_idle_timeout,
        zones,
        checks,
        records,
        health,
        api,
        state_dir,
        webhooks,
        event_retention,
    })
}

/// `server.event_retention` and `server.event_retention_rows`.
fn resolve_retention(
    server: &RawServer,
    file: Option<&FileCtx>,
) -> Result<crate::persist::history::Retention, ConfigError> {
    let age = match &server.event_retention {
        None => limits::EVENT_RETENTION.default,
        Some(v) => {
            let ctx = file.expect("value from a file");
            let key = limits::EVENT_RETENTION.key;
            let d = parse_duration(v.get_ref()).map_err(|m| ctx.error(v, key, m))?;
            limits::EVENT_RETENTION.check(d).map_err(|m| ctx.error(v, key, m))?
        }
    };
    let rows = server
        .event_retention_rows
        .as_ref()
        .map_or(Ok(limits::EVENT_RETENTION_ROWS.default), |v| {
            checked(file, v, &limits::EVENT_RETENTION_ROWS)
        })?;
    Ok(crate::persist::history::Retention { age, rows })
}

fn checked(file: Option<&FileCtx>, v: &Spanned<i64>, limit: &Limit) -> Result<u64, ConfigError> {
    limit
        .check(*v.get_ref())
        .map_err(|m| file.expect("value from a file").error(v, limit.key, m))
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("\"{text}\" is not an address with a port, e.g. 127.0.0.1:53 or [::1]:53"))
}

/// "500ms", "10s", "2m", "1h".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("\"{text}\" is not a duration; write e.g. \"500ms\", \"10s\", \"2m\", \"1h\" or \"7d\"");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = |per: u64| n.checked_mul(per).map(Duration::from_secs).ok_or_else(bad);
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => Err(bad()),
    }
}

fn parse_origin(text: &str) -> Result<Name, String> {
    Name::parse(text).map_err(|e| format!("not a domain name: {e}"))
}

fn resolve_zone(zone: &RawZone, index: usize, ctx: &FileCtx) -> Result<ZoneData, ConfigError> {
    let field = |name: &str| format!("zone[{index}].{name}");
    let origin = parse_origin(zone.origin.get_ref()).map_err(|m| ctx.error(&zone.origin, &field("origin"), m))?;
    match (&zone.file, &zone.records) {
        (Some(file), None) => {
            let path = ctx.dir().join(file.get_ref());
            if !path.is_file() {
                return Err(ctx.error(file, &field("file"), format!("no such zone file: {}", path.display())));
            }
            let records = zonefile::load_file(&path, &origin)?;
            Ok(ZoneData {
                origin,
                source: path.display().to_string(),
                records,
            })
        }
        (None, Some(lines)) => inline_zone(origin, lines, ctx),
        (Some(file), Some(_)) => Err(ctx.error(file, &field("file"), "give either `file` or `records`, not both")),
        (None, None) => Err(ctx.error(&zone.origin, &field("origin"), "the zone needs a `file` or `records`")),
    }
}

/// Inline records: each string is one zone-file line, reported at the
/// config line it was written on.
fn inline_zone(origin: Name, lines: &Spanned<Vec<Spanned<String>>>, ctx: &FileCtx) -> Result<ZoneData, ConfigError> {
    let file = ctx.path.display().to_string();
    let config_lines: Vec<usize> = lines
        .get_ref()
        .iter()
        .map(|l| Location::at(&file, &ctx.text, l.span().start).line)
        .collect();
    let text: String = lines
        .get_ref()
        .iter()
        .map(|l| format!("{}\n", l.get_ref().replace('\n', " ")))
        .collect();
    let mut records = Vec::new();
    let map_line = |line: usize| config_lines.get(line.saturating_sub(1)).copied().unwrap_or(0);
    zonefile::parse_text(&text, &origin, &file, map_line, &mut records)?;
    Ok(ZoneData {
        origin,
        source: file,
        records,
    })
}

fn resolve_zone_flag(flag: &str) -> Result<ZoneData, ConfigError> {
    let err = |message: String| ConfigError::Flag {
        flag: format!("--zone {flag}"),
        message,
    };
    let (origin, path) = flag
        .split_once('=')
        .ok_or_else(|| err("expected ORIGIN=FILE, e.g. example.test=example.test.zone".into()))?;
    let origin = parse_origin(origin).map_err(err)?;
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(err(format!("no such zone file: {}", path.display())));
    }
    let records = zonefile::load_file(&path, &origin)?;
    Ok(ZoneData {
        origin,
        source: path.display().to_string(),
        records,
    })
}

fn check_distinct_zones(zones: &[ZoneData]) -> Result<(), ConfigError> {
    for (i, a) in zones.iter().enumerate() {
        if let Some(b) = zones[..i].iter().find(|b| b.origin.lowercase() == a.origin.lowercase()) {
            return Err(ConfigError::Flag {
                flag: format!("zone {}", a.origin),
                message: format!("served twice: from {} and from {}", b.source, a.source),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let raw = parse_toml(Path::new("test.toml"), text)?;
        let ctx = FileCtx {
            path: "test.toml".into(),
            text: text.into(),
        };
        resolve(raw, Some(&ctx), &Sources::default())
    }

    const ZONE: &str = r#"
[[zone]]
origin = "example.test"
records = [
  "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60",
  "@ 300 IN NS ns1",
  "ns1 300 IN A 127.0.0.1",
]
"#;

    #[test]
    fn resolves_defaults_and_inline_zone() {
        let c = load_text(ZONE).unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.edns_udp_size, 1232);
        assert_eq!(c.tcp_idle_timeout, Duration::from_secs(10));
        assert_eq!(c.zones[0].records.len(), 3);
        assert_eq!(c.zones[0].records[2].line, 7);
    }

    #[test]
    fn unknown_key_names_file_line_and_field() {
        let err = load_text("[server]\nlisen = [\"127.0.0.1:53\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("test.toml:2:"), "{err}");
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = load_text("[limits]\nedns_udp_size = \"big\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:2:") && err.contains("edns_udp_size"),
            "{err}"
        );
    }

    #[test]
    fn out_of_range_limit_is_an_error_not_a_clamp() {
        let err = load_text(&format!("[limits]\nedns_udp_size = 100\n{ZONE}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:2:") && err.contains("limits.edns_udp_size") && err.contains("512..=4096"),
            "{err}"
        );
    }

    #[test]
    fn event_retention_takes_days_and_is_checked_where_it_is_written() {
        let c = load_text(ZONE).unwrap();
        assert_eq!(c.event_retention.age, Duration::from_secs(7 * 86400));
        assert_eq!(c.event_retention.rows, 1_000_000);
        let c = load_text(&format!(
            "[server]\nevent_retention = \"30d\"\nevent_retention_rows = 5000\n{ZONE}"
        ))
        .unwrap();
        assert_eq!(c.event_retention.age, Duration::from_secs(30 * 86400));
        assert_eq!(c.event_retention.rows, 5000);
        for (line, key) in [
            ("event_retention = \"10s\"", "server.event_retention"),
            ("event_retention = \"a week\"", "server.event_retention"),
            ("event_retention_rows = 10", "server.event_retention_rows"),
        ] {
            let err = load_text(&format!("[server]\n{line}\n{ZONE}")).unwrap_err().to_string();
            assert!(err.starts_with("test.toml:2:") && err.contains(key), "{err}");
        }
    }

    #[test]
    fn bad_listen_address_is_located() {
        let err = load_text(&format!("[server]\nlisten = [\"127.0.0.1\"]\n{ZONE}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("test.toml:2:") && err.contains("server.listen"),
            "{err}"
        );
    }

    #[test]
    fn bad_inline_record_points_at_its_config_line() {
        let text = ZONE.replace("ns1 300 IN A 127.0.0.1", "ns1 300 IN A 300.0.0.1");
        let err = load_text(&text).unwrap_err().to_string();
        assert!(err.starts_with("test.toml:7:"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
    }
}
