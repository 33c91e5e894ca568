"""Never pay twice, even at the same moment (issue 10): concurrent misses of
one entry make one provider input — sessions of one server (single-flight
in the server), two servers on one Redis (the per-entry Redis lock), row
calls and a warm-up at once — and concurrent misses of different texts
share requests. A leader whose request hangs lets its waiters go within
their bound (they fail fast with its error); a lock whose holder died
costs at most its lifetime; Redis down still gives the right vectors.

On the code before issue 10 the counting tests fail: 16 sessions paid 640
inputs for 40 texts, two servers 640, and 192 rows made 192 requests."""

import hashlib
import json
import os
import struct
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (MODEL, PREFIX, ROOT, Embed, ErrlogMark,  # noqa: E402
                     ServerTestCase, db, main, query, rds, restore_config,
                     scalar, set_config, vector_bytes)
from extra_servers import MariaDB, stop_all  # noqa: E402


def fresh(tag, n):
    run = uuid.uuid4().hex[:8]
    return ["%s %d of run %s, a hazy pale ale with citrus" % (tag, i, run)
            for i in range(n)]


def table(name, rows, run=None):
    run = run or query
    run("CREATE DATABASE IF NOT EXISTS t")
    run("CREATE OR REPLACE TABLE t.%s (sess INT, id INT, body TEXT, "
        "PRIMARY KEY (sess, id))" % name)
    run("INSERT INTO t.%s VALUES " % name + ",".join(["(%s, %s, %s)"] * len(rows)),
        [v for r in rows for v in r])


def at_once(connects, sql_of):
    """One statement per session, all released together; returns each
    session's rows (or the exception it raised)."""
    conns = [c() for c in connects]
    barrier = threading.Barrier(len(conns))
    out = [None] * len(conns)

    def run(i):
        barrier.wait()
        try:
            with conns[i].cursor() as c:
                c.execute(sql_of(i))
                out[i] = c.fetchall()
        except Exception as e:  # noqa: BLE001  (reported by the test)
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    return out


def lock_key(text):
    """<prefix>v2:lock:<identity hex>, the identity being SHA-256 of
    "<model>:" and the SHA-256 of the text (udf/cache_key.c)."""
    ident = hashlib.sha256(MODEL.encode() + b":" +
                           hashlib.sha256(text.encode()).digest()).hexdigest()
    return "cached_embed:v2:lock:" + ident


def entry(text):
    """The value the plugin stores for `text` (udf/cache_entry.h)."""
    vec = vector_bytes(text)
    return b"CEV1" + struct.pack("<I", len(vec) // 4) + \
        hashlib.sha256(text.encode()).digest() + vec


class SingleFlightTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        Embed.config(record_texts=True)

    def paid(self, texts):
        """{text: times the provider embedded it} since setUp, for `texts`."""
        got = Embed.stats()["texts"]
        return {t: got.get(t, 0) for t in texts}

    def assert_vectors(self, out, text_of):
        for s, rows in enumerate(out):
            self.assertIsInstance(rows, tuple, "session %d: %r" % (s, rows))
            for rid, vec in rows:
                self.assertIsNotNone(vec, "session %d row %d is NULL" % (s, rid))
                self.assertEqual(vec, vector_bytes(text_of(s, rid)),
                                 "session %d row %d: wrong vector" % (s, rid))

    def test_16_sessions_same_texts_pay_once(self):
        texts = fresh("single-flight text", 40)
        table("sf_same", [(0, i, t) for i, t in enumerate(texts)])
        Embed.config(latency_ms=200, record_texts=True)
        # sessions 0-7 share keys, 8-15 have their own: one entry identity,
        # several Redis keys
        out = at_once([db] * 16, lambda s: (
            "SELECT id, cached_embed(CONCAT('%s', id), body) FROM t.sf_same "
            "ORDER BY id" % ("sf:" if s < 8 else "sf%d:" % s)))
        self.assert_vectors(out, lambda s, rid: texts[rid])
        self.assertEqual(Embed.stats()["inputs"], 40)
        self.assertEqual(self.paid(texts), dict.fromkeys(texts, 1))
        # every session's key holds the entry (waiters stored theirs)
        r = rds()
        for s in range(8, 16):
            for i in (0, 39):
                self.assertEqual(r.get(PREFIX + "sf%d:%d" % (s, i)), entry(texts[i]))

    def test_two_servers_on_one_redis_pay_once(self):
        texts = fresh("two-server text", 40)
        rows = [(0, i, t) for i, t in enumerate(texts)]
        other = MariaDB("single-flight")
        try:
            other.run_file(os.path.join(ROOT, "sql", "install.sql"))
            table("sf_two", rows)
            table("sf_two", rows, run=other.query)
            Embed.config(latency_ms=200, record_texts=True)
            out = at_once([db] * 8 + [other.connect] * 8, lambda s: (
                "SELECT id, cached_embed(CONCAT('sf2:', id), body) FROM t.sf_two "
                "ORDER BY id"))
        finally:
            stop_all()
        self.assert_vectors(out, lambda s, rid: texts[rid])
        self.assertEqual(Embed.stats()["inputs"], 40)
        self.assertEqual(self.paid(texts), dict.fromkeys(texts, 1))

    def test_distinct_texts_share_requests(self):
        def run(tag):
            texts = {(s, i): "%s %d of session %d, run %s" % (tag, i, s, uuid.uuid4().hex)
                     for s in range(16) for i in range(12)}
            table("sf_dist", [(s, i, t) for (s, i), t in sorted(texts.items())])
            Embed.reset()
            Embed.config(latency_ms=100)
            before = scalar("SELECT JSON_VALUE(cached_embed_stats(), '$.shared_requests')")
            out = at_once([db] * 16, lambda s: (
                "SELECT id, cached_embed(CONCAT('sfd:', sess, ':', id), body) "
                "FROM t.sf_dist WHERE sess = %d ORDER BY id" % s))
            self.assert_vectors(out, lambda s, rid: texts[(s, rid)])
            st = Embed.stats()
            self.assertEqual(st["inputs"], 192)
            after = scalar("SELECT JSON_VALUE(cached_embed_stats(), '$.shared_requests')")
            return st["requests"], int(after) - int(before)

        requests, shared = run("shared request text")
        self.assertLessEqual(requests, 48)
        self.assertGreater(shared, 0)
        try:
            set_config(share_requests="off")
            requests, shared = run("unshared request text")
        finally:
            restore_config()
        self.assertEqual(requests, 192)
        self.assertEqual(shared, 0)

    def test_a_shared_request_failing_lets_its_rows_go_alone(self):
        """A shared request still failing after its retries (503) is no
        verdict on its rows: each goes alone, and none is NULL."""
        texts = {(s, i): "blip text %d of session %d, run %s" % (i, s, uuid.uuid4().hex)
                 for s in range(8) for i in range(2)}
        table("sf_blip", [(s, i, t) for (s, i), t in sorted(texts.items())])
        Embed.config(latency_ms=300)
        before = json.loads(scalar("SELECT cached_embed_stats()"))

        def blip():  # once the first (lone) request is in flight
            deadline = time.monotonic() + 10
            while Embed.requests() < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            Embed.faults({"status": 503, "count": 4, "message": "blip"})

        t = threading.Thread(target=blip)
        t.start()
        out = at_once([db] * 8, lambda s: (
            "SELECT id, cached_embed(CONCAT('sfb:', sess, ':', id), body) "
            "FROM t.sf_blip WHERE sess = %d ORDER BY id" % s))
        t.join()
        self.assert_vectors(out, lambda s, rid: texts[(s, rid)])
        after = json.loads(scalar("SELECT cached_embed_stats()"))
        self.assertEqual(Embed.stats()["by_status"].get("503"), 4)
        self.assertGreaterEqual(after["provider_errors"] - before["provider_errors"], 1)
        self.assertGreaterEqual(after["shared_requests"] - before["shared_requests"], 1)

    def test_leader_hang_waiters_fail_fast_with_its_error(self):
        text = fresh("hanging leader text", 1)[0]
        t0 = time.monotonic()
        try:
            set_config(timeout_ms=1000, circuit_failures=0)
            Embed.faults({"kind": "hang", "ms": 4000})
            mark = ErrlogMark()
            t0 = time.monotonic()
            out = at_once([db] * 8, lambda s: (
                "SELECT 0, cached_embed('sfh:%d', '%s')" % (s, text)))
            took = time.monotonic() - t0
            # one request: the leader's; its 7 waiters did not send their own
            self.assertEqual(Embed.requests(), 1)
            self.assertEqual([rows[0][1] for rows in out], [None] * 8)
            # liveness, not speed: without the bound they would wait forever
            self.assertLess(took, 30)
            log = mark.new()
            self.assertIn("no time left to retry in 1000 ms", log)
            # the entry is not stuck: the next call pays and gets its vector
            self.assertEqual(self.embed_sql("sfh:x", text), vector_bytes(text))
            self.assertEqual(Embed.requests(), 2)
        finally:
            restore_config()
            # the hung request ends (answered to nobody) before the next test
            time.sleep(max(0.0, t0 + 4.5 - time.monotonic()))

    def test_dead_lock_holder_costs_at_most_its_lock(self):
        """Another server took the lock and died: the row waits for the lock
        to expire, then takes it and pays, once."""
        text = fresh("dead holder text", 1)[0]
        r = rds()
        r.set(lock_key(text), b"o:a-server-that-died", px=1500)
        self.assertEqual(self.embed_sql("sfdead:1", text), vector_bytes(text))
        self.assertEqual(Embed.requests(), 1)
        # the lock is now this row's "done" note, for the rest of its life
        self.assertEqual(r.get(lock_key(text)), ("d:" + PREFIX + "sfdead:1").encode())
        self.assertGreater(r.pttl(lock_key(text)), 0)

    def test_dead_lock_holder_warm_up_pays_after_its_lock(self):
        """The warm-up's texts: two locked by a server that died. It waits
        for those locks to expire, then pays for them itself (once), so
        every row it counts is in Redis (it used to count 3 of 5)."""
        texts = fresh("dead holder warm text", 5)
        table("sf_dead_warm", [(0, i, t) for i, t in enumerate(texts, 1)])
        r = rds()
        for t in texts[:2]:
            r.set(lock_key(t), b"o:a-server-that-died", px=1500)
        got = scalar("SELECT cached_embed_warm(CONCAT('sfdw:', id), body) "
                     "FROM t.sf_dead_warm")
        self.assertEqual(got, 5)
        self.assertEqual(self.paid(texts), {t: 1 for t in texts})
        for i, t in enumerate(texts, 1):
            self.assertEqual(r.get(PREFIX + "sfdw:%d" % i), entry(t))

    def test_lock_holder_elsewhere_its_entry_is_read(self):
        """Another server holds the lock and stores the entry under its own
        key: the row waits, reads it through the note, stores it under its
        key, and the provider is never asked."""
        text = fresh("remote holder text", 1)[0]
        r = rds()
        r.set(lock_key(text), b"o:another-server", px=10000)

        def other_server():
            time.sleep(0.3)
            r.set(PREFIX + "elsewhere:1", entry(text))
            r.set(lock_key(text), ("d:" + PREFIX + "elsewhere:1").encode(), px=2000)

        t = threading.Thread(target=other_server)
        t.start()
        got = self.embed_sql("sfremote:1", text)
        t.join()
        self.assertEqual(got, vector_bytes(text))
        self.assertEqual(Embed.requests(), 0)
        self.assertEqual(r.get(PREFIX + "sfremote:1"), entry(text))
        waited = scalar("SELECT JSON_VALUE(cached_embed_stats(), '$.waited')")
        self.assertGreater(int(waited), 0)

    def test_redis_down_still_right_vectors(self):
        texts = fresh("redis down text", 20)
        table("sf_down", [(0, i, t) for i, t in enumerate(texts)])
        try:
            set_config(redis="redis://127.0.0.1:9/0")  # nothing listens there
            Embed.config(latency_ms=100, record_texts=True)
            out = at_once([db] * 8, lambda s: (
                "SELECT id, cached_embed(CONCAT('sfdown:', id), body) FROM t.sf_down "
                "ORDER BY id"))
        finally:
            restore_config()
        self.assert_vectors(out, lambda s, rid: texts[rid])
        self.assertNotIn(0, self.paid(texts).values())

    def test_warm_up_and_rows_at_once_pay_once(self):
        texts = fresh("warm and rows text", 40)
        table("sf_mix", [(0, i, t) for i, t in enumerate(texts)])
        Embed.config(latency_ms=200, record_texts=True)
        # the rows read what the first warm-up writes (the backfill pattern);
        # the second warm-up has keys of its own: one identity, two keys
        warm = "SELECT 0, cached_embed_warm(CONCAT('sfw%d:', id), body) FROM t.sf_mix"
        rows = ("SELECT id, cached_embed(CONCAT('sfw0:', id), body) FROM t.sf_mix "
                "ORDER BY id")
        out = at_once([db] * 10, lambda s: warm % s if s < 2 else rows)
        self.assertEqual([o[0][1] for o in out[:2]], [40, 40])
        self.assert_vectors(out[2:], lambda s, rid: texts[rid])
        self.assertEqual(self.paid(texts), dict.fromkeys(texts, 1))
        r = rds()
        for w in range(2):
            self.assertEqual(r.get(PREFIX + "sfw%d:7" % w), entry(texts[7]))


if __name__ == "__main__":
    main()
