"""Background jobs: RQ on Redis in production, at once in the web process without it.

With JOBS_REDIS_URL set, enqueue() stores the job in Redis and returns; `flask jobs worker`
runs it, retrying a failing job with growing pauses (RETRY), and keeps one that fails every
time in RQ's failed-job registry (`flask jobs failed`, `flask jobs retry`). Without it
(development, the tests) the job runs at once, so `flask run` needs no Redis.

redis-py and RQ are imported only when there is a queue: they add 45-70 ms and 5.5 MiB to a
process (redis-py loads asyncio), which every `flask` command, and every web worker without a
queue, would pay for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, has_request_context

from .. import tracing

if TYPE_CHECKING:
    from rq import Queue

# Seconds between tries: about 2 h 20 min of an SMTP server being down before a job fails.
RETRY = [10, 30, 60, 300, 900, 3600, 3600]
JOB_TIMEOUT = 120  # seconds a job may run before the worker stops it (and retries it)
FAILED_KEPT = 30 * 24 * 3600  # seconds a finally failed job stays to be seen and retried


class PermanentFailure(Exception):
    """A job that would fail the same way every time (a mail server's 5xx refusal): the worker
    moves it to the failed jobs at once, with this message, instead of retrying it."""


def init_app(app: Flask) -> None:
    url = app.config["JOBS_REDIS_URL"]
    if url:
        from redis import Redis
        from rq import Queue

        from ..config import redis_options

        connection = Redis.from_url(url, **redis_options(app.config["REDIS_TIMEOUT"]))
        app.extensions["jobs"] = Queue(connection=connection, default_timeout=JOB_TIMEOUT)


def queue() -> Queue | None:
    """RQ's queue, or None when jobs run in process."""
    jobs: Queue | None = current_app.extensions.get("jobs")
    return jobs


def enqueue(function: Callable[..., object], *args: Any) -> bool:
    """Have `function(*args)` run by the worker, with retries; True once it is queued.

    Without a queue it runs now, and the answer is whether it succeeded (a failure is logged).
    False too when the queue's Redis cannot be reached: the page says the mail did not go.
    The id of the request that asked goes with the job, into the log lines of its failures,
    and so does its trace context (`traceparent`, with traces on: tracing.py).
    """
    request_id = g.get("request_id") if has_request_context() else None
    jobs = queue()
    if jobs is None:
        try:
            function(*args)
        except Exception:
            current_app.logger.exception("job %s failed", function.__name__)
            return False
        return True
    from redis.exceptions import RedisError
    from rq import Retry

    meta: dict[str, Any] = {"request_id": request_id}
    try:
        with tracing.span(f"enqueue {function.__name__}", "producer"):
            tracing.inject(meta)  # the trace goes with the job: its span is a child of this
            job = jobs.enqueue(
                function,
                *args,
                retry=Retry(max=len(RETRY), interval=RETRY),
                failure_ttl=FAILED_KEPT,
                meta=meta,
            )
    except RedisError:
        current_app.logger.exception("could not queue job %s", function.__name__)
        return False
    current_app.logger.info("queued job %s (%s)", job.id, function.__name__)
    return True
