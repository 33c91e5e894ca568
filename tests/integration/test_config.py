"""The config file as an administrator edits it: changes apply without a
restart, a bad value is one clear log line and is ignored."""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, S, Embed, ServerTestCase, main, rds,  # noqa: E402
                     restore_config, set_config, vector_bytes)


class ConfigTest(ServerTestCase):

    def tearDown(self):
        restore_config()
        super().tearDown()

    def test_changes_apply_without_a_restart(self):
        set_config(model="jina-embeddings-v2-small-en", ttl=77, key_prefix="ns:")
        # the local server returns 768 floats for any model; the plugin knows
        # the small model has 512, so it must refuse the answer
        self.assertIsNone(self.embed_sql("k", "text"))
        self.assertIn("expected 512 dimensions, got 768", self.log.new())
        set_config(model="my-own-model", ttl=77, key_prefix="ns:")
        self.assertEqual(self.embed_sql("k", "text"), vector_bytes("text"))
        self.assertTrue(0 < rds().ttl("ns:v2:my-own-model:k") <= 77)

    def test_bad_value_is_logged_and_ignored(self):
        set_config(batch="lots", ttl="-3")
        self.assertEqual(self.embed_sql("k2", "text"), vector_bytes("text"))
        log = self.log.new()
        self.assertIn("batch must be a whole number 1..2048, got 'lots'; ignored, the default applies", log)
        self.assertIn("ttl must be a whole number", log)
        self.assertTrue(1190 <= rds().ttl(PREFIX + "k2") <= 1200)
        self.assertIn(S["CE_CONFIG"], log)

    def test_world_readable_file_with_a_key_is_warned_about(self):
        os.chmod(S["CE_CONFIG"], 0o644)
        try:
            set_config(ttl=100)
            self.embed_sql("k3", "text")
            self.assertIn("world-readable", self.log.new())
        finally:
            os.chmod(S["CE_CONFIG"], 0o600)
        self.assertEqual(Embed.requests(), 1)

    # ---- fail closed (issue 9 section 4) ----

    def test_bad_endpoint_disables_the_provider_never_a_fallback(self):
        # Without a scheme: today's code fell back to the public Jina API
        # with the configured key. Now: no request anywhere, rows NULL, and
        # cached rows are still served.
        self.assertEqual(self.embed_sql("cached", "text"), vector_bytes("text"))
        Embed.reset()
        set_config(endpoint="127.0.0.1:%s/v1/embeddings" % S["CE_EMBED_PORT"])
        self.assertIsNone(self.embed_sql("k4", "new text"))
        self.assertEqual(self.embed_sql("cached", "text"), vector_bytes("text"))
        log = self.log.new()
        self.assertIn("provider disabled until the setting is fixed", log)
        self.assertIn("endpoint must start with http:// or https://", log)
        self.assertIn("provider disabled: config line", log)
        self.assertNotIn(S["CE_API_KEY"], log)
        self.assertEqual(Embed.requests(), 0)

    def test_bad_provider_or_key_disables_the_provider(self):
        for bad in ({"provider": "cohere"}, {"api_key": '"two words"'}):
            set_config(**bad)
            self.assertIsNone(self.embed_sql("k5", "text five"))
            self.assertIn("provider disabled", self.log.new())
        self.assertEqual(Embed.requests(), 0)

    def test_bad_redis_disables_the_cache_never_a_fallback(self):
        set_config(redis="redis://127.0.0.1:99999/0")
        self.assertIsNone(self.embed_sql("k6", "text six"))
        self.assertIn("cache disabled", self.log.new())
        self.assertEqual(Embed.requests(), 0)

    def _write_raw(self, text):
        with open(S["CE_CONFIG"], "w") as f:
            f.write(text)
        time.sleep(1.2)

    def test_half_written_file_keeps_the_last_good_settings(self):
        set_config(ttl=77)
        self.assertEqual(self.embed_sql("k7", "text"), vector_bytes("text"))
        # an editor saving half a file: the section and a line cut short
        self._write_raw("[cached_embed]\nendpoint = http://127.0.0.1:1/v1/emb\nttl")
        self.assertEqual(self.embed_sql("k8", "text eight"), vector_bytes("text eight"))
        self.assertTrue(0 < rds().ttl(PREFIX + "k8") <= 77)
        self.assertIn("keeping the last good settings", self.log.new())

    def test_unreadable_file_keeps_the_last_good_settings(self):
        set_config(ttl=66)
        self.assertEqual(self.embed_sql("k9", "text"), vector_bytes("text"))
        path = S["CE_CONFIG"]
        os.rename(path, path + ".away")
        os.mkdir(path)  # root reads any file: a directory cannot be read
        try:
            time.sleep(1.2)
            self.assertEqual(self.embed_sql("k10", "ten"), vector_bytes("ten"))
            self.assertTrue(0 < rds().ttl(PREFIX + "k10") <= 66)
            self.assertIn("cannot read it", self.log.new())
        finally:
            os.rmdir(path)
            os.rename(path + ".away", path)

    def test_file_others_can_write_is_refused(self):
        set_config(ttl=55)
        self.assertEqual(self.embed_sql("k11", "text"), vector_bytes("text"))
        path = S["CE_CONFIG"]
        try:
            # someone else could point the endpoint at their own server
            # (the file is writable by them before they write it: with the
            # plugin loaded the file is re-read every second, not only when
            # a function runs)
            for mode, group in ((0o666, None), (0o660, "nogroup")):
                if group:
                    shutil.chown(path, group=group)
                os.chmod(path, mode)
                set_config(ttl=44, endpoint="http://127.0.0.1:1/v1/embeddings")
                time.sleep(1.2)
                self.assertEqual(self.embed_sql("k12", "twelve"),
                                 vector_bytes("twelve"))
                self.assertTrue(0 < rds().ttl(PREFIX + "k12") <= 55)
                self.assertIn("refused: it is writable by", self.log.new())
                rds().delete(PREFIX + "k12")
        finally:
            shutil.chown(path, group="root")
            os.chmod(path, 0o600)


if __name__ == "__main__":
    main()
