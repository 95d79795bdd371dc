"""{{ cookiecutter.project_slug }}: the application factory."""

import os
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import assets, headers, htmx, jobs, logs, sentry, telemetry, tracing
from .bodies import AppRequest
from .config import engine_options, load_config

__version__ = "{{ cookiecutter.version }}"  # the same as in pyproject.toml (a test checks)


def create_app(config: str | Mapping[str, Any] | None = None) -> Flask:
    """Create the app.

    `config` is a configuration name ("development", "testing", "production"), or a mapping
    of settings applied over the testing configuration. By default APP_CONFIG names it.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.request_class = AppRequest  # forms' bodies capped smaller than JSON's, refused ones read
    if isinstance(config, Mapping):
        app.config.from_object(load_config("testing"))
        app.config.update(config)
        if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
            # The engine's options follow the database these settings name: PostgreSQL's
            # connect arguments (of TEST_DATABASE_URL's) would break an SQLite one.
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    else:
        app.config.from_object(load_config(config or os.environ.get("APP_CONFIG", "production")))
    os.makedirs(app.instance_path, exist_ok=True)  # SQLite's default home

    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # Believe X-Forwarded-* from that many proxies in front (nginx: 1), and no more.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # as Flask's docs do
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )

    logs.init_app(app)  # first: every later hook and log record sees the request id
    sentry.init_app(app)
    tracing.init_app(app)  # spans, when OTEL_EXPORTER_OTLP_ENDPOINT is set; before extensions
    telemetry.init_app(app)  # request metrics, when METRICS_PORT is set
    register_extensions(app)
    register_blueprints(app)
    return app


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (registers the models and the user loader)
    from .errors import end_database_session
    from .extensions import csrf, db, limiter, login_manager, mail

    db.init_app(app)
{%- if cookiecutter.database == "postgresql" %}
    from . import postgres

    postgres.init_app(app)  # a limit on every wait for PostgreSQL's answer
{%- endif %}
    app.teardown_appcontext(end_database_session)
    if click.get_current_context(silent=True):
        # Only `flask db ...` needs Alembic, a large import: web workers never load it.
        from flask_migrate import Migrate

        Migrate(app, db, render_as_batch=True)  # batch mode lets SQLite alter tables
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    mail.init_app(app)
    headers.init_app(app)  # the app sends its own security headers, nginx or not
    assets.init_app(app)  # static URLs carry a hash of the file: cached for a year
    htmx.init_app(app)  # a form htmx posted and the server accepted: the next page loads
    jobs.init_app(app)  # mails and clean-ups in the worker, or at once without JOBS_REDIS_URL


def register_blueprints(app: Flask) -> None:
    from . import admin, auth, backups, cli, errors, health, main
    from .jobs import cli as jobs_cli

    app.register_blueprint(main.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(errors.bp)
    app.register_blueprint(cli.bp)
    app.register_blueprint(jobs_cli.bp)
    app.register_blueprint(backups.bp)
{%- if cookiecutter.use_api %}

    from . import api

    api.init_app(app)  # last: its error handler defers to the HTML pages outside /api
{%- endif %}
