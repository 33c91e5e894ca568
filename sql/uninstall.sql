-- Drops every cached_embed function. Safe to run twice.
DROP FUNCTION IF EXISTS cached_embed;
DROP FUNCTION IF EXISTS cached_embed_warm;
