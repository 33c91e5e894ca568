-- cached_embed against the local embedding server (tests/embed_server). Its
-- vectors depend only on the text (and task and dimensions): hashed words,
-- bigrams and trigrams, L2-normalised, as float32. So a vector is recorded
-- here by its length, its SHA-256 and its non-zero values. The runner starts
-- the file with an empty Redis and the harness's settings: model
-- jina-embeddings-v2-base-en (768 values), ttl 1200, no local cache.

-- a vector: 768 float32 values, 3072 bytes
SELECT LENGTH(cached_embed('beer:1', 'hoppy citrus IPA')) AS bytes,
       embedding_dims(cached_embed('beer:1', 'hoppy citrus IPA')) AS dims,
       SHA2(cached_embed('beer:1', 'hoppy citrus IPA'), 256) AS sha256;
-- its non-zero values, as JSON text (position from 1)
SELECT v.i, v.x
FROM JSON_TABLE(embedding_to_json(cached_embed('beer:2', 'pale ale')), '$[*]'
       COLUMNS (i FOR ORDINALITY, x VARCHAR(20) PATH '$')) AS v
WHERE v.x <> '0' ORDER BY v.i;
-- unit length
SELECT ROUND(SQRT(SUM(v.x * v.x)), 6) AS norm
FROM JSON_TABLE(embedding_to_json(cached_embed('beer:2', 'pale ale')), '$[*]'
       COLUMNS (x DOUBLE PATH '$')) AS v;

-- the cache: one Redis entry per key, under
-- <key_prefix>v2:<model>[#<task>]:<key> (beside them, single-flight locks
-- <key_prefix>v2:lock:<hex> live for 23 s: left out here)
\! redis-cli --scan | grep -v ':v2:lock:' | sort

-- a second call is a hit: no provider request
SET @before = cached_embed_stats();
SELECT SHA2(cached_embed('beer:1', 'hoppy citrus IPA'), 256) AS sha256;
SELECT JSON_VALUE(cached_embed_stats(), '$.hits') - JSON_VALUE(@before, '$.hits') AS hits,
       JSON_VALUE(cached_embed_stats(), '$.hits_redis') - JSON_VALUE(@before, '$.hits_redis') AS hits_redis,
       JSON_VALUE(cached_embed_stats(), '$.misses') - JSON_VALUE(@before, '$.misses') AS misses,
       JSON_VALUE(cached_embed_stats(), '$.provider_requests') - JSON_VALUE(@before, '$.provider_requests') AS provider_requests;

-- key NULL: the key is the SHA-256 of the text (content-addressed), the
-- vector the same
SELECT cached_embed(NULL, 'hoppy citrus IPA') = cached_embed('beer:1', 'hoppy citrus IPA') AS same_vector;
SELECT CONCAT('sha256:', SHA2('hoppy citrus IPA', 256)) AS content_key;
\! redis-cli --scan --pattern '*sha256:*'

-- the same key with another text: the new text is embedded and replaces
-- the entry
SET @before = cached_embed_stats();
SELECT SHA2(cached_embed('beer:1', 'A roasty chocolate stout'), 256) = SHA2(cached_embed(NULL, 'A roasty chocolate stout'), 256) AS is_the_stout;
SELECT JSON_VALUE(cached_embed_stats(), '$.misses') - JSON_VALUE(@before, '$.misses') AS misses;
SELECT cached_embed('beer:1', 'A roasty chocolate stout') = cached_embed(NULL, 'A roasty chocolate stout') AS same_vector;

-- related texts are near, others far
SELECT ROUND(embedding_cosine(cached_embed(NULL, 'hoppy citrus IPA'),
                              cached_embed(NULL, 'An IPA with big citrus hop aroma')), 4) AS ipa_ipa,
       ROUND(embedding_cosine(cached_embed(NULL, 'hoppy citrus IPA'),
                              cached_embed(NULL, 'A roasty chocolate stout')), 4) AS ipa_stout;

-- NULL text, empty or white-space text: NULL, no provider request, counted
SET @before = cached_embed_stats();
SELECT cached_embed('k', NULL) AS null_text, cached_embed(NULL, NULL) AS both_null,
       cached_embed('k', '') AS empty, cached_embed('k', ' \t\n ') AS blank;
SELECT JSON_VALUE(cached_embed_stats(), '$.null_texts') - JSON_VALUE(@before, '$.null_texts') AS null_texts,
       JSON_VALUE(cached_embed_stats(), '$.empty_texts') - JSON_VALUE(@before, '$.empty_texts') AS empty_texts,
       JSON_VALUE(cached_embed_stats(), '$.provider_requests') - JSON_VALUE(@before, '$.provider_requests') AS provider_requests;

-- a text without any word: the server's unit vector (1, 0, 0, ...)
SELECT HEX(LEFT(cached_embed(NULL, '!!!'), 12)) AS first_three,
       cached_embed(NULL, '!!!') = CONCAT(X'0000803F', REPEAT(X'00', 3068)) AS is_unit_x;

-- ttl_seconds: NULL or negative = the configured ttl (1200), 0 = no expiry,
-- over ten years = ten years
SELECT LENGTH(cached_embed('ttl:default', 'lager')) AS a,
       LENGTH(cached_embed('ttl:null', 'lager', NULL)) AS b,
       LENGTH(cached_embed('ttl:negative', 'lager', -5)) AS c,
       LENGTH(cached_embed('ttl:zero', 'lager', 0)) AS d,
       LENGTH(cached_embed('ttl:60', 'lager', 60)) AS e,
       LENGTH(cached_embed('ttl:string', 'lager', '60')) AS f,
       LENGTH(cached_embed('ttl:huge', 'lager', 999999999999)) AS g;
\! redis-cli --scan --pattern '*:ttl:*' | sort | xargs -I{} sh -c 'echo {} $(redis-cli TTL {})' | awk '{ print $1, ($2 == -1 ? "no expiry" : $2 > 1100 && $2 <= 1200 ? "1101..1200 s" : $2 > 50 && $2 <= 60 ? "51..60 s" : $2 > 315350000 && $2 <= 315360000 ? "ten years" : "unexpected " $2) }'

-- task: a query and a passage are two entries (the task is part of the key);
-- cached_embed_query(text) is cached_embed(NULL, text, NULL, 'query')
SELECT cached_embed_query('hoppy citrus IPA') = cached_embed(NULL, 'hoppy citrus IPA', NULL, 'query') AS query_is_query,
       LENGTH(cached_embed(NULL, 'hoppy citrus IPA', NULL, 'passage')) AS passage_bytes;
\! redis-cli --scan --pattern '*retrieval*' | sort
-- jina-embeddings-v2 takes no task field: the three vectors are one
SELECT cached_embed_query('hoppy citrus IPA') = cached_embed(NULL, 'hoppy citrus IPA') AS query_is_plain,
       cached_embed(NULL, 'hoppy citrus IPA', NULL, 'passage') = cached_embed(NULL, 'hoppy citrus IPA') AS passage_is_plain;
-- jina-embeddings-v3 does (the local server adds the task as a feature);
-- with dimensions = 256 it returns the first 256 values, renormalised
SET GLOBAL cached_embed_model = 'jina-embeddings-v3';
SET GLOBAL cached_embed_dimensions = 256;
SELECT embedding_dims(cached_embed_query('hoppy citrus IPA')) AS dims,
       ROUND(embedding_cosine(cached_embed_query('hoppy citrus IPA'),
                              cached_embed(NULL, 'hoppy citrus IPA', NULL, 'passage')), 4) AS query_vs_passage;
SELECT v.i, v.x
FROM JSON_TABLE(embedding_to_json(cached_embed(NULL, 'hoppy citrus IPA', NULL, 'passage')), '$[*]'
       COLUMNS (i FOR ORDINALITY, x VARCHAR(20) PATH '$')) AS v
WHERE v.x <> '0' ORDER BY v.i;
\! redis-cli --scan --pattern '*jina-embeddings-v3*' | sort
SET GLOBAL cached_embed_model = DEFAULT;
SET GLOBAL cached_embed_dimensions = DEFAULT;
-- a task from a column is checked row by row: a bad one makes its row NULL
-- (with a line in the error log), the statement goes on
CREATE DATABASE sqltest;
CREATE TABLE sqltest.tasks (id INT PRIMARY KEY, task VARCHAR(80));
INSERT INTO sqltest.tasks VALUES (1, 'query'), (2, 'not a task'), (3, NULL), (4, 'passage');
SELECT id, task, LENGTH(cached_embed(NULL, 'hoppy citrus IPA', NULL, task)) AS bytes
FROM sqltest.tasks ORDER BY id;
DROP DATABASE sqltest;

-- rows of a table: one call a row, each with its own key; a NULL text is a
-- NULL row
CREATE DATABASE sqltest;
CREATE TABLE sqltest.docs (id INT PRIMARY KEY, body TEXT);
INSERT INTO sqltest.docs VALUES
  (1, 'hoppy citrus IPA'), (2, 'A roasty chocolate stout'), (3, NULL),
  (4, 'Bière de garde'), (5, 'hoppy citrus IPA');
SET @before = cached_embed_stats();
SELECT id, LENGTH(cached_embed(CONCAT('doc:', id), body)) AS bytes,
       SHA2(cached_embed(CONCAT('doc:', id), body), 256) AS sha256
FROM sqltest.docs ORDER BY id;
SELECT JSON_VALUE(cached_embed_stats(), '$.misses') - JSON_VALUE(@before, '$.misses') AS misses,
       JSON_VALUE(cached_embed_stats(), '$.hits') - JSON_VALUE(@before, '$.hits') AS hits;
\! redis-cli --scan --pattern '*:doc:*' | sort

-- the warm-up: every text not cached yet, in one batched provider request;
-- the rows then read the cache
CREATE TABLE sqltest.more (id INT PRIMARY KEY, body TEXT);
INSERT INTO sqltest.more
SELECT seq, CONCAT('beer number ', seq, ' of the cellar') FROM sqltest.seq_1_to_20;
SET @before = cached_embed_stats();
SELECT cached_embed_warm(CONCAT('more:', id), body) AS cached FROM sqltest.more;
SELECT JSON_VALUE(cached_embed_stats(), '$.provider_requests') - JSON_VALUE(@before, '$.provider_requests') AS provider_requests,
       JSON_VALUE(cached_embed_stats(), '$.provider_inputs') - JSON_VALUE(@before, '$.provider_inputs') AS provider_inputs;
SET @before = cached_embed_stats();
SELECT COUNT(*), SUM(LENGTH(cached_embed(CONCAT('more:', id), body))) AS bytes FROM sqltest.more;
SELECT JSON_VALUE(cached_embed_stats(), '$.hits') - JSON_VALUE(@before, '$.hits') AS hits,
       JSON_VALUE(cached_embed_stats(), '$.provider_requests') - JSON_VALUE(@before, '$.provider_requests') AS provider_requests;
-- warm again: all cached already, nothing sent
SET @before = cached_embed_stats();
SELECT cached_embed_warm(CONCAT('more:', id), body) AS cached FROM sqltest.more;
SELECT JSON_VALUE(cached_embed_stats(), '$.provider_requests') - JSON_VALUE(@before, '$.provider_requests') AS provider_requests;
DROP DATABASE sqltest;
