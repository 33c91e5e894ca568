"""Runs a sanitizer driver against the ctest fixture's servers: writes the
texts and the vectors the local embedding server gives for them (computed
here, without the server), points the plugin at a copy of the fixture's
config with small batch and parallel (so a warm-up makes several flushes
and concurrent requests) and the local cache off (the driver turns it on
for a later phase by appending to that copy), and reports the driver's
exit code (a sanitizer report makes it non-zero).

    run_driver.py DRIVER SO"""

import os
import struct
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "embed_server"))
sys.path.insert(0, os.path.dirname(HERE))
from embed_server import embed  # noqa: E402
from harness_state import read_state  # noqa: E402

N = 500
FLIGHT_TEXTS = 40 + 8 * 12  # driver.c: FLIGHT_SAME + THREADS * FLIGHT_DISTINCT
DIMS = 768
OVERRIDES = {"batch": 16, "parallel": 3, "local_cache_mb": 0}


def main():
    driver, so = sys.argv[1], sys.argv[2]
    state = read_state(os.environ["CE_STATE"])
    # new texts for every run: a text paid for by an earlier run (the ASan
    # build's, just before) would be read through its single-flight note,
    # and the provider fault phase 1 injects would then hit a later phase
    run = os.getpid()
    texts = ["sanitizer driver text %d about a hazy pale ale, run %d" % (i, run)
             for i in range(N)]
    # phase 5's own (driver.c FLIGHT_TEXTS), new to the embedding server
    texts += ["concurrent miss text %d of run %d, a crisp pilsner" % (i, run)
              for i in range(FLIGHT_TEXTS)]
    with tempfile.TemporaryDirectory() as d:
        tpath, epath = os.path.join(d, "texts"), os.path.join(d, "expected")
        with open(tpath, "w") as f:
            f.write("".join(t + "\n" for t in texts))
        with open(epath, "wb") as f:
            for t in texts:
                v = embed(t, DIMS)
                f.write(struct.pack("<%df" % DIMS, *v))
        cpath = os.path.join(d, "cached_embed.cnf")
        with open(state["CE_CONFIG"]) as f:
            lines = [l for l in f.read().splitlines()
                     if l.split("=")[0].strip() not in OVERRIDES]
        lines += ["%s = %s" % kv for kv in OVERRIDES.items()]
        with open(os.open(cpath, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("\n".join(lines) + "\n")
        env = dict(os.environ, CACHED_EMBED_CONFIG=cpath)
        base = "http://127.0.0.1:%s/_control/" % state["CE_EMBED_PORT"]
        urllib.request.urlopen(urllib.request.Request(
            base + "reset", data=b"{}", headers={"Content-Type": "application/json"}),
            timeout=30).read()
        url = base + "faults"
        r = subprocess.run([driver, so, tpath, epath, str(DIMS), url], env=env, timeout=600)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
