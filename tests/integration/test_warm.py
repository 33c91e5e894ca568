"""cached_embed_warm(key, text [, task]): the batch warm-up aggregate. Request counts
are checked with the local embedding server's counters."""

import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, db, main, query, rds,  # noqa: E402
                     restore_config, scalar, set_config, vector_bytes)

HEADER = 4 + 4 + 32


def decode_entry(value):
    """The vector in a cache value (udf/cache_entry.h), checked like the
    plugin."""
    assert value[:4] == b"CEV1"
    dims = struct.unpack("<I", value[4:8])[0]
    assert len(value) == HEADER + dims * 4
    return value[HEADER:]


def make_table(texts, name="warm"):
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, grp INT, body TEXT)" % name, conn=conn)
    with conn.cursor() as c:
        c.executemany("INSERT INTO t.%s VALUES (%%s, %%s, %%s)" % name,
                      [(i, i % 3, t) for i, t in enumerate(texts)])
    conn.close()


def warm(name="warm", prefix="w:"):
    return scalar("SELECT cached_embed_warm(CONCAT('%s', id), body) FROM t.%s" % (prefix, name))


class WarmTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        set_config(batch=100, parallel=3, circuit_failures=0)

    @classmethod
    def tearDownClass(cls):
        restore_config()

    def assert_cached(self, texts, prefix="w:", skip=()):
        r = rds()
        for i, t in enumerate(texts):
            v = r.get(PREFIX + prefix + str(i))
            if i in skip:
                self.assertIsNone(v, "row %d should not be cached" % i)
            else:
                self.assertIsNotNone(v, "row %d not cached" % i)
                self.assertEqual(decode_entry(v), vector_bytes(t), "row %d" % i)

    def test_groups_cut_off_by_having_are_still_warmed(self):
        # clear() used to drop the rows queued for a group whose result the
        # server never asked for (HAVING false, LIMIT): they were not warmed
        texts = ["having text number %d" % i for i in range(10)]
        make_table(texts, "hv")
        rows = query("SELECT cached_embed_warm(CONCAT('h:', id), body) AS c "
                     "FROM t.hv HAVING COUNT(*) > 100")
        self.assertEqual(rows, ())
        self.assert_cached(texts, prefix="h:")
        rows = query("SELECT grp, cached_embed_warm(CONCAT('g:', id), body) "
                     "FROM t.hv GROUP BY grp HAVING MAX(id) > 100")
        self.assertEqual(rows, ())
        self.assert_cached(texts, prefix="g:")
        rows = query("SELECT grp, cached_embed_warm(CONCAT('s:', id), body) "
                     "FROM t.hv GROUP BY grp HAVING MAX(id) = 8")
        self.assertEqual(rows, ((2, 3),))
        self.assert_cached(texts, prefix="s:")
        # each group still counts its own rows
        rows = query("SELECT grp, cached_embed_warm(CONCAT('c:', id), body) "
                     "FROM t.hv GROUP BY grp ORDER BY grp")
        self.assertEqual(rows, ((0, 4), (1, 3), (2, 3)))

    def test_requests_are_batched(self):
        texts = ["warm text number %d" % i for i in range(650)]
        make_table(texts)
        self.assertEqual(warm(), 650)
        st = Embed.stats()
        self.assertEqual(st["requests"], math.ceil(650 / 100))
        self.assertEqual(st["inputs"], 650)
        self.assert_cached(texts)
        # everything cached: a second warm-up asks nothing
        self.assertEqual(warm(), 650)
        self.assertEqual(Embed.requests(), math.ceil(650 / 100))
        # and the row function finds what the warm-up stored
        rows = query("SELECT cached_embed(CONCAT('w:', id), body) FROM t.warm ORDER BY id")
        self.assertEqual([r[0] for r in rows], [vector_bytes(t) for t in texts])
        self.assertEqual(Embed.requests(), math.ceil(650 / 100))

    def test_parallel_requests_fly_at_once(self):
        # 16 requests of 256 inputs of 768 values: counted at their response
        # limit (room for float arrays, 6.4 MiB), 32 MiB of requests in
        # flight let only 6 fly, whatever `parallel` said; counted at the
        # size of the answers that came (1.4 MiB), `parallel` of them do
        texts = ["parallel text number %d" % i for i in range(4096)]
        make_table(texts, "par")
        set_config(batch=256, parallel=8, circuit_failures=0)
        Embed.config(latency_ms=300)
        try:
            self.assertEqual(warm("par", "par:"), 4096)
        finally:
            set_config(batch=100, parallel=3, circuit_failures=0)
        st = Embed.stats()
        self.assertEqual(st["requests"], 16)
        self.assertEqual(st["most_in_flight"], 8)
        self.assert_cached(texts, prefix="par:")

    def test_identical_texts_are_sent_once(self):
        texts = ["duplicate %d" % (i % 40) for i in range(300)]
        make_table(texts)
        self.assertEqual(warm(), 300)
        st = Embed.stats()
        self.assertEqual(st["inputs"], 40)
        self.assertEqual(st["requests"], 1)
        self.assert_cached(texts)

    def test_only_misses_are_sent(self):
        texts = ["partly cached %d" % i for i in range(250)]
        make_table(texts)
        for i in range(0, 250, 5):
            self.embed_sql("w:%d" % i, texts[i])
        Embed.reset()
        self.assertEqual(warm(), 250)
        self.assertEqual(Embed.stats()["inputs"], 200)
        self.assert_cached(texts)

    def test_null_and_blank_texts_are_not_counted(self):
        texts = ["real text %d" % i for i in range(10)]
        make_table(texts)
        query("INSERT INTO t.warm VALUES (100, 0, NULL), (101, 0, ''), (102, 0, '   ')")
        self.assertEqual(warm(), 10)
        self.assertEqual(Embed.stats()["inputs"], 10)

    def test_429_is_retried_and_counted(self):
        texts = ["rate limited %d" % i for i in range(120)]
        make_table(texts)
        Embed.faults({"status": 429, "retry_after": "0"})
        before = json.loads(scalar("SELECT cached_embed_stats()"))
        self.assertEqual(warm(), 120)
        after = json.loads(scalar("SELECT cached_embed_stats()"))
        self.assertEqual(after["retries"] - before["retries"], 1)
        self.assertEqual(after["provider_errors"], before["provider_errors"])
        st = Embed.stats()
        self.assertEqual(st["by_status"].get("429"), 1)
        self.assertEqual(st["requests"], 3)  # 2 batches + 1 retry
        self.assert_cached(texts)

    def test_outage_mid_run_caches_nothing_wrong(self):
        set_config(batch=100, parallel=1, retries=2, circuit_failures=0)
        try:
            texts = ["outage text %d" % i for i in range(300)]
            make_table(texts)
            # the first request passes, the second fails every attempt
            Embed.faults({"kind": "hang", "ms": 0}, {"status": 503, "count": 3})
            got = warm()
            self.assertEqual(got, 200)
            cached = [i for i in range(300) if rds().exists(PREFIX + "w:%d" % i)]
            self.assertEqual(len(cached), 200)
            failed = set(range(300)) - set(cached)
            self.assert_cached(texts, skip=failed)
            self.assertIn("warm-up request of 100 inputs failed", self.log.new())
            # a second warm-up fills the gap
            self.assertEqual(warm(), 300)
            self.assert_cached(texts)
        finally:
            set_config(batch=100, parallel=3, circuit_failures=0)

    def test_bad_response_caches_nothing(self):
        texts = ["bad answer %d" % i for i in range(50)]
        make_table(texts)
        for kind in ("missing", "wrong_length", "nan", "malformed"):
            rds().flushall()
            Embed.faults({"kind": kind})
            self.assertEqual(warm(), 0, kind)
            self.assertEqual(rds().dbsize(), 0, kind)

    def test_group_by_counts_per_group(self):
        texts = ["grouped %d" % i for i in range(30)]
        make_table(texts)
        rows = query("SELECT grp, cached_embed_warm(CONCAT('w:', id), body) FROM t.warm GROUP BY grp ORDER BY grp")
        self.assertEqual(rows, ((0, 10), (1, 10), (2, 10)))
        self.assert_cached(texts)

    def test_wrong_argument_count(self):
        import pymysql
        with self.assertRaises(pymysql.err.OperationalError) as cm:
            query("SELECT cached_embed_warm('x') FROM t.warm")
        self.assertIn("cached_embed_warm(key, text [, task]) expects 2 or 3 arguments",
                      str(cm.exception))

    def test_update_after_warm_up_touches_neither_redis_nor_provider(self):
        set_config(batch=100, parallel=3, local_cache_mb=32, circuit_failures=0)
        try:
            texts = ["backfill %d" % i for i in range(200)]
            make_table(texts)
            query("ALTER TABLE t.warm ADD COLUMN vec VARBINARY(3072)")
            self.assertEqual(warm(), 200)
            n = Embed.requests()
            rds().flushall()  # only the local cache can answer now
            query("UPDATE t.warm SET vec = cached_embed(CONCAT('w:', id), body)")
            rows = query("SELECT vec FROM t.warm ORDER BY id")
            self.assertEqual([r[0] for r in rows], [vector_bytes(t) for t in texts])
            self.assertEqual(Embed.requests(), n)
            self.assertEqual(rds().dbsize(), 0)
        finally:
            set_config(batch=100, parallel=3, circuit_failures=0)

    def test_local_copies_that_redis_lost_are_put_back(self):
        # After a FLUSHALL the local cache still holds copies for up to
        # local_cache_max_age. The warm-up used to count them without
        # asking Redis; entries evicted from the local cache before the
        # next statement read them were then in neither place: 300 of 600
        # rows paid a request each in the one-statement form below.
        set_config(batch=100, parallel=3, local_cache_mb=1, circuit_failures=0)
        try:
            texts = ["flushed %d" % i for i in range(600)]
            make_table(texts)
            self.assertEqual(warm(), 600)
            rds().flushall()
            Embed.reset()
            # 1 MiB holds about 320 vectors: the last rows warmed are local
            n = scalar("SELECT COUNT(*), SUM(LENGTH(cached_embed(CONCAT('w:', d.id), d.body))) "
                       "FROM (SELECT cached_embed_warm(CONCAT('w:', id), body) AS w "
                       "FROM t.warm) AS warm CROSS JOIN t.warm AS d")
            self.assertEqual(n, 600)
            # the misses in three requests of 100, every local copy back in
            # Redis: nothing left for the row function to ask the provider
            self.assertLessEqual(Embed.requests(), math.ceil(600 / 100))
            self.assert_cached(texts)
            # and a warm-up with every copy local and in Redis asks nothing
            Embed.reset()
            self.assertEqual(warm(), 600)
            self.assertEqual(Embed.requests(), 0)
        finally:
            set_config(batch=100, parallel=3, circuit_failures=0)

    def test_counted_rows_are_in_redis_after_a_flush(self):
        set_config(batch=100, parallel=3, local_cache_mb=32, circuit_failures=0)
        try:
            texts = ["kept %d" % i for i in range(150)]
            make_table(texts)
            self.assertEqual(warm(), 150)
            rds().flushall()
            n = Embed.requests()
            self.assertEqual(warm(), 150)
            self.assertEqual(Embed.requests(), n)  # put back, not embedded again
            self.assert_cached(texts)
            self.assertLessEqual(rds().ttl(PREFIX + "w:0"), 1200)
            self.assertGreater(rds().ttl(PREFIX + "w:0"), 0)
        finally:
            set_config(batch=100, parallel=3, circuit_failures=0)


if __name__ == "__main__":
    main()
