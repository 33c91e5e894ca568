-- Creates every cached_embed function. Safe to run twice.
-- Needs cached_embed.so in the server's plugin_dir and the INSERT privilege
-- on the mysql database (CREATE FUNCTION ... SONAME writes mysql.func).
CREATE FUNCTION IF NOT EXISTS cached_embed RETURNS STRING SONAME 'cached_embed.so';
CREATE AGGREGATE FUNCTION IF NOT EXISTS cached_embed_warm RETURNS INTEGER SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS embedding_cosine RETURNS REAL SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS embedding_dims RETURNS INTEGER SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS embedding_to_json RETURNS STRING SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS cached_embed_stats RETURNS STRING SONAME 'cached_embed.so';
