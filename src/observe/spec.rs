//! What a probe is: the target, the kind of check with its options
//! (DESIGN.md §2), the timeout and the interval. The configuration stage
//! resolves `[check.NAME]` tables into these types; nothing here reads
//! configuration.
//!
//! Every type is `Eq + Hash`, so that identical checks can be recognised
//! ([`ProbeKey::of`](super::ProbeKey::of)) and a reload can tell an
//! unchanged probe from a changed one.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use domain::base::Name;
use domain::base::iana::{Rcode, Rtype};
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::uri::PathAndQuery;
use rustls::pki_types::ServerName;

/// The `User-Agent` sent by HTTP checks unless configured otherwise: some
/// servers and firewalls reject requests without one.
pub const DEFAULT_USER_AGENT: &str = concat!("lifeline/", env!("CARGO_PKG_VERSION"));

/// Bytes of a response body read for matching unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The shortest interval the scheduler accepts; a zero interval would make
/// it spin. The configuration's own floor (100 ms, DESIGN.md §2) is higher.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// One health check of one address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeSpec {
    /// The address connected to. It may differ from the address answered
    /// in DNS (a check `target`, e.g. a load balancer's health port).
    pub target: IpAddr,
    pub kind: ProbeKind,
    /// The whole probe, from the first packet to the verdict, must finish
    /// within this time.
    pub timeout: Duration,
    /// Time between the starts of two runs.
    pub interval: Duration,
}

/// The kind of check and its options.
#[expect(
    clippy::large_enum_variant,
    reason = "one per probe, behind an Arc in the scheduler: a few hundred bytes each"
)]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `http` and `https` (with [`HttpProbe::tls`]).
    Http(HttpProbe),
    Tcp(TcpProbe),
    Icmp(IcmpProbe),
    Dns(DnsProbe),
    Exec(ExecProbe),
}

/// An HTTP or HTTPS request whose status (and optionally body) is judged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpProbe {
    pub port: u16,
    pub method: Method,
    /// Path and query sent in the request line.
    pub path: PathAndQuery,
    /// The `Host` header; `None` sends the target address (and the port
    /// when it is not the scheme's default).
    pub host: Option<HeaderValue>,
    /// Extra request headers, added after the defaults; a header named
    /// here replaces a default of the same name (`User-Agent` included).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub user_agent: HeaderValue,
    /// The check passes when the status is in any of these ranges.
    pub expect_status: Vec<StatusRange>,
    /// A body the response must contain, looked for in its first
    /// `body_limit` bytes. Without it the body is not read at all.
    pub body: Option<BodyMatch>,
    pub body_limit: usize,
    /// `Some` for HTTPS.
    pub tls: Option<TlsOptions>,
}

impl HttpProbe {
    /// `GET /` on `port`, expecting 200-399, with the default user agent.
    pub fn http(port: u16) -> HttpProbe {
        HttpProbe {
            port,
            method: Method::GET,
            path: PathAndQuery::from_static("/"),
            host: None,
            headers: Vec::new(),
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
            expect_status: vec![StatusRange::SUCCESS_OR_REDIRECT],
            body: None,
            body_limit: DEFAULT_BODY_LIMIT,
            tls: None,
        }
    }

    /// Like [`HttpProbe::http`] over TLS, verifying against the bundled
    /// roots.
    pub fn https(port: u16) -> HttpProbe {
        HttpProbe {
            tls: Some(TlsOptions::default()),
            ..HttpProbe::http(port)
        }
    }

    /// The port a URL of this scheme would leave out.
    pub(super) fn default_port(&self) -> u16 {
        if self.tls.is_some() { 443 } else { 80 }
    }
}

/// TLS settings of an HTTPS check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TlsOptions {
    /// The name sent as SNI and verified against the certificate. `None`
    /// uses the `Host` header's name when it is a DNS name, else the target
    /// address (no SNI is sent for an address; its IP SAN is verified).
    pub sni: Option<ServerName<'static>>,
    pub verify: TlsVerify,
    /// Flag ([`ProbeResult::cert_expiring`](super::ProbeResult)) a
    /// certificate with fewer days left than this. It does not fail the
    /// check: an expired certificate fails verification on its own.
    pub cert_warn_days: Option<u32>,
}

/// How the server's certificate is verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum TlsVerify {
    /// Against the Mozilla roots bundled in the binary (`webpki-roots`):
    /// the machine may be offline and its trust store is not consulted.
    #[default]
    BundledRoots,
    /// Against these CA certificates only.
    CustomCa(CaSource),
    /// Not at all (`verify = false`); the handshake's signatures are still
    /// checked, so the peer holds the certificate's key.
    Off,
}

/// Where custom CA certificates come from (PEM, one or more).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CaSource {
    /// A PEM file, read once per [`Clients`](super::Clients) on first use.
    File(PathBuf),
    Pem(Arc<[u8]>),
}

/// An inclusive range of HTTP status codes, e.g. `200-299`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    lo: u16,
    hi: u16,
}

impl StatusRange {
    /// 200-399: success and redirects (redirects are not followed).
    pub const SUCCESS_OR_REDIRECT: StatusRange = StatusRange { lo: 200, hi: 399 };

    /// A range of status codes, `lo <= hi`, within the classes HTTP
    /// defines (100-599, RFC 9110 §15).
    pub fn try_new(lo: u16, hi: u16) -> Result<StatusRange, SpecError> {
        if (100..=599).contains(&lo) && (100..=599).contains(&hi) && lo <= hi {
            Ok(StatusRange { lo, hi })
        } else {
            Err(SpecError::StatusRange(format!("{lo}-{hi}")))
        }
    }

    pub fn contains(&self, status: u16) -> bool {
        (self.lo..=self.hi).contains(&status)
    }
}

/// Parses `200`, `200-299` or `2xx`.
impl FromStr for StatusRange {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<StatusRange, SpecError> {
        let bad = || SpecError::StatusRange(s.to_string());
        let code = |t: &str| {
            if t.len() == 3 && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse::<u16>().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        let t = s.trim();
        if let Some(class) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
            let c = code(&format!("{class}00"))?;
            return StatusRange::try_new(c, c + 99).map_err(|_| bad());
        }
        let (lo, hi) = match t.split_once('-') {
            Some((lo, hi)) => (code(lo.trim())?, code(hi.trim())?),
            None => (code(t)?, code(t)?),
        };
        StatusRange::try_new(lo, hi).map_err(|_| bad())
    }
}

impl std::fmt::Display for StatusRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// What a response body must contain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BodyMatch {
    /// These bytes, anywhere.
    Contains(Vec<u8>),
    /// A match of this pattern, anywhere.
    Regex(BodyRegex),
}

impl BodyMatch {
    /// Whether `body` (already cut to the read limit) matches.
    pub fn matches(&self, body: &[u8]) -> bool {
        match self {
            BodyMatch::Contains(needle) => contains(body, needle),
            BodyMatch::Regex(re) => re.0.is_match(body),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A compiled pattern over bytes (the body need not be UTF-8), compared and
/// hashed by its source text.
#[derive(Debug, Clone)]
pub struct BodyRegex(regex::bytes::Regex);

impl BodyRegex {
    pub fn new(pattern: &str) -> Result<BodyRegex, SpecError> {
        regex::bytes::Regex::new(pattern)
            .map(BodyRegex)
            .map_err(|e| SpecError::Regex(Box::new(e)))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for BodyRegex {
    fn eq(&self, other: &BodyRegex) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for BodyRegex {}

impl std::hash::Hash for BodyRegex {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// A TCP connection, optionally with a request and an expected reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TcpProbe {
    pub port: u16,
    /// Written after connecting; empty sends nothing.
    pub send: Vec<u8>,
    /// The reply must start with these bytes; empty expects nothing (the
    /// check passes once connected and `send` is written).
    pub expect: Vec<u8>,
}

/// ICMP echo requests. The check passes when at least one reply arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IcmpProbe {
    /// Echo requests per run, each given `timeout / count`.
    pub count: u16,
    /// Payload bytes per request (`ping -s`).
    pub size: u16,
}

impl Default for IcmpProbe {
    fn default() -> IcmpProbe {
        IcmpProbe { count: 1, size: 56 }
    }
}

/// A DNS query over UDP whose reply is judged by rcode and, optionally, by
/// an address in the answer section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DnsProbe {
    pub port: u16,
    pub name: Name<Vec<u8>>,
    pub rtype: Rtype,
    pub expect_rcode: Rcode,
    /// An A or AAAA record with this address must be in the answer.
    pub expect_address: Option<IpAddr>,
}

impl DnsProbe {
    /// `name A` on port 53, expecting NOERROR.
    pub fn new(name: Name<Vec<u8>>) -> DnsProbe {
        DnsProbe {
            port: 53,
            name,
            rtype: Rtype::A,
            expect_rcode: Rcode::NOERROR,
            expect_address: None,
        }
    }
}

/// A command whose exit status 0 means up. It runs in its own process
/// group, which is killed when the timeout expires. The environment gets
/// `LIFELINE_TARGET` (the target address); stdin, stdout and stderr are
/// closed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecProbe {
    pub command: PathBuf,
    pub args: Vec<String>,
}

/// A probe specification that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("interval {0:?} is shorter than the minimum {MIN_INTERVAL:?}")]
    Interval(Duration),
    #[error("timeout must be greater than zero")]
    Timeout,
    #[error("invalid status range {0:?}: expected e.g. 200, 200-299 or 2xx (100-599)")]
    StatusRange(String),
    #[error("an HTTP check needs at least one expected status range")]
    NoStatus,
    #[error("a body match needs a read limit greater than zero")]
    BodyLimit,
    #[error("invalid body regex: {0}")]
    Regex(Box<regex::Error>),
    #[error("an ICMP check needs a count of at least 1")]
    IcmpCount,
    #[error("an exec check needs a command")]
    Command,
}

impl ProbeSpec {
    /// Checks what the types cannot: positive timings and non-empty
    /// required options.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.interval < MIN_INTERVAL {
            return Err(SpecError::Interval(self.interval));
        }
        if self.timeout.is_zero() {
            return Err(SpecError::Timeout);
        }
        match &self.kind {
            ProbeKind::Http(h) if h.expect_status.is_empty() => Err(SpecError::NoStatus),
            ProbeKind::Http(h) if h.body.is_some() && h.body_limit == 0 => Err(SpecError::BodyLimit),
            ProbeKind::Icmp(i) if i.count == 0 => Err(SpecError::IcmpCount),
            ProbeKind::Exec(e) if e.command.as_os_str().is_empty() => Err(SpecError::Command),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> StatusRange {
        s.parse().unwrap()
    }

    #[test]
    fn status_ranges_parse() {
        assert_eq!(range("200"), StatusRange::try_new(200, 200).unwrap());
        assert_eq!(range("200-299"), StatusRange::try_new(200, 299).unwrap());
        assert_eq!(range(" 200 - 204 "), StatusRange::try_new(200, 204).unwrap());
        assert_eq!(range("2xx"), StatusRange::try_new(200, 299).unwrap());
        assert_eq!(range("5XX"), StatusRange::try_new(500, 599).unwrap());
        for bad in [
            "", "20", "2000", "299-200", "abc", "0xx", "1x", "200-", "-200", "099", "600", "6xx",
        ] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn status_ranges_contain_their_bounds_only() {
        let r = range("200-299");
        assert!(r.contains(200) && r.contains(250) && r.contains(299));
        assert!(!r.contains(199) && !r.contains(300));
        assert!(StatusRange::SUCCESS_OR_REDIRECT.contains(302));
        assert!(!StatusRange::SUCCESS_OR_REDIRECT.contains(404));
        assert_eq!(range("200-299").to_string(), "200-299");
        assert_eq!(range("204").to_string(), "204");
    }

    #[test]
    fn body_substring() {
        let m = BodyMatch::Contains(b"ok".to_vec());
        assert!(m.matches(b"status: ok\n"));
        assert!(m.matches(b"ok"));
        assert!(!m.matches(b"o"));
        assert!(!m.matches(b"OK"));
        assert!(!m.matches(b""));
        assert!(BodyMatch::Contains(Vec::new()).matches(b""));
    }

    #[test]
    fn body_regex_over_bytes() {
        let m = BodyMatch::Regex(BodyRegex::new(r#""status":\s*"(up|ok)""#).unwrap());
        assert!(m.matches(br#"{"status": "up"}"#));
        assert!(m.matches(b"\xff\xfe junk \"status\":\"ok\""));
        assert!(!m.matches(br#"{"status": "down"}"#));
        assert!(BodyRegex::new("(").is_err());
    }

    #[test]
    fn regexes_compare_by_source() {
        assert_eq!(BodyRegex::new("a+").unwrap(), BodyRegex::new("a+").unwrap());
        assert_ne!(BodyRegex::new("a+").unwrap(), BodyRegex::new("a*").unwrap());
    }

    #[test]
    fn validation() {
        let spec = |kind, interval, timeout| ProbeSpec {
            target: IpAddr::from([127, 0, 0, 1]),
            kind,
            interval,
            timeout,
        };
        let s = Duration::from_secs(1);
        assert!(spec(ProbeKind::Http(HttpProbe::http(80)), s, s / 2).validate().is_ok());
        assert!(matches!(
            spec(ProbeKind::Http(HttpProbe::http(80)), Duration::ZERO, s).validate(),
            Err(SpecError::Interval(_))
        ));
        assert!(matches!(
            spec(ProbeKind::Http(HttpProbe::http(80)), s, Duration::ZERO).validate(),
            Err(SpecError::Timeout)
        ));
        let mut h = HttpProbe::http(80);
        h.expect_status.clear();
        assert!(matches!(
            spec(ProbeKind::Http(h), s, s).validate(),
            Err(SpecError::NoStatus)
        ));
        let icmp = IcmpProbe { count: 0, size: 56 };
        assert!(matches!(
            spec(ProbeKind::Icmp(icmp), s, s).validate(),
            Err(SpecError::IcmpCount)
        ));
    }
}
