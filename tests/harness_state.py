"""The state file tests/harness.sh writes for the servers it started (their
sockets, ports, paths), one KEY=VALUE a line so that shell scripts can
source it; read here for the Python tests, the SQL runner and bench/."""


def read_state(path):
    """{KEY: VALUE} of the state file at `path`."""
    state = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                state[k] = v
    return state
