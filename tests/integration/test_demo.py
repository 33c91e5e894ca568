"""The demo (tests/demo.sh) end to end, non-interactive: it starts its own
MariaDB + Redis + local embedding server through tests/harness.sh in its own
temporary directory (independent of the fixture servers), runs the
notebook's query cold and warm (one statement, batched: at most
ceil(492 / 256) = 2 provider requests per description column), stores all
5,901 vectors the same way, and searches. ctest passes CE_BUILD_DIR so the
demo reuses this build instead of building again."""

import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

RUN = re.compile(r"(cold|warm) run: (\d+) rows, (\d+) vectors in ([\d.]+) s, "
                 r"(\d+) provider requests")
STORED = re.compile(r"(\d+) vectors of 768 floats stored in [\d.]+ s, (\d+) provider requests")
ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*)\|(.*)\|(.*)\|\s*(-?[\d.]+)\s*\|$")


class DemoTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CACHED_EMBED_") and k != "JINA_API_KEY"}
        cls.proc = subprocess.run(
            ["bash", os.path.join(ROOT, "tests", "demo.sh"), "--non-interactive",
             "--query", "hoppy citrus IPA"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500)
        cls.out = cls.proc.stdout
        sys.stderr.write("\n[demo output]\n" + cls.out + cls.proc.stderr)

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr[-3000:])

    def test_cold_then_warm(self):
        runs = {m.group(1): m.groups()[1:] for m in RUN.finditer(self.out)}
        self.assertEqual(set(runs), {"cold", "warm"}, self.out)
        for kind in ("cold", "warm"):
            rows, vectors, secs, _ = runs[kind]
            self.assertEqual(int(rows), 492, kind)  # id % 12 = 1
            self.assertEqual(int(vectors), 2 * 492, kind)  # long and short
            self.assertGreater(float(secs), 0, kind)
        cold = int(runs["cold"][3])
        self.assertGreater(cold, 0, "the cold run asked no provider")
        self.assertLessEqual(cold, 2 * 2, "the cold run was not batched")
        self.assertEqual(int(runs["warm"][3]), 0, "the warm run asked the provider")
        self.assertLess(self.out.index("cold run:"), self.out.index("warm run:"))

    def test_all_vectors_stored_in_one_batched_statement(self):
        m = STORED.search(self.out)
        self.assertIsNotNone(m, self.out)
        self.assertEqual(int(m.group(1)), 5901)
        self.assertGreater(int(m.group(2)), 0)
        self.assertLessEqual(int(m.group(2)), 24)  # ceil(5901 / 256)

    def test_similarity_table(self):
        rows = [ROW.match(l.strip()) for l in self.out.splitlines()]
        rows = [m for m in rows if m]
        self.assertEqual([int(m.group(1)) for m in rows], list(range(1, 11)), self.out)
        sims = [float(m.group(5)) for m in rows]
        self.assertEqual(sims, sorted(sims, reverse=True))
        top5 = [(m.group(2) + "|" + m.group(4)) for m in rows[:5]]
        self.assertTrue(any("IPA" in t or "India Pale Ale" in t for t in top5), top5)

    def test_no_colours_and_everything_stopped(self):
        self.assertNotIn("\x1b[", self.out)
        m = re.search(r"temporary directory: (\S+)", self.out)
        self.assertIsNotNone(m, self.out)
        self.assertFalse(os.path.exists(m.group(1)), "the demo left its servers running")
        self.assertIn("stopped MariaDB, Redis and the embedding server", self.out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
