# Memcheck over a gomem built with -DGM_TRACK_VALGRIND=ON (tests/valgrind/run.sh builds
# its own tree). Skipped (77) when valgrind is not installed.
add_executable(vg_test ${CMAKE_CURRENT_LIST_DIR}/vg_test.c)
target_compile_definitions(vg_test PRIVATE _GNU_SOURCE)
target_compile_options(vg_test PRIVATE ${GM_WARN})
target_link_libraries(vg_test PRIVATE gomem_static)
add_test(NAME test_valgrind
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/valgrind_build)
set_tests_properties(test_valgrind PROPERTIES LABELS valgrind TIMEOUT 300 SKIP_RETURN_CODE 77)
