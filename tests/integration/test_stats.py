"""cached_embed_stats(): the counters move as expected across a miss, a hit,
NULL and blank text, a provider failure and a retry; the JSON parses and
never holds the API key. The counters are process-wide and other tests ran
before, so every check compares deltas."""

import json
import os
import re
import sys
from decimal import ROUND_HALF_UP, Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (S, Embed, ServerTestCase, main, restore_config,  # noqa: E402
                     scalar, set_config, vector_bytes)
import pymysql  # noqa: E402

COUNTERS = ("hits", "hits_local", "hits_redis", "misses", "provider_requests",
            "provider_inputs", "provider_tokens", "provider_errors", "retries",
            "cache_errors", "null_texts", "empty_texts", "rows_failed",
            "latency_count", "waited", "shared_requests", "tokens_saved")


def stats():
    raw = scalar("SELECT cached_embed_stats()")
    if isinstance(raw, bytes):
        raw = raw.decode()
    assert S["CE_API_KEY"] not in raw, "API key in cached_embed_stats()"
    return json.loads(raw)


class StatsTest(ServerTestCase):

    def delta(self, action):
        before = stats()
        action()
        after = stats()
        return {k: after[k] - before[k] for k in COUNTERS}, after

    def assert_moved(self, d, **expected):
        for k in COUNTERS:
            want = expected.get(k, 0)
            if want is None:
                continue
            if want == ">0":
                self.assertGreater(d[k], 0, k)
            else:
                self.assertEqual(d[k], want, "%s: %r" % (k, d))

    def test_json_shape(self):
        s = stats()
        for k in COUNTERS + ("latency_ms_mean", "latency_ms_max"):
            self.assertIn(k, s)
            self.assertIsInstance(s[k], (int, float))
            self.assertGreaterEqual(s[k], 0)
        self.assertEqual(s["hits"], s["hits_local"] + s["hits_redis"])
        self.assertGreaterEqual(s["latency_ms_max"], s["latency_ms_mean"])
        for word in ("api_key", "endpoint", "redis://", "unix://"):
            self.assertNotIn(word, json.dumps(s))

    def test_miss_then_hit(self):
        d, after = self.delta(lambda: self.assertEqual(
            self.embed_sql("s:1", "a hoppy citrus IPA"), vector_bytes("a hoppy citrus IPA")))
        self.assert_moved(d, misses=1, provider_requests=1, provider_inputs=1,
                          provider_tokens=">0", latency_count=1)
        self.assertGreater(after["latency_ms_max"], 0)
        self.assertEqual(Embed.requests(), 1)

        d, _ = self.delta(lambda: self.embed_sql("s:1", "a hoppy citrus IPA"))
        self.assert_moved(d, hits=1, hits_redis=1, tokens_saved=">0")
        self.assertEqual(Embed.requests(), 1)

    def test_null_and_blank_text(self):
        d, _ = self.delta(lambda: self.assertIsNone(self.embed_sql("s:n", None)))
        self.assert_moved(d, null_texts=1)
        d, _ = self.delta(lambda: self.assertIsNone(self.embed_sql("s:b", "  \t ")))
        self.assert_moved(d, empty_texts=1)
        self.assertEqual(Embed.requests(), 0)

    def test_provider_failure(self):
        Embed.faults({"status": 400, "message": "bad input"})
        d, _ = self.delta(lambda: self.assertIsNone(self.embed_sql("s:f", "fails once")))
        # latency_count: whether an error answer is timed is the core's choice
        self.assert_moved(d, misses=1, provider_requests=1, provider_errors=1,
                          rows_failed=1, latency_count=None)

    def test_retry(self):
        Embed.faults({"status": 429, "count": 1, "retry_after": "0"})
        d, _ = self.delta(lambda: self.assertEqual(
            self.embed_sql("s:r", "retried"), vector_bytes("retried")))
        # latency_count: at least the successful exchange (the core times the
        # refused one as well)
        self.assert_moved(d, misses=1, provider_requests=2, provider_inputs=1,
                          provider_tokens=">0", retries=1, latency_count=">0")

    def test_many_rows_in_one_statement(self):
        texts = ["stats row %d" % i for i in range(12)]
        sql = " UNION ALL ".join("SELECT %d AS id, '%s' AS body" % (i, t) for i, t in enumerate(texts))
        run = lambda: scalar("SELECT COUNT(cached_embed(CONCAT('s:m:', id), body)) FROM (%s) t" % sql)  # noqa: E731
        d, _ = self.delta(run)
        self.assert_moved(d, misses=12, provider_requests=12, provider_inputs=12,
                          provider_tokens=">0", latency_count=12)
        d, _ = self.delta(run)
        self.assert_moved(d, hits=12, hits_redis=12, tokens_saved=">0")

    def test_tokens_saved_and_money(self):
        """Hits count the tokens they did not pay for; with
        price_per_million_tokens set, spent and saved are provider_tokens
        and tokens_saved at that price, to six decimal places."""
        text = "a smoky porter with notes of coffee and dark chocolate"
        self.assertNotIn("spent", stats())  # no price: no money
        try:
            set_config(price_per_million_tokens="0.05")
            d, _ = self.delta(lambda: self.embed_sql("s:money", text))
            self.assertGreater(d["provider_tokens"], 0)
            before = stats()
            self.embed_sql("s:money", text)  # a Redis hit
            raw = scalar("SELECT cached_embed_stats()")
            raw = raw.decode() if isinstance(raw, bytes) else raw
            after = json.loads(raw)
        finally:
            restore_config()
        self.assertGreater(after["tokens_saved"], before["tokens_saved"])
        for money, counter in (("spent", "provider_tokens"), ("saved", "tokens_saved")):
            shown = re.search(r'"%s":([0-9.]+)' % money, raw).group(1)
            want = (Decimal(after[counter]) * Decimal("0.05") / 10 ** 6).quantize(
                Decimal("0.000001"), rounding=ROUND_HALF_UP)
            self.assertEqual(shown, str(want), money)
        self.assertNotIn("spent", stats())  # the price unset again

    def test_bad_price_is_ignored(self):
        for bad in ("-1", "abc", "1e3", "0.1234567891", "10000000"):
            try:
                set_config(price_per_million_tokens=bad)
                self.assertNotIn("spent", stats(), bad)
            finally:
                restore_config()

    def test_arguments_are_refused(self):
        for sql in ("SELECT cached_embed_stats(1)", "SELECT cached_embed_stats('a', 'b')"):
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                scalar(sql)
            self.assertIn("cached_embed_stats() expects no arguments", str(cm.exception))


if __name__ == "__main__":
    main()
