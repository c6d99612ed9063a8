#!/usr/bin/env bash
# bench/alternate.sh: one workload, several back-ends or builds, in alternating rounds,
# for comparisons finer than bench/run.sh's medians of a few runs.
#
#   ROUNDS=41 bash bench/alternate.sh churn 3000000
#   VARIANTS="old=/tmp/libgomem-old.so new=build-bench/libgomem.so.0 jemalloc" \
#       bash bench/alternate.sh churn 3000000
#
# Each round runs every variant once, in order, so that slow spells of a shared machine
# hit all of them alike. Two-thread workloads here are bimodal (the same binary takes
# 0.4 s or 1 s depending on how the two vCPUs are scheduled), so besides the median the
# summary gives the lower quartile, which that noise moves least, and CPU time.
#
# Arguments: the workload (a name of bench/run.sh's binaries: gcbench, binarytrees,
# churn, pause) and its own arguments.
# Environment:
#   ROUNDS     rounds (default 21)
#   VARIANTS   back-end names (gomem boehm glibc jemalloc mimalloc: the binaries
#              bench/run.sh built) or NAME=LIB: the gomem binary with LIB preloaded, to
#              compare two builds of libgomem (default "gomem jemalloc mimalloc")
#   BUILD_DIR  where bench/run.sh built the binaries (default build-bench/)
# Output: one line per run while it goes (variant, time_s, wall, CPU), then a summary.
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ROUNDS=${ROUNDS:-21}
VARIANTS=${VARIANTS:-"gomem jemalloc mimalloc"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
BIN=$BUILD_DIR/bench-bin
[ $# -ge 1 ] || { echo "usage: bench/alternate.sh WORKLOAD [ARGS...]" >&2; exit 2; }
W=$1
shift
[ -x /usr/bin/time ] || { echo "alternate.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }

for v in $VARIANTS; do
    name=${v%%=*}
    exe=$BIN/$W.$name
    [ "$name" != "$v" ] && exe=$BIN/$W.gomem
    [ -x "$exe" ] || { echo "alternate.sh: no $exe (run bench/run.sh first)" >&2; exit 2; }
    # a preloaded library replaces nothing in a binary with libgomem linked in statically
    # (ldd's output in a variable: under pipefail, grep -q closing the pipe early can
    # fail the pipeline with ldd's SIGPIPE)
    if [ "$name" != "$v" ] && [[ "$(ldd "$exe" 2>/dev/null)" != *libgomem.so* ]]; then
        echo "alternate.sh: $exe does not load libgomem.so (built with GOMEM_LINK=static?):" \
            "preloading ${v#*=} would change nothing; rebuild with bench/run.sh" >&2
        exit 2
    fi
done

OUT=$(mktemp)
TIMES=$(mktemp)
trap 'rm -f "$OUT" "$TIMES"' EXIT
for ((r = 0; r < ROUNDS; r++)); do
    for v in $VARIANTS; do
        name=${v%%=*}
        if [ "$name" != "$v" ]; then
            exe=$BIN/$W.gomem
            pre=${v#*=}
        else
            exe=$BIN/$W.$name
            pre=
        fi
        # a run that fails (a broken checksum exits 1) is reported and left out
        if LD_PRELOAD=$pre /usr/bin/time -o "$TIMES" -f "%e %U %S" "$exe" "$@" >"$OUT" 2>/dev/null; then
            t=$(grep -o 'time_s=[0-9.]*' "$OUT" | cut -d= -f2)
        else
            t=
        fi
        # on failure time(1) puts "Command exited with non-zero status N" first
        read -r wall user sys < <(tail -n 1 "$TIMES")
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
        echo "$name ${t:-failed} $wall $cpu"
    done
done | tee /dev/stderr | awk '
    $2 != "failed" { n[$1]++; t[$1, n[$1]] = $2; c[$1, n[$1]] = $4; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    function sortcol(arr, v, m,   i, j, x) {
        for (i = 1; i <= m; i++) s[i] = arr[v, i]
        for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] + 0 > x + 0; j--) s[j + 1] = s[j]; s[j + 1] = x }
    }
    function q(p, m) { return s[int(p * (m - 1)) + 1] }
    END {
        printf "%-10s %4s  %9s %9s %9s   %9s %9s\n", "variant", "n", "time_q25", "median", "min", "cpu_q25", "cpu_med"
        for (i = 1; i <= k; i++) {
            v = order[i]; m = n[v]
            sortcol(t, v, m); tq = q(0.25, m); tm = q(0.5, m); t0 = s[1]
            sortcol(c, v, m); cq = q(0.25, m); cm = q(0.5, m)
            printf "%-10s %4d  %9.3f %9.3f %9.3f   %9.2f %9.2f\n", v, m, tq, tm, t0, cq, cm
        }
    }'
