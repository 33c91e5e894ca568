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
from support import (PREFIX, ROOT, S, Embed, ServerTestCase, entry_keys, main,  # noqa: E402
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
        sizes = [len(entry_keys(m.client())) for m in masters]
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

    def test_slot_migration_ask_then_moved(self):
        """A slot moved from one master to another under the plugin: while it
        migrates, the old owner answers -ASK for keys already moved (followed
        with ASKING); once done, -MOVED (followed, the slot map re-read).
        Every read stays a hit."""
        texts = ["migrating text %d" % i for i in range(5)]
        keys = ["{mig}:%d" % i for i in range(5)]  # one hash tag: one slot
        for k, t in zip(keys, texts):
            self.assertEqual(self.embed_sql(k, t), vector_bytes(t))
        masters = self.cluster.masters()
        c0 = masters[0].client()
        slot = c0.execute_command("CLUSTER", "KEYSLOT", PREFIX + keys[0])
        ids = {}
        for m in masters:
            ids[m.port] = m.client().execute_command("CLUSTER", "MYID").decode()
        owner = next(m for m in masters
                     if m.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))
        target = next(m for m in masters if m is not owner)
        src, dst = owner.client(), target.client()
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[owner.port])
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target.port])
        moved = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        self.assertEqual(len(moved), 5)
        for k in moved[:3]:  # three keys move now, two stay
            src.execute_command("MIGRATE", "127.0.0.1", target.port, k, 0, 5000)
        Embed.reset()
        for k, t in zip(keys, texts):  # -ASK for the moved ones
            self.assertEqual(self.embed_sql(k, t), vector_bytes(t))
        self.assertEqual(Embed.requests(), 0, "a migrating slot's keys were missed")
        for k in moved[3:]:
            src.execute_command("MIGRATE", "127.0.0.1", target.port, k, 0, 5000)
        for m in masters:
            m.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target.port])
        for _ in range(2):  # -MOVED, then the re-read map
            for k, t in zip(keys, texts):
                self.assertEqual(self.embed_sql(k, t), vector_bytes(t))
        self.assertEqual(Embed.requests(), 0, "a moved slot's keys were missed")
        self.assertEqual(dst.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot), 5)

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
