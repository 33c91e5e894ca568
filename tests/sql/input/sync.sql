-- cached_embed.sync: brings a vector column up to date with its text, only
-- for the rows whose text changed. Returns one row: embedded, unchanged,
-- failed.
CREATE DATABASE sqltest;
CREATE TABLE sqltest.beers (
  id INT PRIMARY KEY,
  name VARCHAR(100),
  descript TEXT,
  embedding VARBINARY(3072) NULL,
  embedding_src BINARY(32) NULL);
INSERT INTO sqltest.beers (id, name, descript) VALUES
  (1, 'Citra Blast', 'hoppy citrus IPA'),
  (2, 'Midnight', 'A roasty chocolate stout'),
  (3, 'Garde', 'Bière de garde'),
  (4, 'Nameless', NULL),
  (5, 'Twin', 'hoppy citrus IPA');

-- the first run embeds every row that has a text; NULL texts stay NULL
SET @before = cached_embed_stats();
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding_src', 2);
SELECT JSON_VALUE(cached_embed_stats(), '$.provider_inputs') - JSON_VALUE(@before, '$.provider_inputs') AS provider_inputs;
SELECT id, LENGTH(embedding) AS bytes, SHA2(embedding, 256) AS vector_sha256,
       HEX(embedding_src) = SHA2(descript, 256) AS src_is_text_sha256
FROM sqltest.beers ORDER BY id;
-- the vectors are the passages of the texts, under content-addressed keys
SELECT COUNT(*) AS same_as_cached_embed FROM sqltest.beers
WHERE embedding = cached_embed(NULL, descript, NULL, 'passage');
\! redis-cli --scan | grep -v ':v2:lock:' | sort

-- a second run has nothing to do: no provider request, no write
SET @before = cached_embed_stats();
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding_src', 2);
SELECT JSON_VALUE(cached_embed_stats(), '$.provider_requests') - JSON_VALUE(@before, '$.provider_requests') AS provider_requests;

-- an edit, a text that appears, a text that goes: three rows to do
UPDATE sqltest.beers SET descript = 'pale ale' WHERE id = 2;
UPDATE sqltest.beers SET descript = 'A roasty chocolate stout' WHERE id = 4;
UPDATE sqltest.beers SET descript = NULL WHERE id = 5;
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding_src', 1000);
SELECT id, descript, LENGTH(embedding) AS bytes, SHA2(embedding, 256) AS vector_sha256
FROM sqltest.beers ORDER BY id;

-- any expression of the row's columns is a text
CALL cached_embed.sync('sqltest.beers', 'CONCAT_WS(". ", name, descript)', 'embedding', 'embedding_src', 1000);
SELECT COUNT(*) AS same_as_cached_embed FROM sqltest.beers
WHERE embedding = cached_embed(NULL, CONCAT_WS('. ', name, descript), NULL, 'passage');

-- arguments it refuses (\w: without the warnings that repeat each error
-- and name the line of the procedure)
\w
CALL cached_embed.sync('beers', 'descript', 'embedding', 'embedding_src', 10);
CALL cached_embed.sync('sqltest.nosuch', 'descript', 'embedding', 'embedding_src', 10);
CALL cached_embed.sync('sqltest.beers', '', 'embedding', 'embedding_src', 10);
CALL cached_embed.sync('sqltest.beers', 'descript', 'vec', 'embedding_src', 10);
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'name', 10);
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding', 10);
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding_src', 0);
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding_src', NULL);
START TRANSACTION;
CALL cached_embed.sync('sqltest.beers', 'descript', 'embedding', 'embedding_src', 10);
ROLLBACK;
CREATE TABLE sqltest.nokey (body TEXT, v BLOB, src BINARY(32));
CALL cached_embed.sync('sqltest.nokey', 'body', 'v', 'src', 10);
\W
DROP DATABASE sqltest;
