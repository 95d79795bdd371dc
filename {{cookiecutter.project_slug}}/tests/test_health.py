import pytest

from {{ cookiecutter.project_slug }} import create_app

UNREACHABLE_DATABASE = {"SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent/folder/app.sqlite"}


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_does_not_need_the_database():
    """Liveness: a database outage must not get a healthy app server restarted."""
    response = create_app(UNREACHABLE_DATABASE).test_client().get("/healthz")
    assert response.status_code == 200


def test_readyz(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_reports_an_unreachable_database(caplog):
    response = create_app(UNREACHABLE_DATABASE).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "checks": {"database": "unavailable"}}
    assert "not ready: database unavailable" in caplog.messages


@pytest.mark.settings(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")  # nothing listens
def test_readyz_checks_redis_when_rate_limits_live_there(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "redis": "unavailable"}


@pytest.mark.settings(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")
def test_probes_are_never_rate_limited(client):
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 429]
    for path in ("/healthz", "/readyz"):
        assert {client.get(path).status_code for _ in range(5)} == {200}


@pytest.mark.settings(JOBS_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens
def test_readyz_checks_the_queue_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "jobs": "unavailable"}
