"""Redis Cluster (issue 11): `redis-cluster://seed,seed`. Three masters and
three replicas made by `redis-cli --cluster create`. A warm-up of the 5,901
beers spreads over every master (pipelined per node) and reading back asks
the provider nothing; a master SIGKILLed in the middle of statements: no
crash, every row right (from the provider while its slots are down), and
after the fail-over every row right again and read from the cluster."""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, ROOT, S, Embed, ServerTestCase, main,  # noqa: E402
                     query, restore_config, scalar, set_config, vector_bytes)
from extra_servers import RedisCluster, stop_all  # noqa: E402

DB = "openbeer_cluster"
KEY = "CONCAT('beer:', id, ':long')"


def read_back():
    return query("SELECT id, cached_embed(%s, descr_long) FROM %s.descriptions ORDER BY id"
                 % (KEY, DB))


class ClusterTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        subprocess.run(["bash", os.path.join(ROOT, "sql", "beer", "load.sh"), DB,
                        "--socket=" + S["CE_SOCKET"], "-uroot"], check=True,
                       capture_output=True, timeout=300)
        rows = query("SELECT id, descr_long FROM %s.descriptions ORDER BY id" % DB)
        cls.expected = {i: vector_bytes(t) for i, t in rows}

    @classmethod
    def tearDownClass(cls):
        query("DROP DATABASE IF EXISTS %s" % DB)

    def setUp(self):
        super().setUp()
        self.cluster = RedisCluster()
        set_config(redis=self.cluster.url())

    def tearDown(self):
        restore_config()
        stop_all()
        super().tearDown()

    def check_rows(self, rows):
        self.assertEqual(len(rows), len(self.expected))
        wrong = [i for i, v in rows if v != self.expected[i]]
        self.assertEqual(wrong, [], "rows wrong or NULL")

    def warm(self):
        n = scalar("SELECT cached_embed_warm(%s, descr_long) FROM %s.descriptions" % (KEY, DB))
        self.assertEqual(n, len(self.expected))

    def test_warm_up_spreads_over_every_master_and_reads_back_free(self):
        self.warm()
        masters = self.cluster.masters()
        self.assertEqual(len(masters), 3)
        sizes = [m.client().dbsize() for m in masters]
        self.assertTrue(all(s > 1000 for s in sizes), sizes)
        self.assertEqual(sum(sizes), len(self.expected))
        requests = Embed.requests()
        self.assertLessEqual(requests, 30, "the warm-up is batched")
        Embed.reset()
        self.check_rows(read_back())
        self.warm()
        self.assertEqual(Embed.requests(), 0, "reading back paid the provider")
        # one key lives on exactly one master: the owner of its slot
        key = PREFIX + "beer:%d:long" % min(self.expected)
        slot = masters[0].client().execute_command("CLUSTER", "KEYSLOT", key)
        self.assertEqual(sum(m.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
                             for m in masters), 1)

    def test_master_killed_mid_way(self):
        self.warm()
        for m in self.cluster.masters():  # the replicas have every entry
            m.client().execute_command("WAIT", 1, 5000)
        results, errors = [], []
        stop = threading.Event()

        def statements():
            while not stop.is_set():
                try:
                    results.append(read_back())
                except Exception as e:  # noqa: BLE001
                    errors.append(e)
                    return

        t = threading.Thread(target=statements)
        t.start()
        time.sleep(0.5)
        victim = self.cluster.masters()[0]
        victim.kill()
        self.cluster.wait_ok(60)
        time.sleep(0.5)
        stop.set()
        t.join(120)
        self.assertEqual(errors, [], "a statement failed during the fail-over")
        self.assertGreaterEqual(len(results), 2)
        for rows in results:
            self.check_rows(rows)
        self.assertEqual(scalar("SELECT 1"), 1)
        # after the fail-over: right, none NULL, and from the cluster
        self.check_rows(read_back())
        Embed.reset()
        self.check_rows(read_back())
        self.assertEqual(Embed.requests(), 0, "entries lost with the master")
        self.assertEqual(len(self.cluster.masters()), 3)


if __name__ == "__main__":
    main()
