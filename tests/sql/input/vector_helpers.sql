-- The vector helpers over float32 BLOBs, little-endian, no header (the
-- layout cached_embed returns): embedding_dims, embedding_to_json,
-- embedding_cosine. A NULL or malformed argument gives NULL, never an error.
-- Literals: X'0000803F' is 1.0, X'00000040' 2.0, X'00004040' 3.0,
-- X'000080BF' -1.0, X'00000080' -0.0.

-- a vector of one, two, three values
SELECT embedding_dims(X'0000803F') AS one,
       embedding_dims(X'0000803F00000040') AS two,
       embedding_dims(X'0000803F0000004000004040') AS three;
SELECT embedding_to_json(X'0000803F0000004000004040');
SELECT embedding_to_json(X'000080BF00000080000000000000003F');

-- shortest text that reads back to the same float32: 0.1f, 1/3f, FLT_MAX,
-- FLT_MIN, the smallest subnormal, 16777216
SELECT embedding_to_json(X'CDCCCC3DABAAAA3EFFFF7F7F00008000010000000000804B');
-- the text is JSON: the server's JSON functions read it
SELECT JSON_VALID(embedding_to_json(X'0000803F0000004000004040')) AS valid,
       JSON_LENGTH(embedding_to_json(X'0000803F0000004000004040')) AS length,
       JSON_EXTRACT(embedding_to_json(X'0000803F0000004000004040'), '$[2]') AS third;
-- non-finite values (NaN, +inf, -inf) are `null`: visible, and refused by a
-- vector parser
SELECT embedding_to_json(X'0000C07F0000807F000080FF');

-- NULL in, NULL out
SELECT embedding_dims(NULL), embedding_to_json(NULL);
SELECT embedding_cosine(NULL, X'0000803F') AS a_null,
       embedding_cosine(X'0000803F', NULL) AS b_null,
       embedding_cosine(NULL, NULL) AS both_null;

-- malformed BLOBs: empty, or a length that is not a multiple of 4
SELECT embedding_dims('') AS empty, embedding_dims(X'0000803F00') AS five_bytes,
       embedding_dims(X'000080') AS three_bytes;
SELECT embedding_to_json('') AS empty, embedding_to_json(X'0000803F00') AS five_bytes;
SELECT embedding_cosine('', '') AS empty,
       embedding_cosine(X'0000803F00', X'0000803F00') AS five_bytes;

-- every argument is read as a binary string: 'abcd' and the number 1234
-- (its text, 4 bytes) are one float32 each
SELECT embedding_dims('abcd'), embedding_dims(1234), embedding_dims(12345);

-- the longest vector is 16384 values (64 KiB); one more is not a vector
SELECT embedding_dims(REPEAT(X'0000803F', 16384)) AS longest,
       embedding_dims(REPEAT(X'0000803F', 16385)) AS too_long;
SELECT LENGTH(embedding_to_json(REPEAT(X'0000803F', 16384))) AS json_length,
       embedding_to_json(REPEAT(X'0000803F', 16385)) AS too_long;

-- cosine: identical, opposite, orthogonal, scaled
SELECT embedding_cosine(X'0000803F0000004000004040', X'0000803F0000004000004040') AS identical,
       embedding_cosine(X'0000803F0000004000004040', X'000080BF000000C0000040C0') AS opposite,
       embedding_cosine(X'0000803F00000000', X'0000000000004040') AS orthogonal,
       embedding_cosine(X'0000803F0000803F', X'0000404000004040') AS scaled;
-- (1, 0) and (1, 1): 1/sqrt(2)
SELECT ROUND(embedding_cosine(X'0000803F00000000', X'0000803F0000803F'), 12) AS diagonal;

-- cosine of vectors of different lengths, or with a zero-norm vector: NULL
SELECT embedding_cosine(X'0000803F00000040', X'0000803F0000004000004040') AS lengths_differ,
       embedding_cosine(X'0000000000000080', X'0000803F00000040') AS zero_norm,
       embedding_cosine(X'0000C07F00000040', X'0000803F00000040') AS nan;
-- but the dims and the text of a zero vector are fine
SELECT embedding_dims(X'0000000000000000'), embedding_to_json(X'0000000000000000');

-- row by row from a table: short, long, malformed and NULL rows mixed
CREATE DATABASE sqltest;
CREATE TABLE sqltest.vecs (id INT PRIMARY KEY, v BLOB);
INSERT INTO sqltest.vecs VALUES
  (1, X'0000C03F'),
  (2, REPEAT(X'0000803F', 1000)),
  (3, X'00'),
  (4, NULL),
  (5, X'000020C00000803F');
SELECT id, LENGTH(v), embedding_dims(v), LENGTH(embedding_to_json(v)),
       LEFT(embedding_to_json(v), 20),
       embedding_cosine(v, X'000020C00000803F') AS cos_to_5
FROM sqltest.vecs ORDER BY id;
-- a self-join: every pair of rows
SELECT a.id, b.id, embedding_cosine(a.v, b.v) AS cosine
FROM sqltest.vecs a JOIN sqltest.vecs b ON a.id <= b.id
WHERE a.id IN (1, 5) AND b.id IN (1, 5) ORDER BY a.id, b.id;
DROP DATABASE sqltest;
