# tests/fuzz: libFuzzer targets (included by tests/extra.cmake).
#
# Every build: a replay executable per target (gcc is fine), registered with ctest under
# the label `fuzz`, runs every file of tests/fuzz/corpus/<target>/ once.
# With -DGM_BUILD_FUZZ=ON and clang: the libFuzzer binaries fuzz_knobs, fuzz_ops and fuzz_dwarf
# (ASan + UBSan; needs Debian's libclang-rt-14-dev). .ci/run builds and runs them.
set(GM_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(GM_FUZZ_KNOB_SOURCES ${CMAKE_SOURCE_DIR}/src/env.c ${CMAKE_SOURCE_DIR}/src/fmt.c
                         ${CMAKE_SOURCE_DIR}/src/gctrace.c)

# knobs: only the parsers (env.c, fmt.c, gctrace.c), compiled in directly.
add_executable(fuzz_knobs_replay ${GM_FUZZ_DIR}/fuzz_knobs.c ${GM_FUZZ_KNOB_SOURCES})
target_include_directories(fuzz_knobs_replay PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
target_compile_definitions(fuzz_knobs_replay PRIVATE GM_FUZZ_REPLAY=1 GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
target_compile_options(fuzz_knobs_replay PRIVATE ${GM_WARN})
add_test(NAME fuzz_knobs_replay COMMAND fuzz_knobs_replay ${GM_FUZZ_DIR}/corpus/knobs)
set_tests_properties(fuzz_knobs_replay PROPERTIES LABELS fuzz TIMEOUT 60)

# ops: the whole heap; links the static library for the internal verifier.
add_executable(fuzz_ops_replay ${GM_FUZZ_DIR}/fuzz_ops.c)
target_include_directories(fuzz_ops_replay PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
target_compile_definitions(fuzz_ops_replay PRIVATE GM_FUZZ_REPLAY=1 GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
target_compile_options(fuzz_ops_replay PRIVATE ${GM_WARN})
target_link_libraries(fuzz_ops_replay PRIVATE gomem_static)
add_test(NAME fuzz_ops_replay COMMAND fuzz_ops_replay ${GM_FUZZ_DIR}/corpus/ops)
set_tests_properties(fuzz_ops_replay PROPERTIES LABELS fuzz TIMEOUT 120)

# dwarf: the DWARF line-table reader of the profile writer (links the static library).
add_executable(fuzz_dwarf_replay ${GM_FUZZ_DIR}/fuzz_dwarf.c)
target_include_directories(fuzz_dwarf_replay PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
target_compile_definitions(fuzz_dwarf_replay PRIVATE GM_FUZZ_REPLAY=1 GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
target_compile_options(fuzz_dwarf_replay PRIVATE ${GM_WARN})
target_link_libraries(fuzz_dwarf_replay PRIVATE gomem_static)
add_test(NAME fuzz_dwarf_replay COMMAND fuzz_dwarf_replay ${GM_FUZZ_DIR}/corpus/dwarf)
set_tests_properties(fuzz_dwarf_replay PROPERTIES LABELS fuzz TIMEOUT 60)

option(GM_BUILD_FUZZ "build the libFuzzer targets (clang)" OFF)
if(GM_BUILD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "GM_BUILD_FUZZ needs clang (CC=clang)")
  endif()
  set(GM_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined
                  -fno-sanitize-address-use-after-scope -fno-omit-frame-pointer)

  add_executable(fuzz_knobs ${GM_FUZZ_DIR}/fuzz_knobs.c ${GM_FUZZ_KNOB_SOURCES})
  target_include_directories(fuzz_knobs PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(fuzz_knobs PRIVATE GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
  target_compile_options(fuzz_knobs PRIVATE -g -O1 -fsanitize=fuzzer ${GM_FUZZ_SAN})
  target_link_options(fuzz_knobs PRIVATE -fsanitize=fuzzer ${GM_FUZZ_SAN})

  # The library is rebuilt with coverage instrumentation (fuzzer-no-link) and sanitizers.
  add_library(gomem_fuzz STATIC ${GM_SOURCES})
  target_include_directories(gomem_fuzz PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_definitions(gomem_fuzz PRIVATE GM_BUILDING_LIBRARY=1 GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
  target_compile_options(gomem_fuzz PRIVATE -g -O2 -fno-strict-aliasing -ftls-model=initial-exec
    -fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp ${GM_FUZZ_SAN})
  # (no comparison tracing in the library: scan_range compares every word of every root,
  # including libFuzzer's 10 MB .bss, and tracing made one collection take 10 ms)
  target_link_libraries(gomem_fuzz PUBLIC Threads::Threads ${CMAKE_DL_LIBS})

  add_executable(fuzz_ops ${GM_FUZZ_DIR}/fuzz_ops.c)
  target_include_directories(fuzz_ops PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(fuzz_ops PRIVATE GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
  target_compile_options(fuzz_ops PRIVATE -g -O1 -fsanitize=fuzzer ${GM_FUZZ_SAN})
  target_link_options(fuzz_ops PRIVATE -fsanitize=fuzzer ${GM_FUZZ_SAN})
  target_link_libraries(fuzz_ops PRIVATE gomem_fuzz)

  add_executable(fuzz_dwarf ${GM_FUZZ_DIR}/fuzz_dwarf.c)
  target_include_directories(fuzz_dwarf PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(fuzz_dwarf PRIVATE GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
  target_compile_options(fuzz_dwarf PRIVATE -g -O1 -fsanitize=fuzzer ${GM_FUZZ_SAN})
  target_link_options(fuzz_dwarf PRIVATE -fsanitize=fuzzer ${GM_FUZZ_SAN})
  target_link_libraries(fuzz_dwarf PRIVATE gomem_fuzz)
endif()
