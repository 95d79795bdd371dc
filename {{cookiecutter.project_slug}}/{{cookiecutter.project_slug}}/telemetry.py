"""Telemetry: Prometheus metrics, on when METRICS_PORT is set (docs/observability.md).

Each Gunicorn worker counts its requests into files of its own in PROMETHEUS_MULTIPROC_DIR, a
fresh folder gunicorn.conf.py makes at start. Gunicorn's master serves their sums on
METRICS_BIND:METRICS_PORT (127.0.0.1 by default): a listener of its own, which nginx never
proxies to, so the public site has no /metrics. A worker that dies or is replaced leaves its
files, so the counts stay whole. At each scrape the master also asks /readyz for the readiness
of each dependency, and RQ's registries in Redis for the jobs waiting and failed.

prometheus_client is imported only when metrics are on (as Sentry and RQ: see sentry.py).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request, request_finished, request_started

if TYPE_CHECKING:  # no import of the library when metrics are off, not even for the types
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.core import Metric

UNMATCHED = "(unmatched)"  # the route label of a URL no route matches: raw paths are unbounded
# Any other method a client makes up is counted as "other": labels must stay a bounded set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """A worker's request count and durations, labelled by route (the rule, not the path)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        # The app's own registry (the master reads the files, not this): create_app may run
        # more than once in a process (the tests) and the default registry refuses doubles.
        self.registry: CollectorRegistry = CollectorRegistry()
        self.requests: Counter = Counter(
            "app_http_requests",
            "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration: Histogram = Histogram(
            "app_http_request_duration_seconds",
            "Seconds from the request's arrival in the app to its response, by route.",
            ["route", "method"],
            registry=self.registry,
        )

    def started(self, sender: Flask, **extra: Any) -> None:
        g.telemetry_started = time.perf_counter()

    def finished(self, sender: Flask, response: Response, **extra: Any) -> None:
        route = request.url_rule.rule if request.url_rule else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        self.requests.labels(route, method, str(response.status_code)).inc()
        if "telemetry_started" in g:
            took = time.perf_counter() - g.telemetry_started
            self.duration.labels(route, method).observe(took)


def init_app(app: Flask) -> None:
    """Count the requests when the process serves metrics (gunicorn.conf.py set the folder)."""
    if not app.config["PROMETHEUS_MULTIPROC_DIR"]:
        return
    metrics = app.extensions["metrics"] = RequestMetrics()
    request_started.connect(metrics.started, app)
    request_finished.connect(metrics.finished, app)


# What follows runs in Gunicorn's master (gunicorn.conf.py's hooks), never in a worker.


MASTER: dict[str, Any] = {}  # the master's metrics server, once started


def serve(bind: str, port: int, app_address: str, jobs_redis_url: str | None) -> None:
    """Serve the workers' summed metrics, and those read at scrape time, from this process."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    if "server" in MASTER:  # started already (a reload reads gunicorn.conf.py again)
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(ScrapeTime(app_address, jobs_redis_url))
    MASTER["server"], _thread = start_http_server(port, addr=bind, registry=registry)


def close_in_worker() -> None:
    """A forked worker inherits the master's metrics socket: close its copy."""
    if "server" in MASTER:
        MASTER.pop("server").socket.close()


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class ScrapeTime:
    """Metrics read when Prometheus asks: readiness from /readyz, the jobs from Redis."""

    def __init__(self, app_address: str, jobs_redis_url: str | None) -> None:
        host, _, port = app_address.rpartition(":")
        if host in ("", "0.0.0.0", "[::]"):  # noqa: S104  (a bind address, not one to bind)
            host = "127.0.0.1"
        self.readyz = f"http://{host}:{port}/readyz"
        self.jobs_redis_url = jobs_redis_url

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        checks = self.ask_readyz()
        ready = GaugeMetricFamily(
            "app_ready",
            "1 when /readyz says ready (check=app) and each of its checks passes.",
            labels=["check"],
        )
        ready.add_metric(["app"], 1.0 if checks and "unavailable" not in checks.values() else 0.0)
        for name, state in sorted((checks or {}).items()):
            ready.add_metric([name], 1.0 if state == "ok" else 0.0)
        yield ready
        if self.jobs_redis_url:
            yield from self.jobs()

    def ask_readyz(self) -> dict[str, str] | None:
        """/readyz's checks through a worker, as a load balancer sees them; None: no answer."""
        ask = urllib.request.Request(self.readyz, headers={"Host": "localhost"})  # noqa: S310
        try:
            with urllib.request.urlopen(ask, timeout=5) as answer:  # noqa: S310  (http only)
                body = answer.read()
        except urllib.error.HTTPError as error:  # 503: some check failed
            body = error.read()
        except OSError:
            return None
        try:
            checks: dict[str, str] = json.loads(body)["checks"]
        except (ValueError, KeyError, TypeError):
            return None
        return checks

    def jobs(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily
        from redis import Redis
        from redis.exceptions import RedisError
        from rq import Queue
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

        assert self.jobs_redis_url  # noqa: S101  (collect() asks only then)
        redis = Redis.from_url(self.jobs_redis_url, socket_timeout=5, socket_connect_timeout=5)
        queue = Queue(connection=redis)
        try:
            counts = {
                "queued": queue.count,
                "running": StartedJobRegistry(queue=queue).count,
                "retrying": ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
                "failed": FailedJobRegistry(queue=queue).count,
            }
        except RedisError:
            return  # app_ready{check="jobs"} says so
        finally:
            redis.close()
        for name, count in counts.items():
            family = GaugeMetricFamily(f"app_jobs_{name}", JOB_STATES[name], labels=["queue"])
            family.add_metric([queue.name], float(count))
            yield family


JOB_STATES = {
    "queued": "Jobs waiting in the queue for a worker.",
    "running": "Jobs a worker is running now.",
    "retrying": "Jobs that failed a try and wait to be tried again.",
    "failed": "Jobs that failed every try (`flask jobs failed`, `flask jobs retry`).",
}


# In `flask jobs worker` (jobs/worker.py), with JOBS_METRICS_PORT set: one process, no folder.


class JobMetrics:
    """The worker's jobs: how long each took and how it ended, by job function."""

    def __init__(self, bind: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "app_jobs",
            "Jobs run by this worker, by function and outcome (finished, retrying, failed).",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "app_job_duration_seconds",
            "Seconds a job took, from the worker taking it to its end, by function.",
            ["function"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        start_http_server(port, addr=bind, registry=self.registry)

    def observe(self, function: str, status: str, seconds: float) -> None:
        outcome = {"finished": "finished", "failed": "failed"}.get(status, "retrying")
        self.jobs.labels(function, outcome).inc()
        self.duration.labels(function).observe(seconds)
