# Thin forwarder to CMake: the everyday entry points.
#   make demo                 build everything, run the showcase with GODEBUG=gctrace=1 and write
#                             its trace, heap profile and HTML report (tools/gomem-report)
#   make test                 release suite, the same again under verify=1,gcstress=50, then
#                             the ASan+UBSan suite (TSan cannot run it: README, "Sanitizers")
#   make BUILD=debug test-one  one variant only (release|debug|asan|ubsan|tsan)
#   make bench                side-by-side benchmarks against Boehm GC, glibc, jemalloc, mimalloc
#   make format / format-check
BUILD ?= release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

cmake_args_release = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_WERROR=ON
cmake_args_debug   = -DCMAKE_BUILD_TYPE=Debug -DGM_DEBUG=2 -DGM_WERROR=ON
cmake_args_asan    = -DCMAKE_BUILD_TYPE=Debug -DGM_SANITIZE=asan -DGM_DEBUG=1 -DGM_BUILD_BENCH=OFF
cmake_args_ubsan   = -DCMAKE_BUILD_TYPE=Debug -DGM_SANITIZE=ubsan -DGM_BUILD_BENCH=OFF
cmake_args_tsan    = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_SANITIZE=tsan -DGM_BUILD_BENCH=OFF

.PHONY: all build demo test test-one bench format format-check clean

all: build

build/%/CMakeCache.txt:
	$(CMAKE) -S . -B build/$* $(cmake_args_$*)

build: build/$(BUILD)/CMakeCache.txt
	$(CMAKE) --build build/$(BUILD) -j $(JOBS)

demo:
	$(MAKE) --no-print-directory BUILD=release build
	cd build/release && (GODEBUG=gctrace=1 GOMEMTRACE=demo-trace.json GOMEMPROFILE=demo-heap.pb.gz \
	    ./examples/demo 2>&1 1>&3 | tee demo-gctrace.log >&2) 3>&1
	cd build/release && python3 ../../tools/gomem-report --trace demo-trace.json \
	    --gctrace demo-gctrace.log --profile demo-heap.pb.gz -o demo-report.html
	@echo "make demo: build/release/demo-{trace.json,heap.pb.gz,gctrace.log,report.html}"

test-one: build
	cd build/$(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The suite three ways: release; again with the heap verified after every cycle and a
# collection at every 50th span refill (tests skip what assumes the pacer's timing,
# gmt_gcstress in tests/api/gmtest.h); everything under ASan+UBSan,
# less five tests that assert an object died: ASan's larger frames leave stale copies
# of pointers on the stack, so under ASan they are retained (conservatively, as
# intended); and without LeakSanitizer, which reports the tests' own malloc'd buffers.
# TSan is not part of it: TSan delivers asynchronous signals only at its own safe
# points, so a thread computing in a loop never answers the stop signal (README).
test:
	$(MAKE) --no-print-directory BUILD=release test-one
	cd build/release && GOMEMDEBUG=verify=1,gcstress=50 ctest --output-on-failure -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=0 $(MAKE) --no-print-directory BUILD=asan test-one \
	  CTEST_ARGS="-E 'test_weak|test_explain|test_poison|test_memlimit|test_finalizer'"

bench:
	bash bench/run.sh

format:
	clang-format -i include/*.h src/*.c src/*.h tests/*.h tests/*/*.c examples/*.c

format-check:
	clang-format --dry-run --Werror include/*.h src/*.c src/*.h

clean:
	rm -rf build
