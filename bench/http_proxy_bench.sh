#!/usr/bin/env bash
# The HTTP data plane as a proxy, against nginx doing the same weighted
# split (split_clients on x-user-id, 5 % to v2) to the same two upstreams,
# with the same worker count (the agent's network threads), driven by wrk
# with the same non-streamed chat requests. The upstreams are an nginx
# answering a fixed OpenAI chat completion, so what is measured is the
# proxy. Rounds alternate direct / nginx / greylane; medians are printed,
# and "added" is a proxy's latency minus the direct one of the same round.
# Ratios only mean something within one run: this machine is noisy.
#
# Two phases per round: throughput with --connections (32) kept busy, and
# added latency with --latency-connections (2), where nothing queues and
# the difference to direct is the proxy's own time per request.
#
# Each proxy runs with its own default CPU placement: nginx's workers are
# not pinned; the agent's loops are (pin_network_threads: auto) when, as
# here, there are no more cores than loops. --pin pins both (nginx's
# worker_cpu_affinity auto), --no-pin neither. On a machine this small, wrk
# and the upstream share the proxy's cores, and unpinned the scheduler may
# put two of a proxy's workers on one core, where they take turns of a
# whole 4 ms tick: that is what the p99 then shows.
#
# usage: bench/http_proxy_bench.sh [--seconds N] [--rounds N] [--connections N]
#                                  [--latency-connections N] [--pin | --no-pin]
#        (needs build/agent/greylane-agent, nginx and wrk: ./dev.sh bench)
set -euo pipefail
SECONDS_PER_RUN=8
ROUNDS=3
CONNECTIONS=32
LATENCY_CONNECTIONS=2
PIN=default
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --latency-connections) LATENCY_CONNECTIONS=$2; shift 2 ;;
    --pin) PIN=yes; shift ;;
    --no-pin) PIN=no; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/http_proxy_common.sh
. "$ROOT/bench/http_proxy_common.sh"
proxy_tools wrk
proxy_workdir greylane-proxy-bench
# The agent runs its HTTP plane on this many threads; nginx gets as many workers.
WORKERS=$(nproc); [ "$WORKERS" -lt 2 ] && WORKERS=2; [ "$WORKERS" -gt 8 ] && WORKERS=8

UP1=$(free_port); UP2=$(free_port); NGX=$(free_port)

# The upstreams: one nginx worker answering every version, as a model
# server would (the same work behind both proxies).
nginx_conf upstream 1 "
  server { listen 127.0.0.1:$UP1; location / { default_type application/json; return 200 '$PROXY_ANSWER'; } }
  server { listen 127.0.0.1:$UP2; location / { default_type application/json; return 200 '$PROXY_ANSWER'; } }"

nginx_conf proxy "$WORKERS" "
  split_clients \"\${http_x_user_id}\" \$version { 5% v2; * v1; }
  upstream v1 { server 127.0.0.1:$UP1; keepalive 64; }
  upstream v2 { server 127.0.0.1:$UP2; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://\$version;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_buffering off;
      add_header x-greylane-version \$version;
    }
  }" "$([ "$PIN" = yes ] && echo 'worker_cpu_affinity auto;')"

proxy_agent_files "$TMP/agent" bench-http "http://127.0.0.1:$UP1/v1" "http://127.0.0.1:$UP2/v1" \
  "network_threads: $WORKERS
pin_network_threads: $(case $PIN in yes) echo true ;; no) echo false ;; *) echo auto ;; esac)"
"$AGENT" --config "$TMP/agent/agent.yaml" --ready-file "$TMP/agent/ready" >"$TMP/agent/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/agent/ready" ] && break; sleep 0.1; done
[ -s "$TMP/agent/ready" ] || { cat "$TMP/agent/log" >&2; exit 1; }
AGENT_HTTP=$(sed -n 's/^http=//p' "$TMP/agent/ready")
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$NGX/v1/models" 2>/dev/null && break
  sleep 0.1
done

proxy_chat_lua "$TMP/chat.lua"

# wrk's "Requests/sec", p50 and p99 in ms.
measure() {  # url connections
  wrk -t2 -c"$2" -d"${SECONDS_PER_RUN}s" --latency -s "$TMP/chat.lua" "$1" 2>&1 |
    awk '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
      /Requests\/sec/ { rps = $2 }
      /^ +50%/ { p50 = ms($2) }
      /^ +99%/ { p99 = ms($2) }
      /Non-2xx/ { bad = $NF }
      END { printf "%s %s %s %s\n", rps, p50, p99, bad + 0 }'
}

echo "HTTP proxy benchmark: $ROUNDS rounds x ${SECONDS_PER_RUN} s per run, wrk -t2, $WORKERS proxy workers/threads (pinned: $PIN), $(nproc) cores"
grep -h "network thread" "$TMP/agent/log" | sed 's/^ */agent: /' 
printf '%-6s %-10s %-9s %10s %9s %9s %11s %11s %6s\n' round phase target req/s p50_ms p99_ms added_p50 added_p99 non2xx
: > "$TMP/results"
for round in $(seq "$ROUNDS"); do
  for phase in throughput latency; do
    c=$CONNECTIONS
    [ "$phase" = latency ] && c=$LATENCY_CONNECTIONS
    read -r d_rps d_p50 d_p99 d_bad < <(measure "http://127.0.0.1:$UP1" "$c")
    printf '%-6s %-10s %-9s %10.0f %9.3f %9.3f %11s %11s %6s\n' "$round" "$phase/$c" direct "$d_rps" "$d_p50" "$d_p99" - - "$d_bad"
    for target in nginx greylane; do
      url="http://127.0.0.1:$NGX"
      [ "$target" = greylane ] && url="http://$AGENT_HTTP"
      read -r rps p50 p99 bad < <(measure "$url" "$c")
      a50=$(awk -v a="$p50" -v b="$d_p50" 'BEGIN { printf "%.3f", a - b }')
      a99=$(awk -v a="$p99" -v b="$d_p99" 'BEGIN { printf "%.3f", a - b }')
      printf '%-6s %-10s %-9s %10.0f %9.3f %9.3f %11s %11s %6s\n' "$round" "$phase/$c" "$target" "$rps" "$p50" "$p99" "$a50" "$a99" "$bad"
      echo "$phase $target $rps $p50 $p99 $a50 $a99" >> "$TMP/results"
    done
  done
done
echo
echo "medians over the rounds:"
for phase in throughput latency; do
  for target in nginx greylane; do
    awk -v p="$phase" -v t="$target" '$1 == p && $2 == t' "$TMP/results" |
      awk -v p="$phase" -v t="$target" '
        { rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; a50[NR] = $6; a99[NR] = $7 }
        function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x } return a[int((n + 1) / 2)] }
        END { printf "  %-10s %-9s %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  added p50 %7.3f ms  added p99 %7.3f ms\n", p, t, med(rps, NR), med(p50, NR), med(p99, NR), med(a50, NR), med(a99, NR) }'
  done
done
# The split greylane made, as a check that it did the work asked.
metrics=$(curl -s "http://$AGENT_HTTP/metrics")
v1=$(echo "$metrics" | awk '/^greylane_requests_total\{.*version="v1"/ { print $2 }')
v2=$(echo "$metrics" | awk '/^greylane_requests_total\{.*version="v2"/ { print $2 }')
echo "greylane routed v1 ${v1:-?} / v2 ${v2:-?} requests (5 % target)"
