#!/usr/bin/env bash
# The console's CPU and memory while it streams from 8 agents for a minute,
# drawn on a real X server (Xvfb), as an SRE would leave it open.
# usage: bench/console_cpu.sh BUILD_DIR [--agents N] [--seconds N] [--rps N]
# Prints the console's CPU (percent of one core), Xvfb's, and the console's
# resident and peak memory. CONSOLE_SCREENSHOT=PATH saves what it showed.
set -euo pipefail
BUILD=${1:?usage: console_cpu.sh BUILD_DIR [--agents N] [--seconds N] [--rps N]}
shift
AGENTS=8 SECONDS_MEASURED=60 RPS=50 WARMUP=10
while [ $# -gt 0 ]; do
  case "$1" in
    --agents) AGENTS=$2; shift 2 ;;
    --seconds) SECONDS_MEASURED=$2; shift 2 ;;
    --rps) RPS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
TMP=$(mktemp -d -t greylane-console-cpu.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

# One operator token shared by every agent (the agents keep only its hash).
TOKEN=glt_console_bench_$(date +%s%N)
echo "$TOKEN" > "$TMP/token"
echo "$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1) bench operator" > "$TMP/tokens"

CONNECT=()
for i in $(seq "$AGENTS"); do
  mkdir -p "$TMP/agent$i"
  "$BUILD/agent/greylane-agent" --demo --tokens "$TMP/tokens" --control-listen 127.0.0.1:0 \
    --data-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --state-dir "$TMP/agent$i" --ready-file "$TMP/agent$i/ready" \
    > "$TMP/agent$i/log" 2>&1 &
  PIDS+=($!)
done
for i in $(seq "$AGENTS"); do
  for _ in $(seq 100); do [ -s "$TMP/agent$i/ready" ] && break; sleep 0.1; done
  control=$(sed -n 's/^control=//p' "$TMP/agent$i/ready")
  data=$(sed -n 's/^data=//p' "$TMP/agent$i/ready")
  [ -n "$control" ] || { echo "agent $i did not start: $(cat "$TMP/agent$i/log")" >&2; exit 1; }
  CONNECT+=(--connect "$control" --name "gpu-$i")
  if [ "$RPS" -gt 0 ]; then
    "$BUILD/agent/greylane-load" --target "$data" --rps "$RPS" --users 1000 \
      --duration $((WARMUP + SECONDS_MEASURED + 30)) --quiet > /dev/null 2>&1 &
    PIDS+=($!)
  fi
done

TOTAL_MS=$(((WARMUP + SECONDS_MEASURED + 5) * 1000))
xvfb-run -a -s "-screen 0 1600x1000x24" "$BUILD/app/greylane-console" "${CONNECT[@]}" \
  --token-file "$TMP/token" --settings "$TMP/console.ini" --quit-after "$TOTAL_MS" \
  ${CONSOLE_SCREENSHOT:+--screenshot "$CONSOLE_SCREENSHOT"} \
  > "$TMP/console.log" 2>&1 &
PIDS+=($!)
sleep 2
CONSOLE=$(pgrep -n -f "$BUILD/app/greylane-console") || { cat "$TMP/console.log"; exit 1; }
XVFB=$(pgrep -n Xvfb || true)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
sleep "$WARMUP"
c0=$(ticks "$CONSOLE"); x0=$([ -n "$XVFB" ] && ticks "$XVFB" || echo 0); t0=$(date +%s.%N)
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$CONSOLE/status")
# Resident memory once a minute, to see it level off once the rings are full
# (1024 s of points per version).
left=$SECONDS_MEASURED
while [ "$left" -gt 0 ]; do
  step=$((left < 60 ? left : 60))
  sleep "$step"
  left=$((left - step))
  echo "  after $((SECONDS_MEASURED - left)) s: console RSS $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$CONSOLE/status")"
done
c1=$(ticks "$CONSOLE"); x1=$([ -n "$XVFB" ] && ticks "$XVFB" || echo 0); t1=$(date +%s.%N)
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$CONSOLE/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$CONSOLE/status")
awk -v c="$((c1 - c0))" -v x="$((x1 - x0))" -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
    -v n="$AGENTS" -v rps="$RPS" -v r0="$rss0" -v r1="$rss1" -v hwm="$hwm" 'BEGIN {
  s = t1 - t0
  printf "console streaming from %d agents (%d req/s each) for %.0f s under Xvfb:\n", n, rps, s
  printf "  console CPU   %5.2f %% of one core  (target <= 5 %%)\n", 100 * c / hz / s
  printf "  Xvfb CPU      %5.2f %% of one core\n", 100 * x / hz / s
  printf "  console RSS   %.1f MiB -> %.1f MiB while measured, peak %.1f MiB\n", r0 / 1024, r1 / 1024, hwm / 1024
}'
if [ -n "${CONSOLE_SCREENSHOT:-}" ]; then
  wait "${PIDS[-1]}" || true
  echo "  screenshot    $CONSOLE_SCREENSHOT"
fi
