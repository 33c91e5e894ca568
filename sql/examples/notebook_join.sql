-- The notebook's description query (beers ⨝ breweries ⨝ styles, see
-- sql/beer/descriptions.sql) with the embedding computed inline: one vector
-- per beer, from Redis when cached, else from the provider.
-- Run in the database that sql/beer/load.sh created (default: openbeer):
--   mariadb openbeer < sql/examples/notebook_join.sql
-- Key convention: 'beer:<id>:long' for the vector of descr_long. The cache
-- entry is bound to the text, so an edited description is embedded again.
SELECT id,
       descr_short,
       cached_embed(CONCAT('beer:', id, ':long'), descr_long) AS vec
FROM descriptions;
