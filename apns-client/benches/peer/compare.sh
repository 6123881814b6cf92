#!/usr/bin/env bash
# Pushes over one HTTP/2 connection to the standalone mock: `mdmctl push` and npm apns2 in
# the same run, each repetition against the same mock process.
#
#   apns-client/benches/peer/compare.sh MODULE_DIR [PUSHES] [REPS]
#
# PEER_IN_FLIGHT (default 100, the package's own stream limit) caps the peer's concurrent pushes;
# mdmctl uses the client's default (1000). BEFORE=path/to/an/older/mdmctl adds that build to
# each repetition (before/after figures in the same run).
#
# MODULE_DIR holds node_modules/apns2 (see README.md). Build first:
#   cargo build --release -p mdmctl && cargo build --release -p apns-client --features mock --example mock_server
# CPU is the whole client process (user + system, `perf stat -e task-clock`, TLS and start-up
# included) divided by the pushes; rates are each client's own (send phase).
set -euo pipefail
MODULE_DIR=${1:?usage: compare.sh MODULE_DIR [PUSHES] [REPS]}
PUSHES=${2:-100000}
REPS=${3:-3}
PEER_IN_FLIGHT=${PEER_IN_FLIGHT:-100}
TARGET=${CARGO_TARGET_DIR:-target}
HERE=$(cd "$(dirname "$0")" && pwd)
MDMCTL=${MDMCTL:-$TARGET/release/mdmctl}
MOCK=${MOCK:-$TARGET/release/examples/mock_server}
TOPIC=com.apple.mgmt.External.mock
work=$(mktemp -d)
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$MOCK" "$work" >"$work/mock.out" &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.out" ] && break; sleep 0.1; done
url=$(head -1 "$work/mock.out")
awk -v n="$PUSHES" 'BEGIN { for (i = 0; i < n; i++) printf "%064x:5C0F5EC4-0B9C-4A1B-9C43-0E7C1D1B2B3A\n", i }' >"$work/tokens"
echo "mock $url (pid $mock_pid), $PUSHES pushes per run; $(uptime)"

cpu_ms() { awk -F, '$3 ~ /task-clock/ { print $1 }' "$1"; }
mock_ticks() { awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$mock_pid/stat"; }

run_ours() { # LABEL BINARY
  local m0 m1
  m0=$(mock_ticks)
  perf stat -x, -e task-clock -o "$work/ours.perf" -- \
    "$2" --ca-file "$work/ca.pem" push --cert "$work/push.pem" --key "$work/push.key" \
    --url "$url" --file "$work/tokens" >"$work/ours.out"
  m1=$(mock_ticks)
  printf 'rep %s %s: %s\n  process CPU %.1f us/push, mock %.1f us/push\n' "$rep" "$1" \
    "$(tail -1 "$work/ours.out")" \
    "$(echo "$(cpu_ms "$work/ours.perf") * 1000 / $PUSHES" | bc -l)" \
    "$(echo "($m1 - $m0) * 10000 / $PUSHES" | bc -l)"
}

for rep in $(seq "$REPS"); do
  if [ -n "${BEFORE:-}" ]; then run_ours before "$BEFORE"; fi
  run_ours ours "$MDMCTL"
  m1=$(mock_ticks)
  perf stat -x, -e task-clock -o "$work/peer.perf" -- \
    node "$HERE/apns2_driver.mjs" "$MODULE_DIR" "$url" "$work/ca.pem" "$work/push.pem" \
    "$work/push.key" "$TOPIC" "$work/tokens" "$PEER_IN_FLIGHT" >"$work/peer.out"
  m2=$(mock_ticks)
  printf 'rep %s peer: %s\n  process CPU %.1f us/push, mock %.1f us/push\n' "$rep" \
    "$(tail -1 "$work/peer.out")" \
    "$(echo "$(cpu_ms "$work/peer.perf") * 1000 / $PUSHES" | bc -l)" \
    "$(echo "($m2 - $m1) * 10000 / $PUSHES" | bc -l)"
done
echo "after: $(uptime)"
