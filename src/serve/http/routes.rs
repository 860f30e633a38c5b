//! The API's routes and their handlers. [`routes`] is the one list of
//! them: the router is built from it, and a test holds it against the
//! OpenAPI document (`openapi.json`, next to this file) both ways.
//!
//! Reads are open unless `[api] auth = "all"` ([`super::auth`]); writes
//! need the bearer token ([`Authorized`]), checked before anything else
//! about the request.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode, Uri, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Router, routing};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::events::{self, EventLog, Filter, Page};
use super::views::{self, Clock, Context, EndpointView, ExplainView, OverrideView, RecordView};
use super::{Reload, metrics, page, stream};
use crate::app::health::{Applied, Health, Request, Status, Target};
use crate::config::api::ApiToken;
use crate::config::limits;
use crate::decide::verdict::Override;
use crate::publish::event::Audit;
use crate::publish::snapshot::SharedSnapshot;

/// The OpenAPI 3.1 description of every route below.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct Api(pub(super) Arc<Shared>);

pub(super) struct Shared {
    pub health: Arc<Health>,
    pub snapshot: SharedSnapshot,
    pub reload: Reload,
    pub token: Option<ApiToken>,
    pub auth: crate::config::api::ApiAuth,
    pub log: Arc<EventLog>,
    pub udp: Vec<Arc<crate::serve::dns::udp::LiveStats>>,
    pub webhooks: Arc<crate::notify::Webhooks>,
    pub tcp: Arc<crate::serve::dns::stats::LiveCounts>,
    pub started: SystemTime,
    /// Ends the status page's streams, which would otherwise hold
    /// graceful shutdown open.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("writes", &self.token.is_some())
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

impl Api {
    pub(super) async fn status(&self) -> Result<Status, ApiError> {
        Ok(self.0.health.status().await?)
    }

    pub(super) fn context<'a>(&'a self, status: &'a Status) -> Context<'a> {
        Context {
            status,
            clock: Clock::of(status),
            log: &self.0.log,
        }
    }
}

/// One route: a method and a path as the OpenAPI document writes them.
#[derive(Debug)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<Api>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, Api>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
    Route {
        method,
        path,
        handler: routing::on(filter, handler),
    }
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/v1/status", status),
        route(Method::GET, "/v1/records", records),
        route(Method::GET, "/v1/records/{name}", record),
        route(Method::GET, "/v1/records/{name}/explain", explain),
        route(Method::POST, "/v1/records/{name}/failback", failback),
        route(Method::GET, "/v1/endpoints", endpoints),
        route(Method::GET, "/v1/endpoints/{name}", endpoint),
        route(Method::GET, "/v1/events", events),
        route(Method::GET, "/v1/overrides", overrides),
        route(Method::POST, "/v1/overrides", set_override),
        route(Method::DELETE, "/v1/overrides/{endpoint}", clear_override),
        route(Method::POST, "/v1/reload", reload),
        route(Method::GET, "/v1/openapi.json", openapi),
        route(Method::GET, "/metrics", metrics::scrape),
        route(Method::GET, "/v1/stream", stream::stream),
        route(Method::GET, "/", page::index),
        route(Method::GET, "/status.js", page::script),
        route(Method::GET, "/status.css", page::style),
    ]
}

/// The router: every route, JSON errors for unknown routes and methods,
/// and a bound on request bodies.
pub fn router(api: Api) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, r| router.route(r.path, r.handler))
        .fallback(|uri: Uri| async move { ApiError::NoRoute(uri.path().to_string()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limits::API_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            super::auth::require_token,
        ))
        .with_state(api)
}

/// Proof that a request may change state: it carries the configured
/// bearer token (RFC 6750 §2.1), compared in constant time.
#[derive(Debug)]
pub struct Authorized;

impl FromRequestParts<Api> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Authorized, ApiError> {
        let Some(token) = &api.0.token else {
            return Err(ApiError::WritesDisabled);
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::MissingToken)?
            .as_bytes();
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let (scheme, presented) = value.split_at(value.len().min(7));
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return Err(ApiError::MissingToken);
        }
        if token.matches(presented.trim_ascii()) {
            Ok(Authorized)
        } else {
            Err(ApiError::WrongToken)
        }
    }
}

fn path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(s)| s).map_err(|e| ApiError::BadRequest(e.body_text()))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// A JSON body; an empty body is `{}`.
fn body<T: serde::de::DeserializeOwned>(b: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = b.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(limits::API_BODY_BYTES),
        _ => ApiError::BadRequest(e.body_text()),
    })?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("the body is not a valid request: {e}")))
}

#[derive(Debug, Serialize)]
struct StatusView {
    version: &'static str,
    started: String,
    uptime_seconds: u64,
    /// Whether writes are possible (a token is configured).
    writes: bool,
    records: RecordCounts,
    endpoints: EndpointCounts,
    zones: Vec<ZoneView>,
    /// The number of the newest event, for `GET /v1/events?after=`.
    latest_event: u64,
}

#[derive(Debug, Default, Serialize)]
struct RecordCounts {
    total: usize,
    /// On the best tier with every endpoint of it up.
    healthy: usize,
    failed_over: usize,
    degraded: usize,
    all_down: usize,
}

#[derive(Debug, Default, Serialize)]
struct EndpointCounts {
    total: usize,
    up: usize,
    down: usize,
    stale: usize,
    overridden: usize,
}

#[derive(Debug, Serialize)]
struct ZoneView {
    name: String,
    serial: u32,
}

async fn status(State(api): State<Api>) -> Result<Json<StatusView>, ApiError> {
    let status = api.status().await?;
    let mut records = RecordCounts::default();
    for r in &status.records {
        let cause = &r.answer.cause;
        records.total += 1;
        records.healthy += usize::from(!cause.failed_over && !cause.degraded);
        records.failed_over += usize::from(cause.failed_over && r.answer.tier.is_some());
        records.degraded += usize::from(cause.degraded && r.answer.tier.is_some());
        records.all_down += usize::from(r.answer.tier.is_none());
    }
    let mut endpoints = EndpointCounts::default();
    for v in status.endpoints.iter().filter_map(|e| e.verdict.as_ref()) {
        endpoints.total += 1;
        endpoints.up += usize::from(v.up);
        endpoints.down += usize::from(!v.up);
        endpoints.stale += usize::from(v.stale);
        endpoints.overridden += usize::from(v.admin != Override::Auto);
    }
    let snapshot = api.0.snapshot.load();
    let zones = snapshot
        .zones
        .iter()
        .map(|z| ZoneView {
            name: z.apex.to_string(),
            serial: snapshot.serial(z.index),
        })
        .collect();
    let uptime = SystemTime::now().duration_since(api.0.started).unwrap_or_default();
    Ok(Json(StatusView {
        version: env!("CARGO_PKG_VERSION"),
        started: views::timestamp(api.0.started),
        uptime_seconds: uptime.as_secs(),
        writes: api.0.token.is_some(),
        records,
        endpoints,
        zones,
        latest_event: api.0.log.latest(),
    }))
}

#[derive(Debug, Serialize)]
struct Records {
    records: Vec<RecordView>,
}

async fn records(State(api): State<Api>) -> Result<Json<Records>, ApiError> {
    let status = api.status().await?;
    let ctx = api.context(&status);
    let records = status.records.iter().map(|r| RecordView::of(r, &ctx)).collect();
    Ok(Json(Records { records }))
}

async fn record(
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<RecordView>, ApiError> {
    let name = path(name)?;
    let status = api.status().await?;
    let record = views::find_record(&status, &name)?;
    Ok(Json(RecordView::of(record, &api.context(&status))))
}

async fn explain(
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<ExplainView>, ApiError> {
    let name = path(name)?;
    let status = api.status().await?;
    let record = views::find_record(&status, &name)?;
    Ok(Json(ExplainView::of(record, &api.context(&status))))
}

async fn failback(
    _: Authorized,
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<RecordView>, ApiError> {
    let name = path(name)?;
    let canonical = views::find_record(&api.status().await?, &name)?.name.clone();
    api.0.health.failback(&canonical).await?;
    let status = api.status().await?;
    let record = views::find_record(&status, &canonical)?;
    Ok(Json(RecordView::of(record, &api.context(&status))))
}

#[derive(Debug, Serialize)]
struct Endpoints {
    endpoints: Vec<EndpointView>,
}

async fn endpoints(State(api): State<Api>) -> Result<Json<Endpoints>, ApiError> {
    let status = api.status().await?;
    let ctx = api.context(&status);
    let endpoints = status
        .endpoints
        .iter()
        .filter_map(|e| EndpointView::of(e, &ctx))
        .collect();
    Ok(Json(Endpoints { endpoints }))
}

async fn endpoint(
    State(api): State<Api>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<EndpointView>, ApiError> {
    let name = path(name)?;
    endpoint_view(&api, &name).await.map(Json)
}

async fn endpoint_view(api: &Api, name: &str) -> Result<EndpointView, ApiError> {
    let status = api.status().await?;
    let endpoint = views::find_endpoint(&status, name)?;
    EndpointView::of(endpoint, &api.context(&status)).ok_or_else(|| ApiError::UnknownEndpoint(name.to_string()))
}

/// `GET /v1/events` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    limit: Option<i64>,
    before: Option<u64>,
    after: Option<u64>,
    since: Option<String>,
    record: Option<String>,
    endpoint: Option<String>,
    kind: Option<String>,
}

async fn events(State(api): State<Api>, q: Result<Query<EventsQuery>, QueryRejection>) -> Result<Json<Page>, ApiError> {
    let q = query(q)?;
    let limit = match q.limit {
        None => limits::API_EVENTS_PAGE.default,
        Some(n) => limits::API_EVENTS_PAGE
            .check(n)
            .map_err(|m| ApiError::BadRequest(format!("limit: {m}")))?,
    };
    let since = q
        .since
        .map(|s| {
            super::time::parse_rfc3339(&s)
                .map_err(|e| ApiError::BadRequest(format!("since: \"{s}\" is not an RFC 3339 time ({e})")))
        })
        .transpose()?;
    if let Some(kind) = q.kind.as_deref().filter(|k| !events::KINDS.contains(k)) {
        return Err(ApiError::BadRequest(format!(
            "kind: \"{kind}\" is not one of {}",
            events::KINDS.join(", ")
        )));
    }
    let filter = Filter {
        before: q.before,
        after: q.after,
        since,
        record: q.record,
        endpoint: q.endpoint,
        kind: q.kind,
        limit: limit as usize,
    };
    Ok(Json(api.0.log.page(&filter).await))
}

#[derive(Debug, Serialize)]
struct OverrideList {
    overrides: Vec<OverrideView>,
    /// Overrides scheduled to start later.
    scheduled: Vec<OverrideView>,
}

async fn overrides(State(api): State<Api>) -> Result<Json<OverrideList>, ApiError> {
    let status = api.status().await?;
    let overrides = status.endpoints.iter().filter_map(OverrideView::of).collect();
    let scheduled = status
        .endpoints
        .iter()
        .filter_map(|e| {
            Some(OverrideView::from_note(
                &e.name,
                e.scheduled.as_ref()?.mode,
                e.scheduled.as_ref()?,
            ))
        })
        .collect();
    Ok(Json(OverrideList { overrides, scheduled }))
}

/// `POST /v1/overrides` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRequest {
    /// One endpoint, by name; or
    endpoint: Option<String>,
    /// every endpoint with this tag, `KEY=VALUE`.
    tag: Option<String>,
    mode: Override,
    reason: Option<String>,
    /// A duration: `"30m"`, `"2h"`.
    #[serde(rename = "for")]
    lasts: Option<String>,
    /// When it takes effect (RFC 3339); now if absent.
    at: Option<String>,
    by: Option<String>,
}

/// What `POST /v1/overrides` answers: the endpoint it named, or, for a
/// tag, every endpoint the tag named.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum OverrideResponse {
    One(Box<EndpointView>),
    Tagged { endpoints: Vec<EndpointView> },
}

async fn set_override(
    _: Authorized,
    State(api): State<Api>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<OverrideResponse>, ApiError> {
    let request: OverrideRequest = body(b)?;
    let target = match (request.endpoint, request.tag) {
        (Some(endpoint), None) => Target::Endpoint(endpoint),
        (None, Some(tag)) => Target::tag(&tag).map_err(|m| ApiError::BadRequest(format!("tag: {m}")))?,
        _ => {
            return Err(ApiError::BadRequest(
                "give either `endpoint` (one endpoint, by name) or `tag` (every endpoint with it, KEY=VALUE)".into(),
            ));
        }
    };
    let reason = request.reason.unwrap_or_default();
    if request.mode != Override::Auto && reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "reason: say why (e.g. \"kernel upgrade\"); it is kept with the override and in its event".into(),
        ));
    }
    let lasts = match (&request.lasts, request.mode) {
        (None, _) => None,
        (Some(_), Override::Auto) => {
            return Err(ApiError::BadRequest(
                "for: `auto` does not lapse; give `for` with drain or force-up".into(),
            ));
        }
        (Some(text), _) => Some(lasts(text)?),
    };
    let starts = request.at.as_deref().map(starts).transpose()?;
    let audit = audit(reason, request.by)?;
    let tagged = matches!(target, Target::Tag { .. });
    let applied = api
        .0
        .health
        .request(Request {
            target,
            mode: request.mode,
            reason: audit.reason,
            by: audit.by,
            lasts,
            starts,
        })
        .await?;
    applied_view(&api, &applied, tagged).await.map(Json)
}

/// What an override request answers: the endpoint it named, or for a tag
/// or a dual-stack endpoint (both of its families) the list.
async fn applied_view(api: &Api, applied: &Applied, tagged: bool) -> Result<OverrideResponse, ApiError> {
    let status = api.status().await?;
    let ctx = api.context(&status);
    let mut views = Vec::new();
    for name in &applied.endpoints {
        let endpoint = views::find_endpoint(&status, name)?;
        views.push(EndpointView::of(endpoint, &ctx).ok_or_else(|| ApiError::UnknownEndpoint(name.clone()))?);
    }
    Ok(match (tagged, views.len()) {
        (false, 1) => OverrideResponse::One(Box::new(views.remove(0))),
        _ => OverrideResponse::Tagged { endpoints: views },
    })
}

/// When a scheduled override starts: an RFC 3339 time, "not before": one
/// already past acts now.
fn starts(text: &str) -> Result<SystemTime, ApiError> {
    super::time::parse_rfc3339(text).map_err(|e| {
        ApiError::BadRequest(format!(
            "at: \"{text}\" is not a time: {e}; write RFC 3339, e.g. 2026-11-26T22:00:00Z"
        ))
    })
}

fn lasts(text: &str) -> Result<Duration, ApiError> {
    let bad = |m: String| ApiError::BadRequest(format!("for: {m}"));
    let d = crate::config::resolved::parse_duration(text).map_err(bad)?;
    limits::OVERRIDE_FOR.check(d).map_err(bad)
}

/// Who and why, within bounds; the author defaults to `api`.
fn audit(reason: String, by: Option<String>) -> Result<Audit, ApiError> {
    let too_long = |field: &str, text: &str, max: usize| {
        let chars = text.chars().count();
        (chars > max).then(|| ApiError::BadRequest(format!("{field}: {chars} characters; at most {max}")))
    };
    if let Some(e) = too_long("reason", &reason, limits::OVERRIDE_REASON_CHARS) {
        return Err(e);
    }
    if let Some(e) = by.as_deref().and_then(|b| too_long("by", b, limits::OVERRIDE_BY_CHARS)) {
        return Err(e);
    }
    let by = by.filter(|b| !b.trim().is_empty()).unwrap_or_else(|| "api".into());
    Ok(Audit {
        reason: reason.trim().to_string(),
        by,
        until: None,
        starts: None,
    })
}

/// `DELETE /v1/overrides/{endpoint}` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearQuery {
    reason: Option<String>,
    by: Option<String>,
}

async fn clear_override(
    _: Authorized,
    State(api): State<Api>,
    endpoint: Result<Path<String>, PathRejection>,
    q: Result<Query<ClearQuery>, QueryRejection>,
) -> Result<Json<OverrideResponse>, ApiError> {
    let endpoint = path(endpoint)?;
    let q = query(q)?;
    let audit = audit(q.reason.unwrap_or_default(), q.by)?;
    let applied = api
        .0
        .health
        .request(Request {
            target: Target::Endpoint(endpoint),
            mode: Override::Auto,
            reason: audit.reason,
            by: audit.by,
            lasts: None,
            starts: None,
        })
        .await?;
    applied_view(&api, &applied, false).await.map(Json)
}

#[derive(Debug, Serialize)]
struct Reloaded {
    reloaded: bool,
    zones: Vec<ZoneView>,
}

async fn reload(_: Authorized, State(api): State<Api>) -> Result<Json<Reloaded>, ApiError> {
    (api.0.reload)()
        .await
        .map_err(|e| ApiError::ReloadRejected(format!("{e:#}")))?;
    let snapshot = api.0.snapshot.load();
    let zones = snapshot
        .zones
        .iter()
        .map(|z| ZoneView {
            name: z.apex.to_string(),
            serial: snapshot.serial(z.index),
        })
        .collect();
    Ok(Json(Reloaded { reloaded: true, zones }))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_openapi_document_and_every_documented_one_is_routed() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json parses");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let routed: Vec<(String, String)> = routes()
            .iter()
            .map(|r| (r.path.to_string(), r.method.as_str().to_lowercase()))
            .collect();
        for (path, method) in &routed {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is routed but not in openapi.json"
            );
        }
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                assert!(
                    routed.contains(&(path.clone(), method.clone())),
                    "{method} {path} is in openapi.json but not routed"
                );
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect_refs(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }
}
