"""What the integration tests share: connections to the real servers that
tests/harness.sh started, control of the local embedding server, the
plugin's config file, and the server error log."""

import codecs
import http.client
import json
import os
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "embed_server"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import pymysql  # noqa: E402  (Debian: python3-pymysql)
import redis  # noqa: E402  (Debian: python3-redis)
from embed_server import embed  # noqa: E402
from harness_state import read_state  # noqa: E402


def load_state():
    path = os.environ.get("CE_STATE")
    if not path or not os.path.exists(path):
        raise unittest.SkipTest("CE_STATE not set: run through ctest")
    return read_state(path)


S = load_state()
BASE_CONFIG = open(S["CE_CONFIG"]).read()
MODEL = "jina-embeddings-v2-base-en"
PREFIX = "cached_embed:v2:" + MODEL + ":"


def db(**kw):
    return pymysql.connect(unix_socket=S["CE_SOCKET"], user="root",
                           autocommit=True, charset="utf8mb4", **kw)


def query(sql, args=None, conn=None):
    own = conn is None
    conn = conn or db()
    try:
        with conn.cursor() as c:
            c.execute(sql, args)
            return c.fetchall()
    finally:
        if own:
            conn.close()


def scalar(sql, args=None):
    return query(sql, args)[0][0]


def mariadb_cli(sql_file):
    """Runs a SQL file with the mariadb client, as a user would."""
    with open(sql_file, "rb") as f:
        return subprocess.run(
            ["mariadb", "--no-defaults", "-uroot", "--socket=" + S["CE_SOCKET"]],
            stdin=f, capture_output=True, timeout=120)


def rds():
    return redis.Redis(unix_socket_path=S["CE_REDIS_SOCK"])


# Single-flight locks live beside the entries (and linger as "done" notes
# for their lifetime after a miss): counts of entries leave them out.
LOCK_PREFIX = b"cached_embed:v2:lock:"


def entry_keys(client=None):
    """The keys of Redis entries (not single-flight locks), as bytes."""
    client = client or rds()
    return [k for k in client.scan_iter(count=1000) if not k.startswith(LOCK_PREFIX)]


codecs.register_error(
    "ce_replace", lambda e: ("\ufffd", e.start + 1))  # one U+FFFD a bad byte


def mysql_latin1(raw):
    """`raw` read as MySQL's latin1: cp1252, with the five bytes cp1252
    leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) as U+0081 ... U+009D."""
    return "".join(chr(b) if b in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
                   else bytes([b]).decode("cp1252") for b in raw)


def sent_text(raw, max_bytes=65536, charset="auto"):
    """The text the plugin sends for the argument bytes `raw` (udf/text.h):
    valid UTF-8 as it is, anything else as latin1 (charset auto), cut to
    max_bytes on a character boundary. Text with NUL bytes: None."""
    if isinstance(raw, str):
        raw = raw.encode()
    if b"\0" in raw:
        return None
    if charset == "auto":
        try:
            raw.decode("utf-8")
            charset = "utf8mb4"
        except UnicodeDecodeError:
            charset = "latin1"
    if charset == "latin1":
        out = mysql_latin1(raw[:max_bytes]).encode()
    else:
        cut = len(raw)
        if cut > max_bytes:
            cut = max_bytes
            for back in range(4):
                if back <= max_bytes and raw[max_bytes - back] & 0xC0 != 0x80:
                    cut = max_bytes - back
                    break
        out = raw[:cut].decode("utf-8", "ce_replace").encode()
    if len(out) > max_bytes:
        cut = max_bytes
        while out[cut] & 0xC0 == 0x80:
            cut -= 1
        out = out[:cut]
    return out.decode()


def vector_bytes(text, dims=768, task=None, dimensions=None):
    """What the local embedding server answers for `text` (with the
    request's `task` and `dimensions` fields), as the BLOB."""
    v = embed(text, dims, task, dimensions)
    return struct.pack("<%df" % len(v), *v)


class Embed:
    """The local embedding server's control API."""

    @staticmethod
    def call(method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", int(S["CE_EMBED_PORT"]), timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return json.loads(data) if data else None

    @classmethod
    def stats(cls):
        return cls.call("GET", "/_control/stats")

    @classmethod
    def reset(cls):
        cls.call("POST", "/_control/reset", {})

    @classmethod
    def faults(cls, *faults):
        cls.call("POST", "/_control/faults", {"faults": list(faults)})

    @classmethod
    def config(cls, **kw):
        cls.call("POST", "/_control/config", kw)

    @classmethod
    def requests(cls):
        return cls.stats()["requests"]


def set_config(**overrides):
    """Rewrites the plugin's config file and waits until the plugin re-reads
    it (it checks at most once a second)."""
    lines = [l for l in BASE_CONFIG.splitlines()
             if l.split("=")[0].strip() not in overrides]
    lines += ["%s = %s" % (k, v) for k, v in overrides.items()]
    with open(S["CE_CONFIG"], "w") as f:
        f.write("\n".join(lines) + "\n")
    time.sleep(1.2)


def restore_config():
    set_config()


def errlog():
    with open(S["CE_ERRLOG"], errors="replace") as f:
        return f.read()


class ErrlogMark:
    """Collects what the server error log gained since creation."""

    def __init__(self):
        self.pos = os.path.getsize(S["CE_ERRLOG"])

    def new(self):
        with open(S["CE_ERRLOG"], errors="replace") as f:
            f.seek(self.pos)
            return f.read()


def install_functions():
    r = mariadb_cli(os.path.join(ROOT, "sql", "install.sql"))
    if r.returncode != 0:
        raise RuntimeError("install.sql failed: " + r.stderr.decode())


class ServerTestCase(unittest.TestCase):
    """Every test starts with the functions installed, an empty Redis and
    fresh counters in the embedding server; at the end the server must still
    answer and the API key must appear nowhere in its log."""

    @classmethod
    def setUpClass(cls):
        install_functions()

    def setUp(self):
        rds().flushall()
        Embed.reset()
        self.log = ErrlogMark()

    def tearDown(self):
        self.assertEqual(scalar("SELECT 1"), 1, "server stopped answering")
        self.assertNotIn(S["CE_API_KEY"], errlog(), "API key leaked to the log")
        out = self.log.new()
        if out and os.environ.get("CE_VERBOSE"):
            sys.stderr.write("\n[server error log]\n" + out)

    def embed_sql(self, key, text, *extra):
        args = (key, text) + extra
        marks = ", ".join(["%s"] * len(args))
        return scalar("SELECT cached_embed(%s)" % marks, args)


def main():
    unittest.main(verbosity=2)
