"""The seed's query (sql/examples/notebook_join.sql) cold, in one statement:
its warm-up CTE batches the provider requests, at most ceil(rows / batch)
per description column, and it has finished before the outer SELECT's
cached_embed calls run (a row evaluated before the warm-up would be a miss
of its own: one more request, over the bound). Every vector is the
embedding server's own, none is NULL. With the local cache off (the
harness default) and on, and with batch 64 to show that the bound scales.
The old notebook_join.sql (row function only) made one request per row."""

import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (ROOT, S, Embed, ServerTestCase, db, main, query, rds,  # noqa: E402
                     restore_config, scalar, set_config, vector_bytes)

DB = "openbeer_single"
ROWS = 492  # beers with id % 12 = 1


def notebook_sql():
    with open(os.path.join(ROOT, "sql", "examples", "notebook_join.sql")) as f:
        return f.read()


class SingleStatementTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        subprocess.run(["bash", os.path.join(ROOT, "sql", "beer", "load.sh"), DB,
                        "--socket=" + S["CE_SOCKET"], "-uroot"], check=True, timeout=300)
        cls.texts = {r[0]: r[1:] for r in query(
            "SELECT id, descr_long, descr_short FROM `%s`.descriptions "
            "WHERE id %% 12 = 1" % DB)}

    @classmethod
    def tearDownClass(cls):
        query("DROP DATABASE IF EXISTS `%s`" % DB)

    def tearDown(self):
        restore_config()
        scalar("SELECT cached_embed(NULL, NULL)")  # local_cache_mb 0: emptied
        super().tearDown()

    def run_cold(self, batch):
        """Runs the notebook's query on an empty cache; checks rows, vectors
        and the request bound; returns the number of requests and the
        change of cached_embed_stats()."""
        Embed.config(record_texts=True)
        before = json.loads(scalar("SELECT cached_embed_stats()"))
        conn = db(database=DB)
        try:
            rows = query(notebook_sql(), conn=conn)
        finally:
            conn.close()
        after = json.loads(scalar("SELECT cached_embed_stats()"))
        delta = {k: after[k] - before[k] for k in ("hits_local", "hits_redis", "misses")}
        self.assertEqual(len(rows), ROWS)
        for id_, long_, short, vec_long, vec_short in rows:
            self.assertEqual((long_, short), self.texts[id_])
            self.assertIsNotNone(vec_long, id_)
            self.assertIsNotNone(vec_short, id_)
            self.assertEqual(vec_long, vector_bytes(long_), id_)
            self.assertEqual(vec_short, vector_bytes(short), id_)
        st = Embed.stats()
        bound = 2 * math.ceil(ROWS / batch)  # per column, two columns
        self.assertLessEqual(st["requests"], bound,
                             "%d requests for %d rows, batch %d" % (st["requests"], ROWS, batch))
        # each distinct text embedded exactly once
        distinct = {t for pair in self.texts.values() for t in pair}
        self.assertEqual(sum(st["texts"].values()), len(distinct))
        self.assertEqual(set(st["texts"]), distinct)
        return st["requests"], delta

    def test_cold_one_statement_within_the_bound(self):
        requests, delta = self.run_cold(256)
        self.assertEqual(requests, 4)
        # the warm-up missed every row, the outer SELECT found every row
        self.assertEqual(delta, {"hits_local": 0, "hits_redis": 2 * ROWS, "misses": 2 * ROWS})
        # warm: nothing asked
        Embed.reset()
        conn = db(database=DB)
        self.assertEqual(len(query(notebook_sql(), conn=conn)), ROWS)
        conn.close()
        self.assertEqual(Embed.requests(), 0)

    def test_cold_with_the_local_cache_on(self):
        set_config(local_cache_mb=32)
        requests, delta = self.run_cold(256)
        self.assertEqual(requests, 4)
        # the outer SELECT found every row in the local cache
        self.assertEqual(delta, {"hits_local": 2 * ROWS, "hits_redis": 0, "misses": 2 * ROWS})

    def test_small_batch_scales_the_bound(self):
        set_config(batch=64)
        requests, _ = self.run_cold(64)
        self.assertEqual(requests, 2 * math.ceil(ROWS / 64))

    def test_explain_asks_nothing(self):
        conn = db(database=DB)
        try:
            plan = query("EXPLAIN " + notebook_sql(), conn=conn)
        finally:
            conn.close()
        self.assertIn("DERIVED", [r[1] for r in plan])  # the warm-up, materialized
        self.assertEqual(Embed.requests(), 0)
        self.assertEqual(rds().dbsize(), 0)


if __name__ == "__main__":
    main()
