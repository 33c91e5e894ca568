"""Several MariaDB servers on one cache (issue 11). Two servers pointing at
the same Redis share it: a text embedded by one is a Redis hit on the other.
Replication: a backfill `UPDATE ... SET vec = cached_embed(...)` on a primary
reaches its replica as row images with binlog_format MIXED (the function is
unsafe for statements, so MIXED logs rows) and ROW; the replica applies the
rows and never runs the function, so it never calls the provider."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (ROOT, Embed, ServerTestCase, main, query,  # noqa: E402
                     vector_bytes)
from extra_servers import MariaDB, stop_all, wait_for  # noqa: E402

INSTALL = os.path.join(ROOT, "sql", "install.sql")


def stats(server):
    return json.loads(server.scalar("SELECT cached_embed_stats()"))


class MultiServerTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.primary = MariaDB("primary", server_id=11, log_bin=True, tcp=True)
        cls.replica = MariaDB("replica", server_id=12)
        cls.primary.query("CREATE USER repl@'127.0.0.1' IDENTIFIED BY 'repl-pw'")
        cls.primary.query("GRANT REPLICATION SLAVE ON *.* TO repl@'127.0.0.1'")
        cls.replica.query(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, "
            "MASTER_USER='repl', MASTER_PASSWORD='repl-pw', "
            "MASTER_USE_GTID=slave_pos" % cls.primary.port)
        cls.replica.query("START SLAVE")
        cls.primary.run_file(INSTALL)  # replicated: the replica gets the functions
        cls.sync()

    @classmethod
    def tearDownClass(cls):
        stop_all()

    @classmethod
    def sync(cls):
        pos = cls.primary.scalar("SELECT @@gtid_binlog_pos")
        got = cls.replica.scalar("SELECT MASTER_GTID_WAIT(%s, 60)", (pos,))
        if got != 0:
            raise RuntimeError("replica did not catch up: " + str(
                cls.replica.query("SHOW SLAVE STATUS")))

    def test_text_embedded_by_one_server_is_a_hit_on_another(self):
        texts = ["shared cache text %d" % i for i in range(20)]
        for i, t in enumerate(texts):  # the fixture's server
            self.assertEqual(self.embed_sql("shared:%d" % i, t), vector_bytes(t))
        self.assertEqual(Embed.requests(), 20)
        before = stats(self.primary)
        for i, t in enumerate(texts):  # another server, same Redis
            self.assertEqual(self.primary.scalar("SELECT cached_embed(%s, %s)",
                                                 ("shared:%d" % i, t)), vector_bytes(t))
        self.assertEqual(Embed.requests(), 20, "server 2 paid for server 1's texts")
        after = stats(self.primary)
        self.assertEqual(after["hits_redis"] - before["hits_redis"], 20)
        self.assertEqual(after["provider_requests"], before["provider_requests"])
        # and the other way round, through the warm-up
        more = ["shared warm text %d" % i for i in range(30)]
        self.primary.query("CREATE DATABASE IF NOT EXISTS t")
        self.primary.query("CREATE OR REPLACE TABLE t.more (id INT PRIMARY KEY, body TEXT)")
        self.primary.query("INSERT INTO t.more VALUES " +
                           ",".join("(%d, '%s')" % (i, t) for i, t in enumerate(more)))
        self.assertEqual(self.primary.scalar(
            "SELECT cached_embed_warm(CONCAT('more:', id), body) FROM t.more"), 30)
        n = Embed.requests()
        got = [self.embed_sql("more:%d" % i, t) for i, t in enumerate(more)]
        self.assertEqual(got, [vector_bytes(t) for t in more])
        self.assertEqual(Embed.requests(), n, "server 1 paid for server 2's warm-up")
        self.sync()

    def backfill(self, fmt, expect_rows=True):
        table = "t.docs_" + fmt.lower()
        texts = ["replicated %s text %d" % (fmt, i) for i in range(40)]
        conn = self.primary.connect()
        try:
            with conn.cursor() as c:
                c.execute("SET SESSION binlog_format = %s", (fmt,))
                c.execute("CREATE DATABASE IF NOT EXISTS t")
                c.execute("CREATE OR REPLACE TABLE %s (id INT PRIMARY KEY, body TEXT, "
                          "vec VARBINARY(3072))" % table)
                c.execute("INSERT INTO %s (id, body) VALUES " % table +
                          ",".join("(%d, '%s')" % (i, t) for i, t in enumerate(texts)))
                self.sync()
                replica_before = stats(self.replica)
                Embed.reset()
                binlog, pos = self.primary.query("SHOW MASTER STATUS")[0][:2]
                c.execute("UPDATE %s SET vec = cached_embed(CONCAT('rep:', id), body)" % table)
                c.execute("SHOW BINLOG EVENTS IN %%s FROM %d" % pos, (binlog,))
                events = [r[2] for r in c.fetchall()]
        finally:
            conn.close()
        self.assertEqual(Embed.requests(), 40, "the primary embeds each row once")
        self.assertEqual("Update_rows_v1" in events, expect_rows, events[-5:])
        self.sync()
        rows = self.replica.query("SELECT id, vec FROM %s ORDER BY id" % table)
        self.assertEqual([v for _, v in rows], [vector_bytes(t) for t in texts])
        self.assertEqual(Embed.requests(), 40, "the replica called the provider")
        after = stats(self.replica)
        return {k: after[k] - replica_before[k]
                for k in ("provider_requests", "misses", "hits_redis", "hits_local")}

    def test_backfill_replicates_as_rows_with_binlog_format_mixed(self):
        ran = self.backfill("MIXED")
        self.assertEqual(ran, dict.fromkeys(ran, 0), "the replica ran the function")

    def test_backfill_replicates_as_rows_with_binlog_format_row(self):
        ran = self.backfill("ROW")
        self.assertEqual(ran, dict.fromkeys(ran, 0), "the replica ran the function")

    def test_statement_format_makes_the_replica_run_the_function(self):
        """What ARCHITECTURE.md (Replication) says of STATEMENT: the UPDATE's
        text is replicated, the replica runs cached_embed itself; with the
        same Redis every row is a cache hit there (no payment), but only
        while the entries live."""
        ran = self.backfill("STATEMENT", expect_rows=False)
        self.assertEqual(ran["hits_redis"], 40)
        self.assertEqual(ran["provider_requests"], 0)


if __name__ == "__main__":
    main()
