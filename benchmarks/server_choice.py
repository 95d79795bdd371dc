"""Which WSGI server: the baked app under Gunicorn sync (shipped), Gunicorn gthread and Granian.

Each server runs the same production app with 2 workers on loopback; wrk loads them in turn,
round after round. Every round runs twice: on a quiet machine, and loaded, with one busy
process per core beside the servers (bounded: they stop with the round), as on a shared host.
Granian is installed for this benchmark only, into .cache/granian-<version>/.
"""

import contextlib
import multiprocessing
import os
import subprocess
import time
from statistics import median

from baked import TEMPLATE, scratch_project
from measure import Row, wait_for_http
from serving import WORKERS, background, serve_requests, wrk

from servers import free_port

GRANIAN = "granian==2.8.7"
THREADS = 4  # gthread: threads per worker
PAGES = ["/", "/auth/login"]
FLOOR = "gunicorn sync"  # what the project ships
SERVERS = [FLOOR, f"gunicorn gthread x{THREADS}", "granian"]


def granian_path():
    """A folder holding Granian, for PYTHONPATH (installed once, from PyPI)."""
    path = TEMPLATE / ".cache" / GRANIAN.replace("==", "-")
    if not (path / "ready").exists():
        pip = ["python3", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--target", str(path), GRANIAN], check=True)
        (path / "ready").touch()
    return path


def commands(python, package, port):
    """The command line of each server, serving the app on 127.0.0.1:port."""
    gunicorn = [str(python.parent / "gunicorn"), "--config", "gunicorn.conf.py"]
    bind = ["--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]
    return {
        FLOOR: [*gunicorn, *bind],
        SERVERS[1]: [*gunicorn, *bind, "-k", "gthread", "--threads", str(THREADS)],
        "granian": [
            str(python), "-m", "granian", "--interface", "wsgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
            "--no-ws", "--access-log", f"{package}:create_app",
        ],
    }  # fmt: skip


def burn(seconds):
    """Keep one core busy for `seconds`, then stop."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


@contextlib.contextmanager
def busy_machine(seconds):
    """One busy process per core for at most `seconds` (a noisy neighbour, bounded)."""
    cores = range(os.cpu_count())
    burners = [multiprocessing.Process(target=burn, args=(seconds,)) for _ in cores]
    for burner in burners:
        burner.start()
    try:
        yield
    finally:
        for burner in burners:
            burner.terminate()
            burner.join()


def run(rounds, seconds):
    with scratch_project("bench-servers-") as baked:
        python, project, log = baked.python, baked.project, baked.folder / "servers.log"
        env = {**baked.env, "PYTHONPATH": f"{granian_path()}{os.pathsep}{project}"}
        servers, urls = {}, {}
        with contextlib.ExitStack() as stack:
            for name in SERVERS:
                port = free_port()
                command = commands(python, project.name, port)[name]
                servers[name] = stack.enter_context(background(command, project, env, log))
                urls[name] = f"http://127.0.0.1:{port}"
                wait_for_http(urls[name] + "/", servers[name])
                serve_requests(urls[name], PAGES, 500 * WORKERS)
            loads = {(name, page, how): [] for name in urls for page in PAGES for how in "QL"}
            for _ in range(rounds):
                for how in "QL":
                    load = busy_machine if how == "L" else lambda _: contextlib.nullcontext()
                    with load(seconds * len(urls) * len(PAGES) + 5):
                        for name, url in urls.items():
                            for page in PAGES:
                                loads[name, page, how].append(wrk(url + page, seconds))
    rows = []
    floor = FLOOR
    for how, label in (("Q", "quiet"), ("L", "loaded")):
        for page in PAGES:
            base = loads[floor, page, how]
            for name in urls:
                if name == floor:
                    continue
                runs = loads[name, page, how]
                rows.append(Row(
                    f"{label}: {name} GET {page} throughput",
                    median(r.rps for r in runs), "req/s",
                    median(r.rps for r in base), f"{floor}, {label}",
                ))  # fmt: skip
                rows.append(Row(
                    f"{label}: {name} GET {page} p99 latency",
                    median(r.p99_ms for r in runs), "ms",
                    median(r.p99_ms for r in base), f"{floor}, {label}",
                ))  # fmt: skip
    return rows
