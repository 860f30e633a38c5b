//! Health checks over real sockets on loopback: every check kind against
//! backends the test starts (HTTP, HTTPS with rcgen certificates, TCP,
//! ICMP, a real DNS server, commands), and the scheduler's timing rules
//! under tokio's paused clock.
//!
//! The `scale_` tests are ignored by default; they measure the scheduler
//! at 10,000 probes a second:
//! `cargo test --release --test checks scale_ -- --ignored --nocapture --test-threads 1`

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::backends::Pki;
use lifeline::observe::{
    BodyMatch, BodyRegex, CaSource, Clients, DnsProbe, ExecProbe, HttpProbe, IcmpProbe, Latency, Observation, ProbeKey,
    ProbeKind, ProbeResult, ProbeSpec, Prober, Scheduler, SchedulerOptions, StatusRange, TcpProbe, TlsOptions,
    TlsVerify, probe,
};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn spec(kind: ProbeKind, timeout: Duration) -> ProbeSpec {
    ProbeSpec {
        target: LOCALHOST,
        kind,
        timeout,
        interval: Duration::from_secs(10),
    }
}

async fn run(kind: ProbeKind) -> ProbeResult {
    probe(&spec(kind, ms(2000)), &Clients::new()).await
}

fn http(port: u16) -> HttpProbe {
    HttpProbe::http(port)
}

// ---------------------------------------------------------------- backends

/// What a test HTTP backend does with each request.
#[derive(Debug, Clone)]
enum Respond {
    /// Answer with this status and body; `declared` overrides the
    /// Content-Length, and `hold` keeps the connection open afterwards
    /// (a body that never ends).
    With {
        status: u16,
        body: Vec<u8>,
        declared: Option<usize>,
        hold: bool,
    },
    /// Accept, read the request, never answer.
    Silent,
}

fn reply(status: u16, body: &str) -> Respond {
    Respond::With {
        status,
        body: body.as_bytes().to_vec(),
        declared: None,
        hold: false,
    }
}

/// What a backend saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    sni: Option<String>,
}

/// An HTTP(S) server on 127.0.0.1, port 0; stopped when dropped.
struct Backend {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    async fn start(respond: Respond, tls: Option<TlsAcceptor>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve_http(listener, respond, tls, seen.clone()));
        Backend { addr, seen, task }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().expect("a request")
    }
}

/// Accepts until aborted; the connections' tasks end with it.
async fn serve_http(listener: TcpListener, respond: Respond, tls: Option<TlsAcceptor>, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let (respond, tls, seen) = (respond.clone(), tls.clone(), seen.clone());
        connections.spawn(async move {
            match tls {
                None => answer(stream, &respond, None, &seen).await,
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let sni = stream.get_ref().1.server_name().map(String::from);
                    answer(stream, &respond, sni, &seen).await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    respond: &Respond,
    sni: Option<String>,
    seen: &Mutex<Vec<Seen>>,
) {
    let head = read_head(&mut stream).await;
    seen.lock().unwrap().push(Seen { head, sni });
    let Respond::With {
        status,
        body,
        declared,
        hold,
    } = respond
    else {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    };
    let len = declared.unwrap_or(body.len());
    let head = format!("HTTP/1.1 {status} Test\r\nContent-Length: {len}\r\n\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.flush().await;
    if *hold {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// The request head, lower-cased, up to the blank line (at most 64 KiB).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

/// A port with nothing listening (bound, then closed).
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// -------------------------------------------------------------------- HTTP

#[tokio::test]
async fn http_200_is_up() {
    let backend = Backend::start(reply(200, "ok"), None).await;
    let result = run(ProbeKind::Http(http(backend.port()))).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "200");
    assert!(result.latency.connect.is_some() && result.latency.first_byte.is_some());
    assert!(result.latency.tls.is_none());
    assert!(result.latency.total >= result.latency.first_byte.unwrap());
    assert_eq!(result.cert_days_left, None);
}

#[tokio::test]
async fn http_503_is_down() {
    let backend = Backend::start(reply(503, "busy"), None).await;
    let result = run(ProbeKind::Http(http(backend.port()))).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "status 503");
}

#[tokio::test]
async fn http_expected_status_range_is_configurable() {
    let backend = Backend::start(reply(503, "busy"), None).await;
    let mut h = http(backend.port());
    h.expect_status = vec!["200".parse().unwrap(), "5xx".parse().unwrap()];
    assert!(run(ProbeKind::Http(h)).await.ok);
    let backend = Backend::start(reply(204, ""), None).await;
    let mut h = http(backend.port());
    h.expect_status = vec![StatusRange::try_new(200, 200).unwrap()];
    assert_eq!(run(ProbeKind::Http(h)).await.detail, "status 204");
}

#[tokio::test]
async fn http_refused_is_down() {
    let result = run(ProbeKind::Http(http(closed_port().await))).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "connection refused");
    assert_eq!(result.latency.connect, None);
}

#[tokio::test]
async fn http_body_substring() {
    let backend = Backend::start(reply(200, "{\"status\": \"up\"}"), None).await;
    let mut h = http(backend.port());
    h.body = Some(BodyMatch::Contains(b"\"up\"".to_vec()));
    assert!(run(ProbeKind::Http(h.clone())).await.ok);
    h.body = Some(BodyMatch::Contains(b"\"down\"".to_vec()));
    let result = run(ProbeKind::Http(h)).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "body did not match");
}

#[tokio::test]
async fn http_body_regex() {
    let backend = Backend::start(reply(200, "db=ok cache=ok queue=7"), None).await;
    let mut h = http(backend.port());
    h.body = Some(BodyMatch::Regex(BodyRegex::new(r"queue=\d{1,2}\b").unwrap()));
    assert!(run(ProbeKind::Http(h.clone())).await.ok);
    h.body = Some(BodyMatch::Regex(BodyRegex::new(r"queue=\d{3}").unwrap()));
    assert_eq!(run(ProbeKind::Http(h)).await.detail, "body did not match");
}

/// The backend declares 1 MB, sends 4 KiB and then stalls: a 1 KiB limit
/// decides on the first KiB without waiting for the rest, and does not
/// look past it.
#[tokio::test]
async fn http_body_read_limit_is_respected() {
    let mut body = vec![b'.'; 4096];
    body[100..106].copy_from_slice(b"EARLY!");
    body[2000..2005].copy_from_slice(b"LATE!");
    let respond = Respond::With {
        status: 200,
        body,
        declared: Some(1_000_000),
        hold: true,
    };
    let backend = Backend::start(respond, None).await;
    let mut h = http(backend.port());
    h.body_limit = 1024;
    h.body = Some(BodyMatch::Contains(b"EARLY!".to_vec()));
    let started = Instant::now();
    let result = run(ProbeKind::Http(h.clone())).await;
    assert!(result.ok, "{result:?}");
    assert!(started.elapsed() < ms(1000), "waited for the rest of the body");
    h.body = Some(BodyMatch::Contains(b"LATE!".to_vec()));
    let result = run(ProbeKind::Http(h)).await;
    assert_eq!(result.detail, "body did not match");
}

#[tokio::test]
async fn http_sends_host_user_agent_and_headers_independently_of_the_address() {
    let backend = Backend::start(reply(200, "ok"), None).await;
    let mut h = http(backend.port());
    h.path = "/healthz?deep=1".parse().unwrap();
    assert!(run(ProbeKind::Http(h.clone())).await.ok);
    let head = backend.last().head;
    assert!(head.starts_with("get /healthz?deep=1 http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", backend.port())),
        "{head}"
    );
    let agent = format!("\r\nuser-agent: lifeline/{}\r\n", env!("CARGO_PKG_VERSION"));
    assert!(head.contains(&agent), "{head}");

    h.host = Some("www.example.test".parse().unwrap());
    h.method = hyper::Method::HEAD;
    h.headers = vec![("x-probe".parse().unwrap(), "yes".parse().unwrap())];
    h.user_agent = "custom-agent/2".parse().unwrap();
    assert!(run(ProbeKind::Http(h)).await.ok);
    let head = backend.last().head;
    assert!(head.starts_with("head /healthz?deep=1 "), "{head}");
    assert!(head.contains("\r\nhost: www.example.test\r\n"), "{head}");
    assert!(head.contains("\r\nuser-agent: custom-agent/2\r\n"), "{head}");
    assert!(head.contains("\r\nx-probe: yes\r\n"), "{head}");
}

#[tokio::test]
async fn http_times_out_on_a_server_that_never_answers() {
    let backend = Backend::start(Respond::Silent, None).await;
    let started = Instant::now();
    let result = probe(&spec(ProbeKind::Http(http(backend.port())), ms(300)), &Clients::new()).await;
    let took = started.elapsed();
    assert!(!result.ok);
    assert_eq!(result.detail, "timeout waiting for reply");
    assert!(result.latency.connect.is_some() && result.latency.first_byte.is_none());
    assert!(took >= ms(300) && took < ms(1500), "took {took:?}");
    assert!(result.latency.total >= ms(300));
}

// ------------------------------------------------------------------- HTTPS

/// The test CA as a check's custom CA.
fn ca(pki: &Pki) -> CaSource {
    CaSource::Pem(pki.ca_pem().into_bytes().into())
}

fn acceptor(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The civil date `days` from today (H. Hinnant's `civil_from_days`).
fn date_in(days: i64) -> (i32, u8, u8) {
    let z = unix_now().div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8, day as u8)
}

fn https(port: u16, verify: TlsVerify, sni: Option<&str>) -> HttpProbe {
    let mut h = HttpProbe::https(port);
    h.tls = Some(TlsOptions {
        sni: sni.map(|s| ServerName::try_from(s.to_string()).unwrap()),
        verify,
        cert_warn_days: Some(30),
    });
    h
}

#[tokio::test]
async fn https_verified_with_a_custom_ca_reports_days_left_and_sends_sni() {
    let pki = Pki::new();
    let backend = Backend::start(reply(200, "ok"), Some(acceptor(pki.valid(&["www.example.test"])))).await;
    let h = https(backend.port(), TlsVerify::CustomCa(ca(&pki)), Some("www.example.test"));
    let result = run(ProbeKind::Http(h)).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "200");
    assert!(result.latency.tls.is_some());
    let expected = (4_102_444_800 - unix_now()).div_euclid(86_400);
    let days = result.cert_days_left.expect("days left");
    assert!((days - expected).abs() <= 1, "{days} vs {expected}");
    assert!(!result.cert_expiring);
    let seen = backend.last();
    assert_eq!(seen.sni.as_deref(), Some("www.example.test"));
    let host = format!("\r\nhost: 127.0.0.1:{}\r\n", backend.port());
    assert!(seen.head.contains(&host), "{}", seen.head);
}

#[tokio::test]
async fn https_sni_and_host_are_chosen_independently() {
    let pki = Pki::new();
    let backend = Backend::start(reply(200, "ok"), Some(acceptor(pki.valid(&["www.example.test"])))).await;
    let mut h = https(backend.port(), TlsVerify::CustomCa(ca(&pki)), Some("www.example.test"));
    h.host = Some("app.example.test".parse().unwrap());
    assert!(run(ProbeKind::Http(h.clone())).await.ok);
    let seen = backend.last();
    assert_eq!(seen.sni.as_deref(), Some("www.example.test"));
    assert!(seen.head.contains("\r\nhost: app.example.test\r\n"));

    // Without an explicit SNI the Host header's name is used.
    h.host = Some("www.example.test:8443".parse().unwrap());
    h.tls.as_mut().unwrap().sni = None;
    assert!(run(ProbeKind::Http(h)).await.ok);
    assert_eq!(backend.last().sni.as_deref(), Some("www.example.test"));
}

#[tokio::test]
async fn https_wrong_host_fails() {
    let pki = Pki::new();
    let backend = Backend::start(reply(200, "ok"), Some(acceptor(pki.valid(&["www.example.test"])))).await;
    let h = https(
        backend.port(),
        TlsVerify::CustomCa(ca(&pki)),
        Some("other.example.test"),
    );
    let result = run(ProbeKind::Http(h)).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "certificate not valid for this name");
    assert_eq!(result.latency.tls, None);
    // By address, with no IP SAN in the certificate: also the wrong name.
    let h = https(backend.port(), TlsVerify::CustomCa(ca(&pki)), None);
    assert_eq!(
        run(ProbeKind::Http(h)).await.detail,
        "certificate not valid for this name"
    );
}

#[tokio::test]
async fn https_expired_certificate_fails_unless_verification_is_off() {
    let pki = Pki::new();
    let expired = acceptor(pki.server(&["www.example.test"], (2020, 1, 1), (2021, 1, 1)));
    let backend = Backend::start(reply(200, "ok"), Some(expired)).await;
    let verified = https(backend.port(), TlsVerify::CustomCa(ca(&pki)), Some("www.example.test"));
    let result = run(ProbeKind::Http(verified)).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "certificate expired");

    let unverified = https(backend.port(), TlsVerify::Off, Some("www.example.test"));
    let result = run(ProbeKind::Http(unverified)).await;
    assert!(result.ok, "{result:?}");
    let expected = (1_609_459_200 - unix_now()).div_euclid(86_400);
    assert!((result.cert_days_left.unwrap() - expected).abs() <= 1);
    assert!(result.cert_expiring);
}

#[tokio::test]
async fn https_verify_off_accepts_an_unknown_issuer_and_a_wrong_name() {
    let pki = Pki::new();
    let backend = Backend::start(reply(200, "ok"), Some(acceptor(pki.valid(&["www.example.test"])))).await;
    let roots = https(backend.port(), TlsVerify::BundledRoots, Some("www.example.test"));
    assert_eq!(run(ProbeKind::Http(roots)).await.detail, "certificate issuer unknown");
    let off = https(backend.port(), TlsVerify::Off, Some("elsewhere.test"));
    let result = run(ProbeKind::Http(off)).await;
    assert!(result.ok, "{result:?}");
    assert!(result.cert_days_left.is_some());
}

#[tokio::test]
async fn https_flags_a_certificate_below_the_warning_threshold() {
    let pki = Pki::new();
    let soon = acceptor(pki.server(&["www.example.test"], (2020, 1, 1), date_in(11)));
    let backend = Backend::start(reply(200, "ok"), Some(soon)).await;
    let mut h = https(backend.port(), TlsVerify::CustomCa(ca(&pki)), Some("www.example.test"));
    let result = run(ProbeKind::Http(h.clone())).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.cert_days_left, Some(10));
    assert!(result.cert_expiring, "10 days is below 30");
    h.tls.as_mut().unwrap().cert_warn_days = Some(5);
    assert!(!run(ProbeKind::Http(h)).await.cert_expiring);
}

#[tokio::test]
async fn https_custom_ca_from_a_file() {
    let pki = Pki::new();
    let dir = std::env::temp_dir().join(format!("lifeline-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, pki.ca_pem()).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();

    let backend = Backend::start(reply(200, "ok"), Some(acceptor(pki.valid(&["www.example.test"])))).await;
    let source = CaSource::File(path);
    assert_eq!(lifeline::observe::check_ca(&source).unwrap(), 1);
    let h = https(backend.port(), TlsVerify::CustomCa(source), Some("www.example.test"));
    assert!(run(ProbeKind::Http(h)).await.ok);

    assert!(lifeline::observe::check_ca(&CaSource::File(junk.clone())).is_err());
    let h = https(
        backend.port(),
        TlsVerify::CustomCa(CaSource::File(junk)),
        Some("www.example.test"),
    );
    let result = run(ProbeKind::Http(h)).await;
    assert!(!result.ok);
    assert!(result.detail.starts_with("TLS setup: "), "{}", result.detail);
    let _ = std::fs::remove_dir_all(&dir);
}

// --------------------------------------------------------------------- TCP

fn tcp(port: u16, send: &[u8], expect: &[u8]) -> ProbeKind {
    ProbeKind::Tcp(TcpProbe {
        port,
        send: send.to_vec(),
        expect: expect.to_vec(),
    })
}

/// A TCP server that reads up to 64 bytes and writes `reply`, then closes.
async fn tcp_server(reply: &'static [u8]) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            connections.spawn(async move {
                let mut buf = [0u8; 64];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(reply).await;
            });
            while connections.try_join_next().is_some() {}
        }
    });
    (port, task)
}

#[tokio::test]
async fn tcp_accepting_port_is_up_and_refused_is_down() {
    let (port, server) = tcp_server(b"").await;
    let result = run(tcp(port, b"", b"")).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "connected");
    assert!(result.latency.connect.is_some());
    server.abort();
    let result = run(tcp(closed_port().await, b"", b"")).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "connection refused");
}

#[tokio::test]
async fn tcp_send_and_expect_a_reply_prefix() {
    let (port, server) = tcp_server(b"+PONG\r\n").await;
    let result = run(tcp(port, b"PING\r\n", b"+PONG")).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "reply matched");
    assert!(result.latency.first_byte.is_some());
    let result = run(tcp(port, b"PING\r\n", b"-ERR")).await;
    assert_eq!(result.detail, "reply did not match");
    let result = run(tcp(port, b"PING\r\n", b"+PONG\r\nand more")).await;
    assert_eq!(result.detail, "connection closed before the expected reply");
    server.abort();
}

#[tokio::test]
async fn tcp_expect_times_out_on_silence() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kind = tcp(port, b"", b"220 ");
    let result = probe(&spec(kind, ms(200)), &Clients::new()).await;
    assert_eq!(result.detail, "timeout waiting for reply");
    drop(listener);
}

// -------------------------------------------------------------------- ICMP

/// Whether this process may open an ICMP socket of `kind`.
fn icmp_socket_allowed(kind: socket2::Type) -> bool {
    let protocol = Some(socket2::Protocol::ICMPV4);
    socket2::Socket::new(socket2::Domain::IPV4, kind, protocol).is_ok()
}

/// Whether the machine says unprivileged ping sockets should work for us,
/// or we are root.
fn icmp_should_work() -> bool {
    // SAFETY: getegid/geteuid read process credentials and cannot fail.
    let (gid, uid) = unsafe { (libc::getegid(), libc::geteuid()) };
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap_or_default();
    let bounds: Vec<u32> = range.split_whitespace().filter_map(|s| s.parse().ok()).collect();
    uid == 0 || matches!(bounds[..], [lo, hi] if (lo..=hi).contains(&gid))
}

#[tokio::test]
async fn icmp_echo_to_loopback() {
    let dgram = icmp_socket_allowed(socket2::Type::DGRAM);
    let raw = icmp_socket_allowed(socket2::Type::RAW);
    if !dgram && !raw {
        let interop = std::env::var("LIFELINE_INTEROP").is_ok_and(|v| v == "1");
        assert!(
            !(interop && icmp_should_work()),
            "ICMP sockets refused although ping_group_range or root should allow them"
        );
        eprintln!("SKIP icmp_echo_to_loopback: neither ping sockets nor raw sockets are permitted");
        return;
    }
    eprintln!("icmp: ping sockets {dgram}, raw sockets {raw}");
    let clients = Clients::new();
    let kind = ProbeKind::Icmp(IcmpProbe { count: 3, size: 56 });
    let result = probe(&spec(kind, ms(2000)), &clients).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "3/3 replies");
    assert!(result.latency.first_byte.is_some());
    // Many at once through the one shared socket: replies are not mixed up.
    let kind = ProbeKind::Icmp(IcmpProbe { count: 2, size: 1000 });
    let spec = spec(kind, ms(2000));
    let mut set = JoinSet::new();
    let clients = Arc::new(clients);
    for _ in 0..20 {
        let (spec, clients) = (spec.clone(), clients.clone());
        set.spawn(async move { probe(&spec, &clients).await });
    }
    while let Some(result) = set.join_next().await {
        let result = result.unwrap();
        assert_eq!(result.detail, "2/2 replies", "{result:?}");
    }
}

// --------------------------------------------------------------------- DNS

/// `lifeline serve` with the example zone on 127.0.0.1, port 0; killed
/// when dropped.
struct Lifeline {
    child: Child,
    addr: SocketAddr,
}

impl Lifeline {
    fn start() -> Lifeline {
        let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/example.test.zone");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lifeline"))
            .args(["serve", "--listen", "127.0.0.1:0", "--udp-threads", "1"])
            .arg("--zone")
            .arg(format!("example.test={}", zone.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lifeline");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut addr = None;
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
            if let Some(rest) = line.strip_prefix("lifeline: listening on ") {
                addr = rest.split_whitespace().next().and_then(|a| a.parse().ok());
            } else if line.starts_with("lifeline: serving") {
                break;
            }
        }
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lifeline did not start");
        };
        Lifeline { child, addr }
    }
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dns(port: u16, name: &str, rtype: domain::base::iana::Rtype) -> DnsProbe {
    DnsProbe {
        port,
        rtype,
        ..DnsProbe::new(name.parse().unwrap())
    }
}

#[tokio::test]
async fn dns_checks_against_a_real_server() {
    use domain::base::iana::{Rcode, Rtype};
    let server = Lifeline::start();
    let port = server.addr.port();

    let result = run(ProbeKind::Dns(dns(port, "www.example.test", Rtype::A))).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "NOERROR");
    assert!(result.latency.first_byte.is_some());

    let mut d = dns(port, "www.example.test", Rtype::A);
    d.expect_address = Some("127.0.0.2".parse().unwrap());
    assert_eq!(run(ProbeKind::Dns(d.clone())).await.detail, "NOERROR 127.0.0.2");
    d.expect_address = Some("127.0.0.9".parse().unwrap());
    let result = run(ProbeKind::Dns(d)).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "answer lacks 127.0.0.9");

    let mut d = dns(port, "www.example.test", Rtype::AAAA);
    d.expect_address = Some("::1".parse().unwrap());
    assert!(run(ProbeKind::Dns(d)).await.ok);

    let result = run(ProbeKind::Dns(dns(port, "nope.example.test", Rtype::A))).await;
    assert_eq!(result.detail, "rcode NXDOMAIN, expected NOERROR");
    let mut d = dns(port, "nope.example.test", Rtype::A);
    d.expect_rcode = Rcode::NXDOMAIN;
    assert!(run(ProbeKind::Dns(d)).await.ok);
    let result = run(ProbeKind::Dns(dns(port, "example.org", Rtype::A))).await;
    assert_eq!(result.detail, "rcode REFUSED, expected NOERROR");
}

#[tokio::test]
async fn dns_to_a_closed_port_is_refused() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    let result = run(ProbeKind::Dns(dns(
        port,
        "www.example.test",
        domain::base::iana::Rtype::A,
    )))
    .await;
    assert!(!result.ok);
    assert_eq!(result.detail, "connection refused");
}

// -------------------------------------------------------------------- exec

fn exec(command: &str, args: &[&str]) -> ProbeKind {
    ProbeKind::Exec(ExecProbe {
        command: command.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
    })
}

#[tokio::test]
async fn exec_exit_status_decides() {
    let result = run(exec("true", &[])).await;
    assert!(result.ok);
    assert_eq!(result.detail, "exit 0");
    let result = run(exec("false", &[])).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "exit 1");
    let result = run(exec("sh", &["-c", "exit 3"])).await;
    assert_eq!(result.detail, "exit 3");
    let result = run(exec("sh", &["-c", "kill -TERM $$"])).await;
    assert_eq!(result.detail, "killed by signal 15");
    let result = run(exec("/nonexistent/check", &[])).await;
    assert_eq!(result.detail, "cannot run: no such file or directory");
}

#[tokio::test]
async fn exec_gets_the_target_in_its_environment() {
    let result = run(exec("sh", &["-c", "test \"$LIFELINE_TARGET\" = 127.0.0.1"])).await;
    assert!(result.ok, "{result:?}");
}

/// The script starts a `sleep` and waits: at the timeout the whole process
/// group goes, the `sleep` included.
#[tokio::test]
async fn exec_is_killed_with_its_children_at_the_timeout() {
    let dir = std::env::temp_dir().join(format!("lifeline-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("sleep.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    let started = Instant::now();
    let result = probe(&spec(exec("sh", &["-c", &script]), ms(500)), &Clients::new()).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "timeout (killed)");
    assert!(started.elapsed() < ms(2000));
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')))
            .unwrap_or(true)
    };
    let deadline = Instant::now() + ms(2000);
    while !gone() && Instant::now() < deadline {
        tokio::time::sleep(ms(10)).await;
    }
    assert!(gone(), "the script's sleep {pid} survived the timeout");
    let _ = std::fs::remove_dir_all(&dir);
}

// --------------------------------------------------------------- scheduler

/// A prober without I/O: waits `delay` (on tokio's clock, so paused time
/// applies) and records how many runs overlapped.
#[derive(Default)]
struct Fake {
    delay: Duration,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl Fake {
    fn with_delay(delay: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            delay,
            ..Fake::default()
        })
    }
}

impl Prober for Fake {
    async fn probe(&self, _spec: &ProbeSpec) -> ProbeResult {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let _running = Running(&self.running);
        tokio::time::sleep(self.delay).await;
        ProbeResult {
            ok: true,
            latency: Latency::default(),
            detail: "fake".into(),
            cert_days_left: None,
            cert_expiring: false,
        }
    }
}

/// Counts a run as finished when dropped, aborted runs included.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A distinct spec per `n` (the port differs), at `interval`.
fn fake_spec(n: u16, interval: Duration) -> (ProbeKey, ProbeSpec) {
    let spec = ProbeSpec {
        target: LOCALHOST,
        kind: tcp(n, b"", b""),
        timeout: interval / 2,
        interval,
    };
    (ProbeKey::of(&spec), spec)
}

struct Harness {
    scheduler: Scheduler,
    results: mpsc::Receiver<Observation>,
    shutdown: watch::Sender<bool>,
}

fn harness<P: Prober>(prober: Arc<P>, max_in_flight: usize) -> Harness {
    let (tx, results) = mpsc::channel(100_000);
    let (shutdown, rx) = watch::channel(false);
    let scheduler = Scheduler::start(
        prober,
        tx,
        rx,
        SchedulerOptions {
            max_in_flight,
            ..SchedulerOptions::default()
        },
    );
    Harness {
        scheduler,
        results,
        shutdown,
    }
}

impl Harness {
    /// Every observation until `deadline` (tokio's clock).
    async fn collect_until(&mut self, deadline: Instant) -> Vec<Observation> {
        let mut seen = Vec::new();
        while let Ok(Some(obs)) = tokio::time::timeout_at(deadline, self.results.recv()).await {
            seen.push(obs);
        }
        seen
    }
}

fn times_of(observations: &[Observation], key: ProbeKey) -> Vec<Instant> {
    observations.iter().filter(|o| o.key == key).map(|o| o.at).collect()
}

#[tokio::test(start_paused = true)]
async fn scheduler_runs_each_probe_on_its_interval() {
    let mut h = harness(Fake::with_delay(Duration::ZERO), 16);
    let (key, spec) = fake_spec(1, ms(100));
    let start = Instant::now();
    h.scheduler.apply([(key, spec)]).unwrap();
    // The first run falls anywhere in the first 100 ms (and tokio's timer
    // rounds it up to a whole millisecond), so by 1,000 ms there were 10
    // runs, and by 1,050 ms 10 or 11.
    let seen = h.collect_until(start + ms(1050)).await;
    let times = times_of(&seen, key);
    assert!((10..=11).contains(&times.len()), "{times:?}");
    assert!(times[0] <= start + ms(100), "first run within the first interval");
    assert!(times[9] <= start + ms(1000), "{times:?}");
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], ms(100));
    }
    let stats = h.scheduler.stats();
    assert_eq!(stats.probes, 1);
    assert_eq!(stats.lag.runs, times.len() as u64);
    // Only tokio's timer resolution (1 ms) makes runs late.
    assert!(stats.lag.max < ms(1), "{:?}", stats.lag);
    assert_eq!(stats.skipped, 0);
}

#[tokio::test(start_paused = true)]
async fn scheduler_never_runs_a_probe_twice_at_once() {
    let fake = Fake::with_delay(ms(250));
    let mut h = harness(fake.clone(), 16);
    let (key, spec) = fake_spec(1, ms(100));
    let start = Instant::now();
    h.scheduler.apply([(key, spec)]).unwrap();
    let seen = h.collect_until(start + ms(3000)).await;
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 1);
    // Each run takes 250 ms, so every run skips two turns: one run per
    // 300 ms.
    let times = times_of(&seen, key);
    assert!((9..=10).contains(&times.len()), "{} runs", times.len());
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], ms(300));
    }
    assert!(h.scheduler.stats().skipped >= 18);
}

#[tokio::test(start_paused = true)]
async fn scheduler_spreads_first_runs_across_the_interval() {
    let mut h = harness(Fake::with_delay(Duration::ZERO), 2000);
    let probes: Vec<_> = (0..1000).map(|n| fake_spec(n, ms(1000))).collect();
    let start = Instant::now();
    h.scheduler.apply(probes).unwrap();
    // (+1 ms: tokio's timer fires on whole milliseconds.)
    let seen = h.collect_until(start + ms(1001)).await;
    assert_eq!(seen.len(), 1000, "every probe ran once in the first interval");
    let mut tenths = [0usize; 10];
    for obs in &seen {
        tenths[((obs.at - start).as_millis() as usize / 100).min(9)] += 1;
    }
    for (i, n) in tenths.iter().enumerate() {
        assert!((50..=150).contains(n), "tenth {i} has {n} of 1000: {tenths:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn scheduler_bounds_runs_in_flight() {
    let fake = Fake::with_delay(ms(50));
    let mut h = harness(fake.clone(), 2);
    let probes: Vec<_> = (0..10).map(|n| fake_spec(n, ms(100))).collect();
    let start = Instant::now();
    h.scheduler.apply(probes).unwrap();
    let seen = h.collect_until(start + ms(2000)).await;
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 2);
    // Two slots of 50 ms runs: at most 40 runs per second.
    assert!((70..=82).contains(&seen.len()), "{} runs", seen.len());
    let stats = h.scheduler.stats();
    assert!(stats.skipped > 0 && stats.lag.max > Duration::ZERO, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn scheduler_reload_keeps_unchanged_starts_new_and_stops_removed() {
    let mut h = harness(Fake::with_delay(Duration::ZERO), 16);
    let (a, spec_a) = fake_spec(1, ms(100));
    let (b, spec_b) = fake_spec(2, ms(100));
    let (c, spec_c) = fake_spec(3, ms(100));
    let start = Instant::now();
    h.scheduler.apply([(a, spec_a), (b, spec_b.clone())]).unwrap();
    let before = h.collect_until(start + ms(1000)).await;
    assert_eq!(times_of(&before, a).len(), 10);
    let phase_b = times_of(&before, b)[0];

    let reload = Instant::now();
    h.scheduler.apply([(b, spec_b), (c, spec_c)]).unwrap();
    let after = h.collect_until(reload + ms(1000)).await;
    assert!(times_of(&after, a).is_empty(), "a removed probe ran");
    let times_c = times_of(&after, c);
    assert_eq!(times_c.len(), 10, "a new probe runs within its first interval");
    assert!(times_c[0] < reload + ms(100));
    let times_b = times_of(&after, b);
    assert_eq!(times_b.len(), 10);
    for t in times_b {
        assert_eq!((t - phase_b).as_nanos() % ms(100).as_nanos(), 0, "b kept its phase");
    }
    assert_eq!(h.scheduler.stats().probes, 2);

    // One at a time: a changed spec under the same key restarts it; a
    // removed key stops.
    let (_, mut changed) = fake_spec(2, ms(200));
    changed.timeout = ms(10);
    h.scheduler.insert(b, changed).unwrap();
    h.scheduler.remove(c).unwrap();
    let now = Instant::now();
    let later = h.collect_until(now + ms(1000)).await;
    assert!(times_of(&later, c).is_empty());
    assert_eq!(times_of(&later, b).len(), 5, "b now runs every 200 ms");
}

#[tokio::test(start_paused = true)]
async fn scheduler_rejects_invalid_specs_whole() {
    let h = harness(Fake::with_delay(Duration::ZERO), 16);
    let good = fake_spec(1, ms(100));
    let (key, mut bad) = fake_spec(2, ms(100));
    bad.interval = Duration::ZERO;
    assert!(h.scheduler.apply([good, (key, bad)]).is_err());
    tokio::task::yield_now().await;
    assert_eq!(h.scheduler.stats().probes, 0);
}

#[tokio::test(start_paused = true)]
async fn scheduler_stops_on_shutdown() {
    let fake = Fake::with_delay(ms(500));
    let mut h = harness(fake.clone(), 16);
    h.scheduler.apply((0..5).map(|n| fake_spec(n, ms(1000)))).unwrap();
    tokio::time::sleep(ms(990)).await;
    assert!(fake.running.load(Ordering::SeqCst) > 0, "runs in flight");
    h.shutdown.send(true).unwrap();
    tokio::time::timeout(ms(100), h.scheduler.stopped())
        .await
        .expect("stopped promptly");
    assert_eq!(fake.running.load(Ordering::SeqCst), 0, "runs were aborted");
    // What finished before the shutdown is still queued; then the channel
    // closes, because the driver and every run have let go of it.
    let drained = tokio::time::timeout(ms(100), async {
        let mut queued = 0;
        while h.results.recv().await.is_some() {
            queued += 1;
        }
        queued
    });
    assert!(drained.await.expect("the channel closed") < 5);
}

#[tokio::test]
async fn scheduler_runs_real_probes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let mut h = harness(Arc::new(Clients::new()), 16);
    let up = spec(tcp(port, b"", b""), ms(40));
    let down = spec(tcp(closed_port().await, b"", b""), ms(40));
    let (up, down) = (
        ProbeSpec { interval: ms(50), ..up },
        ProbeSpec {
            interval: ms(50),
            ..down
        },
    );
    let (k_up, k_down) = (ProbeKey::of(&up), ProbeKey::of(&down));
    h.scheduler.apply([(k_up, up), (k_down, down)]).unwrap();
    let seen = h.collect_until(Instant::now() + ms(1000)).await;
    let ups: Vec<_> = seen.iter().filter(|o| o.key == k_up).collect();
    let downs: Vec<_> = seen.iter().filter(|o| o.key == k_down).collect();
    assert!(ups.len() >= 8 && downs.len() >= 8, "{} / {}", ups.len(), downs.len());
    assert!(ups.iter().all(|o| o.result.ok && o.result.detail == "connected"));
    assert!(
        downs
            .iter()
            .all(|o| !o.result.ok && o.result.detail == "connection refused")
    );
    accept.abort();
}

// ------------------------------------------------------------------- scale

/// A backend on its own thread and runtime (named "backend", so that its
/// CPU can be told apart), with a listen backlog deep enough for 10,000
/// connections a second. Stops when the returned sender is dropped.
fn backend_thread(respond: Option<Respond>) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("backend".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let listener = socket.listen(4096).unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let seen = Arc::new(Mutex::new(Vec::new()));
                let serve = async {
                    match respond {
                        Some(respond) => serve_http(listener, respond, None, seen).await,
                        None => serve_tcp(listener).await,
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        })
        .unwrap();
    (port_rx.recv().unwrap(), stop)
}

/// Accepts and closes.
async fn serve_tcp(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        drop(stream);
    }
}

/// CPU seconds (user + system) of this process's threads, split into
/// those named `name` and the rest.
fn cpu_seconds_split(name: &str) -> (f64, f64) {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (mut named, mut rest) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, f)| f.split(' ').collect());
        // After the command: state is field 3, utime 14 and stime 15.
        let cpu = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        let secs = (cpu(14) + cpu(15)) / ticks;
        if comm.trim() == name {
            named += secs;
        } else {
            rest += secs;
        }
    }
    (named, rest)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Runs 10,000 copies of `spec` (keys 0..10,000: one probe each) at 1 s
/// for `secs` seconds and prints lag, CPU (the probing side, without the
/// backend thread), RSS and sockets.
async fn scale<P: Prober>(name: &str, prober: Arc<P>, spec: ProbeSpec, secs: u64) {
    let mut h = harness(prober, 1024);
    let probes = (0..10_000).map(|n| (ProbeKey(n), spec.clone()));
    let (backend_cpu, cpu) = cpu_seconds_split("backend");
    let rss_before = rss_kib();
    let start = Instant::now();
    h.scheduler.apply(probes).unwrap();
    let (mut observations, mut ok) = (0usize, 0usize);
    let mut failures = std::collections::BTreeMap::new();
    let (mut peak_in_flight, mut peak_rss, mut peak_fds) = (0, 0, 0);
    let mut next_sample = start;
    let deadline = start + Duration::from_secs(secs);
    while let Ok(Some(obs)) = tokio::time::timeout_at(deadline, h.results.recv()).await {
        observations += 1;
        ok += usize::from(obs.result.ok);
        if !obs.result.ok {
            *failures.entry(obs.result.detail).or_insert(0usize) += 1;
        }
        if obs.at >= next_sample {
            next_sample = obs.at + ms(100);
            peak_in_flight = peak_in_flight.max(h.scheduler.stats().in_flight);
            peak_rss = peak_rss.max(rss_kib());
            peak_fds = peak_fds.max(open_fds());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (backend_cpu_after, cpu_after) = cpu_seconds_split("backend");
    let stats = h.scheduler.stats();
    eprintln!(
        "{name}: {observations} observations ({ok} ok) in {elapsed:.1} s = {:.0}/s\n\
         {name}: lag p50 {:?} p99 {:?} max {:?}; skipped {}; peak in flight {peak_in_flight}\n\
         {name}: CPU {:.0}% of one core (backend thread {:.0}% more); \
         RSS {rss_before} KiB before, peak {peak_rss} KiB; peak open fds {peak_fds}\n\
         {name}: failures {failures:?}",
        observations as f64 / elapsed,
        stats.lag.p50,
        stats.lag.p99,
        stats.lag.max,
        stats.skipped,
        (cpu_after - cpu) / elapsed * 100.0,
        (backend_cpu_after - backend_cpu) / elapsed * 100.0,
    );
    let _ = h.shutdown.send(true);
    h.scheduler.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: 10 s of 10,000 probes a second"]
async fn scale_scheduler_alone_10k_per_second() {
    let (_, spec) = fake_spec(1, Duration::from_secs(1));
    scale("scheduler alone", Fake::with_delay(Duration::ZERO), spec, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: 10 s of 10,000 TCP checks a second"]
async fn scale_tcp_10k_per_second() {
    let (port, _stop) = backend_thread(None);
    let mut spec = spec(tcp(port, b"", b""), ms(500));
    spec.interval = Duration::from_secs(1);
    scale("tcp", Arc::new(Clients::new()), spec, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: 10 s of 10,000 HTTP checks a second"]
async fn scale_http_10k_per_second() {
    let (port, _stop) = backend_thread(Some(reply(200, "ok")));
    let mut spec = spec(ProbeKind::Http(http(port)), ms(500));
    spec.interval = Duration::from_secs(1);
    scale("http", Arc::new(Clients::new()), spec, 10).await;
}
