"""A throwaway PostgreSQL cluster, and a PostgreSQL bake migrated into it."""

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .process import SBIN, free_port, missing, need, show_log_on_failure


def postgres_bin():
    """Debian keeps the server programs in /usr/lib/postgresql/<version>/bin, off PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    if found:
        return found[-1].parent
    return Path(need("initdb")).parent


@dataclass
class Postgres:
    """A running throwaway PostgreSQL cluster; the superuser `postgres` needs no password."""

    bin: Path
    data: Path
    port: int
    run_as: list

    def url(self, user, password, database):
        """A SQLAlchemy URL (psycopg 3) for a role and database of this cluster."""
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql, database="postgres"):
        """Run SQL as the superuser; returns the rows as `a|b` lines, without headers."""
        command = [str(self.bin / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]
        result = subprocess.run(
            [*command, "-c", sql], capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def create_database(self, name, password):
        """Make a role `name` owning a database `name`; returns its URL."""
        self.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE {name} OWNER {name}")
        return self.url(name, password, name)

    def pg_ctl(self, *args):
        """Run pg_ctl on this cluster as the owner of its files."""
        command = [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self):
        """Start the server (again) and wait until it accepts connections."""
        self.pg_ctl("-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self):
        """Stop the server at once, as a crash would; start() brings it back with its data."""
        self.pg_ctl("-m", "immediate", "-w", "stop")

    @property
    def log(self):
        """Where the server writes its log."""
        return self.data.parent / "postgres.log"


@contextlib.contextmanager
def postgres():
    """A fresh PostgreSQL cluster on 127.0.0.1:<free port>, removed afterwards.

    `initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user.
    """
    bin_dir = postgres_bin()
    run_as = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            missing("the postgres user does not exist (Debian's postgresql package makes it)")
        run_as = [need("runuser", *SBIN), "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="e2e-postgres-"))
    if run_as:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    server = Postgres(bin_dir, root / "data", free_port(), run_as)
    try:
        initdb = [str(bin_dir / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres"]
        initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
        subprocess.run([*run_as, *initdb], check=True, capture_output=True, timeout=120)
        settings = {
            "port": server.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{root}'",
            "fsync": "off",  # a throwaway cluster: speed over durability
        }
        with open(server.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        with show_log_on_failure("postgres", server.log):
            server.start()
            yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PostgresProject:
    project: Path
    server: Postgres
    url: str  # DATABASE_URL of the project's own database


@contextlib.contextmanager
def postgres_project(python, output, **answers):
    """A bake with database=postgresql, its own throwaway cluster, and `flask db upgrade` run.

    `python` is the shared venv's interpreter (conftest's baked_python).
    """
    from cookiecutter.main import cookiecutter

    from conftest import TEMPLATE, clean_env

    answers = {"database": "postgresql", **answers}
    project = Path(
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=answers)
    )
    with postgres() as server:
        url = server.create_database(project.name, secrets.token_hex(16))
        upgrade = subprocess.run(
            [str(Path(python).parent / "flask"), "db", "upgrade"],
            cwd=project,
            env=clean_env(DATABASE_URL=url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        yield PostgresProject(project, server, url)


@dataclass
class DebianCluster:
    """A cluster made by Debian's postgresql-common, as `apt install postgresql` makes one."""

    version: str
    name: str
    port: int

    def psql(self, sql, database="postgres"):
        """Run SQL as the postgres user, over the cluster's Unix socket; returns the rows."""
        command = ["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t"]
        command += ["-v", "ON_ERROR_STOP=1", "-p", str(self.port), "-d", database, "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, cwd="/", timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout.strip()

    def status(self):
        """The status pg_lsclusters shows for it: "online" or "down"."""
        listed = subprocess.run(
            ["pg_lsclusters", "-h", self.version, self.name],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return listed.stdout.split()[3]


@contextlib.contextmanager
def debian_cluster():
    """A new, stopped Debian cluster on a free port, like the one apt leaves where no systemd
    starts it (a container, WSL, CI); dropped with its data, config and log afterwards.

    Needs root (pg_createcluster writes /etc/postgresql) and Debian's postgresql-common.
    """
    if os.geteuid() != 0:
        missing("making a Debian PostgreSQL cluster (pg_createcluster) needs root")
    need("pg_createcluster")
    version = postgres_bin().parts[-2]
    cluster = DebianCluster(version, f"e2e{secrets.token_hex(4)}", free_port())
    create = ["pg_createcluster", version, cluster.name, "-p", str(cluster.port)]
    subprocess.run(create, check=True, capture_output=True, timeout=120)
    try:
        yield cluster
    finally:
        drop = ["pg_dropcluster", "--stop", version, cluster.name]
        subprocess.run(drop, check=False, capture_output=True, timeout=120)
