#!/usr/bin/env bash
# Instructions per query on the answer path (user space only), measured with
# callgrind: runs benches/hotpath.rs with R1 and R2 rounds of the query mix
# and divides the difference in instructions by the difference in queries,
# so start-up and zone loading cancel out. Repeatable to the instruction.
#   bench/callgrind.sh [R1] [R2]        (default 2000 4000)
set -euo pipefail
cd "$(dirname "$0")/.."
R1="${1:-2000}"; R2="${2:-4000}"
cargo bench --bench hotpath --no-run 2>/dev/null
BIN=$(ls -t target/release/deps/hotpath-* | grep -v '\.d$' | head -1)
QUERIES=$(grep -c ' ' bench/queries.txt)
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" 2>&1 >/dev/null | awk '/Collected/ {print $4}'
}
I1=$(ir "$R1"); I2=$(ir "$R2")
echo "rounds $R1: $I1 instructions; rounds $R2: $I2 instructions; $QUERIES queries per round"
awk -v a="$I1" -v b="$I2" -v r1="$R1" -v r2="$R2" -v q="$QUERIES" \
  'BEGIN { printf "instructions per query: %.1f\n", (b - a) / ((r2 - r1) * q) }'
