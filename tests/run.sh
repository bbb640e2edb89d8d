#!/usr/bin/env bash
# Runs every unit test binary in $BUILD/tests, then (unless MT_ONLY_UNIT=1) the
# integration suite against the real services in $BUILD/bin and a real
# PostgreSQL, then the validation of the Kubernetes overlays and the compose
# file (tests/deploy). Counts test cases (a unit binary's cases, an integration
# test, a deploy check), never single checks: prints "unit: N passed, N failed",
# "integration: N passed, N failed", "deploy: N passed, N failed", and ends
# with one line "N passed, N failed" (their sum); exits 1 when anything failed
# or nothing ran.
#   BUILD=build bash tests/run.sh
#   MT_SANITIZED=1   sanitizer build: longer bounds, sanitizer reports fail tests
#   MT_ONLY_UNIT=1   unit tests only
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mt-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Time bounds: a unit binary, and the whole integration suite.
unit_bound=120
it_bound=420
if [ "${MT_SANITIZED:-0}" = 1 ]; then unit_bound=300; it_bound=600; fi

# "<name>: N passed, N failed" as the last line of a file -> "N M", or nothing.
summary () {
    tail -n 1 "$1" | sed -nE 's/^([A-Za-z0-9_.-]+: )?([0-9]+) passed, ([0-9]+) failed[[:space:]]*$/\2 \3/p'
}

# npm ci in DIR when its package-lock.json changed since the last install.
npm_ci () {
    local dir=$1
    cmp -s "$dir/package-lock.json" "$dir/node_modules/.mt-lock" 2>/dev/null && return 0
    if (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --no-update-notifier \
            --loglevel=error >"$tmp/npm.out" 2>&1); then
        cp "$dir/package-lock.json" "$dir/node_modules/.mt-lock"
    else
        echo "# npm ci in $dir failed:"
        tail -n 5 "$tmp/npm.out" | sed 's/^/#   /'
    fi
}

# "<name>: N checks" in a unit binary's output -> N (0 without one).
checks () {
    local n
    n=$(sed -nE "s/^$2: ([0-9]+) checks\$/\1/p" "$1" | tail -n 1)
    echo "${n:-0}"
}

unit_checks=0
shopt -s nullglob
units=("$BUILD"/tests/test_*)
if [ ${#units[@]} -eq 0 ]; then
    echo "run: no unit test binaries in $BUILD/tests" >&2
fi
for t in "${units[@]}"; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out="$tmp/$name.out"
    timeout -k 10 "$unit_bound" "$t" >"$out" 2>"$tmp/$name.err" </dev/null
    rc=$?
    counts=$(summary "$out")
    if [ -z "$counts" ]; then
        failed=$((failed + 1))
        echo "$name: FAILED (exit $rc, no summary line)"
        tail -n 20 "$tmp/$name.err" | sed 's/^/#   /'
        continue
    fi
    read -r p f <<<"$counts"
    passed=$((passed + p))
    failed=$((failed + f))
    unit_checks=$((unit_checks + $(checks "$out" "$name")))
    # A crash after the summary, or a non-zero exit with nothing failed.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        failed=$((failed + 1))
        echo "$name: exit $rc with no failed check"
    fi
    tail -n 1 "$out"
    if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
        tail -n 30 "$tmp/$name.err" | sed 's/^/#   /'
    fi
done

echo "unit: $unit_checks checks"
echo "unit: $passed passed, $failed failed"

if [ "${MT_ONLY_UNIT:-0}" != 1 ]; then
    if ! command -v node >/dev/null 2>&1; then
        echo "integration: node not found"
        failed=$((failed + 1))
    else
        # The official OpenAI client, pinned in package-lock.json; installed
        # again only when the lock changed. Without it, only its test fails.
        npm_ci tests/integration
        out="$tmp/integration.out"
        # node stops its own children and PostgreSQL on SIGTERM.
        timeout -k 30 "$it_bound" node tests/integration/run.mjs </dev/null 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
        counts=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 \
                 | sed -E 's/^integration: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/')
        if [ -z "$counts" ]; then
            failed=$((failed + 1))
            echo "integration: FAILED (exit $rc, no summary line)"
        else
            read -r p f <<<"$counts"
            passed=$((passed + p))
            failed=$((failed + f))
            if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
                failed=$((failed + 1))
                echo "integration: exit $rc with no failed test"
            fi
        fi
    fi
fi

# Kubernetes overlays and docker-compose.yml: against their schemas and the
# checks of tests/deploy/validate.mjs (npm packages pinned in its lock file).
if [ "${MT_ONLY_UNIT:-0}" != 1 ]; then
    kdir=tests/deploy
    npm_ci "$kdir"
    out="$tmp/deploy.out"
    timeout -k 10 120 node "$kdir/validate.mjs" </dev/null >"$out" 2>&1
    rc=$?
    grep -v '^ok - ' "$out"
    counts=$(grep -E '^deploy: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 \
             | sed -E 's/^deploy: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/')
    if [ -z "$counts" ]; then
        failed=$((failed + 1))
        echo "deploy: FAILED (exit $rc, no summary line)"
        tail -n 10 "$out" | sed 's/^/#   /'
    else
        read -r p f <<<"$counts"
        passed=$((passed + p))
        failed=$((failed + f))
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { failed=$((failed + 1)); echo "deploy: exit $rc with no failed check"; }
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ $((passed + failed)) -gt 0 ]
