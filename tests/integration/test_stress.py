"""Concurrency stress: 16 sessions at once for a bounded time, each its own
connection, with cache hits, misses, the same keys in several sessions, NULL
and blank texts, and provider failures injected meanwhile. Every returned
vector must be the one for its text, and the counts must add up."""

import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (Embed, ServerTestCase, db, main, query,  # noqa: E402
                     restore_config, set_config, vector_bytes)

import pymysql  # noqa: E402

SESSIONS = 16
SECONDS = float(os.environ.get("CE_STRESS_SECONDS", "20"))
PER_QUERY = 8


def plugin_stats():
    """cached_embed_stats() as a dict, or None where it does not exist."""
    try:
        return json.loads(query("SELECT cached_embed_stats()")[0][0])
    except pymysql.MySQLError:
        return None


class StressTest(ServerTestCase):

    def test_16_sessions_mixed_load(self):
        # failures on purpose: keep the circuit breaker out of the way
        set_config(circuit_failures=0, retries=1)
        self.addCleanup(restore_config)
        pool = ["stress text number %d about hops and malt" % i for i in range(400)]
        expected = {t: vector_bytes(t) for t in pool}
        specials = [None, "", "   ", "\t\n"]
        stats_before = plugin_stats()
        stop_at = time.monotonic() + SECONDS
        lock = threading.Lock()
        totals = {"rows": 0, "null": 0, "wrong": 0, "ok": 0, "blank": 0, "errors": []}
        returned = set()

        def session(seed):
            rnd = random.Random(seed)
            conn = db()
            rows = nulls = wrong = ok = blank = 0
            seen = set()
            fresh = [0]
            expected_local = dict(expected)
            try:
                while time.monotonic() < stop_at:
                    args, want = [], []
                    for _ in range(PER_QUERY):
                        r = rnd.random()
                        if r < 0.1:
                            t = rnd.choice(specials)
                            key = "st:special"
                        elif r < 0.15:  # never seen before: a miss
                            fresh[0] += 1
                            t = "fresh text %d of session %d" % (fresh[0], seed)
                            key = "st:f%d:%d" % (seed, fresh[0])
                            expected_local[t] = vector_bytes(t)
                        else:
                            # a hot set shared by every session, and a long tail
                            i = rnd.randrange(40) if rnd.random() < 0.5 else rnd.randrange(len(pool))
                            t = pool[i]
                            key = "st:%d" % i
                        args += [key, t]
                        want.append(t)
                    sql = "SELECT " + ", ".join(["cached_embed(%s, %s)"] * PER_QUERY)
                    with conn.cursor() as c:
                        c.execute(sql, args)
                        got = c.fetchone()
                    for t, v in zip(want, got):
                        rows += 1
                        if t is None or not t.strip():
                            blank += 1
                            if v is not None:
                                wrong += 1
                        elif v is None:
                            nulls += 1
                        elif v != expected_local[t]:
                            wrong += 1
                        else:
                            ok += 1
                            seen.add(t)
            except Exception as e:  # noqa: BLE001
                with lock:
                    totals["errors"].append(repr(e))
            finally:
                conn.close()
            with lock:
                for k, v in (("rows", rows), ("null", nulls), ("wrong", wrong),
                             ("ok", ok), ("blank", blank)):
                    totals[k] += v
                returned.update(seen)

        def injector():
            rnd = random.Random(99)
            while time.monotonic() < stop_at - 0.5:
                time.sleep(0.3)
                Embed.faults(rnd.choice([{"status": 503, "count": 3},
                                         {"status": 429, "retry_after": "0", "count": 2},
                                         {"kind": "malformed"}, {"kind": "nan"},
                                         {"kind": "close"}]))

        threads = [threading.Thread(target=session, args=(s,)) for s in range(SESSIONS)]
        threads.append(threading.Thread(target=injector))
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join(SECONDS + 120)
        elapsed = time.monotonic() - t0
        self.assertFalse(any(th.is_alive() for th in threads), "a session hung")
        self.assertEqual(totals["errors"], [])
        es = Embed.stats()
        sys.stderr.write(
            "\nstress: sessions=%d rows=%d rows/s=%.0f ok=%d null(failed)=%d "
            "null/blank texts=%d wrong=%d provider_requests=%d provider_errors=%d time=%.1fs\n"
            % (SESSIONS, totals["rows"], totals["rows"] / elapsed, totals["ok"], totals["null"],
               totals["blank"], totals["wrong"], es["requests"], es["errors"], elapsed))
        self.assertEqual(totals["wrong"], 0)
        self.assertGreater(totals["ok"], 0)
        self.assertEqual(totals["rows"], totals["ok"] + totals["null"] + totals["blank"])
        # Redis was empty: every distinct text returned came from the provider
        # at least once, and the provider never embedded more inputs than
        # rows were asked (a hit never reaches it).
        self.assertLessEqual(len(returned), es["inputs"])
        self.assertLessEqual(es["inputs"], totals["rows"] - totals["blank"])
        self.assertGreater(es["errors"], 0, "no failure was injected")
        stats_after = plugin_stats()
        if stats_before is not None and stats_after is not None:
            d = {k: stats_after.get(k, 0) - stats_before.get(k, 0) for k in stats_after
                 if isinstance(stats_after.get(k), int)}
            asked = (d.get("hits_local", 0) + d.get("hits_redis", 0) + d.get("misses", 0)
                     + d.get("null_texts", 0) + d.get("empty_texts", 0))
            self.assertEqual(asked, totals["rows"])
            self.assertEqual(d.get("null_texts", 0) + d.get("empty_texts", 0), totals["blank"])


if __name__ == "__main__":
    main()
