#!/usr/bin/env bash
# server.sh start NAME... : start servers on the benchmark zone, wait until each answers, leave them running
# server.sh stop NAME...|all : stop them (by the pid recorded in /tmp/lifeline-bench/NAME.pid)
# NAME: ceiling knot lifeline nsd gdnsd. WORKERS= sets the UDP workers (default 2).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
action="${1:-}"; shift || true
case "$action" in
  start) for n in "$@"; do start_and_wait "$n"; done ;;
  stop)  names=("$@"); [ "${1:-all}" = all ] && names=("${ALL_SERVERS[@]}")
         for n in "${names[@]}"; do stop_server "$n"; done ;;
  *) echo "usage: $0 start|stop NAME... (NAME: ${ALL_SERVERS[*]}; stop also takes 'all')" >&2; exit 2 ;;
esac
