"""The baked app under Gunicorn against a bare one-route Flask app: throughput, p99, worker memory.

Both servers run with the project's own gunicorn.conf.py, 2 sync workers, on loopback. wrk loads
them in turn, round after round, so a noisy neighbour slows both alike.
"""

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from baked import scratch_project
from measure import LOCAL, Row, wait_for_http

from servers import free_port, worker_pids

BENCHMARKS = Path(__file__).resolve().parent
WORKERS = 2
PAGES = ["/", "/auth/login"]
TARGETS = {"/": ">= 0.6x", "/auth/login": ">= 0.4x"}
REQUESTS_PER_WORKER = 1000  # before the loads: memory after ordinary use, not after a flood
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@contextmanager
def background(command, cwd, env, log):
    """Run a server in a process group of its own, its stderr appended to `log`; yield the
    process, and stop the whole group (master and workers) on the way out."""
    with open(log, "ab") as errors:
        server = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@contextmanager
def gunicorn(python, project, env, log, app=None):
    """Serve `app` (default: the project's) with the project's Gunicorn settings; yield its URL."""
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(WORKERS)}
    command = [python.parent / "gunicorn", "--config", "gunicorn.conf.py"]
    if app:  # the bare app: same settings file, only the app differs
        command += ["--pythonpath", str(BENCHMARKS), app]
    with background(command, project, env, log) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/", server)
        yield url, server.pid


def rss_mib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


def fetch(url):
    with LOCAL.open(url, timeout=10) as response:
        response.read()


def serve_requests(url, pages, count):
    """Send `count` requests over `pages`, two at a time: Gunicorn shares them between workers."""
    urls = [url + pages[n % len(pages)] for n in range(count)]
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(fetch, urls))


@dataclass
class Load:
    rps: float
    p99_ms: float


def wrk(url, seconds):
    """Load `url` for `seconds`; refuse a run with error answers or failed connections."""
    command = ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30)
    text = out.stdout
    if "Non-2xx" in text or "Socket errors" in text:
        raise RuntimeError(f"wrk {url} saw failed requests:\n{text}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text)[1])
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", text, re.M).groups()
    return Load(rps, float(value) * UNITS[unit])


def run(rounds, seconds):
    with scratch_project("bench-serve-") as baked:
        scratch, python, project, env = baked.folder, baked.python, baked.project, baked.env
        log = scratch / "gunicorn.log"
        try:
            return measure(python, project, env, log, rounds, seconds)
        except Exception:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise


def measure(python, project, env, log, rounds, seconds):
    with (
        gunicorn(python, project, env, log) as (app_url, app_master),
        gunicorn(python, project, env, log, app="hello_app:app") as (bare_url, bare_master),
    ):
        serve_requests(app_url, PAGES, REQUESTS_PER_WORKER * WORKERS)
        serve_requests(bare_url, ["/"], REQUESTS_PER_WORKER * WORKERS)
        app_rss = max(rss_mib(pid) for pid in worker_pids(app_master))
        bare_rss = max(rss_mib(pid) for pid in worker_pids(bare_master))
        loads = {"bare": []} | {page: [] for page in PAGES}
        for _ in range(rounds):
            loads["bare"].append(wrk(bare_url + "/", seconds))
            for page in PAGES:
                loads[page].append(wrk(app_url + page, seconds))

    def compare(measure, page, field, unit, target=None):
        """Medians of one field: this page of the app against the bare app's one page."""
        value, floor = (
            median(getattr(load, field) for load in loads[key]) for key in (page, "bare")
        )
        return Row(f"GET {page} {measure}", value, unit, floor, "bare Flask /", target)

    rows = []
    for page in PAGES:
        rows.append(compare("throughput", page, "rps", "req/s", TARGETS[page]))
        rows.append(compare("p99 latency", page, "p99_ms", "ms"))
    measure = f"worker RSS after {REQUESTS_PER_WORKER:,} requests"
    rows.append(Row(measure, app_rss, "MiB", bare_rss, "bare Flask worker", "< 60"))
    return rows
