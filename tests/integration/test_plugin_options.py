"""The plugin loaded from an option file (plugin_load_add) on a second
MariaDB started by this test, with settings in all places at once:

    option file / command line  >  CACHED_EMBED_* environment  >  INI file

A bad routing value in the option file disables that path (fail closed),
never a fallback; SET GLOBAL fixes it; DEFAULT hands a setting back to the
environment and the file."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (BASE_CONFIG, PREFIX, S, Embed, main, rds,  # noqa: E402
                     vector_bytes, ROOT)
import pymysql  # noqa: E402


class OptionFileTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ce-options.")
        d = cls.dir
        cls.sock = os.path.join(d, "mysql.sock")
        cls.errlog = os.path.join(d, "mariadb.err")
        ini = os.path.join(d, "cached_embed.cnf")
        with open(ini, "w") as f:
            f.write(BASE_CONFIG.replace("ttl = 1200", "ttl = 1200\nbatch = 9"))
        os.chmod(ini, 0o600)
        with open(os.path.join(d, "my.cnf"), "w") as f:
            f.write("""[mariadbd]
datadir = {d}/data
socket = {d}/mysql.sock
skip-networking
skip-log-bin
plugin-dir = {build}
log-error = {d}/mariadb.err
pid-file = {d}/mariadb.pid
innodb-buffer-pool-size = 32M
character-set-server = utf8mb4
plugin_load_add = cached_embed
cached_embed_ttl = 77
cached-embed-endpoint = ftp://not-a-provider.example
""".format(d=d, build=S["CE_BUILD"]))
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + d + "/data",
                        "--user=root", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)
        env = dict(os.environ, CACHED_EMBED_CONFIG=ini, CACHED_EMBED_TTL="300",
                   CACHED_EMBED_BATCH="17", CACHED_EMBED_PARALLEL="3")
        cls.server = subprocess.Popen(
            ["mariadbd", "--defaults-file=" + os.path.join(d, "my.cnf"), "--user=root",
             "--cached-embed-parallel=2"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                cls.conn().close()
                break
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        else:
            cls.tearDownClass()
            raise RuntimeError("second mariadbd did not start")
        with open(os.path.join(ROOT, "sql", "install.sql"), "rb") as f:
            subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + cls.sock],
                           stdin=f, check=True, capture_output=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        if cls.server.poll() is None:
            subprocess.run(["mariadb-admin", "--no-defaults", "-uroot",
                            "--socket=" + cls.sock, "shutdown"], capture_output=True,
                           timeout=60)
            try:
                cls.server.wait(60)
            except subprocess.TimeoutExpired:
                cls.server.kill()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def conn(cls):
        return pymysql.connect(unix_socket=cls.sock, user="root", autocommit=True,
                               charset="utf8mb4")

    def q(self, sql, args=None):
        c = self.conn()
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            c.close()

    def var(self, name):
        return self.q("SELECT @@GLOBAL.cached_embed_%s" % name)[0][0]

    def setUp(self):
        rds().flushall()
        Embed.reset()

    def tearDown(self):
        self.assertEqual(self.q("SELECT 1")[0][0], 1)
        with open(self.errlog, errors="replace") as f:
            self.assertNotIn(S["CE_API_KEY"], f.read())

    def test_precedence_option_file_then_environment_then_file(self):
        self.assertEqual(self.var("ttl"), 77)          # option file over env 300, file 1200
        self.assertEqual(self.var("parallel"), 2)      # command line over env 3
        self.assertEqual(self.var("batch"), 17)        # env over the file's 9
        self.assertEqual(self.var("model"), "jina-embeddings-v2-base-en")  # the file
        self.q("SET GLOBAL cached_embed_ttl = DEFAULT")
        self.assertEqual(self.var("ttl"), 300)         # back to the environment
        self.q("SET GLOBAL cached_embed_ttl = 77")

    def test_bad_endpoint_in_the_option_file_disables_the_provider(self):
        off = dict(self.q("SHOW GLOBAL STATUS LIKE 'Cached_embed_provider_disabled'"))
        self.assertIn("system variable cached_embed_endpoint", off["Cached_embed_provider_disabled"])
        self.assertIsNone(self.q("SELECT cached_embed('opt:1', 'no provider')")[0][0])
        self.assertEqual(Embed.requests(), 0)
        with open(self.errlog, errors="replace") as f:
            log = f.read()
        self.assertIn("system variable cached_embed_endpoint: endpoint must start with "
                      "http:// or https://; the provider is off until it is fixed", log)
        # fixed with SET GLOBAL: the provider is back, with the option file's ttl
        good = [l.split("=", 1)[1].strip() for l in BASE_CONFIG.splitlines()
                if l.startswith("endpoint")][0]
        self.q("SET GLOBAL cached_embed_endpoint = %s", (good,))
        try:
            self.assertEqual(self.q("SELECT cached_embed('opt:2', 'provider back')")[0][0],
                             vector_bytes("provider back"))
            ttl = rds().ttl(PREFIX + "opt:2")
            self.assertTrue(0 < ttl <= 77, ttl)
        finally:
            self.q("SET GLOBAL cached_embed_endpoint = DEFAULT")
        # DEFAULT: the endpoint is the file's again (good), nothing disabled
        self.assertEqual(self.var("endpoint"), good)
        self.assertEqual(dict(self.q(
            "SHOW GLOBAL STATUS LIKE 'Cached_embed_provider_disabled'"))[
                "Cached_embed_provider_disabled"], "")


if __name__ == "__main__":
    main()
