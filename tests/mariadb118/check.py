"""The MariaDB 11.8 VECTOR checks, run by tests/mariadb118/run.sh inside the
trixie chroot (python3 + python3-pymysql there). Exits non-zero on the first
failed check; prints what it measured."""

import argparse
import math
import os
import struct
import sys

import pymysql

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "embed_server"))
from embed_server import embed  # noqa: E402

FAILED = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILED.append(what)


def floats(blob):
    return struct.unpack("<%df" % (len(blob) // 4), blob)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--rows", type=int, default=400)
    opt = ap.parse_args()
    conn = pymysql.connect(unix_socket=opt.socket, user="root", database="openbeer",
                           autocommit=True, charset="utf8mb4")
    c = conn.cursor()

    def q(sql, args=None):
        c.execute(sql, args)
        return c.fetchall()

    print("server:", q("SELECT VERSION()")[0][0])

    # 1. cached_embed output stored in a VECTOR(768) column with a VECTOR INDEX.
    q("DROP TABLE IF EXISTS beer_vec")
    q("""CREATE TABLE beer_vec (
           id INT PRIMARY KEY, name VARCHAR(255) NOT NULL,
           v VECTOR(768) NOT NULL,
           VECTOR INDEX (v) M=16 DISTANCE=cosine) ENGINE=InnoDB""")
    n = c.execute("""INSERT INTO beer_vec (id, name, v)
                     SELECT id, name, cached_embed(CONCAT(id, '_long'), descr_long)
                     FROM descriptions ORDER BY id LIMIT %s""", (opt.rows,))
    check(n == opt.rows, "INSERT ... SELECT cached_embed(...) into VECTOR(768): %d rows" % n)
    ddl = q("SHOW CREATE TABLE beer_vec")[0][1]
    check("vector(768)" in ddl.lower() and "VECTOR KEY" in ddl.upper(),
          "table has a vector(768) column and a VECTOR KEY")
    rows = q("""SELECT b.id, b.v, d.descr_long, VEC_ToText(b.v)
                FROM beer_vec b JOIN descriptions d USING (id) ORDER BY b.id""")
    same = sum(1 for _, v, text, _t in rows
               if bytes(v) == struct.pack("<768f", *embed(text, 768)))
    check(same == len(rows) == opt.rows,
          "stored vectors equal the embedding server's vectors: %d/%d" % (same, len(rows)))
    first = [float(x) for x in rows[0][3].strip("[]").split(",")]
    check(len(first) == 768 and max(abs(a - b) for a, b in zip(first, floats(bytes(rows[0][1])))) < 1e-6,
          "VEC_ToText(v) reads back the float32 values (768 numbers)")
    vecs = {r[0]: floats(bytes(r[1])) for r in rows}

    # 2. VEC_DISTANCE_COSINE(a, b) = 1 - embedding_cosine(a, b).
    have_udf = q("SELECT COUNT(*) FROM mysql.func WHERE name = 'embedding_cosine'")[0][0] == 1
    ids = sorted(vecs)[:40]
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
    worst = 0.0
    for a, b in pairs:
        if have_udf:
            d, ref = q("""SELECT VEC_DISTANCE_COSINE(x.v, y.v), 1 - embedding_cosine(x.v, y.v)
                          FROM beer_vec x, beer_vec y WHERE x.id = %s AND y.id = %s""", (a, b))[0]
        else:
            d = q("""SELECT VEC_DISTANCE_COSINE(x.v, y.v) FROM beer_vec x, beer_vec y
                     WHERE x.id = %s AND y.id = %s""", (a, b))[0][0]
            ref = 1 - cosine(vecs[a], vecs[b])
        worst = max(worst, abs(d - ref))
    check(worst < 1e-5, "VEC_DISTANCE_COSINE vs 1 - %s over %d pairs: max |diff| = %.3g"
          % ("embedding_cosine() (SQL)" if have_udf else "cosine computed in Python from the BLOBs",
             len(pairs), worst))

    # 3. The vector index serves ORDER BY VEC_DISTANCE*(v, @q) LIMIT 10.
    target = sorted(vecs)[len(vecs) // 3]
    text = q("SELECT descr_long FROM descriptions WHERE id = %s", (target,))[0][0]
    q("SET @q = cached_embed(%s, %s)", ("%d_long" % target, text))
    for fn in ("VEC_DISTANCE_COSINE", "VEC_DISTANCE"):
        sql = "SELECT id FROM beer_vec ORDER BY %s(v, @q) LIMIT 10" % fn
        c.execute("EXPLAIN " + sql)
        cols = [d[0] for d in c.description]
        ex = [dict(zip(cols, r)) for r in c.fetchall()]
        print("     EXPLAIN %s\n       -> %s" % (sql, ex))
        check(len(ex) == 1 and ex[0]["key"] == "v" and "filesort" not in (ex[0]["Extra"] or ""),
              "EXPLAIN: %s uses the vector index (key=%s, type=%s, Extra=%s)"
              % (fn, ex[0].get("key"), ex[0].get("type"), ex[0].get("Extra")))
        top = [r[0] for r in q(sql)]
        exact = [r[0] for r in q("SELECT id FROM beer_vec IGNORE INDEX (v) ORDER BY %s(v, @q) LIMIT 10" % fn)]
        check(top[:1] == [target], "%s: nearest to row %d's own text is row %d" % (fn, target, top[0]))
        print("     %s: index top-10 vs exact top-10 overlap %d/10" % (fn, len(set(top) & set(exact))))
    q("SET @q = cached_embed('q:hoppy', 'hoppy citrus IPA with grapefruit aroma')")
    top = q("SELECT b.id, d.descr_short, VEC_DISTANCE_COSINE(b.v, @q) AS dist FROM beer_vec b "
            "JOIN descriptions d USING (id) ORDER BY VEC_DISTANCE_COSINE(b.v, @q) LIMIT 3")
    for r in top:
        print("     'hoppy citrus IPA' (lexical local server, %d rows) -> %d %s (%.4f)" % ((opt.rows,) + r))

    conn.close()
    print("%d check(s) failed" % len(FAILED) if FAILED else "all checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
