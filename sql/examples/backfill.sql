-- Backfill recipe: store every beer's vector in a column once, then search
-- the column. Run in the database of sql/beer/load.sh (default: openbeer).

-- A side table keeps the dump's tables untouched; a column on beers works
-- the same way:  ALTER TABLE beers ADD COLUMN vec VARBINARY(3072);
-- 3072 bytes = 768 float32 (jina-embeddings-v2-base-en).
CREATE TABLE IF NOT EXISTS beer_vectors (
  id  INT PRIMARY KEY,
  vec VARBINARY(3072)
);

-- One statement, batched. The derived table `warm` (cached_embed_warm, the
-- warm-up aggregate) embeds every text not cached yet in a few large
-- provider requests (24 for the 5,901 beers instead of 5,901), and it is
-- materialized before the SELECT produces a row: every cached_embed call
-- below is a cache hit. (A comma join here, not CROSS JOIN, which would
-- read the ON of ON DUPLICATE KEY as its join condition.)
INSERT INTO beer_vectors (id, vec)
SELECT d.id, cached_embed(CONCAT('beer:', d.id, ':long'), d.descr_long)
FROM (SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) AS warmed
      FROM descriptions) AS warm,
     descriptions AS d
ON DUPLICATE KEY UPDATE vec = VALUES(vec);

-- Or, with the column on beers (the descriptions view is over beers):
--   UPDATE beers b
--   JOIN descriptions d ON d.id = b.id
--   CROSS JOIN (SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) AS warmed
--               FROM descriptions) AS warm
--   SET b.vec = cached_embed(CONCAT('beer:', d.id, ':long'), d.descr_long);
-- To keep such a column in step with later edits: sql/examples/sync.sql.

-- Check: every beer has a 768-float vector.
SELECT COUNT(*) AS beers, COUNT(vec) AS with_vector,
       MIN(embedding_dims(vec)) AS dims
FROM beer_vectors;
