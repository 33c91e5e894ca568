"""docker/: what can be checked without Docker. The init scripts run against
the test MariaDB exactly as the images' entrypoint runs them (files of
docker/init in glob order, *.sh sourced with docker_process_sql defined,
*.sql piped to the client); the functions must exist afterwards and the beer
data must match what sql/beer/load.sh loads. docker-compose.yml must parse
and every file it and the Dockerfiles reference must exist."""

import configparser
import glob
import os
import re
import subprocess

import yaml  # Debian: python3-yaml

from support import ROOT, S, ServerTestCase, main, query, scalar, vector_bytes

DOCKER = os.path.join(ROOT, "docker")
INIT_DB = "ce_docker_init"
REF_DB = "ce_docker_ref"


def installed_names():
    """Every function sql/install.sql creates."""
    with open(os.path.join(ROOT, "sql", "install.sql")) as f:
        return re.findall(r"CREATE\s+(?:AGGREGATE\s+)?FUNCTION\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
                          f.read(), re.I)


def run_init():
    """The entrypoint's docker_process_init_files, with docker_process_sql
    talking to the test server's socket."""
    script = r'''
set -eo pipefail
docker_process_sql() { mariadb --no-defaults -uroot --socket="$CE_SOCKET" "$@"; }
for f in "$INIT_DIR"/*; do
  case "$f" in
    *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
    *.sql) docker_process_sql < "$f" ;;
    *.sql.gz) gunzip -c "$f" | docker_process_sql ;;
    *) echo "ignoring $f" ;;
  esac
done
'''
    env = dict(os.environ, CE_SOCKET=S["CE_SOCKET"], INIT_DIR=os.path.join(DOCKER, "init"),
               CE_SQL_DIR=os.path.join(ROOT, "sql"), CE_BEER_DB=INIT_DB)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True,
                          timeout=600)


def table_counts(db):
    tables = [r[0] for r in query("SELECT table_name FROM information_schema.tables "
                                  "WHERE table_schema = %s ORDER BY table_name", (db,))]
    return {t: scalar("SELECT COUNT(*) FROM `%s`.`%s`" % (db, t)) for t in tables}


class DockerInitTest(ServerTestCase):
    def tearDown(self):
        for db in (INIT_DB, REF_DB):
            query("DROP DATABASE IF EXISTS `%s`" % db)
        super().tearDown()

    def test_init_installs_functions_and_loads_beer_data(self):
        names = installed_names()
        self.assertIn("cached_embed", names)
        with open(os.path.join(ROOT, "sql", "uninstall.sql")) as f:
            subprocess.run(["mariadb", "--no-defaults", "-uroot", "--socket=" + S["CE_SOCKET"]],
                           stdin=f, check=True)
        for n in names:
            self.assertEqual(scalar("SELECT COUNT(*) FROM mysql.func WHERE name = %s", (n,)), 0)

        r = run_init()
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        for n in names:
            self.assertEqual(scalar("SELECT COUNT(*) FROM mysql.func WHERE name = %s", (n,)), 1,
                             "%s not created by docker/init" % n)

        # The same data as the project's loader puts in.
        subprocess.run(["bash", os.path.join(ROOT, "sql", "beer", "load.sh"), REF_DB,
                        "--socket=" + S["CE_SOCKET"], "-uroot"], check=True, timeout=600)
        got, ref = table_counts(INIT_DB), table_counts(REF_DB)
        self.assertEqual(got, ref)
        for t in ("beers", "breweries", "styles", "categories", "descriptions"):
            self.assertGreater(got.get(t, 0), 0, t)

        # And the function works on it.
        key, text = query("SELECT CONCAT(id, '_long'), descr_long FROM `%s`.descriptions "
                          "ORDER BY id LIMIT 1" % INIT_DB)[0]
        self.assertEqual(self.embed_sql(key, text), vector_bytes(text))

    def test_init_scripts_are_sourced_not_executed(self):
        # An executable *.sh is run in a child shell without docker_process_sql.
        for f in glob.glob(os.path.join(DOCKER, "init", "*.sh")):
            self.assertFalse(os.access(f, os.X_OK), f + " must not be executable")


class ComposeFileTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(DOCKER, "docker-compose.yml")) as f:
            cls.compose = yaml.safe_load(f)

    def test_services_and_profiles(self):
        svc = self.compose["services"]
        for name in ("mariadb", "mysql", "redis", "tei", "embed"):
            self.assertIn(name, svc)
        for name in ("mariadb", "mysql", "redis", "embed"):
            self.assertIn("healthcheck", svc[name], name)
        self.assertEqual(svc["tei"]["image"], "ghcr.io/huggingface/text-embeddings-inference:cpu-1.5")
        self.assertIn("jinaai/jina-embeddings-v2-base-en", svc["tei"]["command"])
        profiles = {p for s in svc.values() for p in s.get("profiles", [])}
        with open(os.path.join(DOCKER, ".env")) as f:
            env = dict(l.split("=", 1) for l in f.read().splitlines()
                       if l and not l.startswith("#"))
        for p in env["COMPOSE_PROFILES"].split(","):
            self.assertIn(p, profiles)
        self.assertEqual(env["CE_ENDPOINT"], "http://tei:80/v1/embeddings")

    def test_referenced_files_exist(self):
        for name, s in self.compose["services"].items():
            b = s.get("build")
            if b:
                ctx = os.path.normpath(os.path.join(DOCKER, b["context"]))
                dockerfile = os.path.join(ctx, b["dockerfile"])
                self.assertTrue(os.path.isfile(dockerfile), dockerfile)
                self.check_copies(ctx, dockerfile)
            for v in s.get("volumes", []):
                src = v.split(":")[0]
                if src.startswith((".", "/")):
                    path = os.path.normpath(os.path.join(DOCKER, src))
                    self.assertTrue(os.path.exists(path), "%s: %s" % (name, path))

    def check_copies(self, ctx, dockerfile):
        with open(dockerfile) as f:
            for line in f:
                parts = line.split()
                if parts[:1] != ["COPY"] or any(p.startswith("--from") for p in parts):
                    continue
                for src in parts[1:-1]:
                    self.assertTrue(os.path.exists(os.path.join(ctx, src)),
                                    "%s: COPY %s" % (dockerfile, src))

    def test_plugin_config_file(self):
        cp = configparser.ConfigParser()
        cp.read(os.path.join(DOCKER, "cached_embed.cnf"))
        self.assertEqual(cp["cached_embed"]["endpoint"], "http://tei:80/v1/embeddings")
        self.assertEqual(cp["cached_embed"]["provider"], "openai")
        self.assertIn("redis", self.compose["services"])
        self.assertTrue(cp["cached_embed"]["redis"].startswith("redis://redis:"))


if __name__ == "__main__":
    main()
