"""The worker: runs queued jobs, schedules the periodic ones, logs every failure."""

import logging

from rq import Worker

from . import periodic

logger = logging.getLogger(__name__)

# How often the worker looks for jobs whose worker died (killed, out of memory): RQ retries
# them once their last heartbeat is a minute old. Its default is every 10 minutes.
MAINTENANCE_SECONDS = 60


def log_failure(job, exc_type, exc_value, traceback):
    """One line per failed try, with the id of the request that queued the job."""
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


def run(queue):
    """Work until stopped (SIGTERM lets the running job finish first)."""
    periodic.schedule_all(queue)
    worker = Worker(
        [queue],
        connection=queue.connection,
        exception_handlers=[log_failure],
        maintenance_interval=MAINTENANCE_SECONDS,
    )
    worker.work(with_scheduler=True, logging_level="INFO")
