-- Top 10 beers nearest a free-text query, by cosine similarity.
-- Needs the vectors stored by sql/examples/backfill.sql (beer_vectors).
-- The query text is embedded once into a variable, as a search query
-- (task `query`, cached under the SHA-256 of the text).
SET @q = cached_embed_query('hoppy citrus IPA');

SELECT d.id, d.name, d.brewery, d.style,
       ROUND(embedding_cosine(v.vec, @q), 4) AS similarity
FROM beer_vectors v
JOIN descriptions d ON d.id = v.id
ORDER BY embedding_cosine(v.vec, @q) DESC
LIMIT 10;

-- Without a stored column, straight from the cache (5,901 Redis hits):
--   SELECT name, style,
--          embedding_cosine(cached_embed(CONCAT('beer:', id, ':long'),
--                                        descr_long), @q) AS similarity
--   FROM descriptions ORDER BY similarity DESC LIMIT 10;
