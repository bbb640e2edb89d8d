#!/usr/bin/env bash
# The worker-adapter alone in front of the stand-in engine (tests/bench/engine.mjs, 16 tokens
# at once), CURVE on: its own load generator (tests/bench/mt_wa_load.c) plays the scheduler
# and a gateway's token endpoint and keeps W jobs in flight. Builds side by side, interleaved
# in rounds, at W=32 and W=1 (MT_BENCH_WA_WINDOWS): jobs/s, messages per job to the gateway and to the scheduler,
# the worker's CPU per job (from /proc), round trip p50; then, one run per build and W under
# strace -c -f, the worker's system calls per job. It reports; it never fails on a number.
# Every process it starts is stopped on exit.
#
#   bash tests/bench/worker.sh                       # this build
#   MT_BENCH_WA_BUILDS="before=/tmp/x/build after=build" bash tests/bench/worker.sh
#
# Environment (all optional):
#   BUILD                 the build (its worker and mt-wa-load)           (build)
#   MT_BENCH_WA_BUILDS    name=build folder pairs, space-separated        (this=$BUILD)
#   MT_BENCH_WA_SECONDS   seconds per measured run                        (3)
#   MT_BENCH_WA_ROUNDS    interleaved rounds                              (2)
#   MT_BENCH_WA_STRACE    1: also the strace runs                         (1)
#   MT_BENCH_WA_WINDOWS   jobs in flight, the runs to make                ("32 1")
#   MT_BENCH_WA_PERF      1: then one run per build at the first window under
#                         perf record -g: the worker's top functions (self)  (0)
#   MT_BENCH_WA_CALLGRIND 1: then one run per build and window under valgrind's
#                         callgrind: user-space instructions per job, every thread
#                         and the loop thread (counts this machine's load does not
#                         move; the run is ~50x slower)                     (0)
#   MT_BENCH_WA_CG_JOBS   jobs counted under callgrind, after 201 of warm-up  (1000)
#   MT_BENCH_LOADGEN_DIR  where mt-wa-load is                             ($BUILD/tests)
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
BUILDS=${MT_BENCH_WA_BUILDS:-this=${BUILD:-build}}
SECS=${MT_BENCH_WA_SECONDS:-3}
ROUNDS=${MT_BENCH_WA_ROUNDS:-2}
STRACE=${MT_BENCH_WA_STRACE:-1}
WINDOWS=${MT_BENCH_WA_WINDOWS:-32 1}
PERF=${MT_BENCH_WA_PERF:-0}
CALLGRIND=${MT_BENCH_WA_CALLGRIND:-0}
CG_JOBS=${MT_BENCH_WA_CG_JOBS:-1000}
LOADGEN=$(cd "$ROOT" && echo "${MT_BENCH_LOADGEN_DIR:-${BUILD:-build}/tests}/mt-wa-load")
case $LOADGEN in /*) ;; *) LOADGEN=$ROOT/$LOADGEN ;; esac
say () { echo "bench-worker: $*" >&2; }
abs () { case $1 in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }

[ -x "$LOADGEN" ] || { say "$LOADGEN not found: build first (make)"; exit 1; }
KEYGEN=
for pair in $BUILDS; do
    b=$(abs "${pair#*=}")
    [ -x "$b/bin/mt-worker-adapter" ] || { say "$b/bin/mt-worker-adapter not found"; exit 1; }
    [ -x "$b/bin/mt-keygen" ] && KEYGEN=$b/bin/mt-keygen
done
[ -n "$KEYGEN" ] || { say "mt-keygen not found"; exit 1; }
[ "$STRACE" = 1 ] && ! command -v strace >/dev/null && { say "strace not found: no syscall counts"; STRACE=0; }

TMP=$(mktemp -d /tmp/mt-bench-wa.XXXXXX)
PIDS=()
cleanup () {
    trap '' INT TERM
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for ((n = 0; n < 50; n++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
    done
    if [ "${MT_BENCH_KEEP:-0}" = 1 ]; then say "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

source "$ROOT/tests/bench/ports.sh"
free_port; ENGINE_PORT=$PORT; free_port; SCHED_PORT=$PORT; free_port; TOKEN_PORT=$PORT
free_port; METRICS_PORT=$PORT

node "$ROOT/tests/bench/engine.mjs" --port "$ENGINE_PORT" --tokens 16 >"$TMP/engine.log" 2>&1 &
PIDS+=($!)
for name in scheduler:sched gateway:gw worker:wk; do
    "$KEYGEN" "$TMP/curve" "${name%%:*}" "${name#*:}" >/dev/null || { say "mt-keygen failed"; exit 1; }
done
export MT_CURVE=1 MT_CURVE_KEYS=$TMP/curve/keys
for ((i = 0; i < 50; i++)); do
    curl -fsS -m 1 "http://127.0.0.1:$ENGINE_PORT/v1/models" >/dev/null 2>&1 && break
    sleep 0.1
done

# One worker of a build, in front of the engine (under the command in WRAP, if
# any); sets WPID.
WRAP=()
start_worker () {
    env MT_CURVE_CERT="$TMP/curve/secret/wk.key_secret" MT_WA_SCHEDULER="tcp://127.0.0.1:$SCHED_PORT" \
        MT_WA_ID=bench-wa MT_WA_POOL=standard MT_WA_MODELS=sim-small MT_WA_SLOTS=256 \
        MT_ENGINE_URL="http://127.0.0.1:$ENGINE_PORT/v1" MT_WA_METRICS_BIND=127.0.0.1 \
        MT_WA_METRICS_PORT="$METRICS_PORT" "${WRAP[@]}" "$1/bin/mt-worker-adapter" \
        >>"$TMP/worker-$2.log" 2>&1 </dev/null &
    WPID=$!; PIDS+=($WPID)
}
stop_worker () {
    kill -TERM "$1" 2>/dev/null
    for ((n = 0; n < 200; n++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null
}
# load window seconds count worker-pid -> the generator's line
load () {
    env MT_CURVE_CERT="$TMP/curve/secret/sched.key_secret" "$LOADGEN" \
        --scheduler-bind="tcp://127.0.0.1:$SCHED_PORT" --tokens-bind="tcp://127.0.0.1:$TOKEN_PORT" \
        --gateway-cert="$TMP/curve/secret/gw.key_secret" --window="$1" --seconds="$2" \
        --count="$3" --worker-pid="$4" --warmup=200 2>>"$TMP/load.log"
}
field () { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }

declare -A SUM N
add () { SUM[$1]=$(awk -v a="${SUM[$1]:-0}" -v b="${2:-0}" 'BEGIN { print a + b }'); }
for ((r = 1; r <= ROUNDS; r++)); do
    for w in $WINDOWS; do
        for pair in $BUILDS; do
            name=${pair%%=*}; b=$(abs "${pair#*=}")
            say "round $r: $name, $w in flight, ${SECS}s"
            start_worker "$b" "$name"
            out=$(load "$w" "$SECS" 100000000 "$WPID")
            stop_worker "$WPID"
            [ -n "$out" ] || { say "  no answer (see $TMP/load.log)"; continue; }
            k="$name,$w"; N[$k]=$(( ${N[$k]:-0} + 1 ))
            for f in jobs_per_s to_gateway to_scheduler token_chunks job_progress rtt_p50_us worker_cpu_us; do
                add "$k,$f" "$(field "$f" "$out")"
            done
        done
    done
done
avg () { awk -v s="${SUM[$1]:-0}" -v n="${N[${1%,*}]:-0}" -v f="$2" 'BEGIN { if (n > 0) printf f, s / n; else printf "-" }'; }
{
echo
echo "worker-adapter alone in front of the stand-in engine (16 tokens at once), CURVE on;"
echo "mt-wa-load as its scheduler and gateway, ${SECS}s runs, $ROUNDS interleaved rounds (means)."
printf '%-10s %4s %9s %9s %10s %8s %9s %9s %12s\n' build W "jobs/s" "to gw" "to sched" "chunks" "progress" "p50 us" "CPU us/job"
for w in $WINDOWS; do
    for pair in $BUILDS; do
        k="${pair%%=*},$w"
        printf '%-10s %4s %9s %9s %10s %8s %9s %9s %12s\n' "${pair%%=*}" "$w" "$(avg "$k,jobs_per_s" %.0f)" \
            "$(avg "$k,to_gateway" %.2f)" "$(avg "$k,to_scheduler" %.2f)" "$(avg "$k,token_chunks" %.2f)" \
            "$(avg "$k,job_progress" %.2f)" "$(avg "$k,rtt_p50_us" %.0f)" "$(avg "$k,worker_cpu_us" %.1f)"
    done
done
} | tee "$TMP/report.txt"

if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
    echo
    echo "perf: the worker's top functions, self, W=${WINDOWS%% *} (cpu-clock, every thread):"
    for pair in $BUILDS; do
        name=${pair%%=*}; b=$(abs "${pair#*=}")
        start_worker "$b" "$name"
        perf record -q -e cpu-clock -F 2000 -g -o "$TMP/perf-$name.data" -p "$WPID" >/dev/null 2>&1 &
        PPID_=$!
        sleep 0.5
        load "${WINDOWS%% *}" "$SECS" 100000000 0 >/dev/null
        kill -INT "$PPID_" 2>/dev/null; wait "$PPID_" 2>/dev/null
        stop_worker "$WPID"
        echo "  $name:"
        perf report -i "$TMP/perf-$name.data" --no-children --sort dso,sym --stdio 2>/dev/null \
            | grep -E '^ +[0-9.]+%' | head -25 | sed 's/^/    /'
    done
fi

if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    echo
    echo "user-space instructions per job under callgrind (counted after 201 jobs of warm-up):"
    for w in $WINDOWS; do
        for pair in $BUILDS; do
            name=${pair%%=*}; b=$(abs "${pair#*=}")
            WRAP=(valgrind -q --tool=callgrind --separate-threads=yes --instr-atstart=no
                  "--callgrind-out-file=$TMP/cg-$name-$w.out")
            start_worker "$b" "$name"
            WRAP=()
            load "$w" 120 1 0 >/dev/null        # the 200 warm-up jobs, and one
            callgrind_control -i on "$WPID" >/dev/null 2>&1
            out=$(env MT_CURVE_CERT="$TMP/curve/secret/sched.key_secret" "$LOADGEN" \
                  --scheduler-bind="tcp://127.0.0.1:$SCHED_PORT" --tokens-bind="tcp://127.0.0.1:$TOKEN_PORT" \
                  --gateway-cert="$TMP/curve/secret/gw.key_secret" --window="$w" --seconds=300 \
                  --count="$CG_JOBS" --worker-pid=0 --warmup=0 2>>"$TMP/load.log")
            callgrind_control -i off "$WPID" >/dev/null 2>&1
            stop_worker "$WPID"
            n=$(field done "$out"); n=${n:-0}
            # one file a thread: -01 is the loop's, the others libzmq's and curl's
            awk -v n="$n" -v name="$name" -v w="$w" '
                /^totals:/ { all += $2; if (FILENAME ~ /-01$/) loop = $2 }
                END { if (n > 0) printf "  %-10s W=%-3s %8.0f every thread, %8.0f the loop thread (%d jobs)\n",
                                        name, w, all / n, loop / n, n }' "$TMP/cg-$name-$w.out"-*
        done
    done
fi

[ "$STRACE" = 1 ] || exit 0
echo
echo "system calls of the worker per job under strace -c -f (every thread; the run is slowed):"
for w in $WINDOWS; do
    for pair in $BUILDS; do
        name=${pair%%=*}; b=$(abs "${pair#*=}")
        start_worker "$b" "$name"
        count=$([ "$w" = 1 ] && echo 1000 || echo 4000)
        strace -c -f -qq -S calls -o "$TMP/strace-$name-$w.txt" -p "$WPID" 2>/dev/null &
        SPID=$!
        sleep 0.5
        out=$(load "$w" 30 "$count" 0)
        kill -INT "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
        stop_worker "$WPID"
        n=$(field done "$out"); n=${n:-0}
        # the warm-up's jobs are in the counts too
        awk -v n="$((n + 200))" -v name="$name" -v w="$w" '
            $1 ~ /^[0-9.]+$/ && NF >= 5 { c[$NF] = $4; if ($NF != "total") order[++k] = $NF }
            END { if (n <= 0) exit
                  printf "  %-10s W=%-3s %6.1f:", name, w, c["total"] / n
                  m = 0
                  for (i = 1; i <= k && m < 8; i++) { s = order[i]; printf " %s %.1f", s, c[s] / n; m++ }
                  printf "\n" }' "$TMP/strace-$name-$w.txt"
    done
done
