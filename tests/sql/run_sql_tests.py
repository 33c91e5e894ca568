#!/usr/bin/python3
"""Expected-output SQL tests, pg_regress style: feeds each tests/sql/input/
NAME.sql to the `mariadb` command-line client (batch mode, every statement
echoed, results as tables, errors and warnings inline) and compares what it
prints with tests/sql/expected/NAME.out.

  run_sql_tests.py [--record] [--results DIR] [NAME ...]

NAME is a file's stem (`vector_helpers`) or path; none = every input file.
The servers are those of tests/harness.sh, found through the state file in
$CE_STATE (ctest sets it). --record writes the expected files instead of
comparing. Exit status 1 when any file differs. tests/sql/README.md tells
the rest."""

import argparse
import difflib
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INPUT = os.path.join(HERE, "input")
EXPECTED = os.path.join(HERE, "expected")
sys.path.insert(0, os.path.join(ROOT, "tests"))
from harness_state import read_state  # noqa: E402

# Echo every statement, print "N rows in set" but no timings (-vv, not -vvv),
# errors without line numbers (the echo says which statement it was), go on
# after an error, warnings after the statement that raised them.
CLIENT_OPTIONS = ["--table", "-vv", "--force", "--line-numbers=0",
                  "--show-warnings",
                  "--default-character-set=utf8mb4"]


def load_state():
    path = os.environ.get("CE_STATE")
    if not path or not os.path.exists(path):
        sys.exit("run_sql_tests: CE_STATE must name the state file of "
                 "tests/harness.sh (run through ctest, or see tests/sql/README.md)")
    return read_state(path)


def write_wrappers(bindir, state):
    """`mariadb` and `redis-cli` on PATH that reach the test servers, so a
    test file can say `\\! mariadb < sql/install.sql` like a user does."""
    wrappers = {
        "mariadb": "exec /usr/bin/mariadb --no-defaults -uroot --socket='%s' "
                   "--default-character-set=utf8mb4 \"$@\"" % state["CE_SOCKET"],
        "redis-cli": "exec /usr/bin/redis-cli -s '%s' \"$@\"" % state["CE_REDIS_SOCK"],
    }
    for name, body in wrappers.items():
        path = os.path.join(bindir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, stat.S_IRWXU)


def known_state(env, state):
    """What every file starts from, and what it leaves behind: the functions
    and the plugin installed, every cached_embed_% variable at DEFAULT (the
    harness's config file), no database `sqltest` (the files' scratch
    space), an empty Redis, the embedding server's counters and faults
    reset. Raises on failure."""
    def ok(cmd, stdin=None):
        r = subprocess.run(cmd, env=env, cwd=ROOT, input=stdin or b"",
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), r.stdout.decode(errors="replace")))
        return r.stdout.decode()

    with open(os.path.join(ROOT, "sql", "install.sql"), "rb") as f:
        ok(["mariadb"], f.read())
    names = ok(["mariadb", "-N", "-B", "-e",
                "SELECT VARIABLE_NAME FROM information_schema.GLOBAL_VARIABLES "
                "WHERE VARIABLE_NAME LIKE 'cached\\_embed\\_%'"]).split()
    if names:
        ok(["mariadb"], "".join("SET GLOBAL %s = DEFAULT;\n" % n for n in names).encode())
    ok(["mariadb", "-e", "DROP DATABASE IF EXISTS sqltest"])
    ok(["redis-cli", "FLUSHALL"])
    req = urllib.request.Request(
        "http://127.0.0.1:%s/_control/reset" % state["CE_EMBED_PORT"], data=b"{}",
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def normalise(text, state):
    """Run-specific strings become placeholders: the harness's temporary
    directory, the embedding server's port, the checkout."""
    text = text.replace(state["CE_DIR"], "$CE_DIR")
    text = text.replace("127.0.0.1:%s" % state["CE_EMBED_PORT"], "127.0.0.1:$EMBED_PORT")
    text = text.replace(ROOT, "$ROOT")
    return text


def run_file(path, env, state):
    """The client's output for one file (normalised), with a line added at
    the end when the state could not be restored after it."""
    known_state(env, state)
    with open(path, "rb") as f:
        # stdbuf: the client's stdout unbuffered, so an error (stderr) lands
        # right after the echo of its statement, not before it
        r = subprocess.run(["stdbuf", "-o0", "-e0", "mariadb"] + CLIENT_OPTIONS,
                           env=env, cwd=ROOT, stdin=f, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
    out = normalise(r.stdout.decode("utf-8", errors="backslashreplace"), state)
    if state["CE_API_KEY"] in out:
        out += "\n*** the API key appears in the output above ***\n"
    try:
        known_state(env, state)
    except Exception as e:  # noqa: BLE001  (reported as part of the output)
        out += "\n*** restoring the state after the file failed: %s ***\n" % e
    return out


def select_inputs(names):
    if not names:
        return sorted(glob.glob(os.path.join(INPUT, "*.sql")))
    paths = []
    for n in names:
        stem = os.path.splitext(os.path.basename(n))[0]
        p = os.path.join(INPUT, stem + ".sql")
        if not os.path.exists(p):
            sys.exit("run_sql_tests: no input file %s" % p)
        paths.append(p)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", action="store_true",
                    help="write the output as the expected output")
    ap.add_argument("--results", default=os.environ.get("CE_SQL_RESULTS"),
                    help="directory for the actual output of each file "
                         "(default: a temporary one, removed at the end)")
    ap.add_argument("names", nargs="*")
    opts = ap.parse_args()
    sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")

    state = load_state()
    inputs = select_inputs(opts.names)
    tmp = tempfile.mkdtemp(prefix="ce-sql.")
    results = opts.results or os.path.join(tmp, "results")
    os.makedirs(results, exist_ok=True)
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    write_wrappers(bindir, state)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               LC_ALL="C.UTF-8", TZ="UTC")
    env.pop("MYSQL_PWD", None)

    passed = failed = 0
    try:
        for path in inputs:
            name = os.path.splitext(os.path.basename(path))[0]
            try:
                out = run_file(path, env, state)
            except Exception as e:  # noqa: BLE001
                print("FAIL %s: %s" % (name, e))
                failed += 1
                continue
            with open(os.path.join(results, name + ".out"), "w", encoding="utf-8") as f:
                f.write(out)
            exp_path = os.path.join(EXPECTED, name + ".out")
            if opts.record:
                os.makedirs(EXPECTED, exist_ok=True)
                with open(exp_path, "w", encoding="utf-8") as f:
                    f.write(out)
                print("recorded %s" % os.path.relpath(exp_path, ROOT))
                passed += 1
                continue
            if not os.path.exists(exp_path):
                print("FAIL %s: no expected output %s (run with --record, then read it)"
                      % (name, os.path.relpath(exp_path, ROOT)))
                failed += 1
                continue
            with open(exp_path, encoding="utf-8") as f:
                expected = f.read()
            if out == expected:
                print("ok   %s" % name)
                passed += 1
            else:
                print("FAIL %s" % name)
                sys.stdout.writelines(difflib.unified_diff(
                    expected.splitlines(True), out.splitlines(True),
                    "expected/%s.out" % name, "actual/%s.out" % name))
                failed += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
