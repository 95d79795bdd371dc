"""What metrics cost: the baked app with METRICS_PORT set against the same app without it.

Two Gunicorns with the project's own gunicorn.conf.py and 2 sync workers each, on loopback: one
as shipped (metrics off), one serving metrics (each worker counts every request into its
files; the master sums them when asked). wrk loads them in turn, round after round, so a noisy
neighbour slows both alike (each goes first every other round); each round ends with one
scrape, as Prometheus would make.
"""

import sys
from statistics import median

from baked import scratch_project
from measure import LOCAL, Row
from serving import PAGES, REQUESTS_PER_WORKER, gunicorn, rss_mib, serve_requests, wrk

from servers import free_port, worker_pids

TARGET = ">= 0.9x"  # at most 10% fewer requests a second with metrics on


def run(rounds, seconds):
    with scratch_project("bench-telemetry-") as baked:
        log = baked.folder / "gunicorn.log"
        try:
            return measure(baked.python, baked.project, baked.env, log, rounds, seconds)
        except Exception:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise


def scrape(port):
    with LOCAL.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "app_http_requests_total" in text, text[:500]


def measure(python, project, env, log, rounds, seconds):
    metrics_port = free_port()
    on_env = {**env, "METRICS_PORT": str(metrics_port)}
    with (
        gunicorn(python, project, env, log) as (off_url, off_master),
        gunicorn(python, project, on_env, log) as (on_url, on_master),
    ):
        urls = {"off": off_url, "on": on_url}
        for url in urls.values():
            serve_requests(url, PAGES, REQUESTS_PER_WORKER * 2)
        rss = {
            "off": max(rss_mib(pid) for pid in worker_pids(off_master)),
            "on": max(rss_mib(pid) for pid in worker_pids(on_master)),
        }
        loads = {(state, page): [] for state in urls for page in PAGES}
        for n in range(rounds):
            for page in PAGES:
                # Each goes first in turn: the second load of a pair may find a busier machine.
                for state in ("off", "on") if n % 2 == 0 else ("on", "off"):
                    loads[state, page].append(wrk(urls[state] + page, seconds))
            scrape(metrics_port)

    def compare(page, field, unit, target=None):
        on, off = (median(getattr(load, field) for load in loads[s, page]) for s in ("on", "off"))
        name = "throughput" if field == "rps" else "p99 latency"
        return Row(f"metrics on: GET {page} {name}", on, unit, off, "metrics off", target)

    rows = []
    for page in PAGES:
        rows.append(compare(page, "rps", "req/s", TARGET))
        rows.append(compare(page, "p99_ms", "ms"))
    measure = f"metrics on: worker RSS after {REQUESTS_PER_WORKER:,} requests"
    rows.append(Row(measure, rss["on"], "MiB", rss["off"], "metrics off", "<= 1.1x"))
    return rows
