# The quota-enforcer and the scheduler under their own load generators
# (tests/bench/mt_qe_load.c, tests/bench/mt_sched_load.c), sourced by tests/bench/run.sh
# while the stack runs, CURVE as the stack has it (the generators hold a gateway's and a
# worker's keys). Each figure next to the service's own CPU in that run: work per
# CPU-second of its process is its ceiling on one core; the one-at-a-time round trip
# next to a bare-libzmq echo peer's, measured in turns with it. Appends to $TMP/authorities.txt.
# MT_BENCH_LOADGEN_DIR: where the generators are (default: the build's tests folder).
LOADGEN=${MT_BENCH_LOADGEN_DIR:-$BIN/../tests}
per_cpu () {   # work ticks -> "X us of its CPU each = Y per CPU-second"
    awk -v a="$1" -v t="$2" -v hz="$HZ" 'BEGIN { cpu = t / hz
        printf "its CPU %.1f us each = %.0f per CPU-second", (a > 0 ? cpu * 1e6 / a : 0), (cpu > 0 ? a / cpu : 0) }'
}
field () { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
# A generator that knows --batch (the fifth round) runs as the gateway and the worker now
# send (Batches), and once more with --batch=0 (one message each, the old path); an older
# one runs as it is.
has_batch () { "$LOADGEN/$1" --help 2>&1 | grep -q -- '--batch'; }
qe_load () {   # window count seconds [baseline count] [batch 0|1]
    local t0 t1 out a base=() how=""
    if [ -n "${5:-}" ] && has_batch mt-qe-load; then
        base+=(--batch="$5")
        how=$([ "$5" = 1 ] && echo " (sent in Batches)" || echo " (one message each)")
    fi
    # The bare-libzmq floor in the same run (mt-qe-load's echo peer: same DEALER/ROUTER,
    # CURVE setting and messages); an older generator without the option runs without it
    [ -n "${4:-}" ] && "$LOADGEN/mt-qe-load" --help 2>&1 | grep -q baseline-count \
        && base=(--baseline-count="$4")
    t0=$(cpu_ticks "${PID_OF[quota-enforcer]}")
    out=$(env MT_CURVE=$CURVE "MT_CURVE_CERT=$CURVE_DIR/secret/auth-gateway.key_secret" \
          "$LOADGEN/mt-qe-load" --endpoint="tcp://127.0.0.1:$QE_PORT" --tenants=10000 --window="$1" \
          --count="$2" --seconds="$3" ${base[@]+"${base[@]}"} 2>>"$TMP/log/qe-load.log")
    t1=$(cpu_ticks "${PID_OF[quota-enforcer]}")
    a=$(( $(field admitted "$out") + $(field refused "$out") ))
    local echo_rtt=$(field echo_rtt_p50_us "$out") floor=""
    [ -n "$echo_rtt" ] && floor="; a bare-libzmq echo peer (same sockets, CURVE, messages): p50 $echo_rtt us, the round trip $(field rtt_over_echo "$out")x that floor"
    local fpa=$(field frames_per_admit "$out")
    echo "quota-enforcer, 10,000 tenants, admit+settle, $1 in flight$how: $(field admits_per_s "$out") admissions/s," \
         "round trip p50 $(field rtt_p50_us "$out") us; $(per_cpu "$a" $((t1 - t0)))$floor${fpa:+; $fpa ZeroMQ messages an admission}"
}
sched_load () {   # slots seconds [batch 0|1]
    local t0 t1 out opt=() how=""
    if [ -n "${3:-}" ] && has_batch mt-sched-load; then
        opt=(--batch="$3")
        how=$([ "$3" = 1 ] && echo " (sent in Batches)" || echo " (one message each)")
    fi
    t0=$(cpu_ticks "${PID_OF[scheduler]}")
    out=$(env MT_CURVE=$CURVE "MT_CURVE_CERT=$CURVE_DIR/secret/auth-gateway.key_secret" \
          "$LOADGEN/mt-sched-load" --gateways="tcp://127.0.0.1:$SCHED_GW" --workers="tcp://127.0.0.1:$SCHED_WK" \
          --worker-cert="$CURVE_DIR/secret/worker-std-1.key_secret" --tenants=10000 --slots="$1" \
          --count=1000000 --seconds="$2" ${opt[@]+"${opt[@]}"} 2>>"$TMP/log/sched-load.log")
    t1=$(cpu_ticks "${PID_OF[scheduler]}")
    local per=$(field msgs_per_dispatch "$out")      # an older generator does not print it
    local fpd=$(field frames_per_dispatch "$out")
    echo "scheduler, 10,000 tenants queued, a worker of $1 slots answering at once$how: $(field dispatch_per_s "$out")" \
         "dispatches/s; $(per_cpu "$(field dispatched "$out")" $((t1 - t0)))${per:+; $per messages a dispatch}${fpd:+ in $fpd ZeroMQ messages}"
}
if [ -x "$LOADGEN/mt-qe-load" ] && [ -x "$LOADGEN/mt-sched-load" ]; then
    say "quota-enforcer load generator: one at a time, then 256 in flight; scheduler load generator"
    { qe_load 1 3000 5 3000
      if has_batch mt-qe-load; then qe_load 256 400000 8 "" 1; qe_load 256 400000 8 "" 0
      else qe_load 256 400000 8; fi
      if has_batch mt-sched-load; then sched_load 256 8 1; sched_load 256 8 0
      else sched_load 256 8; fi
    } >>"$TMP/authorities.txt" 2>&1
else
    echo "load generators not found in $LOADGEN (make)" >>"$TMP/authorities.txt"
fi
