//! `http` and `https` checks: one fresh connection per run (hyper's
//! HTTP/1 client connection, no pool), so every run measures connect, TLS
//! and first byte, and reaches the address the check names whatever the
//! `Host` header and SNI say.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HOST, HeaderValue, USER_AGENT};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::clients::Clients;
use super::result::{Failure, Phase, Trace};
use super::spec::{HttpProbe, TlsOptions};
use super::{cert, tcp};

/// hyper's read buffer limit: response headers larger than this fail the
/// check instead of growing memory (hyper's own default is ~400 KiB).
const MAX_HEADER_BUFFER: usize = 64 * 1024;

pub(super) async fn check(
    target: IpAddr,
    http: &HttpProbe,
    clients: &Clients,
    trace: &mut Trace,
) -> Result<String, Failure> {
    let request = request(target, http);
    let stream = tcp::NoFin(tcp::connect(SocketAddr::new(target, http.port), trace).await?);
    match &http.tls {
        None => exchange(TokioIo::new(stream), request, http, trace).await,
        Some(tls) => {
            let stream = handshake(stream, target, http, tls, clients, trace).await?;
            exchange(TokioIo::new(stream), request, http, trace).await
        }
    }
}

/// The request: method, origin-form path, `Host`, `User-Agent`,
/// `Connection: close`, then the configured headers (which replace
/// defaults of the same name).
fn request(target: IpAddr, http: &HttpProbe) -> Request<Empty<Bytes>> {
    let mut request = Request::new(Empty::new());
    *request.method_mut() = http.method.clone();
    *request.uri_mut() = Uri::from(http.path.clone());
    let headers = request.headers_mut();
    headers.insert(HOST, host_header(target, http));
    headers.insert(USER_AGENT, http.user_agent.clone());
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    for (name, _) in &http.headers {
        headers.remove(name);
    }
    for (name, value) in &http.headers {
        headers.append(name.clone(), value.clone());
    }
    request
}

/// The configured `Host`, or the target address with the port when it is
/// not the scheme's default (RFC 9110 §7.2).
fn host_header(target: IpAddr, http: &HttpProbe) -> HeaderValue {
    if let Some(host) = &http.host {
        return host.clone();
    }
    let addr = match target {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let text = if http.port == http.default_port() {
        addr
    } else {
        format!("{addr}:{}", http.port)
    };
    HeaderValue::from_str(&text).expect("an address and port are a valid header value")
}

/// The name sent as SNI and verified: the configured SNI, else the name in
/// the `Host` header, else the target address.
fn server_name(target: IpAddr, http: &HttpProbe, tls: &TlsOptions) -> ServerName<'static> {
    if let Some(sni) = &tls.sni {
        return sni.clone();
    }
    http.host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .and_then(|h| ServerName::try_from(strip_port(h)).ok())
        .map(|name| name.to_owned())
        .unwrap_or_else(|| ServerName::IpAddress(target.into()))
}

/// `example.com:8443` → `example.com`; `[::1]:8443` → `::1`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

async fn handshake(
    stream: tcp::NoFin,
    target: IpAddr,
    http: &HttpProbe,
    tls: &TlsOptions,
    clients: &Clients,
    trace: &mut Trace,
) -> Result<TlsStream<tcp::NoFin>, Failure> {
    trace.phase = Phase::Tls;
    let config = clients.tls_config(&tls.verify)?;
    let started = Instant::now();
    let stream = TlsConnector::from(config)
        .connect(server_name(target, http, tls), stream)
        .await
        .map_err(Failure::from_tls_io)?;
    trace.latency.tls = Some(started.elapsed());
    let leaf = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
    if let Some(not_after) = leaf.and_then(|der| cert::not_after(der)) {
        let days = cert::days_left(not_after, unix_now());
        trace.cert_days_left = Some(days);
        trace.cert_expiring = tls.cert_warn_days.is_some_and(|w| days < i64::from(w));
    }
    Ok(stream)
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn exchange<T>(
    io: T,
    request: Request<Empty<Bytes>>,
    http: &HttpProbe,
    trace: &mut Trace,
) -> Result<String, Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    trace.phase = Phase::Reply;
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEADER_BUFFER)
        .handshake(io)
        .await?;
    let sent = Instant::now();
    let work = async {
        let response = sender.send_request(request).await?;
        trace.latency.first_byte = Some(sent.elapsed());
        judge(response, http, trace).await
    };
    drive(conn, work).await
}

/// Runs the request while driving its connection in the same task (no
/// spawned connection task that could outlive the probe's timeout). When
/// the connection ends first, the request future resolves on its own.
pub(crate) async fn drive<C, W, T>(conn: C, work: W) -> T
where
    C: Future<Output = hyper::Result<()>>,
    W: Future<Output = T>,
{
    let mut conn = pin!(conn);
    let mut work = pin!(work);
    tokio::select! {
        biased;
        result = &mut work => result,
        _ = &mut conn => work.await,
    }
}

async fn judge(response: Response<Incoming>, http: &HttpProbe, trace: &mut Trace) -> Result<String, Failure> {
    let status = response.status().as_u16();
    if !http.expect_status.iter().any(|r| r.contains(status)) {
        return Err(Failure::Status(status));
    }
    let Some(expected) = &http.body else {
        return Ok(status.to_string());
    };
    trace.phase = Phase::Body;
    let body = read_limited(response.into_body(), http.body_limit).await?;
    if expected.matches(&body) {
        Ok(status.to_string())
    } else {
        Err(Failure::Body)
    }
}

/// Reads at most `limit` bytes of the body and stops there: the rest is
/// neither waited for nor buffered.
async fn read_limited(mut body: Incoming, limit: usize) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    while buf.len() < limit {
        let Some(frame) = body.frame().await else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            let take = data.len().min(limit - buf.len());
            buf.extend_from_slice(&data[..take]);
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_defaults_to_the_target() {
        let v4 = IpAddr::from([127, 0, 0, 1]);
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(host_header(v4, &HttpProbe::http(80)), "127.0.0.1");
        assert_eq!(host_header(v4, &HttpProbe::http(8080)), "127.0.0.1:8080");
        assert_eq!(host_header(v6, &HttpProbe::https(443)), "[::1]");
        assert_eq!(host_header(v6, &HttpProbe::https(80)), "[::1]:80");
        let mut named = HttpProbe::http(8080);
        named.host = Some(HeaderValue::from_static("www.example.test"));
        assert_eq!(host_header(v4, &named), "www.example.test");
    }

    #[test]
    fn sni_follows_sni_then_host_then_address() {
        let target = IpAddr::from([127, 0, 0, 1]);
        let mut http = HttpProbe::https(8443);
        let tls = TlsOptions::default();
        assert_eq!(server_name(target, &http, &tls), ServerName::IpAddress(target.into()));
        http.host = Some(HeaderValue::from_static("www.example.test:8443"));
        assert_eq!(server_name(target, &http, &tls).to_str(), "www.example.test");
        let tls = TlsOptions {
            sni: Some(ServerName::try_from("sni.example.test").unwrap()),
            ..TlsOptions::default()
        };
        assert_eq!(server_name(target, &http, &tls).to_str(), "sni.example.test");
    }

    #[test]
    fn ports_are_stripped_from_host_names() {
        assert_eq!(strip_port("a.test:8443"), "a.test");
        assert_eq!(strip_port("a.test"), "a.test");
        assert_eq!(strip_port("[::1]:8443"), "::1");
        assert_eq!(strip_port("[::1]"), "::1");
    }

    #[test]
    fn configured_headers_replace_defaults() {
        let mut http = HttpProbe::http(80);
        http.headers = vec![
            (USER_AGENT, HeaderValue::from_static("probe/2")),
            ("x-a".parse().unwrap(), HeaderValue::from_static("1")),
            ("x-a".parse().unwrap(), HeaderValue::from_static("2")),
        ];
        let request = request(IpAddr::from([127, 0, 0, 1]), &http);
        let headers = request.headers();
        assert_eq!(headers.get_all(USER_AGENT).iter().count(), 1);
        assert_eq!(headers[USER_AGENT], "probe/2");
        assert_eq!(headers.get_all("x-a").iter().count(), 2);
        assert_eq!(headers[HOST], "127.0.0.1");
        assert_eq!(request.uri(), "/");
    }
}
