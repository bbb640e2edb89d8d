#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, clang) of every parser that reads bytes
# from outside the process. Builds one binary per target into $BUILD/bin, runs
# each for MT_FUZZ_SECONDS, prints one line per target and ends with
# "fuzz: N passed, N failed". A target passes when it found no crash, leak,
# sanitizer report or timeout in its time. Exits 1 on any failure; the input
# that caused it is kept under $BUILD/crashes/<target>/ and named in the output.
#   BUILD=build/fuzz bash tests/fuzz/run.sh            # every target
#   MT_FUZZ_SECONDS=60 bash tests/fuzz/run.sh codec    # some targets
# Reproduce a crash: $BUILD/bin/fuzz_<target> <crash file>
#
# Targets (tests/fuzz/fuzz_<target>.c):
#   codec       mt_codec_decode, every body walked, packed again, mt_codec_free
#   gw_request  gw_request_parse (chat, completion), responses rendered
#   gw_admin    admin routing, tenant, key and admin-token bodies, usage, revoke
#               and audit queries, dates
#   gw_assemble the gateway's stream-to-whole assembly of choice deltas and
#               their splices into stream chunks and whole answers
#   wa_sse      engine SSE stream framing and event JSON (every choice kept),
#               engine error bodies, embeddings answers, the engine request
#               body built from request_json
#   wa_sim      the simulator's reading of request_json: tools, JSON schemas,
#               tool_choice, n, logprobs; embeddings inputs
#   tokens      mt_tokens_count
#   gw_clients  trusted proxies (option text), X-Forwarded-For, client address
# Seeds: tests/fuzz/corpus/<target>/ (read only) and, for codec, envelopes
# written by gen_seeds from the current proto. New inputs libFuzzer finds go to
# $BUILD/corpus/<target>/ and are reused by the next run.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/fuzz}
FUZZ_SECONDS=${MT_FUZZ_SECONDS:-30}
CC=${MT_FUZZ_CC:-clang}
PKGS="libczmq libzmq libprotobuf-c libmicrohttpd libpq jansson libcurl openssl uuid"
ALL_TARGETS="codec gw_request gw_admin gw_assemble wa_sse wa_sim tokens gw_clients"
TARGETS=${*:-$ALL_TARGETS}

as_root () {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- toolchain --------------------------------------------------------------
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: installing clang"
    as_root apt-get install -y clang >/dev/null || { echo "fuzz: cannot install clang" >&2; exit 1; }
fi
mkdir -p "$BUILD/bin" "$BUILD/obj" "$BUILD/gen" "$BUILD/logs"
probe="$BUILD/obj/probe"
echo 'int LLVMFuzzerTestOneInput (const char *d, unsigned long n) { return 0; }' >"$probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" 2>/dev/null; then
    ver=$("$CC" --version | sed -nE 's/.*clang version ([0-9]+).*/\1/p' | head -n 1)
    echo "fuzz: installing libFuzzer (libclang-rt-${ver:-14}-dev)"
    as_root apt-get install -y "libclang-rt-${ver:-14}-dev" >/dev/null
    if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe"; then
        echo "fuzz: $CC cannot link -fsanitize=fuzzer" >&2
        exit 1
    fi
fi

# --- build ------------------------------------------------------------------
protoc-c --c_out="$BUILD/gen" -Iproto proto/mt.proto || exit 1
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread -Wall -Wextra -Wno-unused-parameter \
        -Wno-missing-field-initializers -I$BUILD/gen -Icommon -Iservices/auth-gateway \
        -Iservices/worker-adapter $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm"

# Objects shared by every target: instrumented for coverage, not linked with
# libFuzzer's main
objs=()
for src in common/*.c "$BUILD/gen/mt.pb-c.c" services/auth-gateway/gw_openai.c \
           services/auth-gateway/gw_admin.c services/auth-gateway/gw_clients.c \
           services/auth-gateway/gw_assemble.c services/auth-gateway/gw_sse.c \
           services/worker-adapter/wa_sim.c services/worker-adapter/wa_sim_rich.c; do
    obj="$BUILD/obj/$(basename "${src%.c}").o"
    if ! $CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$obj"; then
        echo "fuzz: cannot compile $src" >&2
        exit 1
    fi
    objs+=("$obj")
done
# gw_openai.o / gw_admin.o / gw_clients.o are only pulled in where used: archive them
ar rcs "$BUILD/obj/libfuzzmt.a" "${objs[@]}"

if ! $CC $CFLAGS -o "$BUILD/bin/gen_seeds" tests/fuzz/gen_seeds.c "$BUILD/gen/mt.pb-c.c" $LIBS; then
    echo "fuzz: cannot build gen_seeds" >&2
    exit 1
fi
rm -rf "$BUILD/seeds/codec"
mkdir -p "$BUILD/seeds/codec"
"$BUILD/bin/gen_seeds" "$BUILD/seeds/codec" || exit 1

# --- run --------------------------------------------------------------------
max_len () {
    case "$1" in
        codec) echo 8192 ;;
        gw_request) echo 8192 ;;
        gw_admin) echo 2048 ;;
        wa_sse) echo 16384 ;;
        gw_assemble) echo 8192 ;;
        wa_sim) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
for t in $TARGETS; do
    src="tests/fuzz/fuzz_$t.c"
    bin="$BUILD/bin/fuzz_$t"
    log="$BUILD/logs/$t.log"
    if [ ! -f "$src" ]; then
        echo "fuzz_$t: FAILED (no $src)"
        failed=$((failed + 1))
        continue
    fi
    if ! $CC $CFLAGS $SAN -fsanitize=fuzzer -o "$bin" "$src" "$BUILD/obj/libfuzzmt.a" $LIBS \
            2>"$log"; then
        echo "fuzz_$t: FAILED (build)"
        sed 's/^/#   /' "$log" | tail -n 20
        failed=$((failed + 1))
        continue
    fi
    corpora=("$BUILD/corpus/$t")
    [ -d "tests/fuzz/corpus/$t" ] && corpora+=("tests/fuzz/corpus/$t")
    [ -d "$BUILD/seeds/$t" ] && corpora+=("$BUILD/seeds/$t")
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    mkdir -p "$BUILD/corpus/$t" "$BUILD/crashes/$t"
    # -close_fd_mask=2: the targets' own log lines are noise; libFuzzer and the
    # sanitizers keep reporting on a copy of stderr
    "$bin" "${corpora[@]}" "${dict[@]}" -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1 \
        -artifact_prefix="$BUILD/crashes/$t/" >"$log" 2>&1 </dev/null
    rc=$?
    runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
    corpus=$(find "$BUILD/corpus/$t" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "fuzz_$t: ok (${FUZZ_SECONDS}s, ${runs:-?} runs, cov ${cov:-?}, corpus $corpus)"
    else
        failed=$((failed + 1))
        crash=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
        what=$(grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error:|==[0-9]+== ERROR: libFuzzer)' "$log" \
               | sed -E 's/^==[0-9]+==//')
        echo "fuzz_$t: FAILED (exit $rc) crash input: ${crash:-none written} log: $log"
        [ -n "$what" ] && echo "#   $what"
        [ -n "$crash" ] && echo "#   reproduce: $bin $crash"
        grep -m 12 -E '^ +#[0-9]+ ' "$log" | sed 's/^/#   /'
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
