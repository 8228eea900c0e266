#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: a
# figure that does not move with the machine's noise, for telling whether
# a change to the HTTP plane made it cheaper. The agent runs under
# valgrind in front of one nginx upstream (the same fixed chat answer as
# bench/http_proxy_bench.sh); wrk sends non-streamed chat requests from
# 5000 users; counting starts after a warm-up. Printed: the instructions
# of the network threads (the HTTP plane and its upstream calls) per
# request, and of the whole agent (its once-a-second ticker included,
# which depends on how many requests share a second).
#
# usage: bench/http_proxy_instructions.sh [--seconds N]
#        (needs build/agent/greylane-agent, nginx, wrk and valgrind)
set -euo pipefail
SECONDS_COUNTED=10
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_COUNTED=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/http_proxy_common.sh
. "$ROOT/bench/http_proxy_common.sh"
proxy_tools wrk valgrind
proxy_workdir greylane-proxy-instructions

UP=$(free_port)
nginx_conf upstream 1 "
  server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$PROXY_ANSWER'; } }"

proxy_agent_files "$TMP/agent" bench-instructions "http://127.0.0.1:$UP/v1" "http://127.0.0.1:$UP/v1"
valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out" \
  "$AGENT" --config "$TMP/agent/agent.yaml" --ready-file "$TMP/agent/ready" >"$TMP/agent/log" 2>&1 &
VALGRIND=$!
PIDS+=("$VALGRIND")
for _ in $(seq 600); do [ -s "$TMP/agent/ready" ] && break; sleep 0.2; done
[ -s "$TMP/agent/ready" ] || { cat "$TMP/agent/log" >&2; exit 1; }
HTTP=$(sed -n 's/^http=//p' "$TMP/agent/ready")

proxy_chat_lua "$TMP/chat.lua"
requests() { curl -s "http://$HTTP/metrics" | awk '/^greylane_requests_total\{/ { s += $2 } END { print s + 0 }'; }

wrk -t1 -c8 -d3s -s "$TMP/chat.lua" "http://$HTTP" >/dev/null  # warm-up: connections pooled
callgrind_control -z "$VALGRIND" >/dev/null 2>&1
before=$(requests)
wrk -t1 -c8 -d"${SECONDS_COUNTED}s" -s "$TMP/chat.lua" "http://$HTTP" >/dev/null
after=$(requests)
callgrind_control -d "$VALGRIND" >/dev/null 2>&1
dump=$(ls "$TMP"/callgrind.out.* | head -1)
n=$((after - before))
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
network=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null |
  awk '!found && /NetworkThreads::NetworkThreads\(\)::\{lambda\(\)#1\}> > >::_M_run/ { gsub(",", "", $1); print $1; found = 1 }')
echo "HTTP proxy instructions (callgrind, user space): $n requests counted"
awk -v n="$n" -v net="$network" -v all="$total" 'BEGIN {
  printf "  network threads  %8.0f instructions/request\n", net / n
  printf "  whole agent      %8.0f instructions/request\n", all / n }'
