//! A real headless browser for the status page tests: Debian's `chromium`
//! driven by `chromedriver` over the W3C WebDriver protocol (plain
//! HTTP/JSON), with Chrome's browser
//! console and network logs (`goog:loggingPrefs`) so that a test can see
//! what the page logged and every request it made. Requests go over a
//! plain `TcpStream` ([`exchange`]).
//!
//! Chromium is kept on loopback: other host names do not resolve and any
//! other address goes to a proxy that is not there, and the background
//! services that would phone home are off.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{poll_until, required_tool};

/// A running `chromedriver` on a free loopback port, killed (by its PID)
/// when dropped.
pub struct Chromedriver {
    child: Child,
    addr: SocketAddr,
    chromium: PathBuf,
}

/// Chromium and chromedriver, if both are installed (see
/// [`required_tool`]).
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = required_tool("chromium", "chromium")?;
    let driver = required_tool("chromedriver", "chromium-driver")?;
    Some((chromium, driver))
}

impl Chromedriver {
    pub fn start(chromium: PathBuf, driver: PathBuf) -> Chromedriver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let driver = Chromedriver { child, addr, chromium };
        let ready = poll_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(addr).is_ok() && driver.get("/status")["value"]["ready"] == true
        });
        assert!(ready, "chromedriver did not become ready on {addr}");
        driver
    }

    fn get(&self, path: &str) -> Value {
        exchange(self.addr, "GET", path, None).1
    }

    /// A headless browser session of `width` × `height` pixels.
    pub fn session(&self, width: u32, height: u32) -> Session<'_> {
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={width},{height}"),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--disable-default-apps".into(),
            "--no-pings".into(),
            "--disable-domain-reliability".into(),
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication".into(),
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".into(),
            "--proxy-server=http://127.0.0.1:9".into(),
        ];
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "binary": self.chromium, "args": args },
                "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
            }}
        });
        let (_, value) = exchange(self.addr, "POST", "/session", Some(&capabilities.to_string()));
        let id = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {value}"))
            .to_string();
        Session { driver: self, id }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser, closed when dropped.
pub struct Session<'a> {
    driver: &'a Chromedriver,
    id: String,
}

/// One entry of a browser log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub level: String,
    pub message: String,
}

impl Session<'_> {
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        let body = body.map(|b| b.to_string());
        let (status, value) = exchange(self.driver.addr, method, &path, body.as_deref());
        assert_eq!(status, 200, "WebDriver {method} {path}: {value}");
        value["value"].clone()
    }

    pub fn navigate(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `return` gives the result) in the
    /// page.
    pub fn execute(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// The visible part of the page, as PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        base64_decode(encoded.as_str().expect("a base64 screenshot"))
    }

    /// The entries of log `kind` (`browser`: the console; `performance`:
    /// DevTools events) since the last read.
    pub fn log(&self, kind: &str) -> Vec<LogEntry> {
        let entries = self.command("POST", "/se/log", Some(json!({ "type": kind })));
        entries
            .as_array()
            .expect("log entries")
            .iter()
            .map(|e| LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_string(),
                message: e["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Every URL the page requested, from the performance log's
    /// `Network.requestWillBeSent` events.
    pub fn requested_urls(&self) -> Vec<String> {
        self.log("performance")
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.message).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|m| m["message"]["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.id);
        exchange(self.driver.addr, "DELETE", &path, None);
    }
}

/// Decodes standard base64 (RFC 4648 §4), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let value = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        bits = bits << 6 | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// One WebDriver request: chromedriver keeps connections open whatever
/// the request asks, so the reply is read by its `Content-Length`.
fn exchange(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect to chromedriver");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = 0;
    let mut length = 0;
    for i in 0..100 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a reply header");
        if i == 0 {
            status = line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("a status line");
        } else if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a length");
            }
        } else {
            break;
        }
    }
    let mut data = vec![0; length];
    reader.read_exact(&mut data).expect("the reply body");
    let value =
        serde_json::from_slice(&data).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&data)));
    (status, value)
}
