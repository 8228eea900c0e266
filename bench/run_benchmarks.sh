#!/usr/bin/env bash
# Runs every data-plane benchmark side by side on this machine and prints
# the figures. usage: bench/run_benchmarks.sh BUILD_DIR [--seconds N] [--rounds N]
#
# Each comparison alternates its two targets (A B A B ...) and reports the
# median of the rounds, so drift on a noisy machine hits both alike.
# The client (greylane-load, closed loop) shares the cores with the servers.
set -euo pipefail
BUILD=${1:?usage: run_benchmarks.sh BUILD_DIR [--seconds N] [--rounds N]}
shift
RUN_SECONDS=5
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) RUN_SECONDS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODELS=$ROOT/resources/models
TMP=$(mktemp -d -t greylane-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "a server did not start; see $TMP" >&2; exit 1
}
field() { sed -n "s/^$2=//p" "$1"; }

# Control-plane tokens for the agents (the split benchmark is an operator).
BENCH_TOKEN=glt_bench_$(date +%s%N)
echo "operator bench $BENCH_TOKEN" > "$TMP/tokens.client"
echo "$(printf '%s' "$BENCH_TOKEN" | sha256sum | cut -d' ' -f1) bench operator" > "$TMP/tokens"

# The reference: a bare callback server computing digits v1.
"$BUILD/bench/greylane-bench-reference" --model "$MODELS/digits-v1.glm" --ready-file "$TMP/ref.ready" > "$TMP/ref.log" 2>&1 &
PIDS+=($!)
wait_ready "$TMP/ref.ready"
REF=$(field "$TMP/ref.ready" data)

# The agent with the same model in both slots at 50 %: every request is
# routed, measured and split, and both sides compute exactly what the reference does.
cat > "$TMP/agent.yaml" <<YAML
agent_id: bench-agent
model: digits
control_listen: 127.0.0.1:0
data_listen: 127.0.0.1:0
initial_candidate_basis_points: 5000
state_dir: $TMP/agent-state
tokens_file: $TMP/tokens
baseline: {version: v1, backend: builtin, model_file: $MODELS/digits-v1.glm}
candidate: {version: v1-copy, backend: builtin, model_file: $MODELS/digits-v1.glm}
YAML
"$BUILD/agent/greylane-agent" --config "$TMP/agent.yaml" --ready-file "$TMP/agent.ready" > "$TMP/agent.log" 2>&1 &
PIDS+=($!)
wait_ready "$TMP/agent.ready"
AGENT=$(field "$TMP/agent.ready" data)
AGENT_CONTROL=$(field "$TMP/agent.ready" control)

# The agent as a proxy: both slots forward to the reference over oip-grpc.
cat > "$TMP/proxy.yaml" <<YAML
agent_id: bench-proxy
model: digits
control_listen: 127.0.0.1:0
data_listen: 127.0.0.1:0
initial_candidate_basis_points: 5000
state_dir: $TMP/proxy-state
tokens_file: $TMP/tokens
baseline: {version: up-a, backend: oip-grpc, address: "$REF", upstream_model: digits, deadline_ms: 5000, connections: 2}
candidate: {version: up-b, backend: oip-grpc, address: "$REF", upstream_model: digits, deadline_ms: 5000, connections: 2}
YAML
"$BUILD/agent/greylane-agent" --config "$TMP/proxy.yaml" --ready-file "$TMP/proxy.ready" > "$TMP/proxy.log" 2>&1 &
PIDS+=($!)
wait_ready "$TMP/proxy.ready"
PROXY=$(field "$TMP/proxy.ready" data)

load() {  # target concurrency -> "ok_per_s p50_ms p99_ms"
  local json
  json=$("$BUILD/agent/greylane-load" --target "$1" --concurrency "$2" --duration "$RUN_SECONDS" \
           --connections 2 --users 1000 --quiet --json | tail -1)
  local get; get() { echo "$json" | grep -o "\"$1\":[-0-9.e+]*" | cut -d: -f2; }
  echo "$(get ok_per_s) $(get p50_ms) $(get p99_ms)"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

compare() {  # name target_a target_b concurrency
  local name=$1 a=$2 b=$3 c=$4
  : > "$TMP/$name.a"; : > "$TMP/$name.b"
  load "$a" "$c" > /dev/null  # warm-up: connections, caches
  load "$b" "$c" > /dev/null
  for _ in $(seq "$ROUNDS"); do
    load "$a" "$c" >> "$TMP/$name.a"
    load "$b" "$c" >> "$TMP/$name.b"
  done
  for side in a b; do
    for col in 1 2 3; do
      awk -v c=$col '{print $c}' "$TMP/$name.$side" | median > "$TMP/$name.$side.$col"
    done
  done
}
m() { cat "$TMP/$1.$2.$3"; }

echo "greylane benchmarks — $(nproc) cores, ${RUN_SECONDS}s per run, median of $ROUNDS alternating rounds"
echo "machine: $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo

compare thr "$REF" "$AGENT" 64
compare lat "$REF" "$AGENT" 1
compare pthr "$REF" "$PROXY" 64
compare plat "$REF" "$PROXY" 1

awk -v r="$(m thr a 1)" -v g="$(m thr b 1)" 'BEGIN {
  printf "Throughput at 64 in flight (builtin digits v1):\n"
  printf "  reference server  %8.0f inferences/s\n  greylane-agent    %8.0f inferences/s   = %.1f %% of the reference\n\n", r, g, 100*g/r }'
awk -v r50="$(m lat a 2)" -v r99="$(m lat a 3)" -v g50="$(m lat b 2)" -v g99="$(m lat b 3)" 'BEGIN {
  printf "Latency at 1 in flight (client side):\n"
  printf "  reference server  p50 %6.1f us   p99 %6.1f us\n", r50*1000, r99*1000
  printf "  greylane-agent    p50 %6.1f us   p99 %6.1f us\n", g50*1000, g99*1000
  printf "  added by the agent: p50 %+.1f us  p99 %+.1f us\n\n", (g50-r50)*1000, (g99-r99)*1000 }'
awk -v r="$(m pthr a 1)" -v g="$(m pthr b 1)" -v r50="$(m plat a 2)" -v r99="$(m plat a 3)" \
    -v g50="$(m plat b 2)" -v g99="$(m plat b 3)" 'BEGIN {
  printf "oip-grpc upstream path (agent in front of the reference vs the reference direct):\n"
  printf "  64 in flight: direct %.0f/s, through the agent %.0f/s = %.1f %% of direct\n", r, g, 100*g/r
  printf "  1 in flight:  added p50 %+.1f us, p99 %+.1f us (direct p50 %.1f us, p99 %.1f us)\n\n", (g50-r50)*1000, (g99-r99)*1000, r50*1000, r99*1000 }'

echo "Split change (SetSplit then one sticky request, 1000 flips between 0 and 100 %):"
"$BUILD/bench/greylane-bench-split" --control "$AGENT_CONTROL" --data "$AGENT" --flips 1000 --token-file "$TMP/tokens.client" | sed 's/^/  /'
echo
echo "Rollback with the durable audit write (SQLite WAL, synchronous FULL):"
"$BUILD/bench/greylane-bench-rollback" --control "$AGENT_CONTROL" --token-file "$TMP/tokens.client" --count 500 --label idle | sed 's/^/  /'
for LOAD in "--rps 5000" "--concurrency 32"; do
  # shellcheck disable=SC2086
  "$BUILD/agent/greylane-load" --target "$AGENT" $LOAD --duration 60 --quiet > /dev/null 2>&1 &
  LOAD_PID=$!
  sleep 1
  "$BUILD/bench/greylane-bench-rollback" --control "$AGENT_CONTROL" --token-file "$TMP/tokens.client" \
    --count 500 --label "data plane under load: greylane-load $LOAD" | sed 's/^/  /'
  kill $LOAD_PID 2>/dev/null || true
  wait $LOAD_PID 2>/dev/null || true
done
echo
"$BUILD/bench/greylane-bench-record" 20000000 | sed 's/^/  /;1s/^  //'
echo
echo "HTTP data plane (OpenAI API) as a proxy, against nginx split_clients to the same upstreams:"
GREYLANE_AGENT="$BUILD/agent/greylane-agent" "$ROOT/bench/http_proxy_bench.sh" --seconds "$RUN_SECONDS" \
  --rounds "$ROUNDS" | sed 's/^/  /'
echo
"$BUILD/bench/greylane-bench-relay" --streams 128 --concurrent 64 | sed 's/^/  /;1s/^  //'
echo
echo "raw runs and server logs: $TMP"
trap - EXIT
cleanup
