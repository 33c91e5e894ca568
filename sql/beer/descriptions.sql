-- The notebook's description query as a view over the Open Beer DB:
-- beers ⨝ breweries ⨝ styles (⨝ categories), one row per beer (5,901).
-- descr_long is what gets embedded for search; descr_short is a label.
-- LEFT JOINs keep the 1,468 beers whose style_id/cat_id is -1 (no style).
CREATE OR REPLACE VIEW descriptions AS
SELECT b.id,
       b.name,
       br.name AS brewery,
       s.style_name AS style,
       CONCAT_WS('. ',
                 b.name,
                 CONCAT('Brewed by ', br.name,
                        IF(br.city <> '', CONCAT(' in ', br.city), ''),
                        IF(br.country <> '', CONCAT(', ', br.country), '')),
                 IF(s.style_name IS NULL, NULL, CONCAT('Style: ', s.style_name)),
                 IF(c.cat_name IS NULL, NULL, CONCAT('Category: ', c.cat_name)),
                 IF(b.abv > 0, CONCAT('ABV ', ROUND(b.abv, 1), '%'), NULL),
                 NULLIF(TRIM(b.descript), '')) AS descr_long,
       CONCAT(b.name, ' (', COALESCE(s.style_name, 'beer'), ') by ', br.name)
         AS descr_short
FROM beers b
JOIN breweries br ON br.id = b.brewery_id
LEFT JOIN styles s ON s.id = b.style_id
LEFT JOIN categories c ON c.id = b.cat_id;
