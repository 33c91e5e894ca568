# Expected-output SQL tests (tests/sql/README.md): one ctest entry per
# tests/sql/input/NAME.sql, sql.NAME, run by tests/sql/run_sql_tests.py with
# the mariadb client against the servers of the `servers` fixture
# (integration/tests.cmake). The actual output of each file is kept in
# build/sql-results/NAME.out.
file(GLOB CE_SQL_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/sql/input/*.sql)
foreach(src ${CE_SQL_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME sql.${name}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/sql/run_sql_tests.py
                   --results ${CMAKE_BINARY_DIR}/sql-results ${name})
  set_tests_properties(sql.${name} PROPERTIES
    FIXTURES_REQUIRED servers RESOURCE_LOCK servers
    ENVIRONMENT "CE_STATE=${CMAKE_BINARY_DIR}/servers.env"
    LABELS "integration;sql" TIMEOUT 600)
endforeach()
