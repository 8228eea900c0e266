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
FUZZERS=(config_yaml tokens_file model_file tensor_decode text_rules)

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libsqlite3-dev libssl-dev libcli11-dev libutfcpp-dev
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev qtkeychain-qt6-dev
  libqt6opengl6-dev libboost1.81-dev libboost-json1.81-dev
  xvfb xauth dbus dbus-x11 gnome-keyring fonts-dejavu-core
  poppler-utils prometheus
  clang libclang-rt-14-dev clang-format
)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
  install_packages
  if [ ! -f "$BUILD/build.ninja" ]; then
    say "configuring $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@"
  fi
  say "building"
  cmake --build "$BUILD" --parallel "$(nproc)"
}

run_tests() {
  build
  say "testing (ctest; the soak label runs with ./dev.sh soak)"
  ctest --test-dir "$BUILD" --output-on-failure --label-exclude soak --parallel "$(nproc)"
  check
  fuzz "${GREYLANE_FUZZ_SECONDS:-10}"
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
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$CLANG_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DGREYLANE_FUZZ=ON
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
  local control=${GREYLANE_CONTROL:-127.0.0.1:7070} data=${GREYLANE_DATA:-127.0.0.1:8001}
  local state; state=$(mktemp -d -t greylane-demo.XXXXXX)
  local pids=()
  cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  }
  trap cleanup EXIT INT TERM
  say "starting greylane-agent --demo (state in $state)"
  "$BUILD/agent/greylane-agent" --demo --control-listen "$control" --data-listen "$data" --http-listen "${GREYLANE_HTTP:-127.0.0.1:8000}" \
    --state-dir "$state" --ready-file "$state/ready" &
  pids+=($!)
  for _ in $(seq 100); do [ -f "$state/ready" ] && break; kill -0 "${pids[0]}" 2>/dev/null || exit 1; sleep 0.1; done
  [ -f "$state/ready" ] || { echo "the agent did not start" >&2; exit 1; }
  control=$(sed -n 's/^control=//p' "$state/ready"); data=$(sed -n 's/^data=//p' "$state/ready")
  say "starting greylane-load: 200 requests/s from 1000 users against $data"
  "$BUILD/agent/greylane-load" --target "$data" --rps 200 --users 1000 \
    --duration "${DEMO_SECONDS:-86400}" --quiet > "$state/load.log" 2>&1 &
  pids+=($!)
  cat <<INFO

  control plane  $control   (greylane.v1.Agent; tokens for demo-viewer/-operator/-admin
                 in $state/demo-tokens)
  data plane     $data   (OIP gRPC, model 'digits', versions v1 baseline / v2 candidate)
  load log       $state/load.log

  Try:  $BUILD/agent/greylane-load --target $data --rps 500 --duration 5
        $BUILD/agent/greylane-ctl --control $control --token-file $state/demo-tokens state
        # the analysis is armed: a drill on the candidate ends in its rollback
        $BUILD/agent/greylane-ctl --control $control --token-file $state/demo-tokens --as admin drill --latency-ms 200 --seconds 30 --reason "game day"
        # a rollout plan: 1 → 5 → 10 → 25 → 50 → 100 %, each step baking 2 min of passing analysis
        $BUILD/agent/greylane-ctl --control $control --token-file $state/demo-tokens rollout start --preset canary --reason "ship v2"

INFO
  local console=("$BUILD/app/greylane-console" --connect "$control" --token-file "$state/demo-tokens"
                 --name demo-node --settings "$state/console.ini")
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    say "opening greylane-console as demo-operator (close its window to stop the demo)"
    [ -n "${DEMO_SECONDS:-}" ] && console+=(--quit-after "$((DEMO_SECONDS * 1000))")
    "${console[@]}"
    return
  fi
  # No display (a server, CI): the console runs under Xvfb long enough to
  # fill its charts, saves what it showed, and the text view follows.
  say "no display: greylane-console runs under Xvfb and saves $state/console.png after 12 s"
  xvfb-run -a -s "-screen 0 1600x1000x24" "${console[@]}" --screenshot "$state/console.png" \
    --quit-after 12000 > "$state/console.log" 2>&1 &
  pids+=($!)
  say "live view: one line per second per agent (Ctrl-C stops everything)"
  if [ -n "${DEMO_SECONDS:-}" ]; then
    "$BUILD/agent/greylane-watch" --control "$control" --token-file "$state/demo-tokens" --frames "$DEMO_SECONDS"
  else
    "$BUILD/agent/greylane-watch" --control "$control" --token-file "$state/demo-tokens"
  fi
  wait "${pids[-1]}" 2>/dev/null || true
  [ -f "$state/console.png" ] && say "console screenshot: $state/console.png"
}

case "${1:-help}" in
  test) run_tests ;;
  demo) demo ;;
  build) shift; build "$@" ;;
  check) check ;;
  fuzz) shift; fuzz "$@" ;;
  bench) build; shift; "$ROOT/bench/run_benchmarks.sh" "$BUILD" "$@" ;;
  soak) build; ctest --test-dir "$BUILD" --output-on-failure --label-regex soak ;;
  format) find agent app common ui widgets tests bench \( -name '*.cpp' -o -name '*.h' \) -print0 | xargs -0 clang-format -i ;;
  *) echo "usage: ./dev.sh test | demo | build | check | fuzz [SECONDS] | bench | soak | format"; exit 2 ;;
esac
