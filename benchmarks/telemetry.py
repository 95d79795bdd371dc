"""What telemetry costs: the baked app with metrics on, and with traces on, against it without.

Gunicorns with the project's own gunicorn.conf.py and 2 sync workers each, on loopback: one as
shipped (telemetry off), one serving metrics (each worker counts every request into its files;
the master sums them when asked), one sending traces at the default sampling (tracing.py) and
one tracing every request, both to an OTLP/HTTP receiver in this process (the tests' stand-in
for a collector). wrk loads them in turn, round after round, so a noisy neighbour slows all
alike (the order turns each round); each round ends with one scrape, as Prometheus would make.
"""

import sys
from contextlib import ExitStack
from statistics import median

from baked import scratch_project
from measure import LOCAL, Row
from serving import PAGES, REQUESTS_PER_WORKER, gunicorn, rss_mib, serve_requests, wrk

from servers import free_port, otlp, worker_pids

TARGET = ">= 0.9x"  # at most 10% fewer requests a second with metrics on, or traces on
STATES = ["off", "metrics", "traces", "traces-all"]
NAMES = {
    "metrics": "metrics on",
    "traces": "traces on (default sampling)",
    "traces-all": "traces on (every request)",
}


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
    with otlp() as collector:
        traced = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
        envs = {
            "off": env,
            "metrics": {**env, "METRICS_PORT": str(metrics_port)},
            "traces": traced,
            "traces-all": {**traced, "OTEL_TRACES_SAMPLER": "parentbased_always_on"},
        }
        with ExitStack() as stack:
            servers = {
                s: stack.enter_context(gunicorn(python, project, envs[s], log)) for s in STATES
            }
            loads, rss = load(servers, metrics_port, rounds, seconds)
        spans = len(collector.spans)
    assert spans, "no span reached the receiver"

    def compare(state, page, field, unit, target=None):
        on, off = (median(getattr(load, field) for load in loads[s, page]) for s in (state, "off"))
        name = "throughput" if field == "rps" else "p99 latency"
        return Row(f"{NAMES[state]}: GET {page} {name}", on, unit, off, "telemetry off", target)

    rows = []
    for state in STATES[1:]:
        for page in PAGES:
            rows.append(compare(state, page, "rps", "req/s", TARGET))
            rows.append(compare(state, page, "p99_ms", "ms"))
        measure = f"{NAMES[state]}: worker RSS after {REQUESTS_PER_WORKER:,} requests"
        # The OpenTelemetry SDK, its exporter and protobuf weigh about 18 MiB: no target.
        memory_target = "<= 1.1x" if state == "metrics" else None
        rows.append(Row(measure, rss[state], "MiB", rss["off"], "telemetry off", memory_target))
    return rows


def load(servers, metrics_port, rounds, seconds):
    """wrk's loads of each page of each server, by (state, page); each worker's RSS by state."""
    urls = {state: url for state, (url, _) in servers.items()}
    for url in urls.values():
        serve_requests(url, PAGES, REQUESTS_PER_WORKER * 2)
    rss = {
        s: max(rss_mib(pid) for pid in worker_pids(master)) for s, (_, master) in servers.items()
    }
    loads = {(state, page): [] for state in urls for page in PAGES}
    for n in range(rounds):
        order = STATES[n % len(STATES) :] + STATES[: n % len(STATES)]  # each goes first in turn
        for page in PAGES:
            for state in order:
                loads[state, page].append(wrk(urls[state] + page, seconds))
        scrape(metrics_port)
    return loads, rss
