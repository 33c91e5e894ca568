#!/usr/bin/python3
"""The pipeline cached_embed replaces, written the way the notebook does it:
pull the rows out of MySQL, send them to the embeddings API in sequential
requests of 256, cache the vectors in Redis (skipping texts already cached),
and write the vectors back into the table.

    reference_pipeline.py --socket S --db openbeer --redis-port P --endpoint URL

Prints one JSON line: rows, provider requests, seconds."""

import argparse
import base64
import json
import struct
import time
import urllib.request

import pymysql  # Debian: python3-pymysql
import redis  # Debian: python3-redis

BATCH = 256


def embed(endpoint, model, texts, api_key, encoding):
    body = {"model": model, "input": texts, "normalized": True,
            "embedding_type": encoding}
    req = urllib.request.Request(endpoint, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + api_key})
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = json.load(resp)["data"]
    data.sort(key=lambda d: d["index"])
    out = []
    for d in data:
        e = d["embedding"]
        if isinstance(e, str):
            out.append(base64.b64decode(e))
        else:
            out.append(struct.pack("<%df" % len(e), *e))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--db", default="openbeer")
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--model", default="jina-embeddings-v2-base-en")
    ap.add_argument("--api-key", default="none")
    ap.add_argument("--encoding", default="float", choices=["float", "base64"],
                    help="float is the Jina API's default, as in the notebook")
    ap.add_argument("--ttl", type=int, default=1200)
    a = ap.parse_args()

    t0 = time.monotonic()
    db = pymysql.connect(unix_socket=a.socket, user="root", database=a.db,
                         charset="utf8mb4")
    r = redis.Redis(host="127.0.0.1", port=a.redis_port)
    with db.cursor() as c:
        c.execute("SELECT id, descr_long FROM descriptions ORDER BY id")
        rows = c.fetchall()

    requests = 0
    vectors = {}
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        keys = ["ref:beer:%d:long" % i for i, _ in chunk]
        cached = r.mget(keys)
        todo = [(k, row) for k, row, hit in zip(keys, chunk, cached) if hit is None]
        for (i, _), hit in zip(chunk, cached):
            if hit is not None:
                vectors[i] = hit
        if todo:
            vecs = embed(a.endpoint, a.model, [t for _, (_, t) in todo],
                         a.api_key, a.encoding)
            requests += 1
            p = r.pipeline()
            for (k, (i, _)), v in zip(todo, vecs):
                vectors[i] = v
                p.set(k, v, ex=a.ttl)
            p.execute()

    with db.cursor() as c:
        c.executemany("UPDATE beers SET vec_ref = %s WHERE id = %s",
                      [(v, i) for i, v in vectors.items()])
    db.commit()
    db.close()
    print(json.dumps({"rows": len(vectors), "requests": requests,
                      "seconds": round(time.monotonic() - t0, 3)}))


if __name__ == "__main__":
    main()
