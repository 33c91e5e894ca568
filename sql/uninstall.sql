-- Drops every cached_embed function, then (MariaDB) the plugin. Safe to run
-- twice. Needs the DELETE privilege on the mysql database.
DROP FUNCTION IF EXISTS cached_embed;
DROP FUNCTION IF EXISTS cached_embed_query;
DROP FUNCTION IF EXISTS cached_embed_warm;
DROP FUNCTION IF EXISTS embedding_cosine;
DROP FUNCTION IF EXISTS embedding_dims;
DROP FUNCTION IF EXISTS embedding_to_json;
DROP FUNCTION IF EXISTS cached_embed_stats;
/*M!100400 UNINSTALL PLUGIN IF EXISTS cached_embed */ /*!80000 DO 0 */;

-- ---- cached_embed.sync (sql/sync.sql): the procedure, then its schema if
-- nothing else lives there ----
DROP PROCEDURE IF EXISTS cached_embed.sync;
SET @cached_embed_keep =
  (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'cached_embed')
  + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'cached_embed')
  + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'cached_embed');
SET @cached_embed_sql = IF(@cached_embed_keep = 0, 'DROP DATABASE IF EXISTS cached_embed', 'DO 0');
PREPARE cached_embed_stmt FROM @cached_embed_sql;
EXECUTE cached_embed_stmt;
DEALLOCATE PREPARE cached_embed_stmt;
SET @cached_embed_keep = NULL, @cached_embed_sql = NULL;
