"""Real servers on loopback for end-to-end tests: PostgreSQL, Gunicorn and nginx.

Each server is a context manager that starts it on a free 127.0.0.1 port, waits until it
answers, and stops it and removes its files on the way out, also when the test fails (then
its log is printed, so pytest shows it with the failure). A missing program skips the test
with the reason; under CI (env CI set) conftest turns that skip into a failure.
"""

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_SECONDS = 30
SBIN = ["/usr/sbin", "/usr/local/sbin", "/sbin"]  # nginx lives here; not on every user's PATH


def missing(reason):
    """Skip the test because a program is missing (under CI, conftest makes that a failure)."""
    pytest.skip(reason)


def need(program, *folders):
    """The path of `program`, looked up on PATH and then in `folders`; skips when absent."""
    path = shutil.which(program) or shutil.which(program, path=os.pathsep.join(folders))
    if path is None:
        missing(f"{program} is not installed")
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(ready, what, process=None, log=None, seconds=STARTUP_SECONDS):
    """Poll `ready()` until it is true; raise if `process` dies or time runs out."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{read(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start in {seconds} s:\n{read(log)}")
        time.sleep(0.1)


def read(path):
    """A log file's text, or a note that there is none."""
    if path is None or not Path(path).exists():
        return "(no log)"
    return Path(path).read_text(errors="replace")


def accepts_connections(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def answers_http(url):
    """True when `url` gives any HTTP response at all (an error status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def worker_pids(master):
    """The pids of the processes whose parent is `master`: a Gunicorn master's workers."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == master:
                pids.append(int(stat.parent.name))
    return sorted(pids)


def stop_process(process, seconds=15):
    """Ask a process to stop with SIGTERM; kill it if it has not stopped in `seconds`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def show_log_on_failure(name, log):
    """Print a server's log when the block raises, so the failure report carries it."""
    try:
        yield
    except BaseException:
        print(f"----- {name} log -----\n{read(log)}", file=sys.stderr)
        raise


# PostgreSQL ---------------------------------------------------------------------------


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


# Gunicorn -----------------------------------------------------------------------------


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
class Server:
    """A server process listening on 127.0.0.1:port."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self):
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self):
        """host:port, as an nginx upstream server line wants it."""
        return f"127.0.0.1:{self.port}"

    def log(self):
        """Everything the server has written to stdout and stderr so far."""
        return read(self.log_path)

    def stop(self):
        """Stop the server; harmless when it has stopped already."""
        stop_process(self.process)


@contextlib.contextmanager
def gunicorn(project, python, env, workers=2):
    """Gunicorn serving a baked project with its own gunicorn.conf.py, from the shared venv.

    `env` is the whole environment of the process (build it with conftest.clean_env); the
    bind address and worker count are given through the variables gunicorn.conf.py reads.
    """
    executable = Path(python).parent / "gunicorn"
    if not executable.exists():
        missing(f"gunicorn is not installed in {executable.parent}")
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers)}
    folder = Path(tempfile.mkdtemp(prefix="e2e-gunicorn-"))
    log = folder / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(executable), "--config", "gunicorn.conf.py"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log)
    try:
        with show_log_on_failure("gunicorn", log):
            wait_until(lambda: answers_http(f"{server.url}/healthz"), "gunicorn", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


# nginx --------------------------------------------------------------------------------

# The baked site names these; a test swaps them for loopback addresses and its own paths.
BAKED_UPSTREAM = re.compile(r"^(\s*)server\s+web:8000;", re.MULTILINE)
BAKED_LISTEN = re.compile(r"\blisten\s+80\b")


def site_config(project, port, upstreams):
    """The baked nginx site with only addresses and paths changed for a loopback run.

    `listen 80` becomes 127.0.0.1:port, the upstream's `web:8000` becomes one `server` line
    per address in `upstreams`, and /srv/<slug> (where the site expects the project) becomes
    the baked project's folder. Raises if the baked site no longer has what is replaced.
    """
    slug = project.name
    text = (project / "nginx" / f"{slug}.conf").read_text()
    for pattern in (BAKED_UPSTREAM, BAKED_LISTEN):
        if not pattern.search(text):
            raise AssertionError(f"the baked nginx site has no {pattern.pattern!r}")
    text = BAKED_UPSTREAM.sub(
        lambda match: "\n".join(f"{match[1]}server {address};" for address in upstreams), text
    )
    text = BAKED_LISTEN.sub(f"listen 127.0.0.1:{port}", text)
    return text.replace(f"/srv/{slug}", str(project.resolve()))


def main_config(folder, site):
    """A minimal nginx.conf that keeps every file in `folder` and includes the site file."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read pytest's tmp
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
{temp}
    include {site};
}}
"""


def write_nginx_files(project, folder, port, upstreams):
    """Write the loopback site and its nginx.conf into `folder`; returns the nginx.conf path."""
    folder = Path(folder)
    site = folder / "site.conf"
    site.write_text(site_config(project, port, upstreams))
    conf = folder / "nginx.conf"
    conf.write_text(main_config(folder, site))
    return conf


def nginx_command(conf):
    """The nginx command line for a config written by write_nginx_files (add -t to check)."""
    folder = Path(conf).parent
    return [
        need("nginx", *SBIN),
        "-p",
        str(folder),
        "-e",
        str(folder / "error.log"),
        "-c",
        str(conf),
    ]


@contextlib.contextmanager
def nginx(project, upstreams):
    """nginx with the baked site config on 127.0.0.1:<free port>, proxying to `upstreams`.

    `upstreams` are host:port addresses (Server.address). The site answers the Host names
    127.0.0.1 (Server.url) and localhost; its default server drops the others.
    """
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-nginx-"))
    conf = write_nginx_files(project, folder, port, upstreams)
    log = folder / "error.log"
    with open(folder / "stdout.log", "wb") as out:
        process = subprocess.Popen(nginx_command(conf), stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        with show_log_on_failure("nginx", log):
            wait_until(lambda: accepts_connections(port), "nginx", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
