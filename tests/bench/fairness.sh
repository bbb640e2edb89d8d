#!/usr/bin/env bash
# The fairness bench (`make bench-fairness`): for each scheduler policy, starts the
# development stack (deploy/dev/run.sh, simulator workers: 2 standard x 8 slots,
# 40 ms to first token, 10 ms a token) in a temporary folder with that policy, runs
# tests/bench/fairness.mjs against it (two tenants pro+free; a light tenant beside
# one flood; a light tenant beside 40 backlogged tenants), stops it, then compares
# the fair queue's designs in the simulated pool (build/bench/sch_policies) and
# measures its dispatch cost with 10,000 tenants queued (build/bench/sch_dispatch).
# Prints one table. It reports; it never fails on a number. Every process it starts
# is stopped on exit.
#
# Environment (all optional):
#   BUILD                  build folder holding bin/mt-*                  (build)
#   MT_FAIR_POLICIES       policies to compare                            ("fifo vtc")
#   MT_FAIR_SECONDS        measured seconds per scenario                  (20)
#   MT_FAIR_WARMUP         seconds of load before measuring               (5)
#   MT_FAIR_BACKLOGGED     backlogged tenants beside the light one        (40)
#   MT_FAIR_ONLY           regular expression: only the scenarios it matches (all)
#   MT_FAIR_TRACE=1        each light request's id and times into node-<policy>.err
#                          (with MT_LOG_DEBUG=1 MT_LOG_FORMAT=json MT_BENCH_KEEP=1, the
#                          services' logs beside it follow it by req=)
#   MT_RUN_PORT_BASE       ports of the stack it starts                   (21000)
#   MT_BENCH_KEEP=1        keep the temporary folder (logs, raw results)
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) B="$BUILD" ;; *) B="$ROOT/$BUILD" ;; esac
POLICIES=${MT_FAIR_POLICIES:-fifo vtc}
BASE=${MT_RUN_PORT_BASE:-21000}
say () { echo "bench-fairness: $*" >&2; }

for s in migrate auth-gateway scheduler quota-enforcer metering worker-adapter; do
    [ -x "$B/bin/mt-$s" ] || { say "$B/bin/mt-$s not found: build first (make BUILD=$BUILD)"; exit 1; }
done
command -v node >/dev/null || { say "node not found"; exit 1; }

TMP=$(mktemp -d /tmp/mt-fair.XXXXXX)
RUN_PID=
stop_stack () {
    [ -n "$RUN_PID" ] || return 0
    kill -TERM "$RUN_PID" 2>/dev/null
    for ((i = 0; i < 600; i++)); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$RUN_PID" 2>/dev/null
    wait "$RUN_PID" 2>/dev/null
    RUN_PID=
}
cleanup () {
    trap '' INT TERM
    stop_stack
    if [ "${MT_BENCH_KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

: >"$TMP/results.jsonl"
for policy in $POLICIES; do
    say "policy $policy: starting the stack (ports from $BASE)"
    var="$TMP/var-$policy"
    mkdir -p "$var"
    MT_RUN_DIR="$var" MT_RUN_PORT_BASE="$BASE" MT_RUN_QUIET=1 MT_SCHED_POLICY="$policy" \
        BUILD="$BUILD" setsid bash deploy/dev/run.sh >"$TMP/run-$policy.log" 2>&1 &
    RUN_PID=$!
    up=0
    for ((i = 0; i < 600; i++)); do
        curl -fsS -m 1 "http://127.0.0.1:$BASE/healthz" >/dev/null 2>&1 && [ -s "$var/admin-token" ] \
            && { up=1; break; }
        kill -0 "$RUN_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ "$up" -ne 1 ]; then
        say "policy $policy: the stack did not come up (see $TMP/run-$policy.log); skipped"
        tail -n 20 "$TMP/run-$policy.log" >&2
        stop_stack
        continue
    fi
    sleep 1   # workers announce themselves
    timeout -k 10 900 node tests/bench/fairness.mjs "http://127.0.0.1:$BASE" \
        "$(cat "$var/admin-token")" "$policy" >>"$TMP/results.jsonl" 2>"$TMP/node-$policy.err" \
        || { say "policy $policy: load generator failed"; tail -n 20 "$TMP/node-$policy.err" >&2; }
    stop_stack
done

if [ -x "$B/bench/sch_policies" ]; then
    say "the designs in the simulated pool"
    "$B/bench/sch_policies" >"$TMP/policies.txt" 2>&1 || true
fi
if [ -x "$B/bench/sch_dispatch" ]; then
    say "dispatch cost with 10,000 tenants queued"
    "$B/bench/sch_dispatch" >"$TMP/dispatch.txt" 2>&1 || true
fi

echo "Live stack (make run's simulator: 2 standard workers x 8 slots, 40 ms to first token, 10 ms a token)"
echo
node tests/bench/fairness_table.mjs "$TMP/results.jsonl"
[ -s "$TMP/policies.txt" ] && { echo; cat "$TMP/policies.txt"; }
[ -s "$TMP/dispatch.txt" ] && { echo; cat "$TMP/dispatch.txt"; }
exit 0
