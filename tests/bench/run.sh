#!/usr/bin/env bash
# The benchmark (`make bench`): loads the whole stack over HTTP with wrk and reports
# requests/s, p50/p99 latency, CPU per request and peak RSS of every service, next to
# a baseline measured in the same run (a plain static HTTP responder on this machine).
# It reports; it never fails on a number. Every process it starts is stopped on exit.
#
# Environment (all optional):
#   BUILD                 build folder holding bin/mt-*                       (build)
#   MT_BENCH_DURATION     seconds per wrk run                                 (10)
#   MT_BENCH_THREADS      wrk threads                                         (2)
#   MT_BENCH_CONNS        wrk connections                                     (64)
#   MT_BENCH_STREAMS      concurrent SSE streams held for the streams figure  (2000; 0 = skip)
#   MT_BENCH_FAILOVER     1: also run the failure scenarios and report their durations (1)
#   MT_BENCH_KEEP=1       keep the temporary folder (logs) after the run
#   MT_BENCH_ENGINE=1     engine mode (`make bench-engine`): the workers front a stand-in
#                         OpenAI-compatible engine that answers at once (tests/bench/engine.mjs);
#                         the engine direct, behind nginx (upstream keep-alive) and behind the
#                         stack, interleaved, streamed and not, then one request at a time.
#                         Defaults there: wrk -t1 -c32 -d5s, 2 rounds, no streams figure.
#   MT_BENCH_ROUNDS       engine mode: interleaved rounds                     (2)
#   MT_BENCH_SYSCALLS=0   engine mode: skip the system-call counts per request (perf stat)
#   MT_BENCH_PROFILE      engine mode: 1 = then strace -c and perf record on every service;
#                         strace = the syscall counts only (see tests/bench/engine.sh)
#   MT_BENCH_KEYS=0       skip the key revocation/expiry figure (tests/bench/keys.mjs)
#   MT_BENCH_PIN=1        pin each service to one CPU (MT_CPU), round-robin over the
#                         cores in start order                                (0)
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
ENGINE=${MT_BENCH_ENGINE:-0}
if [ "$ENGINE" = 1 ]; then
    DUR=${MT_BENCH_DURATION:-5}; THREADS=${MT_BENCH_THREADS:-1}; CONNS=${MT_BENCH_CONNS:-32}
    NSTREAMS=0; ROUNDS=${MT_BENCH_ROUNDS:-2}
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] \
        || { echo "bench: nginx not found (deploy/dev/install-deps.sh --bench)" >&2; exit 1; }
else
    DUR=${MT_BENCH_DURATION:-10}
    THREADS=${MT_BENCH_THREADS:-2}
    CONNS=${MT_BENCH_CONNS:-64}
    NSTREAMS=${MT_BENCH_STREAMS:-2000}
fi
HZ=$(getconf CLK_TCK)

say () { echo "bench: $*" >&2; }

for s in migrate auth-gateway scheduler quota-enforcer metering worker-adapter; do
    [ -x "$BIN/mt-$s" ] || { say "$BIN/mt-$s not found: build first (make BUILD=$BUILD)"; exit 1; }
done
command -v wrk >/dev/null || { say "wrk not found (apt-get install wrk)"; exit 1; }

# More descriptors for thousands of streams (gateway and client inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d /tmp/mt-bench.XXXXXX)
mkdir -p "$TMP/log"
PIDS=()          # every process we started, in start order
PG_STARTED=0

cleanup () {
    trap '' INT TERM
    local p
    # reverse order: load tools and the gateway first, metering last
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[$i]}" 2>/dev/null
    done
    for ((n = 0; n < 150; n++)); do
        alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ "$PG_STARTED" -eq 1 ] && bash deploy/dev/pg.sh stop "$TMP/pg" >/dev/null 2>&1
    if [ "${MT_BENCH_KEEP:-0}" = 1 ]; then say "logs kept in $TMP/log"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- free 127.0.0.1 ports -------------------------------------------------------------
source "$ROOT/tests/bench/ports.sh"
free_port; PG_PORT=$PORT
free_port; GW_PORT=$PORT;   free_port; TOKEN_PORT=$PORT
free_port; SCHED_GW=$PORT;  free_port; SCHED_WK=$PORT; free_port; SCHED_M=$PORT
free_port; QE_PORT=$PORT;   free_port; QE_M=$PORT
free_port; MTR_PORT=$PORT;  free_port; MTR_M=$PORT
free_port; WK1_M=$PORT;     free_port; WK2_M=$PORT;    free_port; WK3_M=$PORT
free_port; NODE_PORT=$PORT
free_port; ENGINE_PORT=$PORT; free_port; NGINX_PORT=$PORT

# ---- PostgreSQL and services ---------------------------------------------------------------
say "PostgreSQL on 127.0.0.1:$PG_PORT ($TMP)"
PG_STARTED=1
bash deploy/dev/pg.sh start "$TMP/pg" "$PG_PORT" || { say "PostgreSQL did not start"; exit 1; }
export MT_PG_DSN
MT_PG_DSN=$(bash deploy/dev/pg.sh dsn "$PG_PORT")
"$BIN/mt-migrate" --pg-dsn="$MT_PG_DSN" --dir="$ROOT/sql/migrations" >"$TMP/log/migrate.log" 2>&1 \
    || { say "migrations failed:"; tail -n 20 "$TMP/log/migrate.log" >&2; exit 1; }

MT_ADMIN_TOKEN="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; export MT_ADMIN_TOKEN
export MT_SCHED_GATEWAY_BIND="tcp://127.0.0.1:$SCHED_GW" MT_SCHED_WORKER_BIND="tcp://127.0.0.1:$SCHED_WK"
export MT_SCHED_METRICS_PORT=$SCHED_M
export MT_QE_BIND="tcp://127.0.0.1:$QE_PORT" MT_QE_METRICS_PORT=$QE_M
export MT_MTR_BIND="tcp://127.0.0.1:$MTR_PORT" MT_MTR_METRICS_PORT=$MTR_M
export MT_GW_HTTP_PORT=$GW_PORT MT_GW_HTTP_BIND=127.0.0.1 MT_GW_DRAIN_MS=1000
# Every load comes from 127.0.0.1: no cap per client address (thousands of streams)
export MT_GW_MAX_CONNECTIONS_PER_CLIENT=0
export MT_GW_TOKEN_BIND="tcp://127.0.0.1:$TOKEN_PORT" MT_GW_TOKEN_ENDPOINT="tcp://127.0.0.1:$TOKEN_PORT"
export MT_GW_SCHEDULER="tcp://127.0.0.1:$SCHED_GW" MT_GW_QUOTA="tcp://127.0.0.1:$QE_PORT"
export MT_GW_METERING="tcp://127.0.0.1:$MTR_PORT" MT_WA_SCHEDULER="tcp://127.0.0.1:$SCHED_WK"
export MT_SCHED_METRICS_BIND=127.0.0.1 MT_QE_METRICS_BIND=127.0.0.1 MT_MTR_METRICS_BIND=127.0.0.1 MT_WA_METRICS_BIND=127.0.0.1

# CURVE on the service bus, as in production: one keypair per instance. The
# stack runs a second time with MT_CURVE=0 for the CURVE-off figures.
CURVE_DIR=$TMP/curve
export MT_CURVE_KEYS=$CURVE_DIR/keys
for pair in gateway:auth-gateway scheduler:scheduler quota-enforcer:quota-enforcer \
            metering:metering worker:worker-std-1 worker:worker-std-2 worker:worker-prem-1; do
    "$BIN/mt-keygen" "$CURVE_DIR" "${pair%%:*}" "${pair#*:}" >/dev/null \
        || { say "mt-keygen ${pair#*:} failed"; exit 1; }
done
CURVE=1

declare -A PID_OF
PIN=${MT_BENCH_PIN:-0}; PIN_NEXT=0
start () {   # name, env assignments..., binary
    local name=$1; shift
    local cpu=()
    if [ "$PIN" = 1 ]; then cpu=("MT_CPU=$((PIN_NEXT % $(nproc)))"); PIN_NEXT=$((PIN_NEXT + 1)); fi
    env MT_CURVE=$CURVE "MT_CURVE_CERT=$CURVE_DIR/secret/$name.key_secret" "${cpu[@]}" "$@" \
        >>"$TMP/log/$name.log" 2>&1 </dev/null &
    PIDS+=($!); PID_OF[$name]=$!
}
# Engine mode: the workers front the stand-in engine instead of the simulator.
WA_BACKEND=(MT_WA_BACKEND=sim)
if [ "$ENGINE" = 1 ]; then
    node "$ROOT/tests/bench/engine.mjs" --port "$ENGINE_PORT" --tokens 16 >"$TMP/log/engine.log" 2>&1 &
    PIDS+=($!); PID_OF[engine]=$!
    WA_BACKEND=(MT_WA_BACKEND=openai "MT_ENGINE_URL=http://127.0.0.1:$ENGINE_PORT/v1")
fi
start_services () {
PIN_NEXT=0
start quota-enforcer "$BIN/mt-quota-enforcer"
start metering "$BIN/mt-metering"
start scheduler "$BIN/mt-scheduler"
start auth-gateway "$BIN/mt-auth-gateway"
# The load: 2 standard workers x 256 slots, zero-delay simulator, 16 tokens.
start worker-std-1 MT_WA_ID=bench-std-1 MT_WA_POOL=standard MT_WA_MODELS=sim-small MT_WA_SLOTS=256 \
    "${WA_BACKEND[@]}" MT_WA_SIM_TTFT_MS=0 MT_WA_SIM_ITL_MS=0 MT_WA_SIM_TOKENS=16 \
    MT_WA_METRICS_PORT=$WK1_M "$BIN/mt-worker-adapter"
start worker-std-2 MT_WA_ID=bench-std-2 MT_WA_POOL=standard MT_WA_MODELS=sim-small MT_WA_SLOTS=256 \
    "${WA_BACKEND[@]}" MT_WA_SIM_TTFT_MS=0 MT_WA_SIM_ITL_MS=0 MT_WA_SIM_TOKENS=16 \
    MT_WA_METRICS_PORT=$WK2_M "$BIN/mt-worker-adapter"
[ "$ENGINE" = 1 ] && return
# The streams figure: a slow premium worker with room for every stream.
PREM_SLOTS=$((NSTREAMS > 8 ? NSTREAMS + 16 : 8))
start worker-prem-1 MT_WA_ID=bench-prem-1 MT_WA_POOL=premium MT_WA_MODELS=sim-large \
    MT_WA_SLOTS=$PREM_SLOTS MT_WA_BACKEND=sim MT_WA_SIM_TTFT_MS=50 MT_WA_SIM_ITL_MS=1000 \
    MT_WA_SIM_TOKENS=60 MT_WA_METRICS_PORT=$WK3_M "$BIN/mt-worker-adapter"
}
SERVICES=(auth-gateway scheduler quota-enforcer metering worker-std-1 worker-std-2 worker-prem-1)
[ "$ENGINE" = 1 ] && SERVICES=(auth-gateway scheduler quota-enforcer metering worker-std-1 worker-std-2)
stop_services () {
    local s p
    for s in "${SERVICES[@]}"; do kill -TERM "${PID_OF[$s]}" 2>/dev/null; done
    for s in "${SERVICES[@]}"; do
        p=${PID_OF[$s]}
        for ((n = 0; n < 100; n++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
    done
}
start_services

URL="http://127.0.0.1:$GW_PORT"
up=0
for ((i = 0; i < 150; i++)); do
    curl -fsS -m 1 "$URL/healthz" >/dev/null 2>&1 && { up=1; break; }
    sleep 0.2
done
[ "$up" -eq 1 ] || { say "gateway /healthz never answered; last log lines:"; tail -n 20 "$TMP/log/auth-gateway.log" >&2; exit 1; }

# Baseline responder: node, a fixed JSON body.
node -e '
const body = JSON.stringify({id:"chatcmpl-x",object:"chat.completion",choices:[{index:0,message:{role:"assistant",content:"hello"},finish_reason:"stop"}],usage:{prompt_tokens:3,completion_tokens:1,total_tokens:4}});
require("http").createServer((q, r) => { q.resume(); q.on("end", () => { r.writeHead(200, {"Content-Type": "application/json"}); r.end(body); }); })
  .listen(+process.argv[1], "127.0.0.1");
' "$NODE_PORT" >"$TMP/log/node-baseline.log" 2>&1 &
PIDS+=($!)

# ---- tenants ---------------------------------------------------------------------------
admin () { curl -s -m 10 -H "Authorization: Bearer $MT_ADMIN_TOKEN" -H 'Content-Type: application/json' "$@"; }
json_field () { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const v=JSON.parse(s)[process.argv[1]];console.log(v===undefined||v===null?"":v)}catch(e){console.log("")}})' "$1"; }
BIG='"max_concurrent_requests":10000,"requests_per_minute":1000000000,"tokens_per_minute":1000000000000,"daily_token_limit":1000000000000000'
reply=$(admin -X POST "$URL/admin/v1/tenants" -d "{\"name\":\"bench\",\"tier\":\"pro\",$BIG}")
KEY=$(printf '%s' "$reply" | json_field api_key)
TID=$(printf '%s' "$reply" | json_field id)
if [ -n "$TID" ]; then   # in case the create body ignores the overrides
    admin -X PATCH "$URL/admin/v1/tenants/$TID" -d "{$BIG}" >/dev/null
fi
reply2=$(admin -X POST "$URL/admin/v1/tenants" -d "{\"name\":\"bench-streams\",\"tier\":\"enterprise\",$BIG}")
SKEY=$(printf '%s' "$reply2" | json_field api_key)
STID=$(printf '%s' "$reply2" | json_field id)
[ -n "$STID" ] && admin -X PATCH "$URL/admin/v1/tenants/$STID" -d "{$BIG}" >/dev/null
[ -n "$KEY" ] || say "could not create the bench tenant: $reply"
sleep 1   # let every gateway cache see the tenants

BODY='{"model":"sim-small","max_tokens":16,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
SBODY='{"model":"sim-small","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
say "sanity request:"
curl -s -m 10 -w ' [HTTP %{http_code}]\n' "$URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d "$BODY" | head -c 600 >&2
echo >&2

lua () {   # file, body
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = [[$2]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF
}
lua "$TMP/chat.lua" "$BODY"
lua "$TMP/stream.lua" "$SBODY"
# Whole choices (ChoiceDelta): a tool call of about 16 steps, and embeddings
TOOL='"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"city":{"type":"string","minLength":20},"days":{"type":"integer"}}}}}]'
lua "$TMP/tool.lua" '{"model":"sim-small","max_tokens":16,'"$TOOL"',"messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
lua "$TMP/toolstream.lua" '{"model":"sim-small","max_tokens":16,"stream":true,'"$TOOL"',"messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
lua "$TMP/embed.lua" '{"model":"sim-small","input":["Say hello to the benchmark.","and again"],"dimensions":64,"encoding_format":"base64"}'

# ---- measurement helpers ------------------------------------------------------------------
cpu_ticks () { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kib () { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_kib () { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A RPS P50 P99 ERRS REQS CPU
# run_wrk label url [lua]: wrk output into $TMP/<label>.wrk, CPU deltas into CPU[label,svc]
run_wrk () {
    local label=$1 url=$2 script=${3:-}
    declare -A before
    for s in "${SERVICES[@]}"; do before[$s]=$(cpu_ticks "${PID_OF[$s]}"); done
    say "wrk $label: -t$THREADS -c$CONNS -d${DUR}s $url"
    wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency ${script:+-s "$script"} "$url" >"$TMP/$label.wrk" 2>&1
    for s in "${SERVICES[@]}"; do
        CPU[$label,$s]=$(( $(cpu_ticks "${PID_OF[$s]}") - ${before[$s]} ))
    done
    local f="$TMP/$label.wrk"
    RPS[$label]=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
    P50[$label]=$(awk '$1 == "50%" { print $2 }' "$f")
    P99[$label]=$(awk '$1 == "99%" { print $2 }' "$f")
    REQS[$label]=$(awk '/requests in/ { print $1 }' "$f")
    local non2xx sock
    non2xx=$(awk '/Non-2xx/ { print $NF }' "$f")
    sock=$(awk -F'[ ,]+' '/Socket errors/ { print $4 + $6 + $8 + $10 }' "$f")
    ERRS[$label]=$(( ${non2xx:-0} + ${sock:-0} ))
    [ -n "${RPS[$label]}" ] || { say "wrk $label produced no result:"; cat "$f" >&2; }
}

[ "$ENGINE" = 1 ] && { . "$ROOT/tests/bench/engine.sh"; exit 0; }

run_wrk node-static "http://127.0.0.1:$NODE_PORT/v1/chat/completions"
run_wrk gw-healthz "$URL/healthz"
run_wrk chat "$URL/v1/chat/completions" "$TMP/chat.lua"
if [ "${ERRS[chat]:-0}" -gt 0 ]; then
    say "chat run had ${ERRS[chat]} errors; one answer now:"
    curl -s -m 10 -D - "$URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' -d "$BODY" | head -c 800 >&2; echo >&2
fi
run_wrk stream "$URL/v1/chat/completions" "$TMP/stream.lua"
run_wrk tool "$URL/v1/chat/completions" "$TMP/tool.lua"
run_wrk toolstream "$URL/v1/chat/completions" "$TMP/toolstream.lua"
run_wrk embed "$URL/v1/embeddings" "$TMP/embed.lua"

# ---- streams figure ------------------------------------------------------------------------
STREAMS_LINE="streams: skipped"
if [ "$NSTREAMS" -gt 0 ] && [ -n "$SKEY" ]; then
    gw=${PID_OF[auth-gateway]}
    rss0=$(rss_kib "$gw")
    say "holding $NSTREAMS concurrent SSE streams (sim-large, 1 token/s)"
    node -e '
const http = require("http");
const [port, key, n, readyFile, doneFile] = [+process.argv[1], process.argv[2], +process.argv[3], process.argv[4], process.argv[5]];
const fs = require("fs");
const body = JSON.stringify({model: "sim-large", stream: true, max_tokens: 60, messages: [{role: "user", content: "hold"}]});
let open = 0, failed = 0, settled = 0, reqs = [], statuses = {}, why = {};
const t0 = Date.now();
function report () {
  const w = Object.keys(why).length? ` why=${JSON.stringify(why)}`: "";
  fs.writeFileSync(readyFile, `open=${open} failed=${failed} ms=${Date.now() - t0} statuses=${JSON.stringify(statuses)}${w}\n`);
}
for (let i = 0; i < n; i++) {
  const r = http.request({host: "127.0.0.1", port, path: "/v1/chat/completions", method: "POST", agent: false,
    headers: {"Content-Type": "application/json", "Authorization": "Bearer " + key, "Content-Length": Buffer.byteLength(body)}},
    res => {
      statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
      let first = true;
      res.on("data", d => {
        if (!first) return;
        first = false;
        if (res.statusCode === 200) open++;
        else {
          failed++;
          let m; try { m = JSON.parse(d).error.message; } catch (e) { m = String(d).slice(0, 80); }
          why[m] = (why[m] || 0) + 1;
        }
        settled++; if (settled === n) report();
      });
      res.on("error", () => {});
    });
  r.on("error", () => { failed++; settled++; if (settled === n) report(); });
  r.end(body); reqs.push(r);
}
setTimeout(report, 30000);
const iv = setInterval(() => { if (fs.existsSync(doneFile)) { clearInterval(iv); for (const r of reqs) r.destroy(); setTimeout(() => process.exit(0), 200); } }, 100);
' "$GW_PORT" "$SKEY" "$NSTREAMS" "$TMP/streams.ready" "$TMP/streams.done" >"$TMP/log/streams-client.log" 2>&1 &
    spid=$!; PIDS+=("$spid")
    for ((i = 0; i < 400; i++)); do [ -s "$TMP/streams.ready" ] && break; sleep 0.1; done
    sleep 0.5
    rss1=$(rss_kib "$gw")
    res=$(cat "$TMP/streams.ready" 2>/dev/null || echo "no answer in 40 s")
    touch "$TMP/streams.done"
    wait "$spid" 2>/dev/null
    sleep 2   # let the gateway see the disconnects and cancel the jobs
    open=$(sed -n 's/.*open=\([0-9]*\).*/\1/p' <<<"$res"); open=${open:-0}
    per=""
    [ "$open" -gt 0 ] && per=$(awk -v a="$rss0" -v b="$rss1" -v n="$open" 'BEGIN { printf ", %.1f KiB per stream", (b - a) / n }')
    STREAMS_LINE=$(awk -v r="$res" -v a="$rss0" -v b="$rss1" -v p="$per" \
        'BEGIN { printf "streams: %s; gateway RSS %.1f MiB before, %.1f MiB with the streams open%s", r, a/1024, b/1024, p }')
fi

# ---- the quota-enforcer and the scheduler under their own load generators ----------------
. "$ROOT/tests/bench/authorities.sh"

# ---- the same path with CURVE off ------------------------------------------------------
# Same tenants (in PostgreSQL), same load; only the service bus changes.
say "restarting every service with MT_CURVE=0"
stop_services
CURVE=0
start_services
ready=0
for ((i = 0; i < 150; i++)); do
    code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/v1/chat/completions" \
           -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$BODY")
    [ "$code" = 200 ] && { ready=1; break; }
    sleep 0.2
done
if [ "$ready" -eq 1 ]; then
    run_wrk chat-plain "$URL/v1/chat/completions" "$TMP/chat.lua"
    run_wrk stream-plain "$URL/v1/chat/completions" "$TMP/stream.lua"
else
    say "the CURVE-off stack never served a chat completion; no CURVE-off figures"
fi

# ---- failover ------------------------------------------------------------------------------------
# The durations the failure tests of the integration suite measure (and, being tests, never
# assert): a stream's end after its worker is killed, 503s while the scheduler is down, the
# request timeout. They run on a stack of their own (tests/integration/run.mjs).
FAILOVER=()
if [ "${MT_BENCH_FAILOVER:-1}" = 1 ] && command -v node >/dev/null; then
    say "failover: worker kill, scheduler down, request timeout"
    MT_IT_ONLY='worker killed|scheduler down|request timeout' MT_IT_MEASURES="$TMP/measures.tsv" \
        BUILD="$BUILD" timeout -k 10 300 node tests/integration/run.mjs >"$TMP/log/failover.out" 2>&1 </dev/null
    while IFS=$'\t' read -r name value unit; do
        FAILOVER+=("$(printf '%-64s %8s %s' "$name" "$value" "$unit")")
    done < <(cat "$TMP/measures.tsv" 2>/dev/null)
    [ ${#FAILOVER[@]} -eq 0 ] && FAILOVER+=("(no figures: see $TMP/log/failover.out; MT_BENCH_KEEP=1 keeps it)")
fi

# ---- report ----------------------------------------------------------------------------------
ratio () { awk -v a="${RPS[$1]:-0}" -v b="${RPS[$2]:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
cpu_ms () { awk -v t="${CPU[$1,$2]:-0}" -v n="${REQS[$1]:-0}" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.4f", t * 1000 / hz / n; else printf "-" }'; }
{
echo
echo "mt-serve bench: $(nproc) cores, wrk -t$THREADS -c$CONNS -d${DUR}s; simulator 16 tokens, 0 ms TTFT/ITL;"
echo "2 standard workers x 256 slots; tenant tier pro with limits lifted. Everything on one machine."
echo
printf '%-34s %12s %10s %10s %10s %8s\n' run requests req/s p50 p99 errors
for l in node-static gw-healthz chat stream chat-plain stream-plain tool toolstream embed; do
    case $l in
        node-static) name="baseline: node static JSON" ;;
        gw-healthz) name="baseline: gateway GET /healthz" ;;
        chat) name="chat completion, non-stream" ;;
        stream) name="chat completion, stream (SSE)" ;;
        chat-plain) name="non-stream, CURVE off" ;;
        stream-plain) name="stream (SSE), CURVE off" ;;
        tool) name="tool call, non-stream" ;;
        toolstream) name="tool call, stream (SSE)" ;;
        embed) name="embeddings, 2 inputs" ;;
    esac
    printf '%-34s %12s %10s %10s %10s %8s\n' "$name" "${REQS[$l]:--}" "${RPS[$l]:--}" "${P50[$l]:--}" "${P99[$l]:--}" "${ERRS[$l]:--}"
done
echo
echo "ratios: non-stream/node-static $(ratio chat node-static), non-stream/gateway-healthz $(ratio chat gw-healthz), stream/non-stream $(ratio stream chat)"
echo "CURVE on/off: non-stream $(ratio chat chat-plain), stream $(ratio stream stream-plain)"
echo
printf '%-18s %16s %16s %14s\n' service "CPU ms/req" "CPU ms/req" "peak RSS"
printf '%-18s %16s %16s %14s\n' "" "(non-stream)" "(stream)" "(VmHWM)"
for s in "${SERVICES[@]}"; do
    pid=${PID_OF[$s]}
    alive=""; kill -0 "$pid" 2>/dev/null || alive=" (died!)"
    printf '%-18s %16s %16s %11s MiB%s\n' "$s" "$(cpu_ms chat "$s")" "$(cpu_ms stream "$s")" \
        "$(awk -v k="$(hwm_kib "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')" "$alive"
done
echo
printf '%-18s %16s %16s %14s\n' service "CPU ms/req" "CPU ms/req" "CPU ms/req"
printf '%-18s %16s %16s %14s\n' "" "(tool call)" "(tool, stream)" "(embeddings)"
for s in "${SERVICES[@]}"; do
    printf '%-18s %16s %16s %14s\n' "$s" "$(cpu_ms tool "$s")" "$(cpu_ms toolstream "$s")" "$(cpu_ms embed "$s")"
done
echo
RELAY_LINE="relay of a choice delta: not measured (cannot build tests/bench/bench_relay.c)"
if cc -O2 -std=gnu11 -I"$BUILD/gen" -Icommon -Iservices/auth-gateway tests/bench/bench_relay.c \
      services/auth-gateway/gw_openai.c services/auth-gateway/gw_sse.c "$BUILD/lib/libmtcommon.a" \
      $(pkg-config --libs jansson libczmq libzmq libprotobuf-c openssl uuid libpq) -lm \
      -o "$TMP/bench_relay" 2>"$TMP/log/bench_relay.log"; then
    RELAY_LINE=$("$TMP/bench_relay")
fi
echo "$RELAY_LINE"
echo
echo "$STREAMS_LINE"
echo
cat "$TMP/authorities.txt" 2>/dev/null
echo
if [ ${#FAILOVER[@]} -gt 0 ]; then
    echo "failover (one run each; tests/integration/t_fail.mjs):"
    printf '  %s\n' "${FAILOVER[@]}"
    echo
fi
} | tee "$TMP/report.txt"
# Key revocation and expiry across two gateways: its own small stack (keys.mjs)
[ "${MT_BENCH_KEYS:-1}" = 0 ] || BUILD="$BUILD" node "$ROOT/tests/bench/keys.mjs" | tee -a "$TMP/report.txt"
exit 0
