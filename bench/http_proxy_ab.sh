#!/usr/bin/env bash
# Two builds of the agent side by side as HTTP proxies (one upstream, the
# same non-streamed chat requests as bench/http_proxy_bench.sh), for
# telling whether a change made the HTTP plane cheaper: both run at once,
# wrk drives them in turns (A then B in odd rounds, B then A in even ones),
# and each run prints its rate and the agent's CPU time per request (user
# and system, from /proc around the run). The medians close the output.
# Only a comparison within one run means anything on a noisy machine.
#
# usage: bench/http_proxy_ab.sh A_AGENT B_AGENT [--rounds N] [--seconds N]
#                               [--connections N]
#        (A_YAML / B_YAML: extra agent config lines for each, e.g.
#        "pin_network_threads: false"; needs nginx and wrk: ./dev.sh bench)
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
A_BIN=$1 B_BIN=$2
shift 2
ROUNDS=8
SECONDS_PER_RUN=5
CONNECTIONS=32
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/http_proxy_common.sh
. "$ROOT/bench/http_proxy_common.sh"
GREYLANE_AGENT=$A_BIN proxy_tools wrk
for bin in "$A_BIN" "$B_BIN"; do [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 1; }; done
proxy_workdir greylane-proxy-ab

UP=$(free_port)
nginx_conf upstream 1 "
  server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$PROXY_ANSWER'; } }"
proxy_wait_nginx "$UP"

# Starts build $2 as agent $1 (A or B); sets PID_$1 and HTTP_$1.
start() {
  local dir=$TMP/$1 extra=$3
  proxy_agent_files "$dir" "ab-$1" "http://127.0.0.1:$UP/v1" "http://127.0.0.1:$UP/v1" \
    "network_threads: 2
$extra"
  proxy_start_agent "$dir" "$2"
  eval "PID_$1=$AGENT_PID HTTP_$1=$AGENT_HTTP"
}
start A "$A_BIN" "${A_YAML:-}"
start B "$B_BIN" "${B_YAML:-}"
proxy_chat_lua "$TMP/chat.lua"
TICKS_PER_SECOND=$(getconf CLK_TCK)

# One wrk run against agent $1: "name req/s user_us system_us" per request.
run() {
  local pid http u0 s0 u1 s1 rps
  eval "pid=\$PID_$1 http=\$HTTP_$1"
  read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
  rps=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$TMP/chat.lua" "http://$http" |
    awk '/Requests\/sec/ { print $2 }')
  read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
  awk -v n="$1" -v r="$rps" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$TICKS_PER_SECOND" \
    -v t="$SECONDS_PER_RUN" 'BEGIN { q = r * t; printf "%s %.0f %.3f %.3f\n", n, r, u / hz * 1e6 / q, s / hz * 1e6 / q }'
}

echo "A: $A_BIN"
echo "B: $B_BIN"
echo "$ROUNDS rounds x 2 runs of ${SECONDS_PER_RUN} s, wrk -t2 -c$CONNECTIONS, $(nproc) cores"
for who in A B; do  # warm-up: connections pooled, pages touched
  eval "wrk -t2 -c$CONNECTIONS -d2s -s $TMP/chat.lua http://\$HTTP_$who" >/dev/null
done
printf '%-6s %-5s %10s %12s %12s\n' round build req/s user_us/req sys_us/req
: > "$TMP/results"
for round in $(seq "$ROUNDS"); do
  order="A B"
  [ $((round % 2)) -eq 0 ] && order="B A"
  for who in $order; do
    line=$(run "$who")
    echo "$line" >> "$TMP/results"
    echo "$line" | awk -v r="$round" '{ printf "%-6s %-5s %10s %12s %12s\n", r, $1, $2, $3, $4 }'
  done
done
echo
echo "medians:"
for who in A B; do
  awk -v w="$who" '$1 == w { r[++n] = $2; u[n] = $3; s[n] = $4; t[n] = $3 + $4 }
    function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x } return a[int((n + 1) / 2)] }
    END { printf "  %s  %8.0f req/s  CPU %6.2f us/req (user %5.2f, system %5.2f)\n", w, med(r, n), med(t, n), med(u, n), med(s, n) }' "$TMP/results"
done
