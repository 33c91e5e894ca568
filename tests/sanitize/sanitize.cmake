# cached_embed.so built again under ASan+UBSan and under TSan (they cannot
# be combined), each with a driver that dlopen()s it and calls the entry
# points from 8 threads the way the server does (tests/sanitize/driver.c),
# against the servers of the ctest fixture. Any sanitizer report fails.
list(TRANSFORM CE_CORE_SOURCES PREPEND "${PROJECT_SOURCE_DIR}/" OUTPUT_VARIABLE _san_core)
list(TRANSFORM CE_UDF_SOURCES PREPEND "${PROJECT_SOURCE_DIR}/" OUTPUT_VARIABLE _san_udf)
set(_san_asan -fsanitize=address,undefined -fno-sanitize-recover=all)
set(_san_tsan -fsanitize=thread)
foreach(kind asan tsan)
  add_library(cached_embed_${kind} MODULE ${_san_udf} ${_san_core})
  set_target_properties(cached_embed_${kind} PROPERTIES PREFIX ""
    C_VISIBILITY_PRESET hidden)
  target_include_directories(cached_embed_${kind} PRIVATE
    ${PROJECT_SOURCE_DIR}/udf ${CE_UDF_INCLUDE_DIR})
  target_compile_options(cached_embed_${kind} PRIVATE ${CE_WARNINGS}
    ${_san_${kind}} -g -O1 -fno-omit-frame-pointer)
  target_link_options(cached_embed_${kind} PRIVATE ${_san_${kind}})
  target_link_libraries(cached_embed_${kind} PRIVATE ${CE_CORE_LIBS} ${CMAKE_DL_LIBS})

  add_executable(driver_${kind} ${CMAKE_CURRENT_SOURCE_DIR}/sanitize/driver.c)
  target_include_directories(driver_${kind} PRIVATE
    ${PROJECT_SOURCE_DIR}/udf ${CE_UDF_INCLUDE_DIR})
  target_compile_options(driver_${kind} PRIVATE ${CE_WARNINGS}
    ${_san_${kind}} -g -O1 -fno-omit-frame-pointer)
  target_link_options(driver_${kind} PRIVATE ${_san_${kind}})
  target_link_libraries(driver_${kind} PRIVATE PkgConfig::CURL Threads::Threads
    ${CMAKE_DL_LIBS} m)

  add_test(NAME sanitize.${kind}
    COMMAND ${CE_PY} ${CMAKE_CURRENT_SOURCE_DIR}/sanitize/run_driver.py
            $<TARGET_FILE:driver_${kind}> $<TARGET_FILE:cached_embed_${kind}>)
  set_tests_properties(sanitize.${kind} PROPERTIES
    FIXTURES_REQUIRED servers RESOURCE_LOCK servers LABELS sanitize TIMEOUT 900)
endforeach()
set_tests_properties(sanitize.asan PROPERTIES ENVIRONMENT
  "CE_STATE=${CE_STATE};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
set_tests_properties(sanitize.tsan PROPERTIES ENVIRONMENT
  "CE_STATE=${CE_STATE};PYTHONDONTWRITEBYTECODE=1;TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/sanitize/tsan.supp")

# The single-flight table hammered from 16 threads under TSan (the same test
# as unit.test_inflight, which runs under ASan): no servers needed.
add_executable(test_inflight_tsan ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_inflight.c
  ${PROJECT_SOURCE_DIR}/udf/inflight.c ${PROJECT_SOURCE_DIR}/udf/clock.c)
target_include_directories(test_inflight_tsan PRIVATE ${PROJECT_SOURCE_DIR}/udf
  ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_compile_options(test_inflight_tsan PRIVATE ${CE_WARNINGS} ${_san_tsan}
  -g -O1 -fno-omit-frame-pointer)
target_link_options(test_inflight_tsan PRIVATE ${_san_tsan})
target_link_libraries(test_inflight_tsan PRIVATE Threads::Threads)
add_test(NAME sanitize.tsan_inflight COMMAND test_inflight_tsan)
set_tests_properties(sanitize.tsan_inflight PROPERTIES LABELS sanitize TIMEOUT 300
  ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1")
