"""Our pages against cookiecutter-flask's, served alike, in one run.

    python3 benchmarks/run.py --peer PATH     PATH: a checkout of cookiecutter-flask

The peer is baked from that checkout (no network for the template), into a virtual environment
of its own made from its pinned requirements/prod.txt (PyPI the first time, then cached in
.cache/peer-venv/). Both apps run under Gunicorn with the same settings: 2 sync workers on
loopback, production configuration, access log on (ours as it ships: JSON lines with a request
id; the peer's in Gunicorn's plain format, as the peer ships gevent workers and no access log).
The peer's home page renders its login form (it has no separate login page), so it is the one to
set against our /auth/login.
"""

import contextlib
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from statistics import median

from baked import TEMPLATE, scratch_project
from measure import Row, wait_for_http
from serving import WORKERS, background, serve_requests, wrk

from servers import free_port

PEER_VENVS = TEMPLATE / ".cache" / "peer-venv"
PEER_APP = "peer_app"
PEER_ANSWERS = {
    "full_name": "Peer",
    "email": "peer@example.com",
    "github_username": "peer",
    "project_name": "Peer",
    "app_name": PEER_APP,  # its --no-input fails without one
    "project_short_description": "The peer template, baked for a benchmark.",
    "use_pipenv": "False",
    "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
    "node_version": "20",
    "use_heroku": "False",
}
OUR_PAGES = ["/", "/auth/login"]


def bake_peer(checkout, output):
    """Bake the peer template from a local checkout; returns the project folder."""
    from cookiecutter.main import cookiecutter

    options = {"no_input": True, "output_dir": str(output), "extra_context": PEER_ANSWERS}
    return Path(cookiecutter(str(checkout), **options))


def peer_python(project):
    """The interpreter of a venv holding the peer's pinned production requirements."""
    requirements = project / "requirements" / "prod.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    path = PEER_VENVS / digest
    python = path / "bin" / "python"
    if not (path / "ready").exists():
        venv.create(path, with_pip=True, clear=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(requirements)], check=True)
        (path / "ready").touch()
    return python


@contextlib.contextmanager
def peer_server(python, project, log):
    """The peer app under Gunicorn with our shipped settings (2 sync workers, access log)."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "APP_", "DATABASE_", "SECRET_"))
    }
    env.update(
        FLASK_ENV="production",  # environs reads .env too, but never over a real variable
        FLASK_DEBUG="0",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=f"sqlite:///{project}/bench.db",
        SEND_FILE_MAX_AGE_DEFAULT="0",
    )
    command = [str(python.parent / "gunicorn"), "-w", str(WORKERS), "-k", "sync"]
    command += ["-b", f"127.0.0.1:{port}", "--access-logfile", "-", "--timeout", "30"]
    with background([*command, "autoapp:app"], project, env, log) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/", server)
        yield url


def run(checkout, rounds, seconds):
    """Rows: each of our pages against the peer's home page, medians of interleaved loads."""
    from serving import gunicorn

    checkout = Path(checkout).resolve()
    if not (checkout / "cookiecutter.json").exists():
        sys.exit(f"--peer {checkout}: not a cookiecutter-flask checkout (no cookiecutter.json)")
    with scratch_project("bench-peer-") as baked, tempfile.TemporaryDirectory() as tmp:
        peer = bake_peer(checkout, Path(tmp))
        python = peer_python(peer)
        log = baked.folder / "gunicorn.log"
        with (
            gunicorn(baked.python, baked.project, baked.env, log) as (ours, _),
            peer_server(python, peer, log) as theirs,
        ):
            serve_requests(ours, OUR_PAGES, 1000 * WORKERS)
            serve_requests(theirs, ["/"], 1000 * WORKERS)
            loads = {page: [] for page in [*OUR_PAGES, "peer"]}
            for _ in range(rounds):
                loads["peer"].append(wrk(theirs + "/", seconds))
                for page in OUR_PAGES:
                    loads[page].append(wrk(ours + page, seconds))
    peer_rps = median(load.rps for load in loads["peer"])
    peer_p99 = median(load.p99_ms for load in loads["peer"])
    label = "cookiecutter-flask / (login form)"
    rows = []
    for page in OUR_PAGES:
        target = ">= 1x" if page == "/auth/login" else None
        rps = median(load.rps for load in loads[page])
        p99 = median(load.p99_ms for load in loads[page])
        rows.append(Row(f"peer: GET {page} throughput", rps, "req/s", peer_rps, label, target))
        rows.append(Row(f"peer: GET {page} p99 latency", p99, "ms", peer_p99, label))
    return rows
