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
