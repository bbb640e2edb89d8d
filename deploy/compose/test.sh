#!/usr/bin/env bash
# make compose-test: docker-compose.yml run for real with podman on this machine.
#
# Builds the images from base images made here (mmdebstrap from this machine's
# apt mirror, `podman import`ed: no registry), brings the compose stack up with
# podman-compose on a shifted host port, waits for readiness, creates tenants
# with the admin API, runs a non-streamed and a streamed chat completion and a
# 429, checks the usage rows in PostgreSQL, and tears everything down: no
# container, network or volume of it is left, and every sysctl it changed is
# restored. Prints how long each phase took and the image sizes; ends with
# "compose-test: N passed, N failed".
#
# Environment (all optional):
#   MT_COMPOSE_PORT     host port of the gateway                (18080)
#   MT_COMPOSE_PROJECT  compose project name                    (mt-compose-test)
#   MT_COMPOSE_COLD=1   remove this test's images first (a cold run)
#   MT_COMPOSE_KEEP_LOGS=DIR  copy every container's log there before teardown
#
# What this machine needs (and this script sets, for itself only):
# - runc, not crun (crun 1.8 refuses the cgroup v1/v2 hybrid), and default
#   ulimits the container may set: a containers.conf of our own, passed by
#   CONTAINERS_CONF (nothing under /etc is edited);
# - iptables for netavark (whose chains and rules are put back as they were);
# - net.ipv4.conf.all.arp_notify=1 while the test runs: netavark 1.4's bridge
#   changes its MAC address as containers join, and containers that cached the
#   old one cannot reach the DNS server for up to ~30 s (fixed in netavark 1.9).
#   netavark itself turns net.ipv4.ip_forward on; both go back afterwards.
# podman-compose 1.0.3 ignores depends_on conditions, runs no healthchecks
# without systemd and stops containers with a short timeout: this script
# waits for readiness itself, runs `podman healthcheck run`, and stops the
# gateway with its drain time before `down`.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd)
PORT=${MT_COMPOSE_PORT:-18080}
PROJECT=${MT_COMPOSE_PROJECT:-mt-compose-test}
BASE_IMAGE=localhost/mt-debian:12
PG_IMAGE=localhost/mt-postgres:15
MT_IMAGE=localhost/mt-serve:dev
ADMIN_TOKEN=adm-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
PG_PASSWORD=pg-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mt-compose.XXXXXX")

passed=0
failed=0
T0=$(date +%s.%N)
PHASE_T=$T0
UP_T=

s_say () { echo "compose-test: $*"; }
s_now () { date +%s.%N; }
s_secs () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
s_phase () {        # end of a phase: its time
    local now; now=$(s_now)
    s_say "phase=$1 seconds=$(s_secs "$PHASE_T" "$now")"
    PHASE_T=$now
}
s_ok () { passed=$((passed + 1)); echo "ok - $1"; }
s_fail () { failed=$((failed + 1)); echo "not ok - $1"; }
s_check () {        # s_check NAME COMMAND...
    local name=$1; shift
    if "$@"; then s_ok "$name"; else s_fail "$name"; fi
}

# ---- packages ----------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    s_say "needs root (rootful podman, sysctl)"; echo "0 passed, 1 failed"; exit 1
fi
bash deploy/dev/install-deps.sh containers || { s_say "installing packages failed"; exit 1; }

# ---- sysctls: remember, change, restore --------------------------------------------
SYSCTL_KEYS="net.ipv4.ip_forward net.ipv4.conf.all.arp_notify net.ipv4.conf.default.arp_notify
net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding net.ipv6.conf.all.forwarding
net.ipv4.conf.all.route_localnet net.ipv4.conf.all.rp_filter"
for k in $SYSCTL_KEYS; do
    v=$(sysctl -n "$k" 2>/dev/null) && echo "$k=$v"
done >"$TMP/sysctl.before"

# netavark adds iptables chains and rules and leaves some behind: the tables
# go back to what they were (taken before the first podman command)
s_fw_dump () {      # the rules and the chains of our own, without counters
    { iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | sed 's/ *\[[0-9]*:[0-9]*\]//' \
        | grep -E '^(-A |:[^ ]+ -$)'
}
iptables-save >"$TMP/iptables.before" 2>/dev/null
ip6tables-save >"$TMP/ip6tables.before" 2>/dev/null
s_fw_dump >"$TMP/fw.before"

s_restore_firewall () {
    s_fw_dump >"$TMP/fw.after"
    cmp -s "$TMP/fw.before" "$TMP/fw.after" && return 0
    local cmd tbl
    for cmd in iptables ip6tables; do
        if [ -s "$TMP/$cmd.before" ]; then
            "$cmd-restore" <"$TMP/$cmd.before"
        else            # no table was loaded before: empty every table again
            for tbl in filter nat mangle raw; do "$cmd" -t "$tbl" -F 2>/dev/null; "$cmd" -t "$tbl" -X 2>/dev/null; done
        fi
    done
    s_say "iptables restored"
}

s_restore_sysctls () {
    local k v now
    while IFS='=' read -r k v; do
        now=$(sysctl -n "$k" 2>/dev/null) || continue
        if [ "$now" != "$v" ]; then
            sysctl -q -w "$k=$v" >/dev/null 2>&1 || s_say "WARNING: could not restore $k=$v"
            s_say "sysctl restored $k=$v (was $now)"
        fi
    done <"$TMP/sysctl.before"
}

# ---- podman, for this script only ---------------------------------------------------------
# default ulimits: the shell's hard limits, lowered while the runtime refuses
# them (here it refuses nproc above 32768)
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
[ "$NPROC" = unlimited ] && NPROC=1048576
s_conf () {
    cat >"$TMP/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
CONF
}
s_conf
export CONTAINERS_CONF=$TMP/containers.conf

COMPOSE=(podman-compose -p "$PROJECT" -f "$ROOT/docker-compose.yml")
export MT_GW_PUBLISH_PORT=$PORT MT_GW_PUBLISH_ADDR=127.0.0.1 MT_IMAGE MT_PG_IMAGE=$PG_IMAGE
export MT_ADMIN_TOKEN=$ADMIN_TOKEN MT_PG_PASSWORD=$PG_PASSWORD
export MT_BASE_IMAGE=$BASE_IMAGE MT_RUNTIME_IMAGE=$BASE_IMAGE

s_project_left () {   # containers, networks or volumes of the project still there
    {
        podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'
        podman network ls --format '{{.Name}}' | grep -E "^${PROJECT}_" || true
        podman volume ls --format '{{.Name}}' | grep -E "^${PROJECT}_" || true
    } 2>/dev/null | grep -v '^$'
}

TORN_DOWN=0
s_teardown () {
    [ "$TORN_DOWN" -eq 1 ] && return
    TORN_DOWN=1
    local t; t=$(s_now)
    if [ -n "${MT_COMPOSE_KEEP_LOGS:-}" ]; then
        mkdir -p "$MT_COMPOSE_KEEP_LOGS"
        for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
            podman logs "$c" >"$MT_COMPOSE_KEEP_LOGS/$c.log" 2>&1
        done
    fi
    # The gateway first, with its drain time (podman-compose stops with a short one)
    podman stop -t 15 "${PROJECT}_auth-gateway_1" >/dev/null 2>&1
    "${COMPOSE[@]}" down -v >"$TMP/down.log" 2>&1
    # Whatever down left (a container restarting, the network, the volume)
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
        podman rm -f -t 5 "$c" >/dev/null 2>&1
    done
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1
    podman volume rm -f "${PROJECT}_pgdata" "${PROJECT}_curve" >/dev/null 2>&1
    s_restore_firewall
    s_restore_sysctls
    PHASE_T=$t
    s_phase down
}
s_exit () {
    s_teardown
    local left; left=$(s_project_left)
    if [ -n "$left" ]; then
        s_fail "nothing left running: $(echo $left)"
    else
        s_ok "nothing left: no container, network or volume of $PROJECT"
    fi
    local bad=0 k v now
    while IFS='=' read -r k v; do
        now=$(sysctl -n "$k" 2>/dev/null) || continue
        [ "$now" = "$v" ] || { bad=1; s_say "sysctl $k is $now, was $v"; }
    done <"$TMP/sysctl.before"
    if [ "$bad" -eq 0 ]; then s_ok "every sysctl as before"; else s_fail "every sysctl as before"; fi
    s_fw_dump >"$TMP/fw.after"
    if cmp -s "$TMP/fw.before" "$TMP/fw.after"; then s_ok "iptables as before"
    else s_fail "iptables as before: $(diff "$TMP/fw.before" "$TMP/fw.after" | head -n 5 | tr '\n' ' ')"; fi
    rm -rf "$TMP"
    s_say "total seconds=$(s_secs "$T0" "$(s_now)")"
    echo "compose-test: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}
trap 's_exit' EXIT
trap 's_fail "interrupted"; exit 1' INT TERM

# A stack of an earlier, interrupted run
if [ -n "$(s_project_left)" ]; then
    s_say "removing what an earlier run left"
    TORN_DOWN=0; s_teardown; TORN_DOWN=0
fi
sysctl -q -w net.ipv4.conf.all.arp_notify=1 >/dev/null
s_phase setup

# ---- a runnable ulimit (probe with the base image once it exists) -------------------------
s_probe_ulimits () {
    local i
    for i in 1 2 3 4 5 6; do
        podman run --rm --network none "$BASE_IMAGE" true >/dev/null 2>"$TMP/probe.err" && return 0
        grep -q 'rlimit' "$TMP/probe.err" || return 1
        NPROC=$((NPROC / 2)); [ "$NPROC" -gt 32768 ] && NPROC=32768
        s_conf
    done
    return 1
}

# ---- images ----------------------------------------------------------------------------------
if [ "${MT_COMPOSE_COLD:-0}" = 1 ]; then
    podman rmi -f "$MT_IMAGE" "$PG_IMAGE" "$BASE_IMAGE" >/dev/null 2>&1
    podman image prune -f >/dev/null 2>&1
fi
if ! podman image exists "$BASE_IMAGE"; then
    # The machine's own apt sources, so the image uses the same mirror
    src=/etc/apt/sources.list.d/debian.sources
    [ -f "$src" ] || src=/etc/apt/sources.list
    if ! mmdebstrap --variant=minbase --mode=root --format=tar \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
            bookworm "$TMP/base.tar" "$src" >"$TMP/mmdebstrap.log" 2>&1; then
        tail -n 20 "$TMP/mmdebstrap.log"; s_fail "base image (mmdebstrap)"; exit 1
    fi
    podman import --change 'CMD ["bash"]' "$TMP/base.tar" "$BASE_IMAGE" >"$TMP/import.log" 2>&1 \
        || { cat "$TMP/import.log"; s_fail "podman import"; exit 1; }
    rm -f "$TMP/base.tar"
fi
s_probe_ulimits || { cat "$TMP/probe.err"; s_fail "a container runs"; exit 1; }
s_say "ulimits nofile=$NOFILE nproc=$NPROC runtime=runc"
s_phase base-image

BUILD_OPTS=(--build-arg "MT_BASE_IMAGE=$BASE_IMAGE" --build-arg "MT_RUNTIME_IMAGE=$BASE_IMAGE")
if ! podman build -q -f deploy/docker/Dockerfile "${BUILD_OPTS[@]}" -t "$MT_IMAGE" . >"$TMP/build.log" 2>&1; then
    tail -n 30 "$TMP/build.log"; s_fail "build $MT_IMAGE"; exit 1
fi
if ! podman build -q -f deploy/docker/postgres.Dockerfile --build-arg "MT_BASE_IMAGE=$BASE_IMAGE" \
        -t "$PG_IMAGE" deploy/docker >"$TMP/build-pg.log" 2>&1; then
    tail -n 30 "$TMP/build-pg.log"; s_fail "build $PG_IMAGE"; exit 1
fi
s_ok "images built"
s_phase images
for img in "$MT_IMAGE" "$PG_IMAGE" "$BASE_IMAGE"; do
    s_say "image=$img size=$(podman image inspect --format '{{.Size}}' "$img" | awk '{ printf "%.0fMB", $1 / 1e6 }')"
done
# No compiler in the runtime image, and it runs as a user
if podman run --rm --network none --entrypoint sh "$MT_IMAGE" -c 'command -v cc gcc make; exit 0' | grep -q .; then
    s_fail "runtime image has no compiler"
else
    s_ok "runtime image has no compiler"
fi
s_check "runtime image runs as uid 10001" \
    test "$(podman run --rm --network none "$MT_IMAGE" id -u 2>/dev/null)" = 10001

# ---- up --------------------------------------------------------------------------------------
UP_T=$(s_now)
if ! "${COMPOSE[@]}" up -d --no-build >"$TMP/up.log" 2>&1; then
    tail -n 30 "$TMP/up.log"; s_fail "podman-compose up"; exit 1
fi
s_phase up
URL="http://127.0.0.1:$PORT"
ready=0
for ((i = 0; i < 600; i++)); do
    curl -fsS -m 2 "$URL/readyz" >/dev/null 2>&1 && { ready=1; break; }
    sleep 0.2
done
if [ "$ready" -ne 1 ]; then
    s_fail "gateway /readyz 200 within 120 s ($(curl -s -m 2 "$URL/readyz"))"
    for c in $(podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}'); do
        echo "# --- $c"; podman logs --tail 8 "$c" 2>&1 | sed 's/^/#   /'
    done
    exit 1
fi
s_ok "gateway /readyz 200"
s_say "ready after up seconds=$(s_secs "$UP_T" "$(s_now)")"
s_phase ready
# The compose healthchecks themselves (podman-compose does not schedule them)
hc_bad=
hc_n=0
for svc in auth-gateway scheduler quota-enforcer metering worker-standard worker-premium postgres; do
    for c in $(podman ps --filter "label=com.docker.compose.service=$svc" --format '{{.Names}}'); do
        ok=0
        for ((i = 0; i < 20; i++)); do
            podman healthcheck run "$c" >/dev/null 2>&1 && { ok=1; break; }
            sleep 0.5
        done
        [ "$ok" -eq 1 ] || hc_bad+=" $c"
        hc_n=$((hc_n + 1))
    done
done
if [ -z "$hc_bad" ] && [ "$hc_n" -eq 8 ]; then
    s_ok "every compose healthcheck passes ($hc_n containers)"
else
    s_fail "healthchecks: $hc_n of 8 containers checked, failing:${hc_bad:- none}"
fi
n=$(podman ps --filter "label=com.docker.compose.service=worker-standard" --format '{{.Names}}' | wc -l)
s_check "two standard workers (deploy.replicas)" test "$n" -eq 2

# ---- requests --------------------------------------------------------------------------------
s_json () {        # s_json FIELD: a string field of the JSON on stdin
    sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" | head -n 1
}
s_tenant () {      # s_tenant BODY -> "id key"
    local body
    body=$(curl -s -m 10 -X POST "$URL/admin/v1/tenants" -H "Authorization: Bearer $ADMIN_TOKEN" \
             -H 'Content-Type: application/json' -d "$1")
    echo "$(printf '%s' "$body" | s_json id) $(printf '%s' "$body" | s_json api_key)"
}
read -r TID KEY <<<"$(s_tenant '{"name":"compose-acme","tier":"free"}')"
s_check "admin API creates a tenant" test -n "$KEY"
CHAT='{"model":"sim-small","messages":[{"role":"user","content":"Hello from compose"}]}'
code=$(curl -s -o "$TMP/chat.json" -w '%{http_code}' -m 30 "$URL/v1/chat/completions" \
         -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$CHAT")
FIRST_T=$(s_now)
if [ "$code" = 200 ] && grep -q '"completion_tokens"' "$TMP/chat.json"; then
    s_ok "chat completion 200 with usage"
else
    s_fail "chat completion: $code $(head -c 300 "$TMP/chat.json")"
fi
s_say "first completion after up seconds=$(s_secs "$UP_T" "$FIRST_T")"
curl -sN -m 30 "$URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"sim-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}' \
    >"$TMP/stream.txt" 2>&1
if [ "$(tail -n 2 "$TMP/stream.txt" | head -n 1)" = "data: [DONE]" ] && grep -q '"usage"' "$TMP/stream.txt"; then
    s_ok "streamed chat completion ends with usage and [DONE]"
else
    s_fail "streamed chat completion: $(tail -c 300 "$TMP/stream.txt")"
fi
read -r _ KEY2 <<<"$(s_tenant '{"name":"compose-limited","tier":"free","requests_per_minute":1}')"
curl -s -o /dev/null -m 30 "$URL/v1/chat/completions" -H "Authorization: Bearer $KEY2" \
    -H 'Content-Type: application/json' -d "$CHAT"
code=$(curl -s -o "$TMP/429.json" -w '%{http_code}' -m 30 "$URL/v1/chat/completions" \
         -H "Authorization: Bearer $KEY2" -H 'Content-Type: application/json' -d "$CHAT")
if [ "$code" = 429 ] && grep -q rate_limit_exceeded "$TMP/429.json"; then
    s_ok "over requests/minute: 429 rate_limit_exceeded"
else
    s_fail "429: $code $(head -c 300 "$TMP/429.json")"
fi
# The ledger: one request_logs row per served request of the tenant
rows=
for ((i = 0; i < 50; i++)); do
    rows=$(podman exec "${PROJECT}_postgres_1" psql -h /tmp -U mt -d mt -Atc \
             "SELECT count(*), sum(completion_tokens) FROM request_logs WHERE tenant_id = '$TID'" \
             2>/dev/null </dev/null) || rows=
    [ "${rows%%|*}" = 2 ] && break
    sleep 0.2
done
if [ "${rows%%|*}" = 2 ] && [ "${rows##*|}" -gt 0 ] 2>/dev/null; then
    s_ok "usage in PostgreSQL: 2 request_logs rows ($rows)"
else
    s_fail "usage rows in PostgreSQL: '$rows'"
fi
s_phase requests
