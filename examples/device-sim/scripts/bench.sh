#!/bin/sh
# Load benchmark: the release mdm-server and device-sim on one machine (see BENCHMARKS.md).
#
#   scripts/bench.sh sqlite|postgres [ROUNDS] [DEVICES]
#
# Build first: CARGO_TARGET_DIR=/work/target-sim cargo build --release -p mdm-server -p device-sim
# Environment: TARGET (the target dir, default /work/target-sim), SERVER_BIN (the server binary,
# default TARGET/release/mdm-server), PORT (19101), CONCURRENCY (64),
# PG (postgres://postgres@127.0.0.1:5432/test; each run uses a fresh schema, dropped after),
# PUSH=1: devices wake on pushes from a mock APNs inside device-sim (port PORT+1); a round
# trip is then enqueue -> push -> connect -> acknowledged report.
# SIGNED=1: devices enroll as real ones (profile, SCEP, Mdm-Signature on every request) and
# the server checks their identity (no --no-signature-check); commands are queued before the
# devices connect (--queue-first) and the report gives the server's CPU per device request
# (--server-pid). PROFILE=FILE (with SIGNED=1): `perf record -e cpu-clock -g` of the server
# during the command phase only, into FILE (PERF_ARGS: other options than `-g`, such as
# `--call-graph dwarf -F 999`).
set -eu
BACKEND=${1:?sqlite or postgres}
ROUNDS=${2:-1}
DEVICES=${3:-2000}
B=${TARGET:-/work/target-sim}/release
SERVER_BIN=${SERVER_BIN:-$B/mdm-server}
PORT=${PORT:-19101}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
WORK=$(mktemp -d)
STORAGE=""
SCHEMA=""
if [ "$BACKEND" = postgres ]; then
  SCHEMA=bench_$$
  psql -q "$PG" -c "CREATE SCHEMA $SCHEMA"
  STORAGE="--storage $PG?options=-csearch_path%3D$SCHEMA"
fi
SIM_ARGS="--server http://127.0.0.1:$PORT --api-key bench-key --devices $DEVICES --concurrency ${CONCURRENCY:-64} --rounds $ROUNDS"
if [ "${PUSH:-0}" = 1 ]; then
  APNS="127.0.0.1:$((PORT + 1))"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # The simulator starts the mock APNs, writes its CA, then waits for the server.
  # shellcheck disable=SC2086
  "$B/device-sim" $SIM_ARGS --apns-mock "$APNS" --apns-mock-ca "$WORK/apns-ca.pem" > "$WORK/sim.json" &
  SIM=$!
  while [ ! -s "$WORK/apns-ca.pem" ]; do sleep 0.1; done
  # shellcheck disable=SC2086
  "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --api-key bench-key \
    --log warn --no-signature-check --apns-url "https://$APNS" --apns-ca "$WORK/apns-ca.pem" \
    $STORAGE > "$WORK/server.log" 2>&1 &
  SERVER=$!
  wait "$SIM" || true
  cat "$WORK/sim.json"
elif [ "${SIGNED:-0}" = 1 ]; then
  # shellcheck disable=SC2086
  "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --api-key bench-key \
    --log warn $STORAGE > "$WORK/server.log" 2>&1 &
  SERVER=$!
  sleep 2
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # shellcheck disable=SC2086
  "$B/device-sim" $SIM_ARGS --enroll --shared-key --queue-first --server-pid "$SERVER" \
    > "$WORK/sim.json" 2> "$WORK/sim.err" &
  SIM=$!
  PERF=""
  if [ -n "${PROFILE:-}" ]; then
    while kill -0 "$SIM" 2>/dev/null && ! grep -q "command phase next" "$WORK/sim.err"; do
      sleep 0.05
    done
    # shellcheck disable=SC2086
    perf record -q -e cpu-clock ${PERF_ARGS:--g} -p "$SERVER" -o "$PROFILE" 2>/dev/null &
    PERF=$!
  fi
  wait "$SIM" || true
  if [ -n "$PERF" ]; then
    kill -INT "$PERF"
    wait "$PERF" 2>/dev/null || true
  fi
  cat "$WORK/sim.err" >&2
  cat "$WORK/sim.json"
else
  # shellcheck disable=SC2086
  "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --api-key bench-key \
    --log warn --no-signature-check $STORAGE > "$WORK/server.log" 2>&1 &
  SERVER=$!
  sleep 2
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  # shellcheck disable=SC2086
  "$B/device-sim" $SIM_ARGS
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
if [ -n "$SCHEMA" ]; then
  psql -q "$PG" -c "DROP SCHEMA $SCHEMA CASCADE" 2>/dev/null
fi
rm -rf "$WORK"
