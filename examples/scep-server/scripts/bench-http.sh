#!/bin/sh
# HTTP benchmark: PKIOperations/s of our scep-server and of micromdm/scep's `scepserver`
# (Debian package `scep`), same machine, same run, replaying one captured PKCSReq per server
# from several clients (one connection per request, as devices do).
#
#   cargo build --release -p scep-server --bins --examples
#   examples/scep-server/scripts/bench-http.sh [SECONDS] [CLIENTS] [ROUNDS]
#
# Everything runs inside `unshare -n` (a network namespace with only loopback), so neither
# server can listen beyond 127.0.0.1. Both CAs are RSA-2048 with the challenge "pw"; each
# request is made once by `scep-load make` (AES-128, SHA-256, encrypted to that server's CA,
# checked to be issued), then replayed. The servers take turns, ROUNDS times, so that a change
# in the machine's load hits both. Prints one JSON line per run and the ratios: SUCCESS/s,
# and CertReps/s of any status (micromdm/scep's file depot loses races under concurrent
# requests and then answers FAILURE after signing; see BENCHMARKS.md).
set -eu
SECONDS_PER_RUN=${1:-20}
CLIENTS=${2:-4}
ROUNDS=${3:-2}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TARGET=${TARGET:-$ROOT/target}
BIN=$TARGET/release
if [ -z "${SCEP_BENCH_INNER:-}" ]; then
    export SCEP_BENCH_INNER=1 TARGET
    exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
for f in "$BIN/scep-server" "$BIN/examples/scep-load"; do
    [ -x "$f" ] || { echo "missing $f: cargo build --release -p scep-server --bins --examples" >&2; exit 1; }
done
command -v scepserver >/dev/null || { echo "scepserver missing: apt-get install scep" >&2; exit 1; }

TMP=$(mktemp -d)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; if [ -n "${KEEP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT INT TERM

OURS=http://127.0.0.1:19201/scep
THEIRS=http://127.0.0.1:19202/scep
"$BIN/scep-server" --ca-dir "$TMP/ours" --listen 127.0.0.1:19201 --challenge pw \
    --key-bits 2048 >"$TMP/ours.log" 2>&1 &
PIDS="$PIDS $!"
scepserver ca -init -keySize 2048 -depot "$TMP/depot" >/dev/null 2>&1
# -allowrenew 0: issue again for the same CN (the replayed request) instead of refusing.
scepserver -port 19202 -challenge pw -allowrenew 0 -depot "$TMP/depot" >"$TMP/theirs.log" 2>&1 &
PIDS="$PIDS $!"

make_req() { # url out
    i=0
    until "$BIN/examples/scep-load" make --url "$1" --challenge pw --out "$2" >/dev/null 2>"$TMP/make.err"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { cat "$TMP/make.err" >&2; exit 1; }
        sleep 0.2
    done
}
make_req "$OURS" "$TMP/ours.der"
make_req "$THEIRS" "$TMP/theirs.der"

echo "uptime: $(uptime)"
r=0
while [ $r -lt "$ROUNDS" ]; do
    for who in ours theirs; do
        if [ $who = ours ]; then url=$OURS; else url=$THEIRS; fi
        out=$("$BIN/examples/scep-load" replay --url "$url" --request "$TMP/$who.der" \
            --clients "$CLIENTS" --seconds "$SECONDS_PER_RUN")
        echo "$who $out"
        echo "$who $out" >>"$TMP/results"
    done
    r=$((r + 1))
done
echo "uptime: $(uptime)"
awk '{ match($0, /"ops_per_s":[0-9.]+/); v = substr($0, RSTART + 12, RLENGTH - 12);
       match($0, /"answers_per_s":[0-9.]+/); a = substr($0, RSTART + 16, RLENGTH - 16);
       s[$1] += v; t[$1] += a; n[$1]++ }
     END { o = s["ours"] / n["ours"]; m = s["theirs"] / n["theirs"];
           oa = t["ours"] / n["ours"]; ma = t["theirs"] / n["theirs"];
           printf "mean SUCCESS/s: scep-server %.1f, scepserver %.1f, ratio %.2f\n", o, m, (m > 0 ? o / m : 0);
           printf "mean CertReps/s (SUCCESS or FAILURE): scep-server %.1f, scepserver %.1f, ratio %.2f\n", oa, ma, oa / ma }' \
    "$TMP/results"
