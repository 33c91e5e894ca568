#!/usr/bin/python3
"""The benchmark of issue 3, against the servers tests/harness.sh started
(CE_STATE names its state file) with the Open Beer DB loaded. Prints a
markdown report. Not a test: nothing here passes or fails on time.

  a. cold backfill of every beer's descr_long into a VARBINARY(3072) column:
     cached_embed_warm + UPDATE vs the reference Python pipeline;
  b. warm path: per-row cost of cached_embed on cached rows, local cache off
     and on, against one Redis GET round trip (redis-benchmark);
  c. 1, 2, 4, 8 sessions running the warm-path query at once."""

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import pymysql

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = 5901
KEY = "CONCAT('beer:', b.id, ':long')"
WARM_QUERY = ("SELECT SUM(LENGTH(cached_embed(CONCAT('beer:', id, ':long'), descr_long))) "
              "FROM descriptions")
BASE_QUERY = ("SELECT SUM(LENGTH(CONCAT('beer:', id, ':long')) + LENGTH(descr_long)) "
              "FROM descriptions")


def load_state():
    st = {}
    for line in open(os.environ["CE_STATE"]):
        k, _, v = line.strip().partition("=")
        st[k] = v
    return st


S = load_state()
BASE_CONFIG = open(S["CE_CONFIG"]).read()


def db():
    return pymysql.connect(unix_socket=S["CE_SOCKET"], user="root", database="openbeer",
                           autocommit=True, charset="utf8mb4")


def sql(q, conn=None):
    own = conn is None
    conn = conn or db()
    with conn.cursor() as c:
        c.execute(q)
        rows = c.fetchall()
    if own:
        conn.close()
    return rows


def embed_ctl(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", int(S["CE_EMBED_PORT"]), timeout=30)
    c.request(method, path, json.dumps(body) if body is not None else None)
    data = c.getresponse().read()
    c.close()
    return json.loads(data) if data else None


def set_config(**kw):
    lines = [l for l in BASE_CONFIG.splitlines() if l.split("=")[0].strip() not in kw]
    lines += ["%s = %s" % kv for kv in kw.items()]
    open(S["CE_CONFIG"], "w").write("\n".join(lines) + "\n")
    time.sleep(1.2)


def flush_redis():
    subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "flushall"], check=True,
                   capture_output=True)


def timed(q, conn=None):
    t0 = time.perf_counter()
    sql(q, conn)
    return time.perf_counter() - t0


def cold_config(local_mb):
    # local_cache_mb 0 empties the in-process cache when a statement starts
    # with it; then the setting wanted
    set_config(redis="redis://127.0.0.1:%s/0" % S["CE_REDIS_PORT"], local_cache_mb=0)
    sql("SELECT cached_embed(NULL, NULL)")
    if local_mb:
        set_config(redis="redis://127.0.0.1:%s/0" % S["CE_REDIS_PORT"], local_cache_mb=local_mb)


def bench_cold(runs):
    sql("ALTER TABLE beers ADD COLUMN IF NOT EXISTS vec VARBINARY(3072), "
        "ADD COLUMN IF NOT EXISTS vec_ref VARBINARY(3072)")
    plugin, python = [], []
    for _ in range(runs):
        cold_config(32)
        flush_redis()
        sql("UPDATE beers SET vec = NULL")
        embed_ctl("POST", "/_control/reset", {})
        embed_ctl("POST", "/_control/config", {"latency_ms": 50})
        conn = db()
        t0 = time.perf_counter()
        warmed = sql("SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) "
                     "FROM descriptions", conn)[0][0]
        sql("UPDATE beers b JOIN descriptions d ON d.id = b.id SET b.vec = cached_embed(%s, d.descr_long)" % KEY, conn)
        secs = time.perf_counter() - t0
        conn.close()
        reqs = embed_ctl("GET", "/_control/stats")["requests"]
        filled = sql("SELECT COUNT(vec) FROM beers")[0][0]
        plugin.append({"seconds": secs, "requests": reqs, "warmed": warmed, "filled": filled})

        flush_redis()
        sql("UPDATE beers SET vec_ref = NULL")
        embed_ctl("POST", "/_control/reset", {})
        embed_ctl("POST", "/_control/config", {"latency_ms": 50})
        out = subprocess.run(
            [sys.executable, os.path.join(HERE, "reference_pipeline.py"), "--socket", S["CE_SOCKET"],
             "--redis-port", S["CE_REDIS_PORT"],
             "--endpoint", "http://127.0.0.1:%s/v1/embeddings" % S["CE_EMBED_PORT"]],
            check=True, capture_output=True, text=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        res["requests_seen"] = embed_ctl("GET", "/_control/stats")["requests"]
        python.append(res)
    same = sql("SELECT COUNT(*) FROM beers WHERE vec = vec_ref")[0][0]
    embed_ctl("POST", "/_control/config", {"latency_ms": 0})
    return plugin, python, same


def redis_get_us():
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", S["CE_REDIS_PORT"],
                          "-t", "get", "-d", "3072", "-c", "1", "-n", "50000", "-q"],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"GET: ([\d.]+) requests per second", out).group(1))
    return 1e6 / rps


def median_time(q, runs, conn):
    return statistics.median(timed(q, conn) for _ in range(runs))


def bench_warm_path(runs):
    res = {}
    for local_mb in (0, 32):
        cold_config(local_mb)
        conn = db()
        sql(WARM_QUERY, conn)  # fills the local cache when on
        fn = median_time(WARM_QUERY, runs, conn)
        base = median_time(BASE_QUERY, runs, conn)
        conn.close()
        res[local_mb] = {"fn_s": fn, "base_s": base, "per_row_us": (fn - base) / ROWS * 1e6}
    res["redis_get_us"] = redis_get_us()
    return res


def bench_sessions(counts, reps):
    cold_config(32)
    sql(WARM_QUERY)
    out = {}
    for n in counts:
        conns = [db() for _ in range(n)]
        barrier = threading.Barrier(n + 1)

        def work(c):
            barrier.wait()
            for _ in range(reps):
                sql(WARM_QUERY, c)

        threads = [threading.Thread(target=work, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        secs = time.perf_counter() - t0
        for c in conns:
            c.close()
        out[n] = n * reps * ROWS / secs
    return out


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    plugin, python, same = bench_cold(runs)
    p_s = statistics.median(r["seconds"] for r in plugin)
    y_s = statistics.median(r["seconds"] for r in python)
    print("## a. cold backfill of %d beers (local embedding server at 50 ms per request)\n" % ROWS)
    print("| pipeline | wall time (median of %d) | provider requests | rows written |" % runs)
    print("|---|---|---|---|")
    print("| cached_embed_warm + UPDATE | %.2f s | %d | %d |" % (p_s, plugin[-1]["requests"], plugin[-1]["filled"]))
    print("| reference Python pipeline | %.2f s | %d | %d |" % (y_s, python[-1]["requests_seen"], python[-1]["rows"]))
    print("\nplugin is %.1fx faster; %d of %d vectors identical in both columns\n" % (y_s / p_s, same, ROWS))
    print("runs: plugin %s; python %s\n" % ([round(r["seconds"], 2) for r in plugin],
                                             [r["seconds"] for r in python]))

    w = bench_warm_path(max(5, runs))
    g = w["redis_get_us"]
    print("## b. warm path: per-row cost of cached_embed on %d cached rows\n" % ROWS)
    print("| | per row | vs one Redis GET (%.1f us, redis-benchmark -t get -d 3072 -c 1) |" % g)
    print("|---|---|---|")
    print("| Redis hit (local cache off) | %.1f us | %.2fx |" % (w[0]["per_row_us"], w[0]["per_row_us"] / g))
    print("| local-cache hit | %.2f us | %.2fx |" % (w[32]["per_row_us"], w[32]["per_row_us"] / g))
    print("\n(query with the function %.3f s / %.3f s, without %.3f s)\n" % (w[0]["fn_s"], w[32]["fn_s"], w[0]["base_s"]))

    s = bench_sessions([1, 2, 4, 8], int(os.environ.get("BENCH_REPS", "5")))
    print("## c. sessions running the warm-path query at once (local cache on)\n")
    print("| sessions | rows/s | vs 1 session |")
    print("|---|---|---|")
    for n, rps in s.items():
        print("| %d | %.0f | %.2fx |" % (n, rps, rps / s[1]))
    set_config()


if __name__ == "__main__":
    main()
