-- Arguments the functions refuse when the statement starts: the whole
-- statement fails with ERROR 1123 naming the function's signature, before
-- any row is read (so also when no row would be read). A bad value in a row
-- is no error: that row is NULL.

-- wrong argument counts
SELECT cached_embed('k');
SELECT cached_embed('k', 'text', 60, 'query', 'extra');
SELECT cached_embed_query();
SELECT cached_embed_query('a', 'b');
SELECT cached_embed_warm('k');
SELECT cached_embed_warm('k', 'text', 'query', 'extra');
SELECT embedding_cosine(X'0000803F');
SELECT embedding_cosine(X'0000803F', X'0000803F', X'0000803F');
SELECT embedding_dims();
SELECT embedding_dims(X'0000803F', X'0000803F');
SELECT embedding_to_json();
SELECT embedding_to_json(X'0000803F', 1);
SELECT cached_embed_stats(1);

-- refused before any row is read
SELECT embedding_dims(1, 2) FROM DUAL WHERE FALSE;

-- ttl_seconds: a constant string must be a whole number; NULL means the
-- configured ttl
SELECT cached_embed('k', 'text', 'ten minutes');
SELECT cached_embed('k', 'text', '1.5');
SELECT cached_embed('k', 'text', '');

-- task: must be a string, and a constant must be a task name (letters,
-- digits, . - _, at most 63)
SELECT cached_embed('k', 'text', NULL, 1);
SELECT cached_embed('k', 'text', NULL, 'retrieval query');
SELECT cached_embed('k', 'text', NULL, 'a/b');
SELECT cached_embed('k', 'text', NULL, REPEAT('q', 64));
SELECT cached_embed_warm('k', 'text', 2);
SELECT cached_embed_warm('k', 'text', 'query;passage');

-- a function that is not in the library, and one that exists already
CREATE FUNCTION cached_embed_nosuch RETURNS STRING SONAME 'cached_embed.so';
CREATE FUNCTION cached_embed RETURNS STRING SONAME 'cached_embed.so';
CREATE FUNCTION IF NOT EXISTS cached_embed RETURNS STRING SONAME 'cached_embed.so';

-- settings: SET GLOBAL checks a value with the validators of the config file;
-- a refused value changes nothing
SET GLOBAL cached_embed_endpoint = 'ftp://example.com/v1/embeddings';
SET GLOBAL cached_embed_ttl = -1;
SET GLOBAL cached_embed_ttl = 315360001;
SET GLOBAL cached_embed_provider = 'cohere';
SET GLOBAL cached_embed_task = 'retrieval query';
SET GLOBAL cached_embed_redis = 'memcached://localhost';
SET GLOBAL cached_embed_api_key = 'sk-secret';
SELECT @@GLOBAL.cached_embed_ttl, @@GLOBAL.cached_embed_provider, @@GLOBAL.cached_embed_task;

-- the functions still work after all this
SELECT embedding_dims(X'0000803F0000803F');
