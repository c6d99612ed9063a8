#!/usr/bin/env bash
# bench/overhead.sh: what heap profiling and the GC event trace cost on binary-trees
# (issue 3's targets: profiling at the default rate <= 3%, trace on <= 5%).
#
#   bash bench/overhead.sh BIN [DEPTH]       # BIN: a gomem build of bench/binarytrees.c
#
# Three configurations: off (GOMEMPROFILERATE=0), profile (the default rate, 512 KiB)
# and trace (GOMEMTRACE=file, profiling off). One CSV row per run: wall, user and sys
# seconds from /usr/bin/time, the program's cycle count, the 1-minute load average and
# the status (ok, or fail(N) for a run that exited with N: the summary leaves it out).
#   MODE=interleaved (default): one run at a time, the three configurations in a
#       rotated order every round, so slow spells of a shared machine hit each alike;
#   MODE=paired: off and one other configuration started together, one per CPU, so both
#       see the same outside load (use EXTRA=GOMEMMARKWORKERS=1: one busy thread each).
# Env: ROUNDS (9), OUT (CSV path), EXTRA (more environment, e.g. "GOGC=400").
# bench/overhead_summary.py prints the medians (and the per-pair ratios) from the CSV.
set -u
BIN=${1:?usage: overhead.sh BIN [DEPTH]}
DEPTH=${2:-21}
ROUNDS=${ROUNDS:-9}
MODE=${MODE:-interleaved}
EXTRA=${EXTRA:-}
OUT=${OUT:-overhead-$(date +%Y%m%d-%H%M%S).csv}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

envof() {
    case $1 in
    off) echo "GOMEMPROFILERATE=0" ;;
    profile) echo "" ;;
    trace) echo "GOMEMPROFILERATE=0 GOMEMTRACE=$TMP/trace-$2.json" ;;
    esac
}

# run CONFIG: one run in the background, its figures in $TMP/CONFIG.{time,out}
run() {
    # shellcheck disable=SC2046
    (
        env $EXTRA $(envof "$1" "$1") /usr/bin/time -f "%e %U %S" -o "$TMP/$1.time" \
            "$BIN" "$DEPTH" >"$TMP/$1.out" 2>/dev/null
        echo $? >"$TMP/$1.rc"
    ) &
}

row() { # row ROUND PAIR CONFIG LOAD
    local w u s gc rc status=ok
    # on failure time(1) writes "Command exited with non-zero status N" first
    read -r w u s < <(tail -n 1 "$TMP/$3.time")
    gc=$(grep -o 'gc_count=[0-9]*' "$TMP/$3.out" | cut -d= -f2)
    rc=$(cat "$TMP/$3.rc" 2>/dev/null)
    if [ "${rc:-1}" != 0 ]; then
        status="fail(${rc:-?})"
        echo "overhead.sh: round $1 $3 failed (exit ${rc:-?}): left out of the summary" >&2
    fi
    echo "$1,$2,$3,$w,$u,$s,${gc:-},$4,$status" >>"$OUT"
}

echo "round,pair,config,wall_s,user_s,sys_s,gc_count,load1,status" >"$OUT"
cfgs=(off profile trace)
for r in $(seq 1 "$ROUNDS"); do
    if [ "$MODE" = paired ]; then
        for x in profile trace; do
            load=$(cut -d' ' -f1 /proc/loadavg)
            run off
            run "$x"
            wait
            row "$r" "$x" off "$load"
            row "$r" "$x" "$x" "$load"
        done
    else
        for k in 0 1 2; do
            c=${cfgs[$(((k + r) % 3))]}
            load=$(cut -d' ' -f1 /proc/loadavg)
            run "$c"
            wait
            row "$r" - "$c" "$load"
        done
    fi
done
echo "overhead.sh: $OUT"
