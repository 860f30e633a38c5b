#!/usr/bin/env bash
# Conformance checks of Lifeline against independent tools, with Knot DNS on the same zone
# for comparison:
#
#   1. named-checkzone on examples/example.test.zone;
#   2. dnsviz probe -A -E + dnsviz grok, in a network namespace of our own;
#   3. bench/compliance.py (ISC genreport's checks plus a few more) on loopback.
#
# Usage (as root: it creates a network namespace):
#   cargo build --release && bench/conformance.sh
# Output: $OUT (default /tmp/lifeline-conformance): probe/grok JSON, compliance
# output, server logs; a summary on stdout. Exit status 0 whatever the findings.
#
# Needs: dnsviz (pip), dnspython, knotd/knotc (Debian knot), named-checkzone
# (Debian bind9-utils), iproute2, python3.
#
# Where the traffic goes. dnsviz will not query 127/8 or ::1 (it treats them as "no
# connectivity": dnsviz/analysis/online.py _require_connectivity_ipv4, LOOPBACK_IPV4_RE),
# so step 2 runs inside a network namespace made here, whose only interfaces are lo and
# a veth pair with both ends inside it. It carries 192.0.2.53, .54, .101, .102 and
# 2001:db8::53, ::54, ::102 (documentation ranges) and has no other route, so nothing
# it sends can leave it. The zone is a copy in $OUT with the NS and glue addresses
# moved to those addresses, and sub.example.test is served as a child zone on .101/.102
# so that dnsviz can follow the delegation. Step 1 also runs in the namespace: in its
# default "full" mode named-checkzone resolves delegation NS names with getaddrinfo()
# (to compare glue with the child), which would otherwise ask the system resolver.
# Step 3 uses 127.0.0.1 only. The namespace is deleted and every server started here
# is stopped (by PID) on exit.
set -uo pipefail

MAIN="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${LIFELINE_BIN:-$MAIN/target/release/lifeline}"
OUT="${OUT:-/tmp/lifeline-conformance}"
NS="${NETNS:-llconf$$}"
PORT_LIFELINE="${PORT_LIFELINE:-5391}"
PORT_KNOT="${PORT_KNOT:-5392}"
ZONE_SRC="$MAIN/examples/example.test.zone"

[ -x "$BIN" ] || { echo "no $BIN: cargo build --release first" >&2; exit 2; }
for tool in dnsviz knotd knotc named-checkzone ip python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (ip netns)" >&2; exit 2; }

rm -rf "$OUT"; mkdir -p "$OUT"
PIDS=()
NS_MADE=0

stop_pid() {  # stop_pid PID: SIGTERM, wait for it to go
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  echo "pid $pid did not stop on SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null
}
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
}
cleanup() {
  stop_all
  [ "$NS_MADE" = 1 ] && ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_answer() {  # wait_answer NETNS|- ADDR PORT ZONE : until ZONE's SOA is answered (10 s)
  local pre=() i
  [ "$1" != - ] && pre=(ip netns exec "$1")
  for i in $(seq 1 50); do
    "${pre[@]}" dig +short +norec +time=1 +tries=1 -p "$3" @"$2" "$4" SOA 2>/dev/null \
      | grep -q hostmaster && return 0
    sleep 0.2
  done
  echo "no answer from $2 port $3 for $4" >&2; return 1
}

knot_conf() {  # knot_conf DIR ZONE ZONEFILE LISTEN... : a minimal knotd config in DIR
  local dir="$1" zone="$2" zonefile="$3"; shift 3
  mkdir -p "$dir/db"; cp "$zonefile" "$dir/$zone.zone"
  {
    echo "server:"
    echo "    rundir: \"$dir\""
    echo "    pidfile: \"$dir/knotd.pid\""
    local l; for l in "$@"; do echo "    listen: $l"; done
    cat <<EOF
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$dir/knot.sock"
database:
    storage: "$dir/db"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: on
zone:
  - domain: $zone
    file: "$zone.zone"
EOF
  } > "$dir/knot.conf"
  knotc -c "$dir/knot.conf" conf-check >/dev/null
}

# --- zone copies --------------------------------------------------------------------------
# Namespace copy: NS and glue addresses moved into the namespace.
sed -e 's/^ns1     IN A    127.0.0.53/ns1     IN A    192.0.2.53/' \
    -e 's/^ns1     IN AAAA ::1/ns1     IN AAAA 2001:db8::53/' \
    -e 's/^ns2     IN A    127.0.0.54/ns2     IN A    192.0.2.54/' \
    -e 's/^ns1.sub IN A    127.0.0.101/ns1.sub IN A    192.0.2.101/' \
    -e 's/^ns2.sub IN A    127.0.0.102/ns2.sub IN A    192.0.2.102/' \
    -e 's/^ns2.sub IN AAAA fd00::102/ns2.sub IN AAAA 2001:db8::102/' \
    "$ZONE_SRC" > "$OUT/ns-example.test.zone"
if [ "$(diff "$ZONE_SRC" "$OUT/ns-example.test.zone" | grep -c '^>')" != 6 ]; then
  echo "examples/example.test.zone changed: the glue rewrite no longer matches" >&2; exit 2
fi
cat > "$OUT/ns-sub.example.test.zone" <<'EOF'
$ORIGIN sub.example.test.
$TTL 300
@       IN SOA  ns1.sub.example.test. hostmaster.example.test. 1 3600 600 604800 60
        IN NS   ns1.sub.example.test.
        IN NS   ns2.sub.example.test.
ns1     IN A    192.0.2.101
ns2     IN A    192.0.2.102
ns2     IN AAAA 2001:db8::102
www     IN A    127.0.0.103
EOF
# Loopback copy for the compliance checks: the example zone plus one large TXT RRset
# (8 x 203-octet strings, 1765 octets in all) for the truncation tests.
{
  cat "$ZONE_SRC"
  for i in 1 2 3 4 5 6 7 8; do
    printf 'big     IN TXT  "%s-%s"\n' "$i" "$(printf 'x%.0s' $(seq 1 200))"
  done
} > "$OUT/loop-example.test.zone"

# --- namespace ----------------------------------------------------------------------------
ip netns add "$NS" && NS_MADE=1
ip -n "$NS" link set lo up
ip -n "$NS" link add v0 type veth peer name v1
for a in 192.0.2.53 192.0.2.54 192.0.2.101 192.0.2.102; do ip -n "$NS" addr add "$a/24" dev v0; done
for a in 2001:db8::53 2001:db8::54 2001:db8::102; do ip -n "$NS" addr add "$a/64" dev v0 nodad; done
ip -n "$NS" link set v0 up; ip -n "$NS" link set v1 up
ip -n "$NS" -4 route > "$OUT/netns-routes.txt"; ip -n "$NS" -6 route >> "$OUT/netns-routes.txt"

# --- 1. named-checkzone -------------------------------------------------------------------
echo "== 1. named-checkzone"
for mode in full local; do
  echo "\$ named-checkzone -i $mode example.test examples/example.test.zone   (in netns)"
  ip netns exec "$NS" named-checkzone -i "$mode" example.test "$ZONE_SRC" 2>&1 \
    | tee "$OUT/named-checkzone-$mode.txt"
  echo "exit ${PIPESTATUS[0]}"
done

# --- 2. dnsviz ----------------------------------------------------------------------------
SERVERS='ns1.example.test=192.0.2.53,ns1.example.test=[2001:db8::53],ns2.example.test=192.0.2.54'
NAMES="example.test www.example.test cdn.example.test static.example.test x.apps.example.test
  _sip._udp.example.test sip.example.test _dmarc.example.test host1.lab.example.test
  1.1.0.127.in-addr.example.test private.example.test nx.example.test sub.example.test
  www.sub.example.test ns1.example.test"
# mail.example.test (the MX target) is probed on its own: grok 0.11.2 crashes
# (TypeError in _populate_inconsistent_negative_dnssec_responses) when an MX target in
# the same zone is part of the same input as the zone.

start_lifeline_ns() {
  ip netns exec "$NS" "$BIN" serve --listen 192.0.2.53:53 --listen 192.0.2.54:53 \
    --listen '[2001:db8::53]:53' --zone "example.test=$OUT/ns-example.test.zone" \
    > "$OUT/lifeline-ns.log" 2>&1 &
  PIDS+=($!)
  ip netns exec "$NS" "$BIN" serve --listen 192.0.2.101:53 --listen 192.0.2.102:53 \
    --listen '[2001:db8::102]:53' --zone "sub.example.test=$OUT/ns-sub.example.test.zone" \
    > "$OUT/lifeline-ns-child.log" 2>&1 &
  PIDS+=($!)
}
start_knot_ns() {
  knot_conf "$OUT/knot-ns" example.test "$OUT/ns-example.test.zone" \
    192.0.2.53@53 192.0.2.54@53 2001:db8::53@53
  knot_conf "$OUT/knot-ns-child" sub.example.test "$OUT/ns-sub.example.test.zone" \
    192.0.2.101@53 192.0.2.102@53 2001:db8::102@53
  ip netns exec "$NS" knotd -c "$OUT/knot-ns/knot.conf" > "$OUT/knot-ns.log" 2>&1 &
  PIDS+=($!)
  ip netns exec "$NS" knotd -c "$OUT/knot-ns-child/knot.conf" > "$OUT/knot-ns-child.log" 2>&1 &
  PIDS+=($!)
}

grok_findings() {  # grok_findings FILE... : every error and warning in grok's JSON
  python3 - "$@" <<'EOF'
import json, sys
def walk(node, path, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("errors", "warnings") and isinstance(v, list):
                for item in v:
                    desc = item.get("description", item) if isinstance(item, dict) else item
                    code = item.get("code", "") if isinstance(item, dict) else ""
                    servers = item.get("servers", []) if isinstance(item, dict) else []
                    out.append("%s %s [%s] %s %s" % (k[:-1].upper(), "/".join(path), code, desc,
                                                     ",".join(servers)))
            else:
                walk(v, path + [k], out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, path + [str(i)], out)
out = []
for f in sys.argv[1:]:
    walk(json.load(open(f)), [], out)
print("\n".join(out) if out else "no errors, no warnings")
EOF
}

echo
echo "== 2. dnsviz (namespace $NS)"
for server in lifeline knot; do
  "start_${server}_ns"
  wait_answer "$NS" 192.0.2.53 53 example.test && \
    wait_answer "$NS" 192.0.2.101 53 sub.example.test || exit 1
  # shellcheck disable=SC2086
  ip netns exec "$NS" dnsviz probe -A -E -x "example.test:$SERVERS" -N "example.test:$SERVERS" \
    -p -o "$OUT/$server-probe.json" $NAMES 2> "$OUT/$server-probe.log"
  ip netns exec "$NS" dnsviz probe -A -E -x "example.test:$SERVERS" -N "example.test:$SERVERS" \
    -p -o "$OUT/$server-probe-mx.json" mail.example.test 2>> "$OUT/$server-probe.log"
  for suffix in "" -mx; do
    dnsviz grok -r "$OUT/$server-probe$suffix.json" -o "$OUT/$server-grok$suffix.json"
    dnsviz grok -l warning -r "$OUT/$server-probe$suffix.json" \
      -o "$OUT/$server-grok-warning$suffix.json"
  done
  echo "-- $server: dnsviz grok errors and warnings"
  grok_findings "$OUT/$server-grok.json" "$OUT/$server-grok-mx.json"
  stop_all
done
ip netns del "$NS" && NS_MADE=0

# --- 3. compliance (loopback) ---------------------------------------------------------------
echo
echo "== 3. bench/compliance.py (127.0.0.1)"
"$BIN" serve --listen "127.0.0.1:$PORT_LIFELINE" \
  --zone "example.test=$OUT/loop-example.test.zone" > "$OUT/lifeline-loop.log" 2>&1 &
PIDS+=($!)
knot_conf "$OUT/knot-loop" example.test "$OUT/loop-example.test.zone" "127.0.0.1@$PORT_KNOT"
knotd -c "$OUT/knot-loop/knot.conf" > "$OUT/knot-loop.log" 2>&1 &
PIDS+=($!)
wait_answer - 127.0.0.1 "$PORT_LIFELINE" example.test && \
  wait_answer - 127.0.0.1 "$PORT_KNOT" example.test || exit 1
for server in lifeline knot; do
  port=PORT_${server^^}
  python3 "$MAIN/bench/compliance.py" --server 127.0.0.1 --port "${!port}" --zone example.test \
    --big big.example.test --label "$server" --verbose > "$OUT/$server-compliance.txt"
  echo "-- $server: failures ($(tail -n 1 "$OUT/$server-compliance.txt"))"
  grep '^FAIL' "$OUT/$server-compliance.txt" || echo "none"
  python3 "$MAIN/bench/compliance.py" --server 127.0.0.1 --port "${!port}" --zone example.test \
    --groups edns,full,comm,type --tcp --label "$server" --verbose \
    > "$OUT/$server-compliance-tcp.txt"
  echo "-- $server: failures, genreport's queries over TCP ($(tail -n 1 "$OUT/$server-compliance-tcp.txt"))"
  grep '^FAIL' "$OUT/$server-compliance-tcp.txt" || echo "none"
done
stop_all
echo
echo "files in $OUT"
