-- Drops every cached_embed function. Safe to run twice.
DROP FUNCTION IF EXISTS cached_embed;
DROP FUNCTION IF EXISTS cached_embed_warm;
DROP FUNCTION IF EXISTS embedding_cosine;
DROP FUNCTION IF EXISTS embedding_dims;
DROP FUNCTION IF EXISTS embedding_to_json;
DROP FUNCTION IF EXISTS cached_embed_stats;
