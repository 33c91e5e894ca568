"""cached_embed(key, text [, ttl]) against real MariaDB + Redis + the local
embedding server: cache hits and misses, TTLs, entries bound to their text,
NULL and blank text, huge text, wrong arguments, keep-alive."""

import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, db, main, mariadb_cli,  # noqa: E402
                     query, rds, scalar, vector_bytes, ROOT)
import pymysql  # noqa: E402


class CoreTest(ServerTestCase):

    def test_returns_the_providers_vector(self):
        v = self.embed_sql("k", "hello")
        self.assertEqual(len(v), 3072)
        self.assertEqual(v, vector_bytes("hello"))
        self.assertEqual(Embed.requests(), 1)

    def test_second_call_is_a_cache_hit(self):
        first = self.embed_sql("beer:1", "A hoppy citrus IPA")
        second = self.embed_sql("beer:1", "A hoppy citrus IPA")
        self.assertEqual(first, second)
        self.assertEqual(Embed.requests(), 1)
        self.assertTrue(rds().exists(PREFIX + "beer:1"))

    def test_key_carries_the_configured_ttl(self):
        self.embed_sql("ttl:default", "text")
        ttl = rds().ttl(PREFIX + "ttl:default")
        self.assertTrue(1190 <= ttl <= 1200, ttl)

    def test_ttl_argument(self):
        self.embed_sql("ttl:77", "text", 77)
        self.assertTrue(70 <= rds().ttl(PREFIX + "ttl:77") <= 77)
        self.embed_sql("ttl:0", "text", 0)
        self.assertEqual(rds().ttl(PREFIX + "ttl:0"), -1)  # no expiry
        self.embed_sql("ttl:neg", "text", -5)
        self.assertTrue(1190 <= rds().ttl(PREFIX + "ttl:neg") <= 1200)
        self.embed_sql("ttl:null", "text", None)
        self.assertTrue(1190 <= rds().ttl(PREFIX + "ttl:null") <= 1200)
        self.embed_sql("ttl:str", "text", "33")
        self.assertTrue(25 <= rds().ttl(PREFIX + "ttl:str") <= 33)

    def test_huge_ttl_is_clamped_to_ten_years(self):
        # 1e30 s overflowed ttl * 1000; Redis refused the EX and nothing was cached
        v = scalar("SELECT cached_embed('ttl:huge', 'text', 1e30)")
        self.assertEqual(v, vector_bytes("text"))
        ttl = rds().ttl(PREFIX + "ttl:huge")
        self.assertTrue(315360000 - 60 <= ttl <= 315360000, ttl)
        self.assertEqual(scalar("SELECT cached_embed('ttl:huge', 'text', 1e30)"), v)
        self.assertEqual(Embed.requests(), 1)

    def test_entries_of_the_first_key_layout_are_not_read(self):
        # first layout: <prefix><model>:<key>; "v2:" now follows the prefix
        old_key = "cached_embed:" + PREFIX[len("cached_embed:v2:"):] + "layout"
        text = "layout text"
        planted = (b"CEV1" + struct.pack("<I", 768) + hashlib.sha256(text.encode()).digest()
                   + struct.pack("<768f", *([0.5] + [0.0] * 767)))
        rds().set(old_key, planted)
        self.assertEqual(self.embed_sql("layout", text), vector_bytes(text))
        self.assertEqual(Embed.requests(), 1)
        self.assertTrue(rds().exists(PREFIX + "layout"))

    def test_changed_text_is_embedded_again_and_replaces_the_entry(self):
        a = self.embed_sql("doc", "first version")
        b = self.embed_sql("doc", "second version")
        self.assertEqual(a, vector_bytes("first version"))
        self.assertEqual(b, vector_bytes("second version"))
        self.assertEqual(Embed.requests(), 2)
        # the entry now belongs to the second text
        self.assertEqual(self.embed_sql("doc", "second version"), b)
        self.assertEqual(Embed.requests(), 2)

    def test_null_and_blank_text_give_null_without_a_request(self):
        self.assertIsNone(self.embed_sql("k", None))
        self.assertIsNone(self.embed_sql("k", ""))
        self.assertIsNone(self.embed_sql("k", " \t\r\n "))
        self.assertEqual(Embed.requests(), 0)

    def test_null_key_is_content_addressed(self):
        v = self.embed_sql(None, "some text")
        self.assertEqual(v, vector_bytes("some text"))
        h = hashlib.sha256(b"some text").hexdigest()
        self.assertTrue(rds().exists(PREFIX + "sha256:" + h))
        self.embed_sql(None, "some text")
        self.assertEqual(Embed.requests(), 1)

    def test_many_rows_in_one_statement(self):
        conn = db()
        query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
        query("CREATE OR REPLACE TABLE t.docs (id INT PRIMARY KEY, body TEXT)", conn=conn)
        texts = ["document number %d about beer" % i for i in range(40)]
        query("INSERT INTO t.docs VALUES " + ",".join("(%d, '%s')" % (i, t) for i, t in enumerate(texts)), conn=conn)
        rows = query("SELECT id, cached_embed(CONCAT('doc:', id), body) FROM t.docs ORDER BY id", conn=conn)
        self.assertEqual([r[1] for r in rows], [vector_bytes(t) for t in texts])
        # every row after the first reused the same HTTP connection
        st = Embed.stats()
        self.assertEqual(st["requests"], 40)
        self.assertLessEqual(st["connections"], 2)
        rows2 = query("SELECT id, cached_embed(CONCAT('doc:', id), body) FROM t.docs ORDER BY id", conn=conn)
        self.assertEqual(rows, rows2)
        self.assertEqual(Embed.requests(), 40)
        conn.close()

    def test_corrupt_value_in_redis_is_a_miss_and_is_replaced(self):
        r = rds()
        r.set(PREFIX + "bad", b"not a vector at all")
        self.assertEqual(self.embed_sql("bad", "text"), vector_bytes("text"))
        self.assertEqual(Embed.requests(), 1)
        self.assertNotEqual(r.get(PREFIX + "bad"), b"not a vector at all")
        self.assertEqual(self.embed_sql("bad", "text"), vector_bytes("text"))
        self.assertEqual(Embed.requests(), 1)
        self.assertIn("not a valid entry", self.log.new())

    def test_truncated_entry_in_redis_is_a_miss(self):
        self.embed_sql("torn", "text")
        r = rds()
        r.set(PREFIX + "torn", r.get(PREFIX + "torn")[:-4])
        self.assertEqual(self.embed_sql("torn", "text"), vector_bytes("text"))
        self.assertEqual(Embed.requests(), 2)

    def test_two_megabyte_text_does_not_crash(self):
        text = ("lorem ipsum dolor sit amet " * 80000)[:2 * 1024 * 1024]
        v = self.embed_sql("big", text)
        self.assertEqual(len(v), 3072)
        self.assertEqual(scalar("SELECT 1"), 1)

    def test_wrong_argument_count_names_the_signature(self):
        for sql in ("SELECT cached_embed('only one')",
                    "SELECT cached_embed('a', 'b', 1, 'query', 5)",
                    "SELECT cached_embed('a', 'b', 'not a number')"):
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                query(sql)
            self.assertIn("cached_embed(key, text [, ttl_seconds [, task]])",
                          str(cm.exception))

    def test_install_and_uninstall_can_run_twice(self):
        for name in ("install.sql", "install.sql", "uninstall.sql", "uninstall.sql", "install.sql"):
            r = mariadb_cli(os.path.join(ROOT, "sql", name))
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.embed_sql("k", "after reinstall")), 3072)

if __name__ == "__main__":
    main()
