# The gomem-report end-to-end test (tests/report/report_test.sh): skipped (77) when
# chromium or python3 is missing.
if(GM_BUILD_EXAMPLES)
  add_test(NAME test_report_html
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/report_test.sh $<TARGET_FILE:demo>
            ${CMAKE_SOURCE_DIR}/tools/gomem-report ${CMAKE_CURRENT_BINARY_DIR}/report_html)
  set_tests_properties(test_report_html PROPERTIES LABELS report TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
