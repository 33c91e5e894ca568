#!/usr/bin/python3
"""The pipeline cached_embed replaces, written the way the notebook does it:
pull the rows out of MySQL, send them to the embeddings API in sequential
requests of 256, cache the vectors in Redis (skipping texts already cached),
and write the vectors back into the table.

    reference_pipeline.py --socket S --db openbeer --redis-port P --endpoint URL
        [--source descriptions --target beers]

Reads (id, descr_long) from --source, writes vec_ref of --target by id.
Prints one JSON line: rows, provider requests, seconds (and its phases:
read_s, embed_s with the Redis look-ups and writes, write_s)."""

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
    ap.add_argument("--source", default="descriptions",
                    help="table or view with id and descr_long")
    ap.add_argument("--target", default="beers", help="table with id and vec_ref")
    a = ap.parse_args()

    t0 = time.monotonic()
    db = pymysql.connect(unix_socket=a.socket, user="root", database=a.db,
                         charset="utf8mb4")
    r = redis.Redis(host="127.0.0.1", port=a.redis_port)
    with db.cursor() as c:
        c.execute("SELECT id, descr_long FROM `%s` ORDER BY id" % a.source)
        rows = c.fetchall()
    t_read = time.monotonic()

    requests = 0
    vectors = {}
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        keys = ["ref:%s:%d:long" % (a.source, i) for i, _ in chunk]
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

    t_embed = time.monotonic()
    with db.cursor() as c:
        c.executemany("UPDATE `%s` SET vec_ref = %%s WHERE id = %%s" % a.target,
                      [(v, i) for i, v in vectors.items()])
    db.commit()
    db.close()
    t_end = time.monotonic()
    print(json.dumps({"rows": len(vectors), "requests": requests,
                      "seconds": round(t_end - t0, 3), "read_s": round(t_read - t0, 3),
                      "embed_s": round(t_embed - t_read, 3),
                      "write_s": round(t_end - t_embed, 3)}))


if __name__ == "__main__":
    main()
