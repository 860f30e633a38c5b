#!/usr/bin/env bash
# throughput.sh [SECONDS] [ROUNDS]   (defaults 15 and 3)
# Starts every server in $SERVERS (default: ceiling knot lifeline nsd gdnsd) on the benchmark zone,
# each with $WORKERS UDP workers (default 2), checks that they give the same answers as Knot, then
# for each round and each mode (max = unlimited rate, fixed = -Q $RATE) runs measure.sh against the
# servers one after the other (ceiling and knot first, so every row has its same-round ratios).
# All servers stay up for the whole run (idle while another one is measured) and are stopped by pid
# on exit. Rows -> results/throughput.tsv, run description -> results/runs.tsv, dnsperf output ->
# results/raw/RUN_ID/.  Env: SERVERS, WORKERS, RATE, RUN_ID, LIFELINE_BIN.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECS="${1:-15}"; ROUNDS="${2:-3}"
RUN_ID="${RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
read -r -a WANT <<<"${SERVERS:-${ALL_SERVERS[*]}}"
# measurement order: ceiling, knot, then the others in the order given
ORDER=()
for s in ceiling knot; do [[ " ${WANT[*]} " == *" $s "* ]] && ORDER+=("$s"); done
for s in "${WANT[@]}"; do [[ "$s" == ceiling || "$s" == knot ]] || ORDER+=("$s"); done
mkdir -p "$RESULTS/raw/$RUN_ID"
ENVFILE="$RESULTS/raw/$RUN_ID/environment.txt"

preflight "${ORDER[@]}" || exit 1
trap stop_started EXIT
trap 'exit 130' INT TERM

echo "== throughput run $RUN_ID: ${ORDER[*]}; $WORKERS UDP workers each; $ROUNDS round(s) x (max, fixed ${RATE:-20000} QPS) x ${SECS} s"
t_start="$(date -u +%Y-%m-%dT%H:%M:%SZ)"; rev="$(lifeline_rev)"
for s in "${ORDER[@]}"; do
  start_and_wait "$s" || { echo "== $s could not be started; nothing measured" >&2; exit 1; }
done

if [[ " ${ORDER[*]} " == *" knot "* ]]; then
  echo "== answers compared with knot"
  check="$("$BENCH_DIR/check-answers.sh" "${ORDER[@]}" 2>&1)" && check_ok=yes || check_ok=no
  echo "$check"
  [ "$check_ok" = yes ] || echo "== WARNING: some servers answer differently from knot (above); their figures are not comparable" >&2
else
  check="not compared (knot not in SERVERS)"; check_ok=unchecked
fi

describe_environment > "$ENVFILE"
{ echo; echo "answers compared with knot:"; echo "$check"; } >> "$ENVFILE"

echo "== warm-up (1 s each, not recorded)"
for s in "${ORDER[@]}"; do
  timeout -k 5 30 dnsperf -s 127.0.0.1 -p "$(port_of "$s")" -d "$BENCH_DIR/queries.txt" -l 1 -c 8 -T 1 -q 100 >/dev/null 2>&1 \
    || echo "warm-up of $s failed" >&2
done

for r in $(seq 1 "$ROUNDS"); do
  for mode in max fixed; do
    echo "== round $r/$ROUNDS, $mode"
    for s in "${ORDER[@]}"; do
      "$BENCH_DIR/measure.sh" "$s" "$mode" "$SECS" "$r" "$RUN_ID"
      sleep 1
    done
  done
done

RUNS="$RESULTS/runs.tsv"
[ -s "$RUNS" ] || printf 'run_id\tkind\tutc_start\tutc_end\tsecs\trounds\tworkers\tservers\tanswers_match_knot\tlifeline_rev\tenvironment\n' > "$RUNS"
printf '%s\tthroughput\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$t_start" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$SECS" "$ROUNDS" "$WORKERS" "${ORDER[*]}" "$check_ok" "$rev" "raw/$RUN_ID/environment.txt" >> "$RUNS"
if [ -f "$WORK/lifeline.pid" ] && [ -x "$LIFELINE_BIN" ] && \
   [ "$(exe_sha "$(cat "$WORK/lifeline.pid")")" != "$(sha256sum "$LIFELINE_BIN" | cut -c1-16)" ]; then
  echo "== note: $LIFELINE_BIN was rebuilt during the run; the figures are for the binary that was started (sha256 in environment.txt)"
fi
echo "== done: $RESULTS/throughput.tsv (run_id $RUN_ID)"
