"""A dependency that hangs costs a request its timeout, never a worker (docs/faults.md).

"Hung" here is a port that accepts connections and never says a word, as a Redis or mail
server stopped with SIGSTOP does. The template's own tests do the same to real servers,
through nginx and Gunicorn (test_faults_hang.py there).
"""

import socket
import time

import pytest
from test_auth import login, register

from {{ cookiecutter.project_slug }} import create_app
from {{ cookiecutter.project_slug }}.config import Config, engine_options, redis_options
from {{ cookiecutter.project_slug }}.extensions import db

TIMEOUT = 0.5
HUNG_OPTIONS = redis_options(TIMEOUT)


@pytest.fixture(scope="module")
def hung_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


HUNG_REDIS = "redis://127.0.0.1:{port}/0"


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_every_network_call_has_a_timeout_by_default(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app@db/app")
    config = Config()
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://redis:6379/0")
    config = Config()
    redis = config.RATELIMIT_STORAGE_OPTIONS
    assert (redis["socket_timeout"], redis["socket_connect_timeout"]) == (1, 1)
    assert redis["retry"].get_retries() == 1  # a broken connection, not a timeout
    options = config.SQLALCHEMY_ENGINE_OPTIONS
    assert options["pool_timeout"] == 3
    assert options["connect_args"] == {
        "connect_timeout": 3,
        "tcp_user_timeout": 3000,
        "options": "-c statement_timeout=10s",
    }
    assert config.MAIL_TIMEOUT == 10


def test_sqlite_gets_no_postgresql_options(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert engine_options(vars(Config())) == {"pool_pre_ping": True}


def test_settings_that_name_another_database_get_its_options(monkeypatch):
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql+psycopg://app@db/app_test")
    settings = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
    assert create_app(settings).config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}


@pytest.fixture
def app_with(hung_port):
    """An app made with settings that name the hung port (as `{port}`), its tables created."""
    made = []

    def make(**settings):
        app = create_app(
            {
                name: value.format(port=hung_port) if isinstance(value, str) else value
                for name, value in settings.items()
            }
        )
        context = app.app_context()
        context.push()
        made.append(context)
        db.create_all()
        return app

    yield make
    for context in made:
        db.session.remove()
        db.drop_all()  # TEST_DATABASE_URL's tables outlive the app: the next test's start empty
        context.pop()


def test_readyz_names_a_hung_redis_within_its_timeout(app_with):
    app = app_with(RATELIMIT_STORAGE_URI=HUNG_REDIS, RATELIMIT_STORAGE_OPTIONS=HUNG_OPTIONS)
    response, seconds = timed(lambda: app.test_client().get("/readyz"))
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "redis": "unavailable"}
    assert seconds < 4 * TIMEOUT


def test_readyz_names_a_hung_queue_within_its_timeout(app_with):
    app = app_with(JOBS_REDIS_URL=HUNG_REDIS, REDIS_TIMEOUT=TIMEOUT)
    response, seconds = timed(lambda: app.test_client().get("/readyz"))
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "jobs": "unavailable"}
    assert seconds < 4 * TIMEOUT


def test_a_hung_queue_costs_a_sign_up_one_timeout(app_with, caplog):
    app = app_with(JOBS_REDIS_URL=HUNG_REDIS, REDIS_TIMEOUT=TIMEOUT)
    client = app.test_client()
    response, seconds = timed(lambda: register(client))
    assert response.status_code == 302  # the account exists; the page says the mail did not go
    assert seconds < 4 * TIMEOUT
    assert "could not queue job deliver" in caplog.text
    assert "we could not send the mail" in client.get("/auth/login").text


def test_with_limits_in_a_hung_redis_logins_and_sign_ups_count_in_memory(app_with, caplog):
    app = app_with(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=HUNG_REDIS,
        RATELIMIT_STORAGE_OPTIONS=HUNG_OPTIONS,
        LOGIN_RATE_LIMIT="3 per minute",
    )
    client = app.test_client()
    answers, seconds = timed(
        lambda: [login(client, password="wrong").status_code for _ in range(4)]
    )
    assert answers == [200, 200, 200, 429]  # the limit still holds, counted in memory
    assert seconds < 6 * TIMEOUT  # a timeout or two, not one per count
    response, seconds = timed(lambda: register(client))
    assert response.status_code == 302
    assert seconds < 4 * TIMEOUT
    assert "falling back to in-memory storage" in caplog.text
