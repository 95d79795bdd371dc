"""`flask jobs ...`: the worker, and the jobs that failed every try."""

import socket

import click
from flask import Blueprint
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry

from . import queue, worker

bp = Blueprint("jobs", __name__, cli_group="jobs")


def needed() -> Queue:
    jobs = queue()
    if jobs is None:
        raise click.ClickException("JOBS_REDIS_URL is not set: jobs run in the web process")
    return jobs


@bp.cli.command("worker")
def run_worker() -> None:
    """Run queued and periodic jobs until stopped (SIGTERM: after the running job)."""
    worker.run(needed())


@bp.cli.command("check")
def check() -> None:
    """Exit 0 if Redis answers and a worker of this host is alive (the health check)."""
    jobs = needed()
    host = socket.gethostname()
    if not any(w.hostname == host for w in Worker.all(connection=jobs.connection)):
        raise click.ClickException(f"no worker of host {host} is registered in Redis")
    click.echo("ok")


@bp.cli.command("failed")
def failed() -> None:
    """List the jobs that failed every try: id, job, request that queued it, last error."""
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
    jobs = needed()
    registry = FailedJobRegistry(queue=jobs)
    chosen = registry.get_job_ids() if every else list(job_ids)
    for job_id in chosen:
        registry.requeue(job_id)
    click.echo(f"{len(chosen)} jobs queued again")
