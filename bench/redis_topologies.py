#!/usr/bin/python3
"""Redis deployments compared (issue 11), against the servers
tests/harness.sh started (CE_STATE) with the Open Beer DB loaded: the same
work on a single Redis over loopback TCP, the same over TLS, and a Redis
Cluster of 3 masters + 3 replicas (started here, stopped at the end). Prints
a markdown table. Not a test: nothing passes or fails on time.

  warm-up, cold   cached_embed_warm over the 5,901 beers, empty cache (local
                  embedding server, no added latency): lookups, 24 provider
                  requests, pipelined writes
  warm-up, warm   the same again: every row a hit (pipelined lookups only)
  hit-only pass   SELECT SUM(LENGTH(cached_embed(...))) over the cached rows,
                  local cache off: one round trip per row

Then fail-over: with every beer cached, a cluster master (or the sentinel's
master) is SIGKILLed while the hit-only pass runs again and again; for each
pass: seconds since the kill, provider requests, NULL rows."""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import pymysql  # noqa: E402
from support import BASE_CONFIG, S, Embed  # noqa: E402
from extra_servers import Certs, Redis, RedisCluster, Sentinel, stop_all  # noqa: E402

ROWS = 5901
WARM = ("SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) "
        "FROM descriptions")
HITS = ("SELECT SUM(LENGTH(cached_embed(CONCAT('beer:', id, ':long'), descr_long))) "
        "FROM descriptions")


def set_config(**kw):
    lines = [l for l in BASE_CONFIG.splitlines() if l.split("=")[0].strip() not in kw]
    lines += ["%s = %s" % kv for kv in kw.items()]
    open(S["CE_CONFIG"], "w").write("\n".join(lines) + "\n")
    time.sleep(1.2)


def timed(conn, q):
    t0 = time.perf_counter()
    with conn.cursor() as c:
        c.execute(q)
        c.fetchall()
    return time.perf_counter() - t0


def measure(name, settings, flush, runs):
    set_config(local_cache_mb=0, **settings)
    conn = pymysql.connect(unix_socket=S["CE_SOCKET"], user="root", database="openbeer",
                           autocommit=True)
    cold, warm, hits, reqs = [], [], [], []
    for _ in range(runs):
        flush()
        Embed.reset()
        cold.append(timed(conn, WARM))
        reqs.append(Embed.requests())
        warm.append(timed(conn, WARM))
        hits.append(timed(conn, HITS))
    conn.close()
    med = statistics.median
    print("| %s | %.2f s | %d | %.3f s | %.3f s | %.1f µs |" % (
        name, med(cold), med(reqs), med(warm), med(hits), med(hits) / ROWS * 1e6))


NULLS = ("SELECT SUM(cached_embed(CONCAT('beer:', id, ':long'), descr_long) IS NULL) "
         "FROM descriptions")


def failover(name, settings, warm_up, kill, recovered):
    """Passes over the cached beers while `kill` happens: until a pass is
    free again after `recovered()` says the fail-over is over."""
    set_config(local_cache_mb=0, **settings)
    conn = pymysql.connect(unix_socket=S["CE_SOCKET"], user="root", database="openbeer",
                           autocommit=True)
    timed(conn, WARM)
    warm_up()
    t_kill = time.monotonic()
    kill()
    passes, done_at = [], None
    while len(passes) < 60:
        Embed.reset()
        t0 = time.monotonic() - t_kill
        with conn.cursor() as c:
            c.execute(NULLS)
            nulls = c.fetchall()[0][0]
        reqs = Embed.requests()
        passes.append("at %.1f s: %d requests, %d NULL" % (t0, reqs, nulls))
        if done_at is None and recovered():
            done_at = time.monotonic() - t_kill
        if done_at is not None and reqs == 0:
            break
    conn.close()
    print("- **%s**: passes of %d rows started %s; fail-over seen done %.1f s after "
          "the kill" % (name, ROWS, "; ".join(passes), done_at or -1))


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    Embed.config(latency_ms=0)
    print("| Redis | warm-up, cold (median of %d) | provider requests | warm-up, warm | "
          "hit-only pass | per row |" % runs)
    print("|---|---|---|---|---|---|")
    try:
        single = Redis("bench-single")
        measure("single, TCP", {"redis": "redis://127.0.0.1:%d" % single.port},
                lambda: single.client().flushall(), runs)
        certs = Certs()
        tls = Redis("bench-tls", tls_certs=certs)
        measure("single, TLS", {"redis": "rediss://127.0.0.1:%d" % tls.port,
                                "redis_tls_ca_file": certs.path("ca.crt")},
                lambda: tls.client().flushall(), runs)
        cluster = RedisCluster()

        def flush_cluster():
            for m in cluster.masters():
                m.client().flushall()
        measure("cluster 3+3, TCP", {"redis": cluster.url()}, flush_cluster, runs)
        print()

        def sync_replicas():
            for m in cluster.masters():
                m.client().execute_command("WAIT", 1, 5000)
        victim = cluster.masters()[0]

        def cluster_ok():
            try:
                cluster.wait_ok(0.2)
                return True
            except RuntimeError:
                return False
        failover("cluster, a master SIGKILLed (cluster-node-timeout 1000 ms)",
                 {"redis": cluster.url()}, sync_replicas, victim.kill, cluster_ok)
        sent = Sentinel()
        failover("sentinel, the master SIGKILLed (down-after-milliseconds 1000)",
                 {"redis": sent.url()},
                 lambda: sent.master.client().execute_command("WAIT", 1, 5000),
                 sent.master.kill,
                 lambda: sent.master_port() == sent.replica.port)
    finally:
        set_config()
        stop_all()


if __name__ == "__main__":
    main()
