# Engine mode of the benchmark (MT_BENCH_ENGINE=1, `make bench-engine`), sourced by
# tests/bench/run.sh once the stack serves with its workers in front of the stand-in
# engine (tests/bench/engine.mjs). Three paths to the same engine, same wrk and body:
#   direct  wrk -> engine
#   nginx   wrk -> nginx (Debian's, upstream keep-alive, started here on 127.0.0.1) -> engine
#   stack   wrk -> auth-gateway -> ... -> worker-adapter -> engine
# interleaved in MT_BENCH_ROUNDS rounds, streamed and not; only 2xx answers count. CPU per
# request is that of the path's own processes (nginx's master and workers; the five
# services and the workers), read from /proc; the engine's own is shown apart. Then one
# request at a time (wrk -c1) on each path: p50, and what the path adds over direct.
# It reports; it never fails on a number.

# ---- nginx ------------------------------------------------------------------------------
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/log/nginx.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    upstream engine { server 127.0.0.1:$ENGINE_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://engine;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
"$NGINX" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" >>"$TMP/log/nginx.log" 2>&1 </dev/null &
PIDS+=($!); NGINX_PID=$!
ok=0
for ((i = 0; i < 50; i++)); do
    curl -fsS -m 1 "http://127.0.0.1:$NGINX_PORT/v1/models" >/dev/null 2>&1 && { ok=1; break; }
    sleep 0.1
done
[ "$ok" -eq 1 ] || { say "nginx did not answer:"; tail -n 5 "$TMP/log/nginx.log" >&2; }

# ---- measurement ---------------------------------------------------------------------------
# The processes of a path, space-separated.
path_pids () {
    case $1 in
        direct) echo "" ;;
        nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
        stack) for s in "${SERVICES[@]}"; do printf '%s ' "${PID_OF[$s]}"; done ;;
    esac
}
sum_ticks () { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
# Context switches of a process, all its threads (voluntary: it waited; not: preempted).
ctx_switches () {
    cat /proc/"$1"/task/*/status 2>/dev/null \
        | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}
sum_ctx () { local t=0 p; for p in "$@"; do t=$((t + $(ctx_switches "$p"))); done; echo "$t"; }
to_ms () {   # wrk's "1.23ms" / "812.00us" / "1.02s" -> ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
                           else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
url_of () {
    case $1 in
        direct) echo "http://127.0.0.1:$ENGINE_PORT/v1/chat/completions" ;;
        nginx) echo "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" ;;
        stack) echo "$URL/v1/chat/completions" ;;
    esac
}
declare -A OK SECS TICKS ETICKS SVC_TICKS LAT CSW SVC_CSW
# measure path kind conns: adds into OK/SECS/TICKS/ETICKS[path,kind,conns]
measure () {
    local path=$1 kind=$2 c=$3 k="$1,$2,$3" f="$TMP/$1-$2-$3.wrk" s
    local script="$TMP/chat.lua"; [ "$kind" = stream ] && script="$TMP/stream.lua"
    local pids; pids=$(path_pids "$path")
    local t0 e0 t1 e1 w0 w1; declare -A sv0 sw0
    # shellcheck disable=SC2086
    t0=$(sum_ticks $pids); e0=$(cpu_ticks "${PID_OF[engine]}"); w0=$(sum_ctx $pids)
    for s in "${SERVICES[@]}"; do sv0[$s]=$(cpu_ticks "${PID_OF[$s]}"); sw0[$s]=$(ctx_switches "${PID_OF[$s]}"); done
    say "wrk $path $kind: -t$([ "$c" = 1 ] && echo 1 || echo "$THREADS") -c$c -d${DUR}s"
    wrk -t"$([ "$c" = 1 ] && echo 1 || echo "$THREADS")" -c"$c" -d"${DUR}s" --latency -s "$script" \
        "$(url_of "$path")" >"$f" 2>&1
    # shellcheck disable=SC2086
    t1=$(sum_ticks $pids); e1=$(cpu_ticks "${PID_OF[engine]}"); w1=$(sum_ctx $pids)
    if [ "$path" = stack ]; then
        for s in "${SERVICES[@]}"; do
            SVC_TICKS[$k,$s]=$(( ${SVC_TICKS[$k,$s]:-0} + $(cpu_ticks "${PID_OF[$s]}") - ${sv0[$s]} ))
            SVC_CSW[$k,$s]=$(( ${SVC_CSW[$k,$s]:-0} + $(ctx_switches "${PID_OF[$s]}") - ${sw0[$s]} ))
        done
    fi
    CSW[$k]=$(( ${CSW[$k]:-0} + w1 - w0 ))
    local reqs non2xx secs
    reqs=$(awk '/requests in/ { print $1 }' "$f"); reqs=${reqs:-0}
    non2xx=$(awk '/Non-2xx/ { print $NF }' "$f"); non2xx=${non2xx:-0}
    secs=$(awk '/requests in/ { v = $4; sub(/,$/, "", v); n = v + 0;
                if (v ~ /ms$/) n /= 1000; else if (v ~ /m$/) n *= 60; print n }' "$f")
    [ "$non2xx" -gt 0 ] && say "  $non2xx answers were not 2xx (not counted)"
    OK[$k]=$(( ${OK[$k]:-0} + reqs - non2xx ))
    SECS[$k]=$(awk -v a="${SECS[$k]:-0}" -v b="${secs:-0}" 'BEGIN { print a + b }')
    TICKS[$k]=$(( ${TICKS[$k]:-0} + t1 - t0 ))
    ETICKS[$k]=$(( ${ETICKS[$k]:-0} + e1 - e0 ))
    LAT[$k]="${LAT[$k]:-} $(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")"
}
for ((r = 1; r <= ROUNDS; r++)); do
    for kind in chat stream; do
        for path in direct nginx stack; do measure "$path" "$kind" "$CONNS"; done
    done
done
for ((r = 1; r <= ROUNDS; r++)); do
    for kind in chat stream; do
        for path in direct nginx stack; do measure "$path" "$kind" 1; done
    done
done

# ---- system calls per request --------------------------------------------------------------
# One more run per path, chat, at -c$CONNS and at -c1, with `perf stat` counting every system
# call entry of each of the path's processes. Counting slows the path down, so these runs
# stay out of the figures above; a count per request repeats from run to run where times do
# not. MT_BENCH_SYSCALLS=0 skips them; without perf (or without the right to trace) they
# are left out.
declare -A SYS SVC_SYS
SYSCALLS=0
if [ "${MT_BENCH_SYSCALLS:-1}" != 0 ] && command -v perf >/dev/null 2>&1 \
   && perf stat -x, -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    SYSCALLS=1
    for c in "$CONNS" 1; do
        for path in nginx stack; do
            k="$path,sys,$c"; declare -A SPID=()
            for p in $(path_pids "$path"); do
                perf stat -x, -e raw_syscalls:sys_enter -p "$p" -o "$TMP/sys-$path-$c-$p.txt" \
                    >/dev/null 2>&1 &
                SPID[$p]=$!
            done
            sleep 0.3
            measure "$path" sys "$c"
            for p in "${!SPID[@]}"; do kill -INT "${SPID[$p]}" 2>/dev/null; done
            for p in "${!SPID[@]}"; do wait "${SPID[$p]}" 2>/dev/null; done
            for p in "${!SPID[@]}"; do
                n=$(awk -F, '/raw_syscalls:sys_enter/ { print $1 + 0 }' "$TMP/sys-$path-$c-$p.txt" 2>/dev/null)
                SYS[$k]=$(( ${SYS[$k]:-0} + ${n:-0} ))
                for s in "${SERVICES[@]}"; do
                    [ "${PID_OF[$s]}" = "$p" ] && SVC_SYS[$k,$s]=${n:-0}
                done
            done
        done
    done
fi

. "$ROOT/tests/bench/authorities.sh"

# ---- report ------------------------------------------------------------------------------------
rps () { awk -v n="${OK[$1]:-0}" -v s="${SECS[$1]:-0}" 'BEGIN { if (s > 0) printf "%.0f", n / s; else printf "0" }'; }
per_req () { awk -v t="$1" -v n="${OK[$2]:-0}" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.4f", t * 1000 / hz / n; else printf "-" }'; }
median () { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
div () { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else printf "-" }'; }
{
echo
echo "mt-serve bench, engine mode: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
echo "stand-in engine answering at once (16 tokens); 2 workers x 256 slots, CURVE on;"
echo "wrk -t$THREADS -c$CONNS -d${DUR}s, $ROUNDS interleaved rounds; only 2xx answers counted;"
echo "services $([ "$PIN" = 1 ] && echo "each pinned to one CPU (MT_BENCH_PIN=1)" || echo "not pinned (MT_BENCH_PIN=1 pins each to one CPU)")."
echo
printf '%-8s %-7s %9s %10s %9s %14s %10s %14s\n' path kind "2xx/s" "x direct" "p50 ms" "CPU ms/req" "x nginx" "engine CPU ms"
for kind in chat stream; do
    for path in direct nginx stack; do
        k="$path,$kind,$CONNS"; kn="nginx,$kind,$CONNS"; kd="direct,$kind,$CONNS"
        cpu="-"; [ "$path" != direct ] && cpu=$(per_req "${TICKS[$k]:-0}" "$k")
        xn="-"; [ "$path" = stack ] && xn=$(div "$cpu" "$(per_req "${TICKS[$kn]:-0}" "$kn")")
        printf '%-8s %-7s %9s %10s %9s %14s %10s %14s\n' "$path" "$kind" "$(rps "$k")" \
            "$(div "$(rps "$k")" "$(rps "$kd")")" "$(echo "${LAT[$k]}" | median)" "$cpu" "$xn" \
            "$(per_req "${ETICKS[$k]:-0}" "$k")"
    done
done
echo
echo "stack CPU ms per request by process (at -c$CONNS):"
printf '%-8s' kind; for s in "${SERVICES[@]}"; do printf ' %14s' "$s"; done; echo
for kind in chat stream; do
    k="stack,$kind,$CONNS"; printf '%-8s' "$kind"
    for s in "${SERVICES[@]}"; do printf ' %14s' "$(per_req "${SVC_TICKS[$k,$s]:-0}" "$k")"; done; echo
done
echo
echo "one request at a time (wrk -c1): p50 ms (median over rounds), added over direct, CPU ms/req"
printf '%-8s %-7s %9s %12s %12s\n' path kind "p50 ms" "added ms" "CPU ms/req"
for kind in chat stream; do
    d=$(echo "${LAT[direct,$kind,1]}" | median)
    for path in direct nginx stack; do
        k="$path,$kind,1"; p=$(echo "${LAT[$k]}" | median)
        cpu="-"; [ "$path" != direct ] && cpu=$(per_req "${TICKS[$k]:-0}" "$k")
        printf '%-8s %-7s %9s %12s %12s\n' "$path" "$kind" "$p" \
            "$(awk -v a="$p" -v b="$d" 'BEGIN { if (a != "-" && b != "-") printf "%+.3f", a - b; else printf "-" }')" "$cpu"
    done
done
echo
per_n () { awk -v t="$1" -v n="${OK[$2]:-0}" 'BEGIN { if (n > 0) printf "%.1f", t / n; else printf "-" }'; }
# count_table title TOTALS BY_PROCESS kind: a count per request, nginx and the stack at
# -c$CONNS and -c1, then the stack by process (arrays named, keyed path,kind,conns)
count_table () {
    local -n tot=$2 svc=$3
    local kind=$4 path c k s
    echo "$1"
    printf '%-8s %12s %12s\n' path "-c$CONNS" "-c1"
    for path in nginx stack; do
        printf '%-8s %12s %12s\n' "$path" "$(per_n "${tot[$path,$kind,$CONNS]:-0}" "$path,$kind,$CONNS")" \
            "$(per_n "${tot[$path,$kind,1]:-0}" "$path,$kind,1")"
    done
    printf '%-8s' "by process:"; for s in "${SERVICES[@]}"; do printf ' %14s' "$s"; done; echo
    for c in "$CONNS" 1; do
        k="stack,$kind,$c"; printf '%-11s' "-c$c"
        for s in "${SERVICES[@]}"; do printf ' %14s' "$(per_n "${svc[$k,$s]:-0}" "$k")"; done; echo
    done
}
count_table "context switches per request, chat (all threads of the path's processes, from /proc):" \
    CSW SVC_CSW chat
if [ "$SYSCALLS" = 1 ]; then
    echo
    count_table "system calls per request, chat (perf stat, in runs of their own):" SYS SVC_SYS sys
fi
echo
cat "$TMP/authorities.txt" 2>/dev/null
echo
} | tee "$TMP/report.txt"

# ---- profile (MT_BENCH_PROFILE=1) ----------------------------------------------------------
# One more stack run per kind, one request at a time (so no batching: the counts repeat
# from run to run), with strace -c -f on every service (syscalls per request: the sends,
# receives and wakeups of the bus), then one at -c$CONNS with perf record (cpu-clock
# samples) on every service: its top functions. Both slow the path down; the figures are
# per 2xx answer of that run.
# MT_BENCH_PROFILE=strace: the syscall counts only.
if [ "${MT_BENCH_PROFILE:-0}" = 1 ] || [ "${MT_BENCH_PROFILE:-0}" = strace ]; then
    # strace_all tag: strace -c every service while the command after it runs
    strace_all () {
        local tag=$1 s; shift
        declare -A SPID=()
        for s in "${SERVICES[@]}"; do
            strace -c -f -qq -o "$TMP/strace-$tag-$s.txt" -p "${PID_OF[$s]}" 2>/dev/null &
            SPID[$s]=$!
        done
        sleep 1
        "$@"
        for s in "${SERVICES[@]}"; do kill -INT "${SPID[$s]}" 2>/dev/null; done
        for s in "${SERVICES[@]}"; do wait "${SPID[$s]}" 2>/dev/null; done
    }
    calls () { awk -v x="$2" '$NF == x && $1 ~ /^[0-9.]+$/ { print $4; f = 1 } END { if (!f) print 0 }' "$1"; }
    # The same window with no load: what the loops cost when idle (timeouts, heartbeats).
    # First let the scheduler forget mt-sched-load's worker and its 10,000 jobs (they
    # time out after MT_SCHED_WORKER_TIMEOUT_MS, 3 s, and each is logged): not idle work.
    sleep 5
    strace_all idle sleep "$DUR"
    for kind in chat stream; do
        k="stack,$kind,1"; OK[$k]=0; SECS[$k]=0
        strace_all "$kind" measure stack "$kind" 1
        n=$(( OK[$k] )); OK[$k]=0; SECS[$k]=0
        echo "syscalls per 2xx answer under strace, one at a time, the idle window's taken off ($kind, $n answers):"
        for s in "${SERVICES[@]}"; do
            f="$TMP/strace-$kind-$s.txt"; i="$TMP/strace-idle-$s.txt"
            line=""
            for sc in getpid poll epoll_wait epoll_ctl read write recvfrom sendto sendmsg connect; do
                line="$line $sc $(awk -v a="$(calls "$f" "$sc")" -v b="$(calls "$i" "$sc")" -v n="$n" \
                    'BEGIN { printf "%.1f", (n > 0 ? (a - b) / n : 0) }')"
            done
            tot=$(awk -v a="$(calls "$f" total)" -v b="$(calls "$i" total)" -v n="$n" \
                'BEGIN { printf "%.1f", (n > 0 ? (a - b) / n : 0) }')
            printf '  %-15s %6s:%s\n' "$s" "$tot" "$line"
        done
        [ "${MT_BENCH_PROFILE}" = strace ] && continue
        declare -A SPID=()
        for s in "${SERVICES[@]}"; do
            perf record -q -e cpu-clock -F 2000 -g -o "$TMP/perf-$kind-$s.data" -p "${PID_OF[$s]}" \
                >/dev/null 2>&1 &
            SPID[$s]=$!
        done
        sleep 0.5
        k="stack,$kind,$CONNS"; measure stack "$kind" "$CONNS"; OK[$k]=0; SECS[$k]=0
        for s in "${SERVICES[@]}"; do kill -INT "${SPID[$s]}" 2>/dev/null; done
        for s in "${SERVICES[@]}"; do wait "${SPID[$s]}" 2>/dev/null; done
        echo "perf: top functions, self ($kind):"
        for s in "${SERVICES[@]}"; do
            echo "  $s:"
            perf report -i "$TMP/perf-$kind-$s.data" --no-children --sort dso,sym --stdio 2>/dev/null \
                | grep -E '^ +[0-9.]+%' | head -12 | sed 's/^/    /'
        done
    done 2>&1 | tee -a "$TMP/report.txt"
fi
