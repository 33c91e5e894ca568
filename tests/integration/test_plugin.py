"""The daemon plugin (udf/plugin.c) on the test server: INSTALL / UNINSTALL,
status variables equal to cached_embed_stats(), system variables (SET
GLOBAL, validation, precedence over the file, DEFAULT), api_key_file, no
variable showing the key, on_error = error making an UPDATE all-or-nothing.
KILL and progress: test_plugin_kill.py; option files: test_plugin_options.py."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (HERE, PREFIX, ROOT, S, Embed, ServerTestCase, db,  # noqa: E402
                     errlog, install_functions, main, mariadb_cli, query, rds,
                     restore_config, scalar, set_config, vector_bytes)
import pymysql  # noqa: E402

DEAD_ENDPOINT = "http://127.0.0.1:1/v1/embeddings"
ER_WRONG_VALUE_FOR_VAR = 1231


def plugin_status():
    rows = query("SELECT PLUGIN_STATUS FROM information_schema.PLUGINS "
                 "WHERE PLUGIN_NAME = 'cached_embed'")
    return rows[0][0] if rows else None


def status():
    return {k: v for k, v in query("SHOW GLOBAL STATUS LIKE 'Cached_embed%'")}


def variables():
    return {k: v for k, v in query("SHOW GLOBAL VARIABLES LIKE 'cached_embed%'")}


def var(name):
    return scalar("SELECT @@GLOBAL.cached_embed_%s" % name)


def stats_json():
    raw = scalar("SELECT cached_embed_stats()")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def wait_for(cond, seconds=5.0):
    """Polls cond() until true (the plugin watches the file once a second)."""
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def reset_variables():
    for name in variables():
        query("SET GLOBAL %s = DEFAULT" % name)


class PluginTestCase(ServerTestCase):
    """Leaves the plugin installed and every variable back at DEFAULT."""

    def tearDown(self):
        install_functions()
        reset_variables()
        super().tearDown()


class InstallTest(PluginTestCase):

    def test_install_and_uninstall_soname_twice(self):
        for _ in range(2):
            query("UNINSTALL SONAME 'cached_embed'")
            self.assertIsNone(plugin_status())
            self.assertEqual(status(), {})
            self.assertEqual(variables(), {})
            # the functions work without the plugin
            self.assertEqual(self.embed_sql("i:1", "no plugin"), vector_bytes("no plugin"))
            query("INSTALL SONAME 'cached_embed'")
            self.assertEqual(plugin_status(), "ACTIVE")
            self.assertIn("Cached_embed_misses", status())
            self.assertIn("cached_embed_ttl", variables())
            self.assertEqual(self.embed_sql("i:2", "plugin"), vector_bytes("plugin"))

    def test_sql_files_install_both_and_run_twice(self):
        for name in ("install.sql", "install.sql"):
            r = mariadb_cli(os.path.join(ROOT, "sql", name))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(plugin_status(), "ACTIVE")
        for name in ("uninstall.sql", "uninstall.sql"):
            r = mariadb_cli(os.path.join(ROOT, "sql", name))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIsNone(plugin_status())
            self.assertEqual(scalar("SELECT COUNT(*) FROM mysql.func "
                                    "WHERE dl = 'cached_embed.so'"), 0)
        r = mariadb_cli(os.path.join(ROOT, "sql", "install.sql"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(plugin_status(), "ACTIVE")
        self.assertEqual(len(self.embed_sql("k", "after reinstall")), 3072)

    def test_without_the_plugin_the_file_works_as_before(self):
        query("UNINSTALL PLUGIN cached_embed")
        try:
            set_config(ttl=55)
            self.embed_sql("nop:1", "file only")
            ttl = rds().ttl(PREFIX + "nop:1")
            self.assertTrue(0 < ttl <= 55, ttl)
        finally:
            restore_config()

    def test_on_error_error_without_the_plugin_is_refused_at_init(self):
        query("UNINSTALL PLUGIN cached_embed")
        try:
            set_config(on_error="error")
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                self.embed_sql("noe:1", "refused")
            self.assertIn("on_error = error needs the cached_embed plugin",
                          str(cm.exception))
            self.assertEqual(Embed.requests(), 0)
        finally:
            restore_config()


class StatusTest(PluginTestCase):

    def test_status_variables_equal_cached_embed_stats(self):
        try:
            set_config(circuit_failures=0)
            self.embed_sql("st:1", "status one")             # miss
            self.embed_sql("st:1", "status one")             # Redis hit
            self.embed_sql("st:n", None)                     # NULL text
            self.embed_sql("st:b", "   ")                    # blank
            Embed.faults({"status": 503, "count": 1})
            self.embed_sql("st:2", "retried once")           # retry, then ok
            Embed.faults({"status": 400, "message": "no"})
            self.assertIsNone(self.embed_sql("st:3", "fails"))  # provider error
            query("CREATE DATABASE IF NOT EXISTS t")
            query("CREATE OR REPLACE TABLE t.st (id INT PRIMARY KEY, body TEXT)")
            query("INSERT INTO t.st VALUES (1, 'w one'), (2, 'w two'), (3, 'w one')")
            scalar("SELECT cached_embed_warm(CONCAT('stw', id), body) FROM t.st")
            set_config(local_cache_mb=8, circuit_failures=0)
            self.embed_sql("st:4", "local")                  # miss, kept locally
            self.embed_sql("st:4", "local")                  # local hit
        finally:
            restore_config()
        js = stats_json()
        st = status()
        checked = 0
        for k, v in js.items():
            if isinstance(v, bool) or not isinstance(v, int):
                continue
            self.assertIn("Cached_embed_" + k, st, k)
            self.assertEqual(int(st["Cached_embed_" + k]), v, k)
            checked += 1
        self.assertGreaterEqual(checked, 20)
        self.assertEqual(st["Cached_embed_circuit"], js["circuit"])
        for k in ("misses", "hits_redis", "hits_local", "null_texts", "empty_texts",
                  "retries", "provider_errors", "provider_requests"):
            self.assertGreater(js[k], 0, k)
        self.assertEqual(st["Cached_embed_provider_disabled"], "")
        self.assertEqual(st["Cached_embed_cache_disabled"], "")
        self.assertNotIn(S["CE_API_KEY"], json.dumps(st))
        # money: empty while no price is set, else the JSON's very text
        self.assertEqual((st["Cached_embed_spent"], st["Cached_embed_saved"]), ("", ""))
        try:
            set_config(price_per_million_tokens="0.018")
            raw = scalar("SELECT cached_embed_stats()")
            raw = raw.decode() if isinstance(raw, bytes) else raw
            st = status()
        finally:
            restore_config()
        for money in ("spent", "saved"):
            shown = re.search(r'"%s":([0-9.]+)' % money, raw).group(1)
            self.assertEqual(st["Cached_embed_" + money], shown)
        self.assertNotEqual(st["Cached_embed_spent"], "0.000000")


class VariablesTest(PluginTestCase):

    def test_set_global_ttl_applies_to_the_next_entry(self):
        self.assertEqual(var("ttl"), 1200)  # the file's
        query("SET GLOBAL cached_embed_ttl = 77")
        self.assertEqual(var("ttl"), 77)
        self.embed_sql("ttl:1", "short lived")
        ttl = rds().ttl(PREFIX + "ttl:1")
        self.assertTrue(0 < ttl <= 77, ttl)
        query("SET GLOBAL cached_embed_ttl = DEFAULT")
        self.embed_sql("ttl:2", "long lived")
        self.assertGreater(rds().ttl(PREFIX + "ttl:2"), 77)

    def test_invalid_values_are_refused_and_never_applied(self):
        good = var("endpoint")
        for sql, why in (
                ("SET GLOBAL cached_embed_endpoint = 'ftp://elsewhere'",
                 "endpoint must start with http:// or https://"),
                ("SET GLOBAL cached_embed_endpoint = 'https://'", "endpoint has no host name"),
                ("SET GLOBAL cached_embed_redis = 'mysql://x'", "bad redis url"),
                ("SET GLOBAL cached_embed_ttl = -1", "ttl must be a whole number"),
                ("SET GLOBAL cached_embed_batch = 5000", "batch must be a whole number 1..2048"),
                ("SET GLOBAL cached_embed_provider = 'cohere'", "provider must be jina or openai"),
                ("SET GLOBAL cached_embed_on_error = 'maybe'", "on_error must be null or error"),
                ("SET GLOBAL cached_embed_ca_file = '/nonexistent/ca.pem'", "cannot read"),
                ("SET GLOBAL cached_embed_api_key_file = '/nonexistent/key'", "cannot read")):
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                query(sql)
            self.assertEqual(cm.exception.args[0], ER_WRONG_VALUE_FOR_VAR, sql)
            self.assertIn(why, cm.exception.args[1], sql)
        with self.assertRaises(pymysql.err.OperationalError):
            query("SET GLOBAL cached_embed_ttl = 'soon'")
        self.assertEqual(var("endpoint"), good)
        self.assertEqual(var("ttl"), 1200)
        self.assertEqual(var("batch"), 256)
        self.assertEqual(status()["Cached_embed_provider_disabled"], "")
        # still the configured provider and cache, nothing disabled
        self.assertEqual(self.embed_sql("inv:1", "still fine"), vector_bytes("still fine"))
        self.assertEqual(Embed.requests(), 1)
        self.assertIsNotNone(rds().get(PREFIX + "inv:1"))

    def test_secrets_are_never_variables_and_no_variable_shows_the_key(self):
        key = S["CE_API_KEY"]
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
            f.write("other-secret-key-42\n")
        try:
            query("SET GLOBAL cached_embed_api_key_file = %s", (f.name,))
            self.assertEqual(var("api_key_file"), f.name)
            rows = query("SELECT * FROM information_schema.SYSTEM_VARIABLES "
                         "WHERE VARIABLE_NAME LIKE 'CACHED\\_EMBED\\_%'")
            names = [r[0].lower() for r in rows]
            self.assertIn("cached_embed_api_key_file", names)
            self.assertNotIn("cached_embed_api_key", names)
            text = repr(rows) + repr(query("SHOW GLOBAL VARIABLES")) + repr(status())
            self.assertNotIn(key, text)
            self.assertNotIn("other-secret-key-42", text)
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                query("SET GLOBAL cached_embed_api_key = 'x'")
            self.assertIn("Unknown system variable", str(cm.exception))
        finally:
            query("SET GLOBAL cached_embed_api_key_file = DEFAULT")
            os.unlink(f.name)

    def test_password_in_a_redis_url_is_masked(self):
        url = "unix://%s" % S["CE_REDIS_SOCK"]
        query("SET GLOBAL cached_embed_redis = %s",
              ("redis://someone:pa55word@127.0.0.1:%s/0" % S["CE_REDIS_PORT"],))
        self.assertEqual(var("redis"), "redis://someone:***@127.0.0.1:%s/0" % S["CE_REDIS_PORT"])
        self.assertNotIn("pa55word", repr(query("SHOW GLOBAL VARIABLES")))
        query("SET GLOBAL cached_embed_redis = DEFAULT")
        self.assertEqual(var("redis"), url)

    def test_variables_win_over_the_file_until_default(self):
        try:
            set_config(ttl=600)
            self.assertTrue(wait_for(lambda: var("ttl") == 600), var("ttl"))
            query("SET GLOBAL cached_embed_ttl = 77")
            set_config(ttl=500)
            time.sleep(1.2)  # the file was re-read: the variable still wins
            self.assertEqual(var("ttl"), 77)
            self.embed_sql("prec:1", "variable wins")
            self.assertTrue(0 < rds().ttl(PREFIX + "prec:1") <= 77)
            query("SET GLOBAL cached_embed_ttl = DEFAULT")  # back to the file
            self.assertEqual(var("ttl"), 500)
            self.embed_sql("prec:2", "file again")
            self.assertTrue(77 < rds().ttl(PREFIX + "prec:2") <= 500)
        finally:
            restore_config()
        self.assertTrue(wait_for(lambda: var("ttl") == 1200))

    def test_enum_and_bool_variables(self):
        query("SET GLOBAL cached_embed_provider = openai")
        self.assertEqual(var("provider"), "openai")
        query("SET GLOBAL cached_embed_provider = 0")
        self.assertEqual(var("provider"), "jina")
        query("SET GLOBAL cached_embed_truncate = OFF")
        self.assertEqual(variables()["cached_embed_truncate"], "OFF")
        query("SET GLOBAL cached_embed_truncate = DEFAULT")
        self.assertEqual(variables()["cached_embed_truncate"], "ON")


class ApiKeyFileTest(PluginTestCase):
    """A second embedding server that demands its own key."""

    KEY = "key-from-file-7f3a9c"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="ce-keyfile.")
        port_file = os.path.join(cls.dir, "port")
        cls.server = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "embed_server", "embed_server.py"),
             "--port", "0", "--port-file", port_file, "--api-key", cls.KEY, "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def port():
            if not os.path.exists(port_file):
                return ""
            with open(port_file) as f:
                return f.read().strip()
        if not wait_for(port, 15):
            cls.server.kill()
            raise RuntimeError("second embedding server did not start")
        cls.endpoint = "http://127.0.0.1:%s/v1/embeddings" % port()
        cls.keyfile = os.path.join(cls.dir, "api.key")

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(10)
        for name in os.listdir(cls.dir):
            os.unlink(os.path.join(cls.dir, name))
        os.rmdir(cls.dir)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        query("SET GLOBAL cached_embed_circuit_failures = 0")  # 401s on purpose

    def write_key(self, key):
        with open(self.keyfile, "w") as f:
            f.write(key + "\n")
        os.chmod(self.keyfile, 0o600)

    def test_the_key_comes_from_the_file(self):
        self.write_key(self.KEY)
        query("SET GLOBAL cached_embed_endpoint = %s", (self.endpoint,))
        # the file's api_key is the wrong one for this server
        self.assertIsNone(self.embed_sql("kf:0", "wrong key"))
        query("SET GLOBAL cached_embed_api_key_file = %s", (self.keyfile,))
        self.assertEqual(self.embed_sql("kf:1", "right key"), vector_bytes("right key"))
        # a changed key file is re-read
        self.write_key("not-the-key")
        os.utime(self.keyfile, (time.time() + 5, time.time() + 5))
        time.sleep(1.2)
        self.assertIsNone(self.embed_sql("kf:2", "stale key"))
        self.assertNotIn(self.KEY, errlog())

    def test_a_missing_or_empty_key_file_disables_the_provider(self):
        empty = os.path.join(self.dir, "empty.key")
        open(empty, "w").close()
        try:
            for path, why in ((os.path.join(self.dir, "missing.key"), "No such file"),
                              (empty, "api_key_file: '%s' is empty" % empty)):
                set_config(api_key_file=path)
                self.assertIsNone(self.embed_sql("kf:3", "no key, no request"))
                self.assertEqual(Embed.requests(), 0)  # not even with the file's api_key
                off = status()["Cached_embed_provider_disabled"]
                self.assertIn(path, off)
                self.assertIn(why, off)
        finally:
            restore_config()
        self.assertTrue(wait_for(lambda: status()["Cached_embed_provider_disabled"] == ""))


class OnErrorTest(PluginTestCase):

    def setUp(self):
        super().setUp()
        query("SET GLOBAL cached_embed_circuit_failures = 0")  # failures on purpose
        query("CREATE DATABASE IF NOT EXISTS t")
        query("CREATE OR REPLACE TABLE t.oe (id INT PRIMARY KEY, body TEXT, v BLOB) ENGINE=InnoDB")
        with db() as conn, conn.cursor() as c:
            c.executemany("INSERT INTO t.oe VALUES (%s, %s, NULL)",
                          [(i, "old text %d" % i) for i in range(1, 7)])
        query("UPDATE t.oe SET v = cached_embed(CONCAT('oe:', id), body)")
        # the new texts of rows 1-3 are cached already, those of 4-6 are not
        for i in range(1, 4):
            self.embed_sql("oe:%d" % i, "new text %d" % i)

    def table(self):
        return {i: (b, v) for i, b, v in query("SELECT id, body, v FROM t.oe")}

    UPDATE = ("UPDATE t.oe SET v = cached_embed(CONCAT('oe:', id), "
              "CONCAT('new text ', id)), body = CONCAT('new text ', id)")

    def test_provider_down_fails_the_update_and_keeps_every_old_vector(self):
        query("SET GLOBAL cached_embed_on_error = 'error'")
        query("SET GLOBAL cached_embed_endpoint = %s", (DEAD_ENDPOINT,))
        query("SET GLOBAL cached_embed_timeout_ms = 500")
        with self.assertRaises(pymysql.err.OperationalError) as cm:
            query(self.UPDATE)
        self.assertIn("cached_embed: row key", cm.exception.args[1])
        self.assertIn("(on_error = error)", cm.exception.args[1])
        rows = self.table()
        self.assertEqual(len(rows), 6)
        for i, (body, v) in rows.items():
            self.assertEqual(body, "old text %d" % i)
            self.assertEqual(v, vector_bytes("old text %d" % i), i)

    def test_default_null_updates_what_it_can(self):
        query("SET GLOBAL cached_embed_endpoint = %s", (DEAD_ENDPOINT,))
        query("SET GLOBAL cached_embed_timeout_ms = 500")
        query(self.UPDATE)
        rows = self.table()
        for i in range(1, 4):
            self.assertEqual(rows[i][1], vector_bytes("new text %d" % i))
        for i in range(4, 7):
            self.assertIsNone(rows[i][1])


if __name__ == "__main__":
    main()
