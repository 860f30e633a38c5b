//! The client side of the API, for the `lifeline` CLI: one HTTP/1.1
//! request per connection over hyper (already here for the HTTP checks),
//! JSON in and out, and errors that keep "the API said no" apart from
//! "there is no API there".

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the CLI looks for the API when neither `--api` nor
/// `LIFELINE_API` says.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8053";
/// How long one request may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response read: a page of events or the endpoints of a large
/// installation, with room to spare.
const MAX_RESPONSE: usize = 64 << 20;

/// What went wrong talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL given is not one this client can use.
    #[error("{0}")]
    Url(String),
    /// Nothing answered: not running, wrong address, or too slow.
    #[error("cannot reach the API at {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The API answered with an error status.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    /// The API answered something that is not the JSON it should be.
    #[error("unexpected reply from the API: {0}")]
    Reply(String),
}

/// An API client: a base URL and the token to send with writes.
#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port`, to connect to and send as `Host`.
    authority: String,
    /// A path prefix from the base URL, without the final `/`.
    prefix: String,
    url: String,
    token: Option<String>,
}

impl Client {
    /// A client for `url` (`http://HOST:PORT`, optionally with a path
    /// prefix); `token` is sent as a bearer token.
    pub fn new(url: &str, token: Option<String>) -> Result<Client, ClientError> {
        let bad = |why: &str| ClientError::Url(format!("--api {url}: {why}; e.g. {DEFAULT_API_URL}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(_) => return Err(bad("only http:// is supported (the API listens on loopback)")),
            None => return Err(bad("no scheme")),
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let authority = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:80"),
        };
        Ok(Client {
            authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
            url: url.to_string(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    pub fn get(&self, path: &str) -> impl Future<Output = Result<serde_json::Value, ClientError>> + '_ {
        self.send(Method::GET, path.to_string(), None)
    }

    pub fn post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> impl Future<Output = Result<serde_json::Value, ClientError>> + '_ {
        self.send(Method::POST, path.to_string(), Some(body))
    }

    pub fn delete(&self, path: &str) -> impl Future<Output = Result<serde_json::Value, ClientError>> + '_ {
        self.send(Method::DELETE, path.to_string(), None)
    }

    /// One request; the JSON reply of a 2xx, else the API's error.
    pub async fn send(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let request = self.request(method, &path, body)?;
        let (status, bytes) = tokio::time::timeout(TIMEOUT, self.exchange(request))
            .await
            .map_err(|_| self.connect_error(format!("no reply within {TIMEOUT:?}")))??;
        let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| ClientError::Reply(String::from_utf8_lossy(&bytes).into_owned()));
        }
        let message = json
            .as_ref()
            .and_then(|j| j["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        Err(ClientError::Api { status, message })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let uri: Uri = format!("{}{path}", self.prefix)
            .parse()
            .map_err(|e| ClientError::Url(format!("{path}: {e}")))?;
        let mut request = Request::new(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        let host = HeaderValue::from_str(&self.authority).map_err(|e| ClientError::Url(e.to_string()))?;
        headers.insert(HOST, host);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ClientError::Url("the token is not a valid header value".into()))?;
            headers.insert(AUTHORIZATION, value);
        }
        Ok(request)
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), ClientError> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.connect_error(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| ClientError::Reply(e.to_string()))?;
        Ok((status, body.to_bytes()))
    }

    fn connect_error(&self, reason: String) -> ClientError {
        ClientError::Connect {
            url: self.url.clone(),
            reason,
        }
    }
}

/// A path segment with everything but unreserved characters
/// percent-encoded (RFC 3986 §2.3), so that `www.example.test/A` stays
/// one segment.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_a_default_port_and_keep_a_prefix() {
        let c = Client::new("http://127.0.0.1:8053", None).unwrap();
        assert_eq!((c.authority.as_str(), c.prefix.as_str()), ("127.0.0.1:8053", ""));
        let c = Client::new("http://localhost/lifeline/", Some(String::new())).unwrap();
        assert_eq!((c.authority.as_str(), c.prefix.as_str()), ("localhost:80", "/lifeline"));
        assert!(c.token.is_none());
        assert!(Client::new("https://127.0.0.1:8053", None).is_err());
        assert!(Client::new("127.0.0.1:8053", None).is_err());
    }

    #[test]
    fn segments_keep_slashes_inside() {
        assert_eq!(segment("www.example.test/A"), "www.example.test%2FA");
        assert_eq!(segment("web a"), "web%20a");
    }
}
