# Sourced (not executed: keep it non-executable) by the mariadb and mysql
# images' entrypoint on the first start, with an empty data directory; both
# entrypoints provide docker_process_sql (the client on the init socket).
# Creates the functions, then loads the Open Beer DB and its `descriptions`
# view. tests/integration/test_docker_init.py runs this file the same way.
ce_sql=${CE_SQL_DIR:-/opt/cached_embed/sql}
ce_db=${CE_BEER_DB:-openbeer}
echo "cached_embed init: functions from $ce_sql/install.sql, beer data into $ce_db"
docker_process_sql < "$ce_sql/install.sql"
echo "CREATE DATABASE IF NOT EXISTS \`$ce_db\` CHARACTER SET utf8mb4" | docker_process_sql
for ce_f in beers breweries categories styles geocodes descriptions; do
  docker_process_sql --database="$ce_db" < "$ce_sql/beer/$ce_f.sql"
done
unset ce_sql ce_db ce_f
