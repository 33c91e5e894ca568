"""Issue 9 §3: a dead pooled Redis connection must not cost money. Pooled
connections die when Redis restarts, fails over, closes idle clients
(`timeout`), or an operator runs CLIENT KILL; the next command on such a
connection fails. It is retried once on a fresh connection, so the cached rows
of the next statement are still hits: no provider request."""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (S, Embed, ServerTestCase, db, entry_keys, main, query,  # noqa: E402
                     rds, scalar, vector_bytes)

ROWS = 200


def make_table():
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.reconnect (id INT PRIMARY KEY, body TEXT)", conn=conn)
    texts = ["reconnect text %d" % i for i in range(ROWS)]
    query("INSERT INTO t.reconnect VALUES " +
          ",".join("(%d, '%s')" % (i, t) for i, t in enumerate(texts)), conn=conn)
    conn.close()
    return texts


def embed_all(conn=None):
    return [r[0] for r in query(
        "SELECT cached_embed(CONCAT('rc:', id), body) FROM t.reconnect ORDER BY id",
        conn=conn)]


def warm_all():
    return scalar("SELECT cached_embed_warm(CONCAT('rc:', id), body) FROM t.reconnect")


def fill_pool(sessions=6):
    """Several sessions at once leave several idle connections in the pool."""
    def run():
        embed_all()
    threads = [threading.Thread(target=run) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def kill_clients():
    subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "CLIENT", "KILL", "TYPE", "normal"],
                   check=True, capture_output=True, timeout=10)


def restart_redis():
    """Stops Redis with a snapshot and starts it again on the same socket and
    port: the entries survive, every connection the plugin held is dead."""
    subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "SHUTDOWN", "SAVE"],
                   capture_output=True, timeout=20)
    pid_file = os.path.join(S["CE_DIR"], "redis.pid")
    for _ in range(100):
        if not os.path.exists(pid_file):
            break
        time.sleep(0.1)
    subprocess.run(["redis-server", S["CE_REDIS_CONF"]], check=True, timeout=10)
    for _ in range(100):
        r = subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "ping"],
                           capture_output=True, timeout=5)
        if r.stdout.strip() == b"PONG":
            break
        time.sleep(0.1)
    # the snapshot must not come back in later tests' restarts
    try:
        os.unlink(os.path.join(S["CE_DIR"], "dump.rdb"))
    except FileNotFoundError:
        pass


class DeadConnectionTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.texts = make_table()
        self.expected = [vector_bytes(t) for t in self.texts]
        self.assertEqual(embed_all(), self.expected)
        self.assertEqual(len(entry_keys()), ROWS)
        fill_pool()
        Embed.reset()

    def check_free(self, what):
        self.assertEqual(embed_all(), self.expected)
        self.assertEqual(Embed.requests(), 0,
                         "%s: cached rows paid the provider" % what)

    def test_client_kill_between_statements(self):
        for round_ in range(3):
            kill_clients()
            self.check_free("after CLIENT KILL #%d" % round_)

    def test_client_kill_between_warm_ups(self):
        kill_clients()
        self.assertEqual(warm_all(), ROWS)
        self.assertEqual(Embed.requests(), 0, "warm-up after CLIENT KILL paid")

    def test_client_kill_with_one_session_kept_open(self):
        conn = db()
        try:
            self.assertEqual(embed_all(conn), self.expected)
            kill_clients()
            self.assertEqual(embed_all(conn), self.expected)
            self.assertEqual(Embed.requests(), 0)
        finally:
            conn.close()

    def test_redis_restarted_between_statements(self):
        restart_redis()
        self.assertEqual(len(entry_keys()), ROWS, "the snapshot did not come back")
        self.check_free("after a Redis restart")

    def test_redis_really_down_is_still_skipped(self):
        """The retry is once, on a fresh connection: when that fails too, Redis
        counts as down and rows go to the provider without waiting."""
        subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "SHUTDOWN", "NOSAVE"],
                       capture_output=True, timeout=20)
        try:
            self.assertEqual(embed_all(), self.expected)
            self.assertEqual(Embed.requests(), ROWS)
            self.assertIn("redis", self.log.new())
        finally:
            subprocess.run(["redis-server", S["CE_REDIS_CONF"]], check=True, timeout=10)
            for _ in range(100):
                r = subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "ping"],
                                   capture_output=True, timeout=5)
                if r.stdout.strip() == b"PONG":
                    break
                time.sleep(0.1)
            time.sleep(1.1)  # the skip window


if __name__ == "__main__":
    main()
