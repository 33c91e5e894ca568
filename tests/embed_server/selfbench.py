#!/usr/bin/env python3
"""Throughput of the local embeddings server.

Sends REQUESTS requests of BATCH deterministic beer-like texts (about CHARS
characters each) over ONE keep-alive connection, asking for base64 vectors
(the path cached_embed uses), and prints requests/s and inputs/s.  By default
it starts its own server on a spare port; --port talks to a running one.

    /usr/bin/python3 tests/embed_server/selfbench.py
    /usr/bin/python3 tests/embed_server/selfbench.py --chars 3500
    /usr/bin/python3 tests/embed_server/selfbench.py \\
        --beers-csv /work/shared/data/openbeerdb/csv/beers.csv

The timed part is request + reading the response bytes; checking the answer
(JSON parse, base64 decode) is done outside the timer.  The second pass sends
the same texts again, as a benchmark re-run with Redis flushed would, and is
answered from the server's vector cache.
"""

import argparse
import base64
import csv
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

VOCAB = """
ale lager stout porter pilsner ipa imperial double session pale amber brown red
golden blonde wheat hefeweizen witbier saison farmhouse tripel dubbel quad
barleywine sour gose lambic kriek bock doppelbock marzen kolsch rauchbier
hops hoppy citrus grapefruit orange lemon pine resin tropical mango passionfruit
malt malty caramel toffee biscuit bread toast honey roasted roasty chocolate
coffee espresso vanilla oak bourbon barrel smoke smoky spice spicy clove banana
pepper coriander yeast crisp clean dry bitter sweet tart funky earthy floral
herbal grassy aroma nose palate finish body mouthfeel carbonation head lacing
light medium full creamy smooth rich balanced bold refreshing hazy clear dark
brewed with cascade centennial simcoe citra mosaic amarillo saaz hallertau
fuggles goldings our the a of and in for this is from to on notes hints
summer winter autumn spring seasonal classic traditional american belgian
german english irish brewery brewers small batch release limited year round
""".split()


def make_text(i, chars):
    """A deterministic beer-like description of about `chars` characters."""
    rng = random.Random(i)
    words = ["Beer", "#%d:" % i]
    length = sum(len(w) + 1 for w in words)
    while length < chars:
        word = rng.choice(VOCAB)
        if rng.random() < 0.08:
            word += rng.choice(".,;")
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:chars]


def beer_texts(path):
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        texts = [row["descript"] for row in csv.DictReader(f) if row["descript"].strip()]
    texts.sort(key=len, reverse=True)  # longest first: the hard case
    return texts


def start_server(args):
    tmp = tempfile.mkdtemp(prefix="selfbench.")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "embed_server.py"),
                             "--port", "0", "--port-file", port_file, "--quiet",
                             "--dims", str(args.dims)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("embed_server did not start")
        time.sleep(0.02)
    with open(port_file) as f:
        port = int(f.read())
    return proc, port, tmp


def check(payload, batch, dims):
    data = payload["data"]
    assert len(data) == batch, "expected %d vectors, got %d" % (batch, len(data))
    assert sorted(d["index"] for d in data) == list(range(batch))
    emb = data[0]["embedding"]
    n = len(base64.b64decode(emb)) // 4 if isinstance(emb, str) else len(emb)
    assert n == dims, "expected %d dims, got %d" % (dims, n)


def run(args, port):
    if args.beers_csv:
        pool = beer_texts(args.beers_csv)
        texts = [pool[i % len(pool)] for i in range(args.requests * args.batch)]
    else:
        texts = [make_text(i, args.chars) for i in range(args.requests * args.batch)]
    fmt = {"embedding_type": "float"} if args.float else {"embedding_type": "base64"}
    bodies = [json.dumps(dict(model="jina-embeddings-v2-base-en", normalized=True,
                              input=texts[r * args.batch:(r + 1) * args.batch], **fmt))
              for r in range(args.requests)]
    headers = {"Content-Type": "application/json"}

    for label in ("cold", "repeat")[:args.passes]:
        reset = http.client.HTTPConnection(args.host, port, timeout=10)
        reset.request("POST", "/_control/reset", "{}", headers)
        reset.getresponse().read()
        reset.close()
        conn = http.client.HTTPConnection(args.host, port, timeout=120)  # one keep-alive
        answers, timed = [], 0.0
        for body in bodies:
            start = time.perf_counter()
            conn.request("POST", "/v1/embeddings", body, headers)
            resp = conn.getresponse()
            raw = resp.read()
            timed += time.perf_counter() - start
            if resp.status != 200:
                raise SystemExit("HTTP %d: %s" % (resp.status, raw[:200]))
            answers.append(raw)
        conn.request("GET", "/_control/stats")
        stats = json.loads(conn.getresponse().read())
        for raw in answers:
            check(json.loads(raw), args.batch, args.dims)
        conn.close()
        report(label, args, texts, timed, stats)


def report(label, args, texts, timed, stats):
    n_inputs = args.requests * args.batch
    avg_chars = sum(map(len, texts)) / len(texts)
    print("%s: %d requests x %d inputs (%d distinct, avg %.0f chars, %s), %d connection(s): "
          "%.3f s, %.1f ms/request, %.1f requests/s, %.0f inputs/s"
          % (label, args.requests, args.batch, len(set(texts)), avg_chars,
             "float" if args.float else "base64", stats["connections"], timed, 1000 * timed / args.requests,
             args.requests / timed, n_inputs / timed))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="running server (0: start one)")
    p.add_argument("--requests", type=int, default=24)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--chars", type=int, default=600)
    p.add_argument("--dims", type=int, default=768)
    p.add_argument("--float", action="store_true", help="ask for float arrays, not base64")
    p.add_argument("--passes", type=int, choices=(1, 2), default=2,
                   help="2: send the same texts again (served from the vector cache)")
    p.add_argument("--beers-csv", help="use the descript column of beers.csv instead")
    args = p.parse_args()

    if args.port:
        run(args, args.port)
        return
    proc, port, tmp = start_server(args)
    try:
        run(args, port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
