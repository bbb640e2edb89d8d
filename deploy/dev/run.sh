#!/usr/bin/env bash
# The development stack: what `make run` executes after installing deps and building.
#
#   BUILD=build bash deploy/dev/run.sh
#
# Starts PostgreSQL in ./var/pg, applies migrations, starts every service under a
# restart loop (as compose or Kubernetes would), logs each to ./var/log/<service>.log
# and to the terminal with the service name in front, creates a demo tenant on first
# start and prints how to make the first request. Ctrl-C or SIGTERM stops everything.
#
# Environment (all optional):
#   BUILD              build folder holding bin/mt-*                     (build)
#   MT_PG_PORT         first PostgreSQL port to try; the next free one is taken (55432)
#   MT_ADMIN_TOKEN     admin API token; else one is generated once into ./var/admin-token
#   MT_GW_HTTP_PORT    gateway HTTP port                                 (8080)
#   MT_GW_HTTP_BIND    gateway HTTP listen address                       (127.0.0.1)
#   MT_ENGINE_URL      OpenAI-compatible engine (http://host:port/v1): workers front it
#                      instead of the simulator; MT_ENGINE_MODELS (comma-separated)
#                      then names the models they serve
#   MT_RUN_PORT_BASE   move every other port: ZMQ and metrics ports become BASE+n
#                      (for running a second stack next to the first)
#   MT_RUN_DIR         state folder                                      (./var)
#   MT_RUN_QUIET=1     do not copy service logs to the terminal
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) BIN="$BUILD/bin" ;; *) BIN="$ROOT/$BUILD/bin" ;; esac
VAR=${MT_RUN_DIR:-$ROOT/var}
mkdir -p "$VAR/log" || exit 1
VAR=$(cd "$VAR" && pwd)
STOP_TIMEOUT_S=${MT_RUN_STOP_TIMEOUT_S:-20}

s_say () { echo "run: $*" >&2; }
s_die () { echo "run: error: $*" >&2; exit 1; }

# ---- ports ---------------------------------------------------------------------
s_port_busy () {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

GW_PORT=${MT_GW_HTTP_PORT:-8080}
GW_BIND=${MT_GW_HTTP_BIND:-127.0.0.1}
if [ -n "${MT_RUN_PORT_BASE:-}" ]; then
    b=$MT_RUN_PORT_BASE
    SCHED_GW_PORT=$((b + 1)); SCHED_WK_PORT=$((b + 2)); QE_PORT=$((b + 3)); MTR_PORT=$((b + 4))
    TOKEN_PORT=$((b + 10)); SCHED_M=$((b + 11)); QE_M=$((b + 12)); MTR_M=$((b + 13))
    WK_M=($((b + 20)) $((b + 21)) $((b + 22)))
    [ -n "${MT_GW_HTTP_PORT:-}" ] || GW_PORT=$b
else
    SCHED_GW_PORT=5551; SCHED_WK_PORT=5552; QE_PORT=5553; MTR_PORT=5554
    TOKEN_PORT=5560; SCHED_M=9101; QE_M=9102; MTR_M=9103
    WK_M=(9110 9111 9112)
fi
ZHOST=127.0.0.1

# ---- preconditions ---------------------------------------------------------------
for s in migrate auth-gateway scheduler quota-enforcer metering worker-adapter; do
    [ -x "$BIN/mt-$s" ] || s_die "$BIN/mt-$s not found: build first (make BUILD=$BUILD)"
done

# One stack per state folder.
if [ -f "$VAR/run.pid" ] && kill -0 "$(cat "$VAR/run.pid" 2>/dev/null)" 2>/dev/null; then
    s_die "another run.sh (pid $(cat "$VAR/run.pid")) is using $VAR; stop it first"
fi

busy=()
for p in "$GW_PORT" "$SCHED_GW_PORT" "$SCHED_WK_PORT" "$QE_PORT" "$MTR_PORT" "$TOKEN_PORT" \
         "$SCHED_M" "$QE_M" "$MTR_M" "${WK_M[@]}"; do
    s_port_busy "$p" && busy+=("$p")
done
if [ ${#busy[@]} -gt 0 ]; then
    s_die "port(s) ${busy[*]} already in use; stop what holds them, or set MT_GW_HTTP_PORT / MT_RUN_PORT_BASE (e.g. MT_RUN_PORT_BASE=18000)"
fi

echo $$ >"$VAR/run.pid"

# ---- supervision -------------------------------------------------------------------
SUP_PIDS=()     # supervisor pids, in start order
SUP_NAMES=()
PG_STARTED=0
TAIL_PID=
STOPPING=0

# Run "$@" as service $1 in a restart loop. The service gets a session of its own
# (no terminal signals); the loop forwards SIGTERM to it, waits, and kills it
# after STOP_TIMEOUT_S.
s_supervise () {
    local name=$1; shift
    local log="$VAR/log/$name.log"
    : >>"$log"
    (
        child='' stop=0 delay_ms=500
        trap 'stop=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
        trap '' INT
        while [ "$stop" -eq 0 ]; do
            started=$SECONDS
            setsid "$@" >>"$log" 2>&1 </dev/null &
            child=$!
            echo "run: $name started pid=$child" >>"$log"
            while :; do
                wait "$child"; code=$?
                kill -0 "$child" 2>/dev/null || break
                [ "$stop" -eq 1 ] && break
            done
            if [ "$stop" -eq 1 ]; then
                for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
                    kill -0 "$child" 2>/dev/null || break
                    sleep 0.1
                done
                if kill -0 "$child" 2>/dev/null; then
                    echo "run: $name did not stop in ${STOP_TIMEOUT_S}s, killing" >>"$log"
                    kill -KILL "$child" 2>/dev/null
                fi
                wait "$child" 2>/dev/null; code=$?
                echo "run: $name stopped code=$code" >>"$log"
                break
            fi
            child=
            # A service that ran a while starts over with a short backoff;
            # a crash loop backs off up to 5 s.
            [ $((SECONDS - started)) -ge 10 ] && delay_ms=500
            echo "run: $name exited code=$code, restarting in $((delay_ms / 1000)).$((delay_ms % 1000 / 100))s" >>"$log"
            sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))" &
            sp=$!
            wait "$sp" 2>/dev/null
            kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
            delay_ms=$((delay_ms * 2)); [ "$delay_ms" -gt 5000 ] && delay_ms=5000
        done
        [ -z "$child" ] && echo "run: $name stopped (was waiting to restart)" >>"$log"
    ) &
    SUP_PIDS+=($!)
    SUP_NAMES+=("$name")
}

s_stop_one () {   # index into SUP_PIDS
    local pid=${SUP_PIDS[$1]}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    # the supervisor itself escalates to SIGKILL after STOP_TIMEOUT_S
    for ((i = 0; i < (STOP_TIMEOUT_S + 5) * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

s_cleanup () {
    [ "$STOPPING" -eq 1 ] && return
    STOPPING=1
    trap '' INT TERM
    s_say "stopping"
    # Gateway first (it drains open streams, which still need workers), then
    # workers, then the services the gateway reports to.
    local order=(auth-gateway worker-standard-1 worker-standard-2 worker-premium-1
                 scheduler quota-enforcer metering)
    for want in "${order[@]}"; do
        for i in "${!SUP_NAMES[@]}"; do
            [ "${SUP_NAMES[$i]}" = "$want" ] && s_stop_one "$i"
        done
    done
    for i in "${!SUP_PIDS[@]}"; do s_stop_one "$i"; done
    if [ "$PG_STARTED" -eq 1 ]; then
        bash deploy/dev/pg.sh stop "$VAR/pg" || true
    fi
    if [ -n "$TAIL_PID" ]; then
        sleep 0.3
        kill "$TAIL_PID" 2>/dev/null; wait "$TAIL_PID" 2>/dev/null
    fi
    rm -f "$VAR/run.pid"
    s_say "stopped"
}
trap 's_cleanup; exit 0' INT
trap 's_cleanup; exit 0' TERM
trap 's_cleanup' EXIT

# ---- PostgreSQL ---------------------------------------------------------------------
if [ -f "$VAR/pg/postmaster.pid" ]; then
    s_say "a PostgreSQL from an earlier run is still up in $VAR/pg: stopping it"
    bash deploy/dev/pg.sh stop "$VAR/pg" || true
fi
PG_PORT=${MT_PG_PORT:-55432}
for ((n = 0; n < 100; n++)); do
    s_port_busy "$PG_PORT" || break
    PG_PORT=$((PG_PORT + 1))
done
s_say "starting PostgreSQL in $VAR/pg on 127.0.0.1:$PG_PORT"
PG_STARTED=1
bash deploy/dev/pg.sh start "$VAR/pg" "$PG_PORT" || s_die "PostgreSQL did not start (see $VAR/pg/server.log)"
export MT_PG_DSN
MT_PG_DSN=$(bash deploy/dev/pg.sh dsn "$PG_PORT")
echo "$PG_PORT" >"$VAR/pg-port"

s_say "applying migrations"
"$BIN/mt-migrate" --pg-dsn="$MT_PG_DSN" --dir="$ROOT/sql/migrations" \
    >>"$VAR/log/migrate.log" 2>&1 || { tail -n 20 "$VAR/log/migrate.log" >&2; s_die "migrations failed"; }

# ---- admin token -------------------------------------------------------------------------
if [ -z "${MT_ADMIN_TOKEN:-}" ]; then
    if [ ! -s "$VAR/admin-token" ]; then
        ( umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$VAR/admin-token" )
    fi
    chmod 600 "$VAR/admin-token"
    MT_ADMIN_TOKEN=$(cat "$VAR/admin-token")
fi
export MT_ADMIN_TOKEN

# ---- services ------------------------------------------------------------------------
export MT_SCHED_GATEWAY_BIND="tcp://$ZHOST:$SCHED_GW_PORT"
export MT_SCHED_WORKER_BIND="tcp://$ZHOST:$SCHED_WK_PORT"
export MT_SCHED_METRICS_PORT=$SCHED_M
export MT_QE_BIND="tcp://$ZHOST:$QE_PORT"
export MT_QE_METRICS_PORT=$QE_M
export MT_MTR_BIND="tcp://$ZHOST:$MTR_PORT"
export MT_MTR_METRICS_PORT=$MTR_M
export MT_GW_HTTP_PORT=$GW_PORT
export MT_GW_HTTP_BIND=$GW_BIND
export MT_GW_TOKEN_BIND="tcp://$ZHOST:$TOKEN_PORT"
export MT_GW_TOKEN_ENDPOINT="tcp://$ZHOST:$TOKEN_PORT"
export MT_GW_SCHEDULER="tcp://$ZHOST:$SCHED_GW_PORT"
export MT_GW_QUOTA="tcp://$ZHOST:$QE_PORT"
export MT_GW_METERING="tcp://$ZHOST:$MTR_PORT"
export MT_WA_SCHEDULER="tcp://$ZHOST:$SCHED_WK_PORT"
# metrics and health endpoints: this machine only
export MT_SCHED_METRICS_BIND=$ZHOST MT_QE_METRICS_BIND=$ZHOST MT_MTR_METRICS_BIND=$ZHOST MT_WA_METRICS_BIND=$ZHOST

STD_MODELS=sim-small
PREM_MODELS=sim-large
WA_BACKEND=(MT_WA_BACKEND=sim)
if [ -n "${MT_ENGINE_URL:-}" ]; then
    WA_BACKEND=(MT_WA_BACKEND=openai "MT_ENGINE_URL=$MT_ENGINE_URL")
    if [ -n "${MT_ENGINE_MODELS:-}" ]; then
        STD_MODELS=$MT_ENGINE_MODELS; PREM_MODELS=$MT_ENGINE_MODELS
    fi
    s_say "workers front the engine at $MT_ENGINE_URL (models $STD_MODELS)"
fi

LOGS=()
for s in quota-enforcer metering scheduler auth-gateway worker-standard-1 worker-standard-2 worker-premium-1; do
    : >>"$VAR/log/$s.log"; LOGS+=("$VAR/log/$s.log")
done
if [ "${MT_RUN_QUIET:-0}" != 1 ]; then
    # One tail over every log; its "==> file <==" headers become the prefix.
    AWK=(awk)   # mawk reads its input in blocks unless told otherwise
    awk -W version 2>&1 | grep -q mawk && AWK=(awk -W interactive)
    tail -n 0 -F "${LOGS[@]}" </dev/null > >(
        trap '' INT   # Ctrl-C: keep showing the services' last lines while they stop
        exec "${AWK[@]}" '/^==> .* <==$/ { n = $2; sub(/.*\//, "", n); sub(/\.log$/, "", n); next }
             /^$/ { next }
             { printf "%-18s| %s\n", n, $0; fflush() }' >&2
    ) 2>/dev/null &
    TAIL_PID=$!
    sleep 0.3   # let tail open the logs before the services write
fi

# ---- CURVE: one keypair per instance, made once in $VAR/curve -------------------------
# secret/<name>.key_secret goes to that instance alone (MT_CURVE_CERT); keys/<role>/
# holds every public certificate (MT_CURVE_KEYS). MT_CURVE=0 turns CURVE off (debugging).
CURVE_DIR=$VAR/curve
export MT_CURVE_KEYS=$CURVE_DIR/keys
if [ "${MT_CURVE:-1}" != 0 ]; then
    for pair in gateway:auth-gateway scheduler:scheduler quota-enforcer:quota-enforcer \
                metering:metering worker:worker-standard-1 worker:worker-standard-2 \
                worker:worker-premium-1; do
        "$BIN/mt-keygen" "$CURVE_DIR" "${pair%%:*}" "${pair#*:}" >/dev/null \
            || s_die "cannot make the CURVE keypair of ${pair#*:} in $CURVE_DIR"
    done
else
    s_say "MT_CURVE=0: the service bus is neither encrypted nor authenticated"
fi
s_cert () { echo "MT_CURVE_CERT=$CURVE_DIR/secret/$1.key_secret"; }

s_supervise quota-enforcer env "$(s_cert quota-enforcer)" "$BIN/mt-quota-enforcer"
s_supervise metering env "$(s_cert metering)" "$BIN/mt-metering"
s_supervise scheduler env "$(s_cert scheduler)" "$BIN/mt-scheduler"
s_supervise auth-gateway env "$(s_cert auth-gateway)" "$BIN/mt-auth-gateway"
n=0
for w in standard-1 standard-2 premium-1; do
    pool=${w%-*}
    models=$STD_MODELS; [ "$pool" = premium ] && models=$PREM_MODELS
    s_supervise "worker-$w" env "$(s_cert "worker-$w")" "${WA_BACKEND[@]}" MT_WA_POOL="$pool" MT_WA_MODELS="$models" \
        MT_WA_ID="$w" MT_WA_METRICS_PORT="${WK_M[$n]}" "$BIN/mt-worker-adapter"
    n=$((n + 1))
done

# ---- wait until ready ----------------------------------------------------------------
# The gateway's /readyz answers 200 once it is connected to the scheduler, the
# quota-enforcer and metering and serves at least one model; each worker's once
# its engine answers (the simulator's at once).
HOST=$GW_BIND; [ "$HOST" = 0.0.0.0 ] && HOST=127.0.0.1
URL="http://$HOST:$GW_PORT"
READY_URLS=("$URL/readyz")
for p in "${WK_M[@]}"; do READY_URLS+=("http://127.0.0.1:$p/readyz"); done
up=0
for ((i = 0; i < 300; i++)); do
    up=1
    for u in "${READY_URLS[@]}"; do
        curl -fsS -m 1 "$u" >/dev/null 2>&1 || { up=0; break; }
    done
    [ "$up" -eq 1 ] && break
    sleep 0.2
done
if [ "$up" -ne 1 ]; then
    s_say "WARNING: not ready after 60 s ($u: $(curl -s -m 1 "$u" 2>&1 | head -c 200)); see $VAR/log/ (still supervising; Ctrl-C stops)"
fi

# ---- demo tenant -----------------------------------------------------------------------
DEMO_KEY=
if [ "$up" -eq 1 ]; then
    if [ -s "$VAR/demo-key" ]; then
        DEMO_KEY=$(cat "$VAR/demo-key")
        code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H "Authorization: Bearer $DEMO_KEY" "$URL/v1/models")
        [ "$code" = 401 ] && DEMO_KEY=   # database was reset: make a new one
    fi
    if [ -z "$DEMO_KEY" ]; then
        body=$(curl -s -m 10 -X POST "$URL/admin/v1/tenants" \
                 -H "Authorization: Bearer $MT_ADMIN_TOKEN" -H 'Content-Type: application/json' \
                 -d '{"name":"demo","tier":"free"}')
        DEMO_KEY=$(printf '%s' "$body" | sed -n 's/.*"api_key" *: *"\([^"]*\)".*/\1/p')
        if [ -z "$DEMO_KEY" ]; then   # "demo" may exist from a run whose key file is gone
            body=$(curl -s -m 10 -X POST "$URL/admin/v1/tenants" \
                     -H "Authorization: Bearer $MT_ADMIN_TOKEN" -H 'Content-Type: application/json' \
                     -d "{\"name\":\"demo-$(date +%s)\",\"tier\":\"free\"}")
            DEMO_KEY=$(printf '%s' "$body" | sed -n 's/.*"api_key" *: *"\([^"]*\)".*/\1/p')
        fi
        if [ -n "$DEMO_KEY" ]; then
            ( umask 077; printf '%s\n' "$DEMO_KEY" >"$VAR/demo-key" )
        else
            s_say "WARNING: could not create the demo tenant: $body"
        fi
    fi
fi

# ---- how to use it ------------------------------------------------------------------------
MODEL=${STD_MODELS%%,*}
KEYTXT=${DEMO_KEY:-sk-...}
health=""
for pm in "scheduler:$SCHED_M" "quota-enforcer:$QE_M" "metering:$MTR_M" \
          "worker-standard-1:${WK_M[0]}" "worker-standard-2:${WK_M[1]}" "worker-premium-1:${WK_M[2]}"; do
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:${pm##*:}/readyz")
    health+="    ${pm%%:*} :${pm##*:}/readyz -> $code"$'\n'
done
cat >&2 <<EOF

================================================================================
 mt-serve development stack
   gateway      $URL   (logs: $VAR/log/, Ctrl-C stops everything)
   PostgreSQL   $MT_PG_DSN
   admin token  $MT_ADMIN_TOKEN
   demo key     $KEYTXT   (tenant "demo", tier free; also in $VAR/demo-key)
$health
 Create a tenant (the reply carries its "api_key"):
   curl -s -X POST $URL/admin/v1/tenants -H 'Authorization: Bearer $MT_ADMIN_TOKEN' -H 'Content-Type: application/json' -d '{"name":"acme","tier":"free"}'

 A chat completion:
   curl -s $URL/v1/chat/completions -H 'Authorization: Bearer $KEYTXT' -H 'Content-Type: application/json' -d '{"model":"$MODEL","messages":[{"role":"user","content":"Hello"}]}'

 The same, streamed:
   curl -sN $URL/v1/chat/completions -H 'Authorization: Bearer $KEYTXT' -H 'Content-Type: application/json' -d '{"model":"$MODEL","stream":true,"messages":[{"role":"user","content":"Hello"}]}'
================================================================================

EOF

# ---- run until told to stop --------------------------------------------------------------
while :; do
    sleep 1 &
    wait $! 2>/dev/null
    alive=0
    for p in "${SUP_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || { s_say "every supervisor is gone"; exit 1; }
done
