//! The HTTP API (DESIGN.md §6): JSON under `/v1/` on what Lifeline decided
//! and why, and the operator's levers: overrides, failback, reload.
//!
//! ```text
//!  health engine ──status / override / failback──► routes ──► JSON views
//!        │                                            ▲
//!        └── event stream ──► EventLog (ring, store) ──┘  /v1/events, last check results
//!                                  └──► stream ──► /v1/stream ──► status page at / (page)
//! ```
//!
//! The API asks the health engine (its decide task) for everything it
//! shows and sends it every change, so it never holds decide state of its
//! own beyond the notes of overrides ([`overrides`]). It runs on the
//! control runtime and never touches the DNS query path: Prometheus
//! metrics (`/metrics`, [`metrics`]) sum the UDP workers' own counters at
//! scrape time. `client` is the other side, used by the `lifeline` CLI.

mod auth;
pub mod client;
mod error;
pub(crate) mod events;
mod metrics;
mod overrides;
mod page;
mod routes;
mod stream;
mod time;
mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

pub use self::error::ApiError;
pub use self::events::{EventLog, follow};
pub use self::routes::{OPENAPI, Route, routes};
pub use self::stream::BUFFER as STREAM_BUFFER;
pub use self::views::record_matches;
use crate::app::health::Health;
use crate::config::api::{ApiAuth, ApiToken};
use crate::publish::snapshot::SharedSnapshot;
use crate::serve::dns::stats::LiveCounts;
use crate::serve::dns::udp::LiveStats;

/// Reloads the configuration (what SIGHUP does), for `POST /v1/reload`.
pub type Reload = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

/// The environment variable the server takes its API token from; it wins
/// over `[api] token_file`.
pub const TOKEN_ENV: &str = "LIFELINE_API_TOKEN";

/// What the API needs from the running server.
pub struct Parts {
    pub health: Arc<Health>,
    pub snapshot: SharedSnapshot,
    pub reload: Reload,
    /// The event log, fed by [`follow`] (the event history when there is a
    /// store).
    pub log: Arc<EventLog>,
    /// From `[api] token_file`; [`TOKEN_ENV`] wins over it.
    pub token: Option<ApiToken>,
    /// Which requests need the token.
    pub auth: ApiAuth,
    /// The UDP workers' live counters, summed by metrics scrapes.
    pub udp: Vec<Arc<LiveStats>>,
    /// Each webhook's counters, read by metrics scrapes.
    pub webhooks: Arc<crate::notify::Webhooks>,
    /// The TCP connections' counters.
    pub tcp: Arc<LiveCounts>,
    pub shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{TOKEN_ENV}: {0}")]
    Token(String),
    #[error("[api] auth = \"all\" needs a token: set {TOKEN_ENV} in the server's environment or [api] token_file")]
    AuthWithoutToken,
    #[error("binding the API to {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// The token writes need: [`TOKEN_ENV`] if set, else the configured one.
pub fn token(configured: Option<ApiToken>) -> Result<Option<ApiToken>, StartError> {
    match std::env::var(TOKEN_ENV) {
        Ok(text) if !text.is_empty() => ApiToken::try_new(&text).map(Some).map_err(StartError::Token),
        _ => Ok(configured),
    }
}

/// Binds `listen` and serves the API until shutdown; returns the address
/// bound (port 0 resolved). Must be called inside the control runtime.
pub fn start(listen: SocketAddr, parts: Parts) -> Result<SocketAddr, StartError> {
    let bind_error = |source| StartError::Bind { addr: listen, source };
    let listener = std::net::TcpListener::bind(listen).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let token = token(parts.token)?;
    if parts.auth == ApiAuth::All && token.is_none() {
        return Err(StartError::AuthWithoutToken);
    }
    if token.is_none() {
        tracing::warn!(
            "the API is read-only: set {TOKEN_ENV} or [api] token_file to allow overrides, failback and reload"
        );
    }
    if !bound.ip().is_loopback() && parts.auth == ApiAuth::Writes {
        tracing::warn!(%bound, "the API listens beyond loopback; reads need no token");
    }
    let log = parts.log;
    let api = routes::Api(Arc::new(routes::Shared {
        health: parts.health,
        snapshot: parts.snapshot,
        reload: parts.reload,
        token,
        auth: parts.auth,
        log,
        udp: parts.udp,
        webhooks: parts.webhooks,
        tcp: parts.tcp,
        started: SystemTime::now(),
        shutdown: parts.shutdown.clone(),
    }));
    let mut shutdown = parts.shutdown;
    let serve = axum::serve(listener, routes::router(api)).with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    });
    tokio::spawn(async move {
        if let Err(e) = serve.await {
            tracing::error!("the API stopped: {e}");
        }
    });
    Ok(bound)
}
