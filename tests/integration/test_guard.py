"""The circuit breaker and the cost guard inside the real server: a 5,000-row
statement with the provider down finishes in seconds, a blip that retries
absorb never opens the circuit, rows succeed again soon after an outage and
rows arriving while probes decide wait for the verdict; a spent budget makes
rows NULL with one log line, failing rows are logged by kind (not one line
each), and never put their text in the log."""

import json
import os
import sys
import threading
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


def plugin_stats():
    return json.loads(query("SELECT cached_embed_stats()")[0][0])


def wait_for_rows_again(test, limit_s=15):
    """After the test: the provider is back; rows succeed again once the
    circuit has let a probe through (a bounded wait). Returns the seconds it
    took."""
    Embed.reset()
    restore_config()
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < limit_s:
        text = "coming back %d %f" % (i, t0)
        if query("SELECT cached_embed(NULL, %s)", (text,))[0][0] == vector_bytes(text):
            return time.monotonic() - t0
        i += 1
        time.sleep(0.1)
    test.fail("rows did not succeed again within %d s of the provider's return" % limit_s)


def sessions(n, seconds, tag, during=None):
    """n sessions embed fresh texts, one row per statement, for `seconds`;
    `during` runs meanwhile. Returns (rows, NULL rows)."""
    totals = {"rows": 0, "null": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(k):
        conn = db()
        rows = nulls = 0
        while time.monotonic() < stop:
            text = "%s %d %d about hops and malt" % (tag, k, rows)
            v = query("SELECT cached_embed(NULL, %s)", (text,), conn=conn)[0][0]
            nulls += v is None
            if v is not None and v != vector_bytes(text):
                raise AssertionError("wrong vector")
            rows += 1
        conn.close()
        with lock:
            totals["rows"] += rows
            totals["null"] += nulls

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    if during:
        during()
    for t in threads:
        t.join()
    return totals["rows"], totals["null"]


class CircuitBreakerTest(ServerTestCase):

    def test_5000_rows_with_the_provider_down_finish_in_seconds(self):
        n = 5000
        texts = ["circuit row %d" % i for i in range(n)]
        make_table("circuit", texts)
        self.addCleanup(wait_for_rows_again, self)
        Embed.faults({"status": 503, "count": 100000, "message": "provider down"})
        t0 = time.monotonic()
        vecs = embed_all("circuit", "cb:")
        elapsed = time.monotonic() - t0
        attempts = Embed.requests()
        nulls = sum(v is None for v in vecs)
        sys.stderr.write("\ncircuit: rows=%d null=%d provider_requests=%d time=%.2f s\n"
                         % (n, nulls, attempts, elapsed))
        self.assertEqual(nulls, n)
        # loose bound: without the breaker this is 5,000 x (4 attempts + back-off)
        self.assertLess(elapsed, 60)
        # 3 requests of 1 + 3 retries open it; after that a few probes per
        # open period (1 s, then 2 s)
        self.assertGreaterEqual(attempts, 3 * 4)
        self.assertLessEqual(attempts, 3 * 4 + 3 * (int(elapsed) + 1))
        self.assertEqual(rds().keys(PREFIX + "cb:*"), [])
        log = self.log.new()
        self.assertIn("cached_embed: circuit open: 3 failed provider requests in a row; "
                      "failing fast for 1000 ms", log)
        self.assertIn("circuit open after 3 failed provider requests in a row; probing "
                      "the provider again in", log)

        # the provider comes back: rows succeed again soon
        wait_for_rows_again(self)
        log = self.log.new()
        self.assertIn("circuit half-open", log)
        self.assertIn("circuit closed: the provider answered again", log)

    def test_a_blip_absorbed_by_retries_never_opens_it(self):
        # 16 sessions with a slow provider (all in flight at once); 15 of
        # them are answered 500 together, then it recovers. Each request
        # counts once, by its outcome after retries: nothing fails, the
        # circuit stays closed, no row is NULL but a request's own failure.
        # One request a row (share_requests off): the count of failed
        # requests is the count of NULL rows.
        set_config(share_requests="off")
        self.addCleanup(restore_config)
        Embed.config(latency_ms=50)
        self.addCleanup(Embed.reset)
        before = plugin_stats()

        def blip():
            time.sleep(1.0)
            Embed.faults({"status": 500, "count": 15, "message": "blip"})

        rows, nulls = sessions(16, 4, "blip", during=blip)
        after = plugin_stats()
        failed = after["provider_errors"] - before["provider_errors"]
        sys.stderr.write("\nblip: rows=%d null=%d failed_requests=%d http_500=%d\n"
                         % (rows, nulls, failed, Embed.stats()["by_status"].get("500", 0)))
        self.assertEqual(Embed.stats()["by_status"].get("500"), 15)
        self.assertEqual(after["guard_rejects"] - before["guard_rejects"], 0)
        self.assertEqual(nulls, failed)
        self.assertEqual(after["circuit"], "closed")
        self.assertNotIn("circuit open", self.log.new())

    def test_rows_succeed_again_soon_after_an_outage(self):
        self.addCleanup(Embed.reset)
        Embed.faults({"status": 503, "count": 100000, "message": "outage"})

        def until_open():
            for _ in range(100):
                if plugin_stats()["circuit"] == "open":
                    return
                time.sleep(0.1)

        sessions(4, 3, "outage", during=until_open)
        self.assertEqual(plugin_stats()["circuit"], "open")
        took = wait_for_rows_again(self, limit_s=10)
        sys.stderr.write("\noutage over: rows succeed again after %.2f s\n" % took)

    def test_rows_arriving_while_probes_decide_wait_for_the_verdict(self):
        set_config(circuit_failures=2, retries=0, circuit_cooldown_ms=1000)
        self.addCleanup(wait_for_rows_again, self)
        Embed.faults({"status": 503, "count": 2, "message": "down"})
        self.assertIsNone(self.embed_sql("w1", "wait text 1"))
        self.assertIsNone(self.embed_sql("w2", "wait text 2"))
        self.assertEqual(plugin_stats()["circuit"], "open")
        # back, but slow: the probes take 600 ms; 8 rows arrive together
        Embed.config(latency_ms=600)
        time.sleep(1.2)
        got = {}

        def row(k):
            text = "arrives during the probe %d" % k
            got[k] = (query("SELECT cached_embed(NULL, %s)", (text,))[0][0], text)

        threads = [threading.Thread(target=row, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k, (vec, text) in got.items():
            self.assertEqual(vec, vector_bytes(text), "row %d" % k)
        log = self.log.new()
        self.assertIn("circuit half-open", log)
        self.assertIn("circuit closed: the provider answered again", log)

    def test_a_failed_probe_opens_it_again(self):
        set_config(circuit_failures=2, circuit_cooldown_ms=1000, retries=0)
        self.addCleanup(wait_for_rows_again, self)
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
        log = self.log.new()
        self.assertIn("circuit open again: a probe request failed; failing fast for "
                      "1000 ms", log)


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

    def test_failing_rows_are_logged_by_kind_not_by_text(self):
        # Every refused row's message carries changing numbers ("the budget
        # returns in 59873 ms"); the log limits them as one kind of message:
        # at most the burst (5 a minute), not one line a row.
        set_config(max_requests_per_minute=1, cost_guard_mode="wait", timeout_ms=100,
                   retries=0)
        self.addCleanup(restore_config)
        n = 300
        make_table("loglimit", ["log limit row %d" % i for i in range(n)])
        before = plugin_stats()
        vecs = embed_all("loglimit", "ll:")
        failed = plugin_stats()["rows_failed"] - before["rows_failed"]
        self.assertEqual(sum(v is None for v in vecs), n - 1)
        self.assertEqual(failed, n - 1)
        log = self.log.new()
        lines = [l for l in log.splitlines() if "returning NULL" in l]
        sys.stderr.write("\nlog limiting: %d failed rows, %d log lines\n" % (failed, len(lines)))
        self.assertLessEqual(len(lines), 5, log[:2000])
        for l in lines:
            self.assertIn("cost guard: max_requests_per_minute 1 reached", l)


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
