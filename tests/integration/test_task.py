"""Query vs passage: cached_embed(key, text, ttl, task), cached_embed_query
(text), cached_embed_warm(key, text, task), the task per dialect and model,
prefixes. The local embedding server gives a different vector per task
field and records what each request carried (record_texts,
record_requests)."""

import os
import sys

import pymysql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (Embed, ServerTestCase, db, entry_keys, main, query, rds,  # noqa: E402
                     restore_config, scalar, set_config, vector_bytes)

V3 = dict(model="jina-embeddings-v3", dimensions=768)  # 768: the local server's
TEXT = "hoppy citrus IPA with grapefruit notes"


def v3_vector(text, task=None):
    return vector_bytes(text, task=task, dimensions=768)


def sent_fields():
    return Embed.stats()["request_fields"]


def make_table(rows, name="docs"):
    conn = db()
    query("CREATE DATABASE IF NOT EXISTS t", conn=conn)
    query("CREATE OR REPLACE TABLE t.%s (id INT PRIMARY KEY, body TEXT, task VARCHAR(64))"
          % name, conn=conn)
    with conn.cursor() as c:
        c.executemany("INSERT INTO t.%s VALUES (%%s, %%s, %%s)" % name, rows)
    conn.close()


class JinaTaskTest(ServerTestCase):
    """Jina dialect, a model that takes a task (jina-embeddings-v3)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        set_config(**V3)

    @classmethod
    def tearDownClass(cls):
        restore_config()

    def setUp(self):
        super().setUp()
        Embed.config(record_requests=True, record_texts=True)

    def test_query_is_the_providers_retrieval_query_vector(self):
        q = scalar("SELECT cached_embed('k', %s, NULL, 'query')", (TEXT,))
        self.assertEqual(q, v3_vector(TEXT, "retrieval.query"))
        self.assertNotEqual(q, v3_vector(TEXT))
        self.assertEqual(sent_fields()[-1]["task"], "retrieval.query")
        # the provider's own name is the same entry
        n = Embed.requests()
        self.assertEqual(scalar("SELECT cached_embed('k', %s, NULL, 'retrieval.query')",
                                (TEXT,)), q)
        self.assertEqual(Embed.requests(), n)

    def test_passage_differs_and_is_its_own_entry(self):
        q = scalar("SELECT cached_embed('k', %s, NULL, 'query')", (TEXT,))
        p = scalar("SELECT cached_embed('k', %s, NULL, 'passage')", (TEXT,))
        self.assertEqual(p, v3_vector(TEXT, "retrieval.passage"))
        self.assertNotEqual(p, q)
        self.assertEqual(Embed.requests(), 2)
        keys = sorted(k.decode() for k in entry_keys())
        self.assertEqual(keys, ["cached_embed:v2:jina-embeddings-v3@768#retrieval.passage:k",
                                "cached_embed:v2:jina-embeddings-v3@768#retrieval.query:k"])
        # both stay cached: no request for either again, no thrashing
        for _ in range(2):
            self.assertEqual(scalar("SELECT cached_embed('k', %s, NULL, 'query')", (TEXT,)), q)
            self.assertEqual(scalar("SELECT cached_embed('k', %s, NULL, 'passage')", (TEXT,)), p)
        self.assertEqual(Embed.requests(), 2)

    def test_other_task_names_are_sent_as_given(self):
        v = scalar("SELECT cached_embed(NULL, %s, NULL, 'text-matching')", (TEXT,))
        self.assertEqual(v, v3_vector(TEXT, "text-matching"))
        self.assertEqual(sent_fields()[-1]["task"], "text-matching")

    def test_cached_embed_query_is_the_query_form_and_hits_after_it(self):
        q = scalar("SELECT cached_embed(NULL, %s, NULL, 'query')", (TEXT,))
        n = Embed.requests()
        self.assertEqual(scalar("SELECT cached_embed_query(%s)", (TEXT,)), q)
        self.assertEqual(Embed.requests(), n)
        # and the other way round, cold
        rds().flushall()
        query("SELECT cached_embed_query('a fresh query')")
        n = Embed.requests()
        self.assertEqual(scalar("SELECT cached_embed(NULL, 'a fresh query', NULL, 'query')"),
                         v3_vector("a fresh query", "retrieval.query"))
        self.assertEqual(Embed.requests(), n)

    def test_null_task_is_the_configured_one_and_empty_is_none(self):
        none = scalar("SELECT cached_embed('k', %s)", (TEXT,))
        self.assertEqual(none, v3_vector(TEXT))
        self.assertNotIn("task", sent_fields()[-1])
        self.assertEqual(scalar("SELECT cached_embed('k', %s, NULL, NULL)", (TEXT,)), none)
        set_config(task="passage", **V3)
        try:
            p = scalar("SELECT cached_embed('k', %s)", (TEXT,))
            self.assertEqual(p, v3_vector(TEXT, "retrieval.passage"))
            n = Embed.requests()
            # the setting's passage is the argument's passage: one entry
            self.assertEqual(scalar("SELECT cached_embed('k', %s, NULL, 'passage')", (TEXT,)), p)
            self.assertEqual(Embed.requests(), n)
            # '' overrides the setting: no task
            self.assertEqual(scalar("SELECT cached_embed('k', %s, NULL, '')", (TEXT,)), none)
        finally:
            set_config(**V3)

    def test_task_per_row_from_a_column(self):
        make_table([(1, TEXT, "query"), (2, TEXT, "passage"), (3, TEXT, None),
                    (4, TEXT, "no such task!")])
        mark = self.log.new
        rows = query("SELECT id, cached_embed(CONCAT('r', id), body, NULL, task) "
                     "FROM t.docs ORDER BY id")
        self.assertEqual([r[1] for r in rows],
                         [v3_vector(TEXT, "retrieval.query"),
                          v3_vector(TEXT, "retrieval.passage"), v3_vector(TEXT), None])
        self.assertIn("task must be 1 to 63 letters, digits", mark())

    def test_warm_with_task_then_rows_with_it_ask_nothing(self):
        texts = ["passage number %d about stouts" % i for i in range(40)]
        make_table([(i, t, "passage") for i, t in enumerate(texts)])
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('d', id), body, 'passage') "
                                "FROM t.docs"), 40)
        self.assertTrue(all(f["task"] == "retrieval.passage" for f in sent_fields()))
        n = Embed.requests()
        rows = query("SELECT cached_embed(CONCAT('d', id), body, NULL, 'passage') "
                     "FROM t.docs ORDER BY id")
        self.assertEqual([r[0] for r in rows], [v3_vector(t, "retrieval.passage") for t in texts])
        self.assertEqual(Embed.requests(), n)
        # without the task these are other entries
        query("SELECT cached_embed(CONCAT('d', id), body) FROM t.docs WHERE id < 3")
        self.assertEqual(Embed.requests(), n + 3)

    def test_warm_with_a_task_column_mixing_tasks(self):
        rows = [(i, "mixed text %d" % (i // 2), "query" if i % 2 else "passage")
                for i in range(30)]
        make_table(rows)
        self.assertEqual(scalar("SELECT cached_embed_warm(CONCAT('m', id), body, task) "
                                "FROM t.docs"), 30)
        n = Embed.requests()
        got = query("SELECT id, cached_embed(CONCAT('m', id), body, NULL, task) "
                    "FROM t.docs ORDER BY id")
        self.assertEqual(Embed.requests(), n)
        for (i, text, task), (_, v) in zip(rows, got):
            self.assertEqual(v, v3_vector(text, "retrieval." + task), "row %d" % i)


class JinaV2Test(ServerTestCase):
    """The default model, jina-embeddings-v2-base-en: Jina's API refuses a
    task field for it, so none is sent."""

    def setUp(self):
        super().setUp()
        Embed.config(record_requests=True)

    def test_no_task_field_for_v2_models(self):
        v = scalar("SELECT cached_embed_query(%s)", (TEXT,))
        self.assertEqual(v, vector_bytes(TEXT))
        p = scalar("SELECT cached_embed('k', %s, NULL, 'passage')", (TEXT,))
        self.assertEqual(p, vector_bytes(TEXT))
        self.assertEqual(len(sent_fields()), 2)
        for f in sent_fields():
            self.assertNotIn("task", f)
            self.assertEqual(f["model"], "jina-embeddings-v2-base-en")


class OpenAIPrefixTest(ServerTestCase):
    """openai dialect: never a task field; prefixes instead."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        set_config(provider="openai", model="e5-test", query_prefix='"query: "',
                   passage_prefix='"passage: "')

    @classmethod
    def tearDownClass(cls):
        restore_config()

    def setUp(self):
        super().setUp()
        Embed.config(record_requests=True, record_texts=True)

    def test_prefixes_reach_the_server_and_no_task_field(self):
        q = scalar("SELECT cached_embed_query(%s)", (TEXT,))
        p = scalar("SELECT cached_embed('k', %s, NULL, 'passage')", (TEXT,))
        plain = scalar("SELECT cached_embed('k', %s)", (TEXT,))
        self.assertEqual(q, vector_bytes("query: " + TEXT))
        self.assertEqual(p, vector_bytes("passage: " + TEXT))
        self.assertEqual(plain, vector_bytes(TEXT))
        self.assertEqual(Embed.stats()["texts"],
                         {"query: " + TEXT: 1, "passage: " + TEXT: 1, TEXT: 1})
        fields = sent_fields()
        self.assertEqual(len(fields), 3)
        for f in fields:
            self.assertEqual(set(f), {"model", "encoding_format"})
        # a task of the provider's own has no prefix and no field
        self.assertEqual(scalar("SELECT cached_embed('c', %s, NULL, 'classification')",
                                (TEXT,)), vector_bytes(TEXT))
        self.assertNotIn("task", sent_fields()[-1])
        keys = sorted(k.decode() for k in entry_keys())
        self.assertIn("cached_embed:v2:e5-test#passage:k", keys)
        self.assertIn("cached_embed:v2:e5-test#classification:c", keys)

    def test_warm_up_sends_the_prefixed_text(self):
        make_table([(i, "doc %d" % i, None) for i in range(10)])
        self.assertEqual(scalar("SELECT cached_embed_warm(id, body, 'passage') FROM t.docs"), 10)
        self.assertEqual(Embed.stats()["texts"], {"passage: doc %d" % i: 1 for i in range(10)})
        n = Embed.requests()
        rows = query("SELECT cached_embed(id, body, NULL, 'passage') FROM t.docs ORDER BY id")
        self.assertEqual([r[0] for r in rows],
                         [vector_bytes("passage: doc %d" % i) for i in range(10)])
        self.assertEqual(Embed.requests(), n)


class TaskArgumentTest(ServerTestCase):
    def refused(self, sql, message):
        """The statement fails at init with exactly `message`: the server
        shows 80 bytes of it, so a longer one would be cut."""
        with self.assertRaises(pymysql.err.OperationalError) as cm:
            query(sql)
        text = cm.exception.args[1]
        self.assertTrue(text.startswith("Can't initialize function"), text)
        self.assertEqual(text.split("; ", 1)[1], message)
        self.assertLessEqual(len(message), 80)

    def test_wrong_types_and_counts_are_refused_at_init(self):
        make_table([(1, "x", "query")])
        sig = "cached_embed(key, text [, ttl_seconds [, task]])"
        self.refused("SELECT cached_embed('k', 't', NULL, 5)",
                     sig + ": task is not a string")
        self.refused("SELECT cached_embed('k', 't', NULL, id) FROM t.docs",
                     sig + ": task is not a string")
        self.refused("SELECT cached_embed('k', 't', 'soon', 'query')",
                     sig + ": ttl_seconds is not a number")
        self.refused("SELECT cached_embed('k', 't', NULL, 'two words')",
                     "cached_embed: task 'two words' is not letters, digits, . - _")
        self.refused("SELECT cached_embed('k', 't', NULL, REPEAT('long-', 20))",
                     "cached_embed: task 'long-long-long-l...' is not letters, digits, . - _")
        self.refused("SELECT cached_embed('k', 't', NULL, 'query', 1)",
                     sig + " takes 2 to 4 arguments, got 5")
        self.refused("SELECT cached_embed_query()",
                     "cached_embed_query(text) expects 1 argument, got 0")
        self.refused("SELECT cached_embed_query('a', 'b')",
                     "cached_embed_query(text) expects 1 argument, got 2")
        wsig = "cached_embed_warm(key, text [, task])"
        self.refused("SELECT cached_embed_warm(id, body, 2.5) FROM t.docs",
                     wsig + ": task is not a string")
        self.refused("SELECT cached_embed_warm(id, body, 'a:b') FROM t.docs",
                     "cached_embed_warm: task 'a:b' is not letters, digits, . - _")
        self.refused("SELECT cached_embed_warm(id, body, task, 1) FROM t.docs",
                     wsig + " expects 2 or 3 arguments, got 4")
        self.assertEqual(Embed.requests(), 0)

    def test_null_and_blank_texts(self):
        self.assertIsNone(scalar("SELECT cached_embed_query(NULL)"))
        self.assertIsNone(scalar("SELECT cached_embed_query('   ')"))
        self.assertIsNone(scalar("SELECT cached_embed('k', NULL, NULL, 'query')"))
        self.assertEqual(Embed.requests(), 0)


if __name__ == "__main__":
    main()
