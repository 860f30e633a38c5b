//! The observe stage: health checks and the scheduler that runs them.
//!
//! ```text
//!  ProbeSpec ──► Scheduler ──(due queue, jitter, one run in flight per probe,
//!  (per key)      │           bounded concurrency)──► probe() ──► Observation
//!                 └─ Clients: TLS configs and ICMP sockets, built once     (key, at, ProbeResult)
//! ```
//!
//! A [`ProbeSpec`] says what to check (`http`/`https`, `tcp`, `icmp`,
//! `dns`, `exec`; DESIGN.md §2), at which address, how often and within
//! what time. [`probe`] runs it once and returns a [`ProbeResult`]: up or
//! down, per-phase [`Latency`], a short detail text and, for HTTPS, the
//! days left on the certificate. The [`Scheduler`] runs a set of probes
//! keyed by [`ProbeKey`] and sends every result as an [`Observation`] into
//! a channel.
//!
//! **Boundary.** This stage knows addresses, not endpoints or records: the
//! configuration stage builds the specs, and the app maps each key back to
//! the (endpoint, check) pairs that share it before `decide` sees them.
//! Nothing here reads configuration or decides up/down beyond one run.
//!
//! **Keys and deduplication.** A key is a hash of the spec
//! ([`ProbeKey::of`]). Identical checks shared by several records get the
//! same key and run once; the caller fans the result out. A key never
//! changes meaning: a changed spec is a new key, so after a reload a result
//! still queued for a removed probe cannot be taken for its replacement,
//! and an unchanged check keeps its key, its schedule and its history.

pub(crate) mod cert;
mod clients;
mod dns;
mod exec;
pub(crate) mod http;
mod icmp;
mod lag;
mod result;
mod scheduler;
mod spec;
mod tcp;

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;

use tokio::time::Instant;

pub use clients::{Clients, TlsSetupError, check_ca};
pub use lag::{EXPORTED_BOUNDS_US as LAG_BOUNDS_US, LagSummary};
pub use result::{Latency, ProbeResult};
pub use scheduler::{
    DEFAULT_MAX_IN_FLIGHT, Fault, FaultKind, Prober, Scheduler, SchedulerError, SchedulerOptions, SchedulerStats,
};
pub use spec::{
    BodyMatch, BodyRegex, CaSource, DEFAULT_BODY_LIMIT, DEFAULT_USER_AGENT, DnsProbe, ExecProbe, HttpProbe, IcmpProbe,
    MIN_INTERVAL, ProbeKind, ProbeSpec, SpecError, StatusRange, TcpProbe, TlsOptions, TlsVerify,
};

use result::{Failure, Trace};

/// Names one probe in the scheduler and in its observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeKey(pub u64);

impl ProbeKey {
    /// The key of a spec: a 64-bit SipHash of all of it, stable for the
    /// life of the process (not across builds: keys are never stored).
    /// Two different specs colliding among 10,000 has a chance of about
    /// 3 in 10^12.
    pub fn of(spec: &ProbeSpec) -> ProbeKey {
        let mut hasher = std::hash::DefaultHasher::new();
        spec.hash(&mut hasher);
        ProbeKey(hasher.finish())
    }
}

impl std::fmt::Display for ProbeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One result of one probe, as the scheduler reports it.
#[derive(Debug, Clone)]
pub struct Observation {
    pub key: ProbeKey,
    /// When the run finished.
    pub at: Instant,
    pub result: ProbeResult,
}

/// Runs one probe, within its timeout. A run that times out reports what
/// it was waiting for ("timeout connecting", "timeout reading body") and
/// the phases it completed; an `exec` command is killed.
pub async fn probe(spec: &ProbeSpec, clients: &Clients) -> ProbeResult {
    let mut trace = Trace::new();
    let outcome = tokio::time::timeout(spec.timeout, check(spec, clients, &mut trace)).await;
    let outcome = outcome.unwrap_or_else(|_| Err(Failure::Timeout(trace.phase)));
    trace.finish(outcome)
}

async fn check(spec: &ProbeSpec, clients: &Clients, trace: &mut Trace) -> Result<String, Failure> {
    let target = spec.target;
    match &spec.kind {
        ProbeKind::Http(h) => http::check(target, h, clients, trace).await,
        ProbeKind::Tcp(t) => tcp::check(SocketAddr::new(target, t.port), t, trace).await,
        ProbeKind::Icmp(i) => icmp::check(target, i, spec.timeout, clients, trace).await,
        ProbeKind::Dns(d) => dns::check(target, d, trace).await,
        ProbeKind::Exec(e) => exec::check(target, e, trace).await,
    }
}

/// 64 unpredictable bits from the standard library's per-process random
/// hash keys (no RNG dependency): DNS query IDs and the scheduler's seed.
fn random_u64() -> u64 {
    std::hash::RandomState::new().build_hasher().finish()
}
