# The soak program (tests/soak/README.md): built, never run by make test.
add_executable(soak ${CMAKE_CURRENT_LIST_DIR}/soak.c)
target_compile_definitions(soak PRIVATE _GNU_SOURCE)
target_compile_options(soak PRIVATE ${GM_WARN})
target_link_libraries(soak PRIVATE gomem)
