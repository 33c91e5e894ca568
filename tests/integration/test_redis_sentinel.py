"""Redis Sentinel (issue 11): `redis-sentinel://host:port/master_name`. The
plugin asks the sentinel for the master, checks ROLE, and asks again when
the master goes away (connection errors) or is demoted (READONLY). Set-up:
a master, its replica and one sentinel with quorum 1."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, main, query,  # noqa: E402
                     restore_config, set_config, vector_bytes)
from extra_servers import Sentinel, stop_all, wait_for  # noqa: E402


def make_table(name, texts):
    query("CREATE DATABASE IF NOT EXISTS t")
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, body TEXT)" % name)
    query("INSERT INTO t.%s VALUES " % name +
          ",".join("(%d, '%s')" % (i, b) for i, b in enumerate(texts)))


def embed_table(name):
    return [r[0] for r in query(
        "SELECT cached_embed(CONCAT('%s:', id), body) FROM t.%s ORDER BY id" % (name, name))]


class SentinelTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.s = Sentinel()
        set_config(redis=self.s.url())

    def tearDown(self):
        restore_config()
        stop_all()
        super().tearDown()

    def embed(self, name, n=30):
        texts = ["sentinel %s %d" % (name, i) for i in range(n)]
        make_table(name, texts)
        self.assertEqual(embed_table(name), [vector_bytes(t) for t in texts])
        return n

    def keys_on(self, server, name, n=30):
        c = server.client()
        return sum(c.exists(PREFIX + "%s:%d" % (name, i)) for i in range(n))

    def wait_promoted(self):
        wait_for(lambda: self.s.master_port() == self.s.replica.port, 60,
                 "the sentinel to promote the replica")
        wait_for(lambda: self.s.replica.client().execute_command("ROLE")[0] == b"master",
                 30, "the replica to become master")

    def test_entries_go_to_the_master(self):
        self.embed("first")
        self.assertEqual(self.keys_on(self.s.master, "first"), 30)
        Embed.reset()
        self.embed("first")
        self.assertEqual(Embed.requests(), 0)

    def test_master_killed_new_entries_land_on_the_promoted_replica(self):
        self.embed("before")
        self.s.master.client().execute_command("WAIT", 1, 5000)
        self.s.master.kill()
        self.wait_promoted()
        # statements go on meanwhile and after: every row right
        self.embed("after")
        self.assertEqual(self.keys_on(self.s.replica, "after"), 30,
                         "new entries did not land on the promoted replica")
        Embed.reset()
        self.embed("after")
        self.embed("before")  # replicated before the kill: still cached
        self.assertEqual(Embed.requests(), 0)
        self.assertIn("redis sentinel: master mymaster is at 127.0.0.1:%d"
                      % self.s.replica.port, self.log.new())

    def test_graceful_failover(self):
        """SENTINEL FAILOVER turns the master into a replica while the plugin
        holds connections to it: the demoted server closes them (Redis 7) or
        answers writes with READONLY; a new connection's ROLE check says
        `slave`. Each makes the plugin ask the sentinel again."""
        self.embed("pre")
        self.s.sentinel.client().execute_command("SENTINEL", "FAILOVER", "mymaster")
        self.wait_promoted()
        wait_for(lambda: self.s.master.client().execute_command("ROLE")[0] == b"slave",
                 30, "the old master to become a replica")
        time.sleep(0.5)
        self.embed("post")
        self.assertEqual(self.keys_on(self.s.replica, "post"), 30)


if __name__ == "__main__":
    main()
