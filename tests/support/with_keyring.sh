#!/bin/sh
# Runs a command against a real Secret Service: a private D-Bus session with
# an unlocked gnome-keyring-daemon and a throwaway HOME (so no real keyring
# is touched). Usage: with_keyring.sh COMMAND [ARGS...]
# Called under dbus-run-session by ctest.
set -u
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export HOME="$home" XDG_DATA_HOME="$home/.local/share"
unset XDG_RUNTIME_DIR
printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null || {
  echo "with_keyring.sh: gnome-keyring-daemon did not start" >&2
  exit 1
}
GREYLANE_KEYCHAIN_TEST=1 "$@"
