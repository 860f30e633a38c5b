#!/usr/bin/env bash
# measure.sh NAME MODE SECONDS [ROUND] [RUN_ID]
# One dnsperf run against the running server NAME (started by server.sh or throughput.sh) on
# 127.0.0.1:PORT with the mixed query file, plus the CPU its whole process tree used meanwhile
# (utime and stime separately), dnsperf's own CPU, the CPU of all other processes and steal time.
#   MODE max  : dnsperf -c 8 -T 1 -q 100 -l SECONDS                (as fast as it goes)
#   MODE fixed: dnsperf -c 8 -T 1 -q 100 -l SECONDS -Q $RATE      (RATE default 20000 QPS)
# Appends one row to $RESULTS/throughput.tsv (TSV= to write elsewhere), keeps dnsperf's output in
# $RESULTS/raw/RUN_ID/. ROUND defaults to 1, RUN_ID to "manual-<UTC time>".
# Before starting dnsperf it waits up to WAIT_QUIET s (default 20) for other load on the machine
# to stop; what other processes used during the run anyway is in the row (other_cpu_s).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NAME="$1"; MODE="$2"; SECS="$3"; ROUND="${4:-1}"; RUN_ID="${5:-manual-$(date -u +%Y%m%dT%H%M%SZ)}"
PORT="$(port_of "$NAME")"
RATE="${RATE:-20000}"
TSV="${TSV:-$RESULTS/throughput.tsv}"
case "$MODE" in
  max)   OPTS="-c 8 -T 1 -q 100" ;;
  fixed) OPTS="-c 8 -T 1 -q 100 -Q $RATE" ;;
  *) echo "MODE must be max or fixed" >&2; exit 2 ;;
esac
PIDFILE="$WORK/$NAME.pid"
if ! { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }; then
  echo "$NAME is not running (no live pid in $PIDFILE); start it with bench/server.sh start $NAME" >&2
  exit 1
fi
PID="$(cat "$PIDFILE")"
RAWDIR="$RESULTS/raw/$RUN_ID"; mkdir -p "$RAWDIR"
RAW="$RAWDIR/$NAME-$MODE-r$ROUND.txt"
wait_quiet

cd "$BENCH_DIR"   # dnsperf prints its command line: keep the query file path relative
cmd=(dnsperf -s 127.0.0.1 -p "$PORT" -d queries.txt -l "$SECS" $OPTS)
echo "# ${cmd[*]}" > "$RAW"

cpu0="$("$BENCH_DIR/cpu_snapshot.py" "$PID")"; t0="$(date +%s.%N)"
TIMEFORMAT='%U %S'
rc=0
# dnsperf stops itself after SECS; timeout is only a guard against a hung run
{ time timeout -k 5 $((SECS + 30)) "${cmd[@]}" >>"$RAW" 2>&1 ; } 2>"$RAW.time" || rc=$?
t1="$(date +%s.%N)"; cpu1="$("$BENCH_DIR/cpu_snapshot.py" "$PID")"
perf_cpu="$(tail -n 1 "$RAW.time")"; rm -f "$RAW.time"
if [ "$rc" != 0 ] || ! grep -q 'Queries per second' "$RAW"; then
  echo "dnsperf against $NAME failed (exit $rc); output in $RAW:" >&2
  tail -n 15 "$RAW" >&2
  exit 1
fi
python3 "$BENCH_DIR/record.py" --tsv "$TSV" --raw "$RAW" --run-id "$RUN_ID" --round "$ROUND" \
  --mode "$MODE" --server "$NAME" --port "$PORT" --workers "$WORKERS" --secs "$SECS" --opts "$OPTS" \
  --wall "$(echo "$t1 - $t0" | bc -l)" --cpu0 "$cpu0" --cpu1 "$cpu1" --dnsperf-cpu "$perf_cpu"
