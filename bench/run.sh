#!/usr/bin/env bash
# bench/run.sh: runs every workload against gomem and its peers, side by side, and
# prints medians and ratios to gomem.
#
#   bash bench/run.sh                    full suite, RUNS=3 (about 12 minutes on 2 cores)
#   QUICK=1 bash bench/run.sh            smoke run with small sizes (< 1 minute), RUNS=1
#   RUNS=5 BACKENDS="gomem boehm" BENCHES="binarytrees19 pause256" bash bench/run.sh
#
# Environment:
#   RUNS        runs of every (workload, back-end) pair; the table shows medians (default 3)
#   QUICK=1     small sizes, RUNS=1 unless set; a build check, not a measurement
#   BACKENDS    subset of: gomem boehm glibc jemalloc mimalloc
#   BENCHES     subset of: gcbench binarytrees19 binarytrees21 binarytrees19_2t churn
#               pause64 pause256 pause1024
#   GOMEM_LINK  shared (default: libgomem.so, as -lgc links libgc.so) or static
#   GOMEM_LIB   link this library file instead of building gomem (skips the cmake build)
#   BUILD_DIR   where gomem and the benchmark binaries are built (default build-bench/)
#   NO_INSTALL=1  do not apt-get missing peer packages; back-ends without them are skipped
#   TIMEOUT     seconds allowed for one run (default 600)
#
# Every program prints one line
#   RESULT bench=... backend=... time_s=... gc_count=... max_pause_ms=... p50_pause_ms=... p99_pause_ms=...
# and exits non-zero if its checksum fails. Peak RSS comes from /usr/bin/time (%M).
# Raw results go to bench/results/<date>-<time>.csv, one row per run, with the 1-minute
# load average at its start (load1): on a shared machine, rows run under load > nproc
# are slowed by other work, and GC pauses most of all (a stopped world waits for every
# thread to be scheduled).
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; else RUNS=${RUNS:-3}; fi
BACKENDS=${BACKENDS:-"gomem boehm glibc jemalloc mimalloc"}
BENCHES=${BENCHES:-"gcbench binarytrees19 binarytrees21 binarytrees19_2t churn pause64 pause256 pause1024"}
GOMEM_LINK=${GOMEM_LINK:-shared}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
TIMEOUT=${TIMEOUT:-600}
CC=${CC:-gcc}
CFLAGS=${CFLAGS:-"-O2 -std=gnu11 -Wall -Wextra"}
BIN=$BUILD_DIR/bench-bin
STAMP=$(date -u +%Y-%m-%d-%H%M%S)
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
CSV=$RESULTS_DIR/$STAMP.csv
[ "$QUICK" = 1 ] && CSV=$BUILD_DIR/quick-$STAMP.csv

say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------
# 1. Peer packages
# ---------------------------------------------------------------------------------
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_missing() {
    local missing=()
    for p in libgc-dev libjemalloc-dev libmimalloc-dev time; do
        have_pkg "$p" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "${NO_INSTALL:-0}" = 1 ]; then
        say "run.sh: missing ${missing[*]} (NO_INSTALL=1: not installing)"
        return 0
    fi
    local sudo=""
    [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo="sudo"
    say "run.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
        $sudo apt-get update -qq >/dev/null 2>&1
        $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
            say "run.sh: apt-get install ${missing[*]} failed; those back-ends are skipped"
    fi
}
command -v dpkg-query >/dev/null && install_missing

backend_available() {
    case $1 in
    gomem) return 0 ;;
    boehm) [ -f /usr/include/gc/gc.h ] ;;
    glibc) return 0 ;;
    jemalloc) [ -f /usr/include/jemalloc/jemalloc.h ] ;;
    mimalloc) [ -f /usr/include/mimalloc.h ] ;;
    *) return 1 ;;
    esac
}

# ---------------------------------------------------------------------------------
# 2. gomem, in Release
# ---------------------------------------------------------------------------------
mkdir -p "$BIN" "$RESULTS_DIR"
GOMEM_LDFLAGS=""
if [[ " $BACKENDS " == *" gomem "* ]]; then
    if [ -n "${GOMEM_LIB:-}" ]; then
        say "run.sh: linking gomem from GOMEM_LIB=$GOMEM_LIB"
        GOMEM_LDFLAGS="$GOMEM_LIB -ldl"
        case $GOMEM_LIB in *.so*) GOMEM_LDFLAGS="$GOMEM_LIB -Wl,-rpath,$(dirname "$GOMEM_LIB")" ;; esac
    else
        say "run.sh: building gomem (Release) in $BUILD_DIR"
        if cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGM_BUILD_TESTS=OFF \
            -DGM_BUILD_BENCH=OFF -DGM_BUILD_EXAMPLES=OFF >"$BUILD_DIR/cmake.log" 2>&1 &&
            cmake --build "$BUILD_DIR" -j"$(nproc)" --target gomem gomem_static \
                >>"$BUILD_DIR/cmake.log" 2>&1; then
            if [ "$GOMEM_LINK" = static ]; then
                GOMEM_LDFLAGS="$BUILD_DIR/libgomem.a -ldl"
            else
                GOMEM_LDFLAGS="-L$BUILD_DIR -lgomem -Wl,-rpath,$BUILD_DIR"
            fi
        else
            say "run.sh: gomem does not build (see $BUILD_DIR/cmake.log); running the peers only"
            tail -n 20 "$BUILD_DIR/cmake.log" >&2
            BACKENDS=$(printf '%s\n' $BACKENDS | grep -vx gomem | tr '\n' ' ')
        fi
    fi
fi

# ---------------------------------------------------------------------------------
# 3. Every (workload, back-end) binary, with gcc directly
# ---------------------------------------------------------------------------------
link_flags() {
    case $1 in
    gomem) echo "$GOMEM_LDFLAGS" ;;
    boehm) echo "-lgc" ;;
    glibc) echo "" ;;
    jemalloc) echo "-ljemalloc -ldl" ;;
    mimalloc) echo "-lmimalloc" ;;
    esac
}

ACTIVE=""
for b in $BACKENDS; do
    if ! backend_available "$b"; then
        say "run.sh: skipping $b (not installed)"
        continue
    fi
    ok=1
    upper=$(echo "$b" | tr a-z A-Z)
    for w in gcbench binarytrees churn pause; do
        # shellcheck disable=SC2046
        if ! $CC $CFLAGS -DBACKEND_"$upper" -I"$ROOT/include" "$HERE/$w.c" -o "$BIN/$w.$b" \
            $(link_flags "$b") -pthread 2>"$BIN/$w.$b.log"; then
            say "run.sh: compiling $w for $b failed:"
            cat "$BIN/$w.$b.log" >&2
            ok=0
        fi
    done
    [ $ok = 1 ] && ACTIVE="$ACTIVE $b"
done
[ -z "$ACTIVE" ] && { say "run.sh: nothing to run"; exit 1; }

# bench_cmd NAME: the program and its arguments for one workload
bench_cmd() {
    if [ "$QUICK" = 1 ]; then
        case $1 in
        gcbench) echo "gcbench 14 12 12 100000" ;;
        binarytrees19) echo "binarytrees 14 1" ;;
        binarytrees21) echo "binarytrees 15 1" ;;
        binarytrees19_2t) echo "binarytrees 14 2" ;;
        churn) echo "churn 200000 2" ;;
        pause64) echo "pause 8 64" ;;
        pause256) echo "pause 16 64" ;;
        pause1024) echo "pause 32 64" ;;
        esac
    else
        case $1 in
        gcbench) echo "gcbench 18 16 16 500000" ;;
        binarytrees19) echo "binarytrees 19 1" ;;
        binarytrees21) echo "binarytrees 21 1" ;;
        binarytrees19_2t) echo "binarytrees 19 2" ;;
        churn) echo "churn 10000000 2" ;;
        pause64) echo "pause 64 2048" ;;
        pause256) echo "pause 256 2048" ;;
        pause1024) echo "pause 1024 2048" ;;
        esac
    fi
}

# ---------------------------------------------------------------------------------
# 4. Runs: for each run, every workload, every back-end in turn, so that noise on the
#    machine spreads over all of them alike
# ---------------------------------------------------------------------------------
HOST=$(hostname 2>/dev/null || echo unknown)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- src include 2>/dev/null | wc -l)
[ "$DIRTY" != 0 ] && REV="$REV+$DIRTY-changed-files"
echo "date,host,run,bench,backend,status,time_s,wall_s,maxrss_kb,gc_count,max_pause_ms,p50_pause_ms,p99_pause_ms,load1" >"$CSV"
say "run.sh: backends:$ACTIVE; runs: $RUNS; results: $CSV"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
for run in $(seq 1 "$RUNS"); do
    for bench in $BENCHES; do
        cmd=$(bench_cmd "$bench")
        [ -z "$cmd" ] && { say "run.sh: unknown bench $bench"; continue; }
        prog=${cmd%% *}
        args=${cmd#* }
        for b in $ACTIVE; do
            load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)
            # shellcheck disable=SC2086
            timeout "$TIMEOUT" /usr/bin/time -f '%M %e' -o "$TMP/time" \
                "$BIN/$prog.$b" $args >"$TMP/out" 2>"$TMP/err"
            rc=$?
            line=$(grep '^RESULT ' "$TMP/out" | tail -n 1)
            read -r rss wall < <(tail -n 1 "$TMP/time" 2>/dev/null || echo "0 0")
            status=ok
            if [ $rc -ne 0 ] || [ -z "$line" ]; then
                status="fail($rc)"
                failures=$((failures + 1))
                say "run.sh: $bench/$b run $run failed with status $rc:"
                tail -n 5 "$TMP/err" >&2
                cp "$TMP/err" "$BUILD_DIR/fail-$bench-$b-$run.stderr"
                cp "$TMP/out" "$BUILD_DIR/fail-$bench-$b-$run.stdout"
            fi
            t=$(field time_s "$line")
            printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$STAMP" "$HOST" "$run" "$bench" \
                "$b" "$status" "${t:-}" "${wall:-}" "${rss:-}" "$(field gc_count "$line")" \
                "$(field max_pause_ms "$line")" "$(field p50_pause_ms "$line")" \
                "$(field p99_pause_ms "$line")" "${load:-}" >>"$CSV"
            printf '  run %d  %-17s %-9s %-9s time %7ss  rss %6s MiB  gc %4s  max pause %s ms  load %s\n' \
                "$run" "$bench" "$b" "$status" "${t:-?}" "$((${rss:-0} / 1024))" \
                "$(field gc_count "$line")" "$(field max_pause_ms "$line")" "${load:-?}" >&2
        done
    done
done

# ---------------------------------------------------------------------------------
# 5. The table: medians over runs that passed, ratios to gomem
# ---------------------------------------------------------------------------------
echo
echo "gomem benchmarks, $STAMP, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), RUNS=$RUNS$([ "$QUICK" = 1 ] && echo " QUICK=1"), gomem $REV"
bash "$HERE/summarize.sh" "$CSV"
awk -F, 'NR > 1 && $14 != "" { s += $14; n++; if ($14 > m) m = $14 }
    END { if (n) printf "load average during the runs: mean %.2f, max %.2f (%d CPUs)\n", s / n, m, '"$(nproc)"' }' "$CSV"
echo "raw results: $CSV"
[ $failures -eq 0 ] || { echo "run.sh: $failures run(s) failed"; exit 1; }
