-- The native VECTOR variant: MariaDB 11.7+ (shown) or MySQL 9.
-- It does NOT run on MariaDB 10.11 (Debian 12's server): 10.11 has no VECTOR
-- type, no VECTOR INDEX and no VEC_DISTANCE_COSINE. There, use
-- sql/examples/backfill.sql and sql/examples/similar.sql instead.
-- cached_embed returns exactly the VECTOR byte layout (little-endian
-- float32, no header), so its BLOB goes into a VECTOR(768) column as is.

CREATE TABLE IF NOT EXISTS beer_vec (
  id INT PRIMARY KEY,
  v  VECTOR(768) NOT NULL,
  VECTOR INDEX (v) M=8 DISTANCE=cosine   -- built for cosine: VEC_DISTANCE_COSINE uses it
) ENGINE=InnoDB;

-- One statement, batched: the derived table `warm` embeds every text not
-- cached yet in a few large provider requests before the SELECT reads a row.
INSERT INTO beer_vec (id, v)
SELECT d.id, cached_embed(CONCAT('beer:', d.id, ':long'), d.descr_long)
FROM (SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) AS warmed
      FROM descriptions) AS warm
CROSS JOIN descriptions AS d
WHERE d.descr_long IS NOT NULL;

-- The query vector must sit in a variable: the vector index is used only when
-- VEC_DISTANCE_COSINE compares the column with a constant (a variable counts,
-- an inline cached_embed(...) call does not, so that would be a full scan).
SET @q = cached_embed_query('hoppy citrus IPA');

SELECT d.id, d.name, d.style, VEC_DISTANCE_COSINE(b.v, @q) AS distance
FROM beer_vec b
JOIN descriptions d ON d.id = b.id
ORDER BY VEC_DISTANCE_COSINE(b.v, @q)
LIMIT 10;

-- MySQL 9: the column is VECTOR(768) too, but there is no VECTOR INDEX in
-- the community server; DISTANCE(b.v, @q, 'COSINE') (HeatWave) or
-- embedding_cosine(b.v, @q) does the ranking. STRING_TO_VECTOR(
-- embedding_to_json(...)) / VEC_FromText(embedding_to_json(...)) turn a
-- vector into text and back for inspection.
