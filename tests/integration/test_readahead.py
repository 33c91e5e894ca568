"""Read-ahead after a warm-up (udf/readahead.h): an UPDATE that follows a
warm-up larger than the local cache fetches the rows' vectors from Redis a
group at a time (one pipelined round trip per group of up to 256 keys),
not one round trip per row; every vector is right, a row whose text changed
in between gets its new text's vector, and nothing goes to the provider.
Round trips are counted on the Redis side (INFO stats
total_reads_processed: each round trip is at least one read event)."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (Embed, ServerTestCase, db, main, query, rds,  # noqa: E402
                     restore_config, scalar, set_config, vector_bytes)

ROWS = 2000


def reads():
    return rds().info("stats")["total_reads_processed"]


def stats():
    return json.loads(scalar("SELECT cached_embed_stats()"))


class ReadaheadTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        conn = db()
        query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
        query("CREATE OR REPLACE TABLE t.ra (id INT PRIMARY KEY, body TEXT, "
              "vec VARBINARY(3072))", conn=conn)
        with conn.cursor() as c:
            c.executemany("INSERT INTO t.ra (id, body) VALUES (%s, %s)",
                          [(i, "read ahead %d" % i) for i in range(ROWS)])
        conn.close()

    @classmethod
    def tearDownClass(cls):
        restore_config()
        scalar("SELECT cached_embed(NULL, NULL)")  # local cache emptied

    def setUp(self):
        super().setUp()
        # 4 MiB hold about 1,300 of the 2,000 vectors (3 KiB each)
        set_config(batch=100, parallel=4, local_cache_mb=0)
        scalar("SELECT cached_embed(NULL, NULL)")  # emptied
        set_config(batch=100, parallel=4, local_cache_mb=4)
        query("UPDATE t.ra SET vec = NULL, body = CONCAT('read ahead ', id)")

    def check(self, texts):
        rows = query("SELECT id, vec FROM t.ra ORDER BY id")
        self.assertEqual(len(rows), ROWS)
        for i, v in rows:
            self.assertEqual(v, vector_bytes(texts.get(i, "read ahead %d" % i)), i)

    def test_update_after_a_warm_up_reads_redis_a_group_at_a_time(self):
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('ra:', id), body) "
                                "FROM t.ra"), ROWS)
        n, before, r0 = Embed.requests(), stats(), reads()
        query("UPDATE t.ra SET vec = cached_embed(CONCAT('ra:', id), body)")
        round_trips, after = reads() - r0, stats()
        self.check({})
        self.assertEqual(Embed.requests(), n)
        # each flush of 400 rows lists groups of 256 and 144 keys: 10 group
        # fetches (a round trip per row would be 2,000 reads; a few more for
        # the statement's other calls)
        self.assertLess(round_trips, 40, round_trips)
        self.assertLessEqual(after["hits_redis"] - before["hits_redis"], 10)
        self.assertGreaterEqual(after["hits_local"] - before["hits_local"], ROWS - 10)

    def test_one_statement_form(self):
        # what the warm-up alone costs Redis (its pipelined SETs of 3 KiB
        # values take many read events), on an empty cache
        r0 = reads()
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('ra:', id), body) "
                                "FROM t.ra"), ROWS)
        warm_up = reads() - r0
        self.setUp()
        r0, before = reads(), stats()
        query("UPDATE t.ra CROSS JOIN (SELECT cached_embed_warm(CONCAT('ra:', id), body) AS w "
              "FROM t.ra) AS warm SET t.ra.vec = cached_embed(CONCAT('ra:', t.ra.id), t.ra.body)")
        after = stats()
        self.check({})
        # the write's share: the group fetches, not a round trip per row
        self.assertLess(reads() - r0 - warm_up, 40)
        self.assertLessEqual(after["hits_redis"] - before["hits_redis"], 10)
        self.assertLessEqual(Embed.requests(), 20)

    def test_a_text_changed_after_the_warm_up_gets_its_own_vector(self):
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('ra:', id), body) "
                                "FROM t.ra"), ROWS)
        query("UPDATE t.ra SET body = 'an edited text' WHERE id IN (3, 700, 1999)")
        n = Embed.requests()
        query("UPDATE t.ra SET vec = cached_embed(CONCAT('ra:', id), body)")
        self.check({3: "an edited text", 700: "an edited text", 1999: "an edited text"})
        # only the edited rows, and their one new text is paid once (the
        # first row's lock note serves the other two)
        self.assertEqual(Embed.requests(), n + 1)

    def test_no_read_ahead_with_the_local_cache_off(self):
        set_config(batch=100, parallel=4, local_cache_mb=0)
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('ra:', id), body) "
                                "FROM t.ra"), ROWS)
        before = stats()
        query("UPDATE t.ra SET vec = cached_embed(CONCAT('ra:', id), body)")
        self.check({})
        self.assertEqual(stats()["hits_redis"] - before["hits_redis"], ROWS)


if __name__ == "__main__":
    main()
