"""Character sets: the server hands the function the argument's bytes in the
column's own character set. The same text from a latin1, a utf8mb4 and a
binary column is one text sent (the right Unicode text), one cache entry and
one provider input; a utf16 column is NULL with a log line naming
CONVERT(col USING utf8mb4); where charset auto cannot know (latin1 bytes
that form valid UTF-8), the charset setting and CONVERT decide."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, db, main, mysql_latin1,  # noqa: E402
                     query, rds, restore_config, scalar, sent_text, set_config,
                     vector_bytes)

W = "Wei\u00dfbier aus M\u00fcnchen"
MOJIBAKE = "Original N\u00c2\u00ba 1, 12\u00c2\u00ba Plato"  # "Âº" as in the beer data


def stats():
    raw = scalar("SELECT cached_embed_stats()")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


class CharsetTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conn = db()
        query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
        query("CREATE OR REPLACE TABLE t.cs (id INT PRIMARY KEY,"
              " lat VARCHAR(200) CHARACTER SET latin1,"
              " u8 VARCHAR(200) CHARACTER SET utf8mb4,"
              " u16 VARCHAR(200) CHARACTER SET utf16,"
              " bin VARBINARY(600))", conn=conn)
        with conn.cursor() as c:
            c.execute("INSERT INTO t.cs VALUES (1, %s, %s, %s, %s)", (W, W, W, W.encode("latin1")))
            c.execute("INSERT INTO t.cs VALUES (2, %s, %s, %s, %s)", (W, W, W, W.encode("utf-8")))
            c.execute("INSERT INTO t.cs VALUES (3, %s, %s, %s, %s)",
                      (MOJIBAKE, MOJIBAKE, MOJIBAKE, MOJIBAKE.encode("latin1")))
        conn.close()

    def setUp(self):
        super().setUp()
        Embed.config(record_texts=True)

    def tearDown(self):
        restore_config()
        super().tearDown()

    def col(self, expr, id_=1, key="NULL"):
        return scalar("SELECT cached_embed(%s, %s) FROM t.cs WHERE id = %d" % (key, expr, id_))

    def test_stored_bytes_are_what_the_column_says(self):
        # the premise: latin1 holds one byte a character, utf16 two
        self.assertEqual(scalar("SELECT HEX(lat) FROM t.cs WHERE id = 1"),
                         W.encode("latin1").hex().upper())
        self.assertEqual(scalar("SELECT HEX(u8) FROM t.cs WHERE id = 1"),
                         W.encode("utf-8").hex().upper())
        self.assertEqual(scalar("SELECT HEX(u16) FROM t.cs WHERE id = 1"),
                         W.encode("utf-16-be").hex().upper())

    def test_latin1_and_utf8mb4_are_one_entry_and_one_payment(self):
        before = stats()
        v_lat = self.col("lat")
        v_u8 = self.col("u8")
        self.assertEqual(v_lat, vector_bytes(W))
        self.assertEqual(v_u8, v_lat)
        # the same user key from either column: the same entry, no new payment
        self.assertEqual(self.col("lat", key="'cs:same'"), v_lat)
        self.assertEqual(self.col("u8", key="'cs:same'"), v_lat)
        st = Embed.stats()
        # NULL key and 'cs:same': two keys, one payment (the second key reads
        # the entry the first paid for moments ago: single-flight's note)
        self.assertEqual(st["texts"], {W: 1})
        self.assertEqual(st["inputs"], 1)
        self.assertEqual(stats()["latin1_texts"] - before["latin1_texts"], 2)
        # the warm-up agrees: both columns are cached already
        self.assertEqual(scalar("SELECT cached_embed_warm(NULL, lat) FROM t.cs WHERE id = 1"), 1)
        self.assertEqual(scalar("SELECT cached_embed_warm(NULL, u8) FROM t.cs WHERE id = 1"), 1)
        self.assertEqual(Embed.stats()["inputs"], 1)

    def test_one_input_in_total_across_columns(self):
        # content-addressed: whatever the column, one text is one entry
        for expr in ("lat", "u8", "bin", "CONVERT(u16 USING utf8mb4)",
                     "CONVERT(lat USING utf8mb4)"):
            self.assertEqual(self.col(expr), vector_bytes(W), expr)
        self.assertEqual(self.col("bin", id_=2), vector_bytes(W))
        self.assertEqual(Embed.stats()["inputs"], 1)
        self.assertEqual(Embed.stats()["texts"], {W: 1})

    def test_warm_up_from_a_latin1_column_serves_the_utf8mb4_column(self):
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('w:', id), lat) "
                                "FROM t.cs WHERE id <= 2"), 2)
        self.assertEqual(Embed.stats()["texts"], {W: 1})  # one text, embedded once
        for id_ in (1, 2):
            self.assertEqual(self.col("u8", id_, key="CONCAT('w:', id)"), vector_bytes(W))
        self.assertEqual(Embed.stats()["inputs"], 1)

    def test_utf16_is_null_with_a_line_naming_the_fix(self):
        before = stats()
        self.assertIsNone(self.col("u16", key="'cs:u16'"))
        self.assertEqual(Embed.requests(), 0)
        log = self.log.new()
        self.assertIn("row key 'cs:u16': the text holds NUL bytes", log)
        self.assertIn("pass CONVERT(col USING utf8mb4); returning NULL", log)
        # the warm-up skips the row and does not count it
        self.assertEqual(scalar("SELECT cached_embed_warm('cs:u16w', u16) FROM t.cs WHERE id = 1"), 0)
        self.assertIn("row key 'cs:u16w': the text holds NUL bytes", self.log.new())
        self.assertFalse(rds().exists(PREFIX + "cs:u16w"))
        self.assertEqual(stats()["wide_charset_texts"] - before["wide_charset_texts"], 2)
        self.assertEqual(Embed.requests(), 0)
        # and the fix works
        self.assertEqual(self.col("CONVERT(u16 USING utf8mb4)"), vector_bytes(W))

    def test_binary_follows_auto(self):
        # latin1 bytes (not UTF-8) are read as latin1, UTF-8 bytes as UTF-8
        self.assertEqual(self.col("bin", 1, key="'b1'"), vector_bytes(W))
        self.assertEqual(self.col("bin", 2, key="'b2'"), vector_bytes(W))
        v = scalar("SELECT cached_embed('b3', CAST(%s AS BINARY))", (b"caf\xe9 au lait",))
        self.assertEqual(v, vector_bytes("caf\u00e9 au lait"))
        # 'b1' and 'b2' are one text: the second key reads the first's entry
        self.assertEqual(Embed.stats()["texts"], {W: 1, "caf\u00e9 au lait": 1})

    def test_charset_setting(self):
        # utf8mb4: bytes that are not UTF-8 become U+FFFD (the old behaviour)
        set_config(charset="utf8mb4")
        self.assertEqual(self.col("lat", key="'s1'"),
                         vector_bytes("Wei\ufffdbier aus M\ufffdnchen"))
        self.assertEqual(self.col("u8", key="'s2'"), vector_bytes(W))
        # latin1: every byte is a character, UTF-8 bytes included
        set_config(charset="latin1")
        self.assertEqual(self.col("lat", key="'s3'"), vector_bytes(W))
        mangled = mysql_latin1(W.encode("utf-8"))  # "WeiÃŸbier aus MÃ¼nchen"
        self.assertEqual(mangled, "Wei\u00c3\u0178bier aus M\u00c3\u00bcnchen")
        self.assertEqual(self.col("u8", key="'s4'"), vector_bytes(mangled))
        set_config(charset="utf16")  # not a choice: one line, auto applies
        self.assertEqual(self.col("lat", key="'s5'"), vector_bytes(W))
        self.assertIn("charset must be auto or utf8mb4 or latin1, got 'utf16'", self.log.new())

    def test_where_auto_cannot_know(self):
        # latin1 bytes that happen to form valid UTF-8: "Âº" is stored as C2 BA,
        # which auto reads as UTF-8 "º"; the column (and CONVERT) say "Âº"
        self.assertEqual(scalar("SELECT HEX(lat) FROM t.cs WHERE id = 3"),
                         MOJIBAKE.encode("latin1").hex().upper())
        as_utf8 = MOJIBAKE.encode("latin1").decode("utf-8")
        self.assertEqual(as_utf8, "Original N\u00ba 1, 12\u00ba Plato")
        self.assertEqual(self.col("lat", 3, key="'m1'"), vector_bytes(as_utf8))
        # CONVERT(col USING utf8mb4) is always exact
        self.assertEqual(self.col("CONVERT(lat USING utf8mb4)", 3, key="'m2'"),
                         vector_bytes(MOJIBAKE))
        # and so is charset = latin1 for a latin1 column
        set_config(charset="latin1")
        self.assertEqual(self.col("lat", 3, key="'m3'"), vector_bytes(MOJIBAKE))

    def test_every_latin1_byte_decodes_as_the_server_converts_it(self):
        # bytes 0x01..0xFF in a latin1 column: what the provider receives is
        # exactly what MariaDB's own CONVERT(... USING utf8mb4) gives
        allbytes = bytes(range(1, 256)).hex()
        conn = db()
        query("CREATE OR REPLACE TABLE t.all1 (id INT PRIMARY KEY,"
              " b VARCHAR(300) CHARACTER SET latin1)", conn=conn)
        query("INSERT INTO t.all1 VALUES (1, CONVERT(UNHEX('%s') USING latin1)),"
              " (2, CONVERT(UNHEX('%s') USING latin1))"
              % (allbytes, bytes(range(0x80, 0x100)).hex()), conn=conn)
        for id_ in (1, 2):
            server = query("SELECT CONVERT(b USING utf8mb4) FROM t.all1 WHERE id = %d"
                           % id_, conn=conn)[0][0]
            self.assertEqual(len(server), 255 if id_ == 1 else 128)
            self.assertEqual(server, sent_text(bytes(range(1 if id_ == 1 else 0x80, 256))))
            Embed.reset()
            Embed.config(record_texts=True)
            v = query("SELECT cached_embed(NULL, b) FROM t.all1 WHERE id = %d" % id_,
                      conn=conn)[0][0]
            self.assertEqual(list(Embed.stats()["texts"]), [server])
            self.assertEqual(v, vector_bytes(server))
        conn.close()


if __name__ == "__main__":
    main()
