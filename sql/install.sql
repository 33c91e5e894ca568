-- Installs cached_embed. Safe to run twice.
-- MariaDB: first the plugin (status and system variables, statement errors,
-- KILL and progress); MySQL skips that line (it runs DO 0) and gets the
-- functions alone. Needs cached_embed.so in the server's plugin_dir and the
-- INSERT privilege on the mysql database (mysql.plugin, mysql.func).
/*M!100400 INSTALL PLUGIN IF NOT EXISTS cached_embed SONAME 'cached_embed' */ /*!80000 DO 0 */;
CREATE FUNCTION IF NOT EXISTS cached_embed RETURNS STRING SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS cached_embed_query RETURNS STRING SONAME 'cached_embed.so';
CREATE AGGREGATE FUNCTION IF NOT EXISTS cached_embed_warm RETURNS INTEGER SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS embedding_cosine RETURNS REAL SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS embedding_dims RETURNS INTEGER SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS embedding_to_json RETURNS STRING SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS cached_embed_stats RETURNS STRING SONAME 'cached_embed.so';
