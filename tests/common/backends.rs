//! Backends that health checks probe, run by the test on loopback: an
//! HTTP server whose health the test flips (200 or 503), which can also be
//! stopped outright (connection refused) and started again on the same
//! address, and serve TLS with certificates from a test CA made with
//! `rcgen`. A TCP check needs nothing more than such a backend accepting.
//!
//! Each test takes its own /24 of 127.0.0.0/8 ([`Net`]), so that a port a
//! test frees when it stops a backend can never be taken by another test's
//! backend and make a dead endpoint look alive.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::PrivateKeyDer;

/// How long an idle accept loop sleeps before looking again.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How long a backend waits for a request head.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// 127.0.N.0/24, one per test: pass each test a different N (in use:
/// 11–18 `failover`, 21–25 `policies`, 31–35 `checks_e2e`, 41–43 `plan`,
/// 71–72 `dualstack`, 91–93 and 95 `metrics`, 94 `schemathesis`, 51 `reload_load`).
#[derive(Debug, Clone, Copy)]
pub struct Net(pub u8);

impl Net {
    pub fn ip(&self, host: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, self.0, host))
    }

    /// The address as written in a config or seen in an answer.
    pub fn addr(&self, host: u8) -> String {
        self.ip(host).to_string()
    }
}

/// Binds one listener on each of `ips`, all on the same port (any free
/// one): a check names one port for every endpoint it probes.
pub fn bind_same_port(ips: &[IpAddr]) -> (Vec<TcpListener>, u16) {
    for _ in 0..50 {
        let first = TcpListener::bind((ips[0], 0)).expect("bind a backend");
        let port = first.local_addr().unwrap().port();
        let rest: Result<Vec<TcpListener>, _> = ips[1..].iter().map(|&ip| TcpListener::bind((ip, port))).collect();
        if let Ok(rest) = rest {
            let mut all = vec![first];
            all.extend(rest);
            return (all, port);
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// One backend on each of `ips`, all on one port; returns them and the port.
pub fn backends_on(ips: &[IpAddr]) -> (Vec<Backend>, u16) {
    let (listeners, port) = bind_same_port(ips);
    (listeners.into_iter().map(Backend::http).collect(), port)
}

/// A small HTTP(S) server: 200 "ok" while healthy, 503 "down" while not;
/// closes each connection after one reply. Stopped when dropped.
pub struct Backend {
    addr: SocketAddr,
    healthy: Arc<AtomicBool>,
    /// The TLS configuration, swappable while running (`None`: plain HTTP).
    tls: Option<Arc<Mutex<Arc<ServerConfig>>>>,
    /// Requests answered (TLS handshakes that failed are not requests).
    requests: Arc<AtomicUsize>,
    running: Option<Running>,
}

/// The accept loop of a started backend.
struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Backend {
    /// Serves plain HTTP on `listener`.
    pub fn http(listener: TcpListener) -> Backend {
        Self::start(listener, None)
    }

    /// Serves HTTPS on `listener` with `tls`.
    pub fn https(listener: TcpListener, tls: Arc<ServerConfig>) -> Backend {
        Self::start(listener, Some(Arc::new(Mutex::new(tls))))
    }

    /// An HTTPS backend on `ip`, any free port.
    pub fn https_on(ip: IpAddr, tls: Arc<ServerConfig>) -> Backend {
        Self::https(TcpListener::bind((ip, 0)).expect("bind a backend"), tls)
    }

    fn start(listener: TcpListener, tls: Option<Arc<Mutex<Arc<ServerConfig>>>>) -> Backend {
        let mut backend = Backend {
            addr: listener.local_addr().unwrap(),
            healthy: Arc::new(AtomicBool::new(true)),
            tls,
            requests: Arc::new(AtomicUsize::new(0)),
            running: None,
        };
        backend.run(listener);
        backend
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Answers 200 (true) or 503 (false) from now on.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Serves another certificate from the next connection on.
    pub fn set_tls(&self, tls: Arc<ServerConfig>) {
        *self.tls.as_ref().expect("an HTTPS backend").lock().unwrap() = tls;
    }

    /// Closes the listening socket: connections are refused until
    /// [`Backend::restart`]. Refused soon rather than at once: a process
    /// another test is spawning holds a copy of every open socket until it
    /// execs (close-on-exec), which on a loaded machine takes a moment.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::Relaxed);
            running.thread.join().expect("the backend's accept loop");
        }
    }

    /// Listens again on the same address and port.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "restart a stopped backend");
        // std sets SO_REUSEADDR, so connections of the old socket still in
        // TIME_WAIT do not keep the port; a copy of the old socket in a
        // process about to exec (see `stop`) does, for a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(ACCEPT_POLL),
                Err(e) => panic!("rebind {}: {e}", self.addr),
            }
        };
        self.run(listener);
    }

    fn run(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Handler {
            healthy: self.healthy.clone(),
            tls: self.tls.clone(),
            requests: self.requests.clone(),
        };
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("backend-{}", self.addr))
            .spawn(move || accept_loop(listener, &flag, handler))
            .expect("spawn a backend thread");
        self.running = Some(Running { stop, thread });
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts until told to stop; each connection is served on its own
/// short-lived thread, so a slow client does not hold up the next probe.
fn accept_loop(listener: TcpListener, stop: &AtomicBool, handler: Handler) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let handler = handler.clone();
                std::thread::spawn(move || handler.serve(stream));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

#[derive(Clone)]
struct Handler {
    healthy: Arc<AtomicBool>,
    tls: Option<Arc<Mutex<Arc<ServerConfig>>>>,
    requests: Arc<AtomicUsize>,
}

impl Handler {
    fn serve(&self, stream: TcpStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
        match &self.tls {
            None => self.exchange(stream),
            Some(tls) => {
                let config = tls.lock().unwrap().clone();
                let Ok(connection) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, stream);
                self.exchange(&mut tls);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    }

    /// Reads a request head and writes the reply. A TCP check that only
    /// connects sends nothing and closes: no request, no reply.
    fn exchange(&self, mut stream: impl Read + Write) {
        if !read_head(&mut stream) {
            return;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (status, body) = if self.healthy.load(Ordering::Relaxed) {
            ("200 OK", "ok\n")
        } else {
            ("503 Service Unavailable", "down\n")
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
        let _ = stream.flush();
    }
}

/// Reads up to the blank line that ends a request head; false if the
/// connection ended (or failed, e.g. a rejected TLS handshake) first.
fn read_head(stream: &mut impl Read) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 65536 {
            return false;
        }
    }
    true
}

/// A test certificate authority, and server certificates it signs.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "Lifeline test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    /// The CA certificate, for a check's `ca` file.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server configuration with a certificate for `names` valid from
    /// `not_before` to `not_after` (year, month, day).
    pub fn server(&self, names: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Arc<ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let leaf = params.signed_by(&key, &self.ca).unwrap();
        let chain = vec![leaf.der().clone(), self.ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }

    /// Valid from 2020 to 2100.
    pub fn valid(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.server(names, (2020, 1, 1), (2100, 1, 1))
    }

    /// Expired at the start of 2021.
    pub fn expired(&self, names: &[&str]) -> Arc<ServerConfig> {
        self.server(names, (2020, 1, 1), (2021, 1, 1))
    }
}
