#!/usr/bin/env bash
# check-answers.sh NAME... : ask every distinct question of queries.txt to each running server NAME
# and to Knot (the reference, must be running), and compare rcode, AA flag, answer and authority
# sections (records sorted; TTLs included). Differences in the additional section are listed as
# notes only (they change the response size, which throughput.tsv records as resp_bytes).
# Exit status 1 if any answer or authority section differs. The ceiling is skipped (it answers
# everything with A 127.0.0.1 on purpose).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
REF=knot
ref_port="$(port_of $REF)"

# sig PORT QNAME QTYPE: "status=... aa=... | answer and authority records, sorted"
sig() {
  local out status aa
  out="$(kdig +time=2 +retry=1 +noall +header +answer +authority @127.0.0.1 -p "$1" "$2" "$3" 2>&1)" || { echo "ERROR: no answer"; return; }
  status="$(sed -n 's/.*status: \([A-Z]*\);.*/\1/p' <<<"$out")"
  aa="$(grep -q '^;; Flags:.* aa' <<<"$out" && echo 1 || echo 0)"
  echo "status=$status aa=$aa | $(grep -v '^;;' <<<"$out" | grep . | tr -s ' \t' ' ' | sort | paste -sd ';')"
}
additional() {
  kdig +time=2 +retry=1 +noall +header @127.0.0.1 -p "$1" "$2" "$3" 2>/dev/null | sed -n 's/.*ADDITIONAL: \([0-9]*\).*/\1/p'
}

bad=0
for name in "$@"; do
  [ "$name" = "$REF" ] && continue
  [ "$name" = ceiling ] && { echo "ceiling: skipped (answers A 127.0.0.1 to everything by design)"; continue; }
  port="$(port_of "$name")"; same=0; total=0; notes=()
  while read -r qname qtype; do
    total=$((total + 1))
    a="$(sig "$port" "$qname" "$qtype")"; b="$(sig "$ref_port" "$qname" "$qtype")"
    if [ "$a" = "$b" ]; then
      same=$((same + 1))
    else
      bad=1
      echo "  $name differs from $REF for $qname $qtype:" >&2
      echo "    $name: $a" >&2
      echo "    $REF: $b" >&2
    fi
    x="$(additional "$port" "$qname" "$qtype")"; y="$(additional "$ref_port" "$qname" "$qtype")"
    [ "$x" = "$y" ] || notes+=("$qname $qtype: additional $x vs $y")
  done < <(sort -u "$BENCH_DIR/queries.txt")
  echo "$name: $same/$total distinct questions answered like $REF (rcode, AA, answer, authority)"
  for n in "${notes[@]}"; do echo "  note: $n"; done
done
exit $bad
