"""The SQL examples in sql/examples/ run as written against the Open Beer DB
(loaded with sql/beer/load.sh into the fixture server): the notebook's query
returns the provider's vectors for both descriptions in one batched
statement, the backfill stores every beer's vector in one batched statement,
the similarity search ranks IPAs first for an IPA query."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import ROOT, S, Embed, ServerTestCase, db, main, query, vector_bytes  # noqa: E402

EXAMPLES = os.path.join(ROOT, "sql", "examples")
DB = "openbeer_examples"


def run_sql(text):
    r = subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + S["CE_SOCKET"],
                        "--batch", DB], input=text.encode(), capture_output=True, timeout=600)
    if r.returncode != 0:
        raise AssertionError(r.stderr.decode())
    return [l.split("\t") for l in r.stdout.decode(errors="replace").splitlines()]


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


class ExamplesTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        subprocess.run(["bash", os.path.join(ROOT, "sql", "beer", "load.sh"), DB,
                        "--socket=" + S["CE_SOCKET"], "-uroot"], check=True, timeout=300)

    def test_notebook_join_backfill_and_search(self):
        # the notebook's query: every 12th beer, both descriptions, the
        # descriptions view's texts, the provider's own vectors, in
        # ceil(492 / 256) = 2 requests per description
        conn = db(database=DB)
        rows = query(example("notebook_join.sql"), conn=conn)
        texts = {r[0]: r[1:] for r in query(
            "SELECT id, descr_long, descr_short FROM descriptions WHERE id % 12 = 1",
            conn=conn)}
        conn.close()
        self.assertEqual(len(rows), 492)
        self.assertLessEqual(Embed.requests(), 4)
        for id_, long_, short, vec_long, vec_short in rows:
            self.assertEqual((long_, short), texts[id_])
        for id_, long_, short, vec_long, vec_short in rows[::50]:
            self.assertEqual(vec_long, vector_bytes(long_))
            self.assertEqual(vec_short, vector_bytes(short))

        # the backfill: other keys ('beer:<id>:long'), so cold again: one
        # statement, ceil(5901 / 256) = 24 requests
        before = Embed.requests()
        out = run_sql(example("backfill.sql"))
        self.assertEqual(out[-1], ["5901", "5901", "768"])
        self.assertLessEqual(Embed.requests() - before, 24)
        # run again: everything cached, nothing asked
        before = Embed.requests()
        out = run_sql(example("backfill.sql"))
        self.assertEqual(out[-1], ["5901", "5901", "768"])
        self.assertEqual(Embed.requests(), before, "the backfill asked the provider again")

        # the similarity search over the stored vectors
        out = run_sql(example("similar.sql"))
        header, top = out[0], out[1:]
        self.assertEqual(header, ["id", "name", "brewery", "style", "similarity"])
        self.assertEqual(len(top), 10)
        sims = [float(r[4]) for r in top]
        self.assertEqual(sims, sorted(sims, reverse=True))
        self.assertTrue(all("IPA" in r[1] or "India Pale Ale" in r[3] for r in top[:3]), top)


if __name__ == "__main__":
    main()
