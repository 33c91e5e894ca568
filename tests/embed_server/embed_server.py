#!/usr/bin/env python3
"""A local, offline, deterministic Jina-compatible embeddings server.

It speaks the subset of the Jina embeddings API (which is OpenAI-compatible)
that cached_embed uses: ``POST /v1/embeddings`` (and ``POST /embeddings``)
with ``model`` and ``input`` plus the Jina (``embedding_type``, ``normalized``,
``task``, ``dimensions``, ``truncate``) and OpenAI (``encoding_format``)
options.  A ``/_control/...`` API lets tests read counters, change latency and
response order, and queue faults (error statuses, hangs, dropped connections,
corrupt bodies).  HTTP/1.1 with keep-alive, one thread per connection.

The vectors are NOT from a neural model.  ``embed()`` hashes lexical features
of the text (lower-cased word unigrams, word bigrams, character trigrams
within words) into ``dims`` signed buckets and L2-normalises the sums, so texts
that share words or word pieces get a high cosine similarity.  Vectors are a
pure function of (text, dims, task, dimensions): the same on every run and
machine.  The model name never changes them.  Hashes of words and bigrams are
memoised and vectors of repeated texts cached (bounded), for speed.

Standard library only.  Run with Debian's interpreter::

    /usr/bin/python3 tests/embed_server/embed_server.py --port 0 --port-file /tmp/port
"""

import argparse
import base64
import functools
import hmac
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import zlib
from array import array
from collections import Counter, deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DEFAULT_DIMS = 768
MAX_INPUTS = 2048           # Jina: inputs per request
MAX_TOKENS = 8192           # Jina: tokens per input
MAX_BODY_BYTES = 256 << 20  # 2048 inputs of 8192 tokens fit comfortably

# Feature weights (see embed()).
WEIGHT_WORD = 1.0
WEIGHT_BIGRAM = 0.5
WEIGHT_TRIGRAM = 0.3
WEIGHT_TASK = 0.3

# crc32 start value for the sign hash.  CRC is affine in its start value, so
# the salted CRC alone would leak the bucket's low bits into the sign; the
# multiplication by a golden-ratio constant mixes all 32 bits into bit 31.
SIGN_SALT = 0x5BD1E995
SIGN_MIX = 0x9E3779B1

# A memo (per dims) is cleared when it reaches this many entries: about 1.4 KB
# per word and 250 B per bigram, so at worst (every word new) ~100 MB.
WORD_MEMO_LIMIT = 50_000
BIGRAM_MEMO_LIMIT = 100_000

FAULT_KINDS = ("status", "hang", "close", "malformed", "missing", "extra",
               "wrong_length", "nan", "bad_index", "huge")
CONFIG_KEYS = ("latency_ms", "shuffle", "force_float", "record_texts", "max_request_tokens",
               "record_requests")
HUGE_MAX_BYTES = 1 << 30    # the largest body the "huge" fault sends
RECORDED_REQUESTS = 100     # record_requests keeps the fields of the last 100

_WORD_RE = re.compile(r"\w+")
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


# --------------------------------------------------------------------------
# Vectors

def _utf8(text):
    # JSON allows lone surrogates ("\ud800"); they must not crash the hash.
    return text.encode("utf-8", "surrogatepass")


def _signed(crc, salted_crc, weight, dims):
    """Bucket and signed weight from a feature's plain and salted crc32."""
    negative = ((salted_crc * SIGN_MIX) >> 31) & 1
    return crc % dims, (-weight if negative else weight)


def _hash_feature(data, weight, dims):
    """Bucket and signed weight of one feature (bytes)."""
    return _signed(zlib.crc32(data), zlib.crc32(data, SIGN_SALT), weight, dims)


class _Word:
    """What a word contributes, hashed once.

    ``feats`` are the (bucket, weight) pairs of its unigram and trigrams.
    ``head`` and ``salted_head`` are the running crc32 of the bigram prefix
    b"b\0<word> ": crc32(next_word, head) == crc32(b"b\0<word> <next_word>"),
    so a bigram costs two crc32 calls over the second word only.
    """

    __slots__ = ("feats", "data", "head", "salted_head")

    def __init__(self, word, dims):
        self.data = _utf8(word)
        prefix = b"b\0" + self.data + b" "
        self.head = zlib.crc32(prefix)
        self.salted_head = zlib.crc32(prefix, SIGN_SALT)
        sums = {}
        i, w = _hash_feature(b"w\0" + self.data, WEIGHT_WORD, dims)
        sums[i] = w
        padded = "<" + word + ">"  # boundary marks: "<ho" differs from "ho" mid-word
        for k in range(len(padded) - 2):
            data = b"t\0" + _utf8(padded[k:k + 3])
            i, w = _hash_feature(data, WEIGHT_TRIGRAM, dims)
            sums[i] = sums.get(i, 0.0) + w
        self.feats = tuple((i, w) for i, w in sums.items() if w != 0.0)


class _FeatureTable:
    """Memoised feature hashes for one vector size.

    Hashing is the slow part in pure Python; words and bigrams repeat a lot
    across a corpus, so each is hashed once.  Races between threads only
    duplicate work (dict operations are atomic under the GIL).
    """

    def __init__(self, dims):
        self.dims = dims
        self.words = {}    # word -> _Word
        self.bigrams = {}  # (word, word) -> (bucket, weight)

    def word(self, word):
        entry = self.words.get(word)
        if entry is None:
            entry = _Word(word, self.dims)
            if len(self.words) >= WORD_MEMO_LIMIT:
                self.words.clear()
            self.words[word] = entry
        return entry

    def bigram(self, pair):
        feat = self.bigrams.get(pair)
        if feat is None:
            first, second = self.word(pair[0]), self.word(pair[1])
            feat = _signed(zlib.crc32(second.data, first.head),
                           zlib.crc32(second.data, first.salted_head),
                           WEIGHT_BIGRAM, self.dims)
            if len(self.bigrams) >= BIGRAM_MEMO_LIMIT:
                self.bigrams.clear()
            self.bigrams[pair] = feat
        return feat

    def task(self, task):
        return _hash_feature(b"__task__" + _utf8(task), WEIGHT_TASK, self.dims)


_tables = {}


def _table(dims):
    table = _tables.get(dims)
    if table is None:
        table = _tables.setdefault(dims, _FeatureTable(dims))
    return table


def _feature_sums(text, dims, task):
    """Un-normalised bucket sums, or None when the text has no word."""
    words = _WORD_RE.findall(text.lower())
    if not words:
        return None
    table = _table(dims)
    sums = [0.0] * dims
    memo = table.words
    for word, count in Counter(words).items():
        for i, w in (memo.get(word) or table.word(word)).feats:
            sums[i] += w * count
    if len(words) > 1:
        memo = table.bigrams
        for pair, count in Counter(zip(words, words[1:])).items():
            i, w = memo.get(pair) or table.bigram(pair)
            sums[i] += w * count
    if task:
        i, w = table.task(task)
        sums[i] += w
    return sums


def _unit_float32(values):
    """values / ||values|| as float32; a fixed unit vector if the norm is 0."""
    norm = math.hypot(*values)
    if not norm or not math.isfinite(norm):
        out = array("f", bytes(4 * len(values)))
        out[0] = 1.0
        return out
    scale = 1.0 / norm
    return array("f", [x * scale for x in values])


def embed_array(text, dims=DEFAULT_DIMS, task=None, dimensions=None):
    """embed() as an array('f') (native float32), the fast path of the server."""
    sums = _feature_sums(text, dims, task)
    if sums is None:
        sums = [0.0] * dims  # becomes the fixed unit vector (1, 0, 0, ...)
    if dimensions is not None and dimensions < dims:
        # Matryoshka: the first components of the full vector, renormalised.
        # Normalising is scale-invariant, so cutting the raw sums is the same.
        sums = sums[:dimensions]
    return _unit_float32(sums)


def embed(text, dims=DEFAULT_DIMS, task=None, dimensions=None):
    """The deterministic embedding of ``text``: a list of unit-length floats.

    Every component is an exact float32 value (converted to Python float).
    Features: lower-cased word unigrams (weight 1.0), word bigrams (0.5) and
    character trigrams of "<word>" (0.3), each hashed with crc32 into one of
    ``dims`` buckets with a crc32-derived sign.  ``task`` adds one extra
    feature so different tasks give different vectors.  ``dimensions`` keeps
    the first components and renormalises.  Text without any word (e.g.
    only punctuation) gives (1, 0, 0, ...).
    """
    return embed_array(text, dims, task, dimensions).tolist()


def float32_bytes(vector):
    """Little-endian float32 bytes of an array('f')."""
    if sys.byteorder != "little":
        vector = array("f", vector)
        vector.byteswap()
    return vector.tobytes()


class VectorCache:
    """A bounded FIFO cache of vectors keyed by (text, task, dimensions), and
    of each vector's JSON text as an answer carries it (base64 string or
    float array), made the first time an answer needs it.

    Vectors are deterministic, so caching is invisible to clients; it makes a
    benchmark re-run (Redis flushed, same texts) cost a dict lookup per input,
    and a cached vector's JSON text is never formatted again (the benchmark
    fills the cache first: a remote provider's compute is not on our cores).
    Lookups are lock-free (atomic dict reads); inserts and eviction are locked.
    """

    ENTRY_OVERHEAD = 200  # rough bytes of key tuple, dict slot and array header

    def __init__(self, dims, max_bytes):
        self.dims = dims
        self.max_bytes = max_bytes
        self.bytes = 0
        self.data = {}  # key -> [vector, base64 JSON text, float JSON text]
        self.lock = threading.Lock()

    def vector(self, text, task=None, dimensions=None):
        return self._entry(text, task, dimensions)[0]

    def fragment(self, text, task=None, dimensions=None, as_base64=True):
        """The vector's JSON text (bytes) in an answer: "<base64>" or [..]."""
        entry = self._entry(text, task, dimensions)
        slot = 1 if as_base64 else 2
        frag = entry[slot]
        if frag is None:
            frag = encode_embedding(entry[0], as_base64)
            if self.max_bytes > 0:
                with self.lock:
                    if entry[slot] is None and self.data.get((text, task, dimensions)) is entry:
                        entry[slot] = frag
                        self.bytes += len(frag)
                        self._evict()
        return frag

    def _entry(self, text, task, dimensions):
        key = (text, task, dimensions)
        entry = self.data.get(key)
        if entry is None:
            entry = [embed_array(text, self.dims, task, dimensions), None, None]
            if self.max_bytes > 0:
                entry = self._put(key, entry)
        return entry

    @classmethod
    def _size(cls, key, entry):
        return (len(key[0]) + 4 * len(entry[0]) + cls.ENTRY_OVERHEAD +
                sum(len(f) for f in entry[1:] if f is not None))

    def _put(self, key, entry):
        with self.lock:
            if key in self.data:
                return self.data[key]
            self.data[key] = entry
            self.bytes += self._size(key, entry)
            self._evict()
        return entry

    def _evict(self):
        while self.bytes > self.max_bytes and self.data:
            old_key = next(iter(self.data))  # oldest insert
            self.bytes -= self._size(old_key, self.data.pop(old_key))


def encode_embedding(vector, as_base64):
    """The JSON text (ASCII bytes) of one array('f') in an answer."""
    if as_base64:
        return b'"' + base64.b64encode(float32_bytes(vector)) + b'"'
    return json.dumps(vector.tolist(), separators=(",", ":")).encode("ascii")


@functools.lru_cache(maxsize=1 << 16)
def count_tokens(text):
    """Deterministic token count: words plus punctuation marks, at least 1.
    Remembered for the last 65,536 texts: a benchmark sends the same texts
    run after run, and a remote provider's work is not on our cores."""
    return max(1, len(_TOKEN_RE.findall(text)))


def truncate_tokens(text, limit):
    """The prefix of ``text`` that holds its first ``limit`` tokens."""
    last = next(itertools.islice(_TOKEN_RE.finditer(text), limit - 1, None), None)
    return text if last is None else text[:last.end()]


# --------------------------------------------------------------------------
# Request validation (errors shaped like Jina's FastAPI answers)

class ApiError(Exception):
    """An HTTP error answer: status, JSON body, extra headers."""

    def __init__(self, status, body, headers=(), close=False):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = tuple(headers)
        self.close = close


def _detail(status, message, close=False):
    return ApiError(status, {"detail": message}, close=close)


def _unprocessable(field, msg, kind):
    loc = ["body"] + (field if isinstance(field, list) else [field])
    return ApiError(422, {"detail": [{"loc": loc, "msg": msg, "type": kind}]})


def _optional(payload, field, types, type_name):
    value = payload.get(field)
    if value is None:
        return None
    # bool is an int subclass: reject True where an int is wanted.
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise _unprocessable(field, "value is not a valid " + type_name,
                             "type_error." + type_name)
    return value


class EmbeddingRequest:
    """A validated /v1/embeddings request."""

    def __init__(self, model, texts, tokens, as_base64, task, dimensions, fields=None):
        self.fields = fields or {}  # every field of the body but input
        self.model = model
        self.texts = texts
        self.tokens = tokens
        self.as_base64 = as_base64
        self.task = task
        self.dimensions = dimensions


def parse_embedding_request(body, dims, max_request_tokens=0):
    """Validate a request body (bytes); raise ApiError on any problem.
    ``max_request_tokens`` > 0 caps the tokens summed over all inputs, the way
    OpenAI does (400, type ``max_tokens_per_request``)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise _detail(400, "invalid JSON body: %s" % err) from None
    if not isinstance(payload, dict):
        raise _detail(400, "request body must be a JSON object")

    model = payload.get("model")
    if model is None:
        raise _unprocessable("model", "field required", "value_error.missing")
    if not isinstance(model, str):
        raise _unprocessable("model", "str type expected", "type_error.str")

    texts = payload.get("input")
    if texts is None:
        raise _unprocessable("input", "field required", "value_error.missing")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list):
        raise _unprocessable("input", "value is not a valid list", "type_error.list")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise _unprocessable(["input", i], "str type expected", "type_error.str")

    formats = set()
    for field in ("embedding_type", "encoding_format"):
        value = _optional(payload, field, (str,), "str")
        if value is not None and value not in ("float", "base64"):
            raise _unprocessable(field, "unsupported value %r (float or base64)" % value,
                                 "value_error")
        formats.add(value)
    _optional(payload, "normalized", (bool,), "bool")  # vectors are always unit length
    truncate = _optional(payload, "truncate", (bool,), "bool")
    task = _optional(payload, "task", (str,), "str")
    dimensions = _optional(payload, "dimensions", (int,), "integer")

    if not texts:
        raise _detail(400, "input must not be empty")
    if len(texts) > MAX_INPUTS:
        raise _detail(413, "too many inputs: %d > %d per request" % (len(texts), MAX_INPUTS))
    if dimensions is not None and not 1 <= dimensions <= dims:
        raise _detail(400, "dimensions must be between 1 and %d, got %d" % (dims, dimensions))

    tokens = 0
    kept = []
    for i, text in enumerate(texts):
        if not text.strip():
            raise _detail(400, "input must not be empty")
        n = count_tokens(text)
        if n > MAX_TOKENS:
            if not truncate:
                raise _detail(400, "input %d is too long: %d tokens > %d; set truncate to true"
                              % (i, n, MAX_TOKENS))
            text, n = truncate_tokens(text, MAX_TOKENS), MAX_TOKENS
        tokens += n
        kept.append(text)
    if max_request_tokens and tokens > max_request_tokens:
        raise too_many_tokens_error(tokens, max_request_tokens)
    fields = {k: v for k, v in payload.items() if k != "input"}
    return EmbeddingRequest(model, kept, tokens, "base64" in formats, task, dimensions,
                            fields)


# --------------------------------------------------------------------------
# Responses

def _shuffled(items, texts):
    """A deterministic non-identity permutation (seeded by the texts)."""
    seed = zlib.crc32(_utf8("\0".join(texts)))
    order = list(items)
    random.Random(seed).shuffle(order)
    if len(order) > 1 and order == items:
        order = order[1:] + order[:1]
    return order


def _corrupt(items, kind):
    """Apply a data fault to the [index, vector] items (in place)."""
    n = len(items)
    if kind == "missing":
        items.pop()
    elif kind == "extra":
        items.append([n, array("f", items[-1][1])])
    elif kind == "wrong_length":
        items[-1][1] = items[-1][1][:-1]
    elif kind == "nan":
        vector = array("f", items[-1][1])
        vector[0] = math.nan
        items[-1][1] = vector
    elif kind == "bad_index":
        if n > 1:
            items[-1][0] = items[0][0]  # a duplicated index
        else:
            items[0][0] = 1             # one input: an out-of-range index


def build_embedding_body(request, vectors, as_base64, shuffle=False, fault_kind=None):
    """The JSON body (bytes) of a 200 answer, with optional shuffle/fault."""
    items = [[i, v] for i, v in enumerate(vectors)]
    if shuffle:
        items = _shuffled(items, request.texts)
    if fault_kind:
        _corrupt(items, fault_kind)
    if as_base64:
        encode = lambda v: base64.b64encode(float32_bytes(v)).decode("ascii")
    else:
        encode = array.tolist
    payload = {
        "model": request.model,
        "object": "list",
        "usage": {"total_tokens": request.tokens, "prompt_tokens": request.tokens},
        "data": [{"object": "embedding", "index": i, "embedding": encode(v)}
                 for i, v in items],
    }
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    if fault_kind == "malformed":
        body = body[:max(1, len(body) // 2)]  # a cut JSON object never parses
    return body


def assemble_embedding_body(request, fragments):
    """The same bytes as build_embedding_body (no shuffle, no fault) from each
    vector's JSON text (VectorCache.fragment): no number is formatted."""
    head = b'{"model":%s,"object":"list","usage":{"total_tokens":%d,"prompt_tokens":%d},"data":[' % (
        json.dumps(request.model).encode("ascii"), request.tokens, request.tokens)
    return head + b",".join(b'{"object":"embedding","index":%d,"embedding":%s}' % (i, f)
                            for i, f in enumerate(fragments)) + b"]}"


def too_many_tokens_error(tokens, limit):
    """OpenAI's answer to a request over its summed-token cap."""
    return ApiError(400, {"error": {
        "message": "Requested %d tokens, max %d tokens per request" % (tokens, limit),
        "type": "max_tokens_per_request", "param": None, "code": "max_tokens_per_request"}})


def huge_body(model, size):
    """A 200 body of exactly ``size`` bytes (at least the frame): one item whose
    embedding is an array of zeros, the cheapest JSON text per value."""
    head = ('{"object":"list","model":%s,"usage":{"total_tokens":1,"prompt_tokens":1},'
            '"data":[{"object":"embedding","index":0,"embedding":[0'
            % json.dumps(model)).encode("ascii")
    tail = b"]}]}"
    pairs = max(0, size - len(head) - len(tail)) // 2
    pad = max(0, size - len(head) - len(tail)) - 2 * pairs
    return head + b",0" * pairs + b" " * pad + tail


def status_fault_error(fault, authorization=""):
    """ApiError for a queued {"status": ...} fault. With "echo_auth", the
    message ends with the request's Authorization header, as a careless
    gateway would echo it (never logged by this server)."""
    status = fault["status"]
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = "error"
    message = fault.get("message") or "injected fault: %d %s" % (status, phrase)
    if fault.get("echo_auth"):
        message += " (Authorization: %s)" % authorization
    if status < 500:
        body = {"detail": message}
    else:
        body = {"error": {"message": message, "type": "server_error"}}
    headers = []
    if fault.get("retry_after") is not None:
        headers.append(("Retry-After", str(fault["retry_after"])))
    return ApiError(status, body, headers)


# --------------------------------------------------------------------------
# Shared state: counters, config, fault queue

def validate_fault(spec):
    """A normalised copy of one fault spec, or ValueError."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    fault = dict(spec)
    if fault.get("kind") is None and fault.get("status") is not None:
        fault["kind"] = "status"
    kind = fault.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
    if kind == "status":
        status = fault.get("status")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ValueError("status must be an integer between 400 and 599")
    if kind == "huge":
        size = fault.setdefault("bytes", 64 << 20)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= HUGE_MAX_BYTES:
            raise ValueError("huge bytes must be an integer 1..%d" % HUGE_MAX_BYTES)
    if kind == "hang":
        ms = fault.setdefault("ms", 5000)
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
            raise ValueError("hang ms must be a number >= 0")
    count = fault.setdefault("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be an integer >= 1")
    if "message" in fault and not isinstance(fault["message"], str):
        raise ValueError("message must be a string")
    if not isinstance(fault.get("echo_auth", False), bool):
        raise ValueError("echo_auth must be true or false")
    return fault


def validate_config(update):
    if not isinstance(update, dict):
        raise ValueError("config must be a JSON object")
    for key, value in update.items():
        if key not in CONFIG_KEYS:
            raise ValueError("unknown config key %r (one of %s)" % (key, ", ".join(CONFIG_KEYS)))
        if key == "latency_ms":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError("latency_ms must be a number >= 0")
        elif key == "max_request_tokens":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("max_request_tokens must be an integer >= 0 (0: no cap)")
        elif not isinstance(value, bool):
            raise ValueError("%s must be true or false" % key)
    return update


class ServerState:
    """Counters, runtime config and the fault queue, behind one lock."""

    def __init__(self, defaults):
        self.lock = threading.Lock()
        self.defaults = dict(defaults)
        self.stopping = threading.Event()  # wakes sleeping requests on shutdown
        self.reset()

    def reset(self):
        with self.lock:
            self.config = dict(self.defaults)
            self.requests = self.inputs = self.ok = self.errors = 0
            self.connections = self.closed = 0
            self.in_flight = self.most_in_flight = 0
            self.by_status = Counter()
            self.texts = Counter()
            self.request_fields = deque(maxlen=RECORDED_REQUESTS)
            self.faults = deque()  # [spec, remaining]

    def configure(self, update):
        with self.lock:
            self.config.update(validate_config(update))
            return dict(self.config)

    def add_faults(self, specs):
        faults = [validate_fault(s) for s in specs]  # all or nothing
        with self.lock:
            self.faults.extend([f, f["count"]] for f in faults)
        return self.pending_faults()

    def pending_faults(self):
        with self.lock:
            return [dict(f, count=left) for f, left in self.faults]

    def count_connection(self):
        with self.lock:
            self.connections += 1

    def begin_request(self):
        """Count an embeddings request; return (head fault or None, config)."""
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            fault = None
            if self.faults:
                entry = self.faults[0]
                fault = entry[0]
                entry[1] -= 1
                if entry[1] <= 0:
                    self.faults.popleft()
            return fault, dict(self.config)

    def end_request(self):
        """An embeddings request counted by begin_request is answered."""
        with self.lock:
            self.in_flight = max(0, self.in_flight - 1)

    def count_rejected(self, status):
        """An embeddings request refused before it was read (no fault used)."""
        with self.lock:
            self.requests += 1
        self.record_answer(status)

    def record_answer(self, status, texts=(), fields=None):
        with self.lock:
            self.by_status[str(status)] += 1
            if status == 200:
                self.ok += 1
                self.inputs += len(texts)
                if self.config["record_texts"]:
                    self.texts.update(texts)
                if self.config["record_requests"]:
                    self.request_fields.append(dict(fields or {}))
            else:
                self.errors += 1

    def record_closed(self):
        with self.lock:
            self.errors += 1
            self.closed += 1

    def stats(self):
        with self.lock:
            out = {
                "requests": self.requests, "inputs": self.inputs,
                "ok": self.ok, "errors": self.errors, "closed": self.closed,
                "connections": self.connections,
                "most_in_flight": self.most_in_flight,
                "by_status": dict(self.by_status),
            }
            if self.config["record_texts"]:
                out["texts"] = dict(self.texts)
            if self.config["record_requests"]:
                out["request_fields"] = list(self.request_fields)
            return out


# --------------------------------------------------------------------------
# HTTP

class EmbedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, options, state):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.options = options
        self.state = state
        self.vectors = VectorCache(options.dims, int(options.cache_mb * (1 << 20)))
        self.log_lock = threading.Lock()
        self.log_file = open(options.log, "a", encoding="utf-8") if options.log else None
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        # A client that hangs up mid-answer (e.g. after its timeout) is normal.
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        if not self.options.quiet:
            super().handle_error(request, client_address)

    def log(self, line):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(line + "\n")
                self.log_file.flush()

    def server_close(self):
        super().server_close()
        if self.log_file:
            self.log_file.close()
            self.log_file = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "embed-server/1.0"
    disable_nagle_algorithm = True  # headers and body are two writes

    # -- plumbing ----------------------------------------------------------

    def setup(self):
        super().setup()
        self.server.state.count_connection()

    def log_message(self, fmt, *args):
        # Request line, status and size only: never headers (Authorization).
        if self.server.log_file:
            self.server.log("%s [%s] %s" % (self.client_address[0],
                                             self.log_date_time_string(), fmt % args))

    def send_bytes(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, obj, headers=()):
        self.send_bytes(status, json.dumps(obj).encode("utf-8"), headers=headers)

    def send_api_error(self, err):
        if err.close:
            self.close_connection = True
        self.send_json(err.status, err.body, err.headers)

    def read_body(self):
        """The request body, by Content-Length (or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            length = int(length)
        except ValueError:
            raise _detail(400, "invalid Content-Length", close=True) from None
        if length < 0:
            raise _detail(400, "invalid Content-Length", close=True)
        if length > MAX_BODY_BYTES:
            raise _detail(413, "request body too large", close=True)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _detail(400, "truncated request body", close=True)
        return body

    def _read_chunked(self):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _detail(400, "invalid chunked body", close=True) from None
            if size < 0:
                raise _detail(400, "invalid chunked body", close=True)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise _detail(413, "request body too large", close=True)
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)  # CRLF after the chunk
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(parts)

    def route(self):
        return urlsplit(self.path).path

    # -- methods -----------------------------------------------------------

    def do_GET(self):
        path = self.route()
        state = self.server.state
        if path == "/_control/stats":
            self.send_json(200, state.stats())
        elif path == "/_control/faults":
            self.send_json(200, {"faults": state.pending_faults()})
        elif path in ("/v1/embeddings", "/embeddings"):
            self.send_json(405, {"detail": "Method Not Allowed"}, [("Allow", "POST")])
        else:
            self.send_not_found()

    def do_POST(self):
        path = self.route()
        try:
            body = self.read_body()
        except ApiError as err:
            if path in ("/v1/embeddings", "/embeddings"):
                self.server.state.count_rejected(err.status)
            self.send_api_error(err)
            return
        if path in ("/v1/embeddings", "/embeddings"):
            self.handle_embeddings(body)
        elif path.startswith("/_control/"):
            self.handle_control(path, body)
        else:
            self.send_not_found()

    def send_not_found(self):
        self.send_json(404, {"error": {"message": "not found",
                                       "type": "invalid_request_error"}})

    # -- control API -------------------------------------------------------

    def handle_control(self, path, body):
        state = self.server.state
        try:
            payload = json.loads(body) if body.strip() else {}
            if path == "/_control/reset":
                state.reset()
                self.send_json(200, {"ok": True})
            elif path == "/_control/config":
                self.send_json(200, state.configure(payload))
            elif path == "/_control/faults":
                faults = payload.get("faults") if isinstance(payload, dict) else None
                if not isinstance(faults, list):
                    raise ValueError('expected {"faults": [...]}')
                self.send_json(200, {"faults": state.add_faults(faults)})
            else:
                self.send_not_found()
        except ValueError as err:  # includes JSONDecodeError
            self.send_json(400, {"detail": str(err)})

    # -- embeddings --------------------------------------------------------

    def handle_embeddings(self, body):
        state = self.server.state
        fault, config = state.begin_request()
        try:
            self.answer_embeddings(body, state, fault, config)
        finally:
            state.end_request()

    def answer_embeddings(self, body, state, fault, config):
        kind = fault["kind"] if fault else None
        delay_ms = config["latency_ms"] + (fault["ms"] if kind == "hang" else 0)
        if delay_ms:
            state.stopping.wait(delay_ms / 1000.0)
        if kind == "close":
            state.record_closed()
            self.close_connection = True
            self.log_message('"%s" closed by fault', self.requestline)
            return
        try:
            if kind == "status":
                raise status_fault_error(fault, self.headers.get("Authorization", ""))
            self.check_auth()
            request = parse_embedding_request(body, self.server.options.dims,
                                              config["max_request_tokens"])
        except ApiError as err:
            state.record_answer(err.status)
            self.send_api_error(err)
            return
        if kind == "huge":
            state.record_answer(200, request.texts)
            self.send_bytes(200, huge_body(request.model, fault["bytes"]))
            return
        cache = self.server.vectors
        as_base64 = request.as_base64 and not config["force_float"]
        data_fault = kind if kind in FAULT_KINDS[3:] else None
        if data_fault or config["shuffle"]:
            vectors = [cache.vector(t, request.task, request.dimensions)
                       for t in request.texts]
            out = build_embedding_body(request, vectors, as_base64,
                                       config["shuffle"], data_fault)
        else:
            out = assemble_embedding_body(
                request, [cache.fragment(t, request.task, request.dimensions, as_base64)
                          for t in request.texts])
        state.record_answer(200, request.texts, request.fields)
        self.send_bytes(200, out)

    def check_auth(self):
        key = self.server.options.api_key
        if not key:
            return
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode("utf-8"), key.encode("utf-8")):
            raise _detail(401, "invalid api key")


# --------------------------------------------------------------------------
# Command line

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Offline deterministic Jina-compatible "
                                            "embeddings server (hashed lexical features).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--dims", type=int, default=DEFAULT_DIMS)
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="sleep this long once per embeddings request")
    p.add_argument("--api-key", default=os.environ.get("EMBED_SERVER_API_KEY"),
                   help="require 'Authorization: Bearer KEY' "
                        "(default: $EMBED_SERVER_API_KEY)")
    p.add_argument("--cache-mb", type=float, default=64,
                   help="memory for cached vectors of repeated texts and their "
                        "JSON text (0: off)")
    p.add_argument("--max-request-tokens", type=int, default=0,
                   help="refuse requests whose inputs sum to more tokens (400, as "
                        "OpenAI does; 0: no cap)")
    p.add_argument("--record-texts", action="store_true",
                   help="count embedded texts in /_control/stats")
    p.add_argument("--log", help="append one line per request to this file")
    p.add_argument("--quiet", action="store_true",
                   help="print only the 'listening on' line")
    args = p.parse_args(argv)
    if args.dims < 1:
        p.error("--dims must be >= 1")
    if args.latency_ms < 0:
        p.error("--latency-ms must be >= 0")
    if args.max_request_tokens < 0:
        p.error("--max-request-tokens must be >= 0")
    return args


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def make_server(args):
    state = ServerState({"latency_ms": args.latency_ms, "shuffle": False,
                         "force_float": False, "record_texts": args.record_texts,
                         "max_request_tokens": args.max_request_tokens,
                         "record_requests": False})
    return EmbedHTTPServer((args.host, args.port), args, state)


def main(argv=None):
    args = parse_args(argv)
    server = make_server(args)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="serve_forever", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    if args.port_file:
        write_port_file(args.port_file, port)
    print("listening on %s:%d" % (host, port), flush=True)

    while not stop.wait(0.5):
        pass
    server.state.stopping.set()
    server.shutdown()
    server.server_close()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except OSError:
            pass
    if not args.quiet:
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
