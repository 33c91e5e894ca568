-- sql/install.sql and sql/uninstall.sql, run the way the README says
-- (`mariadb < sql/...`), each twice. The runner installs everything again
-- after this file, whatever happens in it.

-- installed (the runner's starting state)
SELECT name, ret, dl, type FROM mysql.func ORDER BY name;
SELECT PLUGIN_NAME, PLUGIN_STATUS, PLUGIN_TYPE, PLUGIN_LIBRARY
FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'cached_embed';
SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, SECURITY_TYPE
FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'cached_embed';
SELECT COUNT(*) > 0 AS has_status_variables
FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME LIKE 'CACHED\_EMBED\_%';
SELECT COUNT(*) > 0 AS has_system_variables
FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME LIKE 'CACHED\_EMBED\_%';

-- uninstall, twice: the second run finds nothing to drop and succeeds
\! mariadb < sql/uninstall.sql && echo 'uninstall.sql: ok'
\! mariadb < sql/uninstall.sql && echo 'uninstall.sql again: ok'
SELECT name FROM mysql.func ORDER BY name;
SELECT COUNT(*) AS plugin_rows
FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'cached_embed';
SELECT COUNT(*) AS schema_rows
FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'cached_embed';
SELECT COUNT(*) AS status_variables
FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME LIKE 'CACHED\_EMBED\_%';
SELECT COUNT(*) AS system_variables
FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME LIKE 'CACHED\_EMBED\_%';
-- the functions are gone
SELECT embedding_dims(X'0000803F');
SELECT cached_embed('k', 'text');
CALL cached_embed.sync('db.t', 'body', 'v', 'src', 10);

-- a schema cached_embed that holds something else is kept
CREATE DATABASE cached_embed;
CREATE TABLE cached_embed.mine (id INT);
\! mariadb < sql/uninstall.sql && echo 'uninstall.sql: ok'
SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
WHERE TABLE_SCHEMA = 'cached_embed';
DROP DATABASE cached_embed;

-- install, twice
\! mariadb < sql/install.sql && echo 'install.sql: ok'
\! mariadb < sql/install.sql && echo 'install.sql again: ok'
SELECT name, ret, dl, type FROM mysql.func ORDER BY name;
SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS
WHERE PLUGIN_NAME = 'cached_embed';
SELECT ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES
WHERE ROUTINE_SCHEMA = 'cached_embed';
SELECT embedding_dims(X'0000803F'), LENGTH(cached_embed('k', 'text'));

-- the functions without the plugin (MySQL's case): they work the same
UNINSTALL PLUGIN cached_embed;
SELECT COUNT(*) AS plugin_rows
FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'cached_embed';
SELECT embedding_dims(X'0000803F'), LENGTH(cached_embed('k', 'text'));
\! mariadb < sql/install.sql && echo 'install.sql: ok'
SELECT PLUGIN_NAME, PLUGIN_STATUS FROM information_schema.PLUGINS
WHERE PLUGIN_NAME = 'cached_embed';
