//! The live status page at `/`: one HTML file, one script and one style
//! sheet, compiled into the binary so that the page works where nothing
//! but the server can be reached. The script draws everything from
//! `GET /v1/stream` ([`super::stream`]).
//!
//! The Content-Security-Policy allows the page this server's own script,
//! style sheet and stream and nothing else: no other origin, no inline
//! script or style, no frames, no forms.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const HTML: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/status.js");
const STYLE: &str = include_str!("page/status.css");

/// What the page may load: only from this server, and only what it uses.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", HTML)
}

/// `GET /status.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /status.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The assets change only with the binary; a page from before an
    // upgrade must not keep a stale script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets() {
        for url in ["src=\"/status.js\"", "href=\"/status.css\""] {
            assert!(HTML.contains(url), "the page refers to {url}");
        }
        for text in [HTML, SCRIPT, STYLE] {
            // The SVG namespace is a name, not a place the page loads from.
            let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "no absolute URL"
            );
            assert!(
                !text.contains("//cdn") && !text.contains("@import"),
                "nothing from elsewhere"
            );
        }
        assert!(!HTML.contains("<script>") && !HTML.contains("style="), "nothing inline");
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'"));
    }
}
