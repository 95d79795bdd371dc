"""Gunicorn serving a baked project with its own gunicorn.conf.py."""

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from .process import Server, answers_http, free_port, missing, show_log_on_failure, wait_until


@contextlib.contextmanager
def gunicorn(project, python, env, workers=2):
    """Gunicorn serving a baked project with its own gunicorn.conf.py, from the shared venv.

    `env` is the whole environment of the process (build it with conftest.clean_env), with
    BASE_URL https://localhost unless it names one; the bind address and worker count are
    given through the variables gunicorn.conf.py reads.
    """
    executable = Path(python).parent / "gunicorn"
    if not executable.exists():
        missing(f"gunicorn is not installed in {executable.parent}")
    port = free_port()
    env = {
        "BASE_URL": "https://localhost",  # production's required address: nginx's test site
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
    }
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
