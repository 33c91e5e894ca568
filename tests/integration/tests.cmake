# Integration tests: real MariaDB + Redis + the local embedding server,
# started once by tests/harness.sh as a ctest fixture.
set(CE_STATE ${CMAKE_BINARY_DIR}/servers.env)
set(CE_PY /usr/bin/python3)

add_test(NAME servers.start COMMAND ${PROJECT_SOURCE_DIR}/tests/harness.sh
         start ${CMAKE_BINARY_DIR} ${CE_STATE})
set_tests_properties(servers.start PROPERTIES FIXTURES_SETUP servers TIMEOUT 120)
add_test(NAME servers.stop COMMAND ${PROJECT_SOURCE_DIR}/tests/harness.sh stop ${CE_STATE})
set_tests_properties(servers.stop PROPERTIES FIXTURES_CLEANUP servers TIMEOUT 60)

file(GLOB CE_IT_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_*.py)
foreach(src ${CE_IT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME integration.${name} COMMAND ${CE_PY} ${src})
  set_tests_properties(integration.${name} PROPERTIES
    FIXTURES_REQUIRED servers RESOURCE_LOCK servers
    ENVIRONMENT "CE_STATE=${CE_STATE};PYTHONDONTWRITEBYTECODE=1"
    LABELS integration TIMEOUT 900)
endforeach()

add_test(NAME embed_server.selftest
         COMMAND ${CE_PY} ${PROJECT_SOURCE_DIR}/tests/embed_server/test_embed_server.py)
set_tests_properties(embed_server.selftest PROPERTIES LABELS unit TIMEOUT 120
  ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")

# The demo starts its own servers (no fixture) and reuses this build.
set_tests_properties(integration.test_demo PROPERTIES FIXTURES_REQUIRED ""
  ENVIRONMENT "CE_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 1800)

# The Redis layer's lock commands against the fixture's Redis and a cluster
# (test_redis_layer.py), built with the sanitized core.
add_executable(ce_redis_layer ${CMAKE_CURRENT_SOURCE_DIR}/integration/redis_layer.c)
target_link_libraries(ce_redis_layer PRIVATE ce_core_test)
