//! `[api] auth = "all"`: every request, reads and `/metrics` included,
//! needs the bearer token that writes need ([`Authorized`]). With the
//! default, `"writes"`, this layer lets every request through and the
//! write handlers ask for the token themselves.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::routes::{Api, Authorized};
use crate::config::api::ApiAuth;

/// Refuses a request without the token (401, JSON) when reads need it.
pub async fn require_token(State(api): State<Api>, request: Request, next: Next) -> Response {
    if api.0.auth == ApiAuth::Writes {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = Authorized::from_request_parts(&mut parts, &api).await {
        return refused.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
