#!/usr/bin/env bash
# scale.sh [DURATION_S]: the check engine at scale (issue 5, "Check engine at scale").
#   idle: Lifeline with the same zones and no health-checked records: dnsperf, DNS queries per CPU-second
#   http: 10,000 endpoints (5,000 records x 2), HTTP check every 1 s (timeout 500 ms)
#   tcp : the same endpoints, TCP check every 100 ms (timeout 50 ms)
# Each checked mode runs DURATION_S (default 150, at least 120) seconds. A sampler (scale.py sample)
# reads CPU, RSS, fds and sockets every 5 s and scrapes /metrics every SCRAPE_EVERY s (default 15;
# a scrape of 10,000 endpoints is ~19 MB of text, so it is kept out of the measured windows).
# In the last minute: 20 s with nothing but the checks (check CPU), then 20 s of dnsperf
# (-d queries.txt -l 20 -c 8 -T 1 -q 100) against the same server; no scrape during both windows.
# Endpoints are 127.1.x.y / 127.2.x.y on one port, answered by ONE backend (bench/backend, built with
# cargo into $WORK/backend-target) bound to 0.0.0.0, which on Linux takes every 127/8 address.
# Lag over windows: each scrape keeps the lifeline_check_lag_seconds histogram; scale.py summary
# differences two scrapes (steady state: 30 s to the quiet window; then to the end, dnsperf included)
# -> lag-windows.txt. DNS efficiency is also taken over the UDP workers' own threads (udp-N in
# /proc/PID/task) -> dns-workers.txt, next to the whole process's figure in the row.
# Results: $RESULTS/raw/scale-RUN_ID/ (samples, dnsperf output, logs), summary row per mode in
# $RESULTS/scale.tsv; bench/results/scale.md is written by hand from them.
# Ports: DNS 5330, API 5331, backend 5400 (PORT_SCALE_DNS=, PORT_SCALE_API=, PORT_SCALE_BACKEND=).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DURATION="${1:-150}"
[ "$DURATION" -ge 120 ] || { echo "DURATION must be at least 120 s" >&2; exit 2; }
MODES="${MODES:-idle http tcp}"
DNS_PORT="${PORT_SCALE_DNS:-5330}"; API_PORT="${PORT_SCALE_API:-5331}"; BPORT="${PORT_SCALE_BACKEND:-5400}"
SCRAPE_EVERY="${SCRAPE_EVERY:-15}"
RECORDS="${RECORDS:-5000}"; PER="${PER:-2}"
RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$RESULTS/raw/scale-$RUN_ID"; mkdir -p "$RAW"
TSV="$RESULTS/scale.tsv"
SW="$WORK/scale"; mkdir -p "$SW"
preflight lifeline
for p in "$DNS_PORT" "$API_PORT" "$BPORT"; do port_free "$p"; done

ulimit -n "$(ulimit -Hn)"   # 10,000 sockets: for the processes started below
echo "ulimit -n: $(ulimit -n)"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# the backend
echo "building bench/backend"
CARGO_TARGET_DIR="$WORK/backend-target" cargo build --release --offline -q \
  --manifest-path "$BENCH_DIR/backend/Cargo.toml"
BACKEND="$WORK/backend-target/release/lifeline-bench-backend"

describe_environment > "$RAW/environment.txt"
[ -f "$TSV" ] || printf 'run_id\tmode\tduration_s\tprobes\tinterval\tlag_p50_ms\tlag_p99_ms\tlag_max_ms\truns_per_s\tskipped\tin_flight_max\tcpu_checks_pct\trss_max_mb\tsockets_max\tdns_qps\tdns_cpu_s\tdns_q_per_cpu_s\tdns_q_per_cpu_s_net\tbackend_req_per_s\n' > "$TSV"

tick() { awk '{print $1 + $2}' <<<"$(python3 "$BENCH_DIR/scale.py" proc "$1")"; }   # user+sys s

udp_tick() { python3 "$BENCH_DIR/scale.py" threads "$1" udp-; }   # CPU s of the UDP workers (threads udp-N)

# dnsperf_window PID NAME: 20 s of dnsperf; prints "QPS CPU_S UDP_CPU_S" (the whole server, its UDP workers)
dnsperf_window() {
  local pid="$1" name="$2" c0 c1 u0 u1 qps
  c0="$(tick "$pid")"; u0="$(udp_tick "$pid")"
  (cd "$BENCH_DIR" && timeout -k 5 60 dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d queries.txt -l 20 -c 8 -T 1 -q 100) \
    > "$RAW/dnsperf-$name.txt" 2>&1
  c1="$(tick "$pid")"; u1="$(udp_tick "$pid")"
  qps="$(awk '/Queries per second/ {print $4}' "$RAW/dnsperf-$name.txt")"
  echo "$qps $(echo "$c1 - $c0" | bc -l) $(echo "$u1 - $u0" | bc -l)"
}

IDLE_QPCS=""
for mode in $MODES; do
  echo "== $mode"
  d="$SW/$mode"; rm -rf "$d"; mkdir -p "$d"
  case "$mode" in
    idle) python3 "$BENCH_DIR/scale.py" gen "$d" none 1s 500ms 0 0 "$BPORT" "$DNS_PORT" "$API_PORT"; interval=- ;;
    http) python3 "$BENCH_DIR/scale.py" gen "$d" http 1s 500ms "$RECORDS" "$PER" "$BPORT" "$DNS_PORT" "$API_PORT"; interval=1s ;;
    tcp)  python3 "$BENCH_DIR/scale.py" gen "$d" tcp 100ms 50ms "$RECORDS" "$PER" "$BPORT" "$DNS_PORT" "$API_PORT"; interval=100ms ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  cp "$d/lifeline.toml" "$RAW/$mode-lifeline.toml"
  bpid=""
  if [ "$mode" != idle ]; then
    "$BACKEND" "$BPORT" 4 > "$RAW/$mode-backend.log" 2>&1 & bpid=$!; PIDS+=("$bpid")
  fi
  "$LIFELINE_BIN" serve --config "$d/lifeline.toml" --udp-threads "$WORKERS" > "$RAW/$mode-server.log" 2>&1 & lpid=$!
  PIDS+=("$lpid")
  ok=0
  for _ in $(seq 1 300); do
    if kdig +short +time=1 +retry=0 @127.0.0.1 -p "$DNS_PORT" scale.test SOA 2>/dev/null | grep -q hostmaster; then ok=1; break; fi
    kill -0 "$lpid" 2>/dev/null || break; sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "lifeline did not start; log:" >&2; tail "$RAW/$mode-server.log" >&2; exit 1; }
  t0="$(date +%s.%N)"
  if [ "$mode" = idle ]; then
    sleep 2
    read -r qps dcpu ucpu < <(dnsperf_window "$lpid" idle)
    IDLE_QPCS="$(echo "$qps * 20 / $dcpu" | bc -l)"   # queries in the 20 s window / CPU-s
    IDLE_QPUCS="$(echo "$qps * 20 / $ucpu" | bc -l)"  # ... / CPU-s of the UDP workers
    echo "idle: UDP workers $ucpu CPU-s: $(printf %.0f "$IDLE_QPUCS") q per UDP-worker CPU-s" | tee -a "$RAW/dns-workers.txt"
    printf '%s\tidle\t20\t0\t-\t\t\t\t\t\t\t\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$RUN_ID" \
      "$(( $(python3 "$BENCH_DIR/scale.py" proc "$lpid" | cut -d' ' -f3) / 1024 ))" \
      "$(python3 "$BENCH_DIR/scale.py" proc "$lpid" | cut -d' ' -f4)" "$qps" "$dcpu" \
      "$(printf %.0f "$IDLE_QPCS")" "$(printf %.0f "$IDLE_QPCS")" >> "$TSV"
    echo "idle: $qps q/s, server CPU $dcpu s over 20 s: $(printf %.0f "$IDLE_QPCS") q per CPU-s"
    stop_pid "$lpid"
    continue
  fi
  # windows (s since start): base = [B, B+20), dnsperf = [B+20, B+40); no scrapes in [B-1, B+41)
  B=$((DURATION - 60))
  python3 "$BENCH_DIR/scale.py" sample "$lpid" "$API_PORT" "$DURATION" "$RAW/$mode-samples.tsv" \
    --scrape-every "$SCRAPE_EVERY" --quiet "$((B - 1))-$((B + 41))" & spid=$!; PIDS+=("$spid")
  sleep_until() { local s; s="$(echo "$t0 + $1 - $(date +%s.%N)" | bc -l)"; [ "${s:0:1}" = - ] || sleep "$s"; }
  sleep_until "$B"
  b0="$(tick "$lpid")"; r0="$(awk 'END {print $3}' "$RAW/$mode-backend.log")"; ts0="$(date +%s.%N)"
  sleep 20
  b1="$(tick "$lpid")"; r1="$(awk 'END {print $3}' "$RAW/$mode-backend.log")"; ts1="$(date +%s.%N)"
  check_rate="$(echo "($b1 - $b0) / ($ts1 - $ts0)" | bc -l)"   # CPU-s per s used by the checks alone
  read -r qps dcpu ucpu < <(dnsperf_window "$lpid" "$mode")
  qpucs="$(echo "$qps * 20 / $ucpu" | bc -l)"
  echo "$mode: UDP workers $ucpu CPU-s: $(printf %.0f "$qpucs") q per UDP-worker CPU-s (idle ${IDLE_QPUCS:-?})" \
    | tee -a "$RAW/dns-workers.txt"
  net="$(echo "$dcpu - $check_rate * 20" | bc -l)"
  wait "$spid" || true
  python3 "$BENCH_DIR/scale.py" summary "$RAW/$mode-samples.tsv" "$RAW/$mode-backend.log" "$((B - 1))" \
    > "$RAW/$mode-summary.txt"
  cat "$RAW/$mode-summary.txt"
  read -r p50 p99 pmax rps skipped infl rss socks bps w50 w99 l50 l99 < <(tail -n 1 "$RAW/$mode-summary.txt")
  echo "$mode: lag p50/p99 (ms, bucket bounds) steady $w50 / $w99; checks alone then under dnsperf $l50 / $l99" \
    | tee -a "$RAW/lag-windows.txt"
  qpcs="$(echo "$qps * 20 / $dcpu" | bc -l)"
  qpcs_net="$(echo "if ($net > 0) $qps * 20 / $net else 0" | bc -l)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%.2f\t%.0f\t%.0f\t%s\n' "$RUN_ID" "$mode" "$DURATION" \
    "$((RECORDS * PER))" "$interval" "$p50" "$p99" "$pmax" "$rps" "$skipped" "$infl" \
    "$(echo "$check_rate * 100" | bc -l)" "$rss" "$socks" "$qps" "$dcpu" "$qpcs" "$qpcs_net" "$bps" >> "$TSV"
  echo "$mode: checks alone ${check_rate} CPU-s/s; dnsperf $qps q/s, server CPU $dcpu s (net of checks $net s):" \
    "$(printf %.0f "$qpcs") q/CPU-s measured, $(printf %.0f "$qpcs_net") net; idle ${IDLE_QPCS:-?}"
  stop_pid "$lpid"; stop_pid "$bpid"
  sleep 2
done
echo "rows in $TSV, raw files in $RAW"
