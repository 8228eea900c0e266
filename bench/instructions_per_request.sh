#!/usr/bin/env bash
# Instructions the agent executes per ModelInfer, counted by valgrind's
# callgrind: repeatable to a fraction of a percent whatever else the
# machine does, where wall and even CPU time on this VM drift by tens of
# percent between runs. Each binary runs twice (idle, then serving N
# requests at 8 in flight); the difference divided by N is the figure.
#
# usage: bench/instructions_per_request.sh LOAD_BIN AGENT_BIN [AGENT_BIN ...] [--requests N]
set -euo pipefail
LOAD=${1:?usage: instructions_per_request.sh LOAD_BIN AGENT_BIN [AGENT_BIN ...] [--requests N]}
shift
N=5000
AGENTS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N=$2; shift 2 ;;
    *) AGENTS+=("$1"); shift ;;
  esac
done
command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d -t greylane-instructions.XXXXXX)
printf '%s bench operator\n' "$(printf %s bench-token | sha256sum | cut -c1-64)" > "$TMP/tokens"
chmod 600 "$TMP/tokens"

run() {  # agent requests -> total instructions
  local dir; dir=$(mktemp -d -p "$TMP")
  cat > "$dir/agent.yaml" <<YAML
model: digits
control_listen: 127.0.0.1:0
data_listen: 127.0.0.1:0
initial_candidate_basis_points: 5000
state_dir: $dir/state
tokens_file: $TMP/tokens
baseline: {version: v1, backend: builtin, model_file: $ROOT/resources/models/digits-v1.glm}
candidate: {version: v1-copy, backend: builtin, model_file: $ROOT/resources/models/digits-v1.glm}
YAML
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$1" --config "$dir/agent.yaml" \
    --ready-file "$dir/ready" > "$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do [ -f "$dir/ready" ] && break; sleep 0.2; done
  if [ "$2" -gt 0 ]; then
    "$LOAD" --target "$(sed -n 's/^data=//p' "$dir/ready")" --concurrency 8 --requests "$2" \
      --duration 600 --quiet > /dev/null
  else
    sleep 8
  fi
  kill -TERM "$pid"
  wait "$pid" 2> /dev/null || true
  grep -m1 '^summary\|^totals' "$dir/callgrind.out" | awk '{print $2}'
}

for agent in "${AGENTS[@]}"; do
  idle=$(run "$agent" 0)
  busy=$(run "$agent" "$N")
  echo "$agent: $(( (busy - idle) / N )) instructions per request ($N requests; idle run $idle, busy run $busy)"
done
