"""Backups of the database, and their restore (docs/backups.md).

`flask backup create` writes one file into BACKUP_DIR (by default instance/backups) and keeps
the newest BACKUP_KEEP; `flask backup list` lists them; `flask backup restore FILE` puts one
back. PostgreSQL: pg_dump's custom format, restored by pg_restore --clean --if-exists in one
transaction (both of the server's major version, from the postgresql-client package). SQLite:
its online backup API, which copies a consistent database while the app writes to it.
The worker makes one a day (jobs/periodic.py); systemd, Compose and Kubernetes can instead
run `flask backup create` on their own schedule (deploy/, k8s/).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Blueprint, current_app
from sqlalchemy.engine import URL

from .extensions import db

bp = Blueprint("backups", __name__, cli_group="backup")

SUFFIXES = {"sqlite": ".sqlite", "postgresql": ".dump"}


def folder() -> Path:
    path = Path(current_app.config["BACKUP_DIR"] or Path(current_app.instance_path, "backups"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> URL:
    """The engine's URL: a relative SQLite path made absolute, the password in it."""
    return db.engine.url


def backups() -> list[Path]:
    """The backups in BACKUP_DIR, oldest first (their names start with the time)."""
    return sorted(p for p in folder().iterdir() if p.suffix in SUFFIXES.values())


def create() -> Path:
    """Back up the database into a new file of BACKUP_DIR; drop the oldest past BACKUP_KEEP."""
    url = database_url()
    kind = url.get_backend_name()
    if kind not in SUFFIXES:
        raise click.ClickException(f"cannot back up a {kind} database")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = folder() / f"{stamp}-{Path(url.database or kind).stem}{SUFFIXES[kind]}"
    partial = path.with_name(path.name + ".partial")  # never listed: no half-written backup
    if kind == "sqlite":
        copy(sqlite_file(url), str(partial))
    else:
        run(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}"], url)
    partial.rename(path)
    for old in backups()[: -current_app.config["BACKUP_KEEP"] or None]:
        old.unlink()
    current_app.logger.info("backed up the database to %s", path)
    return path


def restore(path: Path) -> None:
    """Replace the database's contents with a backup's."""
    url = database_url()
    db.engine.dispose()  # no pooled connection of ours holds the old tables
    if url.get_backend_name() == "sqlite":
        copy(str(path), sqlite_file(url))
    else:
        command = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction"]
        run([*command, str(path)], url)
    current_app.logger.info("restored the database from %s", path)


def copy(source: str, target: str) -> None:
    """SQLite's online backup: a consistent copy, page by page, while others write."""
    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy)


def sqlite_file(url: URL) -> str:
    if not url.database or url.database == ":memory:":
        raise click.ClickException("an in-memory SQLite database has nothing to back up")
    return url.database


def run(command: list[str], url: URL) -> None:
    """Run pg_dump or pg_restore on the app's database; the password goes in the environment,
    where `ps` does not show it."""
    target = url.set(drivername="postgresql", password=None)
    env = {**os.environ, "PGPASSWORD": str(url.password or "")}
    dbname = target.render_as_string(hide_password=False)
    try:
        done = subprocess.run(  # noqa: S603  (pg_dump or pg_restore, our own arguments)
            [*command, f"--dbname={dbname}"], env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise click.ClickException(
            f"{command[0]} is not installed (Debian: apt install postgresql-client)"
        ) from None
    if done.returncode != 0:
        raise click.ClickException(f"{command[0]} failed: {done.stderr.strip()}")


@bp.cli.command("create")
def create_command() -> None:
    """Back up the database now."""
    click.echo(create())


@bp.cli.command("list")
def list_command() -> None:
    """List the backups, oldest first: file, size."""
    for path in backups():
        click.echo(f"{path}  {path.stat().st_size} bytes")


@bp.cli.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask first.")
def restore_command(backup: Path, yes: bool) -> None:
    """Replace everything in the database with BACKUP (a file of `flask backup list`)."""
    if not yes:
        click.confirm(f"Replace everything in the database with {backup}?", abort=True)
    restore(backup)
    click.echo(f"restored {backup}")
