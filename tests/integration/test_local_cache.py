"""The in-process cache in front of Redis: serves repeated keys without a
Redis round trip, never for a changed text, never after the TTL."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, Embed, ServerTestCase, main, rds,  # noqa: E402
                     restore_config, set_config, vector_bytes)


class LocalCacheTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        set_config(local_cache_mb=32)

    @classmethod
    def tearDownClass(cls):
        restore_config()

    def test_served_without_redis(self):
        v = self.embed_sql("lc:1", "local text")
        rds().delete(PREFIX + "lc:1")
        self.assertEqual(self.embed_sql("lc:1", "local text"), v)
        self.assertEqual(Embed.requests(), 1)

    def test_never_for_a_changed_text(self):
        self.embed_sql("lc:2", "old text")
        self.assertEqual(self.embed_sql("lc:2", "new text"), vector_bytes("new text"))
        self.assertEqual(Embed.requests(), 2)
        self.assertEqual(self.embed_sql("lc:2", "new text"), vector_bytes("new text"))
        self.assertEqual(Embed.requests(), 2)

    def test_never_after_its_ttl(self):
        self.embed_sql("lc:3", "short lived", 1)
        self.embed_sql("lc:3", "short lived", 1)
        self.assertEqual(Embed.requests(), 1)
        time.sleep(2.2)
        self.assertEqual(self.embed_sql("lc:3", "short lived", 1), vector_bytes("short lived"))
        self.assertEqual(Embed.requests(), 2)

    def test_copy_from_redis_keeps_the_redis_expiry(self):
        set_config(local_cache_mb=0)  # store in Redis only
        try:
            self.embed_sql("lc:4", "from redis", 2)
        finally:
            set_config(local_cache_mb=32)
        self.embed_sql("lc:4", "from redis")  # Redis hit, copied locally
        rds().delete(PREFIX + "lc:4")
        self.embed_sql("lc:4", "from redis")  # local hit
        self.assertEqual(Embed.requests(), 1)
        time.sleep(2.2)
        self.assertEqual(self.embed_sql("lc:4", "from redis"), vector_bytes("from redis"))
        self.assertEqual(Embed.requests(), 2)

    def test_copy_of_an_entry_without_expiry_is_checked_again(self):
        # a local copy of an entry with no TTL used to live for ever, so a DEL
        # (or FLUSHDB, or a re-embed elsewhere) never reached it
        set_config(local_cache_mb=32, local_cache_max_age=1)
        try:
            self.embed_sql("lc:6", "no expiry", 0)
            self.assertEqual(rds().ttl(PREFIX + "lc:6"), -1)
            rds().delete(PREFIX + "lc:6")
            self.embed_sql("lc:6", "no expiry", 0)  # the local copy
            self.assertEqual(Embed.requests(), 1)
            time.sleep(1.5)
            self.assertEqual(self.embed_sql("lc:6", "no expiry", 0), vector_bytes("no expiry"))
            self.assertEqual(Embed.requests(), 2)  # Redis asked again: gone
            self.assertTrue(rds().exists(PREFIX + "lc:6"))
        finally:
            set_config(local_cache_mb=32)

    def test_no_expiry_with_ttl_zero(self):
        self.embed_sql("lc:5", "forever", 0)
        rds().delete(PREFIX + "lc:5")
        self.assertEqual(self.embed_sql("lc:5", "forever", 0), vector_bytes("forever"))
        self.assertEqual(Embed.requests(), 1)


if __name__ == "__main__":
    main()
