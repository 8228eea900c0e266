#!/usr/bin/env bash
# Two greylane-agent binaries side by side on this machine, e.g. a change
# against the commit before it. Same config (the same model in both slots
# at 50 %, so every request is routed and measured), the same closed-loop
# client, alternating rounds, medians. Ratios only mean something within
# one run: this machine's speed varies by several times between days.
#
# usage: bench/compare_agents.sh AGENT_A AGENT_B LOAD_BIN [--seconds N] [--rounds N]
set -euo pipefail
A=${1:?usage: compare_agents.sh AGENT_A AGENT_B LOAD_BIN [--seconds N] [--rounds N]}
B=${2:?}
LOAD=${3:?}
shift 3
SECONDS_PER_RUN=5
ROUNDS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODELS=$ROOT/resources/models
TMP=$(mktemp -d -t greylane-compare.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
printf '%s bench operator\n' "$(printf %s bench-token | sha256sum | cut -c1-64)" > "$TMP/tokens"
chmod 600 "$TMP/tokens"

start() {  # name binary
  mkdir -p "$TMP/$1"
  cat > "$TMP/$1/agent.yaml" <<YAML
agent_id: bench-$1
model: digits
control_listen: 127.0.0.1:0
data_listen: 127.0.0.1:0
initial_candidate_basis_points: 5000
state_dir: $TMP/$1/state
tokens_file: $TMP/tokens
baseline: {version: v1, backend: builtin, model_file: $MODELS/digits-v1.glm}
candidate: {version: v1-copy, backend: builtin, model_file: $MODELS/digits-v1.glm}
YAML
  "$2" --config "$TMP/$1/agent.yaml" --ready-file "$TMP/$1/ready" > "$TMP/$1/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -f "$TMP/$1/ready" ] && break; sleep 0.1; done
  sed -n 's/^data=//p' "$TMP/$1/ready"
}
load() {  # target concurrency -> "ok/s p50_ms p99_ms"
  "$LOAD" --target "$1" --concurrency "$2" --duration "$SECONDS_PER_RUN" --users 1000 --quiet --json |
    tail -n 1 | sed -E 's/.*"ok_per_s":([0-9.e+-]+).*"p50_ms":([0-9.e+-]+).*"p99_ms":([0-9.e+-]+).*/\1 \2 \3/'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

DA=$(start a "$A")
DB=$(start b "$B")
echo "A: $A"
echo "B: $B"
for c in 64 1; do
  : > "$TMP/a.$c"; : > "$TMP/b.$c"
  load "$DA" "$c" > /dev/null
  load "$DB" "$c" > /dev/null
  for _ in $(seq "$ROUNDS"); do
    load "$DA" "$c" >> "$TMP/a.$c"
    load "$DB" "$c" >> "$TMP/b.$c"
  done
  for side in a b; do
    for col in 1 2 3; do awk -v k=$col '{print $k}' "$TMP/$side.$c" | median > "$TMP/$side.$c.$col"; done
  done
  awk -v c="$c" -v ta="$(cat "$TMP/a.$c.1")" -v tb="$(cat "$TMP/b.$c.1")" \
      -v a50="$(cat "$TMP/a.$c.2")" -v b50="$(cat "$TMP/b.$c.2")" \
      -v a99="$(cat "$TMP/a.$c.3")" -v b99="$(cat "$TMP/b.$c.3")" 'BEGIN {
    printf "%2d in flight: A %8.0f/s p50 %7.1f us p99 %7.1f us | B %8.0f/s p50 %7.1f us p99 %7.1f us | B/A throughput %.1f %%\n",
      c, ta, a50*1000, a99*1000, tb, b50*1000, b99*1000, 100*tb/ta }'
done
echo "raw runs: $TMP"
