"""The SQL examples in sql/examples/ run as written against the Open Beer DB
(loaded with sql/beer/load.sh into the fixture server): the notebook's join
returns the provider's vector for every beer, the backfill stores them, the
similarity search ranks IPAs first for an IPA query."""

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
        # the notebook's join: a vector for every beer, the provider's own
        conn = db(database=DB)
        rows = query(example("notebook_join.sql"), conn=conn)
        texts = dict(query("SELECT id, descr_long FROM descriptions", conn=conn))
        conn.close()
        self.assertEqual(len(rows), 5901)
        # one request a text: beers sharing a description pay once (the
        # later key reads the entry the first paid for: single-flight's note)
        distinct = len(set(texts.values()))
        self.assertEqual(Embed.requests(), distinct)
        for id_, _short, vec in rows[::500]:
            self.assertEqual(vec, vector_bytes(texts[id_]))

        # the backfill: the warm-up finds everything cached, the INSERT too
        out = run_sql(example("backfill.sql"))
        self.assertEqual(out[1], ["5901"])  # warmed
        self.assertEqual(out[-1], ["5901", "5901", "768"])
        self.assertEqual(Embed.requests(), distinct, "the backfill asked the provider again")

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
