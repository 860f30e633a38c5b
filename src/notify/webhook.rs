//! Delivering one webhook's queue: one POST at a time, each on a fresh
//! connection (hyper's HTTP/1 client, rustls with the bundled roots for
//! `https://`), signed with HMAC-SHA256 (`ring`).
//!
//! | answer                                  | then                          |
//! |-----------------------------------------|-------------------------------|
//! | 2xx                                     | delivered                     |
//! | 408, 429, 5xx, timeout, connection error | retried after a backoff      |
//! | anything else (3xx, other 4xx)          | given up at once (logged)     |
//!
//! An event still failing after `max_attempts` is given up too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use ring::hmac;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::queue::{Item, Next, backoff};
use super::{Hook, jitter};
use crate::config::webhook::{WebhookSecret, WebhookUrl};
use crate::observe::{Clients, TlsVerify};

/// The header with the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-lifeline-timestamp";
/// The header with `sha256=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY`.
pub const SIGNATURE_HEADER: &str = "x-lifeline-signature";

/// How one attempt went.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Retry(String),
    GiveUp(String),
}

/// Sends the queue's events until shutdown.
pub(super) async fn deliver(hook: Arc<Hook>, mut shutdown: watch::Receiver<bool>) {
    let verify = match &hook.config.ca {
        Some(path) => TlsVerify::CustomCa(crate::observe::CaSource::File(path.clone())),
        None => TlsVerify::BundledRoots,
    };
    let tls = match hook.config.url.tls.then(|| Clients::new().tls_config(&verify)) {
        None => None,
        Some(Ok(config)) => Some(config),
        Some(Err(e)) => {
            // Checked when the configuration loaded; the file has changed since.
            tracing::error!(webhook = %hook.config.url.text, "no TLS configuration, nothing is sent: {e}");
            return;
        }
    };
    let key = key(&hook.config.secret);
    loop {
        if hook.retired.load(Ordering::Relaxed) {
            return;
        }
        let next = hook.queue().next(Instant::now());
        let wait = async {
            match next {
                Next::Send { lane, item, failures } => {
                    let outcome = post(&hook.config.url, tls.as_ref(), &key, &item.body, hook.config.timeout).await;
                    settle(&hook, &lane, &item, failures, outcome);
                }
                Next::Wait(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = hook.wake.notified() => {}
                    }
                }
                Next::Empty => hook.wake.notified().await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Applies an attempt's outcome to the queue, the store and the counters.
fn settle(hook: &Hook, lane: &str, item: &Item, failures: u32, outcome: Outcome) {
    let c = &hook.config;
    let url = &c.url.text;
    let attempts = failures + 1;
    let over = match outcome {
        Outcome::Delivered => {
            hook.stats.delivered.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(webhook = %url, event = %item.event, attempts, "delivered");
            true
        }
        Outcome::GiveUp(why) => {
            hook.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(webhook = %url, event = %item.event, "not delivered, not retried: {why}");
            true
        }
        Outcome::Retry(why) if attempts >= c.max_attempts => {
            hook.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(webhook = %url, event = %item.event, "not delivered after {attempts} attempts, given up: {why}");
            true
        }
        Outcome::Retry(why) => {
            let delay = backoff(attempts, c.backoff, c.max_backoff, jitter());
            tracing::info!(webhook = %url, event = %item.event, attempts, "delivery failed, retrying in {delay:.1?}: {why}");
            hook.queue().failed(lane, &item.event, Instant::now(), delay);
            false
        }
    };
    if over {
        let mut queue = hook.queue();
        if queue.finished(lane, &item.event)
            && let Some(store) = &hook.store
        {
            store.delivery_done(url, &item.event);
        }
        hook.stats.queued.store(queue.len() as u64, Ordering::Relaxed);
    }
}

fn key(secret: &WebhookSecret) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret.bytes())
}

/// `sha256=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY`.
fn signature(key: &hmac::Key, timestamp: u64, body: &str) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("sha256={}", hex(ctx.sign().as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One attempt, within the webhook's timeout.
async fn post(
    url: &WebhookUrl,
    tls: Option<&Arc<ClientConfig>>,
    key: &hmac::Key,
    body: &str,
    timeout: std::time::Duration,
) -> Outcome {
    match tokio::time::timeout(timeout, exchange(url, tls, request(url, key, body))).await {
        Err(_) => Outcome::Retry(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => Outcome::Retry(e),
        Ok(Ok(status)) => judge(status),
    }
}

fn judge(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retry(format!("HTTP {status}")),
        _ => Outcome::GiveUp(format!("HTTP {status}")),
    }
}

fn request(url: &WebhookUrl, key: &hmac::Key, body: &str) -> Request<Full<Bytes>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Request::post(url.path.as_str())
        .header(HOST, url.host_header())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("lifeline/", env!("CARGO_PKG_VERSION")))
        .header(CONNECTION, "close")
        .header(TIMESTAMP_HEADER, now.to_string())
        .header(SIGNATURE_HEADER, signature(key, now, body))
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .expect("a valid request")
}

/// Connects (each address of the host in turn), then sends the request;
/// returns the status.
async fn exchange(
    url: &WebhookUrl,
    tls: Option<&Arc<ClientConfig>>,
    request: Request<Full<Bytes>>,
) -> Result<u16, String> {
    let addrs = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("resolving {}: {e}", url.host))?;
    let mut last = format!("{} has no address", url.host);
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    match tls {
        None => send(TokioIo::new(stream), request).await,
        Some(config) => {
            let name = ServerName::try_from(url.host.clone()).map_err(|e| format!("{}: {e}", url.host))?;
            let stream = TlsConnector::from(config.clone())
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {}: {e}", url.host))?;
            send(TokioIo::new(stream), request).await
        }
    }
}

async fn send<T>(io: T, request: Request<Full<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let work = async {
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    };
    // Driven in this task, so that nothing outlives the timeout.
    crate::observe::http::drive(conn, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() {
        // RFC 4231 §4.3 (test case 2) through the same hex formatting...
        let jefe = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&jefe, b"what do ya want for nothing?");
        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // ... then the framing: "TIMESTAMP.BODY", signed in one piece.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef");
        let whole = hmac::sign(&key, b"1700000000.{\"id\":\"1-1\"}");
        assert_eq!(
            signature(&key, 1_700_000_000, r#"{"id":"1-1"}"#),
            format!("sha256={}", hex(whole.as_ref()))
        );
    }

    #[test]
    fn statuses_are_judged_as_documented() {
        assert_eq!(judge(200), Outcome::Delivered);
        assert_eq!(judge(204), Outcome::Delivered);
        for retried in [408, 429, 500, 503] {
            assert!(matches!(judge(retried), Outcome::Retry(_)), "{retried}");
        }
        for refused in [301, 400, 401, 404, 410] {
            assert!(matches!(judge(refused), Outcome::GiveUp(_)), "{refused}");
        }
    }
}
