"""Limits that hold whatever arrives from outside, and requests a real
provider accepts:

- a provider body far larger than the vectors asked for is cut off while it
  is read (mariadbd's peak memory stays below the body's size), nothing is
  cached, and the next run is fine;
- the vector helpers return NULL for BLOBs longer than any vector;
- warm-up requests stay under an estimated token budget (the local server
  enforces OpenAI's 300,000 tokens summed per request), and a request
  refused as too large is split in halves instead of failing."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, S, Embed, ServerTestCase, db, main, query,  # noqa: E402
                     rds, restore_config, scalar, set_config, vector_bytes)


def make_table(name, texts):
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, body MEDIUMTEXT)" % name,
          conn=conn)
    with conn.cursor() as c:
        c.executemany("INSERT INTO t.%s VALUES (%%s, %%s)" % name, list(enumerate(texts)))
    conn.close()


def mariadbd_pid():
    with open(os.path.join(S["CE_DIR"], "mariadb.pid")) as f:
        return int(f.read())


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_growth_mib(fn):
    """How far mariadbd's peak RSS rose above its RSS while fn() ran."""
    pid = mariadbd_pid()
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")  # VmHWM := VmRSS
    base = status_kb(pid, "VmRSS")
    out = fn()
    return (status_kb(pid, "VmHWM") - base) / 1024.0, out


WORDS = ("amber malt hops citrus pine resin caramel toffee biscuit bread crust "
         "grapefruit mango peach apricot floral herbal spicy peppery earthy "
         "roasted coffee chocolate vanilla oak smoke bitter sweet crisp dry").split()


def long_text(i, chars=9800):
    """About `chars` characters of words: ~1,650 tokens for the local server."""
    out, k = ["text %d:" % i], i
    size = len(out[0])
    while size < chars:
        w = WORDS[(k * 7 + size) % len(WORDS)]
        out.append(w)
        size += len(w) + 1
        k += 1
    return " ".join(out)


class ResponseSizeTest(ServerTestCase):

    def test_a_64_mib_body_for_a_warm_up_is_cut_off_while_reading(self):
        set_config(batch=256, parallel=1, circuit_failures=0, retries=0)
        self.addCleanup(restore_config)
        texts = ["huge body row %d" % i for i in range(256)]
        make_table("huge", texts)
        warm = ("SELECT cached_embed_warm(CONCAT('huge:', id), body) FROM t.huge")
        Embed.faults({"kind": "huge", "bytes": 64 << 20})
        grew, count = peak_growth_mib(lambda: scalar(warm))
        sys.stderr.write("\nhuge body: peak RSS +%.1f MiB\n" % grew)
        self.assertEqual(count, 0)
        self.assertEqual(rds().keys(PREFIX + "huge:*"), [])
        # far below the body: the transfer stops at the limit for 256
        # vectors of 768 values, and no JSON tree is ever built
        self.assertLess(grew, 64)
        log = self.log.new()
        self.assertIn("provider sent a bad response: larger than", log)
        self.assertIn("bytes for 256 inputs", log)
        self.assertEqual(scalar(warm), 256)

    def test_a_body_too_big_for_one_row(self):
        Embed.faults({"kind": "huge", "bytes": 1 << 20})
        self.assertIsNone(self.embed_sql("big1", "one row, one megabyte back"))
        self.assertIn("provider sent a bad response: larger than", self.log.new())
        self.assertEqual(self.embed_sql("big1", "one row, one megabyte back"),
                         vector_bytes("one row, one megabyte back"))


class VectorHelperSizeTest(ServerTestCase):

    def test_blobs_longer_than_any_vector_are_null(self):
        # 16,384 floats is the longest vector; one more is not a vector
        at_max = "REPEAT(UNHEX('0000803F'), 16384)"
        over = "REPEAT(UNHEX('0000803F'), 16385)"
        row = query("SELECT embedding_dims(%s), LENGTH(embedding_to_json(%s)), "
                    "embedding_cosine(%s, %s)" % (at_max, at_max, at_max, at_max))[0]
        self.assertEqual(row[0], 16384)
        self.assertEqual(row[1], 2 * 16384 + 1)  # "[1,1,...,1]"
        self.assertAlmostEqual(row[2], 1.0)
        row = query("SELECT embedding_dims(%s), embedding_to_json(%s), "
                    "embedding_cosine(%s, %s)" % (over, over, over, over))[0]
        self.assertEqual(row, (None, None, None))
        # a 16 MiB BLOB: NULL, and no string 4 times its size
        big = "REPEAT(UNHEX('00008080'), 4194304)"
        grew, out = peak_growth_mib(
            lambda: query("SELECT embedding_to_json(%s) IS NULL" % big)[0][0])
        sys.stderr.write("\n16 MiB BLOB to embedding_to_json: peak RSS +%.1f MiB\n" % grew)
        self.assertEqual(out, 1)


class TokenBudgetTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        # the local server refuses what OpenAI refuses
        Embed.config(max_request_tokens=300000)
        self.addCleanup(Embed.reset)
        self.addCleanup(restore_config)
        self.texts = [long_text(i) for i in range(256)]
        make_table("long", self.texts)

    def check_all_cached(self):
        before = Embed.requests()
        vecs = [r[0] for r in query(
            "SELECT cached_embed(CONCAT('long:', id), body) FROM t.long ORDER BY id")]
        self.assertEqual(Embed.requests(), before)
        for t, v in zip(self.texts, vecs):
            self.assertEqual(v, vector_bytes(t))

    def test_long_texts_stay_under_the_token_cap(self):
        # 256 texts of ~9,800 characters: ~420,000 tokens in one request
        set_config(provider="openai", batch=256, parallel=4, circuit_failures=0)
        n = scalar("SELECT cached_embed_warm(CONCAT('long:', id), body) FROM t.long")
        st = Embed.stats()
        sys.stderr.write("\nlong texts: %d requests, by status %s\n"
                         % (st["requests"], st["by_status"]))
        self.assertEqual(n, 256)
        self.assertEqual(st["errors"], 0)
        self.assertGreater(st["requests"], 1)
        self.check_all_cached()

    def test_a_request_refused_as_too_large_is_split(self):
        # a budget far over the provider's cap: the one request of 256 is
        # refused (400, max_tokens_per_request), then sent as two of 128
        set_config(provider="openai", batch=256, parallel=4, circuit_failures=0,
                   max_request_tokens=10000000)
        n = scalar("SELECT cached_embed_warm(CONCAT('long:', id), body) FROM t.long")
        st = Embed.stats()
        self.assertEqual(n, 256)
        self.assertEqual(st["by_status"], {"400": 1, "200": 2})
        log = self.log.new()
        self.assertIn("warm-up request of 256 inputs refused as too large (provider "
                      "answered 400: Requested", log)
        self.assertIn("sending it again as two of 128 and 128", log)
        self.check_all_cached()


if __name__ == "__main__":
    main()
