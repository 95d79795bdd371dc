"""The worker: runs queued jobs, schedules the periodic ones, logs every failure."""

import logging
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flask import current_app
from redis.client import Pipeline
from rq import Queue, Worker
from rq.job import Job

from .. import tracing
from . import PermanentFailure, periodic

if TYPE_CHECKING:
    from ..telemetry import JobMetrics

logger = logging.getLogger(__name__)

# A job whose worker died (SIGKILL, out of memory) is tried again once its last heartbeat is
# 70 s old (one every 10 s, plus RQ's fixed 60 s), found by a worker's maintenance (every 10 s;
# an idle worker wakes every WORKER_TTL - 15 s for it). RQ's defaults: 90 s, every 10 minutes,
# and an idle worker wakes every 405 s: a killed mail could wait 15 minutes.
HEARTBEAT_SECONDS = 10
MAINTENANCE_SECONDS = 10
WORKER_TTL = 25  # seconds a silent worker stays registered (`flask jobs check` looks there)
# Touched at each heartbeat, once Redis took it: Docker's and Kubernetes' health check looks at
# its age with `find FILE -mmin -1`, with no Python to start (`flask jobs check` starts the
# whole app, which on a busy host outlasted its timeout and got healthy workers killed).
HEARTBEAT_NAME = "{{ cookiecutter.project_slug }}-worker-heartbeat"
HEARTBEAT_FILE = Path(tempfile.gettempdir(), HEARTBEAT_NAME)


def log_failure(
    job: Job,
    exc_type: type[BaseException],
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> bool:
    """One line per failed try, with the id of the request that queued the job. A permanent
    failure is not tried again: RQ moves the job to the failed jobs with its message."""
    if isinstance(exc_value, PermanentFailure):
        job.retries_left = 0
    left = job.retries_left or 0
    logger.error(
        "job %s (%s) failed: %s; %s",
        job.id,
        job.func_name,
        exc_value or exc_type.__name__,
        f"{left} more tries" if left else "no tries left: see `flask jobs failed`",
        extra={"request_id": job.meta.get("request_id") or "-", "job_id": job.id},
    )
    return True  # and let RQ go on with its own handling (retry, or the failed registry)


class AppWorker(Worker):
    """RQ's worker, which also touches HEARTBEAT_FILE at each heartbeat and times each job (run
    in a forked work horse) from here, the parent, when its metrics are on."""

    metrics: "JobMetrics | None" = None

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        super().heartbeat(timeout, pipeline)
        HEARTBEAT_FILE.touch()

    def perform_job(self, job: Job, queue: Queue, *args: Any) -> bool:
        """In the work horse: the job's span, in the trace of the request that queued it."""
        try:
            name = (job.func_name or "-").rsplit(".", 1)[-1]  # as the enqueue span names it
            with tracing.job_span(f"run {name}", job.meta):
                return super().perform_job(job, queue, *args)
        finally:
            if tracing.STATE["on"]:
                tracing.flush()  # the horse ends with os._exit, which skips atexit

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        try:
            super().execute_job(job, queue)
        finally:
            if self.metrics is not None:
                status = job.get_status(refresh=True)
                took = time.perf_counter() - started
                self.metrics.observe(job.func_name or "-", str(status and status.value), took)


def run(queue: Queue) -> None:
    """Work until stopped (SIGTERM lets the running job finish first)."""
    periodic.schedule_all(queue)
    if current_app.config["TRACING"]:  # after any fork: this process sends its spans
        tracing.setup("{{ cookiecutter.project_slug }}-worker")
    port = os.environ.get("JOBS_METRICS_PORT")
    if port:  # the jobs' metrics, on a port of this process (docs/observability.md)
        from ..telemetry import JobMetrics

        AppWorker.metrics = JobMetrics(os.environ.get("METRICS_BIND", "127.0.0.1"), int(port))
    worker = AppWorker(
        [queue],
        connection=queue.connection,
        exception_handlers=[log_failure],
        maintenance_interval=MAINTENANCE_SECONDS,
        job_monitoring_interval=HEARTBEAT_SECONDS,
        worker_ttl=WORKER_TTL,
        log_job_description=False,  # a mail job's arguments hold its links: not in the logs
    )
    worker.work(with_scheduler=True, logging_level="INFO")
