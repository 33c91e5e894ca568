#!/usr/bin/env python3
"""Tests of the local embeddings server (stdlib unittest).

Run from the repository root, either way:

    /usr/bin/python3 -m unittest tests/embed_server/test_embed_server.py -v
    /usr/bin/python3 tests/embed_server/test_embed_server.py

Each server runs as a subprocess on a spare port (--port 0 --port-file).
"""

import base64
import http.client
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "embed_server.py")
sys.path.insert(0, HERE)

import embed_server  # noqa: E402  (needs the path above)

API_KEY = "sk-test-0123456789abcdef"


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


def decode_b64(text):
    raw = base64.b64decode(text)
    return list(struct.unpack("<%df" % (len(raw) // 4), raw))


class ServerProcess:
    """embed_server.py in a subprocess, stopped with SIGTERM."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="embed_server_test.")
        self.port_file = os.path.join(self.dir, "port")
        self.stdout = open(os.path.join(self.dir, "stdout"), "w+")
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--port-file", self.port_file]
            + list(args), stdout=self.stdout, stderr=self.stderr)
        self.port = self._wait_for_port()

    def _wait_for_port(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    return int(f.read())
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("server did not start: " + self.output())

    def output(self):
        text = ""
        for f in (self.stdout, self.stderr):
            f.flush()
            f.seek(0)
            text += f.read()
        return text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        self.stdout.close()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def connect(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(self, method, path, body=None, headers=None, conn=None, raw=False):
        """(status, headers dict, parsed JSON or bytes when raw)."""
        own = conn is None
        conn = conn or self.connect()
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body)
            hdrs = {"Content-Type": "application/json"}
            hdrs.update(headers or {})
            conn.request(method, path, data, hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return (resp.status, dict(resp.getheaders()),
                    payload if raw else json.loads(payload))
        finally:
            if own:
                conn.close()

    def embed(self, body, **kw):
        return self.call("POST", "/v1/embeddings", body, **kw)

    def control(self, name, body=None):
        method = "GET" if body is None and name in ("stats", "faults") else "POST"
        return self.call(method, "/_control/" + name, body)[2]


class EmbedFunctionTest(unittest.TestCase):
    """embed() itself, no server."""

    def test_unit_length_768_float32(self):
        vec = embed_server.embed("A crisp golden lager with a dry finish.")
        self.assertEqual(len(vec), 768)
        self.assertAlmostEqual(math.sqrt(sum(x * x for x in vec)), 1.0, places=6)
        for x in vec:  # every component is an exact float32 value
            self.assertEqual(struct.unpack("<f", struct.pack("<f", x))[0], x)

    def test_deterministic_and_case_insensitive(self):
        a = embed_server.embed("Hoppy Citrus IPA")
        self.assertEqual(a, embed_server.embed("Hoppy Citrus IPA"))
        self.assertEqual(a, embed_server.embed("hoppy citrus ipa"))
        self.assertNotEqual(a, embed_server.embed("hoppy citrus lager"))

    def test_no_features_is_fixed_unit_vector(self):
        for text in ("!!! ...", "", "  "):
            vec = embed_server.embed(text)
            self.assertEqual(vec[0], 1.0)
            self.assertEqual(sum(abs(x) for x in vec[1:]), 0.0)

    def test_task_changes_vector(self):
        text = "a malty amber ale"
        plain = embed_server.embed(text)
        query = embed_server.embed(text, task="retrieval.query")
        passage = embed_server.embed(text, task="retrieval.passage")
        self.assertNotEqual(plain, query)
        self.assertNotEqual(query, passage)
        self.assertGreater(cosine(query, passage), 0.8)

    def test_dimensions_truncate_and_renormalise(self):
        text = "a malty amber ale with caramel notes"
        full = embed_server.embed(text)
        small = embed_server.embed(text, dimensions=64)
        self.assertEqual(len(small), 64)
        self.assertAlmostEqual(math.sqrt(sum(x * x for x in small)), 1.0, places=6)
        norm = math.sqrt(sum(x * x for x in full[:64]))
        for a, b in zip(small, full[:64]):
            self.assertAlmostEqual(a, b / norm, places=6)

    def test_vector_cache(self):
        cache = embed_server.VectorCache(768, max_bytes=20000)
        first = cache.vector("pale ale")
        self.assertIs(cache.vector("pale ale"), first)
        self.assertEqual(first.tolist(), embed_server.embed("pale ale"))
        self.assertEqual(cache.vector("pale ale", dimensions=8).tolist(),
                         embed_server.embed("pale ale", dimensions=8))
        for i in range(20):  # eviction keeps it under its budget
            cache.vector("beer %d" % i)
        self.assertLessEqual(cache.bytes, 20000)
        self.assertLess(len(cache.data), 20)
        self.assertEqual(embed_server.VectorCache(768, 0).vector("x").tolist(),
                         embed_server.embed("x"))

    def test_answer_from_cached_json_text_is_byte_identical(self):
        texts = ["pale ale", "A roasty chocolate stout", "pale ale", "\u00e9t\u00e9 \"brew\""]
        for as_base64 in (True, False):
            cache = embed_server.VectorCache(768, max_bytes=1 << 20)
            req = embed_server.EmbeddingRequest("m\u00fcnchen \"x\"", texts, 11, as_base64,
                                                None, None)
            slow = embed_server.build_embedding_body(
                req, [embed_server.embed_array(t) for t in texts], as_base64)
            for _ in range(2):  # made, then from the cache
                fast = embed_server.assemble_embedding_body(
                    req, [cache.fragment(t, as_base64=as_base64) for t in texts])
                self.assertEqual(fast, slow)
            self.assertLessEqual(cache.bytes, 1 << 20)
        small = embed_server.VectorCache(768, max_bytes=30000)
        for i in range(20):  # JSON texts count against the budget too
            small.fragment("beer %d" % i, as_base64=False)
        self.assertLessEqual(small.bytes, 30000)
        self.assertEqual(embed_server.VectorCache(768, 0).fragment("x"),
                         embed_server.encode_embedding(embed_server.embed_array("x"), True))

    def test_dims_parameter(self):
        self.assertEqual(len(embed_server.embed("stout", dims=1024)), 1024)

    def test_lexical_meaning(self):
        q = embed_server.embed("hoppy citrus IPA")
        near = embed_server.embed("An IPA with big citrus hop aroma")
        far = embed_server.embed("A roasty chocolate stout")
        self.assertGreater(cosine(q, near), cosine(q, far))
        self.assertGreater(cosine(q, near), 0.2)

    def test_surrogates_and_unicode(self):
        self.assertEqual(len(embed_server.embed("bière \ud800 brassée")), 768)

    def test_tokens(self):
        self.assertEqual(embed_server.count_tokens("Hello, world!"), 4)
        self.assertEqual(embed_server.count_tokens("x"), 1)
        self.assertEqual(embed_server.truncate_tokens("a b, c d", 3), "a b,")


class ServerTest(unittest.TestCase):
    """One shared server, reset before each test."""

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def setUp(self):
        self.assertEqual(self.server.control("reset", {}), {"ok": True})

    def ok(self, body, **kw):
        status, headers, payload = self.server.embed(body, **kw)
        self.assertEqual(status, 200, payload)
        return payload

    def vectors(self, payload):
        out = {}
        for item in payload["data"]:
            emb = item["embedding"]
            out[item["index"]] = decode_b64(emb) if isinstance(emb, str) else emb
        return [out[i] for i in range(len(out))]

    TEXTS = ["A crisp pilsner with noble hops", "Roasty imperial stout, coffee and chocolate",
             "Hazy IPA bursting with citrus", "Belgian tripel, spicy yeast", "Sour gose with salt"]

    # -- protocol ----------------------------------------------------------

    def test_base64_and_float_match_embed(self):
        expected = [embed_server.embed(t) for t in self.TEXTS]
        jina = self.ok({"model": "jina-embeddings-v2-base-en", "input": self.TEXTS,
                        "embedding_type": "base64", "normalized": True})
        openai = self.ok({"model": "m", "input": self.TEXTS, "encoding_format": "base64"})
        floats = self.ok({"model": "m", "input": self.TEXTS, "embedding_type": "float"})
        default = self.ok({"model": "other-model", "input": self.TEXTS})
        for payload in (jina, openai):
            self.assertIsInstance(payload["data"][0]["embedding"], str)
        for payload in (floats, default):
            self.assertIsInstance(payload["data"][0]["embedding"], list)
        for payload in (jina, openai, floats, default):
            self.assertEqual(self.vectors(payload), expected)

    def test_response_shape(self):
        payload = self.ok({"model": "my-model", "input": "Hello, world!"})
        self.assertEqual(payload["model"], "my-model")
        self.assertEqual(payload["object"], "list")
        self.assertEqual(payload["usage"], {"total_tokens": 4, "prompt_tokens": 4})
        self.assertEqual(len(payload["data"]), 1)
        item = payload["data"][0]
        self.assertEqual((item["object"], item["index"]), ("embedding", 0))
        self.assertEqual(len(item["embedding"]), 768)

    def test_embeddings_alias_path(self):
        status, _, payload = self.server.call("POST", "/embeddings",
                                              {"model": "m", "input": ["x"]})
        self.assertEqual(status, 200)
        self.assertEqual(len(payload["data"]), 1)

    def test_task_and_dimensions(self):
        payload = self.ok({"model": "m", "input": self.TEXTS, "dimensions": 256,
                           "task": "retrieval.passage", "embedding_type": "base64"})
        vecs = self.vectors(payload)
        for text, vec in zip(self.TEXTS, vecs):
            self.assertEqual(len(vec), 256)
            self.assertAlmostEqual(math.sqrt(sum(x * x for x in vec)), 1.0, places=5)
            self.assertEqual(vec, embed_server.embed(text, task="retrieval.passage",
                                                     dimensions=256))

    def test_validation_errors(self):
        cases = [
            (b"{not json", 400, str),
            (b"[1, 2]", 400, str),
            ({"input": ["x"]}, 422, list),
            ({"model": "m"}, 422, list),
            ({"model": "m", "input": [1]}, 422, list),
            ({"model": "m", "input": ""}, 400, str),
            ({"model": "m", "input": ["ok", "  \n"]}, 400, str),
            ({"model": "m", "input": []}, 400, str),
            ({"model": "m", "input": ["x"] * 2049}, 413, str),
            ({"model": "m", "input": "x", "dimensions": 0}, 400, str),
            ({"model": "m", "input": "x", "embedding_type": "int8"}, 422, list),
        ]
        for body, status, detail_type in cases:
            code, _, payload = self.server.embed(body)
            self.assertEqual(code, status, (body if isinstance(body, bytes) else str(body)[:80]))
            self.assertIsInstance(payload["detail"], detail_type)
        _, _, payload = self.server.embed({"input": ["x"]})
        self.assertEqual(payload["detail"], [{"loc": ["body", "model"], "msg": "field required",
                                              "type": "value_error.missing"}])
        self.assertEqual(self.server.embed({"model": "m", "input": " "})[2],
                         {"detail": "input must not be empty"})

    def test_too_long_input_and_truncate(self):
        long_text = "word " * 9000
        status, _, payload = self.server.embed({"model": "m", "input": [long_text]})
        self.assertEqual(status, 400)
        self.assertIn("8192", payload["detail"])
        payload = self.ok({"model": "m", "input": [long_text], "truncate": True})
        self.assertEqual(payload["usage"]["total_tokens"], 8192)
        self.assertEqual(self.vectors(payload)[0],
                         embed_server.embed(embed_server.truncate_tokens(long_text, 8192)))

    def test_max_inputs_accepted(self):
        payload = self.ok({"model": "m", "input": ["beer %d" % i for i in range(2048)],
                           "embedding_type": "base64"})
        self.assertEqual(len(payload["data"]), 2048)

    def test_oversized_body_refused_and_counted(self):
        conn = self.server.connect()
        try:
            conn.putrequest("POST", "/v1/embeddings")
            conn.putheader("Content-Length", str(300 << 20))
            conn.endheaders()
            resp = conn.getresponse()
            self.assertEqual(resp.status, 413)
            self.assertEqual(resp.getheader("Connection"), "close")
            self.assertIn("detail", json.loads(resp.read()))
        finally:
            conn.close()
        stats = self.server.control("stats")
        self.assertEqual((stats["requests"], stats["errors"]), (1, 1))

    def test_chunked_request_body(self):
        conn = self.server.connect()
        try:
            body = json.dumps({"model": "m", "input": ["chunked ale"]}).encode()
            conn.request("POST", "/v1/embeddings", iter([body[:10], body[10:]]),
                         {"Content-Type": "application/json"}, encode_chunked=True)
            resp = conn.getresponse()
            payload = json.loads(resp.read())
        finally:
            conn.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(payload["data"][0]["embedding"], embed_server.embed("chunked ale"))

    def test_not_found(self):
        status, _, payload = self.server.call("POST", "/v1/nothing", {})
        self.assertEqual(status, 404)
        self.assertEqual(payload, {"error": {"message": "not found",
                                             "type": "invalid_request_error"}})
        self.assertEqual(self.server.call("GET", "/", None)[0], 404)

    # -- control API -------------------------------------------------------

    def test_stats_counters(self):
        self.ok({"model": "m", "input": ["a", "b", "c"]})
        self.ok({"model": "m", "input": "d"})
        self.server.embed({"model": "m", "input": ""})
        stats = self.server.control("stats")
        self.assertEqual(stats["requests"], 3)
        self.assertEqual(stats["inputs"], 4)
        self.assertEqual(stats["ok"], 2)
        self.assertEqual(stats["errors"], 1)
        self.assertEqual(stats["by_status"], {"200": 2, "400": 1})
        self.assertNotIn("texts", stats)

    def test_record_texts(self):
        self.server.control("config", {"record_texts": True})
        self.ok({"model": "m", "input": ["a", "b", "a"]})
        self.assertEqual(self.server.control("stats")["texts"], {"a": 2, "b": 1})

    def test_record_requests(self):
        self.ok({"model": "m", "input": ["a"]})
        self.assertNotIn("request_fields", self.server.control("stats"))
        self.server.control("config", {"record_requests": True})
        self.ok({"model": "m", "input": ["a", "b"], "task": "retrieval.query",
                 "embedding_type": "base64"})
        self.ok({"model": "m2", "input": "c", "encoding_format": "float"})
        self.server.embed({"model": "m", "input": ""})  # refused: not recorded
        self.assertEqual(self.server.control("stats")["request_fields"], [
            {"model": "m", "task": "retrieval.query", "embedding_type": "base64"},
            {"model": "m2", "encoding_format": "float"}])
        self.server.control("reset", {})
        self.assertNotIn("request_fields", self.server.control("stats"))

    def test_reset(self):
        self.server.control("config", {"latency_ms": 500, "shuffle": True})
        self.server.control("faults", {"faults": [{"status": 500}]})
        self.server.control("reset", {})
        self.assertEqual(self.server.control("faults"), {"faults": []})
        start = time.monotonic()
        payload = self.ok({"model": "m", "input": self.TEXTS})
        self.assertLess(time.monotonic() - start, 0.4)
        self.assertEqual([d["index"] for d in payload["data"]], list(range(5)))
        self.assertEqual(self.server.control("stats")["requests"], 1)

    def test_bad_control_input(self):
        for name, body in (("config", {"nope": 1}), ("config", {"latency_ms": -1}),
                           ("faults", {"faults": [{"kind": "explode"}]}),
                           ("faults", {"faults": [{"status": 200}]}), ("faults", [])):
            status, _, payload = self.server.call("POST", "/_control/" + name, body)
            self.assertEqual(status, 400, (name, body))
            self.assertIn("detail", payload)

    def test_latency(self):
        self.server.control("config", {"latency_ms": 150})
        start = time.monotonic()
        self.ok({"model": "m", "input": self.TEXTS})  # once per request, not per input
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.15)
        self.assertLess(elapsed, 0.6)

    def test_shuffle_keeps_index(self):
        self.server.control("config", {"shuffle": True})
        texts = ["text number %d" % i for i in range(10)]
        first = self.ok({"model": "m", "input": texts, "embedding_type": "base64"})
        order = [d["index"] for d in first["data"]]
        self.assertNotEqual(order, sorted(order))
        self.assertEqual(sorted(order), list(range(10)))
        self.assertEqual(self.vectors(first), [embed_server.embed(t) for t in texts])
        again = self.ok({"model": "m", "input": texts, "embedding_type": "base64"})
        self.assertEqual([d["index"] for d in again["data"]], order)  # deterministic

    def test_force_float(self):
        self.server.control("config", {"force_float": True})
        payload = self.ok({"model": "m", "input": ["x"], "embedding_type": "base64"})
        self.assertIsInstance(payload["data"][0]["embedding"], list)

    def test_keep_alive_counts_one_connection(self):
        conn = self.server.connect()
        try:
            for _ in range(2):
                self.ok({"model": "m", "input": ["x"]}, conn=conn)
            stats = self.server.call("GET", "/_control/stats", conn=conn)[2]
        finally:
            conn.close()
        self.assertEqual(stats["requests"], 2)
        self.assertEqual(stats["connections"], 1)

    # -- faults ------------------------------------------------------------

    def queue(self, *faults):
        return self.server.control("faults", {"faults": list(faults)})["faults"]

    def test_status_faults_with_retry_after_and_count(self):
        pending = self.queue({"status": 429, "retry_after": "1", "count": 2},
                             {"status": 503, "message": "overloaded"}, {"status": 400})
        self.assertEqual([(f["status"], f["count"]) for f in pending],
                         [(429, 2), (503, 1), (400, 1)])
        body = {"model": "m", "input": ["x"]}
        for _ in range(2):
            status, headers, payload = self.server.embed(body)
            self.assertEqual(status, 429)
            self.assertEqual(headers.get("Retry-After"), "1")
            self.assertIsInstance(payload["detail"], str)
        self.assertEqual([f["status"] for f in self.server.control("faults")["faults"]],
                         [503, 400])
        status, headers, payload = self.server.embed(body)
        self.assertEqual(status, 503)
        self.assertNotIn("Retry-After", headers)
        self.assertEqual(payload, {"error": {"message": "overloaded", "type": "server_error"}})
        self.assertEqual(self.server.embed(body)[0], 400)
        self.assertEqual(self.server.embed(body)[0], 200)  # queue is empty
        stats = self.server.control("stats")
        self.assertEqual(stats["by_status"], {"429": 2, "503": 1, "400": 1, "200": 1})
        self.assertEqual((stats["requests"], stats["ok"], stats["errors"]), (5, 1, 4))

    def test_status_fault_echoing_the_authorization_header(self):
        self.queue({"status": 401, "echo_auth": True, "message": "bad key"},
                   {"status": 502, "echo_auth": True})
        body = {"model": "m", "input": ["x"]}
        status, _, payload = self.server.embed(body, headers={"Authorization": "Bearer sk-echo-1"})
        self.assertEqual(status, 401)
        self.assertEqual(payload, {"detail": "bad key (Authorization: Bearer sk-echo-1)"})
        status, _, payload = self.server.embed(body, headers={"Authorization": "Bearer sk-echo-2"})
        self.assertEqual(status, 502)
        self.assertIn("(Authorization: Bearer sk-echo-2)", payload["error"]["message"])
        self.assertEqual(self.server.embed(body)[0], 200)
        status, _, _ = self.server.call("POST", "/_control/faults",
                                        {"faults": [{"status": 401, "echo_auth": "yes"}]})
        self.assertEqual(status, 400)

    def test_hang(self):
        self.queue({"kind": "hang", "ms": 800})
        conn = self.server.connect(timeout=0.2)
        conn.request("POST", "/v1/embeddings", json.dumps({"model": "m", "input": "x"}))
        with self.assertRaises(socket.timeout):
            conn.getresponse()
        conn.close()
        start = time.monotonic()
        self.ok({"model": "m", "input": "x"})  # consumed: the next one is quick
        self.assertLess(time.monotonic() - start, 0.5)

    def test_hang_then_answers_normally(self):
        self.queue({"kind": "hang", "ms": 200})
        start = time.monotonic()
        payload = self.ok({"model": "m", "input": "x"})
        self.assertGreaterEqual(time.monotonic() - start, 0.2)
        self.assertEqual(len(payload["data"]), 1)

    def test_close(self):
        self.queue({"kind": "close"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.server.embed({"model": "m", "input": "x"})
        self.ok({"model": "m", "input": "x"})
        stats = self.server.control("stats")
        self.assertEqual((stats["requests"], stats["errors"], stats["closed"]), (2, 1, 1))

    def test_malformed(self):
        self.queue({"kind": "malformed"})
        status, _, raw = self.server.embed({"model": "m", "input": ["x", "y"]}, raw=True)
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(raw)
        self.ok({"model": "m", "input": "x"})

    def data_fault(self, kind, fmt="base64", n=3):
        self.queue({"kind": kind})
        texts = self.TEXTS[:n]
        payload = self.ok({"model": "m", "input": texts, "embedding_type": fmt})
        clean = self.ok({"model": "m", "input": texts, "embedding_type": fmt})
        # The fault was consumed once and did not damage the server's vector cache.
        self.assertEqual(self.vectors(clean), [embed_server.embed(t) for t in texts])
        return payload["data"]

    def test_missing(self):
        self.assertEqual(len(self.data_fault("missing")), 2)

    def test_extra(self):
        data = self.data_fault("extra")
        self.assertEqual(len(data), 4)
        self.assertEqual(data[-1]["index"], 3)

    def test_wrong_length(self):
        lengths = [len(decode_b64(d["embedding"])) for d in self.data_fault("wrong_length")]
        self.assertEqual(sorted(lengths), [767, 768, 768])

    def test_nan_base64(self):
        vecs = [decode_b64(d["embedding"]) for d in self.data_fault("nan")]
        self.assertEqual(sum(any(math.isnan(x) for x in v) for v in vecs), 1)

    def test_nan_float(self):
        vecs = [d["embedding"] for d in self.data_fault("nan", fmt="float")]
        self.assertEqual(sum(any(math.isnan(x) for x in v) for v in vecs), 1)

    def test_bad_index(self):
        indexes = [d["index"] for d in self.data_fault("bad_index")]
        self.assertEqual(len(indexes), 3)
        self.assertLess(len(set(indexes)), 3)

    def test_huge(self):
        self.queue({"kind": "huge", "bytes": 3 << 20})
        status, _, raw = self.server.embed({"model": "m", "input": ["x"]}, raw=True)
        self.assertEqual(status, 200)
        self.assertEqual(len(raw), 3 << 20)
        payload = json.loads(raw)  # valid JSON: one item of zeros
        self.assertEqual(len(payload["data"]), 1)
        self.assertGreater(len(payload["data"][0]["embedding"]), 1 << 20)
        self.assertEqual(set(payload["data"][0]["embedding"]), {0})
        self.ok({"model": "m", "input": "x"})  # used up
        for bad in (0, -1, True, "1", (1 << 30) + 1):
            status, _, _ = self.server.call("POST", "/_control/faults",
                                            {"faults": [{"kind": "huge", "bytes": bad}]})
            self.assertEqual(status, 400, bad)

    def test_max_request_tokens(self):
        texts = ["one two three four five"] * 4  # 5 tokens each
        self.server.control("config", {"max_request_tokens": 19})
        status, _, payload = self.server.embed({"model": "m", "input": texts})
        self.assertEqual(status, 400)
        self.assertEqual(payload["error"]["message"],
                         "Requested 20 tokens, max 19 tokens per request")
        self.assertEqual(payload["error"]["code"], "max_tokens_per_request")
        self.assertEqual(len(self.ok({"model": "m", "input": texts[:3]})["data"]), 3)
        self.server.control("config", {"max_request_tokens": 20})
        self.assertEqual(len(self.ok({"model": "m", "input": texts})["data"]), 4)
        for bad in (-1, 1.5, True):
            status, _, _ = self.server.call("POST", "/_control/config",
                                            {"max_request_tokens": bad})
            self.assertEqual(status, 400, bad)
        # reset restores the command line's value (no cap)
        self.server.control("reset", {})
        self.assertEqual(len(self.ok({"model": "m", "input": texts * 10})["data"]), 40)

    def test_fault_count_on_data_fault(self):
        self.queue({"kind": "missing", "count": 2})
        body = {"model": "m", "input": ["x", "y"]}
        self.assertEqual([len(self.ok(body)["data"]) for _ in range(3)], [1, 1, 2])


class ApiKeyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="embed_server_key.")
        self.log = os.path.join(self.tmp, "requests.log")
        self.server = ServerProcess("--api-key", API_KEY, "--log", self.log)

    def tearDown(self):
        self.server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_api_key(self):
        body = {"model": "m", "input": ["x"]}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
            status, _, payload = self.server.embed(body, headers=headers)
            self.assertEqual(status, 401)
            self.assertEqual(payload, {"detail": "invalid api key"})
            self.assertNotIn(API_KEY, json.dumps(payload))
        status, _, _ = self.server.embed(body, headers={"Authorization": "Bearer " + API_KEY})
        self.assertEqual(status, 200)
        stats = self.server.control("stats")
        self.assertEqual(stats["by_status"], {"401": 3, "200": 1})
        self.assertNotIn(API_KEY, json.dumps(stats))
        self.assertEqual(self.server.stop(), 0)
        output = self.server.output()
        with open(self.log) as f:
            log = f.read()
        self.assertIn("/v1/embeddings", log)
        self.assertNotIn(API_KEY, output + log)
        self.assertNotIn("Authorization", output + log)


class LifecycleTest(unittest.TestCase):
    def test_deterministic_across_restarts_and_clean_stop(self):
        body = {"model": "m", "input": ServerTest.TEXTS, "embedding_type": "base64"}
        answers = []
        for _ in range(2):
            server = ServerProcess("--quiet")
            try:
                answers.append(server.embed(body)[2])
                self.assertEqual(server.stop(), 0)
                self.assertFalse(os.path.exists(server.port_file))
                self.assertEqual(server.output().strip(),
                                 "listening on 127.0.0.1:%d" % server.port)
            finally:
                server.cleanup()
        self.assertEqual(answers[0], answers[1])

    def test_max_request_tokens_option(self):
        server = ServerProcess("--max-request-tokens", "3")
        try:
            status, _, payload = server.embed({"model": "m", "input": ["a b", "c d"]})
            self.assertEqual(status, 400)
            self.assertIn("max 3 tokens per request", payload["error"]["message"])
            self.assertEqual(server.embed({"model": "m", "input": ["a b c"]})[0], 200)
        finally:
            server.cleanup()

    def test_dims_option_and_sigint(self):
        server = ServerProcess("--dims", "64")
        try:
            payload = server.embed({"model": "m", "input": "x"})[2]
            self.assertEqual(len(payload["data"][0]["embedding"]), 64)
            server.proc.send_signal(signal.SIGINT)
            self.assertEqual(server.proc.wait(10), 0)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
