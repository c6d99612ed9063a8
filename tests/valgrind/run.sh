#!/bin/sh
# run.sh SRC_DIR BUILD_DIR: builds tests/valgrind/vg_test.c against a gomem configured
# with -DGM_TRACK_VALGRIND=ON in BUILD_DIR, runs it under memcheck (must be clean) and
# again with a deliberate use-after-free (memcheck must report it). Exit 77 (skip) when
# valgrind or its headers are missing.
set -u
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
bld=${2:-$src/build/valgrind}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed: skip"; exit 77; }
[ -f /usr/include/valgrind/memcheck.h ] || { echo "valgrind headers missing: skip"; exit 77; }
cmake -S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_TRACK_VALGRIND=ON \
    -DGM_WERROR=ON >"$bld.configure.log" 2>&1 || { cat "$bld.configure.log"; exit 1; }
cmake --build "$bld" -j2 --target vg_test >"$bld.build.log" 2>&1 || { cat "$bld.build.log"; exit 1; }
bin=$bld/vg_test
[ -x "$bin" ] || bin=$(find "$bld" -name vg_test -type f -perm -u+x | head -1)
vg="valgrind --error-exitcode=1 --quiet"
export GOMAXPROCS=1  # one mark worker: shorter runs under valgrind's serialized threads

echo "== clean run"
$vg "$bin" || { echo "FAIL: memcheck reported errors on the clean run"; exit 1; }

echo "== use-after-free run"
out=$($vg "$bin" uaf 2>&1); rc=$?
echo "$out" | head -20
if [ $rc -eq 0 ]; then echo "FAIL: use-after-free not reported"; exit 1; fi
echo "$out" | grep -qE "Invalid (read|write)" || { echo "FAIL: no invalid read/write"; exit 1; }
echo "PASS"
