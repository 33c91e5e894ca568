#!/usr/bin/python3
"""Figures of issue 9 (sections 2 and 5), against the servers
tests/harness.sh started (CE_STATE names its state file). Prints a markdown
report. Not a test: nothing here passes or fails.

  blip      16 sessions embedding fresh texts one row at a time; the provider
            answers 500 to 15 requests, then recovers: how many rows are NULL
  outage    the same load; the provider answers 503 to everything for D
            seconds, then recovers: how soon rows succeed again
  down      the provider answers 503 to everything: one 5,000-row statement
  memory    mariadbd's peak RSS growth (VmHWM, reset through clear_refs) with
            a 64 MiB provider body (warm-up of 256 rows, batch 256, and one
            row) and with a 16 MiB BLOB given to embedding_to_json
            (memory_blob, memory_row, memory_warm: one of them alone)
  warm_memory  the same for a warm-up of 40,000 rows of ~600 characters, at
            the default batch/parallel and at batch 2048, parallel 64

  CE_STATE=... bench/faults.py [blip|outage|down|memory ...]"""

import http.client
import json
import os
import sys
import threading
import time

import pymysql

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests"))
from harness_state import read_state  # noqa: E402


S = read_state(os.environ["CE_STATE"])
BASE_CONFIG = open(S["CE_CONFIG"]).read()
SESSIONS = 16


def db():
    return pymysql.connect(unix_socket=S["CE_SOCKET"], user="root", autocommit=True,
                           charset="utf8mb4")


def sql(q, args=None, conn=None):
    own = conn is None
    conn = conn or db()
    with conn.cursor() as c:
        c.execute(q, args)
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


def faults(*f):
    embed_ctl("POST", "/_control/faults", {"faults": list(f)})


def embed_reset():
    embed_ctl("POST", "/_control/reset", {})


def set_config(**kw):
    lines = [l for l in BASE_CONFIG.splitlines() if l.split("=")[0].strip() not in kw]
    lines += ["%s = %s" % kv for kv in kw.items()]
    open(S["CE_CONFIG"], "w").write("\n".join(lines) + "\n")
    time.sleep(1.2)


def stats():
    return json.loads(sql("SELECT cached_embed_stats()")[0][0])


def flush_redis():
    import subprocess
    subprocess.run(["redis-cli", "-s", S["CE_REDIS_SOCK"], "flushall"], check=True,
                   capture_output=True)


def settle():
    """Waits (at most 60 s) until a fresh row succeeds: each scenario starts
    with the circuit closed."""
    embed_reset()
    for i in range(60):
        if sql("SELECT cached_embed(NULL, %s)", ("settle %f" % time.time(),))[0][0]:
            return
        time.sleep(1)
    raise RuntimeError("the provider did not come back")


def load(seconds, events, tag):
    """SESSIONS sessions embed fresh texts one row per statement for
    `seconds`; `events` is [(t, fn)] run by the main thread at those times.
    Returns [(t_done, is_null)] and the event times actually reached."""
    rows, lock = [], threading.Lock()
    t0 = time.monotonic()
    stop = t0 + seconds

    def session(k):
        conn = db()
        mine, i = [], 0
        while time.monotonic() < stop:
            text = "%s session %d row %d about hops and malt" % (tag, k, i)
            v = sql("SELECT cached_embed(%s, %s)", ("%s:%d:%d" % (tag, k, i), text),
                    conn=conn)[0][0]
            mine.append((time.monotonic() - t0, v is None))
            i += 1
        conn.close()
        with lock:
            rows.extend(mine)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(SESSIONS)]
    for t in threads:
        t.start()
    at = {}
    for when, name, fn in events:
        delay = t0 + when - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        fn()
        at[name] = time.monotonic() - t0
    for t in threads:
        t.join()
    return sorted(rows), at


def blip():
    flush_redis()
    embed_reset()
    before = stats()
    rows, _ = load(6, [(1.5, "blip", lambda: faults({"status": 500, "count": 15}))], "blip")
    after = stats()
    es = embed_ctl("GET", "/_control/stats")
    nulls = sum(n for _, n in rows)
    print("| blip: 500 to 15 requests, 16 sessions, 6 s | %d rows | %d NULL | "
          "%d requests failed after retries | %d answered 500 | %d guard rejects | "
          "circuit now %s |" % (
              len(rows), nulls,
              after["provider_errors"] - before["provider_errors"],
              es["by_status"].get("500", 0),
              after["guard_rejects"] - before["guard_rejects"], after.get("circuit")))


def outage(seconds):
    flush_redis()
    embed_reset()
    events = [(2, "down", lambda: faults({"status": 503, "count": 10 ** 7})),
              (2 + seconds, "up", embed_reset)]
    rows, at = load(2 + seconds + 8, events, "outage%d" % seconds)
    up = at["up"]
    after_up = [(t, n) for t, n in rows if t > up]
    first_ok = next((t - up for t, n in after_up if not n), None)
    last_null = max((t - up for t, n in after_up if n), default=0.0)
    during = [(t, n) for t, n in rows if at["down"] < t <= up]
    print("| outage of %d s, 16 sessions | %d rows during, %d NULL | first row back "
          "%.2f s after the provider | last NULL row %.2f s after | %d rows after, %d NULL |"
          % (seconds, len(during), sum(n for _, n in during),
             first_ok if first_ok is not None else -1, last_null, len(after_up),
             sum(n for _, n in after_up)))


def down():
    flush_redis()
    conn = db()
    sql("CREATE DATABASE IF NOT EXISTS bench", conn=conn)
    sql("CREATE OR REPLACE TABLE bench.down (id INT PRIMARY KEY, body TEXT)", conn=conn)
    with conn.cursor() as c:
        c.executemany("INSERT INTO bench.down VALUES (%s, %s)",
                      [(i, "hard down row %d" % i) for i in range(5000)])
    embed_reset()
    faults({"status": 503, "count": 10 ** 7})
    t0 = time.monotonic()
    vecs = sql("SELECT cached_embed(CONCAT('down:', id), body) FROM bench.down", conn=conn)
    el = time.monotonic() - t0
    es = embed_ctl("GET", "/_control/stats")
    print("| provider hard down: one 5,000-row statement | %.2f s | %d NULL | %d provider "
          "requests |" % (el, sum(v[0] is None for v in vecs), es["requests"]))
    embed_reset()
    conn.close()


def proc_kb(pid, field):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_growth(pid, fn):
    """MiB the peak RSS rose above the RSS before fn()."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    base = proc_kb(pid, "VmRSS")
    fn()
    return (proc_kb(pid, "VmHWM") - base) / 1024.0


def memory(parts=("blob", "row", "warm")):
    pid = int(open(os.path.join(S["CE_DIR"], "mariadb.pid")).read())
    conn = db()
    sql("CREATE DATABASE IF NOT EXISTS bench", conn=conn)
    sql("CREATE OR REPLACE TABLE bench.mem (id INT PRIMARY KEY, body TEXT)", conn=conn)
    with conn.cursor() as c:
        c.executemany("INSERT INTO bench.mem VALUES (%s, %s)",
                      [(i, "memory row %d" % i) for i in range(256)])
    set_config(batch=256, circuit_failures=0)
    out = []

    def huge_warm():
        faults({"kind": "huge", "bytes": 64 << 20})
        r = sql("SELECT cached_embed_warm(CONCAT('mem:', id), body) FROM bench.mem",
                conn=conn)
        out.append(r[0][0])

    def huge_row():
        faults({"kind": "huge", "bytes": 64 << 20})
        out.append(sql("SELECT cached_embed('memrow', 'one memory row')", conn=conn)[0][0])

    def big_blob():
        # -1.1754944e-38: 15 characters of JSON per float
        r = sql("SELECT LENGTH(embedding_to_json(REPEAT(UNHEX('00008080'), 4194304)))",
                conn=conn)
        out.append(r[0][0])

    # the BLOB first: memory freed by an earlier scenario stays resident in
    # malloc's arenas and would hide a later one's growth
    for part, name, fn in (
            ("blob", "embedding_to_json of a 16 MiB BLOB", big_blob),
            ("row", "64 MiB provider body, one row", huge_row),
            ("warm", "64 MiB provider body, warm-up of 256 rows (batch 256)", huge_warm)):
        if part not in parts:
            continue
        flush_redis()
        embed_reset()
        grew = peak_growth(pid, fn)
        print("| %s | peak RSS +%.1f MiB | result %r |" % (name, grew, out[-1]))
    set_config()
    embed_reset()
    conn.close()


def warm_memory():
    pid = int(open(os.path.join(S["CE_DIR"], "mariadb.pid")).read())
    conn = db()
    sql("CREATE DATABASE IF NOT EXISTS bench", conn=conn)
    sql("CREATE OR REPLACE TABLE bench.wm (id INT PRIMARY KEY, body TEXT)", conn=conn)
    words = ("amber malt hops citrus pine resin caramel toffee biscuit bread "
             "grapefruit mango peach floral herbal spicy earthy roasted coffee").split()
    rows = []
    for i in range(40000):
        t = ["row %d:" % i] + [words[(i * 7 + k * 3) % len(words)] for k in range(95)]
        rows.append((i, " ".join(t)[:600]))
    with conn.cursor() as c:
        for k in range(0, len(rows), 2000):
            c.executemany("INSERT INTO bench.wm VALUES (%s, %s)", rows[k:k + 2000])
    for kw in ({}, {"batch": 2048, "parallel": 64}):
        set_config(circuit_failures=0, timeout_ms=60000, **kw)
        flush_redis()
        embed_reset()
        out = []
        t0 = time.monotonic()
        grew = peak_growth(pid, lambda: out.append(sql(
            "SELECT cached_embed_warm(CONCAT('wm:', id), body) FROM bench.wm",
            conn=conn)[0][0]))
        print("| warm-up of 40,000 rows (~600 characters), %s | peak RSS +%.1f MiB | "
              "%s rows cached in %.1f s | %d provider requests |"
              % (", ".join("%s %s" % kv for kv in kw.items()) or "default batch/parallel",
                 grew, out[0], time.monotonic() - t0,
                 embed_ctl("GET", "/_control/stats")["requests"]))
        sys.stdout.flush()
    set_config()
    conn.close()


def main():
    what = sys.argv[1:] or ["blip", "outage", "down", "memory"]
    print("| scenario | figures |")
    print("|---|---|")
    for w in what:
        settle()
        if w == "blip":
            blip()
        elif w == "outage":
            outage(5)
            settle()
            outage(20)
        elif w == "down":
            down()
        elif w == "memory":
            memory()
        elif w.startswith("memory_"):  # memory_blob, memory_row, memory_warm
            memory((w[len("memory_"):],))
        elif w == "warm_memory":
            warm_memory()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
