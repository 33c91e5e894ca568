-- Backfill recipe: store every beer's vector in a column once, then search
-- the column. Run in the database of sql/beer/load.sh (default: openbeer).
--
-- cached_embed_warm() is the warm-up aggregate: batched, parallel provider
-- requests for every text not cached yet (24 requests for the 5,901 beers
-- instead of 5,901).

-- A side table keeps the dump's tables untouched; a column on beers works
-- the same way:  ALTER TABLE beers ADD COLUMN vec VARBINARY(3072);
-- 3072 bytes = 768 float32 (jina-embeddings-v2-base-en).
CREATE TABLE IF NOT EXISTS beer_vectors (
  id  INT PRIMARY KEY,
  vec VARBINARY(3072)
);

-- 1. Warm-up: embeds every text not yet cached, many per provider request;
--    returns the number of rows it made sure are cached.
SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) AS warmed
FROM descriptions;

-- 2. Write the vectors: every row is now a cache hit (no provider call).
INSERT INTO beer_vectors (id, vec)
SELECT id, cached_embed(CONCAT('beer:', id, ':long'), descr_long)
FROM descriptions
ON DUPLICATE KEY UPDATE vec = VALUES(vec);

-- Or, with the column on beers (the descriptions view is over beers):
--   UPDATE beers b JOIN descriptions d ON d.id = b.id
--   SET b.vec = cached_embed(CONCAT('beer:', d.id, ':long'), d.descr_long);

-- Check: every beer has a 768-float vector.
SELECT COUNT(*) AS beers, COUNT(vec) AS with_vector,
       MIN(embedding_dims(vec)) AS dims
FROM beer_vectors;
