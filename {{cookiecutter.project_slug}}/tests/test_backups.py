"""Backups: `flask backup create|list|restore` on a SQLite file (the online backup API).

PostgreSQL's (pg_dump and pg_restore) are drilled on a real server by the template's own
tests (test_backups_e2e.py there): accounts and API tokens back, after the database is gone.
"""

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from {{ cookiecutter.project_slug }} import backups, create_app
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.jobs import periodic
from {{ cookiecutter.project_slug }}.models import User


@pytest.fixture
def app(tmp_path):
    """The app on a SQLite file, as production's default is, backing up into tmp_path."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.sqlite'}",
            "BACKUP_DIR": str(tmp_path / "backups"),
        }
    )
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()


def add_user(name):
    user = User(username=name, email=f"{name}@example.com", email_verified=True)
    user.set_password("correct horse")
    db.session.add(user)
    db.session.commit()


def names():
    db.session.remove()
    return set(db.session.scalars(select(User.username)))


def test_a_backup_brings_back_what_was_lost(app):
    add_user("ada")
    runner = app.test_cli_runner()
    created = runner.invoke(args=["backup", "create"])
    assert created.exit_code == 0, created.output
    path = created.output.strip()
    assert path.endswith("-app.sqlite")
    assert path in runner.invoke(args=["backup", "list"]).output
    db.session.execute(User.__table__.delete())
    add_user("mallory")
    db.session.commit()
    restored = runner.invoke(args=["backup", "restore", path], input="y\n")
    assert restored.exit_code == 0, restored.output
    assert names() == {"ada"}
    user = db.session.scalar(select(User))
    assert user.check_password("correct horse")


def test_restore_asks_first(app):
    add_user("ada")
    path = backups.create()
    db.session.execute(User.__table__.delete())
    db.session.commit()
    refused = app.test_cli_runner().invoke(args=["backup", "restore", str(path)], input="n\n")
    assert refused.exit_code == 1
    assert names() == set()


def test_restore_of_a_missing_file_says_so_in_one_line(app):
    result = app.test_cli_runner().invoke(args=["backup", "restore", "nope.sqlite", "--yes"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_only_the_newest_backups_are_kept(app, monkeypatch):
    app.config["BACKUP_KEEP"] = 2
    stamps = iter(["2026-01-01T000000Z", "2026-01-02T000000Z", "2026-01-03T000000Z"])

    class Clock:
        @staticmethod
        def now(zone):
            class Stamp:
                def strftime(self, pattern):
                    return next(stamps)

            return Stamp()

    monkeypatch.setattr(backups, "datetime", Clock)
    made = [backups.create() for _ in range(3)]
    assert backups.backups() == made[1:]
    assert not made[0].exists()


def test_the_daily_job_backs_up_unless_turned_off(app):
    assert periodic.backup_database() == 1
    assert len(backups.backups()) == 1
    app.config["BACKUP_DAILY"] = False
    assert periodic.backup_database() == 0
    assert len(backups.backups()) == 1


def test_the_backup_runs_daily_the_clean_ups_hourly():
    booked = []

    class Recorder:  # as much of RQ's Queue as schedule() uses
        def enqueue_at(self, when, function, name, job_id):
            booked.append(when.timestamp())

    periodic.schedule(Recorder(), "backup_database", now=86400 + 5)
    periodic.schedule(Recorder(), "purge_unverified_accounts", now=86400 + 5)
    assert booked == [2 * 86400, 86400 + 3600]


def test_the_daily_job_says_so_when_pg_dump_is_missing(app, monkeypatch, caplog):
    """The app's Docker image has no pg_dump: the database's own image backs up."""
    monkeypatch.setattr(backups, "database_url", lambda: make_url("postgresql://app@db/app"))
    monkeypatch.setattr(periodic.shutil, "which", lambda name: None)
    assert periodic.backup_database() == 0
    assert "no daily backup: pg_dump is not installed here" in caplog.text
