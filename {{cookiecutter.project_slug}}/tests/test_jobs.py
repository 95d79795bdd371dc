"""Jobs without a queue run at once; the periodic clean-ups; `flask jobs` needs Redis.

The worker itself, Redis and the faults (SMTP down, a killed worker, Redis restarted) are
proven on real servers by the template's own tests (test_jobs_e2e.py there).
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from test_auth import register

from {{ cookiecutter.project_slug }} import jobs
from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.jobs import periodic
from {{ cookiecutter.project_slug }}.models import User


def test_without_a_queue_a_job_runs_at_once(app):
    ran = []
    assert jobs.queue() is None
    assert jobs.enqueue(ran.append, "now") is True and ran == ["now"]


def test_without_a_queue_a_failing_job_is_logged(app, caplog):
    assert jobs.enqueue(int, "not a number") is False
    assert "job int failed" in caplog.text


@pytest.mark.settings(JOBS_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens
def test_a_queue_that_cannot_be_reached_is_logged_and_told(client, caplog):
    register(client)
    assert "could not queue job deliver" in caplog.text
    assert "we could not send the mail" in client.get("/auth/login").text


def account(name, days_old, verified=False, logged_in=False):
    created = datetime.now(UTC) - timedelta(days=days_old)
    user = User(
        username=name,
        email=f"{name}@example.com",
        email_verified=verified,
        created_at=created,
        last_login_at=created if logged_in else None,
    )
    user.set_password("correct horse")
    db.session.add(user)
    return user


def test_never_verified_accounts_go_after_the_set_days(app):
    account("old", 31)
    account("young", 29)
    account("verified", 31, verified=True)
    account("used", 31, logged_in=True)  # LOGIN_REQUIRES_VERIFIED_EMAIL=0 lets them in
    db.session.commit()
    assert periodic.purge_unverified_accounts() == 1
    names = set(db.session.scalars(select(User.username)))
    assert names == {"young", "verified", "used"}


def test_the_purge_of_accounts_can_be_turned_off(app):
    app.config["UNVERIFIED_ACCOUNT_DAYS"] = 0
    account("old", 400)
    db.session.commit()
    assert periodic.purge_unverified_accounts() == 0
{%- if cookiecutter.use_api %}


def test_expired_api_tokens_are_purged(app, user):
    from {{ cookiecutter.project_slug }}.api.models import ApiToken

    ApiToken.issue(user)
    expired, _ = ApiToken.issue(user)
    db.session.commit()
    expired.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert periodic.purge_expired_api_tokens() == 1
    assert len(db.session.scalars(select(ApiToken)).all()) == 1
{%- endif %}


def test_every_worker_books_the_same_periodic_run(app):
    """Two workers that start in the same hour schedule one job: ids name the hour."""
    booked = []

    class Recorder:  # as much of RQ's Queue as schedule() uses
        def enqueue_at(self, when, function, name, job_id):
            booked.append((when, name, job_id))

    for now in (7200 + 5, 7200 + 3000):
        periodic.schedule(Recorder(), "purge_unverified_accounts", now=now)
    assert booked[0] == booked[1]
    assert booked[0][0] == datetime.fromtimestamp(10800, UTC)


@pytest.mark.parametrize("command", [["worker"], ["failed"], ["retry", "--all"], ["check"]])
def test_jobs_commands_say_when_there_is_no_queue(runner, command):
    result = runner.invoke(args=["jobs", *command])
    assert result.exit_code == 1
    assert "JOBS_REDIS_URL is not set" in result.output
