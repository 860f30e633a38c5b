# lib.sh: shared by the bench scripts (source it, do not run it).
# Starts and stops the servers under test, each on its own loopback port, with WORKERS UDP workers.
# Runtime files (rendered configs, zone copies, logs, pid files) live under $WORK.
# Every server started through start_server is recorded and stopped by its pid (stop_started).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_DIR="$(cd "$BENCH_DIR/.." && pwd)"
WORK="${LIFELINE_BENCH_WORK:-/tmp/lifeline-bench}"
RESULTS="${LIFELINE_BENCH_RESULTS:-$BENCH_DIR/results}"
WORKERS="${WORKERS:-2}"
LIFELINE_BIN="${LIFELINE_BIN:-$PROJECT_DIR/target/release/lifeline}"
ALL_SERVERS=(ceiling knot lifeline nsd gdnsd)
mkdir -p "$WORK"

# Default ports (override one with e.g. PORT_KNOT=5411).
declare -A DEFAULT_PORT=([lifeline]=5310 [knot]=5311 [nsd]=5312 [gdnsd]=5313 [ceiling]=5319)
port_of() {  # port_of NAME
  local var="PORT_${1^^}"
  echo "${!var:-${DEFAULT_PORT[$1]}}"
}

# render TEMPLATE OUT key=value...   (replaces every @key@ in TEMPLATE)
render() {
  local tpl="$1" out="$2" kv expr=()
  shift 2
  for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${expr[@]}" "$tpl" > "$out"
}

# port_free PORT: fail if anything listens on UDP or TCP PORT already
port_free() {
  if ss -Hlun "sport = :$1" | grep -q . || ss -Hltn "sport = :$1" | grep -q .; then
    echo "port $1 is already in use:" >&2
    ss -lunp "sport = :$1" >&2
    return 1
  fi
}

# descendants PID: PID and all its live descendants, one per line
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { todo[1] = root; n = 1
          while (n > 0) { p = todo[n--]; print p
                          k = split(kids[p], a, " "); for (i = 1; i <= k; i++) todo[++n] = a[i] } }'
}

# wait_answer NAME PORT QNAME QTYPE PATTERN TIMEOUT_S: poll 127.0.0.1:PORT every 50 ms until the
# answer section (kdig +short) has a line matching PATTERN (grep -E). Fails at once if the process
# recorded for NAME exits, and after TIMEOUT_S seconds.
wait_answer() {
  local name="$1" port="$2" qname="$3" qtype="$4" pat="$5" limit="$6" pid deadline
  pid="$(cat "$WORK/$name.pid")"
  deadline=$(( $(date +%s%N) + limit * 1000000000 ))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    if kdig +short +time=1 +retry=0 @127.0.0.1 -p "$port" "$qname" "$qtype" 2>/dev/null | grep -Eq -- "$pat"; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name (pid $pid) exited before answering $qname $qtype on port $port; last log lines:" >&2
      tail -n 20 "$WORK/$name/server.log" >&2 2>/dev/null
      return 1
    fi
    sleep 0.05
  done
  echo "$name did not answer $qname $qtype /$pat/ on 127.0.0.1:$port within ${limit} s; last log lines:" >&2
  tail -n 20 "$WORK/$name/server.log" >&2 2>/dev/null
  return 1
}

# preflight NAME...: check that what is needed to run these servers is installed, before starting any
preflight() {
  local n cmd missing=0
  for cmd in kdig dnsperf python3 ss bc; do
    command -v "$cmd" >/dev/null || { echo "missing command: $cmd" >&2; missing=1; }
  done
  for n in "$@"; do
    case "$n" in
      knot) cmd=knotd ;; nsd) cmd=nsd ;; gdnsd) cmd=gdnsd ;; ceiling) cmd=gcc ;;
      lifeline)
        if [ ! -x "$LIFELINE_BIN" ]; then
          echo "lifeline: no executable at $LIFELINE_BIN. Build it first (cargo build --release in $PROJECT_DIR)," >&2
          echo "          set LIFELINE_BIN=/path/to/lifeline, or leave lifeline out (SERVERS=\"ceiling knot nsd gdnsd\", BIG_SERVERS=knot)" >&2
          missing=1
        fi
        continue ;;
      *) echo "unknown server '$n' (known: ${ALL_SERVERS[*]})" >&2; missing=1; continue ;;
    esac
    command -v "$cmd" >/dev/null || { echo "$n: missing command $cmd" >&2; missing=1; }
  done
  return $missing
}

# wait_quiet: wait (at most WAIT_QUIET s, default 20; 0 = do not wait) until the machine is quiet,
# i.e. less than 15 % of one core busy over one second (from /proc/stat). Measures anyway after that.
wait_quiet() {
  local waited=0 b0 b1 limit="${WAIT_QUIET:-20}"
  while [ "$waited" -lt "$limit" ]; do
    b0="$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)"; sleep 1
    b1="$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)"
    [ $((b1 - b0)) -lt $(( $(getconf CLK_TCK) * 15 / 100 )) ] && break
    waited=$((waited + 1))
  done
  if [ "$waited" -ge "$limit" ] && [ "$limit" -gt 0 ]; then
    echo "  (waited ${waited} s for other load on the machine to stop; it did not, measuring anyway)"
  elif [ "$waited" -gt 0 ]; then
    echo "  (waited ${waited} s for other load on the machine to stop)"
  fi
}

STARTED=()   # names started by this shell, stopped by stop_started

# launch NAME CMD...: run CMD in the background (log -> $WORK/NAME/server.log), record its pid
launch() {
  local name="$1"; shift
  "$@" >"$WORK/$name/server.log" 2>&1 &
  echo $! > "$WORK/$name.pid"
  STARTED+=("$name")
}

# start_server NAME [ZONE ZONEFILE PORT]: prepare and start one server, do not wait for it.
# ZONE/ZONEFILE default to example.test and bench/zone/example.test.zone, PORT to port_of NAME.
# The ceiling has no zone (it answers every query with A 127.0.0.1).
start_server() {
  local name="$1" zone="${2:-example.test}" zonefile="${3:-$BENCH_DIR/zone/example.test.zone}"
  local port="${4:-$(port_of "$1")}" dir="$WORK/$1"
  zonefile="$(realpath "$zonefile")"
  case "$name" in
    lifeline)
      if [ ! -x "$LIFELINE_BIN" ]; then
        echo "lifeline: no executable at $LIFELINE_BIN. Build it first (cargo build --release in $PROJECT_DIR)," >&2
        echo "          set LIFELINE_BIN=/path/to/lifeline, or leave lifeline out (SERVERS=\"ceiling knot nsd gdnsd\", BIG_SERVERS=knot)" >&2
        return 1
      fi ;;
    ceiling|knot|nsd|gdnsd) ;;
    *) echo "unknown server '$name' (known: ${ALL_SERVERS[*]})" >&2; return 1 ;;
  esac
  if [ -f "$WORK/$name.pid" ] && kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$WORK/$name.pid")); stop it first: bench/server.sh stop $name" >&2
    return 1
  fi
  port_free "$port" || return 1
  rm -rf "$dir"; mkdir -p "$dir"
  case "$name" in
    lifeline)
      launch lifeline "$LIFELINE_BIN" serve --listen "127.0.0.1:$port" --zone "$zone=$zonefile" \
        --udp-threads "$WORKERS" ;;
    knot)
      mkdir -p "$dir/db"
      render "$BENCH_DIR/conf/knot.conf.in" "$dir/knot.conf" DIR="$dir" PORT="$port" WORKERS="$WORKERS" \
        ZONE="$zone" ZONEFILE="$zonefile"
      knotc -c "$dir/knot.conf" conf-check >"$dir/conf-check.log" 2>&1 || { cat "$dir/conf-check.log" >&2; return 1; }
      launch knot knotd -c "$dir/knot.conf" ;;
    nsd)
      render "$BENCH_DIR/conf/nsd.conf.in" "$dir/nsd.conf" DIR="$dir" PORT="$port" WORKERS="$WORKERS" \
        ZONE="$zone" ZONEFILE="$zonefile"
      nsd-checkconf "$dir/nsd.conf" || return 1
      # -d: stay in the foreground; it still forks (xfrd, main, server-count servers): CPU and
      # stopping go by the whole process tree of the recorded pid.
      launch nsd nsd -d -c "$dir/nsd.conf" ;;
    gdnsd)
      mkdir -p "$dir/etc/zones" "$dir/run" "$dir/state"
      ln -s "$zonefile" "$dir/etc/zones/$zone"
      render "$BENCH_DIR/conf/gdnsd.config.in" "$dir/etc/config" DIR="$dir" PORT="$port" WORKERS="$WORKERS"
      gdnsd -c "$dir/etc" checkconf >"$dir/checkconf.log" 2>&1 || { cat "$dir/checkconf.log" >&2; return 1; }
      launch gdnsd gdnsd -c "$dir/etc" start ;;
    ceiling)
      build_ceiling || return 1
      launch ceiling "$WORK/udp-ceiling" -a 127.0.0.1 -p "$port" -t "$WORKERS" ;;
  esac
}

# build_ceiling: compile ceiling/udp-ceiling.c into $WORK/udp-ceiling if missing or older than the source
build_ceiling() {
  local src="$BENCH_DIR/ceiling/udp-ceiling.c" bin="$WORK/udp-ceiling"
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
    gcc -O2 -pthread -Wall -Wextra -o "$bin" "$src" || { echo "could not build $bin" >&2; return 1; }
  fi
}

# start_and_wait NAME: start NAME on the benchmark zone and wait (15 s at most) until it answers
start_and_wait() {
  local name="$1" port
  port="$(port_of "$name")"
  start_server "$name" || return 1
  if [ "$name" = ceiling ]; then
    wait_answer ceiling "$port" example.test A '^127\.0\.0\.1$' 15 || return 1
  else
    wait_answer "$name" "$port" example.test SOA hostmaster 15 || return 1
  fi
  echo "$name: pid $(cat "$WORK/$name.pid"), 127.0.0.1:$port, $WORKERS UDP workers"
}

# stop_server NAME: SIGTERM the recorded pid, wait up to 5 s for it and its descendants to exit,
# then SIGKILL whatever is left of that process tree (by pid). Silent if NAME is not running.
stop_server() {
  local name="$1" f="$WORK/$1.pid" pid tree p i alive
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    tree="$(descendants "$pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do   # up to 5 s for the whole tree to exit
      alive=0; for p in $tree; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break; sleep 0.1
    done
    for p in $tree; do
      if kill -0 "$p" 2>/dev/null; then echo "$name: pid $p still alive after SIGTERM, sending SIGKILL" >&2; kill -KILL "$p" 2>/dev/null || true; fi
    done
    wait "$pid" 2>/dev/null || true   # reaps it if this shell started it
    echo "$name: stopped (pid $pid)"
  fi
  rm -f "$f"
}

# stop_started: stop every server this shell started (for trap ... EXIT)
stop_started() {
  local n
  for n in "${STARTED[@]}"; do stop_server "$n"; done
  STARTED=()
}

# lifeline_rev: commit of the project checkout ("+dirty" if src/ or Cargo files have local changes)
lifeline_rev() {
  local rev dirty=""
  rev="$(git -C "$PROJECT_DIR" rev-parse --short HEAD 2>/dev/null)" || rev="no-commit"
  [ -n "$(git -C "$PROJECT_DIR" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ] && dirty="+dirty"
  echo "$rev$dirty"
}

# describe_environment: machine, kernel, versions, load (for results/raw/RUN_ID/environment.txt)
describe_environment() {
  echo "date (UTC):   $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host:         $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel:       $(uname -sr)"
  echo "OS:           $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "UDP workers:  $WORKERS"
  echo "packages:     $(dpkg-query -W -f '${Package} ${Version}, ' knot nsd gdnsd dnsperf knot-dnsutils 2>/dev/null | sed 's/, $//')"
  echo "gcc:          $(gcc -dumpfullversion 2>/dev/null)"
  echo "lifeline:     rev $(lifeline_rev), binary $LIFELINE_BIN"
  if [ -x "$LIFELINE_BIN" ]; then
    echo "              on disk: built $(date -u -r "$LIFELINE_BIN" +%Y-%m-%dT%H:%M:%SZ), sha256 $(sha256sum "$LIFELINE_BIN" | cut -c1-16), '$(timeout 5 "$LIFELINE_BIN" --version 2>&1 | head -n 1)'"
  else
    echo "              (binary missing)"
  fi
  if [ -f "$WORK/lifeline.pid" ] && kill -0 "$(cat "$WORK/lifeline.pid")" 2>/dev/null; then
    echo "              running (pid $(cat "$WORK/lifeline.pid")): sha256 $(exe_sha "$(cat "$WORK/lifeline.pid")")"
  fi
}

# exe_sha PID: first 16 hex digits of the sha256 of the executable PID is running (even if the
# file on disk has been replaced since it started)
exe_sha() { sha256sum "/proc/$1/exe" 2>/dev/null | cut -c1-16; }
