//! Helpers shared by the integration tests: start the real `lifeline`
//! binary on port 0, build queries and read replies with the `domain`
//! crate (a real DNS library, not our own parser), send them over UDP and
//! TCP, and run `kdig`/`dig` when installed. `backends` runs the HTTP(S)
//! and TCP servers health checks probe; `records` asks for health-checked
//! answers and waits for them to change.
#![allow(dead_code)]

pub mod api;
pub mod backends;
pub mod records;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use domain::base::iana::{Class, Opcode, OptionCode, Rtype};
use domain::base::{Message, MessageBuilder, Name};
use domain::rdata::AllRecordData;

/// How long a test waits for one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

/// The example zone shipped in `examples/`, used by most tests.
pub fn example_zone() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/example.test.zone")
}

/// A zone file kept for the tests in `tests/zones/`.
pub fn test_zone(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zones").join(name)
}

/// A running `lifeline serve`, stopped (by its PID) when dropped.
pub struct Lifeline {
    child: Child,
    pub addr: SocketAddr,
    pub addrs: Vec<SocketAddr>,
    /// Where the HTTP API listens, when it does ("lifeline: api on").
    pub api: Option<SocketAddr>,
    /// Every line the server wrote to stderr so far (also echoed to the
    /// test's stderr).
    log: Arc<Mutex<Vec<String>>>,
    _dir: Option<TempDir>,
}

impl Lifeline {
    /// Starts `lifeline serve ARGS` and waits until it reports its
    /// addresses.
    pub fn start(args: &[&str]) -> Lifeline {
        Self::start_in(args, None, &[])
    }

    /// Serves the example zone on 127.0.0.1, port 0, one UDP thread.
    pub fn example() -> Lifeline {
        Self::zone_files(&[("example.test", &example_zone())])
    }

    /// Serves zone files given as (origin, path) in quick mode, on
    /// 127.0.0.1 port 0 with one UDP thread.
    pub fn zone_files(zones: &[(&str, &Path)]) -> Lifeline {
        let flags: Vec<String> = zones
            .iter()
            .map(|(origin, path)| format!("{origin}={}", path.display()))
            .collect();
        let mut args = vec!["--listen", "127.0.0.1:0", "--udp-threads", "1"];
        for flag in &flags {
            args.extend(["--zone", flag.as_str()]);
        }
        Self::start(&args)
    }

    /// Serves a config file written into a temporary directory, with the
    /// given zone files next to it.
    pub fn with_config(config: &str, files: &[(&str, &str)]) -> Lifeline {
        Self::with_config_env(config, files, &[])
    }

    /// [`Lifeline::with_config`] with extra environment variables, e.g.
    /// `LIFELINE_LOG=debug` to see failed checks in the log.
    pub fn with_config_env(config: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Lifeline {
        let dir = TempDir::new();
        let path = dir.write("lifeline.toml", config);
        for (name, text) in files {
            dir.write(name, text);
        }
        Self::start_in(&["--config", path.to_str().unwrap()], Some(dir), env)
    }

    /// [`Lifeline::with_config_env`] with more `serve` arguments, e.g.
    /// `--api 127.0.0.1:0`.
    pub fn with_config_args(config: &str, files: &[(&str, &str)], args: &[&str], env: &[(&str, &str)]) -> Lifeline {
        let dir = TempDir::new();
        let path = dir.write("lifeline.toml", config);
        for (name, text) in files {
            dir.write(name, text);
        }
        let mut all = vec!["--config", path.to_str().unwrap()];
        all.extend_from_slice(args);
        Self::start_in(&all, Some(dir), env)
    }

    /// Serves the given zones (origin, zone-file text) from a config file
    /// that listens on 127.0.0.1 port 0 with one UDP thread. `server` and
    /// `limits` are extra lines for those tables, e.g. `identity = "x"`.
    pub fn with_zones(server: &str, limits: &str, zones: &[(&str, &str)]) -> Lifeline {
        let names: Vec<String> = zones.iter().map(|(o, _)| format!("{o}.zone")).collect();
        let config = zones_config(server, limits, zones);
        let files: Vec<(&str, &str)> = names
            .iter()
            .zip(zones)
            .map(|(name, (_, text))| (name.as_str(), *text))
            .collect();
        Self::with_config(&config, &files)
    }

    /// The example zone served from a config file with extra `server` and
    /// `limits` lines (see [`Lifeline::with_zones`]).
    pub fn example_with(server: &str, limits: &str) -> Lifeline {
        let zone = std::fs::read_to_string(example_zone()).unwrap();
        Self::with_zones(server, limits, &[("example.test", &zone)])
    }

    fn start_in(args: &[&str], dir: Option<TempDir>, env: &[(&str, &str)]) -> Lifeline {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lifeline"))
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lifeline");
        let log = collect_lines(child.stderr.take().unwrap());
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = Vec::new();
        let mut api = None;
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("lifeline: listening on ") {
                        addrs.push(rest.split_whitespace().next().unwrap().parse().unwrap());
                    } else if let Some(rest) = line.strip_prefix("lifeline: api on http://") {
                        api = Some(rest.trim().parse().unwrap());
                    } else if line.starts_with("lifeline: serving") {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("lifeline did not start (args {args:?}); status {:?}", child.wait());
                }
            }
        }
        Lifeline {
            child,
            addr: addrs[0],
            addrs,
            api,
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGHUP (reload).
    pub fn sighup(&self) {
        signal(self.pid(), "HUP");
    }

    /// Sends SIGTERM (shut down).
    pub fn sigterm(&self) {
        signal(self.pid(), "TERM");
    }

    /// Kills the server with SIGKILL (no chance to clean up: a crash) and
    /// waits until it is gone.
    pub fn kill9(&self) {
        signal(self.pid(), "KILL");
        let stat = format!("/proc/{}/stat", self.pid());
        let gone = poll_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&stat).map_or(true, |s| {
                s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        });
        assert!(gone, "the server did not die of SIGKILL");
    }

    /// The directory of the config, for rewriting files before a reload.
    pub fn dir(&self) -> &Path {
        &self._dir.as_ref().expect("started with a config").0
    }

    /// How the server exited, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// How many lines of the server's log contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_lines(needle).len()
    }

    /// The log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

/// Reads lines from a child's pipe on a thread, echoing them to stderr and
/// keeping them for the test to look at.
fn collect_lines(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            eprintln!("{line}");
            kept.lock().unwrap().push(line);
        }
    });
    lines
}

/// Calls `done` every 10 ms until it returns true or `timeout` passes;
/// returns whether it did.
pub fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A config file serving `zones` (origin, text) from `ORIGIN.zone` files
/// next to it, on 127.0.0.1 port 0 with one UDP thread.
pub fn zones_config(server: &str, limits: &str, zones: &[(&str, &str)]) -> String {
    let mut config = format!("[server]\nlisten = [\"127.0.0.1:0\"]\nudp_threads = 1\n{server}\n\n[limits]\n{limits}\n");
    for (origin, _) in zones {
        config.push_str(&format!(
            "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{origin}.zone\"\n"
        ));
    }
    config
}

/// The outcome of a `lifeline` command that is expected to exit.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `lifeline ARGS` and waits for it to exit; a command still running
/// after `timeout` is killed and the test fails.
pub fn run_lifeline(args: &[&str], timeout: Duration) -> Finished {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeline"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lifeline");
    let stdout = read_all_on_thread(child.stdout.take().unwrap());
    let stderr = read_all_on_thread(child.stderr.take().unwrap());
    let mut status = None;
    poll_until(timeout, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("lifeline {args:?} did not exit within {timeout:?}");
    };
    Finished {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn read_all_on_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        signal(self.pid(), "TERM");
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lifeline-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What to put in a query.
#[derive(Clone, Debug)]
pub struct Q {
    pub name: String,
    pub rtype: Rtype,
    pub class: Class,
    pub id: u16,
    pub rd: bool,
    /// EDNS payload size; `None` = no OPT record.
    pub edns: Option<u16>,
    pub dnssec_ok: bool,
    pub nsid: bool,
    pub opcode: Opcode,
    /// EDNS version (only with `edns`).
    pub edns_version: u8,
    /// Extra EDNS options (code, data), only with `edns`.
    pub options: Vec<(u16, Vec<u8>)>,
}

/// A query for NAME TYPE in class IN, without EDNS.
pub fn q(name: &str, rtype: Rtype) -> Q {
    Q {
        name: name.into(),
        rtype,
        class: Class::IN,
        id: 0x4242,
        rd: false,
        edns: None,
        dnssec_ok: false,
        nsid: false,
        opcode: Opcode::QUERY,
        edns_version: 0,
        options: Vec::new(),
    }
}

impl Q {
    pub fn edns(mut self, size: u16) -> Q {
        self.edns = Some(size);
        self
    }

    pub fn class(mut self, class: Class) -> Q {
        self.class = class;
        self
    }

    pub fn dnssec_ok(mut self) -> Q {
        self.dnssec_ok = true;
        self
    }

    pub fn nsid(mut self) -> Q {
        self.nsid = true;
        self
    }

    pub fn rd(mut self) -> Q {
        self.rd = true;
        self
    }

    pub fn id(mut self, id: u16) -> Q {
        self.id = id;
        self
    }

    pub fn opcode(mut self, opcode: Opcode) -> Q {
        self.opcode = opcode;
        self
    }

    /// Sets the EDNS version (the query must also have `edns`).
    pub fn edns_version(mut self, version: u8) -> Q {
        self.edns_version = version;
        self
    }

    /// Adds an EDNS option (the query must also have `edns`).
    pub fn option(mut self, code: u16, data: &[u8]) -> Q {
        self.options.push((code, data.to_vec()));
        self
    }

    /// The query in wire format.
    pub fn wire(&self) -> Vec<u8> {
        let mut b = MessageBuilder::new_vec();
        b.header_mut().set_id(self.id);
        b.header_mut().set_rd(self.rd);
        b.header_mut().set_opcode(self.opcode);
        let mut b = b.question();
        let name: Name<Vec<u8>> = self.name.parse().unwrap();
        b.push((&name, self.rtype, self.class)).unwrap();
        let mut b = b.additional();
        if let Some(size) = self.edns {
            b.opt(|opt| {
                opt.set_udp_payload_size(size);
                opt.set_dnssec_ok(self.dnssec_ok);
                opt.set_version(self.edns_version);
                if self.nsid {
                    opt.push_raw_option(OptionCode::NSID, 0, |_| Ok(()))?;
                }
                for (code, data) in &self.options {
                    opt.push_raw_option(OptionCode::from_int(*code), data.len() as u16, |t| {
                        t.extend_from_slice(data);
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .unwrap();
        }
        b.finish()
    }
}

/// Sends raw bytes over UDP; the reply, or `None` if none came in time.
pub fn udp_raw(addr: SocketAddr, packet: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let bind = if addr.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
    let socket = UdpSocket::bind(bind).unwrap();
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket.send_to(packet, addr).unwrap();
    let mut buf = vec![0u8; 65535];
    match socket.recv_from(&mut buf) {
        Ok((n, from)) => {
            assert_eq!(from, addr, "reply must come from the address queried");
            buf.truncate(n);
            Some(buf)
        }
        Err(_) => None,
    }
}

/// Sends one query over UDP and parses the reply.
pub fn udp(addr: SocketAddr, query: &Q) -> Reply {
    let wire = query.wire();
    let reply = udp_raw(addr, &wire, REPLY_TIMEOUT).unwrap_or_else(|| panic!("no UDP reply to {query:?}"));
    Reply::parse(reply, &wire)
}

/// Sends `packets` in order from one UDP socket, then reads replies until
/// `count` have come or one does not come within [`REPLY_TIMEOUT`]. A
/// server answers one client's datagrams in order, so a reply to a packet
/// that must get none would show up before the reply to a later good query.
pub fn udp_sequence(addr: SocketAddr, packets: &[Vec<u8>], count: usize) -> Vec<Vec<u8>> {
    let bind = if addr.is_ipv6() { "[::1]:0" } else { "127.0.0.1:0" };
    let socket = UdpSocket::bind(bind).unwrap();
    socket.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    for packet in packets {
        socket.send_to(packet, addr).unwrap();
    }
    let mut replies = Vec::new();
    let mut buf = vec![0u8; 65535];
    while replies.len() < count {
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => replies.push(buf[..n].to_vec()),
            Err(_) => break,
        }
    }
    replies
}

/// The same query three ways, labelled for assertion messages: over UDP
/// without EDNS, over UDP with EDNS (payload 1232), and over TCP. The
/// server answers UDP from prebuilt answers where it can and TCP through
/// its general path, so a behaviour asserted on all three holds on both.
pub fn ask(addr: SocketAddr, query: &Q) -> Vec<(&'static str, Reply)> {
    let plain = Q {
        edns: None,
        ..query.clone()
    };
    vec![
        ("udp", udp(addr, &plain)),
        ("udp+edns", udp(addr, &plain.clone().edns(1232))),
        ("tcp", tcp(addr, &plain)),
    ]
}

/// Opens a TCP connection with a read timeout.
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, REPLY_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    stream
}

/// Writes one length-prefixed message.
pub fn tcp_send(stream: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).unwrap();
}

/// Reads one length-prefixed message.
pub fn tcp_recv(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// Sends one query over a new TCP connection and parses the reply.
pub fn tcp(addr: SocketAddr, query: &Q) -> Reply {
    let wire = query.wire();
    let mut stream = tcp_connect(addr);
    tcp_send(&mut stream, &wire);
    Reply::parse(tcp_recv(&mut stream).expect("TCP reply"), &wire)
}

/// A parsed reply with the accessors the tests assert on.
pub struct Reply {
    pub msg: Message<Vec<u8>>,
}

impl Reply {
    /// Parses a reply and checks what every reply must satisfy: QR set,
    /// same ID, the question echoed byte for byte (case included).
    pub fn parse(bytes: Vec<u8>, query: &[u8]) -> Reply {
        let msg = Message::from_octets(bytes).expect("reply parses");
        assert!(msg.header().qr(), "QR must be set in a reply");
        assert_eq!(
            msg.header().id(),
            u16::from_be_bytes([query[0], query[1]]),
            "ID must match"
        );
        if msg.header_counts().qdcount() == 1 {
            let qend = 12 + domain_name_len(&query[12..]) + 4;
            assert_eq!(
                &msg.as_slice()[12..qend],
                &query[12..qend],
                "question must be echoed as sent"
            );
        }
        Reply { msg }
    }

    pub fn len(&self) -> usize {
        self.msg.as_slice().len()
    }

    /// The reply as received.
    pub fn bytes(&self) -> &[u8] {
        self.msg.as_slice()
    }

    pub fn opcode(&self) -> Opcode {
        self.msg.header().opcode()
    }

    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    pub fn counts(&self) -> [u16; 4] {
        let c = self.msg.header_counts();
        [c.qdcount(), c.ancount(), c.nscount(), c.arcount()]
    }

    /// Offset just past the question (the reply must have one).
    pub fn question_end(&self) -> usize {
        12 + domain_name_len(&self.bytes()[12..]) + 4
    }

    /// The rcode including EDNS extended bits, e.g. "NOERROR", "BADVERS".
    pub fn rcode(&self) -> String {
        self.msg.opt_rcode().to_string()
    }

    pub fn aa(&self) -> bool {
        self.msg.header().aa()
    }

    pub fn tc(&self) -> bool {
        self.msg.header().tc()
    }

    pub fn ra(&self) -> bool {
        self.msg.header().ra()
    }

    pub fn rd(&self) -> bool {
        self.msg.header().rd()
    }

    fn section(&self, which: usize) -> Vec<String> {
        let (_, answer, authority, additional) = self.msg.sections().unwrap();
        let section = match which {
            0 => answer,
            1 => authority,
            _ => additional,
        };
        section
            .limit_to::<AllRecordData<_, _>>()
            .filter_map(|r| r.ok())
            .filter(|r| r.rtype() != Rtype::OPT)
            .map(|r| r.to_string().replace('\t', " "))
            .collect()
    }

    /// Answer records as "owner. TTL CLASS TYPE RDATA".
    pub fn answer(&self) -> Vec<String> {
        self.section(0)
    }

    pub fn authority(&self) -> Vec<String> {
        self.section(1)
    }

    /// Additional records, without the OPT.
    pub fn additional(&self) -> Vec<String> {
        self.section(2)
    }

    /// The OPT record: (UDP payload size, version, DO, NSID payload).
    pub fn opt(&self) -> Option<(u16, u8, bool, Option<Vec<u8>>)> {
        let opt = self.msg.opt()?;
        let nsid = opt
            .opt()
            .iter::<domain::base::opt::AllOptData<_, _>>()
            .filter_map(Result::ok)
            .find_map(|o| match o {
                domain::base::opt::AllOptData::Nsid(n) => Some(n.as_slice().to_vec()),
                _ => None,
            });
        Some((opt.udp_payload_size(), opt.version(), opt.dnssec_ok(), nsid))
    }
}

fn domain_name_len(wire: &[u8]) -> usize {
    let mut pos = 0;
    while wire[pos] != 0 {
        pos += 1 + wire[pos] as usize;
    }
    pos + 1
}

/// Runs an external client (`kdig`, `dig`) if installed. Without it the
/// test is skipped with a printed reason, unless `LIFELINE_INTEROP=1`, where
/// a missing tool is a failure.
pub fn external_tool(name: &str) -> Option<PathBuf> {
    required_tool(name, "knot-dnsutils / bind9-dnsutils")
}

/// The program `name` if installed; else `None` with a printed reason, or
/// a failure under `LIFELINE_INTEROP=1`. `packages` says what to install.
pub fn required_tool(name: &str, packages: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("LIFELINE_INTEROP").as_deref() == Ok("1") {
            panic!("{name} is required when LIFELINE_INTEROP=1 (install {packages})");
        }
        eprintln!("skipping: {name} is not installed");
    }
    found
}

/// Runs a command and returns its stdout.
pub fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `dig` or `kdig` printed, picked apart: the header's status and
/// flags, the records of each section (whitespace collapsed to one space),
/// and the whole text for anything else.
#[derive(Debug, Clone)]
pub struct DigOutput {
    pub status: String,
    /// The question name as the tool sent it (kdig lowercases it).
    pub question: String,
    pub flags: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    pub text: String,
}

impl DigOutput {
    /// Parses the presentation output both tools share (";; ->>HEADER<<-",
    /// ";; flags:" or ";; Flags:", ";; ANSWER SECTION:" and so on).
    pub fn parse(text: &str) -> DigOutput {
        let header = text
            .lines()
            .find(|l| l.contains("->>HEADER<<-"))
            .unwrap_or_else(|| panic!("no header in:\n{text}"));
        let status = header
            .split("status: ")
            .nth(1)
            .and_then(|s| s.split([',', ';']).next())
            .unwrap_or_default()
            .trim()
            .to_string();
        let flags = text
            .lines()
            .find_map(|l| l.strip_prefix(";; flags:").or_else(|| l.strip_prefix(";; Flags:")))
            .and_then(|l| l.split(';').next())
            .map(|f| f.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let question = text
            .lines()
            .skip_while(|l| !l.starts_with(";; QUESTION SECTION:"))
            .nth(1)
            .and_then(|l| l.trim_start_matches([';', ' ']).split_whitespace().next())
            .unwrap_or_default()
            .to_string();
        DigOutput {
            status,
            question,
            flags,
            answer: dig_section(text, "ANSWER"),
            authority: dig_section(text, "AUTHORITY"),
            additional: dig_section(text, "ADDITIONAL"),
            text: text.to_string(),
        }
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// The records under ";; NAME SECTION:" up to the next blank line.
fn dig_section(text: &str, name: &str) -> Vec<String> {
    let heading = format!(";; {name} SECTION:");
    text.lines()
        .skip_while(|l| !l.starts_with(&heading))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}
