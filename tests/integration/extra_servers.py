"""Extra real servers for the tests that need more than the fixture's one
MariaDB and one Redis: Redis with TLS and ACL users, a Redis Cluster, a
Sentinel set-up, more MariaDB servers (a second server on the same Redis, a
primary and its replica). Each runs in its own directory under the
fixture's temporary directory, on spare loopback ports; every server started
here is stopped by stop_all() (tests call it from tearDownClass; an atexit
hook is the safety net)."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pymysql
import redis

from support import BASE_CONFIG, S

_running = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_cluster_port():
    """A port p with p + 10000 (the cluster bus) free as well."""
    import random
    for _ in range(1000):
        p = random.randrange(20000, 50000)
        if _bindable(p) and _bindable(p + 10000):
            return p
    raise RuntimeError("no free port pair for a cluster node")


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001  (server not up yet)
            last = e
        time.sleep(0.1)
    raise RuntimeError("timed out waiting for %s (%s)" % (what, last))


def workdir(name):
    return tempfile.mkdtemp(prefix=name + ".", dir=S["CE_DIR"])


def stop_all():
    while _running:
        _running.pop().stop()


atexit.register(stop_all)


# ---- certificates ----

class Certs:
    """A CA, a server certificate for 127.0.0.1 / localhost signed by it, a
    client certificate signed by it, and a second CA that signs nothing of
    the above. Made with the openssl command line."""

    def __init__(self):
        self.dir = workdir("certs")
        for name in ("ca", "other_ca"):
            self._ca(name)
        self._leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                             "extendedKeyUsage=serverAuth\n")
        self._leaf("client", "extendedKeyUsage=clientAuth\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                       timeout=60, cwd=self.dir)

    def _ca(self, name):
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                  "-subj", "/CN=cached_embed test %s" % name,
                  "-keyout", name + ".key", "-out", name + ".crt")

    def _leaf(self, name, ext):
        with open(self.path(name + ".ext"), "w") as f:
            f.write(ext)
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
                  "-keyout", name + ".key", "-out", name + ".csr")
        self._run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                  "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                  "-extfile", name + ".ext", "-out", name + ".crt")
        os.chmod(self.path(name + ".key"), 0o600)


# ---- Redis ----

class Redis:
    """One redis-server in the foreground of its own process."""

    def __init__(self, name, conf_lines=(), tls_certs=None, sentinel=False,
                 client_certs="optional", cluster=False):
        self.dir = workdir(name)
        self.port = free_cluster_port() if cluster else free_port()
        self.tls = tls_certs
        self.sentinel = sentinel
        self.conf = os.path.join(self.dir, "redis.conf")
        lines = ["bind 127.0.0.1", "dir " + self.dir, 'save ""', "appendonly no",
                 "logfile " + os.path.join(self.dir, "redis.log")]
        if tls_certs:
            lines += ["port 0", "tls-port %d" % self.port,
                      "tls-cert-file " + tls_certs.path("server.crt"),
                      "tls-key-file " + tls_certs.path("server.key"),
                      "tls-ca-cert-file " + tls_certs.path("ca.crt"),
                      "tls-auth-clients " + client_certs]
        else:
            lines.append("port %d" % self.port)
        lines += list(conf_lines)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.start()
        _running.append(self)

    def start(self):
        cmd = ["redis-server", self.conf] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: self.client().ping(), 15, "redis on port %d" % self.port)

    def client(self, **kw):
        args = dict(host="127.0.0.1", port=self.port, socket_timeout=5)
        if self.tls:
            args.update(ssl=True, ssl_ca_certs=self.tls.path("ca.crt"),
                        ssl_certfile=self.tls.path("client.crt"),
                        ssl_keyfile=self.tls.path("client.key"))
        args.update(kw)
        return redis.Redis(**args)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class RedisCluster:
    """3 masters + 3 replicas made by `redis-cli --cluster create`."""

    def __init__(self, node_timeout_ms=1000):
        self.nodes = [Redis("cluster", ["cluster-enabled yes",
                                        "cluster-config-file nodes.conf",
                                        "cluster-node-timeout %d" % node_timeout_ms,
                                        "cluster-replica-validity-factor 0"],
                            cluster=True)
                      for _ in range(6)]
        r = subprocess.run(["redis-cli", "--cluster", "create"] +
                           ["127.0.0.1:%d" % n.port for n in self.nodes] +
                           ["--cluster-replicas", "1", "--cluster-yes"],
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("cluster create failed: " + r.stdout.decode()[-2000:])
        self.wait_ok()

    def alive(self):
        return [n for n in self.nodes if n.proc.poll() is None]

    def wait_ok(self, seconds=30):
        def ok():
            for n in self.alive():
                info = n.client().execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
                slots = n.client().execute_command("CLUSTER", "SLOTS")
                owners = {(s[2][0], s[2][1]) for s in slots}
                if any(not self._is_alive(p) for _, p in owners):
                    return False
            return True
        wait_for(ok, seconds, "cluster state ok")

    def _is_alive(self, port):
        return any(n.port == port for n in self.alive())

    def masters(self):
        return [n for n in self.alive()
                if n.client().execute_command("ROLE")[0] == b"master"]

    def url(self, creds=""):
        return "redis-cluster://%s127.0.0.1:%d,127.0.0.1:%d" % (
            creds, self.nodes[0].port, self.nodes[1].port)


class Sentinel:
    """A master, its replica and one sentinel with quorum 1."""

    def __init__(self, name="mymaster"):
        self.name = name
        self.master = Redis("sentinel-master")
        self.replica = Redis("sentinel-replica",
                             ["replicaof 127.0.0.1 %d" % self.master.port])
        wait_for(lambda: self.replica.client().info("replication")
                 ["master_link_status"] == "up", 20, "replica link")
        self.sentinel = Redis("sentinel", [
            "sentinel monitor %s 127.0.0.1 %d 1" % (name, self.master.port),
            "sentinel down-after-milliseconds %s 1000" % name,
            "sentinel failover-timeout %s 5000" % name,
            "sentinel parallel-syncs %s 1" % name], sentinel=True)

    def url(self, db=0):
        return "redis-sentinel://127.0.0.1:%d/%s/%d" % (self.sentinel.port, self.name, db)

    def master_port(self):
        host, port = self.sentinel.client().execute_command(
            "SENTINEL", "get-master-addr-by-name", self.name)
        return int(port)


# ---- MariaDB ----

_template = None


def _datadir_template():
    """One mariadb-install-db per test process, copied for each server."""
    global _template
    if _template is None:
        d = workdir("mariadb-template")
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + d,
                        "--user=root", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)
        _template = d
    return _template


class MariaDB:
    """Another mariadbd with the plugin (its own config file: the fixture's
    settings plus `config` overrides)."""

    def __init__(self, name, server_id=1, log_bin=False, binlog_format="MIXED",
                 tcp=False, config=None):
        self.dir = workdir(name)
        self.data = os.path.join(self.dir, "data")
        shutil.copytree(_datadir_template(), self.data)
        self.socket = os.path.join(self.dir, "mysql.sock")
        self.errlog = os.path.join(self.dir, "mariadb.err")
        self.port = free_port() if tcp else None
        self.cnf = os.path.join(self.dir, "cached_embed.cnf")
        self.write_config(**(config or {}))
        args = ["mariadbd", "--no-defaults", "--user=root", "--datadir=" + self.data,
                "--socket=" + self.socket, "--plugin-dir=" + S["CE_BUILD"],
                "--log-error=" + self.errlog,
                "--pid-file=" + os.path.join(self.dir, "mariadb.pid"),
                "--innodb-buffer-pool-size=64M", "--max-allowed-packet=64M",
                "--character-set-server=utf8mb4", "--thread-stack=512K",
                "--server-id=%d" % server_id]
        if tcp:
            args += ["--port=%d" % self.port, "--bind-address=127.0.0.1"]
        else:
            args.append("--skip-networking")
        if log_bin:
            args += ["--log-bin=" + os.path.join(self.dir, "binlog"),
                     "--binlog-format=" + binlog_format]
        else:
            args.append("--skip-log-bin")
        env = dict(os.environ, CACHED_EMBED_CONFIG=self.cnf)
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        _running.append(self)
        wait_for(lambda: self.query("SELECT 1"), 60, "mariadbd " + name)

    def write_config(self, **overrides):
        lines = [l for l in BASE_CONFIG.splitlines()
                 if l.split("=")[0].strip() not in overrides]
        lines += ["%s = %s" % (k, v) for k, v in overrides.items()]
        with open(self.cnf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.cnf, 0o600)

    def connect(self, **kw):
        return pymysql.connect(unix_socket=self.socket, user="root",
                               autocommit=True, charset="utf8mb4", **kw)

    def query(self, sql, args=None):
        conn = self.connect()
        try:
            with conn.cursor() as c:
                c.execute(sql, args)
                return c.fetchall()
        finally:
            conn.close()

    def scalar(self, sql, args=None):
        return self.query(sql, args)[0][0]

    def run_file(self, path):
        with open(path, "rb") as f:
            r = subprocess.run(["mariadb", "--no-defaults", "-uroot",
                                "--socket=" + self.socket], stdin=f,
                               capture_output=True, timeout=120)
        if r.returncode:
            raise RuntimeError("%s failed: %s" % (path, r.stderr.decode()))

    def errors(self):
        with open(self.errlog, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            subprocess.run(["mariadb-admin", "--no-defaults", "-uroot",
                            "--socket=" + self.socket, "shutdown"],
                           capture_output=True, timeout=60)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
