from flask import request

from {{ cookiecutter.project_slug }} import create_app


def test_testing_config():
    assert create_app("testing").testing


def test_mapping_overrides_the_testing_config():
    app = create_app({"APP_NAME": "Other"})
    assert app.testing
    assert app.config["APP_NAME"] == "Other"


def test_app_config_env_var_chooses_the_config(monkeypatch):
    monkeypatch.setenv("APP_CONFIG", "development")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    assert create_app().debug


def test_proxy_fix_only_when_asked(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    app = create_app("testing")
    app.add_url_rule("/scheme", "scheme", lambda: request.scheme)
    headers = {"X-Forwarded-Proto": "https"}
    assert app.test_client().get("/scheme", headers=headers).text == "https"

    monkeypatch.setenv("TRUSTED_PROXIES", "0")
    app = create_app("testing")
    app.add_url_rule("/scheme", "scheme", lambda: request.scheme)
    assert app.test_client().get("/scheme", headers=headers).text == "http"
