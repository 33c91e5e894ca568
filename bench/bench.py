#!/usr/bin/python3
"""The benchmark, against the servers tests/harness.sh started (CE_STATE
names its state file) with the Open Beer DB loaded. Prints a markdown
report. Not a test: nothing here passes or fails on time. Details and
today's figures: bench/README.md.

  a. cold backfill of 5,901 texts (every beer's descr_long) into a
     VARBINARY(3072) column: the plugin (cached_embed_warm, then UPDATE; and
     the same as one statement) vs bench/reference_pipeline.py, with the
     plugin's phases (warm-up, write), Redis commands and cache hits;
  a'. the same with 59,010 distinct texts (each beer's text in 10 variants),
     when BENCH_SCALE=1, and the ratios between the two sizes;
  n. the seed's query (sql/examples/notebook_join.sql) cold: one statement;
  s. CALL cached_embed.sync over the 5,901 texts: cold, then unchanged;
  b. warm path: per-row cost of cached_embed on cached rows, local cache off
     and on, against one Redis GET round trip (redis-benchmark);
  c. 1, 2, 4, 8 sessions running the warm-path query at once;
  m. mariadbd's memory (VmHWM, VmRSS) after each part;
  w. (BENCH_WINDOW=1) the warm-up as a window function, cached_embed_warm(k,
     t) OVER (), against the same aggregate in a derived table.

BENCH_RUNS (default 3) runs of every cold case, median reported; the
provider (the local embedding server, its vector cache filled before timing
unless BENCH_PROVIDER_PREWARM=0) answers every request after
BENCH_LATENCY_MS (default 50)."""

import http.client
import json
import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import pymysql
import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from harness_state import read_state  # noqa: E402
ROWS = 5901
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
# the embedding server's vector cache filled before timing (run.sh gives it
# the memory); 0: it embeds every text of every run on our cores
PREWARM = os.environ.get("BENCH_PROVIDER_PREWARM", "1") not in ("", "0")
# `parallel` for the backfill (empty: the plugin's default)
PARALLEL = os.environ.get("BENCH_PARALLEL", "")
WARM_QUERY = ("SELECT SUM(LENGTH(cached_embed(CONCAT('beer:', id, ':long'), descr_long))) "
              "FROM descriptions")
BASE_QUERY = ("SELECT SUM(LENGTH(CONCAT('beer:', id, ':long')) + LENGTH(descr_long)) "
              "FROM descriptions")


S = read_state(os.environ["CE_STATE"])
BASE_CONFIG = open(S["CE_CONFIG"]).read()
MARIADB_PID = int(open(os.path.join(S["CE_DIR"], "mariadb.pid")).read())
EMBED_PID = int(open(os.path.join(S["CE_DIR"], "embed.pid")).read())
REDIS = redis.Redis(host="127.0.0.1", port=int(S["CE_REDIS_PORT"]))


def db():
    return pymysql.connect(unix_socket=S["CE_SOCKET"], user="root", database="openbeer",
                           autocommit=True, charset="utf8mb4")


def sql(q, conn=None, args=None):
    own = conn is None
    conn = conn or db()
    with conn.cursor() as c:
        c.execute(q, args)
        rows = c.fetchall()
        while c.nextset():
            pass
    if own:
        conn.close()
    return rows


def embed_ctl(method, path, body=None, auth=False):
    c = http.client.HTTPConnection("127.0.0.1", int(S["CE_EMBED_PORT"]), timeout=60)
    headers = {"Authorization": "Bearer " + S["CE_API_KEY"]} if auth else {}
    c.request(method, path, json.dumps(body) if body is not None else None, headers)
    data = c.getresponse().read()
    c.close()
    return json.loads(data) if data else None


def set_config(**kw):
    if PARALLEL and "parallel" not in kw:
        kw["parallel"] = PARALLEL
    lines = [l for l in BASE_CONFIG.splitlines() if l.split("=")[0].strip() not in kw]
    lines += ["%s = %s" % kv for kv in kw.items()]
    open(S["CE_CONFIG"], "w").write("\n".join(lines) + "\n")
    time.sleep(1.2)


def cold_config(local_mb):
    """Redis over loopback TCP (as the reference uses it); the local cache
    emptied (local_cache_mb 0 empties it when a statement starts with it),
    then the size wanted."""
    tcp = "redis://127.0.0.1:%s/0" % S["CE_REDIS_PORT"]
    set_config(redis=tcp, local_cache_mb=0)
    sql("SELECT cached_embed(NULL, NULL)")
    if local_mb:
        set_config(redis=tcp, local_cache_mb=local_mb)


def prewarm_provider(table):
    """Untimed: every text of `table` embedded once by the embedding server in
    both encodings (base64: the plugin; float arrays: the reference), so that
    its cache holds each vector and its JSON text and a timed request costs
    the fixed latency, not the server's CPU: a remote provider's compute is
    not on our cores. The answers are the same bytes either way."""
    if not PREWARM:
        return None
    embed_ctl("POST", "/_control/config", {"latency_ms": 0})
    texts = [r[0] for r in sql("SELECT descr_long FROM `%s`" % table)]
    t0, cpu = time.perf_counter(), cpu_seconds(EMBED_PID)
    for start in range(0, len(texts), 256):
        for enc in ("base64", "float"):
            embed_ctl("POST", "/v1/embeddings",
                      {"model": "jina-embeddings-v2-base-en", "input": texts[start:start + 256],
                       "embedding_type": enc}, auth=True)
    return {"texts": len(texts), "seconds": time.perf_counter() - t0,
            "embed_cpu_s": cpu_seconds(EMBED_PID) - cpu}


def cold_provider():
    REDIS.flushall()
    embed_ctl("POST", "/_control/reset", {})
    embed_ctl("POST", "/_control/config", {"latency_ms": LATENCY_MS})


def proc_status(pid):
    """mariadbd's peak and current RSS, and what its caches hold (MiB)."""
    out = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS"):
            out[k] = int(v.split()[0]) / 1024.0
    st = dict(sql("SHOW GLOBAL STATUS WHERE Variable_name IN "
                  "('Innodb_buffer_pool_bytes_data', 'Aria_pagecache_blocks_used', 'Memory_used')"))
    block = int(sql("SELECT @@aria_block_size")[0][0])
    out["innodb"] = int(st["Innodb_buffer_pool_bytes_data"]) / 1048576.0
    out["aria"] = int(st["Aria_pagecache_blocks_used"]) * block / 1048576.0
    out["local"] = ce_stats()["local_cache_bytes"] / 1048576.0
    out["tracked"] = int(st["Memory_used"]) / 1048576.0
    return out


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def redis_calls():
    stats = REDIS.info("commandstats")
    return {c: stats.get("cmdstat_" + c, {}).get("calls", 0)
            for c in ("get", "pttl", "set", "pexpire", "eval")}


def ce_stats():
    return json.loads(sql("SELECT cached_embed_stats()")[0][0])


class Probe:
    """What a phase cost: wall time, Redis commands, cache counters, the
    embedding server's and mariadbd's CPU time."""

    def __init__(self):
        self.t, self.r, self.s = time.perf_counter(), redis_calls(), ce_stats()
        self.cpu = cpu_seconds(EMBED_PID)
        self.db_cpu = cpu_seconds(MARIADB_PID)

    def done(self):
        r, s = redis_calls(), ce_stats()
        return {"seconds": time.perf_counter() - self.t,
                "redis": {k: r[k] - self.r[k] for k in r},
                "hits_local": s["hits_local"] - self.s["hits_local"],
                "hits_redis": s["hits_redis"] - self.s["hits_redis"],
                "misses": s["misses"] - self.s["misses"],
                "embed_cpu_s": cpu_seconds(EMBED_PID) - self.cpu,
                "db_cpu_s": cpu_seconds(MARIADB_PID) - self.db_cpu}


def median(runs, key):
    return statistics.median(r[key] for r in runs)


# ---- a. cold backfill ---------------------------------------------------------

def make_table(name, variants):
    """`name` (id, descr_long, vec, and sync's sv, ss) for the plugin and
    `name`_ref (id, descr_long, vec_ref) for the reference: each contender
    writes into a table of its own, shaped like a user's, not into rows that
    also hold the other's vectors (which made a run slower when it came
    after the other's). 5,901 x variants distinct texts."""
    for t, cols in ((name, "vec VARBINARY(3072), sv VARBINARY(3072), ss BINARY(32)"),
                    (name + "_ref", "vec_ref VARBINARY(3072)")):
        sql("DROP TABLE IF EXISTS `%s`" % t)
        sql("CREATE TABLE `%s` (id INT PRIMARY KEY, descr_long TEXT NOT NULL, %s) "
            "CHARACTER SET utf8mb4" % (t, cols))
    if variants == 1:
        sql("INSERT INTO `%s` (id, descr_long) SELECT id, descr_long FROM descriptions" % name)
    else:
        sql("INSERT INTO `%s` (id, descr_long) "
            "SELECT d.id * %d + v.n, CONCAT('Variant ', v.n + 1, ' of beer ', d.id, ': ', d.descr_long) "
            "FROM descriptions d CROSS JOIN (%s) v"
            % (name, variants, " UNION ALL ".join("SELECT %d AS n" % i for i in range(variants))))
    sql("INSERT INTO `%s_ref` (id, descr_long) SELECT id, descr_long FROM `%s`" % (name, name))
    n, distinct = sql("SELECT COUNT(*), COUNT(DISTINCT descr_long) FROM `%s`" % name)[0]
    return n, distinct


def drop_table(name):
    sql("DROP TABLE `%s`, `%s_ref`" % (name, name))


def purged():
    """Waits (at most 120 s) until InnoDB's purge has removed the old
    versions of the rows the last UPDATE changed: at 59,010 rows the
    `SET vec = NULL` before a run leaves ~180 MB of old vectors, which the
    purge threads would otherwise clear during the timed phases, on the
    same two cores. Returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 120:
        rows = sql("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
        if not rows or int(rows[0][1]) == 0:
            break
        time.sleep(0.2)
    return time.perf_counter() - t0


def plugin_backfill(table, single):
    cold_config(32)
    sql("UPDATE `%s` SET vec = NULL" % table)
    purged()
    cold_provider()
    key = "CONCAT('bench:', id)"
    conn = db()
    res = {}
    if single:
        p = Probe()
        sql("UPDATE `%s` t CROSS JOIN (SELECT cached_embed_warm(%s, descr_long) AS warmed "
            "FROM `%s`) AS warm SET t.vec = cached_embed(CONCAT('bench:', t.id), t.descr_long)"
            % (table, key, table), conn)
        res["total"] = p.done()
    else:
        p = Probe()
        sql("SELECT cached_embed_warm(%s, descr_long) FROM `%s`" % (key, table), conn)
        res["warm"] = p.done()
        p = Probe()
        sql("UPDATE `%s` SET vec = cached_embed(%s, descr_long)" % (table, key), conn)
        res["write"] = p.done()
        res["total"] = {"seconds": res["warm"]["seconds"] + res["write"]["seconds"]}
    conn.close()
    res["seconds"] = res["total"]["seconds"]
    res["requests"] = embed_ctl("GET", "/_control/stats")["requests"]
    res["filled"] = sql("SELECT COUNT(vec) FROM `%s`" % table)[0][0]
    res["rss"] = proc_status(MARIADB_PID)["VmRSS"]
    return res


def reference_backfill(table):
    table += "_ref"
    sql("UPDATE `%s` SET vec_ref = NULL" % table)
    purged()
    cold_provider()
    cpu = cpu_seconds(EMBED_PID)
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "reference_pipeline.py"), "--socket", S["CE_SOCKET"],
         "--redis-port", S["CE_REDIS_PORT"], "--source", table, "--target", table,
         "--endpoint", "http://127.0.0.1:%s/v1/embeddings" % S["CE_EMBED_PORT"]],
        check=True, capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    res["requests_seen"] = embed_ctl("GET", "/_control/stats")["requests"]
    res["embed_cpu_s"] = cpu_seconds(EMBED_PID) - cpu
    res["rss"] = proc_status(MARIADB_PID)["VmRSS"]
    return res


def bench_backfill(table, runs):
    plugin, single, python = [], [], []
    for _ in range(runs):
        plugin.append(plugin_backfill(table, False))
        single.append(plugin_backfill(table, True))
        python.append(reference_backfill(table))
    same = sql("SELECT COUNT(*) FROM `%s` t JOIN `%s_ref` r USING (id) "
               "WHERE t.vec = r.vec_ref" % (table, table))[0][0]
    # what the write pass costs InnoDB alone: the same vectors, no function
    # (read from the reference's table by id)
    base = []
    for _ in range(runs):
        sql("UPDATE `%s` SET vec = NULL" % table)
        purged()
        t0 = time.perf_counter()
        sql("UPDATE `%s` t JOIN `%s_ref` r USING (id) SET t.vec = r.vec_ref" % (table, table))
        base.append(time.perf_counter() - t0)
    plugin[-1]["innodb_write_s"] = statistics.median(base)
    return plugin, single, python, same


def report_backfill(title, n, distinct, plugin, single, python, same, runs):
    p_s, o_s, y_s = median(plugin, "seconds"), median(single, "seconds"), median(python, "seconds")
    par = int(PARALLEL or ce_setting("parallel"))
    floor = math.ceil(plugin[-1]["requests"] / par) * LATENCY_MS / 1000.0
    print("## %s: %d rows, %d distinct texts (provider at %d ms per request)\n"
          % (title, n, distinct, LATENCY_MS))
    print("| pipeline | wall time (median of %d) | runs | provider requests | rows written |" % runs)
    print("|---|---|---|---|---|")
    print("| cached_embed_warm, then UPDATE | %.2f s | %s | %d | %d |"
          % (p_s, [round(r["seconds"], 2) for r in plugin], plugin[-1]["requests"], plugin[-1]["filled"]))
    print("| one statement: UPDATE ... CROSS JOIN (warm-up) | %.2f s | %s | %d | %d |"
          % (o_s, [round(r["seconds"], 2) for r in single], single[-1]["requests"], single[-1]["filled"]))
    print("| reference Python pipeline | %.2f s | %s | %d | %d |"
          % (y_s, [r["seconds"] for r in python], python[-1]["requests_seen"], python[-1]["rows"]))
    print("\nplugin %.2fx faster than the reference (one statement: %.2fx); %d of %d vectors "
          "identical in both columns\n" % (y_s / p_s, y_s / o_s, same, n))
    w = [r["warm"] for r in plugin]
    u = [r["write"] for r in plugin]
    print("Where the plugin's time goes (medians; `parallel` %d: the %d requests need at least "
          "%.2f s of provider latency):\n" % (par, plugin[-1]["requests"], floor))
    print("| phase | wall | Redis GET / PTTL / SET / PEXPIRE / EVAL | hits local / Redis | misses "
          "| embedding server CPU | mariadbd CPU |")
    print("|---|---|---|---|---|---|---|")
    for name, ph in (("warm-up (SELECT cached_embed_warm)", w), ("write (UPDATE ... cached_embed)", u)):
        print("| %s | %.2f s | %d / %d / %d / %d / %d | %d / %d | %d | %.2f s | %.2f s |" % (
            name, statistics.median(x["seconds"] for x in ph),
            statistics.median(x["redis"]["get"] for x in ph),
            statistics.median(x["redis"]["pttl"] for x in ph),
            statistics.median(x["redis"]["set"] for x in ph),
            statistics.median(x["redis"]["pexpire"] for x in ph),
            statistics.median(x["redis"]["eval"] for x in ph),
            statistics.median(x["hits_local"] for x in ph),
            statistics.median(x["hits_redis"] for x in ph),
            statistics.median(x["misses"] for x in ph),
            statistics.median(x["embed_cpu_s"] for x in ph),
            statistics.median(x["db_cpu_s"] for x in ph)))
    print("\nmariadbd VmRSS after each run (two statements, one statement, reference; in order): "
          "%s MiB\n" % [round(r["rss"]) for t in zip(plugin, single, python) for r in t])
    print("The same UPDATE writing the same vectors without the function (`SET t.vec = r.vec_ref`, "
          "joined by id with the reference's table) "
          "takes %.2f s: InnoDB's share of the write phase.\n" % plugin[-1]["innodb_write_s"])
    print("reference phases (medians): read %.2f s, embed + Redis %.2f s, write %.2f s; "
          "embedding server CPU %.2f s\n" % (
              median(python, "read_s"), median(python, "embed_s"), median(python, "write_s"),
              median(python, "embed_cpu_s")))
    return p_s, o_s, y_s


# ---- n. the seed's query, s. sync ----------------------------------------------

def bench_notebook(runs):
    q = open(os.path.join(ROOT, "sql", "examples", "notebook_join.sql")).read()
    out = []
    for _ in range(runs):
        cold_config(32)
        cold_provider()
        conn = db()
        t0 = time.perf_counter()
        rows = sql(q, conn)
        secs = time.perf_counter() - t0
        conn.close()
        vecs = sum((r[3] is not None) + (r[4] is not None) for r in rows)
        out.append({"seconds": secs, "rows": len(rows), "vectors": vecs,
                    "requests": embed_ctl("GET", "/_control/stats")["requests"]})
    print("## n. the seed's query cold (sql/examples/notebook_join.sql): one statement\n")
    print("%d rows, %d vectors, %d provider requests (bound: 2 x ceil(%d / 256) = %d); "
          "%.2f s (median of %d: %s)\n" % (
              out[-1]["rows"], out[-1]["vectors"], out[-1]["requests"], out[-1]["rows"],
              2 * math.ceil(out[-1]["rows"] / 256), median(out, "seconds"), runs,
              [round(r["seconds"], 2) for r in out]))


def bench_sync(table, runs):
    call = ("CALL cached_embed.sync('openbeer.%s', 'descr_long', 'sv', 'ss', 1000)" % table)
    cold, noop = [], []
    for _ in range(runs):
        cold_config(32)
        sql("UPDATE `%s` SET sv = NULL, ss = NULL" % table)
        cold_provider()
        t0 = time.perf_counter()
        r1 = sql(call)[0]
        cold.append({"seconds": time.perf_counter() - t0, "result": r1,
                     "requests": embed_ctl("GET", "/_control/stats")["requests"]})
        t0 = time.perf_counter()
        r2 = sql(call)[0]
        noop.append({"seconds": time.perf_counter() - t0, "result": r2,
                     "requests": embed_ctl("GET", "/_control/stats")["requests"] - cold[-1]["requests"]})
    print("## s. CALL cached_embed.sync over %s (chunks of 1,000 rows)\n" % table)
    print("| run | wall time (median of %d) | (embedded, unchanged, failed) | provider requests |" % runs)
    print("|---|---|---|---|")
    print("| cold | %.2f s | %s | %d |" % (median(cold, "seconds"), tuple(cold[-1]["result"]),
                                         cold[-1]["requests"]))
    print("| unchanged | %.3f s | %s | %d |\n" % (median(noop, "seconds"), tuple(noop[-1]["result"]),
                                                noop[-1]["requests"]))


def bench_window():
    """One column, every 6th / 3rd beer: the window form's time grows with
    the square of the rows (MariaDB recomputes a window aggregate without
    a remove step over the whole frame for every row)."""
    embed_ctl("POST", "/_control/config", {"latency_ms": 0})
    forms = {
        "OVER () in a derived table":
            "SELECT COUNT(*), SUM(LENGTH(cached_embed(CONCAT('w', id), descr_long))) FROM "
            "(SELECT id, descr_long, cached_embed_warm(CONCAT('w', id), descr_long) OVER () AS w "
            "FROM descriptions WHERE id %% %d = 1) d",
        "aggregate in a derived table, CROSS JOIN":
            "SELECT COUNT(*), SUM(LENGTH(cached_embed(CONCAT('w', d.id), d.descr_long))) FROM "
            "(SELECT cached_embed_warm(CONCAT('w', id), descr_long) AS w FROM descriptions "
            "WHERE id %% %d = 1) AS warm CROSS JOIN descriptions d WHERE d.id %% %d = 1",
    }
    print("## w. the warm-up as a window function vs in a derived table (one column, cold)\n")
    print("| form | rows | wall time | provider requests |")
    print("|---|---|---|---|")
    for name, q in forms.items():
        for mod in (6, 3):
            cold_config(0)
            cold_provider()
            embed_ctl("POST", "/_control/config", {"latency_ms": 0})
            t0 = time.perf_counter()
            n = sql(q % ((mod,) * q.count("%%")))[0][0]
            print("| %s | %d | %.2f s | %d |" % (name, n, time.perf_counter() - t0,
                                              embed_ctl("GET", "/_control/stats")["requests"]))
    print()


# ---- b. warm path, c. sessions (unchanged) ---------------------------------------

def timed(q, conn=None):
    t0 = time.perf_counter()
    sql(q, conn)
    return time.perf_counter() - t0


def redis_get_us():
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", S["CE_REDIS_PORT"],
                          "-t", "get", "-d", "3072", "-c", "1", "-n", "50000", "-q"],
                         check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"GET: ([\d.]+) requests per second", out).group(1))
    return 1e6 / rps


def median_time(q, runs, conn):
    return statistics.median(timed(q, conn) for _ in range(runs))


def bench_warm_path(runs):
    embed_ctl("POST", "/_control/config", {"latency_ms": 0})
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


def parts():
    """The parts to run: BENCH_PARTS (comma-separated: a, a', n, s, b, c, w),
    else a, n, s, b, c plus a' with BENCH_SCALE=1 and w with BENCH_WINDOW=1."""
    given = os.environ.get("BENCH_PARTS", "")
    if given:
        return {p.strip() for p in given.split(",") if p.strip()}
    out = {"a", "n", "s", "b", "c"}
    if os.environ.get("BENCH_SCALE", "0") not in ("", "0"):
        out.add("a'")
    if os.environ.get("BENCH_WINDOW", "0") not in ("", "0"):
        out.add("w")
    return out


def report_setup():
    pool, log = sql("SELECT @@innodb_buffer_pool_size, @@innodb_log_file_size")[0]
    print("Set-up: InnoDB buffer pool %d MiB, redo log %d MiB; the provider (local embedding "
          "server) answers every request after %d ms%s; `parallel` %s.\n" % (
              int(pool) >> 20, int(log) >> 20, LATENCY_MS,
              ", from its vector cache filled before timing (untimed)" if PREWARM
              else ", embedding every text on this machine's cores",
              PARALLEL or "default (%s)" % ce_setting("parallel")))


def ce_setting(name):
    rows = sql("SHOW GLOBAL VARIABLES LIKE 'cached_embed_%s'" % name)
    return rows[0][1] if rows else "?"


def report_prewarm(name, pw):
    if pw:
        print("(untimed) the embedding server's cache filled with the %d texts of %s in both "
              "encodings: %.1f s, %.1f s of its CPU\n" % (pw["texts"], name, pw["seconds"],
                                                         pw["embed_cpu_s"]))


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    todo = parts()
    mem = [("start", proc_status(MARIADB_PID))]
    report_setup()

    n1, d1 = make_table("bench_5901", 1)
    if "a" in todo or "a'" in todo:
        report_prewarm("bench_5901", prewarm_provider("bench_5901"))
        res1 = bench_backfill("bench_5901", runs)
        t1 = report_backfill("a. cold backfill", n1, d1, *res1, runs)
        mem.append(("after a (5,901 rows)", proc_status(MARIADB_PID)))

    if "a'" in todo:
        n10, d10 = make_table("bench_59010", 10)
        report_prewarm("bench_59010", prewarm_provider("bench_59010"))
        res10 = bench_backfill("bench_59010", runs)
        t10 = report_backfill("a'. cold backfill at 10x", n10, d10, *res10, runs)
        mem.append(("after a' (59,010 rows)", proc_status(MARIADB_PID)))
        print("### 10x the rows\n")
        print("| | 5,901 rows | 59,010 rows | 10x-rows time ratio |")
        print("|---|---|---|---|")
        names = ("plugin, warm-up then UPDATE", "plugin, one statement", "reference pipeline")
        for name, a, b in zip(names, t1, t10):
            print("| %s | %.2f s | %.2f s | %.1fx |" % (name, a, b, b / a))
        print("| plugin speed-up vs reference | %.2fx (one statement %.2fx) | %.2fx (%.2fx) | |\n"
              % (t1[2] / t1[0], t1[2] / t1[1], t10[2] / t10[0], t10[2] / t10[1]))
        drop_table("bench_59010")

    if "n" in todo:
        bench_notebook(runs)
    if "s" in todo:
        bench_sync("bench_5901", runs)
    if "w" in todo:
        bench_window()
    if "n" in todo or "s" in todo or "w" in todo:
        mem.append(("after n and s", proc_status(MARIADB_PID)))
    drop_table("bench_5901")
    if "b" not in todo and "c" not in todo:
        report_memory(mem)
        set_config()
        return

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
    mem.append(("after b and c", proc_status(MARIADB_PID)))
    report_memory(mem)
    set_config()


def report_memory(mem):
    print("\n## m. mariadbd memory (/proc/PID/status; the server's caches from SHOW GLOBAL STATUS)\n")
    print("| after | VmHWM (peak) | VmRSS | change since start | InnoDB buffer pool data "
          "| Aria page cache | cached_embed local cache | server's Memory_used "
          "| rest (RSS minus the caches) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, m in mem:
        print("| %s | %.0f MiB | %.0f MiB | %+.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB "
              "| %.0f MiB |" % (
                  label, m["VmHWM"], m["VmRSS"], m["VmRSS"] - mem[0][1]["VmRSS"], m["innodb"],
                  m["aria"], m["local"], m["tracked"],
                  m["VmRSS"] - m["innodb"] - m["aria"] - m["local"]))


if __name__ == "__main__":
    main()
