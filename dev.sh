#!/usr/bin/env bash
# The one entry point: ./dev.sh test | demo | build | bench | soak | format
# Every command first installs the Debian packages that are missing, so a
# bare Debian 12 machine needs nothing else.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD=${GREYLANE_BUILD_DIR:-$ROOT/build}

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libsqlite3-dev libssl-dev libcli11-dev libutfcpp-dev
  qt6-base-dev qt6-base-dev-tools qt6-charts-dev qt6-svg-dev qtkeychain-qt6-dev
  libqt6opengl6-dev
  xvfb xauth dbus dbus-x11 gnome-keyring fonts-dejavu-core
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
  ctest --test-dir "$BUILD" --output-on-failure --label-exclude soak
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
  "$BUILD/agent/greylane-agent" --demo --control-listen "$control" --data-listen "$data" \
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
  bench) build; shift; "$ROOT/bench/run_benchmarks.sh" "$BUILD" "$@" ;;
  soak) build; ctest --test-dir "$BUILD" --output-on-failure --label-regex soak ;;
  format) find agent app common ui widgets tests bench -name '*.cpp' -o -name '*.h' 2>/dev/null | xargs clang-format -i ;;
  *) echo "usage: ./dev.sh test | demo | build | bench | soak | format"; exit 2 ;;
esac
