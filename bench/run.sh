#!/usr/bin/env bash
# run.sh [SECONDS] [ROUNDS]   (defaults 15 and 3)
# The whole benchmark: throughput.sh SECONDS ROUNDS (Lifeline, Knot, NSD, gdnsd and the ceiling
# responder, alternating, unlimited and fixed rate), then bigzone.sh (1,000,000-record zone: load
# time and memory, Lifeline and Knot, $BIG_ROUNDS rounds, default 2; SKIP_BIG=1 skips it), then
# prints the Markdown tables of this run (summarise.py --run RUN_ID).
# Results: results/throughput.tsv, results/bigzone.tsv, results/runs.tsv, results/raw/RUN_ID/.
# Env passed on: WORKERS (default 2), SERVERS, BIG_SERVERS, RATE, LIFELINE_BIN.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
SECS="${1:-15}"; ROUNDS="${2:-3}"
export RUN_ID="${RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
"$here/throughput.sh" "$SECS" "$ROUNDS"
[ "${SKIP_BIG:-0}" = 1 ] || "$here/bigzone.sh" "${BIG_ROUNDS:-2}"
echo
"$here/summarise.py" --run "$RUN_ID" --results "${LIFELINE_BENCH_RESULTS:-$here/results}"
