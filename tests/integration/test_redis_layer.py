"""The Redis layer's per-entry lock (redis_cache.h: ce_cache_lock / unlock, the
pipelined ce_cache_lock_many / ce_cache_lock_end_many), which
single-flight across servers builds on, driven by a small C program
(redis_layer.c, under ASan+UBSan) against the fixture's Redis and against a
Redis Cluster: taken once, released only by its owner, expiring on its own,
-1 (not "held") when Redis cannot be reached."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import S, ServerTestCase, main  # noqa: E402
from extra_servers import RedisCluster, stop_all  # noqa: E402

DRIVER = os.path.join(S["CE_BUILD"], "tests", "ce_redis_layer")


def run(url):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    return subprocess.run([DRIVER, url], capture_output=True, text=True,
                          timeout=120, env=env)


class RedisLayerTest(ServerTestCase):

    def check(self, url):
        r = run(url)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("0 failed", r.stdout)

    def test_lock_on_one_redis(self):
        self.check("unix://" + S["CE_REDIS_SOCK"])

    def test_lock_on_a_cluster(self):
        try:
            self.check(RedisCluster().url())
        finally:
            stop_all()


if __name__ == "__main__":
    main()
