"""The config file as an administrator edits it: changes apply without a
restart, a bad value is one clear log line and is ignored."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (PREFIX, S, Embed, ServerTestCase, main, rds, restore_config,  # noqa: E402
                     set_config, vector_bytes)


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
        self.assertIn("batch must be a whole number 1..2048, got 'lots'; line ignored", log)
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


if __name__ == "__main__":
    main()
