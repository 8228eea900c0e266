#!/usr/bin/env bash
# The one entry point: ./dev.sh test | demo | build | check | fuzz | bench | soak | format
# Every command first installs the Debian packages that are missing, so a
# bare Debian 12 machine needs nothing else.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD=${GREYLANE_BUILD_DIR:-$ROOT/build}
# The clang build: -Wthread-safety over our code, and the libFuzzer targets.
CLANG_BUILD=${GREYLANE_CLANG_BUILD_DIR:-$ROOT/build-clang}
FUZZERS=(config_yaml tokens_file model_file tensor_decode text_rules http_wire)

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libsqlite3-dev libssl-dev libcli11-dev libutfcpp-dev
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev qtkeychain-qt6-dev
  libqt6opengl6-dev libboost1.81-dev libboost-json1.81-dev
  xvfb xauth dbus dbus-x11 gnome-keyring fonts-dejavu-core
  poppler-utils prometheus ccache
  clang libclang-rt-14-dev clang-format
)
# Only for ./dev.sh bench: the HTTP proxy comparison with nginx, its instruction
# count (callgrind) and its system calls per request (perf).
BENCH_PACKAGES=(nginx wrk curl python3 valgrind linux-perf)

# Compiler output is cached by content (ccache), keyed relative to the
# checkout, so a second clone of the same commits builds in a fraction of
# the time; a bare machine builds everything once.
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=true
launcher() {
  command -v ccache >/dev/null && echo -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  return 0
}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The official OpenAI client for tests/test_http_plane (from the npm
# registry, pinned by its lock file). Without npm the test says it skipped.
node_packages() {
  local dir="$ROOT/tests/openai_client"
  [ -d "$dir/node_modules/openai" ] && return 0
  if ! command -v npm >/dev/null; then
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    say "installing nodejs npm (the OpenAI client test)"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends nodejs npm || return 0
  fi
  say "npm ci in tests/openai_client (the official OpenAI client)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || say "npm ci failed: the OpenAI client test will skip"
}

build() {
  install_packages
  node_packages
  if [ ! -f "$BUILD/build.ninja" ]; then
    say "configuring $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" $(launcher) "$@"
  fi
  say "building"
  cmake --build "$BUILD" --parallel "$(nproc)"
}

run_tests() {
  build
  say "testing (ctest; the soak label runs with ./dev.sh soak)"
  ctest --test-dir "$BUILD" --output-on-failure --label-exclude soak --parallel "$(nproc)"
  check
  fuzz "${GREYLANE_FUZZ_SECONDS:-5}"
}

# Every C++ file as .clang-format says, changed nowhere.
format_check() {
  say "clang-format --dry-run -Werror"
  find agent app common ui widgets tests bench \( -name '*.cpp' -o -name '*.h' \) -print0 |
    xargs -0 clang-format --dry-run -Werror
}

clang_build() {
  install_packages
  if [ ! -f "$CLANG_BUILD/build.ninja" ]; then
    say "configuring $CLANG_BUILD (clang: thread-safety analysis, libFuzzer, ASan, UBSan)"
    # -O0: this build exists for the analysis and the fuzzers' sanitizers;
    # optimising it would only cost compile time.
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$CLANG_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS_RELEASE=-O0 -DGREYLANE_FUZZ=ON $(launcher)
  fi
  say "building with clang -Wthread-safety -Werror (agent, common, console core, fuzzers)"
  cmake --build "$CLANG_BUILD" --parallel "$(nproc)" --target greylane_server greylane_ctl \
    greylane_load greylane_app greylane_fuzzers
}

check() {
  format_check
  clang_build
}

# Each fuzzer for $1 seconds (default 60), from the committed seeds plus
# what earlier runs found (kept in the clang build folder). A crash stops
# with the input that caused it, saved beside the log.
fuzz() {
  local seconds=${1:-60}
  clang_build
  local out="$CLANG_BUILD/fuzz"
  mkdir -p "$out"
  say "fuzzing each target for ${seconds} s"
  printf '%-16s %12s %10s %8s %10s\n' target executions exec/s cov features
  for name in "${FUZZERS[@]}"; do
    mkdir -p "$out/corpus/$name"
    local log="$out/$name.log"
    if ! (cd "$out" && "$CLANG_BUILD/tests/fuzz/fuzz_$name" -max_total_time="$seconds" \
            -print_final_stats=1 -rss_limit_mb=3072 -artifact_prefix="$out/$name-" \
            "$out/corpus/$name" "$ROOT/tests/fuzz/seeds/$name" > "$log" 2>&1); then
      tail -n 40 "$log"
      echo "fuzz_$name failed: see $log and the input saved as $out/$name-*" >&2
      return 1
    fi
    local execs rate cov ft
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-16s %12s %10s %8s %10s\n' "$name" "$execs" "$rate" "$cov" "$ft"
  done
}

demo() {
  build
  # Two agents, as two GPU nodes would run them: the digits classifiers
  # (OIP gRPC) and the built-in language models (OpenAI API over HTTP).
  local state; state=$(mktemp -d -t greylane-demo.XXXXXX)
  # Global, not local: the EXIT trap runs after demo() has returned (the
  # console closed, or DEMO_SECONDS passed), when its locals are gone, and
  # with an empty list it would wait for the agents forever.
  DEMO_PIDS=()
  cleanup() {
    for p in "${DEMO_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  }
  trap cleanup EXIT INT TERM
  start_agent() {  # name control data http extra-flags...
    local name=$1 control=$2 data=$3 http=$4; shift 4
    mkdir -p "$state/$name"
    say "starting greylane-agent --demo $* ($name, state in $state/$name)"
    "$BUILD/agent/greylane-agent" --demo "$@" --control-listen "$control" --data-listen "$data" \
      --http-listen "$http" --state-dir "$state/$name/state" --ready-file "$state/$name/ready" \
      > "$state/$name/agent.log" 2>&1 &
    DEMO_PIDS+=($!)
    local pid=$!
    for _ in $(seq 100); do [ -f "$state/$name/ready" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    [ -f "$state/$name/ready" ] || { cat "$state/$name/agent.log" >&2; echo "the $name agent did not start" >&2; exit 1; }
  }
  field() { sed -n "s/^$2=//p" "$state/$1/ready"; }
  start_agent digits "${GREYLANE_CONTROL:-127.0.0.1:7070}" "${GREYLANE_DATA:-127.0.0.1:8001}" \
    "${GREYLANE_HTTP:-127.0.0.1:8000}"
  start_agent lm "${GREYLANE_LM_CONTROL:-127.0.0.1:7071}" "${GREYLANE_LM_DATA:-127.0.0.1:8011}" \
    "${GREYLANE_LM_HTTP:-127.0.0.1:8010}" --demo-pair lm
  local control data lm_control lm_http
  control=$(field digits control); data=$(field digits data)
  lm_control=$(field lm control); lm_http=$(field lm http)
  say "starting load: 200 requests/s from 1000 users on digits; 8 streamed chats/s from 200 users on lm"
  "$BUILD/agent/greylane-load" --target "$data" --rps 200 --users 1000 \
    --duration "${DEMO_SECONDS:-86400}" --quiet > "$state/digits/load.log" 2>&1 &
  DEMO_PIDS+=($!)
  "$BUILD/agent/greylane-load" --openai --target "$lm_http" --rps 8 --users 200 --max-tokens 48 \
    --duration "${DEMO_SECONDS:-86400}" --quiet > "$state/lm/load.log" 2>&1 &
  DEMO_PIDS+=($!)
  cat <<INFO

  gpu-node-1: digits (OIP gRPC; v1 baseline / v2 candidate)
    control plane  $control   tokens in $state/digits/state/demo-tokens
    data plane     $data
  gpu-node-2: lm (OpenAI API; built-in character models v1 / v2)
    control plane  $lm_control   tokens in $state/lm/state/demo-tokens
    HTTP plane     $lm_http   (OpenAI API, /metrics)

  Try:  curl -N http://$lm_http/v1/chat/completions -H 'content-type: application/json' \\
          -d '{"model":"lm","messages":[{"role":"user","content":"This License"}],"stream":true}'
        curl -s http://$lm_http/metrics | grep time_to_first_token
        $BUILD/agent/greylane-load --openai --target $lm_http --rps 4 --duration 10
        $BUILD/agent/greylane-ctl --control $control --token-file $state/digits/state/demo-tokens state
        # the analysis is armed: a drill on the candidate ends in its rollback
        $BUILD/agent/greylane-ctl --control $control --token-file $state/digits/state/demo-tokens --as admin drill --latency-ms 200 --seconds 30 --reason "game day"
        # a rollout plan: 1 → 5 → 10 → 25 → 50 → 100 %, each step baking 2 min of passing analysis
        $BUILD/agent/greylane-ctl --control $control --token-file $state/digits/state/demo-tokens rollout start --preset canary --reason "ship v2"

INFO
  local console=("$BUILD/app/greylane-console"
                 --connect "$control" --token-file "$state/digits/state/demo-tokens" --name gpu-node-1
                 --connect "$lm_control" --token-file "$state/lm/state/demo-tokens" --name gpu-node-2
                 --settings "$state/console.ini")
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    say "opening greylane-console on both agents as demo-operator (close its window to stop the demo)"
    [ -n "${DEMO_SECONDS:-}" ] && console+=(--quit-after "$((DEMO_SECONDS * 1000))")
    "${console[@]}"
    return
  fi
  # No display (a server, CI): the console runs under Xvfb long enough to
  # fill its charts, saves what it showed, and the text view follows.
  say "no display: greylane-console runs under Xvfb and saves $state/console.png after 12 s"
  xvfb-run -a -s "-screen 0 1600x1000x24" "${console[@]}" --screenshot "$state/console.png" \
    --quit-after 12000 > "$state/console.log" 2>&1 &
  DEMO_PIDS+=($!)
  local console_pid=$!
  say "live view: one line per second per agent (Ctrl-C stops everything)"
  local frames=()
  [ -n "${DEMO_SECONDS:-}" ] && frames=(--frames "$DEMO_SECONDS")
  "$BUILD/agent/greylane-watch" --control "$lm_control" --token-file "$state/lm/state/demo-tokens" \
    "${frames[@]}" | sed -u 's/^/gpu-node-2 lm     /' &
  DEMO_PIDS+=($!)
  "$BUILD/agent/greylane-watch" --control "$control" --token-file "$state/digits/state/demo-tokens" \
    "${frames[@]}" | sed -u 's/^/gpu-node-1 digits /'
  wait "$console_pid" 2>/dev/null || true
  [ -f "$state/console.png" ] && say "console screenshot: $state/console.png"
}

case "${1:-help}" in
  test) run_tests ;;
  demo) demo ;;
  build) shift; build "$@" ;;
  check) check ;;
  fuzz) shift; fuzz "$@" ;;
  bench) install_packages "${BENCH_PACKAGES[@]}"; build; shift; "$ROOT/bench/run_benchmarks.sh" "$BUILD" "$@" ;;
  soak) build; ctest --test-dir "$BUILD" --output-on-failure --label-regex soak ;;
  format) find agent app common ui widgets tests bench \( -name '*.cpp' -o -name '*.h' \) -print0 | xargs -0 clang-format -i ;;
  *) echo "usage: ./dev.sh test | demo | build | check | fuzz [SECONDS] | bench | soak | format"; exit 2 ;;
esac
