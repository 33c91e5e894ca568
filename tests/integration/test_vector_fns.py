"""embedding_cosine / embedding_dims / embedding_to_json against the real
server: NULL and malformed BLOBs give NULL, cosine of identical and opposite
vectors, dims of a cached_embed result, and to-JSON text that reads back to
the very same float32 bits."""

import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import ServerTestCase, db, main, query, scalar, vector_bytes  # noqa: E402
import pymysql  # noqa: E402


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def neg(blob):
    n = len(blob) // 4
    return struct.pack("<%df" % n, *[-x for x in struct.unpack("<%df" % n, blob)])


class VectorFunctionsTest(ServerTestCase):

    def one(self, sql, *args):
        return scalar(sql, args)

    # ---- NULL and malformed input ----

    def test_null_in_null_out(self):
        v = f32(1, 2, 3)
        self.assertIsNone(self.one("SELECT embedding_cosine(NULL, %s)", v))
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, NULL)", v))
        self.assertIsNone(self.one("SELECT embedding_cosine(NULL, NULL)"))
        self.assertIsNone(self.one("SELECT embedding_dims(NULL)"))
        self.assertIsNone(self.one("SELECT embedding_to_json(NULL)"))

    def test_length_not_a_multiple_of_4_is_null(self):
        odd = b"\x00\x00\x80\x3f\x01"  # 5 bytes
        self.assertIsNone(self.one("SELECT embedding_dims(%s)", odd))
        self.assertIsNone(self.one("SELECT embedding_to_json(%s)", odd))
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, %s)", odd, odd))
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, %s)", f32(1, 2), odd[:3]))

    def test_empty_blob_is_null(self):
        self.assertIsNone(self.one("SELECT embedding_dims('')"))
        self.assertIsNone(self.one("SELECT embedding_to_json('')"))
        self.assertIsNone(self.one("SELECT embedding_cosine('', '')"))

    def test_mismatched_dims_is_null(self):
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, %s)", f32(1, 2, 3), f32(1, 2)))
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, %s)", f32(1), f32(1, 0, 0, 0)))

    def test_zero_vector_cosine_is_null(self):
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, %s)", f32(0, 0, 0), f32(1, 2, 3)))
        self.assertIsNone(self.one("SELECT embedding_cosine(%s, %s)", f32(1, 2, 3), f32(0, -0.0, 0)))
        # dims and JSON of a zero vector are fine
        self.assertEqual(self.one("SELECT embedding_dims(%s)", f32(0, 0, 0)), 3)
        self.assertEqual(json.loads(self.one("SELECT embedding_to_json(%s)", f32(0, 0, 0))), [0, 0, 0])

    # ---- values ----

    def test_identical_and_opposite(self):
        for v in (f32(1, 2, 3), f32(0.25, -4, 1e-3, 7), vector_bytes("a hoppy citrus IPA")):
            self.assertAlmostEqual(self.one("SELECT embedding_cosine(%s, %s)", v, v), 1.0, places=12)
            self.assertAlmostEqual(self.one("SELECT embedding_cosine(%s, %s)", v, neg(v)), -1.0, places=12)

    def test_orthogonal_and_scaled(self):
        self.assertAlmostEqual(self.one("SELECT embedding_cosine(%s, %s)", f32(1, 0), f32(0, 5)), 0.0, places=12)
        self.assertAlmostEqual(self.one("SELECT embedding_cosine(%s, %s)", f32(1, 1), f32(3, 3)), 1.0, places=12)
        self.assertAlmostEqual(self.one("SELECT embedding_cosine(%s, %s)", f32(1, 0), f32(1, 1)),
                               1 / math.sqrt(2), places=7)

    def test_cosine_of_cached_embeddings(self):
        a = vector_bytes("hoppy citrus IPA")
        b = vector_bytes("An IPA with big citrus hop aroma")
        dot = sum(x * y for x, y in zip(struct.unpack("<768f", a), struct.unpack("<768f", b)))
        na = math.sqrt(sum(x * x for x in struct.unpack("<768f", a)))
        nb = math.sqrt(sum(x * x for x in struct.unpack("<768f", b)))
        got = self.one("SELECT embedding_cosine(cached_embed('c:1', 'hoppy citrus IPA'), "
                       "cached_embed('c:2', 'An IPA with big citrus hop aroma'))")
        self.assertAlmostEqual(got, dot / (na * nb), places=9)

    def test_dims_of_a_cached_embed_result(self):
        self.assertEqual(self.one("SELECT embedding_dims(cached_embed('d:1', 'pale ale'))"), 768)
        self.assertEqual(self.one("SELECT embedding_dims(%s)", f32(1)), 1)
        self.assertEqual(self.one("SELECT embedding_dims(%s)", b"\0" * 4096 * 4), 4096)

    # ---- JSON ----

    def assert_round_trip(self, blob):
        text = self.one("SELECT embedding_to_json(%s)", blob)
        if isinstance(text, bytes):
            text = text.decode()
        # parse_int=float: JSON "-0" is an integer token to Python (giving 0);
        # a vector parser (VEC_FromText, STRING_TO_VECTOR) reads every
        # element as a float, and so does this.
        values = json.loads(text, parse_int=float)
        self.assertEqual(len(values), len(blob) // 4)
        back = b"".join(struct.pack("<f", v) for v in values)
        self.assertEqual(back, blob, text[:200])
        return text

    def test_json_round_trips_real_vectors(self):
        for t in ("hoppy citrus IPA", "A roasty chocolate stout", "Bière de garde"):
            v = self.one("SELECT cached_embed(NULL, %s)", t)
            self.assertEqual(v, vector_bytes(t))
            self.assert_round_trip(v)

    def test_json_round_trips_tricky_floats(self):
        tricky = [
            b"\x01\x00\x00\x00",            # smallest subnormal, 1e-45
            b"\xff\xff\x7f\x00",            # largest subnormal
            b"\x00\x00\x80\x00",            # FLT_MIN 1.17549435e-38
            b"\x00\x00\x80\x80",            # -FLT_MIN
            b"\x00\x00\x00\x80",            # -0.0
            b"\xff\xff\x7f\x7f",            # FLT_MAX 3.4028235e38
            b"\xff\xff\x7f\xff",            # -FLT_MAX
        ]
        blob = b"".join(tricky) + f32(1e-45, 3.4028235e38, 0.1, 1 / 3, -2.5, 16777217.0, 1e-7, 123456.789)
        text = self.assert_round_trip(blob)
        self.assertTrue(text.startswith("[") and text.endswith("]"))
        # -0.0 keeps its sign bit through the text
        self.assertIn("-0", text.split(",")[4])
        # shortest form: 0.1 and 1e-45 come back short, not as 9 digits
        self.assertIn("0.1,", text)
        self.assertNotIn("0.100000001", text)

    def test_json_of_many_rows_reuses_and_grows_its_buffer(self):
        conn = db()
        query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
        query("CREATE OR REPLACE TABLE t.vecs (id INT PRIMARY KEY, v BLOB)", conn=conn)
        query("INSERT INTO t.vecs VALUES (1, %s), (2, %s), (3, %s)",
              (f32(1.5), vector_bytes("grow"), f32(2.5, -1)), conn=conn)
        rows = query("SELECT embedding_to_json(v) FROM t.vecs ORDER BY id", conn=conn)
        conn.close()
        got = [json.loads(r[0]) for r in rows]
        self.assertEqual(got[0], [1.5])
        self.assertEqual(len(got[1]), 768)
        self.assertEqual(got[2], [2.5, -1])

    # ---- wrong arguments ----

    def test_wrong_argument_counts_name_the_signature(self):
        cases = [
            ("SELECT embedding_cosine('abcd')", "embedding_cosine(a, b) expects 2 arguments, got 1"),
            ("SELECT embedding_cosine('abcd', 'abcd', 'abcd')",
             "embedding_cosine(a, b) expects 2 arguments, got 3"),
            ("SELECT embedding_dims()", "embedding_dims(v) expects 1 argument, got 0"),
            ("SELECT embedding_dims('abcd', 'abcd')", "embedding_dims(v) expects 1 argument, got 2"),
            ("SELECT embedding_to_json()", "embedding_to_json(v) expects 1 argument, got 0"),
            ("SELECT embedding_to_json('abcd', 1)", "embedding_to_json(v) expects 1 argument, got 2"),
        ]
        for sql, msg in cases:
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                scalar(sql)
            self.assertIn(msg, str(cm.exception))


if __name__ == "__main__":
    main()
