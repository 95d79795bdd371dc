"""`flask jobs ...`: the worker, and the jobs that failed every try.

RQ is imported in the commands, not here: every `flask` command and web worker loads this
module (see jobs/__init__.py).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import click
from flask import Blueprint

from . import queue

if TYPE_CHECKING:
    from rq import Queue

bp = Blueprint("jobs", __name__, cli_group="jobs")


def needed() -> Queue:
    jobs = queue()
    if jobs is None:
        raise click.ClickException("JOBS_REDIS_URL is not set: jobs run in the web process")
    return jobs


@bp.cli.command("worker")
def run_worker() -> None:
    """Run queued and periodic jobs until stopped (SIGTERM: after the running job)."""
    from . import worker

    worker.run(needed())


@bp.cli.command("check")
def check() -> None:
    """Exit 0 if Redis answers and a worker of this host is alive (the health check)."""
    from rq import Worker

    jobs = needed()
    host = socket.gethostname()
    if not any(w.hostname == host for w in Worker.all(connection=jobs.connection)):
        raise click.ClickException(f"no worker of host {host} is registered in Redis")
    click.echo("ok")


@bp.cli.command("failed")
def failed() -> None:
    """List the jobs that failed every try: id, job, request that queued it, last error."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    jobs = needed()
    registry = FailedJobRegistry(queue=jobs)
    for job in Job.fetch_many(registry.get_job_ids(), connection=jobs.connection):
        if job is None:
            continue
        error = (job.exc_info or "").strip().splitlines()[-1:] or [""]
        request_id = job.meta.get("request_id") or "-"
        click.echo(f"{job.id}  {job.func_name}  request {request_id}  {error[0]}")


@bp.cli.command("retry")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every failed job.")
def retry(job_ids: tuple[str, ...], every: bool) -> None:
    """Queue failed jobs again (by id, or --all)."""
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.registry import FailedJobRegistry

    jobs = needed()
    registry = FailedJobRegistry(queue=jobs)
    chosen = registry.get_job_ids() if every else list(job_ids)
    if not chosen and not every:
        raise click.UsageError("name the failed jobs to retry (`flask jobs failed`), or --all")
    for job_id in chosen:
        try:
            registry.requeue(job_id)
        except (InvalidJobOperation, NoSuchJobError):
            raise click.ClickException(f"no failed job {job_id} (`flask jobs failed`)") from None
    click.echo(f"{len(chosen)} jobs queued again")
