"""Mail: logged in development without a server, never a hung request, a clear message."""

import logging
import socket
import time

import pytest
from sqlalchemy import select
from test_auth import register

from {{ cookiecutter.project_slug }}.extensions import db
from {{ cookiecutter.project_slug }}.models import User


@pytest.mark.settings(DEBUG=True, MAIL_SERVER="")
def test_development_without_a_mail_server_logs_the_mail(client, caplog):
    caplog.set_level(logging.INFO)
    register(client)
    assert "MAIL_SERVER is not set: this mail was not sent." in caplog.text
    assert "To: grace@example.com" in caplog.text
    assert "/auth/verify/" in caplog.text
    assert "Welcome! Open the link" in client.get("/auth/login").text


@pytest.mark.settings(MAIL_SERVER="")
def test_without_a_mail_server_elsewhere_the_user_is_told(client, caplog):
    response = register(client)
    assert response.status_code == 302  # the account exists: logging in sends a new link
    assert "we could not send the mail" in client.get("/auth/login").text
    assert "MAIL_SERVER is not set" in caplog.text
    assert db.session.scalar(select(User)) is not None


@pytest.fixture
def silent_mail_server():
    """A port that accepts connections and never says a word, as a hung mail server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def real_smtp(port, **settings):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_SUPPRESS_SEND": False, **settings}


def test_a_hung_mail_server_costs_the_request_only_the_timeout(app, silent_mail_server):
    app.extensions["mail"].suppress = False
    app.config.update(real_smtp(silent_mail_server, MAIL_TIMEOUT=0.5))
    client = app.test_client()
    started = time.monotonic()
    response = register(client)
    assert time.monotonic() - started < 5  # not minutes
    assert response.status_code == 302
    assert "we could not send the mail" in client.get("/auth/login").text


def test_a_mail_server_that_is_down_gives_a_clear_message(app, closed_port):
    app.extensions["mail"].suppress = False
    app.config.update(real_smtp(closed_port))
    client = app.test_client()
    register(client)
    assert "we could not send the mail" in client.get("/auth/login").text
