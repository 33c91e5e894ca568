"""The fault matrix: every way the world can go wrong under a running
statement. Each scenario asserts that the statement completes, every non-NULL
vector is the one the provider gives for that text (0 wrong vectors), every
value left in Redis decodes to the right vector for its text, the server
answers SELECT 1 afterwards and the error log says what happened (the API key
appears nowhere: ServerTestCase.tearDown). One line of figures per scenario
goes to stderr: rows, NULL rows, wrong vectors, statement time."""

import hashlib
import os
import signal
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, S, Embed, ServerTestCase, db, main, query,  # noqa: E402
                     rds, restore_config, scalar, sent_text, set_config, vector_bytes)

import pymysql  # noqa: E402


def fill(name, texts, binary=False):
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, body %s)"
          % (name, "LONGBLOB" if binary else "LONGTEXT"), conn=conn)
    with conn.cursor() as c:
        c.executemany("INSERT INTO t.%s VALUES (%%s, %%s)" % name, list(enumerate(texts)))
    conn.close()


def check_redis_entry(test, key, text_bytes, expected, max_text=65536):
    """A value left in Redis must be a valid entry for exactly this text (as
    sent: decoded, repaired and cut)."""
    val = rds().get(key)
    if val is None:
        return 0
    test.assertEqual(val[:4], b"CEV1", key)
    dims = struct.unpack("<I", val[4:8])[0]
    sent = sent_text(text_bytes, max_text).encode()
    test.assertEqual(val[8:40], hashlib.sha256(sent).digest(), key)
    test.assertEqual(len(val), 40 + 4 * dims, key)
    test.assertEqual(val[40:], expected, "wrong vector cached under " + key)
    return 1


class FaultMatrixTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        # Most scenarios fail several requests in a row on purpose; the
        # circuit breaker has its own tests (test_guard.py).
        set_config(circuit_failures=0)
        self.addCleanup(restore_config)

    def run_scenario(self, name, texts, expected=None, binary=False, during=None,
                     before=None, sql=None, max_text=65536):
        """Embeds every text of a fresh table in one statement; returns the
        vectors. `expected[i]` is the right vector for texts[i] (default:
        vector_bytes(text))."""
        table = "fm_" + name
        prefix = name + ":"
        fill(table, texts, binary)
        if expected is None:
            expected = [vector_bytes(t) for t in texts]
        if before:
            before()
        th = None
        if during:
            th = threading.Thread(target=during)
        t0 = time.monotonic()
        if th:
            th.start()
        vecs = [r[0] for r in query(sql or (
            "SELECT cached_embed(CONCAT('%s', id), body) FROM t.%s ORDER BY id"
            % (prefix, table)))]
        elapsed = time.monotonic() - t0
        if th:
            th.join(60)
            self.assertFalse(th.is_alive())
        self.assertEqual(len(vecs), len(texts))
        wrong = sum(1 for v, e in zip(vecs, expected) if v is not None and v != e)
        nulls = sum(v is None for v in vecs)
        cached = 0
        for i, t in enumerate(texts):
            raw = t if isinstance(t, bytes) else t.encode()
            cached += check_redis_entry(self, PREFIX + prefix + str(i), raw, expected[i],
                                        max_text)
        sys.stderr.write("\nfault %-22s rows=%d null=%d wrong=%d cached_ok=%d time=%.2fs\n"
                         % (name, len(texts), nulls, wrong, cached, elapsed))
        self.assertEqual(wrong, 0, name)
        self.assertEqual(scalar("SELECT 1"), 1)
        return vecs

    # ---- Redis ----

    def test_redis_killed_and_restarted_mid_statement(self):
        texts = ["redis kill %d" % i for i in range(40)]
        Embed.config(latency_ms=40)

        def kill_and_restart():
            time.sleep(0.4)
            pid = int(open(os.path.join(S["CE_DIR"], "redis.pid")).read())
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.6)
            subprocess.run(["redis-server", S["CE_REDIS_CONF"]], check=True, timeout=10)

        vecs = self.run_scenario("redis_kill", texts, during=kill_and_restart)
        self.assertNotIn(None, vecs)  # Redis is only a cache: every row embeds
        for _ in range(50):
            try:
                rds().ping()
                break
            except Exception:
                time.sleep(0.1)
        self.assertIn("redis", self.log.new())

    def test_redis_slower_than_its_timeout(self):
        set_config(circuit_failures=0, redis_timeout_ms=100)
        texts = ["redis slow %d" % i for i in range(30)]
        # half of them cached beforehand: hits and misses both meet the pause
        for i in range(0, 30, 2):
            self.assertEqual(self.embed_sql("redis_slow:%d" % i, texts[i]), vector_bytes(texts[i]))
        Embed.config(latency_ms=30)

        def pause():
            time.sleep(0.2)
            rds().execute_command("CLIENT", "PAUSE", "1500", "ALL")

        vecs = self.run_scenario("redis_slow", texts, during=pause)
        self.assertNotIn(None, vecs)
        time.sleep(1.0)
        self.assertRegex(self.log.new(), r"cached_embed: redis .*(timed out|timeout|Resource temporarily)")

    def test_corrupt_values_planted_under_real_keys(self):
        texts = ["planted %d" % i for i in range(5)]
        good_other = vector_bytes("some other text")

        def plant():
            r = rds()
            h = [hashlib.sha256(t.encode()).digest() for t in texts]
            r.set(PREFIX + "planted:0", b"garbage")
            r.set(PREFIX + "planted:1", b"CEV1" + struct.pack("<I", 768) + h[1] + b"\x00" * 100)
            r.set(PREFIX + "planted:2", b"CEV1" + struct.pack("<I", 768) + h[2]
                  + struct.pack("<f", float("nan")) + vector_bytes(texts[2])[4:])
            # a valid entry for another text: stale, not this row's vector
            r.set(PREFIX + "planted:3", b"CEV1" + struct.pack("<I", 768)
                  + hashlib.sha256(b"some other text").digest() + good_other)
            r.set(PREFIX + "planted:4", b"CEV1" + struct.pack("<I", 3) + h[4] + b"\x00" * 12)

        vecs = self.run_scenario("planted", texts, before=plant)
        self.assertNotIn(None, vecs)
        self.assertEqual(Embed.requests(), 5)
        self.assertIn("holds a value that is not a valid entry", self.log.new())

    # ---- the provider ----

    def test_provider_hanging_past_the_timeout(self):
        set_config(circuit_failures=0, timeout_ms=700, retries=0)
        texts = ["hang %d" % i for i in range(4)]
        Embed.faults({"kind": "hang", "ms": 3000})
        vecs = self.run_scenario("hang", texts)
        self.assertIsNone(vecs[0])
        self.assertNotIn(None, vecs[1:])
        self.assertIn("timed out", self.log.new())

    def test_429_storm_with_retry_after(self):
        texts = ["storm %d" % i for i in range(10)]
        # 1 + 3 retries per row: the first 3 rows fail, the 4th succeeds late
        Embed.faults({"status": 429, "count": 14, "retry_after": "0",
                      "message": "rate limit exceeded"})
        vecs = self.run_scenario("storm429", texts)
        self.assertEqual([v is None for v in vecs[:3]], [True] * 3)
        self.assertNotIn(None, vecs[3:])
        self.assertEqual(Embed.stats()["by_status"].get("429"), 14)
        self.assertIn("provider answered 429: rate limit exceeded", self.log.new())

    def test_500s(self):
        texts = ["five hundred %d" % i for i in range(6)]
        Embed.faults({"status": 500, "count": 8, "message": "internal error"})
        vecs = self.run_scenario("s500", texts)
        self.assertEqual(sum(v is None for v in vecs), 2)
        self.assertIn("provider answered 500: internal error", self.log.new())

    def test_connection_refused(self):
        set_config(circuit_failures=0, endpoint="http://127.0.0.1:9/v1/embeddings", retries=1)
        texts = ["refused %d" % i for i in range(5)]
        vecs = self.run_scenario("refused", texts)
        self.assertEqual(vecs, [None] * 5)
        self.assertIn("provider request failed", self.log.new())

    def test_bad_200_answers(self):
        for kind in ("malformed", "missing", "extra", "wrong_length", "nan", "bad_index"):
            Embed.reset()
            texts = ["bad answer %s %d" % (kind, i) for i in range(3)]
            Embed.faults({"kind": kind})
            vecs = self.run_scenario("bad_" + kind, texts)
            self.assertIsNone(vecs[0], kind)
            self.assertNotIn(None, vecs[1:], kind)
        self.assertIn("provider sent a bad response", self.log.new())

    # ---- the input ----

    def test_2mb_text(self):
        word = "x" * 999 + " "
        big = word * 2048  # 2 MiB, 2,048 tokens
        texts = [big, "small after big"]
        # default max_text_bytes (64 KiB): sent cut, cached under the text sent
        vecs = self.run_scenario("big_cut", texts,
                                 expected=[vector_bytes(big[:65536]), vector_bytes(texts[1])])
        self.assertNotIn(None, vecs)
        set_config(circuit_failures=0, max_text_bytes=4 * 1024 * 1024)
        vecs = self.run_scenario("big_whole", texts, max_text=4 * 1024 * 1024)
        self.assertNotIn(None, vecs)

    def test_non_utf8_bytes(self):
        # charset auto: not UTF-8, so read as latin1 ("café ÿþ beer Ã end")
        texts = [b"caf\xe9 \xff\xfe beer \xc3 end", b"plain ascii", b"\x80\x80 ipa"]
        expected = [vector_bytes(sent_text(t)) for t in texts]
        self.assertEqual(sent_text(texts[0]), "caf\u00e9 \u00ff\u00fe beer \u00c3 end")
        vecs = self.run_scenario("non_utf8", texts, expected=expected, binary=True)
        self.assertNotIn(None, vecs)

    def test_wrong_argument_counts_and_types(self):
        t0 = time.monotonic()
        bad_calls = [
            ("SELECT cached_embed('k')", "takes 2 to 4 arguments, got 1"),
            ("SELECT cached_embed('k', 'a', 1, 'query', 2)", "takes 2 to 4 arguments, got 5"),
            ("SELECT cached_embed()", "takes 2 to 4 arguments, got 0"),
            ("SELECT cached_embed('k', 'a', 1, 2)", "task is not a string"),
            ("SELECT cached_embed('k', 'a', 'soon')", "ttl_seconds is not a number"),
        ]
        for sql, msg in bad_calls:
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                query(sql)
            self.assertIn(msg, str(cm.exception))
        # CREATE with a name the library does not export, or twice
        with self.assertRaises(pymysql.MySQLError):
            query("CREATE FUNCTION cached_embed_nope RETURNS STRING SONAME 'cached_embed.so'")
        with self.assertRaises(pymysql.MySQLError):
            query("CREATE FUNCTION cached_embed RETURNS STRING SONAME 'cached_embed.so'")
        # numbers and NULLs are converted, not crashed on
        self.assertEqual(scalar("SELECT cached_embed(42, 12345)"), vector_bytes("12345"))
        self.assertEqual(scalar("SELECT cached_embed(NULL, 'null key')"), vector_bytes("null key"))
        self.assertIsNone(scalar("SELECT cached_embed('k', NULL)"))
        self.assertEqual(scalar("SELECT cached_embed('k2', 'ttl null', NULL)"),
                         vector_bytes("ttl null"))
        self.assertEqual(scalar("SELECT cached_embed('k3', 3.5e0)"), vector_bytes("3.5"))
        sys.stderr.write("\nfault %-22s calls=%d crashes=0 time=%.2fs\n"
                         % ("wrong_args", len(bad_calls) + 7, time.monotonic() - t0))


if __name__ == "__main__":
    main()
