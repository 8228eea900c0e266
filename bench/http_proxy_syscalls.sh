#!/usr/bin/env bash
# System calls per proxied request, of the agent and of nginx as proxies
# (one upstream, the same non-streamed chat requests as
# bench/http_proxy_bench.sh, wrk with --connections kept busy). Counted by
# perf on the syscall tracepoints of the proxy's processes for the whole of
# a wrk run, divided by the requests wrk completed. A figure the machine's
# noise does not move, for telling whether a change to the HTTP plane saved
# a call.
#
# usage: bench/http_proxy_syscalls.sh [--seconds N] [--connections N]
#        (needs build/agent/greylane-agent, nginx, wrk and perf: ./dev.sh bench;
#        perf must be allowed to trace: run as root, or lower
#        /proc/sys/kernel/perf_event_paranoid)
set -euo pipefail
SECONDS_PER_RUN=5
CONNECTIONS=32
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/http_proxy_common.sh
. "$ROOT/bench/http_proxy_common.sh"
proxy_tools wrk perf
proxy_workdir greylane-proxy-syscalls

UP=$(free_port); NGX=$(free_port)
nginx_conf upstream 1 "
  server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$PROXY_ANSWER'; } }"
nginx_conf proxy 2 "
  upstream v1 { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX;
    location / { proxy_pass http://v1; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }
  }"
proxy_agent_files "$TMP/agent" bench-syscalls "http://127.0.0.1:$UP/v1" "http://127.0.0.1:$UP/v1" \
  "network_threads: 2"
proxy_start_agent
proxy_wait_nginx "$NGX"
proxy_chat_lua "$TMP/chat.lua"

echo "System calls per proxied request: wrk -t2 -c$CONNECTIONS for ${SECONDS_PER_RUN} s, one upstream, 2 proxy workers/loops"
for target in greylane nginx; do
  if [ "$target" = greylane ]; then
    url="http://$AGENT_HTTP"; pids=$AGENT_PID
  else
    url="http://127.0.0.1:$NGX"; pids=$(pgrep -P "$(cat "$TMP/proxy/nginx.pid")" | paste -sd,)
  fi
  wrk -t2 -c"$CONNECTIONS" -d2s -s "$TMP/chat.lua" "$url" >/dev/null  # warm-up: connections pooled
  perf stat -e 'syscalls:sys_enter_*' -p "$pids" -x, -o "$TMP/stat.$target" &
  PERF=$!
  sleep 0.5
  requests=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "$TMP/chat.lua" "$url" |
    awk '/requests in/ { print $1 }')
  kill -INT "$PERF"
  wait "$PERF" || true
  awk -F, -v n="$requests" -v t="$target" '
    $1 + 0 > 0 { name = $3; sub(/^syscalls:sys_enter_/, "", name); per = $1 / n; total += per
                 if (per >= 0.01) line[name] = per }
    END { printf "  %-9s %8d requests, %5.2f calls each:", t, n, total
          for (k in line) printf " %s %.2f", k, line[k]; printf "\n" }' "$TMP/stat.$target"
done
