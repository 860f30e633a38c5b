//! `lifeline demo`: failover in one minute, with nothing to set up.
//!
//! Starts two small HTTP backends of its own on 127.0.0.2 and 127.0.0.3,
//! serves `www.demo.test` with the first as primary and the second as
//! backup on 127.0.0.1:5353, prints the `dig` command to watch, then takes
//! the primary down and up again on a timer (or when Enter is pressed),
//! printing every check result, verdict and answer change as it happens.

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::Server;
use crate::config::Sources;
use crate::publish::event::EventKind;

const PRIMARY: &str = "127.0.0.2";
const BACKUP: &str = "127.0.0.3";

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: String,
    /// How long the primary stays up, then down, in turn.
    pub period: Duration,
    /// Stop after this long (for scripted runs); `None` runs until Ctrl-C.
    pub duration: Option<Duration>,
}

/// A tiny HTTP backend: answers 200 while healthy, 503 while not.
struct Backend {
    healthy: Arc<AtomicBool>,
}

impl Backend {
    fn start(listener: TcpListener, name: &'static str) -> Backend {
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        std::thread::Builder::new()
            .name(format!("demo-{name}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut request = [0u8; 2048];
                    let _ = stream.read(&mut request);
                    let (status, body) =
                        if flag.load(Ordering::Relaxed) { ("200 OK", "ok\n") } else { ("503 Service Unavailable", "down\n") };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\nServer: demo-{name}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes());
                }
            })
            .expect("spawn a backend thread");
        Backend { healthy }
    }

    fn set(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }
}

/// Binds both backends on one port (any free one).
fn bind_backends() -> anyhow::Result<(TcpListener, TcpListener, u16)> {
    for _ in 0..20 {
        let primary = TcpListener::bind((PRIMARY.parse::<IpAddr>()?, 0)).context("binding the primary backend")?;
        let port = primary.local_addr()?.port();
        if let Ok(backup) = TcpListener::bind(SocketAddr::new(BACKUP.parse()?, port)) {
            return Ok((primary, backup, port));
        }
    }
    anyhow::bail!("no free port on both {PRIMARY} and {BACKUP}")
}

fn zone_text() -> &'static str {
    "$ORIGIN demo.test.\n$TTL 60\n\
     @ IN SOA ns1 hostmaster 1 3600 600 604800 5\n\
     @ IN NS ns1\n\
     ns1 IN A 127.0.0.1\n"
}

/// 128 random bits, in hex.
fn demo_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn config_text(listen: &str, port: u16) -> String {
    format!(
        r#"[server]
listen = ["{listen}"]

[api]
token_file = "api-token"

[[zone]]
origin = "demo.test"
file = "demo.test.zone"

[[record]]
name = "www.demo.test"
type = "A"
ttl = 5
ttl_degraded = 1
policy = "all"
failback = "auto"
failback_hold = "2s"
all_down = "all"
endpoint = [
  {{ name = "primary", address = "{PRIMARY}", priority = 1, checks = ["web"] }},
  {{ name = "backup", address = "{BACKUP}", priority = 2, checks = ["web"] }},
]

[check.web]
kind = "http"
port = {port}
path = "/healthz"
interval = "500ms"
timeout = "250ms"
rise = 2
fall = 2
"#
    )
}

/// Wall-clock time of day, for the demo's lines.
fn clock() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() % 86400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

/// Runs the demo until Ctrl-C (or `duration`).
pub fn demo(options: DemoOptions) -> anyhow::Result<()> {
    let (primary_listener, backup_listener, port) = bind_backends()?;
    let primary = Backend::start(primary_listener, "primary");
    let _backup = Backend::start(backup_listener, "backup");
    let dir = std::env::temp_dir().join(format!("lifeline-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("demo.test.zone"), zone_text())?;
    std::fs::write(dir.join("lifeline.toml"), config_text(&options.listen, port))?;
    // Writes through the API need a token: one for this demo, unless the
    // environment gives one (it wins over the file).
    let token = match std::env::var(crate::serve::http::TOKEN_ENV) {
        Ok(token) if !token.is_empty() => token,
        _ => demo_token()?,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dir.join("api-token"))?;
    std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())?;
    let sources = Sources {
        file: Some(dir.join("lifeline.toml")),
        ..Sources::default()
    };
    let server = Server::start(sources)?;
    let addr = server.addrs[0];
    println!("Lifeline demo: www.demo.test is served by a primary ({PRIMARY}) with a backup ({BACKUP}).");
    println!("Both are small HTTP servers checked every 500 ms at http://ADDRESS:{port}/healthz.");
    println!("Watch the answer change in another terminal:");
    println!(
        "    watch -n 0.5 dig @{} -p {} +noall +answer www.demo.test",
        addr.ip(),
        addr.port()
    );
    if let Some(api) = server.api {
        println!("The live status page: http://{api}/");
        println!(
            "Ask Lifeline itself: lifeline status, lifeline explain www.demo.test, lifeline events -f{}",
            if api.port() == 8053 {
                String::new()
            } else {
                format!(" (with --api http://{api})")
            }
        );
        println!("Take the primary out by hand: LIFELINE_API_TOKEN={token} lifeline drain primary --reason test");
    }
    println!(
        "Every {}s the primary goes down (HTTP 503) or comes back; press Enter to switch now, Ctrl-C to stop.\n",
        options.period.as_secs()
    );
    let mut events = server.subscribe();
    let (toggle_tx, mut toggle_rx) = tokio::sync::mpsc::channel::<()>(4);
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {
            if toggle_tx.blocking_send(()).is_err() {
                break;
            }
        }
    });
    let period = options.period;
    let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
    server.handle().block_on(async move {
        let mut healthy = true;
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.recv() => match event {
                    Ok(e) => println!("{}  {}", clock(), describe(&e.kind)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => println!("({n} events skipped)"),
                    Err(_) => return,
                },
                _ = timer.tick() => {
                    healthy = !healthy;
                    switch(&primary, healthy);
                }
                Some(()) = toggle_rx.recv() => {
                    healthy = !healthy;
                    switch(&primary, healthy);
                    timer.reset();
                }
                _ = tokio::signal::ctrl_c() => return,
                _ = until_deadline => return,
            }
        }
    });
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn switch(primary: &Backend, healthy: bool) {
    primary.set(healthy);
    let state = if healthy {
        "healthy again (HTTP 200)"
    } else {
        "DOWN (HTTP 503)"
    };
    println!("{}  ---- demo: the primary backend {PRIMARY} is now {state}", clock());
}

/// One line per event; answers stand out.
fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::Answer { .. } => format!(">>> {kind}"),
        EventKind::Verdict { .. } => format!("  * {kind}"),
        _ => format!("    {kind}"),
    }
}
