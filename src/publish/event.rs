//! Events: what the pipeline tells the outside world. Every check result,
//! verdict change and answer change is one [`Event`], sent to whoever
//! subscribes (the log, the demo, the store, webhooks, the status page).
//! Events serialize to JSON as the store keeps them.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize};

use crate::decide::verdict::Override;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: SystemTime,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A check ran (one observation).
    Check {
        endpoint: String,
        check: String,
        ok: bool,
        detail: String,
        latency: Duration,
    },
    /// An endpoint's verdict changed, or only its freshness did (`flipped`
    /// false: the checks went stale, or fresh again, and the verdict held).
    Verdict {
        endpoint: String,
        up: bool,
        flipped: bool,
        reason: String,
    },
    /// A record's answer changed.
    Answer {
        record: String,
        old: AnswerText,
        new: AnswerText,
        cause: String,
    },
    /// A certificate is close to expiry.
    Certificate {
        endpoint: String,
        check: String,
        days_left: i64,
    },
    /// An operator set or cleared an override, or one lapsed at its
    /// expiry: the audit trail of DESIGN.md §3.
    Override {
        endpoint: String,
        admin: Override,
        audit: Audit,
    },
    /// The correlated-failure breaker tripped: `groups_down` of `groups`
    /// unrelated endpoint groups went down at once, and the answers of
    /// `endpoints` are held; or it closed (`tripped` false), and
    /// `endpoints`, still down, move traffic now.
    Breaker {
        tripped: bool,
        groups_down: usize,
        groups: usize,
        endpoints: Vec<String>,
        by_operator: bool,
    },
    /// The checker stopped delivering results and was restarted; verdicts
    /// held their last values (marked stale) meanwhile.
    Watchdog { reason: String, restarts: u32 },
}

/// The latest time RFC 3339's four-digit years can write,
/// 9999-12-31T23:59:59.999Z, after the Unix epoch.
const LATEST: Duration = Duration::from_millis(253_402_300_799_999);

/// `t` within what RFC 3339 can write (1970 to the end of year 9999): an
/// override scheduled at the end of 9999 for 90 days lapses, as far as any
/// text can say, then.
pub fn writable(t: SystemTime) -> SystemTime {
    t.clamp(std::time::UNIX_EPOCH, std::time::UNIX_EPOCH + LATEST)
}

/// Who set an override, why, and until when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    pub reason: String,
    pub by: String,
    /// When the override lapses by itself; `None` keeps it until changed.
    pub until: Option<SystemTime>,
    /// When a scheduled override takes effect; `None`: at once.
    pub starts: Option<SystemTime>,
}

/// An answer as shown to operators: its addresses (or NODATA/SERVFAIL),
/// TTL and tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerText {
    pub addresses: Vec<IpAddr>,
    pub negative: Option<&'static str>,
    pub ttl: u32,
    pub tier: Option<u8>,
}

/// As read back from the store: `negative` is `NODATA` or `SERVFAIL`.
impl<'de> Deserialize<'de> for AnswerText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnswerText, D::Error> {
        #[derive(Deserialize)]
        struct Stored {
            addresses: Vec<IpAddr>,
            negative: Option<String>,
            ttl: u32,
            tier: Option<u8>,
        }
        let stored = Stored::deserialize(d)?;
        let negative = match stored.negative.as_deref() {
            None => None,
            Some("NODATA") => Some("NODATA"),
            Some("SERVFAIL") => Some("SERVFAIL"),
            Some(other) => {
                let message = format!("\"{other}\" is not NODATA or SERVFAIL");
                return Err(serde::de::Error::custom(message));
            }
        };
        Ok(AnswerText {
            addresses: stored.addresses,
            negative,
            ttl: stored.ttl,
            tier: stored.tier,
        })
    }
}

impl std::fmt::Display for AnswerText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.negative {
            Some(n) => f.write_str(n)?,
            None => {
                let addrs: Vec<String> = self.addresses.iter().map(ToString::to_string).collect();
                f.write_str(&addrs.join(" "))?;
            }
        }
        write!(f, " (TTL {}", self.ttl)?;
        if let Some(t) = self.tier {
            write!(f, ", tier {t}")?;
        }
        f.write_str(")")
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventKind::Check {
                endpoint,
                check,
                ok,
                detail,
                latency,
            } => {
                let state = if *ok { "ok" } else { "FAIL" };
                write!(
                    f,
                    "check {check} of {endpoint}: {state} ({detail}, {:.1} ms)",
                    latency.as_secs_f64() * 1e3
                )
            }
            EventKind::Verdict {
                endpoint,
                up,
                flipped,
                reason,
            } => {
                let state = if *up { "UP" } else { "DOWN" };
                let verb = if *flipped { "is now" } else { "stays" };
                write!(f, "endpoint {endpoint} {verb} {state} ({reason})")
            }
            EventKind::Answer {
                record,
                old,
                new,
                cause,
            } => write!(f, "answer of {record}: {old} -> {new}; {cause}"),
            EventKind::Certificate {
                endpoint,
                check,
                days_left,
            } => {
                write!(
                    f,
                    "certificate checked by {check} for {endpoint} expires in {days_left} days"
                )
            }
            EventKind::Override { endpoint, admin, audit } => {
                let mode = match admin {
                    Override::Auto => "auto (follows its checks)",
                    Override::Drain => "drained",
                    Override::ForceUp => "forced up",
                };
                match audit.starts {
                    Some(starts) => write!(
                        f,
                        "endpoint {endpoint} to be {mode} at {} by {}",
                        humantime::format_rfc3339_seconds(writable(starts)),
                        audit.by
                    )?,
                    None => write!(f, "endpoint {endpoint} set to {mode} by {}", audit.by)?,
                }
                if !audit.reason.is_empty() {
                    write!(f, ": {}", audit.reason)?;
                }
                if let Some(until) = audit.until {
                    write!(f, " (until {})", humantime::format_rfc3339_seconds(writable(until)))?;
                }
                Ok(())
            }
            EventKind::Breaker {
                tripped: true,
                groups_down,
                groups,
                endpoints,
                ..
            } => write!(
                f,
                "breaker TRIPPED: {groups_down} of {groups} unrelated endpoint groups went down at once, likelier \
                 the checker's network than theirs; holding the answers of {}",
                endpoints.join(", ")
            ),
            EventKind::Watchdog { reason, restarts } => {
                write!(f, "checker restarted ({reason}); restarts so far: {restarts}")
            }
            EventKind::Breaker {
                tripped: false,
                endpoints,
                by_operator,
                ..
            } => {
                f.write_str(if *by_operator {
                    "breaker released by an operator"
                } else {
                    "breaker closed"
                })?;
                match endpoints.is_empty() {
                    true => f.write_str("; the held endpoints recovered"),
                    false => write!(f, "; still down, their traffic moves now: {}", endpoints.join(", ")),
                }
            }
        }
    }
}
