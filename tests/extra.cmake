# Test areas with their own scripts: each tests/<area>/tests.cmake registers its tests.
file(GLOB GM_EXTRA_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*/tests.cmake)
foreach(f ${GM_EXTRA_TESTS})
  include(${f})
endforeach()
