# libFuzzer targets for the parsers that read outside data, built with clang
# (-fsanitize=fuzzer,address,undefined) when it is installed. ctest runs each
# for CE_FUZZ_SECONDS from the seed corpus in tests/fuzz/corpus/<target>/
# (new inputs go to the build tree); a crash, leak or UB report fails it.
find_program(CE_CLANG NAMES clang clang-14)
set(CE_FUZZ_SECONDS 20 CACHE STRING "seconds each fuzz target runs under ctest")
if(CE_CLANG)
  execute_process(COMMAND pkg-config --cflags --libs hiredis libcurl jansson libssl libcrypto
                  OUTPUT_VARIABLE _fuzz_pc OUTPUT_STRIP_TRAILING_WHITESPACE)
  separate_arguments(_fuzz_pc UNIX_COMMAND "${_fuzz_pc}")
  list(TRANSFORM CE_CORE_SOURCES PREPEND "${PROJECT_SOURCE_DIR}/" OUTPUT_VARIABLE _fuzz_core)
  foreach(t provider config redis_url redis_reply entry)
    set(_src ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.c)
    set(_bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz_${t})
    add_custom_command(OUTPUT ${_bin}
      COMMAND ${CE_CLANG} -std=gnu11 -g -O1 -fno-omit-frame-pointer
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
              -I${PROJECT_SOURCE_DIR}/udf ${_src} ${_fuzz_core} ${_fuzz_pc}
              -lpthread -lm -o ${_bin}
      DEPENDS ${_src} ${_fuzz_core}
      COMMENT "clang libFuzzer target fuzz_${t}" VERBATIM)
    add_custom_target(fuzz_${t}_bin ALL DEPENDS ${_bin})
    file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus/${t})
    add_test(NAME fuzz.${t}
      COMMAND ${_bin} -max_total_time=${CE_FUZZ_SECONDS} -print_final_stats=1
              -max_len=65536 -timeout=10 -rss_limit_mb=2048
              ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus/${t}
              ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
    set_tests_properties(fuzz.${t} PROPERTIES LABELS fuzz
      TIMEOUT 300
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
else()
  message(STATUS "clang not found: fuzz targets not built (tests/install-deps.sh installs it)")
endif()
