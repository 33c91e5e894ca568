"""KILL QUERY and progress reports of the warm-up (the plugin loaded): the
statement stops while provider requests are in flight, nothing half-written
is left in Redis, the server carries on; SHOW PROCESSLIST shows progress."""

import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, db, main, query, rds,  # noqa: E402
                     restore_config, scalar, set_config, vector_bytes)
import pymysql  # noqa: E402

ER_QUERY_INTERRUPTED = 1317
HEADER = 4 + 4 + 32
ROWS = 40


class Warmup(threading.Thread):
    """cached_embed_warm over t.kill on its own connection."""

    def __init__(self):
        super().__init__(daemon=True)
        self.conn = db()
        self.id = scalar_on(self.conn, "SELECT CONNECTION_ID()")
        self.error = None
        self.result = None
        self.ended = None

    def run(self):
        try:
            self.result = scalar_on(
                self.conn, "SELECT cached_embed_warm(CONCAT('kill:', id), body) FROM t.kill")
        except pymysql.err.MySQLError as e:
            self.error = e
        self.ended = time.monotonic()
        self.conn.close()


def scalar_on(conn, sql):
    with conn.cursor() as c:
        c.execute(sql)
        return c.fetchone()[0]


def progress_of(conn_id):
    rows = query("SELECT PROGRESS FROM information_schema.PROCESSLIST WHERE ID = %s",
                 (conn_id,))
    return float(rows[0][0]) if rows else None


class KillTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        set_config(batch=4, parallel=1, timeout_ms=30000, circuit_failures=0)
        query("CREATE DATABASE IF NOT EXISTS t")
        query("CREATE OR REPLACE TABLE t.kill (id INT PRIMARY KEY, body TEXT)")
        with db() as conn, conn.cursor() as c:
            c.executemany("INSERT INTO t.kill VALUES (%s, %s)",
                          [(i, "kill text %d" % i) for i in range(ROWS)])

    @classmethod
    def tearDownClass(cls):
        restore_config()

    def assert_nothing_half_written(self):
        """Every entry present is whole and right; returns how many."""
        r = rds()
        found = 0
        for i in range(ROWS):
            v = r.get(PREFIX + "kill:%d" % i)
            if v is None:
                continue
            found += 1
            self.assertEqual(v[:4], b"CEV1")
            dims = struct.unpack("<I", v[4:8])[0]
            self.assertEqual(len(v), HEADER + dims * 4)
            self.assertEqual(v[HEADER:], vector_bytes("kill text %d" % i), i)
        return found

    def kill_after(self, w, started, seconds):
        """KILL QUERY once the warm-up has run `seconds`; the time it took the
        statement to end after that."""
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        t_kill = time.monotonic()
        query("KILL QUERY %d" % w.id)
        w.join(30)
        self.assertFalse(w.is_alive(), "the warm-up did not end")
        return w.ended - t_kill

    def test_kill_query_stops_a_warm_up_at_1500_ms_provider_latency(self):
        Embed.config(latency_ms=1500)
        w = Warmup()
        started = time.monotonic()
        w.start()
        # progress: visible in the processlist while it runs
        seen = []
        while time.monotonic() < started + 3.8:
            p = progress_of(w.id)
            if p is not None:
                seen.append(p)
            time.sleep(0.05)
        self.assertTrue(any(0 < p < 100 for p in seen), seen)
        took = self.kill_after(w, started, 4.0)
        self.assertIsNotNone(w.error, "the warm-up was not interrupted: %r" % w.result)
        self.assertEqual(w.error.args[0], ER_QUERY_INTERRUPTED, w.error)
        self.assertLess(took, 2.0)
        sys.stderr.write("\n  KILL QUERY -> statement ended in %.3f s (latency 1.5 s)\n" % took)
        self.assertEqual(scalar("SELECT 1"), 1)
        # 4 rows per request, one in flight at a time: some flushed, never all
        found = self.assert_nothing_half_written()
        self.assertGreater(found, 0)
        self.assertLess(found, ROWS)
        self.assertEqual(found % 4, 0)
        self.assertIn("warm-up: statement killed", self.log.new())

    def test_kill_query_abandons_a_request_in_flight(self):
        # every request hangs 8 s: only abandoning it ends the statement soon
        Embed.faults({"kind": "hang", "ms": 8000, "count": 20})
        w = Warmup()
        started = time.monotonic()
        w.start()
        took = self.kill_after(w, started, 0.8)
        self.assertIsNotNone(w.error)
        self.assertEqual(w.error.args[0], ER_QUERY_INTERRUPTED, w.error)
        self.assertLess(took, 2.0)
        sys.stderr.write("\n  KILL QUERY -> statement ended in %.3f s (request hanging 8 s)\n"
                         % took)
        self.assertEqual(self.assert_nothing_half_written(), 0)
        self.assertIn("1 requests in flight abandoned", self.log.new())
        # the server and the provider path are fine afterwards
        Embed.reset()
        self.assertEqual(self.embed_sql("after", "after the kill"),
                         vector_bytes("after the kill"))
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('kill:', id), body) "
                                "FROM t.kill"), ROWS)
        self.assertEqual(self.assert_nothing_half_written(), ROWS)

    def test_kill_during_the_last_flush_fails_the_statement(self):
        # batch 100: the 40 rows are warmed when the result is asked for,
        # after the scan, where the server no longer looks at the KILL flag;
        # the warm-up used to return its count and the statement succeeded
        set_config(batch=100, parallel=1, timeout_ms=30000, circuit_failures=0)
        try:
            Embed.config(latency_ms=1500)
            w = Warmup()
            started = time.monotonic()
            w.start()
            took = self.kill_after(w, started, 0.6)
            self.assertIsNotNone(w.error, "the warm-up was not interrupted: %r" % w.result)
            self.assertEqual(w.error.args[0], ER_QUERY_INTERRUPTED, w.error)
            self.assertLess(took, 2.0)
            self.assertEqual(self.assert_nothing_half_written(), 0)
        finally:
            set_config(batch=4, parallel=1, timeout_ms=30000, circuit_failures=0)

    def test_kill_stops_the_procedure_that_runs_the_warm_up(self):
        set_config(batch=100, parallel=1, timeout_ms=30000, circuit_failures=0)
        query("CREATE OR REPLACE TABLE t.after_warm (n BIGINT)")
        query("CREATE OR REPLACE PROCEDURE t.warm_then_log() BEGIN "
              "SELECT cached_embed_warm(CONCAT('kill:', id), body) INTO @n FROM t.kill; "
              "INSERT INTO t.after_warm VALUES (@n); END")
        try:
            Embed.config(latency_ms=1500)
            conn = db()
            cid = scalar_on(conn, "SELECT CONNECTION_ID()")
            out = {}

            def call():
                try:
                    with conn.cursor() as c:
                        c.execute("CALL t.warm_then_log()")
                    out["ok"] = True
                except pymysql.err.MySQLError as e:
                    out["error"] = e

            th = threading.Thread(target=call, daemon=True)
            th.start()
            time.sleep(0.6)
            query("KILL QUERY %d" % cid)
            th.join(30)
            self.assertFalse(th.is_alive())
            self.assertIn("error", out, out)
            self.assertEqual(out["error"].args[0], ER_QUERY_INTERRUPTED, out["error"])
            # the statement after the warm-up never ran
            self.assertEqual(scalar("SELECT COUNT(*) FROM t.after_warm"), 0)
            conn.close()
        finally:
            query("DROP PROCEDURE IF EXISTS t.warm_then_log")
            set_config(batch=4, parallel=1, timeout_ms=30000, circuit_failures=0)

    def test_progress_ends_with_the_statement(self):
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('kill:', id), body) "
                                "FROM t.kill"), ROWS)
        conn = db()
        cid = scalar_on(conn, "SELECT CONNECTION_ID()")
        scalar_on(conn, "SELECT cached_embed_warm(CONCAT('kill:', id), body) FROM t.kill")
        self.assertEqual(progress_of(cid), 0.0)
        conn.close()


if __name__ == "__main__":
    main()
