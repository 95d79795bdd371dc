"""Health checks for Docker, compose, load balancers and Kubernetes.

/healthz (liveness) says the process answers and touches nothing else, so a database outage
never gets healthy app servers restarted. /readyz (readiness) says whether the database, and
Redis when rate limits are counted or jobs queued there, answer: 503 while one does not, so
traffic waits.
Neither is rate limited, and Gunicorn's and nginx's access logs leave both out.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as NoAnswer

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from limits.storage import storage_from_string
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from . import jobs
from .config import redis_options
from .extensions import db, limiter

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
@limiter.exempt
def readyz() -> ResponseReturnValue:
    checks = {"database": database_answers()}
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        checks["redis"] = redis_answers()
    if jobs.queue() is not None:
        checks["jobs"] = jobs_redis_answers()
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        current_app.logger.warning("not ready: %s unavailable", ", ".join(failed))
    return {
        "status": "unavailable" if failed else "ok",
        "checks": {name: "ok" if ok else "unavailable" for name, ok in checks.items()},
    }, 503 if failed else 200


def database_answers() -> bool:
    """Ask the database from a thread and wait at most half of DATABASE_TIMEOUT: a PostgreSQL
    that hangs holds the question for its pre-ping limit and a new connection's
    connect_timeout (2 s at least), longer than a load balancer's check waits. One question
    at a time: while it waits, later checks wait for the same answer."""
    probe = current_app.extensions.setdefault("readyz_database", {})
    asked: Future[bool] | None = probe.get("asked")
    if asked is None or asked.done():
        if "thread" not in probe:
            probe["thread"] = ThreadPoolExecutor(1, thread_name_prefix="readyz")
        asked = probe["asked"] = probe["thread"].submit(select_one, db.engine)
    try:
        return asked.result(timeout=current_app.config["DATABASE_TIMEOUT"] / 2)
    except NoAnswer:
        return False


def select_one(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def redis_answers() -> bool:
    """Ask the rate limits' Redis itself: the limiter may be counting in memory meanwhile
    (its fallback while Redis is down), and then its own storage would answer for Redis."""
    storage = current_app.extensions.get("readyz_redis")
    if storage is None:
        uri = current_app.config["RATELIMIT_STORAGE_URI"]
        options = {**current_app.config["RATELIMIT_STORAGE_OPTIONS"], **probe_timeouts()}
        storage = current_app.extensions["readyz_redis"] = storage_from_string(uri, **options)
    return storage.check() is True


def jobs_redis_answers() -> bool:
    """The queue's Redis: mails asked for now would wait in no queue while it is away."""
    from redis import Redis  # loaded with the queue (see jobs)
    from redis.exceptions import RedisError

    client = current_app.extensions.get("readyz_jobs")
    if client is None:
        url = current_app.config["JOBS_REDIS_URL"]
        client = current_app.extensions["readyz_jobs"] = Redis.from_url(url, **probe_timeouts())
    try:
        return client.ping() is True
    except RedisError:
        return False


def probe_timeouts() -> dict[str, object]:
    """Each of the two Redis pings gets half of REDIS_TIMEOUT: a hung Redis (both pings)
    gets its 503 within REDIS_TIMEOUT, before a load balancer's check gives up."""
    return redis_options(current_app.config["REDIS_TIMEOUT"] / 2)
