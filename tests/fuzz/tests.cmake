# tests/fuzz: libFuzzer targets (included by tests/extra.cmake).
#
# Every build: a replay executable per target (gcc is fine), registered with ctest under
# the label `fuzz`, runs every file of tests/fuzz/corpus/<target>/ once.
# With -DGM_BUILD_FUZZ=ON and clang: the libFuzzer binaries fuzz_knobs, fuzz_ops and fuzz_dwarf
# (ASan + UBSan; needs Debian's libclang-rt-14-dev). .ci/run builds and runs them.
set(GM_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(GM_FUZZ_KNOB_SOURCES ${CMAKE_SOURCE_DIR}/src/env.c ${CMAKE_SOURCE_DIR}/src/fmt.c
                         ${CMAKE_SOURCE_DIR}/src/gctrace.c)

# gm_fuzz_target(exe name [LIB lib] [SOURCES extra.c...]): target tests/fuzz/fuzz_<name>.c
# built as exe with gomem's sources and headers in view, extra sources compiled in,
# linked with lib if given.
function(gm_fuzz_target exe name)
  cmake_parse_arguments(F "" "LIB" "SOURCES" ${ARGN})
  add_executable(${exe} ${GM_FUZZ_DIR}/fuzz_${name}.c ${F_SOURCES})
  target_include_directories(${exe} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(${exe} PRIVATE GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
  if(F_LIB)
    target_link_libraries(${exe} PRIVATE ${F_LIB})
  endif()
endfunction()

# gm_fuzz_replay(name timeout ...): the replay build fuzz_<name>_replay, run by ctest over
# the seed corpus tests/fuzz/corpus/<name>; other arguments as gm_fuzz_target.
function(gm_fuzz_replay name timeout)
  gm_fuzz_target(fuzz_${name}_replay ${name} ${ARGN})
  target_compile_definitions(fuzz_${name}_replay PRIVATE GM_FUZZ_REPLAY=1)
  target_compile_options(fuzz_${name}_replay PRIVATE ${GM_WARN})
  add_test(NAME fuzz_${name}_replay COMMAND fuzz_${name}_replay ${GM_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz_${name}_replay PROPERTIES LABELS fuzz TIMEOUT ${timeout})
endfunction()

# knobs: only the parsers (env.c, fmt.c, gctrace.c), compiled in directly.
gm_fuzz_replay(knobs 60 SOURCES ${GM_FUZZ_KNOB_SOURCES})
# ops: the whole heap; links the static library for the internal verifier.
gm_fuzz_replay(ops 120 LIB gomem_static)
# dwarf: the DWARF line-table reader of the profile writer (links the static library).
gm_fuzz_replay(dwarf 60 LIB gomem_static)

option(GM_BUILD_FUZZ "build the libFuzzer targets (clang)" OFF)
if(GM_BUILD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "GM_BUILD_FUZZ needs clang (CC=clang)")
  endif()
  set(GM_FUZZ_SAN -fsanitize=address,undefined -fno-sanitize-recover=undefined
                  -fno-sanitize-address-use-after-scope -fno-omit-frame-pointer)

  # The library is rebuilt with coverage instrumentation (fuzzer-no-link) and sanitizers.
  add_library(gomem_fuzz STATIC ${GM_SOURCES})
  target_include_directories(gomem_fuzz PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_definitions(gomem_fuzz PRIVATE GM_BUILDING_LIBRARY=1 GM_DEBUG=${GM_DEBUG} _GNU_SOURCE)
  target_compile_options(gomem_fuzz PRIVATE -g -O2 -fno-strict-aliasing -ftls-model=initial-exec
    -fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp ${GM_FUZZ_SAN})
  # (no comparison tracing in the library: scan_range compares every word of every root,
  # including libFuzzer's 10 MB .bss, and tracing made one collection take 10 ms)
  target_link_libraries(gomem_fuzz PUBLIC Threads::Threads ${CMAKE_DL_LIBS})

  gm_fuzz_target(fuzz_knobs knobs SOURCES ${GM_FUZZ_KNOB_SOURCES})
  gm_fuzz_target(fuzz_ops ops LIB gomem_fuzz)
  gm_fuzz_target(fuzz_dwarf dwarf LIB gomem_fuzz)
  foreach(t fuzz_knobs fuzz_ops fuzz_dwarf)
    target_compile_options(${t} PRIVATE -g -O1 -fsanitize=fuzzer ${GM_FUZZ_SAN})
    target_link_options(${t} PRIVATE -fsanitize=fuzzer ${GM_FUZZ_SAN})
  endforeach()
endif()
