#!/usr/bin/env bash
# fp8lab bench comm across Open MPI ranks (mpirun --oversubscribe: more ranks than cores): every result checked
# (#wrong 0), sizes doubling up to --max-bytes, count = size / element size, algbw = size / time and busbw = algbw
# times nccl-tests' factor (PERFORMANCE.md: all_reduce 2(n-1)/n; reduce_scatter, all_gather, all_to_all
# (n-1)/n); bad flags refused with exit 2, alone and under mpirun. Skipped where mpirun or the MPI build is missing.
source "$(dirname "$0")/cli_common.bash" "$1"

command -v mpirun >/dev/null || { echo "skipped: no mpirun (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
# Open MPI refuses to run as root without these (CI containers run as root); here only, not globally
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# no network interfaces to probe on one machine; keeps start-up quick and quiet in containers
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI's own allocations are still live at exit: LeakSanitizer would fail every rank of the ASan build. Only
# the ranks go without it (runs without mpirun keep it); the other ASan/UBSan checks stay on.
mpirun() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" command mpirun "$@"; }

out=$(mpirun --oversubscribe -np 1 "$bin" bench comm --op all_reduce --max-bytes 8 --iters 1 --warmup 0 2>&1)
if grep -q "built without MPI" <<<"$out"; then echo "skipped: fp8lab built without MPI"; exit 77; fi

# check_table <ranks> <element bytes> <max bytes> <ops> <table>: the verdict, empty when all is well
check_table() {
    awk -v n="$1" -v es="$2" -v maxb="$3" -v want_ops="$4" '
        function bad(msg) { if (!err) err = msg " (line: " $0 ")" }
        function close_op() {
            if (op == "") return
            if (rows == 0) bad(op ": no rows")
            else if (last != maxb) bad(op ": last size " last ", wanted " maxb)
        }
        /^# (all_reduce|reduce_scatter|all_gather|all_to_all)$/ {
            close_op(); op = $2; rows = 0; last = 0; seen = seen " " op
            f = (op == "all_reduce") ? 2 * (n - 1) / n : (n - 1) / n
            next
        }
        /^# wrong values in all: 0 OK$/ { ok = 1 }
        /^#/ || NF == 0 { next }
        {
            if (op == "") { bad("row before any op"); next }
            if (NF != 15 || $6 != "|" || $11 != "|") { bad(op ": not 15 fields"); next }
            size = $1; count = $2
            if (count * es != size) bad(op ": size " size " != count " count " * " es)
            if (op != "all_reduce" && count % n) bad(op ": count " count " not a multiple of " n)
            if (rows > 0 && size != 2 * last) bad(op ": size " size " after " last ", not doubling")
            if ($5 != -1) bad(op ": root " $5)
            if ($4 != ((op == "all_reduce" || op == "reduce_scatter") ? "sum" : "none")) bad(op ": redop " $4)
            for (p = 7; p <= 12; p += 5) {
                t = $p; alg = $(p + 1); bus = $(p + 2); wrong = $(p + 3)
                if (wrong != 0) bad(op ": #wrong " wrong)
                if (!(t > 0)) bad(op ": time " t)
                # time is printed to 1 ns, algbw to 1e-4 GB/s: the bounds allow for both roundings
                hi = t > 0.0005 ? size / ((t - 0.0005) * 1e3) : 1e300
                if (alg < size / ((t + 0.0005) * 1e3) - 1e-4 || alg > hi + 1e-4)
                    bad(op ": algbw " alg " != size / time " size / (t * 1e3))
                d = bus - alg * f; if (d < 0) d = -d
                if (d > 2e-4 + 1e-3 * bus) bad(op ": busbw " bus " != algbw " alg " * " f)
            }
            rows++; last = size
        }
        END {
            close_op()
            if (seen != " " want_ops) bad("ops seen:" seen ", wanted " want_ops)
            if (!ok) bad("no \"# wrong values in all: 0 OK\" line")
            print err
        }' <<<"$5"
}

# run_ok <ranks> <element bytes> <max bytes> <ops> <bench comm args...>
run_ok() {
    local n=$1 es=$2 maxb=$3 ops=$4 how="mpirun -np $1"; shift 4
    local out rc verdict
    if [ "$n" = single ]; then out=$("$bin" bench comm --max-bytes "$maxb" "$@" 2>&1); n=1 how="alone"
    else out=$(mpirun --oversubscribe -np "$n" "$bin" bench comm --max-bytes "$maxb" "$@" 2>&1); fi
    rc=$?
    verdict=$(check_table "$n" "$es" "$maxb" "$ops" "$out")
    if [ "$rc" -ne 0 ] || [ -n "$verdict" ]; then
        fail "$how: bench comm $* -> status $rc: $verdict"$'\n'"$(head -c 3000 <<<"$out")"
    else
        echo "ok: $how: bench comm --max-bytes $maxb $* -> 0 ($(grep -c '^  ' <<<"$out") rows, #wrong 0)"
    fi
}

# the communicator's own results, every collective, dtype and reduction, int128 sums and non-blocking all-reduces
# (tests/test_comm.c's MPI mode: 6 tests on every rank)
unit="$(dirname "$bin")/tests/test_comm"
if [ -x "$unit" ]; then
    for n in 4 3; do
        out=$(mpirun --oversubscribe -np "$n" "$unit" 2>&1)
        rc=$?
        if [ "$rc" -ne 0 ] || [ "$(grep -c 'PASSED  \] 6 test' <<<"$out")" -ne "$n" ]; then
            fail "mpirun -np $n test_comm -> status $rc: $(head -c 3000 <<<"$out")"
        else
            echo "ok: mpirun -np $n test_comm -> every rank passed"
        fi
    done
else
    fail "no $unit beside the binary (tests/test_comm.c, built with the tests)"
fi

all="all_reduce reduce_scatter all_gather all_to_all"
run_ok 4 4 262144 "$all" --iters 5 --warmup 2
run_ok 4 2 16384 "$all" --dtype bfloat16 --iters 3 --warmup 1
run_ok 3 4 6144 "all_to_all" --op all_to_all --min-bytes 12 --iters 3 --warmup 1 # counts multiples of 3
run_ok 1 4 4096 "$all" --iters 2 --warmup 0 # busbw 0 with one rank
run_ok single 4 4096 "$all" --iters 2 --warmup 0

# --device: cuda needs the CUDA backend (skipped where there is none), anything else is refused
err=$("$bin" bench comm --device tpu 2>&1)
rc=$?
if [ "$rc" = 2 ] && grep -q "'tpu' is not one of cpu | cuda" <<<"$err"; then echo "ok: --device tpu -> 2: $err"
else fail "--device tpu -> status $rc: $err"; fi

# --json: one object on stdout, from rank 0 only
out=$(mpirun --oversubscribe -np 4 "$bin" bench comm --op reduce_scatter --max-bytes 1024 --iters 2 --json 2>/dev/null)
rc=$?
if [ "$rc" -ne 0 ] || [ "$(wc -l <<<"$out")" -ne 1 ] || ! grep -q '^{"benchmark":"comm","communicator":"mpi","buffers":"host","ranks":4' <<<"$out" ||
    ! grep -q '"op":"reduce_scatter"' <<<"$out" || ! grep -q '"bus_factor":0.75' <<<"$out" ||
    ! grep -q '"wrong":0}$' <<<"$out"; then
    fail "bench comm --json -> status $rc: $(head -c 1500 <<<"$out")"
else
    echo "ok: -np 4 bench comm --json -> one object, wrong 0"
fi

# bad flags: exit 2 with the flag and value named, before any communicator starts
expect 2 "--op 'sum'" bench comm --op sum
expect 2 "--dtype 'half'" bench comm --dtype half
expect 2 "--min-bytes" bench comm --min-bytes 0
expect 2 "--max-bytes" bench comm --max-bytes 2147483648
expect 2 "--max-bytes 8: must be at least --min-bytes 64" bench comm --min-bytes 64 --max-bytes 8
expect 2 "--iters" bench comm --iters 0
expect 2 "--warmup" bench comm --warmup -1
expect 2 "over the limit" bench comm --max-bytes 1073741824 --iters 100
expect 2 "--bogus" bench comm --bogus
err=$(mpirun --oversubscribe -np 2 "$bin" bench comm --op sum 2>&1 >/dev/null)
rc=$?
if [ "$rc" -ne 2 ] || ! grep -qF -- "--op 'sum'" <<<"$err"; then
    fail "mpirun -np 2 bench comm --op sum -> status $rc (wanted 2): $(head -c 800 <<<"$err")"
else
    echo "ok: mpirun -np 2 bench comm --op sum -> 2"
fi
finish
