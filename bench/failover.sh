#!/usr/bin/env bash
# failover.sh [failover.py run options]: failover timing of Lifeline, gdnsd and PowerDNS (LUA records)
# in one run, then the Markdown tables of the run.
#   bench/failover.sh                                  # all targets, default trials: ~15 minutes
#   bench/failover.sh --targets lifeline-100ms --rounds 20
#   bench/failover.py list                             # targets and their settings
# Needs: python3, gdnsd, pdns_server (pdns-server + pdns-backend-bind), target/release/lifeline
# (LIFELINE_BIN= for another). Everything on 127.0.0.0/8: DNS ports 5330-5334, TCP check listeners
# on 127.0.0.1 and 127.0.0.2, ports 18330-18334. Rows: results/failover.tsv; server logs and the
# environment: results/raw/failover-RUN_ID/. Every process is started by failover.py and stopped by
# its pid when it ends (also on Ctrl-C / SIGTERM: this script then stops failover.py by its pid).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

missing=0
for cmd in python3 gdnsd pdns_server; do
  command -v "$cmd" >/dev/null || { echo "missing command: $cmd (apt-get install -y gdnsd pdns-server pdns-backend-bind)" >&2; missing=1; }
done
if [ ! -x "$LIFELINE_BIN" ]; then
  echo "no lifeline executable at $LIFELINE_BIN: cargo build --release in $PROJECT_DIR (or LIFELINE_BIN=...)" >&2
  missing=1
fi
[ "$missing" = 0 ] || exit 1

RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$RESULTS/raw/failover-$RUN_ID"
mkdir -p "$RAW"
{
  describe_environment
  echo "peers:        $(dpkg-query -W -f '${Package} ${Version}, ' gdnsd pdns-server pdns-backend-bind 2>/dev/null | sed 's/, $//')"
  echo "python:       $(python3 --version 2>&1)"
  echo "top CPU users at start:"
  ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -n 8
} > "$RAW/environment.txt"

export LIFELINE_BIN
python3 "$BENCH_DIR/failover.py" run --run-id "$RUN_ID" "$@" &
PY=$!
# Stop failover.py (by pid) if this script ends first; failover.py stops what it started.
trap 'if kill -0 "$PY" 2>/dev/null; then kill -TERM "$PY"; wait "$PY" || true; fi' EXIT
trap 'exit 130' INT TERM
rc=0; wait "$PY" || rc=$?
[ "$rc" = 0 ] || { echo "failover.py failed ($rc)" >&2; exit "$rc"; }
python3 "$BENCH_DIR/failover.py" summary --run "$RUN_ID" | tee "$RAW/summary.md"
echo "summary: $RAW/summary.md"
