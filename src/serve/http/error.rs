//! The API's errors: each is a JSON body `{ "error": "message" }` with the
//! status that says whose fault it was (RFC 9110 §15.5).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::health::ControlError;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: a body, a query parameter, a duration.
    #[error("{0}")]
    BadRequest(String),
    #[error("this request needs `Authorization: Bearer TOKEN` (the token in LIFELINE_API_TOKEN)")]
    MissingToken,
    #[error("the bearer token is not the configured API token")]
    WrongToken,
    #[error(
        "writes are disabled: no API token is configured; set LIFELINE_API_TOKEN in the server's \
         environment, or `token_file` in its [api] configuration, and restart it"
    )]
    WritesDisabled,
    #[error("no endpoint named \"{0}\"; GET /v1/endpoints lists them")]
    UnknownEndpoint(String),
    #[error("\"{name}\" is a dual-stack endpoint with a verdict per family: ask for {families} (written %2F in a URL)")]
    DualStackEndpoint { name: String, families: String },
    #[error("no endpoint carries the tag {0}; GET /v1/endpoints lists the tags")]
    UnknownTag(String),
    #[error("no health-checked record named \"{0}\"; GET /v1/records lists them")]
    UnknownRecord(String),
    #[error("\"{name}\" is ambiguous: it has {choices}; name one, e.g. {name}/A (written %2F in a URL)")]
    AmbiguousRecord { name: String, choices: String },
    #[error("no such route: {0}; GET /v1/openapi.json lists the routes")]
    NoRoute(String),
    #[error("method not allowed here; GET /v1/openapi.json lists the methods of each route")]
    MethodNotAllowed,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// A reload found the configuration invalid; the old one still serves.
    #[error("configuration rejected, still serving the previous one: {0}")]
    ReloadRejected(String),
    #[error("the health engine has stopped")]
    Stopped,
    /// The change could not be made durable, so it was not made.
    #[error("could not record the change in the state store; nothing was changed: {0}")]
    Store(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::AmbiguousRecord { .. } => StatusCode::BAD_REQUEST,
            ApiError::MissingToken | ApiError::WrongToken => StatusCode::UNAUTHORIZED,
            ApiError::WritesDisabled => StatusCode::FORBIDDEN,
            ApiError::UnknownEndpoint(_)
            | ApiError::DualStackEndpoint { .. }
            | ApiError::UnknownTag(_)
            | ApiError::UnknownRecord(_)
            | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::ReloadRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::UnknownEndpoint(name) => ApiError::UnknownEndpoint(name),
            ControlError::UnknownTag(tag) => ApiError::UnknownTag(tag),
            ControlError::UnknownRecord(name) => ApiError::UnknownRecord(name),
            ControlError::Stopped => ApiError::Stopped,
            ControlError::Store(message) => ApiError::Store(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: say which scheme would be accepted.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lifeline\""),
            );
        }
        response
    }
}
