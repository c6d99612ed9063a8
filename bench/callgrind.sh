#!/usr/bin/env bash
# bench/callgrind.sh: instructions per gm_alloc call, counted by callgrind.
#
#   bash bench/callgrind.sh [SIZE [CALLS]]     (defaults 16 and 2000000)
#
# Builds gomem in Release (build-bench/, as run.sh does) and bench/micro/malloc_ladder.c,
# then runs `malloc_ladder --callgrind SIZE CALLS` under
#   valgrind --tool=callgrind --collect-atstart=no --toggle-collect=ladder_gm_alloc_loop
# so that only that loop is measured. toggle-collect counts every call of the function,
# so the 1000 warm-up calls are counted too, and are in the divisor.
# It prints:
#   amortized  inclusive Ir of the loop / calls: the fast path, refills, sweeping and the
#              collections the loop triggers, plus about 4 instructions of loop
#   gm_alloc   Ir inside gm_alloc itself / calls: the inlined fast path when the slow path
#              is out of line, as STYLE.md section 4 asks
# and the ten functions with the most inclusive instructions. Compare the gm_alloc figure
# with the instruction budget written in src/malloc.c, and record it in bench/RESULTS.md.
set -eu
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SIZE=${1:-16}
CALLS=${2:-2000000}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
command -v valgrind >/dev/null || { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
mkdir -p "$BUILD_DIR/bench-bin"
if [ -z "${GOMEM_LIB:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGM_BUILD_TESTS=OFF \
        -DGM_BUILD_BENCH=OFF -DGM_BUILD_EXAMPLES=OFF >"$BUILD_DIR/cmake.log" 2>&1
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target gomem_static >>"$BUILD_DIR/cmake.log" 2>&1
    GOMEM_LIB=$BUILD_DIR/libgomem.a
fi
EXE=$BUILD_DIR/bench-bin/malloc_ladder
# -g for line-level annotation; the static library so that gm_alloc is a direct call
gcc -O2 -g -std=gnu11 -I"$ROOT/include" "$HERE/micro/malloc_ladder.c" "$GOMEM_LIB" -ldl -pthread -o "$EXE"
OUT=$BUILD_DIR/callgrind.out.$SIZE
valgrind --tool=callgrind --collect-atstart=no --toggle-collect=ladder_gm_alloc_loop \
    --callgrind-out-file="$OUT" "$EXE" --callgrind "$SIZE" "$CALLS" >/dev/null 2>"$OUT.log"
TOTAL=$((CALLS + 1000))
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null >"$OUT.incl.txt"
callgrind_annotate --inclusive=no "$OUT" 2>/dev/null >"$OUT.self.txt"
ir_of() { # ir_of FILE FUNCTION: Ir column of the line naming FUNCTION
    awk -v f="$2" '$0 ~ ("[ :]" f "([ \\[]|$)") { gsub(/,/, "", $1); print $1; exit }' "$1"
}
loop=$(ir_of "$OUT.incl.txt" ladder_gm_alloc_loop)
self=$(ir_of "$OUT.self.txt" gm_alloc)
echo "gm_alloc($SIZE), $TOTAL calls under callgrind:"
[ -n "$loop" ] && awk -v a="$loop" -v n="$TOTAL" 'BEGIN { printf "  amortized: %.1f instructions per call (loop, fast path, refills, GC)\n", a / n }'
[ -n "$self" ] && awk -v a="$self" -v n="$TOTAL" 'BEGIN { printf "  gm_alloc:  %.1f instructions per call in gm_alloc itself (the fast path)\n", a / n }'
echo "top functions by inclusive instructions:"
grep -E '^ *[0-9,]+ ' "$OUT.incl.txt" | head -n 12
echo "(full annotations: $OUT.incl.txt, $OUT.self.txt; open $OUT in kcachegrind)"
