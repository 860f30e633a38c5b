//! `[api] auth = "all"`: every request, reads and `/metrics` included,
//! needs the bearer token that writes need ([`Authorized`]). With the
//! default, `"writes"`, this layer lets every request through and the
//! write handlers ask for the token themselves.
//!
//! A browser cannot add a bearer token to the status page's requests (an
//! `EventSource` sends no custom headers), so with `"all"` a read may also
//! carry the token in a cookie: opening `/?token=TOKEN` once answers with
//! the cookie (`HttpOnly`, `SameSite=Strict`) and a redirect to `/`, as
//! Jupyter does. Writes still need the `Authorization` header, so the
//! cookie cannot be used to change anything.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::routes::{Api, Authorized};
use crate::config::api::ApiAuth;

/// The cookie that carries the token for the status page.
pub const COOKIE: &str = "lifeline_token";

/// Refuses a request without the token (401, JSON) when reads need it.
pub async fn require_token(State(api): State<Api>, request: Request, next: Next) -> Response {
    if api.0.auth == ApiAuth::Writes {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let read = parts.method == Method::GET || parts.method == Method::HEAD;
    if let (true, Some(token)) = (read, &api.0.token) {
        if cookie_token(&parts).is_some_and(|c| token.matches(c)) {
            return next.run(Request::from_parts(parts, body)).await;
        }
        if parts.uri.path() == "/"
            && let Some(presented) = query_token(&parts)
            && token.matches(presented.as_bytes())
        {
            return sign_in(&presented);
        }
    }
    if let Err(refused) = Authorized::from_request_parts(&mut parts, &api).await {
        return refused.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Sets the cookie and sends the browser to the page without the token in
/// its address.
fn sign_in(presented: &str) -> Response {
    let cookie = format!("{COOKIE}={presented}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The value of the token cookie, if the request has one.
fn cookie_token(parts: &Parts) -> Option<&[u8]> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .map(<[u8]>::trim_ascii)
        .find_map(|pair| pair.strip_prefix(COOKIE.as_bytes())?.strip_prefix(b"="))
}

/// `token=` in the query string, percent-decoded.
fn query_token(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(percent_decode)
        .filter(|t| !t.is_empty() && HeaderValue::from_str(t).is_ok() && !t.contains([';', ',', ' ']))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, cookie: Option<&str>) -> Parts {
        let mut builder = axum::http::Request::builder().uri(uri);
        if let Some(c) = cookie {
            builder = builder.header(header::COOKIE, c);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_token_cookie_is_found_among_others() {
        assert_eq!(
            cookie_token(&parts("/", Some("a=1; lifeline_token=abc; b=2"))),
            Some(&b"abc"[..])
        );
        assert_eq!(cookie_token(&parts("/", Some("lifeline_token=xyz"))), Some(&b"xyz"[..]));
        assert_eq!(cookie_token(&parts("/", Some("lifeline_tokenx=abc"))), None);
        assert_eq!(cookie_token(&parts("/", None)), None);
    }

    #[test]
    fn the_query_token_is_decoded_and_must_be_a_plain_value() {
        assert_eq!(query_token(&parts("/?token=abc", None)).as_deref(), Some("abc"));
        assert_eq!(query_token(&parts("/?x=1&token=a%2Bb", None)).as_deref(), Some("a+b"));
        assert_eq!(
            query_token(&parts("/?token=a%3Bb", None)),
            None,
            "no ';' in a cookie value"
        );
        assert_eq!(query_token(&parts("/?token=", None)), None);
        assert_eq!(query_token(&parts("/", None)), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
