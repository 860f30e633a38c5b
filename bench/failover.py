#!/usr/bin/env python3
"""Failover timing: how long after a backend stops (and starts again) the DNS answer changes.

Lifeline, gdnsd and PowerDNS (LUA records) in one run, the trials of the servers interleaved so
that they share the machine's load over time. Python 3 stdlib only; loopback only.

    failover.py run [--targets NAME,...] [--rounds N] [--poll SECONDS] [--run-id ID]
    failover.py summary [--run ID | --all] [--tsv FILE]
    failover.py list                      # the targets and their settings

Every target is one server process serving example.test on its own port, with a health-checked
`app.example.test A` over two TCP listeners 127.0.0.1:CHECKPORT (primary) and 127.0.0.2:CHECKPORT
(secondary), each target with its own CHECKPORT. Both up -> {127.0.0.1, 127.0.0.2}; primary
down -> {127.0.0.2} (gdnsd multifo, PowerDNS ifportup selector='all', Lifeline policy "all").

One trial of a target:
  1. wait until the target has been both-up for at least `settle` s, plus a random 0..interval s
     (so the kill lands at a random phase of the check cycle);
  2. SIGKILL the primary listener process (t0 = just before the signal; its socket is closed when
     the process is reaped, and connects get RST from then on);
  3. query the name every `poll` s (fixed rate) until the answer is not both: detect_s = time the
     first changed answer arrived - t0; detect_lo_s = send time of the last unchanged answer - t0
     (the change happened in [detect_lo_s, detect_s]);
  4. wait `hold` s + random 0..interval s, start the listener again (t1 = the listener's own
     CLOCK_MONOTONIC reading right after listen()), poll until the answer is both: recover_s,
     recover_lo_s likewise.
For Lifeline the server's own log gives the time it published each answer change (wall clock, us):
srv_detect_s / srv_recover_s, free of the poll resolution, and srv_changes = answer changes it
logged during the trial (2 expected; more = a flap). Rows are appended to results/failover.tsv as
each trial ends. Processes: listeners and servers are started here, recorded by pid in
WORK/failover/*.pid, and stopped by pid on exit (SIGTERM, then SIGKILL after 5 s); they also get
PR_SET_PDEATHSIG so that they do not outlive this script if it is killed.
"""
import argparse, ctypes, datetime, hashlib, os, random, re, select, shutil, signal, socket, struct, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
WORK = os.path.join(os.environ.get("LIFELINE_BENCH_WORK", "/tmp/lifeline-bench"), "failover")
RESULTS = os.environ.get("LIFELINE_BENCH_RESULTS", os.path.join(HERE, "results"))
TSV = os.path.join(RESULTS, "failover.tsv")
WORKERS = int(os.environ.get("WORKERS", "2"))
NAME = "app.example.test"
PRIMARY, SECONDARY = "127.0.0.1", "127.0.0.2"
BOTH = (PRIMARY, SECONDARY)
BOUND_SLACK = 0.050          # Lifeline's goal: detect within interval x fall + timeout + 50 ms

# The targets. interval/timeout in seconds; jitter before each kill and restart = interval.
TARGETS = {
    "lifeline-100ms": dict(
        server="lifeline", port=5330, check_port=18330, interval=0.1, timeout=0.05, fall=1, rise=1,
        settle=0.5, hold=0.5, rounds=60,
        label="Lifeline fastest: tcp, interval 100ms, timeout 50ms, fall 1, rise 1"),
    "lifeline-1s": dict(
        server="lifeline", port=5331, check_port=18331, interval=1.0, timeout=0.5, fall=1, rise=1,
        settle=2.0, hold=2.0, rounds=30,
        label="Lifeline 1 s: tcp, interval 1s, timeout 500ms, fall 1, rise 1"),
    "gdnsd-fast": dict(
        server="gdnsd", port=5333, check_port=18333, interval=2.0, timeout=1.0, fall=1, ok=1, rise=1,
        settle=3.0, hold=2.0, rounds=25,
        label="gdnsd fastest: tcp_connect, interval 2, timeout 1, down/ok/up_thresh 1"),
    "pdns-fast": dict(
        server="pdns", port=5334, check_port=18334, interval=1.0, timeout=2.0, fall=1, rise=1,
        settle=3.0, hold=2.0, rounds=25,
        label="PowerDNS fastest: LUA ifportup, lua-health-checks-interval 1 (timeout 2 s default)"),
}

COLUMNS = ["run_id", "utc", "target", "server", "label", "round", "interval_s", "timeout_s", "fall", "rise",
           "poll_s", "kill_jitter_s", "detect_s", "detect_lo_s", "answer_after_kill", "recover_s", "recover_lo_s",
           "answer_after_restart", "kill_reap_ms", "srv_detect_s", "srv_recover_s", "srv_changes", "bound_s",
           "within_bound", "load1", "busy_cores", "kill_utc", "restart_utc", "listener_start_ms", "srv_false_down"]

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """preexec_fn: the child gets SIGTERM if this script dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# A TCP listener in its own process: stopping it = SIGKILL, like a crashed backend. It prints its
# CLOCK_MONOTONIC and wall-clock time right after listen(), then accepts and closes forever.
LISTENER = r"""
import ctypes, os, signal, socket, sys, time
ctypes.CDLL(None).prctl(1, signal.SIGKILL)          # PR_SET_PDEATHSIG: die with the harness
if os.getppid() != int(sys.argv[3]): sys.exit(1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(128)
print(time.monotonic(), time.time(), flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


class Listener:
    def __init__(self, ip, port):
        self.ip, self.port, self.proc = ip, port, None

    def start(self):
        """Start it; returns (monotonic, wall) time at which it was listening."""
        self.spawned = time.monotonic()
        p = subprocess.Popen([sys.executable, "-c", LISTENER, self.ip, str(self.port), str(os.getpid())],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([p.stdout], [], [], 10)
        line = p.stdout.readline().decode() if ready else ""
        try:
            mono, wall = (float(x) for x in line.split())
        except ValueError:
            p.kill(); p.wait()
            raise SystemExit(f"listener {self.ip}:{self.port} did not start: {p.stderr.read().decode().strip()[-300:]}")
        self.proc = p
        return mono, wall

    def kill(self):
        """SIGKILL it; returns (monotonic, wall) just before the signal and ms until it was reaped."""
        t, w = time.monotonic(), time.time()
        self.proc.kill()
        self.proc.wait()
        reaped = time.monotonic()
        self.proc.stdout.close(); self.proc.stderr.close()
        self.proc = None
        return t, w, (reaped - t) * 1000

    def stop(self):
        if self.proc is not None:
            self.kill()


def query_a(port, name=NAME, timeout=0.3):
    """One UDP A query to 127.0.0.1:port; sorted tuple of A addresses, or None (timeout, error)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            while True:
                r, _ = s.recvfrom(4096)
                if struct.unpack(">H", r[:2])[0] == qid:
                    break
        except OSError:
            return None
    try:
        an = struct.unpack(">H", r[6:8])[0]
        i = 12
        while r[i] != 0:
            i += r[i] + 1
        i += 5
        out = []
        for _ in range(an):
            if r[i] & 0xC0 == 0xC0:
                i += 2
            else:
                while r[i] != 0:
                    i += r[i] + 1
                i += 1
            rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
            i += 10
            if rtype == 1 and rdlen == 4:
                out.append(socket.inet_ntoa(r[i:i + 4]))
            i += rdlen
        return tuple(sorted(out))
    except (IndexError, struct.error):
        return None


def poll_until(pred, port, t0, poll, limit):
    """Query every `poll` s (fixed rate) until pred(answer). Returns (hit_s, lo_s, answer) relative to
    t0: hit_s = arrival of the first matching answer, lo_s = send time of the last non-matching one
    (0 if none came after t0); hit_s None after `limit` s."""
    lo, last = 0.0, None
    nxt = time.monotonic()
    while True:
        sent = time.monotonic()
        if sent - t0 > limit:
            return None, lo, last
        ans = query_a(port)
        got = time.monotonic()
        if ans is not None:
            last = ans
            if pred(ans):
                return got - t0, lo, ans
            lo = max(lo, sent - t0)
        nxt += poll
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()


def render(tpl, out, **values):
    with open(os.path.join(HERE, tpl)) as fh:
        text = fh.read()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    if re.search(r"@[A-Z]+@", text):
        raise SystemExit(f"{tpl}: unfilled placeholder {re.search(r'@[A-Z]+@', text).group(0)}")
    with open(out, "w") as fh:
        fh.write(text)


def base_zone():
    """bench/zone/example.test.zone without its static app.example.test lines."""
    with open(os.path.join(HERE, "zone", "example.test.zone")) as fh:
        return "".join(l for l in fh if not re.match(r"app\s", l))


def fmt_dur(s):
    return f"{round(s * 1000)}ms" if s < 1 else f"{s:g}s"


class Target:
    def __init__(self, name, spec, lifeline_bin):
        self.name, self.spec = name, spec
        self.dir = os.path.join(WORK, name)
        self.pidfile = os.path.join(WORK, name + ".pid")
        self.log = os.path.join(self.dir, "server.log")
        self.listeners = {ip: Listener(ip, spec["check_port"]) for ip in BOTH}
        self.proc = None
        self.lifeline_bin = lifeline_bin
        self.log_offset = 0
        self.last_recover = 0.0
        self.done = 0

    def prepare(self):
        s = self.spec
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        zone = base_zone()
        if s["server"] == "lifeline":
            with open(os.path.join(self.dir, "example.test.zone"), "w") as fh:
                fh.write(zone)
            render("conf/failover-lifeline.toml.in", os.path.join(self.dir, "lifeline.toml"), PORT=s["port"],
                   WORKERS=WORKERS, CHECKPORT=s["check_port"], INTERVAL=fmt_dur(s["interval"]),
                   TIMEOUT=fmt_dur(s["timeout"]), RISE=s["rise"], FALL=s["fall"])
            check = subprocess.run([self.lifeline_bin, "check", "--config", os.path.join(self.dir, "lifeline.toml")],
                                   capture_output=True, text=True, timeout=60)
            if check.returncode != 0:
                raise SystemExit(f"{self.name}: lifeline check failed:\n{check.stdout}{check.stderr}")
            self.cmd = [self.lifeline_bin, "serve", "--config", os.path.join(self.dir, "lifeline.toml")]
        elif s["server"] == "gdnsd":
            for d in ("etc/zones", "run", "state"):
                os.makedirs(os.path.join(self.dir, d))
            render("zone/failover-app-gdnsd.inc", os.path.join(self.dir, "app.inc"))
            with open(os.path.join(self.dir, "etc/zones/example.test"), "w") as fh, \
                    open(os.path.join(self.dir, "app.inc")) as inc:
                fh.write(zone + inc.read())
            render("conf/failover-gdnsd.config.in", os.path.join(self.dir, "etc/config"), DIR=self.dir,
                   PORT=s["port"], WORKERS=WORKERS, CHECKPORT=s["check_port"], INTERVAL=int(s["interval"]),
                   TIMEOUT=int(s["timeout"]), FALL=s["fall"], OK=s["ok"], RISE=s["rise"])
            check = subprocess.run(["gdnsd", "-c", os.path.join(self.dir, "etc"), "checkconf"],
                                   capture_output=True, text=True, timeout=60)
            if check.returncode != 0:
                raise SystemExit(f"{self.name}: gdnsd checkconf failed:\n{check.stdout}{check.stderr}")
            self.cmd = ["gdnsd", "-c", os.path.join(self.dir, "etc"), "start"]
        elif s["server"] == "pdns":
            render("zone/failover-app-pdns.inc", os.path.join(self.dir, "app.inc"), CHECKPORT=s["check_port"])
            with open(os.path.join(self.dir, "example.test.zone"), "w") as fh, \
                    open(os.path.join(self.dir, "app.inc")) as inc:
                fh.write(zone + inc.read())
            render("conf/failover-pdns-named.conf.in", os.path.join(self.dir, "named.conf"), DIR=self.dir)
            render("conf/failover-pdns.conf.in", os.path.join(self.dir, "pdns.conf"), DIR=self.dir, PORT=s["port"],
                   WORKERS=WORKERS, INTERVAL=int(s["interval"]))
            self.cmd = ["pdns_server", f"--config-dir={self.dir}"]
        else:
            raise SystemExit(f"unknown server {s['server']}")
        # the DNS port must be free (UDP) before anything starts
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", s["port"]))
            except OSError:
                raise SystemExit(f"{self.name}: UDP port 127.0.0.1:{s['port']} is in use")

    def start_listeners(self):
        for l in self.listeners.values():
            l.start()

    def start_server(self):
        # debug: failed checks are logged too (with their error), so a false alarm can be explained
        env = dict(os.environ, LIFELINE_LOG=os.environ.get("FAILOVER_LIFELINE_LOG", "debug"))
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.dir, env=env, preexec_fn=die_with_parent)
        with open(self.pidfile, "w") as fh:
            fh.write(f"{self.proc.pid}\n")

    def wait_both(self, limit=30.0):
        t = time.monotonic()
        last = None
        while time.monotonic() - t < limit:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name}: server exited ({self.proc.returncode}); log:\n{tail(self.log)}")
            last = query_a(self.spec["port"])
            if last == BOTH:
                self.last_recover = time.monotonic()
                return time.monotonic() - t
            time.sleep(0.05)
        raise SystemExit(f"{self.name}: no {BOTH} answer within {limit} s (last {last}); log:\n{tail(self.log)}")

    def stop(self):
        for l in self.listeners.values():
            l.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                print(f"{self.name}: pid {self.proc.pid} still alive 5 s after SIGTERM, sending SIGKILL", flush=True)
                self.proc.kill()
                self.proc.wait()
            print(f"{self.name}: stopped (pid {self.proc.pid})", flush=True)
        if os.path.exists(self.pidfile):
            os.remove(self.pidfile)

    def new_log_events(self):
        """Lifeline answer changes logged since the last call: [(wall time, answer tuple)]."""
        if self.spec["server"] != "lifeline":
            return []
        with open(self.log, "rb") as fh:
            fh.seek(self.log_offset)
            data = fh.read()
        cut = data.rfind(b"\n") + 1
        self.log_offset += cut
        events = []
        for line in re.sub(r"\x1b\[[0-9;]*m", "", data[:cut].decode(errors="replace")).splitlines():
            m = re.match(r"(\S+Z)\s+INFO\s.*answer of " + re.escape(NAME) + r"\.?/A: .* -> ([0-9. ]*?) \(", line)
            if m:
                at = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                events.append((at, tuple(sorted(m.group(2).split()))))
        return events

    def trial(self, rnd, poll, limit, rng):
        s = self.spec
        row = dict(target=self.name, server=s["server"], label=s["label"], round=rnd, interval_s=s["interval"],
                   timeout_s=s["timeout"], fall=s["fall"], rise=s["rise"], poll_s=poll)
        stat0 = cpu_busy()
        # 1. settled, then a random phase of the check cycle
        jitter = rng.uniform(0, s["interval"])
        time.sleep(max(0.0, s["settle"] - (time.monotonic() - self.last_recover)) + jitter)
        row["kill_jitter_s"] = f"{jitter:.3f}"
        row["load1"] = open("/proc/loadavg").read().split()[0]
        # 2. + 3. kill, poll until the answer changes
        t0, w0, reap_ms = self.listeners[PRIMARY].kill()
        det, det_lo, ans_down = poll_until(lambda a: a != BOTH, s["port"], t0, poll, limit)
        # 4. hold, restart, poll until both
        time.sleep(s["hold"] + rng.uniform(0, s["interval"]))
        t1, w1 = self.listeners[PRIMARY].start()
        row["listener_start_ms"] = f"{(t1 - self.listeners[PRIMARY].spawned) * 1000:.1f}"
        row["kill_utc"], row["restart_utc"] = utc_ms(w0), utc_ms(w1)
        rec, rec_lo, ans_up = poll_until(lambda a: a == BOTH, s["port"], t1, poll, limit)
        self.last_recover = time.monotonic()
        f = lambda x: "timeout" if x is None else f"{x:.4f}"
        row.update(detect_s=f(det), detect_lo_s=f"{det_lo:.4f}", answer_after_kill=" ".join(ans_down or ()) or "-",
                   recover_s=f(rec), recover_lo_s=f"{rec_lo:.4f}", answer_after_restart=" ".join(ans_up or ()) or "-",
                   kill_reap_ms=f"{reap_ms:.2f}")
        # Lifeline: its own log of the answer changes
        row.update(srv_detect_s="-", srv_recover_s="-", srv_changes="-", bound_s="-", within_bound="-",
                   srv_false_down="-")
        if s["server"] == "lifeline":
            time.sleep(0.05)                       # let the log line reach the file
            ev = self.new_log_events()
            down = [at for at, a in ev if at >= w0 and a != BOTH]
            up = [at for at, a in ev if at >= w1 and a == BOTH]
            row["srv_detect_s"] = f"{down[0] - w0:.4f}" if down else "none"
            row["srv_recover_s"] = f"{up[0] - w1:.4f}" if up else "none"
            row["srv_changes"] = len(ev)
            # answer changes away from both while both listeners were up (before the kill, or after
            # the recovery): false alarms
            back = up[0] if up else float("inf")
            row["srv_false_down"] = sum(1 for at, a in ev if a != BOTH and (at < w0 or at > back))
            bound = s["interval"] * s["fall"] + s["timeout"] + BOUND_SLACK
            row["bound_s"] = f"{bound:.3f}"
            row["within_bound"] = "yes" if det is not None and det <= bound else "NO"
        row["busy_cores"] = f"{cpu_busy(stat0):.2f}"
        return row


def utc_ms(wall):
    return datetime.datetime.fromtimestamp(wall, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def cpu_busy(before=None):
    """Without argument: a /proc/stat sample. With one: cores busy (all processes) since it."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    sample = (time.monotonic(), sum(v) - v[3] - v[4], os.sysconf("SC_CLK_TCK"))
    if before is None:
        return sample
    return (sample[1] - before[1]) / sample[2] / max(1e-6, sample[0] - before[0])


def tail(path, n=20):
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])
    except OSError:
        return "(no log)"


def write_row(row):
    os.makedirs(RESULTS, exist_ok=True)
    new = not os.path.exists(TSV)
    with open(TSV, "a") as fh:
        if new:
            fh.write("\t".join(COLUMNS) + "\n")
        fh.write("\t".join(str(row.get(c, "-")) for c in COLUMNS) + "\n")


def cmd_run(args):
    names = args.targets.split(",") if args.targets else list(TARGETS)
    for n in names:
        if n not in TARGETS:
            raise SystemExit(f"unknown target {n} (known: {', '.join(TARGETS)})")
    run_id = args.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    rng = random.Random(seed)
    os.makedirs(WORK, exist_ok=True)
    lifeline_bin, lifeline_desc = None, None
    if any(TARGETS[n]["server"] == "lifeline" for n in names):
        src = os.environ.get("LIFELINE_BIN", os.path.join(PROJECT, "target", "release", "lifeline"))
        if not os.access(src, os.X_OK):
            raise SystemExit(f"no lifeline executable at {src}: cargo build --release (or LIFELINE_BIN=...)")
        # a private copy, so that a rebuild during the run does not change what is measured
        lifeline_bin = os.path.join(WORK, "lifeline")
        shutil.copy2(src, lifeline_bin)
        with open(lifeline_bin, "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        version = subprocess.run([lifeline_bin, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        built = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(lifeline_bin).st_mtime))
        lifeline_desc = f"{version}, copied from {src} (built {built}), sha256 {sha}"
    if os.path.exists(TSV):
        with open(TSV) as fh:
            if fh.readline().rstrip("\n").split("\t") != COLUMNS:
                raise SystemExit(f"{TSV} has other columns than this script writes: move it away first")
    targets = [Target(n, dict(TARGETS[n]), lifeline_bin) for n in names]
    for t in targets:
        if args.rounds:
            t.spec["rounds"] = args.rounds
    print(f"run {run_id}: seed {seed}, poll {args.poll * 1000:g} ms, targets "
          + ", ".join(f"{t.name} x{t.spec['rounds']}" for t in targets), flush=True)
    raw = os.path.join(RESULTS, "raw", f"failover-{run_id}")
    os.makedirs(raw, exist_ok=True)
    if lifeline_bin:
        print(f"lifeline measured: {lifeline_desc}", flush=True)
        with open(os.path.join(raw, "lifeline-binary.txt"), "w") as fh:
            fh.write(lifeline_desc + "\n")
    try:
        for t in targets:
            t.prepare()
        # listeners first, so that every server's first check round sees both up
        for t in targets:
            t.start_listeners()
        for t in targets:
            t.start_server()
            print(f"{t.name}: pid {t.proc.pid}, 127.0.0.1:{t.spec['port']}, checks on :{t.spec['check_port']}"
                  f" - {t.spec['label']}", flush=True)
        for t in targets:
            print(f"{t.name}: both-up answer after {t.wait_both():.2f} s", flush=True)
            t.new_log_events()                     # skip start-up events
        time.sleep(max(t.spec["settle"] for t in targets))
        rnd = 0
        while any(t.done < t.spec["rounds"] for t in targets):
            rnd += 1
            order = [t for t in targets if t.done < t.spec["rounds"]]
            rng.shuffle(order)
            for t in order:
                if t.proc.poll() is not None:
                    raise SystemExit(f"{t.name}: server exited ({t.proc.returncode}); log:\n{tail(t.log)}")
                row = t.trial(t.done + 1, args.poll, args.limit, rng)
                t.done += 1
                row.update(run_id=run_id, utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                write_row(row)
                extra = ""
                if t.spec["server"] == "lifeline":
                    extra = (f" srv_detect={row['srv_detect_s']} srv_recover={row['srv_recover_s']}"
                             f" changes={row['srv_changes']} within_bound={row['within_bound']}")
                print(f"[{t.name} {row['round']:>2}] detect={row['detect_s']} (lo {row['detect_lo_s']})"
                      f" -> {row['answer_after_kill']}  recover={row['recover_s']} (lo {row['recover_lo_s']})"
                      f" -> {row['answer_after_restart']}{extra} load1={row['load1']} busy={row['busy_cores']}",
                      flush=True)
    finally:
        for t in targets:
            t.stop()
            if os.path.exists(t.log):
                shutil.copy2(t.log, os.path.join(raw, f"{t.name}.log"))
    print(f"rows: {TSV} (run_id {run_id}); server logs: {raw}/", flush=True)


# ---------------------------------------------------------------------------------------------
# summary

def pct(xs, p):
    """Percentile by linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats(xs):
    if not xs:
        return "-", "-", "-", "-", "-"
    return tuple(f"{v:.3f}" for v in (min(xs), sum(xs) / len(xs), pct(xs, 50), pct(xs, 90), max(xs)))


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def cmd_summary(args):
    tsv = args.tsv or TSV
    with open(tsv) as fh:
        header = fh.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, l.rstrip("\n").split("\t"))) for l in fh if l.strip()]
    for r in rows:                     # rows of runs before a column was added
        for c in COLUMNS:
            r.setdefault(c, "-")
    if not args.all:
        run = args.run or rows[-1]["run_id"]
        rows = [r for r in rows if r["run_id"] == run]
        print(f"run {run} ({len(rows)} trials, {rows[0]['utc']} .. {rows[-1]['utc']})\n")
    groups = {}
    for r in rows:
        groups.setdefault((r["target"], r["label"], r["poll_s"]), []).append(r)
    order = sorted(groups, key=lambda k: (list(TARGETS).index(k[0]) if k[0] in TARGETS else 99, k))

    def table(title, col, lo_col):
        print(f"#### {title}\n")
        print("| setting | trials | poll ms | min | mean | p50 | p90 | max | timeouts | mean bracket ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for k in order:
            g = groups[k]
            xs = [num(r[col]) for r in g if num(r[col]) is not None]
            br = [num(r[col]) - num(r[lo_col]) for r in g if num(r[col]) is not None]
            tmo = sum(1 for r in g if r[col] == "timeout")
            mn, mean, p50, p90, mx = stats(xs)
            bracket = f"{1000 * sum(br) / len(br):.1f}" if br else "-"
            print(f"| {k[1]} | {len(g)} | {float(k[2]) * 1000:g} | {mn} | {mean} | {p50} | {p90} | {mx} | {tmo} | {bracket} |")
        print()

    table("Detect: primary killed -> answer without it (s)", "detect_s", "detect_lo_s")
    table("Recover: primary listening again -> answer with both (s)", "recover_s", "recover_lo_s")
    life = [k for k in order if groups[k][0]["server"] == "lifeline"]
    if life:
        print("#### Lifeline: bound check and the server's own timing (s)\n")
        print("| setting | bound = interval x fall + timeout + 50 ms | trials over the bound (client-seen) "
              "| over the bound (server log) | server-log detect min / mean / p50 / p90 / max "
              "| server-log recover min / mean / p50 / p90 / max | extra answer changes |")
        print("| --- | ---: | ---: | ---: | --- | --- | ---: |")
        for k in life:
            g = groups[k]
            bound = num(g[0]["bound_s"])
            over = sum(1 for r in g if r["within_bound"] != "yes")
            sd = [num(r["srv_detect_s"]) for r in g if num(r["srv_detect_s"]) is not None]
            sr = [num(r["srv_recover_s"]) for r in g if num(r["srv_recover_s"]) is not None]
            over_srv = sum(1 for x in sd if x > bound) + sum(1 for r in g if num(r["srv_detect_s"]) is None)
            extra = sum(int(r["srv_changes"]) - 2 for r in g if r["srv_changes"].isdigit())
            rec = [int(r["srv_false_down"]) for r in g if r["srv_false_down"].isdigit()]
            if len(rec) == len(g):
                extra = f"{extra} ({sum(rec)} false down)"
            elif rec:
                extra = f"{extra} ({sum(rec)} false down in the {len(rec)} trials that record it)"
            print(f"| {k[1]} | {bound:.3f} | {over} of {len(g)} | {over_srv} of {len(g)} | {' / '.join(stats(sd))} "
                  f"| {' / '.join(stats(sr))} | {extra} |")
        print()
        for k in life:
            g = groups[k]
            if abs(num(g[0]["interval_s"]) - 0.1) < 1e-9:
                xs = [num(r["detect_s"]) for r in g if num(r["detect_s"]) is not None]
                mean = sum(xs) / len(xs) if xs else float("nan")
                verdict = "met" if xs and len(xs) == len(g) and mean < 0.3 else "NOT met"
                print(f"- goal (interval 100 ms: mean detect < 0.3 s): {verdict}, mean {mean:.3f} s over {len(g)} trials")
        for k in life:
            for r in groups[k]:
                if r["within_bound"] != "yes":
                    print(f"- over the bound: {k[0]} round {r['round']}: detect {r['detect_s']} s "
                          f"(lo {r['detect_lo_s']}), server log {r['srv_detect_s']} s, load1 {r['load1']}, "
                          f"busy {r['busy_cores']} cores, kill_reap {r['kill_reap_ms']} ms, kill at {r.get('kill_utc', '-')}")
        for k in life:
            for r in groups[k]:
                if r["srv_changes"].isdigit() and int(r["srv_changes"]) != 2:
                    print(f"- {r['srv_changes']} answer changes in the log during {k[0]} round {r['round']} (2 expected; "
                          f"{r.get('srv_false_down', '-')} away from both while both were listening), "
                          f"kill at {r.get('kill_utc', '-')}, restart at {r.get('restart_utc', '-')}")
    loads = [num(r["load1"]) for r in rows if num(r["load1"]) is not None]
    busy = [num(r["busy_cores"]) for r in rows if num(r["busy_cores"]) is not None]
    if loads:
        print(f"\nmachine during the trials: load1 {min(loads):.2f}..{max(loads):.2f} (mean {sum(loads) / len(loads):.2f}); "
              f"all-process CPU busy per trial {min(busy):.2f}..{max(busy):.2f} cores (mean {sum(busy) / len(busy):.2f}) "
              f"of {os.cpu_count()}")


def cmd_list(_args):
    for n, s in TARGETS.items():
        print(f"{n:16} port {s['port']}, checks :{s['check_port']}, {s['rounds']} trials, settle {s['settle']} s, "
              f"hold {s['hold']} s, jitter 0..{s['interval']} s - {s['label']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the trials")
    r.add_argument("--targets", help="comma-separated subset of: " + ", ".join(TARGETS))
    r.add_argument("--rounds", type=int, help="trials per target (default: per target, see `list`)")
    r.add_argument("--poll", type=float, default=0.005, help="seconds between queries while waiting (default 0.005)")
    r.add_argument("--limit", type=float, default=30.0, help="longest wait for one change, s (default 30)")
    r.add_argument("--run-id", help="default: UTC start time")
    r.add_argument("--seed", type=int, help="random seed for jitter and order (default: random, printed)")
    s = sub.add_parser("summary", help="Markdown tables from results/failover.tsv")
    s.add_argument("--run", help="run id (default: the last run in the file)")
    s.add_argument("--all", action="store_true", help="every run together, grouped by setting")
    s.add_argument("--tsv", help=f"default {TSV}")
    sub.add_parser("list", help="the targets")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    {"run": cmd_run, "summary": cmd_summary, "list": cmd_list}[args.cmd](args)


if __name__ == "__main__":
    main()
