#!/usr/bin/env bash
# The HTTP data plane as a proxy, against nginx doing the same weighted
# split (split_clients on x-user-id, 5 % to v2) to the same two upstreams,
# with the same worker count (the agent's network threads), driven by wrk
# with the same non-streamed chat requests. The upstreams are an nginx
# answering a fixed OpenAI chat completion, so what is measured is the
# proxy. Rounds alternate direct / nginx / greylane; medians are printed,
# and "added" is a proxy's latency minus the direct one of the same round.
# Ratios only mean something within one run: this machine is noisy, so
# the two proxies take turns going first (odd rounds nginx, even rounds
# greylane: neither always runs in the other's wake), each round prints its
# own greylane/nginx ratio, and each proxy's CPU time per request (user and
# system, from /proc around its throughput run) is printed beside it: a
# figure the machine's noise moves far less than a rate does.
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
proxy_start_agent
proxy_wait_nginx "$NGX"

proxy_chat_lua "$TMP/chat.lua"

# The processes doing a proxy's work: the agent, or nginx's workers.
proxy_pids() {
  if [ "$1" = greylane ]; then echo "$AGENT_PID"; else pgrep -P "$NGINX_PROXY_MASTER" | tr '\n' ' '; fi
}
# Their user and system CPU time so far, in clock ticks (all threads).
cpu_ticks() {
  local user=0 system=0 pid u s
  for pid in $1; do
    read -r u s < <(awk '{ print $14, $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0 0)
    user=$((user + u)); system=$((system + s))
  done
  echo "$user $system"
}
TICKS_PER_SECOND=$(getconf CLK_TCK)

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
NGINX_PROXY_MASTER=$(cat "$TMP/proxy/nginx.pid")
printf '%-6s %-13s %-9s %10s %9s %9s %11s %11s %6s %9s\n' round phase target req/s p50_ms p99_ms added_p50 added_p99 non2xx cpu_us/req
: > "$TMP/results"
for round in $(seq "$ROUNDS"); do
  for phase in throughput latency; do
    c=$CONNECTIONS
    [ "$phase" = latency ] && c=$LATENCY_CONNECTIONS
    read -r d_rps d_p50 d_p99 d_bad < <(measure "http://127.0.0.1:$UP1" "$c")
    printf '%-6s %-13s %-9s %10.0f %9.3f %9.3f %11s %11s %6s %9s\n' "$round" "$phase/$c" direct "$d_rps" "$d_p50" "$d_p99" - - "$d_bad" -
    order="nginx greylane"
    [ $((round % 2)) -eq 0 ] && order="greylane nginx"
    for target in $order; do
      url="http://127.0.0.1:$NGX"
      [ "$target" = greylane ] && url="http://$AGENT_HTTP"
      pids=$(proxy_pids "$target")
      read -r u0 s0 < <(cpu_ticks "$pids")
      read -r rps p50 p99 bad < <(measure "$url" "$c")
      read -r u1 s1 < <(cpu_ticks "$pids")
      # CPU microseconds per request: user, system (wrk's rate times the run's length).
      per_request() {
        awk -v t="$1" -v hz="$TICKS_PER_SECOND" -v r="$rps" -v s="$SECONDS_PER_RUN" \
          'BEGIN { printf "%.2f", (r > 0 ? t / hz * 1e6 / (r * s) : 0) }'
      }
      cpu_user=$(per_request $((u1 - u0)))
      cpu_system=$(per_request $((s1 - s0)))
      cpu=$(per_request $((u1 - u0 + s1 - s0)))
      a50=$(awk -v a="$p50" -v b="$d_p50" 'BEGIN { printf "%.3f", a - b }')
      a99=$(awk -v a="$p99" -v b="$d_p99" 'BEGIN { printf "%.3f", a - b }')
      printf '%-6s %-13s %-9s %10.0f %9.3f %9.3f %11s %11s %6s %9s\n' "$round" "$phase/$c" "$target" "$rps" "$p50" "$p99" "$a50" "$a99" "$bad" "$cpu"
      echo "$phase $target $rps $p50 $p99 $a50 $a99 $cpu $cpu_user $cpu_system" >> "$TMP/results"
      eval "rps_$target=$rps"
    done
    ratio=$(awk -v g="$rps_greylane" -v n="$rps_nginx" 'BEGIN { printf "%.3f", (n > 0 ? g / n : 0) }')
    echo "$phase ratio $ratio" >> "$TMP/results"
    printf '%-6s %-13s %-9s %10sx\n' "$round" "$phase/$c" "gl/nginx" "$ratio"
  done
done
echo
echo "medians over the rounds:"
for phase in throughput latency; do
  for target in nginx greylane; do
    awk -v p="$phase" -v t="$target" '$1 == p && $2 == t' "$TMP/results" |
      awk -v p="$phase" -v t="$target" '
        { rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; a50[NR] = $6; a99[NR] = $7; cpu[NR] = $8; cu[NR] = $9; cs[NR] = $10 }
        function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x } return a[int((n + 1) / 2)] }
        END { printf "  %-10s %-9s %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  added p50 %7.3f ms  added p99 %7.3f ms  cpu %6.2f us/req (user %5.2f, system %5.2f)\n", p, t, med(rps, NR), med(p50, NR), med(p99, NR), med(a50, NR), med(a99, NR), med(cpu, NR), med(cu, NR), med(cs, NR) }'
  done
  # The median of the rounds' own ratios, and how many rounds greylane led.
  awk -v p="$phase" '$1 == p && $2 == "ratio" { r[++n] = $3; if ($3 >= 1) w++ }
    END { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { x = r[i]; r[i] = r[j]; r[j] = x }
          printf "  %-10s greylane/nginx per round: median %.3fx, from %.3fx to %.3fx, greylane ahead in %d of %d rounds\n", p, r[int((n + 1) / 2)], r[1], r[n], w, n }' "$TMP/results"
done
# The split greylane made, as a check that it did the work asked.
metrics=$(curl -s "http://$AGENT_HTTP/metrics")
v1=$(echo "$metrics" | awk '/^greylane_requests_total\{.*version="v1"/ { print $2 }')
v2=$(echo "$metrics" | awk '/^greylane_requests_total\{.*version="v2"/ { print $2 }')
echo "greylane routed v1 ${v1:-?} / v2 ${v2:-?} requests (5 % target)"
