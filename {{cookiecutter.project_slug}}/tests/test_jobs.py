"""Jobs without a queue run at once; the periodic clean-ups; `flask jobs` needs Redis.

The worker itself, Redis and the faults (SMTP down, a killed worker, Redis restarted) are
proven on real servers by the template's own tests (test_jobs_e2e.py there).
"""

import contextlib
import logging
import smtplib
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from test_auth import register

from {{ cookiecutter.project_slug }} import jobs
from {{ cookiecutter.project_slug }}.auth import email
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


def queued_mail(user):
    """The arguments of the mail job queued for `user` (as the worker would get them)."""
    return (["ada@example.com"], "a subject", "a body", user.id, user.email)


def test_a_mail_for_a_deleted_account_is_dropped_with_one_line(app, user, outbox, caplog):
    caplog.set_level(logging.INFO)
    job = queued_mail(user)
    db.session.delete(user)
    db.session.commit()
    email.deliver(*job)
    assert outbox == []
    (line,) = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert "was deleted or changed its address" in line


def test_a_mail_for_a_changed_address_is_dropped(app, user, outbox):
    job = queued_mail(user)
    user.email = "ada@example.org"
    db.session.commit()
    email.deliver(*job)
    assert outbox == []


def test_a_mail_for_an_unchanged_account_goes(app, user, outbox):
    email.deliver(*queued_mail(user))
    assert [m.recipients for m in outbox] == [["ada@example.com"]]


@pytest.mark.parametrize(
    "refusal",
    [
        smtplib.SMTPRecipientsRefused({"ada@example.com": (550, b"5.1.1 no such user")}),
        smtplib.SMTPSenderRefused(553, b"5.7.1 sender refused", "noreply@localhost"),
        smtplib.SMTPDataError(554, b"5.7.1 rejected as spam"),
    ],
)
def test_a_refusal_fails_for_good_with_the_server_reply(app, user, monkeypatch, refusal):
    monkeypatch.setattr(email.mail, "send", mock_raise(refusal))
    with pytest.raises(jobs.PermanentFailure, match=r"mail server refused: 55\d 5\.\d\.1 "):
        email.deliver(*queued_mail(user))


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPRecipientsRefused({"ada@example.com": (450, b"4.2.0 mailbox busy")}),
        smtplib.SMTPDataError(451, b"4.3.0 try again later"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed: timed out"),
    ],
)
def test_a_passing_failure_is_tried_again(app, user, monkeypatch, error):
    monkeypatch.setattr(email.mail, "send", mock_raise(error))
    with pytest.raises(type(error)):  # RQ retries it
        email.deliver(*queued_mail(user))


def mock_raise(error):
    def send(message):
        raise error

    return send


@pytest.fixture
def mail_server_that_stops_answering():
    """Greets, then never answers again: a mail server that hangs mid-conversation."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []

    def greet():
        with contextlib.suppress(OSError):
            connection, _ = server.accept()
            accepted.append(connection)
            connection.sendall(b"220 localhost ESMTP\r\n")

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(5)
    for connection in accepted:
        connection.close()


def test_a_mail_server_timeout_is_logged_as_a_timeout(app, user, mail_server_that_stops_answering):
    state = app.extensions["mail"]  # Flask-Mail read its settings at init_app
    state.suppress, state.server, state.port = False, "127.0.0.1", mail_server_that_stops_answering
    app.config["MAIL_TIMEOUT"] = 0.5
    with pytest.raises(smtplib.SMTPServerDisconnected) as raised:
        email.deliver(*queued_mail(user))
    assert "timed out" in str(raised.value)  # not "please run connect() first"
