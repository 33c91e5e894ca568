-- The notebook's query: beers ⨝ breweries ⨝ styles ⨝ categories built in
-- WITH clauses, a long and a short description per beer, every 12th beer
-- (id % 12 = 1: 492 of the 5,901), and both descriptions embedded inline
-- under the notebook's keys '<id>_long' and '<id>_court'.
-- Run in the database that sql/beer/load.sh created (default: openbeer):
--   mariadb openbeer < sql/examples/notebook_join.sql
--
-- One statement, batched: the CTE `warm` runs cached_embed_warm over every
-- row first (an aggregate, so its derived table is materialized before the
-- outer SELECT produces a row); the outer cached_embed calls then find every
-- vector in the cache. Cold, that is ceil(492 / batch) provider requests per
-- description (2 + 2 with batch 256), not one per row.
-- The texts are those of the `descriptions` view (sql/beer/descriptions.sql),
-- so the vectors are the same.
WITH
beer AS (
  SELECT id, brewery_id, style_id, cat_id, name, abv, descript
  FROM beers
),
brewery AS (
  SELECT id, name, city, country
  FROM breweries
),
style AS (
  SELECT id, style_name
  FROM styles
),
category AS (
  SELECT id, cat_name
  FROM categories
),
descr AS (
  SELECT beer.id,
         CONCAT_WS('. ',
                   beer.name,
                   CONCAT('Brewed by ', brewery.name,
                          IF(brewery.city <> '', CONCAT(' in ', brewery.city), ''),
                          IF(brewery.country <> '', CONCAT(', ', brewery.country), '')),
                   IF(style.style_name IS NULL, NULL, CONCAT('Style: ', style.style_name)),
                   IF(category.cat_name IS NULL, NULL, CONCAT('Category: ', category.cat_name)),
                   IF(beer.abv > 0, CONCAT('ABV ', ROUND(beer.abv, 1), '%'), NULL),
                   NULLIF(TRIM(beer.descript), '')) AS descr_long,
         CONCAT(beer.name, ' (', COALESCE(style.style_name, 'beer'), ') by ', brewery.name)
           AS descr_short
  FROM beer
  JOIN brewery ON brewery.id = beer.brewery_id
  LEFT JOIN style ON style.id = beer.style_id
  LEFT JOIN category ON category.id = beer.cat_id
  WHERE beer.id % 12 = 1
),
warm AS (
  SELECT cached_embed_warm(CONCAT(id, '_long'), descr_long) AS long_cached,
         cached_embed_warm(CONCAT(id, '_court'), descr_short) AS court_cached
  FROM descr
)
SELECT descr.id,
       descr.descr_long,
       descr.descr_short,
       cached_embed(CONCAT(descr.id, '_long'), descr.descr_long) AS embedding_long,
       cached_embed(CONCAT(descr.id, '_court'), descr.descr_short) AS embedding_court
FROM warm CROSS JOIN descr;
