"""Redis over TLS with an ACL user (issue 11): `rediss://user:password@...`
with the server certificate verified against `redis_tls_ca_file`, a client
certificate, the password kept in `redis_password_file`. When Redis cannot
be used — a CA that did not sign the server, a wrong password, an unreadable
password file — rows still get the right vector from the provider and the
error log says why in one line, never with the password."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, errlog, main,  # noqa: E402
                     rds, restore_config, set_config, vector_bytes)
from extra_servers import Certs, Redis, stop_all  # noqa: E402

PASSWORD = "s3cret-Pw-7f1d"
ACL = ("user cached_embed on >%s ~cached_embed:* resetchannels "
       "-@all +get +set +pttl +ping +auth +select" % PASSWORD)


class TlsRedisTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.certs = Certs()
        # the server asks for a client certificate signed by its CA
        cls.redis = Redis("tls", [ACL], tls_certs=cls.certs, client_certs="yes")

    @classmethod
    def tearDownClass(cls):
        restore_config()
        stop_all()

    def setUp(self):
        super().setUp()
        self.redis.client().flushall()

    def tearDown(self):
        super().tearDown()
        log = errlog()
        self.assertNotIn(PASSWORD, log, "redis password leaked to the log")
        self.assertNotIn("rediss://", log, "the redis url was logged")

    def use(self, password=PASSWORD, **kw):
        settings = dict(
            redis="rediss://cached_embed:%s@127.0.0.1:%d/0" % (password, self.redis.port),
            redis_tls_ca_file=self.certs.path("ca.crt"),
            redis_tls_cert_file=self.certs.path("client.crt"),
            redis_tls_key_file=self.certs.path("client.key"))
        settings.update(kw)
        set_config(**settings)

    def embed_texts(self, tag, n=12):
        texts = ["tls %s text %d" % (tag, i) for i in range(n)]
        got = [self.embed_sql("%s:%d" % (tag, i), t) for i, t in enumerate(texts)]
        self.assertEqual(got, [vector_bytes(t) for t in texts])
        return texts

    def cached_here(self, tag, n=12):
        c = self.redis.client()
        return sum(c.exists(PREFIX + "%s:%d" % (tag, i)) for i in range(n))

    def test_vectors_cached_on_the_tls_server_second_call_free(self):
        self.use()
        self.embed_texts("ok")
        self.assertEqual(Embed.requests(), 12)
        self.assertEqual(self.cached_here("ok"), 12)
        self.assertEqual(rds().dbsize(), 0, "entries went to the fixture's Redis")
        self.embed_texts("ok")
        self.assertEqual(Embed.requests(), 12, "second call was not free")
        self.assertNotIn("cached_embed: redis", self.log.new())

    def test_password_from_redis_password_file(self):
        pw_file = os.path.join(self.redis.dir, "redis.password")
        with open(pw_file, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw_file, 0o600)
        self.use(redis="rediss://cached_embed@127.0.0.1:%d" % self.redis.port,
                 redis_password_file=pw_file)
        self.embed_texts("pwfile")
        self.assertEqual(self.cached_here("pwfile"), 12)
        self.embed_texts("pwfile")
        self.assertEqual(Embed.requests(), 12)

    def failing(self, tag, pattern, **kw):
        """Rows right from the provider, nothing cached, one log line."""
        self.use(**kw)
        self.embed_texts(tag)
        self.embed_texts(tag)
        self.assertEqual(Embed.requests(), 24, "rows must come from the provider")
        self.assertEqual(self.cached_here(tag), 0)
        lines = [l for l in self.log.new().splitlines() if "cached_embed: redis" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], pattern)
        return lines[0]

    def test_ca_that_did_not_sign_the_server(self):
        self.failing("badca", r"tls: server certificate not accepted: (self-signed certificate in certificate chain|unable to get local issuer)",
                     redis_tls_ca_file=self.certs.path("other_ca.crt"))

    def test_wrong_server_name(self):
        self.failing("badname", r"tls: server certificate not accepted: hostname mismatch",
                     redis_tls_server_name="redis.example.com")

    def test_wrong_password(self):
        self.failing("badpw", r"AUTH refused: WRONGPASS", password="not-" + PASSWORD)

    def test_no_client_certificate(self):
        self.failing("nocert", r"redis connection to 127\.0\.0\.1:\d+ failed",
                     redis_tls_cert_file="", redis_tls_key_file="")

    def disabled(self, tag, pattern, **kw):
        """A routing setting that cannot be used when the settings load:
        the cache path is off, rows NULL, no provider call, one log line —
        never another Redis host."""
        self.use(**kw)
        for i in range(3):
            self.assertIsNone(self.embed_sql("%s:%d" % (tag, i), "text %d" % i))
        self.assertEqual(Embed.requests(), 0)
        log = self.log.new()
        self.assertRegex(log, pattern)
        self.assertNotIn("127.0.0.1:6379", log)

    def test_unreadable_password_file_disables_the_cache(self):
        self.disabled("nopwfile", r"cache disabled.*cannot read '/nonexistent/redis.password'",
                      redis="rediss://cached_embed@127.0.0.1:%d" % self.redis.port,
                      redis_password_file="/nonexistent/redis.password")

    def test_unreadable_ca_file_disables_the_cache(self):
        self.disabled("noca", r"cache disabled.*cannot read '/nonexistent/ca.crt'",
                      redis_tls_ca_file="/nonexistent/ca.crt")

    def test_bad_redis_url_never_falls_back_to_another_host(self):
        self.disabled("badurl", r"cache disabled.*bad redis url: port must be 1\.\.65535",
                      redis="rediss://cached_embed:%s@127.0.0.1:99999" % PASSWORD)

    def test_unusable_password_file_content(self):
        """Readable, so the settings load; empty, so Redis cannot be used:
        rows from the provider, one log line."""
        pw_file = os.path.join(self.redis.dir, "empty.password")
        open(pw_file, "w").close()
        self.failing("emptypw", r"redis: redis_password_file .*: expected one line",
                     redis="rediss://cached_embed@127.0.0.1:%d" % self.redis.port,
                     redis_password_file=pw_file)


if __name__ == "__main__":
    main()
