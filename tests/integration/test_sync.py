"""CALL cached_embed.sync(table, text_expression, vector_column,
source_column, batch_rows): the procedure of sql/sync.sql, installed by
sql/install.sql. First run embeds every row in batched chunks; a second run
on an unchanged table asks the provider nothing and writes nothing (a
BEFORE UPDATE trigger counts every row an UPDATE touches, Handler_update
every row written); 10 edited rows are 10 provider inputs; with the
provider down the old vectors and sources stay and the rows are counted
failed, then caught up; a NULL or blank text clears; bad arguments are
refused with a message; quoted names and a string key work; a killed run
keeps its committed chunks and the next run finishes; the README's event
recipe (sql/examples/sync.sql) runs under the event scheduler."""

import hashlib
import os
import subprocess
import sys
import threading
import time

import pymysql

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import (ROOT, S, Embed, ServerTestCase, db, main, query, rds,  # noqa: E402
                     restore_config, scalar, set_config, vector_bytes)

DB = "ce_sync"
N = 600


def text_of(i, edit=0):
    return "item %d: a %s beer with %s notes, edit %d" % (
        i, ["pale", "dark", "amber", "golden"][i % 4], ["citrus", "malt", "pine"][i % 3], edit)


def sha(text):
    return hashlib.sha256(text.encode()).digest()


class SyncTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        query("DROP DATABASE IF EXISTS `%s`" % DB)
        query("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % DB)
        query("CREATE TABLE `%s`.items (id INT PRIMARY KEY, body TEXT NULL, "
              "vec VARBINARY(3072) NULL, vec_src BINARY(32) NULL)" % DB)
        query("INSERT INTO `%s`.items (id, body) VALUES %s" % (
            DB, ", ".join("(%d, '%s')" % (i, text_of(i)) for i in range(1, N + 1))))
        # counts every row an UPDATE touches, in the session that runs it
        query("CREATE TRIGGER `%s`.items_touched BEFORE UPDATE ON `%s`.items FOR EACH ROW "
              "SET @touched = COALESCE(@touched, 0) + 1" % (DB, DB))
        self.conn = db()

    def tearDown(self):
        self.conn.close()
        query("SET GLOBAL event_scheduler = OFF")
        query("DROP DATABASE IF EXISTS `%s`" % DB)
        restore_config()
        super().tearDown()

    def sync(self, batch_rows=100, table=DB + ".items", expr="body", vec="vec",
             src="vec_src", conn=None):
        """One CALL; returns ((embedded, unchanged, failed), rows touched,
        rows written)."""
        conn = conn or self.conn
        with conn.cursor() as c:
            c.execute("SET @touched = 0")
            c.execute("SHOW SESSION STATUS LIKE 'Handler_update'")
            written = -int(c.fetchall()[0][1])
            c.execute("CALL cached_embed.sync(%s, %s, %s, %s, %s)",
                      (table, expr, vec, src, batch_rows))
            row = c.fetchall()[0]
            while c.nextset():
                pass
            c.execute("SELECT @touched")
            touched = c.fetchall()[0][0]
            c.execute("SHOW SESSION STATUS LIKE 'Handler_update'")
            written += int(c.fetchall()[0][1])
        return tuple(int(x) for x in row), touched, written

    def table(self):
        return {r[0]: r[1:] for r in query(
            "SELECT id, body, vec, vec_src FROM `%s`.items" % DB)}

    def assert_in_step(self, rows=None):
        for id_, (body, vec, src) in (rows or self.table()).items():
            self.assertEqual(vec, vector_bytes(body), id_)
            self.assertEqual(src, sha(body), id_)

    def test_first_run_embeds_all_then_a_second_run_does_nothing(self):
        self.assertEqual(self.sync(100), ((N, 0, 0), N, N))
        # 6 chunks of 100 rows: one request each (batch 256)
        self.assertEqual(Embed.requests(), N // 100)
        self.assertEqual(Embed.stats()["inputs"], N)
        self.assert_in_step()
        # unchanged: no provider request, no row touched or written
        self.assertEqual(self.sync(100), ((0, N, 0), 0, 0))
        self.assertEqual(Embed.requests(), N // 100)
        # also from an empty cache: what to do is decided from the table
        rds().flushall()
        self.assertEqual(self.sync(100), ((0, N, 0), 0, 0))
        self.assertEqual(Embed.requests(), N // 100)

    def test_ten_edited_rows_are_ten_provider_inputs(self):
        self.sync(1000)
        before = self.table()
        edited = list(range(7, N, 60))[:10]
        for i in edited:
            query("UPDATE `%s`.items SET body = %%s WHERE id = %%s" % DB, (text_of(i, 1), i))
        Embed.reset()
        self.assertEqual(self.sync(1000), ((10, N - 10, 0), 10, 10))
        self.assertEqual(Embed.requests(), 1)
        self.assertEqual(Embed.stats()["inputs"], 10)
        after = self.table()
        self.assert_in_step(after)
        for i in after:
            if i not in edited:
                self.assertEqual(after[i], before[i])

    def test_provider_down_keeps_old_vectors_then_catches_up(self):
        self.sync(100)
        edited = [3, 150, 299, 420, 599]
        for i in edited:
            query("UPDATE `%s`.items SET body = %%s WHERE id = %%s" % DB, (text_of(i, 2), i))
        before = self.table()
        # nothing listens on port 9 (discard): every request is refused
        set_config(endpoint="http://127.0.0.1:9/v1/embeddings")
        self.assertEqual(self.sync(100), ((0, N - 5, 5), 0, 0))
        self.assertEqual(self.table(), before)  # old vectors and sources kept
        for i in edited:
            self.assertEqual(before[i][1], vector_bytes(text_of(i)))  # the old text's
        # again: still failed, still nothing written
        self.assertEqual(self.sync(100), ((0, N - 5, 5), 0, 0))
        # provider back: caught up
        restore_config()
        Embed.reset()
        self.assertEqual(self.sync(100), ((5, N - 5, 0), 5, 5))
        self.assertEqual(Embed.stats()["inputs"], 5)
        self.assert_in_step()

    def test_provider_errors_mid_run_fail_only_their_rows(self):
        # 503 on the first request's attempts (retries included): the first
        # chunk fails; the others are embedded; the next run takes the rest
        set_config(retries=0, circuit_failures=0)
        Embed.faults({"status": 503, "count": 1})
        self.assertEqual(self.sync(100), ((N - 100, 0, 100), N - 100, N - 100))
        rows = self.table()
        self.assertEqual(sum(1 for r in rows.values() if r[1] is None), 100)
        self.assertEqual(self.sync(100), ((100, N - 100, 0), 100, 100))
        self.assert_in_step()

    def test_null_or_blank_text_clears(self):
        self.sync(1000)
        query("UPDATE `%s`.items SET body = NULL WHERE id = 5" % DB)
        query("UPDATE `%s`.items SET body = ' \\t\\n' WHERE id = 6" % DB)
        Embed.reset()
        self.assertEqual(self.sync(1000), ((2, N - 2, 0), 2, 2))
        self.assertEqual(Embed.requests(), 0)
        rows = self.table()
        self.assertEqual(rows[5][1:], (None, None))
        self.assertEqual(rows[6][1:], (None, None))
        self.assertEqual(self.sync(1000), ((0, N, 0), 0, 0))
        # text back: embedded again
        query("UPDATE `%s`.items SET body = 'back again' WHERE id = 5" % DB)
        self.assertEqual(self.sync(1000), ((1, N - 1, 0), 1, 1))
        self.assertEqual(self.table()[5][1], vector_bytes("back again"))

    def refused(self, *args, **kw):
        with self.assertRaises(pymysql.err.MySQLError) as cm:
            self.sync(*args, **kw)
        return str(cm.exception)

    def test_bad_arguments_are_refused_with_a_message(self):
        msg = self.refused(100, table="items")
        self.assertIn("table_name must be db.table", msg)
        self.assertIn("'items'", msg)
        self.assertIn("must be db.table", self.refused(100, table="a.b.c"))
        self.assertIn("no base table `ce_sync`.`nope`", self.refused(100, table=DB + ".nope"))
        self.assertIn("batch_rows must be 1 to 100000, got 0", self.refused(0))
        self.assertIn("no column `v2`", self.refused(100, vec="v2"))
        query("ALTER TABLE `%s`.items ADD COLUMN s64 CHAR(64) NULL" % DB)
        self.assertIn("source column `s64` must be BINARY(32)", self.refused(100, src="s64"))
        query("CREATE TABLE `%s`.nokey (a INT, b INT, body TEXT, vec BLOB, vec_src BINARY(32))" % DB)
        self.assertIn("needs a single-column primary key or unique NOT NULL key",
                      self.refused(100, table=DB + ".nokey"))
        query("CREATE TABLE `%s`.twokey (a INT, b INT, c INT NULL, body TEXT, vec BLOB, "
              "vec_src BINARY(32), PRIMARY KEY (a, b), UNIQUE KEY (c))" % DB)  # c: nullable
        self.assertIn("needs a single-column primary key",
                      self.refused(100, table=DB + ".twokey"))
        with self.conn.cursor() as c:
            c.execute("BEGIN")
            c.execute("SELECT 1")
        self.assertIn("call it outside a transaction", self.refused(100))
        self.conn.rollback()
        self.assertEqual(Embed.requests(), 0)
        self.assertEqual(scalar("SELECT COUNT(vec) FROM `%s`.items" % DB), 0)

    def test_quoted_names_string_key_and_unique_key(self):
        query("CREATE TABLE `%s`.`we``ird t` (k VARCHAR(20) COLLATE latin1_swedish_ci NOT NULL "
              "PRIMARY KEY, `the text` TEXT CHARACTER SET latin1, `my vec` BLOB, "
              "`my src` BINARY(32))" % DB)
        keys = ["a", "B", "c", "D", "e", "F", "g", "h", "I", "j"]
        texts = {k: "caf\u00e9 number %s" % k for k in keys}
        for k, t in texts.items():
            query("INSERT INTO `%s`.`we``ird t` VALUES (%%s, %%s, NULL, NULL)" % DB, (k, t))
        tbl = "%s.`we``ird t`" % DB
        self.assertEqual(self.sync(3, table=tbl, expr="`the text`", vec="my vec", src="my src"),
                         ((10, 0, 0), 0, 10))  # (no trigger on this table)
        self.assertEqual(Embed.requests(), 4)  # chunks of 3: 3 + 3 + 3 + 1
        for k, vec, src in query("SELECT k, `my vec`, `my src` FROM `%s`.`we``ird t`" % DB):
            self.assertEqual(vec, vector_bytes(texts[k]), k)  # latin1 column, UTF-8 text
            self.assertEqual(src, sha(texts[k]), k)
        self.assertEqual(self.sync(3, table=tbl, expr="`the text`", vec="my vec", src="my src"),
                         ((0, 10, 0), 0, 0))
        # no primary key, but a unique NOT NULL column
        query("CREATE TABLE `%s`.u (code CHAR(8) NOT NULL, note TEXT, vec BLOB, vec_src BINARY(32), "
              "UNIQUE KEY (code))" % DB)
        query("INSERT INTO `%s`.u (code, note) VALUES ('x1', 'one'), ('x2', 'two')" % DB)
        self.assertEqual(self.sync(1, table=DB + ".u", expr="CONCAT(code, ': ', note)"),
                         ((2, 0, 0), 0, 2))
        self.assertEqual(scalar("SELECT vec FROM `%s`.u WHERE code = 'x2'" % DB),
                         vector_bytes("x2: two"))

    def test_killed_run_keeps_its_chunks_and_the_next_run_finishes(self):
        # 12 chunks of 50 rows, a request of 300 ms each
        Embed.config(latency_ms=300)
        conn = db()
        conn_id = conn.thread_id()
        outcome = {}

        def run():
            try:
                outcome["result"] = self.sync(50, conn=conn)
            except pymysql.err.MySQLError as e:
                outcome["error"] = e

        t = threading.Thread(target=run)
        t.start()
        deadline = time.monotonic() + 60
        while scalar("SELECT COUNT(vec) FROM `%s`.items" % DB) == 0:
            self.assertLess(time.monotonic(), deadline, "no chunk committed")
            time.sleep(0.05)
        query("KILL %d" % conn_id)
        t.join(60)
        self.assertIn("error", outcome, outcome)
        try:
            conn.close()
        except pymysql.err.Error:
            pass
        time.sleep(1)  # the server side of the killed session ends
        done = scalar("SELECT COUNT(vec) FROM `%s`.items" % DB)
        self.assertGreater(done, 0)
        self.assertLess(done, N)
        self.assertEqual(done % 50, 0)  # whole chunks, committed
        # no lock left behind: another session writes a row at once
        with db() as other:
            with other.cursor() as c:
                c.execute("SET SESSION innodb_lock_wait_timeout = 1")
                c.execute("UPDATE `%s`.items SET body = body WHERE id = %d" % (DB, N))
        Embed.config(latency_ms=0)
        self.assertEqual(self.sync(50)[0], (N - done, done, 0))
        self.assert_in_step()

    def test_kill_query_in_a_warm_up_stops_the_run(self):
        # KILL QUERY while the first chunk's warm-up waits for the provider:
        # the warm-up used to return early with a normal result, so the
        # procedure wrote what it could and went on (a 5,901-row run killed
        # in its first chunk ended with 4,901 embedded and 1,000 failed).
        # Now the CALL fails with the server's KILL error and writes nothing.
        Embed.config(latency_ms=1500)
        conn = db()
        conn_id = conn.thread_id()
        outcome = {}

        def run():
            try:
                outcome["result"] = self.sync(300, conn=conn)
            except pymysql.err.MySQLError as e:
                outcome["error"] = e

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.8)
        query("KILL QUERY %d" % conn_id)
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertIn("error", outcome, outcome)
        self.assertEqual(outcome["error"].args[0], 1317, outcome["error"])  # ER_QUERY_INTERRUPTED
        self.assertEqual(scalar("SELECT COUNT(vec) FROM `%s`.items" % DB), 0)
        # the run's lock is released (another session runs it while the
        # killed one is still connected), and the killed session can run it
        Embed.config(latency_ms=0)
        self.assertEqual(self.sync(300)[0], (N, 0, 0))
        self.assertEqual(self.sync(300, conn=conn)[0], (0, N, 0))
        conn.close()
        self.assert_in_step()

    def test_event_recipe(self):
        """sql/examples/sync.sql (the README's recipe) on the Open Beer DB:
        ALTER TABLE, CALL, then an event every minute; the event runs at
        once, then (rescheduled every second) catches an edit."""
        beer = "ce_sync_beer"
        subprocess.run(["bash", os.path.join(ROOT, "sql", "beer", "load.sh"), beer,
                        "--socket=" + S["CE_SOCKET"], "-uroot"], check=True, timeout=300)
        try:
            with open(os.path.join(ROOT, "sql", "examples", "sync.sql")) as f:
                recipe = f.read().replace("'openbeer.beers'", "'%s.beers'" % beer)
            r = subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + S["CE_SOCKET"],
                                "--batch", beer], input=recipe.encode(), capture_output=True,
                               timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            out = r.stdout.decode().split()
            self.assertEqual(out[:6], ["embedded", "unchanged", "failed", "5901", "0", "0"])
            self.assertLessEqual(Embed.requests(), 24)  # ceil(5901 / 256) at most
            self.assertEqual(scalar("SELECT @@GLOBAL.event_scheduler"), "ON")
            deadline = time.monotonic() + 30
            while scalar("SELECT LAST_EXECUTED FROM information_schema.EVENTS "
                         "WHERE EVENT_SCHEMA = %s", (beer,)) is None:
                self.assertLess(time.monotonic(), deadline, "the event did not run")
                time.sleep(0.2)
            query("UPDATE `%s`.beers SET descript = 'now with grapefruit' WHERE id IN (1, 2, 3)"
                  % beer)
            query("ALTER EVENT `%s`.beers_embedding_sync ON SCHEDULE EVERY 1 SECOND" % beer)
            check = ("SELECT COUNT(*) FROM `%s`.beers WHERE id IN (1, 2, 3) AND embedding_src = "
                     "UNHEX(SHA2(CONCAT_WS('. ', name, descript), 256))" % beer)
            deadline = time.monotonic() + 60
            while scalar(check) != 3:
                self.assertLess(time.monotonic(), deadline, "the event did not catch the edit")
                time.sleep(0.2)
            for name, descript, vec in query("SELECT name, descript, embedding FROM `%s`.beers "
                                             "WHERE id IN (1, 2, 3)" % beer):
                self.assertEqual(vec, vector_bytes("%s. %s" % (name, descript)))
            self.assertEqual(scalar("SELECT COUNT(embedding) FROM `%s`.beers" % beer), 5901)
            # no event error, but for runs that found the last one still
            # going (every second, they overlap): refused, by design
            errors = [l for l in self.log.new().splitlines()
                      if "[ERROR] Event Scheduler: [" in l and "already running" not in l]
            self.assertEqual(errors, [])
        finally:
            query("SET GLOBAL event_scheduler = OFF")
            query("DROP DATABASE IF EXISTS `%s`" % beer)


if __name__ == "__main__":
    main()
