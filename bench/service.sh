#!/usr/bin/env bash
# bench/service.sh: runs bench/service.c (a cache with churn and a phase change, see
# the "Service workload" section of RESULTS.md) under several gomem configurations and
# Boehm GC, interleaved, and prints the median of each figure per configuration.
#
#   bash bench/service.sh                 RUNS=3, OPS=1500000 per phase (about 3 minutes)
#   RUNS=5 OPS=1500000 bash bench/service.sh
#   CONFIGS="gogc100|GOGC=100 boehm|" bash bench/service.sh
#
# Environment:
#   RUNS      runs of every configuration (default 3); the table shows medians
#   OPS       operations per phase (default 1500000)
#   CONFIGS   space-separated name|VAR=value,VAR=value entries; a name starting with
#             "boehm" runs the Boehm GC build (default: GOGC=100, GOGC=50, GOGC=off with
#             GOMEMLIMIT=256MiB and 224MiB, Boehm)
#   GOMEM_LIB_DIR  directory holding libgomem.so (default: build/release, built if absent)
#   BUILD_DIR where the binaries go (default build-bench/)
#
# Raw rows go to bench/results/service-<date>-<time>.csv with the 1-minute load average
# at the start of each run (load1) and the process CPU time (user + sys, /usr/bin/time).
set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
RUNS=${RUNS:-3}
OPS=${OPS:-1500000}
CONFIGS=${CONFIGS:-"gogc100|GOGC=100 gogc50|GOGC=50 off_limit256|GOGC=off,GOMEMLIMIT=256MiB off_limit224|GOGC=off,GOMEMLIMIT=224MiB boehm|"}
GOMEM_LIB_DIR=${GOMEM_LIB_DIR:-$ROOT/build/release}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
CC=${CC:-gcc}
STAMP=$(date -u +%Y-%m-%d-%H%M%S)
CSV=${CSV:-$HERE/results/service-$STAMP.csv}

if [ ! -e "$GOMEM_LIB_DIR/libgomem.so" ]; then
    make -C "$ROOT" BUILD=release build >&2 || exit 1
fi
mkdir -p "$BUILD_DIR" "$(dirname "$CSV")"
$CC -O2 -std=gnu11 -DBACKEND_GOMEM=1 -I"$ROOT/include" -I"$HERE" "$HERE/service.c" \
    -o "$BUILD_DIR/service.gomem" -L"$GOMEM_LIB_DIR" -lgomem -Wl,-rpath,"$GOMEM_LIB_DIR" \
    -lpthread -ldl || exit 1
$CC -O2 -std=gnu11 -DBACKEND_BOEHM=1 -I"$HERE" "$HERE/service.c" -o "$BUILD_DIR/service.boehm" \
    -lgc -lpthread -ldl || exit 1

echo "config,run,load1,ph1_ops_s,ph2_ops_s,steady1_mib,steady2_mib,peak_mib,final_mib,wall_s,cpu_s" >"$CSV"
for run in $(seq 1 "$RUNS"); do
    for c in $CONFIGS; do
        name=${c%%|*}
        envs=${c#*|}
        bin=$BUILD_DIR/service.gomem
        case $name in boehm*) bin=$BUILD_DIR/service.boehm ;; esac
        load=$(cut -d' ' -f1 /proc/loadavg)
        out=$(env ${envs//,/ } /usr/bin/time -f 'CPU %U %S' "$bin" "$OPS" 2>&1) || {
            echo "$name run $run failed: $out" >&2
            continue
        }
        ph1=$(sed -n 's/.* phase1: \([0-9]*\) ops\/s.*steady RSS \([0-9]*\) MiB/\1 \2/p' <<<"$out")
        ph2=$(sed -n 's/.* phase2: \([0-9]*\) ops\/s.*steady RSS \([0-9]*\) MiB/\1 \2/p' <<<"$out")
        tot=$(sed -n 's/.* total: \([0-9.]*\) s,.*peak RSS \([0-9]*\) MiB, final RSS \([0-9]*\) MiB/\1 \2 \3/p' <<<"$out")
        cpu=$(awk '/^CPU/ {printf "%.2f", $2 + $3}' <<<"$out")
        set -- $ph1 $ph2 $tot
        echo "$name,$run,$load,$1,$3,$2,$4,$6,$7,$5,$cpu" >>"$CSV"
        echo "$name run $run (load $load): phase1 $1 ops/s steady $2 MiB, phase2 $3 ops/s steady $4 MiB, peak $6 MiB, cpu ${cpu}s" >&2
    done
done

echo "raw rows: $CSV"
awk -F, 'NR > 1 { k = $1; n[k]++; for (i = 3; i <= 11; i++) v[k, i, n[k]] = $i; if (!(k in order)) { order[k] = ++no; names[no] = k } }
function med(k, i,   m, a, j, t, x, y) {
    m = n[k]; for (j = 1; j <= m; j++) a[j] = v[k, i, j] + 0
    for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
    printf "%-14s %5s %10s %10s %9s %9s %7s %7s %7s %7s\n", "config", "runs", "ph1 ops/s", "ph2 ops/s", "steady1", "steady2", "peak", "final", "wall s", "cpu s"
    for (o = 1; o <= no; o++) { k = names[o]
        printf "%-14s %5d %10d %10d %9d %9d %7d %7d %7.2f %7.2f\n", k, n[k], med(k, 4), med(k, 5), med(k, 6), med(k, 7), med(k, 8), med(k, 9), med(k, 10), med(k, 11) }
}' "$CSV"
