"""Jobs that run every hour (the backup: every day), once however many workers run.

Each run is an RQ job scheduled for the top of an hour, its id made of its name and that
hour. Every worker that starts schedules the next run of each, and each run schedules the one
after it: all of them name the same job, which Redis holds once, so two workers (or twenty)
make one run. Only one worker's scheduler moves due jobs to the queue (RQ's own lock).
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from flask import current_app
from sqlalchemy import CursorResult, delete

from ..extensions import db
from ..models import User

if TYPE_CHECKING:
    from rq import Queue

EVERY = 3600  # seconds
PERIODS = {"backup_database": 24 * 3600}  # the jobs that run less often


def purge_unverified_accounts() -> int:
    """Delete accounts whose address was never verified, nor used to log in, after
    UNVERIFIED_ACCOUNT_DAYS days (0: keep them): the name and address are free again."""
    days = current_app.config["UNVERIFIED_ACCOUNT_DAYS"]
    if not days:
        return 0
    cutoff = datetime.now(UTC) - timedelta(days=days)
    statement = delete(User).where(
        User.email_verified.is_(False),
        User.last_login_at.is_(None),
        User.created_at < cutoff,
    )
    deleted = deleted_rows(statement)
    db.session.commit()
    current_app.logger.info("deleted %d never verified accounts", deleted)
    return deleted
{%- if cookiecutter.use_api %}


def purge_expired_api_tokens() -> int:
    """Delete API tokens past their expiry (they already let nobody in)."""
    from ..api.models import ApiToken

    deleted = deleted_rows(delete(ApiToken).where(ApiToken.expires_at <= datetime.now(UTC)))
    db.session.commit()
    current_app.logger.info("deleted %d expired API tokens", deleted)
    return deleted
{%- endif %}


def backup_database() -> int:
    """Back up the database into BACKUP_DIR (backups.py), unless BACKUP_DAILY=0 (a systemd
    timer or a Kubernetes CronJob does it instead)."""
    if not current_app.config["BACKUP_DAILY"]:
        return 0
    from ..backups import create, database_url

    if database_url().get_backend_name() == "postgresql" and not shutil.which("pg_dump"):
        # The app's Docker image: the database's own image backs up (docs/backups.md).
        current_app.logger.warning("no daily backup: pg_dump is not installed here")
        return 0
    create()
    return 1


def deleted_rows(statement: Any) -> int:
    """Run a DELETE; how many rows it took (a DELETE's result is a CursorResult)."""
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount


JOBS = {
    function.__name__: function
    for function in [
        purge_unverified_accounts,
        backup_database,
{%- if cookiecutter.use_api %}
        purge_expired_api_tokens,
{%- endif %}
    ]
}


def schedule(queue: Queue, name: str, now: float | None = None) -> None:
    """Schedule the run of job `name` at the start of the next period (once, whoever asks)."""
    every = PERIODS.get(name, EVERY)
    at = (int(now or time.time()) // every + 1) * every
    queue.enqueue_at(datetime.fromtimestamp(at, UTC), run, name, job_id=f"periodic-{name}-{at}")


def schedule_all(queue: Queue) -> None:
    for name in JOBS:
        schedule(queue, name)


def run(name: str) -> int:
    """The periodic job itself: first book the next run, so a failure cannot end the chain."""
    from . import queue

    jobs = queue()
    if jobs is not None:  # it is: the worker runs this
        schedule(jobs, name)
    return JOBS[name]()
