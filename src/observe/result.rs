//! What one probe run found: [`ProbeResult`], with per-phase [`Latency`]
//! and a short detail text made from a typed [`Failure`].

use std::io;
use std::time::Duration;

use tokio::time::Instant;

/// The outcome of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    pub latency: Latency,
    /// A few words for operators: `"200"`, `"connection refused"`,
    /// `"status 503"`, `"body did not match"`, `"certificate expired"`.
    pub detail: String,
    /// Whole days until the server certificate's `notAfter` (negative once
    /// expired), when an HTTPS handshake got that far.
    pub cert_days_left: Option<i64>,
    /// `cert_days_left` is below the check's `cert_warn_days`.
    pub cert_expiring: bool,
}

/// How long each phase of a run took. A phase that did not happen (or
/// did not finish before the timeout) is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// TCP handshake.
    pub connect: Option<Duration>,
    /// TLS handshake, after `connect`.
    pub tls: Option<Duration>,
    /// From the request sent to the first reply: HTTP response headers, a
    /// TCP reply, a DNS reply, the first ICMP echo reply.
    pub first_byte: Option<Duration>,
    /// The whole run.
    pub total: Duration,
}

/// Where a run is, so that a timeout can say what it was waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Connect,
    Tls,
    Reply,
    Body,
    Exec,
}

/// What a checker records as it goes. It lives outside the checker's
/// future, so it survives the future being dropped at the timeout.
#[derive(Debug)]
pub(super) struct Trace {
    pub started: Instant,
    pub phase: Phase,
    pub latency: Latency,
    pub cert_days_left: Option<i64>,
    pub cert_expiring: bool,
}

impl Trace {
    pub fn new() -> Trace {
        Trace {
            started: Instant::now(),
            phase: Phase::Connect,
            latency: Latency::default(),
            cert_days_left: None,
            cert_expiring: false,
        }
    }

    pub fn finish(mut self, outcome: Result<String, Failure>) -> ProbeResult {
        self.latency.total = self.started.elapsed();
        let (ok, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(failure) => (false, failure.to_string()),
        };
        ProbeResult {
            ok,
            latency: self.latency,
            detail,
            cert_days_left: self.cert_days_left,
            cert_expiring: self.cert_expiring,
        }
    }
}

/// Why a run failed. Its `Display` is the result's detail text: short,
/// lower case, no trailing punctuation.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    #[error("timeout {}", timeout_phase(*.0))]
    Timeout(Phase),
    #[error("{}", short_io(.0))]
    Io(#[from] io::Error),
    #[error("certificate expired")]
    CertExpired,
    #[error("certificate not valid for this name")]
    CertName,
    #[error("certificate issuer unknown")]
    CertIssuer,
    #[error("certificate not yet valid")]
    CertNotYetValid,
    #[error("TLS: {0}")]
    Tls(rustls::Error),
    #[error("TLS setup: {0}")]
    TlsSetup(#[from] super::clients::TlsSetupError),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("status {0}")]
    Status(u16),
    #[error("body did not match")]
    Body,
    #[error("connection closed before the expected reply")]
    Closed,
    #[error("reply did not match")]
    Reply,
    #[error("no reply ({0} sent)")]
    NoEcho(u16),
    #[error("ICMP unavailable: {0}")]
    Icmp(String),
    #[error("rcode {got}, expected {want}")]
    Rcode { got: String, want: String },
    #[error("answer lacks {0}")]
    Answer(std::net::IpAddr),
    #[error("malformed reply")]
    Malformed,
    #[error("exit {0}")]
    Exit(i32),
    #[error("killed by signal {0}")]
    Signal(i32),
    #[error("cannot run: {}", short_io(.0))]
    Spawn(io::Error),
}

fn timeout_phase(phase: Phase) -> &'static str {
    match phase {
        Phase::Connect => "connecting",
        Phase::Tls => "in TLS handshake",
        Phase::Reply => "waiting for reply",
        Phase::Body => "reading body",
        Phase::Exec => "(killed)",
    }
}

/// `"connection refused"` rather than `"Connection refused (os error 111)"`.
fn short_io(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl Failure {
    /// Unwraps the TLS error that tokio-rustls carries inside an
    /// `io::Error`, naming the certificate problems operators act on.
    pub fn from_tls_io(e: io::Error) -> Failure {
        let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
            return Failure::Io(e);
        };
        use rustls::CertificateError as C;
        match tls {
            rustls::Error::InvalidCertificate(cert) => match cert {
                C::Expired | C::ExpiredContext { .. } => Failure::CertExpired,
                C::NotValidYet | C::NotValidYetContext { .. } => Failure::CertNotYetValid,
                C::NotValidForName | C::NotValidForNameContext { .. } => Failure::CertName,
                C::UnknownIssuer => Failure::CertIssuer,
                _ => Failure::Tls(tls.clone()),
            },
            _ => Failure::Tls(tls.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_short() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Failure::Io(refused).to_string(), "connection refused");
        assert_eq!(Failure::Status(503).to_string(), "status 503");
        assert_eq!(Failure::Timeout(Phase::Reply).to_string(), "timeout waiting for reply");
    }
}
