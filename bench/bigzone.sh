#!/usr/bin/env bash
# bigzone.sh [ROUNDS]   (default 2)
# Load time and memory with a zone of $BIG_RECORDS (default 1,000,000) A records.
# Generates /tmp/lifeline-bench/big/big.test-N.zone once (names h0000000 .. h0999999.big.test,
# hN -> 10.(N>>16).((N>>8)&255).(N&255)), then for each round and each server in $BIG_SERVERS
# (default: lifeline knot; nsd and gdnsd also work), one at a time:
#   - wait (up to WAIT_QUIET s, default 20) for other load on the machine to stop,
#   - read the zone file once (so every server finds it in the page cache),
#   - start the server, poll 127.0.0.1:PORT every 50 ms with an A query for the LAST record until
#     the right address comes back: ready_s = time from just before the start to that answer
#     (timeout $BIG_TIMEOUT s, default 600), also checks the first record,
#   - read VmRSS / VmHWM of the server process at that moment and again $BIG_SETTLE s later
#     (default 3), the PSS summed over its process tree, and the CPU its tree used up to ready,
#   - stop it.
# Rows -> results/bigzone.tsv. Ports: lifeline 5320, knot 5321, nsd 5322, gdnsd 5323 (runtime
# files under /tmp/lifeline-bench/big/, so it does not clash with a running throughput.sh).
set -euo pipefail
export LIFELINE_BENCH_WORK="${LIFELINE_BENCH_WORK:-/tmp/lifeline-bench}/big"
source "$(dirname "$0")/lib.sh"
ROUNDS="${1:-2}"
N="${BIG_RECORDS:-1000000}"
TIMEOUT="${BIG_TIMEOUT:-600}"
SETTLE="${BIG_SETTLE:-3}"
RUN_ID="${RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
read -r -a SERVERS_BIG <<<"${BIG_SERVERS:-lifeline knot}"
declare -A BIGPORT=([lifeline]=5320 [knot]=5321 [nsd]=5322 [gdnsd]=5323)
ZONE=big.test
ZONEFILE="$WORK/$ZONE-$N.zone"
last=$((N - 1))
LASTNAME="$(printf 'h%07d.%s' "$last" "$ZONE")"
LASTADDR="10.$((last >> 16)).$(((last >> 8) & 255)).$((last & 255))"

preflight "${SERVERS_BIG[@]}" || exit 1
trap stop_started EXIT
trap 'exit 130' INT TERM

if [ ! -s "$ZONEFILE" ]; then
  echo "== generating $ZONEFILE ($N A records)"
  awk -v n="$N" -v zone="$ZONE" 'BEGIN {
    print "; " n " A records for the load-time / memory benchmark"
    print "$ORIGIN " zone "."
    print "$TTL 300"
    print "@ IN SOA ns1." zone ". hostmaster." zone ". 1 3600 600 604800 60"
    print "@ IN NS ns1." zone "."
    print "ns1 IN A 127.0.0.53"
    for (i = 0; i < n; i++)
      printf "h%07d IN A 10.%d.%d.%d\n", i, int(i / 65536), int(i / 256) % 256, i % 256
  }' > "$ZONEFILE.tmp"
  mv "$ZONEFILE.tmp" "$ZONEFILE"
fi
zone_bytes="$(stat -c %s "$ZONEFILE")"
echo "== big zone: $ZONEFILE ($N records, $zone_bytes bytes); last record $LASTNAME -> $LASTADDR"

TSV="$RESULTS/bigzone.tsv"
mkdir -p "$RESULTS"
[ -s "$TSV" ] || printf 'run_id\tutc\tround\tserver\tport\tworkers\trecords\tzone_bytes\tready_s\tload_user_s\tload_sys_s\trss_ready_kb\trss_settled_kb\thwm_kb\tpss_tree_kb\texe_sha256\n' > "$TSV"

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
pss_tree_kb() {
  local total=0 p v
  for p in $(descendants "$1"); do
    v="$(awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)" || v=0
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

for r in $(seq 1 "$ROUNDS"); do
  for s in "${SERVERS_BIG[@]}"; do
    port="${BIGPORT[$s]:?no big-zone port for $s}"
    wait_quiet
    cat "$ZONEFILE" > /dev/null
    t0="$(date +%s%N)"
    start_server "$s" "$ZONE" "$ZONEFILE" "$port" || { echo "== $s could not be started" >&2; exit 1; }
    wait_answer "$s" "$port" "$LASTNAME" A "^${LASTADDR//./\\.}\$" "$TIMEOUT" || exit 1
    t1="$(date +%s%N)"
    pid="$(cat "$WORK/$s.pid")"
    read -r lu ls _ _ < <("$BENCH_DIR/cpu_snapshot.py" "$pid")
    rss_ready="$(status_kb "$pid" VmRSS)"
    kdig +short +time=2 @127.0.0.1 -p "$port" "h0000000.$ZONE" A | grep -qx '10\.0\.0\.0' \
      || echo "WARNING: $s does not answer h0000000.$ZONE A correctly" >&2
    sleep "$SETTLE"
    rss_settled="$(status_kb "$pid" VmRSS)"; hwm="$(status_kb "$pid" VmHWM)"; pss="$(pss_tree_kb "$pid")"
    ready="$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      "$r" "$s" "$port" "$WORKERS" "$N" "$zone_bytes" "$ready" "$lu" "$ls" "$rss_ready" "$rss_settled" "$hwm" "$pss" \
      "$(exe_sha "$pid")" >> "$TSV"
    printf '  %-8s round %s: answers %s after %s s (load CPU %s u + %s s); VmRSS %s MiB at ready, %s MiB %s s later; VmHWM %s MiB; PSS(tree) %s MiB\n' \
      "$s" "$r" "$LASTNAME" "$ready" "$lu" "$ls" "$((rss_ready / 1024))" "$((rss_settled / 1024))" "$SETTLE" "$((hwm / 1024))" "$((pss / 1024))"
    stop_server "$s"
    sleep 1
  done
done
echo "== done: $TSV (run_id $RUN_ID)"
