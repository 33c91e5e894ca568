"""The circuit breaker and the cost guard inside the real server: a 5,000-row
statement with the provider down finishes in seconds, a spent budget makes
rows NULL with one log line, and failing rows never put their text in the
log."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, S, Embed, ServerTestCase, db, errlog, main,  # noqa: E402
                     query, rds, restore_config, set_config, vector_bytes)


def make_table(name, texts):
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, body TEXT)" % name, conn=conn)
    for i in range(0, len(texts), 1000):
        rows = [(j, texts[j]) for j in range(i, min(i + 1000, len(texts)))]
        with conn.cursor() as c:
            c.executemany("INSERT INTO t.%s VALUES (%%s, %%s)" % name, rows)
    conn.close()


def embed_all(name, prefix):
    return [r[0] for r in query(
        "SELECT cached_embed(CONCAT('%s', id), body) FROM t.%s ORDER BY id" % (prefix, name))]


def close_circuit(test, cooldown_s):
    """After the test: wait out the cool-down and let one good probe close
    the circuit, so later tests start closed."""
    Embed.reset()
    restore_config()
    time.sleep(cooldown_s)
    test.assertEqual(test.embed_sql("probe", "closing probe"), vector_bytes("closing probe"))
    test.assertEqual(query("SELECT cached_embed('probe2', 'closing probe 2')")[0][0],
                     vector_bytes("closing probe 2"))


class CircuitBreakerTest(ServerTestCase):

    def test_5000_rows_with_the_provider_down_finish_in_seconds(self):
        n = 5000
        texts = ["circuit row %d" % i for i in range(n)]
        make_table("circuit", texts)
        cooldown_ms = 3000
        set_config(circuit_failures=5, circuit_cooldown_ms=cooldown_ms)
        self.addCleanup(close_circuit, self, cooldown_ms / 1000 + 0.2)
        Embed.faults({"status": 503, "count": 100000, "message": "provider down"})
        t0 = time.monotonic()
        vecs = embed_all("circuit", "cb:")
        elapsed = time.monotonic() - t0
        requests = Embed.requests()
        nulls = sum(v is None for v in vecs)
        sys.stderr.write("\ncircuit: rows=%d null=%d provider_requests=%d time=%.2f s\n"
                         % (n, nulls, requests, elapsed))
        self.assertEqual(nulls, n)
        # loose bound: without the breaker this is 5,000 x (4 attempts + back-off)
        self.assertLess(elapsed, 60)
        # 5 failures open it; at most one probe per cool-down after that
        self.assertGreaterEqual(requests, 5)
        self.assertLessEqual(requests, 5 + int(elapsed * 1000 / cooldown_ms) + 1)
        self.assertEqual(rds().keys(PREFIX + "cb:*"), [])
        log = self.log.new()
        self.assertIn("cached_embed: circuit open after 5 consecutive provider failures; "
                      "failing fast for 3 s", log)
        self.assertIn("circuit open after 5 consecutive provider failures; retrying in", log)

        # the provider comes back: after the cool-down one probe closes it
        Embed.reset()
        time.sleep(cooldown_ms / 1000 + 0.2)
        self.assertEqual(self.embed_sql("cb:back", "back again"), vector_bytes("back again"))
        log = self.log.new()
        self.assertIn("circuit half-open", log)
        self.assertIn("circuit closed: the provider answered again", log)

    def test_a_failed_probe_opens_it_again(self):
        set_config(circuit_failures=2, circuit_cooldown_ms=1000, retries=0)
        self.addCleanup(close_circuit, self, 1.2)
        Embed.faults({"status": 401, "count": 3, "message": "invalid api key"})
        self.assertIsNone(self.embed_sql("p1", "probe text 1"))
        self.assertIsNone(self.embed_sql("p2", "probe text 2"))
        self.assertIsNone(self.embed_sql("p3", "probe text 3"))  # fails fast
        self.assertEqual(Embed.requests(), 2)
        time.sleep(1.2)
        self.assertIsNone(self.embed_sql("p4", "probe text 4"))  # the probe: 401
        self.assertEqual(Embed.requests(), 3)
        self.assertIsNone(self.embed_sql("p5", "probe text 5"))  # open again
        self.assertEqual(Embed.requests(), 3)
        self.assertIn("circuit open again: the probe request failed", self.log.new())


class CostGuardTest(ServerTestCase):

    def test_requests_per_minute_budget_makes_rows_null_with_one_line(self):
        set_config(max_requests_per_minute=3, retries=0)
        self.addCleanup(restore_config)
        texts = ["budget text %d" % i for i in range(8)]
        got = [self.embed_sql("b%d" % i, t) for i, t in enumerate(texts)]
        self.assertEqual(Embed.requests(), 3)
        ok = [g for g in got if g is not None]
        self.assertEqual(len(ok), 3)
        for t, g in zip(texts, got):
            if g is not None:
                self.assertEqual(g, vector_bytes(t))
        log = self.log.new()
        self.assertEqual(log.count("cost guard: max_requests_per_minute 3 reached; rows are NULL"), 1,
                         log)
        # cached rows are still served: the budget only limits provider calls
        self.assertEqual(self.embed_sql("b0", texts[0]), got[0])

    def test_wait_mode_gives_up_within_timeout(self):
        set_config(max_tokens_per_minute=10, cost_guard_mode="wait", timeout_ms=1000,
                   retries=0)
        self.addCleanup(restore_config)
        long_text = "word " * 40  # about 50 estimated tokens: over the budget
        self.assertEqual(self.embed_sql("w1", long_text), vector_bytes(long_text))
        t0 = time.monotonic()
        self.assertIsNone(self.embed_sql("w2", "another text"))
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("cost guard: max_tokens_per_minute 10 reached", self.log.new())


class SecurityTest(ServerTestCase):

    def test_failing_rows_log_the_key_never_the_text(self):
        secret_text = "Zebra-Quartz-7741 confidential row text"
        Embed.faults({"status": 400, "message": "bad input"})
        self.assertIsNone(self.embed_sql("sec:row-42", secret_text))
        log = self.log.new()
        self.assertIn("row key 'cached_embed:%ssec:row-42'" % PREFIX[len("cached_embed:"):], log)
        self.assertNotIn("Zebra-Quartz-7741", errlog())
        self.assertNotIn(S["CE_API_KEY"], errlog())

    def test_a_key_echoed_by_the_provider_is_redacted(self):
        # a gateway that echoes the Authorization header in its error body
        Embed.faults({"status": 401, "echo_auth": True, "message": "rejected"})
        self.assertIsNone(self.embed_sql("sec:echo", "text"))
        log = self.log.new()
        self.assertIn("provider answered 401: rejected (Authorization: Bearer [redacted])", log)
        self.assertNotIn(S["CE_API_KEY"], log)
        self.assertNotIn(S["CE_API_KEY"][:12], log)


if __name__ == "__main__":
    main()
