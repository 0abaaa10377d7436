#!/usr/bin/env bash
# Fuzzing with libFuzzer under ASan+UBSan (tests/fuzz/README.md).
#
#   scripts/fuzz.sh TARGET|all SECONDS [LIBFUZZER_FLAG...]   fuzz for SECONDS (each target, for all)
#   scripts/fuzz.sh min TARGET FILE [SECONDS]                minimize a crashing input into FILE.min
#   scripts/fuzz.sh list                                     the targets
#
# Builds (when needed) the libFuzzer binaries with clang in build-fuzz/ (FP8LAB_FUZZ_BUILD overrides), copies the
# seed corpus tests/fuzz/corpus/TARGET and the regression corpus tests/fuzz/regress/TARGET into a scratch folder
# (the repository is never written), and runs there with -timeout=10 (60 for flags; an input running longer is a hang),
# -rss_limit_mb=2048 and -print_final_stats=1, plus tests/fuzz/dict/TARGET.dict when it exists. Prints the
# executions and coverage of each run; exits 1 when any run found a crash, hang, leak, out-of-memory or
# sanitizer report, after printing the report's summary and the reproducer's path (the scratch folder is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${FP8LAB_FUZZ_BUILD:-build-fuzz}
case $build in /*) ;; *) build=$root/$build ;; esac
cc=${FP8LAB_FUZZ_CC:-clang}
cxx=${FP8LAB_FUZZ_CXX:-clang++}

targets=$(sed -n 's/^fp8lab_fuzz_target(\([A-Za-z0-9_]*\)).*/\1/p' tests/fuzz/CMakeLists.txt)

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    echo "targets: $(tr '\n' ' ' <<<"$targets")" >&2
    exit 2
}
known() { grep -qxF -- "$1" <<<"$targets" || { echo "fuzz.sh: unknown target '$1'" >&2; usage; }; }

[ $# -ge 1 ] || usage
if [ "$1" = list ]; then
    echo "$targets"
    exit 0
fi

build_targets() { # build_targets TARGET...
    if ! command -v "$cc" >/dev/null; then
        echo "fuzz.sh: $cc not found (Debian: apt-get install clang libclang-rt-dev llvm)" >&2
        exit 1
    fi
    # one configure and build at a time: fuzz.sh runs side by side share the build folder
    mkdir -p "$build"
    exec 9>"$build/.fuzz-build.lock"
    flock 9
    # configured every time (a few seconds): a target added since the last run must exist for the build below
    echo "== fuzz.sh: configuring $build ($cc, libFuzzer, ASan+UBSan, CPU only)"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_CXX_COMPILER="$cxx" -DFP8LAB_CUDA=OFF -DFP8LAB_SANITIZE=ON -DFP8LAB_FUZZ=ON \
        -DFP8LAB_WERROR=ON >"$build/fuzz-configure.log" 2>&1 || {
        cat "$build/fuzz-configure.log" >&2
        exit 1
    }
    local t names=()
    for t in "$@"; do names+=("fuzz_$t"); done
    echo "== fuzz.sh: building ${names[*]}"
    cmake --build "$build" -j"$(nproc)" --target "${names[@]}" >"$build/fuzz-build.log" 2>&1 || {
        tail -n 60 "$build/fuzz-build.log" >&2
        echo "fuzz.sh: build failed (full log: $build/fuzz-build.log)" >&2
        exit 1
    }
    exec 9>&- # the runs themselves go side by side
}

# Sanitizer settings for every run: stop at the first report, with a symbolized stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1:allocator_may_return_null=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:symbolize=1}
for s in llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
    if command -v "$s" >/dev/null; then
        export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v "$s")}
        break
    fi
done
export FP8LAB_SOURCE_DIR=$root OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

if [ "$1" = min ]; then # min TARGET FILE [SECONDS]
    [ $# -ge 3 ] || usage
    known "$2"
    build_targets "$2"
    in=$(realpath "$3")
    secs=${4:-60}
    "$build/tests/fuzz/fuzz_$2" -minimize_crash=1 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -exact_artifact_path="$in.min" "$in" >"$in.min.log" 2>&1 || true
    grep -E '^(CRASH_MIN|\*\*\*|ERROR|SUMMARY)' "$in.min.log" | tail -n 5 || true
    [ -f "$in.min" ] || { echo "fuzz.sh: no minimized input (does $in still crash? log: $in.min.log)" >&2; exit 1; }
    echo "fuzz.sh: minimized: $in.min ($(stat -c %s "$in.min") bytes, from $(stat -c %s "$in"))"
    exit 0
fi

[ $# -ge 2 ] || usage
what=$1
secs=$2
shift 2
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "fuzz.sh: SECONDS must be a positive whole number" >&2
    usage
fi
if [ "$what" = all ]; then
    run=$targets
else
    known "$what"
    run=$what
fi
# shellcheck disable=SC2086
build_targets $run

summary=()
failed=0
for t in $run; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/fp8lab-fuzz-$t.XXXXXX")
    mkdir "$work/corpus" "$work/artifacts"
    for d in "tests/fuzz/corpus/$t" "tests/fuzz/regress/$t"; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$work/corpus/" \;
    done
    # an input running past the timeout is a hang; flags runs whole cost sweeps, whose largest legal one (4096
    # DeepSeek-V3 points, 0.6 s in a release build) takes ~14 s under ASan+UBSan on 2 cores
    tmo=10
    [ "$t" = flags ] && tmo=60
    opts=(-max_total_time="$secs" -timeout="$tmo" -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$work/artifacts/")
    [ -f "tests/fuzz/dict/$t.dict" ] && opts+=(-dict="$root/tests/fuzz/dict/$t.dict")
    echo "== fuzz.sh: $t for ${secs}s ($(find "$work/corpus" -type f | wc -l) seed and regression inputs; scratch $work)"
    rc=0
    # the hard limit covers libFuzzer's own start (corpus loading) and end
    (cd "$work" && TMPDIR=$work timeout -k 10 $((secs + 300)) "$build/tests/fuzz/fuzz_$t" "${opts[@]}" "$@" "$work/corpus") \
        >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    last=$(grep -E '^#[0-9]+[[:space:]]' "$work/log" | grep 'cov: ' | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    grep -E '^(stat::|Done [0-9]+ runs)' "$work/log" || true
    [ -n "$last" ] && echo "$last"
    if [ "$rc" -eq 0 ]; then
        summary+=("$(printf '%-10s ok      executions %-10s cov %-6s ft %-7s corpus %s' "$t" "${execs:-?}" \
                    "${cov:-?}" "${ft:-?}" "${corp:-?}")")
        [ -n "${FP8LAB_FUZZ_KEEP:-}" ] || rm -rf "$work"
        continue
    fi
    failed=1
    echo "---- fuzz.sh: $t FAILED (libFuzzer exit status $rc); report:"
    # the sanitizer or libFuzzer report, from its first line
    awk '/^==[0-9]+==|^[^ ]*: runtime error:|^ALARM:|^==[0-9]+== ERROR: libFuzzer|^ERROR: libFuzzer/ {p=1} p' \
        "$work/log" | head -n 80
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1)
    [ "$rc" -ge 124 ] && [ -z "$repro" ] && echo "fuzz.sh: $t: killed after $((secs + 300)) s"
    echo "---- fuzz.sh: $t: full log $work/log"
    if [ -n "$repro" ]; then
        echo "fuzz.sh: $t: REPRODUCER: $repro"
        echo "  replay:   $build/tests/fuzz/fuzz_$t $repro"
        echo "  minimize: scripts/fuzz.sh min $t $repro"
        echo "  then save it as tests/fuzz/regress/$t/<what-it-triggers>"
    fi
    summary+=("$(printf '%-10s FAILED  executions %-10s cov %-6s ft %-7s reproducer %s' "$t" "${execs:-?}" \
                "${cov:-?}" "${ft:-?}" "${repro:-none (see the log)}")")
done
echo "== fuzz.sh summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
