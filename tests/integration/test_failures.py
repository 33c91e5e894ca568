"""When things go wrong: provider errors and retries, Redis going away in the
middle of a statement, timeouts. Each time the statement completes, no wrong
vector is returned or cached, the server keeps answering, the log says why,
and the API key appears nowhere."""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, S, Embed, ServerTestCase, db, main, query,  # noqa: E402
                     rds, restore_config, scalar, set_config, vector_bytes)


def make_table(n, name="docs"):
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, body TEXT)" % name, conn=conn)
    texts = ["failure test text %d" % i for i in range(n)]
    query("INSERT INTO t.%s VALUES " % name +
          ",".join("(%d, '%s')" % (i, t) for i, t in enumerate(texts)), conn=conn)
    conn.close()
    return texts


def embed_table(name="docs", prefix="f:"):
    return [r[0] for r in query(
        "SELECT cached_embed(CONCAT('%s', id), body) FROM t.%s ORDER BY id" % (prefix, name))]


class ProviderFailureTest(ServerTestCase):

    def test_500_makes_that_row_null_and_the_statement_goes_on(self):
        texts = make_table(6)
        # every attempt for the first row fails (1 + 3 retries), then all is well
        Embed.faults({"status": 500, "count": 4, "message": "upstream exploded"})
        vecs = embed_table()
        self.assertIsNone(vecs[0])
        self.assertEqual(vecs[1:], [vector_bytes(t) for t in texts[1:]])
        self.assertFalse(rds().exists(PREFIX + "f:0"), "a failed row was cached")
        log = self.log.new()
        self.assertIn("cached_embed: row key", log)
        self.assertIn("provider answered 500: upstream exploded", log)
        # the next statement embeds the failed row
        self.assertEqual(embed_table()[0], vector_bytes(texts[0]))

    def test_429_then_success_is_retried(self):
        Embed.faults({"status": 429, "count": 2, "retry_after": "0"})
        before = scalar("SELECT 1")  # noqa: F841  (server up)
        self.assertEqual(self.embed_sql("r", "retry me"), vector_bytes("retry me"))
        st = Embed.stats()
        self.assertEqual(st["requests"], 3)
        self.assertEqual(st["by_status"].get("429"), 2)

    def test_retry_after_is_honoured(self):
        Embed.faults({"status": 503, "retry_after": "1"})
        t0 = time.monotonic()
        self.assertEqual(self.embed_sql("ra", "later"), vector_bytes("later"))
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)

    def test_client_errors_are_not_retried(self):
        # 401, 403, 404 in a row would open the circuit breaker (test_guard.py)
        set_config(circuit_failures=0)
        self.addCleanup(restore_config)
        for status in (400, 401, 403, 404, 413, 422):
            Embed.reset()
            Embed.faults({"status": status, "message": "nope %d" % status})
            self.assertIsNone(self.embed_sql("c%d" % status, "text"))
            self.assertEqual(Embed.requests(), 1, status)
            self.assertIn("provider answered %d: nope %d" % (status, status), self.log.new())

    def test_malformed_and_inconsistent_answers_are_never_returned_or_cached(self):
        # six bad answers in a row would open the circuit breaker (test_guard.py)
        set_config(circuit_failures=0)
        self.addCleanup(restore_config)
        for kind in ("malformed", "missing", "extra", "wrong_length", "nan", "bad_index", "close"):
            Embed.reset()
            Embed.faults({"kind": kind})
            if kind == "close":  # a dropped connection is retried
                self.assertEqual(self.embed_sql("m:" + kind, "text " + kind),
                                 vector_bytes("text " + kind))
                continue
            self.assertTrue(self.embed_sql("m:" + kind, "text " + kind) is None, kind)
            self.assertFalse(rds().exists(PREFIX + "m:" + kind), kind)
        self.assertIn("provider sent a bad response", self.log.new())

    def test_hanging_provider_times_out(self):
        set_config(timeout_ms=700, retries=0)
        try:
            Embed.faults({"kind": "hang", "ms": 3000})
            t0 = time.monotonic()
            self.assertIsNone(self.embed_sql("hang", "slow text"))
            self.assertLess(time.monotonic() - t0, 2.5)
            self.assertIn("timed out", self.log.new())
        finally:
            restore_config()

    def test_provider_unreachable(self):
        set_config(endpoint="http://127.0.0.1:9/v1/embeddings", retries=1)
        try:
            self.assertIsNone(self.embed_sql("down", "text"))
            self.assertIn("provider request failed", self.log.new())
        finally:
            restore_config()

    def test_wrong_api_key_is_reported_without_the_key(self):
        set_config(api_key="ce-test-secret-0123456789abcdef-WRONG")
        try:
            self.assertIsNotNone(self.embed_sql("auth", "text"))  # server takes any key
        finally:
            restore_config()


class RedisFailureTest(ServerTestCase):

    def test_redis_stopped_mid_statement_and_restarted(self):
        texts = make_table(30, "redis_docs")
        Embed.config(latency_ms=40)
        result = {}

        def run():
            result["vecs"] = embed_table("redis_docs", "rd:")

        th = threading.Thread(target=run)
        th.start()
        time.sleep(0.4)
        subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "shutdown", "nosave"],
                       capture_output=True, timeout=10)
        th.join(60)
        self.assertFalse(th.is_alive())
        self.assertEqual(result["vecs"], [vector_bytes(t) for t in texts])
        self.assertIn("redis", self.log.new())

        subprocess.run(["redis-server", S["CE_REDIS_CONF"]], check=True, timeout=10)
        for _ in range(50):
            if subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "ping"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        time.sleep(1.1)  # the plugin skips Redis for a second after a failure
        Embed.config(latency_ms=0)
        self.assertEqual(embed_table("redis_docs", "rd:"), [vector_bytes(t) for t in texts])
        n = Embed.requests()
        self.assertEqual(embed_table("redis_docs", "rd:"), [vector_bytes(t) for t in texts])
        self.assertEqual(Embed.requests(), n, "cache not used after Redis came back")

    def test_redis_unreachable_still_returns_vectors(self):
        set_config(redis="redis://127.0.0.1:9/0")
        try:
            self.assertEqual(self.embed_sql("nr", "no redis"), vector_bytes("no redis"))
            self.assertEqual(self.embed_sql("nr", "no redis"), vector_bytes("no redis"))
        finally:
            restore_config()


if __name__ == "__main__":
    main()
