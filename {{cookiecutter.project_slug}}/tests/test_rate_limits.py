"""A rate limit holds however it is added, and no request pays for the limits of others."""

import pytest
from flask import Blueprint, request

from {{ cookiecutter.project_slug }}.extensions import limiter

LIMITS_ON = pytest.mark.settings(RATELIMIT_ENABLED=True)


def statuses(client, path, count=3):
    return [client.get(path).status_code for _ in range(count)]


def hiding(view):
    """A decorator above the limit that hides the view's name (no functools.wraps)."""

    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    return wrapper


@LIMITS_ON
def test_a_limit_on_a_view_added_later_holds(app, client):
    @app.get("/report")
    @limiter.limit("2 per minute")
    def report():
        return "report"

    assert statuses(client, "/report") == [200, 200, 429]


@LIMITS_ON
def test_a_limit_under_another_decorator_holds(app, client):
    @app.get("/wrapped")
    @hiding
    @limiter.limit("2 per minute")
    def wrapped():
        return "wrapped"

    assert statuses(client, "/wrapped") == [200, 200, 429]


@LIMITS_ON
def test_a_limit_on_a_blueprint_holds(app, client):
    reports = Blueprint("limited_reports", __name__)

    @reports.get("/reports")
    def index():
        return "reports"

    limiter.limit("2 per minute")(reports)
    app.register_blueprint(reports)
    assert statuses(client, "/reports") == [200, 200, 429]


@LIMITS_ON
def test_a_limit_block_inside_a_view_holds(app, client):
    @app.get("/export")
    def export():
        with limiter.limit("2 per minute"):
            return "export"

    assert statuses(client, "/export") == [200, 200, 429]


APP_WIDE = [
    pytest.param(name, marks=pytest.mark.settings(RATELIMIT_ENABLED=True, **{name: "2/minute"}))
    for name in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION")
]


@pytest.mark.parametrize("setting", APP_WIDE)
def test_app_wide_limits_hold_on_every_view(client, setting):
    assert statuses(client, "/") == [200, 200, 429]


@LIMITS_ON
def test_limits_are_looked_up_only_where_one_applies(client, monkeypatch):
    looked_up = []
    resolve_limits = limiter.limit_manager.resolve_limits

    def recording(*args, **kwargs):
        looked_up.append(f"{request.method} {request.path}")
        return resolve_limits(*args, **kwargs)

    monkeypatch.setattr(limiter.limit_manager, "resolve_limits", recording)
    for path in ("/", "/auth/login", "/hello/Ada", "/static/style.css"):
        response = client.get(path)
        response.close()  # a static file's response holds the file open
        assert response.status_code == 200
    assert looked_up == []  # none of these has a limit (login counts only POSTs)
    client.post("/auth/login", data={"username": "ada", "password": "wrong"})
    assert "POST /auth/login" in looked_up
