#!/usr/bin/python3
"""Concurrent misses (issue 10), against the servers tests/harness.sh started
(CE_STATE names its state file). Prints a markdown report. Not a test:
nothing here passes or fails on time; the counts are what the issue asks
about.

  1. 16 sessions of one server ask for the same 40 uncached texts at the
     same moment, provider at 200 ms: provider inputs and requests;
  2. two MariaDB servers on one Redis (the second started here, as
     tests/integration/extra_servers.py does), 8 sessions each, the same 40
     new texts, provider at 200 ms: provider inputs;
  3. 16 sessions each missing their own 12 texts at once, provider at
     100 ms: provider requests for the 192 rows;
  4. one session alone: a miss (provider without added latency) and a hit
     (Redis, local cache off; then the local cache), per row.

Every vector is compared with what the embedding server gives for its text;
wrong and NULL rows are counted. BENCH_REPS (default 3) runs of each, the
median shown with the range."""

import json
import os
import statistics
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from support import (S, Embed, db, mariadb_cli, query, rds,  # noqa: E402
                     set_config, vector_bytes)
from extra_servers import MariaDB, stop_all  # noqa: E402

REPS = int(os.environ.get("BENCH_REPS", "3"))


def install_sql():
    """sql/install.sql of the sources the build under test came from (an
    older build may lack functions the current file creates)."""
    try:
        for line in open(os.path.join(S["CE_BUILD"], "CMakeCache.txt")):
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                return os.path.join(line.split("=", 1)[1].strip(), "sql", "install.sql")
    except OSError:
        pass
    return os.path.join(os.path.dirname(HERE), "sql", "install.sql")


def table(conn_query, name, rows):
    """(Re)creates t.<name> (sess, id, body) with `rows`."""
    conn_query("CREATE DATABASE IF NOT EXISTS t")
    conn_query("CREATE OR REPLACE TABLE t.%s (sess INT, id INT, body TEXT, "
               "PRIMARY KEY (sess, id))" % name)
    for i in range(0, len(rows), 200):
        chunk = rows[i:i + 200]
        conn_query("INSERT INTO t.%s VALUES " % name +
                   ",".join(["(%s, %s, %s)"] * len(chunk)),
                   [v for r in chunk for v in r])


def sessions(connects, sql_of):
    """Runs one statement per session, all released at once; returns
    (wall seconds, [(session, rows)])."""
    conns = [c() for c in connects]
    barrier = threading.Barrier(len(conns) + 1)
    out = [None] * len(conns)

    def run(i):
        barrier.wait()
        with conns[i].cursor() as c:
            c.execute(sql_of(i))
            out[i] = c.fetchall()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.monotonic()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    for c in conns:
        c.close()
    return wall, out


def check(out, text_of):
    """(NULL rows, wrong rows) of every session's (id, vector) rows."""
    nulls = wrong = 0
    for i, rows in enumerate(out):
        for rid, vec in rows:
            if vec is None:
                nulls += 1
            elif vec != vector_bytes(text_of(i, rid)):
                wrong += 1
    return nulls, wrong


def fresh_texts(tag, n):
    run = uuid.uuid4().hex[:8]
    return ["%s text %d of run %s about a hazy pale ale with citrus" % (tag, i, run)
            for i in range(n)]


def same_texts_one_server():
    texts = fresh_texts("same", 40)
    table(lambda q, a=None: query(q, a), "same", [(0, i, t) for i, t in enumerate(texts)])
    rds().flushall()
    Embed.reset()
    Embed.config(latency_ms=200)
    wall, out = sessions([db] * 16, lambda i: "SELECT id, cached_embed(CONCAT('same:', id), "
                         "body) FROM t.same ORDER BY id")
    st = Embed.stats()
    nulls, wrong = check(out, lambda s, rid: texts[rid])
    return dict(inputs=st["inputs"], requests=st["requests"], wall=wall, nulls=nulls,
                wrong=wrong, rows=16 * 40)


def same_texts_two_servers(second):
    texts = fresh_texts("two servers", 40)
    rows = [(0, i, t) for i, t in enumerate(texts)]
    table(lambda q, a=None: query(q, a), "two", rows)
    table(second.query, "two", rows)
    rds().flushall()
    Embed.reset()
    Embed.config(latency_ms=200)
    connects = [db] * 8 + [second.connect] * 8
    wall, out = sessions(connects, lambda i: "SELECT id, cached_embed(CONCAT('two:', id), "
                         "body) FROM t.two ORDER BY id")
    st = Embed.stats()
    nulls, wrong = check(out, lambda s, rid: texts[rid])
    return dict(inputs=st["inputs"], requests=st["requests"], wall=wall, nulls=nulls,
                wrong=wrong, rows=16 * 40)


def distinct_texts():
    texts = {(s, i): "distinct text %d of session %d, run %s, a roasty stout"
             % (i, s, uuid.uuid4().hex[:8]) for s in range(16) for i in range(12)}
    table(lambda q, a=None: query(q, a), "dist",
          [(s, i, t) for (s, i), t in sorted(texts.items())])
    rds().flushall()
    Embed.reset()
    Embed.config(latency_ms=100)
    wall, out = sessions([db] * 16, lambda s: "SELECT id, cached_embed(CONCAT('dist:', sess, "
                         "':', id), body) FROM t.dist WHERE sess = %d ORDER BY id" % s)
    st = Embed.stats()
    nulls, wrong = check(out, lambda s, rid: texts[(s, rid)])
    return dict(inputs=st["inputs"], requests=st["requests"], wall=wall, nulls=nulls,
                wrong=wrong, rows=192)


def single_session(n=300):
    """Per-row µs of a miss (no added provider latency), a Redis hit, a
    local-cache hit: one statement over n rows, minus the same statement
    without the function."""
    texts = fresh_texts("single", n)
    table(lambda q, a=None: query(q, a), "single", [(0, i, t) for i, t in enumerate(texts)])
    Embed.reset()
    Embed.config(latency_ms=0)
    rds().flushall()
    fn = "SELECT SUM(LENGTH(cached_embed(CONCAT('single:', id), body))) FROM t.single"
    base = "SELECT SUM(LENGTH(CONCAT('single:', id)) + LENGTH(body)) FROM t.single"
    conn = db()

    def timed(sql):
        t0 = time.perf_counter()
        with conn.cursor() as c:
            c.execute(sql)
            c.fetchall()
        return time.perf_counter() - t0

    miss = timed(fn)
    redis_hit = min(timed(fn) for _ in range(5))
    nothing = min(timed(base) for _ in range(5))
    conn.close()
    return dict(miss=(miss - nothing) / n * 1e6, redis_hit=(redis_hit - nothing) / n * 1e6)


def local_hit(n=300):
    set_config(local_cache_mb=32)
    try:
        conn = db()
        fn = "SELECT SUM(LENGTH(cached_embed(CONCAT('single:', id), body))) FROM t.single"
        base = "SELECT SUM(LENGTH(CONCAT('single:', id)) + LENGTH(body)) FROM t.single"
        times = {}
        for name, sql in (("fn", fn), ("base", base)):
            best = None
            for _ in range(6):
                t0 = time.perf_counter()
                with conn.cursor() as c:
                    c.execute(sql)
                    c.fetchall()
                d = time.perf_counter() - t0
                best = d if best is None else min(best, d)
            times[name] = best
        conn.close()
        return (times["fn"] - times["base"]) / n * 1e6
    finally:
        set_config()


def med(values, fmt="%d"):
    m = statistics.median(values)
    if min(values) == max(values):
        return fmt % m
    return (fmt + " (%s–%s)") % (m, fmt % min(values), fmt % max(values))


def report(name, runs, key):
    vals = [r[key] for r in runs]
    return name, med(vals)


def main():
    r = mariadb_cli(install_sql())
    if r.returncode:
        raise RuntimeError("install.sql failed: " + r.stderr.decode())
    version = query("SELECT VERSION()")[0][0]
    print("build: `%s`, MariaDB %s, %d runs each (median, range)\n"
          % (S["CE_BUILD"], version, REPS))
    stats0 = json.loads(query("SELECT cached_embed_stats()")[0][0])
    try:
        one = [same_texts_one_server() for _ in range(REPS)]
        second = MariaDB("bench-second")
        second.run_file(install_sql())
        two = [same_texts_two_servers(second) for _ in range(REPS)]
        dist = [distinct_texts() for _ in range(REPS)]
        Embed.config(latency_ms=0)
        single = [single_session() for _ in range(REPS)]
        local = [local_hit() for _ in range(REPS)]
    finally:
        Embed.config(latency_ms=0)
        stop_all()
    print("| measurement | provider inputs | provider requests | rows | NULL | wrong | wall |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in (("1. 16 sessions × the same 40 new texts, provider 200 ms", one),
                       ("2. two servers × 8 sessions, the same 40 new texts, 200 ms", two),
                       ("3. 16 sessions × 12 distinct texts each, provider 100 ms", dist)):
        print("| %s | %s | %s | %d | %s | %s | %s s |" % (
            name, med([r["inputs"] for r in runs]), med([r["requests"] for r in runs]),
            runs[0]["rows"], med([r["nulls"] for r in runs]), med([r["wrong"] for r in runs]),
            med([r["wall"] for r in runs], "%.2f")))
    print()
    print("| one session, per row | µs |")
    print("|---|---|")
    print("| miss (provider without added latency) | %s |" % med([r["miss"] for r in single], "%.0f"))
    print("| Redis hit (local cache off) | %s |" % med([r["redis_hit"] for r in single], "%.1f"))
    print("| local-cache hit | %s |" % med(local, "%.2f"))
    stats1 = json.loads(query("SELECT cached_embed_stats()")[0][0])
    extra = {k: stats1[k] - stats0.get(k, 0) for k in
             ("waited", "shared_requests", "tokens_saved") if k in stats1}
    if extra:
        print("\ncounters over the whole run: %s" % json.dumps(extra))


if __name__ == "__main__":
    main()
