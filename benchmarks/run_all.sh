#!/usr/bin/env bash
# Run every benchmarks/bench_*.py script (found by glob, so new ones join automatically), one
# after another, then print each script's final "RESULT:" line and exit non-zero if any failed.
#
#   benchmarks/run_all.sh                 # every script, default (full) sizes
#   benchmarks/run_all.sh e2e validate    # only bench_e2e.py and bench_validate.py
#
# A script fails when it exits non-zero, prints no "RESULT:" line, or its last RESULT: line
# does not end in PASS. Full output of each script goes to $BENCH_LOG_DIR (default: a new
# temporary folder, printed at the end). PYTHON picks the interpreter (default: the project
# venv if present, else python3). The benchmarks measure time: run them on a quiet machine;
# the load average is printed before each script so noisy numbers can be recognised.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x /work/venv/bin/python ]]; then PYTHON=/work/venv/bin/python; else PYTHON=python3; fi
fi
logs="${BENCH_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/fairsel-bench.XXXXXX")}"
mkdir -p "$logs"

scripts=()
if [[ $# -gt 0 ]]; then
    for name in "$@"; do
        f="$here/bench_${name#bench_}"
        f="${f%.py}.py"
        if [[ ! -f "$f" ]]; then
            echo "run_all.sh: no such benchmark: $f" >&2
            exit 2
        fi
        scripts+=("$f")
    done
else
    shopt -s nullglob
    scripts=("$here"/bench_*.py)
    shopt -u nullglob
fi
if [[ ${#scripts[@]} -eq 0 ]]; then
    echo "run_all.sh: no benchmarks/bench_*.py scripts found" >&2
    exit 2
fi

names=()
statuses=()
results=()
failed=0
cd "$root" || exit 2
for script in "${scripts[@]}"; do
    name="$(basename "$script" .py)"
    log="$logs/$name.log"
    echo "=== $name  ($(date '+%H:%M:%S'), load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))"
    start=$SECONDS
    args=()
    # bench_chunks writes a 100M-row Parquet folder (about 0.5 GB) to /tmp: remove it afterwards.
    [[ "$name" == bench_chunks ]] && args=(--delete)
    "$PYTHON" -u "$script" "${args[@]}" 2>&1 | tee "$log"
    code=${PIPESTATUS[0]}
    took=$((SECONDS - start))
    result="$(grep -E '^RESULT:' "$log" | tail -n 1)"
    if [[ -z "$result" ]]; then
        status="FAIL (no RESULT: line, exit $code)"
        result="RESULT: (missing)"
    elif [[ $code -ne 0 ]]; then
        status="FAIL (exit $code)"
    elif [[ ! "$result" =~ PASS[[:space:]]*$ ]]; then
        status="FAIL (RESULT does not end in PASS)"
    else
        status="ok"
    fi
    [[ "$status" == ok ]] || failed=$((failed + 1))
    names+=("$name")
    statuses+=("$status, ${took}s")
    results+=("$result")
    echo
done

echo "=== summary (${#names[@]} benchmark(s); logs in $logs)"
for i in "${!names[@]}"; do
    printf '%-20s %s\n    %s\n' "${names[$i]}" "${statuses[$i]}" "${results[$i]}"
done
if [[ $failed -gt 0 ]]; then
    echo "$failed of ${#names[@]} benchmark(s) failed"
    exit 1
fi
echo "all ${#names[@]} benchmark(s) passed"
